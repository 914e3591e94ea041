//! The host side of the device: the connection table, the listening socket, and the packets
//! each way. It runs on the device worker inside the device's handler, which hands it the
//! guest's packets ([`Muxer::from_guest`]), its socket events ([`Muxer::on_event`]) and receive
//! buffers to fill ([`Muxer::to_guest`]).
//!
//! - A host process connects to the listening socket and writes `CONNECT <port>\n` (at most
//!   [`MAX_LINE`] bytes; anything else closes it). The guest gets a `REQUEST` from host CID 2
//!   and a fresh host port (from 2^30 up); when it answers `RESPONSE` the host process reads
//!   `OK <hostport>\n` and the stream carries the connection's bytes. A guest `RST` closes it.
//! - A guest `REQUEST` to host CID 2 port P connects to the Unix socket `PATH_P` (without
//!   blocking: a full backlog refuses); the guest gets `RESPONSE`, or `RST` when nobody listens.
//! - At most [`MAX_CONNECTIONS`] connections and pending `CONNECT` lines together; the host's
//!   extra connections are closed at once, the guest's refused with `RST`.
//! - Packets the guest may not send (a wrong source or destination CID, a type other than
//!   stream, an unknown operation, a payload longer than its buffer or than [`MAX_PAYLOAD`], a
//!   payload on a packet that has none, data past its credit, a packet for a stage the
//!   connection is not at) are answered with `RST`, and a connection they name is closed. An
//!   `RST` is never answered. At most [`MAX_RSTS`] answers wait for receive buffers; more are
//!   dropped (the guest's connection times out).

use super::connection::{Connection, Read2Guest, Stage};
use super::packet::{Header, Op, PacketError, HDR_LEN, MAX_PAYLOAD, SHUTDOWN_RCV, SHUTDOWN_SEND};
use super::unix;
use super::VsockStats;
use event_manager::{EventOps, EventSet, Events};
use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The most connections (and host connections still writing their `CONNECT` line).
pub const MAX_CONNECTIONS: usize = 64;
/// The longest `CONNECT <port>\n` line.
pub const MAX_LINE: usize = 32;
/// The most `RST` answers waiting for receive buffers.
pub const MAX_RSTS: usize = 256;
/// The first host port given to host-initiated connections.
const FIRST_LOCAL_PORT: u32 = 1 << 30;

/// A connection's key: (host port, guest port).
type Key = (u32, u32);

/// A host connection still writing its `CONNECT` line.
struct Handshake {
    stream: UnixStream,
    line: Vec<u8>,
}

/// The connection table and the host sockets.
pub struct Muxer {
    cid: u64,
    base: PathBuf,
    listener: Arc<UnixListener>,
    handshakes: HashMap<RawFd, Handshake>,
    conns: HashMap<Key, Connection>,
    by_fd: HashMap<RawFd, Key>,
    /// What each connection's fd is watched for (absent: not in the epoll set).
    watched: HashMap<RawFd, EventSet>,
    /// Connections with something for the guest, in turn.
    rxq: VecDeque<Key>,
    /// `RST`s for the guest that belong to no connection.
    rsts: VecDeque<Header>,
    next_port: u32,
    buf: Vec<u8>,
    stats: Arc<VsockStats>,
}

impl Muxer {
    /// A muxer for guest `cid`, listening on `listener`, connecting guests to `base_P`.
    pub fn new(
        cid: u64,
        base: PathBuf,
        listener: Arc<UnixListener>,
        stats: Arc<VsockStats>,
    ) -> Self {
        Muxer {
            cid,
            base,
            listener,
            handshakes: HashMap::new(),
            conns: HashMap::new(),
            by_fd: HashMap::new(),
            watched: HashMap::new(),
            rxq: VecDeque::new(),
            rsts: VecDeque::new(),
            next_port: FIRST_LOCAL_PORT,
            buf: vec![0; MAX_PAYLOAD],
            stats,
        }
    }

    /// The device's counters.
    pub fn stats(&self) -> &VsockStats {
        &self.stats
    }

    /// The listening socket's fd.
    pub fn listener_fd(&self) -> RawFd {
        self.listener.as_raw_fd()
    }

    /// Whether it has packets for the guest.
    pub fn has_rx(&self) -> bool {
        !self.rsts.is_empty() || !self.rxq.is_empty()
    }

    fn rst_for(&mut self, h: &Header) {
        if h.op == Op::Rst as u16 {
            return;
        }
        if self.rsts.len() >= MAX_RSTS {
            return;
        }
        self.stats.resets.fetch_add(1, Ordering::Relaxed);
        self.rsts
            .push_back(Header::to_guest(self.cid, h.dst_port, h.src_port, Op::Rst));
    }

    /// Closes connection `key`; tells the guest with an `RST` when `tell`.
    fn close(&mut self, key: Key, ops: &mut EventOps, tell: bool) {
        let Some(c) = self.conns.remove(&key) else {
            return;
        };
        let fd = c.stream.as_raw_fd();
        self.by_fd.remove(&fd);
        if self.watched.remove(&fd).is_some() {
            let _ = ops.remove(Events::empty_raw(fd));
        }
        if tell {
            let h = Header::to_guest(self.cid, c.local, c.peer, Op::Rst);
            self.stats.resets.fetch_add(1, Ordering::Relaxed);
            // Owed for a connection the guest knows: not subject to MAX_RSTS.
            self.rsts.push_back(h);
        }
    }

    /// Brings connection `key`'s watch and turn up to date; closes it when it is done.
    fn update(&mut self, key: Key, ops: &mut EventOps) {
        let Some(c) = self.conns.get_mut(&key) else {
            return;
        };
        if c.guest_closed && !c.has_tx() {
            // The guest closed and everything it sent reached the host: the `RST` ends it.
            return self.close(key, ops, true);
        }
        if c.host_eof && c.guest_closed {
            return self.close(key, ops, false);
        }
        if c.wants_rx() && !c.queued {
            c.queued = true;
            self.rxq.push_back(key);
        }
        let mut want = EventSet::empty();
        if c.stage == Stage::Established && !c.readable && !c.host_eof {
            want |= EventSet::IN;
        }
        if c.has_tx() {
            want |= EventSet::OUT;
        }
        let fd = c.stream.as_raw_fd();
        let have = self.watched.get(&fd).copied();
        if have == Some(want) || (have.is_none() && want.is_empty()) {
            return;
        }
        let r = match have {
            None => ops.add(Events::new_raw(fd, want)),
            Some(_) if want.is_empty() => ops.remove(Events::empty_raw(fd)),
            Some(_) => ops.modify(Events::new_raw(fd, want)),
        };
        match r {
            Ok(()) if want.is_empty() => {
                self.watched.remove(&fd);
            }
            Ok(()) => {
                self.watched.insert(fd, want);
            }
            Err(_) => {
                self.watched.remove(&fd);
                self.close(key, ops, true);
            }
        }
    }

    fn count(&self) -> usize {
        self.conns.len() + self.handshakes.len()
    }

    /// An event on one of its fds (`false`: not one of its fds).
    pub fn on_event(&mut self, fd: RawFd, set: EventSet, ops: &mut EventOps) -> bool {
        if fd == self.listener_fd() {
            self.accept(ops);
        } else if self.handshakes.contains_key(&fd) {
            self.handshake(fd, ops);
        } else if let Some(&key) = self.by_fd.get(&fd) {
            if let Some(c) = self.conns.get_mut(&key) {
                if set.intersects(EventSet::IN | EventSet::HANG_UP | EventSet::ERROR) {
                    c.readable = true;
                    if c.credit() == 0 {
                        c.owed.credit_request = true;
                    }
                }
                if c.has_tx() && !c.flush() {
                    self.close(key, ops, true);
                    return true;
                }
            }
            self.update(key, ops);
        } else {
            return false;
        }
        true
    }

    fn accept(&mut self, ops: &mut EventOps) {
        loop {
            let s = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            if self.count() >= MAX_CONNECTIONS || s.set_nonblocking(true).is_err() {
                continue;
            }
            let fd = s.as_raw_fd();
            if ops.add(Events::new_raw(fd, EventSet::IN)).is_ok() {
                self.handshakes.insert(
                    fd,
                    Handshake {
                        stream: s,
                        line: Vec::new(),
                    },
                );
            }
        }
    }

    /// Reads a `CONNECT` line byte by byte (what follows it is the connection's data).
    fn handshake(&mut self, fd: RawFd, ops: &mut EventOps) {
        let Some(h) = self.handshakes.get_mut(&fd) else {
            return;
        };
        let done = loop {
            let mut b = [0u8];
            match (&h.stream).read(&mut b) {
                Ok(1) if b[0] == b'\n' => break true,
                Ok(1) if h.line.len() < MAX_LINE => h.line.push(b[0]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                _ => break false,
            }
        };
        let _ = ops.remove(Events::empty_raw(fd));
        let Some(h) = self.handshakes.remove(&fd) else {
            return;
        };
        let port = std::str::from_utf8(&h.line)
            .ok()
            .and_then(|l| l.strip_prefix("CONNECT "))
            .and_then(|p| p.trim_end_matches('\r').parse::<u32>().ok());
        let (true, Some(peer)) = (done, port) else {
            return;
        };
        let Some(local) = self.free_port(peer) else {
            return;
        };
        let mut c = Connection::new(h.stream, local, peer, Stage::LocalInit);
        c.owed.request = true;
        self.stats.connections.fetch_add(1, Ordering::Relaxed);
        self.by_fd.insert(fd, (local, peer));
        self.conns.insert((local, peer), c);
        self.update((local, peer), ops);
    }

    fn free_port(&mut self, peer: u32) -> Option<u32> {
        for _ in 0..=MAX_CONNECTIONS {
            let p = self.next_port;
            self.next_port = self.next_port.checked_add(1).unwrap_or(FIRST_LOCAL_PORT);
            if !self.conns.contains_key(&(p, peer)) {
                return Some(p);
            }
        }
        None
    }

    /// One packet from the guest: `h`, with `room` bytes after it of which `payload` are the
    /// ones its length names (read only for a well-formed `RW`).
    pub fn from_guest(
        &mut self,
        h: &Header,
        room: usize,
        payload: impl FnOnce(&mut [u8]) -> bool,
        ops: &mut EventOps,
    ) {
        let key = (h.dst_port, h.src_port);
        let op = match h.check(self.cid, room) {
            Ok(op) => op,
            Err(e) => {
                self.stats.malformed.fetch_add(1, Ordering::Relaxed);
                let from_guest = !matches!(e, PacketError::SrcCid(_) | PacketError::DstCid(_));
                if from_guest && self.conns.contains_key(&key) {
                    self.close(key, ops, h.op != Op::Rst as u16);
                } else {
                    self.rst_for(h);
                }
                return;
            }
        };
        match op {
            Op::Rst => return self.close(key, ops, false),
            Op::Request => return self.request(h, ops),
            _ => {}
        }
        let Some(c) = self.conns.get_mut(&key) else {
            return self.rst_for(h);
        };
        c.peer_credit(h);
        let ok = match op {
            Op::Response if c.stage == Stage::LocalInit => {
                c.stage = Stage::Established;
                c.push_preamble(format!("OK {}\n", c.local).as_bytes());
                c.flush()
            }
            Op::Rw if c.stage == Stage::Established => {
                let len = h.len as usize;
                let mut buf = std::mem::take(&mut self.buf);
                let ok = payload(&mut buf[..len]) && c.push_tx(&buf[..len]) && c.flush();
                self.buf = buf;
                ok
            }
            Op::CreditUpdate => true,
            Op::CreditRequest => {
                c.owed.credit_update = true;
                true
            }
            Op::Shutdown => {
                if h.flags & SHUTDOWN_SEND != 0 {
                    c.guest_done_sending = true;
                }
                if h.flags & (SHUTDOWN_SEND | SHUTDOWN_RCV) == SHUTDOWN_SEND | SHUTDOWN_RCV {
                    c.guest_closed = true;
                }
                c.flush()
            }
            // A RESPONSE or data at the wrong stage.
            _ => {
                self.stats.malformed.fetch_add(1, Ordering::Relaxed);
                false
            }
        };
        if ok {
            self.update(key, ops);
        } else {
            self.close(key, ops, true);
        }
    }

    /// A guest connects to host port `h.dst_port`.
    fn request(&mut self, h: &Header, ops: &mut EventOps) {
        let key = (h.dst_port, h.src_port);
        if self.conns.contains_key(&key) || self.count() >= MAX_CONNECTIONS {
            return self.rst_for(h);
        }
        let stream = match unix::connect(&unix::port_path(&self.base, h.dst_port)) {
            Ok(s) => s,
            Err(_) => {
                self.stats.refused.fetch_add(1, Ordering::Relaxed);
                return self.rst_for(h);
            }
        };
        let mut c = Connection::new(stream, key.0, key.1, Stage::Established);
        c.peer_credit(h);
        c.owed.response = true;
        self.stats.connections.fetch_add(1, Ordering::Relaxed);
        self.by_fd.insert(c.stream.as_raw_fd(), key);
        self.conns.insert(key, c);
        self.update(key, ops);
    }

    /// The next packet for the guest, for a receive buffer of `room` bytes (at least a header):
    /// the header and the payload's length in the muxer's buffer, or `None` when there is none.
    pub fn to_guest(&mut self, room: usize, ops: &mut EventOps) -> Option<(Header, &[u8])> {
        loop {
            if let Some(h) = self.rsts.pop_front() {
                return Some((h, &[]));
            }
            let key = self.rxq.pop_front()?;
            let Some(c) = self.conns.get_mut(&key) else {
                continue;
            };
            c.queued = false;
            let cid = self.cid;
            let o = &mut c.owed;
            let op = if std::mem::take(&mut o.request) {
                Op::Request
            } else if std::mem::take(&mut o.response) {
                Op::Response
            } else if std::mem::take(&mut o.credit_update) {
                Op::CreditUpdate
            } else if std::mem::take(&mut o.credit_request) {
                Op::CreditRequest
            } else if c.stage == Stage::Established && c.readable && !c.host_eof {
                let n = room.saturating_sub(HDR_LEN).min(MAX_PAYLOAD);
                if n == 0 {
                    // A buffer with no room for data: the packet waits for a bigger one.
                    c.queued = true;
                    self.rxq.push_front(key);
                    return None;
                }
                match c.read_for_guest(&mut self.buf[..n]) {
                    Read2Guest::Data(n) => {
                        let mut h = c.header(cid, Op::Rw);
                        h.len = n as u32;
                        self.update(key, ops);
                        return Some((h, &self.buf[..n]));
                    }
                    Read2Guest::Empty => {
                        // Read dry (or no credit, or no room): watched again.
                        if c.credit() > 0 {
                            c.readable = false;
                        }
                        self.update(key, ops);
                        continue;
                    }
                    Read2Guest::Eof => {
                        c.host_eof = true;
                        c.owed.shutdown = true;
                        self.update(key, ops);
                        continue;
                    }
                    Read2Guest::Failed => {
                        self.close(key, ops, true);
                        continue;
                    }
                }
            } else if std::mem::take(&mut o.shutdown) {
                Op::Shutdown
            } else {
                self.update(key, ops);
                continue;
            };
            let mut h = c.header(cid, op);
            if op == Op::Shutdown {
                h.flags = SHUTDOWN_RCV | SHUTDOWN_SEND;
            }
            self.update(key, ops);
            return Some((h, &[]));
        }
    }
}
