//! The x86_64 guest physical map: RAM from 0, a 1 GiB MMIO gap below 4 GiB, the rest above.
//!
//! ```text
//! 0x0000_0500  GDT                       0x0000_7000  Linux zero page (boot_params)
//! 0x0000_0520  IDT (empty)               0x0000_8ff0  boot stack top (raw long-mode entry)
//! 0x0000_1000  multiboot info, mmap,     0x0000_9000  PML4, 0xa000 PDPT, 0xb000..0xefff PDs
//!              modules, strings          0x0002_0000  kernel command line (64 KiB)
//! 0x0000_6000  PVH hvm_start_info,       0x0009_fc00  EBDA .. 1 MiB: reserved
//!              memmap, modlist           0x000e_0000  ACPI tables (RSDP first)
//!                                        0x0010_0000  kernels load here
//! 0xc000_0000  MMIO gap: 0xc000_0000 the PCI MMIO window (256 MiB, BARs; with PCI),
//!              0xd000_0000 devices mapped at fixed addresses (tests' probes),
//!              0xd100_0000 devices the layer places (virtio-mmio, 4 KiB apart),
//!              0xe000_0000 PCI ECAM for bus 0 (1 MiB; with PCI),
//!              IOAPIC 0xfec0_0000, LAPIC 0xfee0_0000
//! 0x1_0000_0000 RAM above the gap
//! ```

use vm_memory::GuestAddress;
use vmm_core::devices::DeviceWindows;
use vmm_core::MachineLayout;

/// The boot GDT.
pub const GDT_ADDR: u64 = 0x500;
/// An empty IDT (limit 0): any exception before the guest loads its own shuts the vCPU down.
pub const IDT_ADDR: u64 = 0x520;
/// Multiboot information structure; its memory map, module list and strings follow.
pub const MB_INFO_ADDR: u64 = 0x1000;
/// PVH `hvm_start_info`.
pub const PVH_INFO_ADDR: u64 = 0x6000;
/// PVH memory map (`hvm_memmap_table_entry` array).
pub const PVH_MEMMAP_ADDR: u64 = 0x6100;
/// PVH module list.
pub const PVH_MODLIST_ADDR: u64 = 0x6800;
/// Linux `boot_params` (the zero page).
pub const ZERO_PAGE_ADDR: u64 = 0x7000;
/// Stack pointer given to raw long-mode entries.
pub const BOOT_STACK: u64 = 0x8ff0;
/// Page-map level 4 of the boot identity map.
pub const PML4_ADDR: u64 = 0x9000;
/// Page-directory-pointer table of the boot identity map.
pub const PDPT_ADDR: u64 = 0xa000;
/// First of four page directories (2 MiB pages) covering 0..4 GiB.
pub const PD_ADDR: u64 = 0xb000;
/// Kernel command line.
pub const CMDLINE_ADDR: u64 = 0x20000;
/// Longest command line accepted, with its NUL.
pub const CMDLINE_MAX: usize = 0x10000;
/// Start of the extended BIOS data area; reserved up to 1 MiB.
pub const EBDA_START: u64 = 0x9fc00;
/// Where kernels load.
pub const HIMEM_START: u64 = 0x10_0000;
/// ACPI tables, RSDP first, in the BIOS area where a legacy scan looks (0xE0000..0x100000).
pub const ACPI_START: u64 = 0xe_0000;
/// End of the ACPI tables' area.
pub const ACPI_END: u64 = 0x10_0000;
/// The RSDP.
pub const RSDP_ADDR: u64 = ACPI_START;
/// Start of the MMIO gap below 4 GiB.
pub const MMIO_GAP_START: u64 = 0xc000_0000;
/// End of the MMIO gap.
pub const MMIO_GAP_END: u64 = 0x1_0000_0000;
/// First address tetra gives to its own MMIO devices (tests put theirs here too).
pub const MMIO_DEVICES_START: u64 = 0xd000_0000;
/// Where the device layer starts placing devices on its own (virtio-mmio): the first 16 MiB
/// from [`MMIO_DEVICES_START`] are for devices mapped at fixed addresses (the tests' probes).
pub const MMIO_ALLOC_START: u64 = MMIO_DEVICES_START + (16 << 20);
/// The PCI MMIO window, where BARs go (with `--transport pci`).
pub const PCI_MMIO_START: u64 = MMIO_GAP_START;
/// Its length.
pub const PCI_MMIO_LEN: u64 = MMIO_DEVICES_START - PCI_MMIO_START;
/// PCI ECAM (bus 0 only), described by the MCFG.
pub const PCI_ECAM_START: u64 = 0xe000_0000;
/// The `compatible` of the PCI host bridge's entry in the device list (its window is the ECAM).
pub const PCI_HOST_COMPATIBLE: &str = "pci-host-ecam-generic";
/// IOAPIC registers.
pub const IOAPIC_ADDR: u64 = 0xfec0_0000;
/// Local APIC registers.
pub const LAPIC_ADDR: u64 = 0xfee0_0000;
/// KVM's TSS region (three pages) for Intel VMX; inside the MMIO gap.
pub const KVM_TSS_ADDR: u64 = 0xfffb_d000;

/// The legacy serial port COM1 and its ISA interrupt.
pub const COM1_PORT: u64 = 0x3f8;
/// COM1's interrupt line.
pub const COM1_IRQ: u32 = 4;
/// QEMU-compatible debug-exit port (4 bytes wide).
pub const DEBUG_EXIT_PORT: u64 = 0xf4;
/// fw_cfg selector (16-bit) and data (8-bit, at +1) ports.
pub const FW_CFG_PORT: u64 = 0x510;
/// i8042 data port; the command/status port is +4 (0x64).
pub const I8042_PORT: u64 = 0x60;
/// ACPI PM1a event block (4 bytes); the PM1a control register is +4 (0x604).
pub const PM1A_EVT_PORT: u64 = 0x600;
/// ACPI PM1a control block (2 bytes).
pub const PM1A_CNT_PORT: u64 = PM1A_EVT_PORT + 4;
/// The ACPI PM timer (PM_TMR_BLK), in the same block.
pub const PM_TMR_PORT: u64 = PM1A_EVT_PORT + 8;
/// The ACPI system control interrupt (ISA IRQ 9, as on PCs).
pub const ACPI_SCI_IRQ: u32 = 9;
/// CMOS RTC index port; the data port is +1 (0x71).
pub const CMOS_PORT: u64 = 0x70;
/// The RTC's ISA interrupt.
pub const RTC_IRQ: u32 = 8;

/// IOAPIC input pins: the GSIs devices can use.
pub const IOAPIC_PINS: u32 = 24;
/// The first GSI of MSI vectors (after the IOAPIC's pins).
pub const MSI_GSI_START: u32 = IOAPIC_PINS;

/// An x86 VM's guest-physical map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct X86Layout {
    /// Guest RAM in bytes.
    pub mem_bytes: u64,
}

impl X86Layout {
    /// The map for `mem_bytes` of RAM.
    pub fn new(mem_bytes: u64) -> Self {
        X86Layout { mem_bytes }
    }
}

impl MachineLayout for X86Layout {
    fn ram_regions(&self) -> Vec<(GuestAddress, usize)> {
        ram_regions(self.mem_bytes)
    }

    /// The whole port space, the MMIO gap from [`MMIO_ALLOC_START`] to the IOAPIC, and the
    /// IOAPIC's pins.
    fn device_windows(&self) -> DeviceWindows {
        DeviceWindows {
            pio: Some((0, 0x1_0000)),
            mmio: (MMIO_ALLOC_START, IOAPIC_ADDR - MMIO_ALLOC_START),
            irqs: (0, IOAPIC_PINS),
        }
    }
}

/// Guest RAM regions for `mem` bytes: below the MMIO gap first, the rest above 4 GiB.
pub fn ram_regions(mem: u64) -> Vec<(GuestAddress, usize)> {
    if mem <= MMIO_GAP_START {
        vec![(GuestAddress(0), mem as usize)]
    } else {
        vec![
            (GuestAddress(0), MMIO_GAP_START as usize),
            (GuestAddress(MMIO_GAP_END), (mem - MMIO_GAP_START) as usize),
        ]
    }
}

/// End of RAM below the MMIO gap.
pub fn low_ram_end(mem: u64) -> u64 {
    mem.min(MMIO_GAP_START)
}

/// The kind of an e820 / multiboot / PVH memory-map entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemKind {
    /// Usable RAM (type 1).
    Ram = 1,
    /// Reserved (type 2).
    Reserved = 2,
}

/// One memory-map entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemEntry {
    /// Base address.
    pub addr: u64,
    /// Length in bytes.
    pub size: u64,
    /// What it is.
    pub kind: MemKind,
}

/// The guest's memory map as firmware would report it (e820).
pub fn memory_map(mem: u64) -> Vec<MemEntry> {
    let low_end = low_ram_end(mem);
    let mut map = vec![
        MemEntry {
            addr: 0,
            size: EBDA_START.min(low_end),
            kind: MemKind::Ram,
        },
        MemEntry {
            addr: EBDA_START,
            size: HIMEM_START - EBDA_START,
            kind: MemKind::Reserved,
        },
    ];
    if low_end > HIMEM_START {
        map.push(MemEntry {
            addr: HIMEM_START,
            size: low_end - HIMEM_START,
            kind: MemKind::Ram,
        });
    }
    if mem > MMIO_GAP_START {
        map.push(MemEntry {
            addr: MMIO_GAP_END,
            size: mem - MMIO_GAP_START,
            kind: MemKind::Ram,
        });
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_split_around_the_gap() {
        assert_eq!(ram_regions(256 << 20), vec![(GuestAddress(0), 256 << 20)]);
        let r = ram_regions(4 << 30);
        assert_eq!(r[0], (GuestAddress(0), 3 << 30));
        assert_eq!(r[1], (GuestAddress(4 << 30), 1 << 30));
    }

    #[test]
    fn memory_map_covers_ram_and_reserves_legacy_area() {
        let m = memory_map(256 << 20);
        assert_eq!(
            m[0],
            MemEntry {
                addr: 0,
                size: EBDA_START,
                kind: MemKind::Ram
            }
        );
        assert_eq!(m[1].kind, MemKind::Reserved);
        assert_eq!(m[2].addr + m[2].size, 256 << 20);
        let ram: u64 = m
            .iter()
            .filter(|e| e.kind == MemKind::Ram)
            .map(|e| e.size)
            .sum();
        assert_eq!(ram, (256 << 20) - (HIMEM_START - EBDA_START));
        assert_eq!(memory_map(5 << 30).last().unwrap().addr, 4 << 30);
    }
}
