//! A small HTTP/1.1 client of the control socket's REST API ([`super::http`], `docs/api.yaml`)
//! over its Unix socket: what `tetra ctl` and `tetra migrate` speak.
//!
//! One request per connection (the server closes after its response), a JSON body each way. The
//! server's bytes are untrusted: the response head is parsed with `httparse` and may be at most
//! [`MAX_HEAD`] bytes, its body at most [`MAX_BODY`] bytes given by `Content-Length` (or up to the
//! end of the stream), each read waits at most the client's idle timeout, and anything else is a
//! [`ClientError`], never a panic.
//!
//! Progress: a request sent with [`PROGRESS_HEADER`] (snapshot, migrate) is answered, before its
//! final response, with `102 Processing` interim responses whose [`PROGRESS_HEADER`] header holds
//! one progress text each (the line protocol's `progress: TEXT`); [`Client::request`] hands each
//! to its callback.

use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The request header that asks for progress, and the interim responses' header that carries it.
pub const PROGRESS_HEADER: &str = "Tetra-Progress";
/// The largest response head (status line and headers) the client accepts.
pub const MAX_HEAD: usize = 16 * 1024;
/// The most headers in a response.
pub const MAX_HEADERS: usize = 32;
/// The largest response body the client accepts.
pub const MAX_BODY: usize = 4 << 20;
/// How long a read may wait by default. Generous: requests run one at a time on the VMM's
/// thread, so one queued behind a long snapshot or migration hears nothing until it ends, and a
/// big snapshot's final fsync reports nothing meanwhile; it is there so that a server that
/// never answers does not hold its client for ever.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// Errors of a request to the control socket.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens at the path (or it is not a socket).
    #[error("cannot connect to {path}")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Writing the request failed.
    #[error("sending to {path}")]
    Send {
        /// The socket path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Reading the response failed.
    #[error("reading from {path}")]
    Read {
        /// The socket path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server sent nothing for the idle timeout.
    #[error("{path} sent nothing for {after:?}")]
    TimedOut {
        /// The socket path.
        path: PathBuf,
        /// The idle timeout.
        after: Duration,
    },
    /// The connection ended before the whole response came.
    #[error("{path} closed the connection without a complete reply")]
    Truncated {
        /// The socket path.
        path: PathBuf,
    },
    /// The response head is not HTTP.
    #[error("{path} sent a malformed HTTP response")]
    Malformed {
        /// The socket path.
        path: PathBuf,
        /// What `httparse` found.
        #[source]
        source: httparse::Error,
    },
    /// The response head is over [`MAX_HEAD`] bytes.
    #[error("{path} sent a response head longer than {MAX_HEAD} bytes")]
    HeadTooLarge {
        /// The socket path.
        path: PathBuf,
    },
    /// The response body is over [`MAX_BODY`] bytes.
    #[error("{path} sent a response body longer than {MAX_BODY} bytes")]
    BodyTooLarge {
        /// The socket path.
        path: PathBuf,
    },
    /// A header makes no sense (`Content-Length`, `Transfer-Encoding`).
    #[error("{path} sent a bad {header} header")]
    BadHeader {
        /// The socket path.
        path: PathBuf,
        /// Which header.
        header: &'static str,
    },
    /// The body is not JSON.
    #[error("{path} sent a body that is not JSON")]
    NotJson {
        /// The socket path.
        path: PathBuf,
        /// What serde_json found.
        #[source]
        source: serde_json::Error,
    },
    /// The API refused or failed the request (its `{"error": ...}`).
    #[error("{message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
}

/// A final response: its status and JSON body.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The body (`null` when there is none).
    pub body: Value,
}

/// A client of the control socket at one path.
#[derive(Clone, Debug)]
pub struct Client {
    path: PathBuf,
    idle: Duration,
}

impl Client {
    /// A client of the socket at `path`, with [`IDLE_TIMEOUT`].
    pub fn new(path: &Path) -> Self {
        Client {
            path: path.to_path_buf(),
            idle: IDLE_TIMEOUT,
        }
    }

    /// The same client waiting at most `idle` for each read.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// Sends `method target` with `body` (as JSON); with `progress`, asks for progress and hands
    /// it each interim response's text. A 2xx response's body is returned; any other status is
    /// [`ClientError::Refused`] with the server's message.
    pub fn request(
        &self,
        method: &str,
        target: &str,
        body: Option<&Value>,
        progress: Option<&mut dyn FnMut(&str)>,
    ) -> Result<Value, ClientError> {
        let r = self.exchange(method, target, body, progress)?;
        if (200..300).contains(&r.status) {
            return Ok(r.body);
        }
        let message = match r.body.get("error").and_then(Value::as_str) {
            Some(m) => m.to_string(),
            None => format!("HTTP {} from {}", r.status, self.path.display()),
        };
        Err(ClientError::Refused {
            status: r.status,
            message,
        })
    }

    /// Sends the request and reads its final response, whatever its status.
    pub fn exchange(
        &self,
        method: &str,
        target: &str,
        body: Option<&Value>,
        mut progress: Option<&mut dyn FnMut(&str)>,
    ) -> Result<Response, ClientError> {
        let path = || self.path.clone();
        let mut conn = UnixStream::connect(&self.path).map_err(|source| ClientError::Connect {
            path: path(),
            source,
        })?;
        let send = |source| ClientError::Send {
            path: path(),
            source,
        };
        conn.set_read_timeout(Some(self.idle)).map_err(send)?;
        conn.set_write_timeout(Some(self.idle)).map_err(send)?;
        let body = body.map(Value::to_string).unwrap_or_default();
        let ask = if progress.is_some() {
            format!("{PROGRESS_HEADER}: 1\r\n")
        } else {
            String::new()
        };
        let head = format!(
            "{method} {target} HTTP/1.1\r\nHost: localhost\r\n{ask}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        // One write: a server may answer and close as soon as it has the head (tetra's does for a
        // body it refuses by its Content-Length), and a second write would then fail with EPIPE
        // before the answer is read. A request that fits the socket's buffer (tetra's bodies are
        // a path or a URI) is then all sent before the server reads any of it.
        let mut request = head.into_bytes();
        request.extend_from_slice(body.as_bytes());
        conn.write_all(&request).map_err(send)?;
        let mut reader = Reader {
            conn,
            buf: Vec::new(),
            eof: false,
            path: &self.path,
            idle: self.idle,
        };
        loop {
            let (status, length, progress_text, head) = reader.head()?;
            reader.buf.drain(..head);
            if (100..200).contains(&status) {
                if let (Some(f), Some(t)) = (progress.as_mut(), progress_text) {
                    f(&t);
                }
                continue;
            }
            let body = reader.body(length)?;
            let body = if body.iter().all(u8::is_ascii_whitespace) {
                Value::Null
            } else {
                serde_json::from_slice(&body).map_err(|source| ClientError::NotJson {
                    path: path(),
                    source,
                })?
            };
            return Ok(Response { status, body });
        }
    }
}

/// The response bytes read so far from a connection.
struct Reader<'a> {
    conn: UnixStream,
    buf: Vec<u8>,
    eof: bool,
    path: &'a Path,
    idle: Duration,
}

impl Reader<'_> {
    /// Reads more, at most up to `limit` bytes in the buffer; false at the end of the stream.
    fn fill(&mut self, limit: usize) -> Result<bool, ClientError> {
        if self.eof {
            return Ok(false);
        }
        let mut chunk = [0u8; 4096];
        let want = chunk.len().min(limit.saturating_sub(self.buf.len()).max(1));
        loop {
            match self.conn.read(&mut chunk[..want]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(ClientError::TimedOut {
                        path: self.path.to_path_buf(),
                        after: self.idle,
                    })
                }
                Err(source) => {
                    return Err(ClientError::Read {
                        path: self.path.to_path_buf(),
                        source,
                    })
                }
            }
        }
    }

    /// The next response head: its status, `Content-Length`, progress text and length in bytes.
    #[allow(clippy::type_complexity)]
    fn head(&mut self) -> Result<(u16, Option<usize>, Option<String>, usize), ClientError> {
        let path = || self.path.to_path_buf();
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => {
                    let status = resp.code.unwrap_or(0);
                    let mut length = None;
                    let mut progress = None;
                    for h in resp.headers.iter() {
                        let value = std::str::from_utf8(h.value).ok().map(str::trim);
                        if h.name.eq_ignore_ascii_case("transfer-encoding") {
                            return Err(ClientError::BadHeader {
                                path: path(),
                                header: "Transfer-Encoding",
                            });
                        }
                        if h.name.eq_ignore_ascii_case("content-length") {
                            let n = value.and_then(|v| v.parse::<usize>().ok());
                            match (n, length) {
                                (Some(n), None) => length = Some(n),
                                (Some(n), Some(m)) if n == m => {}
                                _ => {
                                    return Err(ClientError::BadHeader {
                                        path: path(),
                                        header: "Content-Length",
                                    })
                                }
                            }
                        }
                        if h.name.eq_ignore_ascii_case(PROGRESS_HEADER) {
                            progress = value.map(str::to_string);
                        }
                    }
                    return Ok((status, length, progress, n));
                }
                Ok(httparse::Status::Partial) if self.buf.len() < MAX_HEAD => {
                    if !self.fill(MAX_HEAD)? {
                        return Err(ClientError::Truncated { path: path() });
                    }
                }
                Ok(_) | Err(httparse::Error::TooManyHeaders) => {
                    return Err(ClientError::HeadTooLarge { path: path() })
                }
                Err(source) => {
                    return Err(ClientError::Malformed {
                        path: path(),
                        source,
                    })
                }
            }
        }
    }

    /// The body: `length` bytes, or (without a length) everything up to the end of the stream.
    fn body(&mut self, length: Option<usize>) -> Result<Vec<u8>, ClientError> {
        let path = || self.path.to_path_buf();
        let limit = match length {
            Some(n) if n > MAX_BODY => return Err(ClientError::BodyTooLarge { path: path() }),
            Some(n) => n,
            None => MAX_BODY + 1,
        };
        while self.buf.len() < limit {
            if !self.fill(limit)? {
                break;
            }
        }
        match length {
            Some(n) if self.buf.len() < n => Err(ClientError::Truncated { path: path() }),
            Some(n) => Ok(self.buf[..n].to_vec()),
            None if self.buf.len() > MAX_BODY => Err(ClientError::BodyTooLarge { path: path() }),
            None => Ok(std::mem::take(&mut self.buf)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A fake server answering one connection with `reply` (after reading the request head),
    /// then keeping it open for `hold`; returns the socket path and what the client sent.
    fn serve(
        name: &str,
        reply: Vec<u8>,
        hold: Duration,
    ) -> (PathBuf, std::thread::JoinHandle<String>) {
        let d = std::env::temp_dir().join(format!("tetra-client-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let path = d.join("api");
        let listener = UnixListener::bind(&path).unwrap();
        let t = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut b = [0u8; 1024];
            // The head, then as many body bytes as its Content-Length says (a server that
            // closed before reading the body would make the client's send fail).
            let wanted = |got: &[u8]| {
                let end = got.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
                let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                Some(end + len)
            };
            while wanted(&got).is_none_or(|n| got.len() < n) {
                match c.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&b[..n]),
                }
            }
            let _ = c.write_all(&reply);
            std::thread::sleep(hold);
            String::from_utf8_lossy(&got).into_owned()
        });
        (path, t)
    }

    fn ok(body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[test]
    fn sends_the_request_and_reads_interim_progress_then_the_answer() {
        let mut reply =
            b"HTTP/1.1 102 Processing\r\nTetra-Progress: writing, 1 of 4 pages\r\n\r\n".to_vec();
        reply.extend_from_slice(b"HTTP/1.1 102 Processing\r\ntetra-progress: round 2\r\n\r\n");
        reply.extend(ok(r#"{"state":"paused"}"#));
        let (path, t) = serve("progress", reply, Duration::ZERO);
        let mut seen = Vec::new();
        let body = serde_json::json!({"path": "/tmp/x"});
        let v = Client::new(&path)
            .request(
                "PUT",
                "/vm/snapshot",
                Some(&body),
                Some(&mut |p| seen.push(p.to_string())),
            )
            .unwrap();
        assert_eq!(v, serde_json::json!({"state": "paused"}));
        assert_eq!(seen, ["writing, 1 of 4 pages", "round 2"]);
        let sent = t.join().unwrap();
        assert!(sent.starts_with("PUT /vm/snapshot HTTP/1.1\r\n"), "{sent}");
        assert!(sent.contains("Tetra-Progress: 1\r\n"), "{sent}");
        assert!(sent.contains("Content-Length: 17\r\n"), "{sent}");
    }

    #[test]
    fn an_error_status_carries_the_servers_message() {
        let body = r#"{"error":"the VM is paused already"}"#;
        let reply = format!(
            "HTTP/1.1 409 Conflict\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let (path, t) = serve("refused", reply.into_bytes(), Duration::ZERO);
        let e = Client::new(&path)
            .request("PUT", "/vm/pause", None, None)
            .unwrap_err();
        assert!(
            matches!(&e, ClientError::Refused { status: 409, message } if message == "the VM is paused already"),
            "{e:?}"
        );
        t.join().unwrap();
    }

    #[test]
    fn a_body_without_length_ends_with_the_stream() {
        let (path, t) = serve(
            "eof",
            b"HTTP/1.1 200 OK\r\n\r\n{\"a\":1}".to_vec(),
            Duration::ZERO,
        );
        let v = Client::new(&path)
            .request("GET", "/vm", None, None)
            .unwrap();
        assert_eq!(v, serde_json::json!({"a": 1}));
        t.join().unwrap();
    }

    fn failure(name: &str, reply: &[u8], hold: Duration) -> ClientError {
        let (path, t) = serve(name, reply.to_vec(), hold);
        let e = Client::new(&path)
            .idle_timeout(Duration::from_millis(300))
            .request("GET", "/vm", None, None)
            .unwrap_err();
        t.join().unwrap();
        e
    }

    #[test]
    fn untrusted_responses_get_clear_errors() {
        let e = failure("garbage", b"SSH-2.0-OpenSSH\r\n\r\n", Duration::ZERO);
        assert!(matches!(e, ClientError::Malformed { .. }), "{e:?}");
        // Cut in the head, cut in the body.
        let e = failure("cut-head", b"HTTP/1.1 200 OK\r\nContent-Le", Duration::ZERO);
        assert!(matches!(e, ClientError::Truncated { .. }), "{e:?}");
        let e = failure(
            "cut-body",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{\"a\"",
            Duration::ZERO,
        );
        assert!(matches!(e, ClientError::Truncated { .. }), "{e:?}");
        // Oversized: a head that never ends, a body over the cap (refused from its length,
        // nothing read), too many headers.
        let mut endless = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        endless.extend(vec![b'a'; MAX_HEAD * 2]);
        let e = failure("big-head", &endless, Duration::ZERO);
        assert!(matches!(e, ClientError::HeadTooLarge { .. }), "{e:?}");
        let big = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        let e = failure("big-body", big.as_bytes(), Duration::ZERO);
        assert!(matches!(e, ClientError::BodyTooLarge { .. }), "{e:?}");
        let mut long = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        long.extend(vec![b' '; MAX_BODY + 10]);
        let e = failure("big-eof-body", &long, Duration::ZERO);
        assert!(matches!(e, ClientError::BodyTooLarge { .. }), "{e:?}");
        let many: String = (0..40).map(|i| format!("X-{i}: y\r\n")).collect();
        let e = failure(
            "many",
            format!("HTTP/1.1 200 OK\r\n{many}\r\n").as_bytes(),
            Duration::ZERO,
        );
        assert!(matches!(e, ClientError::HeadTooLarge { .. }), "{e:?}");
        // Bad headers and bodies.
        let e = failure(
            "chunked",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            Duration::ZERO,
        );
        assert!(matches!(e, ClientError::BadHeader { .. }), "{e:?}");
        let e = failure(
            "two-lengths",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{}",
            Duration::ZERO,
        );
        assert!(matches!(e, ClientError::BadHeader { .. }), "{e:?}");
        let e = failure(
            "not-json",
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
            Duration::ZERO,
        );
        assert!(matches!(e, ClientError::NotJson { .. }), "{e:?}");
        // A server that says nothing more: the idle timeout, not a hang.
        let e = failure(
            "silent",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            Duration::from_secs(2),
        );
        assert!(matches!(e, ClientError::TimedOut { .. }), "{e:?}");
    }

    #[test]
    fn nothing_listening_is_a_connect_error() {
        let p = std::env::temp_dir().join(format!("tetra-client-none-{}", std::process::id()));
        let e = Client::new(&p)
            .request("GET", "/vm", None, None)
            .unwrap_err();
        assert!(matches!(e, ClientError::Connect { .. }), "{e:?}");
        assert!(e.to_string().starts_with("cannot connect to "), "{e}");
    }
}
