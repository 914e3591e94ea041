//! PowerPC ONE_REG ids (`KVM_REG_PPC_*` in `arch/powerpc/include/uapi/asm/kvm.h`), shared by the
//! Book3S and BookE register tables, and a decoder that names any PowerPC id.
//!
//! # One number, two registers
//!
//! The BookE MMU registers and the Book3S interrupt-controller state were given the same numbers:
//! 0x8c is `KVM_REG_PPC_MAS0` (U32) on BookE and `KVM_REG_PPC_ICP_STATE` (U64, XICS) on Book3S,
//! 0x8d is `KVM_REG_PPC_MAS1` (U32) and `KVM_REG_PPC_VP_STATE` (U128, XIVE). Likewise 0xb5 is
//! `LPCR` as U32 and `LPCR_64` as U64 (the same register at two widths). A ONE_REG id includes the
//! size, so the full ids differ and [`name`] tells them apart by size; code that looks at the
//! number alone must not. [`OVERLOADED`] lists these pairs; the Book3S table holds only
//! ICP_STATE/VP_STATE and the BookE table only MAS0/MAS1.

use vmm_core::regs::{RegArch, RegAttrs, RegDesc, RegId, RegSize, RegTable, TableError};

const fn ppc(size: RegSize, number: u32) -> RegId {
    RegId::new(RegArch::Ppc, 0, number, size)
}

/// `KVM_REG_PPC_TM`: the flag of transactional-memory checkpointed registers.
pub const TM: u32 = 0x8000_0000;

/// `KVM_REG_PPC_HIOR`.
pub const HIOR: RegId = ppc(RegSize::U64, 0x1);
/// `KVM_REG_PPC_IAC1`.
pub const IAC1: RegId = ppc(RegSize::U64, 0x2);
/// `KVM_REG_PPC_IAC2`.
pub const IAC2: RegId = ppc(RegSize::U64, 0x3);
/// `KVM_REG_PPC_IAC3`.
pub const IAC3: RegId = ppc(RegSize::U64, 0x4);
/// `KVM_REG_PPC_IAC4`.
pub const IAC4: RegId = ppc(RegSize::U64, 0x5);
/// `KVM_REG_PPC_DAC1`.
pub const DAC1: RegId = ppc(RegSize::U64, 0x6);
/// `KVM_REG_PPC_DAC2`.
pub const DAC2: RegId = ppc(RegSize::U64, 0x7);
/// `KVM_REG_PPC_DABR`.
pub const DABR: RegId = ppc(RegSize::U64, 0x8);
/// `KVM_REG_PPC_DSCR`.
pub const DSCR: RegId = ppc(RegSize::U64, 0x9);
/// `KVM_REG_PPC_PURR`.
pub const PURR: RegId = ppc(RegSize::U64, 0xa);
/// `KVM_REG_PPC_SPURR`.
pub const SPURR: RegId = ppc(RegSize::U64, 0xb);
/// `KVM_REG_PPC_DAR`.
pub const DAR: RegId = ppc(RegSize::U64, 0xc);
/// `KVM_REG_PPC_DSISR`.
pub const DSISR: RegId = ppc(RegSize::U32, 0xd);
/// `KVM_REG_PPC_AMR`.
pub const AMR: RegId = ppc(RegSize::U64, 0xe);
/// `KVM_REG_PPC_UAMOR`.
pub const UAMOR: RegId = ppc(RegSize::U64, 0xf);
/// `KVM_REG_PPC_MMCR0`.
pub const MMCR0: RegId = ppc(RegSize::U64, 0x10);
/// `KVM_REG_PPC_MMCR1`.
pub const MMCR1: RegId = ppc(RegSize::U64, 0x11);
/// `KVM_REG_PPC_MMCRA`.
pub const MMCRA: RegId = ppc(RegSize::U64, 0x12);
/// `KVM_REG_PPC_MMCR2`.
pub const MMCR2: RegId = ppc(RegSize::U64, 0x13);
/// `KVM_REG_PPC_MMCRS`.
pub const MMCRS: RegId = ppc(RegSize::U64, 0x14);
/// `KVM_REG_PPC_SIAR`.
pub const SIAR: RegId = ppc(RegSize::U64, 0x15);
/// `KVM_REG_PPC_SDAR`.
pub const SDAR: RegId = ppc(RegSize::U64, 0x16);
/// `KVM_REG_PPC_SIER`.
pub const SIER: RegId = ppc(RegSize::U64, 0x17);
/// `KVM_REG_PPC_PMC1`.
pub const PMC1: RegId = ppc(RegSize::U32, 0x18);
/// `KVM_REG_PPC_PMC2`.
pub const PMC2: RegId = ppc(RegSize::U32, 0x19);
/// `KVM_REG_PPC_PMC3`.
pub const PMC3: RegId = ppc(RegSize::U32, 0x1a);
/// `KVM_REG_PPC_PMC4`.
pub const PMC4: RegId = ppc(RegSize::U32, 0x1b);
/// `KVM_REG_PPC_PMC5`.
pub const PMC5: RegId = ppc(RegSize::U32, 0x1c);
/// `KVM_REG_PPC_PMC6`.
pub const PMC6: RegId = ppc(RegSize::U32, 0x1d);
/// `KVM_REG_PPC_PMC7`.
pub const PMC7: RegId = ppc(RegSize::U32, 0x1e);
/// `KVM_REG_PPC_PMC8`.
pub const PMC8: RegId = ppc(RegSize::U32, 0x1f);
/// `KVM_REG_PPC_FPSCR`.
pub const FPSCR: RegId = ppc(RegSize::U64, 0x80);
/// `KVM_REG_PPC_VSCR`.
pub const VSCR: RegId = ppc(RegSize::U32, 0x81);
/// `KVM_REG_PPC_VPA_ADDR`.
pub const VPA_ADDR: RegId = ppc(RegSize::U64, 0x82);
/// `KVM_REG_PPC_VPA_SLB`.
pub const VPA_SLB: RegId = ppc(RegSize::U128, 0x83);
/// `KVM_REG_PPC_VPA_DTL`.
pub const VPA_DTL: RegId = ppc(RegSize::U128, 0x84);
/// `KVM_REG_PPC_EPCR`.
pub const EPCR: RegId = ppc(RegSize::U32, 0x85);
/// `KVM_REG_PPC_EPR`.
pub const EPR: RegId = ppc(RegSize::U32, 0x86);
/// `KVM_REG_PPC_OR_TSR`.
pub const OR_TSR: RegId = ppc(RegSize::U32, 0x87);
/// `KVM_REG_PPC_CLEAR_TSR`.
pub const CLEAR_TSR: RegId = ppc(RegSize::U32, 0x88);
/// `KVM_REG_PPC_TCR`.
pub const TCR: RegId = ppc(RegSize::U32, 0x89);
/// `KVM_REG_PPC_TSR`.
pub const TSR: RegId = ppc(RegSize::U32, 0x8a);
/// `KVM_REG_PPC_DEBUG_INST`.
pub const DEBUG_INST: RegId = ppc(RegSize::U32, 0x8b);
/// `KVM_REG_PPC_MAS0`.
pub const MAS0: RegId = ppc(RegSize::U32, 0x8c);
/// `KVM_REG_PPC_MAS1`.
pub const MAS1: RegId = ppc(RegSize::U32, 0x8d);
/// `KVM_REG_PPC_MAS2`.
pub const MAS2: RegId = ppc(RegSize::U64, 0x8e);
/// `KVM_REG_PPC_MAS7_3`.
pub const MAS7_3: RegId = ppc(RegSize::U64, 0x8f);
/// `KVM_REG_PPC_MAS4`.
pub const MAS4: RegId = ppc(RegSize::U32, 0x90);
/// `KVM_REG_PPC_MAS6`.
pub const MAS6: RegId = ppc(RegSize::U32, 0x91);
/// `KVM_REG_PPC_MMUCFG`.
pub const MMUCFG: RegId = ppc(RegSize::U32, 0x92);
/// `KVM_REG_PPC_TLB0CFG`.
pub const TLB0CFG: RegId = ppc(RegSize::U32, 0x93);
/// `KVM_REG_PPC_TLB1CFG`.
pub const TLB1CFG: RegId = ppc(RegSize::U32, 0x94);
/// `KVM_REG_PPC_TLB2CFG`.
pub const TLB2CFG: RegId = ppc(RegSize::U32, 0x95);
/// `KVM_REG_PPC_TLB3CFG`.
pub const TLB3CFG: RegId = ppc(RegSize::U32, 0x96);
/// `KVM_REG_PPC_TLB0PS`.
pub const TLB0PS: RegId = ppc(RegSize::U32, 0x97);
/// `KVM_REG_PPC_TLB1PS`.
pub const TLB1PS: RegId = ppc(RegSize::U32, 0x98);
/// `KVM_REG_PPC_TLB2PS`.
pub const TLB2PS: RegId = ppc(RegSize::U32, 0x99);
/// `KVM_REG_PPC_TLB3PS`.
pub const TLB3PS: RegId = ppc(RegSize::U32, 0x9a);
/// `KVM_REG_PPC_EPTCFG`.
pub const EPTCFG: RegId = ppc(RegSize::U32, 0x9b);
/// `KVM_REG_PPC_TB_OFFSET`.
pub const TB_OFFSET: RegId = ppc(RegSize::U64, 0x9c);
/// `KVM_REG_PPC_SPMC1`.
pub const SPMC1: RegId = ppc(RegSize::U32, 0x9d);
/// `KVM_REG_PPC_SPMC2`.
pub const SPMC2: RegId = ppc(RegSize::U32, 0x9e);
/// `KVM_REG_PPC_IAMR`.
pub const IAMR: RegId = ppc(RegSize::U64, 0x9f);
/// `KVM_REG_PPC_TFHAR`.
pub const TFHAR: RegId = ppc(RegSize::U64, 0xa0);
/// `KVM_REG_PPC_TFIAR`.
pub const TFIAR: RegId = ppc(RegSize::U64, 0xa1);
/// `KVM_REG_PPC_TEXASR`.
pub const TEXASR: RegId = ppc(RegSize::U64, 0xa2);
/// `KVM_REG_PPC_FSCR`.
pub const FSCR: RegId = ppc(RegSize::U64, 0xa3);
/// `KVM_REG_PPC_PSPB`.
pub const PSPB: RegId = ppc(RegSize::U32, 0xa4);
/// `KVM_REG_PPC_EBBHR`.
pub const EBBHR: RegId = ppc(RegSize::U64, 0xa5);
/// `KVM_REG_PPC_EBBRR`.
pub const EBBRR: RegId = ppc(RegSize::U64, 0xa6);
/// `KVM_REG_PPC_BESCR`.
pub const BESCR: RegId = ppc(RegSize::U64, 0xa7);
/// `KVM_REG_PPC_TAR`.
pub const TAR: RegId = ppc(RegSize::U64, 0xa8);
/// `KVM_REG_PPC_DPDES`.
pub const DPDES: RegId = ppc(RegSize::U64, 0xa9);
/// `KVM_REG_PPC_DAWR`.
pub const DAWR: RegId = ppc(RegSize::U64, 0xaa);
/// `KVM_REG_PPC_DAWRX`.
pub const DAWRX: RegId = ppc(RegSize::U64, 0xab);
/// `KVM_REG_PPC_CIABR`.
pub const CIABR: RegId = ppc(RegSize::U64, 0xac);
/// `KVM_REG_PPC_IC`.
pub const IC: RegId = ppc(RegSize::U64, 0xad);
/// `KVM_REG_PPC_VTB`.
pub const VTB: RegId = ppc(RegSize::U64, 0xae);
/// `KVM_REG_PPC_CSIGR`.
pub const CSIGR: RegId = ppc(RegSize::U64, 0xaf);
/// `KVM_REG_PPC_TACR`.
pub const TACR: RegId = ppc(RegSize::U64, 0xb0);
/// `KVM_REG_PPC_TCSCR`.
pub const TCSCR: RegId = ppc(RegSize::U64, 0xb1);
/// `KVM_REG_PPC_PID`.
pub const PID: RegId = ppc(RegSize::U64, 0xb2);
/// `KVM_REG_PPC_ACOP`.
pub const ACOP: RegId = ppc(RegSize::U64, 0xb3);
/// `KVM_REG_PPC_VRSAVE`.
pub const VRSAVE: RegId = ppc(RegSize::U32, 0xb4);
/// `KVM_REG_PPC_LPCR`.
pub const LPCR: RegId = ppc(RegSize::U32, 0xb5);
/// `KVM_REG_PPC_LPCR_64`.
pub const LPCR_64: RegId = ppc(RegSize::U64, 0xb5);
/// `KVM_REG_PPC_PPR`.
pub const PPR: RegId = ppc(RegSize::U64, 0xb6);
/// `KVM_REG_PPC_ARCH_COMPAT`.
pub const ARCH_COMPAT: RegId = ppc(RegSize::U32, 0xb7);
/// `KVM_REG_PPC_DABRX`.
pub const DABRX: RegId = ppc(RegSize::U32, 0xb8);
/// `KVM_REG_PPC_WORT`.
pub const WORT: RegId = ppc(RegSize::U64, 0xb9);
/// `KVM_REG_PPC_SPRG9`.
pub const SPRG9: RegId = ppc(RegSize::U64, 0xba);
/// `KVM_REG_PPC_DBSR`.
pub const DBSR: RegId = ppc(RegSize::U32, 0xbb);
/// `KVM_REG_PPC_TIDR`.
pub const TIDR: RegId = ppc(RegSize::U64, 0xbc);
/// `KVM_REG_PPC_PSSCR`.
pub const PSSCR: RegId = ppc(RegSize::U64, 0xbd);
/// `KVM_REG_PPC_DEC_EXPIRY`.
pub const DEC_EXPIRY: RegId = ppc(RegSize::U64, 0xbe);
/// `KVM_REG_PPC_ONLINE`.
pub const ONLINE: RegId = ppc(RegSize::U32, 0xbf);
/// `KVM_REG_PPC_PTCR`.
pub const PTCR: RegId = ppc(RegSize::U64, 0xc0);
/// `KVM_REG_PPC_MMCR3`.
pub const MMCR3: RegId = ppc(RegSize::U64, 0xc1);
/// `KVM_REG_PPC_SIER2`.
pub const SIER2: RegId = ppc(RegSize::U64, 0xc2);
/// `KVM_REG_PPC_SIER3`.
pub const SIER3: RegId = ppc(RegSize::U64, 0xc3);
/// `KVM_REG_PPC_DAWR1`.
pub const DAWR1: RegId = ppc(RegSize::U64, 0xc4);
/// `KVM_REG_PPC_DAWRX1`.
pub const DAWRX1: RegId = ppc(RegSize::U64, 0xc5);
/// `KVM_REG_PPC_ICP_STATE`.
pub const ICP_STATE: RegId = ppc(RegSize::U64, 0x8c);
/// `KVM_REG_PPC_VP_STATE`.
pub const VP_STATE: RegId = ppc(RegSize::U128, 0x8d);
/// `KVM_REG_PPC_TM_CR`.
pub const TM_CR: RegId = ppc(RegSize::U64, 0x80000060);
/// `KVM_REG_PPC_TM_LR`.
pub const TM_LR: RegId = ppc(RegSize::U64, 0x80000061);
/// `KVM_REG_PPC_TM_CTR`.
pub const TM_CTR: RegId = ppc(RegSize::U64, 0x80000062);
/// `KVM_REG_PPC_TM_FPSCR`.
pub const TM_FPSCR: RegId = ppc(RegSize::U64, 0x80000063);
/// `KVM_REG_PPC_TM_AMR`.
pub const TM_AMR: RegId = ppc(RegSize::U64, 0x80000064);
/// `KVM_REG_PPC_TM_PPR`.
pub const TM_PPR: RegId = ppc(RegSize::U64, 0x80000065);
/// `KVM_REG_PPC_TM_VRSAVE`.
pub const TM_VRSAVE: RegId = ppc(RegSize::U64, 0x80000066);
/// `KVM_REG_PPC_TM_VSCR`.
pub const TM_VSCR: RegId = ppc(RegSize::U32, 0x80000067);
/// `KVM_REG_PPC_TM_DSCR`.
pub const TM_DSCR: RegId = ppc(RegSize::U64, 0x80000068);
/// `KVM_REG_PPC_TM_TAR`.
pub const TM_TAR: RegId = ppc(RegSize::U64, 0x80000069);
/// `KVM_REG_PPC_TM_XER`.
pub const TM_XER: RegId = ppc(RegSize::U64, 0x8000006a);

/// `KVM_REG_PPC_FPR(n)`, n < 32.
pub const fn fpr(n: u32) -> RegId {
    ppc(RegSize::U64, 0x20 + (n & 31))
}

/// `KVM_REG_PPC_VR(n)`, n < 32 (Altivec).
pub const fn vr(n: u32) -> RegId {
    ppc(RegSize::U128, 0x40 + (n & 31))
}

/// `KVM_REG_PPC_VSR(n)`, n < 32 (VSX; the high halves overlap the FPRs).
pub const fn vsr(n: u32) -> RegId {
    ppc(RegSize::U128, 0x60 + (n & 31))
}

/// `KVM_REG_PPC_TM_GPR(n)`, n < 32.
pub const fn tm_gpr(n: u32) -> RegId {
    ppc(RegSize::U64, TM | (n & 31))
}

/// `KVM_REG_PPC_TM_VSR(n)`, n < 64.
pub const fn tm_vsr(n: u32) -> RegId {
    ppc(RegSize::U128, TM | (0x20 + (n & 63)))
}

/// Every fixed PowerPC ONE_REG id with its uapi name (without `KVM_REG_PPC_`).
pub static NAMED: &[(&str, RegId)] = &[
    ("HIOR", HIOR),
    ("IAC1", IAC1),
    ("IAC2", IAC2),
    ("IAC3", IAC3),
    ("IAC4", IAC4),
    ("DAC1", DAC1),
    ("DAC2", DAC2),
    ("DABR", DABR),
    ("DSCR", DSCR),
    ("PURR", PURR),
    ("SPURR", SPURR),
    ("DAR", DAR),
    ("DSISR", DSISR),
    ("AMR", AMR),
    ("UAMOR", UAMOR),
    ("MMCR0", MMCR0),
    ("MMCR1", MMCR1),
    ("MMCRA", MMCRA),
    ("MMCR2", MMCR2),
    ("MMCRS", MMCRS),
    ("SIAR", SIAR),
    ("SDAR", SDAR),
    ("SIER", SIER),
    ("PMC1", PMC1),
    ("PMC2", PMC2),
    ("PMC3", PMC3),
    ("PMC4", PMC4),
    ("PMC5", PMC5),
    ("PMC6", PMC6),
    ("PMC7", PMC7),
    ("PMC8", PMC8),
    ("FPSCR", FPSCR),
    ("VSCR", VSCR),
    ("VPA_ADDR", VPA_ADDR),
    ("VPA_SLB", VPA_SLB),
    ("VPA_DTL", VPA_DTL),
    ("EPCR", EPCR),
    ("EPR", EPR),
    ("OR_TSR", OR_TSR),
    ("CLEAR_TSR", CLEAR_TSR),
    ("TCR", TCR),
    ("TSR", TSR),
    ("DEBUG_INST", DEBUG_INST),
    ("MAS0", MAS0),
    ("MAS1", MAS1),
    ("MAS2", MAS2),
    ("MAS7_3", MAS7_3),
    ("MAS4", MAS4),
    ("MAS6", MAS6),
    ("MMUCFG", MMUCFG),
    ("TLB0CFG", TLB0CFG),
    ("TLB1CFG", TLB1CFG),
    ("TLB2CFG", TLB2CFG),
    ("TLB3CFG", TLB3CFG),
    ("TLB0PS", TLB0PS),
    ("TLB1PS", TLB1PS),
    ("TLB2PS", TLB2PS),
    ("TLB3PS", TLB3PS),
    ("EPTCFG", EPTCFG),
    ("TB_OFFSET", TB_OFFSET),
    ("SPMC1", SPMC1),
    ("SPMC2", SPMC2),
    ("IAMR", IAMR),
    ("TFHAR", TFHAR),
    ("TFIAR", TFIAR),
    ("TEXASR", TEXASR),
    ("FSCR", FSCR),
    ("PSPB", PSPB),
    ("EBBHR", EBBHR),
    ("EBBRR", EBBRR),
    ("BESCR", BESCR),
    ("TAR", TAR),
    ("DPDES", DPDES),
    ("DAWR", DAWR),
    ("DAWRX", DAWRX),
    ("CIABR", CIABR),
    ("IC", IC),
    ("VTB", VTB),
    ("CSIGR", CSIGR),
    ("TACR", TACR),
    ("TCSCR", TCSCR),
    ("PID", PID),
    ("ACOP", ACOP),
    ("VRSAVE", VRSAVE),
    ("LPCR", LPCR),
    ("LPCR_64", LPCR_64),
    ("PPR", PPR),
    ("ARCH_COMPAT", ARCH_COMPAT),
    ("DABRX", DABRX),
    ("WORT", WORT),
    ("SPRG9", SPRG9),
    ("DBSR", DBSR),
    ("TIDR", TIDR),
    ("PSSCR", PSSCR),
    ("DEC_EXPIRY", DEC_EXPIRY),
    ("ONLINE", ONLINE),
    ("PTCR", PTCR),
    ("MMCR3", MMCR3),
    ("SIER2", SIER2),
    ("SIER3", SIER3),
    ("DAWR1", DAWR1),
    ("DAWRX1", DAWRX1),
    ("ICP_STATE", ICP_STATE),
    ("VP_STATE", VP_STATE),
    ("TM_CR", TM_CR),
    ("TM_LR", TM_LR),
    ("TM_CTR", TM_CTR),
    ("TM_FPSCR", TM_FPSCR),
    ("TM_AMR", TM_AMR),
    ("TM_PPR", TM_PPR),
    ("TM_VRSAVE", TM_VRSAVE),
    ("TM_VSCR", TM_VSCR),
    ("TM_DSCR", TM_DSCR),
    ("TM_TAR", TM_TAR),
    ("TM_XER", TM_XER),
];

/// The numbers the two PowerPC families use for different registers: (number, BookE name, BookE
/// size, Book3S name, Book3S size).
pub static OVERLOADED: &[(u32, &str, RegSize, &str, RegSize)] = &[
    (0x8c, "MAS0", RegSize::U32, "ICP_STATE", RegSize::U64),
    (0x8d, "MAS1", RegSize::U32, "VP_STATE", RegSize::U128),
];

/// The uapi name of a PowerPC ONE_REG id (`MAS0`, `FPR(3)`, `TM_VSR(40)`), if it is one. The size
/// is part of the id: 0x8c as U32 is `MAS0`, as U64 `ICP_STATE`.
pub fn name(id: RegId) -> Option<String> {
    if id.arch() != Some(RegArch::Ppc) || id.set() != 0 {
        return None;
    }
    if let Some((n, _)) = NAMED.iter().find(|(_, i)| *i == id) {
        return Some((*n).to_string());
    }
    let n = id.number();
    let ranges: [(&str, u32, u32, RegSize); 5] = [
        ("FPR", 0x20, 32, RegSize::U64),
        ("VR", 0x40, 32, RegSize::U128),
        ("VSR", 0x60, 32, RegSize::U128),
        ("TM_GPR", TM, 32, RegSize::U64),
        ("TM_VSR", TM | 0x20, 64, RegSize::U128),
    ];
    ranges.iter().find_map(|&(name, base, count, size)| {
        (n >= base && n < base + count && id.size() == size)
            .then(|| format!("{name}({})", n - base))
    })
}

/// Adds ONE_REG registers to a PowerPC register table (the Book3S and the BookE table share
/// this): `(uapi name without KVM_REG_PPC_, id, attributes)`, each named in lower case.
pub fn push_named(t: &mut RegTable, regs: &[(&str, RegId, RegAttrs)]) -> Result<(), TableError> {
    for &(name, id, attrs) in regs {
        t.push(RegDesc::one_reg(
            name.to_lowercase(),
            id,
            attrs,
            format!("KVM_REG_PPC_{name}"),
        ))?;
    }
    Ok(())
}

/// Adds the ONE_REG array `KVM_REG_PPC_<uapi>(i)`, `i` in `0..count`, named `<prefix><i>` (the
/// FPRs, VRs, VSRs, ...).
pub fn push_array(
    t: &mut RegTable,
    (prefix, uapi): (&str, &str),
    count: u32,
    id: fn(u32) -> RegId,
    attrs: RegAttrs,
) -> Result<(), TableError> {
    for i in 0..count {
        t.push(RegDesc::one_reg(
            format!("{prefix}{i}"),
            id(i),
            attrs,
            format!("KVM_REG_PPC_{uapi}({i})"),
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overloaded_numbers_are_told_apart_by_size() {
        assert_eq!(MAS0.number(), ICP_STATE.number());
        assert_ne!(MAS0, ICP_STATE);
        assert_eq!(MAS0.raw(), 0x1020_0000_0000_008c);
        assert_eq!(ICP_STATE.raw(), 0x1030_0000_0000_008c);
        assert_eq!(VP_STATE.raw(), 0x1040_0000_0000_008d);
        assert_eq!(name(MAS0).as_deref(), Some("MAS0"));
        assert_eq!(name(ICP_STATE).as_deref(), Some("ICP_STATE"));
        assert_eq!(name(MAS1).as_deref(), Some("MAS1"));
        assert_eq!(name(VP_STATE).as_deref(), Some("VP_STATE"));
        assert_eq!(name(LPCR).as_deref(), Some("LPCR"));
        assert_eq!(name(LPCR_64).as_deref(), Some("LPCR_64"));
        // The number 0x8c with a size neither family uses is nothing.
        assert_eq!(name(MAS0.with_size(RegSize::U128)), None);
        for &(num, be, bs, b3, s3) in OVERLOADED {
            let booke = RegId::new(RegArch::Ppc, 0, num, bs);
            let book3s = RegId::new(RegArch::Ppc, 0, num, s3);
            assert_eq!(name(booke).as_deref(), Some(be));
            assert_eq!(name(book3s).as_deref(), Some(b3));
        }
    }

    #[test]
    fn ranges_and_tm() {
        assert_eq!(fpr(0).raw(), 0x1030_0000_0000_0020);
        assert_eq!(vr(31).raw(), 0x1040_0000_0000_005f);
        assert_eq!(vsr(31).raw(), 0x1040_0000_0000_007f);
        assert_eq!(tm_gpr(31).raw(), 0x1030_0000_8000_001f);
        assert_eq!(tm_vsr(63).raw(), 0x1040_0000_8000_005f);
        assert_eq!(name(fpr(7)).as_deref(), Some("FPR(7)"));
        assert_eq!(name(tm_vsr(40)).as_deref(), Some("TM_VSR(40)"));
        assert_eq!(name(TM_XER).as_deref(), Some("TM_XER"));
        assert_eq!(name(RegId::new(RegArch::Ppc, 0, 0xfff, RegSize::U64)), None);
        assert_eq!(name(RegId::new(RegArch::X86, 0, 0xc, RegSize::U64)), None);
    }

    #[test]
    fn named_ids_are_unique() {
        let mut ids: Vec<u64> = NAMED.iter().map(|(_, i)| i.raw()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), NAMED.len());
    }
}
