//! virtio-console (device type 3): one port, the guest's `hvc0`. Queue 0 receives (host to
//! guest), queue 1 transmits (guest to host). No features: no multiport, no size, no emergency
//! write.
//!
//! With `tetra run --console virtio` it is the VM's console: tetra's stdin feeds it (through
//! [`ConsoleInput`], from the event loop) and its output goes where the serial port's goes. Host
//! input waits in a bounded buffer ([`INPUT_BUFFER`]) until the guest offers receive buffers; when
//! the buffer is full the event loop stops reading stdin until the device drains it (the
//! console's space event). Guest output is written as it comes (through tetra's queued stdout, so
//! a slow reader never stalls the device worker).
//!
//! State (version 1): the host input not yet given to the guest.

use super::chain::{serve, serve_while, Chain, Served, Unanswerable};
use super::device::{Activation, Handler, VirtioDevice, VirtioError};
use super::ids;
use super::interrupt::VirtioInterrupt;
use crate::console::{ConsoleInput, ConsoleOut};
use crate::memory::GuestMemoryMmap;
use crate::snapshot::{check_version, StateError};
use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use virtio_queue::Queue;
use vm_memory::GuestMemoryAtomic;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// Host input held for the guest at most.
pub const INPUT_BUFFER: usize = 4096;
/// The most bytes one transmit chain gives, per read from guest memory.
const CHUNK: usize = 4096;

/// Host input on its way to the guest, shared by the event loop (which pushes) and the device's
/// handler (which drains).
struct Input {
    buf: Mutex<VecDeque<u8>>,
    /// Tells the handler that input arrived.
    ready: EventFd,
    /// Tells the event loop that the buffer has room again.
    space: Arc<EventFd>,
}

/// The console device.
pub struct Console {
    input: Arc<Input>,
    out: Arc<Mutex<ConsoleOut>>,
}

/// The device's input side, as the event loop sees it.
pub struct ConsoleInputHandle(Arc<Input>);

impl ConsoleInput for ConsoleInputHandle {
    fn push_input(&mut self, bytes: &[u8]) -> usize {
        let mut b = self.0.buf.lock().unwrap_or_else(|e| e.into_inner());
        let n = INPUT_BUFFER.saturating_sub(b.len()).min(bytes.len());
        b.extend(&bytes[..n]);
        drop(b);
        if n > 0 {
            // The handler drains the eventfd; a failed write means it is already signalled.
            let _ = self.0.ready.write(1);
        }
        n
    }
}

impl Console {
    /// A console writing the guest's output to `out`; `space` is signalled when host input may
    /// resume. Returns the device and its input side.
    pub fn new(
        out: ConsoleOut,
        space: Arc<EventFd>,
    ) -> Result<(Self, ConsoleInputHandle), VirtioError> {
        let ready = EventFd::new(EFD_NONBLOCK).map_err(|source| VirtioError::EventFd {
            what: "the console's input eventfd",
            source,
        })?;
        let input = Arc::new(Input {
            buf: Mutex::new(VecDeque::new()),
            ready,
            space,
        });
        Ok((
            Console {
                input: input.clone(),
                out: Arc::new(Mutex::new(out)),
            },
            ConsoleInputHandle(input),
        ))
    }
}

impl VirtioDevice for Console {
    fn device_type(&self) -> u32 {
        ids::CONSOLE
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[256, 256]
    }

    fn activate(&mut self, a: Activation) -> Result<Box<dyn Handler>, VirtioError> {
        let mut rx = None;
        let mut tx = None;
        for q in a.queues {
            match q.index {
                0 => rx = Some(q),
                1 => tx = Some(q),
                _ => {}
            }
        }
        let (Some(rx), Some(tx)) = (rx, tx) else {
            return Err(VirtioError::Activate(
                "the driver did not set up both the receive and the transmit queue".into(),
            ));
        };
        let ready = self
            .input
            .ready
            .try_clone()
            .map_err(|source| VirtioError::EventFd {
                what: "duplicating the console's input eventfd",
                source,
            })?;
        Ok(Box::new(ConsoleHandler {
            rx: rx.queue,
            rx_notify: rx.notify,
            tx: tx.queue,
            tx_notify: tx.notify,
            ready,
            input: self.input.clone(),
            out: self.out.clone(),
            mem: a.mem,
            irq: a.interrupt,
        }))
    }

    fn save_state(&self) -> Vec<u8> {
        self.input
            .buf
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .collect()
    }

    fn restore_state(&mut self, version: u16, data: &[u8]) -> Result<(), StateError> {
        check_version(version, 1)?;
        if data.len() > INPUT_BUFFER {
            return Err(StateError::Invalid(format!(
                "{} bytes of pending console input, more than the {INPUT_BUFFER} it holds",
                data.len()
            )));
        }
        let mut b = self.input.buf.lock().unwrap_or_else(|e| e.into_inner());
        b.clear();
        b.extend(data);
        Ok(())
    }
}

struct ConsoleHandler {
    rx: Arc<Mutex<Queue>>,
    rx_notify: EventFd,
    tx: Arc<Mutex<Queue>>,
    tx_notify: EventFd,
    ready: EventFd,
    input: Arc<Input>,
    out: Arc<Mutex<ConsoleOut>>,
    mem: GuestMemoryAtomic<GuestMemoryMmap>,
    irq: Arc<VirtioInterrupt>,
}

impl ConsoleHandler {
    /// Moves pending host input into the guest's receive buffers, as far as both go.
    fn receive(&mut self) {
        let input = self.input.clone();
        let served = serve_while(0, &self.rx, &self.mem, &self.irq, |chain, mem| {
            let mut b = input.buf.lock().unwrap_or_else(|e| e.into_inner());
            if b.is_empty() {
                return Ok(None);
            }
            let mut w = chain
                .writer(mem)
                .map_err(|_| Unanswerable("a receive buffer the device cannot write"))?;
            let n = w.available_bytes().min(b.len());
            let bytes: Vec<u8> = b.drain(..n).collect();
            w.write_all(&bytes)
                .map_err(|_| Unanswerable("a receive buffer the device cannot write"))?;
            Ok(Some(n as u32))
        });
        // Chains left over (a queue's worth served) are served on the loop's next turn.
        if let Ok(Served::More) = served {
            let _ = self.rx_notify.write(1);
        }
        if self
            .input
            .buf
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
            < INPUT_BUFFER
        {
            let _ = self.input.space.write(1);
        }
    }

    /// Writes what the guest transmitted to the console's output.
    fn transmit(&mut self) {
        let out = self.out.clone();
        let served = serve(1, &self.tx, &self.mem, &self.irq, |chain: Chain, mem| {
            let mut r = chain
                .reader(mem)
                .map_err(|_| Unanswerable("a transmit buffer the device cannot read"))?;
            let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
            let mut chunk = [0u8; CHUNK];
            loop {
                let n = r.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break;
                }
                // Lost output, as on a line nobody listens to: the guest goes on.
                let _ = out.write_all(&chunk[..n]);
            }
            Ok(0)
        });
        if let Ok(Served::More) = served {
            let _ = self.tx_notify.write(1);
        }
    }
}

impl MutEventSubscriber for ConsoleHandler {
    fn init(&mut self, ops: &mut EventOps) {
        for fd in [
            self.rx_notify.as_raw_fd(),
            self.tx_notify.as_raw_fd(),
            self.ready.as_raw_fd(),
        ] {
            if let Err(e) = ops.add(Events::new_raw(fd, EventSet::IN)) {
                self.irq.needs_reset(&format!("watching its queues: {e:?}"));
            }
        }
    }

    fn process(&mut self, events: Events, _: &mut EventOps) {
        let fd = events.fd();
        if fd == self.tx_notify.as_raw_fd() {
            let _ = self.tx_notify.read();
            self.transmit();
        } else {
            if fd == self.rx_notify.as_raw_fd() {
                let _ = self.rx_notify.read();
            } else {
                let _ = self.ready.read();
            }
            self.receive();
        }
    }
}
