//! The migration stream's order and completeness, on top of [`frame`](super::frame)'s per-frame
//! checksums: a checksum proves that a frame arrived as it was sent, not that every frame arrived,
//! once, in order. A [`Channel`] adds that:
//!
//! - **sequence numbers**: after the handshake (HELLO and its reply, which every protocol version
//!   frames alike so that any version can refuse any other by name), every frame's payload starts
//!   with its sequence number, a `u32` counted per direction from 1. A frame whose number is not
//!   the next one is refused on arrival, naming its kind and both numbers: a gap is a missing
//!   (or reordered) frame, a number already seen a duplicated (or reordered) one;
//! - **a summary in END**: the source's END carries what it sent before END ([`Summary`]: frames,
//!   guest pages, bytes on the wire, and a running XXH3-64 digest of every frame's header and
//!   checksum, HELLO included, in order), and the destination compares it with what it received
//!   before it replies READY. The digest catches what numbering cannot: a frame replaced by
//!   another with the same number and a valid checksum (from another migration, say), whose
//!   checksum then differs from the one sent.
//!
//! ```text
//! frame     kind u8, length u32, payload, CRC-32 u32      (frame.rs)
//! payload   seq u32 (from 1, per direction), body          (after the handshake)
//! END body  frames u32, pages u64, bytes u64, digest u64   (all before END, END excluded)
//! digest    XXH3-64 of (kind u8, length u32, CRC-32 u32) for each frame before END, in order
//! ```
//!
//! Each payload byte is hashed once on each side, by its frame's CRC-32 (which covers the
//! sequence number too); the digest hashes 9 bytes per frame. Up to protocol version 4 it hashed
//! every payload byte a second time, with XXH3-64: 55-85 ms per GiB on each side, for odds
//! against a substituted frame of 2^-64 where version 5 has 2^-32 per frame (its CRC-32 must
//! match the one sent). Like the CRCs, the digest guards against accidents and broken links, not
//! forgery: anyone who can rewrite the stream can rewrite END.

use super::frame::{self, FrameError, Kind};
use std::io::{Read, Write};
use xxhash_rust::xxh3::Xxh3;

/// Errors of the stream's order and completeness.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// A frame failed, or the link did.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A frame with a sequence number other than the next one.
    #[error("{}", sequence(*.kind, *.got, *.want))]
    Sequence {
        /// The frame's kind.
        kind: Kind,
        /// Its number.
        got: u32,
        /// The number expected.
        want: u32,
    },
    /// A sequenced frame too short to hold its number.
    #[error("a {kind:?} frame of {len} bytes has no sequence number")]
    Unnumbered {
        /// The frame's kind.
        kind: Kind,
        /// Its length.
        len: usize,
    },
    /// END's body is malformed.
    #[error("END: {0}")]
    BadEnd(#[source] crate::wire::Truncated),
    /// What arrived is not what END says was sent.
    #[error("the stream does not match its END ({}): a frame was lost, added or changed", mismatch(.sent, .received))]
    Mismatch {
        /// What the source says it sent.
        sent: Summary,
        /// What arrived here.
        received: Summary,
    },
}

fn sequence(kind: Kind, got: u32, want: u32) -> String {
    if got > want {
        let n = got - want;
        format!(
            "{kind:?} frame {got} arrived where frame {want} was expected: {n} frame{} missing or out of order",
            if n == 1 { "" } else { "s" }
        )
    } else {
        format!(
            "{kind:?} frame {got} arrived where frame {want} was expected: a duplicated or reordered frame"
        )
    }
}

fn mismatch(sent: &Summary, received: &Summary) -> String {
    let mut v = Vec::new();
    if sent.frames != received.frames {
        v.push(format!(
            "{} frames sent, {} received",
            sent.frames, received.frames
        ));
    }
    if sent.pages != received.pages {
        v.push(format!(
            "{} pages sent, {} received",
            sent.pages, received.pages
        ));
    }
    if sent.bytes != received.bytes {
        v.push(format!(
            "{} bytes sent, {} received",
            sent.bytes, received.bytes
        ));
    }
    if sent.digest != received.digest {
        v.push(format!(
            "digest {:016x} sent, {:016x} received",
            sent.digest, received.digest
        ));
    }
    v.join("; ")
}

/// What one side sent (or received) before END.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Frames, HELLO included.
    pub frames: u32,
    /// Guest pages in PAGES frames.
    pub pages: u64,
    /// Bytes on the wire: every frame's header, payload and checksum.
    pub bytes: u64,
    /// XXH3-64 of every frame's header (kind, length) and CRC-32, in order.
    pub digest: u64,
}

/// The size of END's body.
const SUMMARY_BYTES: usize = 4 + 8 + 8 + 8;

impl Summary {
    /// END's body.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = crate::wire::Writer::new();
        w.u32(self.frames);
        w.u64(self.pages);
        w.u64(self.bytes);
        w.u64(self.digest);
        w.into_bytes()
    }

    /// Reads END's body.
    pub fn decode(b: &[u8]) -> Result<Summary, ChannelError> {
        let mut r = crate::wire::Reader::new(b);
        let s = Summary {
            frames: r.u32("the frame count").map_err(ChannelError::BadEnd)?,
            pages: r.u64("the page count").map_err(ChannelError::BadEnd)?,
            bytes: r.u64("the byte count").map_err(ChannelError::BadEnd)?,
            digest: r.u64("the digest").map_err(ChannelError::BadEnd)?,
        };
        if !r.is_empty() {
            return Err(ChannelError::BadEnd(crate::wire::Truncated {
                what: "nothing after the digest",
                need: 0,
                offset: SUMMARY_BYTES,
                left: r.remaining(),
            }));
        }
        Ok(s)
    }
}

/// Frames, bytes and digest of one direction, up to END.
struct Tally {
    frames: u32,
    bytes: u64,
    digest: Xxh3,
    closed: bool,
}

impl Tally {
    fn new() -> Self {
        Tally {
            frames: 0,
            bytes: 0,
            digest: Xxh3::new(),
            closed: false,
        }
    }

    fn add(&mut self, kind: Kind, len: usize, crc: u32) {
        if kind == Kind::End {
            self.closed = true;
        }
        if self.closed {
            return;
        }
        self.digest.update(&frame::head(kind, len));
        self.digest.update(&crc.to_le_bytes());
        self.frames = self.frames.wrapping_add(1);
        self.bytes += frame::wire_len(len);
    }

    fn summary(&self, pages: u64) -> Summary {
        Summary {
            frames: self.frames,
            pages,
            bytes: self.bytes,
            digest: self.digest.digest(),
        }
    }
}

/// A received frame: its kind and its body (the payload after the sequence number).
pub struct Received {
    /// The kind.
    pub kind: Kind,
    payload: Vec<u8>,
    body_at: usize,
}

impl Received {
    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.payload[self.body_at..]
    }
}

/// One end of a migration stream: frames out and in, numbered after the handshake, tallied up to
/// END.
pub struct Channel<'a, S: Read + Write + ?Sized> {
    stream: &'a mut S,
    sequenced: bool,
    next_out: u32,
    next_in: u32,
    out: Tally,
    inc: Tally,
    /// A received frame's buffer, given back ([`Channel::recycle`]) for the next one.
    spare: Vec<u8>,
}

impl<'a, S: Read + Write + ?Sized> Channel<'a, S> {
    /// A channel in its handshake: frames carry no numbers yet.
    pub fn new(stream: &'a mut S) -> Self {
        Channel {
            stream,
            sequenced: false,
            next_out: 1,
            next_in: 1,
            out: Tally::new(),
            inc: Tally::new(),
            spare: Vec::new(),
        }
    }

    /// Ends the handshake: every frame from now on, both ways, carries its number.
    pub fn start_sequence(&mut self) {
        self.sequenced = true;
    }

    /// Sends one frame; returns its bytes on the wire.
    pub fn send(&mut self, kind: Kind, body: &[u8]) -> Result<u64, ChannelError> {
        let seq = self.next_out.to_le_bytes();
        let parts: &[&[u8]] = if self.sequenced {
            &[&seq, body]
        } else {
            &[body]
        };
        let crc = frame::write_parts(self.stream, kind, parts)?;
        let len = parts.iter().map(|p| p.len()).sum();
        self.out.add(kind, len, crc);
        if self.sequenced {
            self.next_out = self.next_out.wrapping_add(1);
        }
        Ok(frame::wire_len(len))
    }

    /// Receives one frame, checking its number.
    pub fn recv(&mut self) -> Result<Received, ChannelError> {
        let mut payload = std::mem::take(&mut self.spare);
        let (kind, crc) = frame::read_into(self.stream, &mut payload)?;
        self.inc.add(kind, payload.len(), crc);
        if !self.sequenced {
            return Ok(Received {
                kind,
                payload,
                body_at: 0,
            });
        }
        let Some(seq) = payload.get(..4) else {
            return Err(ChannelError::Unnumbered {
                kind,
                len: payload.len(),
            });
        };
        let got = u32::from_le_bytes(seq.try_into().expect("four bytes"));
        if got != self.next_in {
            return Err(ChannelError::Sequence {
                kind,
                got,
                want: self.next_in,
            });
        }
        self.next_in = self.next_in.wrapping_add(1);
        Ok(Received {
            kind,
            payload,
            body_at: 4,
        })
    }

    /// Gives a received frame's buffer back, for the next frame to reuse (large frames then
    /// cost no allocation, and no fresh pages, each).
    pub fn recycle(&mut self, f: Received) {
        self.spare = f.payload;
    }

    /// What this side sent before END, with `pages` guest pages: END's body.
    pub fn sent(&self, pages: u64) -> Summary {
        self.out.summary(pages)
    }

    /// Checks END's body against what arrived before it, with `pages` guest pages.
    pub fn check_end(&self, end: &[u8], pages: u64) -> Result<(), ChannelError> {
        let sent = Summary::decode(end)?;
        let received = self.inc.summary(pages);
        if sent != received {
            return Err(ChannelError::Mismatch { sent, received });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-way pipe in memory: what is written is read back.
    #[derive(Default)]
    struct Pipe {
        buf: std::collections::VecDeque<u8>,
    }
    impl Read for Pipe {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            self.buf.read(out)
        }
    }
    impl Write for Pipe {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.buf.extend(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A source's stream as separate wire frames (HELLO, PAGES x3, STATE) and the summary its
    /// END would carry.
    fn source_frames() -> (Vec<Vec<u8>>, Summary) {
        let mut p = Pipe::default();
        let mut frames = Vec::new();
        let mut ch = Channel::new(&mut p);
        let mut take = |ch: &mut Channel<Pipe>| {
            let v: Vec<u8> = ch.stream.buf.drain(..).collect();
            frames.push(v);
        };
        ch.send(Kind::Hello, b"hello").unwrap();
        take(&mut ch);
        ch.start_sequence();
        for b in [b"page one", b"page two", b"page 333"] {
            ch.send(Kind::Pages, b).unwrap();
            take(&mut ch);
        }
        ch.send(Kind::State, b"state").unwrap();
        take(&mut ch);
        let sent = ch.sent(3);
        (frames, sent)
    }

    /// Feeds `frames` to a destination, then checks `sent` as its END; returns its first error.
    fn deliver(frames: &[Vec<u8>], sent: Summary) -> Result<(), ChannelError> {
        let mut p = Pipe::default();
        for f in frames {
            p.buf.extend(f);
        }
        let mut ch = Channel::new(&mut p);
        let hello = ch.recv()?;
        assert_eq!(hello.kind, Kind::Hello);
        ch.start_sequence();
        let mut pages = 0;
        loop {
            let f = ch.recv();
            let f = match f {
                Err(ChannelError::Frame(FrameError::Closed)) => break,
                f => f?,
            };
            if f.kind == Kind::Pages {
                pages += 1;
            }
        }
        ch.check_end(&sent.encode(), pages)
    }

    #[test]
    fn an_intact_stream_passes_and_its_summary_round_trips() {
        let (frames, sent) = source_frames();
        assert_eq!(sent.frames, 5);
        assert_eq!(
            sent.bytes,
            frames.iter().map(|f| f.len() as u64).sum::<u64>()
        );
        assert_eq!(Summary::decode(&sent.encode()).unwrap(), sent);
        deliver(&frames, sent).unwrap();
        for n in 0..SUMMARY_BYTES {
            assert!(Summary::decode(&sent.encode()[..n]).is_err());
        }
        let mut long = sent.encode();
        long.push(0);
        assert!(Summary::decode(&long).is_err());
    }

    #[test]
    fn a_removed_duplicated_or_reordered_frame_is_named() {
        let (frames, sent) = source_frames();
        let with = |f: &dyn Fn(&mut Vec<Vec<u8>>)| {
            let mut v = frames.clone();
            f(&mut v);
            deliver(&v, sent).unwrap_err().to_string()
        };
        let e = with(&|v| {
            v.remove(2);
        });
        assert!(
            e.contains("Pages frame 3 arrived where frame 2 was expected: 1 frame missing"),
            "{e}"
        );
        let e = with(&|v| {
            v.remove(4);
        });
        // The last frame before END: nothing follows it here but END, whose summary says so.
        assert!(e.contains("5 frames sent, 4 received"), "{e}");
        let e = with(&|v| {
            let d = v[1].clone();
            v.insert(2, d);
        });
        assert!(
            e.contains("Pages frame 1 arrived where frame 2 was expected: a duplicated"),
            "{e}"
        );
        let e = with(&|v| v.swap(1, 2));
        assert!(
            e.contains("Pages frame 2 arrived where frame 1 was expected"),
            "{e}"
        );
        let e = with(&|v| v.swap(3, 4));
        assert!(
            e.contains("State frame 4 arrived where frame 3 was expected"),
            "{e}"
        );
    }

    #[test]
    fn a_substituted_frame_with_a_valid_number_and_checksum_fails_the_digest() {
        let (mut frames, sent) = source_frames();
        // Frame 2 (the second PAGES) rebuilt with other content, numbered and checksummed right.
        let mut p = Pipe::default();
        let mut w: Vec<u8> = 2u32.to_le_bytes().to_vec();
        w.extend_from_slice(b"page 2!!");
        frame::write(&mut p, Kind::Pages, &w).unwrap();
        frames[2] = p.buf.drain(..).collect();
        let e = deliver(&frames, sent).unwrap_err().to_string();
        assert!(e.contains("digest") && !e.contains("frames sent"), "{e}");
        // A summary that lies about the pages.
        let mut fewer = sent;
        fewer.pages -= 1;
        let (frames, _) = source_frames();
        let e = deliver(&frames, fewer).unwrap_err().to_string();
        assert!(e.contains("2 pages sent, 3 received"), "{e}");
    }

    #[test]
    fn a_sequenced_frame_without_a_number_is_refused() {
        let mut p = Pipe::default();
        frame::write(&mut p, Kind::Round, b"ab").unwrap();
        let mut ch = Channel::new(&mut p);
        ch.start_sequence();
        let e = ch.recv().err().unwrap();
        assert!(matches!(e, ChannelError::Unnumbered { len: 2, .. }), "{e}");
    }
}
