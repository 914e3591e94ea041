//! MSI delivery through KVM: each vector is a GSI with an MSI route (`KVM_SET_GSI_ROUTING`) and
//! an irqfd on that GSI, so a device signals it with one eventfd write and no exit.
//!
//! `KVM_SET_GSI_ROUTING` replaces the whole table, so [`KvmMsiRouter`] keeps it whole: the
//! platform's own routes (x86: the PIC and IOAPIC pins of the in-kernel irqchip; arm64: the GIC's
//! SPIs) and every MSI route, written together at each change.
//!
//! arm64's vGIC takes routes and irqfds only once it is initialised (after every vCPU exists, and
//! its initialisation installs a default table): a [`KvmMsiRouter::deferred`] router keeps both
//! until [`KvmMsiRouter::activate`], and [`KvmMsiRouter::reapply`] writes the table again (a
//! restore, once the ITS has its tables back).

use crate::hypervisor::{GsiRoute, HvError, VmOps};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// An MSI message as a function's MSI-X table holds it, and the requester id it comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsiMessage {
    /// The message address.
    pub address: u64,
    /// The message data.
    pub data: u32,
    /// The requester id (bus << 8 | device << 3 | function).
    pub devid: u32,
}

/// One MSI vector: its GSI and the eventfd that signals it.
pub struct MsiVector {
    /// The GSI (the routing table's key).
    pub gsi: u32,
    /// Writing it signals the vector.
    pub fd: EventFd,
}

/// Makes MSI vectors and points them at messages.
pub trait MsiRouter: Send + Sync {
    /// A new vector, routed nowhere useful until [`MsiRouter::route`].
    fn vector(&self) -> Result<MsiVector, HvError>;
    /// Sends vector `gsi` as `msg`.
    fn route(&self, gsi: u32, msg: MsiMessage) -> Result<(), HvError>;
}

struct Table {
    msi: BTreeMap<u32, GsiRoute>,
    next: u32,
    /// The irqfds not registered yet; `None` once the router is active.
    pending: Option<Vec<(EventFd, u32)>>,
}

/// KVM's GSI routing table, whole: the platform's routes and the MSI routes.
pub struct KvmMsiRouter {
    vm: Arc<dyn VmOps>,
    base: Vec<GsiRoute>,
    table: Mutex<Table>,
    end: u32,
    devid: bool,
}

impl KvmMsiRouter {
    /// Sets `vm`'s routing to `base` and keeps it; MSI vectors get GSIs from `first` to below
    /// `end`. With `devid`, MSI routes carry the requester id (`KVM_MSI_VALID_DEVID`, for an
    /// interrupt controller that translates by device, arm64's ITS).
    pub fn new(
        vm: Arc<dyn VmOps>,
        base: Vec<GsiRoute>,
        first: u32,
        end: u32,
        devid: bool,
    ) -> Result<Self, HvError> {
        vm.set_gsi_routing(&base)?;
        let r = Self::deferred(vm, base, first, end, devid);
        r.lock().pending = None;
        Ok(r)
    }

    /// Like [`KvmMsiRouter::new`], but writes nothing to KVM (no routing table, no irqfd) until
    /// [`KvmMsiRouter::activate`]: for arm64, whose vGIC takes them only once initialised.
    pub fn deferred(
        vm: Arc<dyn VmOps>,
        base: Vec<GsiRoute>,
        first: u32,
        end: u32,
        devid: bool,
    ) -> Self {
        KvmMsiRouter {
            vm,
            base,
            table: Mutex::new(Table {
                msi: BTreeMap::new(),
                next: first,
                pending: Some(Vec::new()),
            }),
            end,
            devid,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the whole table and registers every irqfd made so far; later changes go to KVM at
    /// once. A second call only writes the table again.
    pub fn activate(&self) -> Result<(), HvError> {
        let mut t = self.lock();
        let pending = t.pending.take();
        if let Err(e) = self.apply(&t) {
            t.pending = pending;
            return Err(e);
        }
        for (fd, gsi) in pending.unwrap_or_default() {
            self.vm.register_irqfd(&fd, gsi)?;
        }
        Ok(())
    }

    /// Writes the whole table again (an active router; a deferred one writes nothing yet).
    pub fn reapply(&self) -> Result<(), HvError> {
        let t = self.lock();
        if t.pending.is_some() {
            return Ok(());
        }
        self.apply(&t)
    }

    fn apply(&self, t: &Table) -> Result<(), HvError> {
        if t.pending.is_some() {
            return Ok(());
        }
        let mut all = self.base.clone();
        all.extend(t.msi.values().copied());
        self.vm.set_gsi_routing(&all)
    }

    fn msi(&self, gsi: u32, msg: MsiMessage) -> GsiRoute {
        GsiRoute::Msi {
            gsi,
            address: msg.address,
            data: msg.data,
            devid: self.devid.then_some(msg.devid),
        }
    }
}

impl MsiRouter for KvmMsiRouter {
    fn vector(&self) -> Result<MsiVector, HvError> {
        let mut t = self.lock();
        if t.next >= self.end {
            return Err(HvError::Unsupported(
                "more MSI vectors than the GSI table holds",
            ));
        }
        let gsi = t.next;
        let fd = EventFd::new(EFD_NONBLOCK).map_err(|source| HvError::Ioctl {
            op: "eventfd",
            source,
        })?;
        // A route before the irqfd: the irqfd then binds to an MSI route.
        let placeholder = MsiMessage {
            address: 0,
            data: 0,
            devid: 0,
        };
        t.msi.insert(gsi, self.msi(gsi, placeholder));
        if let Err(e) = self.apply(&t) {
            t.msi.remove(&gsi);
            return Err(e);
        }
        match t.pending.as_mut() {
            Some(pending) => {
                let dup = fd.try_clone().map_err(|source| HvError::Ioctl {
                    op: "dup(eventfd)",
                    source,
                })?;
                pending.push((dup, gsi));
            }
            None => self.vm.register_irqfd(&fd, gsi)?,
        }
        t.next += 1;
        Ok(MsiVector { gsi, fd })
    }

    fn route(&self, gsi: u32, msg: MsiMessage) -> Result<(), HvError> {
        let mut t = self.lock();
        if !t.msi.contains_key(&gsi) {
            return Err(HvError::Unsupported(
                "routing a GSI that is not an MSI vector",
            ));
        }
        let old = t.msi.insert(gsi, self.msi(gsi, msg));
        let r = self.apply(&t);
        if r.is_err() {
            if let Some(o) = old {
                t.msi.insert(gsi, o);
            }
        }
        r
    }
}

/// A router for tests: vectors are plain eventfds, routes are recorded.
#[derive(Default)]
pub struct RecordingRouter {
    /// Every route set, in order.
    pub routes: Mutex<Vec<(u32, MsiMessage)>>,
    next: Mutex<u32>,
}

impl MsiRouter for RecordingRouter {
    fn vector(&self) -> Result<MsiVector, HvError> {
        let mut n = self.next.lock().unwrap_or_else(|e| e.into_inner());
        *n += 1;
        Ok(MsiVector {
            gsi: 23 + *n,
            fd: EventFd::new(EFD_NONBLOCK).map_err(|source| HvError::Ioctl {
                op: "eventfd",
                source,
            })?,
        })
    }

    fn route(&self, gsi: u32, msg: MsiMessage) -> Result<(), HvError> {
        self.routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((gsi, msg));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hypervisor::{Datamatch, IoEventAddr, MemorySlot};

    /// A VM that records the routing tables and irqfds it is given.
    #[derive(Default)]
    struct Rec {
        tables: Mutex<Vec<Vec<GsiRoute>>>,
        irqfds: Mutex<Vec<u32>>,
    }

    impl VmOps for Rec {
        fn max_vcpus(&self) -> u32 {
            1
        }
        fn check_extension(&self, _: u32) -> i32 {
            0
        }
        unsafe fn set_memory_slot(&self, _: &MemorySlot) -> Result<(), HvError> {
            Ok(())
        }
        fn dirty_log(&self, _: u32, _: u64) -> Result<Vec<u64>, HvError> {
            Ok(Vec::new())
        }
        fn register_irqfd(&self, _: &EventFd, gsi: u32) -> Result<(), HvError> {
            self.irqfds.lock().unwrap().push(gsi);
            Ok(())
        }
        fn register_ioeventfd(
            &self,
            _: &EventFd,
            _: IoEventAddr,
            _: Option<Datamatch>,
        ) -> Result<(), HvError> {
            Ok(())
        }
        fn set_gsi_routing(&self, routes: &[GsiRoute]) -> Result<(), HvError> {
            self.tables.lock().unwrap().push(routes.to_vec());
            Ok(())
        }
        fn set_irq_line(&self, _: u32, _: bool) -> Result<(), HvError> {
            Ok(())
        }
    }

    fn spi(gsi: u32) -> GsiRoute {
        GsiRoute::Irqchip {
            gsi,
            irqchip: 0,
            pin: gsi,
        }
    }

    #[test]
    fn a_deferred_router_writes_nothing_until_activated_then_everything() {
        let vm = Arc::new(Rec::default());
        let r = KvmMsiRouter::deferred(vm.clone(), vec![spi(0), spi(1)], 256, 258, true);
        let a = r.vector().unwrap();
        let b = r.vector().unwrap();
        assert_eq!((a.gsi, b.gsi), (256, 257));
        assert!(r.vector().is_err(), "the GSI range is used up");
        let msg = MsiMessage {
            address: 0x0808_0040,
            data: 3,
            devid: 0x10,
        };
        r.route(257, msg).unwrap();
        r.reapply().unwrap();
        assert!(vm.tables.lock().unwrap().is_empty());
        assert!(vm.irqfds.lock().unwrap().is_empty());
        // A signal before activation waits in the eventfd, which KVM then reads.
        b.fd.write(1).unwrap();

        r.activate().unwrap();
        assert_eq!(*vm.irqfds.lock().unwrap(), [256, 257]);
        let tables = vm.tables.lock().unwrap().clone();
        assert_eq!(tables.len(), 1);
        assert_eq!(
            tables[0],
            [
                spi(0),
                spi(1),
                GsiRoute::Msi {
                    gsi: 256,
                    address: 0,
                    data: 0,
                    devid: Some(0),
                },
                GsiRoute::Msi {
                    gsi: 257,
                    address: 0x0808_0040,
                    data: 3,
                    devid: Some(0x10),
                },
            ]
        );
        // Active: a route goes to KVM at once, and reapply writes the same table again.
        r.route(256, MsiMessage { devid: 0x18, ..msg }).unwrap();
        r.reapply().unwrap();
        let tables = vm.tables.lock().unwrap().clone();
        assert_eq!(tables.len(), 3);
        assert_eq!(tables[1], tables[2]);
        assert_eq!(
            tables[2][2],
            GsiRoute::Msi {
                gsi: 256,
                address: 0x0808_0040,
                data: 3,
                devid: Some(0x18),
            }
        );
        assert_eq!(vm.irqfds.lock().unwrap().len(), 2, "no irqfd twice");
    }

    #[test]
    fn an_immediate_router_without_devid_registers_at_once() {
        let vm = Arc::new(Rec::default());
        let r = KvmMsiRouter::new(vm.clone(), vec![spi(5)], 24, 100, false).unwrap();
        assert_eq!(vm.tables.lock().unwrap().len(), 1);
        let v = r.vector().unwrap();
        assert_eq!(*vm.irqfds.lock().unwrap(), [24]);
        r.route(
            v.gsi,
            MsiMessage {
                address: 0xfee0_0000,
                data: 0x41,
                devid: 8,
            },
        )
        .unwrap();
        let last = vm.tables.lock().unwrap().last().unwrap().clone();
        assert_eq!(
            last,
            [
                spi(5),
                GsiRoute::Msi {
                    gsi: 24,
                    address: 0xfee0_0000,
                    data: 0x41,
                    devid: None,
                }
            ]
        );
        assert!(r.route(99, last_msg()).is_err(), "not a vector");
    }

    fn last_msg() -> MsiMessage {
        MsiMessage {
            address: 0,
            data: 0,
            devid: 0,
        }
    }
}
