//! Listening on a Unix socket at a path a user names (`--api`, `--incoming unix:`), so that the
//! path appears only once the socket listens, and nothing but a stale socket is ever replaced.
//!
//! `bind(2)` creates the path before `listen(2)` lets anyone connect: a client that waits for the
//! path and connects at once could meet `ECONNREFUSED` (the suite did, on a loaded machine). The
//! socket is therefore bound and listening under a temporary name in the same directory, then
//! renamed onto the path, which is atomic. What is at the path first is checked: a file that is not
//! a socket is refused and left alone, a socket that something answers on is refused, a stale
//! socket (nothing listens) is replaced by the rename.

use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Why a Unix socket could not be listened on.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Something that is not a socket is at the path.
    #[error("{path} exists and is not a socket (left alone)")]
    NotASocket {
        /// The path.
        path: String,
    },
    /// A socket something answers on (another tetra, say) is at the path.
    #[error("{path} is in use: something answers on it")]
    InUse {
        /// The path.
        path: String,
    },
    /// Creating, binding or renaming failed.
    #[error("cannot listen on {path}")]
    Io {
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A listening socket at `path` (see the module doc).
pub fn listen(path: &Path) -> Result<UnixListener, ListenError> {
    let p = || path.display().to_string();
    let io = |source| ListenError::Io { path: p(), source };
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_socket() => return Err(ListenError::NotASocket { path: p() }),
        Ok(_) => match UnixStream::connect(path) {
            Ok(_) => return Err(ListenError::InUse { path: p() }),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
            Err(e) => return Err(io(e)),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let tmp = temporary_name(path).ok_or_else(|| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path has no file name",
        ))
    })?;
    // A leftover of a crashed tetra with this pid: only a socket is removed.
    if std::fs::symlink_metadata(&tmp).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(&tmp);
    }
    let listener = UnixListener::bind(&tmp).map_err(io)?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(listener)
}

/// `.<name>.<pid>.listening` beside `path`.
fn temporary_name(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_string_lossy();
    Some(path.with_file_name(format!(".{name}.{}.listening", std::process::id())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tetra-socket-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn the_path_appears_listening_and_only_a_stale_socket_is_replaced() {
        let d = dir("listen");
        let path = d.join("s.sock");
        let l = listen(&path).unwrap();
        // Connectable as soon as it exists, and nothing else is left in the directory.
        UnixStream::connect(&path).unwrap();
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        // Something answers: refused.
        assert!(matches!(listen(&path), Err(ListenError::InUse { .. })));
        drop(l);
        // Stale now: replaced.
        let _l = listen(&path).unwrap();
        UnixStream::connect(&path).unwrap();
        // A regular file is refused and kept.
        let file = d.join("keep.txt");
        std::fs::write(&file, b"mine").unwrap();
        let e = listen(&file).unwrap_err();
        assert!(matches!(e, ListenError::NotASocket { .. }), "{e}");
        assert_eq!(std::fs::read(&file).unwrap(), b"mine");
        // No directory to bind in.
        assert!(matches!(
            listen(&d.join("missing").join("s.sock")),
            Err(ListenError::Io { .. })
        ));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
