//! The PowerPC BookE (e500mc family) register table.
//!
//! * `struct kvm_regs` (`KVM_GET_REGS`, set `regs`): NIP, CR, CTR, LR, XER, MSR, SRR0/1, PID,
//!   SPRG0-7, GPR0-31;
//! * the BookE half `u.e` of `struct kvm_sregs` (`KVM_GET_SREGS`, set `sregs`): PVR, the FSL
//!   implementation registers (SVR, MCAR, HID0, PID1/2), exception and timer SPRs (CSRR0/1,
//!   DSRR0/1, MCSRR0/1, ESR, DEAR, MCSR, TSR, TCR, DECAR, DEC, TB), IVPR, IVOR0-15 and
//!   IVOR32-37, the debug registers, EPLC/EPSC. Each field is valid only when its section is in
//!   `u.e.features` (`KVM_SREGS_E_*`): the backend skips absent ones on a read and refuses them on
//!   a write, and sets `u.e.update_special` for TSR/DEC/MCSR/DBSR writes (`kvm_ppc::sregs`);
//! * ONE_REG (set `one_reg`): MAS0-2, MAS7_3, MAS4, MAS6, MMUCFG, TLB0-3CFG, TLB0-3PS, EPTCFG,
//!   TB_OFFSET, TCR/TSR, EPCR, EPR, the 64-bit IAC/DAC, DBSR, SPRG9, VRSAVE, FPRs/VRs. ONE_REG
//!   0x8c and 0x8d are MAS0 and MAS1 (U32) here; on Book3S the same numbers are ICP_STATE (U64)
//!   and VP_STATE (U128): the size tells them apart (see `kvm_ppc::one_reg`).
//!
//! Registers both sregs and ONE_REG carry (MAS*, TCR, TSR, EPCR, EPR, IAC/DAC, the TLB geometry)
//! appear twice: ONE_REG is the primary copy (it has the full 64-bit values, and sregs EPR is
//! deprecated), the sregs copy is named `sregs_<name>` and is an alias outside the default save
//! set. TLBnCFG/TLBnPS/MMUCFG/EPTCFG are guest-read-only: KVM accepts a ONE_REG write only of the
//! current value (they change with `KVM_CAP_SW_TLB`), so a restore into a vCPU of another TLB
//! geometry fails loudly.

use kvm_ppc::one_reg as o;
use kvm_ppc::sregs::{
    regs_fields, sregs_e_fields, BLOCKS, BLOCK_REGS, BLOCK_SREGS, SET_ONE_REG, SET_REGS,
    SET_SREGS_E,
};
use std::sync::LazyLock;
use vmm_core::regs::abi::{table_facts, AbiFact};
use vmm_core::regs::{
    RegArch, RegAttrs, RegDesc, RegId, RegSetInfo, RegSize, RegTable, TableError, VcpuState,
};

/// The BookE sets.
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
        id: SET_SREGS_E,
        name: "sregs",
    },
];

const RW: RegAttrs = RegAttrs::RW;
const OPT: RegAttrs = RegAttrs::RW.with(RegAttrs::OPTIONAL);
const GEOM: RegAttrs = RegAttrs::RW.with(RegAttrs::GUEST_RO);

/// The fixed ONE_REG registers of BookE: (uapi name without `KVM_REG_PPC_`, id, attributes).
pub static BOOKE_ONE_REGS: &[(&str, RegId, RegAttrs)] = &[
    ("MAS0", o::MAS0, RW),
    ("MAS1", o::MAS1, RW),
    ("MAS2", o::MAS2, RW),
    ("MAS7_3", o::MAS7_3, RW),
    ("MAS4", o::MAS4, RW),
    ("MAS6", o::MAS6, RW),
    ("MMUCFG", o::MMUCFG, GEOM),
    ("TLB0CFG", o::TLB0CFG, GEOM),
    ("TLB1CFG", o::TLB1CFG, GEOM),
    ("TLB2CFG", o::TLB2CFG, GEOM),
    ("TLB3CFG", o::TLB3CFG, GEOM),
    ("TLB0PS", o::TLB0PS, GEOM),
    ("TLB1PS", o::TLB1PS, GEOM),
    ("TLB2PS", o::TLB2PS, GEOM),
    ("TLB3PS", o::TLB3PS, GEOM),
    ("EPTCFG", o::EPTCFG, GEOM.with(RegAttrs::OPTIONAL)),
    ("TB_OFFSET", o::TB_OFFSET, OPT),
    ("TCR", o::TCR, RW),
    ("TSR", o::TSR, RW),
    ("OR_TSR", o::OR_TSR, RegAttrs::WO),
    ("CLEAR_TSR", o::CLEAR_TSR, RegAttrs::WO),
    ("EPCR", o::EPCR, OPT),
    ("EPR", o::EPR, OPT),
    ("IAC1", o::IAC1, OPT),
    ("IAC2", o::IAC2, OPT),
    ("IAC3", o::IAC3, OPT),
    ("IAC4", o::IAC4, OPT),
    ("DAC1", o::DAC1, OPT),
    ("DAC2", o::DAC2, OPT),
    ("DBSR", o::DBSR, OPT),
    ("SPRG9", o::SPRG9, OPT),
    ("VRSAVE", o::VRSAVE, OPT),
    (
        "DEBUG_INST",
        o::DEBUG_INST,
        RegAttrs::RO.with(RegAttrs::OPTIONAL),
    ),
    ("FPSCR", o::FPSCR, OPT),
    ("VSCR", o::VSCR, OPT),
];

/// The sregs fields that duplicate a ONE_REG register: (sregs field name, ONE_REG id).
pub static SREGS_ALIASES: &[(&str, RegId)] = &[
    ("sprg9", o::SPRG9),
    ("tsr", o::TSR),
    ("tcr", o::TCR),
    ("dbsr", o::DBSR),
    ("iac1", o::IAC1),
    ("iac2", o::IAC2),
    ("iac3", o::IAC3),
    ("iac4", o::IAC4),
    ("dac1", o::DAC1),
    ("dac2", o::DAC2),
    ("epr", o::EPR),
    ("vrsave", o::VRSAVE),
    ("epcr", o::EPCR),
    ("mas0", o::MAS0),
    ("mas1", o::MAS1),
    ("mas2", o::MAS2),
    ("mas7_3", o::MAS7_3),
    ("mas4", o::MAS4),
    ("mas6", o::MAS6),
    ("mmucfg", o::MMUCFG),
    ("eptcfg", o::EPTCFG),
    ("tlbcfg0", o::TLB0CFG),
    ("tlbcfg1", o::TLB1CFG),
    ("tlbcfg2", o::TLB2CFG),
    ("tlbcfg3", o::TLB3CFG),
    ("tlbps0", o::TLB0PS),
    ("tlbps1", o::TLB1PS),
    ("tlbps2", o::TLB2PS),
    ("tlbps3", o::TLB3PS),
];

/// Builds the table; `epcr`: whether the core has EPCR (ONE_REG `EPCR` is EINVAL on e500v2).
fn build(epcr: bool) -> Result<RegTable, TableError> {
    let mut t = RegTable::new("booke", RegArch::Ppc, &SETS, &BLOCKS);
    for (name, member, off) in regs_fields() {
        let id = RegId::new(RegArch::Ppc, SET_REGS, off as u32, RegSize::U64);
        t.push(RegDesc::field(name, id, RW, (BLOCK_REGS, off, 8), member))?;
    }
    for f in sregs_e_fields() {
        let size = RegSize::for_bytes(f.len).expect("sregs fields are small");
        let id = RegId::new(RegArch::Ppc, SET_SREGS_E, f.offset as u32, size);
        let alias = SREGS_ALIASES.iter().any(|(n, _)| *n == f.name);
        let mut attrs = if f.read_only { RegAttrs::RO } else { RW };
        if alias {
            attrs = attrs | RegAttrs::ALIAS;
        }
        if ["pvr", "svr"].contains(&f.name.as_str()) {
            attrs = attrs | RegAttrs::GUEST_RO;
        }
        if ["dec", "tb"].contains(&f.name.as_str()) {
            attrs = attrs | RegAttrs::VOLATILE;
        }
        let name = if alias {
            format!("sregs_{}", f.name)
        } else {
            f.name.clone()
        };
        t.push(RegDesc::field(
            name,
            id,
            attrs,
            (BLOCK_SREGS, f.offset, f.len),
            f.member.clone(),
        ))?;
    }
    if epcr {
        o::push_named(&mut t, BOOKE_ONE_REGS)?;
    } else {
        let named: Vec<_> = BOOKE_ONE_REGS
            .iter()
            .copied()
            .filter(|(_, id, _)| *id != o::EPCR)
            .collect();
        o::push_named(&mut t, &named)?;
    }
    o::push_array(&mut t, ("fpr", "FPR"), 32, o::fpr, OPT)?;
    o::push_array(&mut t, ("vr", "VR"), 32, o::vr, OPT)?;
    Ok(t)
}

static TABLE: LazyLock<RegTable> =
    LazyLock::new(|| build(true).expect("the BookE register table is consistent (unit-tested)"));

static TABLE_NO_EPCR: LazyLock<RegTable> =
    LazyLock::new(|| build(false).expect("the e500v2 register table is consistent (unit-tested)"));

/// The BookE register table (every register any of the cores has: snapshots and `inspect` read
/// by it).
pub fn table() -> &'static RegTable {
    &TABLE
}

/// The register table of `core`'s vCPUs: [`table`] without ONE_REG `EPCR` on e500v2, which has
/// none (its sregs copy stays, an alias that KVM marks absent).
pub fn table_for(core: crate::cpu::Core) -> &'static RegTable {
    if core.has_epcr() {
        &TABLE
    } else {
        &TABLE_NO_EPCR
    }
}

/// The ABI facts of the table: block sizes, field offsets and sizes, ONE_REG ids.
pub fn abi_facts() -> Vec<AbiFact> {
    table_facts(table())
}

/// The boot vCPU's entry registers as a register-table state (`nip`, `msr`, `gpr0`-`gpr31`, host
/// byte order): what `vmm_core::regs::write` applies with one `KVM_GET_REGS`/`KVM_SET_REGS`.
pub fn entry_state(entry: &crate::boot::EntryState) -> VcpuState {
    let t = table();
    let mut s = VcpuState::new();
    let mut put = |name: &str, v: u64| {
        // Every name below is a `struct kvm_regs` field of the table (unit-tested).
        if let Some(r) = t.by_name(name) {
            s.push(r.id, v.to_ne_bytes().to_vec());
        }
    };
    put("nip", entry.pc);
    put("msr", entry.msr);
    for (i, g) in entry.gpr.iter().enumerate() {
        put(&format!("gpr{i}"), *g);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvm_ppc::consts::*;
    use kvm_ppc::sregs::KvmSregs;
    use vmm_core::hypervisor::HvError;
    use vmm_core::regs::{format, save, write, RegBlock, RegLoc, VcpuRegs};

    #[test]
    fn table_has_the_booke_state() {
        let t = table();
        for n in [
            "mas0",
            "mas1",
            "mas2",
            "mas7_3",
            "mas4",
            "mas6",
            "mmucfg",
            "tlb0cfg",
            "tlb3cfg",
            "tlb0ps",
            "tlb3ps",
            "eptcfg",
            "tb_offset",
            "ivor0",
            "ivor15",
            "ivor32",
            "ivor37",
            "ivpr",
            "pid",
            "tcr",
            "tsr",
            "epcr",
            "epr",
            "dec",
            "pvr",
            "gpr31",
            "sprg7",
            "csrr0",
            "mcsr",
        ] {
            assert!(t.by_name(n).is_some(), "{n}");
        }
        assert_eq!(
            t.by_name("pid").unwrap().loc,
            RegLoc::Field {
                block: BLOCK_REGS,
                offset: 64,
                len: 8
            }
        );
        assert_eq!(
            t.by_name("sregs_mas0").unwrap().loc,
            RegLoc::Field {
                block: BLOCK_SREGS,
                offset: 456,
                len: 4
            }
        );
        assert!(t
            .by_name("sregs_mas0")
            .unwrap()
            .attrs
            .contains(RegAttrs::ALIAS));
        assert!(t.by_name("sregs_tlbcfg1").unwrap().attrs == RegAttrs::RO | RegAttrs::ALIAS);
        assert!(t.by_name("tb").unwrap().attrs == RegAttrs::RO | RegAttrs::VOLATILE);
    }

    #[test]
    fn overloaded_numbers_have_their_booke_meaning() {
        let t = table();
        let mas0 = t.by_name("mas0").unwrap().id;
        assert_eq!(
            (mas0.number(), mas0.size(), mas0.raw()),
            (0x8c, RegSize::U32, 0x1020_0000_0000_008c)
        );
        let mas1 = t.by_name("mas1").unwrap().id;
        assert_eq!((mas1.number(), mas1.size()), (0x8d, RegSize::U32));
        assert!(t.get(o::ICP_STATE).is_none() && t.get(o::VP_STATE).is_none());
        // Same table, Book3S ids: unknown, so a Book3S state cannot be restored into BookE.
        let mut s = VcpuState::new();
        s.push(o::ICP_STATE, vec![0; 8]);
        let e = write(t, &NoVcpu, &s).unwrap_err();
        assert!(
            e.to_string().contains("not in the booke register table"),
            "{e}"
        );
    }

    #[test]
    fn save_set_takes_one_reg_over_sregs() {
        let t = table();
        let saved: Vec<&str> = t
            .saved_ids()
            .iter()
            .map(|&i| t.get(i).unwrap().name.as_ref())
            .collect();
        for n in [
            "mas0", "tsr", "tcr", "tlb1cfg", "ivor5", "ivpr", "dec", "pvr", "pid", "gpr0",
        ] {
            assert!(saved.contains(&n), "{n}");
        }
        for n in [
            "sregs_mas0",
            "sregs_tsr",
            "tb",
            "pir",
            "or_tsr",
            "clear_tsr",
            "debug_inst",
            "num_iac",
        ] {
            assert!(!saved.contains(&n), "{n}");
        }
    }

    struct NoVcpu;
    impl VcpuRegs for NoVcpu {}

    /// The BookE sregs logic of the backend (kvm-ppc's `PpcVcpu` does exactly this around the
    /// ioctls) on an in-memory sregs: a test double for the feature/update logic only.
    struct SregsOnly {
        sregs: std::cell::RefCell<Vec<u8>>,
        written: std::cell::RefCell<Vec<u8>>,
    }

    impl VcpuRegs for SregsOnly {
        fn read_block(&self, b: &RegBlock, buf: &mut [u8]) -> Result<(), HvError> {
            if b.id != BLOCK_SREGS {
                return Err(HvError::Unsupported("only sregs"));
            }
            buf.copy_from_slice(&self.sregs.borrow());
            Ok(())
        }
        fn write_block(
            &self,
            _: &RegBlock,
            buf: &[u8],
            written: &[&RegDesc],
        ) -> Result<(), HvError> {
            let mut data = buf.to_vec();
            let offsets = written.iter().filter_map(|r| match r.loc {
                RegLoc::Field { offset, .. } => Some(offset as usize),
                _ => None,
            });
            kvm_ppc::sregs::set_update_special(&mut data, offsets);
            *self.written.borrow_mut() = data;
            Ok(())
        }
        fn field_present(&self, _: &RegBlock, data: &[u8], reg: &RegDesc) -> bool {
            let RegLoc::Field { offset, .. } = reg.loc else {
                return true;
            };
            kvm_ppc::sregs::sregs_e_field_at(offset as usize)
                .is_none_or(|f| kvm_ppc::sregs::needs_hold(data, f.needs))
        }
    }

    #[test]
    fn sregs_sections_and_update_special() {
        let t = table();
        let mut s = KvmSregs {
            pvr: 0x8024_0020,
            ..Default::default()
        };
        // SAFETY: writing plain integers of the BookE half of a zeroed union.
        unsafe {
            s.u.e.features = KVM_SREGS_E_BASE | KVM_SREGS_E_IVOR | KVM_SREGS_E_ARCH206_MMU;
            s.u.e.tsr = 0x0800_0000;
            s.u.e.ivor_low[5] = 0x500;
        }
        let v = SregsOnly {
            sregs: s.as_bytes().to_vec().into(),
            written: Vec::new().into(),
        };
        let ids: Vec<RegId> = ["pvr", "sregs_tsr", "ivor5", "ivpr", "sregs_epcr"]
            .iter()
            .map(|n| t.by_name(n).unwrap().id)
            .collect();
        let out = vmm_core::regs::read(t, &v, &ids[..4]).unwrap();
        // IVPR needs KVM_SREGS_E_ARCH206, which this vCPU lacks.
        assert_eq!(out.absent, vec![ids[3]]);
        assert_eq!(out.state.get(ids[0]).unwrap(), 0x8024_0020u32.to_ne_bytes());
        assert_eq!(out.state.get(ids[2]).unwrap(), 0x500u32.to_ne_bytes());
        // Writing TSR sets KVM_SREGS_E_UPDATE_TSR, and nothing else.
        let mut w = VcpuState::new();
        w.push(ids[1], 0u32.to_ne_bytes().to_vec());
        w.push(ids[2], 0x600u32.to_ne_bytes().to_vec());
        write(t, &v, &w).unwrap();
        let out = v.written.borrow().clone();
        let upd = kvm_ppc::sregs::E_UPDATE_SPECIAL;
        assert_eq!(out[upd..upd + 4], KVM_SREGS_E_UPDATE_TSR.to_ne_bytes());
        // A field of a section this vCPU lacks is refused, not silently dropped.
        let mut w = VcpuState::new();
        w.push(ids[3], 0u64.to_ne_bytes().to_vec());
        assert!(write(t, &v, &w).unwrap_err().to_string().contains("ivpr"));
        assert!(
            save(t, &v).is_err(),
            "regs and ONE_REG are not served by this double"
        );
    }

    #[test]
    fn entry_state_is_the_regs_block() {
        let mut gpr = [0u64; 32];
        gpr[3] = 0x00ff_0000;
        gpr[6] = 0x4550_4150;
        gpr[31] = 7;
        let e = crate::boot::EntryState {
            pc: 0x1000,
            msr: 0,
            gpr,
            boot_tlb: Default::default(),
            ima_size: 64 << 20,
        };
        let s = entry_state(&e);
        assert_eq!(s.len(), 34);
        let t = table();
        for r in &s {
            let d = t.get(r.id).unwrap();
            assert!(
                matches!(
                    d.loc,
                    RegLoc::Field {
                        block: BLOCK_REGS,
                        ..
                    }
                ),
                "{}",
                d.name
            );
        }
        let get = |n: &str| s.get(t.by_name(n).unwrap().id).unwrap().to_vec();
        assert_eq!(get("nip"), 0x1000u64.to_ne_bytes());
        assert_eq!(get("gpr6"), 0x4550_4150u64.to_ne_bytes());
        assert_eq!(get("gpr31"), 7u64.to_ne_bytes());
        // The whole state is writable: one read-modify-write of struct kvm_regs.
        let v = RegsOnly(Default::default());
        write(t, &v, &s).unwrap();
        let r = v.0.borrow();
        let word = |off: usize| u64::from_ne_bytes(r[off..off + 8].try_into().unwrap());
        assert_eq!(word(0), 0x1000, "kvm_regs.pc");
        assert_eq!(word(136 + 3 * 8), 0x00ff_0000, "kvm_regs.gpr[3]");
    }

    /// `struct kvm_regs` in memory (a test double for the block logic only).
    struct RegsOnly(std::cell::RefCell<Vec<u8>>);
    impl VcpuRegs for RegsOnly {
        fn read_block(&self, b: &RegBlock, buf: &mut [u8]) -> Result<(), HvError> {
            if b.id != BLOCK_REGS {
                return Err(HvError::Unsupported("only regs"));
            }
            let mut v = self.0.borrow_mut();
            v.resize(buf.len(), 0);
            buf.copy_from_slice(&v);
            Ok(())
        }
        fn write_block(&self, _: &RegBlock, buf: &[u8], _: &[&RegDesc]) -> Result<(), HvError> {
            *self.0.borrow_mut() = buf.to_vec();
            Ok(())
        }
    }

    #[test]
    fn printed_and_facts() {
        let text = format::table_text(table());
        let mas0 = text.lines().find(|l| l.starts_with("mas0 ")).unwrap();
        let cells: Vec<&str> = mas0.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "mas0",
                "one_reg",
                "0x8c",
                "U32",
                "rw",
                "0x102000000000008c",
                "ONE_REG"
            ]
        );
        let f = abi_facts();
        assert!(f
            .iter()
            .any(|x| x.expr == "KVM_REG_PPC_MAS0" && x.value == 0x1020_0000_0000_008c));
        assert!(f
            .iter()
            .any(|x| x.expr == "offsetof(struct kvm_sregs, u.e.ivor_high[5])"));
        assert!(table().iter().all(|r| !r.uapi.is_empty()));
    }

    #[test]
    fn e500v2_table_has_no_one_reg_epcr() {
        use crate::cpu::Core;
        let full = table_for(Core::E5500);
        assert!(std::ptr::eq(full, table()));
        let v2 = table_for(Core::E500v2);
        assert!(full.get(o::EPCR).is_some());
        assert!(v2.get(o::EPCR).is_none() && v2.by_name("epcr").is_none());
        // Everything else is the same register by the same id.
        assert_eq!(v2.iter().count() + 1, full.iter().count());
        for r in v2.iter() {
            assert_eq!(full.get(r.id).map(|f| &f.name), Some(&r.name));
        }
        assert!(v2.by_name("sregs_epcr").is_some());
        assert!(v2.by_name("mas0").is_some() && v2.by_name("tlb1cfg").is_some());
    }
}
