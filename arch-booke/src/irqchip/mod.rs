//! The interrupt controller: the Freescale MPIC (OpenPIC).
//!
//! - [`choice`]: in-kernel or userspace MPIC, from `--irqchip` and the kernel's capabilities;
//! - [`mpic`]: the model (sources, destinations, IACK/EOI, IPIs, timers, MSIs);
//! - [`mpic_regs`]: its register file, at the in-kernel MPIC's offsets;
//! - [`mpic_state`]: save/restore as (register, value) pairs and input lines, and their exchange
//!   with the in-kernel MPIC's device attributes;
//! - [`user`]: the model as a board device (MMIO window, outputs to the vCPUs, EPR, timers).
//!
//! The userspace model is used when the host kernel has no in-kernel MPIC, and in host tests.
//! With an in-kernel MPIC (`KVM_DEV_TYPE_FSL_MPIC_20/42`) the same [`MpicState`] is read and
//! written through `KVM_DEV_MPIC_GRP_REGISTER` and `KVM_DEV_MPIC_GRP_IRQ_ACTIVE`.

pub mod choice;
pub mod mpic;
pub mod mpic_regs;
pub mod mpic_state;
#[cfg(test)]
mod mpic_tests;
pub mod user;

pub use choice::{IrqChipChoice, IrqChipError, IrqPlan, KernelSupport};
pub use mpic::{Mpic, MpicError, MpicModel, Output};
pub use mpic_state::{MpicAttrError, MpicExtra, MpicState, MpicStateError};
pub use user::{CpuIrq, MpicWindow, UserMpic, UserMpicLine, UserMpicRouter};
