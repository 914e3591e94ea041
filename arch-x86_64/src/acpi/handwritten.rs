//! The hand-written encoders tetra had before `acpi_tables` (as of f07babc), kept for one
//! commit as the reference the crate's output is compared with, field by field
//! ([`tests::crate_output_matches_the_hand_written_tables`]).

#![allow(dead_code)]

use super::{AcpiError, OEM_ID, OEM_REVISION, OEM_TABLE_ID};
use crate::layout::{ACPI_START, RSDP_ADDR};
use vmm_core::devices::PlacedDevice;

mod sdt {
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
}

mod aml {
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
}

mod fadt {
    use super::sdt::{gas, Sdt, ACCESS_BYTE, ACCESS_UNDEFINED, SPACE_SYSTEM_IO};
    use crate::devices::cmos::REG_CENTURY;
    use crate::layout::{ACPI_SCI_IRQ, I8042_PORT, PM1A_CNT_PORT, PM1A_EVT_PORT};

    /// Length of a revision 6 FADT.
    pub const FADT_LEN: usize = 276;
    /// Length of the PM1a event block (status + enable, 16 bits each).
    pub const PM1_EVT_LEN: u8 = 4;
    /// Length of the PM1a control block.
    pub const PM1_CNT_LEN: u8 = 2;
    /// The value written to the reset register: i8042 command "pulse reset line".
    pub const RESET_VALUE: u8 = 0xfe;
    /// The reset register's port: the i8042 command/status port.
    pub const RESET_PORT: u64 = I8042_PORT + 4;
    /// IA-PC boot architecture flags: legacy ISA devices present (COM1, RTC).
    pub const BOOT_ARCH_LEGACY_DEVICES: u16 = 1 << 0;
    /// IA-PC boot architecture flags: no VGA (the console is the serial port).
    pub const BOOT_ARCH_NO_VGA: u16 = 1 << 2;
    /// Fixed feature flags: WBINVD works.
    pub const FLAG_WBINVD: u32 = 1 << 0;
    /// Fixed feature flags: C1 (HLT) on every processor.
    pub const FLAG_PROC_C1: u32 = 1 << 2;
    /// Fixed feature flags: no fixed-feature power button.
    pub const FLAG_PWR_BUTTON: u32 = 1 << 4;
    /// Fixed feature flags: no fixed-feature sleep button.
    pub const FLAG_SLP_BUTTON: u32 = 1 << 5;
    /// Fixed feature flags: the reset register is supported.
    pub const FLAG_RESET_REG_SUP: u32 = 1 << 10;

    // Field offsets (ACPI 6.5, table 5.9).
    const SCI_INT: usize = 46;
    const PM1A_EVT_BLK: usize = 56;
    const PM1A_CNT_BLK: usize = 64;
    const PM1_EVT_LEN_OFF: usize = 88;
    const PM1_CNT_LEN_OFF: usize = 89;
    const CENTURY: usize = 108;
    const IAPC_BOOT_ARCH: usize = 109;
    const FLAGS: usize = 112;
    const RESET_REG: usize = 116;
    const RESET_VALUE_OFF: usize = 128;
    const MINOR_VERSION: usize = 131;
    const X_FIRMWARE_CTRL: usize = 132;
    const X_DSDT: usize = 140;
    const X_PM1A_EVT_BLK: usize = 148;
    const X_PM1A_CNT_BLK: usize = 172;

    /// The FADT pointing at the DSDT and FACS at these guest addresses (through the 64-bit fields;
    /// the 32-bit ones stay zero, as the specification asks when the X_ fields are used).
    pub fn build(dsdt: u64, facs: u64) -> Vec<u8> {
        let mut t = Sdt::new(*b"FACP", 6);
        t.put(FADT_LEN - 1, &[0]);
        t.put(SCI_INT, &(ACPI_SCI_IRQ as u16).to_le_bytes());
        // SMI_CMD, ACPI_ENABLE, ACPI_DISABLE stay 0: the platform is always in ACPI mode.
        t.put(PM1A_EVT_BLK, &(PM1A_EVT_PORT as u32).to_le_bytes());
        t.put(PM1A_CNT_BLK, &(PM1A_CNT_PORT as u32).to_le_bytes());
        t.put(PM1_EVT_LEN_OFF, &[PM1_EVT_LEN]);
        t.put(PM1_CNT_LEN_OFF, &[PM1_CNT_LEN]);
        t.put(CENTURY, &[REG_CENTURY]);
        t.put(
            IAPC_BOOT_ARCH,
            &(BOOT_ARCH_LEGACY_DEVICES | BOOT_ARCH_NO_VGA).to_le_bytes(),
        );
        let flags =
            FLAG_WBINVD | FLAG_PROC_C1 | FLAG_PWR_BUTTON | FLAG_SLP_BUTTON | FLAG_RESET_REG_SUP;
        t.put(FLAGS, &flags.to_le_bytes());
        t.put(RESET_REG, &gas(SPACE_SYSTEM_IO, 8, ACCESS_BYTE, RESET_PORT));
        t.put(RESET_VALUE_OFF, &[RESET_VALUE]);
        t.put(MINOR_VERSION, &[5]);
        t.put(X_FIRMWARE_CTRL, &facs.to_le_bytes());
        t.put(X_DSDT, &dsdt.to_le_bytes());
        t.put(
            X_PM1A_EVT_BLK,
            &gas(
                SPACE_SYSTEM_IO,
                PM1_EVT_LEN * 8,
                ACCESS_UNDEFINED,
                PM1A_EVT_PORT,
            ),
        );
        t.put(
            X_PM1A_CNT_BLK,
            &gas(
                SPACE_SYSTEM_IO,
                PM1_CNT_LEN * 8,
                ACCESS_UNDEFINED,
                PM1A_CNT_PORT,
            ),
        );
        t.finish()
    }
}

mod madt {
    use super::sdt::Sdt;
    use crate::layout::{ACPI_SCI_IRQ, IOAPIC_ADDR, LAPIC_ADDR};

    /// MADT flags: PC-AT compatible dual 8259 PICs present.
    pub const PCAT_COMPAT: u32 = 1;
    /// The IOAPIC's id.
    pub const IOAPIC_ID: u8 = 0;
    /// The IOAPIC's pins (KVM's in-kernel IOAPIC has 24).
    pub const IOAPIC_PINS: u32 = 24;
    /// MPS INTI flags: active high, level triggered.
    pub const INTI_LEVEL_HIGH: u16 = 0b1101;
    /// The ISA IRQ of the PIT, and the GSI it is wired to.
    pub const PIT_IRQ: u8 = 0;
    /// The GSI the PIT's IRQ 0 arrives at.
    pub const PIT_GSI: u32 = 2;

    /// The largest APIC id a (non-x2APIC) Processor Local APIC structure carries.
    const MAX_XAPIC_ID: u32 = 254;

    /// ISA interrupt source overrides: (ISA IRQ, GSI, MPS INTI flags).
    pub const OVERRIDES: [(u8, u32, u16); 2] = [
        (PIT_IRQ, PIT_GSI, 0),
        (ACPI_SCI_IRQ as u8, ACPI_SCI_IRQ, INTI_LEVEL_HIGH),
    ];

    /// The MADT for `cpus` vCPUs, as bytes.
    pub fn build(cpus: u32) -> Vec<u8> {
        let mut t = Sdt::new(*b"APIC", 5);
        t.append(&(LAPIC_ADDR as u32).to_le_bytes());
        t.append(&PCAT_COMPAT.to_le_bytes());
        let mut all = Vec::new();
        for id in 0..cpus {
            if id <= MAX_XAPIC_ID {
                // Processor Local APIC: type 0, length 8, UID, APIC id, flags (enabled).
                let mut s = vec![0, 8, id as u8, id as u8];
                s.extend_from_slice(&1u32.to_le_bytes());
                all.extend_from_slice(&s);
            } else {
                // Processor Local x2APIC: type 9, length 16, reserved, x2APIC id, flags, UID.
                let mut s = vec![9, 16, 0, 0];
                s.extend_from_slice(&id.to_le_bytes());
                s.extend_from_slice(&1u32.to_le_bytes());
                s.extend_from_slice(&id.to_le_bytes());
                all.extend_from_slice(&s);
            }
        }
        // I/O APIC: type 1, length 12, id, reserved, address, GSI base.
        let mut s = vec![1, 12, IOAPIC_ID, 0];
        s.extend_from_slice(&(IOAPIC_ADDR as u32).to_le_bytes());
        s.extend_from_slice(&0u32.to_le_bytes());
        all.extend_from_slice(&s);
        for (irq, gsi, flags) in OVERRIDES {
            // Interrupt Source Override: type 2, length 10, bus 0 (ISA), source, GSI, flags.
            let mut s = vec![2, 10, 0, irq];
            s.extend_from_slice(&gsi.to_le_bytes());
            s.extend_from_slice(&flags.to_le_bytes());
            all.extend_from_slice(&s);
        }
        // Local APIC NMI: type 4, length 6, every processor (UID 0xFF), flags, LINT1.
        all.extend_from_slice(&[4, 6, 0xff, 0, 0, 1]);
        if cpus > MAX_XAPIC_ID + 1 {
            // Local x2APIC NMI: type 0xA, length 12, flags, every processor, LINT1, reserved.
            let mut s = vec![0xa, 12, 0, 0];
            s.extend_from_slice(&u32::MAX.to_le_bytes());
            s.extend_from_slice(&[1, 0, 0, 0]);
            all.extend_from_slice(&s);
        }
        t.append(&all);
        t.finish()
    }
}

mod dsdt {
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
}

/// Appends `data` to `image` at the next multiple of `align`; returns its guest address.
fn place(image: &mut Vec<u8>, data: &[u8], align: usize) -> u64 {
    let off = image.len().next_multiple_of(align);
    image.resize(off, 0);
    image.extend_from_slice(data);
    ACPI_START + off as u64
}

/// The image the hand-written `acpi::build` made, and the guest addresses of XSDT, FADT, FACS,
/// MADT, DSDT.
fn build(cpus: u32, devices: &[PlacedDevice]) -> Result<(Vec<u8>, [u64; 5]), AcpiError> {
    let mut image = vec![0u8; sdt::RSDP_LEN];
    let xsdt_off = image.len().next_multiple_of(16);
    let xsdt_len = sdt::HEADER_LEN + 2 * 8;
    image.resize(xsdt_off + xsdt_len, 0);
    let xsdt = ACPI_START + xsdt_off as u64;
    let facs = place(&mut image, &sdt::facs(), 64);
    let dsdt = place(&mut image, &dsdt::build(devices)?, 16);
    let madt = place(&mut image, &madt::build(cpus), 16);
    let fadt = place(&mut image, &fadt::build(dsdt, facs), 16);
    let x = sdt::xsdt(&[fadt, madt]);
    image[xsdt_off..xsdt_off + x.len()].copy_from_slice(&x);
    image[..sdt::RSDP_LEN].copy_from_slice(&sdt::rsdp(xsdt));
    assert_eq!(RSDP_ADDR, ACPI_START);
    Ok((image, [xsdt, fadt, facs, madt, dsdt]))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{devices, le, placed};
    use super::super::{build as new_build, checksum};
    use super::*;
    use vmm_core::devices::{Space, Trigger};

    /// Device lists that exercise every descriptor and every PkgLength size class.
    fn device_lists() -> Vec<Vec<PlacedDevice>> {
        let legacy = devices();
        let mut mixed = legacy.clone();
        mixed.extend([
            placed(*b"NONE", "PNP0A06", 0, None, None),
            placed(
                *b"VIRT",
                "PNP0103",
                7,
                Some((Space::Mmio, 0xd000_0000, 0x200)),
                Some((5, Trigger::Level)),
            ),
            placed(
                *b"GSIE",
                "PNP0C09",
                0x1_0000,
                Some((Space::Mmio, 0xfeb0_0000, 0x1000)),
                Some((20, Trigger::Edge)),
            ),
            placed(
                *b"GSIL",
                "PNP0C09",
                0x100,
                Some((Space::Pio, 0x510, 12)),
                Some((23, Trigger::Level)),
            ),
            placed(*b"NOIR", "PNP0C02", 2, Some((Space::Pio, 0x4d0, 2)), None),
            placed(*b"ONLY", "PNP0C02", 3, None, Some((15, Trigger::Edge))),
            placed(
                *b"BIGU",
                "PNP0C02",
                u32::MAX,
                Some((Space::Mmio, 0, u32::MAX.into())),
                Some((0, Trigger::Edge)),
            ),
        ]);
        let many: Vec<PlacedDevice> = (0..300u32)
            .map(|i| {
                let name = [
                    b'D',
                    b'0' + (i / 100) as u8,
                    b'0' + (i / 10 % 10) as u8,
                    b'0' + (i % 10) as u8,
                ];
                placed(
                    name,
                    "PNP0C02",
                    i,
                    Some((Space::Pio, 0x1000 + u64::from(i) * 8, 8)),
                    Some((
                        i % 24,
                        if i % 2 == 0 {
                            Trigger::Edge
                        } else {
                            Trigger::Level
                        },
                    )),
                )
            })
            .collect();
        vec![Vec::new(), legacy, mixed, many]
    }

    /// The header bytes the two encoders write differently: the checksum (9) and the creator
    /// id and revision (28..36).
    fn creator_and_checksum(off: usize) -> bool {
        off == 9 || (28..36).contains(&off)
    }

    #[test]
    fn crate_output_matches_the_hand_written_tables() {
        let mut compared = 0;
        for list in device_lists() {
            for cpus in [
                1, 2, 3, 4, 8, 16, 64, 128, 253, 254, 255, 256, 257, 300, 1000, 4000,
            ] {
                let (old, [xsdt, fadt, facs, madt, dsdt]) = build(cpus, &list).unwrap();
                let new = new_build(cpus, &list).unwrap();
                assert_eq!(
                    [new.xsdt, new.fadt, new.facs, new.madt, new.dsdt],
                    [xsdt, fadt, facs, madt, dsdt],
                    "the tables sit where they did ({cpus} vCPUs)"
                );
                assert_eq!(new.bytes.len(), old.len(), "{cpus} vCPUs");
                // The RSDP and FACS are byte for byte the same.
                assert_eq!(new.bytes[..36], old[..36], "RSDP");
                let f = (facs - ACPI_START) as usize;
                assert_eq!(new.bytes[f..f + 64], old[f..f + 64], "FACS");
                // Every table: the same bytes but for creator and checksum; both sum to zero.
                for (addr, sig) in [
                    (xsdt, "XSDT"),
                    (fadt, "FACP"),
                    (madt, "APIC"),
                    (dsdt, "DSDT"),
                ] {
                    let o = (addr - ACPI_START) as usize;
                    let len = le(&old, o + 4, 4) as usize;
                    assert_eq!(le(&new.bytes, o + 4, 4) as usize, len, "{sig} length");
                    let (a, b) = (&old[o..o + len], &new.bytes[o..o + len]);
                    assert_eq!((checksum(a), checksum(b)), (0, 0), "{sig}");
                    for i in 0..len {
                        if !creator_and_checksum(i) {
                            assert_eq!(a[i], b[i], "{sig} byte {i} ({cpus} vCPUs)");
                        }
                    }
                    assert_eq!(&a[28..36], b"TTRA\x01\0\0\0");
                    assert_eq!(&b[28..36], b"RVAT\0\0\0\x01");
                    compared += 1;
                }
                // Nothing else in the image: the padding between tables is zero in both.
                let mut covered = vec![false; old.len()];
                covered[..36].fill(true);
                covered[f..f + 64].fill(true);
                for addr in [xsdt, fadt, madt, dsdt] {
                    let o = (addr - ACPI_START) as usize;
                    covered[o..o + le(&old, o + 4, 4) as usize].fill(true);
                }
                for (i, c) in covered.iter().enumerate() {
                    if !c {
                        assert_eq!((old[i], new.bytes[i]), (0, 0), "padding at {i}");
                    }
                }
            }
        }
        assert_eq!(compared, 4 * 16 * 4);
    }

    #[test]
    fn both_refuse_the_same_devices() {
        let bad = [
            placed(
                *b"PIOB",
                "PNP0C02",
                0,
                Some((Space::Pio, 0x1_0000, 1)),
                None,
            ),
            placed(*b"PIOL", "PNP0C02", 0, Some((Space::Pio, 0x100, 256)), None),
            placed(
                *b"MMB_",
                "PNP0C02",
                0,
                Some((Space::Mmio, 1 << 32, 1)),
                None,
            ),
            placed(
                *b"MML_",
                "PNP0C02",
                0,
                Some((Space::Mmio, 0, 1 << 32)),
                None,
            ),
        ];
        for d in bad {
            let old = build(1, std::slice::from_ref(&d)).unwrap_err().to_string();
            let new = new_build(1, std::slice::from_ref(&d))
                .unwrap_err()
                .to_string();
            assert_eq!(old, new);
        }
    }
}
