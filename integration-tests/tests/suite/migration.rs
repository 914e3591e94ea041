//! Live migration on real KVM (issue 5): a guest dirtying memory moves over a Unix socket and over
//! TCP on loopback, ends with identical memory and goes on; every fault (the destination gone in
//! each phase, the link cut mid-round, a corrupt or truncated stream, a whole frame removed,
//! duplicated or reordered: issue 17, defect 3) leaves the source running with nothing lost, and
//! the destination refuses before READY and never starts, and the source holds its disk image's
//! lock again. A read-write disk image and a TAP interface are handed over on one host. A peer of
//! the older protocol is refused at HELLO, both ways.

use integration_tests::guests::{self, Guest};
use integration_tests::harness::{check, Suite};
use integration_tests::proxy::{self, Fault};
use integration_tests::run::{chain, incoming, Scratch, TestVm};
use tetra_host::HostArch;
use vm_memory::{Bytes, GuestMemoryBackend, GuestMemoryRegion};
use vmm_core::config::{DiskConfig, NetConfig, VirtioConfig};
use vmm_core::migration::frame::{self, Kind};
use vmm_core::migration::{MigrateOptions, MigrationError, Phase, Progress};
use vmm_core::{Arch, GuestExit, Vmm};

fn checksum(vmm: &Vmm<HostArch>) -> u32 {
    let mem = vmm.memory().memory();
    let mut h = crc32fast::Hasher::new();
    for r in mem.iter() {
        let mut buf = vec![0u8; r.len() as usize];
        mem.read_slice(&mut buf, r.start_addr()).unwrap();
        h.update(&buf);
    }
    h.finalize()
}

/// The guest-physical ranges (host pages, merged) where the two VMs' memory differs, for a
/// failure message.
fn differences(a: &Vmm<HostArch>, b: &Vmm<HostArch>) -> String {
    let (ma, mb) = (a.memory().memory(), b.memory().memory());
    let page = vmm_core::memory::page_size() as usize;
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (ra, rb) in ma.iter().zip(mb.iter()) {
        let (mut x, mut y) = (vec![0u8; ra.len() as usize], vec![0u8; rb.len() as usize]);
        ma.read_slice(&mut x, ra.start_addr()).unwrap();
        mb.read_slice(&mut y, rb.start_addr()).unwrap();
        for (i, (p, q)) in x.chunks(page).zip(y.chunks(page)).enumerate() {
            if p != q {
                let at = ra.start_addr().0 + (i * page) as u64;
                match out.last_mut() {
                    Some((_, end)) if *end == at => *end += page as u64,
                    _ => out.push((at, at + page as u64)),
                }
            }
        }
    }
    let shown: Vec<String> = out
        .iter()
        .take(8)
        .map(|(s, e)| format!("{s:#x}..{e:#x}"))
        .collect();
    format!("{} ranges: {}", out.len(), shown.join(", "))
}

/// Runs the dirtier until "sweep 100", migrates it to `uri` (a destination at `listen_uri`), and
/// checks the result: identical memory, and a destination that goes on sweeping and agrees with
/// every page.
fn migrate_ok(g: &'static Guest, listen_uri: &str, tcp: bool) -> Result<(), String> {
    migrate_with(g, listen_uri, tcp, VirtioConfig::default(), &mut |_| Ok(()))
}

/// [`migrate_ok`] for a VM with the virtio devices `virtio`; `at_destination` checks the
/// destination VM before it starts (the source has handed the guest over).
fn migrate_with(
    g: &'static Guest,
    listen_uri: &str,
    tcp: bool,
    virtio: VirtioConfig,
    at_destination: &mut dyn FnMut(&Vmm<HostArch>) -> Result<(), String>,
) -> Result<(), String> {
    let mut config = g.config(1, 32);
    config.virtio = virtio;
    let mut src = TestVm::<HostArch>::new(config)?;
    src.vmm.start().map_err(|e| chain(&e))?;
    src.wait_for("sweep 100\n")?;
    let (dst, port) = incoming::<HostArch>(listen_uri.to_string());
    let uri = match port {
        Some(p) if tcp => format!("tcp:127.0.0.1:{p}"),
        _ => listen_uri.to_string(),
    };
    let mut reports: Vec<Progress> = Vec::new();
    let stats = src
        .vmm
        .migrate(&uri, &MigrateOptions::default(), &mut |p| {
            reports.push(p.clone())
        })
        .map_err(|e| chain(&e))?;
    check(
        src.vmm.exit_notifier().reason() == Some(GuestExit::Migrated),
        || "source not marked migrated".into(),
    )?;
    let (dvm, dbuf) = dst.join().unwrap()?;
    at_destination(&dvm)?;
    check(checksum(&src.vmm) == checksum(&dvm), || {
        let rounds: Vec<String> = reports
            .iter()
            .map(|p| format!("{:?} {}: {} dirty", p.phase, p.round, p.dirty_pages))
            .collect();
        format!(
            "memory differs between source and destination ({}); {stats:?}; rounds: {}",
            differences(&src.vmm, &dvm),
            rounds.join(", ")
        )
    })?;
    check(
        reports.iter().any(|p| p.phase == Phase::PreCopy)
            && reports.last().unwrap().phase == Phase::Done,
        || format!("{reports:?}"),
    )?;
    // Zero pages travel without their bytes (protocol 3), so the stream may be smaller than the
    // pages it carries; never larger than all of them (host pages: 64 KiB on ppc64) with their
    // run headers, the state and the frames (1 MiB is ample for those).
    let page = vmm_core::memory::page_size();
    check(
        stats.pages > 0
            && stats.bytes > 0
            && stats.bytes <= stats.pages * (page + 32) + (1 << 20)
            && stats.downtime <= stats.total,
        || format!("{stats:?}"),
    )?;
    eprintln!(
        "migrated over {uri}: {stats:?}; last round: {}",
        reports[reports.len().saturating_sub(2)]
    );
    drop(src);
    // The destination goes on sweeping; then it is told to stop and checks every page against
    // its own count of sweeps.
    let mut d = TestVm::from_parts(dvm, dbuf);
    d.vmm.start().map_err(|e| chain(&e))?;
    d.wait_for("sweep ")?;
    d.stop_dirtier()?;
    let out = d.finish()?;
    check(out.exit == GuestExit::DebugExit(0x10), || {
        format!("{:?}\n{}", out.exit, out.console)
    })?;
    check(out.console.contains("every page agrees"), || out.console)
}

pub fn register(s: &mut Suite) {
    let Some(g) = guests::get("dirtier") else {
        return;
    };
    if HostArch::SNAPSHOT_MAGIC.is_none() {
        s.skip("migration::*", "kvm", "this arch cannot migrate yet");
        return;
    }
    s.kvm("migration::over_a_unix_socket", move || {
        let dir = Scratch::new("mig-unix");
        migrate_ok(
            g,
            &format!("unix:{}", dir.0.join("m.sock").display()),
            false,
        )
    });
    s.kvm("migration::over_tcp_on_loopback", move || {
        migrate_ok(g, "tcp:127.0.0.1:0", true)
    });
    let virtio_refused = integration_tests::run::virtio_refused::<HostArch>();
    let virtio_ok = virtio_refused.is_none();
    if let Some(why) = virtio_refused {
        s.skip(
            "migration::hands_a_read_write_disk_over_on_one_host",
            "kvm",
            why.clone(),
        );
        s.skip("migration::hands_a_tap_over_on_one_host", "kvm", why);
    } else {
        s.kvm(
            "migration::hands_a_read_write_disk_over_on_one_host",
            move || {
                let dir = Scratch::new("mig-disk");
                let img = dir.0.join("disk.img");
                std::fs::write(&img, vec![0u8; 1 << 20]).map_err(|e| e.to_string())?;
                let virtio = VirtioConfig {
                    disks: vec![DiskConfig::new(&img)],
                    ..VirtioConfig::default()
                };
                // The source holds the image's lock until the hand-off, the destination after it.
                migrate_with(
                    g,
                    &format!("unix:{}", dir.0.join("m.sock").display()),
                    false,
                    virtio,
                    &mut |_| {
                        let f = std::fs::File::open(&img).map_err(|e| e.to_string())?;
                        check(
                            matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
                            || "nobody holds the image's lock after the migration".into(),
                        )
                    },
                )
            },
        );
        // A TAP interface: as root (or with CAP_NET_ADMIN) tetra makes it; the destination attaches
        // a second queue of it while the source still holds the first.
        let tap = format!("tetramig{}", std::process::id() % 10_000);
        match vmm_core::devices::virtio::net::tap::open(&tap) {
            Err(e) => s.skip(
                "migration::hands_a_tap_over_on_one_host",
                "kvm",
                format!("cannot make a TAP interface here: {}", chain(&e)),
            ),
            Ok(probe) => {
                drop(probe);
                s.kvm("migration::hands_a_tap_over_on_one_host", move || {
                    let dir = Scratch::new("mig-tap");
                    let virtio = VirtioConfig {
                        nets: vec![NetConfig::new(tap.clone(), 0)],
                        ..VirtioConfig::default()
                    };
                    migrate_with(
                        g,
                        &format!("unix:{}", dir.0.join("m.sock").display()),
                        false,
                        virtio,
                        &mut |d| {
                            check(d.config().virtio.nets[0].tap == tap, || {
                                format!("{:?}", d.config().virtio.nets)
                            })
                        },
                    )
                });
            }
        }
    }

    // Each fault, and words the destination's error must hold (it names what is wrong).
    let faults: &[(&str, Fault, &[&str])] = &[
        (
            "destination_gone_at_hello",
            Fault::CutBefore(Kind::Hello as u8, 0),
            &[],
        ),
        (
            "link_cut_mid_round",
            Fault::CutBefore(Kind::Pages as u8, 1),
            &[],
        ),
        (
            "destination_gone_at_stop_and_copy",
            Fault::CutBefore(Kind::State as u8, 0),
            &[],
        ),
        (
            "destination_gone_before_ready",
            Fault::CutReplyBefore(Kind::Ready as u8),
            &[],
        ),
        (
            "corrupt_pages",
            Fault::Flip(Kind::Pages as u8, 2),
            &["checksum"],
        ),
        (
            "corrupt_state",
            Fault::Flip(Kind::State as u8, 0),
            &["checksum"],
        ),
        (
            "truncated_stream",
            Fault::CutBefore(Kind::End as u8, 0),
            &[],
        ),
        (
            "first_pages_frame_removed",
            Fault::Drop(Kind::Pages as u8, 0),
            // The frame after it is a Pages frame, or the Round frame where a round fits in one
            // Pages frame (64 KiB pages).
            &["frame 2 arrived where frame 1 was expected", "missing"],
        ),
        (
            "pages_frame_removed",
            Fault::Drop(Kind::Pages as u8, 1),
            &["arrived where frame", "1 frame missing"],
        ),
        (
            "pages_frame_duplicated",
            Fault::Duplicate(Kind::Pages as u8, 1),
            &["Pages frame", "duplicated or reordered"],
        ),
        (
            "pages_frames_reordered",
            Fault::Swap(Kind::Pages as u8, 1),
            &["frame", "arrived where frame"],
        ),
        (
            "round_removed",
            Fault::Drop(Kind::Round as u8, 0),
            &["arrived where frame", "missing"],
        ),
        (
            "state_removed",
            Fault::Drop(Kind::State as u8, 0),
            &["End frame", "missing"],
        ),
        (
            "state_duplicated",
            Fault::Duplicate(Kind::State as u8, 0),
            &["State frame", "duplicated or reordered"],
        ),
        (
            "state_and_end_reordered",
            Fault::Swap(Kind::State as u8, 0),
            &["End frame", "arrived where frame"],
        ),
    ];
    for &(name, fault, words) in faults {
        s.kvm(
            &format!("migration::fault_{name}_leaves_the_source_running"),
            move || {
                let dir = Scratch::new(&format!("mig-{name}"));
                let (front, back) = (dir.0.join("front.sock"), dir.0.join("back.sock"));
                // With a read-write disk: a source that let its lock go after END takes it back
                // before the guest runs on. (Without one where the arch refuses virtio devices.)
                let img = dir.0.join("disk.img");
                std::fs::write(&img, vec![0u8; 1 << 20]).map_err(|e| e.to_string())?;
                let mut config = g.config(1, 32);
                let disk = virtio_ok;
                if disk {
                    config.virtio.disks = vec![DiskConfig::new(&img)];
                }
                let mut src = TestVm::<HostArch>::new(config)?;
                src.vmm.start().map_err(|e| chain(&e))?;
                src.wait_for("sweep 100\n")?;
                let (dst, _) = incoming::<HostArch>(format!("unix:{}", back.display()));
                let p = proxy::start(front.clone(), back, fault);
                let r = src.vmm.migrate(
                    &format!("unix:{}", front.display()),
                    &MigrateOptions::default(),
                    &mut |_| {},
                );
                let err = match r {
                    Ok(st) => {
                        return Err(format!("the migration succeeded through {fault:?}: {st:?}"))
                    }
                    Err(e) => e,
                };
                check(!matches!(err, MigrationError::Unknown(_)), || chain(&err))?;
                let forwarded = p.join().map_err(|_| "the proxy panicked")?;
                match dst.join().unwrap() {
                    Ok(_) => return Err(format!("the destination got a VM through {fault:?}")),
                    Err(e) => {
                        eprintln!("{name}: source: {}; destination: {e}", chain(&err));
                        check(words.iter().all(|w| e.contains(w)), || {
                            format!("{words:?} not all in the destination's error: {e}")
                        })?;
                    }
                }
                // Refused before READY: the destination never said it was ready.
                check(!forwarded.up.contains(&(Kind::Ready as u8)), || {
                    format!("READY went to the source through {fault:?}: {forwarded:?}")
                })?;
                check(src.vmm.state() == vmm_core::VmState::Running, || {
                    format!("source is {:?}", src.vmm.state())
                })?;
                check(src.vmm.exit_notifier().reason().is_none(), || {
                    "the source ended".into()
                })?;
                let f = std::fs::File::open(&img).map_err(|e| e.to_string())?;
                check(
                    !disk || matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
                    || "the source runs on without its disk image's lock".into(),
                )?;
                // Nothing lost: the source goes on and every page still agrees.
                let swept = src.console().matches("sweep ").count();
                src.wait_for(&format!("sweep {}00\n", swept + 1))?;
                src.stop_dirtier()?;
                let out = src.finish()?;
                check(out.exit == GuestExit::DebugExit(0x10), || {
                    format!("{:?}\n{}", out.exit, out.console)
                })?;
                check(out.console.contains("every page agrees"), || out.console)
            },
        );
    }

    s.kvm(
        "migration::an_older_destination_refuses_this_source_at_hello",
        move || {
            // What a protocol-1 tetra does with a HELLO of another version: an ERROR in the framing
            // that every version shares.
            let dir = Scratch::new("mig-old-dest");
            let sock = dir.0.join("old.sock");
            let l = std::os::unix::net::UnixListener::bind(&sock).map_err(|e| e.to_string())?;
            let old = std::thread::spawn(move || -> Result<u16, String> {
                let (mut c, _) = l.accept().map_err(|e| e.to_string())?;
                let (k, hello) = frame::read(&mut c).map_err(|e| chain(&e))?;
                let version = u16::from_le_bytes([hello[8], hello[9]]);
                check(k == Kind::Hello && &hello[..8] == frame::MAGIC, || {
                    format!("{k:?} {:?}", &hello[..8])
                })?;
                let msg =
                    format!("migration protocol: protocol version {version}; this tetra speaks 1");
                frame::write(&mut c, Kind::Error, msg.as_bytes()).map_err(|e| chain(&e))?;
                Ok(version)
            });
            let mut src = TestVm::<HostArch>::new(g.config(1, 32))?;
            src.vmm.start().map_err(|e| chain(&e))?;
            src.wait_for("sweep 100\n")?;
            let err = src
                .vmm
                .migrate(
                    &format!("unix:{}", sock.display()),
                    &MigrateOptions::default(),
                    &mut |_| {},
                )
                .err()
                .ok_or("migrated to a protocol-1 destination")?;
            let version = old.join().unwrap()?;
            check(version == frame::VERSION && version >= 2, || {
                format!("HELLO said version {version}")
            })?;
            let e = chain(&err);
            check(
                e.contains("the destination failed")
                    && e.contains(&format!(
                        "protocol version {}; this tetra speaks 1",
                        frame::VERSION
                    )),
                || e.clone(),
            )?;
            check(src.vmm.state() == vmm_core::VmState::Running, || {
                format!("source is {:?}", src.vmm.state())
            })
        },
    );

    s.kvm(
        "migration::an_older_source_is_refused_at_hello",
        move || {
            // A protocol-1 source's HELLO: magic, version 1, arch, page size, CONF.
            let dir = Scratch::new("mig-old-src");
            let sock = dir.0.join("m.sock");
            let (dst, _) = incoming::<HostArch>(format!("unix:{}", sock.display()));
            let mut c =
                std::os::unix::net::UnixStream::connect(&sock).map_err(|e| e.to_string())?;
            let conf = vmm_core::snapshot::sections::conf_section(&g.config(1, 32));
            let mut w = vmm_core::wire::Writer::new();
            w.bytes(frame::MAGIC);
            w.u16(1);
            w.bytes(&HostArch::SNAPSHOT_MAGIC.unwrap());
            w.u32(vmm_core::memory::page_size() as u32);
            w.u16(conf.version);
            w.blob(&conf.data);
            frame::write(&mut c, Kind::Hello, &w.buf).map_err(|e| chain(&e))?;
            // The reply is framed as protocol 1 frames it: an ERROR with the reason.
            let (k, msg) = frame::read(&mut c).map_err(|e| chain(&e))?;
            let msg = String::from_utf8_lossy(&msg).into_owned();
            check(
                k == Kind::Error
                    && msg.contains(&format!(
                        "the source speaks protocol version 1; this tetra speaks {}",
                        frame::VERSION
                    )),
                || format!("{k:?}: {msg}"),
            )?;
            match dst.join().unwrap() {
                Ok(_) => Err("the destination took a protocol-1 source".into()),
                Err(e) => check(e.contains("protocol version 1"), || e),
            }
        },
    );
}
