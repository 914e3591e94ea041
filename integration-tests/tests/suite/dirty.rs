//! Dirty logging on real KVM (seed 001, issue 5): the log reports the pages a guest writes and no
//! others, queries are bounded by range and by count, and a memory map change keeps every dirty
//! page (the log is harvested before a slot goes away; a moved region keeps its bits).

use integration_tests::guests;
use integration_tests::harness::{check, Suite};
use integration_tests::host::HostArch;
use integration_tests::run::{chain, TestVm};
use vmm_core::memory::MapChange;
use vmm_core::GuestExit;

/// The counter guest's count lives at 0x100ff0, its stack just below 0x8000.
const COUNT_PAGE: u64 = 0x10_0000;
const STACK_PAGE: u64 = 0x7000;

pub fn register(s: &mut Suite) {
    let Some(g) = guests::get("counter") else {
        return;
    };
    // The pages and the RAM move below are the x86 counter's (RAM at 0, count at 0x100ff0).
    if g.raw().map(|r| r.addr) != Some(0x10_0000) {
        s.skip(
            "dirty::*",
            "kvm",
            "the dirty-log scenario assumes the x86 counter guest's memory layout",
        );
        return;
    }

    s.kvm("dirty::log_reports_the_pages_the_guest_writes", move || {
        let mut vm = TestVm::<HostArch>::new(g.config(1, 32))?;
        vm.vmm.start().map_err(|e| chain(&e))?;
        vm.wait_for("tick 2\n")?;
        vm.vmm.pause().map_err(|e| chain(&e))?;
        vm.vmm.start_dirty_log().map_err(|e| chain(&e))?;
        // Start from a clean log: whatever logging-on reported is taken now.
        vm.vmm.harvest_dirty().map_err(|e| chain(&e))?;
        vm.vmm.dirty_log().unwrap().take(0..u64::MAX, usize::MAX);
        vm.vmm.resume().map_err(|e| chain(&e))?;
        vm.wait_for("tick 5\n")?;
        vm.vmm.pause().map_err(|e| chain(&e))?;
        let new = vm.vmm.harvest_dirty().map_err(|e| chain(&e))?;
        let log = vm.vmm.dirty_log().unwrap();
        check((2..64).contains(&new), || {
            format!("{new} pages newly dirty")
        })?;
        // Bounded by range and count: one page from the count's page.
        let one = log.take(COUNT_PAGE..COUNT_PAGE + 0x1000, 1);
        check(one == vec![COUNT_PAGE], || format!("{one:x?}"))?;
        let rest = log.take(0..u64::MAX, usize::MAX);
        check(rest.contains(&STACK_PAGE), || {
            format!("stack page missing from {rest:x?}")
        })?;
        check(!rest.iter().any(|p| *p >= 0x20_0000), || {
            format!("untouched pages reported: {rest:x?}")
        })?;
        check(log.pending() == 0, || "pages still pending".into())?;
        vm.vmm.resume().map_err(|e| chain(&e))?;
        let out = vm.finish()?;
        check(out.exit == GuestExit::DebugExit(0x10), || {
            format!("{:?}", out.exit)
        })
    });

    s.kvm("dirty::memory_map_change_keeps_dirty_pages", move || {
        let mut vm = TestVm::<HostArch>::new(g.config(1, 32))?;
        vm.vmm.start_dirty_log().map_err(|e| chain(&e))?;
        vm.vmm.harvest_dirty().map_err(|e| chain(&e))?;
        vm.vmm.dirty_log().unwrap().take(0..u64::MAX, usize::MAX);
        vm.vmm.start().map_err(|e| chain(&e))?;
        vm.wait_for("tick 3\n")?;
        // Move the guest's RAM to 1 GiB: the slot that logged the guest's writes goes away.
        let high = 1u64 << 30;
        vm.vmm
            .change_memory(&[MapChange::Move { from: 0, to: high }])
            .map_err(|e| chain(&e))?;
        vm.vmm.pause().map_err(|e| chain(&e))?;
        let log = vm.vmm.dirty_log().unwrap();
        let pages = log.take(high..high + (32 << 20), usize::MAX);
        check(pages.contains(&(high + COUNT_PAGE)), || {
            format!("the count's page was lost: {pages:x?}")
        })?;
        // Add and remove a region, then move the RAM back: the guest goes on with its contents.
        vm.vmm
            .change_memory(&[
                MapChange::Add {
                    guest_addr: 2 << 30,
                    size: 2 << 20,
                },
                MapChange::Remove {
                    guest_addr: 2 << 30,
                },
                MapChange::Move { from: high, to: 0 },
            ])
            .map_err(|e| chain(&e))?;
        let bad = vm.vmm.change_memory(&[MapChange::Remove {
            guest_addr: 0x1234_0000,
        }]);
        check(bad.is_err(), || {
            "removed a region that does not exist".into()
        })?;
        vm.vmm.resume().map_err(|e| chain(&e))?;
        let out = vm.finish()?;
        check(out.exit == GuestExit::DebugExit(0x10), || {
            format!("{:?}\n{}", out.exit, out.console)
        })?;
        check(out.console.ends_with("tick 40\n"), || out.console.clone())
    });
}
