//! Multiboot (v1) kernels: header search, ELF and a.out-kludge loading, and the information
//! structure (memory sizes, memory map, command line, modules). The kernel is entered in 32-bit
//! protected mode with EAX = 0x2BADB002 and EBX = the information structure.

use super::elf::{self, ElfError};
use super::entry::{CpuMode, EntryState};
use crate::layout::{
    self, MemKind, CMDLINE_ADDR, CMDLINE_MAX, EBDA_START, GDT_ADDR, HIMEM_START, IDT_ADDR,
    MB_INFO_ADDR,
};
use vmm_core::memory::{write_guest, zero_guest, GuestMemoryMmap, MemoryError};

/// The header magic.
pub const HEADER_MAGIC: u32 = 0x1bad_b002;
/// The value in EAX at entry.
pub const BOOTLOADER_MAGIC: u32 = 0x2bad_b002;
/// The header lies in the first 8 KiB, 4-byte aligned.
pub const SEARCH_LEN: usize = 8192;

/// Header flag: align modules on 4 KiB pages.
pub const FLAG_PAGE_ALIGN: u32 = 1 << 0;
/// Header flag: memory information required.
pub const FLAG_MEMORY_INFO: u32 = 1 << 1;
/// Header flag: video mode information required (not supported: tetra has no framebuffer).
pub const FLAG_VIDEO_MODE: u32 = 1 << 2;
/// Header flag: the a.out kludge address fields are valid.
pub const FLAG_AOUT_KLUDGE: u32 = 1 << 16;

const INFO_MEM: u32 = 1 << 0;
const INFO_CMDLINE: u32 = 1 << 2;
const INFO_MODS: u32 = 1 << 3;
const INFO_MMAP: u32 = 1 << 6;
const INFO_LOADER_NAME: u32 = 1 << 9;

const MMAP_ADDR: u64 = MB_INFO_ADDR + 0x100;
const MODS_ADDR: u64 = MB_INFO_ADDR + 0x200;
const STRINGS_ADDR: u64 = MB_INFO_ADDR + 0x300;
const STRINGS_END: u64 = MB_INFO_ADDR + 0x1000;

/// What tetra itself puts below 1 MiB for a multiboot kernel, or is not RAM there: a segment may
/// load anywhere else (real-mode test kernels load at 0x8000), and over these never.
const LOW_RESERVED: [(&str, u64, u64); 4] = [
    ("the boot GDT and IDT", GDT_ADDR, IDT_ADDR + 8),
    ("the multiboot information", MB_INFO_ADDR, STRINGS_END),
    (
        "the command line",
        CMDLINE_ADDR,
        CMDLINE_ADDR + CMDLINE_MAX as u64,
    ),
    ("the EBDA, VGA and BIOS area", EBDA_START, HIMEM_START),
];

/// Errors loading a multiboot kernel.
#[derive(Debug, thiserror::Error)]
pub enum MultibootError {
    /// The header asks for something tetra cannot provide.
    #[error(
        "multiboot header requests unsupported features (flags {0:#x}): tetra has no video modes"
    )]
    UnsupportedFlags(u32),
    /// The ELF image is malformed.
    #[error(transparent)]
    Elf(#[from] ElfError),
    /// The a.out kludge fields are inconsistent.
    #[error("multiboot a.out kludge: {0}")]
    BadAout(&'static str),
    /// A segment would load over tetra's boot data or the area below 1 MiB that is not RAM.
    #[error("segment {start:#x}-{end:#x} overlaps {what} ({at:#x}-{at_end:#x})")]
    Overlaps {
        /// The segment's first byte.
        start: u64,
        /// Its last byte.
        end: u64,
        /// What it would overwrite.
        what: &'static str,
        /// That range's first byte.
        at: u64,
        /// Its last byte.
        at_end: u64,
    },
    /// Guest memory is too small.
    #[error(transparent)]
    Memory(#[from] MemoryError),
}

/// The a.out kludge address fields (header flag bit 16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AoutKludge {
    /// Physical address of the header itself.
    pub header_addr: u32,
    /// Start of the text segment.
    pub load_addr: u32,
    /// End of data (0: to the end of the file).
    pub load_end_addr: u32,
    /// End of bss (0: no bss).
    pub bss_end_addr: u32,
    /// Entry point.
    pub entry_addr: u32,
}

/// A multiboot header found in an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Its file offset.
    pub offset: usize,
    /// Its flags.
    pub flags: u32,
    /// The a.out kludge fields, when flag bit 16 is set.
    pub aout: Option<AoutKludge>,
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

/// Finds a multiboot header with a valid checksum in the first 8 KiB of `image`.
pub fn find_header(image: &[u8]) -> Option<Header> {
    let area = &image[..image.len().min(SEARCH_LEN)];
    (0..area.len().saturating_sub(11))
        .step_by(4)
        .find_map(|off| {
            let magic = u32_at(area, off)?;
            let flags = u32_at(area, off + 4)?;
            let sum = u32_at(area, off + 8)?;
            if magic != HEADER_MAGIC || magic.wrapping_add(flags).wrapping_add(sum) != 0 {
                return None;
            }
            let aout = if flags & FLAG_AOUT_KLUDGE != 0 {
                Some(AoutKludge {
                    header_addr: u32_at(image, off + 12)?,
                    load_addr: u32_at(image, off + 16)?,
                    load_end_addr: u32_at(image, off + 20)?,
                    bss_end_addr: u32_at(image, off + 24)?,
                    entry_addr: u32_at(image, off + 28)?,
                })
            } else {
                None
            };
            Some(Header {
                offset: off,
                flags,
                aout,
            })
        })
}

/// A region to copy into guest memory, then zero-fill to `memsz`.
struct Chunk<'a> {
    addr: u64,
    bytes: &'a [u8],
    memsz: u64,
}

fn aout_chunk<'a>(
    image: &'a [u8],
    hdr: &Header,
    a: &AoutKludge,
) -> Result<Chunk<'a>, MultibootError> {
    let before = a
        .header_addr
        .checked_sub(a.load_addr)
        .ok_or(MultibootError::BadAout("header_addr below load_addr"))? as usize;
    let start = hdr
        .offset
        .checked_sub(before)
        .ok_or(MultibootError::BadAout(
            "load_addr lies before the start of the file",
        ))?;
    let len = if a.load_end_addr == 0 {
        image.len() - start
    } else {
        a.load_end_addr
            .checked_sub(a.load_addr)
            .ok_or(MultibootError::BadAout("load_end_addr below load_addr"))? as usize
    };
    let bytes = image
        .get(start..start.saturating_add(len))
        .ok_or(MultibootError::BadAout(
            "load_end_addr lies beyond the end of the file",
        ))?;
    let end = u64::from(a.load_addr) + len as u64;
    let memsz = if a.bss_end_addr == 0 {
        len as u64
    } else {
        u64::from(a.bss_end_addr)
            .checked_sub(end)
            .ok_or(MultibootError::BadAout("bss_end_addr below load_end_addr"))?
            + len as u64
    };
    Ok(Chunk {
        addr: u64::from(a.load_addr),
        bytes,
        memsz,
    })
}

/// Loads the kernel, its module (the initrd) and the information structure; returns the entry
/// state. `mem_bytes` is the guest RAM size.
pub fn load(
    mem: &GuestMemoryMmap,
    image: &[u8],
    hdr: &Header,
    cmdline_addr: u64,
    initrd: Option<(&[u8], &str)>,
    mem_bytes: u64,
) -> Result<EntryState, MultibootError> {
    // Bits 0-15 are requirements: refuse the ones tetra does not understand.
    if hdr.flags & 0xffff & !(FLAG_PAGE_ALIGN | FLAG_MEMORY_INFO) != 0 {
        return Err(MultibootError::UnsupportedFlags(hdr.flags));
    }
    let (chunks, entry) = match &hdr.aout {
        Some(a) => (vec![aout_chunk(image, hdr, a)?], u64::from(a.entry_addr)),
        None => {
            let img = elf::parse(image)?;
            let chunks = img
                .segments
                .iter()
                .map(|s| Chunk {
                    addr: s.paddr,
                    bytes: s.data,
                    memsz: s.memsz,
                })
                .collect();
            (chunks, img.entry)
        }
    };
    let mut kernel_end = HIMEM_START;
    for c in &chunks {
        // An empty segment loads nothing, whatever address it gives (one at the top of the
        // address space must not move the kernel's end, where the module goes).
        if c.memsz == 0 {
            continue;
        }
        let end = c.addr.saturating_add(c.memsz);
        if let Some((what, at, at_end)) = LOW_RESERVED
            .into_iter()
            .find(|(_, at, at_end)| c.addr < *at_end && *at < end)
        {
            return Err(MultibootError::Overlaps {
                start: c.addr,
                end: end - 1,
                what,
                at,
                at_end: at_end - 1,
            });
        }
        write_guest(mem, "multiboot kernel segment", c.addr, c.bytes)?;
        let (bss_at, bss_len) = (
            c.addr + c.bytes.len() as u64,
            c.memsz - c.bytes.len() as u64,
        );
        // The image says how large the BSS is: the range is checked against RAM before any zero
        // is written, and no buffer of that size is allocated.
        zero_guest(mem, "multiboot kernel bss", bss_at, bss_len)?;
        kernel_end = kernel_end.max(c.addr + c.memsz);
    }

    let low_end = layout::low_ram_end(mem_bytes);
    let mut info = [0u8; 0x48];
    let mut put = |off: usize, v: u32| info[off..off + 4].copy_from_slice(&v.to_le_bytes());
    let mut flags = INFO_MEM | INFO_CMDLINE | INFO_MMAP | INFO_LOADER_NAME;
    put(4, (layout::EBDA_START.min(low_end) / 1024) as u32);
    put(8, (low_end.saturating_sub(HIMEM_START) / 1024) as u32);
    put(16, cmdline_addr as u32);

    let map = layout::memory_map(mem_bytes);
    let mut mmap = Vec::new();
    for e in &map {
        mmap.extend_from_slice(&20u32.to_le_bytes());
        mmap.extend_from_slice(&e.addr.to_le_bytes());
        mmap.extend_from_slice(&e.size.to_le_bytes());
        mmap.extend_from_slice(&(if e.kind == MemKind::Ram { 1u32 } else { 2 }).to_le_bytes());
    }
    put(44, mmap.len() as u32);
    put(48, MMAP_ADDR as u32);
    write_guest(mem, "multiboot memory map", MMAP_ADDR, &mmap)?;

    let loader = b"tetra\0";
    write_guest(mem, "multiboot loader name", STRINGS_ADDR, loader)?;
    put(64, STRINGS_ADDR as u32);

    if let Some((data, name)) = initrd {
        let start = kernel_end.next_multiple_of(0x1000);
        write_guest(mem, "the initrd (multiboot module 0)", start, data)?;
        let str_addr = STRINGS_ADDR + loader.len() as u64;
        let room = (STRINGS_END - str_addr - 1) as usize;
        let mut s = name.as_bytes()[..name.len().min(room)].to_vec();
        s.push(0);
        write_guest(mem, "multiboot module string", str_addr, &s)?;
        let mut m = Vec::new();
        for v in [start, start + data.len() as u64, str_addr, 0] {
            m.extend_from_slice(&(v as u32).to_le_bytes());
        }
        write_guest(mem, "multiboot module list", MODS_ADDR, &m)?;
        flags |= INFO_MODS;
        put(20, 1);
        put(24, MODS_ADDR as u32);
    }
    put(0, flags);
    write_guest(mem, "multiboot information", MB_INFO_ADDR, &info)?;

    Ok(EntryState {
        rax: u64::from(BOOTLOADER_MAGIC),
        rbx: MB_INFO_ADDR,
        ..EntryState::at(CpuMode::Protected, entry)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::elf::tests::elf32;
    use vm_memory::{Bytes, GuestAddress};

    fn header(flags: u32) -> Vec<u8> {
        let mut h = Vec::new();
        for v in [
            HEADER_MAGIC,
            flags,
            0u32.wrapping_sub(HEADER_MAGIC).wrapping_sub(flags),
        ] {
            h.extend_from_slice(&v.to_le_bytes());
        }
        h
    }

    fn mb_elf() -> Vec<u8> {
        let mut code = header(FLAG_MEMORY_INFO);
        code.extend_from_slice(&[0xf4; 4]);
        elf32(0x10_0000, &code)
    }

    #[test]
    fn finds_header_only_with_valid_checksum() {
        let img = mb_elf();
        assert_eq!(find_header(&img).unwrap().flags, FLAG_MEMORY_INFO);
        let mut bad = img.clone();
        bad[84 + 8] ^= 1;
        assert_eq!(find_header(&bad), None);
        // Past the first 8 KiB it is not looked for.
        let mut far = vec![0u8; SEARCH_LEN];
        far.extend_from_slice(&header(0));
        assert_eq!(find_header(&far), None);
    }

    #[test]
    fn loads_elf_with_info_and_module() {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 16 << 20)]).unwrap();
        let img = mb_elf();
        let hdr = find_header(&img).unwrap();
        let e = load(
            &mem,
            &img,
            &hdr,
            0x20000,
            Some((b"hello", "initrd.img")),
            16 << 20,
        )
        .unwrap();
        assert_eq!(
            (e.mode, e.rip, e.rax, e.rbx),
            (CpuMode::Protected, 0x10_0000, 0x2bad_b002, MB_INFO_ADDR)
        );
        let r = |a: u64| mem.read_obj::<u32>(GuestAddress(a)).unwrap();
        assert_eq!(
            r(MB_INFO_ADDR) & (INFO_MEM | INFO_MODS | INFO_MMAP),
            INFO_MEM | INFO_MODS | INFO_MMAP
        );
        assert_eq!(r(MB_INFO_ADDR + 8), (15 << 20) / 1024);
        assert_eq!(r(MB_INFO_ADDR + 20), 1);
        let (start, end) = (r(MODS_ADDR) as u64, r(MODS_ADDR + 4) as u64);
        assert_eq!(start % 4096, 0);
        assert_eq!(end - start, 5);
        let mut got = [0u8; 5];
        mem.read_slice(&mut got, GuestAddress(start)).unwrap();
        assert_eq!(&got, b"hello");
        // bss was zeroed: memsz = filesz + 16.
        assert_eq!(mem.read_obj::<u8>(GuestAddress(0x10_0000 + 16)).unwrap(), 0);
    }

    #[test]
    fn refuses_video_and_too_small_memory() {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 1 << 20)]).unwrap();
        let img = mb_elf();
        let hdr = find_header(&img).unwrap();
        assert!(matches!(
            load(&mem, &img, &hdr, 0x20000, None, 1 << 20),
            Err(MultibootError::Memory(_))
        ));
        // A 4 GiB BSS in 4 MiB of RAM is refused before it is allocated.
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 4 << 20)]).unwrap();
        let mut huge = img.clone();
        huge[52 + 20..52 + 24].copy_from_slice(&u32::MAX.to_le_bytes()); // p_memsz
        let e = load(&mem, &huge, &hdr, 0x20000, None, 4 << 20).unwrap_err();
        assert!(e.to_string().contains("multiboot kernel bss"), "{e}");
        let v = Header {
            flags: FLAG_VIDEO_MODE,
            ..hdr
        };
        assert!(matches!(
            load(&mem, &img, &v, 0, None, 1 << 20),
            Err(MultibootError::UnsupportedFlags(_))
        ));
    }

    /// Found by fuzzing (`fuzz/`, target `x86_boot`): an empty program header at the top of
    /// the address space passed the range checks (nothing to write) and made the kernel's end
    /// overflow when the module was placed after it (a panic with overflow checks, the module
    /// at address 0 without).
    #[test]
    fn an_empty_segment_at_the_top_does_not_move_the_module() {
        use vmm_core::elf::build::ElfBuilder;
        use vmm_core::elf::{ByteOrder, Class};
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 4 << 20)]).unwrap();
        let mut code = header(FLAG_MEMORY_INFO);
        code.extend_from_slice(&[0xf4; 4]);
        let img = ElfBuilder::new(Class::Elf64, ByteOrder::Little, 62)
            .entry(0x10_0000)
            .load(0x10_0000, 0x10_0000, &code, 0x1000)
            .load(0, 0xffff_ffff_ffff_fe00, &[], 0)
            .build();
        let hdr = find_header(&img).unwrap();
        load(&mem, &img, &hdr, 0x20000, Some((b"hi", "m")), 4 << 20).unwrap();
        let start = mem.read_obj::<u32>(GuestAddress(MODS_ADDR)).unwrap();
        assert_eq!(start, 0x10_1000, "the module follows the kernel");
    }

    #[test]
    fn segments_below_1_mib_load_where_tetra_keeps_nothing() {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 4 << 20)]).unwrap();
        let at = |addr: u64, len: usize| {
            let mut code = header(FLAG_MEMORY_INFO);
            code.resize(len, 0xf4);
            elf32(addr as u32, &code)
        };
        // A real-mode test kernel's place.
        let img = at(0x8000, 0x1000);
        let hdr = find_header(&img).unwrap();
        let e = load(&mem, &img, &hdr, CMDLINE_ADDR, Some((b"m", "m")), 4 << 20).unwrap();
        assert_eq!(e.rip, 0x8000);
        assert_eq!(
            mem.read_obj::<u32>(GuestAddress(0x8000)).unwrap(),
            HEADER_MAGIC
        );
        // The module still goes above 1 MiB.
        assert_eq!(
            mem.read_obj::<u32>(GuestAddress(MODS_ADDR)).unwrap(),
            0x10_0000
        );
        for (addr, len, what) in [
            (0x800, 0x1000, "the multiboot information"),
            (0x400, 0x200, "the boot GDT and IDT"),
            (0x1f000, 0x2000, "the command line"),
            (0x9f000, 0x1000, "the EBDA, VGA and BIOS area"),
            (0xf0000, 0x100, "the EBDA, VGA and BIOS area"),
        ] {
            let img = at(addr, len);
            let hdr = find_header(&img).unwrap();
            let e = load(&mem, &img, &hdr, CMDLINE_ADDR, None, 4 << 20).unwrap_err();
            let text = e.to_string();
            assert!(
                text.contains(what) && text.starts_with(&format!("segment {addr:#x}-")),
                "{addr:#x}: {text}"
            );
        }
    }

    #[test]
    fn aout_kludge_loads_flat_images() {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 4 << 20)]).unwrap();
        let mut img = header(FLAG_AOUT_KLUDGE);
        for v in [0x10_0000u32, 0x10_0000, 0, 0x10_1000, 0x10_0020] {
            img.extend_from_slice(&v.to_le_bytes());
        }
        img.extend_from_slice(&[0x90; 4]);
        let hdr = find_header(&img).unwrap();
        let e = load(&mem, &img, &hdr, 0x20000, None, 4 << 20).unwrap();
        assert_eq!(e.rip, 0x10_0020);
        assert_eq!(
            mem.read_obj::<u32>(GuestAddress(0x10_0000)).unwrap(),
            HEADER_MAGIC
        );
        // Inconsistent kludge fields are an error.
        let mut bad = img.clone();
        bad[12..16].copy_from_slice(&0x0f_0000u32.to_le_bytes());
        let hb = find_header(&bad).unwrap();
        assert!(matches!(
            load(&mem, &bad, &hb, 0, None, 4 << 20),
            Err(MultibootError::BadAout(_))
        ));
    }
}
