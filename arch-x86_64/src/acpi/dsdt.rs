//! The DSDT (revision 2): the `\_S3` and `\_S5` sleep packages whose SLP_TYP values the PM1a
//! device turns into a suspend to RAM and a power-off, and under `\_SB` every placed device with an ACPI description (the device layer's
//! list): today COM1 (PNP0501, ports 0x3F8-0x3FF, IRQ 4) and the CMOS RTC (PNP0B00, ports
//! 0x70-0x71, IRQ 8). Linux's PNP layer binds its 8250 and rtc-cmos drivers to them.
//!
//! The AML is `acpi_tables::aml`'s, with tetra's [`IrqNoFlags`] for ISA interrupts ([`super::aml`]
//! says why); the header is [`super::sdt::table`].

use super::aml::IrqNoFlags;
use super::sdt::table;
use super::AcpiError;
use crate::devices::pm::{SLP_TYP_S3, SLP_TYP_S5};
use acpi_tables::aml::{Device, EISAName, Interrupt, Memory32Fixed, Name, Package, Path};
use acpi_tables::aml::{ResourceTemplate, Scope, IO};
use acpi_tables::Aml;
use vmm_core::devices::{PlacedDevice, Space, Trigger};

/// Whether `id` is an EISA id: three upper-case letters and four hexadecimal digits
/// (`PNP0501`), as `EISAName` needs.
fn is_eisa_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 7
        && b[..3].iter().all(u8::is_ascii_uppercase)
        && b[3..].iter().all(u8::is_ascii_hexdigit)
}

/// Whether `id` is an ACPI id: four upper-case letters or digits and four hexadecimal digits
/// (`LNRO0005`), written as a string.
fn is_acpi_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 8
        && b[..4]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && b[4..].iter().all(u8::is_ascii_hexdigit)
}

/// A placed device's `Device` object: its EISA id (or ACPI id), `_UID`, and `_CRS` with its
/// window (an I/O range or a 32-bit memory range) and its interrupt (an ISA IRQ for edge lines below 16, an
/// extended interrupt descriptor otherwise).
fn acpi_device(d: &PlacedDevice) -> Result<Option<Vec<u8>>, AcpiError> {
    let Some(acpi) = d.desc.firmware.acpi else {
        return Ok(None);
    };
    let bad = |why: &str| AcpiError::Device {
        device: d.desc.name.clone(),
        why: why.to_string(),
    };
    // A NameSeg (ACPI 6.5, 20.2.2): a leading A-Z or _, then A-Z, 0-9 or _.
    let lead = |c: u8| c.is_ascii_uppercase() || c == b'_';
    if !lead(acpi.name[0])
        || !acpi.name[1..]
            .iter()
            .all(|&c| lead(c) || c.is_ascii_digit())
    {
        return Err(bad(
            "name is not an ACPI NameSeg (four ASCII characters: [A-Z_][A-Z0-9_]{3})",
        ));
    }
    let seg = std::str::from_utf8(&acpi.name).map_err(|_| bad("name is not ASCII"))?;
    if !is_eisa_id(acpi.hid) && !is_acpi_id(acpi.hid) {
        return Err(bad("_HID is neither an EISA id nor an ACPI id"));
    }
    let mut crs: Vec<Box<dyn Aml>> = Vec::new();
    if let Some(w) = d.window {
        crs.push(match w.space {
            Space::Pio => {
                let base = u16::try_from(w.base).map_err(|_| bad("port beyond 0xffff"))?;
                let len = u8::try_from(w.len).map_err(|_| bad("port range over 255 bytes"))?;
                // IO (Decode16, base, base, 1, len): a fixed range.
                Box::new(IO::new(base, base, 1, len))
            }
            Space::Mmio => {
                let base = u32::try_from(w.base).map_err(|_| bad("MMIO beyond 4 GiB"))?;
                let len = u32::try_from(w.len).map_err(|_| bad("MMIO range over 4 GiB"))?;
                Box::new(Memory32Fixed::new(true, base, len))
            }
        });
    }
    if let Some(i) = d.irq {
        let edge = i.trigger == Trigger::Edge;
        crs.push(match IrqNoFlags::new(i.number) {
            Some(isa) if edge => Box::new(isa),
            // Interrupt (ResourceConsumer, Edge|Level, ActiveHigh, Exclusive) { number }
            _ => Box::new(Interrupt::new(true, edge, false, false, i.number)),
        });
    }
    let crs = ResourceTemplate::new(crs.iter().map(|c| c.as_ref()).collect());
    let eisa;
    let hid: &dyn Aml = if is_eisa_id(acpi.hid) {
        eisa = EISAName::new(acpi.hid);
        &eisa
    } else {
        &acpi.hid
    };
    let hid = Name::new(Path::new("_HID"), hid);
    let uid = Name::new(Path::new("_UID"), &acpi.uid);
    let crs = Name::new(Path::new("_CRS"), &crs);
    let mut aml = Vec::new();
    Device::new(Path::new(seg), vec![&hid, &uid, &crs]).to_aml_bytes(&mut aml);
    Ok(Some(aml))
}

/// The DSDT, as bytes: `\_S3`, `\_S5` and every device in `devices` that has an ACPI description.
pub fn build(devices: &[PlacedDevice]) -> Result<Vec<u8>, AcpiError> {
    // \_S3 and \_S5: SLP_TYP for PM1a and PM1b, then two reserved values.
    let s3 = u64::from(SLP_TYP_S3);
    let s3 = Name::new(Path::new("_S3_"), &Package::new(vec![&s3, &s3, &0u8, &0u8]));
    let s5 = u64::from(SLP_TYP_S5);
    let s5 = Name::new(Path::new("_S5_"), &Package::new(vec![&s5, &s5, &0u8, &0u8]));
    let mut sb = Vec::new();
    for d in devices {
        if let Some(aml) = acpi_device(d)? {
            sb.extend_from_slice(&aml);
        }
    }
    if let Some(ecam) = super::pci::ecam(devices) {
        sb.extend_from_slice(&super::pci::aml(ecam));
    }
    let mut aml = Vec::new();
    s3.to_aml_bytes(&mut aml);
    s5.to_aml_bytes(&mut aml);
    aml.extend_from_slice(&Scope::raw(Path::new("\\_SB_"), sb));
    Ok(table(*b"DSDT", 2, &aml))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{devices, placed, table};
    use super::super::AcpiError;
    use vmm_core::devices::{Space, Trigger};

    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }

    #[test]
    fn s3_and_s5_packages_and_legacy_devices_are_encoded() {
        let img = super::super::build(1, &devices()).unwrap();
        let d = table(&img, img.dsdt, b"DSDT");
        assert_eq!(d[8], 2, "revision 2: 64-bit integers");
        let aml = &d[36..];
        // NameOp "_S3_" PackageOp PkgLength(1 byte) NumElements=4 OneOp OneOp ZeroOp ZeroOp
        // (SLP_TYP 1, distinct from S5's).
        assert_eq!(
            &aml[..12],
            &[0x08, b'_', b'S', b'3', b'_', 0x12, 0x06, 4, 0x01, 0x01, 0x00, 0x00][..]
        );
        let aml = &aml[12..];
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

    /// The whole `Device` object of a device with an MMIO window and a level interrupt, and of one
    /// with an edge interrupt above the ISA range: Memory32Fixed and extended Interrupt
    /// descriptors (ACPI 6.5, 6.4.3.4 and 6.4.3.6), as iasl encodes them.
    #[test]
    fn mmio_windows_and_gsis_use_memory32fixed_and_extended_interrupts() {
        let level = placed(
            *b"VIRT",
            "PNP0103",
            7,
            Some((Space::Mmio, 0xd000_0000, 0x200)),
            Some((5, Trigger::Level)),
        );
        let aml = super::acpi_device(&level).unwrap().unwrap();
        #[rustfmt::skip]
        let want = [
            0x5b, 0x82, 0x36, b'V', b'I', b'R', b'T',
            // Name (_HID, EisaId ("PNP0103"))
            0x08, b'_', b'H', b'I', b'D', 0x0c, 0x41, 0xd0, 0x01, 0x03,
            // Name (_UID, 7)
            0x08, b'_', b'U', b'I', b'D', 0x0a, 7,
            // Name (_CRS, ResourceTemplate () {
            0x08, b'_', b'C', b'R', b'S', 0x11, 0x1a, 0x0a, 0x17,
            //   Memory32Fixed (ReadWrite, 0xD0000000, 0x200)
            0x86, 0x09, 0x00, 0x01, 0, 0, 0, 0xd0, 0, 2, 0, 0,
            //   Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) { 5 }
            0x89, 0x06, 0x00, 0x01, 0x01, 5, 0, 0, 0,
            // })
            0x79, 0x00,
        ];
        assert_eq!(aml, want);
        let edge = placed(
            *b"GSIE",
            "PNP0C02",
            0x1_0000,
            None,
            Some((20, Trigger::Edge)),
        );
        let aml = super::acpi_device(&edge).unwrap().unwrap();
        // _UID as DWordConst; Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { 20 }.
        assert!(find(&aml, &[b'_', b'U', b'I', b'D', 0x0c, 0, 0, 1, 0]).is_some());
        assert!(find(&aml, &[0x89, 0x06, 0x00, 0x03, 0x01, 20, 0, 0, 0, 0x79, 0]).is_some());
        // A device without an ACPI description is left out.
        assert_eq!(super::acpi_device(&devices()[1]).unwrap(), None);
    }

    /// A virtio-mmio device as the platform places it: `LNRO0005` as a string (the id Linux's
    /// virtio-mmio ACPI driver matches), its window in the MMIO gap, an edge GSI from 16 up
    /// (the ISA range is kept for legacy devices).
    #[test]
    fn virtio_mmio_devices_are_lnro0005_on_a_gsi_above_the_isa_range() {
        let all = crate::devices::planned([vmm_core::devices::virtio::mmio_desc("virtio-rng", 0)])
            .unwrap();
        let v = all.last().unwrap();
        let irq = v.irq.unwrap();
        assert!(irq.number >= 16 && irq.number < 24, "{irq:?}");
        let w = v.window.unwrap();
        assert_eq!(w.base, crate::layout::MMIO_ALLOC_START);
        let aml = super::acpi_device(v).unwrap().unwrap();
        // Name (_HID, "LNRO0005")
        assert!(find(&aml, b"_HID\x0dLNRO0005\0").is_some(), "{aml:x?}");
        assert!(find(&aml, b"VR0_").is_some());
        // Memory32Fixed (ReadWrite, base, 0x200), Interrupt (Consumer, Edge, High) { gsi }.
        let mut m = vec![0x86, 0x09, 0x00, 0x01];
        m.extend_from_slice(&(w.base as u32).to_le_bytes());
        m.extend_from_slice(&0x200u32.to_le_bytes());
        assert!(find(&aml, &m).is_some());
        assert!(find(
            &aml,
            &[0x89, 0x06, 0x00, 0x03, 0x01, irq.number as u8, 0, 0, 0]
        )
        .is_some());
        let img = super::super::build(1, &all).unwrap();
        table(&img, img.dsdt, b"DSDT");
    }

    #[test]
    fn devices_the_dsdt_cannot_describe_are_errors() {
        let cases = [
            (
                placed(
                    *b"PIOB",
                    "PNP0C02",
                    0,
                    Some((Space::Pio, 0x1_0000, 1)),
                    None,
                ),
                "port",
            ),
            (
                placed(*b"PIOL", "PNP0C02", 0, Some((Space::Pio, 0x100, 256)), None),
                "255",
            ),
            (
                placed(
                    *b"MMB_",
                    "PNP0C02",
                    0,
                    Some((Space::Mmio, 1 << 32, 1)),
                    None,
                ),
                "beyond",
            ),
            (
                placed(
                    *b"MML_",
                    "PNP0C02",
                    0,
                    Some((Space::Mmio, 0, 1 << 32)),
                    None,
                ),
                "over",
            ),
            (placed(*b"ACPI", "ACPI000G", 0, None, None), "EISA"),
            (placed(*b"LONG", "ACPI00010", 0, None, None), "EISA"),
            (placed(*b"LOWR", "pnp0501", 0, None, None), "EISA"),
            (placed(*b"HEXD", "PNP050G", 0, None, None), "EISA"),
            (placed(*b"\xff\xfe__", "PNP0501", 0, None, None), "ASCII"),
            (placed(*b"\xc3\xa9__", "PNP0501", 0, None, None), "ASCII"),
            (placed(*b"A.B_", "PNP0501", 0, None, None), "NameSeg"),
            (placed(*b"\\_SB", "PNP0501", 0, None, None), "NameSeg"),
            (placed(*b"1COM", "PNP0501", 0, None, None), "NameSeg"),
        ];
        for (d, why) in cases {
            let e = super::build(std::slice::from_ref(&d)).unwrap_err();
            assert!(matches!(e, AcpiError::Device { .. }), "{e}");
            assert!(e.to_string().contains(why), "{e}");
        }
    }
}
