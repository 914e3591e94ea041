//! The VM's run state and its migration's progress as the control sockets report them: one model,
//! written by the VMM's thread (and a migration's destination before its VM exists), read by the
//! QMP thread at any time, even while a migration runs on the VMM's thread.
//!
//! The run states are QEMU's `RunState` names, so that QMP's `query-status` is a plain read:
//!
//! ```text
//! inmigrate --(the stream arrived, the VM starts)--> running <--(pause/resume)--> paused
//! running --(a migration's stop-and-copy)--> paused --(the destination has it)--> postmigrate
//! running --(the guest suspends to RAM)--> suspended --(its wake)--> running
//! running --(the guest powers off, quit)--> shutdown
//! ```
//!
//! Every change that QMP announces ([`Event`]: STOP, RESUME, SHUTDOWN, MIGRATION) is queued for
//! the QMP server and its bell rung; a VM without a QMP socket has a model all the same, with no
//! one listening (its events are dropped).

use crate::migration::{MigrationStats, Progress};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use vmm_sys_util::eventfd::EventFd;

/// The most events kept for a QMP server that has not taken them yet (it takes them at once; a
/// stuck one loses the oldest).
const MAX_EVENTS: usize = 256;

/// A VM's run state, by QEMU's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    /// Built, vCPUs not started yet (QEMU's `prelaunch`).
    Prelaunch,
    /// Waiting for an incoming migration.
    InMigrate,
    /// vCPUs running.
    Running,
    /// vCPUs paused.
    Paused,
    /// The guest suspended itself to RAM (ACPI S3); its wake runs it again.
    Suspended,
    /// The guest went to a destination: this VM never runs again.
    PostMigrate,
    /// The guest or the host ended the VM.
    Shutdown,
}

impl RunState {
    /// QEMU's name (`query-status`'s `status`).
    pub fn name(self) -> &'static str {
        match self {
            RunState::Prelaunch => "prelaunch",
            RunState::InMigrate => "inmigrate",
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::Suspended => "suspended",
            RunState::PostMigrate => "postmigrate",
            RunState::Shutdown => "shutdown",
        }
    }
}

/// Where the last outgoing migration is.
#[derive(Clone, Debug, Default)]
pub enum MigrationStatus {
    /// None was started.
    #[default]
    None,
    /// Asked for; not connected yet.
    Setup {
        /// When it was asked for.
        since: std::time::Instant,
    },
    /// Copying; the last round's figures, if a round ended yet.
    Active {
        /// When it started.
        since: std::time::Instant,
        /// The last progress report.
        progress: Option<Progress>,
    },
    /// The destination has the guest.
    Completed(MigrationStats),
    /// It failed: why (the VM runs on here).
    Failed(String),
}

impl MigrationStatus {
    /// QEMU's name (`query-migrate`'s `status`, the MIGRATION event's).
    pub fn name(&self) -> &'static str {
        match self {
            MigrationStatus::None => "none",
            MigrationStatus::Setup { .. } => "setup",
            MigrationStatus::Active { .. } => "active",
            MigrationStatus::Completed(_) => "completed",
            MigrationStatus::Failed(_) => "failed",
        }
    }

    /// Whether one is under way.
    pub fn in_progress(&self) -> bool {
        matches!(
            self,
            MigrationStatus::Setup { .. } | MigrationStatus::Active { .. }
        )
    }
}

/// What the control sockets tell of the machine.
#[derive(Clone, Debug)]
pub struct Machine {
    /// The arch's name ([`crate::arch::Arch::NAME`]).
    pub arch: &'static str,
    /// vCPUs.
    pub cpus: u32,
    /// Guest RAM in bytes.
    pub ram_bytes: u64,
}

impl Default for Machine {
    fn default() -> Self {
        Machine {
            arch: "the VM",
            cpus: 0,
            ram_bytes: 0,
        }
    }
}

/// What happened, for QMP's events.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The vCPUs stopped.
    Stop,
    /// The vCPUs run (again).
    Resume,
    /// The VM ended: whether the guest asked, and QEMU's reason name.
    Shutdown {
        /// The guest ended itself (false: the host did).
        guest: bool,
        /// `guest-shutdown`, `host-qmp-quit`, ...
        reason: &'static str,
    },
    /// A migration changed status (its [`MigrationStatus::name`]).
    Migration(&'static str),
}

/// An event and when it happened.
#[derive(Clone, Debug)]
pub struct Stamped {
    /// The event.
    pub event: Event,
    /// When.
    pub at: Duration,
}

struct Model {
    run: RunState,
    migration: MigrationStatus,
    /// The arch's name, the vCPUs' count and guest RAM's size, once the VM exists.
    machine: Machine,
    events: std::collections::VecDeque<Stamped>,
    /// Whether a QMP server takes the events.
    listened: bool,
}

/// The shared model; cloning it shares it.
#[derive(Clone)]
pub struct Status {
    model: Arc<Mutex<Model>>,
    bell: Arc<EventFd>,
}

impl Default for Status {
    fn default() -> Self {
        Self::new(RunState::Prelaunch)
    }
}

impl Status {
    /// A model starting in `run`.
    pub fn new(run: RunState) -> Self {
        Status {
            model: Arc::new(Mutex::new(Model {
                run,
                migration: MigrationStatus::None,
                machine: Machine::default(),
                events: Default::default(),
                listened: false,
            })),
            // EventFd::new fails only when the process is out of file descriptors, at its start.
            bell: Arc::new(
                EventFd::new(libc::EFD_NONBLOCK)
                    .expect("an eventfd for the control status (out of file descriptors?)"),
            ),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Model> {
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn emit(&self, m: &mut Model, event: Event) {
        if !m.listened {
            return;
        }
        if m.events.len() >= MAX_EVENTS {
            m.events.pop_front();
        }
        let at = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        m.events.push_back(Stamped { event, at });
        let _ = self.bell.write(1);
    }

    /// The eventfd that is rung when an event is queued (the QMP server polls it).
    pub fn bell(&self) -> &EventFd {
        &self.bell
    }

    /// Says that a QMP server takes the events from now on.
    pub fn listen(&self) {
        self.lock().listened = true;
    }

    /// The events queued since the last call.
    pub fn take_events(&self) -> Vec<Stamped> {
        self.lock().events.drain(..).collect()
    }

    /// The run state.
    pub fn run(&self) -> RunState {
        self.lock().run
    }

    /// Sets the run state, announcing STOP or RESUME when the vCPUs stop or start running.
    pub fn set_run(&self, run: RunState) {
        let mut m = self.lock();
        let was = m.run;
        m.run = run;
        if was == RunState::Running && run != RunState::Running {
            self.emit(&mut m, Event::Stop);
        } else if was != RunState::Running && run == RunState::Running {
            self.emit(&mut m, Event::Resume);
        }
    }

    /// The VM ended: the run state is `shutdown` (unless its guest went to a destination) and
    /// SHUTDOWN is announced.
    pub fn shut_down(&self, guest: bool, reason: &'static str) {
        let mut m = self.lock();
        if m.run == RunState::Shutdown {
            return;
        }
        if m.run == RunState::Running {
            self.emit(&mut m, Event::Stop);
        }
        if m.run != RunState::PostMigrate {
            m.run = RunState::Shutdown;
        }
        self.emit(&mut m, Event::Shutdown { guest, reason });
    }

    /// Describes the machine (once the VM exists).
    pub fn set_machine(&self, machine: Machine) {
        self.lock().machine = machine;
    }

    /// The machine (its default before the VM exists: no vCPUs, no RAM).
    pub fn machine(&self) -> Machine {
        self.lock().machine.clone()
    }

    /// The arch's name, or `the VM` before the VM exists.
    pub fn arch(&self) -> &'static str {
        self.lock().machine.arch
    }

    /// The migration's status.
    pub fn migration(&self) -> MigrationStatus {
        self.lock().migration.clone()
    }

    /// Starts a migration's record (`setup`), unless one is under way (false then).
    pub fn begin_migration(&self) -> bool {
        let mut m = self.lock();
        if m.migration.in_progress() {
            return false;
        }
        m.migration = MigrationStatus::Setup {
            since: std::time::Instant::now(),
        };
        self.emit(&mut m, Event::Migration("setup"));
        true
    }

    /// The migration copies now, or reported a round.
    pub fn migration_progress(&self, progress: Option<&Progress>) {
        let mut m = self.lock();
        let since = match &m.migration {
            MigrationStatus::Setup { since } | MigrationStatus::Active { since, .. } => *since,
            _ => std::time::Instant::now(),
        };
        let announce = !matches!(m.migration, MigrationStatus::Active { .. });
        m.migration = MigrationStatus::Active {
            since,
            progress: progress.cloned(),
        };
        if announce {
            self.emit(&mut m, Event::Migration("active"));
        }
    }

    /// The migration ended: completed (the run state becomes `postmigrate`) or failed.
    pub fn end_migration(&self, outcome: Result<MigrationStats, String>) {
        let mut m = self.lock();
        m.migration = match outcome {
            Ok(s) => {
                if m.run == RunState::Running {
                    self.emit(&mut m, Event::Stop);
                }
                m.run = RunState::PostMigrate;
                MigrationStatus::Completed(s)
            }
            Err(e) => MigrationStatus::Failed(e),
        };
        let name = m.migration.name();
        self.emit(&mut m, Event::Migration(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_announce_what_qmp_reports() {
        let s = Status::new(RunState::InMigrate);
        s.set_run(RunState::Running);
        assert!(
            s.take_events().is_empty(),
            "nobody listens yet: nothing kept"
        );
        s.listen();
        s.set_run(RunState::Running);
        s.set_run(RunState::Paused);
        s.set_run(RunState::Paused);
        s.set_run(RunState::Running);
        assert!(s.begin_migration());
        assert!(!s.begin_migration(), "one at a time");
        s.migration_progress(None);
        s.migration_progress(None);
        s.end_migration(Ok(MigrationStats::default()));
        assert_eq!(s.run(), RunState::PostMigrate);
        s.shut_down(false, "host-qmp-quit");
        assert_eq!(s.run(), RunState::PostMigrate, "postmigrate stays");
        let got: Vec<Event> = s.take_events().into_iter().map(|e| e.event).collect();
        assert_eq!(
            got,
            vec![
                Event::Stop,
                Event::Resume,
                Event::Migration("setup"),
                Event::Migration("active"),
                Event::Stop,
                Event::Migration("completed"),
                Event::Shutdown {
                    guest: false,
                    reason: "host-qmp-quit"
                },
            ]
        );
        assert!(s.bell().read().is_ok(), "the bell was rung");
    }

    #[test]
    fn a_failed_migration_lets_another_start() {
        let s = Status::new(RunState::Running);
        assert!(s.begin_migration());
        s.end_migration(Err("no".into()));
        assert_eq!(s.migration().name(), "failed");
        assert_eq!(s.run(), RunState::Running);
        assert!(s.begin_migration());
    }
}
