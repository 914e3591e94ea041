//! The QMP thread's event loop: the listening socket, its clients, the status model's event bell
//! and the VMM's reply outbox. Nothing here blocks: a client's bytes are read as they come (a line
//! of at most [`MAX_LINE`] bytes), its output waits in a buffer of at most [`MAX_OUTPUT`] bytes,
//! at most [`MAX_CLIENTS`] clients are served at once.

use super::wire::{self, Command, Failure};
use super::{answers, Outbox};
use crate::control::status::{RunState, Status};
use crate::control::{Link, Reply, Request};
use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// The longest input line; a longer one is answered with an error and the client is closed (the
/// rest of its line cannot be told from a next command).
pub const MAX_LINE: usize = 64 * 1024;
/// The most output waiting for a client that does not read; beyond it the client is closed.
pub const MAX_OUTPUT: usize = 1 << 20;
/// The most clients at once: a new one beyond it replaces the longest-waiting client that has
/// not negotiated capabilities yet, or is refused if every one has.
pub const MAX_CLIENTS: usize = 32;

const LISTENER: u32 = 0;
const EVENTS: u32 = 1;
const OUTBOX: u32 = 2;
const FIRST_CLIENT: u32 = 3;

struct Client {
    stream: UnixStream,
    input: Vec<u8>,
    output: Vec<u8>,
    negotiated: bool,
    since: Instant,
    /// No more input is read (the client hung up, or broke the protocol): close once the
    /// output is written.
    closing: bool,
    /// What the loop polls the client for.
    polled: EventSet,
}

/// The QMP server, as a subscriber of the QMP thread's event loop.
pub(super) struct Server {
    pub(super) listener: UnixListener,
    pub(super) link: Link,
    pub(super) outbox: Arc<Outbox>,
    clients: HashMap<u32, Client>,
    next: u32,
    /// The socket file (removed by a `quit` before the VM exists) and its identity.
    path: PathBuf,
    inode: Option<(u64, u64)>,
    /// A `quit` came while the VM is still arriving: end once its reply is out.
    quit_now: bool,
}

impl Server {
    pub(super) fn new(
        listener: UnixListener,
        link: Link,
        outbox: Arc<Outbox>,
        path: PathBuf,
        inode: Option<(u64, u64)>,
    ) -> Self {
        Server {
            listener,
            link,
            outbox,
            clients: HashMap::new(),
            next: FIRST_CLIENT,
            path,
            inode,
            quit_now: false,
        }
    }

    /// `quit` on a migration's destination before its VM exists: the VMM's thread waits for the
    /// stream and serves no request, so this thread ends tetra (status 0) once SHUTDOWN and the
    /// reply are out, as QEMU's `quit` does at any time. A source that is sending sees its link
    /// drop and keeps its guest.
    fn quit_before_the_vm(&mut self) -> ! {
        self.link.status.shut_down(false, "host-qmp-quit");
        self.drain(Instant::now() + std::time::Duration::from_secs(2));
        if self.inode.is_some() && super::file_id(&self.path) == self.inode {
            let _ = std::fs::remove_file(&self.path);
        }
        eprintln!("tetra: quit (QMP) before the incoming migration arrived");
        std::process::exit(0)
    }

    fn status(&self) -> &Status {
        &self.link.status
    }

    fn accept(&mut self, ops: &mut EventOps) {
        while let Ok((conn, _)) = self.listener.accept() {
            if conn.set_nonblocking(true).is_err() {
                continue;
            }
            if self.clients.len() >= MAX_CLIENTS {
                let oldest = self
                    .clients
                    .iter()
                    .filter(|(_, c)| !c.negotiated)
                    .min_by_key(|(_, c)| c.since)
                    .map(|(id, _)| *id);
                match oldest {
                    Some(id) => self.drop_client(ops, id),
                    None => {
                        let busy = Failure::generic(format!(
                            "{MAX_CLIENTS} QMP clients are connected already"
                        ));
                        let mut c = conn;
                        let _ = writeln!(c, "{}", wire::error(&None, &busy));
                        continue;
                    }
                }
            }
            // Ids wrap around (after 2^32 clients), skipping any still in use.
            let mut id = self.next;
            while self.clients.contains_key(&id) {
                id = id.checked_add(1).unwrap_or(FIRST_CLIENT);
            }
            self.next = id.checked_add(1).unwrap_or(FIRST_CLIENT);
            if ops.add(Events::with_data(&conn, id, EventSet::IN)).is_err() {
                continue;
            }
            let mut c = Client {
                stream: conn,
                input: Vec::new(),
                output: Vec::new(),
                negotiated: false,
                since: Instant::now(),
                closing: false,
                polled: EventSet::IN,
            };
            c.output.extend_from_slice(wire::greeting().as_bytes());
            c.output.push(b'\n');
            self.clients.insert(id, c);
            self.flush(ops, id);
        }
    }

    fn drop_client(&mut self, ops: &mut EventOps, id: u32) {
        if let Some(c) = self.clients.remove(&id) {
            let _ = ops.remove(Events::with_data(&c.stream, id, EventSet::IN));
        }
    }

    /// Queues `line` for client `id`; a client whose output outgrows [`MAX_OUTPUT`] is closed.
    fn send(&mut self, ops: &mut EventOps, id: u32, line: &str) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        if c.output.len() + line.len() + 1 > MAX_OUTPUT {
            tracing::warn!(
                client = id,
                "a QMP client does not read its replies: closed"
            );
            self.drop_client(ops, id);
            return;
        }
        c.output.extend_from_slice(line.as_bytes());
        c.output.push(b'\n');
    }

    /// Writes what client `id` can take now; polls for room for the rest; closes a closing
    /// client once its output is written.
    fn flush(&mut self, ops: &mut EventOps, id: u32) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        let mut broken = false;
        while !c.output.is_empty() {
            match c.stream.write(&c.output) {
                Ok(0) => {
                    broken = true;
                    break;
                }
                Ok(n) => {
                    c.output.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    broken = true;
                    break;
                }
            }
        }
        if broken || (c.closing && c.output.is_empty()) {
            self.drop_client(ops, id);
            return;
        }
        // A closing client is no longer read (its unread input would wake the loop forever).
        let mut set = if c.closing {
            EventSet::empty()
        } else {
            EventSet::IN
        };
        if !c.output.is_empty() {
            set |= EventSet::OUT;
        }
        if set != c.polled && ops.modify(Events::with_data(&c.stream, id, set)).is_ok() {
            c.polled = set;
        }
    }

    fn read(&mut self, ops: &mut EventOps, id: u32) {
        let mut chunk = [0u8; 4096];
        loop {
            let Some(c) = self.clients.get_mut(&id) else {
                return;
            };
            if c.closing {
                break;
            }
            match c.stream.read(&mut chunk) {
                Ok(0) => {
                    // Half-closed: what is complete is answered, then the client is closed.
                    c.closing = true;
                    c.input.clear();
                    break;
                }
                Ok(n) => {
                    c.input.extend_from_slice(&chunk[..n]);
                    self.lines(ops, id);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.drop_client(ops, id);
                    return;
                }
            }
        }
        self.flush(ops, id);
    }

    /// Answers every complete line client `id` sent.
    fn lines(&mut self, ops: &mut EventOps, id: u32) {
        loop {
            let Some(c) = self.clients.get_mut(&id) else {
                return;
            };
            let Some(end) = c.input.iter().position(|&b| b == b'\n') else {
                if c.input.len() > MAX_LINE {
                    c.input.clear();
                    c.closing = true;
                    let f = Failure::generic(format!(
                        "QMP input line longer than {MAX_LINE} bytes: closing"
                    ));
                    self.send(ops, id, &wire::error(&None, &f));
                }
                return;
            };
            let line: Vec<u8> = c.input.drain(..=end).collect();
            if line.len() > MAX_LINE + 1 {
                let f = Failure::generic(format!("QMP input line longer than {MAX_LINE} bytes"));
                self.send(ops, id, &wire::error(&None, &f));
                continue;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.command(ops, id, &line);
        }
    }

    fn command(&mut self, ops: &mut EventOps, id: u32, line: &[u8]) {
        let input = wire::parse(line);
        let qid = input.id;
        let negotiated = self.clients.get(&id).is_some_and(|c| c.negotiated);
        let cmd = match input.command {
            Ok(Command::Capabilities) if !negotiated => {
                if let Some(c) = self.clients.get_mut(&id) {
                    c.negotiated = true;
                }
                return self.send(ops, id, &wire::ret(&qid, serde_json::json!({})));
            }
            Ok(Command::Capabilities) => Err(Failure {
                class: wire::Class::CommandNotFound,
                desc: "Capabilities negotiation is already complete, command ignored".into(),
            }),
            Ok(_) if !negotiated => Err(Failure {
                class: wire::Class::CommandNotFound,
                desc: "Expecting capabilities negotiation with 'qmp_capabilities'".into(),
            }),
            other => other,
        };
        let line = match cmd.and_then(|c| self.execute(id, &qid, c)) {
            Ok(Some(v)) => wire::ret(&qid, v),
            // The VMM answers (through the outbox).
            Ok(None) => return,
            Err(f) => wire::error(&qid, &f),
        };
        self.send(ops, id, &line);
    }

    /// Runs `cmd`: `Some(value)` answered here, `None` handed to the VMM's thread.
    fn execute(
        &mut self,
        client: u32,
        qid: &Option<serde_json::Value>,
        cmd: Command,
    ) -> Result<Option<serde_json::Value>, Failure> {
        let run = self.status().run();
        let to_vmm = |request: Request| -> Result<Option<serde_json::Value>, Failure> {
            let reply = Reply::qmp(self.outbox.clone(), client, qid.clone());
            self.link.push(request, reply).map_err(Failure::generic)?;
            Ok(None)
        };
        match cmd {
            Command::Capabilities => Ok(Some(serde_json::json!({}))),
            Command::QueryStatus => Ok(Some(answers::status(self.status()))),
            Command::QueryMigrate => Ok(Some(answers::migration(self.status()))),
            Command::QueryCpusFast => Ok(Some(answers::cpus(self.status()))),
            Command::QueryVersion => Ok(Some(answers::version())),
            Command::QueryCommands => Ok(Some(answers::commands())),
            Command::SetCapabilities(caps) => {
                for c in &caps {
                    tracing::warn!(
                        capability = c.capability,
                        state = c.state,
                        "QMP migrate-set-capabilities: tetra has no such capability; ignored"
                    );
                }
                Ok(Some(serde_json::json!({})))
            }
            // QEMU's stop and cont are no-ops in the state they ask for; a destination's VM
            // runs once it has arrived (QEMU's autostart, which cont sets), which tetra cannot
            // withhold yet.
            Command::Stop if run == RunState::Paused => Ok(Some(serde_json::json!({}))),
            Command::Cont if matches!(run, RunState::Running | RunState::InMigrate) => {
                Ok(Some(serde_json::json!({})))
            }
            Command::Stop | Command::SystemReset | Command::SystemPowerdown
                if run == RunState::InMigrate =>
            {
                Err(Failure::generic(
                    "the VM is still arriving (inmigrate): tetra starts it once the migration completes; ask again then",
                ))
            }
            Command::Cont if matches!(run, RunState::PostMigrate | RunState::Shutdown) => {
                Err(Failure::generic(format!(
                    "cont: the VM is {}: its guest runs no more here",
                    run.name()
                )))
            }
            Command::Stop => to_vmm(Request::Pause),
            Command::Cont => to_vmm(Request::Resume),
            Command::SystemReset => to_vmm(Request::Reset),
            Command::SystemPowerdown => to_vmm(Request::PowerButton),
            Command::Quit if run == RunState::InMigrate => {
                self.quit_now = true;
                Ok(Some(serde_json::json!({})))
            }
            Command::Quit => to_vmm(Request::Quit),
            Command::Migrate(uri) => {
                if !matches!(run, RunState::Running | RunState::Paused) {
                    return Err(Failure::generic(format!(
                        "migrate: the VM is {}: only a running or paused VM migrates",
                        run.name()
                    )));
                }
                if !self.status().begin_migration() {
                    return Err(Failure::generic(
                        "There's a migration process in progress",
                    ));
                }
                // QEMU's migrate answers at once; query-migrate and MIGRATION events follow it.
                let reply = Reply::silent();
                if let Err(e) = self.link.push(Request::Migrate(uri), reply) {
                    self.status().end_migration(Err(e.clone()));
                    return Err(Failure::generic(e));
                }
                Ok(Some(serde_json::json!({})))
            }
        }
    }

    /// Sends the queued events to every negotiated client, and the VMM's replies to theirs.
    fn deliver(&mut self, ops: &mut EventOps) {
        let events = self.status().take_events();
        let lines: Vec<String> = events.iter().map(wire::event).collect();
        let ids: Vec<u32> = self.clients.keys().copied().collect();
        for id in &ids {
            if self.clients.get(id).is_some_and(|c| c.negotiated) {
                for l in &lines {
                    self.send(ops, *id, l);
                }
            }
        }
        for (id, line) in self.outbox.take() {
            self.send(ops, id, &line);
        }
        for id in ids {
            self.flush(ops, id);
        }
    }

    /// Writes every client's output within `until`, blocking (the process is ending).
    pub(super) fn drain(&mut self, until: Instant) {
        let lines: Vec<String> = self
            .status()
            .take_events()
            .iter()
            .map(wire::event)
            .collect();
        for l in &lines {
            for c in self.clients.values_mut().filter(|c| c.negotiated) {
                c.output.extend_from_slice(l.as_bytes());
                c.output.push(b'\n');
            }
        }
        for (id, line) in self.outbox.take() {
            if let Some(c) = self.clients.get_mut(&id) {
                c.output.extend_from_slice(line.as_bytes());
                c.output.push(b'\n');
            }
        }
        for c in self.clients.values_mut() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let _ = c.stream.set_nonblocking(false);
            let _ = c.stream.set_write_timeout(Some(left));
            let _ = c.stream.write_all(&c.output);
        }
    }
}

impl MutEventSubscriber for Server {
    fn init(&mut self, ops: &mut EventOps) {
        let _ = ops.add(Events::with_data(&self.listener, LISTENER, EventSet::IN));
        let _ = ops.add(Events::with_data(
            self.link.status.bell(),
            EVENTS,
            EventSet::IN,
        ));
        let _ = ops.add(Events::with_data(&self.outbox.bell, OUTBOX, EventSet::IN));
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        match events.data() {
            LISTENER => self.accept(ops),
            EVENTS => {
                let _ = self.link.status.bell().read();
                self.deliver(ops);
            }
            OUTBOX => {
                let _ = self.outbox.bell.read();
                self.deliver(ops);
            }
            id => {
                let set = events.event_set();
                if set.intersects(EventSet::IN | EventSet::HANG_UP | EventSet::READ_HANG_UP)
                    && !self.clients.get(&id).is_some_and(|c| c.closing)
                {
                    self.read(ops, id);
                }
                if set.contains(EventSet::ERROR) {
                    self.drop_client(ops, id);
                } else {
                    self.flush(ops, id);
                }
            }
        }
        if self.quit_now {
            self.quit_before_the_vm();
        }
    }
}
