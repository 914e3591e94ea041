//! PowerPC `struct kvm_regs`, `struct kvm_sregs` (both halves of its union, defined once, here)
//! and `struct kvm_fpu` (`arch/powerpc/include/uapi/asm/kvm.h`), and how tetra's register tables
//! reach them.
//!
//! `kvm_sregs` is `pvr` followed by a union of the Book3S half `s` (SDR1, 64 SLB entries, the
//! 32-bit segment registers and BATs), the BookE half `e` (the `u.e` block: features, exception
//! and timer SPRs, MAS registers, IVORs, TLB geometry) and `__u8 pad[1020]`. The Book3S half is
//! the largest member (1224 bytes), so the union is 1224 bytes and the struct 1232, not
//! 4 + 1020: the ABI check pins these numbers.
//!
//! BookE sregs are sectioned: `u.e.features` (`KVM_SREGS_E_*`) says which fields KVM filled on
//! `KVM_GET_SREGS` and which it applies on `KVM_SET_SREGS`, and MCSR/TSR/DEC/DBSR are only
//! written when their bit is set in `u.e.update_special`. [`sregs_e_fields`] records, per field,
//! the feature it needs and its update bit, so that a read skips fields KVM did not fill and a
//! write sets exactly the update bits of the fields it changes.

use crate::consts::*;
use std::mem::offset_of;
use std::sync::LazyLock;
use vmm_core::regs::{BlockKind, RegBlock, PRIVATE_SET};

/// `struct kvm_regs` on PowerPC (`KVM_GET_REGS`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmRegs {
    /// NIP.
    pub pc: u64,
    /// CR (32 bits used).
    pub cr: u64,
    /// CTR.
    pub ctr: u64,
    /// LR.
    pub lr: u64,
    /// XER.
    pub xer: u64,
    /// MSR.
    pub msr: u64,
    /// SRR0.
    pub srr0: u64,
    /// SRR1.
    pub srr1: u64,
    /// PID (BookE).
    pub pid: u64,
    /// SPRG0.
    pub sprg0: u64,
    /// SPRG1.
    pub sprg1: u64,
    /// SPRG2.
    pub sprg2: u64,
    /// SPRG3.
    pub sprg3: u64,
    /// SPRG4 (BookE).
    pub sprg4: u64,
    /// SPRG5 (BookE).
    pub sprg5: u64,
    /// SPRG6 (BookE).
    pub sprg6: u64,
    /// SPRG7 (BookE).
    pub sprg7: u64,
    /// GPR0-31.
    pub gpr: [u64; 32],
}

/// One Book3S SLB entry in `u.s.ppc64.slb[]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmSlbEntry {
    /// ESID half (with the entry number in the low bits and the valid bit).
    pub slbe: u64,
    /// VSID half.
    pub slbv: u64,
}

/// `u.s.ppc64` of `struct kvm_sregs`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvmSregsPpc64 {
    /// The SLB.
    pub slb: [KvmSlbEntry; 64],
}

/// `u.s.ppc32` of `struct kvm_sregs` (32-bit Book3S guests).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmSregsPpc32 {
    /// Segment registers.
    pub sr: [u32; 16],
    /// Instruction BATs.
    pub ibat: [u64; 8],
    /// Data BATs.
    pub dbat: [u64; 8],
}

/// The Book3S half `u.s` of `struct kvm_sregs`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvmSregsS {
    /// SDR1 (hashed page table base and size).
    pub sdr1: u64,
    /// 64-bit segment state.
    pub ppc64: KvmSregsPpc64,
    /// 32-bit segment state.
    pub ppc32: KvmSregsPpc32,
}

/// `u.e.impl.fsl` of `struct kvm_sregs` (`KVM_SREGS_E_IMPL_FSL`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmSregsEFsl {
    /// `KVM_SREGS_E_FSL_*`.
    pub features: u32,
    /// SVR.
    pub svr: u32,
    /// MCAR.
    pub mcar: u64,
    /// HID0.
    pub hid0: u32,
    /// PID1 (`KVM_SREGS_E_FSL_PIDn`).
    pub pid1: u32,
    /// PID2 (`KVM_SREGS_E_FSL_PIDn`).
    pub pid2: u32,
}

/// `u.e.impl` of `struct kvm_sregs`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union KvmSregsEImpl {
    /// Freescale implementation registers.
    pub fsl: KvmSregsEFsl,
    /// Size.
    pub pad: [u8; 256],
}

/// The BookE half `u.e` of `struct kvm_sregs`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct KvmSregsE {
    /// Implementation-specific registers.
    pub impl_: KvmSregsEImpl,
    /// `KVM_SREGS_E_*`: which sections are valid.
    pub features: u32,
    /// `KVM_SREGS_E_IMPL_*`.
    pub impl_id: u32,
    /// `KVM_SREGS_E_UPDATE_*`: which special registers a set writes.
    pub update_special: u32,
    /// PIR (read-only).
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
    /// IAC1-4 (low 32 bits; ONE_REG has all 64).
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
    /// Reserved.
    pub pad: u8,
    /// EPR (deprecated here: use ONE_REG).
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
    /// TLB0-3CFG (read-only).
    pub tlbcfg: [u32; 4],
    /// TLB0-3PS (read-only).
    pub tlbps: [u32; 4],
    /// EPLC (E.PD).
    pub eplc: u32,
    /// EPSC (E.PD).
    pub epsc: u32,
}

/// The union `u` of `struct kvm_sregs`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union KvmSregsU {
    /// Book3S.
    pub s: KvmSregsS,
    /// BookE.
    pub e: KvmSregsE,
    /// The declared padding (smaller than `s`).
    pub pad: [u8; 1020],
}

/// `struct kvm_sregs` on PowerPC (`KVM_GET_SREGS`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct KvmSregs {
    /// PVR.
    pub pvr: u32,
    /// Book3S or BookE state.
    pub u: KvmSregsU,
}

impl Default for KvmSregs {
    fn default() -> Self {
        // SAFETY: KvmSregs is plain integers and arrays of them: all-zero bytes are a valid value
        // of every field and of every union member.
        unsafe { std::mem::zeroed() }
    }
}

impl std::fmt::Debug for KvmSregs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvmSregs")
            .field("pvr", &self.pvr)
            .finish_non_exhaustive()
    }
}

/// `struct kvm_fpu` on PowerPC (KVM returns `EOPNOTSUPP`; FPRs go through ONE_REG).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmFpu {
    /// FPR0-31.
    pub fpr: [u64; 32],
}

/// Views a plain-integer `#[repr(C)]` value of this crate as bytes.
fn bytes_of<T: Copy>(v: &T) -> &[u8] {
    // SAFETY: callers pass this crate's repr(C) integer structs, whose bytes are all initialized
    // (they are built zeroed or copied from the kernel); the slice covers exactly `v`.
    unsafe { std::slice::from_raw_parts(v as *const T as *const u8, std::mem::size_of::<T>()) }
}

impl KvmRegs {
    /// The C bytes of the struct (what `KVM_SET_REGS` reads).
    pub fn as_bytes(&self) -> &[u8] {
        bytes_of(self)
    }
}

impl KvmSregs {
    /// The C bytes of the struct (what `KVM_SET_SREGS` reads).
    pub fn as_bytes(&self) -> &[u8] {
        bytes_of(self)
    }
}

/// The fields of `struct kvm_regs`: (tetra's name, C member, byte offset). All are `__u64`.
/// `pid` and `sprg4`-`sprg7` are BookE-only.
pub fn regs_fields() -> Vec<(String, String, usize)> {
    let mut v: Vec<(String, String, usize)> = [
        ("nip", "pc", offset_of!(KvmRegs, pc)),
        ("cr", "cr", offset_of!(KvmRegs, cr)),
        ("ctr", "ctr", offset_of!(KvmRegs, ctr)),
        ("lr", "lr", offset_of!(KvmRegs, lr)),
        ("xer", "xer", offset_of!(KvmRegs, xer)),
        ("msr", "msr", offset_of!(KvmRegs, msr)),
        ("srr0", "srr0", offset_of!(KvmRegs, srr0)),
        ("srr1", "srr1", offset_of!(KvmRegs, srr1)),
        ("pid", "pid", offset_of!(KvmRegs, pid)),
    ]
    .iter()
    .map(|&(n, m, o)| (n.to_string(), m.to_string(), o))
    .collect();
    for i in 0..8 {
        v.push((
            format!("sprg{i}"),
            format!("sprg{i}"),
            offset_of!(KvmRegs, sprg0) + 8 * i,
        ));
    }
    for i in 0..32 {
        v.push((
            format!("gpr{i}"),
            format!("gpr[{i}]"),
            offset_of!(KvmRegs, gpr) + 8 * i,
        ));
    }
    v
}

/// The block number of `struct kvm_sregs` in the PowerPC register tables (restored first: the PVR
/// must be set before anything else, and before the first `KVM_RUN`).
pub const BLOCK_SREGS: u8 = 0;
/// The block number of `struct kvm_regs` in the PowerPC register tables.
pub const BLOCK_REGS: u8 = 1;

/// The PowerPC register blocks, in restore order.
pub static BLOCKS: [RegBlock; 2] = [
    RegBlock {
        id: BLOCK_SREGS,
        name: "sregs",
        ioctls: "KVM_GET_SREGS/KVM_SET_SREGS",
        kind: BlockKind::Struct {
            c_type: "struct kvm_sregs",
            size: std::mem::size_of::<KvmSregs>(),
        },
    },
    RegBlock {
        id: BLOCK_REGS,
        name: "regs",
        ioctls: "KVM_GET_REGS/KVM_SET_REGS",
        kind: BlockKind::Struct {
            c_type: "struct kvm_regs",
            size: std::mem::size_of::<KvmRegs>(),
        },
    },
];

/// The ONE_REG set: ids are KVM's `KVM_REG_PPC_*`.
pub const SET_ONE_REG: u16 = 0;
/// tetra's set for `struct kvm_regs` fields (GPRs, CR, XER, LR, CTR, NIP, MSR, SRRs, SPRGs).
pub const SET_REGS: u16 = PRIVATE_SET;
/// tetra's set for the Book3S fields of `struct kvm_sregs` (PVR, SDR1, SLB).
pub const SET_SREGS_S: u16 = PRIVATE_SET | 1;
/// tetra's set for the BookE fields of `struct kvm_sregs` (`pvr` and `u.e`).
pub const SET_SREGS_E: u16 = PRIVATE_SET | 2;

/// What a BookE sregs field needs to be valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// Always valid (PVR).
    Always,
    /// All these `KVM_SREGS_E_*` bits in `u.e.features`.
    Features(u32),
    /// `u.e.impl_id == KVM_SREGS_E_IMPL_FSL`.
    ImplFsl,
    /// `KVM_SREGS_E_IMPL_FSL` and `KVM_SREGS_E_FSL_PIDn` in `u.e.impl.fsl.features`.
    FslPidn,
}

/// One field of the BookE `struct kvm_sregs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SregsEField {
    /// tetra's register name (`mas0`, `ivor5`, `tlb1cfg`, ...).
    pub name: String,
    /// The C member designator in `struct kvm_sregs` (`u.e.ivor_low[5]`).
    pub member: String,
    /// Byte offset in `struct kvm_sregs`.
    pub offset: usize,
    /// Byte length.
    pub len: usize,
    /// What it needs to be valid.
    pub needs: Needs,
    /// Its `KVM_SREGS_E_UPDATE_*` bit, or 0.
    pub update: u32,
    /// KVM ignores writes to it.
    pub read_only: bool,
}

const U: usize = offset_of!(KvmSregs, u);

fn fields_e() -> Vec<SregsEField> {
    let mut v = Vec::new();
    let mut add = |name: String, member: String, off: usize, len, needs, update, ro| {
        v.push(SregsEField {
            name,
            member,
            offset: off,
            len,
            needs,
            update,
            read_only: ro,
        })
    };
    use Needs::*;
    let e = |o: usize| U + o;
    let fsl = |o: usize| U + offset_of!(KvmSregsE, impl_) + o;
    add("pvr".into(), "pvr".into(), 0, 4, Always, 0, false);
    for (n, o, len, needs) in [
        ("svr", offset_of!(KvmSregsEFsl, svr), 4, ImplFsl),
        ("mcar", offset_of!(KvmSregsEFsl, mcar), 8, ImplFsl),
        ("hid0", offset_of!(KvmSregsEFsl, hid0), 4, ImplFsl),
        ("pid1", offset_of!(KvmSregsEFsl, pid1), 4, FslPidn),
        ("pid2", offset_of!(KvmSregsEFsl, pid2), 4, FslPidn),
    ] {
        add(
            n.into(),
            format!("u.e.impl.fsl.{n}"),
            fsl(o),
            len,
            needs,
            0,
            false,
        );
    }
    macro_rules! f {
        ($name:ident, $feat:expr) => {
            f!($name, $feat, 0, false)
        };
        ($name:ident, $feat:expr, $upd:expr, $ro:expr) => {
            add(
                stringify!($name).into(),
                concat!("u.e.", stringify!($name)).into(),
                e(offset_of!(KvmSregsE, $name)),
                crate::sregs::member_len(|s: &KvmSregsE| &s.$name),
                Features($feat),
                $upd,
                $ro,
            )
        };
    }
    f!(pir, KVM_SREGS_E_ARCH206, 0, true);
    f!(sprg8, KVM_SREGS_E_SPRG8);
    f!(sprg9, KVM_SREGS_E_ED);
    f!(csrr0, KVM_SREGS_E_BASE);
    f!(dsrr0, KVM_SREGS_E_ED);
    f!(mcsrr0, KVM_SREGS_E_ARCH206);
    f!(csrr1, KVM_SREGS_E_BASE);
    f!(dsrr1, KVM_SREGS_E_ED);
    f!(mcsrr1, KVM_SREGS_E_ARCH206);
    f!(esr, KVM_SREGS_E_BASE);
    f!(dear, KVM_SREGS_E_BASE);
    f!(ivpr, KVM_SREGS_E_ARCH206);
    f!(mcivpr, KVM_SREGS_E_MCIVPR);
    f!(mcsr, KVM_SREGS_E_BASE, KVM_SREGS_E_UPDATE_MCSR, false);
    f!(tsr, KVM_SREGS_E_BASE, KVM_SREGS_E_UPDATE_TSR, false);
    f!(tcr, KVM_SREGS_E_BASE);
    f!(decar, KVM_SREGS_E_ARCH206);
    f!(dec, KVM_SREGS_E_BASE, KVM_SREGS_E_UPDATE_DEC, false);
    f!(tb, KVM_SREGS_E_BASE, 0, true);
    f!(dbsr, KVM_SREGS_E_DEBUG, KVM_SREGS_E_UPDATE_DBSR, false);
    let arr = |add: &mut dyn FnMut(String, String, usize, usize, Needs, u32, bool),
               prefix: &str,
               first: usize,
               member: &str,
               base: usize,
               count: usize,
               needs: Needs,
               ro: bool| {
        for i in 0..count {
            add(
                format!("{prefix}{}", first + i),
                format!("u.e.{member}[{i}]"),
                e(base + 4 * i),
                4,
                needs,
                0,
                ro,
            );
        }
    };
    let dbg = Features(KVM_SREGS_E_DEBUG);
    arr(
        &mut add,
        "dbcr",
        0,
        "dbcr",
        offset_of!(KvmSregsE, dbcr),
        3,
        dbg,
        false,
    );
    arr(
        &mut add,
        "iac",
        1,
        "iac",
        offset_of!(KvmSregsE, iac),
        4,
        dbg,
        false,
    );
    arr(
        &mut add,
        "dac",
        1,
        "dac",
        offset_of!(KvmSregsE, dac),
        2,
        dbg,
        false,
    );
    arr(
        &mut add,
        "dvc",
        1,
        "dvc",
        offset_of!(KvmSregsE, dvc),
        2,
        dbg,
        false,
    );
    f!(num_iac, KVM_SREGS_E_DEBUG, 0, true);
    f!(num_dac, KVM_SREGS_E_DEBUG, 0, true);
    f!(num_dvc, KVM_SREGS_E_DEBUG, 0, true);
    f!(epr, KVM_SREGS_EXP);
    f!(vrsave, KVM_SREGS_E_BASE);
    f!(epcr, KVM_SREGS_E_64);
    f!(mas0, KVM_SREGS_E_ARCH206_MMU);
    f!(mas1, KVM_SREGS_E_ARCH206_MMU);
    f!(mas2, KVM_SREGS_E_ARCH206_MMU);
    f!(mas7_3, KVM_SREGS_E_ARCH206_MMU);
    f!(mas4, KVM_SREGS_E_ARCH206_MMU);
    f!(mas6, KVM_SREGS_E_ARCH206_MMU);
    let ivor = KVM_SREGS_E_IVOR;
    let lo = offset_of!(KvmSregsE, ivor_low);
    let hi = offset_of!(KvmSregsE, ivor_high);
    arr(
        &mut add,
        "ivor",
        0,
        "ivor_low",
        lo,
        16,
        Features(ivor),
        false,
    );
    // IVOR32-34 with SPE, IVOR35 with E.PM, IVOR36-37 with E.PC; ivor_high[6..] is room to expand.
    arr(
        &mut add,
        "ivor",
        32,
        "ivor_high",
        hi,
        3,
        Features(ivor | KVM_SREGS_E_SPE),
        false,
    );
    add(
        "ivor35".into(),
        "u.e.ivor_high[3]".into(),
        e(hi + 12),
        4,
        Features(ivor | KVM_SREGS_E_PM),
        0,
        false,
    );
    for i in 4..6 {
        add(
            format!("ivor{}", 32 + i),
            format!("u.e.ivor_high[{i}]"),
            e(hi + 4 * i),
            4,
            Features(ivor | KVM_SREGS_E_PC),
            0,
            false,
        );
    }
    f!(mmucfg, KVM_SREGS_E_ARCH206_MMU, 0, true);
    f!(eptcfg, KVM_SREGS_E_PT, 0, true);
    let mmu = Features(KVM_SREGS_E_ARCH206_MMU);
    arr(
        &mut add,
        "tlbcfg",
        0,
        "tlbcfg",
        offset_of!(KvmSregsE, tlbcfg),
        4,
        mmu,
        true,
    );
    arr(
        &mut add,
        "tlbps",
        0,
        "tlbps",
        offset_of!(KvmSregsE, tlbps),
        4,
        mmu,
        true,
    );
    f!(eplc, KVM_SREGS_E_PD);
    f!(epsc, KVM_SREGS_E_PD);
    v
}

/// The length of the member a closure projects to.
pub(crate) fn member_len<T, F>(_: impl Fn(&T) -> &F) -> usize {
    std::mem::size_of::<F>()
}

static FIELDS_E: LazyLock<Vec<SregsEField>> = LazyLock::new(fields_e);

/// Every BookE `struct kvm_sregs` field tetra models (PVR and `u.e`), with what it needs to be
/// valid and its update bit. Names: `tlbcfg0` is TLB0CFG, `tlbps1` TLB1PS, `ivor35` IVOR35.
pub fn sregs_e_fields() -> &'static [SregsEField] {
    &FIELDS_E
}

/// The BookE field at byte `offset` of `struct kvm_sregs`.
pub fn sregs_e_field_at(offset: usize) -> Option<&'static SregsEField> {
    FIELDS_E.iter().find(|f| f.offset == offset)
}

fn read_u32(data: &[u8], offset: usize) -> Option<u32> {
    let b = data.get(offset..offset + 4)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// Byte offset of `u.e.features` in `struct kvm_sregs`.
pub const E_FEATURES: usize = U + offset_of!(KvmSregsE, features);
/// Byte offset of `u.e.impl_id`.
pub const E_IMPL_ID: usize = U + offset_of!(KvmSregsE, impl_id);
/// Byte offset of `u.e.update_special`.
pub const E_UPDATE_SPECIAL: usize = U + offset_of!(KvmSregsE, update_special);
/// Byte offset of `u.e.impl.fsl.features`.
pub const E_FSL_FEATURES: usize =
    U + offset_of!(KvmSregsE, impl_) + offset_of!(KvmSregsEFsl, features);

/// Whether `needs` holds in BookE sregs bytes `data` (as `KVM_GET_SREGS` returned them).
pub fn needs_hold(data: &[u8], needs: Needs) -> bool {
    let features = read_u32(data, E_FEATURES).unwrap_or(0);
    let fsl = read_u32(data, E_IMPL_ID) == Some(KVM_SREGS_E_IMPL_FSL);
    match needs {
        Needs::Always => true,
        Needs::Features(bits) => features & bits == bits,
        Needs::ImplFsl => fsl,
        Needs::FslPidn => {
            fsl && read_u32(data, E_FSL_FEATURES).unwrap_or(0) & KVM_SREGS_E_FSL_PIDN != 0
        }
    }
}

/// ORs the `KVM_SREGS_E_UPDATE_*` bits of the fields at `offsets` into `u.e.update_special` of
/// BookE sregs bytes `data`; returns the bits set.
pub fn set_update_special(data: &mut [u8], offsets: impl IntoIterator<Item = usize>) -> u32 {
    let bits = offsets
        .into_iter()
        .filter_map(sregs_e_field_at)
        .fold(0, |acc, f| acc | f.update);
    if let Some(old) = read_u32(data, E_UPDATE_SPECIAL) {
        if bits != 0 {
            data[E_UPDATE_SPECIAL..E_UPDATE_SPECIAL + 4]
                .copy_from_slice(&(old | bits).to_ne_bytes());
        }
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;

    #[test]
    fn regs_fields_cover_kvm_regs() {
        let f = regs_fields();
        assert_eq!(f.len(), 49);
        assert_eq!(f.iter().map(|x| x.2).max(), Some(size_of::<KvmRegs>() - 8));
        assert_eq!(f[0], ("nip".to_string(), "pc".to_string(), 0));
        assert_eq!(f[17], ("gpr0".to_string(), "gpr[0]".to_string(), 136));
    }

    #[test]
    fn sizes_and_offsets() {
        // The values powerpc64le-linux-gnu-gcc gives for the 6.1 uapi headers (the ABI check
        // compares them with the headers themselves).
        assert_eq!(size_of::<KvmRegs>(), 392);
        assert_eq!(size_of::<KvmSregs>(), 1232);
        assert_eq!(size_of::<KvmSregsS>(), 1224);
        assert_eq!(size_of::<KvmSregsE>(), 664);
        assert_eq!(offset_of!(KvmSregs, u), 8);
        assert_eq!(U + offset_of!(KvmSregsE, mas0), 456);
        assert_eq!(BLOCKS[0].size(), 1232);
    }

    #[test]
    fn booke_fields_do_not_overlap_and_stay_inside() {
        let mut f: Vec<&SregsEField> = sregs_e_fields().iter().collect();
        f.sort_by_key(|f| f.offset);
        for w in f.windows(2) {
            assert!(
                w[0].offset + w[0].len <= w[1].offset,
                "{} overlaps {}",
                w[0].name,
                w[1].name
            );
        }
        let last = f.last().unwrap();
        assert!(last.offset + last.len <= U + size_of::<KvmSregsE>());
        let names: std::collections::HashSet<&str> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names.len(), f.len(), "unique names");
        for n in [
            "mas0", "mas7_3", "ivor0", "ivor15", "ivor37", "tlbcfg3", "tlbps0", "eptcfg", "epcr",
            "ivpr", "tsr", "tcr", "epr", "svr",
        ] {
            assert!(names.contains(n), "{n}");
        }
        let tsr = sregs_e_field_at(U + offset_of!(KvmSregsE, tsr)).unwrap();
        assert_eq!(
            (tsr.name.as_str(), tsr.update),
            ("tsr", KVM_SREGS_E_UPDATE_TSR)
        );
    }

    #[test]
    fn feature_sections_and_update_bits() {
        let mut s = KvmSregs::default();
        s.u.e = KvmSregsE {
            features: KVM_SREGS_E_BASE
                | KVM_SREGS_E_ARCH206_MMU
                | KVM_SREGS_E_IVOR
                | KVM_SREGS_E_PM,
            impl_id: KVM_SREGS_E_IMPL_FSL,
            ..unsafe_zeroed_e()
        };
        let mut data = s.as_bytes().to_vec();
        let need = |n: &str| sregs_e_fields().iter().find(|f| f.name == n).unwrap().needs;
        assert!(needs_hold(&data, need("mas0")));
        assert!(needs_hold(&data, need("tsr")));
        assert!(needs_hold(&data, need("ivor35")));
        assert!(!needs_hold(&data, need("ivor32")), "IVOR32 needs SPE");
        assert!(!needs_hold(&data, need("ivpr")), "IVPR needs ARCH206");
        assert!(!needs_hold(&data, need("epcr")), "EPCR needs E_64");
        assert!(needs_hold(&data, need("svr")));
        assert!(!needs_hold(&data, need("pid1")), "PIDn not in fsl.features");
        assert!(needs_hold(&data, Needs::Always));

        let at = |n: &str| {
            sregs_e_fields()
                .iter()
                .find(|f| f.name == n)
                .unwrap()
                .offset
        };
        let bits = set_update_special(&mut data, [at("tsr"), at("dec"), at("mas0")]);
        assert_eq!(bits, KVM_SREGS_E_UPDATE_TSR | KVM_SREGS_E_UPDATE_DEC);
        assert_eq!(read_u32(&data, E_UPDATE_SPECIAL), Some(bits));
        assert_eq!(set_update_special(&mut data, [at("mas1")]), 0);
        assert_eq!(read_u32(&data, E_UPDATE_SPECIAL), Some(bits));
        // A short buffer is not touched, and nothing panics.
        assert!(!needs_hold(&data[..10], need("mas0")));
        assert_eq!(
            set_update_special(&mut data[..10], [at("tsr")]),
            KVM_SREGS_E_UPDATE_TSR
        );
    }

    fn unsafe_zeroed_e() -> KvmSregsE {
        // SAFETY: plain integers.
        unsafe { std::mem::zeroed() }
    }
}
