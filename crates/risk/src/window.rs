//! Sliding-window counters as rings of fixed buckets, so adding an event and reading a
//! window's count and amount cost O(1) whatever the window's length: a 1-minute window and
//! a 30-day window are both [`WINDOW_BUCKETS`] buckets, of 3.75 s and of 45 h.
//!
//! A [`WindowSet`] holds an entity kind's windows (each a length and a flow) for every
//! tracked key, a slot's windows side by side. A reload of the rules keeps a
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

/// One slot's window: a bucket packs its count (low 20 bits) and amount (high 44 bits) in
/// one word, so a row is 152 bytes. `repr(C)` keeps the head and totals first, so reading
/// a slot's windows in order walks memory forwards, which the prefetcher follows.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
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

/// A table's windows for all its slots. A slot's rows are contiguous (row `slot * windows +
/// window`), so one evaluation touches one stretch of memory per entity rather than one
/// page per window: with a million cards, page-table misses, not arithmetic, are the cost.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct WindowSet {
    keys: Vec<WindowKey>,
    bucket_ms: Vec<u64>,
    slots: usize,
    rows: Vec<Row>,
    /// Largest amount per row and bucket; empty unless the set tracks it (split sales).
    maxes: Vec<[u64; WINDOW_BUCKETS]>,
    track_max: bool,
}

impl WindowSet {
    /// An empty set of windows for `slots` keys.
    pub fn new(slots: usize, track_max: bool) -> WindowSet {
        WindowSet { keys: Vec::new(), bucket_ms: Vec::new(), slots, rows: Vec::new(), maxes: Vec::new(), track_max }
    }

    pub fn keys(&self) -> &[WindowKey] {
        &self.keys
    }

    /// Which of the set's windows is `key`.
    pub fn position(&self, key: WindowKey) -> Option<usize> {
        self.keys.iter().position(|k| *k == key)
    }

    /// Keep exactly the windows in `wanted`, in that order: windows already kept keep their
    /// history, new ones start empty. Rebuilds the rows (a reload, not the hot path): the
    /// old and new rows are both held while it runs.
    pub fn set_keys(&mut self, wanted: &[WindowKey]) {
        if wanted == self.keys.as_slice() {
            return;
        }
        let old: Vec<Option<usize>> = wanted.iter().map(|k| self.position(*k)).collect();
        let (width, old_width) = (wanted.len(), self.keys.len());
        let mut rows = vec![Row::default(); self.slots * width];
        let mut maxes = if self.track_max { vec![[0; WINDOW_BUCKETS]; self.slots * width] } else { Vec::new() };
        for slot in 0..self.slots {
            for (window, from) in old.iter().enumerate() {
                if let Some(from) = from {
                    rows[slot * width + window] = self.rows[slot * old_width + from];
                    if self.track_max {
                        maxes[slot * width + window] = self.maxes[slot * old_width + from];
                    }
                }
            }
        }
        self.keys = wanted.to_vec();
        self.bucket_ms = wanted.iter().map(|k| (k.window_ms / WINDOW_BUCKETS as u64).max(1)).collect();
        self.rows = rows;
        self.maxes = maxes;
    }

    /// Bytes one slot costs.
    pub fn bytes_per_slot(&self) -> usize {
        self.keys.len() * (std::mem::size_of::<Row>() + if self.track_max { WINDOW_BUCKETS * 8 } else { 0 })
    }

    pub fn memory_bytes(&self) -> usize {
        self.rows.capacity() * std::mem::size_of::<Row>() + self.maxes.capacity() * WINDOW_BUCKETS * 8
    }

    /// Write every page now, so the first key to use a slot does not pay a page fault in
    /// the authorization path (zeroed allocations are mapped lazily).
    pub fn prefault(&mut self) {
        self.rows.iter_mut().step_by(16).for_each(|row| *row = Row::default());
        self.maxes.iter_mut().step_by(32).for_each(|max| *max = [0; WINDOW_BUCKETS]);
    }

    /// Read the first line of each of `slot`'s windows (see `SlotIndex::touch`).
    pub fn touch(&self, slot: usize) -> u64 {
        let width = self.keys.len();
        self.rows[slot * width..(slot + 1) * width].iter().fold(0, |acc, row| acc ^ row.head)
    }

    /// Count an event in every window of `slot` whose flow is `flow`, and move the others
    /// forward to `at_ms`.
    pub fn observe(&mut self, slot: usize, flow: Option<Flow>, at_ms: u64, amount_minor: u64) {
        for window in 0..self.keys.len() {
            if Some(self.keys[window].flow) == flow {
                self.add(slot, window, at_ms, amount_minor);
            } else {
                self.advance(slot, window, at_ms);
            }
        }
    }

    /// Move a window forward to `now_ms`, emptying the buckets that fell out of it. Never
    /// moves backwards: a clock step back leaves the window as it was.
    pub fn advance(&mut self, slot: usize, window: usize, now_ms: u64) {
        let index = slot * self.keys.len() + window;
        let epoch = now_ms / self.bucket_ms[window];
        let row = &mut self.rows[index];
        if epoch <= row.head {
            return;
        }
        let steps = epoch - row.head;
        if steps >= WINDOW_BUCKETS as u64 {
            *row = Row { head: epoch, ..Row::default() };
            if let Some(max) = self.maxes.get_mut(index) {
                *max = [0; WINDOW_BUCKETS];
            }
            return;
        }
        for step in 1..=steps {
            let bucket = ((row.head + step) % WINDOW_BUCKETS as u64) as usize;
            let (count, amount) = unpack(std::mem::take(&mut row.buckets[bucket]));
            row.count_total -= count;
            row.amount_total -= amount;
            if let Some(max) = self.maxes.get_mut(index) {
                max[bucket] = 0;
            }
        }
        row.head = epoch;
    }

    /// Count an event of `amount_minor` at `at_ms` (which may be a little late: it lands in
    /// its own bucket while that bucket is still in the window, and is dropped after).
    /// A full bucket saturates rather than wraps, so an absurd volume reads as "a lot".
    pub fn add(&mut self, slot: usize, window: usize, at_ms: u64, amount_minor: u64) {
        self.advance(slot, window, at_ms);
        let index = slot * self.keys.len() + window;
        let epoch = at_ms / self.bucket_ms[window];
        let row = &mut self.rows[index];
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
        if let Some(max) = self.maxes.get_mut(index) {
            max[bucket] = max[bucket].max(amount_minor);
        }
    }

    /// A window's totals as last advanced.
    pub fn totals(&self, slot: usize, window: usize) -> WindowTotals {
        let index = slot * self.keys.len() + window;
        let row = &self.rows[index];
        let max_minor = self.maxes.get(index).map_or(0, |m| m.iter().copied().max().unwrap_or(0));
        WindowTotals { count: row.count_total, amount_minor: row.amount_total, max_minor }
    }

    /// Forget `slot` (its key was evicted and the slot is reused).
    pub fn clear(&mut self, slot: usize) {
        let range = slot * self.keys.len()..(slot + 1) * self.keys.len();
        self.rows[range.clone()].fill(Row::default());
        if self.track_max {
            self.maxes[range].fill([0; WINDOW_BUCKETS]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE_MS: u64 = 60_000;
    const T0_MS: u64 = 1_764_892_800_000; // 2025-12-05 00:00 UTC, a bucket boundary for both

    fn column(window_ms: u64, track_max: bool) -> WindowSet {
        let mut set = WindowSet::new(4, track_max);
        set.set_keys(&[WindowKey { window_ms, flow: Flow::Sale }]);
        set
    }

    #[test]
    fn counts_and_sums_within_the_window() {
        let mut c = column(10 * MINUTE_MS, true);
        c.add(1, 0, T0_MS, 100);
        c.add(1, 0, T0_MS + MINUTE_MS, 250);
        c.add(1, 0, T0_MS + 2 * MINUTE_MS, 50);
        c.add(2, 0, T0_MS, 9_999);
        c.advance(1, 0, T0_MS + 2 * MINUTE_MS);
        assert_eq!(c.totals(1, 0), WindowTotals { count: 3, amount_minor: 400, max_minor: 250 });
        assert_eq!(c.totals(2, 0).count, 1, "slots are separate");
        assert_eq!(c.totals(0, 0), WindowTotals::default());
    }

    #[test]
    fn events_leave_after_the_window_to_bucket_resolution() {
        let window_ms = 16 * MINUTE_MS; // buckets of exactly one minute
        let mut c = column(window_ms, false);
        c.add(0, 0, T0_MS, 100);
        c.add(0, 0, T0_MS + 5 * MINUTE_MS, 7);
        c.advance(0, 0, T0_MS + window_ms - 1);
        assert_eq!(c.totals(0, 0).count, 2, "one ms before the window's end the first is in");
        c.advance(0, 0, T0_MS + window_ms);
        assert_eq!(c.totals(0, 0), WindowTotals { count: 1, amount_minor: 7, max_minor: 0 });
        c.advance(0, 0, T0_MS + 40 * window_ms);
        assert_eq!(c.totals(0, 0), WindowTotals::default(), "a long gap empties every bucket");
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
            long.add(3, 0, T0_MS + day * 86_400_000, 1_000);
        }
        assert_eq!(long.totals(3, 0).amount_minor, 29_000);
    }

    #[test]
    fn late_events_land_in_their_bucket_or_are_dropped() {
        let mut c = column(16 * MINUTE_MS, false);
        c.add(0, 0, T0_MS + 10 * MINUTE_MS, 1);
        c.add(0, 0, T0_MS + 9 * MINUTE_MS, 2);
        assert_eq!(c.totals(0, 0).count, 2, "a minute late is still in the window");
        c.add(0, 0, T0_MS - 10 * MINUTE_MS, 4);
        assert_eq!(c.totals(0, 0).count, 2, "twenty minutes late is out of a 16-minute window");
        c.advance(0, 0, T0_MS + 25 * MINUTE_MS);
        assert_eq!(c.totals(0, 0).amount_minor, 1, "the late event leaves with its own bucket");
    }

    #[test]
    fn amounts_saturate_and_clear_forgets() {
        let mut c = column(MINUTE_MS, true);
        c.add(0, 0, T0_MS, BUCKET_AMOUNT_MAX - 1);
        c.add(0, 0, T0_MS, 5);
        assert_eq!(c.totals(0, 0).amount_minor, BUCKET_AMOUNT_MAX);
        assert_eq!(c.totals(0, 0).count, 2);
        assert_eq!(c.totals(0, 0).max_minor, 5.max(BUCKET_AMOUNT_MAX - 1));
        c.clear(0);
        assert_eq!(c.totals(0, 0), WindowTotals::default());
        c.add(0, 0, T0_MS + 1, 3);
        assert_eq!(c.totals(0, 0).amount_minor, 3);
    }
}
