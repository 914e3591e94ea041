//! Guest RAM: one vm-memory map, held so that it is replaced as a whole, and its KVM slots.

use crate::hypervisor::{HvError, MemorySlot, VmOps};
use std::sync::Mutex;
pub use vm_memory::bitmap::AtomicBitmap;
use vm_memory::{
    Address, Bytes, GuestAddress, GuestAddressSpace, GuestMemoryAtomic, GuestMemoryBackend,
    GuestMemoryLoadGuard, GuestMemoryRegion,
};

/// A region of guest RAM.
pub type GuestRegionMmap = vm_memory::GuestRegionMmap<AtomicBitmap>;

/// The guest memory type tetra uses everywhere.
pub type GuestMemoryMmap = vm_memory::GuestMemoryMmap<AtomicBitmap>;

/// Errors building or writing guest memory.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// mmap of the guest RAM failed.
    #[error("cannot map {size_mib} MiB of guest RAM")]
    Map {
        /// Total size asked for.
        size_mib: u64,
        /// Why.
        #[source]
        source: vm_memory::mmap::FromRangesError,
    },
    /// KVM refused a slot.
    #[error("cannot register guest RAM slot {slot} at {addr:#x}")]
    Slot {
        /// Slot number.
        slot: u32,
        /// Its guest base.
        addr: u64,
        /// Why.
        #[source]
        source: HvError,
    },
    /// A map change that cannot be applied.
    #[error("memory map change {change:?}: {why}")]
    Change {
        /// The change.
        change: MapChange,
        /// Why not.
        why: String,
    },
    /// A write would fall outside guest RAM.
    #[error("{what} ({len} bytes at {addr:#x}) does not fit in guest RAM ({ram_mib} MiB)")]
    OutOfRange {
        /// What was being placed.
        what: String,
        /// Guest address.
        addr: u64,
        /// Length.
        len: u64,
        /// RAM size.
        ram_mib: u64,
    },
}

/// A change to the guest memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapChange {
    /// New anonymous RAM at `guest_addr`.
    Add {
        /// Guest-physical base.
        guest_addr: u64,
        /// Size in bytes (a multiple of the host page size).
        size: u64,
    },
    /// Remove the region that starts at `guest_addr`.
    Remove {
        /// Its guest-physical base.
        guest_addr: u64,
    },
    /// Move the region that starts at `from` to `to`, keeping its contents (the same host pages).
    Move {
        /// Its guest-physical base now.
        from: u64,
        /// Its new base.
        to: u64,
    },
}

/// Guest RAM and the KVM slots that map it.
pub struct GuestRam {
    map: GuestMemoryAtomic<GuestMemoryMmap>,
    slots: Mutex<Vec<MemorySlot>>,
    /// Regions whose host pages a moved region still uses (a move maps the same pages anew).
    keepalive: Mutex<Vec<std::sync::Arc<GuestRegionMmap>>>,
}

impl GuestRam {
    /// Maps anonymous RAM for `ranges` (guest address, size).
    pub fn new(ranges: &[(GuestAddress, usize)]) -> Result<Self, MemoryError> {
        let size_mib = ranges.iter().map(|r| r.1 as u64).sum::<u64>() >> 20;
        let map = GuestMemoryMmap::from_ranges(ranges)
            .map_err(|source| MemoryError::Map { size_mib, source })?;
        Ok(GuestRam::from_map(map))
    }

    /// The current map. Hold the guard only briefly: a map replacement waits for no one, but the
    /// old map stays alive (and mapped) as long as a guard refers to it.
    pub fn memory(&self) -> GuestMemoryLoadGuard<GuestMemoryMmap> {
        self.map.memory()
    }

    /// The atomic holder, for code that needs to follow map replacements.
    pub fn atomic(&self) -> &GuestMemoryAtomic<GuestMemoryMmap> {
        &self.map
    }

    /// Total RAM in bytes.
    pub fn size(&self) -> u64 {
        self.memory().iter().map(|r| r.len()).sum()
    }

    /// Gives every region of the current map to KVM as a slot, numbered from 0.
    pub fn register(&self, vm: &dyn VmOps) -> Result<(), MemoryError> {
        let mem = self.memory();
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        for (i, region) in mem.iter().enumerate() {
            let host_addr = region
                .get_host_address(vm_memory::MemoryRegionAddress(0))
                .expect("a mapped region has a host address") as u64;
            let slot = MemorySlot {
                slot: i as u32,
                guest_addr: region.start_addr().raw_value(),
                size: region.len(),
                host_addr,
                log_dirty: false,
                readonly: false,
            };
            // SAFETY: the region belongs to the map held in `self.map`, which lives as long as this
            // GuestRam; the VM (and with it every slot) is dropped before the GuestRam that backs it.
            unsafe { vm.set_memory_slot(&slot) }.map_err(|source| MemoryError::Slot {
                slot: slot.slot,
                addr: slot.guest_addr,
                source,
            })?;
            slots.push(slot);
        }
        Ok(())
    }

    /// Takes and clears what tetra itself wrote into guest RAM since the last call: for each
    /// region, its host address and a bitmap of its host pages (bit `i % 64` of word `i / 64` is
    /// page `i`), as vm-memory marked them on every write through `Bytes`.
    pub fn take_userspace_dirty(&self) -> Vec<(u64, Vec<u64>)> {
        self.memory()
            .iter()
            .map(|r| {
                let m: &vm_memory::MmapRegion<AtomicBitmap> = r;
                (m.as_ptr() as u64, m.bitmap().get_and_reset())
            })
            .collect()
    }

    /// The slots registered with KVM.
    pub fn slots(&self) -> Vec<MemorySlot> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Turns KVM's dirty log on or off for every slot.
    pub fn set_dirty_logging(&self, vm: &dyn VmOps, on: bool) -> Result<(), MemoryError> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        for s in slots.iter_mut() {
            let mut new = *s;
            new.log_dirty = on;
            // SAFETY: the slot's host range is a region of `self.map`, alive as long as `self`.
            unsafe { vm.set_memory_slot(&new) }.map_err(|source| MemoryError::Slot {
                slot: s.slot,
                addr: s.guest_addr,
                source,
            })?;
            *s = new;
        }
        Ok(())
    }

    /// Applies `changes` to the map and to KVM's slots, in order; the new map replaces the old one
    /// as a whole. The caller keeps the vCPUs out of the guest meanwhile and harvests the dirty
    /// log of every slot first ([`crate::dirty::DirtyLog::harvest`]): KVM drops a slot's log with
    /// the slot.
    pub fn apply(&self, vm: &dyn VmOps, changes: &[MapChange]) -> Result<(), MemoryError> {
        let guard = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let mut map: GuestMemoryMmap = (*self.memory()).clone();
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let log_dirty = slots.iter().any(|s| s.log_dirty);
        let page = page_size();
        for &change in changes {
            let bad = |why: &str| MemoryError::Change {
                change,
                why: why.to_string(),
            };
            let find = |slots: &Vec<MemorySlot>, base: u64| {
                slots
                    .iter()
                    .position(|s| s.guest_addr == base && s.size > 0)
            };
            let next_slot = slots.iter().map(|s| s.slot + 1).max().unwrap_or(0);
            match change {
                MapChange::Add { guest_addr, size } => {
                    if size == 0 || size % page != 0 || guest_addr % page != 0 {
                        return Err(bad("not page aligned"));
                    }
                    let region =
                        GuestRegionMmap::from_range(GuestAddress(guest_addr), size as usize, None)
                            .map_err(|e| bad(&e.to_string()))?;
                    map = map
                        .insert_region(std::sync::Arc::new(region))
                        .map_err(|e| bad(&e.to_string()))?;
                    let r = map
                        .find_region(GuestAddress(guest_addr))
                        .ok_or_else(|| bad("lost"))?;
                    let slot = MemorySlot {
                        slot: next_slot,
                        guest_addr,
                        size,
                        host_addr: r.as_ptr() as u64,
                        log_dirty,
                        readonly: false,
                    };
                    // SAFETY: the region is in `map`, which becomes the current map below.
                    unsafe { vm.set_memory_slot(&slot) }.map_err(|source| MemoryError::Slot {
                        slot: slot.slot,
                        addr: guest_addr,
                        source,
                    })?;
                    slots.push(slot);
                }
                MapChange::Remove { guest_addr }
                | MapChange::Move {
                    from: guest_addr, ..
                } => {
                    let i =
                        find(&slots, guest_addr).ok_or_else(|| bad("no region starts there"))?;
                    let old = slots[i];
                    let (m, region) = map
                        .remove_region(GuestAddress(guest_addr), old.size)
                        .map_err(|e| bad(&e.to_string()))?;
                    map = m;
                    let gone = MemorySlot { size: 0, ..old };
                    // SAFETY: deleting a slot hands no memory to KVM.
                    unsafe { vm.set_memory_slot(&gone) }.map_err(|source| MemoryError::Slot {
                        slot: old.slot,
                        addr: guest_addr,
                        source,
                    })?;
                    slots.remove(i);
                    if let MapChange::Move { to, .. } = change {
                        if to % page != 0 {
                            return Err(bad("not page aligned"));
                        }
                        // SAFETY: the new region maps the same host pages as `region`, which is
                        // kept alive (and mapped) for as long as this GuestRam.
                        let mapping = unsafe {
                            vm_memory::mmap::MmapRegion::build_raw(
                                region.as_ptr(),
                                old.size as usize,
                                libc::PROT_READ | libc::PROT_WRITE,
                                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                            )
                        }
                        .map_err(|e| bad(&e.to_string()))?;
                        let moved = GuestRegionMmap::new(mapping, GuestAddress(to))
                            .ok_or_else(|| bad("the moved region wraps the address space"))?;
                        map = map
                            .insert_region(std::sync::Arc::new(moved))
                            .map_err(|e| bad(&e.to_string()))?;
                        self.keepalive
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(region);
                        let slot = MemorySlot {
                            slot: old.slot,
                            guest_addr: to,
                            ..old
                        };
                        // SAFETY: the host range is kept mapped (above) for as long as self.
                        unsafe { vm.set_memory_slot(&slot) }.map_err(|source| {
                            MemoryError::Slot {
                                slot: slot.slot,
                                addr: to,
                                source,
                            }
                        })?;
                        slots.push(slot);
                    }
                }
            }
        }
        guard.replace(map);
        Ok(())
    }

    /// Wraps an existing map (a restored snapshot's file mapping).
    pub fn from_map(map: GuestMemoryMmap) -> Self {
        GuestRam {
            map: GuestMemoryAtomic::new(map),
            slots: Mutex::new(Vec::new()),
            keepalive: Mutex::new(Vec::new()),
        }
    }

    /// Bytes of guest RAM currently resident in host memory: the part of the VMM's RSS that is
    /// the guest's. Counted a chunk of pages at a time, so that counting adds only a fixed few
    /// KiB to the RSS it is compared with, whatever the RAM size.
    pub fn resident_bytes(&self) -> u64 {
        let mem = self.memory();
        mem.iter()
            .map(|r| resident_page_count(r) * page_size())
            .sum()
    }

    /// Writes `data` at `addr`, or says that `what` does not fit.
    pub fn write(&self, what: &str, addr: u64, data: &[u8]) -> Result<(), MemoryError> {
        write_guest(&self.memory(), what, addr, data)
    }
}

/// The host page size.
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64
}

/// Pages [`resident_pages`] counts per chunk: 4096 pagemap entries (32 KiB) or mincore bytes.
const COUNT_CHUNK_PAGES: u64 = 4096;

/// How many of `region`'s pages [`resident_pages`] would say are resident, without a vector of
/// them: pagemap read (or mincore asked) [`COUNT_CHUNK_PAGES`] at a time into one buffer.
pub fn resident_page_count(region: &GuestRegionMmap) -> u64 {
    use std::os::unix::fs::FileExt;
    let Ok(host) = region.get_host_address(vm_memory::MemoryRegionAddress(0)) else {
        return 0;
    };
    let page = page_size();
    let pages = region.len().div_ceil(page);
    let mut buf = vec![0u8; (COUNT_CHUNK_PAGES * 8) as usize];
    let pagemap = pagemap_works()
        .then(|| std::fs::File::open("/proc/self/pagemap").ok())
        .flatten();
    let mut count = 0;
    let mut first = 0;
    while first < pages {
        let n = (pages - first).min(COUNT_CHUNK_PAGES);
        let addr = host as u64 + first * page;
        count += match &pagemap {
            Some(f) => {
                let raw = &mut buf[..(n * 8) as usize];
                if f.read_exact_at(raw, addr / page * 8).is_err() {
                    return 0;
                }
                raw.chunks_exact(8)
                    .filter(|c| {
                        u64::from_ne_bytes((*c).try_into().unwrap_or([0; 8])) & PM_PRESENT != 0
                    })
                    .count() as u64
            }
            None => {
                let vec = &mut buf[..n as usize];
                let len = (n * page).min(region.len() - first * page) as usize;
                // SAFETY: `addr .. addr + len` lies in the region's own mapping, alive while the
                // region is; `vec` has one byte per page of it.
                let r = unsafe { libc::mincore(addr as *mut libc::c_void, len, vec.as_mut_ptr()) };
                if r != 0 {
                    return 0;
                }
                vec.iter().filter(|b| **b & 1 != 0).count() as u64
            }
        };
        first += n;
    }
    count
}

/// Per host page of `region`: is it mapped into this process (its share of the RSS)? Read from
/// `/proc/self/pagemap` (present bit); where that is unreadable, from `mincore`, which for a file
/// mapping also counts file pages that are only in the page cache. All false if both fail.
pub fn resident_pages(region: &GuestRegionMmap) -> Vec<bool> {
    pages_with(region, PM_PRESENT)
}

/// Per host page of `region`: does it hold data of its own, in RAM or in swap? (`pagemap`'s
/// present or swapped bits; `mincore` where pagemap is unreadable.) A page the guest wrote and
/// the host swapped out counts, so a snapshot never skips it.
pub fn populated_pages(region: &GuestRegionMmap) -> Vec<bool> {
    pages_with(region, PM_PRESENT | PM_SWAPPED)
}

/// Per host page of `region`: has its pagemap entry any of the `bits`? (`mincore` where pagemap
/// cannot be used.)
fn pages_with(region: &GuestRegionMmap, bits: u64) -> Vec<bool> {
    match pagemap(region) {
        Some(entries) => entries.iter().map(|e| e & bits != 0).collect(),
        None => mincore(region),
    }
}

/// `/proc/self/pagemap`: bit 63, the page is present in RAM.
const PM_PRESENT: u64 = 1 << 63;
/// `/proc/self/pagemap`: bit 62, the page is swapped out.
const PM_SWAPPED: u64 = 1 << 62;

/// The pagemap entries of `region`'s pages (one u64 each), or `None` if pagemap is unreadable or
/// does not describe this process's pages as it should (see [`pagemap_works`]).
fn pagemap(region: &GuestRegionMmap) -> Option<Vec<u64>> {
    let host = region
        .get_host_address(vm_memory::MemoryRegionAddress(0))
        .ok()?;
    if !pagemap_works() {
        return None;
    }
    pagemap_entries(host as u64, region.len())
}

/// The pagemap entries of the `len` bytes at host address `addr`, one per page.
fn pagemap_entries(addr: u64, len: u64) -> Option<Vec<u64>> {
    use std::os::unix::fs::FileExt;
    let page = page_size();
    let n = len.div_ceil(page) as usize;
    let file = std::fs::File::open("/proc/self/pagemap").ok()?;
    let mut raw = vec![0u8; n * 8];
    file.read_exact_at(&mut raw, addr / page * 8).ok()?;
    Some(
        raw.chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8])))
            .collect(),
    )
}

/// Whether `/proc/self/pagemap` tells touched pages from untouched ones here, checked once on
/// fresh pages touched in a pattern that the entries must match exactly. It does not under
/// user-mode emulation whose page size differs from the kernel's (qemu-user: the entries read
/// are some other memory's), nor where /proc is not mounted; `mincore` serves then.
pub(crate) fn pagemap_works() -> bool {
    /// Which of 16 fresh pages the check touches.
    const PATTERN: u16 = 0b1011_0010_1110_0101;
    static WORKS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WORKS.get_or_init(|| {
        let page = page_size() as usize;
        let len = 16 * page;
        // SAFETY: a fresh private anonymous mapping, unmapped below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return false;
        }
        for i in (0..16).filter(|i| PATTERN & (1 << i) != 0) {
            // SAFETY: the first byte of page `i` of the mapping made above.
            unsafe { std::ptr::write_volatile(p.cast::<u8>().add(i * page), 1) };
        }
        let entries = pagemap_entries(p as u64, len as u64);
        // SAFETY: the mapping made above, no longer used.
        unsafe { libc::munmap(p, len) };
        entries.is_some_and(|e| {
            e.len() == 16
                && e.iter().enumerate().all(|(i, e)| {
                    let touched = PATTERN & (1 << i) != 0;
                    let seen = e & (PM_PRESENT | PM_SWAPPED) != 0;
                    touched == seen
                })
        })
    })
}

/// Per host page of `region`: resident according to `mincore`. All false if the kernel refuses.
fn mincore(region: &GuestRegionMmap) -> Vec<bool> {
    let page = page_size() as usize;
    let len = region.len() as usize;
    let mut vec = vec![0u8; len.div_ceil(page)];
    let Ok(host) = region.get_host_address(vm_memory::MemoryRegionAddress(0)) else {
        return vec![false; vec.len()];
    };
    // SAFETY: `host .. host + len` is the region's own mapping, alive while the region is;
    // `vec` has one byte per page of it.
    let r = unsafe { libc::mincore(host.cast(), len, vec.as_mut_ptr()) };
    if r != 0 {
        return vec![false; vec.len()];
    }
    vec.iter().map(|b| b & 1 != 0).collect()
}

/// Checks that `len` bytes at `addr` lie in `mem`'s RAM, or says that `what` does not fit.
fn check_range(mem: &GuestMemoryMmap, what: &str, addr: u64, len: u64) -> Result<(), MemoryError> {
    let err = || MemoryError::OutOfRange {
        what: what.to_string(),
        addr,
        len,
        ram_mib: mem.iter().map(|r| r.len()).sum::<u64>() >> 20,
    };
    if len == 0 {
        return Ok(());
    }
    let last = addr.checked_add(len - 1).ok_or_else(err)?;
    if !mem.address_in_range(GuestAddress(addr)) || !mem.address_in_range(GuestAddress(last)) {
        return Err(err());
    }
    Ok(())
}

/// Whether every byte of `[first, last]` is guest RAM of `mem` (regions that meet are crossed; a
/// hole between them is not).
pub fn range_in(mem: &GuestMemoryMmap, first: u64, last: u64) -> bool {
    let mut at = first;
    while let Some(r) = mem.find_region(GuestAddress(at)) {
        let end = r.last_addr().raw_value();
        if end >= last {
            return true;
        }
        at = end + 1;
    }
    false
}

/// Writes `data` at `addr` in `mem`, or says that `what` does not fit.
pub fn write_guest(
    mem: &GuestMemoryMmap,
    what: &str,
    addr: u64,
    data: &[u8],
) -> Result<(), MemoryError> {
    check_range(mem, what, addr, data.len() as u64)?;
    if data.is_empty() {
        return Ok(());
    }
    mem.write_slice(data, GuestAddress(addr))
        .map_err(|_| MemoryError::OutOfRange {
            what: what.to_string(),
            addr,
            len: data.len() as u64,
            ram_mib: mem.iter().map(|r| r.len()).sum::<u64>() >> 20,
        })
}

/// Zeroes `len` bytes at `addr` in `mem` (a kernel's BSS), or says that `what` does not fit. The
/// range is checked first, and the zeroes are written a bounded chunk at a time: a length taken
/// from an image costs no allocation of its size.
pub fn zero_guest(
    mem: &GuestMemoryMmap,
    what: &str,
    addr: u64,
    len: u64,
) -> Result<(), MemoryError> {
    check_range(mem, what, addr, len)?;
    const CHUNK: u64 = 64 << 10;
    let zeroes = [0u8; CHUNK as usize];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(CHUNK);
        write_guest(mem, what, addr + done, &zeroes[..n as usize])?;
        done += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroes_in_chunks_and_refuses_outside_before_writing() {
        let ram = GuestRam::new(&[(GuestAddress(0), 0x40000)]).unwrap();
        let mem = ram.memory();
        write_guest(&mem, "ones", 0, &[1; 0x40000]).unwrap();
        zero_guest(&mem, "bss", 0x1000, 0x30000).unwrap();
        let mut b = vec![0u8; 0x40000];
        mem.read_slice(&mut b, GuestAddress(0)).unwrap();
        assert!(b[..0x1000].iter().all(|&x| x == 1));
        assert!(b[0x1000..0x31000].iter().all(|&x| x == 0));
        assert!(b[0x31000..].iter().all(|&x| x == 1));
        // A huge length is refused by the range check, before anything is written.
        assert!(zero_guest(&mem, "bss", 0x3f000, u64::MAX / 2).is_err());
        assert!(zero_guest(&mem, "bss", 0x3f000, 0x2000).is_err());
        assert_eq!(b[0x3f000], 1);
        mem.read_slice(&mut b[..1], GuestAddress(0x3f000)).unwrap();
        assert_eq!(b[0], 1);
    }

    #[test]
    fn resident_pages_are_counted_a_chunk_at_a_time_as_listed() {
        let page = page_size();
        // Two chunks and a part of a third.
        let pages = 2 * COUNT_CHUNK_PAGES + 77;
        let ram = GuestRam::new(&[(GuestAddress(0), (pages * page) as usize)]).unwrap();
        for p in (0..pages).filter(|p| p % 3 == 0 || *p == pages - 1) {
            ram.write("pattern", p * page, &[1]).unwrap();
        }
        let mem = ram.memory();
        let region = mem.iter().next().unwrap();
        let listed = resident_pages(region).iter().filter(|p| **p).count() as u64;
        assert!(listed > pages / 3, "{listed}");
        assert_eq!(resident_page_count(region), listed);
        assert_eq!(ram.resident_bytes(), listed * page);
    }

    #[test]
    fn writes_inside_and_refuses_outside() {
        let ram = GuestRam::new(&[(GuestAddress(0), 0x10000)]).unwrap();
        assert_eq!(ram.resident_bytes(), 0);
        ram.write("blob", 0xfff0, &[1; 16]).unwrap();
        assert_eq!(ram.resident_bytes(), page_size().min(0x10000));
        let e = ram.write("kernel", 0xfff8, &[1; 16]).unwrap_err();
        assert!(e.to_string().contains("kernel"), "{e}");
        assert!(ram.write("x", u64::MAX - 2, &[1; 8]).is_err());
        assert_eq!(ram.size(), 0x10000);
    }
}
