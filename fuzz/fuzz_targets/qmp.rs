//! QMP input, read as the QMP server reads it: split at newlines, each line parsed. Never a
//! panic; every line gives a command or a refusal whose reply is one JSON line naming QEMU's
//! class; an `id` is echoed in the reply.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmm_core::control::qmp::wire;

fuzz_target!(|data: &[u8]| {
    for line in data.split(|&b| b == b'\n') {
        let input = wire::parse(line);
        let reply = match &input.command {
            Ok(wire::Command::Migrate(uri)) => {
                assert!(vmm_core::migration::Uri::parse(uri).is_ok(), "{uri}");
                wire::ret(&input.id, serde_json::json!({}))
            }
            Ok(_) => wire::ret(&input.id, serde_json::json!({})),
            Err(f) => {
                assert!(!f.desc.is_empty());
                wire::error(&input.id, f)
            }
        };
        assert!(!reply.contains('\n'), "one line: {reply}");
        let v: serde_json::Value = serde_json::from_str(&reply).expect("a reply is JSON");
        assert_eq!(v.get("id"), input.id.as_ref());
    }
});
