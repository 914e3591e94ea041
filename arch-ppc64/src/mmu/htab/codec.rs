//! The record codec of the HTAB stream (see [the module](super)), validated: every record's
//! entries lie inside the table, its counts are non-zero and fit, records of one pass come in
//! increasing order without overlap, every HPTE of a valid run has V set and a page size KVM
//! knows, and truncated input is refused. Each failure is a named [`HtabError`]; no input
//! panics, and nothing is allocated beyond what the input holds.

use crate::mmu::hash::HtabGeometry;
use crate::mmu::hpte::{Hpte, HPTE_SIZE};
use thiserror::Error;

/// Bytes of a record header (`struct kvm_get_htab_header`).
pub const HEADER_SIZE: usize = 8;
/// The largest run of valid or invalid entries one record holds.
pub const MAX_RUN: usize = u16::MAX as usize;

/// The byte order of the record headers: the host's (KVM writes the struct as is). The HPTEs
/// are always big-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endian {
    /// A little-endian host (ppc64le).
    Little,
    /// A big-endian host.
    Big,
}

impl Endian {
    /// The order of the machine tetra runs on.
    pub const HOST: Endian = if cfg!(target_endian = "big") {
        Endian::Big
    } else {
        Endian::Little
    };
}

/// A stream (or a table model) that does not hold together.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum HtabError {
    /// Fewer than 8 bytes left where a record header starts.
    #[error("HTAB stream truncated in the record header at byte {offset} ({len} bytes in all)")]
    TruncatedHeader {
        /// Where the header starts.
        offset: usize,
        /// Length of the input.
        len: usize,
    },
    /// Fewer HPTE bytes than the header's `n_valid` says.
    #[error("HTAB record at entry {index} (byte {offset}) announces {n_valid} HPTEs, {available} bytes follow")]
    TruncatedEntries {
        /// Where the header starts.
        offset: usize,
        /// The record's first entry.
        index: u32,
        /// Valid entries announced.
        n_valid: u16,
        /// Bytes left after the header.
        available: usize,
    },
    /// A record with no entries.
    #[error("HTAB record at byte {offset} covers no entries")]
    Empty {
        /// Where the header starts.
        offset: usize,
    },
    /// A record whose entries run past the table's end.
    #[error("HTAB record at entry {index} with {count} entries runs past the table's {entries}")]
    OutOfTable {
        /// The record's first entry.
        index: u32,
        /// `n_valid + n_invalid`.
        count: u64,
        /// Entries in the table.
        entries: u64,
    },
    /// A record that starts before the previous one ends.
    #[error("HTAB record at entry {index} overlaps or precedes the previous record (which ends at {previous_end})")]
    Overlap {
        /// The record's first entry.
        index: u32,
        /// The end of the previous record.
        previous_end: u64,
    },
    /// An HPTE of a valid run without V.
    #[error("HTAB entry {0} is in a valid run but its V bit is clear")]
    NotValid(u64),
    /// An HPTE whose page size encoding KVM does not know.
    #[error("HTAB entry {index} has an unknown page size encoding (v={v:#x} r={r:#x})")]
    PageSize {
        /// The entry.
        index: u64,
        /// Dword 0.
        v: u64,
        /// Dword 1.
        r: u64,
    },
    /// A record built in memory with a run longer than a header can count.
    #[error("HTAB record at entry {index}: {count} entries in one run, more than {MAX_RUN}")]
    RunTooLong {
        /// The record's first entry.
        index: u32,
        /// The run's length.
        count: usize,
    },
    /// A first pass that does not cover the whole table in order.
    #[error("HTAB first pass leaves entries {from}..{to} out")]
    FirstPassGap {
        /// The first entry missing.
        from: u64,
        /// The next entry covered (or the table's size).
        to: u64,
    },
    /// A table whose indices do not fit the header's 32-bit index.
    #[error("a hash table of 2^{0} bytes has entries beyond a 32-bit index")]
    TooLarge(u32),
    /// An entry index outside the table.
    #[error("entry {index} is outside the table's {entries}")]
    Index {
        /// The index.
        index: u64,
        /// Entries in the table.
        entries: u64,
    },
}

/// One record: valid HPTEs from `index`, then `n_invalid` invalid entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// The first entry covered.
    pub index: u32,
    /// The valid entries `index ..`.
    pub valid: Vec<Hpte>,
    /// How many invalid entries follow them.
    pub n_invalid: u16,
}

impl Record {
    /// One past the last entry covered.
    pub fn end(&self) -> u64 {
        u64::from(self.index) + self.valid.len() as u64 + u64::from(self.n_invalid)
    }
}

fn header(b: &[u8], order: Endian) -> (u32, u16, u16) {
    let u32_at = |i: usize| {
        let w = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        match order {
            Endian::Little => u32::from_le_bytes(w),
            Endian::Big => u32::from_be_bytes(w),
        }
    };
    let u16_at = |i: usize| {
        let w = [b[i], b[i + 1]];
        match order {
            Endian::Little => u16::from_le_bytes(w),
            Endian::Big => u16::from_be_bytes(w),
        }
    };
    (u32_at(0), u16_at(4), u16_at(6))
}

/// Checks one record's place: non-empty, inside the table, after `previous_end`.
fn check_place(
    g: HtabGeometry,
    index: u32,
    count: u64,
    offset: usize,
    previous_end: u64,
) -> Result<(), HtabError> {
    if count == 0 {
        return Err(HtabError::Empty { offset });
    }
    let entries = g.entries();
    if u64::from(index) + count > entries {
        return Err(HtabError::OutOfTable {
            index,
            count,
            entries,
        });
    }
    if u64::from(index) < previous_end {
        return Err(HtabError::Overlap {
            index,
            previous_end,
        });
    }
    Ok(())
}

/// Checks one HPTE of a valid run: V set and a page size KVM knows.
pub(crate) fn check_entry(index: u64, e: Hpte) -> Result<(), HtabError> {
    if !e.valid() {
        return Err(HtabError::NotValid(index));
    }
    if !e.page_size_known() {
        return Err(HtabError::PageSize {
            index,
            v: e.v,
            r: e.r,
        });
    }
    Ok(())
}

/// Checks records built in memory as [`decode`] checks the bytes (`offset` in errors is the
/// record's position in the slice).
pub fn check(g: HtabGeometry, records: &[Record]) -> Result<(), HtabError> {
    let mut previous_end = 0;
    for (n, r) in records.iter().enumerate() {
        if r.valid.len() > MAX_RUN {
            return Err(HtabError::RunTooLong {
                index: r.index,
                count: r.valid.len(),
            });
        }
        let count = r.end() - u64::from(r.index);
        check_place(g, r.index, count, n, previous_end)?;
        for (i, e) in r.valid.iter().enumerate() {
            check_entry(u64::from(r.index) + i as u64, *e)?;
        }
        previous_end = r.end();
    }
    Ok(())
}

/// Decodes the records of one pass of a table of geometry `g`, headers in `order`.
pub fn decode(bytes: &[u8], g: HtabGeometry, order: Endian) -> Result<Vec<Record>, HtabError> {
    let mut records = Vec::new();
    let mut offset = 0;
    let mut previous_end = 0;
    while offset < bytes.len() {
        let head = bytes
            .get(offset..offset + HEADER_SIZE)
            .ok_or(HtabError::TruncatedHeader {
                offset,
                len: bytes.len(),
            })?;
        let (index, n_valid, n_invalid) = header(head, order);
        let count = u64::from(n_valid) + u64::from(n_invalid);
        check_place(g, index, count, offset, previous_end)?;
        let body_start = offset + HEADER_SIZE;
        let body_len = usize::from(n_valid) * HPTE_SIZE;
        let body =
            bytes
                .get(body_start..body_start + body_len)
                .ok_or(HtabError::TruncatedEntries {
                    offset,
                    index,
                    n_valid,
                    available: bytes.len() - body_start,
                })?;
        let mut valid = Vec::with_capacity(usize::from(n_valid));
        for (i, c) in body.chunks_exact(HPTE_SIZE).enumerate() {
            let mut b = [0; HPTE_SIZE];
            b.copy_from_slice(c);
            let e = Hpte::from_be_bytes(&b);
            check_entry(u64::from(index) + i as u64, e)?;
            valid.push(e);
        }
        records.push(Record {
            index,
            valid,
            n_invalid,
        });
        previous_end = u64::from(index) + count;
        offset = body_start + body_len;
    }
    Ok(records)
}

/// Encodes records (checked first against `g`) with headers in `order`.
pub fn encode(g: HtabGeometry, records: &[Record], order: Endian) -> Result<Vec<u8>, HtabError> {
    check(g, records)?;
    let mut out = Vec::new();
    for r in records {
        let n_valid = r.valid.len() as u16;
        match order {
            Endian::Little => {
                out.extend_from_slice(&r.index.to_le_bytes());
                out.extend_from_slice(&n_valid.to_le_bytes());
                out.extend_from_slice(&r.n_invalid.to_le_bytes());
            }
            Endian::Big => {
                out.extend_from_slice(&r.index.to_be_bytes());
                out.extend_from_slice(&n_valid.to_be_bytes());
                out.extend_from_slice(&r.n_invalid.to_be_bytes());
            }
        }
        for e in &r.valid {
            out.extend_from_slice(&e.to_be_bytes());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
