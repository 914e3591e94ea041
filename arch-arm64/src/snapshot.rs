//! The arm64 parts of snapshots and migration streams: planned, not written yet. Until they are,
//! `Arch::SNAPSHOT_MAGIC` stays `None` for arm64 and vmm-core refuses to snapshot or migrate an
//! arm64 VM rather than lose state.
//!
//! This module fixes the codec's shape, the same as x86's (`arch-x86_64/src/snapshot.rs`) and
//! BookE's (`arch-booke/src/snapshot.rs`): plain state types encoded and checked here, on any
//! host, with vmm-core's [`SectionSpec`] for each section and [`CodecError`] for framing; the
//! glue in `kvm/` only converts KVM's attributes and moves bytes. What exists now is what can be
//! tested now: the magic, the section tags and the error.
//!
//! # Planned content (vmm-core's envelope, magic [`SNAPSHOT_MAGIC`])
//!
//! - Each vCPU's **registers** (core, FP/SIMD, system registers, timers, PSCI power state): vmm-core's
//!   `VCPU` section, by the ids `KVM_GET_REG_LIST` gives (`crate::regs`); nothing arm64-specific.
//! - [`GICD`]: the GICv3 **distributor** registers (`KVM_DEV_ARM_VGIC_GRP_DIST_REGS`): `GICD_CTLR`
//!   and the per-interrupt banks (group, enable, pending, active, priority, configuration,
//!   routing) for the SPIs the VM has.
//! - [`GICR`]: each vCPU's **redistributor** registers (`KVM_DEV_ARM_VGIC_GRP_REDIST_REGS`, the
//!   SGI/PPI banks and `GICR_CTLR`, `GICR_PROPBASER`, `GICR_PENDBASER`), keyed by the vCPU's
//!   **MPIDR** affinity (the attribute's address), not by its index.
//! - [`ICCR`]: each vCPU's **ICC system registers** (`KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS`:
//!   `ICC_PMR_EL1`, `ICC_BPR*`, `ICC_AP*R*`, `ICC_IGRPEN*`, `ICC_CTLR_EL1`, `ICC_SRE_EL1`), keyed
//!   by MPIDR as well.
//! - [`ITSR`] (only with `--irqchip gicv3-its`): the **ITS registers** (`KVM_DEV_ARM_VGIC_GRP_ITS_REGS`:
//!   `GITS_IIDR`, `GITS_CBASER`, `GITS_CREADR`, `GITS_CWRITER`, `GITS_BASER<n>`, `GITS_CTLR`) at
//!   ITS table **ABI revision 0** ([`ITS_ABI_REVISION`], `GITS_IIDR.Revision`). The ITS tables
//!   themselves (device, collection and interrupt translation tables) are not in a section: KVM
//!   writes them into guest RAM (`KVM_DEV_ARM_ITS_SAVE_TABLES`, in `Arch::flush_to_guest_ram`,
//!   before the final dirty harvest) and they travel with the memory. The pending tables that
//!   `GICR_PENDBASER` points at are flushed the same way (`KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES`).
//!
//! Restore follows the order the kernel documents (`Documentation/virt/kvm/devices/arm-vgic-v3.rst`
//! and `arm-vgic-its.rst`): memory and every vCPU first, then the GIC (distributor,
//! redistributors, ICC registers); then the ITS: `GITS_IIDR` (selecting the ABI), `GITS_CBASER`, the other
//! registers but `GITS_CTLR`, `KVM_DEV_ARM_ITS_RESTORE_TABLES`, and `GITS_CTLR` last.

use thiserror::Error;
use vmm_core::snapshot::{check_tags, CodecError, SectionSpec};

/// The magic arm64 snapshots will carry (reserved; nothing writes it yet).
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"TETRAA64";
/// The GICv3 distributor (planned).
pub const GICD: SectionSpec = SectionSpec::new(*b"GICD", 1, 1);
/// The redistributors, keyed by MPIDR (planned).
pub const GICR: SectionSpec = SectionSpec::new(*b"GICR", 1, 1);
/// The ICC system registers, keyed by MPIDR (planned).
pub const ICCR: SectionSpec = SectionSpec::new(*b"ICCR", 1, 1);
/// The ITS registers (planned; the ITS tables go through guest RAM).
pub const ITSR: SectionSpec = SectionSpec::new(*b"ITSR", 1, 1);
/// The planned VM-wide sections.
pub const SECTIONS: [SectionSpec; 4] = [GICD, GICR, ICCR, ITSR];
const _: () = check_tags(&SECTIONS);
/// The ITS table ABI revision the format will hold (`GITS_IIDR.Revision`; the only one KVM has).
pub const ITS_ABI_REVISION: u32 = 0;

/// Why arm64 snapshot state was refused.
#[derive(Debug, Error)]
pub enum Arm64SnapshotError {
    /// Truncated, trailing bytes, a section missing or of an unknown version.
    #[error(transparent)]
    Codec(#[from] CodecError),
}
vmm_core::codec_error_from!(Arm64SnapshotError);

#[cfg(test)]
mod tests {
    use super::*;
    use vmm_core::snapshot::Envelope;

    #[test]
    fn a_missing_section_is_named() {
        let env = Envelope::new(SNAPSHOT_MAGIC);
        let e = Arm64SnapshotError::from(GICR.require(&env).unwrap_err());
        assert_eq!(e.to_string(), "section GICR is missing");
    }
}
