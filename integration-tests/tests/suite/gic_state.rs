//! arm64 only: a snapshot restores each vCPU's **own** redistributor and CPU interface (the vGIC
//! attributes' MPIDR field), not vCPU 0's for all. Two vCPUs are given different ICC_PMR_EL1
//! values and different PPI enables in GICR_ISENABLER0 before the VM first runs; after a
//! snapshot and a restore into a new VM, each vCPU has its own again. And a VM with an ITS
//! (`--irqchip gicv3-its`: section `ITSR`, the ITS tables flushed to guest RAM and restored) is
//! saved while it runs and restored, and its guest runs on to its end. A snapshot whose GIC has
//! another interrupt count, or that lacks the ITS its VM has, is refused by name.

use arch_arm64::kvm::{icc_reg, redist_reg, set_icc_reg, set_redist_reg};
use arch_arm64::snapshot::{gicr, icc};
use integration_tests::guests;
use integration_tests::harness::{check, Suite};
use integration_tests::run::TestVm;
use integration_tests::run::{chain, Scratch};
use tetra_host::HostArch;
use vmm_core::console::ConsoleSink;
use vmm_core::{GuestExit, Vmm, VmmOptions};

/// (ICC_PMR_EL1, a PPI enable bit in GICR_ISENABLER0) for vCPU `i`.
const MARKS: [(u64, u32); 2] = [(0xf0, 1 << 20), (0x80, 1 << 21)];
const PPI_MASK: u32 = (1 << 20) | (1 << 21);

fn options() -> VmmOptions {
    VmmOptions {
        console: ConsoleSink::Buffer(Default::default()),
        stdin: false,
        ..VmmOptions::default()
    }
}

fn marks(vmm: &Vmm<HostArch>) -> Result<Vec<(u64, u32)>, String> {
    let p = vmm.platform();
    p.mpidrs()
        .iter()
        .map(|&m| {
            let pmr = icc_reg(p, m, icc::PMR).map_err(|e| chain(&e))?;
            let en = redist_reg(p, m, gicr::ISENABLER0).map_err(|e| chain(&e))?;
            Ok((pmr, en & PPI_MASK))
        })
        .collect()
}

pub fn register(s: &mut Suite) {
    let Some(g) = guests::get("counter") else {
        return;
    };
    s.kvm("snapshot::gic_state_is_each_vcpus_own", move || {
        let dir = Scratch::new("snap-gic-own");
        let path = dir.0.join("gic.snap");
        let mut src = Vmm::<HostArch>::new(g.config(2, 16), options()).map_err(|e| chain(&e))?;
        {
            let p = src.platform();
            check(p.mpidrs().len() == 2, || format!("{:#x?}", p.mpidrs()))?;
            for (&m, &(pmr, en)) in p.mpidrs().iter().zip(&MARKS) {
                set_icc_reg(p, m, icc::PMR, pmr).map_err(|e| chain(&e))?;
                set_redist_reg(p, m, gicr::ISENABLER0, en).map_err(|e| chain(&e))?;
            }
        }
        let before = marks(&src)?;
        check(before == MARKS, || {
            format!("set {MARKS:#x?}, read {before:#x?}")
        })?;
        src.snapshot(&path).map_err(|e| chain(&e))?;
        drop(src);
        let dst = Vmm::<HostArch>::restore(&path, options()).map_err(|e| chain(&e))?;
        let after = marks(&dst)?;
        check(after == MARKS, || {
            format!("saved {MARKS:#x?} (vCPU 0, vCPU 1), restored {after:#x?}")
        })
    });
    s.kvm(
        "snapshot::a_vm_with_an_its_restores_and_runs_on",
        move || {
            let dir = Scratch::new("snap-its");
            let path = dir.0.join("its.snap");
            let mut cfg = g.config(2, 16);
            cfg.irqchip = Some("gicv3-its".into());
            let mut a = TestVm::<HostArch>::new(cfg)?;
            a.vmm.start().map_err(|e| chain(&e))?;
            a.wait_for("tick 3\n")?;
            a.vmm.snapshot(&path).map_err(|e| chain(&e))?;
            drop(a);
            let env =
                vmm_core::snapshot::read_envelope::<HostArch>(&path).map_err(|e| chain(&e))?;
            check(env.section(b"ITSR").is_some(), || "no ITSR section".into())?;
            let mut b = Vmm::<HostArch>::restore(&path, options()).map_err(|e| chain(&e))?;
            let end = b
                .run(Some(integration_tests::run::timeout()))
                .map_err(|e| chain(&e))?;
            check(end == Some(GuestExit::DebugExit(0x10)), || {
                format!("{end:?}")
            })
        },
    );
    s.kvm(
        "snapshot::another_gic_size_or_a_missing_its_is_refused_by_name",
        move || {
            use arch_arm64::snapshot::{decode_dist, dist_section, DistState, GICD, ITSR};
            let dir = Scratch::new("snap-gic-refused");
            let path = dir.0.join("vm.snap");
            let mut cfg = g.config(1, 16);
            cfg.irqchip = Some("gicv3-its".into());
            let mut a = Vmm::<HostArch>::new(cfg, options()).map_err(|e| chain(&e))?;
            a.snapshot(&path).map_err(|e| chain(&e))?;
            drop(a);
            let good =
                vmm_core::snapshot::read_envelope::<HostArch>(&path).map_err(|e| chain(&e))?;
            let refused = |env: &vmm_core::snapshot::Envelope, words: &str| {
                std::fs::write(&path, env.encode()).map_err(|e| e.to_string())?;
                match Vmm::<HostArch>::restore(&path, options()) {
                    Ok(_) => Err(format!(
                        "restored a snapshot that should fail with {words:?}"
                    )),
                    Err(e) => check(chain(&e).contains(words), || chain(&e)),
                }
            };
            // A distributor of 64 interrupt ids (one SPI bank), well formed.
            let mut env = good.clone();
            let gicd = env
                .sections
                .iter_mut()
                .find(|s| s.tag == GICD.tag)
                .ok_or("no GICD")?;
            let mut d = decode_dist(gicd).map_err(|e| e.to_string())?;
            d.nr_irqs = 64;
            d.spis.truncate(DistState::banks_for(64).unwrap());
            *gicd = dist_section(&d);
            refused(
                &env,
                "the snapshot's GIC has 64 interrupt ids (nr_irqs), this VM's has",
            )?;
            // No ITSR for a VM with an ITS.
            let mut env = good.clone();
            env.sections.retain(|s| s.tag != ITSR.tag);
            refused(&env, "this VM has an ITS, the snapshot has none")?;
            // Intact, it restores.
            std::fs::write(&path, good.encode()).map_err(|e| e.to_string())?;
            Vmm::<HostArch>::restore(&path, options())
                .map(drop)
                .map_err(|e| chain(&e))
        },
    );
}
