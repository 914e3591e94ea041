//! The table plumbing (ACPI 6.5, chapter 5.2) from rust-vmm's `acpi_tables` crate: the 36-byte
//! system description header with its length and checksum ([`table`]), and the byte sum the
//! checksums are made of ([`checksum`]). The fixed structures (RSDP, XSDT, FACS) are the crate's
//! too, built in [`super::build`].
//!
//! Every header the crate writes carries its own creator id (`acpi_tables::CREATOR_ID`, "RVAT",
//! revision 0x01000000) where tetra's own encoder wrote "TTRA", 1: the creator of a table is
//! the program that encoded it. Linux prints it in its table list and nothing else reads it that
//! we know of.
//!
//! Byte order: ACPI tables are little-endian. The crate's typed tables (`Rsdp`, `XSDT`, `FACS`,
//! `FADTBuilder`, the MADT structures) use zerocopy's little-endian field types and its AML
//! encoder writes `to_le_bytes`, so they are right on a big-endian host too. Its generic
//! `sdt::Sdt` is not: `append`, `append_slice` and `write_u16/u32/u64` store the value's native
//! bytes (zerocopy `as_bytes` of a plain integer), so on a big-endian host (the BookE build) the
//! length they write at offset 4 is byte-swapped. [`table`] therefore sizes the table in
//! `Sdt::new` (which encodes the length little-endian) and writes the body with `write_bytes`
//! only, which copies bytes and updates the checksum.

use super::{OEM_ID, OEM_REVISION, OEM_TABLE_ID};
use acpi_tables::{sdt::Sdt, Checksum};

/// Length of the system description header.
pub const HEADER_LEN: usize = 36;

/// The byte sum of `data`: zero for a well-formed table.
pub fn checksum(data: &[u8]) -> u8 {
    let mut sum = Checksum::default();
    sum.append(data);
    sum.raw_value()
}

/// A system description table with this signature and revision, the tetra OEM fields and `body`
/// after the header; length and checksum filled in.
pub fn table(signature: [u8; 4], revision: u8, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(HEADER_LEN + body.len()).expect("an ACPI table over 4 GiB");
    let mut t = Sdt::new(signature, len, revision, OEM_ID, OEM_TABLE_ID, OEM_REVISION);
    t.write_bytes(HEADER_LEN, body);
    t.as_slice().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use acpi_tables::{facs::FACS, rsdp::Rsdp, xsdt::XSDT, Aml};

    fn bytes(t: &dyn Aml) -> Vec<u8> {
        let mut v = Vec::new();
        t.to_aml_bytes(&mut v);
        v
    }

    #[test]
    fn header_length_and_checksum() {
        let mut body = vec![0u8; 15];
        body[..3].copy_from_slice(&[1, 2, 3]);
        body[14] = 0xff;
        let b = table(*b"TEST", 3, &body);
        assert_eq!(b.len(), 51);
        assert_eq!(&b[..4], b"TEST");
        assert_eq!(u32::from_le_bytes(b[4..8].try_into().unwrap()), 51);
        assert_eq!(b[8], 3);
        assert_eq!(checksum(&b), 0);
        assert_eq!(&b[10..16], b"TETRA ");
        assert_eq!(&b[16..24], b"TETRAVMM");
        assert_eq!(u32::from_le_bytes(b[24..28].try_into().unwrap()), 1);
        assert_eq!(&b[28..32], &acpi_tables::CREATOR_ID);
        assert_eq!(&b[36..39], &[1, 2, 3]);
        assert_eq!(b[50], 0xff);
        // Any single-byte change breaks the checksum.
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] = c[i].wrapping_add(1);
            assert_ne!(checksum(&c), 0, "{i}");
        }
        // A header alone is a table too.
        let h = table(*b"EMPT", 1, &[]);
        assert_eq!((h.len(), h[4], checksum(&h)), (36, 36, 0));
    }

    /// Why [`table`] does not grow a table with the crate's `Sdt::append_slice`: the length it
    /// writes is in host byte order (little-endian only on a little-endian host), while `Sdt::new`
    /// writes it little-endian everywhere. On a big-endian host this test shows the difference.
    #[test]
    fn acpi_tables_sdt_append_writes_the_length_in_host_order() {
        let mut t = Sdt::new(*b"TEST", 36, 1, OEM_ID, OEM_TABLE_ID, OEM_REVISION);
        assert_eq!(&t.as_slice()[4..8], &36u32.to_le_bytes());
        t.append_slice(&[0; 4]);
        assert_eq!(&t.as_slice()[4..8], &40u32.to_ne_bytes());
        assert_eq!(&table(*b"TEST", 1, &[0; 4])[4..8], &40u32.to_le_bytes());
    }

    #[test]
    fn rsdp_xsdt_and_facs_have_the_spec_layout() {
        let r = bytes(&Rsdp::new(OEM_ID, 0x1234_5678_9abc));
        assert_eq!(r.len(), 36);
        assert_eq!(&r[..8], b"RSD PTR ");
        assert_eq!(checksum(&r[..20]), 0);
        assert_eq!(checksum(&r), 0);
        assert_eq!(&r[9..15], &OEM_ID);
        assert_eq!(r[15], 2);
        assert_eq!(&r[16..20], &[0; 4], "no RSDT");
        assert_eq!(u32::from_le_bytes(r[20..24].try_into().unwrap()), 36);
        assert_eq!(
            u64::from_le_bytes(r[24..32].try_into().unwrap()),
            0x1234_5678_9abc
        );
        let mut x = XSDT::new(OEM_ID, OEM_TABLE_ID, OEM_REVISION);
        x.add_entry(0xe0100);
        x.add_entry(0xe0200);
        let x = bytes(&x);
        assert_eq!(x.len(), 36 + 16);
        assert_eq!(u32::from_le_bytes(x[4..8].try_into().unwrap()), 52);
        assert_eq!(x[8], 1, "revision");
        assert_eq!(checksum(&x), 0);
        assert_eq!(u64::from_le_bytes(x[44..52].try_into().unwrap()), 0xe0200);
        let f = bytes(&FACS::new());
        assert_eq!(&f[..4], b"FACS");
        assert_eq!(u32::from_le_bytes(f[4..8].try_into().unwrap()), 64);
        assert_eq!(f.len(), 64);
    }
}
