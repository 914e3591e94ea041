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

fn get(data: &[u8]) -> u16 {
    let mut v = [0u8; 2];
    let n = data.len().min(2);
    v[..n].copy_from_slice(&data[..n]);
    u16::from_le_bytes(v)
}

impl BusDevice for Pm1a {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let v = match offset {
            0 => self.status,
            2 => self.enable,
            4 => self.control,
            _ => 0,
        };
        let b = v.to_le_bytes();
        for (i, d) in data.iter_mut().enumerate() {
            *d = *b.get(i).unwrap_or(&0);
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let v = get(data);
        match offset {
            0 => self.status &= !v, // write-1-to-clear
            2 => self.enable = v,
            4 => {
                self.control = (v & !SLP_EN) | SCI_EN;
                if v & SLP_EN != 0 && (v >> 10) & 7 == SLP_TYP_S5 {
                    self.exit.end(GuestExit::PowerOff);
                }
            }
            _ => {}
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
}
