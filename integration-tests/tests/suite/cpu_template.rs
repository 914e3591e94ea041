//! CPU templates on real KVM (issue 18 item 6, x86). The guest named `cpuid` prints the CPUID
//! leaves that hold the withholdable features ("cpuid LEAF.SUBLEAF EAX EBX ECX EDX"), waits for a
//! word in its memory (1: print again, 2: exit 0x10). A guest under a template sees exactly the
//! host-passthrough values less the template's bits; a snapshot records the template (section
//! `CPUT`) and a restored or migrated vCPU sees the same; a snapshot recording a feature this host lacks is
//! refused naming it; an unknown feature name is refused by name (status 2). An arch without the
//! guest (no CPU templates) skips these tests, saying so.

use arch_x86_64::cpu_template::{CpuTemplate, Reg, FEATURES};
use arch_x86_64::snapshot::cput;
use integration_tests::guests::{self, Guest};
use integration_tests::harness::{check, Suite};
use integration_tests::run::{chain, Scratch, TestVm};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tetra_host::HostArch;
use vm_memory::{Bytes, GuestAddress};
use vmm_core::snapshot::Envelope;
use vmm_core::GuestExit;

const TESTS: [&str; 5] = [
    "cpu_template::a_guest_sees_exactly_what_the_template_leaves",
    "cpu_template::a_snapshot_records_the_template_and_restores_it",
    "cpu_template::a_migration_carries_the_template",
    "cpu_template::a_snapshot_needing_a_feature_this_host_lacks_is_refused_by_name",
    "cpu_template::cli_refuses_an_unknown_feature_by_name",
];

/// The guest's word: 1 prints the leaves again, 2 exits.
const FLAG: u64 = 0x100ff0;
const DONE: &str = "cpuid done\n";

/// (leaf, subleaf) -> [eax, ebx, ecx, edx], from the guest's lines (the last block printed).
type Leaves = BTreeMap<(u32, u32), [u32; 4]>;

fn parse(console: &str) -> Result<Leaves, String> {
    let hex = |s: &str| u32::from_str_radix(s.trim_start_matches("0x"), 16);
    let mut out = Leaves::new();
    for l in console.lines().filter_map(|l| l.strip_prefix("cpuid 0x")) {
        let f: Vec<&str> = l.split(' ').collect();
        let bad = || format!("a bad line 'cpuid 0x{l}'");
        let (leaf, sub) = f
            .first()
            .and_then(|s| s.split_once(".0x"))
            .ok_or_else(bad)?;
        let mut regs = [0u32; 4];
        for (r, s) in regs.iter_mut().zip(f.get(1..5).ok_or_else(bad)?) {
            *r = hex(s).map_err(|_| bad())?;
        }
        out.insert(
            (hex(leaf).map_err(|_| bad())?, hex(sub).map_err(|_| bad())?),
            regs,
        );
    }
    check(out.len() == 9, || format!("9 leaves expected:\n{console}"))?;
    Ok(out)
}

fn config(g: &Guest, spec: Option<&str>) -> vmm_core::VmConfig {
    let mut c = g.config(1, 16);
    c.cpu_template = spec.map(str::to_string);
    c
}

fn set_flag(vm: &TestVm<HostArch>, v: u32) -> Result<(), String> {
    vm.vmm
        .memory()
        .memory()
        .write_obj(v, GuestAddress(FLAG))
        .map_err(|e| e.to_string())
}

/// Boots `g` under `spec` until it printed its leaves; the VM is left running.
fn boot(g: &Guest, spec: Option<&str>) -> Result<(TestVm<HostArch>, Leaves), String> {
    let mut vm = TestVm::<HostArch>::new(config(g, spec))?;
    vm.vmm.start().map_err(|e| chain(&e))?;
    vm.wait_for(DONE)?;
    let leaves = parse(&vm.console())?;
    Ok((vm, leaves))
}

/// Tells the guest to exit and checks that it did.
fn end(vm: TestVm<HostArch>) -> Result<(), String> {
    set_flag(&vm, 2)?;
    let out = vm.finish()?;
    check(out.exit == GuestExit::DebugExit(0x10), || {
        format!("{:?}\n{}", out.exit, out.console)
    })
}

/// What the template withholds at (leaf, subleaf, register).
fn withheld(t: &CpuTemplate, leaf: u32, sub: u32, reg: Reg) -> u32 {
    t.withheld
        .iter()
        .filter(|w| (w.leaf, w.subleaf, w.reg) == (leaf, sub, reg))
        .map(|w| w.mask)
        .fold(0, |a, m| a | m)
}

const REGS: [Reg; 4] = [Reg::Eax, Reg::Ebx, Reg::Ecx, Reg::Edx];

/// `got` must be `host` less exactly the template's bits.
fn exactly_less(host: &Leaves, got: &Leaves, t: &CpuTemplate) -> Result<(), String> {
    for (&(leaf, sub), h) in host {
        let g = got.get(&(leaf, sub)).ok_or("a leaf missing")?;
        for (i, reg) in REGS.into_iter().enumerate() {
            let want = h[i] & !withheld(t, leaf, sub, reg);
            check(g[i] == want, || {
                format!(
                    "template '{}': leaf {leaf:#x}.{sub} {} is {:#x}, expected {want:#x} \
                     (host passthrough {:#x})",
                    t.name,
                    reg.name(),
                    g[i],
                    h[i]
                )
            })?;
        }
    }
    Ok(())
}

/// Snapshots a paused `vm` into `dir`; returns the state file's path.
fn snapshot(vm: &mut TestVm<HostArch>, dir: &Path, name: &str) -> Result<PathBuf, String> {
    let path = dir.join(name);
    vm.vmm.pause().map_err(|e| chain(&e))?;
    vm.vmm.snapshot(&path).map_err(|e| chain(&e))?;
    Ok(path)
}

fn recorded(path: &Path) -> Result<cput::TemplateState, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let env = Envelope::decode(&bytes, None).map_err(|e| chain(&e))?;
    cput::decode_optional(&env)
        .map_err(|e| chain(&e))?
        .ok_or_else(|| "no CPUT section".into())
}

fn restore(path: &Path) -> Result<TestVm<HostArch>, String> {
    TestVm::restore(path)
}

pub fn register(s: &mut Suite) {
    let Some(g) = guests::get("cpuid") else {
        for t in TESTS {
            s.skip(
                t,
                "kvm",
                "these are x86's CPUID templates (no `cpuid` guest for this arch; ppc64's processor models are pseries::a_ppc970_guest_sees_its_pvr_and_the_dcbz_block)",
            );
        }
        return;
    };
    s.kvm(TESTS[0], move || {
        let (vm, host) = boot(g, None)?;
        end(vm)?;
        // The KVM leaf is there to withhold from.
        check(host[&(0x4000_0001, 0)][0] != 0, || {
            format!("no KVM paravirt features: {host:x?}")
        })?;
        // Leaf 1 and the KVM leaf: every KVM takes what tetra sets. Leaves 7 and 0xd: a KVM that
        // fixes them itself (PVM) makes tetra refuse the template, naming what it would not
        // withhold, rather than give the guest those features.
        for (spec, may_be_refused) in [
            ("none", false),
            ("-kvm-pv-ipi", false),
            ("-kvmclock,-kvmclock2,-kvm-steal-time,-x2apic,-pcid", false),
            ("baseline,-kvm-pv-unhalt", true),
            ("-avx2,-xsaveopt", true),
        ] {
            let t = CpuTemplate::resolve(Some(spec)).map_err(|e| chain(&e))?;
            match boot(g, Some(spec)) {
                Ok((vm, got)) => {
                    end(vm)?;
                    exactly_less(&host, &got, &t)?;
                }
                Err(e) if may_be_refused && e.contains("this host's KVM does not withhold") => {
                    let named = FEATURES.iter().any(|f| e.contains(f.name));
                    check(named, || e.clone())?;
                    println!("{spec}: refused on this host: {e}");
                }
                Err(e) => return Err(format!("{spec}: {e}")),
            }
        }
        Ok(())
    });
    s.kvm(TESTS[1], move || {
        // Bits every KVM takes from tetra (see the test above).
        let spec = "-x2apic,-kvm-pv-unhalt";
        let t = CpuTemplate::resolve(Some(spec)).map_err(|e| chain(&e))?;
        let dir = Scratch::new("cpu-template-snapshot");
        let (mut vm, before) = boot(g, Some(spec))?;
        let path = snapshot(&mut vm, &dir.0, "vm.snap")?;
        drop(vm);
        let rec = recorded(&path)?;
        check(rec.template == t, || format!("recorded {:?}", rec.template))?;
        check(
            rec.guest
                .iter()
                .any(|w| (w.leaf, w.reg) == (0x4000_0001, Reg::Eax) && w.mask & (1 << 7) == 0),
            || {
                format!(
                    "the recorded KVM leaf offers kvm-pv-unhalt: {:?}",
                    rec.guest
                )
            },
        )?;
        // The restored vCPU sees what the snapshotted one saw.
        let mut b = restore(&path)?;
        set_flag(&b, 1)?;
        b.vmm.start().map_err(|e| chain(&e))?;
        b.wait_for(DONE)?;
        let after = parse(&b.console())?;
        check(after == before, || {
            format!("before {before:x?}\nafter {after:x?}")
        })?;
        // A snapshot of the restored VM records the same template.
        let again = snapshot(&mut b, &dir.0, "again.snap")?;
        check(recorded(&again)? == rec, || {
            "the second snapshot differs".into()
        })?;
        b.vmm.resume().map_err(|e| chain(&e))?;
        end(b)
    });
    s.kvm(TESTS[2], move || {
        let spec = "-x2apic,-kvm-pv-ipi";
        let dir = Scratch::new("cpu-template-migration");
        let (mut src, before) = boot(g, Some(spec))?;
        let uri = format!("unix:{}", dir.0.join("m.sock").display());
        // The destination listens before the source connects.
        let (dst, _) = integration_tests::run::incoming::<HostArch>(uri.clone());
        src.vmm
            .migrate(
                &uri,
                &vmm_core::migration::MigrateOptions::default(),
                &mut |_| {},
            )
            .map_err(|e| chain(&e))?;
        drop(src);
        let (dvm, dbuf) = dst.join().map_err(|_| "the destination panicked")??;
        let mut d = TestVm::from_parts(dvm, dbuf);
        set_flag(&d, 1)?;
        d.vmm.start().map_err(|e| chain(&e))?;
        d.wait_for(DONE)?;
        let after = parse(&d.console())?;
        check(after == before, || {
            format!("before {before:x?}\nafter {after:x?}")
        })?;
        let path = snapshot(&mut d, &dir.0, "after.snap")?;
        let t = CpuTemplate::resolve(Some(spec)).map_err(|e| chain(&e))?;
        check(recorded(&path)?.template == t, || {
            "the template did not arrive".into()
        })?;
        d.vmm.resume().map_err(|e| chain(&e))?;
        end(d)
    });
    s.kvm(TESTS[3], move || {
        let dir = Scratch::new("cpu-template-refused");
        let (mut vm, _) = boot(g, Some("none"))?;
        let path = snapshot(&mut vm, &dir.0, "vm.snap")?;
        drop(vm);
        let mut rec = recorded(&path)?;
        // A named feature this host's KVM lacks (with template none the guest sees all it has).
        let lacking = FEATURES.iter().find(|f| {
            rec.guest.iter().any(|w| {
                (w.leaf, w.subleaf, w.reg) == (f.bits.leaf, f.bits.subleaf, f.bits.reg)
                    && w.mask & f.bits.mask == 0
            })
        });
        let Some(f) = lacking else {
            return Err("this host offers every named feature: nothing to refuse".into());
        };
        for w in rec.guest.iter_mut() {
            if (w.leaf, w.subleaf, w.reg) == (f.bits.leaf, f.bits.subleaf, f.bits.reg) {
                w.mask |= f.bits.mask;
            }
        }
        let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
        let mut env = Envelope::decode(&bytes, None).map_err(|e| chain(&e))?;
        for s in env.sections.iter_mut().filter(|s| s.tag == cput::CPUT.tag) {
            *s = cput::template_section(&rec);
        }
        std::fs::write(&path, env.encode()).map_err(|e| e.to_string())?;
        let Err(e) = restore(&path) else {
            return Err(format!("restored although the host lacks {}", f.name));
        };
        let want = format!(
            "the snapshot's CPU template 'none' leaves {} which this host's KVM does not offer",
            f.name
        );
        check(e.contains(&want), || format!("{e}\nexpected: {want}"))
    });
    s.kvm(TESTS[4], move || {
        let (code, stdout, stderr) =
            crate::cli_status::tetra_run(g, &["--cpu-template", "baseline,-kvm-pv-bogus"])?;
        check(code == Some(2), || {
            format!("exit {code:?}: {stdout}{stderr}")
        })?;
        check(
            stderr.contains("unknown CPU feature 'kvm-pv-bogus'"),
            || stderr.clone(),
        )?;
        check(!stdout.contains("cpuid"), || stdout.clone())
    });
}
