//! Guest physical map of a pseries VM.
//!
//! ```text
//! 0                       RAM (one region, --mem)                        ram_size
//! |  payload (--raw ADDR) ...   [device tree][initrd][RTAS][process table] |
//!                                          firmware area, top-down from min(RAM, 1 GiB)
//!
//! 1 << 45 (32 TiB)        MMIO window: debug-exit register (4 bytes)
//! ```
//!
//! The firmware area is allocated downwards from the end of RAM, capped at 1 GiB: Linux reads
//! `linux,rtas-base` as a 32-bit cell and calls RTAS in real mode, and QEMU's spapr keeps RTAS
//! and the device tree in the same low region. The radix process table is aligned to its size
//! (the partition-table entry encodes only the size's log2). Every allocation is 64 KiB aligned
//! (the ppc64 host and guest page size). Nothing may overlap the payload: an overlap is an input
//! error that names both.
//!
//! MMIO lies far above any RAM tetra accepts (16 TiB at most), where QEMU's pseries puts its PCI
//! windows. A guest in real mode reaches it directly: guest real addresses are guest physical
//! addresses under the radix MMU.

use thiserror::Error;

/// Where guest RAM starts.
pub const RAM_BASE: u64 = 0;
/// The smallest RAM tetra accepts for a pseries guest.
pub const MIN_RAM: u64 = 8 << 20;
/// The firmware area (RTAS, device tree, process table, initrd) lies below this.
pub const FIRMWARE_LIMIT: u64 = 1 << 30;
/// Alignment of every firmware allocation.
pub const FIRMWARE_ALIGN: u64 = 64 << 10;
/// Size of the radix process table tetra registers with `KVM_PPC_CONFIGURE_V3_MMU`.
pub const PROC_TABLE_SIZE: u64 = 64 << 10;
/// Room reserved for the RTAS entry code (`rtas-size`).
pub const RTAS_SIZE: u64 = 4 << 10;
/// Base of the MMIO window.
pub const MMIO_BASE: u64 = 1 << 45;
/// The debug-exit register: a 32-bit store of V ends the VM with status `(V << 1) | 1`.
pub const DEBUG_EXIT_ADDR: u64 = MMIO_BASE;
/// Width of the debug-exit register.
pub const DEBUG_EXIT_LEN: u64 = 4;
/// Unit address (`reg`) of the hypervisor console `/vdevice/vty@71000000`, as QEMU numbers its
/// first VIO device; it is also the terminal number of `H_PUT_TERM_CHAR`/`H_GET_TERM_CHAR`.
pub const VTY_REG: u32 = 0x7100_0000;

/// Width of the MMIO window the device layer places devices in.
pub const MMIO_SIZE: u64 = 1 << 40;

/// A pseries VM's map: one RAM region from 0, the MMIO window at [`MMIO_BASE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ppc64Layout {
    /// Guest RAM in bytes.
    pub ram_size: u64,
}

impl Ppc64Layout {
    /// The map for `ram_size` bytes of RAM, checked.
    pub fn new(ram_size: u64) -> Result<Self, LayoutError> {
        ram_region(ram_size)?;
        Ok(Ppc64Layout { ram_size })
    }
}

/// Interrupt sources the device layer hands out (XICS source numbers, from QEMU's first).
pub const IRQ_BASE: u32 = 0x1000;
/// How many.
pub const IRQ_COUNT: u32 = 0x400;
/// The EPOW event source's (the power button's): the last of the window, so that the sources
/// handed out in order (the console, virtio devices) keep the numbers they had before it.
pub const EPOW_IRQ: u32 = IRQ_BASE + IRQ_COUNT - 1;

impl vmm_core::MachineLayout for Ppc64Layout {
    fn ram_regions(&self) -> Vec<(vm_memory::GuestAddress, usize)> {
        vec![(vm_memory::GuestAddress(RAM_BASE), self.ram_size as usize)]
    }

    fn device_windows(&self) -> vmm_core::devices::DeviceWindows {
        vmm_core::devices::DeviceWindows {
            pio: None,
            mmio: (MMIO_BASE, MMIO_SIZE),
            irqs: (IRQ_BASE, IRQ_COUNT),
        }
    }
}

/// Errors laying out guest memory.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LayoutError {
    /// Too little RAM.
    #[error("a pseries guest needs at least {min} MiB of RAM, {got} MiB were given", min = MIN_RAM >> 20, got = .0 >> 20)]
    RamTooSmall(u64),
    /// RAM reaches into the MMIO window.
    #[error("{} MiB of RAM reach the MMIO window at {MMIO_BASE:#x}", .0 >> 20)]
    RamTooLarge(u64),
    /// An allocation does not fit.
    #[error("{what} ({size:#x} bytes) does not fit in guest RAM below {below:#x}{}", overlap_note(.payload))]
    NoRoom {
        /// What was being placed.
        what: &'static str,
        /// Its size.
        size: u64,
        /// The address it had to end below.
        below: u64,
        /// The payload it would have overlapped, if that was the reason.
        payload: Option<(u64, u64)>,
    },
}

fn overlap_note(payload: &Option<(u64, u64)>) -> String {
    match payload {
        Some((s, e)) => format!(" without overlapping the payload at {s:#x}..{e:#x}"),
        None => String::new(),
    }
}

/// Checks a RAM size and returns the one RAM region `(base, size)`.
pub fn ram_region(ram_size: u64) -> Result<(u64, u64), LayoutError> {
    if ram_size < MIN_RAM {
        return Err(LayoutError::RamTooSmall(ram_size));
    }
    if RAM_BASE + ram_size > MMIO_BASE {
        return Err(LayoutError::RamTooLarge(ram_size));
    }
    Ok((RAM_BASE, ram_size))
}

const fn align_down(v: u64, a: u64) -> u64 {
    v & !(a - 1)
}

/// Allocates the firmware area downwards, keeping clear of the payload.
#[derive(Clone, Debug)]
pub struct FirmwareAllocator {
    cursor: u64,
    payload: Option<(u64, u64)>,
}

impl FirmwareAllocator {
    /// An allocator for `ram_size` bytes of RAM that must not touch `payload` (`[start, end)`).
    pub fn new(ram_size: u64, payload: Option<(u64, u64)>) -> Result<Self, LayoutError> {
        let (base, size) = ram_region(ram_size)?;
        Ok(FirmwareAllocator {
            cursor: align_down((base + size).min(FIRMWARE_LIMIT), FIRMWARE_ALIGN),
            payload,
        })
    }

    /// Places `size` bytes aligned to `align` (a power of two, at least 64 KiB is used) below
    /// everything placed so far; returns the address.
    pub fn alloc(&mut self, what: &'static str, size: u64, align: u64) -> Result<u64, LayoutError> {
        let align = align.max(FIRMWARE_ALIGN);
        debug_assert!(align.is_power_of_two());
        let no_room = |payload| LayoutError::NoRoom {
            what,
            size,
            below: self.cursor,
            payload,
        };
        let start = self
            .cursor
            .checked_sub(size)
            .map(|s| align_down(s, align))
            .ok_or_else(|| no_room(None))?;
        if let Some((ps, pe)) = self.payload {
            if start < pe && ps < start + size {
                return Err(no_room(self.payload));
            }
        }
        self.cursor = start;
        Ok(start)
    }

    /// The lowest address allocated so far (the end of the free RAM below the firmware area).
    pub fn lowest(&self) -> u64 {
        self.cursor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_limits() {
        assert_eq!(ram_region(64 << 20), Ok((0, 64 << 20)));
        assert_eq!(ram_region(4 << 20), Err(LayoutError::RamTooSmall(4 << 20)));
        assert!(ram_region(MMIO_BASE + 1).is_err());
        assert!(
            ram_region(16 << 40).is_ok(),
            "the largest --mem fits below MMIO"
        );
        let e = ram_region(1 << 20).unwrap_err().to_string();
        assert!(e.contains("at least 8 MiB"), "{e}");
    }

    #[test]
    fn firmware_goes_down_from_the_lower_of_ram_and_1_gib() {
        let mut a = FirmwareAllocator::new(64 << 20, Some((0x40_0000, 0x40_1000))).unwrap();
        let pt = a
            .alloc("process table", PROC_TABLE_SIZE, PROC_TABLE_SIZE)
            .unwrap();
        assert_eq!(pt, (64 << 20) - PROC_TABLE_SIZE);
        let rtas = a.alloc("RTAS", RTAS_SIZE, FIRMWARE_ALIGN).unwrap();
        assert_eq!(rtas, pt - FIRMWARE_ALIGN);
        let fdt = a.alloc("device tree", 0x1234, 8).unwrap();
        assert_eq!(fdt, rtas - FIRMWARE_ALIGN);
        assert_eq!(a.lowest(), fdt);

        let mut big = FirmwareAllocator::new(8 << 30, None).unwrap();
        let pt = big
            .alloc("process table", PROC_TABLE_SIZE, PROC_TABLE_SIZE)
            .unwrap();
        assert_eq!(pt + PROC_TABLE_SIZE, FIRMWARE_LIMIT);
        // A 1 MiB-aligned table is aligned to its size.
        let t = big.alloc("table", 1 << 20, 1 << 20).unwrap();
        assert_eq!(t % (1 << 20), 0);
        assert!(t + (1 << 20) <= pt);
    }

    #[test]
    fn overlap_with_the_payload_is_an_error() {
        // A payload that fills the top of RAM.
        let mut a = FirmwareAllocator::new(16 << 20, Some((0x80_0000, 16 << 20))).unwrap();
        let e = a.alloc("RTAS", RTAS_SIZE, FIRMWARE_ALIGN).unwrap_err();
        assert!(
            matches!(
                e,
                LayoutError::NoRoom {
                    payload: Some(_),
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(
            e.to_string().contains("payload at 0x800000..0x1000000"),
            "{e}"
        );
        // Something larger than RAM.
        let mut a = FirmwareAllocator::new(16 << 20, None).unwrap();
        let e = a.alloc("initrd", 32 << 20, FIRMWARE_ALIGN).unwrap_err();
        assert!(matches!(e, LayoutError::NoRoom { payload: None, .. }));
        // A payload entirely above the firmware area (RAM > 1 GiB) does not collide.
        let mut a = FirmwareAllocator::new(4 << 30, Some((2 << 30, 3 << 30))).unwrap();
        assert!(a.alloc("fdt", 1 << 20, FIRMWARE_ALIGN).is_ok());
    }
}
