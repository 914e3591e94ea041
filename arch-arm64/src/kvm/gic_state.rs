//! Moves arm64 snapshot state between KVM and the codec in `crate::snapshot`: the vGICv3's
//! distributor, each vCPU's own redistributor and CPU interface (the attribute's MPIDR field), the
//! ITS registers, the flush of the ITS and LPI pending tables into guest RAM, and each vCPU's
//! MPIDR and power state. The format and every check on it are the codec's; this file only
//! reads and writes device attributes, in the order `arm-vgic-v3.rst` and `arm-vgic-its.rst`
//! give.

use super::gic::Gic;
use super::Platform;
use crate::error::Arm64Error;
use crate::regs::{get_u64, MPIDR_EL1};
use crate::snapshot::{
    self, gicd, gicr, gits, icc, mpidr_attr, DistState, IccState, IrqBank, ItsState, RedistState,
    SpiBank, VcpuExtra, VmState, ITS_BASERS,
};
use kvm_bindings::{
    kvm_device_attr, kvm_mp_state, KVM_DEV_ARM_ITS_RESTORE_TABLES, KVM_DEV_ARM_ITS_SAVE_TABLES,
    KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_GRP_DIST_REGS,
    KVM_DEV_ARM_VGIC_GRP_ITS_REGS, KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO, KVM_DEV_ARM_VGIC_GRP_NR_IRQS,
    KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, KVM_DEV_ARM_VGIC_LINE_LEVEL_INFO_SHIFT,
    KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES, KVM_MP_STATE_RUNNABLE, KVM_MP_STATE_STOPPED,
    KVM_MP_STATE_SUSPENDED, VGIC_LEVEL_INFO_LINE_LEVEL,
};
use kvm_ioctls::DeviceFd;
use vmm_core::hypervisor::ioctls::{KvmVcpu, KvmVm};
use vmm_core::snapshot::{Envelope, Section};

// The codec's KVM facts are kvm-bindings' numbers.
const _: () = assert!(
    snapshot::MP_STATES[0] == KVM_MP_STATE_RUNNABLE
        && snapshot::MP_STATES[1] == KVM_MP_STATE_STOPPED
        && snapshot::MP_STATES[2] == KVM_MP_STATE_SUSPENDED
);

/// One vGIC device and what to call it in errors.
#[derive(Clone, Copy)]
struct Dev<'a> {
    fd: &'a DeviceFd,
    name: &'static str,
}

impl Dev<'_> {
    fn err(
        &self,
        access: &'static str,
        what: impl FnOnce() -> String,
    ) -> impl FnOnce(kvm_ioctls::Error) -> Arm64Error {
        let device = self.name;
        let what = what();
        move |e| Arm64Error::GicAttr {
            access,
            what,
            device,
            source: std::io::Error::from_raw_os_error(e.errno()),
        }
    }

    fn get<T: Copy + Default>(
        &self,
        group: u32,
        attr: u64,
        what: impl FnOnce() -> String,
    ) -> Result<T, Arm64Error> {
        let mut v = T::default();
        let mut a = kvm_device_attr {
            group,
            attr,
            addr: &mut v as *mut T as u64,
            flags: 0,
        };
        // SAFETY: `addr` points at a `T`, the size the kernel writes for this group (a u32 for
        // the distributor, redistributor and line levels, a u64 for CPU sysregs and the ITS).
        unsafe { self.fd.get_device_attr(&mut a) }.map_err(self.err("reading", what))?;
        Ok(v)
    }

    fn set<T: Copy>(
        &self,
        group: u32,
        attr: u64,
        value: T,
        what: impl FnOnce() -> String,
    ) -> Result<(), Arm64Error> {
        let a = kvm_device_attr {
            group,
            attr,
            // The kernel reads a `T` there during the call; `value` outlives it.
            addr: &value as *const T as u64,
            flags: 0,
        };
        self.fd
            .set_device_attr(&a)
            .map_err(self.err("writing", what))
    }

    fn ctrl(&self, attr: u32, what: &'static str) -> Result<(), Arm64Error> {
        let a = kvm_device_attr {
            group: KVM_DEV_ARM_VGIC_GRP_CTRL,
            attr: u64::from(attr),
            addr: 0,
            flags: 0,
        };
        self.fd
            .set_device_attr(&a)
            .map_err(self.err("running", || what.to_string()))
    }
}

/// The distributor's 32-bit registers and the line levels (attribute: MPIDR | offset).
struct Dist<'a>(Dev<'a>);

impl Dist<'_> {
    fn get(&self, off: u32, name: &str) -> Result<u32, Arm64Error> {
        self.0
            .get(KVM_DEV_ARM_VGIC_GRP_DIST_REGS, u64::from(off), || {
                format!("{name} (offset {off:#x})")
            })
    }

    fn set(&self, off: u32, v: u32, name: &str) -> Result<(), Arm64Error> {
        self.0
            .set(KVM_DEV_ARM_VGIC_GRP_DIST_REGS, u64::from(off), v, || {
                format!("{name} (offset {off:#x})")
            })
    }
}

/// A frame holding banks of 32 interrupts' registers at the distributor's offsets: the
/// distributor itself, or a redistributor's SGI frame.
trait BankRegs {
    /// The frame's name in errors (`GICD`, `GICR`).
    const FRAME: &'static str;
    /// Where the distributor's offset `off` is in this frame.
    const BASE: u32;
    fn get(&self, off: u32, name: &str) -> Result<u32, Arm64Error>;
    fn set(&self, off: u32, v: u32, name: &str) -> Result<(), Arm64Error>;
}

impl BankRegs for Dist<'_> {
    const FRAME: &'static str = "GICD";
    const BASE: u32 = 0;
    fn get(&self, off: u32, name: &str) -> Result<u32, Arm64Error> {
        Dist::get(self, off, name)
    }
    fn set(&self, off: u32, v: u32, name: &str) -> Result<(), Arm64Error> {
        Dist::set(self, off, v, name)
    }
}

// The SGI frame repeats the distributor's bank registers at one offset.
const _: () = {
    let base = gicr::IGROUPR0 - gicd::IGROUPR;
    assert!(
        gicr::ISENABLER0 == base + gicd::ISENABLER && gicr::ICENABLER0 == base + gicd::ICENABLER
    );
    assert!(gicr::ISPENDR0 == base + gicd::ISPENDR && gicr::ISACTIVER0 == base + gicd::ISACTIVER);
    assert!(gicr::ICACTIVER0 == base + gicd::ICACTIVER && gicr::IGRPMODR0 == base + gicd::IGRPMODR);
    assert!(gicr::ICFGR0 == base + gicd::ICFGR && gicr::IPRIORITYR == base + gicd::IPRIORITYR);
};

impl BankRegs for Redist<'_> {
    const FRAME: &'static str = "GICR";
    const BASE: u32 = gicr::IGROUPR0 - gicd::IGROUPR;
    fn get(&self, off: u32, name: &str) -> Result<u32, Arm64Error> {
        Redist::get(self, off, name)
    }
    fn set(&self, off: u32, v: u32, name: &str) -> Result<(), Arm64Error> {
        Redist::set(self, off, v, name)
    }
}

/// Reads the bank of interrupts `irq` to `irq + 31` (their line levels are `level`).
fn save_bank<R: BankRegs>(regs: &R, irq: u32, level: u32) -> Result<IrqBank, Arm64Error> {
    let at = |reg: u32, per_byte: u32| R::BASE + reg + irq / per_byte;
    let get = |off: u32, reg: &str| regs.get(off, &format!("{}_{reg}", R::FRAME));
    let mut b = IrqBank {
        group: get(at(gicd::IGROUPR, 8), "IGROUPR")?,
        enable: get(at(gicd::ISENABLER, 8), "ISENABLER")?,
        pending: get(at(gicd::ISPENDR, 8), "ISPENDR")?,
        active: get(at(gicd::ISACTIVER, 8), "ISACTIVER")?,
        grpmod: get(at(gicd::IGRPMODR, 8), "IGRPMODR")?,
        level,
        ..IrqBank::default()
    };
    for (k, c) in b.config.iter_mut().enumerate() {
        *c = get(at(gicd::ICFGR, 4) + 4 * k as u32, "ICFGR")?;
    }
    for k in 0..8u32 {
        let v = get(at(gicd::IPRIORITYR, 1) + 4 * k, "IPRIORITYR")?;
        b.priority[4 * k as usize..4 * k as usize + 4].copy_from_slice(&v.to_le_bytes());
    }
    Ok(b)
}

/// Restores the configuration of bank `irq`: groups, then the trigger configuration (before
/// anything pending, so that level and edge are told apart), then the priorities.
fn restore_bank_config<R: BankRegs>(regs: &R, irq: u32, b: &IrqBank) -> Result<(), Arm64Error> {
    let at = |reg: u32, per_byte: u32| R::BASE + reg + irq / per_byte;
    let set = |off: u32, v: u32, reg: &str| regs.set(off, v, &format!("{}_{reg}", R::FRAME));
    set(at(gicd::IGROUPR, 8), b.group, "IGROUPR")?;
    set(at(gicd::IGRPMODR, 8), b.grpmod, "IGRPMODR")?;
    for (k, c) in b.config.iter().enumerate() {
        set(at(gicd::ICFGR, 4) + 4 * k as u32, *c, "ICFGR")?;
    }
    for k in 0..8usize {
        let v = u32::from_le_bytes(b.priority[4 * k..4 * k + 4].try_into().expect("4 bytes"));
        set(at(gicd::IPRIORITYR, 1) + 4 * k as u32, v, "IPRIORITYR")?;
    }
    Ok(())
}

/// Restores the state of bank `irq` after its configuration and line levels: pending, active
/// (cleared, then set as saved), enabled (likewise).
fn restore_bank_state<R: BankRegs>(regs: &R, irq: u32, b: &IrqBank) -> Result<(), Arm64Error> {
    let at = |reg: u32| R::BASE + reg + irq / 8;
    let set = |off: u32, v: u32, reg: &str| regs.set(off, v, &format!("{}_{reg}", R::FRAME));
    set(at(gicd::ISPENDR), b.pending, "ISPENDR")?;
    set(at(gicd::ICACTIVER), !0, "ICACTIVER")?;
    set(at(gicd::ISACTIVER), b.active, "ISACTIVER")?;
    set(at(gicd::ICENABLER), !0, "ICENABLER")?;
    set(at(gicd::ISENABLER), b.enable, "ISENABLER")
}

fn level_attr(mpidr: u64, intid: u32) -> u64 {
    mpidr_attr(mpidr)
        | (u64::from(VGIC_LEVEL_INFO_LINE_LEVEL) << KVM_DEV_ARM_VGIC_LINE_LEVEL_INFO_SHIFT)
        | u64::from(intid)
}

/// One vCPU's redistributor (attribute: its MPIDR | offset).
struct Redist<'a> {
    dev: Dev<'a>,
    mpidr: u64,
}

impl Redist<'_> {
    fn what(&self, name: &str, off: u32) -> String {
        format!(
            "{name} (offset {off:#x}) of the vCPU with MPIDR {:#x}",
            self.mpidr
        )
    }

    fn get(&self, off: u32, name: &str) -> Result<u32, Arm64Error> {
        let attr = mpidr_attr(self.mpidr) | u64::from(off);
        self.dev.get(KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, attr, || {
            self.what(name, off)
        })
    }

    fn set(&self, off: u32, v: u32, name: &str) -> Result<(), Arm64Error> {
        let attr = mpidr_attr(self.mpidr) | u64::from(off);
        self.dev.set(KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, attr, v, || {
            self.what(name, off)
        })
    }

    fn get64(&self, off: u32, name: &str) -> Result<u64, Arm64Error> {
        let lo = self.get(off, name)?;
        let hi = self.get(off + 4, name)?;
        Ok(u64::from(lo) | (u64::from(hi) << 32))
    }

    fn set64(&self, off: u32, v: u64, name: &str) -> Result<(), Arm64Error> {
        self.set(off, v as u32, name)?;
        self.set(off + 4, (v >> 32) as u32, name)
    }

    fn icc_get(&self, e: icc::Enc, name: &str) -> Result<u64, Arm64Error> {
        let attr = mpidr_attr(self.mpidr) | icc::instr(e);
        self.dev.get(KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, attr, || {
            format!("{name} of the vCPU with MPIDR {:#x}", self.mpidr)
        })
    }

    fn icc_set(&self, e: icc::Enc, v: u64, name: &str) -> Result<(), Arm64Error> {
        let attr = mpidr_attr(self.mpidr) | icc::instr(e);
        self.dev.set(KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, attr, v, || {
            format!("{name} of the vCPU with MPIDR {:#x}", self.mpidr)
        })
    }

    fn level(&self, intid: u32) -> Result<u32, Arm64Error> {
        self.dev.get(
            KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO,
            level_attr(self.mpidr, intid),
            || format!("the line levels of ids {intid}.. (MPIDR {:#x})", self.mpidr),
        )
    }

    fn set_level(&self, intid: u32, v: u32) -> Result<(), Arm64Error> {
        self.dev.set(
            KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO,
            level_attr(self.mpidr, intid),
            v,
            || format!("the line levels of ids {intid}.. (MPIDR {:#x})", self.mpidr),
        )
    }
}

fn gic_dev(gic: &Gic) -> Dev<'_> {
    Dev {
        fd: gic.dist_fd(),
        name: "vGICv3",
    }
}

fn save_dist(gic: &Gic, mpidr0: u64) -> Result<DistState, Arm64Error> {
    let dev = gic_dev(gic);
    let d = Dist(dev);
    let nr_irqs: u32 = dev.get(KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, || "nr_irqs".into())?;
    let banks = DistState::banks_for(nr_irqs).unwrap_or(0);
    // SPI line levels: the same whichever vCPU's MPIDR asks.
    let any = Redist { dev, mpidr: mpidr0 };
    let mut spis = Vec::with_capacity(banks);
    for n in 0..banks as u32 {
        let irq = 32 + 32 * n;
        let mut b = SpiBank {
            bank: save_bank(&d, irq, any.level(irq)?)?,
            ..SpiBank::default()
        };
        for (i, r) in b.router.iter_mut().enumerate() {
            let off = gicd::IROUTER + 8 * (irq + i as u32);
            let lo = d.get(off, "GICD_IROUTER")?;
            let hi = d.get(off + 4, "GICD_IROUTER")?;
            *r = u64::from(lo) | (u64::from(hi) << 32);
        }
        spis.push(b);
    }
    Ok(DistState {
        nr_irqs,
        ctlr: d.get(gicd::CTLR, "GICD_CTLR")?,
        iidr: d.get(gicd::IIDR, "GICD_IIDR")?,
        statusr: d.get(gicd::STATUSR, "GICD_STATUSR")?,
        spis,
    })
}

/// GICD_IIDR first (the kernel's advice), GICD_CTLR last.
fn restore_dist(gic: &Gic, s: &DistState, mpidr0: u64) -> Result<(), Arm64Error> {
    let dev = gic_dev(gic);
    let d = Dist(dev);
    let any = Redist { dev, mpidr: mpidr0 };
    d.set(gicd::IIDR, s.iidr, "GICD_IIDR")?;
    for (n, b) in s.spis.iter().enumerate() {
        let irq = 32 + 32 * n as u32;
        restore_bank_config(&d, irq, &b.bank)?;
        for (i, r) in b.router.iter().enumerate() {
            let off = gicd::IROUTER + 8 * (irq + i as u32);
            d.set(off, *r as u32, "GICD_IROUTER")?;
            d.set(off + 4, (*r >> 32) as u32, "GICD_IROUTER")?;
        }
        any.set_level(irq, b.bank.level)?;
        restore_bank_state(&d, irq, &b.bank)?;
    }
    d.set(gicd::STATUSR, s.statusr, "GICD_STATUSR")?;
    d.set(gicd::CTLR, s.ctlr, "GICD_CTLR")
}

fn save_redist(gic: &Gic, mpidr: u64) -> Result<(RedistState, IccState), Arm64Error> {
    let r = Redist {
        dev: gic_dev(gic),
        mpidr,
    };
    let s = RedistState {
        mpidr,
        ctlr: r.get(gicr::CTLR, "GICR_CTLR")?,
        statusr: r.get(gicr::STATUSR, "GICR_STATUSR")?,
        propbaser: r.get64(gicr::PROPBASER, "GICR_PROPBASER")?,
        pendbaser: r.get64(gicr::PENDBASER, "GICR_PENDBASER")?,
        bank: save_bank(&r, 0, r.level(0)?)?,
    };
    let ctlr = r.icc_get(icc::CTLR, "ICC_CTLR_EL1")?;
    let aprs = icc::apr_count(ctlr).unwrap_or(0) as u8;
    let mut c = IccState {
        mpidr,
        sre: r.icc_get(icc::SRE, "ICC_SRE_EL1")?,
        ctlr,
        pmr: r.icc_get(icc::PMR, "ICC_PMR_EL1")?,
        bpr0: r.icc_get(icc::BPR0, "ICC_BPR0_EL1")?,
        bpr1: r.icc_get(icc::BPR1, "ICC_BPR1_EL1")?,
        igrpen0: r.icc_get(icc::IGRPEN0, "ICC_IGRPEN0_EL1")?,
        igrpen1: r.icc_get(icc::IGRPEN1, "ICC_IGRPEN1_EL1")?,
        ..IccState::default()
    };
    for n in 0..aprs {
        c.ap0r.push(r.icc_get(icc::ap0r(n), "ICC_AP0R<n>_EL1")?);
        c.ap1r.push(r.icc_get(icc::ap1r(n), "ICC_AP1R<n>_EL1")?);
    }
    Ok((s, c))
}

/// GICR_PROPBASER and GICR_PENDBASER before GICR_CTLR (they are read-only once LPIs are on),
/// GICR_CTLR last; then the CPU interface: ICC_SRE_EL1 first, ICC_CTLR_EL1 next (its
/// PRIbits decide which `ICC_AP<g>R<n>` exist), the group enables last.
fn restore_redist(gic: &Gic, s: &RedistState, c: &IccState) -> Result<(), Arm64Error> {
    let r = Redist {
        dev: gic_dev(gic),
        mpidr: s.mpidr,
    };
    r.set64(gicr::PROPBASER, s.propbaser, "GICR_PROPBASER")?;
    r.set64(gicr::PENDBASER, s.pendbaser, "GICR_PENDBASER")?;
    restore_bank_config(&r, 0, &s.bank)?;
    r.set_level(0, s.bank.level)?;
    restore_bank_state(&r, 0, &s.bank)?;
    r.set(gicr::STATUSR, s.statusr, "GICR_STATUSR")?;
    r.set(gicr::CTLR, s.ctlr, "GICR_CTLR")?;

    r.icc_set(icc::SRE, c.sre, "ICC_SRE_EL1")?;
    r.icc_set(icc::CTLR, c.ctlr, "ICC_CTLR_EL1")?;
    r.icc_set(icc::PMR, c.pmr, "ICC_PMR_EL1")?;
    r.icc_set(icc::BPR0, c.bpr0, "ICC_BPR0_EL1")?;
    r.icc_set(icc::BPR1, c.bpr1, "ICC_BPR1_EL1")?;
    for (n, (a0, a1)) in c.ap0r.iter().zip(&c.ap1r).enumerate() {
        r.icc_set(icc::ap0r(n as u8), *a0, "ICC_AP0R<n>_EL1")?;
        r.icc_set(icc::ap1r(n as u8), *a1, "ICC_AP1R<n>_EL1")?;
    }
    r.icc_set(icc::IGRPEN0, c.igrpen0, "ICC_IGRPEN0_EL1")?;
    r.icc_set(icc::IGRPEN1, c.igrpen1, "ICC_IGRPEN1_EL1")
}

fn its_dev(fd: &DeviceFd) -> Dev<'_> {
    Dev { fd, name: "ITS" }
}

fn its_get(d: Dev<'_>, off: u32, name: &str) -> Result<u64, Arm64Error> {
    d.get(KVM_DEV_ARM_VGIC_GRP_ITS_REGS, u64::from(off), || {
        name.to_string()
    })
}

fn its_set(d: Dev<'_>, off: u32, v: u64, name: &str) -> Result<(), Arm64Error> {
    d.set(KVM_DEV_ARM_VGIC_GRP_ITS_REGS, u64::from(off), v, || {
        name.to_string()
    })
}

fn save_its(fd: &DeviceFd) -> Result<ItsState, Arm64Error> {
    let d = its_dev(fd);
    let mut s = ItsState {
        iidr: its_get(d, gits::IIDR, "GITS_IIDR")?,
        typer: its_get(d, gits::TYPER, "GITS_TYPER")?,
        ctlr: its_get(d, gits::CTLR, "GITS_CTLR")?,
        cbaser: its_get(d, gits::CBASER, "GITS_CBASER")?,
        creadr: its_get(d, gits::CREADR, "GITS_CREADR")?,
        cwriter: its_get(d, gits::CWRITER, "GITS_CWRITER")?,
        baser: [0; ITS_BASERS],
    };
    for (n, b) in s.baser.iter_mut().enumerate() {
        *b = its_get(d, gits::BASER + 8 * n as u32, "GITS_BASER<n>")?;
    }
    Ok(s)
}

/// Checks the ITS tables in guest RAM that `GITS_BASER<n>` and the device table entries point at
/// (ITS table ABI revision 0, `crate::its_tables`) before KVM reads them: a corrupted entry is
/// refused by table and entry, and the VM is not started.
fn validate_its_tables(p: &Platform, its: &ItsState) -> Result<(), Arm64Error> {
    let vcpus = u32::try_from(p.mpidrs().len()).unwrap_or(u32::MAX);
    crate::its_tables::check_tables(&its.baser, &*p.memory(), vcpus)?;
    Ok(())
}

/// The order of `arm-vgic-its.rst`'s "ITS Restore Sequence": GITS_IIDR (the table ABI), then
/// GITS_CBASER (which resets GITS_CREADR), GITS_CREADR, GITS_CWRITER, the GITS_BASERs, then
/// the tables from guest RAM, and GITS_CTLR (which may enable the ITS) last.
fn restore_its(p: &Platform, fd: &DeviceFd, s: &ItsState) -> Result<(), Arm64Error> {
    let d = its_dev(fd);
    its_set(d, gits::IIDR, s.iidr, "GITS_IIDR")?;
    its_set(d, gits::CBASER, s.cbaser, "GITS_CBASER")?;
    its_set(d, gits::CREADR, s.creadr, "GITS_CREADR")?;
    its_set(d, gits::CWRITER, s.cwriter, "GITS_CWRITER")?;
    for (n, b) in s.baser.iter().enumerate() {
        its_set(d, gits::BASER + 8 * n as u32, *b, "GITS_BASER<n>")?;
    }
    // Hook: the ITS table validation runs here, before KVM reads the tables.
    validate_its_tables(p, s)?;
    d.ctrl(
        KVM_DEV_ARM_ITS_RESTORE_TABLES,
        "KVM_DEV_ARM_ITS_RESTORE_TABLES",
    )?;
    its_set(d, gits::CTLR, s.ctlr, "GITS_CTLR")
}

/// The VM-wide sections: distributor, each vCPU's redistributor and CPU interface (by its own
/// MPIDR), the ITS.
pub fn save_vm(_vm: &KvmVm, p: &Platform) -> Result<Vec<Section>, Arm64Error> {
    let gic = p.gic();
    let mpidrs = p.mpidrs();
    let mut s = VmState {
        dist: save_dist(gic, mpidrs.first().copied().unwrap_or_default())?,
        ..VmState::default()
    };
    for &m in mpidrs {
        let (r, c) = save_redist(gic, m)?;
        s.redists.push(r);
        s.iccs.push(c);
    }
    s.its = gic.its_fd().map(save_its).transpose()?;
    Ok(snapshot::encode_vm(&s))
}

/// Restores the VM-wide sections, after every vCPU exists and the vGIC is initialised: the
/// distributor, then each vCPU's redistributor and CPU interface, then the ITS.
pub fn restore_vm(_vm: &KvmVm, p: &Platform, env: &Envelope) -> Result<(), Arm64Error> {
    let s = snapshot::decode_vm(env)?;
    let gic = p.gic();
    let mpidrs = p.mpidrs();
    let fresh_its = gic.its_fd().map(save_its).transpose()?;
    s.check_against(gic.layout().nr_irqs, mpidrs, fresh_its.as_ref())?;
    restore_dist(gic, &s.dist, mpidrs.first().copied().unwrap_or_default())?;
    for &m in mpidrs {
        let (r, c) = (s.redist(m), s.icc(m));
        // check_against found both for every MPIDR.
        if let (Some(r), Some(c)) = (r, c) {
            restore_redist(gic, r, c)?;
        }
    }
    if let (Some(fd), Some(its)) = (gic.its_fd(), &s.its) {
        restore_its(p, fd, its)?;
    }
    Ok(())
}

/// Writes the LPI pending tables and the ITS tables into guest RAM (paused, before the final
/// dirty harvest). A VM without an ITS has no LPIs, so nothing to write.
pub fn flush(p: &Platform) -> Result<(), Arm64Error> {
    let gic = p.gic();
    let Some(its) = gic.its_fd() else {
        return Ok(());
    };
    gic_dev(gic).ctrl(
        KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES,
        "KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES",
    )?;
    its_dev(its).ctrl(KVM_DEV_ARM_ITS_SAVE_TABLES, "KVM_DEV_ARM_ITS_SAVE_TABLES")
}

fn hv(op: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> Arm64Error {
    move |e| KvmVm::error(op, e).into()
}

/// A vCPU's MPIDR and power state.
pub fn save_vcpu(vcpu: &KvmVcpu) -> Result<Vec<u8>, Arm64Error> {
    let mp = vcpu.fd().get_mp_state().map_err(hv("KVM_GET_MP_STATE"))?;
    Ok(snapshot::encode_vcpu(&VcpuExtra {
        mpidr: get_u64(vcpu, MPIDR_EL1)?,
        mp_state: mp.mp_state,
    }))
}

/// Restores a vCPU's power state (a secondary that was running is no longer powered off),
/// after checking that the bytes are this vCPU's.
pub fn restore_vcpu(vcpu: &KvmVcpu, data: &[u8]) -> Result<(), Arm64Error> {
    let x = snapshot::decode_vcpu(data)?;
    x.check_mpidr(get_u64(vcpu, MPIDR_EL1)?)?;
    vcpu.fd()
        .set_mp_state(kvm_mp_state {
            mp_state: x.mp_state,
        })
        .map_err(hv("KVM_SET_MP_STATE"))
}

/// Reads one ICC system register of the vCPU with `mpidr` (for inspection and tests; the VM
/// must not be running).
pub fn icc_reg(p: &Platform, mpidr: u64, e: icc::Enc) -> Result<u64, Arm64Error> {
    Redist {
        dev: gic_dev(p.gic()),
        mpidr,
    }
    .icc_get(e, "an ICC register")
}

/// Writes one ICC system register of the vCPU with `mpidr` (the VM must not be running).
pub fn set_icc_reg(p: &Platform, mpidr: u64, e: icc::Enc, v: u64) -> Result<(), Arm64Error> {
    Redist {
        dev: gic_dev(p.gic()),
        mpidr,
    }
    .icc_set(e, v, "an ICC register")
}

/// Reads one 32-bit redistributor register (offset from RD_base, [`gicr`]) of the vCPU with
/// `mpidr` (the VM must not be running).
pub fn redist_reg(p: &Platform, mpidr: u64, off: u32) -> Result<u32, Arm64Error> {
    Redist {
        dev: gic_dev(p.gic()),
        mpidr,
    }
    .get(off, "a redistributor register")
}

/// Writes one 32-bit redistributor register of the vCPU with `mpidr`.
pub fn set_redist_reg(p: &Platform, mpidr: u64, off: u32, v: u32) -> Result<(), Arm64Error> {
    Redist {
        dev: gic_dev(p.gic()),
        mpidr,
    }
    .set(off, v, "a redistributor register")
}
