//! The e500 board's devices, as the device layer places them ([`descs`]): the DUART's two ports
//! (vmm-core's 16550, each on its own MPIC source: an irqfd into the in-kernel MPIC, or a
//! [`UserMpicLine`](crate::irqchip::UserMpicLine) into the userspace model), the GPIO block
//! whose pin 0 powers the VM off ([`gpio`]), and the debug exit, behind [`BigEndian`]: the guest
//! accesses its register big-endian, and vmm-core's device takes little-endian values (a guest
//! `stw` of V ends the VM with V).

pub mod gpio;

use crate::layout::{
    BoardLayout, DEBUG_EXIT_SIZE, GPIO_IRQ, PLATFORM_CLOCK_HZ, SERIAL_IRQS, SERIAL_SIZE,
};
use vmm_core::bus::BusDevice;
use vmm_core::devices::{DeviceDesc, IrqRequest, Prop, WindowRequest};

/// The snapshot sections of the DUART's ports.
pub const SERIAL_TAGS: [[u8; 4]; 2] = [*b"SER0", *b"SER1"];

/// The device-layer name of the GPIO block (the device tree's `/power-off` names its pin 0).
pub const GPIO: &str = "gpio";
/// The GPIO block's phandle (the MPIC's is 1).
pub const GPIO_PHANDLE: u32 = 2;

/// The board's devices in address order (Linux numbers legacy serial ports in the order it finds
/// them, so port 0 is ttyS0): the DUART's ports, the GPIO block and the debug exit.
pub fn descs(layout: &BoardLayout) -> Vec<DeviceDesc> {
    let mut v: Vec<DeviceDesc> = layout
        .serial_bases()
        .into_iter()
        .enumerate()
        .map(|(n, base)| {
            DeviceDesc::ns16550a(
                ["serial0", "serial1"][n],
                WindowRequest::mmio_at(base, SERIAL_SIZE),
                IrqRequest::edge(SERIAL_IRQS[n]),
                PLATFORM_CLOCK_HZ,
            )
            .compatible(&["fsl,ns16550", "ns16550"])
            .prop("device_type", Prop::Str("serial"))
            .prop("cell-index", Prop::U32(n as u32))
            .with_state(&SERIAL_TAGS[n])
        })
        .collect();
    v.push(
        DeviceDesc::new(GPIO, "gpio", &["fsl,mpc8572-gpio", "fsl,pq3-gpio"])
            .window(WindowRequest::mmio_at(layout.gpio(), gpio::GPIO_SIZE))
            .interrupt(IrqRequest::level(GPIO_IRQ))
            .prop("gpio-controller", Prop::Null)
            .prop("#gpio-cells", Prop::U32(2))
            .prop("phandle", Prop::U32(GPIO_PHANDLE)),
    );
    v.push(DeviceDesc::debug_exit(WindowRequest::mmio_at(
        layout.debug_exit(),
        DEBUG_EXIT_SIZE,
    )));
    v
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
    use crate::irqchip::{CpuIrq, MpicModel, UserMpic, UserMpicRouter};
    use std::sync::{Arc, Mutex};
    use vmm_core::console::{ConsoleInput, ConsoleSink};
    use vmm_core::devices::{DebugExit, InterruptRouter, Serial16550, Trigger};
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
        let router = UserMpicRouter(mpic.clone());
        let mut port = Serial16550::new(
            router.line(irq, Trigger::Edge).unwrap(),
            Arc::new(EventFd::new(EFD_NONBLOCK).unwrap()),
            ConsoleSink::Buffer(out.clone()).writer(),
        );
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
        // A source the model does not have is refused when the line is made.
        assert!(router.line(10_000, Trigger::Edge).is_err());
    }

    #[test]
    fn the_board_places_its_devices_where_the_docs_say() {
        use vmm_core::MachineLayout;
        let layout = BoardLayout::new(256 << 20, 1).unwrap();
        let l = vmm_core::devices::plan(&layout.device_windows(), descs(&layout)).unwrap();
        assert_eq!(l.len(), 4);
        let bases = layout.serial_bases();
        for n in 0..2 {
            assert_eq!(l[n].window.unwrap().base, bases[n]);
            assert_eq!(l[n].irq.unwrap().number, SERIAL_IRQS[n]);
            assert_eq!(l[n].desc.state, Some(SERIAL_TAGS[n]));
        }
        assert_eq!(l[2].desc.name, GPIO);
        assert_eq!(l[2].window.unwrap().base, layout.gpio());
        assert_eq!(l[2].irq.unwrap().number, GPIO_IRQ);
        assert_eq!(l[3].window.unwrap().base, layout.debug_exit());
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
