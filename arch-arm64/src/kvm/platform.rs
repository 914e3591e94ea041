//! The arm64 platform: the vGICv3 (+ITS), every vCPU (created here, because the device tree needs
//! their MPIDRs and the GIC must be initialised after they exist), the UART and debug-exit on the
//! MMIO bus, the payload, the device tree, and the boot vCPU's entry registers.

use super::gic::Gic;
use super::vcpu::{create_vcpu, preferred_target};
use crate::boot::{self, BootPlan, BootRequest};
use crate::error::Arm64Error;
use crate::fdt::{build_fdt, FdtConfig};
use crate::irqchip::{GicLayout, IrqChipKind};
use crate::layout::*;
use crate::regs::{get_u64, set_u64, MPIDR_EL1};
use crate::Arm64;
use std::sync::{Arc, Mutex};
use vmm_core::devices::{DebugExit, Serial16550};
use vmm_core::hypervisor::ioctls::KvmVcpu;
use vmm_core::hypervisor::VmOps;
use vmm_core::memory::write_guest;
use vmm_core::SetupContext;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// What the arm64 vCPUs share.
pub struct Platform {
    vcpus: Mutex<Vec<Option<KvmVcpu>>>,
    mpidrs: Vec<u64>,
    gic: Gic,
    irqchip: IrqChipKind,
    boot: BootPlan,
}

impl Platform {
    /// Hands vCPU `id` to vmm-core (once).
    pub(super) fn take_vcpu(&self, id: u32) -> Result<KvmVcpu, Arm64Error> {
        self.vcpus
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(id as usize)
            .and_then(Option::take)
            .ok_or(Arm64Error::NoSuchVcpu(id))
    }

    /// Each vCPU's MPIDR_EL1 as KVM set it, in vCPU order (the device tree's cpu `reg`s).
    pub fn mpidrs(&self) -> &[u64] {
        &self.mpidrs
    }

    /// The interrupt controller.
    pub fn irqchip(&self) -> IrqChipKind {
        self.irqchip
    }

    /// The vGIC devices.
    pub fn gic(&self) -> &Gic {
        &self.gic
    }

    /// Where the payload, initrd and device tree went.
    pub fn boot_plan(&self) -> &BootPlan {
        &self.boot
    }
}

pub(super) fn setup(ctx: &mut SetupContext<'_, Arm64>) -> Result<Platform, Arm64Error> {
    let cfg = ctx.config;
    let kind = crate::config::check(cfg)?;
    let gic = Gic::create(ctx.vm, &GicLayout::new(cfg.cpus, kind))?;

    // Every vCPU now: secondaries wait powered off for a PSCI CPU_ON, which KVM handles.
    let target = preferred_target(ctx.vm)?;
    let vcpus = (0..cfg.cpus)
        .map(|id| create_vcpu(ctx.vm, id, &target, id != 0))
        .collect::<Result<Vec<_>, _>>()?;
    let mpidrs = vcpus
        .iter()
        .map(|v| get_u64(v, MPIDR_EL1))
        .collect::<Result<Vec<_>, _>>()?;
    gic.init()?;

    // The UART on SPI UART_SPI through an irqfd (KVM's default routing: GSI n is SPI n).
    let irq = EventFd::new(EFD_NONBLOCK).map_err(Arm64Error::EventFd)?;
    ctx.vm.register_irqfd(&irq, UART_SPI)?;
    let serial = Arc::new(Mutex::new(Serial16550::new(
        irq,
        ctx.console.space.clone(),
        ctx.console.sink.writer(),
    )));
    ctx.mmio.insert(UART_BASE, UART_SIZE, serial.clone())?;
    ctx.console.input = Some(serial);
    ctx.mmio.insert(
        DEBUG_EXIT_BASE,
        DEBUG_EXIT_SIZE,
        Arc::new(Mutex::new(DebugExit::new(ctx.exit.clone()))),
    )?;

    // The payload, the initrd, the device tree.
    let payload = cfg.kernel.as_ref().ok_or(Arm64Error::NoKernel)?;
    let image = payload.read()?;
    let initrd = match &cfg.initrd {
        Some(p) => Some((p.read()?, p.name())),
        None => None,
    };
    let name = payload.name();
    let plan = boot::plan(&BootRequest {
        name: &name,
        image_len: image.len() as u64,
        raw: cfg.raw.as_ref(),
        initrd: initrd.as_ref().map(|(d, n)| (n.as_str(), d.len() as u64)),
        mem_bytes: cfg.mem_bytes(),
    })?;
    let mem = ctx.memory.memory();
    boot::load(
        &mem,
        &plan,
        &image,
        initrd.as_ref().map(|(d, _)| d.as_slice()),
    )?;
    let dtb = build_fdt(&FdtConfig {
        mem_bytes: cfg.mem_bytes(),
        mpidrs: &mpidrs,
        gic: *gic.layout(),
        bootargs: &cfg.cmdline,
        initrd: plan.initrd,
    })?;
    write_guest(&mem, "the device tree", plan.dtb_addr, &dtb)?;

    for (id, value) in plan.entry().registers() {
        set_u64(&vcpus[0], id, value)?;
    }
    Ok(Platform {
        vcpus: Mutex::new(vcpus.into_iter().map(Some).collect()),
        mpidrs,
        gic,
        irqchip: kind,
        boot: plan,
    })
}
