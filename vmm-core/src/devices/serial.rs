//! A 16550A UART (vm-superio) whose output goes to the console sink and whose input comes from the
//! event loop.

use crate::bus::BusDevice;
use crate::console::{ConsoleInput, ConsoleOut};
use std::sync::Arc;
use vm_superio::serial::SerialEvents;
use vm_superio::{Serial, Trigger};
use vmm_sys_util::eventfd::EventFd;

/// Raises the UART's interrupt by signalling an eventfd (an irqfd, or one the arch polls).
pub struct IrqTrigger(pub EventFd);

impl Trigger for IrqTrigger {
    type E = std::io::Error;
    fn trigger(&self) -> Result<(), Self::E> {
        self.0.write(1)
    }
}

/// Tells the event loop that the receive FIFO drained, so it may read more host input.
pub struct SpaceEvent(pub Arc<EventFd>);

impl SerialEvents for SpaceEvent {
    fn buffer_read(&self) {}
    fn out_byte(&self) {}
    fn tx_lost_byte(&self) {}
    fn in_buffer_empty(&self) {
        // A failed write means the counter is already non-zero: the loop will wake anyway.
        let _ = self.0.write(1);
    }
}

/// The UART, ready to put on a bus at its 8-register window.
pub struct Serial16550 {
    uart: Serial<IrqTrigger, SpaceEvent, ConsoleOut>,
}

impl Serial16550 {
    /// A UART raising `irq` and writing to `out`; `space` is signalled when input may resume.
    pub fn new(irq: EventFd, space: Arc<EventFd>, out: ConsoleOut) -> Self {
        Serial16550 {
            uart: Serial::with_events(IrqTrigger(irq), SpaceEvent(space), out),
        }
    }

    /// The interrupt eventfd (to register as an irqfd).
    pub fn irq(&self) -> &EventFd {
        &self.uart.interrupt_evt().0
    }
}

impl BusDevice for Serial16550 {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        if let (Some(b), Ok(off)) = (data.first_mut(), u8::try_from(offset)) {
            *b = self.uart.read(off);
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        if let (Some(&b), Ok(off)) = (data.first(), u8::try_from(offset)) {
            // An error here is a failed host write or interrupt: the byte is lost, as on a real
            // line; the guest keeps running.
            let _ = self.uart.write(off, b);
        }
    }
}

impl ConsoleInput for Serial16550 {
    fn push_input(&mut self, bytes: &[u8]) -> usize {
        if self.uart.fifo_capacity() == 0 {
            return 0;
        }
        self.uart.enqueue_raw_bytes(bytes).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::ConsoleSink;
    use std::sync::Mutex;
    use vmm_sys_util::eventfd::EFD_NONBLOCK;

    #[test]
    fn output_reaches_the_sink_and_input_raises_the_irq() {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let space = Arc::new(EventFd::new(EFD_NONBLOCK).unwrap());
        let irq = EventFd::new(EFD_NONBLOCK).unwrap();
        let mut s = Serial16550::new(
            irq,
            space.clone(),
            ConsoleSink::Buffer(buf.clone()).writer(),
        );
        for b in b"hi" {
            s.write(0, &[*b]);
        }
        assert_eq!(&*buf.lock().unwrap(), b"hi");
        // Enable the received-data interrupt (IER bit 0), then feed more than the FIFO holds.
        s.write(1, &[1]);
        let taken = s.push_input(&[b'x'; 100]);
        assert_eq!(taken, 64);
        assert_eq!(s.irq().read().unwrap(), 1);
        assert_eq!(s.push_input(b"y"), 0);
        // Drain the FIFO through the data register: the space event fires when it empties.
        for _ in 0..64 {
            let mut d = [0u8];
            s.read(0, &mut d);
            assert_eq!(d[0], b'x');
        }
        assert_eq!(space.read().unwrap(), 1);
    }
}
