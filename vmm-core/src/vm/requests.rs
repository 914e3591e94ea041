//! The control socket's requests, served on the VMM's thread between events. Each answer has a
//! text form (the line protocol's `ok: ...`) and a JSON form (the HTTP API's body,
//! `docs/api.yaml`).

use super::{VmState, Vmm, VmmError, PAUSE_LIMIT};
use crate::arch::Arch;
use crate::control::{Refusal, Reply, Request};
use crate::error_chain::chain;
use crate::exit::GuestExit;
use crate::migration::{MigrationError, MigrationStats, Progress};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The last migration this VM started, for `GET /vm/migration`. A migration runs on the VMM's
/// thread from start to end, so a request for its status is answered after it: this is always a
/// finished one (and a successful one ends the VM, so it is seen only by a request already
/// waiting in the queue).
pub(super) struct MigrationRecord {
    uri: String,
    outcome: Result<MigrationStats, String>,
    last_progress: Option<Progress>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn vmm_refusal(e: &VmmError) -> Refusal {
    let status = match e {
        VmmError::State(_) => 409,
        _ => 500,
    };
    Refusal::new(status, chain(e))
}

/// A pause's or resume's answer: `ok` and the state now.
fn done(reply: Reply, r: Result<(), VmmError>, now: VmState) {
    match r {
        Ok(()) => reply.answer("", json!({ "state": format!("{now:?}").to_lowercase() })),
        Err(e) => reply.refuse(vmm_refusal(&e)),
    }
}

fn progress_json(p: &Progress) -> Value {
    json!({
        "phase": format!("{:?}", p.phase).to_lowercase(),
        "round": p.round,
        "bytes": p.bytes,
        "pages": p.pages,
        "dirty_pages": p.dirty_pages,
        "dirty_rate": p.dirty_rate,
        "bandwidth": p.bandwidth,
        "expected_downtime_ms": ms(p.expected_downtime),
    })
}

impl MigrationRecord {
    fn json(&self) -> Value {
        let mut v = json!({ "uri": self.uri });
        match &self.outcome {
            Ok(s) => {
                v["state"] = json!("succeeded");
                v["rounds"] = json!(s.rounds);
                v["bytes"] = json!(s.bytes);
                v["pages"] = json!(s.pages);
                v["total_ms"] = json!(ms(s.total));
                v["downtime_ms"] = json!(ms(s.downtime));
            }
            Err(e) => {
                v["state"] = json!("failed");
                v["error"] = json!(e);
            }
        }
        if let Some(p) = &self.last_progress {
            v["last_progress"] = progress_json(p);
        }
        v
    }
}

impl<A: Arch> Vmm<A> {
    /// Tells the status model how the VM ended (QMP's SHUTDOWN event); a guest that went to a
    /// destination is `postmigrate` already and ends with `quit`.
    pub(super) fn announce_end(&self, end: &GuestExit) {
        let (guest, reason) = match end {
            GuestExit::Migrated => return,
            GuestExit::PowerOff | GuestExit::DebugExit(_) => (true, "guest-shutdown"),
            GuestExit::Reset => (true, "guest-reset"),
            GuestExit::Crash(_) => (true, "guest-panic"),
            GuestExit::Quit => (false, "host-qmp-quit"),
            GuestExit::CorruptMemory(_) => (false, "host-error"),
        };
        self.link.status.shut_down(guest, reason);
    }

    /// After the guest went to a destination: serves the control requests that read (status,
    /// the migration's outcome, ...) until a `quit` (QMP) ends this tetra, as QEMU's source does
    /// in `postmigrate`. Every other request is refused.
    pub fn serve_until_quit(&mut self) -> Result<(), VmmError> {
        loop {
            let next = self
                .link
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front();
            match next {
                Some((Request::Quit, reply)) => {
                    reply.ok("");
                    self.link.status.shut_down(false, "host-qmp-quit");
                    return Ok(());
                }
                Some((
                    r @ (Request::Status
                    | Request::Info
                    | Request::Config
                    | Request::Migration
                    | Request::Metrics),
                    reply,
                )) => self.serve(r, reply),
                Some((_, reply)) => reply.refuse(Refusal::new(
                    409,
                    "the guest was migrated away: this VM only answers queries, and quit ends it",
                )),
                None => self.events.run_once(-1)?,
            }
        }
    }

    /// Presses the guest's power button: a running or paused guest gets the press (a paused
    /// one sees it when it runs again), a guest suspended to RAM wakes with it. Refused (501)
    /// where the arch has no button.
    fn press_power_button(&mut self, reply: Reply) {
        if !A::POWER_BUTTON {
            return reply.refuse(Refusal::new(
                501,
                format!(
                    "{} has no guest power button (x86: the ACPI fixed-feature button, arm64: a GPIO key, ppc64: an EPOW event); stop the VM with its own poweroff, or end tetra",
                    A::NAME
                ),
            ));
        }
        let woke = self.asleep.is_some();
        let text = if woke {
            self.serve_wake(crate::exit::WakeReason::PowerButton);
            "pressed: the guest woke from S3"
        } else {
            A::press_power_button(&self.shared.platform);
            if let Some(hold) = A::POWER_BUTTON_HOLD {
                self.button_release = Some(std::time::Instant::now() + hold);
            }
            "pressed"
        };
        let state = match self.asleep {
            Some(_) => "suspended".to_string(),
            None => format!("{:?}", self.state).to_lowercase(),
        };
        reply.answer(text, json!({ "state": state, "woke": woke }))
    }

    /// The description as JSON (tetra's is its VM file), or as a string if it is not JSON.
    fn description_json(&self) -> Value {
        match &self.description {
            Some(d) => serde_json::from_str(d).unwrap_or_else(|_| json!(d)),
            None => Value::Null,
        }
    }

    /// Answers `request` on `reply`.
    pub(super) fn serve(&mut self, request: Request, mut reply: Reply) {
        let state = match self.asleep {
            Some(_) => "suspended".to_string(),
            None => format!("{:?}", self.state).to_lowercase(),
        };
        tracing::info!(?request, state, "control request");
        match request {
            Request::Status => reply.answer(&state, json!({ "state": state })),
            Request::Config => match &self.description {
                Some(d) => reply.answer(d, self.description_json()),
                None => reply.refuse(Refusal::new(404, "this VM has no description to give")),
            },
            Request::Info => {
                let json = json!({ "state": state, "config": self.description_json() });
                reply.answer(&state, json)
            }
            Request::Vcpus => {
                let activity = self.vcpu_activity();
                // Registers can be read only where each vCPU thread is parked: when paused.
                let regs = match self.state {
                    VmState::Paused => self.on_vcpus(|_, v| A::vcpu_summary(v)).ok(),
                    _ => None,
                };
                let mut list = Vec::new();
                for (id, a) in activity.iter().enumerate() {
                    let r = regs
                        .as_ref()
                        .and_then(|r| r.get(id))
                        .filter(|r| !r.is_empty());
                    let text = r.map_or(String::new(), |r| format!("; {r}"));
                    reply.line(&format!(
                        "vcpu {id}: {:?}, {} KVM_RUN returns{text}",
                        a.place, a.runs
                    ));
                    list.push(json!({
                        "id": id,
                        "place": format!("{:?}", a.place).to_lowercase(),
                        "kvm_runs": a.runs,
                        "registers": r,
                    }));
                }
                let text = format!("{} vCPUs, {state}", activity.len());
                reply.answer(&text, json!({ "state": state, "vcpus": list }))
            }
            Request::Metrics => {
                let activity = self.vcpu_activity();
                let runs: Vec<u64> = activity.iter().map(|a| a.runs).collect();
                let total: u64 = runs.iter().sum();
                let dropped = crate::console::stdout_dropped();
                let text = format!("{total} KVM_RUN returns, {dropped} console bytes dropped");
                let json = json!({
                    "state": state,
                    "kvm_runs": runs,
                    "kvm_runs_total": total,
                    "console_bytes_dropped": dropped,
                });
                reply.answer(&text, json)
            }
            Request::Migration => match &self.last_migration {
                Some(m) => reply.answer(&m.json().to_string(), m.json()),
                None => reply.answer("none", json!({ "state": "none" })),
            },
            Request::PowerButton => self.press_power_button(reply),
            // QMP's stop and cont are no-ops in the state they ask for.
            Request::Pause | Request::Resume
                if reply.is_qmp()
                    && (self.state == VmState::Paused) == (request == Request::Pause) =>
            {
                reply.ok("")
            }
            Request::Reset => {
                if !self.has_boot_state() {
                    return reply.refuse(Refusal::new(
                        409,
                        "system_reset: this VM keeps no boot state to reset to (boot it with --on-triple-fault reset)",
                    ));
                }
                if let Err(e) =
                    self.refuse_if_asleep("system_reset: the guest is suspended to RAM (S3)")
                {
                    return reply.refuse(vmm_refusal(&e));
                }
                let run = self.state == VmState::Running;
                match self.reset("a system_reset request", run) {
                    Ok(()) => reply.ok(""),
                    Err(e) => {
                        let msg = format!("system_reset; {}", chain(&e));
                        reply.error(&msg);
                        self.exit_notifier().end(crate::exit::GuestExit::Crash(msg));
                    }
                }
            }
            Request::Quit => {
                reply.ok("");
                self.exit_notifier().end(crate::exit::GuestExit::Quit);
            }
            Request::Pause => {
                let r = self.pause_within(Some(PAUSE_LIMIT));
                done(reply, r, self.state)
            }
            Request::Resume => {
                let r = self.resume();
                done(reply, r, self.state)
            }
            Request::Snapshot(path) => {
                let t = Instant::now();
                let r = self.snapshot_reporting(&path, &mut |p| {
                    tracing::debug!(progress = %p, "snapshot");
                    reply.progress(&p.to_string());
                });
                match r {
                    Ok(s) => {
                        let took = ms(t.elapsed());
                        let text = format!(
                            "{}: {} guest pages, {} state bytes, {took:.1} ms",
                            path.display(),
                            s.memory_pages,
                            s.state_bytes,
                        );
                        let json = json!({
                            "path": path,
                            "memory_pages": s.memory_pages,
                            "state_bytes": s.state_bytes,
                            "took_ms": took,
                        });
                        reply.answer(&text, json)
                    }
                    Err(e) => reply.refuse(Refusal::new(500, chain(&e))),
                }
            }
            Request::Migrate(uri) => {
                let opts = self.migrate_options.clone();
                let mut last = None;
                // Begun already when QMP asked (its `migrate` answered at once).
                let status = self.link.status.clone();
                status.begin_migration();
                status.migration_progress(None);
                let r = self.migrate(&uri, &opts, &mut |p| {
                    tracing::info!(progress = %p, "migration");
                    reply.line(&format!("progress: {p}"));
                    reply.progress(&p.to_string());
                    status.migration_progress(Some(p));
                    last = Some(p.clone());
                });
                status.end_migration(r.as_ref().map(Clone::clone).map_err(|e| chain(e)));
                self.last_migration = Some(MigrationRecord {
                    uri: uri.clone(),
                    outcome: r.as_ref().map(Clone::clone).map_err(|e| chain(e)),
                    last_progress: last,
                });
                match r {
                    Ok(s) => {
                        let text = format!(
                            "migrated to {uri}: {} rounds, {:.1} MiB, total {:.1} ms, downtime {:.1} ms",
                            s.rounds,
                            s.bytes as f64 / (1 << 20) as f64,
                            ms(s.total),
                            ms(s.downtime)
                        );
                        let json = self.last_migration.as_ref().map(MigrationRecord::json);
                        reply.answer(&text, json.unwrap_or_default())
                    }
                    Err(e) => {
                        let status = match e {
                            MigrationError::Unsupported(_) => 501,
                            _ => 500,
                        };
                        reply.refuse(Refusal::new(status, chain(&e)))
                    }
                }
            }
        }
    }
}
