//! Big-endian PowerPC ELF kernels (`vmlinux`), 32-bit (EM_PPC) or 64-bit (EM_PPC64).
//!
//! Loadable segments go to their physical address (`p_paddr`: 0 for Linux, whose `p_vaddr` is
//! 0xc0000000 or 0xc000000000000000). The entry point `e_entry` is virtual; it is converted to
//! the physical address inside the segment that holds it, because the kernel starts with the
//! boot TLB entry mapping effective address 0 to real address 0.
//!
//! The image is read by tetra's one ELF reader, [`vmm_core::elf`], which bounds-checks everything
//! it reads: a malformed ELF is an error, never a panic. This file is BookE's policy on top.

use thiserror::Error;
pub use vmm_core::elf::{is_elf, Class as ElfClass, EM_PPC, EM_PPC64};
use vmm_core::elf::{ByteOrder, Elf, ET_DYN, ET_EXEC};

/// Why an ELF was refused: malformed (the shared reader's error) or not a BookE kernel.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ElfError {
    /// The image is not well-formed ELF.
    #[error(transparent)]
    Malformed(#[from] vmm_core::elf::ElfError),
    /// Little-endian.
    #[error("ELF is little-endian; BookE kernels are big-endian")]
    LittleEndian,
    /// Wrong machine.
    #[error("ELF machine {0} is not PowerPC (20) or PowerPC64 (21)")]
    WrongMachine(u16),
    /// Class and machine disagree.
    #[error("ELF class {class}-bit does not match machine {machine}")]
    ClassMismatch {
        /// 32 or 64.
        class: u8,
        /// e_machine.
        machine: u16,
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

/// A loadable segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfSegment<'a> {
    /// Guest physical load address.
    pub paddr: u64,
    /// Virtual address.
    pub vaddr: u64,
    /// Bytes from the file.
    pub data: &'a [u8],
    /// Bytes in memory (the rest is zeroed).
    pub mem_size: u64,
}

/// A parsed ELF kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfKernel<'a> {
    /// Class.
    pub class: ElfClass,
    /// Loadable segments.
    pub segments: Vec<ElfSegment<'a>>,
    /// `e_entry` (virtual).
    pub entry_virtual: u64,
    /// The entry point as a physical address.
    pub entry: u64,
}

/// Reads a big-endian PowerPC ELF executable (through [`vmm_core::elf`]) and applies BookE's
/// policy: big-endian, EM_PPC for ELF32 and EM_PPC64 for ELF64, an executable, at least one
/// loadable segment with memory bytes, and an entry point inside one.
pub fn parse(bytes: &[u8]) -> Result<ElfKernel<'_>, ElfError> {
    let elf = Elf::parse(bytes)?;
    if elf.byte_order != ByteOrder::Big {
        return Err(ElfError::LittleEndian);
    }
    let machine = elf.machine;
    if machine != EM_PPC && machine != EM_PPC64 {
        return Err(ElfError::WrongMachine(machine));
    }
    if (machine == EM_PPC64) != (elf.class == ElfClass::Elf64) {
        return Err(ElfError::ClassMismatch {
            class: elf.class.bits(),
            machine,
        });
    }
    if elf.e_type != ET_EXEC && elf.e_type != ET_DYN {
        return Err(ElfError::NotExecutable(elf.e_type));
    }
    // The reader checked every segment's bytes, `filesz <= memsz` and that neither address
    // range wraps, so the sums below cannot overflow.
    let segments: Vec<_> = elf
        .loads()
        .filter(|p| p.memsz > 0)
        .map(|p| ElfSegment {
            paddr: p.paddr,
            vaddr: p.vaddr,
            data: p.data,
            mem_size: p.memsz,
        })
        .collect();
    if segments.is_empty() {
        return Err(ElfError::NoLoad);
    }
    let entry_virtual = elf.entry;
    let entry = elf
        .entry_physical()
        .ok_or(ElfError::EntryOutside(entry_virtual))?;
    Ok(ElfKernel {
        class: elf.class,
        segments,
        entry_virtual,
        entry,
    })
}

/// A minimal big-endian PowerPC ELF for tests (EM_PPC for ELF32, EM_PPC64 for ELF64): one
/// PT_LOAD per `(vaddr, paddr, data, memsz)`.
#[cfg(test)]
pub(crate) fn build(class: ElfClass, entry: u64, segs: &[(u64, u64, &[u8], u64)]) -> Vec<u8> {
    let machine = match class {
        ElfClass::Elf32 => EM_PPC,
        ElfClass::Elf64 => EM_PPC64,
    };
    let b = vmm_core::elf::build::ElfBuilder::new(class, ByteOrder::Big, machine).entry(entry);
    segs.iter()
        .fold(b, |b, (vaddr, paddr, data, memsz)| {
            b.load(*vaddr, *paddr, data, *memsz)
        })
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_64_and_32_bit() {
        let text = [0x60u8; 256];
        let img = build(
            ElfClass::Elf64,
            0xc000_0000_0000_0100,
            &[(0xc000_0000_0000_0000, 0, &text, 0x10000)],
        );
        let k = parse(&img).unwrap();
        assert_eq!(k.class, ElfClass::Elf64);
        assert_eq!(k.entry, 0x100);
        assert_eq!(k.segments[0].data, &text[..]);
        assert_eq!(k.segments[0].mem_size, 0x10000);

        let img = build(
            ElfClass::Elf32,
            0xc000_0000,
            &[(0xc000_0000, 0, &text, 0x400)],
        );
        let k = parse(&img).unwrap();
        assert_eq!(
            (k.class, k.entry, k.entry_virtual),
            (ElfClass::Elf32, 0, 0xc000_0000)
        );
        // Entry given as a physical address also works.
        let img = build(ElfClass::Elf32, 0x10, &[(0xc000_0000, 0, &text, 0x400)]);
        assert_eq!(parse(&img).unwrap().entry, 0x10);
    }

    #[test]
    fn refuses_what_is_not_a_booke_kernel() {
        use vmm_core::elf::build::ElfBuilder;
        use vmm_core::elf::ElfError as Malformed;
        let text = [1u8; 64];
        let good = build(ElfClass::Elf64, 0, &[(0, 0, &text, 64)]);
        assert!(parse(&good).is_ok());
        assert_eq!(parse(b"MZ"), Err(ElfError::Malformed(Malformed::NotElf)));
        let le = ElfBuilder::new(ElfClass::Elf64, ByteOrder::Little, EM_PPC64)
            .load(0, 0, &text, 64)
            .build();
        assert_eq!(parse(&le), Err(ElfError::LittleEndian));
        let mut m = good.clone();
        m[19] = 62; // x86_64
        assert_eq!(parse(&m), Err(ElfError::WrongMachine(62)));
        let mut m = good.clone();
        m[19] = EM_PPC as u8;
        assert!(matches!(parse(&m), Err(ElfError::ClassMismatch { .. })));
        let mut t = good.clone();
        t[17] = 1; // ET_REL
        assert_eq!(parse(&t), Err(ElfError::NotExecutable(1)));
        let outside = build(ElfClass::Elf64, 0x5000, &[(0, 0, &text, 64)]);
        assert_eq!(parse(&outside), Err(ElfError::EntryOutside(0x5000)));
        let none = build(ElfClass::Elf32, 0, &[]);
        assert_eq!(parse(&none), Err(ElfError::NoLoad));
        let empty = build(ElfClass::Elf32, 0, &[(0, 0, &[], 0)]);
        assert_eq!(parse(&empty), Err(ElfError::NoLoad), "no memory bytes");
        // What the reader refuses comes through unchanged (its own tests cover each case).
        let over = build(ElfClass::Elf64, 0, &[(0, 0, &text, 8)]);
        assert!(matches!(
            parse(&over),
            Err(ElfError::Malformed(Malformed::FileszOverMemsz { .. }))
        ));
        let wrap = build(ElfClass::Elf64, 0, &[(0, u64::MAX - 4, &text, 64)]);
        let e = parse(&wrap).unwrap_err();
        assert!(matches!(
            e,
            ElfError::Malformed(Malformed::SegmentWraps { .. })
        ));
        assert!(e.to_string().starts_with("bad ELF program header 0"), "{e}");
    }

    /// Truncations are the reader's (`vmm_core::elf`'s tests, every class and byte order); this
    /// covers the policy's entry-point arithmetic on corrupted headers.
    #[test]
    fn every_corruption_is_handled() {
        let text = [0x55u8; 100];
        let img = build(
            ElfClass::Elf64,
            0x10,
            &[(0, 0, &text, 200), (0x1000, 0x1000, &text, 100)],
        );
        assert!(parse(&img).is_ok());
        // Random byte flips in the headers: any result, but no panic.
        let mut rng = crate::test_util::Rng::new(5);
        for _ in 0..5000 {
            let mut bad = img.clone();
            let at = rng.below(64 + 2 * 56) as usize;
            bad[at] = rng.next() as u8;
            let _ = parse(&bad);
        }
    }
}
