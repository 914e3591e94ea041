//! The raw backend on this host's real `/dev/kvm`, with the generic ioctl layout
//! ([`KvmAbi::X86_64`]): the same code that runs PowerPC guests creates a VM, maps guest memory,
//! creates a vCPU, maps its `kvm_run` page and runs a few bytes of real-mode x86 code through
//! I/O, MMIO and HLT exits. This proves `KVM_RUN`, the mapping and the exit decoding on real KVM;
//! the PowerPC numbers are proved by the ABI check and, on a PowerPC host, by the emulated-host
//! tests.
//!
//! x86 guest code, so x86_64 hosts only. /dev/kvm missing is a failure, not a skip.
#![cfg(target_arch = "x86_64")]

use kvm_ppc::consts::{KVM_CAP_IMMEDIATE_EXIT, KVM_CAP_NR_VCPUS, KVM_CAP_USER_MEMORY};
use kvm_ppc::sregs::BLOCK_REGS;
use kvm_ppc::structs::KvmIrqRoutingEntry;
use kvm_ppc::{Kvm, KvmAbi};
use vmm_core::hypervisor::{IoEventAddr, MemorySlot, VcpuExit, VcpuOps, VmOps};
use vmm_core::regs::{BlockKind, RegBlock, VcpuRegs};
use vmm_sys_util::eventfd::EventFd;

/// Anonymous host memory for a guest slot.
struct Mem {
    ptr: *mut u8,
    len: usize,
}

impl Mem {
    fn new(len: usize) -> Mem {
        // SAFETY: a fresh private anonymous mapping.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED, "mmap guest memory");
        Mem {
            ptr: p as *mut u8,
            len,
        }
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: ptr..ptr+len is our mapping.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for Mem {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping once.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
    }
}

fn open() -> Kvm {
    Kvm::open(KvmAbi::X86_64).unwrap_or_else(|e| {
        panic!("this test needs the host's /dev/kvm (x86_64 host, user in group kvm): {e}")
    })
}

// Real-mode code at the reset vector (CS base 0xffff0000, IP 0xfff0) jumping to 0xffa0.
const RESET: [u8; 2] = [0xeb, 0xae]; // jmp short 0xffa0
const CODE: [u8; 21] = [
    0xba, 0x10, 0x00, // mov dx, 0x10
    0xb0, 0x42, // mov al, 0x42
    0xee, // out dx, al          -> IoOut 0x10 [0x42]
    0xec, // in al, dx           -> IoIn 0x10, the VMM answers 0x7f
    0xa2, 0x00, 0x10, // mov [0x1000], al    RAM (slot 1, dirty-logged page 1)
    0xa2, 0x00, 0x40, // mov [0x4000], al    -> MmioWrite 0x4000 [0x7f]
    0xa0, 0x00, 0x50, // mov al, [0x5000]    -> MmioRead 0x5000, the VMM answers 0x5a
    0xee, // out dx, al          -> IoOut 0x10 [0x5a]
    0xe6, 0x30, // out 0x30, al  -> no exit: signals the ioeventfd
    0xf4, // hlt                 -> Hlt
    0xf4,
];

#[test]
fn raw_backend_runs_a_real_mode_guest_on_real_kvm() {
    let kvm = open();
    assert_eq!(kvm.api_version().unwrap(), 12);
    assert!(kvm.check_extension(KVM_CAP_USER_MEMORY) > 0);
    let vm = kvm.create_vm(0).expect("KVM_CREATE_VM");
    assert!(vm.check_extension(KVM_CAP_NR_VCPUS) > 0);
    assert!(vm.max_vcpus() >= 1);

    // Slot 0: the top page of the 4 GiB space with the reset vector. Slot 1: 8 KiB of RAM at 0,
    // dirty-logged.
    let mut rom = Mem::new(0x1000);
    rom.bytes()[0xfa0..0xfa0 + CODE.len()].copy_from_slice(&CODE);
    rom.bytes()[0xff0..0xff2].copy_from_slice(&RESET);
    let mut ram = Mem::new(0x2000);
    // SAFETY: both mappings outlive the VM (dropped after it, in reverse declaration order).
    unsafe {
        vm.set_memory_slot(&MemorySlot {
            slot: 0,
            guest_addr: 0xffff_f000,
            size: 0x1000,
            host_addr: rom.ptr as u64,
            log_dirty: false,
            readonly: false,
        })
        .expect("slot 0");
        vm.set_memory_slot(&MemorySlot {
            slot: 1,
            guest_addr: 0,
            size: 0x2000,
            host_addr: ram.ptr as u64,
            log_dirty: true,
            readonly: false,
        })
        .expect("slot 1");
    }

    // A PIO ioeventfd: the guest's write to port 0x30 signals it instead of exiting.
    let efd = EventFd::new(libc::EFD_NONBLOCK).unwrap();
    vm.register_ioeventfd(&efd, IoEventAddr::Pio(0x30), None)
        .expect("KVM_IOEVENTFD");

    let mut vcpu = vm.create_vcpu(0).expect("KVM_CREATE_VCPU");

    // The raw block path with the x86 struct kvm_regs size: RIP is the reset IP.
    let regs = RegBlock {
        id: BLOCK_REGS,
        name: "regs",
        ioctls: "KVM_GET_REGS/KVM_SET_REGS",
        kind: BlockKind::Struct {
            c_type: "struct kvm_regs",
            size: 144,
        },
    };
    let mut buf = vec![0u8; 144];
    vcpu.read_block(&regs, &mut buf).expect("KVM_GET_REGS");
    let rip = |b: &[u8]| u64::from_ne_bytes(b[128..136].try_into().unwrap());
    assert_eq!(rip(&buf), 0xfff0);

    // immediate_exit: KVM_RUN returns EINTR at once without entering the guest.
    if kvm.check_extension(KVM_CAP_IMMEDIATE_EXIT) > 0 {
        // SAFETY: the pointer is into this vCPU's kvm_run page.
        unsafe { *vcpu.immediate_exit_ptr() = 1 };
        let e = vcpu.run().unwrap_err();
        assert_eq!(e.errno(), Some(libc::EINTR), "{e}");
        // SAFETY: as above.
        unsafe { *vcpu.immediate_exit_ptr() = 0 };
    }

    let mut seen = Vec::new();
    for _ in 0..16 {
        let exit = vcpu.run().expect("KVM_RUN");
        match exit {
            VcpuExit::IoOut { port, size, data } => {
                seen.push(format!("out {port:#x}/{size} {data:02x?}"))
            }
            VcpuExit::IoIn { port, size, data } => {
                seen.push(format!("in {port:#x}/{size} {}", data.len()));
                data[0] = 0x7f;
            }
            VcpuExit::MmioWrite { addr, data } => {
                seen.push(format!("mmio-w {addr:#x} {data:02x?}"))
            }
            VcpuExit::MmioRead { addr, data } => {
                seen.push(format!("mmio-r {addr:#x} {}", data.len()));
                data[0] = 0x5a;
            }
            VcpuExit::Hlt => {
                seen.push("hlt".into());
                break;
            }
            other => panic!("unexpected exit {other:?} after {seen:?}"),
        }
    }
    assert_eq!(
        seen,
        [
            "out 0x10/1 [42]",
            "in 0x10/1 1",
            "mmio-w 0x4000 [7f]",
            "mmio-r 0x5000 1",
            "out 0x10/1 [5a]",
            "hlt"
        ]
    );
    // The guest's RAM write landed in host memory and in the dirty log (page 1 of slot 1).
    assert_eq!(ram.bytes()[0x1000], 0x7f);
    let log = vm.dirty_log(1, 0x2000).expect("KVM_GET_DIRTY_LOG");
    assert_eq!(log, vec![0b10]);
    assert_eq!(efd.read().expect("the ioeventfd fired"), 1);
    vm.unregister_ioeventfd(&efd, IoEventAddr::Pio(0x30), None)
        .expect("KVM_IOEVENTFD deassign");
    // RIP is past the HLT: 0xffa0 + 20 bytes.
    vcpu.read_block(&regs, &mut buf).expect("KVM_GET_REGS");
    assert_eq!(rip(&buf), 0xffa0 + 20);
    // A wrongly sized block buffer is refused before any ioctl.
    assert!(vcpu.read_block(&regs, &mut [0u8; 8]).is_err());
}

#[test]
fn wrong_layout_is_refused_by_the_kernel() {
    // The powerpc numbers on an x86 kernel: KVM_GET_API_VERSION is 0x2000ae00, which x86 does not
    // know: x86 KVM answers EINVAL (the mirror image of vmm-sys-util's macros on powerpc).
    let e = Kvm::open(KvmAbi::POWERPC)
        .err()
        .expect("powerpc numbers must fail on x86");
    assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");
}

#[test]
fn devices_on_real_kvm() {
    // KVM_CREATE_DEVICE and KVM_HAS_DEVICE_ATTR with the generic layout, on the one device type
    // an x86 VM without irqchip offers: KVM_DEV_TYPE_VFIO (4).
    const KVM_DEV_TYPE_VFIO: u32 = 4;
    let vm = open().create_vm(0).expect("KVM_CREATE_VM");
    assert!(
        vm.can_create_device(KVM_DEV_TYPE_VFIO),
        "KVM_CREATE_DEVICE_TEST"
    );
    assert!(!vm.can_create_device(0x7777), "an unknown type is refused");
    let dev = vm
        .create_device(KVM_DEV_TYPE_VFIO)
        .expect("KVM_CREATE_DEVICE");
    // KVM_DEV_VFIO_GROUP (1) / KVM_DEV_VFIO_GROUP_ADD (1) exists; group 0x77 does not.
    assert!(dev.has_attr(1, 1));
    assert!(!dev.has_attr(0x77, 0));
}

#[test]
fn gsi_routing_on_real_kvm() {
    // KVM_SET_GSI_ROUTING with the generic layout: x86 accepts irqchip routes once the VM has an
    // in-kernel irqchip (KVM_CREATE_IRQCHIP, _IO(KVMIO, 0x60)), and refuses an irqchip number it
    // does not have, so a misplaced field or a wrong ioctl number fails here.
    let vm = open().create_vm(0).expect("KVM_CREATE_VM");
    assert!(
        vm.set_gsi_routing(&[KvmIrqRoutingEntry::irqchip(4, 0, 4)])
            .is_err(),
        "no irqchip yet: x86 refuses routing"
    );
    // SAFETY: an argument-less ioctl on our VM fd.
    let r = unsafe { vmm_sys_util::ioctl::ioctl(vm.fd(), 0xae60) };
    assert_eq!(r, 0, "KVM_CREATE_IRQCHIP");
    // x86 irqchips: 0 = PIC master, 1 = PIC slave, 2 = IOAPIC.
    vm.set_gsi_routing(&[
        KvmIrqRoutingEntry::irqchip(4, 0, 4),
        KvmIrqRoutingEntry::irqchip(4, 2, 4),
        KvmIrqRoutingEntry::irqchip(9, 2, 9),
    ])
    .expect("KVM_SET_GSI_ROUTING");
    let e = vm
        .set_gsi_routing(&[KvmIrqRoutingEntry::irqchip(4, 7, 4)])
        .unwrap_err();
    assert_eq!(
        e.errno(),
        Some(libc::EINVAL),
        "irqchip 7 does not exist: {e}"
    );
    // An irqfd on a routed GSI.
    let efd = EventFd::new(libc::EFD_NONBLOCK).unwrap();
    vm.register_irqfd(&efd, 9).expect("KVM_IRQFD");
}
