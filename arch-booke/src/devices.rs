//! The e500 board's device glue around vmm-core's shared devices:
//!
//! - [`SerialPort`]: a DUART port (vmm-core's [`Serial16550`]) whose interrupt reaches the MPIC.
//!   The UART signals an interrupt by writing its eventfd. With the in-kernel MPIC that eventfd is
//!   an irqfd (routed to the port's MPIC source) and nothing else is needed; with the userspace
//!   MPIC, the port drains the eventfd after every access and every host input and pulses the
//!   source itself, so no thread has to wait on it.
//! - [`BigEndian`]: a device whose registers the guest accesses big-endian, for vmm-core devices
//!   that take little-endian values (the debug exit: a guest `stw` of V ends the VM with V).

use crate::irqchip::UserMpic;
use std::sync::Arc;
use vmm_core::bus::BusDevice;
use vmm_core::console::ConsoleInput;
use vmm_core::devices::Serial16550;
use vmm_core::snapshot::{StateError, Stateful};

/// One port of the DUART with its interrupt wiring.
pub struct SerialPort {
    uart: Serial16550,
    line: Option<(Arc<UserMpic>, u32)>,
}

impl SerialPort {
    /// A port whose interrupt eventfd is an irqfd of the in-kernel MPIC.
    pub fn irqfd(uart: Serial16550) -> Self {
        SerialPort { uart, line: None }
    }

    /// A port raising source `irq` of the userspace MPIC (the UART's eventfd must be
    /// non-blocking).
    pub fn user_mpic(uart: Serial16550, mpic: Arc<UserMpic>, irq: u32) -> Self {
        SerialPort {
            uart,
            line: Some((mpic, irq)),
        }
    }

    /// Passes an interrupt the UART signalled on to the userspace MPIC as an edge.
    fn forward_irq(&self) {
        if let Some((mpic, irq)) = &self.line {
            // Err(WouldBlock): nothing signalled since the last access.
            if self.uart.irq().read().is_ok_and(|n| n > 0) {
                // The source number is one of the board's (checked when it was wired).
                let _ = mpic.pulse(*irq);
            }
        }
    }
}

impl BusDevice for SerialPort {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        self.uart.read(offset, data);
        self.forward_irq();
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        self.uart.write(offset, data);
        self.forward_irq();
    }
}

impl ConsoleInput for SerialPort {
    fn push_input(&mut self, bytes: &[u8]) -> usize {
        let n = self.uart.push_input(bytes);
        self.forward_irq();
        n
    }
}

/// The UART's state (vmm-core's 16550 section); the interrupt wiring is the board's.
impl Stateful for SerialPort {
    fn state_version(&self) -> u16 {
        self.uart.state_version()
    }

    fn save_state(&self) -> Vec<u8> {
        self.uart.save_state()
    }

    fn restore_state(&mut self, version: u16, data: &[u8]) -> Result<(), StateError> {
        self.uart.restore_state(version, data)
    }
}

/// A device the guest accesses in big-endian byte order, in front of one that takes
/// little-endian values: the bytes of every access are reversed.
pub struct BigEndian<D: BusDevice>(pub D);

impl<D: BusDevice> BusDevice for BigEndian<D> {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        self.0.read(offset, data);
        data.reverse();
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let mut le = data.to_vec();
        le.reverse();
        self.0.write(offset, &le);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::irqchip::mpic_regs::{cpu_reg, src_reg, CPU_CTPR, CPU_IACK, SRC_IVPR};
    use crate::irqchip::{CpuIrq, MpicModel};
    use crate::layout::SERIAL_IRQS;
    use std::sync::Mutex;
    use vmm_core::console::ConsoleSink;
    use vmm_core::devices::DebugExit;
    use vmm_core::{ExitNotifier, GuestExit};
    use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

    struct Level(Arc<Mutex<bool>>);
    impl CpuIrq for Level {
        fn set_external(&self, level: bool) -> std::io::Result<()> {
            *self.0.lock().unwrap() = level;
            Ok(())
        }
    }

    #[test]
    fn serial_interrupts_reach_the_userspace_mpic() {
        let mpic = Arc::new(UserMpic::new(MpicModel::Fsl42, 1).unwrap());
        let line = Arc::new(Mutex::new(false));
        mpic.attach(0, Box::new(Level(line.clone()))).unwrap();
        let irq = SERIAL_IRQS[0];
        let mut win = mpic.window();
        // The guest unmasks the port's source (edge, priority 4, vector 0x42).
        win.write(
            src_reg(irq as usize, SRC_IVPR),
            &((4u32 << 16) | 0x42).to_be_bytes(),
        );
        win.write(cpu_reg(0, CPU_CTPR), &0u32.to_be_bytes());

        let out = Arc::new(Mutex::new(Vec::new()));
        let uart = Serial16550::new(
            EventFd::new(EFD_NONBLOCK).unwrap(),
            Arc::new(EventFd::new(EFD_NONBLOCK).unwrap()),
            ConsoleSink::Buffer(out.clone()).writer(),
        );
        let mut port = SerialPort::user_mpic(uart, mpic.clone(), irq);
        port.write(0, b"k");
        assert_eq!(*out.lock().unwrap(), b"k");
        assert!(!*line.lock().unwrap(), "no interrupt enabled in IER yet");
        // Received-data interrupt enabled (IER bit 0); host input raises the CPU's line.
        port.write(1, &[1]);
        assert_eq!(port.push_input(b"x"), 1);
        assert!(*line.lock().unwrap());
        let mut v = [0u8; 4];
        win.read(cpu_reg(0, CPU_IACK), &mut v);
        assert_eq!(u32::from_be_bytes(v), 0x42);
        assert!(!*line.lock().unwrap());
        let mut b = [0u8];
        port.read(0, &mut b);
        assert_eq!(b, *b"x");
    }

    #[test]
    fn an_irqfd_port_leaves_the_eventfd_to_the_kernel() {
        let uart = Serial16550::new(
            EventFd::new(EFD_NONBLOCK).unwrap(),
            Arc::new(EventFd::new(EFD_NONBLOCK).unwrap()),
            ConsoleSink::Null.writer(),
        );
        let mut port = SerialPort::irqfd(uart);
        port.write(1, &[1]);
        port.push_input(b"x");
        // Read through the UART's own fd (a dup would do as well on Linux, but not under
        // qemu-user 7.2, which loses the eventfd's byte swap on a duplicate).
        let signalled = port.uart.irq().read().unwrap();
        assert_eq!(signalled, 1, "still signalled for the irqfd");
    }

    #[test]
    fn a_big_endian_store_reaches_the_debug_exit() {
        let n = ExitNotifier::new().unwrap();
        let mut d = BigEndian(DebugExit::new(n.clone()));
        let mut r = [0u8; 4];
        d.read(0, &mut r);
        assert_eq!(r, [0xff; 4]);
        d.write(0, &0x0000_0102u32.to_be_bytes());
        assert_eq!(n.reason(), Some(GuestExit::DebugExit(0x102)));
    }
}
