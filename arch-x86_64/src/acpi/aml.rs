//! Just enough AML (ACPI 6.5, chapter 20) for tetra's DSDT: names, integers, packages, devices,
//! scopes, EISA ids, and resource templates with I/O ports and ISA IRQs (chapter 6.4).

/// NameOp.
const NAME_OP: u8 = 0x08;
/// ScopeOp.
const SCOPE_OP: u8 = 0x10;
/// BufferOp.
const BUFFER_OP: u8 = 0x11;
/// PackageOp.
const PACKAGE_OP: u8 = 0x12;
/// ExtOpPrefix, DeviceOp.
const DEVICE_OP: [u8; 2] = [0x5b, 0x82];

/// A PkgLength (20.2.4) for `len` bytes of content that follow it: the encoding counts its own
/// bytes. One byte up to 63 in total, else a lead byte with the count of following bytes in bits
/// 7:6 and the low nibble of the length, then the rest, 8 bits at a time.
pub fn pkg_length(len: usize) -> Vec<u8> {
    if len + 1 < 0x40 {
        return vec![(len + 1) as u8];
    }
    for extra in 1..=3usize {
        let total = len + 1 + extra;
        if total < 1 << (4 + 8 * extra) {
            let mut v = vec![((extra as u8) << 6) | (total & 0xf) as u8];
            for i in 0..extra {
                v.push((total >> (4 + 8 * i)) as u8);
            }
            return v;
        }
    }
    // 2^28 bytes of AML: far beyond anything tetra writes.
    panic!("AML object of {len} bytes is too large for a PkgLength");
}

/// An integer constant in its shortest encoding: ZeroOp, OneOp, or Byte/Word/DWord/QWordConst.
pub fn integer(v: u64) -> Vec<u8> {
    match v {
        0 => vec![0x00],
        1 => vec![0x01],
        2..=0xff => vec![0x0a, v as u8],
        0x100..=0xffff => [&[0x0b][..], &(v as u16).to_le_bytes()].concat(),
        0x1_0000..=0xffff_ffff => [&[0x0c][..], &(v as u32).to_le_bytes()].concat(),
        _ => [&[0x0e][..], &v.to_le_bytes()].concat(),
    }
}

/// `Name(seg, value)`: `value` is an encoded data object.
pub fn name(seg: &[u8; 4], value: &[u8]) -> Vec<u8> {
    [&[NAME_OP][..], seg, value].concat()
}

fn with_length(op: &[u8], body: &[u8]) -> Vec<u8> {
    [op, &pkg_length(body.len()), body].concat()
}

/// `Package() { elements }`: each element is an encoded data object.
pub fn package(elements: &[Vec<u8>]) -> Vec<u8> {
    let mut body = vec![elements.len() as u8];
    for e in elements {
        body.extend_from_slice(e);
    }
    with_length(&[PACKAGE_OP], &body)
}

/// `Device(seg) { body }`.
pub fn device(seg: &[u8; 4], body: &[u8]) -> Vec<u8> {
    with_length(&DEVICE_OP, &[&seg[..], body].concat())
}

/// `Scope(path) { body }`; `path` is an encoded NameString such as `\_SB_`.
pub fn scope(path: &[u8], body: &[u8]) -> Vec<u8> {
    with_length(&[SCOPE_OP], &[path, body].concat())
}

/// `EISAID("PNP0501")` as the DWord the ASL compiler emits: three letters packed in 5 bits each
/// (big-endian), then the four hex digits as two bytes.
pub fn eisa_id(id: &str) -> u32 {
    let b = id.as_bytes();
    assert!(
        b.len() == 7 && b[..3].iter().all(u8::is_ascii_uppercase),
        "EISA id {id}"
    );
    let letters =
        (u16::from(b[0] - 0x40) << 10) | (u16::from(b[1] - 0x40) << 5) | u16::from(b[2] - 0x40);
    let digits = u16::from_str_radix(&id[3..], 16).expect("EISA id digits");
    let [l0, l1] = letters.to_be_bytes();
    let [d0, d1] = digits.to_be_bytes();
    u32::from_le_bytes([l0, l1, d0, d1])
}

/// `ResourceTemplate() { descriptors }`: a buffer of the descriptors and an End Tag.
pub fn resource_template(descriptors: &[Vec<u8>]) -> Vec<u8> {
    let mut data: Vec<u8> = descriptors.concat();
    data.extend_from_slice(&[0x79, 0x00]); // End Tag, checksum 0 ("always valid")
    let body = [integer(data.len() as u64), data].concat();
    with_length(&[BUFFER_OP], &body)
}

/// `IO(Decode16, base, base, 1, len)`: a fixed 16-bit decoded I/O range (6.4.2.5).
pub fn io_port(base: u16, len: u8) -> Vec<u8> {
    let [lo, hi] = base.to_le_bytes();
    vec![0x47, 0x01, lo, hi, lo, hi, 0x01, len]
}

/// `IRQNoFlags() { irq }`: an ISA interrupt, edge triggered, active high (6.4.2.1).
pub fn irq_no_flags(irq: u8) -> Vec<u8> {
    assert!(irq < 16, "ISA IRQ {irq}");
    let [lo, hi] = (1u16 << irq).to_le_bytes();
    vec![0x22, lo, hi]
}

/// `Memory32Fixed(ReadWrite, base, len)`: a fixed 32-bit memory range (6.4.3.4).
pub fn memory32_fixed(base: u32, len: u32) -> Vec<u8> {
    let mut v = vec![0x86, 0x09, 0x00, 0x01];
    v.extend_from_slice(&base.to_le_bytes());
    v.extend_from_slice(&len.to_le_bytes());
    v
}

/// `Interrupt(ResourceConsumer, Edge|Level, ActiveHigh, Exclusive) { gsi }`: an extended
/// interrupt descriptor (6.4.3.6).
pub fn interrupt(gsi: u32, edge: bool) -> Vec<u8> {
    let flags = 0x01 | if edge { 0x02 } else { 0 };
    let mut v = vec![0x89, 0x06, 0x00, flags, 0x01];
    v.extend_from_slice(&gsi.to_le_bytes());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(integer(0), vec![0x00]);
        assert_eq!(integer(1), vec![0x01]);
        assert_eq!(integer(5), vec![0x0a, 5]);
        assert_eq!(integer(0x3f8), vec![0x0b, 0xf8, 0x03]);
        assert_eq!(integer(0x0105_d041), vec![0x0c, 0x41, 0xd0, 0x05, 0x01]);
        assert_eq!(integer(1 << 40), vec![0x0e, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn objects_match_what_iasl_emits() {
        // Name (_S5, Package (0x04) { 0x05, 0x05, Zero, Zero })
        let s5 = name(
            b"_S5_",
            &package(&[integer(5), integer(5), integer(0), integer(0)]),
        );
        assert_eq!(
            s5,
            vec![0x08, b'_', b'S', b'5', b'_', 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0, 0]
        );
        assert_eq!(eisa_id("PNP0501"), 0x0105_d041);
        assert_eq!(eisa_id("PNP0B00"), 0x000b_d041);
        // ResourceTemplate () { IO (Decode16, 0x03F8, 0x03F8, 0x01, 0x08) IRQNoFlags () {4} }
        let crs = resource_template(&[io_port(0x3f8, 8), irq_no_flags(4)]);
        assert_eq!(
            crs,
            vec![
                0x11, 0x10, 0x0a, 0x0d, 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, 0x22, 0x10,
                0x00, 0x79, 0x00
            ]
        );
        // Device (DEV0) { } and Scope (\_SB) { }
        assert_eq!(
            device(b"DEV0", &[]),
            vec![0x5b, 0x82, 0x05, b'D', b'E', b'V', b'0']
        );
        assert_eq!(
            scope(b"\\_SB_", &[]),
            vec![0x10, 0x06, b'\\', b'_', b'S', b'B', b'_']
        );
    }
}
