use super::*;
use crate::mmu::hpte::HPTE_V_VALID;
use crate::mmu::htab::codec::{decode, encode, Endian};
use crate::test_util::Rng;

fn entry(rng: &mut Rng) -> Hpte {
    Hpte {
        v: (rng.next() & 0x3fff_ffff_ffff_ff80) | HPTE_V_VALID,
        r: rng.next() & 0x0fff_ffff_ffff_f1ff,
    }
}

/// Through bytes, as the stream carries it.
fn wire(g: HtabGeometry, records: &[Record], order: Endian) -> Vec<Record> {
    decode(&encode(g, records, order).unwrap(), g, order).unwrap()
}

/// Pass 1 of a source table, then passes of only the modified entries, rebuild the source
/// table at every round on the destination (as pre-copy migration sends the table).
#[test]
fn first_pass_then_modified_passes_reproduce_the_source() {
    let mut rng = Rng::new(0x4a7b);
    for order in [18, 19, 22] {
        let g = HtabGeometry::new(order).unwrap();
        let mut src = HashTable::new(g).unwrap();
        for _ in 0..3000 {
            src.set(rng.below(g.entries()), entry(&mut rng)).unwrap();
        }
        // A dense stretch, so valid runs are long.
        for i in 100..900 {
            src.set(i, entry(&mut rng)).unwrap();
        }
        let order_ = if order == 19 {
            Endian::Big
        } else {
            Endian::Little
        };
        let pass1 = wire(g, &src.first_pass(), order_);
        let mut dst = HashTable::from_first_pass(g, &pass1).unwrap();
        assert_eq!(dst, src);
        for round in 0..8 {
            let before = src.clone();
            let mut touched = std::collections::BTreeSet::new();
            for _ in 0..rng.below(400) {
                let i = rng.below(g.entries());
                let e = if rng.below(3) == 0 {
                    Hpte::default()
                } else {
                    entry(&mut rng)
                };
                src.set(i, e).unwrap();
                touched.insert(i);
            }
            // Rewriting an entry with its own value is no change.
            let same = src.entries().nth(round);
            if let Some((i, e)) = same {
                src.set(i, e).unwrap();
            }
            let pass = wire(g, &before.diff_pass(&src), order_);
            let carried: u64 = pass.iter().map(|r| r.end() - u64::from(r.index)).sum();
            let changed = (0..g.entries())
                .filter(|&i| before.hpte(i) != src.hpte(i))
                .count() as u64;
            assert_eq!(
                carried, changed,
                "a later pass carries exactly the modified entries"
            );
            assert!(carried <= touched.len() as u64 + 1);
            dst.apply(&pass).unwrap();
            assert_eq!(dst, src, "order {order} round {round}");
        }
    }
}

#[test]
fn runs_are_bounded_and_first_passes_complete() {
    // An empty 4 MiB table: 262144 invalid entries in runs of at most 65535.
    let g = HtabGeometry::new(22).unwrap();
    let mut t = HashTable::new(g).unwrap();
    let p = t.first_pass();
    assert_eq!(p.len(), 5);
    assert!(p.iter().all(|r| r.valid.is_empty()));
    assert_eq!(
        p.iter().map(|r| u64::from(r.n_invalid)).sum::<u64>(),
        g.entries()
    );
    // 70000 valid entries in a row: two valid runs.
    let mut rng = Rng::new(7);
    for i in 0..70_000 {
        t.set(i, entry(&mut rng)).unwrap();
    }
    let p = t.first_pass();
    assert_eq!(p[0].valid.len(), 65_535);
    assert_eq!(p[1].index, 65_535);
    assert_eq!(p[1].valid.len(), 70_000 - 65_535);
    assert_eq!(HashTable::from_first_pass(g, &p).unwrap(), t);
    // A first pass with a hole, or short, is refused.
    let mut holed = p.clone();
    holed.remove(1);
    assert!(matches!(
        HashTable::from_first_pass(g, &holed),
        Err(HtabError::FirstPassGap { from: 65_535, .. })
    ));
    let short = &p[..p.len() - 1];
    assert!(matches!(
        HashTable::from_first_pass(g, short),
        Err(HtabError::FirstPassGap { to, .. }) if to == g.entries()
    ));
    // Applying a bad pass leaves the table unchanged.
    let before = t.clone();
    let bad = vec![
        Record {
            index: 0,
            valid: vec![],
            n_invalid: 10,
        },
        Record {
            index: 5,
            valid: vec![],
            n_invalid: 1,
        },
    ];
    assert!(matches!(t.apply(&bad), Err(HtabError::Overlap { .. })));
    assert_eq!(t, before);
    assert_eq!(
        t.set(g.entries(), Hpte::default()),
        Err(HtabError::Index {
            index: g.entries(),
            entries: g.entries()
        })
    );
    assert_eq!(
        HashTable::new(HtabGeometry::new(37).unwrap()),
        Err(HtabError::TooLarge(37))
    );
}
