//! The device side of virtio: what a device implements once, whatever its transport.

use super::interrupt::VirtioInterrupt;
use crate::memory::GuestMemoryMmap;
use crate::snapshot::StateError;
use event_manager::MutEventSubscriber;
use std::sync::{Arc, Mutex};
use virtio_queue::Queue;
use vm_memory::GuestMemoryAtomic;
use vmm_sys_util::eventfd::EventFd;

/// Errors of virtio devices.
#[derive(Debug, thiserror::Error)]
pub enum VirtioError {
    /// An eventfd could not be made or duplicated.
    #[error("{what}")]
    EventFd {
        /// What was being made.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// MSI-X vectors could not be made.
    #[error("its MSI-X vectors")]
    Msi {
        /// Why.
        #[source]
        source: crate::hypervisor::HvError,
    },
    /// The device cannot start with what the driver set up.
    #[error("{0}")]
    Activate(String),
    /// The device worker thread is gone or refused the handler.
    #[error("the device worker: {0}")]
    Worker(String),
    /// A host resource of the device's backend failed.
    #[error("{what}")]
    Backend {
        /// What failed.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The worker-side half of an active device: an event-manager subscriber that serves its queues
/// (and its backend's fds) on the device worker thread.
pub trait Handler: MutEventSubscriber + Send {}

impl<T: MutEventSubscriber + Send> Handler for T {}

/// One queue the driver set up, as the device serves it.
pub struct ActiveQueue {
    /// The queue's index.
    pub index: u16,
    /// The ring, shared with the transport (which saves its state and resets it).
    pub queue: Arc<Mutex<Queue>>,
    /// Signalled when the driver notifies this queue.
    pub notify: EventFd,
}

/// What a device gets when the driver sets `DRIVER_OK`.
pub struct Activation {
    /// Guest memory (writes through it are dirty-tracked).
    pub mem: GuestMemoryAtomic<GuestMemoryMmap>,
    /// The queues the driver made ready, in index order.
    pub queues: Vec<ActiveQueue>,
    /// The device's interrupt.
    pub interrupt: Arc<VirtioInterrupt>,
    /// The features the driver accepted.
    pub features: u64,
}

/// A virtio device: type, queues, features, configuration space, and how it starts serving.
pub trait VirtioDevice: Send {
    /// The virtio device type ([`super::ids`]).
    fn device_type(&self) -> u32;
    /// The most entries each queue may have (its length is the number of queues).
    fn queue_max_sizes(&self) -> &[u16];
    /// The device's feature bits (the transport adds `VIRTIO_F_VERSION_1`).
    fn features(&self) -> u64 {
        0
    }
    /// Reads `data.len()` bytes of the configuration space at `offset` (bytes past its end read
    /// as zero).
    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let _ = offset;
        data.fill(0);
    }
    /// The driver writes the configuration space.
    fn write_config(&mut self, offset: u64, data: &[u8]) {
        let _ = (offset, data);
    }
    /// Starts serving: returns the handler the worker thread runs.
    fn activate(&mut self, a: Activation) -> Result<Box<dyn Handler>, VirtioError>;
    /// The driver reset the device (its handler is already gone).
    fn reset(&mut self) {}
    /// The version of [`VirtioDevice::save_state`]'s bytes.
    fn state_version(&self) -> u16 {
        1
    }
    /// The device's own state (backend state; the transport saves features and queues).
    fn save_state(&self) -> Vec<u8> {
        Vec::new()
    }
    /// Restores [`VirtioDevice::save_state`]'s bytes, before the transport reactivates it.
    fn restore_state(&mut self, version: u16, data: &[u8]) -> Result<(), StateError> {
        crate::snapshot::check_version(version, 1)?;
        if data.is_empty() {
            Ok(())
        } else {
            Err(StateError::Trailing(data.len()))
        }
    }
}
