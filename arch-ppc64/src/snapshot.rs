//! The ppc64 (pseries) parts of snapshots and migration streams: planned, not written yet. Until
//! they are, `Arch::SNAPSHOT_MAGIC` stays `None` for ppc64 and vmm-core refuses to snapshot or
//! migrate a ppc64 VM rather than lose state.
//!
//! This module fixes the codec's shape, the same as x86's (`arch-x86_64/src/snapshot.rs`) and
//! BookE's (`arch-booke/src/snapshot.rs`): plain state types encoded and checked here, on any
//! host, with vmm-core's [`SectionSpec`] for each section and [`CodecError`] for framing; the
//! glue in `kvm/` only moves bytes. What exists now is what can be tested now: the magic, the
//! section tags and the error.
//!
//! # Planned content (vmm-core's envelope, magic [`SNAPSHOT_MAGIC`])
//!
//! - Each vCPU's **registers and SPRs**: vmm-core's `VCPU` section, by the ppc64 register table's
//!   ids ([`crate::regs`]: `kvm_regs`, the Book3S sregs with the SLB, and the ONE_REG SPRs,
//!   FP/VMX/VSX and TM state); the SPRs a vCPU lacks are optional there and skipped. The XICS
//!   presenter state of a vCPU (`ICP_STATE`, ONE_REG 0x8c) is one of those registers.
//! - [`XICS`]: the in-kernel XICS **sources** (`KVM_DEV_XICS_GRP_SOURCES`: one 64-bit word a
//!   source: server, priority, saved priority, masked, pending, level, ...), for the sources the
//!   device layer handed out ([`crate::layout`]); written once the XICS exists (today's
//!   `crate::irqchip` has none).
//! - [`HTAB`]: the **hashed page table** of an HPT guest (the KVM-PR lane; a radix guest under
//!   KVM-HV has none, its process table is in guest RAM): the stream `KVM_PPC_GET_HTAB_FD` reads,
//!   records of (`u32 index, u16 n_valid, u16 n_invalid`, n_valid x 16-byte HPTE), each record
//!   checked against the table's size before a restore writes it back through a writable
//!   `KVM_PPC_GET_HTAB_FD` (`KVM_GET_HTAB_WRITE`).
//!
//! For a radix guest the MMU set-up (`KVM_PPC_CONFIGURE_V3_MMU`: the process table's place) is
//! KVM state, not guest RAM, and today it is made in `load`, which a restore does not run: the
//! process table's address (chosen by the firmware allocator around the payload) must be saved in
//! a section and re-applied on restore when ppc64 gets snapshots.

use thiserror::Error;
use vmm_core::snapshot::{check_tags, CodecError, SectionSpec};

/// The magic ppc64 snapshots will carry (reserved; nothing writes it yet).
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"TETRAP64";
/// The XICS source state (planned).
pub const XICS: SectionSpec = SectionSpec::new(*b"XICS", 1, 1);
/// The hashed page table stream (planned, HPT guests only).
pub const HTAB: SectionSpec = SectionSpec::new(*b"HTAB", 1, 1);
/// The planned VM-wide sections.
pub const SECTIONS: [SectionSpec; 2] = [XICS, HTAB];
const _: () = check_tags(&SECTIONS);

/// Why ppc64 snapshot state was refused.
#[derive(Debug, Error)]
pub enum Ppc64SnapshotError {
    /// Truncated, trailing bytes, a section missing or of an unknown version.
    #[error(transparent)]
    Codec(#[from] CodecError),
}
vmm_core::codec_error_from!(Ppc64SnapshotError);

#[cfg(test)]
mod tests {
    use super::*;
    use vmm_core::snapshot::Envelope;

    #[test]
    fn a_newer_section_is_named() {
        let mut env = Envelope::new(SNAPSHOT_MAGIC);
        env.push(vmm_core::snapshot::Section::new(&XICS.tag, 2, vec![]));
        let e = Ppc64SnapshotError::from(XICS.require(&env).unwrap_err());
        assert_eq!(
            e.to_string(),
            "section XICS version 2 is newer than this tetra's 1"
        );
    }
}
