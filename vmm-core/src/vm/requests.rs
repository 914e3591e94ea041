//! The control socket's requests, served on the VMM's thread between events.

use super::{VmState, Vmm, PAUSE_LIMIT};
use crate::arch::Arch;
use std::time::Instant;

impl<A: Arch> Vmm<A> {
    /// Answers `request` on `reply`.
    pub(super) fn serve(
        &mut self,
        request: crate::control::Request,
        mut reply: crate::control::Reply,
    ) {
        use crate::control::Request;
        use crate::error_chain::chain;
        let state = format!("{:?}", self.state).to_lowercase();
        tracing::info!(?request, state, "control request");
        match request {
            Request::Status => reply.ok(&state),
            Request::Config => match &self.description {
                Some(d) => reply.ok(d),
                None => reply.error("this VM has no description to give"),
            },
            Request::Vcpus => {
                let activity = self.vcpu_activity();
                // Registers can be read only where each vCPU thread is parked: when paused.
                let regs = match self.state {
                    VmState::Paused => self.on_vcpus(|_, v| A::vcpu_summary(v)).ok(),
                    _ => None,
                };
                for (id, a) in activity.iter().enumerate() {
                    let r = match regs.as_ref().and_then(|r| r.get(id)) {
                        Some(r) if !r.is_empty() => format!("; {r}"),
                        _ => String::new(),
                    };
                    reply.line(&format!(
                        "vcpu {id}: {:?}, {} KVM_RUN returns{r}",
                        a.place, a.runs
                    ));
                }
                reply.ok(&format!("{} vCPUs, {state}", activity.len()))
            }
            Request::Pause => match self.pause_within(Some(PAUSE_LIMIT)) {
                Ok(()) => reply.ok(""),
                Err(e) => reply.error(&chain(&e)),
            },
            Request::Resume => match self.resume() {
                Ok(()) => reply.ok(""),
                Err(e) => reply.error(&chain(&e)),
            },
            Request::Snapshot(path) => {
                let t = Instant::now();
                match self.snapshot(&path) {
                    Ok(s) => reply.ok(&format!(
                        "{}: {} guest pages, {} state bytes, {:.1} ms",
                        path.display(),
                        s.memory_pages,
                        s.state_bytes,
                        t.elapsed().as_secs_f64() * 1e3
                    )),
                    Err(e) => reply.error(&chain(&e)),
                }
            }
            Request::Migrate(uri) => {
                let opts = self.migrate_options.clone();
                let r = self.migrate(&uri, &opts, &mut |p| {
                    tracing::info!(progress = %p, "migration");
                    reply.line(&format!("progress: {p}"))
                });
                match r {
                    Ok(s) => reply.ok(&format!(
                        "migrated to {uri}: {} rounds, {:.1} MiB, total {:.1} ms, downtime {:.1} ms",
                        s.rounds,
                        s.bytes as f64 / (1 << 20) as f64,
                        s.total.as_secs_f64() * 1e3,
                        s.downtime.as_secs_f64() * 1e3
                    )),
                    Err(e) => reply.error(&chain(&e)),
                }
            }
        }
    }
}
