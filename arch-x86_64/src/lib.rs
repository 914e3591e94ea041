//! tetra's x86_64 backend: guest physical layout, boot protocols (multiboot, PVH, bzImage, raw),
//! ACPI tables, entry state, CPUID and MSRs, legacy devices, and the in-kernel
//! LAPIC/IOAPIC/PIC/PIT.
//!
//! Everything here is plain Rust and is built and unit-tested on every host; only the ioctl glue in
//! `kvm` (and linux-loader's x86 loaders in `boot::linux`) is gated to x86_64.

#![deny(missing_docs)]

pub mod acpi;
pub mod boot;
pub mod cpu_template;
pub mod cpuid;
pub mod devices;
pub mod error;
#[cfg(target_arch = "x86_64")]
mod kvm;
pub mod layout;
pub mod msrs;
pub mod pit;
pub mod regs;
pub mod seccomp;
pub mod snapshot;

pub use error::X86Error;
#[cfg(target_arch = "x86_64")]
pub use kvm::Platform;

/// The x86_64 architecture, as a type for vmm-core's `Arch` trait.
#[derive(Clone, Copy, Debug, Default)]
pub struct X86_64;

/// The embedded default guest: a multiboot ELF32 assembled at build time from
/// `guest/default_guest.S`.
pub const DEFAULT_GUEST: &[u8] = include_bytes!(env!("TETRA_DEFAULT_GUEST"));
