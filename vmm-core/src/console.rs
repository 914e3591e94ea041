//! The guest console seen from the host: where guest output goes, and where host input enters.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// Where a UART or hypervisor console writes guest output.
pub type ConsoleOut = Box<dyn Write + Send>;

/// A console device that accepts host input (a 16550's receive FIFO, a PAPR vterm buffer).
pub trait ConsoleInput: Send {
    /// Queues as much of `bytes` as fits; returns how many were taken. When it took fewer than all,
    /// the device signals the console's space event once it has room again.
    fn push_input(&mut self, bytes: &[u8]) -> usize;
}

/// Host output for the console: stdout written unbuffered (a byte reaches the terminal when the
/// guest writes it), or a shared buffer that tests read back.
#[derive(Clone)]
pub enum ConsoleSink {
    /// The process's standard output.
    Stdout,
    /// An in-memory buffer.
    Buffer(Arc<Mutex<Vec<u8>>>),
    /// Discard everything.
    Null,
}

impl ConsoleSink {
    /// A writer for this sink.
    pub fn writer(&self) -> ConsoleOut {
        match self {
            ConsoleSink::Stdout => Box::new(RawStdout),
            ConsoleSink::Buffer(b) => Box::new(SharedWriter(b.clone())),
            ConsoleSink::Null => Box::new(io::sink()),
        }
    }
}

/// Writes straight to file descriptor 1, without Rust's line buffering.
struct RawStdout;

impl Write for RawStdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: writes from a valid buffer of `buf.len()` bytes to fd 1; no memory is retained.
        let n = unsafe { libc::write(1, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct SharedWriter(Arc<Mutex<Vec<u8>>>);

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What the arch gets to wire its console device: the output writer, and the slot where it puts
/// the device that takes host input.
pub struct ConsoleSetup {
    /// Guest output destination.
    pub sink: ConsoleSink,
    /// Signalled by the console device when its input buffer has room again.
    pub space: Arc<EventFd>,
    /// Set by the arch to the device that receives host input.
    pub input: Option<Arc<Mutex<dyn ConsoleInput>>>,
}

impl ConsoleSetup {
    /// A console writing to `sink`.
    pub fn new(sink: ConsoleSink) -> io::Result<Self> {
        Ok(ConsoleSetup {
            sink,
            space: Arc::new(EventFd::new(EFD_NONBLOCK)?),
            input: None,
        })
    }
}
