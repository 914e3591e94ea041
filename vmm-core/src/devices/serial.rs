//! A 16550A UART (vm-superio) whose output goes to the console sink and whose input comes from the
//! event loop.

use super::irq::{InterruptLine, LineTrigger};
use crate::bus::BusDevice;
use crate::console::{ConsoleInput, ConsoleOut};
use crate::snapshot::{check_version, StateError, Stateful};
use crate::wire::{Reader, Writer};
use std::sync::Arc;
use vm_superio::serial::{SerialEvents, SerialState};
use vm_superio::Serial;
use vmm_sys_util::eventfd::EventFd;

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
    uart: Serial<LineTrigger, SpaceEvent, ConsoleOut>,
}

impl Serial16550 {
    /// A UART raising `irq` and writing to `out`; `space` is signalled when input may resume.
    pub fn new(irq: Arc<dyn InterruptLine>, space: Arc<EventFd>, out: ConsoleOut) -> Self {
        Serial16550 {
            uart: Serial::with_events(LineTrigger(irq), SpaceEvent(space), out),
        }
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

/// The UART's registers and receive FIFO (section version 1).
impl Stateful for Serial16550 {
    fn save_state(&self) -> Vec<u8> {
        let st = self.uart.state();
        let mut w = Writer::new();
        for b in [
            st.baud_divisor_low,
            st.baud_divisor_high,
            st.interrupt_enable,
            st.interrupt_identification,
            st.line_control,
            st.line_status,
            st.modem_control,
            st.modem_status,
            st.scratch,
        ] {
            w.u8(b);
        }
        w.blob(&st.in_buffer);
        w.into_bytes()
    }

    fn restore_state(&mut self, version: u16, data: &[u8]) -> Result<(), StateError> {
        check_version(version, 1)?;
        let mut r = Reader::new(data);
        let mut regs = [0u8; 9];
        for b in regs.iter_mut() {
            *b = r.u8("a UART register")?;
        }
        let in_buffer = r.blob("the UART receive FIFO")?.to_vec();
        if !r.is_empty() {
            return Err(StateError::Trailing(r.remaining()));
        }
        if in_buffer.len() > 64 {
            return Err(StateError::Invalid(format!(
                "a 16550 FIFO holds 64 bytes, the state has {}",
                in_buffer.len()
            )));
        }
        let state = SerialState {
            baud_divisor_low: regs[0],
            baud_divisor_high: regs[1],
            interrupt_enable: regs[2],
            interrupt_identification: regs[3],
            line_control: regs[4],
            line_status: regs[5],
            modem_control: regs[6],
            modem_status: regs[7],
            scratch: regs[8],
            in_buffer,
        };
        let irq = self.uart.interrupt_evt().0.clone();
        let space = self.uart.events().0.clone();
        let placeholder = Serial::with_events(
            LineTrigger(irq.clone()),
            SpaceEvent(space.clone()),
            Box::new(std::io::sink()) as ConsoleOut,
        );
        let out = std::mem::replace(&mut self.uart, placeholder).into_writer();
        self.uart = Serial::from_state(&state, LineTrigger(irq), SpaceEvent(space), out)
            .map_err(|e| StateError::Invalid(format!("{e:?}")))?;
        Ok(())
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
    use crate::devices::irq::EventLine;
    use std::sync::Mutex;
    use vmm_sys_util::eventfd::EFD_NONBLOCK;

    #[test]
    fn output_reaches_the_sink_and_input_raises_the_irq() {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let space = Arc::new(EventFd::new(EFD_NONBLOCK).unwrap());
        let irq = Arc::new(EventLine::new().unwrap());
        let mut s = Serial16550::new(
            irq.clone(),
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
        assert_eq!(irq.0.read().unwrap(), 1);
        assert_eq!(s.push_input(b"y"), 0);
        // Drain the FIFO through the data register: the space event fires when it empties.
        for _ in 0..64 {
            let mut d = [0u8];
            s.read(0, &mut d);
            assert_eq!(d[0], b'x');
        }
        assert_eq!(space.read().unwrap(), 1);
    }

    #[test]
    fn state_round_trips_and_rejects_garbage() {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let space = Arc::new(EventFd::new(EFD_NONBLOCK).unwrap());
        let mk = || {
            Serial16550::new(
                Arc::new(EventLine::new().unwrap()),
                space.clone(),
                ConsoleSink::Buffer(buf.clone()).writer(),
            )
        };
        let mut a = mk();
        a.write(3, &[0x83]); // LCR with DLAB
        a.write(0, &[0x0c]); // divisor low
        a.write(3, &[0x03]);
        a.write(7, &[0x5a]); // scratch
        a.push_input(b"abc");
        let saved = a.save_state();
        let mut b = mk();
        b.restore_state(1, &saved).unwrap();
        assert_eq!(b.save_state(), saved);
        let mut d = [0u8];
        b.read(7, &mut d);
        assert_eq!(d[0], 0x5a);
        b.read(0, &mut d);
        assert_eq!(d[0], b'a');
        // Output still reaches the same sink after a restore.
        b.write(0, b"!");
        assert!(buf.lock().unwrap().ends_with(b"!"));
        for n in 0..saved.len() {
            assert!(mk().restore_state(1, &saved[..n]).is_err(), "{n}");
        }
        assert!(mk().restore_state(2, &saved).is_err());
        let mut big = saved[..9].to_vec();
        big.extend_from_slice(&65u32.to_le_bytes());
        big.extend_from_slice(&[0; 65]);
        assert!(mk().restore_state(1, &big).is_err());
    }
}
