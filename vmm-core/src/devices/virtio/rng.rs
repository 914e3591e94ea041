//! virtio-rng (entropy source, device type 4): one queue whose writable buffers the device fills
//! from the host's `getrandom(2)`. The guest sees it as `/dev/hwrng`.

use super::chain::{serve, Chain, Served, Unanswerable};
use super::device::{Activation, Handler, VirtioDevice, VirtioError};
use super::ids;
use super::interrupt::VirtioInterrupt;
use crate::memory::GuestMemoryMmap;
use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use std::io::Write;
use std::sync::{Arc, Mutex};
use virtio_queue::Queue;
use vm_memory::GuestMemoryAtomic;
use vmm_sys_util::eventfd::EventFd;

/// The most bytes one request gets: a guest buffer's length does not size a host allocation.
pub const MAX_REQUEST: usize = 64 << 10;

/// The entropy device.
#[derive(Default)]
pub struct Rng;

impl VirtioDevice for Rng {
    fn device_type(&self) -> u32 {
        ids::RNG
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[256]
    }

    fn activate(&mut self, a: Activation) -> Result<Box<dyn Handler>, VirtioError> {
        let q =
            a.queues.into_iter().next().ok_or_else(|| {
                VirtioError::Activate("the driver set up no request queue".into())
            })?;
        Ok(Box::new(RngHandler {
            queue: q.queue,
            notify: q.notify,
            mem: a.mem,
            irq: a.interrupt,
        }))
    }
}

struct RngHandler {
    queue: Arc<Mutex<Queue>>,
    notify: EventFd,
    mem: GuestMemoryAtomic<GuestMemoryMmap>,
    irq: Arc<VirtioInterrupt>,
}

/// Fills the chain's writable buffers (up to [`MAX_REQUEST`] bytes); returns the bytes written.
fn fill(chain: Chain, mem: &GuestMemoryMmap) -> Result<u32, Unanswerable> {
    let Ok(mut w) = chain.writer(mem) else {
        return Ok(0);
    };
    let n = w.available_bytes().min(MAX_REQUEST);
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        // SAFETY: the kernel writes at most `n - got` bytes into `buf[got..]`, which is that long.
        let r = unsafe { libc::getrandom(buf[got..].as_mut_ptr().cast(), n - got, 0) };
        if r <= 0 {
            break;
        }
        got += r as usize;
    }
    Ok(match w.write_all(&buf[..got]) {
        Ok(()) => got as u32,
        Err(_) => w.bytes_written() as u32,
    })
}

impl MutEventSubscriber for RngHandler {
    fn init(&mut self, ops: &mut EventOps) {
        if let Err(e) = ops.add(Events::new(&self.notify, EventSet::IN)) {
            self.irq.needs_reset(&format!("watching its queue: {e:?}"));
        }
    }

    fn process(&mut self, _: Events, _: &mut EventOps) {
        let _ = self.notify.read();
        // A broken chain marks the device; nothing else to do here. Chains left over are served
        // on the loop's next turn.
        if let Ok(Served::More) = serve(0, &self.queue, &self.mem, &self.irq, fill) {
            let _ = self.notify.write(1);
        }
    }
}
