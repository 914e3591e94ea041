//! tetra's PowerPC BookE (e500mc family) backend.
//!
//! Everything here is plain Rust and is built and unit-tested on every host; only the ioctl glue
//! (`kvm`: `impl Arch for BookE`) is gated, to big-endian powerpc64 hosts, which tetra takes to
//! be BookE (e5500/e6500) hosts. See `docs/booke.md` for what is verified and how.
//!
//! - [`abi`]: the BookE-only KVM structs and constants (`#[repr(C)]`, checked against the uapi
//!   headers).
//! - [`mmu`]: the shared software TLB, guest TLB operations, translation, dirty tracking.
//! - [`irqchip`]: the MPIC (OpenPIC) model.
//! - [`cpu`], [`layout`], [`fdt`], [`boot`], [`devices`]: the e500 board: core models and host
//!   detection, physical map, device tree, kernel loading (uImage/ELF) and the ePAPR entry
//!   state, the DUART's interrupt wiring.
//! - [`regs`]: the BookE register table (tag/value ids, names, sizes): the one id every BookE
//!   register has in tetra, used by save/restore, the serializer and `tetra inspect`.
//! - [`snapshot`]: the BookE parts of snapshots and migration streams (TLB, MPIC) in vmm-core's
//!   envelope; [`inspect`]: printing a TLB for `tetra inspect tlb`.

#![deny(missing_docs)]

pub mod abi;
pub mod boot;
pub mod cpu;
pub mod devices;
pub mod error;
pub mod fdt;
pub mod inspect;
pub mod irqchip;
#[cfg(all(target_arch = "powerpc64", target_endian = "big"))]
pub mod kvm;
pub mod layout;
pub mod mmu;
pub mod regs;
pub mod seccomp;
pub mod snapshot;
#[cfg(test)]
mod test_util;

pub use error::BookeError;

/// The PowerPC BookE (e500mc family) architecture, as a type for vmm-core's `Arch` trait.
#[derive(Clone, Copy, Debug, Default)]
pub struct BookE;

impl BookE {
    /// The name the CLI uses for this arch.
    pub const NAME: &'static str = "booke";
}
