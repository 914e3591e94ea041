//! The options of `tetra ctl`, `migrate`, `regs` and `inspect`.

use super::{chain, help_of, uri, value, Command, Usage};
use std::path::PathBuf;

pub(super) fn parse_ctl(parser: &mut lexopt::Parser) -> Result<Command, Usage> {
    use lexopt::Arg::*;
    let mut api = None;
    let mut words = Vec::new();
    while let Some(arg) = parser.next().map_err(|e| Usage(e.to_string()))? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(help_of("ctl"))),
            Long("api") => api = Some(PathBuf::from(value(parser, "--api")?)),
            Value(v) => words.push(v.to_string_lossy().into_owned()),
            other => return Err(Usage(other.unexpected().to_string())),
        }
    }
    let api = api.ok_or_else(|| Usage("ctl needs --api PATH".into()))?;
    let request = words.join(" ");
    vmm_core::control::Request::parse(&request).map_err(|e| Usage(format!("ctl: {e}")))?;
    Ok(Command::Ctl { api, request })
}

pub(super) fn parse_migrate(parser: &mut lexopt::Parser) -> Result<Command, Usage> {
    use lexopt::Arg::*;
    let (mut api, mut to) = (None, None);
    while let Some(arg) = parser.next().map_err(|e| Usage(e.to_string()))? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(help_of("migrate"))),
            Long("api") => api = Some(PathBuf::from(value(parser, "--api")?)),
            Long("to") => to = Some(uri("--to", &value(parser, "--to")?)?),
            other => return Err(Usage(other.unexpected().to_string())),
        }
    }
    Ok(Command::Migrate {
        api: api.ok_or_else(|| {
            Usage("migrate needs --api PATH (the source's control socket)".into())
        })?,
        to: to.ok_or_else(|| Usage("migrate needs --to unix:PATH|tcp:HOST:PORT".into()))?,
    })
}

pub(super) fn parse_regs(parser: &mut lexopt::Parser) -> Result<Command, Usage> {
    use lexopt::Arg::*;
    let mut arch = crate::host::HOST_ARCH.to_string();
    let mut json = false;
    while let Some(arg) = parser.next().map_err(|e| Usage(e.to_string()))? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(help_of("regs"))),
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

pub(super) fn parse_inspect(parser: &mut lexopt::Parser) -> Result<Command, Usage> {
    use arch_booke::inspect::{parse_geometry, parse_query, InspectOptions};
    use lexopt::Arg::*;
    let what = match parser.next().map_err(|e| Usage(e.to_string()))? {
        Some(Short('h') | Long("help")) => return Ok(Command::Help(help_of("inspect"))),
        Some(Value(v)) => v.to_string_lossy().into_owned(),
        _ => {
            return Err(Usage(
                "inspect needs what to inspect: snapshot, its, tlb or htab".into(),
            ))
        }
    };
    let mut file = None;
    let mut options = InspectOptions::default();
    let mut htab = arch_ppc64::inspect::InspectOptions::default();
    while let Some(arg) = parser.next().map_err(|e| Usage(e.to_string()))? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(help_of("inspect"))),
            Long("geometry") if what == "tlb" => {
                let v = value(parser, "--geometry")?;
                options.geometry = Some(
                    parse_geometry(&v)
                        .map_err(|e| Usage(format!("--geometry '{v}': {}", chain(&e))))?,
                );
            }
            Long("little-endian") if what == "tlb" => {
                options.order = arch_booke::mmu::ByteOrder::Little
            }
            Long("translate") if what == "tlb" => {
                let v = value(parser, "--translate")?;
                options.translate.push(
                    parse_query(&v).map_err(|e| Usage(format!("--translate: {}", chain(&e))))?,
                );
            }
            Long("order") if what == "htab" => {
                let v = value(parser, "--order")?;
                htab.order = Some(v.parse().map_err(|_| {
                    Usage(format!(
                        "--order '{v}': expected log2 of the table's bytes (18..=46)"
                    ))
                })?);
            }
            Long("big-endian") if what == "htab" => {
                htab.endian = arch_ppc64::mmu::htab::Endian::Big
            }
            Long("slb") if what == "htab" => {
                let v = value(parser, "--slb")?;
                htab.slb.push(
                    arch_ppc64::inspect::parse_slb(&v)
                        .map_err(|e| Usage(format!("--slb: {}", chain(&e))))?,
                );
            }
            Long("vcpu") if what == "htab" => {
                let v = value(parser, "--vcpu")?;
                htab.vcpu = v.parse().map_err(|_| {
                    Usage(format!("--vcpu '{v}': expected a vCPU index (0, 1, ...)"))
                })?;
            }
            Long("translate") if what == "htab" => {
                let v = value(parser, "--translate")?;
                htab.translate.push(
                    arch_ppc64::inspect::parse_ea(&v)
                        .map_err(|e| Usage(format!("--translate: {}", chain(&e))))?,
                );
            }
            Value(v) if file.is_none() => file = Some(PathBuf::from(v)),
            other => return Err(Usage(other.unexpected().to_string())),
        }
    }
    let file = file.ok_or_else(|| Usage(format!("inspect {what} needs a FILE")))?;
    match what.as_str() {
        "tlb" => Ok(Command::InspectTlb { file, options }),
        "htab" => Ok(Command::InspectHtab {
            file,
            options: htab,
        }),
        "snapshot" => Ok(Command::InspectSnapshot { file }),
        "its" => Ok(Command::InspectIts { file }),
        other => Err(Usage(format!(
            "inspect '{other}': expected snapshot, its, tlb or htab"
        ))),
    }
}
