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

/// Where lpi.S puts its tables (RAM starts at `RAM_BASE` on arm64).
const RAM_BASE: u64 = 0x4000_0000;
const DEVICE_TABLE: u64 = 0x4104_0000;
const COLL_TABLE: u64 = 0x4105_0000;
const ITT: u64 = 0x4106_0000;

/// A table entry to corrupt: the case's name, the entry's guest address, the change, and what
/// the refusal must say.
type Corruption = (&'static str, u64, fn(u64) -> u64, &'static str);

/// Starts the LPI guest with a control socket in `dir`, snapshots it to `dir/vm.snap` while it
/// waits for its key with an LPI pending, and kills it.
fn snapshot_waiting_guest(g: &Guest, dir: &Path) -> Result<std::path::PathBuf, String> {
    let api = dir.join("api.sock").display().to_string();
    let snap = dir.join("vm.snap");
    let s = snap.display().to_string();
    let mut first = start(g, dir, &["--api", &api])?;
    for cmd in [&["pause"][..], &["snapshot", &s]] {
        let mut a = vec!["ctl", "--api", &api];
        a.extend_from_slice(cmd);
        let (st, out, err) = tetra(&a)?;
        check(st.success(), || format!("{cmd:?}: {st} {out} {err}"))?;
    }
    first.kill();
    Ok(snap)
}

/// Rewrites the little-endian u64 at `offset` of `file` with `f` of it.
fn patch(file: &Path, offset: u64, f: fn(u64) -> u64) -> Result<(), String> {
    use std::os::unix::fs::FileExt;
    let fd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .map_err(|e| e.to_string())?;
    let mut b = [0u8; 8];
    fd.read_exact_at(&mut b, offset)
        .map_err(|e| e.to_string())?;
    let v = u64::from_le_bytes(b);
    check(v != 0, || {
        format!("no table entry at file offset {offset:#x}")
    })?;
    fd.write_all_at(&f(v).to_le_bytes(), offset)
        .map_err(|e| e.to_string())
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
        let snap = snapshot_waiting_guest(g, &dir.0)?.display().to_string();
        let second = Tetra::spawn_with_stdin(&["run", "--restore", &snap])?;
        resume_and_finish(second)
    });

    s.kvm(
        "its::a_corrupt_its_table_entry_is_refused_by_name",
        move || {
            let dir = Scratch::new("its-corrupt");
            let snap = snapshot_waiting_guest(g, &dir.0)?;
            let (st, json, err) = tetra(&["inspect", "its", &snap.display().to_string()])?;
            check(st.success(), || format!("inspect its: {st} {err}"))?;
            let doc: serde_json::Value =
                serde_json::from_str(&json).map_err(|e| format!("{e}:\n{json}"))?;
            let tables = &doc["tables"];
            let empty = Vec::new();
            let colls = tables["collections"].as_array().unwrap_or(&empty);
            let events: Vec<&serde_json::Value> = tables["devices"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .flat_map(|d| d["events"].as_array().unwrap_or(&empty))
                .collect();
            // lpi.S: collections 1 and 2 on vCPUs 1 and 2, events 0 and 1 as LPIs 8192 and 8193.
            for (id, vcpu) in [(1, 1), (2, 2)] {
                check(
                    colls
                        .iter()
                        .any(|c| c["id"] == id && c["target_vcpu"] == vcpu),
                    || format!("collection {id} on vCPU {vcpu} missing from:\n{json}"),
                )?;
            }
            for (event, lpi, coll) in [(0, 8192, 1), (1, 8193, 2)] {
                check(
                    events
                        .iter()
                        .any(|e| e["event"] == event && e["lpi"] == lpi && e["collection"] == coll),
                    || {
                        format!(
                            "event {event} (LPI {lpi}, collection {coll}) missing from:\n{json}"
                        )
                    },
                )?;
            }
            check(
                tables["problems"].as_array().is_some_and(Vec::is_empty),
                || format!("the saved tables have problems:\n{json}"),
            )?;
            // One entry of each table kind, corrupted in a copy of the snapshot's memory file (the
            // guest's tables: lpi.S), must be refused by name and shown by inspect its.
            let cases: [Corruption; 3] = [
                (
                    "dte",
                    DEVICE_TABLE + 8,
                    |raw| raw | 0x1f,
                    "ITS device table entry 0x1 at 0x41040008",
                ),
                (
                    "cte",
                    COLL_TABLE,
                    |raw| (raw & !(0xffff_ffff << 16)) | (7 << 16),
                    "ITS collection table entry 0x0 at 0x41050000",
                ),
                (
                    "ite",
                    ITT + 8,
                    |raw| (raw & !(0xffff_ffff << 16)) | (100 << 16),
                    "ITS ITT of device 0x1 entry 0x1 at 0x41060008",
                ),
            ];
            for (name, addr, corrupt, want) in cases {
                let copy = dir.0.join(name);
                std::fs::create_dir_all(&copy).map_err(|e| e.to_string())?;
                let mut mem = None;
                for f in std::fs::read_dir(&dir.0)
                    .map_err(|e| e.to_string())?
                    .flatten()
                {
                    let n = f.file_name().to_string_lossy().into_owned();
                    if n.starts_with("vm.snap") {
                        std::fs::copy(f.path(), copy.join(&n)).map_err(|e| e.to_string())?;
                        if n.starts_with("vm.snap.mem-") {
                            mem = Some(copy.join(&n));
                        }
                    }
                }
                let mem = mem.ok_or("no memory file beside the snapshot")?;
                patch(&mem, addr - RAM_BASE, corrupt)?;
                let p = copy.join("vm.snap").display().to_string();
                let (st, _, err) = tetra(&["run", "--restore", &p])?;
                check(st.code() == Some(2) && err.contains(want), || {
                    format!("{name}: restore ended {st}, stderr lacks {want:?}:\n{err}")
                })?;
                let (st, json, err) = tetra(&["inspect", "its", &p])?;
                check(st.success() && json.contains(want), || {
                    format!("{name}: inspect its {st} {err}, lacks {want:?}:\n{json}")
                })?;
            }
            Ok(())
        },
    );

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
