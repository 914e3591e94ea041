//! The x86 platform: the in-kernel irqchip and PIT with the GSI routing the MADT describes, legacy
//! devices on the port bus (each registered for snapshots), the kernel with its boot data and ACPI
//! tables, and the CPUID every vCPU starts from.

use super::{kvm_err, X86Error};
use crate::acpi::madt::{gsi_routes, IrqPin};
use crate::boot::{self, BootRequest, CpuMode, EntryState};
use crate::cpuid::CpuidEntry;
use crate::devices::{cmos::Cmos, i8042::I8042, pm::Pm1a};
use crate::layout::*;
use crate::X86_64;
use std::sync::{Arc, Mutex};
use vmm_core::devices::{DebugExit, FwCfg, Serial16550};
use vmm_core::hypervisor::VmOps;
use vmm_core::SetupContext;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// What the x86 vCPUs share.
pub struct Platform {
    /// The boot vCPU's entry state.
    pub entry: EntryState,
    /// KVM's supported CPUID, before per-vCPU topology.
    pub cpuid: Vec<CpuidEntry>,
}

pub(super) fn setup(ctx: &mut SetupContext<'_, X86_64>) -> Result<Platform, X86Error> {
    let cfg = ctx.config;

    // The in-kernel PIC/IOAPIC/LAPIC and PIT. Created after guest RAM is registered: on some hosts
    // a memory-slot update costs several milliseconds more once an irqchip exists.
    ctx.vm
        .fd()
        .create_irq_chip()
        .map_err(kvm_err("KVM_CREATE_IRQCHIP"))?;
    let pit = kvm_bindings::kvm_pit_config {
        flags: kvm_bindings::KVM_PIT_SPEAKER_DUMMY,
        ..Default::default()
    };
    ctx.vm
        .fd()
        .create_pit2(pit)
        .map_err(kvm_err("KVM_CREATE_PIT2"))?;
    set_gsi_routing(ctx)?;

    // COM1 on IRQ 4, through an irqfd into the in-kernel PIC/IOAPIC.
    let irq = EventFd::new(EFD_NONBLOCK).map_err(X86Error::EventFd)?;
    ctx.vm.register_irqfd(&irq, COM1_IRQ)?;
    let serial = Arc::new(Mutex::new(Serial16550::new(
        irq,
        ctx.console.space.clone(),
        ctx.console.sink.writer(),
    )));
    ctx.pio.insert(COM1_PORT, 8, serial.clone())?;
    ctx.state.add(b"SERL", serial.clone())?;
    ctx.console.input = Some(serial);

    ctx.pio.insert(
        DEBUG_EXIT_PORT,
        4,
        Arc::new(Mutex::new(DebugExit::new(ctx.exit.clone()))),
    )?;
    let fw_cfg = Arc::new(Mutex::new(FwCfg::new(
        cfg.cpus as u16,
        cfg.mem_bytes(),
        &cfg.cmdline,
    )));
    ctx.pio.insert(FW_CFG_PORT, 2, fw_cfg.clone())?;
    ctx.state.add(b"FWCF", fw_cfg)?;
    let i8042 = Arc::new(Mutex::new(I8042::new(ctx.exit.clone())));
    ctx.pio.insert(I8042_PORT, 5, i8042.clone())?;
    ctx.state.add(b"KBDC", i8042)?;
    let cmos = Arc::new(Mutex::new(Cmos::new(
        cfg.mem_bytes(),
        low_ram_end(cfg.mem_bytes()),
    )));
    ctx.pio.insert(CMOS_PORT, 2, cmos.clone())?;
    ctx.state.add(b"CMOS", cmos)?;
    let pm = Arc::new(Mutex::new(Pm1a::new(ctx.exit.clone())));
    ctx.pio.insert(PM1A_EVT_PORT, 6, pm.clone())?;
    ctx.state.add(b"PM1A", pm)?;

    let cpuid = ctx
        .vm
        .kvm()
        .get_supported_cpuid(kvm_bindings::KVM_MAX_CPUID_ENTRIES)
        .map_err(kvm_err("KVM_GET_SUPPORTED_CPUID"))?;
    let cpuid = super::vcpu::from_kvm(&cpuid);
    if ctx.restoring {
        // Guest memory and every register come from the snapshot.
        return Ok(Platform {
            entry: EntryState::at(CpuMode::Real, 0),
            cpuid,
        });
    }

    let kernel_payload = cfg
        .kernel
        .as_ref()
        .expect("vmm-core fills in the default guest");
    let kernel = kernel_payload.read()?;
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
            initrd: initrd.as_ref().map(|(d, n)| (d.as_slice(), n.as_str())),
            cmdline: &cfg.cmdline,
            mem_bytes: cfg.mem_bytes(),
            cpus: cfg.cpus,
        },
    )?;
    boot::entry::write_descriptor_tables(&mem)?;
    if entry.mode == CpuMode::Long {
        boot::entry::write_identity_map(&mem)?;
    }
    Ok(Platform { entry, cpuid })
}

/// Routes the GSIs as the MADT describes them ([`gsi_routes`]): KVM's default table would deliver
/// the PIT (GSI 0) to IOAPIC pin 0, where the MADT's override says pin 2.
fn set_gsi_routing(ctx: &SetupContext<'_, X86_64>) -> Result<(), X86Error> {
    use kvm_bindings::{
        kvm_irq_routing_entry, kvm_irq_routing_entry__bindgen_ty_1, kvm_irq_routing_irqchip,
        KvmIrqRouting, KVM_IRQCHIP_IOAPIC, KVM_IRQCHIP_PIC_MASTER, KVM_IRQ_ROUTING_IRQCHIP,
    };
    let entries: Vec<kvm_irq_routing_entry> = gsi_routes()
        .into_iter()
        .map(|(gsi, pin)| {
            let (irqchip, pin) = match pin {
                IrqPin::Pic(chip, pin) => (KVM_IRQCHIP_PIC_MASTER + chip, pin),
                IrqPin::Ioapic(pin) => (KVM_IRQCHIP_IOAPIC, pin),
            };
            kvm_irq_routing_entry {
                gsi,
                type_: KVM_IRQ_ROUTING_IRQCHIP,
                u: kvm_irq_routing_entry__bindgen_ty_1 {
                    irqchip: kvm_irq_routing_irqchip { irqchip, pin },
                },
                ..Default::default()
            }
        })
        .collect();
    let routing = KvmIrqRouting::from_entries(&entries).map_err(|_| {
        X86Error::Hv(vmm_core::hypervisor::HvError::Unsupported(
            "this many GSI routes",
        ))
    })?;
    ctx.vm
        .fd()
        .set_gsi_routing(&routing)
        .map_err(kvm_err("KVM_SET_GSI_ROUTING"))
}
