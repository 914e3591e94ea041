//! A fault-injecting proxy for migration streams: it forwards frames between a source and a
//! destination and, on the frame chosen, cuts the link or corrupts a byte. It parses the framing
//! (`type u8, length u32, payload, crc u32`) only to find frame boundaries.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::thread::JoinHandle;

/// What the proxy does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
) {
    let mut seen = [0usize; 256];
    while let Some(mut f) = read_frame(&mut from) {
        let kind = f[0];
        let nth = seen[kind as usize];
        seen[kind as usize] += 1;
        match fault {
            Fault::CutBefore(k, n) if downstream && k == kind && n == nth => break,
            Fault::CutReplyBefore(k) if !downstream && k == kind => break,
            Fault::HoldBefore(k, n) if downstream && k == kind && n == nth => {
                // The other direction's pump shuts both connections once the destination ends.
                let _ = std::fs::write(held, b"");
                return;
            }
            Fault::Flip(k, n) if downstream && k == kind && n == nth && f.len() > 9 => {
                let mid = 5 + (f.len() - 9) / 2;
                f[mid] ^= 0x20;
            }
            _ => {}
        }
        if to.write_all(&f).is_err() {
            break;
        }
    }
    let _ = from.shutdown(std::net::Shutdown::Both);
    let _ = to.shutdown(std::net::Shutdown::Both);
}

/// Listens at `listen`, and for one source connects to `target` and forwards with `fault`.
pub fn start(listen: PathBuf, target: PathBuf, fault: Fault) -> JoinHandle<()> {
    let _ = std::fs::remove_file(&listen);
    let l = UnixListener::bind(&listen).expect("proxy listen");
    std::thread::spawn(move || {
        let Ok((src, _)) = l.accept() else { return };
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
        pump(src, dst, fault, true, &held);
        let _ = up.join();
    })
}
