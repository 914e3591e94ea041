//! The virtio-pci transport, modern (virtio 1.2, 4.1): a PCI function `1af4:1040+type`, revision
//! 1, with one 64-bit memory BAR holding the virtio structures and the MSI-X table, and the
//! vendor capabilities that point into it.
//!
//! ```text
//! BAR 0 (32 KiB)  0x0000 common configuration     0x3000 notifications (queue n at n * 4)
//!                 0x1000 ISR status               0x4000 MSI-X table
//!                 0x2000 device configuration     0x5000 MSI-X pending bits
//! ```
//!
//! Every event goes to the MSI-X vector the driver gave it (`msix_config`, `queue_msix_vector`;
//! `VIRTIO_MSI_NO_VECTOR` for none); a vector number past the table reads back as no vector.
//! There is no INTx. The `VIRTIO_PCI_CAP_PCI_CFG` capability reads and writes BAR 0 through
//! configuration space (1, 2 or 4 bytes, aligned, inside the BAR; other windows do nothing). A
//! queue notification reaches the queue's eventfd through an ioeventfd on its
//! notification address (moved with the BAR) or, without one, through this function. Status,
//! features, queues, activation and reset are the shared [`super::common`]'s.
//!
//! Common configuration accesses are answered for any size inside the structure on reads (the
//! bytes of the fields they cover); writes must be the field's own width (a 64-bit ring address
//! also as two 32-bit halves), others are ignored.
//!
//! State (section version 1): the shared core's state, the 256 bytes of configuration space
//! (the guest-writable ones restored: command, BAR addresses, MSI-X control), the MSI-X table
//! and pending bits, the configuration change's vector and each queue's. A restore routes the
//! unmasked vectors and registers the notification ioeventfds at the restored BAR again.

use super::common::TransportCore;
use super::device::{VirtioDevice, VirtioError};
use super::interrupt::{VirtioInterrupt, NO_VECTOR};
use super::worker::Worker;
use crate::devices::pci::config::{ConfigSpace, PciId, CONFIG_LEN};
use crate::devices::pci::msix::{Msix, VectorSink};
use crate::devices::pci::{MsiRouter, PciFunction};
use crate::hypervisor::{IoEventAddr, VmOps};
use crate::memory::GuestMemoryMmap;
use crate::snapshot::{check_version, StateError, Stateful};
use crate::wire::{Reader, Writer};
use std::sync::{Arc, Mutex};
use virtio_queue::QueueT;
use vm_memory::GuestMemoryAtomic;

/// BAR 0's size.
pub const BAR_LEN: u64 = 0x8000;
const COMMON: u64 = 0x0000;
const COMMON_LEN: u64 = 0x38;
const ISR: u64 = 0x1000;
const DEVICE: u64 = 0x2000;
const DEVICE_LEN: u64 = 0x1000;
const NOTIFY: u64 = 0x3000;
const NOTIFY_MULTIPLIER: u32 = 4;
const TABLE: u64 = 0x4000;
const PBA: u64 = 0x5000;

/// The virtio vendor: Red Hat, Inc.
pub const VENDOR: u16 = 0x1af4;
/// Modern device ids are this plus the device type.
pub const DEVICE_BASE: u16 = 0x1040;

const CAP_VENDOR: u8 = 0x09;
const CAP_MSIX: u8 = 0x11;
const CFG_COMMON: u8 = 1;
const CFG_NOTIFY: u8 = 2;
const CFG_ISR: u8 = 3;
const CFG_DEVICE: u8 = 4;
const CFG_PCI: u8 = 5;

/// The class code of each device type (the storage and network ones as such, the rest "other").
fn class(device_type: u32) -> u32 {
    match device_type {
        super::ids::BLOCK => 0x01_00_00,
        super::ids::NET => 0x02_00_00,
        super::ids::CONSOLE => 0x07_80_00,
        _ => 0xff_00_00,
    }
}

/// Whether `len` bytes at `offset` fall inside `[base, base + size)`.
fn within(offset: u64, len: usize, base: u64, size: u64) -> bool {
    offset >= base
        && offset
            .checked_add(len as u64)
            .is_some_and(|e| e <= base + size)
}

/// A virtio structure's capability body (after id and next): length, type, BAR, id, padding,
/// offset and length in the BAR, and `extra`.
fn virtio_cap(cfg_type: u8, offset: u64, len: u64, extra: &[u8]) -> Vec<u8> {
    let mut b = vec![16 + extra.len() as u8, cfg_type, 0, 0, 0, 0];
    b.extend_from_slice(&(offset as u32).to_le_bytes());
    b.extend_from_slice(&(len as u32).to_le_bytes());
    b.extend_from_slice(extra);
    b
}

/// Where a function sits: its requester id, its BAR's first address, the window BARs decode in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Bus, device and function (`bus << 8 | device << 3 | function`).
    pub bdf: u16,
    /// BAR 0's address at reset.
    pub bar: u64,
    /// The PCI MMIO window (`base`, `len`).
    pub window: (u64, u64),
}

/// A virtio device behind virtio-pci.
pub struct PciTransport {
    core: TransportCore,
    config: ConfigSpace,
    msix: Arc<Mutex<Msix>>,
    msix_cap: usize,
    /// The `VIRTIO_PCI_CAP_PCI_CFG` capability's offset.
    pci_cfg: usize,
    window: (u64, u64),
    vm: Option<Arc<dyn VmOps>>,
    /// Where the notification ioeventfds are registered (BAR 0's address then).
    notify_at: Option<u64>,
}

impl PciTransport {
    /// `device` named `name` as function `at`, with one MSI-X vector per queue and one for
    /// configuration changes, from `router`. With `vm`, queue notifications are ioeventfds where
    /// KVM takes them.
    pub fn new(
        name: &str,
        device: Box<dyn VirtioDevice>,
        mem: GuestMemoryAtomic<GuestMemoryMmap>,
        worker: Arc<Worker>,
        router: Arc<dyn MsiRouter>,
        at: Placement,
        vm: Option<Arc<dyn VmOps>>,
    ) -> Result<Self, VirtioError> {
        let queues = device.queue_max_sizes().len();
        let msix = Msix::new(queues + 1, router, u32::from(at.bdf))
            .map_err(|source| VirtioError::Msi { source })?;
        let (table_len, pba_len, vectors) = (msix.table_len(), msix.pba_len(), msix.len());
        let msix = Arc::new(Mutex::new(msix));
        let sink: Arc<dyn VectorSink> = msix.clone();
        let interrupt = Arc::new(VirtioInterrupt::with_vectors(name, sink, queues));
        let device_type = device.device_type();
        let core = TransportCore::new(device, mem, worker, interrupt)?;
        let mut config = ConfigSpace::new(PciId {
            vendor: VENDOR,
            device: DEVICE_BASE + device_type as u16,
            revision: 1,
            class: class(device_type),
            subsystem_vendor: VENDOR,
            subsystem: device_type as u16,
        });
        let full = |e| VirtioError::Activate(format!("its PCI configuration space: {e}"));
        config.add_bar64(0, BAR_LEN, at.bar).map_err(full)?;
        let ro = [0u8; 0];
        for (t, off, len, extra) in [
            (CFG_COMMON, COMMON, COMMON_LEN, &[][..]),
            (
                CFG_NOTIFY,
                NOTIFY,
                queues as u64 * u64::from(NOTIFY_MULTIPLIER),
                &NOTIFY_MULTIPLIER.to_le_bytes()[..],
            ),
            (CFG_ISR, ISR, 1, &[][..]),
            (CFG_DEVICE, DEVICE, DEVICE_LEN, &[][..]),
        ] {
            config
                .add_capability(CAP_VENDOR, &virtio_cap(t, off, len, extra), &ro)
                .map_err(full)?;
        }
        // VIRTIO_PCI_CAP_PCI_CFG: a window into BAR 0 through configuration space (its BAR,
        // offset, length and data fields are the guest's).
        let wmask = [
            0, 0, 0, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ];
        let wmask: Vec<u8> = wmask.iter().chain(&[0xff; 4]).copied().collect();
        let pci_cfg = config
            .add_capability(CAP_VENDOR, &virtio_cap(CFG_PCI, 0, 0, &[0; 4]), &wmask)
            .map_err(full)?;
        let mut body = Vec::new();
        body.extend_from_slice(&(vectors as u16 - 1).to_le_bytes());
        body.extend_from_slice(&(TABLE as u32).to_le_bytes());
        body.extend_from_slice(&(PBA as u32).to_le_bytes());
        // Only enable and function mask are the guest's.
        let wmask = [0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0];
        let msix_cap = config
            .add_capability(CAP_MSIX, &body, &wmask)
            .map_err(full)?;
        debug_assert!(TABLE + table_len <= PBA && PBA + pba_len <= BAR_LEN);
        Ok(PciTransport {
            core,
            config,
            msix,
            msix_cap,
            pci_cfg,
            window: at.window,
            vm,
            notify_at: None,
        })
    }

    /// How often MSI-X vector `v` was sent since the last call (tests).
    #[cfg(test)]
    pub(crate) fn msix_fired(&self, v: usize) -> u64 {
        self.msix().fired(v)
    }

    fn msix(&self) -> std::sync::MutexGuard<'_, Msix> {
        self.msix.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn msix_control(&self) -> u16 {
        let mut b = [0u8; 2];
        self.config.read(self.msix_cap as u64 + 2, &mut b);
        u16::from_le_bytes(b)
    }

    /// Moves the notification ioeventfds to where BAR 0 decodes now (none while it decodes
    /// nowhere, or outside the PCI window).
    fn remap_notify(&mut self) {
        let (wbase, wlen) = self.window;
        let want = self
            .config
            .decoded_bar(0)
            .filter(|(a, s)| *a >= wbase && a.saturating_add(*s) <= wbase.saturating_add(wlen))
            .map(|(a, _)| a);
        if want == self.notify_at {
            return;
        }
        if let Some(vm) = &self.vm {
            let at = |base: u64, i: usize| {
                IoEventAddr::Mmio(base + NOTIFY + i as u64 * u64::from(NOTIFY_MULTIPLIER))
            };
            for (i, s) in self.core.slots.iter().enumerate() {
                if let Some(old) = self.notify_at {
                    let _ = vm.unregister_ioeventfd(&s.notify, at(old, i), None);
                }
                if let Some(new) = want {
                    // Without it, the notification exits and reaches `write_bar`.
                    let _ = vm.register_ioeventfd(&s.notify, at(new, i), None);
                }
            }
        }
        self.notify_at = want;
    }

    fn common_image(&self) -> [u8; COMMON_LEN as usize] {
        let c = &self.core;
        let i = &c.interrupt;
        let sel = c.queue_sel as u16;
        let mut b = [0u8; COMMON_LEN as usize];
        let mut put = |at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
        put(0x00, &c.device_features_sel.to_le_bytes());
        put(0x04, &c.device_features_word().to_le_bytes());
        put(0x08, &c.driver_features_sel.to_le_bytes());
        put(0x0c, &c.driver_features_word().to_le_bytes());
        put(0x10, &i.config_vector().to_le_bytes());
        put(0x12, &(c.slots.len() as u16).to_le_bytes());
        put(0x14, &[c.status() as u8]);
        put(0x16, &sel.to_le_bytes());
        if c.selected().is_some() {
            put(
                0x18,
                &(c.read_queue(|q| u32::from(q.size())) as u16).to_le_bytes(),
            );
            put(0x1a, &i.queue_vector(sel).to_le_bytes());
            put(
                0x1c,
                &(c.read_queue(|q| u32::from(q.ready())) as u16).to_le_bytes(),
            );
            put(0x1e, &sel.to_le_bytes());
            let q = c.selected().expect("checked").queue.clone();
            let q = q.lock().unwrap_or_else(|e| e.into_inner());
            put(0x20, &q.desc_table().to_le_bytes());
            put(0x28, &q.avail_ring().to_le_bytes());
            put(0x30, &q.used_ring().to_le_bytes());
        }
        b
    }

    /// A vector number the driver may give: one of the table's, or none.
    fn vector(&self, v: u16) -> u16 {
        if usize::from(v) < self.msix().len() {
            v
        } else {
            NO_VECTOR
        }
    }

    fn write_common(&mut self, offset: u64, data: &[u8]) {
        let v = match *data {
            [a] => u64::from(a),
            [a, b] => u64::from(u16::from_le_bytes([a, b])),
            [a, b, c, d] => u64::from(u32::from_le_bytes([a, b, c, d])),
            _ => match <[u8; 8]>::try_from(data) {
                Ok(b) => u64::from_le_bytes(b),
                Err(_) => return,
            },
        };
        let (lo, hi) = (Some(v as u32), Some((v >> 32) as u32));
        let sel = self.core.queue_sel as u16;
        let c = &mut self.core;
        match (offset, data.len()) {
            (0x00, 4) => c.device_features_sel = v as u32,
            (0x08, 4) => c.driver_features_sel = v as u32,
            (0x0c, 4) => c.set_driver_features_word(v as u32),
            (0x10, 2) => {
                let vec = self.vector(v as u16);
                self.core.interrupt.set_config_vector(vec);
            }
            (0x14, 1) => {
                c.set_status(v as u32);
                if v == 0 {
                    self.reset_vectors();
                }
            }
            (0x16, 2) => c.queue_sel = v as u32,
            (0x18, 2) => c.set_queue_size(v as u32),
            (0x1a, 2) => {
                let vec = self.vector(v as u16);
                self.core.interrupt.set_queue_vector(sel, vec);
            }
            (0x1c, 2) if v == 1 => c.with_queue(|q| q.set_ready(true)),
            (0x20, 4) => c.with_queue(|q| q.set_desc_table_address(lo, None)),
            (0x24, 4) => c.with_queue(|q| q.set_desc_table_address(None, lo)),
            (0x20, 8) => c.with_queue(|q| q.set_desc_table_address(lo, hi)),
            (0x28, 4) => c.with_queue(|q| q.set_avail_ring_address(lo, None)),
            (0x2c, 4) => c.with_queue(|q| q.set_avail_ring_address(None, lo)),
            (0x28, 8) => c.with_queue(|q| q.set_avail_ring_address(lo, hi)),
            (0x30, 4) => c.with_queue(|q| q.set_used_ring_address(lo, None)),
            (0x34, 4) => c.with_queue(|q| q.set_used_ring_address(None, lo)),
            (0x30, 8) => c.with_queue(|q| q.set_used_ring_address(lo, hi)),
            _ => {}
        }
    }

    fn reset_vectors(&self) {
        let i = &self.core.interrupt;
        i.set_config_vector(NO_VECTOR);
        for q in 0..self.core.slots.len() {
            i.set_queue_vector(q as u16, NO_VECTOR);
        }
    }
}

impl PciTransport {
    /// The `VIRTIO_PCI_CAP_PCI_CFG` window if an access at `offset` of `len` bytes touches its
    /// data field and it names 1, 2 or 4 bytes inside BAR 0: the BAR offset and length.
    fn pci_cfg_window(&self, offset: u64, len: usize) -> Option<(u64, usize)> {
        let data = (self.pci_cfg + 16) as u64;
        if offset + len as u64 <= data || offset >= data + 4 {
            return None;
        }
        let b = self.config.bytes();
        let at = self.pci_cfg;
        let field = |o: usize| u32::from_le_bytes(b[at + o..at + o + 4].try_into().expect("4"));
        let (bar, off, n) = (b[at + 4], u64::from(field(8)), field(12) as usize);
        (bar == 0
            && matches!(n, 1 | 2 | 4)
            && off.is_multiple_of(n as u64)
            && off + n as u64 <= BAR_LEN)
            .then_some((off, n))
    }
}

impl PciFunction for PciTransport {
    fn config(&self) -> &ConfigSpace {
        &self.config
    }

    fn read_config(&mut self, offset: u64, data: &mut [u8]) {
        if let Some((off, n)) = self.pci_cfg_window(offset, data.len()) {
            let mut buf = [0u8; 4];
            self.read_bar(0, off, &mut buf[..n]);
            self.config.set_bytes(self.pci_cfg + 16, &buf);
        }
        self.config.read(offset, data);
    }

    fn write_config(&mut self, offset: u64, data: &[u8]) {
        let control = self.msix_control();
        if !self.config.write(offset, data) {
            return;
        }
        if let Some((off, n)) = self.pci_cfg_window(offset, data.len()) {
            let at = self.pci_cfg + 16;
            let buf: [u8; 4] = self.config.bytes()[at..at + 4].try_into().expect("4 bytes");
            self.write_bar(0, off, &buf[..n]);
        }
        let now = self.msix_control();
        if now != control {
            self.msix().set_control(now);
        }
        self.remap_notify();
    }

    fn read_bar(&mut self, bar: usize, offset: u64, data: &mut [u8]) {
        data.fill(0);
        if bar != 0 {
            return;
        }
        let inside = |base, size| within(offset, data.len(), base, size);
        if inside(COMMON, COMMON_LEN) {
            let img = self.common_image();
            let at = (offset - COMMON) as usize;
            data.copy_from_slice(&img[at..at + data.len()]);
        } else if offset == ISR {
            // Reading the ISR status acknowledges it.
            let s = self.core.interrupt.status();
            self.core.interrupt.ack(s);
            data[0] = s as u8;
        } else if inside(DEVICE, DEVICE_LEN) {
            self.core.device.read_config(offset - DEVICE, data);
        } else if inside(TABLE, PBA - TABLE) {
            self.msix().read_table(offset - TABLE, data);
        } else if inside(PBA, BAR_LEN - PBA) {
            self.msix().read_pba(offset - PBA, data);
        }
    }

    fn write_bar(&mut self, bar: usize, offset: u64, data: &[u8]) {
        if bar != 0 {
            return;
        }
        let inside = |base, size| within(offset, data.len(), base, size);
        if inside(COMMON, COMMON_LEN) {
            self.write_common(offset - COMMON, data);
        } else if inside(DEVICE, DEVICE_LEN) {
            self.core.device.write_config(offset - DEVICE, data);
        } else if inside(NOTIFY, TABLE - NOTIFY) {
            // Reached only without an ioeventfd: signal the queue's eventfd ourselves.
            let rel = offset - NOTIFY;
            if rel.is_multiple_of(u64::from(NOTIFY_MULTIPLIER)) {
                self.core
                    .notify((rel / u64::from(NOTIFY_MULTIPLIER)) as u32);
            }
        } else if inside(TABLE, PBA - TABLE) {
            self.msix().write_table(offset - TABLE, data);
        }
    }
}

impl Stateful for PciTransport {
    fn save_state(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.core.save(&mut w);
        w.bytes(self.config.bytes());
        self.msix().save(&mut w);
        let i = &self.core.interrupt;
        w.u16(i.config_vector());
        for q in 0..self.core.slots.len() {
            w.u16(i.queue_vector(q as u16));
        }
        w.into_bytes()
    }

    fn restore_state(&mut self, version: u16, data: &[u8]) -> Result<(), StateError> {
        check_version(version, 1)?;
        let mut r = Reader::new(data);
        let core = self.core.parse(&mut r)?;
        let config: [u8; CONFIG_LEN] = r.array("the PCI configuration space")?;
        let msix = self.msix().parse(&mut r)?;
        let n = self.msix().len();
        let mut vectors = Vec::with_capacity(self.core.slots.len() + 1);
        for _ in 0..=self.core.slots.len() {
            let v = r.u16("an MSI-X vector number")?;
            if v != NO_VECTOR && usize::from(v) >= n {
                return Err(StateError::Invalid(format!(
                    "MSI-X vector {v} of a table of {n}"
                )));
            }
            vectors.push(v);
        }
        if !r.is_empty() {
            return Err(StateError::Trailing(r.remaining()));
        }
        self.config.restore(&config);
        self.msix().apply(msix);
        let i = self.core.interrupt.clone();
        i.set_config_vector(vectors[0]);
        for (q, v) in vectors[1..].iter().enumerate() {
            i.set_queue_vector(q as u16, *v);
        }
        self.core.apply(core)?;
        self.remap_notify();
        Ok(())
    }
}
