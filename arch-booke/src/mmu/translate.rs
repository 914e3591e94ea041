//! Guest TLB lookup and EA -> RA translation (seed 004: "walk guest TLB(s) to find a matching
//! entry; calculate guest physical address from TLB entry; check if the guest is allowed to
//! access that address").
//!
//! Lookup searches TLB0 first, only in the set the address hashes to, then TLB1, and takes the
//! first match, as KVM's `kvmppc_e500_tlb_index` does. An entry matches when it is valid, its TS
//! equals the address space, its TID is 0 or the PID, and the address lies in its page (EPN
//! compared under the page size). Multiple hits are an architectural error in the guest; tetra
//! (like KVM) then reports the first.

use super::array::TlbStore;
use super::entry::{Access, Perms};
use super::geometry::{Tlb, TlbPos};
use crate::abi::kvm_book3e_206_tlb_entry;
use thiserror::Error;

/// What to translate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query {
    /// The effective address.
    pub ea: u64,
    /// The current PID (matched against TID; TID 0 matches every PID).
    pub pid: u32,
    /// The address space (`MSR[IS]` for fetches, `MSR[DS]` for data): compared with TS.
    pub ts: bool,
    /// `MSR[CM]`: 64-bit mode. In 32-bit mode the effective address is truncated to 32 bits.
    pub cm: bool,
    /// The access to check, if any.
    pub access: Option<Access>,
}

/// A successful translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The effective address translated (after 32-bit truncation).
    pub ea: u64,
    /// The real (guest physical) address.
    pub ra: u64,
    /// Array index of the entry used.
    pub index: usize,
    /// Where that entry lives.
    pub pos: TlbPos,
    /// The entry.
    pub entry: kvm_book3e_206_tlb_entry,
    /// Size of its page.
    pub page_size: u64,
}

/// A translation that failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TranslateError {
    /// No entry matches (the guest would take a TLB miss).
    #[error("no TLB entry maps EA {ea:#x} for PID {pid}, AS {}", u8::from(*ts))]
    Miss {
        /// The effective address.
        ea: u64,
        /// The PID.
        pid: u32,
        /// The address space.
        ts: bool,
    },
    /// An entry matches but does not allow the access (the guest would take a storage
    /// interrupt).
    #[error("{access} of EA {ea:#x} denied by TLB entry {index} (permissions {perms})")]
    Denied {
        /// The effective address.
        ea: u64,
        /// The access.
        access: Access,
        /// The entry's permissions.
        perms: Perms,
        /// Array index of the entry.
        index: usize,
    },
}

/// First valid entry of `tlb` matching `ea`, `pid` (TID 0 always matches) and, if given, `ts`.
/// TLB0 is searched only in the set `ea` hashes to. Returns the array index and the entry.
pub fn lookup_in<S: TlbStore + ?Sized>(
    store: &S,
    tlb: Tlb,
    ea: u64,
    pid: u32,
    ts: Option<bool>,
) -> Option<(usize, kvm_book3e_206_tlb_entry)> {
    let g = *store.geometry();
    let (first, count) = match tlb {
        Tlb::Tlb0 => (g.tlb0_index(ea, 0)?, g.ways(Tlb::Tlb0)),
        Tlb::Tlb1 => (g.base(Tlb::Tlb1), g.entries(Tlb::Tlb1)),
    };
    (first..first + count as usize).find_map(|i| {
        let e = store.entry(i)?;
        let hit = e.valid()
            && ts.is_none_or(|ts| e.ts() == ts)
            && (e.tid() == 0 || e.tid() == pid)
            && e.covers(tlb, ea);
        hit.then_some((i, e))
    })
}

/// The entry that translates `ea` for `pid` in address space `ts`: TLB0 first, then TLB1.
pub fn lookup<S: TlbStore + ?Sized>(
    store: &S,
    ea: u64,
    pid: u32,
    ts: bool,
) -> Option<(usize, kvm_book3e_206_tlb_entry)> {
    Tlb::ALL
        .iter()
        .find_map(|tlb| lookup_in(store, *tlb, ea, pid, Some(ts)))
}

/// Translates `q.ea` and checks `q.access`.
pub fn translate<S: TlbStore + ?Sized>(
    store: &S,
    q: &Query,
) -> Result<Translation, TranslateError> {
    let ea = if q.cm { q.ea } else { q.ea & 0xffff_ffff };
    let (index, entry) = lookup(store, ea, q.pid, q.ts).ok_or(TranslateError::Miss {
        ea,
        pid: q.pid,
        ts: q.ts,
    })?;
    let pos = store
        .geometry()
        .position(index)
        .ok_or(TranslateError::Miss {
            ea,
            pid: q.pid,
            ts: q.ts,
        })?;
    if let Some(access) = q.access {
        if !entry.perms().contains(access.required()) {
            return Err(TranslateError::Denied {
                ea,
                access,
                perms: entry.perms(),
                index,
            });
        }
    }
    Ok(Translation {
        ea,
        ra: entry.real_address(pos.tlb, ea),
        index,
        pos,
        entry,
        page_size: entry.page_size(pos.tlb),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmu::array::TlbArray;
    use crate::mmu::entry::*;
    use crate::mmu::geometry::TlbGeometry;
    use crate::mmu::ops::{GuestMmu, MasRegs};
    use crate::test_util::Rng;

    /// The reference: scan the whole array in order, decode every field from the raw MAS words
    /// with nothing shared with the code under test, take the first hit.
    fn reference(a: &TlbArray, ea: u64, pid: u32, ts: bool, cm: bool) -> Option<(usize, u64)> {
        let ea = if cm { ea } else { ea as u32 as u64 };
        let n0 = a.geometry().entries(Tlb::Tlb0) as usize;
        for (i, e) in a.entries().iter().enumerate() {
            let v = e.mas1 >> 31 == 1;
            let e_ts = (e.mas1 >> 12) & 1 == 1;
            let tid = (e.mas1 >> 16) & 0x3fff;
            let shift = if i < n0 {
                12
            } else {
                (10 + ((e.mas1 >> 7) & 0x1f)).max(12)
            };
            let size = 1u64 << shift;
            let base = (e.mas2 >> 12 << 12) / size * size;
            if v && e_ts == ts && (tid == 0 || tid == pid) && ea >= base && ea - base < size {
                let rbase = (e.mas7_3 >> 12 << 12) / size * size;
                return Some((i, rbase + (ea - base)));
            }
        }
        None
    }

    /// Fills a TLB through tlbwe with random entries drawn from a small space of addresses,
    /// PIDs and sizes, so that hits, misses and overlaps are all frequent.
    fn random_tlb(rng: &mut Rng, g: TlbGeometry, n: usize) -> TlbArray {
        let mut mmu = GuestMmu::new(TlbArray::new(g));
        for _ in 0..n {
            let tlb = rng.below(2) as u32;
            let tsize = 2 + 2 * rng.below(6) as u32; // 4K .. 4M, powers of 4
            let mas = MasRegs {
                mas0: (tlb << MAS0_TLBSEL_SHIFT) | ((rng.below(64) as u32) << MAS0_ESEL_SHIFT),
                mas1: if rng.below(8) == 0 { 0 } else { MAS1_VALID }
                    | ((rng.below(4) as u32) << MAS1_TID_SHIFT)
                    | if rng.below(4) == 0 { MAS1_TS } else { 0 }
                    | (tsize << MAS1_TSIZE_SHIFT),
                mas2: (rng.below(1 << 12) << 12) | rng.below(0x80),
                mas7_3: (rng.next() & 0xf_ffff_f000) | rng.below(0x400),
                ..MasRegs::default()
            };
            mmu.tlbwe(&mas, true).unwrap();
        }
        mmu.into_store()
    }

    #[test]
    fn lookup_matches_brute_force_reference() {
        let mut rng = Rng::new(0x7e7a_b00c);
        for geometry in [
            TlbGeometry::E500MC,
            TlbGeometry::new(16, 2, 4).unwrap(),
            TlbGeometry::new(64, 16, 1).unwrap(),
        ] {
            let (mut hits, mut misses) = (0, 0);
            for round in 0..40 {
                let a = random_tlb(&mut rng, geometry, 10 + round * 5);
                assert!(
                    a.misplaced().is_empty(),
                    "tlbwe placed a TLB0 entry in the wrong set"
                );
                for _ in 0..400 {
                    // Half the addresses fall in some entry's page, so hits are common and the
                    // TID/TS/V filters are exercised; the rest are anywhere.
                    let pick = a.entries()[rng.below(a.entries().len() as u64) as usize];
                    let ea = if rng.below(2) == 0 {
                        {
                            let span = 12 + 10 * rng.below(2);
                            (pick.mas2 & !0xfff) ^ rng.below(1 << span)
                        }
                    } else {
                        (rng.below(1 << 12) << 12) | rng.below(1 << 12)
                    };
                    let ea = if rng.below(8) == 0 {
                        ea | (rng.next() << 32)
                    } else {
                        ea
                    };
                    let pid = rng.below(4) as u32;
                    let ts = rng.below(4) == 0;
                    let cm = rng.below(2) == 0;
                    let q = Query {
                        ea,
                        pid,
                        ts,
                        cm,
                        access: None,
                    };
                    let got = translate(&a, &q).ok().map(|t| (t.index, t.ra));
                    assert_eq!(got, reference(&a, ea, pid, ts, cm), "{geometry} {q:?}");
                    if got.is_some() {
                        hits += 1
                    } else {
                        misses += 1
                    }
                }
            }
            assert!(
                hits > 400 && misses > 400,
                "{geometry}: {hits} hits, {misses} misses"
            );
        }
    }

    #[test]
    fn permission_checks() {
        let mut rng = Rng::new(99);
        let mut a = TlbArray::new(TlbGeometry::E500MC);
        for bits in 0u8..64 {
            let m = Mapping {
                ea: u64::from(bits) << 24,
                ra: 0x4000_0000 + (u64::from(bits) << 24),
                tsize: 14,
                tid: 0,
                ts: false,
                iprot: false,
                attrs: 0,
                perms: Perms(bits),
            };
            let e = kvm_book3e_206_tlb_entry::from_mapping(&m);
            crate::mmu::array::TlbStore::write(&mut a, 512 + usize::from(bits), e).unwrap();
        }
        for _ in 0..2000 {
            let bits = rng.below(64) as u8;
            let kind =
                [AccessKind::Read, AccessKind::Write, AccessKind::Execute][rng.below(3) as usize];
            let access = Access {
                kind,
                user: rng.below(2) == 0,
            };
            let ea = (u64::from(bits) << 24) | rng.below(1 << 24);
            let q = Query {
                ea,
                pid: 5,
                ts: false,
                cm: false,
                access: Some(access),
            };
            let want_bit = match (kind, access.user) {
                (AccessKind::Execute, true) => 0x20,
                (AccessKind::Execute, false) => 0x10,
                (AccessKind::Write, true) => 0x08,
                (AccessKind::Write, false) => 0x04,
                (AccessKind::Read, true) => 0x02,
                (AccessKind::Read, false) => 0x01,
            };
            match translate(&a, &q) {
                Ok(t) => {
                    assert!(bits & want_bit != 0);
                    assert_eq!(t.ra, 0x4000_0000 + ea);
                }
                Err(TranslateError::Denied { perms, index, .. }) => {
                    assert!(bits & want_bit == 0);
                    assert_eq!(perms, Perms(bits));
                    assert_eq!(index, 512 + usize::from(bits));
                }
                Err(e) => panic!("unexpected {e}"),
            }
        }
    }

    #[test]
    fn tid_ts_and_32bit_mode() {
        let mut a = TlbArray::new(TlbGeometry::E500MC);
        let mk = |ea, ra, tid, ts| {
            kvm_book3e_206_tlb_entry::from_mapping(&Mapping {
                ea,
                ra,
                tsize: 10,
                tid,
                ts,
                iprot: false,
                attrs: 0,
                perms: Perms::ALL,
            })
        };
        a.write(512, mk(0x1000_0000, 0x100_0000, 7, false)).unwrap();
        a.write(513, mk(0x1000_0000, 0x200_0000, 0, true)).unwrap();
        let q = |ea, pid, ts, cm| Query {
            ea,
            pid,
            ts,
            cm,
            access: None,
        };
        assert_eq!(
            translate(&a, &q(0x1000_0010, 7, false, true)).unwrap().ra,
            0x100_0010
        );
        assert!(matches!(
            translate(&a, &q(0x1000_0010, 8, false, true)),
            Err(TranslateError::Miss { pid: 8, .. })
        ));
        // TID 0 is global: any PID, but only in its own address space.
        assert_eq!(
            translate(&a, &q(0x1000_0010, 8, true, true)).unwrap().ra,
            0x200_0010
        );
        // 32-bit mode drops the upper half of the EA; 64-bit mode does not.
        assert_eq!(
            translate(&a, &q(0xffff_ffff_1000_0010, 7, false, false))
                .unwrap()
                .index,
            512
        );
        assert!(translate(&a, &q(0xffff_ffff_1000_0010, 7, false, true)).is_err());
        let err = translate(&a, &q(0x2000_0000, 1, false, true)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no TLB entry maps EA 0x20000000 for PID 1, AS 0"
        );
    }
}
