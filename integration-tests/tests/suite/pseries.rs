//! ppc64 (pseries) scenarios on real KVM-HV: the boot vCPU's entry state and device tree, RTAS,
//! and payloads tetra must refuse. Registered when the target has the ppc64 guests.

use crate::expect;
use integration_tests::guests;
use integration_tests::harness::{check, Suite};
use integration_tests::run::{chain, run, Scratch, TestVm};
use tetra_host::{HostArch, HOST_ARCH};
use vmm_core::{GuestExit, Payload, RawLoad, VcpuPlace, VmConfig, Vmm, VmmOptions};

/// Parses "rtas: date Y M D".
fn rtas_date(console: &str) -> Option<(u32, u32, u32)> {
    let l = console
        .lines()
        .find_map(|l| l.strip_prefix("rtas: date "))?;
    let v: Vec<u32> = l
        .split(' ')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    match v[..] {
        [y, m, d] => Some((y, m, d)),
        _ => None,
    }
}

/// Whether the host kernel runs the hash MMU (/proc/cpuinfo's "MMU : Hash"): a KVM-PR host.
fn host_mmu_is_hash() -> bool {
    std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|c| {
        c.lines()
            .any(|l| l.starts_with("MMU") && l.trim_end().ends_with("Hash"))
    })
}

/// Today's and yesterday's UTC date (the guest may have read the clock before midnight).
fn utc_dates() -> [(u32, u32, u32); 2] {
    let (now, _) = vmm_core::clock::host_unix_time();
    let d = |secs: i64| {
        let t = vmm_core::clock::DateTime::from_unix(secs, 0);
        (t.year as u32, t.month, t.day)
    };
    [d(now), d(now - 86400)]
}

/// A 2-vCPU counter guest (its secondary never started, in the RTAS stopped state) snapshotted
/// mid-run: the restored boot vCPU counts on to the end, the secondary stays parked and never
/// enters the guest.
fn stopped_secondary_snapshot(counter: &'static guests::Guest) -> Result<(), String> {
    use std::sync::{Arc, Mutex};
    use vmm_core::console::ConsoleSink;
    let dir = Scratch::new("pseries-snap2");
    let snap = dir.0.join("vm.snap");
    let mut a = TestVm::<HostArch>::new(counter.config(2, 16))?;
    a.vmm.start().map_err(|e| chain(&e))?;
    a.wait_for("tick 3\n")?;
    a.vmm.pause().map_err(|e| chain(&e))?;
    a.vmm.snapshot(&snap).map_err(|e| chain(&e))?;
    let before = a.console();
    drop(a);
    let buf = Arc::new(Mutex::new(Vec::new()));
    let vmm = Vmm::<HostArch>::restore(
        &snap,
        VmmOptions {
            console: ConsoleSink::Buffer(buf.clone()),
            stdin: false,
            ..VmmOptions::default()
        },
    )
    .map_err(|e| chain(&e))?;
    let mut b = TestVm::from_parts(vmm, buf);
    b.vmm.start().map_err(|e| chain(&e))?;
    b.wait_for("tick 6\n")?;
    let act = b.vmm.vcpu_activity();
    check(
        act.len() == 2 && act[1].runs == 0 && act[1].place == VcpuPlace::Parked,
        || format!("the secondary after the restore: {act:?}"),
    )?;
    let out = b.finish()?;
    let all: String = (1..=40).map(|i| format!("tick {i}\n")).collect();
    check(out.exit == GuestExit::DebugExit(0x10), || {
        format!("{:?}\n{}", out.exit, out.console)
    })?;
    check(format!("{before}{}", out.console) == all, || {
        format!("before:\n{before}\nafter:\n{}", out.console)
    })
}

/// Runs the `hpt` guest (as processor `model`, else the host's) and checks the entry it mapped:
/// "hpt: ok slot S v V r R" (hex), what H_ENTER placed and H_READ read back, in the first slot
/// of PTEG 0x126, for VSID 0x123 and real page 0x700000, after its translated read and write.
fn hpt_maps_its_page(g: &'static guests::Guest, model: Option<&str>) -> Result<(), String> {
    let mut cfg = g.config(1, 16);
    cfg.cpu_template = model.map(str::to_string);
    let out = run::<HostArch>(cfg)?;
    expect(&out, GuestExit::DebugExit(0x10), &[])?;
    let line = out
        .console
        .lines()
        .find(|l| l.starts_with("hpt: ok slot "))
        .ok_or_else(|| format!("no \"hpt: ok slot\" line; console:\n{}", out.console))?;
    eprintln!("{line}");
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(2)
        .collect::<Vec<_>>()
        .chunks(2)
        .filter_map(|kv| u64::from_str_radix(kv.get(1)?, 16).ok())
        .collect();
    check(
        f.len() == 3
            && f[0] == 0x930
            && f[1] >> 12 == 0x123
            && f[1] & 1 == 1
            && f[2] >> 12 == 0x700,
        || format!("unexpected entry: {line}"),
    )
}

pub fn register(s: &mut Suite) {
    // pseries-only behaviour of the ppc64 guests (other arches' guests of the same names meet the
    // shared contracts only).
    if HOST_ARCH != "ppc64" {
        return;
    }
    if let Some(counter) = guests::get("counter") {
        s.kvm(
            "pseries::a_stopped_secondary_stays_stopped_across_a_snapshot",
            move || stopped_secondary_snapshot(counter),
        );
    }
    if let Some(g) = guests::get("entry") {
        s.kvm(
            "pseries::entry_state_device_tree_and_cache_block",
            move || {
                let out = run::<HostArch>(g.config(1, 64))?;
                expect(
                    &out,
                    GuestExit::DebugExit(0x10),
                    &["entry: r3 r4 r5 msr ok", "entry: hcalls ok", "entry: ok"],
                )?;
                // Seed 002: the guest measured the block dcbz clears and found the device tree's.
                let line = out
                    .console
                    .lines()
                    .find(|l| l.starts_with("entry: dcbz clears "))
                    .ok_or("no dcbz line")?;
                eprintln!("{line}");
                Ok(())
            },
        );
    }

    if let Some(g) = guests::get("hpt") {
        // The hash MMU: only a hash host (KVM-PR on POWER8; nested KVM-HV is radix-only) gives
        // the guest a hash table. The same guest as the host's processor and as a PPC970
        // (`--cpu-template ppc970`, KVM-PR's 970 MMU model: no large-page or 1T flags).
        for (name, model) in [
            ("pseries::hash_mmu_guest_maps_a_page_with_h_enter", None),
            (
                "pseries::hash_mmu_guest_maps_a_page_as_a_ppc970",
                Some("ppc970"),
            ),
        ] {
            if host_mmu_is_hash() {
                s.kvm(name, move || hpt_maps_its_page(g, model));
            } else {
                s.skip(
                    name,
                    "kvm",
                    "the host's MMU is radix (KVM-HV runs radix guests only)",
                );
            }
        }
    }

    if let Some(g) = guests::get("smp") {
        // The smp guest restarts vCPU 1 after it stopped itself inside H_RTAS: the restart must
        // enter with start-cpu's r3, not with that call's results.
        s.kvm("pseries::stop_self_then_start_cpu_again", move || {
            let out = run::<HostArch>(g.config(2, 64))?;
            expect(
                &out,
                GuestExit::DebugExit(0x42),
                &["cpu 1 up", "cpu 1 again", "smp: 2 of 2 vCPUs up"],
            )
        });
    }

    if let Some(g) = guests::get("ppc970") {
        // The processor a guest sees (--cpu-template): a PPC970 on KVM-PR (the hash hosts of the
        // lanes), refused by name on KVM-HV, which runs guests as the host's processor only.
        s.kvm(
            "pseries::a_ppc970_guest_sees_its_pvr_and_the_dcbz_block",
            move || {
                let mut cfg = g.config(1, 64);
                cfg.cpu_template = Some("ppc970".into());
                if !host_mmu_is_hash() {
                    let e = match TestVm::<HostArch>::new(cfg) {
                        Ok(_) => return Err("KVM-HV took a PPC970 guest".into()),
                        Err(e) => e,
                    };
                    return check(e.contains("needs KVM-PR") && e.contains("ppc970"), || {
                        format!("not refused by name: {e}")
                    });
                }
                let out = run::<HostArch>(cfg)?;
                expect(&out, GuestExit::DebugExit(0x10), &[])?;
                let line = out
                    .console
                    .lines()
                    .find(|l| l.starts_with("ppc970: pvr "))
                    .ok_or_else(|| format!("no \"ppc970: pvr\" line; console:\n{}", out.console))?;
                eprintln!("{line}");
                let f: Vec<&str> = line.split_whitespace().collect();
                let pvr = u32::from_str_radix(f.get(2).copied().unwrap_or(""), 16)
                    .map_err(|e| format!("{line}: {e}"))?;
                check(pvr >> 16 == 0x0039, || {
                    format!("the guest read PVR {pvr:#x}: {line}")
                })?;
                // dcbz runs natively: one block of the host's, which the device tree gives the guest.
                let block = arch_ppc64::cpu::HostCpu::detect()
                    .map_err(|e| e.to_string())?
                    .caches
                    .d
                    .block;
                check(f.get(4) == Some(&block.to_string().as_str()), || {
                    format!(
                        "dcbz cleared {:?} bytes, the d-cache block is {block}: {line}",
                        f.get(4)
                    )
                })?;
                // With HID5's DCBZ32 bit set: 32 bytes where KVM-PR emulates the 970's mode,
                // the host's block where it leaves dcbz native (docs/ppc64.md, "Processor
                // models").
                let dcbz32 = f.get(6).and_then(|n| n.parse::<u32>().ok());
                check(dcbz32 == Some(32) || dcbz32 == Some(block), || {
                    format!(
                        "with HID5.DCBZ32, dcbz cleared {:?} bytes: {line}",
                        f.get(6)
                    )
                })
            },
        );
    }

    if let Some(g) = guests::get("hello_be") {
        s.kvm("pseries::big_endian_raw_payload", move || {
            let out = run::<HostArch>(g.config(1, 64))?;
            expect(
                &out,
                GuestExit::DebugExit(0x10),
                &["hello from a big-endian guest"],
            )
        });
    }

    if let Some(g) = guests::get("rtas") {
        s.kvm("pseries::rtas_calls_and_system_reboot", move || {
            let out = run::<HostArch>(g.config(1, 64))?;
            expect(
                &out,
                GuestExit::Reset,
                &["rtas: display-character ok", "rtas: ok"],
            )?;
            let date = rtas_date(&out.console).ok_or_else(|| out.console.clone())?;
            check(utc_dates().contains(&date), || {
                format!(
                    "get-time-of-day gave {date:?}, the host says {:?}",
                    utc_dates()
                )
            })
        });
    }

    if let Some(g) = guests::get("badargs") {
        // Every hypercall and RTAS function tetra serves, called with bad arguments, answers
        // its PAPR error code, and the VM goes on (a bad power-off does not end it).
        s.kvm(
            "pseries::bad_hcall_and_rtas_arguments_get_papr_errors",
            move || {
                let out = run::<HostArch>(g.config(1, 64))?;
                let ok = out.console.lines().filter(|l| l.ends_with(" ok")).count();
                check(ok == 27, || {
                    format!("{ok} of 27 calls ok:\n{}", out.console)
                })?;
                expect(&out, GuestExit::DebugExit(0x10), &["badargs: 0 failed"])
            },
        );
    }

    if let Some(g) = guests::get("qemu_elf") {
        // A guest built as an ELF for QEMU's pseries machine runs as it does there: placed at
        // 0x400000, entered there with r3 = the device tree, on a machine compatible with
        // "qemu,pseries" whose /hypervisor is "linux,kvm"; through the binary, without --raw.
        s.kvm("pseries::an_elf_built_for_qemu_runs_as_there", move || {
            let dir = integration_tests::run::Scratch::new("qemu-elf");
            let path = dir.0.join("qemu_elf.elf");
            std::fs::write(&path, g.image).map_err(|e| e.to_string())?;
            let (st, out, err) = integration_tests::process::tetra(&[
                "run",
                "--kernel",
                &path.display().to_string(),
            ])?;
            check(st.code() == Some((0x10 << 1) | 1), || {
                format!("{st}\nstdout:\n{out}\nstderr:\n{err}")
            })?;
            for l in [
                "elf: entered at 0x400000",
                "elf: compatible qemu,pseries",
                "elf: hypervisor linux,kvm",
                "elf: H_SET_SPRG0 ok",
            ] {
                check(out.contains(l), || format!("{l:?} missing from:\n{out}"))?;
            }
            Ok(())
        });
    }

    if let Some(g) = guests::get("hello") {
        s.kvm("pseries::payloads_tetra_refuses", move || {
            let image = Payload::Bytes {
                name: "hello".into(),
                data: g.image.to_vec(),
            };
            let cases: [(VmConfig, &str); 4] = [
                (
                    VmConfig {
                        kernel: Some(image.clone()),
                        ..VmConfig::default()
                    },
                    "--raw ADDR",
                ),
                (
                    VmConfig {
                        kernel: Some(image.clone()),
                        raw: Some(RawLoad {
                            addr: 0x400002,
                            mode: None,
                        }),
                        ..VmConfig::default()
                    },
                    "not 4-byte aligned",
                ),
                (
                    VmConfig {
                        kernel: Some(image.clone()),
                        raw: Some(RawLoad {
                            addr: (16 << 20) - 0x10000,
                            mode: None,
                        }),
                        mem_mib: 16,
                        ..VmConfig::default()
                    },
                    "without overlapping the payload",
                ),
                (
                    VmConfig {
                        kernel: Some(image.clone()),
                        raw: Some(RawLoad {
                            addr: 0x400000,
                            mode: Some("real".into()),
                        }),
                        ..VmConfig::default()
                    },
                    "takes `le` (default) or `be`",
                ),
            ];
            for (cfg, want) in cases {
                match TestVm::<HostArch>::new(cfg) {
                    Ok(_) => {
                        return Err(format!("a VM was built; expected an error with {want:?}"))
                    }
                    Err(e) => check(e.contains(want), || format!("error {e:?} lacks {want:?}"))?,
                }
            }
            Ok(())
        });
    }
}
