//! `tetra run`'s options: the machine, the payload, the devices and the control sockets.

use super::{help_of, number, uri, value, Command, Launch, Usage};
use crate::vm_file::{default_transport, RunParts, VmFile};
use std::path::PathBuf;
use vmm_core::config::{
    check_cpus, check_mem_mib, check_vsock_cid, DiskConfig, NetConfig, VsockConfig, MAX_DISKS,
    MAX_DISK_ID, MAX_NETS,
};
use vmm_core::{Payload, RawLoad};

fn parse_raw(v: &str) -> Result<RawLoad, Usage> {
    let (addr, mode) = match v.split_once(':') {
        Some((a, m)) => (a, Some(m.to_string())),
        None => (v, None),
    };
    Ok(RawLoad {
        addr: number("--raw", addr)?,
        mode,
    })
}

/// `--disk PATH[,ro][,id=ID]`.
fn parse_disk(v: &str) -> Result<DiskConfig, Usage> {
    let bad = |why: String| Usage(format!("--disk '{v}': {why}"));
    let mut parts = v.split(',');
    let path = parts.next().unwrap_or_default();
    if path.is_empty() {
        return Err(bad("expected PATH[,ro][,id=ID]".into()));
    }
    let mut disk = DiskConfig::new(path);
    for p in parts {
        match p.split_once('=') {
            None if p == "ro" => disk.read_only = true,
            Some(("id", id)) if disk.id.is_none() => {
                if id.is_empty() || id.len() > MAX_DISK_ID {
                    return Err(bad(format!(
                        "the id must be 1 to {MAX_DISK_ID} bytes, not {}",
                        id.len()
                    )));
                }
                disk.id = Some(id.to_string());
            }
            Some(("id", _)) => return Err(bad("id is given twice".into())),
            _ => {
                return Err(bad(format!(
                    "unknown option '{p}' (expected ro or id=ID; PATH cannot contain a comma)"
                )))
            }
        }
    }
    Ok(disk)
}

/// `--net tap=NAME[,mac=MAC]`, card number `index`.
fn parse_net(v: &str, index: u8) -> Result<NetConfig, Usage> {
    let bad = |why: String| Usage(format!("--net '{v}': {why}"));
    let (mut tap, mut mac) = (None, None);
    for p in v.split(',') {
        match p.split_once('=') {
            Some(("tap", name)) if tap.is_none() => {
                vmm_core::devices::virtio::net::tap::check_name(name)
                    .map_err(|e| bad(e.to_string()))?;
                tap = Some(name.to_string());
            }
            Some(("mac", m)) if mac.is_none() => {
                mac = Some(crate::vm_file::parse_mac(m).ok_or_else(|| {
                    bad(format!(
                    "mac '{m}': expected six hex bytes like 52:54:00:12:34:56, a unicast address"
                ))
                })?)
            }
            Some((k @ ("tap" | "mac"), _)) => return Err(bad(format!("{k} is given twice"))),
            _ => {
                return Err(bad(format!(
                    "unknown option '{p}' (expected tap=NAME[,mac=MAC])"
                )))
            }
        }
    }
    let tap = tap.ok_or_else(|| bad("expected tap=NAME[,mac=MAC]".into()))?;
    let mut net = NetConfig::new(tap, index);
    if let Some(m) = mac {
        net.mac = m;
    }
    Ok(net)
}

/// `--vsock cid=N[,uds=PATH]` (no path: the kernel's vhost-vsock).
fn parse_vsock(v: &str) -> Result<VsockConfig, Usage> {
    let bad = |why: String| Usage(format!("--vsock '{v}': {why}"));
    let (mut cid, mut uds) = (None, None);
    for p in v.split(',') {
        match p.split_once('=') {
            Some(("cid", n)) if cid.is_none() => {
                let n = number("--vsock cid", n).map_err(|e| bad(e.0))?;
                cid = Some(check_vsock_cid(n).map_err(|e| bad(e.to_string()))?);
            }
            Some(("uds", path)) if uds.is_none() => {
                if path.is_empty() {
                    return Err(bad("uds=PATH needs a path".into()));
                }
                uds = Some(PathBuf::from(path));
            }
            Some((k @ ("cid" | "uds"), _)) => return Err(bad(format!("{k} is given twice"))),
            _ => {
                return Err(bad(format!(
                    "unknown option '{p}' (expected cid=N[,uds=PATH])"
                )))
            }
        }
    }
    let cid = cid.ok_or_else(|| bad("expected cid=N[,uds=PATH]".into()))?;
    Ok(VsockConfig { cid, uds })
}

/// `--qmp unix:PATH`: the only address QMP listens at.
fn qmp_path(v: &str) -> Result<PathBuf, Usage> {
    match v.strip_prefix("unix:") {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => Err(Usage(format!("--qmp '{v}': expected unix:PATH"))),
    }
}

pub(super) fn parse_run(parser: &mut lexopt::Parser) -> Result<Command, Usage> {
    use lexopt::Arg::*;
    // `--config FILE` comes first: the options after it apply on top of the description.
    let config_first = parser.try_raw_args().is_some_and(|raw| {
        raw.peek()
            .and_then(|a| a.to_str())
            .is_some_and(|a| a == "--config" || a.starts_with("--config="))
    });
    let parts = if config_first {
        parser.next().map_err(|e| Usage(e.to_string()))?;
        let path = PathBuf::from(value(parser, "--config")?);
        let mut parts = VmFile::read(&path).map_err(|e| Usage(vmm_core::error_chain::chain(&e)))?;
        for b in &mut parts.booting {
            *b = format!("{b} (in {})", path.display());
        }
        parts
    } else {
        let mut parts = RunParts::default();
        parts.config.virtio.transport = default_transport();
        parts
    };
    let RunParts {
        config: mut cfg,
        mut stats,
        mut api,
        mut qmp,
        mut restore,
        mut incoming,
        mut verify,
        mut seccomp,
        mut log,
        mut booting,
    } = parts;
    let mut print_config = false;
    while let Some(arg) = parser.next().map_err(|e| Usage(e.to_string()))? {
        if let Long(name) = &arg {
            if [
                "kernel",
                "initrd",
                "cmdline",
                "cpus",
                "mem",
                "raw",
                "irqchip",
                "rng",
                "disk",
                "console",
                "net",
                "vsock",
                "transport",
                "on-triple-fault",
                "cpu-template",
                "pit",
            ]
            .contains(name)
                && !booting.contains(&format!("--{name}"))
            {
                booting.push(format!("--{name}"));
            }
        }
        match arg {
            Long("kernel") => {
                cfg.kernel = Some(Payload::File(PathBuf::from(value(parser, "--kernel")?)))
            }
            Long("initrd") => {
                cfg.initrd = Some(Payload::File(PathBuf::from(value(parser, "--initrd")?)))
            }
            Long("cmdline") => cfg.cmdline = value(parser, "--cmdline")?,
            Long("cpus") => {
                let v = value(parser, "--cpus")?;
                let n = number("--cpus", &v)?;
                cfg.cpus = check_cpus(n).map_err(|e| Usage(format!("--cpus {v}: {e}")))?;
            }
            Long("mem") => {
                let v = value(parser, "--mem")?;
                let n = number("--mem", &v)?;
                cfg.mem_mib = check_mem_mib(n).map_err(|e| Usage(format!("--mem {v}: {e}")))?;
            }
            Long("raw") => cfg.raw = Some(parse_raw(&value(parser, "--raw")?)?),
            Long("irqchip") => cfg.irqchip = Some(value(parser, "--irqchip")?),
            Long("rng") => cfg.virtio.rng = true,
            Long("on-triple-fault") => {
                let v = value(parser, "--on-triple-fault")?;
                cfg.on_triple_fault =
                    vmm_core::config::OnTripleFault::parse(&v).ok_or_else(|| {
                        Usage(format!("--on-triple-fault {v}: expected crash or reset"))
                    })?
            }
            Long("cpu-template") => cfg.cpu_template = Some(value(parser, "--cpu-template")?),
            Long("pit") => {
                let v = value(parser, "--pit")?;
                cfg.pit = vmm_core::config::Pit::parse(&v)
                    .ok_or_else(|| Usage(format!("--pit {v}: expected auto, on or off")))?
            }
            Long("transport") => {
                cfg.virtio.transport = match value(parser, "--transport")?.as_str() {
                    "mmio" => vmm_core::config::Transport::Mmio,
                    "pci" => vmm_core::config::Transport::Pci,
                    other => {
                        return Err(Usage(format!("--transport {other}: expected mmio or pci")))
                    }
                }
            }
            Long("console") => {
                cfg.virtio.console = match value(parser, "--console")?.as_str() {
                    "serial" => false,
                    "virtio" => true,
                    other => {
                        return Err(Usage(format!(
                            "--console {other}: expected serial or virtio"
                        )))
                    }
                }
            }
            Long("disk") => {
                let disk = parse_disk(&value(parser, "--disk")?)?;
                if cfg.virtio.disks.len() == MAX_DISKS {
                    return Err(Usage(format!("--disk: at most {MAX_DISKS} disks")));
                }
                cfg.virtio.disks.push(disk);
            }
            Long("net") => {
                if cfg.virtio.nets.len() == MAX_NETS {
                    return Err(Usage(format!("--net: at most {MAX_NETS} network cards")));
                }
                let net = parse_net(&value(parser, "--net")?, cfg.virtio.nets.len() as u8)?;
                cfg.virtio.nets.push(net);
            }
            Long("vsock") => {
                if cfg.virtio.vsock.is_some() {
                    return Err(Usage("--vsock: at most one vsock device".into()));
                }
                cfg.virtio.vsock = Some(parse_vsock(&value(parser, "--vsock")?)?);
            }
            Long("restore") => restore = Some(PathBuf::from(value(parser, "--restore")?)),
            Long("verify") => {
                let v = value(parser, "--verify")?;
                verify = Some(vmm_core::snapshot::Verify::parse(&v).ok_or_else(|| {
                    Usage(format!("--verify '{v}': expected eager, lazy or off"))
                })?);
            }
            Long("incoming") => incoming = Some(uri("--incoming", &value(parser, "--incoming")?)?),
            Long("api") => api = Some(PathBuf::from(value(parser, "--api")?)),
            Long("qmp") => qmp = Some(qmp_path(&value(parser, "--qmp")?)?),
            Long("stats") => stats = true,
            Long("seccomp") => seccomp = value(parser, "--seccomp")?.parse().map_err(Usage)?,
            Long("log-level") => {
                let v = value(parser, "--log-level")?;
                log.level = Some(
                    crate::logs::parse_level(&v).map_err(|e| Usage(format!("--log-level {e}")))?,
                );
            }
            Long("log-file") => log.file = Some(PathBuf::from(value(parser, "--log-file")?)),
            Short('h') | Long("help") => return Ok(Command::Help(help_of("run"))),
            Long("config") => {
                return Err(Usage(
                    "--config FILE must come first: the options after it apply on top".into(),
                ))
            }
            Long("print-config") => print_config = true,
            other => return Err(Usage(other.unexpected().to_string())),
        }
    }
    let printed = print_config.then(|| {
        VmFile::of(&RunParts {
            config: cfg.clone(),
            restore: restore.clone(),
            verify,
            incoming: incoming.clone(),
            api: api.clone(),
            qmp: qmp.clone(),
            stats,
            seccomp,
            log: log.clone(),
            booting: Vec::new(),
        })
        .to_json()
    });
    let launch = match (restore, incoming) {
        (Some(_), _) | (_, Some(_)) if booting.iter().any(|b| b == "--on-triple-fault") => {
            return Err(Usage(
                "--on-triple-fault cannot be combined with --restore or --incoming: only a VM \
                 tetra boots has a boot state to reset to"
                    .into(),
            ))
        }
        (Some(_), Some(_)) => {
            return Err(Usage("--restore and --incoming exclude each other".into()))
        }
        (Some(_), None) if !booting.is_empty() => {
            return Err(Usage(format!(
                "{} cannot be combined with --restore: the snapshot has its own",
                booting.join(", ")
            )))
        }
        (Some(p), None) => Launch::Restore(p, verify),
        (None, _) if verify.is_some() => {
            return Err(Usage(
                "--verify needs --restore: it says when a snapshot's memory is checked".into(),
            ))
        }
        (None, Some(_)) if !booting.is_empty() => {
            return Err(Usage(format!(
                "{} cannot be combined with --incoming: the migration stream brings the VM",
                booting.join(", ")
            )))
        }
        (None, Some(u)) => Launch::Incoming(u),
        (None, None) => {
            if cfg.raw.is_some() && cfg.kernel.is_none() {
                return Err(Usage("--raw needs --kernel".into()));
            }
            Launch::Boot(Box::new(cfg))
        }
    };
    if let Some(text) = printed {
        drop(launch);
        return Ok(Command::PrintConfig(text));
    }
    Ok(Command::Run {
        launch,
        stats,
        api,
        qmp,
        seccomp,
        log,
    })
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use std::ffi::OsString;
    use vmm_core::VmConfig;

    fn run(args: &[&str]) -> Result<Command, Usage> {
        parse(
            std::iter::once("run")
                .chain(args.iter().copied())
                .map(OsString::from),
        )
    }

    fn booted(args: &[&str]) -> VmConfig {
        match run(args) {
            Ok(Command::Run {
                launch: Launch::Boot(c),
                ..
            }) => *c,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn usage(args: &[&str]) -> String {
        match run(args) {
            Err(Usage(m)) => m,
            other => panic!("{args:?} accepted: {other:?}"),
        }
    }

    #[test]
    fn disks_parse_in_order_with_their_options() {
        let c = booted(&[
            "--disk",
            "root.img",
            "--disk",
            "/srv/data.img,ro,id=serial-7",
            "--disk",
            "x.img,id=ab=c,ro",
        ]);
        let d = &c.virtio.disks;
        assert_eq!(d.len(), 3);
        assert_eq!(d[0], DiskConfig::new("root.img"));
        assert_eq!(d[1].path, PathBuf::from("/srv/data.img"));
        assert!(d[1].read_only);
        assert_eq!(d[1].id.as_deref(), Some("serial-7"));
        assert_eq!(d[2].id.as_deref(), Some("ab=c"));
        assert!(d[2].read_only);
        assert!(c.virtio.any() && !c.virtio.rng);
        let id20 = format!("a.img,id={}", "x".repeat(20));
        assert_eq!(
            booted(&["--disk", &id20]).virtio.disks[0]
                .id
                .as_ref()
                .map(String::len),
            Some(20)
        );
    }

    #[test]
    fn bad_disks_are_usage_errors_naming_the_option() {
        let id21 = format!("a.img,id={}", "x".repeat(21));
        for (arg, want) in [
            ("", "expected PATH"),
            (",ro", "expected PATH"),
            ("a.img,rw", "unknown option 'rw'"),
            ("a.img,", "unknown option ''"),
            ("a,b.img", "PATH cannot contain a comma"),
            ("a.img,id=", "1 to 20 bytes"),
            (id21.as_str(), "not 21"),
            ("a.img,id=x,id=y", "twice"),
        ] {
            let m = usage(&["--disk", arg]);
            assert!(m.starts_with("--disk '") && m.contains(want), "{arg}: {m}");
        }
        assert_eq!(usage(&["--disk"]), "--disk needs a value");
        let mut many = Vec::new();
        for _ in 0..=vmm_core::config::MAX_DISKS {
            many.extend(["--disk", "a.img,ro"]);
        }
        assert!(usage(&many).contains("at most 16 disks"));
    }

    #[test]
    fn network_cards_parse_with_default_and_given_addresses() {
        let c = booted(&[
            "--net",
            "tap=tap0",
            "--net",
            "mac=02:aB:00:00:00:01,tap=tetra1",
        ]);
        let n = &c.virtio.nets;
        assert_eq!(n.len(), 2);
        assert_eq!(n[0], NetConfig::new("tap0", 0));
        assert_eq!(n[0].mac, [0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        assert_eq!(n[1].tap, "tetra1");
        assert_eq!(n[1].mac, [2, 0xab, 0, 0, 0, 1]);
        assert!(c.virtio.any());
        for (arg, want) in [
            ("", "expected tap=NAME"),
            ("tap0", "unknown option 'tap0'"),
            ("mac=02:00:00:00:00:01", "expected tap=NAME"),
            ("tap=a/b", "TAP interface name"),
            ("tap=sixteen-chars-xy", "TAP interface name"),
            ("tap=t,tap=u", "tap is given twice"),
            ("tap=t,mac=01:00:00:00:00:01", "unicast"),
            ("tap=t,mac=02:00:00:00:00", "mac '02:00:00:00:00'"),
            ("tap=t,mac=02:00:00:00:00:01:02", "six hex bytes"),
            ("tap=t,mac=02:00:00:00:00:g1", "six hex bytes"),
        ] {
            let m = usage(&["--net", arg]);
            assert!(m.starts_with("--net '") && m.contains(want), "{arg}: {m}");
        }
        let mut many = Vec::new();
        for _ in 0..=vmm_core::config::MAX_NETS {
            many.extend(["--net", "tap=t"]);
        }
        assert!(usage(&many).contains("at most 8 network cards"));
    }

    #[test]
    fn a_vsock_device_parses_once_with_a_cid_and_a_socket() {
        let c = booted(&["--vsock", "cid=3,uds=/tmp/v.sock"]);
        assert_eq!(
            c.virtio.vsock,
            Some(VsockConfig {
                cid: 3,
                uds: Some("/tmp/v.sock".into())
            })
        );
        assert!(c.virtio.any());
        assert_eq!(
            booted(&["--vsock", "uds=/v,cid=0xfffffffe"])
                .virtio
                .vsock
                .unwrap()
                .cid,
            0xffff_fffe
        );
        // No path: the kernel's vhost-vsock.
        let v = booted(&["--vsock", "cid=3"]).virtio.vsock.unwrap();
        assert_eq!((v.cid, v.uds), (3, None));
        for (arg, want) in [
            ("", "unknown option ''"),
            ("uds=/v", "expected cid=N"),
            ("cid=2,uds=/v", "vsock CID 2"),
            ("cid=4294967295,uds=/v", "vsock CID 4294967295"),
            ("cid=x,uds=/v", "not a number"),
            ("cid=3,cid=4,uds=/v", "cid is given twice"),
            ("cid=3,uds=", "needs a path"),
            ("cid=3,uds=/v,port=1", "unknown option 'port=1'"),
        ] {
            let m = usage(&["--vsock", arg]);
            assert!(m.starts_with("--vsock '") && m.contains(want), "{arg}: {m}");
        }
        assert!(
            usage(&["--vsock", "cid=3,uds=/a", "--vsock", "cid=4,uds=/b"])
                .contains("at most one vsock device")
        );
    }

    #[test]
    fn transport_chooses_mmio_or_pci() {
        use vmm_core::config::Transport;
        assert_eq!(booted(&[]).virtio.transport, default_transport());
        assert_eq!(
            booted(&["--transport", "pci", "--rng"]).virtio.transport,
            Transport::Pci
        );
        assert_eq!(
            booted(&["--transport", "mmio"]).virtio.transport,
            Transport::Mmio
        );
        assert_eq!(
            usage(&["--transport", "isa"]),
            "--transport isa: expected mmio or pci"
        );
    }

    #[test]
    fn console_chooses_serial_or_virtio() {
        assert!(booted(&["--console", "virtio"]).virtio.console);
        assert!(!booted(&["--console", "serial"]).virtio.console);
        assert!(!booted(&[]).virtio.console);
        assert_eq!(
            usage(&["--console", "hvc"]),
            "--console hvc: expected serial or virtio"
        );
    }

    #[test]
    fn disks_conflict_with_restore_and_incoming() {
        let m = usage(&["--restore", "vm.snap", "--disk", "a.img", "--disk", "b.img"]);
        assert_eq!(
            m,
            "--disk cannot be combined with --restore: the snapshot has its own"
        );
        let m = usage(&["--disk", "a.img", "--rng", "--incoming", "unix:/tmp/m.sock"]);
        assert!(
            m.starts_with("--disk, --rng cannot be combined with --incoming"),
            "{m}"
        );
    }

    #[test]
    fn cpu_template_is_kept_as_given_and_needs_a_boot() {
        assert_eq!(booted(&[]).cpu_template, None);
        assert_eq!(
            booted(&["--cpu-template", "baseline,-kvm-pv-ipi"])
                .cpu_template
                .as_deref(),
            Some("baseline,-kvm-pv-ipi")
        );
        // A restored or incoming VM keeps the template its snapshot or stream recorded.
        let m = usage(&["--restore", "vm.snap", "--cpu-template", "baseline"]);
        assert!(
            m.starts_with(
                "--cpu-template cannot be combined with --restore: the snapshot has its own"
            ),
            "{m}"
        );
        let m = usage(&["--incoming", "unix:/tmp/m.sock", "--cpu-template", "none"]);
        assert!(
            m.starts_with("--cpu-template cannot be combined with --incoming"),
            "{m}"
        );
    }

    #[test]
    fn pit_is_parsed_and_needs_a_boot() {
        use vmm_core::config::Pit;
        assert_eq!(booted(&[]).pit, Pit::Auto);
        for (v, p) in [("auto", Pit::Auto), ("on", Pit::On), ("off", Pit::Off)] {
            assert_eq!(booted(&["--pit", v]).pit, p);
        }
        assert_eq!(
            usage(&["--pit", "maybe"]),
            "--pit maybe: expected auto, on or off"
        );
        let m = usage(&["--restore", "x.tetra", "--pit", "off"]);
        assert!(m.contains("--pit cannot be combined with --restore"), "{m}");
    }

    #[test]
    fn on_triple_fault_is_parsed_and_needs_a_boot() {
        use vmm_core::config::OnTripleFault;
        assert_eq!(booted(&[]).on_triple_fault, OnTripleFault::Crash);
        for (v, p) in [
            ("crash", OnTripleFault::Crash),
            ("reset", OnTripleFault::Reset),
        ] {
            assert_eq!(booted(&["--on-triple-fault", v]).on_triple_fault, p);
        }
        assert_eq!(
            usage(&["--on-triple-fault", "ignore"]),
            "--on-triple-fault ignore: expected crash or reset"
        );
        for other in [
            &["--restore", "vm.snap"][..],
            &["--incoming", "unix:/tmp/m.sock"],
        ] {
            let m = usage(&[other, &["--on-triple-fault", "reset"][..]].concat());
            assert!(
                m.starts_with("--on-triple-fault cannot be combined with --restore or --incoming"),
                "{m}"
            );
        }
    }

    #[test]
    fn verify_goes_with_restore() {
        use vmm_core::snapshot::Verify;
        let launch = |args: &[&str]| match run(args) {
            Ok(Command::Run { launch, .. }) => launch,
            other => panic!("{args:?}: {other:?}"),
        };
        assert!(matches!(
            launch(&["--restore", "vm.snap"]),
            Launch::Restore(_, None)
        ));
        for (v, mode) in [
            ("eager", Verify::Eager),
            ("lazy", Verify::Lazy),
            ("off", Verify::Off),
        ] {
            assert!(matches!(
                launch(&["--verify", v, "--restore", "vm.snap"]),
                Launch::Restore(_, Some(m)) if m == mode
            ));
        }
        assert_eq!(
            usage(&["--restore", "vm.snap", "--verify", "fast"]),
            "--verify 'fast': expected eager, lazy or off"
        );
        for other in [
            &["--verify", "eager"][..],
            &["--verify", "off", "--incoming", "unix:/m"],
        ] {
            assert!(
                usage(other).starts_with("--verify needs --restore"),
                "{other:?}"
            );
        }
    }
}
