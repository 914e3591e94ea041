//! MSI-X (PCI Local Bus 3.0, 6.8.2): a table of vectors (message address, data, a mask bit each)
//! and the pending bits (PBA), in a BAR; the function mask and enable bits in the capability.
//!
//! A vector signalled while it, or the whole function, is masked, or before MSI-X is enabled,
//! sets its pending bit; unmasking it sends it then. Routes follow the table: a vector's message
//! goes to the [`MsiRouter`] when the vector is unmasked with a new message (a driver masks a
//! vector while it rewrites it), when MSI-X is enabled, and on a restore.
//!
//! Table accesses are 4 or 8 bytes, naturally aligned; others, and entries past the table, read
//! as zero and are ignored. The PBA is read-only.

use super::msi::{MsiMessage, MsiRouter, MsiVector};
use crate::hypervisor::HvError;
use crate::snapshot::StateError;
use crate::wire::{Reader, Writer};
use std::sync::{Arc, Mutex};

/// Bytes of one table entry.
pub const ENTRY_LEN: u64 = 16;
/// The entry's vector-control mask bit.
const MASKED: u32 = 1;
/// The most vectors a function may have.
pub const MAX_VECTORS: usize = 2048;

/// The capability's message-control bits: enable and function mask.
pub const CONTROL_ENABLE: u16 = 1 << 15;
/// The function mask.
pub const CONTROL_MASK: u16 = 1 << 14;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Entry {
    addr: u64,
    data: u32,
    control: u32,
}

/// A function's MSI-X vectors.
pub struct Msix {
    entries: Vec<Entry>,
    pending: Vec<u64>,
    enabled: bool,
    function_masked: bool,
    vectors: Vec<MsiVector>,
    routed: Vec<Option<MsiMessage>>,
    router: Arc<dyn MsiRouter>,
    devid: u32,
}

impl Msix {
    /// `count` vectors (1 to [`MAX_VECTORS`]) from `router`, every one masked, of the function
    /// whose requester id is `devid`.
    pub fn new(count: usize, router: Arc<dyn MsiRouter>, devid: u32) -> Result<Self, HvError> {
        if count == 0 || count > MAX_VECTORS {
            return Err(HvError::Unsupported("an MSI-X table of 1 to 2048 vectors"));
        }
        let vectors = (0..count)
            .map(|_| router.vector())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Msix {
            entries: vec![
                Entry {
                    control: MASKED,
                    ..Entry::default()
                };
                count
            ],
            pending: vec![0; count.div_ceil(64)],
            enabled: false,
            function_masked: false,
            vectors,
            routed: vec![None; count],
            router,
            devid,
        })
    }

    /// The number of vectors.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Always false: a table has at least one vector.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The bytes the table takes in its BAR.
    pub fn table_len(&self) -> u64 {
        self.entries.len() as u64 * ENTRY_LEN
    }

    /// The bytes the PBA takes in its BAR.
    pub fn pba_len(&self) -> u64 {
        self.pending.len() as u64 * 8
    }

    /// The capability's message control for this table (`enable`, function mask, size).
    pub fn control(&self) -> u16 {
        (self.entries.len() as u16 - 1)
            | if self.enabled { CONTROL_ENABLE } else { 0 }
            | if self.function_masked {
                CONTROL_MASK
            } else {
                0
            }
    }

    fn usable(&self, i: usize) -> bool {
        self.enabled && !self.function_masked && self.entries[i].control & MASKED == 0
    }

    fn message(&self, i: usize) -> MsiMessage {
        MsiMessage {
            address: self.entries[i].addr,
            data: self.entries[i].data,
            devid: self.devid,
        }
    }

    /// Gives vector `i`'s message to the router if it changed.
    fn sync(&mut self, i: usize) {
        let msg = self.message(i);
        if self.routed[i] == Some(msg) {
            return;
        }
        match self.router.route(self.vectors[i].gsi, msg) {
            Ok(()) => self.routed[i] = Some(msg),
            Err(e) => {
                tracing::warn!(vector = i, error = %e, "MSI-X route refused");
                eprintln!("tetra: MSI-X vector {i}: {e}; it keeps its old route")
            }
        }
    }

    /// Sends vector `i` if it is usable and pending.
    fn deliver_pending(&mut self, i: usize) {
        let (word, bit) = (i / 64, 1u64 << (i % 64));
        if self.usable(i) && self.pending[word] & bit != 0 {
            self.pending[word] &= !bit;
            let _ = self.vectors[i].fd.write(1);
        }
    }

    /// Signals vector `v`: sent now, or pending while masked. A vector past the table is
    /// dropped.
    pub fn signal(&mut self, v: u16) {
        let i = usize::from(v);
        if i >= self.entries.len() {
            return;
        }
        if self.usable(i) {
            // A failed write (the VM is going away) loses an interrupt nobody can take.
            let _ = self.vectors[i].fd.write(1);
        } else {
            self.pending[i / 64] |= 1 << (i % 64);
        }
    }

    /// The capability's message control was written: MSI-X enabled or not, function masked or
    /// not.
    pub fn set_control(&mut self, control: u16) {
        self.enabled = control & CONTROL_ENABLE != 0;
        self.function_masked = control & CONTROL_MASK != 0;
        if self.enabled {
            for i in 0..self.entries.len() {
                if self.entries[i].control & MASKED == 0 {
                    self.sync(i);
                }
                self.deliver_pending(i);
            }
        }
    }

    /// Reads the table at `offset`.
    pub fn read_table(&self, offset: u64, data: &mut [u8]) {
        data.fill(0);
        let Some((i, field)) = self.locate(offset, data.len()) else {
            return;
        };
        let e = &self.entries[i];
        let mut bytes = [0u8; 16];
        bytes[0..8].copy_from_slice(&e.addr.to_le_bytes());
        bytes[8..12].copy_from_slice(&e.data.to_le_bytes());
        bytes[12..16].copy_from_slice(&e.control.to_le_bytes());
        data.copy_from_slice(&bytes[field..field + data.len()]);
    }

    /// Writes the table at `offset`.
    pub fn write_table(&mut self, offset: u64, data: &[u8]) {
        let Some((i, field)) = self.locate(offset, data.len()) else {
            return;
        };
        let e = &mut self.entries[i];
        let mut bytes = [0u8; 16];
        bytes[0..8].copy_from_slice(&e.addr.to_le_bytes());
        bytes[8..12].copy_from_slice(&e.data.to_le_bytes());
        bytes[12..16].copy_from_slice(&e.control.to_le_bytes());
        bytes[field..field + data.len()].copy_from_slice(data);
        e.addr = u64::from_le_bytes(bytes[0..8].try_into().expect("8 bytes"));
        e.data = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        // Only the mask bit of the vector control is writable.
        e.control = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes")) & MASKED;
        if e.control & MASKED == 0 {
            self.sync(i);
            self.deliver_pending(i);
        }
    }

    /// The entry and the byte in it of a 4- or 8-byte aligned access inside the table.
    fn locate(&self, offset: u64, len: usize) -> Option<(usize, usize)> {
        if !matches!(len, 4 | 8) || !offset.is_multiple_of(len as u64) {
            return None;
        }
        let i = usize::try_from(offset / ENTRY_LEN).ok()?;
        (i < self.entries.len()).then_some((i, (offset % ENTRY_LEN) as usize))
    }

    /// Reads the pending bits at `offset`.
    pub fn read_pba(&self, offset: u64, data: &mut [u8]) {
        data.fill(0);
        if !matches!(data.len(), 4 | 8) || !offset.is_multiple_of(data.len() as u64) {
            return;
        }
        let bytes: Vec<u8> = self.pending.iter().flat_map(|w| w.to_le_bytes()).collect();
        if let Some(src) = usize::try_from(offset)
            .ok()
            .and_then(|o| bytes.get(o..o.checked_add(data.len())?))
        {
            data.copy_from_slice(src);
        }
    }

    /// Whether vector `v` is pending.
    pub fn is_pending(&self, v: usize) -> bool {
        self.pending
            .get(v / 64)
            .is_some_and(|w| w & (1 << (v % 64)) != 0)
    }

    /// How often vector `v` was sent since the last call (tests).
    #[cfg(test)]
    pub(crate) fn fired(&self, v: usize) -> u64 {
        self.vectors[v].fd.read().unwrap_or(0)
    }

    /// The GSI of vector `v`.
    pub fn gsi(&self, v: usize) -> Option<u32> {
        self.vectors.get(v).map(|x| x.gsi)
    }

    /// Writes the state: enable and function mask, each entry, the pending bits.
    pub fn save(&self, w: &mut Writer) {
        w.u16(self.control());
        w.u32(self.entries.len() as u32);
        for e in &self.entries {
            w.u64(e.addr);
            w.u32(e.data);
            w.u32(e.control);
        }
        for p in &self.pending {
            w.u64(*p);
        }
    }

    /// Reads [`Self::save`]'s state, checked against this table; applies nothing.
    pub fn parse(&self, r: &mut Reader) -> Result<MsixState, StateError> {
        let control = r.u16("the MSI-X control")?;
        let n = r.count("the MSI-X vector count", 16)?;
        if n != self.entries.len() {
            return Err(StateError::Invalid(format!(
                "{n} MSI-X vectors; this function has {}",
                self.entries.len()
            )));
        }
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let e = Entry {
                addr: r.u64("an MSI-X address")?,
                data: r.u32("an MSI-X data")?,
                control: r.u32("an MSI-X vector control")?,
            };
            if e.control & !MASKED != 0 {
                return Err(StateError::Invalid(format!(
                    "MSI-X vector control {:#x}",
                    e.control
                )));
            }
            entries.push(e);
        }
        let mut pending = Vec::with_capacity(self.pending.len());
        for _ in 0..self.pending.len() {
            pending.push(r.u64("MSI-X pending bits")?);
        }
        Ok(MsixState {
            control,
            entries,
            pending,
        })
    }

    /// Applies a parsed state and routes every unmasked vector again.
    pub fn apply(&mut self, s: MsixState) {
        self.entries = s.entries;
        self.pending = s.pending;
        self.routed.iter_mut().for_each(|r| *r = None);
        self.enabled = s.control & CONTROL_ENABLE != 0;
        self.function_masked = s.control & CONTROL_MASK != 0;
        for i in 0..self.entries.len() {
            if self.entries[i].control & MASKED == 0 {
                self.sync(i);
            }
        }
    }
}

/// A table's state read back, not applied yet.
pub struct MsixState {
    control: u16,
    entries: Vec<Entry>,
    pending: Vec<u64>,
}

/// What a device signals its vectors through.
pub trait VectorSink: Send + Sync {
    /// Signals vector `v`.
    fn signal(&self, v: u16);
}

impl VectorSink for Mutex<Msix> {
    fn signal(&self, v: u16) {
        self.lock().unwrap_or_else(|e| e.into_inner()).signal(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::pci::msi::RecordingRouter;

    fn table(n: usize) -> (Msix, Arc<RecordingRouter>) {
        let r = Arc::new(RecordingRouter::default());
        (Msix::new(n, r.clone(), 0x18).unwrap(), r)
    }

    fn w32(m: &mut Msix, off: u64, v: u32) {
        m.write_table(off, &v.to_le_bytes());
    }

    fn fired(m: &Msix, v: usize) -> u64 {
        m.fired(v)
    }

    #[test]
    fn masked_vectors_pend_and_unmasking_sends_them() {
        let (mut m, r) = table(3);
        assert_eq!(m.control(), 2);
        // Not enabled: pending.
        m.signal(1);
        assert!(m.is_pending(1));
        let mut pba = [0u8; 8];
        m.read_pba(0, &mut pba);
        assert_eq!(u64::from_le_bytes(pba), 0b10);
        // Program vector 1 and unmask it; still pending until MSI-X is on.
        w32(&mut m, 16, 0xfee0_0000);
        w32(&mut m, 20, 0);
        w32(&mut m, 24, 0x41);
        w32(&mut m, 28, 0);
        assert_eq!(
            r.routes.lock().unwrap().last().unwrap().1,
            MsiMessage {
                address: 0xfee0_0000,
                data: 0x41,
                devid: 0x18
            }
        );
        assert_eq!(fired(&m, 1), 0);
        m.set_control(CONTROL_ENABLE | CONTROL_MASK);
        assert!(m.is_pending(1), "the function mask holds it");
        m.set_control(CONTROL_ENABLE);
        assert!(!m.is_pending(1));
        assert_eq!(fired(&m, 1), 1);
        m.signal(1);
        assert_eq!(fired(&m, 1), 1);
        // Vector 0 is masked: pending, then sent when unmasked.
        m.signal(0);
        assert!(m.is_pending(0));
        w32(&mut m, 12, 0);
        assert_eq!(fired(&m, 0), 1);
        // Masking again holds it.
        w32(&mut m, 12, 1);
        m.signal(0);
        assert!(m.is_pending(0));
        assert_eq!(fired(&m, 0), 0);
        // Vectors past the table are dropped.
        m.signal(3);
        m.signal(u16::MAX);
    }

    #[test]
    fn table_accesses_odd_sizes_and_past_the_end() {
        let (mut m, r) = table(2);
        m.write_table(0, &0x1234_5678_9abc_def0u64.to_le_bytes());
        let mut b8 = [0u8; 8];
        m.read_table(0, &mut b8);
        assert_eq!(u64::from_le_bytes(b8), 0x1234_5678_9abc_def0);
        // Only the mask bit of the vector control sticks.
        w32(&mut m, 12, 0xffff_fffe);
        let mut b4 = [0u8; 4];
        m.read_table(12, &mut b4);
        assert_eq!(u32::from_le_bytes(b4), 0);
        // Odd sizes, unaligned, past the table: ignored, read as zero.
        let before = r.routes.lock().unwrap().len();
        m.write_table(1, &[1, 2, 3, 4]);
        m.write_table(0, &[1, 2]);
        m.write_table(32, &[1, 2, 3, 4]);
        m.write_table(u64::MAX - 3, &[1, 2, 3, 4]);
        assert_eq!(r.routes.lock().unwrap().len(), before);
        m.read_table(32, &mut b4);
        assert_eq!(b4, [0; 4]);
        let mut b2 = [0xaau8; 2];
        m.read_table(0, &mut b2);
        assert_eq!(b2, [0; 2]);
        m.read_pba(8, &mut b8);
        assert_eq!(b8, [0; 8]);
        m.read_pba(u64::MAX - 7, &mut b8);
        let mut b3 = [0xaau8; 3];
        m.read_pba(0, &mut b3);
        assert_eq!(b3, [0; 3]);
        assert!(Msix::new(0, r.clone(), 0).is_err());
        assert!(Msix::new(MAX_VECTORS + 1, r, 0).is_err());
    }

    #[test]
    fn state_round_trip_routes_again() {
        let (mut m, _) = table(2);
        w32(&mut m, 16, 0xfee0_1000);
        w32(&mut m, 24, 0x33);
        w32(&mut m, 28, 0);
        m.set_control(CONTROL_ENABLE);
        m.signal(0);
        let mut w = Writer::new();
        m.save(&mut w);
        let bytes = w.into_bytes();
        let (mut n, r) = table(2);
        let s = n.parse(&mut Reader::new(&bytes)).unwrap();
        n.apply(s);
        assert_eq!(n.control(), CONTROL_ENABLE | 1);
        assert!(n.is_pending(0));
        assert_eq!(
            *r.routes.lock().unwrap(),
            vec![(
                n.gsi(1).unwrap(),
                MsiMessage {
                    address: 0xfee0_1000,
                    data: 0x33,
                    devid: 0x18
                }
            )]
        );
        // A table of another size, a bad control word, a short state.
        let (three, _) = table(3);
        assert!(three.parse(&mut Reader::new(&bytes)).is_err());
        let mut bad = bytes.clone();
        bad[6 + 12] = 2;
        assert!(n.parse(&mut Reader::new(&bad)).is_err());
        assert!(n.parse(&mut Reader::new(&bytes[..10])).is_err());
    }
}
