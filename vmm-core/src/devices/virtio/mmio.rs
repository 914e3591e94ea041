//! The virtio-mmio transport, version 2 (virtio 1.2, 4.2.2): a 0x200-byte register window, the
//! device's configuration space from 0x100.
//!
//! Registers are 32 bits wide (other accesses below 0x100 are ignored or read as zero). A queue
//! notification reaches the queue's eventfd either directly (an ioeventfd on `QueueNotify`,
//! registered when KVM offers it) or through this device on an MMIO exit. When the driver sets
//! `DRIVER_OK`, the device is activated and its handler added to the [`Worker`]; a reset (status
//! 0) removes it. A device that needs a reset shows `DEVICE_NEEDS_RESET` in its status; a driver
//! that clears a status bit other than by a reset gets one (so `DRIVER_OK` starts a device once).
//!
//! State (section version 1): status, the features offered and accepted, the selectors, the
//! pending interrupt bits, each queue (size, ready, the three ring addresses, next available and
//! next used), and the device's own state. A restored transport whose driver had set
//! `DRIVER_OK` is activated again.

use super::device::{Activation, ActiveQueue, VirtioDevice};
use super::interrupt::VirtioInterrupt;
use super::worker::Worker;
use super::F_VERSION_1;
use crate::bus::BusDevice;
use crate::hypervisor::{Datamatch, IoEventAddr, VmOps};
use crate::memory::GuestMemoryMmap;
use crate::snapshot::{check_version, StateError, Stateful};
use crate::wire::{Reader, Writer};
use event_manager::SubscriberId;
use std::sync::{Arc, Mutex};
use virtio_bindings::virtio_config::{
    VIRTIO_CONFIG_S_DRIVER_OK, VIRTIO_CONFIG_S_FAILED, VIRTIO_CONFIG_S_FEATURES_OK,
    VIRTIO_CONFIG_S_NEEDS_RESET,
};
use virtio_bindings::virtio_mmio::*;
use virtio_queue::{Queue, QueueT};
use vm_memory::{GuestAddressSpace, GuestMemoryAtomic};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// The register window's length.
pub const MMIO_WINDOW: u64 = 0x200;
/// "virt" in little-endian.
const MAGIC: u32 = 0x7472_6976;
/// The vendor id tetra reports ("TETR").
const VENDOR: u32 = 0x5254_4554;

struct Slot {
    queue: Arc<Mutex<Queue>>,
    notify: EventFd,
    /// The driver asked for a size the queue cannot have (zero, above the maximum, not a power
    /// of two): the device needs a reset once it starts.
    bad_size: bool,
}

/// A virtio device behind virtio-mmio registers.
pub struct MmioTransport {
    device: Box<dyn VirtioDevice>,
    mem: GuestMemoryAtomic<GuestMemoryMmap>,
    worker: Arc<Worker>,
    interrupt: Arc<VirtioInterrupt>,
    slots: Vec<Slot>,
    status: u32,
    device_features_sel: u32,
    driver_features_sel: u32,
    driver_features: u64,
    queue_sel: u32,
    active: Option<SubscriberId>,
}

fn new_queue(max: u16) -> Queue {
    // virtio-queue refuses only a zero or non-power-of-two maximum: the devices' own tables.
    Queue::new(max).unwrap_or_else(|_| Queue::new(256).expect("256 is a valid queue size"))
}

impl MmioTransport {
    /// `device` behind a transport whose interrupt is `interrupt`; queue notifications are
    /// eventfds the worker waits on.
    pub fn new(
        device: Box<dyn VirtioDevice>,
        mem: GuestMemoryAtomic<GuestMemoryMmap>,
        worker: Arc<Worker>,
        interrupt: Arc<VirtioInterrupt>,
    ) -> Result<Self, super::VirtioError> {
        let slots = device
            .queue_max_sizes()
            .iter()
            .map(|&max| {
                Ok(Slot {
                    bad_size: false,
                    queue: Arc::new(Mutex::new(new_queue(max))),
                    notify: EventFd::new(EFD_NONBLOCK).map_err(|source| {
                        super::VirtioError::EventFd {
                            what: "a queue notification eventfd",
                            source,
                        }
                    })?,
                })
            })
            .collect::<Result<Vec<_>, super::VirtioError>>()?;
        Ok(MmioTransport {
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

    /// Registers an ioeventfd for each queue's notification at `base`'s `QueueNotify`, so that a
    /// notification costs no exit to userspace. Returns how many KVM took (0 where it offers none:
    /// the MMIO exit path still works).
    pub fn register_ioeventfds(&self, vm: &dyn VmOps, base: u64) -> usize {
        let at = IoEventAddr::Mmio(base + u64::from(VIRTIO_MMIO_QUEUE_NOTIFY));
        self.slots
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                // The guest stores the index little-endian; KVM compares it as the host reads it.
                let v = u32::from_ne_bytes((*i as u32).to_le_bytes());
                vm.register_ioeventfd(&s.notify, at, Some(Datamatch::U32(v)))
                    .is_ok()
            })
            .count()
    }

    fn features(&self) -> u64 {
        self.device.features() | F_VERSION_1
    }

    fn selected(&self) -> Option<&Slot> {
        self.slots.get(self.queue_sel as usize)
    }

    /// Queue set-up is the driver's only before `DRIVER_OK`.
    fn with_queue(&mut self, f: impl FnOnce(&mut Queue)) {
        if self.status & VIRTIO_CONFIG_S_DRIVER_OK != 0 {
            return;
        }
        if let Some(s) = self.slots.get(self.queue_sel as usize) {
            f(&mut s.queue.lock().unwrap_or_else(|e| e.into_inner()));
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
                // Notifications the driver sent before it was ready are served now.
                for s in &self.slots {
                    let _ = s.notify.write(1);
                }
            }
            Err(e) => self.interrupt.needs_reset(&e),
        }
    }

    fn reset(&mut self) {
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

    fn set_status(&mut self, v: u32) {
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

    fn read_reg(&self, reg: u32) -> u32 {
        let q = |f: &dyn Fn(&Queue) -> u32| {
            self.selected()
                .map_or(0, |s| f(&s.queue.lock().unwrap_or_else(|e| e.into_inner())))
        };
        match reg {
            VIRTIO_MMIO_MAGIC_VALUE => MAGIC,
            VIRTIO_MMIO_VERSION => 2,
            VIRTIO_MMIO_DEVICE_ID => self.device.device_type(),
            VIRTIO_MMIO_VENDOR_ID => VENDOR,
            VIRTIO_MMIO_DEVICE_FEATURES => match self.device_features_sel {
                0 => self.features() as u32,
                1 => (self.features() >> 32) as u32,
                _ => 0,
            },
            VIRTIO_MMIO_QUEUE_NUM_MAX => q(&|q| u32::from(q.max_size())),
            VIRTIO_MMIO_QUEUE_READY => q(&|q| u32::from(q.ready())),
            VIRTIO_MMIO_INTERRUPT_STATUS => self.interrupt.status(),
            VIRTIO_MMIO_STATUS => {
                self.status
                    | if self.interrupt.is_broken() {
                        VIRTIO_CONFIG_S_NEEDS_RESET
                    } else {
                        0
                    }
            }
            VIRTIO_MMIO_CONFIG_GENERATION => 0,
            _ => 0,
        }
    }

    fn write_reg(&mut self, reg: u32, v: u32) {
        match reg {
            VIRTIO_MMIO_DEVICE_FEATURES_SEL => self.device_features_sel = v,
            VIRTIO_MMIO_DRIVER_FEATURES_SEL => self.driver_features_sel = v,
            VIRTIO_MMIO_DRIVER_FEATURES if self.status & VIRTIO_CONFIG_S_FEATURES_OK == 0 => {
                let f = &mut self.driver_features;
                match self.driver_features_sel {
                    0 => *f = (*f & !0xffff_ffff) | u64::from(v),
                    1 => *f = (*f & 0xffff_ffff) | (u64::from(v) << 32),
                    _ => {}
                }
            }
            VIRTIO_MMIO_QUEUE_SEL => self.queue_sel = v,
            VIRTIO_MMIO_QUEUE_NUM if self.status & VIRTIO_CONFIG_S_DRIVER_OK == 0 => {
                if let Some(s) = self.slots.get_mut(self.queue_sel as usize) {
                    let size = u16::try_from(v).unwrap_or(0);
                    let mut q = s.queue.lock().unwrap_or_else(|e| e.into_inner());
                    s.bad_size = q.try_set_size(size).is_err();
                }
            }
            VIRTIO_MMIO_QUEUE_READY => self.with_queue(|q| q.set_ready(v == 1)),
            VIRTIO_MMIO_QUEUE_DESC_LOW => {
                self.with_queue(|q| q.set_desc_table_address(Some(v), None))
            }
            VIRTIO_MMIO_QUEUE_DESC_HIGH => {
                self.with_queue(|q| q.set_desc_table_address(None, Some(v)))
            }
            VIRTIO_MMIO_QUEUE_AVAIL_LOW => {
                self.with_queue(|q| q.set_avail_ring_address(Some(v), None))
            }
            VIRTIO_MMIO_QUEUE_AVAIL_HIGH => {
                self.with_queue(|q| q.set_avail_ring_address(None, Some(v)))
            }
            VIRTIO_MMIO_QUEUE_USED_LOW => {
                self.with_queue(|q| q.set_used_ring_address(Some(v), None))
            }
            VIRTIO_MMIO_QUEUE_USED_HIGH => {
                self.with_queue(|q| q.set_used_ring_address(None, Some(v)))
            }
            VIRTIO_MMIO_QUEUE_NOTIFY => {
                // Reached only without an ioeventfd: signal the queue's eventfd ourselves.
                if let Some(s) = self.slots.get(v as usize) {
                    let _ = s.notify.write(1);
                }
            }
            VIRTIO_MMIO_INTERRUPT_ACK => self.interrupt.ack(v),
            VIRTIO_MMIO_STATUS => self.set_status(v),
            _ => {}
        }
    }
}

impl BusDevice for MmioTransport {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        if offset >= u64::from(VIRTIO_MMIO_CONFIG) {
            self.device
                .read_config(offset - u64::from(VIRTIO_MMIO_CONFIG), data);
            return;
        }
        if data.len() != 4 || !offset.is_multiple_of(4) {
            data.fill(0);
            return;
        }
        data.copy_from_slice(&self.read_reg(offset as u32).to_le_bytes());
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        if offset >= u64::from(VIRTIO_MMIO_CONFIG) {
            self.device
                .write_config(offset - u64::from(VIRTIO_MMIO_CONFIG), data);
            return;
        }
        let Ok(v) = <[u8; 4]>::try_from(data) else {
            return;
        };
        if offset.is_multiple_of(4) {
            self.write_reg(offset as u32, u32::from_le_bytes(v));
        }
    }
}

impl Stateful for MmioTransport {
    fn save_state(&self) -> Vec<u8> {
        let mut w = Writer::new();
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
        w.into_bytes()
    }

    fn restore_state(&mut self, version: u16, data: &[u8]) -> Result<(), StateError> {
        check_version(version, 1)?;
        let mut r = Reader::new(data);
        let status = r.u32("the device status")?;
        let driver_features = r.u64("the accepted features")?;
        let (dfs, drfs, qs) = (
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
        if driver_features & !self.features() != 0 {
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
        let dev = r.blob("the device state")?;
        if !r.is_empty() {
            return Err(StateError::Trailing(r.remaining()));
        }
        self.reset();
        self.device.restore_state(dev_version, dev)?;
        for (s, q) in self.slots.iter().zip(queues) {
            *s.queue.lock().unwrap_or_else(|e| e.into_inner()) = q;
        }
        self.driver_features = driver_features;
        self.device_features_sel = dfs;
        self.driver_features_sel = drfs;
        self.queue_sel = qs;
        self.interrupt.set_status(irq_status);
        if broken {
            self.interrupt.needs_reset(&"restored as needing a reset");
        }
        self.status = status & !VIRTIO_CONFIG_S_NEEDS_RESET;
        if self.status & VIRTIO_CONFIG_S_DRIVER_OK != 0 && !broken {
            self.activate();
        }
        Ok(())
    }
}
