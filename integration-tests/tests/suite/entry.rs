//! Entry state, arch-neutral: a guest named `entry` checks the entry state its arch documents
//! (arm64: x0 = the device tree, x1-x3 = 0, EL1h with DAIF masked, MMU off; x86_64, a vmlinux-style
//! ELF64 on the Linux 64-bit boot protocol: long mode with paging, RFLAGS = 0x2, CS = 0x10 and
//! DS/ES/SS = 0x18 flat, RSI = boot_params with its e820 map, the boot vCPU is the BSP, LAPIC id
//! 0), prints "entry: ok" and ends with debug-exit status 0x10.

use crate::expect;
use integration_tests::guests;
use integration_tests::harness::Suite;
use integration_tests::run::run;
use tetra_host::HostArch;
use vmm_core::GuestExit;

pub fn register(s: &mut Suite) {
    let Some(g) = guests::get("entry") else {
        return;
    };
    for (cpus, mem) in [(1u32, 16u64), (2, 64)] {
        s.kvm(&format!("entry::state_{cpus}_vcpus_{mem}_mib"), move || {
            let out = run::<HostArch>(g.config(cpus, mem))?;
            expect(&out, GuestExit::DebugExit(0x10), &["entry: ok"])
        });
    }
}
