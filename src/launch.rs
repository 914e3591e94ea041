//! Building a VM for `tetra run` (boot, restore or incoming migration) and running it to its end.
//! Generic over the arch: `host` picks which.

use crate::cli::Launch;
use crate::failure::Failure;
use std::path::PathBuf;
use std::time::Duration;
use vmm_core::control::qmp::Qmp;
use vmm_core::control::status::RunState;
use vmm_core::{Arch, GuestExit, VmConfig, Vmm, VmmOptions};

/// What the control socket's `config` answers for a VM of this configuration.
pub type Describe = Box<dyn Fn(&VmConfig) -> String + Send>;

/// How long the last QMP replies and events (SHUTDOWN) may take to reach their clients.
const QMP_FLUSH: Duration = Duration::from_secs(2);

/// How long an incoming migration waits on a silent source.
const INCOMING_TIMEOUT: Duration = Duration::from_secs(60);

/// What `--stats` reports when the guest ends.
#[derive(Debug)]
pub struct RunStats {
    /// The process's peak RSS in KiB (`VmHWM`), read before anything else is measured.
    pub peak_rss_kib: Option<u64>,
    /// Guest RAM resident at the end, in bytes.
    pub guest_resident: u64,
    /// `KVM_RUN` returns per vCPU.
    pub vcpu_runs: Vec<u64>,
}

/// The process's peak RSS in KiB (`VmHWM`).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Builds the VM `launch` describes and runs it until the guest ends; with `stats`, also returns
/// what [`RunStats`] holds (measured only then: the exit path stays short).
pub fn run<A: Arch>(
    launch: Launch,
    mut options: VmmOptions,
    qmp: Option<PathBuf>,
    stats: bool,
    describe: Describe,
) -> Result<(GuestExit, Option<RunStats>), Failure> {
    // Only a VM with a control socket is ever asked for its description.
    let answers = options.api_socket.is_some();
    // QMP serves from the start: a migration's destination says `inmigrate` before its VM
    // exists.
    let mut qmp = match &qmp {
        Some(path) => {
            let run = match launch {
                Launch::Incoming(_) => RunState::InMigrate,
                _ => RunState::Prelaunch,
            };
            let sandbox = vmm_core::sandbox::Sandbox {
                mode: options.seccomp,
                table: A::SYSCALLS,
                probe: None,
            };
            let q = Qmp::start(path, run, sandbox).map_err(Failure::qmp)?;
            options.link = Some(q.link());
            Some(q)
        }
        None => None,
    };
    let mut vmm = match launch {
        Launch::Boot(config) => Vmm::<A>::new(*config, options).map_err(Failure::vmm)?,
        Launch::Restore(path, verify) => {
            Vmm::<A>::restore_with(&path, options, verify).map_err(Failure::snapshot)?
        }
        Launch::Incoming(uri) => {
            let announce = uri.clone();
            Vmm::<A>::incoming(&uri, options, INCOMING_TIMEOUT, &mut |l| match l.port() {
                Some(p) => eprintln!("tetra: waiting for a migration on {announce} (port {p})"),
                None => eprintln!("tetra: waiting for a migration on {announce}"),
            })
            .map_err(Failure::migration)?
        }
    };
    // Booted, restored or migrated in: the VM as it is now.
    if answers {
        let description = describe(vmm.config());
        vmm.set_description(description);
    }
    let c = vmm.config();
    tracing::info!(
        arch = A::NAME,
        cpus = c.cpus,
        mem_mib = c.mem_mib,
        virtio_devices = ?c.virtio,
        "the VM starts"
    );
    // The vCPU threads start first (each under its own filter), then this thread, which serves
    // the VM until it ends, goes under the main thread's.
    vmm.start().map_err(Failure::vmm)?;
    vmm.enter_sandbox().map_err(Failure::vmm)?;
    let r = vmm.wait(None);
    vmm.stop();
    let mut end = r
        .map_err(Failure::vmm)?
        .expect("a run without timeout ends only when the guest does");
    // As QEMU's source: a VM migrated away answers QMP (`postmigrate`) until `quit`.
    if end == GuestExit::Migrated && qmp.is_some() {
        vmm.serve_until_quit().map_err(Failure::vmm)?;
    }
    if let Some(q) = qmp.as_mut() {
        q.finish(QMP_FLUSH);
    }
    // A guest restored with lazy verification may end before its memory file is checked: the
    // check finishes, and a corrupt file is reported all the same.
    if let Err(e) = vmm.verified_memory() {
        if !matches!(end, GuestExit::CorruptMemory(_)) {
            end = GuestExit::CorruptMemory(format!(
                "{}; the guest ended before the check did (lazy verification)",
                vmm_core::error_chain::chain(&e)
            ));
        }
    }
    Ok((
        end,
        stats.then(|| RunStats {
            // Read first: the figures below are measured after it, and must not be in it.
            peak_rss_kib: peak_rss_kib(),
            guest_resident: vmm.memory().resident_bytes(),
            vcpu_runs: vmm.vcpu_activity().iter().map(|a| a.runs).collect(),
        }),
    ))
}
