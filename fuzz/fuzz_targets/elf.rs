//! The ELF reader (`vmm_core::elf`, both classes and byte orders): the header, every program
//! header and its bytes, every note of every `PT_NOTE` segment; then the x86 and the BookE
//! loaders' own policies on the same image (`arch_x86_64::boot::elf::parse`,
//! `arch_booke::boot::elf::parse`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmm_core::elf::Elf;

fuzz_target!(|data: &[u8]| {
    if let Ok(elf) = Elf::parse(data) {
        for p in &elf.program_headers {
            // What the reader hands out lies in the file.
            assert_eq!(p.data.len() as u64, p.filesz);
            if p.is_load() {
                assert!(
                    p.memsz >= p.filesz,
                    "a loadable segment smaller in memory than in the file"
                );
            }
        }
        // Every note, to the end or the first malformed one.
        for n in elf.notes().flatten() {
            let _ = n.desc_word();
        }
        let _ = elf.find_note(b"Xen", 18);
        let _ = elf.find_note(b"Linux", 1);
    }
    let _ = arch_x86_64::boot::elf::parse(data);
    if let Ok(k) = arch_booke::boot::elf::parse(data) {
        for s in &k.segments {
            assert!(s.mem_size >= s.data.len() as u64);
        }
    }
});
