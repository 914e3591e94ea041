//! The guest console seen from the host: where guest output goes, and where host input enters.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// Where a UART or hypervisor console writes guest output.
pub type ConsoleOut = Box<dyn Write + Send>;

/// A console device that accepts host input (a 16550's receive FIFO, a PAPR vterm buffer).
pub trait ConsoleInput: Send {
    /// Queues as much of `bytes` as fits; returns how many were taken. When it took fewer than all,
    /// the device signals the console's space event once it has room again.
    fn push_input(&mut self, bytes: &[u8]) -> usize;
}

/// Host output for the console: stdout (queued, so that a slow reader never stalls the guest,
/// and written unbuffered as it comes), or a shared buffer that tests read back.
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
            ConsoleSink::Stdout => {
                start_stdout_writer(None);
                Box::new(QueuedStdout)
            }
            ConsoleSink::Buffer(b) => Box::new(SharedWriter(b.clone())),
            ConsoleSink::Null => Box::new(io::sink()),
        }
    }
}

/// The most guest output waiting for stdout; beyond it, output is dropped (and counted).
pub const STDOUT_QUEUE: usize = 256 << 10;

/// Guest output on its way to stdout: the vCPU only appends here (never blocking on a slow
/// reader of tetra's stdout: a full pipe, a stopped terminal); a thread of its own writes it to
/// file descriptor 1, unbuffered, as it arrives.
struct StdoutQueue {
    state: Mutex<VecDeque<u8>>,
    cv: Condvar,
    dropped: AtomicU64,
}

fn stdout_queue() -> &'static StdoutQueue {
    static Q: OnceLock<StdoutQueue> = OnceLock::new();
    Q.get_or_init(|| StdoutQueue {
        state: Mutex::new(VecDeque::new()),
        cv: Condvar::new(),
        dropped: AtomicU64::new(0),
    })
}

/// Starts the console-out thread, once per process, under `sandbox`'s console-out filter if any
/// (the first call decides). A VM whose console goes to stdout starts it while it is built, from
/// the thread that builds it: never later, from a vCPU thread under its own filter.
pub fn start_stdout_writer(sandbox: Option<crate::sandbox::Sandbox>) {
    static WRITER: std::sync::Once = std::sync::Once::new();
    WRITER.call_once(|| {
        // Without the thread, output waits in the queue and is dropped once it is full: the
        // guest still never blocks.
        let _ = std::thread::Builder::new()
            .name("console-out".into())
            .spawn(move || {
                if let Some(sb) = sandbox {
                    sb.enter_or_exit(crate::sandbox::ThreadKind::ConsoleOut);
                }
                drain(stdout_queue())
            });
    });
}

/// The console-out thread: writes queued output to fd 1 as it comes.
fn drain(q: &StdoutQueue) {
    let mut chunk: Vec<u8> = Vec::with_capacity(64 << 10);
    loop {
        {
            let mut s = q.state.lock().unwrap_or_else(|e| e.into_inner());
            while s.is_empty() {
                s = q.cv.wait(s).unwrap_or_else(|e| e.into_inner());
            }
            let n = s.len().min(64 << 10);
            chunk.clear();
            chunk.extend(s.iter().take(n));
        }
        let mut done = 0;
        while done < chunk.len() {
            // SAFETY: writes from a valid buffer of `chunk.len() - done` bytes to fd 1; no memory
            // is retained.
            let n = unsafe { libc::write(1, chunk[done..].as_ptr().cast(), chunk.len() - done) };
            if n > 0 {
                done += n as usize;
            } else if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            } else {
                // stdout is gone (a closed pipe): what is left is dropped.
                q.dropped
                    .fetch_add((chunk.len() - done) as u64, Ordering::Relaxed);
                break;
            }
        }
        let mut s = q.state.lock().unwrap_or_else(|e| e.into_inner());
        let n = chunk.len().min(s.len());
        s.drain(..n);
        q.cv.notify_all();
    }
}

/// Guest output bytes dropped because stdout did not keep up (or went away).
pub fn stdout_dropped() -> u64 {
    stdout_queue().dropped.load(Ordering::Relaxed)
}

/// Waits until the guest output queued for stdout is written, at most `limit` (a reader that
/// never reads must not keep tetra from exiting). True when everything was written.
pub fn flush_stdout(limit: std::time::Duration) -> bool {
    let q = stdout_queue();
    let s = q.state.lock().unwrap_or_else(|e| e.into_inner());
    let (s, _) =
        q.cv.wait_timeout_while(s, limit, |s| !s.is_empty())
            .unwrap_or_else(|e| e.into_inner());
    s.is_empty()
}

/// The writer a console device gets for [`ConsoleSink::Stdout`].
struct QueuedStdout;

impl Write for QueuedStdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let q = stdout_queue();
        let mut s = q.state.lock().unwrap_or_else(|e| e.into_inner());
        let room = STDOUT_QUEUE.saturating_sub(s.len());
        let take = room.min(buf.len());
        s.extend(&buf[..take]);
        if take < buf.len() {
            q.dropped
                .fetch_add((buf.len() - take) as u64, Ordering::Relaxed);
        }
        q.cv.notify_all();
        // Dropped bytes count as written: the guest goes on, as with a lost line on a real UART.
        Ok(buf.len())
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
