//! The migration stream's framing: every message is `type u8, length u32, payload, CRC-32 u32`
//! (the CRC covers type, length and payload), so a corrupt or cut stream is caught at the first
//! bad frame. The stream opens with a versioned handshake; from protocol version 2 on, the
//! payloads after it start with a sequence number and END sums up the stream
//! ([`channel`](super::channel)). This framing itself is the same in every version, so that a
//! HELLO of any version is read, and refused by its version number, by any other.

use std::io::{IoSlice, Read, Write};

/// The stream's magic.
pub const MAGIC: &[u8; 8] = b"TETRAMIG";
/// The protocol version: a destination refuses any other. Version 1 had no sequence numbers and
/// no END summary; version 2 adds them ([`channel`](super::channel)); version 3 carries PAGES as
/// runs of contiguous pages, zero pages without their bytes ([`pages`](super::pages)); version 4
/// adds ARCH frames, arch state sent during pre-copy (a KVM-PR guest's hash table); version 5's
/// END digest hashes each frame's header and checksum, not its payload again.
pub const VERSION: u16 = 5;
/// The largest frame: a batch of pages, or the state envelope.
pub const MAX_FRAME: u32 = 512 << 20;

/// Frame types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Source: magic, version, arch, page size, configuration.
    Hello = 1,
    /// Destination: the handshake is accepted.
    HelloOk = 2,
    /// Source: guest pages (address, bytes).
    Pages = 3,
    /// Source: the end of a pre-copy round (for progress).
    Round = 4,
    /// Source: the VM's state envelope (vCPUs, devices, arch state).
    State = 5,
    /// Source: nothing more follows.
    End = 6,
    /// Destination: the state is applied; the VM can start.
    Ready = 7,
    /// Source: the source has stopped for good; start.
    Go = 8,
    /// Either side: failure, with a message.
    Error = 9,
    /// Destination: GO received; the guest runs here now.
    Started = 10,
    /// Source: arch state sent during pre-copy, as a section (tag, version, data), which the
    /// destination applies in stream order before STATE ([`crate::arch::Arch::precopy_state`]).
    Arch = 11,
}

impl Kind {
    fn from_u8(v: u8) -> Option<Kind> {
        use Kind::*;
        [
            Hello, HelloOk, Pages, Round, State, End, Ready, Go, Error, Started, Arch,
        ]
        .into_iter()
        .find(|k| *k as u8 == v)
    }
}

/// Errors of the framing.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The other side closed the connection (or it was cut).
    #[error("the other side closed the migration stream")]
    Closed,
    /// The connection failed.
    #[error("migration stream I/O failed")]
    Io(#[source] std::io::Error),
    /// An unknown frame type.
    #[error("unknown frame type {0}")]
    Kind(u8),
    /// A frame longer than allowed.
    #[error("a frame of {0} bytes is longer than the {MAX_FRAME} allowed")]
    TooLong(u32),
    /// The checksum does not match.
    #[error("frame {kind:?} ({len} bytes) fails its checksum: the stream is corrupt")]
    Crc {
        /// The frame type.
        kind: Kind,
        /// Its length.
        len: u32,
    },
}

fn io(e: std::io::Error) -> FrameError {
    use std::io::ErrorKind::*;
    match e.kind() {
        UnexpectedEof | BrokenPipe | ConnectionReset | ConnectionAborted => FrameError::Closed,
        _ => FrameError::Io(e),
    }
}

/// A frame's header: its kind and payload length.
pub fn head(kind: Kind, len: usize) -> [u8; 5] {
    let mut head = [0u8; 5];
    head[0] = kind as u8;
    head[1..].copy_from_slice(&(len as u32).to_le_bytes());
    head
}

/// The bytes a frame of `len` payload bytes takes on the wire.
pub fn wire_len(len: usize) -> u64 {
    len as u64 + 9
}

/// Writes one frame.
pub fn write<W: Write + ?Sized>(w: &mut W, kind: Kind, payload: &[u8]) -> Result<(), FrameError> {
    write_parts(w, kind, &[payload]).map(|_| ())
}

/// Writes one frame whose payload is `parts`, one after the other; returns its checksum.
pub fn write_parts<W: Write + ?Sized>(
    w: &mut W,
    kind: Kind,
    parts: &[&[u8]],
) -> Result<u32, FrameError> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len > MAX_FRAME as usize {
        return Err(FrameError::TooLong(len.min(u32::MAX as usize) as u32));
    }
    let head = head(kind, len);
    let mut h = crc32fast::Hasher::new();
    h.update(&head);
    for p in parts {
        h.update(p);
    }
    let sum = h.finalize();
    let crc = sum.to_le_bytes();
    // One system call for the whole frame where the stream takes it: small writes of the header
    // and checksum cost a call each.
    let mut slices: Vec<IoSlice> = Vec::with_capacity(parts.len() + 2);
    slices.push(IoSlice::new(&head));
    slices.extend(
        parts
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| IoSlice::new(p)),
    );
    slices.push(IoSlice::new(&crc));
    let mut left = &mut slices[..];
    while !left.is_empty() {
        match w.write_vectored(left) {
            Ok(0) => return Err(FrameError::Closed),
            Ok(n) => IoSlice::advance_slices(&mut left, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(e)),
        }
    }
    Ok(sum)
}

/// Reads one frame.
pub fn read<R: Read + ?Sized>(r: &mut R) -> Result<(Kind, Vec<u8>), FrameError> {
    let mut payload = Vec::new();
    let (kind, _) = read_into(r, &mut payload)?;
    Ok((kind, payload))
}

/// Reads one frame into `payload` (cleared first; its allocation is reused, and grows only with
/// the bytes that arrive); returns its kind and its checksum.
pub fn read_into<R: Read + ?Sized>(
    r: &mut R,
    payload: &mut Vec<u8>,
) -> Result<(Kind, u32), FrameError> {
    payload.clear();
    let mut head = [0u8; 5];
    r.read_exact(&mut head).map_err(io)?;
    let kind = Kind::from_u8(head[0]).ok_or(FrameError::Kind(head[0]))?;
    let len = u32::from_le_bytes(head[1..5].try_into().unwrap());
    if len > MAX_FRAME {
        return Err(FrameError::TooLong(len));
    }
    // The buffer grows with the bytes that arrive: a length alone allocates nothing.
    r.take(u64::from(len)).read_to_end(payload).map_err(io)?;
    if payload.len() != len as usize {
        return Err(FrameError::Closed);
    }
    let mut crc = [0u8; 4];
    r.read_exact(&mut crc).map_err(io)?;
    let mut h = crc32fast::Hasher::new();
    h.update(&head);
    h.update(payload);
    let sum = u32::from_le_bytes(crc);
    if h.finalize() != sum {
        return Err(FrameError::Crc { kind, len });
    }
    Ok((kind, sum))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that records the largest buffer it was asked to fill.
    struct Counting<'a>(&'a [u8], usize);

    impl Read for Counting<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.1 = self.1.max(buf.len());
            self.0.read(buf)
        }
    }

    #[test]
    fn round_trips_and_catches_every_corruption() {
        let mut buf = Vec::new();
        write(&mut buf, Kind::Pages, b"some page bytes").unwrap();
        let (k, p) = read(&mut &buf[..]).unwrap();
        assert_eq!((k, p.as_slice()), (Kind::Pages, &b"some page bytes"[..]));
        for n in 0..buf.len() {
            assert!(read(&mut &buf[..n]).is_err(), "truncated at {n}");
        }
        for i in 0..buf.len() {
            let mut c = buf.clone();
            c[i] ^= 0x10;
            assert!(read(&mut &c[..]).is_err(), "flipped byte {i}");
        }
        // Found by fuzzing (`fuzz/`, target `migration`, with a malloc limit): a header that
        // announces the largest frame, then nothing, made the reader allocate 512 MiB first.
        let mut huge = vec![Kind::State as u8];
        huge.extend_from_slice(&MAX_FRAME.to_le_bytes());
        huge.extend_from_slice(b"a few bytes");
        let mut counting = Counting(&huge[..], 0);
        assert!(matches!(read(&mut counting), Err(FrameError::Closed)));
        assert!(counting.1 < 1 << 20, "{} bytes asked for", counting.1);
        let mut long = vec![Kind::State as u8];
        long.extend_from_slice(&(MAX_FRAME + 1).to_le_bytes());
        assert!(matches!(read(&mut &long[..]), Err(FrameError::TooLong(_))));
    }
}
