//! The table plumbing (ACPI 6.5, chapter 5.2): the common 36-byte system description header with
//! its length and checksum, the Generic Address Structure, and the three small fixed structures:
//! RSDP (5.2.5.3), XSDT (5.2.8) and FACS (5.2.10).
//!
//! Hand-written rather than taken from rust-vmm's `acpi_tables` crate: its releases (0.2.0,
//! 0.2.1) need Rust 1.87, and tetra's MSRV is 1.85.

use super::{OEM_ID, OEM_REVISION, OEM_TABLE_ID};

/// Length of the system description header.
pub const HEADER_LEN: usize = 36;
/// Creator id in every table header.
pub const CREATOR_ID: [u8; 4] = *b"TTRA";
/// Creator revision in every table header.
pub const CREATOR_REVISION: u32 = 1;
/// Length of the RSDP (revision 2).
pub const RSDP_LEN: usize = 36;
/// Length of the FACS.
pub const FACS_LEN: usize = 64;

/// The byte sum of `data`: zero for a well-formed table.
pub fn checksum(data: &[u8]) -> u8 {
    data.iter().fold(0u8, |a, b| a.wrapping_add(*b))
}

/// The value that makes `data` (with a zero in the checksum byte) sum to zero.
fn fix(data: &[u8]) -> u8 {
    0u8.wrapping_sub(checksum(data))
}

/// A system description table being built: header first, then the body appended or poked at
/// absolute offsets; [`Sdt::finish`] fills in length and checksum.
pub struct Sdt {
    data: Vec<u8>,
}

impl Sdt {
    /// A table with this signature and revision, the tetra OEM fields and an empty body.
    pub fn new(signature: [u8; 4], revision: u8) -> Self {
        let mut data = Vec::with_capacity(256);
        data.extend_from_slice(&signature);
        data.extend_from_slice(&0u32.to_le_bytes()); // length, at finish
        data.push(revision);
        data.push(0); // checksum, at finish
        data.extend_from_slice(&OEM_ID);
        data.extend_from_slice(&OEM_TABLE_ID);
        data.extend_from_slice(&OEM_REVISION.to_le_bytes());
        data.extend_from_slice(&CREATOR_ID);
        data.extend_from_slice(&CREATOR_REVISION.to_le_bytes());
        debug_assert_eq!(data.len(), HEADER_LEN);
        Sdt { data }
    }

    /// Appends to the body.
    pub fn append(&mut self, bytes: &[u8]) {
        self.data.extend_from_slice(bytes);
    }

    /// Writes `bytes` at table offset `off`, growing the table with zeros if needed.
    pub fn put(&mut self, off: usize, bytes: &[u8]) {
        if self.data.len() < off + bytes.len() {
            self.data.resize(off + bytes.len(), 0);
        }
        self.data[off..off + bytes.len()].copy_from_slice(bytes);
    }

    /// The finished table: length and checksum filled in.
    pub fn finish(mut self) -> Vec<u8> {
        let len = self.data.len() as u32;
        self.data[4..8].copy_from_slice(&len.to_le_bytes());
        self.data[9] = 0;
        self.data[9] = fix(&self.data);
        self.data
    }
}

/// Generic Address Structure address spaces.
pub const SPACE_SYSTEM_IO: u8 = 1;
/// GAS access size: undefined (legacy reasons; the OS uses the register width).
pub const ACCESS_UNDEFINED: u8 = 0;
/// GAS access size: byte.
pub const ACCESS_BYTE: u8 = 1;

/// A Generic Address Structure (12 bytes).
pub fn gas(space: u8, bit_width: u8, access: u8, address: u64) -> [u8; 12] {
    let mut g = [0u8; 12];
    g[0] = space;
    g[1] = bit_width;
    g[2] = 0; // bit offset
    g[3] = access;
    g[4..].copy_from_slice(&address.to_le_bytes());
    g
}

/// The RSDP, revision 2, pointing at the XSDT (no RSDT): both checksums set.
pub fn rsdp(xsdt: u64) -> [u8; RSDP_LEN] {
    let mut r = [0u8; RSDP_LEN];
    r[..8].copy_from_slice(b"RSD PTR ");
    r[9..15].copy_from_slice(&OEM_ID);
    r[15] = 2; // revision
    r[20..24].copy_from_slice(&(RSDP_LEN as u32).to_le_bytes());
    r[24..32].copy_from_slice(&xsdt.to_le_bytes());
    r[8] = fix(&r[..20]);
    r[32] = fix(&r);
    r
}

/// The XSDT listing these tables.
pub fn xsdt(entries: &[u64]) -> Vec<u8> {
    let mut t = Sdt::new(*b"XSDT", 1);
    for e in entries {
        t.append(&e.to_le_bytes());
    }
    t.finish()
}

/// The FACS, version 2: no hardware signature, no waking vector, global lock free.
pub fn facs() -> [u8; FACS_LEN] {
    let mut f = [0u8; FACS_LEN];
    f[..4].copy_from_slice(b"FACS");
    f[4..8].copy_from_slice(&(FACS_LEN as u32).to_le_bytes());
    f[32] = 2; // version
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_length_and_checksum() {
        let mut t = Sdt::new(*b"TEST", 3);
        t.append(&[1, 2, 3]);
        t.put(50, &[0xff]);
        let b = t.finish();
        assert_eq!(b.len(), 51);
        assert_eq!(&b[..4], b"TEST");
        assert_eq!(u32::from_le_bytes(b[4..8].try_into().unwrap()), 51);
        assert_eq!(b[8], 3);
        assert_eq!(checksum(&b), 0);
        assert_eq!(&b[10..16], b"TETRA ");
        assert_eq!(&b[16..24], b"TETRAVMM");
        assert_eq!(&b[28..32], b"TTRA");
        assert_eq!(&b[36..39], &[1, 2, 3]);
        assert_eq!(b[50], 0xff);
        // Any single-byte change breaks the checksum.
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] = c[i].wrapping_add(1);
            assert_ne!(checksum(&c), 0, "{i}");
        }
    }

    #[test]
    fn rsdp_xsdt_and_facs_have_the_spec_layout() {
        let r = rsdp(0x1234_5678_9abc);
        assert_eq!(checksum(&r[..20]), 0);
        assert_eq!(checksum(&r), 0);
        assert_eq!(r[15], 2);
        assert_eq!(&r[16..20], &[0; 4], "no RSDT");
        assert_eq!(
            u64::from_le_bytes(r[24..32].try_into().unwrap()),
            0x1234_5678_9abc
        );
        let x = xsdt(&[0xe0100, 0xe0200]);
        assert_eq!(x.len(), 36 + 16);
        assert_eq!(checksum(&x), 0);
        assert_eq!(u64::from_le_bytes(x[44..52].try_into().unwrap()), 0xe0200);
        let f = facs();
        assert_eq!(&f[..4], b"FACS");
        assert_eq!(u32::from_le_bytes(f[4..8].try_into().unwrap()), 64);
        let g = gas(SPACE_SYSTEM_IO, 16, ACCESS_BYTE, 0x604);
        assert_eq!(g, [1, 16, 0, 1, 4, 6, 0, 0, 0, 0, 0, 0]);
    }
}
