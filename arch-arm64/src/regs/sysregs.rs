//! arm64 system registers tetra names, by encoding.

use vmm_core::regs::id::arm64_sysreg;
use vmm_core::regs::{RegAttrs, RegId};

/// A named system register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysReg {
    /// Lower-case architectural name.
    pub name: &'static str,
    /// The encoding KVM uses for it: (op0, op1, CRn, CRm, op2).
    pub enc: (u8, u8, u8, u8, u8),
    /// Attributes.
    pub attrs: RegAttrs,
    /// The uapi macro for its id, if the headers name it (else `ARM64_SYS_REG(...)` is checked).
    pub uapi: Option<&'static str>,
}

impl SysReg {
    /// Its ONE_REG id.
    pub const fn id(&self) -> RegId {
        let (a, b, c, d, e) = self.enc;
        arm64_sysreg(a, b, c, d, e)
    }

    /// A C expression for its id.
    pub fn uapi(&self) -> String {
        match self.uapi {
            Some(m) => m.to_string(),
            None => {
                let (a, b, c, d, e) = self.enc;
                format!("ARM64_SYS_REG({a}, {b}, {c}, {d}, {e})")
            }
        }
    }
}

const RW: RegAttrs = RegAttrs::RW;
const ID: RegAttrs = RegAttrs::RW.with(RegAttrs::GUEST_RO);
const OPT: RegAttrs = RegAttrs::RW.with(RegAttrs::OPTIONAL);

const fn r(name: &'static str, enc: (u8, u8, u8, u8, u8), attrs: RegAttrs) -> SysReg {
    SysReg {
        name,
        enc,
        attrs,
        uapi: None,
    }
}

const fn k(
    name: &'static str,
    enc: (u8, u8, u8, u8, u8),
    attrs: RegAttrs,
    uapi: &'static str,
) -> SysReg {
    SysReg {
        name,
        enc,
        attrs,
        uapi: Some(uapi),
    }
}

/// The system registers of the static table.
pub static SYSREGS: &[SysReg] = &[
    r("midr_el1", (3, 0, 0, 0, 0), ID),
    r("mpidr_el1", (3, 0, 0, 0, 5), ID),
    r("revidr_el1", (3, 0, 0, 0, 6), ID.with(RegAttrs::OPTIONAL)),
    r("id_aa64pfr0_el1", (3, 0, 0, 4, 0), ID),
    r("id_aa64pfr1_el1", (3, 0, 0, 4, 1), ID),
    r("id_aa64dfr0_el1", (3, 0, 0, 5, 0), ID),
    r("id_aa64isar0_el1", (3, 0, 0, 6, 0), ID),
    r("id_aa64isar1_el1", (3, 0, 0, 6, 1), ID),
    r("id_aa64mmfr0_el1", (3, 0, 0, 7, 0), ID),
    r("id_aa64mmfr1_el1", (3, 0, 0, 7, 1), ID),
    r("id_aa64mmfr2_el1", (3, 0, 0, 7, 2), ID),
    r("sctlr_el1", (3, 0, 1, 0, 0), RW),
    r("actlr_el1", (3, 0, 1, 0, 1), OPT),
    r("cpacr_el1", (3, 0, 1, 0, 2), RW),
    r("ttbr0_el1", (3, 0, 2, 0, 0), RW),
    r("ttbr1_el1", (3, 0, 2, 0, 1), RW),
    r("tcr_el1", (3, 0, 2, 0, 2), RW),
    r("afsr0_el1", (3, 0, 5, 1, 0), RW),
    r("afsr1_el1", (3, 0, 5, 1, 1), RW),
    r("esr_el1", (3, 0, 5, 2, 0), RW),
    r("far_el1", (3, 0, 6, 0, 0), RW),
    r("par_el1", (3, 0, 7, 4, 0), RW),
    r("mair_el1", (3, 0, 10, 2, 0), RW),
    r("amair_el1", (3, 0, 10, 3, 0), RW),
    r("vbar_el1", (3, 0, 12, 0, 0), RW),
    r("contextidr_el1", (3, 0, 13, 0, 1), RW),
    r("tpidr_el1", (3, 0, 13, 0, 4), RW),
    r("cntkctl_el1", (3, 0, 14, 1, 0), RW),
    r("csselr_el1", (3, 2, 0, 0, 0), RW),
    r("tpidr_el0", (3, 3, 13, 0, 2), RW),
    r("tpidrro_el0", (3, 3, 13, 0, 3), RW),
    r("mdscr_el1", (2, 0, 0, 2, 2), RW),
    // The virtual timer, with KVM's swapped ids: CVAL carries CNTVCT's encoding and CNT carries
    // CNTV_CVAL's. Do not "fix" these: the uapi macros are the ABI.
    k(
        "cntv_ctl_el0",
        (3, 3, 14, 3, 1),
        RW,
        "KVM_REG_ARM_TIMER_CTL",
    ),
    k(
        "cntv_cval_el0",
        (3, 3, 14, 0, 2),
        RW,
        "KVM_REG_ARM_TIMER_CVAL",
    ),
    k(
        "cntvct_el0",
        (3, 3, 14, 3, 2),
        RW.with(RegAttrs::VOLATILE),
        "KVM_REG_ARM_TIMER_CNT",
    ),
    // The physical timer (Linux 5.x+), with correct encodings.
    k(
        "cntp_ctl_el0",
        (3, 3, 14, 2, 1),
        OPT,
        "KVM_REG_ARM_PTIMER_CTL",
    ),
    k(
        "cntp_cval_el0",
        (3, 3, 14, 2, 2),
        OPT,
        "KVM_REG_ARM_PTIMER_CVAL",
    ),
    k(
        "cntpct_el0",
        (3, 3, 14, 0, 1),
        OPT.with(RegAttrs::VOLATILE),
        "KVM_REG_ARM_PTIMER_CNT",
    ),
];
