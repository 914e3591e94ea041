//! The ppc64 ioctl glue: `impl Arch for Ppc64` on kvm-ppc's raw backend (`PpcVm`, `PpcVcpu`).
//! Only built on powerpc64 little-endian hosts; every decision it applies (layout, device tree,
//! entry state, hypercalls, RTAS) is plain Rust in the rest of the crate.
//!
//! A pseries VM on KVM-HV (`KVM_CREATE_VM(KVM_VM_PPC_HV)`) with the radix MMU and a process
//! table (`KVM_PPC_CONFIGURE_V3_MMU`), or, on a host that refuses KVM-HV, on KVM-PR
//! (`KVM_VM_PPC_PR`) with a hashed page table in tetra's memory whose address is every vCPU's
//! SDR1 ([`crate::mmu::plan`]). `H_SET_MODE` is served in the kernel where it can be
//! (`KVM_CAP_PPC_ENABLE_HCALL`), and each vCPU gets the host's PVR (`KVM_SET_SREGS`) and PAPR
//! mode (`KVM_CAP_PPC_PAPR`), both before its first run: KVM-HV refuses to run a vCPU without
//! them (`EINVAL`). Secondary vCPUs start parked, in the RTAS stopped state.
//!
//! The interrupt controller is KVM's in-kernel XICS when the host has it (`KVM_CAP_IRQ_XICS`,
//! `KVM_CREATE_DEVICE(KVM_DEV_TYPE_XICS)`): each vCPU is connected to it as the interrupt
//! server of its own index (`KVM_ENABLE_CAP(KVM_CAP_IRQ_XICS, [device fd, server])`), the
//! kernel serves the ICP hypercalls and delivers, tetra serves the RTAS source calls through
//! the device's source attributes and raises device lines through irqfds and `KVM_IRQ_LINE`.

mod htab;
mod platform;
mod state;
mod vcpu;

pub use htab::{Htab, UserHtab};
pub use kvm_ppc::{PpcVcpu, PpcVm};
pub use platform::Platform;
pub use vcpu::{complete_pending_exit, set_entry, update_lpcr};

use crate::error::Ppc64Error;
use crate::hcall::{self, HcallEnv, HcallOutcome};
use crate::irqchip::IrqChipChoice;
use crate::layout::Ppc64Layout;
use crate::Ppc64;
use vmm_core::devices::InterruptRouter;
use vmm_core::hypervisor::VcpuExit;
use vmm_core::regs::RegTable;
use vmm_core::{
    Arch, BuildContext, ExitAction, ExitContext, Payload, PlatformContext, VcpuContext, VmConfig,
};

/// The tag of [`ExitAction::WithVcpu`]: the machine holds a request for the vCPU.
const TAG_REQUEST: u64 = 1;

impl Arch for Ppc64 {
    const NAME: &'static str = "ppc64";
    const SYSCALLS: &'static vmm_core::sandbox::SyscallTable = &crate::seccomp::SYSCALLS;
    type Error = Ppc64Error;
    type Vm = PpcVm;
    type Vcpu = PpcVcpu;
    type Layout = Ppc64Layout;
    type Platform = Platform;

    fn default_guest() -> Option<Payload> {
        None
    }

    fn layout(config: &VmConfig) -> Result<Ppc64Layout, Ppc64Error> {
        // An unknown --irqchip is refused before any KVM call.
        IrqChipChoice::parse(config.irqchip.as_deref())?;
        Ok(Ppc64Layout::new(config.mem_bytes())?)
    }

    fn create_vm(_config: &VmConfig, _layout: &Ppc64Layout) -> Result<PpcVm, Ppc64Error> {
        platform::create_vm()
    }

    fn platform(ctx: &mut PlatformContext<'_, Self>) -> Result<Platform, Ppc64Error> {
        platform::setup(ctx)
    }

    fn interrupt_router(platform: &Platform) -> Option<&dyn InterruptRouter> {
        platform.router.as_ref().map(|r| r as &dyn InterruptRouter)
    }

    fn create_vcpu(ctx: &VcpuContext<'_, Self>) -> Result<PpcVcpu, Ppc64Error> {
        vcpu::create(ctx)
    }

    fn load(ctx: &mut BuildContext<'_, Self>) -> Result<(), Ppc64Error> {
        let entry = platform::load(ctx)?;
        Ok(set_entry(&ctx.vcpus[0], &entry)?)
    }

    fn register_table(_vm: &PpcVm, vcpu: &PpcVcpu) -> Result<RegTable, Ppc64Error> {
        // Book3S has no KVM_GET_REG_LIST: the static table less the optional ONE_REG registers
        // this vCPU refuses to read (KVM-PR lacks most of KVM-HV's), so that a restore knows
        // them as not offered here rather than failing on KVM_SET_ONE_REG.
        Ok(crate::regs::table_offered(|r| {
            let mut buf = vec![0u8; r.bytes()];
            vmm_core::regs::VcpuRegs::get_one_reg(vcpu, r.id, &mut buf).is_ok()
        }))
    }

    fn handle_exit(
        ctx: &ExitContext<'_, Self>,
        exit: VcpuExit<'_>,
    ) -> Result<ExitAction, Ppc64Error> {
        Ok(match exit {
            VcpuExit::PaprHcall(h) => {
                let mem = ctx.memory.memory();
                let env = HcallEnv {
                    cpu: ctx.id,
                    mem: &mem,
                    machine: &ctx.platform.machine,
                    cpus: &ctx.vcpus,
                    exit: ctx.exit,
                    hpt: ctx
                        .platform
                        .htab
                        .as_ref()
                        .and_then(|h| h.user())
                        .map(|t| t as &dyn crate::mmu::papr::HptWords),
                };
                match hcall::dispatch(&env, h.nr, &mut h.args) {
                    HcallOutcome::Return(ret) => {
                        h.ret = ret as u64;
                        ExitAction::Continue
                    }
                    HcallOutcome::WithVcpu => ExitAction::WithVcpu(TAG_REQUEST),
                    HcallOutcome::Park => ExitAction::Park,
                    HcallOutcome::Stop => ExitAction::Stop,
                }
            }
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

    fn exit_with_vcpu(
        ctx: &ExitContext<'_, Self>,
        vcpu: &mut PpcVcpu,
        tag: u64,
    ) -> Result<ExitAction, Ppc64Error> {
        match tag {
            TAG_REQUEST => vcpu::finish_request(ctx, vcpu),
            other => Ok(ExitAction::Crash(format!(
                "unknown vCPU request tag {other}"
            ))),
        }
    }

    fn vcpu_started(
        ctx: &ExitContext<'_, Self>,
        vcpu: &mut PpcVcpu,
    ) -> Result<ExitAction, Ppc64Error> {
        // Secondary vCPUs of a fresh VM wait in the RTAS stopped state for start-cpu; a restored
        // VM's vCPUs start as they were saved: running, stopped, or with a start-cpu to take.
        // A restored vCPU's SDR1 is the saving process's table: point it at this one's.
        vcpu::point_sdr1(ctx.platform, vcpu)?;
        let m = &ctx.platform.machine;
        if m.starts_parked(ctx.id) {
            Ok(ExitAction::Park)
        } else if m.has_start(ctx.id) {
            vcpu::start(ctx, vcpu)
        } else {
            Ok(ExitAction::Continue)
        }
    }

    /// The EPOW event (docs/power-button.md): an RTAS log that Linux's pseries `ras.c` fetches
    /// with `check-exception`, then powers off.
    const POWER_BUTTON: bool = true;

    fn press_power_button(p: &Platform) {
        p.machine.events().press_power_button();
    }

    /// `--cpu-template MODEL`: the processor the guest sees ([`crate::cpu_model`]; another
    /// family than the host's on KVM-PR only).
    const CPU_TEMPLATES: bool = true;

    const SNAPSHOT_MAGIC: Option<[u8; 8]> = Some(crate::snapshot::SNAPSHOT_MAGIC);
    const VM_STATE_TAGS: &'static [[u8; 4]] = &crate::snapshot::VM_STATE_TAGS;
    // Measured in the ppc64 lane (nested KVM-HV under QEMU): without it a migrating guest's
    // writes after the first harvest were never logged (docs/ppc64.md).
    const DIRTY_LOG_REARM: bool = true;

    fn save_vm_state(
        vm: &PpcVm,
        platform: &Platform,
    ) -> Result<Vec<vmm_core::snapshot::Section>, Ppc64Error> {
        state::save_vm(vm, platform)
    }

    fn restore_vm_state(
        vm: &PpcVm,
        platform: &Platform,
        env: &vmm_core::snapshot::Envelope,
    ) -> Result<(), Ppc64Error> {
        state::restore_vm(vm, platform, env)
    }

    fn precopy_state(
        vm: &PpcVm,
        platform: &Platform,
        pass: vmm_core::PrecopyPass,
    ) -> Result<Option<vmm_core::snapshot::Section>, Ppc64Error> {
        state::precopy(vm, platform, pass)
    }

    fn apply_precopy_state(
        vm: &PpcVm,
        platform: &Platform,
        section: &vmm_core::snapshot::Section,
    ) -> Result<bool, Ppc64Error> {
        state::apply_precopy(vm, platform, section)
    }

    /// KVM-PR (a hash table in tetra's memory) only; KVM-HV (radix) needs none of it.
    fn dirty_log_rearms_vcpus(platform: &Platform) -> bool {
        platform.htab.as_ref().and_then(|h| h.user()).is_some()
    }

    fn dirty_log_rearmed(_platform: &Platform, vcpu: &mut PpcVcpu) -> Result<(), Ppc64Error> {
        // KVM-PR marks a page dirty only when a write maps it into its shadow hash table: a page
        // mapped writable before logging was on is written on unlogged. KVM_SET_SREGS flushes
        // the vCPU's shadow entries (book3s_pr.c kvm_arch_vcpu_ioctl_set_sregs_pr:
        // kvmppc_mmu_pte_flush), so the next write to any page faults and is logged; the
        // kernel's own harvest flushes the pages it reports.
        let sregs = vcpu.get_sregs()?;
        vcpu.set_sregs(&sregs)?;
        Ok(())
    }

    fn vcpu_woken(
        ctx: &ExitContext<'_, Self>,
        vcpu: &mut PpcVcpu,
    ) -> Result<ExitAction, Ppc64Error> {
        vcpu::start(ctx, vcpu)
    }

    fn vcpu_summary(vcpu: &PpcVcpu) -> String {
        vcpu::summary(vcpu)
    }
}
