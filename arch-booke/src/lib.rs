//! tetra's PowerPC BookE (e500mc family) backend.
//!
//! Everything here is plain Rust and is built and unit-tested on every host; only the ioctl glue
//! (`kvm`, added with the backend's first real guests) is gated to the target architecture.

#![deny(missing_docs)]

pub mod boot;
pub mod fdt;
pub mod irqchip;
pub mod layout;
pub mod mmu;
pub mod regs;
pub mod snapshot;

/// The PowerPC BookE (e500mc family) architecture, as a type for vmm-core's `Arch` trait.
#[derive(Clone, Copy, Debug, Default)]
pub struct BookE;

impl BookE {
    /// The name the CLI uses for this arch.
    pub const NAME: &'static str = "booke";
}
