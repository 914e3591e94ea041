//! ACPI tables for Linux guests: RSDP, XSDT, FADT (+ FACS), MADT and DSDT, placed in the legacy
//! BIOS area (`0xE0000..0x100000`), where a guest that is not handed the RSDP address (boot
//! protocol < 2.14, multiboot) finds it by scanning. The encoders are rust-vmm's `acpi_tables`
//! crate's (headers and checksums, RSDP, XSDT, FACS, FADT, the MADT's local APIC and I/O APIC
//! structures, AML) except for what it cannot express, hand-written in [`madt`] and [`aml`], which
//! say why; unit tests check every field against the offsets of the ACPI 6.5 specification.
//!
//! ```text
//! 0xe0000  RSDP (revision 2) -> XSDT -> FADT -> FACS, DSDT
//!                                    -> MADT
//! ```
//!
//! The tables describe what tetra emulates: the in-kernel LAPICs (one per vCPU) and IOAPIC, the
//! legacy IRQ routing ([`madt`]), the PM1a registers at 0x600 and the reset register at the i8042
//! ([`fadt`]), and the `\_S3` and `\_S5` sleep states, COM1 and the CMOS RTC ([`dsdt`]); with PCI,
//! the MCFG and the root bridge ([`pci`]). The FACS sits at the fixed [`FACS_ADDR`], where a wake
//! from S3 reads the guest's waking vector ([`wake`]).

pub mod aml;
pub mod dsdt;
pub mod fadt;
pub mod madt;
pub mod pci;
pub mod sdt;
pub mod wake;

use crate::layout::{ACPI_END, ACPI_START, RSDP_ADDR};
use acpi_tables::{facs::FACS, rsdp::Rsdp, xsdt::XSDT, Aml};
pub use sdt::checksum;
use vmm_core::devices::PlacedDevice;
use vmm_core::memory::{write_guest, GuestMemoryMmap, MemoryError};

/// The OEM id in every table header.
pub const OEM_ID: [u8; 6] = *b"TETRA ";
/// The OEM table id in every table header.
pub const OEM_TABLE_ID: [u8; 8] = *b"TETRAVMM";
/// The OEM revision in every table header.
pub const OEM_REVISION: u32 = 1;

/// Errors building or placing the tables.
#[derive(Debug, thiserror::Error)]
pub enum AcpiError {
    /// The tables do not fit the BIOS area (only with thousands of vCPUs).
    #[error("the ACPI tables for {cpus} vCPUs need {len} bytes; the BIOS area holds {max}")]
    TooLarge {
        /// vCPUs described.
        cpus: u32,
        /// Bytes needed.
        len: u64,
        /// Bytes available.
        max: u64,
    },
    /// Guest RAM does not cover the BIOS area.
    #[error("writing the ACPI tables")]
    Memory(#[source] MemoryError),
    /// A device the DSDT cannot describe.
    #[error("the DSDT cannot describe {device}: {why}")]
    Device {
        /// The device.
        device: String,
        /// Why not.
        why: String,
    },
}

/// The tables as one image of the BIOS area, and where each table landed.
#[derive(Clone, Debug)]
pub struct AcpiImage {
    /// The bytes to write at [`ACPI_START`].
    pub bytes: Vec<u8>,
    /// Guest address of the RSDP.
    pub rsdp: u64,
    /// Guest address of the XSDT.
    pub xsdt: u64,
    /// Guest address of the FADT.
    pub fadt: u64,
    /// Guest address of the FACS.
    pub facs: u64,
    /// Guest address of the MADT.
    pub madt: u64,
    /// Guest address of the DSDT.
    pub dsdt: u64,
}

/// Guest address of the FACS: the first 64-byte boundary after the RSDP and the XSDT (of two
/// or three entries), the same for every machine.
pub const FACS_ADDR: u64 = ACPI_START + 128;

/// The FACS version tetra writes, as it did before the crate (whose `FACS::new` writes 1).
const FACS_VERSION: u8 = 2;

/// `t`'s bytes.
fn encode(t: &dyn Aml) -> Vec<u8> {
    let mut v = Vec::new();
    t.to_aml_bytes(&mut v);
    v
}

/// Appends `data` to `image` at the next multiple of `align`; returns its guest address.
fn place(image: &mut Vec<u8>, data: &[u8], align: usize) -> u64 {
    let off = image.len().next_multiple_of(align);
    image.resize(off, 0);
    image.extend_from_slice(data);
    ACPI_START + off as u64
}

/// Builds the tables for `cpus` vCPUs and the placed `devices`.
pub fn build(cpus: u32, devices: &[PlacedDevice]) -> Result<AcpiImage, AcpiError> {
    // RSDP first, the XSDT (two entries: FADT, MADT) after it; both sizes are fixed. The
    // others follow, each placed before the tables that point at it are built.
    let ecam = pci::ecam(devices);
    let mut image = vec![0u8; Rsdp::len()];
    let xsdt_off = image.len().next_multiple_of(16);
    let xsdt_len = sdt::HEADER_LEN + if ecam.is_some() { 3 } else { 2 } * 8;
    image.resize(xsdt_off + xsdt_len, 0);
    let xsdt = ACPI_START + xsdt_off as u64;
    let mut facs = FACS::new();
    facs.version = FACS_VERSION;
    let facs = place(&mut image, &encode(&facs), 64);
    debug_assert_eq!(facs, FACS_ADDR);
    let dsdt = place(&mut image, &dsdt::build(devices)?, 16);
    let madt = place(&mut image, &madt::build(cpus), 16);
    let fadt = place(&mut image, &fadt::build(dsdt, facs), 16);
    let mcfg = ecam.map(|w| place(&mut image, &pci::mcfg(w.base), 16));
    let mut x = XSDT::new(OEM_ID, OEM_TABLE_ID, OEM_REVISION);
    x.add_entry(fadt);
    x.add_entry(madt);
    if let Some(m) = mcfg {
        x.add_entry(m);
    }
    let x = encode(&x);
    debug_assert_eq!(x.len(), xsdt_len);
    image[xsdt_off..xsdt_off + x.len()].copy_from_slice(&x);
    image[..Rsdp::len()].copy_from_slice(&encode(&Rsdp::new(OEM_ID, xsdt)));

    let max = ACPI_END - ACPI_START;
    if image.len() as u64 > max {
        return Err(AcpiError::TooLarge {
            cpus,
            len: image.len() as u64,
            max,
        });
    }
    Ok(AcpiImage {
        bytes: image,
        rsdp: RSDP_ADDR,
        xsdt,
        fadt,
        facs,
        madt,
        dsdt,
    })
}

/// Builds the tables for `cpus` vCPUs and writes them to guest memory; returns the RSDP address.
pub fn write(mem: &GuestMemoryMmap, cpus: u32, devices: &[PlacedDevice]) -> Result<u64, AcpiError> {
    let image = build(cpus, devices)?;
    write_guest(mem, "the ACPI tables", ACPI_START, &image.bytes).map_err(AcpiError::Memory)?;
    Ok(image.rsdp)
}

/// Where a legacy guest finds the RSDP: the first 16-byte aligned "RSD PTR " in
/// `0xE0000..0x100000` whose first 20 bytes sum to zero (ACPI 6.5, 5.2.5.1). Returns the guest
/// address.
pub fn scan_rsdp(bios_area: &[u8]) -> Option<u64> {
    (0..bios_area.len().saturating_sub(19))
        .step_by(16)
        .find(|&o| &bios_area[o..o + 8] == b"RSD PTR " && checksum(&bios_area[o..o + 20]) == 0)
        .map(|o| ACPI_START + o as u64)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use vm_memory::{Bytes, GuestAddress};
    use vmm_core::devices::{Acpi, Irq, IrqRequest, Place, Space, Trigger, Window, WindowRequest};

    /// x86's legacy devices, placed as the platform places them.
    pub(crate) fn devices() -> Vec<PlacedDevice> {
        crate::devices::planned([]).unwrap()
    }

    /// A device with an ACPI description, placed by hand.
    pub(crate) fn placed(
        name: [u8; 4],
        hid: &'static str,
        uid: u32,
        window: Option<(Space, u64, u64)>,
        irq: Option<(u32, Trigger)>,
    ) -> PlacedDevice {
        let mut desc =
            vmm_core::devices::DeviceDesc::new("synthetic", "synthetic", &["tetra,synthetic"]);
        if let Some((space, base, len)) = window {
            desc = desc.window(WindowRequest {
                space,
                place: Place::At(base),
                len,
            });
        }
        if let Some((n, trigger)) = irq {
            desc = desc.interrupt(IrqRequest {
                place: Place::At(u64::from(n)),
                trigger,
            });
        }
        desc.firmware.acpi = Some(Acpi { name, hid, uid });
        PlacedDevice {
            desc,
            window: window.map(|(space, base, len)| Window { space, base, len }),
            irq: irq.map(|(number, trigger)| Irq { number, trigger }),
        }
    }

    /// Reads a little-endian field of `n` bytes.
    pub(crate) fn le(b: &[u8], off: usize, n: usize) -> u64 {
        b[off..off + n]
            .iter()
            .rev()
            .fold(0u64, |a, &x| (a << 8) | u64::from(x))
    }

    /// The table at guest address `addr` inside `img`, checked: signature, length within the
    /// image, checksum zero.
    pub(crate) fn table<'a>(img: &'a AcpiImage, addr: u64, sig: &[u8; 4]) -> &'a [u8] {
        let off = (addr - ACPI_START) as usize;
        let b = &img.bytes[off..];
        assert_eq!(&b[..4], sig);
        let len = le(b, 4, 4) as usize;
        assert!(len >= 36 && len <= b.len(), "{sig:?} length {len}");
        let t = &b[..len];
        assert_eq!(checksum(t), 0, "{sig:?} checksum");
        assert_eq!(&t[10..16], &OEM_ID);
        t
    }

    #[test]
    fn rsdp_is_revision_2_checksummed_and_found_by_a_legacy_scan() {
        let img = build(1, &devices()).unwrap();
        let r = &img.bytes[..36];
        assert_eq!(&r[..8], b"RSD PTR ");
        assert_eq!(checksum(&r[..20]), 0, "ACPI 1.0 checksum over 20 bytes");
        assert_eq!(checksum(r), 0, "extended checksum over 36 bytes");
        assert_eq!(r[15], 2, "revision");
        assert_eq!(le(r, 16, 4), 0, "no RSDT");
        assert_eq!(le(r, 20, 4), 36, "length");
        assert_eq!(le(r, 24, 8), img.xsdt);
        assert_eq!(scan_rsdp(&img.bytes), Some(RSDP_ADDR));
        // A guest scanning RAM finds it too, after `write`.
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 2 << 20)]).unwrap();
        assert_eq!(write(&mem, 2, &devices()).unwrap(), RSDP_ADDR);
        let mut area = vec![0u8; (ACPI_END - ACPI_START) as usize];
        mem.read_slice(&mut area, GuestAddress(ACPI_START)).unwrap();
        assert_eq!(scan_rsdp(&area), Some(RSDP_ADDR));
        area[9] ^= 1; // break the checksum: no longer an RSDP
        assert_eq!(scan_rsdp(&area), None);
    }

    #[test]
    fn xsdt_lists_fadt_and_madt_and_every_table_checks() {
        for cpus in [1, 2, 8, 254, 255, 300] {
            let img = build(cpus, &devices()).unwrap();
            let x = table(&img, img.xsdt, b"XSDT");
            assert_eq!(x.len(), 36 + 16);
            assert_eq!(le(x, 36, 8), img.fadt);
            assert_eq!(le(x, 44, 8), img.madt);
            table(&img, img.fadt, b"FACP");
            table(&img, img.madt, b"APIC");
            table(&img, img.dsdt, b"DSDT");
            let facs = &img.bytes[(img.facs - ACPI_START) as usize..];
            assert_eq!(&facs[..4], b"FACS");
            assert_eq!(le(facs, 4, 4), 64, "FACS length");
            assert_eq!(facs[32], 2, "FACS version");
            assert!(
                facs[8..32].iter().all(|&b| b == 0),
                "no signature, vector, lock, flags"
            );
            assert_eq!(img.facs % 64, 0, "FACS is 64-byte aligned");
            assert_eq!(img.facs, FACS_ADDR, "where a wake reads the waking vector");
            // No two tables overlap.
            let mut spans: Vec<(u64, u64)> = [img.xsdt, img.fadt, img.madt, img.dsdt, img.facs]
                .iter()
                .map(|&a| {
                    let o = (a - ACPI_START) as usize;
                    (a, a + le(&img.bytes, o + 4, 4))
                })
                .collect();
            spans.push((img.rsdp, img.rsdp + 36));
            spans.sort();
            for w in spans.windows(2) {
                assert!(w[0].1 <= w[1].0, "{w:x?}");
            }
            assert!(spans.last().unwrap().1 <= ACPI_END);
        }
    }

    #[test]
    fn too_many_cpus_is_an_error_not_a_panic() {
        let e = build(20_000, &devices()).unwrap_err();
        assert!(matches!(e, AcpiError::TooLarge { cpus: 20_000, .. }), "{e}");
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x80000)]).unwrap();
        assert!(matches!(
            write(&mem, 1, &devices()),
            Err(AcpiError::Memory(_))
        ));
    }
}
