//! The BookE MMU: the software TLB shared with KVM (KVM_CAP_SW_TLB), its geometry and dirty
//! bitmap, the guest TLB instructions, and EA -> RA translation.
//!
//! - [`geometry`]: `kvm_book3e_206_tlb_params` validation and the array's index/order rules.
//! - [`config_regs`]: TLBnCFG / TLBnPS / MMUCFG derived from the geometry.
//! - [`entry`]: MAS register fields and the decoding of one entry.
//! - [`array`](mod@array): an owned array and its byte codec; [`TlbStore`], what the operations work on.
//! - [`ops`]: tlbwe, tlbre, tlbsx, tlbivax, tlbilx.
//! - [`translate`](mod@translate): lookup and translation with permission checks.
//! - [`dirty`]: the KVM_DIRTY_TLB bitmap.
//! - [`shared`]: the array shared with KVM and the protocol around KVM_RUN.
//! - [`bootmap`]: the initial TLB1 entry.

pub mod array;
pub mod bootmap;
pub mod config_regs;
pub mod dirty;
pub mod entry;
pub mod geometry;
pub mod ops;
pub mod shared;
pub mod translate;

pub use array::{ArrayError, ByteOrder, TlbArray, TlbStore};
pub use config_regs::CoreMmu;
pub use dirty::DirtyBitmap;
pub use entry::{Access, AccessKind, Mapping, Perms};
pub use geometry::{GeometryError, Tlb, TlbGeometry, TlbPos};
pub use ops::{GuestMmu, MasRegs, OpsError, TlbilxType};
pub use shared::{KernelOwned, MmuType, SharedError, SharedTlb};
pub use translate::{lookup, translate, Query, TranslateError, Translation};
