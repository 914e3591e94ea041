//! The failures every arch backend shares, as one error with one answer to whose fault it is.
//!
//! Each arch's top error (`X86Error`, `Arm64Error`, `Ppc64Error`, `BookeError`, in the arch's
//! ungated `error.rs`) holds a [`CoreError`] as `#[error(transparent)] Core(#[from] CoreError)`
//! beside its own variants, and invokes [`core_error_from!`](crate::core_error_from) once so that
//! `?` on an [`HvError`], a [`PayloadError`], ... keeps working in arch code. Wrapping changes no
//! message: every variant displays (and chains) as before.

use crate::arch::{Classify, ErrorKind};
use crate::bus::BusError;
use crate::config::PayloadError;
use crate::devices::DeviceError;
use crate::hypervisor::HvError;
use crate::memory::MemoryError;
use crate::snapshot::stateful::RegistryError;

/// What can fail in an arch backend that is not the arch's own business.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A KVM call failed.
    #[error(transparent)]
    Hv(#[from] HvError),
    /// A payload could not be read.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// Guest memory could not be written.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// A device could not be placed on a bus.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The device layer refused a device.
    #[error(transparent)]
    Devices(#[from] DeviceError),
    /// A device's state could not be registered.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// An eventfd could not be created.
    #[error("creating an eventfd failed")]
    EventFd(#[source] std::io::Error),
}

impl Classify for CoreError {
    /// Input for a payload that cannot be read and for a write beyond guest RAM (the RAM asked
    /// for is too small for what the user gave); the host for everything else.
    fn kind(&self) -> ErrorKind {
        match self {
            CoreError::Payload(_) | CoreError::Memory(MemoryError::OutOfRange { .. }) => {
                ErrorKind::Input
            }
            _ => ErrorKind::Host,
        }
    }
}

/// `impl From<S> for Outer` for each source type `S`, through `Inner`: `Outer: From<Inner>` and
/// `Inner: From<S>` must hold. One line instead of an `impl` per source and per outer error:
///
/// ```
/// # #[derive(Debug)] struct Inner(u8);
/// # impl From<u8> for Inner { fn from(v: u8) -> Self { Inner(v) } }
/// # #[derive(Debug)] enum Outer { In(Inner) }
/// # impl From<Inner> for Outer { fn from(i: Inner) -> Self { Outer::In(i) } }
/// vmm_core::from_via!(Outer => Inner: u8);
/// assert!(matches!(Outer::from(7u8), Outer::In(Inner(7))));
/// ```
#[macro_export]
macro_rules! from_via {
    ($outer:ty => $inner:ty : $($source:ty),+ $(,)?) => {
        $(
            impl ::core::convert::From<$source> for $outer {
                fn from(e: $source) -> Self {
                    <$outer as ::core::convert::From<$inner>>::from(
                        <$inner as ::core::convert::From<$source>>::from(e),
                    )
                }
            }
        )+
    };
}

/// Lets `?` turn every error that [`CoreError`](crate::error::CoreError) wraps into the arch error
/// `$outer`, which must have a `#[from] CoreError` variant: `vmm_core::core_error_from!(X86Error);`
/// (an [`std::io::Error`] is not among them: say which `CoreError` it is, as for
/// `CoreError::EventFd`).
#[macro_export]
macro_rules! core_error_from {
    ($outer:ty) => {
        $crate::from_via!($outer => $crate::error::CoreError:
            $crate::hypervisor::HvError,
            $crate::config::PayloadError,
            $crate::memory::MemoryError,
            $crate::bus::BusError,
            $crate::devices::DeviceError,
            $crate::snapshot::stateful::RegistryError,
        );
    };
}

/// Test support: one [`CoreError`] of each kind, with whose fault it is.
#[cfg(any(test, feature = "test-util"))]
pub fn samples() -> Vec<(CoreError, ErrorKind)> {
    use ErrorKind::{Host, Input};
    let payload = PayloadError::TooLarge {
        path: "the kernel".into(),
        size: 2,
        limit: 1,
    };
    let out_of_range = MemoryError::OutOfRange {
        what: "the kernel".into(),
        addr: 0,
        len: 1,
        ram_mib: 1,
    };
    let change = MemoryError::Change {
        change: crate::memory::MapChange::Remove { guest_addr: 0 },
        why: "a test".into(),
    };
    let emfile = std::io::Error::from_raw_os_error(libc::EMFILE);
    vec![
        (CoreError::Payload(payload), Input),
        (CoreError::Memory(out_of_range), Input),
        (CoreError::Memory(change), Host),
        (CoreError::Hv(HvError::Unsupported("a test")), Host),
        (CoreError::EventFd(emfile), Host),
        (
            CoreError::Registry(RegistryError::Duplicate("SERL".into())),
            Host,
        ),
    ]
}

/// Test support for an arch's `Classify`: every [`samples`] error, wrapped in `E`, is whose
/// fault vmm-core says, and each of `own` is whose fault it is paired with.
#[cfg(any(test, feature = "test-util"))]
pub fn assert_kinds<E>(own: Vec<(E, ErrorKind)>)
where
    E: Classify + std::fmt::Display + From<CoreError>,
{
    let core = samples().into_iter().map(|(e, k)| (E::from(e), k));
    for (e, kind) in core.chain(own) {
        assert_eq!(e.kind(), kind, "{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum ArchError {
        #[error(transparent)]
        Core(#[from] CoreError),
        #[error("an arch failure")]
        Own,
    }
    crate::core_error_from!(ArchError);

    impl Classify for ArchError {
        fn kind(&self) -> ErrorKind {
            match self {
                ArchError::Core(e) => e.kind(),
                ArchError::Own => ErrorKind::Input,
            }
        }
    }

    fn hv() -> Result<(), HvError> {
        Err(HvError::Unsupported("a test"))
    }

    fn arch() -> Result<(), ArchError> {
        hv()?;
        Ok(())
    }

    #[test]
    fn whose_fault() {
        for (e, kind) in samples() {
            assert_eq!(e.kind(), kind, "{e}");
        }
        assert_kinds(vec![(ArchError::Own, ErrorKind::Input)]);
    }

    #[test]
    fn question_mark_and_messages_pass_through() {
        let e = arch().unwrap_err();
        assert!(matches!(e, ArchError::Core(CoreError::Hv(_))));
        assert_eq!(e.to_string(), "the hypervisor does not support a test");
        let io = ArchError::from(CoreError::EventFd(std::io::Error::other("no fds")));
        assert_eq!(
            crate::error_chain::chain(&io),
            "creating an eventfd failed: no fds"
        );
    }
}
