//! The pseries machine state the vCPU threads share: the console, the interrupt sources (the
//! XICS, when the machine has one), the RTAS view of each vCPU (stopped, starting, running),
//! the LPCR bits `H_SET_MODE` set for every vCPU, and requests an exit handler leaves for the
//! glue that holds the vCPU.
//!
//! Secondary vCPUs start in the RTAS "stopped" state: vmm-core parks them
//! (`ExitAction::Park`), and RTAS `start-cpu` records the entry ([`StartRequest`]) here before
//! waking one; the woken vCPU takes it on its own thread and sets its registers. `stop-self`
//! marks its vCPU as stopping and parks it again. The RTAS state of each vCPU lives here, so a
//! secondary is "stopped" from the start even before its thread has parked; only the end of
//! `stop-self` is read from vmm-core's park state ([`CpuControl`]).

use crate::events::EventSources;
use crate::irqchip::Xics;
use crate::vty::Vty;
use std::sync::{Arc, Mutex, MutexGuard};
use vmm_core::arch::VcpuWaker;

/// Wakes parked vCPUs and tells which are parked (vmm-core's [`VcpuWaker`]; a fake in tests).
pub trait CpuControl {
    /// Wakes vCPU `id`; false when there is no such vCPU.
    fn wake(&self, id: u32) -> bool;
    /// Whether vCPU `id` is parked; `None` when there is no such vCPU.
    fn is_parked(&self, id: u32) -> Option<bool>;
    /// The number of vCPUs.
    fn count(&self) -> u32;
}

impl CpuControl for VcpuWaker<'_> {
    fn wake(&self, id: u32) -> bool {
        VcpuWaker::wake(self, id)
    }
    fn is_parked(&self, id: u32) -> Option<bool> {
        VcpuWaker::is_parked(self, id)
    }
    fn count(&self) -> u32 {
        VcpuWaker::count(self)
    }
}

/// Where a started vCPU begins (RTAS `start-cpu`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartRequest {
    /// Entry address (real mode).
    pub nip: u64,
    /// Value for r3.
    pub r3: u64,
}

/// Work an exit handler leaves for the glue, which has the vCPU ([`vmm_core::ExitAction::WithVcpu`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VcpuRequest {
    /// Set the LPCR bits `mask` to `value` (`H_SET_MODE`), then complete the hypercall with
    /// `H_SUCCESS`, or `H_UNSUPPORTED_FLAG` if KVM did not take the bits.
    Lpcr {
        /// Bits to change.
        mask: u64,
        /// Their new value.
        value: u64,
    },
    /// Set SPRG0 (`H_SET_SPRG0`), then complete the hypercall with `H_SUCCESS`.
    Sprg0 {
        /// The new value.
        value: u64,
    },
    /// Configure the radix MMU with the guest's process table (`H_REGISTER_PROC_TBL`; `None`:
    /// tetra's own again), then complete the hypercall.
    ProcTable {
        /// (base, size in bytes), checked.
        table: Option<(u64, u64)>,
    },
}

/// A vCPU as RTAS `query-cpu-stopped-state` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuState {
    /// 0: in the RTAS stopped state.
    Stopped = 0,
    /// 1: `stop-self` in progress.
    Stopping = 1,
    /// 2: not stopped.
    Running = 2,
}

#[derive(Clone, Copy, Debug)]
struct CpuSlot {
    start: Option<StartRequest>,
    /// The RTAS state as the machine last set it: `Stopping` becomes `Stopped` once vmm-core
    /// reports the vCPU parked.
    state: CpuState,
    request: Option<VcpuRequest>,
}

/// A second `start-cpu` for a vCPU whose first one it has not taken yet.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("vCPU {0} is already being started")]
pub struct AlreadyStarting(pub u32);

/// The shared state.
pub struct Machine {
    vty: Arc<Mutex<Vty>>,
    cpus: Mutex<Vec<CpuSlot>>,
    lpcr: Mutex<(u64, u64)>,
    /// The radix process table the guest registered (`H_REGISTER_PROC_TBL`): (base, size).
    proc_table: Mutex<Option<(u64, u64)>>,
    ram_size: u64,
    xics: Option<Arc<Xics>>,
    /// The RTAS event sources (the EPOW power button).
    events: EventSources,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Machine {
    /// A machine with `cpus` vCPUs, `ram_size` bytes of RAM at 0 and the console `vty`.
    pub fn new(vty: Arc<Mutex<Vty>>, cpus: u32, ram_size: u64) -> Self {
        Machine {
            vty,
            cpus: Mutex::new(
                (0..cpus)
                    .map(|id| CpuSlot {
                        start: None,
                        // The boot vCPU runs; the others start stopped, whether or not their
                        // threads have parked yet.
                        state: if id == 0 {
                            CpuState::Running
                        } else {
                            CpuState::Stopped
                        },
                        request: None,
                    })
                    .collect(),
            ),
            lpcr: Mutex::new((0, 0)),
            proc_table: Mutex::new(None),
            ram_size,
            xics: None,
            events: EventSources::new(None),
        }
    }

    /// The same machine with the event sources `events`.
    pub fn with_events(mut self, events: EventSources) -> Self {
        self.events = events;
        self
    }

    /// The RTAS event sources.
    pub fn events(&self) -> &EventSources {
        &self.events
    }

    /// The same machine with the interrupt sources `xics`.
    pub fn with_xics(mut self, xics: Arc<Xics>) -> Self {
        self.xics = Some(xics);
        self
    }

    /// The interrupt sources, if the machine has an interrupt controller.
    pub fn xics(&self) -> Option<&Xics> {
        self.xics.as_deref()
    }

    /// The console.
    pub fn vty(&self) -> MutexGuard<'_, Vty> {
        lock(&self.vty)
    }

    /// The number of vCPUs.
    pub fn cpu_count(&self) -> u32 {
        lock(&self.cpus).len() as u32
    }

    /// Whether vCPU `id` has a `start-cpu` request it has not taken yet.
    pub fn has_start(&self, id: u32) -> bool {
        lock(&self.cpus)
            .get(id as usize)
            .is_some_and(|s| s.start.is_some())
    }

    /// Guest RAM size (RAM starts at 0).
    pub fn ram_size(&self) -> u64 {
        self.ram_size
    }

    /// Records where vCPU `id` starts; the caller then wakes it.
    pub fn request_start(&self, id: u32, req: StartRequest) -> Result<(), AlreadyStarting> {
        let mut cpus = lock(&self.cpus);
        let slot = cpus.get_mut(id as usize).ok_or(AlreadyStarting(id))?;
        if slot.start.is_some() {
            return Err(AlreadyStarting(id));
        }
        slot.start = Some(req);
        Ok(())
    }

    /// Takes vCPU `id`'s start request (on its own thread, once woken); it is running from now.
    pub fn take_start(&self, id: u32) -> Option<StartRequest> {
        let mut cpus = lock(&self.cpus);
        let slot = cpus.get_mut(id as usize)?;
        let req = slot.start.take();
        if req.is_some() {
            slot.state = CpuState::Running;
        }
        req
    }

    /// Marks vCPU `id` as stopping (`stop-self`, just before it parks); it is stopped once
    /// parked.
    pub fn set_stopping(&self, id: u32) {
        if let Some(s) = lock(&self.cpus).get_mut(id as usize) {
            s.state = CpuState::Stopping;
        }
    }

    /// vCPU `id` as RTAS sees it; `None` when there is no such vCPU.
    pub fn cpu_state(&self, id: u32, cpus: &dyn CpuControl) -> Option<CpuState> {
        let slot = *lock(&self.cpus).get(id as usize)?;
        let parked = cpus.is_parked(id)?;
        Some(match (slot.start, slot.state) {
            (Some(_), _) => CpuState::Running,
            (None, CpuState::Stopping) if parked => CpuState::Stopped,
            (None, state) => state,
        })
    }

    /// Records LPCR bits every vCPU gets (`H_SET_MODE` sets them machine-wide): `mask` bits to
    /// `value`.
    pub fn set_shared_lpcr(&self, mask: u64, value: u64) {
        let mut l = lock(&self.lpcr);
        l.0 |= mask;
        l.1 = (l.1 & !mask) | (value & mask);
    }

    /// The LPCR bits set machine-wide: `(mask, value)`.
    pub fn shared_lpcr(&self) -> (u64, u64) {
        *lock(&self.lpcr)
    }

    /// Records the process table the guest registered (`None`: tetra's own again).
    pub fn set_proc_table(&self, table: Option<(u64, u64)>) {
        *lock(&self.proc_table) = table;
    }

    /// The process table the guest registered, if it did: (base, size).
    pub fn proc_table(&self) -> Option<(u64, u64)> {
        *lock(&self.proc_table)
    }

    /// Each vCPU as a snapshot holds it: its RTAS state as the machine last set it and a
    /// `start-cpu` it has not taken yet. (A vCPU request is never pending at a pause: the vCPU
    /// thread finishes it right after the exit that made it.)
    pub fn cpu_snapshots(&self) -> Vec<crate::snapshot::CpuSnapshot> {
        lock(&self.cpus)
            .iter()
            .map(|s| crate::snapshot::CpuSnapshot {
                state: s.state,
                start: s.start,
            })
            .collect()
    }

    /// Restores [`Machine::cpu_snapshots`]'s states (as many as both have) and `lpcr`, the
    /// machine-wide LPCR bits `(mask, value)`. A vCPU that was stopping is stopped: its thread
    /// parks before it first runs ([`Machine::starts_parked`]).
    pub fn restore(&self, cpus: &[crate::snapshot::CpuSnapshot], lpcr: (u64, u64)) {
        for (slot, c) in lock(&self.cpus).iter_mut().zip(cpus) {
            slot.state = match c.state {
                CpuState::Stopping => CpuState::Stopped,
                s => s,
            };
            slot.start = c.start;
            slot.request = None;
        }
        *lock(&self.lpcr) = lpcr;
    }

    /// Whether vCPU `id` waits parked before its first entry: it is stopped (or stopping) for
    /// RTAS and has no `start-cpu` to take. A fresh machine's secondaries do; a restored
    /// machine's vCPUs do as they were saved.
    pub fn starts_parked(&self, id: u32) -> bool {
        lock(&self.cpus)
            .get(id as usize)
            .is_some_and(|s| s.state != CpuState::Running && s.start.is_none())
    }

    /// Leaves `req` for vCPU `id`'s glue.
    pub fn push_request(&self, id: u32, req: VcpuRequest) {
        if let Some(s) = lock(&self.cpus).get_mut(id as usize) {
            s.request = Some(req);
        }
    }

    /// Takes vCPU `id`'s pending request.
    pub fn take_request(&self, id: u32) -> Option<VcpuRequest> {
        lock(&self.cpus).get_mut(id as usize)?.request.take()
    }
}

/// A [`CpuControl`] for tests: parked flags and a record of wake-ups.
#[cfg(test)]
pub(crate) mod fake {
    use super::CpuControl;
    use std::sync::Mutex;

    /// Fake vCPUs.
    pub struct FakeCpus {
        /// Parked flags, one per vCPU.
        pub parked: Mutex<Vec<bool>>,
        /// Ids woken, in order.
        pub woken: Mutex<Vec<u32>>,
    }

    impl FakeCpus {
        /// `n` vCPUs; all but the first parked.
        pub fn new(n: u32) -> Self {
            FakeCpus {
                parked: Mutex::new((0..n).map(|i| i != 0).collect()),
                woken: Mutex::new(Vec::new()),
            }
        }
    }

    impl CpuControl for FakeCpus {
        fn wake(&self, id: u32) -> bool {
            if id >= self.count() {
                return false;
            }
            self.woken.lock().unwrap().push(id);
            true
        }
        fn is_parked(&self, id: u32) -> Option<bool> {
            self.parked.lock().unwrap().get(id as usize).copied()
        }
        fn count(&self) -> u32 {
            self.parked.lock().unwrap().len() as u32
        }
    }
}

/// A machine for tests: `cpus` vCPUs, 64 MiB, its console writing to `sink`.
#[cfg(test)]
pub(crate) fn test_machine(cpus: u32, sink: vmm_core::console::ConsoleSink) -> Machine {
    use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};
    let vty = Vty::new(sink.writer(), Arc::new(EventFd::new(EFD_NONBLOCK).unwrap()));
    Machine::new(Arc::new(Mutex::new(vty)), cpus, 64 << 20)
}

#[cfg(test)]
mod tests {
    use super::fake::FakeCpus;
    use super::*;
    use vmm_core::console::ConsoleSink;

    fn machine(cpus: u32) -> Machine {
        test_machine(cpus, ConsoleSink::Null)
    }

    #[test]
    fn start_stop_states() {
        let m = machine(2);
        let cpus = FakeCpus::new(2);
        assert_eq!(m.cpu_state(0, &cpus), Some(CpuState::Running));
        assert_eq!(m.cpu_state(1, &cpus), Some(CpuState::Stopped));
        // A secondary whose thread has not parked yet is stopped all the same.
        cpus.parked.lock().unwrap()[1] = false;
        assert_eq!(m.cpu_state(1, &cpus), Some(CpuState::Stopped));
        assert_eq!(m.cpu_state(2, &cpus), None);
        let req = StartRequest { nip: 0x100, r3: 7 };
        m.request_start(1, req).unwrap();
        // Woken but not yet running its own thread: already "not stopped".
        assert_eq!(m.cpu_state(1, &cpus), Some(CpuState::Running));
        assert_eq!(m.request_start(1, req), Err(AlreadyStarting(1)));
        assert_eq!(m.take_start(1), Some(req));
        assert_eq!(m.take_start(1), None);
        cpus.parked.lock().unwrap()[1] = false;
        m.set_stopping(1);
        assert_eq!(m.cpu_state(1, &cpus), Some(CpuState::Stopping));
        cpus.parked.lock().unwrap()[1] = true;
        assert_eq!(m.cpu_state(1, &cpus), Some(CpuState::Stopped));
        assert_eq!(m.request_start(5, req), Err(AlreadyStarting(5)));
    }

    #[test]
    fn snapshot_and_restore() {
        let m = machine(3);
        let req = StartRequest { nip: 0x100, r3: 7 };
        m.request_start(1, req).unwrap();
        m.set_stopping(2);
        m.set_shared_lpcr(1 << 25, 1 << 25);
        let saved = m.cpu_snapshots();
        assert_eq!(saved[0].state, CpuState::Running);
        assert_eq!(
            (saved[1].state, saved[1].start),
            (CpuState::Stopped, Some(req))
        );
        assert_eq!(saved[2].state, CpuState::Stopping);
        assert!(!m.starts_parked(0) && !m.starts_parked(1) && m.starts_parked(2));

        let r = machine(3);
        assert!(
            r.starts_parked(1) && r.starts_parked(2),
            "fresh secondaries park"
        );
        r.restore(&saved, m.shared_lpcr());
        assert!(!r.starts_parked(0) && !r.starts_parked(1) && r.starts_parked(2));
        assert_eq!(r.take_start(1), Some(req));
        assert_eq!(r.shared_lpcr(), (1 << 25, 1 << 25));
        let cpus = FakeCpus::new(3);
        assert_eq!(r.cpu_state(2, &cpus), Some(CpuState::Stopped));
        assert!(!r.starts_parked(9));
    }

    #[test]
    fn lpcr_and_requests() {
        let m = machine(1);
        m.set_shared_lpcr(1 << 25, 1 << 25);
        m.set_shared_lpcr(3 << 23, 3 << 23);
        m.set_shared_lpcr(1 << 25, 0);
        assert_eq!(m.shared_lpcr(), ((1 << 25) | (3 << 23), 3 << 23));
        m.push_request(0, VcpuRequest::Lpcr { mask: 1, value: 1 });
        assert_eq!(
            m.take_request(0),
            Some(VcpuRequest::Lpcr { mask: 1, value: 1 })
        );
        assert_eq!(m.take_request(0), None);
        assert_eq!(m.take_request(9), None);
    }
}
