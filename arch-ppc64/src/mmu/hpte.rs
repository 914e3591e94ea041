//! The hashed page table entry (HPTE): 16 bytes, two big-endian doublewords, in the layout of
//! Power ISA v2.07 (POWER7, POWER8; PPC970 uses the same fields with 4K/16M pages only).
//!
//! ```text
//! dword 0 (v):  | B 63:62 | AVPN 61:7 | SW 4:3 | L 2 | H 1 | V 0 |
//! dword 1 (r):  | PP0 63 | TS 62 | key 61:60 | ARPN/RPN 59:12 (LP in 19:12 when L) |
//!               | key 11:9 | R 8 | C 7 | W 6 | I 5 | M 4 | G 3 | N 2 | PP 1:0 |
//! ```
//!
//! (bit numbers here count from the least significant bit, as the constants do.) AVPN holds
//! bits 77:23 of the 78-bit virtual address; the lower bits come from the PTEG the entry sits
//! in. With L set, the low bits of the RPN field carry the LP code that gives the base and
//! actual page sizes ([`Hpte::page_sizes`]).
//!
//! ISA v3.0 (POWER9) moved B to dword 1 bits 59:58 and narrowed AVPN (51:7) and ARPN (56:12).
//! KVM-HV hands the `KVM_PPC_GET_HTAB_FD` stream out in the v2.07 layout on every host (it
//! converts on POWER9), so this module works in the v2.07 layout and offers
//! [`Hpte::from_v3`] / [`Hpte::to_v3`] for the conversion. Constants as in Linux's
//! `arch/powerpc/include/asm/book3s/64/mmu-hash.h`.

/// Bytes per HPTE.
pub const HPTE_SIZE: usize = 16;
/// HPTEs per PTE group (PTEG): a group is 128 bytes.
pub const HPTES_PER_GROUP: u64 = 8;

/// Shift of the B (segment size) field in dword 0.
pub const HPTE_V_SSIZE_SHIFT: u32 = 62;
/// Shift of the AVPN field in dword 0.
pub const HPTE_V_AVPN_SHIFT: u32 = 7;
/// The AVPN field of dword 0 (v2.07).
pub const HPTE_V_AVPN: u64 = 0x3fff_ffff_ffff_ff80;
/// The bits of dword 0 that v2.07 and v3.0 share.
pub const HPTE_V_COMMON_BITS: u64 = 0x000f_ffff_ffff_ffff;
/// The two software-use bits (Linux: BOLTED 0x10, LOCK 0x8).
pub const HPTE_V_SW: u64 = 0x18;
/// Software bit Linux uses for bolted entries.
pub const HPTE_V_BOLTED: u64 = 0x10;
/// L: a large page; the LP code in dword 1 says which.
pub const HPTE_V_LARGE: u64 = 0x4;
/// H: the entry is in its secondary PTEG.
pub const HPTE_V_SECONDARY: u64 = 0x2;
/// V: valid.
pub const HPTE_V_VALID: u64 = 0x1;

/// PP0: the high bit of the three-bit page protection.
pub const HPTE_R_PP0: u64 = 0x8000_0000_0000_0000;
/// TS: tag set (v2.07 transactional memory; unused by translation).
pub const HPTE_R_TS: u64 = 0x4000_0000_0000_0000;
/// The RPN field of dword 1 (v2.07).
pub const HPTE_R_RPN: u64 = 0x0fff_ffff_ffff_f000;
/// The RPN field of dword 1 in ISA v3.0.
pub const HPTE_R_RPN_3_0: u64 = 0x01ff_ffff_ffff_f000;
/// Shift of B in dword 1 in ISA v3.0.
pub const HPTE_R_3_0_SSIZE_SHIFT: u32 = 58;
/// B in dword 1 in ISA v3.0.
pub const HPTE_R_3_0_SSIZE_MASK: u64 = 3 << HPTE_R_3_0_SSIZE_SHIFT;
/// Shift of the LP code in dword 1.
pub const LP_SHIFT: u32 = 12;
/// R: referenced.
pub const HPTE_R_R: u64 = 0x100;
/// C: changed.
pub const HPTE_R_C: u64 = 0x80;
/// WIMG: write-through, caching-inhibited, memory coherence, guarded.
pub const HPTE_R_WIMG: u64 = 0x78;
/// N: no-execute.
pub const HPTE_R_N: u64 = 0x4;
/// PP: the low two bits of the page protection.
pub const HPTE_R_PP: u64 = 0x3;

/// A segment size: the B field of an SLB entry and of an HPTE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SegmentSize {
    /// 256 MB segments (B = 0).
    M256,
    /// 1 TB segments (B = 1).
    T1,
}

impl SegmentSize {
    /// The B field value of `b` (2 and 3 are reserved: `None`).
    pub fn from_b(b: u64) -> Option<Self> {
        match b {
            0 => Some(Self::M256),
            1 => Some(Self::T1),
            _ => None,
        }
    }

    /// The B field value.
    pub fn b(self) -> u64 {
        match self {
            Self::M256 => 0,
            Self::T1 => 1,
        }
    }

    /// log2 of the segment's size: 28 or 40.
    pub fn shift(self) -> u32 {
        match self {
            Self::M256 => 28,
            Self::T1 => 40,
        }
    }
}

/// The base page size (what the SLB says and the hash uses) and the actual page size (what the
/// entry maps) of an HPTE, as log2 of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageSizes {
    /// Base page shift: 12, 16 or 24.
    pub base: u32,
    /// Actual page shift: 12, 16 or 24, at least `base`.
    pub actual: u32,
}

/// One HPTE in the v2.07 layout, as host-order integers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Hpte {
    /// Dword 0: B, AVPN, SW, L, H, V.
    pub v: u64,
    /// Dword 1: PP0, RPN (and LP), key, R, C, WIMG, N, PP.
    pub r: u64,
}

impl Hpte {
    /// The entry from its 16 bytes as the hash table (and the HTAB stream) stores them:
    /// two big-endian doublewords.
    pub fn from_be_bytes(b: &[u8; HPTE_SIZE]) -> Self {
        let (v, r) = b.split_at(8);
        Self {
            v: u64::from_be_bytes(v.try_into().unwrap_or_default()),
            r: u64::from_be_bytes(r.try_into().unwrap_or_default()),
        }
    }

    /// The 16 bytes as the hash table stores them.
    pub fn to_be_bytes(self) -> [u8; HPTE_SIZE] {
        let mut b = [0; HPTE_SIZE];
        b[..8].copy_from_slice(&self.v.to_be_bytes());
        b[8..].copy_from_slice(&self.r.to_be_bytes());
        b
    }

    /// V: the entry is valid.
    pub fn valid(self) -> bool {
        self.v & HPTE_V_VALID != 0
    }

    /// H: the entry was placed with the secondary hash.
    pub fn secondary(self) -> bool {
        self.v & HPTE_V_SECONDARY != 0
    }

    /// L: a large page.
    pub fn large(self) -> bool {
        self.v & HPTE_V_LARGE != 0
    }

    /// The software-use bits (dword 0 bits 4:3).
    pub fn sw(self) -> u64 {
        (self.v & HPTE_V_SW) >> 3
    }

    /// The segment size in B, `None` for the reserved values 2 and 3.
    pub fn segment_size(self) -> Option<SegmentSize> {
        SegmentSize::from_b(self.v >> HPTE_V_SSIZE_SHIFT)
    }

    /// The AVPN field: virtual address bits 77:23.
    pub fn avpn(self) -> u64 {
        (self.v & HPTE_V_AVPN) >> HPTE_V_AVPN_SHIFT
    }

    /// The raw RPN field, LP code included (dword 1 bits 59:12, in place).
    pub fn rpn_field(self) -> u64 {
        self.r & HPTE_R_RPN
    }

    /// The three-bit page protection `PP0 || PP`.
    pub fn pp(self) -> u8 {
        (((self.r >> 63) << 2) | (self.r & HPTE_R_PP)) as u8
    }

    /// The WIMG bits (W = 8, I = 4, M = 2, G = 1).
    pub fn wimg(self) -> u8 {
        ((self.r & HPTE_R_WIMG) >> 3) as u8
    }

    /// N: no-execute.
    pub fn no_execute(self) -> bool {
        self.r & HPTE_R_N != 0
    }

    /// R: referenced.
    pub fn referenced(self) -> bool {
        self.r & HPTE_R_R != 0
    }

    /// C: changed.
    pub fn changed(self) -> bool {
        self.r & HPTE_R_C != 0
    }

    /// The base and actual page sizes, `None` for an encoding tetra does not support (16 GB
    /// pages, reserved LP codes). The LP codes are those POWER7/POWER8 (and KVM-HV's
    /// `kvmppc_hpte_page_shifts`) use: no L: 4K; LP 0x00 (RPN bits 19:16 zero): 16M;
    /// LP 0x?1: 64K; LP 0x?7: 64K in a 4K segment; LP 0x?8 (bits 18:16 zero): 16M in a 64K
    /// segment.
    pub fn page_sizes(self) -> Option<PageSizes> {
        if !self.large() {
            return Some(PageSizes {
                base: 12,
                actual: 12,
            });
        }
        let lp_lo = (self.r >> LP_SHIFT) & 0xf;
        let lp_hi = (self.r >> 16) & 0xf;
        let (base, actual) = match lp_lo {
            0 if lp_hi == 0 => (24, 24),
            1 => (16, 16),
            7 => (12, 16),
            8 if lp_hi & 7 == 0 => (16, 24),
            _ => return None,
        };
        Some(PageSizes { base, actual })
    }

    /// Whether KVM knows the page size encoding (`kvmppc_hpte_page_shifts` is non-zero): the
    /// sizes of [`page_sizes`](Self::page_sizes) and 16G (LP 0x03 with RPN bits 19:16 zero).
    /// `KVM_PPC_GET_HTAB_FD` refuses to write a valid entry without it.
    pub fn page_size_known(self) -> bool {
        self.page_sizes().is_some() || (self.r >> LP_SHIFT) & 0xff == 0x03
    }

    /// The real address of the byte at `offset` into the entry's page of `1 << actual_shift`
    /// bytes: the RPN above the page size (the LP code masked off) plus the offset.
    pub fn real_address(self, actual_shift: u32, offset: u64) -> u64 {
        let page_mask = (1u64 << actual_shift) - 1;
        (self.r & HPTE_R_RPN & !page_mask) | (offset & page_mask)
    }

    /// The v2.07 entry of an ISA v3.0 entry `(v, r)`: B moves from dword 1 to dword 0.
    pub fn from_v3(v: u64, r: u64) -> Self {
        Self {
            v: (v & HPTE_V_COMMON_BITS)
                | (((r & HPTE_R_3_0_SSIZE_MASK) >> HPTE_R_3_0_SSIZE_SHIFT) << HPTE_V_SSIZE_SHIFT),
            r: r & !HPTE_R_3_0_SSIZE_MASK,
        }
    }

    /// The ISA v3.0 `(v, r)` of this entry: B moves to dword 1; AVPN bits above 51 and RPN
    /// bits above 56, which v3.0 lacks, are dropped.
    pub fn to_v3(self) -> (u64, u64) {
        let b = self.v >> HPTE_V_SSIZE_SHIFT;
        (
            self.v & HPTE_V_COMMON_BITS,
            (self.r & !HPTE_R_3_0_SSIZE_MASK & !(HPTE_R_RPN & !HPTE_R_RPN_3_0))
                | (b << HPTE_R_3_0_SSIZE_SHIFT),
        )
    }
}

impl std::fmt::Display for Hpte {
    /// `v=… r=…` and the decoded fields.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v={:016x} r={:016x}", self.v, self.r)?;
        let seg = match self.segment_size() {
            Some(SegmentSize::M256) => "256M",
            Some(SegmentSize::T1) => "1T",
            None => "B?",
        };
        write!(f, " {seg} avpn={:#x}", self.avpn())?;
        match self.page_sizes() {
            Some(p) => write!(
                f,
                " page={}K/{}K",
                1u64 << (p.base - 10),
                1u64 << (p.actual - 10)
            )?,
            None => write!(f, " page=?")?,
        }
        write!(
            f,
            " rpn={:#x} pp={} wimg={:04b}{}{}{}{}",
            self.rpn_field(),
            self.pp(),
            self.wimg(),
            if self.secondary() { " H" } else { "" },
            if self.referenced() { " R" } else { "" },
            if self.changed() { " C" } else { "" },
            if self.no_execute() { " N" } else { "" },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::Rng;

    #[test]
    fn fields_at_their_bits() {
        // A 64K page, 1T segment, secondary, bolted; RPN 0x1234_0000 with LP 1, R C, WIMG 0010
        // (M), N, PP0 + PP 2 (read-only for the supervisor).
        let e = Hpte {
            v: (1 << 62) | (0xabcd << 7) | HPTE_V_BOLTED | 0x7,
            r: HPTE_R_PP0 | 0x1234_0000 | 0x1000 | 0x180 | 0x10 | 0x4 | 0x2,
        };
        assert!(e.valid() && e.secondary() && e.large() && e.no_execute());
        assert!(e.referenced() && e.changed());
        assert_eq!(e.segment_size(), Some(SegmentSize::T1));
        assert_eq!(e.avpn(), 0xabcd);
        assert_eq!(e.sw(), 2);
        assert_eq!(e.pp(), 6);
        assert_eq!(e.wimg(), 0b0010);
        assert_eq!(
            e.page_sizes(),
            Some(PageSizes {
                base: 16,
                actual: 16
            })
        );
        assert_eq!(e.real_address(16, 0x1_2345), 0x1234_2345);
        assert_eq!(Hpte::from_be_bytes(&e.to_be_bytes()), e);
        assert_eq!(e.to_be_bytes()[0], 0x40, "dword 0 big-endian first");
        assert_eq!(Hpte { v: 3 << 62, r: 0 }.segment_size(), None);
        let s = e.to_string();
        assert!(
            s.contains("1T") && s.contains("page=64K/64K") && s.contains(" H"),
            "{s}"
        );
    }

    #[test]
    fn page_size_codes() {
        let sizes = |v: u64, r: u64| Hpte { v, r }.page_sizes().map(|p| (p.base, p.actual));
        assert_eq!(
            sizes(1, 0xffff_f000),
            Some((12, 12)),
            "no L: 4K whatever the RPN"
        );
        assert_eq!(sizes(5, 0x0100_0000), Some((24, 24)));
        assert_eq!(sizes(5, 0x0101_0000), None, "16M needs RPN bits 19:16 zero");
        assert_eq!(sizes(5, 0x0001_1000), Some((16, 16)));
        assert_eq!(sizes(5, 0x0003_7000), Some((12, 16)));
        assert_eq!(sizes(5, 0x0008_8000), Some((16, 24)));
        assert_eq!(sizes(5, 0x0001_8000), None);
        assert_eq!(sizes(5, 0x3000), None, "16G is not supported");
        assert!(
            Hpte { v: 5, r: 0x3000 }.page_size_known(),
            "but KVM knows it"
        );
        assert!(!Hpte { v: 5, r: 0x2000 }.page_size_known());
        assert_eq!(sizes(5, 0x2000), None, "reserved");
    }

    #[test]
    fn v3_conversion_moves_b() {
        let mut rng = Rng::new(0x3_0);
        for _ in 0..1000 {
            // A v2.07 entry representable in v3.0: AVPN within 51:7, RPN within 56:12, B 0/1.
            let e = Hpte {
                v: (rng.below(2) << 62) | (rng.next() & HPTE_V_COMMON_BITS),
                r: rng.next() & !HPTE_R_3_0_SSIZE_MASK & !(HPTE_R_RPN & !HPTE_R_RPN_3_0),
            };
            let (v3, r3) = e.to_v3();
            assert_eq!(v3 >> 52, 0, "v3.0 dword 0 has no B");
            assert_eq!((r3 >> 58) & 3, e.v >> 62, "B in dword 1 bits 59:58");
            assert_eq!(Hpte::from_v3(v3, r3), e);
        }
    }
}
