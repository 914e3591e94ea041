//! The arm64 register table: core registers (`struct kvm_regs` by offset), FP/SIMD, system
//! registers by encoding, timer and firmware pseudo-registers, all real ONE_REG ids.
//!
//! On arm64 the authoritative list of a vCPU's registers is `KVM_GET_REG_LIST`: the static
//! [`table`] names the registers tetra knows, and [`table_from_reg_list`] builds the table of a
//! running vCPU from the kernel's list, naming every id ([`reg_name`]), so a save covers exactly
//! what KVM reports.
//!
//! The virtual-timer ids are a trap: `KVM_REG_ARM_TIMER_CVAL` and `KVM_REG_ARM_TIMER_CNT` were
//! defined with each other's encodings and that is now ABI (see the warning in
//! `arch/arm64/include/uapi/asm/kvm.h`). The id encoded as (3, 3, 14, 0, 2), architecturally
//! CNTVCT_EL0, is KVM's CNTV_CVAL_EL0, and (3, 3, 14, 3, 2) is KVM's CNTVCT_EL0. The table uses
//! KVM's ids under the architectural names, and the ABI check compares them with the macros.

mod decode;
mod sysregs;
mod vcpu;

pub use decode::{core_name, reg_name};
pub use sysregs::{SysReg, SYSREGS};
pub use vcpu::{get_u64, set_u64, summary, OneRegVcpu, MPIDR_EL1};

use std::sync::LazyLock;
use vmm_core::regs::abi::{table_facts, AbiFact};
use vmm_core::regs::id::{
    arm64_core, ARM64_SET_CORE, ARM64_SET_DEMUX, ARM64_SET_FW, ARM64_SET_FW_FEAT, ARM64_SET_SVE,
    ARM64_SET_SYSREG,
};
use vmm_core::regs::{
    RegArch, RegAttrs, RegDesc, RegId, RegSetInfo, RegSize, RegTable, TableError,
};

/// The arm64 sets (the ONE_REG groups).
pub static SETS: [RegSetInfo; 6] = [
    RegSetInfo {
        id: ARM64_SET_CORE,
        name: "core",
    },
    RegSetInfo {
        id: ARM64_SET_DEMUX,
        name: "demux",
    },
    RegSetInfo {
        id: ARM64_SET_SYSREG,
        name: "sysreg",
    },
    RegSetInfo {
        id: ARM64_SET_FW,
        name: "fw",
    },
    RegSetInfo {
        id: ARM64_SET_SVE,
        name: "sve",
    },
    RegSetInfo {
        id: ARM64_SET_FW_FEAT,
        name: "fw_feat",
    },
];

/// Offsets in 32-bit words into `struct kvm_regs` (`KVM_REG_ARM_CORE_REG`).
pub mod core {
    /// x0; xN is at `X0 + 2 * N`.
    pub const X0: u16 = 0;
    /// sp (SP_EL0), `regs.sp`.
    pub const SP: u16 = 62;
    /// pc, `regs.pc`.
    pub const PC: u16 = 64;
    /// pstate, `regs.pstate`.
    pub const PSTATE: u16 = 66;
    /// sp_el1.
    pub const SP_EL1: u16 = 68;
    /// elr_el1.
    pub const ELR_EL1: u16 = 70;
    /// `spsr[0]` (`KVM_SPSR_EL1`); `spsr[i]` is at `SPSR + 2 * i`.
    pub const SPSR: u16 = 72;
    /// v0 (`fp_regs.vregs[0]`, U128); vN is at `V0 + 4 * N`.
    pub const V0: u16 = 84;
    /// fpsr (`fp_regs.fpsr`, U32).
    pub const FPSR: u16 = 212;
    /// fpcr (`fp_regs.fpcr`, U32).
    pub const FPCR: u16 = 213;
    /// The spsr bank, by `KVM_SPSR_*` index.
    pub const SPSR_NAMES: [(&str, &str); 5] = [
        ("spsr_el1", "KVM_SPSR_EL1"),
        ("spsr_abt", "KVM_SPSR_ABT"),
        ("spsr_und", "KVM_SPSR_UND"),
        ("spsr_irq", "KVM_SPSR_IRQ"),
        ("spsr_fiq", "KVM_SPSR_FIQ"),
    ];
}

fn core_uapi(size: &str, member: &str) -> String {
    format!(
        "KVM_REG_ARM64 | KVM_REG_SIZE_{size} | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG({member})"
    )
}

/// The firmware pseudo-registers: (group, number, name, uapi macro, attributes).
pub static FW_REGS: &[(u16, u16, &str, &str, RegAttrs)] = &[
    (
        ARM64_SET_FW,
        0,
        "psci_version",
        "KVM_REG_ARM_PSCI_VERSION",
        RegAttrs::RW,
    ),
    (
        ARM64_SET_FW,
        1,
        "smccc_arch_workaround_1",
        "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1",
        RegAttrs::RW.with(RegAttrs::OPTIONAL),
    ),
    (
        ARM64_SET_FW,
        2,
        "smccc_arch_workaround_2",
        "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2",
        RegAttrs::RW.with(RegAttrs::OPTIONAL),
    ),
    (
        ARM64_SET_FW,
        3,
        "smccc_arch_workaround_3",
        "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_3",
        RegAttrs::RW.with(RegAttrs::OPTIONAL),
    ),
    (
        ARM64_SET_FW_FEAT,
        0,
        "std_bmap",
        "KVM_REG_ARM_STD_BMAP",
        RegAttrs::RW.with(RegAttrs::OPTIONAL),
    ),
    (
        ARM64_SET_FW_FEAT,
        1,
        "std_hyp_bmap",
        "KVM_REG_ARM_STD_HYP_BMAP",
        RegAttrs::RW.with(RegAttrs::OPTIONAL),
    ),
    (
        ARM64_SET_FW_FEAT,
        2,
        "vendor_hyp_bmap",
        "KVM_REG_ARM_VENDOR_HYP_BMAP",
        RegAttrs::RW.with(RegAttrs::OPTIONAL),
    ),
];

fn build() -> Result<RegTable, TableError> {
    let mut t = RegTable::new("arm64", RegArch::Arm64, &SETS, &[]);
    let rw = RegAttrs::RW;
    for i in 0..31u16 {
        t.push(RegDesc::one_reg(
            format!("x{i}"),
            arm64_core(core::X0 + 2 * i, RegSize::U64),
            rw,
            core_uapi("U64", &format!("regs.regs[{i}]")),
        ))?;
    }
    for (name, off, member) in [
        ("sp", core::SP, "regs.sp"),
        ("pc", core::PC, "regs.pc"),
        ("pstate", core::PSTATE, "regs.pstate"),
        ("sp_el1", core::SP_EL1, "sp_el1"),
        ("elr_el1", core::ELR_EL1, "elr_el1"),
    ] {
        t.push(RegDesc::one_reg(
            name,
            arm64_core(off, RegSize::U64),
            rw,
            core_uapi("U64", member),
        ))?;
    }
    for (i, (name, idx)) in core::SPSR_NAMES.iter().enumerate() {
        t.push(RegDesc::one_reg(
            *name,
            arm64_core(core::SPSR + 2 * i as u16, RegSize::U64),
            rw,
            core_uapi("U64", &format!("spsr[{idx}]")),
        ))?;
    }
    for i in 0..32u16 {
        t.push(RegDesc::one_reg(
            format!("v{i}"),
            arm64_core(core::V0 + 4 * i, RegSize::U128),
            rw,
            core_uapi("U128", &format!("fp_regs.vregs[{i}]")),
        ))?;
    }
    t.push(RegDesc::one_reg(
        "fpsr",
        arm64_core(core::FPSR, RegSize::U32),
        rw,
        core_uapi("U32", "fp_regs.fpsr"),
    ))?;
    t.push(RegDesc::one_reg(
        "fpcr",
        arm64_core(core::FPCR, RegSize::U32),
        rw,
        core_uapi("U32", "fp_regs.fpcr"),
    ))?;
    for s in SYSREGS {
        t.push(RegDesc::one_reg(s.name, s.id(), s.attrs, s.uapi()))?;
    }
    for &(group, n, name, uapi, attrs) in FW_REGS {
        t.push(RegDesc::one_reg(
            name,
            RegId::new(RegArch::Arm64, group, n as u32, RegSize::U64),
            attrs,
            uapi,
        ))?;
    }
    Ok(t)
}

static TABLE: LazyLock<RegTable> =
    LazyLock::new(|| build().expect("the arm64 register table is consistent (unit-tested)"));

/// The static arm64 register table (the registers tetra names; a vCPU's real list comes from
/// `KVM_GET_REG_LIST`, see [`table_from_reg_list`]).
pub fn table() -> &'static RegTable {
    &TABLE
}

/// The attributes tetra gives an id it does not know by name.
fn default_attrs(id: RegId) -> RegAttrs {
    match id.set() {
        // The ID register space (op0 = 3, op1 = 0, CRn = 0) and CCSIDR: the guest only reads
        // them; the host may set them (to the same value on older kernels).
        ARM64_SET_SYSREG if id.number() & 0xff80 == 0xc000 => RegAttrs::RW.with(RegAttrs::GUEST_RO),
        ARM64_SET_DEMUX => RegAttrs::RW.with(RegAttrs::GUEST_RO),
        _ => RegAttrs::RW,
    }
}

/// A vCPU's table built from `KVM_GET_REG_LIST`: the registers of `ids` in the kernel's order,
/// with tetra's names and attributes where it knows them and decoded names ([`reg_name`])
/// elsewhere. Ids of groups tetra does not know (or of another arch) are returned apart: they
/// cannot be saved.
pub fn table_from_reg_list(ids: &[u64]) -> Result<(RegTable, Vec<RegId>), TableError> {
    let mut t = RegTable::new("arm64", RegArch::Arm64, &SETS, &[]);
    let mut unknown = Vec::new();
    for &raw in ids {
        let id = RegId::from_raw(raw);
        if id.arch() != Some(RegArch::Arm64) || !SETS.iter().any(|s| s.id == id.set()) {
            unknown.push(id);
            continue;
        }
        if t.contains(id) {
            continue;
        }
        let desc = match table().get(id) {
            Some(d) => d.clone(),
            None => {
                let mut name = reg_name(id);
                if t.by_name(&name).is_some() {
                    name = format!("{name}_{}", id.size().name().to_lowercase());
                }
                RegDesc::one_reg(name, id, default_attrs(id), "")
            }
        };
        t.push(desc)?;
    }
    Ok((t, unknown))
}

/// The ABI facts of the arm64 table: every named id against its uapi macro or expression.
pub fn abi_facts() -> Vec<AbiFact> {
    table_facts(table())
}

#[cfg(test)]
mod tests;
