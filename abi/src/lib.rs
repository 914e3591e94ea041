//! ABI checks: tetra's own definitions of the kernel ABI against the kernel's uapi headers.
//!
//! Every crate that defines a KVM struct, constant, ioctl number or register id itself exports
//! its facts (`vmm_core::regs::abi::AbiFact`: "this C expression equals this Rust value"). For
//! each target this crate writes a C probe with one `_Static_assert` per fact, includes
//! `<linux/kvm.h>` (which pulls in the arch's `asm/kvm.h`) and compiles it with the target's gcc
//! and `-fsyntax-only`: the cross compilers find the headers of `linux-libc-dev-<arch>-cross`
//! in their sysroot, the host gcc finds the host's. A failed assertion is mapped back to its
//! fact, and a second probe extracts the kernel's value for the message, so a typo reads:
//!
//! ```text
//! powerpc64le: offsetof(struct kvm_sregs, u.e.mas1) is 0x1cc in the uapi headers, tetra has 0x1d0 (kvm_ppc::KvmSregsE::mas1)
//! ```
//!
//! A missing compiler or header package is an error naming the Debian package to install, never
//! a pass. The facts of each target are gathered in `tests/uapi.rs`; adding a struct to a
//! crate's `abi_facts()` (one `vmm_core::abi_struct!` line) is all it takes to check it.

#![deny(missing_docs)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use vmm_core::regs::abi::AbiFact;

/// A compiler target with its headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Short name for messages (`x86_64`, `aarch64`, `powerpc64le`, `powerpc64`).
    pub name: &'static str,
    /// The gcc that compiles for it.
    pub gcc: &'static str,
    /// The Debian packages that provide the compiler and the uapi headers.
    pub packages: &'static str,
}

impl Target {
    /// The host (x86_64 Debian): `gcc` with `/usr/include/x86_64-linux-gnu/asm/kvm.h`.
    pub const X86_64: Target = Target {
        name: "x86_64",
        gcc: "gcc",
        packages: "gcc linux-libc-dev",
    };
    /// arm64.
    pub const AARCH64: Target = Target {
        name: "aarch64",
        gcc: "aarch64-linux-gnu-gcc",
        packages: "gcc-aarch64-linux-gnu linux-libc-dev-arm64-cross",
    };
    /// ppc64 little-endian (POWER hosts).
    pub const POWERPC64LE: Target = Target {
        name: "powerpc64le",
        gcc: "powerpc64le-linux-gnu-gcc",
        packages: "gcc-powerpc64le-linux-gnu linux-libc-dev-ppc64el-cross",
    };
    /// ppc64 big-endian (BookE e5500/e6500 hosts).
    pub const POWERPC64: Target = Target {
        name: "powerpc64",
        gcc: "powerpc64-linux-gnu-gcc",
        packages: "gcc-powerpc64-linux-gnu linux-libc-dev-ppc64-cross",
    };
}

/// Why a check could not pass.
#[derive(Debug, thiserror::Error)]
pub enum AbiError {
    /// The compiler is not installed.
    #[error(
        "{target}: {gcc} is not installed ({source}); install it with: apt-get install {packages}"
    )]
    NoCompiler {
        /// Target name.
        target: &'static str,
        /// The compiler.
        gcc: &'static str,
        /// Packages to install.
        packages: &'static str,
        /// The spawn error.
        #[source]
        source: std::io::Error,
    },
    /// The uapi headers are missing.
    #[error("{target}: <linux/kvm.h> not found for {gcc}; install the headers with: apt-get install {packages}\n{output}")]
    NoHeaders {
        /// Target name.
        target: &'static str,
        /// The compiler.
        gcc: &'static str,
        /// Packages to install.
        packages: &'static str,
        /// Compiler output.
        output: String,
    },
    /// Writing the probe failed.
    #[error("writing the probe {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Facts did not hold.
    #[error("{target}: {count} of {total} ABI facts do not match the uapi headers:\n{report}")]
    Mismatch {
        /// Target name.
        target: &'static str,
        /// Failing facts.
        count: usize,
        /// All facts.
        total: usize,
        /// One line per failing fact.
        report: String,
    },
    /// The compiler failed on something that is not a fact (a header problem).
    #[error("{target}: {gcc} failed outside the facts:\n{output}")]
    Compiler {
        /// Target name.
        target: &'static str,
        /// The compiler.
        gcc: &'static str,
        /// Compiler output.
        output: String,
    },
}

/// Lines of the probe before the first fact.
const PREAMBLE: &str = "#include <stddef.h>\n#include <linux/kvm.h>\n#include <asm/unistd.h>\n\
                        #include <linux/audit.h>\n#include <asm/ioctls.h>\n\
                        #include <linux/if_tun.h>\n#include <linux/vhost.h>\n";

fn c_string(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The probe asserting `facts`: fact `i` is on line `first_line() + i`.
pub fn probe(target: &Target, facts: &[AbiFact]) -> String {
    let mut out = format!(
        "/* tetra ABI probe for {}: {} facts, generated */\n{PREAMBLE}",
        target.name,
        facts.len()
    );
    for (i, f) in facts.iter().enumerate() {
        let _ = writeln!(
            out,
            "_Static_assert((unsigned long long)({}) == {:#x}ULL, \"fact {i}: {} == {:#x} ({})\");",
            f.expr,
            f.value,
            c_string(&f.expr),
            f.value,
            c_string(&f.origin)
        );
    }
    out
}

/// The line of the first fact in a probe.
pub fn first_line() -> usize {
    2 + PREAMBLE.lines().count()
}

/// A probe that makes gcc print the value of each of `facts` in a warning (the type of a pointer
/// to an array of `value + 1` chars), as two 32-bit halves.
pub fn value_probe(facts: &[&AbiFact]) -> String {
    let mut out = format!("/* tetra ABI value probe */\n{PREAMBLE}");
    for (i, f) in facts.iter().enumerate() {
        let _ = writeln!(
            out,
            "char (*tetra_hi_{i})[((unsigned long long)({e}) >> 32) + 1] = 1; char (*tetra_lo_{i})[((unsigned long long)({e}) & 0xffffffffULL) + 1] = 1;",
            e = f.expr
        );
    }
    out
}

/// gcc's diagnostics for a probe: (line, message), errors only.
pub fn errors_by_line(output: &str, file: &str) -> Vec<(usize, String)> {
    let mut v = Vec::new();
    for l in output.lines() {
        let Some(rest) = l.strip_prefix(file).and_then(|r| r.strip_prefix(':')) else {
            continue;
        };
        let mut parts = rest.splitn(3, ':');
        let (Some(line), Some(_col), Some(msg)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let Ok(line) = line.parse::<usize>() else {
            continue;
        };
        let msg = msg.trim();
        if let Some(m) = msg.strip_prefix("error:") {
            v.push((line, m.trim().to_string()));
        }
    }
    v
}

/// The values a value probe's warnings reveal: line -> value (both halves present).
pub fn values_by_line(output: &str, file: &str) -> Vec<(usize, u64)> {
    let mut v = Vec::new();
    for l in output.lines() {
        let Some(rest) = l.strip_prefix(file).and_then(|r| r.strip_prefix(':')) else {
            continue;
        };
        let Some(line) = rest.split(':').next().and_then(|n| n.parse::<usize>().ok()) else {
            continue;
        };
        // "... initialization of 'char (*)[N]' from 'int' ..." (twice per line: hi, lo).
        let Some(start) = l.find("'char (*)[") else {
            continue;
        };
        let digits: String = l[start + 10..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let Ok(n) = digits.parse::<u64>() else {
            continue;
        };
        v.push((line, n.saturating_sub(1)));
    }
    // Pair the hi and lo halves of each line in order.
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < v.len() {
        if v[i].0 == v[i + 1].0 {
            out.push((v[i].0, (v[i].1 << 32) | v[i + 1].1));
            i += 2;
        } else {
            i += 1;
        }
    }
    out
}

fn compile(target: &Target, path: &Path) -> Result<(bool, String), AbiError> {
    let out = Command::new(target.gcc)
        .args(["-fsyntax-only", "-std=gnu11", "-fmax-errors=0"])
        .arg(path)
        .env("LC_ALL", "C")
        .output()
        .map_err(|source| AbiError::NoCompiler {
            target: target.name,
            gcc: target.gcc,
            packages: target.packages,
            source,
        })?;
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    Ok((out.status.success(), text))
}

/// Checks `facts` for `target`, writing probes into `dir`. Ok means every fact holds.
pub fn check(target: &Target, facts: &[AbiFact], dir: &Path) -> Result<usize, AbiError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AbiError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(format!("abi-probe-{}.c", target.name));
    std::fs::write(&path, probe(target, facts)).map_err(io(&path))?;
    let (ok, output) = compile(target, &path)?;
    if ok {
        return Ok(facts.len());
    }
    if output.contains("linux/kvm.h") && output.contains("No such file") {
        return Err(AbiError::NoHeaders {
            target: target.name,
            gcc: target.gcc,
            packages: target.packages,
            output,
        });
    }
    let file = path.to_string_lossy().into_owned();
    let first = first_line();
    let mut failing: Vec<(usize, String)> = Vec::new();
    for (line, msg) in errors_by_line(&output, &file) {
        let Some(i) = line.checked_sub(first).filter(|&i| i < facts.len()) else {
            return Err(AbiError::Compiler {
                target: target.name,
                gcc: target.gcc,
                output,
            });
        };
        if !failing.iter().any(|(j, _)| *j == i) {
            failing.push((i, msg));
        }
    }
    if failing.is_empty() {
        return Err(AbiError::Compiler {
            target: target.name,
            gcc: target.gcc,
            output,
        });
    }
    // Second pass: what the headers say, for the failing facts whose expression compiles.
    let bad: Vec<&AbiFact> = failing.iter().map(|(i, _)| &facts[*i]).collect();
    let vpath = dir.join(format!("abi-values-{}.c", target.name));
    std::fs::write(&vpath, value_probe(&bad)).map_err(io(&vpath))?;
    let (_, voutput) = compile(target, &vpath)?;
    let values = values_by_line(&voutput, &vpath.to_string_lossy());
    let mut report = String::new();
    for (k, (i, msg)) in failing.iter().enumerate() {
        let f = &facts[*i];
        let kernel = values
            .iter()
            .find(|(l, _)| *l == first + k)
            .map(|(_, v)| *v);
        let _ = match kernel {
            Some(v) => writeln!(
                report,
                "  {}: {} is {v:#x} in the uapi headers, tetra has {:#x} ({})",
                target.name, f.expr, f.value, f.origin
            ),
            None if msg.starts_with("static assertion failed") => writeln!(
                report,
                "  {}: {} != {:#x} ({})",
                target.name, f.expr, f.value, f.origin
            ),
            None => writeln!(
                report,
                "  {}: {} does not compile against the uapi headers: {msg} ({})",
                target.name, f.expr, f.origin
            ),
        };
    }
    Err(AbiError::Mismatch {
        target: target.name,
        count: failing.len(),
        total: facts.len(),
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_lines_map_to_facts() {
        let facts = vec![
            AbiFact::new("sizeof(struct a)", 8, "A"),
            AbiFact::new("X \"q\"", 0x10, "B\\"),
        ];
        let p = probe(&Target::X86_64, &facts);
        let lines: Vec<&str> = p.lines().collect();
        assert!(lines[first_line() - 1].contains("sizeof(struct a)) == 0x8ULL"));
        assert!(lines[first_line()].contains("fact 1: X \\\"q\\\" == 0x10 (B\\\\)"));
        assert_eq!(lines.len(), first_line() + 1);
    }

    #[test]
    fn parses_gcc_diagnostics() {
        let out = "p.c:5:1: error: static assertion failed: \"fact 1\"\n\
                   p.c:6:31: error: 'struct kvm_sregs' has no member named 'x'\n\
                   p.c:6:1: note: in expansion\n\
                   other.h:1:1: error: elsewhere\n";
        assert_eq!(
            errors_by_line(out, "p.c"),
            vec![
                (5, "static assertion failed: \"fact 1\"".to_string()),
                (6, "'struct kvm_sregs' has no member named 'x'".to_string())
            ]
        );
        let w = "v.c:4:60: warning: initialization of 'char (*)[1]' from 'int' makes pointer\n\
                 v.c:4:140: warning: initialization of 'char (*)[457]' from 'int' makes pointer\n\
                 v.c:5:60: warning: initialization of 'char (*)[4097]' from 'int'\n\
                 v.c:5:99: warning: initialization of 'char (*)[2]' from 'int'\n";
        assert_eq!(
            values_by_line(w, "v.c"),
            vec![(4, 456), (5, (4096u64 << 32) | 1)]
        );
    }

    #[test]
    fn a_missing_compiler_fails_with_the_package() {
        let t = Target {
            name: "nowhere",
            gcc: "tetra-no-such-gcc",
            packages: "gcc-nowhere linux-libc-dev-nowhere-cross",
        };
        let dir = std::env::temp_dir().join(format!("tetra-abi-unit-{}", std::process::id()));
        let e = check(&t, &[AbiFact::new("1", 1, "one")], &dir).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("tetra-no-such-gcc is not installed"), "{msg}");
        assert!(
            msg.contains("apt-get install gcc-nowhere linux-libc-dev-nowhere-cross"),
            "{msg}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
