//! The MADT (signature "APIC", revision 5): one enabled local APIC per vCPU (APIC id = vCPU id,
//! processor UID = vCPU id), the in-kernel IOAPIC (id 0, GSIs 0-23), and the ISA interrupt
//! overrides of a PC: IRQ 0 (the PIT) arrives at GSI 2, and IRQ 9 (the ACPI SCI) is level
//! triggered, active high. LINT1 of every local APIC is the NMI input.
//!
//! The PC-AT flag tells the guest that dual 8259 PICs are present too (KVM's in-kernel PIC).
//! vCPUs with an APIC id of 255 or more get Local x2APIC structures instead, as ACPI requires.
//! The GSI routing that makes the overrides true is [`gsi_routes`]; the glue installs it.
//!
//! From `acpi_tables` 0.2.1: the header and checksum ([`super::sdt::table`]) and the Processor
//! Local APIC and I/O APIC structures (`madt::ProcessorLocalApic`, `madt::IoApic`). Not from its
//! `madt::MADT`, which cannot describe this platform: its header has revision 1 and flags 0 with
//! no setter (tetra needs revision 5 and PCAT_COMPAT, which tells Linux the 8259s exist), and the
//! crate has no Interrupt Source Override (type 2), Local APIC NMI (type 4), Processor Local
//! x2APIC (type 9) or Local x2APIC NMI (type 0xA) structure. Those four stay hand-written here.

use super::sdt::table;
use crate::layout::{ACPI_SCI_IRQ, IOAPIC_ADDR, LAPIC_ADDR};
use acpi_tables::madt::{EnabledStatus, IoApic, ProcessorLocalApic};
use acpi_tables::Aml;

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

/// Where a GSI goes in KVM's in-kernel irqchip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqPin {
    /// The master 8259 (chip 0) or the slave (chip 1), and the pin.
    Pic(u32, u32),
    /// An IOAPIC pin.
    Ioapic(u32),
}

/// The GSI routing that matches the MADT, as QEMU installs it: ISA IRQs 0-15 reach the 8259s on
/// their own pins (IRQ 2 is the cascade, not routed) and the IOAPIC on the pin the overrides name
/// (IRQ 0 on pin 2); GSIs 16-23 reach only the IOAPIC. KVM's default routing would send the PIT
/// to IOAPIC pin 0, contradicting the override.
pub fn gsi_routes() -> Vec<(u32, IrqPin)> {
    let mut r = Vec::new();
    for irq in 0..16u32 {
        if irq == 2 {
            continue;
        }
        r.push((irq, IrqPin::Pic(irq / 8, irq % 8)));
        let pin = OVERRIDES
            .iter()
            .find(|o| u32::from(o.0) == irq)
            .map_or(irq, |o| o.1);
        r.push((irq, IrqPin::Ioapic(pin)));
    }
    for gsi in 16..IOAPIC_PINS {
        r.push((gsi, IrqPin::Ioapic(gsi)));
    }
    r
}

/// The MADT for `cpus` vCPUs, as bytes.
pub fn build(cpus: u32) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(LAPIC_ADDR as u32).to_le_bytes());
    body.extend_from_slice(&PCAT_COMPAT.to_le_bytes());
    for id in 0..cpus {
        if id <= MAX_XAPIC_ID {
            let id = id as u8;
            ProcessorLocalApic::new(id, id, EnabledStatus::Enabled).to_aml_bytes(&mut body);
        } else {
            // Processor Local x2APIC: type 9, length 16, reserved, x2APIC id, flags (enabled),
            // UID.
            body.extend_from_slice(&[9, 16, 0, 0]);
            body.extend_from_slice(&id.to_le_bytes());
            body.extend_from_slice(&1u32.to_le_bytes());
            body.extend_from_slice(&id.to_le_bytes());
        }
    }
    IoApic::new(IOAPIC_ID, IOAPIC_ADDR as u32, 0).to_aml_bytes(&mut body);
    for (irq, gsi, flags) in OVERRIDES {
        // Interrupt Source Override: type 2, length 10, bus 0 (ISA), source, GSI, flags.
        body.extend_from_slice(&[2, 10, 0, irq]);
        body.extend_from_slice(&gsi.to_le_bytes());
        body.extend_from_slice(&flags.to_le_bytes());
    }
    // Local APIC NMI: type 4, length 6, every processor (UID 0xFF), flags, LINT1.
    body.extend_from_slice(&[4, 6, 0xff, 0, 0, 1]);
    if cpus > MAX_XAPIC_ID + 1 {
        // Local x2APIC NMI: type 0xA, length 12, flags, every processor, LINT1, reserved.
        body.extend_from_slice(&[0xa, 12, 0, 0]);
        body.extend_from_slice(&u32::MAX.to_le_bytes());
        body.extend_from_slice(&[1, 0, 0, 0]);
    }
    table(*b"APIC", 5, &body)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{le, table};
    use super::*;

    /// The MADT's interrupt controller structures: (type, bytes).
    fn structures(m: &[u8]) -> Vec<(u8, &[u8])> {
        let mut out = Vec::new();
        let mut o = 44;
        while o < m.len() {
            let (ty, len) = (m[o], m[o + 1] as usize);
            assert!(len >= 2 && o + len <= m.len(), "structure at {o}");
            out.push((ty, &m[o..o + len]));
            o += len;
        }
        out
    }

    #[test]
    fn one_enabled_lapic_per_vcpu_then_ioapic_overrides_and_nmi() {
        for cpus in [1u32, 2, 4] {
            let img = super::super::build(cpus, &super::super::tests::devices()).unwrap();
            let m = table(&img, img.madt, b"APIC");
            assert_eq!(m[8], 5, "revision");
            assert_eq!(le(m, 36, 4), 0xfee0_0000);
            assert_eq!(le(m, 40, 4), 1, "PCAT_COMPAT");
            let s = structures(m);
            let lapics: Vec<_> = s.iter().filter(|(t, _)| *t == 0).collect();
            assert_eq!(lapics.len(), cpus as usize);
            for (i, (_, b)) in lapics.iter().enumerate() {
                assert_eq!(b.len(), 8);
                assert_eq!((b[2], b[3]), (i as u8, i as u8), "UID, APIC id");
                assert_eq!(le(b, 4, 4), 1, "enabled");
            }
            let io: Vec<_> = s.iter().filter(|(t, _)| *t == 1).collect();
            assert_eq!(io.len(), 1);
            assert_eq!(io[0].1.len(), 12);
            assert_eq!(le(io[0].1, 4, 4), 0xfec0_0000);
            assert_eq!(le(io[0].1, 8, 4), 0, "GSI base");
            let isos: Vec<_> = s
                .iter()
                .filter(|(t, _)| *t == 2)
                .map(|(_, b)| (b.len(), b[2], b[3], le(b, 4, 4), le(b, 8, 2)))
                .collect();
            assert_eq!(isos, vec![(10, 0, 0, 2, 0), (10, 0, 9, 9, 0xd)]);
            let nmi: Vec<_> = s.iter().filter(|(t, _)| *t == 4).collect();
            assert_eq!(nmi.len(), 1);
            assert_eq!(nmi[0].1, &[4, 6, 0xff, 0, 0, 1]);
            assert_eq!(m.len(), 44 + 8 * cpus as usize + 12 + 20 + 6);
        }
    }

    #[test]
    fn apic_ids_above_254_use_x2apic_structures() {
        let img = super::super::build(257, &super::super::tests::devices()).unwrap();
        let m = table(&img, img.madt, b"APIC");
        let s = structures(m);
        assert_eq!(s.iter().filter(|(t, _)| *t == 0).count(), 255);
        let x2: Vec<_> = s.iter().filter(|(t, _)| *t == 9).collect();
        assert_eq!(x2.len(), 2);
        assert_eq!(x2[0].1.len(), 16);
        assert_eq!((le(x2[0].1, 4, 4), le(x2[0].1, 12, 4)), (255, 255));
        assert_eq!(le(x2[1].1, 4, 4), 256);
        assert_eq!(s.iter().filter(|(t, _)| *t == 0xa).count(), 1);
        // Reserved, x2APIC id, flags (enabled), UID.
        assert_eq!(x2[1].1, &[9, 16, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0]);
        // Local x2APIC NMI: flags, every processor (UID 0xFFFFFFFF), LINT1, reserved.
        let nmi = s.iter().find(|(t, _)| *t == 0xa).unwrap().1;
        assert_eq!(nmi, &[0xa, 12, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0]);
        // 255 vCPUs (APIC ids 0-254) need no x2APIC structure.
        let img = super::super::build(255, &super::super::tests::devices()).unwrap();
        let s = structures(table(&img, img.madt, b"APIC"));
        assert_eq!(s.iter().filter(|(t, _)| *t == 0).count(), 255);
        assert!(s.iter().all(|(t, _)| *t != 9 && *t != 0xa));
    }

    #[test]
    fn routing_matches_the_overrides() {
        let r = gsi_routes();
        let pins = |gsi: u32| -> Vec<IrqPin> {
            r.iter()
                .filter(|(g, _)| *g == gsi)
                .map(|(_, p)| *p)
                .collect()
        };
        assert_eq!(pins(0), vec![IrqPin::Pic(0, 0), IrqPin::Ioapic(2)]);
        assert!(pins(2).is_empty(), "the cascade is not routed");
        assert_eq!(pins(4), vec![IrqPin::Pic(0, 4), IrqPin::Ioapic(4)]);
        assert_eq!(pins(9), vec![IrqPin::Pic(1, 1), IrqPin::Ioapic(9)]);
        assert_eq!(pins(23), vec![IrqPin::Ioapic(23)]);
        assert!(pins(24).is_empty());
        // Every IOAPIC pin but 0 has exactly one source (pin 0 has none: the PIT moved to 2).
        for pin in 0..IOAPIC_PINS {
            let n = r.iter().filter(|(_, p)| *p == IrqPin::Ioapic(pin)).count();
            assert_eq!(n, usize::from(pin != 0), "pin {pin}");
        }
    }
}
