//! AML (ACPI 6.5, chapter 20) for tetra's DSDT comes from `acpi_tables::aml`: names, integers in
//! their shortest encoding, packages, devices, scopes, EISA ids, and resource templates with IO,
//! Memory32Fixed and extended Interrupt descriptors (chapter 6.4). It writes every multi-byte
//! value with `to_le_bytes`, so its AML is the same on a big-endian host.
//!
//! The one descriptor tetra needs that `acpi_tables` 0.2.1 lacks is the small IRQ descriptor,
//! `IRQNoFlags` ([`IrqNoFlags`]), which tetra uses for the ISA devices' edge interrupts (COM1's
//! IRQ 4, the RTC's IRQ 8). The crate's `Interrupt` (an extended interrupt descriptor) is not the
//! same thing to a guest: Linux's `acpi_dev_resource_interrupt` treats an IRQ descriptor as a
//! legacy ISA IRQ (its trigger and polarity checked against the MADT's interrupt source
//! overrides) and an extended descriptor as a GSI, not legacy.

use acpi_tables::{Aml, AmlSink};

/// Small resource item tag of an IRQ descriptor without the optional flags byte: type 0x4,
/// length 2.
const IRQ_NO_FLAGS_TAG: u8 = 0x22;

/// `IRQNoFlags() { irq }`: an ISA interrupt, edge triggered, active high (6.4.2.1), for a
/// `ResourceTemplate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqNoFlags(u8);

impl IrqNoFlags {
    /// The descriptor for ISA IRQ `irq` (0-15); `None` for a larger number.
    pub fn new(irq: u32) -> Option<Self> {
        (irq < 16).then_some(IrqNoFlags(irq as u8))
    }
}

impl Aml for IrqNoFlags {
    fn to_aml_bytes(&self, sink: &mut dyn AmlSink) {
        sink.byte(IRQ_NO_FLAGS_TAG);
        // The IRQ mask: bit n for IRQ n.
        sink.word(1 << self.0);
    }
}

#[cfg(test)]
mod tests {
    //! The crate's encodings checked against what iasl emits for the same ASL.

    use super::*;
    use acpi_tables::aml::{Device, EISAName, Name, Package, Path, ResourceTemplate, Scope};
    use acpi_tables::aml::{VarPackageTerm, IO};

    fn bytes(t: &dyn Aml) -> Vec<u8> {
        let mut v = Vec::new();
        t.to_aml_bytes(&mut v);
        v
    }

    /// Raw bytes as an AML object.
    struct Raw(Vec<u8>);

    impl Aml for Raw {
        fn to_aml_bytes(&self, sink: &mut dyn AmlSink) {
            sink.vec(&self.0);
        }
    }

    /// The PkgLength (20.2.4) the crate writes for `len` bytes of content: a VarPackage of
    /// exactly that content, less its opcode and content.
    fn pkg_length(len: usize) -> Vec<u8> {
        let b = bytes(&VarPackageTerm::new(&Raw(vec![0xaa; len])));
        assert_eq!(b[0], 0x13, "VarPackageOp");
        b[1..b.len() - len].to_vec()
    }

    #[test]
    fn pkg_length_encodings() {
        assert_eq!(pkg_length(0), vec![1]);
        assert_eq!(pkg_length(62), vec![63]);
        // 63 bytes of content + 2 length bytes = 65 = 0x41: lead 0x40 | 1, then 0x04.
        assert_eq!(pkg_length(63), vec![0x41, 0x04]);
        assert_eq!(pkg_length(0xffd), vec![0x4f, 0xff]);
        // 0xffe + 3 = 0x1001 needs three bytes.
        assert_eq!(pkg_length(0xffe), vec![0x81, 0x00, 0x01]);
        assert_eq!(pkg_length(0x10_0000), vec![0xc4, 0x00, 0x00, 0x01]);
        // Decoding gives back the total, for every size class.
        for len in [
            0usize, 5, 62, 63, 100, 0xffd, 0xffe, 0xf_fffc, 0xf_fffd, 0x12_3456,
        ] {
            let p = pkg_length(len);
            let extra = (p[0] >> 6) as usize;
            assert_eq!(p.len(), extra + 1);
            let total = if extra == 0 {
                p[0] as usize
            } else {
                let mut t = (p[0] & 0xf) as usize;
                for (i, b) in p[1..].iter().enumerate() {
                    t |= (*b as usize) << (4 + 8 * i);
                }
                assert_eq!(p[0] & 0x30, 0, "bits 5:4 are zero with extra bytes");
                t
            };
            assert_eq!(total, len + p.len(), "{len}");
        }
    }

    #[test]
    fn integers_use_the_shortest_form() {
        assert_eq!(bytes(&0u64), vec![0x00]);
        assert_eq!(bytes(&1u64), vec![0x01]);
        assert_eq!(bytes(&5u64), vec![0x0a, 5]);
        assert_eq!(bytes(&0x3f8u64), vec![0x0b, 0xf8, 0x03]);
        assert_eq!(bytes(&0x0105_d041u64), vec![0x0c, 0x41, 0xd0, 0x05, 0x01]);
        assert_eq!(bytes(&(1u64 << 40)), vec![0x0e, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn objects_match_what_iasl_emits() {
        // Name (_S5, Package (0x04) { 0x05, 0x05, Zero, Zero })
        let s5 = Name::new(
            Path::new("_S5_"),
            &Package::new(vec![&5u8, &5u8, &0u8, &0u8]),
        );
        assert_eq!(
            bytes(&s5),
            vec![0x08, b'_', b'S', b'5', b'_', 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0, 0]
        );
        // EISAID ("PNP0501") and EISAID ("PNP0B00") as DWordConst.
        assert_eq!(
            bytes(&EISAName::new("PNP0501")),
            vec![0x0c, 0x41, 0xd0, 0x05, 0x01]
        );
        assert_eq!(
            bytes(&EISAName::new("PNP0B00")),
            vec![0x0c, 0x41, 0xd0, 0x0b, 0x00]
        );
        // ResourceTemplate () { IO (Decode16, 0x03F8, 0x03F8, 0x01, 0x08) IRQNoFlags () {4} }
        let io = IO::new(0x3f8, 0x3f8, 1, 8);
        let irq = IrqNoFlags::new(4).unwrap();
        let crs = ResourceTemplate::new(vec![&io, &irq]);
        assert_eq!(
            bytes(&crs),
            vec![
                0x11, 0x10, 0x0a, 0x0d, 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, 0x22, 0x10,
                0x00, 0x79, 0x00
            ]
        );
        // Device (DEV0) { } and Scope (\_SB) { }
        assert_eq!(
            bytes(&Device::new(Path::new("DEV0"), vec![])),
            vec![0x5b, 0x82, 0x05, b'D', b'E', b'V', b'0']
        );
        assert_eq!(
            bytes(&Scope::new(Path::new("\\_SB_"), vec![])),
            vec![0x10, 0x06, b'\\', b'_', b'S', b'B', b'_']
        );
    }

    #[test]
    fn irq_no_flags_is_isa_only() {
        assert_eq!(bytes(&IrqNoFlags::new(0).unwrap()), vec![0x22, 0x01, 0x00]);
        assert_eq!(bytes(&IrqNoFlags::new(15).unwrap()), vec![0x22, 0x00, 0x80]);
        assert_eq!(IrqNoFlags::new(16), None);
    }
}
