//! The VMM's error: what failed building or running a VM, and whose fault it is.

use crate::arch::{Classify, ErrorKind};
use crate::config::PayloadError;
use crate::devices::DeviceError;
use crate::event_loop::EventLoopError;
use crate::memory::MemoryError;
use std::time::Duration;

/// Errors building or running a VM.
#[derive(Debug, thiserror::Error)]
pub enum VmmError {
    /// A configuration value is out of range.
    #[error("{0}")]
    Config(String),
    /// The arch backend failed.
    #[error(transparent)]
    Arch(ArchFailure),
    /// Guest memory could not be set up.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// A payload could not be read.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The event loop failed.
    #[error(transparent)]
    EventLoop(#[from] EventLoopError),
    /// A host resource (eventfd, signal handler, thread) could not be created.
    #[error("{what} failed")]
    Host {
        /// What was being created.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A register access failed.
    #[error("vCPU {vcpu} registers")]
    Regs {
        /// The vCPU.
        vcpu: u32,
        /// What failed.
        #[source]
        source: crate::regs::RegError,
    },
    /// Dirty logging failed.
    #[error(transparent)]
    Dirty(#[from] crate::dirty::DirtyError),
    /// The control socket could not be set up.
    #[error(transparent)]
    Control(Box<crate::control::ControlError>),
    /// A device could not be placed on a bus.
    #[error(transparent)]
    Bus(#[from] crate::bus::BusError),
    /// The device layer could not be set up.
    #[error(transparent)]
    Devices(#[from] DeviceError),
    /// A device's host side cannot be used (a disk image missing, unreadable, locked or not a
    /// disk; a TAP interface that cannot be attached).
    #[error(transparent)]
    Backend(#[from] crate::devices::virtio::BackendError),
    /// A thread's seccomp filter could not be built or installed.
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    /// The VM is not in a state that allows the operation.
    #[error("{0}")]
    State(&'static str),
    /// A pause gave up: these vCPUs did not stop in time (the VM runs on).
    #[error("{} did not stop within {waited:?}; the VM runs on", stuck(.vcpus))]
    PauseTimeout {
        /// How long the pause waited.
        waited: Duration,
        /// The vCPUs that did not stop, and where each was.
        vcpus: Vec<(u32, crate::vcpu::VcpuPlace)>,
    },
}

/// "vCPU 0 (in the guest), vCPU 1 (handling an exit)".
fn stuck(vcpus: &[(u32, crate::vcpu::VcpuPlace)]) -> String {
    use crate::vcpu::VcpuPlace;
    let v: Vec<String> = vcpus
        .iter()
        .map(|(id, place)| {
            let at = match place {
                VcpuPlace::InGuest => "in the guest",
                VcpuPlace::Handling => "handling an exit",
                VcpuPlace::Paused => "paused",
                VcpuPlace::Parked => "parked",
                VcpuPlace::Gone => "gone",
            };
            format!("vCPU {id} ({at})")
        })
        .collect();
    if v.is_empty() {
        "the vCPUs".into()
    } else {
        v.join(", ")
    }
}

impl VmmError {
    /// Wraps an arch error, keeping whose fault it is.
    pub fn arch_error<E: std::error::Error + Classify + Send + Sync + 'static>(e: E) -> Self {
        Self::arch(e)
    }

    pub(super) fn arch<E: std::error::Error + Classify + Send + Sync + 'static>(e: E) -> Self {
        VmmError::Arch(ArchFailure {
            kind: e.kind(),
            error: Box::new(e),
        })
    }

    /// Whose fault the error is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            VmmError::Config(_) | VmmError::Payload(_) | VmmError::Backend(_) => ErrorKind::Input,
            VmmError::Memory(MemoryError::OutOfRange { .. }) => ErrorKind::Input,
            VmmError::Arch(a) => a.kind,
            // Someone else's file or live socket at --api: the user's to sort out.
            VmmError::Control(c) => match **c {
                crate::control::ControlError::Bind { .. } => ErrorKind::Host,
                _ => ErrorKind::Input,
            },
            // More devices than the machine has room or interrupts for: the configuration's.
            VmmError::Devices(DeviceError::Place { .. }) => ErrorKind::Input,
            _ => ErrorKind::Host,
        }
    }
}

/// An arch backend's error, with whose fault it is. Displays as the arch error itself.
#[derive(Debug)]
pub struct ArchFailure {
    kind: ErrorKind,
    error: Box<dyn std::error::Error + Send + Sync>,
}

impl std::fmt::Display for ArchFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for ArchFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}
