//! tetra's ppc64 (Book3S, pseries) backend: a pseries VM on KVM-HV with the radix MMU.
//!
//! Everything here is plain Rust, built and unit-tested on every host: the guest map
//! ([`layout`]), the host CPU facts the guest must see ([`cpu`]), the MMU ([`mmu`]: the radix
//! set-up, and the hashed page table with its `KVM_PPC_GET_HTAB_FD` stream, printed by
//! [`inspect`]), the device tree ([`fdt`]), payload loading and entry state ([`boot`]), the
//! hypercall table ([`hcall`]), RTAS ([`rtas`]), the hypervisor console ([`vty`]), the state the
//! vCPUs share ([`machine`]) and the register table ([`regs`]). Only the ioctl glue (`kvm`:
//! `impl Arch for Ppc64`) is built for powerpc64 little-endian hosts alone.
//!
//! # How a guest ends
//!
//! * RTAS `power-off` ends the VM with [`GuestExit::PowerOff`](vmm_core::GuestExit) (status
//!   0), `system-reboot` with `Reset` (status 0);
//! * a 32-bit store of V to the debug-exit register at [`layout::DEBUG_EXIT_ADDR`] (guest
//!   physical `1 << 45`, reachable in real mode; the device tree's `/debug-exit@200000000000`,
//!   compatible "tetra,debug-exit") ends it with `DebugExit(V)`: status `(V << 1) | 1`. The
//!   register takes the bytes as the guest stores them and reads them little-endian, the
//!   natural order of a little-endian guest (a big-endian one stores with `stwbrx`).
//!
//! Test guests use the debug-exit register to report a result; RTAS `power-off` is how a
//! pseries OS (Linux's `poweroff`) ends, and tetra then exits 0.

#![deny(missing_docs)]

pub mod boot;
pub mod cpu;
pub mod cpu_model;
pub mod devices;
pub mod error;
pub mod events;
pub mod fdt;
pub mod hcall;
pub mod inspect;
pub mod irqchip;
#[cfg(all(target_arch = "powerpc64", target_endian = "little"))]
pub mod kvm;
pub mod layout;
pub mod machine;
pub mod mmu;
pub mod regs;
pub mod rtas;
pub mod seccomp;
pub mod snapshot;
#[cfg(test)]
mod test_util;
pub mod vty;

pub use error::Ppc64Error;

/// The ppc64 (Book3S, pseries) architecture, as a type for vmm-core's `Arch` trait.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ppc64;

impl Ppc64 {
    /// The name the CLI uses for this arch.
    pub const NAME: &'static str = "ppc64";
}
