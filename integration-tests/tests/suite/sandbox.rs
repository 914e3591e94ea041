//! The sandbox (issue 17, defect 9) through the `tetra` binary: every thread of a running tetra
//! shows `Seccomp: 2` and `NoNewPrivs: 1`; a thread of each kind that makes a syscall outside its
//! list (the `TETRA_SECCOMP_PROBE` hook) kills tetra with SIGSYS, `--seccomp log` lets it run
//! on; and tetra runs as an unprivileged user whose only KVM access is its own `/dev/kvm` node.
//! The rest of the suite runs the binary with the filters on (the default), and the in-process
//! tests run their vCPU, device-worker and memory-check threads under them.

use integration_tests::guests::{self, Guest};
use integration_tests::harness::{check, Suite};
use integration_tests::process::{tetra, wait_for_path, Tetra};
use integration_tests::run::Scratch;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tetra_host::HostArch;
use vmm_core::Arch;

/// How the `poweroff` guest (on every arch that runs guests) ends: status 0.
const POWEROFF_END: i32 = 0;

/// `tetra ARGS` with `TETRA_SECCOMP_PROBE=probe`, to its end: (status, stderr).
fn run_probe(probe: &str, args: &[&str]) -> Result<(std::process::ExitStatus, String), String> {
    let bin = integration_tests::run::tetra_bin()?;
    let out = Command::new(&bin)
        .args(args)
        .env("TETRA_SECCOMP_PROBE", probe)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("spawning {}: {e}", bin.display()))?;
    Ok((
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// The boot arguments of `g` from a file in `dir`.
fn boot_args(g: &Guest, dir: &Path) -> Vec<String> {
    let mut a = vec![
        "run".to_string(),
        "--kernel".into(),
        g.write_to(dir).display().to_string(),
    ];
    if let Some(raw) = g.boot.strip_prefix("raw:") {
        a.extend(["--raw".into(), raw.into()]);
    }
    a
}

/// Whether this arch gives a VM virtio devices.
fn has_virtio() -> bool {
    integration_tests::run::virtio_refused::<HostArch>().is_none()
}

/// Each thread of `pid`: (name, the `Seccomp:` and `NoNewPrivs:` values).
fn threads(pid: u32) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in dir.flatten() {
        let Ok(status) = std::fs::read_to_string(t.path().join("status")) else {
            continue;
        };
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        out.push((field("Name:"), field("Seccomp:"), field("NoNewPrivs:")));
    }
    out.sort();
    out
}

pub fn register(s: &mut Suite) {
    let Some(poweroff) = guests::get("poweroff") else {
        return;
    };
    if let Some(counter) = guests::get("counter") {
        s.kvm("sandbox::every_thread_runs_under_its_filter", move || {
            let dir = Scratch::new("sandbox-threads");
            let api = dir.0.join("api.sock");
            let mut args = boot_args(counter, &dir.0);
            args.extend(["--cpus".into(), "2".into(), "--api".into()]);
            args.push(api.display().to_string());
            if has_virtio() {
                args.push("--rng".into());
            }
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut vm = Tetra::spawn(&a)?;
            wait_for_path(&api)?;
            let pid = vm.pid();
            let mut want = vec!["console-out", "vcpu0", "vcpu1"];
            if has_virtio() {
                want.push("virtio");
            }
            // The main thread's filter goes on right after the vCPUs start: wait for it.
            let deadline = Instant::now() + Duration::from_secs(10);
            let seen = loop {
                let t = threads(pid);
                let all = !t.is_empty() && t.iter().all(|(_, sc, nnp)| sc == "2" && nnp == "1");
                let named = want.iter().all(|w| t.iter().any(|(n, _, _)| n == w));
                if (all && named) || Instant::now() > deadline {
                    break t;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            // A control request, served under the filter, while we are at it.
            let (st, out, err) = tetra(&["ctl", "--api", &api.display().to_string(), "status"])?;
            vm.kill();
            check(st.success() && out.contains("running"), || {
                format!("status: {st} {out} {err}")
            })?;
            // Every thread: tetra's own (main, vCPUs, worker, console-out) and any the kernel
            // adds to the process (KVM's `kvm-nx-lpage-recovery` worker on x86 hosts).
            check(
                want.iter().all(|w| seen.iter().any(|(n, _, _)| n == w))
                    && seen.iter().any(|(n, _, _)| n == "tetra")
                    && seen.iter().all(|(_, sc, nnp)| sc == "2" && nnp == "1"),
                || format!("threads (name, Seccomp, NoNewPrivs): {seen:?}"),
            )?;
            Ok(())
        });
    }

    let mut kinds = vec!["vcpu", "main", "console-out"];
    if has_virtio() {
        kinds.push("virtio");
    }
    for kind in kinds {
        s.kvm(
            &format!("sandbox::a_forbidden_syscall_in_the_{kind}_thread_kills_tetra"),
            move || {
                let dir = Scratch::new(&format!("sandbox-probe-{kind}"));
                let mut args = boot_args(poweroff, &dir.0);
                if kind == "virtio" {
                    args.push("--rng".into());
                }
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                let (st, err) = run_probe(kind, &a)?;
                check(st.signal() == Some(libc::SIGSYS), || {
                    format!("{kind}: {st}, stderr {err:?}")
                })?;
                // The same with --seccomp log: logged, and the guest runs to its end.
                let mut logged = a.clone();
                logged.extend(["--seccomp", "log"]);
                let (st, err) = run_probe(kind, &logged)?;
                check(
                    st.code() == Some(POWEROFF_END) && err.contains("seccomp probe: acct()"),
                    || format!("{kind} with --seccomp log: {st}, stderr {err:?}"),
                )?;
                // And with --seccomp off no filter, no probe.
                let mut off = a.clone();
                off.extend(["--seccomp", "off"]);
                let (st, err) = run_probe(kind, &off)?;
                check(
                    st.code() == Some(POWEROFF_END) && !err.contains("probe"),
                    || format!("{kind} with --seccomp off: {st}, stderr {err:?}"),
                )
            },
        );
    }

    if let (Some(counter), true) = (guests::get("counter"), HostArch::SNAPSHOT_MAGIC.is_some()) {
        s.kvm(
            "sandbox::the_memory_check_of_a_restore_runs_under_its_filter",
            move || {
                let dir = Scratch::new("sandbox-memcheck");
                let api = dir.0.join("api.sock");
                let snap = dir.0.join("vm.snap").display().to_string();
                let mut args = boot_args(counter, &dir.0);
                args.extend(["--mem".into(), "16".into(), "--api".into()]);
                args.push(api.display().to_string());
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                let mut vm = Tetra::spawn(&a)?;
                vm.wait_for("tick 2\n", false)?;
                let api = api.display().to_string();
                let (st, out, err) = tetra(&["ctl", "--api", &api, "snapshot", &snap])?;
                vm.kill();
                check(st.success(), || format!("snapshot: {st} {out} {err}"))?;
                let restore = ["run", "--restore", snap.as_str(), "--verify", "lazy"];
                let (st, err) = run_probe("memory-check", &restore)?;
                check(st.signal() == Some(libc::SIGSYS), || {
                    format!("memory-check: {st}, stderr {err:?}")
                })
            },
        );
    }

    s.kvm(
        "sandbox::tetra_runs_unprivileged_with_only_its_own_dev_kvm",
        move || {
            // A private mount namespace in which /dev/kvm is a node of its own, owned by the
            // unprivileged user (the machine's /dev/kvm is left as it is), and tetra run as that
            // user with no groups and no capabilities.
            // SAFETY: getuid takes no arguments.
            if unsafe { libc::getuid() } != 0 {
                eprintln!("sandbox: not root here, so no user can be switched to: skipped");
                return Ok(());
            }
            let dir = Scratch::new("sandbox-unpriv");
            let kernel = poweroff.write_to(&dir.0).display().to_string();
            let bin = integration_tests::run::tetra_bin()?.display().to_string();
            let raw = poweroff
                .boot
                .strip_prefix("raw:")
                .map(|r| format!("--raw {r}"));
            let node = dir.0.join("kvm").display().to_string();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| e.to_string())?;
            std::fs::set_permissions(&kernel, std::fs::Permissions::from_mode(0o644))
                .map_err(|e| e.to_string())?;
            // Exit 97: the namespace, the node or the user switch cannot be made here (a
            // container without CAP_SYS_ADMIN or CAP_MKNOD, a setpriv without --reuid).
            let script = format!(
                "{{ mknod {node} c 10 232 && chown 65534:65534 {node} && chmod 600 {node} && \
                 mount --bind {node} /dev/kvm && \
                 setpriv --reuid=65534 --regid=65534 --clear-groups true; }} || exit 97; \
                 exec setpriv --reuid=65534 --regid=65534 --clear-groups \
                 {bin} run --kernel {kernel} {}",
                raw.unwrap_or_default()
            );
            let out = Command::new("unshare")
                .args(["-m", "sh", "-c", &script])
                .stdin(Stdio::null())
                .output();
            let out = match out {
                Ok(o)
                    if o.status.code() != Some(97)
                        && !String::from_utf8_lossy(&o.stderr).starts_with("unshare:") =>
                {
                    o
                }
                Ok(o) => {
                    let err = String::from_utf8_lossy(&o.stderr);
                    eprintln!("sandbox: an unprivileged run cannot be set up here: {err}: skipped");
                    return Ok(());
                }
                Err(e) => {
                    eprintln!("sandbox: unshare not runnable ({e}): skipped");
                    return Ok(());
                }
            };
            let err = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            check(out.status.code() == Some(POWEROFF_END), || {
                format!(
                    "unprivileged: {}: stdout {stdout:?} stderr {err:?}",
                    out.status
                )
            })
        },
    );
}
