//! On aarch64 targets, assembles the guests of the real-KVM tests (`tests/guests/*.S`) with GNU
//! binutils into flat binaries; on other targets those tests do not exist and nothing is built.

include!("../build-support/guest_asm.rs");

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() != Ok("aarch64") {
        return;
    }
    let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap())
        .join("tests")
        .join("guests");
    let script = dir.join("flat.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    for (src, var) in [
        ("regmove.S", "TETRA_ARM64_REGMOVE_GUEST"),
        ("pmu.S", "TETRA_ARM64_PMU_GUEST"),
    ] {
        let bin = build_guest(
            "aarch64-linux-gnu",
            &dir.join(src),
            &[],
            &["-T", script.to_str().unwrap()],
            true,
        );
        println!("cargo:rustc-env={var}={}", bin.display());
    }
}
