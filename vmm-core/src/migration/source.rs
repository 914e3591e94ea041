//! The sending side: [`Vmm::migrate`].

use super::channel::{Channel, ChannelError};
use super::frame::{FrameError, Kind, MAGIC, VERSION};
use super::pages;
use super::transport::{self, Stream, Uri};
use super::{MigrationError, DISK_LOCK_WAIT};
use crate::arch::{Arch, PrecopyPass};
use crate::exit::GuestExit;
use crate::snapshot::memfile::touched_pages;
use crate::snapshot::sections;
use crate::vm::{VmState, Vmm};
use crate::wire::Writer;
use std::time::{Duration, Instant};
use vm_memory::{Address, GuestMemoryBackend, GuestMemoryRegion};

/// Pages per `PAGES` frame at most (1 MiB of 4 KiB pages).
const BATCH: usize = 256;

/// How a migration is run.
#[derive(Clone, Debug)]
pub struct MigrateOptions {
    /// Stop pre-copying when what is left would take at most this long to send.
    pub downtime_target: Duration,
    /// Pre-copy rounds at most.
    pub max_rounds: u32,
    /// Rounds without progress before stop-and-copy anyway.
    pub stall_rounds: u32,
    /// Read/write timeout on the stream.
    pub io_timeout: Duration,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        MigrateOptions {
            downtime_target: Duration::from_millis(20),
            max_rounds: 30,
            stall_rounds: 3,
            io_timeout: Duration::from_secs(30),
        }
    }
}

/// Where a migration is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Copying while the guest runs.
    PreCopy,
    /// The guest is paused; the last pages and the state go over.
    StopAndCopy,
    /// The destination has the guest.
    Done,
}

/// How often a round that is still sending reports its progress.
const SENDING_REPORT: Duration = Duration::from_millis(250);

/// A progress report: after each round, and while a pre-copy round sends (at most every
/// quarter second, [`Progress::sending`] set).
#[derive(Clone, Debug)]
pub struct Progress {
    /// The phase.
    pub phase: Phase,
    /// The round (0: the first full copy).
    pub round: u32,
    /// Bytes sent so far.
    pub bytes: u64,
    /// Pages sent so far.
    pub pages: u64,
    /// Pages dirty and not yet sent.
    pub dirty_pages: u64,
    /// Pages dirtied per second during the last round.
    pub dirty_rate: f64,
    /// Bytes per second sent.
    pub bandwidth: f64,
    /// What stop-and-copy would take now.
    pub expected_downtime: Duration,
    /// While a round sends: its pages sent so far and its pages in all (`dirty_pages` is then
    /// what is left of it); `None` in the report after a round.
    pub sending: Option<(u64, u64)>,
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some((done, all)) = self.sending {
            return write!(
                f,
                "{:?} round {}: sending, {done} of {all} pages; sent {:.1} MiB, {:.0} MiB/s",
                self.phase,
                self.round,
                self.bytes as f64 / (1 << 20) as f64,
                self.bandwidth / (1 << 20) as f64,
            );
        }
        write!(
            f,
            "{:?} round {}: sent {:.1} MiB ({} pages), dirty {} pages, dirty rate {:.0} pages/s, {:.0} MiB/s, expected downtime {:.1} ms",
            self.phase,
            self.round,
            self.bytes as f64 / (1 << 20) as f64,
            self.pages,
            self.dirty_pages,
            self.dirty_rate,
            self.bandwidth / (1 << 20) as f64,
            self.expected_downtime.as_secs_f64() * 1e3
        )
    }
}

/// What a migration did.
#[derive(Clone, Debug, Default)]
pub struct MigrationStats {
    /// Pre-copy rounds.
    pub rounds: u32,
    /// Bytes sent (frames included).
    pub bytes: u64,
    /// Pages sent.
    pub pages: u64,
    /// Start to GO.
    pub total: Duration,
    /// Pause to GO: how long the guest did not run.
    pub downtime: Duration,
    /// ARCH frames sent during pre-copy, the guest running ([`Arch::precopy_state`]; ppc64
    /// KVM-PR: the hash table, all of it and then each round's changes): more than one means
    /// state that changed during pre-copy went before the pause.
    pub arch_frames: u32,
    /// Whether the final state carried the last pass's changes of that state instead of all
    /// of it.
    pub arch_final_changes: bool,
}

struct Sender<'a> {
    ch: Channel<'a, dyn Stream>,
    bytes: u64,
    pages: u64,
    sending: Duration,
    /// The PAGES body being built, kept from frame to frame.
    buf: Vec<u8>,
    /// ARCH frames sent so far.
    arch_frames: u32,
}

impl Sender<'_> {
    fn frame(&mut self, kind: Kind, payload: &[u8]) -> Result<(), MigrationError> {
        let t = Instant::now();
        match self.ch.send(kind, payload) {
            Ok(n) => self.bytes += n,
            // The destination hung up: it may have said why before it did.
            Err(ChannelError::Frame(FrameError::Closed)) => {
                return Err(match self.ch.recv() {
                    Ok(f) if f.kind == Kind::Error => remote(f.body()),
                    _ => FrameError::Closed.into(),
                })
            }
            Err(e) => return Err(e.into()),
        }
        self.sending += t.elapsed();
        Ok(())
    }

    fn bandwidth(&self) -> f64 {
        self.bytes as f64 / self.sending.as_secs_f64().max(1e-6)
    }

    fn reply(&mut self, want: Kind) -> Result<(), MigrationError> {
        let f = self.ch.recv()?;
        match f.kind {
            k if k == want => Ok(()),
            Kind::Error => Err(remote(f.body())),
            k => Err(MigrationError::Protocol(format!(
                "expected {want:?}, got {k:?}"
            ))),
        }
    }
}

fn remote(message: &[u8]) -> MigrationError {
    MigrationError::Remote {
        side: "destination",
        message: String::from_utf8_lossy(message).into_owned(),
    }
}

impl<A: Arch> Vmm<A> {
    /// Sends all pending dirty pages; `sent` hears after each batch how many of them went
    /// (cumulative) and how many there were.
    fn send_dirty(
        &mut self,
        tx: &mut Sender<'_>,
        sent: &mut dyn FnMut(&Sender<'_>, u64, u64),
    ) -> Result<(), MigrationError> {
        let page = crate::memory::page_size() as usize;
        let mem = self.memory().memory();
        let size = pages::max_body(BATCH, page);
        if tx.buf.len() < size {
            tx.buf = vec![0u8; size];
        }
        let all = self
            .dirty_log()
            .expect("logging is on during a migration")
            .pending();
        let mut done = 0;
        loop {
            let gpas = self
                .dirty_log()
                .expect("logging is on during a migration")
                .take(0..u64::MAX, BATCH);
            if gpas.is_empty() {
                return Ok(());
            }
            let len = pages::encode(&mem, &gpas, page, &mut tx.buf)
                .map_err(|e| MigrationError::Protocol(crate::error_chain::chain(&e)))?;
            let body = std::mem::take(&mut tx.buf);
            let sent_frame = tx.frame(Kind::Pages, &body[..len]);
            tx.buf = body;
            sent_frame?;
            tx.pages += gpas.len() as u64;
            done += gpas.len() as u64;
            sent(tx, done, all);
        }
    }

    /// The arch's pre-copy state for `pass` ([`Arch::precopy_state`]).
    fn arch_precopy(
        &self,
        pass: PrecopyPass,
    ) -> Result<Option<crate::snapshot::Section>, MigrationError> {
        let sh = self.shared();
        A::precopy_state(&sh.vm, &sh.platform, pass)
            .map_err(|e| Box::new(crate::vm::VmmError::arch_error(e)).into())
    }

    /// Sends the arch's pre-copy state for `pass` in an ARCH frame, if it has any.
    fn send_arch_precopy(
        &self,
        tx: &mut Sender<'_>,
        pass: PrecopyPass,
    ) -> Result<(), MigrationError> {
        if let Some(s) = self.arch_precopy(pass)? {
            tx.frame(Kind::Arch, &super::arch_frame(&s))?;
            tx.arch_frames += 1;
        }
        Ok(())
    }

    /// Migrates the VM to the destination listening at `uri` (`unix:PATH` or `tcp:HOST:PORT`),
    /// reporting after each round. On success the guest runs there and this VM ends
    /// ([`GuestExit::Migrated`]); on failure it keeps running here, as it was.
    pub fn migrate(
        &mut self,
        uri: &str,
        opts: &MigrateOptions,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<MigrationStats, MigrationError> {
        let magic = A::SNAPSHOT_MAGIC.ok_or(MigrationError::Unsupported(A::NAME))?;
        let uri = Uri::parse(uri)?;
        self.refuse_if_asleep("the guest is suspended to RAM (S3): migrate it awake")?;
        // Memory that failed its check (a lazily verified restore) never leaves.
        self.verified_memory()?;
        let start = Instant::now();
        let mut stream = transport::connect(&uri, opts.io_timeout)?;
        stream
            .set_timeouts(Some(opts.io_timeout))
            .map_err(|e| MigrationError::Protocol(format!("setting timeouts: {e}")))?;
        let mut tx = Sender {
            ch: Channel::new(&mut *stream),
            bytes: 0,
            pages: 0,
            sending: Duration::ZERO,
            buf: Vec::new(),
            arch_frames: 0,
        };
        let mut hello = Writer::new();
        hello.bytes(MAGIC);
        hello.u16(VERSION);
        hello.bytes(&magic);
        hello.u32(crate::memory::page_size() as u32);
        let conf = sections::conf_section(self.config());
        hello.u16(conf.version);
        hello.blob(&conf.data);
        tx.frame(Kind::Hello, &hello.buf)?;
        tx.reply(Kind::HelloOk)?;
        tx.ch.start_sequence();

        let was_running = self.state() == VmState::Running;
        // Devices whose data path is in the host kernel write guest RAM without a dirty log:
        // stopped for the whole migration (before the log starts), running again after a failure.
        let _offloads = self.shared().devices.offload_gate().hold();
        self.start_dirty_log()?;
        let mut paused_here = false;
        let r = self.precopy_and_finish(&mut tx, opts, progress, &mut paused_here, start);
        let _ = self.stop_dirty_log();
        if r.is_err() {
            let _ = self.arch_precopy(PrecopyPass::Cancel);
        }
        match r {
            Ok(stats) => {
                self.exit_notifier().end(GuestExit::Migrated);
                Ok(stats)
            }
            Err(e) => {
                if paused_here && was_running {
                    self.resume()?;
                }
                Err(e)
            }
        }
    }

    fn precopy_and_finish(
        &mut self,
        tx: &mut Sender<'_>,
        opts: &MigrateOptions,
        progress: &mut dyn FnMut(&Progress),
        paused_here: &mut bool,
        start: Instant,
    ) -> Result<MigrationStats, MigrationError> {
        let page = crate::memory::page_size();
        // Round 0: the pages the guest ever touched. Harvest first (it re-protects), then ask
        // which pages are touched: a page written in between is dirty in the next round.
        self.harvest_dirty()?;
        {
            let mem = self.memory().memory();
            let touched: Vec<(u64, u64, Vec<bool>)> = mem
                .iter()
                .map(|r| (r.start_addr().raw_value(), r.len(), touched_pages(r)))
                .collect();
            self.dirty_log().unwrap().retain(|gpa| {
                touched.iter().any(|(base, len, t)| {
                    gpa >= *base && gpa < base + len && t[((gpa - base) / page) as usize]
                })
            });
        }
        let mut round = 0u32;
        let mut last = Instant::now();
        let mut best = u64::MAX;
        let mut stalled = 0;
        let mut expected_downtime = Duration::ZERO;
        loop {
            let mut reported = Instant::now();
            self.send_dirty(tx, &mut |tx, done, all| {
                if done < all && reported.elapsed() >= SENDING_REPORT {
                    reported = Instant::now();
                    progress(&Progress {
                        phase: Phase::PreCopy,
                        round,
                        bytes: tx.bytes,
                        pages: tx.pages,
                        dirty_pages: all - done,
                        dirty_rate: 0.0,
                        bandwidth: tx.bandwidth(),
                        expected_downtime,
                        sending: Some((done, all)),
                    });
                }
            })?;
            // State outside guest RAM that the guest changes as it runs: all of it in round 0,
            // then what changed.
            let pass = if round == 0 {
                PrecopyPass::First
            } else {
                PrecopyPass::Changes
            };
            self.send_arch_precopy(tx, pass)?;
            let mut w = Writer::new();
            w.u32(round);
            tx.frame(Kind::Round, &w.buf)?;
            round += 1;
            let new = self.harvest_dirty()?;
            let pending = self.dirty_log().unwrap().pending();
            let elapsed = last.elapsed().as_secs_f64().max(1e-6);
            last = Instant::now();
            let bandwidth = tx.bandwidth();
            let expected = Duration::from_secs_f64((pending * page) as f64 / bandwidth.max(1.0));
            progress(&Progress {
                phase: Phase::PreCopy,
                round,
                bytes: tx.bytes,
                pages: tx.pages,
                dirty_pages: pending,
                dirty_rate: new as f64 / elapsed,
                bandwidth,
                expected_downtime: expected,
                sending: None,
            });
            expected_downtime = expected;
            if self.exit_notifier().is_ending() {
                return Err(MigrationError::Protocol(
                    "the guest ended during the migration".into(),
                ));
            }
            if pending < best {
                best = pending;
                stalled = 0;
            } else {
                stalled += 1;
            }
            if expected <= opts.downtime_target
                || round >= opts.max_rounds
                || stalled >= opts.stall_rounds
            {
                break;
            }
        }

        // Stop and copy.
        let paused_at = Instant::now();
        if self.state() == VmState::Running {
            self.pause_within(Some(crate::vm::PAUSE_LIMIT))?;
            *paused_here = true;
        }
        // Stop-and-copy order: what KVM keeps in guest RAM goes there, then the last dirty
        // pages (KVM's log and userspace writes alike) go over, then the state.
        self.flush_to_guest_ram()?;
        self.harvest_dirty()?;
        self.send_dirty(tx, &mut |_, _, _| {})?;
        let last = self.arch_precopy(PrecopyPass::Final)?;
        let mut state = self.capture_state()?;
        // What pre-copy sent of the arch's state is at the destination: the final state carries
        // only its last changes.
        let arch_final_changes = last.is_some();
        if let Some(s) = last {
            match state.sections.iter_mut().find(|x| x.tag == s.tag) {
                Some(x) => *x = s,
                None => state.push(s),
            }
        }
        tx.frame(Kind::State, &state.encode())?;
        let end = tx.ch.sent(tx.pages).encode();
        tx.frame(Kind::End, &end)?;
        // The disk images' locks go to the destination (on this host it waits for them before
        // READY); if it never says READY, they come back before the guest runs on here.
        self.release_disk_locks();
        if let Err(e) = tx.reply(Kind::Ready) {
            if let Err(lock) = self.take_disk_locks(DISK_LOCK_WAIT) {
                // Running on without the lock could let two writers at the image: stay paused.
                *paused_here = false;
                return Err(MigrationError::Protocol(format!(
                    "{}; and the VM stays paused: {}",
                    crate::error_chain::chain(&e),
                    crate::error_chain::chain(&lock)
                )));
            }
            return Err(e);
        }
        tx.frame(Kind::Go, &[])?;
        if let Err(e) = tx.reply(Kind::Started) {
            // GO may or may not have arrived: resuming here could run the guest twice, ending
            // here could lose it. Keep it paused and say so.
            *paused_here = false;
            return Err(MigrationError::Unknown(Box::new(e)));
        }
        let stats = MigrationStats {
            rounds: round,
            bytes: tx.bytes,
            pages: tx.pages,
            total: start.elapsed(),
            downtime: paused_at.elapsed(),
            arch_frames: tx.arch_frames,
            arch_final_changes,
        };
        progress(&Progress {
            phase: Phase::Done,
            round,
            bytes: tx.bytes,
            pages: tx.pages,
            dirty_pages: 0,
            dirty_rate: 0.0,
            bandwidth: tx.bandwidth(),
            expected_downtime: stats.downtime,
            sending: None,
        });
        Ok(stats)
    }
}
