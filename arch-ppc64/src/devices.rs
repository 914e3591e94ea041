//! The pseries machine's devices, as the device layer places them: the hypervisor console (a
//! PAPR virtual device, `/vdevice/vty@71000000`, served by `H_PUT_TERM_CHAR`/`H_GET_TERM_CHAR`:
//! no register window; with an interrupt controller it gets an edge-triggered XICS source that
//! input raises, without one the guest polls it), the debug-exit register in the MMIO
//! window, and with an interrupt controller the EPOW event source (the power button: no
//! register window and no node of its own; the device tree's `/event-sources/epow-events` names
//! its interrupt, [`crate::events`]).

use crate::layout::*;
use vmm_core::devices::{DeviceDesc, IrqRequest, PlacedDevice, Prop, Trigger, WindowRequest};
use vmm_core::MachineLayout;

/// The device-layer name of the console.
pub const CONSOLE: &str = "vty0";

/// The device-layer name of the EPOW event source.
pub const EPOW: &str = "epow";

/// The devices, in the order they are added; `irqchip`: the machine has an interrupt
/// controller, so the console gets an interrupt.
pub fn descs(irqchip: bool) -> Vec<DeviceDesc> {
    let mut console = DeviceDesc::new(CONSOLE, "vty", &["hvterm1"])
        .unit(u64::from(VTY_REG))
        .prop("device_type", Prop::Str("serial"));
    if irqchip {
        console = console.interrupt(IrqRequest::any(Trigger::Edge));
    }
    let mut descs = vec![
        console,
        DeviceDesc::debug_exit(WindowRequest::mmio_at(DEBUG_EXIT_ADDR, DEBUG_EXIT_LEN)),
    ];
    if irqchip {
        // No compatible: the device tree describes it under /event-sources itself.
        descs.push(DeviceDesc::new(EPOW, "epow-events", &[]).interrupt(IrqRequest::edge(EPOW_IRQ)));
    }
    descs
}

/// The devices as `layout` places them (for device-tree tests).
pub fn planned(layout: &Ppc64Layout, irqchip: bool) -> Vec<PlacedDevice> {
    vmm_core::devices::plan(&layout.device_windows(), descs(irqchip))
        .expect("the pseries devices fit the pseries map")
}
