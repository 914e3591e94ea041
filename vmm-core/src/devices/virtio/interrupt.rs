//! A virtio device's interrupt: the status bits the transport shows the driver (used buffer,
//! configuration change) and the line that signals them; and the device's "needs reset" state,
//! set when the driver broke the rules.

use crate::devices::irq::InterruptLine;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use virtio_bindings::virtio_mmio::{VIRTIO_MMIO_INT_CONFIG, VIRTIO_MMIO_INT_VRING};

/// The interrupt and health of one device, shared by its transport and its handler.
pub struct VirtioInterrupt {
    status: AtomicU32,
    line: Arc<dyn InterruptLine>,
    broken: AtomicBool,
    name: String,
}

impl VirtioInterrupt {
    /// The interrupt of device `name`, signalled on `line`.
    pub fn new(name: impl Into<String>, line: Arc<dyn InterruptLine>) -> Self {
        VirtioInterrupt {
            status: AtomicU32::new(0),
            line,
            broken: AtomicBool::new(false),
            name: name.into(),
        }
    }

    fn raise(&self, bit: u32) {
        self.status.fetch_or(bit, Ordering::SeqCst);
        // A failed signal (the interrupt controller went away with the VM) loses an interrupt
        // the guest can no longer take.
        let _ = self.line.trigger();
    }

    /// Signals that the device put buffers in a used ring.
    pub fn used(&self) {
        self.raise(VIRTIO_MMIO_INT_VRING);
    }

    /// Signals that the configuration space changed.
    pub fn config_changed(&self) {
        self.raise(VIRTIO_MMIO_INT_CONFIG);
    }

    /// The pending status bits.
    pub fn status(&self) -> u32 {
        self.status.load(Ordering::SeqCst)
    }

    /// The driver acknowledged `bits`.
    pub fn ack(&self, bits: u32) {
        self.status.fetch_and(!bits, Ordering::SeqCst);
    }

    /// Restores the pending bits (a snapshot's).
    pub fn set_status(&self, bits: u32) {
        self.status.store(bits, Ordering::SeqCst);
    }

    /// The driver broke the device's rules: the device stops serving, shows
    /// `DEVICE_NEEDS_RESET` and tells the driver through a configuration change. Logged once
    /// per breakage; the VM and the other devices go on.
    pub fn needs_reset(&self, why: &dyn std::fmt::Display) {
        if !self.broken.swap(true, Ordering::SeqCst) {
            eprintln!(
                "tetra: virtio {}: {why}; the device needs a reset",
                self.name
            );
            self.config_changed();
        }
    }

    /// Whether the device needs a reset.
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::SeqCst)
    }

    /// The driver reset the device: no status pending, healthy again.
    pub fn reset(&self) {
        self.status.store(0, Ordering::SeqCst);
        self.broken.store(false, Ordering::SeqCst);
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::irq::EventLine;

    #[test]
    fn status_bits_edges_and_reset() {
        let line = Arc::new(EventLine::new().unwrap());
        let i = VirtioInterrupt::new("t", line.clone());
        i.used();
        i.config_changed();
        assert_eq!(i.status(), 3);
        assert_eq!(line.0.read().unwrap(), 2);
        i.ack(1);
        assert_eq!(i.status(), 2);
        i.needs_reset(&"a loop");
        i.needs_reset(&"again");
        assert!(i.is_broken());
        assert_eq!(
            line.0.read().unwrap(),
            1,
            "one config interrupt for one breakage"
        );
        i.reset();
        assert!(!i.is_broken());
        assert_eq!(i.status(), 0);
    }
}
