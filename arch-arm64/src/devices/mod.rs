//! The arm64 machine's devices, as the device layer places them: the console UART (a 16550 on
//! SPI 1, through an irqfd), the debug exit, the PL031 real-time clock ([`pl031`]) and the PL061
//! GPIO controller with the power button ([`pl061`]), at the addresses the docs and test guests
//! use.

pub mod pl031;
pub mod pl061;

use crate::layout::*;
use vmm_core::devices::{DeviceDesc, IrqRequest, PlacedDevice, Prop, WindowRequest};

/// The phandle of the fixed clock the device tree gives AMBA (PrimeCell) devices as their
/// `apb_pclk`: Linux's AMBA bus enables it before it reads their id registers.
pub const APB_PCLK_PHANDLE: u32 = 3;
/// The PL061's phandle: the `gpio-keys` power key names its line through it.
pub const GPIO_PHANDLE: u32 = 4;
/// The PL061's snapshot section: optional (a snapshot from before the PL061 leaves it fresh).
pub const GPIO_STATE: &[u8; 4] = b"PL61";
/// The device-layer name of the PL061.
pub const GPIO: &str = "gpio";
use vmm_core::MachineLayout;

/// The devices, in the order they are added.
pub fn descs() -> Vec<DeviceDesc> {
    vec![
        DeviceDesc::ns16550a(
            crate::fdt::CONSOLE,
            WindowRequest::mmio_at(UART_BASE, UART_SIZE),
            IrqRequest::edge(UART_SPI),
            UART_CLOCK_HZ,
        )
        .node("uart")
        .with_state(b"SERL"),
        DeviceDesc::debug_exit(WindowRequest::mmio_at(DEBUG_EXIT_BASE, DEBUG_EXIT_SIZE)),
        DeviceDesc::new("rtc", "rtc", &["arm,pl031", "arm,primecell"])
            .window(WindowRequest::mmio_at(RTC_BASE, RTC_SIZE))
            .prop("clocks", Prop::U32(APB_PCLK_PHANDLE))
            .prop("clock-names", Prop::Str("apb_pclk"))
            .with_state(b"PL31"),
        DeviceDesc::new(GPIO, "pl061", &["arm,pl061", "arm,primecell"])
            .window(WindowRequest::mmio_at(GPIO_BASE, GPIO_SIZE))
            .interrupt(IrqRequest::edge(GPIO_SPI))
            .prop("clocks", Prop::U32(APB_PCLK_PHANDLE))
            .prop("clock-names", Prop::Str("apb_pclk"))
            .prop("gpio-controller", Prop::Null)
            .prop("#gpio-cells", Prop::U32(2))
            .prop("phandle", Prop::U32(GPIO_PHANDLE)),
    ]
}

/// The devices as `layout` places them (for device-tree tests).
pub fn planned(layout: &Arm64Layout) -> Vec<PlacedDevice> {
    vmm_core::devices::plan(&layout.device_windows(), descs())
        .expect("the arm64 devices fit the arm64 map")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_sit_where_the_docs_say() {
        let l = planned(&Arm64Layout::for_tests(1));
        assert_eq!(l[0].window.unwrap().base, UART_BASE);
        assert_eq!(l[0].irq.unwrap().number, UART_SPI);
        assert_eq!(l[1].window.unwrap().base, DEBUG_EXIT_BASE);
        assert_eq!(l[2].window.unwrap().base, RTC_BASE);
        assert_eq!(l[2].irq, None);
        assert_eq!(l[3].window.unwrap().base, GPIO_BASE);
        assert_eq!(l[3].irq.unwrap().number, GPIO_SPI);
    }
}
