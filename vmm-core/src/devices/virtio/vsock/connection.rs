//! One connection between a guest port and a host Unix socket, with virtio-vsock's credit
//! accounting both ways.
//!
//! Guest to host: the guest may have at most [`BUF_ALLOC`] bytes sent and not yet written to the
//! host socket (our `buf_alloc` and `fwd_cnt` in every header tell it); they wait in
//! [`Connection::tx`], which therefore never grows past [`BUF_ALLOC`]: a guest that sends more
//! than its credit is misbehaving and the connection is reset. When the host socket has taken a
//! quarter of the buffer since the guest last heard, a `CREDIT_UPDATE` goes to it.
//!
//! Host to guest: the host socket is read only while the guest has credit (its `buf_alloc` minus
//! the bytes sent and not yet consumed), so nothing waits on the host side but the socket's own
//! kernel buffer.

use super::packet::{Header, Op};
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;

/// The bytes from the guest a connection holds for its host socket at most (the `buf_alloc`
/// the guest sees).
pub const BUF_ALLOC: u32 = 256 * 1024;
/// A credit update goes to the guest once the host consumed this much since the last one.
const CREDIT_THRESHOLD: u32 = BUF_ALLOC / 4;

/// A connection's stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Opened by the host: the guest has been (or is about to be) sent a `REQUEST`.
    LocalInit,
    /// Both sides agreed.
    Established,
}

/// Packets the connection owes the guest, sent in this order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Owed {
    /// A `REQUEST` (host-initiated connection).
    pub request: bool,
    /// A `RESPONSE` (guest-initiated connection accepted).
    pub response: bool,
    /// A `CREDIT_UPDATE`.
    pub credit_update: bool,
    /// A `CREDIT_REQUEST` (the guest's credit ran out while the host has data).
    pub credit_request: bool,
    /// A `SHUTDOWN` (the host socket reached its end).
    pub shutdown: bool,
}

/// One connection.
pub struct Connection {
    /// The host end.
    pub stream: UnixStream,
    /// The host-side port (the guest's destination port for a guest-initiated connection).
    pub local: u32,
    /// The guest's port.
    pub peer: u32,
    /// Its stage.
    pub stage: Stage,
    /// What it owes the guest.
    pub owed: Owed,
    /// Bytes for the host socket that are not the guest's data (the `OK <port>\n` answer).
    preamble: Vec<u8>,
    /// The guest's data not yet written to the host socket.
    tx: VecDeque<u8>,
    /// Bytes written to the host socket (wrapping).
    fwd_cnt: u32,
    /// The `fwd_cnt` the guest last heard.
    fwd_cnt_told: u32,
    /// Bytes sent to the guest (wrapping).
    tx_cnt: u32,
    /// The guest's receive buffer.
    peer_buf_alloc: u32,
    /// What the guest consumed of it.
    peer_fwd_cnt: u32,
    /// The host socket may have data (it was readable and has not been read dry since).
    pub readable: bool,
    /// The host socket ended (read gave 0).
    pub host_eof: bool,
    /// The guest will send no more: the host socket's write side closes once `tx` is empty.
    pub guest_done_sending: bool,
    /// The guest closed (a `SHUTDOWN` both ways): the connection ends once `tx` is written.
    pub guest_closed: bool,
    /// In the device's queue of connections with something for the guest.
    pub queued: bool,
}

/// The result of reading the host socket for the guest.
pub enum Read2Guest {
    /// `n` bytes read into the buffer.
    Data(usize),
    /// Nothing now.
    Empty,
    /// The host socket ended.
    Eof,
    /// It failed: the connection is reset.
    Failed,
}

impl Connection {
    /// A connection at `stage` on `stream`, between host port `local` and guest port `peer`.
    pub fn new(stream: UnixStream, local: u32, peer: u32, stage: Stage) -> Self {
        Connection {
            stream,
            local,
            peer,
            stage,
            owed: Owed::default(),
            preamble: Vec::new(),
            tx: VecDeque::new(),
            fwd_cnt: 0,
            fwd_cnt_told: 0,
            tx_cnt: 0,
            peer_buf_alloc: 0,
            peer_fwd_cnt: 0,
            readable: false,
            host_eof: false,
            guest_done_sending: false,
            guest_closed: false,
            queued: false,
        }
    }

    /// A header to the guest `cid` for `op`, with this side's credit (which the guest now knows).
    pub fn header(&mut self, cid: u64, op: Op) -> Header {
        self.fwd_cnt_told = self.fwd_cnt;
        Header {
            buf_alloc: BUF_ALLOC,
            fwd_cnt: self.fwd_cnt,
            ..Header::to_guest(cid, self.local, self.peer, op)
        }
    }

    /// Takes the guest's credit from a header it sent.
    pub fn peer_credit(&mut self, h: &Header) {
        self.peer_buf_alloc = h.buf_alloc;
        self.peer_fwd_cnt = h.fwd_cnt;
    }

    /// The bytes the guest can take now.
    pub fn credit(&self) -> u32 {
        let in_flight = self.tx_cnt.wrapping_sub(self.peer_fwd_cnt);
        self.peer_buf_alloc.saturating_sub(in_flight)
    }

    /// Whether anything waits for the host socket.
    pub fn has_tx(&self) -> bool {
        !self.preamble.is_empty() || !self.tx.is_empty()
    }

    /// Queues bytes for the host socket ahead of the guest's data.
    pub fn push_preamble(&mut self, b: &[u8]) {
        self.preamble.extend_from_slice(b);
    }

    /// Takes the guest's data: `false` when it is more than the guest's credit allows.
    pub fn push_tx(&mut self, data: &[u8]) -> bool {
        if self.tx.len() + data.len() > BUF_ALLOC as usize {
            return false;
        }
        self.tx.extend(data);
        true
    }

    /// Writes what waits to the host socket, as far as it takes it: `false` when it failed
    /// (the host end is gone). Owes a credit update when the host consumed enough.
    pub fn flush(&mut self) -> bool {
        while !self.preamble.is_empty() {
            match (&self.stream).write(&self.preamble) {
                Ok(0) => return false,
                Ok(n) => {
                    self.preamble.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        while !self.tx.is_empty() {
            let (a, _) = self.tx.as_slices();
            match (&self.stream).write(a) {
                Ok(0) => return false,
                Ok(n) => {
                    self.tx.drain(..n);
                    self.fwd_cnt = self.fwd_cnt.wrapping_add(n as u32);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        if self.fwd_cnt.wrapping_sub(self.fwd_cnt_told) >= CREDIT_THRESHOLD {
            self.owed.credit_update = true;
        }
        if self.tx.is_empty() && self.guest_done_sending {
            let _ = self.stream.shutdown(std::net::Shutdown::Write);
        }
        true
    }

    /// Reads the host socket into `buf` (at most the guest's credit), counting what is sent.
    pub fn read_for_guest(&mut self, buf: &mut [u8]) -> Read2Guest {
        let n = buf.len().min(self.credit() as usize);
        if n == 0 {
            return Read2Guest::Empty;
        }
        loop {
            return match (&self.stream).read(&mut buf[..n]) {
                Ok(0) => Read2Guest::Eof,
                Ok(n) => {
                    self.tx_cnt = self.tx_cnt.wrapping_add(n as u32);
                    Read2Guest::Data(n)
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => Read2Guest::Empty,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => Read2Guest::Failed,
            };
        }
    }

    /// Whether it has a packet for the guest now.
    pub fn wants_rx(&self) -> bool {
        let o = self.owed;
        o.request
            || o.response
            || o.credit_update
            || o.credit_request
            || o.shutdown
            || (self.stage == Stage::Established
                && self.readable
                && !self.host_eof
                && self.credit() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_counts_what_the_guest_has_not_consumed() {
        let (a, _b) = UnixStream::pair().unwrap();
        let mut c = Connection::new(a, 1, 2, Stage::Established);
        assert_eq!(c.credit(), 0, "no credit before the guest tells");
        c.peer_credit(&Header {
            buf_alloc: 100,
            fwd_cnt: 0,
            ..Header::default()
        });
        assert_eq!(c.credit(), 100);
        c.tx_cnt = 60;
        assert_eq!(c.credit(), 40);
        // Wrapping counters.
        c.tx_cnt = 10;
        c.peer_fwd_cnt = u32::MAX - 19;
        assert_eq!(c.credit(), 70);
        // A guest claiming to have consumed more than was sent gets no more than its buffer.
        c.peer_fwd_cnt = 1_000_000;
        assert!(c.credit() <= 100);
    }

    #[test]
    fn the_guest_cannot_send_past_its_credit() {
        let (a, _b) = UnixStream::pair().unwrap();
        let mut c = Connection::new(a, 1, 2, Stage::Established);
        assert!(c.push_tx(&vec![0; BUF_ALLOC as usize]));
        assert!(!c.push_tx(&[0]));
    }
}
