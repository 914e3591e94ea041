//! Power events, arch-neutral: a guest named `poweroff` prints "poweroff: bye" and powers off
//! (arm64: PSCI SYSTEM_OFF; x86: ACPI S5 through PM1a control at port 0x604; ppc64: RTAS
//! power-off), one named `reset` prints "reset: resetting" and asks for a reset (arm64: PSCI
//! SYSTEM_RESET; x86: 0xFE to the i8042 at port 0x64). tetra ends the VM with the matching
//! ending, status 0.

use crate::expect;
use integration_tests::guests;
use integration_tests::harness::Suite;
use integration_tests::run::run;
use tetra_host::HostArch;
use vmm_core::GuestExit;

pub fn register(s: &mut Suite) {
    for (guest, line, exit) in [
        ("poweroff", "poweroff: bye", GuestExit::PowerOff),
        ("reset", "reset: resetting", GuestExit::Reset),
    ] {
        let Some(g) = guests::get(guest) else {
            continue;
        };
        s.kvm(&format!("power::{guest}"), move || {
            // Two vCPUs: the event ends the VM although the second one never ran.
            let out = run::<HostArch>(g.config(2, 16))?;
            expect(&out, exit.clone(), &[line])?;
            integration_tests::harness::check(exit.exit_code() == 0, || {
                format!("{exit:?} maps to status {}", exit.exit_code())
            })
        });
    }
}
