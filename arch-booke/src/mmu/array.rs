//! An owned TLB array (geometry + entries in KVM's order), its byte codec, and [`TlbStore`], the
//! storage the guest TLB operations and translation work on.

use super::geometry::{Tlb, TlbGeometry, TlbPos};
use crate::abi::kvm_book3e_206_tlb_entry;
use thiserror::Error;

/// Size of one entry in bytes.
pub const ENTRY_SIZE: usize = std::mem::size_of::<kvm_book3e_206_tlb_entry>();

/// Errors of the TLB array.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ArrayError {
    /// An index past the end of the array.
    #[error("TLB array index {index} out of range ({len} entries)")]
    IndexOutOfRange {
        /// The index.
        index: usize,
        /// Entries in the array.
        len: usize,
    },
    /// The number of entries (or bytes) does not match the geometry.
    #[error("TLB array for geometry {geometry} needs {expected} {unit}, got {actual}")]
    WrongLength {
        /// The geometry.
        geometry: TlbGeometry,
        /// What the geometry needs.
        expected: usize,
        /// What was given.
        actual: usize,
        /// "entries" or "bytes".
        unit: &'static str,
    },
}

/// Byte order of an array image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteOrder {
    /// Little-endian (tetra's serialized formats).
    Little,
    /// Big-endian (what KVM's shared array holds on an e500mc-family host).
    Big,
}

impl ByteOrder {
    /// The byte order of the machine tetra runs on (the order of structs shared with KVM).
    pub const HOST: ByteOrder = if cfg!(target_endian = "big") {
        ByteOrder::Big
    } else {
        ByteOrder::Little
    };

    fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            ByteOrder::Little => u32::from_le_bytes(b),
            ByteOrder::Big => u32::from_be_bytes(b),
        }
    }

    fn u64(self, b: [u8; 8]) -> u64 {
        match self {
            ByteOrder::Little => u64::from_le_bytes(b),
            ByteOrder::Big => u64::from_be_bytes(b),
        }
    }

    fn put_u32(self, v: u32) -> [u8; 4] {
        match self {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        }
    }

    fn put_u64(self, v: u64) -> [u8; 8] {
        match self {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        }
    }
}

/// Encodes one entry in `order` (24 bytes, the C layout).
pub fn encode_entry(e: &kvm_book3e_206_tlb_entry, order: ByteOrder) -> [u8; ENTRY_SIZE] {
    let mut out = [0u8; ENTRY_SIZE];
    out[0..4].copy_from_slice(&order.put_u32(e.mas8));
    out[4..8].copy_from_slice(&order.put_u32(e.mas1));
    out[8..16].copy_from_slice(&order.put_u64(e.mas2));
    out[16..24].copy_from_slice(&order.put_u64(e.mas7_3));
    out
}

/// Decodes one entry from 24 bytes in `order`.
pub fn decode_entry(b: &[u8; ENTRY_SIZE], order: ByteOrder) -> kvm_book3e_206_tlb_entry {
    let w4 = |i: usize| [b[i], b[i + 1], b[i + 2], b[i + 3]];
    let w8 = |i: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[i..i + 8]);
        a
    };
    kvm_book3e_206_tlb_entry {
        mas8: order.u32(w4(0)),
        mas1: order.u32(w4(4)),
        mas2: order.u64(w8(8)),
        mas7_3: order.u64(w8(16)),
    }
}

/// Storage of a TLB array: an owned [`TlbArray`], or the array shared with KVM.
pub trait TlbStore {
    /// The geometry.
    fn geometry(&self) -> &TlbGeometry;
    /// Entry `index`; `None` past the end.
    fn entry(&self, index: usize) -> Option<kvm_book3e_206_tlb_entry>;
    /// Replaces entry `index`.
    fn write(&mut self, index: usize, entry: kvm_book3e_206_tlb_entry) -> Result<(), ArrayError>;
}

impl<T: TlbStore + ?Sized> TlbStore for &mut T {
    fn geometry(&self) -> &TlbGeometry {
        (**self).geometry()
    }
    fn entry(&self, index: usize) -> Option<kvm_book3e_206_tlb_entry> {
        (**self).entry(index)
    }
    fn write(&mut self, index: usize, entry: kvm_book3e_206_tlb_entry) -> Result<(), ArrayError> {
        (**self).write(index, entry)
    }
}

/// A TLB array owned by userspace (a snapshot image, a test array).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlbArray {
    geometry: TlbGeometry,
    entries: Vec<kvm_book3e_206_tlb_entry>,
}

impl TlbArray {
    /// An all-invalid (zeroed) array.
    pub fn new(geometry: TlbGeometry) -> Self {
        Self {
            geometry,
            entries: vec![kvm_book3e_206_tlb_entry::default(); geometry.total_entries()],
        }
    }

    /// An array from entries in KVM's order; their number must match the geometry.
    pub fn from_entries(
        geometry: TlbGeometry,
        entries: Vec<kvm_book3e_206_tlb_entry>,
    ) -> Result<Self, ArrayError> {
        if entries.len() != geometry.total_entries() {
            return Err(ArrayError::WrongLength {
                geometry,
                expected: geometry.total_entries(),
                actual: entries.len(),
                unit: "entries",
            });
        }
        Ok(Self { geometry, entries })
    }

    /// Decodes an array image (`geometry.array_len()` bytes in `order`).
    pub fn decode(
        geometry: TlbGeometry,
        bytes: &[u8],
        order: ByteOrder,
    ) -> Result<Self, ArrayError> {
        if bytes.len() != geometry.array_len() {
            return Err(ArrayError::WrongLength {
                geometry,
                expected: geometry.array_len(),
                actual: bytes.len(),
                unit: "bytes",
            });
        }
        let entries = bytes
            .chunks_exact(ENTRY_SIZE)
            .map(|c| {
                let mut b = [0u8; ENTRY_SIZE];
                b.copy_from_slice(c);
                decode_entry(&b, order)
            })
            .collect();
        Ok(Self { geometry, entries })
    }

    /// Encodes the array in `order`.
    pub fn encode(&self, order: ByteOrder) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.geometry.array_len());
        for e in &self.entries {
            out.extend_from_slice(&encode_entry(e, order));
        }
        out
    }

    /// The geometry.
    pub fn geometry(&self) -> &TlbGeometry {
        &self.geometry
    }

    /// All entries in KVM's order.
    pub fn entries(&self) -> &[kvm_book3e_206_tlb_entry] {
        &self.entries
    }

    /// The entries of one TLB.
    pub fn tlb(&self, tlb: Tlb) -> &[kvm_book3e_206_tlb_entry] {
        let base = self.geometry.base(tlb);
        &self.entries[base..base + self.geometry.entries(tlb) as usize]
    }

    /// Valid entries with their index and position.
    pub fn valid_entries(
        &self,
    ) -> impl Iterator<Item = (usize, TlbPos, kvm_book3e_206_tlb_entry)> + '_ {
        let g = self.geometry;
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.valid())
            .filter_map(move |(i, e)| g.position(i).map(|p| (i, p, *e)))
    }

    /// Valid TLB0 entries that sit in a set their EPN does not hash to (unreachable by lookup),
    /// or that are not 4 KiB pages: index list.
    pub fn misplaced(&self) -> Vec<usize> {
        self.valid_entries()
            .filter(|(_, p, e)| {
                p.tlb == Tlb::Tlb0
                    && (self.geometry.tlb0_set(e.mas2) != p.set
                        || e.tsize() != super::entry::TSIZE_4K)
            })
            .map(|(i, _, _)| i)
            .collect()
    }
}

impl TlbStore for TlbArray {
    fn geometry(&self) -> &TlbGeometry {
        &self.geometry
    }

    fn entry(&self, index: usize) -> Option<kvm_book3e_206_tlb_entry> {
        self.entries.get(index).copied()
    }

    fn write(&mut self, index: usize, entry: kvm_book3e_206_tlb_entry) -> Result<(), ArrayError> {
        let len = self.entries.len();
        let slot = self
            .entries
            .get_mut(index)
            .ok_or(ArrayError::IndexOutOfRange { index, len })?;
        *slot = entry;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> kvm_book3e_206_tlb_entry {
        kvm_book3e_206_tlb_entry {
            mas8: 0x0102_0304,
            mas1: 0x8000_0100,
            mas2: 0x1122_3344_5566_7788,
            mas7_3: 0x99aa_bbcc_ddee_ff00,
        }
    }

    #[test]
    fn entry_codec_both_orders() {
        let e = sample();
        let le = encode_entry(&e, ByteOrder::Little);
        assert_eq!(&le[0..4], &[4, 3, 2, 1]);
        assert_eq!(le[8], 0x88);
        let be = encode_entry(&e, ByteOrder::Big);
        assert_eq!(&be[0..4], &[1, 2, 3, 4]);
        assert_eq!(be[16], 0x99);
        assert_eq!(decode_entry(&le, ByteOrder::Little), e);
        assert_eq!(decode_entry(&be, ByteOrder::Big), e);
    }

    #[test]
    fn host_order_matches_memory_layout() {
        let e = sample();
        // SAFETY: kvm_book3e_206_tlb_entry is repr(C), 24 bytes, no padding; viewing it as bytes
        // is valid for reading.
        let raw: [u8; ENTRY_SIZE] = unsafe { std::mem::transmute(e) };
        assert_eq!(raw, encode_entry(&e, ByteOrder::HOST));
    }

    #[test]
    fn array_codec_and_lengths() {
        let g = TlbGeometry::new(8, 2, 4).unwrap();
        let mut a = TlbArray::new(g);
        a.write(3, sample()).unwrap();
        a.write(11, sample()).unwrap();
        assert_eq!(
            a.write(12, sample()),
            Err(ArrayError::IndexOutOfRange { index: 12, len: 12 })
        );
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let bytes = a.encode(order);
            assert_eq!(bytes.len(), 12 * 24);
            assert_eq!(TlbArray::decode(g, &bytes, order).unwrap(), a);
            assert!(matches!(
                TlbArray::decode(g, &bytes[1..], order),
                Err(ArrayError::WrongLength {
                    expected: 288,
                    actual: 287,
                    ..
                })
            ));
        }
        assert!(TlbArray::from_entries(g, vec![sample(); 11]).is_err());
        assert_eq!(a.tlb(Tlb::Tlb1)[3], sample());
        assert_eq!(a.tlb(Tlb::Tlb0)[3], sample());
        let valid: Vec<_> = a.valid_entries().map(|(i, _, _)| i).collect();
        assert_eq!(valid, vec![3, 11]);
        // index 3 is set 1 way 1; sample's EPN 0x..7000 hashes to set (0x...67 & 3) = 3.
        assert_eq!(a.misplaced(), vec![3]);
    }
}
