//! The arm64 boot plan (`arch_arm64::boot::plan`): the `--raw` address and mode, or a Linux
//! `Image` header (the image's bytes, without `--raw`), the image and initrd sizes and the RAM
//! size (1 MiB to `MAX_MEM_MIB`), placed against the device tree's slot.
//! A plan must keep everything in RAM and apart; when RAM is small enough to map here (up to
//! 8 MiB), `load` must then write the image and initrd where the plan says.
//!
//! Input: the load address (u64), the image length (u64), flags (bit 0: an initrd, bit 1: a
//! mode, bit 4: no `--raw`, a Linux `Image`), the initrd length (u64), RAM in MiB (u32), then the
//! image's bytes.
#![no_main]

use arch_arm64::boot::{load, plan, BootRequest, RAW_ALIGN};
use arch_arm64::layout::{dtb_addr, RAM_BASE};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tetra_fuzz::Cursor;
use vmm_core::config::MAX_MEM_MIB;
use vmm_core::memory::GuestMemoryMmap;
use vmm_core::RawLoad;

const MAPPED_MIB: u64 = 8;

fn memory() -> &'static GuestMemoryMmap {
    static M: OnceLock<GuestMemoryMmap> = OnceLock::new();
    M.get_or_init(|| tetra_fuzz::memory(RAM_BASE, (MAPPED_MIB << 20) as usize))
}

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let addr = c.u64();
    let image_len = c.u64();
    let flags = c.u8();
    let initrd_len = c.u64();
    let mem_mib = u64::from(c.u32()) % MAX_MEM_MIB + 1;
    let bytes = c.rest();
    // Small sizes, near the addresses that matter, are as interesting as any.
    let addr = if flags & 4 != 0 {
        RAM_BASE + (addr % (16 << 20))
    } else {
        addr
    };
    let raw = RawLoad {
        addr,
        mode: (flags & 2 != 0).then(|| "long".to_string()),
    };
    let mem_bytes = mem_mib << 20;
    let linux = flags & 16 != 0;
    let req = BootRequest {
        name: "fuzz",
        head: bytes,
        image_len: if flags & 8 != 0 || linux {
            bytes.len() as u64
        } else {
            image_len
        },
        raw: (!linux).then_some(&raw),
        initrd: (flags & 1 != 0).then_some(("initrd", initrd_len)),
        mem_bytes,
    };
    let Ok(p) = plan(&req) else {
        return;
    };
    let dtb = dtb_addr(mem_bytes);
    let image_end = p.load_addr + p.image_len;
    assert!(image_end <= p.kernel_end, "{p:x?}");
    let image_end = p.kernel_end;
    assert!(p.load_addr >= RAM_BASE && p.load_addr % RAW_ALIGN == 0);
    assert!(image_end <= dtb && dtb >= RAM_BASE && dtb < RAM_BASE + mem_bytes);
    assert_eq!(p.dtb_addr, dtb);
    if let Some((start, end)) = p.initrd {
        assert!(start >= image_end && start <= end && end <= dtb, "{p:x?}");
        assert_eq!(end - start, initrd_len);
    }
    if mem_mib <= MAPPED_MIB && p.image_len == bytes.len() as u64 {
        let initrd = p.initrd.map(|(s, e)| vec![0x5a; (e - s) as usize]);
        load(memory(), &p, bytes, initrd.as_deref()).expect("a planned image loads");
    }
});
