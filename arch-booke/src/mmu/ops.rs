//! The guest TLB instructions (tlbwe, tlbre, tlbsx, tlbivax, tlbilx) on a TLB array, with the
//! MAS registers as inputs and outputs.
//!
//! The semantics follow KVM's e500 emulation (`arch/powerpc/kvm/e500_mmu.c`), which is what a
//! guest sees under KVM_CAP_SW_TLB, with two deliberate differences, both towards the
//! architecture (Power ISA 2.06 Book III-E):
//! - tlbivax invalidates *every* non-protected entry of the selected TLB whose page holds the
//!   address, whatever its TID and TS; KVM invalidates only the first entry matching the current
//!   PID.
//! - tlbilx T=3 invalidates every non-protected entry that tlbsx with MAS6 would find (TID 0 or
//!   SPID, TS = SAS); KVM ignores TS there and stops at the first.
//!
//! Invalidation clears MAS1 (V, IPROT, TID, TS, TSIZE) and leaves MAS2/MAS7_3 as they were, as
//! KVM does. Entries with IPROT set survive tlbivax and tlbilx.

use super::array::{ArrayError, TlbStore};
use super::entry::*;
use super::geometry::Tlb;
use super::translate::lookup_in;
use crate::abi::kvm_book3e_206_tlb_entry;
use thiserror::Error;

/// Errors of the TLB instructions (conditions a real core leaves undefined).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum OpsError {
    /// `MAS0[TLBSEL]` names TLB2 or TLB3, which KVM does not provide.
    #[error("MAS0[TLBSEL] = {0} selects a TLB that does not exist (only TLB0 and TLB1)")]
    NoSuchTlb(u32),
    /// The selected TLB has no entries.
    #[error("{0} has no entries")]
    EmptyTlb(Tlb),
    /// tlbilx with the reserved T=2.
    #[error("tlbilx T={0} is reserved")]
    ReservedTlbilxType(u32),
    /// The array rejected an access.
    #[error("TLB array access failed")]
    Array(#[source] ArrayError),
}

/// The MAS registers the TLB instructions read and write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MasRegs {
    /// MAS0: TLBSEL, ESEL, NV.
    pub mas0: u32,
    /// MAS1: V, IPROT, TID, TS, TSIZE.
    pub mas1: u32,
    /// MAS2: EPN, attributes.
    pub mas2: u64,
    /// MAS7 || MAS3: RPN, U0-U3, permissions.
    pub mas7_3: u64,
    /// MAS4: defaults loaded on a miss.
    pub mas4: u32,
    /// MAS6: SPID, SAS (search context).
    pub mas6: u32,
    /// MAS8: hypervisor fields, stored with the entry.
    pub mas8: u32,
}

impl MasRegs {
    fn tlbsel(&self) -> Result<Tlb, OpsError> {
        let n = (self.mas0 & MAS0_TLBSEL_MASK) >> MAS0_TLBSEL_SHIFT;
        Tlb::from_number(n).ok_or(OpsError::NoSuchTlb(n))
    }

    fn esel(&self) -> u32 {
        (self.mas0 & MAS0_ESEL_MASK) >> MAS0_ESEL_SHIFT
    }

    fn spid(&self) -> u32 {
        (self.mas6 & MAS6_SPID_MASK) >> MAS6_SPID_SHIFT
    }

    fn sas(&self) -> bool {
        self.mas6 & MAS6_SAS != 0
    }
}

/// tlbilx's T field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlbilxType {
    /// T=0: invalidate everything (not protected).
    All,
    /// T=1: invalidate entries whose TID equals `MAS6[SPID]`.
    Pid,
    /// T=3: invalidate the entries translating an address for `MAS6[SPID]` and `MAS6[SAS]`.
    Address,
}

impl TlbilxType {
    /// Decodes the instruction's T field.
    pub fn from_field(t: u32) -> Result<Self, OpsError> {
        match t {
            0 => Ok(Self::All),
            1 => Ok(Self::Pid),
            3 => Ok(Self::Address),
            t => Err(OpsError::ReservedTlbilxType(t)),
        }
    }
}

/// A guest's TLB: the array plus the next-victim counters that `MAS0[NV]` reports.
#[derive(Debug)]
pub struct GuestMmu<S: TlbStore> {
    store: S,
    nv: [u32; 2],
}

impl<S: TlbStore> GuestMmu<S> {
    /// Wraps a TLB array.
    pub fn new(store: S) -> Self {
        Self { store, nv: [0; 2] }
    }

    /// The array.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Gives the array back.
    pub fn into_store(self) -> S {
        self.store
    }

    /// Array index selected by `MAS0[TLBSEL]`, `MAS0[ESEL]` and (for TLB0) the set of MAS2:
    /// TLB0 takes ESEL modulo the ways; TLB1 takes `ESEL & (entries - 1)`, as KVM does.
    pub fn selected_index(&self, mas: &MasRegs) -> Result<(Tlb, usize), OpsError> {
        let tlb = mas.tlbsel()?;
        let g = self.store.geometry();
        let n = g.entries(tlb);
        if n == 0 {
            return Err(OpsError::EmptyTlb(tlb));
        }
        let index = match tlb {
            Tlb::Tlb0 => g.tlb0_index(mas.mas2, mas.esel() & (g.ways(Tlb::Tlb0) - 1)),
            Tlb::Tlb1 => g.index(Tlb::Tlb1, mas.esel() & (n - 1)),
        };
        // Both computations stay in range by construction.
        index.map(|i| (tlb, i)).ok_or(OpsError::EmptyTlb(tlb))
    }

    fn entry(&self, index: usize) -> Result<kvm_book3e_206_tlb_entry, OpsError> {
        let len = self.store.geometry().total_entries();
        self.store
            .entry(index)
            .ok_or(OpsError::Array(ArrayError::IndexOutOfRange { index, len }))
    }

    fn put(&mut self, index: usize, e: kvm_book3e_206_tlb_entry) -> Result<(), OpsError> {
        self.store.write(index, e).map_err(OpsError::Array)
    }

    /// tlbwe: writes MAS1, MAS2, MAS7_3 and MAS8 into the entry MAS0 selects. In 32-bit mode
    /// (`cm` false) the upper half of MAS2 is dropped. TLB0 entries get TSIZE = 4 KiB ("The
    /// tsize field of mas1 shall be set to 4K on TLB0"). Returns the array index written.
    pub fn tlbwe(&mut self, mas: &MasRegs, cm: bool) -> Result<usize, OpsError> {
        let (tlb, index) = self.selected_index(mas)?;
        let mut mas1 = mas.mas1;
        if tlb == Tlb::Tlb0 {
            mas1 = (mas1 & !MAS1_TSIZE_MASK) | (TSIZE_4K << MAS1_TSIZE_SHIFT);
        }
        let e = kvm_book3e_206_tlb_entry {
            mas8: mas.mas8,
            mas1,
            mas2: if cm { mas.mas2 } else { mas.mas2 & 0xffff_ffff },
            mas7_3: mas.mas7_3,
        };
        self.put(index, e)?;
        Ok(index)
    }

    /// tlbre: reads the entry MAS0 selects into MAS1, MAS2, MAS7_3 and MAS8; `MAS0[NV]` gets the
    /// TLB's next victim.
    pub fn tlbre(&self, mas: &mut MasRegs) -> Result<usize, OpsError> {
        let (tlb, index) = self.selected_index(mas)?;
        let e = self.entry(index)?;
        mas.mas0 = (mas.mas0 & !MAS0_NV_MASK) | (self.nv[tlb.number() as usize] & MAS0_NV_MASK);
        mas.mas1 = e.mas1;
        mas.mas2 = e.mas2;
        mas.mas7_3 = e.mas7_3;
        mas.mas8 = e.mas8;
        Ok(index)
    }

    /// tlbsx: searches TLB0 then TLB1 for `ea` with `MAS6[SPID]` and `MAS6[SAS]`.
    ///
    /// On a hit the MAS registers describe the entry (MAS0: TLBSEL, ESEL as the way within its
    /// set, NV) and its index is returned. On a miss they are loaded with MAS4's defaults, V
    /// clear, for a following tlbwe (MAS0 TLBSEL = TLBSELD and ESEL = the next victim; MAS1 TID
    /// = SPID, TS = SAS, TSIZE = TSIZED; MAS2 keeps its EPN and takes MAS4's attributes; MAS7_3
    /// keeps only U0-U3), and `None` is returned.
    pub fn tlbsx(&mut self, ea: u64, mas: &mut MasRegs) -> Option<usize> {
        let (pid, sas) = (mas.spid(), mas.sas());
        let g = *self.store.geometry();
        for tlb in Tlb::ALL {
            if let Some((index, e)) = lookup_in(&self.store, tlb, ea, pid, Some(sas)) {
                let esel = g.position(index).map_or(0, |p| p.way);
                mas.mas0 = (tlb.number() << MAS0_TLBSEL_SHIFT)
                    | ((esel << MAS0_ESEL_SHIFT) & MAS0_ESEL_MASK)
                    | (self.nv[tlb.number() as usize] & MAS0_NV_MASK);
                mas.mas1 = e.mas1;
                mas.mas2 = e.mas2;
                mas.mas7_3 = e.mas7_3;
                mas.mas8 = e.mas8;
                return Some(index);
            }
        }
        let tlbsel = (mas.mas4 >> MAS4_TLBSELD_SHIFT) & 1;
        let victim = if tlbsel == 0 { self.next_victim() } else { 0 };
        mas.mas0 = (tlbsel << MAS0_TLBSEL_SHIFT)
            | ((victim << MAS0_ESEL_SHIFT) & MAS0_ESEL_MASK)
            | (self.nv[tlbsel as usize] & MAS0_NV_MASK);
        mas.mas1 = (mas.mas6 & MAS6_SPID_MASK)
            | if sas { MAS1_TS } else { 0 }
            | (mas.mas4 & MAS4_TSIZED_MASK);
        mas.mas2 = (mas.mas2 & MAS2_EPN_MASK) | u64::from(mas.mas4 & MAS4_ATTRD_MASK);
        mas.mas7_3 &= MAS3_U0_U3;
        None
    }

    /// The next TLB0 victim way (round robin), advancing the counter.
    fn next_victim(&mut self) -> u32 {
        let ways = self.store.geometry().ways(Tlb::Tlb0);
        let victim = self.nv[0];
        self.nv[0] = (victim + 1) % ways;
        victim
    }

    fn invalidate_where(
        &mut self,
        tlb: Tlb,
        mut pred: impl FnMut(&kvm_book3e_206_tlb_entry) -> bool,
    ) -> Result<usize, OpsError> {
        let g = *self.store.geometry();
        let mut n = 0;
        for esel in 0..g.entries(tlb) {
            let Some(index) = g.index(tlb, esel) else {
                continue;
            };
            let mut e = self.entry(index)?;
            if e.valid() && !e.iprot() && pred(&e) {
                e.mas1 = 0;
                self.put(index, e)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// tlbivax with effective address `ea`: EA bit 2 (IA) invalidates the whole TLB that EA bit
    /// 3 selects; otherwise every entry of that TLB whose page holds `ea`. Returns the number of
    /// entries invalidated.
    pub fn tlbivax(&mut self, ea: u64) -> Result<usize, OpsError> {
        let all = (ea >> 2) & 1 == 1;
        let tlb = if (ea >> 3) & 1 == 1 {
            Tlb::Tlb1
        } else {
            Tlb::Tlb0
        };
        let page = ea & MAS2_EPN_MASK;
        self.invalidate_where(tlb, |e| all || e.covers(tlb, page))
    }

    /// tlbilx of type `t` (address `ea` for T=3), with MAS6 giving SPID and SAS. Returns the
    /// number of entries invalidated.
    pub fn tlbilx(&mut self, t: TlbilxType, ea: u64, mas: &MasRegs) -> Result<usize, OpsError> {
        let (pid, sas) = (mas.spid(), mas.sas());
        let mut n = 0;
        for tlb in Tlb::ALL {
            n += match t {
                TlbilxType::All => self.invalidate_where(tlb, |_| true)?,
                TlbilxType::Pid => self.invalidate_where(tlb, |e| e.tid() == pid)?,
                TlbilxType::Address => {
                    self.invalidate_where(tlb, |e| e.matches(tlb, ea, pid, sas))?
                }
            };
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmu::array::TlbArray;
    use crate::mmu::geometry::TlbGeometry;

    fn mmu() -> GuestMmu<TlbArray> {
        GuestMmu::new(TlbArray::new(TlbGeometry::E500MC))
    }

    fn mas0(tlb: u32, esel: u32) -> u32 {
        (tlb << MAS0_TLBSEL_SHIFT) | (esel << MAS0_ESEL_SHIFT)
    }

    fn write(m: &mut GuestMmu<TlbArray>, tlb: u32, esel: u32, mas1: u32, mas2: u64) -> usize {
        let mas = MasRegs {
            mas0: mas0(tlb, esel),
            mas1,
            mas2,
            mas7_3: ((mas2 & !0xfff) + 0x1000_0000) | 0x15,
            mas8: 0x42,
            ..MasRegs::default()
        };
        m.tlbwe(&mas, true).unwrap()
    }

    #[test]
    fn tlbwe_places_by_set_and_way_and_forces_4k_in_tlb0() {
        let mut m = mmu();
        // set = (MAS2 >> 12) & 127; ESEL 6 & (4 - 1) = way 2.
        let idx = write(&mut m, 0, 6, MAS1_VALID | (14 << 7), 0x0003_5000);
        assert_eq!(idx, 0x35 * 4 + 2);
        let e = m.store().entries()[idx];
        assert_eq!(e.tsize(), TSIZE_4K);
        assert_eq!(e.mas8, 0x42);
        // TLB1 keeps TSIZE; ESEL 70 & 63 = 6.
        let idx = write(&mut m, 1, 70, MAS1_VALID | (14 << 7), 0x0100_0000);
        assert_eq!(idx, 512 + 6);
        assert_eq!(m.store().entries()[idx].tsize(), 14);
        // 32-bit mode drops MAS2's upper half.
        let mas = MasRegs {
            mas0: mas0(1, 1),
            mas1: MAS1_VALID,
            mas2: 0xdead_beef_0000_1000,
            ..MasRegs::default()
        };
        let i = m.tlbwe(&mas, false).unwrap();
        assert_eq!(m.store().entries()[i].mas2, 0x1000);
        let bad = MasRegs {
            mas0: mas0(2, 0),
            ..MasRegs::default()
        };
        assert_eq!(m.tlbwe(&bad, true), Err(OpsError::NoSuchTlb(2)));
        let mut empty = GuestMmu::new(TlbArray::new(TlbGeometry::new(8, 2, 0).unwrap()));
        assert_eq!(
            empty.tlbwe(
                &MasRegs {
                    mas0: mas0(1, 0),
                    ..MasRegs::default()
                },
                true
            ),
            Err(OpsError::EmptyTlb(Tlb::Tlb1))
        );
    }

    #[test]
    fn tlbre_reads_back_what_tlbwe_wrote() {
        let mut m = mmu();
        let wrote = MasRegs {
            mas0: mas0(1, 9),
            mas1: MAS1_VALID | MAS1_IPROT | (3 << 16) | (18 << 7),
            mas2: 0xc000_0000 | MAS2_M,
            mas7_3: 0x1_2000_0000 | 0x3f,
            mas8: 7,
            ..MasRegs::default()
        };
        m.tlbwe(&wrote, true).unwrap();
        let mut r = MasRegs {
            mas0: mas0(1, 9),
            ..MasRegs::default()
        };
        assert_eq!(m.tlbre(&mut r).unwrap(), 512 + 9);
        assert_eq!(
            (r.mas1, r.mas2, r.mas7_3, r.mas8),
            (wrote.mas1, wrote.mas2, wrote.mas7_3, 7)
        );
    }

    #[test]
    fn tlbsx_hit_and_miss() {
        let mut m = mmu();
        write(&mut m, 0, 3, MAS1_VALID | (5 << 16), 0x0004_2000);
        write(&mut m, 1, 4, MAS1_VALID | MAS1_TS | (10 << 7), 0x0800_0000);
        // Hit in TLB0: ESEL reports the way.
        let mut mas = MasRegs {
            mas6: 5 << 16,
            ..MasRegs::default()
        };
        let idx = m.tlbsx(0x0004_2abc, &mut mas).unwrap();
        assert_eq!(idx, 0x42 * 4 + 3);
        assert_eq!((mas.mas0 >> 28, (mas.mas0 >> 16) & 0xfff), (0, 3));
        assert!(mas.mas1 & MAS1_VALID != 0);
        // Hit in TLB1 only with SAS = TS.
        let mut mas = MasRegs {
            mas6: MAS6_SAS,
            ..MasRegs::default()
        };
        assert_eq!(m.tlbsx(0x080f_ffff, &mut mas), Some(512 + 4));
        assert_eq!((mas.mas0 >> 16) & 0xfff, 4);
        // Miss: MAS4 defaults, V clear, victim round robin in TLB0.
        let mut mas = MasRegs {
            mas2: 0x7777_7000 | 0x1f,
            mas4: (10 << 7) | 0x0a,
            mas6: (9 << 16) | MAS6_SAS,
            mas7_3: 0xffff_ffff,
            ..MasRegs::default()
        };
        assert_eq!(m.tlbsx(0x0004_2abc, &mut mas), None);
        assert_eq!(mas.mas0, 1); // TLBSEL 0, ESEL = victim 0, NV now 1
        assert_eq!(mas.mas1, (9 << 16) | MAS1_TS | (10 << 7));
        assert_eq!(mas.mas2, 0x7777_7000 | 0x0a);
        assert_eq!(mas.mas7_3, 0x3c0);
        let mut again = MasRegs::default();
        m.tlbsx(0xdead_0000, &mut again);
        assert_eq!((again.mas0 >> 16) & 0xfff, 1);
        assert_eq!(again.mas0 & 0xfff, 2);
    }

    #[test]
    fn tlbivax_respects_iprot_and_selects_tlb() {
        let mut m = mmu();
        let a = write(&mut m, 1, 0, MAS1_VALID | (10 << 7), 0x0010_0000); // 1 MiB
        let b = write(
            &mut m,
            1,
            1,
            MAS1_VALID | MAS1_IPROT | (10 << 7),
            0x0010_0000,
        );
        let c = write(
            &mut m,
            1,
            2,
            MAS1_VALID | (3 << 16) | MAS1_TS | (10 << 7),
            0x0010_0000,
        );
        let d = write(&mut m, 0, 0, MAS1_VALID, 0x0010_0000);
        // TLB1 by address: every unprotected entry whose page holds it, any TID/TS.
        assert_eq!(m.tlbivax(0x0018_0000 | 8).unwrap(), 2);
        let e = m.store().entries();
        assert!(!e[a].valid() && e[b].valid() && !e[c].valid() && e[d].valid());
        assert_eq!(e[a].mas2, 0x0010_0000, "MAS2 is kept");
        // TLB0 invalidate-all (IA).
        assert_eq!(m.tlbivax(4).unwrap(), 1);
        assert!(!m.store().entries()[d].valid());
        assert_eq!(m.tlbivax(4 | 8).unwrap(), 0, "IPROT survives");
    }

    #[test]
    fn tlbilx_types() {
        let mut m = mmu();
        let p5 = write(
            &mut m,
            1,
            0,
            MAS1_VALID | (5 << 16) | (10 << 7),
            0x0010_0000,
        );
        let g0 = write(&mut m, 1, 1, MAS1_VALID | (10 << 7), 0x0020_0000);
        let p6 = write(&mut m, 0, 0, MAS1_VALID | (6 << 16), 0x0010_0000);
        let p5ts = write(
            &mut m,
            1,
            2,
            MAS1_VALID | (5 << 16) | MAS1_TS | (10 << 7),
            0x0010_0000,
        );
        let mas = |pid: u32, sas: bool| MasRegs {
            mas6: (pid << 16) | u32::from(sas),
            ..MasRegs::default()
        };
        assert_eq!(
            TlbilxType::from_field(2),
            Err(OpsError::ReservedTlbilxType(2))
        );
        // T=3: translation match (TID 5 or 0, TS 0) at 0x100000.
        assert_eq!(
            m.tlbilx(TlbilxType::Address, 0x0010_0000, &mas(5, false))
                .unwrap(),
            1
        );
        assert!(!m.store().entries()[p5].valid());
        assert!(m.store().entries()[p5ts].valid());
        // T=1: TID equal to SPID only (not TID 0).
        assert_eq!(m.tlbilx(TlbilxType::Pid, 0, &mas(6, false)).unwrap(), 1);
        assert!(!m.store().entries()[p6].valid() && m.store().entries()[g0].valid());
        // T=0: everything.
        assert_eq!(m.tlbilx(TlbilxType::All, 0, &mas(0, false)).unwrap(), 2);
        assert_eq!(m.store().valid_entries().count(), 0);
    }
}
