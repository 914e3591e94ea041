//! The dirty bitmap of `KVM_DIRTY_TLB`.
//!
//! api.rst (KVM_DIRTY_TLB): the bitmap has one bit per TLB entry, "rounded up to the nearest
//! multiple of 64", "ordered the same as in the shared TLB array"; "The array is little-endian:
//! the bit 0 is the least significant bit of the first byte, bit 8 is the least significant bit
//! of the second byte, etc."; and "num_dirty ... must be set to the number of set bits".
//!
//! The bitmap is stored as 64-bit words (so it is 8-byte aligned and a whole number of words),
//! each word kept in little-endian *memory* order, which makes the byte view the one above on
//! any host, big-endian included.

use crate::abi::kvm_dirty_tlb;

/// One bit per TLB entry, in the byte layout KVM_DIRTY_TLB expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirtyBitmap {
    /// Words as stored in memory: `u64::from_le` of each gives the logical word.
    words: Vec<u64>,
    bits: usize,
    count: usize,
}

impl DirtyBitmap {
    /// A clean bitmap for `bits` entries (`bits` rounded up to 64).
    pub fn new(bits: usize) -> Self {
        Self {
            words: vec![0; bits.div_ceil(64)],
            bits,
            count: 0,
        }
    }

    /// Number of entries covered.
    pub fn len(&self) -> usize {
        self.bits
    }

    /// Whether the bitmap covers no entries.
    pub fn is_empty(&self) -> bool {
        self.bits == 0
    }

    /// Number of dirty entries (`num_dirty`).
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whether entry `i` is dirty (false past the end).
    pub fn is_dirty(&self, i: usize) -> bool {
        i < self.bits && u64::from_le(self.words[i / 64]) & (1 << (i % 64)) != 0
    }

    /// Marks entry `i`; returns whether it was clean. Out-of-range indices are ignored.
    pub fn mark(&mut self, i: usize) -> bool {
        if i >= self.bits {
            return false;
        }
        let w = u64::from_le(self.words[i / 64]);
        let bit = 1 << (i % 64);
        if w & bit != 0 {
            return false;
        }
        self.words[i / 64] = (w | bit).to_le();
        self.count += 1;
        true
    }

    /// Marks every entry (the padding bits past `len` stay clear).
    pub fn mark_all(&mut self) {
        for (n, w) in self.words.iter_mut().enumerate() {
            let valid = self.bits - n * 64;
            let logical = if valid >= 64 {
                u64::MAX
            } else {
                (1 << valid) - 1
            };
            *w = logical.to_le();
        }
        self.count = self.bits;
    }

    /// Clears every bit.
    pub fn clear(&mut self) {
        self.words.iter_mut().for_each(|w| *w = 0);
        self.count = 0;
    }

    /// The bitmap as KVM reads it: `len().div_ceil(64) * 8` bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Each stored word is already in little-endian memory order.
        self.words.iter().flat_map(|w| w.to_ne_bytes()).collect()
    }

    /// Dirty entry indices, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.bits).filter(|i| self.is_dirty(*i))
    }

    /// The argument of `KVM_DIRTY_TLB`, pointing at this bitmap. Valid while `self` is neither
    /// moved-from nor modified (the words live on the heap, so moving the `DirtyBitmap` value
    /// itself does not move them).
    pub fn kvm_dirty_tlb(&self) -> kvm_dirty_tlb {
        kvm_dirty_tlb {
            bitmap: self.words.as_ptr() as u64,
            num_dirty: self.count as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// api.rst: "This array consists of a number of bits, equal to the total number of TLB
    /// entries as determined by the last successful call to KVM_CONFIG_TLB, rounded up to the
    /// nearest multiple of 64."
    #[test]
    fn rounded_up_to_64() {
        assert_eq!(DirtyBitmap::new(576).to_bytes().len(), 72); // 512 + 64 entries
        assert_eq!(DirtyBitmap::new(577).to_bytes().len(), 80);
        assert_eq!(DirtyBitmap::new(1).to_bytes().len(), 8);
        assert_eq!(DirtyBitmap::new(0).to_bytes().len(), 0);
    }

    /// api.rst: "The array is little-endian: the bit 0 is the least significant bit of the
    /// first byte, bit 8 is the least significant bit of the second byte, etc."
    #[test]
    fn little_endian_bit_order() {
        let mut d = DirtyBitmap::new(200);
        for i in [0, 8, 9, 63, 64, 130, 199] {
            assert!(d.mark(i));
        }
        let bytes = d.to_bytes();
        assert_eq!(bytes[0], 0x01); // bit 0
        assert_eq!(bytes[1], 0x03); // bits 8, 9
        assert_eq!(bytes[7], 0x80); // bit 63
        assert_eq!(bytes[8], 0x01); // bit 64
        assert_eq!(bytes[16], 0x04); // bit 130
        assert_eq!(bytes[24], 0x80); // bit 199
        for (i, b) in bytes.iter().enumerate() {
            for bit in 0..8 {
                assert_eq!(
                    b >> bit & 1 == 1,
                    d.is_dirty(i * 8 + bit),
                    "bit {}",
                    i * 8 + bit
                );
            }
        }
        // The pointer handed to KVM views the same bytes.
        let k = d.kvm_dirty_tlb();
        // SAFETY: `bitmap` points at `d.words`, which holds `bytes.len()` initialised bytes and
        // is not modified while this slice lives.
        let view = unsafe { std::slice::from_raw_parts(k.bitmap as *const u8, bytes.len()) };
        assert_eq!(view, &bytes[..]);
    }

    /// api.rst: num_dirty "must be set to the number of set bits in the bitmap".
    #[test]
    fn count_is_popcount() {
        let mut d = DirtyBitmap::new(130);
        let mut x = 0x1234_5678_9abc_def1u64;
        for _ in 0..500 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            d.mark((x % 140) as usize); // some out of range: ignored
            let pop: u32 = d.to_bytes().iter().map(|b| b.count_ones()).sum();
            assert_eq!(d.count(), pop as usize);
            assert_eq!(d.kvm_dirty_tlb().num_dirty, pop);
        }
        d.mark_all();
        assert_eq!(d.count(), 130);
        let pop: u32 = d.to_bytes().iter().map(|b| b.count_ones()).sum();
        assert_eq!(pop, 130);
        assert_eq!(d.to_bytes()[16], 0x03); // bits 128, 129 only: padding stays clear
        d.clear();
        assert_eq!(d.count(), 0);
        assert!(d.to_bytes().iter().all(|b| *b == 0));
        assert_eq!(d.iter().count(), 0);
    }
}
