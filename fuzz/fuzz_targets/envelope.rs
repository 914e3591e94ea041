//! The snapshot envelope (`Envelope::decode`), then every section in it as a restore decodes it.
//!
//! Input: a mode byte, then the state file. Mode bit 0: the file's CRC and end marker are
//! appended here (so the fuzzer reaches the sections behind them); bit 1: the x86 magic is
//! expected, as `tetra run --restore` does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tetra_fuzz::{decode_x86_state, Cursor};
use vmm_core::snapshot::Envelope;

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let mode = c.u8();
    let mut bytes = c.rest().to_vec();
    if mode & 1 != 0 {
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        bytes.extend_from_slice(b"TEND");
    }
    let expect = (mode & 2 != 0).then_some((arch_x86_64::snapshot::SNAPSHOT_MAGIC, "x86_64"));
    let Ok(env) = Envelope::decode(&bytes, expect) else {
        return;
    };
    // What decoded encodes to an envelope that decodes to the same.
    let again = Envelope::decode(&env.encode(), expect).expect("a decoded envelope re-encodes");
    assert_eq!(again, env);
    let _ = vmm_core::snapshot::describe_json(&env, "fuzz.snap");
    decode_x86_state(&env);
});
