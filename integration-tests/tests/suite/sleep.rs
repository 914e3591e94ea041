//! ACPI S3 with an RTC-alarm wake (x86; issue 18 item 5). The guest named `sleep` writes its FACS
//! waking vector, arms the RTC alarm two seconds ahead (AIE, PM1 RTC_EN) and writes SLP_TYP=S3 |
//! SLP_EN; woken, it starts again in real mode at its vector and prints what the wake left: PM1
//! status (WAK_STS and RTC_STS), RTC register C (IRQF and AF), the RTC seconds before and after,
//! and whether a word it wrote before sleeping is still there. With a kernel command line it
//! writes vector 0 instead, which tetra takes as a reset. The host can wake it before its alarm
//! (`Vmm::wake_up`). An arch without the guest skips these.

use integration_tests::guests;
use integration_tests::harness::{check, Suite};
use integration_tests::run::{run, timeout, Scratch, TestVm};
use std::time::{Duration, Instant};
use tetra_host::HostArch;
use vmm_core::config::OnTripleFault;
use vmm_core::GuestExit;

const TESTS: [&str; 5] = [
    "sleep::s3_then_the_rtc_alarm_wakes_the_guest_at_its_waking_vector",
    "sleep::the_alarm_wakes_a_guest_whose_host_polls_between_pauses",
    "sleep::s3_with_2_vcpus",
    "sleep::a_zero_waking_vector_makes_the_wake_a_reset",
    "sleep::the_host_wakes_a_suspended_guest_before_its_alarm",
];
const SUSPENDING: &str = "sleep: suspending at t0=";
const WOKE: &str = "sleep: woke at the waking vector: ";
/// PM1 status WAK_STS and RTC_STS.
const WAK_STS: u64 = 1 << 15;
const RTC_STS: u64 = 1 << 10;
/// RTC register C: IRQF and AF.
const C_IRQF_AF: u64 = 0x80 | 0x20;

/// The `key=N` values of the wake line.
fn wake_fields(console: &str) -> Result<Vec<(String, String)>, String> {
    let line = console
        .lines()
        .find_map(|l| l.strip_prefix(WOKE))
        .ok_or_else(|| format!("no wake line; console:\n{console}"))?;
    Ok(line
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

/// Checks the wake line of an alarm's wake: WAK_STS and RTC_STS, IRQF and AF, at least a second
/// of RTC time asleep (and not minutes), RAM kept.
fn check_wake(console: &str) -> Result<(), String> {
    check_wake_as(console, WAK_STS | RTC_STS, C_IRQF_AF, 1..=5)
}

/// Checks the wake line: PM1 status `want_sts` (of WAK_STS and RTC_STS), RTC register C
/// `want_c`, RTC seconds asleep within `asleep`, RAM kept.
fn check_wake_as(
    console: &str,
    want_sts: u64,
    want_c: u64,
    asleep: std::ops::RangeInclusive<u64>,
) -> Result<(), String> {
    let f = wake_fields(console)?;
    let get = |k: &str| -> Result<u64, String> {
        f.iter()
            .find(|(key, _)| key == k)
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| format!("no {k} in the wake line; console:\n{console}"))
    };
    let sts = get("pm1_sts")?;
    check(sts & (WAK_STS | RTC_STS) == want_sts, || {
        format!("PM1 status {sts:#x}, expected WAK_STS|RTC_STS bits {want_sts:#x}")
    })?;
    let c = get("rtc_c")?;
    check(c == want_c, || {
        format!("RTC register C {c:#x}, not {want_c:#x}")
    })?;
    let (t0, t1) = (get("t0")?, get("t1")?);
    let slept = (t1 + 60 - t0) % 60;
    check(asleep.contains(&slept), || {
        format!("RTC seconds {t0} -> {t1}: asleep {slept} s, not within {asleep:?}")
    })?;
    check(f.iter().any(|(k, v)| k == "marker" && v == "kept"), || {
        format!("RAM did not survive the sleep; console:\n{console}")
    })
}

/// Runs the VM's event loop until its console shows `text`; the guest may end meanwhile (its
/// ending stays for [`TestVm::finish`]).
fn until_console(vm: &mut TestVm<HostArch>, text: &str) -> Result<(), String> {
    let deadline = Instant::now() + timeout();
    while !vm.console().contains(text) {
        if Instant::now() > deadline {
            return Err(format!("no {text:?}; console:\n{}", vm.console()));
        }
        if let Ok(Some(_)) = vm.vmm.wait(Some(Duration::from_millis(2))) {
            return check(vm.console().contains(text), || {
                format!("ended without {text:?}; console:\n{}", vm.console())
            });
        }
    }
    Ok(())
}

/// Runs the VM's event loop until the guest is asleep.
fn until_asleep(vm: &mut TestVm<HostArch>) -> Result<(), String> {
    let deadline = Instant::now() + timeout();
    while !vm.vmm.is_asleep() {
        if Instant::now() > deadline {
            return Err(format!("never suspended; console:\n{}", vm.console()));
        }
        if let Ok(Some(end)) = vm.vmm.wait(Some(Duration::from_millis(2))) {
            return Err(format!(
                "ended ({end:?}) instead; console:\n{}",
                vm.console()
            ));
        }
    }
    Ok(())
}

pub fn register(s: &mut Suite) {
    let Some(g) = guests::get("sleep") else {
        for t in TESTS {
            s.skip(t, "kvm", "this arch has no ACPI S3 (no `sleep` guest)");
        }
        return;
    };
    s.kvm(TESTS[0], move || {
        let mut vm = TestVm::<HostArch>::new(g.config(1, 16))?;
        vm.vmm.start().map_err(|e| e.to_string())?;
        until_console(&mut vm, SUSPENDING)?;
        let suspended = Instant::now();
        until_asleep(&mut vm)?;
        // Asleep, the vCPU is parked: its KVM_RUN returns do not climb, although the guest
        // polls PM1 status (an I/O exit each time) after its S3 write, as Linux does.
        let runs = |vm: &TestVm<HostArch>| vm.vmm.vcpu_activity().iter().map(|a| a.runs).sum();
        let before: u64 = runs(&vm);
        let r = vm.vmm.wait(Some(Duration::from_millis(300)));
        check(matches!(r, Ok(None)), || format!("{r:?} while asleep"))?;
        check(vm.vmm.is_asleep(), || "woke within 0.3 s".into())?;
        let after: u64 = runs(&vm);
        check(after == before, || {
            format!("{} KVM_RUN returns while asleep", after - before)
        })?;
        // No snapshot, no resume of a sleeping guest; its status says so.
        let dir = Scratch::new("sleep-snapshot");
        let snap = vm.vmm.snapshot(&dir.0.join("snap"));
        check(snap.is_err(), || {
            "a snapshot of a suspended VM was taken".into()
        })?;
        check(vm.vmm.resume().is_err(), || "a suspended VM resumed".into())?;
        until_console(&mut vm, WOKE)?;
        let slept = suspended.elapsed();
        check(slept >= Duration::from_millis(900), || {
            format!("woke {slept:?} after suspending, before the alarm")
        })?;
        check(vm.vmm.wakes() == 1 && vm.vmm.resets() == 0, || {
            format!("{} wakes, {} resets", vm.vmm.wakes(), vm.vmm.resets())
        })?;
        let out = vm.finish()?;
        check(out.exit == GuestExit::PowerOff, || {
            format!("{:?}", out.exit)
        })?;
        check_wake(&out.console)
    });
    s.kvm(TESTS[1], move || {
        // The host runs the event loop 1 ms at a time with 250 ms between: the alarm's second
        // begins while the loop is not running (CI once lost a wake this way, the alarm looked
        // up again inside its own second and found only the next minute's). The wake comes on
        // the first run after it, late by at most the pause.
        let mut vm = TestVm::<HostArch>::new(g.config(1, 16))?;
        vm.vmm.start().map_err(|e| e.to_string())?;
        until_console(&mut vm, SUSPENDING)?;
        until_asleep(&mut vm)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while vm.vmm.is_asleep() {
            check(Instant::now() < deadline, || {
                "not woken 10 s after suspending, the alarm 2 s ahead".into()
            })?;
            std::thread::sleep(Duration::from_millis(250));
            // Woken within this run, the guest may power off in it too (it is quick).
            match vm.vmm.wait(Some(Duration::from_millis(1))) {
                Ok(None) => {}
                Ok(Some(_)) if !vm.vmm.is_asleep() => break,
                r => return Err(format!("{r:?} while asleep")),
            }
        }
        let out = vm.finish()?;
        check(out.exit == GuestExit::PowerOff, || {
            format!("{:?}", out.exit)
        })?;
        check_wake(&out.console)
    });
    s.kvm(TESTS[2], move || {
        // The secondary never started: the wake puts it back to waiting for its SIPI, and the
        // boot vCPU alone resumes.
        let out = run::<HostArch>(g.config(2, 16))?;
        check(out.exit == GuestExit::PowerOff, || {
            format!("{:?}", out.exit)
        })?;
        check_wake(&out.console)
    });
    s.kvm(TESTS[4], move || {
        // Vmm::wake_up (a host's system_wakeup): the guest resumes at its vector at once, with
        // WAK_STS alone (no RTC_STS, register C clear: the alarm did not fire).
        let mut vm = TestVm::<HostArch>::new(g.config(1, 16))?;
        vm.vmm.start().map_err(|e| e.to_string())?;
        check(vm.vmm.wake_up().is_err(), || "woke a running VM".into())?;
        until_console(&mut vm, SUSPENDING)?;
        until_asleep(&mut vm)?;
        vm.vmm.wake_up().map_err(|e| e.to_string())?;
        check(!vm.vmm.is_asleep() && vm.vmm.wakes() == 1, || {
            format!(
                "asleep {} after a wake, {} wakes",
                vm.vmm.is_asleep(),
                vm.vmm.wakes()
            )
        })?;
        let out = vm.finish()?;
        check(out.exit == GuestExit::PowerOff, || {
            format!("{:?}", out.exit)
        })?;
        check_wake_as(&out.console, WAK_STS, 0, 0..=1)
    });
    s.kvm(TESTS[3], move || {
        // Vector 0 and no --on-triple-fault reset: the VM ends as a guest reset does (status 0).
        let mut c = g.config(1, 16);
        c.cmdline = "novector".into();
        let out = run::<HostArch>(c.clone())?;
        check(out.exit == GuestExit::Reset, || {
            format!("{:?}; console:\n{}", out.exit, out.console)
        })?;
        check(
            out.console.contains(SUSPENDING) && !out.console.contains(WOKE),
            || format!("console:\n{}", out.console),
        )?;
        // With --on-triple-fault reset: a machine reset, counted as one (and not as a wake);
        // the guest boots again and powers off.
        c.on_triple_fault = OnTripleFault::Reset;
        let mut vm = TestVm::<HostArch>::new(c)?;
        vm.vmm.start().map_err(|e| e.to_string())?;
        until_console(&mut vm, "sleep: boot 2")?;
        check(vm.vmm.resets() == 1 && vm.vmm.wakes() == 0, || {
            format!("{} resets, {} wakes", vm.vmm.resets(), vm.vmm.wakes())
        })?;
        let out = vm.finish()?;
        check(
            out.exit == GuestExit::PowerOff && !out.console.contains(WOKE),
            || format!("{:?}; console:\n{}", out.exit, out.console),
        )
    });
}
