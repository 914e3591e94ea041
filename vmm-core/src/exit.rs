//! How a guest ended, and the one-shot notifier devices and vCPUs use to end it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// How the guest ended. The binary turns this into the process exit status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuestExit {
    /// The guest powered itself off (ACPI S5, PSCI SYSTEM_OFF, RTAS power-off): status 0.
    PowerOff,
    /// The guest asked for a reset (i8042, PSCI SYSTEM_RESET); tetra does not reboot: status 0.
    Reset,
    /// The guest wrote `value` to the debug-exit device: status `(value << 1) | 1`, as QEMU's
    /// isa-debug-exit.
    DebugExit(u32),
    /// The guest or its vCPU died (triple fault, KVM internal error): status 6.
    Crash(String),
    /// The guest moved to another tetra by live migration: status 0.
    Migrated,
    /// The host ended the VM (QMP `quit`): status 0.
    Quit,
    /// The memory file the VM was restored from failed its check while the guest ran (lazy
    /// verification, [`Verify`](crate::snapshot::verify::Verify)): bad input, status 2. The
    /// message names the file and the chunk.
    CorruptMemory(String),
}

impl GuestExit {
    /// The process exit status for this ending.
    pub fn exit_code(&self) -> i32 {
        match self {
            GuestExit::PowerOff | GuestExit::Reset | GuestExit::Migrated | GuestExit::Quit => 0,
            GuestExit::DebugExit(v) => ((v << 1) | 1) as i32 & 0xff,
            GuestExit::Crash(_) => 6,
            GuestExit::CorruptMemory(_) => 2,
        }
    }
}

/// What woke a VM from a suspend to RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeReason {
    /// Its armed wake source fired ([`crate::Arch::wake_time`]: the x86 RTC alarm).
    Alarm,
    /// The host asked for it ([`crate::Vmm::wake_up`]).
    Request,
    /// The host pressed the guest's power button ([`crate::Arch::POWER_BUTTON`]).
    PowerButton,
}

struct ExitState {
    reason: Mutex<Option<GuestExit>>,
    /// A machine reset a vCPU asked for and the VMM's thread has not taken yet: why.
    reset: Mutex<Option<String>>,
    /// A suspend to RAM (ACPI S3) a device asked for and the VMM's thread has not taken yet.
    sleep: AtomicBool,
    ending: AtomicBool,
    event: EventFd,
}

/// Ends the VM: the first reason wins, the event loop wakes, every vCPU stops at its next exit.
#[derive(Clone)]
pub struct ExitNotifier {
    state: Arc<ExitState>,
}

impl ExitNotifier {
    /// A notifier with its own wake-up eventfd.
    pub fn new() -> std::io::Result<Self> {
        Ok(ExitNotifier {
            state: Arc::new(ExitState {
                reason: Mutex::new(None),
                reset: Mutex::new(None),
                sleep: AtomicBool::new(false),
                ending: AtomicBool::new(false),
                event: EventFd::new(EFD_NONBLOCK)?,
            }),
        })
    }

    /// Records `reason` unless another came first, and wakes the event loop.
    pub fn end(&self, reason: GuestExit) {
        let mut slot = self.state.reason.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(reason);
        }
        self.state.ending.store(true, Ordering::SeqCst);
        // A failed write can only mean the counter is saturated: already signalled.
        let _ = self.state.event.write(1);
    }

    /// Asks the VMM's thread for a machine reset (the first reason wins until it is taken), and
    /// wakes its event loop.
    pub fn request_reset(&self, why: String) {
        let mut slot = self.state.reset.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(why);
        }
        // As in `end`: a failed write means the counter is already signalled.
        let _ = self.state.event.write(1);
    }

    /// Whether a reset was asked for and not taken yet.
    pub fn reset_requested(&self) -> bool {
        self.state
            .reset
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Takes the pending reset request's reason, if any.
    pub fn take_reset(&self) -> Option<String> {
        self.state
            .reset
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Asks the VMM's thread to suspend the VM to RAM (ACPI S3: the guest wrote SLP_TYP=S3 with
    /// SLP_EN), and wakes its event loop. The vCPUs stop there until a wake source fires
    /// ([`crate::Arch::wake_time`]).
    pub fn request_sleep(&self) {
        self.state.sleep.store(true, Ordering::SeqCst);
        // As in `end`: a failed write means the counter is already signalled.
        let _ = self.state.event.write(1);
    }

    /// Whether a suspend was asked for and not taken yet.
    pub fn sleep_requested(&self) -> bool {
        self.state.sleep.load(Ordering::SeqCst)
    }

    /// Takes the pending suspend request: true if there was one.
    pub fn take_sleep(&self) -> bool {
        self.state.sleep.swap(false, Ordering::SeqCst)
    }

    /// True once any ending was recorded: vCPUs check this after every exit.
    pub fn is_ending(&self) -> bool {
        self.state.ending.load(Ordering::Relaxed)
    }

    /// The recorded ending, if any.
    pub fn reason(&self) -> Option<GuestExit> {
        self.state
            .reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The eventfd signalled by [`ExitNotifier::end`].
    pub fn event(&self) -> &EventFd {
        &self.state.event
    }
}
