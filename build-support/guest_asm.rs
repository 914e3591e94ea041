// Guest payloads assembled at build time with GNU binutils (`<triple>-as`, `-ld`, `-objcopy`).
//
// Build scripts cannot share code through a normal dependency without a build-dependency crate,
// so the build scripts that embed guests `include!` this file. It is plain Rust with no imports
// beyond std.

/// The binutils prefix for a Cargo target (`CARGO_CFG_TARGET_ARCH` / `_ENDIAN`).
#[allow(dead_code)]
fn binutils_prefix(arch: &str, big_endian: bool) -> Option<&'static str> {
    match (arch, big_endian) {
        ("x86_64", _) => Some("x86_64-linux-gnu"),
        ("aarch64", _) => Some("aarch64-linux-gnu"),
        ("powerpc64", false) => Some("powerpc64le-linux-gnu"),
        ("powerpc64", true) => Some("powerpc64-linux-gnu"),
        _ => None,
    }
}

/// Runs a binutils tool, failing the build with a message that says what to install.
fn run_tool(prefix: &str, tool: &str, args: &[&std::ffi::OsStr]) {
    let name = format!("{prefix}-{tool}");
    let status = std::process::Command::new(&name)
        .args(args)
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {name} ({e}): guest payloads are assembled with GNU binutils; \
                 install the Debian package binutils-{}",
                prefix.replace('_', "-")
            )
        });
    assert!(status.success(), "{name} {args:?} failed with {status}");
}

/// Assembles `src` with `as_flags`, links it with `ld_flags` (which name the linker script),
/// and returns the ELF path; with `flat`, also the raw binary (`objcopy -O binary`).
#[allow(dead_code)]
fn build_guest(
    prefix: &str,
    src: &std::path::Path,
    as_flags: &[&str],
    ld_flags: &[&str],
    flat: bool,
) -> std::path::PathBuf {
    use std::ffi::OsStr;
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let stem = src.file_stem().expect("guest source name");
    let obj = out.join(stem).with_extension("o");
    let elf = out.join(stem).with_extension("elf");
    println!("cargo:rerun-if-changed={}", src.display());
    let mut args: Vec<&OsStr> = as_flags.iter().map(OsStr::new).collect();
    args.extend([OsStr::new("-o"), obj.as_os_str(), src.as_os_str()]);
    run_tool(prefix, "as", &args);
    let mut args: Vec<&OsStr> = ld_flags.iter().map(OsStr::new).collect();
    args.extend([
        OsStr::new("--build-id=none"), OsStr::new("--no-warn-rwx-segments"),
        OsStr::new("-o"),
        elf.as_os_str(),
        obj.as_os_str(),
    ]);
    run_tool(prefix, "ld", &args);
    if flat {
        let bin = out.join(stem).with_extension("bin");
        run_tool(
            prefix,
            "objcopy",
            &[OsStr::new("-O"), OsStr::new("binary"), elf.as_os_str(), bin.as_os_str()],
        );
        return bin;
    }
    elf
}
