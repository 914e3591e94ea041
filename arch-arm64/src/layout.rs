//! Guest physical map: MMIO devices in the first GiB, RAM from 1 GiB up (like QEMU's `virt`).
//!
//! ```text
//! 0x0800_0000  GICv3 distributor          64 KiB
//! 0x0808_0000  GICv3 ITS                 128 KiB   (with --irqchip gicv3-its)
//! 0x0900_0000  16550 UART (ns16550a)       4 KiB   SPI 1, edge-rising, through an irqfd
//! 0x0901_0000  debug-exit                  4 KiB   a 32-bit write of V at +0 ends the VM
//!                                                  with status (V << 1) | 1
//! 0x0902_0000  PL031 RTC                   4 KiB   no interrupt (the alarm is not emulated)
//! 0x0903_0000  PL061 GPIO                  4 KiB   SPI 7, edge-rising (an irqfd); the power
//!                                                  button on line 3
//! 0x0a00_0000  GICv3 redistributors      128 KiB per vCPU, room for MAX_CPUS
//! 0x1000_0000  PCI MMIO window           512 MiB   BARs (with --transport pci)
//! 0x3f00_0000  PCI ECAM, bus 0             1 MiB   (with --transport pci; MSI-X through the ITS)
//! 0x4000_0000  RAM (--mem MiB); the device tree in its last 2 MiB-aligned 2 MiB
//! ```
//!
//! Everything the guest needs to find is also in the device tree.

use thiserror::Error;
use vm_memory::GuestAddress;

/// 64 KiB.
const K64: u64 = 0x1_0000;

/// Base of the GICv3 distributor (`KVM_VGIC_V3_ADDR_TYPE_DIST`).
pub const GIC_DIST_BASE: u64 = 0x0800_0000;
/// Size of the distributor frame (`KVM_VGIC_V3_DIST_SIZE`).
pub const GIC_DIST_SIZE: u64 = K64;
/// Base of the ITS (`KVM_VGIC_ITS_ADDR_TYPE`), 64 KiB aligned.
pub const GIC_ITS_BASE: u64 = 0x0808_0000;
/// Size of the ITS frames (`KVM_VGIC_V3_ITS_SIZE`: control and translation pages).
pub const GIC_ITS_SIZE: u64 = 2 * K64;
/// Base of the redistributor region (`KVM_VGIC_V3_ADDR_TYPE_REDIST`).
pub const GIC_REDIST_BASE: u64 = 0x0a00_0000;
/// Size of one vCPU's redistributor (`KVM_VGIC_V3_REDIST_SIZE`: RD_base and SGI_base frames).
pub const GIC_REDIST_SIZE_PER_CPU: u64 = 2 * K64;
/// The most vCPUs tetra gives an arm64 VM (the redistributor region's room, and KVM's
/// `KVM_MAX_VCPUS` on arm64).
pub const MAX_CPUS: u32 = 512;
/// Interrupt ids the distributor implements (`KVM_DEV_ARM_VGIC_GRP_NR_IRQS`): 32 private (SGIs and
/// PPIs) plus 256 SPIs; a multiple of 32.
pub const GIC_NR_IRQS: u32 = 32 + 256;

/// The UART's base.
pub const UART_BASE: u64 = 0x0900_0000;
/// The UART's window (8 byte-wide registers, reg-shift 0, in a 4 KiB page).
pub const UART_SIZE: u64 = 0x1000;
/// The UART's SPI number (interrupt id 32 + n); KVM's default routing maps GSI n to SPI n.
pub const UART_SPI: u32 = 1;
/// The UART's input clock, for the device tree (the 16550's classic 1.8432 MHz).
pub const UART_CLOCK_HZ: u32 = 1_843_200;

/// The debug-exit device's base: a 32-bit (or narrower) write of V at offset 0 ends the VM with
/// process status `(V << 1) | 1`, as QEMU's isa-debug-exit does on x86.
pub const DEBUG_EXIT_BASE: u64 = 0x0901_0000;
/// The debug-exit device's window.
pub const DEBUG_EXIT_SIZE: u64 = 0x1000;

/// The PL031 real-time clock's base.
pub const RTC_BASE: u64 = 0x0902_0000;
/// The PL031's window.
pub const RTC_SIZE: u64 = 0x1000;

/// The PL061 GPIO controller's base (as on QEMU's `virt`).
pub const GPIO_BASE: u64 = 0x0903_0000;
/// The PL061's window.
pub const GPIO_SIZE: u64 = 0x1000;
/// The PL061's SPI (QEMU's `virt` uses 7 too).
pub const GPIO_SPI: u32 = 7;

/// The PCI MMIO window, where BARs go (with `--transport pci`): 32-bit addresses, above the
/// redistributors' room for [`MAX_CPUS`].
pub const PCI_MMIO_START: u64 = 0x1000_0000;
/// The PCI MMIO window's size.
pub const PCI_MMIO_LEN: u64 = 0x2000_0000;
/// PCI ECAM for bus 0 (with `--transport pci`), below RAM.
pub const PCI_ECAM_START: u64 = 0x3f00_0000;
/// The ECAM window's size: bus 0 only.
pub const PCI_ECAM_LEN: u64 = vmm_core::devices::pci::root::ECAM_BUS;
/// The first GSI of an MSI vector: GSIs below are the SPIs (KVM's default routing, GSI n to SPI
/// n), which every routing table tetra writes keeps.
pub const MSI_GSI_START: u32 = GIC_NR_IRQS - 32;

/// Where RAM starts (1 GiB).
pub const RAM_BASE: u64 = 0x4000_0000;
const _: () = assert!(RAM_BASE >= 1 << 30, "RAM starts at 1 GiB or above");

/// The device tree's slot: 2 MiB (the arm64 boot protocol's maximum DTB size) at the top of RAM,
/// 2 MiB aligned.
pub const DTB_MAX_SIZE: u64 = 2 << 20;
/// The smallest RAM tetra accepts: the device tree's 2 MiB and room for a payload.
pub const MIN_RAM: u64 = 4 << 20;

/// The IPA size KVM gives a VM created with type 0.
pub const DEFAULT_IPA_BITS: u32 = 40;

/// The virtual timer's PPIs, in the order of the `arm,armv8-timer` binding: secure physical,
/// non-secure physical, virtual, hypervisor (the architecture's recommended PPI ids 29, 30, 27,
/// 26, as interrupt ids minus 16).
pub const TIMER_PPIS: [u32; 4] = [13, 14, 11, 10];

/// The PMU overflow interrupt's PPI (interrupt id 23, as QEMU's `virt` uses): every vCPU's
/// `KVM_ARM_VCPU_PMU_V3_IRQ`, and the `arm,armv8-pmuv3` node's interrupt.
pub const PMU_PPI: u32 = 7;

/// Errors in a VM description that the arm64 map cannot hold.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LayoutError {
    /// More vCPUs than the redistributor region has room for.
    #[error("--cpus {cpus}: the arm64 machine has room for at most {MAX_CPUS} vCPUs")]
    TooManyCpus {
        /// vCPUs asked for.
        cpus: u32,
    },
    /// Less RAM than the device tree and a payload need.
    #[error("--mem {mib}: arm64 guests need at least {} MiB", MIN_RAM >> 20)]
    TooLittleRam {
        /// MiB asked for.
        mib: u64,
    },
    /// RAM would end past what any KVM can map.
    #[error("--mem {mib}: RAM would end past the 52-bit guest physical address space")]
    TooMuchRam {
        /// MiB asked for.
        mib: u64,
    },
}

/// Checks the vCPU count and RAM size against the map.
pub fn check(cpus: u32, mem_bytes: u64) -> Result<(), LayoutError> {
    if cpus > MAX_CPUS {
        return Err(LayoutError::TooManyCpus { cpus });
    }
    let mib = mem_bytes >> 20;
    if mem_bytes < MIN_RAM {
        return Err(LayoutError::TooLittleRam { mib });
    }
    if ipa_bits_needed(mem_bytes) > 52 {
        return Err(LayoutError::TooMuchRam { mib });
    }
    Ok(())
}

/// An arm64 VM's map: RAM, the GIC's frames, and where the device layer places devices (the
/// MMIO window from the UART up to the redistributors, and the SPIs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arm64Layout {
    /// Guest RAM in bytes.
    pub mem_bytes: u64,
    /// The interrupt controller.
    pub irqchip: crate::irqchip::IrqChipKind,
    /// The GIC's frames.
    pub gic: crate::irqchip::GicLayout,
}

impl Arm64Layout {
    /// The map for `config`, checked as far as it can be before the VM exists (RAM size,
    /// `--irqchip`, `--raw`; the vCPU count is checked by the platform, once vmm-core has
    /// compared it with KVM's own limit, so that the tighter limit is the one reported).
    pub fn new(config: &vmm_core::VmConfig) -> Result<Self, crate::error::Arm64Error> {
        let irqchip = crate::config::check_early(config)?;
        Ok(Arm64Layout {
            mem_bytes: config.mem_bytes(),
            irqchip,
            gic: crate::irqchip::GicLayout::new(config.cpus, irqchip),
        })
    }

    /// A 128 MiB map with an ITS for `cpus` vCPUs (unit tests).
    pub fn for_tests(cpus: u32) -> Self {
        let irqchip = crate::irqchip::IrqChipKind::GicV3Its;
        Arm64Layout {
            mem_bytes: 128 << 20,
            irqchip,
            gic: crate::irqchip::GicLayout::new(cpus, irqchip),
        }
    }
}

/// Where the device layer may place MMIO devices: from the UART up to the redistributors.
pub const DEVICE_WINDOW: (u64, u64) = (UART_BASE, GIC_REDIST_BASE - UART_BASE);
const _: () = assert!(
    PCI_MMIO_START >= DEVICE_WINDOW.0 + DEVICE_WINDOW.1 && PCI_MMIO_START + PCI_MMIO_LEN <= 1 << 32,
    "the PCI window stays out of the device layer's window, in 32-bit BAR space"
);

impl vmm_core::MachineLayout for Arm64Layout {
    fn ram_regions(&self) -> Vec<(GuestAddress, usize)> {
        ram_regions(self.mem_bytes)
    }

    fn device_windows(&self) -> vmm_core::devices::DeviceWindows {
        vmm_core::devices::DeviceWindows {
            pio: None,
            mmio: DEVICE_WINDOW,
            irqs: (0, GIC_NR_IRQS - 32),
        }
    }
}

/// The RAM regions for `mem_bytes` of RAM: one, at [`RAM_BASE`].
pub fn ram_regions(mem_bytes: u64) -> Vec<(GuestAddress, usize)> {
    vec![(GuestAddress(RAM_BASE), mem_bytes as usize)]
}

/// The end of RAM (exclusive).
pub fn ram_end(mem_bytes: u64) -> u64 {
    RAM_BASE + mem_bytes
}

/// The guest-physical address bits the map needs: enough for the end of RAM, and never fewer
/// than KVM's default of 40.
pub fn ipa_bits_needed(mem_bytes: u64) -> u32 {
    let top = ram_end(mem_bytes).saturating_sub(1);
    (64 - top.leading_zeros()).max(DEFAULT_IPA_BITS)
}

/// Size of the redistributor region for `cpus` vCPUs.
pub fn gic_redist_size(cpus: u32) -> u64 {
    u64::from(cpus) * GIC_REDIST_SIZE_PER_CPU
}

/// The device tree's address for `mem_bytes` of RAM (at least [`MIN_RAM`]).
pub fn dtb_addr(mem_bytes: u64) -> u64 {
    (ram_end(mem_bytes) - DTB_MAX_SIZE) & !(DTB_MAX_SIZE - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The MMIO devices, as (name, base, size), must not overlap each other or RAM.
    #[test]
    fn devices_do_not_overlap_and_sit_below_ram() {
        let mut regions = [
            ("dist", GIC_DIST_BASE, GIC_DIST_SIZE),
            ("its", GIC_ITS_BASE, GIC_ITS_SIZE),
            ("uart", UART_BASE, UART_SIZE),
            ("debug-exit", DEBUG_EXIT_BASE, DEBUG_EXIT_SIZE),
            ("rtc", RTC_BASE, RTC_SIZE),
            ("gpio", GPIO_BASE, GPIO_SIZE),
            ("redist", GIC_REDIST_BASE, gic_redist_size(MAX_CPUS)),
            ("pci-mmio", PCI_MMIO_START, PCI_MMIO_LEN),
            ("pci-ecam", PCI_ECAM_START, PCI_ECAM_LEN),
        ];
        regions.sort_by_key(|r| r.1);
        for w in regions.windows(2) {
            assert!(w[0].1 + w[0].2 <= w[1].1, "{:?} overlaps {:?}", w[0], w[1]);
        }
        let last = regions.last().unwrap();
        assert!(last.1 + last.2 <= RAM_BASE);
        // KVM wants the GIC frames 64 KiB aligned.
        for (name, base, _) in regions {
            if name.starts_with("pci") {
                assert_eq!(base % (1 << 20), 0, "{name}");
            } else if name != "uart" && name != "debug-exit" && name != "rtc" && name != "gpio" {
                assert_eq!(base % K64, 0, "{name}");
            }
        }
        assert_eq!(GIC_NR_IRQS % 32, 0);
        assert_eq!(PCI_ECAM_LEN, 1 << 20);
        assert_eq!(MSI_GSI_START, 256);
    }

    #[test]
    fn dtb_sits_in_the_top_2mib_slot() {
        assert_eq!(dtb_addr(16 << 20), 0x40e0_0000);
        assert_eq!(dtb_addr(128 << 20), 0x47e0_0000);
        // An odd MiB count: aligned down, still wholly inside RAM.
        assert_eq!(dtb_addr(17 << 20), 0x40e0_0000);
        assert_eq!(dtb_addr(MIN_RAM), RAM_BASE + (2 << 20));
        for mib in [4u64, 5, 7, 64, 1000, 4096] {
            let a = dtb_addr(mib << 20);
            assert!(
                a >= RAM_BASE && a + DTB_MAX_SIZE <= ram_end(mib << 20),
                "{mib}"
            );
            assert_eq!(a % DTB_MAX_SIZE, 0);
        }
    }

    #[test]
    fn ipa_bits() {
        assert_eq!(ipa_bits_needed(16 << 20), 40);
        // 1 TiB - 1 GiB of RAM ends exactly at 2^40.
        assert_eq!(ipa_bits_needed((1 << 40) - RAM_BASE), 40);
        assert_eq!(ipa_bits_needed((1 << 40) - RAM_BASE + 4096), 41);
        assert_eq!(ipa_bits_needed(16 << 40), 45);
    }

    #[test]
    fn checks() {
        assert_eq!(check(1, 16 << 20), Ok(()));
        assert_eq!(check(MAX_CPUS, 16 << 20), Ok(()));
        assert_eq!(
            check(MAX_CPUS + 1, 16 << 20),
            Err(LayoutError::TooManyCpus { cpus: MAX_CPUS + 1 })
        );
        assert_eq!(check(1, 3 << 20), Err(LayoutError::TooLittleRam { mib: 3 }));
        assert_eq!(
            check(1, 1 << 53),
            Err(LayoutError::TooMuchRam { mib: 1 << 33 })
        );
        assert_eq!(
            ram_regions(64 << 20),
            vec![(GuestAddress(RAM_BASE), 64 << 20)]
        );
    }
}
