//! The interrupt controller: which one a VM gets (`--irqchip`), and where its frames sit.
//!
//! tetra gives arm64 guests KVM's in-kernel GICv3 (`KVM_DEV_TYPE_ARM_VGIC_V3`: a distributor and
//! one redistributor per vCPU), and with `--irqchip gicv3-its` also an ITS
//! (`KVM_DEV_TYPE_ARM_VGIC_ITS`) for MSIs. The ioctls are in `kvm/gic.rs`; this module is the
//! plain description they apply and the device tree publishes. GIC and ITS state for snapshots
//! and migration (the ITS tables flushed to guest RAM, ABI rev 0) is `crate::snapshot` (the
//! codec) and `kvm/gic_state.rs` (the glue).

use crate::layout::*;
use thiserror::Error;

/// The interrupt controller of an arm64 VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqChipKind {
    /// GICv3: distributor and redistributors (`gicv3`, the default).
    GicV3,
    /// GICv3 with an ITS for MSIs (`gicv3-its`).
    GicV3Its,
}

/// An `--irqchip` value arm64 does not offer.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("--irqchip {0}: arm64 offers gicv3 (the default) and gicv3-its")]
pub struct UnknownIrqChip(pub String);

impl IrqChipKind {
    /// The kind for `--irqchip` (`None`: the default, GICv3 without ITS).
    pub fn parse(name: Option<&str>) -> Result<Self, UnknownIrqChip> {
        match name {
            None | Some("gicv3") => Ok(IrqChipKind::GicV3),
            Some("gicv3-its") => Ok(IrqChipKind::GicV3Its),
            Some(other) => Err(UnknownIrqChip(other.to_string())),
        }
    }

    /// Whether the VM gets an ITS.
    pub fn has_its(self) -> bool {
        self == IrqChipKind::GicV3Its
    }

    /// The name `--irqchip` takes.
    pub fn name(self) -> &'static str {
        match self {
            IrqChipKind::GicV3 => "gicv3",
            IrqChipKind::GicV3Its => "gicv3-its",
        }
    }
}

/// Where a VM's GIC frames are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GicLayout {
    /// Distributor base (64 KiB).
    pub dist: u64,
    /// Redistributor region base.
    pub redist: u64,
    /// Redistributor region size (128 KiB per vCPU).
    pub redist_size: u64,
    /// ITS base (128 KiB), if the VM has one.
    pub its: Option<u64>,
    /// Interrupt ids the distributor implements.
    pub nr_irqs: u32,
}

impl GicLayout {
    /// The frames for `cpus` vCPUs and `kind`.
    pub fn new(cpus: u32, kind: IrqChipKind) -> Self {
        GicLayout {
            dist: GIC_DIST_BASE,
            redist: GIC_REDIST_BASE,
            redist_size: gic_redist_size(cpus),
            its: kind.has_its().then_some(GIC_ITS_BASE),
            nr_irqs: GIC_NR_IRQS,
        }
    }
}

/// The interrupt id of SPI `n`.
pub const fn spi_intid(n: u32) -> u32 {
    32 + n
}

/// The interrupt id of PPI `n`.
pub const fn ppi_intid(n: u32) -> u32 {
    16 + n
}

/// Device-tree interrupt specifier values (`<type number flags>`, the GIC binding).
pub mod dt {
    /// An SPI.
    pub const SPI: u32 = 0;
    /// A PPI.
    pub const PPI: u32 = 1;
    /// Rising edge.
    pub const EDGE_RISING: u32 = 1;
    /// Level, active high.
    pub const LEVEL_HIGH: u32 = 4;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names() {
        assert_eq!(IrqChipKind::parse(None), Ok(IrqChipKind::GicV3));
        assert_eq!(IrqChipKind::parse(Some("gicv3")), Ok(IrqChipKind::GicV3));
        assert_eq!(
            IrqChipKind::parse(Some("gicv3-its")),
            Ok(IrqChipKind::GicV3Its)
        );
        for bad in ["", "gicv2", "GICv3", "gicv3-its ", "its"] {
            let e = IrqChipKind::parse(Some(bad)).unwrap_err();
            assert_eq!(e, UnknownIrqChip(bad.to_string()));
            assert!(e.to_string().contains("gicv3-its"));
        }
        for k in [IrqChipKind::GicV3, IrqChipKind::GicV3Its] {
            assert_eq!(IrqChipKind::parse(Some(k.name())), Ok(k));
        }
    }

    #[test]
    fn layout_per_kind() {
        let g = GicLayout::new(4, IrqChipKind::GicV3);
        assert_eq!(g.its, None);
        assert_eq!(g.redist_size, 4 * 0x2_0000);
        let g = GicLayout::new(1, IrqChipKind::GicV3Its);
        assert_eq!(g.its, Some(GIC_ITS_BASE));
        assert_eq!(g.dist, GIC_DIST_BASE);
        assert_eq!(spi_intid(UART_SPI), 33);
        assert_eq!(ppi_intid(PMU_PPI), 23);
        // The timers' PPIs are 26, 27, 29 and 30; the PMU's must be none of them.
        assert!(!TIMER_PPIS.contains(&PMU_PPI));
    }
}
