//! The device the `mmio` guests talk to: a 16-byte MMIO window at [`BASE`] whose 32-bit read at
//! +4 answers the NOT of the last 32-bit write at +0, and whose byte read at +8 answers the last
//! byte written there plus one. It records every write, and can hold the vCPU inside its first
//! write at +0 until a test lets it go (to land a pause in the middle of an MMIO exit).

use std::sync::mpsc;
use std::time::Duration;
use vmm_core::bus::BusDevice;

/// Where the `mmio` guests expect the probe.
pub const BASE: u64 = 0xd000_0000;
/// The size of its window.
pub const SIZE: u64 = 0x10;

/// The probe device.
#[derive(Default)]
pub struct Probe {
    /// Every write, in order: (offset, bytes).
    pub writes: Vec<(u64, Vec<u8>)>,
    word: u32,
    byte: u8,
    hold: Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>,
}

impl Probe {
    /// A probe whose last 32-bit write at +0 is taken to have been `word`.
    pub fn new(word: u32) -> Self {
        Probe {
            word,
            ..Probe::default()
        }
    }

    /// Holds the vCPU in the first write at +0: that write signals `entered` and waits (on the
    /// vCPU thread, 30 s at most) for a message on `release`.
    pub fn hold_first_store(&mut self, entered: mpsc::Sender<()>, release: mpsc::Receiver<()>) {
        self.hold = Some((entered, release));
    }
}

impl BusDevice for Probe {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        match (offset, data.len()) {
            (4, 4) => data.copy_from_slice(&(!self.word).to_le_bytes()),
            (8, 1) => data[0] = self.byte.wrapping_add(1),
            _ => data.fill(0),
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        self.writes.push((offset, data.to_vec()));
        match (offset, data.len()) {
            (0, 4) => self.word = u32::from_le_bytes(data.try_into().unwrap_or_default()),
            (8, 1) => self.byte = data[0],
            _ => {}
        }
        if offset == 0 {
            if let Some((entered, release)) = self.hold.take() {
                let _ = entered.send(());
                let _ = release.recv_timeout(Duration::from_secs(30));
            }
        }
    }
}
