//! The DSDT (revision 2): the `\_S5` sleep package whose SLP_TYP the PM1a device turns into a
//! power-off, and the legacy devices under `\_SB`: COM1 (PNP0501, ports 0x3F8-0x3FF, IRQ 4) and
//! the CMOS RTC (PNP0B00, ports 0x70-0x71, IRQ 8). Linux's PNP layer binds its 8250 and rtc-cmos
//! drivers to them.

use super::aml::{device, eisa_id, integer, io_port, irq_no_flags, name, package};
use super::aml::{resource_template, scope};
use super::sdt::Sdt;
use crate::devices::pm::SLP_TYP_S5;
use crate::layout::{CMOS_PORT, COM1_IRQ, COM1_PORT, RTC_IRQ};

/// An ISA device: its EISA id, `_UID`, one I/O range and one ISA IRQ.
fn isa_device(seg: &[u8; 4], hid: &str, uid: u64, port: u64, len: u8, irq: u32) -> Vec<u8> {
    let crs = resource_template(&[io_port(port as u16, len), irq_no_flags(irq as u8)]);
    let body = [
        name(b"_HID", &integer(u64::from(eisa_id(hid)))),
        name(b"_UID", &integer(uid)),
        name(b"_CRS", &crs),
    ]
    .concat();
    device(seg, &body)
}

/// The DSDT, as bytes.
pub fn build() -> Vec<u8> {
    let mut t = Sdt::new(*b"DSDT", 2);
    // \_S5: SLP_TYP for PM1a and PM1b, then two reserved values.
    let s5 = integer(u64::from(SLP_TYP_S5));
    t.append(&name(
        b"_S5_",
        &package(&[s5.clone(), s5, integer(0), integer(0)]),
    ));
    let devices = [
        isa_device(b"COM1", "PNP0501", 1, COM1_PORT, 8, COM1_IRQ),
        isa_device(b"RTC_", "PNP0B00", 0, CMOS_PORT, 2, RTC_IRQ),
    ]
    .concat();
    t.append(&scope(b"\\_SB_", &devices));
    t.finish()
}

#[cfg(test)]
mod tests {
    use super::super::tests::table;

    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }

    #[test]
    fn s5_package_and_legacy_devices_are_encoded() {
        let img = super::super::build(1).unwrap();
        let d = table(&img, img.dsdt, b"DSDT");
        assert_eq!(d[8], 2, "revision 2: 64-bit integers");
        let aml = &d[36..];
        // NameOp "_S5_" PackageOp PkgLength(1 byte) NumElements=4 BytePrefix 5 BytePrefix 5
        // ZeroOp ZeroOp.
        assert_eq!(
            &aml[..13],
            &[0x08, b'_', b'S', b'5', b'_', 0x12, 0x08, 4, 0x0a, 5, 0x0a, 5, 0x00][..]
        );
        assert_eq!(aml[13], 0x00);
        // ScopeOp PkgLength "\_SB_".
        assert_eq!(aml[14], 0x10);
        assert!(find(aml, b"\\_SB_").is_some());
        // EISAID("PNP0501") = 0x0105D041 and EISAID("PNP0B00") = 0x000BD041 as DWordConst.
        let com1 = find(aml, b"COM1").expect("COM1 device");
        assert!(find(&aml[com1..], &[0x0c, 0x41, 0xd0, 0x05, 0x01]).is_some());
        let rtc = find(aml, b"RTC_").expect("RTC device");
        assert!(find(&aml[rtc..], &[0x0c, 0x41, 0xd0, 0x0b, 0x00]).is_some());
        // IO(Decode16, 0x3F8, 0x3F8, 1, 8) IRQNoFlags(){4}, IO(Decode16, 0x70, 0x70, 1, 2)
        // IRQNoFlags(){8}.
        assert!(find(
            &aml[com1..rtc],
            &[0x47, 1, 0xf8, 3, 0xf8, 3, 1, 8, 0x22, 0x10, 0]
        )
        .is_some());
        assert!(find(&aml[rtc..], &[0x47, 1, 0x70, 0, 0x70, 0, 1, 2, 0x22, 0, 1]).is_some());
    }
}
