//! Command-line parsing. Every mistake is a one-line usage error naming the option and value.

use std::ffi::OsString;
use std::path::PathBuf;
use vmm_core::{Payload, RawLoad, VmConfig};

/// A parsed command line.
#[derive(Debug)]
pub enum Command {
    /// Boot a guest; with `stats`, report peak RSS and resident guest RAM at the end.
    Run {
        /// The VM.
        config: VmConfig,
        /// Print resource statistics to stderr when the guest ends.
        stats: bool,
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
    /// Print help.
    Help,
    /// Print the version.
    Version,
}

/// A usage error: printed as one line, exit status 2.
#[derive(Debug)]
pub struct Usage(pub String);

pub const HELP: &str = "\
tetra: a KVM virtual-machine monitor for x86_64, arm64, ppc64 and PowerPC BookE

Usage:
  tetra run [OPTIONS]     boot a guest (with no --kernel, the embedded default guest)
  tetra regs [--arch ARCH] [--json]
                          list an arch's registers: name, set, number, size, attributes,
                          ONE_REG id (ARCH: x86_64, arm64, ppc64, booke; default: this host's)
  tetra inspect tlb FILE [--geometry G] [--little-endian] [--translate Q]...
                          print a BookE TLB from a snapshot section or a raw shared-array dump
                          (G like 512x4,64) and translate addresses through it
                          (Q like 0xc0001234,pid=3,as=1,access=w,user)
  tetra --help | --version

Options for run:
  --kernel FILE           kernel image: multiboot or PVH ELF, vmlinux, bzImage
  --initrd FILE           initial ramdisk (module 0 for multiboot kernels)
  --cmdline STR           kernel command line
  --cpus N                number of vCPUs (default 1)
  --mem MIB               guest RAM in MiB (default 128)
  --raw ADDR[:MODE]       load --kernel as a raw image at ADDR and start there
                          (x86 MODE: real (default), protected, long)
  --irqchip NAME          interrupt controller, where an arch offers several
  --stats                 when the guest ends, print peak RSS and resident guest RAM to stderr

Exit status:
  0    the guest powered off or reset
  N    odd: the guest wrote V to the debug-exit device, N = (V << 1) | 1
  2    usage error or bad input (options, kernel or initrd files, sizes)
  4    host error (no /dev/kvm, no permission, a KVM call failed)
  6    the guest crashed (triple fault, KVM internal error)
";

fn number(opt: &str, v: &str) -> Result<u64, Usage> {
    let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    parsed.map_err(|_| Usage(format!("{opt} '{v}': not a number")))
}

fn value(parser: &mut lexopt::Parser, opt: &str) -> Result<String, Usage> {
    let v = parser
        .value()
        .map_err(|_| Usage(format!("{opt} needs a value")))?;
    v.into_string()
        .map_err(|v| Usage(format!("{opt} '{}': not valid UTF-8", v.to_string_lossy())))
}

fn parse_raw(v: &str) -> Result<RawLoad, Usage> {
    let (addr, mode) = match v.split_once(':') {
        Some((a, m)) => (a, Some(m.to_string())),
        None => (v, None),
    };
    Ok(RawLoad {
        addr: number("--raw", addr)?,
        mode,
    })
}

fn parse_run(parser: &mut lexopt::Parser) -> Result<(VmConfig, bool), Usage> {
    use lexopt::Arg::*;
    let mut cfg = VmConfig::default();
    let mut stats = false;
    while let Some(arg) = parser.next().map_err(|e| Usage(e.to_string()))? {
        match arg {
            Long("kernel") => {
                cfg.kernel = Some(Payload::File(PathBuf::from(value(parser, "--kernel")?)))
            }
            Long("initrd") => {
                cfg.initrd = Some(Payload::File(PathBuf::from(value(parser, "--initrd")?)))
            }
            Long("cmdline") => cfg.cmdline = value(parser, "--cmdline")?,
            Long("cpus") => {
                let v = value(parser, "--cpus")?;
                let n = number("--cpus", &v)?;
                if n == 0 || n > u64::from(vmm_core::vm::MAX_CPUS) {
                    return Err(Usage(format!(
                        "--cpus {v}: must be between 1 and {}",
                        vmm_core::vm::MAX_CPUS
                    )));
                }
                cfg.cpus = n as u32;
            }
            Long("mem") => {
                let v = value(parser, "--mem")?;
                let n = number("--mem", &v)?;
                if n == 0 || n > (1 << 24) {
                    return Err(Usage(format!(
                        "--mem {v}: must be between 1 and 16777216 MiB"
                    )));
                }
                cfg.mem_mib = n;
            }
            Long("raw") => cfg.raw = Some(parse_raw(&value(parser, "--raw")?)?),
            Long("irqchip") => cfg.irqchip = Some(value(parser, "--irqchip")?),
            Long("stats") => stats = true,
            Short('h') | Long("help") => return Err(Usage(String::new())),
            other => return Err(Usage(other.unexpected().to_string())),
        }
    }
    if cfg.raw.is_some() && cfg.kernel.is_none() {
        return Err(Usage("--raw needs --kernel".into()));
    }
    Ok((cfg, stats))
}

fn parse_regs(parser: &mut lexopt::Parser) -> Result<Command, Usage> {
    use lexopt::Arg::*;
    let mut arch = crate::host::HOST_ARCH.to_string();
    let mut json = false;
    while let Some(arg) = parser.next().map_err(|e| Usage(e.to_string()))? {
        match arg {
            Long("arch") => arch = value(parser, "--arch")?,
            Long("json") => json = true,
            other => return Err(Usage(other.unexpected().to_string())),
        }
    }
    if !crate::tables::ARCHES.contains(&arch.as_str()) {
        return Err(Usage(format!(
            "--arch '{arch}': expected one of {}",
            crate::tables::ARCHES.join(", ")
        )));
    }
    Ok(Command::Regs { arch, json })
}

fn parse_inspect(parser: &mut lexopt::Parser) -> Result<Command, Usage> {
    use arch_booke::inspect::{parse_geometry, parse_query, InspectOptions};
    use lexopt::Arg::*;
    let what = match parser.next().map_err(|e| Usage(e.to_string()))? {
        Some(Value(v)) => v.to_string_lossy().into_owned(),
        _ => return Err(Usage("inspect needs what to inspect: tlb".into())),
    };
    if what != "tlb" {
        return Err(Usage(format!("inspect '{what}': expected tlb")));
    }
    let mut file = None;
    let mut options = InspectOptions::default();
    while let Some(arg) = parser.next().map_err(|e| Usage(e.to_string()))? {
        match arg {
            Long("geometry") => {
                let v = value(parser, "--geometry")?;
                options.geometry = Some(
                    parse_geometry(&v)
                        .map_err(|e| Usage(format!("--geometry '{v}': {}", chain(&e))))?,
                );
            }
            Long("little-endian") => options.order = arch_booke::mmu::ByteOrder::Little,
            Long("translate") => {
                let v = value(parser, "--translate")?;
                options.translate.push(
                    parse_query(&v).map_err(|e| Usage(format!("--translate: {}", chain(&e))))?,
                );
            }
            Value(v) if file.is_none() => file = Some(PathBuf::from(v)),
            other => return Err(Usage(other.unexpected().to_string())),
        }
    }
    let file = file.ok_or_else(|| Usage("inspect tlb needs a FILE".into()))?;
    Ok(Command::InspectTlb { file, options })
}

/// An error and its sources on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Parses `args` (without the program name).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, Usage> {
    use lexopt::Arg::*;
    let mut parser = lexopt::Parser::from_args(args);
    match parser.next().map_err(|e| Usage(e.to_string()))? {
        None => Err(Usage(
            "no command given; try 'tetra run' or 'tetra --help'".into(),
        )),
        Some(Short('h') | Long("help")) => Ok(Command::Help),
        Some(Short('V') | Long("version")) => Ok(Command::Version),
        Some(Value(cmd)) => match cmd.to_string_lossy().as_ref() {
            "help" => Ok(Command::Help),
            "regs" => parse_regs(&mut parser),
            "inspect" => parse_inspect(&mut parser),
            "run" => match parse_run(&mut parser) {
                Err(Usage(m)) if m.is_empty() => Ok(Command::Help),
                r => r.map(|(config, stats)| Command::Run { config, stats }),
            },
            other => Err(Usage(format!(
                "unknown command '{other}'; try 'tetra --help'"
            ))),
        },
        Some(other) => Err(Usage(other.unexpected().to_string())),
    }
}
