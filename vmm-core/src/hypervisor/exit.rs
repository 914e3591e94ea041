//! The portable form of a `KVM_RUN` exit.

/// A PAPR hypercall as the guest left it in `kvm_run` (`KVM_EXIT_PAPR_HCALL`): `ret` is written back.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PaprHcall {
    /// Hypercall number (r3).
    pub nr: u64,
    /// Return code, written by the VMM (back into r3).
    pub ret: u64,
    /// Arguments r4..r12.
    pub args: [u64; 9],
}

/// A BookE device-control-register access (`KVM_EXIT_DCR`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DcrExit {
    /// DCR number.
    pub dcrn: u32,
    /// Value written, or the value to return on a read.
    pub data: u32,
    /// Non-zero for a write.
    pub is_write: u8,
}

/// Why `KVM_RUN` returned. Borrowed data points into the vCPU's `kvm_run` page, so anything the
/// VMM writes there (an IO-in value, an MMIO read, an hcall return) is seen by the next run.
#[derive(Debug)]
pub enum VcpuExit<'a> {
    /// The guest read an I/O port; fill `data`. A string instruction (`rep ins`) reads
    /// `data.len() / size` elements of `size` bytes.
    IoIn {
        /// Port number.
        port: u16,
        /// Access width in bytes (1, 2 or 4).
        size: usize,
        /// Bytes to return.
        data: &'a mut [u8],
    },
    /// The guest wrote an I/O port (`data.len() / size` elements for `rep outs`).
    IoOut {
        /// Port number.
        port: u16,
        /// Access width in bytes (1, 2 or 4).
        size: usize,
        /// Bytes written.
        data: &'a [u8],
    },
    /// The guest read unbacked guest-physical memory; fill `data`.
    MmioRead {
        /// Guest-physical address.
        addr: u64,
        /// Bytes to return.
        data: &'a mut [u8],
    },
    /// The guest wrote unbacked guest-physical memory.
    MmioWrite {
        /// Guest-physical address.
        addr: u64,
        /// Bytes written.
        data: &'a [u8],
    },
    /// HLT with no in-kernel irqchip to wait on.
    Hlt,
    /// The vCPU shut down (an x86 triple fault).
    Shutdown,
    /// A PSCI-style system event (`KVM_EXIT_SYSTEM_EVENT`): `kind` is `KVM_SYSTEM_EVENT_*`.
    SystemEvent {
        /// `KVM_SYSTEM_EVENT_SHUTDOWN`, `_RESET`, `_CRASH`, ...
        kind: u32,
        /// Event data words (e.g. the PSCI function's arguments).
        data: &'a [u64],
    },
    /// A PAPR hypercall (pseries guests).
    PaprHcall(&'a mut PaprHcall),
    /// The guest acknowledged an external interrupt and wants its vector (`KVM_EXIT_EPR`).
    Epr(&'a mut u32),
    /// A BookE DCR access.
    Dcr(&'a mut DcrExit),
    /// An OSI hypercall (Mac-on-Linux); the 32 GPRs are readable and writable.
    Osi(&'a mut [u64; 32]),
    /// A signal or `immediate_exit` interrupted the run.
    Intr,
    /// KVM could not emulate something (`KVM_EXIT_INTERNAL_ERROR`); `suberror` says what.
    InternalError {
        /// `KVM_INTERNAL_ERROR_*`.
        suberror: u32,
    },
    /// The hardware refused to enter the guest.
    FailEntry {
        /// Hardware-specific reason.
        reason: u64,
    },
    /// A debug exit (breakpoint, single step).
    Debug,
    /// Any other exit, by its `KVM_EXIT_*` number.
    Other(u32),
}
