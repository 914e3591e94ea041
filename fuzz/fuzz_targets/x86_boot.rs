//! The x86 loaders: `detect` (ELF, multiboot header, bzImage setup header) and `load` into an
//! 8 MiB guest memory: multiboot (ELF or a.out kludge, modules, memory map), PVH (the Xen note),
//! ELF64, bzImage (linux-loader and the setup header), and `--raw` in each entry mode.
//!
//! Input: flags (bit 0: an initrd, bit 1: `--raw`), the initrd's length (u16), the raw load
//! address (u32) and mode byte, a command line ending in `\n`, the initrd, then the kernel.
#![no_main]

use arch_x86_64::boot::{detect, load, BootRequest};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tetra_fuzz::Cursor;
use vmm_core::memory::GuestMemoryMmap;
use vmm_core::RawLoad;

const RAM: usize = 8 << 20;

fn memory() -> &'static GuestMemoryMmap {
    static M: OnceLock<GuestMemoryMmap> = OnceLock::new();
    M.get_or_init(|| tetra_fuzz::memory(0, RAM))
}

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let flags = c.u8();
    let initrd_len = usize::from(c.u16());
    let raw_addr = u64::from(c.u32());
    let mode = c.u8();
    let cmdline = String::from_utf8_lossy(c.line()).into_owned();
    let initrd = (flags & 1 != 0).then(|| c.take(initrd_len));
    let kernel = c.rest();
    let raw = (flags & 2 != 0).then(|| RawLoad {
        addr: raw_addr,
        mode: match mode % 5 {
            0 => None,
            1 => Some("real".into()),
            2 => Some("protected".into()),
            3 => Some("long".into()),
            _ => Some("virtual".into()),
        },
    });
    let _ = detect(kernel, "fuzz");
    let req = BootRequest {
        kernel,
        name: "fuzz",
        raw: raw.as_ref(),
        initrd: initrd.map(|i| (i, "initrd")),
        cmdline: &cmdline,
        mem_bytes: RAM as u64,
        cpus: 2,
        devices: &[],
    };
    let _ = load(memory(), &req);
});
