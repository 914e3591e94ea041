//! Dirty logging (seed 001): which guest pages changed since they were last copied.
//!
//! KVM keeps a log per memory slot. [`DirtyLog::harvest`] moves it into tetra's own pending
//! bitmaps (with `KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2` it also re-protects exactly the pages it
//! took, with `KVM_CLEAR_DIRTY_LOG`); queries then answer from the pending bits, bounded both by
//! range and by work: "what is dirty in `[a, b)`", "at most `n` pages" ([`DirtyLog::take`]).
//!
//! KVM logs only what the guest writes. What tetra itself writes into guest RAM (a loader, a
//! device, a migration destination filling pages) is marked by vm-memory in each region's
//! [`AtomicBitmap`](vm_memory::bitmap::AtomicBitmap): every write through vm-memory's `Bytes`
//! sets its pages' bits. A harvest takes and clears those bits too, so a page a device writes
//! after the last pre-copy round still reaches the destination.
//!
//! Pending bits belong to a region's host pages, not to its slot: a memory map change harvests
//! first (KVM drops a slot's log with the slot), and a moved region keeps its bits
//! ([`DirtyLog::remap`]). With `KVM_DIRTY_LOG_INITIALLY_SET` turning the log on costs no
//! write-protection pass: every page starts dirty and is protected as it is first harvested.

use crate::hypervisor::{HvError, VmOps};
use crate::memory::{page_size, GuestRam, MemoryError};
use std::ops::Range;

/// `KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2`.
pub const KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: u32 = 168;
/// `KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE`.
pub const KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE: u64 = 1;
/// `KVM_DIRTY_LOG_INITIALLY_SET`.
pub const KVM_DIRTY_LOG_INITIALLY_SET: u64 = 2;

/// Errors of dirty logging.
#[derive(Debug, thiserror::Error)]
pub enum DirtyError {
    /// Turning the log on or off, or a map change, failed.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// A KVM call failed.
    #[error("slot {slot}")]
    Hv {
        /// The slot.
        slot: u32,
        /// Why.
        #[source]
        source: HvError,
    },
}

struct LogRegion {
    slot: u32,
    guest_addr: u64,
    size: u64,
    host: u64,
    pending: Vec<u64>,
}

impl LogRegion {
    fn pages(&self, page: u64) -> u64 {
        self.size.div_ceil(page)
    }
}

/// The dirty log of a VM's RAM.
pub struct DirtyLog {
    manual: bool,
    initially_set: bool,
    page: u64,
    regions: Vec<LogRegion>,
}

impl DirtyLog {
    /// Turns dirty logging on for every slot of `ram` (manual protection when KVM offers it).
    pub fn start(vm: &dyn VmOps, ram: &GuestRam) -> Result<Self, DirtyError> {
        Self::start_with(vm, ram, true)
    }

    /// [`DirtyLog::start`], optionally without manual protection (the classic log: KVM
    /// write-protects every page when logging starts, and a harvest clears the log it returns).
    pub fn start_with(vm: &dyn VmOps, ram: &GuestRam, manual: bool) -> Result<Self, DirtyError> {
        let offered = vm.check_extension(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2).max(0) as u64;
        let mut mode = 0;
        if manual && offered & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE != 0 {
            mode = offered & (KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET);
            if vm
                .enable_cap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, [mode, 0, 0, 0])
                .is_err()
            {
                mode = 0;
            }
        }
        ram.set_dirty_logging(vm, true)?;
        // A fresh log has every page pending, whatever KVM offers: with INITIALLY_SET the first
        // harvest reports them all; without it, they are marked here. Userspace writes made
        // before now are therefore covered too, and their bits are dropped.
        ram.take_userspace_dirty();
        let mut log = DirtyLog {
            manual: mode & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE != 0,
            initially_set: mode & KVM_DIRTY_LOG_INITIALLY_SET != 0,
            page: page_size(),
            regions: Vec::new(),
        };
        log.remap(ram);
        if !log.initially_set {
            log.mark_all();
        }
        Ok(log)
    }

    /// Whether KVM's manual protection is in use.
    pub fn manual(&self) -> bool {
        self.manual
    }

    /// Whether a freshly logged slot reports every page dirty (`KVM_DIRTY_LOG_INITIALLY_SET`).
    pub fn initially_set(&self) -> bool {
        self.initially_set
    }

    /// Follows a change of `ram`'s map: regions keep their pending bits by host pages (a moved
    /// region keeps them), removed regions drop theirs, new ones start empty.
    pub fn remap(&mut self, ram: &GuestRam) {
        let mut old = std::mem::take(&mut self.regions);
        for s in ram.slots() {
            let pending = old
                .iter()
                .position(|r| r.host == s.host_addr && r.size == s.size)
                .map(|i| old.swap_remove(i).pending)
                .unwrap_or_else(|| vec![0; s.size.div_ceil(self.page).div_ceil(64) as usize]);
            self.regions.push(LogRegion {
                slot: s.slot,
                guest_addr: s.guest_addr,
                size: s.size,
                host: s.host_addr,
                pending,
            });
        }
        self.regions.sort_by_key(|r| r.guest_addr);
    }

    /// Moves KVM's dirty logs and the userspace dirty bitmaps of `ram` into the pending bits;
    /// returns how many pages were newly dirty.
    pub fn harvest(&mut self, vm: &dyn VmOps, ram: &GuestRam) -> Result<u64, DirtyError> {
        let mut new = 0;
        for (host, bits) in ram.take_userspace_dirty() {
            if let Some(r) = self.regions.iter_mut().find(|r| r.host == host) {
                for (p, b) in r.pending.iter_mut().zip(&bits) {
                    new += u64::from((b & !*p).count_ones());
                    *p |= b;
                }
            }
        }
        for r in &mut self.regions {
            let log = vm
                .dirty_log(r.slot, r.size)
                .map_err(|source| DirtyError::Hv {
                    slot: r.slot,
                    source,
                })?;
            if self.manual && log.iter().any(|w| *w != 0) {
                vm.clear_dirty_log(r.slot, 0, r.pages(self.page) as u32, &log)
                    .map_err(|source| DirtyError::Hv {
                        slot: r.slot,
                        source,
                    })?;
            }
            for (p, l) in r.pending.iter_mut().zip(&log) {
                new += u64::from((l & !*p).count_ones());
                *p |= l;
            }
        }
        Ok(new)
    }

    /// Pages pending.
    pub fn pending(&self) -> u64 {
        self.regions
            .iter()
            .map(|r| {
                r.pending
                    .iter()
                    .map(|w| u64::from(w.count_ones()))
                    .sum::<u64>()
            })
            .sum()
    }

    /// Marks every page of every region pending (a log started without `INITIALLY_SET`).
    pub fn mark_all(&mut self) {
        let page = self.page;
        for r in &mut self.regions {
            let pages = r.pages(page) as usize;
            for (i, w) in r.pending.iter_mut().enumerate() {
                let bits = (pages - i * 64).min(64);
                *w = if bits == 64 {
                    u64::MAX
                } else {
                    (1u64 << bits) - 1
                };
            }
        }
    }

    /// Drops pending bits outside `keep` (pages the guest never touched need no copy).
    pub fn retain(&mut self, mut keep: impl FnMut(u64) -> bool) {
        let page = self.page;
        for r in &mut self.regions {
            for (i, w) in r.pending.iter_mut().enumerate() {
                let mut bits = *w;
                while bits != 0 {
                    let b = bits.trailing_zeros() as u64;
                    bits &= bits - 1;
                    if !keep(r.guest_addr + (i as u64 * 64 + b) * page) {
                        *w &= !(1 << b);
                    }
                }
            }
        }
    }

    /// Takes up to `max` pending pages within `range` (guest-physical), lowest first; they are no
    /// longer pending. The work is bounded by the range and by `max`.
    pub fn take(&mut self, range: Range<u64>, max: usize) -> Vec<u64> {
        let page = self.page;
        let mut out = Vec::new();
        for r in &mut self.regions {
            if out.len() >= max {
                break;
            }
            let start = range.start.max(r.guest_addr);
            let end = range.end.min(r.guest_addr + r.size);
            if start >= end {
                continue;
            }
            let first = (start - r.guest_addr) / page;
            let last = (end - r.guest_addr).div_ceil(page);
            let mut p = first;
            while p < last && out.len() < max {
                let (w, b) = ((p / 64) as usize, p % 64);
                let word = r.pending[w] >> b;
                if word == 0 {
                    p = (p | 63) + 1;
                    continue;
                }
                p += u64::from(word.trailing_zeros());
                if p >= last {
                    break;
                }
                r.pending[(p / 64) as usize] &= !(1 << (p % 64));
                out.push(r.guest_addr + p * page);
                p += 1;
            }
        }
        out
    }

    /// Turns logging off.
    pub fn stop(self, vm: &dyn VmOps, ram: &GuestRam) -> Result<(), DirtyError> {
        ram.set_dirty_logging(vm, false)?;
        Ok(())
    }

    /// The host page size the log counts in.
    pub fn page_size(&self) -> u64 {
        self.page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(regions: &[(u64, u64, &[u64])]) -> DirtyLog {
        DirtyLog {
            manual: false,
            initially_set: false,
            page: 4096,
            regions: regions
                .iter()
                .enumerate()
                .map(|(i, (base, size, pending))| LogRegion {
                    slot: i as u32,
                    guest_addr: *base,
                    size: *size,
                    host: 0x1000_0000 * (i as u64 + 1),
                    pending: pending.to_vec(),
                })
                .collect(),
        }
    }

    #[test]
    fn take_is_bounded_by_range_and_count() {
        // Region 0: pages 0, 3, 64, 127 dirty; region 1 at 1 GiB: page 5.
        let mut l = log_with(&[
            (0, 128 * 4096, &[0b1001, 1 | (1 << 63)]),
            (1 << 30, 64 * 4096, &[1 << 5]),
        ]);
        assert_eq!(l.pending(), 5);
        assert_eq!(l.take(0..4 * 4096, 10), vec![0, 3 * 4096]);
        assert_eq!(l.pending(), 3);
        // At most one page, and a range spanning both regions.
        assert_eq!(l.take(0..u64::MAX, 1), vec![64 * 4096]);
        assert_eq!(
            l.take(100 * 4096..(1 << 30) + 6 * 4096, 10),
            vec![127 * 4096, (1 << 30) + 5 * 4096]
        );
        assert_eq!(l.pending(), 0);
        assert!(l.take(0..u64::MAX, 10).is_empty());
    }

    #[test]
    fn mark_all_and_retain() {
        let mut l = log_with(&[(0, 70 * 4096, &[0, 0])]);
        l.mark_all();
        assert_eq!(l.pending(), 70);
        l.retain(|gpa| gpa < 10 * 4096);
        assert_eq!(l.pending(), 10);
        assert_eq!(l.take(0..u64::MAX, 100).len(), 10);
    }
}
