//! The DSDT (revision 2): the `\_S5` sleep package whose SLP_TYP the PM1a device turns into a
//! power-off, and under `\_SB` every placed device with an ACPI description (the device layer's
//! list): today COM1 (PNP0501, ports 0x3F8-0x3FF, IRQ 4) and the CMOS RTC (PNP0B00, ports
//! 0x70-0x71, IRQ 8). Linux's PNP layer binds its 8250 and rtc-cmos drivers to them.

use super::aml::{device, eisa_id, integer, interrupt, io_port, irq_no_flags, memory32_fixed};
use super::aml::{name, package, resource_template, scope};
use super::sdt::Sdt;
use super::AcpiError;
use crate::devices::pm::SLP_TYP_S5;
use vmm_core::devices::{PlacedDevice, Space, Trigger};

/// A placed device's `Device` object: its EISA id, `_UID`, and `_CRS` with its window (an I/O
/// range or a 32-bit memory range) and its interrupt (an ISA IRQ for edge lines below 16, an
/// extended interrupt descriptor otherwise).
fn acpi_device(d: &PlacedDevice) -> Result<Option<Vec<u8>>, AcpiError> {
    let Some(acpi) = d.desc.firmware.acpi else {
        return Ok(None);
    };
    let bad = |why: &str| AcpiError::Device {
        device: d.desc.name,
        why: why.to_string(),
    };
    let mut crs = Vec::new();
    if let Some(w) = d.window {
        crs.push(match w.space {
            Space::Pio => {
                let base = u16::try_from(w.base).map_err(|_| bad("port beyond 0xffff"))?;
                let len = u8::try_from(w.len).map_err(|_| bad("port range over 255 bytes"))?;
                io_port(base, len)
            }
            Space::Mmio => {
                let base = u32::try_from(w.base).map_err(|_| bad("MMIO beyond 4 GiB"))?;
                let len = u32::try_from(w.len).map_err(|_| bad("MMIO range over 4 GiB"))?;
                memory32_fixed(base, len)
            }
        });
    }
    if let Some(i) = d.irq {
        crs.push(match (i.number, i.trigger) {
            (n @ 0..16, Trigger::Edge) => irq_no_flags(n as u8),
            (n, t) => interrupt(n, t == Trigger::Edge),
        });
    }
    let body = [
        name(b"_HID", &integer(u64::from(eisa_id(acpi.hid)))),
        name(b"_UID", &integer(u64::from(acpi.uid))),
        name(b"_CRS", &resource_template(&crs)),
    ]
    .concat();
    Ok(Some(device(&acpi.name, &body)))
}

/// The DSDT, as bytes: `\_S5` and every device in `devices` that has an ACPI description.
pub fn build(devices: &[PlacedDevice]) -> Result<Vec<u8>, AcpiError> {
    let mut t = Sdt::new(*b"DSDT", 2);
    // \_S5: SLP_TYP for PM1a and PM1b, then two reserved values.
    let s5 = integer(u64::from(SLP_TYP_S5));
    t.append(&name(
        b"_S5_",
        &package(&[s5.clone(), s5, integer(0), integer(0)]),
    ));
    let mut sb = Vec::new();
    for d in devices {
        if let Some(aml) = acpi_device(d)? {
            sb.extend_from_slice(&aml);
        }
    }
    t.append(&scope(b"\\_SB_", &sb));
    Ok(t.finish())
}

#[cfg(test)]
mod tests {
    use super::super::tests::table;

    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }

    #[test]
    fn s5_package_and_legacy_devices_are_encoded() {
        let img = super::super::build(1, &super::super::tests::devices()).unwrap();
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
