//! What every arch's device tree shares (vm-fdt): the error type, `/chosen`, and the nodes of
//! the device layer's placed devices (after kvmtool: each device writes its own node; the arch
//! supplies only how addresses and interrupts are encoded, [`NodeStyle`]).

use crate::devices::{Irq, PlacedDevice, Prop};
use vm_fdt::{FdtWriter, FdtWriterNode};

/// Errors building a device tree.
#[derive(Debug, thiserror::Error)]
pub enum FdtError {
    /// vm-fdt refused the tree.
    #[error("building the device tree failed")]
    Writer(#[from] vm_fdt::Error),
    /// The command line holds a NUL byte.
    #[error("the kernel command line contains a NUL byte")]
    NulInCmdline,
    /// The initrd range is empty or backwards.
    #[error("initrd range {start:#x}..{end:#x} is empty or reversed")]
    BadInitrd {
        /// Start.
        start: u64,
        /// End.
        end: u64,
    },
    /// No vCPU.
    #[error("a device tree needs at least one CPU")]
    NoCpus,
    /// The tree is larger than the boot protocol allows.
    #[error("the device tree is {len} bytes, more than the {max} the boot protocol allows")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: u64,
    },
    /// A device the arch's tree cannot describe.
    #[error("the device tree cannot describe {device}: {why}")]
    Device {
        /// The device.
        device: String,
        /// Why not.
        why: &'static str,
    },
}

impl FdtError {
    /// Whether the error is the input's (a command line, an initrd range) rather than the host's.
    pub fn is_input(&self) -> bool {
        !matches!(self, FdtError::Writer(_))
    }
}

/// What `/chosen` says.
#[derive(Clone, Copy, Debug, Default)]
pub struct Chosen<'a> {
    /// The kernel command line.
    pub bootargs: &'a str,
    /// The console's node path.
    pub stdout_path: Option<&'a str>,
    /// The initrd `[start, end)` in guest-physical memory.
    pub initrd: Option<(u64, u64)>,
}

impl Chosen<'_> {
    /// Refuses a command line with a NUL and an empty or reversed initrd range.
    pub fn check(&self) -> Result<(), FdtError> {
        if self.bootargs.contains('\0') {
            return Err(FdtError::NulInCmdline);
        }
        if let Some((start, end)) = self.initrd {
            if end <= start {
                return Err(FdtError::BadInitrd { start, end });
            }
        }
        Ok(())
    }

    /// Opens `/chosen` with `bootargs`, `stdout-path` and `linux,initrd-start`/`-end` (as
    /// 64-bit cells, which Linux reads whatever the root's `#address-cells`). The caller may add
    /// arch properties, then ends the node.
    pub fn begin(&self, f: &mut FdtWriter) -> Result<FdtWriterNode, FdtError> {
        self.check()?;
        let chosen = f.begin_node("chosen")?;
        f.property_string("bootargs", self.bootargs)?;
        if let Some(p) = self.stdout_path {
            f.property_string("stdout-path", p)?;
        }
        if let Some((start, end)) = self.initrd {
            f.property_u64("linux,initrd-start", start)?;
            f.property_u64("linux,initrd-end", end)?;
        }
        Ok(chosen)
    }

    /// Writes the whole `/chosen` node.
    pub fn write(&self, f: &mut FdtWriter) -> Result<(), FdtError> {
        let n = self.begin(f)?;
        f.end_node(n)?;
        Ok(())
    }
}

/// How an arch's device tree encodes a placed device: its unit address and `reg` in the cells of
/// the parent node, and its interrupt specifier for the arch's interrupt controller.
pub trait NodeStyle {
    /// The unit address after `@` (relative to the parent's `ranges` where it has them).
    fn unit(&self, d: &PlacedDevice) -> Option<u64>;
    /// The `reg` cells, or `None` for a node without `reg`.
    fn reg(&self, d: &PlacedDevice) -> Option<Vec<u32>>;
    /// The `interrupts` cells of `irq`.
    fn interrupts(&self, irq: &Irq) -> Vec<u32>;
    /// The `interrupt-parent` phandle, when the node must name it.
    fn interrupt_parent(&self) -> Option<u32> {
        None
    }
}

/// `[high, low]` cells of a 64-bit value.
pub fn cells2(v: u64) -> [u32; 2] {
    [(v >> 32) as u32, v as u32]
}

/// `reg` for a parent with two address and two size cells: the window's base and length.
pub fn reg_2_2(d: &PlacedDevice) -> Option<Vec<u32>> {
    d.window.map(|w| [cells2(w.base), cells2(w.len)].concat())
}

/// The node name `name@unit` of `d` in `style`.
pub fn node_name(d: &PlacedDevice, style: &dyn NodeStyle) -> String {
    match style.unit(d) {
        Some(u) => format!("{}@{u:x}", d.desc.firmware.node),
        None => d.desc.firmware.node.to_string(),
    }
}

/// Writes `d`'s node: `compatible`, `reg`, the description's properties, `interrupts` (and
/// `interrupt-parent`).
pub fn device_node(
    f: &mut FdtWriter,
    d: &PlacedDevice,
    style: &dyn NodeStyle,
) -> Result<(), FdtError> {
    let fw = &d.desc.firmware;
    let node = f.begin_node(&node_name(d, style))?;
    f.property_string_list(
        "compatible",
        fw.compatible.iter().map(|c| c.to_string()).collect(),
    )?;
    if let Some(reg) = style.reg(d) {
        f.property_array_u32("reg", &reg)?;
    }
    for (name, value) in &fw.props {
        match value {
            Prop::U32(v) => f.property_u32(name, *v)?,
            Prop::Str(s) => f.property_string(name, s)?,
            Prop::Null => f.property_null(name)?,
        }
    }
    if let Some(irq) = &d.irq {
        f.property_array_u32("interrupts", &style.interrupts(irq))?;
        if let Some(p) = style.interrupt_parent() {
            f.property_u32("interrupt-parent", p)?;
        }
    }
    f.end_node(node)?;
    Ok(())
}

/// Writes a node for every device in `devices` that has a device-tree `compatible`.
pub fn device_nodes<'a>(
    f: &mut FdtWriter,
    devices: impl IntoIterator<Item = &'a PlacedDevice>,
    style: &dyn NodeStyle,
) -> Result<(), FdtError> {
    for d in devices {
        if !d.desc.firmware.compatible.is_empty() {
            device_node(f, d, style)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::{
        irq::NoRouter, DeviceDesc, DeviceWindows, Devices, IrqRequest, WindowRequest,
    };

    struct Gicish;
    impl NodeStyle for Gicish {
        fn unit(&self, d: &PlacedDevice) -> Option<u64> {
            d.unit_address()
        }
        fn reg(&self, d: &PlacedDevice) -> Option<Vec<u32>> {
            reg_2_2(d)
        }
        fn interrupts(&self, irq: &Irq) -> Vec<u32> {
            vec![0, irq.number, 1]
        }
    }

    #[test]
    fn chosen_checks_its_input() {
        let c = Chosen {
            bootargs: "a\0b",
            ..Chosen::default()
        };
        assert!(matches!(c.check(), Err(FdtError::NulInCmdline)));
        let c = Chosen {
            bootargs: "x",
            stdout_path: None,
            initrd: Some((10, 10)),
        };
        assert!(matches!(
            c.check(),
            Err(FdtError::BadInitrd { start: 10, end: 10 })
        ));
        assert!(FdtError::NulInCmdline.is_input());
    }

    #[test]
    fn device_nodes_carry_reg_props_and_interrupts() {
        let mut d = Devices::new(&DeviceWindows {
            pio: None,
            mmio: (0x900_0000, 0x100_0000),
            irqs: (0, 32),
        })
        .unwrap();
        d.describe(
            &NoRouter,
            DeviceDesc::ns16550a(
                "uart0",
                WindowRequest::mmio_at(0x900_0000, 0x1000),
                IrqRequest::edge(1),
                1_843_200,
            )
            .node("uart"),
        )
        .unwrap();
        d.describe(
            &NoRouter,
            DeviceDesc::debug_exit(WindowRequest::mmio_at(0x901_0000, 4)),
        )
        .unwrap();
        let mut f = FdtWriter::new().unwrap();
        let root = f.begin_node("").unwrap();
        f.property_u32("#address-cells", 2).unwrap();
        f.property_u32("#size-cells", 2).unwrap();
        Chosen {
            bootargs: "console=ttyS0",
            stdout_path: Some("/uart@9000000"),
            initrd: Some((0x100, 0x200)),
        }
        .write(&mut f)
        .unwrap();
        device_nodes(&mut f, d.list(), &Gicish).unwrap();
        f.end_node(root).unwrap();
        let blob = f.finish().unwrap();
        // The blob holds the names, strings and cells (dtc checks the shape in the arch tests).
        let has = |s: &[u8]| blob.windows(s.len()).any(|w| w == s);
        assert!(has(b"uart@9000000\0"));
        assert!(has(b"debug-exit@9010000\0"));
        assert!(has(b"ns16550a\0"));
        assert!(has(b"tetra,debug-exit\0"));
        assert!(
            has(&[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]),
            "interrupts <0 1 1>"
        );
        assert!(has(&[0, 0x1c, 0x20, 0]), "clock-frequency 1843200");
    }
}
