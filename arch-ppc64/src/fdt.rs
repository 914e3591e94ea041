//! The pseries device tree, built with vm-fdt, after the tree QEMU's spapr machine gives a
//! guest:
//!
//! - `/` (device_type "chrp", which Linux's pseries platform probes for; compatible
//!   "qemu,pseries" first, which guests written against QEMU's pseries machine test for, then
//!   "tetra,pseries"; 2 address and 2 size cells) with memory reservations for the radix
//!   process table and the RTAS entry code;
//! - `/hypervisor` (compatible "linux,kvm"), as QEMU's spapr describes a KVM guest;
//! - `/cpus/PowerPC,POWER9@N`, one single-thread core per vCPU: `reg` and
//!   `ibm,ppc-interrupt-server#s` = N, `cpu-version` = the host PVR, timebase and clock from
//!   the host, the **host's** L1 cache block and line sizes (and sizes and sets when known:
//!   seed 002, the guest's `dcbz` clears one real block);
//! - `/memory@0`;
//! - `/rtas`: one token per function, the entry code (`linux,rtas-base`, `linux,rtas-entry`,
//!   `rtas-size`) and `ibm,hypertas-functions` from the hypercall table;
//! - a node for every device the device layer placed ([`crate::devices`]): virtual devices
//!   (no register window) under `/vdevice`, such as `vty@71000000` (compatible "hvterm1", the
//!   hypervisor console), the others at the root, such as `/debug-exit@200000000000`
//!   (compatible "tetra,debug-exit", the status register), but for the virtio-mmio transports:
//!   those are the children of `/virtio-mmio-bus` (device_type "ibm,persistent-memory", two
//!   address and two size cells, an empty `ranges`), each `virtio_mmio@ADDR` (compatible
//!   "virtio,mmio", its 0x200-byte window, `interrupts` = <source 0>, an edge XICS source).
//!   Linux on pseries makes platform devices (which the virtio_mmio driver binds) from no other
//!   node a firmware-less guest can have: not from root-level nodes (`of_platform_default_populate`
//!   is not run on powerpc), only from the children of a node of that device_type, which its
//!   pmem code probes with `of_platform_bus_probe` (docs/ppc64.md, "virtio");
//! - `/chosen`: bootargs, stdout-path, the initrd, and `ibm,architecture-vec-5` saying "radix
//!   only, with GTSE" (what Linux expects to find after client-architecture-support), or "hash
//!   only" for a hash-MMU guest (KVM-PR);
//! - with an interrupt controller ([`FdtConfig::xics`]), as QEMU's spapr describes XICS: the
//!   presentation controller `/interrupt-controller` (device_type
//!   "PowerPC-External-Interrupt-Presentation", compatible "IBM,ppc-xicp",
//!   `ibm,interrupt-server-ranges` = <0 vCPUs>, `#interrupt-cells` 2), the root's
//!   `interrupt-parent` pointing at it, and `/vdevice` an interrupt controller of its own
//!   (`#interrupt-cells` 2) for the virtual devices' `interrupts` = <source sense>; the RTAS
//!   XICS calls are listed then only. No XIVE node: Linux's pseries code then picks XICS.
//!
//! - with an interrupt controller, `/event-sources/epow-events` (`interrupts` = <source 0>, an
//!   edge XICS source) and the RTAS calls `check-exception` and `event-scan`
//!   (`rtas-error-log-max`, `rtas-event-scan-rate` in `/rtas`): the EPOW power button
//!   ([`crate::events`]).
//!
//! Each CPU node also has `ibm,pa-features` from POWER7 on ([`crate::cpu::pa_features`]: the
//! attribute bits Linux reads, radix only for a radix guest, no transactional memory).
//!
//! Not described yet: XIVE, PCI, NUMA associativity. The radix page sizes
//! (`ibm,processor-radix-AP-encodings`, which QEMU copies from `KVM_PPC_GET_RMMU_INFO`) are left
//! out: the name has 32 characters, one more than the devicetree specification allows, and
//! vm-fdt enforces the limit; Linux then uses the architected sizes (4K, 64K, 2M, 1G).

use crate::cpu::{cpu_model_name, pa_features, vmx_level, Cache, HostCpu};
use crate::layout::RTAS_SIZE;
use crate::mmu::smmu::HashCpuProps;
use crate::{hcall, rtas};
use vm_fdt::{FdtReserveEntry, FdtWriter};
use vmm_core::devices::{Irq, PlacedDevice, Trigger};
pub use vmm_core::fdt::FdtError;
use vmm_core::fdt::{device_nodes, node_name, reg_2_2, Chosen, NodeStyle};

/// What the device tree describes.
#[derive(Clone, Debug)]
pub struct FdtConfig<'a> {
    /// Number of vCPUs.
    pub cpus: u32,
    /// RAM size (RAM starts at 0).
    pub ram_size: u64,
    /// The host CPU.
    pub cpu: HostCpu,
    /// Kernel command line.
    pub bootargs: &'a str,
    /// Initrd `[start, end)`.
    pub initrd: Option<(u64, u64)>,
    /// Where the RTAS entry code is.
    pub rtas_base: u64,
    /// The radix process table `(base, size)`, reserved from the guest.
    pub proc_table: (u64, u64),
    /// The placed devices (the console is the one named [`crate::devices::CONSOLE`]).
    pub devices: &'a [PlacedDevice],
    /// The machine has a XICS (one interrupt server per vCPU, numbered from 0).
    pub xics: bool,
    /// The guest MMU is radix (else the hashed page table).
    pub radix: bool,
    /// A hash-MMU guest's `ibm,pft-size`, `ibm,slb-size` and `ibm,segment-page-sizes`.
    pub hash: Option<HashCpuProps>,
}

/// The phandle of the XICS presentation controller.
pub const PHANDLE_XICP: u32 = 1;

/// How pseries nodes name a device: a PAPR virtual device (no register window) under
/// `/vdevice` by its unit address; any other at the root (two address and two size cells).
/// Interrupts are XICS sources (`<source sense>`: 0 edge, 1 level).
pub struct PseriesStyle;

impl NodeStyle for PseriesStyle {
    fn unit(&self, d: &PlacedDevice) -> Option<u64> {
        d.unit_address()
    }

    fn reg(&self, d: &PlacedDevice) -> Option<Vec<u32>> {
        match d.window {
            Some(_) => reg_2_2(d),
            None => d.desc.firmware.unit.map(|u| vec![u as u32]),
        }
    }

    fn interrupts(&self, irq: &Irq) -> Vec<u32> {
        vec![irq.number, u32::from(irq.trigger == Trigger::Level)]
    }
}

/// The node under which the virtio-mmio transports are described (see [`build_fdt`]).
pub const VIRTIO_BUS: &str = "virtio-mmio-bus";

/// Whether `d` is a virtio-mmio transport (`compatible = "virtio,mmio"`).
pub fn is_virtio_mmio(d: &PlacedDevice) -> bool {
    d.desc.firmware.compatible.contains(&"virtio,mmio")
}

/// The path of a placed device's node.
pub fn device_path(d: &PlacedDevice) -> String {
    let name = node_name(d, &PseriesStyle);
    match d.window {
        Some(_) if is_virtio_mmio(d) => format!("/{VIRTIO_BUS}/{name}"),
        Some(_) => format!("/{name}"),
        None => format!("/vdevice/{name}"),
    }
}

/// `ibm,architecture-vec-5`: byte 0 is the length of what follows; byte 24 (MMU support) says
/// radix only (0x40) or hash only (0), byte 26 says guest translation shootdown is available
/// (0x40, radix only).
pub fn architecture_vec5(radix: bool) -> Vec<u8> {
    let mut v = vec![0u8; 27];
    v[0] = 26;
    if radix {
        v[24] = 0x40;
        v[26] = 0x40;
    }
    v
}

fn cache_props(fdt: &mut FdtWriter, prefix: &str, c: &Cache) -> Result<(), FdtError> {
    fdt.property_u32(&format!("{prefix}-cache-block-size"), c.block)?;
    fdt.property_u32(&format!("{prefix}-cache-line-size"), c.line)?;
    if let Some(s) = c.size {
        fdt.property_u32(&format!("{prefix}-cache-size"), s)?;
    }
    if let Some(s) = c.sets {
        fdt.property_u32(&format!("{prefix}-cache-sets"), s)?;
    }
    Ok(())
}

/// `/event-sources`, as QEMU's spapr: an interrupt controller of its own for its children's
/// `<source sense>` (Linux's XICS code takes any node but an 8259 as its own), with
/// `interrupt-ranges` covering the sources, and `epow-events`, whose interrupt Linux's pseries
/// `ras.c` takes to fetch an EPOW log with `check-exception`.
fn event_sources(fdt: &mut FdtWriter, epow: &Irq) -> Result<(), FdtError> {
    let node = fdt.begin_node("event-sources")?;
    fdt.property_null("interrupt-controller")?;
    fdt.property_u32("#interrupt-cells", 2)?;
    fdt.property_array_u32("interrupt-ranges", &[epow.number, 1])?;
    // No interrupt-map points here with a unit address (dtc wants it said).
    fdt.property_u32("#address-cells", 0)?;
    let ep = fdt.begin_node("epow-events")?;
    fdt.property_array_u32("interrupts", &PseriesStyle.interrupts(epow))?;
    fdt.end_node(ep)?;
    fdt.end_node(node)?;
    Ok(())
}

/// Builds the device tree blob.
pub fn build_fdt(cfg: &FdtConfig<'_>) -> Result<Vec<u8>, FdtError> {
    let stdout = cfg
        .devices
        .iter()
        .find(|d| d.desc.name == crate::devices::CONSOLE)
        .map(device_path);
    let chosen = Chosen {
        bootargs: cfg.bootargs,
        stdout_path: stdout.as_deref(),
        initrd: cfg.initrd,
    };
    chosen.check()?;
    // What the kernel must not allocate: the process table KVM walks and the RTAS entry code
    // (Linux booted without Open Firmware takes the reservations from here; its prom_init would
    // have added RTAS itself).
    let reserve = [
        FdtReserveEntry::new(cfg.proc_table.0, cfg.proc_table.1)?,
        FdtReserveEntry::new(cfg.rtas_base, RTAS_SIZE)?,
    ];
    let mut fdt = FdtWriter::new_with_mem_reserv(&reserve)?;
    fdt.set_boot_cpuid_phys(0);
    let root = fdt.begin_node("")?;
    // "qemu,pseries" is what guests written against QEMU's pseries machine test for (the
    // kvm-unit-tests' powerpc harness, for one); tetra's own name follows.
    fdt.property_string_list(
        "compatible",
        vec!["qemu,pseries".to_string(), "tetra,pseries".to_string()],
    )?;
    fdt.property_string("model", "tetra,pseries")?;
    fdt.property_string("device_type", "chrp")?;
    fdt.property_u32("#address-cells", 2)?;
    fdt.property_u32("#size-cells", 2)?;
    if cfg.xics {
        fdt.property_u32("interrupt-parent", PHANDLE_XICP)?;
    }

    let node = chosen.begin(&mut fdt)?;
    if let Some(p) = &stdout {
        fdt.property_string("linux,stdout-path", p)?;
    }
    fdt.property("ibm,architecture-vec-5", &architecture_vec5(cfg.radix))?;
    fdt.end_node(node)?;

    // A KVM guest, said the way QEMU's spapr says it under KVM.
    let hypervisor = fdt.begin_node("hypervisor")?;
    fdt.property_string("compatible", "linux,kvm")?;
    fdt.end_node(hypervisor)?;

    let memory = fdt.begin_node("memory@0")?;
    fdt.property_string("device_type", "memory")?;
    fdt.property_array_u64("reg", &[0, cfg.ram_size])?;
    fdt.end_node(memory)?;

    let cpus = fdt.begin_node("cpus")?;
    fdt.property_u32("#address-cells", 1)?;
    fdt.property_u32("#size-cells", 0)?;
    let model = cpu_model_name(cfg.cpu.info.pvr);
    for id in 0..cfg.cpus {
        let cpu = fdt.begin_node(&format!("{model}@{id:x}"))?;
        fdt.property_string("device_type", "cpu")?;
        fdt.property_u32("reg", id)?;
        fdt.property_u32("ibm,ppc-interrupt-server#s", id)?;
        fdt.property_u32("cpu-version", cfg.cpu.info.pvr)?;
        fdt.property_u32("timebase-frequency", cfg.cpu.info.timebase_hz)?;
        if let Some(hz) = cfg.cpu.info.clock_hz {
            fdt.property_u32("clock-frequency", hz)?;
        }
        cache_props(&mut fdt, "d", &cfg.cpu.caches.d)?;
        cache_props(&mut fdt, "i", &cfg.cpu.caches.i)?;
        fdt.property_null("64-bit")?;
        if let Some(pa) = pa_features(cfg.cpu.info.pvr, cfg.radix) {
            fdt.property("ibm,pa-features", &pa)?;
        }
        if let Some(h) = &cfg.hash {
            fdt.property_array_u32("ibm,pft-size", &[0, h.pft_order])?;
            if h.slb_size != 0 {
                fdt.property_u32("ibm,slb-size", h.slb_size)?;
            }
            if !h.segment_page_sizes.is_empty() {
                fdt.property_array_u32("ibm,segment-page-sizes", &h.segment_page_sizes)?;
            }
        }
        // Vector units (Linux enables AltiVec/VSX for processes only when these say so), and
        // decimal floating point and the PURR/SPURR registers of POWER7 on, as QEMU's spapr
        // says them.
        let vmx = vmx_level(cfg.cpu.info.pvr);
        if vmx > 0 {
            fdt.property_u32("ibm,vmx", vmx)?;
        }
        if vmx == 2 {
            fdt.property_u32("ibm,dfp", 1)?;
            fdt.property_u32("ibm,purr", 1)?;
            fdt.property_u32("ibm,spurr", 1)?;
        }
        fdt.property_string("status", "okay")?;
        fdt.end_node(cpu)?;
    }
    fdt.end_node(cpus)?;

    let rtas_node = fdt.begin_node("rtas")?;
    for (name, token) in rtas::machine_tokens(cfg.xics) {
        fdt.property_u32(name, token)?;
    }
    fdt.property_u32("rtas-size", RTAS_SIZE as u32)?;
    // The largest error log check-exception writes (Linux sizes its buffer from it), and
    // event-scan's rate (calls per minute; Linux's rtasd polls event-scan only when it is given).
    fdt.property_u32("rtas-error-log-max", crate::events::MAX_LOG_LEN as u32)?;
    fdt.property_u32("rtas-event-scan-rate", 1)?;
    // Linux reads both as 32-bit cells; the layout keeps RTAS below 1 GiB.
    fdt.property_u32("linux,rtas-base", cfg.rtas_base as u32)?;
    fdt.property_u32("linux,rtas-entry", cfg.rtas_base as u32)?;
    fdt.property_string_list(
        "ibm,hypertas-functions",
        hcall::hypertas_functions()
            .into_iter()
            .map(String::from)
            .collect(),
    )?;
    fdt.end_node(rtas_node)?;

    if let Some(irq) = cfg
        .devices
        .iter()
        .find(|d| d.desc.name == crate::devices::EPOW)
        .and_then(|d| d.irq)
    {
        event_sources(&mut fdt, &irq)?;
    }

    if cfg.xics {
        let icp = fdt.begin_node("interrupt-controller")?;
        fdt.property_string("device_type", "PowerPC-External-Interrupt-Presentation")?;
        fdt.property_string("compatible", "IBM,ppc-xicp")?;
        fdt.property_null("interrupt-controller")?;
        fdt.property_array_u32("ibm,interrupt-server-ranges", &[0, cfg.cpus])?;
        fdt.property_u32("#interrupt-cells", 2)?;
        // No interrupt-map points here with a unit address (dtc wants it said).
        fdt.property_u32("#address-cells", 0)?;
        fdt.property_u32("linux,phandle", PHANDLE_XICP)?;
        fdt.property_phandle(PHANDLE_XICP)?;
        fdt.end_node(icp)?;
    }

    let vdevice = fdt.begin_node("vdevice")?;
    fdt.property_string("device_type", "vdevice")?;
    fdt.property_string("compatible", "IBM,vdevice")?;
    fdt.property_u32("#address-cells", 1)?;
    fdt.property_u32("#size-cells", 0)?;
    if cfg.xics {
        fdt.property_u32("#interrupt-cells", 2)?;
        fdt.property_null("interrupt-controller")?;
    }
    device_nodes(
        &mut fdt,
        cfg.devices.iter().filter(|d| d.window.is_none()),
        &PseriesStyle,
    )?;
    fdt.end_node(vdevice)?;
    device_nodes(
        &mut fdt,
        cfg.devices
            .iter()
            .filter(|d| d.window.is_some() && !is_virtio_mmio(d)),
        &PseriesStyle,
    )?;
    if cfg.devices.iter().any(is_virtio_mmio) {
        // Linux on pseries creates platform devices only for the children of a node of this
        // device_type (the pseries pmem code's of_platform_bus_probe); not for root-level
        // nodes (docs/ppc64.md, "virtio").
        let bus = fdt.begin_node(VIRTIO_BUS)?;
        fdt.property_string("device_type", "ibm,persistent-memory")?;
        fdt.property_u32("#address-cells", 2)?;
        fdt.property_u32("#size-cells", 2)?;
        // Children's addresses are the root's (an empty ranges: Linux translates through it).
        fdt.property_null("ranges")?;
        device_nodes(
            &mut fdt,
            cfg.devices.iter().filter(|d| is_virtio_mmio(d)),
            &PseriesStyle,
        )?;
        fdt.end_node(bus)?;
    }

    fdt.end_node(root)?;
    Ok(fdt.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::{CacheGeometry, CpuInfo};
    use vmm_core::fdt_check::{dtc, node};

    fn host(dblock: u32) -> HostCpu {
        let c = Cache {
            block: dblock,
            line: dblock,
            size: Some(32768),
            sets: Some(32),
        };
        HostCpu {
            info: CpuInfo {
                pvr: 0x004e_1202,
                timebase_hz: 512_000_000,
                clock_hz: Some(2_200_000_000),
            },
            caches: CacheGeometry {
                d: c,
                i: Cache {
                    block: 64,
                    line: 64,
                    size: None,
                    sets: None,
                },
            },
        }
    }

    fn config(cpus: u32, dblock: u32) -> FdtConfig<'static> {
        config_with(cpus, dblock, false)
    }

    fn config_with(cpus: u32, dblock: u32, xics: bool) -> FdtConfig<'static> {
        FdtConfig {
            cpus,
            ram_size: 256 << 20,
            cpu: host(dblock),
            bootargs: "console=hvc0 quiet",
            initrd: Some((0x0e00_0000, 0x0e10_0000)),
            rtas_base: 0x0ffe_0000,
            proc_table: (0x0fff_0000, 0x1_0000),
            devices: devices(xics),
            xics,
            radix: true,
            hash: None,
        }
    }

    #[test]
    fn a_hash_guest_s_cpus_carry_the_slb_and_page_sizes() {
        let mut c = config(1, 128);
        c.radix = false;
        c.hash = Some(HashCpuProps {
            pft_order: 18,
            slb_size: 32,
            segment_page_sizes: vec![12, 0, 1, 12, 0],
        });
        let dts = dtc(&build_fdt(&c).unwrap());
        assert!(dts.contains("ibm,slb-size = <0x20>;"), "{dts}");
        assert!(dts.contains("ibm,pft-size = <0x00 0x12>;"), "{dts}");
        assert!(dts.contains("ibm,segment-page-sizes = <0x0c 0x00 0x01 0x0c 0x00>;"));
        assert!(dts.contains("ibm,architecture-vec-5 = [1a 00"));
        assert!(!dtc(&build_fdt(&config(1, 128)).unwrap()).contains("ibm,slb-size"));
    }

    #[test]
    fn a_ppc970_guest_is_described_as_one() {
        // `--cpu-template ppc970` on KVM-PR: the 970's node name, PVR and VMX level, the host's
        // cache blocks (its dcbz), no pa-features (the 970 predates them), a hash MMU.
        let mut c = config(1, 128);
        c.cpu.info.pvr = 0x0039_0202;
        c.radix = false;
        let dts = dtc(&build_fdt(&c).unwrap());
        let cpu = node(&dts, "PowerPC,970@0");
        assert!(cpu.contains("cpu-version = <0x390202>;"), "{cpu}");
        assert!(cpu.contains("ibm,vmx = <0x01>;"), "{cpu}");
        assert!(cpu.contains("d-cache-block-size = <0x80>;"), "{cpu}");
        assert!(
            !cpu.contains("ibm,pa-features") && !cpu.contains("ibm,dfp"),
            "{cpu}"
        );
    }

    #[test]
    fn vec5_says_radix_or_hash() {
        let r = architecture_vec5(true);
        assert_eq!((r.len(), r[0], r[24], r[26]), (27, 26, 0x40, 0x40));
        let h = architecture_vec5(false);
        assert_eq!((h.len(), h[0], h[24], h[26]), (27, 26, 0, 0));
    }

    fn devices(xics: bool) -> &'static [PlacedDevice] {
        use std::sync::OnceLock;
        static D: [OnceLock<Vec<PlacedDevice>>; 2] = [OnceLock::new(), OnceLock::new()];
        D[usize::from(xics)].get_or_init(|| {
            crate::devices::planned(&crate::layout::Ppc64Layout::new(256 << 20).unwrap(), xics)
        })
    }

    #[test]
    fn decompiles_to_the_pseries_tree() {
        let blob = build_fdt(&config(2, 128)).unwrap();
        let dts = dtc(&blob);
        assert!(
            dts.contains("/memreserve/\t0x000000000fff0000 0x0000000000010000;")
                && dts.contains(&format!(
                    "/memreserve/\t{:#018x} 0x0000000000001000;",
                    config(2, 128).rtas_base
                )),
            "{dts}"
        );
        let root = node(&dts, "/");
        assert!(root.contains("device_type = \"chrp\";"));
        // (dtc prints a string list as "a", "b" or, older ones, "a\0b".)
        assert!(
            root.contains("compatible = \"qemu,pseries\", \"tetra,pseries\";")
                || root.contains("compatible = \"qemu,pseries\\0tetra,pseries\";"),
            "{root}"
        );
        assert!(node(&dts, "hypervisor").contains("compatible = \"linux,kvm\";"));
        assert!(root.contains("#address-cells = <0x02>;"));

        let chosen = node(&dts, "chosen");
        assert!(chosen.contains("bootargs = \"console=hvc0 quiet\";"));
        assert!(chosen.contains("stdout-path = \"/vdevice/vty@71000000\";"));
        assert!(
            chosen.contains("linux,initrd-start = <0x00 0xe000000>;"),
            "{chosen}"
        );
        assert!(chosen.contains("linux,initrd-end = <0x00 0xe100000>;"));
        assert!(
            chosen.contains("ibm,architecture-vec-5 = [1a 00"),
            "{chosen}"
        );

        let mem = node(&dts, "memory@0");
        assert!(mem.contains("reg = <0x00 0x00 0x00 0x10000000>;"), "{mem}");

        for id in 0..2 {
            let cpu = node(&dts, &format!("PowerPC,POWER9@{id}"));
            assert!(cpu.contains(&format!("reg = <0x{id:02x}>;")), "{cpu}");
            assert!(cpu.contains("cpu-version = <0x4e1202>;"));
            assert!(cpu.contains("ibm,vmx = <0x02>;"), "{cpu}");
            assert!(cpu.contains("ibm,dfp = <0x01>;"));
            // One descriptor of 65 bytes: MMU|FPU|SLB|RUN|NX, ..., true LE at byte 5.
            assert!(
                cpu.contains("ibm,pa-features = [41 00 f2 00 00 00 00 80 00"),
                "{cpu}"
            );
            assert!(cpu.contains("timebase-frequency = <0x1e848000>;"));
            assert!(cpu.contains("d-cache-block-size = <0x80>;"));
            assert!(cpu.contains("d-cache-line-size = <0x80>;"));
            assert!(cpu.contains("d-cache-size = <0x8000>;"));
            assert!(cpu.contains("d-cache-sets = <0x20>;"));
            assert!(cpu.contains("i-cache-block-size = <0x40>;"));
            assert!(!cpu.contains("i-cache-size"), "unknown sizes are left out");
        }
        assert!(!dts.contains("POWER9@2"));

        let rtas = node(&dts, "rtas");
        assert!(!rtas.contains("ibm,set-xive"), "no XICS calls without XICS");
        assert!(!dts.contains("interrupt-controller"));
        assert!(!node(&dts, "vty@71000000").contains("interrupts"));
        for (name, token) in rtas::machine_tokens(false) {
            assert!(
                rtas.contains(&format!("{name} = <0x{token:x}>;")),
                "{name}: {rtas}"
            );
        }
        assert!(rtas.contains("linux,rtas-base = <0xffe0000>;"));
        assert!(rtas.contains("linux,rtas-entry = <0xffe0000>;"));
        assert!(rtas.contains("rtas-size = <0x1000>;"));
        assert!(
            rtas.contains(
                "ibm,hypertas-functions = \"hcall-term\\0hcall-sprg0\\0hcall-splpar\\0hcall-set-mode\\0hcall-pft\";"
            ),
            "{rtas}"
        );

        let vty = node(&dts, "vty@71000000");
        assert!(vty.contains("compatible = \"hvterm1\";"));
        assert!(vty.contains("reg = <0x71000000>;"));
        let dbg = node(&dts, "debug-exit@200000000000");
        assert!(dbg.contains("reg = <0x2000 0x00 0x00 0x04>;"), "{dbg}");
    }

    #[test]
    fn the_cache_block_size_is_the_hosts() {
        // Seed 002: a host with 64-byte blocks must not be described with POWER's usual 128.
        let dts = dtc(&build_fdt(&config(1, 64)).unwrap());
        let cpu = node(&dts, "PowerPC,POWER9@0");
        assert!(cpu.contains("d-cache-block-size = <0x40>;"), "{cpu}");
        assert!(!cpu.contains("<0x80>"), "{cpu}");
    }

    #[test]
    fn no_initrd_and_bad_cmdline() {
        let mut c = config(1, 128);
        c.initrd = None;
        let dts = dtc(&build_fdt(&c).unwrap());
        assert!(!dts.contains("linux,initrd-start"));
        c.bootargs = "a\0b";
        assert!(matches!(build_fdt(&c), Err(FdtError::NulInCmdline)));
    }

    #[test]
    fn the_xics_and_the_console_interrupt() {
        let dts = dtc(&build_fdt(&config_with(4, 128, true)).unwrap());
        let root = node(&dts, "/");
        assert!(root.contains("interrupt-parent = <0x01>;"), "{root}");
        let icp = node(&dts, "interrupt-controller");
        for want in [
            "device_type = \"PowerPC-External-Interrupt-Presentation\";",
            "compatible = \"IBM,ppc-xicp\";",
            "interrupt-controller;",
            "ibm,interrupt-server-ranges = <0x00 0x04>;",
            "#interrupt-cells = <0x02>;",
            "phandle = <0x01>;",
        ] {
            assert!(icp.contains(want), "{want}: {icp}");
        }
        let vdevice = node(&dts, "vdevice");
        assert!(vdevice.contains("interrupt-controller;"), "{vdevice}");
        assert!(vdevice.contains("#interrupt-cells = <0x02>;"));
        // The console: the first source the device layer hands out, edge (sense 0).
        let vty = node(&dts, "vty@71000000");
        assert!(vty.contains("interrupts = <0x1000 0x00>;"), "{vty}");
        let rtas = node(&dts, "rtas");
        for name in ["ibm,set-xive", "ibm,get-xive", "ibm,int-off", "ibm,int-on"] {
            let t = rtas::token(name).unwrap();
            assert!(
                rtas.contains(&format!("{name} = <0x{t:x}>;")),
                "{name}: {rtas}"
            );
        }
        // The power button: the EPOW source (the window's last, edge) and the RTAS event calls.
        let ev = node(&dts, "event-sources");
        assert!(ev.contains("interrupt-controller;"), "{ev}");
        assert!(ev.contains("#interrupt-cells = <0x02>;"));
        assert!(ev.contains("interrupt-ranges = <0x13ff 0x01>;"));
        let epow = node(&dts, "epow-events");
        assert!(epow.contains("interrupts = <0x13ff 0x00>;"), "{epow}");
        for name in ["check-exception", "event-scan"] {
            let t = rtas::token(name).unwrap();
            assert!(rtas.contains(&format!("{name} = <0x{t:x}>;")), "{name}");
        }
        assert!(rtas.contains("rtas-error-log-max = <0x800>;"));
        assert!(rtas.contains("rtas-event-scan-rate = <0x01>;"));
        // Without an interrupt controller there is no EPOW source to describe.
        let plain = dtc(&build_fdt(&config_with(1, 128, false)).unwrap());
        assert!(!plain.contains("event-sources"));
    }

    #[test]
    fn virtio_transports_sit_under_the_bus_linux_populates() {
        use vmm_core::devices::virtio::mmio_desc;
        use vmm_core::MachineLayout;
        let layout = crate::layout::Ppc64Layout::new(256 << 20).unwrap();
        let mut descs = crate::devices::descs(true);
        descs.push(mmio_desc("virtio-rng", 0));
        descs.push(mmio_desc("virtio-blk0", 1));
        let placed = vmm_core::devices::plan(&layout.device_windows(), descs).unwrap();
        let mut c = config_with(1, 128, true);
        c.devices = &placed;
        let dts = dtc(&build_fdt(&c).unwrap());

        let bus = node(&dts, VIRTIO_BUS);
        for want in [
            "device_type = \"ibm,persistent-memory\";",
            "#address-cells = <0x02>;",
            "#size-cells = <0x02>;",
            "ranges;",
        ] {
            assert!(bus.contains(want), "{want}: {bus}");
        }
        // Each transport: its own window in the MMIO window, above the debug exit, and the next
        // XICS sources after the console's 0x1000 (edge: sense 0).
        let virtio: Vec<&PlacedDevice> = placed.iter().filter(|d| is_virtio_mmio(d)).collect();
        assert_eq!(virtio.len(), 2);
        for (i, d) in virtio.iter().enumerate() {
            let w = d.window.unwrap();
            assert!(w.base > crate::layout::DEBUG_EXIT_ADDR);
            assert!(w.base + w.len <= crate::layout::MMIO_BASE + crate::layout::MMIO_SIZE);
            let irq = d.irq.unwrap().number;
            assert_eq!(irq, crate::layout::IRQ_BASE + 1 + i as u32);
            let name = format!("virtio_mmio@{:x}", w.base);
            assert!(bus.contains(&format!("{name} {{")), "{name} not in {bus}");
            let n = node(&dts, &name);
            assert!(n.contains("compatible = \"virtio,mmio\";"), "{n}");
            assert!(n.contains("dma-coherent;"), "{n}");
            assert!(
                n.contains(&format!(
                    "reg = <0x{:x} 0x{:x} 0x00 0x200>;",
                    w.base >> 32,
                    w.base as u32
                )),
                "{n}"
            );
            assert!(
                n.contains(&format!("interrupts = <0x{irq:x} 0x00>;")),
                "{n}"
            );
            assert_eq!(device_path(d), format!("/{VIRTIO_BUS}/{name}"));
        }
        // Nothing else moved: the debug exit stays at the root, the console under /vdevice.
        assert!(node(&dts, "/").contains("debug-exit@200000000000 {"));
        assert!(!bus.contains("debug-exit"), "{bus}");
        assert!(node(&dts, "vty@71000000").contains("interrupts = <0x1000 0x00>;"));

        // No virtio device, no bus.
        let plain = dtc(&build_fdt(&config_with(1, 128, true)).unwrap());
        assert!(!plain.contains(VIRTIO_BUS), "{plain}");
    }
}
