//! A disk image: a raw regular file or a block device, opened once, locked, and read and written
//! at byte offsets the request layer has already checked against its size.
//!
//! Opening ([`Disk::open`]) refuses, each with an error naming the file: a missing or unreadable
//! file, anything but a regular file or a block device (a FIFO is opened non-blocking first, so
//! it cannot hang the open), a size that is not a whole number of 512-byte sectors, and an image
//! another process holds locked. The lock is `flock(2)` through std's `File::try_lock` (exclusive
//! for read-write, `try_lock_shared` for read-only, both `LOCK_NB`): two VMs can share an image
//! read-only, never read-write. The file is opened `O_CLOEXEC` (std always adds it; it is spelled
//! out here too), so a child process never inherits the image or its lock.
//!
//! A migration's destination on the same host opens the image while its source still holds the
//! lock: it opens it [deferred](Disk::open_deferred) and takes the lock at the hand-off
//! ([`Disk::take_lock`]), after the source, paused for good, let it go ([`Disk::release_lock`]).

use crate::config::DiskConfig;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The sector size of virtio-blk requests and of the capacity (always 512, whatever the image's
/// own block size).
pub const SECTOR: u64 = 512;

/// The most bytes one fallback zeroing write covers.
const ZERO_CHUNK: usize = 64 << 10;

/// Zeros for the fallback of a discard or write-zeroes the file system refuses.
static ZEROS: [u8; ZERO_CHUNK] = [0; ZERO_CHUNK];

/// Why a disk image cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// The file cannot be opened or examined.
    #[error("cannot open the disk image {path}")]
    Open {
        /// The image.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Another open file description holds a conflicting lock.
    #[error("the disk image {path} is locked by another process (another VM?)")]
    Locked {
        /// The image.
        path: String,
    },
    /// Locking failed for another reason.
    #[error("cannot lock the disk image {path}")]
    Lock {
        /// The image.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A directory, a FIFO, a character device, a socket...
    #[error("the disk image {path} is not a regular file or a block device")]
    NotADisk {
        /// The image.
        path: String,
    },
    /// A size that is not a whole number of sectors.
    #[error("the disk image {path} is {size} bytes, not a multiple of {SECTOR}")]
    Size {
        /// The image.
        path: String,
        /// Its size.
        size: u64,
    },
    /// An id longer than virtio's 20 bytes.
    #[error(
        "the disk image {path}'s id is {len} bytes, more than {}",
        crate::config::MAX_DISK_ID
    )]
    Id {
        /// The image.
        path: String,
        /// The id's length.
        len: usize,
    },
    /// The same image twice in one VM, once at least read-write.
    #[error("the disk image {path} is given twice (also as {first})")]
    Twice {
        /// The image, the second time.
        path: String,
        /// The image, the first time.
        first: String,
    },
    /// Snapshots and migrations record the path as UTF-8.
    #[error("the disk image path {path} is not UTF-8")]
    NotUtf8 {
        /// The path, lossily.
        path: String,
    },
}

/// An open, locked disk image.
#[derive(Debug)]
pub struct Disk {
    file: File,
    /// The path as given (for messages).
    name: String,
    /// The absolute path (what a snapshot records).
    path: PathBuf,
    read_only: bool,
    sectors: u64,
    /// Whether this process holds the image's lock.
    locked: AtomicBool,
}

fn clear_nonblock(file: &File) -> io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: F_GETFL and F_SETFL on a descriptor this function's caller owns; no memory is
    // passed.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Disk {
    /// Opens and locks the image `config` names.
    pub fn open(config: &DiskConfig) -> Result<Disk, DiskError> {
        Self::open_with(config, false)
    }

    /// Opens the image `config` names and locks it if it can: a lock another process holds is
    /// left to [`Disk::take_lock`] (a migration's destination, whose source on the same host
    /// holds it until the hand-off). Every other check is as [`Disk::open`]'s.
    pub fn open_deferred(config: &DiskConfig) -> Result<Disk, DiskError> {
        Self::open_with(config, true)
    }

    fn open_with(config: &DiskConfig, defer: bool) -> Result<Disk, DiskError> {
        let name = config.path.display().to_string();
        if config.path.to_str().is_none() {
            return Err(DiskError::NotUtf8 { path: name });
        }
        let open_err = |source| DiskError::Open {
            path: name.clone(),
            source,
        };
        // Non-blocking, so that a FIFO in the image's place cannot hang the open; cleared below
        // once the file is known to be a disk.
        let file = OpenOptions::new()
            .read(true)
            .write(!config.read_only)
            .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(&config.path)
            .map_err(open_err)?;
        let kind = file.metadata().map_err(open_err)?.file_type();
        if !kind.is_file() && !kind.is_block_device() {
            return Err(DiskError::NotADisk { path: name });
        }
        clear_nonblock(&file).map_err(open_err)?;
        let locked = if config.read_only {
            file.try_lock_shared()
        } else {
            file.try_lock()
        };
        let locked = match locked {
            Ok(()) => true,
            Err(TryLockError::WouldBlock) if defer => false,
            Err(TryLockError::WouldBlock) => return Err(DiskError::Locked { path: name }),
            Err(TryLockError::Error(source)) => return Err(DiskError::Lock { path: name, source }),
        };
        // A block device's metadata says 0 bytes; its end says how large it is.
        let size = (&file).seek(SeekFrom::End(0)).map_err(open_err)?;
        if !size.is_multiple_of(SECTOR) {
            return Err(DiskError::Size { path: name, size });
        }
        let path = std::path::absolute(&config.path).unwrap_or_else(|_| config.path.clone());
        Ok(Disk {
            file,
            name,
            path,
            read_only: config.read_only,
            sectors: size / SECTOR,
            locked: AtomicBool::new(locked),
        })
    }

    /// Whether this process holds the image's lock.
    pub fn locked(&self) -> bool {
        self.locked.load(Ordering::SeqCst)
    }

    /// Lets the lock go (a migration's source, paused for good, hands the image over).
    pub fn release_lock(&self) {
        if self.locked.swap(false, Ordering::SeqCst) {
            // An unlock of a lock held cannot fail but for a bad descriptor.
            let _ = self.file.unlock();
        }
    }

    /// Takes the lock (exclusive, or shared for a read-only image), trying every 10 ms for
    /// `wait` at most while another process holds it.
    pub fn take_lock(&self, wait: Duration) -> Result<(), DiskError> {
        if self.locked() {
            return Ok(());
        }
        let deadline = Instant::now() + wait;
        loop {
            let r = if self.read_only {
                self.file.try_lock_shared()
            } else {
                self.file.try_lock()
            };
            match r {
                Ok(()) => {
                    self.locked.store(true, Ordering::SeqCst);
                    return Ok(());
                }
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(DiskError::Locked {
                        path: self.name.clone(),
                    })
                }
                Err(TryLockError::Error(source)) => {
                    return Err(DiskError::Lock {
                        path: self.name.clone(),
                        source,
                    })
                }
            }
        }
    }

    /// The image's size in sectors.
    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    /// Whether the image was opened read-only.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// The image's absolute path (what a snapshot records).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `path` names this image (the same device and inode).
    pub fn is(&self, path: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (self.file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
            _ => false,
        }
    }

    /// The path as it was given, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Fills `buf` from `offset`; a short file (shrunk under the VM) is an error.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    fn writable(&self) -> io::Result<()> {
        if self.read_only {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the disk is read-only",
            ));
        }
        Ok(())
    }

    /// Writes all of `buf` at `offset`.
    pub fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.writable()?;
        self.file.write_all_at(buf, offset)
    }

    /// Makes every completed write durable (`fdatasync`).
    pub fn flush(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// `fallocate(mode | KEEP_SIZE)` over `[offset, offset + len)`; where the file system (or
    /// the block device, for an unaligned range) refuses the mode, writes zeros instead, in
    /// bounded chunks.
    fn fallocate_or_zero(&self, mode: libc::c_int, offset: u64, len: u64) -> io::Result<()> {
        self.writable()?;
        if len == 0 {
            return Ok(());
        }
        let (Ok(off), Ok(n)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        };
        // SAFETY: fallocate on a descriptor this disk owns; no memory is passed.
        let r = unsafe {
            libc::fallocate(
                self.file.as_raw_fd(),
                mode | libc::FALLOC_FL_KEEP_SIZE,
                off,
                n,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EOPNOTSUPP | libc::ENOSYS | libc::EINVAL | libc::ENOTTY) => {
                self.zero_by_writing(offset, len)
            }
            _ => Err(e),
        }
    }

    fn zero_by_writing(&self, offset: u64, len: u64) -> io::Result<()> {
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(ZERO_CHUNK as u64) as usize;
            self.file.write_all_at(&ZEROS[..n], offset + done)?;
            done += n as u64;
        }
        Ok(())
    }

    /// Gives `[offset, offset + len)` back to the host (punches a hole); the range reads as
    /// zeros afterwards either way.
    pub fn discard(&self, offset: u64, len: u64) -> io::Result<()> {
        self.fallocate_or_zero(libc::FALLOC_FL_PUNCH_HOLE, offset, len)
    }

    /// Zeros `[offset, offset + len)`: a hole when `unmap` allows it, else zeroed blocks that
    /// stay allocated.
    pub fn write_zeroes(&self, offset: u64, len: u64, unmap: bool) -> io::Result<()> {
        let mode = if unmap {
            libc::FALLOC_FL_PUNCH_HOLE
        } else {
            libc::FALLOC_FL_ZERO_RANGE
        };
        self.fallocate_or_zero(mode, offset, len)
    }

    /// Zeros by writing, as the fallback does (tests of the fallback).
    #[cfg(test)]
    pub(super) fn zero_without_fallocate(&self, offset: u64, len: u64) -> io::Result<()> {
        self.writable()?;
        self.zero_by_writing(offset, len)
    }
}
