//! The body of the vmm benchmark (see `main.rs`): x86_64 only, as its baseline is.

#[path = "minimal.rs"]
mod minimal;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

const SPAWN_RUNS: usize = 30;
const PIO_RUNS: usize = 9;
const SCALING_RUNS: usize = 11;

/// The scaling table's machines: (MiB, vCPUs).
const SCALING: [(u64, u32); 7] = [
    (256, 1),
    (1024, 1),
    (4096, 1),
    (16384, 1),
    (256, 2),
    (256, 4),
    (256, 8),
];

/// The tetra binary measured: `TETRA_BENCH_BIN` when set (a static build, README "Building"),
/// else the one cargo built for this bench.
fn tetra_bin() -> PathBuf {
    std::env::var_os("TETRA_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_tetra")))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// One spawn: (ms to first stdout byte, ms to exit, stderr).
fn spawn_timed(mut cmd: Command) -> (Option<f64>, f64, String) {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = child.stdout.take().unwrap();
    let mut b = [0u8; 1];
    let first = match out.read(&mut b) {
        Ok(1) => Some(start.elapsed().as_secs_f64() * 1e3),
        _ => None,
    };
    let mut rest = Vec::new();
    let _ = out.read_to_end(&mut rest);
    let mut err = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    let status = child.wait().expect("wait");
    let ms = start.elapsed().as_secs_f64() * 1e3;
    assert!(status.success(), "{status}: {err}");
    (first, ms, err)
}

/// Medians over `runs` interleaved spawns of each command: (first byte, exit, last stderr) per
/// command.
fn spawn_interleaved(
    cmds: &[&dyn Fn() -> Command],
    runs: usize,
) -> Vec<(Option<f64>, f64, String)> {
    let mut samples: Vec<(Vec<f64>, Vec<f64>, String)> = vec![Default::default(); cmds.len()];
    for _ in 0..runs {
        for (i, mk) in cmds.iter().enumerate() {
            let (f, e, err) = spawn_timed(mk());
            if let Some(f) = f {
                samples[i].0.push(f);
            }
            samples[i].1.push(e);
            samples[i].2 = err;
        }
    }
    samples
        .into_iter()
        .map(|(f, e, err)| ((!f.is_empty()).then(|| median(f)), median(e), err))
        .collect()
}

/// Builds `minimal.c` statically (`cc -O2 -static`) into `dir`, with the real-mode guest beside
/// it; `Err` says why not (no C compiler or static libc).
fn build_static(dir: &std::path::Path) -> Result<(PathBuf, PathBuf, u64), String> {
    let g = integration_tests::guests::get("realmode").ok_or("no realmode guest")?;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let src = dir.join("minimal.c");
    let bin = dir.join("minimal-static");
    let image = dir.join("realmode.bin");
    std::fs::write(&src, include_str!("minimal.c")).map_err(|e| e.to_string())?;
    std::fs::write(&image, g.image).map_err(|e| e.to_string())?;
    let out = Command::new("cc")
        .args(["-O2", "-static", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .map_err(|e| format!("cc: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cc -static failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok((
        bin,
        image,
        g.raw().ok_or("the realmode guest is not raw")?.addr,
    ))
}

/// "beyond guest RAM N KiB" from a `--stats` line.
fn beyond_kib(stderr: &str) -> f64 {
    let w: Vec<&str> = stderr.split_whitespace().collect();
    let i = w
        .iter()
        .position(|x| *x == "beyond")
        .expect("a --stats line");
    w[i + 3].parse().expect("a number")
}

/// "peak RSS N KiB" from a `--stats` line.
fn peak_kib(stderr: &str) -> f64 {
    let w: Vec<&str> = stderr.split_whitespace().collect();
    let i = w.iter().position(|x| *x == "peak").expect("a --stats line");
    w[i + 2].parse().expect("a number")
}

/// Start-up and peak RSS of the embedded guest at each of [`SCALING`]'s sizes, each spawn
/// interleaved with one of `base` (the static C loop, or the minimal loop: one vCPU and a few
/// pages of RAM whatever the size, so the ratio is what tetra's size costs on top of a VMM's
/// floor).
///
/// With `shaped` (the static C loop given the row's RAM and vCPUs), a third spawn in each round
/// and two more columns: its first byte, and tetra's against it, which leaves out what KVM
/// charges for the machine's size (a memory slot's metadata, each vCPU's creation and CPUID).
fn scaling(
    base: &dyn Fn() -> Command,
    base_name: &str,
    shaped: Option<&dyn Fn(u64, u32) -> Command>,
) {
    println!(
        "scaling (medians of {SCALING_RUNS} interleaved spawns each; baseline: the {base_name}, run beside each row{})",
        if shaped.is_some() {
            "; same shape: the static C loop with the row's RAM and vCPUs"
        } else {
            ""
        }
    );
    println!(
        "{:<16} {:>12} {:>12} {:>7} {:>14} {:>14} {:>7} {:>12} {:>7}",
        "RAM, vCPUs",
        "first byte",
        "baseline",
        "ratio",
        "peak RSS MiB",
        "baseline",
        "ratio",
        "same shape",
        "ratio"
    );
    for (mib, cpus) in SCALING {
        let t = move || {
            let mut c = Command::new(tetra_bin());
            c.args(["run", "--stats", "--mem", &mib.to_string()]);
            c.args(["--cpus", &cpus.to_string()]);
            c
        };
        let shape = move || shaped.map(|f| f(mib, cpus)).expect("a same-shape loop");
        let mut cmds: Vec<&dyn Fn() -> Command> = vec![&t, base];
        if shaped.is_some() {
            cmds.push(&shape);
        }
        let r = spawn_interleaved(&cmds, SCALING_RUNS);
        let (tf, bf) = (
            r[0].0.expect("tetra printed nothing"),
            r[1].0.expect("the baseline printed nothing"),
        );
        let (tp, bp) = (peak_kib(&r[0].2) / 1024.0, peak_kib(&r[1].2) / 1024.0);
        let same = match r.get(2) {
            Some(s) => {
                let sf = s.0.expect("the same-shape loop printed nothing");
                format!("{sf:>12.2} {:>6.2}x", tf / sf)
            }
            None => format!("{:>12} {:>7}", "-", "-"),
        };
        println!(
            "{:<16} {:>12.2} {:>12.2} {:>6.2}x {:>14.2} {:>14.2} {:>6.2}x {same}",
            format!("{mib} MiB, {cpus}"),
            tf,
            bf,
            tf / bf,
            tp,
            bp,
            tp / bp
        );
    }
}

fn row(what: &str, tetra: impl std::fmt::Display, base: impl std::fmt::Display, ratio: f64) {
    println!("{what:<40} {tetra:>10} {base:>26} {ratio:>7.2}x");
}

/// Runs the benchmark, or (with `--minimal-child`) the minimal loop's child process.
pub fn main() {
    if std::env::args().nth(1).as_deref() == Some("--minimal-child") {
        minimal::child_main(std::env::args().nth(2).as_deref() == Some("pit"));
        return;
    }
    if let Some(why) = integration_tests::harness::kvm_unavailable() {
        println!("skipped: {why}");
        return;
    }
    let me = std::env::current_exe().unwrap();
    let tetra = || {
        let mut c = Command::new(tetra_bin());
        c.args(["run", "--stats"]);
        c
    };
    // The embedded guest has no PIT (`--pit auto`); with `--pit on` it has one.
    let tetra_pit = || {
        let mut c = tetra();
        c.args(["--pit", "on"]);
        c
    };
    let tru = || Command::new("true");
    let min = || {
        let mut c = Command::new(&me);
        c.arg("--minimal-child");
        c
    };
    let min_pit = || {
        let mut c = min();
        c.arg("pit");
        c
    };
    println!(
        "tetra benchmark: medians of {SPAWN_RUNS} interleaved spawns and {PIO_RUNS} PIO runs; ratio = tetra / baseline"
    );
    println!("tetra binary: {}", tetra_bin().display());
    println!(
        "{:<40} {:>10} {:>26} {:>8}",
        "metric", "tetra", "baseline", "ratio"
    );
    // The same loop in C, linked statically: no Rust runtime, no dynamic loader.
    let dir = std::env::temp_dir().join(format!("tetra-vmm-bench-{}", std::process::id()));
    let built = build_static(&dir);
    let stat = |pit: &'static str| {
        let built = built.as_ref().ok().cloned();
        move || {
            let (bin, image, addr) = built.clone().expect("built");
            let mut c = Command::new(bin);
            c.arg(image).arg(format!("{addr:#x}")).arg(pit);
            c
        }
    };
    let (st, st_pit) = (stat("nopit"), stat("pit"));
    let mut cmds: Vec<&dyn Fn() -> Command> = vec![&tetra, &tru, &min, &tetra_pit, &min_pit];
    if built.is_ok() {
        cmds.extend([&st as &dyn Fn() -> Command, &st_pit]);
    }
    let r = spawn_interleaved(&cmds, SPAWN_RUNS);
    let (t, tr, m, tp, mp) = (&r[0], &r[1], &r[2], &r[3], &r[4]);
    let statics = r.get(5).zip(r.get(6));
    if let Err(why) = &built {
        println!("(no static minimal loop: {why})");
    }
    let tf = t.0.expect("tetra printed nothing");
    let mf = m.0.expect("the minimal loop printed nothing");
    row(
        "(a) spawn -> first serial byte, ms",
        format!("{tf:.2}"),
        format!("true exits: {:.2}", tr.1),
        tf / tr.1,
    );
    row("", "", format!("minimal loop: {mf:.2}"), tf / mf);
    if let Some((s, _)) = statics {
        let sf = s.0.expect("the static minimal loop printed nothing");
        row("", "", format!("static C loop: {sf:.2}"), tf / sf);
    }
    row(
        "(a) spawn -> exit, ms",
        format!("{:.2}", t.1),
        format!("true: {:.2}", tr.1),
        t.1 / tr.1,
    );
    row("", "", format!("minimal loop: {:.2}", m.1), t.1 / m.1);
    if let Some((s, _)) = statics {
        row("", "", format!("static C loop: {:.2}", s.1), t.1 / s.1);
    }
    row(
        "(a) spawn -> exit with a PIT, ms",
        format!("{:.2}", tp.1),
        format!("minimal loop + PIT: {:.2}", mp.1),
        tp.1 / mp.1,
    );
    if let Some((_, sp)) = statics {
        row(
            "",
            "",
            format!("static C loop + PIT: {:.2}", sp.1),
            tp.1 / sp.1,
        );
    }

    let (tp, mp) = minimal::pio_cycles(PIO_RUNS);
    row(
        "(b) TSC cycles per userspace PIO exit",
        format!("{tp:.0}"),
        format!("minimal loop: {mp:.0}"),
        tp / mp,
    );

    let (tb, mb) = (beyond_kib(&t.2), beyond_kib(&m.2));
    row(
        "(c) peak RSS beyond guest RAM, MiB",
        format!("{:.2}", tb / 1024.0),
        format!("minimal loop: {:.2}", mb / 1024.0),
        tb / mb,
    );
    if let Some((s, _)) = statics {
        let sb = beyond_kib(&s.2);
        row(
            "",
            "",
            format!("static C loop: {:.2}", sb / 1024.0),
            tb / sb,
        );
    }
    println!("goals: exec -> first guest instruction < 5 ms; RSS beyond guest RAM < 3 MiB; PIO exit within 5% of the minimal loop");
    let shaped = |mib: u64, cpus: u32| {
        let mut c = st();
        c.arg(mib.to_string()).arg(cpus.to_string());
        c
    };
    match statics {
        Some(_) => scaling(&st, "static C loop", Some(&shaped)),
        None => scaling(&min, "minimal loop", None),
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("issue-19 goals: first byte <= 1.15x the static C loop at 1 vCPU, <= 1.3x at 8; peak RSS <= 2.0 MiB at 256 MiB, 1 vCPU");
}
