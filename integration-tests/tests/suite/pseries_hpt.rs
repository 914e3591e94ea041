//! A hash-MMU guest (KVM-PR: its hash table in tetra's memory, not in guest RAM) across a
//! snapshot and a live migration: the `HTAB` section carries the table, so that the guest's own
//! H_ENTER mappings still translate in the restored VM and at the destination; a migration's
//! pre-copy sends the table and then its changes (ARCH frames), which a guest remapping without
//! pause exercises.

use integration_tests::guests::{self, Guest};
use integration_tests::harness::{check, Suite};
use integration_tests::run::{chain, incoming, Scratch, TestVm};
use std::time::Duration;
use tetra_host::{HostArch, HOST_ARCH};
use vmm_core::migration::MigrateOptions;
use vmm_core::GuestExit;

/// What went wrong at `step` of `vm`, with how it ended and its console.
fn failed(step: &str, why: String, vm: &TestVm<HostArch>) -> String {
    format!(
        "{step}: {why}; the VM: {:?}, ended {:?}; console:\n{}",
        vm.vmm.state(),
        vm.vmm.exit_notifier().reason(),
        vm.console()
    )
}

/// Where the guest looks for its stop word (real address, in RAM).
const STOP: u64 = 0x72_0000;

/// "hpt: mapped", then "tick 1" .. "tick {last}".
fn every_line(last: usize) -> String {
    let ticks: String = (1..=last).map(|i| format!("tick {i}\n")).collect();
    format!("hpt: mapped\n{ticks}")
}

/// The EA→RA translator (`tetra inspect htab SNAPSHOT`: the snapshot's table and vCPU 0's saved
/// SLB) agrees with the guest's own view of both its pages, which every tick checks in real
/// mode: EA 0x10005000 is real 0x700000 and EA 0x1000a000 real 0x710000 (hpt_ticks.S).
fn translator_agrees(snap: &std::path::Path) -> Result<(), String> {
    let bytes = std::fs::read(snap).map_err(|e| format!("{}: {e}", snap.display()))?;
    let pages = [(0x1000_5008u64, 0x70_0008u64), (0x1000_a010, 0x71_0010)];
    let opts = arch_ppc64::inspect::InspectOptions {
        translate: pages.iter().map(|&(ea, _)| ea).collect(),
        ..Default::default()
    };
    let text = arch_ppc64::inspect::inspect_htab(&bytes, &opts).map_err(|e| chain(&e))?;
    eprintln!("{text}");
    for (ea, ra) in pages {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("EA {ea:#x}:")))
            .unwrap_or("");
        check(line.contains(&format!("-> RA {ra:#x} ")), || {
            format!(
                "EA {ea:#x}: the guest reaches real {ra:#x}, the translator says {line:?}\n{text}"
            )
        })?;
    }
    Ok(())
}

/// The guest ticks, is snapshotted and restored (its first VM gone, with its table), ticks on,
/// migrates over a Unix socket (the source gone before the destination runs), ticks five more
/// times and is told to stop: every tick reads and writes through its two mappings and checks
/// both real pages. `model`: the processor (`--cpu-template`), the host's by default.
fn survives(g: &'static Guest, model: Option<&str>) -> Result<(), String> {
    let dir = Scratch::new(&format!("pseries-hpt-{}", model.unwrap_or("host")));
    let snap = dir.0.join("vm.snap");
    let mut cfg = g.config(1, 32);
    cfg.cpu_template = model.map(Into::into);
    let mut a = TestVm::<HostArch>::new(cfg)?;
    a.vmm.start().map_err(|e| chain(&e))?;
    a.wait_for("tick 3\n")?;
    a.vmm.pause().map_err(|e| failed("pause", chain(&e), &a))?;
    a.vmm
        .snapshot(&snap)
        .map_err(|e| failed("snapshot", chain(&e), &a))?;
    let first = a.console();
    drop(a);
    translator_agrees(&snap)?;

    let mut b = TestVm::<HostArch>::restore(&snap)?;
    b.vmm.start().map_err(|e| chain(&e))?;
    // Ticks through the restored table (the first tick after the restore would fault without it).
    b.wait_for("tick 6\n")
        .map_err(|e| failed("after the restore", e, &b))?;
    eprintln!("restored: {:?}", b.console().lines().last());
    let uri = format!("unix:{}", dir.0.join("m.sock").display());
    // The destination listens before the source connects.
    let (dst, _) = incoming::<HostArch>(uri.clone());
    let stats = b
        .vmm
        .migrate(&uri, &MigrateOptions::default(), &mut |_| {})
        .map_err(|e| failed("the migration", chain(&e), &b))?;
    let second = b.console();
    drop(b);
    let (dvm, dbuf) = dst.join().map_err(|_| "the destination panicked")??;
    let mut d = TestVm::from_parts(dvm, dbuf);
    d.vmm.start().map_err(|e| chain(&e))?;
    let ticks = |c: &str| c.lines().filter(|l| l.starts_with("tick ")).count();
    let at = ticks(&first) + ticks(&second) + 5;
    d.wait_for(&format!("tick {at}\n"))
        .map_err(|e| failed("after the migration", e, &d))?;
    d.vmm
        .memory()
        .write("the guest's stop word", STOP, &1u64.to_le_bytes())
        .map_err(|e| chain(&e))?;
    let out = d.finish()?;
    eprintln!(
        "ticks: {} before the snapshot, {} in the restored VM, {} at the destination; migrated: {stats:?}",
        ticks(&first),
        ticks(&second),
        ticks(&out.console)
    );
    check(out.exit == GuestExit::DebugExit(0x10), || {
        format!(
            "{:?}\nbefore the snapshot:\n{first}\nafter the restore:\n{second}\nafter the migration:\n{}",
            out.exit, out.console
        )
    })?;
    let all = format!("{first}{second}{}", out.console);
    check(
        ticks(&out.console) >= 5 && all == every_line(ticks(&all)),
        || {
            format!(
                "first:\n{first}\nsecond:\n{second}\nthird:\n{}",
                out.console
            )
        },
    )
}

/// The numbers of the guest's "remap N" lines.
fn remaps(console: &str) -> Vec<u64> {
    console
        .lines()
        .filter_map(|l| l.strip_prefix("remap ")?.parse().ok())
        .collect()
}

/// The `hpt_remap` guest changes two entries of its table on every iteration, without pause,
/// while it is live-migrated with pre-copy forced to run several rounds: the first round's
/// ARCH frame carries the table, later ones its changes, and the final state only the last
/// changes. The destination's table must then be the source's to the entry: the guest checks
/// each remapped access reaches the page just mapped (a stale or missing entry faults or fails).
fn changed_entries_arrive(g: &'static Guest) -> Result<(), String> {
    let dir = Scratch::new("pseries-hpt-remap");
    let mut a = TestVm::<HostArch>::new(g.config(1, 32))?;
    a.vmm.start().map_err(|e| chain(&e))?;
    a.wait_for("remap 512\n")?;
    let uri = format!("unix:{}", dir.0.join("m.sock").display());
    // The destination listens before the source connects.
    let (dst, _) = incoming::<HostArch>(uri.clone());
    // No downtime is short enough: pre-copy runs its 8 rounds, the guest remapping throughout.
    let opts = MigrateOptions {
        downtime_target: Duration::ZERO,
        max_rounds: 8,
        stall_rounds: u32::MAX,
        ..MigrateOptions::default()
    };
    let mut rounds = Vec::new();
    let stats = a
        .vmm
        .migrate(&uri, &opts, &mut |p| {
            if p.sending.is_none() {
                rounds.push(p.round)
            }
        })
        .map_err(|e| failed("the migration", chain(&e), &a))?;
    let first = a.console();
    drop(a);
    let (dvm, dbuf) = dst.join().map_err(|_| "the destination panicked")??;
    let mut d = TestVm::from_parts(dvm, dbuf);
    d.vmm.start().map_err(|e| chain(&e))?;
    let last = remaps(&first).last().copied().unwrap_or(0);
    d.wait_for(&format!("remap {}\n", last + 3 * 256))
        .map_err(|e| failed("after the migration", e, &d))?;
    d.vmm
        .memory()
        .write("the guest's stop word", STOP, &1u64.to_le_bytes())
        .map_err(|e| chain(&e))?;
    let out = d.finish()?;
    eprintln!(
        "migrated at remap {last} after rounds {rounds:?}: {stats:?}; the destination went on to remap {:?}",
        remaps(&out.console).last()
    );
    check(out.exit == GuestExit::DebugExit(0x10), || {
        format!(
            "{:?}\nbefore the migration:\n{first}\nafter it:\n{}",
            out.exit, out.console
        )
    })?;
    // Pre-copy sent the table and then, in at least one later round, entries the guest had
    // changed; the final state carried only the last changes.
    check(stats.arch_frames >= 2 && stats.arch_final_changes, || {
        format!("pre-copy did not send the table's changes: {stats:?}")
    })?;
    let all: Vec<u64> = remaps(&first)
        .into_iter()
        .chain(remaps(&out.console))
        .collect();
    check(
        !out.console.contains("hpt: mapped")
            && all.windows(2).all(|w| w[1] == w[0] + 256)
            && remaps(&out.console).len() >= 3,
        || {
            format!(
                "the guest did not go on remapping:\n{first}\n--\n{}",
                out.console
            )
        },
    )
}

/// Makes an ARCH frame's `HTAB` changes claim a table of 2^17 bytes, a size no hash table has
/// (payload: sequence number u32, tag, version u16, kind u8, order u32, count u32, entries).
fn claim_order_17(payload: &mut [u8]) {
    const ORDER: usize = 4 + 4 + 2 + 1;
    if payload.len() >= ORDER + 4 && &payload[4..8] == b"HTAB" {
        payload[ORDER..ORDER + 4].copy_from_slice(&17u32.to_le_bytes());
    }
}

/// A source whose first pre-copy pass of the table is corrupt (rewritten on the way, with a
/// valid checksum: a table size no hash table has): the destination refuses it by name, as it
/// arrives, and the source keeps running, its guest remapping on.
fn a_corrupt_table_in_the_stream_is_refused(g: &'static Guest) -> Result<(), String> {
    use integration_tests::proxy::{self, Fault};
    use vmm_core::migration::frame::Kind;
    let dir = Scratch::new("pseries-hpt-corrupt");
    let mut a = TestVm::<HostArch>::new(g.config(1, 32))?;
    a.vmm.start().map_err(|e| chain(&e))?;
    a.wait_for("remap 256\n")?;
    let back = dir.0.join("d.sock");
    let front = dir.0.join("p.sock");
    let (dst, _) = incoming::<HostArch>(format!("unix:{}", back.display()));
    let p = proxy::start(
        front.clone(),
        back,
        Fault::Rewrite(Kind::Arch as u8, 0, claim_order_17),
    );
    let r = a.vmm.migrate(
        &format!("unix:{}", front.display()),
        &MigrateOptions::default(),
        &mut |_| {},
    );
    let forwarded = p.join().map_err(|_| "the proxy panicked")?;
    let dest = dst
        .join()
        .map_err(|_| "the destination panicked")?
        .map(|_| ());
    eprintln!("source: {r:?}\ndestination: {dest:?}\nforwarded: {forwarded:?}");
    // The destination names what it refused; the source hears it when the link lets the ERROR
    // through before it closes (through the proxy it may only see the stream closed).
    match r {
        Ok(stats) => return Err(format!("the migration went through: {stats:?}")),
        Err(vmm_core::migration::MigrationError::Unknown(e)) => {
            return Err(format!(
                "the source does not know the outcome: {}",
                chain(&e)
            ))
        }
        Err(_) => {}
    }
    check(
        dest.as_ref()
            .is_err_and(|e| e.contains("HTAB: table order 17")),
        || format!("the destination did not refuse the table by name: {dest:?}"),
    )?;
    check(!forwarded.up.contains(&(Kind::Ready as u8)), || {
        format!("READY went to the source: {forwarded:?}")
    })?;
    check(a.vmm.state() == vmm_core::VmState::Running, || {
        format!("the source is {:?}", a.vmm.state())
    })?;
    // The source runs on, its guest remapping.
    let last = remaps(&a.console()).last().copied().unwrap_or(0);
    a.wait_for(&format!("remap {}\n", last + 2 * 256))
        .map_err(|e| failed("after the refused migration", e, &a))?;
    a.vmm
        .memory()
        .write("the guest's stop word", STOP, &1u64.to_le_bytes())
        .map_err(|e| chain(&e))?;
    let out = a.finish()?;
    check(out.exit == GuestExit::DebugExit(0x10), || {
        format!("{:?}\n{}", out.exit, out.console)
    })
}

/// Whether the host kernel runs the hash MMU (/proc/cpuinfo's "MMU : Hash"): a KVM-PR host.
fn host_mmu_is_hash() -> bool {
    std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|c| {
        c.lines()
            .any(|l| l.starts_with("MMU") && l.trim_end().ends_with("Hash"))
    })
}

/// Through the binary: `tetra run` of the guest with a control socket, `tetra ctl pause` and
/// `snapshot` at its third tick, the first tetra killed, and `tetra run --restore` in a new
/// process, whose guest ticks on three more times through the restored table (each tick reads
/// and writes through both mappings and checks the real pages; without the table the first would
/// fault). `tetra inspect htab SNAPSHOT` translates both pages as the guest sees them.
fn survives_a_restore_in_a_new_process(g: &'static Guest) -> Result<(), String> {
    use integration_tests::process::{tetra, Tetra};
    let dir = Scratch::new("pseries-hpt-cli");
    let kernel = g.write_to(&dir.0).display().to_string();
    let raw = g.boot.strip_prefix("raw:").ok_or("hpt_ticks boots raw")?;
    let api = dir.0.join("api.sock").display().to_string();
    let snap = dir.0.join("vm.snap").display().to_string();
    let args = [
        "run", "--kernel", &kernel, "--raw", raw, "--mem", "32", "--api", &api,
    ];
    let mut first = Tetra::spawn(&args)?;
    first.wait_for("tick 3\n", false)?;
    for cmd in [&["pause"][..], &["snapshot", &snap]] {
        let mut a = vec!["ctl", "--api", &api];
        a.extend_from_slice(cmd);
        let (st, out, err) = tetra(&a)?;
        check(st.success(), || format!("ctl {cmd:?}: {st} {out} {err}"))?;
    }
    let tick_numbers = |c: &str| -> Vec<u64> {
        c.lines()
            .filter_map(|l| l.strip_prefix("tick ")?.parse().ok())
            .collect()
    };
    let before = tick_numbers(&first.stdout()).last().copied().unwrap_or(0);
    first.kill();
    let (st, text, err) = tetra(&[
        "inspect",
        "htab",
        &snap,
        "--translate",
        "0x10005008",
        "--translate",
        "0x1000a010",
    ])?;
    check(
        st.success() && text.contains("-> RA 0x700008 ") && text.contains("-> RA 0x710010 "),
        || format!("tetra inspect htab: {st}\n{text}{err}"),
    )?;
    let mut second = Tetra::spawn(&["run", "--restore", &snap])?;
    let want = format!("tick {}\n", before + 3);
    let r = second.wait_for(&want, false);
    let out = second.stdout();
    second.kill();
    r.map_err(|e| {
        format!(
            "{e}; the restored tetra's output:\n{out}{}",
            second.stderr()
        )
    })?;
    // It goes on from its snapshot (no new "hpt: mapped", no tick 1 again), one tick after the
    // other.
    let after = tick_numbers(&out);
    check(
        !out.contains("hpt: mapped")
            && after.first().is_some_and(|&n| n > 3)
            && after.windows(2).all(|w| w[1] == w[0] + 1),
        || format!("the restored guest did not tick on from tick {before}:\n{out}"),
    )
}

pub fn register(s: &mut Suite) {
    if HOST_ARCH != "ppc64" {
        return;
    }
    let (Some(g), Some(remap)) = (guests::get("hpt_ticks"), guests::get("hpt_remap")) else {
        return;
    };
    type Test = fn(&'static Guest) -> Result<(), String>;
    let tests: [(&str, &'static Guest, Test); 5] = [
        (
            "pseries::a_hash_guest_survives_a_snapshot_and_a_migration",
            g,
            |g| survives(g, None),
        ),
        // KVM-PR's 970 MMU model (no large-page or 1T segment flags) with the same table.
        (
            "pseries::a_ppc970_hash_guest_survives_a_snapshot_and_a_migration",
            g,
            |g| survives(g, Some("ppc970")),
        ),
        (
            "pseries::a_hash_guest_survives_a_restore_in_a_new_process",
            g,
            survives_a_restore_in_a_new_process,
        ),
        (
            "pseries::hash_entries_changed_during_precopy_arrive",
            remap,
            changed_entries_arrive,
        ),
        (
            "pseries::a_corrupt_hash_table_in_the_stream_is_refused_by_name",
            remap,
            a_corrupt_table_in_the_stream_is_refused,
        ),
    ];
    for (name, g, f) in tests {
        if host_mmu_is_hash() {
            s.kvm(name, move || f(g));
        } else {
            s.skip(
                name,
                "kvm",
                "the host's MMU is radix (KVM-HV runs radix guests only)",
            );
        }
    }
}
