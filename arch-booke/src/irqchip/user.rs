//! The userspace MPIC as a board device, for hosts whose kernel has no in-kernel MPIC: the
//! [`Mpic`] model behind its MMIO window, its interrupt outputs delivered to the vCPUs, the
//! external-proxy acknowledge for `KVM_EXIT_EPR`, and its global timers run from the host clock.
//!
//! - **Outputs.** After every access that can change them, each CPU's external-interrupt output
//!   (`int`) is compared with what was last delivered, and a change goes to that CPU's
//!   [`CpuIrq`] (on a BookE host: `KVM_INTERRUPT` with `KVM_INTERRUPT_SET_LEVEL` or
//!   `KVM_INTERRUPT_UNSET` on the vCPU fd, which powerpc KVM accepts from any thread). KVM offers
//!   no way to raise a BookE critical interrupt or machine check from userspace, so the `cint`
//!   and `mcp` outputs stay internal to the model.
//! - **External proxy.** With `KVM_CAP_PPC_EPR` enabled, KVM exits with `KVM_EXIT_EPR` when it
//!   delivers an external interrupt and userspace supplies the vector. [`UserMpic::epr`]
//!   acknowledges only when the guest put the MPIC in proxy mode (`GCR[MODE]`), exactly as the
//!   kernel's own MPIC does (`kvmppc_mpic_set_epr`); otherwise the guest acknowledges through
//!   IACK itself.
//! - **Timers.** The model counts in timer ticks; before each access the ticks elapsed on the
//!   host clock since the last one are applied (at the guest-programmed `TFRR` frequency). A
//!   timer interrupt therefore surfaces at the next MPIC access, not at its expiry: guests keep
//!   time with the core's decrementer, and the MPIC timers are read rather than waited on.
//! - **CPU number.** The bus does not say which vCPU made an access, so the per-CPU aliases at
//!   offsets 0x40-0xb0 act for CPU 0 on a one-CPU board (Linux uses the explicit per-CPU blocks).
//!
//! Everything here is plain Rust, tested on any host with a recording [`CpuIrq`].

use super::mpic::{Mpic, MpicError, MpicModel, Output, GCR_MODE_PROXY};
use super::mpic_regs::GCR;
use super::mpic_state::{MpicState, MpicStateError};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use vmm_core::bus::BusDevice;
use vmm_core::devices::{InterruptLine, InterruptRouter, Trigger};
use vmm_core::hypervisor::HvError;

/// One CPU's external-interrupt input.
pub trait CpuIrq: Send {
    /// Asserts (`true`) or deasserts the CPU's external interrupt, level-triggered.
    fn set_external(&self, level: bool) -> io::Result<()>;
}

struct Inner {
    mpic: Mpic,
    cpus: Vec<Option<Box<dyn CpuIrq>>>,
    delivered: Vec<bool>,
    clock: Option<Instant>,
    error: Option<io::Error>,
}

impl Inner {
    /// Applies the timer ticks elapsed since the last access.
    fn tick(&mut self) {
        let now = Instant::now();
        let Some(last) = self.clock else {
            self.clock = Some(now);
            return;
        };
        let nanos = now.duration_since(last).as_nanos().min(u64::MAX.into()) as u64;
        let ticks = self.mpic.ticks_for(nanos);
        if ticks > 0 {
            // Only whole ticks are consumed; the remainder counts towards the next access.
            self.mpic.advance_timers(ticks);
            self.clock = Some(now);
        }
    }

    /// Delivers every change of a CPU's `int` output.
    fn sync(&mut self) {
        for cpu in 0..self.cpus.len() {
            let level = self.mpic.output(cpu, Output::Int);
            let Some(sink) = &self.cpus[cpu] else {
                continue;
            };
            if level == self.delivered[cpu] {
                continue;
            }
            match sink.set_external(level) {
                Ok(()) => self.delivered[cpu] = level,
                Err(e) => {
                    self.error.get_or_insert(e);
                }
            }
        }
    }
}

/// The userspace MPIC of a VM, shared by its MMIO window, the interrupt sources and the vCPUs.
pub struct UserMpic {
    inner: Mutex<Inner>,
}

impl UserMpic {
    /// A reset MPIC of `model` for `nb_cpus` CPUs, none attached yet.
    pub fn new(model: MpicModel, nb_cpus: usize) -> Result<Self, MpicError> {
        let mpic = Mpic::new(model, nb_cpus)?;
        Ok(UserMpic {
            inner: Mutex::new(Inner {
                mpic,
                cpus: (0..nb_cpus).map(|_| None).collect(),
                delivered: vec![false; nb_cpus],
                clock: None,
                error: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the model (timers brought up to date first), then delivers output changes.
    fn with<R>(&self, f: impl FnOnce(&mut Mpic) -> R) -> R {
        let mut g = self.lock();
        g.tick();
        let r = f(&mut g.mpic);
        g.sync();
        r
    }

    /// Connects CPU `cpu`'s external-interrupt input; its current output is delivered at once.
    pub fn attach(&self, cpu: usize, irq: Box<dyn CpuIrq>) -> Result<(), MpicError> {
        let mut g = self.lock();
        let count = g.cpus.len();
        let slot = g
            .cpus
            .get_mut(cpu)
            .ok_or(MpicError::CpuOutOfRange { cpu, count })?;
        *slot = Some(irq);
        g.delivered[cpu] = false;
        g.sync();
        Ok(())
    }

    /// Sets the level of input line `irq` (a level-sensitive source follows it).
    pub fn set_irq(&self, irq: u32, level: bool) -> Result<(), MpicError> {
        self.with(|m| m.set_irq(irq, level))
    }

    /// An edge on input line `irq` (what an irqfd does: 1 then 0).
    pub fn pulse(&self, irq: u32) -> Result<(), MpicError> {
        self.with(|m| {
            m.set_irq(irq, true)?;
            m.set_irq(irq, false)
        })
    }

    /// `KVM_EXIT_EPR` for CPU `cpu`: in proxy mode, acknowledges the highest-priority interrupt
    /// and returns its vector (or the spurious vector); otherwise `None` (EPR is left alone and
    /// the guest reads IACK).
    pub fn epr(&self, cpu: usize) -> Option<u32> {
        self.with(|m| {
            let gcr = m.read(GCR, None).unwrap_or(0);
            let mode = gcr & m.model().mode_mask();
            (mode == GCR_MODE_PROXY).then(|| m.iack(cpu))
        })
    }

    /// The first output delivery that failed since the last call (the bus and the interrupt
    /// sources cannot return errors; the vCPU loop reports it).
    pub fn take_error(&self) -> Option<io::Error> {
        self.lock().error.take()
    }

    /// Saves the MPIC (everything the model knows, extras included).
    pub fn save(&self) -> MpicState {
        self.with(|m| m.save())
    }

    /// Restores a saved MPIC state and delivers the resulting outputs.
    pub fn restore(&self, state: &MpicState) -> Result<(), MpicStateError> {
        self.with(|m| m.restore(state))
    }

    /// Whether CPU `cpu`'s external-interrupt output is asserted.
    pub fn output(&self, cpu: usize) -> bool {
        self.lock().mpic.output(cpu, Output::Int)
    }

    /// The MMIO window, to put on the bus at the MPIC base.
    pub fn window(self: &std::sync::Arc<Self>) -> MpicWindow {
        MpicWindow(self.clone())
    }
}

/// The userspace MPIC's register window on the MMIO bus (4-byte big-endian accesses).
pub struct MpicWindow(std::sync::Arc<UserMpic>);

/// The CPU the per-CPU aliases act for (see the module doc: the bus does not say which vCPU
/// accessed; tetra's BookE board has one).
const ALIAS_CPU: usize = 0;

impl BusDevice for MpicWindow {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        self.0.with(|m| m.mmio_read(offset, ALIAS_CPU, data))
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        self.0.with(|m| m.mmio_write(offset, ALIAS_CPU, data))
    }
}

/// Routes devices' interrupts to sources of the userspace MPIC.
pub struct UserMpicRouter(pub Arc<UserMpic>);

/// One source of the userspace MPIC, as a device's interrupt line.
pub struct UserMpicLine {
    mpic: Arc<UserMpic>,
    irq: u32,
}

impl InterruptLine for UserMpicLine {
    fn trigger(&self) -> io::Result<()> {
        self.mpic
            .pulse(self.irq)
            .map_err(|e| io::Error::other(e.to_string()))
    }

    fn set_level(&self, active: bool) -> io::Result<()> {
        self.mpic
            .set_irq(self.irq, active)
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

impl InterruptRouter for UserMpicRouter {
    /// The line of source `irq` (checked against the model's sources now, not at each edge).
    fn line(&self, irq: u32, _trigger: Trigger) -> Result<Arc<dyn InterruptLine>, HvError> {
        if irq as usize >= super::mpic::MAX_SRC {
            return Err(HvError::Unsupported("an MPIC source beyond the model's"));
        }
        Ok(Arc::new(UserMpicLine {
            mpic: self.0.clone(),
            irq,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::irqchip::mpic::{IVPR_SENSE, VECTOR_MASK};
    use crate::irqchip::mpic_regs::{cpu_reg, src_reg, CPU_CTPR, CPU_EOI, CPU_IACK, SRC_IVPR};
    use std::sync::{Arc, Mutex as StdMutex};

    /// Records every level delivered to one CPU; fails on demand.
    #[derive(Clone, Default)]
    struct Recorder {
        levels: Arc<StdMutex<Vec<bool>>>,
        fail: Arc<StdMutex<bool>>,
    }

    impl CpuIrq for Recorder {
        fn set_external(&self, level: bool) -> io::Result<()> {
            if *self.fail.lock().unwrap() {
                return Err(io::Error::from_raw_os_error(libc::EBADF));
            }
            self.levels.lock().unwrap().push(level);
            Ok(())
        }
    }

    fn mmio_w(w: &mut MpicWindow, off: u64, v: u32) {
        w.write(off, &v.to_be_bytes());
    }

    fn mmio_r(w: &mut MpicWindow, off: u64) -> u32 {
        let mut b = [0u8; 4];
        w.read(off, &mut b);
        u32::from_be_bytes(b)
    }

    /// A one-CPU MPIC with source 8 unmasked as an edge source, priority 5, vector 0x88, and
    /// CPU 0's task priority at 0.
    fn board() -> (Arc<UserMpic>, MpicWindow, Recorder) {
        let m = Arc::new(UserMpic::new(MpicModel::Fsl42, 1).unwrap());
        let rec = Recorder::default();
        m.attach(0, Box::new(rec.clone())).unwrap();
        let mut w = m.window();
        mmio_w(&mut w, src_reg(8, SRC_IVPR), (5 << 16) | 0x88);
        mmio_w(&mut w, cpu_reg(0, CPU_CTPR), 0);
        (m, w, rec)
    }

    #[test]
    fn an_edge_raises_the_cpu_and_iack_eoi_lower_it() {
        let (m, mut w, rec) = board();
        assert!(rec.levels.lock().unwrap().is_empty(), "nothing raised yet");
        m.pulse(8).unwrap();
        assert_eq!(*rec.levels.lock().unwrap(), [true]);
        // A second edge before the acknowledge changes nothing on the line.
        m.pulse(8).unwrap();
        assert_eq!(*rec.levels.lock().unwrap(), [true]);
        assert_eq!(mmio_r(&mut w, cpu_reg(0, CPU_IACK)), 0x88);
        assert_eq!(*rec.levels.lock().unwrap(), [true, false]);
        // The edge that came while it was pending was merged into it: EOI leaves the line low.
        mmio_w(&mut w, cpu_reg(0, CPU_EOI), 0);
        assert_eq!(*rec.levels.lock().unwrap(), [true, false]);
        assert_eq!(mmio_r(&mut w, cpu_reg(0, CPU_IACK)) & VECTOR_MASK, 0xffff);
    }

    #[test]
    fn a_level_source_follows_its_line() {
        let (m, mut w, rec) = board();
        mmio_w(&mut w, src_reg(3, SRC_IVPR), IVPR_SENSE | (7 << 16) | 0x33);
        m.set_irq(3, true).unwrap();
        assert_eq!(*rec.levels.lock().unwrap(), [true]);
        m.set_irq(3, false).unwrap();
        assert_eq!(*rec.levels.lock().unwrap(), [true, false]);
        assert!(!m.output(0));
    }

    #[test]
    fn epr_acknowledges_only_in_proxy_mode() {
        let (m, mut w, rec) = board();
        m.pulse(8).unwrap();
        assert_eq!(m.epr(0), None, "mixed mode: the guest reads IACK");
        assert!(m.output(0));
        mmio_w(&mut w, GCR, GCR_MODE_PROXY);
        assert_eq!(m.epr(0), Some(0x88));
        assert!(!m.output(0), "acknowledged: the line drops");
        assert_eq!(*rec.levels.lock().unwrap(), [true, false]);
        assert_eq!(m.epr(0), Some(0xffff), "nothing pending: spurious");
    }

    #[test]
    fn attach_delivers_the_current_output_and_errors_are_kept() {
        let m = Arc::new(UserMpic::new(MpicModel::Fsl42, 1).unwrap());
        let mut w = m.window();
        mmio_w(&mut w, src_reg(8, SRC_IVPR), (5 << 16) | 0x88);
        mmio_w(&mut w, cpu_reg(0, CPU_CTPR), 0);
        m.pulse(8).unwrap();
        let rec = Recorder::default();
        m.attach(0, Box::new(rec.clone())).unwrap();
        assert_eq!(*rec.levels.lock().unwrap(), [true]);
        assert!(matches!(
            m.attach(1, Box::new(Recorder::default())),
            Err(MpicError::CpuOutOfRange { cpu: 1, count: 1 })
        ));
        *rec.fail.lock().unwrap() = true;
        assert_eq!(mmio_r(&mut w, cpu_reg(0, CPU_IACK)), 0x88);
        let e = m.take_error().expect("the failed delivery is reported");
        assert_eq!(e.raw_os_error(), Some(libc::EBADF));
        assert!(m.take_error().is_none());
        // Delivery is retried at the next access.
        *rec.fail.lock().unwrap() = false;
        let _ = mmio_r(&mut w, cpu_reg(0, CPU_CTPR));
        assert_eq!(*rec.levels.lock().unwrap(), [true, false]);
        assert!(m.set_irq(9999, true).is_err());
    }

    #[test]
    fn timers_run_from_the_host_clock() {
        use crate::irqchip::mpic_regs::{timer_reg, TFRR, TMR_TBCR, TMR_TCCR, TMR_TVPR};
        let (m, mut w, rec) = board();
        // 1 MHz timer clock, timer 0 counting down from 1000 (1 ms), interrupt priority 9.
        mmio_w(&mut w, TFRR, 1_000_000);
        mmio_w(&mut w, timer_reg(0, TMR_TVPR), (9 << 16) | 0x70);
        mmio_w(&mut w, timer_reg(0, TMR_TBCR), 1000);
        let start = mmio_r(&mut w, timer_reg(0, TMR_TCCR)) & 0x7fff_ffff;
        std::thread::sleep(std::time::Duration::from_millis(3));
        let _ = mmio_r(&mut w, timer_reg(0, TMR_TCCR));
        assert!(start <= 1000);
        assert_eq!(*rec.levels.lock().unwrap(), [true], "the timer expired");
        assert_eq!(mmio_r(&mut w, cpu_reg(0, CPU_IACK)), 0x70);
        drop(m);
    }
}
