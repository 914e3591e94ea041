//! The MMU configuration registers a guest reads (TLBnCFG, TLBnPS, MMUCFG), derived from the TLB
//! geometry the way KVM does after `KVM_CONFIG_TLB`: the core's own bits, with `TLBnCFG[NENTRY]`
//! and `TLBnCFG[ASSOC]` replaced by the geometry (NENTRY reads 0 above 2048 entries).
//!
//! The per-core base values are modelled from the Freescale core reference manuals as far as
//! tetra needs them (page sizes, IPROT, MMU version, PID and real-address sizes); on a real host
//! KVM reads them from the host's SPRs, and `KVM_GET_SREGS` / ONE_REG report the truth.

use super::geometry::{Tlb, TlbGeometry};

/// `TLBnCFG[NENTRY]`: number of entries.
pub const TLBNCFG_N_ENTRY: u32 = 0x0000_0fff;
/// `TLBnCFG[HES]`: hardware entry select.
pub const TLBNCFG_HES: u32 = 0x0000_2000;
/// `TLBnCFG[AVAIL]`: variable page size.
pub const TLBNCFG_AVAIL: u32 = 0x0000_4000;
/// `TLBnCFG[IPROT]`: invalidate protection supported.
pub const TLBNCFG_IPROT: u32 = 0x0000_8000;
/// `TLBnCFG[MAXSIZE]` (MMU v1): log4 of the largest page in KiB.
pub const TLBNCFG_MAXSIZE_SHIFT: u32 = 16;
/// `TLBnCFG[MINSIZE]` (MMU v1): log4 of the smallest page in KiB.
pub const TLBNCFG_MINSIZE_SHIFT: u32 = 20;
/// `TLBnCFG[ASSOC]`: associativity.
pub const TLBNCFG_ASSOC_SHIFT: u32 = 24;
/// Above this many entries KVM reports NENTRY as 0 (the field has 12 bits).
pub const NENTRY_LIMIT: u32 = 2048;

/// `MMUCFG[MAVN]`: MMU architecture version (0: v1.0, 1: v2.0).
pub const MMUCFG_MAVN_MASK: u32 = 0x0000_0003;
/// `MMUCFG[NTLBS]`: number of TLBs minus one.
pub const MMUCFG_NTLBS_SHIFT: u32 = 2;
/// `MMUCFG[PIDSIZE]`: PID register size minus one.
pub const MMUCFG_PIDSIZE_SHIFT: u32 = 6;
/// `MMUCFG[NPIDS]`: number of PID registers (e500v2: PID0-2; e500mc and later: one).
pub const MMUCFG_NPIDS_SHIFT: u32 = 11;
/// `MMUCFG[RASIZE]`: real address size in bits.
pub const MMUCFG_RASIZE_SHIFT: u32 = 17;

/// MMU architecture version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmuVersion {
    /// MAV 1.0 (e500v2, e500mc, e5500): page sizes in TLBnCFG MINSIZE/MAXSIZE, powers of 4.
    V1,
    /// MAV 2.0 (e6500): page sizes in TLBnPS.
    V2,
}

/// The MMU-relevant facts of a core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreMmu {
    /// The core's name.
    pub name: &'static str,
    /// MMU architecture version.
    pub version: MmuVersion,
    /// Bits of the PID register (and of `MAS1[TID]`).
    pub pid_bits: u32,
    /// Number of PID registers.
    pub npids: u32,
    /// Bits of a real address.
    pub ra_bits: u32,
    /// TLB1 page sizes, as a TLBnPS mask (bit n: 2^n KiB).
    pub tlb1_page_sizes: u32,
}

/// TLBnPS mask of 4 KiB only (TLB0 under KVM).
pub const PS_4K: u32 = 1 << 2;
/// Powers of 4 from 4 KiB to 256 MiB (e500v2 TLB1: `MAS1[TSIZE]` 1-9 in its v1 encoding).
pub const PS_POW4_4K_256M: u32 = 0x0005_5554;
/// Powers of 4 from 4 KiB to 4 GiB (e500mc/e5500 TLB1).
pub const PS_POW4_4K_4G: u32 = 0x0055_5554;
/// Powers of 2 from 4 KiB to 1 TiB (e6500 TLB1, as modelled).
pub const PS_POW2_4K_1T: u32 = 0x7fff_fffc;

impl CoreMmu {
    /// e500v2 (MPC85xx): three PID registers, TLB1 pages up to 256 MiB.
    pub const E500V2: CoreMmu = CoreMmu {
        name: "e500v2",
        version: MmuVersion::V1,
        pid_bits: 8,
        npids: 3,
        ra_bits: 36,
        tlb1_page_sizes: PS_POW4_4K_256M,
    };
    /// e500mc.
    pub const E500MC: CoreMmu = CoreMmu {
        name: "e500mc",
        version: MmuVersion::V1,
        pid_bits: 8,
        npids: 1,
        ra_bits: 36,
        tlb1_page_sizes: PS_POW4_4K_4G,
    };
    /// e5500.
    pub const E5500: CoreMmu = CoreMmu {
        name: "e5500",
        version: MmuVersion::V1,
        pid_bits: 8,
        npids: 1,
        ra_bits: 36,
        tlb1_page_sizes: PS_POW4_4K_4G,
    };
    /// e6500.
    pub const E6500: CoreMmu = CoreMmu {
        name: "e6500",
        version: MmuVersion::V2,
        pid_bits: 14,
        npids: 1,
        ra_bits: 40,
        tlb1_page_sizes: PS_POW2_4K_1T,
    };

    /// The page sizes `tlb` supports, as a TLBnPS mask (TLB0: 4 KiB only).
    pub fn page_sizes(&self, tlb: Tlb) -> u32 {
        match tlb {
            Tlb::Tlb0 => PS_4K,
            Tlb::Tlb1 => self.tlb1_page_sizes,
        }
    }

    /// Whether `tlb` supports pages of `1 KiB << tsize` (`MAS1[TSIZE]`).
    pub fn supports_tsize(&self, tlb: Tlb, tsize: u32) -> bool {
        tsize < 32 && self.page_sizes(tlb) & (1 << tsize) != 0
    }

    /// TLBnCFG as the guest reads it.
    pub fn tlbncfg(&self, geometry: &TlbGeometry, tlb: Tlb) -> u32 {
        let entries = geometry.entries(tlb);
        let mut cfg = 0;
        if entries <= NENTRY_LIMIT {
            cfg |= entries & TLBNCFG_N_ENTRY;
        }
        cfg |= (geometry.ways(tlb) & 0xff) << TLBNCFG_ASSOC_SHIFT;
        if tlb == Tlb::Tlb1 {
            cfg |= TLBNCFG_IPROT | TLBNCFG_AVAIL;
        }
        if self.version == MmuVersion::V1 {
            let ps = self.page_sizes(tlb);
            // MINSIZE/MAXSIZE are log4(KiB): 4 KiB is 1, 4 GiB is 11.
            let min = ps.trailing_zeros() / 2;
            let max = (31 - ps.leading_zeros()) / 2;
            cfg |= (min << TLBNCFG_MINSIZE_SHIFT) | (max << TLBNCFG_MAXSIZE_SHIFT);
        }
        cfg
    }

    /// TLBnPS as the guest reads it (0 on MMU v1, where KVM does not report it).
    pub fn tlbnps(&self, tlb: Tlb) -> u32 {
        match self.version {
            MmuVersion::V1 => 0,
            MmuVersion::V2 => self.page_sizes(tlb),
        }
    }

    /// MMUCFG as the guest reads it (two TLBs; LPIDSIZE cleared, as KVM does).
    pub fn mmucfg(&self) -> u32 {
        let mavn = match self.version {
            MmuVersion::V1 => 0,
            MmuVersion::V2 => 1,
        };
        mavn | (1 << MMUCFG_NTLBS_SHIFT)
            | ((self.pid_bits - 1) << MMUCFG_PIDSIZE_SHIFT)
            | ((self.npids & 0xf) << MMUCFG_NPIDS_SHIFT)
            | (self.ra_bits << MMUCFG_RASIZE_SHIFT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e500mc_values() {
        let g = TlbGeometry::E500MC;
        let c = CoreMmu::E500MC;
        // The well-known e500mc reset values: TLB0CFG 0x04110200, TLB1CFG 0x401bc040.
        assert_eq!(c.tlbncfg(&g, Tlb::Tlb0), 0x0411_0200);
        assert_eq!(c.tlbncfg(&g, Tlb::Tlb1), 0x401b_c040);
        assert_eq!(c.tlbnps(Tlb::Tlb1), 0);
        let m = c.mmucfg();
        assert_eq!(m & MMUCFG_MAVN_MASK, 0);
        assert_eq!((m >> MMUCFG_NTLBS_SHIFT) & 3, 1);
        assert_eq!((m >> MMUCFG_PIDSIZE_SHIFT) & 0x1f, 7);
        assert_eq!((m >> MMUCFG_RASIZE_SHIFT) & 0x7f, 36);
        assert_eq!((m >> MMUCFG_NPIDS_SHIFT) & 0xf, 1);
    }

    /// e500v2: TLB0CFG 0x04110200 (4-way, 512 entries, 4 KiB pages only, as e500mc), TLB1CFG
    /// 0x1019c010 (fully associative, 16 entries, IPROT, AVAIL, MINSIZE 1 = 4 KiB, MAXSIZE 9 =
    /// 256 MiB), MMUCFG with NPIDS 3 (PID0-2).
    #[test]
    fn e500v2_values() {
        let g = TlbGeometry::E500V2;
        let c = CoreMmu::E500V2;
        assert_eq!(c.tlbncfg(&g, Tlb::Tlb0), 0x0411_0200);
        assert_eq!(c.tlbncfg(&g, Tlb::Tlb1), 0x1019_c010);
        assert_eq!(c.tlbnps(Tlb::Tlb1), 0);
        let m = c.mmucfg();
        assert_eq!(m & MMUCFG_MAVN_MASK, 0);
        assert_eq!((m >> MMUCFG_NTLBS_SHIFT) & 3, 1);
        assert_eq!((m >> MMUCFG_PIDSIZE_SHIFT) & 0x1f, 7);
        assert_eq!((m >> MMUCFG_NPIDS_SHIFT) & 0xf, 3);
        assert_eq!((m >> MMUCFG_RASIZE_SHIFT) & 0x7f, 36);
        // 256 MiB is the largest TLB1 page; 1 GiB (e500mc's) is not there.
        assert!(c.supports_tsize(Tlb::Tlb1, 18));
        assert!(!c.supports_tsize(Tlb::Tlb1, 20));
        assert!(!c.supports_tsize(Tlb::Tlb0, 4));
    }

    /// asm/kvm.h: "KVM will adjust TLBnCFG based on the sizes configured here, though arrays
    /// greater than 2048 entries will have `TLBnCFG[NENTRY]` set to zero."
    #[test]
    fn nentry_reads_zero_above_2048() {
        let c = CoreMmu::E6500;
        let at = TlbGeometry::new(2048, 8, 64).unwrap();
        assert_eq!(c.tlbncfg(&at, Tlb::Tlb0) & TLBNCFG_N_ENTRY, 2048);
        let above = TlbGeometry::new(4096, 8, 64).unwrap();
        let cfg = c.tlbncfg(&above, Tlb::Tlb0);
        assert_eq!(cfg & TLBNCFG_N_ENTRY, 0);
        assert_eq!(cfg >> TLBNCFG_ASSOC_SHIFT, 8);
        let small = TlbGeometry::new(64, 2, 16).unwrap();
        assert_eq!(
            c.tlbncfg(&small, Tlb::Tlb1),
            16 | (16 << 24) | TLBNCFG_IPROT | TLBNCFG_AVAIL
        );
    }

    #[test]
    fn page_sizes() {
        let v1 = CoreMmu::E5500;
        assert!(v1.supports_tsize(Tlb::Tlb1, 2)); // 4 KiB
        assert!(v1.supports_tsize(Tlb::Tlb1, 14)); // 16 MiB
        assert!(v1.supports_tsize(Tlb::Tlb1, 22)); // 4 GiB
        assert!(!v1.supports_tsize(Tlb::Tlb1, 13)); // 8 MiB: not a power of 4
        assert!(!v1.supports_tsize(Tlb::Tlb1, 24));
        assert!(v1.supports_tsize(Tlb::Tlb0, 2));
        assert!(!v1.supports_tsize(Tlb::Tlb0, 4));
        let v2 = CoreMmu::E6500;
        assert!(v2.supports_tsize(Tlb::Tlb1, 13));
        assert_eq!(v2.tlbnps(Tlb::Tlb0), PS_4K);
        assert_eq!(v2.mmucfg() & MMUCFG_MAVN_MASK, 1);
        // MMU v2 has no MINSIZE/MAXSIZE.
        assert_eq!(v2.tlbncfg(&TlbGeometry::E6500, Tlb::Tlb1) & 0x00ff_0000, 0);
    }
}
