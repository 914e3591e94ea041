//! The `tetra` binary, arch-neutral: a raw test guest booted from the command line (`--raw` as
//! the guest table says) prints on stdout and its ending becomes the process status: the `smp`
//! guest's debug-exit value V gives (V << 1) | 1, the `poweroff` guest gives 0.

use integration_tests::guests;
use integration_tests::harness::{check, Suite};
use integration_tests::run::{tetra_bin, Scratch};
use std::process::Command;

/// `tetra run --kernel <guest> [--raw ADDR] args...`: (status, stdout, stderr).
pub(crate) fn tetra_run(
    g: &guests::Guest,
    args: &[&str],
) -> Result<(Option<i32>, String, String), String> {
    let dir = Scratch::new(&format!("cli-status-{}", g.name));
    let kernel = g.write_to(&dir.0);
    let mut cmd = Command::new(tetra_bin()?);
    cmd.args(["run", "--kernel"]).arg(&kernel);
    if let Some(spec) = g.boot.strip_prefix("raw:") {
        cmd.args(["--raw", spec]);
    }
    let out = cmd.args(args).output().map_err(|e| e.to_string())?;
    Ok((
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

pub fn register(s: &mut Suite) {
    if let Some(g) = guests::get("smp") {
        s.kvm("cli::raw_guest_debug_exit_status", move || {
            let (code, stdout, stderr) = tetra_run(g, &["--cpus", "4", "--mem", "32"])?;
            for l in ["cpu 1 up", "cpu 3 up", "smp: 4 of 4 vCPUs up"] {
                check(stdout.lines().any(|x| x == l), || {
                    format!("missing {l:?} in:\n{stdout}")
                })?;
            }
            check(code == Some((0x44 << 1) | 1), || {
                format!("exit {code:?}, stderr {stderr}")
            })
        });
    }
    if let Some(g) = guests::get("poweroff") {
        s.kvm("cli::raw_guest_power_off_status_0", move || {
            let (code, stdout, stderr) = tetra_run(g, &[])?;
            check(stdout.contains("poweroff: bye"), || stdout.clone())?;
            check(code == Some(0), || {
                format!("exit {code:?}, stderr {stderr}")
            })
        });
    }
}
