//! Register ids: the `(arch, set, number, size)` part of a register, encoded as a KVM ONE_REG id.
//!
//! A ONE_REG id is a `u64` (Linux `include/uapi/linux/kvm.h`):
//!
//! ```text
//!  63      56 55  52 51        32 31                            0
//! +----------+------+------------+-------------------------------+
//! |   arch   | size |  (see below per arch)                      |
//! +----------+------+------------+-------------------------------+
//! ```
//!
//! * `arch`: `KVM_REG_PPC` 0x10, `KVM_REG_X86` 0x20, `KVM_REG_ARM64` 0x60.
//! * `size`: the value is `1 << size` bytes (`KVM_REG_SIZE_U8` = 0 ... `KVM_REG_SIZE_U2048` = 8;
//!   the field has 4 bits, so tetra's own blobs go up to 32 KiB).
//!
//! How the low 52 bits split into *set* and *number* depends on the arch:
//!
//! * **arm64**: set = bits 31:16, the "coprocessor" group (`KVM_REG_ARM_CORE` 0x0010,
//!   `KVM_REG_ARM64_SYSREG` 0x0013, firmware 0x0014, SVE 0x0015, ...), number = bits 15:0 (for core
//!   registers the offset in 32-bit words into `struct kvm_regs`, for system registers
//!   op0/op1/CRn/CRm/op2). Bits 51:32 are zero. Every arm64 id is a real ONE_REG id.
//! * **PowerPC**: set = bits 47:32, number = bits 31:0. Set 0 is KVM's own ONE_REG space
//!   (`KVM_REG_PPC_*`, number = the low bits, including the TM flag at bit 31). Sets with bit 15
//!   set ([`PRIVATE_SET`]) are tetra's own ids for state KVM only offers through
//!   `KVM_GET_REGS`/`KVM_GET_SREGS` (GPRs, CR, PVR, SLB, the BookE `u.e` block).
//! * **x86**: set = bits 47:32, number = bits 31:0. KVM (before Linux 6.18) has no ONE_REG on x86,
//!   so all x86 ids are tetra's and served by batched `KVM_GET_REGS/SREGS/MSRS/...` calls (the
//!   seed's "MANY_REG"). MSRs use set 2 with the MSR index as number, which is exactly the id
//!   Linux 6.18 gives an MSR (`KVM_X86_REG_MSR(index)`, see kvm-bindings 0.14 `x86_64/one_reg.rs`);
//!   tetra's other x86 sets (GPRs, segments, events, ...) are [`PRIVATE_SET`] sets.
//!
//! Attributes (read-write, read-only, ...) are not part of the id; they live in the arch's table.

use std::fmt;

/// Bit 15 of the set field: a set tetra defines itself, never a kernel ONE_REG id.
pub const PRIVATE_SET: u16 = 0x8000;

const ARCH_SHIFT: u32 = 56;
const SIZE_SHIFT: u32 = 52;
const SIZE_MASK: u64 = 0xf << SIZE_SHIFT;
const SET_SHIFT: u32 = 32;

/// The architecture field of a ONE_REG id (bits 63:56).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegArch {
    /// `KVM_REG_PPC` (0x10): ppc64 Book3S and BookE.
    Ppc,
    /// `KVM_REG_X86` (0x20).
    X86,
    /// `KVM_REG_ARM64` (0x60).
    Arm64,
}

impl RegArch {
    /// The byte in bits 63:56.
    pub const fn code(self) -> u8 {
        match self {
            RegArch::Ppc => 0x10,
            RegArch::X86 => 0x20,
            RegArch::Arm64 => 0x60,
        }
    }

    /// The arch for a bits-63:56 byte, if tetra knows it.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0x10 => Some(RegArch::Ppc),
            0x20 => Some(RegArch::X86),
            0x60 => Some(RegArch::Arm64),
            _ => None,
        }
    }

    /// The uapi name of the arch constant, e.g. `KVM_REG_PPC`.
    pub const fn uapi(self) -> &'static str {
        match self {
            RegArch::Ppc => "KVM_REG_PPC",
            RegArch::X86 => "KVM_REG_X86",
            RegArch::Arm64 => "KVM_REG_ARM64",
        }
    }
}

/// The size field of a ONE_REG id (bits 55:52): the value is `1 << field` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegSize(u8);

impl RegSize {
    /// 1 byte (`KVM_REG_SIZE_U8`).
    pub const U8: RegSize = RegSize(0);
    /// 2 bytes.
    pub const U16: RegSize = RegSize(1);
    /// 4 bytes.
    pub const U32: RegSize = RegSize(2);
    /// 8 bytes.
    pub const U64: RegSize = RegSize(3);
    /// 16 bytes.
    pub const U128: RegSize = RegSize(4);
    /// 32 bytes.
    pub const U256: RegSize = RegSize(5);
    /// 64 bytes.
    pub const U512: RegSize = RegSize(6);
    /// 128 bytes.
    pub const U1024: RegSize = RegSize(7);
    /// 256 bytes (`KVM_REG_SIZE_U2048`, the largest the kernel defines).
    pub const U2048: RegSize = RegSize(8);
    /// 512 bytes (tetra's blobs only).
    pub const B512: RegSize = RegSize(9);
    /// 1 KiB (tetra's blobs only: the x86 LAPIC page).
    pub const B1K: RegSize = RegSize(10);
    /// 4 KiB (tetra's blobs only: the x86 XSAVE area).
    pub const B4K: RegSize = RegSize(12);

    /// The size for a 4-bit field value; `None` above 15.
    pub const fn from_field(field: u8) -> Option<Self> {
        if field < 16 {
            Some(RegSize(field))
        } else {
            None
        }
    }

    /// The smallest size that holds `bytes` bytes; `None` above 32 KiB.
    pub const fn for_bytes(bytes: usize) -> Option<Self> {
        let mut field = 0u8;
        while field < 16 {
            if (1usize << field) >= bytes {
                return Some(RegSize(field));
            }
            field += 1;
        }
        None
    }

    /// The 4-bit field value.
    pub const fn field(self) -> u8 {
        self.0
    }

    /// The value's size in bytes.
    pub const fn bytes(self) -> usize {
        1 << self.0
    }

    /// The uapi-style name, `U<bits>` (`U64`, `U128`, ... `U32768`).
    pub fn name(self) -> String {
        format!("U{}", self.bytes() * 8)
    }
}

impl fmt::Display for RegSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A register id: a KVM ONE_REG id (or a tetra id in the same encoding, see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegId(u64);

impl RegId {
    /// Wraps a raw 64-bit id as the kernel or a snapshot gives it. Nothing is checked: use
    /// [`RegId::arch`] and a table lookup to validate.
    pub const fn from_raw(raw: u64) -> Self {
        RegId(raw)
    }

    /// The raw 64-bit id.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// Builds an id from its parts; `set` and `number` are placed where `arch` keeps them (see the
    /// module doc). On arm64 `number` is truncated to 16 bits.
    pub const fn new(arch: RegArch, set: u16, number: u32, size: RegSize) -> Self {
        let head = ((arch.code() as u64) << ARCH_SHIFT) | ((size.0 as u64) << SIZE_SHIFT);
        let low = match arch {
            RegArch::Arm64 => ((set as u64) << 16) | (number as u64 & 0xffff),
            RegArch::Ppc | RegArch::X86 => ((set as u64) << SET_SHIFT) | number as u64,
        };
        RegId(head | low)
    }

    /// The arch field, if tetra knows it.
    pub const fn arch(self) -> Option<RegArch> {
        RegArch::from_code((self.0 >> ARCH_SHIFT) as u8)
    }

    /// The size field.
    pub const fn size(self) -> RegSize {
        RegSize(((self.0 & SIZE_MASK) >> SIZE_SHIFT) as u8)
    }

    /// The value's size in bytes.
    pub const fn bytes(self) -> usize {
        self.size().bytes()
    }

    /// The set, decoded as the id's arch lays it out (0 for an unknown arch).
    pub const fn set(self) -> u16 {
        match self.arch() {
            Some(RegArch::Arm64) => (self.0 >> 16) as u16,
            Some(RegArch::Ppc) | Some(RegArch::X86) => (self.0 >> SET_SHIFT) as u16,
            None => 0,
        }
    }

    /// The number within the set, decoded as the id's arch lays it out.
    pub const fn number(self) -> u32 {
        match self.arch() {
            Some(RegArch::Arm64) => (self.0 & 0xffff) as u32,
            _ => self.0 as u32,
        }
    }

    /// True for ids tetra defines itself (a [`PRIVATE_SET`] set, or any x86 id but an MSR's).
    pub const fn is_private(self) -> bool {
        match self.arch() {
            Some(RegArch::Arm64) => false,
            Some(RegArch::Ppc) => self.set() & PRIVATE_SET != 0,
            Some(RegArch::X86) => self.set() != X86_SET_MSR,
            None => true,
        }
    }

    /// The same register with another size (PowerPC's 0x8c is MAS0 as U32 on BookE and
    /// ICP_STATE as U64 on Book3S: same number, different size, different register).
    pub const fn with_size(self, size: RegSize) -> Self {
        RegId((self.0 & !SIZE_MASK) | ((size.0 as u64) << SIZE_SHIFT))
    }
}

impl fmt::Display for RegId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#018x}", self.0)
    }
}

impl fmt::LowerHex for RegId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

/// The x86 set for MSRs: Linux 6.18's `KVM_X86_REG_TYPE_MSR` (number = the MSR index).
pub const X86_SET_MSR: u16 = 2;

/// arm64 group of core registers (`KVM_REG_ARM_CORE`, offsets into `struct kvm_regs`).
pub const ARM64_SET_CORE: u16 = 0x0010;
/// arm64 group of demultiplexed registers (`KVM_REG_ARM_DEMUX`, e.g. CCSIDR).
pub const ARM64_SET_DEMUX: u16 = 0x0011;
/// arm64 group of system registers (`KVM_REG_ARM64_SYSREG`).
pub const ARM64_SET_SYSREG: u16 = 0x0013;
/// arm64 group of firmware pseudo-registers (`KVM_REG_ARM_FW`: PSCI version, SMCCC workarounds).
pub const ARM64_SET_FW: u16 = 0x0014;
/// arm64 group of SVE registers (`KVM_REG_ARM64_SVE`).
pub const ARM64_SET_SVE: u16 = 0x0015;
/// arm64 group of firmware feature bitmaps (`KVM_REG_ARM_FW_FEAT_BMAP`).
pub const ARM64_SET_FW_FEAT: u16 = 0x0016;

/// An arm64 system register encoding (`op0, op1, CRn, CRm, op2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SysRegEncoding {
    /// op0 (2 bits).
    pub op0: u8,
    /// op1 (3 bits).
    pub op1: u8,
    /// CRn (4 bits).
    pub crn: u8,
    /// CRm (4 bits).
    pub crm: u8,
    /// op2 (3 bits).
    pub op2: u8,
}

impl SysRegEncoding {
    /// The encoding as the 16-bit number of a `KVM_REG_ARM64_SYSREG` id.
    pub const fn number(self) -> u16 {
        ((self.op0 as u16 & 0x3) << 14)
            | ((self.op1 as u16 & 0x7) << 11)
            | ((self.crn as u16 & 0xf) << 7)
            | ((self.crm as u16 & 0xf) << 3)
            | (self.op2 as u16 & 0x7)
    }

    /// Decodes the 16-bit number of a `KVM_REG_ARM64_SYSREG` id.
    pub const fn from_number(n: u16) -> Self {
        SysRegEncoding {
            op0: ((n >> 14) & 0x3) as u8,
            op1: ((n >> 11) & 0x7) as u8,
            crn: ((n >> 7) & 0xf) as u8,
            crm: ((n >> 3) & 0xf) as u8,
            op2: (n & 0x7) as u8,
        }
    }

    /// The generic assembler name, `s<op0>_<op1>_c<n>_c<m>_<op2>`.
    pub fn generic_name(self) -> String {
        format!(
            "s{}_{}_c{}_c{}_{}",
            self.op0, self.op1, self.crn, self.crm, self.op2
        )
    }
}

/// The ONE_REG id of arm64 core register at `word_offset` 32-bit words into `struct kvm_regs`
/// (`KVM_REG_ARM64 | size | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(field)`).
pub const fn arm64_core(word_offset: u16, size: RegSize) -> RegId {
    RegId::new(RegArch::Arm64, ARM64_SET_CORE, word_offset as u32, size)
}

/// The ONE_REG id of an arm64 system register (`ARM64_SYS_REG(op0, op1, crn, crm, op2)`, U64).
pub const fn arm64_sysreg(op0: u8, op1: u8, crn: u8, crm: u8, op2: u8) -> RegId {
    let enc = SysRegEncoding {
        op0,
        op1,
        crn,
        crm,
        op2,
    };
    RegId::new(
        RegArch::Arm64,
        ARM64_SET_SYSREG,
        enc.number() as u32,
        RegSize::U64,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_field_and_bytes() {
        assert_eq!(RegSize::U8.bytes(), 1);
        assert_eq!(RegSize::U64.bytes(), 8);
        assert_eq!(RegSize::U2048.bytes(), 256);
        assert_eq!(RegSize::B4K.bytes(), 4096);
        assert_eq!(RegSize::for_bytes(416), Some(RegSize::B512));
        assert_eq!(RegSize::for_bytes(24), Some(RegSize::U256));
        assert_eq!(RegSize::for_bytes(1), Some(RegSize::U8));
        assert_eq!(RegSize::for_bytes(32768), RegSize::from_field(15));
        assert_eq!(RegSize::for_bytes(32769), None);
        assert_eq!(RegSize::from_field(16), None);
        assert_eq!(RegSize::U128.name(), "U128");
        assert_eq!(RegSize::B4K.name(), "U32768");
    }

    #[test]
    fn ppc_ids_match_uapi() {
        // KVM_REG_PPC_MAS0 = KVM_REG_PPC | KVM_REG_SIZE_U32 | 0x8c
        let mas0 = RegId::new(RegArch::Ppc, 0, 0x8c, RegSize::U32);
        assert_eq!(mas0.raw(), 0x1020_0000_0000_008c);
        // KVM_REG_PPC_ICP_STATE = KVM_REG_PPC | KVM_REG_SIZE_U64 | 0x8c: same number, other size.
        assert_eq!(mas0.with_size(RegSize::U64).raw(), 0x1030_0000_0000_008c);
        assert_ne!(mas0, mas0.with_size(RegSize::U64));
        // KVM_REG_PPC_TM_GPR0 = KVM_REG_PPC | 0x80000000 | KVM_REG_SIZE_U64
        let tm = RegId::new(RegArch::Ppc, 0, 0x8000_0000, RegSize::U64);
        assert_eq!(tm.raw(), 0x1030_0000_8000_0000);
        assert_eq!(tm.set(), 0);
        assert_eq!(tm.number(), 0x8000_0000);
        assert!(!tm.is_private());
        let gpr3 = RegId::new(RegArch::Ppc, PRIVATE_SET | 1, 3, RegSize::U64);
        assert!(gpr3.is_private());
        assert_eq!(gpr3.set(), 0x8001);
        assert_eq!(gpr3.number(), 3);
        assert_eq!(gpr3.arch(), Some(RegArch::Ppc));
    }

    #[test]
    fn x86_msr_id_is_the_linux_6_18_one() {
        // kvm_x86_reg_msr(0xc000_0080) in kvm-bindings 0.14: 0x2030_0002_c000_0080
        let efer = RegId::new(RegArch::X86, X86_SET_MSR, 0xc000_0080, RegSize::U64);
        assert_eq!(efer.raw(), 0x2030_0002_c000_0080);
        assert!(!efer.is_private());
        let rax = RegId::new(RegArch::X86, PRIVATE_SET, 0, RegSize::U64);
        assert!(rax.is_private());
        assert_eq!(rax.raw(), 0x2030_8000_0000_0000);
    }

    #[test]
    fn arm64_core_ids() {
        // pc: offsetof(struct kvm_regs, regs.pc) / 4 = 256 / 4 = 64
        assert_eq!(arm64_core(64, RegSize::U64).raw(), 0x6030_0000_0010_0040);
        // v0: offsetof(fp_regs.vregs[0]) / 4 = 336 / 4 = 84, U128
        let v0 = arm64_core(84, RegSize::U128);
        assert_eq!(v0.raw(), 0x6040_0000_0010_0054);
        assert_eq!(v0.set(), ARM64_SET_CORE);
        assert_eq!(v0.number(), 84);
        assert_eq!(v0.bytes(), 16);
    }

    #[test]
    fn arm64_sysreg_encoding_round_trips() {
        // SCTLR_EL1 = ARM64_SYS_REG(3, 0, 1, 0, 0) = 0x6030_0000_0013_c080
        let sctlr = arm64_sysreg(3, 0, 1, 0, 0);
        assert_eq!(sctlr.raw(), 0x6030_0000_0013_c080);
        assert_eq!(sctlr.set(), ARM64_SET_SYSREG);
        let enc = SysRegEncoding::from_number(sctlr.number() as u16);
        assert_eq!(
            enc,
            SysRegEncoding {
                op0: 3,
                op1: 0,
                crn: 1,
                crm: 0,
                op2: 0
            }
        );
        assert_eq!(enc.generic_name(), "s3_0_c1_c0_0");
        for n in [0u16, 0x1234, 0xffff, 0xdf1a] {
            assert_eq!(SysRegEncoding::from_number(n).number(), n);
        }
    }

    #[test]
    fn unknown_arch_decodes_to_none() {
        let id = RegId::from_raw(0x8030_0000_0000_0001); // KVM_REG_RISCV
        assert_eq!(id.arch(), None);
        assert_eq!(id.set(), 0);
        assert!(id.is_private());
        assert_eq!(format!("{id}"), "0x8030000000000001");
    }
}
