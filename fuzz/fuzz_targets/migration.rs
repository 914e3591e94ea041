//! The migration stream as the destination reads it: frames (`frame::read`: kind, length,
//! payload, CRC), HELLO (`Receiver::hello`), then PAGES into a small guest memory, STATE
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
use vmm_core::migration::frame::{self, Kind};
use vmm_core::migration::{Flow, Receiver};

fn memory() -> &'static GuestMemoryMmap {
    static M: OnceLock<GuestMemoryMmap> = OnceLock::new();
    M.get_or_init(|| tetra_fuzz::memory(0, 1 << 20))
}

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let mode = c.u8();
    let rest = c.rest();
    let framed;
    let mut stream: &[u8] = if mode & 1 != 0 {
        framed = frames_with_crc(rest);
        &framed
    } else {
        rest
    };
    let Ok((Kind::Hello, hello)) = frame::read(&mut stream) else {
        return;
    };
    let Ok((_config, mut receiver)) = Receiver::hello(
        &hello,
        arch_x86_64::snapshot::SNAPSHOT_MAGIC,
        "x86_64",
        vmm_core::memory::page_size(),
    ) else {
        return;
    };
    loop {
        let Ok((kind, payload)) = frame::read(&mut stream) else {
            return;
        };
        match receiver.frame(kind, &payload, memory()) {
            Ok(Flow::More) => {}
            Ok(Flow::End) => break,
            Err(_) => return,
        }
    }
    if let Ok(env) = receiver.finish() {
        decode_x86_state(&env);
    }
});
