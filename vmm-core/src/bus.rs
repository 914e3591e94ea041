//! The port-I/O and MMIO buses: address ranges mapped to devices.

use std::sync::{Arc, Mutex};

/// A device on a bus. `offset` is relative to the base the device was inserted at.
pub trait BusDevice: Send {
    /// The guest reads `data.len()` bytes at `offset`.
    fn read(&mut self, offset: u64, data: &mut [u8]);
    /// The guest writes `data` at `offset`.
    fn write(&mut self, offset: u64, data: &[u8]);
}

/// A device shared between the bus and whoever else drives it (the event loop, snapshots).
pub type SharedDevice = Arc<Mutex<dyn BusDevice>>;

/// Errors building a bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The new range overlaps a device already on the bus.
    #[error("bus range {base:#x}+{len:#x} overlaps an existing device")]
    Overlap {
        /// Base of the rejected range.
        base: u64,
        /// Its length.
        len: u64,
    },
    /// A zero-length or wrapping range.
    #[error("bus range {base:#x}+{len:#x} is empty or wraps")]
    BadRange {
        /// Base of the rejected range.
        base: u64,
        /// Its length.
        len: u64,
    },
}

struct Entry {
    base: u64,
    len: u64,
    device: SharedDevice,
}

/// Address ranges sorted by base, searched by binary search on every exit.
#[derive(Default)]
pub struct Bus {
    entries: Vec<Entry>,
}

impl Bus {
    /// An empty bus.
    pub fn new() -> Self {
        Bus::default()
    }

    /// Maps `device` at `[base, base + len)`.
    pub fn insert(&mut self, base: u64, len: u64, device: SharedDevice) -> Result<(), BusError> {
        let end = base
            .checked_add(len)
            .filter(|_| len > 0)
            .ok_or(BusError::BadRange { base, len })?;
        let idx = self.entries.partition_point(|e| e.base < base);
        let overlaps_prev = idx > 0 && {
            let p = &self.entries[idx - 1];
            p.base + p.len > base
        };
        let overlaps_next = idx < self.entries.len() && self.entries[idx].base < end;
        if overlaps_prev || overlaps_next {
            return Err(BusError::Overlap { base, len });
        }
        self.entries.insert(idx, Entry { base, len, device });
        Ok(())
    }

    fn find(&self, addr: u64, size: usize) -> Option<(&Entry, u64)> {
        let idx = self.entries.partition_point(|e| e.base <= addr);
        let e = self.entries.get(idx.checked_sub(1)?)?;
        let offset = addr - e.base;
        // The whole access must fall inside the device's range.
        (offset.checked_add(size as u64)? <= e.len).then_some((e, offset))
    }

    /// Dispatches a read; returns false when no device covers it.
    pub fn read(&self, addr: u64, data: &mut [u8]) -> bool {
        match self.find(addr, data.len()) {
            Some((e, off)) => {
                e.device
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .read(off, data);
                true
            }
            None => false,
        }
    }

    /// Dispatches a write; returns false when no device covers it.
    pub fn write(&self, addr: u64, data: &[u8]) -> bool {
        match self.find(addr, data.len()) {
            Some((e, off)) => {
                e.device
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .write(off, data);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo(Vec<u8>);
    impl BusDevice for Echo {
        fn read(&mut self, offset: u64, data: &mut [u8]) {
            for (i, b) in data.iter_mut().enumerate() {
                *b = self.0[offset as usize + i];
            }
        }
        fn write(&mut self, offset: u64, data: &[u8]) {
            self.0[offset as usize..offset as usize + data.len()].copy_from_slice(data);
        }
    }

    fn dev(n: usize) -> SharedDevice {
        Arc::new(Mutex::new(Echo(vec![0; n])))
    }

    #[test]
    fn dispatches_by_range_and_offset() {
        let mut bus = Bus::new();
        bus.insert(0x100, 8, dev(8)).unwrap();
        bus.insert(0x200, 4, dev(4)).unwrap();
        assert!(bus.write(0x104, &[1, 2]));
        let mut out = [0u8; 2];
        assert!(bus.read(0x104, &mut out));
        assert_eq!(out, [1, 2]);
        // Straddling the end of a device, or hitting a gap, is not dispatched.
        assert!(!bus.read(0x107, &mut [0u8; 2]));
        assert!(!bus.read(0x150, &mut [0u8; 1]));
        assert!(!bus.read(0xff, &mut [0u8; 1]));
        assert!(bus.read(0x203, &mut [0u8; 1]));
    }

    #[test]
    fn rejects_overlaps_and_bad_ranges() {
        let mut bus = Bus::new();
        bus.insert(0x100, 0x10, dev(16)).unwrap();
        assert!(matches!(
            bus.insert(0x10f, 1, dev(1)),
            Err(BusError::Overlap { .. })
        ));
        assert!(matches!(
            bus.insert(0xf8, 9, dev(9)),
            Err(BusError::Overlap { .. })
        ));
        assert!(matches!(
            bus.insert(0x50, 0, dev(1)),
            Err(BusError::BadRange { .. })
        ));
        assert!(matches!(
            bus.insert(u64::MAX, 2, dev(1)),
            Err(BusError::BadRange { .. })
        ));
        bus.insert(0x110, 1, dev(1)).unwrap();
        bus.insert(0xf0, 0x10, dev(16)).unwrap();
    }
}
