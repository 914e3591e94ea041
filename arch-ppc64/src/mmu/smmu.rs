//! The hash MMU's page sizes as KVM reports them (`KVM_PPC_GET_SMMU_INFO`) and as the device
//! tree gives them to the guest: `ibm,segment-page-sizes` and `ibm,slb-size`, the cells QEMU's
//! spapr writes from the same call.
//!
//! ```text
//! ibm,segment-page-sizes: for each segment base page size:
//!     <base shift> <SLB encoding> <n>  then n x  <page shift> <PTE encoding>
//! ```

use kvm_ppc::ioctl::{ppc_ioc, Dir};
use std::mem::size_of;
use vmm_core::abi_struct;
use vmm_core::regs::abi::AbiFact;

/// `KVM_PPC_PAGE_SIZES_MAX_SZ`: entries of each page-size array.
pub const PAGE_SIZES_MAX: usize = 8;

/// `struct kvm_ppc_one_page_size`: an actual page size within a segment's base size.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmPpcOnePageSize {
    /// log2 of the page size; 0 ends the list.
    pub page_shift: u32,
    /// The HPTE's encoding of it.
    pub pte_enc: u32,
}

/// `struct kvm_ppc_one_seg_page_size`: a segment base page size.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmPpcOneSegPageSize {
    /// log2 of the base page size; 0 ends the list.
    pub page_shift: u32,
    /// The SLB's encoding of it (L and LP bits).
    pub slb_enc: u32,
    /// The page sizes a segment of this base size can map.
    pub enc: [KvmPpcOnePageSize; PAGE_SIZES_MAX],
}

/// `struct kvm_ppc_smmu_info` (`KVM_PPC_GET_SMMU_INFO`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmPpcSmmuInfo {
    /// `KVM_PPC_PAGE_SIZES_REAL` (sizes limited by the backing pages), `KVM_PPC_1T_SEGMENTS`,
    /// `KVM_PPC_NO_HASH`.
    pub flags: u64,
    /// SLB entries.
    pub slb_size: u32,
    /// Storage keys for data.
    pub data_keys: u16,
    /// Storage keys for instructions.
    pub instr_keys: u16,
    /// The segment base page sizes.
    pub sps: [KvmPpcOneSegPageSize; PAGE_SIZES_MAX],
}

/// `KVM_PPC_1T_SEGMENTS`: 1 TB segments are supported.
pub const KVM_PPC_1T_SEGMENTS: u64 = 0x2;
/// `KVM_CAP_PPC_GET_SMMU_INFO`.
pub const KVM_CAP_PPC_GET_SMMU_INFO: u32 = 78;
/// `KVM_PPC_GET_SMMU_INFO` `_IOR(KVMIO, 0xa6, struct kvm_ppc_smmu_info)`.
pub const KVM_PPC_GET_SMMU_INFO: u64 = ppc_ioc(Dir::Read, 0xa6, size_of::<KvmPpcSmmuInfo>());

/// The cells of `ibm,segment-page-sizes` for `info`: every segment base size with its page
/// sizes, in KVM's order (zero shifts end each list).
pub fn segment_page_sizes(info: &KvmPpcSmmuInfo) -> Vec<u32> {
    segment_page_sizes_within(info, None)
}

/// [`segment_page_sizes`] with only the sizes (log2) in `allowed`, when given: a guest processor
/// with fewer page sizes than the host (the 970: [`crate::cpu_model::page_shifts`]).
pub fn segment_page_sizes_within(info: &KvmPpcSmmuInfo, allowed: Option<&[u32]>) -> Vec<u32> {
    let ok = |shift: u32| allowed.is_none_or(|a| a.contains(&shift));
    let mut cells = Vec::new();
    for sps in info.sps.iter().take_while(|s| s.page_shift != 0) {
        let encs: Vec<_> = sps
            .enc
            .iter()
            .take_while(|e| e.page_shift != 0)
            .filter(|e| ok(e.page_shift))
            .collect();
        if !ok(sps.page_shift) || encs.is_empty() {
            continue;
        }
        cells.extend([sps.page_shift, sps.slb_enc, encs.len() as u32]);
        for e in encs {
            cells.extend([e.page_shift, e.pte_enc]);
        }
    }
    cells
}

/// What a hash-MMU guest's cpu nodes say about its MMU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HashCpuProps {
    /// `ibm,pft-size` = <0 order>: log2 of the hash table's size (Linux sizes its table by it).
    pub pft_order: u32,
    /// `ibm,slb-size` (omitted when 0: KVM did not report it).
    pub slb_size: u32,
    /// `ibm,segment-page-sizes` cells.
    pub segment_page_sizes: Vec<u32>,
}

impl HashCpuProps {
    /// The properties of a table of `2^pft_order` bytes and KVM's report (if any).
    pub fn new(pft_order: u32, info: Option<&KvmPpcSmmuInfo>) -> Self {
        Self::within(pft_order, info, None)
    }

    /// [`HashCpuProps::new`] for a guest processor with only the page sizes in `allowed`.
    pub fn within(pft_order: u32, info: Option<&KvmPpcSmmuInfo>, allowed: Option<&[u32]>) -> Self {
        Self {
            pft_order,
            slb_size: info.map_or(0, |i| i.slb_size),
            segment_page_sizes: info
                .map(|i| segment_page_sizes_within(i, allowed))
                .unwrap_or_default(),
        }
    }
}

/// The ABI facts of the SMMU report.
pub fn abi_facts() -> Vec<AbiFact> {
    let mut f = Vec::new();
    abi_struct!(f, KvmPpcSmmuInfo => "struct kvm_ppc_smmu_info" { flags, slb_size, data_keys, instr_keys, sps });
    abi_struct!(f, KvmPpcOneSegPageSize => "struct kvm_ppc_one_seg_page_size" { page_shift, slb_enc, enc });
    abi_struct!(f, KvmPpcOnePageSize => "struct kvm_ppc_one_page_size" { page_shift, pte_enc });
    for (name, value) in [
        ("KVM_PPC_1T_SEGMENTS", KVM_PPC_1T_SEGMENTS),
        (
            "KVM_CAP_PPC_GET_SMMU_INFO",
            u64::from(KVM_CAP_PPC_GET_SMMU_INFO),
        ),
        ("KVM_PPC_GET_SMMU_INFO", KVM_PPC_GET_SMMU_INFO),
    ] {
        f.push(AbiFact::new(
            name,
            value,
            format!("arch_ppc64::mmu::smmu::{name}"),
        ));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_structure_and_number_have_the_kernel_s_size() {
        assert_eq!(size_of::<KvmPpcSmmuInfo>(), 592);
        assert_eq!(KVM_PPC_GET_SMMU_INFO, 0x4250_aea6);
    }

    #[test]
    fn page_sizes_become_cells_as_qemu_writes_them() {
        let mut info = KvmPpcSmmuInfo {
            slb_size: 64,
            ..Default::default()
        };
        info.sps[0].page_shift = 12;
        info.sps[0].enc[0] = KvmPpcOnePageSize {
            page_shift: 12,
            pte_enc: 0,
        };
        info.sps[0].enc[1] = KvmPpcOnePageSize {
            page_shift: 24,
            pte_enc: 7,
        };
        info.sps[1].page_shift = 24;
        info.sps[1].slb_enc = 0x100;
        info.sps[1].enc[0] = KvmPpcOnePageSize {
            page_shift: 24,
            pte_enc: 0,
        };
        assert_eq!(
            segment_page_sizes(&info),
            vec![12, 0, 2, 12, 0, 24, 7, 24, 0x100, 1, 24, 0]
        );
        // A 970 guest on a host with 64 KiB pages too: those go, base size and actual size.
        let mut more = info;
        more.sps[2] = more.sps[1];
        more.sps[1].page_shift = 16;
        more.sps[1].enc[1] = KvmPpcOnePageSize {
            page_shift: 16,
            pte_enc: 1,
        };
        more.sps[0].enc[2] = KvmPpcOnePageSize {
            page_shift: 16,
            pte_enc: 1,
        };
        assert_eq!(
            segment_page_sizes_within(&more, Some(&[12, 24])),
            vec![12, 0, 2, 12, 0, 24, 7, 24, 0x100, 1, 24, 0]
        );
        assert_ne!(segment_page_sizes(&more), segment_page_sizes(&info));
        let p = HashCpuProps::new(18, Some(&info));
        assert_eq!((p.pft_order, p.slb_size), (18, 64));
        assert_eq!(
            HashCpuProps::new(19, None).segment_page_sizes,
            Vec::<u32>::new()
        );
        assert!(segment_page_sizes(&KvmPpcSmmuInfo::default()).is_empty());
    }
}
