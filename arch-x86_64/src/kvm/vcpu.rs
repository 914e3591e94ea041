//! vCPU creation: CPUID, boot MSRs, FPU, LAPIC LINT pins, and the boot vCPU's entry registers.

use super::{kvm_err, Platform};
use crate::boot::entry::{instruction_pointer, special_regs, Segment, SpecialRegs};
use crate::boot::EntryState;
use crate::cpuid::{adjust_for_vcpu, CpuidEntry};
use crate::error::X86Error;
use crate::X86_64;
use kvm_bindings::{kvm_cpuid_entry2, kvm_fpu, kvm_msr_entry, kvm_regs, kvm_segment, CpuId, Msrs};
use vmm_core::hypervisor::ioctls::KvmVcpu;
use vmm_core::VcpuContext;

/// Converts KVM's CPUID entries to tetra's plain form.
pub(super) fn cpuid_from_kvm(c: &CpuId) -> Vec<CpuidEntry> {
    c.as_slice()
        .iter()
        .map(|e| CpuidEntry {
            function: e.function,
            index: e.index,
            flags: e.flags,
            eax: e.eax,
            ebx: e.ebx,
            ecx: e.ecx,
            edx: e.edx,
        })
        .collect()
}

pub(super) fn cpuid_to_kvm(entries: &[CpuidEntry]) -> Result<CpuId, X86Error> {
    let k: Vec<kvm_cpuid_entry2> = entries
        .iter()
        .map(|e| kvm_cpuid_entry2 {
            function: e.function,
            index: e.index,
            flags: e.flags,
            eax: e.eax,
            ebx: e.ebx,
            ecx: e.ecx,
            edx: e.edx,
            ..Default::default()
        })
        .collect();
    CpuId::from_entries(&k).map_err(|_| {
        X86Error::from(vmm_core::hypervisor::HvError::Unsupported(
            "this many CPUID entries",
        ))
    })
}

fn kvm_segment(s: &Segment) -> kvm_segment {
    kvm_segment {
        base: s.base,
        limit: s.limit,
        selector: s.selector,
        type_: s.type_,
        present: s.present,
        dpl: s.dpl,
        db: s.db,
        s: s.s,
        l: s.l,
        g: s.g,
        avl: s.avl,
        unusable: s.unusable,
        padding: 0,
    }
}

/// LAPIC register offsets and LVT delivery modes.
const APIC_LVT0: usize = 0x350;
const APIC_LVT1: usize = 0x360;
const APIC_MODE_EXTINT: u32 = 0x7 << 8;
const APIC_MODE_NMI: u32 = 0x4 << 8;

pub(super) fn create(ctx: &VcpuContext<'_, X86_64>) -> Result<KvmVcpu, X86Error> {
    let p: &Platform = ctx.platform;
    let vcpu = ctx.vm.create_vcpu(ctx.id.into())?;
    let fd = vcpu.fd();

    let mut cpuid = p.cpuid.clone();
    adjust_for_vcpu(&mut cpuid, ctx.id, ctx.config.cpus);
    p.template.apply(&mut cpuid);
    fd.set_cpuid2(&cpuid_to_kvm(&cpuid)?)
        .map_err(kvm_err("KVM_SET_CPUID2"))?;
    if !p.template.is_none() {
        // Some KVMs fix leaves themselves (PVM: 7 and 0xd); refuse rather than let the guest see
        // what the template withholds.
        let got = fd
            .get_cpuid2(kvm_bindings::KVM_MAX_CPUID_ENTRIES)
            .map_err(kvm_err("KVM_GET_CPUID2"))?;
        let kept = p.template.kept(&cpuid_from_kvm(&got));
        if !kept.is_empty() {
            return Err(X86Error::TemplateNotHonoured {
                template: p.template.name.clone(),
                kept,
            });
        }
    }

    let entries: Vec<kvm_msr_entry> = crate::msrs::boot_msrs()
        .iter()
        .map(|&(index, data)| kvm_msr_entry {
            index,
            data,
            ..Default::default()
        })
        .collect();
    let msrs = Msrs::from_entries(&entries).expect("the boot MSR list fits a kvm_msrs");
    fd.set_msrs(&msrs).map_err(kvm_err("KVM_SET_MSRS"))?;

    let fpu = kvm_fpu {
        fcw: 0x37f,
        mxcsr: 0x1f80,
        ..Default::default()
    };
    fd.set_fpu(&fpu).map_err(kvm_err("KVM_SET_FPU"))?;

    // LINT0 delivers the PIC's ExtINT, LINT1 NMIs: what firmware leaves for the OS.
    let mut lapic = fd.get_lapic().map_err(kvm_err("KVM_GET_LAPIC"))?;
    for (off, mode) in [(APIC_LVT0, APIC_MODE_EXTINT), (APIC_LVT1, APIC_MODE_NMI)] {
        let mut v = [0u8; 4];
        for (i, b) in v.iter_mut().enumerate() {
            *b = lapic.regs[off + i] as u8;
        }
        let val = (u32::from_le_bytes(v) & !0x700) | mode;
        for (i, b) in val.to_le_bytes().iter().enumerate() {
            lapic.regs[off + i] = *b as _;
        }
    }
    fd.set_lapic(&lapic).map_err(kvm_err("KVM_SET_LAPIC"))?;

    Ok(vcpu)
}

/// Sets the boot vCPU's entry state (registers, segments, descriptor tables, control registers).
/// Application processors wait in the in-kernel LAPIC for INIT/SIPI; only the boot vCPU gets the
/// protocol's entry state.
pub(super) fn set_entry(vcpu: &KvmVcpu, e: &EntryState) -> Result<(), X86Error> {
    let regs = kvm_regs {
        rip: instruction_pointer(e),
        rsp: e.rsp,
        rbp: e.rsp,
        rax: e.rax,
        rbx: e.rbx,
        rsi: e.rsi,
        rflags: 0x2,
        ..Default::default()
    };
    set_state(vcpu, &regs, &special_regs(e))
}

/// Sets the vCPU's general registers and its special registers `sr`.
pub(super) fn set_state(vcpu: &KvmVcpu, regs: &kvm_regs, sr: &SpecialRegs) -> Result<(), X86Error> {
    let fd = vcpu.fd();
    fd.set_regs(regs).map_err(kvm_err("KVM_SET_REGS"))?;
    let mut sregs = fd.get_sregs().map_err(kvm_err("KVM_GET_SREGS"))?;
    sregs.cs = kvm_segment(&sr.cs);
    let data = kvm_segment(&sr.data);
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.tr = kvm_segment(&sr.tr);
    sregs.gdt.base = sr.gdt.0;
    sregs.gdt.limit = sr.gdt.1;
    sregs.idt.base = sr.idt.0;
    sregs.idt.limit = sr.idt.1;
    sregs.cr0 = sr.cr0;
    sregs.cr3 = sr.cr3;
    sregs.cr4 = sr.cr4;
    sregs.efer = sr.efer;
    fd.set_sregs(&sregs).map_err(kvm_err("KVM_SET_SREGS"))?;
    Ok(())
}

/// "rip=... rsp=... cr0=... efer=... cs=..." for crash reports.
pub(super) fn summary(vcpu: &KvmVcpu) -> String {
    let fd = vcpu.fd();
    match (fd.get_regs(), fd.get_sregs()) {
        (Ok(r), Ok(s)) => format!(
            "rip={:#x} rsp={:#x} rflags={:#x} cs={:#x}(base {:#x}) cr0={:#x} cr3={:#x} efer={:#x} \
             rax={:#x} rbx={:#x} rcx={:#x} rdx={:#x} rsi={:#x} rdi={:#x}",
            r.rip,
            r.rsp,
            r.rflags,
            s.cs.selector,
            s.cs.base,
            s.cr0,
            s.cr3,
            s.efer,
            r.rax,
            r.rbx,
            r.rcx,
            r.rdx,
            r.rsi,
            r.rdi
        ),
        _ => "registers unavailable".into(),
    }
}
