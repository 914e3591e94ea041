//! The VM lifecycle: pause stops the guest, resume lets it go on, and it ends normally.

use integration_tests::guests;
use integration_tests::harness::{check, Suite};
use integration_tests::run::TestVm;
use std::time::Duration;
use tetra_host::HostArch;
use vmm_core::{GuestExit, VmState};

pub fn register(s: &mut Suite) {
    let Some(g) = guests::get("counter") else {
        return;
    };
    s.kvm("lifecycle::pause_and_resume", move || {
        let mut vm = TestVm::<HostArch>::new(g.config(1, 16))?;
        vm.vmm.start().map_err(|e| e.to_string())?;
        vm.wait_for("tick 3\n")?;
        vm.vmm.pause().map_err(|e| e.to_string())?;
        check(vm.vmm.state() == VmState::Paused, || "not paused".into())?;
        let before = vm.console();
        // A paused guest makes no progress.
        let end = vm
            .vmm
            .wait(Some(Duration::from_millis(300)))
            .map_err(|e| e.to_string())?;
        check(end.is_none(), || {
            format!("guest ended while paused: {end:?}")
        })?;
        check(vm.console() == before, || {
            "console grew while paused".into()
        })?;
        check(!before.contains("tick 40"), || {
            "the guest finished before the pause".into()
        })?;
        vm.vmm.resume().map_err(|e| e.to_string())?;
        let out = vm.finish()?;
        check(out.exit == GuestExit::DebugExit(0x10), || {
            format!("{:?}", out.exit)
        })?;
        check(out.console.contains("tick 40\n"), || out.console.clone())
    });
    s.kvm(
        "lifecycle::pause_twice_and_resume_unpaused_are_errors",
        move || {
            let mut vm = TestVm::<HostArch>::new(g.config(1, 16))?;
            check(vm.vmm.pause().is_err(), || {
                "paused a VM that never started".into()
            })?;
            vm.vmm.start().map_err(|e| e.to_string())?;
            check(vm.vmm.resume().is_err(), || "resumed a running VM".into())?;
            vm.vmm.pause().map_err(|e| e.to_string())?;
            check(vm.vmm.pause().is_err(), || "paused twice".into())?;
            vm.vmm.resume().map_err(|e| e.to_string())?;
            vm.finish().map(|_| ())
        },
    );
}
