//! tetra, the binary: argument parsing, wiring, and turning how the guest ended into an exit
//! status. No arch logic lives here; `host` is the one place that picks the arch.

mod cli;
mod host;

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
        cli::Command::Version => {
            println!(
                "tetra {} (host arch {})",
                env!("CARGO_PKG_VERSION"),
                host::HOST_ARCH
            );
            ExitCode::SUCCESS
        }
        cli::Command::Run(config) => match host::run(config, VmmOptions::default()) {
            Ok(end) => {
                if let GuestExit::Crash(why) = &end {
                    eprintln!("tetra: the guest crashed: {why}");
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
