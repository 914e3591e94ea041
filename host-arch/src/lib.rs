//! The host's architecture, picked once for the whole workspace: the `tetra` binary, the shared
//! suite (`integration-tests`) and the benchmarks all take it from here. The `cfg_select!` below
//! is tetra's one `cfg(target_arch)` switch for the host arch (DESIGN.md, "Two rules").
//!
//! - [`HostArch`]: the `vmm_core::Arch` type of the build target (x86_64 -> `X86_64`, aarch64 ->
//!   `Arm64`, little-endian powerpc64 -> `Ppc64`, big-endian powerpc64 -> `BookE`). BE powerpc64
//!   hosts are taken to be BookE (e5500/e6500 boards); Book3S hosts run little-endian.
//! - [`HOST_ARCH`]: its name as `--arch` spells it, or `unsupported`.
//! - [`CAN_RUN_GUESTS`]: whether the suite may trust this backend with real guests.
//! - [`with_host_arch`]: runs generic code with [`HostArch`], and builds on a host tetra has no
//!   backend for (where [`HostArch`] does not exist) by returning `None` there.

#![deny(missing_docs)]

use vmm_core::Arch;

/// Code generic over the arch, to run with the host's ([`with_host_arch`]).
pub trait WithArch {
    /// What it returns.
    type Output;
    /// Runs it with arch `A`.
    fn call<A: Arch>(self) -> Self::Output;
}

/// The items of a host tetra has a backend for.
#[allow(unused_macros)] // on a host tetra has no backend for
macro_rules! host {
    ($arch:path, can_run_guests: $can_run:expr) => {
        /// The host's arch type.
        pub use $arch as HostArch;

        /// The host's arch as `--arch` spells it (`x86_64`, `arm64`, `ppc64`, `booke`), or
        /// `unsupported` on a host tetra has no backend for.
        pub const HOST_ARCH: &str = <HostArch as Arch>::NAME;

        /// Whether this host's backend can run guests: the suite's KVM tests run only then.
        pub const CAN_RUN_GUESTS: bool = $can_run;

        /// Runs `f` with [`HostArch`]; `None` on a host tetra has no backend for.
        pub fn with_host_arch<F: WithArch>(f: F) -> Option<F::Output> {
            Some(f.call::<HostArch>())
        }
    };
}

cfg_select! {
    target_arch = "x86_64" => {
        host!(arch_x86_64::X86_64, can_run_guests: true);
    }
    target_arch = "aarch64" => {
        host!(arch_arm64::Arm64, can_run_guests: true);
    }
    all(target_arch = "powerpc64", target_endian = "little") => {
        host!(arch_ppc64::Ppc64, can_run_guests: true);
    }
    // BookE cannot run guests for the suite: its glue builds (`impl Arch for BookE`) and the
    // binary runs it, but no BookE KVM host is reachable (no emulated e500mc-family host runs KVM
    // guests: see `EMULATED-HOSTS.md` in the design notes and `docs/booke.md`), it has no test
    // guests yet, and a test that never ran on real KVM must not pass as one that did.
    all(target_arch = "powerpc64", target_endian = "big") => {
        host!(arch_booke::BookE, can_run_guests: false);
    }
    _ => {
        /// The host's arch as `--arch` spells it: tetra has no backend for this one.
        pub const HOST_ARCH: &str = "unsupported";

        /// Whether this host's backend can run guests: there is none.
        pub const CAN_RUN_GUESTS: bool = false;

        /// Runs `f` with the host's arch: `None`, as tetra has no backend for this host.
        pub fn with_host_arch<F: WithArch>(_f: F) -> Option<F::Output> {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Name;
    impl WithArch for Name {
        type Output = &'static str;
        fn call<A: Arch>(self) -> &'static str {
            A::NAME
        }
    }

    #[test]
    fn the_switch_agrees_with_itself() {
        assert_eq!(with_host_arch(Name).unwrap_or("unsupported"), HOST_ARCH);
        assert!(["x86_64", "arm64", "ppc64", "booke", "unsupported"].contains(&HOST_ARCH));
        assert!(!CAN_RUN_GUESTS || with_host_arch(Name).is_some());
    }
}
