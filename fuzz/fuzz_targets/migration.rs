//! The migration stream as the destination reads it: frames through its channel (kind, length,
//! payload, CRC; numbered after HELLO, END's summary checked), HELLO (`Receiver::hello`), then PAGES (runs of pages, zero runs) into a small guest memory, STATE
//! (decoded, then every section as `apply_state` decodes it), ROUND, ERROR, END.
//!
//! Input: a mode byte, then the stream. Mode bit 0: the stream is a list of (kind u8, length u16,
//! payload) records that are framed here with their CRCs (so the fuzzer reaches the payloads
//! behind them).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tetra_fuzz::{decode_x86_state, frames_with_crc, Cursor};
use vmm_core::memory::GuestMemoryMmap;
use vmm_core::migration::channel::Channel;
use vmm_core::migration::frame::Kind;
use vmm_core::migration::{Flow, Receiver};

fn memory() -> &'static GuestMemoryMmap {
    static M: OnceLock<GuestMemoryMmap> = OnceLock::new();
    M.get_or_init(|| tetra_fuzz::memory(0, 1 << 20))
}

/// The bytes of the stream as the destination reads them; what it sends back goes nowhere.
struct Input<'a>(&'a [u8]);

impl std::io::Read for Input<'_> {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(b)
    }
}

impl std::io::Write for Input<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let mode = c.u8();
    let rest = c.rest();
    let framed;
    let mut input = Input(if mode & 1 != 0 {
        framed = frames_with_crc(rest);
        &framed
    } else {
        rest
    });
    let mut ch = Channel::new(&mut input);
    let Ok(hello) = ch.recv() else {
        return;
    };
    if hello.kind != Kind::Hello {
        return;
    }
    let Ok((_config, mut receiver)) = Receiver::hello(
        hello.body(),
        arch_x86_64::snapshot::SNAPSHOT_MAGIC,
        "x86_64",
        vmm_core::memory::page_size(),
    ) else {
        return;
    };
    ch.start_sequence();
    loop {
        let Ok(f) = ch.recv() else {
            return;
        };
        match receiver.frame(f.kind, f.body(), memory()) {
            // x86 takes no ARCH section (the destination refuses it); decoded all the same.
            Ok(Flow::More | Flow::Arch(_)) => ch.recycle(f),
            Ok(Flow::End) => {
                if ch.check_end(f.body(), receiver.pages()).is_err() {
                    return;
                }
                break;
            }
            Err(_) => return,
        }
    }
    if let Ok(env) = receiver.finish() {
        decode_x86_state(&env);
    }
});
