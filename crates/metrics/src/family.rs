//! A metric family: one name, one help line, fixed label names, and at most `series_max` label
//! sets. Recording is an atomic add on a series found by a lock-free scan; the mutex is taken
//! only to create a series. Label sets beyond the bound (or a value too long to keep) fold into
//! one `other` series, so a peer sending new MTIs or codes at will cannot grow memory.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::text::Exposition;

/// Label sets one family keeps unless it says otherwise; the rest fold into `other`.
pub const SERIES_PER_FAMILY_MAX: usize = 64;
/// Longest label value kept as itself; a longer one is counted under `other`.
pub const LABEL_VALUE_BYTES_MAX: usize = 64;
/// The label value every folded series carries.
pub const OTHER: &str = "other";

/// Upper bounds of the latency histograms' buckets, in microseconds (rendered in milliseconds):
/// 0.5 ms (an answer from memory) to 10 s (beyond every link timeout).
pub const LATENCY_BUCKETS_US: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
    10_000_000,
];

/// What a family holds per series and how it is written.
pub trait Metric: Default + Send + Sync + 'static {
    /// The exposition format's TYPE word.
    const TYPE: &'static str;
    /// Whether the series has been touched (an untouched `other` series is not written).
    fn touched(&self) -> bool;
    fn render(&self, name: &str, labels: &[(&str, &str)], out: &mut Exposition);
}

/// A count since the process started; only goes up.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Metric for Counter {
    const TYPE: &'static str = "counter";
    fn touched(&self) -> bool {
        self.get() > 0
    }
    fn render(&self, name: &str, labels: &[(&str, &str)], out: &mut Exposition) {
        out.sample(name, labels, None, self.get());
    }
}

/// A value that goes up and down (in flight, queue depth, backlog).
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn set(&self, value: i64) {
        self.0.store(value, Ordering::Relaxed);
    }

    pub fn add(&self, delta: i64) {
        self.0.fetch_add(delta, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Metric for Gauge {
    const TYPE: &'static str = "gauge";
    fn touched(&self) -> bool {
        self.get() != 0
    }
    fn render(&self, name: &str, labels: &[(&str, &str)], out: &mut Exposition) {
        out.sample(name, labels, None, self.get());
    }
}

/// Latencies in the fixed [`LATENCY_BUCKETS_US`]; each observation is two atomic adds and one
/// bucket increment (buckets are stored apart and summed when written).
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS_US.len()],
    /// Observations above the last bound (counted only in `+Inf`).
    overflow: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        self.observe_us(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn observe_us(&self, us: u64) {
        match LATENCY_BUCKETS_US.iter().position(|&bound| us <= bound) {
            Some(index) => self.buckets[index].fetch_add(1, Ordering::Relaxed),
            None => self.overflow.fetch_add(1, Ordering::Relaxed),
        };
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum::<u64>() + self.overflow.load(Ordering::Relaxed)
    }
}

impl Metric for Histogram {
    const TYPE: &'static str = "histogram";
    fn touched(&self) -> bool {
        self.count() > 0
    }
    fn render(&self, name: &str, labels: &[(&str, &str)], out: &mut Exposition) {
        let mut cumulative = 0;
        for (bound, bucket) in LATENCY_BUCKETS_US.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            out.sample_suffixed(name, "_bucket", labels, Some(("le", &millis(*bound))), cumulative);
        }
        cumulative += self.overflow.load(Ordering::Relaxed);
        out.sample_suffixed(name, "_bucket", labels, Some(("le", "+Inf")), cumulative);
        out.sample_text(name, "_sum", labels, &millis(self.sum_us.load(Ordering::Relaxed)));
        out.sample_suffixed(name, "_count", labels, None, cumulative);
    }
}

/// Microseconds as milliseconds, exactly (no float rounding): `2500` → `2.5`.
pub fn millis(us: u64) -> String {
    let (whole, fraction) = (us / 1_000, us % 1_000);
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = format!("{fraction:03}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

struct Series<T> {
    values: Box<[Box<str>]>,
    metric: T,
}

/// One family. Made by [`crate::Registry`]'s `counter`, `gauge` and `histogram`.
pub struct Family<T: Metric> {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    slots: Box<[OnceLock<Series<T>>]>,
    used: AtomicUsize,
    create: Mutex<()>,
    other: T,
    other_used: AtomicBool,
}

impl<T: Metric> Family<T> {
    pub(crate) fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        series_max: usize,
    ) -> Family<T> {
        Family {
            name,
            help,
            labels,
            slots: (0..series_max).map(|_| OnceLock::new()).collect(),
            used: AtomicUsize::new(0),
            create: Mutex::new(()),
            other: T::default(),
            other_used: AtomicBool::new(false),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The series of these label values (in the order of the family's label names). Wrong
    /// arity, an over-long value or a full family give the `other` series.
    pub fn with(&self, values: &[&str]) -> &T {
        if values.len() != self.labels.len() || values.iter().any(|v| v.len() > LABEL_VALUE_BYTES_MAX) {
            return self.folded();
        }
        if let Some(metric) = self.find(values, self.used.load(Ordering::Acquire)) {
            return metric;
        }
        // A poisoned mutex only means another creator panicked; the slots are still sound.
        let _creating = self.create.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let used = self.used.load(Ordering::Acquire);
        if let Some(metric) = self.find(values, used) {
            return metric;
        }
        let Some(slot) = self.slots.get(used) else { return self.folded() };
        let series =
            slot.get_or_init(|| Series { values: values.iter().map(|&v| v.into()).collect(), metric: T::default() });
        self.used.store(used + 1, Ordering::Release);
        &series.metric
    }

    fn find(&self, values: &[&str], used: usize) -> Option<&T> {
        self.slots[..used.min(self.slots.len())]
            .iter()
            .filter_map(OnceLock::get)
            .find(|series| series.values.iter().map(|v| &**v).eq(values.iter().copied()))
            .map(|series| &series.metric)
    }

    fn folded(&self) -> &T {
        self.other_used.store(true, Ordering::Relaxed);
        &self.other
    }

    /// Series kept (not counting `other`).
    pub fn series_len(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    pub(crate) fn render(&self, out: &mut Exposition) {
        out.header(self.name, self.help, T::TYPE);
        let mut labels: Vec<(&str, &str)> = Vec::with_capacity(self.labels.len());
        for series in self.slots.iter().filter_map(OnceLock::get) {
            labels.clear();
            labels.extend(self.labels.iter().copied().zip(series.values.iter().map(|v| &**v)));
            series.metric.render(self.name, &labels, out);
        }
        if self.other_used.load(Ordering::Relaxed) || self.other.touched() {
            labels.clear();
            labels.extend(self.labels.iter().map(|&name| (name, OTHER)));
            self.other.render(self.name, &labels, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_are_exact() {
        assert_eq!(millis(500), "0.5");
        assert_eq!(millis(2_500), "2.5");
        assert_eq!(millis(10_000_000), "10000");
        assert_eq!(millis(1_234), "1.234");
        assert_eq!(millis(0), "0");
    }

    #[test]
    fn a_full_family_folds_new_label_sets_into_other() {
        let family: Family<Counter> = Family::new("x_total", "x", &["code"], 2);
        family.with(&["00"]).inc();
        family.with(&["05"]).inc();
        family.with(&["51"]).inc();
        family.with(&["55"]).add(2);
        family.with(&["00"]).inc();
        assert_eq!(family.series_len(), 2);
        assert_eq!(family.with(&["00"]).get(), 2);
        assert_eq!(family.other.get(), 3);
    }

    #[test]
    fn wrong_arity_and_long_values_fold_instead_of_panicking() {
        let family: Family<Gauge> = Family::new("g", "g", &["a", "b"], 4);
        family.with(&["1"]).add(1);
        family.with(&["1", &"x".repeat(LABEL_VALUE_BYTES_MAX + 1)]).add(1);
        assert_eq!(family.series_len(), 0);
        assert_eq!(family.other.get(), 2);
    }

    #[test]
    fn histogram_buckets_take_the_first_bound_at_or_above() {
        let histogram = Histogram::default();
        histogram.observe_us(500);
        histogram.observe_us(501);
        histogram.observe_us(20_000_000);
        assert_eq!(histogram.buckets[0].load(Ordering::Relaxed), 1);
        assert_eq!(histogram.buckets[1].load(Ordering::Relaxed), 1);
        assert_eq!(histogram.overflow.load(Ordering::Relaxed), 1);
        assert_eq!(histogram.count(), 3);
    }
}
