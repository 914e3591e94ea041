//! x86 MSRs: a curated set in the static table, and the run-time ones from
//! `KVM_GET_MSR_INDEX_LIST`.
//!
//! MSR indices are architectural (Intel SDM, AMD APM, KVM's `kvm_para.h`), not uapi constants of
//! `asm/kvm.h`, so the ABI check cannot compare them with a header; the ids are checked against
//! kvm-bindings' `kvm_x86_reg_msr` instead.

use super::{msr_id, BLOCK_MSRS};
use vmm_core::regs::{RegAttrs, RegDesc, RegTable, TableError};

const RW: RegAttrs = RegAttrs::RW;
const OPT: RegAttrs = RegAttrs::RW.with(RegAttrs::OPTIONAL);
const ALIAS: RegAttrs = RegAttrs::RW.with(RegAttrs::ALIAS);

/// The MSRs of the static table: (index, name, attributes). EFER, FS/GS base and the APIC base
/// are aliases of `struct kvm_sregs` fields.
pub static CURATED_MSRS: &[(u32, &str, RegAttrs)] = &[
    (0x10, "tsc", RW.with(RegAttrs::VOLATILE)),
    (0x1b, "apic_base_msr", ALIAS),
    (0x3a, "feature_control", OPT),
    (0x3b, "tsc_adjust", OPT),
    (0x48, "spec_ctrl", OPT),
    (0x174, "sysenter_cs", RW),
    (0x175, "sysenter_esp", RW),
    (0x176, "sysenter_eip", RW),
    (0x17a, "mcg_status", OPT),
    (0x1a0, "misc_enable", OPT),
    (0x277, "pat", RW),
    (0x2ff, "mtrr_def_type", OPT),
    (0x6e0, "tsc_deadline", OPT.with(RegAttrs::VOLATILE)),
    (0xda0, "xss", OPT),
    (0xc000_0080, "efer_msr", ALIAS),
    (0xc000_0081, "star", RW),
    (0xc000_0082, "lstar", RW),
    (0xc000_0083, "cstar", RW),
    (0xc000_0084, "sfmask", RW),
    (0xc000_0100, "fs_base_msr", ALIAS),
    (0xc000_0101, "gs_base_msr", ALIAS),
    (0xc000_0102, "kernel_gs_base", RW),
    (0xc000_0103, "tsc_aux", OPT),
    (0x4b56_4d01, "kvm_system_time", OPT),
    (0x4b56_4d02, "kvm_async_pf_en", OPT),
    (0x4b56_4d03, "kvm_steal_time", OPT),
    (0x4b56_4d04, "kvm_pv_eoi_en", OPT),
    (0x4b56_4d05, "kvm_poll_control", OPT),
    (0x4b56_4d06, "kvm_async_pf_int", OPT),
];

/// MSRs whose write is an action rather than state: writing the kvmclock wall-clock MSR makes KVM
/// write the wall clock into guest memory at the written address, so restoring it (even as 0)
/// would clobber guest memory. Readable, never restored.
const ACTION_MSRS: &[(u32, &str)] = &[
    (0x11, "kvm_wall_clock_old"),
    (0x4b56_4d00, "kvm_wall_clock"),
];

/// Counters KVM lists when its Hyper-V emulation is built in (Debian's kernels): they advance on
/// their own, so a value read back never equals the one saved. Saved and restored, never compared.
const VOLATILE_MSRS: &[(u32, &str)] = &[
    (0x4000_0010, "hv_vp_runtime"),
    (0x4000_0020, "hv_time_ref_count"),
];

/// Names for MSRs KVM commonly lists that the curated set leaves out.
const KNOWN: &[(u32, &str)] = &[
    (0x12, "kvm_system_time_old"),
    (0xe7, "mperf"),
    (0xe8, "aperf"),
    (0x10a, "arch_capabilities"),
    (0x345, "perf_capabilities"),
    (0x4b56_4d07, "kvm_async_pf_ack"),
    (0xc001_0015, "amd_hwcr"),
];

/// The name tetra gives MSR `index`: a known name, else `msr_<index>`.
pub fn msr_name(index: u32) -> std::borrow::Cow<'static, str> {
    CURATED_MSRS
        .iter()
        .map(|&(i, n, _)| (i, n))
        .chain(ACTION_MSRS.iter().copied())
        .chain(VOLATILE_MSRS.iter().copied())
        .chain(KNOWN.iter().copied())
        .find(|&(i, _)| i == index)
        .map_or_else(|| format!("msr_{index:#x}").into(), |(_, n)| n.into())
}

/// Adds the MSRs of `KVM_GET_MSR_INDEX_LIST` that the table lacks: optional read-write registers
/// (a vCPU may still refuse some: a save skips those), except the action MSRs (read-only); the
/// Hyper-V counters are also volatile.
pub fn add_msrs(table: &mut RegTable, indices: &[u32]) -> Result<(), TableError> {
    for &index in indices {
        let id = msr_id(index);
        if table.contains(id) {
            continue;
        }
        let attrs = if ACTION_MSRS.iter().any(|&(i, _)| i == index) {
            RegAttrs::RO
        } else if VOLATILE_MSRS.iter().any(|&(i, _)| i == index) {
            OPT.with(RegAttrs::VOLATILE)
        } else {
            OPT
        };
        table.push(RegDesc::indexed(msr_name(index), id, attrs, BLOCK_MSRS))?;
    }
    Ok(())
}
