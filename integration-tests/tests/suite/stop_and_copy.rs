//! The stop-and-copy order of snapshots and migrations (issue 10), on real KVM: pause, then the
//! arch flushes the state KVM keeps for the guest into guest RAM, then the last dirty pages
//! (KVM's log and tetra's own writes alike) are copied, then the state.
//!
//! - The flush: the source is a [`Flushing`] VM, whose arch writes a marker into guest RAM
//!   during [`Arch::flush_to_guest_ram`](vmm_core::Arch::flush_to_guest_ram); the migration's
//!   destination and the restored VM (plain host-arch VMs) must have it.
//! - Userspace writes: a device writes guest memory (through vm-memory, as a virtio device's DMA
//!   would) after every pre-copy round, the last time after the last round's pages went; the
//!   destination must have that last write. KVM's dirty log never sees such a write: only the
//!   userspace dirty bitmap the harvest merges does.

use integration_tests::flushing::{has_marker, Flushing, FLUSHES};
use integration_tests::guests::{self, Guest};
use integration_tests::harness::{check, Suite};
use integration_tests::run::{chain, Scratch, TestVm};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;
use tetra_host::HostArch;
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryRegion};
use vmm_core::console::ConsoleSink;
use vmm_core::memory::{GuestMemoryMmap, GuestRam};
use vmm_core::migration::{MigrateOptions, Progress};
use vmm_core::{Arch, GuestExit, Vmm, VmmOptions};

/// What the dirtier prints once it is well under way.
const RUNNING: &str = "sweep 100\n";

type Incoming = std::thread::JoinHandle<Result<Vmm<HostArch>, String>>;

/// A plain host-arch destination listening on a Unix socket in `dir`; returns it and the URI.
fn destination(dir: &Scratch) -> (Incoming, String) {
    let uri = format!("unix:{}", dir.0.join("m.sock").display());
    let (tx, rx) = mpsc::channel();
    let listen = uri.clone();
    let t = std::thread::spawn(move || {
        let opts = VmmOptions {
            console: ConsoleSink::Null,
            stdin: false,
            ..VmmOptions::default()
        };
        Vmm::<HostArch>::incoming(&listen, opts, Duration::from_secs(10), &mut |_| {
            let _ = tx.send(());
        })
        .map_err(|e| chain(&e))
    });
    let _ = rx.recv_timeout(Duration::from_secs(10));
    (t, uri)
}

/// The second-to-last host page of guest RAM (the marker takes the last one): a page the
/// dirtier does not write (it sweeps 2-4 MiB of the 16).
fn dma_addr(mem: &GuestRam) -> u64 {
    let m = mem.memory();
    let last = m.iter().last().expect("a VM has RAM");
    last.start_addr().0 + last.len() - 2 * vmm_core::memory::page_size()
}

/// A device that writes guest memory on its own (a DMA engine), through vm-memory like every
/// device model: the word it writes is the number of its write.
struct Dma {
    mem: vm_memory::GuestMemoryAtomic<GuestMemoryMmap>,
    at: u64,
    writes: u32,
}

impl Dma {
    fn write(&mut self) {
        use vm_memory::GuestAddressSpace;
        self.writes += 1;
        let v = 0xd4a0_0000 | self.writes;
        self.mem
            .memory()
            .write_obj(v, GuestAddress(self.at))
            .expect("the DMA page is in RAM");
    }
}

fn read_u32(mem: &GuestRam, at: u64) -> u32 {
    mem.memory()
        .read_obj(GuestAddress(at))
        .expect("the page is in RAM")
}

pub fn register(s: &mut Suite) {
    if HostArch::SNAPSHOT_MAGIC.is_none() {
        s.skip("stop_and_copy::*", "kvm", "this arch cannot snapshot yet");
        return;
    }
    // The dirtier runs until told to stop: a short-lived guest could end while a loaded host
    // is still migrating it ("the guest ended during the migration").
    let Some(g) = guests::get("dirtier") else {
        s.skip(
            "stop_and_copy::*",
            "kvm",
            "this arch has no dirtier test guest (one that runs until stopped)",
        );
        return;
    };
    s.kvm(
        "stop_and_copy::a_snapshot_holds_what_the_arch_flushes_to_guest_ram",
        move || snapshot_has_the_flush(g),
    );
    s.kvm(
        "stop_and_copy::a_migration_carries_what_the_arch_flushes_to_guest_ram",
        move || migration_has_the_flush(g),
    );
    s.kvm(
        "stop_and_copy::a_migration_carries_a_device_write_after_the_last_precopy_round",
        move || migration_has_the_last_device_write(g),
    );
}

fn snapshot_has_the_flush(g: &'static Guest) -> Result<(), String> {
    let dir = Scratch::new("flush-snap");
    let path = dir.0.join("vm.snap");
    let mut a = TestVm::<Flushing<HostArch>>::new(g.config(1, 16))?;
    a.vmm.start().map_err(|e| chain(&e))?;
    a.wait_for(RUNNING)?;
    check(!has_marker(a.vmm.memory()), || {
        "the marker is there before any flush".into()
    })?;
    let flushes = FLUSHES.load(Ordering::SeqCst);
    // A running VM: the snapshot pauses it, flushes, copies, resumes.
    a.vmm.snapshot(&path).map_err(|e| chain(&e))?;
    check(FLUSHES.load(Ordering::SeqCst) > flushes, || {
        "the snapshot did not flush".into()
    })?;
    check(has_marker(a.vmm.memory()), || {
        "the flush wrote no marker".into()
    })?;
    drop(a);
    let b = Vmm::<HostArch>::restore(
        &path,
        VmmOptions {
            console: ConsoleSink::Null,
            stdin: false,
            ..VmmOptions::default()
        },
    )
    .map_err(|e| chain(&e))?;
    check(has_marker(b.memory()), || {
        "the restored VM lacks what the arch flushed to guest RAM".into()
    })
}

fn migration_has_the_flush(g: &'static Guest) -> Result<(), String> {
    let dir = Scratch::new("flush-mig");
    let mut src = TestVm::<Flushing<HostArch>>::new(g.config(1, 16))?;
    src.vmm.start().map_err(|e| chain(&e))?;
    src.wait_for(RUNNING)?;
    let (dst, uri) = destination(&dir);
    src.vmm
        .migrate(&uri, &MigrateOptions::default(), &mut |_| {})
        .map_err(|e| chain(&e))?;
    check(
        src.vmm.exit_notifier().reason() == Some(GuestExit::Migrated),
        || "the source did not hand the guest over".into(),
    )?;
    let d = dst.join().map_err(|_| "the destination panicked")??;
    check(has_marker(d.memory()), || {
        "the destination lacks what the arch flushed to guest RAM during stop-and-copy".into()
    })
}

fn migration_has_the_last_device_write(g: &'static Guest) -> Result<(), String> {
    let dir = Scratch::new("dma-mig");
    let mut src = TestVm::<HostArch>::new(g.config(1, 16))?;
    let at = dma_addr(src.vmm.memory());
    let mut dma = Dma {
        mem: src.vmm.memory().atomic().clone(),
        at,
        writes: 0,
    };
    src.vmm.start().map_err(|e| chain(&e))?;
    src.wait_for(RUNNING)?;
    let (dst, uri) = destination(&dir);
    let mut rounds: Vec<Progress> = Vec::new();
    src.vmm
        .migrate(&uri, &MigrateOptions::default(), &mut |p| {
            // After each round's harvest: the last of these writes lands after the last
            // pre-copy round, while the guest still runs.
            if p.phase == vmm_core::migration::Phase::PreCopy {
                dma.write();
            }
            rounds.push(p.clone());
        })
        .map_err(|e| chain(&e))?;
    let d = dst.join().map_err(|_| "the destination panicked")??;
    let want = 0xd4a0_0000 | dma.writes;
    let got = read_u32(d.memory(), at);
    check(dma.writes > 0 && got == want, || {
        format!(
            "the destination has {got:#x} where the device last wrote {want:#x} \
             ({} writes, {} rounds)",
            dma.writes,
            rounds.len()
        )
    })
}
