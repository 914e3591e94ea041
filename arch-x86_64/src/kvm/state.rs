//! Moves x86 snapshot state between KVM and the codec in `crate::snapshot`: VM-wide state (PIC
//! and IOAPIC through `KVM_GET_IRQCHIP`, the PIT through `KVM_GET_PIT2`, the KVM clock through
//! `KVM_GET_CLOCK`) and per-vCPU state outside the register table (CPUID, TSC frequency). vCPU
//! registers, MSRs, LAPIC, XSAVE, events and MP state go through the register table. The format
//! and every check on it are the codec's; this file only converts kvm-bindings structs.

use super::regs::X86Vcpu;
use super::vcpu::{cpuid_from_kvm, cpuid_to_kvm};
use super::{kvm_err, Platform};
use crate::cpu_template::{feature_words, CpuTemplate};
use crate::cpuid::{adjust_for_vcpu, CpuidEntry};
use crate::error::X86Error;
use crate::snapshot::cput::{self, TemplateState};
use crate::snapshot::{
    self, IoapicState, IrqchipState, KvmClock, PicState, PitChannel, PitState, VcpuExtra, VmState,
};
use kvm_bindings::{
    kvm_clock_data, kvm_ioapic_state, kvm_irqchip, kvm_pic_state, kvm_pit_channel_state,
    kvm_pit_state2, KVM_CPUID_FLAG_SIGNIFCANT_INDEX, KVM_CPUID_FLAG_STATEFUL_FUNC,
    KVM_CPUID_FLAG_STATE_READ_NEXT, KVM_IOAPIC_NUM_PINS, KVM_IRQCHIP_IOAPIC,
    KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_MAX_CPUID_ENTRIES,
    KVM_PIT_FLAGS_HPET_LEGACY, KVM_PIT_FLAGS_SPEAKER_DATA_ON,
};
use vmm_core::hypervisor::ioctls::KvmVm;
use vmm_core::snapshot::{Envelope, Section};

// The codec's KVM facts are kvm-bindings' numbers.
const _: () = assert!(snapshot::MAX_CPUID_ENTRIES == KVM_MAX_CPUID_ENTRIES);
const _: () = assert!(snapshot::IOAPIC_PINS == KVM_IOAPIC_NUM_PINS as usize);
const _: () =
    assert!(snapshot::PIT_FLAGS == KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON);
const _: () = assert!(
    snapshot::CPUID_FLAGS
        == KVM_CPUID_FLAG_SIGNIFCANT_INDEX
            | KVM_CPUID_FLAG_STATEFUL_FUNC
            | KVM_CPUID_FLAG_STATE_READ_NEXT
);

fn pic_from_kvm(k: &kvm_pic_state) -> PicState {
    PicState {
        last_irr: k.last_irr,
        irr: k.irr,
        imr: k.imr,
        isr: k.isr,
        priority_add: k.priority_add,
        irq_base: k.irq_base,
        read_reg_select: k.read_reg_select,
        poll: k.poll,
        special_mask: k.special_mask,
        init_state: k.init_state,
        auto_eoi: k.auto_eoi,
        rotate_on_auto_eoi: k.rotate_on_auto_eoi,
        special_fully_nested_mode: k.special_fully_nested_mode,
        init4: k.init4,
        elcr: k.elcr,
        elcr_mask: k.elcr_mask,
    }
}

fn pic_to_kvm(p: &PicState) -> kvm_pic_state {
    kvm_pic_state {
        last_irr: p.last_irr,
        irr: p.irr,
        imr: p.imr,
        isr: p.isr,
        priority_add: p.priority_add,
        irq_base: p.irq_base,
        read_reg_select: p.read_reg_select,
        poll: p.poll,
        special_mask: p.special_mask,
        init_state: p.init_state,
        auto_eoi: p.auto_eoi,
        rotate_on_auto_eoi: p.rotate_on_auto_eoi,
        special_fully_nested_mode: p.special_fully_nested_mode,
        init4: p.init4,
        elcr: p.elcr,
        elcr_mask: p.elcr_mask,
    }
}

fn ioapic_from_kvm(k: &kvm_ioapic_state) -> IoapicState {
    let mut s = IoapicState {
        base_address: k.base_address,
        ioregsel: k.ioregsel,
        id: k.id,
        irr: k.irr,
        ..IoapicState::default()
    };
    for (e, k) in s.redirtbl.iter_mut().zip(&k.redirtbl) {
        // SAFETY: the union is eight bytes of integers: every bit pattern is a valid `bits`.
        *e = unsafe { k.bits };
    }
    s
}

fn ioapic_to_kvm(s: &IoapicState) -> kvm_ioapic_state {
    // SAFETY: `kvm_ioapic_state` is integers and unions of integers: all zeroes is valid.
    let mut k: kvm_ioapic_state = unsafe { std::mem::zeroed() };
    k.base_address = s.base_address;
    k.ioregsel = s.ioregsel;
    k.id = s.id;
    k.irr = s.irr;
    for (k, e) in k.redirtbl.iter_mut().zip(&s.redirtbl) {
        k.bits = *e;
    }
    k
}

fn pit_from_kvm(k: &kvm_pit_state2) -> PitState {
    let ch = |c: &kvm_pit_channel_state| PitChannel {
        count: c.count,
        latched_count: c.latched_count,
        count_latched: c.count_latched,
        status_latched: c.status_latched,
        status: c.status,
        read_state: c.read_state,
        write_state: c.write_state,
        write_latch: c.write_latch,
        rw_mode: c.rw_mode,
        mode: c.mode,
        bcd: c.bcd,
        gate: c.gate,
        count_load_time: c.count_load_time,
    };
    PitState {
        channels: k.channels.each_ref().map(ch),
        flags: k.flags,
    }
}

fn pit_to_kvm(s: &PitState) -> kvm_pit_state2 {
    let ch = |c: &PitChannel| kvm_pit_channel_state {
        count: c.count,
        latched_count: c.latched_count,
        count_latched: c.count_latched,
        status_latched: c.status_latched,
        status: c.status,
        read_state: c.read_state,
        write_state: c.write_state,
        write_latch: c.write_latch,
        rw_mode: c.rw_mode,
        mode: c.mode,
        bcd: c.bcd,
        gate: c.gate,
        count_load_time: c.count_load_time,
    };
    kvm_pit_state2 {
        channels: s.channels.each_ref().map(ch),
        flags: s.flags,
        ..Default::default()
    }
}

fn get_chip(vm: &KvmVm, chip_id: u32) -> Result<kvm_irqchip, X86Error> {
    let mut c = kvm_irqchip {
        chip_id,
        ..Default::default()
    };
    vm.fd()
        .get_irqchip(&mut c)
        .map_err(kvm_err("KVM_GET_IRQCHIP"))?;
    Ok(c)
}

fn set_chip(vm: &KvmVm, mut c: kvm_irqchip, chip_id: u32) -> Result<(), X86Error> {
    c.chip_id = chip_id;
    vm.fd().set_irqchip(&c).map_err(kvm_err("KVM_SET_IRQCHIP"))
}

/// The VM-wide sections.
pub fn save_vm(vm: &KvmVm, platform: &Platform) -> Result<Vec<Section>, X86Error> {
    let master = get_chip(vm, KVM_IRQCHIP_PIC_MASTER)?;
    let slave = get_chip(vm, KVM_IRQCHIP_PIC_SLAVE)?;
    let ioapic = get_chip(vm, KVM_IRQCHIP_IOAPIC)?;
    // SAFETY: KVM filled in the union member that each chip id selects; all are integers.
    let irqchip = unsafe {
        IrqchipState {
            pic: [
                pic_from_kvm(&master.chip.pic),
                pic_from_kvm(&slave.chip.pic),
            ],
            ioapic: ioapic_from_kvm(&ioapic.chip.ioapic),
        }
    };
    let pit = match platform.has_pit() {
        true => Some(vm.fd().get_pit2().map_err(kvm_err("KVM_GET_PIT2"))?),
        false => None,
    };
    let clock = vm.fd().get_clock().map_err(kvm_err("KVM_GET_CLOCK"))?;
    let mut sections = snapshot::encode_vm(&VmState {
        irqchip,
        pit: pit.as_ref().map(pit_from_kvm),
        clock: KvmClock { clock: clock.clock },
    });
    sections.push(cput::template_section(&template_state(platform)));
    Ok(sections)
}

/// What vCPU 0 sees on this host under `template` (its named features; topology aside).
fn guest_view(platform: &Platform, template: &CpuTemplate) -> Vec<CpuidEntry> {
    let mut c = platform.cpuid.clone();
    adjust_for_vcpu(&mut c, 0, 1);
    template.apply(&mut c);
    c
}

/// The VM's template for a snapshot: the one it restored with, or the one it booted with.
fn template_state(platform: &Platform) -> TemplateState {
    let restored = platform.restored_template.lock().expect("template lock");
    restored.clone().unwrap_or_else(|| TemplateState {
        template: platform.template.clone(),
        guest: feature_words(&guest_view(platform, &platform.template)),
    })
}

/// Refuses a snapshot whose template leaves a named feature this host's KVM does not offer,
/// naming each; keeps its template for the next snapshot.
fn restore_template(platform: &Platform, env: &Envelope) -> Result<(), X86Error> {
    let Some(t) = cput::decode_optional(env)? else {
        return Ok(());
    };
    let missing = CpuTemplate::missing(&t.guest, &guest_view(platform, &CpuTemplate::none()));
    if !missing.is_empty() {
        return Err(X86Error::TemplateUnsupported {
            template: t.template.name,
            missing,
        });
    }
    *platform.restored_template.lock().expect("template lock") = Some(t);
    Ok(())
}

/// Restores the VM-wide sections. A snapshot with a PIT gives the VM one (a restored VM starts
/// without); one without a PIT cannot be restored into a VM that has one.
pub fn restore_vm(vm: &KvmVm, platform: &Platform, env: &Envelope) -> Result<(), X86Error> {
    let s = snapshot::decode_vm(env)?;
    restore_template(platform, env)?;
    for (id, pic) in [KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE]
        .into_iter()
        .zip(&s.irqchip.pic)
    {
        let mut c = kvm_irqchip::default();
        c.chip.pic = pic_to_kvm(pic);
        set_chip(vm, c, id)?;
    }
    let mut c = kvm_irqchip::default();
    c.chip.ioapic = ioapic_to_kvm(&s.irqchip.ioapic);
    set_chip(vm, c, KVM_IRQCHIP_IOAPIC)?;
    match &s.pit {
        Some(pit) => {
            super::platform::create_pit(vm, platform)?;
            vm.fd()
                .set_pit2(&pit_to_kvm(pit))
                .map_err(kvm_err("KVM_SET_PIT2"))?;
        }
        None if platform.has_pit() => return Err(X86Error::PitMismatch),
        None => {}
    }
    let clock = kvm_clock_data {
        clock: s.clock.clock,
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
    Ok(snapshot::encode_vcpu(&VcpuExtra {
        cpuid: cpuid_from_kvm(&cpuid),
        tsc_khz: fd.get_tsc_khz().unwrap_or(0),
    }))
}

/// Restores [`save_vcpu`]'s bytes: CPUID first (before any register), then the TSC frequency if
/// it differs from this host's.
pub fn restore_vcpu(vcpu: &X86Vcpu, data: &[u8]) -> Result<(), X86Error> {
    let x = snapshot::decode_vcpu(data)?;
    let fd = vcpu.0.fd();
    fd.set_cpuid2(&cpuid_to_kvm(&x.cpuid)?)
        .map_err(kvm_err("KVM_SET_CPUID2"))?;
    if x.tsc_khz != 0 && fd.get_tsc_khz().ok() != Some(x.tsc_khz) {
        fd.set_tsc_khz(x.tsc_khz)
            .map_err(kvm_err("KVM_SET_TSC_KHZ"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmm_core::wire::Writer;

    fn raw<T>(v: &T) -> Vec<u8> {
        // SAFETY: T is a `#[repr(C)]` kvm-bindings struct of integers, arrays and unions of
        // integers, built from zeroed memory; the slice covers exactly `v`.
        unsafe {
            std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>())
        }
        .to_vec()
    }

    fn sample_kvm() -> ([kvm_irqchip; 3], kvm_pit_state2) {
        let mut chips = [kvm_irqchip::default(); 3];
        for (i, c) in chips.iter_mut().enumerate() {
            c.chip_id = i as u32;
        }
        let pic = |n: u8| kvm_pic_state {
            irr: n,
            imr: 0xfb,
            priority_add: 3,
            irq_base: 0x20 + 8 * n,
            init4: 1,
            elcr: 0x0c,
            elcr_mask: 0xf8,
            ..Default::default()
        };
        chips[0].chip.pic = pic(0);
        chips[1].chip.pic = pic(1);
        let mut io = ioapic_to_kvm(&IoapicState::default());
        io.base_address = 0xfec0_0000;
        io.ioregsel = 0x10;
        io.id = 2;
        io.irr = 1 << 23;
        for (i, e) in io.redirtbl.iter_mut().enumerate() {
            e.bits = 0x0100_0000_0001_0030 + i as u64;
        }
        chips[2].chip.ioapic = io;
        let mut pit = kvm_pit_state2::default();
        for (i, c) in pit.channels.iter_mut().enumerate() {
            c.count = 0x1_0000 - i as u32;
            c.latched_count = 0x1234;
            c.count_latched = 3;
            c.read_state = 4;
            c.write_state = 3;
            c.rw_mode = 3;
            c.mode = [2, 0xff, 3][i];
            c.gate = 1;
            c.count_load_time = -(i as i64) - 1;
        }
        pit.flags = 1;
        pit.reserved = [0x5a5a_5a5a; 9];
        (chips, pit)
    }

    /// tetra 1.0's writer (raw struct copies) against the codec's field-by-field v1 decoder: the
    /// offsets written in the codec are the kvm-bindings layout.
    #[test]
    fn v1_decoder_reads_the_kvm_bindings_layout() {
        let (chips, pit) = sample_kvm();
        let mut w = Writer::new();
        w.u32(3);
        for c in &chips {
            w.u32(c.chip_id);
            w.blob(&raw(c));
        }
        let irqc = Section::new(&snapshot::IRQC.tag, 1, w.into_bytes());
        let pit2 = Section::new(&snapshot::PIT2.tag, 1, raw(&pit));
        // SAFETY: the members the chip ids select were written above.
        let expected = unsafe {
            IrqchipState {
                pic: [
                    pic_from_kvm(&chips[0].chip.pic),
                    pic_from_kvm(&chips[1].chip.pic),
                ],
                ioapic: ioapic_from_kvm(&chips[2].chip.ioapic),
            }
        };
        assert_eq!(snapshot::decode_irqchip(&irqc).unwrap(), expected);
        assert_eq!(snapshot::decode_pit(&pit2).unwrap(), pit_from_kvm(&pit));
        assert_eq!(expected.ioapic.redirtbl[5], 0x0100_0000_0001_0035);
    }

    #[test]
    fn conversions_keep_every_field() {
        let (chips, pit) = sample_kvm();
        // SAFETY: the members the chip ids select were written above.
        unsafe {
            for c in &chips[..2] {
                assert_eq!(pic_to_kvm(&pic_from_kvm(&c.chip.pic)), c.chip.pic);
            }
            let io = ioapic_from_kvm(&chips[2].chip.ioapic);
            assert_eq!(ioapic_from_kvm(&ioapic_to_kvm(&io)), io);
            assert_eq!(raw(&ioapic_to_kvm(&io)), raw(&chips[2].chip.ioapic));
        }
        let back = pit_to_kvm(&pit_from_kvm(&pit));
        assert_eq!(back.channels, pit.channels);
        assert_eq!(back.flags, pit.flags);
    }
}
