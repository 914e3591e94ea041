//! The MPIC (OpenPIC) model: interrupt sources, per-CPU destinations, IACK/EOI with in-service
//! nesting, IPIs, global timers and MSIs.
//!
//! The delivery logic is a port of the in-kernel FSL MPIC (Linux `arch/powerpc/kvm/mpic.c`,
//! itself derived from QEMU's `hw/intc/openpic.c`), so that state and behaviour match what a
//! guest sees with `KVM_DEV_TYPE_FSL_MPIC_20/42`. The register file is in [`super::mpic_regs`],
//! save/restore in [`super::mpic_state`].
//!
//! Differences from the kernel, all towards the hardware:
//! - the global timers count: the kernel keeps TCCR as written; here [`Mpic::advance_timers`]
//!   counts down, toggles `TCCR[TOG]` and raises the timer interrupt at zero;
//! - after reset an IPI goes only to the CPUs written to IPIDR (the kernel's reset leaves CPU 0
//!   in every IPI's destination set, so the first IPI after reset also reaches CPU 0);
//! - the cached highest priorities of the raised/in-service queues are recomputed whenever they
//!   are read (the kernel reads a stale cache in CTPR writes after an IACK);
//! - MPIC 2.0 serves at most 15 CPUs, so that IDR's critical bits do not overlap the normal
//!   ones (the kernel shifts by a negative amount beyond that).

use kvm_ppc::consts::{KVM_DEV_TYPE_FSL_MPIC_20, KVM_DEV_TYPE_FSL_MPIC_42};
use thiserror::Error;

/// Most CPUs an MPIC serves.
pub const MAX_CPU: usize = 32;
/// External and internal sources (IVPR/IDR in the source register block).
pub const MAX_SRC: usize = 256;
/// Global timers.
pub const MAX_TMR: usize = 4;
/// Inter-processor interrupts.
pub const MAX_IPI: usize = 4;
/// Shared MSI registers.
pub const MAX_MSI: usize = 8;
/// All interrupt numbers: sources, then IPIs, then timers.
pub const MAX_IRQ: usize = MAX_SRC + MAX_IPI + MAX_TMR;
/// First IPI interrupt number.
pub const IRQ_IPI0: usize = MAX_SRC;
/// First timer interrupt number.
pub const IRQ_TIM0: usize = MAX_SRC + MAX_IPI;
/// First MSI interrupt number (sources 224..231).
pub const IRQ_MSI0: usize = 224;
/// External interrupt lines of the FSL MPICs (level/edge by `IVPR[S]`).
pub const FSL_MAX_EXT: usize = 12;

/// `IVPR[MSK]`: masked.
pub const IVPR_MASK: u32 = 1 << 31;
/// `IVPR[A]`: activity (read-only).
pub const IVPR_ACTIVITY: u32 = 1 << 30;
/// IVPR mode bit: distributed (1) or directed (0) delivery.
pub const IVPR_MODE: u32 = 1 << 29;
/// `IVPR[P]`: polarity.
pub const IVPR_POLARITY: u32 = 1 << 23;
/// `IVPR[S]`: sense (1: level).
pub const IVPR_SENSE: u32 = 1 << 22;
/// `IVPR[PRIORITY]` mask.
pub const IVPR_PRIORITY_MASK: u32 = 0xf << 16;
/// The vector mask of the FSL MPICs.
pub const VECTOR_MASK: u32 = 0xffff;
/// `IDR[EP]` (MPIC 2.0): external pin.
pub const IDR_EP: u32 = 1 << 31;
/// `GCR[RST]`: reset.
pub const GCR_RESET: u32 = 1 << 31;
/// GCR mode field: mixed.
pub const GCR_MODE_MIXED: u32 = 0x2000_0000;
/// GCR mode field: external proxy.
pub const GCR_MODE_PROXY: u32 = 0x6000_0000;
/// `TCCR[TOG]`: toggles at each zero crossing.
pub const TCCR_TOG: u32 = 1 << 31;
/// `TBCR[CI]`: count inhibit.
pub const TBCR_CI: u32 = 1 << 31;
/// VID 1.2 in FRR.
pub const VID_REVISION_1_2: u32 = 2;

/// Errors of the MPIC model.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MpicError {
    /// Number of CPUs outside 1..=32.
    #[error("an MPIC serves 1 to {MAX_CPU} CPUs, not {0}")]
    BadCpuCount(usize),
    /// A CPU index past the configured CPUs.
    #[error("CPU {cpu} out of range ({count} CPUs)")]
    CpuOutOfRange {
        /// The CPU.
        cpu: usize,
        /// Configured CPUs.
        count: usize,
    },
    /// An interrupt number past the last.
    #[error("interrupt {0} out of range (0..{MAX_IRQ})")]
    IrqOutOfRange(u32),
    /// A register offset that is not 32-bit aligned.
    #[error("MPIC register offset {0:#x} is not 32-bit aligned")]
    Unaligned(u64),
    /// More CPUs than the model's IDR can address.
    #[error("{model:?} serves at most {max} CPUs, not {count}")]
    TooManyCpus {
        /// The model.
        model: MpicModel,
        /// Its limit.
        max: usize,
        /// CPUs asked for.
        count: usize,
    },
    /// An offset outside every register block.
    #[error("no MPIC register block at offset {0:#x}")]
    NoRegister(u64),
    /// A device type that is not an FSL MPIC.
    #[error("KVM device type {0} is not an FSL MPIC (1 = MPIC 2.0, 2 = MPIC 4.2)")]
    UnknownModel(u32),
}

/// Which FSL MPIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MpicModel {
    /// MPIC 2.0 (e500v2 class): IDR carries critical-interrupt destinations.
    Fsl20,
    /// MPIC 4.2 (e500mc class): per-source ILR selects the output.
    Fsl42,
}

impl MpicModel {
    /// The `KVM_CREATE_DEVICE` type.
    pub fn kvm_device_type(self) -> u32 {
        match self {
            MpicModel::Fsl20 => KVM_DEV_TYPE_FSL_MPIC_20,
            MpicModel::Fsl42 => KVM_DEV_TYPE_FSL_MPIC_42,
        }
    }

    /// From a `KVM_CREATE_DEVICE` type.
    pub fn from_kvm_device_type(t: u32) -> Result<Self, MpicError> {
        match t {
            KVM_DEV_TYPE_FSL_MPIC_20 => Ok(MpicModel::Fsl20),
            KVM_DEV_TYPE_FSL_MPIC_42 => Ok(MpicModel::Fsl42),
            t => Err(MpicError::UnknownModel(t)),
        }
    }

    /// Block revision register 1.
    pub fn brr1(self) -> u32 {
        match self {
            MpicModel::Fsl20 => 0x0040_0200,
            MpicModel::Fsl42 => 0x0040_0402,
        }
    }

    /// Interrupt sources reported in FRR.
    pub fn nb_irqs(self) -> u32 {
        match self {
            MpicModel::Fsl20 => 80,
            MpicModel::Fsl42 => 196,
        }
    }

    /// GCR mode bits the guest may set.
    pub fn mode_mask(self) -> u32 {
        match self {
            MpicModel::Fsl20 => GCR_MODE_MIXED,
            MpicModel::Fsl42 => GCR_MODE_PROXY,
        }
    }

    /// Whether the source block has ILR (MPIC 4.2).
    pub fn has_ilr(self) -> bool {
        self == MpicModel::Fsl42
    }

    /// Whether IDR carries critical destinations (MPIC 2.0).
    pub fn idr_crit(self) -> bool {
        self == MpicModel::Fsl20
    }
}

/// An output of the MPIC towards a CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// The external interrupt (`int`).
    Int = 0,
    /// The critical interrupt (`cint`).
    Cint = 1,
    /// Machine check.
    Mcp = 2,
}

impl Output {
    fn from_ilr(v: u32) -> Output {
        match v {
            1 => Output::Cint,
            2 => Output::Mcp,
            _ => Output::Int,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SourceType {
    /// External lines: sense from `IVPR[S]`.
    Normal,
    /// FSL internal sources (including MSIs): level, sense bit reserved.
    FslInt,
    /// Timers and IPIs: edge, no sense or polarity.
    FslSpecial,
}

#[derive(Clone, Debug)]
pub(super) struct Source {
    pub(super) ivpr: u32,
    pub(super) idr: u32,
    pub(super) destmask: u32,
    pub(super) last_cpu: usize,
    pub(super) output: Output,
    pub(super) pending: bool,
    level: bool,
    nomask: bool,
    kind: SourceType,
}

/// A set of interrupt numbers plus the cached highest-priority member.
#[derive(Clone, Debug, Default)]
pub(super) struct IrqQueue {
    bits: [u64; MAX_IRQ.div_ceil(64)],
    next: Option<usize>,
    priority: i32,
}

impl IrqQueue {
    fn set(&mut self, irq: usize) {
        self.bits[irq / 64] |= 1 << (irq % 64);
    }
    fn reset(&mut self, irq: usize) {
        self.bits[irq / 64] &= !(1 << (irq % 64));
    }
    pub(super) fn members(&self) -> impl Iterator<Item = usize> + '_ {
        (0..MAX_IRQ).filter(|i| self.bits[i / 64] & (1 << (i % 64)) != 0)
    }
}

#[derive(Clone, Debug)]
pub(super) struct Dest {
    pub(super) ctpr: u32,
    pub(super) raised: IrqQueue,
    pub(super) servicing: IrqQueue,
    outputs_active: [u32; 3],
    lines: [bool; 3],
}

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Timer {
    pub(super) tccr: u32,
    pub(super) tbcr: u32,
}

/// An FSL MPIC.
#[derive(Clone, Debug)]
pub struct Mpic {
    pub(super) model: MpicModel,
    pub(super) nb_cpus: usize,
    pub(super) gcr: u32,
    pub(super) spve: u32,
    pub(super) tfrr: u32,
    pub(super) src: Vec<Source>,
    pub(super) dst: Vec<Dest>,
    pub(super) timers: [Timer; MAX_TMR],
    pub(super) msir: [u32; MAX_MSI],
}

fn priority(ivpr: u32) -> i32 {
    ((ivpr & IVPR_PRIORITY_MASK) >> 16) as i32
}

impl Mpic {
    /// A reset MPIC of `model` serving `nb_cpus` CPUs.
    pub fn new(model: MpicModel, nb_cpus: usize) -> Result<Self, MpicError> {
        if !(1..=MAX_CPU).contains(&nb_cpus) {
            return Err(MpicError::BadCpuCount(nb_cpus));
        }
        if model.idr_crit() && nb_cpus > 15 {
            return Err(MpicError::TooManyCpus {
                model,
                max: 15,
                count: nb_cpus,
            });
        }
        let src = (0..MAX_IRQ)
            .map(|i| {
                let kind = if i < 16 {
                    SourceType::Normal
                } else if i < MAX_SRC {
                    SourceType::FslInt
                } else {
                    SourceType::FslSpecial
                };
                Source {
                    ivpr: 0,
                    idr: 0,
                    destmask: 0,
                    last_cpu: 0,
                    output: Output::Int,
                    pending: false,
                    level: kind == SourceType::FslInt,
                    nomask: false,
                    kind,
                }
            })
            .collect();
        let dst = (0..nb_cpus)
            .map(|_| Dest {
                ctpr: 15,
                raised: IrqQueue::default(),
                servicing: IrqQueue::default(),
                outputs_active: [0; 3],
                lines: [false; 3],
            })
            .collect();
        let mut m = Self {
            model,
            nb_cpus,
            gcr: 0,
            spve: 0,
            tfrr: 0,
            src,
            dst,
            timers: [Timer::default(); MAX_TMR],
            msir: [0; MAX_MSI],
        };
        m.reset();
        Ok(m)
    }

    /// The model.
    pub fn model(&self) -> MpicModel {
        self.model
    }

    /// CPUs served.
    pub fn nb_cpus(&self) -> usize {
        self.nb_cpus
    }

    /// Resets the controller (`GCR[RST]`): every source masked, priority 0, routed to CPU 0;
    /// every CPU at task priority 15; timers inhibited.
    pub fn reset(&mut self) {
        self.gcr = 0;
        self.spve = VECTOR_MASK;
        self.tfrr = 0;
        for i in 0..MAX_IRQ {
            let s = &mut self.src[i];
            s.ivpr = IVPR_MASK;
            s.pending = false;
            s.output = Output::Int;
            s.nomask = false;
            s.last_cpu = 0;
            match s.kind {
                SourceType::Normal => s.level = false,
                SourceType::FslInt => s.ivpr |= IVPR_POLARITY,
                SourceType::FslSpecial => {}
            }
            self.write_idr(i, 1);
        }
        for ipi in IRQ_IPI0..IRQ_IPI0 + MAX_IPI {
            self.src[ipi].destmask = 0;
        }
        for d in &mut self.dst {
            d.ctpr = 15;
            d.raised = IrqQueue::default();
            d.servicing = IrqQueue::default();
            d.outputs_active = [0; 3];
            d.lines = [false; 3];
        }
        for t in &mut self.timers {
            *t = Timer {
                tccr: 0,
                tbcr: TBCR_CI,
            };
        }
        self.msir = [0; MAX_MSI];
    }

    /// Whether output `out` towards `cpu` is asserted (false for an unknown CPU).
    pub fn output(&self, cpu: usize, out: Output) -> bool {
        self.dst.get(cpu).is_some_and(|d| d.lines[out as usize])
    }

    /// The input line of source `irq` (`KVM_DEV_MPIC_GRP_IRQ_ACTIVE` set).
    pub fn set_irq(&mut self, irq: u32, level: bool) -> Result<(), MpicError> {
        let n = irq as usize;
        if n >= MAX_IRQ {
            return Err(MpicError::IrqOutOfRange(irq));
        }
        let s = &mut self.src[n];
        if s.level {
            s.pending = level;
            self.update_irq(n);
        } else {
            if level {
                s.pending = true;
                self.update_irq(n);
            }
            if self.src[n].output != Output::Int {
                // Edge sources on non-INT outputs would storm: drop the pending state at once.
                self.src[n].pending = false;
                self.update_irq(n);
            }
        }
        Ok(())
    }

    /// Whether source `irq` is pending (`KVM_DEV_MPIC_GRP_IRQ_ACTIVE` get).
    pub fn irq_pending(&self, irq: u32) -> Result<bool, MpicError> {
        self.src
            .get(irq as usize)
            .map(|s| s.pending)
            .ok_or(MpicError::IrqOutOfRange(irq))
    }

    fn raise(&mut self, cpu: usize, out: Output) {
        self.dst[cpu].lines[out as usize] = true;
    }

    fn lower(&mut self, cpu: usize, out: Output) {
        self.dst[cpu].lines[out as usize] = false;
    }

    /// Recomputes `next`/`priority` of a CPU's raised or servicing queue.
    fn check_queue(src: &[Source], q: &mut IrqQueue) -> Option<usize> {
        let mut next = None;
        let mut prio = -1;
        for irq in q.members() {
            let p = priority(src[irq].ivpr);
            if p > prio {
                next = Some(irq);
                prio = p;
            }
        }
        q.next = next;
        q.priority = prio;
        next
    }

    fn local_pipe(&mut self, cpu: usize, n: usize, active: bool, was_active: bool) {
        let out = self.src[n].output;
        if out != Output::Int {
            // Critical and machine-check outputs ignore priority, IACK and EOI.
            let d = &mut self.dst[cpu];
            if active {
                if !was_active {
                    d.outputs_active[out as usize] += 1;
                    if d.outputs_active[out as usize] == 1 {
                        self.raise(cpu, out);
                    }
                }
            } else if was_active {
                d.outputs_active[out as usize] = d.outputs_active[out as usize].saturating_sub(1);
                if d.outputs_active[out as usize] == 0 {
                    self.lower(cpu, out);
                }
            }
            return;
        }
        let prio = priority(self.src[n].ivpr);
        let d = &mut self.dst[cpu];
        // Raised even without enough priority, in case CTPR drops later.
        if active {
            d.raised.set(n);
        } else {
            d.raised.reset(n);
        }
        Self::check_queue(&self.src, &mut d.raised);
        let active = active && prio > d.ctpr as i32;
        if active {
            let serving = Self::check_queue(&self.src, &mut d.servicing);
            if !(serving.is_some() && prio <= d.servicing.priority) {
                self.raise(cpu, Output::Int);
            }
        } else {
            Self::check_queue(&self.src, &mut d.servicing);
            if !(d.raised.priority > d.ctpr as i32 && d.raised.priority > d.servicing.priority) {
                self.lower(cpu, Output::Int);
            }
        }
    }

    /// Re-evaluates source `n` after its registers or input changed.
    pub(super) fn update_irq(&mut self, n: usize) {
        let s = &self.src[n];
        let masked = s.ivpr & IVPR_MASK != 0 && !s.nomask;
        let active = s.pending && !masked;
        let was_active = s.ivpr & IVPR_ACTIVITY != 0;
        if !active && !was_active {
            return;
        }
        if active {
            self.src[n].ivpr |= IVPR_ACTIVITY;
        } else {
            self.src[n].ivpr &= !IVPR_ACTIVITY;
        }
        let s = &self.src[n];
        let destmask = s.destmask;
        if destmask == 0 {
            return;
        }
        if destmask == 1 << s.last_cpu {
            self.local_pipe(s.last_cpu, n, active, was_active);
        } else if s.ivpr & IVPR_MODE == 0 {
            // Directed delivery: every CPU in the mask.
            for cpu in 0..self.nb_cpus {
                if destmask & (1 << cpu) != 0 {
                    self.local_pipe(cpu, n, active, was_active);
                }
            }
        } else {
            // Distributed delivery: the next CPU in the mask after the last one.
            let last = s.last_cpu;
            let mut cpu = last + 1;
            for _ in 0..self.nb_cpus {
                if cpu >= self.nb_cpus {
                    cpu = 0;
                }
                if destmask & (1 << cpu) != 0 {
                    self.local_pipe(cpu, n, active, was_active);
                    self.src[n].last_cpu = cpu;
                    break;
                }
                cpu += 1;
            }
        }
    }

    /// Writes a source's IVPR (A is read-only; sense/polarity depend on the source type).
    pub(super) fn write_ivpr(&mut self, n: usize, val: u32) {
        let mask = IVPR_MASK | IVPR_PRIORITY_MASK | IVPR_SENSE | IVPR_POLARITY | VECTOR_MASK;
        let s = &mut self.src[n];
        s.ivpr = (s.ivpr & IVPR_ACTIVITY) | (val & mask);
        match s.kind {
            SourceType::Normal => s.level = s.ivpr & IVPR_SENSE != 0,
            SourceType::FslInt => s.ivpr &= !IVPR_SENSE,
            SourceType::FslSpecial => s.ivpr &= !(IVPR_POLARITY | IVPR_SENSE),
        }
        self.update_irq(n);
    }

    /// Writes a source's IDR (destination CPUs; on MPIC 2.0 also critical destinations).
    pub(super) fn write_idr(&mut self, n: usize, val: u32) {
        let nb = self.nb_cpus as u32;
        let normal = ((1u64 << nb) - 1) as u32;
        let crit_shift = 31 - nb;
        let crit_mask = if self.model.idr_crit() {
            normal << crit_shift
        } else {
            0
        };
        let mask = if self.model.idr_crit() {
            normal | crit_mask | IDR_EP
        } else {
            normal
        };
        let s = &mut self.src[n];
        s.idr = val & mask;
        if self.model.idr_crit() {
            if s.idr & crit_mask != 0 {
                s.output = Output::Cint;
                s.nomask = true;
                s.destmask = (0..nb)
                    .filter(|i| s.idr & (1 << (30 - i)) != 0)
                    .fold(0, |m, i| m | (1 << i));
            } else {
                s.output = Output::Int;
                s.nomask = false;
                s.destmask = s.idr & normal;
            }
        } else {
            s.destmask = s.idr;
        }
    }

    /// Writes a source's ILR (MPIC 4.2: the output it drives).
    pub(super) fn write_ilr(&mut self, n: usize, val: u32) {
        if self.model.has_ilr() {
            self.src[n].output = Output::from_ilr(val & 0xff);
        }
    }

    /// Sets a CPU's current task priority (CTPR, 0..=15).
    pub(super) fn write_ctpr(&mut self, cpu: usize, val: u32) {
        let d = &mut self.dst[cpu];
        d.ctpr = val & 0xf;
        Self::check_queue(&self.src, &mut d.raised);
        Self::check_queue(&self.src, &mut d.servicing);
        if d.raised.priority <= d.ctpr as i32 {
            self.lower(cpu, Output::Int);
        } else if d.raised.priority > d.servicing.priority {
            self.raise(cpu, Output::Int);
        }
    }

    /// Sends IPI `ipi` (0..4) to the CPUs in `mask` (a write to IPIDR).
    pub fn send_ipi(&mut self, ipi: usize, mask: u32) {
        if ipi >= MAX_IPI {
            return;
        }
        let n = IRQ_IPI0 + ipi;
        // IDE doubles as the set of CPUs still to be told about the IPI.
        self.src[n].destmask |= mask & (((1u64 << self.nb_cpus) - 1) as u32);
        // Edge source: the falling half of the pulse is a no-op.
        let _ = self.set_irq(n as u32, true);
        let _ = self.set_irq(n as u32, false);
    }

    /// Interrupt acknowledge (a read of IACK, or the core's automatic acknowledge in proxy/EPR
    /// mode): returns the vector of the highest-priority raised interrupt and moves it in
    /// service, or the spurious vector.
    pub fn iack(&mut self, cpu: usize) -> u32 {
        if cpu >= self.nb_cpus {
            return self.spve;
        }
        self.lower(cpu, Output::Int);
        let Some(irq) = Self::check_queue(&self.src, &mut self.dst[cpu].raised) else {
            return self.spve;
        };
        let s = &self.src[irq];
        let vector = if s.ivpr & IVPR_ACTIVITY == 0 || priority(s.ivpr) <= self.dst[cpu].ctpr as i32
        {
            self.update_irq(irq);
            self.spve
        } else {
            self.dst[cpu].servicing.set(irq);
            Self::check_queue(&self.src, &mut self.dst[cpu].servicing);
            self.src[irq].ivpr & VECTOR_MASK
        };
        if !self.src[irq].level {
            // Edge: acknowledging consumes it.
            self.src[irq].ivpr &= !IVPR_ACTIVITY;
            self.src[irq].pending = false;
            self.dst[cpu].raised.reset(irq);
        }
        if (IRQ_IPI0..IRQ_IPI0 + MAX_IPI).contains(&irq) {
            self.src[irq].destmask &= !(1 << cpu);
            if self.src[irq].destmask != 0 && !self.src[irq].level {
                // Deliver to the CPUs that have not acknowledged yet.
                let _ = self.set_irq(irq as u32, true);
                let _ = self.set_irq(irq as u32, false);
                self.src[irq].ivpr |= IVPR_ACTIVITY;
            }
        }
        vector
    }

    /// End of interrupt: the highest-priority in-service interrupt leaves service; a raised
    /// interrupt above what is still in service re-asserts the output.
    pub fn eoi(&mut self, cpu: usize) {
        if cpu >= self.nb_cpus {
            return;
        }
        let Some(s_irq) = Self::check_queue(&self.src, &mut self.dst[cpu].servicing) else {
            return;
        };
        self.dst[cpu].servicing.reset(s_irq);
        let still = Self::check_queue(&self.src, &mut self.dst[cpu].servicing);
        let next = Self::check_queue(&self.src, &mut self.dst[cpu].raised);
        if let Some(n) = next {
            if still.is_none() || priority(self.src[n].ivpr) > self.dst[cpu].servicing.priority {
                self.raise(cpu, Output::Int);
            }
        }
    }

    /// Interrupts in service on `cpu`, highest priority first is not implied (ascending
    /// interrupt numbers).
    pub fn in_service(&self, cpu: usize) -> Vec<u32> {
        self.dst
            .get(cpu)
            .map(|d| d.servicing.members().map(|i| i as u32).collect())
            .unwrap_or_default()
    }

    /// Puts `irq` in service on `cpu` directly (restore of a userspace snapshot).
    pub(super) fn set_in_service(&mut self, cpu: usize, irq: usize) {
        self.dst[cpu].servicing.set(irq);
        Self::check_queue(&self.src, &mut self.dst[cpu].servicing);
    }

    /// Raises an MSI: `srs` selects the shared MSI register (0..8), `ibs` the bit (0..32).
    pub(super) fn msi(&mut self, srs: usize, ibs: u32) {
        self.msir[srs] |= 1 << ibs;
        let _ = self.set_irq((IRQ_MSI0 + srs) as u32, true);
    }

    /// Reads and clears an MSI register, lowering its interrupt.
    pub(super) fn take_msir(&mut self, srs: usize) -> u32 {
        let v = std::mem::take(&mut self.msir[srs]);
        let _ = self.set_irq((IRQ_MSI0 + srs) as u32, false);
        v
    }

    /// Writes a timer's base count register.
    pub(super) fn write_tbcr(&mut self, t: usize, val: u32) {
        let old = self.timers[t].tbcr;
        if old & TBCR_CI != 0 && val & TBCR_CI == 0 {
            // Counting starts: load the base count, TOG restarts at 0.
            self.timers[t].tccr = val & !TCCR_TOG;
        }
        self.timers[t].tbcr = val;
    }

    /// Advances the global timers by `ticks` timer clocks (TFRR ticks per second). A timer that
    /// reaches zero toggles `TCCR[TOG]`, reloads its base count and raises its interrupt.
    pub fn advance_timers(&mut self, ticks: u64) {
        for t in 0..MAX_TMR {
            let Timer { tccr, tbcr } = self.timers[t];
            let base = u64::from(tbcr & !TBCR_CI);
            if tbcr & TBCR_CI != 0 || base == 0 || ticks == 0 {
                continue;
            }
            // A current count of 0 (only after a restore) counts as a full period.
            let count = match u64::from(tccr & !TCCR_TOG) {
                0 => base,
                c => c,
            };
            if ticks < count {
                self.timers[t].tccr = (tccr & TCCR_TOG) | (count - ticks) as u32;
                continue;
            }
            let after = ticks - count;
            let expirations = 1 + after / base;
            let remaining = base - after % base;
            let tog = if expirations % 2 == 1 {
                (tccr & TCCR_TOG) ^ TCCR_TOG
            } else {
                tccr & TCCR_TOG
            };
            self.timers[t].tccr = tog | remaining as u32;
            let _ = self.set_irq((IRQ_TIM0 + t) as u32, true);
            let _ = self.set_irq((IRQ_TIM0 + t) as u32, false);
        }
    }

    /// Timer ticks in `nanos` nanoseconds at the TFRR frequency.
    pub fn ticks_for(&self, nanos: u64) -> u64 {
        (u128::from(self.tfrr) * u128::from(nanos) / 1_000_000_000) as u64
    }
}
