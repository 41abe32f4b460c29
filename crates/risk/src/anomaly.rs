//! Anomaly scores from running baselines, with no rule written: each card and merchant
//! keeps an exponentially weighted mean and variance of its amounts and of the time between
//! its transactions, and a 24-hour profile of when it trades. A transaction is scored by how
//! far it sits from that baseline, as a z-score.
//!
//! Floats are used here and only here: these are statistics of log-amounts, never money
//! totals (money stays in integer minor units everywhere else). `f32` halves the memory of a
//! million baselines and is ample for a z-score.

/// Transactions a baseline needs before it scores anything (Tazama's "exit condition": too
/// little history to judge, so no opinion rather than a false alarm).
pub const ANOMALY_HISTORY_MIN: u32 = 30;

/// Weight of a new observation in the long-term baselines: about the last 50 transactions.
const SLOW_ALPHA: f32 = 0.02;
/// Weight of a new gap in the short-term rate: about the last 7 transactions, so a burst
/// shows within a few of them.
const FAST_ALPHA: f32 = 0.25;
/// Smallest standard deviation of ln(amount) used: a merchant that always charges the same
/// amount would otherwise make a 1-cent difference an infinite z-score.
const SD_FLOOR: f32 = 0.1;
/// The same for ln(gap). Higher, because a short-term mean of gaps wanders more than one
/// amount; real traffic (Poisson, sd of ln(gap) about 1.3) is far above it anyway.
const GAP_SD_FLOOR: f32 = 0.25;
/// History the hour profile needs before it scores: a full day, or every hour not yet
/// reached on the first day would look surprising.
const HOUR_PROFILE_SPAN_MIN_MS: u64 = 86_400_000;
/// Hour counts are halved when one reaches this, so the profile keeps following the entity.
const HOUR_COUNT_MAX: u16 = 1 << 14;

/// One entity's baseline: 88 bytes.
#[derive(Clone, Copy, PartialEq, Debug, Default)]
pub struct Baseline {
    n: u32,
    first_ms: u64,
    last_ms: u64,
    /// Of ln(1 + amount in minor units).
    amount_mean: f32,
    amount_var: f32,
    /// Of ln(1 + seconds since the previous transaction), long-term.
    gap_mean: f32,
    gap_var: f32,
    /// Of the same, short-term.
    gap_fast: f32,
    hours: [u16; 24],
}

/// A transaction's distance from its entity's baseline.
#[derive(Clone, Copy, PartialEq, Debug, Default)]
pub struct AnomalyScore {
    /// |z| of ln(amount).
    pub amount_z: f32,
    /// z of the short-term rate against the long-term one; positive when faster.
    pub rate_z: f32,
    /// ln(1 / (24 × the share of past transactions in this hour)): 0 for an hour as busy as
    /// the average, about 3 for one that has seen 1/20 of that.
    pub hour_surprise: f32,
}

impl AnomalyScore {
    /// The score rules compare: the largest component.
    pub fn max(&self) -> f32 {
        self.amount_z.max(self.rate_z).max(self.hour_surprise)
    }

    /// The score in hundredths, as rules and decisions hold it (integers only there).
    pub fn centi(&self) -> u64 {
        (self.max().max(0.0) * 100.0) as u64
    }
}

fn ln_amount(amount_minor: u64) -> f32 {
    (amount_minor as f32 + 1.0).ln()
}

fn ln_gap(gap_ms: u64) -> f32 {
    (gap_ms as f32 / 1000.0 + 1.0).ln()
}

/// Update an exponentially weighted mean and variance (West 1979). Early on the weight is
/// 1/n, so the first observations give their plain mean rather than a mean biased to the
/// first value.
fn ewma(mean: &mut f32, var: &mut f32, x: f32, n: u32) {
    let alpha = (1.0 / n as f32).max(SLOW_ALPHA);
    let diff = x - *mean;
    let step = alpha * diff;
    *mean += step;
    *var = (1.0 - alpha) * (*var + diff * step);
}

impl Baseline {
    pub fn history(&self) -> u32 {
        self.n
    }

    /// Score a transaction against the baseline as it stands (before [`Baseline::learn`]),
    /// or `None` below [`ANOMALY_HISTORY_MIN`].
    pub fn score(&self, amount_minor: u64, at_ms: u64, hour: usize) -> Option<AnomalyScore> {
        if self.n < ANOMALY_HISTORY_MIN {
            return None;
        }
        let amount_sd = self.amount_var.sqrt().max(SD_FLOOR);
        let amount_z = (ln_amount(amount_minor) - self.amount_mean).abs() / amount_sd;
        // The short-term mean after this gap, against the long-term one: the spread of an
        // EWMA of independent draws is sd × sqrt(α / (2 − α)).
        let gap = ln_gap(at_ms.saturating_sub(self.last_ms));
        let fast = self.gap_fast + FAST_ALPHA * (gap - self.gap_fast);
        let fast_sd = self.gap_var.sqrt().max(GAP_SD_FLOOR) * (FAST_ALPHA / (2.0 - FAST_ALPHA)).sqrt();
        let rate_z = (self.gap_mean - fast) / fast_sd;
        let total: u32 = self.hours.iter().map(|&h| u32::from(h)).sum();
        let share = (f32::from(self.hours[hour % 24]) + 1.0) / (total as f32 + 24.0);
        let profiled = self.last_ms.saturating_sub(self.first_ms) >= HOUR_PROFILE_SPAN_MIN_MS;
        let hour_surprise = if profiled { (1.0 / (24.0 * share)).ln().max(0.0) } else { 0.0 };
        Some(AnomalyScore { amount_z, rate_z, hour_surprise })
    }

    /// Take a transaction into the baseline.
    pub fn learn(&mut self, amount_minor: u64, at_ms: u64, hour: usize) {
        self.n = self.n.saturating_add(1);
        if self.n == 1 {
            self.first_ms = at_ms;
        }
        ewma(&mut self.amount_mean, &mut self.amount_var, ln_amount(amount_minor), self.n);
        if self.n > 1 {
            let gap = ln_gap(at_ms.saturating_sub(self.last_ms));
            ewma(&mut self.gap_mean, &mut self.gap_var, gap, self.n - 1);
            self.gap_fast = if self.n == 2 { gap } else { self.gap_fast + FAST_ALPHA * (gap - self.gap_fast) };
        }
        self.last_ms = self.last_ms.max(at_ms);
        let slot = &mut self.hours[hour % 24];
        *slot += 1;
        if *slot >= HOUR_COUNT_MAX {
            self.hours.iter_mut().for_each(|h| *h /= 2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::SplitMix;

    const T0_MS: u64 = 1_764_892_800_000;
    const HOUR_MS: u64 = 3_600_000;

    fn hour_of(at_ms: u64) -> usize {
        ((at_ms / HOUR_MS) % 24) as usize
    }

    /// A merchant selling about once a minute around 50.00, day and night, for three days.
    fn steady(baseline: &mut Baseline, rng: &mut SplitMix, days: u64) -> (u64, f32) {
        let mut at_ms = T0_MS;
        let mut worst: f32 = 0.0;
        while at_ms < T0_MS + days * 24 * HOUR_MS {
            at_ms += 45_000 + rng.below(30_000);
            let amount = 4_000 + rng.below(2_000);
            if let Some(score) = baseline.score(amount, at_ms, hour_of(at_ms)) {
                worst = worst.max(score.max());
            }
            baseline.learn(amount, at_ms, hour_of(at_ms));
        }
        (at_ms, worst)
    }

    #[test]
    fn the_steady_period_is_quiet_and_ten_times_the_amount_is_flagged() {
        let mut rng = SplitMix::new(1);
        let mut b = Baseline::default();
        let (at_ms, worst) = steady(&mut b, &mut rng, 3);
        assert!(worst < 4.0, "steady pattern scored {worst}");
        let ten_times = b.score(50_000, at_ms + 60_000, hour_of(at_ms)).unwrap();
        assert!(ten_times.amount_z > 8.0, "{ten_times:?}");
        let usual = b.score(5_000, at_ms + 60_000, hour_of(at_ms)).unwrap();
        assert!(usual.max() < 4.0, "{usual:?}");
    }

    #[test]
    fn twenty_times_the_rate_is_flagged_within_a_few_transactions() {
        let mut rng = SplitMix::new(2);
        let mut b = Baseline::default();
        let (mut at_ms, _) = steady(&mut b, &mut rng, 3);
        let mut flagged_after = None;
        for i in 0..5 {
            at_ms += 3_000;
            let score = b.score(5_000, at_ms, hour_of(at_ms)).unwrap();
            if score.rate_z > 4.0 {
                flagged_after = Some(i + 1);
                break;
            }
            b.learn(5_000, at_ms, hour_of(at_ms));
        }
        assert!(matches!(flagged_after, Some(1..=3)), "{flagged_after:?}");
    }

    #[test]
    fn an_hour_never_traded_in_is_surprising() {
        let mut b = Baseline::default();
        // Shop hours 09:00 to 17:00 UTC for ten days, 20 sales an hour.
        for day in 0..10 {
            for hour in 9..17 {
                for i in 0..20 {
                    let at_ms = T0_MS + day * 24 * HOUR_MS + hour * HOUR_MS + i * 180_000;
                    b.learn(5_000, at_ms, hour as usize);
                }
            }
        }
        let night = b.score(5_000, T0_MS + 10 * 24 * HOUR_MS + 3 * HOUR_MS, 3).unwrap();
        let noon = b.score(5_000, T0_MS + 10 * 24 * HOUR_MS + 12 * HOUR_MS, 12).unwrap();
        assert!(night.hour_surprise > 4.0, "{night:?}");
        assert_eq!(noon.hour_surprise, 0.0, "{noon:?}");
    }

    #[test]
    fn too_little_history_is_no_opinion() {
        let mut b = Baseline::default();
        for i in 0..u64::from(ANOMALY_HISTORY_MIN) - 1 {
            b.learn(100, T0_MS + i * 1000, 0);
        }
        assert_eq!(b.score(1_000_000, T0_MS + 100_000, 0), None);
        b.learn(100, T0_MS + 50_000, 0);
        assert!(b.score(1_000_000, T0_MS + 100_000, 0).unwrap().amount_z > 8.0);
    }
}
