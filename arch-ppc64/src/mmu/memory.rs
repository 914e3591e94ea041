//! A hash table as bytes in memory: how the hardware, KVM-PR (where the VMM allocates the table
//! SDR1 points at) and a snapshot's raw image hold it, entries as two big-endian doublewords.

use super::hash::HtabGeometry;
use super::hpte::{Hpte, HPTE_SIZE};
use super::translate::HptStore;
use thiserror::Error;

/// Bytes that are not a table of the given geometry.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{len} bytes are not a hash table of 2^{order} bytes")]
pub struct MemoryError {
    /// Bytes given.
    pub len: usize,
    /// log2 of the size expected.
    pub order: u32,
}

/// A hash table borrowed from memory.
#[derive(Clone, Copy, Debug)]
pub struct MemoryHpt<'a> {
    g: HtabGeometry,
    bytes: &'a [u8],
}

impl<'a> MemoryHpt<'a> {
    /// The table in `bytes`, which must be exactly `g.bytes()` long.
    pub fn new(g: HtabGeometry, bytes: &'a [u8]) -> Result<Self, MemoryError> {
        if bytes.len() as u64 != g.bytes() {
            return Err(MemoryError {
                len: bytes.len(),
                order: g.order(),
            });
        }
        Ok(Self { g, bytes })
    }
}

impl HptStore for MemoryHpt<'_> {
    fn geometry(&self) -> HtabGeometry {
        self.g
    }

    /// The entry at `index`; an index past the table reads as an empty slot.
    fn hpte(&self, index: u64) -> Hpte {
        let at = usize::try_from(index)
            .ok()
            .and_then(|i| i.checked_mul(HPTE_SIZE))
            .and_then(|o| Some(o..o.checked_add(HPTE_SIZE)?))
            .and_then(|r| self.bytes.get(r));
        let mut b = [0; HPTE_SIZE];
        if let Some(s) = at {
            b.copy_from_slice(s);
        }
        Hpte::from_be_bytes(&b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmu::htab::HashTable;

    #[test]
    fn reads_big_endian_entries_in_place() {
        let g = HtabGeometry::new(18).unwrap();
        let mut bytes = vec![0u8; 1 << 18];
        let e = Hpte {
            v: 0x4000_0000_1234_5681,
            r: 0x0000_0000_7654_3192,
        };
        bytes[16 * 777..16 * 778].copy_from_slice(&e.to_be_bytes());
        let m = MemoryHpt::new(g, &bytes).unwrap();
        assert_eq!(m.hpte(777), e);
        assert_eq!(m.hpte(776), Hpte::default());
        assert_eq!(
            m.hpte(g.entries()),
            Hpte::default(),
            "past the end reads empty"
        );
        assert_eq!(m.hpte(u64::MAX), Hpte::default());
        assert_eq!(
            m.hpte(u64::MAX / 16),
            Hpte::default(),
            "no overflow at the top"
        );
        // The same entry through the stream model gives the same store contents.
        let mut t = HashTable::new(g).unwrap();
        t.set(777, e).unwrap();
        for i in [0, 776, 777, 778, g.entries() - 1] {
            assert_eq!(t.hpte(i), m.hpte(i));
        }
        assert_eq!(
            MemoryHpt::new(g, &bytes[1..]).unwrap_err(),
            MemoryError {
                len: (1 << 18) - 1,
                order: 18
            }
        );
    }
}
