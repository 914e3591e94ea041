//! The ACPI PM1a event and control registers and the PM timer (fixed hardware, as on QEMU's q35
//! at port 0x600): PM1a_EVT_BLK at offset 0 (status, enable), PM1a_CNT_BLK at offset 4, PM_TMR_BLK
//! at offset 8. Setting SLP_EN with SLP_TYP = S5 (5, the DSDT's `\_S5`) powers the VM off; with
//! SLP_TYP = S3 (1, the DSDT's `\_S3`) it suspends the VM to RAM (`vmm_core::vm` sleep: the vCPUs
//! stop until the RTC alarm wakes them). Other SLP_TYP values are ignored. The wake sets WAK_STS
//! and, when the RTC alarm woke the VM, RTC_STS in PM1 status ([`Pm1a::woken`]); the RTC alarm
//! wakes only with RTC_EN set in PM1 enable ([`Pm1a::rtc_wake_enabled`]). The PM timer counts at
//! 3.579545 MHz on the host's monotonic clock, 32 bits wide (the FADT's TMR_VAL_EXT); a snapshot
//! or a migration carries its count on.
//!
//! The fixed-feature power button (the FADT's PWR_BUTTON flag clear): a press
//! ([`Pm1a::press_power_button`]) sets PWRBTN_STS (PM1 status bit 8, write 1 to clear), and the
//! SCI (ISA IRQ 9, level-triggered, active high per the MADT's override) is asserted while any
//! status bit the OS enabled in PM1 enable (PWRBTN_EN, RTC_EN) is set; it drops when the OS
//! clears the status or the enable. A press while suspended to RAM is a wake: WAK_STS and
//! PWRBTN_STS ([`Pm1a::woken`]). What the guest does with the press is its own affair: Linux's
//! ACPI button driver reports KEY_POWER and an ACPI event, and userspace (systemd-logind, acpid)
//! decides to power off.

use std::sync::Arc;
use std::time::Instant;
use vmm_core::bus::BusDevice;
use vmm_core::devices::InterruptLine;
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
/// PM1 status: the power button was pressed (in PM1 enable: PWRBTN_EN, a press raises the SCI).
pub const PWRBTN_STS: u16 = 1 << 8;
/// PM1 enable: a power button press raises the SCI (the same bit as [`PWRBTN_STS`]).
pub const PWRBTN_EN: u16 = PWRBTN_STS;
/// The PM1 status bits that raise the SCI when enabled (in PM1 enable, the same bits).
pub const SCI_EVENTS: u16 = PWRBTN_STS | RTC_STS;
/// PM1_CNT.SCI_EN: ACPI mode on (hardware-reduced style: always on).
pub const SCI_EN: u16 = 1;

/// What wakes the machine from S3, as [`Pm1a::woken`] records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeSource {
    /// The host asked for the wake (WAK_STS alone).
    Request,
    /// The RTC alarm (WAK_STS and RTC_STS).
    Rtc,
    /// The power button (WAK_STS and PWRBTN_STS).
    PowerButton,
}

/// The PM1a registers.
pub struct Pm1a {
    exit: ExitNotifier,
    /// The SCI.
    sci: Arc<dyn InterruptLine>,
    /// Whether the SCI is asserted now.
    sci_level: bool,
    status: u16,
    enable: u16,
    control: u16,
    timer: PmTimer,
}

impl Pm1a {
    /// PM registers whose S5 request ends the VM through `exit`, whose S3 request asks it for a
    /// suspend to RAM, and whose enabled events raise `sci`.
    pub fn new(exit: ExitNotifier, sci: Arc<dyn InterruptLine>) -> Self {
        Pm1a {
            exit,
            sci,
            sci_level: false,
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

    /// Records a wake from S3: WAK_STS, and the status bit of what woke it.
    pub fn woken(&mut self, source: WakeSource) {
        self.status |= WAK_STS
            | match source {
                WakeSource::Request => 0,
                WakeSource::Rtc => RTC_STS,
                WakeSource::PowerButton => PWRBTN_STS,
            };
        self.update_sci();
    }

    /// A press of the power button: sets PWRBTN_STS, which raises the SCI if the OS set
    /// PWRBTN_EN (without it the bit stays set and nothing else happens, as on hardware).
    pub fn press_power_button(&mut self) {
        self.status |= PWRBTN_STS;
        self.update_sci();
    }

    /// Whether the SCI is asserted: an enabled event's status bit is set.
    pub fn sci_asserted(&self) -> bool {
        self.status & self.enable & SCI_EVENTS != 0
    }

    /// Drives the SCI to [`Self::sci_asserted`] when that changed. A failing line (an
    /// `KVM_IRQ_LINE` that the kernel refused) is logged: the register state stays right and
    /// the next change tries again.
    fn update_sci(&mut self) {
        let level = self.sci_asserted();
        if level == self.sci_level {
            return;
        }
        match self.sci.set_level(level) {
            Ok(()) => self.sci_level = level,
            Err(e) => tracing::warn!(error = %e, level, "the ACPI SCI could not be driven"),
        }
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
        self.update_sci();
    }
}

/// PM1 status, enable and control (with PWRBTN_STS and PWRBTN_EN, which older tetras never set);
/// from section version 2 on, the PM timer's count (a version 1 section, from before the timer,
/// leaves it counting from 0). A restore drives the SCI to what the registers say.
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
        // The line's level in the kernel is unknown here (a fresh VM, or this one reset): drive
        // it whichever way.
        self.sci_level = !self.sci_asserted();
        self.update_sci();
        Ok(())
    }
}

/// A line that goes nowhere, for the tests.
#[cfg(test)]
fn unwired() -> Arc<dyn InterruptLine> {
    Arc::new(vmm_core::devices::irq::Unwired)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s5_powers_off_other_writes_do_not() {
        let n = ExitNotifier::new().unwrap();
        let mut pm = Pm1a::new(n.clone(), unwired());
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
        let mut pm = Pm1a::new(n.clone(), unwired());
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
        let mut pm = Pm1a::new(ExitNotifier::new().unwrap(), unwired());
        assert!(!pm.rtc_wake_enabled());
        pm.write(2, &RTC_EN.to_le_bytes());
        assert!(pm.rtc_wake_enabled());
        pm.woken(WakeSource::Rtc);
        let mut b = [0u8; 2];
        pm.read(0, &mut b);
        assert_eq!(u16::from_le_bytes(b), WAK_STS | RTC_STS);
        pm.write(0, &WAK_STS.to_le_bytes());
        pm.read(0, &mut b);
        assert_eq!(u16::from_le_bytes(b), RTC_STS, "write 1 to clear");
        pm.write(0, &RTC_STS.to_le_bytes());
        pm.woken(WakeSource::Request);
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
        let mut pm = Pm1a::new(n.clone(), unwired());
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
        let mut other = Pm1a::new(n, unwired());
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

#[cfg(test)]
mod power_button_tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A level line that remembers its level.
    #[derive(Default)]
    struct Level(AtomicBool);

    impl InterruptLine for Level {
        fn trigger(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn set_level(&self, active: bool) -> std::io::Result<()> {
            self.0.store(active, Ordering::SeqCst);
            Ok(())
        }
    }

    fn new_pm() -> (Pm1a, Arc<Level>) {
        let line = Arc::new(Level::default());
        let pm = Pm1a::new(ExitNotifier::new().unwrap(), line.clone());
        (pm, line)
    }

    fn status(pm: &mut Pm1a) -> u16 {
        let mut b = [0u8; 2];
        pm.read(0, &mut b);
        u16::from_le_bytes(b)
    }

    #[test]
    fn a_press_raises_the_sci_while_enabled_and_not_cleared() {
        let (mut pm, sci) = new_pm();
        let up = || sci.0.load(Ordering::SeqCst);
        pm.write(2, &PWRBTN_EN.to_le_bytes());
        assert!(!up());
        pm.press_power_button();
        assert_eq!(status(&mut pm), PWRBTN_STS);
        assert!(up(), "STS & EN raises the SCI");
        // Clearing another bit leaves it up; clearing PWRBTN_STS drops it.
        pm.write(0, &WAK_STS.to_le_bytes());
        assert!(up());
        pm.write(0, &PWRBTN_STS.to_le_bytes());
        assert_eq!(status(&mut pm), 0, "write 1 to clear");
        assert!(!up(), "the SCI drops with the status");
        // A press with the enable clear sets the status, not the SCI; enabling then raises it,
        // disabling drops it again.
        pm.write(2, &0u16.to_le_bytes());
        pm.press_power_button();
        assert_eq!(status(&mut pm), PWRBTN_STS);
        assert!(!up());
        pm.write(2, &PWRBTN_EN.to_le_bytes());
        assert!(up());
        pm.write(2, &0u16.to_le_bytes());
        assert!(!up());
        // A byte write of the status's high byte clears it too.
        pm.write(1, &[(PWRBTN_STS >> 8) as u8]);
        assert_eq!(status(&mut pm), 0);
    }

    #[test]
    fn the_button_state_survives_a_snapshot_and_old_sections_restore() {
        let (mut pm, _) = new_pm();
        pm.write(2, &PWRBTN_EN.to_le_bytes());
        pm.press_power_button();
        let saved = pm.save_state();
        let (mut other, sci) = new_pm();
        other.restore_state(2, &saved).unwrap();
        assert_eq!(status(&mut other), PWRBTN_STS);
        assert!(other.sci_asserted());
        assert!(sci.0.load(Ordering::SeqCst), "a restore drives the SCI");
        // A section from before the button (status and enable without bit 8) restores with the
        // SCI down.
        let mut old = saved.clone();
        old[0..4].fill(0);
        other.restore_state(2, &old).unwrap();
        assert!(!sci.0.load(Ordering::SeqCst));
        other.restore_state(1, &old[..6]).unwrap();
        assert_eq!(status(&mut other), 0);
    }

    #[test]
    fn a_power_button_wake_sets_wak_sts_and_pwrbtn_sts() {
        let (mut pm, sci) = new_pm();
        pm.woken(WakeSource::PowerButton);
        assert_eq!(status(&mut pm), WAK_STS | PWRBTN_STS);
        assert!(!sci.0.load(Ordering::SeqCst), "PWRBTN_EN was reset");
    }
}
