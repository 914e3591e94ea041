//! The BookE-only parts of the KVM ABI, as plain `#[repr(C)]` structs and constants.
//!
//! Every item here is copied from Linux's powerpc uapi headers (`asm/kvm.h` and `linux/kvm.h`
//! as shipped in `linux-libc-dev-powerpc64-cross`) and keeps the C name, so the cross-gcc ABI
//! checker can compare this module against the headers item by item. Nothing else lives here:
//! architecture bit layouts (MAS fields, TLBnCFG, OpenPIC registers) are in the modules that use
//! them.
//!
//! Structs shared with KVM are in **host byte order** (big-endian on the e500mc family). Code
//! that serializes them uses explicit little-endian codecs instead (see `mmu::array`).

#![allow(non_camel_case_types)]

// ---------------------------------------------------------------------------------------------
// linux/kvm.h: capabilities
// ---------------------------------------------------------------------------------------------

/// `KVM_CAP_SW_TLB`: the software TLB shared between userspace and KVM (KVM_CONFIG_TLB via
/// `KVM_ENABLE_CAP`, `KVM_DIRTY_TLB`).
pub const KVM_CAP_SW_TLB: u32 = 69;
/// `KVM_CAP_PPC_EPR`: external proxy; with it enabled, interrupt acknowledge exits with
/// `KVM_EXIT_EPR` so userspace supplies the vector.
pub const KVM_CAP_PPC_EPR: u32 = 86;
/// `KVM_CAP_IRQ_MPIC`: connects a vCPU to an in-kernel MPIC (per-vCPU `KVM_ENABLE_CAP`).
pub const KVM_CAP_IRQ_MPIC: u32 = 90;

// ---------------------------------------------------------------------------------------------
// linux/kvm.h: KVM_CAP_SW_TLB
// ---------------------------------------------------------------------------------------------

/// `KVM_MMU_FSL_BOOKE_NOHV`: the e500v2-class MMU (no hardware virtualization).
pub const KVM_MMU_FSL_BOOKE_NOHV: u32 = 0;
/// `KVM_MMU_FSL_BOOKE_HV`: the e500mc-class MMU (category E.HV).
pub const KVM_MMU_FSL_BOOKE_HV: u32 = 1;

/// `struct kvm_config_tlb`: the argument of `KVM_ENABLE_CAP(KVM_CAP_SW_TLB)` (passed in
/// `args[0]` by address).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct kvm_config_tlb {
    /// Userspace address of a [`kvm_book3e_206_tlb_params`].
    pub params: u64,
    /// Userspace address of the shared array of [`kvm_book3e_206_tlb_entry`].
    pub array: u64,
    /// `KVM_MMU_FSL_BOOKE_NOHV` or `KVM_MMU_FSL_BOOKE_HV`.
    pub mmu_type: u32,
    /// Length of the array in bytes.
    pub array_len: u32,
}

/// `struct kvm_dirty_tlb`: the argument of `KVM_DIRTY_TLB`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct kvm_dirty_tlb {
    /// Userspace address of the dirty bitmap (little-endian bit order, rounded up to 64 bits).
    pub bitmap: u64,
    /// The number of set bits in the bitmap (a hint: KVM may just flush everything).
    pub num_dirty: u32,
}

// ---------------------------------------------------------------------------------------------
// asm/kvm.h: the shared TLB array
// ---------------------------------------------------------------------------------------------

/// `struct kvm_book3e_206_tlb_entry`: one entry of the shared TLB array (24 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct kvm_book3e_206_tlb_entry {
    /// MAS8 (hypervisor fields: TGS, VF, TLPID).
    pub mas8: u32,
    /// MAS1: V, IPROT, TID, TS, TSIZE.
    pub mas1: u32,
    /// MAS2: EPN and the WIMGE/X0/X1 attributes.
    pub mas2: u64,
    /// MAS7 (upper RPN) in bits 63..32, MAS3 (lower RPN, U0-U3, permissions) in bits 31..0.
    pub mas7_3: u64,
}

/// `struct kvm_book3e_206_tlb_params`: the TLB geometry given to `KVM_CONFIG_TLB`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct kvm_book3e_206_tlb_params {
    /// Number of entries of TLB0..TLB3.
    pub tlb_sizes: [u32; 4],
    /// Associativity of TLB0..TLB3 (`tlb_ways[n] == tlb_sizes[n]`: fully associative).
    pub tlb_ways: [u32; 4],
    /// Reserved, zero.
    pub reserved: [u32; 8],
}

// ---------------------------------------------------------------------------------------------
// linux/kvm.h and asm/kvm.h: the FSL MPIC device
// ---------------------------------------------------------------------------------------------

/// `KVM_DEV_TYPE_FSL_MPIC_20`: the FSL MPIC 2.0 (e500v2 class).
pub const KVM_DEV_TYPE_FSL_MPIC_20: u32 = 1;
/// `KVM_DEV_TYPE_FSL_MPIC_42`: the FSL MPIC 4.2 (e500mc class).
pub const KVM_DEV_TYPE_FSL_MPIC_42: u32 = 2;

/// `KVM_DEV_MPIC_GRP_MISC`: miscellaneous attributes.
pub const KVM_DEV_MPIC_GRP_MISC: u32 = 1;
/// `KVM_DEV_MPIC_BASE_ADDR` (in `KVM_DEV_MPIC_GRP_MISC`, 64-bit): the guest physical base
/// address of the MPIC register window (0: not mapped).
pub const KVM_DEV_MPIC_BASE_ADDR: u64 = 0;
/// `KVM_DEV_MPIC_GRP_REGISTER` (32-bit): a register, by offset from the MPIC base.
pub const KVM_DEV_MPIC_GRP_REGISTER: u32 = 2;
/// `KVM_DEV_MPIC_GRP_IRQ_ACTIVE` (32-bit): the input line of an interrupt source, by source
/// number.
pub const KVM_DEV_MPIC_GRP_IRQ_ACTIVE: u32 = 3;

// ---------------------------------------------------------------------------------------------
// linux/kvm.h and asm/kvm.h: ONE_REG ids used by BookE
// ---------------------------------------------------------------------------------------------

/// `KVM_REG_PPC`: the PowerPC arch field of a ONE_REG id.
pub const KVM_REG_PPC: u64 = 0x1000_0000_0000_0000;
/// `KVM_REG_SIZE_U32`: the size field of a 32-bit ONE_REG id.
pub const KVM_REG_SIZE_U32: u64 = 0x0020_0000_0000_0000;
/// `KVM_REG_SIZE_U64`: the size field of a 64-bit ONE_REG id.
pub const KVM_REG_SIZE_U64: u64 = 0x0030_0000_0000_0000;

/// `KVM_REG_PPC_IAC1`.
pub const KVM_REG_PPC_IAC1: u64 = KVM_REG_PPC | KVM_REG_SIZE_U64 | 0x2;
/// `KVM_REG_PPC_IAC2`.
pub const KVM_REG_PPC_IAC2: u64 = KVM_REG_PPC | KVM_REG_SIZE_U64 | 0x3;
/// `KVM_REG_PPC_IAC3`.
pub const KVM_REG_PPC_IAC3: u64 = KVM_REG_PPC | KVM_REG_SIZE_U64 | 0x4;
/// `KVM_REG_PPC_IAC4`.
pub const KVM_REG_PPC_IAC4: u64 = KVM_REG_PPC | KVM_REG_SIZE_U64 | 0x5;
/// `KVM_REG_PPC_DAC1`.
pub const KVM_REG_PPC_DAC1: u64 = KVM_REG_PPC | KVM_REG_SIZE_U64 | 0x6;
/// `KVM_REG_PPC_DAC2`.
pub const KVM_REG_PPC_DAC2: u64 = KVM_REG_PPC | KVM_REG_SIZE_U64 | 0x7;
/// `KVM_REG_PPC_EPCR`.
pub const KVM_REG_PPC_EPCR: u64 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0x85;
/// `KVM_REG_PPC_EPR`.
pub const KVM_REG_PPC_EPR: u64 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0x86;
/// `KVM_REG_PPC_OR_TSR`.
pub const KVM_REG_PPC_OR_TSR: u64 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0x87;
/// `KVM_REG_PPC_CLEAR_TSR`.
pub const KVM_REG_PPC_CLEAR_TSR: u64 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0x88;
/// `KVM_REG_PPC_TCR`.
pub const KVM_REG_PPC_TCR: u64 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0x89;
/// `KVM_REG_PPC_TSR`.
pub const KVM_REG_PPC_TSR: u64 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0x8a;
/// `KVM_REG_PPC_DEBUG_INST`.
pub const KVM_REG_PPC_DEBUG_INST: u64 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0x8b;
/// `KVM_REG_PPC_MAS0`.
pub const KVM_REG_PPC_MAS0: u64 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0x8c;
/// `KVM_REG_PPC_MAS1`.
pub const KVM_REG_PPC_MAS1: u64 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0x8d;
/// `KVM_REG_PPC_MAS2`.
pub const KVM_REG_PPC_MAS2: u64 = KVM_REG_PPC | KVM_REG_SIZE_U64 | 0x8e;
/// `KVM_REG_PPC_MAS7_3`.
pub const KVM_REG_PPC_MAS7_3: u64 = KVM_REG_PPC | KVM_REG_SIZE_U64 | 0x8f;
/// `KVM_REG_PPC_MAS4`.
pub const KVM_REG_PPC_MAS4: u64 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0x90;
/// `KVM_REG_PPC_MAS6`.
pub const KVM_REG_PPC_MAS6: u64 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0x91;
/// `KVM_REG_PPC_MMUCFG`.
pub const KVM_REG_PPC_MMUCFG: u64 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0x92;
/// `KVM_REG_PPC_TLB0CFG`.
pub const KVM_REG_PPC_TLB0CFG: u64 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0x93;
/// `KVM_REG_PPC_TLB1CFG`.
pub const KVM_REG_PPC_TLB1CFG: u64 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0x94;
/// `KVM_REG_PPC_TLB2CFG`.
pub const KVM_REG_PPC_TLB2CFG: u64 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0x95;
/// `KVM_REG_PPC_TLB3CFG`.
pub const KVM_REG_PPC_TLB3CFG: u64 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0x96;
/// `KVM_REG_PPC_TLB0PS`.
pub const KVM_REG_PPC_TLB0PS: u64 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0x97;
/// `KVM_REG_PPC_TLB1PS`.
pub const KVM_REG_PPC_TLB1PS: u64 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0x98;
/// `KVM_REG_PPC_TLB2PS`.
pub const KVM_REG_PPC_TLB2PS: u64 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0x99;
/// `KVM_REG_PPC_TLB3PS`.
pub const KVM_REG_PPC_TLB3PS: u64 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0x9a;
/// `KVM_REG_PPC_EPTCFG`.
pub const KVM_REG_PPC_EPTCFG: u64 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0x9b;
/// `KVM_REG_PPC_PID`.
pub const KVM_REG_PPC_PID: u64 = KVM_REG_PPC | KVM_REG_SIZE_U64 | 0xb2;
/// `KVM_REG_PPC_VRSAVE`.
pub const KVM_REG_PPC_VRSAVE: u64 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0xb4;
/// `KVM_REG_PPC_SPRG9`.
pub const KVM_REG_PPC_SPRG9: u64 = KVM_REG_PPC | KVM_REG_SIZE_U64 | 0xba;
/// `KVM_REG_PPC_DBSR`.
pub const KVM_REG_PPC_DBSR: u64 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0xbb;

// ---------------------------------------------------------------------------------------------
// asm/kvm.h: struct kvm_sregs, union member `u.e` (BookE)
// ---------------------------------------------------------------------------------------------

/// `KVM_SREGS_E_IMPL_NONE`: `u.e.impl` carries nothing.
pub const KVM_SREGS_E_IMPL_NONE: u32 = 0;
/// `KVM_SREGS_E_IMPL_FSL`: `u.e.impl` is the Freescale block.
pub const KVM_SREGS_E_IMPL_FSL: u32 = 1;
/// `KVM_SREGS_E_FSL_PIDn`: PID1/PID2 are valid in the Freescale block.
#[allow(non_upper_case_globals)]
pub const KVM_SREGS_E_FSL_PIDn: u32 = 1 << 0;

/// `KVM_SREGS_E_BASE`: CSRR0/1, ESR, DEAR, MCSR, TSR, TCR, DEC, TB, VRSAVE.
pub const KVM_SREGS_E_BASE: u32 = 1 << 0;
/// `KVM_SREGS_E_ARCH206`: PIR, MCSRR0/1, DECAR, IVPR.
pub const KVM_SREGS_E_ARCH206: u32 = 1 << 1;
/// `KVM_SREGS_E_64`: EPCR and the upper halves of 64-bit registers.
pub const KVM_SREGS_E_64: u32 = 1 << 2;
/// `KVM_SREGS_E_SPRG8`.
pub const KVM_SREGS_E_SPRG8: u32 = 1 << 3;
/// `KVM_SREGS_E_MCIVPR`.
pub const KVM_SREGS_E_MCIVPR: u32 = 1 << 4;
/// `KVM_SREGS_E_IVOR`: IVOR0-15 (and more with other feature bits).
pub const KVM_SREGS_E_IVOR: u32 = 1 << 5;
/// `KVM_SREGS_E_ARCH206_MMU`: MAS0-4, MAS6-7, TLBnCFG, MMUCFG (and TLBnPS if `MMUCFG[MAVN]`=1).
pub const KVM_SREGS_E_ARCH206_MMU: u32 = 1 << 6;
/// `KVM_SREGS_E_DEBUG`: DBSR, DBCR, IAC, DAC, DVC.
pub const KVM_SREGS_E_DEBUG: u32 = 1 << 7;
/// `KVM_SREGS_E_ED`: DSRR0/1, SPRG9.
pub const KVM_SREGS_E_ED: u32 = 1 << 8;
/// `KVM_SREGS_E_SPE`: IVOR32-34 with `KVM_SREGS_E_IVOR`.
pub const KVM_SREGS_E_SPE: u32 = 1 << 9;
/// `KVM_SREGS_EXP` (deprecated; use ONE_REG `KVM_REG_PPC_EPR`).
pub const KVM_SREGS_EXP: u32 = 1 << 10;
/// `KVM_SREGS_E_PD`: EPSC/EPLC.
pub const KVM_SREGS_E_PD: u32 = 1 << 11;
/// `KVM_SREGS_E_PC`: IVOR36-37 with `KVM_SREGS_E_IVOR`.
pub const KVM_SREGS_E_PC: u32 = 1 << 12;
/// `KVM_SREGS_E_PT`: EPTCFG.
pub const KVM_SREGS_E_PT: u32 = 1 << 13;
/// `KVM_SREGS_E_PM`: IVOR35 with `KVM_SREGS_E_IVOR`.
pub const KVM_SREGS_E_PM: u32 = 1 << 14;

/// `KVM_SREGS_E_UPDATE_MCSR`.
pub const KVM_SREGS_E_UPDATE_MCSR: u32 = 1 << 0;
/// `KVM_SREGS_E_UPDATE_TSR`.
pub const KVM_SREGS_E_UPDATE_TSR: u32 = 1 << 1;
/// `KVM_SREGS_E_UPDATE_DEC`.
pub const KVM_SREGS_E_UPDATE_DEC: u32 = 1 << 2;
/// `KVM_SREGS_E_UPDATE_DBSR`.
pub const KVM_SREGS_E_UPDATE_DBSR: u32 = 1 << 3;

/// Offset of the union `u` (and so of `u.e`) inside `struct kvm_sregs`.
pub const KVM_SREGS_U_OFFSET: usize = 8;
/// `sizeof(struct kvm_sregs)` on powerpc64 (the union's largest member is the Book3S `s`).
pub const KVM_SREGS_SIZE: usize = 1232;

/// The Freescale block of `u.e.impl` (`KVM_SREGS_E_IMPL_FSL`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct kvm_sregs_e_fsl {
    /// `KVM_SREGS_E_FSL_*` feature bits.
    pub features: u32,
    /// System version register.
    pub svr: u32,
    /// Machine-check address register.
    pub mcar: u64,
    /// HID0.
    pub hid0: u32,
    /// PID1 (with `KVM_SREGS_E_FSL_PIDn`).
    pub pid1: u32,
    /// PID2 (with `KVM_SREGS_E_FSL_PIDn`).
    pub pid2: u32,
}

/// The implementation-specific union `u.e.impl` (256 bytes).
#[repr(C)]
#[derive(Clone, Copy)]
pub union kvm_sregs_e_impl {
    /// The Freescale block.
    pub fsl: kvm_sregs_e_fsl,
    /// The raw bytes.
    pub pad: [u8; 256],
}

impl kvm_sregs_e_impl {
    /// The Freescale view of the union.
    pub fn fsl(&self) -> kvm_sregs_e_fsl {
        // SAFETY: both members are plain integers/bytes, valid for every bit pattern, and every
        // value of this union is fully initialised: it is built from `pad` (all 256 bytes) or
        // from `fsl` through `set_fsl`, which starts from a zeroed `pad`.
        unsafe { self.fsl }
    }

    /// Replaces the union's contents with the Freescale block (the rest is zero).
    pub fn set_fsl(&mut self, fsl: kvm_sregs_e_fsl) {
        *self = Self { pad: [0; 256] };
        self.fsl = fsl;
    }

    /// The raw bytes of the union.
    pub fn bytes(&self) -> [u8; 256] {
        // SAFETY: as in `fsl`: the union is always fully initialised and `[u8; 256]` has no
        // invalid bit patterns. Padding inside `fsl` (bytes 28..32) is part of the zeroed `pad`.
        unsafe { self.pad }
    }
}

impl Default for kvm_sregs_e_impl {
    fn default() -> Self {
        Self { pad: [0; 256] }
    }
}

impl std::fmt::Debug for kvm_sregs_e_impl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("kvm_sregs_e_impl")
            .field("fsl", &self.fsl())
            .finish_non_exhaustive()
    }
}

/// `u.e` of `struct kvm_sregs`: the BookE special registers (`KVM_GET_SREGS`/`KVM_SET_SREGS`).
///
/// It sits at [`KVM_SREGS_U_OFFSET`] inside the `struct kvm_sregs` buffer of [`KVM_SREGS_SIZE`]
/// bytes that the PowerPC ioctl layer owns.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct kvm_sregs_e {
    /// Implementation-specific block (`impl_id`).
    pub impl_: kvm_sregs_e_impl,
    /// `KVM_SREGS_E_*` feature bits.
    pub features: u32,
    /// `KVM_SREGS_E_IMPL_*`.
    pub impl_id: u32,
    /// `KVM_SREGS_E_UPDATE_*`.
    pub update_special: u32,
    /// Processor id (read-only).
    pub pir: u32,
    /// SPRG8.
    pub sprg8: u64,
    /// SPRG9 (E.ED).
    pub sprg9: u64,
    /// CSRR0.
    pub csrr0: u64,
    /// DSRR0 (E.ED).
    pub dsrr0: u64,
    /// MCSRR0.
    pub mcsrr0: u64,
    /// CSRR1.
    pub csrr1: u32,
    /// DSRR1 (E.ED).
    pub dsrr1: u32,
    /// MCSRR1.
    pub mcsrr1: u32,
    /// ESR.
    pub esr: u32,
    /// DEAR.
    pub dear: u64,
    /// IVPR.
    pub ivpr: u64,
    /// MCIVPR.
    pub mcivpr: u64,
    /// MCSR (`KVM_SREGS_E_UPDATE_MCSR`).
    pub mcsr: u64,
    /// TSR (`KVM_SREGS_E_UPDATE_TSR`).
    pub tsr: u32,
    /// TCR.
    pub tcr: u32,
    /// DECAR.
    pub decar: u32,
    /// DEC (`KVM_SREGS_E_UPDATE_DEC`).
    pub dec: u32,
    /// TB (read-only, consistent with `dec`).
    pub tb: u64,
    /// DBSR (`KVM_SREGS_E_UPDATE_DBSR`).
    pub dbsr: u32,
    /// DBCR0-2.
    pub dbcr: [u32; 3],
    /// IAC1-4 (low 32 bits).
    pub iac: [u32; 4],
    /// DAC1-2 (low 32 bits).
    pub dac: [u32; 2],
    /// DVC1-2.
    pub dvc: [u32; 2],
    /// Number of IACs (read-only).
    pub num_iac: u8,
    /// Number of DACs (read-only).
    pub num_dac: u8,
    /// Number of DVCs (read-only).
    pub num_dvc: u8,
    /// Padding.
    pub pad: u8,
    /// EPR (EXP).
    pub epr: u32,
    /// VRSAVE (USPRG0).
    pub vrsave: u32,
    /// EPCR (`KVM_SREGS_E_64`).
    pub epcr: u32,
    /// MAS0.
    pub mas0: u32,
    /// MAS1.
    pub mas1: u32,
    /// MAS2.
    pub mas2: u64,
    /// MAS7 || MAS3.
    pub mas7_3: u64,
    /// MAS4.
    pub mas4: u32,
    /// MAS6.
    pub mas6: u32,
    /// IVOR0-15.
    pub ivor_low: [u32; 16],
    /// IVOR32 and up.
    pub ivor_high: [u32; 18],
    /// MMUCFG (read-only).
    pub mmucfg: u32,
    /// EPTCFG (E.PT, read-only).
    pub eptcfg: u32,
    /// TLB0CFG-TLB3CFG (read-only).
    pub tlbcfg: [u32; 4],
    /// TLB0PS-TLB3PS (read-only).
    pub tlbps: [u32; 4],
    /// EPLC (E.PD).
    pub eplc: u32,
    /// EPSC (E.PD).
    pub epsc: u32,
}

// Checked at compile time on every target, so the powerpc64 cross build proves them there too
// (values from powerpc64-linux-gnu-gcc on the uapi headers; the tests below check every field).
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<kvm_book3e_206_tlb_entry>() == 24);
    assert!(offset_of!(kvm_book3e_206_tlb_entry, mas7_3) == 16);
    assert!(size_of::<kvm_book3e_206_tlb_params>() == 64);
    assert!(size_of::<kvm_config_tlb>() == 24);
    assert!(offset_of!(kvm_config_tlb, array_len) == 20);
    assert!(size_of::<kvm_dirty_tlb>() == 16);
    assert!(size_of::<kvm_sregs_e_impl>() == 256);
    assert!(size_of::<kvm_sregs_e>() == 664);
    assert!(offset_of!(kvm_sregs_e, mas0) + KVM_SREGS_U_OFFSET == 456);
    assert!(offset_of!(kvm_sregs_e, ivor_low) + KVM_SREGS_U_OFFSET == 488);
    assert!(offset_of!(kvm_sregs_e, epsc) + KVM_SREGS_U_OFFSET == 668);
};

#[cfg(test)]
mod tests {
    //! Sizes and offsets, derived from the powerpc64 uapi headers with
    //! `powerpc64-linux-gnu-gcc -S` on `offsetof`/`sizeof` (u.e offsets below are relative to
    //! `u.e`; the C offsets inside `struct kvm_sregs` are 8 more).
    use super::*;
    use std::mem::{align_of, offset_of, size_of};

    #[test]
    fn tlb_entry_layout() {
        assert_eq!(size_of::<kvm_book3e_206_tlb_entry>(), 24);
        assert_eq!(align_of::<kvm_book3e_206_tlb_entry>(), 8);
        assert_eq!(offset_of!(kvm_book3e_206_tlb_entry, mas8), 0);
        assert_eq!(offset_of!(kvm_book3e_206_tlb_entry, mas1), 4);
        assert_eq!(offset_of!(kvm_book3e_206_tlb_entry, mas2), 8);
        assert_eq!(offset_of!(kvm_book3e_206_tlb_entry, mas7_3), 16);
    }

    #[test]
    fn tlb_params_layout() {
        assert_eq!(size_of::<kvm_book3e_206_tlb_params>(), 64);
        assert_eq!(offset_of!(kvm_book3e_206_tlb_params, tlb_sizes), 0);
        assert_eq!(offset_of!(kvm_book3e_206_tlb_params, tlb_ways), 16);
        assert_eq!(offset_of!(kvm_book3e_206_tlb_params, reserved), 32);
    }

    #[test]
    fn config_and_dirty_layout() {
        assert_eq!(size_of::<kvm_config_tlb>(), 24);
        assert_eq!(offset_of!(kvm_config_tlb, params), 0);
        assert_eq!(offset_of!(kvm_config_tlb, array), 8);
        assert_eq!(offset_of!(kvm_config_tlb, mmu_type), 16);
        assert_eq!(offset_of!(kvm_config_tlb, array_len), 20);
        assert_eq!(size_of::<kvm_dirty_tlb>(), 16);
        assert_eq!(offset_of!(kvm_dirty_tlb, bitmap), 0);
        assert_eq!(offset_of!(kvm_dirty_tlb, num_dirty), 8);
    }

    #[test]
    fn sregs_e_layout() {
        assert_eq!(size_of::<kvm_sregs_e_impl>(), 256);
        assert_eq!(size_of::<kvm_sregs_e_fsl>(), 32);
        assert_eq!(offset_of!(kvm_sregs_e_fsl, svr), 4);
        assert_eq!(offset_of!(kvm_sregs_e_fsl, mcar), 8);
        assert_eq!(offset_of!(kvm_sregs_e_fsl, hid0), 16);
        assert_eq!(offset_of!(kvm_sregs_e_fsl, pid1), 20);
        assert_eq!(offset_of!(kvm_sregs_e_fsl, pid2), 24);

        let u = KVM_SREGS_U_OFFSET;
        assert_eq!(size_of::<kvm_sregs_e>(), 664);
        assert!(u + size_of::<kvm_sregs_e>() <= KVM_SREGS_SIZE);
        let abs = [
            (offset_of!(kvm_sregs_e, impl_), 8),
            (offset_of!(kvm_sregs_e, features), 264),
            (offset_of!(kvm_sregs_e, impl_id), 268),
            (offset_of!(kvm_sregs_e, update_special), 272),
            (offset_of!(kvm_sregs_e, pir), 276),
            (offset_of!(kvm_sregs_e, sprg8), 280),
            (offset_of!(kvm_sregs_e, sprg9), 288),
            (offset_of!(kvm_sregs_e, csrr0), 296),
            (offset_of!(kvm_sregs_e, dsrr0), 304),
            (offset_of!(kvm_sregs_e, mcsrr0), 312),
            (offset_of!(kvm_sregs_e, csrr1), 320),
            (offset_of!(kvm_sregs_e, dsrr1), 324),
            (offset_of!(kvm_sregs_e, mcsrr1), 328),
            (offset_of!(kvm_sregs_e, esr), 332),
            (offset_of!(kvm_sregs_e, dear), 336),
            (offset_of!(kvm_sregs_e, ivpr), 344),
            (offset_of!(kvm_sregs_e, mcivpr), 352),
            (offset_of!(kvm_sregs_e, mcsr), 360),
            (offset_of!(kvm_sregs_e, tsr), 368),
            (offset_of!(kvm_sregs_e, tcr), 372),
            (offset_of!(kvm_sregs_e, decar), 376),
            (offset_of!(kvm_sregs_e, dec), 380),
            (offset_of!(kvm_sregs_e, tb), 384),
            (offset_of!(kvm_sregs_e, dbsr), 392),
            (offset_of!(kvm_sregs_e, dbcr), 396),
            (offset_of!(kvm_sregs_e, iac), 408),
            (offset_of!(kvm_sregs_e, dac), 424),
            (offset_of!(kvm_sregs_e, dvc), 432),
            (offset_of!(kvm_sregs_e, num_iac), 440),
            (offset_of!(kvm_sregs_e, num_dac), 441),
            (offset_of!(kvm_sregs_e, num_dvc), 442),
            (offset_of!(kvm_sregs_e, pad), 443),
            (offset_of!(kvm_sregs_e, epr), 444),
            (offset_of!(kvm_sregs_e, vrsave), 448),
            (offset_of!(kvm_sregs_e, epcr), 452),
            (offset_of!(kvm_sregs_e, mas0), 456),
            (offset_of!(kvm_sregs_e, mas1), 460),
            (offset_of!(kvm_sregs_e, mas2), 464),
            (offset_of!(kvm_sregs_e, mas7_3), 472),
            (offset_of!(kvm_sregs_e, mas4), 480),
            (offset_of!(kvm_sregs_e, mas6), 484),
            (offset_of!(kvm_sregs_e, ivor_low), 488),
            (offset_of!(kvm_sregs_e, ivor_high), 552),
            (offset_of!(kvm_sregs_e, mmucfg), 624),
            (offset_of!(kvm_sregs_e, eptcfg), 628),
            (offset_of!(kvm_sregs_e, tlbcfg), 632),
            (offset_of!(kvm_sregs_e, tlbps), 648),
            (offset_of!(kvm_sregs_e, eplc), 664),
            (offset_of!(kvm_sregs_e, epsc), 668),
        ];
        for (i, (rust, c_abs)) in abs.iter().enumerate() {
            assert_eq!(rust + u, *c_abs, "field #{i} of u.e");
        }
    }

    #[test]
    fn impl_union_accessors() {
        let mut imp = kvm_sregs_e_impl::default();
        let fsl = kvm_sregs_e_fsl {
            features: KVM_SREGS_E_FSL_PIDn,
            svr: 0x8024_0011,
            mcar: 0x1234,
            hid0: 0x8000_0000,
            pid1: 3,
            pid2: 4,
        };
        imp.set_fsl(fsl);
        assert_eq!(imp.fsl(), fsl);
        let bytes = imp.bytes();
        assert_eq!(&bytes[4..8], &0x8024_0011u32.to_ne_bytes());
        assert!(bytes[32..].iter().all(|b| *b == 0));
    }

    #[test]
    fn constants_match_headers() {
        // linux/kvm.h
        assert_eq!(KVM_CAP_SW_TLB, 69);
        assert_eq!(KVM_CAP_PPC_EPR, 86);
        assert_eq!(KVM_CAP_IRQ_MPIC, 90);
        assert_eq!((KVM_MMU_FSL_BOOKE_NOHV, KVM_MMU_FSL_BOOKE_HV), (0, 1));
        assert_eq!((KVM_DEV_TYPE_FSL_MPIC_20, KVM_DEV_TYPE_FSL_MPIC_42), (1, 2));
        // asm/kvm.h
        assert_eq!(KVM_DEV_MPIC_GRP_MISC, 1);
        assert_eq!(KVM_DEV_MPIC_BASE_ADDR, 0);
        assert_eq!(KVM_DEV_MPIC_GRP_REGISTER, 2);
        assert_eq!(KVM_DEV_MPIC_GRP_IRQ_ACTIVE, 3);
        assert_eq!(KVM_REG_PPC_MAS0, 0x1020_0000_0000_008c);
        assert_eq!(KVM_REG_PPC_MAS7_3, 0x1030_0000_0000_008f);
        assert_eq!(KVM_REG_PPC_TLB3PS, 0x1020_0000_0000_009a);
        assert_eq!(KVM_SREGS_E_PM, 0x4000);
    }
}
