//! The x86 half of suspend to RAM (vmm-core's `vm/sleep.rs` has the rest): the RTC alarm is the
//! wake source, with RTC_EN set in PM1 enable and AIE in the RTC's register B (both, as on a PC
//! chipset and QEMU); its wake sets PM1 WAK_STS and RTC_STS and the RTC's AF and IRQF (a wake the
//! host asks for, WAK_STS alone; the power button's, WAK_STS and PWRBTN_STS), and starts
//! the boot vCPU at the FACS waking vector ([`crate::acpi::wake`]).

use super::{Platform, X86Vcpu};
use crate::acpi::wake::{waking_entry, FACS_READ_LEN};
use crate::acpi::FACS_ADDR;
use crate::devices::pm::WakeSource;
use crate::error::X86Error;
use kvm_bindings::kvm_regs;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use vm_memory::{Bytes, GuestAddress};
use vmm_core::memory::GuestRam;
use vmm_core::WakeReason;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// When the RTC alarm fires, if it may wake the VM.
pub(super) fn wake_time(p: &Platform) -> Option<SystemTime> {
    if !lock(&p.pm1a).rtc_wake_enabled() {
        return None;
    }
    let at = lock(&p.cmos).next_alarm()?;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(at).ok()?))
}

/// Records the wake in PM1 status; the alarm's also in RTC_STS and register C, the power
/// button's in PWRBTN_STS.
pub(super) fn woken(p: &Platform, reason: WakeReason) {
    let source = match reason {
        WakeReason::Alarm => WakeSource::Rtc,
        WakeReason::Request => WakeSource::Request,
        WakeReason::PowerButton => WakeSource::PowerButton,
    };
    lock(&p.pm1a).woken(source);
    if reason == WakeReason::Alarm {
        lock(&p.cmos).alarm_fired();
    }
}

/// Presses the ACPI fixed-feature power button (PM1 PWRBTN_STS; the SCI if PWRBTN_EN).
pub(super) fn press_power_button(p: &Platform) {
    lock(&p.pm1a).press_power_button();
}

/// Starts the boot vCPU at the FACS waking vector; false when the guest left none.
pub(super) fn wake_vcpu(memory: &GuestRam, vcpu: &X86Vcpu) -> Result<bool, X86Error> {
    let mut facs = [0u8; FACS_READ_LEN];
    if memory
        .memory()
        .read_slice(&mut facs, GuestAddress(FACS_ADDR))
        .is_err()
    {
        return Ok(false);
    }
    let Some(entry) = waking_entry(&facs) else {
        return Ok(false);
    };
    let (sr, rip) = entry.registers();
    let regs = kvm_regs {
        rip,
        rflags: 0x2,
        ..Default::default()
    };
    super::vcpu::set_state(&vcpu.0, &regs, &sr)?;
    Ok(true)
}
