//! EA -> RA translation through the SLB and the hashed page table, as the hardware (and
//! KVM-HV's `kvmppc_hv_find_lock_hpte`) does it:
//!
//! 1. the SLB gives the segment of the EA: its size, VSID and base page size;
//! 2. the virtual address is `VSID || EA[27:0]` (1 TB: `VSID || EA[39:0]`), 78 bits;
//! 3. the primary PTEG (`hash & mask`) is searched, then the secondary (`!hash & mask`), each
//!    in slot order, for the first entry with V set, H equal to the group searched, B equal to
//!    the segment size, AVPN equal to VA bits 77:23 (for base pages of 16M, the AVPN bits under
//!    the page size are compared as zero) and the base page size of its LP code equal to the
//!    segment's;
//! 4. the RA is the entry's RPN above the actual page size plus the EA's offset in that page.
//!
//! What the access may do (PP with the segment's Ks/Kp, N) is reported, not checked.

use super::hash::{hash, HtabGeometry};
use super::hpte::{Hpte, PageSizes, HPTE_V_AVPN, HPTE_V_AVPN_SHIFT};
use super::slb::{Segment, Slb};
use thiserror::Error;

/// Where translation reads HPTEs: a hash table of some geometry.
pub trait HptStore {
    /// The table's geometry.
    fn geometry(&self) -> HtabGeometry;
    /// The entry at `index` (`< geometry().entries()`); an empty slot reads as zero.
    fn hpte(&self, index: u64) -> Hpte;
}

/// A successful translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The effective address.
    pub ea: u64,
    /// The 78-bit virtual address.
    pub va: u128,
    /// The real (guest physical) address.
    pub ra: u64,
    /// The index of the HPTE used.
    pub index: u64,
    /// The HPTE.
    pub hpte: Hpte,
    /// The SLB entry used.
    pub segment: Segment,
    /// Base and actual page size.
    pub page: PageSizes,
    /// `PP0 || PP`.
    pub pp: u8,
    /// WIMG.
    pub wimg: u8,
    /// R.
    pub referenced: bool,
    /// C.
    pub changed: bool,
    /// No execute: the HPTE's N or the segment's.
    pub no_execute: bool,
}

/// A translation that failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TranslateError {
    /// No SLB entry covers the EA (the guest would take a segment interrupt).
    #[error("no SLB entry covers EA {0:#x}")]
    Segment(u64),
    /// Neither PTEG holds a matching entry (the guest would take a storage interrupt).
    #[error("no HPTE maps EA {ea:#x} (VSID {vsid:#x}; PTEGs {primary:#x} and {secondary:#x})")]
    Page {
        /// The effective address.
        ea: u64,
        /// The segment's VSID.
        vsid: u64,
        /// The primary PTEG searched.
        primary: u64,
        /// The secondary PTEG searched.
        secondary: u64,
    },
}

/// The virtual address of `ea` in `seg`.
pub fn virtual_address(seg: &Segment, ea: u64) -> u128 {
    let shift = seg.size.shift();
    (u128::from(seg.vsid) << shift) | u128::from(ea & ((1u64 << shift) - 1))
}

/// The AVPN an entry for `va` in a segment of base page shift `base_shift` carries.
pub fn avpn(va: u128, base_shift: u32) -> u64 {
    let a = (va >> 23) as u64 & (HPTE_V_AVPN >> HPTE_V_AVPN_SHIFT);
    if base_shift > 23 {
        a & !((1u64 << (base_shift - 23)) - 1)
    } else {
        a
    }
}

/// Whether `e`, found in the group searched with `secondary`, maps `va` in `seg`.
pub fn matches(e: Hpte, seg: &Segment, va: u128, secondary: bool) -> bool {
    e.valid()
        && e.secondary() == secondary
        && e.segment_size() == Some(seg.size)
        && e.avpn() == avpn(va, seg.base_shift)
        && e.page_sizes().map(|p| p.base) == Some(seg.base_shift)
}

/// Translates `ea` through `slb` and the hash table `store`.
pub fn translate<S: HptStore + ?Sized>(
    store: &S,
    slb: &Slb,
    ea: u64,
) -> Result<Translation, TranslateError> {
    let seg = slb.lookup(ea).ok_or(TranslateError::Segment(ea))?;
    let g = store.geometry();
    let va = virtual_address(&seg, ea);
    let h = hash(seg.vsid, seg.size, ea, seg.base_shift);
    for secondary in [false, true] {
        for index in g.group_entries(g.group(h, secondary)) {
            let e = store.hpte(index);
            if !matches(e, &seg, va, secondary) {
                continue;
            }
            let Some(page) = e.page_sizes() else {
                continue;
            };
            return Ok(Translation {
                ea,
                va,
                ra: e.real_address(page.actual, ea),
                index,
                hpte: e,
                segment: seg,
                page,
                pp: e.pp(),
                wimg: e.wimg(),
                referenced: e.referenced(),
                changed: e.changed(),
                no_execute: e.no_execute() || seg.no_execute,
            });
        }
    }
    Err(TranslateError::Page {
        ea,
        vsid: seg.vsid,
        primary: g.group(h, false),
        secondary: g.group(h, true),
    })
}

#[cfg(test)]
mod tests;
