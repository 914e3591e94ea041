//! x86's policy on ELF kernels, read by tetra's one ELF reader ([`vmm_core::elf`]): little-endian
//! x86 or x86-64 images (ELF32 or ELF64) with at least one loadable segment, and the PVH entry
//! point of a Xen `XEN_ELFNOTE_PHYS32_ENTRY` note. Loading Linux ELF/PVH kernels is
//! linux-loader's job; this serves multiboot kernels (often ELF32, which linux-loader does not
//! read) and format detection.

pub use vmm_core::elf::is_elf;
use vmm_core::elf::{ByteOrder, Class, Elf, ProgramHeader, EM_386, EM_X86_64};

/// Errors reading an ELF image.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ElfError {
    /// The image is not well-formed ELF.
    #[error(transparent)]
    Malformed(#[from] vmm_core::elf::ElfError),
    /// A big-endian image.
    #[error("unsupported ELF: big-endian ELF on x86")]
    BigEndian,
    /// Not an x86 machine.
    #[error("unsupported ELF: machine {0} is not x86 (3) or x86-64 (62)")]
    NotX86(u16),
    /// Nothing to load.
    #[error("unsupported ELF: no loadable segment")]
    NoLoad,
    /// A PVH note whose descriptor is not an address.
    #[error("bad PVH note: its entry point is {0} bytes, expected 4 or 8")]
    PvhNote(usize),
}

/// Xen's `XEN_ELFNOTE_PHYS32_ENTRY`: the PVH entry point.
pub const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;

/// What tetra needs from an x86 ELF image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfImage<'a> {
    /// ELF64 (true) or ELF32.
    pub is64: bool,
    /// Entry point.
    pub entry: u64,
    /// Loadable segments, in file order.
    pub segments: Vec<ProgramHeader<'a>>,
    /// The PVH entry point, if a Xen note declares one.
    pub pvh_entry: Option<u64>,
}

/// Reads `b` and applies x86's policy.
pub fn parse(b: &[u8]) -> Result<ElfImage<'_>, ElfError> {
    let elf = Elf::parse(b)?;
    if elf.byte_order != ByteOrder::Little {
        return Err(ElfError::BigEndian);
    }
    if elf.machine != EM_386 && elf.machine != EM_X86_64 {
        return Err(ElfError::NotX86(elf.machine));
    }
    let segments: Vec<_> = elf.loads().cloned().collect();
    if segments.is_empty() {
        return Err(ElfError::NoLoad);
    }
    let pvh_entry = match elf.find_note(b"Xen", XEN_ELFNOTE_PHYS32_ENTRY)? {
        Some(n) => Some(n.desc_word().ok_or(ElfError::PvhNote(n.desc.len()))?),
        None => None,
    };
    Ok(ElfImage {
        is64: elf.class == Class::Elf64,
        entry: elf.entry,
        segments,
        pvh_entry,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use vmm_core::elf::build::{note, ElfBuilder};
    use vmm_core::elf::{ElfError as Malformed, EM_AARCH64};

    /// A minimal ELF32 with one PT_LOAD of `code` at `paddr` (its bytes at file offset 84, then
    /// 16 bytes of BSS), entry at `paddr`.
    pub(crate) fn elf32(paddr: u32, code: &[u8]) -> Vec<u8> {
        let paddr = u64::from(paddr);
        ElfBuilder::new(Class::Elf32, ByteOrder::Little, EM_386)
            .entry(paddr)
            .load(paddr, paddr, code, code.len() as u64 + 16)
            .build()
    }

    /// An ELF64 loading 16 bytes at 1 MiB, with a Xen PVH note whose descriptor is `pvh`.
    fn elf64_pvh(pvh: &[u8]) -> Vec<u8> {
        let order = ByteOrder::Little;
        ElfBuilder::new(Class::Elf64, order, EM_X86_64)
            .entry(0x10_0000)
            .load(0x10_0000, 0x10_0000, &[0xf4; 16], 16)
            .notes(&note(order, b"Xen", XEN_ELFNOTE_PHYS32_ENTRY, pvh))
            .build()
    }

    #[test]
    fn reads_a_minimal_elf32() {
        let img = elf32(0x10_0000, &[0xf4; 8]);
        let e = parse(&img).unwrap();
        assert!(!e.is64);
        assert_eq!(e.entry, 0x10_0000);
        assert_eq!(e.pvh_entry, None);
        let s = &e.segments[0];
        assert_eq!(
            (s.paddr, s.offset, s.filesz, s.memsz, s.data),
            (0x10_0000, 84, 8, 24, &[0xf4; 8][..])
        );
    }

    #[test]
    fn refuses_what_x86_does_not_boot() {
        let mut arm = elf32(0x10_0000, &[0xf4; 8]);
        arm[18] = 40; // EM_ARM
        assert_eq!(parse(&arm), Err(ElfError::NotX86(40)));
        let be = ElfBuilder::new(Class::Elf64, ByteOrder::Big, EM_X86_64)
            .load(0, 0, &[0; 8], 8)
            .build();
        assert_eq!(parse(&be), Err(ElfError::BigEndian));
        let arm64 = ElfBuilder::new(Class::Elf64, ByteOrder::Little, EM_AARCH64)
            .load(0, 0, &[0; 8], 8)
            .build();
        assert_eq!(parse(&arm64), Err(ElfError::NotX86(EM_AARCH64)));
        let nothing = ElfBuilder::new(Class::Elf32, ByteOrder::Little, EM_386).build();
        assert_eq!(parse(&nothing), Err(ElfError::NoLoad));
        // The reader's errors come through unchanged: a count the file cannot hold, a segment
        // beyond the end of the file.
        let mut b = elf32(0x10_0000, &[0xf4; 8]);
        b[44..46].copy_from_slice(&1000u16.to_le_bytes());
        assert!(matches!(
            parse(&b),
            Err(ElfError::Malformed(Malformed::TooManyProgramHeaders(1000)))
        ));
        let mut b = elf32(0x10_0000, &[0xf4; 8]);
        b[52 + 16..52 + 20].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = parse(&b).unwrap_err();
        assert!(matches!(
            e,
            ElfError::Malformed(Malformed::SegmentOutsideFile { index: 0, .. })
        ));
        assert!(e.to_string().starts_with("bad ELF program header 0"), "{e}");
    }

    #[test]
    fn finds_the_pvh_note() {
        let img = elf64_pvh(&0x1234_5678u32.to_le_bytes());
        let e = parse(&img).unwrap();
        assert!(e.is64);
        assert_eq!(e.pvh_entry, Some(0x1234_5678));
        let img = elf64_pvh(&0x1_0000_0040u64.to_le_bytes());
        assert_eq!(parse(&img).unwrap().pvh_entry, Some(0x1_0000_0040));
        assert_eq!(parse(&elf64_pvh(&[1, 2])), Err(ElfError::PvhNote(2)));
        // A note cut short is an error, not a missing note.
        let mut cut = elf64_pvh(&0x1234_5678u32.to_le_bytes());
        let n = cut.len();
        let filesz = 64 + 56 + 32; // the PT_NOTE's p_filesz
        cut[filesz..filesz + 8].copy_from_slice(&19u64.to_le_bytes());
        assert!(matches!(
            parse(&cut[..n - 1]),
            Err(ElfError::Malformed(Malformed::BadNote { index: 1, .. }))
        ));
    }
}
