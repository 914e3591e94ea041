//! Suspend to RAM (ACPI S3 on x86) and the wake from it.
//!
//! A device asks for the suspend ([`crate::ExitNotifier::request_sleep`]: the x86 PM1a control
//! register took SLP_TYP=S3 with SLP_EN). The VMM's thread then pauses every vCPU (parked outside
//! `KVM_RUN`: nothing spins) and the device worker; RAM and the devices keep their state. While
//! asleep its event loop waits for the armed wake source ([`Arch::wake_time`]: the RTC alarm on
//! x86), by wall-clock time, and control requests are still served (`status` says `suspended`;
//! `resume`, snapshots and migrations are refused: the guest is not paused but asleep, and a
//! suspended VM's state is not a running one's).
//!
//! The wake is a reset of the processors and devices, as firmware resumes a PC from S3, made by
//! the [machine reset](super::reset)'s boot state: every vCPU's registers as built (the
//! application processors waiting for their SIPI again), every device's state (the battery-backed
//! CMOS survives), and then the arch marks the wake in its devices ([`Arch::woken`]) and starts
//! the boot vCPU where the guest asked to resume ([`Arch::wake_vcpu`]: the FACS waking vector).
//! Not reset: guest RAM (the payload is not written again), the interrupt controllers, timers and
//! the guest's clock (the OS reprograms the first two; the clock runs on through the sleep). A
//! wake is not a reset: it does not count towards [`Vmm::resets`] or a reset storm. The host can
//! wake the VM without its wake source too ([`Vmm::wake_up`], for a future `system_wakeup`), and
//! a press of the guest's power button wakes it ([`WakeReason::PowerButton`]: x86 PM1 WAK_STS and
//! PWRBTN_STS).
//!
//! A zero waking vector (the guest left no place to resume at) makes the wake a reset, as a
//! guest's reset request: with `--on-triple-fault reset` the machine resets (and that counts as
//! one), otherwise the VM ends as [`GuestExit::Reset`] (status 0).
//!
//! A VM restored from a snapshot or migrated in has no boot state: its vCPUs go on after the
//! SLP_EN write, the wake marked in the devices (as after a sleep that did not take; an OS sees
//! its wake status and resumes).

use super::{VmState, Vmm, VmmError, PAUSE_LIMIT};
use crate::arch::Arch;
use crate::exit::{GuestExit, WakeReason};
use std::time::{Instant, SystemTime};

/// A suspend to RAM in progress.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asleep {
    /// When the guest went to sleep.
    since: Instant,
    /// When the wake source armed at the suspend fires, fixed then: the vCPUs are parked, so
    /// nothing can re-arm it, and an alarm matched on whole RTC seconds, looked up again once its
    /// second has begun, would find only the next minute's (or none).
    wake_at: Option<SystemTime>,
}

/// Errors waking a VM (each ends it as crashed).
#[derive(Debug, thiserror::Error)]
pub enum SleepError {
    /// Pausing the vCPUs for the suspend failed.
    #[error("suspending the VM to RAM")]
    Suspend(#[source] VmmError),
    /// A step of the wake failed.
    #[error("waking the VM: {step}")]
    Wake {
        /// What was being reset.
        step: &'static str,
        /// Why it failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn step<E: std::error::Error + Send + Sync + 'static>(
    step: &'static str,
) -> impl FnOnce(E) -> SleepError {
    move |e| SleepError::Wake {
        step,
        source: Box::new(e),
    }
}

impl<A: Arch> Vmm<A> {
    /// Whether the guest is suspended to RAM.
    pub fn is_asleep(&self) -> bool {
        self.asleep.is_some()
    }

    /// How many times the guest woke from a suspend to RAM.
    pub fn wakes(&self) -> u64 {
        self.wakes
    }

    /// Refuses what a suspended VM cannot do (`what`: a snapshot, a migration, a resume).
    pub(crate) fn refuse_if_asleep(&self, what: &'static str) -> Result<(), VmmError> {
        match self.asleep {
            Some(_) => Err(VmmError::State(what)),
            None => Ok(()),
        }
    }

    /// Serves a suspend a device asked for: pauses the VM and marks it asleep.
    pub(super) fn serve_sleep(&mut self) {
        if !self.shared.exit.take_sleep() || self.asleep.is_some() {
            return;
        }
        // Paused already (a pause served between the guest's write and this): asleep as it is.
        let paused = match self.state {
            VmState::Running => self.pause_within(Some(PAUSE_LIMIT)),
            VmState::Paused => Ok(()),
            state => {
                tracing::warn!(
                    ?state,
                    "a suspend to RAM asked for while not running: ignored"
                );
                return;
            }
        };
        match paused {
            Ok(()) => {
                let armed = A::wake_time(&self.shared.platform);
                self.asleep = Some(Asleep {
                    since: Instant::now(),
                    wake_at: armed,
                });
                self.link
                    .status
                    .set_run(crate::control::status::RunState::Suspended);
                tracing::info!(?armed, "the guest suspended to RAM (S3)");
            }
            Err(e) => {
                let e = SleepError::Suspend(e);
                let msg = crate::error_chain::chain(&e);
                tracing::warn!(msg, "the VM could not suspend");
                self.shared.exit.end(GuestExit::Crash(msg));
            }
        }
    }

    /// While asleep: when the armed wake source fires, on the monotonic clock.
    pub(super) fn wake_deadline(&self) -> Option<Instant> {
        let at = self.asleep?.wake_at?;
        let now = Instant::now();
        Some(match at.duration_since(SystemTime::now()) {
            Ok(d) => now + d,
            Err(_) => now,
        })
    }

    /// Wakes a VM suspended to RAM now, without its wake source (the guest sees WAK_STS alone;
    /// the power button's wake is `serve_wake(WakeReason::PowerButton)`). Refused when it is not asleep. A wake that fails ends the
    /// VM as crashed (the error is its ending).
    pub fn wake_up(&mut self) -> Result<(), VmmError> {
        if self.asleep.is_none() {
            return Err(VmmError::State("only a VM suspended to RAM can be woken"));
        }
        self.serve_wake(WakeReason::Request);
        Ok(())
    }

    /// Wakes the VM for `reason`; a wake that fails ends the VM as crashed.
    pub(super) fn serve_wake(&mut self, reason: WakeReason) {
        let Some(Asleep { since, .. }) = self.asleep else {
            return;
        };
        match self.wake(reason) {
            Ok(true) => {
                self.wakes += 1;
                tracing::info!(
                    slept_ms = since.elapsed().as_millis() as u64,
                    wakes = self.wakes,
                    ?reason,
                    "the guest woke from S3"
                );
            }
            Ok(false) => {
                let why = "a wake from S3 with no waking vector";
                tracing::info!(why, "the wake is a reset");
                if self.shared.config.on_triple_fault == crate::config::OnTripleFault::Reset {
                    if let Err(e) = self.reset(why, true) {
                        let msg = format!("{why}; {}", crate::error_chain::chain(&e));
                        self.shared.exit.end(GuestExit::Crash(msg));
                    }
                } else {
                    self.shared.exit.end(GuestExit::Reset);
                }
            }
            Err(e) => {
                let msg = crate::error_chain::chain(&e);
                tracing::warn!(msg, "the VM could not wake");
                self.shared.exit.end(GuestExit::Crash(msg));
            }
        }
    }

    /// Resets the vCPUs and devices to their boot state, marks the wake and starts the boot vCPU
    /// at the guest's waking vector; false (the VM left paused) when there is none.
    fn wake(&mut self, reason: WakeReason) -> Result<bool, SleepError> {
        self.asleep = None;
        // A virtio device's reset takes its queues off the device worker, which must run for
        // that; the vCPUs are still parked.
        self.shared.devices.resume();
        if let Some(boot) = self.boot.as_ref() {
            let (table, vcpus) = (boot.table.clone(), boot.vcpus.clone());
            self.shared
                .devices
                .state()
                .reset_to(&boot.devices)
                .map_err(step("the devices"))?;
            A::woken(&self.shared.platform, reason);
            self.restore_vcpus(&table, vcpus)
                .map_err(step("the vCPUs' registers"))?;
            let sh = self.shared.clone();
            let at_vector = self
                .on_vcpus(move |id, v| match id {
                    0 => A::wake_vcpu(&sh.memory, v).map_err(|e| e.to_string()),
                    _ => Ok(true),
                })
                .map_err(step("the boot vCPU"))?
                .into_iter()
                .next()
                .unwrap_or(Ok(false))
                .map_err(|e| step("the boot vCPU's waking vector")(WakeVcpuError(e)))?;
            if !at_vector {
                return Ok(false);
            }
        } else {
            A::woken(&self.shared.platform, reason);
        }
        self.shared.control.request_run();
        self.state = VmState::Running;
        self.link
            .status
            .set_run(crate::control::status::RunState::Running);
        Ok(true)
    }
}

/// An arch's failure to start the boot vCPU at its waking vector, as text (it crossed threads).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct WakeVcpuError(String);
