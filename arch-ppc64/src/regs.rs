//! The ppc64 (Book3S) register table.
//!
//! Three sources, one table:
//!
//! * `struct kvm_regs` (`KVM_GET_REGS`, set `regs`): NIP, CR, CTR, LR, XER, MSR, SRR0/1,
//!   SPRG0-3 and GPR0-31;
//! * the Book3S half of `struct kvm_sregs` (`KVM_GET_SREGS`, set `sregs`): PVR, SDR1 and the 64
//!   SLB entries (each a U128: SLBE then SLBV);
//! * ONE_REG (`KVM_REG_PPC_*`, set `one_reg`): DAR, DSISR, HIOR, the FP/VMX/VSX registers and
//!   the SPRs KVM exposes (POWER7-10, TM checkpointed state), and the XICS/XIVE vCPU state
//!   `ICP_STATE` (U64, number 0x8c) and `VP_STATE` (U128, 0x8d). On BookE the same numbers are
//!   MAS0/MAS1 (U32); this table holds only the Book3S meaning (see `kvm_ppc::one_reg`).
//!
//! The `regs` and `sregs` ids are tetra's own (bit 15 of the set field; number = byte offset in
//! the structure); the `one_reg` ids are the kernel's. Which SPRs a vCPU has depends on the CPU
//! and on kvm-hv vs kvm-pr, so most ONE_REG registers are optional: a save skips those the
//! kernel refuses. The decrementer is `DEC_EXPIRY` (Book3S has no DEC in sregs). The 32-bit
//! segment registers and BATs of `u.s.ppc32` (32-bit guests under kvm-pr) are not modelled.

use kvm_ppc::one_reg as o;
use kvm_ppc::sregs::{
    regs_fields, KvmSlbEntry, KvmSregs, KvmSregsS, BLOCKS, BLOCK_REGS, BLOCK_SREGS, SET_ONE_REG,
    SET_REGS, SET_SREGS_S,
};
use std::mem::{offset_of, size_of};
use std::sync::LazyLock;
use vmm_core::regs::abi::{table_facts, AbiFact};
use vmm_core::regs::{
    RegArch, RegAttrs, RegDesc, RegId, RegSetInfo, RegSize, RegTable, TableError,
};

/// The ppc64 sets.
pub static SETS: [RegSetInfo; 3] = [
    RegSetInfo {
        id: SET_ONE_REG,
        name: "one_reg",
    },
    RegSetInfo {
        id: SET_REGS,
        name: "regs",
    },
    RegSetInfo {
        id: SET_SREGS_S,
        name: "sregs",
    },
];

const RW: RegAttrs = RegAttrs::RW;
const OPT: RegAttrs = RegAttrs::RW.with(RegAttrs::OPTIONAL);
const VOL: RegAttrs = OPT.with(RegAttrs::VOLATILE);

/// The fixed ONE_REG registers of Book3S: (uapi name without `KVM_REG_PPC_`, id, attributes).
pub static BOOK3S_ONE_REGS: &[(&str, RegId, RegAttrs)] = &[
    ("DAR", o::DAR, RW),
    ("DSISR", o::DSISR, RW),
    ("FPSCR", o::FPSCR, RW),
    ("HIOR", o::HIOR, OPT),
    ("DABR", o::DABR, OPT),
    ("DABRX", o::DABRX, OPT),
    ("DSCR", o::DSCR, OPT),
    ("PURR", o::PURR, VOL),
    ("SPURR", o::SPURR, VOL),
    ("AMR", o::AMR, OPT),
    ("UAMOR", o::UAMOR, OPT),
    ("MMCR0", o::MMCR0, OPT),
    ("MMCR1", o::MMCR1, OPT),
    ("MMCRA", o::MMCRA, OPT),
    ("MMCR2", o::MMCR2, OPT),
    ("MMCRS", o::MMCRS, OPT),
    ("MMCR3", o::MMCR3, OPT),
    ("SIAR", o::SIAR, OPT),
    ("SDAR", o::SDAR, OPT),
    ("SIER", o::SIER, OPT),
    ("SIER2", o::SIER2, OPT),
    ("SIER3", o::SIER3, OPT),
    ("PMC1", o::PMC1, OPT),
    ("PMC2", o::PMC2, OPT),
    ("PMC3", o::PMC3, OPT),
    ("PMC4", o::PMC4, OPT),
    ("PMC5", o::PMC5, OPT),
    ("PMC6", o::PMC6, OPT),
    ("PMC7", o::PMC7, OPT),
    ("PMC8", o::PMC8, OPT),
    ("SPMC1", o::SPMC1, OPT),
    ("SPMC2", o::SPMC2, OPT),
    ("VSCR", o::VSCR, OPT),
    ("VRSAVE", o::VRSAVE, OPT),
    ("VPA_ADDR", o::VPA_ADDR, OPT),
    ("VPA_SLB", o::VPA_SLB, OPT),
    ("VPA_DTL", o::VPA_DTL, OPT),
    ("LPCR_64", o::LPCR_64, OPT),
    // The same register as LPCR_64 at 32 bits (same number 0xb5, other size).
    ("LPCR", o::LPCR, OPT.with(RegAttrs::ALIAS)),
    ("PPR", o::PPR, OPT),
    ("ARCH_COMPAT", o::ARCH_COMPAT, OPT),
    ("WORT", o::WORT, OPT),
    ("IAMR", o::IAMR, OPT),
    ("TFHAR", o::TFHAR, OPT),
    ("TFIAR", o::TFIAR, OPT),
    ("TEXASR", o::TEXASR, OPT),
    ("FSCR", o::FSCR, OPT),
    ("PSPB", o::PSPB, OPT),
    ("EBBHR", o::EBBHR, OPT),
    ("EBBRR", o::EBBRR, OPT),
    ("BESCR", o::BESCR, OPT),
    ("TAR", o::TAR, OPT),
    ("DPDES", o::DPDES, OPT),
    ("DAWR", o::DAWR, OPT),
    ("DAWRX", o::DAWRX, OPT),
    ("DAWR1", o::DAWR1, OPT),
    ("DAWRX1", o::DAWRX1, OPT),
    ("CIABR", o::CIABR, OPT),
    ("IC", o::IC, VOL),
    ("VTB", o::VTB, VOL),
    ("CSIGR", o::CSIGR, OPT),
    ("TACR", o::TACR, OPT),
    ("TCSCR", o::TCSCR, OPT),
    ("PID", o::PID, OPT),
    ("ACOP", o::ACOP, OPT),
    ("TIDR", o::TIDR, OPT),
    ("PSSCR", o::PSSCR, OPT),
    ("DEC_EXPIRY", o::DEC_EXPIRY, VOL),
    ("ONLINE", o::ONLINE, OPT),
    ("PTCR", o::PTCR, OPT),
    ("TB_OFFSET", o::TB_OFFSET, OPT),
    ("ICP_STATE", o::ICP_STATE, OPT),
    ("VP_STATE", o::VP_STATE, OPT),
    (
        "DEBUG_INST",
        o::DEBUG_INST,
        RegAttrs::RO.with(RegAttrs::OPTIONAL),
    ),
    ("TM_CR", o::TM_CR, OPT),
    ("TM_LR", o::TM_LR, OPT),
    ("TM_CTR", o::TM_CTR, OPT),
    ("TM_FPSCR", o::TM_FPSCR, OPT),
    ("TM_AMR", o::TM_AMR, OPT),
    ("TM_PPR", o::TM_PPR, OPT),
    ("TM_VRSAVE", o::TM_VRSAVE, OPT),
    ("TM_VSCR", o::TM_VSCR, OPT),
    ("TM_DSCR", o::TM_DSCR, OPT),
    ("TM_TAR", o::TM_TAR, OPT),
    ("TM_XER", o::TM_XER, OPT),
];

fn field_id(set: u16, offset: usize, len: usize) -> RegId {
    let size = RegSize::for_bytes(len).expect("sregs fields are small");
    RegId::new(RegArch::Ppc, set, offset as u32, size)
}

fn build() -> Result<RegTable, TableError> {
    let mut t = RegTable::new("ppc64", RegArch::Ppc, &SETS, &BLOCKS);
    for (name, member, off) in regs_fields() {
        if name == "pid" || ["sprg4", "sprg5", "sprg6", "sprg7"].contains(&name.as_str()) {
            continue; // BookE-only fields of struct kvm_regs.
        }
        t.push(RegDesc::field(
            name,
            field_id(SET_REGS, off, 8),
            RW,
            (BLOCK_REGS, off, 8),
            member,
        ))?;
    }
    let s = offset_of!(KvmSregs, u);
    t.push(RegDesc::field(
        "pvr",
        field_id(SET_SREGS_S, 0, 4),
        RW | RegAttrs::GUEST_RO,
        (BLOCK_SREGS, 0, 4),
        "pvr",
    ))?;
    let sdr1 = s + offset_of!(KvmSregsS, sdr1);
    t.push(RegDesc::field(
        "sdr1",
        field_id(SET_SREGS_S, sdr1, 8),
        RW,
        (BLOCK_SREGS, sdr1, 8),
        "u.s.sdr1",
    ))?;
    let slb = s + offset_of!(KvmSregsS, ppc64);
    let entry = size_of::<KvmSlbEntry>();
    for i in 0..64 {
        let off = slb + i * entry;
        t.push(RegDesc::field(
            format!("slb{i}"),
            field_id(SET_SREGS_S, off, entry),
            RW,
            (BLOCK_SREGS, off, entry),
            format!("u.s.ppc64.slb[{i}]"),
        ))?;
    }
    kvm_ppc::one_reg::push_named(&mut t, BOOK3S_ONE_REGS)?;
    for i in 0..32 {
        t.push(RegDesc::one_reg(
            format!("fpr{i}"),
            o::fpr(i),
            RW,
            format!("KVM_REG_PPC_FPR({i})"),
        ))?;
    }
    for i in 0..32 {
        t.push(RegDesc::one_reg(
            format!("vr{i}"),
            o::vr(i),
            OPT,
            format!("KVM_REG_PPC_VR({i})"),
        ))?;
    }
    for i in 0..32 {
        t.push(RegDesc::one_reg(
            format!("vsr{i}"),
            o::vsr(i),
            OPT,
            format!("KVM_REG_PPC_VSR({i})"),
        ))?;
    }
    for i in 0..32 {
        t.push(RegDesc::one_reg(
            format!("tm_gpr{i}"),
            o::tm_gpr(i),
            OPT,
            format!("KVM_REG_PPC_TM_GPR({i})"),
        ))?;
    }
    for i in 0..64 {
        t.push(RegDesc::one_reg(
            format!("tm_vsr{i}"),
            o::tm_vsr(i),
            OPT,
            format!("KVM_REG_PPC_TM_VSR({i})"),
        ))?;
    }
    Ok(t)
}

static TABLE: LazyLock<RegTable> =
    LazyLock::new(|| build().expect("the ppc64 register table is consistent (unit-tested)"));

/// The ppc64 (Book3S) register table.
pub fn table() -> &'static RegTable {
    &TABLE
}

/// The ABI facts of the table: block sizes, field offsets and sizes, ONE_REG ids.
pub fn abi_facts() -> Vec<AbiFact> {
    table_facts(table())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmm_core::regs::{format, RegLoc};

    #[test]
    fn table_has_the_book3s_state() {
        let t = table();
        for n in [
            "gpr0",
            "gpr31",
            "cr",
            "xer",
            "lr",
            "ctr",
            "nip",
            "msr",
            "srr0",
            "srr1",
            "sprg0",
            "sprg3",
            "dar",
            "dsisr",
            "dec_expiry",
            "pvr",
            "sdr1",
            "slb0",
            "slb63",
            "hior",
            "icp_state",
            "vp_state",
            "fpr0",
            "vsr31",
            "lpcr_64",
            "tm_vsr63",
        ] {
            assert!(t.by_name(n).is_some(), "{n}");
        }
        // kvm_regs.pid and SPRG4-7 are BookE's; "pid" here is the POWER9 ONE_REG PID.
        assert_eq!(t.by_name("pid").unwrap().loc, RegLoc::OneReg);
        assert!(t.by_name("sprg4").is_none() && t.by_name("mas0").is_none());
        assert_eq!(
            t.by_name("nip").unwrap().loc,
            RegLoc::Field {
                block: BLOCK_REGS,
                offset: 0,
                len: 8
            }
        );
        assert_eq!(t.by_name("gpr3").unwrap().id.raw(), 0x1030_8000_0000_00a0);
        assert_eq!(
            t.by_name("slb1").unwrap().loc,
            RegLoc::Field {
                block: BLOCK_SREGS,
                offset: 32,
                len: 16
            }
        );
        assert_eq!(t.by_name("pvr").unwrap().id.bytes(), 4);
        assert_eq!(t.by_name("dar").unwrap().id.raw(), 0x1030_0000_0000_000c);
    }

    #[test]
    fn overloaded_numbers_have_their_book3s_meaning() {
        let t = table();
        let icp = t.by_name("icp_state").unwrap().id;
        assert_eq!((icp.number(), icp.size()), (0x8c, RegSize::U64));
        let vp = t.by_name("vp_state").unwrap().id;
        assert_eq!((vp.number(), vp.size()), (0x8d, RegSize::U128));
        assert!(t.get(o::MAS0).is_none() && t.get(o::MAS1).is_none());
        assert!(t.get(o::LPCR).unwrap().attrs.contains(RegAttrs::ALIAS));
    }

    #[test]
    fn save_set() {
        let t = table();
        let saved = t.saved_ids();
        assert!(saved.contains(&t.by_name("pvr").unwrap().id));
        assert!(!saved.contains(&o::DEBUG_INST));
        assert!(!saved.contains(&o::LPCR));
        assert!(saved.contains(&o::LPCR_64));
    }

    #[test]
    fn printed_and_facts() {
        let text = format::table_text(table());
        let icp = text.lines().find(|l| l.starts_with("icp_state ")).unwrap();
        assert!(
            icp.contains("0x103000000000008c") && icp.contains("ONE_REG"),
            "{icp}"
        );
        let f = abi_facts();
        assert!(f
            .iter()
            .any(|x| x.expr == "KVM_REG_PPC_ICP_STATE" && x.value == 0x1030_0000_0000_008c));
        assert!(f.iter().any(
            |x| x.expr == "offsetof(struct kvm_sregs, u.s.ppc64.slb[63])"
                && x.value == 16 + 63 * 16
        ));
        assert!(table().iter().all(|r| !r.uapi.is_empty()));
    }
}
