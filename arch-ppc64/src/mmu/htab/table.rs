//! An in-memory hash table that applies HTAB passes and makes them: the model of what a
//! snapshot restores and what each pre-copy round sends. Only valid entries are stored, so its
//! size follows the stream, not the table's declared size.

use super::codec::{check, check_entry, HtabError, Record, MAX_RUN};
use crate::mmu::hash::HtabGeometry;
use crate::mmu::hpte::Hpte;
use crate::mmu::translate::HptStore;
use std::collections::BTreeMap;

/// The largest table whose entries a 32-bit header index reaches: 2^36 bytes.
pub const MAX_STREAM_ORDER: u32 = 36;

/// A hash table: its geometry and its valid entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashTable {
    g: HtabGeometry,
    valid: BTreeMap<u64, Hpte>,
}

/// Accumulates entries, in increasing index order, into records as KVM forms them: a run of
/// valid entries, then a run of invalid ones, each at most [`MAX_RUN`] long.
#[derive(Default)]
struct Builder {
    records: Vec<Record>,
}

impl Builder {
    fn push_valid(&mut self, index: u64, e: Hpte) {
        match self.records.last_mut() {
            Some(r) if r.end() == index && r.n_invalid == 0 && r.valid.len() < MAX_RUN => {
                r.valid.push(e)
            }
            _ => self.records.push(Record {
                index: index as u32,
                valid: vec![e],
                n_invalid: 0,
            }),
        }
    }

    fn push_invalid(&mut self, mut index: u64, mut len: u64) {
        while len > 0 {
            let take = match self.records.last_mut() {
                Some(r) if r.end() == index && usize::from(r.n_invalid) < MAX_RUN => {
                    let take = len.min((MAX_RUN - usize::from(r.n_invalid)) as u64);
                    r.n_invalid += take as u16;
                    take
                }
                _ => {
                    let take = len.min(MAX_RUN as u64);
                    self.records.push(Record {
                        index: index as u32,
                        valid: Vec::new(),
                        n_invalid: take as u16,
                    });
                    take
                }
            };
            index += take;
            len -= take;
        }
    }
}

impl HashTable {
    /// An empty table (every entry invalid) of geometry `g`; at most 2^36 bytes, the largest a
    /// stream can address.
    pub fn new(g: HtabGeometry) -> Result<Self, HtabError> {
        if g.order() > MAX_STREAM_ORDER {
            return Err(HtabError::TooLarge(g.order()));
        }
        Ok(Self {
            g,
            valid: BTreeMap::new(),
        })
    }

    /// The table a first pass describes: the records must cover every entry, in order.
    pub fn from_first_pass(g: HtabGeometry, records: &[Record]) -> Result<Self, HtabError> {
        let mut t = Self::new(g)?;
        check(g, records)?;
        let mut next = 0;
        for r in records {
            if u64::from(r.index) != next {
                return Err(HtabError::FirstPassGap {
                    from: next,
                    to: u64::from(r.index),
                });
            }
            next = r.end();
        }
        if next != g.entries() {
            return Err(HtabError::FirstPassGap {
                from: next,
                to: g.entries(),
            });
        }
        t.apply(records)?;
        Ok(t)
    }

    /// Applies the records of a pass: the valid runs replace their entries, the invalid runs
    /// clear theirs, entries not covered stay. The records are checked first; on an error the
    /// table is unchanged.
    pub fn apply(&mut self, records: &[Record]) -> Result<(), HtabError> {
        check(self.g, records)?;
        for r in records {
            let first_invalid = u64::from(r.index) + r.valid.len() as u64;
            for (i, e) in r.valid.iter().enumerate() {
                self.valid.insert(u64::from(r.index) + i as u64, *e);
            }
            let gone: Vec<u64> = self
                .valid
                .range(first_invalid..r.end())
                .map(|(i, _)| *i)
                .collect();
            for i in gone {
                self.valid.remove(&i);
            }
        }
        Ok(())
    }

    /// Sets entry `index` (an entry without V clears it; a valid one needs a page size KVM
    /// knows).
    pub fn set(&mut self, index: u64, e: Hpte) -> Result<(), HtabError> {
        if index >= self.g.entries() {
            return Err(HtabError::Index {
                index,
                entries: self.g.entries(),
            });
        }
        if e.valid() {
            check_entry(index, e)?;
            self.valid.insert(index, e);
        } else {
            self.valid.remove(&index);
        }
        Ok(())
    }

    /// The geometry.
    pub fn geometry(&self) -> HtabGeometry {
        self.g
    }

    /// The valid entries, in index order.
    pub fn entries(&self) -> impl Iterator<Item = (u64, Hpte)> + '_ {
        self.valid.iter().map(|(i, e)| (*i, *e))
    }

    /// The records of a first pass: every entry, in order.
    pub fn first_pass(&self) -> Vec<Record> {
        let mut b = Builder::default();
        let mut next = 0;
        for (&i, &e) in &self.valid {
            b.push_invalid(next, i - next);
            b.push_valid(i, e);
            next = i + 1;
        }
        b.push_invalid(next, self.g.entries() - next);
        b.records
    }

    /// The records of a later pass that turns `self` into `newer` (same geometry): only the
    /// entries that differ.
    pub fn diff_pass(&self, newer: &HashTable) -> Vec<Record> {
        let mut changed: BTreeMap<u64, Option<Hpte>> = BTreeMap::new();
        for (&i, e) in &newer.valid {
            if self.valid.get(&i) != Some(e) {
                changed.insert(i, Some(*e));
            }
        }
        for i in self.valid.keys() {
            if !newer.valid.contains_key(i) {
                changed.insert(*i, None);
            }
        }
        let mut b = Builder::default();
        for (i, e) in changed {
            match e {
                Some(e) => b.push_valid(i, e),
                None => b.push_invalid(i, 1),
            }
        }
        b.records
    }
}

#[cfg(test)]
mod tests;

impl HptStore for HashTable {
    fn geometry(&self) -> HtabGeometry {
        self.g
    }

    fn hpte(&self, index: u64) -> Hpte {
        self.valid.get(&index).copied().unwrap_or_default()
    }
}
