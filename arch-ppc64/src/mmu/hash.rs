//! The hash table's geometry and the hash functions that place a virtual page in it.
//!
//! A table of `2^order` bytes (`order` 18..=46, KVM's `KVM_PPC_ALLOCATE_HTAB` argument; SDR1's
//! HTABSIZE is `order - 18`) holds `2^(order-7)` PTE groups of eight 16-byte entries. A virtual
//! page hashes to a 39-bit value:
//!
//! ```text
//! 256 MB segments: hash = VSID           ^ (EA[27:0] >> p)
//! 1 TB segments:   hash = VSID ^ VSID<<25 ^ (EA[39:0] >> p)      (p: base page shift)
//! ```
//!
//! The primary PTEG is `hash & mask`, the secondary `!hash & mask`, `mask` being the group
//! count minus one (Linux's `hpt_hash`, KVM-HV's `kvmppc_hv_find_lock_hpte`).

use super::hpte::{SegmentSize, HPTES_PER_GROUP};
use thiserror::Error;

/// The smallest table: 256 KiB (SDR1 HTABSIZE 0).
pub const MIN_ORDER: u32 = 18;
/// The largest table KVM allocates: 64 TiB (HTABSIZE 28).
pub const MAX_ORDER: u32 = 46;
/// The hash keeps 39 bits.
pub const HASH_MASK: u64 = 0x7f_ffff_ffff;
/// SDR1's HTABORG field (bits 59:18).
pub const SDR1_HTABORG: u64 = 0x0fff_ffff_fffc_0000;
/// SDR1's HTABSIZE field (bits 4:0).
pub const SDR1_HTABSIZE: u64 = 0x1f;

/// A table geometry that cannot be.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum HashError {
    /// log2 of the size outside 18..=46.
    #[error("hash table order {0} is outside {MIN_ORDER}..={MAX_ORDER}")]
    Order(u32),
    /// SDR1's HTABSIZE above 28.
    #[error("SDR1 {0:#x}: HTABSIZE above 28")]
    Sdr1Size(u64),
    /// SDR1's HTABORG not aligned to the table's size.
    #[error("SDR1 {sdr1:#x}: table origin not aligned to its size {size:#x}")]
    Sdr1Align {
        /// The SDR1 value.
        sdr1: u64,
        /// The table size it gives.
        size: u64,
    },
}

/// The size of a hashed page table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HtabGeometry {
    order: u32,
}

impl HtabGeometry {
    /// A table of `2^order` bytes.
    pub fn new(order: u32) -> Result<Self, HashError> {
        if !(MIN_ORDER..=MAX_ORDER).contains(&order) {
            return Err(HashError::Order(order));
        }
        Ok(Self { order })
    }

    /// The geometry and table origin SDR1 gives: `(geometry, HTABORG)`.
    pub fn from_sdr1(sdr1: u64) -> Result<(Self, u64), HashError> {
        let size = sdr1 & SDR1_HTABSIZE;
        if size > u64::from(MAX_ORDER - MIN_ORDER) {
            return Err(HashError::Sdr1Size(sdr1));
        }
        let g = Self::new(MIN_ORDER + size as u32)?;
        let base = sdr1 & SDR1_HTABORG;
        if !base.is_multiple_of(g.bytes()) {
            return Err(HashError::Sdr1Align {
                sdr1,
                size: g.bytes(),
            });
        }
        Ok((g, base))
    }

    /// SDR1 for this table at `base` (assumed aligned).
    pub fn sdr1(self, base: u64) -> u64 {
        (base & SDR1_HTABORG) | u64::from(self.order - MIN_ORDER)
    }

    /// log2 of the size in bytes.
    pub fn order(self) -> u32 {
        self.order
    }

    /// Size in bytes.
    pub fn bytes(self) -> u64 {
        1 << self.order
    }

    /// Number of HPTEs.
    pub fn entries(self) -> u64 {
        1 << (self.order - 4)
    }

    /// Number of PTE groups.
    pub fn groups(self) -> u64 {
        1 << (self.order - 7)
    }

    /// The PTEG index mask (`groups - 1`).
    pub fn mask(self) -> u64 {
        self.groups() - 1
    }

    /// The PTEG a hash selects: `hash & mask` for the primary, `!hash & mask` for the
    /// secondary.
    pub fn group(self, hash: u64, secondary: bool) -> u64 {
        if secondary {
            !hash & self.mask()
        } else {
            hash & self.mask()
        }
    }

    /// The HPTE indices of group `g`.
    pub fn group_entries(self, g: u64) -> std::ops::Range<u64> {
        g * HPTES_PER_GROUP..(g + 1) * HPTES_PER_GROUP
    }
}

/// The 39-bit hash of the page containing `ea` in the segment `vsid` of size `seg`, with base
/// page shift `base_shift`.
pub fn hash(vsid: u64, seg: SegmentSize, ea: u64, base_shift: u32) -> u64 {
    let offset = ea & ((1u64 << seg.shift()) - 1);
    let vsid_part = match seg {
        SegmentSize::M256 => vsid,
        SegmentSize::T1 => vsid ^ (vsid << 25),
    };
    (vsid_part ^ (offset >> base_shift)) & HASH_MASK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_and_sdr1() {
        let g = HtabGeometry::new(18).unwrap();
        assert_eq!(
            (g.bytes(), g.entries(), g.groups()),
            (1 << 18, 1 << 14, 1 << 11)
        );
        assert_eq!(g.mask(), 0x7ff);
        assert_eq!(g.group_entries(3), 24..32);
        assert_eq!(HtabGeometry::new(17), Err(HashError::Order(17)));
        assert_eq!(HtabGeometry::new(47), Err(HashError::Order(47)));
        // 16 MiB table at 0x4000_0000: HTABSIZE 6.
        let (g, base) = HtabGeometry::from_sdr1(0x4000_0006).unwrap();
        assert_eq!((g.order(), base), (24, 0x4000_0000));
        assert_eq!(g.sdr1(base), 0x4000_0006);
        assert_eq!(
            HtabGeometry::from_sdr1(0x4004_0006),
            Err(HashError::Sdr1Align {
                sdr1: 0x4004_0006,
                size: 1 << 24
            })
        );
        assert_eq!(HtabGeometry::from_sdr1(29), Err(HashError::Sdr1Size(29)));
        assert_eq!(HtabGeometry::from_sdr1(28).unwrap().0.order(), 46);
    }

    #[test]
    fn hashes() {
        // 256M, 4K pages: VSID ^ page index within the segment.
        assert_eq!(
            hash(0x123, SegmentSize::M256, 0xc000_0000_0567_8000, 12),
            0x123 ^ 0x5678
        );
        // 16M pages: only EA bits 27:24 of the offset take part.
        assert_eq!(hash(0x10, SegmentSize::M256, 0x0fff_ffff, 24), 0x10 ^ 0xf);
        // 1T: VSID ^ VSID << 25 ^ page index within 1 TB.
        assert_eq!(
            hash(0x3, SegmentSize::T1, 0x12_3456_7000, 16),
            (0x3 ^ (0x3 << 25) ^ 0x12_3456) & HASH_MASK
        );
        // Only 39 bits are kept.
        assert_eq!(hash(u64::MAX >> 14, SegmentSize::M256, 0, 12), HASH_MASK);
        let g = HtabGeometry::new(18).unwrap();
        assert_eq!(g.group(0x1234, false), 0x234);
        assert_eq!(g.group(0x1234, true), 0x5cb);
    }
}
