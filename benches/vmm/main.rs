//! tetra's issue-2 benchmark, each figure next to a baseline measured in the same run:
//!
//! (a) wall time from spawning `tetra run` (the embedded guest, without a PIT) to its first serial
//!     byte, and to its exit; baselines: a bare `true`, and a minimal KVM_RUN loop process (this
//!     binary, re-executed; in-kernel irqchip, no PIT) booting a tiny real-mode guest to its first
//!     serial byte and its exit. Then the exit of `tetra run --pit on` against the minimal loop
//!     with the in-kernel PIT too (its teardown waits an SRCU grace period). Where `cc -static`
//!     works, the same loop in C (`minimal.c`, linked statically: no Rust runtime, no dynamic
//!     loader) is a further baseline for (a) and (c), with and without the PIT.
//! (b) TSC cycles per userspace-handled PIO exit, measured inside the guest with RDTSC over 16,000
//!     port writes; baseline: the same guest under the minimal KVM_RUN loop (no bus, no devices,
//!     no threads; the same in-kernel irqchip and CPUID, whose cost is KVM's and not the VMM's).
//! (c) peak RSS beyond resident guest RAM, from `tetra run --stats` (VmHWM, read first, minus the
//!     guest RAM pagemap says is resident); baseline: the minimal loop's own figure, measured the same way.
//! (d) (issue 19) scaling: (a)'s first byte and the whole process's peak RSS at 256 MiB, 1, 4 and
//!     16 GiB and at 1, 2, 4 and 8 vCPUs, each row against the static C loop (or the minimal loop)
//!     spawned beside it.
//!
//! Runs are interleaved (tetra, baseline, tetra, ...) so that load from elsewhere hits both.
//! Run: `cargo bench --bench vmm` (x86_64 hosts with /dev/kvm). `TETRA_BENCH_BIN=PATH` measures
//! another tetra binary (a static build) in place of the one cargo built.

// The body and its baseline, a minimal KVM_RUN loop (`minimal.rs`), are x86 code on kvm-ioctls
// and kvm-bindings, dev-dependencies of x86_64 hosts only: they stay behind the target's cfg, the
// benchmarks' one place that needs it. Whether to run is the host switch's word (`HOST_ARCH`).
#[cfg(target_arch = "x86_64")]
mod bench;

use tetra_host::HOST_ARCH;

fn main() {
    if HOST_ARCH != "x86_64" {
        println!(
            "skipped: the benchmark's guests and baseline are x86_64; this host is {HOST_ARCH}"
        );
        return;
    }
    #[cfg(target_arch = "x86_64")]
    bench::main();
}
