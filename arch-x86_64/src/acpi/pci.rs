//! The PCI host bridge in ACPI: the MCFG (PCI Firmware 3.2, 4.1.2) with the ECAM of bus 0, and
//! under `\_SB` the root bridge `PCI0` (`PNP0A08`, compatible `PNP0A03`; `_SEG` 0, `_BBN` 0)
//! whose `_CRS` gives the bus range 0-0, the configuration ports 0xCF8-0xCFF and the PCI MMIO
//! window, and a motherboard resource `PCIR` (`PNP0C02`) that reserves the ECAM, where Linux
//! looks before it trusts the MCFG.
//!
//! The host bridge is the device list's entry whose `compatible` is [`PCI_HOST_COMPATIBLE`]; its
//! window is the ECAM. The AML is `acpi_tables::aml`'s, as iasl encodes it.

use super::sdt::table;
use crate::layout::{PCI_HOST_COMPATIBLE, PCI_MMIO_LEN, PCI_MMIO_START};
use acpi_tables::aml::{
    AddressSpace, AddressSpaceCacheable, Device, EISAName, Memory32Fixed, Name, Path,
    ResourceTemplate, IO,
};
use acpi_tables::Aml;
use vmm_core::devices::pci::root::{CONFIG_IO_LEN, CONFIG_IO_PORT};
use vmm_core::devices::{PlacedDevice, Window};

/// The ECAM window of the PCI host bridge in `devices`, if there is one.
pub fn ecam(devices: &[PlacedDevice]) -> Option<Window> {
    devices
        .iter()
        .find(|d| d.desc.firmware.compatible.contains(&PCI_HOST_COMPATIBLE))
        .and_then(|d| d.window)
}

/// The MCFG: one allocation, segment 0, buses 0 to 0, at `ecam`.
pub fn mcfg(ecam: u64) -> Vec<u8> {
    let mut body = vec![0u8; 8];
    body.extend_from_slice(&ecam.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(&[0; 4]);
    table(*b"MCFG", 1, &body)
}

/// `Device (PCI0)` and `Device (PCIR)`, for the `\_SB` scope.
pub fn aml(ecam: Window) -> Vec<u8> {
    let hid = Name::new(Path::new("_HID"), &EISAName::new("PNP0A08"));
    let cid = Name::new(Path::new("_CID"), &EISAName::new("PNP0A03"));
    let seg = Name::new(Path::new("_SEG"), &0u8);
    let bbn = Name::new(Path::new("_BBN"), &0u8);
    let uid = Name::new(Path::new("_UID"), &0u8);
    // WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, 0, 0, 0, 1)
    let buses = AddressSpace::<u16>::new_bus_number(0, 0);
    // IO (Decode16, 0xCF8, 0xCF8, 1, 8)
    let ports = IO::new(
        CONFIG_IO_PORT as u16,
        CONFIG_IO_PORT as u16,
        1,
        CONFIG_IO_LEN as u8,
    );
    // DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,
    //              0, start, end, 0, length)
    let window = AddressSpace::<u32>::new_memory(
        AddressSpaceCacheable::NotCacheable,
        true,
        PCI_MMIO_START as u32,
        (PCI_MMIO_START + PCI_MMIO_LEN - 1) as u32,
        None,
    );
    let crs = ResourceTemplate::new(vec![&buses, &ports, &window]);
    let crs = Name::new(Path::new("_CRS"), &crs);
    let mut out = Vec::new();
    Device::new(Path::new("PCI0"), vec![&hid, &cid, &seg, &bbn, &uid, &crs]).to_aml_bytes(&mut out);

    let hid = Name::new(Path::new("_HID"), &EISAName::new("PNP0C02"));
    let uid = Name::new(Path::new("_UID"), &1u8);
    let mem = Memory32Fixed::new(false, ecam.base as u32, ecam.len as u32);
    let crs = ResourceTemplate::new(vec![&mem]);
    let crs = Name::new(Path::new("_CRS"), &crs);
    Device::new(Path::new("PCIR"), vec![&hid, &uid, &crs]).to_aml_bytes(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::PCI_ECAM_START;
    use vmm_core::devices::Space;

    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }

    #[test]
    fn a_pci_host_in_the_list_adds_the_mcfg_and_the_root_bridge() {
        use super::super::tests::table;
        let plain = super::super::build(1, &crate::devices::planned([]).unwrap()).unwrap();
        let x = table(&plain, plain.xsdt, b"XSDT");
        assert_eq!(x.len(), 36 + 2 * 8, "no MCFG without PCI");
        let all = crate::devices::planned([crate::devices::pci_host()]).unwrap();
        assert_eq!(ecam(&all).unwrap().base, PCI_ECAM_START);
        let img = super::super::build(1, &all).unwrap();
        let x = table(&img, img.xsdt, b"XSDT");
        assert_eq!(x.len(), 36 + 3 * 8);
        let mcfg = u64::from_le_bytes(x[52..60].try_into().unwrap());
        let m = table(&img, mcfg, b"MCFG");
        assert_eq!(
            u64::from_le_bytes(m[44..52].try_into().unwrap()),
            PCI_ECAM_START
        );
        let d = table(&img, img.dsdt, b"DSDT");
        assert!(find(d, b"PCI0").is_some() && find(d, b"PCIR").is_some());
        assert!(find(table(&plain, plain.dsdt, b"DSDT"), b"PCI0").is_none());
    }

    #[test]
    fn mcfg_has_one_allocation_for_bus_zero() {
        let t = mcfg(PCI_ECAM_START);
        assert_eq!(&t[..4], b"MCFG");
        assert_eq!(t.len(), 36 + 8 + 16);
        assert_eq!(super::super::checksum(&t), 0);
        assert_eq!(
            u64::from_le_bytes(t[44..52].try_into().unwrap()),
            PCI_ECAM_START
        );
        assert_eq!(&t[52..56], &[0, 0, 0, 0], "segment 0, buses 0 to 0");
    }

    #[test]
    fn the_root_bridge_names_its_ranges() {
        let a = aml(Window {
            space: Space::Mmio,
            base: PCI_ECAM_START,
            len: 1 << 20,
        });
        let pci0 = find(&a, b"PCI0").unwrap();
        // EISAID("PNP0A08") = 0x080AD041, EISAID("PNP0A03") = 0x030AD041.
        assert!(find(&a[pci0..], &[0x0c, 0x41, 0xd0, 0x0a, 0x08]).is_some());
        assert!(find(&a[pci0..], &[0x0c, 0x41, 0xd0, 0x0a, 0x03]).is_some());
        assert!(find(&a, b"_SEG").is_some() && find(&a, b"_BBN").is_some());
        // WordBusNumber 0-0, length 1.
        #[rustfmt::skip]
        let bus = [0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0];
        assert!(find(&a, &bus).is_some());
        // IO (Decode16, 0xCF8, 0xCF8, 1, 8).
        assert!(find(&a, &[0x47, 1, 0xf8, 0x0c, 0xf8, 0x0c, 1, 8]).is_some());
        // DWordMemory 0xC0000000-0xCFFFFFFF, length 0x10000000.
        #[rustfmt::skip]
        let mem = [0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0,
                   0, 0, 0, 0xc0, 0xff, 0xff, 0xff, 0xcf, 0, 0, 0, 0, 0, 0, 0, 0x10];
        assert!(find(&a, &mem).is_some());
        // PCIR reserves the ECAM: Memory32Fixed (ReadOnly, 0xE0000000, 0x100000).
        let pcir = find(&a, b"PCIR").unwrap();
        assert!(find(
            &a[pcir..],
            &[0x86, 0x09, 0x00, 0x00, 0, 0, 0, 0xe0, 0, 0, 0x10, 0]
        )
        .is_some());
    }
}
