//! The guest console seen from the host: where guest output goes, and where host input enters.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};
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
/// and written unbuffered as it comes, each device's lines whole: see [`LINE_HOLD`]; written at
/// once where that cannot block), or a shared buffer that tests read back.
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
                static NEXT: AtomicU64 = AtomicU64::new(0);
                Box::new(QueuedStdout(NEXT.fetch_add(1, Ordering::Relaxed)))
            }
            ConsoleSink::Buffer(b) => Box::new(SharedWriter(b.clone())),
            ConsoleSink::Null => Box::new(io::sink()),
        }
    }
}

/// The most guest output waiting for stdout; beyond it, output is dropped (and counted).
pub const STDOUT_QUEUE: usize = 256 << 10;

/// How long one device's unfinished line holds back another's output (a prompt waiting for
/// input, say): after it, the other's output goes out, mid-line.
pub const LINE_HOLD: Duration = Duration::from_millis(50);

/// Guest output on its way to stdout, from every console device of the process (a serial port
/// and a virtio console, say), with each device's lines kept whole.
///
/// While one device's line is unfinished (its last byte out was not a newline), the others'
/// output waits, in arrival order, until that line ends, or for at most [`LINE_HOLD`]. Without
/// it, a line written to the virtio console landed inside a line the serial port was writing a
/// byte at a time (the x86 lane's `:virtio` runs read both from one stdout).
#[derive(Default)]
struct Lines {
    /// What goes to stdout next, in order.
    out: VecDeque<u8>,
    /// The writer whose line is unfinished in `out`, and since when.
    open: Option<(u64, Instant)>,
    /// Other writers' output held back meanwhile: one entry per writer, in the order of their
    /// first held byte.
    held: VecDeque<(u64, Vec<u8>)>,
    /// Bytes in `held`.
    held_len: usize,
}

impl Lines {
    /// Bytes queued, held back ones included.
    fn len(&self) -> usize {
        self.out.len() + self.held_len
    }

    /// Whether nothing is queued.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes ready for stdout.
    fn ready(&self) -> &VecDeque<u8> {
        &self.out
    }

    /// Drops the first `n` ready bytes (written).
    fn written(&mut self, n: usize) {
        let n = n.min(self.out.len());
        self.out.drain(..n);
    }

    /// Queues writer `id`'s `bytes` at `now`: out at once, unless another writer's line is
    /// unfinished (and has been for less than [`LINE_HOLD`]).
    fn push(&mut self, id: u64, bytes: &[u8], now: Instant) {
        if bytes.is_empty() {
            return;
        }
        match self.open {
            Some((other, since)) if other != id && now.duration_since(since) < LINE_HOLD => {
                // One entry per writer, placed by its first byte held: its later bytes join it.
                match self.held.iter_mut().find(|(w, _)| *w == id) {
                    Some((_, b)) => b.extend_from_slice(bytes),
                    None => self.held.push_back((id, bytes.to_vec())),
                }
                self.held_len += bytes.len();
            }
            Some((other, _)) if other != id => {
                // Held long enough: what waited goes first, then this.
                self.release_all(now);
                self.append(id, bytes, now);
            }
            _ => {
                self.append(id, bytes, now);
                self.release(now);
            }
        }
    }

    /// Lets held output go if the unfinished line has held it for [`LINE_HOLD`] at `now`; returns
    /// how long until it would, while something is held.
    fn expire(&mut self, now: Instant) -> Option<Duration> {
        if self.held.is_empty() {
            return None;
        }
        match self.open {
            Some((_, since)) if now.duration_since(since) < LINE_HOLD => {
                Some(LINE_HOLD - now.duration_since(since))
            }
            _ => {
                self.release_all(now);
                None
            }
        }
    }

    /// Lets all held output go (at exit: nothing is kept back).
    fn release_all(&mut self, now: Instant) {
        self.open = None;
        while let Some((id, b)) = self.held.pop_front() {
            self.held_len -= b.len();
            self.append(id, &b, now);
        }
    }

    fn append(&mut self, id: u64, bytes: &[u8], now: Instant) {
        self.out.extend(bytes);
        // Open from its last newline on, or, when it has none, from where this writer's open line
        // began.
        self.open = match bytes.iter().rposition(|&b| b == b'\n') {
            Some(i) if i + 1 == bytes.len() => None,
            Some(_) => Some((id, now)),
            None => match self.open {
                Some((w, since)) if w == id => Some((w, since)),
                _ => Some((id, now)),
            },
        };
    }

    /// Held output goes, writer by writer, while no line is unfinished.
    fn release(&mut self, now: Instant) {
        while self.open.is_none() {
            let Some((id, b)) = self.held.pop_front() else {
                break;
            };
            self.held_len -= b.len();
            self.append(id, &b, now);
        }
    }
}

/// Guest output on its way to stdout: the vCPU only appends here (never blocking on a slow
/// reader of tetra's stdout: a full pipe, a stopped terminal); a thread of its own writes it to
/// file descriptor 1, unbuffered, as it arrives. While the queue is empty, a write that cannot
/// block goes out from the writing thread at once ([`write_nowait`]).
struct StdoutQueue {
    state: Mutex<Lines>,
    cv: Condvar,
    dropped: AtomicU64,
}

fn stdout_queue() -> &'static StdoutQueue {
    static Q: OnceLock<StdoutQueue> = OnceLock::new();
    Q.get_or_init(|| StdoutQueue {
        state: Mutex::new(Lines::default()),
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
            while s.ready().is_empty() {
                s = match s.expire(Instant::now()) {
                    // Held output, behind a line that may still end: wait for it at most so long.
                    Some(left) => {
                        q.cv.wait_timeout(s, left)
                            .unwrap_or_else(|e| e.into_inner())
                            .0
                    }
                    None if s.ready().is_empty() => q.cv.wait(s).unwrap_or_else(|e| e.into_inner()),
                    None => s,
                };
            }
            let n = s.ready().len().min(64 << 10);
            chunk.clear();
            chunk.extend(s.ready().iter().take(n));
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
        s.written(chunk.len());
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
    let mut s = q.state.lock().unwrap_or_else(|e| e.into_inner());
    s.release_all(Instant::now());
    q.cv.notify_all();
    let (s, _) =
        q.cv.wait_timeout_while(s, limit, |s| !s.is_empty())
            .unwrap_or_else(|e| e.into_inner());
    s.is_empty()
}

/// Whether [`write_nowait`] may try: cleared for good once stdout refuses a write that cannot
/// block (`EOPNOTSUPP`: a terminal, a regular file; a kernel without `RWF_NOWAIT` for pipes) or
/// fails otherwise (a closed pipe), so that output then always goes through the queue.
static NOWAIT: AtomicBool = AtomicBool::new(true);

/// Writes `bytes` to fd 1 if that cannot block (`pwritev2` with `RWF_NOWAIT`: a pipe with
/// room, the usual stdout of a supervised tetra): how many went, or `None` when none did. Saves
/// the console-out thread's wake-up, a cross-CPU one, on the way of each line a vCPU writes
/// while nothing is queued, the guest's first among them (issue 19).
fn write_nowait(bytes: &[u8]) -> Option<usize> {
    if !NOWAIT.load(Ordering::Relaxed) {
        return None;
    }
    let iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // SAFETY: `iov` describes `bytes`, valid for reads for the call; the kernel only reads it.
    let n = unsafe { libc::pwritev2(1, &iov, 1, -1, libc::RWF_NOWAIT) };
    if n > 0 {
        return Some(n as usize);
    }
    let e = io::Error::last_os_error();
    if n < 0
        && !matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
        )
    {
        NOWAIT.store(false, Ordering::Relaxed);
    }
    None
}

/// The writer a console device gets for [`ConsoleSink::Stdout`]: its number among them.
struct QueuedStdout(u64);

impl Write for QueuedStdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let q = stdout_queue();
        let mut s = q.state.lock().unwrap_or_else(|e| e.into_inner());
        let room = STDOUT_QUEUE.saturating_sub(s.len());
        let take = room.min(buf.len());
        let idle = s.ready().is_empty();
        s.push(self.0, &buf[..take], Instant::now());
        if take < buf.len() {
            q.dropped
                .fetch_add((buf.len() - take) as u64, Ordering::Relaxed);
        }
        // With nothing ahead of them (so nothing being written either: the console-out thread
        // drops what it wrote from the queue only once written), these bytes go out from here
        // when stdout takes them without blocking, and nothing wakes the console-out thread.
        if idle && take > 0 && s.ready().len() == take {
            if let Some(n) = write_nowait(&buf[..take]) {
                s.written(n);
            }
        }
        if !s.is_empty() {
            q.cv.notify_all();
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn out(l: &Lines) -> String {
        String::from_utf8(l.ready().iter().copied().collect()).unwrap()
    }

    #[test]
    fn a_line_from_one_device_is_not_cut_by_another() {
        let t = Instant::now();
        let mut l = Lines::default();
        // The serial port writes a byte at a time; the virtio console a line at once.
        for b in b"clock set to 2" {
            l.push(0, &[*b], t);
        }
        l.push(1, b"hello-from-hvc0", t);
        l.push(1, b"\n", t);
        assert_eq!(out(&l), "clock set to 2");
        assert_eq!(l.len(), "clock set to 2hello-from-hvc0\n".len());
        for b in b"026\n" {
            l.push(0, &[*b], t);
        }
        assert_eq!(out(&l), "clock set to 2026\nhello-from-hvc0\n");
        assert!(l.expire(t).is_none());
    }

    #[test]
    fn held_output_waits_for_its_turn_in_arrival_order() {
        let t = Instant::now();
        let mut l = Lines::default();
        l.push(0, b"a0", t);
        l.push(1, b"b1", t);
        l.push(2, b"c2\n", t);
        l.push(1, b"b1 more\n", t);
        l.push(0, b" end\n", t);
        // Writer 1's held bytes go together, before writer 2's, which came after its first.
        assert_eq!(out(&l), "a0 end\nb1b1 more\nc2\n");
        assert_eq!(l.len(), out(&l).len());
    }

    #[test]
    fn an_open_line_holds_others_for_line_hold_at_most() {
        let t = Instant::now();
        let mut l = Lines::default();
        l.push(0, b"login: ", t);
        l.push(1, b"late line\n", t);
        assert_eq!(out(&l), "login: ");
        let left = l.expire(t + Duration::from_millis(10)).expect("held");
        assert_eq!(left, LINE_HOLD - Duration::from_millis(10));
        assert!(l.expire(t + LINE_HOLD).is_none());
        assert_eq!(out(&l), "login: late line\n");
        // A write after the hold expired goes straight out, after what was held.
        l.push(0, b"x", t + LINE_HOLD);
        l.push(1, b"y", t + 2 * LINE_HOLD);
        assert_eq!(out(&l), "login: late line\nxy");
        l.written(7);
        assert_eq!(out(&l), "late line\nxy");
    }

    #[test]
    fn release_all_lets_everything_out() {
        let t = Instant::now();
        let mut l = Lines::default();
        l.push(0, b"partial", t);
        l.push(1, b"held\n", t);
        l.release_all(t);
        assert_eq!(out(&l), "partialheld\n");
        assert_eq!(l.len(), 12);
    }
}
