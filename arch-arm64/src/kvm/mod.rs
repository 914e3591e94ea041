//! The arm64 ioctl glue: `impl Arch for Arm64` on kvm-ioctls. Only built on aarch64 hosts; every
//! decision it applies (layout, GIC frames, device tree, boot plan, entry state, PSCI events) is
//! plain Rust in the rest of the crate.

mod gic;
mod gic_state;
mod platform;
mod vcpu;

pub use gic::Gic;
pub use gic_state::{icc_reg, redist_reg, set_icc_reg, set_redist_reg};
pub use platform::Platform;
pub use vcpu::{create_vcpu, init_pmu, preferred_target, reg_list, REG_LIST_MAX};

use crate::layout::Arm64Layout;

use crate::error::Arm64Error;
use crate::layout::{ipa_bits_needed, DEFAULT_IPA_BITS};
use crate::psci::SystemEvent;
use crate::regs::table_from_reg_list;
use crate::Arm64;
use vmm_core::hypervisor::ioctls::{KvmVcpu, KvmVm};
use vmm_core::hypervisor::VcpuExit;
use vmm_core::memory::GuestRam;
use vmm_core::regs::RegTable;
use vmm_core::snapshot::{Envelope, Section};
use vmm_core::{
    Arch, BuildContext, ExitAction, ExitContext, GuestExit, Payload, PlatformContext, VcpuContext,
    VmConfig,
};

/// Opens `/dev/kvm` and creates a VM whose guest physical address space holds the map for
/// `mem_bytes` of RAM (KVM's default 40 bits, or more when RAM needs it and the host has it).
pub fn create_vm_for(mem_bytes: u64) -> Result<KvmVm, Arm64Error> {
    let needed = ipa_bits_needed(mem_bytes);
    if needed <= DEFAULT_IPA_BITS {
        return Ok(KvmVm::create()?);
    }
    let mut limit = 0;
    let vm = KvmVm::create_with(|kvm| {
        limit = kvm.get_host_ipa_limit();
        if limit < needed as i32 {
            return Err(kvm_ioctls::Error::new(libc::E2BIG));
        }
        kvm.create_vm_with_ipa_size(needed)
    });
    match vm {
        Ok(vm) => Ok(vm),
        Err(_) if limit < needed as i32 => Err(Arm64Error::IpaTooSmall {
            mem_mib: mem_bytes >> 20,
            needed,
            limit: limit.max(0) as u32,
        }),
        Err(e) => Err(e.into()),
    }
}

impl Arch for Arm64 {
    const NAME: &'static str = "arm64";
    const SYSCALLS: &'static vmm_core::sandbox::SyscallTable = &crate::seccomp::SYSCALLS;
    type Error = Arm64Error;
    type Vm = KvmVm;
    type Vcpu = KvmVcpu;
    type Layout = Arm64Layout;
    type Platform = Platform;

    fn default_guest() -> Option<Payload> {
        None
    }

    fn layout(config: &VmConfig) -> Result<Arm64Layout, Arm64Error> {
        Arm64Layout::new(config)
    }

    fn create_vm(_config: &VmConfig, layout: &Arm64Layout) -> Result<KvmVm, Arm64Error> {
        create_vm_for(layout.mem_bytes)
    }

    fn platform(ctx: &mut PlatformContext<'_, Self>) -> Result<Platform, Arm64Error> {
        platform::setup(ctx)
    }

    fn interrupt_router(p: &Platform) -> Option<&dyn vmm_core::devices::InterruptRouter> {
        Some(p.router())
    }

    /// With `--transport pci` and virtio devices: bus 0 in ECAM, MSI-X through the ITS.
    fn pci(p: &Platform) -> Option<&vmm_core::devices::pci::PciHost> {
        p.pci()
    }

    /// Every vCPU with PSCI 0.2 and, where the host offers it, the vPMU; secondaries powered off
    /// until a PSCI `CPU_ON`.
    fn create_vcpu(ctx: &VcpuContext<'_, Self>) -> Result<KvmVcpu, Arm64Error> {
        let p = ctx.platform;
        create_vcpu(ctx.vm, ctx.id, p.target(), ctx.id != 0, p.pmu())
    }

    /// The GIC's distributor, redistributors and ITS are initialised once every vCPU exists;
    /// then each vCPU's vPMU (its PPI, `KVM_ARM_VCPU_PMU_V3_INIT`), then the devices' irqfds.
    fn finish(ctx: &mut BuildContext<'_, Self>) -> Result<(), Arm64Error> {
        ctx.platform.finish(ctx.vcpus)
    }

    fn load(ctx: &mut BuildContext<'_, Self>) -> Result<(), Arm64Error> {
        platform::load(ctx)
    }

    /// The `gpio-keys` power key on PL061 line 3 (docs/power-button.md).
    const POWER_BUTTON: bool = true;
    const POWER_BUTTON_HOLD: Option<std::time::Duration> =
        Some(std::time::Duration::from_millis(100));

    fn press_power_button(p: &Platform) {
        p.set_power_key(true);
    }

    fn release_power_button(p: &Platform) {
        p.set_power_key(false);
    }

    const SNAPSHOT_MAGIC: Option<[u8; 8]> = Some(crate::snapshot::SNAPSHOT_MAGIC);
    const VM_STATE_TAGS: &'static [[u8; 4]] = &crate::snapshot::VM_STATE_TAGS;

    /// The vGICv3: distributor, each vCPU's redistributor and CPU interface, the ITS registers.
    fn save_vm_state(vm: &KvmVm, p: &Platform) -> Result<Vec<Section>, Arm64Error> {
        gic_state::save_vm(vm, p)
    }

    /// After the vCPUs exist (the vGIC and the vPMUs were initialised in `finish`) and their
    /// power states are set, before their registers. The MSI routes are written again once the
    /// ITS has its tables (the devices' own restore, later, routes their vectors again too).
    fn restore_vm_state(vm: &KvmVm, p: &Platform, env: &Envelope) -> Result<(), Arm64Error> {
        gic_state::restore_vm(vm, p, env)?;
        p.reapply_msi_routes()
    }

    /// `KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES` and `KVM_DEV_ARM_ITS_SAVE_TABLES`.
    fn flush_to_guest_ram(_vm: &KvmVm, p: &Platform, _memory: &GuestRam) -> Result<(), Arm64Error> {
        gic_state::flush(p)
    }

    /// MPIDR and power state (`KVM_GET_MP_STATE`).
    fn save_vcpu_extra(_vm: &KvmVm, vcpu: &KvmVcpu) -> Result<Vec<u8>, Arm64Error> {
        gic_state::save_vcpu(vcpu)
    }

    fn restore_vcpu_extra(_vm: &KvmVm, vcpu: &KvmVcpu, data: &[u8]) -> Result<(), Arm64Error> {
        gic_state::restore_vcpu(vcpu, data)
    }

    fn register_table(_vm: &KvmVm, vcpu: &KvmVcpu) -> Result<RegTable, Arm64Error> {
        let (table, unknown) = table_from_reg_list(&reg_list(vcpu)?)?;
        if unknown.is_empty() {
            Ok(table)
        } else {
            Err(Arm64Error::UnknownRegisters(unknown))
        }
    }

    fn handle_exit(
        ctx: &ExitContext<'_, Self>,
        exit: VcpuExit<'_>,
    ) -> Result<ExitAction, Arm64Error> {
        use kvm_bindings::{
            KVM_SYSTEM_EVENT_CRASH, KVM_SYSTEM_EVENT_RESET, KVM_SYSTEM_EVENT_SHUTDOWN,
        };
        Ok(match exit {
            VcpuExit::SystemEvent { kind, .. } => match SystemEvent::from_kind(
                kind,
                KVM_SYSTEM_EVENT_SHUTDOWN,
                KVM_SYSTEM_EVENT_RESET,
                KVM_SYSTEM_EVENT_CRASH,
            ) {
                SystemEvent::Shutdown => {
                    ctx.exit.end(GuestExit::PowerOff);
                    ExitAction::Stop
                }
                SystemEvent::Reset => {
                    ctx.exit.end(GuestExit::Reset);
                    ExitAction::Stop
                }
                SystemEvent::Crash => ExitAction::Crash("the guest reported a crash".into()),
                SystemEvent::Other(k) => ExitAction::Crash(format!("unexpected system event {k}")),
            },
            VcpuExit::InternalError { suberror } => {
                ExitAction::Crash(format!("KVM internal error, suberror {suberror}"))
            }
            VcpuExit::FailEntry { reason } => ExitAction::Crash(format!(
                "KVM could not enter the guest (reason {reason:#x})"
            )),
            VcpuExit::Debug => ExitAction::Continue,
            other => ExitAction::Crash(format!("unexpected exit {other:?}")),
        })
    }

    fn vcpu_summary(vcpu: &KvmVcpu) -> String {
        crate::regs::summary(vcpu)
    }
}
