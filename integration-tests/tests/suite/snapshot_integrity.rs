//! A snapshot's memory file is checked (issue 17, defect 4): a flipped bit anywhere in guest RAM
//! (a page the guest touched, a hole, the first and last byte) is refused by name before the guest
//! runs (eager) or stops the VM by name while it runs (lazy), and a restored VM whose memory failed
//! its check is never saved again; a memory file of another snapshot (its nonce) or of the wrong
//! size is refused by name, in every mode, before it is mapped. In process and through `tetra run
//! --restore [--verify eager|lazy|off]`.

use integration_tests::guests::{self, Guest};
use integration_tests::harness::{check, Suite};
use integration_tests::process::tetra;
use integration_tests::run::{chain, Scratch, TestVm};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use tetra_host::HostArch;
use vmm_core::console::ConsoleSink;
use vmm_core::snapshot::Verify;
use vmm_core::{Arch, GuestExit, Vmm, VmmOptions};

/// Guest RAM of the snapshots here, MiB.
const MIB: u64 = 16;

fn quiet() -> VmmOptions {
    VmmOptions {
        console: ConsoleSink::Null,
        stdin: false,
        ..VmmOptions::default()
    }
}

/// The counter guest snapshotted at tick 3 into `dir/name`; returns the state file and its
/// memory file.
fn snapshot(g: &'static Guest, dir: &Path, name: &str) -> Result<(PathBuf, PathBuf), String> {
    let path = dir.join(name);
    let mut a = TestVm::<HostArch>::new(g.config(1, MIB))?;
    a.vmm.start().map_err(|e| chain(&e))?;
    a.wait_for("tick 3\n")?;
    a.vmm.snapshot(&path).map_err(|e| chain(&e))?;
    let mem = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with(&format!("{name}.mem-")))
        })
        .ok_or("no memory file")?;
    Ok((path, mem))
}

/// Flips bit 3 of the byte at `at` in `file`.
fn flip(file: &Path, at: u64) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x08], at).unwrap();
}

/// Where this arch's guest RAM starts (x86: 0; arm64: 1 GiB): the counter guest's RAM is one
/// region there, laid at file offset 0 of the memory file.
fn ram_base(g: &Guest) -> u64 {
    let layout = HostArch::layout(&g.config(1, MIB)).expect("the counter guest's layout");
    // The trait's method: BookE's layout has an inherent ram_regions of another type.
    vmm_core::MachineLayout::ram_regions(&layout)[0].0 .0
}

/// The guest range a mismatch names for a flip at file offset `at` (2 MiB chunks).
fn chunk_of(g: &Guest, at: u64) -> String {
    let start = ram_base(g) + (at & !((2 << 20) - 1));
    format!("guest {start:#x}..{:#x}", start + (2 << 20))
}

/// File offsets to flip: the counter's own word (a page the guest touched and keeps writing),
/// the first and last bytes of RAM, and the middle (holes of the sparse file, most likely).
fn positions(g: &Guest) -> Vec<u64> {
    vec![
        g.count_addr().unwrap() - ram_base(g),
        0,
        (MIB << 20) / 2 + 12345,
        (MIB << 20) - 1,
    ]
}

pub fn register(s: &mut Suite) {
    let Some(g) = guests::get("counter") else {
        return;
    };
    if HostArch::SNAPSHOT_MAGIC.is_none() || g.count_addr().is_none() {
        s.skip(
            "snapshot_integrity::*",
            "kvm",
            "this arch cannot snapshot a raw counter guest yet",
        );
        return;
    }

    s.kvm(
        "snapshot_integrity::a_flipped_bit_is_refused_by_name_before_the_guest_runs",
        move || {
            let dir = Scratch::new("integrity-eager");
            let (path, mem) = snapshot(g, &dir.0, "vm.snap")?;
            let mem_name = mem.file_name().unwrap().to_string_lossy().into_owned();
            for at in positions(g) {
                flip(&mem, at);
                let e = Vmm::<HostArch>::restore_with(&path, quiet(), Some(Verify::Eager))
                    .err()
                    .ok_or_else(|| format!("restored with bit 3 of byte {at:#x} flipped"))?;
                let e = chain(&e);
                eprintln!("eager, flip at {at:#x}: {e}");
                check(
                    e.contains(&mem_name)
                        && e.contains("do not match their digest")
                        && e.contains(&chunk_of(g, at)),
                    || format!("flip at {at:#x}: {e}"),
                )?;
                flip(&mem, at);
            }
            // Every position of a sweep across RAM (the campaign's 81 flips).
            for i in 0..81u64 {
                let at = i * ((MIB << 20) / 81) + i * 13;
                flip(&mem, at);
                let r = Vmm::<HostArch>::restore_with(&path, quiet(), Some(Verify::Eager));
                flip(&mem, at);
                check(r.is_err(), || format!("flip {i} at {at:#x} accepted"))?;
            }
            // Flipped back, it restores and runs to its end.
            let mut b = Vmm::<HostArch>::restore_with(&path, quiet(), Some(Verify::Eager))
                .map_err(|e| chain(&e))?;
            let end = b
                .run(Some(integration_tests::run::timeout()))
                .map_err(|e| chain(&e))?;
            check(end == Some(GuestExit::DebugExit(0x10)), || {
                format!("{end:?}")
            })
        },
    );

    s.kvm(
        "snapshot_integrity::a_flipped_bit_stops_a_lazily_verified_vm_by_name",
        move || {
            let dir = Scratch::new("integrity-lazy");
            let (path, mem) = snapshot(g, &dir.0, "vm.snap")?;
            let mem_name = mem.file_name().unwrap().to_string_lossy().into_owned();
            for at in positions(g) {
                flip(&mem, at);
                // The default for this VM (no read-write disk) is lazy: the restore succeeds.
                let mut b = Vmm::<HostArch>::restore(&path, quiet()).map_err(|e| chain(&e))?;
                let end = b
                    .run(Some(integration_tests::run::timeout()))
                    .map_err(|e| chain(&e))?;
                let why = match end {
                    Some(GuestExit::CorruptMemory(why)) => why,
                    // The guest may have ended first; the check still fails, by name.
                    other => match b.verified_memory() {
                        Err(e) => format!("{other:?}: {}", chain(&e)),
                        Ok(_) => return Err(format!("flip at {at:#x}: {other:?}, check passed")),
                    },
                };
                eprintln!("lazy, flip at {at:#x}: {why}");
                check(
                    why.contains(&mem_name)
                        && why.contains("do not match their digest")
                        && why.contains(&chunk_of(g, at)),
                    || format!("flip at {at:#x}: {why}"),
                )?;
                // Memory that failed its check is not saved again under a fresh digest.
                let e = b
                    .snapshot(&dir.0.join("again.snap"))
                    .err()
                    .ok_or("snapshotted a VM whose memory failed its check")?;
                check(chain(&e).contains("do not match their digest"), || {
                    chain(&e)
                })?;
                drop(b);
                flip(&mem, at);
            }
            // Intact, the lazy check passes and the VM can be saved again.
            let mut b = Vmm::<HostArch>::restore(&path, quiet()).map_err(|e| chain(&e))?;
            let stats = b.verified_memory().map_err(|e| chain(&e))?;
            check(stats.is_some_and(|s| s.chunks == MIB / 2), || {
                format!("{stats:?}")
            })?;
            b.snapshot(&dir.0.join("again.snap"))
                .map_err(|e| chain(&e))?;
            Ok(())
        },
    );

    s.kvm(
        "snapshot_integrity::another_snapshots_or_a_resized_memory_file_is_refused_before_mapping",
        move || {
            let dir = Scratch::new("integrity-binding");
            let (path, mem) = snapshot(g, &dir.0, "vm.snap")?;
            let (_, other) = snapshot(g, &dir.0, "other.snap")?;
            let good = dir.0.join("good.mem");
            std::fs::copy(&mem, &good).map_err(|e| e.to_string())?;
            let refused = |words: &[&str]| -> Result<(), String> {
                for verify in [Verify::Eager, Verify::Lazy, Verify::Off] {
                    let e = Vmm::<HostArch>::restore_with(&path, quiet(), Some(verify))
                        .err()
                        .ok_or_else(|| format!("restored ({verify})"))?;
                    let e = chain(&e);
                    eprintln!("{verify}: {e}");
                    check(words.iter().all(|w| e.contains(w)), || {
                        format!("{verify}: {words:?} not all in {e}")
                    })?;
                }
                Ok(())
            };
            // Another snapshot's memory file under this one's name: same size, other nonce.
            std::fs::copy(&other, &mem).map_err(|e| e.to_string())?;
            refused(&["of another snapshot", "its trailer's nonce is"])?;
            std::fs::copy(&good, &mem).map_err(|e| e.to_string())?;
            let len = std::fs::metadata(&mem).unwrap().len();
            let f = std::fs::OpenOptions::new().write(true).open(&mem).unwrap();
            for wrong in [len - 1, len + 4096, len / 2, 0] {
                f.set_len(wrong).unwrap();
                refused(&[
                    &format!("{wrong} bytes where"),
                    &format!("MEMS section says {len}"),
                ])?;
            }
            std::fs::copy(&good, &mem).map_err(|e| e.to_string())?;
            Vmm::<HostArch>::restore_with(&path, quiet(), Some(Verify::Off))
                .map(drop)
                .map_err(|e| chain(&e))
        },
    );

    s.kvm(
        "snapshot_integrity::tetra_run_restore_refuses_or_stops_on_a_flipped_bit",
        move || {
            let dir = Scratch::new("integrity-cli");
            let (path, mem) = snapshot(g, &dir.0, "vm.snap")?;
            let p = path.display().to_string();
            let mem_name = mem.file_name().unwrap().to_string_lossy().into_owned();
            let at = g.count_addr().unwrap() - ram_base(g);
            flip(&mem, at);
            for verify in [None, Some("lazy"), Some("eager")] {
                let mut args = vec!["run", "--restore", &p];
                args.extend(verify.iter().flat_map(|v| ["--verify", v]));
                let (st, out, err) = tetra(&args)?;
                eprint!("{args:?}: {st}: {err}");
                check(
                    st.code() == Some(2)
                        && err.lines().count() == 1
                        && err.contains(&mem_name)
                        && err.contains("do not match their digest"),
                    || format!("{verify:?}: {st}: {err:?}"),
                )?;
                if verify == Some("eager") {
                    // The guest never ran.
                    check(out.is_empty() && !err.contains("lazy"), || {
                        format!("{out:?} {err:?}")
                    })?;
                } else {
                    check(err.contains("lazy verification"), || err.clone())?;
                }
            }
            // Off: the guest runs on its altered memory, as asked.
            let (st, _, err) = tetra(&["run", "--restore", &p, "--verify", "off"])?;
            check(st.code() == Some((0x10 << 1) | 1), || {
                format!("{st}: {err}")
            })?;
            flip(&mem, at);
            let (st, _, err) = tetra(&["run", "--restore", &p, "--verify", "eager"])?;
            check(st.code() == Some((0x10 << 1) | 1), || {
                format!("{st}: {err}")
            })
        },
    );
}
