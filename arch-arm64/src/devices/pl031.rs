//! The PL031 real-time clock (rust-vmm `vm-superio`'s model) on the MMIO bus: the guest's
//! `rtc-pl031` reads the host's time of day from its data register and may set its own (kept as
//! an offset from the host clock). The PrimeCell id registers at 0xfe0-0xffc identify it to
//! Linux's AMBA bus, which also wants the `apb_pclk` clock the device tree names.
//!
//! Not emulated (as in vm-superio): the alarm (the match register is stored, never fires), so the
//! device has no interrupt and Linux does not offer an alarm.

use vm_superio::rtc_pl031::{NoEvents, RtcState};
use vm_superio::Rtc;
use vmm_core::bus::BusDevice;
use vmm_core::snapshot::{check_version, StateError, Stateful};
use vmm_core::wire::{Reader, Writer};

/// The register window's size.
pub const PL031_SIZE: u64 = 0x1000;

/// A PL031 on the bus.
pub struct Pl031 {
    rtc: Rtc<NoEvents>,
}

impl Pl031 {
    /// A clock that reads the host's time until the guest sets its own.
    pub fn new() -> Self {
        Pl031 { rtc: Rtc::new() }
    }
}

impl Default for Pl031 {
    fn default() -> Self {
        Self::new()
    }
}

/// A 32-bit access to a register of the window: its offset.
fn register(offset: u64, len: usize) -> Option<u16> {
    (len == 4 && offset.is_multiple_of(4) && offset < PL031_SIZE).then_some(offset as u16)
}

impl BusDevice for Pl031 {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        data.fill(0);
        if let Some(off) = register(offset, data.len()) {
            let mut v = [0u8; 4];
            self.rtc.read(off, &mut v);
            data.copy_from_slice(&v);
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        if let (Some(off), Ok(v)) = (register(offset, data.len()), <[u8; 4]>::try_from(data)) {
            self.rtc.write(off, &v);
        }
    }
}

impl Stateful for Pl031 {
    fn save_state(&self) -> Vec<u8> {
        let s = self.rtc.state();
        let mut w = Writer::new();
        w.u32(s.lr);
        w.u64(s.offset as u64);
        w.u32(s.mr);
        w.u32(s.imsc);
        w.u32(s.ris);
        w.into_bytes()
    }

    fn restore_state(&mut self, version: u16, data: &[u8]) -> Result<(), StateError> {
        check_version(version, 1)?;
        let mut r = Reader::new(data);
        let state = RtcState {
            lr: r.u32("the PL031 load register")?,
            offset: r.u64("the PL031 offset")? as i64,
            mr: r.u32("the PL031 match register")?,
            imsc: r.u32("the PL031 interrupt mask")? & 1,
            ris: r.u32("the PL031 raw interrupt status")? & 1,
        };
        if !r.is_empty() {
            return Err(StateError::Trailing(r.remaining()));
        }
        self.rtc = Rtc::from_state(&state, NoEvents);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    fn read(d: &mut Pl031, off: u64) -> u32 {
        let mut b = [0u8; 4];
        d.read(off, &mut b);
        u32::from_le_bytes(b)
    }

    #[test]
    fn reads_the_host_time_and_its_primecell_id() {
        let mut d = Pl031::new();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as u32;
        let t = read(&mut d, 0);
        assert!(t.abs_diff(now) <= 2, "{t} vs {now}");
        // PrimeCell ids, a byte in each register: periph 0x00041031 (ARM's PL031), cell
        // 0xb105f00d.
        let ids: Vec<u32> = (0..8).map(|i| read(&mut d, 0xfe0 + 4 * i)).collect();
        assert_eq!(ids, [0x31, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1]);
        // Narrow, unaligned or outside accesses read 0 and change nothing.
        let mut b = [0xffu8; 2];
        d.read(0, &mut b);
        assert_eq!(b, [0, 0]);
        let mut b = [0xffu8; 4];
        d.read(2, &mut b);
        assert_eq!(b, [0; 4]);
        d.write(0x8, &[1, 2]);
        assert_eq!(read(&mut d, 0x8), 0);
    }

    #[test]
    fn the_guests_time_survives_a_save_and_restore() {
        let mut d = Pl031::new();
        // The guest sets the clock 1000 s back.
        let now = read(&mut d, 0);
        d.write(0x8, &(now - 1000).to_le_bytes());
        d.write(0x10, &1u32.to_le_bytes()); // interrupt mask
        let saved = d.save_state();
        let mut e = Pl031::new();
        e.restore_state(1, &saved).unwrap();
        assert!(read(&mut e, 0).abs_diff(now - 1000) <= 2);
        assert_eq!(read(&mut e, 0x10), 1);
        assert!(e.restore_state(2, &saved).is_err());
        assert!(e.restore_state(1, &saved[..saved.len() - 1]).is_err());
        let mut long = saved.clone();
        long.push(0);
        assert!(matches!(
            e.restore_state(1, &long),
            Err(StateError::Trailing(1))
        ));
    }
}
