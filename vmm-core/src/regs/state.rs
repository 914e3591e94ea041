//! A vCPU's register state: an ordered list of (id, value) pairs, and its byte encoding.
//!
//! Values are the bytes KVM gives for the register, in the host's byte order (ONE_REG copies the
//! kernel's native integer). The encoding records that byte order, so a big-endian ppc64 state is
//! never restored on a little-endian ppc64le host by mistake.
//!
//! Encoding (all integers little-endian):
//!
//! ```text
//! "TREG" | version u8 = 1 | byte order u8 ('L' or 'B') | count u32 | count * (id u64 | len u32 | len bytes)
//! ```
//! `len` must equal the id's size; at most [`MAX_ENTRIES`] entries.

use super::id::RegId;

/// The most entries a decoded state may have.
pub const MAX_ENTRIES: usize = 1 << 16;
const MAGIC: &[u8; 4] = b"TREG";
const VERSION: u8 = 1;

/// One register's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegValue {
    /// The register.
    pub id: RegId,
    /// Its value, `id.bytes()` long, in host byte order.
    pub bytes: Vec<u8>,
}

impl RegValue {
    /// The value as an unsigned integer if it has at most 16 bytes (host byte order).
    pub fn as_u128(&self) -> Option<u128> {
        value_as_u128(&self.bytes)
    }
}

/// Reads up to 16 bytes as a host-order unsigned integer.
pub(crate) fn value_as_u128(bytes: &[u8]) -> Option<u128> {
    let n = bytes.len();
    if n > 16 {
        return None;
    }
    let mut buf = [0u8; 16];
    Some(if cfg!(target_endian = "little") {
        buf[..n].copy_from_slice(bytes);
        u128::from_le_bytes(buf)
    } else {
        buf[16 - n..].copy_from_slice(bytes);
        u128::from_be_bytes(buf)
    })
}

/// The register state of one vCPU, in the order it was read (a restore keeps that order within
/// ONE_REG registers).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VcpuState {
    entries: Vec<RegValue>,
}

/// A state encoding that cannot be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateDecodeError {
    /// The bytes end early.
    #[error("register state truncated at byte {0}")]
    Truncated(usize),
    /// Not a register state.
    #[error("not a register state (bad magic)")]
    BadMagic,
    /// A version this build does not know.
    #[error("register state version {0} is not supported")]
    Version(u8),
    /// Saved on a host of the other byte order.
    #[error("register state has byte order {found:?}, this host is {host:?}")]
    ByteOrder {
        /// The state's byte order marker.
        found: char,
        /// This host's.
        host: char,
    },
    /// Too many entries.
    #[error("register state has {0} entries, the limit is {MAX_ENTRIES}")]
    TooMany(u32),
    /// A value whose length is not its id's size.
    #[error("register {id}: value of {len} bytes, its id says {expected}")]
    BadLength {
        /// The id.
        id: RegId,
        /// The stored length.
        len: u32,
        /// The id's size.
        expected: usize,
    },
    /// Bytes after the last entry.
    #[error("{0} trailing bytes after the register state")]
    Trailing(usize),
}

const fn host_order() -> u8 {
    if cfg!(target_endian = "little") {
        b'L'
    } else {
        b'B'
    }
}

impl VcpuState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a value.
    pub fn push(&mut self, id: RegId, bytes: Vec<u8>) {
        self.entries.push(RegValue { id, bytes });
    }

    /// The value of `id`, if present.
    pub fn get(&self, id: RegId) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.bytes.as_slice())
    }

    /// The entries in order.
    pub fn iter(&self) -> std::slice::Iter<'_, RegValue> {
        self.entries.iter()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if there is no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The ids in order.
    pub fn ids(&self) -> Vec<RegId> {
        self.entries.iter().map(|e| e.id).collect()
    }

    /// Encodes the state (see the module doc).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(host_order());
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for e in &self.entries {
            out.extend_from_slice(&e.id.raw().to_le_bytes());
            out.extend_from_slice(&(e.bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(&e.bytes);
        }
        out
    }

    /// Decodes an encoded state. Untrusted bytes get an error, never a panic; ids are not checked
    /// against a table here (a restore does that).
    pub fn decode(bytes: &[u8]) -> Result<Self, StateDecodeError> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(4)? != MAGIC {
            return Err(StateDecodeError::BadMagic);
        }
        let version = r.take(1)?[0];
        if version != VERSION {
            return Err(StateDecodeError::Version(version));
        }
        let order = r.take(1)?[0];
        if order != host_order() {
            return Err(StateDecodeError::ByteOrder {
                found: order as char,
                host: host_order() as char,
            });
        }
        let count = r.u32()?;
        if count as usize > MAX_ENTRIES {
            return Err(StateDecodeError::TooMany(count));
        }
        let mut state = VcpuState::new();
        for _ in 0..count {
            let id = RegId::from_raw(r.u64()?);
            let len = r.u32()?;
            if len as usize != id.bytes() {
                return Err(StateDecodeError::BadLength {
                    id,
                    len,
                    expected: id.bytes(),
                });
            }
            state.push(id, r.take(len as usize)?.to_vec());
        }
        if r.pos != bytes.len() {
            return Err(StateDecodeError::Trailing(bytes.len() - r.pos));
        }
        Ok(state)
    }
}

impl<'a> IntoIterator for &'a VcpuState {
    type Item = &'a RegValue;
    type IntoIter = std::slice::Iter<'a, RegValue>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StateDecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(StateDecodeError::Truncated(self.bytes.len()))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, StateDecodeError> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, StateDecodeError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }
}

#[cfg(test)]
mod tests {
    use super::super::id::{RegArch, RegSize};
    use super::*;

    fn sample() -> VcpuState {
        let mut s = VcpuState::new();
        s.push(
            RegId::new(RegArch::Arm64, 0x10, 64, RegSize::U64),
            0x4000_1000u64.to_ne_bytes().to_vec(),
        );
        s.push(
            RegId::new(RegArch::Arm64, 0x10, 84, RegSize::U128),
            vec![7; 16],
        );
        s.push(
            RegId::new(RegArch::Arm64, 0x10, 212, RegSize::U32),
            vec![1, 2, 3, 4],
        );
        s
    }

    #[test]
    fn encode_decode_round_trip() {
        let s = sample();
        let bytes = s.encode();
        assert_eq!(VcpuState::decode(&bytes).unwrap(), s);
        assert_eq!(s.len(), 3);
        assert_eq!(s.iter().next().unwrap().as_u128(), Some(0x4000_1000));
        assert_eq!(s.get(s.ids()[2]), Some(&[1u8, 2, 3, 4][..]));
        assert_eq!(
            VcpuState::decode(&VcpuState::new().encode()).unwrap().len(),
            0
        );
    }

    #[test]
    fn decode_rejects_every_truncation_and_corruption() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            assert!(VcpuState::decode(&bytes[..n]).is_err(), "prefix {n}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert_eq!(
            VcpuState::decode(&extra),
            Err(StateDecodeError::Trailing(1))
        );
        let mut magic = bytes.clone();
        magic[0] = b'X';
        assert_eq!(VcpuState::decode(&magic), Err(StateDecodeError::BadMagic));
        let mut version = bytes.clone();
        version[4] = 9;
        assert_eq!(
            VcpuState::decode(&version),
            Err(StateDecodeError::Version(9))
        );
        let mut order = bytes.clone();
        order[5] = if host_order() == b'L' { b'B' } else { b'L' };
        assert!(matches!(
            VcpuState::decode(&order),
            Err(StateDecodeError::ByteOrder { .. })
        ));
        let mut count = bytes.clone();
        count[6..10].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            VcpuState::decode(&count),
            Err(StateDecodeError::TooMany(u32::MAX))
        );
        // First entry: id at 10..18, len at 18..22. Claim 9 bytes for a U64.
        let mut len = bytes.clone();
        len[18..22].copy_from_slice(&9u32.to_le_bytes());
        assert!(matches!(
            VcpuState::decode(&len),
            Err(StateDecodeError::BadLength {
                len: 9,
                expected: 8,
                ..
            })
        ));
        // A huge length must not allocate or panic.
        let mut huge = bytes.clone();
        huge[10..18].copy_from_slice(&0x60f0_0000_0000_0000u64.to_le_bytes()); // size field 15
        huge[18..22].copy_from_slice(&32768u32.to_le_bytes());
        assert!(matches!(
            VcpuState::decode(&huge),
            Err(StateDecodeError::Truncated(_))
        ));
    }

    #[test]
    fn as_u128_uses_host_order() {
        let v = RegValue {
            id: RegId::new(RegArch::Ppc, 0, 0xd, RegSize::U32),
            bytes: 0xdead_beefu32.to_ne_bytes().to_vec(),
        };
        assert_eq!(v.as_u128(), Some(0xdead_beef));
        let big = RegValue {
            id: RegId::new(RegArch::Ppc, 0, 0, RegSize::U256),
            bytes: vec![0; 32],
        };
        assert_eq!(big.as_u128(), None);
    }
}
