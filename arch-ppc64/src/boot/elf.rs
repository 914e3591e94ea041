//! 64-bit PowerPC ELF images (`vmlinux`, and small kernels built for QEMU's pseries machine),
//! loaded the way QEMU's pseries machine loads `-kernel`: every loadable segment at its physical
//! address within the first 256 MiB (`p_paddr & 0x0fff_ffff`), moved up by [`KERNEL_LOAD_ADDR`],
//! and the boot vCPU entered at the entry point moved the same way (0x400000 for a kernel
//! linked at 0 or at 0xc000000000000000, as Linux's vmlinux is). A guest written against QEMU
//! therefore finds itself where it expects, with r3 = the device tree.
//!
//! The image is read by tetra's one ELF reader, [`vmm_core::elf`], which bounds-checks what it
//! reads: a malformed image is an error, never a panic. This file is ppc64's policy on top:
//! EM_PPC64, 64-bit, either byte order (the boot vCPU starts in the image's), an executable,
//! at least one loadable segment, the entry point inside one.

use thiserror::Error;
pub use vmm_core::elf::{is_elf, ByteOrder, EM_PPC64};
use vmm_core::elf::{Class, Elf, ET_DYN, ET_EXEC};

/// Where QEMU's pseries machine puts a `-kernel` image (`KERNEL_LOAD_ADDR`), and so tetra.
pub const KERNEL_LOAD_ADDR: u64 = 0x40_0000;
/// The part of a segment's physical address that is kept (QEMU's `translate_kernel_address`).
pub const LOAD_MASK: u64 = 0x0fff_ffff;

/// Why an ELF was refused: malformed (the shared reader's error) or not a ppc64 kernel.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ElfError {
    /// The image is not well-formed ELF.
    #[error(transparent)]
    Malformed(#[from] vmm_core::elf::ElfError),
    /// Not a 64-bit PowerPC image.
    #[error("ELF machine {machine}, {bits}-bit: ppc64 loads 64-bit PowerPC (machine 21) images")]
    WrongMachine {
        /// e_machine.
        machine: u16,
        /// 32 or 64.
        bits: u8,
    },
    /// Not executable.
    #[error("ELF type {0} is not an executable (2) or a position-independent executable (3)")]
    NotExecutable(u16),
    /// No loadable segment.
    #[error("ELF has no loadable segment")]
    NoLoad,
    /// Entry point in no segment.
    #[error("ELF entry point {0:#x} is in no loadable segment")]
    EntryOutside(u64),
}

/// A segment where it goes in guest RAM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Guest-physical address (translated).
    pub addr: u64,
    /// Bytes from the file.
    pub data: &'a [u8],
    /// Bytes in memory (the rest is zeroed).
    pub mem_size: u64,
}

/// A ppc64 ELF image, placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfKernel<'a> {
    /// Its byte order (the boot vCPU's MSR\[LE\]).
    pub byte_order: ByteOrder,
    /// The loadable segments, translated.
    pub segments: Vec<Segment<'a>>,
    /// The entry point, translated.
    pub entry: u64,
}

/// Where QEMU's pseries machine puts physical address `paddr` of a `-kernel` image.
pub fn translate(paddr: u64) -> u64 {
    (paddr & LOAD_MASK) + KERNEL_LOAD_ADDR
}

/// Reads a 64-bit PowerPC ELF executable (through [`vmm_core::elf`]) and places it as QEMU's
/// pseries machine does.
pub fn parse(bytes: &[u8]) -> Result<ElfKernel<'_>, ElfError> {
    let elf = Elf::parse(bytes)?;
    if elf.machine != EM_PPC64 || elf.class != Class::Elf64 {
        return Err(ElfError::WrongMachine {
            machine: elf.machine,
            bits: elf.class.bits(),
        });
    }
    if elf.e_type != ET_EXEC && elf.e_type != ET_DYN {
        return Err(ElfError::NotExecutable(elf.e_type));
    }
    // The reader checked that no segment's address range wraps and that filesz <= memsz.
    let loads: Vec<_> = elf.loads().filter(|p| p.memsz > 0).collect();
    if loads.is_empty() {
        return Err(ElfError::NoLoad);
    }
    // The entry point is virtual (Linux: 0xc000000000000000 + offset) or physical.
    let entry_phys = loads
        .iter()
        .find(|p| (p.vaddr..p.vaddr + p.memsz).contains(&elf.entry))
        .map(|p| elf.entry - p.vaddr + p.paddr)
        .or_else(|| {
            loads
                .iter()
                .any(|p| (p.paddr..p.paddr + p.memsz).contains(&elf.entry))
                .then_some(elf.entry)
        })
        .ok_or(ElfError::EntryOutside(elf.entry))?;
    Ok(ElfKernel {
        byte_order: elf.byte_order,
        segments: loads
            .iter()
            .map(|p| Segment {
                addr: translate(p.paddr),
                data: p.data,
                mem_size: p.memsz,
            })
            .collect(),
        entry: translate(entry_phys),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmm_core::elf::build::ElfBuilder;
    use vmm_core::elf::{ElfError as Malformed, EM_PPC, ET_EXEC};

    fn image(order: ByteOrder, entry: u64, segs: &[(u64, u64, &[u8], u64)]) -> Vec<u8> {
        let b = ElfBuilder::new(Class::Elf64, order, EM_PPC64).entry(entry);
        segs.iter()
            .fold(b, |b, (v, p, d, m)| b.load(*v, *p, d, *m))
            .build()
    }

    #[test]
    fn a_guest_linked_at_0_goes_to_0x400000() {
        let text = [0x60u8; 64];
        let img = image(ByteOrder::Little, 0, &[(0, 0, &text, 0x2000)]);
        let k = parse(&img).unwrap();
        assert_eq!(k.byte_order, ByteOrder::Little);
        assert_eq!(k.entry, 0x40_0000);
        assert_eq!(
            k.segments,
            [Segment {
                addr: 0x40_0000,
                data: &text[..],
                mem_size: 0x2000
            }]
        );
    }

    #[test]
    fn vmlinux_goes_where_qemu_puts_it() {
        let text = [0u8; 16];
        let img = image(
            ByteOrder::Big,
            0xc000_0000_0000_0010,
            &[(0xc000_0000_0000_0000, 0, &text, 0x10_0000)],
        );
        let k = parse(&img).unwrap();
        assert_eq!((k.byte_order, k.entry), (ByteOrder::Big, 0x40_0010));
        assert_eq!(k.segments[0].addr, 0x40_0000);
        // An entry given as a physical address works too; high physical bits are dropped as
        // QEMU drops them.
        let img = image(
            ByteOrder::Little,
            0x1_0000_0100,
            &[(0x100, 0x1_0000_0000, &text, 0x1000)],
        );
        let k = parse(&img).unwrap();
        assert_eq!((k.segments[0].addr, k.entry), (0x40_0000, 0x40_0100));
    }

    #[test]
    fn refuses_what_is_not_a_ppc64_kernel() {
        let text = [0u8; 16];
        assert_eq!(
            parse(b"not an elf at all").unwrap_err(),
            ElfError::Malformed(Malformed::NotElf)
        );
        let b32 = ElfBuilder::new(Class::Elf32, ByteOrder::Big, EM_PPC)
            .load(0, 0, &text, 16)
            .build();
        assert_eq!(
            parse(&b32).unwrap_err(),
            ElfError::WrongMachine {
                machine: EM_PPC,
                bits: 32
            }
        );
        let x86 = ElfBuilder::new(Class::Elf64, ByteOrder::Little, 62)
            .load(0, 0, &text, 16)
            .build();
        assert!(parse(&x86).unwrap_err().to_string().contains("machine 62"));
        let none = ElfBuilder::new(Class::Elf64, ByteOrder::Little, EM_PPC64).build();
        assert_eq!(parse(&none).unwrap_err(), ElfError::NoLoad);
        let img = image(ByteOrder::Little, 0x5000, &[(0, 0, &text, 16)]);
        assert_eq!(parse(&img).unwrap_err(), ElfError::EntryOutside(0x5000));
        let rel = ElfBuilder::new(Class::Elf64, ByteOrder::Little, EM_PPC64)
            .e_type(1)
            .load(0, 0, &text, 16)
            .build();
        assert_eq!(parse(&rel).unwrap_err(), ElfError::NotExecutable(1));
        let _ = ET_EXEC;
    }
}
