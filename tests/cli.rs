//! The `tetra` command line: help, version, and every kind of bad input. Each bad input must give
//! exactly one line on stderr that names the file or value, a non-zero status (2 for usage errors
//! and bad input, 4 for host errors), and never a panic.

use integration_tests::harness::{check, kvm_unavailable, Suite};
use integration_tests::run::Scratch;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use tetra_host::{HostArch, HOST_ARCH};
use vmm_core::Arch;

fn tetra() -> PathBuf {
    std::env::var_os("TETRA_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_tetra")))
}

fn run(args: &[&str]) -> Result<Output, String> {
    Command::new(tetra())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {}: {e}", tetra().display()))
}

/// Checks a failure: status `code`, one stderr line containing every one of `words`, no panic.
fn one_line_error(out: &Output, code: i32, words: &[&str]) -> Result<(), String> {
    let err = String::from_utf8_lossy(&out.stderr);
    let show = || format!("status {:?}, stderr {err:?}", out.status.code());
    check(out.status.code() == Some(code), show)?;
    check(err.lines().count() == 1 && err.ends_with('\n'), show)?;
    check(!err.contains("panicked"), show)?;
    for w in words {
        check(err.contains(w), || format!("{:?} not in {err:?}", w))?;
    }
    Ok(())
}

/// An ELF32 whose one segment loads `memsz` bytes at 1 MiB, with a valid multiboot header when
/// `multiboot`.
fn elf32(multiboot: bool, memsz: u32) -> Vec<u8> {
    let mut code = Vec::new();
    if multiboot {
        for v in [0x1bad_b002u32, 0, 0u32.wrapping_sub(0x1bad_b002)] {
            code.extend_from_slice(&v.to_le_bytes());
        }
    }
    code.extend_from_slice(&[0xf4; 4]);
    let mut b = vec![0u8; 84];
    b[..7].copy_from_slice(b"\x7fELF\x01\x01\x01");
    b[16] = 2;
    b[18] = 3;
    b[24..28].copy_from_slice(&0x10_0000u32.to_le_bytes());
    b[28] = 52;
    b[42] = 32;
    b[44] = 1;
    b[52] = 1; // PT_LOAD
    b[56] = 84;
    b[60..64].copy_from_slice(&0x10_0000u32.to_le_bytes());
    b[64..68].copy_from_slice(&0x10_0000u32.to_le_bytes());
    b[68..72].copy_from_slice(&(code.len() as u32).to_le_bytes());
    b[72..76].copy_from_slice(&memsz.max(code.len() as u32).to_le_bytes());
    b.extend_from_slice(&code);
    b
}

fn main() {
    let mut s = Suite::new();

    s.host("cli::help_and_version", || {
        let h = run(&["--help"])?;
        let text = String::from_utf8_lossy(&h.stdout);
        check(h.status.success() && text.contains("tetra run"), || {
            text.to_string()
        })?;
        let v = run(&["--version"])?;
        let text = String::from_utf8_lossy(&v.stdout);
        check(v.status.success() && text.starts_with("tetra "), || {
            text.to_string()
        })
    });

    // Every command the overview lists answers --help, -h and `tetra help CMD` with its own
    // usage, on stdout, status 0 (issue 16: `tetra migrate --help` used to exit 2).
    s.host("cli::every_command_answers_help", || {
        let h = run(&["--help"])?;
        let overview = String::from_utf8_lossy(&h.stdout).into_owned();
        let mut commands: Vec<Vec<String>> = Vec::new();
        for line in overview.lines() {
            let mut w = line.split_whitespace();
            if w.next() != Some("tetra") || !line.starts_with("  tetra ") {
                continue;
            }
            let Some(cmd) = w.next().filter(|c| !c.starts_with('-') && *c != "help") else {
                continue;
            };
            let mut words = vec![cmd.to_string()];
            // `tetra inspect snapshot FILE`: the thing inspected is part of the command.
            if let Some(what) = w
                .next()
                .filter(|x| x.chars().all(|c| c.is_ascii_lowercase()))
            {
                words.push(what.to_string());
            }
            if !commands.contains(&words) {
                commands.push(words);
            }
        }
        // run, ctl, migrate, regs and inspect snapshot/its/tlb at least.
        check(commands.len() >= 7, || {
            format!("commands found: {commands:?} in\n{overview}")
        })?;
        for words in &commands {
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            let forms = [
                [&words[..], &["--help"]].concat(),
                [&words[..], &["-h"]].concat(),
                [&["help"], &words[..]].concat(),
            ];
            for args in forms {
                let out = run(&args)?;
                let text = String::from_utf8_lossy(&out.stdout);
                let show = || {
                    format!(
                        "tetra {}: status {:?}, stdout {text:?}, stderr {:?}",
                        args.join(" "),
                        out.status.code(),
                        String::from_utf8_lossy(&out.stderr)
                    )
                };
                check(out.status.success() && out.stderr.is_empty(), show)?;
                check(text.starts_with("Usage:\n"), show)?;
                check(text.contains(&format!("  tetra {} ", words[0])), show)?;
                check(text != overview, show)?;
            }
        }
        let bare = run(&["help"])?;
        check(bare.status.success() && bare.stdout == h.stdout, || {
            format!("tetra help: {:?}", bare.status.code())
        })?;
        one_line_error(&run(&["help", "fly"])?, 2, &["'fly'", "run"])
    });

    // A description file with an unknown field, a wrong type or a value out of range is
    // refused naming the field, in one line, exit 2; --config must come first.
    s.host("cli::a_bad_config_file_is_refused_naming_the_field", || {
        let dir = Scratch::new("cli-config");
        for (name, text, words) in [
            (
                "unknown",
                r#"{"machine": {"cpus": 1, "vcpus": 2}}"#,
                &["machine", "`vcpus`"][..],
            ),
            (
                "type",
                r#"{"payload": {"cmdline": 7}}"#,
                &["payload.cmdline", "invalid type"][..],
            ),
            (
                "range",
                r#"{"devices": {"vsock": {"cid": 1, "uds": "/v"}}}"#,
                &["devices.vsock.cid"][..],
            ),
            ("syntax", "{\"machine\": ", &["vm-syntax.json"][..]),
        ] {
            let path = dir.0.join(format!("vm-{name}.json"));
            std::fs::write(&path, text).map_err(|e| e.to_string())?;
            let p = path.to_string_lossy().into_owned();
            let out = run(&["run", "--config", &p])?;
            one_line_error(&out, 2, words).map_err(|e| format!("{name}: {e}"))?;
        }
        let ok = dir.0.join("ok.json");
        std::fs::write(&ok, "{}").map_err(|e| e.to_string())?;
        let out = run(&["run", "--cpus", "2", "--config", &ok.to_string_lossy()])?;
        one_line_error(&out, 2, &["--config", "first"])?;
        let out = run(&[
            "run",
            "--config",
            &ok.to_string_lossy(),
            "--cpus",
            "3",
            "--print-config",
        ])?;
        let text = String::from_utf8_lossy(&out.stdout);
        check(out.status.success() && text.contains("\"cpus\": 3"), || {
            text.to_string()
        })
    });

    let usage: &[(&str, &[&str], &[&str])] = &[
        ("no_command", &[], &["no command"]),
        ("unknown_command", &["fly"], &["'fly'"]),
        ("unknown_option", &["run", "--warp"], &["--warp"]),
        ("missing_value", &["run", "--kernel"], &["--kernel"]),
        ("cpus_zero", &["run", "--cpus", "0"], &["--cpus 0"]),
        (
            "cpus_not_a_number",
            &["run", "--cpus", "many"],
            &["--cpus", "'many'"],
        ),
        ("mem_zero", &["run", "--mem", "0"], &["--mem 0"]),
        (
            "raw_without_kernel",
            &["run", "--raw", "0x8000"],
            &["--raw"],
        ),
        (
            "raw_bad_address",
            &["run", "--kernel", "/dev/null", "--raw", "zz"],
            &["--raw", "'zz'"],
        ),
        (
            "disk_bad_option",
            &["run", "--disk", "a.img,rw"],
            &["--disk", "'rw'"],
        ),
        (
            "disk_with_restore",
            &["run", "--restore", "vm.snap", "--disk", "a.img"],
            &["--disk", "--restore"],
        ),
    ];
    for &(name, args, words) in usage {
        s.host(&format!("cli::usage_{name}"), move || {
            one_line_error(&run(args)?, 2, words)
        });
    }

    s.host("cli::missing_kernel", || {
        let out = run(&["run", "--kernel", "/nonexistent/vmlinuz"])?;
        one_line_error(&out, 2, &["/nonexistent/vmlinuz", "No such file"])
    });
    s.host("cli::unreadable_kernel", || {
        let dir = Scratch::new("cli-unreadable");
        let d = dir.0.display().to_string();
        one_line_error(
            &run(&["run", "--kernel", &d])?,
            2,
            &[&d, "not a regular file"],
        )?;
        let out = run(&["run", "--initrd", "/nonexistent/initrd"])?;
        one_line_error(&out, 2, &["/nonexistent/initrd"])
    });

    // Disk images are opened (and locked) before /dev/kvm is touched: no KVM needed.
    s.host("cli::missing_or_unusable_disk", || {
        let out = run(&["run", "--disk", "/nonexistent/disk.img"])?;
        one_line_error(&out, 2, &["/nonexistent/disk.img", "No such file"])?;
        let dir = Scratch::new("cli-disk");
        let odd = dir.0.join("odd.img");
        std::fs::write(&odd, [0u8; 1000]).unwrap();
        let o = odd.display().to_string();
        one_line_error(
            &run(&["run", "--disk", &o])?,
            2,
            &[&o, "not a multiple of 512"],
        )?;
        let d = dir.0.display().to_string();
        one_line_error(
            &run(&["run", "--disk", &format!("{d},ro")])?,
            2,
            &[&d, "not a regular file or a block device"],
        )
    });
    s.host("cli::locked_disk", || {
        let dir = Scratch::new("cli-disk-lock");
        let img = dir.0.join("disk.img");
        std::fs::write(&img, [0u8; 4096]).unwrap();
        let f = std::fs::File::open(&img).unwrap();
        // Another process (here: this test) holds the image shared, as a read-only VM would.
        f.try_lock_shared().map_err(|e| e.to_string())?;
        let i = img.display().to_string();
        let out = run(&["run", "--disk", &i])?;
        one_line_error(&out, 2, &[&i, "is locked by another process (another VM?)"])
    });

    // Malformed images: the VM must be built to load them, so these need KVM.
    type BadImage = (&'static str, fn() -> Vec<u8>, &'static [&'static str]);
    let bad_images: &[BadImage] = &[
        (
            "garbage",
            || b"this is not a kernel image at all".repeat(40),
            &["not a kernel image"],
        ),
        (
            "truncated_elf",
            || elf32(true, 0)[..60].to_vec(),
            &["truncated ELF"],
        ),
        (
            "bad_elf_segment",
            || {
                let mut b = elf32(true, 0);
                b[68..72].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
                b
            },
            &["program header 0"],
        ),
        (
            "bzimage_bad_magic",
            || {
                let mut b = vec![0u8; 4096];
                b[0x1fe] = 0x55;
                b[0x1ff] = 0xaa;
                b[0x202..0x206].copy_from_slice(b"HdrZ");
                b
            },
            &["HdrS"],
        ),
        (
            "elf32_without_multiboot_header",
            || elf32(false, 0),
            &["multiboot header"],
        ),
    ];
    // The malformed images are x86 kernel formats (ELF, bzImage, multiboot); other arches load
    // their own formats and test them in their crates.
    let x86 = HOST_ARCH == "x86_64";
    for &(name, image, words) in bad_images {
        if !x86 {
            s.skip(
                &format!("cli::bad_kernel_{name}"),
                "kvm",
                "an x86 kernel format",
            );
            continue;
        }
        s.kvm(&format!("cli::bad_kernel_{name}"), move || {
            let dir = Scratch::new(&format!("cli-{name}"));
            let f = dir.0.join(format!("{name}.img"));
            std::fs::write(&f, image()).unwrap();
            let fs = f.display().to_string();
            let mut words = words.to_vec();
            words.push(&fs);
            one_line_error(&run(&["run", "--kernel", &fs])?, 2, &words)
        });
    }

    if !x86 {
        s.skip(
            "cli::mem_too_small_for_the_image",
            "kvm",
            "an x86 kernel format and embedded guest",
        );
    } else {
        s.kvm("cli::mem_too_small_for_the_image", || {
            let dir = Scratch::new("cli-mem");
            let f = dir.0.join("big.elf");
            std::fs::write(&f, elf32(true, 8 << 20)).unwrap();
            let fs = f.display().to_string();
            one_line_error(
                &run(&["run", "--kernel", &fs, "--mem", "4"])?,
                2,
                &[&fs, "does not fit", "4 MiB"],
            )?;
            // The embedded guest loads at 1 MiB: 1 MiB of RAM cannot hold it.
            one_line_error(
                &run(&["run", "--mem", "1"])?,
                2,
                &["embedded default guest", "does not fit"],
            )
        });
    }

    // An --irqchip the arch does not offer is an input error, not ignored (issue 17, defect 11).
    s.host("cli::unknown_irqchip_is_refused", || {
        let out = run(&["run", "--irqchip", "bogus"])?;
        one_line_error(&out, 2, &["--irqchip bogus"])
    });

    // Inputs that are not regular files are refused at once, never read without end or waited on
    // (issue 17, defects 5 and 6): /dev/zero reports a size of 0 and never ends; a FIFO with no
    // writer blocks an ordinary open.
    s.host(
        "cli::devices_and_fifos_as_inputs_are_refused_at_once",
        || {
            let dir = std::env::temp_dir().join(format!("tetra-cli-fifo-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let fifo = dir.join("fifo");
            let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
            // SAFETY: `c` is a NUL-terminated path that lives across the call.
            check(unsafe { libc::mkfifo(c.as_ptr(), 0o600) } == 0, || {
                "mkfifo failed".into()
            })?;
            let f = fifo.display().to_string();
            let cases: [(&[&str], &str); 6] = [
                (&["inspect", "snapshot", "/dev/zero"], "character device"),
                (&["run", "--restore", "/dev/zero"], "character device"),
                (&["inspect", "tlb", "/dev/zero"], "character device"),
                (&["inspect", "snapshot", &f], "FIFO"),
                (&["run", "--kernel", &f], "FIFO"),
                (&["run", "--initrd", &f], "FIFO"),
            ];
            for (args, kind) in cases {
                // An arch without snapshots refuses --restore before it opens anything.
                if args[1] == "--restore" && HostArch::SNAPSHOT_MAGIC.is_none() {
                    continue;
                }
                let t = std::time::Instant::now();
                let out = run(args)?;
                check(t.elapsed() < std::time::Duration::from_secs(5), || {
                    format!("{args:?} took {:?}", t.elapsed())
                })?;
                one_line_error(&out, 2, &["not a regular file", kind])
                    .map_err(|e| format!("{args:?}: {e}"))?;
            }
            let _ = std::fs::remove_dir_all(&dir);
            Ok(())
        },
    );

    s.kvm("cli::more_cpus_than_kvm_allows", || {
        let out = run(&["run", "--cpus", "4096"])?;
        one_line_error(&out, 2, &["--cpus 4096", "KVM allows at most"])
    });

    if HostArch::default_guest().is_none() {
        s.skip(
            "cli::default_guest_prints_greeting_and_exits_0",
            "kvm",
            "this arch has no embedded guest",
        );
    } else {
        s.kvm("cli::default_guest_prints_greeting_and_exits_0", || {
            let out = run(&["run", "--cpus", "2"])?;
            let text = String::from_utf8_lossy(&out.stdout);
            check(out.status.success(), || {
                format!("{:?} {}", out.status, String::from_utf8_lossy(&out.stderr))
            })?;
            check(
                text.starts_with("Hello from tetra's embedded guest"),
                || text.to_string(),
            )?;
            check(text.contains("2 of 2 vCPUs came up."), || text.to_string())
        });
    }

    if HostArch::default_guest().is_none() {
        s.skip(
            "cli::logs_are_appended_to_the_log_file_with_each_vcpu",
            "kvm",
            "this arch has no embedded guest",
        );
    } else {
        s.kvm(
            "cli::logs_are_appended_to_the_log_file_with_each_vcpu",
            || {
                let dir = Scratch::new("cli-logs");
                let log = dir.0.join("tetra.log");
                std::fs::write(&log, "a line of the user's\n").unwrap();
                let l = log.display().to_string();
                let out = run(&["run", "--cpus", "2", "--log-file", &l])?;
                let stderr = String::from_utf8_lossy(&out.stderr);
                check(out.status.success(), || {
                    format!("{:?} {stderr}", out.status)
                })?;
                check(!stderr.contains("INFO"), || {
                    format!("logs on stderr: {stderr}")
                })?;
                let text = std::fs::read_to_string(&log).map_err(|e| e.to_string())?;
                check(text.starts_with("a line of the user's\n"), || text.clone())?;
                for want in [
                    "INFO the VM starts arch=",
                    "vcpu{id=0}: vCPU thread started",
                    "vcpu{id=1}: vCPU thread ended runs=",
                    "the guest ended end=PowerOff code=0",
                ] {
                    check(text.contains(want), || format!("no '{want}' in:\n{text}"))?;
                }
                // info by default: no debug events.
                check(!text.contains("DEBUG"), || text.clone())?;
                let out = run(&["run", "--log-level", "loud"])?;
                one_line_error(&out, 2, &["--log-level", "'loud'"])?;
                let out = run(&["run", "--log-file", &dir.0.display().to_string()])?;
                one_line_error(&out, 2, &["--log-file"])
            },
        );
    }

    s.host("cli::regs_lists_every_arch", || {
        // (arch, a line that must be there: name, set, size, ONE_REG id)
        let expect: &[(&str, &[&str])] = &[
            ("x86_64", &["rip", "U64", "0x2030800100000000"]),
            ("arm64", &["pc", "core", "U64", "0x6030000000100040"]),
            // 0x8c is ICP_STATE (U64) on Book3S and MAS0 (U32) on BookE.
            (
                "ppc64",
                &["icp_state", "one_reg", "U64", "0x103000000000008c"],
            ),
            ("booke", &["mas0", "one_reg", "U32", "0x102000000000008c"]),
        ];
        for (arch, words) in expect {
            let out = run(&["regs", "--arch", arch])?;
            let text = String::from_utf8_lossy(&out.stdout);
            check(out.status.success(), || format!("{arch}: {:?}", out.status))?;
            check(
                text.lines()
                    .next()
                    .is_some_and(|h| h.contains("ONE_REG ID") && h.contains("ATTRS")),
                || text.to_string(),
            )?;
            check(
                text.lines()
                    .any(|l| words.iter().all(|w| l.split_whitespace().any(|c| c == *w))),
                || format!("{arch}: no line with {words:?}"),
            )?;
            let json = run(&["regs", "--arch", arch, "--json"])?;
            check(
                json.stdout.starts_with(b"[") || json.stdout.starts_with(b"{"),
                || String::from_utf8_lossy(&json.stdout).to_string(),
            )?;
        }
        one_line_error(&run(&["regs", "--arch", "sparc"])?, 2, &["'sparc'"])
    });

    s.host("cli::inspect_tlb_prints_and_translates", || {
        use arch_booke::mmu::{ByteOrder, Mapping, Perms, Tlb, TlbArray};
        let dir = Scratch::new("cli-tlb");
        let geometry =
            arch_booke::inspect::parse_geometry("512x4,64").map_err(|e| e.to_string())?;
        let mut entries = TlbArray::new(geometry).entries().to_vec();
        let tlb1 = geometry.index(Tlb::Tlb1, 0).ok_or("TLB1 entry 0")?;
        entries[tlb1] = arch_booke::abi::kvm_book3e_206_tlb_entry::from_mapping(&Mapping {
            ea: 0xc000_0000,
            ra: 0,
            tsize: 16, // 64 MiB
            tid: 0,
            ts: false,
            iprot: true,
            attrs: 0,
            perms: Perms(Perms::SR.0 | Perms::SW.0 | Perms::SX.0),
        });
        let dump = TlbArray::from_entries(geometry, entries)
            .map_err(|e| e.to_string())?
            .encode(ByteOrder::Big);
        let f = dir.0.join("tlb.bin");
        std::fs::write(&f, dump).unwrap();
        let fs = f.display().to_string();
        let out = run(&[
            "inspect",
            "tlb",
            &fs,
            "--geometry",
            "512x4,64",
            "--translate",
            "0xc0123456",
        ])?;
        let text = String::from_utf8_lossy(&out.stdout);
        check(out.status.success(), || {
            format!("{:?} {}", out.status, String::from_utf8_lossy(&out.stderr))
        })?;
        check(
            text.contains("c0000000") && text.contains("64M") && text.contains("1 valid"),
            || text.to_string(),
        )?;
        check(text.contains("0x123456"), || {
            format!("translation missing:\n{text}")
        })?;
        // Without the geometry a raw dump cannot be read: one line, status 2.
        one_line_error(&run(&["inspect", "tlb", &fs])?, 2, &[&fs, "geometry"])
    });

    s.host("cli::inspect_htab_prints_and_translates", || {
        use arch_ppc64::mmu::htab::{encode, Endian};
        use arch_ppc64::mmu::{
            hash, translate, HashTable, Hpte, HtabGeometry, SegmentSize, Slb, SlbEntry,
        };
        let dir = Scratch::new("cli-htab");
        let g = HtabGeometry::new(18).map_err(|e| e.to_string())?;
        // One 4K page: EA 0xc000000001234000 in a 256M segment of VSID 0x1234 -> RA 0x76543000.
        let slbe = SlbEntry::new(0xc000_0000_0000_0000, SegmentSize::M256, 0x1234, 0);
        let seg = Slb::new(&[slbe])
            .map_err(|e| e.to_string())?
            .lookup(0xc000_0000_0000_0000)
            .ok_or("segment")?;
        let ea = 0xc000_0000_0123_4000;
        let va = translate::virtual_address(&seg, ea);
        let e = Hpte {
            v: (translate::avpn(va, 12) << 7) | 1,
            r: 0x7654_3000,
        };
        let mut t = HashTable::new(g).map_err(|e| e.to_string())?;
        let h = hash::hash(seg.vsid, seg.size, ea, 12);
        t.set(g.group(h, true) * 8, Hpte { v: e.v | 2, ..e })
            .map_err(|e| e.to_string())?;
        let stream = encode(g, &t.first_pass(), Endian::Little).map_err(|e| e.to_string())?;
        let f = dir.0.join("htab.bin");
        std::fs::write(&f, &stream).unwrap();
        let fs = f.display().to_string();
        let slb = format!("{:#x},{:#x}", slbe.esid, slbe.vsid);
        let out = run(&[
            "inspect",
            "htab",
            &fs,
            "--slb",
            &slb,
            "--translate",
            "0xc000000001234abc",
        ])?;
        let text = String::from_utf8_lossy(&out.stdout);
        check(out.status.success(), || {
            format!("{:?} {}", out.status, String::from_utf8_lossy(&out.stderr))
        })?;
        check(
            text.contains("2^18 bytes") && text.contains("1 valid") && text.contains(" H"),
            || text.to_string(),
        )?;
        check(text.contains("-> RA 0x76543abc"), || {
            format!("translation missing:\n{text}")
        })?;
        // A corrupt record (a count past the table) is refused by name: one line, status 2.
        let mut bad = stream.clone();
        bad[4..6].copy_from_slice(&0xffffu16.to_le_bytes());
        std::fs::write(&f, &bad).unwrap();
        one_line_error(
            &run(&["inspect", "htab", &fs, "--order", "18"])?,
            2,
            &[&fs, "HTAB"],
        )
    });

    // No /dev/kvm: a private mount namespace with an empty /dev.
    match Command::new("unshare").args(["-m", "true"]).status() {
        Ok(st) if st.success() => s.host("cli::no_dev_kvm", || {
            let out = Command::new("unshare")
                .args([
                    "-m",
                    "sh",
                    "-c",
                    "mount -t tmpfs none /dev && exec \"$0\" run",
                ])
                .arg(tetra())
                .output()
                .map_err(|e| e.to_string())?;
            one_line_error(&out, 4, &["/dev/kvm", "No such file"])
        }),
        _ => s.skip(
            "cli::no_dev_kvm",
            "host",
            "cannot create a mount namespace (unshare -m)",
        ),
    }

    // No permission on /dev/kvm: run as nobody (needs root to switch user).
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc_geteuid() } == 0;
    // Probe the exact options the test needs: busybox's setpriv has no --reuid.
    let has_setpriv = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if root && has_setpriv && kvm_unavailable().is_none() {
        s.host("cli::no_permission_on_dev_kvm", || {
            let dir = Scratch::new("cli-perm");
            let bin = dir.0.join("tetra");
            std::fs::copy(tetra(), &bin).map_err(|e| e.to_string())?;
            let open = |p: &std::path::Path, mode| {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
            };
            open(&dir.0, 0o755).map_err(|e| e.to_string())?;
            open(&bin, 0o755).map_err(|e| e.to_string())?;
            let out = Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(&bin)
                .arg("run")
                .output()
                .map_err(|e| e.to_string())?;
            one_line_error(&out, 4, &["/dev/kvm", "Permission denied"])
        });
    } else {
        s.skip(
            "cli::no_permission_on_dev_kvm",
            "host",
            "needs root, util-linux setpriv able to run as nobody (busybox has none), and a usable /dev/kvm",
        );
    }

    s.run()
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
