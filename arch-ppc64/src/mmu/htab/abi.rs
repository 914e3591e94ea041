//! The `KVM_PPC_GET_HTAB_FD` ABI: its argument, the record header, flags and numbers. ABI facts,
//! checked against the powerpc uapi headers by the `abi-check` crate ([`abi_facts`]).

use kvm_ppc::ioctl::{ppc_ioc, Dir};
use std::mem::size_of;
use vmm_core::abi_struct;
use vmm_core::regs::abi::AbiFact;

/// `KVM_CAP_PPC_ALLOC_HTAB`: `KVM_PPC_ALLOCATE_HTAB` exists.
pub const KVM_CAP_PPC_ALLOC_HTAB: u32 = 80;
/// `KVM_CAP_PPC_HTAB_FD`: `KVM_PPC_GET_HTAB_FD` exists.
pub const KVM_CAP_PPC_HTAB_FD: u32 = 84;
/// `KVM_GET_HTAB_BOLTED_ONLY`: read only the entries with the bolted software bit.
pub const KVM_GET_HTAB_BOLTED_ONLY: u64 = 0x1;
/// `KVM_GET_HTAB_WRITE`: the fd is for writing.
pub const KVM_GET_HTAB_WRITE: u64 = 0x2;

/// `struct kvm_get_htab_fd`, the argument of `KVM_PPC_GET_HTAB_FD`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmGetHtabFd {
    /// `KVM_GET_HTAB_*`.
    pub flags: u64,
    /// The first entry to read or write.
    pub start_index: u64,
    /// Must be zero.
    pub reserved: [u64; 2],
}

/// `struct kvm_get_htab_header`: the head of one record of the stream.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmGetHtabHeader {
    /// The first entry the record covers.
    pub index: u32,
    /// How many valid HPTEs follow.
    pub n_valid: u16,
    /// How many invalid entries come after those.
    pub n_invalid: u16,
}

/// `KVM_PPC_ALLOCATE_HTAB` `_IOWR(KVMIO, 0xa7, __u32)`: the argument is log2 of the size.
pub const KVM_PPC_ALLOCATE_HTAB: u64 = ppc_ioc(Dir::ReadWrite, 0xa7, size_of::<u32>());
/// `KVM_PPC_GET_HTAB_FD` `_IOW(KVMIO, 0xaa, struct kvm_get_htab_fd)`.
pub const KVM_PPC_GET_HTAB_FD: u64 = ppc_ioc(Dir::Write, 0xaa, size_of::<KvmGetHtabFd>());

/// The argument that opens the stream: reading from entry 0 (a first pass of the whole table
/// and then modified entries), or writing.
pub fn htab_fd_request(write: bool) -> KvmGetHtabFd {
    KvmGetHtabFd {
        flags: if write { KVM_GET_HTAB_WRITE } else { 0 },
        ..KvmGetHtabFd::default()
    }
}

/// The ABI facts of the HTAB stream.
pub fn abi_facts() -> Vec<AbiFact> {
    let mut f = Vec::new();
    abi_struct!(f, KvmGetHtabFd => "struct kvm_get_htab_fd" { flags, start_index, reserved });
    abi_struct!(f, KvmGetHtabHeader => "struct kvm_get_htab_header" { index, n_valid, n_invalid });
    for (name, value) in [
        ("KVM_CAP_PPC_ALLOC_HTAB", u64::from(KVM_CAP_PPC_ALLOC_HTAB)),
        ("KVM_CAP_PPC_HTAB_FD", u64::from(KVM_CAP_PPC_HTAB_FD)),
        ("KVM_GET_HTAB_BOLTED_ONLY", KVM_GET_HTAB_BOLTED_ONLY),
        ("KVM_GET_HTAB_WRITE", KVM_GET_HTAB_WRITE),
        ("KVM_PPC_ALLOCATE_HTAB", KVM_PPC_ALLOCATE_HTAB),
        ("KVM_PPC_GET_HTAB_FD", KVM_PPC_GET_HTAB_FD),
    ] {
        f.push(AbiFact::new(
            name,
            value,
            format!("arch_ppc64::mmu::htab::abi::{name}"),
        ));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_numbers() {
        // Sizes and numbers from the powerpc uapi headers: _IOW = 4 << 29, _IOWR = 6 << 29.
        assert_eq!(size_of::<KvmGetHtabFd>(), 32);
        assert_eq!(size_of::<KvmGetHtabHeader>(), 8);
        assert_eq!(std::mem::offset_of!(KvmGetHtabHeader, n_invalid), 6);
        assert_eq!(KVM_PPC_GET_HTAB_FD, 0x8020_aeaa);
        assert_eq!(KVM_PPC_ALLOCATE_HTAB, 0xc004_aea7);
        assert_eq!(htab_fd_request(true).flags, 2);
        assert_eq!(htab_fd_request(false), KvmGetHtabFd::default());
        let facts = abi_facts();
        assert!(facts
            .iter()
            .any(|f| f.expr == "sizeof(struct kvm_get_htab_fd)" && f.value == 32));
        assert!(facts
            .iter()
            .any(|f| f.expr == "KVM_PPC_GET_HTAB_FD" && f.value == 0x8020_aeaa));
    }
}
