//! PSCI (Arm's Power State Coordination Interface, DEN0022), as tetra's arm64 guests use it.
//!
//! KVM implements PSCI in the kernel once a vCPU is initialised with `KVM_ARM_VCPU_PSCI_0_2`:
//! a guest's `HVC #0` with a PSCI function id is answered without an exit. `CPU_ON` powers on a
//! secondary vCPU (created with `KVM_ARM_VCPU_POWER_OFF`, waiting inside `KVM_RUN`) at the entry
//! point and context id the guest passes; `CPU_OFF` powers the caller off again. Only the
//! system-wide calls reach tetra, as `KVM_EXIT_SYSTEM_EVENT`: `SYSTEM_OFF` ends the VM as a
//! power-off (status 0), `SYSTEM_RESET` as a reset (status 0; tetra does not reboot).
//!
//! What a Linux guest's `reboot` does: PSCI `SYSTEM_RESET`, so tetra exits 0 as for a power-off,
//! as x86 does for its resets (there is no reboot in place on any arch).
//!
//! A guest that ends *with a status* writes it to the debug-exit device
//! ([`DEBUG_EXIT_BASE`](crate::layout::DEBUG_EXIT_BASE)) instead.

/// `PSCI_VERSION`.
pub const PSCI_VERSION: u32 = 0x8400_0000;
/// `CPU_OFF`.
pub const CPU_OFF: u32 = 0x8400_0002;
/// `CPU_ON`, SMC64 calling convention.
pub const CPU_ON_64: u32 = 0xc400_0003;
/// `AFFINITY_INFO`, SMC64.
pub const AFFINITY_INFO_64: u32 = 0xc400_0004;
/// `SYSTEM_OFF`.
pub const SYSTEM_OFF: u32 = 0x8400_0008;
/// `SYSTEM_RESET`.
pub const SYSTEM_RESET: u32 = 0x8400_0009;

/// PSCI return code: success.
pub const RET_SUCCESS: i32 = 0;
/// PSCI return code: the call is not supported.
pub const RET_NOT_SUPPORTED: i32 = -1;
/// PSCI return code: an argument is invalid (e.g. `CPU_ON` for an MPIDR no vCPU has).
pub const RET_INVALID_PARAMS: i32 = -2;
/// PSCI return code: `CPU_ON` for a vCPU that is already on.
pub const RET_ALREADY_ON: i32 = -4;

/// The device-tree `compatible` of the `/psci` node, most specific first: KVM implements PSCI 1.x
/// (1.0 on 5.x kernels, 1.1 from 5.17; the guest asks `PSCI_VERSION`) for a vCPU initialised with
/// `KVM_ARM_VCPU_PSCI_0_2`, and 0.2's calls are part of it.
pub const DT_COMPATIBLE: [&str; 2] = ["arm,psci-1.0", "arm,psci-0.2"];
/// The device-tree `method`: calls are `HVC`s.
pub const DT_METHOD: &str = "hvc";

/// A `KVM_EXIT_SYSTEM_EVENT` type (`KVM_SYSTEM_EVENT_*`), as tetra understands it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemEvent {
    /// `SHUTDOWN`: PSCI `SYSTEM_OFF`.
    Shutdown,
    /// `RESET`: PSCI `SYSTEM_RESET`.
    Reset,
    /// `CRASH`: the guest reported a crash.
    Crash,
    /// Another type (`WAKEUP`, `SUSPEND`, ...: tetra enables none of them).
    Other(u32),
}

impl SystemEvent {
    /// The event for a `KVM_SYSTEM_EVENT_*` type, given the kernel's values of `SHUTDOWN`, `RESET`
    /// and `CRASH` (the ioctl glue passes kvm-bindings' constants).
    pub fn from_kind(kind: u32, shutdown: u32, reset: u32, crash: u32) -> Self {
        match kind {
            k if k == shutdown => SystemEvent::Shutdown,
            k if k == reset => SystemEvent::Reset,
            k if k == crash => SystemEvent::Crash,
            k => SystemEvent::Other(k),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_ids_follow_the_smccc_encoding() {
        // Fast call (bit 31), standard secure service owner (4) in bits 29:24; SMC64 sets bit 30.
        for id in [PSCI_VERSION, CPU_OFF, SYSTEM_OFF, SYSTEM_RESET] {
            assert_eq!(id >> 24, 0x84, "{id:#x}");
        }
        for id in [CPU_ON_64, AFFINITY_INFO_64] {
            assert_eq!(id >> 24, 0xc4, "{id:#x}");
        }
        assert_eq!(CPU_ON_64 & 0xffff, 3);
        assert_eq!(SYSTEM_OFF & 0xffff, 8);
        assert_eq!(SYSTEM_RESET & 0xffff, 9);
    }

    #[test]
    fn system_events() {
        let e = |k| SystemEvent::from_kind(k, 1, 2, 3);
        assert_eq!(e(1), SystemEvent::Shutdown);
        assert_eq!(e(2), SystemEvent::Reset);
        assert_eq!(e(3), SystemEvent::Crash);
        assert_eq!(e(4), SystemEvent::Other(4));
    }
}
