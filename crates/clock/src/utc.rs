//! Calendar fields of a UTC instant, for the date and time fields of ISO 8583 (7 MMDDhhmmss,
//! 12 hhmmss, 13 and 15 MMDD, 37's YDDD). No time zone database: the network speaks UTC.

/// A UTC date and time to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcDateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// Day of the year, 1-based (1 January is 1).
    pub day_of_year: u32,
}

const SECONDS_PER_DAY: u64 = 86_400;

impl UtcDateTime {
    /// The calendar fields of `ms` milliseconds after the Unix epoch.
    pub fn from_ms(ms: u64) -> UtcDateTime {
        let secs = ms / 1_000;
        let days = (secs / SECONDS_PER_DAY) as i64;
        let rem = secs % SECONDS_PER_DAY;
        let (year, month, day) = civil_from_days(days);
        let (jan1_year, _, _) = civil_from_days(days_from_civil(year, 1, 1));
        debug_assert_eq!(jan1_year, year);
        let day_of_year = u32::try_from(days - days_from_civil(year, 1, 1) + 1).unwrap_or(1);
        UtcDateTime {
            year,
            month,
            day,
            hour: (rem / 3_600) as u32,
            minute: (rem % 3_600 / 60) as u32,
            second: (rem % 60) as u32,
            day_of_year,
        }
    }

    /// Field 7, transmission date and time: `MMDDhhmmss`.
    pub fn mmddhhmmss(&self) -> String {
        format!("{:02}{:02}{:02}{:02}{:02}", self.month, self.day, self.hour, self.minute, self.second)
    }

    /// Fields 13 and 15: `MMDD`.
    pub fn mmdd(&self) -> String {
        format!("{:02}{:02}", self.month, self.day)
    }

    /// Field 12: `hhmmss`.
    pub fn hhmmss(&self) -> String {
        format!("{:02}{:02}{:02}", self.hour, self.minute, self.second)
    }

    /// `YYMM`, as card expiry dates are written (field 14, track 2).
    pub fn yymm(&self) -> String {
        format!("{:02}{:02}", self.year.rem_euclid(100), self.month)
    }

    /// `YYYY-MM-DD`.
    pub fn iso_date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, u32::try_from(month).unwrap_or(1), u32::try_from(day).unwrap_or(1))
}

/// (year, month, day) to days since 1970-01-01, the inverse of [`civil_from_days`].
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        let t = UtcDateTime::from_ms(0);
        assert_eq!((t.year, t.month, t.day, t.day_of_year), (1970, 1, 1, 1));
        assert_eq!(t.mmddhhmmss(), "0101000000");
        // 2024-02-29 12:00:00 UTC, a leap day.
        let t = UtcDateTime::from_ms(1_709_208_000_000);
        assert_eq!(t.mmddhhmmss(), "0229120000");
        assert_eq!(t.day_of_year, 60);
        assert_eq!(t.yymm(), "2402");
        // 2026-12-31 23:59:59 UTC: day 365 of a common year.
        let t = UtcDateTime::from_ms(1_798_761_599_000);
        assert_eq!((t.year, t.month, t.day, t.day_of_year), (2026, 12, 31, 365));
        assert_eq!(t.hhmmss(), "235959");
    }

    #[test]
    fn days_round_trip() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
