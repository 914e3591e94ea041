//! The userspace XICS model against PAPR's rules.

use super::*;

const A: u32 = 0x1000;
const B: u32 = 0x1001;
const L: u32 = 0x1002;

/// Two servers, edge sources A and B and level source L, all routed to server 0 at priority 5
/// (B at 3); server 0's CPPR open.
fn model() -> XicsModel {
    let mut m = XicsModel::new(2);
    m.add_source(A, false).unwrap();
    m.add_source(B, false).unwrap();
    m.add_source(L, true).unwrap();
    m.set_xive(A, 0, 5).unwrap();
    m.set_xive(B, 0, 3).unwrap();
    m.set_xive(L, 0, 5).unwrap();
    m.set_cppr(0, 0xff).unwrap();
    m
}

#[test]
fn a_new_icp_holds_everything_back_until_its_cppr_opens() {
    let mut m = XicsModel::new(1);
    m.add_source(A, false).unwrap();
    m.set_xive(A, 0, 5).unwrap();
    assert_eq!(*m.icp(0).unwrap(), Presenter::default());
    m.raise(A).unwrap();
    assert!(!m.output(0));
    assert!(m.source(A).unwrap().rejected);
    m.set_cppr(0, 0xff).unwrap();
    assert!(m.output(0), "offered again when the CPPR went down");
    assert_eq!(m.accept(0).unwrap(), 0xff00_0000 | A);
    assert_eq!(m.icp(0).unwrap().cppr, 5, "accepting raises the CPPR");
    assert!(!m.output(0));
    m.eoi(0, 0xff00_0000 | A).unwrap();
    assert_eq!(m.icp(0).unwrap().cppr, 0xff);
    assert!(!m.output(0) && !m.source(A).unwrap().presented);
}

#[test]
fn an_ipi_comes_back_until_its_mfrr_is_cleared() {
    let mut m = model();
    m.set_mfrr(1, 5).unwrap();
    assert!(!m.output(1), "server 1's CPPR is still 0");
    m.set_cppr(1, 0xff).unwrap();
    assert!(m.output(1) && !m.output(0));
    assert_eq!(
        m.poll(1).unwrap(),
        (0xff00_0002, 5),
        "H_IPOLL does not accept"
    );
    assert!(m.output(1));
    let x = m.accept(1).unwrap();
    assert_eq!(x, 0xff00_0002);
    m.eoi(1, x).unwrap();
    assert!(m.output(1), "MFRR still 5: presented again");
    let x = m.accept(1).unwrap();
    m.set_mfrr(1, 0xff).unwrap();
    m.eoi(1, x).unwrap();
    assert!(!m.output(1));
    assert_eq!(m.poll(1).unwrap(), (0xff00_0000, 0xff));
}

#[test]
fn a_more_favoured_source_preempts_and_the_other_comes_back() {
    let mut m = model();
    m.raise(A).unwrap();
    assert_eq!(m.icp(0).unwrap().xisr, A);
    m.raise(B).unwrap(); // priority 3 beats 5
    assert_eq!(m.icp(0).unwrap().xisr, B);
    assert!(m.source(A).unwrap().rejected);
    let x = m.accept(0).unwrap();
    assert_eq!(x & 0xff_ffff, B);
    assert!(!m.output(0), "A (5) is not more favoured than the CPPR (3)");
    m.eoi(0, x).unwrap();
    assert_eq!(m.icp(0).unwrap().xisr, A, "A offered again at EOI");
    // A less favoured source waits behind a presented one.
    let x = m.accept(0).unwrap();
    m.eoi(0, x).unwrap();
    m.raise(B).unwrap();
    m.raise(A).unwrap();
    assert_eq!(m.icp(0).unwrap().xisr, B);
    assert!(m.source(A).unwrap().rejected);
}

#[test]
fn raising_the_cppr_withdraws_and_lowering_it_offers_again() {
    let mut m = model();
    m.raise(A).unwrap();
    m.set_cppr(0, 4).unwrap();
    assert!(!m.output(0));
    assert!(m.source(A).unwrap().rejected);
    m.set_cppr(0, 0xff).unwrap();
    assert_eq!(m.icp(0).unwrap().xisr, A);
}

#[test]
fn masked_sources_keep_their_edge() {
    let mut m = model();
    m.int_off(A).unwrap();
    assert_eq!(m.get_xive(A).unwrap(), (0, 0xff));
    m.raise(A).unwrap();
    assert!(!m.output(0));
    assert!(m.source(A).unwrap().masked_pending);
    m.int_on(A).unwrap();
    assert_eq!(m.get_xive(A).unwrap(), (0, 5));
    assert_eq!(m.icp(0).unwrap().xisr, A);
    // set-xive to another server moves it (and a masked edge there too).
    let x = m.accept(0).unwrap();
    m.eoi(0, x).unwrap();
    m.set_cppr(1, 0xff).unwrap();
    m.set_xive(A, 0, 0xff).unwrap();
    m.raise(A).unwrap();
    m.set_xive(A, 1, 6).unwrap();
    assert!(m.output(1) && !m.output(0));
}

#[test]
fn a_level_source_comes_back_while_asserted() {
    let mut m = model();
    m.raise(L).unwrap();
    m.raise(L).unwrap(); // already asserted: nothing more
    let x = m.accept(0).unwrap();
    assert_eq!(x & 0xff_ffff, L);
    m.eoi(0, x).unwrap();
    assert!(m.output(0), "still asserted at EOI");
    let x = m.accept(0).unwrap();
    m.lower(L).unwrap();
    m.eoi(0, x).unwrap();
    assert!(!m.output(0));
    // Asserted while masked: presented once unmasked.
    m.int_off(L).unwrap();
    m.raise(L).unwrap();
    assert!(!m.output(0));
    m.int_on(L).unwrap();
    assert!(m.output(0));
}

#[test]
fn bad_arguments_are_errors_not_panics() {
    let mut m = model();
    assert!(matches!(m.set_cppr(2, 0), Err(XiveError::NoServer(2))));
    assert!(matches!(m.accept(u32::MAX), Err(XiveError::NoServer(_))));
    assert!(matches!(m.poll(9), Err(XiveError::NoServer(9))));
    assert!(matches!(m.set_mfrr(2, 5), Err(XiveError::NoServer(2))));
    assert!(matches!(m.eoi(7, 0xff00_1000), Err(XiveError::NoServer(7))));
    assert!(matches!(
        m.eoi(0, 0xff12_3456),
        Err(XiveError::NoSource(0x12_3456))
    ));
    assert!(matches!(m.raise(0x2000), Err(XiveError::NoSource(0x2000))));
    assert!(matches!(m.set_xive(A, 2, 5), Err(XiveError::NoServer(2))));
    assert!(matches!(
        m.set_xive(A, 0, 256),
        Err(XiveError::Priority(256))
    ));
    assert!(matches!(m.get_xive(3), Err(XiveError::NoSource(3))));
    for irq in [0, XICS_IPI, 0x100_0000] {
        assert!(m.add_source(irq, false).is_err(), "{irq:#x}");
    }
    // An EOI of an IPI nobody sent is harmless; of an XISR 0 (nothing accepted) too.
    m.eoi(0, 0xff00_0002).unwrap();
    assert!(m.eoi(0, 0xff00_0000).is_err(), "source 0 does not exist");
    assert!(!m.output(0));
}
