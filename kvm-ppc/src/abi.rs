//! The ABI facts of this crate: every struct, constant, ioctl number and ONE_REG id it defines,
//! checked against the powerpc uapi headers by the `abi-check` crate.

use crate::ioctl::POWERPC;
use crate::one_reg;
use crate::run::{
    KvmRunFailEntry, KvmRunHeader, KvmRunInternal, KvmRunIo, KvmRunMmio, KvmRunSystemEvent,
    EXIT_OFFSET, KVM_RUN_SIZE, VALID_REGS_OFFSET,
};
use crate::sregs::*;
use crate::structs::*;
use vmm_core::abi_struct;
use vmm_core::hypervisor::{DcrExit, PaprHcall};
use vmm_core::regs::abi::AbiFact;

/// Every fact of this crate, for powerpc64 and powerpc64le.
pub fn abi_facts() -> Vec<AbiFact> {
    let mut f = Vec::new();
    abi_struct!(f, KvmRegs => "struct kvm_regs" { pc, cr, ctr, lr, xer, msr, srr0, srr1, pid, sprg0, sprg3, sprg4, sprg7, gpr });
    abi_struct!(f, KvmSregs => "struct kvm_sregs" { pvr, u });
    abi_struct!(f, KvmSregsS => "struct kvm_sregs" at "u.s" { sdr1, ppc64, ppc64.slb => "ppc64.slb", ppc32, ppc32.sr => "ppc32.sr", ppc32.ibat => "ppc32.ibat", ppc32.dbat => "ppc32.dbat" });
    abi_struct!(f, KvmSlbEntry => "struct kvm_sregs" at "u.s.ppc64.slb[0]" { slbe, slbv });
    abi_struct!(f, KvmSregsE => "struct kvm_sregs" at "u.e" {
        impl_ => "impl", features, impl_id, update_special, pir, sprg8, sprg9, csrr0, dsrr0, mcsrr0,
        csrr1, dsrr1, mcsrr1, esr, dear, ivpr, mcivpr, mcsr, tsr, tcr, decar, dec, tb, dbsr, dbcr,
        iac, dac, dvc, num_iac, num_dac, num_dvc, pad, epr, vrsave, epcr, mas0, mas1, mas2, mas7_3,
        mas4, mas6, ivor_low, ivor_high, mmucfg, eptcfg, tlbcfg, tlbps, eplc, epsc,
    });
    abi_struct!(f, KvmSregsEFsl => "struct kvm_sregs" at "u.e.impl.fsl" { features, svr, mcar, hid0, pid1, pid2 });
    f.push(AbiFact::new(
        "sizeof(((struct kvm_sregs *)0)->u)",
        std::mem::size_of::<KvmSregsU>() as u64,
        "kvm_ppc::KvmSregsU",
    ));
    f.push(AbiFact::new(
        "sizeof(((struct kvm_sregs *)0)->u.pad)",
        1020,
        "kvm_ppc::KvmSregsU::pad",
    ));
    f.push(AbiFact::new(
        "sizeof(((struct kvm_sregs *)0)->u.e.impl)",
        std::mem::size_of::<KvmSregsEImpl>() as u64,
        "kvm_ppc::KvmSregsEImpl",
    ));
    abi_struct!(f, KvmFpu => "struct kvm_fpu" { fpr });
    for field in sregs_e_fields() {
        f.push(AbiFact::new(
            format!("offsetof(struct kvm_sregs, {})", field.member),
            field.offset as u64,
            format!("kvm_ppc::sregs_e_fields {}", field.name),
        ));
        f.push(AbiFact::new(
            format!("sizeof(((struct kvm_sregs *)0)->{})", field.member),
            field.len as u64,
            format!("kvm_ppc::sregs_e_fields {} length", field.name),
        ));
    }
    f.push(AbiFact::new(
        "offsetof(struct kvm_sregs, u.e.features)",
        E_FEATURES as u64,
        "kvm_ppc::E_FEATURES",
    ));
    f.push(AbiFact::new(
        "offsetof(struct kvm_sregs, u.e.impl_id)",
        E_IMPL_ID as u64,
        "kvm_ppc::E_IMPL_ID",
    ));
    f.push(AbiFact::new(
        "offsetof(struct kvm_sregs, u.e.update_special)",
        E_UPDATE_SPECIAL as u64,
        "kvm_ppc::E_UPDATE_SPECIAL",
    ));
    f.push(AbiFact::new(
        "offsetof(struct kvm_sregs, u.e.impl.fsl.features)",
        E_FSL_FEATURES as u64,
        "kvm_ppc::E_FSL_FEATURES",
    ));

    abi_struct!(f, KvmUserspaceMemoryRegion => "struct kvm_userspace_memory_region" { slot, flags, guest_phys_addr, memory_size, userspace_addr });
    abi_struct!(f, KvmOneReg => "struct kvm_one_reg" { id, addr });
    abi_struct!(f, KvmEnableCap => "struct kvm_enable_cap" { cap, flags, args, pad });
    abi_struct!(f, KvmCreateDevice => "struct kvm_create_device" { type_ => "type", fd, flags });
    abi_struct!(f, KvmDeviceAttr => "struct kvm_device_attr" { flags, group, attr, addr });
    abi_struct!(f, KvmIrqLevel => "struct kvm_irq_level" { irq, level });
    abi_struct!(f, KvmIrqfd => "struct kvm_irqfd" { fd, gsi, flags, resamplefd, pad });
    abi_struct!(f, KvmIrqRouting => "struct kvm_irq_routing" { nr, flags });
    f.push(AbiFact::new(
        "offsetof(struct kvm_irq_routing, entries)",
        std::mem::size_of::<KvmIrqRouting>() as u64,
        "kvm_ppc::irq_routing_bytes (entries after the header)",
    ));
    abi_struct!(f, KvmIrqRoutingEntry => "struct kvm_irq_routing_entry" { gsi, type_ => "type", flags, pad, irqchip => "u.irqchip", irqchip.irqchip => "u.irqchip.irqchip", irqchip.pin => "u.irqchip.pin" });
    f.push(AbiFact::new(
        "KVM_IRQ_ROUTING_IRQCHIP",
        KVM_IRQ_ROUTING_IRQCHIP.into(),
        "kvm_ppc::structs::KVM_IRQ_ROUTING_IRQCHIP",
    ));
    abi_struct!(f, KvmIoeventfd => "struct kvm_ioeventfd" { datamatch, addr, len, fd, flags, pad });
    abi_struct!(f, KvmDirtyLog => "struct kvm_dirty_log" { slot, padding1, dirty_bitmap });
    abi_struct!(f, KvmInterrupt => "struct kvm_interrupt" { irq });
    abi_struct!(f, KvmPpcPvinfo => "struct kvm_ppc_pvinfo" { flags, hcall, pad });

    // kvm_run: the header, and each exit struct at the union's offset.
    // The header is not a C member of its own: check its fields.
    for (m, off) in [
        (
            "request_interrupt_window",
            std::mem::offset_of!(KvmRunHeader, request_interrupt_window),
        ),
        (
            "immediate_exit",
            std::mem::offset_of!(KvmRunHeader, immediate_exit),
        ),
        (
            "exit_reason",
            std::mem::offset_of!(KvmRunHeader, exit_reason),
        ),
        ("flags", std::mem::offset_of!(KvmRunHeader, flags)),
        ("cr8", std::mem::offset_of!(KvmRunHeader, cr8)),
        ("apic_base", std::mem::offset_of!(KvmRunHeader, apic_base)),
        ("hw", EXIT_OFFSET),
        ("kvm_valid_regs", VALID_REGS_OFFSET),
    ] {
        f.push(AbiFact::new(
            format!("offsetof(struct kvm_run, {m})"),
            off as u64,
            format!("kvm_ppc::run kvm_run.{m}"),
        ));
    }
    f.push(AbiFact::new(
        "sizeof(struct kvm_run)",
        KVM_RUN_SIZE as u64,
        "kvm_ppc::run::KVM_RUN_SIZE",
    ));
    macro_rules! exit {
        ($t:ty, $m:literal { $($field:ident $(=> $c:literal)?),* }) => {
            f.push(AbiFact::new(concat!("offsetof(struct kvm_run, ", $m, ")"), EXIT_OFFSET as u64, concat!("exit union: ", stringify!($t))));
            abi_struct!(f, $t => "struct kvm_run" at $m { $($field $(=> $c)?),* });
        };
    }
    exit!(KvmRunIo, "io" { direction, size, port, count, data_offset });
    exit!(KvmRunMmio, "mmio" { phys_addr, data, len, is_write });
    exit!(KvmRunSystemEvent, "system_event" { type_ => "type", ndata, data });
    exit!(KvmRunInternal, "internal" { suberror, ndata, data });
    exit!(KvmRunFailEntry, "fail_entry" { hardware_entry_failure_reason, cpu });
    exit!(PaprHcall, "papr_hcall" { nr, ret, args });
    exit!(DcrExit, "dcr" { dcrn, data, is_write });
    f.push(AbiFact::new(
        "offsetof(struct kvm_run, epr.epr)",
        EXIT_OFFSET as u64,
        "VcpuExit::Epr",
    ));
    f.push(AbiFact::new(
        "sizeof(((struct kvm_run *)0)->osi.gprs)",
        256,
        "VcpuExit::Osi ([u64; 32])",
    ));
    f.push(AbiFact::new(
        "offsetof(struct kvm_run, osi.gprs)",
        EXIT_OFFSET as u64,
        "VcpuExit::Osi",
    ));

    for (name, value) in POWERPC.named() {
        f.push(AbiFact::new(
            name,
            value,
            format!("kvm_ppc::ioctl::POWERPC {name}"),
        ));
    }
    f.extend(crate::consts::const_facts());
    for (name, id) in one_reg::NAMED {
        f.push(AbiFact::new(
            format!("KVM_REG_PPC_{name}"),
            id.raw(),
            format!("kvm_ppc::one_reg::{name}"),
        ));
    }
    for n in [0u32, 1, 31] {
        f.push(AbiFact::new(
            format!("KVM_REG_PPC_FPR({n})"),
            one_reg::fpr(n).raw(),
            format!("kvm_ppc::one_reg::fpr({n})"),
        ));
        f.push(AbiFact::new(
            format!("KVM_REG_PPC_VR({n})"),
            one_reg::vr(n).raw(),
            format!("kvm_ppc::one_reg::vr({n})"),
        ));
        f.push(AbiFact::new(
            format!("KVM_REG_PPC_VSR({n})"),
            one_reg::vsr(n).raw(),
            format!("kvm_ppc::one_reg::vsr({n})"),
        ));
        f.push(AbiFact::new(
            format!("KVM_REG_PPC_TM_GPR({n})"),
            one_reg::tm_gpr(n).raw(),
            format!("kvm_ppc::one_reg::tm_gpr({n})"),
        ));
    }
    for n in [0u32, 32, 63] {
        f.push(AbiFact::new(
            format!("KVM_REG_PPC_TM_VSR({n})"),
            one_reg::tm_vsr(n).raw(),
            format!("kvm_ppc::one_reg::tm_vsr({n})"),
        ));
    }
    f.push(AbiFact::new(
        "KVM_REG_PPC_FPR31",
        one_reg::fpr(31).raw(),
        "kvm_ppc::one_reg::fpr(31)",
    ));
    f.push(AbiFact::new(
        "KVM_REG_PPC_VSR31",
        one_reg::vsr(31).raw(),
        "kvm_ppc::one_reg::vsr(31)",
    ));
    f.push(AbiFact::new(
        "KVM_REG_PPC_TM_VSR63",
        one_reg::tm_vsr(63).raw(),
        "kvm_ppc::one_reg::tm_vsr(63)",
    ));
    f
}
