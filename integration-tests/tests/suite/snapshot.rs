//! Snapshots on real KVM (issue 5): a counting guest is snapshotted mid-run and restored; it goes
//! on exactly where it stopped, with identical memory. A snapshot stopped at any step leaves the
//! previous one intact; corrupt or truncated files give clear errors.

use integration_tests::guests;
use integration_tests::harness::{check, Suite};
use integration_tests::run::{chain, Scratch, TestVm};
use std::path::Path;
use tetra_host::HostArch;
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryRegion};
use vmm_core::config::Pit;
use vmm_core::snapshot::{SnapshotError, Step};
use vmm_core::{Arch, GuestExit, Vmm};

/// CRC-32 of all guest RAM.
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

/// The counter guest's count, in guest memory.
fn count(vmm: &Vmm<HostArch>) -> u32 {
    let at = guests::get("counter")
        .and_then(|g| g.count_addr())
        .expect("the snapshot scenarios run only with a raw counter guest");
    vmm.memory().memory().read_obj(GuestAddress(at)).unwrap()
}

fn every_tick() -> String {
    (1..=40).map(|i| format!("tick {i}\n")).collect()
}

/// A console captured in memory.
type Captured = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;

/// Restores `path` with its console captured.
fn restore(path: &Path) -> Result<(Vmm<HostArch>, Captured), String> {
    Ok(TestVm::<HostArch>::restore(path)?.into_parts())
}

/// Runs a restored counter guest to its end: it must print the ticks after `before` and exit 0x10.
fn goes_on_to_the_end(mut b: Vmm<HostArch>, buf: Captured, before: &str) -> Result<(), String> {
    let end = b
        .run(Some(integration_tests::run::timeout()))
        .map_err(|e| chain(&e))?;
    let after = String::from_utf8_lossy(&buf.lock().unwrap()).into_owned();
    check(end == Some(GuestExit::DebugExit(0x10)), || {
        format!("{end:?}\n{after}")
    })?;
    check(format!("{before}{after}") == every_tick(), || {
        format!("before:\n{before}\nafter:\n{after}")
    })
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The committed snapshots in older formats, for this arch.
fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(HostArch::NAME)
}

/// Where the fixture writers write: `TETRA_WRITE_FIXTURES=1`, this arch's fixture directory in
/// the source tree; `TETRA_WRITE_FIXTURES=DIR` (an absolute path: the emulated-host lanes, which
/// have no source tree), `DIR`.
fn fixtures_out() -> std::path::PathBuf {
    match std::env::var_os("TETRA_WRITE_FIXTURES") {
        Some(d) if Path::new(&d).is_absolute() => d.into(),
        _ => fixtures(),
    }
}

/// Removes the files of `dir` whose names start with `prefix`.
fn remove_prefixed(dir: &Path, prefix: &str) -> Result<(), String> {
    for f in std::fs::read_dir(dir).map_err(|e| e.to_string())?.flatten() {
        if f.file_name().to_string_lossy().starts_with(prefix) {
            std::fs::remove_file(f.path()).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Writes the format-1.0 fixture (`TETRA_WRITE_FIXTURES=1 cargo test -p integration-tests --
/// snapshot::write_format_1_0`): the counter guest at tick 4 in 2 MiB, saved as format 1.0 wrote
/// it, i.e. without the optional NOTE section that 1.1 added.
fn write_fixture_1_0(g: &'static integration_tests::guests::Guest) -> Result<(), String> {
    use vmm_core::snapshot::{sections, sections::TAG_NOTE, Envelope};
    let dir = fixtures_out();
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    remove_prefixed(&dir, "counter-1.0.snap")?;
    let path = dir.join("counter-1.0.snap");
    let mut a = TestVm::<HostArch>::new(g.config(1, 2))?;
    a.vmm.start().map_err(|e| chain(&e))?;
    a.wait_for("tick 4\n")?;
    a.vmm.pause().map_err(|e| chain(&e))?;
    a.vmm.snapshot(&path).map_err(|e| chain(&e))?;
    let mut env = Envelope::decode(&std::fs::read(&path).unwrap(), None).map_err(|e| chain(&e))?;
    env.minor = 0;
    env.sections.retain(|s| s.tag != TAG_NOTE);
    // 1.0's MEMS is version 1, without digests, and its memory file has no trailer.
    let mems = env
        .sections
        .iter_mut()
        .find(|s| s.tag == sections::TAG_MEMS)
        .ok_or("no MEMS")?;
    let mut m = sections::read_mems(mems).map_err(|e| chain(&e))?;
    let data: u64 = m.regions.iter().map(|r| r.size).sum();
    m.integrity = None;
    *mems = sections::mems_section(&m);
    std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join(&m.file))
        .and_then(|f| f.set_len(data))
        .map_err(|e| e.to_string())?;
    std::fs::write(&path, env.encode()).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("counter-1.0.console"), a.console()).map_err(|e| e.to_string())
}

/// Writes a fixture of this tetra's own format, as it is (`TETRA_WRITE_FIXTURES=1 cargo test -p
/// integration-tests -- snapshot::write_current_format`; the arm64 and ppc64 ones come from their
/// lanes, `scripts/write-fixtures`): the counter guest at tick 4 in 8 MiB (every arch's minimum
/// or more), `counter-MAJOR.MINOR.snap`, its memory file in sparse form
/// (`<memory file>.sparse`, [`integration_tests::fixtures::sparse_encode`]) and the console up to
/// the snapshot (`counter-MAJOR.MINOR.console`). A later tetra must restore it
/// (`snapshot::format_MAJOR_MINOR_fixture_still_loads`).
fn write_fixture_current(g: &'static integration_tests::guests::Guest) -> Result<(), String> {
    use vmm_core::snapshot::envelope::{MAJOR, MINOR};
    use vmm_core::snapshot::{sections, Envelope};
    let stem = format!("counter-{MAJOR}.{MINOR}");
    let out = fixtures_out();
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    remove_prefixed(&out, &format!("{stem}."))?;
    let scratch = Scratch::new("snap-fixture-write");
    let path = scratch.0.join(format!("{stem}.snap"));
    let mut a = TestVm::<HostArch>::new(g.config(1, 8))?;
    a.vmm.start().map_err(|e| chain(&e))?;
    a.wait_for("tick 4\n")?;
    a.vmm.pause().map_err(|e| chain(&e))?;
    a.vmm.snapshot(&path).map_err(|e| chain(&e))?;
    let state = std::fs::read(&path).map_err(|e| e.to_string())?;
    let env = Envelope::decode(&state, None).map_err(|e| chain(&e))?;
    let mems = env.section(&sections::TAG_MEMS).ok_or("no MEMS")?;
    let m = sections::read_mems(mems).map_err(|e| chain(&e))?;
    let mem = std::fs::read(scratch.0.join(&m.file)).map_err(|e| e.to_string())?;
    let sparse = integration_tests::fixtures::sparse_encode(&mem, 4096);
    let sparse_name = format!("{}{}", m.file, integration_tests::fixtures::SPARSE_SUFFIX);
    std::fs::write(out.join(format!("{stem}.snap")), &state).map_err(|e| e.to_string())?;
    std::fs::write(out.join(&sparse_name), &sparse).map_err(|e| e.to_string())?;
    std::fs::write(out.join(format!("{stem}.console")), a.console()).map_err(|e| e.to_string())?;
    println!(
        "wrote {stem}.snap ({} bytes), {sparse_name} ({} bytes for a {}-byte memory file), {stem}.console into {}",
        state.len(),
        sparse.len(),
        mem.len(),
        out.display()
    );
    Ok(())
}

/// Restores the committed fixture `counter-MAJOR.MINOR.snap` (with every fixture file of this
/// arch beside it): it must be of the format its name says (1.0: without 1.1's NOTE section too),
/// and the guest must count on from where its console stopped to the end.
fn fixture_still_loads(
    bytes: &'static [u8],
    console: &'static [u8],
    major: u16,
    minor: u16,
) -> Result<(), String> {
    let env = vmm_core::snapshot::Envelope::decode(bytes, None).map_err(|e| chain(&e))?;
    check(env.major == major && env.minor == minor, || {
        format!(
            "the file is format {}.{}, its name says {major}.{minor}",
            env.major, env.minor
        )
    })?;
    if (major, minor) == (1, 0) {
        check(env.section(b"NOTE").is_none(), || {
            "a 1.0 fixture with a NOTE section (1.1's)".into()
        })?;
    }
    let dir = Scratch::new("snap-fixture");
    integration_tests::fixtures::write_all(&dir.0).map_err(|e| e.to_string())?;
    let before = String::from_utf8_lossy(console).into_owned();
    let (b, buf) = restore(&dir.0.join(format!("counter-{major}.{minor}.snap")))?;
    goes_on_to_the_end(b, buf, &before)
}

/// A VM with a read-write and a read-only disk: a snapshot records their paths, and the restore
/// opens them again.
fn disks_are_reopened_by_path(g: &'static integration_tests::guests::Guest) -> Result<(), String> {
    use std::fs::{File, TryLockError};
    use vmm_core::config::DiskConfig;
    let dir = Scratch::new("snap-disks");
    let path = dir.0.join("vm.snap");
    let (rw, ro) = (dir.0.join("rw.img"), dir.0.join("ro.img"));
    std::fs::write(&rw, vec![0u8; 64 << 10]).unwrap();
    std::fs::write(&ro, vec![0u8; 64 << 10]).unwrap();
    let mut config = g.config(1, 16);
    config.virtio.disks = vec![
        DiskConfig::new(&rw),
        DiskConfig {
            read_only: true,
            id: Some("ro-disk".into()),
            ..DiskConfig::new(&ro)
        },
    ];
    let mut a = TestVm::<HostArch>::new(config.clone())?;
    // While the VM lives its read-write image is locked; its read-only one is shared.
    let held = File::open(&rw).unwrap().try_lock_shared();
    check(matches!(held, Err(TryLockError::WouldBlock)), || {
        format!("the running VM's image is not locked: {held:?}")
    })?;
    File::open(&ro)
        .unwrap()
        .try_lock_shared()
        .map_err(|e| format!("a read-only image is not shareable: {e}"))?;
    a.vmm.start().map_err(|e| chain(&e))?;
    a.wait_for("tick 5\n")?;
    a.vmm.pause().map_err(|e| chain(&e))?;
    a.vmm.snapshot(&path).map_err(|e| chain(&e))?;
    let before = a.console();
    drop(a);
    // CONF names the disks as they were given (absolute here), with their modes and ids.
    let bytes = std::fs::read(&path).unwrap();
    let env = vmm_core::snapshot::Envelope::decode(&bytes, None).map_err(|e| chain(&e))?;
    let conf = env.section(b"CONF").ok_or("no CONF")?;
    let saved = vmm_core::snapshot::sections::read_conf(conf).map_err(|e| chain(&e))?;
    check(conf.version == 2 && saved.virtio == config.virtio, || {
        format!("CONF v{}: {:?}", conf.version, saved.virtio)
    })?;
    // Another holder of the image keeps the restore out, naming the image.
    let other = File::open(&rw).unwrap();
    other.try_lock_shared().map_err(|e| e.to_string())?;
    let e = restore(&path).err().ok_or("restored a locked image")?;
    check(
        e.contains("rw.img") && e.contains("locked by another process"),
        || e.clone(),
    )?;
    drop(other);
    // An image that changed size is refused: the guest was told another capacity.
    let f = std::fs::OpenOptions::new().write(true).open(&rw).unwrap();
    f.set_len(128 << 10).unwrap();
    let e = restore(&path).err().ok_or("restored a grown image")?;
    check(e.contains("rw.img") && e.contains("256 sectors"), || {
        e.clone()
    })?;
    f.set_len(64 << 10).unwrap();
    let (b, buf) = restore(&path)?;
    goes_on_to_the_end(b, buf, &before)
}

/// Whether the state file at `path` has a `PIT2` section.
fn has_pit2(path: &Path) -> Result<bool, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let magic = HostArch::SNAPSHOT_MAGIC.expect("this arch snapshots");
    let env = vmm_core::snapshot::Envelope::decode(&bytes, Some((magic, HostArch::NAME)))
        .map_err(|e| chain(&e))?;
    Ok(env.section(b"PIT2").is_some())
}

/// The counter guest booted with `pit`, snapshotted, restored and snapshotted again: both
/// snapshots have a PIT exactly when `pit` is on; the restored guest counts on to its end.
fn pit_survives_a_restore(g: &'static guests::Guest, pit: Pit) -> Result<(), String> {
    let dir = Scratch::new("snap-pit");
    let (first, second) = (dir.0.join("a.snap"), dir.0.join("b.snap"));
    let mut c = g.config(1, 16);
    c.pit = pit;
    let mut a = TestVm::<HostArch>::new(c)?;
    a.vmm.start().map_err(|e| chain(&e))?;
    a.wait_for("tick 3\n")?;
    a.vmm.pause().map_err(|e| chain(&e))?;
    a.vmm.snapshot(&first).map_err(|e| chain(&e))?;
    let before = a.console();
    drop(a);
    let want = pit == Pit::On;
    check(has_pit2(&first)? == want, || {
        format!("the first snapshot's PIT2 is not {want}")
    })?;
    let (mut b, buf) = restore(&first)?;
    b.snapshot(&second).map_err(|e| chain(&e))?;
    check(has_pit2(&second)? == want, || {
        format!("the restored VM's PIT2 is not {want}")
    })?;
    goes_on_to_the_end(b, buf, &before)
}

pub fn register(s: &mut Suite) {
    let Some(g) = guests::get("counter") else {
        return;
    };
    if HostArch::SNAPSHOT_MAGIC.is_none() {
        s.skip("snapshot::*", "kvm", "this arch cannot snapshot yet");
        return;
    }
    if g.count_addr().is_none() {
        s.skip(
            "snapshot::*",
            "kvm",
            "this arch's counter guest does not boot raw",
        );
        return;
    }

    if std::env::var_os("TETRA_WRITE_FIXTURES").is_some() {
        s.kvm("snapshot::write_format_1_0_fixture", move || {
            write_fixture_1_0(g)
        });
        s.kvm("snapshot::write_current_format_fixture", move || {
            write_fixture_current(g)
        });
    }
    // Every committed fixture `counter-MAJOR.MINOR.snap` with its console.
    let mut found = false;
    for (name, bytes) in integration_tests::fixtures::FILES {
        let Some(version) = name
            .strip_prefix("counter-")
            .and_then(|n| n.strip_suffix(".snap"))
        else {
            continue;
        };
        let Some((Ok(major), Ok(minor))) = version
            .split_once('.')
            .map(|(a, b)| (a.parse::<u16>(), b.parse::<u16>()))
        else {
            continue;
        };
        let test = format!("snapshot::format_{major}_{minor}_fixture_still_loads");
        match integration_tests::fixtures::get(&format!("counter-{version}.console")) {
            Some(console) => {
                found = true;
                s.kvm(&test, move || {
                    fixture_still_loads(bytes, console, major, minor)
                });
            }
            None => s.skip(
                &test,
                "kvm",
                format!("no counter-{version}.console beside it"),
            ),
        }
    }
    if !found {
        s.skip(
            "snapshot::format_fixture_still_loads",
            "kvm",
            format!("no {} fixture in {}", HostArch::NAME, fixtures().display()),
        );
    }

    s.kvm(
        "snapshot::restore_goes_on_where_it_stopped_with_identical_memory",
        move || {
            let dir = Scratch::new("snap-restore");
            let path = dir.0.join("vm.snap");
            let mut a = TestVm::<HostArch>::new(g.config(1, 16))?;
            a.vmm.start().map_err(|e| chain(&e))?;
            a.wait_for("tick 5\n")?;
            a.vmm.pause().map_err(|e| chain(&e))?;
            let stats = a.vmm.snapshot(&path).map_err(|e| chain(&e))?;
            // Sparse: well under the 4096 pages of RAM. A host that backs guest RAM with
            // transparent huge pages can count what the guest touched in 2 MiB (512-page) steps
            // (the arm64 lane saw exactly 1024 pages once, and fewer in other runs).
            check(
                stats.memory_pages > 0 && stats.memory_pages < 4096 / 2,
                || format!("{stats:?}"),
            )?;
            // Guest RAM and state are the user's alone (issue 17, defect 8): 0600, whatever the
            // umask.
            for f in files(&dir.0) {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(dir.0.join(&f))
                    .map_err(|e| e.to_string())?
                    .permissions()
                    .mode();
                check(mode & 0o777 == 0o600, || format!("{f} has mode {mode:o}"))?;
            }
            let (crc_a, count_a, before) = (checksum(&a.vmm), count(&a.vmm), a.console());
            drop(a);

            let (b, buf) = restore(&path)?;
            check(checksum(&b) == crc_a, || {
                "guest memory differs after restore".into()
            })?;
            check(count(&b) == count_a, || {
                format!("count {} != {count_a}", count(&b))
            })?;
            goes_on_to_the_end(b, buf, &before)
        },
    );

    // x86 `--pit` (issue 19): a snapshot has a PIT2 section exactly when its VM has a PIT, and a
    // VM restored from it has a PIT exactly then (its own snapshot says so again).
    if HostArch::NAME == "x86_64" {
        s.kvm(
            "snapshot::a_vm_keeps_its_pit_or_its_lack_of_one_across_a_restore",
            move || {
                for pit in [Pit::On, Pit::Off] {
                    pit_survives_a_restore(g, pit)
                        .map_err(|e| format!("--pit {}: {e}", pit.name()))?;
                }
                Ok(())
            },
        );
    }

    if let Some(why) = integration_tests::run::virtio_refused::<HostArch>() {
        s.skip("snapshot::disks_are_reopened_by_path", "kvm", why);
    } else {
        s.kvm("snapshot::disks_are_reopened_by_path", move || {
            disks_are_reopened_by_path(g)
        });
    }

    s.kvm(
        "snapshot::a_snapshot_stopped_at_any_step_leaves_the_previous_one",
        move || {
            let dir = Scratch::new("snap-crash");
            let path = dir.0.join("vm.snap");
            let mut a = TestVm::<HostArch>::new(g.config(1, 16))?;
            a.vmm.start().map_err(|e| chain(&e))?;
            a.wait_for("tick 3\n")?;
            a.vmm.pause().map_err(|e| chain(&e))?;
            a.vmm.snapshot(&path).map_err(|e| chain(&e))?;
            let first_count = count(&a.vmm);
            let first_files = files(&dir.0);
            a.vmm.resume().map_err(|e| chain(&e))?;
            a.wait_for("tick 8\n")?;
            a.vmm.pause().map_err(|e| chain(&e))?;
            for stop in [Step::Captured, Step::MemoryWritten, Step::StateWritten] {
                let r = a.vmm.snapshot_with(&path, &mut |s| {
                    if s == stop {
                        Err(SnapshotError::Injected(s))
                    } else {
                        Ok(())
                    }
                });
                check(matches!(r, Err(SnapshotError::Injected(_))), || {
                    format!("{stop:?}: {r:?}")
                })?;
                check(files(&dir.0) == first_files, || {
                    format!("{stop:?}: files {:?}", files(&dir.0))
                })?;
                let (b, _) = restore(&path)?;
                check(count(&b) == first_count, || {
                    format!("{stop:?}: count {}", count(&b))
                })?;
            }
            // Past the rename the new snapshot is the one in place, whole.
            let r = a.vmm.snapshot_with(&path, &mut |s| {
                if s == Step::Renamed {
                    Err(SnapshotError::Injected(s))
                } else {
                    Ok(())
                }
            });
            check(matches!(r, Err(SnapshotError::Injected(_))), || {
                format!("{r:?}")
            })?;
            let (b, _) = restore(&path)?;
            check(count(&b) == count(&a.vmm), || {
                format!("count {} != {}", count(&b), count(&a.vmm))
            })?;
            // A snapshot that completes replaces the previous one and removes its memory file.
            a.vmm.snapshot(&path).map_err(|e| chain(&e))?;
            let n = files(&dir.0).len();
            check(n == 2, || format!("{:?}", files(&dir.0)))
        },
    );

    s.kvm(
        "snapshot::corrupt_or_truncated_files_give_clear_errors",
        move || {
            let dir = Scratch::new("snap-corrupt");
            let path = dir.0.join("vm.snap");
            let mut a = TestVm::<HostArch>::new(g.config(1, 16))?;
            a.vmm.start().map_err(|e| chain(&e))?;
            a.wait_for("tick 2\n")?;
            a.vmm.snapshot(&path).map_err(|e| chain(&e))?;
            drop(a);
            let good = std::fs::read(&path).unwrap();
            let bad = dir.0.join("bad.snap");
            let expect_err = |bytes: &[u8], words: &[&str]| -> Result<(), String> {
                std::fs::write(&bad, bytes).unwrap();
                match restore(&bad) {
                    Ok(_) => Err(format!("restored a bad file ({} bytes)", bytes.len())),
                    Err(e) => check(words.iter().all(|w| e.contains(w)), || {
                        format!("{words:?} not in {e:?}")
                    }),
                }
            };
            // Every truncation fails (the memory file it names is beside it, under the same nonce).
            let mem_name = files(&dir.0)
                .into_iter()
                .find(|f| f.starts_with("vm.snap.mem-"))
                .unwrap();
            std::fs::copy(
                dir.0.join(&mem_name),
                dir.0.join(mem_name.replace("vm.snap", "bad.snap")),
            )
            .unwrap();
            for n in (0..good.len()).step_by(7) {
                expect_err(&good[..n], &["bad.snap"])?;
            }
            let mut flipped = good.clone();
            let mid = flipped.len() / 2;
            flipped[mid] ^= 0x40;
            expect_err(&flipped, &["checksum mismatch"])?;
            let mut other_arch = good.clone();
            let foreign = if HostArch::SNAPSHOT_MAGIC == Some(*b"TETRAA64") {
                b"TETRAX86"
            } else {
                b"TETRAA64"
            };
            other_arch[..8].copy_from_slice(foreign);
            expect_err(&other_arch, &["bad magic"])?;
            // A memory file that is missing or too short.
            let mem = dir.0.join(&mem_name);
            let len = std::fs::metadata(&mem).unwrap().len();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&mem)
                .unwrap()
                .set_len(len / 2)
                .unwrap();
            let e = restore(&path)
                .err()
                .ok_or("restored with half a memory file")?;
            check(
                e.contains("memory file") && e.contains("its snapshot's MEMS section says"),
                || e.clone(),
            )?;
            std::fs::remove_file(&mem).unwrap();
            let e = restore(&path)
                .err()
                .ok_or("restored without its memory file")?;
            check(e.contains("cannot open the memory file"), || e)
        },
    );

    s.kvm("snapshot::restore_under_5_ms_path_is_lazy", move || {
        // Restoring maps memory instead of reading it: a 256 MiB guest's memory file is not read.
        let dir = Scratch::new("snap-lazy");
        let path = dir.0.join("vm.snap");
        let mut a = TestVm::<HostArch>::new(g.config(1, 256))?;
        a.vmm.start().map_err(|e| chain(&e))?;
        a.wait_for("tick 1\n")?;
        a.vmm.snapshot(&path).map_err(|e| chain(&e))?;
        drop(a);
        let (b, _) = restore(&path)?;
        let resident = b.memory().resident_bytes();
        check(resident < 1 << 20, || {
            format!("{resident} bytes of guest RAM resident right after restore")
        })
    });
}
