//! The body of the state benchmark: generic over the host's arch, run where its guests exist
//! (x86_64 today, see `main.rs`).

use integration_tests::guests::{self, Guest};
use integration_tests::run::{Scratch, TestVm};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tetra_host::HostArch;
use vmm_core::bus::BusDevice;
use vmm_core::console::ConsoleSink;
use vmm_core::migration::MigrateOptions;
use vmm_core::snapshot::Verify;
use vmm_core::{Vmm, VmmOptions};

/// Records that the guest wrote the port at least once.
struct FirstWrite(Arc<AtomicBool>);
impl BusDevice for FirstWrite {
    fn read(&mut self, _: u64, data: &mut [u8]) {
        data.fill(0);
    }
    fn write(&mut self, _: u64, _: &[u8]) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn quiet() -> VmmOptions {
    VmmOptions {
        console: ConsoleSink::Null,
        stdin: false,
        ..VmmOptions::default()
    }
}

/// Adds the first-write recorder at port 0x80, starts, and waits for the guest's first write.
fn start_to_first_instruction(vmm: &mut Vmm<HostArch>, t0: Instant) -> Duration {
    let seen = Arc::new(AtomicBool::new(false));
    vmm.add_pio_device(0x80, 1, Arc::new(Mutex::new(FirstWrite(seen.clone()))))
        .expect("port 0x80 is free");
    vmm.start().expect("start");
    while !seen.load(Ordering::Relaxed) {
        // Yield rather than spin: on a small host the vCPU thread needs this CPU.
        std::thread::yield_now();
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the guest never ran"
        );
    }
    t0.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn row(what: &str, tetra: String, base: String, ratio: f64, goal: &str) {
    println!("{what:<46} {tetra:>12} {base:>28} {ratio:>8.2}x  {goal}");
}

/// A workload VM of `mib` that has touched its RAM; `dirty` keeps it rewriting 32 MiB.
fn workload(g: &'static Guest, mib: u64, dirty: bool) -> TestVm<HostArch> {
    let mut cfg = g.config(1, mib);
    cfg.cmdline = if dirty { "d".into() } else { "i".into() };
    let mut vm = TestVm::<HostArch>::new(cfg).expect("build");
    vm.vmm.start().expect("start");
    vm.wait_for("touched\n")
        .expect("the workload touched its RAM");
    vm
}

/// Bytes through a Unix socket pair, as fast as it goes: the reader reuses one 1 MiB buffer, or
/// with `fresh` puts the bytes into fresh memory of their size, as a migration's destination puts
/// them into its new guest's RAM (every page faulted in on its first write).
fn raw_transfer(bytes: u64, fresh: bool) -> Duration {
    let (mut a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    let t = Instant::now();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; if fresh { bytes as usize } else { 1 << 20 }];
        let mut got = 0u64;
        while got < bytes {
            let at = if fresh { got as usize } else { 0 };
            let end = (at + (1 << 20)).min(buf.len());
            got += b.read(&mut buf[at..end]).unwrap() as u64;
        }
        drop(buf);
    });
    let chunk = vec![0x5au8; 1 << 20];
    let mut sent = 0u64;
    while sent < bytes {
        let n = (bytes - sent).min(chunk.len() as u64) as usize;
        a.write_all(&chunk[..n]).unwrap();
        sent += n as u64;
    }
    reader.join().unwrap();
    t.elapsed()
}

/// Migrations of a workload VM over a Unix socket, medians of [`MIGRATIONS`], against raw
/// copies of the same bytes through a socket pair, medians of [`RAW_COPIES`]: with a guest of the
/// same mode running beside (as the source's guest runs beside a migration's pre-copy: the idle
/// workload spins on port writes, so on a 2-core host it takes a core either way), and with none.
fn migration_rows(g: &'static Guest, dir: &Scratch, mib: u64, dirty: bool, tag: &str) {
    let mut totals = Vec::new();
    let mut downtimes = Vec::new();
    let mut stats = None;
    for i in 0..MIGRATIONS {
        let mut src = workload(g, mib, dirty);
        let uri = format!("unix:{}", dir.0.join(format!("mig-{i}.sock")).display());
        // Returns once the destination listens.
        let (dest, _) = integration_tests::run::incoming::<HostArch>(uri.clone());
        let s = src
            .vmm
            .migrate(&uri, &MigrateOptions::default(), &mut |_| {})
            .expect("migrate");
        drop(dest.join().unwrap().expect("destination"));
        totals.push(s.total);
        downtimes.push(s.downtime);
        stats = Some(s);
    }
    let stats = stats.expect("at least one migration");
    let (total, downtime) = (median(totals), median(downtimes));
    let copies = |fresh: bool| {
        median(
            (0..RAW_COPIES)
                .map(|_| raw_transfer(stats.bytes, fresh))
                .collect(),
        )
    };
    let (raw_alone, fresh_alone) = (copies(false), copies(true));
    // The same guest beside the baseline: 64 MiB (the dirtying mode's window fits).
    let beside = workload(g, 64, dirty);
    let (raw, fresh) = (copies(false), copies(true));
    drop(beside);
    let rows: [(&str, &str, Duration, &str); 4] = [
        ("", "raw socket copy, guest beside", raw, "<= 1.5x"),
        (
            "vs fresh-RAM copy, ",
            "into fresh RAM, guest beside",
            fresh,
            "",
        ),
        (
            "vs copy, no guest, ",
            "raw socket copy, no guest",
            raw_alone,
            "",
        ),
        (
            "vs fresh, no guest, ",
            "into fresh RAM, no guest",
            fresh_alone,
            "",
        ),
    ];
    for (what, base, d, goal) in rows {
        let name = if what.is_empty() {
            format!(
                "migration total, {tag} ({} MiB, {} rounds), ms",
                stats.bytes >> 20,
                stats.rounds
            )
        } else {
            format!("migration total {what}{tag}, ms")
        };
        row(
            &name,
            format!("{:.1}", ms(total)),
            format!("{base}: {:.1}", ms(d)),
            total.as_secs_f64() / d.as_secs_f64(),
            goal,
        );
    }
    row(
        &format!("migration downtime, {tag}, ms"),
        format!("{:.1}", ms(downtime)),
        "goal: 20.0".into(),
        ms(downtime) / 20.0,
        if mib == 1024 && !dirty {
            "< 20 ms (idle 1 GiB)"
        } else {
            ""
        },
    );
}

/// Migrations per case (each of a fresh workload VM).
const MIGRATIONS: usize = 3;
/// Raw copies per baseline.
const RAW_COPIES: usize = 5;

/// The dirty log, snapshot and restore rows of one workload.
fn dirty_log_snapshot_restore(
    g: &'static Guest,
    pio: &'static Guest,
    src: &mut TestVm<HostArch>,
    dir: &Scratch,
    mib: u64,
    dirty: bool,
    tag: &str,
) {
    let gib = mib as f64 / 1024.0;
    // Dirty logging: tetra's start (manual protection, every page initially dirty), against
    // the classic start (KVM write-protects every page) on an identical VM; medians of 5.
    let mut classic_vm = workload(g, mib, dirty);
    let (mut ours, mut classic) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let t = Instant::now();
        src.vmm.start_dirty_log().expect("dirty log");
        ours.push(t.elapsed());
        src.vmm.stop_dirty_log().expect("dirty log off");
        let t = Instant::now();
        classic_vm
            .vmm
            .start_classic_dirty_log()
            .expect("classic dirty log");
        classic.push(t.elapsed());
        classic_vm.vmm.stop_dirty_log().expect("dirty log off");
    }
    drop(classic_vm);
    let (start_log, plain) = (median(ours), median(classic));
    row(
        &format!("dirty log start, {tag}, ms per GiB"),
        format!("{:.3}", ms(start_log) / gib),
        format!("classic log start: {:.3}", ms(plain) / gib),
        start_log.as_secs_f64() / plain.as_secs_f64().max(1e-9),
        "< 0.2 ms/GiB",
    );

    // Snapshot, against writing the same bytes.
    let path = dir.0.join("vm.snap");
    let t = Instant::now();
    let st = src.vmm.snapshot(&path).expect("snapshot");
    let snap = t.elapsed();
    let blob = vec![0xa5u8; (st.memory_bytes + st.state_bytes) as usize];
    let t = Instant::now();
    let mut f = std::fs::File::create(dir.0.join("baseline.bin")).unwrap();
    f.write_all(&blob).unwrap();
    f.sync_all().unwrap();
    let plain = t.elapsed();
    drop(blob);
    let _ = std::fs::remove_file(dir.0.join("baseline.bin"));
    row(
        &format!(
            "snapshot, {tag} ({} MiB written), ms",
            st.memory_bytes >> 20
        ),
        format!("{:.1}", ms(snap)),
        format!("plain write+fsync: {:.1}", ms(plain)),
        snap.as_secs_f64() / plain.as_secs_f64(),
        "",
    );

    // Restore to the first guest instruction, against a fresh boot to its first one;
    // medians of 5. Each way of checking the memory file's digests: lazy (the default
    // here: no read-write disk), eager and off; for lazy, also the time until the
    // background check is done.
    let (mut rs, mut bs) = (Vec::new(), Vec::new());
    let (mut eager, mut off, mut checked) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        let t0 = Instant::now();
        let mut r = Vmm::<HostArch>::restore(&path, quiet()).expect("restore");
        rs.push(start_to_first_instruction(&mut r, t0));
        r.verified_memory().expect("the lazy check");
        checked.push(t0.elapsed());
        drop(r);
        for (verify, times) in [(Verify::Eager, &mut eager), (Verify::Off, &mut off)] {
            times.push(timed_restore(&path, verify));
        }
        bs.push(timed_boot(pio, mib));
    }
    let boot = median(bs);
    for (what, times, goal) in [
        ("", rs, if mib == 256 { "< 5 ms" } else { "" }),
        (" (--verify eager)", eager, ""),
        (" (--verify off)", off, ""),
    ] {
        let restore = median(times);
        row(
            &format!("restore to first instruction{what}, {tag}, ms"),
            format!("{:.2}", ms(restore)),
            format!("fresh boot: {:.2}", ms(boot)),
            restore.as_secs_f64() / boot.as_secs_f64(),
            goal,
        );
    }
    let checked = median(checked);
    row(
        &format!("lazy check done after restore, {tag}, ms"),
        format!("{:.1}", ms(checked)),
        format!("fresh boot: {:.2}", ms(boot)),
        checked.as_secs_f64() / boot.as_secs_f64(),
        "",
    );
}

/// A restore of `path` with `verify`, timed to its first guest instruction.
fn timed_restore(path: &std::path::Path, verify: Verify) -> Duration {
    let t0 = Instant::now();
    let mut r = Vmm::<HostArch>::restore_with(path, quiet(), Some(verify)).expect("restore");
    start_to_first_instruction(&mut r, t0)
}

/// A fresh boot of `pio` with `mib` MiB and 1 vCPU, timed to its first guest instruction.
fn timed_boot(pio: &'static Guest, mib: u64) -> Duration {
    let t0 = Instant::now();
    let mut fresh = Vmm::<HostArch>::new(pio.config(1, mib), quiet()).expect("boot");
    start_to_first_instruction(&mut fresh, t0)
}

/// Restore to the first instruction of idle workload snapshots of each size (the guest touched
/// all its RAM below 3 GiB), medians of 5, against a fresh boot of the same size and against the
/// 256 MiB restore of the same run: the issue-19 goal is a restore time independent of RAM size.
fn restore_scaling(g: &'static Guest, pio: &'static Guest) {
    println!("restore scaling: idle workload snapshots, medians of 5; --verify off and lazy (the default)");
    let mut first: Option<f64> = None;
    for mib in [256u64, 1024, 4096, 16384] {
        let dir = Scratch::new(&format!("bench-scaling-{mib}"));
        let path = dir.0.join("vm.snap");
        let mut src = workload(g, mib, false);
        let st = src.vmm.snapshot(&path).expect("snapshot");
        drop(src);
        let (mut off, mut lazy, mut bs) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..5 {
            for (verify, times) in [(Verify::Off, &mut off), (Verify::Lazy, &mut lazy)] {
                times.push(timed_restore(&path, verify));
            }
            bs.push(timed_boot(pio, mib));
        }
        let (off, lazy, boot) = (ms(median(off)), ms(median(lazy)), ms(median(bs)));
        let base = *first.get_or_insert(off);
        row(
            &format!(
                "restore, {mib} MiB ({} MiB file), --verify off, ms",
                st.memory_bytes >> 20
            ),
            format!("{off:.2}"),
            format!("fresh boot: {boot:.2}"),
            off / boot,
            &format!(
                "{:.2}x the 256 MiB restore (goal: within 1.10x)",
                off / base
            ),
        );
        row(
            &format!("restore, {mib} MiB, lazy check, ms"),
            format!("{lazy:.2}"),
            format!("fresh boot: {boot:.2}"),
            lazy / boot,
            "",
        );
    }
}

pub fn main() {
    if let Some(why) = integration_tests::harness::kvm_unavailable() {
        println!("skipped: {why}");
        return;
    }
    // `cargo bench --bench state -- migration`: the migration rows only; `-- scaling`: the
    // restore scaling rows only.
    let only_migration = std::env::args().skip(1).any(|a| a == "migration");
    let only_scaling = std::env::args().skip(1).any(|a| a == "scaling");
    let g = guests::get("workload").expect("the workload guest");
    let pio = guests::get("pio_bench").expect("the pio_bench guest");
    println!("tetra state benchmark: snapshots once each, migrations medians of 3, the rest medians of 5; ratio = tetra / baseline");
    println!(
        "{:<46} {:>12} {:>28} {:>9}  goal",
        "metric", "tetra", "baseline", "ratio"
    );
    if only_scaling {
        restore_scaling(g, pio);
        return;
    }
    for mib in [256u64, 1024] {
        for dirty in [false, true] {
            let mode = if dirty { "dirtying" } else { "idle" };
            let tag = format!("{mib} MiB {mode}");
            let dir = Scratch::new(&format!("bench-{mib}-{mode}"));
            if !only_migration {
                let mut src = workload(g, mib, dirty);
                dirty_log_snapshot_restore(g, pio, &mut src, &dir, mib, dirty, &tag);
            }

            migration_rows(g, &dir, mib, dirty, &tag);
        }
    }
    if !only_migration {
        restore_scaling(g, pio);
    }
}
