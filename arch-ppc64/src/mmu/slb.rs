//! The segment lookaside buffer: the ESID and VSID words of each entry as KVM carries them in
//! `kvm_sregs.u.s.ppc64.slb[64]` (`slbe`, `slbv`: the `RB` and `RS` operands of `slbmte`).
//!
//! ```text
//! slbe:  | ESID 63:28 (1T: 63:40) | V 27 | index 11:0 |
//! slbv:  | B 63:62 | VSID 61:12 (1T: 61:24) | Ks 11 | Kp 10 | N 9 | L 8 | C 7 | LP 5:4 |
//! ```
//!
//! The base page size is `L || LP`: 0 is 4K, L with LP 01 is 64K, L with LP 00 is 16M (16G,
//! L with LP 10, is not supported). An effective address falls in the first valid entry whose
//! ESID equals its top bits under the entry's segment size; two entries for one segment are a
//! guest error the hardware reports as a machine check, tetra takes the first.

use super::hpte::SegmentSize;
use thiserror::Error;

/// V of the ESID word.
pub const SLB_ESID_V: u64 = 0x0800_0000;
/// The slot index bits of the ESID word.
pub const SLB_ESID_INDEX: u64 = 0xfff;
/// Shift of the VSID in the VSID word, 256 MB segments.
pub const SLB_VSID_SHIFT: u32 = 12;
/// Shift of the VSID in the VSID word, 1 TB segments.
pub const SLB_VSID_SHIFT_1T: u32 = 24;
/// B of the VSID word.
pub const SLB_VSID_B: u64 = 0xc000_0000_0000_0000;
/// Ks: supervisor key.
pub const SLB_VSID_KS: u64 = 0x800;
/// Kp: problem-state key.
pub const SLB_VSID_KP: u64 = 0x400;
/// N: no-execute segment.
pub const SLB_VSID_N: u64 = 0x200;
/// L: large base page.
pub const SLB_VSID_L: u64 = 0x100;
/// LP: which large base page.
pub const SLB_VSID_LP: u64 = 0x30;
/// Entries in `kvm_sregs.u.s.ppc64.slb`.
pub const KVM_SLB_ENTRIES: usize = 64;

/// An SLB entry tetra cannot use.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SlbError {
    /// B is 2 or 3 (reserved).
    #[error("SLB entry {index}: segment size field B={b} is reserved")]
    SegmentSize {
        /// Position in the SLB.
        index: usize,
        /// The B value.
        b: u64,
    },
    /// `L || LP` names a page size tetra does not support (16G or reserved).
    #[error("SLB entry {index}: base page size L||LP={llp:#x} is not 4K, 64K or 16M")]
    PageSize {
        /// Position in the SLB.
        index: usize,
        /// The `L || LP` bits of the VSID word, in place.
        llp: u64,
    },
    /// More entries than KVM's 64.
    #[error("{0} SLB entries, more than {KVM_SLB_ENTRIES}")]
    TooMany(usize),
}

/// One SLB entry: the ESID and VSID words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SlbEntry {
    /// The ESID word (`slbe`).
    pub esid: u64,
    /// The VSID word (`slbv`).
    pub vsid: u64,
}

/// A valid SLB entry, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Segment {
    /// Position in the SLB.
    pub index: usize,
    /// Segment size.
    pub size: SegmentSize,
    /// The VSID.
    pub vsid: u64,
    /// Base page shift: 12, 16 or 24.
    pub base_shift: u32,
    /// Ks.
    pub ks: bool,
    /// Kp.
    pub kp: bool,
    /// N: no-execute.
    pub no_execute: bool,
}

impl SlbEntry {
    /// An entry for the segment containing `ea`: ESID, V, and the VSID word
    /// `B | VSID | flags` (`flags`: Ks, Kp, N, L, LP bits in place).
    pub fn new(ea: u64, size: SegmentSize, vsid: u64, flags: u64) -> Self {
        let (esid_mask, vsid_shift) = match size {
            SegmentSize::M256 => (!0u64 << 28, SLB_VSID_SHIFT),
            SegmentSize::T1 => (!0u64 << 40, SLB_VSID_SHIFT_1T),
        };
        Self {
            esid: (ea & esid_mask) | SLB_ESID_V,
            vsid: (size.b() << 62) | ((vsid << vsid_shift) & !SLB_VSID_B) | (flags & 0xfb0),
        }
    }

    /// V: the entry is valid.
    pub fn valid(self) -> bool {
        self.esid & SLB_ESID_V != 0
    }

    /// The decoded entry at SLB position `index`; `Ok(None)` when not valid.
    pub fn decode(self, index: usize) -> Result<Option<Segment>, SlbError> {
        if !self.valid() {
            return Ok(None);
        }
        let b = self.vsid >> 62;
        let size = SegmentSize::from_b(b).ok_or(SlbError::SegmentSize { index, b })?;
        let llp = self.vsid & (SLB_VSID_L | SLB_VSID_LP);
        let base_shift = match llp {
            0 => 12,
            0x100 => 24,
            0x110 => 16,
            _ => return Err(SlbError::PageSize { index, llp }),
        };
        let shift = match size {
            SegmentSize::M256 => SLB_VSID_SHIFT,
            SegmentSize::T1 => SLB_VSID_SHIFT_1T,
        };
        Ok(Some(Segment {
            index,
            size,
            vsid: (self.vsid & !SLB_VSID_B) >> shift,
            base_shift,
            ks: self.vsid & SLB_VSID_KS != 0,
            kp: self.vsid & SLB_VSID_KP != 0,
            no_execute: self.vsid & SLB_VSID_N != 0,
        }))
    }

    /// Whether this (valid) entry's segment contains `ea`.
    fn covers(self, size: SegmentSize, ea: u64) -> bool {
        let mask = !0u64 << size.shift();
        (self.esid & mask) == (ea & mask)
    }
}

/// The SLB: the valid entries decoded, in SLB order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Slb {
    entries: Vec<(SlbEntry, Segment)>,
}

impl Slb {
    /// The SLB of the `(slbe, slbv)` pairs (at most 64, as KVM's sregs carry); invalid entries
    /// are skipped, a valid entry with a reserved segment size or an unsupported page size is an
    /// error.
    pub fn new(entries: &[SlbEntry]) -> Result<Self, SlbError> {
        if entries.len() > KVM_SLB_ENTRIES {
            return Err(SlbError::TooMany(entries.len()));
        }
        let mut out = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if let Some(seg) = e.decode(i)? {
                out.push((*e, seg));
            }
        }
        Ok(Self { entries: out })
    }

    /// The segment `ea` falls in: the first valid entry that covers it.
    pub fn lookup(&self, ea: u64) -> Option<Segment> {
        self.entries
            .iter()
            .find(|(e, s)| e.covers(s.size, ea))
            .map(|(_, s)| *s)
    }

    /// The valid entries.
    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.entries.iter().map(|(_, s)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_and_lookup() {
        // Linux's kernel linear map: 1T segment at 0xc000..., 16M base pages, Kp.
        let kernel = SlbEntry::new(0xc000_0000_0000_0000, SegmentSize::T1, 0x40_0000, 0x500);
        assert_eq!(kernel.esid, 0xc000_0000_0800_0000);
        assert_eq!(kernel.vsid, (1 << 62) | (0x40_0000 << 24) | 0x500);
        let user = SlbEntry::new(0x1000_1234, SegmentSize::M256, 0x1_2345, SLB_VSID_L | 0x10);
        let invalid = SlbEntry {
            esid: 0x2000_0000,
            vsid: 0,
        };
        let slb = Slb::new(&[invalid, kernel, user]).unwrap();
        let k = slb.lookup(0xc000_00ff_ffff_ffff).unwrap();
        assert_eq!((k.index, k.vsid, k.base_shift), (1, 0x40_0000, 24));
        assert_eq!(k.size, SegmentSize::T1);
        assert!(k.kp && !k.ks && !k.no_execute);
        assert!(slb.lookup(0xc000_0100_0000_0000).is_none(), "past 1 TB");
        let u = slb.lookup(0x1fff_ffff).unwrap();
        assert_eq!((u.index, u.vsid, u.base_shift), (2, 0x1_2345, 16));
        assert!(
            slb.lookup(0x2000_0000).is_none(),
            "invalid entries never match"
        );
        assert_eq!(slb.segments().count(), 2);
    }

    #[test]
    fn refused_entries() {
        let mut e = SlbEntry::new(0, SegmentSize::M256, 1, 0);
        e.vsid |= 2 << 62;
        assert_eq!(
            Slb::new(&[SlbEntry::default(), e]),
            Err(SlbError::SegmentSize { index: 1, b: 2 })
        );
        let e = SlbEntry::new(0, SegmentSize::M256, 1, SLB_VSID_L | 0x20);
        assert_eq!(
            Slb::new(&[e]),
            Err(SlbError::PageSize {
                index: 0,
                llp: 0x120
            })
        );
        assert_eq!(
            Slb::new(&[SlbEntry::default(); 65]),
            Err(SlbError::TooMany(65))
        );
    }
}
