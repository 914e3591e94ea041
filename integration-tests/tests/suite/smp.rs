//! SMP: application processors woken through the LAPIC (INIT/SIPI) report in with IPIs.

use crate::expect;
use integration_tests::guests;
use integration_tests::harness::Suite;
use integration_tests::run::run;
use tetra_host::HostArch;
use vmm_core::GuestExit;

pub fn register(s: &mut Suite) {
    let Some(g) = guests::get("multiboot") else {
        return;
    };
    for n in [2u32, 4] {
        s.kvm(
            &format!("smp::{n}_vcpus_report_through_the_lapic"),
            move || {
                let out = run::<HostArch>(g.config(n, 64))?;
                let summary = format!("smp: {n} of {n} vCPUs up, {} IPIs", n - 1);
                let mut lines = vec![summary];
                lines.extend((1..n).map(|id| format!("AP {id} up")));
                let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
                expect(&out, GuestExit::DebugExit(0x40 + n), &lines)
            },
        );
    }
}
