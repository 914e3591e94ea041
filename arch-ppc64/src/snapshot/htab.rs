//! The [`HTAB`] section: a KVM-PR guest's hashed page table, which lives in tetra's own memory
//! (a mapping SDR1 points at, [`crate::kvm::UserHtab`]), not in guest RAM, so that neither the
//! memory file nor the vCPU registers carry it. KVM-PR has no `KVM_PPC_GET_HTAB_FD`: the table
//! is read from that mapping with the vCPUs paused (a snapshot, a migration's stop-and-copy
//! phase) and written into the new process's table before the vCPUs' registers are restored.
//!
//! Only the valid entries travel, by index: a table holds `RAM / 128` bytes (256 KiB for a
//! small guest) but a guest fills a small part of it. Every integer is little-endian.
//!
//! ```text
//! HTAB, version 1:
//!   u8 kind (0: the VM has no hash table in tetra's memory, radix; nothing follows.
//!            1: a hash table in tetra's memory, KVM-PR)
//!   [u32 order (log2 of the table's bytes, 18..=46), u32 entry count (at most the table's),
//!    per entry, by strictly increasing index: u64 index, u64 dword 0 (V), u64 dword 1 (R)]
//! HTAB, version 2: as version 1, and
//!   kind 2: changes to the table a migration's stream has sent so far, laid out as kind 1,
//!           where an entry of V = 0 and R = 0 is one that is no longer valid
//! ```
//!
//! Kind 2 exists only in a migration ([`HtabTracker`]): the ARCH frames of its pre-copy rounds
//! (all valid entries first, then each round's changes) and its final state (the changes since
//! the last round), so that the pause carries only what changed. Snapshots are written as
//! version 1; a kind 2 section anywhere but in a migration is refused by name
//! ([`HtabSnapshotError::NoBase`]).
//!
//! The entries are in the ISA v2.07 layout ([`crate::mmu::hpte`]), as the guest wrote them.
//! Decoding refuses, by name: an unknown kind, an order outside the table sizes, more entries
//! than the table has or the bytes hold, an index outside the table, a repeated or decreasing
//! index, an entry without V, with the bits KVM keeps for itself (dword 0 bits 5 and 6:
//! `HPTE_V_ABSENT`, `HPTE_V_HVLOCK`), with a reserved segment size or an unknown page size, and
//! trailing bytes. [`HtabState::check`] then holds it against the VM: the same table size (the
//! VM's, sized for its RAM) and every entry's real page inside guest RAM or the MMIO window.
//! Nothing is written into the VM before all of it passed.

use crate::layout::{MMIO_BASE, MMIO_SIZE};
use crate::mmu::hash::{HashError, HtabGeometry};
use crate::mmu::hpte::{Hpte, SegmentSize, HPTE_V_SSIZE_SHIFT, HPTE_V_VALID};
use crate::mmu::papr::HptWords;
use thiserror::Error;
use vmm_core::snapshot::{CodecError, Envelope, Section, SectionSpec};
use vmm_core::wire::{Reader, Writer};

/// The hash table.
pub const HTAB: SectionSpec = SectionSpec::new(*b"HTAB", 1, 2);
/// The version of a whole table's section (kinds 0 and 1), which older tetras read too.
pub const TABLE_VERSION: u16 = 1;
/// Kind byte: a table's changes (version 2).
pub const KIND_CHANGES: u8 = 2;
/// Bytes of one saved entry: index, V, R.
pub const ENTRY_BYTES: usize = 24;
/// The dword 0 bits KVM keeps for itself (`HPTE_V_HVLOCK` 0x40, `HPTE_V_ABSENT` 0x20); a
/// guest's entry never has them.
pub const HPTE_V_KVM_BITS: u64 = 0x60;

/// Why an [`HTAB`] section was refused, or the table could not be saved.
#[derive(Debug, Error)]
pub enum HtabSnapshotError {
    /// Truncated, trailing bytes, or an unknown version.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A kind byte other than 0 or 1.
    #[error("HTAB: kind {0} (0: no hash table in tetra's memory, 1: a KVM-PR hash table)")]
    Kind(u8),
    /// A table size no hash table has.
    #[error("HTAB: table order {order}")]
    Order {
        /// The order read.
        order: u32,
        /// Why it is refused.
        #[source]
        source: HashError,
    },
    /// More entries than the table has.
    #[error("HTAB: {count} entries in a table of {entries}")]
    Count {
        /// The count read.
        count: usize,
        /// Entries in the table.
        entries: u64,
    },
    /// An entry index outside the table.
    #[error("HTAB: entry index {index} is outside the table's {entries} entries")]
    Index {
        /// The index.
        index: u64,
        /// Entries in the table.
        entries: u64,
    },
    /// The same index twice.
    #[error("HTAB: entry {0} appears twice")]
    Duplicate(u64),
    /// An index below the previous one.
    #[error("HTAB: entry {index} follows entry {previous} (indices must increase)")]
    Unordered {
        /// The index.
        index: u64,
        /// The one before it.
        previous: u64,
    },
    /// An entry without the V bit.
    #[error("HTAB: entry {index} is not valid (v={v:#x})")]
    NotValid {
        /// The index.
        index: u64,
        /// Dword 0.
        v: u64,
    },
    /// Dword 0 bits only KVM sets.
    #[error("HTAB: entry {index} has KVM's own bits set (v={v:#x}, bits {HPTE_V_KVM_BITS:#x})")]
    KvmBits {
        /// The index.
        index: u64,
        /// Dword 0.
        v: u64,
    },
    /// A reserved segment size (B = 2 or 3).
    #[error("HTAB: entry {index} has a reserved segment size (v={v:#x})")]
    SegmentSize {
        /// The index.
        index: u64,
        /// Dword 0.
        v: u64,
    },
    /// A page size encoding tetra does not know (or 16 GB pages, which KVM-PR lacks).
    #[error("HTAB: entry {index} has an unknown page size (v={v:#x} r={r:#x})")]
    PageSize {
        /// The index.
        index: u64,
        /// Dword 0.
        v: u64,
        /// Dword 1.
        r: u64,
    },
    /// A real page outside guest RAM and the MMIO window.
    #[error("HTAB: entry {index} maps real page {address:#x} ({size:#x} bytes), outside the {ram:#x} bytes of guest RAM and the MMIO window")]
    OutsideRam {
        /// The index.
        index: u64,
        /// The real page's address.
        address: u64,
        /// Its size.
        size: u64,
        /// Guest RAM.
        ram: u64,
    },
    /// The snapshot's table and the VM's differ.
    #[error("HTAB: {what}: the snapshot has {saved}, this VM {vm}")]
    Mismatch {
        /// What differs.
        what: &'static str,
        /// The snapshot's.
        saved: u64,
        /// The VM's.
        vm: u64,
    },
    /// Changes to a table (kind 2) where no table came before them: outside a migration's
    /// stream, or before its first pre-copy pass.
    #[error("HTAB: changes to a hash table this VM never received (kind 2 belongs to a migration stream, after its first pre-copy pass)")]
    NoBase,
    /// A migration's pre-copy pass that is not a table's changes.
    #[error(
        "HTAB: a pre-copy pass carries kind {0}; only changes (kind 2) come before the final state"
    )]
    NotChanges(u8),
    /// KVM's table (`KVM_PPC_ALLOCATE_HTAB`, KVM-HV on a hash host): its stream
    /// (`KVM_PPC_GET_HTAB_FD`) could not be read or written.
    #[error("HTAB: {op} KVM's hash table (KVM_PPC_GET_HTAB_FD)")]
    KernelIo {
        /// What was being done.
        op: &'static str,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// KVM's table stream held records tetra refuses, or tetra's would not encode.
    #[error("HTAB: KVM's hash table stream (KVM_PPC_GET_HTAB_FD)")]
    KernelStream(#[source] crate::mmu::htab::HtabError),
}
vmm_core::codec_error_from!(HtabSnapshotError);

/// A hash table in tetra's memory: its size and its valid entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HtabState {
    /// log2 of the table's bytes.
    pub order: u32,
    /// `(index, entry)`, by strictly increasing index, every entry valid.
    pub entries: Vec<(u64, Hpte)>,
}

impl HtabState {
    /// The valid entries of `table`, a table of `2^order` bytes (read with the vCPUs paused).
    pub fn capture(order: u32, table: &dyn HptWords) -> Self {
        let entries = (0..table.entries())
            .filter_map(|i| {
                let (v, r) = table.load(i);
                (v & HPTE_V_VALID != 0).then_some((i, Hpte { v, r }))
            })
            .collect();
        Self { order, entries }
    }

    /// Checks the table against the VM's: `geometry` (its size, from its RAM) and `ram` bytes
    /// of guest RAM (from 0) that every entry's real page must lie in, or in the MMIO window.
    pub fn check(&self, geometry: HtabGeometry, ram: u64) -> Result<(), HtabSnapshotError> {
        if self.order != geometry.order() {
            return Err(HtabSnapshotError::Mismatch {
                what: "table order (log2 of its bytes, from the RAM size)",
                saved: self.order.into(),
                vm: geometry.order().into(),
            });
        }
        for (index, e) in &self.entries {
            if e.v & HPTE_V_VALID == 0 {
                // A change that clears the entry (decode_section let only zero ones through).
                continue;
            }
            // decode_htab checked the page size.
            let shift = e.page_sizes().map_or(12, |p| p.actual);
            let size = 1u64 << shift;
            let address = e.real_address(shift, 0);
            let inside = |base: u64, len: u64| {
                address >= base
                    && address
                        .checked_add(size)
                        .is_some_and(|end| end <= base + len)
            };
            if !inside(0, ram) && !inside(MMIO_BASE, MMIO_SIZE) {
                return Err(HtabSnapshotError::OutsideRam {
                    index: *index,
                    address,
                    size,
                    ram,
                });
            }
        }
        Ok(())
    }
}

/// The [`HTAB`] section; `None` for a VM without a hash table in tetra's memory.
pub fn htab_section(t: Option<&HtabState>) -> Section {
    let mut w = Writer::new();
    match t {
        None => w.u8(0),
        Some(t) => {
            w.u8(1);
            w.u32(t.order);
            w.u32(t.entries.len() as u32);
            for (i, e) in &t.entries {
                w.u64(*i);
                w.u64(e.v);
                w.u64(e.r);
            }
        }
    }
    Section::new(&HTAB.tag, TABLE_VERSION, w.into_bytes())
}

/// A kind 2 [`HTAB`] section: `entries` (by increasing index; a zero entry is one no longer
/// valid) change a table of `2^order` bytes.
pub fn changes_section(order: u32, entries: &[(u64, Hpte)]) -> Section {
    let mut w = Writer::new();
    w.u8(KIND_CHANGES);
    w.u32(order);
    w.u32(entries.len() as u32);
    for (i, e) in entries {
        w.u64(*i);
        w.u64(e.v);
        w.u64(e.r);
    }
    HTAB.section(w.into_bytes())
}

/// A decoded [`HTAB`] section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HtabSection {
    /// Kind 0: no hash table in tetra's memory.
    None,
    /// Kind 1: the whole table (every valid entry).
    Table(HtabState),
    /// Kind 2: changes to the table sent before; a zero entry is no longer valid.
    Changes(HtabState),
}

/// Tracks what a migration has sent of a table, so that each pre-copy pass sends only the
/// entries that changed since ([`HtabTracker::pass`]).
#[derive(Debug)]
pub struct HtabTracker {
    /// Each entry's (V, R) as last sent (or as last read, for an entry that is not valid).
    sent: Vec<(u64, u64)>,
}

impl HtabTracker {
    /// A tracker for a table of `entries` entries, of which nothing was sent yet (as if all
    /// were zero: the destination's new table is).
    pub fn new(entries: u64) -> Self {
        Self {
            sent: vec![(0, 0); entries as usize],
        }
    }

    /// The entries of `table` that differ from what was sent, by increasing index: a valid one
    /// as it is, one that is no longer valid as zero. `running`: the guest may be writing the
    /// table meanwhile (KVM-PR's vCPU threads), so an entry read in the middle of a change
    /// could be torn: one that would fail the destination's checks is held back (it stays
    /// "changed" and goes in a later pass; the last pass is made with the vCPUs paused).
    pub fn pass(&mut self, table: &dyn HptWords, running: bool) -> Vec<(u64, Hpte)> {
        let n = table.entries().min(self.sent.len() as u64);
        let mut out = Vec::new();
        for i in 0..n {
            let now = table.load(i);
            let was = self.sent[i as usize];
            if now == was {
                continue;
            }
            let e = Hpte { v: now.0, r: now.1 };
            if now.0 & HPTE_V_VALID != 0 {
                if running && check_entry(i, e).is_err() {
                    continue;
                }
                out.push((i, e));
            } else if was.0 & HPTE_V_VALID != 0 {
                out.push((i, Hpte { v: 0, r: 0 }));
            }
            self.sent[i as usize] = now;
        }
        out
    }
}

fn check_entry(index: u64, e: Hpte) -> Result<(), HtabSnapshotError> {
    let v = e.v;
    if v & HPTE_V_VALID == 0 {
        return Err(HtabSnapshotError::NotValid { index, v });
    }
    if v & HPTE_V_KVM_BITS != 0 {
        return Err(HtabSnapshotError::KvmBits { index, v });
    }
    if SegmentSize::from_b(v >> HPTE_V_SSIZE_SHIFT).is_none() {
        return Err(HtabSnapshotError::SegmentSize { index, v });
    }
    if e.page_sizes().is_none() {
        return Err(HtabSnapshotError::PageSize { index, v, r: e.r });
    }
    Ok(())
}

/// Decodes and validates an [`HTAB`] section of any kind (whether it fits the VM is
/// [`HtabState::check`]'s business).
pub fn decode_section(s: &Section) -> Result<HtabSection, HtabSnapshotError> {
    let version = HTAB.check(s.version)?;
    let mut r = Reader::new(&s.data);
    let changes = match r.u8("HTAB: the kind")? {
        0 => {
            r.finish("HTAB")?;
            return Ok(HtabSection::None);
        }
        1 => false,
        KIND_CHANGES if version >= 2 => true,
        k => return Err(HtabSnapshotError::Kind(k)),
    };
    let order = r.u32("HTAB: the table order")?;
    let g =
        HtabGeometry::new(order).map_err(|source| HtabSnapshotError::Order { order, source })?;
    let count = r.count("HTAB: the entry count", ENTRY_BYTES)?;
    if count as u64 > g.entries() {
        return Err(HtabSnapshotError::Count {
            count,
            entries: g.entries(),
        });
    }
    let mut entries: Vec<(u64, Hpte)> = Vec::with_capacity(count);
    for _ in 0..count {
        let index = r.u64("HTAB: an entry index")?;
        let e = Hpte {
            v: r.u64("HTAB: an entry's dword 0")?,
            r: r.u64("HTAB: an entry's dword 1")?,
        };
        if index >= g.entries() {
            return Err(HtabSnapshotError::Index {
                index,
                entries: g.entries(),
            });
        }
        match entries.last() {
            Some((previous, _)) if *previous == index => {
                return Err(HtabSnapshotError::Duplicate(index))
            }
            Some((previous, _)) if *previous > index => {
                return Err(HtabSnapshotError::Unordered {
                    index,
                    previous: *previous,
                })
            }
            _ => {}
        }
        // A change may clear an entry (all zero); anything else is a valid entry.
        if !(changes && e == Hpte { v: 0, r: 0 }) {
            check_entry(index, e)?;
        }
        entries.push((index, e));
    }
    r.finish("HTAB")?;
    let state = HtabState { order, entries };
    Ok(if changes {
        HtabSection::Changes(state)
    } else {
        HtabSection::Table(state)
    })
}

/// Decodes and validates a snapshot's [`HTAB`] section: a whole table, or none; a migration's
/// changes (kind 2) are refused ([`HtabSnapshotError::NoBase`]).
pub fn decode_htab(s: &Section) -> Result<Option<HtabState>, HtabSnapshotError> {
    match decode_section(s)? {
        HtabSection::None => Ok(None),
        HtabSection::Table(t) => Ok(Some(t)),
        HtabSection::Changes(_) => Err(HtabSnapshotError::NoBase),
    }
}

/// The snapshot's hash table: `None` when it has none (kind 0, or a snapshot written before
/// the section existed, which only a radix VM can restore).
pub fn decode_env(env: &Envelope) -> Result<Option<HtabState>, HtabSnapshotError> {
    match env.section(&HTAB.tag) {
        Some(s) => decode_htab(s),
        None => Ok(None),
    }
}

/// Holds the snapshot's table (`saved`) against the VM's: `vm` is its table's geometry when it
/// has one in tetra's memory, `ram` its RAM size. A snapshot without a table (a radix VM's, or
/// one older than the section) restores into a hash VM with an empty table, as it did before
/// the section existed (the 1.2 fixture, written on KVM-HV, restores on KVM-PR: its guest runs
/// in real mode); a table never goes into a VM that has none.
pub fn check_vm(
    saved: Option<&HtabState>,
    vm: Option<HtabGeometry>,
    ram: u64,
) -> Result<(), HtabSnapshotError> {
    match (saved, vm) {
        (None, _) => Ok(()),
        (Some(s), Some(g)) => s.check(g, ram),
        (Some(_), None) => Err(HtabSnapshotError::Mismatch {
            what: "hash tables in tetra's memory",
            saved: 1,
            vm: 0,
        }),
    }
}

#[cfg(test)]
mod tests;
