//! The pseries interrupt controller: XICS (the PAPR "eXternal Interrupt Controller
//! Specification"), as every pseries Linux kernel knows it.
//!
//! XICS has two halves. An **ICS** (interrupt source controller) holds each source's server
//! (which vCPU) and priority; an **ICP** (interrupt presentation controller) per vCPU holds
//! the current processor priority (CPPR), the pending inter-processor interrupt (MFRR) and the
//! interrupt being presented (XISR). The guest talks to the ICP through the hypercalls
//! `H_CPPR`, `H_EOI`, `H_IPI`, `H_XIRR`, `H_XIRR_X` and `H_IPOLL`, and to the ICS through the
//! RTAS calls `ibm,set-xive`, `ibm,get-xive`, `ibm,int-off` and `ibm,int-on`.
//!
//! tetra uses KVM's in-kernel XICS (`KVM_DEV_TYPE_XICS`) where the host offers it:
//!
//! - [`choice`]: whether a VM gets it, from `--irqchip` and what the kernel offers;
//! - [`source`]: the source attribute of `KVM_DEV_XICS_GRP_SOURCES` (server, priority,
//!   masked, level, pending), and the four RTAS calls on it ([`Xics`]), served by tetra
//!   through the device attributes, as QEMU does, over any [`SourceStore`];
//! - [`icp`]: the ICP state of a vCPU (`KVM_REG_PPC_ICP_STATE`);
//! - [`model`]: a userspace XICS (sources and ICPs with PAPR's rules), host-tested, for hosts
//!   without the in-kernel one; not wired to KVM yet;
//! - [`router`]: device interrupt lines: each line's source is configured in the ICS (masked,
//!   server 0) when it is made, then raised through KVM (an irqfd for an edge,
//!   `KVM_IRQ_LINE` for a level); the source number is the GSI.
//!
//! The ICP hypercalls are the kernel's (KVM-HV serves them whenever the vCPU is connected to
//! an in-kernel XICS), and so is delivery to the vCPUs. Without an in-kernel XICS the machine
//! has no interrupt controller: the console is polled (`H_GET_TERM_CHAR`) and devices that
//! need an interrupt are refused.

pub mod choice;
pub mod icp;
pub mod model;
pub mod router;
pub mod source;

pub use choice::{IrqChipChoice, IrqChipError, KernelSupport};
pub use icp::IcpState;
pub use model::XicsModel;
pub use router::XicsRouter;
pub use source::{SourceAttr, SourceError, SourceStore, Xics, XiveError};
