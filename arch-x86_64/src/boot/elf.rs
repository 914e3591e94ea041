//! A small, bounds-checked reader of little-endian x86 ELF images (ELF32 and ELF64): program
//! headers and notes. Loading Linux ELF/PVH kernels is linux-loader's job; this serves multiboot
//! kernels (often ELF32, which linux-loader does not read) and format detection.

/// Errors reading an ELF image.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ElfError {
    /// The image ends before a structure it declares.
    #[error("truncated ELF: {0} lies beyond the end of the file")]
    Truncated(&'static str),
    /// Not a little-endian ELF32/ELF64 image.
    #[error("unsupported ELF: {0}")]
    Unsupported(&'static str),
    /// A program header is inconsistent.
    #[error("bad ELF program header {index}: {reason}")]
    BadSegment {
        /// Its index.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

/// `PT_LOAD`.
pub const PT_LOAD: u32 = 1;
/// `PT_NOTE`.
pub const PT_NOTE: u32 = 4;
/// Xen's `XEN_ELFNOTE_PHYS32_ENTRY`: the PVH entry point.
pub const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;

/// A loadable segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadSegment {
    /// Physical load address.
    pub paddr: u64,
    /// Offset of its bytes in the file.
    pub offset: u64,
    /// Bytes present in the file.
    pub filesz: u64,
    /// Bytes in memory (the rest is zeroed).
    pub memsz: u64,
}

/// What tetra needs from an ELF image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfImage {
    /// ELF64 (true) or ELF32.
    pub is64: bool,
    /// Entry point.
    pub entry: u64,
    /// Loadable segments, in file order.
    pub segments: Vec<LoadSegment>,
    /// The PVH entry point, if a Xen note declares one.
    pub pvh_entry: Option<u64>,
}

/// True when `bytes` starts with the ELF magic.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

fn slice<'a>(b: &'a [u8], off: u64, len: u64, what: &'static str) -> Result<&'a [u8], ElfError> {
    let end = off.checked_add(len).ok_or(ElfError::Truncated(what))?;
    b.get(off as usize..end as usize)
        .ok_or(ElfError::Truncated(what))
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

/// The most program headers tetra reads.
const MAX_PHDRS: usize = 64;

/// Parses the ELF header and program headers of `b`.
pub fn parse(b: &[u8]) -> Result<ElfImage, ElfError> {
    let ident = slice(b, 0, 16, "the ELF identification")?;
    if !is_elf(ident) {
        return Err(ElfError::Unsupported("no ELF magic"));
    }
    let is64 = match ident[4] {
        1 => false,
        2 => true,
        _ => return Err(ElfError::Unsupported("unknown ELF class")),
    };
    if ident[5] != 1 {
        return Err(ElfError::Unsupported("big-endian ELF on x86"));
    }
    let ehdr = slice(b, 0, if is64 { 64 } else { 52 }, "the ELF header")?;
    let machine = u16_at(ehdr, 18);
    if machine != 3 && machine != 62 {
        return Err(ElfError::Unsupported("not an x86 ELF (e_machine)"));
    }
    let (entry, phoff, phentsize, phnum) = if is64 {
        (
            u64_at(ehdr, 24),
            u64_at(ehdr, 32),
            u16_at(ehdr, 54),
            u16_at(ehdr, 56),
        )
    } else {
        (
            u64::from(u32_at(ehdr, 24)),
            u64::from(u32_at(ehdr, 28)),
            u16_at(ehdr, 42),
            u16_at(ehdr, 44),
        )
    };
    let want = if is64 { 56 } else { 32 };
    if phnum == 0 {
        return Err(ElfError::Unsupported("no program headers"));
    }
    if usize::from(phentsize) != want {
        return Err(ElfError::Unsupported("unexpected program header size"));
    }
    if usize::from(phnum) > MAX_PHDRS {
        return Err(ElfError::Unsupported("more than 64 program headers"));
    }
    let table = slice(
        b,
        phoff,
        u64::from(phentsize) * u64::from(phnum),
        "the program headers",
    )?;
    let mut img = ElfImage {
        is64,
        entry,
        segments: Vec::new(),
        pvh_entry: None,
    };
    for (index, ph) in table.chunks_exact(want).enumerate() {
        let (p_type, offset, paddr, filesz, memsz) = if is64 {
            (
                u32_at(ph, 0),
                u64_at(ph, 8),
                u64_at(ph, 24),
                u64_at(ph, 32),
                u64_at(ph, 40),
            )
        } else {
            (
                u32_at(ph, 0),
                u64::from(u32_at(ph, 4)),
                u64::from(u32_at(ph, 12)),
                u64::from(u32_at(ph, 16)),
                u64::from(u32_at(ph, 20)),
            )
        };
        let bytes =
            slice(b, offset, filesz, "a segment's bytes").map_err(|_| ElfError::BadSegment {
                index,
                reason: "its bytes lie beyond the end of the file",
            })?;
        match p_type {
            PT_LOAD => {
                if memsz < filesz {
                    return Err(ElfError::BadSegment {
                        index,
                        reason: "memory size smaller than file size",
                    });
                }
                if paddr.checked_add(memsz).is_none() {
                    return Err(ElfError::BadSegment {
                        index,
                        reason: "address range wraps",
                    });
                }
                img.segments.push(LoadSegment {
                    paddr,
                    offset,
                    filesz,
                    memsz,
                });
            }
            PT_NOTE => {
                if let Some(e) = find_pvh_note(bytes, is64) {
                    img.pvh_entry = Some(e);
                }
            }
            _ => {}
        }
    }
    if img.segments.is_empty() {
        return Err(ElfError::Unsupported("no loadable segment"));
    }
    Ok(img)
}

/// Looks for `XEN_ELFNOTE_PHYS32_ENTRY` ("Xen", type 18) in a note segment.
fn find_pvh_note(mut notes: &[u8], is64: bool) -> Option<u64> {
    let align = |n: usize| (n + 3) & !3;
    while notes.len() >= 12 {
        let namesz = u32_at(notes, 0) as usize;
        let descsz = u32_at(notes, 4) as usize;
        let ntype = u32_at(notes, 8);
        let name_end = 12usize.checked_add(align(namesz))?;
        let desc_end = name_end.checked_add(align(descsz))?;
        let name = notes.get(12..12 + namesz)?;
        let desc = notes.get(name_end..name_end + descsz)?;
        if ntype == XEN_ELFNOTE_PHYS32_ENTRY && name.starts_with(b"Xen") {
            return match descsz {
                4 => Some(u64::from(u32_at(desc, 0))),
                8 if is64 => Some(u64_at(desc, 0)),
                _ => None,
            };
        }
        notes = notes.get(desc_end.min(notes.len())..)?;
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal ELF32 with one PT_LOAD of `code` at `paddr`, entry at `paddr`.
    pub(crate) fn elf32(paddr: u32, code: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 84];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 1;
        b[5] = 1;
        b[6] = 1;
        b[16..18].copy_from_slice(&2u16.to_le_bytes());
        b[18..20].copy_from_slice(&3u16.to_le_bytes());
        b[24..28].copy_from_slice(&paddr.to_le_bytes());
        b[28..32].copy_from_slice(&52u32.to_le_bytes());
        b[42..44].copy_from_slice(&32u16.to_le_bytes());
        b[44..46].copy_from_slice(&1u16.to_le_bytes());
        let ph = 52;
        b[ph..ph + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
        b[ph + 4..ph + 8].copy_from_slice(&84u32.to_le_bytes());
        b[ph + 8..ph + 12].copy_from_slice(&paddr.to_le_bytes());
        b[ph + 12..ph + 16].copy_from_slice(&paddr.to_le_bytes());
        b[ph + 16..ph + 20].copy_from_slice(&(code.len() as u32).to_le_bytes());
        b[ph + 20..ph + 24].copy_from_slice(&(code.len() as u32 + 16).to_le_bytes());
        b.extend_from_slice(code);
        b
    }

    #[test]
    fn parses_a_minimal_elf32() {
        let img = parse(&elf32(0x10_0000, &[0xf4; 8])).unwrap();
        assert!(!img.is64);
        assert_eq!(img.entry, 0x10_0000);
        assert_eq!(
            img.segments,
            vec![LoadSegment {
                paddr: 0x10_0000,
                offset: 84,
                filesz: 8,
                memsz: 24
            }]
        );
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let full = elf32(0x10_0000, &[0xf4; 8]);
        for n in 0..full.len() {
            assert!(parse(&full[..n]).is_err(), "accepted {n} bytes");
        }
    }

    #[test]
    fn rejects_inconsistent_headers() {
        let mut b = elf32(0x10_0000, &[0xf4; 8]);
        b[44..46].copy_from_slice(&1000u16.to_le_bytes());
        assert!(parse(&b).is_err());
        let mut b = elf32(0x10_0000, &[0xf4; 8]);
        b[52 + 16..52 + 20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            parse(&b),
            Err(ElfError::BadSegment { index: 0, .. })
        ));
        let mut b = elf32(0x10_0000, &[0xf4; 8]);
        b[18] = 40; // ARM
        assert!(matches!(parse(&b), Err(ElfError::Unsupported(_))));
    }

    #[test]
    fn finds_the_pvh_note() {
        let mut note = Vec::new();
        note.extend_from_slice(&4u32.to_le_bytes());
        note.extend_from_slice(&4u32.to_le_bytes());
        note.extend_from_slice(&XEN_ELFNOTE_PHYS32_ENTRY.to_le_bytes());
        note.extend_from_slice(b"Xen\0");
        note.extend_from_slice(&0x1234_5678u32.to_le_bytes());
        assert_eq!(find_pvh_note(&note, true), Some(0x1234_5678));
        assert_eq!(find_pvh_note(&note[..19], true), None);
    }
}
