//! Live migration: pre-copy rounds on the dirty log, then stop-and-copy, over a versioned,
//! checksummed, numbered and summed-up stream ([`frame`], [`channel`]) on a Unix or TCP socket
//! ([`transport`]).
//!
//! ```text
//! source                                   destination (tetra run --incoming ADDR)
//! HELLO magic, version 4, arch, page, CONF ->
//!                                       <- HELLO_OK (or ERROR)      builds an empty VM
//! -- from here every frame, both ways, is numbered: seq u32 from 1 --
//! PAGES ... [ARCH] ROUND 0  PAGES ... [ARCH] ROUND 1 ...
//!                                           (round 0: touched pages; then the dirty log's;
//!                                           runs of pages, zero pages without bytes: pages.rs;
//!                                           ARCH: arch state outside guest RAM, all of it in
//!                                           round 0, then its changes: applied on arrival)
//! -- pause --
//! PAGES (the last dirty pages)  STATE (vCPUs, devices, arch; a section pre-copy sent as ARCH
//!                                      is replaced by its last changes)
//! END frames, pages, bytes, digest ->       checks every number on arrival, then END
//!                                           against what arrived; applies the state
//!                                       <- READY (or ERROR)
//! GO ->
//!                                       <- STARTED                  starts the guest
//! the source ends (GuestExit::Migrated)
//! ```
//!
//! The destination refuses, before READY and naming what is wrong: a frame whose sequence number
//! is not the next one (a frame missing, duplicated or reordered), ROUND numbers out of order,
//! PAGES or ARCH after STATE, an ARCH section the arch does not take (or refuses), a second STATE, END before STATE, and an END whose frame, page and byte
//! counts or running digest differ from what arrived (a frame lost at the end, or replaced by
//! one with a valid number and checksum). A source of another protocol version is refused at
//! HELLO by its version number, and so is this one by an older destination (the handshake is
//! framed alike in every version).
//!
//! If anything fails before GO is sent (the link, the destination, a corrupt frame), the source
//! turns dirty logging off, resumes the guest if it paused it, and reports the error (the
//! destination's own message when it sent one before hanging up): it keeps running and has lost
//! nothing. The destination starts the guest only after applying a whole, checked state and
//! receiving GO; otherwise it exits without running it. If the link fails between GO and STARTED,
//! the source cannot know which side has the guest: it keeps it paused
//! ([`MigrationError::Unknown`]) rather than run it twice or lose it.

pub mod channel;
mod dest;
pub mod frame;
pub mod pages;
mod source;
pub mod transport;

pub use channel::{ChannelError, Summary};
pub use dest::{Flow, Receiver};
pub use frame::FrameError;

/// An ARCH frame's payload: the section's tag, version and data.
pub(crate) fn arch_frame(s: &crate::snapshot::Section) -> Vec<u8> {
    let mut w = crate::wire::Writer::new();
    w.bytes(&s.tag);
    w.u16(s.version);
    w.bytes(&s.data);
    w.into_bytes()
}

/// Reads an ARCH frame's payload ([`arch_frame`]).
pub(crate) fn read_arch_frame(payload: &[u8]) -> Result<crate::snapshot::Section, MigrationError> {
    let mut r = crate::wire::Reader::new(payload);
    let bad = |e: crate::wire::Truncated| MigrationError::Protocol(format!("ARCH: {e}"));
    let tag: [u8; 4] = r.array("the section tag").map_err(bad)?;
    let version = r.u16("the section version").map_err(bad)?;
    if !tag.iter().all(|b| b.is_ascii_graphic()) || version == 0 {
        return Err(MigrationError::Protocol(format!(
            "ARCH: a section tagged {:?}, version {version}",
            String::from_utf8_lossy(&tag)
        )));
    }
    let data = r.take("the section", r.remaining()).map_err(bad)?.to_vec();
    Ok(crate::snapshot::Section::new(&tag, version, data))
}

/// How long either side waits for a disk image's lock at the hand-off (the other side on the
/// same host lets it go when it fails or finishes).
pub(crate) const DISK_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
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
    /// A frame is missing, duplicated, out of order or changed.
    #[error(transparent)]
    Channel(ChannelError),
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

impl From<ChannelError> for MigrationError {
    fn from(e: ChannelError) -> Self {
        match e {
            ChannelError::Frame(f) => MigrationError::Frame(f),
            e => MigrationError::Channel(e),
        }
    }
}

impl From<crate::vm::VmmError> for MigrationError {
    fn from(e: crate::vm::VmmError) -> Self {
        MigrationError::Vmm(Box::new(e))
    }
}
