//! MPIC save/restore in terms the in-kernel MPIC also speaks: a list of
//! (`KVM_DEV_MPIC_GRP_REGISTER` offset, value) pairs plus the asserted input lines
//! (`KVM_DEV_MPIC_GRP_IRQ_ACTIVE`), so state moves between the userspace model and the kernel.
//!
//! Only registers without read side effects are listed (not IACK, EOI, IPIDR or the MSIRs), in
//! an order that restores correctly: GCR first (a reset would undo the rest), source routing
//! (ILR, IDR) before the IVPRs that re-evaluate delivery, CTPRs last, then the input lines.
//!
//! The kernel cannot report what is in service, the MSIR bits or the timers' current counts;
//! the userspace model can, and carries them in [`MpicExtra`]. Moving state out of the kernel
//! therefore loses in-service interrupts (the guest's pending EOIs), a limit of the KVM API.
//! `KVM_DEV_MPIC_GRP_IRQ_ACTIVE` covers the interrupt sources only (0..[`KERNEL_LINES`]), not the
//! IPIs and timers, whose pending state is lost the same way.
//!
//! [`MpicState::read_attrs`] and [`MpicState::write_attrs`] are that exchange, written against
//! a closure per attribute access, so that the glue passes `KVM_GET/SET_DEVICE_ATTR` and the
//! tests pass the userspace model's own attribute view ([`Mpic::get_attr`], [`Mpic::set_attr`],
//! which follow the kernel's `mpic_get_attr`/`mpic_set_attr`).

use super::mpic::*;
use super::mpic_regs::*;
use crate::abi::{KVM_DEV_MPIC_GRP_IRQ_ACTIVE, KVM_DEV_MPIC_GRP_REGISTER};
use thiserror::Error;

/// The input lines `KVM_DEV_MPIC_GRP_IRQ_ACTIVE` reads and writes: the interrupt sources.
pub const KERNEL_LINES: usize = MAX_SRC;

/// Errors restoring MPIC state.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MpicStateError {
    /// The state is for another model or CPU count.
    #[error("MPIC state is for {state_model:?} with {state_cpus} CPUs, the MPIC is {model:?} with {cpus}")]
    Mismatch {
        /// Model in the state.
        state_model: MpicModel,
        /// CPUs in the state.
        state_cpus: usize,
        /// Model of the MPIC.
        model: MpicModel,
        /// CPUs of the MPIC.
        cpus: usize,
    },
    /// An offset that is not a saved register.
    #[error("offset {0:#x} is not a restorable MPIC register")]
    NotRestorable(u64),
    /// An interrupt number out of range.
    #[error("interrupt {0} out of range in MPIC state")]
    BadIrq(u32),
    /// A CPU index out of range.
    #[error("CPU {0} out of range in MPIC state")]
    BadCpu(u32),
    /// The MPIC rejected a value.
    #[error("MPIC rejected restored state")]
    Mpic(#[source] MpicError),
}

/// What only the userspace model knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MpicExtra {
    /// Interrupts in service, per CPU: (cpu, interrupt numbers).
    pub in_service: Vec<(u32, Vec<u32>)>,
    /// MSIR0-7.
    pub msir: [u32; MAX_MSI],
    /// The timers' current count registers.
    pub tccr: [u32; MAX_TMR],
    /// CPUs each IPI has still to reach.
    pub ipi_dest: [u32; MAX_IPI],
}

/// MPIC state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MpicState {
    /// The model.
    pub model: MpicModel,
    /// CPUs served.
    pub nb_cpus: usize,
    /// (register offset, value), in restore order.
    pub registers: Vec<(u32, u32)>,
    /// Sources whose input is asserted (pending).
    pub irq_active: Vec<u32>,
    /// Userspace-only state, when saved from the model.
    pub extra: Option<MpicExtra>,
}

/// The register offsets saved for `model` with `nb_cpus` CPUs, in restore order.
pub fn saved_registers(model: MpicModel, nb_cpus: usize) -> Vec<u64> {
    let mut r = vec![GCR, SPVE, TFRR];
    for n in 0..MAX_SRC {
        if model.has_ilr() {
            r.push(src_reg(n, SRC_ILR));
        }
        r.push(src_reg(n, SRC_IDR));
        r.push(src_reg(n, SRC_IVPR));
    }
    for t in 0..MAX_TMR {
        r.push(timer_reg(t, TMR_TDR));
        r.push(timer_reg(t, TMR_TVPR));
        r.push(timer_reg(t, TMR_TBCR));
    }
    for i in 0..MAX_IPI {
        r.push(IPI_IVPR0 + 0x10 * i as u64);
    }
    for c in 0..nb_cpus {
        r.push(cpu_reg(c, CPU_CTPR));
    }
    r
}

impl MpicState {
    /// Checks that the state fits an MPIC of `model` serving `nb_cpus` CPUs: same model and CPU
    /// count, only restorable registers, interrupt and CPU numbers in range. Untrusted states
    /// (snapshots) are refused here, before an MPIC is touched.
    pub fn check(&self, model: MpicModel, nb_cpus: usize) -> Result<(), MpicStateError> {
        if self.model != model || self.nb_cpus != nb_cpus {
            return Err(MpicStateError::Mismatch {
                state_model: self.model,
                state_cpus: self.nb_cpus,
                model,
                cpus: nb_cpus,
            });
        }
        let allowed = saved_registers(model, nb_cpus);
        if let Some((off, _)) = self
            .registers
            .iter()
            .find(|(off, _)| !allowed.contains(&u64::from(*off)))
        {
            return Err(MpicStateError::NotRestorable(u64::from(*off)));
        }
        let bad_irq = |irq: &u32| *irq as usize >= MAX_IRQ;
        if let Some(irq) = self.irq_active.iter().find(|i| bad_irq(i)) {
            return Err(MpicStateError::BadIrq(*irq));
        }
        for (cpu, irqs) in self.extra.iter().flat_map(|x| &x.in_service) {
            if *cpu as usize >= nb_cpus {
                return Err(MpicStateError::BadCpu(*cpu));
            }
            if let Some(irq) = irqs.iter().find(|i| bad_irq(i)) {
                return Err(MpicStateError::BadIrq(*irq));
            }
        }
        Ok(())
    }

    /// Reads the state an in-kernel MPIC exposes: every saved register through
    /// `get(KVM_DEV_MPIC_GRP_REGISTER, offset)` and every source line through
    /// `get(KVM_DEV_MPIC_GRP_IRQ_ACTIVE, n)` (32-bit attributes). No [`MpicExtra`]: the kernel does
    /// not report it.
    pub fn read_attrs<E>(
        model: MpicModel,
        nb_cpus: usize,
        mut get: impl FnMut(u32, u64) -> Result<u32, E>,
    ) -> Result<Self, E> {
        let mut registers = Vec::new();
        for off in saved_registers(model, nb_cpus) {
            registers.push((off as u32, get(KVM_DEV_MPIC_GRP_REGISTER, off)?));
        }
        let mut irq_active = Vec::new();
        for n in 0..KERNEL_LINES as u32 {
            if get(KVM_DEV_MPIC_GRP_IRQ_ACTIVE, u64::from(n))? != 0 {
                irq_active.push(n);
            }
        }
        Ok(MpicState {
            model,
            nb_cpus,
            registers,
            irq_active,
            extra: None,
        })
    }

    /// Writes this state into an in-kernel MPIC of the same model through
    /// `set(group, attribute, value)` (call [`MpicState::check`] first): a reset through GCR, the registers in restore order (GCR
    /// without its reset bit), then every source line (0 or 1). In-service interrupts, MSIRs,
    /// timer counts and pending IPIs/timers cannot be given to the kernel and are dropped.
    pub fn write_attrs<E>(
        &self,
        mut set: impl FnMut(u32, u64, u32) -> Result<(), E>,
    ) -> Result<(), E> {
        set(KVM_DEV_MPIC_GRP_REGISTER, GCR, GCR_RESET)?;
        for &(off, val) in &self.registers {
            let val = if u64::from(off) == GCR {
                val & !GCR_RESET
            } else {
                val
            };
            set(KVM_DEV_MPIC_GRP_REGISTER, off.into(), val)?;
        }
        for n in 0..KERNEL_LINES as u32 {
            let active = self.irq_active.contains(&n);
            set(KVM_DEV_MPIC_GRP_IRQ_ACTIVE, n.into(), active.into())?;
        }
        Ok(())
    }
}

/// Why a device-attribute access failed (the kernel answers `EINVAL`/`ENXIO` for these).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MpicAttrError {
    /// A group the 32-bit attribute view does not have.
    #[error("MPIC attribute group {0} is not a 32-bit register or line group")]
    Group(u32),
    /// A line number past the sources.
    #[error("MPIC line {0} is not a source (0..{KERNEL_LINES})")]
    Line(u64),
    /// A line level other than 0 or 1.
    #[error("MPIC line level {0} is not 0 or 1")]
    Level(u32),
    /// A register access the register file refused.
    #[error("MPIC register access failed")]
    Register(#[source] MpicError),
}

impl Mpic {
    /// The 32-bit device attributes as the in-kernel MPIC serves them
    /// (`KVM_DEV_MPIC_GRP_REGISTER`: a register by offset, read without a current CPU;
    /// `KVM_DEV_MPIC_GRP_IRQ_ACTIVE`: whether a source is pending).
    pub fn get_attr(&mut self, group: u32, attr: u64) -> Result<u32, MpicAttrError> {
        match group {
            KVM_DEV_MPIC_GRP_REGISTER => self.read(attr, None).map_err(MpicAttrError::Register),
            KVM_DEV_MPIC_GRP_IRQ_ACTIVE => {
                if attr >= KERNEL_LINES as u64 {
                    return Err(MpicAttrError::Line(attr));
                }
                Ok(self.src[attr as usize].pending.into())
            }
            g => Err(MpicAttrError::Group(g)),
        }
    }

    /// Writes a 32-bit device attribute, as `KVM_SET_DEVICE_ATTR` on the in-kernel MPIC.
    pub fn set_attr(&mut self, group: u32, attr: u64, value: u32) -> Result<(), MpicAttrError> {
        match group {
            KVM_DEV_MPIC_GRP_REGISTER => self
                .write(attr, value, None)
                .map_err(MpicAttrError::Register),
            KVM_DEV_MPIC_GRP_IRQ_ACTIVE => {
                if attr >= KERNEL_LINES as u64 {
                    return Err(MpicAttrError::Line(attr));
                }
                if value > 1 {
                    return Err(MpicAttrError::Level(value));
                }
                self.set_irq(attr as u32, value == 1)
                    .map_err(MpicAttrError::Register)
            }
            g => Err(MpicAttrError::Group(g)),
        }
    }

    /// Saves the state (registers, input lines and the userspace-only extras).
    pub fn save(&mut self) -> MpicState {
        let registers = saved_registers(self.model, self.nb_cpus)
            .into_iter()
            // These registers have no read side effects and exist: reads cannot fail.
            .map(|off| (off as u32, self.read(off, None).unwrap_or(0)))
            .collect();
        let irq_active = (0..MAX_IRQ as u32)
            .filter(|i| self.irq_pending(*i).unwrap_or(false))
            .collect();
        let in_service = (0..self.nb_cpus)
            .map(|c| (c as u32, self.in_service(c)))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        MpicState {
            model: self.model,
            nb_cpus: self.nb_cpus,
            registers,
            irq_active,
            extra: Some(MpicExtra {
                in_service,
                msir: self.msir,
                tccr: self.timers.map(|t| t.tccr),
                ipi_dest: std::array::from_fn(|i| self.src[IRQ_IPI0 + i].destmask),
            }),
        }
    }

    /// Restores `state` into this MPIC (same model and CPU count): reset, registers, input
    /// lines, then the extras if present. The state is checked ([`MpicState::check`]) before
    /// anything changes.
    pub fn restore(&mut self, state: &MpicState) -> Result<(), MpicStateError> {
        state.check(self.model, self.nb_cpus)?;
        self.reset();
        for (off, val) in &state.registers {
            let val = if u64::from(*off) == GCR {
                val & !GCR_RESET
            } else {
                *val
            };
            self.write(u64::from(*off), val, None)
                .map_err(MpicStateError::Mpic)?;
        }
        if let Some(x) = &state.extra {
            for (t, tccr) in x.tccr.iter().enumerate() {
                self.timers[t].tccr = *tccr;
            }
            self.msir = x.msir;
            let cpus = ((1u64 << self.nb_cpus) - 1) as u32;
            for (i, d) in x.ipi_dest.iter().enumerate() {
                self.src[IRQ_IPI0 + i].destmask = d & cpus;
            }
            for (cpu, irqs) in &x.in_service {
                for irq in irqs {
                    self.set_in_service(*cpu as usize, *irq as usize);
                }
            }
        }
        for irq in &state.irq_active {
            self.set_irq(*irq, true)
                .map_err(|_| MpicStateError::BadIrq(*irq))?;
        }
        Ok(())
    }
}
