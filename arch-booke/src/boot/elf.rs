//! Big-endian PowerPC ELF kernels (`vmlinux`), 32-bit (EM_PPC) or 64-bit (EM_PPC64).
//!
//! Loadable segments go to their physical address (`p_paddr`: 0 for Linux, whose `p_vaddr` is
//! 0xc0000000 or 0xc000000000000000). The entry point `e_entry` is virtual; it is converted to
//! the physical address inside the segment that holds it, because the kernel starts with the
//! boot TLB entry mapping effective address 0 to real address 0.
//!
//! Everything read from the file is bounds-checked: a malformed ELF is an error, never a panic.

use thiserror::Error;

/// `EM_PPC`.
pub const EM_PPC: u16 = 20;
/// `EM_PPC64`.
pub const EM_PPC64: u16 = 21;
/// Most program headers tetra accepts.
pub const MAX_PHDRS: usize = 128;

/// Why an ELF was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ElfError {
    /// No ELF magic.
    #[error("not an ELF file")]
    NotElf,
    /// Truncated header or table.
    #[error("ELF {what} at {offset:#x}+{len:#x} lies outside the {file_len}-byte file")]
    OutOfBounds {
        /// What was being read.
        what: &'static str,
        /// Offset.
        offset: u64,
        /// Length.
        len: u64,
        /// File length.
        file_len: usize,
    },
    /// Bad class byte.
    #[error("ELF class {0} is neither 32-bit (1) nor 64-bit (2)")]
    BadClass(u8),
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
    /// Odd program header entry size.
    #[error("ELF program header entries are {got} bytes, expected {want}")]
    PhentSize {
        /// e_phentsize.
        got: u16,
        /// Expected.
        want: u16,
    },
    /// Too many program headers.
    #[error("ELF has {0} program headers, more than {MAX_PHDRS}")]
    TooManyPhdrs(usize),
    /// No loadable segment.
    #[error("ELF has no loadable segment")]
    NoLoad,
    /// File size larger than memory size.
    #[error(
        "ELF segment at {paddr:#x} has {filesz:#x} file bytes but only {memsz:#x} memory bytes"
    )]
    FileszOverMemsz {
        /// Physical address.
        paddr: u64,
        /// p_filesz.
        filesz: u64,
        /// p_memsz.
        memsz: u64,
    },
    /// A segment wraps the address space.
    #[error("ELF segment at {0:#x} wraps around the address space")]
    Wraps(u64),
    /// Entry point in no segment.
    #[error("ELF entry point {0:#x} is in no loadable segment")]
    EntryOutside(u64),
}

/// ELF class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfClass {
    /// ELFCLASS32.
    Elf32,
    /// ELFCLASS64.
    Elf64,
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

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn slice(&self, what: &'static str, offset: u64, len: u64) -> Result<&'a [u8], ElfError> {
        let oob = || ElfError::OutOfBounds {
            what,
            offset,
            len,
            file_len: self.b.len(),
        };
        let start = usize::try_from(offset).map_err(|_| oob())?;
        let n = usize::try_from(len).map_err(|_| oob())?;
        let end = start.checked_add(n).ok_or_else(oob)?;
        self.b.get(start..end).ok_or_else(oob)
    }
}

fn be(b: &[u8], at: usize, n: usize) -> u64 {
    b[at..at + n]
        .iter()
        .fold(0, |v, x| (v << 8) | u64::from(*x))
}

/// Whether `bytes` start with the ELF magic.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// Parses a big-endian PowerPC ELF executable.
pub fn parse(bytes: &[u8]) -> Result<ElfKernel<'_>, ElfError> {
    if !is_elf(bytes) {
        return Err(ElfError::NotElf);
    }
    let r = Reader { b: bytes };
    let ident = r.slice("identification", 0, 16)?;
    let class = match ident[4] {
        1 => ElfClass::Elf32,
        2 => ElfClass::Elf64,
        c => return Err(ElfError::BadClass(c)),
    };
    if ident[5] != 2 {
        return Err(ElfError::LittleEndian);
    }
    let wide = class == ElfClass::Elf64;
    let (ehsize, phent, w) = if wide { (64, 56u16, 8) } else { (52, 32u16, 4) };
    let eh = r.slice("header", 0, ehsize)?;
    let e_type = be(eh, 16, 2) as u16;
    let machine = be(eh, 18, 2) as u16;
    if machine != EM_PPC && machine != EM_PPC64 {
        return Err(ElfError::WrongMachine(machine));
    }
    if (machine == EM_PPC64) != wide {
        return Err(ElfError::ClassMismatch {
            class: if wide { 64 } else { 32 },
            machine,
        });
    }
    if e_type != 2 && e_type != 3 {
        return Err(ElfError::NotExecutable(e_type));
    }
    let entry_virtual = be(eh, 24, w);
    let phoff = be(eh, 24 + w, w);
    let phentsize = be(eh, 30 + 3 * w, 2) as u16;
    let phnum = be(eh, 32 + 3 * w, 2) as usize;
    if phentsize != phent {
        return Err(ElfError::PhentSize {
            got: phentsize,
            want: phent,
        });
    }
    if phnum > MAX_PHDRS {
        return Err(ElfError::TooManyPhdrs(phnum));
    }
    let table = r.slice("program headers", phoff, phnum as u64 * u64::from(phent))?;
    let mut segments = Vec::new();
    for ph in table.chunks_exact(phent as usize) {
        if be(ph, 0, 4) != 1 {
            continue; // not PT_LOAD
        }
        // ELF32: type, offset, vaddr, paddr, filesz, memsz, flags, align (all 4 bytes).
        // ELF64: type, flags (4 bytes each), then offset, vaddr, paddr, filesz, memsz, align.
        let f = |i: usize| {
            if wide {
                be(ph, 8 + 8 * i, 8)
            } else {
                be(ph, 4 + 4 * i, 4)
            }
        };
        let (offset, vaddr, paddr, filesz, memsz) = (f(0), f(1), f(2), f(3), f(4));
        if filesz > memsz {
            return Err(ElfError::FileszOverMemsz {
                paddr,
                filesz,
                memsz,
            });
        }
        if paddr.checked_add(memsz).is_none() || vaddr.checked_add(memsz).is_none() {
            return Err(ElfError::Wraps(paddr));
        }
        let data = r.slice("segment", offset, filesz)?;
        if memsz > 0 {
            segments.push(ElfSegment {
                paddr,
                vaddr,
                data,
                mem_size: memsz,
            });
        }
    }
    if segments.is_empty() {
        return Err(ElfError::NoLoad);
    }
    let entry = segments
        .iter()
        .find(|s| (s.vaddr..s.vaddr + s.mem_size).contains(&entry_virtual))
        .map(|s| entry_virtual - s.vaddr + s.paddr)
        .or_else(|| {
            segments
                .iter()
                .any(|s| (s.paddr..s.paddr + s.mem_size).contains(&entry_virtual))
                .then_some(entry_virtual)
        })
        .ok_or(ElfError::EntryOutside(entry_virtual))?;
    Ok(ElfKernel {
        class,
        segments,
        entry_virtual,
        entry,
    })
}

/// Builds a minimal big-endian PowerPC ELF (for tests and tools): one PT_LOAD per
/// `(vaddr, paddr, data, memsz)`.
pub fn build(class: ElfClass, entry: u64, segs: &[(u64, u64, &[u8], u64)]) -> Vec<u8> {
    let wide = class == ElfClass::Elf64;
    let (ehsize, phent) = if wide { (64usize, 56usize) } else { (52, 32) };
    let put = |v: &mut Vec<u8>, x: u64, n: usize| v.extend_from_slice(&x.to_be_bytes()[8 - n..]);
    let w = if wide { 8 } else { 4 };
    let mut out = b"\x7fELF".to_vec();
    out.extend_from_slice(&[if wide { 2 } else { 1 }, 2, 1, 0]);
    out.resize(16, 0);
    put(&mut out, 2, 2); // ET_EXEC
    put(&mut out, u64::from(if wide { EM_PPC64 } else { EM_PPC }), 2);
    put(&mut out, 1, 4);
    put(&mut out, entry, w);
    put(&mut out, ehsize as u64, w); // phoff
    put(&mut out, 0, w); // shoff
    put(&mut out, 0, 4); // flags
    put(&mut out, ehsize as u64, 2);
    put(&mut out, phent as u64, 2);
    put(&mut out, segs.len() as u64, 2);
    put(&mut out, 0, 2);
    put(&mut out, 0, 2);
    put(&mut out, 0, 2);
    let mut offset = (ehsize + phent * segs.len()) as u64;
    for (vaddr, paddr, data, memsz) in segs {
        put(&mut out, 1, 4);
        if wide {
            put(&mut out, 7, 4);
        }
        for v in [offset, *vaddr, *paddr, data.len() as u64, *memsz] {
            put(&mut out, v, w);
        }
        if !wide {
            put(&mut out, 7, 4);
        }
        put(&mut out, 0x1000, w);
        offset += data.len() as u64;
    }
    for (_, _, data, _) in segs {
        out.extend_from_slice(data);
    }
    out
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
    fn rejections() {
        let text = [1u8; 64];
        let good = build(ElfClass::Elf64, 0, &[(0, 0, &text, 64)]);
        assert_eq!(parse(b"MZ"), Err(ElfError::NotElf));
        let mut le = good.clone();
        le[5] = 1;
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
        let over = build(ElfClass::Elf64, 0, &[(0, 0, &text, 8)]);
        assert!(matches!(
            parse(&over),
            Err(ElfError::FileszOverMemsz { .. })
        ));
        let wrap = build(ElfClass::Elf64, 0, &[(0, u64::MAX - 4, &text, 64)]);
        assert!(matches!(parse(&wrap), Err(ElfError::Wraps(_))));
        let none = build(ElfClass::Elf32, 0, &[]);
        assert_eq!(parse(&none), Err(ElfError::NoLoad));
    }

    #[test]
    fn every_truncation_and_corruption_is_handled() {
        let text = [0x55u8; 100];
        let img = build(
            ElfClass::Elf64,
            0x10,
            &[(0, 0, &text, 200), (0x1000, 0x1000, &text, 100)],
        );
        assert!(parse(&img).is_ok());
        for n in 0..img.len() {
            assert!(parse(&img[..n]).is_err(), "length {n}");
        }
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
