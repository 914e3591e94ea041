//! MAS register fields (Power ISA 2.06 Book III-E, as Linux's `asm/mmu-book3e.h` names them) and
//! the decoding of one TLB entry (`kvm_book3e_206_tlb_entry`).

use super::geometry::Tlb;
use crate::abi::kvm_book3e_206_tlb_entry;
use std::fmt;

/// `MAS0[TLBSEL]` shift (2 bits).
pub const MAS0_TLBSEL_SHIFT: u32 = 28;
/// `MAS0[TLBSEL]` mask.
pub const MAS0_TLBSEL_MASK: u32 = 0x3000_0000;
/// `MAS0[ESEL]` shift (12 bits).
pub const MAS0_ESEL_SHIFT: u32 = 16;
/// `MAS0[ESEL]` mask.
pub const MAS0_ESEL_MASK: u32 = 0x0fff_0000;
/// `MAS0[NV]` mask (next victim).
pub const MAS0_NV_MASK: u32 = 0x0000_0fff;

/// `MAS1[V]`: valid.
pub const MAS1_VALID: u32 = 0x8000_0000;
/// `MAS1[IPROT]`: protected from invalidation.
pub const MAS1_IPROT: u32 = 0x4000_0000;
/// `MAS1[TID]` shift (14 bits).
pub const MAS1_TID_SHIFT: u32 = 16;
/// `MAS1[TID]` mask.
pub const MAS1_TID_MASK: u32 = 0x3fff_0000;
/// `MAS1[TS]`: translation space (address space).
pub const MAS1_TS: u32 = 0x0000_1000;
/// `MAS1[TSIZE]` shift: the page is `1 KiB << TSIZE`.
pub const MAS1_TSIZE_SHIFT: u32 = 7;
/// `MAS1[TSIZE]` mask (5 bits).
pub const MAS1_TSIZE_MASK: u32 = 0x0000_0f80;

/// `MAS2[EPN]` mask.
pub const MAS2_EPN_MASK: u64 = !0xfff;
/// `MAS2[X0]`.
pub const MAS2_X0: u64 = 0x40;
/// `MAS2[X1]`.
pub const MAS2_X1: u64 = 0x20;
/// `MAS2[W]`: write-through.
pub const MAS2_W: u64 = 0x10;
/// `MAS2[I]`: caching inhibited.
pub const MAS2_I: u64 = 0x08;
/// `MAS2[M]`: memory coherence required.
pub const MAS2_M: u64 = 0x04;
/// `MAS2[G]`: guarded.
pub const MAS2_G: u64 = 0x02;
/// `MAS2[E]`: little-endian.
pub const MAS2_E: u64 = 0x01;
/// MAS2 attribute bits (X0, X1, WIMGE).
pub const MAS2_ATTR_MASK: u64 = 0x7f;

/// MAS7||MAS3 RPN mask.
pub const MAS7_3_RPN_MASK: u64 = !0xfff;
/// MAS3 user bits U0-U3.
pub const MAS3_U0_U3: u64 = 0x3c0;
/// MAS3 permission bits (UX SX UW SW UR SR).
pub const MAS3_PERM_MASK: u64 = 0x3f;

/// `MAS4[TLBSELD]` shift: default TLB for a miss.
pub const MAS4_TLBSELD_SHIFT: u32 = 28;
/// `MAS4[TSIZED]` mask (same position as `MAS1[TSIZE]`).
pub const MAS4_TSIZED_MASK: u32 = 0x0000_0f80;
/// MAS4 default attributes (X0D X1D WD ID MD GD ED, same positions as in MAS2).
pub const MAS4_ATTRD_MASK: u32 = 0x7f;

/// `MAS6[SPID]` shift (search PID).
pub const MAS6_SPID_SHIFT: u32 = 16;
/// `MAS6[SPID]` mask (same position as `MAS1[TID]`).
pub const MAS6_SPID_MASK: u32 = 0x3fff_0000;
/// `MAS6[SAS]`: search address space.
pub const MAS6_SAS: u32 = 0x0000_0001;

/// `MAS8[TGS]`: guest space.
pub const MAS8_TGS: u32 = 0x8000_0000;
/// `MAS8[VF]`: virtualization fault.
pub const MAS8_VF: u32 = 0x4000_0000;
/// `MAS8[TLPID]` mask.
pub const MAS8_TLPID_MASK: u32 = 0x0000_00ff;

/// TSIZE of a 4 KiB page.
pub const TSIZE_4K: u32 = 2;

/// The page shift of a TSIZE value: `10 + TSIZE`, but never below 12 (sizes below 4 KiB are
/// reserved; tetra treats them as 4 KiB so that EPN/RPN, which start at bit 12, stay exact).
pub fn tsize_shift(tsize: u32) -> u32 {
    (10 + (tsize & 0x1f)).max(12)
}

/// The TSIZE of a power-of-two page of `bytes` (>= 4 KiB); `None` otherwise.
pub fn tsize_of(bytes: u64) -> Option<u32> {
    (bytes.is_power_of_two() && bytes >= 4096 && bytes.trailing_zeros() <= 41)
        .then(|| bytes.trailing_zeros() - 10)
}

/// Access permissions of an entry (MAS3 bits 5..0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct Perms(pub u8);

impl Perms {
    /// User execute.
    pub const UX: Perms = Perms(0x20);
    /// Supervisor execute.
    pub const SX: Perms = Perms(0x10);
    /// User write.
    pub const UW: Perms = Perms(0x08);
    /// Supervisor write.
    pub const SW: Perms = Perms(0x04);
    /// User read.
    pub const UR: Perms = Perms(0x02);
    /// Supervisor read.
    pub const SR: Perms = Perms(0x01);
    /// Everything.
    pub const ALL: Perms = Perms(0x3f);

    /// Both sets of bits.
    pub const fn union(self, other: Perms) -> Perms {
        Perms(self.0 | other.0)
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Perms) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Perms {
    type Output = Perms;
    fn bitor(self, rhs: Perms) -> Perms {
        self.union(rhs)
    }
}

impl fmt::Display for Perms {
    /// `UX SX UW SW UR SR`, with `-` for a clear bit (e.g. `--SX--SW--SR`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (bit, name) in [
            (Perms::UX, "UX"),
            (Perms::SX, "SX"),
            (Perms::UW, "UW"),
            (Perms::SW, "SW"),
            (Perms::UR, "UR"),
            (Perms::SR, "SR"),
        ] {
            f.write_str(if self.contains(bit) { name } else { "--" })?;
        }
        Ok(())
    }
}

/// What an access does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessKind {
    /// A load.
    Read,
    /// A store.
    Write,
    /// An instruction fetch.
    Execute,
}

/// An access to check against an entry's permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// Load, store or fetch.
    pub kind: AccessKind,
    /// From user mode (`MSR[PR]` = 1).
    pub user: bool,
}

impl Access {
    /// The permission bit this access needs.
    pub fn required(&self) -> Perms {
        match (self.kind, self.user) {
            (AccessKind::Read, true) => Perms::UR,
            (AccessKind::Read, false) => Perms::SR,
            (AccessKind::Write, true) => Perms::UW,
            (AccessKind::Write, false) => Perms::SW,
            (AccessKind::Execute, true) => Perms::UX,
            (AccessKind::Execute, false) => Perms::SX,
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = if self.user { "user" } else { "supervisor" };
        let kind = match self.kind {
            AccessKind::Read => "read",
            AccessKind::Write => "write",
            AccessKind::Execute => "execute",
        };
        write!(f, "{mode} {kind}")
    }
}

/// Everything needed to build a valid entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// Effective address of the page (aligned down to the page size).
    pub ea: u64,
    /// Real (guest physical) address of the page (aligned down to the page size).
    pub ra: u64,
    /// `MAS1[TSIZE]`: the page is `1 KiB << tsize`.
    pub tsize: u32,
    /// `MAS1[TID]` (0: global).
    pub tid: u32,
    /// `MAS1[TS]`.
    pub ts: bool,
    /// `MAS1[IPROT]`.
    pub iprot: bool,
    /// MAS2 attributes (X0, X1, WIMGE).
    pub attrs: u64,
    /// Permissions.
    pub perms: Perms,
}

impl kvm_book3e_206_tlb_entry {
    /// A valid entry for `m`.
    pub fn from_mapping(m: &Mapping) -> Self {
        let mask = !((1u64 << tsize_shift(m.tsize)) - 1);
        Self {
            mas8: 0,
            mas1: MAS1_VALID
                | if m.iprot { MAS1_IPROT } else { 0 }
                | ((m.tid << MAS1_TID_SHIFT) & MAS1_TID_MASK)
                | if m.ts { MAS1_TS } else { 0 }
                | ((m.tsize << MAS1_TSIZE_SHIFT) & MAS1_TSIZE_MASK),
            mas2: (m.ea & mask) | (m.attrs & MAS2_ATTR_MASK),
            mas7_3: (m.ra & mask) | u64::from(m.perms.0 & 0x3f),
        }
    }

    /// `MAS1[V]`.
    pub fn valid(&self) -> bool {
        self.mas1 & MAS1_VALID != 0
    }

    /// `MAS1[IPROT]`.
    pub fn iprot(&self) -> bool {
        self.mas1 & MAS1_IPROT != 0
    }

    /// `MAS1[TID]` (0 matches every PID).
    pub fn tid(&self) -> u32 {
        (self.mas1 & MAS1_TID_MASK) >> MAS1_TID_SHIFT
    }

    /// `MAS1[TS]`.
    pub fn ts(&self) -> bool {
        self.mas1 & MAS1_TS != 0
    }

    /// `MAS1[TSIZE]`.
    pub fn tsize(&self) -> u32 {
        (self.mas1 & MAS1_TSIZE_MASK) >> MAS1_TSIZE_SHIFT
    }

    /// log2 of the page size in `tlb`: TLB0 entries are 4 KiB pages whatever their TSIZE
    /// (api.rst: "the hardware ignores this value for TLB0"); TLB1 uses [`tsize_shift`].
    pub fn page_shift(&self, tlb: Tlb) -> u32 {
        match tlb {
            Tlb::Tlb0 => 12,
            Tlb::Tlb1 => tsize_shift(self.tsize()),
        }
    }

    /// The page size in bytes in `tlb`.
    pub fn page_size(&self, tlb: Tlb) -> u64 {
        1 << self.page_shift(tlb)
    }

    fn page_mask(&self, tlb: Tlb) -> u64 {
        !(self.page_size(tlb) - 1)
    }

    /// The effective page number as an address, aligned to the page size.
    pub fn epn(&self, tlb: Tlb) -> u64 {
        self.mas2 & MAS2_EPN_MASK & self.page_mask(tlb)
    }

    /// The real page number as an address, aligned to the page size.
    pub fn rpn(&self, tlb: Tlb) -> u64 {
        self.mas7_3 & MAS7_3_RPN_MASK & self.page_mask(tlb)
    }

    /// MAS2 attributes (X0, X1, WIMGE).
    pub fn attrs(&self) -> u64 {
        self.mas2 & MAS2_ATTR_MASK
    }

    /// Permissions (MAS3 UX..SR).
    pub fn perms(&self) -> Perms {
        Perms((self.mas7_3 & MAS3_PERM_MASK) as u8)
    }

    /// Whether `ea` falls in this entry's page (ignoring V, TID and TS).
    pub fn covers(&self, tlb: Tlb, ea: u64) -> bool {
        ea & self.page_mask(tlb) == self.epn(tlb)
    }

    /// The translation rule: V set, TS equal to `ts`, TID 0 or equal to `pid`, and `ea` in the
    /// page (EPN compared under the page size).
    pub fn matches(&self, tlb: Tlb, ea: u64, pid: u32, ts: bool) -> bool {
        self.valid()
            && self.ts() == ts
            && (self.tid() == 0 || self.tid() == pid)
            && self.covers(tlb, ea)
    }

    /// The real address of `ea` through this entry (assumes [`covers`](Self::covers)).
    pub fn real_address(&self, tlb: Tlb, ea: u64) -> u64 {
        self.rpn(tlb) | (ea & !self.page_mask(tlb))
    }
}

/// `4K`, `16M`, `1G`... for a power-of-two size.
pub fn size_name(bytes: u64) -> String {
    const UNITS: [(u32, &str); 5] = [(40, "T"), (30, "G"), (20, "M"), (10, "K"), (0, "B")];
    for (shift, unit) in UNITS {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

/// `W-M--` style attribute string for MAS2 WIMGE (X0/X1 omitted).
pub fn wimge_name(attrs: u64) -> String {
    [
        (MAS2_W, 'W'),
        (MAS2_I, 'I'),
        (MAS2_M, 'M'),
        (MAS2_G, 'G'),
        (MAS2_E, 'E'),
    ]
    .iter()
    .map(|(bit, c)| if attrs & bit != 0 { *c } else { '-' })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    const T1: Tlb = Tlb::Tlb1;

    #[test]
    fn field_decoding() {
        let e = kvm_book3e_206_tlb_entry {
            mas8: 0,
            mas1: MAS1_VALID | MAS1_IPROT | (0x2a << 16) | MAS1_TS | (14 << 7),
            mas2: 0xc000_0000 | MAS2_M | MAS2_G,
            mas7_3: 0x0000_0001_0000_0000 | 0x0100_0000 | 0x15,
        };
        assert!(e.valid() && e.iprot() && e.ts());
        assert_eq!(e.tid(), 0x2a);
        assert_eq!(e.tsize(), 14);
        assert_eq!(e.page_size(T1), 16 << 20);
        assert_eq!(e.page_size(Tlb::Tlb0), 4096);
        assert_eq!(e.epn(T1), 0xc000_0000);
        assert_eq!(e.rpn(T1), 0x1_0100_0000);
        assert_eq!(e.attrs(), MAS2_M | MAS2_G);
        assert_eq!(e.perms(), Perms::SX | Perms::SW | Perms::SR);
        assert_eq!(e.perms().to_string(), "--SX--SW--SR");
        assert!(e.covers(T1, 0xc0ff_ffff));
        assert!(!e.covers(T1, 0xc100_0000));
        assert!(!e.covers(Tlb::Tlb0, 0xc000_1000));
        assert_eq!(e.real_address(T1, 0xc012_3456), 0x1_0112_3456);
        assert!(e.matches(T1, 0xc000_0000, 0x2a, true));
        assert!(!e.matches(T1, 0xc000_0000, 0x2b, true));
        assert!(!e.matches(T1, 0xc000_0000, 0x2a, false));
    }

    #[test]
    fn epn_and_rpn_are_aligned_to_the_page() {
        // An unaligned EPN/RPN: the low bits under TSIZE do not take part.
        let e = kvm_book3e_206_tlb_entry {
            mas8: 0,
            mas1: MAS1_VALID | (10 << 7), // 1 MiB
            mas2: 0x1234_5000,
            mas7_3: 0x0765_4000,
        };
        assert_eq!(e.epn(T1), 0x1230_0000);
        assert_eq!(e.rpn(T1), 0x0760_0000);
        assert!(e.covers(T1, 0x1230_0000) && e.covers(T1, 0x123f_ffff));
        assert_eq!(e.real_address(T1, 0x1234_5678), 0x0764_5678);
    }

    #[test]
    fn mapping_round_trip() {
        let m = Mapping {
            ea: 0xc000_0000_0000_0000,
            ra: 0x2000_0000,
            tsize: 18,
            tid: 0,
            ts: false,
            iprot: true,
            attrs: MAS2_M,
            perms: Perms::SX | Perms::SR | Perms::SW,
        };
        let e = kvm_book3e_206_tlb_entry::from_mapping(&m);
        assert_eq!(e.epn(T1), m.ea);
        assert_eq!(e.rpn(T1), m.ra);
        assert_eq!(e.page_size(T1), 256 << 20);
        assert!(e.iprot() && e.valid() && !e.ts());
        assert_eq!(e.perms(), m.perms);
    }

    #[test]
    fn sizes_and_access() {
        assert_eq!(tsize_shift(0), 12);
        assert_eq!(tsize_shift(2), 12);
        assert_eq!(tsize_shift(30), 40);
        assert_eq!(tsize_of(4096), Some(2));
        assert_eq!(tsize_of(1 << 30), Some(20));
        assert_eq!(tsize_of(3 << 20), None);
        assert_eq!(tsize_of(1024), None);
        assert_eq!(size_name(4096), "4K");
        assert_eq!(size_name(64 << 20), "64M");
        assert_eq!(size_name(1 << 30), "1G");
        assert_eq!(wimge_name(MAS2_I | MAS2_G), "-I-G-");
        let a = Access {
            kind: AccessKind::Write,
            user: true,
        };
        assert_eq!(a.required(), Perms::UW);
        assert_eq!(a.to_string(), "user write");
    }
}
