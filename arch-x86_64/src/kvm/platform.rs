//! The x86 platform: the in-kernel irqchip (and PIT, see `crate::pit`) with the GSI routing the MADT describes, legacy
//! devices on the port bus (each registered for snapshots), the kernel with its boot data and ACPI
//! tables, and the CPUID every vCPU starts from.

use super::kvm_err;
use crate::acpi::madt::{gsi_routes, IrqPin};
use crate::boot::{self, BootRequest, CpuMode, EntryState};
use crate::cpu_template::CpuTemplate;
use crate::cpuid::CpuidEntry;
use crate::devices::{cmos::Cmos, i8042::I8042, pm::Pm1a};
use crate::error::X86Error;
use crate::layout::*;
use crate::X86_64;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use vmm_core::config::Transport;
use vmm_core::devices::pci::root::{CONFIG_IO_LEN, CONFIG_IO_PORT, ECAM_BUS};
use vmm_core::devices::pci::{KvmMsiRouter, PciConfigIo, PciHost};
use vmm_core::devices::{DebugExit, FwCfg, KvmRouter, Serial16550};
use vmm_core::hypervisor::ioctls::KvmVm;
use vmm_core::hypervisor::{GsiRoute, VmOps};
use vmm_core::{BuildContext, PlatformContext};

/// What the x86 vCPUs share.
pub struct Platform {
    /// KVM's supported CPUID, before per-vCPU topology and the template.
    pub cpuid: Vec<CpuidEntry>,
    /// The CPU template every vCPU's CPUID goes through (`none` on a restore, whose vCPUs take
    /// the snapshot's CPUID).
    pub template: CpuTemplate,
    /// The template a restored VM's snapshot recorded, which its next snapshot records again.
    pub restored_template: Mutex<Option<crate::snapshot::cput::TemplateState>>,
    /// Device interrupts: irqfds and `KVM_IRQ_LINE` on the in-kernel PIC/IOAPIC GSIs.
    pub router: KvmRouter,
    /// The PCI host bridge and MSI routing, with `--transport pci`.
    pub pci: Option<PciHost>,
    /// The RTC, whose alarm wakes the VM from S3.
    pub cmos: Arc<Mutex<Cmos>>,
    /// The PM1a registers, whose RTC_EN lets the alarm wake it, which record the wake, and
    /// whose power button the host presses.
    pub pm1a: Arc<Mutex<Pm1a>>,
    /// Whether the in-kernel PIT exists: made by a fresh boot's [`load`] where the guest wants
    /// one ([`crate::pit`]), or by a restore whose snapshot has one.
    pub(super) pit: AtomicBool,
}

impl Platform {
    /// Whether the machine has a PIT.
    pub fn has_pit(&self) -> bool {
        self.pit.load(Ordering::Acquire)
    }
}

/// Creates the in-kernel PIT once (`KVM_CREATE_PIT2`; the in-kernel irqchip exists already).
pub(super) fn create_pit(vm: &KvmVm, platform: &Platform) -> Result<(), X86Error> {
    if platform.has_pit() {
        return Ok(());
    }
    let pit = kvm_bindings::kvm_pit_config {
        flags: kvm_bindings::KVM_PIT_SPEAKER_DUMMY,
        ..Default::default()
    };
    vm.fd()
        .create_pit2(pit)
        .map_err(kvm_err("KVM_CREATE_PIT2"))?;
    platform.pit.store(true, Ordering::Release);
    Ok(())
}

pub(super) fn setup(ctx: &mut PlatformContext<'_, X86_64>) -> Result<Platform, X86Error> {
    let cfg = ctx.config;

    // The in-kernel PIC/IOAPIC/LAPIC. Created after guest RAM is registered: on some hosts a
    // memory-slot update costs several milliseconds more once an irqchip exists. The PIT comes
    // later, once the payload is known (`load`), or from a snapshot.
    ctx.vm
        .fd()
        .create_irq_chip()
        .map_err(kvm_err("KVM_CREATE_IRQCHIP"))?;
    let msi = msi_router(ctx.vm)?;

    // The legacy devices; interrupts through irqfds into the in-kernel PIC/IOAPIC. The ISA
    // interrupts nobody asks for by number stay out of reach (devices::RESERVED_IRQS).
    crate::devices::reserve(ctx.devices)?;
    let router = KvmRouter(ctx.vm.clone());
    let [com1, debug_exit, fw_cfg, i8042, rtc, pm1a] = crate::devices::descs();
    let d = &mut *ctx.devices;
    let (space, out) = (ctx.console.space.clone(), ctx.console.sink.writer());
    let serial = d.add_stateful(&router, com1, |r| {
        Serial16550::new(r.irq.expect("COM1 has an interrupt"), space, out)
    })?;
    ctx.console.input = Some(serial);
    let exit = ctx.exit.clone();
    d.add(&router, debug_exit, |_| DebugExit::new(exit))?;
    d.add_stateful(&router, fw_cfg, |_| {
        FwCfg::new(cfg.cpus as u16, cfg.mem_bytes(), &cfg.cmdline)
    })?;
    let exit = ctx.exit.clone();
    d.add_stateful(&router, i8042, |_| I8042::new(exit))?;
    let cmos = d.add_stateful(&router, rtc, |_| {
        Cmos::new(cfg.mem_bytes(), low_ram_end(cfg.mem_bytes()))
    })?;
    let exit = ctx.exit.clone();
    let pm1a = d.add_stateful(&router, pm1a, |r| {
        Pm1a::new(exit, r.irq.expect("PM1a has the SCI"))
    })?;

    let cpuid = ctx
        .vm
        .kvm()
        .get_supported_cpuid(kvm_bindings::KVM_MAX_CPUID_ENTRIES)
        .map_err(kvm_err("KVM_GET_SUPPORTED_CPUID"))?;
    // A VM without virtio devices has no PCI bus: its guest sees the same machine either way.
    let pci = match cfg.virtio.transport {
        Transport::Pci if cfg.virtio.any() => Some(pci_host(ctx.devices, &router, msi)?),
        _ => None,
    };
    Ok(Platform {
        cpuid: super::vcpu::cpuid_from_kvm(&cpuid),
        template: CpuTemplate::resolve(cfg.cpu_template.as_deref())?,
        restored_template: Mutex::new(None),
        router,
        pci,
        cmos,
        pm1a,
        pit: AtomicBool::new(false),
    })
}

/// Loads the kernel and its boot data (boot protocol structures, ACPI tables with the placed
/// devices, descriptor tables and, for a 64-bit entry, the identity map); returns the boot
/// vCPU's entry state.
pub(super) fn load(ctx: &BuildContext<'_, X86_64>) -> Result<EntryState, X86Error> {
    let cfg = ctx.config;
    let kernel_payload = cfg
        .kernel
        .as_ref()
        .expect("vmm-core fills in the default guest");
    let kernel = kernel_payload.read()?;
    let payload = if cfg.raw.is_some() {
        crate::pit::Payload::Raw
    } else if kernel == crate::DEFAULT_GUEST {
        crate::pit::Payload::DefaultGuest
    } else {
        crate::pit::Payload::Kernel(boot::detect(&kernel, &kernel_payload.name())?)
    };
    if crate::pit::wanted(cfg.pit, payload) {
        create_pit(ctx.vm, ctx.platform)?;
    }
    let initrd = match &cfg.initrd {
        Some(p) => Some((p.read()?, p.name())),
        None => None,
    };
    let mem = ctx.memory.memory();
    let entry = boot::load(
        &mem,
        &BootRequest {
            kernel: &kernel,
            name: &kernel_payload.name(),
            raw: cfg.raw.as_ref(),
            initrd: initrd.as_ref().map(|(d, n)| (&**d, n.as_str())),
            cmdline: &cfg.cmdline,
            mem_bytes: cfg.mem_bytes(),
            cpus: cfg.cpus,
            devices: ctx.devices,
        },
    )?;
    boot::entry::write_descriptor_tables(&mem)?;
    if entry.mode == CpuMode::Long {
        boot::entry::write_identity_map(&mem)?;
    }
    Ok(entry)
}

/// Routes the GSIs as the MADT describes them ([`gsi_routes`]): KVM's default table would deliver
/// the PIT (GSI 0) to IOAPIC pin 0, where the MADT's override says pin 2. The router keeps these
/// routes in every table it writes when MSI vectors are routed (from GSI [`MSI_GSI_START`]).
fn msi_router(vm: &Arc<KvmVm>) -> Result<Arc<KvmMsiRouter>, X86Error> {
    use kvm_bindings::{KVM_IRQCHIP_IOAPIC, KVM_IRQCHIP_PIC_MASTER};
    let base: Vec<GsiRoute> = gsi_routes()
        .into_iter()
        .map(|(gsi, pin)| {
            let (irqchip, pin) = match pin {
                IrqPin::Pic(chip, pin) => (KVM_IRQCHIP_PIC_MASTER + chip, pin),
                IrqPin::Ioapic(pin) => (KVM_IRQCHIP_IOAPIC, pin),
            };
            GsiRoute::Irqchip { gsi, irqchip, pin }
        })
        .collect();
    // KVM_CAP_IRQ_ROUTING is the number of GSIs the table may route.
    let end = match vm.check_extension(kvm_bindings::KVM_CAP_IRQ_ROUTING) {
        n if n > 0 => n as u32,
        _ => MSI_GSI_START,
    };
    let ops: Arc<dyn VmOps> = vm.clone();
    Ok(Arc::new(KvmMsiRouter::new(
        ops,
        base,
        MSI_GSI_START,
        end,
        false,
    )?))
}

/// PCI bus 0: configuration mechanism #1 on ports 0xcf8-0xcff, ECAM at [`PCI_ECAM_START`], BARs
/// in [`PCI_MMIO_START`]`..+`[`PCI_MMIO_LEN`], MSIs through `msi`.
/// The host bridge is in the device list (its ECAM window), which the ACPI tables describe.
fn pci_host(
    devices: &mut vmm_core::devices::Devices,
    router: &KvmRouter,
    msi: Arc<KvmMsiRouter>,
) -> Result<PciHost, X86Error> {
    use vmm_core::devices::DeviceError;
    devices.describe(router, crate::devices::pci_host())?;
    let host = PciHost::install(
        devices,
        (PCI_ECAM_START, ECAM_BUS),
        (PCI_MMIO_START, PCI_MMIO_LEN),
        msi,
    )?;
    devices
        .insert_pio(
            CONFIG_IO_PORT,
            CONFIG_IO_LEN,
            Arc::new(Mutex::new(PciConfigIo(host.root.clone()))),
        )
        .map_err(|e| X86Error::from(DeviceError::Bus(e)))?;
    devices.add_optional_state(
        &vmm_core::devices::pci::CONFIG_IO_TAG,
        Arc::new(Mutex::new(PciConfigIo(host.root.clone()))),
    )?;
    Ok(host)
}
