//! tetra's arch-neutral core: the [`Arch`](arch::Arch) trait, the VM and vCPU runtime, guest
//! memory, the PIO/MMIO bus, shared devices and the event loop.
//!
//! Nothing here tests the target architecture: what differs per arch comes in through `Arch`, and
//! the hypervisor through the traits in [`hypervisor`].

#![deny(missing_docs)]

pub mod arch;
pub mod bus;
pub mod clock;
pub mod config;
pub mod console;
pub mod control;
pub mod devices;
pub mod dirty;
pub mod elf;
pub mod error;
pub mod error_chain;
pub mod event_loop;
pub mod exit;
pub mod fdt;
#[cfg(any(test, feature = "test-util"))]
pub mod fdt_check;
pub mod files;
pub mod hypervisor;
pub mod json;
pub mod memory;
pub mod migration;
pub mod regs;
pub mod sandbox;
pub mod snapshot;
pub mod socket;
mod vcpu;
pub mod vm;
pub mod wire;

pub use arch::{
    Arch, BuildContext, Classify, ErrorKind, ExitAction, ExitContext, MachineLayout,
    PlatformContext, PrecopyPass, VcpuContext,
};
pub use config::{Payload, RawLoad, VmConfig};
pub use error::CoreError;
pub use exit::{ExitNotifier, GuestExit, WakeReason};
pub use vcpu::{kick_signal, VcpuActivity, VcpuPlace};
pub use vm::{VmState, Vmm, VmmError, VmmOptions};
