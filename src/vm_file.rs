//! The VM description: everything `tetra run`'s options say, as one serde model. `tetra run
//! --config FILE` reads it (JSON; the options given beside it apply on top), `tetra run
//! --print-config` prints the effective one, which `--config` takes back unchanged.

use crate::logs::{level_name, parse_level, LogOptions};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use vmm_core::config::{
    check_cpus, check_mem_mib, check_vsock_cid, DiskConfig, LimitError, NetConfig, OnTripleFault,
    Pit, Transport, VsockConfig,
};
use vmm_core::sandbox::SeccompMode;
use vmm_core::snapshot::Verify;
use vmm_core::{Payload, RawLoad, VmConfig};

/// The largest description file tetra reads.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// A VM, as `tetra run` takes it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VmFile {
    /// vCPUs, memory, interrupt controller.
    pub machine: Machine,
    /// What to boot.
    pub payload: PayloadFile,
    /// The virtio devices and where stdin goes.
    pub devices: Devices,
    /// The control socket, the sandbox, statistics.
    pub control: Control,
    /// Run from a snapshot instead of booting (`--restore`, `--verify`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore: Option<Restore>,
    /// Wait for a migrating VM at this URI instead of booting (`--incoming`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incoming: Option<String>,
}

/// `--cpus`, `--mem`, `--irqchip`, `--on-triple-fault`, `--cpu-template`, `--pit`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Machine {
    /// vCPUs.
    pub cpus: u64,
    /// Guest RAM in MiB.
    pub mem_mib: u64,
    /// The interrupt controller, where an arch offers several.
    pub irqchip: Option<String>,
    /// What a triple fault does: `crash` or `reset` (x86).
    pub on_triple_fault: String,
    /// The CPU template spec (x86): CPUID features withheld; none passes the host's through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_template: Option<String>,
    /// Whether the machine has a PIT: `auto`, `on` or `off` (x86).
    pub pit: String,
}

impl Default for Machine {
    fn default() -> Self {
        let d = VmConfig::default();
        Machine {
            cpus: d.cpus.into(),
            mem_mib: d.mem_mib,
            irqchip: d.irqchip,
            on_triple_fault: d.on_triple_fault.name().into(),
            cpu_template: d.cpu_template,
            pit: d.pit.name().into(),
        }
    }
}

/// `--kernel`, `--initrd`, `--cmdline`, `--raw`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PayloadFile {
    /// The kernel; none for the embedded guest.
    pub kernel: Option<PathBuf>,
    /// The initial ramdisk.
    pub initrd: Option<PathBuf>,
    /// The kernel command line.
    pub cmdline: String,
    /// Load the kernel raw at an address.
    pub raw: Option<Raw>,
}

/// `--raw ADDR[:MODE]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    /// Guest-physical load and entry address.
    pub addr: u64,
    /// The arch's entry mode (x86: real, protected, long).
    #[serde(default)]
    pub mode: Option<String>,
}

/// Where stdin goes (`--console`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Console {
    /// The arch's serial port or hypervisor console.
    #[default]
    Serial,
    /// A virtio-console device.
    Virtio,
}

/// How virtio devices reach the guest (`--transport`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportName {
    /// virtio-mmio.
    Mmio,
    /// virtio-pci with MSI-X.
    Pci,
}

impl From<TransportName> for Transport {
    fn from(t: TransportName) -> Transport {
        match t {
            TransportName::Mmio => Transport::Mmio,
            TransportName::Pci => Transport::Pci,
        }
    }
}

impl From<Transport> for TransportName {
    fn from(t: Transport) -> TransportName {
        match t {
            Transport::Mmio => TransportName::Mmio,
            Transport::Pci => TransportName::Pci,
        }
    }
}

/// `--transport`'s default: virtio-pci where the host arch has a PCI host bridge and a Linux
/// guest was verified on it (x86_64 and arm64, the lanes' `1:quiet:virtio:pci`; arm64's MSI-X
/// through the ITS), virtio-mmio elsewhere.
pub fn default_transport() -> Transport {
    if matches!(crate::host::HOST_ARCH, "x86_64" | "aarch64") {
        Transport::Pci
    } else {
        Transport::Mmio
    }
}

/// `--rng`, `--console`, `--disk`, `--net`, `--vsock`, `--transport`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Devices {
    /// Their transport (default: the host arch's, see [`default_transport`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<TransportName>,
    /// A virtio-rng device.
    pub rng: bool,
    /// Where stdin goes.
    pub console: Console,
    /// virtio-blk devices.
    pub disks: Vec<Disk>,
    /// virtio-net devices.
    pub nets: Vec<Net>,
    /// A virtio-vsock device.
    pub vsock: Option<Vsock>,
}

/// `--disk PATH[,ro][,id=ID]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// The raw image.
    pub path: PathBuf,
    /// Read-only.
    #[serde(default)]
    pub read_only: bool,
    /// The serial the guest reads.
    #[serde(default)]
    pub id: Option<String>,
}

/// `--net tap=NAME[,mac=MAC]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Net {
    /// The host TAP interface.
    pub tap: String,
    /// The card's address (default: 52:54:00:12:34:56 plus the card's index).
    #[serde(default)]
    pub mac: Option<String>,
}

/// `--vsock cid=N[,uds=PATH]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vsock {
    /// The guest's CID.
    pub cid: u64,
    /// The host side's Unix socket; without it, the kernel's vhost-vsock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uds: Option<PathBuf>,
}

/// `--api`, `--qmp`, `--seccomp`, `--stats`, `--log-level`, `--log-file`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Control {
    /// The control socket.
    pub api: Option<PathBuf>,
    /// The QMP socket's path (`--qmp unix:PATH`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qmp: Option<PathBuf>,
    /// on, log or off.
    pub seccomp: String,
    /// Print statistics when the guest ends.
    pub stats: bool,
    /// error, warn, info, debug or trace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// The log file (appended to).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_file: Option<PathBuf>,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            api: None,
            qmp: None,
            seccomp: "on".into(),
            stats: false,
            log_level: None,
            log_file: None,
        }
    }
}

/// `--restore FILE [--verify MODE]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Restore {
    /// The snapshot's state file.
    pub path: PathBuf,
    /// eager, lazy or off; default by the VM (README).
    #[serde(default)]
    pub verify: Option<String>,
}

/// What went wrong with a description: the field (a dotted path) and why.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {why}")]
pub struct FieldError {
    /// The field, as `devices.disks[1].id`.
    pub field: String,
    /// Why it is refused.
    pub why: String,
}

fn refuse(field: impl Into<String>, why: impl std::fmt::Display) -> FieldError {
    FieldError {
        field: field.into(),
        why: why.to_string(),
    }
}

/// A file that is not a description.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// Unreadable, not a regular file, or too large.
    #[error(transparent)]
    File(#[from] vmm_core::files::FileError),
    /// Not JSON, or a field of the wrong type or an unknown one.
    #[error("{path}: {field}")]
    Syntax {
        /// The file.
        path: String,
        /// Where in it (`.` for the document).
        field: String,
        /// What serde_json said.
        #[source]
        source: serde_json::Error,
    },
    /// A value out of range or inconsistent.
    #[error("{path}")]
    Field {
        /// The file.
        path: String,
        /// The field.
        #[source]
        source: FieldError,
    },
}

/// What `tetra run` does, resolved from a description.
#[derive(Debug, Default)]
pub struct RunParts {
    /// The VM to boot (unused when restoring or migrating in).
    pub config: VmConfig,
    /// `--restore`.
    pub restore: Option<PathBuf>,
    /// `--verify`.
    pub verify: Option<Verify>,
    /// `--incoming`.
    pub incoming: Option<String>,
    /// `--api`.
    pub api: Option<PathBuf>,
    /// `--qmp`.
    pub qmp: Option<PathBuf>,
    /// `--stats`.
    pub stats: bool,
    /// `--seccomp`.
    pub seccomp: SeccompMode,
    /// `--log-level`, `--log-file`.
    pub log: LogOptions,
    /// The fields describing a VM to boot that differ from the defaults (which a restore or
    /// an incoming migration cannot take).
    pub booting: Vec<String>,
}

/// `mac` in the usual notation.
pub fn mac_text(mac: &[u8; 6]) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

/// A unicast MAC address written as six colon-separated hex bytes.
pub fn parse_mac(m: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = m.split(':');
    for b in &mut mac {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    (parts.next().is_none() && mac[0] & 1 == 0).then_some(mac)
}

impl VmFile {
    /// Reads and checks the description in `path`.
    pub fn read(path: &Path) -> Result<RunParts, ConfigFileError> {
        let bytes = vmm_core::files::read_regular(path, MAX_CONFIG_BYTES)?;
        let name = path.display().to_string();
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        let file: VmFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            ConfigFileError::Syntax {
                path: name.clone(),
                field,
                source: e.into_inner(),
            }
        })?;
        file.resolve()
            .map_err(|source| ConfigFileError::Field { path: name, source })
    }

    /// Checks every value and resolves defaults (a card's address by its index).
    pub fn resolve(self) -> Result<RunParts, FieldError> {
        let default = VmFile::default();
        let mut booting = Vec::new();
        let mut differs = |name: &str, d: bool| {
            if d {
                booting.push(name.to_string());
            }
        };
        differs("machine", self.machine != default.machine);
        differs("payload", self.payload != default.payload);
        let mut devices = self.devices.clone();
        if devices.transport == Some(default_transport().into()) {
            devices.transport = None;
        }
        differs("devices", devices != default.devices);

        let m = &self.machine;
        let mut config = VmConfig {
            cpus: check_cpus(m.cpus).map_err(|e| refuse("machine.cpus", e))?,
            mem_mib: check_mem_mib(m.mem_mib).map_err(|e| refuse("machine.mem_mib", e))?,
            irqchip: m.irqchip.clone(),
            on_triple_fault: OnTripleFault::parse(&m.on_triple_fault).ok_or_else(|| {
                refuse(
                    "machine.on_triple_fault",
                    format!("'{}': expected crash or reset", m.on_triple_fault),
                )
            })?,
            cpu_template: m.cpu_template.clone(),
            pit: Pit::parse(&m.pit).ok_or_else(|| {
                refuse(
                    "machine.pit",
                    format!("'{}': expected auto, on or off", m.pit),
                )
            })?,
            ..VmConfig::default()
        };
        let p = &self.payload;
        config.kernel = p.kernel.clone().map(Payload::File);
        config.initrd = p.initrd.clone().map(Payload::File);
        config.cmdline = p.cmdline.clone();
        config.raw = p.raw.as_ref().map(|r| RawLoad {
            addr: r.addr,
            mode: r.mode.clone(),
        });
        let d = &self.devices;
        let v = &mut config.virtio;
        v.transport = d.transport.map_or_else(default_transport, Transport::from);
        v.rng = d.rng;
        v.console = d.console == Console::Virtio;
        for (i, disk) in d.disks.iter().enumerate() {
            let field = |f: &str| format!("devices.disks[{i}].{f}");
            if disk.path.as_os_str().is_empty() {
                return Err(refuse(field("path"), "empty"));
            }
            let mut c = DiskConfig::new(&disk.path);
            c.read_only = disk.read_only;
            c.id = disk.id.clone();
            // The core's limit covers the length; an empty id is this file's own refusal (the
            // command line's `id=` cannot give one).
            if c.id.as_deref() == Some("") {
                return Err(refuse(field("id"), "empty"));
            }
            c.check_limits().map_err(|e| refuse(field("id"), e))?;
            v.disks.push(c);
        }
        for (i, net) in d.nets.iter().enumerate() {
            vmm_core::devices::virtio::net::tap::check_name(&net.tap)
                .map_err(|e| refuse(format!("devices.nets[{i}].tap"), e))?;
            let mut c = NetConfig::new(net.tap.clone(), i as u8);
            if let Some(m) = &net.mac {
                c.mac = parse_mac(m).ok_or_else(|| {
                    refuse(
                        format!("devices.nets[{i}].mac"),
                        format!("'{m}': expected six hex bytes like 52:54:00:12:34:56, a unicast address"),
                    )
                })?;
            }
            v.nets.push(c);
        }
        // The counts, checked by the core as for the command line.
        v.check_limits().map_err(|e| match e {
            LimitError::Disks(_) => refuse("devices.disks", e),
            LimitError::Nets(_) => refuse("devices.nets", e),
            e => refuse("devices", e),
        })?;
        if let Some(vs) = &d.vsock {
            let cid = check_vsock_cid(vs.cid).map_err(|e| refuse("devices.vsock.cid", e))?;
            if vs.uds.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                return Err(refuse("devices.vsock.uds", "empty"));
            }
            v.vsock = Some(VsockConfig {
                cid,
                uds: vs.uds.clone(),
            });
        }
        let c = &self.control;
        let seccomp = c.seccomp.parse().map_err(|_| {
            refuse(
                "control.seccomp",
                format!("'{}': expected on, log or off", c.seccomp),
            )
        })?;
        let log = LogOptions {
            level: match &c.log_level {
                Some(l) => Some(parse_level(l).map_err(|e| refuse("control.log_level", e))?),
                None => None,
            },
            file: c.log_file.clone(),
        };
        if log.file.as_ref().is_some_and(|f| f.as_os_str().is_empty()) {
            return Err(refuse("control.log_file", "empty"));
        }
        let (restore, verify) = match &self.restore {
            Some(r) => {
                let verify = match &r.verify {
                    Some(s) => Some(Verify::parse(s).ok_or_else(|| {
                        refuse(
                            "restore.verify",
                            format!("'{s}': expected eager, lazy or off"),
                        )
                    })?),
                    None => None,
                };
                (Some(r.path.clone()), verify)
            }
            None => (None, None),
        };
        if let Some(u) = &self.incoming {
            vmm_core::migration::Uri::parse(u).map_err(|_| {
                refuse(
                    "incoming",
                    format!("'{u}': expected unix:PATH or tcp:HOST:PORT"),
                )
            })?;
        }
        Ok(RunParts {
            config,
            restore,
            verify,
            incoming: self.incoming.clone(),
            api: c.api.clone(),
            qmp: c.qmp.clone(),
            stats: c.stats,
            seccomp,
            log,
            booting,
        })
    }

    /// The description of what `parts` runs (the inverse of [`Self::resolve`]).
    pub fn of(parts: &RunParts) -> VmFile {
        let c = &parts.config;
        let file = |p: &Option<Payload>| match p {
            Some(Payload::File(f)) => Some(f.clone()),
            // In-memory payloads exist only in tests; a description names files.
            _ => None,
        };
        VmFile {
            machine: Machine {
                cpus: c.cpus.into(),
                mem_mib: c.mem_mib,
                irqchip: c.irqchip.clone(),
                on_triple_fault: c.on_triple_fault.name().into(),
                cpu_template: c.cpu_template.clone(),
                pit: c.pit.name().into(),
            },
            payload: PayloadFile {
                kernel: file(&c.kernel),
                initrd: file(&c.initrd),
                cmdline: c.cmdline.clone(),
                raw: c.raw.as_ref().map(|r| Raw {
                    addr: r.addr,
                    mode: r.mode.clone(),
                }),
            },
            devices: Devices {
                // Named for a VM that boots (a restored or migrated one has its own); without
                // virtio devices it means nothing, and reads as the default.
                transport: (parts.restore.is_none() && parts.incoming.is_none()).then_some(
                    if c.virtio.any() {
                        c.virtio.transport
                    } else {
                        default_transport()
                    }
                    .into(),
                ),
                rng: c.virtio.rng,
                console: if c.virtio.console {
                    Console::Virtio
                } else {
                    Console::Serial
                },
                disks: c
                    .virtio
                    .disks
                    .iter()
                    .map(|d| Disk {
                        path: d.path.clone(),
                        read_only: d.read_only,
                        id: d.id.clone(),
                    })
                    .collect(),
                nets: c
                    .virtio
                    .nets
                    .iter()
                    .map(|n| Net {
                        tap: n.tap.clone(),
                        mac: Some(mac_text(&n.mac)),
                    })
                    .collect(),
                vsock: c.virtio.vsock.as_ref().map(|v| Vsock {
                    cid: v.cid,
                    uds: v.uds.clone(),
                }),
            },
            control: Control {
                api: parts.api.clone(),
                qmp: parts.qmp.clone(),
                seccomp: parts.seccomp.to_string(),
                stats: parts.stats,
                log_level: parts.log.level.map(level_name),
                log_file: parts.log.file.clone(),
            },
            restore: parts.restore.as_ref().map(|p| Restore {
                path: p.clone(),
                verify: parts.verify.map(|v| v.to_string()),
            }),
            incoming: parts.incoming.clone(),
        }
    }

    /// The description as indented JSON.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// The description as one line of JSON (the control socket's `config` answer).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmm_core::config::{MAX_DISKS, MAX_NETS};

    fn parse(text: &str) -> Result<RunParts, String> {
        let dir = std::env::temp_dir().join(format!("tetra-vmfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(format!("{:x}.json", crc(text)));
        std::fs::write(&p, text).unwrap();
        let r = VmFile::read(&p).map_err(|e| vmm_core::error_chain::chain(&e));
        let _ = std::fs::remove_file(&p);
        r
    }

    fn crc(s: &str) -> u64 {
        s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
    }

    #[test]
    fn an_empty_description_is_the_default_vm() {
        let p = parse("{}").unwrap();
        assert_eq!(p.config.cpus, 1);
        assert_eq!(p.config.mem_mib, VmConfig::default().mem_mib);
        assert!(p.booting.is_empty() && p.restore.is_none() && !p.stats);
        assert_eq!(p.seccomp, SeccompMode::On);
        assert_eq!(p.config.on_triple_fault, OnTripleFault::Crash);
    }

    #[test]
    fn a_full_description_round_trips() {
        let text = r#"{
          "machine": {"cpus": 2, "mem_mib": 256, "irqchip": "gicv3-its", "on_triple_fault": "reset",
                      "cpu_template": "baseline,-kvm-pv-unhalt"},
          "payload": {"kernel": "/k", "initrd": "/i", "cmdline": "console=ttyS0", "raw": {"addr": 32768, "mode": "long"}},
          "devices": {"rng": true, "console": "virtio",
                      "disks": [{"path": "/a.img", "read_only": true, "id": "sys"}, {"path": "/b.img"}],
                      "nets": [{"tap": "tap0"}, {"tap": "tap1", "mac": "02:00:00:00:00:01"}],
                      "vsock": {"cid": 3, "uds": "/tmp/v.sock"}},
          "control": {"api": "/tmp/api", "seccomp": "log", "stats": true,
                      "log_level": "debug", "log_file": "/tmp/tetra.log"}
        }"#;
        let p = parse(text).unwrap();
        assert_eq!(p.config.cpus, 2);
        assert_eq!(p.config.on_triple_fault, OnTripleFault::Reset);
        assert_eq!(
            p.config.cpu_template.as_deref(),
            Some("baseline,-kvm-pv-unhalt")
        );
        assert_eq!(p.log.level, Some(tracing::Level::DEBUG));
        assert_eq!(p.config.virtio.disks[0].id.as_deref(), Some("sys"));
        assert_eq!(
            p.config.virtio.nets[0].mac,
            [0x52, 0x54, 0, 0x12, 0x34, 0x56]
        );
        assert_eq!(p.config.virtio.nets[1].mac, [2, 0, 0, 0, 0, 1]);
        assert_eq!(p.booting, ["machine", "payload", "devices"]);
        let printed = VmFile::of(&p).to_json();
        let again = parse(&printed).unwrap();
        assert_eq!(VmFile::of(&again).to_json(), printed);
        // The printed description names the resolved address of the first card.
        assert!(printed.contains("52:54:00:12:34:56"), "{printed}");
        assert!(
            printed.contains(r#""on_triple_fault": "reset""#),
            "{printed}"
        );
        assert!(
            printed.contains(r#""cpu_template": "baseline,-kvm-pv-unhalt""#),
            "{printed}"
        );
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_refused_by_name() {
        let e = parse(r#"{"machine": {"cpuz": 2}}"#).unwrap_err();
        assert!(e.contains("machine") && e.contains("`cpuz`"), "{e}");
        let e = parse(r#"{"machine": {"cpus": "two"}}"#).unwrap_err();
        assert!(
            e.contains("machine.cpus") && e.contains("invalid type"),
            "{e}"
        );
        let e = parse(r#"{"devices": {"disks": [{"path": "/a"}, {"path": 3}]}}"#).unwrap_err();
        assert!(e.contains("devices.disks[1].path"), "{e}");
        let e = parse(r#"{"devices": {"transport": "isa"}}"#).unwrap_err();
        assert!(
            e.contains("devices.transport") && e.contains("`isa`"),
            "{e}"
        );
        let e = parse(r#"{"extra": 1}"#).unwrap_err();
        assert!(e.contains("`extra`"), "{e}");
        let e = parse("not json").unwrap_err();
        assert!(e.contains("expected"), "{e}");
    }

    #[test]
    fn values_out_of_range_are_refused_by_name() {
        for (text, field) in [
            (r#"{"machine": {"cpus": 0}}"#, "machine.cpus"),
            (r#"{"machine": {"mem_mib": 0}}"#, "machine.mem_mib"),
            (
                r#"{"machine": {"on_triple_fault": "ignore"}}"#,
                "machine.on_triple_fault",
            ),
            (
                r#"{"devices": {"disks": [{"path": "/a", "id": ""}]}}"#,
                "devices.disks[0].id",
            ),
            (
                r#"{"devices": {"disks": [{"path": "/a"}, {"path": "/b", "id": "twenty-one-bytes-long"}]}}"#,
                "devices.disks[1].id",
            ),
            (
                r#"{"devices": {"nets": [{"tap": "a-name-longer-than-15"}]}}"#,
                "devices.nets[0].tap",
            ),
            (
                r#"{"devices": {"nets": [{"tap": "t", "mac": "01:00:00:00:00:00"}]}}"#,
                "devices.nets[0].mac",
            ),
            (
                r#"{"devices": {"vsock": {"cid": 2, "uds": "/v"}}}"#,
                "devices.vsock.cid",
            ),
            (r#"{"control": {"seccomp": "maybe"}}"#, "control.seccomp"),
            (r#"{"control": {"log_level": "loud"}}"#, "control.log_level"),
            (r#"{"control": {"log_file": ""}}"#, "control.log_file"),
            (
                r#"{"restore": {"path": "/s", "verify": "later"}}"#,
                "restore.verify",
            ),
            (r#"{"incoming": "ftp:x"}"#, "incoming"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(&format!("{field}: ")), "{text}: {e}");
        }
        let many: Vec<String> = (0..=MAX_DISKS)
            .map(|i| format!(r#"{{"path": "/d{i}"}}"#))
            .collect();
        let e = parse(&format!(
            r#"{{"devices": {{"disks": [{}]}}}}"#,
            many.join(",")
        ))
        .unwrap_err();
        assert!(e.contains("devices.disks: "), "{e}");
        let many: Vec<String> = (0..=MAX_NETS)
            .map(|i| format!(r#"{{"tap": "t{i}"}}"#))
            .collect();
        let e = parse(&format!(
            r#"{{"devices": {{"nets": [{}]}}}}"#,
            many.join(",")
        ))
        .unwrap_err();
        assert!(e.contains("devices.nets: "), "{e}");
    }
}
