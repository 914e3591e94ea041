//! MSI delivery through KVM: each vector is a GSI with an MSI route (`KVM_SET_GSI_ROUTING`) and
//! an irqfd on that GSI, so a device signals it with one eventfd write and no exit.
//!
//! `KVM_SET_GSI_ROUTING` replaces the whole table, so [`KvmMsiRouter`] keeps it whole: the
//! platform's own routes (x86: the PIC and IOAPIC pins of the in-kernel irqchip) and every MSI
//! route, written together at each change.

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
        Ok(KvmMsiRouter {
            vm,
            base,
            table: Mutex::new(Table {
                msi: BTreeMap::new(),
                next: first,
            }),
            end,
            devid,
        })
    }

    fn apply(&self, t: &Table) -> Result<(), HvError> {
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
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
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
        self.vm.register_irqfd(&fd, gsi)?;
        t.next += 1;
        Ok(MsiVector { gsi, fd })
    }

    fn route(&self, gsi: u32, msg: MsiMessage) -> Result<(), HvError> {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
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
