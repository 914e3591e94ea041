//! Assembles the test guests of the target architecture (guests/<arch>/) with GNU binutils and
//! generates `guests.rs`: a table of (name, bytes).

include!("../build-support/guest_asm.rs");

use std::path::Path;

/// A guest: source file, how it boots (`auto`, or `raw:ADDR[:MODE]` as `--raw` takes it),
/// assembler flags, linker flags, whether it is a flat binary.
struct Spec {
    src: &'static str,
    boot: &'static str,
    as_flags: &'static [&'static str],
    ld_flags: &'static [&'static str],
    flat: bool,
}

const X86_64: &[Spec] = &[
    Spec {
        src: "realmode.S",
        boot: "raw:0x8000:real",
        as_flags: &["--32"],
        ld_flags: &["-m", "elf_i386", "-T", "flat-8000.ld"],
        flat: true,
    },
    Spec {
        src: "protmode.S",
        boot: "raw:0x100000:protected",
        as_flags: &["--32"],
        ld_flags: &["-m", "elf_i386", "-T", "flat-100000.ld"],
        flat: true,
    },
    Spec {
        src: "longmode.S",
        boot: "raw:0x100000:long",
        as_flags: &["--64"],
        ld_flags: &["-m", "elf_x86_64", "-T", "flat-100000.ld"],
        flat: true,
    },
    Spec {
        src: "mmio.S",
        boot: "raw:0x100000:protected",
        as_flags: &["--32"],
        ld_flags: &["-m", "elf_i386", "-T", "flat-100000.ld"],
        flat: true,
    },
    Spec {
        src: "pvh.S",
        boot: "auto",
        as_flags: &["--64"],
        ld_flags: &["-m", "elf_x86_64", "-T", "pvh.ld"],
        flat: false,
    },
    Spec {
        src: "bzimage.S",
        boot: "auto",
        as_flags: &["--64"],
        ld_flags: &["-m", "elf_x86_64", "-T", "flat-0.ld"],
        flat: true,
    },
    Spec {
        src: "workload.S",
        boot: "raw:0x100000:protected",
        as_flags: &["--32"],
        ld_flags: &["-m", "elf_i386", "-T", "flat-100000.ld"],
        flat: true,
    },
    Spec {
        src: "dirtier.S",
        boot: "raw:0x100000:protected",
        as_flags: &["--32"],
        ld_flags: &["-m", "elf_i386", "-T", "flat-100000.ld"],
        flat: true,
    },
    Spec {
        src: "pio_bench.S",
        boot: "raw:0x100000:protected",
        as_flags: &["--32"],
        ld_flags: &["-m", "elf_i386", "-T", "flat-100000.ld"],
        flat: true,
    },
    Spec {
        src: "counter.S",
        boot: "raw:0x100000:protected",
        as_flags: &["--32"],
        ld_flags: &["-m", "elf_i386", "-T", "flat-100000.ld"],
        flat: true,
    },
    // A guest that floods its console (tests/suite/control.rs: a full stdout pipe).
    Spec {
        src: "flood.S",
        boot: "raw:0x100000:protected",
        as_flags: &["--32"],
        ld_flags: &["-m", "elf_i386", "-T", "flat-100000.ld"],
        flat: true,
    },
    // A guest that finds the virtio-pci entropy device (tests/suite/pci.rs).
    Spec {
        src: "pci_probe.S",
        boot: "raw:0x100000:protected",
        as_flags: &["--32"],
        ld_flags: &["-m", "elf_i386", "-T", "flat-100000.ld"],
        flat: true,
    },
    // A malicious virtio driver against --rng (tests/suite/virtio.rs).
    Spec {
        src: "virtio_evil.S",
        boot: "raw:0x100000:protected",
        as_flags: &["--32"],
        ld_flags: &["-m", "elf_i386", "-T", "flat-100000.ld"],
        flat: true,
    },
    // The shared contracts' guests (tests/suite: contract.rs, entry.rs, power.rs, smp_report.rs),
    // in every entry mode between them.
    Spec {
        src: "hello.S",
        boot: "raw:0x100000:long",
        as_flags: &["--64"],
        ld_flags: &["-m", "elf_x86_64", "-T", "flat-100000.ld"],
        flat: true,
    },
    Spec {
        src: "echo.S",
        boot: "raw:0x100000:protected",
        as_flags: &["--32"],
        ld_flags: &["-m", "elf_i386", "-T", "flat-100000.ld"],
        flat: true,
    },
    Spec {
        src: "power_button.S",
        boot: "raw:0x100000:protected",
        as_flags: &["--32"],
        ld_flags: &["-m", "elf_i386", "-T", "flat-100000.ld"],
        flat: true,
    },
    Spec {
        src: "entry.S",
        boot: "auto",
        as_flags: &["--64"],
        ld_flags: &["-m", "elf_x86_64", "-T", "elf64.ld"],
        flat: false,
    },
    Spec {
        src: "poweroff.S",
        boot: "raw:0x8000:real",
        as_flags: &["--32"],
        ld_flags: &["-m", "elf_i386", "-T", "flat-8000.ld"],
        flat: true,
    },
    Spec {
        src: "reset.S",
        boot: "raw:0x100000:protected",
        as_flags: &["--32"],
        ld_flags: &["-m", "elf_i386", "-T", "flat-100000.ld"],
        flat: true,
    },
    // Multiboot, not raw: a raw image gets no ACPI tables, and this one needs its FACS.
    Spec {
        src: "sleep.S",
        boot: "auto",
        as_flags: &["--32"],
        ld_flags: &[
            "-m",
            "elf_i386",
            "-T",
            "../../../arch-x86_64/guest/multiboot.ld",
        ],
        flat: false,
    },
    // CPU templates (tests/suite/cpu_template.rs): the CPUID a vCPU sees.
    Spec {
        src: "cpuid.S",
        boot: "raw:0x100000:long",
        as_flags: &["--64"],
        ld_flags: &["-m", "elf_x86_64", "-T", "flat-100000.ld"],
        flat: true,
    },
    Spec {
        src: "triple_fault.S",
        boot: "raw:0x100000:protected",
        as_flags: &["--32"],
        ld_flags: &["-m", "elf_i386", "-T", "flat-100000.ld"],
        flat: true,
    },
    Spec {
        src: "smp.S",
        boot: "raw:0x100000:long",
        as_flags: &["--64"],
        ld_flags: &["-m", "elf_x86_64", "-T", "flat-100000.ld"],
        flat: true,
    },
    Spec {
        src: "pmtimer.S",
        boot: "auto",
        as_flags: &["--32"],
        ld_flags: &[
            "-m",
            "elf_i386",
            "-T",
            "../../../arch-x86_64/guest/multiboot.ld",
        ],
        flat: false,
    },
    Spec {
        src: "facs.S",
        boot: "auto",
        as_flags: &["--32"],
        ld_flags: &[
            "-m",
            "elf_i386",
            "-T",
            "../../../arch-x86_64/guest/multiboot.ld",
        ],
        flat: false,
    },
    Spec {
        src: "lowload.S",
        boot: "auto",
        as_flags: &["--32"],
        ld_flags: &["-m", "elf_i386", "-T", "elf-8000.ld"],
        flat: false,
    },
    Spec {
        src: "multiboot.S",
        boot: "auto",
        as_flags: &["--32"],
        ld_flags: &[
            "-m",
            "elf_i386",
            "-T",
            "../../../arch-x86_64/guest/multiboot.ld",
        ],
        flat: false,
    },
];

/// The arm64 guests: position independent, linked at 0, loaded raw at (various) 4 KiB-aligned
/// RAM addresses; arm64 has no entry modes.
const AARCH64: &[Spec] = &[
    Spec {
        src: "entry.S",
        boot: "raw:0x40000000",
        as_flags: &[],
        ld_flags: &["-T", "flat.ld"],
        flat: true,
    },
    Spec {
        src: "mmio.S",
        boot: "raw:0x40200000",
        as_flags: &[],
        ld_flags: &["-T", "flat.ld"],
        flat: true,
    },
    Spec {
        src: "smp.S",
        boot: "raw:0x40080000",
        as_flags: &[],
        ld_flags: &["-T", "flat.ld"],
        flat: true,
    },
    Spec {
        src: "gic.S",
        boot: "raw:0x40100000",
        as_flags: &[],
        ld_flags: &["-T", "flat.ld"],
        flat: true,
    },
    Spec {
        src: "counter.S",
        boot: "raw:0x40001000",
        as_flags: &[],
        ld_flags: &["-T", "flat.ld"],
        flat: true,
    },
    Spec {
        src: "dirtier.S",
        boot: "raw:0x40100000",
        as_flags: &[],
        ld_flags: &["-T", "flat.ld"],
        flat: true,
    },
    Spec {
        src: "poweroff.S",
        boot: "raw:0x40010000",
        as_flags: &[],
        ld_flags: &["-T", "flat.ld"],
        flat: true,
    },
    Spec {
        src: "reset.S",
        boot: "raw:0x40010000",
        as_flags: &[],
        ld_flags: &["-T", "flat.ld"],
        flat: true,
    },
    Spec {
        src: "lpi.S",
        boot: "raw:0x40300000",
        as_flags: &[],
        ld_flags: &["-T", "flat.ld"],
        flat: true,
    },
];

/// The ppc64 (pseries, little-endian) guests: flat images loaded raw at 4 MiB.
const PPC64: &[Spec] = &[
    ppc64("hello.S"),
    ppc64("poweroff.S"),
    ppc64("smp.S"),
    ppc64("echo.S"),
    ppc64("counter.S"),
    ppc64("dirtier.S"),
    ppc64("mmio.S"),
    ppc64("entry.S"),
    ppc64("rtas.S"),
    ppc64("regmove.S"),
    ppc64("xics.S"),
    ppc64("xics_smp.S"),
    ppc64("badargs.S"),
    ppc64("hpt.S"),
    ppc64("hpt_ticks.S"),
    ppc64("hpt_remap.S"),
    // An ELF built as for QEMU's pseries (physical address 0), booted without --raw.
    Spec {
        src: "qemu_elf.S",
        boot: "auto",
        as_flags: &["-a64", "-mpower9", "-mlittle"],
        ld_flags: &["-T", "elf.ld"],
        flat: false,
    },
    Spec {
        src: "hello_be.S",
        boot: "raw:0x400000:be",
        as_flags: &["-a64", "-mpower9", "-mbig"],
        ld_flags: &["-m", "elf64ppc", "-T", "flat.ld"],
        flat: true,
    },
    Spec {
        src: "ppc970.S",
        boot: "raw:0x400000:be",
        as_flags: &["-a64", "-mpower9", "-mbig"],
        ld_flags: &["-m", "elf64ppc", "-T", "flat.ld"],
        flat: true,
    },
];

const fn ppc64(src: &'static str) -> Spec {
    Spec {
        src,
        boot: "raw:0x400000",
        as_flags: &["-a64", "-mpower9", "-mlittle"],
        ld_flags: &["-T", "flat.ld"],
        flat: true,
    }
}

fn main() {
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap();
    let big = std::env::var("CARGO_CFG_TARGET_ENDIAN").unwrap() == "big";
    let manifest = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let (dir, specs): (&str, &[Spec]) = match arch.as_str() {
        "x86_64" => ("x86_64", X86_64),
        "aarch64" => ("aarch64", AARCH64),
        "powerpc64" if !big => ("ppc64", PPC64),
        _ => ("", &[]),
    };
    let mut table = String::from("/// The test guests built for this target.\n");
    table.push_str("pub const GUESTS: &[Guest] = &[\n");
    if !specs.is_empty() {
        let dir = manifest.join("guests").join(dir);
        println!("cargo:rerun-if-changed={}", dir.display());
        let prefix = binutils_prefix(&arch, big).expect("guest arch has binutils");
        let include = format!("-I{}", dir.display());
        for s in specs {
            let mut as_flags: Vec<&str> = s.as_flags.to_vec();
            as_flags.push(&include);
            let scripts: Vec<String> = s
                .ld_flags
                .iter()
                .map(|f| {
                    if f.ends_with(".ld") {
                        dir.join(f).display().to_string()
                    } else {
                        f.to_string()
                    }
                })
                .collect();
            let ld: Vec<&str> = scripts.iter().map(String::as_str).collect();
            let out = build_guest(prefix, &dir.join(s.src), &as_flags, &ld, s.flat);
            let name = Path::new(s.src).file_stem().unwrap().to_str().unwrap();
            table.push_str(&format!(
                "    Guest {{ name: {name:?}, boot: {:?}, image: include_bytes!({:?}) }},\n",
                s.boot,
                out.display().to_string()
            ));
        }
    }
    table.push_str("];\n");
    let out_dir = std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
    std::fs::write(out_dir.join("guests.rs"), table).unwrap();
    fixtures(&manifest, &arch, big, &out_dir);
}

/// Embeds `fixtures/<arch>/*` (snapshots in older formats) in the test executables, so they run
/// where the source tree is not (the emulated-host lanes).
fn fixtures(manifest: &Path, arch: &str, big: bool, out_dir: &Path) {
    let name = match arch {
        "x86_64" => "x86_64",
        "aarch64" => "arm64",
        "powerpc64" if big => "booke",
        "powerpc64" => "ppc64",
        _ => "",
    };
    let dir = manifest.join("fixtures").join(name);
    println!(
        "cargo:rerun-if-changed={}",
        manifest.join("fixtures").display()
    );
    let mut files: Vec<std::path::PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    let mut table =
        String::from("/// The snapshot fixtures of this target's arch: (file name, bytes).\n");
    table.push_str("pub const FILES: &[(&str, &[u8])] = &[\n");
    for f in files {
        let file = f.file_name().unwrap().to_str().unwrap();
        table.push_str(&format!(
            "    ({file:?}, include_bytes!({:?})),\n",
            f.display().to_string()
        ));
    }
    table.push_str("];\n");
    std::fs::write(out_dir.join("fixtures.rs"), table).unwrap();
}
