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
    RegArch, RegAttrs, RegDesc, RegId, RegLoc, RegSetInfo, RegSize, RegTable, TableError,
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

/// The blocks in Book3S restore order: `struct kvm_regs` before `struct kvm_sregs` (a vCPU's PVR
/// is set when it is created). KVM-PR's `KVM_SET_REGS` with MSR[FP] set preloads the vCPU's FP
/// state into the CPU outside `KVM_RUN` and leaves it owned by the guest, with the thread's FP
/// save area pointing into the vCPU (book3s_pr.c `kvmppc_set_msr_pr`: "Preload FPU"); until a
/// `vcpu_put` gives it up, the ONE_REG FP/VSX values written next are overwritten with the
/// thread's own registers. `KVM_SET_SREGS` loads and puts the vCPU, so written after
/// `KVM_SET_REGS` it gives the state up before the ONE_REG registers come.
pub static BOOK3S_BLOCKS: [vmm_core::regs::RegBlock; 2] = [BLOCKS[1], BLOCKS[0]];

const RW: RegAttrs = RegAttrs::RW;
const OPT: RegAttrs = RegAttrs::RW.with(RegAttrs::OPTIONAL);
const VOL: RegAttrs = OPT.with(RegAttrs::VOLATILE);
/// KVM-HV's alone: KVM-PR (`kvmppc_get_one_reg_pr` and the generic `kvmppc_get_one_reg` of
/// `book3s.c`, Linux 6.1) has no such register, so a vCPU saved on KVM-HV restores on KVM-PR
/// without it (see [`RegAttrs::DROPPABLE`]).
const HV: RegAttrs = OPT.with(RegAttrs::DROPPABLE);
const HV_VOL: RegAttrs = HV.with(RegAttrs::VOLATILE);

/// The fixed ONE_REG registers of Book3S: (uapi name without `KVM_REG_PPC_`, id, attributes).
pub static BOOK3S_ONE_REGS: &[(&str, RegId, RegAttrs)] = &[
    ("DAR", o::DAR, RW),
    ("DSISR", o::DSISR, RW),
    ("FPSCR", o::FPSCR, RW),
    ("HIOR", o::HIOR, OPT),
    ("DABR", o::DABR, HV),
    ("DABRX", o::DABRX, HV),
    ("DSCR", o::DSCR, HV),
    ("PURR", o::PURR, HV_VOL),
    ("SPURR", o::SPURR, HV_VOL),
    ("AMR", o::AMR, HV),
    ("UAMOR", o::UAMOR, HV),
    ("MMCR0", o::MMCR0, HV),
    ("MMCR1", o::MMCR1, HV),
    ("MMCRA", o::MMCRA, HV),
    ("MMCR2", o::MMCR2, HV),
    ("MMCRS", o::MMCRS, HV),
    ("MMCR3", o::MMCR3, HV),
    ("SIAR", o::SIAR, HV),
    ("SDAR", o::SDAR, HV),
    ("SIER", o::SIER, HV),
    ("SIER2", o::SIER2, HV),
    ("SIER3", o::SIER3, HV),
    ("PMC1", o::PMC1, HV),
    ("PMC2", o::PMC2, HV),
    ("PMC3", o::PMC3, HV),
    ("PMC4", o::PMC4, HV),
    ("PMC5", o::PMC5, HV),
    ("PMC6", o::PMC6, HV),
    ("PMC7", o::PMC7, HV),
    ("PMC8", o::PMC8, HV),
    ("SPMC1", o::SPMC1, HV),
    ("SPMC2", o::SPMC2, HV),
    ("VSCR", o::VSCR, OPT),
    ("VRSAVE", o::VRSAVE, OPT),
    ("VPA_ADDR", o::VPA_ADDR, HV),
    ("VPA_SLB", o::VPA_SLB, HV),
    ("VPA_DTL", o::VPA_DTL, HV),
    ("LPCR_64", o::LPCR_64, OPT),
    // The same register as LPCR_64 at 32 bits (same number 0xb5, other size).
    ("LPCR", o::LPCR, OPT.with(RegAttrs::ALIAS)),
    ("PPR", o::PPR, HV),
    ("ARCH_COMPAT", o::ARCH_COMPAT, HV),
    ("WORT", o::WORT, HV),
    ("IAMR", o::IAMR, HV),
    ("TFHAR", o::TFHAR, OPT),
    ("TFIAR", o::TFIAR, OPT),
    ("TEXASR", o::TEXASR, OPT),
    ("FSCR", o::FSCR, OPT),
    ("PSPB", o::PSPB, HV),
    ("EBBHR", o::EBBHR, OPT),
    ("EBBRR", o::EBBRR, OPT),
    ("BESCR", o::BESCR, OPT),
    ("TAR", o::TAR, OPT),
    ("DPDES", o::DPDES, HV),
    ("DAWR", o::DAWR, HV),
    ("DAWRX", o::DAWRX, HV),
    ("DAWR1", o::DAWR1, HV),
    ("DAWRX1", o::DAWRX1, HV),
    ("CIABR", o::CIABR, HV),
    ("IC", o::IC, VOL),
    ("VTB", o::VTB, VOL),
    ("CSIGR", o::CSIGR, HV),
    ("TACR", o::TACR, HV),
    ("TCSCR", o::TCSCR, HV),
    ("PID", o::PID, HV),
    ("ACOP", o::ACOP, HV),
    ("TIDR", o::TIDR, HV),
    ("PSSCR", o::PSSCR, HV),
    ("DEC_EXPIRY", o::DEC_EXPIRY, HV_VOL),
    ("ONLINE", o::ONLINE, HV),
    ("PTCR", o::PTCR, HV),
    ("TB_OFFSET", o::TB_OFFSET, HV),
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
    let mut t = RegTable::new("ppc64", RegArch::Ppc, &SETS, &BOOK3S_BLOCKS);
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

/// A vCPU's table: the static one less the optional ONE_REG registers `offered` says the vCPU
/// lacks (the kernel refuses `KVM_GET_ONE_REG` for them: KVM-HV's SPRs on KVM-PR, a newer CPU's
/// on an older one). Withdrawn, they stay known: a restore skips one saved at zero (and a
/// [`RegAttrs::DROPPABLE`] one at any value) and names any other.
pub fn table_offered(mut offered: impl FnMut(&RegDesc) -> bool) -> RegTable {
    let mut t = table().clone();
    t.retain(|r| {
        r.loc != RegLoc::OneReg
            || !r.attrs.contains(RegAttrs::OPTIONAL)
            || !r.attrs.contains(RegAttrs::READ)
            || offered(r)
    });
    t
}

/// The ABI facts of the table: block sizes, field offsets and sizes, ONE_REG ids.
pub fn abi_facts() -> Vec<AbiFact> {
    table_facts(table())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmm_core::regs::format;

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

    /// The ONE_REG registers KVM-PR offers (Linux 6.1: `kvmppc_get_one_reg_pr`, the generic
    /// part of `kvmppc_get_one_reg` in `book3s.c`, and the VMX ones of `powerpc.c`).
    const KVM_PR_ONE_REGS: &str = "dar dsisr fpscr hior vscr vrsave lpcr_64 lpcr fscr ebbhr \
        ebbrr bescr tar ic vtb icp_state vp_state debug_inst tfhar tfiar texasr";

    fn on_kvm_pr(r: &RegDesc) -> bool {
        let n = &*r.name;
        KVM_PR_ONE_REGS.split_whitespace().any(|k| k == n)
            || n.starts_with("tm_")
            || ["fpr", "vr", "vsr"]
                .iter()
                .any(|p| n.strip_prefix(p).is_some_and(|i| i.parse::<u32>().is_ok()))
    }

    #[test]
    fn regs_are_restored_before_sregs() {
        assert_eq!(BOOK3S_BLOCKS[0].id, BLOCK_REGS);
        assert_eq!(BOOK3S_BLOCKS[1].id, BLOCK_SREGS);
        assert_eq!(table().blocks()[0].id, BLOCK_REGS);
    }

    #[test]
    fn the_droppable_registers_are_those_kvm_pr_lacks() {
        for r in table().iter().filter(|r| r.loc == RegLoc::OneReg) {
            assert_eq!(
                r.attrs.contains(RegAttrs::DROPPABLE),
                !on_kvm_pr(r),
                "{} ({})",
                r.name,
                r.attrs
            );
            if r.attrs.contains(RegAttrs::DROPPABLE) {
                assert!(r.attrs.contains(RegAttrs::OPTIONAL), "{}", r.name);
            }
        }
    }

    #[test]
    fn a_kvm_pr_vcpu_table_withdraws_kvm_hvs_registers() {
        let mut asked = Vec::new();
        let t = table_offered(|r| {
            asked.push(r.name.to_string());
            on_kvm_pr(r)
        });
        // Only optional, readable ONE_REG registers are probed.
        assert!(asked.contains(&"dabr".to_string()) && !asked.contains(&"dar".to_string()));
        let dabr = table().by_name("dabr").unwrap().id;
        assert!(t.get(dabr).is_none() && t.not_offered(dabr));
        for n in ["online", "mmcr0", "dec_expiry", "ptcr"] {
            assert!(t.by_name(n).is_none(), "{n}");
        }
        for n in [
            "gpr3",
            "slb5",
            "sdr1",
            "hior",
            "lpcr_64",
            "vsr3",
            "tm_gpr2",
            "icp_state",
        ] {
            assert!(t.by_name(n).is_some(), "{n}");
        }
        // Everything is offered where everything reads.
        assert_eq!(table_offered(|_| true).len(), table().len());
    }
}
