//! Device descriptions: what a device needs (a register window, an interrupt) and what firmware
//! says about it (a device-tree node's `compatible` and properties, an ACPI hardware id). The
//! device layer ([`super::Devices`]) places a description; each arch turns the list of placed
//! devices into its firmware description (ACPI on x86, device-tree nodes elsewhere) with the
//! interrupt specifier of its own interrupt controller.

use super::irq::Trigger;

/// The address space of a register window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    /// Port I/O (x86).
    Pio,
    /// Memory-mapped I/O.
    Mmio,
}

/// Where a window or interrupt goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Exactly here (a legacy device, an address the guests and docs know).
    At(u64),
    /// Anywhere in the arch's device window, aligned so.
    Any {
        /// Alignment (a power of two).
        align: u64,
    },
}

/// A register window a device asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowRequest {
    /// Its address space.
    pub space: Space,
    /// Where.
    pub place: Place,
    /// Its length in bytes.
    pub len: u64,
}

/// A placed register window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Its address space.
    pub space: Space,
    /// Base address.
    pub base: u64,
    /// Length in bytes.
    pub len: u64,
}

/// An interrupt a device asks for, in the arch's numbering (an x86 GSI, an arm64 SPI, an MPIC
/// source).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqRequest {
    /// Which number: `Place::At(n)` or any free one.
    pub place: Place,
    /// How it signals.
    pub trigger: Trigger,
}

/// A placed interrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Irq {
    /// The number, in the arch's numbering.
    pub number: u32,
    /// How it signals.
    pub trigger: Trigger,
}

/// A device-tree property value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prop {
    /// One cell.
    U32(u32),
    /// A string.
    Str(&'static str),
    /// A property with no value.
    Null,
}

/// A device in the ACPI namespace (`\\_SB.<name>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acpi {
    /// Its four-character name segment (`COM1`, `RTC_`).
    pub name: [u8; 4],
    /// Its hardware id: an EISA id such as `PNP0501`.
    pub hid: &'static str,
    /// Its `_UID`.
    pub uid: u32,
}

/// What firmware says about a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Firmware {
    /// The device-tree node name before the unit address (`uart`, `serial`, `debug-exit`).
    pub node: &'static str,
    /// The device-tree `compatible` list, most specific first.
    pub compatible: &'static [&'static str],
    /// Other device-tree properties.
    pub props: Vec<(&'static str, Prop)>,
    /// How the ACPI DSDT describes it; `None` for a device it leaves out.
    pub acpi: Option<Acpi>,
    /// The node's unit address when it has no register window (a PAPR virtual device's `reg`).
    pub unit: Option<u64>,
}

/// A device's description: what it needs, and what firmware says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceDesc {
    /// A name for messages and the device list (`uart0`, `debug-exit`, `virtio-blk0`).
    pub name: String,
    /// Its register window, if it has one on a bus.
    pub window: Option<WindowRequest>,
    /// Its interrupt, if it has one.
    pub irq: Option<IrqRequest>,
    /// The snapshot section its state is saved under, if it has state.
    pub state: Option<[u8; 4]>,
    /// What firmware says about it.
    pub firmware: Firmware,
}

impl DeviceDesc {
    /// A device named `name` whose device-tree node is `node` with `compatible`; no window, no
    /// interrupt, no state yet.
    pub fn new(
        name: impl Into<String>,
        node: &'static str,
        compatible: &'static [&'static str],
    ) -> Self {
        DeviceDesc {
            name: name.into(),
            window: None,
            irq: None,
            state: None,
            firmware: Firmware {
                node,
                compatible,
                props: Vec::new(),
                acpi: None,
                unit: None,
            },
        }
    }

    /// The same description with register window `w`.
    pub fn window(mut self, w: WindowRequest) -> Self {
        self.window = Some(w);
        self
    }

    /// The same description with interrupt `irq`.
    pub fn interrupt(mut self, irq: IrqRequest) -> Self {
        self.irq = Some(irq);
        self
    }

    /// The same description with unit address `unit` (a node without a register window).
    pub fn unit(mut self, unit: u64) -> Self {
        self.firmware.unit = Some(unit);
        self
    }

    /// A 16550A UART with 8 byte-wide registers (`ns16550a`), its input clock `clock_hz`.
    pub fn ns16550a(
        name: impl Into<String>,
        window: WindowRequest,
        irq: IrqRequest,
        clock_hz: u32,
    ) -> Self {
        DeviceDesc::new(name, "serial", &["ns16550a"])
            .window(window)
            .interrupt(irq)
            .prop("clock-frequency", Prop::U32(clock_hz))
            .prop("reg-shift", Prop::U32(0))
            .prop("reg-io-width", Prop::U32(1))
    }

    /// The debug-exit device (`tetra,debug-exit`): a write of V ends the VM with `(V << 1) | 1`.
    pub fn debug_exit(window: WindowRequest) -> Self {
        DeviceDesc::new("debug-exit", "debug-exit", &["tetra,debug-exit"]).window(window)
    }

    /// The same description, its state saved under section `tag`.
    pub fn with_state(mut self, tag: &[u8; 4]) -> Self {
        self.state = Some(*tag);
        self
    }

    /// The same description under another device-tree node name.
    pub fn node(mut self, node: &'static str) -> Self {
        self.firmware.node = node;
        self
    }

    /// The same description with another `compatible` list.
    pub fn compatible(mut self, compatible: &'static [&'static str]) -> Self {
        self.firmware.compatible = compatible;
        self
    }

    /// The same description, also in the ACPI DSDT as `\\_SB.<name>` with hardware id `hid`
    /// and `_UID` `uid`.
    pub fn acpi(mut self, name: &[u8; 4], hid: &'static str, uid: u32) -> Self {
        self.firmware.acpi = Some(Acpi {
            name: *name,
            hid,
            uid,
        });
        self
    }

    /// The same description with one more device-tree property.
    pub fn prop(mut self, name: &'static str, value: Prop) -> Self {
        self.firmware.props.push((name, value));
        self
    }
}

impl WindowRequest {
    /// `len` bytes of port I/O at `base`.
    pub fn pio_at(base: u64, len: u64) -> Self {
        WindowRequest {
            space: Space::Pio,
            place: Place::At(base),
            len,
        }
    }

    /// `len` bytes of MMIO at `base`.
    pub fn mmio_at(base: u64, len: u64) -> Self {
        WindowRequest {
            space: Space::Mmio,
            place: Place::At(base),
            len,
        }
    }

    /// `len` bytes of MMIO anywhere in the device window, aligned to `align`.
    pub fn mmio_any(len: u64, align: u64) -> Self {
        WindowRequest {
            space: Space::Mmio,
            place: Place::Any { align },
            len,
        }
    }
}

impl IrqRequest {
    /// Interrupt `n`, edge.
    pub fn edge(n: u32) -> Self {
        IrqRequest {
            place: Place::At(u64::from(n)),
            trigger: Trigger::Edge,
        }
    }

    /// Interrupt `n`, level.
    pub fn level(n: u32) -> Self {
        IrqRequest {
            place: Place::At(u64::from(n)),
            trigger: Trigger::Level,
        }
    }

    /// Any free interrupt.
    pub fn any(trigger: Trigger) -> Self {
        IrqRequest {
            place: Place::Any { align: 1 },
            trigger,
        }
    }
}

/// A device the layer placed: its description and the window and interrupt it got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacedDevice {
    /// The description.
    pub desc: DeviceDesc,
    /// Its window.
    pub window: Option<Window>,
    /// Its interrupt.
    pub irq: Option<Irq>,
}

impl PlacedDevice {
    /// The node's unit address: the window's base, or the description's unit address.
    pub fn unit_address(&self) -> Option<u64> {
        self.window.map(|w| w.base).or(self.desc.firmware.unit)
    }

    /// `node@unit` (the node name alone without a unit address).
    pub fn node_name(&self) -> String {
        match self.unit_address() {
            Some(u) => format!("{}@{u:x}", self.desc.firmware.node),
            None => self.desc.firmware.node.to_string(),
        }
    }
}
