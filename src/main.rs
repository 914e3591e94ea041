//! tetra, the binary: argument parsing, wiring, and turning how the guest ended into an exit
//! status. No arch logic lives here; `host` is the one place that picks the arch.

mod cli;
mod host;
mod tables;

use std::process::ExitCode;
use vmm_core::{ErrorKind, GuestExit, VmmOptions};

/// Exit status for usage errors and bad input.
const EXIT_USAGE: u8 = 2;
/// Exit status for host errors.
const EXIT_HOST: u8 = 4;

fn fail(code: u8, err: &anyhow::Error) -> ExitCode {
    eprintln!("tetra: {err:#}");
    ExitCode::from(code)
}

/// The process's peak RSS in KiB (`VmHWM`).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn print_stats(guest_resident: u64) {
    let guest = guest_resident / 1024;
    match peak_rss_kib() {
        Some(peak) => eprintln!(
            "tetra: stats: peak RSS {peak} KiB, guest RAM resident {guest} KiB, beyond guest RAM {} KiB",
            peak.saturating_sub(guest)
        ),
        None => eprintln!("tetra: stats: guest RAM resident {guest} KiB (peak RSS unavailable)"),
    }
}

fn main() -> ExitCode {
    let cmd = match cli::parse(std::env::args_os().skip(1)) {
        Ok(c) => c,
        Err(cli::Usage(msg)) => {
            eprintln!("tetra: {msg}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match cmd {
        cli::Command::Help => {
            print!("{}", cli::HELP);
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
            let name = file.display().to_string();
            let bytes = match std::fs::read(&file) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("tetra: cannot read {name}: {e}");
                    return ExitCode::from(EXIT_USAGE);
                }
            };
            match arch_booke::inspect::inspect_tlb(&bytes, &options) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("tetra: {name}: {}", cli::chain(&e));
                    ExitCode::from(EXIT_USAGE)
                }
            }
        }
        cli::Command::Version => {
            println!(
                "tetra {} (host arch {})",
                env!("CARGO_PKG_VERSION"),
                host::HOST_ARCH
            );
            ExitCode::SUCCESS
        }
        cli::Command::Run { config, stats } => match host::run(config, VmmOptions::default()) {
            Ok((end, guest_resident)) => {
                if let GuestExit::Crash(why) = &end {
                    eprintln!("tetra: the guest crashed: {why}");
                }
                if stats {
                    print_stats(guest_resident);
                }
                ExitCode::from(end.exit_code() as u8)
            }
            Err(e) => {
                let code = match e.kind() {
                    ErrorKind::Input => EXIT_USAGE,
                    ErrorKind::Host => EXIT_HOST,
                };
                fail(code, &anyhow::Error::new(e))
            }
        },
    }
}
