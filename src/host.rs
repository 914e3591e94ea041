//! The one place that picks the host's architecture: the binary's only `cfg(target_arch)` switch.
//!
//! BE powerpc64 hosts are taken to be BookE (e5500/e6500 boards); Book3S hosts run little-endian.
//! An arch whose backend cannot run guests yet builds everything else and says so at `run`.

use crate::cli::Launch;
use crate::failure::Failure;
use vmm_core::{GuestExit, VmmOptions};

#[cfg(target_arch = "aarch64")]
pub use arch_arm64::Arm64 as HostArch;
#[cfg(all(target_arch = "powerpc64", target_endian = "big"))]
pub use arch_booke::BookE as HostArch;
#[cfg(all(target_arch = "powerpc64", target_endian = "little"))]
pub use arch_ppc64::Ppc64 as HostArch;
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

/// Runs a VM on the host's arch until it ends; returns how it ended and, with `stats`, what
/// `--stats` prints.
#[cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    all(target_arch = "powerpc64", target_endian = "little"),
    all(target_arch = "powerpc64", target_endian = "big")
))]
pub fn run(
    launch: Launch,
    options: VmmOptions,
    stats: bool,
) -> Result<(GuestExit, Option<crate::launch::RunStats>), Failure> {
    crate::launch::run::<HostArch>(launch, options, stats)
}

/// Runs a VM on the host's arch.
#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    all(target_arch = "powerpc64", target_endian = "little"),
    all(target_arch = "powerpc64", target_endian = "big")
)))]
pub fn run(
    _launch: Launch,
    _options: VmmOptions,
    _stats: bool,
) -> Result<(GuestExit, Option<crate::launch::RunStats>), Failure> {
    Err(Failure::host(anyhow::anyhow!(
        "this host's arch backend ({HOST_ARCH}) cannot run guests yet"
    )))
}
