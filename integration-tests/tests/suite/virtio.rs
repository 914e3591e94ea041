//! virtio on real KVM, from inside a guest: a malicious driver (the `virtio_evil` guest) against
//! the entropy device (`--rng`, virtio-mmio version 2).
//!
//! The guest sets the device up as a driver does and plays one abuse per case, resetting the
//! device and setting it up again between cases: descriptor loops, next and head indexes past
//! the queue, buffers past guest RAM, on MMIO and wrapping the address space, an indirect table
//! inside an indirect table, zero-length and huge buffers, a chain over 4 GiB, an available index
//! far ahead, queue sizes that cannot be, a status bit cleared without a reset, notifications
//! before the driver is ready and for queues that do not exist. It prints one line per case
//! (`case NAME: served N` or `case NAME: needs-reset`), ends with a good request and exits
//! through the debug-exit port; see the guest's header for its contract.
//!
//! Each refused case must show `DEVICE_NEEDS_RESET` and a configuration interrupt with nothing
//! in the used ring, and tetra must say why in exactly one `tetra: virtio ...` line on its
//! stderr. tetra writes those lines with `eprintln!`, which the suite cannot capture in-process
//! (libtest-mimic runs tests on threads of one process sharing one stderr), so the stderr check
//! runs the `tetra` binary (`virtio::malicious_guest_cli`); `virtio::malicious_guest` runs the
//! same guest in-process on `VmConfig { virtio: VirtioConfig { rng: true }, .. }` and checks its
//! console and exit.
//!
//! The guest is x86_64 only for now (the device at `MMIO_ALLOC_START`, 0xd100_0000, reached
//! from protected mode without paging). arm64 and ppc64 guests can come later: the device is
//! placed in their own MMIO windows (arm64 behind the GIC, ppc64 with XICS), and their guests
//! would read its address from the device tree or use the arch's first placed address. On arches
//! without the guest the tests are registered as skipped, with that reason.

use crate::expect;
use integration_tests::guests;
use integration_tests::harness::{check, Suite};
use integration_tests::process::tetra;
use integration_tests::run::{run, Scratch};
use tetra_host::HostArch;
use vmm_core::config::VirtioConfig;
use vmm_core::devices::virtio::rng::MAX_REQUEST;
use vmm_core::GuestExit;

const GUEST: &str = "virtio_evil";
/// The guest's RAM: it needs exactly this much (its "past RAM" buffers are built on it).
const MEM_MIB: u64 = 16;

/// What the guest must print for each case, and, for a refused case, what tetra's one
/// `tetra: virtio` line must say.
fn cases() -> Vec<(&'static str, String, Option<&'static str>)> {
    let served = |n: usize| format!("served {n}");
    let reset = || "needs-reset".to_string();
    const MALFORMED: &str = "descriptor chain at 0 is malformed";
    const OUTSIDE: &str = "outside guest RAM";
    const HEAD_300: &str = "descriptor chain at 300 is malformed";
    const RING: &str = "the available ring is broken";
    const QUEUE: &str = "queue 0 is set up wrong";
    const CLEARED: &str = "the driver cleared status bits 0x4 without a reset";
    vec![
        ("good", served(64), None),
        ("loop", reset(), Some(MALFORMED)),
        ("next-past-queue", reset(), Some(MALFORMED)),
        ("head-past-queue", reset(), Some(HEAD_300)),
        ("past-ram", reset(), Some(OUTSIDE)),
        ("wrap", reset(), Some(OUTSIDE)),
        ("mmio-buffer", reset(), Some(OUTSIDE)),
        ("nested-indirect", reset(), Some(MALFORMED)),
        ("zero-length", served(0), None),
        ("huge", served(MAX_REQUEST), None),
        ("huge-4g", reset(), Some(OUTSIDE)),
        ("chain-over-4g", reset(), Some(MALFORMED)),
        ("avail-idx-ahead", reset(), Some(RING)),
        ("queue-size-3", reset(), Some(QUEUE)),
        ("queue-size-512", reset(), Some(QUEUE)),
        ("status-cleared", reset(), Some(CLEARED)),
        ("early-notify", served(64), None),
        ("notify-no-such-queue", served(64), None),
        ("final", served(64), None),
    ]
}

/// The console lines the guest must print.
fn console_lines() -> Vec<String> {
    let mut lines = vec!["virtio: rng at 0xd1000000".to_string()];
    lines.extend(
        cases()
            .into_iter()
            .map(|(n, r, _)| format!("case {n}: {r}")),
    );
    lines.push("virtio: 0 failed, fw_cfg and serial still work".into());
    lines
}

/// tetra's stderr holds one `tetra: virtio virtio-rng:` line per refused case, in case order,
/// each saying why, and no panic.
fn check_stderr(stderr: &str) -> Result<(), String> {
    let got: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("tetra: virtio "))
        .collect();
    let want: Vec<(&str, &str)> = cases()
        .into_iter()
        .filter_map(|(n, _, why)| why.map(|w| (n, w)))
        .collect();
    check(got.len() == want.len(), || {
        format!(
            "{} `tetra: virtio` lines for {} refused cases; stderr:\n{stderr}",
            got.len(),
            want.len()
        )
    })?;
    for (line, (case, why)) in got.iter().zip(&want) {
        check(
            line.starts_with("tetra: virtio virtio-rng: ")
                && line.contains(why)
                && line.ends_with("the device needs a reset"),
            || format!("case {case}: expected a line saying {why:?}, got {line:?}"),
        )?;
    }
    check(!stderr.contains("panicked"), || {
        format!("tetra panicked; stderr:\n{stderr}")
    })
}

pub fn register(s: &mut Suite) {
    let Some(g) = guests::get(GUEST) else {
        let why = format!(
            "no {GUEST} guest for this arch yet (x86_64 only; arm64 and ppc64 guests can come later)"
        );
        s.skip("virtio::malicious_guest", "kvm", why.clone());
        s.skip("virtio::malicious_guest_cli", "kvm", why);
        return;
    };

    s.kvm("virtio::malicious_guest", move || {
        let mut config = g.config(1, MEM_MIB);
        config.virtio = VirtioConfig {
            rng: true,
            ..VirtioConfig::default()
        };
        let out = run::<HostArch>(config)?;
        let lines = console_lines();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        expect(&out, GuestExit::DebugExit(0x10), &lines)
    });

    s.kvm("virtio::malicious_guest_cli", move || {
        let dir = Scratch::new("virtio-evil");
        let image = g.write_to(&dir.0);
        let log = dir.0.join("tetra.log");
        let raw = g.boot.strip_prefix("raw:").ok_or("the guest boots raw")?;
        let mem = MEM_MIB.to_string();
        let (status, stdout, stderr) = tetra(&[
            "run",
            "--kernel",
            &image.display().to_string(),
            "--raw",
            raw,
            "--mem",
            &mem,
            "--rng",
            "--transport",
            "mmio",
            // The log, from the device worker's thread under its seccomp filter.
            "--log-level",
            "debug",
            "--log-file",
            &log.display().to_string(),
        ])?;
        for l in console_lines() {
            check(stdout.lines().any(|x| x == l), || {
                format!("missing {l:?} in:\n{stdout}\nstderr:\n{stderr}")
            })?;
        }
        // The guest ends with status 0x10: tetra exits (0x10 << 1) | 1.
        check(status.code() == Some((0x10 << 1) | 1), || {
            format!("exit {status}; stdout:\n{stdout}\nstderr:\n{stderr}")
        })?;
        check_stderr(&stderr)?;
        // Each refusal on stderr is an event in the log too, naming the device.
        let text = std::fs::read_to_string(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let logged = text
            .lines()
            .filter(|l| {
                l.contains(" WARN ") && l.contains("virtio device needs a reset device=virtio-rng")
            })
            .count();
        let refused = stderr
            .lines()
            .filter(|l| l.contains("needs a reset"))
            .count();
        check(logged == refused && logged > 0, || {
            format!("{logged} logged, {refused} on stderr:\n{text}\nstderr:\n{stderr}")
        })
    });
}
