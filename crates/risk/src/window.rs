//! Sliding-window counters as rings of fixed buckets, so adding an event and reading a
//! window's count and amount cost O(1) whatever the window's length: a 1-minute window and
//! a 30-day window are both [`WINDOW_BUCKETS`] buckets, of 3.75 s and of 45 h.
//!
//! One [`WindowColumn`] holds one window (length and flow) for every tracked key of an
//! entity kind, indexed by the key's slot, each slot's buckets contiguous. A reload of the rules keeps a
//! column whose [`WindowKey`] is still used, so its history survives.
//!
//! Resolution: a window counts the events of the buckets that overlap it, so a window of
//! `window_ms` covers between `window_ms - bucket_ms` and `window_ms` of the past, plus the
//! current instant. An event is never counted by a bucket it does not belong to.

/// Buckets in every window. 16 keeps a 24 h window at 90-minute resolution for 152 bytes
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

/// Events one bucket counts, at most (20 bits; a further event in it is not counted).
pub const BUCKET_COUNT_MAX: u64 = (1 << 20) - 1;
/// Minor units one bucket sums, at most (44 bits: 175 billion in a 2-decimal currency;
/// beyond, the bucket's amount saturates).
pub const BUCKET_AMOUNT_MAX: u64 = (1 << 44) - 1;

/// One slot's window, contiguous so an update touches two or three cache lines: a
/// bucket packs its count (low 20 bits) and amount (high 44 bits) in one word.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
struct Row {
    /// The epoch (`at_ms / bucket_ms`) of the newest bucket.
    head: u64,
    /// The sums of the buckets, kept so a read is O(1).
    amount_total: u64,
    count_total: u32,
    buckets: [u64; WINDOW_BUCKETS],
}

fn unpack(bucket: u64) -> (u32, u64) {
    ((bucket & BUCKET_COUNT_MAX) as u32, bucket >> 20)
}

/// One window for every slot of a table.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct WindowColumn {
    key: WindowKey,
    bucket_ms: u64,
    rows: Vec<Row>,
    /// Largest amount per slot × bucket (`slot * WINDOW_BUCKETS + epoch % WINDOW_BUCKETS`);
    /// empty unless the column tracks it (split sales need it).
    maxes: Vec<u64>,
}

impl WindowColumn {
    /// A column for `slots` keys. Zeroed vectors come from the allocator's zeroed pages, so
    /// an unused column costs address space, not memory, until keys arrive (or until
    /// [`WindowColumn::prefault`]).
    pub fn new(key: WindowKey, slots: usize, track_max: bool) -> WindowColumn {
        let bucket_ms = (key.window_ms / WINDOW_BUCKETS as u64).max(1);
        let maxes = if track_max { vec![0; slots * WINDOW_BUCKETS] } else { Vec::new() };
        WindowColumn { key, bucket_ms, rows: vec![Row::default(); slots], maxes }
    }

    pub fn key(&self) -> WindowKey {
        self.key
    }

    pub fn tracks_max(&self) -> bool {
        !self.maxes.is_empty()
    }

    /// Bytes one slot costs in this column.
    pub fn bytes_per_slot(&self) -> usize {
        std::mem::size_of::<Row>() + if self.tracks_max() { WINDOW_BUCKETS * 8 } else { 0 }
    }

    pub fn memory_bytes(&self) -> usize {
        self.rows.capacity() * std::mem::size_of::<Row>() + self.maxes.capacity() * 8
    }

    /// Write every page now, so the first key to use a slot does not pay a page fault in
    /// the authorization path.
    pub fn prefault(&mut self) {
        self.rows.iter_mut().step_by(16).for_each(|row| *row = Row::default());
        self.maxes.iter_mut().step_by(512).for_each(|max| *max = 0);
    }

    /// Move `slot`'s window forward to `now_ms`, emptying the buckets that fell out of it.
    /// Never moves backwards: a clock step back leaves the window as it was.
    pub fn advance(&mut self, slot: usize, now_ms: u64) {
        let epoch = now_ms / self.bucket_ms;
        let row = &mut self.rows[slot];
        if epoch <= row.head {
            return;
        }
        let steps = epoch - row.head;
        if steps >= WINDOW_BUCKETS as u64 {
            *row = Row { head: epoch, ..Row::default() };
            if self.tracks_max() {
                self.maxes[slot * WINDOW_BUCKETS..(slot + 1) * WINDOW_BUCKETS].fill(0);
            }
            return;
        }
        for step in 1..=steps {
            let bucket = ((row.head + step) % WINDOW_BUCKETS as u64) as usize;
            let (count, amount) = unpack(std::mem::take(&mut row.buckets[bucket]));
            row.count_total -= count;
            row.amount_total -= amount;
            if let Some(max) = self.maxes.get_mut(slot * WINDOW_BUCKETS + bucket) {
                *max = 0;
            }
        }
        row.head = epoch;
    }

    /// Count an event of `amount_minor` at `at_ms` (which may be a little late: it lands in
    /// its own bucket while that bucket is still in the window, and is dropped after).
    /// A full bucket saturates rather than wraps, so an absurd volume reads as "a lot".
    pub fn add(&mut self, slot: usize, at_ms: u64, amount_minor: u64) {
        self.advance(slot, at_ms);
        let epoch = at_ms / self.bucket_ms;
        let row = &mut self.rows[slot];
        if epoch + (WINDOW_BUCKETS as u64) <= row.head {
            return;
        }
        let bucket = (epoch % WINDOW_BUCKETS as u64) as usize;
        let (count, amount) = unpack(row.buckets[bucket]);
        if u64::from(count) == BUCKET_COUNT_MAX {
            return;
        }
        let added = amount_minor.min(BUCKET_AMOUNT_MAX - amount);
        row.buckets[bucket] = (u64::from(count) + 1) | (amount + added) << 20;
        row.count_total += 1;
        row.amount_total += added;
        if let Some(max) = self.maxes.get_mut(slot * WINDOW_BUCKETS + bucket) {
            *max = (*max).max(amount_minor);
        }
    }

    /// The window's totals as last advanced (call [`WindowColumn::advance`] first).
    pub fn totals(&self, slot: usize) -> WindowTotals {
        let row = &self.rows[slot];
        let max_minor = if self.tracks_max() {
            let start = slot * WINDOW_BUCKETS;
            self.maxes[start..start + WINDOW_BUCKETS].iter().copied().max().unwrap_or(0)
        } else {
            0
        };
        WindowTotals { count: row.count_total, amount_minor: row.amount_total, max_minor }
    }

    /// Forget `slot` (its key was evicted and the slot is reused).
    pub fn clear(&mut self, slot: usize) {
        self.rows[slot] = Row::default();
        if self.tracks_max() {
            self.maxes[slot * WINDOW_BUCKETS..(slot + 1) * WINDOW_BUCKETS].fill(0);
        }
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
        c.add(0, T0_MS, BUCKET_AMOUNT_MAX - 1);
        c.add(0, T0_MS, 5);
        assert_eq!(c.totals(0).amount_minor, BUCKET_AMOUNT_MAX);
        assert_eq!(c.totals(0).count, 2);
        assert_eq!(c.totals(0).max_minor, 5.max(BUCKET_AMOUNT_MAX - 1));
        c.clear(0);
        assert_eq!(c.totals(0), WindowTotals::default());
        c.add(0, T0_MS + 1, 3);
        assert_eq!(c.totals(0).amount_minor, 3);
    }
}
