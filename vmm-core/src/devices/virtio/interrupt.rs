//! A virtio device's interrupt: the status bits the transport shows the driver (used buffer,
//! configuration change) and the line that signals them; and the device's "needs reset" state,
//! set when the driver broke the rules.

use crate::devices::irq::{InterruptLine, Unwired};
use crate::devices::pci::msix::VectorSink;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, Ordering};
use std::sync::Arc;
use virtio_bindings::virtio_mmio::{VIRTIO_MMIO_INT_CONFIG, VIRTIO_MMIO_INT_VRING};

/// `VIRTIO_MSI_NO_VECTOR`: an event with no MSI-X vector is not signalled.
pub const NO_VECTOR: u16 = 0xffff;

/// MSI-X vectors (virtio-pci): which vector each queue and the configuration change use.
struct Vectors {
    sink: Arc<dyn VectorSink>,
    config: AtomicU16,
    queues: Vec<AtomicU16>,
}

/// The interrupt and health of one device, shared by its transport and its handler.
pub struct VirtioInterrupt {
    status: AtomicU32,
    line: Arc<dyn InterruptLine>,
    vectors: Option<Vectors>,
    broken: AtomicBool,
    name: String,
}

impl VirtioInterrupt {
    /// The interrupt of device `name`, signalled on `line`.
    pub fn new(name: impl Into<String>, line: Arc<dyn InterruptLine>) -> Self {
        VirtioInterrupt {
            status: AtomicU32::new(0),
            line,
            vectors: None,
            broken: AtomicBool::new(false),
            name: name.into(),
        }
    }

    /// The interrupt of device `name` with `queues` queues, signalled on MSI-X vectors through
    /// `sink`; every event starts with no vector ([`NO_VECTOR`]).
    pub fn with_vectors(name: impl Into<String>, sink: Arc<dyn VectorSink>, queues: usize) -> Self {
        let mut i = VirtioInterrupt::new(name, Arc::new(Unwired));
        i.vectors = Some(Vectors {
            sink,
            config: AtomicU16::new(NO_VECTOR),
            queues: (0..queues).map(|_| AtomicU16::new(NO_VECTOR)).collect(),
        });
        i
    }

    fn raise(&self, bit: u32, queue: Option<u16>) {
        self.status.fetch_or(bit, Ordering::SeqCst);
        match &self.vectors {
            Some(v) => {
                let vector = match queue {
                    Some(q) => v
                        .queues
                        .get(usize::from(q))
                        .map_or(NO_VECTOR, |a| a.load(Ordering::SeqCst)),
                    None => v.config.load(Ordering::SeqCst),
                };
                if vector != NO_VECTOR {
                    v.sink.signal(vector);
                }
            }
            // A failed signal (the interrupt controller went away with the VM) loses an
            // interrupt the guest can no longer take.
            None => {
                let _ = self.line.trigger();
            }
        }
    }

    /// Signals that the device put buffers in queue `queue`'s used ring.
    pub fn used(&self, queue: u16) {
        self.raise(VIRTIO_MMIO_INT_VRING, Some(queue));
    }

    /// Signals that the configuration space changed.
    pub fn config_changed(&self) {
        self.raise(VIRTIO_MMIO_INT_CONFIG, None);
    }

    /// The MSI-X vector of queue `queue` ([`NO_VECTOR`] without one or without MSI-X).
    pub fn queue_vector(&self, queue: u16) -> u16 {
        self.vectors
            .as_ref()
            .and_then(|v| v.queues.get(usize::from(queue)))
            .map_or(NO_VECTOR, |a| a.load(Ordering::SeqCst))
    }

    /// Sets queue `queue`'s MSI-X vector.
    pub fn set_queue_vector(&self, queue: u16, vector: u16) {
        if let Some(a) = self
            .vectors
            .as_ref()
            .and_then(|v| v.queues.get(usize::from(queue)))
        {
            a.store(vector, Ordering::SeqCst);
        }
    }

    /// The configuration change's MSI-X vector.
    pub fn config_vector(&self) -> u16 {
        self.vectors
            .as_ref()
            .map_or(NO_VECTOR, |v| v.config.load(Ordering::SeqCst))
    }

    /// Sets the configuration change's MSI-X vector.
    pub fn set_config_vector(&self, vector: u16) {
        if let Some(v) = &self.vectors {
            v.config.store(vector, Ordering::SeqCst);
        }
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
            tracing::warn!(device = %self.name, reason = %why, "virtio device needs a reset");
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
        i.used(0);
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
