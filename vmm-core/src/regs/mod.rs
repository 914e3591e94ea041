//! Registers as tag/value pairs (seed 001): the single way tetra names vCPU state on every arch.
//!
//! A register is `(set, number, size, attributes)` plus a value:
//!
//! * [`RegId`] is the `(arch, set, number, size)` part, encoded as a KVM ONE_REG id (see [`id`]
//!   for the bit layout and tetra's own ids on x86 and for PowerPC's `KVM_GET_SREGS` state);
//! * [`RegDesc`] adds a name, [`RegAttrs`] and where the backend finds it ([`RegLoc`]: ONE_REG,
//!   a field of a block such as `struct kvm_sregs`, or an entry of an indexed batch such as MSRs);
//! * [`RegTable`] is an arch's list of them, looked up by name or by id; each arch crate publishes
//!   one (`arch_x86_64::regs::table()`, ...), and adds what the kernel reports at run time;
//! * [`VcpuState`] is a vCPU's state: the ordered (id, value) list that snapshots, migration, a
//!   debugger and `tetra regs` share;
//! * [`access`] reads and writes any subset through the small [`VcpuRegs`] trait a backend
//!   implements, batching per block (the seed's "MANY_REG"): [`save`] and [`restore`];
//! * [`format`] prints tables and values; [`abi`] turns tables and structs into facts checked
//!   against the kernel's uapi headers.

pub mod abi;
pub mod access;
pub mod desc;
pub mod format;
pub mod id;
pub mod state;
pub mod table;

#[cfg(test)]
mod tests;

pub use access::{
    get_by_name, read, read_all, restore, save, set_by_name, write, ReadOutcome, RegError, VcpuRegs,
};
pub use desc::{BlockKind, RegAttrs, RegBlock, RegDesc, RegLoc, RegSetInfo};
pub use id::{RegArch, RegId, RegSize, PRIVATE_SET};
pub use state::{RegValue, StateDecodeError, VcpuState};
pub use table::{RegTable, TableError};
