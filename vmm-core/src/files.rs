//! Opening and reading the host files a user names (kernels, initrds, snapshot state and memory
//! files, TLB dumps): never blocking on a FIFO or a device, never reading without a bound.
//!
//! A file is opened with `O_NONBLOCK` (an open of a FIFO with no writer, or of a terminal, returns
//! at once instead of waiting), checked with `fstat` to be a regular file, and read at most up to
//! a cap: a device such as `/dev/zero`, whose size `stat` reports as 0, is refused as not a
//! regular file rather than read until memory runs out.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Errors opening or reading a user's file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be opened, checked or read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A FIFO, socket, device or directory.
    #[error("{path} is not a regular file (it is a {kind})")]
    NotRegular {
        /// The file.
        path: String,
        /// What it is.
        kind: &'static str,
    },
    /// Larger than tetra accepts for its role.
    #[error("{path} is {size} bytes, more than the {limit} bytes accepted")]
    TooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
        /// The cap.
        limit: u64,
    },
}

fn kind(m: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else {
        "special file"
    }
}

/// Opens `path` for reading without blocking and checks that it is a regular file; returns the
/// file and its size.
pub fn open_regular(path: &Path) -> Result<(File, u64), FileError> {
    let io = |source| FileError::Io {
        path: path.display().to_string(),
        source,
    };
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let m = f.metadata().map_err(io)?;
    if !m.is_file() {
        return Err(FileError::NotRegular {
            path: path.display().to_string(),
            kind: kind(&m),
        });
    }
    Ok((f, m.len()))
}

/// Reads the regular file at `path`, at most `limit` bytes (a larger file, or one that grows past
/// the limit while it is read, is refused).
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let (f, size) = open_regular(path)?;
    let too_large = |size| FileError::TooLarge {
        path: path.display().to_string(),
        size,
        limit,
    };
    if size > limit {
        return Err(too_large(size));
    }
    let mut buf = Vec::with_capacity(size as usize);
    f.take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|source| FileError::Io {
            path: path.display().to_string(),
            source,
        })?;
    if buf.len() as u64 > limit {
        return Err(too_large(buf.len() as u64));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn devices_fifos_and_directories_are_refused_at_once() {
        let t = Instant::now();
        for (p, what) in [
            ("/dev/zero", "character device"),
            ("/dev/null", "character device"),
            ("/", "directory"),
        ] {
            let e = read_regular(Path::new(p), 1 << 20).unwrap_err();
            assert!(e.to_string().contains(what), "{p}: {e}");
        }
        let dir = std::env::temp_dir().join(format!("tetra-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: `c` is a NUL-terminated path that lives across the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_regular(&fifo, 1 << 20).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(2), "blocked");
        // A regular file within and beyond the limit.
        let f = dir.join("f");
        std::fs::write(&f, [7u8; 100]).unwrap();
        assert_eq!(read_regular(&f, 100).unwrap().len(), 100);
        assert!(matches!(
            read_regular(&f, 99),
            Err(FileError::TooLarge { size: 100, .. })
        ));
        assert!(matches!(
            read_regular(&dir.join("missing"), 1),
            Err(FileError::Io { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
