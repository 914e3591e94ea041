//! Devices: an MMIO round trip through the bus, and the embedded default guest's use of fw_cfg,
//! the serial port and the power-off register.

use crate::expect;
use integration_tests::guests;
use integration_tests::harness::{check, Suite};
use integration_tests::probe::{self, Probe};
use integration_tests::run::{run, TestVm};
use std::sync::{Arc, Mutex};
use tetra_host::HostArch;
use vmm_core::{Arch, GuestExit, VmConfig};

pub fn register(s: &mut Suite) {
    if let Some(g) = guests::get("mmio") {
        s.kvm("devices::mmio_exit_round_trip", move || {
            let probe = Arc::new(Mutex::new(Probe::default()));
            let mut vm = TestVm::<HostArch>::new(g.config(1, 16))?;
            vm.vmm
                .add_mmio_device(probe::BASE, probe::SIZE, probe.clone())
                .map_err(|e| e.to_string())?;
            let out = vm.finish()?;
            expect(&out, GuestExit::DebugExit(0x10), &["mmio: ok"])?;
            let w = &probe.lock().unwrap().writes;
            check(
                *w == vec![(0, 0xdeadbeefu32.to_le_bytes().to_vec()), (8, vec![0x41])],
                || format!("device saw {w:?}"),
            )
        });
    }

    if HostArch::default_guest().is_some() {
        for n in [1u32, 2] {
            s.kvm(&format!("devices::default_guest_{n}_vcpus"), move || {
                let out = run::<HostArch>(VmConfig {
                    cpus: n,
                    ..VmConfig::default()
                })?;
                let up = format!("{n} of {n} vCPUs came up.");
                expect(&out, GuestExit::PowerOff, &[&up])?;
                check(
                    out.console.starts_with("Hello from tetra's embedded guest"),
                    || out.console.clone(),
                )
            });
        }
    }
}
