//! Structured values of the x86 segment set: `struct kvm_segment` (a U256 value: the 24 C bytes
//! and 8 zero bytes) and `struct kvm_dtable` (a U128 value).

use std::fmt;
use vmm_core::regs::abi::AbiFact;

/// A value that is not a segment or descriptor-table register.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SegmentError {
    /// Wrong length.
    #[error("a {what} value has {expected} bytes, not {got}")]
    Length {
        /// `segment` or `descriptor table`.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Given length.
        got: usize,
    },
    /// Non-zero padding.
    #[error("the padding of a {0} value must be zero")]
    Padding(&'static str),
}

/// `struct kvm_segment`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    /// Base address.
    pub base: u64,
    /// Limit.
    pub limit: u32,
    /// Selector.
    pub selector: u16,
    /// Type (4 bits).
    pub type_: u8,
    /// P.
    pub present: u8,
    /// DPL.
    pub dpl: u8,
    /// D/B.
    pub db: u8,
    /// S.
    pub s: u8,
    /// L.
    pub l: u8,
    /// G.
    pub g: u8,
    /// AVL.
    pub avl: u8,
    /// KVM's "unusable" flag.
    pub unusable: u8,
}

/// Byte offsets of `struct kvm_segment`'s fields (checked by the ABI check).
const SEG_FIELDS: [(&str, usize); 12] = [
    ("base", 0),
    ("limit", 8),
    ("selector", 12),
    ("type", 14),
    ("present", 15),
    ("dpl", 16),
    ("db", 17),
    ("s", 18),
    ("l", 19),
    ("g", 20),
    ("avl", 21),
    ("unusable", 22),
];

impl Segment {
    /// The value's size (U256).
    pub const VALUE_LEN: usize = 32;

    /// Decodes a segment register value.
    pub fn from_value(v: &[u8]) -> Result<Self, SegmentError> {
        if v.len() != Self::VALUE_LEN {
            return Err(SegmentError::Length {
                what: "segment",
                expected: Self::VALUE_LEN,
                got: v.len(),
            });
        }
        if v[23..].iter().any(|&b| b != 0) {
            return Err(SegmentError::Padding("segment"));
        }
        Ok(Segment {
            base: u64::from_ne_bytes(v[0..8].try_into().unwrap_or_default()),
            limit: u32::from_ne_bytes(v[8..12].try_into().unwrap_or_default()),
            selector: u16::from_ne_bytes([v[12], v[13]]),
            type_: v[14],
            present: v[15],
            dpl: v[16],
            db: v[17],
            s: v[18],
            l: v[19],
            g: v[20],
            avl: v[21],
            unusable: v[22],
        })
    }

    /// Encodes it as a segment register value.
    pub fn to_value(&self) -> Vec<u8> {
        let mut v = vec![0u8; Self::VALUE_LEN];
        v[0..8].copy_from_slice(&self.base.to_ne_bytes());
        v[8..12].copy_from_slice(&self.limit.to_ne_bytes());
        v[12..14].copy_from_slice(&self.selector.to_ne_bytes());
        v[14..23].copy_from_slice(&[
            self.type_,
            self.present,
            self.dpl,
            self.db,
            self.s,
            self.l,
            self.g,
            self.avl,
            self.unusable,
        ]);
        v
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sel={:#06x} base={:#x} limit={:#x} type={} p={} dpl={} db={} s={} l={} g={} avl={} unusable={}",
            self.selector, self.base, self.limit, self.type_, self.present, self.dpl, self.db,
            self.s, self.l, self.g, self.avl, self.unusable
        )
    }
}

/// `struct kvm_dtable` (GDTR, IDTR).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DTable {
    /// Base address.
    pub base: u64,
    /// Limit.
    pub limit: u16,
}

impl DTable {
    /// The value's size (U128).
    pub const VALUE_LEN: usize = 16;

    /// Decodes a descriptor-table register value.
    pub fn from_value(v: &[u8]) -> Result<Self, SegmentError> {
        if v.len() != Self::VALUE_LEN {
            return Err(SegmentError::Length {
                what: "descriptor table",
                expected: Self::VALUE_LEN,
                got: v.len(),
            });
        }
        if v[10..].iter().any(|&b| b != 0) {
            return Err(SegmentError::Padding("descriptor table"));
        }
        Ok(DTable {
            base: u64::from_ne_bytes(v[0..8].try_into().unwrap_or_default()),
            limit: u16::from_ne_bytes([v[8], v[9]]),
        })
    }

    /// Encodes it as a descriptor-table register value.
    pub fn to_value(&self) -> Vec<u8> {
        let mut v = vec![0u8; Self::VALUE_LEN];
        v[0..8].copy_from_slice(&self.base.to_ne_bytes());
        v[8..10].copy_from_slice(&self.limit.to_ne_bytes());
        v
    }
}

impl fmt::Display for DTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "base={:#x} limit={:#x}", self.base, self.limit)
    }
}

/// The layout facts [`Segment`] and [`DTable`] rely on.
pub(crate) fn abi_facts() -> Vec<AbiFact> {
    let mut f = vec![
        AbiFact::new(
            "sizeof(struct kvm_segment)",
            24,
            "arch_x86_64::regs::Segment",
        ),
        AbiFact::new("sizeof(struct kvm_dtable)", 16, "arch_x86_64::regs::DTable"),
        AbiFact::new(
            "offsetof(struct kvm_dtable, base)",
            0,
            "arch_x86_64::regs::DTable::base",
        ),
        AbiFact::new(
            "offsetof(struct kvm_dtable, limit)",
            8,
            "arch_x86_64::regs::DTable::limit",
        ),
    ];
    for (name, off) in SEG_FIELDS {
        f.push(AbiFact::new(
            format!("offsetof(struct kvm_segment, {name})"),
            off as u64,
            format!("arch_x86_64::regs::Segment::{name}"),
        ));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_round_trip_and_errors() {
        let s = Segment {
            base: 0x1000,
            limit: 0xffff_ffff,
            selector: 0x10,
            type_: 11,
            present: 1,
            dpl: 0,
            db: 0,
            s: 1,
            l: 1,
            g: 1,
            avl: 0,
            unusable: 0,
        };
        let v = s.to_value();
        assert_eq!(v.len(), 32);
        assert_eq!(Segment::from_value(&v), Ok(s));
        assert_eq!(v[12..14], 0x10u16.to_ne_bytes());
        assert!(s.to_string().starts_with("sel=0x0010 base=0x1000"));
        let mut bad = v.clone();
        bad[30] = 1;
        assert_eq!(
            Segment::from_value(&bad),
            Err(SegmentError::Padding("segment"))
        );
        assert!(matches!(
            Segment::from_value(&v[..24]),
            Err(SegmentError::Length { got: 24, .. })
        ));
        let d = DTable {
            base: 0xfee0_0000,
            limit: 0x7ff,
        };
        assert_eq!(DTable::from_value(&d.to_value()), Ok(d));
        assert!(DTable::from_value(&[0; 15]).is_err());
        let mut bad = d.to_value();
        bad[12] = 1;
        assert!(DTable::from_value(&bad).is_err());
    }
}
