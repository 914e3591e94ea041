//! The kernel's vhost-vsock as the vsock device's host side (`--vsock cid=N` without `uds=`):
//! the guest's sockets meet the host's `AF_VSOCK` sockets, and the packets never pass through
//! tetra. Host processes connect to `CID:port` and listen on ports as on any vsock host.
//!
//! The kernel serves the receive and transmit queues (0 and 1) itself (the requests are
//! [`super::super::vhost_kern`]'s): it waits on the queues' notification eventfds (KVM's ioeventfds) and signals
//! one call eventfd per queue, which the device worker turns into the queue's interrupt (an
//! MSI-X vector, or the virtio-mmio interrupt status and line, which the kernel cannot set).
//! tetra serves the event queue (2), for the transport reset a restored device sends.
//!
//! `/dev/vhost-vsock` is opened, owned and given the CID when the VM is built (on the main
//! thread, before its filter); a driver's `DRIVER_OK` sets the features, memory table and rings
//! (`VHOST_*` ioctls, which the vCPU and main threads' filters allow) and starts it. It stops and
//! starts with the VM's pause and for a whole migration ([`super::super::offload`]); stopping
//! hands its ring positions back to the queues, so snapshots carry them as any device's.
//! Connections are not carried across a snapshot or migration, as with the Unix socket side.
//! A CID already in use on the host (another VM, or a migration's source on the same host) is
//! refused when the VM is built.

use super::super::device::{Activation, ActiveQueue, Handler, VirtioError};
use super::super::interrupt::VirtioInterrupt;
use super::super::offload::{OffloadGate, Offloaded};
use super::super::vhost_kern::{MemoryRegion, VhostKern, VhostKernError};
use crate::memory::GuestMemoryMmap;
use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use virtio_queue::{Queue, QueueT};
use vm_memory::bitmap::AtomicBitmap;
use vm_memory::{Address, Bytes, GuestAddress, GuestAddressSpace, GuestMemoryAtomic};
use vm_memory::{GuestMemoryBackend, GuestMemoryRegion, MmapRegion};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// The kernel's device node.
pub const DEVICE: &str = "/dev/vhost-vsock";
/// `VIRTIO_F_VERSION_1`, the one feature tetra asks of the kernel.
const F_VERSION_1: u64 = 1 << 32;

/// Errors of the kernel's vsock backend.
#[derive(Debug, thiserror::Error)]
pub enum VhostError {
    /// The device node cannot be opened (no `vhost_vsock` module, or no permission).
    #[error("vsock CID {cid}: {DEVICE} (load the vhost_vsock module, or give uds=PATH)")]
    Open {
        /// The guest's CID.
        cid: u64,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Another VM on this host has the CID.
    #[error("vsock CID {cid} is in use on this host (by another VM, or a migration's source)")]
    CidInUse {
        /// The guest's CID.
        cid: u64,
    },
    /// A setup step failed.
    #[error("vsock CID {cid}: {step}")]
    Setup {
        /// The guest's CID.
        cid: u64,
        /// What was being done.
        step: &'static str,
        /// Why.
        #[source]
        source: VhostKernError,
    },
    /// The kernel's vsock lacks `VIRTIO_F_VERSION_1`.
    #[error("vsock CID {cid}: the kernel's vhost-vsock does not offer VIRTIO_F_VERSION_1")]
    NoVersion1 {
        /// The guest's CID.
        cid: u64,
    },
    /// A ring the driver placed where the kernel cannot be given it.
    #[error(
        "vsock CID {cid}: queue {queue}'s {part} at {gpa:#x} ({len} bytes) is not in guest RAM"
    )]
    Ring {
        /// The guest's CID.
        cid: u64,
        /// The queue.
        queue: u32,
        /// Which part of the ring.
        part: &'static str,
        /// Its guest-physical address.
        gpa: u64,
        /// Its length.
        len: usize,
    },
    /// An eventfd could not be made.
    #[error("vsock CID {cid}: its call eventfds")]
    EventFd {
        /// The guest's CID.
        cid: u64,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn setup(cid: u64, step: &'static str) -> impl FnOnce(VhostKernError) -> VhostError {
    move |source| VhostError::Setup { cid, step, source }
}

/// The memory table the kernel gets: every region of `mem`, by guest and host address.
fn regions(mem: &GuestMemoryMmap) -> Vec<MemoryRegion> {
    mem.iter()
        .map(|r| {
            let m: &MmapRegion<AtomicBitmap> = r;
            MemoryRegion {
                guest_phys_addr: r.start_addr().raw_value(),
                memory_size: r.len(),
                userspace_addr: m.as_ptr() as u64,
                flags_padding: 0,
            }
        })
        .collect()
}

/// Where this process maps the `len` guest bytes at `gpa`, if they lie in one region of RAM (the
/// kernel reads a ring part as one range of this process's memory).
fn host_addr(mem: &GuestMemoryMmap, gpa: u64, len: usize) -> Option<u64> {
    let (region, at) = mem.to_region_addr(GuestAddress(gpa))?;
    let end = at.raw_value().checked_add(len as u64)?;
    if end > region.len() {
        return None;
    }
    let m: &MmapRegion<AtomicBitmap> = region;
    Some(m.as_ptr() as u64 + at.raw_value())
}

/// The kernel's addresses of queue `index`'s descriptor table, used ring and available ring.
fn ring_addrs(
    cid: u64,
    mem: &GuestMemoryMmap,
    index: u32,
    queue: &Queue,
) -> Result<(u64, u64, u64), VhostError> {
    let n = usize::from(queue.size());
    let part = |part: &'static str, gpa: u64, len: usize| {
        host_addr(mem, gpa, len).ok_or(VhostError::Ring {
            cid,
            queue: index,
            part,
            gpa,
            len,
        })
    };
    Ok((
        part("descriptor table", queue.desc_table(), 16 * n)?,
        part("used ring", queue.used_ring(), 6 + 8 * n)?,
        part("available ring", queue.avail_ring(), 6 + 2 * n)?,
    ))
}

/// The device's kernel side, from the VM's build on.
pub struct KernelHost {
    cid: u64,
    /// Opened and given the CID by [`KernelHost::connect`].
    kern: Option<Arc<VhostKern>>,
    gate: Option<Arc<OffloadGate>>,
    /// The receive and transmit queues' call eventfds.
    calls: Option<[EventFd; 2]>,
    /// The rings the driver started, until it resets the device.
    runner: Option<Arc<Runner>>,
}

impl KernelHost {
    /// Checks that the device node can be opened (the clear error comes before anything else is
    /// built); the kernel side itself is made by [`KernelHost::connect`].
    pub fn probe(cid: u64) -> Result<Self, VhostError> {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(DEVICE)
            .map_err(|source| VhostError::Open { cid, source })?;
        Ok(KernelHost {
            cid,
            kern: None,
            gate: None,
            calls: None,
            runner: None,
        })
    }

    /// Opens the kernel's side, takes ownership of it (this process's memory is what its
    /// memory table will point into) and gives it the CID; `gate` says when it may run.
    pub fn connect(&mut self, gate: &Arc<OffloadGate>) -> Result<(), VhostError> {
        let cid = self.cid;
        let kern = VhostKern::open(std::path::Path::new(DEVICE)).map_err(|e| match e {
            VhostKernError::Open { source, .. } => VhostError::Open { cid, source },
            e => setup(cid, "opening it")(e),
        })?;
        kern.set_owner().map_err(setup(cid, "taking it"))?;
        kern.vsock_set_guest_cid(cid).map_err(|e| {
            if e.raw_os_error() == Some(libc::EADDRINUSE) {
                VhostError::CidInUse { cid }
            } else {
                setup(cid, "giving it the CID")(e)
            }
        })?;
        let features = kern
            .get_features()
            .map_err(setup(cid, "reading its features"))?;
        if features & F_VERSION_1 == 0 {
            return Err(VhostError::NoVersion1 { cid });
        }
        let eventfd =
            || EventFd::new(EFD_NONBLOCK).map_err(|source| VhostError::EventFd { cid, source });
        self.calls = Some([eventfd()?, eventfd()?]);
        self.kern = Some(Arc::new(kern));
        self.gate = Some(gate.clone());
        Ok(())
    }

    /// Sets up the kernel's rings for `rx` and `tx` and starts it (if the VM may run; `a` gives
    /// the memory, interrupt and features, its queues are the three here); returns the handler that turns its calls into interrupts and serves the event queue `ev`.
    pub fn activate(
        &mut self,
        a: Activation,
        rx: ActiveQueue,
        tx: ActiveQueue,
        ev: ActiveQueue,
        reset_event: bool,
    ) -> Result<Box<dyn Handler>, VirtioError> {
        let cid = self.cid;
        let (Some(kern), Some(gate), Some(calls)) = (&self.kern, &self.gate, &self.calls) else {
            return Err(VirtioError::Activate(format!(
                "vsock CID {cid}: the kernel's side was never connected"
            )));
        };
        let fail = |e: VhostError| VirtioError::Activate(crate::error_chain::chain(&e));
        kern.set_features(a.features & F_VERSION_1)
            .map_err(|e| fail(setup(cid, "setting its features")(e)))?;
        let mem = a.mem.memory();
        kern.set_mem_table(&regions(&mem))
            .map_err(|e| fail(setup(cid, "giving it guest memory")(e)))?;
        for (i, q) in [&rx, &tx].into_iter().enumerate() {
            let index = i as u32;
            let queue = q.queue.lock().unwrap_or_else(|e| e.into_inner());
            let (size, base) = (queue.size(), queue.next_avail());
            let (desc, used, avail) = ring_addrs(cid, &mem, index, &queue).map_err(fail)?;
            drop(queue);
            kern.set_vring_num(index, size)
                .and_then(|()| kern.set_vring_addr(index, desc, used, avail))
                .and_then(|()| kern.set_vring_base(index, base))
                .and_then(|()| kern.set_vring_call(index, calls[i].as_raw_fd()))
                .and_then(|()| kern.set_vring_kick(index, q.notify.as_raw_fd()))
                .map_err(|e| fail(setup(cid, "setting up its rings")(e)))?;
        }
        drop(mem);
        let dup = |fd: &EventFd| {
            fd.try_clone().map_err(|source| VirtioError::EventFd {
                what: "duplicating a vhost call eventfd",
                source,
            })
        };
        let handler = KernelHandler {
            calls: [dup(&calls[0])?, dup(&calls[1])?],
            ev: ev.queue,
            ev_notify: ev.notify,
            reset_event,
            mem: a.mem.clone(),
            irq: a.interrupt.clone(),
        };
        let runner = Arc::new(Runner {
            cid,
            kern: kern.clone(),
            queues: [rx.queue, tx.queue],
            kicks: [rx.notify, tx.notify],
            mem: a.mem,
            irq: a.interrupt,
            running: Mutex::new(false),
            retired: AtomicBool::new(false),
        });
        let member: Arc<dyn Offloaded> = runner.clone();
        if gate.join(&member) {
            runner.set_running(true);
        }
        self.runner = Some(runner);
        Ok(Box::new(handler))
    }

    /// The driver reset the device: the kernel stops and forgets these rings.
    pub fn reset(&mut self) {
        if let Some(r) = self.runner.take() {
            r.retired.store(true, Ordering::SeqCst);
            r.stop();
        }
        if let Some(calls) = &self.calls {
            for c in calls {
                let _ = c.read();
            }
        }
    }
}

/// The kernel's rings while the driver runs the device: what stopping and starting needs.
struct Runner {
    cid: u64,
    kern: Arc<VhostKern>,
    /// The receive and transmit queues, shared with the transport.
    queues: [Arc<Mutex<Queue>>; 2],
    /// Their notification eventfds (kicked again on a start).
    kicks: [EventFd; 2],
    mem: GuestMemoryAtomic<GuestMemoryMmap>,
    irq: Arc<VirtioInterrupt>,
    running: Mutex<bool>,
    /// Reset by the driver: never started again.
    retired: AtomicBool,
}

impl Runner {
    /// Stops the kernel's side and hands its ring positions to the queues.
    fn stop(&self) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if !*running {
            return;
        }
        *running = false;
        if let Err(e) = self.kern.vsock_set_running(false) {
            self.broken(setup(self.cid, "stopping it")(e));
            return;
        }
        let mem = self.mem.memory();
        for (i, q) in self.queues.iter().enumerate() {
            let mut q = q.lock().unwrap_or_else(|e| e.into_inner());
            let used_idx = q
                .used_ring()
                .checked_add(2)
                .and_then(|at| mem.read_obj::<u16>(GuestAddress(at)).ok());
            match (self.kern.get_vring_base(i as u32), used_idx) {
                (Ok(base), Some(used)) => {
                    q.set_next_avail(base);
                    q.set_next_used(u16::from_le(used));
                }
                (Err(e), _) => return self.broken(setup(self.cid, "reading where it stopped")(e)),
                (_, None) => {
                    return self.broken(VhostError::Ring {
                        cid: self.cid,
                        queue: i as u32,
                        part: "used ring index",
                        gpa: q.used_ring().wrapping_add(2),
                        len: 2,
                    })
                }
            }
        }
    }

    /// Starts the kernel's side on the current memory map and kicks its queues.
    fn start(&self) {
        if self.retired.load(Ordering::SeqCst) {
            return;
        }
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if *running {
            return;
        }
        if let Err(e) = self
            .kern
            .set_mem_table(&regions(&self.mem.memory()))
            .and_then(|_| self.kern.vsock_set_running(true))
        {
            return self.broken(setup(self.cid, "starting it")(e));
        }
        *running = true;
        for k in &self.kicks {
            let _ = k.write(1);
        }
    }

    fn broken(&self, e: VhostError) {
        self.irq.needs_reset(&crate::error_chain::chain(&e));
    }
}

impl Offloaded for Runner {
    fn set_running(&self, running: bool) {
        if running {
            self.start()
        } else {
            self.stop()
        }
    }
}

/// On the device worker: the kernel's calls become interrupts; the event queue is served here.
struct KernelHandler {
    calls: [EventFd; 2],
    ev: Arc<Mutex<Queue>>,
    ev_notify: EventFd,
    reset_event: bool,
    mem: GuestMemoryAtomic<GuestMemoryMmap>,
    irq: Arc<VirtioInterrupt>,
}

impl MutEventSubscriber for KernelHandler {
    fn init(&mut self, ops: &mut EventOps) {
        let fds = [
            self.calls[0].as_raw_fd(),
            self.calls[1].as_raw_fd(),
            self.ev_notify.as_raw_fd(),
        ];
        for fd in fds {
            if let Err(e) = ops.add(Events::new_raw(fd, EventSet::IN)) {
                self.irq.needs_reset(&format!("watching its queues: {e:?}"));
            }
        }
        super::send_reset_event(&mut self.reset_event, &self.ev, &self.mem, &self.irq);
    }

    fn process(&mut self, events: Events, _ops: &mut EventOps) {
        let fd = events.fd();
        for (i, c) in self.calls.iter().enumerate() {
            if fd == c.as_raw_fd() {
                let _ = c.read();
                self.irq.used(i as u16);
                return;
            }
        }
        if fd == self.ev_notify.as_raw_fd() {
            let _ = self.ev_notify.read();
            super::send_reset_event(&mut self.reset_event, &self.ev, &self.mem, &self.irq);
        }
    }
}
