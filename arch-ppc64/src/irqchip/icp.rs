//! A vCPU's ICP (interrupt presentation controller) as the in-kernel XICS exposes it: the
//! ONE_REG `KVM_REG_PPC_ICP_STATE` (powerpc `asm/kvm.h`).
//!
//! Bits 56-63 hold the CPPR (current processor priority: the vCPU takes interrupts more
//! favoured, that is numerically lower, than it), 32-55 the XISR (the source being presented;
//! 2 is the IPI, 0 none), 24-31 the MFRR (the priority of a pending IPI; 0xff none) and 16-23
//! the PPRI (the priority of the presented interrupt). `H_XIRR` returns `CPPR << 24 | XISR`
//! and raises the CPPR to the interrupt's priority; `H_EOI` with that value lowers it again.

use kvm_ppc::consts::{
    KVM_REG_PPC_ICP_CPPR_SHIFT, KVM_REG_PPC_ICP_MFRR_SHIFT, KVM_REG_PPC_ICP_PPRI_SHIFT,
    KVM_REG_PPC_ICP_XISR_MASK, KVM_REG_PPC_ICP_XISR_SHIFT,
};

/// The XISR of an inter-processor interrupt.
pub const XICS_IPI: u32 = 2;

/// One vCPU's ICP state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcpState {
    /// Current processor priority.
    pub cppr: u8,
    /// The source being presented (0 none, 2 the IPI).
    pub xisr: u32,
    /// The pending IPI's priority (0xff none).
    pub mfrr: u8,
    /// The presented interrupt's priority.
    pub ppri: u8,
}

impl IcpState {
    /// Decodes `KVM_REG_PPC_ICP_STATE`.
    pub fn decode(v: u64) -> Self {
        IcpState {
            cppr: (v >> KVM_REG_PPC_ICP_CPPR_SHIFT) as u8,
            xisr: ((v >> KVM_REG_PPC_ICP_XISR_SHIFT) & KVM_REG_PPC_ICP_XISR_MASK) as u32,
            mfrr: (v >> KVM_REG_PPC_ICP_MFRR_SHIFT) as u8,
            ppri: (v >> KVM_REG_PPC_ICP_PPRI_SHIFT) as u8,
        }
    }

    /// Encodes it (the XISR is cut to its 24 bits).
    pub fn encode(&self) -> u64 {
        u64::from(self.cppr) << KVM_REG_PPC_ICP_CPPR_SHIFT
            | (u64::from(self.xisr) & KVM_REG_PPC_ICP_XISR_MASK) << KVM_REG_PPC_ICP_XISR_SHIFT
            | u64::from(self.mfrr) << KVM_REG_PPC_ICP_MFRR_SHIFT
            | u64::from(self.ppri) << KVM_REG_PPC_ICP_PPRI_SHIFT
    }

    /// The XIRR `H_XIRR` would return: `CPPR << 24 | XISR`.
    pub fn xirr(&self) -> u32 {
        u32::from(self.cppr) << 24 | self.xisr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icp_state_codec() {
        let s = IcpState {
            cppr: 0xff,
            xisr: 0x1000,
            mfrr: 5,
            ppri: 4,
        };
        let v = s.encode();
        assert_eq!(v, 0xff00_1000_0504_0000);
        assert_eq!(IcpState::decode(v), s);
        assert_eq!(s.xirr(), 0xff00_1000);
        let ipi = IcpState {
            xisr: XICS_IPI,
            ..s
        };
        assert_eq!(ipi.xirr() & 0xff_ffff, 2);
        // A XISR wider than 24 bits is cut.
        let wide = IcpState {
            xisr: 0x0100_0002,
            ..s
        };
        assert_eq!(IcpState::decode(wide.encode()).xisr, 2);
    }
}
