//! Devices: an MMIO round trip through the bus, and the embedded default guest's use of fw_cfg,
//! the serial port and the power-off register.

use crate::expect;
use integration_tests::guests;
use integration_tests::harness::{check, Suite};
use integration_tests::host::HostArch;
use integration_tests::run::{run, TestVm};
use std::sync::{Arc, Mutex};
use vmm_core::bus::BusDevice;
use vmm_core::{Arch, GuestExit, VmConfig};

/// Records writes; answers a 32-bit read at +4 with !(last write at +0) and a byte read at +8
/// with (last byte written at +8) + 1.
#[derive(Default)]
struct Probe {
    writes: Vec<(u64, Vec<u8>)>,
    word: u32,
    byte: u8,
}

impl BusDevice for Probe {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        match (offset, data.len()) {
            (4, 4) => data.copy_from_slice(&(!self.word).to_le_bytes()),
            (8, 1) => data[0] = self.byte.wrapping_add(1),
            _ => data.fill(0),
        }
    }
    fn write(&mut self, offset: u64, data: &[u8]) {
        self.writes.push((offset, data.to_vec()));
        match (offset, data.len()) {
            (0, 4) => self.word = u32::from_le_bytes(data.try_into().unwrap()),
            (8, 1) => self.byte = data[0],
            _ => {}
        }
    }
}

pub fn register(s: &mut Suite) {
    if let Some(g) = guests::get("mmio") {
        s.kvm("devices::mmio_exit_round_trip", move || {
            let probe = Arc::new(Mutex::new(Probe::default()));
            let mut vm = TestVm::<HostArch>::new(g.config(1, 16))?;
            vm.vmm
                .add_mmio_device(0xd000_0000, 0x10, probe.clone())
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
