//! The e500 board's guest physical map, modelled on QEMU's `ppce500` board (the platform Linux
//! knows as "fsl,qemu-e500"):
//!
//! | guest physical | what |
//! |---|---|
//! | 0 .. RAM size | RAM (the kernel is loaded at its link address, usually 0) |
//! | 0xf_e000_0000, 1 MiB | CCSR: the SoC's configuration registers |
//! | CCSR + 0x4_0000, 256 KiB | MPIC |
//! | CCSR + 0x4500, CCSR + 0x4600 | DUART: two 16550s, on MPIC external sources 8 and 9 |
//! | CCSR + 0xfc00, 256 bytes | MPC8xxx GPIO (as on PQ3 parts), MPIC source 47: pin 0 powers off |
//! | CCSR + 0xe_f000 | spin table for secondary CPUs (ePAPR `cpu-release-addr`) |
//! | CCSR + 0xf_f000, 4 bytes | tetra's debug-exit device (a write of V ends the VM) |
//!
//! The CCSR sits above 4 GiB (36-bit physical addressing) as on ppce500, out of RAM's way.
//!
//! One difference from the hardware and from QEMU: the DUART's two ports raise MPIC *external*
//! sources 8 and 9, edge-triggered, not the shared internal source 26 (number 42), which is
//! level-sensitive. vmm-core's 16550 signals an interrupt as an event (an eventfd write), and an
//! irqfd pulses its line (1 then 0): the in-kernel MPIC treats internal sources as level, so the
//! pulse would be withdrawn before the guest acknowledged it, while an edge source latches it.
//! The guest learns the wiring from the device tree, as it learns everything else.

use thiserror::Error;

/// RAM starts at guest physical 0.
pub const RAM_BASE: u64 = 0;
/// Smallest RAM tetra boots a BookE guest with.
pub const MIN_RAM: u64 = 32 << 20;
/// The CCSR window.
pub const CCSR_BASE: u64 = 0xf_e000_0000;
/// Size of the CCSR window.
pub const CCSR_SIZE: u64 = 0x10_0000;
/// RAM must end below this (the CCSR window).
pub const MAX_RAM: u64 = CCSR_BASE;
/// MPIC offset in the CCSR.
pub const MPIC_OFFSET: u64 = 0x4_0000;
/// Size of the MPIC register window.
pub const MPIC_SIZE: u64 = 0x4_0000;
/// First DUART port (serial0) offset in the CCSR.
pub const SERIAL0_OFFSET: u64 = 0x4500;
/// Second DUART port (serial1) offset in the CCSR.
pub const SERIAL1_OFFSET: u64 = 0x4600;
/// Register window of one 16550 in the device tree.
pub const SERIAL_SIZE: u64 = 0x100;
/// The MPIC sources of the two 16550s: external sources 8 and 9 (edge-triggered; away from the
/// external sources 1-4 QEMU's board gives PCI INTA-D).
pub const SERIAL_IRQS: [u32; 2] = [8, 9];
/// The GPIO block's offset in the CCSR (the PQ3 SoCs', `pq3-gpio-0.dtsi`; QEMU's ppce500 has it
/// at + 0xf_f000, where tetra's debug exit is).
pub const GPIO_OFFSET: u64 = 0xfc00;
/// The GPIO block's MPIC source (level; QEMU's ppce500 uses 47 too).
pub const GPIO_IRQ: u32 = 47;
/// Spin table offset in the CCSR (one 32-byte entry per CPU).
pub const SPIN_TABLE_OFFSET: u64 = 0xe_f000;
/// Size of one spin table entry.
pub const SPIN_ENTRY_SIZE: u64 = 0x20;
/// tetra's debug-exit device in the CCSR (4 bytes; a big-endian store of V ends the VM with
/// status `(V << 1) | 1`).
pub const DEBUG_EXIT_OFFSET: u64 = 0xf_f000;
/// Size of the debug-exit window.
pub const DEBUG_EXIT_SIZE: u64 = 4;
/// The platform (CCB) clock, also the 16550s' input clock.
pub const PLATFORM_CLOCK_HZ: u32 = 400_000_000;

/// A guest physical address in the CCSR.
pub const fn ccsr(offset: u64) -> u64 {
    CCSR_BASE + offset
}

/// Errors of the board layout.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LayoutError {
    /// Too little RAM.
    #[error("{0:#x} bytes of RAM is too little for a BookE guest (at least {MIN_RAM:#x})")]
    RamTooSmall(u64),
    /// RAM would overlap the CCSR window.
    #[error("{0:#x} bytes of RAM would overlap the CCSR window at {CCSR_BASE:#x}")]
    RamTooLarge(u64),
    /// RAM not a whole number of 4 KiB pages.
    #[error("RAM size {0:#x} is not a multiple of 4 KiB")]
    RamUnaligned(u64),
    /// No or too many CPUs.
    #[error("the e500 board supports 1 to {max} CPUs, not {0}", max = crate::irqchip::mpic::MAX_CPU)]
    CpuCount(u32),
}

/// The board's map for a given RAM size and CPU count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoardLayout {
    ram_size: u64,
    cpus: u32,
}

impl BoardLayout {
    /// Validates RAM size and CPU count.
    pub fn new(ram_size: u64, cpus: u32) -> Result<Self, LayoutError> {
        if ram_size < MIN_RAM {
            return Err(LayoutError::RamTooSmall(ram_size));
        }
        if ram_size > MAX_RAM {
            return Err(LayoutError::RamTooLarge(ram_size));
        }
        if !ram_size.is_multiple_of(4096) {
            return Err(LayoutError::RamUnaligned(ram_size));
        }
        if cpus == 0 || cpus as usize > crate::irqchip::mpic::MAX_CPU {
            return Err(LayoutError::CpuCount(cpus));
        }
        Ok(Self { ram_size, cpus })
    }

    /// RAM size in bytes.
    pub fn ram_size(&self) -> u64 {
        self.ram_size
    }

    /// Number of CPUs.
    pub fn cpus(&self) -> u32 {
        self.cpus
    }

    /// RAM regions (guest address, size).
    pub fn ram_regions(&self) -> Vec<(u64, u64)> {
        vec![(RAM_BASE, self.ram_size)]
    }

    /// MPIC base address (`KVM_DEV_MPIC_BASE_ADDR`).
    pub fn mpic_base(&self) -> u64 {
        ccsr(MPIC_OFFSET)
    }

    /// Base addresses of the two 16550s.
    pub fn serial_bases(&self) -> [u64; 2] {
        [ccsr(SERIAL0_OFFSET), ccsr(SERIAL1_OFFSET)]
    }

    /// Address of the debug-exit device.
    pub fn debug_exit(&self) -> u64 {
        ccsr(DEBUG_EXIT_OFFSET)
    }

    /// Address of the GPIO block.
    pub fn gpio(&self) -> u64 {
        ccsr(GPIO_OFFSET)
    }

    /// The spin table entry (`cpu-release-addr`) of secondary CPU `cpu`.
    pub fn cpu_release_addr(&self, cpu: u32) -> u64 {
        ccsr(SPIN_TABLE_OFFSET) + SPIN_ENTRY_SIZE * u64::from(cpu)
    }
}

/// The device layer places the board's devices in the CCSR window and on the MPIC's external
/// and internal sources.
impl vmm_core::MachineLayout for BoardLayout {
    fn ram_regions(&self) -> Vec<(vm_memory::GuestAddress, usize)> {
        vec![(vm_memory::GuestAddress(RAM_BASE), self.ram_size as usize)]
    }

    fn device_windows(&self) -> vmm_core::devices::DeviceWindows {
        vmm_core::devices::DeviceWindows {
            pio: None,
            mmio: (CCSR_BASE, CCSR_SIZE),
            irqs: (0, crate::irqchip::mpic::MAX_SRC as u32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map() {
        let l = BoardLayout::new(256 << 20, 2).unwrap();
        assert_eq!(l.mpic_base(), 0xf_e004_0000);
        assert_eq!(l.serial_bases(), [0xf_e000_4500, 0xf_e000_4600]);
        assert_eq!(l.cpu_release_addr(1), 0xf_e00e_f020);
        assert_eq!(l.ram_regions(), vec![(0, 256 << 20)]);
        // Every device window sits inside the CCSR, and the CCSR above RAM.
        for (off, size) in [
            (MPIC_OFFSET, MPIC_SIZE),
            (SERIAL0_OFFSET, SERIAL_SIZE),
            (SERIAL1_OFFSET, SERIAL_SIZE),
            (SPIN_TABLE_OFFSET, SPIN_ENTRY_SIZE * 32),
            (DEBUG_EXIT_OFFSET, DEBUG_EXIT_SIZE),
            (GPIO_OFFSET, crate::devices::gpio::GPIO_SIZE),
        ] {
            assert!(off + size <= CCSR_SIZE);
        }
        // The debug exit sits after the spin table, outside the MPIC.
        const { assert!(SPIN_TABLE_OFFSET + SPIN_ENTRY_SIZE * 32 <= DEBUG_EXIT_OFFSET) };
        assert_eq!(l.debug_exit(), 0xf_e00f_f000);
        // The serial ports are external MPIC sources (0..16), distinct from each other.
        assert!(SERIAL_IRQS.iter().all(|&i| i < 16) && SERIAL_IRQS[0] != SERIAL_IRQS[1]);
        const { assert!(SERIAL1_OFFSET + SERIAL_SIZE <= MPIC_OFFSET) };
        // The GPIO block sits between the DUART and the MPIC, on an internal source.
        const { assert!(SERIAL1_OFFSET + SERIAL_SIZE <= GPIO_OFFSET) };
        const { assert!(GPIO_OFFSET + crate::devices::gpio::GPIO_SIZE <= MPIC_OFFSET) };
        assert_eq!(l.gpio(), 0xf_e000_fc00);
        assert!(GPIO_IRQ >= 16 && !SERIAL_IRQS.contains(&GPIO_IRQ));
    }

    #[test]
    fn validation() {
        assert_eq!(
            BoardLayout::new(1 << 20, 1),
            Err(LayoutError::RamTooSmall(1 << 20))
        );
        assert!(matches!(
            BoardLayout::new(MAX_RAM + 4096, 1),
            Err(LayoutError::RamTooLarge(_))
        ));
        assert!(BoardLayout::new(MAX_RAM, 1).is_ok());
        assert_eq!(
            BoardLayout::new((64 << 20) + 1, 1),
            Err(LayoutError::RamUnaligned((64 << 20) + 1))
        );
        assert_eq!(BoardLayout::new(64 << 20, 0), Err(LayoutError::CpuCount(0)));
        assert_eq!(
            BoardLayout::new(64 << 20, 33),
            Err(LayoutError::CpuCount(33))
        );
    }
}
