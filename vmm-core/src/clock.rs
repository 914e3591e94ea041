//! UTC calendar time from the host's clock, for the guest-visible clocks every arch offers (the
//! x86 CMOS RTC, RTAS get-time-of-day on pseries).

use std::time::{SystemTime, UNIX_EPOCH};

/// A UTC calendar time (proleptic Gregorian).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    /// Full year.
    pub year: i64,
    /// 1-12.
    pub month: u32,
    /// 1-31.
    pub day: u32,
    /// 0-23.
    pub hour: u32,
    /// 0-59.
    pub minute: u32,
    /// 0-59.
    pub second: u32,
    /// 1-7, 1 = Sunday.
    pub weekday: u32,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

/// The host's wall clock: seconds and nanoseconds since the Unix epoch (negative before it).
pub fn host_unix_time() -> (i64, u32) {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => (-(e.duration().as_secs() as i64), 0),
    }
}

/// Days since 1970-01-01 -> (year, month, day) (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (year, month, day) -> days since 1970-01-01; out-of-range days roll over, months are clamped
/// to 1-12 (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let m = i64::from(m.clamp(1, 12));
    let y = y - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl DateTime {
    /// The calendar time `secs` seconds and `nanos` after the Unix epoch.
    pub fn from_unix(secs: i64, nanos: u32) -> Self {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        DateTime {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
            // 1970-01-01 was a Thursday (5 with Sunday = 1).
            weekday: ((days + 4).rem_euclid(7) + 1) as u32,
            nanos,
        }
    }

    /// Now, from the host's clock.
    pub fn now() -> Self {
        let (secs, nanos) = host_unix_time();
        Self::from_unix(secs, nanos)
    }

    /// The Unix timestamp in whole seconds (weekday and nanoseconds are ignored).
    pub fn to_unix(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_conversions() {
        // 2024-02-29 23:59:58 UTC, a leap day and a Thursday.
        let t = DateTime::from_unix(1_709_251_198, 5);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second, t.weekday, t.nanos),
            (2024, 2, 29, 23, 59, 58, 5, 5)
        );
        assert_eq!(
            DateTime::from_unix(0, 0).weekday,
            5,
            "1970-01-01 was a Thursday"
        );
        assert_eq!(DateTime::from_unix(-1, 0).year, 1969);
        let leap = DateTime::from_unix(951_782_400, 0); // 2000-02-29
        assert_eq!((leap.month, leap.day), (2, 29));
        assert_eq!(DateTime::from_unix(978_307_199, 0).year, 2000); // 2000-12-31 23:59:59
        for s in [0, 951_782_400, 4_102_444_800, 1_709_251_198, -86_400 * 365] {
            assert_eq!(DateTime::from_unix(s, 0).to_unix(), s);
        }
    }

    #[test]
    fn now_is_the_host_clock() {
        let (before, _) = host_unix_time();
        let t = DateTime::now().to_unix();
        let (after, _) = host_unix_time();
        assert!(before <= t && t <= after, "{before} {t} {after}");
    }
}
