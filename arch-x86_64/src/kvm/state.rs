//! The x86 migration serializer: VM-wide state (PIC and IOAPIC through `KVM_GET_IRQCHIP`, the
//! PIT through `KVM_GET_PIT2`, the KVM clock through `KVM_GET_CLOCK`) and per-vCPU state outside
//! the register table (CPUID, TSC frequency). vCPU registers, MSRs, LAPIC, XSAVE, events and MP
//! state go through the register table.

use super::regs::X86Vcpu;
use super::{kvm_err, Platform};
use crate::error::X86Error;
use kvm_bindings::{
    kvm_clock_data, kvm_cpuid_entry2, kvm_irqchip, kvm_pit_state2, CpuId, KVM_MAX_CPUID_ENTRIES,
};
use vmm_core::hypervisor::ioctls::KvmVm;
use vmm_core::snapshot::{Envelope, Section};
use vmm_core::wire::{Reader, Writer};

/// `PIC master, PIC slave, IOAPIC` (`KVM_GET_IRQCHIP` chip ids 0, 1, 2).
pub const TAG_IRQC: [u8; 4] = *b"IRQC";
/// `struct kvm_pit_state2`.
pub const TAG_PIT2: [u8; 4] = *b"PIT2";
/// `struct kvm_clock_data`'s clock.
pub const TAG_CLCK: [u8; 4] = *b"CLCK";
/// The VM-wide sections.
pub const TAGS: &[[u8; 4]] = &[TAG_IRQC, TAG_PIT2, TAG_CLCK];

fn raw<T>(v: &T) -> Vec<u8> {
    // SAFETY: T is a `#[repr(C)]` kvm-bindings struct of integers and arrays, fully written by
    // KVM; the slice covers exactly `v`.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>()) }
        .to_vec()
}

fn from_raw<T: Default>(b: &[u8], what: &str) -> Result<T, X86Error> {
    if b.len() != std::mem::size_of::<T>() {
        return Err(X86Error::State(format!(
            "{what} is {} bytes, expected {}",
            b.len(),
            std::mem::size_of::<T>()
        )));
    }
    let mut v = T::default();
    // SAFETY: copies exactly size_of::<T>() bytes into a T of integers and arrays, for which any
    // bit pattern is valid.
    unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), (&mut v as *mut T).cast::<u8>(), b.len()) };
    Ok(v)
}

fn section<'a>(env: &'a Envelope, tag: &[u8; 4]) -> Result<&'a Section, X86Error> {
    let s = env.section(tag).ok_or_else(|| {
        X86Error::State(format!(
            "section {} is missing",
            String::from_utf8_lossy(tag)
        ))
    })?;
    if s.version > 1 {
        return Err(X86Error::State(format!(
            "section {} version {} is newer than this tetra's 1",
            s.tag_str(),
            s.version
        )));
    }
    Ok(s)
}

/// The VM-wide sections.
pub fn save_vm(vm: &KvmVm, _platform: &Platform) -> Result<Vec<Section>, X86Error> {
    let mut w = Writer::new();
    w.u32(3);
    for chip_id in 0..3u32 {
        let mut c = kvm_irqchip {
            chip_id,
            ..Default::default()
        };
        vm.fd()
            .get_irqchip(&mut c)
            .map_err(kvm_err("KVM_GET_IRQCHIP"))?;
        w.u32(chip_id);
        w.blob(&raw(&c));
    }
    let pit = vm.fd().get_pit2().map_err(kvm_err("KVM_GET_PIT2"))?;
    let clock = vm.fd().get_clock().map_err(kvm_err("KVM_GET_CLOCK"))?;
    let mut c = Writer::new();
    c.u64(clock.clock);
    Ok(vec![
        Section::new(&TAG_IRQC, 1, w.into_bytes()),
        Section::new(&TAG_PIT2, 1, raw(&pit)),
        Section::new(&TAG_CLCK, 1, c.into_bytes()),
    ])
}

/// Restores the VM-wide sections.
pub fn restore_vm(vm: &KvmVm, env: &Envelope) -> Result<(), X86Error> {
    let s = section(env, &TAG_IRQC)?;
    let mut r = Reader::new(&s.data);
    let n = r
        .count("the irqchip count", 8)
        .map_err(|e| X86Error::State(e.to_string()))?;
    if n > 3 {
        return Err(X86Error::State(format!("{n} irqchips; x86 has 3")));
    }
    for _ in 0..n {
        let id = r
            .u32("a chip id")
            .map_err(|e| X86Error::State(e.to_string()))?;
        let c: kvm_irqchip = from_raw(
            r.blob("a chip")
                .map_err(|e| X86Error::State(e.to_string()))?,
            "an irqchip",
        )?;
        if id > 2 || c.chip_id != id {
            return Err(X86Error::State(format!("irqchip id {id} / {}", c.chip_id)));
        }
        vm.fd()
            .set_irqchip(&c)
            .map_err(kvm_err("KVM_SET_IRQCHIP"))?;
    }
    let pit: kvm_pit_state2 = from_raw(&section(env, &TAG_PIT2)?.data, "the PIT state")?;
    vm.fd().set_pit2(&pit).map_err(kvm_err("KVM_SET_PIT2"))?;
    let mut r = Reader::new(&section(env, &TAG_CLCK)?.data);
    let clock = kvm_clock_data {
        clock: r
            .u64("the KVM clock")
            .map_err(|e| X86Error::State(e.to_string()))?,
        ..Default::default()
    };
    vm.fd()
        .set_clock(&clock)
        .map_err(kvm_err("KVM_SET_CLOCK"))?;
    Ok(())
}

/// CPUID entries and the TSC frequency of a vCPU.
pub fn save_vcpu(vcpu: &X86Vcpu) -> Result<Vec<u8>, X86Error> {
    let fd = vcpu.0.fd();
    let cpuid = fd
        .get_cpuid2(KVM_MAX_CPUID_ENTRIES)
        .map_err(kvm_err("KVM_GET_CPUID2"))?;
    let mut w = Writer::new();
    let entries = cpuid.as_slice();
    w.u32(entries.len() as u32);
    for e in entries {
        for v in [e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx] {
            w.u32(v);
        }
    }
    w.u32(fd.get_tsc_khz().unwrap_or(0));
    Ok(w.into_bytes())
}

/// Restores [`save_vcpu`]'s bytes: CPUID first (before any register), then the TSC frequency if
/// it differs from this host's.
pub fn restore_vcpu(vcpu: &X86Vcpu, data: &[u8]) -> Result<(), X86Error> {
    let st = |e: vmm_core::wire::Truncated| X86Error::State(e.to_string());
    let mut r = Reader::new(data);
    let n = r.count("the CPUID entry count", 28).map_err(st)?;
    if n > KVM_MAX_CPUID_ENTRIES {
        return Err(X86Error::State(format!("{n} CPUID entries")));
    }
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        let mut v = [0u32; 7];
        for x in v.iter_mut() {
            *x = r.u32("a CPUID entry").map_err(st)?;
        }
        entries.push(kvm_cpuid_entry2 {
            function: v[0],
            index: v[1],
            flags: v[2],
            eax: v[3],
            ebx: v[4],
            ecx: v[5],
            edx: v[6],
            ..Default::default()
        });
    }
    let khz = r.u32("the TSC frequency").map_err(st)?;
    if !r.is_empty() {
        return Err(X86Error::State(format!(
            "{} trailing bytes in the vCPU state",
            r.remaining()
        )));
    }
    let fd = vcpu.0.fd();
    let cpuid =
        CpuId::from_entries(&entries).map_err(|_| X86Error::State("CPUID entries".into()))?;
    fd.set_cpuid2(&cpuid).map_err(kvm_err("KVM_SET_CPUID2"))?;
    if khz != 0 && fd.get_tsc_khz().ok() != Some(khz) {
        fd.set_tsc_khz(khz).map_err(kvm_err("KVM_SET_TSC_KHZ"))?;
    }
    Ok(())
}
