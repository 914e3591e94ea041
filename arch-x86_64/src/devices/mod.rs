//! x86-only devices: the i8042 controller (reset line), the ACPI PM1a registers (power-off) and
//! the CMOS RTC.

pub mod cmos;
pub mod i8042;
pub mod pm;

use crate::layout::*;
use vmm_core::devices::{DeviceDesc, IrqRequest, WindowRequest};

/// The ISA interrupts (GSIs 0-15) no device of the layer gets unless it asks for one by number:
/// the PIT (0), the PIC cascade (2), and the legacy devices a guest may probe for (keyboard,
/// COM2, floppy, LPT, PS/2 mouse, IDE...). Devices placed anywhere (virtio) get GSIs 16-23,
/// which the guest never takes for a legacy device.
pub const RESERVED_IRQS: [u32; 13] = [0, 1, 2, 3, 5, 6, 7, 10, 11, 12, 13, 14, 15];

/// Keeps [`RESERVED_IRQS`] out of the device layer's hands.
pub fn reserve(d: &mut vmm_core::devices::Devices) -> Result<(), vmm_core::devices::DeviceError> {
    for n in RESERVED_IRQS {
        d.reserve_irq("a legacy ISA interrupt", n)?;
    }
    Ok(())
}

/// The PCI host bridge's entry in the device list (with `--transport pci`): its window is the
/// ECAM of bus 0, from which the ACPI tables describe the root bridge and the MCFG.
pub fn pci_host() -> DeviceDesc {
    DeviceDesc::new("pci-host", "pci", &[PCI_HOST_COMPATIBLE]).window(WindowRequest::mmio_at(
        PCI_ECAM_START,
        vmm_core::devices::pci::root::ECAM_BUS,
    ))
}

/// x86's devices as the platform places them, with `extra` after them (firmware-table tests).
pub fn planned(
    extra: impl IntoIterator<Item = DeviceDesc>,
) -> Result<Vec<vmm_core::devices::PlacedDevice>, vmm_core::devices::DeviceError> {
    use vmm_core::MachineLayout;
    let mut d = vmm_core::devices::Devices::new(&X86Layout::new(256 << 20).device_windows())?;
    reserve(&mut d)?;
    for desc in descs().into_iter().chain(extra) {
        d.describe(&vmm_core::devices::irq::NoRouter, desc)?;
    }
    Ok(d.list().to_vec())
}

/// The input clock of COM1 (the PC's 1.8432 MHz).
pub const UART_CLOCK_HZ: u32 = 1_843_200;

/// The legacy devices' descriptions: where they sit, their interrupts, what the DSDT says of
/// them, and the snapshot sections of those with state.
pub fn descs() -> [DeviceDesc; 6] {
    [
        DeviceDesc::ns16550a(
            "com1",
            WindowRequest::pio_at(COM1_PORT, 8),
            IrqRequest::edge(COM1_IRQ),
            UART_CLOCK_HZ,
        )
        .acpi(b"COM1", "PNP0501", 1)
        .with_state(b"SERL"),
        DeviceDesc::debug_exit(WindowRequest::pio_at(DEBUG_EXIT_PORT, 4)),
        DeviceDesc::new("fw-cfg", "fw-cfg", &["qemu,fw-cfg-ioport"])
            .window(WindowRequest::pio_at(FW_CFG_PORT, 2))
            .with_state(b"FWCF"),
        DeviceDesc::new("i8042", "i8042", &["intel,8042"])
            .window(WindowRequest::pio_at(I8042_PORT, 5))
            .with_state(b"KBDC"),
        DeviceDesc::new("rtc", "rtc", &["motorola,mc146818"])
            .window(WindowRequest::pio_at(CMOS_PORT, 2))
            .interrupt(IrqRequest::edge(RTC_IRQ))
            .acpi(b"RTC_", "PNP0B00", 0)
            .with_state(b"CMOS"),
        DeviceDesc::new("pm1a", "pm1a", &["tetra,acpi-pm1a"])
            .window(WindowRequest::pio_at(PM1A_EVT_PORT, pm::PM_BLOCK_LEN))
            .interrupt(IrqRequest::level(ACPI_SCI_IRQ))
            .with_state(b"PM1A"),
    ]
}
