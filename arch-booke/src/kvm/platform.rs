//! The e500 platform: the host CPU, the MPIC (in-kernel or userspace), the DUART, the GPIO
//! block with the power-off, the debug exit, and the kernel with its device tree in guest memory.

use super::mpic::KernelMpic;
use crate::boot::{self, BootConfig, EntryState};
use crate::cpu::HostCpu;
use crate::devices::gpio::MpcGpio;
use crate::devices::BigEndian;
use crate::error::BookeError;
use crate::irqchip::{IrqChipChoice, KernelSupport, MpicState, UserMpic, UserMpicRouter};
use crate::layout::{BoardLayout, MPIC_SIZE};
use crate::BookE;
use kvm_ppc::consts::{KVM_CAP_IRQ_MPIC, KVM_CAP_PPC_EPR, KVM_CAP_PPC_IRQ_LEVEL, KVM_CAP_SW_TLB};
use std::sync::{Arc, Mutex};
use vmm_core::console::ConsoleSink;
use vmm_core::devices::{DebugExit, InterruptRouter, KvmRouter, Serial16550, Space};
use vmm_core::hypervisor::{HvError, VmOps};
use vmm_core::{BuildContext, PlatformContext};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// The VM's interrupt controller.
pub enum IrqChip {
    /// The in-kernel MPIC.
    Kernel(KernelMpic),
    /// tetra's userspace model.
    User(Arc<UserMpic>),
}

/// What the BookE vCPUs share.
pub struct Platform {
    /// The host CPU (the guest's core model, timebase and clock).
    pub host: HostCpu,
    /// The board map.
    pub layout: BoardLayout,
    /// The MPIC.
    pub irqchip: IrqChip,
    /// Whether the guest was offered external proxy (and, with the userspace MPIC, every vCPU
    /// gets `KVM_CAP_PPC_EPR`).
    pub external_proxy: bool,
    /// Device interrupts: irqfds into the in-kernel MPIC, or the userspace model's sources.
    pub router: Box<dyn InterruptRouter + Send + Sync>,
}

impl Platform {
    /// Saves the MPIC.
    pub fn save_mpic(&self) -> Result<MpicState, BookeError> {
        Ok(match &self.irqchip {
            IrqChip::Kernel(k) => k.save()?,
            IrqChip::User(u) => u.save(),
        })
    }

    /// Restores a saved MPIC (the userspace model's extras are dropped by an in-kernel MPIC).
    pub fn restore_mpic(&self, s: &MpicState) -> Result<(), BookeError> {
        match &self.irqchip {
            IrqChip::Kernel(k) => k.restore(s),
            IrqChip::User(u) => Ok(u.restore(s)?),
        }
    }
}

pub(super) fn setup(ctx: &mut PlatformContext<'_, BookE>) -> Result<Platform, BookeError> {
    let cfg = ctx.config;
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").map_err(BookeError::ReadCpuInfo)?;
    let host = HostCpu::parse(&cpuinfo)?;
    let layout = *ctx.layout;
    let vm = ctx.vm;
    if vm.check_extension(KVM_CAP_SW_TLB) <= 0 {
        return Err(HvError::Unsupported("KVM_CAP_SW_TLB").into());
    }

    // The MPIC: in-kernel when the kernel has it (or when asked), else the userspace model. Its
    // window is the board's, outside the device layer's choice.
    let model = host.core.mpic_model();
    let support = KernelSupport {
        in_kernel_mpic: vm.check_extension(KVM_CAP_IRQ_MPIC) > 0
            && vm.can_create_device(model.kvm_device_type()),
        epr: vm.check_extension(KVM_CAP_PPC_EPR) > 0,
        irq_level: vm.check_extension(KVM_CAP_PPC_IRQ_LEVEL) > 0,
    };
    let plan = IrqChipChoice::parse(cfg.irqchip.as_deref())?.plan(support)?;
    let cpus = cfg.cpus as usize;
    ctx.devices
        .reserve("the MPIC", Space::Mmio, layout.mpic_base(), MPIC_SIZE)?;
    let irqchip = if plan.in_kernel {
        IrqChip::Kernel(KernelMpic::create(vm, model, layout.mpic_base(), cpus)?)
    } else {
        let m = Arc::new(UserMpic::new(model, cpus)?);
        ctx.devices.insert_mmio(
            layout.mpic_base(),
            MPIC_SIZE,
            Arc::new(Mutex::new(m.window())),
        )?;
        IrqChip::User(m)
    };
    let router: Box<dyn InterruptRouter + Send + Sync> = match &irqchip {
        IrqChip::Kernel(_) => Box::new(KvmRouter(vm.clone())),
        IrqChip::User(m) => Box::new(UserMpicRouter(m.clone())),
    };

    // The DUART (port 0 is the console, port 1 discards its output) and the debug exit.
    let mut descs = crate::devices::descs(&layout).into_iter();
    for n in 0..2 {
        let desc = descs.next().expect("two serial ports");
        let (space, out) = if n == 0 {
            (ctx.console.space.clone(), ctx.console.sink.writer())
        } else {
            (
                Arc::new(EventFd::new(EFD_NONBLOCK).map_err(vmm_core::CoreError::EventFd)?),
                ConsoleSink::Null.writer(),
            )
        };
        let port = ctx.devices.add_stateful(&*router, desc, |r| {
            Serial16550::new(r.irq.expect("a DUART port has an interrupt"), space, out)
        })?;
        if n == 0 {
            ctx.console.input = Some(port);
        }
    }
    let exit = ctx.exit.clone();
    // The GPIO block never raises its interrupt (no input changes): its line stays unused.
    ctx.devices
        .add(&*router, descs.next().expect("the GPIO block"), |_| {
            MpcGpio::new(exit.clone())
        })?;
    let debug_exit = descs.next().expect("the debug exit");
    ctx.devices
        .add(&*router, debug_exit, |_| BigEndian(DebugExit::new(exit)))?;
    Ok(Platform {
        host,
        layout,
        irqchip,
        external_proxy: plan.external_proxy,
        router,
    })
}

/// Loads the kernel, its initrd and the device tree; returns the boot vCPU's entry state.
pub(super) fn load(ctx: &BuildContext<'_, BookE>) -> Result<EntryState, BookeError> {
    let cfg = ctx.config;
    let p = ctx.platform;
    if cfg.raw.is_some() {
        return Err(BookeError::Raw);
    }
    let kernel = cfg.kernel.as_ref().ok_or(BookeError::NoKernel)?.read()?;
    let initrd = cfg.initrd.as_ref().map(|p| p.read()).transpose()?;
    let image = boot::prepare(
        &kernel,
        initrd.as_deref(),
        &BootConfig {
            layout: p.layout,
            core: p.host.core,
            cmdline: &cfg.cmdline,
            timebase_hz: p.host.timebase_hz,
            cpu_clock_hz: p.host.clock_hz,
            external_proxy: p.external_proxy,
            devices: ctx.devices,
        },
    )?;
    image.write_to(ctx.memory)?;
    Ok(image.entry)
}
