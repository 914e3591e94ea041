//! BookE kernels: `Kernel::parse` (a uImage or a big-endian PowerPC ELF), `prepare` (kernel,
//! initrd and device tree laid out in 32 MiB of RAM, the boot TLB entry) and `write_to` guest
//! RAM.
//!
//! Input: flags (bit 0: an initrd; bit 1: a uImage's two CRCs are fixed up here, so that the
//! fuzzer reaches what lies behind them; bits 2-3: the core, `Core::ALL[n]`), the initrd's length (u16), the initrd, the kernel.
#![no_main]

use arch_booke::boot::{prepare, uimage, BootConfig, Kernel};
use arch_booke::cpu::Core;
use arch_booke::layout::BoardLayout;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tetra_fuzz::Cursor;
use vm_memory::GuestAddress;
use vmm_core::memory::GuestRam;

const RAM: u64 = 32 << 20;

fn ram() -> &'static GuestRam {
    static M: OnceLock<GuestRam> = OnceLock::new();
    M.get_or_init(|| GuestRam::new(&[(GuestAddress(0), RAM as usize)]).expect("guest RAM"))
}

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let flags = c.u8();
    let initrd_len = usize::from(c.u16());
    let initrd = (flags & 1 != 0).then(|| c.take(initrd_len));
    let mut kernel = c.rest().to_vec();
    if flags & 2 != 0 && kernel.len() >= uimage::HEADER_SIZE && uimage::is_uimage(&kernel) {
        let size = u32::from_be_bytes(kernel[12..16].try_into().unwrap()) as usize;
        let end = uimage::HEADER_SIZE.saturating_add(size).min(kernel.len());
        let dcrc = crc32fast::hash(&kernel[uimage::HEADER_SIZE..end]);
        kernel[24..28].copy_from_slice(&dcrc.to_be_bytes());
        kernel[4..8].fill(0);
        let hcrc = crc32fast::hash(&kernel[..uimage::HEADER_SIZE]);
        kernel[4..8].copy_from_slice(&hcrc.to_be_bytes());
    }
    let _ = Kernel::parse(&kernel);
    let cfg = BootConfig {
        layout: BoardLayout::new(RAM, 1).expect("a board"),
        core: Core::ALL[usize::from((flags >> 2) & 3)],
        cmdline: "console=ttyS0",
        timebase_hz: 25_000_000,
        cpu_clock_hz: 1_000_000_000,
        external_proxy: false,
        devices: &[],
    };
    if let Ok(image) = prepare(&kernel, initrd, &cfg) {
        // What `prepare` laid out lies in RAM.
        for w in &image.writes {
            assert!(w.end() <= RAM, "{} ends at {:#x}", w.what, w.end());
        }
        image
            .write_to(ram())
            .expect("a prepared image fits its RAM");
    }
});
