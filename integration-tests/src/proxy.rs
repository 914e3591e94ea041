//! A fault-injecting proxy for migration streams: it forwards frames between a source and a
//! destination and, on the frame chosen, cuts the link, corrupts a byte, or drops, duplicates or
//! reorders a whole (intact) frame. It parses the framing (`type u8, length u32, payload,
//! crc u32`) only to find frame boundaries, and reports the kinds it forwarded each way.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::thread::JoinHandle;

/// What the proxy does.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Forward everything.
    None,
    /// Source to destination: cut the link instead of forwarding the `nth` frame of type `kind`.
    CutBefore(u8, usize),
    /// Source to destination: flip a payload byte of the `nth` frame of type `kind`.
    Flip(u8, usize),
    /// Destination to source: cut the link instead of forwarding the first frame of type `kind`.
    CutReplyBefore(u8),
    /// Source to destination: stop forwarding before the `nth` frame of type `kind`, leaving both
    /// connections open, and create the marker file (the listen path with extension `held`); the
    /// link ends when the destination does.
    HoldBefore(u8, usize),
    /// Source to destination: leave out the `nth` frame of type `kind`, and go on.
    Drop(u8, usize),
    /// Source to destination: forward the `nth` frame of type `kind` twice.
    Duplicate(u8, usize),
    /// Source to destination: forward the `nth` frame of type `kind` after the frame that follows
    /// it.
    Swap(u8, usize),
    /// Source to destination: change the payload of the `nth` frame of type `kind` (its sequence
    /// number first) with the function, and frame it again with a valid checksum: a source that
    /// sends wrong content, which only the destination's own checks (and END's digest) catch.
    Rewrite(u8, usize, fn(&mut [u8])),
}

/// The frame types the proxy forwarded, in order, each way.
#[derive(Clone, Debug, Default)]
pub struct Forwarded {
    /// Source to destination.
    pub down: Vec<u8>,
    /// Destination to source.
    pub up: Vec<u8>,
}

fn read_frame(r: &mut UnixStream) -> Option<Vec<u8>> {
    let mut head = [0u8; 5];
    r.read_exact(&mut head).ok()?;
    let len = u32::from_le_bytes(head[1..5].try_into().unwrap()) as usize;
    let mut rest = vec![0u8; len + 4];
    r.read_exact(&mut rest).ok()?;
    let mut f = head.to_vec();
    f.extend_from_slice(&rest);
    Some(f)
}

fn pump(
    mut from: UnixStream,
    mut to: UnixStream,
    fault: Fault,
    downstream: bool,
    held: &std::path::Path,
) -> Vec<u8> {
    let mut seen = [0usize; 256];
    let mut kinds = Vec::new();
    let mut swapped: Option<Vec<u8>> = None;
    while let Some(mut f) = read_frame(&mut from) {
        let kind = f[0];
        let nth = seen[kind as usize];
        seen[kind as usize] += 1;
        let this = |k: u8, n: usize| downstream && k == kind && n == nth;
        let mut out = vec![];
        match fault {
            Fault::CutBefore(k, n) if this(k, n) => break,
            Fault::CutReplyBefore(k) if !downstream && k == kind => break,
            Fault::HoldBefore(k, n) if this(k, n) => {
                // The other direction's pump shuts both connections once the destination ends.
                let _ = std::fs::write(held, b"");
                return kinds;
            }
            Fault::Flip(k, n) if this(k, n) && f.len() > 9 => {
                let mid = 5 + (f.len() - 9) / 2;
                f[mid] ^= 0x20;
                out.push(f);
            }
            Fault::Rewrite(k, n, change) if this(k, n) => {
                let end = f.len() - 4;
                change(&mut f[5..end]);
                let crc = crc32fast::hash(&f[..end]).to_le_bytes();
                f[end..].copy_from_slice(&crc);
                out.push(f);
            }
            Fault::Drop(k, n) if this(k, n) => {}
            Fault::Duplicate(k, n) if this(k, n) => out.extend([f.clone(), f]),
            Fault::Swap(k, n) if this(k, n) => swapped = Some(f),
            _ => {
                out.push(f);
                out.extend(swapped.take());
            }
        }
        for f in out {
            kinds.push(f[0]);
            if to.write_all(&f).is_err() {
                let _ = from.shutdown(std::net::Shutdown::Both);
                let _ = to.shutdown(std::net::Shutdown::Both);
                return kinds;
            }
        }
    }
    let _ = from.shutdown(std::net::Shutdown::Both);
    let _ = to.shutdown(std::net::Shutdown::Both);
    kinds
}

/// Listens at `listen`, and for one source connects to `target` and forwards with `fault`; the
/// thread returns what it forwarded.
pub fn start(listen: PathBuf, target: PathBuf, fault: Fault) -> JoinHandle<Forwarded> {
    let _ = std::fs::remove_file(&listen);
    let l = UnixListener::bind(&listen).expect("proxy listen");
    std::thread::spawn(move || {
        let Ok((src, _)) = l.accept() else {
            return Forwarded::default();
        };
        let dst = loop {
            match UnixStream::connect(&target) {
                Ok(s) => break s,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
            }
        };
        let (src2, dst2) = (src.try_clone().unwrap(), dst.try_clone().unwrap());
        let held = listen.with_extension("held");
        let held2 = held.clone();
        let up = std::thread::spawn(move || pump(dst2, src2, fault, false, &held2));
        let down = pump(src, dst, fault, true, &held);
        Forwarded {
            down,
            up: up.join().unwrap_or_default(),
        }
    })
}
