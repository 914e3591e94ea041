//! Snapshots and migration through the `tetra` binary (issue 5): the control socket, `tetra ctl`,
//! `tetra run --restore`, `tetra run --incoming`, `tetra migrate`, `tetra inspect snapshot`.

use integration_tests::guests::{self, Guest};
use integration_tests::harness::{check, Suite};
use integration_tests::process::{tetra, wait_for_path, Tetra};
use integration_tests::proxy::{self, Fault};
use integration_tests::run::Scratch;
use std::path::Path;
use tetra_host::HostArch;
use vmm_core::migration::frame::Kind;
use vmm_core::Arch;

fn every_tick() -> String {
    (1..=40).map(|i| format!("tick {i}\n")).collect()
}

/// `tetra run` of the dirtier guest (32 MiB, a control socket in `dir`, stdin a pipe whose key
/// ends its sweeps), once it has swept 100 times; returns it and its control socket's path.
fn start_dirtier(dirtier: &Guest, dir: &Path) -> Result<(Tetra, String), String> {
    let kernel = dirtier.write_to(dir).display().to_string();
    let api = dir.join("api.sock").display().to_string();
    let raw = dirtier
        .boot
        .strip_prefix("raw:")
        .ok_or("the dirtier boots raw")?;
    let mut src = Tetra::spawn_with_stdin(&[
        "run", "--kernel", &kernel, "--raw", raw, "--mem", "32", "--api", &api,
    ])?;
    src.wait_for("sweep 100\n", false)?;
    Ok((src, api))
}

pub fn register(s: &mut Suite) {
    if HostArch::SNAPSHOT_MAGIC.is_none() {
        return;
    }
    let (Some(counter), Some(dirtier)) = (guests::get("counter"), guests::get("dirtier")) else {
        return;
    };

    // `tetra ctl config` gives a running VM's description (issue 16): a restored VM gives the
    // same one, and `tetra run --config` with it starts an identical VM.
    s.kvm(
        "cli::a_running_vms_config_starts_an_identical_vm",
        move || {
            let dir = Scratch::new("cli-config-running");
            let k = counter.write_to(&dir.0).display().to_string();
            let path = |n: &str| dir.0.join(n).display().to_string();
            let (a, b, c, snap, file) = (
                path("a.sock"),
                path("b.sock"),
                path("c.sock"),
                path("vm.snap"),
                path("vm.json"),
            );
            let raw = counter
                .boot
                .strip_prefix("raw:")
                .ok_or("the counter boots raw")?;
            // The description, without the control socket's path (each VM has its own).
            let config = |api: &str| -> Result<serde_json::Value, String> {
                let (st, out, err) = tetra(&["ctl", "--api", api, "config"])?;
                check(st.success(), || format!("config: {st} {out} {err}"))?;
                let mut v: serde_json::Value =
                    serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
                let api_field = v["control"]["api"].take();
                check(api_field == serde_json::json!(api), || {
                    format!("{api_field} in {out}")
                })?;
                Ok(v)
            };
            let pause = |api: &str| -> Result<(), String> {
                wait_for_path(Path::new(api))?;
                let (st, out, err) = tetra(&["ctl", "--api", api, "pause"])?;
                check(st.success(), || format!("pause: {st} {out} {err}"))
            };
            let mut first = Tetra::spawn(&[
                "run", "--kernel", &k, "--raw", raw, "--mem", "16", "--api", &a,
            ])?;
            first.wait_for("tick 2\n", false)?;
            pause(&a)?;
            let described = config(&a)?;
            check(
                described["payload"]["kernel"] == serde_json::json!(k)
                    && described["machine"]["mem_mib"] == serde_json::json!(16),
                || described.to_string(),
            )?;
            let (st, out, err) = tetra(&["ctl", "--api", &a, "snapshot", &snap])?;
            check(st.success(), || format!("snapshot: {st} {out} {err}"))?;
            first.kill();
            // Restored, it is its snapshot (which holds the payload): the description
            // restores it again.
            let mut restored = Tetra::spawn(&["run", "--restore", &snap, "--api", &b])?;
            pause(&b)?;
            let again = config(&b)?;
            restored.kill();
            check(
                again["restore"]["path"] == serde_json::json!(snap)
                    && again["payload"]["kernel"].is_null(),
                || format!("restored: {again}"),
            )?;
            // Started from the description (with its own socket on top), the same VM again: it
            // runs the counter and describes itself the same.
            let mut text = described.clone();
            text["control"]["api"] = serde_json::json!(c);
            std::fs::write(&file, text.to_string()).map_err(|e| e.to_string())?;
            let mut second = Tetra::spawn(&["run", "--config", &file])?;
            second.wait_for("tick 1\n", false)?;
            pause(&c)?;
            let third = config(&c)?;
            second.kill();
            check(third == described, || {
                format!("from the file: {third}\nfirst: {described}")
            })
        },
    );

    s.kvm("cli::snapshot_then_restore_in_a_new_process", move || {
        let dir = Scratch::new("cli-snap");
        let kernel = counter.write_to(&dir.0);
        let (api, snap) = (dir.0.join("api.sock"), dir.0.join("vm.snap"));
        let (k, a, p) = (
            kernel.display().to_string(),
            api.display().to_string(),
            snap.display().to_string(),
        );
        let raw = counter
            .boot
            .strip_prefix("raw:")
            .ok_or("the counter boots raw")?;
        let mut first = Tetra::spawn(&[
            "run", "--kernel", &k, "--raw", raw, "--mem", "16", "--api", &a,
        ])?;
        first.wait_for("tick 4\n", false)?;
        let (st, out, err) = tetra(&["ctl", "--api", &a, "pause"])?;
        check(st.success(), || format!("pause: {st} {out} {err}"))?;
        let (st, out, err) = tetra(&["ctl", "--api", &a, "snapshot", &p])?;
        check(st.success() && out.starts_with("ok: "), || {
            format!("snapshot: {st} {out} {err}")
        })?;
        let (st, out, _) = tetra(&["ctl", "--api", &a, "status"])?;
        check(st.success() && out.trim() == "ok: paused", || out.clone())?;
        // vcpus: the one vCPU, parked by the pause, with a KVM_RUN count and its registers.
        let (st, out, err) = tetra(&["ctl", "--api", &a, "vcpus"])?;
        let line = out.lines().next().unwrap_or_default();
        let runs: Option<u64> = line
            .split_once("Paused, ")
            .and_then(|(_, r)| r.split_once(' '))
            .and_then(|(n, _)| n.parse().ok());
        check(
            st.success()
                && line.starts_with("vcpu 0: Paused, ")
                && runs.is_some_and(|n| n > 0)
                && line
                    .split_once(" KVM_RUN returns; ")
                    .is_some_and(|(_, regs)| regs.contains("=0x"))
                && out.lines().last() == Some("ok: 1 vCPUs, paused"),
            || format!("vcpus: {st} {out} {err}"),
        )?;
        let before = first.stdout();
        first.kill();

        let (st, json, err) = tetra(&["inspect", "snapshot", &p])?;
        check(st.success(), || err.clone())?;
        // This arch's magic and its first VM-wide section (x86: IRQC, arm64: GICD).
        let magic = String::from_utf8_lossy(&HostArch::SNAPSHOT_MAGIC.unwrap()).into_owned();
        let arch_tag = String::from_utf8_lossy(&HostArch::VM_STATE_TAGS[0]).into_owned();
        for w in [
            format!("\"magic\": \"{magic}\""),
            "\"tag\": \"CONF\"".into(),
            "\"tag\": \"MEMS\"".into(),
            "\"tag\": \"VCPU\"".into(),
            format!("\"tag\": \"{arch_tag}\""),
            "\"mem_mib\": 16".into(),
        ] {
            check(json.contains(&w), || format!("{w} missing from:\n{json}"))?;
        }
        let (st, after, err) = tetra(&["run", "--restore", &p])?;
        check(st.code() == Some((0x10 << 1) | 1), || {
            format!("{st}: {err}")
        })?;
        check(before.clone() + &after == every_tick(), || {
            format!("before:\n{before}\nafter:\n{after}")
        })
    });

    s.kvm(
        "cli::restore_refuses_a_corrupt_snapshot_with_one_line",
        move || {
            let dir = Scratch::new("cli-badsnap");
            let p = dir.0.join("bad.snap");
            std::fs::write(&p, b"TETRAX86 but not really a snapshot").unwrap();
            let ps = p.display().to_string();
            let (st, _, err) = tetra(&["run", "--restore", &ps])?;
            check(
                st.code() == Some(2) && err.lines().count() == 1 && err.contains(&ps),
                || format!("{st} {err:?}"),
            )?;
            let (st, _, err) = tetra(&["run", "--restore", &ps, "--cpus", "2"])?;
            check(st.code() == Some(2) && err.contains("--cpus"), || {
                format!("{st} {err:?}")
            })?;
            let (st, _, err) = tetra(&["inspect", "snapshot", &ps])?;
            check(st.code() == Some(2) && err.lines().count() == 1, || {
                format!("{st} {err:?}")
            })
        },
    );

    for tcp in [false, true] {
        let name = if tcp { "tcp" } else { "unix" };
        s.kvm(
            &format!("cli::live_migration_between_processes_over_{name}"),
            move || {
                let dir = Scratch::new(&format!("cli-mig-{name}"));
                let (listen, mut dest) = if tcp {
                    let d = Tetra::spawn_with_stdin(&["run", "--incoming", "tcp:127.0.0.1:0"])?;
                    (String::new(), d)
                } else {
                    let m = dir.0.join("mig.sock");
                    let l = format!("unix:{}", m.display());
                    let d = Tetra::spawn_with_stdin(&["run", "--incoming", &l])?;
                    wait_for_path(&m)?;
                    (l, d)
                };
                let to = if tcp {
                    dest.wait_for("(port ", true)?;
                    let e = dest.stderr();
                    let port = e
                        .split("(port ")
                        .nth(1)
                        .and_then(|r| r.split(')').next())
                        .ok_or("no port")?
                        .to_string();
                    format!("tcp:127.0.0.1:{port}")
                } else {
                    listen
                };
                let (src, a) = start_dirtier(dirtier, &dir.0)?;
                let (st, out, err) = tetra(&["migrate", "--api", &a, "--to", &to])?;
                check(st.success() && out.contains("migrated to"), || {
                    format!("migrate: {st} {out} {err}")
                })?;
                check(err.contains("progress: PreCopy round"), || {
                    format!("no progress lines: {err}")
                })?;
                let (sst, _, serr) = src.wait()?;
                check(sst.code() == Some(0), || {
                    format!("source ended {sst}: {serr}")
                })?;
                // The destination goes on sweeping; a key on its console ends the sweeps and it
                // checks every page against its own count.
                dest.wait_for("sweep ", false)?;
                dest.type_in(b"q")?;
                let (dst, dout, derr) = dest.wait()?;
                check(dst.code() == Some((0x10 << 1) | 1), || {
                    format!("destination ended {dst}: {derr}\n{dout}")
                })?;
                check(dout.contains("every page agrees"), || dout.clone())
            },
        );
    }

    s.kvm(
        "cli::destination_killed_mid_migration_leaves_the_source_running",
        move || {
            let dir = Scratch::new("cli-mig-kill");
            let (front, back) = (dir.0.join("front.sock"), dir.0.join("back.sock"));
            let mut dest =
                Tetra::spawn(&["run", "--incoming", &format!("unix:{}", back.display())])?;
            wait_for_path(&back)?;
            // The stream goes through a proxy that holds it in the first pre-copy round, so the
            // destination dies mid-round whatever the speed of this host.
            let proxy = proxy::start(front.clone(), back, Fault::HoldBefore(Kind::Pages as u8, 1));
            let (mut src, a) = start_dirtier(dirtier, &dir.0)?;
            let to = format!("unix:{}", front.display());
            let mig = Tetra::spawn(&["migrate", "--api", &a, "--to", &to])?;
            wait_for_path(&front.with_extension("held"))?;
            dest.kill();
            let (st, _, err) = mig.wait()?;
            let _ = proxy.join();
            check(st.code() == Some(1) && err.contains("migrate:"), || {
                format!("{st}: {err}")
            })?;
            check(src.running(), || "the source died".into())?;
            // It goes on sweeping; a key on its console ends the sweeps and it checks itself.
            let swept = src.stdout().matches("sweep ").count();
            src.wait_for(&format!("sweep {}00\n", swept + 1), false)?;
            src.type_in(b"q")?;
            let (sst, sout, serr) = src.wait()?;
            check(sst.code() == Some((0x10 << 1) | 1), || {
                format!("source ended {sst}: {serr}")
            })?;
            check(sout.contains("every page agrees"), || sout.clone())
        },
    );

    s.kvm(
        "cli::incoming_leaves_a_file_that_is_not_a_socket_alone",
        move || {
            // Before, a destination removed whatever was at its unix: path.
            let dir = Scratch::new("cli-mig-file");
            let f = dir.0.join("mine.txt");
            std::fs::write(&f, b"the user's file").map_err(|e| e.to_string())?;
            let l = format!("unix:{}", f.display());
            let (st, _, err) = tetra(&["run", "--incoming", &l])?;
            check(
                !st.success() && err.contains("is not a socket (left alone)"),
                || format!("{st}: {err}"),
            )?;
            check(
                std::fs::read(&f).ok().as_deref() == Some(&b"the user's file"[..]),
                || "the file changed".into(),
            )
        },
    );

    s.kvm(
        "cli::incoming_refuses_a_corrupt_stream_and_never_starts",
        move || {
            let dir = Scratch::new("cli-mig-garbage");
            let m = dir.0.join("mig.sock");
            let l = format!("unix:{}", m.display());
            let dest = Tetra::spawn(&["run", "--incoming", &l])?;
            wait_for_path(&m)?;
            let mut c = std::os::unix::net::UnixStream::connect(&m).map_err(|e| e.to_string())?;
            use std::io::Write;
            let _ = c.write_all(b"\x01\x10\x00\x00\x00garbage garbage!\xde\xad\xbe\xef");
            drop(c);
            let (st, out, err) = dest.wait()?;
            // The "waiting" notice, then exactly one line of error; nothing ran.
            let lines: Vec<&str> = err
                .lines()
                .filter(|l| !l.contains("waiting for a migration"))
                .collect();
            check(
                st.code() == Some(4) && lines.len() == 1 && out.is_empty(),
                || format!("{st}: {err:?} {out:?}"),
            )?;
            check(lines[0].contains("checksum"), || err.clone())
        },
    );
}
