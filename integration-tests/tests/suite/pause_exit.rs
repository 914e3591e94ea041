//! A pause that lands while a vCPU is handling an MMIO exit, arch-neutral (the `mmio` guest and
//! its probe device, `integration_tests::probe`): KVM finishes such an exit only when the vCPU
//! re-enters (arm64 steps the PC past the access then; an MMIO read's value reaches its register
//! then), so the pause must complete it before the vCPU parks. The state saved at that pause,
//! restored into a second VM, goes on after the store: the second probe sees the byte write and
//! the reads, never the 32-bit store again.

use crate::expect;
use integration_tests::guests;
use integration_tests::harness::{check, Suite};
use integration_tests::probe::{self, Probe};
use integration_tests::run::{chain, TestVm};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tetra_host::HostArch;
use vmm_core::GuestExit;

pub fn register(s: &mut Suite) {
    let Some(g) = guests::get("mmio") else {
        return;
    };
    s.kvm(
        "lifecycle::pause_completes_a_pending_mmio_exit",
        move || {
            let (entered_tx, entered_rx) = mpsc::channel();
            let (release_tx, release_rx) = mpsc::channel();
            let mut first = Probe::new(0);
            first.hold_first_store(entered_tx, release_rx);
            let first = Arc::new(Mutex::new(first));
            let mut a = TestVm::<HostArch>::new(g.config(1, 16))?;
            a.vmm
                .add_mmio_device(probe::BASE, probe::SIZE, first.clone())
                .map_err(|e| chain(&e))?;
            a.vmm.start().map_err(|e| chain(&e))?;
            entered_rx
                .recv_timeout(integration_tests::run::timeout())
                .map_err(|_| "the guest never wrote to the probe")?;
            // The vCPU is inside the MMIO exit: request the pause, then let the exit return.
            let releaser = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                let _ = release_tx.send(());
            });
            a.vmm.pause().map_err(|e| chain(&e))?;
            releaser
                .join()
                .map_err(|_| "the releasing thread panicked")?;
            let t = a.vmm.register_table().map_err(|e| chain(&e))?;
            let saved = a.vmm.save_vcpus(&t).map_err(|e| chain(&e))?;
            drop(a);

            // The second VM's probe already holds the first store's value, as the first one does.
            let second = Arc::new(Mutex::new(Probe::new(0xdead_beef)));
            let mut b = TestVm::<HostArch>::new(g.config(1, 16))?;
            b.vmm
                .add_mmio_device(probe::BASE, probe::SIZE, second.clone())
                .map_err(|e| chain(&e))?;
            b.vmm.restore_vcpus(&t, saved).map_err(|e| chain(&e))?;
            let out = b.finish()?;
            expect(&out, GuestExit::DebugExit(0x10), &["mmio: ok"])?;
            let w = &second.lock().unwrap().writes;
            check(*w == vec![(8, vec![0x41])], || {
                format!("the moved guest wrote {w:x?}: the paused store was not completed")
            })
        },
    );
}
