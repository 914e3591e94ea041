//! Interrupt lines: how a device model raises its interrupt without knowing the interrupt
//! controller behind it (after vm-superio's injected `Trigger`).
//!
//! A device gets an [`InterruptLine`] from the arch's [`InterruptRouter`] when it is placed
//! ([`super::Devices::add`]). The default router, [`KvmRouter`], routes through KVM: an edge is an
//! irqfd on the line's GSI (a write to an eventfd, no exit), a level is `KVM_IRQ_LINE`. An arch
//! whose interrupt controller lives in userspace (BookE's MPIC model) supplies its own router.

use crate::hypervisor::{HvError, VmOps};
use std::io;
use std::sync::Arc;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// How a line signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A pulse per event (a 16550's interrupt through an irqfd).
    Edge,
    /// Asserted until the device deasserts it.
    Level,
}

/// One interrupt input of the interrupt controller, as a device sees it.
pub trait InterruptLine: Send + Sync {
    /// Signals an edge (a pulse).
    fn trigger(&self) -> io::Result<()>;
    /// Asserts or deasserts a level. An edge-only line pulses on assert.
    fn set_level(&self, active: bool) -> io::Result<()> {
        if active {
            self.trigger()
        } else {
            Ok(())
        }
    }
}

/// Makes the line behind interrupt number `irq` (the arch's numbering: an x86 GSI, an arm64 SPI,
/// an MPIC source).
pub trait InterruptRouter {
    /// The line for `irq`, signalling as `trigger`.
    fn line(&self, irq: u32, trigger: Trigger) -> Result<Arc<dyn InterruptLine>, HvError>;
}

/// An edge line on an eventfd that KVM injects from (an irqfd).
pub struct IrqfdLine {
    fd: EventFd,
}

impl IrqfdLine {
    /// A new eventfd, registered with `vm` as the irqfd of `gsi`.
    pub fn new(vm: &dyn VmOps, gsi: u32) -> Result<Self, HvError> {
        let fd = EventFd::new(EFD_NONBLOCK).map_err(|source| HvError::Ioctl {
            op: "eventfd",
            source,
        })?;
        vm.register_irqfd(&fd, gsi)?;
        Ok(IrqfdLine { fd })
    }

    /// The eventfd.
    pub fn eventfd(&self) -> &EventFd {
        &self.fd
    }
}

impl InterruptLine for IrqfdLine {
    fn trigger(&self) -> io::Result<()> {
        self.fd.write(1)
    }
}

/// A level line driven with `KVM_IRQ_LINE`.
pub struct KvmLevelLine {
    vm: Arc<dyn VmOps>,
    irq: u32,
}

impl InterruptLine for KvmLevelLine {
    fn trigger(&self) -> io::Result<()> {
        self.set_level(true)?;
        self.set_level(false)
    }

    fn set_level(&self, active: bool) -> io::Result<()> {
        self.vm
            .set_irq_line(self.irq, active)
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

/// Routes through KVM's in-kernel interrupt controller: edges through irqfds, levels through
/// `KVM_IRQ_LINE`. The interrupt number is the GSI.
pub struct KvmRouter(pub Arc<dyn VmOps>);

impl InterruptRouter for KvmRouter {
    fn line(&self, irq: u32, trigger: Trigger) -> Result<Arc<dyn InterruptLine>, HvError> {
        Ok(match trigger {
            Trigger::Edge => Arc::new(IrqfdLine::new(&*self.0, irq)?),
            Trigger::Level => Arc::new(KvmLevelLine {
                vm: self.0.clone(),
                irq,
            }),
        })
    }
}

/// Routes like [`KvmRouter`], but registers its irqfds only when told to ([`Self::register`]):
/// for an interrupt controller that takes irqfds only once it is initialised (arm64's vGIC, after
/// every vCPU exists). An edge before then is kept by the eventfd and delivered at registration.
pub struct DeferredIrqfds {
    vm: Arc<dyn VmOps>,
    /// The irqfds not registered yet; `None` once [`Self::register`] ran (later lines register
    /// at once).
    pending: std::sync::Mutex<Option<Vec<(EventFd, u32)>>>,
}

impl DeferredIrqfds {
    /// A router for `vm` with nothing registered yet.
    pub fn new(vm: Arc<dyn VmOps>) -> Self {
        DeferredIrqfds {
            vm,
            pending: std::sync::Mutex::new(Some(Vec::new())),
        }
    }

    /// Registers every irqfd made so far with KVM; lines made after this register at once.
    pub fn register(&self) -> Result<(), HvError> {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_default();
        for (fd, gsi) in pending {
            self.vm.register_irqfd(&fd, gsi)?;
        }
        Ok(())
    }
}

impl InterruptRouter for DeferredIrqfds {
    fn line(&self, irq: u32, trigger: Trigger) -> Result<Arc<dyn InterruptLine>, HvError> {
        Ok(match trigger {
            Trigger::Edge => {
                let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                let Some(pending) = pending.as_mut() else {
                    return Ok(Arc::new(IrqfdLine::new(&*self.vm, irq)?));
                };
                let fd = EventFd::new(EFD_NONBLOCK).map_err(|source| HvError::Ioctl {
                    op: "eventfd",
                    source,
                })?;
                let dup = fd.try_clone().map_err(|source| HvError::Ioctl {
                    op: "dup(eventfd)",
                    source,
                })?;
                pending.push((dup, irq));
                Arc::new(IrqfdLine { fd })
            }
            Trigger::Level => Arc::new(KvmLevelLine {
                vm: self.vm.clone(),
                irq,
            }),
        })
    }
}

/// A line that goes nowhere, for a device whose interrupt the platform does not wire yet (the
/// guest polls it).
pub struct Unwired;

impl InterruptLine for Unwired {
    fn trigger(&self) -> io::Result<()> {
        Ok(())
    }
}

/// A router whose lines go nowhere: for planning a device list without a VM (tests, tools).
pub struct NoRouter;

impl InterruptRouter for NoRouter {
    fn line(&self, _irq: u32, _trigger: Trigger) -> Result<Arc<dyn InterruptLine>, HvError> {
        Ok(Arc::new(Unwired))
    }
}

/// A line that counts its edges on an eventfd nobody injects from: tests read it back.
pub struct EventLine(pub EventFd);

impl EventLine {
    /// A new non-blocking eventfd.
    pub fn new() -> io::Result<Self> {
        Ok(EventLine(EventFd::new(EFD_NONBLOCK)?))
    }
}

impl InterruptLine for EventLine {
    fn trigger(&self) -> io::Result<()> {
        self.0.write(1)
    }
}

/// vm-superio's interrupt trigger, on a line.
pub struct LineTrigger(pub Arc<dyn InterruptLine>);

impl vm_superio::Trigger for LineTrigger {
    type E = io::Error;
    fn trigger(&self) -> io::Result<()> {
        self.0.trigger()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_line_counts_edges_and_unwired_swallows_them() {
        let l = EventLine::new().unwrap();
        l.trigger().unwrap();
        l.set_level(true).unwrap();
        l.set_level(false).unwrap();
        assert_eq!(l.0.read().unwrap(), 2);
        assert!(Unwired.set_level(true).is_ok());
    }
}
