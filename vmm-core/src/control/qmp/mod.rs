//! A QMP subset (`tetra run --qmp unix:PATH`): QEMU's machine protocol, for tooling written
//! against QEMU ([`wire`] has the format).
//!
//! ```text
//! qmp_capabilities  query-status  stop  cont  system_reset  system_powerdown  quit
//! migrate {"uri": "unix:PATH"|"tcp:HOST:PORT"}  query-migrate  migrate-set-capabilities (every
//! capability ignored, with a warning)  query-cpus-fast  query-commands  query-version
//! events: STOP  RESUME  SHUTDOWN  MIGRATION
//! ```
//!
//! The server runs on a thread of its own, so it answers while the VMM's thread is busy: during
//! a migration (`query-migrate` says `active` with the last round's figures) and on a
//! migration's destination before its VM exists (`query-status` says `inmigrate`). Queries are
//! answered from the shared status model ([`crate::control::status`]); `stop`, `cont`,
//! `system_reset`, `system_powerdown` and `quit` go to the VMM's thread through the same request queue as the other
//! control socket ([`crate::control::Request`]), which answers them through an outbox. `migrate`
//! answers `{}` at once, as QEMU does; the migration itself runs on the VMM's thread.
//!
//! `system_powerdown` presses the guest's power button, as QEMU's does: x86's ACPI fixed-feature
//! button (PM1 PWRBTN_STS, the SCI if the guest enabled PWRBTN_EN; a guest suspended to RAM
//! wakes). The guest decides what a press means: Linux turns it into a KEY_POWER input event,
//! and its userspace (systemd-logind, acpid) powers off; a guest without either ignores it. The
//! answer `{}` says the button was pressed, not that the guest will stop: its SHUTDOWN event
//! says that. On arm64, ppc64 and BookE the command fails (`GenericError`, no power button).
//!
//! The thread runs under the main thread's seccomp filter (the same syscalls: sockets, epoll,
//! eventfds).

pub mod answers;
mod server;
pub mod wire;

pub use server::{MAX_CLIENTS, MAX_LINE, MAX_OUTPUT};

use crate::control::status::{RunState, Status};
use crate::control::Link;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vmm_sys_util::eventfd::EventFd;

/// Errors starting the QMP server.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    /// The socket could not be bound.
    #[error("--qmp {path}")]
    Listen {
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: crate::socket::ListenError,
    },
    /// A host resource failed (eventfd, epoll, the thread).
    #[error("starting the QMP server: {what}")]
    Host {
        /// What.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Replies from the VMM's thread to QMP clients, and the bell that wakes the QMP thread.
pub struct Outbox {
    lines: Mutex<Vec<(u32, String)>>,
    bell: EventFd,
}

impl Outbox {
    /// Queues `line` for client `client`.
    pub fn put(&self, client: u32, line: String) {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((client, line));
        let _ = self.bell.write(1);
    }

    fn take(&self) -> Vec<(u32, String)> {
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The running QMP server; dropping it stops the thread ([`Qmp::finish`] first delivers what
/// is queued).
pub struct Qmp {
    link: Link,
    outbox: Arc<Outbox>,
    stop: Arc<AtomicBool>,
    done: std::sync::mpsc::Receiver<()>,
    path: PathBuf,
    inode: Option<(u64, u64)>,
}

fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

impl Qmp {
    /// Listens at `path` (never taking over someone else's file, as the control socket) and
    /// starts the QMP thread. `run` is where the VM starts: `inmigrate` for a destination.
    /// `sandbox` is the filter the thread puts itself under.
    pub fn start(
        path: &Path,
        run: RunState,
        sandbox: crate::sandbox::Sandbox,
    ) -> Result<Qmp, QmpError> {
        let host = |what| move |source| QmpError::Host { what, source };
        let listener = crate::socket::listen(path).map_err(|source| QmpError::Listen {
            path: path.display().to_string(),
            source,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(host("a non-blocking socket"))?;
        let link = Link::new(Status::new(run)).map_err(host("an eventfd"))?;
        link.status.listen();
        let outbox = Arc::new(Outbox {
            lines: Mutex::new(Vec::new()),
            bell: EventFd::new(libc::EFD_NONBLOCK).map_err(host("an eventfd"))?,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, done) = std::sync::mpsc::channel();
        let server = server::Server::new(
            listener,
            link.clone(),
            outbox.clone(),
            path.to_path_buf(),
            file_id(path),
        );
        let mut em = event_manager::EventManager::<server::Server>::new()
            .map_err(|e| host("an epoll")(std::io::Error::other(e.to_string())))?;
        let id = {
            use event_manager::SubscriberOps;
            em.add_subscriber(server)
        };
        let stopping = stop.clone();
        std::thread::Builder::new()
            .name("qmp".into())
            .spawn(move || {
                let mut sandbox = sandbox;
                sandbox.probe = None;
                // Never unfiltered: a filter that cannot be installed ends tetra, as on every
                // thread of the VM.
                sandbox.enter_or_exit(crate::sandbox::ThreadKind::Main);
                while !stopping.load(Ordering::Acquire) {
                    if em.run_with_timeout(-1).is_err() {
                        break;
                    }
                }
                use event_manager::SubscriberOps;
                if let Ok(s) = em.subscriber_mut(id) {
                    s.drain(Instant::now() + Duration::from_secs(2));
                }
                let _ = tx.send(());
            })
            .map_err(host("the thread"))?;
        Ok(Qmp {
            link,
            outbox,
            stop,
            done,
            inode: file_id(path),
            path: path.to_path_buf(),
        })
    }

    /// What the VM shares with this server (its request queue, bell and status model).
    pub fn link(&self) -> Link {
        self.link.clone()
    }

    /// Delivers what is queued (a SHUTDOWN event, a reply to `quit`) within `limit`, and stops
    /// the thread.
    pub fn finish(&mut self, limit: Duration) {
        if self.stop.swap(true, Ordering::AcqRel) {
            return;
        }
        let _ = self.outbox.bell.write(1);
        let _ = self.done.recv_timeout(limit + Duration::from_millis(500));
    }
}

impl Drop for Qmp {
    fn drop(&mut self) {
        self.finish(Duration::from_millis(100));
        if self.inode.is_some() && file_id(&self.path) == self.inode {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::io::{BufRead, BufReader, Read, Write};
    use std::os::unix::net::UnixStream;

    static NO_TABLE: crate::sandbox::SyscallTable = crate::sandbox::SyscallTable {
        arch: "none",
        audit_arch: 0,
        big_endian: false,
        fionbio: 0,
        fionread: 0,
        tunsetoffload: 0,
        numbers: &[],
    };

    fn line(r: &mut BufReader<UnixStream>) -> Value {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        serde_json::from_str(&l).unwrap_or_else(|e| panic!("{e}: {l:?}"))
    }

    #[test]
    fn serves_queries_events_and_vmm_replies_on_its_own_thread() {
        let d = std::env::temp_dir().join(format!("tetra-qmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let path = d.join("qmp");
        let sandbox = crate::sandbox::Sandbox {
            mode: crate::sandbox::SeccompMode::Off,
            table: &NO_TABLE,
            probe: None,
        };
        let mut qmp = Qmp::start(&path, RunState::InMigrate, sandbox).unwrap();
        let link = qmp.link();
        let c = UnixStream::connect(&path).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut w = c.try_clone().unwrap();
        let mut r = BufReader::new(c);
        assert!(line(&mut r)["QMP"]["capabilities"].is_array());
        writeln!(w, r#"{{"execute":"query-status","id":1}}"#).unwrap();
        let v = line(&mut r);
        assert_eq!(v["error"]["class"], "CommandNotFound", "{v}");
        assert_eq!(v["id"], 1);
        writeln!(w, r#"{{"execute":"qmp_capabilities"}}"#).unwrap();
        assert_eq!(line(&mut r), json!({"return": {}}));
        writeln!(w, r#"{{"execute":"query-status"}}"#).unwrap();
        assert_eq!(line(&mut r)["return"]["status"], "inmigrate");
        // A change of the model is an event, with no request.
        link.status.set_run(RunState::Running);
        assert_eq!(line(&mut r)["event"], "RESUME");
        // stop goes to the VMM's queue (its bell rung); the VMM's reply comes back with the id.
        writeln!(w, r#"{{"execute":"stop","id":"s"}}"#).unwrap();
        let t = Instant::now();
        let (req, reply) = loop {
            if let Some(x) = link.queue.lock().unwrap().pop_front() {
                break x;
            }
            assert!(t.elapsed() < Duration::from_secs(10), "stop never queued");
            std::thread::sleep(Duration::from_millis(1));
        };
        assert_eq!(req, crate::control::Request::Pause);
        // The bell rings just after the request is queued (the QMP thread may be between).
        let t = Instant::now();
        while link.bell.read().is_err() {
            assert!(t.elapsed() < Duration::from_secs(10), "the bell never rang");
            std::thread::sleep(Duration::from_millis(1));
        }
        reply.ok("");
        assert_eq!(line(&mut r), json!({"return": {}, "id": "s"}));
        // A line past the limit: an error, then the end.
        let mut big = UnixStream::connect(&path).unwrap();
        big.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = big.write_all(&vec![b'x'; MAX_LINE + 10]);
        let mut got = Vec::new();
        let _ = big.read_to_end(&mut got);
        assert!(
            String::from_utf8_lossy(&got).contains("longer than"),
            "{got:?}"
        );
        // The end: SHUTDOWN reaches the client before the thread stops.
        link.status.shut_down(false, "host-qmp-quit");
        qmp.finish(Duration::from_secs(2));
        let v = line(&mut r);
        assert_eq!(v["event"], "STOP");
        let v = line(&mut r);
        assert_eq!(v["event"], "SHUTDOWN");
        assert_eq!(
            link.status.take_events().len(),
            0,
            "delivered, not left queued"
        );
        drop(qmp);
        assert!(!path.exists(), "the socket file is removed");
        let _ = std::fs::remove_dir_all(&d);
    }
}
