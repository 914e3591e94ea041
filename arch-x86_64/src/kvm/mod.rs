//! The x86_64 ioctl glue: `impl Arch for X86_64` on kvm-ioctls. Only built on x86_64 hosts; every
//! decision it applies (layout, entry state, CPUID topology, boot MSRs, devices) is plain Rust in
//! the rest of the crate.

mod platform;
mod regs;
mod sleep;
mod state;
mod vcpu;

pub use platform::Platform;
pub use regs::X86Vcpu;

use crate::error::X86Error;
use crate::layout::X86Layout;
use crate::X86_64;
use vmm_core::hypervisor::ioctls::KvmVm;
use vmm_core::hypervisor::VcpuExit;
use vmm_core::{
    Arch, BuildContext, ExitAction, ExitContext, Payload, PlatformContext, VcpuContext, VmConfig,
};

fn kvm_err(op: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> X86Error {
    move |e| KvmVm::error(op, e).into()
}

impl Arch for X86_64 {
    const NAME: &'static str = "x86_64";
    const SYSCALLS: &'static vmm_core::sandbox::SyscallTable = &crate::seccomp::SYSCALLS;
    type Error = X86Error;
    type Vm = KvmVm;
    type Vcpu = X86Vcpu;
    type Layout = X86Layout;
    type Platform = Platform;

    fn default_guest() -> Option<Payload> {
        Some(Payload::Bytes {
            name: "the embedded default guest".into(),
            data: crate::DEFAULT_GUEST.to_vec(),
        })
    }

    fn layout(config: &VmConfig) -> Result<X86Layout, X86Error> {
        if let Some(name) = &config.irqchip {
            return Err(X86Error::IrqChip(name.clone()));
        }
        // An unknown template or feature name is refused before any KVM call.
        crate::cpu_template::CpuTemplate::resolve(config.cpu_template.as_deref())?;
        Ok(X86Layout::new(config.mem_bytes()))
    }

    fn create_vm(_config: &VmConfig, _layout: &X86Layout) -> Result<KvmVm, X86Error> {
        let vm = KvmVm::create()?;
        vm.fd()
            .set_tss_address(crate::layout::KVM_TSS_ADDR as usize)
            .map_err(kvm_err("KVM_SET_TSS_ADDR"))?;
        Ok(vm)
    }

    fn platform(ctx: &mut PlatformContext<'_, Self>) -> Result<Platform, X86Error> {
        platform::setup(ctx)
    }

    fn interrupt_router(p: &Platform) -> Option<&dyn vmm_core::devices::InterruptRouter> {
        Some(&p.router)
    }

    fn pci(p: &Platform) -> Option<&vmm_core::devices::pci::PciHost> {
        p.pci.as_ref()
    }

    fn create_vcpu(ctx: &VcpuContext<'_, Self>) -> Result<X86Vcpu, X86Error> {
        vcpu::create(ctx).map(X86Vcpu)
    }

    fn load(ctx: &mut BuildContext<'_, Self>) -> Result<(), X86Error> {
        let entry = platform::load(ctx)?;
        vcpu::set_entry(&ctx.vcpus[0].0, &entry)
    }

    fn register_table(vm: &KvmVm, _vcpu: &X86Vcpu) -> Result<vmm_core::regs::RegTable, X86Error> {
        let list = vm
            .kvm()
            .get_msr_index_list()
            .map_err(kvm_err("KVM_GET_MSR_INDEX_LIST"))?;
        crate::regs::table_with_msrs(list.as_slice()).map_err(|e| X86Error::Regs(Box::new(e)))
    }

    fn handle_exit(
        ctx: &ExitContext<'_, Self>,
        exit: VcpuExit<'_>,
    ) -> Result<ExitAction, X86Error> {
        use kvm_bindings::{
            KVM_SYSTEM_EVENT_CRASH, KVM_SYSTEM_EVENT_RESET, KVM_SYSTEM_EVENT_SHUTDOWN,
        };
        Ok(match exit {
            VcpuExit::Shutdown => {
                let why = "triple fault (KVM_EXIT_SHUTDOWN)".to_string();
                match ctx.config.on_triple_fault {
                    vmm_core::config::OnTripleFault::Crash => ExitAction::Crash(why),
                    vmm_core::config::OnTripleFault::Reset => ExitAction::Reset(why),
                }
            }
            VcpuExit::InternalError { suberror } => {
                ExitAction::Crash(format!("KVM internal error, suberror {suberror}"))
            }
            VcpuExit::FailEntry { reason } => ExitAction::Crash(format!(
                "KVM could not enter the guest (reason {reason:#x})"
            )),
            VcpuExit::Hlt => {
                ExitAction::Crash("halted with no interrupt controller to wake it".into())
            }
            VcpuExit::SystemEvent { kind, .. } => match kind {
                KVM_SYSTEM_EVENT_SHUTDOWN => {
                    ctx.exit.end(vmm_core::GuestExit::PowerOff);
                    ExitAction::Stop
                }
                KVM_SYSTEM_EVENT_RESET => {
                    ctx.exit.end(vmm_core::GuestExit::Reset);
                    ExitAction::Stop
                }
                KVM_SYSTEM_EVENT_CRASH => ExitAction::Crash("the guest reported a crash".into()),
                k => ExitAction::Crash(format!("unexpected system event {k}")),
            },
            VcpuExit::Debug => ExitAction::Continue,
            other => ExitAction::Crash(format!("unexpected exit {other:?}")),
        })
    }

    const CPU_TEMPLATES: bool = true;
    const SNAPSHOT_MAGIC: Option<[u8; 8]> = Some(crate::snapshot::SNAPSHOT_MAGIC);
    const SUSPEND_TO_RAM: bool = true;

    // An AP waits for its SIPI in KVM's reset state, with the boot MSRs, FPU and LAPIC LINT pins
    // of `vcpu::create` (the entry registers are the boot vCPU's only). What differs between APs
    // is in the LAPIC (its ID) and the MSRs (the TSC moves): those are read for each.
    const AP_BOOT_ALIKE_BLOCKS: &'static [u8] = &[
        crate::regs::BLOCK_REGS,
        crate::regs::BLOCK_SREGS,
        crate::regs::BLOCK_XCRS,
        crate::regs::BLOCK_XSAVE,
        crate::regs::BLOCK_FPU,
        crate::regs::BLOCK_MP_STATE,
        crate::regs::BLOCK_EVENTS,
        crate::regs::BLOCK_DEBUGREGS,
    ];

    fn wake_time(p: &Platform) -> Option<std::time::SystemTime> {
        sleep::wake_time(p)
    }

    fn woken(p: &Platform, reason: vmm_core::WakeReason) {
        sleep::woken(p, reason)
    }

    const POWER_BUTTON: bool = true;

    fn press_power_button(p: &Platform) {
        sleep::press_power_button(p)
    }

    fn wake_vcpu(
        memory: &vmm_core::memory::GuestRam,
        vcpu: &mut X86Vcpu,
    ) -> Result<bool, X86Error> {
        sleep::wake_vcpu(memory, vcpu)
    }
    const VM_STATE_TAGS: &'static [[u8; 4]] = &crate::snapshot::VM_STATE_TAGS;

    fn save_vm_state(
        vm: &KvmVm,
        platform: &Platform,
    ) -> Result<Vec<vmm_core::snapshot::Section>, X86Error> {
        state::save_vm(vm, platform)
    }

    fn restore_vm_state(
        vm: &KvmVm,
        platform: &Platform,
        env: &vmm_core::snapshot::Envelope,
    ) -> Result<(), X86Error> {
        state::restore_vm(vm, platform, env)
    }

    fn save_vcpu_extra(_vm: &KvmVm, vcpu: &X86Vcpu) -> Result<Vec<u8>, X86Error> {
        state::save_vcpu(vcpu)
    }

    fn restore_vcpu_extra(_vm: &KvmVm, vcpu: &X86Vcpu, data: &[u8]) -> Result<(), X86Error> {
        state::restore_vcpu(vcpu, data)
    }

    fn vcpu_summary(vcpu: &X86Vcpu) -> String {
        vcpu::summary(&vcpu.0)
    }
}
