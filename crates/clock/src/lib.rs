//! Time comes from outside every party core: in production the system clock, in tests and in
//! the deterministic simulation a [`ManualClock`] the driver moves. One trait for all of them
//! (the ledger's expiry, the store-and-forward queue's retries, later the switch's timeouts).

pub mod utc;

pub use utc::UtcDateTime;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// The current time as nanoseconds since the Unix epoch (or any fixed origin a simulation keeps).
pub trait Clock: Send + Sync {
    fn now_ns(&self) -> u64;

    fn now_ms(&self) -> u64 {
        self.now_ns() / NANOS_PER_MILLI
    }
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ns(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
    }
}

/// A clock moved by hand; clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// Starting at `start_ns` nanoseconds.
    pub fn new(start_ns: u64) -> ManualClock {
        ManualClock(Arc::new(AtomicU64::new(start_ns)))
    }

    /// Starting at `start_ms` milliseconds.
    pub fn from_ms(start_ms: u64) -> ManualClock {
        ManualClock::new(start_ms.saturating_mul(NANOS_PER_MILLI))
    }

    pub fn advance_ns(&self, ns: u64) {
        self.0.fetch_add(ns, Ordering::SeqCst);
    }

    pub fn advance_ms(&self, ms: u64) {
        self.advance_ns(ms.saturating_mul(NANOS_PER_MILLI));
    }

    pub fn advance_seconds(&self, seconds: u64) {
        self.advance_ns(seconds.saturating_mul(NANOS_PER_SECOND));
    }

    pub fn set_ns(&self, now_ns: u64) {
        self.0.store(now_ns, Ordering::SeqCst);
    }

    pub fn set_ms(&self, now_ms: u64) {
        self.set_ns(now_ms.saturating_mul(NANOS_PER_MILLI));
    }
}

impl Clock for ManualClock {
    fn now_ns(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clocks_share_time_and_convert_units() {
        let clock = ManualClock::from_ms(1_000);
        let same = clock.clone();
        clock.advance_seconds(2);
        clock.advance_ms(5);
        assert_eq!(same.now_ms(), 3_005);
        assert_eq!(same.now_ns(), 3_005_000_000);
        same.set_ms(10);
        assert_eq!(clock.now_ns(), 10_000_000);
        assert!(SystemClock.now_ms() > 1_700_000_000_000, "the system clock is after 2023");
    }
}
