//! A minimal MC146818 CMOS RTC at ports 0x70 (index) and 0x71 (data): the time of day from the
//! host clock, in BCD or binary and in 24- or 12-hour form as status register B says, settable by
//! the guest (kept as an offset from the host clock), and the memory-size bytes a BIOS leaves.
//!
//! The alarm (registers 1, 3 and 5; a value 0xC0-0xFF matches any) is a wake source from S3:
//! with AIE set in register B, [`Cmos::next_alarm`] says when the time of day next matches it,
//! and the wake sets AF and IRQF in register C ([`Cmos::alarm_fired`]; reading C clears it).
//!
//! Not emulated: the alarm while the guest runs (no IRQ 8, AF is not set), the periodic and
//! update interrupts, the date alarm, and the update cycle (UIP always reads 0). Bit 7 of the
//! index (the NMI mask) is ignored.

use vmm_core::bus::BusDevice;
pub use vmm_core::clock::DateTime;
use vmm_core::snapshot::{check_version, StateError, Stateful};
use vmm_core::wire::{Reader, Writer};

/// Seconds.
pub const REG_SECONDS: u8 = 0x00;
/// Minutes.
pub const REG_MINUTES: u8 = 0x02;
/// Hours (bit 7 is PM in 12-hour mode).
pub const REG_HOURS: u8 = 0x04;
/// Day of the week, 1 = Sunday.
pub const REG_WEEKDAY: u8 = 0x06;
/// Day of the month.
pub const REG_DAY: u8 = 0x07;
/// Month.
pub const REG_MONTH: u8 = 0x08;
/// Year within the century.
pub const REG_YEAR: u8 = 0x09;
/// Seconds alarm.
pub const REG_SECONDS_ALARM: u8 = 0x01;
/// Minutes alarm.
pub const REG_MINUTES_ALARM: u8 = 0x03;
/// Hours alarm.
pub const REG_HOURS_ALARM: u8 = 0x05;
/// Status register A (divider and rate; bit 7 UIP).
pub const REG_A: u8 = 0x0a;
/// Status register B (bit 7 SET, bit 2 binary, bit 1 24-hour).
pub const REG_B: u8 = 0x0b;
/// Status register C (interrupt flags).
pub const REG_C: u8 = 0x0c;
/// Status register D (bit 7: valid RAM and time).
pub const REG_D: u8 = 0x0d;
/// The century (the FADT's CENTURY field names it).
pub const REG_CENTURY: u8 = 0x32;

/// Register B: updates frozen while the guest sets the time.
pub const B_SET: u8 = 1 << 7;
/// Register B: binary, not BCD.
pub const B_BINARY: u8 = 1 << 2;
/// Register B: 24-hour mode.
pub const B_24H: u8 = 1 << 1;
/// Register B: alarm interrupt enable.
pub const B_AIE: u8 = 1 << 5;
/// Register C: an enabled interrupt is pending (IRQF).
pub const C_IRQF: u8 = 1 << 7;
/// Register C: the alarm fired (AF).
pub const C_AF: u8 = 1 << 5;
/// An alarm register value with both top bits set matches any value ("don't care").
pub const ALARM_ANY: u8 = 0xc0;
/// How far ahead [`Cmos::next_alarm`] looks: an alarm on seconds, minutes and hours repeats daily.
const ALARM_HORIZON: i64 = 24 * 60 * 60;
/// Register D: valid RAM and time.
pub const D_VRT: u8 = 1 << 7;

const TIME_REGS: [u8; 8] = [
    REG_SECONDS,
    REG_MINUTES,
    REG_HOURS,
    REG_WEEKDAY,
    REG_DAY,
    REG_MONTH,
    REG_YEAR,
    REG_CENTURY,
];

/// The host clock: seconds since the Unix epoch.
pub type Clock = Box<dyn Fn() -> i64 + Send>;

/// The host's wall clock, in whole seconds since the Unix epoch.
pub fn host_clock() -> i64 {
    vmm_core::clock::host_unix_time().0
}

fn to_bcd(v: u32) -> u8 {
    (((v / 10 % 10) << 4) | (v % 10)) as u8
}

fn from_bcd(v: u8) -> u32 {
    u32::from(v >> 4) * 10 + u32::from(v & 0xf)
}

/// The RTC and its 128 bytes of CMOS RAM.
pub struct Cmos {
    index: u8,
    ram: [u8; 128],
    clock: Clock,
    /// Guest time minus host time, in seconds.
    offset: i64,
}

impl Cmos {
    /// An RTC on the host clock, with the memory-size bytes for `mem_bytes` of RAM of which
    /// `low_end` lies below 4 GiB.
    pub fn new(mem_bytes: u64, low_end: u64) -> Self {
        Self::with_clock(mem_bytes, low_end, Box::new(host_clock))
    }

    /// The same, on another clock (tests).
    pub fn with_clock(mem_bytes: u64, low_end: u64, clock: Clock) -> Self {
        let mut ram = [0u8; 128];
        ram[REG_A as usize] = 0x26; // 32.768 kHz time base, 1024 Hz rate
        ram[REG_B as usize] = B_24H;
        ram[REG_D as usize] = D_VRT;
        let put16 = |ram: &mut [u8; 128], lo: usize, v: u64| {
            let v = v.min(0xffff) as u16;
            ram[lo..lo + 2].copy_from_slice(&v.to_le_bytes());
        };
        // Base memory in KiB; extended memory (1 MiB..) in KiB; memory above 16 MiB and above
        // 4 GiB in 64 KiB units (the layout QEMU's and Bochs' BIOSes use).
        put16(&mut ram, 0x15, 640);
        let ext_kib = low_end.saturating_sub(1 << 20) >> 10;
        put16(&mut ram, 0x17, ext_kib);
        put16(&mut ram, 0x30, ext_kib);
        put16(&mut ram, 0x34, low_end.saturating_sub(16 << 20) >> 16);
        let high = (mem_bytes.saturating_sub(low_end) >> 16).min(0xff_ffff) as u32;
        ram[0x5b..0x5e].copy_from_slice(&high.to_le_bytes()[..3]);
        Cmos {
            index: 0,
            ram,
            clock,
            offset: 0,
        }
    }

    fn reg_b(&self) -> u8 {
        self.ram[REG_B as usize]
    }

    fn encode(&self, v: u32) -> u8 {
        if self.reg_b() & B_BINARY != 0 {
            v as u8
        } else {
            to_bcd(v)
        }
    }

    fn decode(&self, v: u8) -> u32 {
        if self.reg_b() & B_BINARY != 0 {
            u32::from(v)
        } else {
            from_bcd(v)
        }
    }

    /// The guest's current time.
    pub fn now(&self) -> DateTime {
        DateTime::from_unix((self.clock)().saturating_add(self.offset), 0)
    }

    /// A time register's value for `t` in the current format.
    fn time_reg(&self, reg: u8, t: &DateTime) -> u8 {
        match reg {
            REG_SECONDS => self.encode(t.second),
            REG_MINUTES => self.encode(t.minute),
            REG_HOURS if self.reg_b() & B_24H == 0 => {
                let h12 = match t.hour % 12 {
                    0 => 12,
                    h => h,
                };
                self.encode(h12) | if t.hour >= 12 { 0x80 } else { 0 }
            }
            REG_HOURS => self.encode(t.hour),
            REG_WEEKDAY => self.encode(t.weekday),
            REG_DAY => self.encode(t.day),
            REG_MONTH => self.encode(t.month),
            REG_YEAR => self.encode(t.year.rem_euclid(100) as u32),
            _ => self.encode(t.year.div_euclid(100).clamp(0, 99) as u32),
        }
    }

    /// Freezes the current time into RAM (SET raised): the guest then edits it field by field.
    fn latch(&mut self) {
        let t = self.now();
        for r in TIME_REGS {
            self.ram[r as usize] = self.time_reg(r, &t);
        }
    }

    /// Takes the time the guest left in RAM (SET dropped) as the new time of day.
    fn commit(&mut self) {
        let g = |r: u8| self.ram[r as usize];
        let mut hour = self.decode(g(REG_HOURS) & 0x7f);
        if self.reg_b() & B_24H == 0 {
            hour = hour % 12 + if g(REG_HOURS) & 0x80 != 0 { 12 } else { 0 };
        }
        let t = DateTime {
            year: i64::from(self.decode(g(REG_CENTURY))) * 100
                + i64::from(self.decode(g(REG_YEAR))),
            month: self.decode(g(REG_MONTH)),
            day: self.decode(g(REG_DAY)),
            hour,
            minute: self.decode(g(REG_MINUTES)),
            second: self.decode(g(REG_SECONDS)),
            weekday: 0,
            nanos: 0,
        };
        self.offset = t.to_unix() - (self.clock)();
    }

    /// When the alarm next fires (the time of day, in the current format, matches the alarm
    /// registers at the start of a second after now), in the host clock's seconds since the
    /// epoch; `None` while AIE is clear.
    pub fn next_alarm(&self) -> Option<i64> {
        if self.reg_b() & B_AIE == 0 {
            return None;
        }
        let alarm = [
            (REG_SECONDS_ALARM, REG_SECONDS),
            (REG_MINUTES_ALARM, REG_MINUTES),
            (REG_HOURS_ALARM, REG_HOURS),
        ];
        let now = (self.clock)().saturating_add(self.offset);
        (1..=ALARM_HORIZON)
            .map(|d| now.saturating_add(d))
            .find(|&s| {
                let t = DateTime::from_unix(s, 0);
                alarm.iter().all(|&(a, r)| {
                    let want = self.ram[a as usize];
                    want & ALARM_ANY == ALARM_ANY || want == self.time_reg(r, &t)
                })
            })
            .map(|s| s.saturating_sub(self.offset))
    }

    /// The alarm fired (it woke the machine): AF in register C, and IRQF with AIE set.
    pub fn alarm_fired(&mut self) {
        let irqf = if self.reg_b() & B_AIE != 0 { C_IRQF } else { 0 };
        self.ram[REG_C as usize] |= C_AF | irqf;
    }

    fn read_data(&mut self) -> u8 {
        let reg = self.index;
        match reg {
            REG_A => self.ram[REG_A as usize] & 0x7f, // UIP never set
            // The flags read once: reading C clears them.
            REG_C => std::mem::take(&mut self.ram[REG_C as usize]),
            REG_D => D_VRT,
            _ if TIME_REGS.contains(&reg) && self.reg_b() & B_SET == 0 => {
                self.time_reg(reg, &self.now())
            }
            _ => self.ram[reg as usize],
        }
    }

    fn write_data(&mut self, v: u8) {
        let reg = self.index;
        match reg {
            REG_A => self.ram[REG_A as usize] = v & 0x7f,
            REG_B => {
                let was_set = self.reg_b() & B_SET != 0;
                if !was_set && v & B_SET != 0 {
                    self.latch();
                }
                self.ram[REG_B as usize] = v;
                if was_set && v & B_SET == 0 {
                    self.commit();
                }
            }
            REG_C | REG_D => {}
            _ if TIME_REGS.contains(&reg) && self.reg_b() & B_SET == 0 => {
                // Without SET: change this field of the running time.
                self.latch();
                self.ram[reg as usize] = v;
                self.commit();
            }
            _ => self.ram[reg as usize] = v,
        }
    }
}

impl BusDevice for Cmos {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let v = match offset {
            0 => self.index,
            1 => self.read_data(),
            _ => 0xff,
        };
        data.fill(0);
        if let Some(b) = data.first_mut() {
            *b = v;
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let Some(&v) = data.first() else { return };
        match offset {
            0 => self.index = v & 0x7f, // bit 7 masks NMIs on a PC; ignored
            1 => self.write_data(v),
            _ => {}
        }
    }
}

/// Index, the 128 RAM bytes and the guest's clock offset (section version 1).
impl Stateful for Cmos {
    fn save_state(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(self.index);
        w.bytes(&self.ram);
        w.u64(self.offset as u64);
        w.into_bytes()
    }

    fn restore_state(&mut self, version: u16, data: &[u8]) -> Result<(), StateError> {
        check_version(version, 1)?;
        let mut r = Reader::new(data);
        let index = r.u8("the CMOS index")?;
        let ram = r.array::<128>("the CMOS RAM")?;
        let offset = r.u64("the RTC offset")? as i64;
        if !r.is_empty() {
            return Err(StateError::Trailing(r.remaining()));
        }
        self.index = index & 0x7f;
        self.ram = ram;
        self.offset = offset;
        Ok(())
    }

    /// Battery-backed: a machine reset keeps the RAM the guest wrote and its clock.
    fn survives_reset(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;

    /// 2024-02-29 13:05:09 UTC, a Thursday.
    const T0: i64 = 1_709_211_909;

    fn cmos_at(t: Arc<AtomicI64>) -> Cmos {
        Cmos::with_clock(5 << 30, 3 << 30, Box::new(move || t.load(Ordering::SeqCst)))
    }

    fn rd(c: &mut Cmos, reg: u8) -> u8 {
        c.write(0, &[reg]);
        let mut b = [0u8];
        c.read(1, &mut b);
        b[0]
    }

    fn wr(c: &mut Cmos, reg: u8, v: u8) {
        c.write(0, &[reg]);
        c.write(1, &[v]);
    }

    #[test]
    fn reads_the_host_clock_in_bcd_then_binary_and_12_hour() {
        let clock = Arc::new(AtomicI64::new(T0));
        let mut c = cmos_at(clock.clone());
        assert_eq!(rd(&mut c, REG_B), B_24H, "24-hour BCD by default");
        assert_eq!(rd(&mut c, REG_SECONDS), 0x09);
        assert_eq!(rd(&mut c, REG_MINUTES), 0x05);
        assert_eq!(rd(&mut c, REG_HOURS), 0x13);
        assert_eq!(rd(&mut c, REG_DAY), 0x29);
        assert_eq!(rd(&mut c, REG_MONTH), 0x02);
        assert_eq!(rd(&mut c, REG_YEAR), 0x24);
        assert_eq!(rd(&mut c, REG_CENTURY), 0x20);
        assert_eq!(rd(&mut c, REG_WEEKDAY), 5);
        assert_eq!(rd(&mut c, REG_D), D_VRT);
        assert_eq!(rd(&mut c, REG_A) & 0x80, 0, "no update in progress");
        clock.fetch_add(50, Ordering::SeqCst);
        assert_eq!(
            rd(&mut c, REG_SECONDS),
            0x59,
            "time runs with the host clock"
        );
        wr(&mut c, REG_B, B_24H | B_BINARY);
        assert_eq!(rd(&mut c, REG_SECONDS), 59);
        assert_eq!(rd(&mut c, REG_YEAR), 24);
        wr(&mut c, REG_B, B_BINARY);
        assert_eq!(rd(&mut c, REG_HOURS), 0x80 | 1, "1 PM");
        wr(&mut c, REG_B, 0);
        assert_eq!(rd(&mut c, REG_HOURS), 0x81, "1 PM in BCD");
        // The NMI-mask bit of the index is ignored.
        c.write(0, &[0x80 | REG_MONTH]);
        let mut b = [0u8];
        c.read(1, &mut b);
        assert_eq!(b[0], 0x02);
    }

    #[test]
    fn the_guest_sets_the_time_with_set_and_it_keeps_running() {
        let clock = Arc::new(AtomicI64::new(T0));
        let mut c = cmos_at(clock.clone());
        wr(&mut c, REG_B, B_SET | B_24H);
        clock.fetch_add(5, Ordering::SeqCst);
        assert_eq!(rd(&mut c, REG_SECONDS), 0x09, "frozen while SET");
        wr(&mut c, REG_YEAR, 0x30);
        wr(&mut c, REG_MONTH, 0x12);
        wr(&mut c, REG_DAY, 0x31);
        wr(&mut c, REG_HOURS, 0x23);
        wr(&mut c, REG_MINUTES, 0x59);
        wr(&mut c, REG_SECONDS, 0x58);
        wr(&mut c, REG_B, B_24H);
        assert_eq!(
            c.now().to_unix(),
            DateTime::from_unix(1_924_991_998, 0).to_unix()
        );
        clock.fetch_add(3, Ordering::SeqCst);
        assert_eq!(rd(&mut c, REG_YEAR), 0x31, "rolled over into 2031");
        assert_eq!(rd(&mut c, REG_SECONDS), 0x01);
        // A single field written without SET changes only that field.
        wr(&mut c, REG_HOURS, 0x07);
        assert_eq!(rd(&mut c, REG_HOURS), 0x07);
        assert_eq!(rd(&mut c, REG_YEAR), 0x31);
        // Garbage (not BCD) is taken without a panic.
        wr(&mut c, REG_MONTH, 0xff);
        wr(&mut c, REG_DAY, 0xff);
        let _ = rd(&mut c, REG_SECONDS);
    }

    #[test]
    fn memory_size_bytes_and_plain_ram() {
        let mut c = cmos_at(Arc::new(AtomicI64::new(T0)));
        let w = |c: &mut Cmos, lo: u8| u16::from_le_bytes([rd(c, lo), rd(c, lo + 1)]);
        assert_eq!(w(&mut c, 0x15), 640);
        assert_eq!(w(&mut c, 0x17), 0xffff, "capped");
        assert_eq!(w(&mut c, 0x34), (((3u64 << 30) - (16 << 20)) >> 16) as u16);
        assert_eq!(
            u32::from_le_bytes([rd(&mut c, 0x5b), rd(&mut c, 0x5c), rd(&mut c, 0x5d), 0]),
            (2u32 << 30) >> 16
        );
        let mut small = Cmos::with_clock(64 << 20, 64 << 20, Box::new(|| 0));
        assert_eq!(w(&mut small, 0x30), 63 * 1024);
        assert_eq!(rd(&mut small, 0x5b), 0);
        wr(&mut c, 0x40, 0xab);
        assert_eq!(rd(&mut c, 0x40), 0xab);
        wr(&mut c, REG_C, 0xff);
        assert_eq!(rd(&mut c, REG_C), 0);
    }

    #[test]
    fn the_alarm_matches_the_time_of_day_with_dont_care_values() {
        let clock = Arc::new(AtomicI64::new(T0)); // 13:05:09
        let mut c = cmos_at(clock.clone());
        wr(&mut c, REG_SECONDS_ALARM, 0x11);
        wr(&mut c, REG_MINUTES_ALARM, 0x05);
        wr(&mut c, REG_HOURS_ALARM, 0x13);
        assert_eq!(c.next_alarm(), None, "AIE clear");
        wr(&mut c, REG_B, B_24H | B_AIE);
        assert_eq!(c.next_alarm(), Some(T0 + 2));
        // Hours and minutes "don't care": the next :11 second.
        wr(&mut c, REG_HOURS_ALARM, 0xff);
        wr(&mut c, REG_MINUTES_ALARM, 0xc0);
        clock.fetch_add(2, Ordering::SeqCst); // 13:05:11 now: the next match is a minute on
        assert_eq!(c.next_alarm(), Some(T0 + 62));
        // Every second.
        wr(&mut c, REG_SECONDS_ALARM, 0xc0);
        assert_eq!(c.next_alarm(), Some(T0 + 3));
        // A time the clock never reads (garbage) never fires, and does not panic.
        wr(&mut c, REG_SECONDS_ALARM, 0x99);
        assert_eq!(c.next_alarm(), None);
        // The guest's clock offset counts: set to 10:00:00, an alarm at 10:00:05 is 5 s ahead.
        wr(&mut c, REG_B, B_SET | B_24H | B_AIE);
        wr(&mut c, REG_HOURS, 0x10);
        wr(&mut c, REG_MINUTES, 0x00);
        wr(&mut c, REG_SECONDS, 0x00);
        wr(&mut c, REG_B, B_24H | B_AIE);
        wr(&mut c, REG_B, B_24H | B_AIE | B_BINARY);
        wr(&mut c, REG_SECONDS_ALARM, 5);
        wr(&mut c, REG_MINUTES_ALARM, 0);
        wr(&mut c, REG_HOURS_ALARM, 10);
        assert_eq!(c.next_alarm(), Some(T0 + 2 + 5));
        // Firing: AF and IRQF in register C, once.
        c.alarm_fired();
        assert_eq!(rd(&mut c, REG_C), C_IRQF | C_AF);
        assert_eq!(rd(&mut c, REG_C), 0, "reading C clears it");
        wr(&mut c, REG_B, B_24H);
        c.alarm_fired();
        assert_eq!(rd(&mut c, REG_C), C_AF, "no IRQF without AIE");
    }

    #[test]
    fn state_round_trips_and_rejects_garbage() {
        let clock = Arc::new(AtomicI64::new(T0));
        let mut a = cmos_at(clock.clone());
        wr(&mut a, REG_HOURS, 0x01);
        wr(&mut a, 0x40, 0x5a);
        let saved = a.save_state();
        let mut b = cmos_at(clock);
        b.restore_state(1, &saved).unwrap();
        assert_eq!(rd(&mut b, REG_HOURS), 0x01);
        assert_eq!(rd(&mut b, 0x40), 0x5a);
        for n in 0..saved.len() {
            assert!(b.restore_state(1, &saved[..n]).is_err(), "{n}");
        }
        assert!(b.restore_state(2, &saved).is_err());
        let mut long = saved.clone();
        long.push(0);
        assert!(b.restore_state(1, &long).is_err());
    }
}
