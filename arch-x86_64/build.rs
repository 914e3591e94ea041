//! Assembles the embedded default guest (guest/default_guest.S) into a multiboot ELF32.

include!("../build-support/guest_asm.rs");

fn main() {
    let dir =
        std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap()).join("guest");
    let script = dir.join("multiboot.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    // The guest is x86 code whatever the host: use the x86 binutils on every build machine.
    let elf = build_guest(
        "x86_64-linux-gnu",
        &dir.join("default_guest.S"),
        &["--32"],
        &["-m", "elf_i386", "-T", script.to_str().unwrap()],
        false,
    );
    println!("cargo:rustc-env=TETRA_DEFAULT_GUEST={}", elf.display());
}
