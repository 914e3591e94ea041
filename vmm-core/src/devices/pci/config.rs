//! A type-0 PCI configuration space (PCI Local Bus 3.0, 6.1): 256 bytes with a write mask per
//! byte, a capabilities list and 64-bit memory BARs.
//!
//! The write mask does the BAR sizing protocol by itself: a BAR of size `s` has the address bits
//! below `s` read-only (zero), so writing all ones and reading back gives `!(s - 1)` with the
//! type bits, as the guest expects. Accesses anywhere in the 4 KiB of an ECAM function are
//! answered: bytes past 256 read as zero and ignore writes; an access that is not 1, 2 or 4 bytes
//! wide, or not naturally aligned, reads as all ones and writes nothing.

/// Bytes of a (conventional) configuration space.
pub const CONFIG_LEN: usize = 256;
/// The first byte of the capabilities list.
const CAPS_START: usize = 0x40;

/// Command register: memory space decoding.
pub const COMMAND_MEMORY: u16 = 1 << 1;
/// Command register bits the guest may set: I/O, memory, bus master, parity, SERR, INTx
/// disable.
const COMMAND_WRITABLE: u16 = 0x0547;
/// Status register: a capabilities list is present.
const STATUS_CAP_LIST: u16 = 1 << 4;
/// A 64-bit memory BAR's type bits.
const BAR_MEM64: u32 = 0b100;

/// Errors building a configuration space.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The capabilities do not fit in the 192 bytes after the header.
    #[error("a {len}-byte capability does not fit the configuration space")]
    Full {
        /// The capability's length.
        len: usize,
    },
    /// A BAR size that is not a power of two of at least 16 bytes, or a BAR past the sixth.
    #[error("BAR {index} of {size:#x} bytes (a power of two from 16, BARs 0 to 4 for 64 bits)")]
    Bar {
        /// The BAR.
        index: usize,
        /// Its size.
        size: u64,
    },
}

/// The identity of a function: what its header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciId {
    /// Vendor id.
    pub vendor: u16,
    /// Device id.
    pub device: u16,
    /// Revision.
    pub revision: u8,
    /// Class code: class, subclass, programming interface (`0x06_00_00` a host bridge).
    pub class: u32,
    /// Subsystem vendor id.
    pub subsystem_vendor: u16,
    /// Subsystem id.
    pub subsystem: u16,
}

/// One function's configuration space.
#[derive(Clone)]
pub struct ConfigSpace {
    bytes: [u8; CONFIG_LEN],
    wmask: [u8; CONFIG_LEN],
    /// Each BAR's size (a 64-bit BAR's upper half has none).
    bars: [u64; 6],
    /// The next free byte of the capabilities list and the last capability's offset.
    next_cap: usize,
    last_cap: Option<usize>,
}

impl ConfigSpace {
    /// A header for `id`: no BARs, no capabilities, no interrupt pin.
    pub fn new(id: PciId) -> Self {
        let mut c = ConfigSpace {
            bytes: [0; CONFIG_LEN],
            wmask: [0; CONFIG_LEN],
            bars: [0; 6],
            next_cap: CAPS_START,
            last_cap: None,
        };
        c.set16(0x00, id.vendor);
        c.set16(0x02, id.device);
        c.bytes[0x08] = id.revision;
        c.bytes[0x09..0x0c].copy_from_slice(&id.class.to_le_bytes()[..3]);
        c.set16(0x2c, id.subsystem_vendor);
        c.set16(0x2e, id.subsystem);
        c.wmask[0x04..0x06].copy_from_slice(&COMMAND_WRITABLE.to_le_bytes());
        // Cache line size and latency timer: storage the guest may use.
        c.wmask[0x0c] = 0xff;
        c.wmask[0x0d] = 0xff;
        // Interrupt line: the guest's note of its routing.
        c.wmask[0x3c] = 0xff;
        c
    }

    fn set16(&mut self, at: usize, v: u16) {
        self.bytes[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }

    fn get32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.bytes[at..at + 4].try_into().expect("4 bytes"))
    }

    /// Makes BAR `index` (and `index + 1`, its upper half) a 64-bit memory BAR of `size` bytes at
    /// `addr` (rounded down to the size).
    pub fn add_bar64(&mut self, index: usize, size: u64, addr: u64) -> Result<(), ConfigError> {
        if index > 4 || size < 16 || !size.is_power_of_two() {
            return Err(ConfigError::Bar { index, size });
        }
        self.bars[index] = size;
        let at = 0x10 + 4 * index;
        let mask = !(size - 1);
        self.wmask[at..at + 4].copy_from_slice(&((mask as u32) & !0xf).to_le_bytes());
        self.wmask[at + 4..at + 8].copy_from_slice(&((mask >> 32) as u32).to_le_bytes());
        self.set_bar_address(index, addr);
        Ok(())
    }

    fn set_bar_address(&mut self, index: usize, addr: u64) {
        let at = 0x10 + 4 * index;
        let addr = addr & !(self.bars[index] - 1);
        self.bytes[at..at + 4].copy_from_slice(&((addr as u32) | BAR_MEM64).to_le_bytes());
        self.bytes[at + 4..at + 8].copy_from_slice(&((addr >> 32) as u32).to_le_bytes());
    }

    /// BAR `index`'s address and size, if it is a BAR.
    pub fn bar(&self, index: usize) -> Option<(u64, u64)> {
        let size = *self.bars.get(index).filter(|s| **s != 0)?;
        let at = 0x10 + 4 * index;
        let addr = u64::from(self.get32(at) & !0xf) | (u64::from(self.get32(at + 4)) << 32);
        Some((addr, size))
    }

    /// The command register.
    pub fn command(&self) -> u16 {
        u16::from_le_bytes([self.bytes[4], self.bytes[5]])
    }

    /// Where BAR `index` decodes now: its address and size while memory decoding is on.
    pub fn decoded_bar(&self, index: usize) -> Option<(u64, u64)> {
        (self.command() & COMMAND_MEMORY != 0)
            .then(|| self.bar(index))
            .flatten()
    }

    /// Appends a capability with id `id` and `body` (the bytes after the id and next pointer);
    /// `wmask` is the write mask of the whole capability (id and next pointer included, which
    /// stay read-only whatever it says). Returns the capability's offset.
    pub fn add_capability(
        &mut self,
        id: u8,
        body: &[u8],
        wmask: &[u8],
    ) -> Result<usize, ConfigError> {
        let len = 2 + body.len();
        // Capabilities are dword aligned.
        let at = self.next_cap;
        let end = at + len;
        if end > CONFIG_LEN {
            return Err(ConfigError::Full { len });
        }
        self.bytes[at] = id;
        self.bytes[at + 1] = 0;
        self.bytes[at + 2..end].copy_from_slice(body);
        for (i, m) in wmask.iter().enumerate().skip(2).take(len - 2) {
            self.wmask[at + i] = *m;
        }
        match self.last_cap {
            None => {
                self.bytes[0x34] = at as u8;
                let status = STATUS_CAP_LIST;
                self.bytes[0x06..0x08].copy_from_slice(&status.to_le_bytes());
            }
            Some(prev) => self.bytes[prev + 1] = at as u8,
        }
        self.last_cap = Some(at);
        self.next_cap = end.next_multiple_of(4);
        Ok(at)
    }

    /// Reads `data.len()` bytes at `offset` (an ECAM offset: 0 to 4095).
    pub fn read(&self, offset: u64, data: &mut [u8]) {
        if !valid(offset, data.len()) {
            data.fill(0xff);
            return;
        }
        let at = offset as usize;
        if at >= CONFIG_LEN {
            data.fill(0);
            return;
        }
        data.copy_from_slice(&self.bytes[at..at + data.len()]);
    }

    /// Writes `data` at `offset` through the write mask; returns whether it was taken (a valid
    /// access inside the 256 bytes).
    pub fn write(&mut self, offset: u64, data: &[u8]) -> bool {
        if !valid(offset, data.len()) || offset as usize >= CONFIG_LEN {
            return false;
        }
        let at = offset as usize;
        for (i, b) in data.iter().enumerate() {
            let m = self.wmask[at + i];
            self.bytes[at + i] = (self.bytes[at + i] & !m) | (b & m);
        }
        true
    }

    /// The raw bytes (for snapshots).
    pub fn bytes(&self) -> &[u8; CONFIG_LEN] {
        &self.bytes
    }

    /// Restores bytes [`Self::bytes`] gave, keeping the read-only ones as this function has
    /// them: a snapshot can change only what the guest could.
    pub fn restore(&mut self, bytes: &[u8; CONFIG_LEN]) {
        for (i, b) in bytes.iter().enumerate() {
            let m = self.wmask[i];
            self.bytes[i] = (self.bytes[i] & !m) | (b & m);
        }
    }

    /// Sets bytes of a capability the device itself changes (read-only to the guest).
    pub fn set_bytes(&mut self, offset: usize, data: &[u8]) {
        if let Some(dst) = self.bytes.get_mut(offset..offset + data.len()) {
            dst.copy_from_slice(data);
        }
    }
}

/// 1, 2 or 4 bytes, naturally aligned, inside an ECAM function's 4 KiB.
fn valid(offset: u64, len: usize) -> bool {
    matches!(len, 1 | 2 | 4) && offset.is_multiple_of(len as u64) && offset < 4096
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space() -> ConfigSpace {
        ConfigSpace::new(PciId {
            vendor: 0x1af4,
            device: 0x1044,
            revision: 1,
            class: 0xff_00_00,
            subsystem_vendor: 0x1af4,
            subsystem: 4,
        })
    }

    fn r32(c: &ConfigSpace, at: u64) -> u32 {
        let mut b = [0; 4];
        c.read(at, &mut b);
        u32::from_le_bytes(b)
    }

    #[test]
    fn header_fields_and_read_only_bytes() {
        let mut c = space();
        assert_eq!(r32(&c, 0), 0x1044_1af4);
        assert_eq!(r32(&c, 8), 0xff00_0001);
        assert_eq!(r32(&c, 0x2c), 0x0004_1af4);
        // Ids are read-only; the command register takes only its writable bits.
        assert!(c.write(0, &[0, 0, 0, 0]));
        assert_eq!(r32(&c, 0), 0x1044_1af4);
        c.write(4, &0xffffu16.to_le_bytes());
        assert_eq!(c.command(), COMMAND_WRITABLE);
        // No capabilities yet: the status bit and pointer are clear.
        assert_eq!(r32(&c, 4) >> 16, 0);
        assert_eq!(r32(&c, 0x34), 0);
    }

    #[test]
    fn odd_sizes_unaligned_and_past_the_end() {
        let mut c = space();
        let mut b3 = [0u8; 3];
        c.read(0, &mut b3);
        assert_eq!(b3, [0xff; 3], "a 3-byte access reads all ones");
        let mut b = [0u8; 2];
        c.read(1, &mut b);
        assert_eq!(b, [0xff; 2], "an unaligned access reads all ones");
        let mut b = [0u8; 4];
        c.read(0x100, &mut b);
        assert_eq!(b, [0; 4], "the extended space reads zero");
        c.read(4096, &mut b);
        assert_eq!(b, [0xff; 4], "past the function's 4 KiB");
        c.read(u64::MAX - 3, &mut b);
        assert_eq!(b, [0xff; 4]);
        assert!(!c.write(0x100, &[1, 2, 3, 4]));
        assert!(!c.write(5, &[1, 2]));
        assert!(!c.write(4, &[1, 2, 3]));
        assert!(!c.write(u64::MAX, &[1]));
        let mut one = [0u8; 1];
        c.read(0x2, &mut one);
        assert_eq!(one, [0x44]);
    }

    #[test]
    fn bar64_sizing_protocol_and_relocation() {
        let mut c = space();
        assert_eq!(
            c.add_bar64(0, 0x3000, 0),
            Err(ConfigError::Bar {
                index: 0,
                size: 0x3000
            })
        );
        assert!(c.add_bar64(5, 0x1000, 0).is_err());
        c.add_bar64(0, 0x8000, 0xe000_8000).unwrap();
        assert_eq!(r32(&c, 0x10), 0xe000_8004);
        assert_eq!(r32(&c, 0x14), 0);
        assert_eq!(c.bar(0), Some((0xe000_8000, 0x8000)));
        assert_eq!(c.bar(1), None);
        assert_eq!(c.decoded_bar(0), None, "memory decoding is off");
        // Sizing: all ones in, the size mask and type bits out.
        c.write(0x10, &[0xff; 4]);
        c.write(0x14, &[0xff; 4]);
        assert_eq!(r32(&c, 0x10), 0xffff_8004);
        assert_eq!(r32(&c, 0x14), 0xffff_ffff);
        // A new address, above 4 GiB, low bits dropped.
        c.write(0x10, &0x1234_5678u32.to_le_bytes());
        c.write(0x14, &0x10u32.to_le_bytes());
        assert_eq!(c.bar(0), Some((0x10_1234_0000, 0x8000)));
        c.write(4, &COMMAND_MEMORY.to_le_bytes());
        assert_eq!(c.decoded_bar(0), Some((0x10_1234_0000, 0x8000)));
        // Byte writes into a BAR go through the mask too.
        c.write(0x11, &[0xff]);
        assert_eq!(r32(&c, 0x10) & 0xffff, 0x8004);
    }

    #[test]
    fn capability_list_links_and_fills() {
        let mut c = space();
        let a = c.add_capability(0x09, &[14, 1, 0, 0], &[0xff; 6]).unwrap();
        let b = c.add_capability(0x11, &[0; 10], &[0; 12]).unwrap();
        assert_eq!((a, b), (0x40, 0x48));
        assert_eq!(r32(&c, 4) >> 16, u32::from(STATUS_CAP_LIST));
        assert_eq!(r32(&c, 0x34) & 0xff, 0x40);
        assert_eq!(r32(&c, 0x40) & 0xffff, 0x4809);
        assert_eq!(r32(&c, 0x48) & 0xffff, 0x0011);
        // The id and next pointer stay read-only, the rest as masked.
        c.write(0x40, &[0, 0, 0x77, 0]);
        assert_eq!(r32(&c, 0x40), 0x0077_4809);
        // Until the space is full.
        let mut n = 0;
        while c.add_capability(0x09, &[0; 18], &[]).is_ok() {
            n += 1;
        }
        assert!(n > 0);
        assert_eq!(
            c.add_capability(0x09, &[0; 18], &[]),
            Err(ConfigError::Full { len: 20 })
        );
    }

    #[test]
    fn restore_changes_only_writable_bytes() {
        let mut c = space();
        c.add_bar64(0, 0x1000, 0xd000_0000).unwrap();
        let mut saved = *c.bytes();
        saved[0] = 0; // a vendor id the function does not have
        saved[4] = 0x06; // memory + bus master
        saved[0x10] = 0xff; // address bits below the size, and type bits
        saved[0x13] = 0xc0;
        c.restore(&saved);
        assert_eq!(r32(&c, 0) & 0xffff, 0x1af4);
        assert_eq!(c.command(), 0x06);
        assert_eq!(c.bar(0), Some((0xc000_0000, 0x1000)));
    }
}
