//! The arm64 parts of a VM snapshot and of a migration stream, in vmm-core's envelope (magic
//! [`SNAPSHOT_MAGIC`], see `docs/snapshot-format.md`):
//!
//! - each vCPU's **registers** (core, FP/SIMD, system registers, the timers, the vPMU's
//!   registers, the PSCI version): vmm-core's `VCPU` section, by the ids `KVM_GET_REG_LIST`
//!   gives (`crate::regs`);
//! - each vCPU's **MPIDR and power state** (`KVM_GET_MP_STATE`: running, or powered off by PSCI):
//!   the arch's extra bytes of its `VCPU` section ([`encode_vcpu`]);
//! - [`GICD`]: the GICv3 **distributor** (`KVM_DEV_ARM_VGIC_GRP_DIST_REGS`, and the SPIs' input
//!   levels through `KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO`), with the number of interrupt ids;
//! - [`GICR`]: each vCPU's **redistributor** (`KVM_DEV_ARM_VGIC_GRP_REDIST_REGS`, its PPIs' levels),
//!   keyed by the vCPU's **MPIDR** (the attribute's affinity field), not by its index;
//! - [`ICCR`]: each vCPU's **ICC system registers** (`KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS`), keyed by
//!   MPIDR as well;
//! - [`ITSR`] (only with `--irqchip gicv3-its`): the **ITS registers**
//!   (`KVM_DEV_ARM_VGIC_GRP_ITS_REGS`) at ITS table **ABI revision 0** ([`ITS_ABI_REVISION`]). The
//!   ITS tables (device, collection, interrupt translation) and the LPI pending tables are not in
//!   a section: KVM writes them into guest RAM (`KVM_DEV_ARM_ITS_SAVE_TABLES`,
//!   `KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES`, in `Arch::flush_to_guest_ram`, before the final
//!   dirty harvest) and they travel with the memory.
//!
//! The state is plain Rust ([`VmState`], [`VcpuExtra`]); the ioctl glue (`kvm/gic_state.rs`)
//! converts. Every integer is little-endian, every field written on its own:
//!
//! ```text
//! GICD version 1:
//!   u32 nr_irqs (64..=1024, a multiple of 32: SGIs, PPIs and SPIs), u32 GICD_CTLR,
//!   u32 GICD_IIDR, u32 GICD_STATUSR,
//!   u32 bank count = (nr_irqs - 32) / 32, then per bank of 32 SPIs (bank n: ids 32 + 32n ..):
//!     u32 IGROUPR, u32 ISENABLER, u32 ISPENDR (the latch), u32 ISACTIVER, u32 IGRPMODR,
//!     u32 line levels, 2 x u32 ICFGR, 32 x u8 IPRIORITYR, 32 x u64 IROUTER
//! GICR version 1:
//!   u32 count (1..=4096), then per vCPU:
//!     u64 MPIDR, u32 GICR_CTLR, u32 GICR_STATUSR, u64 GICR_PROPBASER, u64 GICR_PENDBASER,
//!     u32 IGROUPR0, u32 ISENABLER0, u32 ISPENDR0, u32 ISACTIVER0, u32 IGRPMODR0,
//!     u32 line levels (PPIs), 2 x u32 ICFGR0/1, 32 x u8 IPRIORITYR
//! ICCR version 1:
//!   u32 count (1..=4096), then per vCPU:
//!     u64 MPIDR, u64 ICC_SRE_EL1, u64 ICC_CTLR_EL1, u64 ICC_PMR_EL1, u64 ICC_BPR0_EL1,
//!     u64 ICC_BPR1_EL1, u64 ICC_IGRPEN0_EL1, u64 ICC_IGRPEN1_EL1,
//!     u32 n (1, 2 or 4: what ICC_CTLR_EL1.PRIbits implies), n x (u64 ICC_AP0Rn, u64 ICC_AP1Rn)
//! ITSR version 1:
//!   u64 GITS_IIDR, u64 GITS_TYPER, u64 GITS_CTLR, u64 GITS_CBASER, u64 GITS_CREADR,
//!   u64 GITS_CWRITER, u32 count = 8, 8 x u64 `GITS_BASER<n>`
//! vCPU extra version 1:
//!   "A64V", u16 version = 1, u64 MPIDR_EL1, u32 mp_state (KVM_MP_STATE_*)
//! ```
//!
//! # Validation
//!
//! Decoding checks each section's version ([`SectionSpec`]), every count (checked against the
//! bytes left before anything is allocated), the interrupt count's range, that no MPIDR appears
//! twice in a section, the ICC active-priority register count against `ICC_CTLR_EL1.PRIbits`,
//! the ITS ABI revision and the vCPU power state, and that every byte is consumed. Against the VM
//! being restored ([`VmState::check_against`], [`VcpuExtra::check_mpidr`]): the same interrupt
//! count, a redistributor and a CPU interface for exactly this VM's MPIDRs, an ITS exactly when
//! the VM has one, and the same ITS geometry (`GITS_TYPER`, each `GITS_BASER`'s type and entry
//! size). A bad input is an [`Arm64SnapshotError`] naming the field, the section and the vCPU
//! (by MPIDR), never a panic. (The envelope adds its CRC and caps.)
//!
//! Restore follows the order the kernel documents (`Documentation/virt/kvm/devices/arm-vgic-v3.rst`
//! and `arm-vgic-its.rst`): memory and every vCPU first, then the GIC (distributor,
//! redistributors, ICC registers); then the ITS: `GITS_IIDR` (selecting the ABI), `GITS_CBASER`,
//! the other registers but `GITS_CTLR`, `KVM_DEV_ARM_ITS_RESTORE_TABLES`, and `GITS_CTLR` last.

use thiserror::Error;
use vmm_core::snapshot::{check_tags, CodecError, Envelope, Section, SectionSpec};
use vmm_core::wire::{Reader, Writer};

/// The magic of arm64 snapshots and migration streams.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"TETRAA64";
/// The GICv3 distributor.
pub const GICD: SectionSpec = SectionSpec::new(*b"GICD", 1, 1);
/// The redistributors, keyed by MPIDR.
pub const GICR: SectionSpec = SectionSpec::new(*b"GICR", 1, 1);
/// The ICC system registers, keyed by MPIDR.
pub const ICCR: SectionSpec = SectionSpec::new(*b"ICCR", 1, 1);
/// The ITS registers (the ITS tables go through guest RAM).
pub const ITSR: SectionSpec = SectionSpec::new(*b"ITSR", 1, 1);
/// The VM-wide sections.
pub const SECTIONS: [SectionSpec; 4] = [GICD, GICR, ICCR, ITSR];
const _: () = check_tags(&SECTIONS);
/// The tags of the VM-wide sections (`Arch::VM_STATE_TAGS`).
pub const VM_STATE_TAGS: [[u8; 4]; 4] = [GICD.tag, GICR.tag, ICCR.tag, ITSR.tag];
/// The header of a vCPU's extra bytes.
pub const VCPU_EXTRA: SectionSpec = SectionSpec::new(*b"A64V", 1, 1);
/// The ITS table ABI revision the format holds (`GITS_IIDR.Revision`; the only one KVM has).
pub const ITS_ABI_REVISION: u32 = 0;
/// The most vCPUs a section describes (vmm-core's cap on a snapshot's vCPUs).
pub const MAX_VCPUS: usize = 4096;
/// `GITS_BASER<n>` registers.
pub const ITS_BASERS: usize = 8;
/// The power states an arm64 vCPU can be in: `KVM_MP_STATE_RUNNABLE`, `_STOPPED` (powered off
/// by PSCI), `_SUSPENDED` (PSCI `SYSTEM_SUSPEND`).
pub const MP_STATES: [u32; 3] = [0, 5, 10];

const SPI_BANK_BYTES: usize = 6 * 4 + 2 * 4 + 32 + 32 * 8;
const REDIST_BYTES: usize = 8 + 4 + 4 + 8 + 8 + 6 * 4 + 2 * 4 + 32;
const ICC_BYTES: usize = 8 * 8 + 4;

mod gic_regs;
pub use gic_regs::{gicd, gicr, gits, icc, mpidr_attr};

/// Why arm64 snapshot state was refused.
#[derive(Debug, Error)]
pub enum Arm64SnapshotError {
    /// Truncated, trailing bytes, a section missing or of an unknown version.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A field outside its range.
    #[error("{field} is {value:#x}, which is not {allowed}")]
    Field {
        /// The field, with its section and vCPU, e.g. `ICCR of MPIDR 0x80000001: ICC_CTLR_EL1`.
        field: String,
        /// Its value.
        value: u64,
        /// What it may be.
        allowed: &'static str,
    },
    /// A list of the wrong length.
    #[error("{what}: {count}, where {expected} are needed")]
    Count {
        /// What is counted, with its section.
        what: String,
        /// The count read.
        count: usize,
        /// The count needed.
        expected: usize,
    },
    /// A vCPU described twice in a section.
    #[error("section {section} holds the vCPU with MPIDR {mpidr:#x} twice")]
    DuplicateMpidr {
        /// The section.
        section: &'static str,
        /// The MPIDR.
        mpidr: u64,
    },
    /// A different number of interrupt ids.
    #[error(
        "section GICD: the snapshot's GIC has {snapshot} interrupt ids (nr_irqs), this VM's has {vm}"
    )]
    NrIrqs {
        /// The snapshot's.
        snapshot: u32,
        /// This VM's.
        vm: u32,
    },
    /// No state for one of this VM's vCPUs.
    #[error("section {section} has no state for this VM's vCPU {index} (MPIDR {mpidr:#x})")]
    MissingVcpu {
        /// The section.
        section: &'static str,
        /// The vCPU's index.
        index: usize,
        /// Its MPIDR.
        mpidr: u64,
    },
    /// State for a vCPU this VM lacks.
    #[error("section {section} holds a vCPU with MPIDR {mpidr:#x}, which this VM does not have")]
    UnknownVcpu {
        /// The section.
        section: &'static str,
        /// The MPIDR.
        mpidr: u64,
    },
    /// An ITS in the snapshot and not in the VM, or the reverse.
    #[error("{}", if *.snapshot {
        "the snapshot has an ITS (section ITSR), this VM has none"
    } else {
        "this VM has an ITS, the snapshot has none (no section ITSR)"
    })]
    ItsPresence {
        /// Whether the snapshot has one.
        snapshot: bool,
    },
    /// The ITS of the snapshot and this VM's differ in a read-only geometry field.
    #[error("section ITSR: {register} is {snapshot:#x} in the snapshot, {vm:#x} in this VM's ITS")]
    ItsGeometry {
        /// The register (and field).
        register: String,
        /// The snapshot's value.
        snapshot: u64,
        /// This VM's.
        vm: u64,
    },
    /// A vCPU's extra bytes for another vCPU.
    #[error(
        "the vCPU state saved for MPIDR {snapshot:#x} was given to the vCPU with MPIDR {vm:#x}"
    )]
    VcpuMpidr {
        /// The snapshot's MPIDR.
        snapshot: u64,
        /// The vCPU's.
        vm: u64,
    },
}
vmm_core::codec_error_from!(Arm64SnapshotError);

fn field(
    ok: bool,
    name: impl FnOnce() -> String,
    value: impl Into<u64>,
    allowed: &'static str,
) -> Result<(), Arm64SnapshotError> {
    if ok {
        Ok(())
    } else {
        Err(Arm64SnapshotError::Field {
            field: name(),
            value: value.into(),
            allowed,
        })
    }
}

fn exactly(
    what: impl FnOnce() -> String,
    count: usize,
    expected: usize,
) -> Result<(), Arm64SnapshotError> {
    if count == expected {
        Ok(())
    } else {
        Err(Arm64SnapshotError::Count {
            what: what(),
            count,
            expected,
        })
    }
}

fn u32s<const N: usize>(
    r: &mut Reader<'_>,
    what: &'static str,
) -> Result<[u32; N], Arm64SnapshotError> {
    let mut v = [0u32; N];
    for x in v.iter_mut() {
        *x = r.u32(what)?;
    }
    Ok(v)
}

/// The registers of 32 interrupts, laid out alike in the distributor (an SPI bank: ids
/// `32 + 32 n` to `63 + 32 n`) and in a redistributor's SGI frame (its SGIs and PPIs, ids 0 to 31).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IrqBank {
    /// IGROUPR: group 1 when set.
    pub group: u32,
    /// ISENABLER.
    pub enable: u32,
    /// ISPENDR as KVM gives it to userspace: the pending latch.
    pub pending: u32,
    /// ISACTIVER.
    pub active: u32,
    /// IGRPMODR.
    pub grpmod: u32,
    /// The input line levels (`VGIC_LEVEL_INFO_LINE_LEVEL`).
    pub level: u32,
    /// ICFGR, two registers of 16 interrupts.
    pub config: [u32; 2],
    /// IPRIORITYR, a byte an interrupt.
    pub priority: [u8; 32],
}

impl IrqBank {
    /// Its bytes: six u32 registers, the two ICFGR, the 32 priority bytes.
    fn write(&self, w: &mut Writer) {
        for v in [
            self.group,
            self.enable,
            self.pending,
            self.active,
            self.grpmod,
            self.level,
        ] {
            w.u32(v);
        }
        self.config.iter().for_each(|v| w.u32(*v));
        w.bytes(&self.priority);
    }

    /// Reads [`IrqBank::write`]'s bytes (`what` names the bank in a truncation error).
    fn read(r: &mut Reader<'_>, what: &'static str) -> Result<Self, Arm64SnapshotError> {
        let [group, enable, pending, active, grpmod, level] = u32s(r, what)?;
        Ok(IrqBank {
            group,
            enable,
            pending,
            active,
            grpmod,
            level,
            config: u32s(r, what)?,
            priority: r.array(what)?,
        })
    }
}

/// 32 SPIs of the distributor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpiBank {
    /// Their registers.
    pub bank: IrqBank,
    /// GICD_IROUTER, an affinity route an interrupt.
    pub router: [u64; 32],
}

/// The distributor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DistState {
    /// Interrupt ids the distributor implements (`KVM_DEV_ARM_VGIC_GRP_NR_IRQS`).
    pub nr_irqs: u32,
    /// GICD_CTLR.
    pub ctlr: u32,
    /// GICD_IIDR (KVM's implementation revision; restored first).
    pub iidr: u32,
    /// GICD_STATUSR.
    pub statusr: u32,
    /// The SPIs, 32 a bank: `(nr_irqs - 32) / 32` banks.
    pub spis: Vec<SpiBank>,
}

impl DistState {
    /// The SPI banks `nr_irqs` interrupt ids make, if `nr_irqs` is one KVM takes (64 to 1024, a
    /// multiple of 32).
    pub fn banks_for(nr_irqs: u32) -> Option<usize> {
        ((64..=1024).contains(&nr_irqs) && nr_irqs.is_multiple_of(32))
            .then(|| (nr_irqs as usize - 32) / 32)
    }
}

/// One vCPU's redistributor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RedistState {
    /// The vCPU's MPIDR_EL1 (the key).
    pub mpidr: u64,
    /// GICR_CTLR (EnableLPIs; restored last).
    pub ctlr: u32,
    /// GICR_STATUSR.
    pub statusr: u32,
    /// GICR_PROPBASER.
    pub propbaser: u64,
    /// GICR_PENDBASER.
    pub pendbaser: u64,
    /// The SGIs' and PPIs' registers (its SGI frame).
    pub bank: IrqBank,
}

/// One vCPU's GIC CPU interface (ICC_*_EL1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IccState {
    /// The vCPU's MPIDR_EL1 (the key).
    pub mpidr: u64,
    /// ICC_SRE_EL1 (restored first).
    pub sre: u64,
    /// ICC_CTLR_EL1 (restored second; its PRIbits fix the AP register count).
    pub ctlr: u64,
    /// ICC_PMR_EL1.
    pub pmr: u64,
    /// ICC_BPR0_EL1.
    pub bpr0: u64,
    /// ICC_BPR1_EL1.
    pub bpr1: u64,
    /// ICC_IGRPEN0_EL1.
    pub igrpen0: u64,
    /// ICC_IGRPEN1_EL1.
    pub igrpen1: u64,
    /// `ICC_AP0R<n>_EL1`, as many as [`icc::apr_count`] of `ctlr`.
    pub ap0r: Vec<u64>,
    /// `ICC_AP1R<n>_EL1`, as many.
    pub ap1r: Vec<u64>,
}

/// The ITS registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ItsState {
    /// GITS_IIDR (its Revision is the table ABI; restored first).
    pub iidr: u64,
    /// GITS_TYPER (read-only: the ITS's geometry, checked, not written).
    pub typer: u64,
    /// GITS_CTLR (restored last).
    pub ctlr: u64,
    /// GITS_CBASER.
    pub cbaser: u64,
    /// GITS_CREADR.
    pub creadr: u64,
    /// GITS_CWRITER.
    pub cwriter: u64,
    /// GITS_BASER0..7.
    pub baser: [u64; ITS_BASERS],
}

impl ItsState {
    /// Checks that this (a snapshot's) ITS has the geometry of `vm` (the fresh ITS of the VM
    /// being restored): the same `GITS_TYPER`, and each `GITS_BASER`'s type and entry size.
    pub fn check_geometry(&self, vm: &ItsState) -> Result<(), Arm64SnapshotError> {
        let differ = |register: String, snapshot, vm| Arm64SnapshotError::ItsGeometry {
            register,
            snapshot,
            vm,
        };
        if self.typer != vm.typer {
            return Err(differ("GITS_TYPER".into(), self.typer, vm.typer));
        }
        for (n, (s, v)) in self.baser.iter().zip(&vm.baser).enumerate() {
            let (s, v) = (s & gits::BASER_GEOMETRY, v & gits::BASER_GEOMETRY);
            if s != v {
                return Err(differ(format!("GITS_BASER{n} type and entry size"), s, v));
            }
        }
        Ok(())
    }
}

/// The VM-wide arm64 state: the GIC, and the ITS if the VM has one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VmState {
    /// The distributor.
    pub dist: DistState,
    /// The redistributors, one a vCPU.
    pub redists: Vec<RedistState>,
    /// The CPU interfaces, one a vCPU.
    pub iccs: Vec<IccState>,
    /// The ITS.
    pub its: Option<ItsState>,
}

/// Fails unless the MPIDRs of `keys` are exactly `mpidrs` (in any order).
fn same_vcpus(
    section: &'static str,
    keys: impl Iterator<Item = u64> + Clone,
    mpidrs: &[u64],
) -> Result<(), Arm64SnapshotError> {
    for (index, &mpidr) in mpidrs.iter().enumerate() {
        if !keys.clone().any(|k| k == mpidr) {
            return Err(Arm64SnapshotError::MissingVcpu {
                section,
                index,
                mpidr,
            });
        }
    }
    for k in keys {
        if !mpidrs.contains(&k) {
            return Err(Arm64SnapshotError::UnknownVcpu { section, mpidr: k });
        }
    }
    Ok(())
}

impl VmState {
    /// Checks the state against the VM it is restored into: `nr_irqs` interrupt ids, vCPUs with
    /// these `mpidrs` (by index), and `its`, the VM's fresh ITS registers if it has an ITS.
    pub fn check_against(
        &self,
        nr_irqs: u32,
        mpidrs: &[u64],
        its: Option<&ItsState>,
    ) -> Result<(), Arm64SnapshotError> {
        if self.dist.nr_irqs != nr_irqs {
            return Err(Arm64SnapshotError::NrIrqs {
                snapshot: self.dist.nr_irqs,
                vm: nr_irqs,
            });
        }
        same_vcpus("GICR", self.redists.iter().map(|r| r.mpidr), mpidrs)?;
        same_vcpus("ICCR", self.iccs.iter().map(|c| c.mpidr), mpidrs)?;
        match (&self.its, its) {
            (Some(s), Some(v)) => s.check_geometry(v),
            (None, None) => Ok(()),
            (s, _) => Err(Arm64SnapshotError::ItsPresence {
                snapshot: s.is_some(),
            }),
        }
    }

    /// The redistributor of the vCPU with `mpidr`.
    pub fn redist(&self, mpidr: u64) -> Option<&RedistState> {
        self.redists.iter().find(|r| r.mpidr == mpidr)
    }

    /// The CPU interface of the vCPU with `mpidr`.
    pub fn icc(&self, mpidr: u64) -> Option<&IccState> {
        self.iccs.iter().find(|c| c.mpidr == mpidr)
    }
}

/// The VM-wide sections, at their current versions (`ITSR` only with an ITS).
pub fn encode_vm(s: &VmState) -> Vec<Section> {
    let mut v = vec![
        dist_section(&s.dist),
        redist_section(&s.redists),
        icc_section(&s.iccs),
    ];
    v.extend(s.its.as_ref().map(its_section));
    v
}

/// Decodes and checks the VM-wide sections of `env`.
pub fn decode_vm(env: &Envelope) -> Result<VmState, Arm64SnapshotError> {
    Ok(VmState {
        dist: decode_dist(GICD.require(env)?)?,
        redists: decode_redists(GICR.require(env)?)?,
        iccs: decode_iccs(ICCR.require(env)?)?,
        its: env.section(&ITSR.tag).map(decode_its).transpose()?,
    })
}

/// Section `GICD`.
pub fn dist_section(d: &DistState) -> Section {
    let mut w = Writer::new();
    for v in [d.nr_irqs, d.ctlr, d.iidr, d.statusr] {
        w.u32(v);
    }
    w.u32(d.spis.len() as u32);
    for b in &d.spis {
        b.bank.write(&mut w);
        b.router.iter().for_each(|v| w.u64(*v));
    }
    GICD.section(w.into_bytes())
}

/// Decodes and checks section `GICD`.
pub fn decode_dist(s: &Section) -> Result<DistState, Arm64SnapshotError> {
    GICD.check(s.version)?;
    let mut r = Reader::new(&s.data);
    let [nr_irqs, ctlr, iidr, statusr] = u32s(&mut r, "the GICD registers")?;
    let banks = DistState::banks_for(nr_irqs);
    field(
        banks.is_some(),
        || "section GICD: nr_irqs".into(),
        nr_irqs,
        "64 to 1024, a multiple of 32",
    )?;
    let n = r.count("the GICD SPI bank count", SPI_BANK_BYTES)?;
    exactly(
        || format!("section GICD: SPI banks for {nr_irqs} interrupt ids"),
        n,
        banks.unwrap_or(0),
    )?;
    let mut spis = Vec::with_capacity(n);
    for _ in 0..n {
        let bank = IrqBank::read(&mut r, "a GICD SPI bank")?;
        let mut router = [0u64; 32];
        for x in router.iter_mut() {
            *x = r.u64("a GICD SPI bank's routes")?;
        }
        spis.push(SpiBank { bank, router });
    }
    r.finish("the GICD section")?;
    Ok(DistState {
        nr_irqs,
        ctlr,
        iidr,
        statusr,
        spis,
    })
}

/// Reads a per-vCPU count (1 to [`MAX_VCPUS`], checked against the bytes left).
fn vcpu_count(
    r: &mut Reader<'_>,
    section: &'static str,
    item: usize,
) -> Result<usize, Arm64SnapshotError> {
    let n = r.count(section, item)?;
    field(
        (1..=MAX_VCPUS).contains(&n),
        || format!("section {section}: the vCPU count"),
        n as u64,
        "1 to 4096",
    )?;
    Ok(n)
}

fn no_duplicates(section: &'static str, keys: &[u64]) -> Result<(), Arm64SnapshotError> {
    for (i, k) in keys.iter().enumerate() {
        if keys[..i].contains(k) {
            return Err(Arm64SnapshotError::DuplicateMpidr { section, mpidr: *k });
        }
    }
    Ok(())
}

/// Section `GICR`.
pub fn redist_section(rs: &[RedistState]) -> Section {
    let mut w = Writer::new();
    w.u32(rs.len() as u32);
    for r in rs {
        w.u64(r.mpidr);
        w.u32(r.ctlr);
        w.u32(r.statusr);
        w.u64(r.propbaser);
        w.u64(r.pendbaser);
        r.bank.write(&mut w);
    }
    GICR.section(w.into_bytes())
}

/// Decodes and checks section `GICR`.
pub fn decode_redists(s: &Section) -> Result<Vec<RedistState>, Arm64SnapshotError> {
    GICR.check(s.version)?;
    let mut r = Reader::new(&s.data);
    let n = vcpu_count(&mut r, "GICR", REDIST_BYTES)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mpidr = r.u64("a redistributor's MPIDR")?;
        let [ctlr, statusr] = u32s(&mut r, "a redistributor's GICR_CTLR and GICR_STATUSR")?;
        let propbaser = r.u64("a redistributor's GICR_PROPBASER")?;
        let pendbaser = r.u64("a redistributor's GICR_PENDBASER")?;
        out.push(RedistState {
            mpidr,
            ctlr,
            statusr,
            propbaser,
            pendbaser,
            bank: IrqBank::read(&mut r, "a redistributor's SGI and PPI registers")?,
        });
    }
    r.finish("the GICR section")?;
    no_duplicates("GICR", &out.iter().map(|r| r.mpidr).collect::<Vec<_>>())?;
    Ok(out)
}

/// Section `ICCR`.
pub fn icc_section(cs: &[IccState]) -> Section {
    let mut w = Writer::new();
    w.u32(cs.len() as u32);
    for c in cs {
        for v in [
            c.mpidr, c.sre, c.ctlr, c.pmr, c.bpr0, c.bpr1, c.igrpen0, c.igrpen1,
        ] {
            w.u64(v);
        }
        w.u32(c.ap0r.len() as u32);
        for (a0, a1) in c.ap0r.iter().zip(&c.ap1r) {
            w.u64(*a0);
            w.u64(*a1);
        }
    }
    ICCR.section(w.into_bytes())
}

/// Decodes and checks section `ICCR`.
pub fn decode_iccs(s: &Section) -> Result<Vec<IccState>, Arm64SnapshotError> {
    ICCR.check(s.version)?;
    let mut r = Reader::new(&s.data);
    let n = vcpu_count(&mut r, "ICCR", ICC_BYTES)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut v = [0u64; 8];
        for x in v.iter_mut() {
            *x = r.u64("a CPU interface's registers")?;
        }
        let [mpidr, sre, ctlr, pmr, bpr0, bpr1, igrpen0, igrpen1] = v;
        let who = move || format!("section ICCR, the vCPU with MPIDR {mpidr:#x}");
        let want = icc::apr_count(ctlr);
        field(
            want.is_some(),
            || format!("{}: ICC_CTLR_EL1.PRIbits", who()),
            (ctlr >> 8) & 7,
            "4, 5 or 6 (5 to 7 priority bits)",
        )?;
        let aprs = r.count("a CPU interface's AP register count", 16)?;
        exactly(
            || format!("{}: ICC_AP<g>R<n> registers", who()),
            aprs,
            want.unwrap_or(0),
        )?;
        let (mut ap0r, mut ap1r) = (Vec::with_capacity(aprs), Vec::with_capacity(aprs));
        for _ in 0..aprs {
            ap0r.push(r.u64("an ICC_AP0R")?);
            ap1r.push(r.u64("an ICC_AP1R")?);
        }
        out.push(IccState {
            mpidr,
            sre,
            ctlr,
            pmr,
            bpr0,
            bpr1,
            igrpen0,
            igrpen1,
            ap0r,
            ap1r,
        });
    }
    r.finish("the ICCR section")?;
    no_duplicates("ICCR", &out.iter().map(|c| c.mpidr).collect::<Vec<_>>())?;
    Ok(out)
}

/// Section `ITSR`.
pub fn its_section(s: &ItsState) -> Section {
    let mut w = Writer::new();
    for v in [s.iidr, s.typer, s.ctlr, s.cbaser, s.creadr, s.cwriter] {
        w.u64(v);
    }
    w.u32(ITS_BASERS as u32);
    s.baser.iter().for_each(|v| w.u64(*v));
    ITSR.section(w.into_bytes())
}

/// Decodes and checks section `ITSR`.
pub fn decode_its(s: &Section) -> Result<ItsState, Arm64SnapshotError> {
    ITSR.check(s.version)?;
    let mut r = Reader::new(&s.data);
    let mut v = [0u64; 6];
    for x in v.iter_mut() {
        *x = r.u64("the ITS registers")?;
    }
    let [iidr, typer, ctlr, cbaser, creadr, cwriter] = v;
    field(
        gits::revision(iidr) == ITS_ABI_REVISION,
        || "section ITSR: GITS_IIDR.Revision (the ITS table ABI)".into(),
        gits::revision(iidr),
        "0, the only ITS table ABI KVM has",
    )?;
    let n = r.count("the GITS_BASER count", 8)?;
    exactly(
        || "section ITSR: GITS_BASER registers".into(),
        n,
        ITS_BASERS,
    )?;
    let mut baser = [0u64; ITS_BASERS];
    for x in baser.iter_mut() {
        *x = r.u64("a GITS_BASER")?;
    }
    r.finish("the ITSR section")?;
    Ok(ItsState {
        iidr,
        typer,
        ctlr,
        cbaser,
        creadr,
        cwriter,
        baser,
    })
}

/// A vCPU's state outside the register table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuExtra {
    /// Its MPIDR_EL1 (checked against the vCPU it is restored into).
    pub mpidr: u64,
    /// Its power state (`KVM_MP_STATE_*`, one of [`MP_STATES`]).
    pub mp_state: u32,
}

impl VcpuExtra {
    /// Checks that the vCPU whose MPIDR is `mpidr` is the one these bytes were saved from.
    pub fn check_mpidr(&self, mpidr: u64) -> Result<(), Arm64SnapshotError> {
        if self.mpidr == mpidr {
            Ok(())
        } else {
            Err(Arm64SnapshotError::VcpuMpidr {
                snapshot: self.mpidr,
                vm: mpidr,
            })
        }
    }
}

/// A vCPU's extra bytes, at the current version.
pub fn encode_vcpu(x: &VcpuExtra) -> Vec<u8> {
    let mut w = Writer::new();
    w.bytes(&VCPU_EXTRA.tag);
    w.u16(VCPU_EXTRA.current);
    w.u64(x.mpidr);
    w.u32(x.mp_state);
    w.into_bytes()
}

/// Decodes and checks a vCPU's extra bytes.
pub fn decode_vcpu(bytes: &[u8]) -> Result<VcpuExtra, Arm64SnapshotError> {
    let mut r = Reader::new(bytes);
    let tag: [u8; 4] = r.array("the vCPU state tag")?;
    field(
        tag == VCPU_EXTRA.tag,
        || "the vCPU state tag".into(),
        u32::from_le_bytes(tag),
        "\"A64V\"",
    )?;
    VCPU_EXTRA.check(r.u16("the vCPU state version")?)?;
    let x = VcpuExtra {
        mpidr: r.u64("the vCPU's MPIDR")?,
        mp_state: r.u32("the vCPU's power state")?,
    };
    r.finish("the vCPU state")?;
    field(
        MP_STATES.contains(&x.mp_state),
        || {
            format!(
                "the power state (mp_state) of the vCPU with MPIDR {:#x}",
                x.mpidr
            )
        },
        x.mp_state,
        "0 (runnable), 5 (stopped) or 10 (suspended)",
    )?;
    Ok(x)
}

#[cfg(test)]
mod tests;
