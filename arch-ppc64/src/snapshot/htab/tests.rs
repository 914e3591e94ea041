use super::*;
use crate::mmu::hpte::{HPTE_V_LARGE, HPTE_V_SECONDARY, HPTE_V_SW};
use std::cell::RefCell;

const RAM: u64 = 64 << 20;

fn g18() -> HtabGeometry {
    HtabGeometry::new(18).unwrap()
}

/// A 4K page at `real` (VSID-ish AVPN bits, valid).
fn page(avpn: u64, real: u64) -> Hpte {
    Hpte {
        v: (avpn << 7) | HPTE_V_VALID,
        r: real | 0x192,
    }
}

fn sample() -> HtabState {
    HtabState {
        order: 18,
        entries: vec![
            (0, page(0x1234, 0x70_0000)),
            (0x930, page(0x123, 0x70_1000)),
            (
                0x931,
                Hpte {
                    // A 64K page (LP 0x1), secondary group, Linux's bolted bit.
                    v: (0x55 << 7) | HPTE_V_LARGE | HPTE_V_SECONDARY | HPTE_V_SW | HPTE_V_VALID,
                    r: 0x80_0000 | (1 << 12) | 0x2,
                },
            ),
            // An MMIO page (caching-inhibited, guarded).
            (0x3fff, page(0x77, MMIO_BASE | 0x28)),
        ],
    }
}

fn with(data: Vec<u8>) -> Section {
    Section::new(&HTAB.tag, HTAB.current, data)
}

fn header(order: u32, count: u32) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(1);
    w.u32(order);
    w.u32(count);
    w.into_bytes()
}

fn entry(index: u64, e: Hpte) -> Vec<u8> {
    let mut w = Writer::new();
    w.u64(index);
    w.u64(e.v);
    w.u64(e.r);
    w.into_bytes()
}

fn one(index: u64, e: Hpte) -> Section {
    let mut b = header(18, 1);
    b.extend(entry(index, e));
    with(b)
}

#[test]
fn round_trips_and_fits_the_vm() {
    let s = sample();
    let sec = htab_section(Some(&s));
    assert_eq!(sec.data.len(), 9 + ENTRY_BYTES * 4);
    let back = decode_htab(&sec).unwrap().unwrap();
    assert_eq!(back, s);
    back.check(g18(), RAM).unwrap();
    check_vm(Some(&back), Some(g18()), RAM).unwrap();
    // A radix VM: one byte, nothing else.
    let none = htab_section(None);
    assert_eq!(none.data, [0]);
    assert_eq!(decode_htab(&none).unwrap(), None);
    check_vm(None, None, RAM).unwrap();
    // An empty hash table.
    let empty = HtabState {
        order: 18,
        entries: vec![],
    };
    assert_eq!(
        decode_htab(&htab_section(Some(&empty))).unwrap(),
        Some(empty)
    );
}

#[test]
fn capture_keeps_only_valid_entries() {
    let t = Table(RefCell::new(vec![(0, 0); g18().entries() as usize]));
    for (i, e) in &sample().entries {
        t.set(*i, *e);
    }
    // An invalid entry with stale bits is left out.
    t.set(
        5,
        Hpte {
            v: 0x1234 << 7,
            r: 0x70_0000,
        },
    );
    assert_eq!(HtabState::capture(18, &t), sample());
}

#[test]
fn truncation_at_every_byte_is_refused() {
    let data = htab_section(Some(&sample())).data;
    for n in 0..data.len() {
        let e = decode_htab(&with(data[..n].to_vec())).unwrap_err();
        assert!(
            matches!(e, HtabSnapshotError::Codec(CodecError::Truncated(_))),
            "{n}: {e}"
        );
    }
    let mut long = data.clone();
    long.push(0);
    assert!(matches!(
        decode_htab(&with(long)).unwrap_err(),
        HtabSnapshotError::Codec(CodecError::Trailing(_))
    ));
    let mut radix = vec![0u8];
    radix.push(0);
    assert!(matches!(
        decode_htab(&with(radix)).unwrap_err(),
        HtabSnapshotError::Codec(CodecError::Trailing(_))
    ));
}

#[test]
fn random_mutations_never_panic_and_what_decodes_round_trips() {
    let data = htab_section(Some(&sample())).data;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut decoded = 0;
    for _ in 0..20_000 {
        let mut d = data.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() % d.len() as u64) as usize;
            d[at] ^= 1 << (next() % 8);
        }
        if next() % 8 == 0 {
            d.truncate((next() % d.len() as u64) as usize);
        }
        if let Ok(Some(s)) = decode_htab(&with(d.clone())) {
            decoded += 1;
            assert_eq!(htab_section(Some(&s)).data, d);
            let _ = s.check(g18(), RAM);
        }
    }
    assert!(decoded > 0, "no mutation decoded");
}

#[test]
fn every_refusal_by_name() {
    use HtabSnapshotError as E;
    let newer = Section::new(&HTAB.tag, HTAB.current + 1, vec![0]);
    assert!(matches!(
        decode_htab(&newer).unwrap_err(),
        E::Codec(CodecError::Newer { .. })
    ));
    assert!(matches!(
        decode_htab(&with(vec![3])).unwrap_err(),
        E::Kind(3)
    ));
    for order in [0, 17, 47, u32::MAX] {
        assert!(
            matches!(
                decode_htab(&with(header(order, 0))).unwrap_err(),
                E::Order { order: o, .. } if o == order
            ),
            "{order}"
        );
    }
    // More entries than a 256 KiB table has (16384), with the bytes for them.
    let n = g18().entries() as u32 + 1;
    let mut b = header(18, n);
    b.resize(b.len() + n as usize * ENTRY_BYTES, 0);
    assert!(matches!(
        decode_htab(&with(b)).unwrap_err(),
        E::Count { count, entries: 16384 } if count == n as usize
    ));
    // A count the bytes cannot hold is refused before anything is allocated.
    assert!(matches!(
        decode_htab(&with(header(18, u32::MAX))).unwrap_err(),
        E::Codec(CodecError::Truncated(_))
    ));
    let p = page(1, 0x10_0000);
    assert!(matches!(
        decode_htab(&one(16384, p)).unwrap_err(),
        E::Index {
            index: 16384,
            entries: 16384
        }
    ));
    assert!(matches!(
        decode_htab(&one(u64::MAX, p)).unwrap_err(),
        E::Index { .. }
    ));
    let mut b = header(18, 2);
    b.extend(entry(7, p));
    b.extend(entry(7, p));
    assert!(matches!(
        decode_htab(&with(b)).unwrap_err(),
        E::Duplicate(7)
    ));
    let mut b = header(18, 2);
    b.extend(entry(9, p));
    b.extend(entry(8, p));
    assert!(matches!(
        decode_htab(&with(b)).unwrap_err(),
        E::Unordered {
            index: 8,
            previous: 9
        }
    ));
    let invalid = Hpte {
        v: p.v & !1,
        r: p.r,
    };
    assert!(matches!(
        decode_htab(&one(3, invalid)).unwrap_err(),
        E::NotValid { index: 3, .. }
    ));
    for bit in [0x20, 0x40] {
        let e = Hpte {
            v: p.v | bit,
            r: p.r,
        };
        assert!(matches!(
            decode_htab(&one(3, e)).unwrap_err(),
            E::KvmBits { index: 3, .. }
        ));
    }
    for b in [2u64, 3] {
        let e = Hpte {
            v: p.v | (b << HPTE_V_SSIZE_SHIFT),
            r: p.r,
        };
        assert!(matches!(
            decode_htab(&one(3, e)).unwrap_err(),
            E::SegmentSize { index: 3, .. }
        ));
    }
    // L with a reserved LP code, and 16G (LP 0x03), which KVM-PR lacks.
    for lp in [0x2u64, 0x3] {
        let e = Hpte {
            v: p.v | HPTE_V_LARGE,
            r: 0x100_0000 | (lp << 12),
        };
        assert!(matches!(
            decode_htab(&one(3, e)).unwrap_err(),
            E::PageSize { index: 3, .. }
        ));
    }
    // What decodes and does not fit the VM.
    let s = decode_htab(&one(3, page(1, RAM))).unwrap().unwrap();
    assert!(matches!(
        s.check(g18(), RAM).unwrap_err(),
        E::OutsideRam {
            index: 3,
            address: RAM,
            size: 0x1000,
            ram: RAM
        }
    ));
    // A 16M page that starts inside RAM and ends past it (RAM of 56 MiB).
    let big = Hpte {
        v: p.v | HPTE_V_LARGE,
        r: 48 << 20,
    };
    let s = decode_htab(&one(4, big)).unwrap().unwrap();
    s.check(g18(), RAM).unwrap();
    assert!(matches!(
        s.check(g18(), 56 << 20).unwrap_err(),
        E::OutsideRam {
            index: 4,
            size: 0x100_0000,
            ..
        }
    ));
    // A page past the MMIO window.
    let s = decode_htab(&one(5, page(1, MMIO_BASE + MMIO_SIZE)))
        .unwrap()
        .unwrap();
    assert!(matches!(
        s.check(g18(), RAM).unwrap_err(),
        E::OutsideRam { index: 5, .. }
    ));
    // The table size the VM's RAM gives is another.
    assert!(matches!(
        sample()
            .check(HtabGeometry::new(19).unwrap(), RAM)
            .unwrap_err(),
        E::Mismatch {
            saved: 18,
            vm: 19,
            ..
        }
    ));
    // An older or radix snapshot: the hash VM's table stays empty.
    check_vm(None, Some(g18()), RAM).unwrap();
    assert!(matches!(
        check_vm(Some(&sample()), None, RAM).unwrap_err(),
        E::Mismatch {
            saved: 1,
            vm: 0,
            ..
        }
    ));
    // Every message names the section.
    for e in [E::NoBase, E::Duplicate(1), E::Kind(9)] {
        assert!(e.to_string().starts_with("HTAB: "), "{e}");
    }
}

#[test]
fn an_envelope_without_the_section_has_no_table() {
    let mut env = Envelope::new(*b"TETRAP64");
    assert_eq!(decode_env(&env).unwrap(), None);
    env.push(htab_section(Some(&sample())));
    assert_eq!(decode_env(&env).unwrap(), Some(sample()));
}

/// A table in plain memory.
struct Table(RefCell<Vec<(u64, u64)>>);

impl HptWords for Table {
    fn entries(&self) -> u64 {
        self.0.borrow().len() as u64
    }
    fn load(&self, i: u64) -> (u64, u64) {
        self.0.borrow()[i as usize]
    }
    fn store_r(&self, i: u64, r: u64) {
        self.0.borrow_mut()[i as usize].1 = r;
    }
}

impl Table {
    fn set(&self, i: u64, e: Hpte) {
        self.0.borrow_mut()[i as usize] = (e.v, e.r);
    }
    /// Applies a section as a migration's destination does.
    fn apply(&self, s: &Section) {
        let HtabSection::Changes(c) = decode_section(s).unwrap() else {
            panic!("not changes: {s:?}");
        };
        c.check(g18(), RAM).unwrap();
        for (i, e) in c.entries {
            self.set(i, e);
        }
    }
}

#[test]
fn a_tracker_sends_every_valid_entry_then_only_the_changes() {
    let src = Table(RefCell::new(vec![(0, 0); g18().entries() as usize]));
    let dst = Table(RefCell::new(vec![(0, 0); g18().entries() as usize]));
    for (i, e) in &sample().entries {
        src.set(*i, *e);
    }
    // A stale invalid entry is not sent.
    src.set(
        5,
        Hpte {
            v: 0x1234 << 7,
            r: 0x70_0000,
        },
    );
    let mut t = HtabTracker::new(g18().entries());
    let first = t.pass(&src, true);
    assert_eq!(first, sample().entries);
    dst.apply(&changes_section(18, &first));
    assert!(t.pass(&src, true).is_empty(), "nothing changed");

    // The guest changes the table: a new entry, a removed one (its stale bits left behind),
    // one whose R doubleword changed (KVM-PR's reference and change bits), and a torn read of
    // an entry being written (a reserved segment size), held back while the guest runs.
    let new = page(0x42, 0x60_0000);
    src.set(0x100, new);
    src.set(
        0x930,
        Hpte {
            v: 0x123 << 7,
            r: 0x70_1000,
        },
    );
    let mut touched = page(0x1234, 0x70_0000);
    touched.r &= !0x180;
    src.set(0, touched);
    let torn = Hpte {
        v: (3 << HPTE_V_SSIZE_SHIFT) | HPTE_V_VALID,
        r: 0x70_2000,
    };
    src.set(0x200, torn);
    let changes = t.pass(&src, true);
    assert_eq!(
        changes,
        vec![(0, touched), (0x100, new), (0x930, Hpte { v: 0, r: 0 })]
    );
    dst.apply(&changes_section(18, &changes));
    // The entry held back became a valid one: the next pass sends it.
    let done = page(0x9, 0x70_2000);
    src.set(0x200, done);
    let held = t.pass(&src, true);
    assert_eq!(held, vec![(0x200, done)]);
    dst.apply(&changes_section(18, &held));
    // Paused, the last pass sends an entry as it is, even one the destination will refuse
    // (as it refuses it in a snapshot).
    src.set(0x300, torn);
    assert_eq!(t.pass(&src, false), vec![(0x300, torn)]);
    src.set(0x300, Hpte { v: 0, r: 0 });
    assert_eq!(t.pass(&src, false), vec![(0x300, Hpte { v: 0, r: 0 })]);

    // The destination's table now holds exactly the source's valid entries.
    assert_eq!(HtabState::capture(18, &dst), HtabState::capture(18, &src));
}

#[test]
fn changes_are_read_only_in_a_migration() {
    use HtabSnapshotError as E;
    let c = changes_section(18, &[(7, page(0x1, 0x10_0000)), (8, Hpte { v: 0, r: 0 })]);
    assert_eq!(c.version, 2);
    assert!(matches!(
        decode_section(&c).unwrap(),
        HtabSection::Changes(_)
    ));
    // A snapshot never has them.
    assert!(matches!(decode_htab(&c).unwrap_err(), E::NoBase));
    // Kind 2 is version 2's.
    let v1 = Section::new(&HTAB.tag, 1, c.data.clone());
    assert!(matches!(decode_section(&v1).unwrap_err(), E::Kind(2)));
    // A whole table is still written as version 1, which older tetras read.
    assert_eq!(htab_section(Some(&sample())).version, 1);
    // A cleared entry is all zero; stale bits in it are refused.
    let stale = changes_section(18, &[(8, Hpte { v: 0, r: 0x70_0000 })]);
    assert!(matches!(
        decode_section(&stale).unwrap_err(),
        E::NotValid { index: 8, .. }
    ));
}
