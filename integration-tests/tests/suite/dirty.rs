//! Dirty logging on real KVM (seed 001, issue 5): the log reports the pages a guest writes and not
//! the rest of its RAM, queries are bounded by range and by count, and a memory map change keeps
//! every dirty page (the log is harvested before a slot goes away; a moved region keeps its bits).
//! Written against the counter guests' contract: every arch's counter keeps its count 0xff0 bytes
//! past its load address. Pages are the host's (4 KiB on x86 and arm64 here, 64 KiB on ppc64).

use integration_tests::guests;
use integration_tests::harness::{check, Suite};
use integration_tests::run::{chain, TestVm};
use tetra_host::HostArch;
use vmm_core::memory::{page_size, MapChange};
use vmm_core::GuestExit;

/// How far from its load address a counter guest may write (its image, data and stack).
const REACH: u64 = 2 << 20;

pub fn register(s: &mut Suite) {
    let Some(g) = guests::get("counter") else {
        return;
    };
    let (Some(load), Some(count_at)) = (g.raw().map(|r| r.addr), g.count_addr()) else {
        return;
    };

    s.kvm("dirty::log_reports_the_pages_the_guest_writes", move || {
        let page = page_size();
        let count_page = count_at & !(page - 1);
        let mut vm = TestVm::<HostArch>::new(g.config(1, 32))?;
        let ram = vm.vmm.memory().slots();
        let base = ram.iter().map(|s| s.guest_addr).min().unwrap_or(0);
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
        check(new >= 1, || "no page newly dirty".into())?;
        // Bounded by range and count: one page, the count's.
        let one = log.take(count_page..count_page + page, 1);
        check(one == vec![count_page], || {
            format!("{one:x?}, expected [{count_page:#x}]")
        })?;
        let rest = log.take(0..u64::MAX, usize::MAX);
        check(rest.iter().all(|p| *p >= base && *p < load + REACH), || {
            format!("pages the guest never wrote were reported: {rest:x?}")
        })?;
        check(log.pending() == 0, || "pages still pending".into())?;
        vm.vmm.resume().map_err(|e| chain(&e))?;
        let out = vm.finish()?;
        check(out.console.ends_with("tick 40\n"), || {
            format!("{:?}\n{}", out.exit, out.console)
        })
    });

    s.kvm("dirty::memory_map_change_keeps_dirty_pages", move || {
        let page = page_size();
        let count_page = count_at & !(page - 1);
        let mut vm = TestVm::<HostArch>::new(g.config(1, 32))?;
        let region = vm
            .vmm
            .memory()
            .slots()
            .into_iter()
            .find(|s| load >= s.guest_addr && load < s.guest_addr + s.size)
            .ok_or("no RAM region holds the guest")?;
        vm.vmm.start_dirty_log().map_err(|e| chain(&e))?;
        vm.vmm.harvest_dirty().map_err(|e| chain(&e))?;
        vm.vmm.dirty_log().unwrap().take(0..u64::MAX, usize::MAX);
        vm.vmm.start().map_err(|e| chain(&e))?;
        vm.wait_for("tick 3\n")?;
        // Move the guest's RAM 16 GiB up: the slot that logged the guest's writes goes away.
        // Paused first: a guest running while its RAM is elsewhere would fetch from a hole.
        vm.vmm.pause().map_err(|e| chain(&e))?;
        let (from, to) = (region.guest_addr, region.guest_addr + (16 << 30));
        vm.vmm
            .change_memory(&[MapChange::Move { from, to }])
            .map_err(|e| chain(&e))?;
        let log = vm.vmm.dirty_log().unwrap();
        let pages = log.take(to..to + region.size, usize::MAX);
        let moved = count_page - from + to;
        check(pages.contains(&moved), || {
            format!("the count's page was lost: {pages:x?}")
        })?;
        // Add and remove a region, then move the RAM back: the guest goes on with its contents.
        let spare = to + region.size + (1 << 30);
        vm.vmm
            .change_memory(&[
                MapChange::Add {
                    guest_addr: spare,
                    size: 2 << 20,
                },
                MapChange::Remove { guest_addr: spare },
                MapChange::Move { from: to, to: from },
            ])
            .map_err(|e| chain(&e))?;
        let bad = vm
            .vmm
            .change_memory(&[MapChange::Remove { guest_addr: spare }]);
        check(bad.is_err(), || {
            "removed a region that does not exist".into()
        })?;
        vm.vmm.resume().map_err(|e| chain(&e))?;
        let out = vm.finish()?;
        check(out.console.ends_with("tick 40\n"), || {
            format!("{:?}\n{}", out.exit, out.console)
        })?;
        check(
            matches!(out.exit, GuestExit::DebugExit(_) | GuestExit::PowerOff),
            || format!("{:?}", out.exit),
        )
    });
}
