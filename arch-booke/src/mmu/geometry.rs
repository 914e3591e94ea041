//! TLB geometry (`struct kvm_book3e_206_tlb_params`): validation and the array's index rules.
//!
//! The rules are those of Linux `Documentation/virt/kvm/api.rst` (KVM_CAP_SW_TLB) and the
//! comment on `kvm_book3e_206_tlb_params` in the powerpc `asm/kvm.h`:
//! - the array holds all TLB0 entries, then all TLB1 entries;
//! - within a TLB, entries are ordered by set, then by way (increasing ESEL);
//! - the TLB0 set of an entry is `(MAS2 >> 12) & (num_sets - 1)`;
//! - TLB0 ways are a power of two from 2 to 16, its size a multiple of the ways, its number of
//!   sets a power of two;
//! - TLB1 is fully associative with at most 64 entries; TLB2 and TLB3 are zero.

use crate::abi::kvm_book3e_206_tlb_params;
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// Fewest TLB0 ways KVM accepts.
pub const TLB0_MIN_WAYS: u32 = 2;
/// Most TLB0 ways KVM accepts.
pub const TLB0_MAX_WAYS: u32 = 16;
/// Most TLB1 entries KVM accepts.
pub const TLB1_MAX_ENTRIES: u32 = 64;
/// tetra's own cap on TLB0 (hardware has 512 or 1024): bounds memory for untrusted geometry.
pub const TLB0_MAX_ENTRIES: u32 = 1 << 16;

/// A geometry that KVM (or tetra) would refuse.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum GeometryError {
    /// TLB0 has no entries.
    #[error("TLB0 must have at least one set of entries (tlb_sizes[0] is 0)")]
    Tlb0Empty,
    /// TLB0 ways not a power of two.
    #[error("TLB0 ways must be a power of two, got {0}")]
    Tlb0WaysNotPowerOfTwo(u32),
    /// TLB0 ways outside 2..=16.
    #[error("TLB0 ways must be between {TLB0_MIN_WAYS} and {TLB0_MAX_WAYS}, got {0}")]
    Tlb0WaysOutOfRange(u32),
    /// TLB0 size not a multiple of its ways.
    #[error("TLB0 size {entries} is not a multiple of its {ways} ways")]
    Tlb0NotMultipleOfWays {
        /// `tlb_sizes[0]`.
        entries: u32,
        /// `tlb_ways[0]`.
        ways: u32,
    },
    /// TLB0 sets not a power of two.
    #[error("TLB0 must have a power-of-two number of sets, got {0}")]
    Tlb0SetsNotPowerOfTwo(u32),
    /// TLB0 larger than tetra allows.
    #[error("TLB0 has {0} entries, more than tetra's limit of {TLB0_MAX_ENTRIES}")]
    Tlb0TooLarge(u32),
    /// TLB1 not fully associative.
    #[error("TLB1 must be fully associative: {entries} entries but {ways} ways")]
    Tlb1NotFullyAssociative {
        /// `tlb_sizes[1]`.
        entries: u32,
        /// `tlb_ways[1]`.
        ways: u32,
    },
    /// TLB1 larger than 64 entries.
    #[error("TLB1 may not exceed {TLB1_MAX_ENTRIES} entries, got {0}")]
    Tlb1TooLarge(u32),
    /// TLB2 or TLB3 not zero.
    #[error(
        "TLB{tlb} is reserved: its size and ways must be 0, got {entries} entries, {ways} ways"
    )]
    ReservedTlb {
        /// 2 or 3.
        tlb: usize,
        /// `tlb_sizes[tlb]`.
        entries: u32,
        /// `tlb_ways[tlb]`.
        ways: u32,
    },
    /// A reserved word is not zero.
    #[error("reserved word {index} of kvm_book3e_206_tlb_params is {value:#x}, must be 0")]
    ReservedWord {
        /// Index into `reserved`.
        index: usize,
        /// Its value.
        value: u32,
    },
    /// A geometry string that does not parse.
    #[error("bad TLB geometry {0:?}: expected <tlb0-entries>x<tlb0-ways>,<tlb1-entries> (e.g. 512x4,64)")]
    Syntax(String),
}

/// One of the two TLBs of the FSL BookE MMU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tlb {
    /// The set-associative TLB of 4 KiB pages.
    Tlb0,
    /// The fully associative TLB of variable-size pages.
    Tlb1,
}

impl Tlb {
    /// Both TLBs, in array order.
    pub const ALL: [Tlb; 2] = [Tlb::Tlb0, Tlb::Tlb1];

    /// The TLB number (`MAS0[TLBSEL]`).
    pub fn number(self) -> u32 {
        match self {
            Tlb::Tlb0 => 0,
            Tlb::Tlb1 => 1,
        }
    }

    /// The TLB of a TLBSEL value; `None` for the reserved TLB2/TLB3.
    pub fn from_number(n: u32) -> Option<Tlb> {
        match n {
            0 => Some(Tlb::Tlb0),
            1 => Some(Tlb::Tlb1),
            _ => None,
        }
    }
}

impl fmt::Display for Tlb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TLB{}", self.number())
    }
}

/// Where an array index lives: TLB, set, way and the ESEL within the TLB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlbPos {
    /// The TLB.
    pub tlb: Tlb,
    /// The set (always 0 in TLB1).
    pub set: u32,
    /// The way within the set.
    pub way: u32,
    /// The entry number within the TLB (`set * ways + way`).
    pub esel: u32,
}

/// A validated TLB geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TlbGeometry {
    tlb0_entries: u32,
    tlb0_ways: u32,
    tlb1_entries: u32,
}

impl TlbGeometry {
    /// e500v2: TLB0 512 entries 4-way, TLB1 16 entries.
    pub const E500V2: TlbGeometry = TlbGeometry {
        tlb0_entries: 512,
        tlb0_ways: 4,
        tlb1_entries: 16,
    };
    /// e500mc / e5500: TLB0 512 entries 4-way, TLB1 64 entries.
    pub const E500MC: TlbGeometry = TlbGeometry {
        tlb0_entries: 512,
        tlb0_ways: 4,
        tlb1_entries: 64,
    };
    /// e6500: TLB0 1024 entries 8-way, TLB1 64 entries.
    pub const E6500: TlbGeometry = TlbGeometry {
        tlb0_entries: 1024,
        tlb0_ways: 8,
        tlb1_entries: 64,
    };

    /// Validates a geometry: TLB0 of `tlb0_entries` in `tlb0_ways` ways, a fully associative
    /// TLB1 of `tlb1_entries`.
    pub fn new(
        tlb0_entries: u32,
        tlb0_ways: u32,
        tlb1_entries: u32,
    ) -> Result<Self, GeometryError> {
        Self::check(tlb0_entries, tlb0_ways, tlb1_entries, tlb1_entries)?;
        Ok(Self {
            tlb0_entries,
            tlb0_ways,
            tlb1_entries,
        })
    }

    fn check(s0: u32, w0: u32, s1: u32, w1: u32) -> Result<(), GeometryError> {
        if !w0.is_power_of_two() {
            return Err(GeometryError::Tlb0WaysNotPowerOfTwo(w0));
        }
        if !(TLB0_MIN_WAYS..=TLB0_MAX_WAYS).contains(&w0) {
            return Err(GeometryError::Tlb0WaysOutOfRange(w0));
        }
        if s0 == 0 {
            return Err(GeometryError::Tlb0Empty);
        }
        if !s0.is_multiple_of(w0) {
            return Err(GeometryError::Tlb0NotMultipleOfWays {
                entries: s0,
                ways: w0,
            });
        }
        if !(s0 / w0).is_power_of_two() {
            return Err(GeometryError::Tlb0SetsNotPowerOfTwo(s0 / w0));
        }
        if s0 > TLB0_MAX_ENTRIES {
            return Err(GeometryError::Tlb0TooLarge(s0));
        }
        if w1 != s1 {
            return Err(GeometryError::Tlb1NotFullyAssociative {
                entries: s1,
                ways: w1,
            });
        }
        if s1 > TLB1_MAX_ENTRIES {
            return Err(GeometryError::Tlb1TooLarge(s1));
        }
        Ok(())
    }

    /// Validates KVM's parameter block.
    pub fn from_params(p: &kvm_book3e_206_tlb_params) -> Result<Self, GeometryError> {
        for tlb in 2..4 {
            if p.tlb_sizes[tlb] != 0 || p.tlb_ways[tlb] != 0 {
                return Err(GeometryError::ReservedTlb {
                    tlb,
                    entries: p.tlb_sizes[tlb],
                    ways: p.tlb_ways[tlb],
                });
            }
        }
        if let Some((index, &value)) = p.reserved.iter().enumerate().find(|(_, v)| **v != 0) {
            return Err(GeometryError::ReservedWord { index, value });
        }
        Self::check(p.tlb_sizes[0], p.tlb_ways[0], p.tlb_sizes[1], p.tlb_ways[1])?;
        Ok(Self {
            tlb0_entries: p.tlb_sizes[0],
            tlb0_ways: p.tlb_ways[0],
            tlb1_entries: p.tlb_sizes[1],
        })
    }

    /// KVM's parameter block for this geometry.
    pub fn params(&self) -> kvm_book3e_206_tlb_params {
        kvm_book3e_206_tlb_params {
            tlb_sizes: [self.tlb0_entries, self.tlb1_entries, 0, 0],
            tlb_ways: [self.tlb0_ways, self.tlb1_entries, 0, 0],
            reserved: [0; 8],
        }
    }

    /// Number of entries of `tlb`.
    pub fn entries(&self, tlb: Tlb) -> u32 {
        match tlb {
            Tlb::Tlb0 => self.tlb0_entries,
            Tlb::Tlb1 => self.tlb1_entries,
        }
    }

    /// Associativity of `tlb`.
    pub fn ways(&self, tlb: Tlb) -> u32 {
        match tlb {
            Tlb::Tlb0 => self.tlb0_ways,
            Tlb::Tlb1 => self.tlb1_entries,
        }
    }

    /// Number of sets of `tlb` (TLB1: 1, or 0 when empty).
    pub fn sets(&self, tlb: Tlb) -> u32 {
        match tlb {
            Tlb::Tlb0 => self.tlb0_entries / self.tlb0_ways,
            Tlb::Tlb1 => u32::from(self.tlb1_entries != 0),
        }
    }

    /// Entries in the whole array.
    pub fn total_entries(&self) -> usize {
        self.tlb0_entries as usize + self.tlb1_entries as usize
    }

    /// Size of the shared array in bytes (`kvm_config_tlb.array_len`).
    pub fn array_len(&self) -> usize {
        self.total_entries() * std::mem::size_of::<crate::abi::kvm_book3e_206_tlb_entry>()
    }

    /// Array index of the first entry of `tlb`.
    pub fn base(&self, tlb: Tlb) -> usize {
        match tlb {
            Tlb::Tlb0 => 0,
            Tlb::Tlb1 => self.tlb0_entries as usize,
        }
    }

    /// The TLB0 set an EPN (or MAS2 value, or effective address) hashes to:
    /// `(MAS2 >> 12) & (num_sets - 1)`.
    pub fn tlb0_set(&self, mas2: u64) -> u32 {
        ((mas2 >> 12) & u64::from(self.sets(Tlb::Tlb0) - 1)) as u32
    }

    /// Array index of entry `esel` of `tlb`; `None` if out of range.
    pub fn index(&self, tlb: Tlb, esel: u32) -> Option<usize> {
        (esel < self.entries(tlb)).then(|| self.base(tlb) + esel as usize)
    }

    /// Array index of TLB0 `way` in the set of `mas2`; `None` if `way` is out of range.
    pub fn tlb0_index(&self, mas2: u64, way: u32) -> Option<usize> {
        (way < self.tlb0_ways).then(|| (self.tlb0_set(mas2) * self.tlb0_ways + way) as usize)
    }

    /// Where array index `index` lives; `None` past the end.
    pub fn position(&self, index: usize) -> Option<TlbPos> {
        if index < self.tlb0_entries as usize {
            let esel = index as u32;
            Some(TlbPos {
                tlb: Tlb::Tlb0,
                set: esel / self.tlb0_ways,
                way: esel % self.tlb0_ways,
                esel,
            })
        } else if index < self.total_entries() {
            let esel = (index - self.tlb0_entries as usize) as u32;
            Some(TlbPos {
                tlb: Tlb::Tlb1,
                set: 0,
                way: esel,
                esel,
            })
        } else {
            None
        }
    }
}

impl fmt::Display for TlbGeometry {
    /// `512x4,64`: TLB0 entries x ways, TLB1 entries (the syntax [`FromStr`] accepts).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}x{},{}",
            self.tlb0_entries, self.tlb0_ways, self.tlb1_entries
        )
    }
}

impl FromStr for TlbGeometry {
    type Err = GeometryError;

    /// Parses `512x4,64` (TLB0 entries x ways, TLB1 entries).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || GeometryError::Syntax(s.to_string());
        let (tlb0, tlb1) = s.split_once(',').ok_or_else(bad)?;
        let (e0, w0) = tlb0.split_once('x').ok_or_else(bad)?;
        let num = |t: &str| t.trim().parse::<u32>().map_err(|_| bad());
        Self::new(num(e0)?, num(w0)?, num(tlb1)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(s0: u32, w0: u32, s1: u32, w1: u32) -> kvm_book3e_206_tlb_params {
        kvm_book3e_206_tlb_params {
            tlb_sizes: [s0, s1, 0, 0],
            tlb_ways: [w0, w1, 0, 0],
            reserved: [0; 8],
        }
    }

    /// asm/kvm.h: "The number of ways of TLB0 must be a power of two between 2 and 16."
    #[test]
    fn tlb0_ways_power_of_two_2_to_16() {
        for w in [2, 4, 8, 16] {
            assert!(TlbGeometry::new(w * 8, w, 64).is_ok(), "{w} ways");
        }
        assert_eq!(
            TlbGeometry::new(24, 3, 64),
            Err(GeometryError::Tlb0WaysNotPowerOfTwo(3))
        );
        assert_eq!(
            TlbGeometry::new(32, 1, 64),
            Err(GeometryError::Tlb0WaysOutOfRange(1))
        );
        assert_eq!(
            TlbGeometry::new(64, 32, 64),
            Err(GeometryError::Tlb0WaysOutOfRange(32))
        );
        assert_eq!(
            TlbGeometry::new(0, 0, 64),
            Err(GeometryError::Tlb0WaysNotPowerOfTwo(0))
        );
    }

    /// asm/kvm.h: "The size of TLB0 must be a multiple of the number of ways, and the number of
    /// sets must be a power of two."
    #[test]
    fn tlb0_sets() {
        assert_eq!(
            TlbGeometry::new(10, 4, 64),
            Err(GeometryError::Tlb0NotMultipleOfWays {
                entries: 10,
                ways: 4
            })
        );
        assert_eq!(
            TlbGeometry::new(12, 4, 64),
            Err(GeometryError::Tlb0SetsNotPowerOfTwo(3))
        );
        assert_eq!(TlbGeometry::new(0, 4, 64), Err(GeometryError::Tlb0Empty));
        assert!(TlbGeometry::new(4, 4, 64).is_ok());
        assert_eq!(
            TlbGeometry::new(TLB0_MAX_ENTRIES * 2, 16, 64),
            Err(GeometryError::Tlb0TooLarge(TLB0_MAX_ENTRIES * 2))
        );
    }

    /// asm/kvm.h: "TLB1 must be fully associative." "The size of TLB1 may not exceed 64
    /// entries." "TLB2 and TLB3 are reserved, and their entries in tlb_sizes[] and tlb_ways[]
    /// must be zero."
    #[test]
    fn tlb1_and_reserved() {
        assert_eq!(
            TlbGeometry::from_params(&params(512, 4, 64, 4)),
            Err(GeometryError::Tlb1NotFullyAssociative {
                entries: 64,
                ways: 4
            })
        );
        assert_eq!(
            TlbGeometry::from_params(&params(512, 4, 65, 65)),
            Err(GeometryError::Tlb1TooLarge(65))
        );
        let mut p = params(512, 4, 64, 64);
        p.tlb_sizes[3] = 1;
        p.tlb_ways[3] = 1;
        assert_eq!(
            TlbGeometry::from_params(&p),
            Err(GeometryError::ReservedTlb {
                tlb: 3,
                entries: 1,
                ways: 1
            })
        );
        let mut p = params(512, 4, 64, 64);
        p.tlb_ways[2] = 4;
        assert!(matches!(
            TlbGeometry::from_params(&p),
            Err(GeometryError::ReservedTlb { tlb: 2, .. })
        ));
        let mut p = params(512, 4, 64, 64);
        p.reserved[5] = 7;
        assert_eq!(
            TlbGeometry::from_params(&p),
            Err(GeometryError::ReservedWord { index: 5, value: 7 })
        );
        let g = TlbGeometry::from_params(&params(512, 4, 64, 64)).unwrap();
        assert_eq!(g, TlbGeometry::E500MC);
        assert_eq!(g.params(), params(512, 4, 64, 64));
        // KVM accepts an empty TLB1 (0 == 0 ways).
        assert!(TlbGeometry::new(512, 4, 0).is_ok());
    }

    /// api.rst (KVM_CAP_SW_TLB): "The array consists of all entries in the first TLB, followed
    /// by all entries in the second TLB. Within a TLB, entries are ordered first by increasing
    /// set number. Within a set, entries are ordered by way (increasing ESEL)."
    #[test]
    fn array_order() {
        let g = TlbGeometry::new(16, 4, 8).unwrap();
        assert_eq!(g.total_entries(), 24);
        assert_eq!(g.array_len(), 24 * 24);
        let mut expected = Vec::new();
        for set in 0..4 {
            for way in 0..4 {
                expected.push((Tlb::Tlb0, set, way));
            }
        }
        for way in 0..8 {
            expected.push((Tlb::Tlb1, 0, way));
        }
        for (i, (tlb, set, way)) in expected.into_iter().enumerate() {
            let p = g.position(i).unwrap();
            assert_eq!((p.tlb, p.set, p.way), (tlb, set, way), "index {i}");
            assert_eq!(g.index(p.tlb, p.esel), Some(i));
        }
        assert_eq!(g.position(24), None);
        assert_eq!(g.index(Tlb::Tlb1, 8), None);
        assert_eq!(g.index(Tlb::Tlb0, 16), None);
    }

    /// api.rst (KVM_CAP_SW_TLB): "The hash for determining set number in TLB0 is:
    /// (MAS2 >> 12) & (num_sets - 1) where "num_sets" is the tlb_sizes[] value divided by the
    /// tlb_ways[] value."
    #[test]
    fn tlb0_set_hash() {
        let g = TlbGeometry::E500MC; // 128 sets
        assert_eq!(g.sets(Tlb::Tlb0), 128);
        assert_eq!(g.tlb0_set(0x0000_0000), 0);
        assert_eq!(g.tlb0_set(0x0000_1fff), 1);
        assert_eq!(g.tlb0_set(0x0007_f000), 127);
        assert_eq!(g.tlb0_set(0x0008_0000), 0);
        assert_eq!(g.tlb0_set(0xc000_0000_1234_5000 | 0x1f), 0x45);
        assert_eq!(g.tlb0_index(0x0000_3000, 2), Some(3 * 4 + 2));
        assert_eq!(g.tlb0_index(0x0000_3000, 4), None);
    }

    #[test]
    fn parse_and_display() {
        let g: TlbGeometry = "512x4,64".parse().unwrap();
        assert_eq!(g, TlbGeometry::E500MC);
        assert_eq!(g.to_string(), "512x4,64");
        assert!(matches!(
            "512,64".parse::<TlbGeometry>(),
            Err(GeometryError::Syntax(_))
        ));
        assert_eq!(
            "512x3,64".parse::<TlbGeometry>(),
            Err(GeometryError::Tlb0WaysNotPowerOfTwo(3))
        );
    }
}
