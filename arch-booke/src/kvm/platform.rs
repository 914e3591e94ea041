//! The e500 platform: the host CPU, the MPIC (in-kernel or userspace), the DUART, the debug
//! exit, and the kernel with its device tree in guest memory.

use super::mpic::KernelMpic;
use super::BookeError;
use crate::boot::{self, BootConfig, EntryState};
use crate::cpu::HostCpu;
use crate::devices::{BigEndian, SerialPort};
use crate::irqchip::{IrqChipChoice, KernelSupport, MpicState, UserMpic};
use crate::layout::{BoardLayout, DEBUG_EXIT_SIZE, MPIC_SIZE, SERIAL_IRQS};
use crate::BookE;
use kvm_ppc::consts::{KVM_CAP_IRQ_MPIC, KVM_CAP_PPC_EPR, KVM_CAP_PPC_IRQ_LEVEL, KVM_CAP_SW_TLB};
use std::sync::{Arc, Mutex};
use vmm_core::console::ConsoleSink;
use vmm_core::devices::{DebugExit, Serial16550};
use vmm_core::hypervisor::{HvError, VmOps};
use vmm_core::SetupContext;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// Width of a 16550's register window on the bus (8 byte-wide registers).
const UART_REGS: u64 = 8;
/// The snapshot sections of the DUART's ports.
const SERIAL_TAGS: [[u8; 4]; 2] = [*b"SER0", *b"SER1"];

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
    /// The boot vCPU's entry state (registers and the `TLB1[0]` entry); `None` for a VM being
    /// restored, whose state comes from the snapshot.
    pub entry: Option<EntryState>,
    /// The MPIC.
    pub irqchip: IrqChip,
    /// Whether the guest was offered external proxy (and, with the userspace MPIC, every vCPU
    /// gets `KVM_CAP_PPC_EPR`).
    pub external_proxy: bool,
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

fn eventfd() -> Result<EventFd, BookeError> {
    EventFd::new(EFD_NONBLOCK).map_err(BookeError::EventFd)
}

pub(super) fn setup(ctx: &mut SetupContext<'_, BookE>) -> Result<Platform, BookeError> {
    let cfg = ctx.config;
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").map_err(BookeError::ReadCpuInfo)?;
    let host = HostCpu::parse(&cpuinfo)?;
    let layout = BoardLayout::new(cfg.mem_bytes(), cfg.cpus)?;
    let vm = ctx.vm;
    if vm.check_extension(KVM_CAP_SW_TLB) <= 0 {
        return Err(HvError::Unsupported("KVM_CAP_SW_TLB").into());
    }

    // The MPIC: in-kernel when the kernel has it (or when asked), else the userspace model.
    let model = host.core.mpic_model();
    let support = KernelSupport {
        in_kernel_mpic: vm.check_extension(KVM_CAP_IRQ_MPIC) > 0
            && vm.can_create_device(model.kvm_device_type()),
        epr: vm.check_extension(KVM_CAP_PPC_EPR) > 0,
        irq_level: vm.check_extension(KVM_CAP_PPC_IRQ_LEVEL) > 0,
    };
    let plan = IrqChipChoice::parse(cfg.irqchip.as_deref())?.plan(support)?;
    let cpus = cfg.cpus as usize;
    let irqchip = if plan.in_kernel {
        IrqChip::Kernel(KernelMpic::create(vm, model, layout.mpic_base(), cpus)?)
    } else {
        let m = Arc::new(UserMpic::new(model, cpus)?);
        ctx.mmio.insert(
            layout.mpic_base(),
            MPIC_SIZE,
            Arc::new(Mutex::new(m.window())),
        )?;
        IrqChip::User(m)
    };

    // The DUART: port 0 is the console, port 1 discards its output. Each raises its own
    // external MPIC source (see crate::layout).
    for (n, base) in layout.serial_bases().into_iter().enumerate() {
        let irq = eventfd()?;
        let (space, out) = if n == 0 {
            (ctx.console.space.clone(), ctx.console.sink.writer())
        } else {
            (Arc::new(eventfd()?), ConsoleSink::Null.writer())
        };
        let port = match &irqchip {
            IrqChip::Kernel(_) => {
                vm.register_irqfd(&irq, SERIAL_IRQS[n])?;
                SerialPort::irqfd(Serial16550::new(irq, space, out))
            }
            IrqChip::User(m) => {
                SerialPort::user_mpic(Serial16550::new(irq, space, out), m.clone(), SERIAL_IRQS[n])
            }
        };
        let port = Arc::new(Mutex::new(port));
        ctx.mmio.insert(base, UART_REGS, port.clone())?;
        ctx.state.add(&SERIAL_TAGS[n], port.clone())?;
        if n == 0 {
            ctx.console.input = Some(port);
        }
    }
    ctx.mmio.insert(
        layout.debug_exit(),
        DEBUG_EXIT_SIZE,
        Arc::new(Mutex::new(BigEndian(DebugExit::new(ctx.exit.clone())))),
    )?;

    // The kernel, its initrd and the device tree, and the boot vCPU's entry state; a restored VM
    // gets all of it from the snapshot.
    let entry = if ctx.restoring {
        None
    } else {
        if cfg.raw.is_some() {
            return Err(BookeError::Raw);
        }
        let kernel = cfg.kernel.as_ref().ok_or(BookeError::NoKernel)?.read()?;
        let initrd = cfg.initrd.as_ref().map(|p| p.read()).transpose()?;
        let image = boot::prepare(
            &kernel,
            initrd.as_deref(),
            &BootConfig {
                layout,
                core: host.core,
                cmdline: &cfg.cmdline,
                timebase_hz: host.timebase_hz,
                cpu_clock_hz: host.clock_hz,
                external_proxy: plan.external_proxy,
            },
        )?;
        image.write_to(ctx.memory)?;
        Some(image.entry)
    };
    Ok(Platform {
        host,
        layout,
        entry,
        irqchip,
        external_proxy: plan.external_proxy,
    })
}
