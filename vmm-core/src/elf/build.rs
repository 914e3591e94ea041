//! Minimal ELF images for tests (the `test-util` feature): the file header, one program header per
//! segment, then each segment's bytes in order. An ELF32 with one segment thus has its bytes at
//! offset 84, an ELF64 with one segment at 120.

use super::{ByteOrder, Class, ET_EXEC, PF_R, PF_W, PF_X, PT_LOAD, PT_NOTE};

/// One segment of a built image.
#[derive(Clone, Debug)]
struct Segment {
    p_type: u32,
    vaddr: u64,
    paddr: u64,
    data: Vec<u8>,
    memsz: u64,
}

/// Builds an ELF image.
#[derive(Clone, Debug)]
pub struct ElfBuilder {
    class: Class,
    byte_order: ByteOrder,
    e_type: u16,
    machine: u16,
    entry: u64,
    segments: Vec<Segment>,
}

/// `v` as `n` bytes (at most 8) in `order`.
fn put(out: &mut Vec<u8>, order: ByteOrder, v: u64, n: usize) {
    match order {
        ByteOrder::Big => out.extend_from_slice(&v.to_be_bytes()[8 - n..]),
        ByteOrder::Little => out.extend_from_slice(&v.to_le_bytes()[..n]),
    }
}

/// One note: header, `name` with its NUL, `desc`, each padded to 4 bytes.
pub fn note(order: ByteOrder, name: &[u8], n_type: u32, desc: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    put(&mut out, order, name.len() as u64 + 1, 4);
    put(&mut out, order, desc.len() as u64, 4);
    put(&mut out, order, u64::from(n_type), 4);
    out.extend_from_slice(name);
    out.push(0);
    out.resize(out.len().next_multiple_of(4), 0);
    out.extend_from_slice(desc);
    out.resize(out.len().next_multiple_of(4), 0);
    out
}

impl ElfBuilder {
    /// An executable (`ET_EXEC`) for `machine`, entry 0, no segments.
    pub fn new(class: Class, byte_order: ByteOrder, machine: u16) -> Self {
        ElfBuilder {
            class,
            byte_order,
            e_type: ET_EXEC,
            machine,
            entry: 0,
            segments: Vec::new(),
        }
    }

    /// Sets `e_entry`.
    pub fn entry(mut self, entry: u64) -> Self {
        self.entry = entry;
        self
    }

    /// Sets `e_type`.
    pub fn e_type(mut self, e_type: u16) -> Self {
        self.e_type = e_type;
        self
    }

    /// Adds a `PT_LOAD` of `data` at `vaddr`/`paddr`, `memsz` bytes in memory.
    pub fn load(self, vaddr: u64, paddr: u64, data: &[u8], memsz: u64) -> Self {
        self.segment(PT_LOAD, vaddr, paddr, data, memsz)
    }

    /// Adds a `PT_NOTE` holding `notes` (see [`note`]).
    pub fn notes(self, notes: &[u8]) -> Self {
        self.segment(PT_NOTE, 0, 0, notes, notes.len() as u64)
    }

    /// Adds a segment of any type.
    pub fn segment(mut self, p_type: u32, vaddr: u64, paddr: u64, data: &[u8], memsz: u64) -> Self {
        self.segments.push(Segment {
            p_type,
            vaddr,
            paddr,
            data: data.to_vec(),
            memsz,
        });
        self
    }

    /// The image.
    pub fn build(&self) -> Vec<u8> {
        let (o, w) = (self.byte_order, self.class.word());
        let ehsize = u64::from(self.class.header_size());
        let phent = u64::from(self.class.program_header_size());
        let mut out = b"\x7fELF".to_vec();
        let data = match o {
            ByteOrder::Little => 1,
            ByteOrder::Big => 2,
        };
        out.extend_from_slice(&[(w / 4) as u8, data, 1]);
        out.resize(16, 0);
        put(&mut out, o, u64::from(self.e_type), 2);
        put(&mut out, o, u64::from(self.machine), 2);
        put(&mut out, o, 1, 4); // e_version
        put(&mut out, o, self.entry, w);
        put(&mut out, o, ehsize, w); // e_phoff
        put(&mut out, o, 0, w); // e_shoff
        put(&mut out, o, 0, 4); // e_flags
        put(&mut out, o, ehsize, 2);
        put(&mut out, o, phent, 2);
        put(&mut out, o, self.segments.len() as u64, 2);
        for _ in 0..3 {
            put(&mut out, o, 0, 2); // e_shentsize, e_shnum, e_shstrndx
        }
        let mut offset = ehsize + phent * self.segments.len() as u64;
        for s in &self.segments {
            let flags = u64::from(PF_R | PF_W | PF_X);
            let align = if s.p_type == PT_LOAD { 0x1000 } else { 4 };
            put(&mut out, o, u64::from(s.p_type), 4);
            if self.class == Class::Elf64 {
                put(&mut out, o, flags, 4);
            }
            for v in [offset, s.vaddr, s.paddr, s.data.len() as u64, s.memsz] {
                put(&mut out, o, v, w);
            }
            if self.class == Class::Elf32 {
                put(&mut out, o, flags, 4);
            }
            put(&mut out, o, align, w);
            offset += s.data.len() as u64;
        }
        for s in &self.segments {
            out.extend_from_slice(&s.data);
        }
        out
    }
}
