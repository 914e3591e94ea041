//! The control socket's HTTP/1.1 face: a connection whose first line is an HTTP request line
//! (`METHOD TARGET HTTP/1.x`) is read as one HTTP request, parsed with `httparse`, and answered
//! with one JSON response, then closed (`Connection: close`; no keep-alive, no pipelining).
//!
//! ```text
//! GET /vm             state and the VM's description
//! PUT /vm/pause       pause the vCPUs
//! PUT /vm/resume      resume them
//! PUT /vm/snapshot    {"path": "..."}: write a snapshot
//! PUT /vm/migrate     {"uri": "unix:PATH" | "tcp:HOST:PORT"}: migrate (the reply comes at its end)
//! GET /vm/migration   the last migration's outcome and figures
//! GET /vm/vcpus       each vCPU's KVM_RUN count, place, and (paused) registers
//! GET /vm/metrics     the counters the VMM keeps
//! PUT /vm/shutdown    press the guest's power button (x86; 501 on the other arches)
//! ```
//!
//! `docs/api.yaml` is the OpenAPI document of these. Limits: a head of at most [`MAX_HEAD`]
//! bytes and [`MAX_HEADERS`] headers (else 431), a body of at most [`MAX_BODY`] bytes given by
//! `Content-Length` (else 413; chunked bodies get 501), bodies with unknown fields are refused
//! naming the field (400). Errors are `{"error": "..."}`. A snapshot or migration request with a
//! `Tetra-Progress: 1` header ([`wants_progress`]) gets `102 Processing` interim responses
//! ([`interim`]) before its answer.

use super::Request;
use serde::Deserialize;
use std::path::PathBuf;

/// The largest request head (request line and headers).
pub const MAX_HEAD: usize = 8 * 1024;
/// The most headers in a request.
pub const MAX_HEADERS: usize = 32;
/// The largest request body.
pub const MAX_BODY: usize = 64 * 1024;

/// Every endpoint and the one method it takes.
pub const ROUTES: &[(&str, &str)] = &[
    ("/vm", "GET"),
    ("/vm/pause", "PUT"),
    ("/vm/resume", "PUT"),
    ("/vm/snapshot", "PUT"),
    ("/vm/migrate", "PUT"),
    ("/vm/migration", "GET"),
    ("/vm/vcpus", "GET"),
    ("/vm/metrics", "GET"),
    ("/vm/shutdown", "PUT"),
];

/// A request refused or failed: an HTTP status and a message (on the line protocol, only the
/// message: `error: MESSAGE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status (4xx, 5xx).
    pub status: u16,
    /// What went wrong.
    pub message: String,
    /// For 405: the method the path takes (the `Allow` header).
    pub allow: Option<&'static str>,
}

impl Refusal {
    /// A refusal with `status`.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Refusal {
            status,
            message: message.into(),
            allow: None,
        }
    }
}

/// How far a request has come.
#[derive(Debug, PartialEq, Eq)]
pub enum Parse {
    /// More bytes are needed.
    Incomplete,
    /// The request, or why it is refused.
    Done(Result<Request, Refusal>),
}

/// Whether `line` (the connection's first line, without its `\n`) is an HTTP/1.x request line.
pub fn is_request_line(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.ends_with(b" HTTP/1.1") || line.ends_with(b" HTTP/1.0")
}

/// Parses what a connection has sent so far.
pub fn parse(buf: &[u8]) -> Parse {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let refuse = |status, message: String| Parse::Done(Err(Refusal::new(status, message)));
    let head = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => n,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => return Parse::Incomplete,
        Ok(_) => return refuse(431, format!("request head longer than {MAX_HEAD} bytes")),
        Err(httparse::Error::TooManyHeaders) => {
            return refuse(431, format!("more than {MAX_HEADERS} headers"))
        }
        Err(e) => return refuse(400, format!("malformed HTTP request: {e}")),
    };
    let mut length: Option<usize> = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return refuse(
                501,
                "chunked bodies are not supported: send Content-Length".into(),
            );
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok());
            match (n, length) {
                (None, _) => return refuse(400, "Content-Length is not a number".into()),
                (Some(n), Some(m)) if n != m => {
                    return refuse(400, "Content-Length headers disagree".into())
                }
                (Some(n), _) => length = Some(n),
            }
        }
    }
    let length = length.unwrap_or(0);
    if length > MAX_BODY {
        return refuse(
            413,
            format!("request body of {length} bytes: the limit is {MAX_BODY}"),
        );
    }
    if buf.len() < head + length {
        return Parse::Incomplete;
    }
    let method = req.method.unwrap_or("");
    let path = req.path.unwrap_or("");
    Parse::Done(route(method, path, &buf[head..head + length]))
}

/// Whether the (complete, parsed) request in `buf` asks for progress: a
/// [`super::client::PROGRESS_HEADER`] header that is not `0`.
pub fn wants_progress(buf: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    if !matches!(req.parse(buf), Ok(httparse::Status::Complete(_))) {
        return false;
    }
    req.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case(super::client::PROGRESS_HEADER) && h.value.trim_ascii() != b"0"
    })
}

/// The HTTP request (method, target, JSON body) that stands for `request`, the inverse of
/// [`parse`]; `None` for the requests only QMP sends (`system_reset`, `quit`). `Status` and
/// `Config` are `GET /vm`, whose answer holds both.
pub fn request_of(
    request: &Request,
) -> Option<(&'static str, &'static str, Option<serde_json::Value>)> {
    use serde_json::json;
    Some(match request {
        Request::Pause => ("PUT", "/vm/pause", None),
        Request::Resume => ("PUT", "/vm/resume", None),
        Request::Status | Request::Config | Request::Info => ("GET", "/vm", None),
        Request::Vcpus => ("GET", "/vm/vcpus", None),
        Request::Snapshot(p) => ("PUT", "/vm/snapshot", Some(json!({ "path": p }))),
        Request::Migrate(uri) => ("PUT", "/vm/migrate", Some(json!({ "uri": uri }))),
        Request::Migration => ("GET", "/vm/migration", None),
        Request::Metrics => ("GET", "/vm/metrics", None),
        Request::PowerButton => ("PUT", "/vm/shutdown", None),
        Request::Reset | Request::Quit => return None,
    })
}

/// An interim `102 Processing` response carrying one progress `text` (control characters, which
/// a header cannot hold, become spaces).
pub fn interim(text: &str) -> Vec<u8> {
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!(
        "HTTP/1.1 102 Processing\r\n{}: {text}\r\n\r\n",
        super::client::PROGRESS_HEADER
    )
    .into_bytes()
}

/// `PUT /vm/snapshot`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotBody {
    path: PathBuf,
}

/// `PUT /vm/migrate`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MigrateBody {
    uri: String,
}

/// The body of a request that takes none: nothing, or `{}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoBody {}

fn body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| Refusal::new(400, format!("request body: {e}")))
}

fn no_body(b: &[u8]) -> Result<(), Refusal> {
    if b.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    body::<NoBody>(b).map(|_| ())
}

/// The request `method path` with `b` as its body stands for.
fn route(method: &str, path: &str, b: &[u8]) -> Result<Request, Refusal> {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let Some(&(path, allowed)) = ROUTES.iter().find(|(p, _)| *p == path) else {
        let known: Vec<&str> = ROUTES.iter().map(|(p, _)| *p).collect();
        return Err(Refusal::new(
            404,
            format!(
                "no endpoint {path:?}: the endpoints are {}",
                known.join(", ")
            ),
        ));
    };
    if method != allowed {
        return Err(Refusal {
            allow: Some(allowed),
            ..Refusal::new(405, format!("{path} takes {allowed}, not {method}"))
        });
    }
    let nonempty = |what: &str, s: &str| {
        if s.is_empty() {
            Err(Refusal::new(400, format!("request body: {what} is empty")))
        } else {
            Ok(())
        }
    };
    Ok(match path {
        "/vm/snapshot" => {
            let s: SnapshotBody = body(b)?;
            nonempty("path", &s.path.to_string_lossy())?;
            Request::Snapshot(s.path)
        }
        "/vm/migrate" => {
            let m: MigrateBody = body(b)?;
            nonempty("uri", &m.uri)?;
            Request::Migrate(m.uri)
        }
        _ => {
            no_body(b)?;
            match path {
                "/vm" => Request::Info,
                "/vm/pause" => Request::Pause,
                "/vm/resume" => Request::Resume,
                "/vm/migration" => Request::Migration,
                "/vm/vcpus" => Request::Vcpus,
                "/vm/metrics" => Request::Metrics,
                _ => Request::PowerButton,
            }
        }
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// A whole response: `status`, a JSON `body`, and `Allow: allow` if given.
pub fn response(status: u16, body: &serde_json::Value, allow: Option<&str>) -> Vec<u8> {
    let body = body.to_string();
    let allow = allow.map_or(String::new(), |m| format!("Allow: {m}\r\n"));
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n{body}",
        reason(status),
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(s: &str) -> Result<Request, Refusal> {
        match parse(s.as_bytes()) {
            Parse::Done(r) => r,
            Parse::Incomplete => panic!("incomplete: {s:?}"),
        }
    }

    fn status(s: &str) -> u16 {
        done(s).expect_err(s).status
    }

    #[test]
    fn recognises_request_lines() {
        assert!(is_request_line(b"GET /vm HTTP/1.1\r"));
        assert!(is_request_line(b"PUT /vm/pause HTTP/1.0"));
        assert!(!is_request_line(b"pause"));
        assert!(!is_request_line(b"snapshot /tmp/HTTP/1.1"));
    }

    #[test]
    fn routes_every_endpoint() {
        assert_eq!(done("GET /vm HTTP/1.1\r\n\r\n"), Ok(Request::Info));
        assert_eq!(
            done("PUT /vm/pause HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"),
            Ok(Request::Pause)
        );
        assert_eq!(done("PUT /vm/resume HTTP/1.1\r\n\r\n"), Ok(Request::Resume));
        assert_eq!(
            done("GET /vm/vcpus?x=1 HTTP/1.1\r\n\r\n"),
            Ok(Request::Vcpus)
        );
        assert_eq!(
            done("GET /vm/metrics HTTP/1.1\r\n\r\n"),
            Ok(Request::Metrics)
        );
        assert_eq!(
            done("GET /vm/migration HTTP/1.1\r\n\r\n"),
            Ok(Request::Migration)
        );
        assert_eq!(
            done("PUT /vm/shutdown HTTP/1.1\r\n\r\n"),
            Ok(Request::PowerButton)
        );
        let b = r#"{"path": "/tmp/s"}"#;
        assert_eq!(
            done(&format!(
                "PUT /vm/snapshot HTTP/1.1\r\ncontent-length: {}\r\n\r\n{b}",
                b.len()
            )),
            Ok(Request::Snapshot("/tmp/s".into()))
        );
        let b = r#"{"uri":"unix:/x"}"#;
        assert_eq!(
            done(&format!(
                "PUT /vm/migrate HTTP/1.1\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            )),
            Ok(Request::Migrate("unix:/x".into()))
        );
    }

    #[test]
    fn refuses_with_the_right_status() {
        assert_eq!(status("GET /nope HTTP/1.1\r\n\r\n"), 404);
        let r = done("GET /vm/pause HTTP/1.1\r\n\r\n").unwrap_err();
        assert_eq!((r.status, r.allow), (405, Some("PUT")));
        assert_eq!(status("G@T /vm HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(
            status("PUT /vm/pause HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
            400
        );
        assert_eq!(
            status("PUT /vm/pause HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            501
        );
        assert_eq!(
            status("PUT /vm/snapshot HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"),
            413
        );
        let many: String = (0..40).map(|i| format!("X-{i}: y\r\n")).collect();
        assert_eq!(status(&format!("GET /vm HTTP/1.1\r\n{many}\r\n")), 431);
        let big = format!("GET /vm HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEAD));
        assert_eq!(status(&big), 431);
        // Bodies: bad JSON, an unknown field (named), a missing or empty field.
        let req = |p: &str, b: &str| {
            done(&format!(
                "PUT {p} HTTP/1.1\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            ))
            .unwrap_err()
        };
        assert_eq!(req("/vm/snapshot", "{").status, 400);
        let r = req("/vm/snapshot", r#"{"path":"/a","force":true}"#);
        assert!(r.status == 400 && r.message.contains("force"), "{r:?}");
        let r = req("/vm/pause", r#"{"now":1}"#);
        assert!(r.status == 400 && r.message.contains("now"), "{r:?}");
        assert_eq!(req("/vm/migrate", "{}").status, 400);
        assert_eq!(req("/vm/migrate", r#"{"uri":""}"#).status, 400);
    }

    #[test]
    fn request_of_is_parses_inverse() {
        let all = [
            Request::Pause,
            Request::Resume,
            Request::Info,
            Request::Vcpus,
            Request::Snapshot("/tmp/a b".into()),
            Request::Migrate("tcp:h:1".into()),
            Request::Migration,
            Request::Metrics,
            Request::PowerButton,
        ];
        for r in all {
            let (method, target, body) = request_of(&r).unwrap();
            let body = body.map(|b| b.to_string()).unwrap_or_default();
            let wire = format!(
                "{method} {target} HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            assert_eq!(done(&wire), Ok(r));
        }
        assert_eq!(request_of(&Request::Status).unwrap().1, "/vm");
        assert!(request_of(&Request::Quit).is_none());
    }

    #[test]
    fn progress_is_asked_for_and_sent_as_interim_responses() {
        assert!(wants_progress(
            b"PUT /vm/snapshot HTTP/1.1\r\ntetra-progress: 1\r\n\r\n"
        ));
        assert!(!wants_progress(
            b"PUT /vm/snapshot HTTP/1.1\r\nTetra-Progress: 0\r\n\r\n"
        ));
        assert!(!wants_progress(b"PUT /vm/snapshot HTTP/1.1\r\n\r\n"));
        let r = String::from_utf8(interim("a\r\nX: injected")).unwrap();
        assert_eq!(
            r,
            "HTTP/1.1 102 Processing\r\nTetra-Progress: a  X: injected\r\n\r\n"
        );
    }

    #[test]
    fn waits_for_the_whole_request() {
        assert_eq!(parse(b"GET /vm HTTP/1.1\r\n"), Parse::Incomplete);
        assert_eq!(
            parse(b"PUT /vm/snapshot HTTP/1.1\r\nContent-Length: 10\r\n\r\n{\"pa"),
            Parse::Incomplete
        );
    }

    #[test]
    fn responses_are_well_formed() {
        let r = response(405, &serde_json::json!({"error": "x"}), Some("GET"));
        let r = String::from_utf8(r).unwrap();
        assert!(r.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{r}");
        assert!(r.contains("Content-Length: 13\r\n") && r.contains("Allow: GET\r\n"));
        assert!(r.ends_with("\r\n\r\n{\"error\":\"x\"}"), "{r}");
    }
}
