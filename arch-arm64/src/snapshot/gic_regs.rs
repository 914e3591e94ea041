//! The GICv3 and ITS registers the snapshot holds: offsets in the distributor, redistributor
//! and ITS frames, the ICC system registers' encodings, and the vGIC attributes' affinity field
//! (`Documentation/virt/kvm/devices/arm-vgic-v3.rst`, `arm-vgic-its.rst`).

/// Distributor register offsets (from the distributor's base).
pub mod gicd {
    /// GICD_CTLR.
    pub const CTLR: u32 = 0x0000;
    /// GICD_IIDR.
    pub const IIDR: u32 = 0x0008;
    /// GICD_STATUSR.
    pub const STATUSR: u32 = 0x0010;
    /// `GICD_IGROUPR<n>` (1 bit an interrupt).
    pub const IGROUPR: u32 = 0x0080;
    /// `GICD_ISENABLER<n>`.
    pub const ISENABLER: u32 = 0x0100;
    /// `GICD_ICENABLER<n>`.
    pub const ICENABLER: u32 = 0x0180;
    /// `GICD_ISPENDR<n>` (through KVM: the pending latch).
    pub const ISPENDR: u32 = 0x0200;
    /// `GICD_ISACTIVER<n>`.
    pub const ISACTIVER: u32 = 0x0300;
    /// `GICD_ICACTIVER<n>`.
    pub const ICACTIVER: u32 = 0x0380;
    /// `GICD_IPRIORITYR<n>` (8 bits an interrupt).
    pub const IPRIORITYR: u32 = 0x0400;
    /// `GICD_ICFGR<n>` (2 bits an interrupt).
    pub const ICFGR: u32 = 0x0c00;
    /// `GICD_IGRPMODR<n>`.
    pub const IGRPMODR: u32 = 0x0d00;
    /// `GICD_IROUTER<n>` (64 bits an interrupt, from id 0).
    pub const IROUTER: u32 = 0x6000;
}

/// Redistributor register offsets (from the vCPU's RD_base; the SGI frame is 64 KiB above).
pub mod gicr {
    /// GICR_CTLR.
    pub const CTLR: u32 = 0x0000;
    /// GICR_STATUSR.
    pub const STATUSR: u32 = 0x0010;
    /// GICR_PROPBASER (64 bits).
    pub const PROPBASER: u32 = 0x0070;
    /// GICR_PENDBASER (64 bits).
    pub const PENDBASER: u32 = 0x0078;
    /// The SGI_base frame.
    pub const SGI: u32 = 0x1_0000;
    /// GICR_IGROUPR0.
    pub const IGROUPR0: u32 = SGI + 0x0080;
    /// GICR_ISENABLER0.
    pub const ISENABLER0: u32 = SGI + 0x0100;
    /// GICR_ICENABLER0.
    pub const ICENABLER0: u32 = SGI + 0x0180;
    /// GICR_ISPENDR0 (through KVM: the pending latch).
    pub const ISPENDR0: u32 = SGI + 0x0200;
    /// GICR_ISACTIVER0.
    pub const ISACTIVER0: u32 = SGI + 0x0300;
    /// GICR_ICACTIVER0.
    pub const ICACTIVER0: u32 = SGI + 0x0380;
    /// GICR_IPRIORITYR0..7.
    pub const IPRIORITYR: u32 = SGI + 0x0400;
    /// GICR_ICFGR0 (SGIs) and GICR_ICFGR1 (PPIs) at +4.
    pub const ICFGR0: u32 = SGI + 0x0c00;
    /// GICR_IGRPMODR0.
    pub const IGRPMODR0: u32 = SGI + 0x0d00;
}

/// ICC system registers, as (op0, op1, CRn, CRm, op2).
pub mod icc {
    /// An encoding.
    pub type Enc = (u8, u8, u8, u8, u8);
    /// ICC_PMR_EL1.
    pub const PMR: Enc = (3, 0, 4, 6, 0);
    /// ICC_BPR0_EL1.
    pub const BPR0: Enc = (3, 0, 12, 8, 3);
    /// `ICC_AP0R<n>_EL1` is `(3, 0, 12, 8, 4 + n)`.
    pub const AP0R0: Enc = (3, 0, 12, 8, 4);
    /// `ICC_AP1R<n>_EL1` is `(3, 0, 12, 9, n)`.
    pub const AP1R0: Enc = (3, 0, 12, 9, 0);
    /// ICC_BPR1_EL1.
    pub const BPR1: Enc = (3, 0, 12, 12, 3);
    /// ICC_CTLR_EL1.
    pub const CTLR: Enc = (3, 0, 12, 12, 4);
    /// ICC_SRE_EL1.
    pub const SRE: Enc = (3, 0, 12, 12, 5);
    /// ICC_IGRPEN0_EL1.
    pub const IGRPEN0: Enc = (3, 0, 12, 12, 6);
    /// ICC_IGRPEN1_EL1.
    pub const IGRPEN1: Enc = (3, 0, 12, 12, 7);

    /// `ICC_AP0R<n>_EL1`.
    pub const fn ap0r(n: u8) -> Enc {
        (3, 0, 12, 8, 4 + n)
    }

    /// `ICC_AP1R<n>_EL1`.
    pub const fn ap1r(n: u8) -> Enc {
        (3, 0, 12, 9, n)
    }

    /// The `instr` field of a `KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS` attribute.
    pub const fn instr(e: Enc) -> u64 {
        let (op0, op1, crn, crm, op2) = e;
        ((op0 as u64) << 14)
            | ((op1 as u64) << 11)
            | ((crn as u64) << 7)
            | ((crm as u64) << 3)
            | op2 as u64
    }

    /// How many `ICC_AP<g>R<n>` registers of each group a CPU interface with this ICC_CTLR_EL1
    /// has: 1, 2 or 4 for 5, 6 or 7 priority bits (`PRIbits`, bits 10:8, is the count minus
    /// one); `None` for a PRIbits KVM never reports.
    pub const fn apr_count(ctlr: u64) -> Option<usize> {
        match (ctlr >> 8) & 7 {
            4 => Some(1),
            5 => Some(2),
            6 => Some(4),
            _ => None,
        }
    }
}

/// ITS register offsets (from the ITS control frame).
pub mod gits {
    /// GITS_CTLR.
    pub const CTLR: u32 = 0x0000;
    /// GITS_IIDR.
    pub const IIDR: u32 = 0x0004;
    /// GITS_TYPER.
    pub const TYPER: u32 = 0x0008;
    /// GITS_CBASER.
    pub const CBASER: u32 = 0x0080;
    /// GITS_CWRITER.
    pub const CWRITER: u32 = 0x0088;
    /// GITS_CREADR.
    pub const CREADR: u32 = 0x0090;
    /// `GITS_BASER<n>` at `BASER + 8 n`.
    pub const BASER: u32 = 0x0100;
    /// `GITS_BASER.Type` (bits 58:56) and `.Entry_Size` (bits 52:48): the geometry KVM fixes.
    pub const BASER_GEOMETRY: u64 = (7 << 56) | (0x1f << 48);

    /// `GITS_IIDR.Revision`: the ITS table ABI revision.
    pub const fn revision(iidr: u64) -> u32 {
        ((iidr >> 12) & 0xf) as u32
    }
}

/// The affinity field of a vGIC attribute (bits 63:32: Aff3.Aff2.Aff1.Aff0) for a vCPU's MPIDR.
pub const fn mpidr_attr(mpidr: u64) -> u64 {
    let aff = (mpidr & 0x00ff_ffff) | ((mpidr >> 8) & 0xff00_0000);
    aff << 32
}
