//! LPIs through the GICv3 ITS (a guest named `lpi`, issue 12): the guest maps a device, two
//! collections on vCPUs 1 and 2 and two events through ITS commands (MAPD, MAPC, MAPTI), raises
//! them with INT, leaves one LPI pending on a vCPU whose IRQs are masked, and waits for a key.
//! Whatever happens to the VM meanwhile (nothing; a snapshot restored in a new process; a live
//! migration between processes), after the key the pending LPI must arrive exactly once, and new
//! INTs for the same device and events must reach the same vCPUs.

use integration_tests::guests::{self, Guest};
use integration_tests::harness::{check, Suite};
use integration_tests::process::{tetra, wait_for_path, Tetra};
use integration_tests::run::Scratch;
use std::path::Path;
use tetra_host::HostArch;
use vmm_core::Arch;

/// The guest's end: every count exact.
const DONE: &str = "lpi: cpu 1 8192 x2, cpu 2 8193 x3\n";
/// Its exit status through the debug-exit device: 0x50.
const STATUS: i32 = (0x50 << 1) | 1;

/// `tetra run` of the LPI guest (3 vCPUs, 32 MiB, an ITS) with `extra` arguments, once it waits
/// for its key with an LPI pending on vCPU 2.
fn start(g: &Guest, dir: &Path, extra: &[&str]) -> Result<Tetra, String> {
    let kernel = g.write_to(dir).display().to_string();
    let raw = g
        .boot
        .strip_prefix("raw:")
        .ok_or("the lpi guest boots raw")?;
    let mut args = vec![
        "run",
        "--kernel",
        &kernel,
        "--raw",
        raw,
        "--cpus",
        "3",
        "--mem",
        "32",
        "--irqchip",
        "gicv3-its",
    ];
    args.extend_from_slice(extra);
    let mut t = Tetra::spawn_with_stdin(&args)?;
    t.wait_for("lpi: waiting for input\n", false)
        .map_err(|e| format!("{e}\nstdout:\n{}\nstderr:\n{}", t.stdout(), t.stderr()))?;
    let out = t.stdout();
    check(
        out.contains("lpi: 8192 on cpu 1, 8193 on cpu 2\n")
            && out.contains("lpi: 8193 pending on cpu 2\n"),
        || out.clone(),
    )?;
    Ok(t)
}

/// Types the key into `t` once its guest runs (it says it still waits) and checks that the
/// guest ends with every count exact.
fn resume_and_finish(mut t: Tetra) -> Result<(), String> {
    t.wait_for("lpi: still waiting\n", false)
        .map_err(|e| format!("{e}\nstdout:\n{}\nstderr:\n{}", t.stdout(), t.stderr()))?;
    t.type_in(b"g")?;
    let (st, out, err) = t.wait()?;
    check(st.code() == Some(STATUS), || {
        format!("ended {st}\nstdout:\n{out}\nstderr:\n{err}")
    })?;
    check(
        out.contains("lpi: the pending 8193 arrived on cpu 2\n") && out.contains(DONE),
        || out.clone(),
    )
}

pub fn register(s: &mut Suite) {
    let Some(g) = guests::get("lpi") else {
        return;
    };

    s.kvm(
        "its::lpis_reach_the_vcpus_of_their_collections",
        move || {
            let dir = Scratch::new("its-plain");
            let t = start(g, &dir.0, &[])?;
            resume_and_finish(t)
        },
    );

    if HostArch::SNAPSHOT_MAGIC.is_none() {
        s.skip(
            "its::lpis_survive_*",
            "kvm",
            "this arch cannot snapshot yet",
        );
        return;
    }

    s.kvm("its::lpis_survive_a_restore_in_a_new_process", move || {
        let dir = Scratch::new("its-snap");
        let api = dir.0.join("api.sock").display().to_string();
        let snap = dir.0.join("vm.snap").display().to_string();
        let mut first = start(g, &dir.0, &["--api", &api])?;
        for cmd in [&["pause"][..], &["snapshot", &snap]] {
            let mut a = vec!["ctl", "--api", &api];
            a.extend_from_slice(cmd);
            let (st, out, err) = tetra(&a)?;
            check(st.success(), || format!("{cmd:?}: {st} {out} {err}"))?;
        }
        first.kill();
        let second = Tetra::spawn_with_stdin(&["run", "--restore", &snap])?;
        resume_and_finish(second)
    });

    s.kvm("its::lpis_survive_a_live_migration", move || {
        let dir = Scratch::new("its-mig");
        let sock = dir.0.join("mig.sock");
        let to = format!("unix:{}", sock.display());
        let dest = Tetra::spawn_with_stdin(&["run", "--incoming", &to])?;
        wait_for_path(&sock)?;
        let api = dir.0.join("api.sock").display().to_string();
        let src = start(g, &dir.0, &["--api", &api])?;
        let (st, out, err) = tetra(&["migrate", "--api", &api, "--to", &to])?;
        check(st.success() && out.contains("migrated to"), || {
            format!("migrate: {st} {out} {err}")
        })?;
        let (sst, _, serr) = src.wait()?;
        check(sst.code() == Some(0), || {
            format!("source ended {sst}: {serr}")
        })?;
        resume_and_finish(dest)
    });
}
