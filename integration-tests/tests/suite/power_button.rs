//! The guest power button (issue 16) on x86's ACPI fixed-feature button: pressed through
//! `PUT /vm/shutdown` (the response checked against docs/api.yaml) and `tetra ctl powerdown`
//! (QMP `system_powerdown` is in `qmp.rs`), the `power_button` guest takes the SCI, clears
//! PWRBTN_STS and powers off (status 0); a guest that never set PWRBTN_EN gets no SCI, only the
//! status bit, and runs on; a guest suspended to RAM wakes with WAK_STS and PWRBTN_STS; a guest
//! restored from a snapshot keeps its PWRBTN_EN and takes the press. Arches without a
//! `power_button` guest skip: arm64 and ppc64 (their buttons are tested with Linux in the lanes'
//! `:pwr` L2 runs), BookE (no button: its 501 is checked in `rest.rs`).

use crate::api_doc::ApiDoc;
use crate::rest_client;
use integration_tests::guests::{self, Guest};
use integration_tests::harness::{check, Suite};
use integration_tests::process::{wait_for_path, Tetra};
use integration_tests::run::Scratch;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TESTS: [&str; 5] = [
    "power_button::put_vm_shutdown_powers_the_guest_off",
    "power_button::pwrbtn_en_survives_a_snapshot_and_a_restore_in_a_new_process",
    "power_button::tetra_ctl_powerdown_powers_the_guest_off",
    "power_button::a_press_without_pwrbtn_en_sets_the_status_and_the_guest_runs_on",
    "power_button::a_press_wakes_a_guest_suspended_to_ram",
];
const WAITING: &str = "power button: waiting\n";
/// PM1 status bits.
const WAK_STS: u64 = 1 << 15;
const RTC_STS: u64 = 1 << 10;
const PWRBTN_STS: u64 = 1 << 8;

/// `g` under tetra with `--api`, `extra` arguments after; once `ready` is on its console.
fn start(g: &Guest, dir: &Path, extra: &[&str], ready: &str) -> Result<(Tetra, PathBuf), String> {
    let kernel = g.write_to(dir).display().to_string();
    let api = dir.join("api.sock");
    let a = api.display().to_string();
    let mut args = vec!["run", "--kernel", &kernel, "--api", &a];
    if let Some(raw) = g.boot.strip_prefix("raw:") {
        args.extend(["--raw", raw]);
    }
    args.extend(extra);
    let mut vm = Tetra::spawn(&args)?;
    wait_for_path(&api)?;
    vm.wait_for(ready, false)?;
    Ok((vm, api))
}

/// `PUT /vm/shutdown`: 200 with the state `want`, as the document says.
fn press(api: &Path, want: &str) -> Result<(), String> {
    let doc = ApiDoc::load()?;
    let r = rest_client::request(api, "PUT", "/vm/shutdown", None)?;
    doc.check_response("PUT", "/vm/shutdown", r.status, &r.body)?;
    check(r.status == 200 && r.body["state"] == want, || {
        format!(
            "PUT /vm/shutdown: {} {} (wanted 200, {want})",
            r.status, r.body
        )
    })
}

/// The guest powers off by itself after the press: status 0, its goodbye on the console.
fn powers_off(vm: Tetra) -> Result<(), String> {
    let (st, out, err) = vm.wait()?;
    check(st.code() == Some(0), || {
        format!("tetra ended with {st}; stdout:\n{out}\nstderr:\n{err}")
    })?;
    check(
        out.contains("power button pressed\n") && out.contains("power button: bye\n"),
        || format!("stdout:\n{out}"),
    )
}

pub fn register(s: &mut Suite) {
    let Some(g) = guests::get("power_button") else {
        for t in TESTS {
            s.skip(
                t,
                "kvm",
                "no power_button test guest for this arch (arm64's gpio-keys and ppc64's EPOW button are tested by the lanes' :pwr L2 runs)",
            );
        }
        return;
    };
    s.kvm(TESTS[0], move || {
        let dir = Scratch::new("power-button-rest");
        let (vm, api) = start(g, &dir.0, &[], WAITING)?;
        press(&api, "running")?;
        powers_off(vm)
    });
    s.kvm(TESTS[1], move || {
        // PWRBTN_EN lives in the PM1A section: a restored guest takes the press as the first
        // one would have.
        let dir = Scratch::new("power-button-snapshot");
        let (mut first, api) = start(g, &dir.0, &[], WAITING)?;
        let a = api.display().to_string();
        let snap = dir.0.join("vm.snap").display().to_string();
        let (st, out, err) =
            integration_tests::process::tetra(&["ctl", "--api", &a, "snapshot", &snap])?;
        check(st.success(), || format!("snapshot: {st} {out} {err}"))?;
        first.kill();
        let b = dir.0.join("restored.sock");
        let bs = b.display().to_string();
        let restored = Tetra::spawn(&["run", "--restore", &snap, "--api", &bs])?;
        wait_for_path(&b)?;
        press(&b, "running")?;
        powers_off(restored)
    });
    s.kvm(TESTS[2], move || {
        let dir = Scratch::new("power-button-ctl");
        let (vm, api) = start(g, &dir.0, &[], WAITING)?;
        let a = api.display().to_string();
        let (st, out, err) = integration_tests::process::tetra(&["ctl", "--api", &a, "powerdown"])?;
        check(st.code() == Some(0) && out.trim() == "ok: pressed", || {
            format!("tetra ctl powerdown: {st}; stdout: {out}; stderr: {err}")
        })?;
        powers_off(vm)
    });
    s.kvm(TESTS[3], move || {
        let dir = Scratch::new("power-button-not-enabled");
        let ready = "power button: waiting, not enabled\n";
        let (mut vm, api) = start(g, &dir.0, &["--cmdline", "not-enabled"], ready)?;
        press(&api, "running")?;
        vm.wait_for("power button: status set, no SCI\n", false)?;
        // Nothing powers it off: still running a while later.
        std::thread::sleep(Duration::from_millis(300));
        check(vm.running(), || {
            format!("it ended; stdout:\n{}", vm.stdout())
        })?;
        let status = vmm_core::control::send(&api, "status", &mut |_| {})?;
        check(status == "running", || status.clone())?;
        let out = vm.stdout();
        check(!out.contains("SCI without"), || format!("stdout:\n{out}"))?;
        vm.kill();
        Ok(())
    });
    let Some(sleep) = guests::get("sleep") else {
        s.skip(TESTS[4], "kvm", "no `sleep` guest on this arch");
        return;
    };
    s.kvm(TESTS[4], move || {
        // The sleep guest arms its RTC alarm 2 s ahead; the press comes first and wakes it.
        let dir = Scratch::new("power-button-s3");
        let (vm, api) = start(sleep, &dir.0, &[], "sleep: suspending at t0=")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let status = vmm_core::control::send(&api, "status", &mut |_| {})?;
            if status == "suspended" {
                break;
            }
            check(Instant::now() < deadline, || {
                format!("never suspended: {status}; stdout:\n{}", vm.stdout())
            })?;
            std::thread::sleep(Duration::from_millis(5));
        }
        let pressed = Instant::now();
        press(&api, "running")?;
        let (st, out, err) = vm.wait()?;
        check(st.code() == Some(0), || {
            format!("tetra ended with {st}; stdout:\n{out}\nstderr:\n{err}")
        })?;
        let sts = out
            .split("pm1_sts=")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| format!("no wake line; stdout:\n{out}"))?;
        check(
            sts & (WAK_STS | PWRBTN_STS | RTC_STS) == WAK_STS | PWRBTN_STS,
            || {
                format!(
                    "PM1 status {sts:#x} at the wake ({:?} after the press), expected WAK_STS|PWRBTN_STS without RTC_STS",
                    pressed.elapsed()
                )
            },
        )
    });
}
