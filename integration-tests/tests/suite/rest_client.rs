//! A small HTTP/1.1 client over a Unix socket for the rest suite (curl is not in the emulated
//! lanes' hosts): one request per connection, the response read to the end (the server closes)
//! and parsed with `httparse`, its Content-Length checked.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// A response.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body, as JSON.
    pub body: serde_json::Value,
}

impl Response {
    /// The value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How long a response may take (a migration answers at its end).
fn deadline() -> Duration {
    4 * integration_tests::run::timeout()
}

/// Sends `raw` as it is and reads everything the server sends back until it closes.
pub fn exchange(api: &Path, raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut c =
        UnixStream::connect(api).map_err(|e| format!("connecting to {}: {e}", api.display()))?;
    c.set_read_timeout(Some(deadline()))
        .map_err(|e| e.to_string())?;
    // A server that answers before reading everything (413) may close first: a failed write is
    // not the outcome; the response is.
    let _ = c.write_all(raw);
    read_all(&mut c)
}

/// Reads until the server closes the connection.
pub fn read_all(c: &mut UnixStream) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // The server's close with our unread bytes in its buffer may reset the connection:
            // what arrived before counts.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !out.is_empty() => {
                return Ok(out)
            }
            Err(e) => return Err(format!("reading the response: {e} (got {out:?})")),
        }
    }
}

/// Parses a whole response.
pub fn parse(bytes: &[u8]) -> Result<Response, String> {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut r = httparse::Response::new(&mut headers);
    let shown = || String::from_utf8_lossy(bytes).into_owned();
    let head = match r.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err(format!("incomplete response: {}", shown())),
        Err(e) => return Err(format!("malformed response ({e}): {}", shown())),
    };
    let status = r.code.ok_or("no status")?;
    let headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let body = &bytes[head..];
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .ok_or_else(|| format!("no Content-Length: {}", shown()))?;
    if length != body.len() {
        return Err(format!(
            "Content-Length {length} but {} body bytes: {}",
            body.len(),
            shown()
        ));
    }
    let ct = headers.iter().find(|(n, _)| n == "content-type");
    if ct.map(|(_, v)| v.as_str()) != Some("application/json") {
        return Err(format!("not JSON: {}", shown()));
    }
    let body = serde_json::from_slice(body).map_err(|e| format!("body: {e}: {}", shown()))?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// `method path` with `body` (JSON text) if any.
pub fn request(
    api: &Path,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<Response, String> {
    let body = body.unwrap_or("");
    let raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    parse(&exchange(api, raw.as_bytes())?)
}
