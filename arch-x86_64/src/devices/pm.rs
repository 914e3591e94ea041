//! The ACPI PM1a event and control registers and the PM timer (fixed hardware, as on QEMU's q35
//! at port 0x600): PM1a_EVT_BLK at offset 0 (status, enable), PM1a_CNT_BLK at offset 4, PM_TMR_BLK
//! at offset 8. Setting SLP_EN with SLP_TYP = S5 (5, the DSDT's `\_S5`) powers the VM off; with
//! SLP_TYP = S3 (1, the DSDT's `\_S3`) it suspends the VM to RAM (`vmm_core::vm` sleep: the vCPUs
//! stop until the RTC alarm wakes them). Other SLP_TYP values are ignored. The wake sets WAK_STS
//! and, when the RTC alarm woke the VM, RTC_STS in PM1 status ([`Pm1a::woken`]); the RTC alarm
//! wakes only with RTC_EN set in PM1 enable ([`Pm1a::rtc_wake_enabled`]). The PM timer counts at 3.579545 MHz on the host's monotonic
//! clock, 32 bits wide (the FADT's TMR_VAL_EXT); a snapshot or a migration carries its count on.

use std::time::Instant;
use vmm_core::bus::BusDevice;
use vmm_core::exit::{ExitNotifier, GuestExit};
use vmm_core::snapshot::{check_version, StateError, Stateful};
use vmm_core::wire::{Reader, Writer};

/// The PM timer's rate.
pub const PM_TIMER_HZ: u64 = 3_579_545;
/// The PM timer's offset in the block.
pub const PM_TIMER_OFFSET: u64 = 8;
/// The block's length: PM1a_EVT (4), PM1a_CNT (2), 2 reserved, PM_TMR (4).
pub const PM_BLOCK_LEN: u64 = 12;

/// The ACPI PM timer: a free-running 32-bit count.
struct PmTimer {
    /// The count at `anchor`.
    base: u32,
    anchor: Instant,
}

impl PmTimer {
    fn new() -> Self {
        PmTimer {
            base: 0,
            anchor: Instant::now(),
        }
    }

    fn count(&self) -> u32 {
        let ns = self.anchor.elapsed().as_nanos();
        let ticks = ns * u128::from(PM_TIMER_HZ) / 1_000_000_000;
        self.base.wrapping_add(ticks as u32)
    }

    /// Goes on from `count`, now.
    fn set(&mut self, count: u32) {
        self.base = count;
        self.anchor = Instant::now();
    }
}

/// PM1_CNT.SLP_EN.
pub const SLP_EN: u16 = 1 << 13;
/// The SLP_TYP value of S5 (soft off).
pub const SLP_TYP_S5: u16 = 5;
/// The SLP_TYP value of S3 (suspend to RAM).
pub const SLP_TYP_S3: u16 = 1;
/// PM1 status: the machine woke from a sleeping state.
pub const WAK_STS: u16 = 1 << 15;
/// PM1 status: the RTC alarm fired (in PM1 enable: RTC_EN, the alarm may wake the machine).
pub const RTC_STS: u16 = 1 << 10;
/// PM1 enable: the RTC alarm may wake the machine (the same bit as [`RTC_STS`]).
pub const RTC_EN: u16 = RTC_STS;
/// PM1_CNT.SCI_EN: ACPI mode on (hardware-reduced style: always on).
pub const SCI_EN: u16 = 1;

/// The PM1a registers.
pub struct Pm1a {
    exit: ExitNotifier,
    status: u16,
    enable: u16,
    control: u16,
    timer: PmTimer,
}

impl Pm1a {
    /// PM registers whose S5 request ends the VM through `exit`, and whose S3 request asks it
    /// for a suspend to RAM.
    pub fn new(exit: ExitNotifier) -> Self {
        Pm1a {
            exit,
            status: 0,
            enable: 0,
            control: SCI_EN,
            timer: PmTimer::new(),
        }
    }

    /// Whether the RTC alarm may wake the machine (PM1 enable RTC_EN).
    pub fn rtc_wake_enabled(&self) -> bool {
        self.enable & RTC_EN != 0
    }

    /// Records a wake from S3: WAK_STS, and RTC_STS when the RTC alarm (`rtc`) woke it.
    pub fn woken(&mut self, rtc: bool) {
        self.status |= WAK_STS | if rtc { RTC_STS } else { 0 };
    }
}

impl Pm1a {
    /// The block as bytes: status, enable, control (16 bits each, little-endian), two reserved
    /// bytes, the timer's count (32 bits).
    fn bytes(&self) -> [u8; PM_BLOCK_LEN as usize] {
        let mut b = [0u8; PM_BLOCK_LEN as usize];
        b[0..2].copy_from_slice(&self.status.to_le_bytes());
        b[2..4].copy_from_slice(&self.enable.to_le_bytes());
        b[4..6].copy_from_slice(&self.control.to_le_bytes());
        b[8..12].copy_from_slice(&self.timer.count().to_le_bytes());
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
            if v & SLP_EN != 0 {
                match (v >> 10) & 7 {
                    SLP_TYP_S5 => self.exit.end(GuestExit::PowerOff),
                    SLP_TYP_S3 => self.exit.request_sleep(),
                    _ => {}
                }
            }
        }
    }
}

/// PM1 status, enable and control; from section version 2 on, the PM timer's count (a version 1
/// section, from before the timer, leaves it counting from 0).
impl Stateful for Pm1a {
    fn state_version(&self) -> u16 {
        2
    }

    fn save_state(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u16(self.status);
        w.u16(self.enable);
        w.u16(self.control);
        w.u32(self.timer.count());
        w.into_bytes()
    }

    fn restore_state(&mut self, version: u16, data: &[u8]) -> Result<(), StateError> {
        check_version(version, 2)?;
        let mut r = Reader::new(data);
        self.status = r.u16("PM1 status")?;
        self.enable = r.u16("PM1 enable")?;
        self.control = r.u16("PM1 control")?;
        if version >= 2 {
            let count = r.u32("PM timer count")?;
            self.timer.set(count);
        }
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
        assert_eq!(n.reason(), None, "no S2");
        assert!(!n.sleep_requested(), "no S2");
        pm.write(4, &(SLP_TYP_S3 << 10).to_le_bytes());
        assert!(!n.sleep_requested(), "S3 without SLP_EN");
        pm.write(4, &((SLP_TYP_S3 << 10) | SLP_EN).to_le_bytes());
        assert!(n.take_sleep(), "S3 asks for a suspend");
        assert_eq!(n.reason(), None, "and does not end the VM");
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

#[cfg(test)]
mod wake_tests {
    use super::*;

    #[test]
    fn a_wake_sets_wak_sts_and_rtc_sts_which_the_guest_clears() {
        let mut pm = Pm1a::new(ExitNotifier::new().unwrap());
        assert!(!pm.rtc_wake_enabled());
        pm.write(2, &RTC_EN.to_le_bytes());
        assert!(pm.rtc_wake_enabled());
        pm.woken(true);
        let mut b = [0u8; 2];
        pm.read(0, &mut b);
        assert_eq!(u16::from_le_bytes(b), WAK_STS | RTC_STS);
        pm.write(0, &WAK_STS.to_le_bytes());
        pm.read(0, &mut b);
        assert_eq!(u16::from_le_bytes(b), RTC_STS, "write 1 to clear");
        pm.write(0, &RTC_STS.to_le_bytes());
        pm.woken(false);
        pm.read(0, &mut b);
        assert_eq!(u16::from_le_bytes(b), WAK_STS);
    }
}

#[cfg(test)]
mod timer_tests {
    use super::*;

    fn read_timer(pm: &mut Pm1a) -> u32 {
        let mut b = [0u8; 4];
        pm.read(PM_TIMER_OFFSET, &mut b);
        u32::from_le_bytes(b)
    }

    #[test]
    fn the_timer_counts_and_carries_on_across_a_restore() {
        let n = ExitNotifier::new().unwrap();
        let mut pm = Pm1a::new(n.clone());
        let a = read_timer(&mut pm);
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = read_timer(&mut pm);
        // At least 20 ms of 3.58 MHz ticks.
        assert!(b.wrapping_sub(a) >= 71_590, "{a} {b}");
        // Writes do not move it.
        pm.write(PM_TIMER_OFFSET, &[0; 4]);
        assert!(read_timer(&mut pm).wrapping_sub(b) < 1 << 31);

        pm.timer.set(0xffff_fff0);
        let saved = pm.save_state();
        let mut other = Pm1a::new(n);
        other.restore_state(2, &saved).unwrap();
        // It goes on from the saved count (and wraps).
        let c = read_timer(&mut other);
        assert!(!(1 << 20..0xffff_fff0).contains(&c), "{c:#x}");
        // A version 1 section (before the timer) still restores.
        other.restore_state(1, &saved[..6]).unwrap();
        assert!(other.restore_state(2, &saved[..6]).is_err());
        assert!(other.restore_state(3, &saved).is_err());
    }
}
