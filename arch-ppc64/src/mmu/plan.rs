//! Which KVM a pseries VM runs on and which guest MMU it gets, decided in plain Rust from what
//! the host offers; the KVM glue applies it.
//!
//! - **KVM-HV** (`KVM_CREATE_VM(KVM_VM_PPC_HV)`): on a radix host (`KVM_CAP_PPC_MMU_RADIX`) the
//!   radix MMU with a process table; nested KVM-HV offers nothing else.
//! - **KVM-PR** (`KVM_VM_PPC_PR`, tried when the host refuses KVM-HV): the hashed page table.
//!   KVM-PR has no `KVM_PPC_ALLOCATE_HTAB` (`ENOTTY`): the table lives in the VMM's own memory,
//!   aligned to its size, and each vCPU's SDR1 (`KVM_SET_SREGS`) holds its *userspace* address
//!   (`book3s_pr_papr.c` `get_pteg_addr` reads the PTEGs there with `copy_from_user`), as QEMU's
//!   spapr does for a PR guest.
//! - A hash host with `KVM_PPC_ALLOCATE_HTAB` (KVM-HV on POWER8) gets the kernel's table.
//!
//! The table is 1/128 of the RAM rounded up to a power of two, at least 256 KiB: QEMU's
//! `spapr_hpt_shift_for_ramsize`.

use super::hash::{HashError, HtabGeometry, MAX_ORDER, MIN_ORDER};

/// `KVM_VM_PPC_HV`: the `KVM_CREATE_VM` type for KVM-HV.
pub const VM_TYPE_HV: u64 = 1;
/// `KVM_VM_PPC_PR`: the `KVM_CREATE_VM` type for KVM-PR.
pub const VM_TYPE_PR: u64 = 2;

/// The KVM implementation a VM runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvmFlavour {
    /// KVM-HV: the guest runs in hypervisor-privileged partitions.
    Hv,
    /// KVM-PR: the guest runs in problem state, its privileged work emulated.
    Pr,
}

impl KvmFlavour {
    /// The order tetra tries them in: KVM-HV first (faster, radix), then KVM-PR.
    pub const ORDER: [KvmFlavour; 2] = [KvmFlavour::Hv, KvmFlavour::Pr];

    /// Its `KVM_CREATE_VM` type.
    pub fn vm_type(self) -> u64 {
        match self {
            KvmFlavour::Hv => VM_TYPE_HV,
            KvmFlavour::Pr => VM_TYPE_PR,
        }
    }

    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            KvmFlavour::Hv => "KVM-HV",
            KvmFlavour::Pr => "KVM-PR",
        }
    }

    /// Whether a refusal of this flavour with `errno` lets tetra try the next one: `EINVAL`
    /// is what `kvm_arch_init_vm` returns for a flavour the host has no module for.
    pub fn try_next_after(self, errno: Option<i32>) -> bool {
        errno == Some(libc::EINVAL)
    }
}

/// Where the hashed page table lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HtabHome {
    /// The kernel's (`KVM_PPC_ALLOCATE_HTAB`).
    Kernel,
    /// tetra's memory, aligned to its size, its address in SDR1 (KVM-PR).
    User,
}

/// The guest MMU a VM gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmuPlan {
    /// Radix with a process table (`KVM_PPC_CONFIGURE_V3_MMU`).
    Radix,
    /// The hashed page table.
    Hash {
        /// Its size.
        geometry: HtabGeometry,
        /// Who allocates it.
        home: HtabHome,
    },
}

impl MmuPlan {
    /// Whether the guest gets the radix MMU.
    pub fn is_radix(self) -> bool {
        matches!(self, MmuPlan::Radix)
    }
}

/// What the host offers for the guest MMU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmuOffer {
    /// `KVM_CAP_PPC_MMU_RADIX`.
    pub radix: bool,
    /// `KVM_CAP_PPC_ALLOC_HTAB`.
    pub alloc_htab: bool,
}

/// The guest MMU for a VM of `ram` bytes on a host offering `offer`: radix where it can be,
/// else a hash table sized for the RAM.
pub fn plan_mmu(offer: MmuOffer, ram: u64) -> Result<MmuPlan, HashError> {
    if offer.radix {
        return Ok(MmuPlan::Radix);
    }
    Ok(MmuPlan::Hash {
        geometry: HtabGeometry::new(htab_order_for_ram(ram))?,
        home: if offer.alloc_htab {
            HtabHome::Kernel
        } else {
            HtabHome::User
        },
    })
}

/// log2 of the hash table's size for `ram` bytes: RAM/128 rounded up to a power of two,
/// within 256 KiB..=64 TiB.
pub fn htab_order_for_ram(ram: u64) -> u32 {
    let ceil_log2 = match ram {
        0 | 1 => 0,
        r => 64 - (r - 1).leading_zeros(),
    };
    ceil_log2.saturating_sub(7).clamp(MIN_ORDER, MAX_ORDER)
}

/// The first address at or above `addr` aligned to `align` (a power of two), if it fits.
pub fn align_up(addr: u64, align: u64) -> Option<u64> {
    debug_assert!(align.is_power_of_two());
    Some(addr.checked_add(align - 1)? & !(align - 1))
}

/// The ABI facts of the VM types.
pub fn abi_facts() -> Vec<vmm_core::regs::abi::AbiFact> {
    [
        ("KVM_VM_PPC_HV", VM_TYPE_HV, "VM_TYPE_HV"),
        ("KVM_VM_PPC_PR", VM_TYPE_PR, "VM_TYPE_PR"),
    ]
    .into_iter()
    .map(|(name, value, ours)| {
        vmm_core::regs::abi::AbiFact::new(name, value, format!("arch_ppc64::mmu::plan::{ours}"))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_a_128th_of_the_ram_rounded_up() {
        assert_eq!(htab_order_for_ram(0), MIN_ORDER);
        assert_eq!(htab_order_for_ram(8 << 20), MIN_ORDER);
        assert_eq!(htab_order_for_ram(32 << 20), MIN_ORDER);
        assert_eq!(htab_order_for_ram(64 << 20), 19);
        assert_eq!(htab_order_for_ram(256 << 20), 21);
        assert_eq!(htab_order_for_ram((256 << 20) + 1), 22);
        assert_eq!(htab_order_for_ram(2 << 30), 24);
        assert_eq!(htab_order_for_ram(u64::MAX), MAX_ORDER);
    }

    #[test]
    fn radix_where_offered_else_hash_where_it_can_be_allocated() {
        let radix = MmuOffer {
            radix: true,
            alloc_htab: true,
        };
        assert_eq!(plan_mmu(radix, 1 << 30).unwrap(), MmuPlan::Radix);
        let hv_hash = MmuOffer {
            radix: false,
            alloc_htab: true,
        };
        let g = HtabGeometry::new(23).unwrap();
        assert_eq!(
            plan_mmu(hv_hash, 1 << 30).unwrap(),
            MmuPlan::Hash {
                geometry: g,
                home: HtabHome::Kernel
            }
        );
        let pr = MmuOffer::default();
        let p = plan_mmu(pr, 1 << 30).unwrap();
        assert_eq!(
            p,
            MmuPlan::Hash {
                geometry: g,
                home: HtabHome::User
            }
        );
        assert!(!p.is_radix());
    }

    #[test]
    fn hv_first_and_only_einval_moves_on() {
        assert_eq!(KvmFlavour::ORDER[0].vm_type(), VM_TYPE_HV);
        assert_eq!(KvmFlavour::ORDER[1].vm_type(), VM_TYPE_PR);
        assert!(KvmFlavour::Hv.try_next_after(Some(libc::EINVAL)));
        assert!(!KvmFlavour::Hv.try_next_after(Some(libc::ENOMEM)));
        assert!(!KvmFlavour::Hv.try_next_after(None));
        assert_eq!(KvmFlavour::Pr.name(), "KVM-PR");
    }

    #[test]
    fn align_up_rounds_to_the_boundary() {
        assert_eq!(align_up(0, 1 << 18), Some(0));
        assert_eq!(align_up(1, 1 << 18), Some(1 << 18));
        assert_eq!(align_up(1 << 18, 1 << 18), Some(1 << 18));
        assert_eq!(align_up(u64::MAX, 1 << 18), None);
    }

    #[test]
    fn a_user_table_s_sdr1_gives_its_address_back() {
        let g = HtabGeometry::new(htab_order_for_ram(256 << 20)).unwrap();
        let base = align_up(0x7fff_1234_5000, g.bytes()).unwrap();
        let (g2, b2) = HtabGeometry::from_sdr1(g.sdr1(base)).unwrap();
        assert_eq!((g2, b2), (g, base));
    }
}
