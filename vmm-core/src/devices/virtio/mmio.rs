//! The virtio-mmio transport, version 2 (virtio 1.2, 4.2.2): a 0x200-byte register window, the
//! device's configuration space from 0x100.
//!
//! Registers are 32 bits wide (other accesses below 0x100 are ignored or read as zero). A queue
//! notification reaches the queue's eventfd either directly (an ioeventfd on `QueueNotify`,
//! registered when KVM offers it) or through this device on an MMIO exit. Status, features,
//! queues, activation and reset are the shared [`super::common`]'s.
//!
//! State (section version 1): the shared core's state ([`super::common`]), nothing else.

use super::common::TransportCore;
use super::device::VirtioDevice;
use super::interrupt::VirtioInterrupt;
use super::worker::Worker;
use crate::bus::BusDevice;
use crate::hypervisor::{Datamatch, IoEventAddr, VmOps};
use crate::memory::GuestMemoryMmap;
use crate::snapshot::{check_version, StateError, Stateful};
use crate::wire::{Reader, Writer};
use std::sync::Arc;
use virtio_bindings::virtio_mmio::*;
use virtio_queue::QueueT;
use vm_memory::GuestMemoryAtomic;

/// The register window's length.
pub const MMIO_WINDOW: u64 = 0x200;
/// "virt" in little-endian.
const MAGIC: u32 = 0x7472_6976;
/// The vendor id tetra reports ("TETR").
const VENDOR: u32 = 0x5254_4554;

/// A virtio device behind virtio-mmio registers.
pub struct MmioTransport {
    core: TransportCore,
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
        Ok(MmioTransport {
            core: TransportCore::new(device, mem, worker, interrupt)?,
        })
    }

    /// Registers an ioeventfd for each queue's notification at `base`'s `QueueNotify`, so that a
    /// notification costs no exit to userspace. Returns how many KVM took (0 where it offers none:
    /// the MMIO exit path still works).
    pub fn register_ioeventfds(&self, vm: &dyn VmOps, base: u64) -> usize {
        let at = IoEventAddr::Mmio(base + u64::from(VIRTIO_MMIO_QUEUE_NOTIFY));
        self.core
            .slots
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

    fn read_reg(&self, reg: u32) -> u32 {
        let c = &self.core;
        match reg {
            VIRTIO_MMIO_MAGIC_VALUE => MAGIC,
            VIRTIO_MMIO_VERSION => 2,
            VIRTIO_MMIO_DEVICE_ID => c.device.device_type(),
            VIRTIO_MMIO_VENDOR_ID => VENDOR,
            VIRTIO_MMIO_DEVICE_FEATURES => c.device_features_word(),
            VIRTIO_MMIO_QUEUE_NUM_MAX => c.read_queue(|q| u32::from(q.max_size())),
            VIRTIO_MMIO_QUEUE_READY => c.read_queue(|q| u32::from(q.ready())),
            VIRTIO_MMIO_INTERRUPT_STATUS => c.interrupt.status(),
            VIRTIO_MMIO_STATUS => c.status(),
            VIRTIO_MMIO_CONFIG_GENERATION => 0,
            _ => 0,
        }
    }

    fn write_reg(&mut self, reg: u32, v: u32) {
        let c = &mut self.core;
        match reg {
            VIRTIO_MMIO_DEVICE_FEATURES_SEL => c.device_features_sel = v,
            VIRTIO_MMIO_DRIVER_FEATURES_SEL => c.driver_features_sel = v,
            VIRTIO_MMIO_DRIVER_FEATURES => c.set_driver_features_word(v),
            VIRTIO_MMIO_QUEUE_SEL => c.queue_sel = v,
            VIRTIO_MMIO_QUEUE_NUM => c.set_queue_size(v),
            VIRTIO_MMIO_QUEUE_READY => c.with_queue(|q| q.set_ready(v == 1)),
            VIRTIO_MMIO_QUEUE_DESC_LOW => c.with_queue(|q| q.set_desc_table_address(Some(v), None)),
            VIRTIO_MMIO_QUEUE_DESC_HIGH => {
                c.with_queue(|q| q.set_desc_table_address(None, Some(v)))
            }
            VIRTIO_MMIO_QUEUE_AVAIL_LOW => {
                c.with_queue(|q| q.set_avail_ring_address(Some(v), None))
            }
            VIRTIO_MMIO_QUEUE_AVAIL_HIGH => {
                c.with_queue(|q| q.set_avail_ring_address(None, Some(v)))
            }
            VIRTIO_MMIO_QUEUE_USED_LOW => c.with_queue(|q| q.set_used_ring_address(Some(v), None)),
            VIRTIO_MMIO_QUEUE_USED_HIGH => c.with_queue(|q| q.set_used_ring_address(None, Some(v))),
            // Reached only without an ioeventfd: signal the queue's eventfd ourselves.
            VIRTIO_MMIO_QUEUE_NOTIFY => c.notify(v),
            VIRTIO_MMIO_INTERRUPT_ACK => c.interrupt.ack(v),
            VIRTIO_MMIO_STATUS => c.set_status(v),
            _ => {}
        }
    }
}

impl BusDevice for MmioTransport {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        if offset >= u64::from(VIRTIO_MMIO_CONFIG) {
            self.core
                .device
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
            self.core
                .device
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
        self.core.save(&mut w);
        w.into_bytes()
    }

    fn restore_state(&mut self, version: u16, data: &[u8]) -> Result<(), StateError> {
        check_version(version, 1)?;
        let mut r = Reader::new(data);
        let s = self.core.parse(&mut r)?;
        if !r.is_empty() {
            return Err(StateError::Trailing(r.remaining()));
        }
        self.core.apply(s)
    }
}
