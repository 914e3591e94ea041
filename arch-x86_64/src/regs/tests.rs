use super::*;
use vmm_core::regs::{format, RegLoc};

#[test]
fn table_builds_and_names_resolve() {
    let t = table();
    assert_eq!(t.name(), "x86_64");
    let rax = t.by_name("rax").unwrap();
    assert_eq!(rax.id.raw(), 0x2030_8000_0000_0000);
    assert_eq!(
        rax.loc,
        RegLoc::Field {
            block: BLOCK_REGS,
            offset: 0,
            len: 8
        }
    );
    let rip = t.by_name("rip").unwrap();
    assert_eq!(
        rip.loc,
        RegLoc::Field {
            block: BLOCK_REGS,
            offset: 128,
            len: 8
        }
    );
    let cs = t.by_name("cs").unwrap();
    assert_eq!(cs.id.bytes(), 32);
    assert_eq!(t.by_name("idt").unwrap().id.bytes(), 16);
    assert_eq!(
        t.by_name("efer").unwrap().loc,
        RegLoc::Field {
            block: BLOCK_SREGS,
            offset: 264,
            len: 8
        }
    );
    assert_eq!(t.by_name("xsave").unwrap().id.bytes(), 4096);
    assert_eq!(t.by_name("lapic").unwrap().id.bytes(), 1024);
    assert_eq!(t.by_name("fpu").unwrap().id.bytes(), 512);
    assert_eq!(t.by_name("interrupt_shadow").unwrap().id.bytes(), 1);
    assert_eq!(
        t.by_name("interrupt_shadow").unwrap().loc,
        RegLoc::Field {
            block: BLOCK_EVENTS,
            offset: 11,
            len: 1
        }
    );
    for name in [
        "cr0",
        "cr2",
        "cr3",
        "cr4",
        "cr8",
        "apic_base",
        "dr0",
        "dr3",
        "dr6",
        "dr7",
        "xcr0",
        "nmi_pending",
        "exception_pending",
        "mp_state",
        "tsc",
        "lstar",
        "kernel_gs_base",
    ] {
        assert!(t.by_name(name).is_some(), "{name}");
    }
    // Every id is tetra's but the MSRs'; MSR ids are Linux 6.18's KVM_X86_REG_MSR.
    for r in t.iter() {
        assert_eq!(r.id.is_private(), r.id.set() != SET_MSR, "{}", r.name);
    }
    assert_eq!(
        t.by_name("efer_msr").unwrap().id.raw(),
        0x2030_0002_c000_0080
    );
}

#[test]
fn boot_msrs_are_in_the_table() {
    for (index, _) in crate::msrs::boot_msrs() {
        let r = table().get(msr_id(index)).unwrap();
        assert!(r.attrs.is_saved(), "{}", r.name);
    }
    assert!(table().contains(msr_id(crate::msrs::IA32_TSC)));
}

#[test]
fn numbers_count_within_each_set() {
    let t = table();
    assert_eq!(t.by_name("rax").unwrap().id.number(), 0);
    assert_eq!(t.by_name("r15").unwrap().id.number(), 15);
    assert_eq!(t.by_name("rip").unwrap().id.number(), 0);
    assert_eq!(t.by_name("rflags").unwrap().id.number(), 1);
    assert_eq!(t.by_name("cs").unwrap().id.number(), 0);
    assert_eq!(t.by_name("cr0").unwrap().id.number(), 0);
}

#[test]
fn save_set_excludes_aliases() {
    let t = table();
    let saved: Vec<&str> = t
        .saved_ids()
        .iter()
        .map(|&i| t.get(i).unwrap().name.as_ref())
        .collect();
    for alias in [
        "fpu",
        "efer_msr",
        "fs_base_msr",
        "gs_base_msr",
        "apic_base_msr",
    ] {
        assert!(!saved.contains(&alias), "{alias}");
    }
    for kept in [
        "rax",
        "cs",
        "efer",
        "xsave",
        "lapic",
        "interrupt_shadow",
        "events_flags",
        "tsc",
    ] {
        assert!(saved.contains(&kept), "{kept}");
    }
}

#[test]
fn whole_block_fields_without_a_member_cover_their_block() {
    for r in table().iter() {
        if let RegLoc::Field { block, offset, len } = r.loc {
            if r.uapi.is_empty() {
                let b = table().block(block).unwrap();
                assert_eq!((offset as usize, len as usize), (0, b.size()), "{}", r.name);
            }
        }
    }
}

#[test]
fn runtime_msrs() {
    let listed = [0x10, 0xc000_0080, 0x4b56_4d00, 0x10a, 0x1234];
    let t = table_with_msrs(&listed).unwrap();
    // Optional MSRs KVM does not list are dropped; the three unknown listed ones are added.
    let dropped = table()
        .iter()
        .filter(|r| r.id.set() == vmm_core::regs::id::X86_SET_MSR)
        .filter(|r| r.attrs.contains(RegAttrs::OPTIONAL) && !listed.contains(&r.id.number()))
        .count();
    assert!(dropped > 0);
    assert_eq!(t.len(), table().len() - dropped + 3);
    let wall = t.get(msr_id(0x4b56_4d00)).unwrap();
    assert_eq!(
        (wall.name.as_ref(), wall.attrs),
        ("kvm_wall_clock", RegAttrs::RO)
    );
    assert!(
        !t.saved_ids().contains(&wall.id),
        "an action MSR is never restored"
    );
    let unknown = t.by_name("msr_0x1234").unwrap();
    assert!(unknown.attrs.contains(RegAttrs::OPTIONAL));
    assert_eq!(unknown.id.number(), 0x1234);
    assert_eq!(t.by_name("arch_capabilities").unwrap().id, msr_id(0x10a));
    assert_eq!(msr_name(0x10), "tsc");
    // Hyper-V counters (listed by kernels with Hyper-V emulation) are saved but volatile.
    let t = table_with_msrs(&[0x4000_0020, 0x4000_0021]).unwrap();
    let time = t.by_name("hv_time_ref_count").unwrap();
    assert!(time.attrs.contains(RegAttrs::VOLATILE));
    assert!(t.saved_ids().contains(&time.id));
    let tsc_page = t.get(msr_id(0x4000_0021)).unwrap();
    assert!(!tsc_page.attrs.contains(RegAttrs::VOLATILE));
}

#[test]
fn printed_table_lists_every_register() {
    let text = format::table_text(table());
    assert_eq!(text.lines().count(), table().len() + 2);
    let rip = text.lines().find(|l| l.starts_with("rip ")).unwrap();
    assert!(
        rip.contains("0x2030800100000000") && rip.contains("KVM_GET_REGS+0x80"),
        "{rip}"
    );
    let tsc = text.lines().find(|l| l.starts_with("tsc ")).unwrap();
    assert!(tsc.contains("msr") && tsc.contains("KVM_GET_MSRS"), "{tsc}");
}

#[test]
fn abi_facts_cover_the_blocks() {
    let f = abi_facts();
    let has = |e: &str, v: u64| f.iter().any(|x| x.expr == e && x.value == v);
    assert!(has("sizeof(struct kvm_sregs)", 312));
    assert!(has("offsetof(struct kvm_sregs, apic_base)", 272));
    assert!(has(
        "offsetof(struct kvm_vcpu_events, interrupt.shadow)",
        11
    ));
    assert!(has("offsetof(struct kvm_xcrs, xcrs[0].value)", 16));
    assert!(has("offsetof(struct kvm_segment, selector)", 12));
}

/// The lead's backend moves kvm-bindings structs into these blocks byte for byte: their sizes
/// must agree, and the MSR ids must be kvm-bindings' (Linux 6.18) ONE_REG ids.
#[cfg(target_arch = "x86_64")]
#[test]
fn blocks_match_kvm_bindings() {
    use std::mem::size_of;
    let size = |b: u8| table().block(b).unwrap().size();
    assert_eq!(size(BLOCK_REGS), size_of::<kvm_bindings::kvm_regs>());
    assert_eq!(size(BLOCK_SREGS), size_of::<kvm_bindings::kvm_sregs>());
    assert_eq!(size(BLOCK_XCRS), size_of::<kvm_bindings::kvm_xcrs>());
    assert_eq!(size(BLOCK_XSAVE), size_of::<kvm_bindings::kvm_xsave>());
    assert_eq!(size(BLOCK_FPU), size_of::<kvm_bindings::kvm_fpu>());
    assert_eq!(
        size(BLOCK_MP_STATE),
        size_of::<kvm_bindings::kvm_mp_state>()
    );
    assert_eq!(
        size(BLOCK_LAPIC),
        size_of::<kvm_bindings::kvm_lapic_state>()
    );
    assert_eq!(
        size(BLOCK_EVENTS),
        size_of::<kvm_bindings::kvm_vcpu_events>()
    );
    assert_eq!(
        size(BLOCK_DEBUGREGS),
        size_of::<kvm_bindings::kvm_debugregs>()
    );
    for &(index, name, _) in CURATED_MSRS {
        assert_eq!(
            msr_id(index).raw(),
            kvm_bindings::kvm_x86_reg_msr(index),
            "{name}"
        );
    }
}

#[test]
fn vm_table_keeps_only_the_optional_msrs_kvm_lists() {
    let xss = super::msr_id(0xda0);
    let star = super::msr_id(0xc000_0081);
    let t = super::table_with_msrs(&[0x10, 0xc000_0081, 0x4b56_4d00]).unwrap();
    assert!(t.get(xss).is_none(), "xss is optional and not listed");
    assert!(t.get(star).is_some(), "architectural MSRs stay");
    let wall = t.get(super::msr_id(0x4b56_4d00)).unwrap();
    assert!(
        !wall.attrs.contains(vmm_core::regs::RegAttrs::WRITE),
        "action MSRs are read-only"
    );
    let listed = super::table_with_msrs(&[0xda0]).unwrap();
    assert!(listed.get(xss).is_some());
}
