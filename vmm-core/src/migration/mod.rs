//! Live migration: pre-copy rounds on the dirty log, then stop-and-copy, over a versioned and
//! checksummed stream ([`frame`]) on a Unix or TCP socket ([`transport`]).
//!
//! ```text
//! source                                   destination (tetra run --incoming ADDR)
//! HELLO magic, version, arch, page, CONF ->
//!                                       <- HELLO_OK (or ERROR)      builds an empty VM
//! PAGES ... ROUND  (round 0: touched pages; then what the dirty log reports)
//! -- pause --
//! PAGES (the last dirty pages)  STATE (vCPUs, devices, arch)  END ->
//!                                       <- READY (state applied)  (or ERROR)
//! GO ->
//!                                       <- STARTED                  starts the guest
//! the source ends (GuestExit::Migrated)
//! ```
//!
//! If anything fails before GO is sent (the link, the destination, a corrupt frame), the source
//! turns dirty logging off, resumes the guest if it paused it, and reports the error: it keeps
//! running and has lost nothing. The destination starts the guest only after applying a whole,
//! checked state and receiving GO; otherwise it exits without running it. If the link fails
//! between GO and STARTED, the source cannot know which side has the guest: it keeps it paused
//! ([`MigrationError::Unknown`]) rather than run it twice or lose it.

mod dest;
pub mod frame;
mod source;
pub mod transport;

pub use dest::{Flow, Receiver};
pub use frame::FrameError;
pub use source::{MigrateOptions, MigrationStats, Phase, Progress};
pub use transport::{Listener, TransportError, Uri};

/// Errors of a migration.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The arch cannot migrate yet.
    #[error("live migration is not supported on {0} yet")]
    Unsupported(&'static str),
    /// Connecting or listening failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The stream failed or is corrupt.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The other side broke the protocol.
    #[error("migration protocol: {0}")]
    Protocol(String),
    /// The other side reported an error.
    #[error("the {side} failed: {message}")]
    Remote {
        /// "destination" or "source".
        side: &'static str,
        /// Its message.
        message: String,
    },
    /// Capturing or applying state failed.
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    /// The link failed after GO was sent: the destination may or may not run the guest. The
    /// guest stays paused here; resume it only if the destination did not start it.
    #[error("the migration's outcome is unknown (the guest stays paused here; resume it only if the destination did not start it)")]
    Unknown(#[source] Box<MigrationError>),
    /// The VM could not be paused, resumed, read or built.
    #[error(transparent)]
    Vmm(#[from] Box<crate::vm::VmmError>),
}

impl From<crate::vm::VmmError> for MigrationError {
    fn from(e: crate::vm::VmmError) -> Self {
        MigrationError::Vmm(Box::new(e))
    }
}
