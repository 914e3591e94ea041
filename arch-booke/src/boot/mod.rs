//! Kernel loading for the e500 board: a uImage or a big-endian ELF, an optional initrd, the
//! device tree, and the entry state U-Boot leaves for an ePAPR kernel:
//!
//! - guest memory: the kernel at its load address, then (page-aligned) the initrd, a 64 KiB
//!   stack gap, and the device tree;
//! - `TLB1[0]`: effective 0 -> real 0, valid, IPROT, TID 0, TS 0, the smallest TLB1 page that
//!   covers everything up to the end of the device tree (the "initial mapped area");
//! - r3 = device tree address, r6 = ePAPR magic 0x45504150, r7 = size of the initial mapped
//!   area, r4/r5/r8/r9 = 0, r1 = a stack below the device tree; MSR = 0 (supervisor, 32-bit mode,
//!   interrupts off, address space 0); PC = the kernel's physical entry point.
//!
//! Secondary CPUs wait in the spin table named by their `cpu-release-addr` (not emulated yet).

pub mod elf;
pub mod uimage;

use crate::abi::kvm_book3e_206_tlb_entry;
use crate::cpu::Core;
use crate::fdt::{build_fdt, FdtConfig, FdtError};
use crate::layout::BoardLayout;
use crate::mmu::bootmap::{boot_entry, write_boot_entry, BootMapError};
use crate::mmu::{GuestMmu, OpsError, Tlb, TlbStore};
use thiserror::Error;
use vmm_core::memory::{GuestRam, MemoryError};

/// ePAPR's boot magic, passed in r6.
pub const EPAPR_MAGIC: u64 = 0x4550_4150;
/// Room left after a uImage's payload for the kernel's BSS (the header does not say).
pub const UIMAGE_BSS_SLACK: u64 = 8 << 20;
/// Stack room between the initrd and the device tree.
pub const STACK_GAP: u64 = 64 << 10;
const PAGE: u64 = 4096;

/// Errors loading a kernel.
#[derive(Debug, Error)]
pub enum BootError {
    /// Neither a uImage nor an ELF.
    #[error("kernel image is neither a uImage nor an ELF (starts with {0:02x?})")]
    UnknownFormat(Vec<u8>),
    /// A bad uImage.
    #[error("bad uImage kernel")]
    UImage(#[source] uimage::UImageError),
    /// A bad ELF.
    #[error("bad ELF kernel")]
    Elf(#[source] elf::ElfError),
    /// A kernel segment outside RAM.
    #[error("kernel segment {addr:#x}..{end:#x} lies outside guest RAM (0..{ram:#x})")]
    KernelOutsideRam {
        /// Start.
        addr: u64,
        /// End.
        end: u64,
        /// RAM size.
        ram: u64,
    },
    /// Kernel, initrd and device tree do not fit.
    #[error(
        "kernel, initrd and device tree need {needed:#x} bytes of RAM, the guest has {ram:#x}"
    )]
    RamTooSmall {
        /// Bytes needed.
        needed: u64,
        /// RAM size.
        ram: u64,
    },
    /// The device tree could not be built.
    #[error("building the device tree failed")]
    Fdt(#[source] FdtError),
    /// No boot TLB entry covers the image.
    #[error("no boot mapping covers the kernel")]
    BootMap(#[source] BootMapError),
    /// Writing guest memory failed.
    #[error("writing the boot image into guest RAM failed")]
    Memory(#[source] MemoryError),
    /// Writing the boot TLB entry failed.
    #[error("installing the boot TLB entry failed")]
    Tlb(#[source] OpsError),
}

/// The kernel's format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelFormat {
    /// A uImage and its name.
    UImage(String),
    /// An ELF of this class.
    Elf(elf::ElfClass),
}

/// One region of guest memory to fill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemWrite {
    /// What it is (for error messages).
    pub what: &'static str,
    /// Guest physical address.
    pub addr: u64,
    /// Contents.
    pub data: Vec<u8>,
    /// Zero bytes that follow the contents (a segment's BSS).
    pub zeros: u64,
}

impl MemWrite {
    /// First address after the region.
    pub fn end(&self) -> u64 {
        self.addr
            .saturating_add(self.data.len() as u64)
            .saturating_add(self.zeros)
    }
}

/// A parsed kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kernel {
    /// Format.
    pub format: KernelFormat,
    /// Regions to load.
    pub segments: Vec<MemWrite>,
    /// Physical entry point.
    pub entry: u64,
    /// First free address after the kernel (its BSS included, or estimated for uImages).
    pub end: u64,
}

impl Kernel {
    /// Parses a uImage or an ELF.
    pub fn parse(bytes: &[u8]) -> Result<Self, BootError> {
        if uimage::is_uimage(bytes) {
            let u = uimage::parse(bytes).map_err(BootError::UImage)?;
            let load = u64::from(u.load);
            Ok(Kernel {
                format: KernelFormat::UImage(u.name),
                segments: vec![MemWrite {
                    what: "kernel",
                    addr: load,
                    data: u.data.to_vec(),
                    zeros: 0,
                }],
                entry: u64::from(u.entry),
                end: load + u.data.len() as u64 + UIMAGE_BSS_SLACK,
            })
        } else if elf::is_elf(bytes) {
            let k = elf::parse(bytes).map_err(BootError::Elf)?;
            let mut segments = Vec::new();
            let mut end = 0;
            for s in &k.segments {
                // The BSS is not allocated here: its size is untrusted until checked against RAM.
                end = end.max(s.paddr + s.mem_size);
                segments.push(MemWrite {
                    what: "kernel segment",
                    addr: s.paddr,
                    data: s.data.to_vec(),
                    zeros: s.mem_size - s.data.len() as u64,
                });
            }
            Ok(Kernel {
                format: KernelFormat::Elf(k.class),
                segments,
                entry: k.entry,
                end,
            })
        } else {
            Err(BootError::UnknownFormat(
                bytes.iter().take(4).copied().collect(),
            ))
        }
    }
}

/// What the boot needs besides the kernel.
#[derive(Clone, Debug)]
pub struct BootConfig<'a> {
    /// The board map.
    pub layout: BoardLayout,
    /// The core model.
    pub core: Core,
    /// Kernel command line.
    pub cmdline: &'a str,
    /// Timebase frequency for the device tree.
    pub timebase_hz: u32,
    /// Core clock for the device tree.
    pub cpu_clock_hz: u32,
    /// Whether the MPIC supports external proxy (see [`FdtConfig::external_proxy`]).
    pub external_proxy: bool,
    /// The placed devices, for the device tree.
    pub devices: &'a [vmm_core::devices::PlacedDevice],
}

/// The boot vCPU's initial state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryState {
    /// Program counter (physical = effective under the boot mapping).
    pub pc: u64,
    /// MSR (0).
    pub msr: u64,
    /// General-purpose registers.
    pub gpr: [u64; 32],
    /// The `TLB1[0]` entry.
    pub boot_tlb: kvm_book3e_206_tlb_entry,
    /// Size of the initial mapped area (r7).
    pub ima_size: u64,
}

/// Everything to put in place before the first run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootImage {
    /// The kernel's format.
    pub format: KernelFormat,
    /// Guest memory to fill: kernel, initrd, device tree.
    pub writes: Vec<MemWrite>,
    /// Device tree address.
    pub fdt_addr: u64,
    /// Device tree size.
    pub fdt_size: u64,
    /// Initrd `[start, end)`.
    pub initrd: Option<(u64, u64)>,
    /// The boot vCPU's entry state.
    pub entry: EntryState,
}

fn align_up(v: u64, a: u64) -> Option<u64> {
    v.checked_add(a - 1).map(|x| x & !(a - 1))
}

/// Lays out kernel, initrd and device tree, and computes the entry state.
pub fn prepare(
    kernel: &[u8],
    initrd: Option<&[u8]>,
    cfg: &BootConfig<'_>,
) -> Result<BootImage, BootError> {
    let k = Kernel::parse(kernel)?;
    let ram = cfg.layout.ram_size();
    for s in &k.segments {
        let end = s.end();
        if end > ram {
            return Err(BootError::KernelOutsideRam {
                addr: s.addr,
                end,
                ram,
            });
        }
    }
    let too_small = |needed| BootError::RamTooSmall { needed, ram };
    let mut cursor = align_up(k.end, PAGE).ok_or(too_small(u64::MAX))?;
    let mut writes = k.segments.clone();
    let initrd_range = match initrd {
        Some(data) => {
            let start = cursor;
            let end = start
                .checked_add(data.len() as u64)
                .ok_or(too_small(u64::MAX))?;
            writes.push(MemWrite {
                what: "initrd",
                addr: start,
                data: data.to_vec(),
                zeros: 0,
            });
            cursor = align_up(end, PAGE).ok_or(too_small(u64::MAX))?;
            Some((start, end))
        }
        None => None,
    };
    cursor = cursor.checked_add(STACK_GAP).ok_or(too_small(u64::MAX))?;
    let fdt_addr = cursor;
    let fdt = build_fdt(&FdtConfig {
        layout: cfg.layout,
        core: cfg.core,
        timebase_hz: cfg.timebase_hz,
        cpu_clock_hz: cfg.cpu_clock_hz,
        bootargs: cfg.cmdline,
        initrd: initrd_range,
        external_proxy: cfg.external_proxy,
        devices: cfg.devices,
    })
    .map_err(BootError::Fdt)?;
    let fdt_end = fdt_addr + fdt.len() as u64;
    if fdt_end > ram {
        return Err(too_small(fdt_end));
    }
    let boot_tlb = boot_entry(&cfg.core.mmu(), fdt_end).map_err(BootError::BootMap)?;
    let ima_size = boot_tlb.page_size(Tlb::Tlb1);
    let fdt_size = fdt.len() as u64;
    writes.push(MemWrite {
        what: "device tree",
        addr: fdt_addr,
        data: fdt,
        zeros: 0,
    });
    let mut gpr = [0u64; 32];
    gpr[1] = fdt_addr - 16;
    gpr[3] = fdt_addr;
    gpr[6] = EPAPR_MAGIC;
    gpr[7] = ima_size;
    Ok(BootImage {
        format: k.format,
        writes,
        fdt_addr,
        fdt_size,
        initrd: initrd_range,
        entry: EntryState {
            pc: k.entry,
            msr: 0,
            gpr,
            boot_tlb,
            ima_size,
        },
    })
}

impl BootImage {
    /// Writes kernel, initrd and device tree into guest RAM.
    pub fn write_to(&self, ram: &GuestRam) -> Result<(), BootError> {
        const CHUNK: u64 = 1 << 16;
        let zero = [0u8; CHUNK as usize];
        for w in &self.writes {
            ram.write(w.what, w.addr, &w.data)
                .map_err(BootError::Memory)?;
            let mut at = w.addr + w.data.len() as u64;
            while at < w.end() {
                let n = (w.end() - at).min(CHUNK);
                ram.write(w.what, at, &zero[..n as usize])
                    .map_err(BootError::Memory)?;
                at += n;
            }
        }
        Ok(())
    }

    /// Writes the boot entry into `TLB1[0]` with tlbwe (a shared TLB marks it dirty).
    pub fn install_boot_tlb<S: TlbStore>(&self, mmu: &mut GuestMmu<S>) -> Result<usize, BootError> {
        write_boot_entry(mmu, &self.entry.boot_tlb).map_err(BootError::Tlb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmu::{translate, Access, AccessKind, MmuType, Query, SharedTlb};
    use vm_memory::{Bytes, GuestAddress};

    fn cfg(ram: u64) -> BootConfig<'static> {
        BootConfig {
            layout: BoardLayout::new(ram, 1).unwrap(),
            core: Core::E5500,
            cmdline: "console=ttyS0",
            timebase_hz: 25_000_000,
            cpu_clock_hz: 1_000_000_000,
            external_proxy: false,
            devices: &[],
        }
    }

    #[test]
    fn uimage_boot_layout_and_entry_state() {
        let payload: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let img = uimage::build("Linux", 0, 0, &payload);
        let initrd = vec![0xabu8; 12345];
        let b = prepare(&img, Some(&initrd), &cfg(128 << 20)).unwrap();
        assert_eq!(b.format, KernelFormat::UImage("Linux".into()));
        let (istart, iend) = b.initrd.unwrap();
        assert_eq!(istart, align_up(100_000 + UIMAGE_BSS_SLACK, PAGE).unwrap());
        assert_eq!(iend, istart + 12345);
        assert_eq!(b.fdt_addr, align_up(iend, PAGE).unwrap() + STACK_GAP);
        assert_eq!(b.fdt_addr % PAGE, 0);
        let e = &b.entry;
        assert_eq!((e.pc, e.msr), (0, 0));
        assert_eq!(e.gpr[3], b.fdt_addr);
        assert_eq!(e.gpr[6], EPAPR_MAGIC);
        assert_eq!(e.gpr[7], e.ima_size);
        assert_eq!([e.gpr[4], e.gpr[5], e.gpr[8], e.gpr[9]], [0; 4]);
        assert!(e.gpr[1] < b.fdt_addr && e.gpr[1] > iend);
        // The mapped area covers the device tree, in a power-of-4 size (e5500).
        assert_eq!(e.ima_size, 16 << 20);
        assert!(b.fdt_addr + b.fdt_size <= e.ima_size);

        // The boot entry, installed in a shared TLB, translates PC and r3 1:1 and is dirty.
        let mut tlb = SharedTlb::new(Core::E5500.tlb_geometry(), MmuType::Hv);
        tlb.enter(|_| Ok::<(), ()>(()), |_| Ok(())).unwrap();
        let mut mmu = GuestMmu::new(&mut tlb);
        let idx = b.install_boot_tlb(&mut mmu).unwrap();
        assert_eq!(idx, 512);
        assert!(tlb.dirty().is_dirty(512) && tlb.dirty().count() == 1);
        for (ea, kind) in [
            (e.pc, AccessKind::Execute),
            (e.gpr[3], AccessKind::Read),
            (e.gpr[1], AccessKind::Write),
        ] {
            let q = Query {
                ea,
                pid: 0,
                ts: false,
                cm: false,
                access: Some(Access { kind, user: false }),
            };
            assert_eq!(translate(&tlb, &q).unwrap().ra, ea);
        }

        // Into real guest RAM.
        let ram = GuestRam::new(&[(GuestAddress(0), 128 << 20)]).unwrap();
        b.write_to(&ram).unwrap();
        let mut back = vec![0u8; 100_000];
        ram.memory().read_slice(&mut back, GuestAddress(0)).unwrap();
        assert_eq!(back, payload);
        let mut magic = [0u8; 4];
        ram.memory()
            .read_slice(&mut magic, GuestAddress(b.fdt_addr))
            .unwrap();
        assert_eq!(magic, [0xd0, 0x0d, 0xfe, 0xed]);
        let mut i = [0u8; 1];
        ram.memory()
            .read_slice(&mut i, GuestAddress(iend - 1))
            .unwrap();
        assert_eq!(i, [0xab]);
    }

    #[test]
    fn elf_boot_uses_physical_addresses() {
        let text = vec![0x48u8; 4096];
        let img = elf::build(
            elf::ElfClass::Elf64,
            0xc000_0000_0000_0040,
            &[(0xc000_0000_0000_0000, 0, &text, 3 << 20)],
        );
        let b = prepare(&img, None, &cfg(64 << 20)).unwrap();
        assert_eq!(b.entry.pc, 0x40);
        assert_eq!(b.writes[0].addr, 0);
        assert_eq!(b.writes[0].data.len(), 4096);
        assert_eq!(b.writes[0].zeros, (3 << 20) - 4096, "BSS");
        // The BSS is cleared in guest RAM, even over old contents.
        let ram = GuestRam::new(&[(GuestAddress(0), 64 << 20)]).unwrap();
        ram.write("junk", 0, &vec![0xee; 4 << 20]).unwrap();
        b.write_to(&ram).unwrap();
        let mut bss = vec![0xffu8; (3 << 20) - 4096];
        ram.memory()
            .read_slice(&mut bss, GuestAddress(4096))
            .unwrap();
        assert_eq!(bss.iter().position(|x| *x != 0), None);
        // A huge BSS is refused before anything is allocated.
        let huge = elf::build(elf::ElfClass::Elf64, 0, &[(0, 0, &text, 1 << 60)]);
        assert!(matches!(
            prepare(&huge, None, &cfg(64 << 20)),
            Err(BootError::KernelOutsideRam { .. })
        ));
        assert_eq!(b.fdt_addr, (3 << 20) + STACK_GAP);
        assert_eq!(b.entry.ima_size, 4 << 20);
        assert!(b.initrd.is_none());
    }

    #[test]
    fn refusals() {
        assert!(matches!(
            prepare(b"hello", None, &cfg(64 << 20)),
            Err(BootError::UnknownFormat(_))
        ));
        let big = uimage::build("k", 0x0400_0000, 0x0400_0000, &[0; 16]);
        assert!(matches!(
            prepare(&big, None, &cfg(64 << 20)),
            Err(BootError::KernelOutsideRam { .. })
        ));
        let k = uimage::build("k", 0, 0, &[0; 16]);
        let huge_initrd = vec![0u8; 40 << 20];
        assert!(matches!(
            prepare(&k, Some(&huge_initrd), &cfg(32 << 20)),
            Err(BootError::RamTooSmall { .. })
        ));
        let mut bad = k.clone();
        bad[70] ^= 1;
        let e = prepare(&bad, None, &cfg(64 << 20)).unwrap_err();
        assert!(matches!(
            e,
            BootError::UImage(uimage::UImageError::DataCrc { .. })
        ));
        assert!(std::error::Error::source(&e).is_some());
    }
}
