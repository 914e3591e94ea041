//! Between the two forms a hash table's changes take: the records of a `KVM_PPC_GET_HTAB_FD`
//! pass ([`Record`]: valid runs and invalid runs) and the `(index, entry)` list of an `HTAB`
//! section ([`crate::snapshot::htab`]: valid entries, and zero ones that clear). KVM-HV's table
//! travels through the first form on its own host and through the second in snapshots and
//! migration streams, as a KVM-PR table does.

use super::codec::Record;
use crate::mmu::hpte::Hpte;
use std::collections::BTreeMap;

/// The entries the records of one or more reads set, in read order (a later read's value of an
/// entry wins: a pass that wrapped round the table reads it again), by increasing index: each
/// valid entry as it is, each invalid one as zero; with `skip_invalid` (a first pass, whose
/// destination table starts empty) only the valid ones.
pub fn entries_of(reads: &[Vec<Record>], skip_invalid: bool) -> Vec<(u64, Hpte)> {
    let mut set = BTreeMap::new();
    for r in reads.iter().flatten() {
        let start = u64::from(r.index);
        for (i, e) in r.valid.iter().enumerate() {
            set.insert(start + i as u64, *e);
        }
        let first_invalid = start + r.valid.len() as u64;
        for i in first_invalid..r.end() {
            if skip_invalid {
                set.remove(&i);
            } else {
                set.insert(i, Hpte { v: 0, r: 0 });
            }
        }
    }
    set.into_iter().collect()
}

/// The records that make `entries` (by strictly increasing index; a zero entry clears) in a
/// table: one record per run of consecutive valid entries, or of consecutive cleared ones, each
/// at most `u16::MAX` long.
pub fn records_of(entries: &[(u64, Hpte)]) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    for &(i, e) in entries {
        let clear = e == Hpte { v: 0, r: 0 };
        let joins = out.last().is_some_and(|r| {
            r.end() == i
                && if clear {
                    r.valid.is_empty() && r.n_invalid < u16::MAX
                } else {
                    r.n_invalid == 0 && r.valid.len() < usize::from(u16::MAX)
                }
        });
        match (joins, out.last_mut()) {
            (true, Some(r)) if clear => r.n_invalid += 1,
            (true, Some(r)) => r.valid.push(e),
            _ => out.push(Record {
                index: i as u32,
                valid: if clear { Vec::new() } else { vec![e] },
                n_invalid: u16::from(clear),
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmu::hash::HtabGeometry;
    use crate::mmu::htab::codec::check;
    use crate::mmu::htab::table::HashTable;

    fn page(n: u64) -> Hpte {
        Hpte {
            v: (n << 7) | 1,
            r: (n << 12) | 0x192,
        }
    }

    #[test]
    fn records_and_entries_make_the_same_table() {
        let g = HtabGeometry::new(22).unwrap();
        let zero = Hpte { v: 0, r: 0 };
        // Runs of valid and cleared entries, a gap, and a run longer than one record holds.
        let mut entries: Vec<(u64, Hpte)> = vec![
            (0, page(1)),
            (1, page(2)),
            (2, zero),
            (3, zero),
            (4, page(3)),
            (9, zero),
        ];
        entries.extend((100..100 + 70_000u64).map(|i| (i, page(i))));
        entries.extend((70_100..70_200u64).map(|i| (i, zero)));
        let records = records_of(&entries);
        check(g, &records).unwrap();
        assert_eq!(
            records.iter().map(|r| r.index).take(5).collect::<Vec<_>>(),
            [0, 2, 4, 9, 100]
        );
        assert_eq!(records[5].index, 100 + u32::from(u16::MAX));
        // Read back as a later pass: the same entries.
        assert_eq!(entries_of(std::slice::from_ref(&records), false), entries);
        // As a first pass: only the valid ones.
        let valid: Vec<_> = entries.iter().copied().filter(|(_, e)| e.v != 0).collect();
        assert_eq!(entries_of(std::slice::from_ref(&records), true), valid);
        // Applied to a table that had other entries, the records leave what the entries say.
        let mut t = HashTable::new(g).unwrap();
        t.set(3, page(9)).unwrap();
        t.set(5, page(5)).unwrap();
        t.apply(&records).unwrap();
        let mut want = valid.clone();
        want.insert(3, (5, page(5)));
        assert_eq!(t.entries().collect::<Vec<_>>(), want);
    }

    #[test]
    fn a_later_read_of_an_entry_wins() {
        let first = vec![Record {
            index: 4,
            valid: vec![page(1), page(2)],
            n_invalid: 1,
        }];
        // The pass wrapped round and read entry 5 again, cleared, and 6 again, valid.
        let again = vec![
            Record {
                index: 5,
                valid: vec![],
                n_invalid: 1,
            },
            Record {
                index: 6,
                valid: vec![page(6)],
                n_invalid: 0,
            },
        ];
        assert_eq!(
            entries_of(&[first, again], false),
            vec![(4, page(1)), (5, Hpte { v: 0, r: 0 }), (6, page(6))]
        );
    }
}
