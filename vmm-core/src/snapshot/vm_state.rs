//! Taking and restoring snapshots of a whole VM.
//!
//! A snapshot is two files: the state file at the path given (the [`Envelope`]) and, beside it,
//! the guest memory file `<name>.mem-<nonce>` that its `MEMS` section names. Writing is crash-safe:
//! the memory file gets a new name, the state goes to a temporary file, both are fsynced, and only
//! then is the state renamed over the old one (and the directory fsynced). Until that rename the
//! previous snapshot, state and memory, is untouched; after it the old memory file is removed.

use super::envelope::{Envelope, EnvelopeError, Section, MAX_ENVELOPE_BYTES};
use super::memfile::{self, MemFileError};
use super::sections::{
    self, MemIntegrity, MemsInfo, SectionError, CORE_TAGS, TAG_CONF, TAG_MEMS, TAG_VCPU,
};
use super::stateful::RegistryError;
use super::verify::{self, MemoryCheck, Verify};
use crate::arch::Arch;
use crate::vm::{VmState, Vmm, VmmError, VmmOptions};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Errors taking or restoring a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The arch cannot snapshot yet.
    #[error("snapshots are not supported on {0} yet")]
    Unsupported(&'static str),
    /// A file operation failed.
    #[error("{what} {path}")]
    Io {
        /// What failed.
        what: &'static str,
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The state file is not a valid snapshot.
    #[error("{path}")]
    Envelope {
        /// The file.
        path: String,
        /// What is wrong.
        #[source]
        source: EnvelopeError,
    },
    /// A section is malformed.
    #[error("{path}: section {tag}")]
    Section {
        /// The file.
        path: String,
        /// The section.
        tag: String,
        /// What is wrong.
        #[source]
        source: SectionError,
    },
    /// A mandatory section this tetra does not know.
    #[error("{path}: section {tag} (version {version}) is not understood by this tetra")]
    UnknownSection {
        /// The file.
        path: String,
        /// Its tag.
        tag: String,
        /// Its version.
        version: u16,
    },
    /// Something is missing or inconsistent.
    #[error("{path}: {why}")]
    Invalid {
        /// The file.
        path: String,
        /// What.
        why: String,
    },
    /// The memory file could not be written or mapped.
    #[error("memory file {path}")]
    Memory {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: MemFileError,
    },
    /// A device's state could not be restored.
    #[error(transparent)]
    Devices(#[from] RegistryError),
    /// A state file that is not a regular file, or cannot be opened.
    #[error(transparent)]
    File(#[from] crate::files::FileError),
    /// The memory file a state file names is missing, or not a regular file.
    #[error("cannot open the memory file")]
    MemoryFile(#[source] crate::files::FileError),
    /// The VM could not be paused, read or built.
    #[error(transparent)]
    Vmm(#[from] Box<VmmError>),
    /// An injected fault (tests of crash safety).
    #[error("stopped at {0:?} (injected)")]
    Injected(Step),
}

impl From<VmmError> for SnapshotError {
    fn from(e: VmmError) -> Self {
        SnapshotError::Vmm(Box::new(e))
    }
}

/// The steps of writing a snapshot, for tests that stop it part-way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The VM state is captured; nothing is written.
    Captured,
    /// The new memory file is written and fsynced.
    MemoryWritten,
    /// The new state file is written and fsynced under its temporary name.
    StateWritten,
    /// The state file is renamed into place.
    Renamed,
}

/// How far a snapshot's memory file has come, reported while it is written (at most every
/// [`SnapshotProgress::EVERY`], and at its end).
#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotProgress {
    /// Guest pages gone through (written, or found untouched and left a hole).
    pub done_pages: u64,
    /// Guest pages in all.
    pub total_pages: u64,
    /// Bytes of guest memory written to the memory file so far (untouched pages are holes).
    pub written_bytes: u64,
    /// Since the memory file was begun.
    pub elapsed: std::time::Duration,
}

impl SnapshotProgress {
    /// The least time between two reports.
    pub const EVERY: std::time::Duration = std::time::Duration::from_millis(250);
}

impl std::fmt::Display for SnapshotProgress {
    /// `writing memory, D of T pages, W MiB written, R MiB/s`: the `D of T pages` that
    /// `tetra ctl`'s progress bar reads.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            self.written_bytes as f64 / secs / (1 << 20) as f64
        } else {
            0.0
        };
        write!(
            f,
            "writing memory, {} of {} pages, {:.1} MiB written, {rate:.0} MiB/s",
            self.done_pages,
            self.total_pages,
            self.written_bytes as f64 / (1 << 20) as f64
        )
    }
}

/// What a snapshot wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    /// Bytes of the state file.
    pub state_bytes: u64,
    /// Guest pages written to the memory file.
    pub memory_pages: u64,
    /// Bytes of guest memory written.
    pub memory_bytes: u64,
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotError {
    let path = path.display().to_string();
    move |source| SnapshotError::Io { what, path, source }
}

fn nonce() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // A counter keeps two snapshots in one nanosecond apart.
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    t ^ (u64::from(std::process::id()) << 40)
        ^ N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn split(path: &Path) -> (PathBuf, String) {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let name = path.file_name().map_or_else(
        || "snapshot".to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    (dir, name)
}

fn fsync_dir(dir: &Path) -> Result<(), SnapshotError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsyncing the directory", dir))
}

/// Whether `file` is one of snapshot `name`'s memory or temporary files: `<name>.mem-<16 hex>` or
/// `.<name>.tmp-<16 hex>`.
fn is_snapshot_file(file: &str, name: &str) -> bool {
    let nonce = |s: &str| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit());
    file.strip_prefix(name)
        .and_then(|r| r.strip_prefix(".mem-"))
        .is_some_and(nonce)
        || file
            .strip_prefix('.')
            .and_then(|r| r.strip_prefix(name))
            .and_then(|r| r.strip_prefix(".tmp-"))
            .is_some_and(nonce)
}

/// After snapshot `name` switched to memory file `keep`: removes its other memory files and
/// temporary files (the previous snapshot's, and any a crash left behind). A VM still running
/// from one of them keeps its mapping.
fn remove_stale(dir: &Path, name: &str, keep: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let f = e.file_name();
        let f = f.to_string_lossy();
        if f != keep && is_snapshot_file(&f, name) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Reads and checks a state file: a regular file within the size cap, envelope, magic of arch
/// `A`. The file is checked first, so that a device or a FIFO is refused as such on an arch
/// that cannot snapshot yet too.
pub fn read_envelope<A: Arch>(path: &Path) -> Result<Envelope, SnapshotError> {
    let bytes = crate::files::read_regular(path, MAX_ENVELOPE_BYTES).map_err(|e| match e {
        crate::files::FileError::TooLarge { size, limit, .. } => SnapshotError::Envelope {
            path: path.display().to_string(),
            source: EnvelopeError::TooLarge {
                what: "the state file",
                got: size,
                limit,
            },
        },
        other => SnapshotError::File(other),
    })?;
    let magic = A::SNAPSHOT_MAGIC.ok_or(SnapshotError::Unsupported(A::NAME))?;
    Envelope::decode(&bytes, Some((magic, A::NAME))).map_err(|source| SnapshotError::Envelope {
        path: path.display().to_string(),
        source,
    })
}

impl<A: Arch> Vmm<A> {
    /// The VM's state as an envelope without `MEMS`: configuration, vCPUs, arch VM state,
    /// devices. The VM must be paused (or never started).
    pub fn capture_state(&mut self) -> Result<Envelope, SnapshotError> {
        let magic = A::SNAPSHOT_MAGIC.ok_or(SnapshotError::Unsupported(A::NAME))?;
        let mut env = Envelope::new(magic);
        env.push(sections::conf_section(self.config()));
        let table = self.register_table()?;
        let regs = self.save_vcpus(&table)?;
        let vm = self.shared().vm.clone();
        let extras = self.on_vcpus(move |_, vcpu| {
            A::save_vcpu_extra(&vm, vcpu).map_err(|e| crate::error_chain::chain(&e))
        })?;
        for (id, (r, x)) in regs.iter().zip(extras).enumerate() {
            let x = x.map_err(|why| SnapshotError::Invalid {
                path: "the running VM".into(),
                why: format!("vCPU {id}: {why}"),
            })?;
            env.push(sections::vcpu_section(id as u32, r, &x));
        }
        let sh = self.shared();
        for s in A::save_vm_state(&sh.vm, &sh.platform).map_err(VmmError::arch_error)? {
            env.push(s);
        }
        for s in sh.devices.state().save() {
            env.push(s);
        }
        env.push(sections::note_section());
        Ok(env)
    }

    /// Restores vCPU, arch and device state from `env` into this VM, which must not have run.
    pub fn apply_state(&mut self, env: &Envelope, path: &str) -> Result<(), SnapshotError> {
        let bad = |why: String| SnapshotError::Invalid {
            path: path.to_string(),
            why,
        };
        // Every mandatory section must be one this tetra reads.
        for s in &env.sections {
            let known = CORE_TAGS.contains(&s.tag)
                || A::VM_STATE_TAGS.contains(&s.tag)
                || self.shared().devices.state().tags().any(|t| *t == s.tag);
            if !known && !s.optional {
                return Err(SnapshotError::UnknownSection {
                    path: path.to_string(),
                    tag: s.tag_str(),
                    version: s.version,
                });
            }
        }
        let n = self.config().cpus as usize;
        let mut vcpus: Vec<Option<sections::VcpuSection>> = (0..n).map(|_| None).collect();
        for s in env.all(&TAG_VCPU) {
            let v = sections::read_vcpu(s).map_err(|source| SnapshotError::Section {
                path: path.to_string(),
                tag: "VCPU".into(),
                source,
            })?;
            let slot = vcpus
                .get_mut(v.id as usize)
                .ok_or_else(|| bad(format!("vCPU {} of {n}", v.id)))?;
            if slot.is_some() {
                return Err(bad(format!("vCPU {} appears twice", v.id)));
            }
            *slot = Some(v);
        }
        let vcpus: Vec<sections::VcpuSection> = vcpus
            .into_iter()
            .enumerate()
            .map(|(i, v)| v.ok_or_else(|| bad(format!("vCPU {i} is missing"))))
            .collect::<Result<_, _>>()?;

        let vm = self.shared().vm.clone();
        let extras: Arc<Vec<Vec<u8>>> = Arc::new(vcpus.iter().map(|v| v.extra.clone()).collect());
        for r in self.on_vcpus(move |id, vcpu| {
            A::restore_vcpu_extra(&vm, vcpu, &extras[id as usize])
                .map_err(|e| crate::error_chain::chain(&e))
        })? {
            r.map_err(|why| bad(format!("vCPU state: {why}")))?;
        }
        let sh = self.shared();
        A::restore_vm_state(&sh.vm, &sh.platform, env).map_err(VmmError::arch_error)?;
        let table = self.register_table()?;
        self.restore_vcpus(&table, vcpus.into_iter().map(|v| v.regs).collect())?;
        self.shared().devices.state().restore(env)?;
        // A power button the snapshot caught held down has no release pending in this process:
        // it is let go one hold after the VM starts (releasing a button that is up does nothing).
        if let Some(hold) = A::POWER_BUTTON_HOLD {
            self.button_release = Some(std::time::Instant::now() + hold);
        }
        Ok(())
    }

    /// Writes a snapshot to `path` (and its memory file beside it). A running VM is paused for
    /// the duration and resumed after.
    pub fn snapshot(&mut self, path: &Path) -> Result<SnapshotStats, SnapshotError> {
        self.snapshot_with(path, &mut |_| Ok(()))
    }

    /// [`Vmm::snapshot`], calling `progress` while the memory file is written (at most every
    /// [`SnapshotProgress::EVERY`], and once at its end).
    pub fn snapshot_reporting(
        &mut self,
        path: &Path,
        progress: &mut dyn FnMut(&SnapshotProgress),
    ) -> Result<SnapshotStats, SnapshotError> {
        self.snapshot_steps(path, &mut |_| Ok(()), progress)
    }

    /// [`Vmm::snapshot`], calling `hook` after each [`Step`]; an error from it stops the snapshot
    /// there, as a crash would.
    pub fn snapshot_with(
        &mut self,
        path: &Path,
        hook: &mut dyn FnMut(Step) -> Result<(), SnapshotError>,
    ) -> Result<SnapshotStats, SnapshotError> {
        self.snapshot_steps(path, hook, &mut |_| {})
    }

    fn snapshot_steps(
        &mut self,
        path: &Path,
        hook: &mut dyn FnMut(Step) -> Result<(), SnapshotError>,
        progress: &mut dyn FnMut(&SnapshotProgress),
    ) -> Result<SnapshotStats, SnapshotError> {
        A::SNAPSHOT_MAGIC.ok_or(SnapshotError::Unsupported(A::NAME))?;
        self.refuse_if_asleep("the guest is suspended to RAM (S3): snapshot it awake")?;
        // Memory that failed its check is never saved again under a fresh digest.
        self.verified_memory()?;
        let resume = self.state() == VmState::Running;
        if resume {
            self.pause_within(Some(crate::vm::PAUSE_LIMIT))?;
        }
        let r = self.write_snapshot(path, hook, progress);
        if resume {
            self.resume()?;
        }
        r
    }

    fn write_snapshot(
        &mut self,
        path: &Path,
        hook: &mut dyn FnMut(Step) -> Result<(), SnapshotError>,
        progress: &mut dyn FnMut(&SnapshotProgress),
    ) -> Result<SnapshotStats, SnapshotError> {
        // What KVM keeps in guest RAM goes there first, so that the memory file holds it.
        self.flush_to_guest_ram()?;
        let mut env = self.capture_state()?;
        hook(Step::Captured)?;
        let (dir, name) = split(path);
        let nonce = nonce();
        let mem_name = format!("{name}.mem-{nonce:016x}");
        let mem_path = dir.join(&mem_name);
        let tmp_path = dir.join(format!(".{name}.tmp-{nonce:016x}"));
        let cleanup = |e: SnapshotError| {
            let _ = std::fs::remove_file(&mem_path);
            let _ = std::fs::remove_file(&tmp_path);
            e
        };

        let mem = self.memory().memory();
        // Guest RAM is the guest's: readable by this user only.
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&mem_path)
            .map_err(io("cannot create", &mem_path))?;
        let page = crate::memory::page_size();
        let begun = std::time::Instant::now();
        let mut last: Option<std::time::Instant> = None;
        let mut report = |done: u64, total: u64, written: u64| {
            let now = std::time::Instant::now();
            if done < total && last.is_some_and(|l| now - l < SnapshotProgress::EVERY) {
                return;
            }
            last = Some(now);
            progress(&SnapshotProgress {
                done_pages: done.div_ceil(page),
                total_pages: total.div_ceil(page),
                written_bytes: written,
                elapsed: now - begun,
            });
        };
        let written = memfile::write_reporting(&mem, &f, nonce, &mut report).map_err(|source| {
            cleanup(SnapshotError::Memory {
                path: mem_path.display().to_string(),
                source,
            })
        })?;
        f.sync_all()
            .map_err(|e| cleanup(io("fsync of", &mem_path)(e)))?;
        drop(f);
        hook(Step::MemoryWritten).map_err(cleanup)?;

        env.push(sections::mems_section(&MemsInfo {
            file: mem_name.clone(),
            nonce,
            page_size: crate::memory::page_size() as u32,
            regions: memfile::layout_of(&mem),
            integrity: Some(MemIntegrity {
                file_size: written.file_size,
                digests: written.digests,
            }),
        }));
        drop(mem);
        let bytes = env.encode();
        let write_state = || -> std::io::Result<()> {
            let mut t = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp_path)?;
            t.write_all(&bytes)?;
            t.sync_all()
        };
        write_state().map_err(|e| cleanup(io("cannot write", &tmp_path)(e)))?;
        hook(Step::StateWritten).map_err(cleanup)?;

        std::fs::rename(&tmp_path, path).map_err(|e| cleanup(io("cannot rename into", path)(e)))?;
        fsync_dir(&dir)?;
        hook(Step::Renamed)?;
        remove_stale(&dir, &name, &mem_name);
        Ok(SnapshotStats {
            state_bytes: bytes.len() as u64,
            memory_pages: written.stats.pages,
            memory_bytes: written.stats.bytes,
        })
    }

    /// Builds a VM from the snapshot at `path`; it is not started. Its memory file is checked as
    /// [`Verify::default_for`] its configuration says.
    pub fn restore(path: &Path, options: VmmOptions) -> Result<Self, SnapshotError> {
        Self::restore_with(path, options, None)
    }

    /// [`Vmm::restore`], checking the memory file's digests as `verify` says (`None`: the
    /// default for the snapshot's configuration). The memory file's size and nonce are checked
    /// in every mode, before it is mapped.
    pub fn restore_with(
        path: &Path,
        options: VmmOptions,
        verify: Option<Verify>,
    ) -> Result<Self, SnapshotError> {
        let env = read_envelope::<A>(path)?;
        let p = path.display().to_string();
        let section = |tag: &[u8; 4]| {
            env.section(tag).ok_or_else(|| SnapshotError::Invalid {
                path: p.clone(),
                why: format!("section {} is missing", String::from_utf8_lossy(tag)),
            })
        };
        let sec_err = |tag: &str| {
            let p = p.clone();
            let tag = tag.to_string();
            move |source| SnapshotError::Section {
                path: p,
                tag,
                source,
            }
        };
        let config = sections::read_conf(section(&TAG_CONF)?).map_err(sec_err("CONF"))?;
        let mems = sections::read_mems(section(&TAG_MEMS)?).map_err(sec_err("MEMS"))?;
        if u64::from(mems.page_size) != crate::memory::page_size() {
            return Err(SnapshotError::Invalid {
                path: p,
                why: format!(
                    "written with {}-byte pages; this host uses {}",
                    mems.page_size,
                    crate::memory::page_size()
                ),
            });
        }
        let verify = verify.unwrap_or_else(|| Verify::default_for(&config));
        let (dir, _) = split(path);
        let mem_path = dir.join(&mems.file);
        let mem_err = |source| SnapshotError::Memory {
            path: mem_path.display().to_string(),
            source,
        };
        let (f, _) = crate::files::open_regular(&mem_path).map_err(SnapshotError::MemoryFile)?;
        if let Some(i) = &mems.integrity {
            memfile::check_binding(&f, &mems.regions, mems.nonce, mems.page_size, i.file_size)
                .map_err(mem_err)?;
            if verify == Verify::Eager {
                let never = std::sync::atomic::AtomicBool::new(false);
                super::digest::check_file(
                    &f,
                    &mems.regions,
                    &i.digests,
                    verify::eager_threads(),
                    &never,
                )
                .map_err(|e| mem_err(e.into()))?;
            }
        }
        let map = memfile::map(&f, &mems.regions).map_err(mem_err)?;
        let mut vmm = Vmm::<A>::build(config, options, crate::vm::Origin::Restore(map))?;
        vmm.apply_state(&env, &p)?;
        if let (Verify::Lazy, Some(i)) = (verify, mems.integrity) {
            let check = MemoryCheck::spawn(
                f,
                mem_path.clone(),
                mems.regions,
                i.digests,
                vmm.exit_notifier().clone(),
                Some(vmm.sandbox()),
            )
            .map_err(io("cannot start the check of", &mem_path))?;
            vmm.set_memory_check(check);
        }
        Ok(vmm)
    }
}

/// `tetra inspect snapshot`: the envelope and its sections as JSON.
pub fn describe_json(env: &Envelope, path: &str) -> String {
    use crate::json::{json, Value};
    let sections: Vec<Value> = env
        .sections
        .iter()
        .map(|s| {
            let mut o = json!({
                "tag": s.tag_str(),
                "version": s.version,
                "optional": s.optional,
                "bytes": s.data.len(),
            });
            let detail = match &s.tag {
                t if t == &TAG_CONF => sections::read_conf(s).ok().map(|c| {
                    let disks: Vec<Value> = c
                        .virtio
                        .disks
                        .iter()
                        .map(|d| {
                            json!({
                                "path": d.path.to_string_lossy(),
                                "read_only": d.read_only,
                                "id": d.id,
                            })
                        })
                        .collect();
                    let vsock = c.virtio.vsock.as_ref().map(|v| {
                        json!({
                            "cid": v.cid,
                            "uds": v.uds.as_ref().map(|p| p.to_string_lossy()).unwrap_or_default(),
                        })
                    });
                    json!({
                        "cpus": c.cpus,
                        "mem_mib": c.mem_mib,
                        "cmdline": c.cmdline,
                        "rng": c.virtio.rng,
                        "disks": disks,
                        "vsock": vsock,
                    })
                }),
                t if t == &TAG_MEMS => sections::read_mems(s).ok().map(|m| {
                    let regions: Vec<Value> = m
                        .regions
                        .iter()
                        .map(|r| {
                            json!({
                                "guest_addr": r.guest_addr,
                                "size": r.size,
                                "file_offset": r.file_offset,
                            })
                        })
                        .collect();
                    let mut d = json!({
                        "file": m.file,
                        "nonce": format!("{:016x}", m.nonce),
                        "page_size": m.page_size,
                        "regions": regions,
                        "verified": m.integrity.is_some(),
                    });
                    if let (Some(i), Value::Object(d)) = (&m.integrity, &mut d) {
                        d.insert("file_size".into(), i.file_size.into());
                        d.insert("chunk_bytes".into(), i.digests.chunk_bytes.into());
                        d.insert("digests".into(), i.digests.digests.len().into());
                    }
                    d
                }),
                t if t == &TAG_VCPU => sections::read_vcpu(s)
                    .ok()
                    .map(|v| json!({"vcpu": v.id, "registers": v.regs.len()})),
                _ => None,
            };
            if let (Some(Value::Object(detail)), Value::Object(o)) = (detail, &mut o) {
                o.extend(detail);
            }
            o
        })
        .collect();
    crate::json::pretty(&json!({
        "path": path,
        "magic": String::from_utf8_lossy(&env.magic),
        "version": format!("{}.{}", env.major, env.minor),
        "sections": sections,
    }))
}

/// The section tags and sizes, for messages.
pub fn summary(env: &Envelope) -> Vec<(String, usize)> {
    env.sections
        .iter()
        .map(|s: &Section| (s.tag_str(), s.data.len()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::is_snapshot_file;

    #[test]
    fn only_this_snapshots_files_are_stale_candidates() {
        assert!(is_snapshot_file("vm.snap.mem-0123456789abcdef", "vm.snap"));
        assert!(is_snapshot_file(".vm.snap.tmp-0123456789abcdef", "vm.snap"));
        assert!(!is_snapshot_file("vm.snap", "vm.snap"));
        assert!(!is_snapshot_file("vm.snap.mem-0123", "vm.snap"));
        assert!(!is_snapshot_file(
            "vm.snap2.mem-0123456789abcdef",
            "vm.snap"
        ));
        assert!(!is_snapshot_file("other.mem-0123456789abcdef", "vm.snap"));
        assert!(!is_snapshot_file("vm.snap.mem-0123456789abcdeg", "vm.snap"));
    }
}
