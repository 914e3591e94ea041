//! The one place that picks the host's architecture: the binary's only `cfg(target_arch)` switch.
//!
//! BE powerpc64 hosts are taken to be BookE (e5500/e6500 boards); Book3S hosts run little-endian.
//! An arch whose backend cannot run guests yet builds everything else and says so at `run`.

#[cfg(all(target_arch = "powerpc64", target_endian = "big"))]
pub use arch_booke::BookE as HostArch;
#[cfg(target_arch = "x86_64")]
pub use arch_x86_64::X86_64 as HostArch;

/// The name of the host's arch, as `--arch` spells it.
pub const HOST_ARCH: &str = if cfg!(target_arch = "x86_64") {
    "x86_64"
} else if cfg!(target_arch = "aarch64") {
    "arm64"
} else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
    "ppc64"
} else if cfg!(target_arch = "powerpc64") {
    "booke"
} else {
    "unsupported"
};

/// Runs `config` on the host's arch; returns how the guest ended and the guest RAM resident at
/// the end, in bytes.
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "powerpc64", target_endian = "big")
))]
pub fn run(
    config: vmm_core::VmConfig,
    options: vmm_core::VmmOptions,
) -> Result<(vmm_core::GuestExit, u64), vmm_core::VmmError> {
    let mut vmm = vmm_core::Vmm::<HostArch>::new(config, options)?;
    let end = vmm
        .run(None)?
        .expect("a run without timeout ends only when the guest does");
    Ok((end, vmm.memory().resident_bytes()))
}

/// Runs `config` on the host's arch.
#[cfg(not(any(
    target_arch = "x86_64",
    all(target_arch = "powerpc64", target_endian = "big")
)))]
pub fn run(
    _config: vmm_core::VmConfig,
    _options: vmm_core::VmmOptions,
) -> Result<(vmm_core::GuestExit, u64), vmm_core::VmmError> {
    Err(vmm_core::VmmError::State(
        "this host's arch backend cannot run guests yet",
    ))
}
