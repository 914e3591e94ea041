//! Entry into each boot protocol: the guest checks the state tetra left and reports.

use crate::expect;
use integration_tests::guests;
use integration_tests::harness::Suite;
use integration_tests::run::run;
use tetra_host::HostArch;
use vmm_core::{GuestExit, Payload};

pub fn register(s: &mut Suite) {
    for (guest, line) in [
        ("realmode", "real mode: ok"),
        ("protmode", "protected mode: ok"),
        ("longmode", "long mode: ok"),
    ] {
        let Some(g) = guests::get(guest) else {
            continue;
        };
        s.kvm(&format!("boot::{guest}_entry"), move || {
            let out = run::<HostArch>(g.config(1, 16))?;
            expect(&out, GuestExit::DebugExit(0x10), &[line])
        });
    }

    if let Some(g) = guests::get("pvh") {
        s.kvm("boot::pvh_entry_with_cmdline_and_module", move || {
            let mut cfg = g.config(1, 64);
            cfg.cmdline = "console=ttyS0 pvh-test=1".into();
            cfg.initrd = Some(Payload::Bytes {
                name: "initrd".into(),
                data: b"first line of the initrd\nsecond\n".to_vec(),
            });
            let out = run::<HostArch>(cfg)?;
            expect(
                &out,
                GuestExit::DebugExit(0x21),
                &[
                    "pvh: cmdline=console=ttyS0 pvh-test=1",
                    "pvh: module 0: first line of the initrd",
                ],
            )?;
            integration_tests::harness::check(out.console.contains("modules=1"), || {
                out.console.clone()
            })
        });
        s.kvm("boot::pvh_entry_without_module", move || {
            let out = run::<HostArch>(g.config(1, 64))?;
            expect(&out, GuestExit::DebugExit(0x20), &["pvh: cmdline="])
        });
    }

    if let Some(g) = guests::get("multiboot") {
        s.kvm("boot::multiboot_entry_info_and_module", move || {
            let mut cfg = g.config(1, 64);
            cfg.cmdline = "hello multiboot".into();
            cfg.initrd = Some(Payload::Bytes {
                name: "ramdisk.img".into(),
                data: b"module zero contents\nmore\n".to_vec(),
            });
            let out = run::<HostArch>(cfg)?;
            expect(
                &out,
                GuestExit::DebugExit(0x41),
                &[
                    "multiboot: mem_lower=639 KiB mem_upper=64512 KiB",
                    "multiboot: cmdline=test guest multiboot hello multiboot",
                    "multiboot: module 0: 26 bytes: module zero contents",
                    "fw_cfg: QEMU signature, NB_CPUS=1",
                    "smp: 1 of 1 vCPUs up, 0 IPIs",
                ],
            )
        });
    }

    // Issue 18: a multiboot kernel below 1 MiB loads there (where tetra keeps nothing), sees
    // its own path as the command line's first word, as under GRUB and QEMU, and can drop to
    // real mode.
    if let Some(g) = guests::get("lowload") {
        s.kvm(
            "boot::multiboot_kernel_at_0x8000_runs_and_sees_its_path_first",
            move || {
                let dir = integration_tests::run::Scratch::new("lowload");
                let kernel = g.write_to(&dir.0);
                let out = std::process::Command::new(integration_tests::run::tetra_bin()?)
                    .arg("run")
                    .arg("--kernel")
                    .arg(&kernel)
                    .args(["--cmdline", "-v quick"])
                    .output()
                    .map_err(|e| e.to_string())?;
                let stdout = String::from_utf8_lossy(&out.stdout);
                let path = kernel.display();
                for want in [
                    format!("lowload: cmdline={path} -v quick"),
                    format!("lowload: argv0={path}"),
                    "lowload: real mode".to_string(),
                ] {
                    integration_tests::harness::check(stdout.lines().any(|l| l == want), || {
                        format!("missing {want:?} in:\n{stdout}")
                    })?;
                }
                integration_tests::harness::check(
                    out.status.code() == Some((0x30 << 1) | 1),
                    || {
                        format!(
                            "exit {:?}, stderr {}",
                            out.status,
                            String::from_utf8_lossy(&out.stderr)
                        )
                    },
                )
            },
        );
    }

    // Issue 18: a 32-bit OS that reads only the FADT's FIRMWARE_CTRL finds the FACS.
    if let Some(g) = guests::get("facs") {
        s.kvm(
            "boot::the_facs_is_found_through_the_32_bit_firmware_ctrl",
            move || {
                let out = run::<HostArch>(g.config(1, 64))?;
                expect(
                    &out,
                    GuestExit::DebugExit(0x20),
                    &["acpi: FACS through FIRMWARE_CTRL"],
                )
            },
        );
    }

    // Issue 18: the ACPI PM timer runs at 3.579545 MHz, measured by the guest against the
    // PIT (1.193182 MHz, three PM ticks per PIT tick) within 1%: the median of its 20 periods
    // (a vCPU descheduled past a PIT edge on a loaded host stretches a period or two to twice
    // their length and more; a timer at a wrong rate is off in every period), and the total
    // within 1% once those periods are taken out.
    if let Some(g) = guests::get("pmtimer") {
        s.kvm(
            "boot::the_acpi_pm_timer_runs_at_its_rate_against_the_pit",
            move || {
                let out = run::<HostArch>(g.config(1, 64))?;
                expect(&out, GuestExit::DebugExit(0x20), &[])?;
                let n: f64 = out
                    .console
                    .lines()
                    .find_map(|l| l.strip_prefix("pmtimer: "))
                    .and_then(|l| l.split_whitespace().next())
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| format!("no count in:\n{}", out.console))?;
                let per = 65_536.0 * 3_579_545.0 / 1_193_182.0;
                let mut periods: Vec<f64> = out
                    .console
                    .lines()
                    .filter_map(|l| l.strip_prefix("pmtimer: period "))
                    .filter_map(|n| n.trim().parse().ok())
                    .collect();
                integration_tests::harness::check(periods.len() == 20, || {
                    format!("{} periods in:\n{}", periods.len(), out.console)
                })?;
                // The total is the sum of the periods.
                let sum: f64 = periods.iter().sum();
                integration_tests::harness::check(sum == n, || format!("{sum} != {n}"))?;
                periods.sort_by(f64::total_cmp);
                let median = (periods[9] + periods[10]) / 2.0;
                integration_tests::harness::check((median / per - 1.0).abs() < 0.01, || {
                    format!(
                        "median period {median} PM ticks, {per:.0} expected: ratio {:.4}; {:?}",
                        median / per,
                        periods
                    )
                })?;
                // Periods a stall stretched (by half a PIT period or more) taken out, the rest
                // agrees within 1% too.
                let kept: Vec<f64> = periods.into_iter().filter(|p| *p < 1.5 * per).collect();
                let total: f64 = kept.iter().sum();
                let want = per * kept.len() as f64;
                integration_tests::harness::check(
                    kept.len() >= 10 && (total / want - 1.0).abs() < 0.01,
                    || {
                        format!(
                            "{total} PM ticks in {} periods, {want:.0} expected",
                            kept.len()
                        )
                    },
                )
            },
        );
    }

    if let Some(g) = guests::get("bzimage") {
        s.kvm(
            "boot::bzimage_setup_header_boot_params_and_entry",
            move || {
                let mut cfg = g.config(1, 64);
                cfg.cmdline = "console=ttyS0 root=/dev/vda".into();
                cfg.initrd = Some(Payload::Bytes {
                    name: "initrd".into(),
                    data: b"initrd for bzImage\n".to_vec(),
                });
                let out = run::<HostArch>(cfg)?;
                expect(
                    &out,
                    GuestExit::DebugExit(0x30),
                    &[
                        "bzImage: 64-bit entry, boot_params at 0x7000, e820 entries=3",
                        "bzImage: cmdline=console=ttyS0 root=/dev/vda",
                        "bzImage: initrd 19 bytes: initrd for bzImage",
                    ],
                )
            },
        );
    }
}
