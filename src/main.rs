//! tetra, the binary: argument parsing, wiring, and turning how the guest ended into an exit
//! status. No arch logic lives here; `host` is the one place that picks the arch.

mod cli;
mod ctl;
mod failure;
mod help;
mod host;
mod launch;
mod logs;
mod progress;
mod tables;
mod vm_file;

use failure::EXIT_USAGE;
use std::process::ExitCode;
use vmm_core::{GuestExit, VmmOptions};

/// Exit status when a ctl or migrate request fails.
const EXIT_REQUEST: u8 = 1;

fn print_stats(stats: &launch::RunStats) {
    let guest = stats.guest_resident / 1024;
    match stats.peak_rss_kib {
        Some(peak) => eprintln!(
            "tetra: stats: peak RSS {peak} KiB, guest RAM resident {guest} KiB, beyond guest RAM {} KiB",
            peak.saturating_sub(guest)
        ),
        None => eprintln!("tetra: stats: guest RAM resident {guest} KiB (peak RSS unavailable)"),
    }
    let runs: Vec<String> = stats.vcpu_runs.iter().map(u64::to_string).collect();
    eprintln!("tetra: stats: KVM_RUN returns per vCPU: {}", runs.join(" "));
    eprintln!(
        "tetra: stats: console bytes dropped (stdout did not keep up): {}",
        vmm_core::console::stdout_dropped()
    );
}

/// The largest file `tetra inspect` reads (a BookE TLB dump is a few hundred KiB).
const MAX_INSPECT_BYTES: u64 = 64 << 20;

fn read_or_fail(file: &std::path::Path) -> Result<Vec<u8>, ExitCode> {
    vmm_core::files::read_regular(file, MAX_INSPECT_BYTES).map_err(|e| {
        eprintln!("tetra: {}", vmm_core::error_chain::chain(&e));
        ExitCode::from(EXIT_USAGE)
    })
}

/// One malloc arena for every thread (glibc's `M_ARENA_MAX`). Left alone, glibc gives each new
/// thread that allocates (std's thread start does, in `pthread_getattr_np`) an arena of its own:
/// a 128 MiB reservation mapped, trimmed and made writable between each vCPU thread's `clone3`
/// and its first `KVM_RUN`, and its own resident pages. tetra's threads allocate while the VM is
/// built and torn down, not per exit (the vCPU threads' run loop allocates nothing), so the one
/// arena's lock is not contended where it would cost.
fn one_malloc_arena() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter; called first thing, before any thread.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

fn main() -> ExitCode {
    one_malloc_arena();
    let cmd = match cli::parse(std::env::args_os().skip(1)) {
        Ok(c) => c,
        Err(cli::Usage(msg)) => {
            eprintln!("tetra: {msg}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match cmd {
        cli::Command::Help(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        cli::Command::PrintConfig(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        cli::Command::Version => {
            println!(
                "tetra {} (host arch {})",
                env!("CARGO_PKG_VERSION"),
                host::HOST_ARCH
            );
            ExitCode::SUCCESS
        }
        cli::Command::Regs { arch, json } => {
            print!(
                "{}",
                tables::render(&arch, json).expect("the parser checked the arch")
            );
            ExitCode::SUCCESS
        }
        cli::Command::InspectTlb { file, options } => {
            let bytes = match read_or_fail(&file) {
                Ok(b) => b,
                Err(c) => return c,
            };
            match arch_booke::inspect::inspect_tlb(&bytes, &options) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("tetra: {}: {}", file.display(), cli::chain(&e));
                    ExitCode::from(EXIT_USAGE)
                }
            }
        }
        cli::Command::InspectHtab { file, options } => {
            let bytes = match read_or_fail(&file) {
                Ok(b) => b,
                Err(c) => return c,
            };
            match arch_ppc64::inspect::inspect_htab(&bytes, &options) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("tetra: {}: {}", file.display(), cli::chain(&e));
                    ExitCode::from(EXIT_USAGE)
                }
            }
        }
        cli::Command::InspectIts { file } => match arch_arm64::inspect::inspect_its(&file) {
            Ok(json) => {
                print!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tetra: {}: {}", file.display(), cli::chain(&e));
                ExitCode::from(EXIT_USAGE)
            }
        },
        cli::Command::InspectSnapshot { file } => {
            let bytes = match read_or_fail(&file) {
                Ok(b) => b,
                Err(c) => return c,
            };
            match vmm_core::snapshot::Envelope::decode(&bytes, None) {
                Ok(env) => {
                    print!(
                        "{}",
                        vmm_core::snapshot::describe_json(&env, &file.display().to_string())
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("tetra: {}: {}", file.display(), cli::chain(&e));
                    ExitCode::from(EXIT_USAGE)
                }
            }
        }
        cli::Command::Ctl { api, request } => match ctl::ctl(&api, &request) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tetra: {request}: {e}");
                ExitCode::from(EXIT_REQUEST)
            }
        },
        cli::Command::Migrate { api, to } => match ctl::migrate(&api, &to) {
            Ok(details) => {
                println!("{details}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tetra: migrate: {e}");
                ExitCode::from(EXIT_REQUEST)
            }
        },
        cli::Command::Run {
            launch,
            stats,
            api,
            qmp,
            seccomp,
            log,
        } => {
            if let Err(e) = logs::init(&log) {
                eprintln!("tetra: {}", cli::chain(&e));
                return ExitCode::from(EXIT_USAGE);
            }
            // The sandbox's test hook: a thread of this kind makes a forbidden syscall right
            // after its filter is on (README, Sandbox).
            let seccomp_probe = std::env::var("TETRA_SECCOMP_PROBE")
                .ok()
                .and_then(|k| k.parse().ok());
            // The running VM's description: its VM file, with this run's control settings. A
            // restored VM is its snapshot (its payload is in there): `--config` restores it
            // again. A migrated-in one is described by its machine and devices (no payload).
            let describe: launch::Describe = {
                let (api, qmp, log) = (api.clone(), qmp.clone(), log.clone());
                let restore = match &launch {
                    cli::Launch::Restore(p, v) => Some((p.clone(), *v)),
                    _ => None,
                };
                Box::new(move |config: &vmm_core::VmConfig| {
                    let mut parts = vm_file::RunParts {
                        config: config.clone(),
                        api: api.clone(),
                        qmp: qmp.clone(),
                        stats,
                        seccomp,
                        log: log.clone(),
                        ..vm_file::RunParts::default()
                    };
                    if let Some((path, verify)) = &restore {
                        parts.config = vmm_core::VmConfig::default();
                        parts.restore = Some(path.clone());
                        parts.verify = *verify;
                    }
                    vm_file::VmFile::of(&parts).to_json_line()
                })
            };
            let options = VmmOptions {
                api_socket: api,
                seccomp,
                seccomp_probe,
                ..VmmOptions::default()
            };
            let r = host::run(launch, options, qmp, stats, describe);
            // The guest's last output reaches stdout before tetra ends; a reader that never
            // reads gets what fits and a bounded wait.
            vmm_core::console::flush_stdout(std::time::Duration::from_secs(2));
            match r {
                Ok((end, stats)) => {
                    tracing::info!(end = ?end, code = end.exit_code(), "the guest ended");
                    match &end {
                        GuestExit::Crash(why) => eprintln!("tetra: the guest crashed: {why}"),
                        GuestExit::CorruptMemory(why) => eprintln!("tetra: {why}"),
                        _ => {}
                    }
                    if let Some(stats) = &stats {
                        print_stats(stats);
                    }
                    ExitCode::from(end.exit_code() as u8)
                }
                Err(f) => {
                    eprintln!("tetra: {:#}", f.error);
                    ExitCode::from(f.code)
                }
            }
        }
    }
}
