//! A BookE vCPU: the raw PowerPC vCPU plus its software TLB shared with KVM, and its creation
//! (`KVM_CAP_SW_TLB`, the MPIC connection, EPR, the boot TLB entry and entry registers).

use super::mpic::VcpuIrq;
use super::platform::{IrqChip, Platform};
use crate::abi::{kvm_dirty_tlb, KVM_DIRTY_TLB};
use crate::error::BookeError;
use crate::irqchip::UserMpic;
use crate::mmu::bootmap::write_boot_entry;
use crate::mmu::{GuestMmu, MmuType, SharedTlb, TlbArray};
use crate::regs;
use crate::BookE;
use kvm_ppc::consts::{KVM_CAP_PPC_EPR, KVM_CAP_SW_TLB};
use kvm_ppc::structs::KvmEnableCap;
use kvm_ppc::PpcVcpu;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use vmm_core::hypervisor::{HvError, VcpuExit, VcpuOps};
use vmm_core::regs::{RegBlock, RegDesc, RegId, VcpuRegs};
use vmm_core::VcpuContext;
use vmm_sys_util::ioctl::ioctl_with_ref;

/// A BookE vCPU.
///
/// Its [`SharedTlb`] is the array KVM was given with `KVM_CAP_SW_TLB`; [`VcpuOps::run`] enters
/// the guest only through [`SharedTlb::enter`], which pushes `KVM_DIRTY_TLB` first whenever
/// userspace changed an entry (the boot entry, a restore, a debugger's write) and marks every
/// earlier read of the array stale once `KVM_RUN` returns. The mutex is for the snapshot hooks,
/// which vmm-core calls with a shared reference on the vCPU's own thread; `run` reaches the TLB
/// through `&mut self` without locking.
pub struct BookeVcpu {
    vcpu: PpcVcpu,
    core: crate::cpu::Core,
    tlb: Mutex<SharedTlb>,
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
    /// The vCPU's core (the host's).
    pub fn core(&self) -> crate::cpu::Core {
        self.core
    }

    /// Sets the boot vCPU's entry state: ePAPR's initial mapped area in `TLB1[0]` (marked dirty:
    /// pushed before the first run), then PC, MSR and the argument registers.
    pub fn set_entry(&self, entry: &crate::boot::EntryState) -> Result<(), BookeError> {
        let mut tlb = self.tlb();
        write_boot_entry(&mut GuestMmu::new(&mut *tlb), &entry.boot_tlb)
            .map_err(crate::boot::BootError::Tlb)?;
        drop(tlb);
        vmm_core::regs::write(
            regs::table_for(self.core),
            &self.vcpu,
            &regs::entry_state(entry),
        )?;
        Ok(())
    }

    /// The vCPU index.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The raw vCPU: its fd, sregs, ONE_REG, and the `VcpuRegs` the register table reads and
    /// writes through (`vmm_core::regs::read(arch_booke::regs::table(), vcpu.ppc(), ...)`).
    pub fn ppc(&self) -> &PpcVcpu {
        &self.vcpu
    }

    /// The TLB shared with KVM, as of the last return from `KVM_RUN`; writes through it are
    /// marked dirty and pushed before the next run.
    pub fn tlb(&self) -> MutexGuard<'_, SharedTlb> {
        self.tlb.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Restores a TLB image of the same MMU type and geometry (everything is pushed to KVM
    /// before the next run). Before the registers: the TLB geometry registers only accept the
    /// configured geometry's values.
    pub fn restore_tlb(&self, mmu_type: MmuType, image: &TlbArray) -> Result<(), BookeError> {
        let mut tlb = self.tlb();
        if mmu_type != tlb.mmu_type() {
            return Err(BookeError::Snapshot(format!(
                "vCPU {}: TLB of MMU type {mmu_type:?}, this vCPU's is {:?}",
                self.id,
                tlb.mmu_type()
            )));
        }
        Ok(tlb.import(image)?)
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
        let tlb = tlb.get_mut().unwrap_or_else(|e| e.into_inner());
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

impl VcpuRegs for BookeVcpu {
    fn get_one_reg(&self, id: RegId, buf: &mut [u8]) -> Result<(), HvError> {
        VcpuRegs::get_one_reg(&self.vcpu, id, buf)
    }

    fn set_one_reg(&self, id: RegId, buf: &[u8]) -> Result<(), HvError> {
        VcpuRegs::set_one_reg(&self.vcpu, id, buf)
    }

    fn read_block(&self, block: &RegBlock, buf: &mut [u8]) -> Result<(), HvError> {
        self.vcpu.read_block(block, buf)
    }

    fn write_block(&self, b: &RegBlock, buf: &[u8], written: &[&RegDesc]) -> Result<(), HvError> {
        self.vcpu.write_block(b, buf, written)
    }

    fn field_present(&self, block: &RegBlock, data: &[u8], reg: &RegDesc) -> bool {
        self.vcpu.field_present(block, data, reg)
    }
}

pub(super) fn create(ctx: &VcpuContext<'_, BookE>) -> Result<BookeVcpu, BookeError> {
    let p: &Platform = ctx.platform;
    let vcpu = ctx.vm.create_vcpu(ctx.id.into())?;

    // The TLB array shared with KVM. KVM copies the kvm_config_tlb and the parameter block
    // during the call and keeps the array (pinned) until the vCPU goes away; `tlb` owns it.
    let tlb = SharedTlb::new(p.host.core.tlb_geometry(), p.host.core.mmu_type());
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

    Ok(BookeVcpu {
        vcpu,
        core: p.host.core,
        tlb: Mutex::new(tlb),
        id: ctx.id,
        user_mpic,
    })
}
