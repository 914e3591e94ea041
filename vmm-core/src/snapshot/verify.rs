//! When a restore checks its memory file against the digests in `MEMS` (version 2), and what a
//! mismatch does.
//!
//! - [`Verify::Eager`]: every chunk with data is read and checked before the VM is built; a
//!   corrupt file is refused by name and the guest never runs on it. The cost grows with the
//!   data in the file (it is read once, from disk or the page cache; the guest then finds it in
//!   the page cache).
//! - [`Verify::Lazy`]: the VM is restored at once, mapping the file as before, and a background
//!   thread ([`MemoryCheck`]) checks it while the guest runs, reading the file (never the guest's
//!   private copy, which the guest may already have changed). On a mismatch it ends the VM with
//!   [`GuestExit::CorruptMemory`], naming the chunk. A snapshot or migration of the restored VM
//!   first waits for the check, so corrupt memory is never saved under a fresh digest.
//! - [`Verify::Off`]: no digests are checked.
//!
//! Whatever the mode, a memory file of the wrong size or of another snapshot (its trailer's
//! nonce) is refused before it is mapped, and a `MEMS` version 1 file has no digests to check.
//!
//! Checking each chunk when the guest first touches it was considered and left out: a private
//! file mapping cannot be intercepted on first touch (userfaultfd's missing-page mode does not
//! cover private file mappings), so it would mean anonymous guest RAM filled by a fault handler:
//! RAM no longer shared with the page cache, and a handler thread on every first touch.

use super::digest::{self, CheckStats, DigestError, MemDigests};
use super::memfile::RegionLayout;
use crate::exit::{ExitNotifier, GuestExit};
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// When a restore checks the memory file's digests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verify {
    /// Before the VM is built: a corrupt file is refused.
    Eager,
    /// While the guest runs: a corrupt file stops the VM.
    Lazy,
    /// Not at all.
    Off,
}

impl Verify {
    /// `eager`, `lazy` or `off`.
    pub fn parse(s: &str) -> Option<Verify> {
        match s {
            "eager" => Some(Verify::Eager),
            "lazy" => Some(Verify::Lazy),
            "off" => Some(Verify::Off),
            _ => None,
        }
    }

    /// The mode a restore uses unless told otherwise: lazy (a restore keeps its cost; an eager
    /// check of a 256 MiB guest's file took 60-130 ms here, docs/snapshot-format.md), but eager
    /// for a VM with a read-write disk, whose guest could write corrupt memory to its disk image
    /// before a lazy check stops it.
    pub fn default_for(config: &crate::config::VmConfig) -> Verify {
        if config.virtio.disks.iter().any(|d| !d.read_only) {
            Verify::Eager
        } else {
            Verify::Lazy
        }
    }
}

impl std::fmt::Display for Verify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verify::Eager => "eager",
            Verify::Lazy => "lazy",
            Verify::Off => "off",
        })
    }
}

/// How many threads an eager check uses: the host's CPUs, at most 4.
pub fn eager_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// The lazy check's nice value: a vCPU that wants the CPU gets about ten times its share, and an
/// idle CPU is all the check's.
const CHECK_NICE: libc::c_int = 10;

/// A lazy check running in the background, on one thread at [`CHECK_NICE`]; dropping it calls it
/// off.
pub struct MemoryCheck {
    path: PathBuf,
    cancel: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<CheckStats, DigestError>>>,
    outcome: Option<Result<CheckStats, DigestError>>,
}

impl MemoryCheck {
    /// Starts checking `file` (at `path`, for messages) against `digests`; on a mismatch, or a
    /// failing read, the thread ends the VM through `exit`.
    pub fn spawn(
        file: File,
        path: PathBuf,
        layout: Vec<RegionLayout>,
        digests: MemDigests,
        exit: ExitNotifier,
        sandbox: Option<crate::sandbox::Sandbox>,
    ) -> std::io::Result<MemoryCheck> {
        let cancel = Arc::new(AtomicBool::new(false));
        let stop = cancel.clone();
        let shown = path.display().to_string();
        let handle = std::thread::Builder::new()
            .name("memory-check".into())
            .spawn(move || {
                // Below the vCPUs: the check takes what CPU they leave.
                // SAFETY: plain syscalls on this thread's own id; no memory is passed.
                unsafe {
                    let tid = libc::gettid();
                    libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, CHECK_NICE);
                }
                if let Some(sb) = sandbox {
                    sb.enter_or_exit(crate::sandbox::ThreadKind::MemoryCheck);
                }
                let r = digest::check_file(&file, &layout, &digests, 1, &stop);
                if let Err(e) = &r {
                    if !matches!(e, DigestError::Cancelled) {
                        exit.end(GuestExit::CorruptMemory(format!(
                            "memory file {shown}: {}; the VM was stopped (lazy verification)",
                            crate::error_chain::chain(e)
                        )));
                    }
                }
                r
            })?;
        Ok(MemoryCheck {
            path,
            cancel,
            handle: Some(handle),
            outcome: None,
        })
    }

    /// The memory file being checked.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Whether the check has finished.
    pub fn is_done(&self) -> bool {
        self.outcome.is_some() || self.handle.as_ref().is_none_or(|h| h.is_finished())
    }

    /// Waits for the check to finish; its outcome (every call gets it).
    pub fn wait(&mut self) -> Result<CheckStats, DigestError> {
        if let Some(h) = self.handle.take() {
            self.outcome = Some(h.join().unwrap_or_else(|_| {
                Err(DigestError::Io {
                    offset: 0,
                    len: 0,
                    source: std::io::Error::other("the memory check thread panicked"),
                })
            }));
        }
        match self.outcome.as_ref().expect("joined above") {
            Ok(s) => Ok(*s),
            Err(DigestError::Mismatch(c)) => Err(DigestError::Mismatch(*c)),
            Err(DigestError::Cancelled) => Err(DigestError::Cancelled),
            Err(DigestError::Io {
                offset,
                len,
                source,
            }) => Err(DigestError::Io {
                offset: *offset,
                len: *len,
                source: std::io::Error::new(source.kind(), source.to_string()),
            }),
        }
    }
}

impl Drop for MemoryCheck {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            // A chunk at most: the thread looks at the flag between chunks.
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn modes_parse_and_a_writable_disk_makes_the_default_eager() {
        for v in [Verify::Eager, Verify::Lazy, Verify::Off] {
            assert_eq!(Verify::parse(&v.to_string()), Some(v));
        }
        assert_eq!(Verify::parse("Eager"), None);
        let mut c = crate::config::VmConfig::default();
        assert_eq!(Verify::default_for(&c), Verify::Lazy);
        c.virtio
            .disks
            .push(crate::config::DiskConfig::new("/a.img"));
        assert_eq!(Verify::default_for(&c), Verify::Eager);
        c.virtio.disks[0].read_only = true;
        assert_eq!(Verify::default_for(&c), Verify::Lazy);
    }

    #[test]
    fn a_lazy_check_ends_the_vm_on_a_mismatch() {
        let p = std::env::temp_dir().join(format!("tetra-verify-{}", std::process::id()));
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&p)
            .unwrap();
        std::fs::remove_file(&p).unwrap();
        f.set_len(4 << 20).unwrap();
        f.write_all_at(b"x", 5).unwrap();
        let layout = vec![RegionLayout {
            guest_addr: 0x1000_0000,
            size: 4 << 20,
            file_offset: 0,
        }];
        let mut bytes = vec![0u8; 4 << 20];
        f.read_exact_at(&mut bytes, 0).unwrap();
        let good = MemDigests {
            chunk_bytes: 2 << 20,
            digests: vec![
                digest::digest(&bytes[..2 << 20]),
                digest::digest(&bytes[2 << 20..]),
            ],
        };
        let exit = ExitNotifier::new().unwrap();
        let mut ok = MemoryCheck::spawn(
            f.try_clone().unwrap(),
            p.clone(),
            layout.clone(),
            good.clone(),
            exit.clone(),
            None,
        )
        .unwrap();
        assert_eq!(ok.wait().unwrap().chunks, 2);
        assert!(ok.is_done() && exit.reason().is_none());

        let mut bad = good;
        bad.digests[1] ^= 1;
        let mut check = MemoryCheck::spawn(f, p, layout, bad, exit.clone(), None).unwrap();
        let e = check.wait().unwrap_err();
        assert!(matches!(e, DigestError::Mismatch(c) if c.index == 1), "{e}");
        assert!(check.wait().is_err(), "the outcome is kept");
        match exit.reason() {
            Some(GuestExit::CorruptMemory(why)) => assert!(
                why.contains("guest 0x10200000..0x10400000") && why.contains("the VM was stopped"),
                "{why}"
            ),
            r => panic!("{r:?}"),
        }
    }
}
