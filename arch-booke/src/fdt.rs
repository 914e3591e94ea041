//! The e500 board's device tree, built with vm-fdt, modelled on the tree QEMU's `ppce500` board
//! gives Linux (platform `arch/powerpc/platforms/85xx/qemu_e500.c`, matched by the root
//! compatible "fsl,qemu-e500"):
//!
//! - `/` with 2 address and 2 size cells (36-bit physical addresses), `/aliases`, `/chosen`
//!   (bootargs, stdout-path, initrd), `/memory@0`;
//! - `/cpus/cpu@N` with the core's model and compatible ("PowerPC,8548" and "fsl,e500v2" on
//!   e500v2, "PowerPC,e5500" and "fsl,e5500" and so on), cache line and cache sizes, clock and timebase frequencies; secondary
//!   CPUs are "disabled" with a "spin-table" enable method and their `cpu-release-addr`;
//! - `/soc@fe0000000` ("fsl,mpc8544-immr", "simple-bus", device_type "soc") with the MPIC
//!   (`pic@40000`, device_type "open-pic", compatible "fsl,mpic", which Linux's `mpic_alloc`
//!   finds; "has-external-proxy" when the interrupt acknowledge can go through EPR) and the two
//!   16550s (`serial@4500`, `serial@4600`, "fsl,ns16550"/"ns16550", MPIC external sources 8 and
//!   9, rising edge: see [`crate::layout`] for why not QEMU's internal source 42; found by the
//!   legacy serial code through the "soc" parent), and the GPIO block (`gpio@fc00`,
//!   "fsl,mpc8572-gpio"/"fsl,pq3-gpio", MPIC source 47, high level, as in QEMU's `ppce500`
//!   tree);
//! - `/power-off` ("gpio-poweroff", `gpios = <&gpio 0 0>`: pin 0, active high; see
//!   [`crate::devices::gpio`]): at the root, where QEMU's tree has it in the SoC node (dtc warns
//!   about a simple-bus child without `reg` there).
//!
//! Not described (not emulated yet): the global utilities block (reset via RSTCR), the MSI
//! block, PCI, and the ePAPR hypervisor node for paravirtual hcalls.

use crate::cpu::Core;
use crate::layout::*;
use vm_fdt::FdtWriter;
use vmm_core::devices::{Irq, PlacedDevice, Trigger};
pub use vmm_core::fdt::FdtError;
use vmm_core::fdt::{cells2, device_nodes, node_name, Chosen, NodeStyle};

/// What the device tree describes.
#[derive(Clone, Debug)]
pub struct FdtConfig<'a> {
    /// The board map (RAM, CPUs).
    pub layout: BoardLayout,
    /// The core model.
    pub core: Core,
    /// Timebase frequency (the host's, under KVM).
    pub timebase_hz: u32,
    /// Core clock frequency.
    pub cpu_clock_hz: u32,
    /// Kernel command line.
    pub bootargs: &'a str,
    /// Initrd `[start, end)` in guest physical memory.
    pub initrd: Option<(u64, u64)>,
    /// Whether the MPIC supports external proxy (the core's EPR delivers the vector: the
    /// in-kernel MPIC, or the userspace one with `KVM_CAP_PPC_EPR`): adds "has-external-proxy",
    /// with which Linux sets `GCR[MODE]` to proxy and reads EPR instead of IACK.
    pub external_proxy: bool,
    /// The placed devices: those in the CCSR window become nodes of the SoC (the console is
    /// `serial0`).
    pub devices: &'a [PlacedDevice],
}

/// How the SoC's nodes name a device: by its offset in the CCSR window (the SoC's `ranges`),
/// with one address and one size cell; interrupts as MPIC sources (`<source sense>`: 0 rising
/// edge, 2 high level), naming the MPIC as their parent.
pub struct SocStyle;

impl NodeStyle for SocStyle {
    fn unit(&self, d: &PlacedDevice) -> Option<u64> {
        d.window.map(|w| w.base - CCSR_BASE)
    }

    fn reg(&self, d: &PlacedDevice) -> Option<Vec<u32>> {
        d.window
            .map(|w| vec![(w.base - CCSR_BASE) as u32, w.len as u32])
    }

    fn interrupts(&self, irq: &Irq) -> Vec<u32> {
        let sense = match irq.trigger {
            Trigger::Edge => 0,
            Trigger::Level => 2,
        };
        vec![irq.number, sense]
    }

    fn interrupt_parent(&self) -> Option<u32> {
        Some(MPIC_PHANDLE)
    }
}

/// Whether a placed device sits in the SoC (the CCSR window).
fn in_soc(d: &PlacedDevice) -> bool {
    d.window
        .is_some_and(|w| w.base >= CCSR_BASE && w.base + w.len <= CCSR_BASE + CCSR_SIZE)
}

/// The path of a placed SoC device's node.
pub fn device_path(d: &PlacedDevice) -> String {
    format!("{}/{}", soc_path(), node_name(d, &SocStyle))
}

/// The MPIC's phandle.
pub const MPIC_PHANDLE: u32 = 1;

/// Path of the SoC node.
pub fn soc_path() -> String {
    format!("/soc@{CCSR_BASE:x}")
}

/// Builds the flattened device tree.
pub fn build_fdt(cfg: &FdtConfig<'_>) -> Result<Vec<u8>, FdtError> {
    let path = |name: &str| {
        cfg.devices
            .iter()
            .find(|d| d.desc.name == name && in_soc(d))
            .map(device_path)
    };
    let console = path("serial0");
    let chosen = Chosen {
        bootargs: cfg.bootargs,
        stdout_path: console.as_deref(),
        initrd: cfg.initrd,
    };
    chosen.check()?;
    if let Some(d) = cfg
        .devices
        .iter()
        .find(|d| d.window.is_some() && !in_soc(d))
    {
        return Err(FdtError::Device {
            device: d.desc.name.clone(),
            why: "it lies outside the CCSR window, and the e500 board describes devices only inside its SoC",
        });
    }
    let mut f = FdtWriter::new()?;
    let root = f.begin_node("")?;
    f.property_u32("#address-cells", 2)?;
    f.property_u32("#size-cells", 2)?;
    f.property_string("model", "tetra e500")?;
    f.property_string("compatible", "fsl,qemu-e500")?;

    let aliases = f.begin_node("aliases")?;
    for name in ["serial0", "serial1"] {
        if let Some(p) = path(name) {
            f.property_string(name, &p)?;
        }
    }
    f.end_node(aliases)?;

    let node = chosen.begin(&mut f)?;
    if let Some(p) = &console {
        f.property_string("linux,stdout-path", p)?;
    }
    f.end_node(node)?;

    let memory = f.begin_node(&format!("memory@{RAM_BASE:x}"))?;
    f.property_string("device_type", "memory")?;
    let [bh, bl] = cells2(RAM_BASE);
    let [sh, sl] = cells2(cfg.layout.ram_size());
    f.property_array_u32("reg", &[bh, bl, sh, sl])?;
    f.end_node(memory)?;

    cpus(&mut f, cfg)?;
    soc(&mut f, cfg.external_proxy, cfg.devices)?;
    // The power-off on the GPIO block's pin 0. At the root, as in the kernel's own device trees:
    // QEMU's ppce500 puts it in its SoC node, where dtc flags a simple-bus child without `reg`.
    if cfg
        .devices
        .iter()
        .any(|d| d.desc.name == crate::devices::GPIO && in_soc(d))
    {
        let node = f.begin_node("power-off")?;
        f.property_string("compatible", "gpio-poweroff")?;
        f.property_array_u32(
            "gpios",
            &[
                crate::devices::GPIO_PHANDLE,
                crate::devices::gpio::POWER_OFF_PIN,
                0,
            ],
        )?;
        f.end_node(node)?;
    }

    f.end_node(root)?;
    Ok(f.finish()?)
}

fn cpus(f: &mut FdtWriter, cfg: &FdtConfig<'_>) -> Result<(), FdtError> {
    let cpus = f.begin_node("cpus")?;
    f.property_u32("#address-cells", 1)?;
    f.property_u32("#size-cells", 0)?;
    let (dsize, isize) = cfg.core.l1_sizes();
    for cpu in 0..cfg.layout.cpus() {
        let node = f.begin_node(&format!("cpu@{cpu:x}"))?;
        f.property_string("device_type", "cpu")?;
        f.property_string("model", cfg.core.fdt_model())?;
        f.property_string("compatible", cfg.core.fdt_compatible())?;
        f.property_u32("reg", cpu)?;
        f.property_u32("d-cache-line-size", cfg.core.cache_line())?;
        f.property_u32("i-cache-line-size", cfg.core.cache_line())?;
        f.property_u32("d-cache-size", dsize)?;
        f.property_u32("i-cache-size", isize)?;
        f.property_u32("timebase-frequency", cfg.timebase_hz)?;
        f.property_u32("clock-frequency", cfg.cpu_clock_hz)?;
        f.property_u32("bus-frequency", PLATFORM_CLOCK_HZ)?;
        if cpu == 0 {
            f.property_string("status", "okay")?;
        } else {
            f.property_string("status", "disabled")?;
            f.property_string("enable-method", "spin-table")?;
            f.property_u64("cpu-release-addr", cfg.layout.cpu_release_addr(cpu))?;
        }
        f.end_node(node)?;
    }
    f.end_node(cpus)?;
    Ok(())
}

fn soc(f: &mut FdtWriter, external_proxy: bool, devices: &[PlacedDevice]) -> Result<(), FdtError> {
    let soc = f.begin_node(&soc_path()["/".len()..])?;
    f.property_u32("#address-cells", 1)?;
    f.property_u32("#size-cells", 1)?;
    f.property_string("device_type", "soc")?;
    f.property_string_list(
        "compatible",
        vec!["fsl,mpc8544-immr".to_string(), "simple-bus".to_string()],
    )?;
    let [ch, cl] = cells2(CCSR_BASE);
    f.property_array_u32("ranges", &[0, ch, cl, CCSR_SIZE as u32])?;
    f.property_u32("bus-frequency", PLATFORM_CLOCK_HZ)?;

    let pic = f.begin_node(&format!("pic@{MPIC_OFFSET:x}"))?;
    f.property_string("device_type", "open-pic")?;
    f.property_string("compatible", "fsl,mpic")?;
    f.property_array_u32("reg", &[MPIC_OFFSET as u32, MPIC_SIZE as u32])?;
    f.property_null("interrupt-controller")?;
    f.property_u32("#interrupt-cells", 2)?;
    f.property_u32("#address-cells", 0)?;
    f.property_phandle(MPIC_PHANDLE)?;
    f.property_u32("linux,phandle", MPIC_PHANDLE)?;
    if external_proxy {
        f.property_null("has-external-proxy")?;
    }
    f.end_node(pic)?;

    // The placed devices, in the order the board added them (address order: Linux's legacy
    // serial code numbers ports in the order it finds them, so serial@4500 becomes ttyS0, the
    // port stdout-path names).
    device_nodes(f, devices.iter().filter(|d| in_soc(d)), &SocStyle)?;
    f.end_node(soc)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmm_core::fdt_check::{dtc, node};

    fn config(cpus: u32, initrd: Option<(u64, u64)>) -> FdtConfig<'static> {
        FdtConfig {
            layout: BoardLayout::new(512 << 20, cpus).unwrap(),
            core: Core::E5500,
            timebase_hz: 41_666_666,
            cpu_clock_hz: 1_200_000_000,
            bootargs: "console=ttyS0,115200 root=/dev/ram",
            initrd,
            external_proxy: true,
            devices: devices(),
        }
    }

    fn devices() -> &'static [PlacedDevice] {
        use std::sync::OnceLock;
        use vmm_core::MachineLayout;
        static D: OnceLock<Vec<PlacedDevice>> = OnceLock::new();
        D.get_or_init(|| {
            let layout = BoardLayout::new(512 << 20, 1).unwrap();
            vmm_core::devices::plan(&layout.device_windows(), crate::devices::descs(&layout))
                .unwrap()
        })
    }

    #[test]
    fn decompiles_to_the_expected_nodes() {
        let blob = build_fdt(&config(2, Some((0x0400_0000, 0x0480_0000)))).unwrap();
        let dts = dtc(&blob);

        let root = node(&dts, "/");
        assert!(root.contains("compatible = \"fsl,qemu-e500\";"));
        assert!(root.contains("#address-cells = <0x02>;"));

        let chosen = node(&dts, "chosen");
        assert!(chosen.contains("bootargs = \"console=ttyS0,115200 root=/dev/ram\";"));
        assert!(chosen.contains("stdout-path = \"/soc@fe0000000/serial@4500\";"));
        assert!(chosen.contains("linux,initrd-start = <0x00 0x4000000>;"));
        assert!(chosen.contains("linux,initrd-end = <0x00 0x4800000>;"));

        let memory = node(&dts, "memory@0");
        assert!(memory.contains("device_type = \"memory\";"));
        assert!(memory.contains("reg = <0x00 0x00 0x00 0x20000000>;"));

        let cpu0 = node(&dts, "cpu@0");
        assert!(cpu0.contains("d-cache-line-size = <0x40>;"));
        assert!(cpu0.contains("i-cache-line-size = <0x40>;"));
        assert!(cpu0.contains("timebase-frequency = <0x27bc86a>;"));
        assert!(cpu0.contains("status = \"okay\";"));
        let cpu1 = node(&dts, "cpu@1");
        assert!(cpu1.contains("enable-method = \"spin-table\";"));
        assert!(cpu1.contains("cpu-release-addr = <0x0f 0xe00ef020>;"));
        assert!(!dts.contains("cpu@2"));

        let soc = node(&dts, "soc@fe0000000");
        assert!(soc.contains("compatible = \"fsl,mpc8544-immr\\0simple-bus\";"));
        assert!(soc.contains("ranges = <0x00 0x0f 0xe0000000 0x100000>;"));

        let pic = node(&dts, "pic@40000");
        assert!(pic.contains("device_type = \"open-pic\";"));
        assert!(pic.contains("reg = <0x40000 0x40000>;"));
        assert!(pic.contains("interrupt-controller;"));
        assert!(pic.contains("phandle = <0x01>;"));
        assert!(pic.contains("has-external-proxy;"));

        for (name, idx, irq) in [("serial@4500", 0, 8), ("serial@4600", 1, 9)] {
            let s = node(&dts, name);
            assert!(
                s.contains(&format!("interrupts = <0x{irq:02x} 0x00>;")),
                "{s}"
            );
            assert!(s.contains("interrupt-parent = <0x01>;"));
            assert!(s.contains(&format!("cell-index = <0x{idx:02x}>;")), "{s}");
        }
        assert!(dts.find("serial@4500 {").unwrap() < dts.find("serial@4600 {").unwrap());

        let gpio = node(&dts, "gpio@fc00");
        assert!(
            gpio.contains("compatible = \"fsl,mpc8572-gpio\\0fsl,pq3-gpio\";"),
            "{gpio}"
        );
        assert!(gpio.contains("reg = <0xfc00 0x100>;"), "{gpio}");
        assert!(gpio.contains("interrupts = <0x2f 0x02>;"), "{gpio}");
        assert!(gpio.contains("interrupt-parent = <0x01>;"), "{gpio}");
        assert!(gpio.contains("gpio-controller;"), "{gpio}");
        assert!(gpio.contains("#gpio-cells = <0x02>;"), "{gpio}");
        assert!(gpio.contains("phandle = <0x02>;"), "{gpio}");
        let off = node(&dts, "power-off");
        assert!(off.contains("compatible = \"gpio-poweroff\";"), "{off}");
        assert!(off.contains("gpios = <0x02 0x00 0x00>;"), "{off}");
        // At the root (QEMU's ppce500 has it in the SoC, which dtc warns about).
        assert!(dts.contains("\n\tpower-off {"), "{dts}");
        let aliases = node(&dts, "aliases");
        assert!(aliases.contains("serial0 = \"/soc@fe0000000/serial@4500\";"));
    }

    #[test]
    fn e500v2_cpu_node() {
        let mut c = config(1, None);
        c.core = Core::E500v2;
        let dts = dtc(&build_fdt(&c).unwrap());
        let cpu0 = node(&dts, "cpu@0");
        assert!(cpu0.contains("model = \"PowerPC,8548\";"), "{cpu0}");
        assert!(cpu0.contains("compatible = \"fsl,e500v2\";"), "{cpu0}");
        assert!(cpu0.contains("d-cache-line-size = <0x20>;"), "{cpu0}");
        assert!(cpu0.contains("i-cache-line-size = <0x20>;"), "{cpu0}");
        let e5500 = dtc(&build_fdt(&config(1, None)).unwrap());
        assert!(node(&e5500, "cpu@0").contains("model = \"PowerPC,e5500\";"));
    }

    #[test]
    fn single_cpu_without_initrd() {
        let mut c = config(1, None);
        c.external_proxy = false;
        let dts = dtc(&build_fdt(&c).unwrap());
        assert!(!dts.contains("has-external-proxy"));
        assert!(!dts.contains("linux,initrd-start"));
        assert!(!dts.contains("spin-table"));
        assert!(dts.contains("cpu@0"));
    }

    #[test]
    fn rejects_bad_input() {
        let mut c = config(1, Some((10, 10)));
        assert!(matches!(build_fdt(&c), Err(FdtError::BadInitrd { .. })));
        c.initrd = None;
        c.bootargs = "a\0b";
        assert!(matches!(build_fdt(&c), Err(FdtError::NulInCmdline)));
    }
}
