//! Which machines get the in-kernel PIT (the i8254 timer), decided from `--pit` and the payload.
//!
//! A PIT costs every VM about 14 ms at exit: KVM's teardown (`kvm_free_pit` ->
//! `kvm_pit_set_reinject(false)`) unregisters its IRQ mask notifier and waits an SRCU grace period
//! for it. Turning reinjection off earlier (`KVM_REINJECT_CONTROL`) only moves the same wait to
//! start-up. So with `--pit auto` (the default) a machine has a PIT only where its guest may need
//! one:
//!
//! - **no PIT** for a PVH kernel: Linux's PVH entry with KVM guest support reads the TSC frequency
//!   from kvmclock, skips the IO-APIC timer check (`no_timer_check`, set for KVM guests) and, with
//!   the TSC-deadline or a TSC-calibrated LAPIC timer, never starts the PIT (`use_pit()`: KVM's
//!   supported CPUID, which tetra passes on, has TSC-deadline and ARAT on 6.x hosts); and
//!   for the embedded default guest, which never touches the PIT;
//! - **a PIT** for a bzImage, a plain 64-bit ELF, a multiboot kernel or a raw image: any kernel,
//!   including Linux built without KVM guest support, which calibrates against the PIT and checks
//!   that its interrupt arrives (and panics when it does not).
//!
//! `--pit on` and `--pit off` override the choice. A snapshot records the choice by its `PIT2`
//! section: a VM restored from one has a PIT exactly when the snapshotted VM had one.

use crate::boot::Format;
use vmm_core::config::Pit;

/// The payload, as far as the PIT choice is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// The embedded default guest.
    DefaultGuest,
    /// A kernel in a recognised format.
    Kernel(Format),
    /// A raw image (`--raw`).
    Raw,
}

/// Whether a machine booting `payload` with `choice` gets a PIT.
pub fn wanted(choice: Pit, payload: Payload) -> bool {
    match choice {
        Pit::On => true,
        Pit::Off => false,
        Pit::Auto => !matches!(
            payload,
            Payload::DefaultGuest | Payload::Kernel(Format::Pvh)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_leaves_the_pit_out_only_for_pvh_and_the_default_guest() {
        let all = [
            Payload::DefaultGuest,
            Payload::Kernel(Format::Pvh),
            Payload::Kernel(Format::BzImage),
            Payload::Kernel(Format::Elf64),
            Payload::Kernel(Format::Multiboot),
            Payload::Raw,
        ];
        for p in all {
            assert!(wanted(Pit::On, p), "{p:?}");
            assert!(!wanted(Pit::Off, p), "{p:?}");
        }
        let auto: Vec<bool> = all.iter().map(|p| wanted(Pit::Auto, *p)).collect();
        assert_eq!(auto, [false, false, true, true, true, true]);
    }
}
