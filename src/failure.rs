//! What went wrong, and the exit status it maps to: 2 for the user's input, 4 for the host.

use vmm_core::migration::{MigrationError, TransportError};
use vmm_core::snapshot::SnapshotError;
use vmm_core::{ErrorKind, VmmError};

/// Exit status for usage errors and bad input.
pub const EXIT_USAGE: u8 = 2;
/// Exit status for host errors.
pub const EXIT_HOST: u8 = 4;

/// An error with its exit status.
pub struct Failure {
    /// The process exit status.
    pub code: u8,
    /// The error, printed as one line.
    pub error: anyhow::Error,
}

fn vmm_code(e: &VmmError) -> u8 {
    match e.kind() {
        ErrorKind::Input => EXIT_USAGE,
        ErrorKind::Host => EXIT_HOST,
    }
}

fn snapshot_code(e: &SnapshotError) -> u8 {
    match e {
        SnapshotError::Vmm(v) => vmm_code(v),
        SnapshotError::Injected(_) => EXIT_HOST,
        _ => EXIT_USAGE,
    }
}

impl Failure {
    /// A host error.
    pub fn host(error: anyhow::Error) -> Self {
        Failure {
            code: EXIT_HOST,
            error,
        }
    }
    /// From building or running a VM.
    pub fn vmm(e: VmmError) -> Self {
        Failure {
            code: vmm_code(&e),
            error: e.into(),
        }
    }
    /// From restoring a snapshot.
    pub fn snapshot(e: SnapshotError) -> Self {
        Failure {
            code: snapshot_code(&e),
            error: e.into(),
        }
    }
    /// From starting the QMP server: someone else's file or live socket at the path is the
    /// user's to sort out.
    pub fn qmp(e: vmm_core::control::qmp::QmpError) -> Self {
        use vmm_core::control::qmp::QmpError;
        use vmm_core::socket::ListenError;
        let code = match &e {
            QmpError::Listen {
                source: ListenError::NotASocket { .. } | ListenError::InUse { .. },
                ..
            } => EXIT_USAGE,
            _ => EXIT_HOST,
        };
        Failure {
            code,
            error: e.into(),
        }
    }
    /// From receiving a migration.
    pub fn migration(e: MigrationError) -> Self {
        let code = match &e {
            MigrationError::Transport(TransportError::BadUri(_)) => EXIT_USAGE,
            MigrationError::Vmm(v) => vmm_code(v),
            MigrationError::Snapshot(s) => snapshot_code(s),
            _ => EXIT_HOST,
        };
        Failure {
            code,
            error: e.into(),
        }
    }
}
