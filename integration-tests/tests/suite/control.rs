//! The control socket (`tetra run --api PATH`) against misuse (issue 17, defects 1 and 2): it
//! never takes over someone else's path (a regular file there is refused and kept; a live socket
//! of another VM is refused, and that VM keeps its socket), and idle connections stall neither a
//! request nor the VM's exit.

use integration_tests::guests;
use integration_tests::harness::{check, Suite};
use integration_tests::process::{tetra, wait_for_path, Tetra};
use integration_tests::run::Scratch;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

pub fn register(s: &mut Suite) {
    let Some(counter) = guests::get("counter") else {
        return;
    };
    let Some(raw) = counter.boot.strip_prefix("raw:") else {
        return;
    };

    s.kvm(
        "control::api_path_that_is_not_a_socket_is_refused_and_kept",
        move || {
            let dir = Scratch::new("ctl-file");
            let kernel = counter.write_to(&dir.0).display().to_string();
            let path = dir.0.join("notes.txt");
            std::fs::write(&path, b"the user's file").map_err(|e| e.to_string())?;
            let p = path.display().to_string();
            let (st, _, err) = tetra(&["run", "--kernel", &kernel, "--raw", raw, "--api", &p])?;
            check(st.code() == Some(2), || format!("exit {st}: {err}"))?;
            check(err.contains("is not a socket"), || err.clone())?;
            check(
                std::fs::read(&path).map_err(|e| e.to_string())? == b"the user's file",
                || "the file at --api was changed".into(),
            )
        },
    );

    s.kvm(
        "control::a_second_vm_cannot_take_over_a_live_socket",
        move || {
            let dir = Scratch::new("ctl-live");
            let kernel = counter.write_to(&dir.0).display().to_string();
            let api = dir.0.join("api.sock");
            let a = api.display().to_string();
            let mut first = Tetra::spawn(&["run", "--kernel", &kernel, "--raw", raw, "--api", &a])?;
            wait_for_path(&api)?;
            let (st, _, err) = tetra(&["run", "--kernel", &kernel, "--raw", raw, "--api", &a])?;
            check(st.code() == Some(2) && err.contains("in use"), || {
                format!("exit {st}: {err}")
            })?;
            let (st, out, err) = tetra(&["ctl", "--api", &a, "pause"])?;
            check(st.success(), || {
                format!("the first VM lost its socket: {out} {err}")
            })?;
            first.kill();
            Ok(())
        },
    );

    s.kvm(
        "control::idle_connections_stall_neither_status_nor_exit",
        move || {
            let dir = Scratch::new("ctl-idle");
            let kernel = counter.write_to(&dir.0).display().to_string();
            let api = dir.0.join("api.sock");
            let a = api.display().to_string();
            let mut vm = Tetra::spawn(&["run", "--kernel", &kernel, "--raw", raw, "--api", &a])?;
            wait_for_path(&api)?;
            let idle: Vec<UnixStream> = (0..100)
                .map(|_| UnixStream::connect(&api).map_err(|e| e.to_string()))
                .collect::<Result<_, _>>()?;
            // The request goes over a raw connection, so that the time is the server's, not a
            // process start's.
            let t = Instant::now();
            let reply = vmm_core::control::send(&api, "status", &mut |_| {})?;
            let took = t.elapsed();
            check(
                reply == "running" && took < Duration::from_millis(100),
                || format!("status took {took:?}: {reply}"),
            )?;
            // The counter guest ends on its own (debug exit 0x10 after its last tick): tetra must
            // exit at once, whatever the idle connections.
            vm.wait_for("tick 40\n", false)?;
            let t = Instant::now();
            let (st, _, err) = vm.wait()?;
            let took = t.elapsed();
            drop(idle);
            check(
                st.code() == Some(0x21) && took < Duration::from_secs(1),
                || format!("exit {st} {took:?} after the guest's end: {err}"),
            )
        },
    );
}
