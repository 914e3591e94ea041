//! The VMM's own thread: an event-manager loop that feeds host input to the guest console and
//! wakes when the guest ends.

use crate::console::ConsoleInput;
use crate::exit::ExitNotifier;
use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};
use std::os::unix::io::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use vmm_sys_util::eventfd::EventFd;

/// Errors of the event loop.
#[derive(Debug, thiserror::Error)]
pub enum EventLoopError {
    /// epoll failed.
    #[error("event loop failed")]
    Epoll(#[source] event_manager::Error),
}

/// A subscriber the loop can own.
pub type Subscriber = Box<dyn MutEventSubscriber + Send>;

/// The loop.
pub struct EventLoop {
    em: EventManager<Subscriber>,
}

impl EventLoop {
    /// An empty loop.
    pub fn new() -> Result<Self, EventLoopError> {
        Ok(EventLoop {
            em: EventManager::new().map_err(EventLoopError::Epoll)?,
        })
    }

    /// Adds a subscriber (the console input, later the control socket).
    pub fn add(&mut self, s: Subscriber) {
        self.em.add_subscriber(s);
    }

    /// Dispatches the events of one wake-up, waiting `timeout_ms` at most (-1: no limit).
    pub fn run_once(&mut self, timeout_ms: i32) -> Result<(), EventLoopError> {
        self.em
            .run_with_timeout(timeout_ms)
            .map(|_| ())
            .map_err(EventLoopError::Epoll)
    }

    /// Dispatches events until the guest ends (true), `deadline` passes or `stop()` says so
    /// (false).
    pub fn run_until(
        &mut self,
        exit: &ExitNotifier,
        deadline: Option<Instant>,
        stop: &dyn Fn() -> bool,
    ) -> Result<bool, EventLoopError> {
        loop {
            if exit.reason().is_some() {
                return Ok(true);
            }
            if stop() {
                return Ok(false);
            }
            let timeout_ms = match deadline {
                None => -1,
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Ok(false);
                    }
                    (d - now).as_millis().clamp(1, i32::MAX as u128) as i32
                }
            };
            self.em
                .run_with_timeout(timeout_ms)
                .map_err(EventLoopError::Epoll)?;
        }
    }
}

/// Wakes the loop when the guest ends (the notifier's eventfd).
pub struct ExitWatch {
    exit: ExitNotifier,
}

impl ExitWatch {
    /// Watches `exit`.
    pub fn new(exit: ExitNotifier) -> Self {
        ExitWatch { exit }
    }
}

impl MutEventSubscriber for ExitWatch {
    fn init(&mut self, ops: &mut EventOps) {
        // Without this the loop still ends at its next wake-up; nothing else to do on failure.
        let _ = ops.add(Events::new(self.exit.event(), EventSet::IN));
    }
    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        let _ = self.exit.event().read();
    }
}

/// Wakes the loop when another thread queues a control request (the link's bell).
pub struct BellWatch {
    bell: Arc<EventFd>,
}

impl BellWatch {
    /// Watches `bell`.
    pub fn new(bell: Arc<EventFd>) -> Self {
        BellWatch { bell }
    }
}

impl MutEventSubscriber for BellWatch {
    fn init(&mut self, ops: &mut EventOps) {
        let _ = ops.add(Events::new(&*self.bell, EventSet::IN));
    }
    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        let _ = self.bell.read();
    }
}

const CHUNK: usize = 64;

/// Moves bytes from a host fd (stdin) into the console device, respecting its buffer: when the
/// device is full the fd is no longer polled until the device signals space.
pub struct ConsoleIn {
    input: Arc<Mutex<dyn ConsoleInput>>,
    space: Arc<EventFd>,
    fd: RawFd,
    pending: Vec<u8>,
    fd_open: bool,
    fd_polled: bool,
}

impl ConsoleIn {
    /// Feeds `fd` into `input`; `space` is the device's space event.
    pub fn new(input: Arc<Mutex<dyn ConsoleInput>>, space: Arc<EventFd>, fd: RawFd) -> Self {
        ConsoleIn {
            input,
            space,
            fd,
            pending: Vec::new(),
            fd_open: true,
            fd_polled: false,
        }
    }

    fn flush(&mut self, ops: &mut EventOps) {
        if !self.pending.is_empty() {
            let n = self
                .input
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push_input(&self.pending);
            self.pending.drain(..n);
        }
        let want_poll = self.fd_open && self.pending.is_empty();
        if want_poll && !self.fd_polled {
            // EPERM: the fd cannot be polled (a regular file, /dev/null): input is simply off.
            match ops.add(Events::new_raw(self.fd, EventSet::IN)) {
                Ok(()) => self.fd_polled = true,
                Err(_) => self.fd_open = false,
            }
        } else if !want_poll && self.fd_polled {
            let _ = ops.remove(Events::new_raw(self.fd, EventSet::IN));
            self.fd_polled = false;
        }
    }

    fn read_fd(&mut self) {
        let mut buf = [0u8; CHUNK];
        // SAFETY: reads at most `buf.len()` bytes into a live stack buffer.
        let n = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) };
        match n {
            n if n > 0 => self.pending.extend_from_slice(&buf[..n as usize]),
            0 => self.fd_open = false,
            _ => {
                let e = std::io::Error::last_os_error();
                if !matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EINTR)) {
                    self.fd_open = false;
                }
            }
        }
    }
}

impl MutEventSubscriber for ConsoleIn {
    fn init(&mut self, ops: &mut EventOps) {
        let _ = ops.add(Events::new(&*self.space, EventSet::IN));
        self.flush(ops);
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        if events.fd() == self.space.as_raw_fd() {
            let _ = self.space.read();
        } else if events.fd() == self.fd {
            if events.event_set().contains(EventSet::IN) {
                self.read_fd();
            } else {
                self.fd_open = false;
            }
        }
        self.flush(ops);
    }
}
