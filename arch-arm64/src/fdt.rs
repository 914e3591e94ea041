//! The device tree (vm-fdt), modelled on what QEMU's `virt` machine gives Linux:
//!
//! - `/` with 2 address and 2 size cells, `interrupt-parent` the GIC;
//! - `/chosen`: `bootargs`, `stdout-path` (the UART), `linux,initrd-start`/`-end`;
//! - `/memory@40000000`;
//! - `/cpus/cpu@N`, `reg` = the vCPU's MPIDR affinity bits (read from KVM), `enable-method`
//!   "psci";
//! - `/psci`: "arm,psci-1.0" and "arm,psci-0.2", method "hvc" (KVM answers PSCI calls in the
//!   kernel);
//! - `/timer`: "arm,armv8-timer" with its four PPIs;
//! - `/pmu`: "arm,armv8-pmuv3" on PPI [`PMU_PPI`] (level), when the vCPUs have KVM's vPMU;
//! - `/intc@8000000`: "arm,gic-v3" (distributor and redistributor region), with the ITS as
//!   child `its@8080000` ("arm,gic-v3-its", `msi-controller`) when the VM has one;
//! - a node for every device the device layer placed ([`crate::devices`]): `/uart@9000000`
//!   ("ns16550a", reg-shift 0, byte-wide registers, SPI 1 edge-rising: its interrupt arrives
//!   through an irqfd, a pulse, so it must not be declared level), `/debug-exit@9010000`
//!   ("tetra,debug-exit") and `/rtc@9020000` ("arm,pl031", "arm,primecell", no interrupt), whose
//!   `apb_pclk` is `/apb-pclk`, a 24 MHz "fixed-clock", and `/pl061@9030000` ("arm,pl061",
//!   "arm,primecell", a `gpio-controller` with 2 `#gpio-cells`, SPI 7 edge-rising);
//! - `/gpio-keys` ("gpio-keys", as QEMU's `virt`) with the child `poweroff`: `linux,code` 116
//!   (KEY_POWER) on PL061 line 3, active high: the guest's power button;
//! - `/pcie@3f000000` with `--transport pci`: "pci-host-ecam-generic", bus 0 in ECAM at
//!   [`PCI_ECAM_START`], BARs in the 32-bit window at [`PCI_MMIO_START`] (identity mapped), no
//!   INTx: every function's MSI-X goes to the ITS, its device id the requester id (`msi-map`).

use crate::devices::pl061::{KEY_POWER, POWER_KEY_LINE};
use crate::devices::{APB_PCLK_PHANDLE, GPIO, GPIO_PHANDLE};
use crate::irqchip::{dt, GicLayout};
use crate::layout::*;
use crate::psci;
use vm_fdt::FdtWriter;
use vmm_core::devices::{Irq, PlacedDevice, Trigger};
pub use vmm_core::fdt::FdtError;
use vmm_core::fdt::{device_nodes, node_name, reg_2_2, Chosen, NodeStyle};

/// What the device tree describes.
#[derive(Clone, Debug)]
pub struct FdtConfig<'a> {
    /// Guest RAM in bytes (at [`RAM_BASE`]).
    pub mem_bytes: u64,
    /// Each vCPU's MPIDR_EL1, as KVM reports it, in vCPU order.
    pub mpidrs: &'a [u64],
    /// The GIC frames.
    pub gic: GicLayout,
    /// Kernel command line.
    pub bootargs: &'a str,
    /// Initrd `[start, end)` in guest physical memory.
    pub initrd: Option<(u64, u64)>,
    /// The placed devices (the console UART is the one named [`CONSOLE`]).
    pub devices: &'a [PlacedDevice],
    /// Whether the vCPUs have a PMU (`KVM_ARM_VCPU_PMU_V3`, its interrupt on [`PMU_PPI`]).
    pub pmu: bool,
    /// Whether the VM has the PCI host bridge (virtio-pci; needs the ITS).
    pub pci: bool,
}

/// The GIC's phandle.
pub const GIC_PHANDLE: u32 = 1;
/// The ITS's phandle.
pub const ITS_PHANDLE: u32 = 2;

/// The device-layer name of the console UART (`stdout-path`).
pub const CONSOLE: &str = "uart0";

/// The affinity bits of an MPIDR (Aff3 in 39:32, Aff2..Aff0 in 23:0): a cpu node's `reg`.
pub const MPIDR_AFF_MASK: u64 = 0xff_00ff_ffff;

/// How arm64 nodes name devices: at the root (two address and two size cells), interrupts as GIC
/// SPIs (`<0 n flags>`; an irqfd's pulse is an edge, so edge lines must not be declared level).
pub struct GicStyle;

impl NodeStyle for GicStyle {
    fn unit(&self, d: &PlacedDevice) -> Option<u64> {
        d.unit_address()
    }

    fn reg(&self, d: &PlacedDevice) -> Option<Vec<u32>> {
        reg_2_2(d)
    }

    fn interrupts(&self, irq: &Irq) -> Vec<u32> {
        let flags = match irq.trigger {
            Trigger::Edge => dt::EDGE_RISING,
            Trigger::Level => dt::LEVEL_HIGH,
        };
        vec![dt::SPI, irq.number, flags]
    }
}

/// Builds the device tree blob.
pub fn build_fdt(c: &FdtConfig<'_>) -> Result<Vec<u8>, FdtError> {
    if c.mpidrs.is_empty() {
        return Err(FdtError::NoCpus);
    }
    let stdout = c
        .devices
        .iter()
        .find(|d| d.desc.name == CONSOLE)
        .map(|d| format!("/{}", node_name(d, &GicStyle)));
    let chosen = Chosen {
        bootargs: c.bootargs,
        stdout_path: stdout.as_deref(),
        initrd: c.initrd,
    };
    chosen.check()?;
    let mut f = FdtWriter::new()?;
    let root = f.begin_node("")?;
    f.property_string_list(
        "compatible",
        vec!["tetra,arm64-virt".into(), "linux,dummy-virt".into()],
    )?;
    f.property_string("model", "tetra arm64 virtual machine")?;
    f.property_u32("#address-cells", 2)?;
    f.property_u32("#size-cells", 2)?;
    f.property_u32("interrupt-parent", GIC_PHANDLE)?;

    chosen.write(&mut f)?;

    let memory = f.begin_node(&format!("memory@{RAM_BASE:x}"))?;
    f.property_string("device_type", "memory")?;
    f.property_array_u64("reg", &[RAM_BASE, c.mem_bytes])?;
    f.end_node(memory)?;

    cpus(&mut f, c.mpidrs)?;

    let psci_node = f.begin_node("psci")?;
    f.property_string_list(
        "compatible",
        psci::DT_COMPATIBLE.iter().map(|s| s.to_string()).collect(),
    )?;
    f.property_string("method", psci::DT_METHOD)?;
    f.end_node(psci_node)?;

    let timer = f.begin_node("timer")?;
    f.property_string("compatible", "arm,armv8-timer")?;
    let irqs: Vec<u32> = TIMER_PPIS
        .iter()
        .flat_map(|&ppi| [dt::PPI, ppi, dt::LEVEL_HIGH])
        .collect();
    f.property_array_u32("interrupts", &irqs)?;
    f.property_null("always-on")?;
    f.end_node(timer)?;

    if c.pmu {
        let pmu = f.begin_node("pmu")?;
        f.property_string("compatible", "arm,armv8-pmuv3")?;
        f.property_array_u32("interrupts", &[dt::PPI, PMU_PPI, dt::LEVEL_HIGH])?;
        f.end_node(pmu)?;
    }

    // The clock AMBA devices (the PL031) name as their apb_pclk.
    let clk = f.begin_node("apb-pclk")?;
    f.property_string("compatible", "fixed-clock")?;
    f.property_u32("#clock-cells", 0)?;
    f.property_u32("clock-frequency", 24_000_000)?;
    f.property_string("clock-output-names", "clk24mhz")?;
    f.property_phandle(APB_PCLK_PHANDLE)?;
    f.end_node(clk)?;

    gic(&mut f, &c.gic)?;
    device_nodes(&mut f, c.devices, &GicStyle)?;
    if c.devices.iter().any(|d| d.desc.name == GPIO) {
        gpio_keys(&mut f)?;
    }
    if c.pci {
        if c.gic.its.is_none() {
            return Err(FdtError::Device {
                device: "the PCI host bridge".into(),
                why: "its MSIs need the ITS (--irqchip gicv3-its)",
            });
        }
        pci(&mut f)?;
    }

    f.end_node(root)?;
    let blob = f.finish()?;
    if blob.len() as u64 > DTB_MAX_SIZE {
        return Err(FdtError::TooLarge {
            len: blob.len(),
            max: DTB_MAX_SIZE,
        });
    }
    Ok(blob)
}

/// The power button: KEY_POWER on the PL061's line [`POWER_KEY_LINE`] (`gpios` = <&pl061 line
/// flags>, flags 0: active high).
fn gpio_keys(f: &mut FdtWriter) -> Result<(), FdtError> {
    let keys = f.begin_node("gpio-keys")?;
    f.property_string("compatible", "gpio-keys")?;
    let key = f.begin_node("poweroff")?;
    f.property_string("label", "GPIO Key Poweroff")?;
    f.property_u32("linux,code", KEY_POWER)?;
    f.property_array_u32("gpios", &[GPIO_PHANDLE, u32::from(POWER_KEY_LINE), 0])?;
    f.end_node(key)?;
    f.end_node(keys)?;
    Ok(())
}

fn cpus(f: &mut FdtWriter, mpidrs: &[u64]) -> Result<(), FdtError> {
    let cpus = f.begin_node("cpus")?;
    f.property_u32("#address-cells", 2)?;
    f.property_u32("#size-cells", 0)?;
    for &mpidr in mpidrs {
        let reg = mpidr & MPIDR_AFF_MASK;
        let cpu = f.begin_node(&format!("cpu@{reg:x}"))?;
        f.property_string("device_type", "cpu")?;
        f.property_string("compatible", "arm,arm-v8")?;
        f.property_string("enable-method", "psci")?;
        f.property_u64("reg", reg)?;
        f.end_node(cpu)?;
    }
    f.end_node(cpus)?;
    Ok(())
}

fn gic(f: &mut FdtWriter, g: &GicLayout) -> Result<(), FdtError> {
    let gic = f.begin_node(&format!("intc@{:x}", g.dist))?;
    f.property_string("compatible", "arm,gic-v3")?;
    f.property_u32("#interrupt-cells", 3)?;
    f.property_null("interrupt-controller")?;
    f.property_array_u64("reg", &[g.dist, GIC_DIST_SIZE, g.redist, g.redist_size])?;
    f.property_u32("#redistributor-regions", 1)?;
    f.property_phandle(GIC_PHANDLE)?;
    // An interrupt provider states its #address-cells (for interrupt-map users); the ITS child
    // is addressed like the root.
    f.property_u32("#address-cells", 2)?;
    f.property_u32("#size-cells", 2)?;
    f.property_null("ranges")?;
    if let Some(its_base) = g.its {
        let its = f.begin_node(&format!("its@{its_base:x}"))?;
        f.property_string("compatible", "arm,gic-v3-its")?;
        f.property_null("msi-controller")?;
        f.property_u32("#msi-cells", 1)?;
        f.property_array_u64("reg", &[its_base, GIC_ITS_SIZE])?;
        f.property_phandle(ITS_PHANDLE)?;
        f.end_node(its)?;
    }
    f.end_node(gic)?;
    Ok(())
}

/// The PCI space code of 32-bit memory in a `ranges` entry's first cell (non-prefetchable).
const PCI_SPACE_MEM32: u32 = 0x0200_0000;
/// Requester ids `msi-map` hands the ITS: every bus, device and function (one to one).
const PCI_RID_COUNT: u32 = 0x1_0000;

fn hi(v: u64) -> u32 {
    (v >> 32) as u32
}

fn pci(f: &mut FdtWriter) -> Result<(), FdtError> {
    let node = f.begin_node(&format!("pcie@{PCI_ECAM_START:x}"))?;
    f.property_string("compatible", "pci-host-ecam-generic")?;
    f.property_string("device_type", "pci")?;
    f.property_u32("#address-cells", 3)?;
    f.property_u32("#size-cells", 2)?;
    f.property_array_u32("bus-range", &[0, 0])?;
    f.property_u32("linux,pci-domain", 0)?;
    f.property_array_u64("reg", &[PCI_ECAM_START, PCI_ECAM_LEN])?;
    let (base, len) = (PCI_MMIO_START, PCI_MMIO_LEN);
    f.property_array_u32(
        "ranges",
        &[
            PCI_SPACE_MEM32,
            hi(base),
            base as u32,
            hi(base),
            base as u32,
            hi(len),
            len as u32,
        ],
    )?;
    f.property_array_u32("msi-map", &[0, ITS_PHANDLE, 0, PCI_RID_COUNT])?;
    f.property_null("dma-coherent")?;
    f.end_node(node)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::irqchip::IrqChipKind;
    use vmm_core::fdt_check::{dtc, node};

    /// MPIDRs as KVM gives them: bit 31 (RES1) set, vCPU id in Aff0 (low 4 bits) and Aff1.
    const MPIDRS: [u64; 4] = [0x8000_0000, 0x8000_0001, 0x8000_0002, 0x8000_0003];

    fn devices() -> &'static [PlacedDevice] {
        use std::sync::OnceLock;
        static D: OnceLock<Vec<PlacedDevice>> = OnceLock::new();
        D.get_or_init(|| crate::devices::planned(&Arm64Layout::for_tests(4)))
    }

    fn config(kind: IrqChipKind, initrd: Option<(u64, u64)>) -> FdtConfig<'static> {
        FdtConfig {
            mem_bytes: 128 << 20,
            mpidrs: &MPIDRS,
            gic: GicLayout::new(4, kind),
            bootargs: "console=ttyS0 earlycon",
            initrd,
            devices: devices(),
            pmu: true,
            pci: false,
        }
    }

    #[test]
    fn decompiles_to_the_expected_nodes() {
        let blob = build_fdt(&config(
            IrqChipKind::GicV3Its,
            Some((0x47c0_0000, 0x47d0_0000)),
        ))
        .unwrap();
        let dts = dtc(&blob);

        let root = node(&dts, "/");
        assert!(root.contains("#address-cells = <0x02>;"));
        assert!(root.contains("#size-cells = <0x02>;"));
        assert!(root.contains("interrupt-parent = <0x01>;"));

        let chosen = node(&dts, "chosen");
        assert!(chosen.contains("bootargs = \"console=ttyS0 earlycon\";"));
        assert!(chosen.contains("stdout-path = \"/uart@9000000\";"));
        assert!(chosen.contains("linux,initrd-start = <0x00 0x47c00000>;"));
        assert!(chosen.contains("linux,initrd-end = <0x00 0x47d00000>;"));

        let memory = node(&dts, "memory@40000000");
        assert!(memory.contains("device_type = \"memory\";"));
        assert!(memory.contains("reg = <0x00 0x40000000 0x00 0x8000000>;"));

        let cpus = node(&dts, "cpus");
        assert!(cpus.contains("#address-cells = <0x02>;"));
        assert!(cpus.contains("#size-cells = <0x00>;"));
        for i in 0..4 {
            let cpu = node(&dts, &format!("cpu@{i}"));
            assert!(cpu.contains("device_type = \"cpu\";"));
            assert!(cpu.contains("enable-method = \"psci\";"));
            // Bit 31 of the MPIDR is not an affinity bit: reg holds Aff0 only here.
            assert!(cpu.contains(&format!("reg = <0x00 0x{i:02x}>;")), "{cpu}");
        }
        assert!(!dts.contains("cpu@4"));

        let psci = node(&dts, "psci");
        assert!(psci.contains("compatible = \"arm,psci-1.0\\0arm,psci-0.2\";"));
        assert!(psci.contains("method = \"hvc\";"));

        let timer = node(&dts, "timer");
        assert!(timer.contains("compatible = \"arm,armv8-timer\";"));
        assert!(timer.contains(
            "interrupts = <0x01 0x0d 0x04 0x01 0x0e 0x04 0x01 0x0b 0x04 0x01 0x0a 0x04>;"
        ));

        let pmu = node(&dts, "pmu");
        assert!(pmu.contains("compatible = \"arm,armv8-pmuv3\";"));
        assert!(pmu.contains("interrupts = <0x01 0x07 0x04>;"));

        let gic = node(&dts, "intc@8000000");
        assert!(gic.contains("compatible = \"arm,gic-v3\";"));
        assert!(gic.contains("interrupt-controller;"));
        assert!(gic.contains("#interrupt-cells = <0x03>;"));
        assert!(gic.contains("reg = <0x00 0x8000000 0x00 0x10000 0x00 0xa000000 0x00 0x80000>;"));
        assert!(gic.contains("phandle = <0x01>;"));
        let its = node(&dts, "its@8080000");
        assert!(its.contains("compatible = \"arm,gic-v3-its\";"));
        assert!(its.contains("msi-controller;"));
        assert!(its.contains("reg = <0x00 0x8080000 0x00 0x20000>;"));
        assert!(its.contains("phandle = <0x02>;"));

        let uart = node(&dts, "uart@9000000");
        assert!(uart.contains("compatible = \"ns16550a\";"));
        assert!(uart.contains("reg = <0x00 0x9000000 0x00 0x1000>;"));
        assert!(uart.contains("reg-shift = <0x00>;"));
        assert!(uart.contains("reg-io-width = <0x01>;"));
        assert!(uart.contains("interrupts = <0x00 0x01 0x01>;"));

        let dbg = node(&dts, "debug-exit@9010000");
        assert!(dbg.contains("reg = <0x00 0x9010000 0x00 0x1000>;"));

        let rtc = node(&dts, "rtc@9020000");
        assert!(
            rtc.contains("compatible = \"arm,pl031\\0arm,primecell\";"),
            "{rtc}"
        );
        assert!(rtc.contains("reg = <0x00 0x9020000 0x00 0x1000>;"));
        assert!(rtc.contains("clocks = <0x03>;"));
        assert!(rtc.contains("clock-names = \"apb_pclk\";"));
        assert!(!rtc.contains("interrupts"));
        let clk = node(&dts, "apb-pclk");
        assert!(clk.contains("compatible = \"fixed-clock\";"));
        assert!(clk.contains("#clock-cells = <0x00>;"));
        assert!(clk.contains("phandle = <0x03>;"));

        let gpio = node(&dts, "pl061@9030000");
        assert!(
            gpio.contains("compatible = \"arm,pl061\\0arm,primecell\";"),
            "{gpio}"
        );
        assert!(gpio.contains("reg = <0x00 0x9030000 0x00 0x1000>;"));
        assert!(gpio.contains("interrupts = <0x00 0x07 0x01>;"));
        assert!(gpio.contains("gpio-controller;"));
        assert!(gpio.contains("#gpio-cells = <0x02>;"));
        assert!(gpio.contains("clocks = <0x03>;"));
        assert!(gpio.contains("phandle = <0x04>;"));
        let key = node(&dts, "poweroff");
        assert!(key.contains("linux,code = <0x74>;"), "{key}");
        assert!(key.contains("gpios = <0x04 0x03 0x00>;"));
        assert!(node(&dts, "gpio-keys").contains("compatible = \"gpio-keys\";"));
    }

    #[test]
    fn the_pci_host_bridge_sends_msis_to_the_its() {
        let c = FdtConfig {
            pci: true,
            ..config(IrqChipKind::GicV3Its, None)
        };
        let dts = dtc(&build_fdt(&c).unwrap());
        let pcie = node(&dts, "pcie@3f000000");
        assert!(
            pcie.contains("compatible = \"pci-host-ecam-generic\";"),
            "{pcie}"
        );
        assert!(pcie.contains("device_type = \"pci\";"));
        assert!(pcie.contains("#address-cells = <0x03>;"));
        assert!(pcie.contains("#size-cells = <0x02>;"));
        assert!(pcie.contains("bus-range = <0x00 0x00>;"));
        assert!(pcie.contains("reg = <0x00 0x3f000000 0x00 0x100000>;"));
        assert!(
            pcie.contains("ranges = <0x2000000 0x00 0x10000000 0x00 0x10000000 0x00 0x20000000>;")
        );
        // Requester id r is ITS device id r, for all 2^16 of them; the phandle is the ITS's.
        assert!(pcie.contains("msi-map = <0x00 0x02 0x00 0x10000>;"));
        assert!(node(&dts, "its@8080000").contains("phandle = <0x02>;"));
        assert!(pcie.contains("dma-coherent;"));
        assert!(!pcie.contains("interrupt-map"), "no INTx");

        // Without the pci transport there is no bus; without an ITS there can be none.
        let dts = dtc(&build_fdt(&config(IrqChipKind::GicV3Its, None)).unwrap());
        assert!(!dts.contains("pcie@"));
        let c = FdtConfig {
            pci: true,
            ..config(IrqChipKind::GicV3, None)
        };
        assert!(matches!(build_fdt(&c), Err(FdtError::Device { .. })));
    }

    #[test]
    fn without_its_initrd_and_pmu() {
        let c = FdtConfig {
            pmu: false,
            ..config(IrqChipKind::GicV3, None)
        };
        let dts = dtc(&build_fdt(&c).unwrap());
        assert!(!dts.contains("pmu"));
        assert!(!dts.contains("its@"));
        assert!(!dts.contains("msi-controller"));
        assert!(!dts.contains("linux,initrd-start"));
        assert!(dts.contains("intc@8000000"));
    }

    #[test]
    fn cpu_reg_is_the_mpidr_affinity() {
        // vCPU 17 under KVM's scheme: Aff0 = 1, Aff1 = 1; plus an Aff3 to check the high cell.
        let mpidrs = [0x8000_0000, 0x8000_0101, 0x02_8000_0000];
        let c = FdtConfig {
            mpidrs: &mpidrs,
            ..config(IrqChipKind::GicV3, None)
        };
        let dts = dtc(&build_fdt(&c).unwrap());
        assert!(node(&dts, "cpu@101").contains("reg = <0x00 0x101>;"));
        assert!(node(&dts, "cpu@200000000").contains("reg = <0x02 0x00>;"));
    }

    #[test]
    fn rejects_bad_input() {
        let mut c = config(IrqChipKind::GicV3, Some((10, 10)));
        assert!(matches!(build_fdt(&c), Err(FdtError::BadInitrd { .. })));
        c.initrd = None;
        c.bootargs = "a\0b";
        assert!(matches!(build_fdt(&c), Err(FdtError::NulInCmdline)));
        c.bootargs = "";
        c.mpidrs = &[];
        assert!(matches!(build_fdt(&c), Err(FdtError::NoCpus)));
    }
}
