//! SMP, arch-neutral: a guest named `smp` starts every secondary vCPU the arch's way (arm64: PSCI
//! CPU_ON through HVC; x86: INIT, SIPI, SIPI through the LAPIC; ppc64: RTAS start-cpu), each
//! secondary prints "cpu K up" itself, and the boot vCPU prints
//! "smp: N of N vCPUs up" and ends with debug-exit status 0x40 + N.

use crate::expect;
use integration_tests::guests;
use integration_tests::harness::Suite;
use integration_tests::run::run;
use tetra_host::HostArch;
use vmm_core::GuestExit;

pub fn register(s: &mut Suite) {
    let Some(g) = guests::get("smp") else {
        return;
    };
    for n in [1u32, 2, 4] {
        s.kvm(&format!("smp::{n}_vcpus_report_in"), move || {
            let out = run::<HostArch>(g.config(n, 16))?;
            let mut lines = vec![format!("smp: {n} of {n} vCPUs up")];
            lines.extend((1..n).map(|k| format!("cpu {k} up")));
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            expect(&out, GuestExit::DebugExit(0x40 + n), &lines)?;
            // Exactly the secondaries reported: none twice, none beyond N.
            let reports = out
                .console
                .lines()
                .filter(|l| l.starts_with("cpu ") && l.ends_with(" up"))
                .count();
            integration_tests::harness::check(reports == n as usize - 1, || {
                format!("{reports} reports from {n} vCPUs:\n{}", out.console)
            })
        });
    }
}
