//! The latency benchmark: an engine with 50 rules (the default rule file plus a realistic
//! mix of velocity, restriction, block-list, usual-amount and anomaly rules) and a million
//! cards already tracked, then a million authorizations on random cards, merchants and
//! terminals, each timed on its own with [`Instant`] (whose ~20 ns cost is included).
//! Deterministic: a seeded splitmix64, no `rand`.
//!
//! Run it with `cargo run --release -p cardnet-risk --example bench_risk`.

use std::fmt::Write;
use std::time::Instant;

use domain::{Currency, EntryMode, MerchantId, Money, Pan, TerminalId, TransactionKind};
use serde::Serialize;

use crate::engine::Engine;
use crate::event::Event;
use crate::key::KeyHasher;
use crate::store::{Entity, StoreLimits};

/// The default rule file, shipped as `examples/rules.toml`.
pub const DEFAULT_RULES: &str = include_str!("../examples/rules.toml");

/// The bench's clock starts here: 2025-12-05 00:00 UTC.
pub const T0_MS: u64 = 1_764_892_800_000;
const DAY_MS: u64 = 86_400_000;

/// splitmix64: a tiny deterministic PRNG for benches and tests (no `rand` dependency).
#[derive(Clone, Debug)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        crate::key::mix(self.0)
    }

    /// Uniform in `0..n` (multiply-shift; n = 0 gives 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub struct BenchOptions {
    /// Distinct cards tracked before timing starts.
    pub cards_tracked: usize,
    /// Authorizations timed.
    pub evaluations: usize,
    pub merchants: u64,
    pub terminals: u64,
    pub seed: u64,
}

impl Default for BenchOptions {
    fn default() -> BenchOptions {
        BenchOptions { cards_tracked: 1_000_000, evaluations: 1_000_000, merchants: 20_000, terminals: 60_000, seed: 1 }
    }
}

#[derive(Clone, PartialEq, Debug, Serialize)]
pub struct BenchReport {
    pub rules: usize,
    pub cards_tracked: usize,
    pub evaluations: usize,
    pub latency_us_p50: f64,
    pub latency_us_p99: f64,
    pub latency_us_p999: f64,
    pub latency_us_max: f64,
    pub evaluations_per_s: f64,
    /// The engine's memory, all of it allocated up front (it does not grow with traffic).
    pub memory_bytes: usize,
    pub bytes_per_card: usize,
    pub declines: usize,
    pub alerts: usize,
    pub preload_s: f64,
}

/// The 50 rules: the default file's 17 and 33 more.
pub fn rules_50() -> String {
    let mut text = DEFAULT_RULES.to_string();
    let mut add = |id: &str, body: &str| {
        let _ = write!(text, "\n[[rule]]\nid = \"{id}\"\nreason = \"{id}\"\n{body}\n");
    };
    for (i, (window, threshold)) in [("10m", 4), ("1h", 8), ("1h", 12), ("24h", 20), ("24h", 25)].iter().enumerate() {
        let body = format!(
            "kind = \"velocity\"\nentity = \"card\"\nmeasure = \"count\"\nwindow = \"{window}\"\nthreshold = {threshold}\nscore = 20"
        );
        add(&format!("card_count_{i}"), &body);
    }
    for (i, (window, threshold)) in
        [("10m", 300_000), ("1h", 1_000_000), ("24h", 3_000_000), ("24h", 8_000_000)].iter().enumerate()
    {
        let body = format!(
            "kind = \"velocity\"\nentity = \"card\"\nmeasure = \"amount\"\nwindow = \"{window}\"\nthreshold = {threshold}\nscore = 25"
        );
        add(&format!("card_amount_{i}"), &body);
    }
    for (i, (measure, window, threshold)) in [
        ("count", "1h", 500),
        ("count", "24h", 5_000),
        ("amount", "1h", 20_000_000),
        ("amount", "24h", 200_000_000),
        ("amount", "7d", 900_000_000),
        ("count", "10m", 200),
    ]
    .iter()
    .enumerate()
    {
        let body = format!(
            "kind = \"velocity\"\nentity = \"merchant\"\nmeasure = \"{measure}\"\nwindow = \"{window}\"\nthreshold = {threshold}\nscore = 15"
        );
        add(&format!("merchant_{measure}_{i}"), &body);
    }
    for (i, (window, threshold)) in [("10m", 60), ("1h", 200), ("24h", 2_000)].iter().enumerate() {
        let body = format!(
            "kind = \"velocity\"\nentity = \"terminal\"\nmeasure = \"count\"\nwindow = \"{window}\"\nthreshold = {threshold}\nscore = 15"
        );
        add(&format!("terminal_count_{i}"), &body);
    }
    for (i, (measure, threshold)) in [("count", 5), ("amount", 1_000_000)].iter().enumerate() {
        let body = format!(
            "kind = \"velocity\"\nentity = \"card_at_merchant\"\nmeasure = \"{measure}\"\nwindow = \"30m\"\nthreshold = {threshold}\nscore = 20"
        );
        add(&format!("pair_{measure}_{i}"), &body);
    }
    for (i, mccs) in
        [r#"["5993"]"#, r#"["5912", "5122"]"#, r#"["5962", "5966", "5967"]"#, r#"["7273"]"#].iter().enumerate()
    {
        add(&format!("mcc_{i}"), &format!("kind = \"restriction\"\nmcc = {mccs}\nscore = 10"));
    }
    for (i, entity) in ["merchant", "terminal"].iter().enumerate() {
        let body = format!(
            "kind = \"amount_vs_usual\"\nentity = \"{entity}\"\nhistory_min = 20\nthreshold = 2000\nscore = 20"
        );
        add(&format!("usual_{i}"), &body);
    }
    let hashes: Vec<String> = (0..10_000u64).map(|i| format!("\"{:016x}\"", crate::key::mix(i))).collect();
    add(
        "hot_cards",
        &format!("kind = \"block_list\"\npan_hashes = [{}]\nscore = 100\ndecline = \"57\"", hashes.join(", ")),
    );
    add("hot_bins", "kind = \"block_list\"\nbins = [\"622888\", \"62290011\", \"4\"]\nscore = 5");
    add(
        "new_merchant_week",
        "kind = \"new_merchant\"\ndays = 7\nmeasure = \"transaction\"\nthreshold = 200000\nscore = 30",
    );
    add("refund_ratio_day", "kind = \"refund_ratio\"\nwindow = \"24h\"\nsales_min = 10\nthreshold = 80\nscore = 30");
    add("card_testing_fast", "kind = \"card_testing\"\nwindow = \"2m\"\nthreshold = 3\nscore = 60");
    add("card_anomaly_high", "kind = \"anomaly\"\nentity = \"card\"\nthreshold = 1500\nscore = 20");
    add("merchant_anomaly_high", "kind = \"anomaly\"\nentity = \"merchant\"\nthreshold = 1200\nscore = 20");
    text
}

/// One random authorization (`None` never happens: the formats give valid ids).
pub fn authorization(
    rng: &mut SplitMix,
    hasher: &KeyHasher,
    opts: &BenchOptions,
    card: u64,
    at_ms: u64,
) -> Option<Event> {
    let pan = Pan::new(&format!("62{card:014}")).ok()?;
    let merchant_n = rng.below(opts.merchants.max(1));
    let terminal_n = rng.below(opts.terminals.max(1));
    let kind = if rng.below(50) == 0 { TransactionKind::Refund } else { TransactionKind::Purchase };
    Some(Event {
        card: hasher.card(&pan),
        terminal: TerminalId::new(&format!("T{terminal_n:07}")).ok()?,
        merchant: MerchantId::new(&format!("M{merchant_n:014}")).ok()?,
        mcc: [5411, 5812, 5311, 5999, 7995, 4829, 5912][rng.below(7) as usize],
        amount: Money::new(100 + rng.below(50_000), Currency::CNY),
        kind,
        entry_mode: EntryMode::Chip,
        response: None,
        merchant_onboarded_ms: Some(T0_MS - (merchant_n % 400) * DAY_MS),
        merchant_currency: Some(Currency::CNY),
        merchant_country: Some(156),
        card_country: Some(if card.is_multiple_of(20) { 344 } else { 156 }),
        at_ms,
    })
}

/// The bench's hasher.
pub fn hasher() -> KeyHasher {
    KeyHasher::new(*b"cardnet-bench-k1")
}

/// The 50-rule engine with `opts.cards_tracked` cards preloaded: a journal replay of one
/// sale each over the day before `T0_MS`, memory prefaulted.
pub fn engine(opts: &BenchOptions) -> Result<Engine, crate::RuleFileError> {
    let hasher = hasher();
    let rules = crate::rulefile::parse("bench-rules.toml", &rules_50(), &hasher)?;
    let limits = StoreLimits { cards: opts.cards_tracked.max(1), ..StoreLimits::default() };
    let mut engine = Engine::new(rules, hasher, limits);
    engine.prefault();
    let cards = opts.cards_tracked as u64;
    let step_ms = (DAY_MS / cards.max(1)).max(1);
    let mut rng = SplitMix::new(opts.seed ^ 0x5eed);
    let preload =
        (0..cards).filter_map(|card| authorization(&mut rng, &hasher, opts, card, T0_MS - DAY_MS + card * step_ms));
    engine.replay(preload);
    Ok(engine)
}

/// Build the engine (see [`engine`]), then time `opts.evaluations` authorizations on
/// random tracked cards over the following hours.
pub fn run(opts: BenchOptions) -> Result<BenchReport, crate::RuleFileError> {
    let started = Instant::now();
    let mut engine = engine(&opts)?;
    let preload_s = started.elapsed().as_secs_f64();
    let rule_count = engine.rules().rules.len();
    let hasher = hasher();
    let mut rng = SplitMix::new(opts.seed);
    let cards = opts.cards_tracked as u64;

    let mut nanos: Vec<u32> = Vec::with_capacity(opts.evaluations);
    let (mut declines, mut alerts) = (0, 0);
    let mut total_ns: u64 = 0;
    for i in 0..opts.evaluations as u64 {
        let card = rng.below(cards.max(1));
        let Some(tx) = authorization(&mut rng, &hasher, &opts, card, T0_MS + i * 20) else { continue };
        let start = Instant::now();
        let decision = engine.evaluate(&tx, tx.at_ms);
        let ns = start.elapsed().as_nanos() as u64;
        total_ns += ns;
        nanos.push(u32::try_from(ns).unwrap_or(u32::MAX));
        declines += usize::from(decision.is_declined());
        alerts += usize::from(decision.verdict == crate::Verdict::Alert);
    }
    nanos.sort_unstable();
    let pick = |q: f64| nanos.get(((nanos.len() as f64 * q) as usize).min(nanos.len().saturating_sub(1))).copied();
    let us = |n: Option<u32>| f64::from(n.unwrap_or(0)) / 1000.0;
    Ok(BenchReport {
        rules: rule_count,
        cards_tracked: engine.store().tracked(Entity::Card),
        evaluations: opts.evaluations,
        latency_us_p50: us(pick(0.50)),
        latency_us_p99: us(pick(0.99)),
        latency_us_p999: us(pick(0.999)),
        latency_us_max: us(nanos.last().copied()),
        evaluations_per_s: opts.evaluations as f64 / (total_ns.max(1) as f64 / 1e9),
        memory_bytes: engine.memory_bytes(),
        bytes_per_card: engine.store().bytes_per_key(Entity::Card),
        declines,
        alerts,
        preload_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifty_rules_and_a_small_run() {
        let report = run(BenchOptions { cards_tracked: 2_000, evaluations: 5_000, ..BenchOptions::default() }).unwrap();
        assert_eq!(report.rules, 50);
        assert_eq!(report.cards_tracked, 2_000);
        assert!(report.latency_us_p50 > 0.0 && report.latency_us_p50 <= report.latency_us_p99);
        assert!(report.declines + report.alerts < report.evaluations, "{report:?}");
    }
}
