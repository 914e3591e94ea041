//! The guest MMU: the radix set-up KVM-HV needs, and the hashed page table (HPT) of Power ISA
//! v2.07 (POWER8, PPC970) in plain Rust, for `tetra inspect` and a future gdb stub.
//!
//! - [`radix`]: the radix process table registered with `KVM_PPC_CONFIGURE_V3_MMU`.
//! - [`hpte`]: the 16-byte hashed page table entry and its fields.
//! - [`hash`]: the table geometry (SDR1's HTABSIZE, KVM's log2 size) and the primary and
//!   secondary hashes.
//! - [`memory`]: a table as bytes in memory (KVM-PR's, a raw image).
//! - [`papr`]: `H_READ`, `H_CLEAR_REF`, `H_CLEAR_MOD` on a table in tetra's memory.
//! - [`plan`]: KVM-HV or KVM-PR, radix or hash, and the hash table's size and home.
//! - [`smmu`]: the hash page sizes KVM reports and the device tree's cells for them.
//! - [`slb`]: the segment lookaside buffer as `kvm_sregs.u.s.ppc64.slb[]` carries it.
//! - [`translate`](mod@translate): EA -> VA -> PTEG search -> RA.
//! - [`htab`]: the `KVM_PPC_GET_HTAB_FD` stream codec and an in-memory table that applies it.

pub mod hash;
pub mod hpte;
pub mod htab;
pub mod memory;
pub mod papr;
pub mod plan;
pub mod radix;
pub mod slb;
pub mod smmu;
pub mod translate;

pub use hash::{HashError, HtabGeometry};
pub use hpte::{Hpte, PageSizes, SegmentSize};
pub use htab::{HashTable, HtabError, Record};
pub use memory::{MemoryError, MemoryHpt};
pub use plan::{HtabHome, KvmFlavour, MmuOffer, MmuPlan};
pub use radix::*;
pub use slb::{Slb, SlbEntry, SlbError};
pub use translate::{translate, HptStore, TranslateError, Translation};

/// The ABI facts of this module: the radix structures, the HTAB stream's, the SMMU report's
/// and the VM types.
pub fn abi_facts() -> Vec<vmm_core::regs::abi::AbiFact> {
    let mut f = radix::abi_facts();
    f.extend(htab::abi_facts());
    f.extend(smmu::abi_facts());
    f.extend(plan::abi_facts());
    f
}
