//! The BookE ioctl glue: `impl Arch for BookE` on kvm-ppc's raw PowerPC backend. Built only on
//! big-endian powerpc64 hosts (tetra takes those to be e5500/e6500 BookE hosts); everything it
//! applies (board map, device tree, kernel loading, boot TLB entry, register table, TLB
//! protocol, MPIC model and its state) is plain Rust in the rest of the crate, tested on any host.
//!
//! - [`Platform`]: host CPU, MPIC (in-kernel or userspace), DUART, debug exit, kernel and device
//!   tree;
//! - [`BookeVcpu`]: a vCPU with its shared software TLB (`KVM_CAP_SW_TLB`), which pushes
//!   `KVM_DIRTY_TLB` before each `KVM_RUN` that follows a userspace change;
//! - [`KernelMpic`]: the in-kernel MPIC device; `VcpuIrq`, the `KVM_INTERRUPT` input through
//!   which the userspace MPIC drives a vCPU;
//! - snapshots and migration through vmm-core's hooks: the registers by the BookE table, each
//!   vCPU's TLB as its extra state, the MPIC as section `MPIC`, the DUART ports as devices.
//!
//! Nothing here has run on a BookE KVM host. One is reachable: the 32-bit e500v2 KVM host under
//! QEMU's `ppce500` that `scripts/emu-test booke` boots, where a C driver of this ioctl sequence
//! runs the shared `hello` and `poweroff` contracts on this board (see `docs/booke.md`, "The booke
//! lane"); this glue is built only for powerpc64 and tetra not at all for 32-bit hosts yet. It is
//! proved by the cross build, by the ABI check of every struct and number it passes, by the host
//! tests of the logic it calls, and by that lane for the sequence.

mod mpic;
mod platform;
mod vcpu;

pub use mpic::KernelMpic;
pub use platform::{IrqChip, Platform};
pub use vcpu::BookeVcpu;

use crate::error::BookeError;
use crate::layout::BoardLayout;
use crate::snapshot::{decode_mpic, decode_tlb, encode_tlb, mpic_section, MPIC, SNAPSHOT_MAGIC};
use crate::BookE;
use kvm_ppc::{Kvm, KvmAbi, PpcVm};
use vmm_core::hypervisor::VcpuExit;
use vmm_core::regs::RegTable;
use vmm_core::snapshot::{Envelope, Section};
use vmm_core::{
    Arch, BuildContext, ExitAction, ExitContext, Payload, PlatformContext, VcpuContext, VmConfig,
};

impl Arch for BookE {
    const NAME: &'static str = BookE::NAME;
    const SYSCALLS: &'static vmm_core::sandbox::SyscallTable = &crate::seccomp::SYSCALLS;
    type Error = BookeError;
    type Vm = PpcVm;
    type Vcpu = BookeVcpu;
    type Layout = BoardLayout;
    type Platform = Platform;

    fn default_guest() -> Option<Payload> {
        None
    }

    fn layout(config: &VmConfig) -> Result<BoardLayout, BookeError> {
        Ok(BoardLayout::new(config.mem_bytes(), config.cpus)?)
    }

    fn create_vm(config: &VmConfig, _layout: &BoardLayout) -> Result<PpcVm, BookeError> {
        if config.cpus != 1 {
            return Err(BookeError::Smp(config.cpus));
        }
        // BookE KVM has one VM type (0).
        Ok(Kvm::open(KvmAbi::POWERPC)?.create_vm(0)?)
    }

    fn platform(ctx: &mut PlatformContext<'_, Self>) -> Result<Platform, BookeError> {
        platform::setup(ctx)
    }

    fn interrupt_router(p: &Platform) -> Option<&dyn vmm_core::devices::InterruptRouter> {
        Some(&*p.router)
    }

    fn create_vcpu(ctx: &VcpuContext<'_, Self>) -> Result<BookeVcpu, BookeError> {
        vcpu::create(ctx)
    }

    fn load(ctx: &mut BuildContext<'_, Self>) -> Result<(), BookeError> {
        let entry = platform::load(ctx)?;
        ctx.vcpus[0].set_entry(&entry)
    }

    fn register_table(_vm: &PpcVm, vcpu: &BookeVcpu) -> Result<RegTable, BookeError> {
        // BookE KVM has no KVM_GET_REG_LIST: the static table of the vCPU's core is the whole
        // story (e500v2's has no EPCR); other registers a core lacks are OPTIONAL there and
        // skipped by a save.
        Ok(crate::regs::table_for(vcpu.core()).clone())
    }

    fn handle_exit(
        ctx: &ExitContext<'_, Self>,
        exit: VcpuExit<'_>,
    ) -> Result<ExitAction, BookeError> {
        Ok(match exit {
            VcpuExit::Epr(epr) => match &ctx.platform.irqchip {
                IrqChip::User(m) => {
                    // In proxy mode the vector; otherwise EPR stays as it is and the guest reads
                    // IACK (see irqchip::user).
                    if let Some(v) = m.epr(ctx.id as usize) {
                        *epr = v;
                    }
                    ExitAction::Continue
                }
                IrqChip::Kernel(_) => {
                    ExitAction::Crash("KVM_EXIT_EPR although the in-kernel MPIC answers EPR".into())
                }
            },
            VcpuExit::Debug => ExitAction::Continue,
            // BookE guests leave through the debug exit (or are stopped); KVM handles `wait`,
            // ePAPR hypercalls and the decrementer itself. Anything else (an internal error, a
            // failed entry, the BookE watchdog's exit) ends the VM, named by its exit.
            other => ExitAction::Crash(format!("unexpected exit {other:?}")),
        })
    }

    const SNAPSHOT_MAGIC: Option<[u8; 8]> = Some(SNAPSHOT_MAGIC);
    const VM_STATE_TAGS: &'static [[u8; 4]] = &[MPIC.tag];

    fn save_vm_state(_vm: &PpcVm, platform: &Platform) -> Result<Vec<Section>, BookeError> {
        Ok(vec![mpic_section(&platform.save_mpic()?)])
    }

    fn restore_vm_state(
        _vm: &PpcVm,
        platform: &Platform,
        env: &Envelope,
    ) -> Result<(), BookeError> {
        let s = MPIC
            .require(env)
            .map_err(crate::snapshot::SnapshotError::from)?;
        platform.restore_mpic(&decode_mpic(s)?)
    }

    fn save_vcpu_extra(_vm: &PpcVm, vcpu: &BookeVcpu) -> Result<Vec<u8>, BookeError> {
        let tlb = vcpu.tlb();
        Ok(encode_tlb(tlb.mmu_type(), &tlb.export()))
    }

    fn restore_vcpu_extra(_vm: &PpcVm, vcpu: &BookeVcpu, data: &[u8]) -> Result<(), BookeError> {
        let (mmu_type, image) = decode_tlb(data)?;
        vcpu.restore_tlb(mmu_type, &image)
    }

    fn vcpu_summary(vcpu: &BookeVcpu) -> String {
        vcpu.summary()
    }
}
