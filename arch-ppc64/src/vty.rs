//! The PAPR hypervisor console (`/vdevice/vty@71000000`, compatible `hvterm1`): the guest writes
//! with `H_PUT_TERM_CHAR` and reads with `H_GET_TERM_CHAR`, up to 16 bytes per call, packed
//! big-endian into two registers (the first byte in the most significant byte of the first).
//!
//! Output goes to vmm-core's console sink; input arrives from the event loop through
//! [`ConsoleInput`] into a bounded buffer. With an interrupt controller the console has an
//! interrupt (the vty node's `interrupts`): each push of input raises an edge on it, and the
//! guest drains the buffer from its interrupt handler; without one the guest polls. When the buffer refused bytes, the console's space
//! event is signalled once the guest has drained it, so the event loop resumes reading the host.

use std::collections::VecDeque;
use std::io::Write as _;
use std::sync::Arc;
use vmm_core::console::{ConsoleInput, ConsoleOut};
use vmm_core::devices::InterruptLine;
use vmm_sys_util::eventfd::EventFd;

/// Bytes of host input the console holds for the guest.
pub const INPUT_CAPACITY: usize = 4096;
/// Bytes one hypercall moves.
pub const MAX_CHARS: usize = 16;

/// Unpacks the `len` bytes of an `H_PUT_TERM_CHAR` (registers r6, r7), or `None` when `len` is
/// above 16.
pub fn unpack_chars(len: u64, hi: u64, lo: u64) -> Option<Vec<u8>> {
    let len = usize::try_from(len).ok().filter(|&l| l <= MAX_CHARS)?;
    let mut b = [0u8; MAX_CHARS];
    b[..8].copy_from_slice(&hi.to_be_bytes());
    b[8..].copy_from_slice(&lo.to_be_bytes());
    Some(b[..len].to_vec())
}

/// Packs up to 16 bytes into the two registers of an `H_GET_TERM_CHAR` reply.
pub fn pack_chars(bytes: &[u8]) -> (u64, u64) {
    let mut b = [0u8; MAX_CHARS];
    let n = bytes.len().min(MAX_CHARS);
    b[..n].copy_from_slice(&bytes[..n]);
    (
        u64::from_be_bytes(b[..8].try_into().expect("8 bytes")),
        u64::from_be_bytes(b[8..].try_into().expect("8 bytes")),
    )
}

/// The console device.
pub struct Vty {
    out: ConsoleOut,
    input: VecDeque<u8>,
    space: Arc<EventFd>,
    refused: bool,
    irq: Option<Arc<dyn InterruptLine>>,
}

impl Vty {
    /// A console writing to `out`; `space` is signalled when input may resume.
    pub fn new(out: ConsoleOut, space: Arc<EventFd>) -> Self {
        Vty {
            out,
            input: VecDeque::new(),
            space,
            refused: false,
            irq: None,
        }
    }

    /// The same console raising `irq` when input arrives.
    pub fn with_interrupt(mut self, irq: Option<Arc<dyn InterruptLine>>) -> Self {
        self.irq = irq;
        self
    }

    /// Guest output. A failed host write loses the bytes, as a disconnected terminal would.
    pub fn put(&mut self, bytes: &[u8]) {
        let _ = self.out.write_all(bytes);
        let _ = self.out.flush();
    }

    /// Up to 16 bytes of host input for the guest.
    pub fn get(&mut self) -> Vec<u8> {
        let n = self.input.len().min(MAX_CHARS);
        let out: Vec<u8> = self.input.drain(..n).collect();
        if self.refused && self.input.len() < INPUT_CAPACITY {
            self.refused = false;
            // A failed write means the counter is already non-zero: the loop wakes anyway.
            let _ = self.space.write(1);
        }
        out
    }

    /// Host input the guest has not read yet (for a snapshot).
    pub fn unread_input(&self) -> Vec<u8> {
        self.input.iter().copied().collect()
    }

    /// Replaces the unread input with `bytes` (a restore; at most [`INPUT_CAPACITY`] are kept).
    pub fn restore_input(&mut self, bytes: &[u8]) {
        self.input.clear();
        self.input.extend(&bytes[..bytes.len().min(INPUT_CAPACITY)]);
    }
}

impl ConsoleInput for Vty {
    fn push_input(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(INPUT_CAPACITY - self.input.len());
        self.input.extend(&bytes[..n]);
        if n < bytes.len() {
            self.refused = true;
        }
        if n > 0 {
            if let Some(irq) = &self.irq {
                // A lost edge leaves the bytes for the guest's next read (it polls then).
                let _ = irq.trigger();
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use vmm_core::console::ConsoleSink;
    use vmm_sys_util::eventfd::EFD_NONBLOCK;

    #[test]
    fn chars_are_packed_big_endian() {
        // "hello, pseries!\n" as Linux's hvc_vio passes it.
        let (hi, lo) = pack_chars(b"hello, pseries!\n");
        assert_eq!(hi, u64::from_be_bytes(*b"hello, p"));
        assert_eq!(unpack_chars(16, hi, lo).unwrap(), b"hello, pseries!\n");
        assert_eq!(unpack_chars(3, hi, lo).unwrap(), b"hel");
        assert_eq!(unpack_chars(0, hi, lo).unwrap(), b"");
        assert_eq!(unpack_chars(17, hi, lo), None);
        assert_eq!(unpack_chars(u64::MAX, hi, lo), None);
        assert_eq!(pack_chars(b"ab"), (0x6162 << 48, 0));
    }

    #[test]
    fn input_is_bounded_and_signals_space() {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let space = Arc::new(EventFd::new(EFD_NONBLOCK).unwrap());
        let mut v = Vty::new(ConsoleSink::Buffer(buf.clone()).writer(), space.clone());
        v.put(b"out");
        assert_eq!(&*buf.lock().unwrap(), b"out");
        assert_eq!(v.get(), b"");
        assert_eq!(
            v.push_input(&vec![b'x'; INPUT_CAPACITY + 10]),
            INPUT_CAPACITY
        );
        assert_eq!(v.push_input(b"more"), 0);
        assert!(space.read().is_err(), "no space event while full");
        assert_eq!(v.get(), vec![b'x'; 16]);
        assert_eq!(space.read().unwrap(), 1, "room again after a refused push");
        assert_eq!(v.push_input(b"yz"), 2);
        let mut total = 16;
        loop {
            let got = v.get();
            if got.is_empty() {
                break;
            }
            total += got.len();
        }
        assert_eq!(total, INPUT_CAPACITY + 2);
    }

    #[test]
    fn unread_input_is_kept_across_a_restore() {
        let space = Arc::new(EventFd::new(EFD_NONBLOCK).unwrap());
        let mut v = Vty::new(ConsoleSink::Null.writer(), space.clone());
        v.push_input(&[b'a'; 20]);
        v.get();
        assert_eq!(v.unread_input(), vec![b'a'; 4]);
        let mut r = Vty::new(ConsoleSink::Null.writer(), space);
        r.restore_input(&v.unread_input());
        assert_eq!(r.get(), vec![b'a'; 4]);
        r.restore_input(&vec![b'x'; INPUT_CAPACITY + 1]);
        assert_eq!(r.unread_input().len(), INPUT_CAPACITY);
    }

    #[test]
    fn input_raises_the_interrupt() {
        use vmm_core::devices::irq::EventLine;
        let space = Arc::new(EventFd::new(EFD_NONBLOCK).unwrap());
        let line = Arc::new(EventLine::new().unwrap());
        let mut v = Vty::new(ConsoleSink::Null.writer(), space).with_interrupt(Some(line.clone()));
        assert!(line.0.read().is_err(), "no edge before input");
        v.push_input(b"a");
        v.push_input(b"bc");
        assert_eq!(line.0.read().unwrap(), 2, "one edge per push");
        v.push_input(&vec![b'x'; INPUT_CAPACITY]);
        line.0.read().unwrap();
        assert_eq!(v.push_input(b"refused"), 0);
        assert!(line.0.read().is_err(), "no edge when nothing was taken");
    }
}
