//! `--on-triple-fault crash|reset` (x86; issue 18 item 7). The guest named `triple_fault` counts
//! its boots in a CMOS NVRAM byte, prints "triple fault: boot N" and triple-faults until N is 3,
//! then prints "triple fault: done after 3 boots" and powers off; every boot checks tetra's entry
//! state and that its payload was loaded again, and with 2 vCPUs starts the secondary (which must
//! have been stopped and put back to waiting for a SIPI by the reset). With `reset` it boots three times and tetra exits
//! 0; with `crash` (the default) tetra exits 6 after boot 1. An arch without the guest (no triple
//! faults) skips these tests, saying so.

use crate::expect;
use integration_tests::guests;
use integration_tests::harness::{check, Suite};
use integration_tests::run::run;
use tetra_host::HostArch;
use vmm_core::config::OnTripleFault;
use vmm_core::{GuestExit, Payload, RawLoad, VmConfig};

const BOOTS: [&str; 3] = [
    "triple fault: boot 1",
    "triple fault: boot 2",
    "triple fault: boot 3",
];
const DONE: &str = "triple fault: done after 3 boots";
const SECONDARY: &str = "triple fault: secondary up";

const TESTS: [&str; 5] = [
    "triple_fault::reset_runs_the_guest_again_from_its_boot_state",
    "triple_fault::reset_with_2_vcpus",
    "triple_fault::crash_is_the_default",
    "triple_fault::a_reset_storm_ends_as_a_crash",
    "triple_fault::cli_reset_exits_0_and_crash_exits_6",
];

use crate::cli_status::tetra_run;

fn count(text: &str, line: &str) -> usize {
    text.lines().filter(|l| l.contains(line)).count()
}

pub fn register(s: &mut Suite) {
    let Some(g) = guests::get("triple_fault") else {
        for t in TESTS {
            s.skip(
                t,
                "kvm",
                "this arch has no triple fault (no `triple_fault` guest)",
            );
        }
        return;
    };
    for (name, cpus) in [(TESTS[0], 1), (TESTS[1], 2)] {
        s.kvm(name, move || {
            let mut c = g.config(cpus, 16);
            c.on_triple_fault = OnTripleFault::Reset;
            let out = run::<HostArch>(c)?;
            let mut lines = BOOTS.to_vec();
            lines.push(DONE);
            expect(&out, GuestExit::PowerOff, &lines)?;
            // Each boot exactly once, in order: the CMOS byte survived each reset and nothing
            // else did (the guest checks its entry state and its payload itself).
            let got: Vec<&str> = out
                .console
                .lines()
                .filter(|l| l.starts_with("triple fault: "))
                .collect();
            // With 2 vCPUs the secondary comes up again on each boot: the reset put it back to
            // waiting for its SIPI (and stopped it: the guest checks that too).
            let want: Vec<&str> = BOOTS
                .iter()
                .flat_map(|b| std::iter::once(*b).chain((cpus > 1).then_some(SECONDARY)))
                .chain([DONE])
                .collect();
            check(got == want, || format!("console:\n{}", out.console))
        });
    }
    s.kvm(TESTS[2], move || {
        for policy in [None, Some(OnTripleFault::Crash)] {
            let mut c = g.config(1, 16);
            if let Some(p) = policy {
                c.on_triple_fault = p;
            }
            let out = run::<HostArch>(c)?;
            let GuestExit::Crash(why) = &out.exit else {
                return Err(format!("{policy:?}: ended with {:?}", out.exit));
            };
            check(why.contains("triple fault"), || why.clone())?;
            check(out.exit.exit_code() == 6, || "status".into())?;
            check(
                out.console.lines().any(|l| l == BOOTS[0]) && !out.console.contains(BOOTS[1]),
                || format!("{policy:?}: console:\n{}", out.console),
            )?;
        }
        Ok(())
    });
    s.kvm(TESTS[3], || {
        // ud2 at the entry, with tetra's empty boot IDT: a triple fault at once, every boot.
        let c = VmConfig {
            cpus: 1,
            mem_mib: 16,
            kernel: Some(Payload::Bytes {
                name: "ud2".into(),
                data: vec![0x0f, 0x0b],
            }),
            raw: Some(RawLoad {
                addr: 0x100000,
                mode: Some("protected".into()),
            }),
            on_triple_fault: OnTripleFault::Reset,
            ..VmConfig::default()
        };
        let out = run::<HostArch>(c)?;
        let GuestExit::Crash(why) = &out.exit else {
            return Err(format!("ended with {:?}", out.exit));
        };
        let n = vmm_core::vm::STORM_RESETS + 1;
        check(
            why.contains("triple fault") && why.contains(&format!("{n} resets within")),
            || why.clone(),
        )
    });
    s.kvm(TESTS[4], move || {
        let (code, stdout, stderr) =
            tetra_run(g, &["--on-triple-fault", "reset", "--log-level", "info"])?;
        check(code == Some(0), || {
            format!("reset: exit {code:?}\nstdout:\n{stdout}\nstderr:\n{stderr}")
        })?;
        for l in BOOTS.iter().chain([&DONE]) {
            check(count(&stdout, l) == 1, || format!("{l:?} in:\n{stdout}"))?;
        }
        // One log line per reset, counting them.
        check(count(&stderr, "the machine was reset") == 2, || {
            stderr.clone()
        })?;
        check(stderr.contains("resets=2"), || stderr.clone())?;
        for args in [&[][..], &["--on-triple-fault", "crash"][..]] {
            let (code, stdout, stderr) = tetra_run(g, args)?;
            check(code == Some(6), || {
                format!("{args:?}: exit {code:?}, stderr {stderr}")
            })?;
            check(
                count(&stdout, BOOTS[0]) == 1 && count(&stdout, BOOTS[1]) == 0,
                || stdout.clone(),
            )?;
            check(stderr.contains("triple fault"), || stderr.clone())?;
        }
        Ok(())
    });
}
