//! The baseline: a minimal KVM_RUN loop on kvm-ioctls with the same in-kernel irqchip and CPUID
//! as tetra's vCPUs (KVM's own per-exit cost depends on both), but no bus, no devices, no
//! threads; with or without the in-kernel PIT (whose teardown costs an SRCU grace period at
//! exit). It loads a raw guest, enters it in real or protected mode, copies port 0x3f8 writes to
//! stdout, ignores every other port write, and stops at the debug-exit port.

use arch_x86_64::boot::entry::{
    instruction_pointer, special_regs, write_descriptor_tables, CpuMode, EntryState, Segment,
};
use arch_x86_64::X86_64;
use integration_tests::guests;
use integration_tests::run::TestVm;
use kvm_bindings::{kvm_segment, kvm_userspace_memory_region};
use kvm_ioctls::{Kvm, VcpuExit};
use std::io::Write;
use std::sync::{Arc, Mutex};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend};
use vmm_core::bus::BusDevice;
use vmm_core::memory::GuestRam;
use vmm_core::GuestExit;

fn seg(s: &Segment) -> kvm_segment {
    kvm_segment {
        base: s.base,
        limit: s.limit,
        selector: s.selector,
        type_: s.type_,
        present: s.present,
        dpl: s.dpl,
        db: s.db,
        s: s.s,
        l: s.l,
        g: s.g,
        avl: s.avl,
        ..Default::default()
    }
}

/// The process's peak RSS in KiB (`VmHWM`).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// What one minimal run ends with.
struct Ended {
    /// The debug-exit value.
    value: u32,
    /// Peak RSS in KiB, read before `resident` is counted.
    peak_kib: u64,
    /// Guest RAM resident at the end, in bytes.
    resident: u64,
}

/// Runs `image` raw at `addr` in `mode` with `mem_mib` of RAM, with the in-kernel irqchip and,
/// with `pit`, the in-kernel PIT (as tetra's `--pit on`).
fn run_minimal(image: &[u8], addr: u64, mode: CpuMode, mem_mib: usize, pit: bool) -> Ended {
    let kvm = Kvm::new().expect("/dev/kvm");
    let vm = kvm.create_vm().expect("KVM_CREATE_VM");
    let ram = GuestRam::new(&[(GuestAddress(0), mem_mib << 20)]).unwrap();
    let mem = ram.memory();
    let region = kvm_userspace_memory_region {
        slot: 0,
        guest_phys_addr: 0,
        memory_size: (mem_mib as u64) << 20,
        userspace_addr: mem.get_host_address(GuestAddress(0)).unwrap() as u64,
        flags: 0,
    };
    // SAFETY: the region is `ram`'s mapping, which outlives the VM in this function.
    unsafe { vm.set_user_memory_region(region) }.expect("KVM_SET_USER_MEMORY_REGION");
    vm.create_irq_chip().expect("KVM_CREATE_IRQCHIP");
    if pit {
        let config = kvm_bindings::kvm_pit_config {
            flags: kvm_bindings::KVM_PIT_SPEAKER_DUMMY,
            ..Default::default()
        };
        vm.create_pit2(config).expect("KVM_CREATE_PIT2");
    }
    mem.write_slice(image, GuestAddress(addr)).unwrap();
    write_descriptor_tables(&mem).unwrap();
    let mut vcpu = vm.create_vcpu(0).expect("KVM_CREATE_VCPU");
    // The same CPU model as tetra's vCPUs: KVM's per-exit cost depends on it (FPU/XSAVE state).
    let cpuid = kvm
        .get_supported_cpuid(kvm_bindings::KVM_MAX_CPUID_ENTRIES)
        .expect("KVM_GET_SUPPORTED_CPUID");
    vcpu.set_cpuid2(&cpuid).expect("KVM_SET_CPUID2");
    let entry = EntryState::at(mode, addr);
    let sr = special_regs(&entry);
    let mut sregs = vcpu.get_sregs().unwrap();
    sregs.cs = seg(&sr.cs);
    for s in [
        &mut sregs.ds,
        &mut sregs.es,
        &mut sregs.fs,
        &mut sregs.gs,
        &mut sregs.ss,
    ] {
        *s = seg(&sr.data);
    }
    sregs.tr = seg(&sr.tr);
    sregs.gdt.base = sr.gdt.0;
    sregs.gdt.limit = sr.gdt.1;
    sregs.cr0 = sr.cr0;
    vcpu.set_sregs(&sregs).unwrap();
    let mut regs = vcpu.get_regs().unwrap();
    regs.rip = instruction_pointer(&entry);
    regs.rsp = 0x8000;
    regs.rflags = 2;
    vcpu.set_regs(&regs).unwrap();
    let mut out = std::io::stdout().lock();
    let value = loop {
        match vcpu.run() {
            Ok(VcpuExit::IoOut(0x3f8, d)) => {
                let _ = out.write_all(d);
                let _ = out.flush();
            }
            Ok(VcpuExit::IoOut(0xf4, d)) => {
                let mut v = [0u8; 4];
                v[..d.len().min(4)].copy_from_slice(&d[..d.len().min(4)]);
                break u32::from_le_bytes(v);
            }
            Ok(VcpuExit::IoOut(..)) => {}
            Ok(VcpuExit::IoIn(_, d)) => d.fill(0xff),
            Ok(e) => panic!("minimal loop: unexpected exit {e:?}"),
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {}
            Err(e) => panic!("minimal loop: KVM_RUN: {e}"),
        }
    };
    let peak_kib = peak_rss_kib();
    Ended {
        value,
        peak_kib,
        resident: ram.resident_bytes(),
    }
}

/// The spawned baseline: boots the real-mode test guest (it prints a line) in 128 MiB, with a
/// PIT if `pit`, and reports its peak RSS beyond guest RAM the way `tetra run --stats` does (the
/// peak read before guest RAM is counted).
pub fn child_main(pit: bool) {
    let g = guests::get("realmode").expect("the realmode guest");
    let e = run_minimal(g.image, g.raw().unwrap().addr, CpuMode::Real, 128, pit);
    eprintln!(
        "minimal: stats: peak RSS {} KiB, beyond guest RAM {} KiB",
        e.peak_kib,
        e.peak_kib - e.resident / 1024
    );
}

#[derive(Default)]
struct Sink(u64);
impl BusDevice for Sink {
    fn read(&mut self, _: u64, data: &mut [u8]) {
        data.fill(0);
    }
    fn write(&mut self, _: u64, _: &[u8]) {
        self.0 += 1;
    }
}

/// (tetra, minimal) median cycles per PIO exit over `runs` interleaved runs each.
pub fn pio_cycles(runs: usize) -> (f64, f64) {
    let g = guests::get("pio_bench").expect("the pio_bench guest");
    let raw = g.raw().unwrap();
    let (mut t, mut m) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        m.push(f64::from(
            run_minimal(g.image, raw.addr, CpuMode::Protected, 16, false).value,
        ));
        let sink = Arc::new(Mutex::new(Sink::default()));
        let mut vm = TestVm::<X86_64>::new(g.config(1, 16)).unwrap();
        vm.vmm.add_pio_device(0x80, 1, sink.clone()).unwrap();
        match vm.finish().unwrap().exit {
            GuestExit::DebugExit(c) => t.push(f64::from(c)),
            e => panic!("pio_bench ended with {e:?}"),
        }
        assert_eq!(
            sink.lock().unwrap().0,
            16_000,
            "every port write reached the device"
        );
    }
    (super::median(t), super::median(m))
}
