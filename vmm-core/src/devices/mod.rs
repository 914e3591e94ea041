//! The device layer and the devices every arch shares.
//!
//! A device is a description ([`DeviceDesc`]: its window, its interrupt, what firmware says about
//! it) plus its model (a [`BusDevice`](crate::bus::BusDevice)). [`Devices`] places descriptions
//! through the allocator, wires interrupts through the arch's [`InterruptRouter`], and keeps the
//! list from which each arch writes its firmware description. Where devices sit and how their
//! interrupts are routed is the arch's call.

pub mod debug_exit;
pub mod desc;
pub mod fw_cfg;
pub mod irq;
pub mod layer;
pub mod pci;
pub mod serial;
pub mod virtio;

pub use debug_exit::DebugExit;
pub use desc::{
    Acpi, DeviceDesc, Firmware, Irq, IrqRequest, Place, PlacedDevice, Prop, Space, Window,
    WindowRequest,
};
pub use fw_cfg::FwCfg;
pub use irq::{InterruptLine, InterruptRouter, KvmRouter, Trigger};
pub use layer::{plan, DeviceError, DeviceWindows, Devices, Resources};
pub use serial::Serial16550;
