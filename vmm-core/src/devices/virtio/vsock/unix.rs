//! The host's Unix sockets: the device's listening socket at `PATH` and the connections the
//! guest opens to `PATH_<port>`, made without ever blocking the device worker.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Errors making the device's listening socket.
#[derive(Debug, thiserror::Error)]
pub enum UnixError {
    /// Something that is not a socket is at the path.
    #[error("{path}: exists and is not a socket")]
    NotSocket {
        /// The path.
        path: PathBuf,
    },
    /// The socket could not be made.
    #[error("{path}: cannot listen there")]
    Bind {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// Listens at `path` (non-blocking). A socket already there (left by an earlier tetra) is
/// replaced; anything else there is an error.
pub fn listen(path: &Path) -> Result<UnixListener, UnixError> {
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if !m.file_type().is_socket() {
            return Err(UnixError::NotSocket { path: path.into() });
        }
        let _ = std::fs::remove_file(path);
    }
    let bind = |source| UnixError::Bind {
        path: path.into(),
        source,
    };
    let l = UnixListener::bind(path).map_err(bind)?;
    l.set_nonblocking(true).map_err(bind)?;
    Ok(l)
}

/// The path a guest's connection to host port `port` goes to: `PATH_<port>`.
pub fn port_path(base: &Path, port: u32) -> PathBuf {
    let mut p = base.as_os_str().to_os_string();
    p.push(format!("_{port}"));
    PathBuf::from(p)
}

/// Connects to the stream socket at `path` without blocking: a listener whose backlog is full
/// refuses (`EAGAIN`) instead of making the caller wait. The stream is non-blocking.
pub fn connect(path: &Path) -> io::Result<UnixStream> {
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: sockaddr_un is plain data; all zeros is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.is_empty() || bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: socket() takes no pointers; the result is checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just made and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let len = std::mem::size_of::<libc::sa_family_t>() + bytes.len();
    // SAFETY: addr is a valid sockaddr_un and len does not exceed its size.
    let rc = unsafe {
        libc::connect(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            (&addr as *const libc::sockaddr_un).cast(),
            len as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(UnixStream::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_reaches_a_listener_and_refuses_a_missing_one() {
        let dir = vmm_sys_util::tempdir::TempDir::new_with_prefix("/tmp/tetra-vsock-").unwrap();
        let base = dir.as_path().join("v.sock");
        let p = port_path(&base, 52);
        assert!(p.to_string_lossy().ends_with("v.sock_52"));
        assert!(connect(&p).is_err());
        let l = listen(&p).unwrap();
        let _s = connect(&p).unwrap();
        assert!(l.accept().is_ok());
        // A stale socket is replaced, a regular file is not.
        drop(l);
        assert!(listen(&p).is_ok());
        std::fs::write(&base, b"x").unwrap();
        assert!(matches!(listen(&base), Err(UnixError::NotSocket { .. })));
        assert!(connect(Path::new("")).is_err());
    }
}
