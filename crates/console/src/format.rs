//! What a person reads: times in an explicit zone, amounts from minor units, CSV cells that a
//! spreadsheet cannot run.

use clock::utc::{UtcDateTime, days_from_civil};
use domain::{Currency, Money};

const MS_PER_DAY: u64 = 86_400_000;
const MS_PER_MINUTE: i64 = 60_000;

/// The time zones a search and a page may be read in: fixed offsets, said on every page (the
/// network itself speaks UTC; Chinese merchants read Beijing time, which has no summer time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zone {
    #[default]
    Utc,
    Shanghai,
}

impl Zone {
    pub const ALL: [Zone; 2] = [Zone::Utc, Zone::Shanghai];

    /// The form value.
    pub fn code(self) -> &'static str {
        match self {
            Zone::Utc => "UTC",
            Zone::Shanghai => "+08:00",
        }
    }

    /// The zone as a CSV column writes it (no leading `+` a spreadsheet would take for a formula).
    pub fn offset_name(self) -> &'static str {
        match self {
            Zone::Utc => "UTC",
            Zone::Shanghai => "UTC+08:00",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Zone::Utc => "UTC",
            Zone::Shanghai => "+08:00 Asia/Shanghai",
        }
    }

    fn offset_ms(self) -> i64 {
        match self {
            Zone::Utc => 0,
            Zone::Shanghai => 8 * 60 * MS_PER_MINUTE,
        }
    }

    /// A form value back (`None`: not one of ours).
    pub fn parse(code: &str) -> Option<Zone> {
        Zone::ALL.into_iter().find(|z| z.code() == code)
    }

    /// `YYYY-MM-DD HH:MM:SS` in this zone.
    pub fn time(self, ms: u64) -> String {
        let t = UtcDateTime::from_ms(self.local_ms(ms));
        format!("{} {:02}:{:02}:{:02}", t.iso_date(), t.hour, t.minute, t.second)
    }

    /// `YYYY-MM-DD` in this zone.
    pub fn date(self, ms: u64) -> String {
        UtcDateTime::from_ms(self.local_ms(ms)).iso_date()
    }

    /// `HH:MM` in this zone.
    pub fn minute(self, ms: u64) -> String {
        let t = UtcDateTime::from_ms(self.local_ms(ms));
        format!("{:02}:{:02}", t.hour, t.minute)
    }

    fn local_ms(self, ms: u64) -> u64 {
        ms.saturating_add_signed(self.offset_ms())
    }

    /// The instant local midnight of `date` (`YYYY-MM-DD`) is in this zone.
    pub fn midnight_ms(self, date: &str) -> Option<u64> {
        let (y, m, d) = parse_date(date)?;
        let local = days_from_civil(y, m, d).checked_mul(MS_PER_DAY as i64)?;
        u64::try_from(local.checked_sub(self.offset_ms())?).ok()
    }

    /// The local midnight that began the day `ms` falls in.
    pub fn day_start_ms(self, ms: u64) -> u64 {
        let local = self.local_ms(ms);
        (local - local % MS_PER_DAY).saturating_add_signed(-self.offset_ms())
    }
}

/// `YYYY-MM-DD`, a real calendar date from 1970 to 9999.
fn parse_date(text: &str) -> Option<(i64, u32, u32)> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<u32>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if y < 1970 || !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let days = days_from_civil(i64::from(y), m, d);
    // A day past the month's end rolls into the next month: refused.
    (clock::utc::civil_from_days(days) == (i64::from(y), m, d)).then_some((i64::from(y), m, d))
}

/// An amount from minor units in its currency (`12.50 CNY`); an unknown currency code shows its
/// minor units and the code as stored.
pub fn money(minor: u64, currency: &str) -> String {
    match Currency::parse(currency) {
        Ok(c) => Money::new(minor, c).to_string(),
        Err(_) => format!("{minor} (minor units, currency {currency})"),
    }
}

/// A signed amount (a net figure) from minor units.
pub fn signed_money(minor: i128, currency: &str) -> String {
    let magnitude = u64::try_from(minor.unsigned_abs()).unwrap_or(u64::MAX);
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}{}", money(magnitude, currency))
}

/// A ratio in basis points as a percentage with one decimal (`975` → `9.8%` is not it:
/// basis points of 10,000 → `97.5%`).
pub fn percent_bp(bp: i128) -> String {
    let sign = if bp < 0 { "-" } else { "" };
    let abs = bp.unsigned_abs();
    // Rounded to a tenth of a percent (10 basis points).
    let tenths = (abs + 5) / 10;
    format!("{sign}{}.{}%", tenths / 10, tenths % 10)
}

/// One CSV cell: always quoted, quotes doubled, and a leading `=`, `+`, `-`, `@`, tab or
/// carriage return prefixed with `'` so a spreadsheet shows it instead of evaluating it.
pub fn csv_cell(text: &str) -> String {
    let guarded = match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}

/// One CSV line (CRLF, as RFC 4180 has it).
pub fn csv_line(cells: &[&str]) -> String {
    let mut line = cells.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shanghai_midnight_is_sixteen_hundred_utc_the_day_before() {
        let ms = Zone::Shanghai.midnight_ms("2026-12-05").unwrap();
        assert_eq!(Zone::Utc.time(ms), "2026-12-04 16:00:00");
        assert_eq!(Zone::Shanghai.time(ms), "2026-12-05 00:00:00");
        assert_eq!(Zone::Shanghai.day_start_ms(ms + 5), ms);
        assert_eq!(Zone::Utc.day_start_ms(ms), Zone::Utc.midnight_ms("2026-12-04").unwrap());
    }

    #[test]
    fn bad_dates_are_refused() {
        for bad in ["2026-02-30", "2026-13-01", "26-01-01", "2026-1-01", "abcd-ef-gh", "1969-12-31", ""] {
            assert_eq!(Zone::Utc.midnight_ms(bad), None, "{bad}");
        }
        assert!(Zone::Utc.midnight_ms("2024-02-29").is_some());
    }

    #[test]
    fn amounts_come_from_minor_units() {
        assert_eq!(money(1_250, "156"), "12.50 CNY");
        assert_eq!(money(1_250, "392"), "1250 JPY");
        assert_eq!(signed_money(-5, "156"), "-0.05 CNY");
        assert_eq!(money(7, "999"), "7 (minor units, currency 999)");
        assert_eq!(percent_bp(9_750), "97.5%");
        assert_eq!(percent_bp(-2_504), "-25.0%");
    }

    #[test]
    fn csv_cells_are_quoted_and_formula_safe() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("-1"), "\"'-1\"");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_line(&["@x", "ok"]), "\"'@x\",\"ok\"\r\n");
    }
}
