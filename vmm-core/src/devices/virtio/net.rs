//! virtio-net (network card, device type 1) on a TAP interface: queue 0 receives (host to
//! guest), queue 1 transmits. Features: `VIRTIO_NET_F_MAC` (the address tetra gives it),
//! `VIRTIO_NET_F_STATUS` (the link is up) and, where the interface takes them
//! ([`tap::offloads_work`]), the offloads: `CSUM` and `HOST_TSO4`/`HOST_TSO6` (the guest sends
//! frames with a partial checksum or as one TCP segment of up to 64 KiB, which the host kernel
//! finishes), `GUEST_CSUM` and `GUEST_TSO4`/`GUEST_TSO6` (the guest takes them; the interface is
//! told so at activation, [`tap::set_offload`], with only what the driver accepted). No
//! mergeable buffers, one queue pair: the guest gives receive buffers that each hold a whole
//! frame with its header (Linux gives 64 KiB chains once it accepted `GUEST_TSO`), and sends
//! frames of at most [`MAX_FRAME`] bytes, or [`MAX_GSO_FRAME`] with an offload.
//!
//! - [`tap`]: the interface, opened by name (non-blocking, with a 12-byte virtio-net header).
//! - Receive: a frame the interface has is read once, then written whole into the next receive
//!   buffer with the header (`num_buffers` 1). While the guest gives no buffer the frame waits and
//!   the interface is not watched, so a guest that stops receiving costs no CPU; the kernel queues
//!   (and at its limit drops) what comes meanwhile, as for a real NIC. A frame longer than the
//!   buffer is dropped (counted), the buffer stays the guest's. The interface's header (checksum
//!   and segmentation fields) reaches the guest only when it accepted an offload; else zeroed.
//! - Transmit: each chain (header and frame, at most [`MAX_FRAME`] (or [`MAX_GSO_FRAME`]) +
//!   header bytes, else dropped and counted) is written to the interface as one frame. Its
//!   header goes on as the guest wrote it when the guest accepted `CSUM` (the host kernel checks
//!   it as it checks any TAP user's: a header it cannot honour makes the write fail, and the
//!   frame is dropped and counted), and zeroed otherwise (a header asking for an offload the
//!   guest never negotiated is not passed on). A frame the interface refuses (its queue full, the
//!   link down) is dropped and counted.
//!
//! The backend is any descriptor that keeps frames whole (a TAP interface; a `SOCK_SEQPACKET`
//! socket in the tests). Its state (version 1) is empty: a restored or migrated VM attaches to the
//! interface of the same name again (recorded in `CONF`); frames in flight are lost, as on a
//! link that went down for a moment.

pub mod tap;

#[cfg(test)]
mod tests;

use super::chain::{serve, serve_while, Chain, Served, Unanswerable};
use super::device::{Activation, Handler, VirtioDevice, VirtioError};
use super::ids;
use super::interrupt::VirtioInterrupt;
use crate::config::NetConfig;
use crate::memory::GuestMemoryMmap;
use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tap::VNET_HDR_LEN;
use virtio_bindings::virtio_net::{
    VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6,
    VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_HOST_TSO6, VIRTIO_NET_F_MAC, VIRTIO_NET_F_STATUS,
    VIRTIO_NET_S_LINK_UP,
};
use virtio_queue::Queue;
use vm_memory::GuestMemoryAtomic;
use vmm_sys_util::eventfd::EventFd;

pub use tap::TapError;

/// The longest frame either way: an Ethernet frame of a 1500-byte MTU with a VLAN tag, with room
/// to spare for an interface whose MTU was raised (jumbo frames up to 9000 bytes pass).
pub const MAX_FRAME: usize = 9018;
/// The longest frame either way once an offload is on: a 64 KiB IP packet (the most one TCP
/// segmentation job holds) behind an Ethernet header with a VLAN tag.
pub const MAX_GSO_FRAME: usize = 65_535 + 18;

/// The offload features a card offers where its interface takes them.
const OFFLOADS: u64 = (1 << VIRTIO_NET_F_CSUM)
    | (1 << VIRTIO_NET_F_GUEST_CSUM)
    | (1 << VIRTIO_NET_F_HOST_TSO4)
    | (1 << VIRTIO_NET_F_HOST_TSO6)
    | (1 << VIRTIO_NET_F_GUEST_TSO4)
    | (1 << VIRTIO_NET_F_GUEST_TSO6);
/// The queues' most entries.
pub const QUEUE_SIZE: u16 = 256;

/// What the device counted: frames and bytes each way, and the frames it dropped.
#[derive(Debug, Default)]
pub struct NetStats {
    /// Frames given to the guest.
    pub rx_frames: AtomicU64,
    /// Their bytes (without headers).
    pub rx_bytes: AtomicU64,
    /// Frames from the guest written to the interface.
    pub tx_frames: AtomicU64,
    /// Their bytes (without headers).
    pub tx_bytes: AtomicU64,
    /// Frames dropped: too long for a receive buffer or for [`MAX_FRAME`], or refused by the
    /// interface.
    pub dropped: AtomicU64,
}

/// What the driver accepted of the offloads, as the data path needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Offloads {
    /// The guest's transmit headers go on to the interface (it accepted `CSUM`).
    tx: bool,
    /// The interface's flags ([`tap::set_offload`]) for what the guest takes; 0 for none.
    rx: u32,
}

impl Offloads {
    fn of(features: u64) -> Self {
        let has = |bit: u32| features & (1 << bit) != 0;
        let mut rx = 0;
        if has(VIRTIO_NET_F_GUEST_CSUM) {
            rx |= tap::TUN_F_CSUM;
            if has(VIRTIO_NET_F_GUEST_TSO4) {
                rx |= tap::TUN_F_TSO4;
            }
            if has(VIRTIO_NET_F_GUEST_TSO6) {
                rx |= tap::TUN_F_TSO6;
            }
        }
        Offloads {
            tx: has(VIRTIO_NET_F_CSUM),
            rx,
        }
    }

    /// The longest frame either way.
    fn max_frame(self) -> usize {
        if self.tx || self.rx != 0 {
            MAX_GSO_FRAME
        } else {
            MAX_FRAME
        }
    }
}

/// A network card.
pub struct Net {
    backend: Arc<File>,
    /// Whether the backend takes the offloads (a TAP interface that passed the probe).
    offloads: bool,
    tap: String,
    config: [u8; 8],
    stats: Arc<NetStats>,
}

impl Net {
    /// Attaches to the TAP interface `config` names.
    pub fn open(config: &NetConfig) -> Result<Self, TapError> {
        let backend = tap::open(&config.tap)?;
        let offloads = tap::offloads_work(&backend);
        let mut net = Self::with_backend(backend, config);
        net.offloads = offloads;
        Ok(net)
    }

    /// A card on `backend` (a descriptor that keeps frames whole, non-blocking), with the MAC
    /// address of `config`.
    pub fn with_backend(backend: File, config: &NetConfig) -> Self {
        let mut c = [0u8; 8];
        c[..6].copy_from_slice(&config.mac);
        c[6..].copy_from_slice(&(VIRTIO_NET_S_LINK_UP as u16).to_le_bytes());
        Net {
            backend: Arc::new(backend),
            offloads: false,
            tap: config.tap.clone(),
            config: c,
            stats: Arc::new(NetStats::default()),
        }
    }

    /// The interface's descriptor (this card's queue of it), shared: the VM keeps it for a
    /// migration's hand-off of the queue ([`tap::set_queue`]).
    pub fn shared_tap(&self) -> Arc<File> {
        self.backend.clone()
    }

    /// The interface's name.
    pub fn tap(&self) -> &str {
        &self.tap
    }

    /// The device's counters.
    pub fn stats(&self) -> Arc<NetStats> {
        self.stats.clone()
    }
}

impl VirtioDevice for Net {
    fn device_type(&self) -> u32 {
        ids::NET
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE, QUEUE_SIZE]
    }

    fn features(&self) -> u64 {
        let base = (1 << VIRTIO_NET_F_MAC) | (1 << VIRTIO_NET_F_STATUS);
        if self.offloads {
            base | OFFLOADS
        } else {
            base
        }
    }

    /// `struct virtio_net_config` up to `status`: the MAC address, then the link status.
    fn read_config(&self, offset: u64, data: &mut [u8]) {
        for (i, b) in data.iter_mut().enumerate() {
            *b = offset
                .checked_add(i as u64)
                .and_then(|at| usize::try_from(at).ok())
                .and_then(|at| self.config.get(at).copied())
                .unwrap_or(0);
        }
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
        // Only what the card offered counts (a transport passes the driver's choice through).
        let mut offloads = Offloads::of(a.features & self.features());
        if self.offloads {
            if let Err(e) = tap::set_offload(&self.backend, offloads.rx) {
                // The guest then gets every frame finished by the host kernel.
                tracing::warn!(tap = %self.tap, "the interface refused the offloads the guest accepted: {e}");
                offloads.rx = 0;
                let _ = tap::set_offload(&self.backend, 0);
            }
        }
        let max = offloads.max_frame();
        Ok(Box::new(NetHandler {
            offloads,
            max,
            rx: rx.queue,
            rx_notify: rx.notify,
            tx: tx.queue,
            tx_notify: tx.notify,
            backend: self.backend.clone(),
            watching: false,
            pending: None,
            buf: vec![0; VNET_HDR_LEN + max],
            mem: a.mem,
            irq: a.interrupt,
            stats: self.stats.clone(),
        }))
    }
}

struct NetHandler {
    offloads: Offloads,
    /// The longest frame either way ([`Offloads::max_frame`]).
    max: usize,
    rx: Arc<Mutex<Queue>>,
    rx_notify: EventFd,
    tx: Arc<Mutex<Queue>>,
    tx_notify: EventFd,
    backend: Arc<File>,
    /// Whether the backend's fd is in the worker's epoll set.
    watching: bool,
    /// A frame read from the backend (header included) that waits for a receive buffer.
    pending: Option<Vec<u8>>,
    /// The transmit bounce buffer.
    buf: Vec<u8>,
    mem: GuestMemoryAtomic<GuestMemoryMmap>,
    irq: Arc<VirtioInterrupt>,
    stats: Arc<NetStats>,
}

/// Reads one frame from `backend`: `None` when it has none now (or failed: the interface went
/// away, nothing to give the guest).
fn read_frame(backend: &File, max: usize) -> Option<Vec<u8>> {
    let mut b = vec![0u8; VNET_HDR_LEN + max + 1];
    match (&*backend).read(&mut b) {
        Ok(n) if n >= VNET_HDR_LEN => {
            b.truncate(n);
            Some(b)
        }
        _ => None,
    }
}

impl NetHandler {
    /// Gives the guest what the backend has, as far as its receive buffers go; watches the
    /// backend again only when a buffer is free for the next frame.
    fn receive(&mut self, ops: &mut EventOps) {
        let backend = self.backend.clone();
        let stats = self.stats.clone();
        // Read first: with no buffer free, the frame waits here and the backend is no longer
        // watched (its fd stays readable: watching it would wake the worker for ever).
        let max = self.max;
        let pass_header = self.offloads.rx != 0;
        if self.pending.is_none() {
            self.pending = read_frame(&backend, max);
        }
        let pending = &mut self.pending;
        let served = serve_while(0, &self.rx, &self.mem, &self.irq, |chain: Chain, mem| {
            loop {
                if pending.is_none() {
                    *pending = read_frame(&backend, max);
                }
                let Some(frame) = pending.as_mut() else {
                    return Ok(None);
                };
                let len = frame.len() - VNET_HDR_LEN;
                if len > max {
                    // Longer than any buffer may need to be: dropped, the chain kept.
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                    *pending = None;
                    continue;
                }
                let mut w = chain
                    .writer(mem)
                    .map_err(|_| Unanswerable("a receive buffer the device cannot write"))?;
                if w.available_bytes() < frame.len() {
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                    *pending = None;
                    // The buffer is too small for this frame: it goes back unused (length 0).
                    return Ok(Some(0));
                }
                // virtio_net_hdr_v1: the interface's flags and segmentation fields when the guest
                // takes offloads (the interface was told which), none otherwise; num_buffers
                // (bytes 10-11) is 1.
                if !pass_header {
                    frame[..VNET_HDR_LEN].fill(0);
                }
                frame[10] = 1;
                frame[11] = 0;
                w.write_all(frame)
                    .map_err(|_| Unanswerable("a receive buffer the device cannot write"))?;
                stats.rx_frames.fetch_add(1, Ordering::Relaxed);
                stats.rx_bytes.fetch_add(len as u64, Ordering::Relaxed);
                let n = frame.len() as u32;
                *pending = None;
                return Ok(Some(n));
            }
        });
        if let Ok(Served::More) = served {
            let _ = self.rx_notify.write(1);
        }
        // A frame waiting means no buffer is free (or the device needs a reset): stop watching
        // the backend until the guest gives one (its notification). Otherwise watch for the
        // next frame.
        let stalled = self.pending.is_some() || served.is_err();
        self.watch(ops, !stalled);
    }

    fn watch(&mut self, ops: &mut EventOps, on: bool) {
        if on == self.watching {
            return;
        }
        let ev = Events::new_raw(self.backend.as_raw_fd(), EventSet::IN);
        let r = if on { ops.add(ev) } else { ops.remove(ev) };
        match r {
            Ok(()) => self.watching = on,
            Err(e) => self
                .irq
                .needs_reset(&format!("watching its interface: {e:?}")),
        }
    }

    /// Writes every frame the guest queued to the backend.
    fn transmit(&mut self) {
        let backend = self.backend.clone();
        let stats = self.stats.clone();
        let buf = &mut self.buf;
        let max = self.max;
        let pass_header = self.offloads.tx;
        let served = serve(1, &self.tx, &self.mem, &self.irq, |chain: Chain, mem| {
            let mut r = chain
                .reader(mem)
                .map_err(|_| Unanswerable("a transmit buffer the device cannot read"))?;
            let total = r.available_bytes();
            if !(VNET_HDR_LEN..=VNET_HDR_LEN + max).contains(&total) {
                stats.dropped.fetch_add(1, Ordering::Relaxed);
                return Ok(0);
            }
            r.read_exact(&mut buf[..total])
                .map_err(|_| Unanswerable("a transmit buffer the device cannot read"))?;
            if pass_header {
                // num_buffers means nothing on transmit.
                buf[10..VNET_HDR_LEN].fill(0);
            } else {
                buf[..VNET_HDR_LEN].fill(0);
            }
            match (&*backend).write(&buf[..total]) {
                Ok(n) if n == total => {
                    stats.tx_frames.fetch_add(1, Ordering::Relaxed);
                    stats
                        .tx_bytes
                        .fetch_add((total - VNET_HDR_LEN) as u64, Ordering::Relaxed);
                }
                _ => {
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(0)
        });
        if let Ok(Served::More) = served {
            let _ = self.tx_notify.write(1);
        }
    }
}

impl MutEventSubscriber for NetHandler {
    fn init(&mut self, ops: &mut EventOps) {
        for fd in [self.rx_notify.as_raw_fd(), self.tx_notify.as_raw_fd()] {
            if let Err(e) = ops.add(Events::new_raw(fd, EventSet::IN)) {
                self.irq.needs_reset(&format!("watching its queues: {e:?}"));
            }
        }
        self.watch(ops, true);
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        let fd = events.fd();
        if fd == self.tx_notify.as_raw_fd() {
            let _ = self.tx_notify.read();
            self.transmit();
        } else {
            if fd == self.rx_notify.as_raw_fd() {
                let _ = self.rx_notify.read();
            }
            self.receive(ops);
        }
    }
}
