//! Command-line parsing. Every mistake is a one-line usage error naming the option and value.
//! `tetra run`'s options are in [`run`], the other commands' in [`tools`].

use crate::help;
use std::ffi::OsString;
use std::path::PathBuf;
use vmm_core::VmConfig;

/// Where `tetra run` gets its VM.
#[derive(Debug)]
pub enum Launch {
    /// Boot `--kernel` (or the embedded guest).
    Boot(Box<VmConfig>),
    /// `--restore PATH [--verify MODE]`.
    Restore(PathBuf, Option<vmm_core::snapshot::Verify>),
    /// `--incoming URI`.
    Incoming(String),
}

/// A parsed command line.
#[derive(Debug)]
pub enum Command {
    /// Run a VM.
    Run {
        /// What to run.
        launch: Launch,
        /// Print resource statistics to stderr when the guest ends.
        stats: bool,
        /// Serve a control socket here.
        api: Option<PathBuf>,
        /// Serve QMP here (`--qmp unix:PATH`).
        qmp: Option<PathBuf>,
        /// `--seccomp`: what a syscall outside a thread's allow-list does.
        seccomp: vmm_core::sandbox::SeccompMode,
        /// `--log-level`, `--log-file`.
        log: crate::logs::LogOptions,
    },
    /// Send one request to a running VM's control socket.
    Ctl {
        /// The socket.
        api: PathBuf,
        /// The request line.
        request: String,
    },
    /// Migrate a running VM (through its control socket) to a listening destination.
    Migrate {
        /// The source's control socket.
        api: PathBuf,
        /// The destination address.
        to: String,
    },
    /// Print an arch's register table.
    Regs {
        /// `x86_64`, `arm64`, `ppc64` or `booke`.
        arch: String,
        /// JSON instead of text.
        json: bool,
    },
    /// Print a BookE TLB (from a snapshot section or a raw dump) and translate addresses.
    InspectTlb {
        /// The file.
        file: PathBuf,
        /// Geometry, byte order and translations.
        options: arch_booke::inspect::InspectOptions,
    },
    /// Print a ppc64 hashed page table from a raw `KVM_PPC_GET_HTAB_FD` stream and translate
    /// addresses.
    InspectHtab {
        /// The file.
        file: PathBuf,
        /// Table size, header byte order, SLB and translations.
        options: arch_ppc64::inspect::InspectOptions,
    },
    /// Print a snapshot's envelope and sections as JSON.
    InspectSnapshot {
        /// The state file.
        file: PathBuf,
    },
    /// Print the ITS tables of an arm64 snapshot's guest memory as JSON.
    InspectIts {
        /// The state file.
        file: PathBuf,
    },
    /// `tetra run --print-config`: print the effective VM description.
    PrintConfig(String),
    /// Print this help text (the overview or one command's).
    Help(&'static str),
    /// Print the version.
    Version,
}

/// A usage error: printed as one line, exit status 2.
#[derive(Debug)]
pub struct Usage(pub String);

pub use crate::help::HELP;

pub(super) fn number(opt: &str, v: &str) -> Result<u64, Usage> {
    let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    parsed.map_err(|_| Usage(format!("{opt} '{v}': not a number")))
}

pub(super) fn value(parser: &mut lexopt::Parser, opt: &str) -> Result<String, Usage> {
    let v = parser
        .value()
        .map_err(|_| Usage(format!("{opt} needs a value")))?;
    v.into_string()
        .map_err(|v| Usage(format!("{opt} '{}': not valid UTF-8", v.to_string_lossy())))
}

pub(super) fn uri(opt: &str, v: &str) -> Result<String, Usage> {
    vmm_core::migration::Uri::parse(v)
        .map(|_| v.to_string())
        .map_err(|_| Usage(format!("{opt} '{v}': expected unix:PATH or tcp:HOST:PORT")))
}

/// The help of a command the parser knows.
pub(super) fn help_of(name: &str) -> &'static str {
    help::of(name).unwrap_or(HELP)
}

/// `tetra help [COMMAND [WHAT]]`: the overview, or a command's help (`help inspect tlb` is
/// inspect's).
fn parse_help(parser: &mut lexopt::Parser) -> Result<Command, Usage> {
    use lexopt::Arg::*;
    let mut words = Vec::new();
    while let Some(arg) = parser.next().map_err(|e| Usage(e.to_string()))? {
        match arg {
            Value(v) => words.push(v.to_string_lossy().into_owned()),
            other => return Err(Usage(other.unexpected().to_string())),
        }
    }
    let commands = || {
        help::COMMANDS
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match words.as_slice() {
        [] => Ok(Command::Help(HELP)),
        [cmd] => help::of(cmd).map(Command::Help).ok_or_else(|| {
            Usage(format!(
                "help: unknown command '{cmd}'; the commands are {}",
                commands()
            ))
        }),
        [cmd, what]
            if cmd == "inspect" && ["snapshot", "its", "tlb", "htab"].contains(&what.as_str()) =>
        {
            Ok(Command::Help(help_of("inspect")))
        }
        [_, ..] => Err(Usage(format!(
            "help takes one command ({}), not '{}'",
            commands(),
            words.join(" ")
        ))),
    }
}

/// An error and its sources on one line.
pub use vmm_core::error_chain::chain;

/// Parses `args` (without the program name).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, Usage> {
    use lexopt::Arg::*;
    let mut parser = lexopt::Parser::from_args(args);
    match parser.next().map_err(|e| Usage(e.to_string()))? {
        None => Err(Usage(
            "no command given; try 'tetra run' or 'tetra --help'".into(),
        )),
        Some(Short('h') | Long("help")) => Ok(Command::Help(HELP)),
        Some(Short('V') | Long("version")) => Ok(Command::Version),
        Some(Value(cmd)) => match cmd.to_string_lossy().as_ref() {
            "help" => parse_help(&mut parser),
            "run" => run::parse_run(&mut parser),
            "ctl" => tools::parse_ctl(&mut parser),
            "migrate" => tools::parse_migrate(&mut parser),
            "regs" => tools::parse_regs(&mut parser),
            "inspect" => tools::parse_inspect(&mut parser),
            other => Err(Usage(format!(
                "unknown command '{other}'; try 'tetra --help'"
            ))),
        },
        Some(other) => Err(Usage(other.unexpected().to_string())),
    }
}

mod run;
mod tools;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_names_the_device_options() {
        assert!(HELP.contains("--disk PATH[,ro][,id=ID]") && HELP.contains("--rng"));
        assert!(HELP.contains("--console serial|virtio"));
    }
}
