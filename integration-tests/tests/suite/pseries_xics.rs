//! The pseries interrupt controller on real KVM-HV (the guest `xics`): the in-kernel XICS
//! presents an IPI the guest sends itself (`H_IPI`, taken with `H_XIRR`/`H_EOI`), the RTAS
//! source calls route and mask the console's source, and a line typed on tetra's stdin after
//! the guest said it is ready reaches it through the console's interrupt: the guest reads the
//! console only in its interrupt handler. `--irqchip none` gives a machine without an
//! interrupt controller, which the guest sees in its device tree. The guest `xics_smp` on 4
//! vCPUs sends an IPI to every secondary, each of which takes it and sends one back.
//!
//! On a host without an in-kernel XICS the guest finds no interrupt controller; the test then
//! checks that `--irqchip xics` is refused by name instead, and says so on stderr.

use crate::expect;
use integration_tests::guests::{self, Guest};
use integration_tests::harness::{check, Suite};
use integration_tests::run::{chain, run, tetra_bin, timeout, Scratch, TestVm};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tetra_host::{HostArch, HOST_ARCH};
use vmm_core::GuestExit;

/// Runs `tetra run` on guest `g` with `args`; once stdout shows `ready`, writes `input` to
/// its stdin. Returns (exit status, stdout, stderr).
fn run_typing(
    g: &Guest,
    args: &[&str],
    ready: &str,
    input: &[u8],
) -> Result<(i32, String, String), String> {
    let dir = Scratch::new(&format!("xics-{}", g.name));
    let kernel = g.write_to(&dir.0);
    let mut cmd = Command::new(tetra_bin()?);
    cmd.args(["run", "--kernel"]).arg(&kernel);
    if let Some(raw) = g.boot.strip_prefix("raw:") {
        cmd.args(["--raw", raw]);
    }
    cmd.args(args);
    typing(cmd, ready, input)
}

/// Runs `cmd` (a `tetra` command); once stdout shows `ready`, writes `input` to its stdin.
/// Returns (exit status, stdout, stderr).
fn typing(mut cmd: Command, ready: &str, input: &[u8]) -> Result<(i32, String, String), String> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("spawning tetra: {e}"))?;
    let out = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let out = out.clone();
        let mut pipe = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            let mut b = [0u8; 256];
            while let Ok(n) = pipe.read(&mut b) {
                if n == 0 {
                    break;
                }
                out.lock().unwrap().extend_from_slice(&b[..n]);
            }
        })
    };
    let text =
        |out: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&out.lock().unwrap()).into_owned();
    let deadline = Instant::now() + timeout();
    let mut stdin = child.stdin.take();
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "tetra did not end in time; stdout:\n{}",
                text(&out)
            ));
        }
        if stdin.is_some() && text(&out).contains(ready) {
            let mut pipe = stdin.take().expect("stdin");
            pipe.write_all(input).map_err(|e| e.to_string())?;
            // Dropping the pipe closes it: the guest sees the bytes, then no more input.
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = reader.join();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    Ok((status.code().unwrap_or(-1), text(&out), err))
}

fn has_line(out: &str, line: &str) -> Result<(), String> {
    check(out.lines().any(|l| l == line), || {
        format!("missing the line {line:?} in:\n{out}")
    })
}

pub fn register(s: &mut Suite) {
    if HOST_ARCH != "ppc64" {
        return;
    }
    let Some(g) = guests::get("xics") else {
        return;
    };
    s.kvm("pseries::xics_ipi_and_console_interrupt", move || {
        let (code, out, err) = run_typing(g, &[], "xics: ready", b"hello xics\n")?;
        if out.lines().any(|l| l == "xics: none") {
            eprintln!("this host has no in-kernel XICS: checking that --irqchip xics is refused");
            let (code, _, err) = run_typing(g, &["--irqchip", "xics"], "never", b"")?;
            return check(code == 2 && err.contains("no in-kernel XICS"), || {
                format!("--irqchip xics: exit {code}, stderr {err}")
            });
        }
        has_line(&out, "xics: ipi ok")?;
        has_line(&out, "xics: ready")?;
        has_line(&out, "xics: got hello xics")?;
        check(code == (0x10 << 1) | 1, || {
            format!("tetra exited {code}; stdout:\n{out}\nstderr:\n{err}")
        })?;
        if let Some(l) = out.lines().find(|l| l.ends_with("console interrupts")) {
            eprintln!("{l}");
        }
        Ok(())
    });
    s.kvm("pseries::xics_state_survives_a_snapshot", move || {
        // The guest routes the console's source, opens its CPPR and cedes, waiting for a line:
        // snapshotted there, the restored VM must deliver the line's interrupt as the saved
        // XICS source, ICP and RTAS state say.
        let dir = Scratch::new("xics-snap");
        let snap = dir.0.join("vm.snap");
        let mut a = TestVm::<HostArch>::new(g.config(1, 64))?;
        a.vmm.start().map_err(|e| chain(&e))?;
        a.wait_for("xics: ready\n")?;
        if a.console().lines().any(|l| l == "xics: none") {
            eprintln!("this host has no in-kernel XICS: nothing to snapshot");
            return Ok(());
        }
        a.vmm.pause().map_err(|e| chain(&e))?;
        a.vmm.snapshot(&snap).map_err(|e| chain(&e))?;
        drop(a);
        let mut cmd = Command::new(tetra_bin()?);
        cmd.args(["run", "--restore"]).arg(&snap);
        let (code, out, err) = typing(cmd, "", b"hello again\n")?;
        has_line(&out, "xics: got hello again")?;
        check(code == (0x10 << 1) | 1, || {
            format!("tetra exited {code}; stdout:\n{out}\nstderr:\n{err}")
        })
    });
    if let Some(smp) = guests::get("xics_smp") {
        s.kvm("pseries::xics_ipis_between_4_vcpus", move || {
            let out = run::<HostArch>(smp.config(4, 64))?;
            if out.console.lines().any(|l| l == "xics-smp: none") {
                eprintln!("this host has no in-kernel XICS: no IPIs to send");
                return Ok(());
            }
            expect(
                &out,
                GuestExit::DebugExit(0x44),
                &[
                    "cpu 1 got an IPI",
                    "cpu 2 got an IPI",
                    "cpu 3 got an IPI",
                    "cpu 0 got IPIs back",
                    "xics-smp: 4 of 4 vCPUs got IPIs",
                ],
            )
        });
    }
    s.kvm(
        "pseries::irqchip_none_has_no_interrupt_controller",
        move || {
            let mut cfg = g.config(1, 64);
            cfg.irqchip = Some("none".into());
            let out = run::<HostArch>(cfg)?;
            expect(&out, GuestExit::DebugExit(0x12), &["xics: none"])
        },
    );
}
