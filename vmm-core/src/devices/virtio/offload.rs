//! Devices whose data path runs in the host kernel (vhost), and when they may run.
//!
//! A vhost worker reads and writes guest RAM by itself: the device worker's pause does not stop
//! it, and its writes reach neither KVM's dirty log nor tetra's own (vhost-vsock logs none of its
//! data writes). So such a device is stopped whenever guest RAM or the queues must hold still:
//!
//! - while the VM is paused (a snapshot, a migration's stop-and-copy, a reset, a memory map
//!   change): [`OffloadGate::pause`] and [`OffloadGate::resume`], called with the device
//!   worker's;
//! - for a whole migration, from before its dirty log starts to its end
//!   ([`OffloadGate::hold`]): a page the kernel wrote during pre-copy would otherwise never be
//!   sent again. The guest's packets wait in its rings meanwhile.
//!
//! Stopping one hands its ring positions back to the transport's queues, so a snapshot saves
//! them as it does any device's; starting it again re-sends the memory table (the map may have
//! changed) and kicks its queues (a notification while it was stopped found nobody).

use std::sync::{Arc, Mutex, Weak};

/// A device whose kernel side can be stopped and started.
pub trait Offloaded: Send + Sync {
    /// Stops (`false`) or starts (`true`) the kernel's side; a failure marks the device as
    /// needing a reset (it has no caller to return an error to).
    fn set_running(&self, running: bool);
}

#[derive(Default)]
struct GateState {
    paused: bool,
    holds: u32,
    members: Vec<Weak<dyn Offloaded>>,
}

impl GateState {
    fn running(&self) -> bool {
        !self.paused && self.holds == 0
    }
}

/// Whether a VM's kernel-side devices may run now, and which there are.
#[derive(Default)]
pub struct OffloadGate {
    state: Mutex<GateState>,
}

/// Holds a VM's kernel-side devices stopped until dropped ([`OffloadGate::hold`]).
pub struct OffloadHold {
    gate: Arc<OffloadGate>,
}

impl Drop for OffloadHold {
    fn drop(&mut self) {
        self.gate.change(|s| s.holds = s.holds.saturating_sub(1));
    }
}

impl OffloadGate {
    /// A gate with nothing behind it, open.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Adds `member` (a device just started by its driver); returns whether it may run now.
    pub fn join(&self, member: &Arc<dyn Offloaded>) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.members.retain(|m| m.strong_count() > 0);
        s.members.push(Arc::downgrade(member));
        s.running()
    }

    /// Whether the kernel-side devices may run now.
    pub fn is_open(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .running()
    }

    /// Applies `f` and stops or starts every member if that changed whether they may run.
    fn change(&self, f: impl FnOnce(&mut GateState)) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let before = s.running();
        f(&mut s);
        let after = s.running();
        if before != after {
            s.members.retain(|m| m.strong_count() > 0);
            for m in s.members.iter().filter_map(Weak::upgrade) {
                m.set_running(after);
            }
        }
    }

    /// The VM is pausing: every member stops.
    pub fn pause(&self) {
        self.change(|s| s.paused = true);
    }

    /// The VM runs again: the members start (unless a hold keeps them stopped).
    pub fn resume(&self) {
        self.change(|s| s.paused = false);
    }

    /// Keeps every member stopped until the returned hold is dropped (a migration).
    pub fn hold(self: &Arc<Self>) -> OffloadHold {
        self.change(|s| s.holds += 1);
        OffloadHold { gate: self.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI32, Ordering};

    /// Counts starts (+1) and stops (-1).
    #[derive(Default)]
    struct Probe(AtomicI32, AtomicI32);

    impl Offloaded for Probe {
        fn set_running(&self, running: bool) {
            if running {
                self.0.fetch_add(1, Ordering::SeqCst);
            } else {
                self.1.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    #[test]
    fn pauses_and_holds_stop_members_once_and_start_them_when_both_end() {
        let gate = OffloadGate::new();
        let p = Arc::new(Probe::default());
        let m: Arc<dyn Offloaded> = p.clone();
        assert!(gate.join(&m));
        let counts = || (p.0.load(Ordering::SeqCst), p.1.load(Ordering::SeqCst));
        gate.pause();
        gate.pause();
        assert_eq!(counts(), (0, 1));
        let hold = gate.hold();
        gate.resume();
        assert_eq!(counts(), (0, 1), "started under a hold");
        assert!(!gate.is_open());
        drop(hold);
        assert_eq!(counts(), (1, 1));
        // A member that joins while the gate is shut is told not to run.
        let hold = gate.hold();
        let q: Arc<dyn Offloaded> = Arc::new(Probe::default());
        assert!(!gate.join(&q));
        drop(hold);
        // A dropped member is forgotten.
        drop(m);
        drop(p);
        gate.pause();
        assert_eq!(gate.state.lock().unwrap().members.len(), 1);
    }
}
