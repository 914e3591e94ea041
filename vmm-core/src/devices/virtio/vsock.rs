//! virtio-vsock (device type 19) with a userspace "hybrid" host side, after Firecracker's: the
//! guest's sockets meet Unix sockets on the host. Queue 0 receives (host to guest), queue 1
//! transmits, queue 2 carries events. The configuration space is the guest's CID (`u64`, little
//! endian). No features: stream sockets only (no `VIRTIO_VSOCK_F_SEQPACKET`).
//!
//! With `--vsock cid=N,uds=PATH`:
//! - a host process connects to the Unix socket `PATH`, writes `CONNECT <port>\n`, reads
//!   `OK <hostport>\n` once the guest's listener on `<port>` accepted, and the stream is then the
//!   connection (the guest sees a peer at CID 2 port `<hostport>`);
//! - a guest connecting to CID 2 port `P` reaches the Unix socket `PATH_P` (a host process
//!   listens there), or gets `ECONNRESET`/`ECONNREFUSED` when nobody does.
//!
//! - [`packet`]: the 44-byte header, checked before anything acts on it.
//! - [`connection`]: one connection and its credit both ways (bounded buffers).
//! - [`muxer`]: the connection table, the listening socket, the packets each way.
//! - [`unix`]: the host's Unix sockets.
//!
//! With `--vsock cid=N` alone, the kernel's vhost-vsock is the host side instead ([`vhost`]):
//! host processes use `AF_VSOCK` sockets, and tetra serves only the event queue.
//!
//! The packet protocol is in [`muxer`]'s documentation; the guest can make at most
//! [`muxer::MAX_CONNECTIONS`] connections, each holding at most [`connection::BUF_ALLOC`] bytes,
//! and no packet from it panics or allocates.
//!
//! State (version 1) is empty: connections are not carried across a snapshot or a migration.
//! The restored device listens at `PATH` again and, as soon as the guest gives it an event
//! buffer, sends `VIRTIO_VSOCK_EVENT_TRANSPORT_RESET`: the guest resets its connections (its
//! sockets see `ECONNRESET`) and listening sockets stay; host processes see their streams end
//! when the old tetra exits.

pub mod connection;
pub mod muxer;
pub mod packet;
pub mod unix;
pub mod vhost;

#[cfg(test)]
mod tests;

use super::chain::{serve, serve_while, Chain, Served, Unanswerable};
use super::device::{Activation, Handler, VirtioDevice, VirtioError};
use super::ids;
use super::interrupt::VirtioInterrupt;
use super::offload::OffloadGate;
use crate::config::VsockConfig;
use crate::memory::GuestMemoryMmap;
use crate::snapshot::{check_version, StateError};
use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use muxer::Muxer;
use packet::{Header, HDR_LEN};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use virtio_queue::Queue;
use vm_memory::GuestMemoryAtomic;
use vmm_sys_util::eventfd::EventFd;

pub use unix::UnixError;

/// The queues' most entries.
pub const QUEUE_SIZE: u16 = 256;
/// `VIRTIO_VSOCK_EVENT_TRANSPORT_RESET`.
const EVENT_TRANSPORT_RESET: u32 = 0;

/// Errors opening the device's host side.
#[derive(Debug, thiserror::Error)]
pub enum VsockError {
    /// The kernel's vhost-vsock cannot be the host side.
    #[error(transparent)]
    Kernel(#[from] vhost::VhostError),
    /// The listening socket could not be made.
    #[error("vsock CID {cid}")]
    Listen {
        /// The guest's CID.
        cid: u64,
        /// Why.
        #[source]
        source: UnixError,
    },
}

/// What the device counted.
#[derive(Debug, Default)]
pub struct VsockStats {
    /// Connections made (either way).
    pub connections: AtomicU64,
    /// Guest connections nobody listened for.
    pub refused: AtomicU64,
    /// Packets the guest may not send.
    pub malformed: AtomicU64,
    /// `RST`s sent to the guest.
    pub resets: AtomicU64,
}

/// The vsock device.
pub struct Vsock {
    cid: u64,
    config: [u8; 8],
    stats: Arc<VsockStats>,
    /// Restored from a snapshot: the guest is told its connections are gone.
    restored: bool,
    host: Host,
}

/// The device's host side.
enum Host {
    /// Unix sockets, served by tetra.
    Unix(UnixHost),
    /// The kernel's vhost-vsock.
    Kernel(vhost::KernelHost),
}

/// The Unix socket side: the listening socket at `path`.
struct UnixHost {
    path: PathBuf,
    listener: Arc<UnixListener>,
    /// The listening socket's file (device, inode): removed at the end only if it is still
    /// this one (a migration's destination on the same host may have replaced it).
    file: Option<(u64, u64)>,
}

impl Vsock {
    /// Listens at `config`'s path for guest `config.cid`, or, without a path, checks that the
    /// kernel's vhost-vsock can be opened ([`Vsock::connect`] opens it).
    pub fn open(config: &VsockConfig) -> Result<Self, VsockError> {
        let host = match &config.uds {
            Some(path) => {
                let listener = unix::listen(path).map_err(|source| VsockError::Listen {
                    cid: config.cid,
                    source,
                })?;
                let file = std::fs::symlink_metadata(path)
                    .ok()
                    .map(|m| (m.dev(), m.ino()));
                Host::Unix(UnixHost {
                    path: path.clone(),
                    listener: Arc::new(listener),
                    file,
                })
            }
            None => Host::Kernel(vhost::KernelHost::probe(config.cid)?),
        };
        Ok(Vsock {
            cid: config.cid,
            config: config.cid.to_le_bytes(),
            stats: Arc::new(VsockStats::default()),
            restored: false,
            host,
        })
    }

    /// Opens the kernel's side (with the CID, which another VM on the host may hold), which
    /// runs when `gate` lets it; nothing for the Unix socket side.
    pub fn connect(&mut self, gate: &Arc<OffloadGate>) -> Result<(), VsockError> {
        match &mut self.host {
            Host::Unix(_) => Ok(()),
            Host::Kernel(k) => Ok(k.connect(gate)?),
        }
    }

    /// The device's counters (the Unix socket side's; the kernel's side counts nothing here).
    pub fn stats(&self) -> Arc<VsockStats> {
        self.stats.clone()
    }
}

impl Drop for UnixHost {
    fn drop(&mut self) {
        let now = std::fs::symlink_metadata(&self.path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        if now.is_some() && now == self.file {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl VirtioDevice for Vsock {
    fn device_type(&self) -> u32 {
        ids::VSOCK
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE, QUEUE_SIZE, QUEUE_SIZE]
    }

    /// `struct virtio_vsock_config`: `guest_cid`.
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
        let mut qs: [Option<super::device::ActiveQueue>; 3] = [None, None, None];
        for q in a.queues {
            if let Some(slot) = qs.get_mut(usize::from(q.index)) {
                *slot = Some(q);
            }
        }
        let [Some(rx), Some(tx), Some(ev)] = qs else {
            return Err(VirtioError::Activate(
                "the driver did not set up the receive, transmit and event queues".into(),
            ));
        };
        let reset_event = std::mem::take(&mut self.restored);
        let unix = match &mut self.host {
            Host::Kernel(k) => {
                let a = Activation {
                    queues: Vec::new(),
                    ..a
                };
                return k.activate(a, rx, tx, ev, reset_event);
            }
            Host::Unix(u) => u,
        };
        Ok(Box::new(VsockHandler {
            rx: rx.queue,
            rx_notify: rx.notify,
            tx: tx.queue,
            tx_notify: tx.notify,
            ev: ev.queue,
            ev_notify: ev.notify,
            reset_event,
            muxer: Muxer::new(
                self.cid,
                unix.path.clone(),
                unix.listener.clone(),
                self.stats.clone(),
            ),
            mem: a.mem,
            irq: a.interrupt,
        }))
    }

    fn reset(&mut self) {
        if let Host::Kernel(k) = &mut self.host {
            k.reset();
        }
    }

    fn restore_state(&mut self, version: u16, data: &[u8]) -> Result<(), StateError> {
        check_version(version, 1)?;
        if !data.is_empty() {
            return Err(StateError::Trailing(data.len()));
        }
        self.restored = true;
        Ok(())
    }
}

struct VsockHandler {
    rx: Arc<Mutex<Queue>>,
    rx_notify: EventFd,
    tx: Arc<Mutex<Queue>>,
    tx_notify: EventFd,
    ev: Arc<Mutex<Queue>>,
    ev_notify: EventFd,
    /// A transport reset event waits for an event buffer.
    reset_event: bool,
    muxer: Muxer,
    mem: GuestMemoryAtomic<GuestMemoryMmap>,
    irq: Arc<VirtioInterrupt>,
}

impl VsockHandler {
    /// Takes every packet the guest queued.
    fn transmit(&mut self, ops: &mut EventOps) {
        let muxer = &mut self.muxer;
        let served = serve(1, &self.tx, &self.mem, &self.irq, |chain: Chain, mem| {
            let mut r = chain
                .reader(mem)
                .map_err(|_| Unanswerable("a transmit buffer the device cannot read"))?;
            let total = r.available_bytes();
            let mut hb = [0u8; HDR_LEN];
            if total < HDR_LEN || r.read_exact(&mut hb).is_err() {
                muxer.stats().malformed.fetch_add(1, Ordering::Relaxed);
                return Ok(0);
            }
            let h = Header::decode(&hb);
            muxer.from_guest(&h, total - HDR_LEN, |buf| r.read_exact(buf).is_ok(), ops);
            Ok(0)
        });
        if let Ok(Served::More) = served {
            let _ = self.tx_notify.write(1);
        }
    }

    /// Fills the guest's receive buffers with what the host side has for it.
    fn receive(&mut self, ops: &mut EventOps) {
        if !self.muxer.has_rx() {
            return;
        }
        let muxer = &mut self.muxer;
        let served = serve_while(0, &self.rx, &self.mem, &self.irq, |chain: Chain, mem| {
            let mut w = chain
                .writer(mem)
                .map_err(|_| Unanswerable("a receive buffer the device cannot write"))?;
            let room = w.available_bytes();
            if room < HDR_LEN {
                return Err(Unanswerable(
                    "a receive buffer shorter than a packet header",
                ));
            }
            let Some((h, data)) = muxer.to_guest(room, ops) else {
                return Ok(None);
            };
            w.write_all(&h.encode())
                .and_then(|()| w.write_all(data))
                .map_err(|_| Unanswerable("a receive buffer the device cannot write"))?;
            Ok(Some((HDR_LEN + data.len()) as u32))
        });
        if let Ok(Served::More) = served {
            let _ = self.rx_notify.write(1);
        }
    }

    /// Sends the transport reset event if one waits.
    fn events(&mut self) {
        send_reset_event(&mut self.reset_event, &self.ev, &self.mem, &self.irq);
    }
}

/// Sends `VIRTIO_VSOCK_EVENT_TRANSPORT_RESET` on the event queue `ev` if one waits (`pending`,
/// cleared once sent).
fn send_reset_event(
    pending: &mut bool,
    ev: &Arc<Mutex<Queue>>,
    mem: &GuestMemoryAtomic<GuestMemoryMmap>,
    irq: &Arc<VirtioInterrupt>,
) {
    if !*pending {
        return;
    }
    let _ = serve_while(2, ev, mem, irq, |chain: Chain, mem| {
        if !*pending {
            return Ok(None);
        }
        let mut w = chain
            .writer(mem)
            .map_err(|_| Unanswerable("an event buffer the device cannot write"))?;
        w.write_all(&EVENT_TRANSPORT_RESET.to_le_bytes())
            .map_err(|_| Unanswerable("an event buffer shorter than an event"))?;
        *pending = false;
        Ok(Some(4))
    });
}

impl MutEventSubscriber for VsockHandler {
    fn init(&mut self, ops: &mut EventOps) {
        for fd in [
            self.rx_notify.as_raw_fd(),
            self.tx_notify.as_raw_fd(),
            self.ev_notify.as_raw_fd(),
            self.muxer.listener_fd(),
        ] {
            if let Err(e) = ops.add(Events::new_raw(fd, EventSet::IN)) {
                self.irq.needs_reset(&format!("watching its queues: {e:?}"));
            }
        }
        self.events();
        // Host connections that waited in the backlog before the driver was ready.
        self.muxer
            .on_event(self.muxer.listener_fd(), EventSet::IN, ops);
        self.receive(ops);
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        let fd = events.fd();
        if fd == self.tx_notify.as_raw_fd() {
            let _ = self.tx_notify.read();
            self.transmit(ops);
        } else if fd == self.rx_notify.as_raw_fd() {
            let _ = self.rx_notify.read();
        } else if fd == self.ev_notify.as_raw_fd() {
            let _ = self.ev_notify.read();
            self.events();
        } else {
            self.muxer.on_event(fd, events.event_set(), ops);
        }
        self.receive(ops);
    }
}
