//! Sliding-window counters as rings of fixed buckets, so adding an event and reading a
//! window's count and amount cost O(1) whatever the window's length: a 1-minute window and
//! a 30-day window are both [`WINDOW_BUCKETS`] buckets, of 3.75 s and of 45 h.
//!
//! Stored column-wise: one [`WindowColumn`] holds one window (length and flow) for every
//! tracked key of an entity kind, indexed by the key's slot. A reload of the rules keeps a
//! column whose [`WindowKey`] is still used, so its history survives.
//!
//! Resolution: a window counts the events of the buckets that overlap it, so a window of
//! `window_ms` covers between `window_ms - bucket_ms` and `window_ms` of the past, plus the
//! current instant. An event is never counted by a bucket it does not belong to.

/// Buckets in every window. 16 keeps a 24 h window at 90-minute resolution for 204 bytes
/// per key and window.
pub const WINDOW_BUCKETS: usize = 16;

/// Shortest and longest window a rule may use.
pub const WINDOW_MS_MIN: u64 = 60_000;
pub const WINDOW_MS_MAX: u64 = 30 * 86_400_000;

/// Which events a window adds up.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Flow {
    /// Purchases and pre-authorizations: money the cardholder is asked for.
    Sale,
    /// Refunds: money going back to a card.
    Refund,
}

/// A window's identity in a table: its length and what it counts. Rules sharing one share
/// its column.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct WindowKey {
    pub window_ms: u64,
    pub flow: Flow,
}

/// What a window holds now: events and their amount in minor units, and the largest single
/// amount when the column tracks it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct WindowTotals {
    pub count: u32,
    pub amount_minor: u64,
    pub max_minor: u64,
}

/// One window for every slot of a table.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct WindowColumn {
    key: WindowKey,
    bucket_ms: u64,
    /// Per slot: the epoch (`at_ms / bucket_ms`) of the newest bucket.
    heads: Vec<u64>,
    /// Per slot × bucket (`slot * WINDOW_BUCKETS + epoch % WINDOW_BUCKETS`).
    counts: Vec<u32>,
    amounts: Vec<u64>,
    /// Largest amount per bucket; empty unless the column tracks it (split sales need it).
    maxes: Vec<u64>,
    /// Per slot: the sums of its buckets, kept so a read is O(1).
    count_totals: Vec<u32>,
    amount_totals: Vec<u64>,
}

impl WindowColumn {
    /// A column for `slots` keys. Zeroed vectors come from the allocator's zeroed pages, so
    /// an unused column costs address space, not memory, until keys arrive.
    pub fn new(key: WindowKey, slots: usize, track_max: bool) -> WindowColumn {
        let bucket_ms = (key.window_ms / WINDOW_BUCKETS as u64).max(1);
        WindowColumn {
            key,
            bucket_ms,
            heads: vec![0; slots],
            counts: vec![0; slots * WINDOW_BUCKETS],
            amounts: vec![0; slots * WINDOW_BUCKETS],
            maxes: if track_max { vec![0; slots * WINDOW_BUCKETS] } else { Vec::new() },
            count_totals: vec![0; slots],
            amount_totals: vec![0; slots],
        }
    }

    pub fn key(&self) -> WindowKey {
        self.key
    }

    pub fn tracks_max(&self) -> bool {
        !self.maxes.is_empty()
    }

    /// Bytes one slot costs in this column.
    pub fn bytes_per_slot(&self) -> usize {
        let per_bucket = 4 + 8 + if self.tracks_max() { 8 } else { 0 };
        WINDOW_BUCKETS * per_bucket + 8 + 4 + 8
    }

    pub fn memory_bytes(&self) -> usize {
        self.heads.capacity() * 8
            + self.counts.capacity() * 4
            + (self.amounts.capacity() + self.maxes.capacity()) * 8
            + self.count_totals.capacity() * 4
            + self.amount_totals.capacity() * 8
    }

    /// Move `slot`'s window forward to `now_ms`, emptying the buckets that fell out of it.
    /// Never moves backwards: a clock step back leaves the window as it was.
    pub fn advance(&mut self, slot: usize, now_ms: u64) {
        let epoch = now_ms / self.bucket_ms;
        let head = self.heads[slot];
        if epoch <= head {
            return;
        }
        let steps = (epoch - head).min(WINDOW_BUCKETS as u64);
        for step in 1..=steps {
            let index = slot * WINDOW_BUCKETS + ((head + step) % WINDOW_BUCKETS as u64) as usize;
            self.count_totals[slot] -= self.counts[index];
            self.amount_totals[slot] -= self.amounts[index];
            self.counts[index] = 0;
            self.amounts[index] = 0;
            if let Some(max) = self.maxes.get_mut(index) {
                *max = 0;
            }
        }
        self.heads[slot] = epoch;
    }

    /// Count an event of `amount_minor` at `at_ms` (which may be a little late: it lands in
    /// its own bucket while that bucket is still in the window, and is dropped after).
    /// Counters saturate rather than wrap, so an absurd volume reads as "a lot", not as 0.
    pub fn add(&mut self, slot: usize, at_ms: u64, amount_minor: u64) {
        self.advance(slot, at_ms);
        let epoch = at_ms / self.bucket_ms;
        if epoch + (WINDOW_BUCKETS as u64) <= self.heads[slot] {
            return;
        }
        let index = slot * WINDOW_BUCKETS + (epoch % WINDOW_BUCKETS as u64) as usize;
        if self.counts[index] == u32::MAX {
            return;
        }
        let amount = amount_minor.min(u64::MAX - self.amount_totals[slot]);
        self.counts[index] += 1;
        self.amounts[index] += amount;
        self.count_totals[slot] += 1;
        self.amount_totals[slot] += amount;
        if let Some(max) = self.maxes.get_mut(index) {
            *max = (*max).max(amount_minor);
        }
    }

    /// The window's totals as last advanced (call [`WindowColumn::advance`] first).
    pub fn totals(&self, slot: usize) -> WindowTotals {
        let max_minor = if self.tracks_max() {
            let start = slot * WINDOW_BUCKETS;
            self.maxes[start..start + WINDOW_BUCKETS].iter().copied().max().unwrap_or(0)
        } else {
            0
        };
        WindowTotals { count: self.count_totals[slot], amount_minor: self.amount_totals[slot], max_minor }
    }

    /// Forget `slot` (its key was evicted and the slot is reused).
    pub fn clear(&mut self, slot: usize) {
        let range = slot * WINDOW_BUCKETS..(slot + 1) * WINDOW_BUCKETS;
        self.counts[range.clone()].fill(0);
        self.amounts[range.clone()].fill(0);
        if self.tracks_max() {
            self.maxes[range].fill(0);
        }
        self.heads[slot] = 0;
        self.count_totals[slot] = 0;
        self.amount_totals[slot] = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE_MS: u64 = 60_000;
    const T0_MS: u64 = 1_764_892_800_000; // 2025-12-05 00:00 UTC, a bucket boundary for both

    fn column(window_ms: u64, track_max: bool) -> WindowColumn {
        WindowColumn::new(WindowKey { window_ms, flow: Flow::Sale }, 4, track_max)
    }

    #[test]
    fn counts_and_sums_within_the_window() {
        let mut c = column(10 * MINUTE_MS, true);
        c.add(1, T0_MS, 100);
        c.add(1, T0_MS + MINUTE_MS, 250);
        c.add(1, T0_MS + 2 * MINUTE_MS, 50);
        c.add(2, T0_MS, 9_999);
        c.advance(1, T0_MS + 2 * MINUTE_MS);
        assert_eq!(c.totals(1), WindowTotals { count: 3, amount_minor: 400, max_minor: 250 });
        assert_eq!(c.totals(2).count, 1, "slots are separate");
        assert_eq!(c.totals(0), WindowTotals::default());
    }

    #[test]
    fn events_leave_after_the_window_to_bucket_resolution() {
        let window_ms = 16 * MINUTE_MS; // buckets of exactly one minute
        let mut c = column(window_ms, false);
        c.add(0, T0_MS, 100);
        c.add(0, T0_MS + 5 * MINUTE_MS, 7);
        c.advance(0, T0_MS + window_ms - 1);
        assert_eq!(c.totals(0).count, 2, "one ms before the window's end the first is in");
        c.advance(0, T0_MS + window_ms);
        assert_eq!(c.totals(0), WindowTotals { count: 1, amount_minor: 7, max_minor: 0 });
        c.advance(0, T0_MS + 40 * window_ms);
        assert_eq!(c.totals(0), WindowTotals::default(), "a long gap empties every bucket");
    }

    #[test]
    fn a_thirty_day_window_costs_the_same_as_a_minute() {
        let short = column(MINUTE_MS, false);
        let long = column(WINDOW_MS_MAX, false);
        assert_eq!(short.bytes_per_slot(), long.bytes_per_slot());
        assert_eq!(short.memory_bytes(), long.memory_bytes());
        let mut long = long;
        // 28 days back is inside the 28.1 days a 30-day window always covers.
        for day in 0..=28 {
            long.add(3, T0_MS + day * 86_400_000, 1_000);
        }
        assert_eq!(long.totals(3).amount_minor, 29_000);
    }

    #[test]
    fn late_events_land_in_their_bucket_or_are_dropped() {
        let mut c = column(16 * MINUTE_MS, false);
        c.add(0, T0_MS + 10 * MINUTE_MS, 1);
        c.add(0, T0_MS + 9 * MINUTE_MS, 2);
        assert_eq!(c.totals(0).count, 2, "a minute late is still in the window");
        c.add(0, T0_MS - 10 * MINUTE_MS, 4);
        assert_eq!(c.totals(0).count, 2, "twenty minutes late is out of a 16-minute window");
        c.advance(0, T0_MS + 25 * MINUTE_MS);
        assert_eq!(c.totals(0).amount_minor, 1, "the late event leaves with its own bucket");
    }

    #[test]
    fn amounts_saturate_and_clear_forgets() {
        let mut c = column(MINUTE_MS, true);
        c.add(0, T0_MS, u64::MAX - 1);
        c.add(0, T0_MS, 5);
        assert_eq!(c.totals(0).amount_minor, u64::MAX);
        c.clear(0);
        assert_eq!(c.totals(0), WindowTotals::default());
        c.add(0, T0_MS + 1, 3);
        assert_eq!(c.totals(0).amount_minor, 3);
    }
}
