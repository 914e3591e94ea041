//! The register-state decoder (`VcpuState::decode`, what a `VCPU` section carries): what decodes
//! must encode to the same bytes, and print against every arch's register table
//! (`format::state_text`), ids unknown to the table included.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmm_core::regs::{format, VcpuState};

fuzz_target!(|data: &[u8]| {
    let Ok(state) = VcpuState::decode(data) else {
        return;
    };
    assert_eq!(state.encode(), data, "decode then encode differs");
    for table in [
        arch_x86_64::regs::table(),
        arch_arm64::regs::table(),
        arch_ppc64::regs::table(),
        arch_booke::regs::table(),
    ] {
        let _ = format::state_text(table, &state);
    }
    for r in &state {
        let _ = r.as_u128();
        let _ = (r.id.to_string(), r.id.arch(), r.id.set(), r.id.number());
        let _ =
            vmm_core::regs::id::SysRegEncoding::from_number(r.id.number() as u16).generic_name();
    }
});
