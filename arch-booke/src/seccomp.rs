//! The booke syscall ABI for the seccomp filters of tetra's threads (`vmm_core::sandbox`):
//! powerpc64's numbers (`kvm_ppc::seccomp`) with this host's `AUDIT_ARCH` and byte order.

use vmm_core::sandbox::SyscallTable;

/// The BookE table: `AUDIT_ARCH_PPC64`, big-endian hosts (e5500/e6500).
pub static SYSCALLS: SyscallTable = SyscallTable {
    arch: "booke",
    audit_arch: 0x8000_0015,
    big_endian: true,
    fionbio: kvm_ppc::seccomp::FIONBIO,
    fionread: kvm_ppc::seccomp::FIONREAD,
    tunsetoffload: kvm_ppc::seccomp::TUNSETOFFLOAD,
    numbers: kvm_ppc::seccomp::NUMBERS,
};

/// The ABI facts of this table for `abi-check`: every number, the `AUDIT_ARCH` value and the
/// socket ioctls, against the uapi headers.
pub fn abi_facts() -> Vec<vmm_core::regs::abi::AbiFact> {
    vmm_core::sandbox::abi_facts(&SYSCALLS, "AUDIT_ARCH_PPC64", "arch_booke::seccomp")
}
