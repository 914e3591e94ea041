//! The Linux boot protocols, through linux-loader: a bzImage entered at its 64-bit entry point, and
//! an ELF kernel entered at its PVH entry (32-bit, `hvm_start_info` in EBX) or, without a PVH note,
//! at its ELF entry in 64-bit mode with `boot_params` in RSI.
//!
//! linux-loader only compiles its x86 loaders on x86_64 hosts, so this file is gated like the ioctl
//! glue; tetra never boots an x86 kernel elsewhere.

use super::entry::{CpuMode, EntryState};
use crate::layout::{self, MemKind, BOOT_STACK, CMDLINE_ADDR, HIMEM_START, ZERO_PAGE_ADDR};
use linux_loader::configurator::linux::LinuxBootConfigurator;
use linux_loader::configurator::pvh::PvhBootConfigurator;
use linux_loader::configurator::{BootConfigurator, BootParams};
use linux_loader::loader::bootparam::{boot_e820_entry, boot_params};
use linux_loader::loader::elf::start_info::{
    hvm_memmap_table_entry, hvm_modlist_entry, hvm_start_info,
};
use linux_loader::loader::elf::PvhBootCapability;
use linux_loader::loader::{BzImage, Elf, KernelLoader};
use std::io::Cursor;
use vm_memory::GuestAddress;
use vmm_core::memory::{write_guest, GuestMemoryMmap, MemoryError};

/// Errors of the Linux boot protocols.
#[derive(Debug, thiserror::Error)]
pub enum LinuxError {
    /// linux-loader refused the image.
    #[error("linux-loader refused the image")]
    Loader(#[source] linux_loader::loader::Error),
    /// linux-loader could not write the boot parameters.
    #[error("writing the boot parameters failed")]
    Configurator(#[source] linux_loader::configurator::Error),
    /// The bzImage predates the 64-bit entry point.
    #[error("bzImage protocol {0:#x} has no 64-bit entry point (XLF_KERNEL_64, protocol 2.12+)")]
    No64BitEntry(u16),
    /// The command line is longer than the kernel accepts.
    #[error("--cmdline is {len} bytes; this kernel accepts at most {max}")]
    CmdlineTooLong {
        /// Its length.
        len: usize,
        /// The kernel's `cmdline_size`.
        max: u32,
    },
    /// Guest memory is too small.
    #[error(transparent)]
    Memory(#[from] MemoryError),
}

/// `hvm_start_info.magic`.
pub const XEN_HVM_START_MAGIC: u32 = 0x336e_c578;
/// bzImage protocol `type_of_loader` for an unregistered loader.
const LOADER_OTHER: u8 = 0xff;
/// `xloadflags`: the kernel has a 64-bit entry point at +0x200.
const XLF_KERNEL_64: u16 = 1;

/// Places the initrd page-aligned at the top of low RAM, below `max_end` and above `kernel_end`.
fn place_initrd(
    mem: &GuestMemoryMmap,
    data: &[u8],
    kernel_end: u64,
    max_end: u64,
    mem_bytes: u64,
) -> Result<u64, MemoryError> {
    let top = layout::low_ram_end(mem_bytes).min(max_end);
    let too_big = || MemoryError::OutOfRange {
        what: "the initrd".into(),
        addr: kernel_end,
        len: data.len() as u64,
        ram_mib: mem_bytes >> 20,
    };
    let addr = top.checked_sub(data.len() as u64).ok_or_else(too_big)? & !0xfff;
    if addr < kernel_end {
        return Err(too_big());
    }
    write_guest(mem, "the initrd", addr, data)?;
    Ok(addr)
}

fn e820(mem_bytes: u64) -> Vec<boot_e820_entry> {
    layout::memory_map(mem_bytes)
        .iter()
        .map(|e| boot_e820_entry {
            addr: e.addr,
            size: e.size,
            r#type: if e.kind == MemKind::Ram { 1 } else { 2 },
        })
        .collect()
}

fn write_boot_params(
    mem: &GuestMemoryMmap,
    mut params: boot_params,
    mem_bytes: u64,
    rsdp: u64,
) -> Result<(), LinuxError> {
    // Read by kernels of boot protocol 2.14 and later; older ones scan the BIOS area for it.
    params.acpi_rsdp_addr = rsdp;
    let map = e820(mem_bytes);
    params.e820_entries = map.len() as u8;
    params.e820_table[..map.len()].copy_from_slice(&map);
    LinuxBootConfigurator::write_bootparams(
        &BootParams::new(&params, GuestAddress(ZERO_PAGE_ADDR)),
        mem,
    )
    .map_err(LinuxError::Configurator)
}

/// Loads a bzImage; returns its 64-bit entry state. `rsdp` is the ACPI RSDP's address.
pub fn load_bzimage(
    mem: &GuestMemoryMmap,
    image: &[u8],
    cmdline: &str,
    initrd: Option<&[u8]>,
    mem_bytes: u64,
    rsdp: u64,
) -> Result<EntryState, LinuxError> {
    let res = BzImage::load(
        mem,
        None,
        &mut Cursor::new(image),
        Some(GuestAddress(HIMEM_START)),
    )
    .map_err(LinuxError::Loader)?;
    let hdr = res
        .setup_header
        .expect("bzImage loads return a setup header");
    if hdr.version < 0x020c || hdr.xloadflags & XLF_KERNEL_64 == 0 {
        return Err(LinuxError::No64BitEntry(hdr.version));
    }
    if hdr.version >= 0x0206 && cmdline.len() as u64 > u64::from(hdr.cmdline_size) {
        return Err(LinuxError::CmdlineTooLong {
            len: cmdline.len(),
            max: hdr.cmdline_size,
        });
    }
    let mut params = boot_params {
        hdr,
        ..Default::default()
    };
    params.hdr.type_of_loader = LOADER_OTHER;
    params.hdr.cmd_line_ptr = CMDLINE_ADDR as u32;
    params.hdr.cmdline_size = cmdline.len() as u32;
    if let Some(data) = initrd {
        let max = u64::from(hdr.initrd_addr_max) + 1;
        let addr = place_initrd(mem, data, res.kernel_end, max, mem_bytes)?;
        params.hdr.ramdisk_image = addr as u32;
        params.hdr.ramdisk_size = data.len() as u32;
    }
    write_boot_params(mem, params, mem_bytes, rsdp)?;
    Ok(EntryState {
        rsi: ZERO_PAGE_ADDR,
        rsp: BOOT_STACK,
        ..EntryState::at(CpuMode::Long, res.kernel_load.0 + 0x200)
    })
}

/// Loads an ELF kernel; PVH entry when it has the note, else the 64-bit `boot_params` entry.
/// `rsdp` is the ACPI RSDP's address.
pub fn load_elf(
    mem: &GuestMemoryMmap,
    image: &[u8],
    cmdline: &str,
    initrd: Option<(&[u8], &str)>,
    mem_bytes: u64,
    rsdp: u64,
) -> Result<EntryState, LinuxError> {
    let res = Elf::load(
        mem,
        None,
        &mut Cursor::new(image),
        Some(GuestAddress(HIMEM_START)),
    )
    .map_err(LinuxError::Loader)?;
    let initrd_addr = match initrd {
        Some((data, _)) => Some(place_initrd(
            mem,
            data,
            res.kernel_end,
            u64::MAX,
            mem_bytes,
        )?),
        None => None,
    };
    match res.pvh_boot_cap {
        PvhBootCapability::PvhEntryPresent(entry) => {
            let memmap: Vec<hvm_memmap_table_entry> = layout::memory_map(mem_bytes)
                .iter()
                .map(|e| hvm_memmap_table_entry {
                    addr: e.addr,
                    size: e.size,
                    type_: e.kind as u32,
                    reserved: 0,
                })
                .collect();
            let mut info = hvm_start_info {
                magic: XEN_HVM_START_MAGIC,
                version: 1,
                cmdline_paddr: CMDLINE_ADDR,
                memmap_paddr: layout::PVH_MEMMAP_ADDR,
                memmap_entries: memmap.len() as u32,
                rsdp_paddr: rsdp,
                ..Default::default()
            };
            let mut modules = Vec::new();
            if let (Some(addr), Some((data, _))) = (initrd_addr, initrd) {
                modules.push(hvm_modlist_entry {
                    paddr: addr,
                    size: data.len() as u64,
                    ..Default::default()
                });
                info.nr_modules = 1;
                info.modlist_paddr = layout::PVH_MODLIST_ADDR;
            }
            let mut params = BootParams::new(&info, GuestAddress(layout::PVH_INFO_ADDR));
            params.set_sections(&memmap, GuestAddress(layout::PVH_MEMMAP_ADDR));
            if !modules.is_empty() {
                params.set_modules(&modules, GuestAddress(layout::PVH_MODLIST_ADDR));
            }
            PvhBootConfigurator::write_bootparams(&params, mem)
                .map_err(LinuxError::Configurator)?;
            Ok(EntryState {
                rbx: layout::PVH_INFO_ADDR,
                ..EntryState::at(CpuMode::Protected, entry.0)
            })
        }
        _ => {
            let mut params = boot_params::default();
            params.hdr.type_of_loader = LOADER_OTHER;
            params.hdr.boot_flag = 0xaa55;
            params.hdr.header = 0x5372_6448;
            params.hdr.cmd_line_ptr = CMDLINE_ADDR as u32;
            params.hdr.cmdline_size = cmdline.len() as u32;
            params.hdr.kernel_alignment = 0x100_0000;
            if let (Some(addr), Some((data, _))) = (initrd_addr, initrd) {
                params.hdr.ramdisk_image = addr as u32;
                params.hdr.ramdisk_size = data.len() as u32;
            }
            write_boot_params(mem, params, mem_bytes, rsdp)?;
            Ok(EntryState {
                rsi: ZERO_PAGE_ADDR,
                rsp: BOOT_STACK,
                ..EntryState::at(CpuMode::Long, res.kernel_load.0)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{PVH_INFO_ADDR, RSDP_ADDR};
    use vm_memory::Bytes;

    const MEM: u64 = 64 << 20;

    fn mem() -> GuestMemoryMmap {
        GuestMemoryMmap::from_ranges(&[(GuestAddress(0), MEM as usize)]).unwrap()
    }

    fn put(b: &mut [u8], off: usize, v: &[u8]) {
        b[off..off + v.len()].copy_from_slice(v);
    }

    fn rd(mem: &GuestMemoryMmap, addr: u64, n: usize) -> u64 {
        let mut b = [0u8; 8];
        mem.read_slice(&mut b[..n], GuestAddress(addr)).unwrap();
        u64::from_le_bytes(b)
    }

    /// A bzImage of boot protocol 2.15 with one setup sector and a 4 KiB "kernel".
    fn bzimage() -> Vec<u8> {
        let mut b = vec![0u8; 2 * 512 + 4096];
        b[0x1f1] = 1; // setup_sects
        put(&mut b, 0x1fe, &[0x55, 0xaa]);
        put(&mut b, 0x202, b"HdrS");
        put(&mut b, 0x206, &0x020fu16.to_le_bytes());
        b[0x211] = 1; // loadflags: LOADED_HIGH
        put(&mut b, 0x214, &0x10_0000u32.to_le_bytes()); // code32_start
        put(&mut b, 0x22c, &0x7fff_ffffu32.to_le_bytes()); // initrd_addr_max
        put(&mut b, 0x236, &XLF_KERNEL_64.to_le_bytes());
        put(&mut b, 0x238, &2047u32.to_le_bytes()); // cmdline_size
        b
    }

    /// A 64-bit ELF kernel with one PT_LOAD at 1 MiB and, with `pvh`, a PT_NOTE holding
    /// XEN_ELFNOTE_PHYS32_ENTRY.
    fn elf64(pvh: Option<u32>) -> Vec<u8> {
        use vmm_core::elf::build::{note, ElfBuilder};
        use vmm_core::elf::{ByteOrder, Class, EM_X86_64};
        let le = ByteOrder::Little;
        let b = ElfBuilder::new(Class::Elf64, le, EM_X86_64)
            .entry(0x10_0000)
            .load(0x10_0000, 0x10_0000, &[0xf4; 0x80], 0x80);
        match pvh {
            Some(entry) => b.notes(&note(le, b"Xen", 18, &entry.to_le_bytes())),
            None => b,
        }
        .build()
    }

    #[test]
    fn bzimage_boot_params_carry_the_rsdp_e820_cmdline_and_initrd() {
        let m = mem();
        let e = load_bzimage(
            &m,
            &bzimage(),
            "console=ttyS0",
            Some(&[7u8; 100]),
            MEM,
            RSDP_ADDR,
        )
        .unwrap();
        assert_eq!(
            (e.mode, e.rip, e.rsi),
            (CpuMode::Long, 0x10_0200, ZERO_PAGE_ADDR)
        );
        let zp = ZERO_PAGE_ADDR;
        assert_eq!(
            rd(&m, zp + 0x70, 8),
            RSDP_ADDR,
            "boot_params.acpi_rsdp_addr"
        );
        assert_eq!(rd(&m, zp + 0x1e8, 1), 3, "e820 entries");
        assert_eq!(rd(&m, zp + 0x210, 1), 0xff, "type_of_loader");
        assert_eq!(rd(&m, zp + 0x228, 4), CMDLINE_ADDR);
        let initrd = rd(&m, zp + 0x218, 4);
        assert_eq!(rd(&m, zp + 0x21c, 4), 100);
        assert_eq!(rd(&m, initrd, 1), 7);
        let too_long = "x".repeat(2048);
        assert!(matches!(
            load_bzimage(&m, &bzimage(), &too_long, None, MEM, RSDP_ADDR),
            Err(LinuxError::CmdlineTooLong { .. })
        ));
    }

    #[test]
    fn elf_kernels_get_the_rsdp_through_pvh_start_info_or_boot_params() {
        let m = mem();
        let e = load_elf(&m, &elf64(Some(0x10_0040)), "", None, MEM, RSDP_ADDR).unwrap();
        assert_eq!(
            (e.mode, e.rip, e.rbx),
            (CpuMode::Protected, 0x10_0040, PVH_INFO_ADDR)
        );
        assert_eq!(rd(&m, PVH_INFO_ADDR, 4), u64::from(XEN_HVM_START_MAGIC));
        // hvm_start_info.rsdp_paddr is at offset 0x20 (xen/arch-x86/hvm/start_info.h).
        assert_eq!(rd(&m, PVH_INFO_ADDR + 0x20, 8), RSDP_ADDR);

        let m = mem();
        let e = load_elf(&m, &elf64(None), "", None, MEM, RSDP_ADDR).unwrap();
        assert_eq!(
            (e.mode, e.rip, e.rsi),
            (CpuMode::Long, 0x10_0000, ZERO_PAGE_ADDR)
        );
        assert_eq!(rd(&m, ZERO_PAGE_ADDR + 0x70, 8), RSDP_ADDR);
    }
}
