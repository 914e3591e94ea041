//! The guest core models of the e500mc family: what the device tree, the MMU configuration
//! registers and the TLB geometry need to know about them.

use crate::irqchip::MpicModel;
use crate::mmu::{CoreMmu, TlbGeometry};

/// A BookE core of the e500mc family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Core {
    /// e500mc: 32-bit, category E.HV (P4080).
    E500mc,
    /// e5500: 64-bit (P5020, T1040 class).
    E5500,
    /// e6500: 64-bit, MMU v2, AltiVec (T4240 class).
    E6500,
}

impl Core {
    /// The core's name.
    pub fn name(self) -> &'static str {
        self.mmu().name
    }

    /// The MMU facts (TLBnCFG/TLBnPS/MMUCFG, page sizes).
    pub fn mmu(self) -> CoreMmu {
        match self {
            Core::E500mc => CoreMmu::E500MC,
            Core::E5500 => CoreMmu::E5500,
            Core::E6500 => CoreMmu::E6500,
        }
    }

    /// The hardware TLB geometry, used as the guest's by default.
    pub fn tlb_geometry(self) -> TlbGeometry {
        match self {
            Core::E500mc | Core::E5500 => TlbGeometry::E500MC,
            Core::E6500 => TlbGeometry::E6500,
        }
    }

    /// L1 cache line size in bytes (data and instruction).
    pub fn cache_line(self) -> u32 {
        64
    }

    /// L1 data and instruction cache sizes in bytes.
    pub fn l1_sizes(self) -> (u32, u32) {
        (32 << 10, 32 << 10)
    }

    /// Whether the core is 64-bit (boots with `MSR[CM]` = 0 all the same).
    pub fn is_64bit(self) -> bool {
        self != Core::E500mc
    }

    /// The MPIC model of the core's SoCs.
    pub fn mpic_model(self) -> MpicModel {
        MpicModel::Fsl42
    }
}
