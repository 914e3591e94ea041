//! virtio-blk (block device, device type 2) on a raw disk image: a regular file or a host block
//! device, one request queue, served on the device worker thread.
//!
//! - [`disk`]: opening (`O_CLOEXEC`, a regular file or block device, whole sectors) and locking
//!   (`flock`: exclusive read-write, shared read-only) the image, and the I/O on it.
//! - `request`: one request checked whole and carried out; the status byte it ends with.
//!
//! Features: `VIRTIO_BLK_F_SEG_MAX` ([`SEG_MAX`] data buffers a request), `F_BLK_SIZE` (512),
//! `F_FLUSH` (`fdatasync`; a driver that does not take it gets every write synced), and either
//! `F_RO` for a read-only disk or `F_DISCARD` and `F_WRITE_ZEROES` (one segment of at most
//! [`MAX_DISCARD_SECTORS`] sectors a request; a hole punched, zeros written where the file
//! system refuses). Configuration space (virtio 1.2, 5.2.4): capacity in 512-byte sectors,
//! `seg_max`, `blk_size`, the discard and write-zeroes limits; any offset and width reads, bytes
//! past its end read as zero, writes are ignored (no `F_CONFIG_WCE`).
//!
//! State (version 1): the capacity (`u64`) and flags (`u8`, bit 0 read-only) the guest was
//! given. The image itself is never part of a snapshot or a migration: the restored VM opens the
//! same path again (recorded absolute in `CONF`), and the restore refuses an image whose size or
//! mode changed. A snapshot is consistent with its image only if the image is left as it was
//! when the snapshot was taken (copy it beside the snapshot while the VM is paused to keep both).

pub mod disk;
mod request;
#[cfg(test)]
mod tests;

pub use disk::{Disk, DiskError, SECTOR};

use super::chain::{serve, Served};
use super::device::{Activation, Handler, VirtioDevice, VirtioError};
use super::ids;
use super::interrupt::VirtioInterrupt;
use crate::config::DiskConfig;
use crate::memory::GuestMemoryMmap;
use crate::snapshot::{check_version, StateError};
use crate::wire::{Reader, Writer};
use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use std::mem::{offset_of, size_of};
use std::sync::{Arc, Mutex};
use virtio_bindings::virtio_blk::*;
use virtio_queue::Queue;
use vm_memory::GuestMemoryAtomic;
use vmm_sys_util::eventfd::EventFd;

/// The request queue's most entries.
pub const QUEUE_SIZE: u16 = 256;
/// The most data buffers in a request: the queue less the header and the status.
pub const SEG_MAX: u32 = QUEUE_SIZE as u32 - 2;
/// The most sectors one discard segment covers (64 MiB: a file system that cannot punch holes
/// gets at most this much zeroed by one request).
pub const MAX_DISCARD_SECTORS: u32 = 1 << 17;
/// The most sectors one write-zeroes segment covers.
pub const MAX_WRITE_ZEROES_SECTORS: u32 = 1 << 17;
/// Segments in one discard or write-zeroes request.
pub const MAX_SEGMENTS: u32 = 1;
/// The discard alignment the guest is told, in sectors (4 KiB, the host file systems' block).
pub const DISCARD_ALIGNMENT: u32 = 8;
/// The bounce buffer between the image and guest memory: the most bytes one read or write of
/// the image moves, whatever the request's length.
pub const CHUNK: usize = 128 << 10;

/// The configuration space's length (the whole `struct virtio_blk_config`; what tetra does not
/// offer reads as zero).
const CONFIG_LEN: usize = size_of::<virtio_blk_config>();

fn bit(b: u32) -> u64 {
    1 << b
}

/// The configuration space of a disk of `sectors` sectors.
fn config_space(sectors: u64) -> [u8; CONFIG_LEN] {
    let mut c = [0u8; CONFIG_LEN];
    let mut put = |at: usize, b: &[u8]| c[at..at + b.len()].copy_from_slice(b);
    put(
        offset_of!(virtio_blk_config, capacity),
        &sectors.to_le_bytes(),
    );
    put(
        offset_of!(virtio_blk_config, seg_max),
        &SEG_MAX.to_le_bytes(),
    );
    put(
        offset_of!(virtio_blk_config, blk_size),
        &(SECTOR as u32).to_le_bytes(),
    );
    put(
        offset_of!(virtio_blk_config, max_discard_sectors),
        &MAX_DISCARD_SECTORS.to_le_bytes(),
    );
    put(
        offset_of!(virtio_blk_config, max_discard_seg),
        &MAX_SEGMENTS.to_le_bytes(),
    );
    put(
        offset_of!(virtio_blk_config, discard_sector_alignment),
        &DISCARD_ALIGNMENT.to_le_bytes(),
    );
    put(
        offset_of!(virtio_blk_config, max_write_zeroes_sectors),
        &MAX_WRITE_ZEROES_SECTORS.to_le_bytes(),
    );
    put(
        offset_of!(virtio_blk_config, max_write_zeroes_seg),
        &MAX_SEGMENTS.to_le_bytes(),
    );
    put(offset_of!(virtio_blk_config, write_zeroes_may_unmap), &[1]);
    c
}

/// A block device.
pub struct Block {
    disk: Arc<Disk>,
    id: [u8; VIRTIO_BLK_ID_BYTES as usize],
    config: [u8; CONFIG_LEN],
}

impl Block {
    /// Opens and locks the image `config` names.
    pub fn open(config: &DiskConfig) -> Result<Self, DiskError> {
        Self::open_with(config, false)
    }

    /// Opens the image `config` names, its lock deferred when another process holds it
    /// ([`Disk::open_deferred`]).
    pub fn open_deferred(config: &DiskConfig) -> Result<Self, DiskError> {
        Self::open_with(config, true)
    }

    fn open_with(config: &DiskConfig, defer: bool) -> Result<Self, DiskError> {
        let mut id = [0u8; VIRTIO_BLK_ID_BYTES as usize];
        if let Some(s) = &config.id {
            let b = s.as_bytes();
            if b.len() > id.len() {
                return Err(DiskError::Id {
                    path: config.path.display().to_string(),
                    len: b.len(),
                });
            }
            id[..b.len()].copy_from_slice(b);
        }
        let disk = if defer {
            Disk::open_deferred(config)?
        } else {
            Disk::open(config)?
        };
        Ok(Block {
            config: config_space(disk.sectors()),
            disk: Arc::new(disk),
            id,
        })
    }

    /// The image.
    pub fn disk(&self) -> &Disk {
        &self.disk
    }

    /// The image, shared (for the VM's lock hand-off).
    pub fn shared_disk(&self) -> Arc<Disk> {
        self.disk.clone()
    }
}

impl VirtioDevice for Block {
    fn device_type(&self) -> u32 {
        ids::BLOCK
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE]
    }

    fn features(&self) -> u64 {
        let common =
            bit(VIRTIO_BLK_F_SEG_MAX) | bit(VIRTIO_BLK_F_BLK_SIZE) | bit(VIRTIO_BLK_F_FLUSH);
        if self.disk.read_only() {
            common | bit(VIRTIO_BLK_F_RO)
        } else {
            common | bit(VIRTIO_BLK_F_DISCARD) | bit(VIRTIO_BLK_F_WRITE_ZEROES)
        }
    }

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
        let q =
            a.queues.into_iter().next().ok_or_else(|| {
                VirtioError::Activate("the driver set up no request queue".into())
            })?;
        Ok(Box::new(BlockHandler {
            queue: q.queue,
            notify: q.notify,
            mem: a.mem,
            irq: a.interrupt,
            disk: self.disk.clone(),
            id: self.id,
            features: a.features,
            buf: vec![0; CHUNK],
        }))
    }

    fn save_state(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u64(self.disk.sectors());
        w.u8(u8::from(self.disk.read_only()));
        w.into_bytes()
    }

    fn restore_state(&mut self, version: u16, data: &[u8]) -> Result<(), StateError> {
        check_version(version, 1)?;
        let mut r = Reader::new(data);
        let sectors = r.u64("the disk's capacity")?;
        let flags = r.u8("the disk's flags")?;
        if !r.is_empty() {
            return Err(StateError::Trailing(r.remaining()));
        }
        if flags & !1 != 0 {
            return Err(StateError::Invalid(format!(
                "disk flags {flags:#x} this tetra does not know"
            )));
        }
        let name = self.disk.name();
        if sectors != self.disk.sectors() {
            return Err(StateError::Invalid(format!(
                "the disk image {name} has {} sectors; the guest was given {sectors}",
                self.disk.sectors()
            )));
        }
        if (flags & 1 != 0) != self.disk.read_only() {
            return Err(StateError::Invalid(format!(
                "the disk image {name} is {}; the guest had it {}",
                mode(self.disk.read_only()),
                mode(flags & 1 != 0)
            )));
        }
        Ok(())
    }
}

fn mode(read_only: bool) -> &'static str {
    if read_only {
        "read-only"
    } else {
        "read-write"
    }
}

struct BlockHandler {
    queue: Arc<Mutex<Queue>>,
    notify: EventFd,
    mem: GuestMemoryAtomic<GuestMemoryMmap>,
    irq: Arc<VirtioInterrupt>,
    disk: Arc<Disk>,
    id: [u8; VIRTIO_BLK_ID_BYTES as usize],
    features: u64,
    buf: Vec<u8>,
}

impl MutEventSubscriber for BlockHandler {
    fn init(&mut self, ops: &mut EventOps) {
        if let Err(e) = ops.add(Events::new(&self.notify, EventSet::IN)) {
            self.irq.needs_reset(&format!("watching its queue: {e:?}"));
        }
    }

    fn process(&mut self, _: Events, _: &mut EventOps) {
        let _ = self.notify.read();
        let mut cx = request::Context {
            disk: &self.disk,
            id: &self.id,
            features: self.features,
            buf: &mut self.buf,
        };
        // A broken chain marks the device; nothing else to do here. Chains left over are served
        // on the loop's next turn.
        let served = serve(0, &self.queue, &self.mem, &self.irq, |c, m| {
            request::handle(&mut cx, c, m)
        });
        if let Ok(Served::More) = served {
            let _ = self.notify.write(1);
        }
    }
}
