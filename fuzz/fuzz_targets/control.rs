//! The control socket's request line, read as the server reads it (up to the first newline,
//! lossy UTF-8, `Request::parse`), and the migration URI a `migrate` request carries
//! (`Uri::parse`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmm_core::control::Request;
use vmm_core::migration::Uri;

fuzz_target!(|data: &[u8]| {
    let end = data
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(data.len())
        .min(vmm_core::control::MAX_REQUEST);
    let line = String::from_utf8_lossy(&data[..end]);
    match Request::parse(&line) {
        Ok(Request::Migrate(uri)) => {
            assert!(!uri.is_empty() && uri.trim() == uri);
            let _ = Uri::parse(&uri);
        }
        Ok(Request::Snapshot(path)) => assert!(!path.as_os_str().is_empty()),
        _ => {}
    }
    let _ = Uri::parse(&line);
});
