//! The MPC8xxx GPIO block of the PQ3 (MPC85xx) SoCs, at CCSR + 0xfc00 as on those parts
//! (`pq3-gpio-0.dtsi`), with the board's power-off on pin 0: Linux's `gpio-poweroff` driver,
//! named by the device tree's `/power-off` node, drives the pin high to power off, as on QEMU's
//! `ppce500` board (its `power-off` node on pin 0 of its GPIO block). A rising output level on
//! pin 0 ends the VM with [`GuestExit::PowerOff`].
//!
//! Registers (32 bits, big-endian; pin n is bit `0x8000_0000 >> n`, Linux's `gpio-mpc8xxx`):
//!
//! ```text
//! 0x00 GPDIR  1: output             0x04 GPODR  open drain (stored)
//! 0x08 GPDAT  the pins: outputs read their latch, inputs 0 (nothing drives them)
//! 0x0c GPIER  interrupt events, write 1 to clear (none ever happen: no input changes)
//! 0x10 GPIMR  interrupt mask (stored) 0x14 GPICR  edge/level control (stored)
//! ```
//!
//! Other offsets of the window read 0 and ignore writes; so does any access that is not an
//! aligned 32-bit one. The block's interrupt (MPIC source 47, level, as on QEMU's board) is
//! described, since Linux's `gpio-mpc8xxx` asks for one at probe (`platform_get_irq`), but never
//! raised. The registers are not in snapshots: Linux writes them whole from its own shadow copy,
//! and a restored VM with pin 0 still low powers off as before.

use vmm_core::bus::BusDevice;
use vmm_core::{ExitNotifier, GuestExit};

/// Size of the register window (`reg` of `pq3-gpio-0.dtsi`).
pub const GPIO_SIZE: u64 = 0x100;
/// The pin the power-off is wired to.
pub const POWER_OFF_PIN: u32 = 0;

const GPDIR: u64 = 0x00;
const GPODR: u64 = 0x04;
const GPDAT: u64 = 0x08;
const GPIER: u64 = 0x0c;
const GPIMR: u64 = 0x10;
const GPICR: u64 = 0x14;

/// The register bit of pin `n` (0-31).
pub const fn pin_bit(n: u32) -> u32 {
    0x8000_0000 >> n
}

/// The GPIO registers as the guest sees them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GpioRegs {
    /// GPDIR.
    pub dir: u32,
    /// GPODR.
    pub odr: u32,
    /// The output latch (GPDAT as last written).
    pub data: u32,
    /// GPIER.
    pub ier: u32,
    /// GPIMR.
    pub imr: u32,
    /// GPICR.
    pub icr: u32,
}

impl GpioRegs {
    /// The levels the block drives: output pins' latches.
    pub fn outputs(&self) -> u32 {
        self.data & self.dir
    }

    /// Reads register `offset` (0 for what the block does not have).
    pub fn read(&self, offset: u64) -> u32 {
        match offset {
            GPDIR => self.dir,
            GPODR => self.odr,
            GPDAT => self.outputs(),
            GPIER => self.ier,
            GPIMR => self.imr,
            GPICR => self.icr,
            _ => 0,
        }
    }

    /// Writes register `offset`; returns the pins whose output level rose.
    pub fn write(&mut self, offset: u64, v: u32) -> u32 {
        let before = self.outputs();
        match offset {
            GPDIR => self.dir = v,
            GPODR => self.odr = v,
            GPDAT => self.data = v,
            GPIER => self.ier &= !v,
            GPIMR => self.imr = v,
            GPICR => self.icr = v,
            _ => {}
        }
        self.outputs() & !before
    }
}

/// The GPIO block on the MMIO bus, powering the VM off when pin [`POWER_OFF_PIN`] rises.
pub struct MpcGpio {
    regs: GpioRegs,
    exit: ExitNotifier,
}

impl MpcGpio {
    /// A block in its reset state (every pin an input), ending the VM through `exit`.
    pub fn new(exit: ExitNotifier) -> Self {
        MpcGpio {
            regs: GpioRegs::default(),
            exit,
        }
    }

    /// The registers.
    pub fn regs(&self) -> GpioRegs {
        self.regs
    }
}

/// The register an access of `len` bytes at `offset` reaches, if it is an aligned 32-bit one.
fn register(offset: u64, len: usize) -> Option<u64> {
    (len == 4 && offset.is_multiple_of(4) && offset < GPIO_SIZE).then_some(offset)
}

impl BusDevice for MpcGpio {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let v = register(offset, data.len()).map_or(0, |r| self.regs.read(r));
        if data.len() == 4 {
            data.copy_from_slice(&v.to_be_bytes());
        } else {
            data.fill(0);
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let Some(r) = register(offset, data.len()) else {
            return;
        };
        let Ok(bytes) = <[u8; 4]>::try_from(data) else {
            return;
        };
        let rose = self.regs.write(r, u32::from_be_bytes(bytes));
        if rose & pin_bit(POWER_OFF_PIN) != 0 {
            self.exit.end(GuestExit::PowerOff);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(d: &mut MpcGpio, off: u64, v: u32) {
        d.write(off, &v.to_be_bytes());
    }

    fn load(d: &mut MpcGpio, off: u64) -> u32 {
        let mut b = [0u8; 4];
        d.read(off, &mut b);
        u32::from_be_bytes(b)
    }

    /// What `tools/booke-kvm-probe/guests/poweroff.S` does: GPDIR then GPDAT bit 0x80000000.
    #[test]
    fn the_poweroff_guest_powers_off() {
        let n = ExitNotifier::new().unwrap();
        let mut d = MpcGpio::new(n.clone());
        store(&mut d, GPDIR, 0x8000_0000);
        assert_eq!(n.reason(), None, "an output at 0 is not a power-off");
        store(&mut d, GPDAT, 0x8000_0000);
        assert_eq!(n.reason(), Some(GuestExit::PowerOff));
        assert_eq!(load(&mut d, GPDAT), 0x8000_0000);
        assert_eq!(load(&mut d, GPDIR), 0x8000_0000);
    }

    /// Linux's `gpio-poweroff`: the pin requested as an output at 0, then driven to 1.
    #[test]
    fn linux_gpio_poweroff_sequence() {
        let n = ExitNotifier::new().unwrap();
        let mut d = MpcGpio::new(n.clone());
        // gpio-mmio (under gpio-mpc8xxx) sets an output's value before its direction.
        store(&mut d, GPDAT, 0);
        store(&mut d, GPDIR, 0x8000_0000);
        // Another pin toggling is not a power-off.
        store(&mut d, GPDIR, 0x8000_0001);
        store(&mut d, GPDAT, 0x0000_0001);
        assert_eq!(n.reason(), None);
        store(&mut d, GPDAT, 0x8000_0001);
        assert_eq!(n.reason(), Some(GuestExit::PowerOff));
    }

    #[test]
    fn input_pins_and_the_latch() {
        let n = ExitNotifier::new().unwrap();
        let mut d = MpcGpio::new(n.clone());
        // Pin 0 an input: the latch is kept, nothing is driven, no power-off ...
        store(&mut d, GPDAT, 0x8000_0000);
        assert_eq!(load(&mut d, GPDAT), 0);
        assert_eq!(n.reason(), None);
        // ... until it becomes an output with the latch at 1.
        store(&mut d, GPDIR, 0x8000_0000);
        assert_eq!(n.reason(), Some(GuestExit::PowerOff));
    }

    #[test]
    fn registers_and_odd_accesses() {
        let n = ExitNotifier::new().unwrap();
        let mut d = MpcGpio::new(n.clone());
        store(&mut d, GPODR, 0x1234);
        store(&mut d, GPIMR, 0x5678);
        store(&mut d, GPICR, 0x9abc);
        assert_eq!(
            [GPODR, GPIMR, GPICR, GPIER, 0x18, 0xfc].map(|o| load(&mut d, o)),
            [0x1234, 0x5678, 0x9abc, 0, 0, 0]
        );
        store(&mut d, GPIER, u32::MAX);
        assert_eq!(d.regs().ier, 0);
        // Byte, halfword, unaligned and out-of-window accesses: reads 0, writes ignored.
        for (off, len) in [
            (GPDIR, 1),
            (GPDIR, 2),
            (2, 4),
            (GPIO_SIZE, 4),
            (u64::MAX, 4),
            (0, 8),
        ] {
            let mut b = vec![0xaa; len];
            d.read(off, &mut b);
            assert!(b.iter().all(|&x| x == 0), "{off:#x}/{len}");
            d.write(off, &vec![0xff; len]);
        }
        assert_eq!(d.regs().dir, 0);
        assert_eq!(n.reason(), None);
    }
}
