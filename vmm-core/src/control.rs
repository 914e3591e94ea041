//! The control socket of a running VM (`tetra run --api PATH`): one request per connection, one
//! line each way, easy to drive with `tetra ctl`, `tetra migrate` or `socat`.
//!
//! ```text
//! pause | resume | status | config | vcpus | snapshot PATH | migrate unix:PATH|tcp:HOST:PORT
//! ```
//!
//! Replies: zero or more `progress: ...` lines (migration rounds), then `ok` or `ok: DETAILS`, or
//! `error: MESSAGE`.
//!
//! The socket never takes over someone else's path: a file that is not a socket is refused, a
//! socket that answers is refused, only a stale one is replaced; at the end only our own socket
//! file is removed. Connections are read without blocking the event loop (each within
//! [`REQUEST_DEADLINE`] and [`MAX_REQUEST`] bytes, [`MAX_PENDING`] at once), so an idle client
//! stalls nothing.

use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// Something that is not a socket is at the path: it is left alone.
    #[error("{path} exists and is not a socket; not replacing it")]
    NotASocket {
        /// The path.
        path: String,
    },
    /// A live socket is at the path: another VM (or program) serves it.
    #[error("{path} is in use: something answers on it (another VM?)")]
    InUse {
        /// The path.
        path: String,
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
    /// The VM's description (what `tetra run --config` takes), as one line.
    Config,
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
            "config" => none(Request::Config),
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
        tracing::info!(details, "control request done");
        if details.is_empty() {
            self.line("ok");
        } else {
            self.line(&format!("ok: {details}"));
        }
    }
    /// Sends `error: message`.
    pub fn error(mut self, message: &str) {
        tracing::warn!(message, "control request failed");
        self.line(&format!("error: {message}"));
    }
}

/// Requests waiting for the VMM.
pub type Queue = Arc<Mutex<VecDeque<(Request, Reply)>>>;

/// The longest request line.
pub const MAX_REQUEST: usize = 4096;
/// How long a connection may take to send its request line.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// The most connections waiting to send their request at once; a new one beyond it replaces the
/// oldest.
pub const MAX_PENDING: usize = 64;
/// How long a reply may wait for a client that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// The listener's event data (connections count up from 1).
const LISTENER: u32 = 0;

/// A connection whose request line is not complete yet.
struct Pending {
    stream: UnixStream,
    buf: Vec<u8>,
    since: Instant,
}

/// The listening socket and the connections still sending their request, as an event-loop
/// subscriber. Nothing here blocks: connections are read as their bytes arrive, each within
/// [`REQUEST_DEADLINE`] and [`MAX_REQUEST`] bytes, at most [`MAX_PENDING`] at once.
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
    /// The socket file's identity, so that only our own file is removed at the end.
    inode: Option<(u64, u64)>,
    queue: Queue,
    pending: HashMap<u32, Pending>,
    next: u32,
}

fn file_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

impl ControlServer {
    /// Listens at `path`. A file there that is not a socket is refused (and left alone); a socket
    /// that something answers on is refused; a stale socket (nothing listens) is replaced.
    pub fn bind(path: &Path, queue: Queue) -> Result<Self, ControlError> {
        let p = || path.display().to_string();
        let bind_err = |source| ControlError::Bind { path: p(), source };
        let listener = crate::socket::listen(path).map_err(|e| match e {
            crate::socket::ListenError::NotASocket { .. } => ControlError::NotASocket { path: p() },
            crate::socket::ListenError::InUse { .. } => ControlError::InUse { path: p() },
            crate::socket::ListenError::Io { source, .. } => bind_err(source),
        })?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        Ok(ControlServer {
            listener,
            path: path.to_path_buf(),
            inode: file_id(path),
            queue,
            pending: HashMap::new(),
            next: LISTENER + 1,
        })
    }

    fn accept(&mut self, ops: &mut EventOps) {
        while let Ok((conn, _)) = self.listener.accept() {
            if conn.set_nonblocking(true).is_err() {
                continue;
            }
            if self.pending.len() >= MAX_PENDING {
                if let Some(oldest) = self
                    .pending
                    .iter()
                    .min_by_key(|(_, c)| c.since)
                    .map(|(id, _)| *id)
                {
                    self.finish(ops, oldest, Err("too many connections waiting".into()));
                }
            }
            let id = self.next;
            self.next = self.next.wrapping_add(1).max(LISTENER + 1);
            if ops.add(Events::with_data(&conn, id, EventSet::IN)).is_ok() {
                self.pending.insert(
                    id,
                    Pending {
                        stream: conn,
                        buf: Vec::new(),
                        since: Instant::now(),
                    },
                );
            }
        }
    }

    /// Ends connection `id`'s reading: its request goes to the queue, or it gets `error`.
    fn finish(&mut self, ops: &mut EventOps, id: u32, request: Result<Request, String>) {
        let Some(c) = self.pending.remove(&id) else {
            return;
        };
        let _ = ops.remove(Events::with_data(&c.stream, id, EventSet::IN));
        // The reply is written later, at once: a client that does not read gets a bounded wait.
        let _ = c.stream.set_nonblocking(false);
        let _ = c.stream.set_write_timeout(Some(WRITE_TIMEOUT));
        let reply = Reply(c.stream);
        match request {
            Ok(r) => self
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push_back((r, reply)),
            Err(e) => reply.error(&e),
        }
    }

    /// Reads what connection `id` sent; completes it at a newline, the end of its stream, its
    /// size limit or an error.
    fn read(&mut self, ops: &mut EventOps, id: u32) {
        let Some(c) = self.pending.get_mut(&id) else {
            return;
        };
        let mut chunk = [0u8; 512];
        let outcome = loop {
            match c.stream.read(&mut chunk) {
                Ok(0) => break Some(Err("no request read".to_string())),
                Ok(n) => {
                    c.buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = c.buf.iter().position(|&b| b == b'\n') {
                        let line = String::from_utf8_lossy(&c.buf[..end]).into_owned();
                        break Some(Request::parse(&line));
                    }
                    if c.buf.len() > MAX_REQUEST {
                        break Some(Err(format!("request longer than {MAX_REQUEST} bytes")));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break None,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break Some(Err("no request read".to_string())),
            }
        };
        if let Some(r) = outcome {
            self.finish(ops, id, r);
        }
    }

    /// Gives up on connections past their deadline.
    fn expire(&mut self, ops: &mut EventOps) {
        let late: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, c)| c.since.elapsed() > REQUEST_DEADLINE)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            self.finish(
                ops,
                id,
                Err(format!("no request within {REQUEST_DEADLINE:?}")),
            );
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        // Only our own socket file: another one may have replaced it since.
        if self.inode.is_some() && file_id(&self.path) == self.inode {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl MutEventSubscriber for ControlServer {
    fn init(&mut self, ops: &mut EventOps) {
        let _ = ops.add(Events::with_data(&self.listener, LISTENER, EventSet::IN));
    }
    fn process(&mut self, events: Events, ops: &mut EventOps) {
        self.expire(ops);
        match events.data() {
            LISTENER => self.accept(ops),
            id => self.read(ops, id),
        }
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
    use event_manager::{EventManager, SubscriberOps};

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tetra-ctl-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn bind_never_takes_over_someone_elses_path() {
        let d = scratch("bind");
        // A regular file is refused and left as it was.
        let f = d.join("file");
        std::fs::write(&f, b"keep me").unwrap();
        let e = ControlServer::bind(&f, Queue::default()).err().unwrap();
        assert!(matches!(e, ControlError::NotASocket { .. }), "{e}");
        assert_eq!(std::fs::read(&f).unwrap(), b"keep me");
        // A socket something answers on is refused.
        let live = d.join("live");
        let first = ControlServer::bind(&live, Queue::default()).unwrap();
        let e = ControlServer::bind(&live, Queue::default()).err().unwrap();
        assert!(matches!(e, ControlError::InUse { .. }), "{e}");
        drop(first);
        assert!(!live.exists(), "our own socket is removed at the end");
        // A stale socket (nothing listens) is replaced.
        let stale = d.join("stale");
        drop(UnixListener::bind(&stale).unwrap());
        assert!(stale.exists());
        let s = ControlServer::bind(&stale, Queue::default()).unwrap();
        // At the end only our own file goes: one that replaced ours stays.
        std::fs::remove_file(&stale).unwrap();
        std::fs::write(&stale, b"someone else's").unwrap();
        drop(s);
        assert_eq!(std::fs::read(&stale).unwrap(), b"someone else's");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn idle_connections_do_not_stall_a_request() {
        let d = scratch("idle");
        let path = d.join("api");
        let queue = Queue::default();
        let mut em = EventManager::<ControlServer>::new().unwrap();
        em.add_subscriber(ControlServer::bind(&path, queue.clone()).unwrap());
        let idle: Vec<UnixStream> = (0..100)
            .map(|_| UnixStream::connect(&path).unwrap())
            .collect();
        let mut half = UnixStream::connect(&path).unwrap();
        half.write_all(b"stat").unwrap();
        let t = Instant::now();
        let mut c = UnixStream::connect(&path).unwrap();
        c.write_all(b"status\n").unwrap();
        while queue.lock().unwrap().is_empty() && t.elapsed() < Duration::from_secs(5) {
            em.run_with_timeout(10).unwrap();
        }
        let took = t.elapsed();
        let (r, reply) = queue
            .lock()
            .unwrap()
            .pop_front()
            .expect("the request arrived");
        assert_eq!(r, Request::Status);
        // A server that waited on the idle or half-written connections would answer only once
        // their deadline passed; anything well under it is not such a stall (this is not a
        // speed check: the machine may be loaded, e.g. under qemu-user).
        assert!(took < REQUEST_DEADLINE / 2, "{took:?}");
        reply.ok("running");
        let mut answer = String::new();
        BufReader::new(&c).read_line(&mut answer).unwrap();
        assert_eq!(answer, "ok: running\n");
        // Past the cap the oldest waiting connections are told and closed; an overlong line is
        // refused.
        let mut long = UnixStream::connect(&path).unwrap();
        long.write_all(&vec![b'x'; MAX_REQUEST + 10]).unwrap();
        for _ in 0..20 {
            em.run_with_timeout(10).unwrap();
        }
        let mut answer = String::new();
        BufReader::new(&long).read_line(&mut answer).unwrap();
        assert!(answer.contains("longer than"), "{answer}");
        let mut first = String::new();
        BufReader::new(&idle[0]).read_line(&mut first).unwrap();
        assert!(first.contains("too many connections"), "{first}");
        drop(half);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn parses_requests() {
        assert_eq!(Request::parse("pause\n"), Ok(Request::Pause));
        assert_eq!(Request::parse("vcpus"), Ok(Request::Vcpus));
        assert_eq!(Request::parse("config"), Ok(Request::Config));
        assert!(Request::parse("config x").is_err());
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
