//! The control socket of a running VM (`tetra run --api PATH`): one request per connection, one
//! line each way on its older text protocol (easy to drive with `socat`; [`send`] is its client),
//! or HTTP/1.1 ([`http`]; [`client`] is its client, what `tetra ctl` and `tetra migrate` use).
//!
//! ```text
//! pause | resume | status | config | vcpus | snapshot PATH | migrate unix:PATH|tcp:HOST:PORT
//! ```
//!
//! Replies: zero or more `progress: ...` lines (migration rounds), then `ok` or `ok: DETAILS`, or
//! `error: MESSAGE`.
//!
//! A connection whose first line is an HTTP request line speaks HTTP/1.1 instead, with JSON
//! bodies ([`http`], `docs/api.yaml`): the same requests and a few more.
//!
//! A second socket, `tetra run --qmp unix:PATH`, speaks a QMP subset on a thread of its own
//! ([`qmp`]); it queues the same [`Request`]s through a [`Link`] and reads the same status model
//! ([`status`]), which the VMM keeps for both.
//!
//! The socket never takes over someone else's path: a file that is not a socket is refused, a
//! socket that answers is refused, only a stale one is replaced; at the end only our own socket
//! file is removed. Connections are read without blocking the event loop (each within
//! [`REQUEST_DEADLINE`] and [`MAX_REQUEST`] bytes (an HTTP request: [`http::MAX_HEAD`] and
//! [`http::MAX_BODY`]), [`MAX_PENDING`] at once, [`MAX_QUEUED`] waiting for the VMM), so an idle
//! client stalls nothing.

pub mod client;
pub mod http;
pub mod qmp;
pub mod status;
pub use http::Refusal;

use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vmm_sys_util::timerfd::TimerFd;

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
    /// The state and the description together (HTTP `GET /vm`).
    Info,
    /// The last migration's outcome (HTTP `GET /vm/migration`).
    Migration,
    /// The counters the VMM keeps (HTTP `GET /vm/metrics`).
    Metrics,
    /// Press the guest's power button (HTTP `PUT /vm/shutdown`, QMP `system_powerdown`, the
    /// line protocol's `powerdown`): the guest decides what to do (x86: the ACPI fixed-feature
    /// button; a guest suspended to RAM wakes).
    PowerButton,
    /// Reset the machine to its boot state (QMP `system_reset`).
    Reset,
    /// End the VM and tetra (QMP `quit`).
    Quit,
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
            "powerdown" => none(Request::PowerButton),
            "snapshot" if !arg.is_empty() => Ok(Request::Snapshot(PathBuf::from(arg))),
            "migrate" if !arg.is_empty() => Ok(Request::Migrate(arg.to_string())),
            "snapshot" | "migrate" => Err(format!("{cmd} needs an argument")),
            other => Err(format!(
                "unknown request {other:?}: expected pause, resume, status, config, vcpus, powerdown, snapshot PATH or migrate URI"
            )),
        }
    }
}

/// Where a reply goes.
enum To {
    /// A control-socket connection, on the line protocol or HTTP (whose client may have asked
    /// for progress: [`client::PROGRESS_HEADER`]).
    Stream {
        stream: UnixStream,
        http: bool,
        progress: bool,
    },
    /// A QMP client: `{"return": {}}` or `{"error": ...}` with its command's `id`.
    Qmp {
        outbox: Arc<qmp::Outbox>,
        client: u32,
        id: Option<serde_json::Value>,
    },
    /// Nobody waits (QMP's `migrate` answered at once): the outcome is only logged.
    Silent,
}

/// A client waiting for its reply: on the line protocol, HTTP or QMP.
pub struct Reply {
    to: To,
}

impl Reply {
    /// A reply to QMP client `client`'s command `id`, through `outbox`.
    pub fn qmp(outbox: Arc<qmp::Outbox>, client: u32, id: Option<serde_json::Value>) -> Reply {
        Reply {
            to: To::Qmp { outbox, client, id },
        }
    }
    /// A reply nobody waits for.
    pub fn silent() -> Reply {
        Reply { to: To::Silent }
    }
    /// Whether the request came over QMP, whose `stop` and `cont` are no-ops in the state they
    /// ask for (where HTTP answers 409).
    pub fn is_qmp(&self) -> bool {
        matches!(self.to, To::Qmp { .. } | To::Silent)
    }
    /// Sends a line (progress, details) on the line protocol, ignoring a client that went away;
    /// nothing elsewhere, whose one response is [`Reply::answer`]'s.
    pub fn line(&mut self, s: &str) {
        if let To::Stream {
            stream,
            http: false,
            ..
        } = &mut self.to
        {
            let _ = writeln!(stream, "{s}");
        }
    }
    /// Sends a progress report of a long request (a migration round, a snapshot's memory) as a
    /// `102 Processing` interim response, on HTTP when the client asked for it
    /// ([`client::PROGRESS_HEADER`]); nothing elsewhere (the line protocol's `progress:` lines
    /// are [`Reply::line`]'s, for a migration only, as they always were). A client that stops
    /// reading costs one write timeout, then gets no more progress (only the answer).
    pub fn progress(&mut self, text: &str) {
        if let To::Stream {
            stream,
            http: true,
            progress,
        } = &mut self.to
        {
            if *progress && stream.write_all(&http::interim(text)).is_err() {
                *progress = false;
            }
        }
    }
    /// Sends the outcome: `ok` or `ok: text` on the line protocol, `200` with `json` on HTTP,
    /// `{"return": {}}` on QMP.
    pub fn answer(mut self, text: &str, json: serde_json::Value) {
        tracing::info!(details = text, "control request done");
        match &mut self.to {
            To::Stream {
                stream, http: true, ..
            } => {
                let _ = stream.write_all(&http::response(200, &json, None));
            }
            To::Stream { .. } if text.is_empty() => self.line("ok"),
            To::Stream { .. } => self.line(&format!("ok: {text}")),
            To::Qmp { outbox, client, id } => {
                outbox.put(*client, qmp::wire::ret(id, serde_json::json!({})))
            }
            To::Silent => {}
        }
    }
    /// Sends `ok` or `ok: details` (`{"result": details}` on HTTP).
    pub fn ok(self, details: &str) {
        let json = serde_json::json!({ "result": details });
        self.answer(details, json)
    }
    /// Sends a refusal: `error: message` on the line protocol, its status and
    /// `{"error": message}` on HTTP.
    pub fn refuse(mut self, r: Refusal) {
        tracing::warn!(
            message = r.message,
            status = r.status,
            "control request failed"
        );
        match &mut self.to {
            To::Stream {
                stream, http: true, ..
            } => {
                let body = serde_json::json!({ "error": r.message });
                let _ = stream.write_all(&http::response(r.status, &body, r.allow));
            }
            To::Stream { .. } => self.line(&format!("error: {}", r.message)),
            To::Qmp { outbox, client, id } => {
                let f = qmp::wire::Failure::generic(r.message);
                outbox.put(*client, qmp::wire::error(id, &f))
            }
            To::Silent => {}
        }
    }
    /// Sends `error: message`, a 500 on HTTP.
    pub fn error(self, message: &str) {
        self.refuse(Refusal::new(500, message))
    }
}

/// Requests waiting for the VMM.
pub type Queue = Arc<Mutex<VecDeque<(Request, Reply)>>>;

/// What a VM shares with control servers on other threads (QMP): its request queue, the bell
/// that wakes its thread when a request is queued, and its status model. A VM always has one
/// ([`crate::VmmOptions::link`] or its own).
#[derive(Clone)]
pub struct Link {
    /// The requests waiting for the VMM's thread.
    pub queue: Queue,
    /// Rung when one is queued from another thread.
    pub bell: Arc<vmm_sys_util::eventfd::EventFd>,
    /// The run state and the migration's progress.
    pub status: status::Status,
}

impl Link {
    /// A link with an empty queue and `status`.
    pub fn new(status: status::Status) -> std::io::Result<Link> {
        Ok(Link {
            queue: Queue::default(),
            bell: Arc::new(vmm_sys_util::eventfd::EventFd::new(libc::EFD_NONBLOCK)?),
            status,
        })
    }

    /// Queues `request` for the VMM's thread and wakes it; refuses beyond [`MAX_QUEUED`].
    pub fn push(&self, request: Request, reply: Reply) -> Result<(), String> {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() >= MAX_QUEUED {
            return Err(format!(
                "{MAX_QUEUED} requests are already waiting for the VMM"
            ));
        }
        q.push_back((request, reply));
        drop(q);
        let _ = self.bell.write(1);
        Ok(())
    }
}

/// The most requests waiting for the VMM (one runs at a time; a snapshot or a migration takes a
/// while): beyond it a request is refused (503).
pub const MAX_QUEUED: usize = 64;

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
/// The deadline timer's event data.
const TIMER: u32 = u32::MAX;

/// A connection whose request line is not complete yet.
struct Pending {
    stream: UnixStream,
    buf: Vec<u8>,
    since: Instant,
    /// Decided at the first line: HTTP or the line protocol.
    http: Option<bool>,
    /// An HTTP request that asked for progress ([`client::PROGRESS_HEADER`]).
    progress: bool,
}

impl Pending {
    /// The request, once what was read completes it (or why it is refused).
    fn complete(&mut self) -> Option<Result<Request, Refusal>> {
        if self.http.is_none() {
            let Some(end) = self.buf.iter().position(|&b| b == b'\n') else {
                return (self.buf.len() > MAX_REQUEST).then(|| {
                    Err(Refusal::new(
                        400,
                        format!("request longer than {MAX_REQUEST} bytes"),
                    ))
                });
            };
            self.http = Some(http::is_request_line(&self.buf[..end]));
        }
        if self.http == Some(true) {
            return match http::parse(&self.buf) {
                http::Parse::Incomplete => None,
                http::Parse::Done(r) => {
                    self.progress = http::wants_progress(&self.buf);
                    Some(r)
                }
            };
        }
        let end = self.buf.iter().position(|&b| b == b'\n')?;
        let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        Some(Request::parse(&line).map_err(|e| Refusal::new(400, e)))
    }
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
    /// Fires at the earliest waiting connection's deadline, so that a client that sends nothing
    /// more is answered (408) with no other event to wake the loop. Without one (timerfd_create
    /// failed), deadlines are checked at each event.
    timer: Option<TimerFd>,
}

/// A non-blocking timerfd: its read after an event never waits, whatever happened between.
fn deadline_timer() -> Option<TimerFd> {
    let t = TimerFd::new().ok()?;
    let fd = t.as_raw_fd();
    // SAFETY: F_GETFL/F_SETFL on a timerfd this function owns; no memory is passed.
    let ok = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) == 0
    };
    ok.then_some(t)
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
            timer: deadline_timer(),
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
                    let busy = Refusal::new(503, "too many connections waiting");
                    self.finish(ops, oldest, Err(busy));
                }
            }
            let id = self.next;
            self.next = self.next.wrapping_add(1).max(LISTENER + 1);
            if self.next == TIMER {
                self.next = LISTENER + 1;
            }
            if ops.add(Events::with_data(&conn, id, EventSet::IN)).is_ok() {
                self.pending.insert(
                    id,
                    Pending {
                        stream: conn,
                        buf: Vec::new(),
                        since: Instant::now(),
                        http: None,
                        progress: false,
                    },
                );
            }
        }
    }

    /// Ends connection `id`'s reading: its request goes to the queue, or it is refused.
    fn finish(&mut self, ops: &mut EventOps, id: u32, request: Result<Request, Refusal>) {
        let Some(c) = self.pending.remove(&id) else {
            return;
        };
        let _ = ops.remove(Events::with_data(&c.stream, id, EventSet::IN));
        // The reply is written later, at once: a client that does not read gets a bounded wait.
        let _ = c.stream.set_nonblocking(false);
        let _ = c.stream.set_write_timeout(Some(WRITE_TIMEOUT));
        let reply = Reply {
            to: To::Stream {
                stream: c.stream,
                http: c.http == Some(true),
                progress: c.progress,
            },
        };
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        match request {
            Ok(_) if queue.len() >= MAX_QUEUED => {
                drop(queue);
                reply.refuse(Refusal::new(
                    503,
                    format!("{MAX_QUEUED} requests are already waiting for the VMM"),
                ))
            }
            Ok(r) => queue.push_back((r, reply)),
            Err(e) => {
                drop(queue);
                reply.refuse(e)
            }
        }
    }

    /// Reads what connection `id` sent; completes it at a newline, the end of its stream, its
    /// size limit or an error.
    fn read(&mut self, ops: &mut EventOps, id: u32) {
        let Some(c) = self.pending.get_mut(&id) else {
            return;
        };
        let mut chunk = [0u8; 4096];
        let ended = || {
            Err(Refusal::new(
                400,
                "the request ended before it was complete",
            ))
        };
        let outcome = loop {
            match c.stream.read(&mut chunk) {
                Ok(0) => break Some(ended()),
                Ok(n) => {
                    c.buf.extend_from_slice(&chunk[..n]);
                    if let Some(r) = c.complete() {
                        break Some(r);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break None,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break Some(ended()),
            }
        };
        if let Some(r) = outcome {
            self.finish(ops, id, r);
        }
    }

    /// Sets the timer to the earliest waiting connection's deadline (or stops it).
    fn arm(&mut self) {
        let Some(t) = self.timer.as_mut() else {
            return;
        };
        let first = self.pending.values().map(|c| c.since).min();
        let _ = match first {
            // A moment past the deadline, so that `expire` finds it passed.
            Some(since) => t.reset(
                (since + REQUEST_DEADLINE + Duration::from_millis(5))
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1)),
                None,
            ),
            None => t.clear(),
        };
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
            let late = Refusal::new(408, format!("no request within {REQUEST_DEADLINE:?}"));
            self.finish(ops, id, Err(late));
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
        if let Some(t) = &self.timer {
            if ops.add(Events::with_data(t, TIMER, EventSet::IN)).is_err() {
                self.timer = None;
            }
        }
    }
    fn process(&mut self, events: Events, ops: &mut EventOps) {
        self.expire(ops);
        match events.data() {
            LISTENER => self.accept(ops),
            TIMER => {
                if let Some(t) = self.timer.as_mut() {
                    // Non-blocking: nothing to read (re-armed meanwhile) is fine.
                    let _ = t.wait();
                }
            }
            id => self.read(ops, id),
        }
        self.arm();
    }
}

/// Sends `request` to the control socket at `path` on the line protocol (tetra's own commands
/// speak HTTP: [`client`]); calls `line` for each progress line; returns the final reply's
/// details or the error message.
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
    fn a_client_that_stops_sending_gets_408_with_nothing_else_happening() {
        let d = scratch("slow");
        let path = d.join("api");
        let mut em = EventManager::<ControlServer>::new().unwrap();
        em.add_subscriber(ControlServer::bind(&path, Queue::default()).unwrap());
        let mut c = UnixStream::connect(&path).unwrap();
        c.write_all(b"GET /vm HTTP/1.1\r\nHost: x\r\n").unwrap();
        c.set_nonblocking(true).unwrap();
        let t = Instant::now();
        let mut got = Vec::new();
        // Only the timer can end this: no other client comes.
        while t.elapsed() < REQUEST_DEADLINE * 3 {
            em.run_with_timeout(50).unwrap();
            let mut buf = [0u8; 512];
            match c.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
        let got = String::from_utf8_lossy(&got);
        assert!(got.starts_with("HTTP/1.1 408 "), "{got:?}");
        assert!(t.elapsed() >= REQUEST_DEADLINE, "{:?}", t.elapsed());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn the_client_gets_progress_it_asked_for_and_the_answer() {
        let d = scratch("progress");
        let path = d.join("api");
        let queue = Queue::default();
        let mut em = EventManager::<ControlServer>::new().unwrap();
        em.add_subscriber(ControlServer::bind(&path, queue.clone()).unwrap());
        let ask = |with: bool| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut on = |p: &str| seen.push(p.to_string());
                let body = serde_json::json!({ "path": "/tmp/s" });
                let progress: Option<&mut dyn FnMut(&str)> =
                    if with { Some(&mut on) } else { None };
                let r = client::Client::new(&path)
                    .exchange("PUT", "/vm/snapshot", Some(&body), progress)
                    .unwrap();
                (r, seen)
            })
        };
        for with in [true, false] {
            let t = ask(with);
            let start = Instant::now();
            while queue.lock().unwrap().is_empty() && start.elapsed() < Duration::from_secs(5) {
                em.run_with_timeout(10).unwrap();
            }
            let (r, mut reply) = queue
                .lock()
                .unwrap()
                .pop_front()
                .expect("the request arrived");
            assert_eq!(r, Request::Snapshot("/tmp/s".into()));
            reply.line("not for HTTP");
            reply.progress("writing memory, 1 of 2 pages");
            reply.progress("writing memory, 2 of 2 pages");
            reply.answer("done", serde_json::json!({ "state": "running" }));
            let (r, seen) = t.join().unwrap();
            assert_eq!(r.status, 200);
            assert_eq!(r.body, serde_json::json!({ "state": "running" }));
            let want: &[&str] = if with {
                &[
                    "writing memory, 1 of 2 pages",
                    "writing memory, 2 of 2 pages",
                ]
            } else {
                &[]
            };
            assert_eq!(seen, want, "asked for progress: {with}");
        }
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn parses_requests() {
        assert_eq!(Request::parse("pause\n"), Ok(Request::Pause));
        assert_eq!(Request::parse("vcpus"), Ok(Request::Vcpus));
        assert_eq!(Request::parse("config"), Ok(Request::Config));
        assert!(Request::parse("config x").is_err());
        assert!(Request::parse("vcpus 1").is_err());
        assert_eq!(Request::parse("powerdown"), Ok(Request::PowerButton));
        assert!(Request::parse("powerdown now").is_err());
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
