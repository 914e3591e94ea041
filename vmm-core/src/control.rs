//! The control socket of a running VM (`tetra run --api PATH`): one request per connection, one
//! line each way, easy to drive with `tetra ctl`, `tetra migrate` or `socat`.
//!
//! ```text
//! pause | resume | status | snapshot PATH | migrate unix:PATH|tcp:HOST:PORT
//! ```
//!
//! Replies: zero or more `progress: ...` lines (migration rounds), then `ok` or `ok: DETAILS`, or
//! `error: MESSAGE`.

use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Errors setting up the control socket.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Binding failed.
    #[error("cannot listen on {path}")]
    Bind {
        /// The socket path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Pause the vCPUs.
    Pause,
    /// Resume them.
    Resume,
    /// Running or paused.
    Status,
    /// Each vCPU's `KVM_RUN` count and where its thread is; with the VM paused, its registers too.
    Vcpus,
    /// Write a snapshot.
    Snapshot(PathBuf),
    /// Migrate to a destination.
    Migrate(String),
}

impl Request {
    /// Parses a request line.
    pub fn parse(line: &str) -> Result<Request, String> {
        let line = line.trim();
        let (cmd, arg) = match line.split_once(char::is_whitespace) {
            Some((c, a)) => (c, a.trim()),
            None => (line, ""),
        };
        let none = |r: Request| {
            if arg.is_empty() {
                Ok(r)
            } else {
                Err(format!("{cmd} takes no argument"))
            }
        };
        match cmd {
            "pause" => none(Request::Pause),
            "resume" => none(Request::Resume),
            "status" => none(Request::Status),
            "vcpus" => none(Request::Vcpus),
            "snapshot" if !arg.is_empty() => Ok(Request::Snapshot(PathBuf::from(arg))),
            "migrate" if !arg.is_empty() => Ok(Request::Migrate(arg.to_string())),
            "snapshot" | "migrate" => Err(format!("{cmd} needs an argument")),
            other => Err(format!(
                "unknown request {other:?}: expected pause, resume, status, vcpus, snapshot PATH or migrate URI"
            )),
        }
    }
}

/// A client waiting for its reply.
pub struct Reply(UnixStream);

impl Reply {
    /// Sends a line (progress), ignoring a client that went away.
    pub fn line(&mut self, s: &str) {
        let _ = writeln!(self.0, "{s}");
    }
    /// Sends `ok` or `ok: details`.
    pub fn ok(mut self, details: &str) {
        if details.is_empty() {
            self.line("ok");
        } else {
            self.line(&format!("ok: {details}"));
        }
    }
    /// Sends `error: message`.
    pub fn error(mut self, message: &str) {
        self.line(&format!("error: {message}"));
    }
}

/// Requests waiting for the VMM.
pub type Queue = Arc<Mutex<VecDeque<(Request, Reply)>>>;

/// The listening socket, as an event-loop subscriber.
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
    queue: Queue,
}

impl ControlServer {
    /// Listens at `path` (an existing socket file there is replaced).
    pub fn bind(path: &Path, queue: Queue) -> Result<Self, ControlError> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).map_err(|source| ControlError::Bind {
            path: path.display().to_string(),
            source,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| ControlError::Bind {
                path: path.display().to_string(),
                source,
            })?;
        Ok(ControlServer {
            listener,
            path: path.to_path_buf(),
            queue,
        })
    }

    fn accept(&mut self) {
        while let Ok((conn, _)) = self.listener.accept() {
            // One short line per connection: read it with a timeout rather than track partial reads.
            let _ = conn.set_nonblocking(false);
            let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
            let mut line = String::new();
            let read = conn
                .try_clone()
                .map(|c| BufReader::new(c).take(4096).read_line(&mut line));
            let reply = Reply(conn);
            match read {
                Ok(Ok(_)) => match Request::parse(&line) {
                    Ok(r) => self
                        .queue
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push_back((r, reply)),
                    Err(e) => reply.error(&e),
                },
                _ => reply.error("no request read"),
            }
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl MutEventSubscriber for ControlServer {
    fn init(&mut self, ops: &mut EventOps) {
        let _ = ops.add(Events::new_raw(self.listener.as_raw_fd(), EventSet::IN));
    }
    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        self.accept();
    }
}

/// Sends `request` to the control socket at `path`; calls `line` for each progress line; returns
/// the final reply's details or the error message.
pub fn send(path: &Path, request: &str, line: &mut dyn FnMut(&str)) -> Result<String, String> {
    let mut conn = UnixStream::connect(path)
        .map_err(|e| format!("cannot connect to {}: {e}", path.display()))?;
    writeln!(conn, "{request}").map_err(|e| format!("sending to {}: {e}", path.display()))?;
    for l in BufReader::new(conn).lines() {
        let l = l.map_err(|e| format!("reading from {}: {e}", path.display()))?;
        if let Some(rest) = l.strip_prefix("ok") {
            return Ok(rest.trim_start_matches(':').trim().to_string());
        }
        if let Some(rest) = l.strip_prefix("error: ") {
            return Err(rest.to_string());
        }
        line(&l);
    }
    Err(format!(
        "{} closed the connection without a reply",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests() {
        assert_eq!(Request::parse("pause\n"), Ok(Request::Pause));
        assert_eq!(Request::parse("vcpus"), Ok(Request::Vcpus));
        assert!(Request::parse("vcpus 1").is_err());
        assert_eq!(
            Request::parse(" snapshot /tmp/a b "),
            Ok(Request::Snapshot("/tmp/a b".into()))
        );
        assert_eq!(
            Request::parse("migrate tcp:h:1"),
            Ok(Request::Migrate("tcp:h:1".into()))
        );
        assert!(Request::parse("snapshot").is_err());
        assert!(Request::parse("pause now").is_err());
        assert!(Request::parse("reboot").unwrap_err().contains("reboot"));
    }
}
