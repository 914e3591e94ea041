//! A BookE vCPU: the raw PowerPC vCPU plus its software TLB shared with KVM, and its creation
//! (`KVM_CAP_SW_TLB`, the MPIC connection, EPR, the boot TLB entry and entry registers).

use super::mpic::VcpuIrq;
use super::platform::{IrqChip, Platform};
use super::BookeError;
use crate::abi::{kvm_dirty_tlb, KVM_DIRTY_TLB};
use crate::irqchip::UserMpic;
use crate::mmu::bootmap::write_boot_entry;
use crate::mmu::{GuestMmu, SharedTlb};
use crate::regs;
use crate::snapshot::VcpuSnapshot;
use crate::BookE;
use kvm_ppc::consts::{KVM_CAP_PPC_EPR, KVM_CAP_SW_TLB};
use kvm_ppc::structs::KvmEnableCap;
use kvm_ppc::PpcVcpu;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use vmm_core::hypervisor::{HvError, VcpuExit, VcpuOps};
use vmm_core::VcpuContext;
use vmm_sys_util::ioctl::ioctl_with_ref;

/// A BookE vCPU.
///
/// Its [`SharedTlb`] is the array KVM was given with `KVM_CAP_SW_TLB`; [`VcpuOps::run`] enters
/// the guest only through [`SharedTlb::enter`], which pushes `KVM_DIRTY_TLB` first whenever
/// userspace changed an entry (the boot entry, a restore, a debugger's write) and marks every
/// earlier read of the array stale once `KVM_RUN` returns.
pub struct BookeVcpu {
    vcpu: PpcVcpu,
    tlb: SharedTlb,
    id: u32,
    user_mpic: Option<Arc<UserMpic>>,
}

/// `KVM_DIRTY_TLB` on vCPU fd `fd`.
fn dirty_tlb(fd: RawFd, d: &kvm_dirty_tlb) -> Result<(), HvError> {
    // SAFETY: `d` is a live struct kvm_dirty_tlb whose bitmap points into the SharedTlb, which
    // is borrowed for the duration of the call; the kernel only reads both.
    let r = unsafe { ioctl_with_ref(&fd, KVM_DIRTY_TLB as _, d) };
    if r < 0 {
        return Err(HvError::last("KVM_DIRTY_TLB"));
    }
    Ok(())
}

impl BookeVcpu {
    /// The vCPU index.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The raw vCPU: its fd, sregs, ONE_REG, and the `VcpuRegs` the register table reads and
    /// writes through (`vmm_core::regs::read(arch_booke::regs::table(), vcpu.ppc(), ...)`).
    pub fn ppc(&self) -> &PpcVcpu {
        &self.vcpu
    }

    /// The TLB shared with KVM, as of the last return from `KVM_RUN`.
    pub fn tlb(&self) -> &SharedTlb {
        &self.tlb
    }

    /// The TLB for userspace changes (every write is marked dirty and pushed before the next
    /// run).
    pub fn tlb_mut(&mut self) -> &mut SharedTlb {
        &mut self.tlb
    }

    /// Saves the registers (the BookE table's default save set) and the TLB (as migration
    /// carries it for the MMU type). Call it while the vCPU is outside `KVM_RUN`.
    pub fn save(&self) -> Result<VcpuSnapshot, BookeError> {
        let regs = vmm_core::regs::save(regs::table(), &self.vcpu)?.state;
        Ok(VcpuSnapshot {
            id: self.id,
            mmu_type: self.tlb.mmu_type(),
            tlb: self.tlb.export(),
            regs,
        })
    }

    /// Restores a saved vCPU: the TLB first (the TLB geometry registers only accept the
    /// configured geometry's values), then the registers.
    pub fn restore(&mut self, s: &VcpuSnapshot) -> Result<(), BookeError> {
        if s.id != self.id || s.mmu_type != self.tlb.mmu_type() {
            return Err(BookeError::Snapshot(format!(
                "vCPU {} with MMU type {:?} restored into vCPU {} with {:?}",
                s.id,
                s.mmu_type,
                self.id,
                self.tlb.mmu_type()
            )));
        }
        self.tlb.import(&s.tlb)?;
        vmm_core::regs::restore(regs::table(), &self.vcpu, &s.regs)?;
        Ok(())
    }

    /// "pc=... msr=... lr=... r1=..." for crash reports.
    pub(super) fn summary(&self) -> String {
        match self.vcpu.get_regs() {
            Ok(r) => format!(
                "pc={:#x} msr={:#x} lr={:#x} r1={:#x} r3={:#x}",
                r.pc, r.msr, r.lr, r.gpr[1], r.gpr[3]
            ),
            Err(_) => "registers unavailable".into(),
        }
    }
}

impl VcpuOps for BookeVcpu {
    fn run(&mut self) -> Result<VcpuExit<'_>, HvError> {
        if let Some(e) = self.user_mpic.as_ref().and_then(|m| m.take_error()) {
            return Err(HvError::Ioctl {
                op: "KVM_INTERRUPT",
                source: e,
            });
        }
        let Self { vcpu, tlb, .. } = self;
        let fd = vcpu.fd().as_raw_fd();
        tlb.enter(
            |d| dirty_tlb(fd, d),
            move |_kernel_owns_the_array| vcpu.run(),
        )
    }

    fn immediate_exit_ptr(&mut self) -> *mut u8 {
        self.vcpu.immediate_exit_ptr()
    }

    fn get_one_reg(&self, id: u64, buf: &mut [u8]) -> Result<usize, HvError> {
        VcpuOps::get_one_reg(&self.vcpu, id, buf)
    }

    fn set_one_reg(&self, id: u64, buf: &[u8]) -> Result<usize, HvError> {
        VcpuOps::set_one_reg(&self.vcpu, id, buf)
    }
}

pub(super) fn create(ctx: &VcpuContext<'_, BookE>) -> Result<BookeVcpu, BookeError> {
    let p: &Platform = ctx.platform;
    let vcpu = ctx.vm.create_vcpu(ctx.id.into())?;

    // The TLB array shared with KVM. KVM copies the kvm_config_tlb and the parameter block
    // during the call and keeps the array (pinned) until the vCPU goes away; `tlb` owns it.
    let mut tlb = SharedTlb::new(p.host.core.tlb_geometry(), p.host.core.mmu_type());
    let config = tlb.config();
    let arg = &config as *const _ as u64;
    vcpu.enable_cap(&KvmEnableCap::new(KVM_CAP_SW_TLB, [arg, 0, 0, 0]))?;

    let user_mpic = match &p.irqchip {
        IrqChip::Kernel(k) => {
            k.connect(&vcpu, ctx.id)?;
            None
        }
        IrqChip::User(m) => {
            if p.external_proxy {
                vcpu.enable_cap(&KvmEnableCap::new(KVM_CAP_PPC_EPR, [1, 0, 0, 0]))?;
            }
            let fd = vcpu.fd().try_clone().map_err(|source| HvError::Ioctl {
                op: "dup(vCPU fd)",
                source,
            })?;
            m.attach(ctx.id as usize, Box::new(VcpuIrq(fd)))?;
            Some(m.clone())
        }
    };

    if ctx.id == 0 {
        // ePAPR's initial mapped area in TLB1[0] (marked dirty: pushed before the first run),
        // then PC, MSR and the argument registers.
        write_boot_entry(&mut GuestMmu::new(&mut tlb), &p.entry.boot_tlb)
            .map_err(crate::boot::BootError::Tlb)?;
        vmm_core::regs::write(regs::table(), &vcpu, &regs::entry_state(&p.entry))?;
    }
    Ok(BookeVcpu {
        vcpu,
        tlb,
        id: ctx.id,
        user_mpic,
    })
}
