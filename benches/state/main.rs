//! tetra's snapshot and migration benchmark (issue 5), each figure next to a baseline measured in
//! the same run and the goal it aims at. For 256 MiB and 1 GiB guests that touched all their RAM,
//! idle (no memory writes) and dirtying (32 MiB rewritten continuously):
//!
//! - snapshot time; baseline: writing and fsyncing the same bytes with one plain write;
//! - restore time to the first guest instruction (the guest writes port 0x80 all the time, so the
//!   first write after `Vmm::restore` marks it); baseline: a fresh boot to its first instruction;
//! - migration total time and downtime over a Unix socket; baselines: a raw transfer of the same
//!   bytes over a Unix socket pair into one reused buffer, and the same into fresh memory of their
//!   size (what a destination pays on top: every page of its new guest's RAM faulted in);
//! - the cost of starting dirty logging, per GiB; baseline: re-registering the same slots without
//!   logging.
//!
//! - (issue 19) restore to the first instruction of idle snapshots of 256 MiB, 1, 4 and 16 GiB,
//!   against a fresh boot of the same size and against the 256 MiB restore.
//!
//! Run: `cargo bench --bench state` (x86_64 hosts with /dev/kvm); `cargo bench --bench state --
//! migration` for the migration rows only, `-- scaling` for the restore scaling rows only.

mod bench;

use tetra_host::HOST_ARCH;

fn main() {
    if HOST_ARCH != "x86_64" {
        println!("skipped: the benchmark's guests are x86_64; this host is {HOST_ARCH}");
        return;
    }
    bench::main();
}
