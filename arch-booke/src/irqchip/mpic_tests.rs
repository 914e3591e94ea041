//! MPIC scenarios, driven through the register file the way a guest drives it.

use super::mpic::*;
use super::mpic_regs::*;
use super::mpic_state::*;

fn mpic(cpus: usize) -> Mpic {
    Mpic::new(MpicModel::Fsl42, cpus).unwrap()
}

fn w(m: &mut Mpic, off: u64, val: u32) {
    m.write(off, val, None).unwrap();
}

fn r(m: &mut Mpic, off: u64) -> u32 {
    m.read(off, None).unwrap()
}

/// Unmasks source `n` with `prio`/`vector`, level-sensitive if `level`, routed to `cpus`.
fn route(m: &mut Mpic, n: usize, prio: u32, vector: u32, level: bool, cpus: u32) {
    w(m, src_reg(n, SRC_IDR), cpus);
    w(
        m,
        src_reg(n, SRC_IVPR),
        (prio << 16) | vector | if level { IVPR_SENSE } else { 0 },
    );
}

fn ctpr(m: &mut Mpic, cpu: usize, p: u32) {
    w(m, cpu_reg(cpu, CPU_CTPR), p);
}

fn iack(m: &mut Mpic, cpu: usize) -> u32 {
    r(m, cpu_reg(cpu, CPU_IACK))
}

fn eoi(m: &mut Mpic, cpu: usize) {
    w(m, cpu_reg(cpu, CPU_EOI), 0);
}

fn int(m: &Mpic, cpu: usize) -> bool {
    m.output(cpu, Output::Int)
}

const SPURIOUS: u32 = 0xffff;

#[test]
fn reset_state_and_identification() {
    let mut m = mpic(2);
    assert_eq!(r(&mut m, BRR1), 0x0040_0402);
    assert_eq!(r(&mut m, FRR), (195 << 16) | (1 << 8) | 2);
    assert_eq!(r(&mut m, src_reg(3, SRC_IVPR)), IVPR_MASK);
    assert_eq!(r(&mut m, src_reg(40, SRC_IVPR)), IVPR_MASK | IVPR_POLARITY);
    assert_eq!(r(&mut m, src_reg(3, SRC_IDR)), 1);
    assert_eq!(r(&mut m, cpu_reg(1, CPU_CTPR)), 15);
    assert_eq!(r(&mut m, cpu_reg(1, CPU_WHOAMI)), 1);
    assert_eq!(m.read(CPU_WHOAMI, Some(1)).unwrap(), 1, "per-CPU alias");
    assert_eq!(m.read(CPU_WHOAMI, None).unwrap(), 0xffff_ffff);
    assert_eq!(r(&mut m, SPVE), 0xffff);
    assert_eq!(r(&mut m, timer_reg(2, TMR_TBCR)), TBCR_CI);
    assert_eq!(r(&mut m, 0x1010), 0xffff_ffff, "undefined global register");
    assert_eq!(m.read(0x1002, None), Err(MpicError::Unaligned(0x1002)));
    assert_eq!(m.read(0x5000, None), Err(MpicError::NoRegister(0x5000)));
    assert_eq!(
        m.read(MPIC_WINDOW, None),
        Err(MpicError::NoRegister(MPIC_WINDOW))
    );
    assert_eq!(r(&mut m, cpu_reg(5, CPU_WHOAMI)), 0xffff_ffff, "no CPU 5");
    assert!(Mpic::new(MpicModel::Fsl42, 0).is_err());
    assert!(Mpic::new(MpicModel::Fsl42, 33).is_err());
    assert!(matches!(
        Mpic::new(MpicModel::Fsl20, 16),
        Err(MpicError::TooManyCpus { max: 15, .. })
    ));
    // GCR reset brings everything back.
    route(&mut m, 3, 5, 0x33, true, 1);
    w(&mut m, GCR, GCR_RESET);
    assert_eq!(r(&mut m, src_reg(3, SRC_IVPR)), IVPR_MASK);
    assert_eq!(r(&mut m, GCR), 0);
}

#[test]
fn priority_orders_delivery() {
    let mut m = mpic(1);
    ctpr(&mut m, 0, 0);
    route(&mut m, 1, 5, 0x51, true, 1);
    route(&mut m, 2, 9, 0x92, true, 1);
    route(&mut m, 3, 7, 0x73, true, 1);
    for n in [1, 2, 3] {
        m.set_irq(n, true).unwrap();
    }
    assert!(int(&m, 0));
    assert_eq!(iack(&mut m, 0), 0x92);
    // The output drops at IACK; nothing lower than 9 may interrupt while 9 is in service.
    assert!(!int(&m, 0));
    m.set_irq(2, false).unwrap();
    eoi(&mut m, 0);
    assert!(int(&m, 0), "after EOI the next (7) is presented");
    assert_eq!(iack(&mut m, 0), 0x73);
    m.set_irq(3, false).unwrap();
    eoi(&mut m, 0);
    assert_eq!(iack(&mut m, 0), 0x51);
    m.set_irq(1, false).unwrap();
    eoi(&mut m, 0);
    assert!(!int(&m, 0));
    assert_eq!(iack(&mut m, 0), SPURIOUS);
}

#[test]
fn masking_and_task_priority() {
    let mut m = mpic(1);
    // Source masked at reset: no delivery, but the line is remembered.
    m.set_irq(4, true).unwrap();
    assert!(!int(&m, 0));
    w(
        &mut m,
        src_reg(4, SRC_IVPR),
        IVPR_MASK | (6 << 16) | IVPR_SENSE | 0x44,
    );
    assert!(!int(&m, 0));
    // CTPR 15 blocks everything.
    route(&mut m, 4, 6, 0x44, true, 1);
    assert!(!int(&m, 0));
    ctpr(&mut m, 0, 6);
    assert!(!int(&m, 0), "priority must exceed CTPR");
    ctpr(&mut m, 0, 5);
    assert!(int(&m, 0));
    assert_eq!(
        r(&mut m, src_reg(4, SRC_IVPR)) & IVPR_ACTIVITY,
        IVPR_ACTIVITY
    );
    // Masking withdraws it.
    w(
        &mut m,
        src_reg(4, SRC_IVPR),
        IVPR_MASK | (6 << 16) | IVPR_SENSE | 0x44,
    );
    assert!(!int(&m, 0));
    assert_eq!(r(&mut m, src_reg(4, SRC_IVPR)) & IVPR_ACTIVITY, 0);
    w(&mut m, src_reg(4, SRC_IVPR), (6 << 16) | IVPR_SENSE | 0x44);
    assert!(int(&m, 0));
    // Raising CTPR above it lowers the output again.
    ctpr(&mut m, 0, 8);
    assert!(!int(&m, 0));
}

#[test]
fn edge_and_level_sources() {
    let mut m = mpic(1);
    ctpr(&mut m, 0, 0);
    route(&mut m, 0, 3, 0x10, false, 1); // edge
    route(&mut m, 5, 3, 0x15, true, 1); // level
    m.set_irq(0, true).unwrap();
    m.set_irq(0, false).unwrap();
    assert!(
        m.irq_pending(0).unwrap(),
        "an edge stays latched after the pulse"
    );
    assert_eq!(iack(&mut m, 0), 0x10);
    assert!(!m.irq_pending(0).unwrap(), "IACK consumes an edge");
    eoi(&mut m, 0);
    assert!(!int(&m, 0));
    m.set_irq(5, true).unwrap();
    assert_eq!(iack(&mut m, 0), 0x15);
    eoi(&mut m, 0);
    assert!(
        int(&m, 0),
        "a level source still asserted interrupts again after EOI"
    );
    m.set_irq(5, false).unwrap();
    assert!(!int(&m, 0));
}

#[test]
fn eoi_nesting() {
    let mut m = mpic(1);
    ctpr(&mut m, 0, 0);
    route(&mut m, 1, 4, 0x41, false, 1);
    route(&mut m, 2, 8, 0x82, false, 1);
    route(&mut m, 3, 2, 0x23, false, 1);
    m.set_irq(1, true).unwrap();
    assert_eq!(iack(&mut m, 0), 0x41);
    // A higher priority preempts the one in service.
    m.set_irq(2, true).unwrap();
    assert!(int(&m, 0));
    assert_eq!(iack(&mut m, 0), 0x82);
    assert_eq!(m.in_service(0), vec![1, 2]);
    // A lower priority is hidden while 4 and 8 are in service.
    m.set_irq(3, true).unwrap();
    assert!(!int(&m, 0));
    eoi(&mut m, 0); // ends 8, the highest in service
    assert_eq!(m.in_service(0), vec![1]);
    assert!(!int(&m, 0), "2 is still below the 4 in service");
    eoi(&mut m, 0); // ends 4
    assert!(int(&m, 0));
    assert_eq!(iack(&mut m, 0), 0x23);
    eoi(&mut m, 0);
    assert!(m.in_service(0).is_empty());
    eoi(&mut m, 0); // EOI with nothing in service is harmless
}

#[test]
fn ipi_delivery() {
    let mut m = mpic(3);
    for c in 0..3 {
        ctpr(&mut m, c, 0);
    }
    for i in 0..4u64 {
        w(&mut m, IPI_IVPR0 + 0x10 * i, (10 << 16) | (0xe0 + i as u32));
    }
    // CPU 0 sends IPI 1 to CPU 2 through its own IPIDR1.
    m.write(cpu_reg(0, CPU_IPIDR0 + 0x10), 1 << 2, Some(0))
        .unwrap();
    assert!(!int(&m, 0) && !int(&m, 1) && int(&m, 2));
    assert_eq!(iack(&mut m, 2), 0xe1);
    eoi(&mut m, 2);
    assert!(!int(&m, 2));
    // Multicast IPI 3 to CPUs 0 and 1 through the per-CPU alias: each acknowledges once.
    m.write(CPU_IPIDR0 + 0x30, 0b011, Some(2)).unwrap();
    assert!(int(&m, 0) && int(&m, 1) && !int(&m, 2));
    assert_eq!(iack(&mut m, 1), 0xe3);
    assert!(int(&m, 0), "CPU 0 still has it");
    assert_eq!(iack(&mut m, 0), 0xe3);
    eoi(&mut m, 0);
    eoi(&mut m, 1);
    assert_eq!(iack(&mut m, 0), SPURIOUS);
    assert_eq!(iack(&mut m, 1), SPURIOUS);
    // Only the targets: CPU 0 never sees an IPI sent to CPU 1.
    m.send_ipi(0, 0b010);
    assert!(!int(&m, 0) && int(&m, 1));
}

/// The FSL MPICs have no distributed mode (IVPR's mode bit is not writable): a source routed
/// to several CPUs is presented to all of them; the first to acknowledge an edge gets the
/// vector, the others the spurious vector.
#[test]
fn multicast_source() {
    let mut m = mpic(2);
    ctpr(&mut m, 0, 0);
    ctpr(&mut m, 1, 0);
    w(&mut m, src_reg(7, SRC_IDR), 0b11);
    w(&mut m, src_reg(7, SRC_IVPR), IVPR_MODE | (3 << 16) | 0x77);
    assert_eq!(r(&mut m, src_reg(7, SRC_IVPR)) & IVPR_MODE, 0);
    m.set_irq(7, true).unwrap();
    assert!(int(&m, 0) && int(&m, 1));
    assert_eq!(iack(&mut m, 1), 0x77);
    assert_eq!(iack(&mut m, 0), SPURIOUS);
    eoi(&mut m, 1);
    assert!(!int(&m, 0) && !int(&m, 1));
}

#[test]
fn global_timer() {
    let mut m = mpic(1);
    ctpr(&mut m, 0, 0);
    w(&mut m, TFRR, 1_000_000);
    assert_eq!(m.ticks_for(2_500_000), 2500);
    w(&mut m, timer_reg(1, TMR_TDR), 1);
    w(&mut m, timer_reg(1, TMR_TVPR), (12 << 16) | 0xc1);
    w(&mut m, timer_reg(1, TMR_TBCR), 1000);
    assert_eq!(r(&mut m, timer_reg(1, TMR_TCCR)), 1000);
    m.advance_timers(999);
    assert_eq!(r(&mut m, timer_reg(1, TMR_TCCR)), 1);
    assert!(!int(&m, 0));
    m.advance_timers(1);
    assert!(int(&m, 0));
    assert_eq!(r(&mut m, timer_reg(1, TMR_TCCR)), TCCR_TOG | 1000);
    assert_eq!(iack(&mut m, 0), 0xc1);
    eoi(&mut m, 0);
    assert!(!int(&m, 0));
    // 2500 ticks: two more expirations (TOG toggles twice, stays set), 500 left.
    m.advance_timers(2500);
    assert_eq!(r(&mut m, timer_reg(1, TMR_TCCR)), TCCR_TOG | 500);
    assert!(int(&m, 0));
    assert_eq!(iack(&mut m, 0), 0xc1);
    eoi(&mut m, 0);
    // Count inhibit stops it; TCCR is read-only.
    w(&mut m, timer_reg(1, TMR_TBCR), TBCR_CI | 1000);
    w(&mut m, timer_reg(1, TMR_TCCR), 7);
    m.advance_timers(5000);
    assert_eq!(r(&mut m, timer_reg(1, TMR_TCCR)), TCCR_TOG | 500);
    assert!(!int(&m, 0));
}

#[test]
fn msi() {
    let mut m = mpic(1);
    ctpr(&mut m, 0, 0);
    route(&mut m, IRQ_MSI0 + 2, 7, 0xaa, false, 1);
    w(&mut m, MSI_BASE + MSIIR, (2 << 29) | (5 << 24));
    w(&mut m, MSI_BASE + MSIIR, (2 << 29) | (9 << 24));
    assert!(int(&m, 0));
    assert_eq!(r(&mut m, MSI_BASE + MSISR), 1 << 2);
    assert_eq!(iack(&mut m, 0), 0xaa);
    assert_eq!(r(&mut m, MSI_BASE + 0x20), (1 << 5) | (1 << 9));
    assert_eq!(r(&mut m, MSI_BASE + 0x20), 0, "MSIR clears on read");
    eoi(&mut m, 0);
    assert!(!int(&m, 0));
    assert_eq!(r(&mut m, MSI_BASE + MSISR), 0);
}

#[test]
fn critical_outputs() {
    // MPIC 4.2: ILR selects the critical output, which ignores priority and IACK.
    let mut m = mpic(1);
    route(&mut m, 6, 0, 0x66, true, 1);
    w(&mut m, src_reg(6, SRC_ILR), 1);
    assert_eq!(r(&mut m, src_reg(6, SRC_ILR)), 1);
    m.set_irq(6, true).unwrap();
    assert!(m.output(0, Output::Cint) && !int(&m, 0));
    m.set_irq(6, false).unwrap();
    assert!(!m.output(0, Output::Cint));
    // MPIC 2.0: a critical destination bit in IDR (bit 30 - cpu), even while masked.
    let mut m = Mpic::new(MpicModel::Fsl20, 2).unwrap();
    w(&mut m, src_reg(6, SRC_IDR), 1 << (30 - 1));
    w(&mut m, src_reg(6, SRC_IVPR), IVPR_MASK | IVPR_SENSE);
    m.set_irq(6, true).unwrap();
    assert!(m.output(1, Output::Cint) && !m.output(0, Output::Cint));
    assert_eq!(
        r(&mut m, src_reg(6, SRC_ILR)),
        0xffff_ffff,
        "no ILR on MPIC 2.0"
    );
}

#[test]
fn mmio_is_big_endian() {
    let mut m = mpic(2);
    let mut b = [0u8; 4];
    m.mmio_read(CPU_WHOAMI, 1, &mut b);
    assert_eq!(b, [0, 0, 0, 1]);
    m.mmio_write(cpu_reg(0, CPU_CTPR), 0, &[0, 0, 0, 3]);
    assert_eq!(r(&mut m, cpu_reg(0, CPU_CTPR)), 3);
    let mut b1 = [0u8; 1];
    m.mmio_read(BRR1, 0, &mut b1);
    assert_eq!(b1, [0xff]);
    m.mmio_read(0x3_ffff_fffc, 0, &mut b);
    assert_eq!(b, [0xff; 4]);
}

fn busy_mpic() -> Mpic {
    let mut m = mpic(2);
    ctpr(&mut m, 0, 1);
    ctpr(&mut m, 1, 0);
    route(&mut m, 1, 4, 0x41, true, 1);
    route(&mut m, 2, 9, 0x92, false, 0b10);
    route(&mut m, 8, 3, 0x83, true, 1);
    w(&mut m, src_reg(9, SRC_ILR), 1);
    w(&mut m, TFRR, 12345);
    w(&mut m, timer_reg(0, TMR_TBCR), 77);
    m.advance_timers(10);
    w(&mut m, MSI_BASE + MSIIR, (3 << 29) | (1 << 24));
    m.set_irq(1, true).unwrap();
    assert_eq!(iack(&mut m, 0), 0x41); // 1 in service on CPU 0
    m.set_irq(8, true).unwrap(); // hidden behind it
    m.set_irq(2, true).unwrap(); // raised on CPU 1
    m
}

#[test]
fn save_restore_round_trip() {
    let mut a = busy_mpic();
    let state = a.save();
    assert!(state
        .registers
        .iter()
        .any(|(o, v)| u64::from(*o) == TFRR && *v == 12345));
    assert_eq!(state.irq_active, vec![1, 2, 8, IRQ_MSI0 as u32 + 3]);
    let mut b = mpic(2);
    b.restore(&state).unwrap();
    assert_eq!(b.save(), state);
    // Same behaviour afterwards.
    for m in [&mut a, &mut b] {
        assert!(!int(m, 0) && int(m, 1));
        assert_eq!(iack(m, 1), 0x92);
        eoi(m, 0); // ends 1 on CPU 0; it is still asserted and above 8
        assert!(int(m, 0));
        assert_eq!(iack(m, 0), 0x41);
        m.set_irq(1, false).unwrap();
        eoi(m, 0);
        assert_eq!(iack(m, 0), 0x83);
        assert_eq!(r(m, timer_reg(0, TMR_TCCR)), 67);
        assert_eq!(r(m, MSI_BASE + 0x30), 2);
    }
    // Through the kernel's view only (no extras): in service is lost, the rest survives.
    let kernel_view = MpicState {
        extra: None,
        ..a.save()
    };
    let mut c = mpic(2);
    c.restore(&kernel_view).unwrap();
    assert!(c.in_service(0).is_empty());
    assert_eq!(r(&mut c, src_reg(8, SRC_IVPR)) & 0xffff, 0x83);
    assert!(int(&c, 0), "with nothing in service, 1 is presented again");
}

#[test]
fn restore_rejects_bad_state() {
    let mut m = mpic(2);
    let good = busy_mpic().save();
    let mut other = Mpic::new(MpicModel::Fsl42, 3).unwrap();
    assert!(matches!(
        other.restore(&good),
        Err(MpicStateError::Mismatch { .. })
    ));
    let mut s = good.clone();
    s.registers.push((cpu_reg(0, CPU_IACK) as u32, 0));
    assert_eq!(
        m.restore(&s),
        Err(MpicStateError::NotRestorable(cpu_reg(0, CPU_IACK)))
    );
    let mut s = good.clone();
    s.irq_active.push(MAX_IRQ as u32);
    assert_eq!(m.restore(&s), Err(MpicStateError::BadIrq(MAX_IRQ as u32)));
    let mut s = good.clone();
    s.extra.as_mut().unwrap().in_service.push((5, vec![1]));
    assert_eq!(m.restore(&s), Err(MpicStateError::BadCpu(5)));
    let mut s = good;
    s.extra.as_mut().unwrap().in_service.push((0, vec![9999]));
    assert_eq!(m.restore(&s), Err(MpicStateError::BadIrq(9999)));
}

#[test]
fn state_through_device_attributes() {
    use crate::abi::{
        KVM_DEV_MPIC_GRP_IRQ_ACTIVE, KVM_DEV_MPIC_GRP_MISC, KVM_DEV_MPIC_GRP_REGISTER,
    };
    // Out of one MPIC through its attribute view (what the glue does with KVM_GET_DEVICE_ATTR),
    // into another through attributes (KVM_SET_DEVICE_ATTR): the kernel-visible state moves.
    let mut a = busy_mpic();
    let mut gets = 0;
    let s = MpicState::read_attrs(MpicModel::Fsl42, 2, |g, n| {
        gets += 1;
        a.get_attr(g, n)
    })
    .unwrap();
    assert_eq!(
        gets,
        saved_registers(MpicModel::Fsl42, 2).len() + KERNEL_LINES
    );
    assert_eq!(s.extra, None);
    // MSI 3 is an internal source below 256: a line the kernel reports; 1, 2 and 8 are pending.
    assert_eq!(s.irq_active, vec![1, 2, 8, IRQ_MSI0 as u32 + 3]);
    let mut b = mpic(2);
    // Something to be reset away by the restore.
    route(&mut b, 5, 7, 0x55, true, 1);
    b.set_irq(5, true).unwrap();
    let mut sets = Vec::new();
    s.write_attrs(|g, n, v| {
        sets.push((g, n));
        b.set_attr(g, n, v)
    })
    .unwrap();
    assert_eq!(sets[0], (KVM_DEV_MPIC_GRP_REGISTER, GCR), "reset first");
    assert_eq!(
        *sets.last().unwrap(),
        (KVM_DEV_MPIC_GRP_IRQ_ACTIVE, KERNEL_LINES as u64 - 1)
    );
    assert!(!b.irq_pending(5).unwrap());
    assert_eq!(r(&mut b, src_reg(8, SRC_IVPR)) & 0xffff, 0x83);
    assert_eq!(r(&mut b, TFRR), 12345);
    assert_eq!(
        MpicState::read_attrs(MpicModel::Fsl42, 2, |g, n| b.get_attr(g, n)).unwrap(),
        s
    );
    // The interrupt 1 had been acknowledged on CPU 0 in `a`; in `b` nothing is in service, so 1
    // (priority 4, above CTPR 1) is presented again and 2 still waits on CPU 1.
    assert!(int(&b, 0) && int(&b, 1));
    assert_eq!(iack(&mut b, 0), 0x41);
    // The attribute view refuses what the kernel refuses.
    assert_eq!(
        b.get_attr(KVM_DEV_MPIC_GRP_IRQ_ACTIVE, KERNEL_LINES as u64),
        Err(MpicAttrError::Line(KERNEL_LINES as u64))
    );
    assert_eq!(
        b.set_attr(KVM_DEV_MPIC_GRP_IRQ_ACTIVE, 3, 2),
        Err(MpicAttrError::Level(2))
    );
    assert_eq!(
        b.get_attr(KVM_DEV_MPIC_GRP_MISC, 0),
        Err(MpicAttrError::Group(KVM_DEV_MPIC_GRP_MISC))
    );
    assert!(matches!(
        b.get_attr(KVM_DEV_MPIC_GRP_REGISTER, 0x5_0000),
        Err(MpicAttrError::Register(_))
    ));
}

#[test]
fn a_bad_state_changes_nothing() {
    let mut m = busy_mpic();
    let before = m.save();
    let mut s = before.clone();
    s.extra.as_mut().unwrap().in_service.push((7, vec![1]));
    assert_eq!(m.restore(&s), Err(MpicStateError::BadCpu(7)));
    assert_eq!(m.save(), before, "checked before the reset");
    assert_eq!(s.check(MpicModel::Fsl42, 2), Err(MpicStateError::BadCpu(7)));
    assert!(before.check(MpicModel::Fsl42, 2).is_ok());
    assert!(matches!(
        before.check(MpicModel::Fsl20, 2),
        Err(MpicStateError::Mismatch { .. })
    ));
}
