//! The BookE-only parts of the KVM ABI, as plain `#[repr(C)]` structs and constants, and
//! [`abi_facts`], which hands every one of them (and the BookE register table) to the ABI checker.
//!
//! Every item keeps its C name from Linux's powerpc uapi headers (`asm/kvm.h`, `linux/kvm.h`), so
//! the cross-gcc check (`cargo test -p abi-check`) compares them item by item. What BookE shares
//! with Book3S is *not* here: `struct kvm_sregs` (both halves of its union), `kvm_regs`, the
//! `KVM_REG_PPC_*` ids, the capabilities (`KVM_CAP_SW_TLB`, `KVM_CAP_PPC_EPR`, `KVM_CAP_IRQ_MPIC`),
//! the `KVM_SREGS_E_*` bits and `KVM_DEV_TYPE_FSL_MPIC_20/42` are in the `kvm_ppc` crate.
//! Architecture bit layouts (MAS fields, TLBnCFG, OpenPIC registers) are in the modules that use
//! them.
//!
//! Structs shared with KVM are in **host byte order** (big-endian on the e500mc family). Code
//! that serializes them uses explicit little-endian codecs instead (see `mmu::array`).

#![allow(non_camel_case_types)]

use kvm_ppc::ioctl::{ppc_ioc, Dir};
use std::mem::size_of;
use vmm_core::abi_struct;
use vmm_core::regs::abi::AbiFact;

// ---------------------------------------------------------------------------------------------
// linux/kvm.h: KVM_CAP_SW_TLB
// ---------------------------------------------------------------------------------------------

/// `KVM_MMU_FSL_BOOKE_NOHV`: the e500v2-class MMU (no hardware virtualization).
pub const KVM_MMU_FSL_BOOKE_NOHV: u32 = 0;
/// `KVM_MMU_FSL_BOOKE_HV`: the e500mc-class MMU (category E.HV).
pub const KVM_MMU_FSL_BOOKE_HV: u32 = 1;

/// `struct kvm_config_tlb`: the argument of `KVM_ENABLE_CAP(KVM_CAP_SW_TLB)` (passed in
/// `args[0]` by address).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct kvm_config_tlb {
    /// Userspace address of a [`kvm_book3e_206_tlb_params`].
    pub params: u64,
    /// Userspace address of the shared array of [`kvm_book3e_206_tlb_entry`].
    pub array: u64,
    /// `KVM_MMU_FSL_BOOKE_NOHV` or `KVM_MMU_FSL_BOOKE_HV`.
    pub mmu_type: u32,
    /// Length of the array in bytes.
    pub array_len: u32,
}

/// `struct kvm_dirty_tlb`: the argument of `KVM_DIRTY_TLB`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct kvm_dirty_tlb {
    /// Userspace address of the dirty bitmap (little-endian bit order, rounded up to 64 bits).
    pub bitmap: u64,
    /// The number of set bits in the bitmap (a hint: KVM may just flush everything).
    pub num_dirty: u32,
}

/// `KVM_DIRTY_TLB` `_IOW(KVMIO, 0xaa, struct kvm_dirty_tlb)`: a vCPU ioctl telling KVM which
/// entries of the shared array userspace changed (powerpc ioctl-number layout).
pub const KVM_DIRTY_TLB: u64 = ppc_ioc(Dir::Write, 0xaa, size_of::<kvm_dirty_tlb>());

// ---------------------------------------------------------------------------------------------
// asm/kvm.h: the shared TLB array
// ---------------------------------------------------------------------------------------------

/// `struct kvm_book3e_206_tlb_entry`: one entry of the shared TLB array (24 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct kvm_book3e_206_tlb_entry {
    /// MAS8 (hypervisor fields: TGS, VF, TLPID).
    pub mas8: u32,
    /// MAS1: V, IPROT, TID, TS, TSIZE.
    pub mas1: u32,
    /// MAS2: EPN and the WIMGE/X0/X1 attributes.
    pub mas2: u64,
    /// MAS7 (upper RPN) in bits 63..32, MAS3 (lower RPN, U0-U3, permissions) in bits 31..0.
    pub mas7_3: u64,
}

/// `struct kvm_book3e_206_tlb_params`: the TLB geometry given to `KVM_CONFIG_TLB`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct kvm_book3e_206_tlb_params {
    /// Number of entries of TLB0..TLB3.
    pub tlb_sizes: [u32; 4],
    /// Associativity of TLB0..TLB3 (`tlb_ways[n] == tlb_sizes[n]`: fully associative).
    pub tlb_ways: [u32; 4],
    /// Reserved, zero.
    pub reserved: [u32; 8],
}

// ---------------------------------------------------------------------------------------------
// asm/kvm.h: the FSL MPIC device's attribute groups
// ---------------------------------------------------------------------------------------------

/// `KVM_DEV_MPIC_GRP_MISC`: miscellaneous attributes.
pub const KVM_DEV_MPIC_GRP_MISC: u32 = 1;
/// `KVM_DEV_MPIC_BASE_ADDR` (in `KVM_DEV_MPIC_GRP_MISC`, 64-bit): the guest physical base
/// address of the MPIC register window (0: not mapped).
pub const KVM_DEV_MPIC_BASE_ADDR: u64 = 0;
/// `KVM_DEV_MPIC_GRP_REGISTER` (32-bit): a register, by offset from the MPIC base.
pub const KVM_DEV_MPIC_GRP_REGISTER: u32 = 2;
/// `KVM_DEV_MPIC_GRP_IRQ_ACTIVE` (32-bit): the input line of an interrupt source, by source
/// number.
pub const KVM_DEV_MPIC_GRP_IRQ_ACTIVE: u32 = 3;

// Checked at compile time on every target, so the powerpc64 cross build proves them there too;
// the ABI check compares every field with the headers.
const _: () = {
    assert!(size_of::<kvm_book3e_206_tlb_entry>() == 24);
    assert!(size_of::<kvm_book3e_206_tlb_params>() == 64);
    assert!(size_of::<kvm_config_tlb>() == 24);
    assert!(size_of::<kvm_dirty_tlb>() == 16);
};

/// Every ABI fact of this crate, for the powerpc targets: the structs and constants above, the
/// `KVM_DIRTY_TLB` number, and the BookE register table (the `u.e` fields of `struct kvm_sregs`
/// it reads and writes by offset, `struct kvm_regs`, and its ONE_REG ids).
pub fn abi_facts() -> Vec<AbiFact> {
    let mut f = Vec::new();
    abi_struct!(f, kvm_config_tlb => "struct kvm_config_tlb" { params, array, mmu_type, array_len });
    abi_struct!(f, kvm_dirty_tlb => "struct kvm_dirty_tlb" { bitmap, num_dirty });
    abi_struct!(f, kvm_book3e_206_tlb_entry => "struct kvm_book3e_206_tlb_entry" { mas8, mas1, mas2, mas7_3 });
    abi_struct!(f, kvm_book3e_206_tlb_params => "struct kvm_book3e_206_tlb_params" { tlb_sizes, tlb_ways, reserved });
    for (name, value) in [
        ("KVM_MMU_FSL_BOOKE_NOHV", KVM_MMU_FSL_BOOKE_NOHV.into()),
        ("KVM_MMU_FSL_BOOKE_HV", KVM_MMU_FSL_BOOKE_HV.into()),
        ("KVM_DIRTY_TLB", KVM_DIRTY_TLB),
        ("KVM_DEV_MPIC_GRP_MISC", KVM_DEV_MPIC_GRP_MISC.into()),
        ("KVM_DEV_MPIC_BASE_ADDR", KVM_DEV_MPIC_BASE_ADDR),
        (
            "KVM_DEV_MPIC_GRP_REGISTER",
            KVM_DEV_MPIC_GRP_REGISTER.into(),
        ),
        (
            "KVM_DEV_MPIC_GRP_IRQ_ACTIVE",
            KVM_DEV_MPIC_GRP_IRQ_ACTIVE.into(),
        ),
    ] {
        f.push(AbiFact::new(
            name,
            value,
            format!("arch_booke::abi::{name}"),
        ));
    }
    f.extend(crate::regs::abi_facts());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirty_tlb_number_has_the_powerpc_layout() {
        // _IOW on powerpc: write (4) << 29, 16-byte argument << 16, KVMIO 0xae, nr 0xaa.
        assert_eq!(KVM_DIRTY_TLB, 0x8010_aeaa);
    }

    #[test]
    fn facts_cover_every_booke_item() {
        let f = abi_facts();
        let has = |expr: &str| f.iter().any(|x| x.expr == expr);
        for expr in [
            "sizeof(struct kvm_config_tlb)",
            "offsetof(struct kvm_config_tlb, array_len)",
            "offsetof(struct kvm_dirty_tlb, num_dirty)",
            "offsetof(struct kvm_book3e_206_tlb_entry, mas7_3)",
            "sizeof(((struct kvm_book3e_206_tlb_params *)0)->reserved)",
            "KVM_DIRTY_TLB",
            "KVM_DEV_MPIC_GRP_IRQ_ACTIVE",
            "offsetof(struct kvm_sregs, u.e.mas0)",
            "KVM_REG_PPC_MAS7_3",
        ] {
            assert!(has(expr), "{expr}");
        }
        let value = |expr: &str| f.iter().find(|x| x.expr == expr).map(|x| x.value);
        assert_eq!(value("sizeof(struct kvm_book3e_206_tlb_entry)"), Some(24));
        assert_eq!(value("offsetof(struct kvm_sregs, u.e.mas0)"), Some(456));
    }
}
