//! The radix MMU under KVM-HV, with a process table in guest memory.
//!
//! On a radix host KVM-HV starts every VM in radix mode with no process table; a pseries guest
//! that turns translation on needs one. tetra allocates it in guest memory, aligned to its size
//! (see [`crate::layout`]), zeroes it, and registers it with `KVM_PPC_CONFIGURE_V3_MMU`: flags
//! `KVM_PPC_MMUV3_RADIX | KVM_PPC_MMUV3_GTSE`, and as `process_table` the second doubleword of
//! the partition-table entry, `PATB_GR | base | (log2(size) - 12)` ([`process_table_entry`]).
//! It is the table QEMU's spapr registers on the guest's behalf (`H_REGISTER_PROC_TBL`), here
//! set up before the first run; it is listed in the device tree's memory reservations so a guest
//! does not reuse it. `KVM_PPC_GET_RMMU_INFO` tells the radix page sizes the host supports, which
//! the device tree passes on as `ibm,processor-radix-AP-encodings`.
//!
//! The KVM structures, constants and ioctl numbers of this module are ABI facts, checked against
//! the powerpc uapi headers by the `abi-check` crate ([`abi_facts`]). Nested KVM-HV (a POWER9
//! host that is itself a pseries guest) supports only radix: `KVM_PPC_ALLOCATE_HTAB` fails there
//! with EOPNOTSUPP, so the hashed page table is not set up.

use kvm_ppc::ioctl::{ppc_ioc, Dir};
use std::mem::size_of;
use thiserror::Error;
use vmm_core::abi_struct;
use vmm_core::regs::abi::AbiFact;

/// `KVM_VM_PPC_HV`: the VM type for KVM-HV.
pub const KVM_VM_PPC_HV: u64 = 1;
/// `KVM_CAP_PPC_ENABLE_HCALL`: turn in-kernel handling of one hypercall on or off.
pub const KVM_CAP_PPC_ENABLE_HCALL: u32 = 104;
/// `KVM_PPC_MMUV3_RADIX`: the guest uses radix translation.
pub const KVM_PPC_MMUV3_RADIX: u64 = 1;
/// `KVM_PPC_MMUV3_GTSE`: guest translation shootdown (`tlbie` from the guest) is enabled.
pub const KVM_PPC_MMUV3_GTSE: u64 = 2;
/// Guest-radix bit of the partition-table entry's second doubleword.
pub const PATB_GR: u64 = 1 << 63;

/// `struct kvm_ppc_mmuv3_cfg` (`KVM_PPC_CONFIGURE_V3_MMU`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmPpcMmuv3Cfg {
    /// `KVM_PPC_MMUV3_*`.
    pub flags: u64,
    /// Second doubleword of the partition-table entry.
    pub process_table: u64,
}

/// `struct kvm_ppc_radix_geom`: one radix tree shape the host supports.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmPpcRadixGeom {
    /// Page size shift.
    pub page_shift: u8,
    /// Index bits per level.
    pub level_bits: [u8; 4],
    /// Padding.
    pub pad: [u8; 3],
}

/// `struct kvm_ppc_rmmu_info` (`KVM_PPC_GET_RMMU_INFO`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmPpcRmmuInfo {
    /// Tree shapes.
    pub geometries: [KvmPpcRadixGeom; 8],
    /// Page sizes as `(AP << 29) | shift`, zero-terminated.
    pub ap_encodings: [u32; 8],
}

/// `KVM_PPC_CONFIGURE_V3_MMU` `_IOW(KVMIO, 0xaf, struct kvm_ppc_mmuv3_cfg)`.
pub const KVM_PPC_CONFIGURE_V3_MMU: u64 = ppc_ioc(Dir::Write, 0xaf, size_of::<KvmPpcMmuv3Cfg>());
/// `KVM_PPC_GET_RMMU_INFO` `_IOW(KVMIO, 0xb0, struct kvm_ppc_rmmu_info)` (the kernel writes it
/// although the number says "write").
pub const KVM_PPC_GET_RMMU_INFO: u64 = ppc_ioc(Dir::Write, 0xb0, size_of::<KvmPpcRmmuInfo>());

/// A process table that cannot be encoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MmuError {
    /// Size not a power of two between 4 KiB and 64 GiB (PRTS 0..=24).
    #[error("process table size {0:#x} is not a power of two between 4 KiB and 64 GiB")]
    Size(u64),
    /// Base not aligned to the size.
    #[error("process table at {base:#x} is not aligned to its size {size:#x}")]
    Align {
        /// Base.
        base: u64,
        /// Size.
        size: u64,
    },
}

/// `PATB_GR | base | PRTS` for a radix process table of `size` bytes at `base`.
pub fn process_table_entry(base: u64, size: u64) -> Result<u64, MmuError> {
    if !size.is_power_of_two() || !(1 << 12..=1 << 36).contains(&size) {
        return Err(MmuError::Size(size));
    }
    if !base.is_multiple_of(size) || base & PATB_GR != 0 {
        return Err(MmuError::Align { base, size });
    }
    Ok(PATB_GR | base | (size.trailing_zeros() as u64 - 12))
}

/// The `KVM_PPC_CONFIGURE_V3_MMU` argument for a radix guest with the process table at `base`.
pub fn radix_config(base: u64, size: u64) -> Result<KvmPpcMmuv3Cfg, MmuError> {
    Ok(KvmPpcMmuv3Cfg {
        flags: KVM_PPC_MMUV3_RADIX | KVM_PPC_MMUV3_GTSE,
        process_table: process_table_entry(base, size)?,
    })
}

/// The `ibm,processor-radix-AP-encodings` cells: the encodings up to the first zero.
pub fn ap_encodings(info: &KvmPpcRmmuInfo) -> Vec<u32> {
    info.ap_encodings
        .iter()
        .take_while(|&&e| e != 0)
        .copied()
        .collect()
}

/// The ABI facts of the radix set-up.
pub fn abi_facts() -> Vec<AbiFact> {
    let mut f = Vec::new();
    abi_struct!(f, KvmPpcMmuv3Cfg => "struct kvm_ppc_mmuv3_cfg" { flags, process_table });
    abi_struct!(f, KvmPpcRmmuInfo => "struct kvm_ppc_rmmu_info" { geometries, ap_encodings });
    abi_struct!(f, KvmPpcRadixGeom => "struct kvm_ppc_rmmu_info" at "geometries[0]" { page_shift, level_bits, pad });
    for (name, value) in [
        ("KVM_VM_PPC_HV", KVM_VM_PPC_HV),
        ("KVM_CAP_PPC_ENABLE_HCALL", KVM_CAP_PPC_ENABLE_HCALL as u64),
        ("KVM_PPC_MMUV3_RADIX", KVM_PPC_MMUV3_RADIX),
        ("KVM_PPC_MMUV3_GTSE", KVM_PPC_MMUV3_GTSE),
        ("KVM_PPC_CONFIGURE_V3_MMU", KVM_PPC_CONFIGURE_V3_MMU),
        ("KVM_PPC_GET_RMMU_INFO", KVM_PPC_GET_RMMU_INFO),
    ] {
        f.push(AbiFact::new(
            name,
            value,
            format!("arch_ppc64::mmu::radix::{name}"),
        ));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_table_entry() {
        // 64 KiB table at 16 MiB - 64 KiB: PRTS = 4.
        let e = process_table_entry(0xff_0000, 64 << 10).unwrap();
        assert_eq!(e, (1 << 63) | 0xff_0000 | 4);
        assert_eq!(process_table_entry(0x1000, 0x1000).unwrap() & 0x1f, 0);
        assert_eq!(
            process_table_entry(0x1000, 0x3000),
            Err(MmuError::Size(0x3000))
        );
        assert_eq!(process_table_entry(0, 0x800), Err(MmuError::Size(0x800)));
        assert!(matches!(
            process_table_entry(0x8000, 0x10000),
            Err(MmuError::Align { .. })
        ));
        let cfg = radix_config(0x3fff_0000, 0x1_0000).unwrap();
        assert_eq!(cfg.flags, 3);
        assert_eq!(cfg.process_table >> 63, 1);
    }

    #[test]
    fn ioctl_numbers_and_encodings() {
        // _IOW on powerpc: direction 4 at bit 29; sizes 16 and 96.
        assert_eq!(KVM_PPC_CONFIGURE_V3_MMU, 0x8010_aeaf);
        assert_eq!(KVM_PPC_GET_RMMU_INFO, 0x8060_aeb0);
        let mut info = KvmPpcRmmuInfo::default();
        // What KVM-HV reports on POWER9: 4K, 64K, 2M, 1G.
        info.ap_encodings[..4].copy_from_slice(&[0xc, 0xa000_0010, 0x2000_0015, 0x4000_001e]);
        assert_eq!(
            ap_encodings(&info),
            vec![0xc, 0xa000_0010, 0x2000_0015, 0x4000_001e]
        );
        assert!(ap_encodings(&KvmPpcRmmuInfo::default()).is_empty());
        assert!(abi_facts()
            .iter()
            .any(|f| f.expr == "sizeof(struct kvm_ppc_rmmu_info)" && f.value == 96));
    }
}
