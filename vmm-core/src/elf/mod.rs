//! tetra's one ELF reader: it describes an image, ELF32 or ELF64 of either byte order, and loads
//! nothing. Every arch's kernel loader reads through it and keeps its own policy (which machines
//! and classes it takes, where segments go, what it refuses).
//!
//! What it reads:
//!
//! - the file header: class, byte order, type, machine, flags, entry point;
//! - the program headers, each with its file bytes (`PT_LOAD`, `PT_NOTE` and every other type);
//! - the notes of every `PT_NOTE` segment, 4-byte aligned as Linux writes them
//!   (`include/linux/elfnote.h`) and as linux-loader reads them, whatever the segment's `p_align`.
//!
//! Everything is checked against the image before it is used: the header, the program header
//! table (its size and count are checked before anything is allocated, and at most
//! [`MAX_PROGRAM_HEADERS`] are read), every segment's file bytes, a loadable segment's sizes and
//! address ranges, and every note. A malformed image is an [`ElfError`] naming what is wrong,
//! never a panic. Section headers are not read: loading needs none.

#[cfg(any(test, feature = "test-util"))]
pub mod build;
#[cfg(test)]
mod tests;

/// `e_type`: an executable.
pub const ET_EXEC: u16 = 2;
/// `e_type`: a shared object (a position-independent executable).
pub const ET_DYN: u16 = 3;
/// `e_machine`: Intel 80386.
pub const EM_386: u16 = 3;
/// `e_machine`: 32-bit PowerPC.
pub const EM_PPC: u16 = 20;
/// `e_machine`: 64-bit PowerPC.
pub const EM_PPC64: u16 = 21;
/// `e_machine`: x86-64.
pub const EM_X86_64: u16 = 62;
/// `e_machine`: AArch64.
pub const EM_AARCH64: u16 = 183;
/// `p_type`: a loadable segment.
pub const PT_LOAD: u32 = 1;
/// `p_type`: a segment of notes.
pub const PT_NOTE: u32 = 4;
/// `p_flags`: executable.
pub const PF_X: u32 = 1;
/// `p_flags`: writable.
pub const PF_W: u32 = 2;
/// `p_flags`: readable.
pub const PF_R: u32 = 4;
/// The most program headers tetra reads (kernels have a handful).
pub const MAX_PROGRAM_HEADERS: usize = 128;

/// Why an image cannot be read as ELF.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ElfError {
    /// No ELF magic.
    #[error("not an ELF image (no \\x7fELF magic)")]
    NotElf,
    /// The image ends before a structure it declares.
    #[error("truncated ELF: the {file_len}-byte file ends before {what} at {offset:#x}+{len:#x}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Its file offset.
        offset: u64,
        /// Its length.
        len: u64,
        /// The image's length.
        file_len: usize,
    },
    /// `EI_CLASS` is neither ELFCLASS32 nor ELFCLASS64.
    #[error("ELF class {0} is neither 32-bit (1) nor 64-bit (2)")]
    BadClass(u8),
    /// `EI_DATA` is neither ELFDATA2LSB nor ELFDATA2MSB.
    #[error("ELF data encoding {0} is neither little-endian (1) nor big-endian (2)")]
    BadByteOrder(u8),
    /// `e_phentsize` is not the class's program header size.
    #[error("ELF program header entries are {got} bytes, expected {want}")]
    ProgramHeaderSize {
        /// `e_phentsize`.
        got: u16,
        /// The class's size.
        want: u16,
    },
    /// More program headers than tetra reads.
    #[error("ELF has {0} program headers, more than {MAX_PROGRAM_HEADERS}")]
    TooManyProgramHeaders(usize),
    /// A segment's file bytes lie outside the image.
    #[error(
        "bad ELF program header {index}: its {filesz:#x} bytes at file offset {offset:#x} lie beyond the end of the {file_len}-byte file"
    )]
    SegmentOutsideFile {
        /// The program header's index.
        index: usize,
        /// `p_offset`.
        offset: u64,
        /// `p_filesz`.
        filesz: u64,
        /// The image's length.
        file_len: usize,
    },
    /// A loadable segment has more file bytes than memory bytes.
    #[error(
        "bad ELF program header {index}: {filesz:#x} file bytes but only {memsz:#x} memory bytes"
    )]
    FileszOverMemsz {
        /// The program header's index.
        index: usize,
        /// `p_filesz`.
        filesz: u64,
        /// `p_memsz`.
        memsz: u64,
    },
    /// A loadable segment's physical or virtual range wraps around the address space.
    #[error(
        "bad ELF program header {index}: {memsz:#x} bytes at {addr:#x} wrap around the address space"
    )]
    SegmentWraps {
        /// The program header's index.
        index: usize,
        /// The address (`p_paddr` or `p_vaddr`) whose range wraps.
        addr: u64,
        /// `p_memsz`.
        memsz: u64,
    },
    /// A note runs past the end of its segment.
    #[error(
        "bad ELF note at offset {offset:#x} of program header {index}: its {what} runs past the end of the segment"
    )]
    BadNote {
        /// The `PT_NOTE` program header's index.
        index: usize,
        /// The note's offset in the segment.
        offset: u64,
        /// The part that does not fit: header, name or descriptor.
        what: &'static str,
    },
}

/// The ELF class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// ELFCLASS32.
    Elf32,
    /// ELFCLASS64.
    Elf64,
}

impl Class {
    /// 32 or 64.
    pub fn bits(self) -> u8 {
        match self {
            Class::Elf32 => 32,
            Class::Elf64 => 64,
        }
    }

    /// The size of the file header.
    pub fn header_size(self) -> u16 {
        match self {
            Class::Elf32 => 52,
            Class::Elf64 => 64,
        }
    }

    /// The size of a program header.
    pub fn program_header_size(self) -> u16 {
        match self {
            Class::Elf32 => 32,
            Class::Elf64 => 56,
        }
    }

    /// The size of an address or offset field.
    fn word(self) -> usize {
        match self {
            Class::Elf32 => 4,
            Class::Elf64 => 8,
        }
    }
}

/// The byte order of every field in the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteOrder {
    /// ELFDATA2LSB.
    Little,
    /// ELFDATA2MSB.
    Big,
}

impl ByteOrder {
    /// The unsigned integer in `b` (at most 8 bytes).
    fn uint(self, b: &[u8]) -> u64 {
        let fold = |v: u64, x: &u8| (v << 8) | u64::from(*x);
        match self {
            ByteOrder::Big => b.iter().fold(0, fold),
            ByteOrder::Little => b.iter().rev().fold(0, fold),
        }
    }
}

/// Reads fixed-size fields of one structure whose whole length has been checked.
struct Fields<'a> {
    b: &'a [u8],
    order: ByteOrder,
}

impl Fields<'_> {
    /// The `n`-byte field at `at`. The caller's structure layout keeps `at + n` within `b`.
    fn get(&self, at: usize, n: usize) -> u64 {
        self.order.uint(&self.b[at..at + n])
    }
    fn u16(&self, at: usize) -> u16 {
        self.get(at, 2) as u16
    }
    fn u32(&self, at: usize) -> u32 {
        self.get(at, 4) as u32
    }
}

/// A program header and its bytes in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramHeader<'a> {
    /// Its index in the table (errors name it).
    pub index: usize,
    /// `p_type`.
    pub p_type: u32,
    /// `p_flags` ([`PF_R`], [`PF_W`], [`PF_X`]).
    pub flags: u32,
    /// `p_offset`: where its bytes start in the file.
    pub offset: u64,
    /// `p_vaddr`.
    pub vaddr: u64,
    /// `p_paddr`.
    pub paddr: u64,
    /// `p_filesz`: bytes in the file (`data.len()`).
    pub filesz: u64,
    /// `p_memsz`: bytes in memory; for a loadable segment at least `filesz`, the rest zeroed.
    pub memsz: u64,
    /// `p_align`.
    pub align: u64,
    /// Its `filesz` bytes of the file.
    pub data: &'a [u8],
}

impl ProgramHeader<'_> {
    /// Whether it is a loadable segment.
    pub fn is_load(&self) -> bool {
        self.p_type == PT_LOAD
    }
}

/// One note of a `PT_NOTE` segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Note<'a> {
    /// The owner's name, without its terminating NUL (`b"Xen"`, `b"GNU"`, `b"Linux"`).
    pub name: &'a [u8],
    /// The note's type, meaningful per owner.
    pub n_type: u32,
    /// The descriptor.
    pub desc: &'a [u8],
    /// The image's byte order, in which the descriptor's words are written.
    pub byte_order: ByteOrder,
}

impl Note<'_> {
    /// The descriptor as one word, when it is 4 or 8 bytes long.
    pub fn desc_word(&self) -> Option<u64> {
        matches!(self.desc.len(), 4 | 8).then(|| self.byte_order.uint(self.desc))
    }
}

/// A read ELF image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Elf<'a> {
    /// 32- or 64-bit.
    pub class: Class,
    /// Byte order.
    pub byte_order: ByteOrder,
    /// `e_type` ([`ET_EXEC`], [`ET_DYN`], ...).
    pub e_type: u16,
    /// `e_machine` ([`EM_X86_64`], [`EM_PPC64`], ...).
    pub machine: u16,
    /// `e_flags` (on ppc64, the ABI version in bits 0-1).
    pub flags: u32,
    /// `e_entry`, as the file gives it (a virtual address for most kernels).
    pub entry: u64,
    /// Every program header, in file order.
    pub program_headers: Vec<ProgramHeader<'a>>,
}

/// Whether `bytes` start with the ELF magic.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// `len` bytes at `offset` of `b`, or what lies beyond its end.
fn slice<'a>(b: &'a [u8], what: &'static str, offset: u64, len: u64) -> Result<&'a [u8], ElfError> {
    let oob = || ElfError::Truncated {
        what,
        offset,
        len,
        file_len: b.len(),
    };
    let start = usize::try_from(offset).map_err(|_| oob())?;
    let n = usize::try_from(len).map_err(|_| oob())?;
    let end = start.checked_add(n).ok_or_else(oob)?;
    b.get(start..end).ok_or_else(oob)
}

impl<'a> Elf<'a> {
    /// Reads the file header and the program headers of `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ElfError> {
        if !is_elf(bytes) {
            return Err(ElfError::NotElf);
        }
        let ident = slice(bytes, "the identification", 0, 16)?;
        let class = match ident[4] {
            1 => Class::Elf32,
            2 => Class::Elf64,
            c => return Err(ElfError::BadClass(c)),
        };
        let byte_order = match ident[5] {
            1 => ByteOrder::Little,
            2 => ByteOrder::Big,
            d => return Err(ElfError::BadByteOrder(d)),
        };
        let w = class.word();
        let eh = Fields {
            b: slice(bytes, "the header", 0, u64::from(class.header_size()))?,
            order: byte_order,
        };
        let phoff = eh.get(24 + w, w);
        let phentsize = eh.u16(30 + 3 * w);
        let phnum = usize::from(eh.u16(32 + 3 * w));
        let want = class.program_header_size();
        if phnum > 0 && phentsize != want {
            return Err(ElfError::ProgramHeaderSize {
                got: phentsize,
                want,
            });
        }
        if phnum > MAX_PROGRAM_HEADERS {
            return Err(ElfError::TooManyProgramHeaders(phnum));
        }
        let table = slice(
            bytes,
            "the program headers",
            phoff,
            phnum as u64 * u64::from(want),
        )?;
        let program_headers = table
            .chunks_exact(usize::from(want))
            .enumerate()
            .map(|(index, entry)| {
                program_header(
                    bytes,
                    class,
                    index,
                    Fields {
                        b: entry,
                        order: byte_order,
                    },
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(Elf {
            class,
            byte_order,
            e_type: eh.u16(16),
            machine: eh.u16(18),
            flags: eh.u32(24 + 3 * w),
            entry: eh.get(24, w),
            program_headers,
        })
    }

    /// The loadable segments, in file order.
    pub fn loads(&self) -> impl Iterator<Item = &ProgramHeader<'a>> {
        self.program_headers.iter().filter(|p| p.is_load())
    }

    /// The entry point as a physical address. `e_entry` is virtual in most kernels (Linux's is
    /// its link address), so it is moved to the physical address of the loadable segment whose
    /// virtual range holds it; an entry inside no virtual range but inside a segment's physical
    /// range is taken as it is. `None` when no loadable segment with memory bytes holds it.
    pub fn entry_physical(&self) -> Option<u64> {
        // The reader checked that no segment's address range wraps.
        let loads = || self.loads().filter(|p| p.memsz > 0);
        loads()
            .find(|p| (p.vaddr..p.vaddr + p.memsz).contains(&self.entry))
            .map(|p| self.entry - p.vaddr + p.paddr)
            .or_else(|| {
                loads()
                    .any(|p| (p.paddr..p.paddr + p.memsz).contains(&self.entry))
                    .then_some(self.entry)
            })
    }

    /// Every note of every `PT_NOTE` segment, in file order; a malformed note ends the walk
    /// with its error.
    pub fn notes(&self) -> impl Iterator<Item = Result<Note<'a>, ElfError>> + '_ {
        self.program_headers
            .iter()
            .filter(|p| p.p_type == PT_NOTE)
            .flat_map(|p| Notes {
                rest: p.data,
                offset: 0,
                index: p.index,
                byte_order: self.byte_order,
            })
            .scan(false, |failed, n| {
                if *failed {
                    return None;
                }
                *failed = n.is_err();
                Some(n)
            })
    }

    /// The first note of owner `name` (without NUL) and type `n_type`, if any; a malformed note
    /// met before it is an error.
    pub fn find_note(&self, name: &[u8], n_type: u32) -> Result<Option<Note<'a>>, ElfError> {
        for n in self.notes() {
            let n = n?;
            if n.name == name && n.n_type == n_type {
                return Ok(Some(n));
            }
        }
        Ok(None)
    }
}

/// Decodes program header `index` and checks it against the image.
fn program_header<'a>(
    bytes: &'a [u8],
    class: Class,
    index: usize,
    f: Fields<'_>,
) -> Result<ProgramHeader<'a>, ElfError> {
    // ELF32: type, offset, vaddr, paddr, filesz, memsz, flags, align (4 bytes each).
    // ELF64: type, flags (4 bytes each), then offset, vaddr, paddr, filesz, memsz, align (8 each).
    let (flags, align, at, w) = match class {
        Class::Elf32 => (f.u32(24), f.get(28, 4), 4, 4),
        Class::Elf64 => (f.u32(4), f.get(48, 8), 8, 8),
    };
    let field = |i: usize| f.get(at + w * i, w);
    let ph = ProgramHeader {
        index,
        p_type: f.u32(0),
        flags,
        offset: field(0),
        vaddr: field(1),
        paddr: field(2),
        filesz: field(3),
        memsz: field(4),
        align,
        data: &[],
    };
    let data = slice(bytes, "a segment", ph.offset, ph.filesz).map_err(|_| {
        ElfError::SegmentOutsideFile {
            index,
            offset: ph.offset,
            filesz: ph.filesz,
            file_len: bytes.len(),
        }
    })?;
    if ph.is_load() {
        if ph.filesz > ph.memsz {
            return Err(ElfError::FileszOverMemsz {
                index,
                filesz: ph.filesz,
                memsz: ph.memsz,
            });
        }
        for addr in [ph.paddr, ph.vaddr] {
            if addr.checked_add(ph.memsz).is_none() {
                return Err(ElfError::SegmentWraps {
                    index,
                    addr,
                    memsz: ph.memsz,
                });
            }
        }
    }
    Ok(ProgramHeader { data, ..ph })
}

/// The notes of one `PT_NOTE` segment.
struct Notes<'a> {
    rest: &'a [u8],
    /// Offset of `rest` in the segment.
    offset: u64,
    index: usize,
    byte_order: ByteOrder,
}

impl<'a> Iterator for Notes<'a> {
    type Item = Result<Note<'a>, ElfError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = self.next_note();
        match &r {
            Ok((_, used)) => {
                self.rest = &self.rest[*used..];
                self.offset += *used as u64;
            }
            Err(_) => self.rest = &[],
        }
        Some(r.map(|(n, _)| n))
    }
}

impl<'a> Notes<'a> {
    /// The next note and the bytes it takes with its padding (the last one's may be missing).
    fn next_note(&self) -> Result<(Note<'a>, usize), ElfError> {
        let bad = |what| ElfError::BadNote {
            index: self.index,
            offset: self.offset,
            what,
        };
        let align = |n: usize| n.checked_next_multiple_of(4);
        let hdr = Fields {
            b: self.rest.get(..12).ok_or(bad("header"))?,
            order: self.byte_order,
        };
        let (namesz, descsz) = (hdr.u32(0) as usize, hdr.u32(4) as usize);
        let name_end = 12usize.checked_add(namesz).ok_or(bad("name"))?;
        let name = self.rest.get(12..name_end).ok_or(bad("name"))?;
        let desc_at = align(name_end).ok_or(bad("name"))?;
        let desc_end = desc_at.checked_add(descsz).ok_or(bad("descriptor"))?;
        // An empty descriptor needs no bytes, not even the name's padding at the segment's end.
        let desc = match descsz {
            0 => &[],
            _ => self.rest.get(desc_at..desc_end).ok_or(bad("descriptor"))?,
        };
        let used = align(desc_end).map_or(self.rest.len(), |e| e.min(self.rest.len()));
        let name = name.strip_suffix(&[0]).unwrap_or(name);
        Ok((
            Note {
                name,
                n_type: hdr.u32(8),
                desc,
                byte_order: self.byte_order,
            },
            used,
        ))
    }
}
