//! Arch-neutral scenarios: every arch that supplies a guest of one of these names meets the same
//! contract, so one test covers them all.
//!
//! | guest | contract |
//! |---|---|
//! | `hello` | prints "hello from tetra", ends with debug-exit status 0x10 |
//! | `echo` | prints "echo: ready", reads a console line, prints "echo: LINE", exit 0x10 |
//!
//! The other shared contracts have their own modules: `entry` (entry.rs), `poweroff` and `reset`
//! (power.rs, cli_status.rs), `smp` (smp_report.rs, cli_status.rs).
//!
//! The `tetra` binary runs too, so that the process exit status is checked end to end.

use crate::expect;
use integration_tests::guests::{self, Guest};
use integration_tests::harness::{check, Suite};
use integration_tests::run::{run, tetra_bin, timeout, Scratch};
use std::io::Write;
use std::process::{Command, Stdio};
use tetra_host::HostArch;
use vmm_core::GuestExit;

/// `tetra run --kernel IMG [--raw ADDR[:MODE]] ARGS...` for guest `g`; returns (status, stdout).
fn tetra_run(g: &Guest, args: &[&str], stdin: Option<&[u8]>) -> Result<(i32, String), String> {
    let dir = Scratch::new(&format!("contract-{}", g.name));
    let kernel = g.write_to(&dir.0);
    let mut cmd = Command::new(tetra_bin()?);
    cmd.args(["run", "--kernel"]).arg(&kernel);
    if let Some(raw) = g.boot.strip_prefix("raw:") {
        cmd.args(["--raw", raw]);
    }
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("spawning tetra: {e}"))?;
    if let Some(data) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        pipe.write_all(data).map_err(|e| e.to_string())?;
        // Dropping the pipe closes it: the guest sees the bytes, then no more input.
    }
    let deadline = std::time::Instant::now() + timeout();
    loop {
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().map_err(|e| e.to_string())?;
            return Err(format!(
                "tetra did not end within {:?}; stdout:\n{}\nstderr:\n{}",
                timeout(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let code = out.status.code().ok_or_else(|| {
        format!(
            "tetra died of a signal: {:?}; stderr {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    if code == 2 || code == 4 {
        return Err(format!(
            "tetra failed (status {code}): {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok((code, stdout))
}

fn has_line(out: &str, line: &str) -> Result<(), String> {
    check(out.lines().any(|l| l == line), || {
        format!("missing the line {line:?} in:\n{out}")
    })
}

pub fn register(s: &mut Suite) {
    if let Some(g) = guests::get("hello") {
        s.kvm("contract::hello_console_and_debug_exit", move || {
            let out = run::<HostArch>(g.config(1, 64))?;
            expect(&out, GuestExit::DebugExit(0x10), &["hello from tetra"])
        });
        s.kvm("contract::hello_exit_status_through_the_cli", move || {
            let (code, stdout) = tetra_run(g, &[], None)?;
            has_line(&stdout, "hello from tetra")?;
            check(code == (0x10 << 1) | 1, || {
                format!("tetra exited {code}, expected 33; stdout:\n{stdout}")
            })
        });
    }

    if let Some(g) = guests::get("echo") {
        s.kvm("contract::echo_console_input_through_the_cli", move || {
            let (code, stdout) = tetra_run(g, &[], Some(b"hello tetra\n"))?;
            has_line(&stdout, "echo: ready")?;
            has_line(&stdout, "echo: hello tetra")?;
            check(code == (0x10 << 1) | 1, || {
                format!("tetra exited {code}; stdout:\n{stdout}")
            })
        });
    }
}
