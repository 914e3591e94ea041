//! Device interrupt lines on the XICS: a line's source is created in the ICS when the line is
//! made (masked, server 0, its trigger), and raised through KVM: an edge through an irqfd, a
//! level through `KVM_IRQ_LINE`. On Book3S the GSI of an irqfd or `KVM_IRQ_LINE` is the XICS
//! source number, with no routing table to set up.

use super::source::Xics;
use std::sync::Arc;
use vmm_core::devices::{InterruptLine, InterruptRouter, KvmRouter, Trigger};
use vmm_core::hypervisor::{HvError, VmOps};

/// Routes device lines to XICS sources.
pub struct XicsRouter {
    xics: Arc<Xics>,
    kvm: KvmRouter,
}

impl XicsRouter {
    /// A router creating its sources in `xics` and raising them on `vm`.
    pub fn new(xics: Arc<Xics>, vm: Arc<dyn VmOps>) -> Self {
        XicsRouter {
            xics,
            kvm: KvmRouter(vm),
        }
    }

    /// The ICS.
    pub fn xics(&self) -> &Arc<Xics> {
        &self.xics
    }
}

impl InterruptRouter for XicsRouter {
    fn line(&self, irq: u32, trigger: Trigger) -> Result<Arc<dyn InterruptLine>, HvError> {
        self.xics.claim(irq, trigger).map_err(|e| e.source)?;
        self.kvm.line(irq, trigger)
    }
}
