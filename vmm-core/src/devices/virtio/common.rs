//! What every virtio transport keeps and does the same way, whatever its registers look like
//! (virtio-mmio, virtio-pci): the device status and its rules, the features offered and accepted,
//! the feature and queue selectors, each queue with its notification eventfd, activation on
//! `DRIVER_OK` and reset; and the state of all that for snapshots.
//!
//! A device that needs a reset shows `DEVICE_NEEDS_RESET` in its status; a driver that clears a
//! status bit other than by a reset gets one (so `DRIVER_OK` starts a device once).
//!
//! State, in this order: status, the features accepted, the two feature selectors, the queue
//! selector, the pending interrupt bits, the needs-reset flag, each queue (size, ready, the three
//! ring addresses, next available and next used), and the device's own state (its version and
//! bytes). A restored transport whose driver had set `DRIVER_OK` is activated again, and each
//! of its queues looked at once (activation does): notifications pending in the old process are
//! not in the state.

use super::device::{Activation, ActiveQueue, VirtioDevice, VirtioError};
use super::interrupt::VirtioInterrupt;
use super::worker::Worker;
use super::F_VERSION_1;
use crate::memory::GuestMemoryMmap;
use crate::snapshot::StateError;
use crate::wire::{Reader, Writer};
use event_manager::SubscriberId;
use std::sync::{Arc, Mutex};
use virtio_bindings::virtio_config::{
    VIRTIO_CONFIG_S_DRIVER_OK, VIRTIO_CONFIG_S_FAILED, VIRTIO_CONFIG_S_FEATURES_OK,
    VIRTIO_CONFIG_S_NEEDS_RESET,
};
use virtio_queue::{Queue, QueueT};
use vm_memory::{GuestAddressSpace, GuestMemoryAtomic};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// One queue of the device and its notification.
pub(super) struct Slot {
    pub(super) queue: Arc<Mutex<Queue>>,
    pub(super) notify: EventFd,
    /// The driver asked for a size the queue cannot have (zero, above the maximum, not a power
    /// of two): the device needs a reset once it starts.
    bad_size: bool,
}

/// The transport-independent half of a virtio transport.
pub(super) struct TransportCore {
    pub(super) device: Box<dyn VirtioDevice>,
    mem: GuestMemoryAtomic<GuestMemoryMmap>,
    worker: Arc<Worker>,
    pub(super) interrupt: Arc<VirtioInterrupt>,
    pub(super) slots: Vec<Slot>,
    status: u32,
    pub(super) device_features_sel: u32,
    pub(super) driver_features_sel: u32,
    driver_features: u64,
    pub(super) queue_sel: u32,
    active: Option<SubscriberId>,
}

fn new_queue(max: u16) -> Queue {
    // virtio-queue refuses only a zero or non-power-of-two maximum: the devices' own tables.
    Queue::new(max).unwrap_or_else(|_| Queue::new(256).expect("256 is a valid queue size"))
}

/// A transport's state read back and checked, not applied yet (a transport checks its own state
/// after it before it changes anything).
pub(super) struct CoreState {
    status: u32,
    driver_features: u64,
    selectors: (u32, u32, u32),
    irq_status: u32,
    broken: bool,
    queues: Vec<Queue>,
    dev_version: u16,
    dev: Vec<u8>,
}

impl TransportCore {
    pub(super) fn new(
        device: Box<dyn VirtioDevice>,
        mem: GuestMemoryAtomic<GuestMemoryMmap>,
        worker: Arc<Worker>,
        interrupt: Arc<VirtioInterrupt>,
    ) -> Result<Self, VirtioError> {
        let slots = device
            .queue_max_sizes()
            .iter()
            .map(|&max| {
                Ok(Slot {
                    bad_size: false,
                    queue: Arc::new(Mutex::new(new_queue(max))),
                    notify: EventFd::new(EFD_NONBLOCK).map_err(|source| VirtioError::EventFd {
                        what: "a queue notification eventfd",
                        source,
                    })?,
                })
            })
            .collect::<Result<Vec<_>, VirtioError>>()?;
        Ok(TransportCore {
            device,
            mem,
            worker,
            interrupt,
            slots,
            status: 0,
            device_features_sel: 0,
            driver_features_sel: 0,
            driver_features: 0,
            queue_sel: 0,
            active: None,
        })
    }

    /// The features offered: the device's and `VIRTIO_F_VERSION_1`.
    pub(super) fn features(&self) -> u64 {
        self.device.features() | F_VERSION_1
    }

    /// The 32 bits of the offered features the selector picks.
    pub(super) fn device_features_word(&self) -> u32 {
        match self.device_features_sel {
            0 => self.features() as u32,
            1 => (self.features() >> 32) as u32,
            _ => 0,
        }
    }

    /// The 32 bits of the accepted features the selector picks.
    pub(super) fn driver_features_word(&self) -> u32 {
        match self.driver_features_sel {
            0 => self.driver_features as u32,
            1 => (self.driver_features >> 32) as u32,
            _ => 0,
        }
    }

    /// The driver accepts the 32 features the selector picks (only before `FEATURES_OK`).
    pub(super) fn set_driver_features_word(&mut self, v: u32) {
        if self.status & VIRTIO_CONFIG_S_FEATURES_OK != 0 {
            return;
        }
        let f = &mut self.driver_features;
        match self.driver_features_sel {
            0 => *f = (*f & !0xffff_ffff) | u64::from(v),
            1 => *f = (*f & 0xffff_ffff) | (u64::from(v) << 32),
            _ => {}
        }
    }

    /// The selected queue.
    pub(super) fn selected(&self) -> Option<&Slot> {
        self.slots.get(self.queue_sel as usize)
    }

    /// Reads the selected queue (0 when the selector names none).
    pub(super) fn read_queue(&self, f: impl FnOnce(&Queue) -> u32) -> u32 {
        self.selected()
            .map_or(0, |s| f(&s.queue.lock().unwrap_or_else(|e| e.into_inner())))
    }

    /// Queue set-up is the driver's only before `DRIVER_OK`.
    pub(super) fn with_queue(&mut self, f: impl FnOnce(&mut Queue)) {
        if self.status & VIRTIO_CONFIG_S_DRIVER_OK != 0 {
            return;
        }
        if let Some(s) = self.slots.get(self.queue_sel as usize) {
            f(&mut s.queue.lock().unwrap_or_else(|e| e.into_inner()));
        }
    }

    /// The driver sets the selected queue's size (only before `DRIVER_OK`).
    pub(super) fn set_queue_size(&mut self, v: u32) {
        if self.status & VIRTIO_CONFIG_S_DRIVER_OK != 0 {
            return;
        }
        if let Some(s) = self.slots.get_mut(self.queue_sel as usize) {
            let size = u16::try_from(v).unwrap_or(0);
            let mut q = s.queue.lock().unwrap_or_else(|e| e.into_inner());
            s.bad_size = q.try_set_size(size).is_err();
        }
    }

    /// A notification of queue `index` that reached the transport (no ioeventfd took it).
    pub(super) fn notify(&self, index: u32) {
        if let Some(s) = self.slots.get(index as usize) {
            let _ = s.notify.write(1);
        }
    }

    /// The status register: the driver's bits, and `DEVICE_NEEDS_RESET` when broken.
    pub(super) fn status(&self) -> u32 {
        self.status
            | if self.interrupt.is_broken() {
                VIRTIO_CONFIG_S_NEEDS_RESET
            } else {
                0
            }
    }

    fn activate(&mut self) {
        let mut queues = Vec::new();
        let mem = self.mem.memory();
        for (i, s) in self.slots.iter().enumerate() {
            let q = s.queue.lock().unwrap_or_else(|e| e.into_inner());
            if !q.ready() {
                continue;
            }
            // A size that is not a power of two, rings outside RAM or misaligned.
            if s.bad_size || !q.is_valid(&*mem) {
                drop(q);
                self.interrupt.needs_reset(&format!(
                    "queue {i} is set up wrong (its size or ring addresses)"
                ));
                return;
            }
            drop(q);
            let notify = match s.notify.try_clone() {
                Ok(n) => n,
                Err(e) => {
                    self.interrupt
                        .needs_reset(&format!("duplicating a notification eventfd: {e}"));
                    return;
                }
            };
            queues.push(ActiveQueue {
                index: i as u16,
                queue: s.queue.clone(),
                notify,
            });
        }
        drop(mem);
        let a = Activation {
            mem: self.mem.clone(),
            queues,
            interrupt: self.interrupt.clone(),
            features: self.driver_features,
        };
        let r = self.device.activate(a).and_then(|h| self.worker.add(h));
        match r {
            Ok(id) => {
                self.active = Some(id);
                // Notifications the driver sent before it was ready are served now; so are, on
                // a restore, those the old process had not served (a kick still in its eventfd,
                // which the driver does not send again): a queue with nothing new serves nothing.
                for s in &self.slots {
                    let _ = s.notify.write(1);
                }
            }
            Err(e) => self.interrupt.needs_reset(&e),
        }
    }

    /// Resets the device: its handler leaves the worker, the queues and selectors start over.
    pub(super) fn reset(&mut self) {
        if let Some(id) = self.active.take() {
            // The worker is gone only when the VM is being torn down.
            let _ = self.worker.remove(id);
        }
        self.device.reset();
        for s in &mut self.slots {
            s.queue.lock().unwrap_or_else(|e| e.into_inner()).reset();
            s.bad_size = false;
            let _ = s.notify.read();
        }
        self.interrupt.reset();
        self.status = 0;
        self.device_features_sel = 0;
        self.driver_features_sel = 0;
        self.driver_features = 0;
        self.queue_sel = 0;
    }

    /// The driver writes the status (0 resets the device).
    pub(super) fn set_status(&mut self, v: u32) {
        if v == 0 {
            self.reset();
            return;
        }
        // DEVICE_NEEDS_RESET is the device's to show, not the driver's to set.
        let mut v = v & 0xff & !VIRTIO_CONFIG_S_NEEDS_RESET;
        let cleared = self.status & !v;
        if cleared != 0 {
            // The driver MUST NOT clear a status bit (virtio 1.2, 2.1.2); only a reset does.
            // Taking it would let DRIVER_OK, cleared and set again, start the device a second
            // time: a second handler on the worker, which no reset removes, serving the queues
            // of later set-ups before their DRIVER_OK, and one more eventfd each time.
            self.interrupt.needs_reset(&format!(
                "the driver cleared status bits {cleared:#x} without a reset"
            ));
            return;
        }
        if v & VIRTIO_CONFIG_S_FEATURES_OK != 0
            && self.status & VIRTIO_CONFIG_S_FEATURES_OK == 0
            && (self.driver_features & !self.features() != 0
                || self.driver_features & F_VERSION_1 == 0)
        {
            // Features the device does not offer, or a legacy driver: not accepted.
            v &= !VIRTIO_CONFIG_S_FEATURES_OK;
        }
        let starting = v & VIRTIO_CONFIG_S_DRIVER_OK != 0
            && self.status & VIRTIO_CONFIG_S_DRIVER_OK == 0
            && v & VIRTIO_CONFIG_S_FEATURES_OK != 0
            && v & VIRTIO_CONFIG_S_FAILED == 0
            && self.active.is_none();
        self.status = v;
        if starting {
            self.activate();
        }
    }

    /// Writes the state (the module's format).
    pub(super) fn save(&self, w: &mut Writer) {
        w.u32(self.status);
        w.u64(self.driver_features);
        w.u32(self.device_features_sel);
        w.u32(self.driver_features_sel);
        w.u32(self.queue_sel);
        w.u32(self.interrupt.status());
        w.u8(u8::from(self.interrupt.is_broken()));
        w.u32(self.slots.len() as u32);
        for s in &self.slots {
            let q = s.queue.lock().unwrap_or_else(|e| e.into_inner());
            w.u16(q.size());
            w.u8(u8::from(q.ready()));
            w.u64(q.desc_table());
            w.u64(q.avail_ring());
            w.u64(q.used_ring());
            w.u16(q.next_avail());
            w.u16(q.next_used());
        }
        w.u16(self.device.state_version());
        w.blob(&self.device.save_state());
    }

    /// Reads and checks the state [`Self::save`] wrote, changing nothing yet.
    pub(super) fn parse(&self, r: &mut Reader) -> Result<CoreState, StateError> {
        let status = r.u32("the device status")?;
        let driver_features = r.u64("the accepted features")?;
        let selectors = (
            r.u32("a feature selector")?,
            r.u32("a feature selector")?,
            r.u32("the queue selector")?,
        );
        let irq_status = r.u32("the interrupt status")?;
        let broken = r.u8("the needs-reset flag")? != 0;
        let n = r.count("the queue count", 31)?;
        if n != self.slots.len() {
            return Err(StateError::Invalid(format!(
                "{n} queues; this device has {}",
                self.slots.len()
            )));
        }
        // Before FEATURES_OK the accepted features are only what the driver wrote so far (it may
        // write bits the device does not offer; FEATURES_OK then refuses them), so a state saved
        // then holds them as they were. Once FEATURES_OK is set they are in use and must be
        // offered here.
        if status & VIRTIO_CONFIG_S_FEATURES_OK != 0 && driver_features & !self.features() != 0 {
            return Err(StateError::Invalid(format!(
                "accepted features {driver_features:#x} the device does not offer"
            )));
        }
        let mut queues = Vec::with_capacity(n);
        for s in &self.slots {
            let max = s.queue.lock().unwrap_or_else(|e| e.into_inner()).max_size();
            let mut q = new_queue(max);
            let size = r.u16("a queue size")?;
            let ready = r.u8("a queue's ready flag")? != 0;
            let (desc, avail, used) = (
                r.u64("a descriptor table address")?,
                r.u64("an available ring address")?,
                r.u64("a used ring address")?,
            );
            let (next_avail, next_used) = (
                r.u16("a next-available index")?,
                r.u16("a next-used index")?,
            );
            if size > max || (size != 0 && !size.is_power_of_two()) {
                return Err(StateError::Invalid(format!(
                    "queue size {size} (at most {max})"
                )));
            }
            q.set_size(size);
            q.set_desc_table_address(Some(desc as u32), Some((desc >> 32) as u32));
            q.set_avail_ring_address(Some(avail as u32), Some((avail >> 32) as u32));
            q.set_used_ring_address(Some(used as u32), Some((used >> 32) as u32));
            q.set_next_avail(next_avail);
            q.set_next_used(next_used);
            q.set_ready(ready);
            queues.push(q);
        }
        let dev_version = r.u16("the device state version")?;
        let dev = r.blob("the device state")?.to_vec();
        Ok(CoreState {
            status,
            driver_features,
            selectors,
            irq_status,
            broken,
            queues,
            dev_version,
            dev,
        })
    }

    /// Applies a parsed state: the device's own first (which may still refuse it), then the
    /// queues and registers; a device that was running is activated again.
    pub(super) fn apply(&mut self, s: CoreState) -> Result<(), StateError> {
        self.reset();
        self.device.restore_state(s.dev_version, &s.dev)?;
        for (slot, q) in self.slots.iter().zip(s.queues) {
            *slot.queue.lock().unwrap_or_else(|e| e.into_inner()) = q;
        }
        self.driver_features = s.driver_features;
        (
            self.device_features_sel,
            self.driver_features_sel,
            self.queue_sel,
        ) = s.selectors;
        self.interrupt.set_status(s.irq_status);
        if s.broken {
            self.interrupt.needs_reset(&"restored as needing a reset");
        }
        self.status = s.status & !VIRTIO_CONFIG_S_NEEDS_RESET;
        // Started as `set_status` starts a device: DRIVER_OK with the features accepted. A
        // driver that wrote DRIVER_OK while FEATURES_OK was refused never had it running (a
        // FAILED set after the start is taken as the driver giving up, as it is before).
        let ok = VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_FEATURES_OK;
        if self.status & ok == ok && self.status & VIRTIO_CONFIG_S_FAILED == 0 && !s.broken {
            self.activate();
        }
        Ok(())
    }
}
