//! The arm64 platform: the vGICv3 (+ITS), whether vCPUs get a vPMU, and the devices ([`setup`],
//! before any vCPU); the GIC's and the vPMUs' initialisation once every vCPU exists
//! ([`Arch::finish`](vmm_core::Arch::finish)); and for a fresh boot the payload (a Linux `Image`
//! through linux-loader's PE loader, or a raw image), the device tree (with every vCPU's MPIDR,
//! read from KVM) and the boot vCPU's entry registers ([`load`]).

use super::gic::Gic;
use super::vcpu::{init_pmu, preferred_target};
use crate::boot::{self, BootError, BootPlan, BootRequest, Kernel};
use crate::devices::pl031::Pl031;
use crate::devices::pl061::{Pl061, POWER_KEY_LINE};
use crate::error::Arm64Error;
use crate::fdt::{build_fdt, FdtConfig};
use crate::irqchip::{ppi_intid, IrqChipKind};
use crate::layout::{
    MSI_GSI_START, PCI_ECAM_LEN, PCI_ECAM_START, PCI_MMIO_LEN, PCI_MMIO_START, PMU_PPI, RAM_BASE,
};
use crate::regs::{get_u64, set_u64, MPIDR_EL1};
use crate::Arm64;
use kvm_bindings::kvm_vcpu_init;
use kvm_ioctls::Cap;
use linux_loader::loader::{KernelLoader, PE};
use std::sync::{Arc, Mutex, OnceLock};
use vm_memory::{GuestAddress, GuestAddressSpace, GuestMemoryAtomic};
use vmm_core::config::Transport;
use vmm_core::devices::irq::DeferredIrqfds;
use vmm_core::devices::pci::{KvmMsiRouter, PciHost};
use vmm_core::devices::{DebugExit, Serial16550};
use vmm_core::hypervisor::ioctls::KvmVcpu;
use vmm_core::hypervisor::{GsiRoute, VmOps};
use vmm_core::memory::write_guest;
use vmm_core::memory::GuestMemoryMmap;
use vmm_core::{BuildContext, PlatformContext};

/// What the arm64 vCPUs share.
pub struct Platform {
    gic: Gic,
    irqfds: DeferredIrqfds,
    /// The PCI host bridge and its MSI router (ITS MSIs), with `--transport pci`.
    pci: Option<(PciHost, Arc<KvmMsiRouter>)>,
    irqchip: IrqChipKind,
    target: kvm_vcpu_init,
    pmu: bool,
    boot: OnceLock<BootPlan>,
    mpidrs: OnceLock<Vec<u64>>,
    /// Guest RAM, for reading the ITS tables a restore is about to hand KVM.
    memory: GuestMemoryAtomic<GuestMemoryMmap>,
    /// The PL061 GPIO controller, whose line [`POWER_KEY_LINE`] is the power button.
    gpio: Arc<Mutex<Pl061>>,
}

impl Platform {
    /// The interrupt controller.
    pub fn irqchip(&self) -> IrqChipKind {
        self.irqchip
    }

    /// Guest RAM as it is now.
    pub fn memory(&self) -> vm_memory::GuestMemoryLoadGuard<GuestMemoryMmap> {
        self.memory.memory()
    }

    /// The vGIC devices.
    pub fn gic(&self) -> &Gic {
        &self.gic
    }

    /// Device interrupts: irqfds on SPIs, registered once the vGIC is initialised.
    pub fn router(&self) -> &DeferredIrqfds {
        &self.irqfds
    }

    /// The PCI host bridge (virtio-pci), if the VM has one.
    pub fn pci(&self) -> Option<&PciHost> {
        self.pci.as_ref().map(|(host, _)| host)
    }

    /// Writes the MSI routing table again: a restore, once the ITS has its tables back.
    pub fn reapply_msi_routes(&self) -> Result<(), Arm64Error> {
        match &self.pci {
            Some((_, msi)) => Ok(msi.reapply()?),
            None => Ok(()),
        }
    }

    /// Initialises the vGIC (every vCPU exists), then each vCPU's vPMU, then registers the
    /// devices' irqfds and, with PCI, the GSI routing table (SPIs and ITS MSIs).
    pub(super) fn finish(&self, vcpus: &[KvmVcpu]) -> Result<(), Arm64Error> {
        let mpidrs = vcpus
            .iter()
            .map(|v| get_u64(v, MPIDR_EL1))
            .collect::<Result<Vec<_>, _>>()?;
        let _ = self.mpidrs.set(mpidrs);
        self.gic.init()?;
        if self.pmu {
            for vcpu in vcpus {
                init_pmu(vcpu, ppi_intid(PMU_PPI))?;
            }
        }
        self.irqfds.register()?;
        if let Some((_, msi)) = &self.pci {
            msi.activate()?;
        }
        Ok(())
    }

    /// Every vCPU's MPIDR_EL1, by index (what KVM derived from the vCPU id; the key of each
    /// vCPU's redistributor and CPU interface). Empty before [`Arch::finish`](vmm_core::Arch::finish).
    pub fn mpidrs(&self) -> &[u64] {
        self.mpidrs.get().map_or(&[], Vec::as_slice)
    }

    /// Whether the vCPUs have a vPMU (the host's KVM offers `KVM_CAP_ARM_PMU_V3`).
    pub fn pmu(&self) -> bool {
        self.pmu
    }

    /// The vCPU target every vCPU is initialised for (`KVM_ARM_PREFERRED_TARGET`).
    pub fn target(&self) -> &kvm_vcpu_init {
        &self.target
    }

    /// Drives the power button's GPIO line: `true` pressed, `false` released.
    pub fn set_power_key(&self, pressed: bool) {
        self.gpio
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .set_input(POWER_KEY_LINE, pressed);
    }

    /// Where the payload, initrd and device tree went (a booted VM; `None` for a restored one).
    pub fn boot_plan(&self) -> Option<&BootPlan> {
        self.boot.get()
    }
}

pub(super) fn setup(ctx: &mut PlatformContext<'_, Arm64>) -> Result<Platform, Arm64Error> {
    let layout = ctx.layout;
    crate::layout::check(ctx.config.cpus, layout.mem_bytes)?;
    let gic = Gic::create(ctx.vm, &layout.gic)?;
    let target = preferred_target(ctx.vm)?;
    // A vPMU wherever the host has one, so that profiling works in the guest.
    let pmu = ctx.vm.fd().check_extension(Cap::ArmPmuV3);

    // The UART on SPI 1 through an irqfd (KVM's default routing: GSI n is SPI n), the debug exit,
    // the RTC, the GPIO controller (the power button).
    // KVM takes irqfds only once the vGIC is initialised: they are registered in `finish`.
    let router = DeferredIrqfds::new(ctx.vm.clone());
    let mut descs = crate::devices::descs().into_iter();
    let (space, out) = (ctx.console.space.clone(), ctx.console.sink.writer());
    let serial = ctx
        .devices
        .add_stateful(&router, descs.next().expect("the UART"), |r| {
            Serial16550::new(r.irq.expect("the UART has an interrupt"), space, out)
        })?;
    ctx.console.input = Some(serial);
    let exit = ctx.exit.clone();
    ctx.devices
        .add(&router, descs.next().expect("the debug exit"), |_| {
            DebugExit::new(exit)
        })?;
    ctx.devices
        .add_stateful(&router, descs.next().expect("the RTC"), |_| Pl031::new())?;
    let gpio = ctx
        .devices
        .add(&router, descs.next().expect("the GPIO controller"), |r| {
            Pl061::new(r.irq.expect("the PL061 has an interrupt"))
        })?;
    ctx.devices
        .add_optional_state(crate::devices::GPIO_STATE, gpio.clone())?;
    // A VM without virtio devices has no PCI bus (config::check_early gave a pci one the ITS).
    let pci = match ctx.config.virtio.transport {
        Transport::Pci if ctx.config.virtio.any() => Some(pci_host(ctx)?),
        _ => None,
    };
    Ok(Platform {
        gic,
        irqfds: router,
        pci,
        irqchip: layout.irqchip,
        target,
        pmu,
        boot: OnceLock::new(),
        mpidrs: OnceLock::new(),
        memory: ctx.memory.atomic().clone(),
        gpio,
    })
}

/// PCI bus 0: ECAM at [`PCI_ECAM_START`], BARs in [`PCI_MMIO_START`]`..+`[`PCI_MMIO_LEN`], MSI-X
/// through the ITS: every route carries the function's requester id (`KVM_MSI_VALID_DEVID`, the
/// device tree's `msi-map` is one to one). The routing table keeps KVM's default SPI routes (GSI
/// n to SPI n, for the irqfds of the UART and virtio-mmio devices) below [`MSI_GSI_START`]; it
/// and the irqfds go to KVM only once the vGIC is initialised ([`Platform::finish`]).
fn pci_host(
    ctx: &mut PlatformContext<'_, Arm64>,
) -> Result<(PciHost, Arc<KvmMsiRouter>), Arm64Error> {
    let spis = (0..MSI_GSI_START)
        .map(|n| GsiRoute::Irqchip {
            gsi: n,
            irqchip: 0,
            pin: n,
        })
        .collect();
    // KVM_CAP_IRQ_ROUTING is the number of GSIs the table may route.
    let end = match ctx.vm.check_extension(kvm_bindings::KVM_CAP_IRQ_ROUTING) {
        n if n > 0 => n as u32,
        _ => MSI_GSI_START,
    };
    let ops: Arc<dyn VmOps> = ctx.vm.clone();
    let msi = Arc::new(KvmMsiRouter::deferred(ops, spis, MSI_GSI_START, end, true));
    let host = PciHost::install(
        ctx.devices,
        (PCI_ECAM_START, PCI_ECAM_LEN),
        (PCI_MMIO_START, PCI_MMIO_LEN),
        msi.clone(),
    )?;
    Ok((host, msi))
}

/// Loads the payload and the initrd, writes the device tree, and sets the boot vCPU's entry
/// registers (secondaries wait powered off for PSCI `CPU_ON`, which KVM handles).
pub(super) fn load(ctx: &mut BuildContext<'_, Arm64>) -> Result<(), Arm64Error> {
    let cfg = ctx.config;
    let mpidrs = ctx
        .vcpus
        .iter()
        .map(|v| get_u64(v, MPIDR_EL1))
        .collect::<Result<Vec<_>, _>>()?;
    let payload = cfg.kernel.as_ref().ok_or(Arm64Error::NoKernel)?;
    let image = payload.read()?;
    let initrd = match &cfg.initrd {
        Some(p) => Some((p.read()?, p.name())),
        None => None,
    };
    let name = payload.name();
    let plan = boot::plan(&BootRequest {
        name: &name,
        head: &image,
        image_len: image.len() as u64,
        raw: cfg.raw.as_ref(),
        initrd: initrd.as_ref().map(|(d, n)| (n.as_str(), d.len() as u64)),
        mem_bytes: cfg.mem_bytes(),
    })?;
    let mem = ctx.memory.memory();
    let initrd_bytes = initrd.as_ref().map(|(d, _)| &d[..]);
    match plan.kernel {
        Kernel::Raw => boot::load(&mem, &plan, &image, initrd_bytes)?,
        Kernel::Linux(_) => {
            // The plan checked that the image and its BSS fit; linux-loader writes it at the
            // 2 MiB-aligned base plus the header's text offset, which must be where we planned.
            let loaded = PE::load(
                &*mem,
                Some(GuestAddress(RAM_BASE)),
                &mut std::io::Cursor::new(&image[..]),
                None,
            )
            .map_err(|source| BootError::Loader {
                name: name.clone(),
                source,
            })?;
            if loaded.kernel_load.0 != plan.load_addr {
                return Err(BootError::LoaderDisagrees {
                    name,
                    want: plan.load_addr,
                    got: loaded.kernel_load.0,
                }
                .into());
            }
            boot::load_initrd(&mem, &plan, initrd_bytes)?;
        }
    }
    let dtb = build_fdt(&FdtConfig {
        mem_bytes: cfg.mem_bytes(),
        mpidrs: &mpidrs,
        gic: *ctx.platform.gic.layout(),
        bootargs: &cfg.cmdline,
        initrd: plan.initrd,
        devices: ctx.devices,
        pmu: ctx.platform.pmu,
        pci: ctx.platform.pci.is_some(),
    })?;
    write_guest(&mem, "the device tree", plan.dtb_addr, &dtb)?;
    for (id, value) in plan.entry().registers() {
        set_u64(&ctx.vcpus[0], id, value)?;
    }
    let _ = ctx.platform.boot.set(plan);
    Ok(())
}
