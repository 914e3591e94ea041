//! The control socket's HTTP requests, read as the server reads them: the first line decides
//! HTTP or the line protocol (`is_request_line`), then `http::parse` on what has arrived, at
//! every length a client could have sent so far. Never a panic; a refusal is a 4xx or 5xx; a
//! request still incomplete is within the head and body limits; a body's path or URI is never
//! empty.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmm_core::control::http::{self, Parse, MAX_BODY, MAX_HEAD};
use vmm_core::control::Request;

fuzz_target!(|data: &[u8]| {
    if let Some(end) = data.iter().position(|&b| b == b'\n') {
        let _ = http::is_request_line(&data[..end]);
    }
    // The whole input, and a few of its prefixes (a request arriving in pieces).
    let step = (data.len() / 4).max(1);
    for len in (0..data.len()).step_by(step).chain([data.len()]) {
        let buf = &data[..len];
        match http::parse(buf) {
            Parse::Incomplete => assert!(buf.len() <= MAX_HEAD + MAX_BODY),
            Parse::Done(Err(r)) => assert!((400..600).contains(&r.status), "{r:?}"),
            Parse::Done(Ok(Request::Snapshot(p))) => assert!(!p.as_os_str().is_empty()),
            Parse::Done(Ok(Request::Migrate(u))) => assert!(!u.is_empty()),
            Parse::Done(Ok(_)) => {}
        }
    }
});
