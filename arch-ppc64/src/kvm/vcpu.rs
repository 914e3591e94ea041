//! vCPU creation (host PVR, PAPR mode, its XICS interrupt server, the boot vCPU's entry state), secondary start-up, the
//! register work hypercalls leave for the vCPU's own thread, and crash summaries.

use super::Platform;
use crate::boot::EntryState;
use crate::error::Ppc64Error;
use crate::hcall::{H_HARDWARE, H_SUCCESS, H_UNSUPPORTED_FLAG};
use crate::machine::VcpuRequest;
use crate::Ppc64;
use kvm_ppc::consts::{KVM_CAP_IRQ_XICS, KVM_CAP_PPC_PAPR};
use kvm_ppc::one_reg;
use kvm_ppc::structs::KvmEnableCap;
use kvm_ppc::PpcVcpu;
use std::os::fd::AsRawFd;
use vmm_core::hypervisor::{HvError, VcpuExit, VcpuOps};
use vmm_core::{ExitAction, ExitContext, VcpuContext};

pub(super) fn create(ctx: &VcpuContext<'_, Ppc64>) -> Result<PpcVcpu, Ppc64Error> {
    let p: &Platform = ctx.platform;
    let vcpu = ctx.vm.create_vcpu(ctx.id.into())?;
    // KVM-HV accepts only the host's PVR (it cannot make a guest see another processor); a
    // KVM-PR guest's hash table is where SDR1 points, in tetra's memory.
    let mut sregs = vcpu.get_sregs()?;
    sregs.pvr = p.pvr;
    if let Some(sdr1) = p.htab.as_ref().and_then(|h| h.sdr1()) {
        sregs.u.s.sdr1 = sdr1;
    }
    vcpu.set_sregs(&sregs)?;
    if has_user_htab(p) {
        // KVM-PR vectors interrupts to HIOR + vector, and a 64-bit PVR gives HIOR 0xfff00000
        // unless it was set (book3s_pr.c kvmppc_set_pvr_pr): a PAPR guest's vectors are at 0.
        VcpuOps::set_one_reg(&vcpu, one_reg::HIOR.raw(), &0u64.to_ne_bytes())?;
    }
    vcpu.enable_cap(&KvmEnableCap::new(KVM_CAP_PPC_PAPR, [0; 4]))?;
    if let Some(xics) = &p.xics {
        // The vCPU is the XICS's interrupt server of its own index.
        let fd = xics.fd().as_raw_fd() as u64;
        vcpu.enable_cap(&KvmEnableCap::new(
            KVM_CAP_IRQ_XICS,
            [fd, u64::from(ctx.id), 0, 0],
        ))?;
    }
    Ok(vcpu)
}

/// Whether the VM's hash table is tetra's (KVM-PR).
fn has_user_htab(p: &Platform) -> bool {
    p.htab.as_ref().and_then(|h| h.user()).is_some()
}

/// Points the vCPU's SDR1 at the VM's hash table when tetra holds it (KVM-PR); a no-op
/// otherwise.
pub(super) fn point_sdr1(p: &Platform, vcpu: &PpcVcpu) -> Result<(), HvError> {
    let Some(sdr1) = p.htab.as_ref().and_then(|h| h.sdr1()) else {
        return Ok(());
    };
    let mut sregs = vcpu.get_sregs()?;
    sregs.u.s.sdr1 = sdr1;
    vcpu.set_sregs(&sregs)
}

/// Sets NIP, MSR and r3-r5.
pub fn set_entry(vcpu: &PpcVcpu, e: &EntryState) -> Result<(), HvError> {
    let mut r = vcpu.get_regs()?;
    r.pc = e.nip;
    r.msr = e.msr;
    r.gpr[3] = e.r3;
    r.gpr[4] = e.r4;
    r.gpr[5] = e.r5;
    vcpu.set_regs(&r)
}

/// Lets KVM finish the exit the vCPU last took (write an hypercall's results into its
/// registers) without entering the guest: `KVM_RUN` with `immediate_exit` set. Registers set
/// afterwards are not overwritten by that completion.
pub fn complete_pending_exit(vcpu: &mut PpcVcpu) -> Result<(), HvError> {
    let ie = vcpu.immediate_exit_ptr();
    // SAFETY: `ie` points into this vCPU's kvm_run page, mapped while `vcpu` lives.
    unsafe { std::ptr::write_volatile(ie, 1) };
    let r = vcpu.run().map(drop);
    // SAFETY: as above.
    unsafe { std::ptr::write_volatile(ie, 0) };
    match r {
        Err(e) if e.errno() == Some(libc::EINTR) => Ok(()),
        other => other,
    }
}

fn lpcr(vcpu: &PpcVcpu) -> Result<u64, HvError> {
    let mut b = [0u8; 8];
    VcpuOps::get_one_reg(vcpu, one_reg::LPCR_64.raw(), &mut b)?;
    Ok(u64::from_ne_bytes(b))
}

/// Sets LPCR bits `mask` to `value`; true when KVM took them (it filters what a guest may set).
pub fn update_lpcr(vcpu: &PpcVcpu, mask: u64, value: u64) -> Result<bool, HvError> {
    let new = (lpcr(vcpu)? & !mask) | (value & mask);
    VcpuOps::set_one_reg(vcpu, one_reg::LPCR_64.raw(), &new.to_ne_bytes())?;
    Ok(lpcr(vcpu)? & mask == value & mask)
}

/// Configures the radix MMU with the guest's process table (`None`: tetra's own from boot) and
/// records it for snapshots (`H_REGISTER_PROC_TBL`).
fn register_proc_table(
    ctx: &ExitContext<'_, Ppc64>,
    table: Option<(u64, u64)>,
) -> Result<(), Ppc64Error> {
    let own = ctx.platform.boot.get().map(|b| b.proc_table);
    let Some((base, size)) = table.or(own) else {
        return Err(HvError::Unsupported("a process table before boot").into());
    };
    super::platform::configure_v3_mmu(ctx.vm, &crate::mmu::radix_config(base, size)?)?;
    ctx.platform.machine.set_proc_table(table);
    Ok(())
}

/// Sets SPRG0 (`H_SET_SPRG0`).
fn set_sprg0(vcpu: &PpcVcpu, value: u64) -> Result<(), HvError> {
    let mut r = vcpu.get_regs()?;
    r.sprg0 = value;
    vcpu.set_regs(&r)
}

/// Finishes a hypercall that needed the vCPU (`H_SET_MODE`, `H_SET_SPRG0`, `H_REGISTER_PROC_TBL`): applies the request and writes the
/// status into the pending `KVM_EXIT_PAPR_HCALL`.
pub(super) fn finish_request(
    ctx: &ExitContext<'_, Ppc64>,
    vcpu: &mut PpcVcpu,
) -> Result<ExitAction, Ppc64Error> {
    let ret = match ctx.platform.machine.take_request(ctx.id) {
        Some(VcpuRequest::Lpcr { mask, value }) => match update_lpcr(vcpu, mask, value) {
            Ok(true) => H_SUCCESS,
            Ok(false) => H_UNSUPPORTED_FLAG,
            Err(_) => H_HARDWARE,
        },
        Some(VcpuRequest::Sprg0 { value }) => match set_sprg0(vcpu, value) {
            Ok(()) => H_SUCCESS,
            Err(_) => H_HARDWARE,
        },
        Some(VcpuRequest::ProcTable { table }) => match register_proc_table(ctx, table) {
            Ok(()) => H_SUCCESS,
            Err(_) => H_HARDWARE,
        },
        None => return Ok(ExitAction::Crash("a vCPU request without its data".into())),
    };
    match vcpu.run_page().exit() {
        Ok(VcpuExit::PaprHcall(h)) => {
            h.ret = ret as u64;
            Ok(ExitAction::Continue)
        }
        other => Ok(ExitAction::Crash(format!(
            "a hypercall's vCPU request found the exit {other:?}"
        ))),
    }
}

/// A woken secondary vCPU: enters at its RTAS `start-cpu` request, with the LPCR bits the
/// machine set (`H_SET_MODE`); a wake-up without a request parks it again.
pub(super) fn start(
    ctx: &ExitContext<'_, Ppc64>,
    vcpu: &mut PpcVcpu,
) -> Result<ExitAction, Ppc64Error> {
    let Some(req) = ctx.platform.machine.take_start(ctx.id) else {
        return Ok(ExitAction::Park);
    };
    // A vCPU that stopped itself did so inside H_RTAS: complete that call first, so that its
    // results do not overwrite the entry registers.
    complete_pending_exit(vcpu)?;
    set_entry(vcpu, &EntryState::secondary(req))?;
    let (mask, value) = ctx.platform.machine.shared_lpcr();
    if mask != 0 {
        update_lpcr(vcpu, mask, value)?;
    }
    Ok(ExitAction::Continue)
}

/// "nip=... msr=... lr=... r1=... r3=..." for crash reports.
pub(super) fn summary(vcpu: &PpcVcpu) -> String {
    match vcpu.get_regs() {
        Ok(r) => format!(
            "nip={:#x} msr={:#x} lr={:#x} ctr={:#x} r1={:#x} r3={:#x} srr0={:#x} srr1={:#x}",
            r.pc, r.msr, r.lr, r.ctr, r.gpr[1], r.gpr[3], r.srr0, r.srr1
        ),
        Err(_) => "registers unavailable".into(),
    }
}
