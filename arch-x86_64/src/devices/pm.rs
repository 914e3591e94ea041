//! The ACPI PM1a event and control registers (fixed hardware, as on QEMU's q35 at port 0x600):
//! PM1a_EVT_BLK at offset 0 (status, enable), PM1a_CNT_BLK at offset 4. Setting SLP_EN with
//! SLP_TYP = S5 powers the VM off. tetra declares only S5, with SLP_TYP 5 (the DSDT's `\_S5`).

use vmm_core::bus::BusDevice;
use vmm_core::exit::{ExitNotifier, GuestExit};
use vmm_core::snapshot::{check_version, StateError, Stateful};
use vmm_core::wire::{Reader, Writer};

/// PM1_CNT.SLP_EN.
pub const SLP_EN: u16 = 1 << 13;
/// The SLP_TYP value of S5 (soft off).
pub const SLP_TYP_S5: u16 = 5;
/// PM1_CNT.SCI_EN: ACPI mode on (hardware-reduced style: always on).
pub const SCI_EN: u16 = 1;

/// The PM1a registers.
pub struct Pm1a {
    exit: ExitNotifier,
    status: u16,
    enable: u16,
    control: u16,
}

impl Pm1a {
    /// PM registers whose S5 request ends the VM through `exit`.
    pub fn new(exit: ExitNotifier) -> Self {
        Pm1a {
            exit,
            status: 0,
            enable: 0,
            control: SCI_EN,
        }
    }
}

impl Pm1a {
    /// The block as bytes: status, enable, control (16 bits each, little-endian).
    fn bytes(&self) -> [u8; 6] {
        let mut b = [0u8; 6];
        b[0..2].copy_from_slice(&self.status.to_le_bytes());
        b[2..4].copy_from_slice(&self.enable.to_le_bytes());
        b[4..6].copy_from_slice(&self.control.to_le_bytes());
        b
    }
}

/// Accesses of any width at any offset: ACPICA reads the event block as two 16-bit registers or
/// one 32-bit one, depending on the FADT's access size, and a byte access reaches half a register.
impl BusDevice for Pm1a {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let b = self.bytes();
        for (i, d) in data.iter_mut().enumerate() {
            *d = usize::try_from(offset)
                .ok()
                .and_then(|o| o.checked_add(i))
                .and_then(|o| b.get(o))
                .copied()
                .unwrap_or(0);
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let mut new = self.bytes();
        let mut hit = [false; 6];
        for (i, &v) in data.iter().enumerate() {
            let o = usize::try_from(offset).ok().and_then(|o| o.checked_add(i));
            if let Some(o) = o.filter(|&o| o < 6) {
                new[o] = v;
                hit[o] = true;
            }
        }
        let reg = |i: usize| u16::from_le_bytes([new[i], new[i + 1]]);
        let mask = |i: usize| u16::from_le_bytes([hit[i] as u8 * 0xff, hit[i + 1] as u8 * 0xff]);
        // Status: write 1 to clear, in the bytes written.
        self.status &= !(reg(0) & mask(0));
        if mask(2) != 0 {
            self.enable = reg(2);
        }
        if mask(4) != 0 {
            let v = reg(4);
            self.control = (v & !SLP_EN) | SCI_EN;
            if v & SLP_EN != 0 && (v >> 10) & 7 == SLP_TYP_S5 {
                self.exit.end(GuestExit::PowerOff);
            }
        }
    }
}

/// PM1 status, enable and control (section version 1).
impl Stateful for Pm1a {
    fn save_state(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u16(self.status);
        w.u16(self.enable);
        w.u16(self.control);
        w.into_bytes()
    }

    fn restore_state(&mut self, version: u16, data: &[u8]) -> Result<(), StateError> {
        check_version(version, 1)?;
        let mut r = Reader::new(data);
        self.status = r.u16("PM1 status")?;
        self.enable = r.u16("PM1 enable")?;
        self.control = r.u16("PM1 control")?;
        if !r.is_empty() {
            return Err(StateError::Trailing(r.remaining()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s5_powers_off_other_writes_do_not() {
        let n = ExitNotifier::new().unwrap();
        let mut pm = Pm1a::new(n.clone());
        pm.write(4, &(SLP_TYP_S5 << 10).to_le_bytes());
        assert_eq!(n.reason(), None, "SLP_TYP without SLP_EN");
        pm.write(4, &((3 << 10) | SLP_EN).to_le_bytes());
        assert_eq!(n.reason(), None, "S3 is not supported");
        let mut b = [0u8; 2];
        pm.read(4, &mut b);
        assert_eq!(u16::from_le_bytes(b) & SCI_EN, SCI_EN);
        pm.write(4, &((SLP_TYP_S5 << 10) | SLP_EN).to_le_bytes());
        assert_eq!(n.reason(), Some(GuestExit::PowerOff));
    }

    #[test]
    fn accesses_of_any_width_reach_the_right_register() {
        let n = ExitNotifier::new().unwrap();
        let mut pm = Pm1a::new(n.clone());
        pm.status = 0x8001;
        // A 32-bit write of the event block: clears status bit 0, sets the enable register.
        pm.write(0, &[0x01, 0x00, 0x20, 0x01]);
        assert_eq!(pm.status, 0x8000);
        assert_eq!(pm.enable, 0x0120);
        let mut b = [0u8; 4];
        pm.read(0, &mut b);
        assert_eq!(b, [0x00, 0x80, 0x20, 0x01]);
        // Reads past the block return zeros; writes past it are ignored.
        let mut b = [0xffu8; 4];
        pm.read(4, &mut b);
        assert_eq!(b, [SCI_EN as u8, 0, 0, 0]);
        pm.write(6, &[0xff, 0xff]);
        pm.write(u64::MAX, &[0xff]);
        // Byte writes: the low byte of PM1_CNT alone does nothing; the high byte with
        // SLP_TYP=5|SLP_EN powers off.
        pm.write(4, &[0x00]);
        assert_eq!(n.reason(), None);
        pm.write(5, &[(((SLP_TYP_S5 << 10) | SLP_EN) >> 8) as u8]);
        assert_eq!(n.reason(), Some(GuestExit::PowerOff));
    }
}
