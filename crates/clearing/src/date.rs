//! Business dates and the switch's cut-off.
//!
//! A business date is a calendar date (`YYYY-MM-DD`); field 15 carries its `MMDD`. The switch
//! closes a date at its cut-off, a local time in an explicit time zone (a fixed UTC offset, as
//! UnionPay's 23:00 Beijing time is `23:00 +08:00`): a transaction at or after the cut-off
//! belongs to the next date.

use std::fmt;

use clock::utc::{civil_from_days, days_from_civil};

const MS_PER_DAY: i64 = 86_400_000;
const MS_PER_MINUTE: i64 = 60_000;
const MINUTES_PER_DAY: u32 = 24 * 60;
/// UTC offsets in use run from −12:00 to +14:00.
const UTC_OFFSET_MINUTES_MIN: i32 = -12 * 60;
const UTC_OFFSET_MINUTES_MAX: i32 = 14 * 60;
/// Business dates from 1970-01-01 to 9999-12-31.
const YEAR_MAX: i64 = 9999;

/// A date or cut-off that cannot be read: what, in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateError(pub String);

impl fmt::Display for DateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DateError {}

/// A calendar date, as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BusinessDate(i32);

impl BusinessDate {
    /// `year-month-day`, refused unless it is a real calendar date from 1970 to 9999.
    pub fn from_ymd(year: u32, month: u32, day: u32) -> Result<BusinessDate, DateError> {
        let bad = || DateError(format!("{year:04}-{month:02}-{day:02} is not a calendar date"));
        if !(1970..=YEAR_MAX as u32).contains(&year) || !(1..=12).contains(&month) || day == 0 {
            return Err(bad());
        }
        let days = days_from_civil(i64::from(year), month, day);
        let date = BusinessDate(i32::try_from(days).map_err(|_| bad())?);
        // 2023-02-30 would silently become 2023-03-02: refuse what does not round-trip.
        if date.ymd() != (year, month, day) {
            return Err(bad());
        }
        Ok(date)
    }

    /// `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Result<BusinessDate, DateError> {
        let bad = || DateError(format!("{text:?} is not a date YYYY-MM-DD"));
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return Err(bad());
        }
        let number = |range: std::ops::Range<usize>| -> Result<u32, DateError> {
            let part = &text[range];
            if !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse().map_err(|_| bad())
        };
        BusinessDate::from_ymd(number(0..4)?, number(5..7)?, number(8..10)?)
    }

    /// The date (UTC) of a clock reading.
    pub fn of_utc_ms(ms: u64) -> BusinessDate {
        BusinessDate(i32::try_from(ms as i64 / MS_PER_DAY).unwrap_or(i32::MAX))
    }

    /// Days since 1970-01-01.
    pub fn days(self) -> i32 {
        self.0
    }

    pub fn from_days(days: i32) -> BusinessDate {
        BusinessDate(days.max(0))
    }

    pub fn ymd(self) -> (u32, u32, u32) {
        let (year, month, day) = civil_from_days(i64::from(self.0));
        (year as u32, month, day)
    }

    pub fn year(self) -> u32 {
        self.ymd().0
    }

    pub fn next(self) -> BusinessDate {
        BusinessDate(self.0.saturating_add(1))
    }

    pub fn previous(self) -> BusinessDate {
        BusinessDate(self.0.saturating_sub(1).max(0))
    }

    /// Field 15: `MMDD`.
    pub fn mmdd(self) -> String {
        let (_, month, day) = self.ymd();
        format!("{month:02}{day:02}")
    }

    /// `YYYYMMDD`, as the clearing file's header writes it.
    pub fn compact(self) -> String {
        let (year, month, day) = self.ymd();
        format!("{year:04}{month:02}{day:02}")
    }

    /// The date whose `MMDD` is `mmdd` nearest to `near` (within half a year either side): how
    /// a member turns field 15 back into a date around the turn of a year.
    pub fn from_mmdd_near(mmdd: &str, near: BusinessDate) -> Result<BusinessDate, DateError> {
        let bad = || DateError(format!("{mmdd:?} is not a settlement date MMDD"));
        if mmdd.len() != 4 || !mmdd.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let month: u32 = mmdd[..2].parse().map_err(|_| bad())?;
        let day: u32 = mmdd[2..].parse().map_err(|_| bad())?;
        let year = near.year();
        let candidates = [year.saturating_sub(1), year, year + 1];
        candidates
            .iter()
            .filter_map(|&y| BusinessDate::from_ymd(y, month, day).ok())
            .min_by_key(|d| (d.0 - near.0).abs())
            .ok_or_else(bad)
    }
}

impl fmt::Display for BusinessDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = self.ymd();
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

/// The daily cut-off: a local time of day in a fixed UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutOff {
    /// Minutes after local midnight, 0 ..= 1439. 0 means the date ends at local midnight.
    minute_of_day: u32,
    /// The time zone as minutes east of UTC (+08:00 = 480).
    utc_offset_minutes: i32,
}

impl CutOff {
    pub fn new(minute_of_day: u32, utc_offset_minutes: i32) -> Result<CutOff, DateError> {
        if minute_of_day >= MINUTES_PER_DAY {
            return Err(DateError(format!("cut-off minute {minute_of_day} is not a time of day (0 to 1439)")));
        }
        if !(UTC_OFFSET_MINUTES_MIN..=UTC_OFFSET_MINUTES_MAX).contains(&utc_offset_minutes) {
            return Err(DateError(format!("UTC offset {utc_offset_minutes} minutes is outside −12:00 to +14:00")));
        }
        Ok(CutOff { minute_of_day, utc_offset_minutes })
    }

    /// `HH:MM ±HH:MM`, e.g. `23:00 +08:00` (the zone is required: a cut-off without one is
    /// ambiguous by up to a day).
    pub fn parse(text: &str) -> Result<CutOff, DateError> {
        let bad = || DateError(format!("{text:?} is not a cut-off \"HH:MM ±HH:MM\" (local time and UTC offset)"));
        let (time, zone) = text.trim().split_once(' ').ok_or_else(bad)?;
        let (hour, minute) = hh_mm(time).ok_or_else(bad)?;
        if hour > 23 {
            return Err(bad());
        }
        let zone = zone.trim();
        let sign = match zone.as_bytes().first() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Err(bad()),
        };
        let (zone_hours, zone_minutes) = hh_mm(&zone[1..]).ok_or_else(bad)?;
        let offset = sign * (zone_hours as i32 * 60 + zone_minutes as i32);
        CutOff::new(hour * 60 + minute, offset)
    }

    pub fn minute_of_day(self) -> u32 {
        self.minute_of_day
    }

    pub fn utc_offset_minutes(self) -> i32 {
        self.utc_offset_minutes
    }

    /// The business date a transaction at `now_ms` (UTC) belongs to: its local date, or the
    /// next one at or after the cut-off.
    pub fn business_date(self, now_ms: u64) -> BusinessDate {
        let local_ms = now_ms as i64 + i64::from(self.utc_offset_minutes) * MS_PER_MINUTE;
        let day = local_ms.div_euclid(MS_PER_DAY);
        let time_of_day_ms = local_ms.rem_euclid(MS_PER_DAY);
        let cut_ms = i64::from(self.minute_of_day) * MS_PER_MINUTE;
        let day = if self.minute_of_day > 0 && time_of_day_ms >= cut_ms { day + 1 } else { day };
        BusinessDate(i32::try_from(day.max(0)).unwrap_or(i32::MAX))
    }

    /// The instant (UTC ms) at which `date` closes: its last moment is just before this.
    pub fn closes_at_ms(self, date: BusinessDate) -> u64 {
        // A date D closes at the cut-off on local day D−1 + 1 day when the cut-off is after
        // midnight of D's eve... put plainly: with cut-off c > 0, D runs from (D−1, c) to (D, c);
        // with c = 0 it runs from (D, 00:00) to (D+1, 00:00).
        let end_day = if self.minute_of_day > 0 { i64::from(date.0) } else { i64::from(date.0) + 1 };
        let local_ms = end_day * MS_PER_DAY + i64::from(self.minute_of_day) * MS_PER_MINUTE;
        (local_ms - i64::from(self.utc_offset_minutes) * MS_PER_MINUTE).max(0) as u64
    }
}

impl fmt::Display for CutOff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.utc_offset_minutes < 0 { '-' } else { '+' };
        let offset = self.utc_offset_minutes.unsigned_abs();
        write!(
            f,
            "{:02}:{:02} {sign}{:02}:{:02}",
            self.minute_of_day / 60,
            self.minute_of_day % 60,
            offset / 60,
            offset % 60
        )
    }
}

fn hh_mm(text: &str) -> Option<(u32, u32)> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60).then_some((h, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_print_and_refuse_what_is_not_a_date() {
        let d = BusinessDate::parse("2024-02-29").unwrap();
        assert_eq!(d.to_string(), "2024-02-29");
        assert_eq!(d.mmdd(), "0229");
        assert_eq!(d.next().to_string(), "2024-03-01");
        assert_eq!(d.previous().to_string(), "2024-02-28");
        for bad in ["2023-02-29", "2024-13-01", "2024-00-10", "24-02-29", "2024/02/29", "2024-02-2x", ""] {
            assert!(BusinessDate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_15_becomes_the_nearest_date_across_the_year_end() {
        let near = BusinessDate::parse("2024-12-31").unwrap();
        assert_eq!(BusinessDate::from_mmdd_near("0101", near).unwrap().to_string(), "2025-01-01");
        assert_eq!(BusinessDate::from_mmdd_near("1230", near).unwrap().to_string(), "2024-12-30");
        assert!(BusinessDate::from_mmdd_near("1340", near).is_err());
    }

    #[test]
    fn the_cut_off_is_local_time_in_its_zone() {
        // 23:00 Beijing time = 15:00 UTC.
        let cut = CutOff::parse("23:00 +08:00").unwrap();
        assert_eq!(cut.to_string(), "23:00 +08:00");
        let day = BusinessDate::parse("2024-02-29").unwrap();
        let at = |h: u64, m: u64| day.days() as u64 * 86_400_000 + (h * 60 + m) * 60_000;
        assert_eq!(cut.business_date(at(14, 59)).to_string(), "2024-02-29");
        assert_eq!(cut.business_date(at(15, 0)).to_string(), "2024-03-01", "at the cut-off: next date");
        // 16:30 UTC on the 28th is 00:30 local on the 29th: still the 29th's business.
        assert_eq!(cut.business_date(at(16, 30) - 86_400_000).to_string(), "2024-02-29");
        assert_eq!(cut.closes_at_ms(day), at(15, 0));
        let midnight = CutOff::parse("00:00 +00:00").unwrap();
        assert_eq!(midnight.business_date(at(23, 59)).to_string(), "2024-02-29");
        assert_eq!(midnight.closes_at_ms(day), at(24, 0));
        for bad in ["23:00", "24:00 +08:00", "23:60 +08:00", "23:00 08:00", "23:00 +15:00"] {
            assert!(CutOff::parse(bad).is_err(), "{bad}");
        }
    }
}
