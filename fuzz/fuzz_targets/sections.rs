//! The section decoders: vmm-core's `CONF`, `MEMS` and `VCPU`, the x86 codec (`IRQC`, `PIT2`,
//! `CLCK`, a vCPU's extra bytes), the BookE codec (a vCPU's TLB, `MPIC`), the arm64 codec
//! (`GICD`, `GICR`, `ICCR`, `ITSR`, a vCPU's extra bytes) and the ppc64 codec (`PSER`, `XICS`).
//!
//! Input: a selector byte, the section version (u16), then the payload. Whatever decodes must
//! encode and decode to the same value.
#![no_main]

use arch_arm64::snapshot as a64;
use arch_booke::snapshot as booke;
use arch_ppc64::snapshot as ppc;
use arch_x86_64::snapshot as x86;
use libfuzzer_sys::fuzz_target;
use tetra_fuzz::Cursor;
use vmm_core::snapshot::sections::{self, TAG_CONF, TAG_MEMS, TAG_VCPU};
use vmm_core::snapshot::Section;

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let which = c.u8();
    let version = c.u16();
    let payload = c.rest();
    let section = |tag: &[u8; 4]| Section::new(tag, version, payload.to_vec());
    match which % 16 {
        0 => {
            if let Ok(conf) = sections::read_conf(&section(&TAG_CONF)) {
                let back = sections::read_conf(&sections::conf_section(&conf)).expect("CONF");
                assert_eq!(
                    (
                        back.cpus,
                        back.mem_mib,
                        &back.cmdline,
                        &back.irqchip,
                        &back.virtio
                    ),
                    (
                        conf.cpus,
                        conf.mem_mib,
                        &conf.cmdline,
                        &conf.irqchip,
                        &conf.virtio
                    )
                );
            }
        }
        1 => {
            if let Ok(m) = sections::read_mems(&section(&TAG_MEMS)) {
                assert_eq!(
                    sections::read_mems(&sections::mems_section(&m)).expect("MEMS"),
                    m
                );
            }
        }
        2 => {
            if let Ok(v) = sections::read_vcpu(&section(&TAG_VCPU)) {
                let s = sections::vcpu_section(v.id, &v.regs, &v.extra);
                let back = sections::read_vcpu(&s).expect("VCPU");
                assert_eq!(
                    (back.id, &back.regs, &back.extra),
                    (v.id, &v.regs, &v.extra)
                );
            }
        }
        3 => {
            if let Ok(x) = x86::decode_irqchip(&section(&x86::IRQC.tag)) {
                assert_eq!(
                    x86::decode_irqchip(&x86::irqchip_section(&x)).expect("IRQC"),
                    x
                );
            }
        }
        4 => {
            if let Ok(x) = x86::decode_pit(&section(&x86::PIT2.tag)) {
                assert_eq!(x86::decode_pit(&x86::pit_section(&x)).expect("PIT2"), x);
            }
        }
        5 => {
            if let Ok(x) = x86::decode_clock(&section(&x86::CLCK.tag)) {
                assert_eq!(x86::decode_clock(&x86::clock_section(&x)).expect("CLCK"), x);
            }
        }
        6 => {
            if let Ok(x) = x86::decode_vcpu(payload) {
                assert_eq!(
                    x86::decode_vcpu(&x86::encode_vcpu(&x)).expect("vCPU extra"),
                    x
                );
            }
        }
        7 => {
            if let Ok((mmu, tlb)) = booke::decode_tlb(payload) {
                let back = booke::decode_tlb(&booke::encode_tlb(mmu, &tlb)).expect("TLB");
                assert_eq!(back, (mmu, tlb));
            }
        }
        9 => {
            if let Ok(x) = a64::decode_dist(&section(&a64::GICD.tag)) {
                assert_eq!(a64::decode_dist(&a64::dist_section(&x)).expect("GICD"), x);
            }
        }
        10 => {
            if let Ok(x) = a64::decode_redists(&section(&a64::GICR.tag)) {
                assert_eq!(
                    a64::decode_redists(&a64::redist_section(&x)).expect("GICR"),
                    x
                );
            }
        }
        11 => {
            if let Ok(x) = a64::decode_iccs(&section(&a64::ICCR.tag)) {
                assert_eq!(a64::decode_iccs(&a64::icc_section(&x)).expect("ICCR"), x);
            }
        }
        12 => {
            if let Ok(x) = a64::decode_its(&section(&a64::ITSR.tag)) {
                assert_eq!(a64::decode_its(&a64::its_section(&x)).expect("ITSR"), x);
            }
        }
        13 => {
            if let Ok(x) = a64::decode_vcpu(payload) {
                assert_eq!(
                    a64::decode_vcpu(&a64::encode_vcpu(&x)).expect("arm64 vCPU extra"),
                    x
                );
            }
        }
        14 => {
            if let Ok(x) = ppc::decode_machine(&section(&ppc::PSER.tag)) {
                assert_eq!(
                    ppc::decode_machine(&ppc::machine_section(&x)).expect("PSER"),
                    x
                );
            }
        }
        15 => {
            if let Ok(x) = ppc::decode_xics(&section(&ppc::XICS.tag)) {
                assert_eq!(
                    ppc::decode_xics(&ppc::xics_section(x.as_ref())).expect("XICS"),
                    x
                );
            }
        }
        _ => {
            if let Ok(m) = booke::decode_mpic(&section(&booke::MPIC.tag)) {
                assert_eq!(
                    booke::decode_mpic(&booke::mpic_section(&m)).expect("MPIC"),
                    m
                );
            }
        }
    }
});
