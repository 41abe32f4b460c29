//! Date and time fields from a clock reading (UTC), and the system trace audit number.

use std::sync::atomic::{AtomicU32, Ordering};

use clock::UtcDateTime;
use domain::{Rrn, Stan};

use crate::error::Result;

/// STANs run 000001 ..= 999999 and wrap (000000 is never used: some hosts read it as absent).
pub const STAN_MAX: u32 = 999_999;

/// Field 7 at `now_ms`: `MMDDhhmmss` UTC.
pub fn transmission_time(now_ms: u64) -> String {
    UtcDateTime::from_ms(now_ms).mmddhhmmss()
}

/// Field 15 at `now_ms`: the settlement day `MMDD`. A transaction at or after the cut-over
/// (`cutover_minute_of_day`, minutes after 00:00 UTC; 0 = midnight) belongs to the next day.
/// A UTC-only shorthand: the switch stamps 15 from its business date (`clearing::CutOff`, a
/// local time with its zone, and dates closed once), which parties take from its messages.
pub fn settlement_date(now_ms: u64, cutover_minute_of_day: u32) -> String {
    const MS_PER_DAY: u64 = 86_400_000;
    let cutover_ms = u64::from(cutover_minute_of_day.min(24 * 60 - 1)) * 60_000;
    let time_of_day_ms = now_ms % MS_PER_DAY;
    let day_ms = if cutover_ms > 0 && time_of_day_ms >= cutover_ms { now_ms + MS_PER_DAY } else { now_ms };
    UtcDateTime::from_ms(day_ms).mmdd()
}

/// A retrieval reference number (field 37) as the acquirer makes it: `YDDDhh` (last digit of
/// the year, day of the year, hour) followed by the 6-digit STAN.
pub fn rrn(now_ms: u64, stan: &str) -> String {
    let t = UtcDateTime::from_ms(now_ms);
    format!("{}{:03}{:02}{stan:0>6}", t.year.rem_euclid(10), t.day_of_year, t.hour)
}

/// [`rrn`] as the field's type, for a request builder.
pub fn rrn_of(now_ms: u64, stan: Stan) -> Result<Rrn> {
    Ok(Rrn::new(&rrn(now_ms, stan.field().as_str()))?)
}

/// A sender's STAN counter: 000001, 000002, …, 999999, 000001, … (shared between threads).
#[derive(Debug)]
pub struct StanGenerator {
    last: AtomicU32,
}

impl StanGenerator {
    /// The first `next` gives `start + 1` (wrapping), so a restarted sender can continue from
    /// its last journaled STAN.
    pub fn starting_after(start: u32) -> StanGenerator {
        StanGenerator { last: AtomicU32::new(start % (STAN_MAX + 1)) }
    }

    pub fn next_value(&self) -> u32 {
        let mut current = self.last.load(Ordering::Relaxed);
        loop {
            let next = if current >= STAN_MAX { 1 } else { current + 1 };
            match self.last.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return next,
                Err(actual) => current = actual,
            }
        }
    }

    /// The next STAN (field 11 is its [`Stan::field`] text).
    pub fn next(&self) -> Stan {
        Stan::wrapping(self.next_value())
    }
}

impl Default for StanGenerator {
    fn default() -> StanGenerator {
        StanGenerator::starting_after(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_from_a_clock_reading() {
        // 2024-02-29 12:00:00 UTC.
        let ms = 1_709_208_000_000;
        assert_eq!(transmission_time(ms), "0229120000");
        assert_eq!(settlement_date(ms, 0), "0229");
        assert_eq!(settlement_date(ms, 23 * 60), "0229");
        assert_eq!(settlement_date(ms, 11 * 60), "0301", "after an 11:00 cut-over it is the next day's");
        assert_eq!(rrn(ms, "4711"), "406012004711");
        assert_eq!(rrn_of(ms, Stan::new(4711).unwrap()).unwrap(), "406012004711");
    }

    #[test]
    fn stan_wraps_and_skips_zero() {
        let stans = StanGenerator::starting_after(999_998);
        assert_eq!(stans.next().field().as_str(), "999999");
        assert_eq!(stans.next().field().as_str(), "000001");
        assert_eq!(StanGenerator::default().next().value(), 1);
    }
}
