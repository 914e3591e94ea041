//! The host's arch for in-process VMs: the suite's one `cfg(target_arch)` switch, as in the binary.

#[cfg(target_arch = "aarch64")]
pub use arch_arm64::Arm64 as HostArch;
#[cfg(all(target_arch = "powerpc64", target_endian = "little"))]
pub use arch_ppc64::Ppc64 as HostArch;
#[cfg(target_arch = "x86_64")]
pub use arch_x86_64::X86_64 as HostArch;

/// Whether this host's backend can run guests (false while an arch has only its logic).
pub const CAN_RUN_GUESTS: bool = cfg!(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    all(target_arch = "powerpc64", target_endian = "little")
));
