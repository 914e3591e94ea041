//! tetra's arm64 backend: guest physical layout, Linux `Image` and raw payload loading and entry
//! state, the device tree, the vGICv3 (+ITS) description, the vPMU, PSCI, the PL031 RTC, and the
//! register table.
//!
//! Everything here is plain Rust and is built and unit-tested on every host; only the ioctl glue
//! in `kvm` is gated to aarch64.
//!
//! How an arm64 guest ends: PSCI `SYSTEM_OFF` (power-off, status 0: a Linux guest's `poweroff`),
//! PSCI `SYSTEM_RESET` (reset, status 0: its `reboot`; as on x86, tetra does not reboot in place),
//! or a 32-bit write of V to the debug-exit device at
//! [`layout::DEBUG_EXIT_BASE`] (status `(V << 1) | 1`).

#![deny(missing_docs)]

pub mod boot;
pub mod config;
pub mod devices;
pub mod error;
pub mod fdt;
pub mod inspect;
pub mod irqchip;
pub mod its_tables;
#[cfg(target_arch = "aarch64")]
pub mod kvm;
pub mod layout;
pub mod mmu;
pub mod psci;
pub mod regs;
pub mod seccomp;
pub mod snapshot;

pub use error::Arm64Error;
#[cfg(target_arch = "aarch64")]
pub use kvm::Platform;

/// The arm64 architecture, as a type for vmm-core's `Arch` trait.
#[derive(Clone, Copy, Debug, Default)]
pub struct Arm64;

impl Arm64 {
    /// The name the CLI uses for this arch.
    pub const NAME: &'static str = "arm64";
}
