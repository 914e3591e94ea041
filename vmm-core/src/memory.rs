//! Guest RAM: one vm-memory map, held so that it is replaced as a whole, and its KVM slots.

use crate::hypervisor::{HvError, MemorySlot, VmOps};
use std::sync::Mutex;
use vm_memory::{
    Address, Bytes, GuestAddress, GuestAddressSpace, GuestMemory, GuestMemoryAtomic,
    GuestMemoryLoadGuard, GuestMemoryRegion,
};

/// The guest memory type tetra uses everywhere.
pub type GuestMemoryMmap = vm_memory::GuestMemoryMmap<()>;

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
        source: vm_memory::mmap::Error,
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

/// Guest RAM and the KVM slots that map it.
pub struct GuestRam {
    map: GuestMemoryAtomic<GuestMemoryMmap>,
    slots: Mutex<Vec<MemorySlot>>,
}

impl GuestRam {
    /// Maps anonymous RAM for `ranges` (guest address, size).
    pub fn new(ranges: &[(GuestAddress, usize)]) -> Result<Self, MemoryError> {
        let size_mib = ranges.iter().map(|r| r.1 as u64).sum::<u64>() >> 20;
        let map = GuestMemoryMmap::from_ranges(ranges)
            .map_err(|source| MemoryError::Map { size_mib, source })?;
        Ok(GuestRam {
            map: GuestMemoryAtomic::new(map),
            slots: Mutex::new(Vec::new()),
        })
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

    /// The slots registered with KVM.
    pub fn slots(&self) -> Vec<MemorySlot> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Wraps an existing map (a restored snapshot's file mapping).
    pub fn from_map(map: GuestMemoryMmap) -> Self {
        GuestRam {
            map: GuestMemoryAtomic::new(map),
            slots: Mutex::new(Vec::new()),
        }
    }

    /// Bytes of guest RAM currently resident in host memory (`mincore`): the part of the VMM's
    /// RSS that is the guest's.
    pub fn resident_bytes(&self) -> u64 {
        let mem = self.memory();
        mem.iter()
            .map(|r| resident_pages(r).iter().filter(|p| **p).count() as u64 * page_size())
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

/// Per host page of `region`: is it resident (`mincore`)? All false if the kernel refuses.
pub fn resident_pages(region: &vm_memory::GuestRegionMmap<()>) -> Vec<bool> {
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

/// Writes `data` at `addr` in `mem`, or says that `what` does not fit.
pub fn write_guest(
    mem: &GuestMemoryMmap,
    what: &str,
    addr: u64,
    data: &[u8],
) -> Result<(), MemoryError> {
    let err = || MemoryError::OutOfRange {
        what: what.to_string(),
        addr,
        len: data.len() as u64,
        ram_mib: mem.iter().map(|r| r.len()).sum::<u64>() >> 20,
    };
    if data.is_empty() {
        return Ok(());
    }
    let last = addr.checked_add(data.len() as u64 - 1).ok_or_else(err)?;
    if !mem.address_in_range(GuestAddress(addr)) || !mem.address_in_range(GuestAddress(last)) {
        return Err(err());
    }
    mem.write_slice(data, GuestAddress(addr)).map_err(|_| err())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_inside_and_refuses_outside() {
        let ram = GuestRam::new(&[(GuestAddress(0), 0x10000)]).unwrap();
        assert_eq!(ram.resident_bytes(), 0);
        ram.write("blob", 0xfff0, &[1; 16]).unwrap();
        assert_eq!(ram.resident_bytes(), 4096);
        let e = ram.write("kernel", 0xfff8, &[1; 16]).unwrap_err();
        assert!(e.to_string().contains("kernel"), "{e}");
        assert!(ram.write("x", u64::MAX - 2, &[1; 8]).is_err());
        assert_eq!(ram.size(), 0x10000);
    }
}
