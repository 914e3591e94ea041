//! arm64 vCPU registers on real KVM, through vmm-core's register model and the table built from
//! `KVM_GET_REG_LIST` (aarch64 hosts; the emulated arm64 lane runs these):
//!
//! - get all, set all into a fresh vCPU of another VM, get all again: the lists are equal (the
//!   virtual and physical counters, which run, only move forward by less than a minute);
//! - a running guest is stopped at a checkpoint, its pending MMIO exit completed, its registers
//!   moved one ONE_REG at a time into a new vCPU, and it continues there: the guest itself checks
//!   every register kind it set (GPRs, flags, SP, SIMD, FP control, EL1 system registers, the
//!   vector table through an SVC) and reports the verdict. Two negative controls move the same
//!   state with one register changed and expect the guest to name that register.
//!
//! - a vCPU with KVM's vPMU (where the host offers `KVM_CAP_ARM_PMU_V3`) gets its overflow PPI
//!   and is initialised after the GIC, and its PMCR_EL0 reports counters; a guest
//!   (`tests/guests/pmu.S`) enables the cycle counter and sees it advance over a loop.
//!
//! /dev/kvm missing is a failure, not a skip.
#![cfg(target_arch = "aarch64")]

use arch_arm64::irqchip::{ppi_intid, GicLayout, IrqChipKind};
use arch_arm64::kvm::{create_vcpu, create_vm_for, init_pmu, preferred_target, reg_list, Gic};
use arch_arm64::layout::PMU_PPI;
use arch_arm64::layout::RAM_BASE;
use arch_arm64::regs::{get_u64, set_u64, table, table_from_reg_list, OneRegVcpu};
use std::sync::mpsc;
use std::time::Duration;
use vm_memory::GuestAddress;
use vmm_core::hypervisor::ioctls::{KvmVcpu, KvmVm};
use vmm_core::hypervisor::{VcpuExit, VcpuOps};
use vmm_core::memory::GuestRam;
use vmm_core::regs::id::arm64_sysreg;
use vmm_core::regs::{restore, save, RegAttrs, RegId, RegTable, VcpuState};

/// The guest of the move test, `tests/guests/regmove.S`, assembled by build.rs.
const GUEST: &[u8] = include_bytes!(env!("TETRA_ARM64_REGMOVE_GUEST"));
/// Its MMIO window: +0 the checkpoint, +4 the verdict.
const MMIO: u64 = 0x1000_0000;
const VERDICT_OK: u32 = 0x600d;
const RAM: usize = 2 << 20;

/// Ends the process if a test hangs in KVM_RUN (a guest that never exits).
struct Watchdog(Option<mpsc::Sender<()>>);

impl Watchdog {
    fn new(what: &'static str) -> Self {
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(300))
            {
                eprintln!("{what}: no progress in 300 s, giving up");
                std::process::exit(101);
            }
        });
        Watchdog(Some(tx))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.0.take());
    }
}

fn new_vm() -> KvmVm {
    create_vm_for(RAM as u64).unwrap_or_else(|e| {
        panic!("this test needs the host's /dev/kvm (an arm64 host with KVM): {e}")
    })
}

fn vcpu(vm: &KvmVm, id: u32) -> KvmVcpu {
    let target = preferred_target(vm).expect("KVM_ARM_PREFERRED_TARGET");
    create_vcpu(vm, id, &target, false, false).expect("creating and initialising a vCPU")
}

#[test]
fn a_vcpu_gets_a_vpmu_after_the_gic() {
    let vm = new_vm();
    if !vm.fd().check_extension(kvm_ioctls::Cap::ArmPmuV3) {
        eprintln!("skipped: this host's KVM offers no vPMU (KVM_CAP_ARM_PMU_V3)");
        return;
    }
    let gic = Gic::create(&vm, &GicLayout::new(2, IrqChipKind::GicV3)).expect("the vGIC");
    let target = preferred_target(&vm).expect("KVM_ARM_PREFERRED_TARGET");
    let vcpus: Vec<KvmVcpu> = (0..2)
        .map(|id| create_vcpu(&vm, id, &target, id != 0, true).expect("a vCPU with a vPMU"))
        .collect();
    gic.init().expect("the vGIC's initialisation");
    for v in &vcpus {
        init_pmu(v, ppi_intid(PMU_PPI)).expect("the vPMU's PPI and initialisation");
    }
    // PMCR_EL0.N (bits 15:11): the event counters the guest sees.
    let pmcr = get_u64(&vcpus[0], arm64_sysreg(3, 3, 9, 12, 0)).expect("PMCR_EL0");
    let n = (pmcr >> 11) & 0x1f;
    eprintln!("PMCR_EL0 = {pmcr:#x}: {n} event counters");
    assert!(n > 0, "a vPMU without event counters: PMCR_EL0 = {pmcr:#x}");
}

/// The guest of the cycle-counter test, `tests/guests/pmu.S`.
const PMU_GUEST: &[u8] = include_bytes!(env!("TETRA_ARM64_PMU_GUEST"));

#[test]
fn a_guest_sees_its_cycle_counter_advance() {
    let _w = Watchdog::new("cycle counter");
    let vm = new_vm();
    if !vm.fd().check_extension(kvm_ioctls::Cap::ArmPmuV3) {
        eprintln!("skipped: this host's KVM offers no vPMU (KVM_CAP_ARM_PMU_V3)");
        return;
    }
    let ram = GuestRam::new(&[(GuestAddress(RAM_BASE), RAM)]).expect("guest RAM");
    ram.register(&vm).expect("registering guest RAM");
    ram.write("the pmu guest", RAM_BASE, PMU_GUEST).unwrap();
    let gic = Gic::create(&vm, &GicLayout::new(1, IrqChipKind::GicV3)).expect("the vGIC");
    let target = preferred_target(&vm).expect("KVM_ARM_PREFERRED_TARGET");
    let mut v = create_vcpu(&vm, 0, &target, false, true).expect("a vCPU with a vPMU");
    gic.init().expect("the vGIC's initialisation");
    init_pmu(&v, ppi_intid(PMU_PPI)).expect("the vPMU");
    set_u64(&v, id("pc"), RAM_BASE).unwrap();
    let (addr, cycles) = run_to_mmio_write(&mut v);
    assert_eq!(addr, MMIO);
    eprintln!("the guest's cycle counter advanced by {cycles} over 100,000 loop iterations");
    assert!(cycles > 0, "the cycle counter did not advance");
}

fn table_of(vcpu: &KvmVcpu) -> RegTable {
    let ids = reg_list(vcpu).expect("KVM_GET_REG_LIST");
    let (t, unknown) = table_from_reg_list(&ids).expect("a table from KVM's list");
    assert!(
        unknown.is_empty(),
        "KVM lists registers of groups tetra does not know: {unknown:?}"
    );
    assert_eq!(t.len(), ids.len(), "every listed id is in the table once");
    t
}

fn get_all(t: &RegTable, vcpu: &KvmVcpu) -> VcpuState {
    let out = save(t, &OneRegVcpu(vcpu)).expect("reading every register");
    assert!(
        out.absent.is_empty(),
        "registers KVM listed but did not read: {:?}",
        out.absent
    );
    out.state
}

/// Differences between two saves of the same table, in words. Counters (VOLATILE) may only
/// move forward, by less than a minute at up to 1 GHz.
fn differences(t: &RegTable, before: &VcpuState, after: &VcpuState) -> Vec<String> {
    let mut diffs = Vec::new();
    for e in before {
        let d = t.get(e.id).expect("saved ids come from the table");
        let Some(b) = after.get(e.id) else {
            diffs.push(format!("{}: missing after", d.name));
            continue;
        };
        if d.attrs.contains(RegAttrs::VOLATILE) {
            let v = |x: &[u8]| u64::from_le_bytes(x.try_into().expect("a 64-bit counter"));
            let (x, y) = (v(&e.bytes), v(b));
            if y < x || y - x > 60_000_000_000 {
                diffs.push(format!("{}: counter went from {x:#x} to {y:#x}", d.name));
            }
        } else if e.bytes != b {
            diffs.push(format!("{}: {:02x?} became {:02x?}", d.name, e.bytes, b));
        }
    }
    if after.len() != before.len() {
        diffs.push(format!(
            "{} values before, {} after",
            before.len(),
            after.len()
        ));
    }
    diffs
}

fn id(name: &str) -> RegId {
    table()
        .by_name(name)
        .unwrap_or_else(|| panic!("no register {name}"))
        .id
}

#[test]
fn get_all_set_all_into_a_fresh_vcpu_get_all_again() {
    let _w = Watchdog::new("round trip");
    let vm_a = new_vm();
    let a = vcpu(&vm_a, 0);
    let t = table_of(&a);
    for name in [
        "x0",
        "x30",
        "sp",
        "pc",
        "pstate",
        "sp_el1",
        "elr_el1",
        "spsr_el1",
        "v0",
        "v31",
        "fpsr",
        "fpcr",
        "mpidr_el1",
        "sctlr_el1",
        "tpidr_el1",
        "cntv_ctl_el0",
        "cntv_cval_el0",
        "cntvct_el0",
        "psci_version",
    ] {
        assert!(t.by_name(name).is_some(), "KVM's list lacks {name}");
    }
    // Give vCPU A values a fresh vCPU does not have.
    set_u64(&a, id("pc"), 0x4000_1234).unwrap();
    set_u64(&a, id("x5"), 0x0123_4567_89ab_cdef).unwrap();
    set_u64(&a, id("sp_el1"), 0x4010_0000).unwrap();
    set_u64(&a, id("elr_el1"), 0x4000_4444).unwrap();
    set_u64(&a, id("tpidr_el1"), 0xfeed_face_cafe_beef).unwrap();
    set_u64(&a, id("tpidr_el0"), 0x1111_2222_3333_4444).unwrap();
    let v7 = 0x0011_2233_4455_6677_8899_aabb_ccdd_eeffu128.to_le_bytes();
    vmm_core::regs::VcpuRegs::set_one_reg(&OneRegVcpu(&a), id("v7"), &v7).unwrap();
    let saved = get_all(&t, &a);
    assert_eq!(saved.len(), t.len());

    let vm_b = new_vm();
    let b = vcpu(&vm_b, 0);
    assert_eq!(
        reg_list(&b).unwrap(),
        reg_list(&a).unwrap(),
        "two vCPUs of this host list the same registers"
    );
    let fresh = get_all(&t, &b);
    let changed = differences(&t, &saved, &fresh);
    for name in [
        "pc",
        "x5",
        "sp_el1",
        "elr_el1",
        "tpidr_el1",
        "tpidr_el0",
        "v7",
    ] {
        assert!(
            changed.iter().any(|d| d.starts_with(&format!("{name}:"))),
            "{name} should differ before the restore: {changed:?}"
        );
    }

    restore(&t, &OneRegVcpu(&b), &saved).expect("setting every register");
    let again = get_all(&t, &b);
    let diffs = differences(&t, &saved, &again);
    assert!(
        diffs.is_empty(),
        "after set all, get all differs:\n{}",
        diffs.join("\n")
    );
    assert_eq!(get_u64(&b, id("pc")).unwrap(), 0x4000_1234);
    eprintln!(
        "{} registers round-tripped through a fresh vCPU",
        saved.len()
    );
}

fn guest_vm() -> (KvmVm, GuestRam) {
    let vm = new_vm();
    let ram = GuestRam::new(&[(GuestAddress(RAM_BASE), RAM)]).expect("guest RAM");
    ram.register(&vm).expect("registering guest RAM");
    ram.write("the regmove guest", RAM_BASE, GUEST).unwrap();
    (vm, ram)
}

/// Runs until the guest writes to MMIO; returns (address, 32-bit value).
fn run_to_mmio_write(vcpu: &mut KvmVcpu) -> (u64, u32) {
    for _ in 0..1000 {
        let r = match vcpu.run() {
            Ok(VcpuExit::MmioWrite { addr, data }) => {
                let mut v = [0u8; 4];
                let n = data.len().min(4);
                v[..n].copy_from_slice(&data[..n]);
                Ok(Some((addr, u32::from_le_bytes(v))))
            }
            Ok(other) => Err(format!("unexpected exit {other:?}")),
            Err(e) if matches!(e.errno(), Some(libc::EINTR) | Some(libc::EAGAIN)) => Ok(None),
            Err(e) => Err(format!("KVM_RUN: {e}")),
        };
        match r {
            Ok(Some(w)) => return w,
            Ok(None) => continue,
            Err(why) => panic!("{why}; {}", arch_arm64::regs::summary(vcpu)),
        }
    }
    panic!("no MMIO write in 1000 exits");
}

/// Completes the MMIO exit the vCPU is in (KVM advances the PC on the next KVM_RUN) without
/// running guest code: KVM_RUN with `immediate_exit` set returns EINTR once it has.
fn complete_pending_exit(vcpu: &mut KvmVcpu) {
    vcpu.fd_mut().set_kvm_immediate_exit(1);
    let interrupted = matches!(vcpu.run(), Err(ref e) if e.errno() == Some(libc::EINTR));
    vcpu.fd_mut().set_kvm_immediate_exit(0);
    assert!(interrupted, "KVM_RUN with immediate_exit must return EINTR");
}

/// The control: on one vCPU, without a move, the guest's checks pass.
#[test]
fn guest_passes_its_checks_without_a_move() {
    let _w = Watchdog::new("no move");
    let (vm, _ram) = guest_vm();
    let mut v = vcpu(&vm, 0);
    set_u64(&v, id("pc"), RAM_BASE).unwrap();
    assert_eq!(run_to_mmio_write(&mut v), (MMIO, 1), "the checkpoint");
    let verdict = run_to_mmio_write(&mut v);
    assert_eq!(
        verdict,
        (MMIO + 4, VERDICT_OK),
        "found {:#x}, expected {:#x}",
        get_u64(&v, id("x0")).unwrap_or(0),
        get_u64(&v, id("x4")).unwrap_or(0)
    );
}

#[test]
fn running_guest_moves_register_by_register_to_a_new_vcpu() {
    let _w = Watchdog::new("move");
    let (vm, _ram) = guest_vm();
    let mut first = vcpu(&vm, 0);
    set_u64(&first, id("pc"), RAM_BASE).unwrap();
    assert_eq!(run_to_mmio_write(&mut first), (MMIO, 1), "the checkpoint");
    let pc_at_exit = get_u64(&first, id("pc")).unwrap();
    complete_pending_exit(&mut first);
    assert_eq!(
        get_u64(&first, id("pc")).unwrap(),
        pc_at_exit + 4,
        "completing the MMIO exit steps over the store"
    );

    let t = table_of(&first);
    let saved = get_all(&t, &first);

    // The move: one KVM_SET_ONE_REG per register, in KVM's order.
    let mut second = vcpu(&vm, 1);
    restore(&t, &OneRegVcpu(&second), &saved).expect("setting every register");
    let again = get_all(&t, &second);
    let diffs = differences(&t, &saved, &again);
    assert!(
        diffs.is_empty(),
        "the new vCPU reads back differently:\n{}",
        diffs.join("\n")
    );
    let verdict = run_to_mmio_write(&mut second);
    let found = |v: &KvmVcpu| {
        format!(
            "found {:#x}, expected {:#x}",
            get_u64(v, id("x0")).unwrap_or(0),
            get_u64(v, id("x4")).unwrap_or(0)
        )
    };
    assert_eq!(
        verdict,
        (MMIO + 4, VERDICT_OK),
        "the moved guest found a difference (0xbad0XXXX: see regmove.S): {}",
        found(&second)
    );

    // Negative controls: the same state with one register changed; the guest must notice it.
    let wrong = |vcpu_id: u32, name: &str, value: u64, expect: u32| {
        let mut state = VcpuState::new();
        for e in &saved {
            let mut bytes = e.bytes.clone();
            if e.id == id(name) {
                bytes = value.to_le_bytes().to_vec();
            }
            state.push(e.id, bytes);
        }
        let mut v = vcpu(&vm, vcpu_id);
        restore(&t, &OneRegVcpu(&v), &state).unwrap();
        let got = run_to_mmio_write(&mut v);
        assert_eq!(
            got,
            (MMIO + 4, expect),
            "with {name} changed: {}",
            found(&v)
        );
    };
    wrong(2, "x21", 0x21, 0xbad0_0015);
    // tpidr_el1 is the sixth register of regmove.S's SYSREGS list.
    wrong(3, "tpidr_el1", 0, 0xbad0_0205);
}
