//! One simulated run: the world built from a seed, a workload of purchases on seeded cards
//! over faulty links, a drain on healed links, then the invariants.

use std::collections::BTreeMap;
use std::sync::Arc;

use clock::ManualClock;

use crate::client::{Cardholder, Client, Outcome};
use crate::driver::{CLIENT, DriverConfig, NetStats, Sim};
use crate::link::LinkConfig;
use crate::node::PartyNode;
use crate::rng::Rng;
use crate::world::{RunDir, World};

/// Where simulated time starts: 2026-11-22 00:00 UTC (cards issued then are valid for years).
pub const START_MS: u64 = 1_795_305_600_000;
/// Purchases one run makes at most.
pub const PURCHASES_MAX: usize = 10_000;
/// Cards per issuer at most.
pub const CARDS_PER_ISSUER_MAX: usize = 1_000;
/// Each card's opening balance: enough that the workload is never refused for funds.
pub const CARD_BALANCE_MINOR: u64 = 100_000_000;
/// Crashes one run plans at most.
pub const CRASHES_MAX: u32 = 100;
/// A crashed party is down this long at least and at most.
pub const DOWN_MS_MIN: u64 = 100;
pub const DOWN_MS_MAX: u64 = 3_000;
/// Partitions one run plans at most.
pub const PARTITIONS_MAX: u32 = 100;
/// A partition lasts this long at least and at most.
pub const PARTITION_MS_MIN: u64 = 500;
pub const PARTITION_MS_MAX: u64 = 10_000;
/// A purchase's amount at most.
pub const AMOUNT_MINOR_MAX: u64 = 10_000;

/// What one run does.
#[derive(Debug, Clone, Copy)]
pub struct SimOptions {
    pub seed: u64,
    pub purchases: usize,
    pub cards_per_issuer: usize,
    /// Every link's faults during the workload.
    pub link: LinkConfig,
    /// The switch waits this long for an issuer.
    pub issuer_timeout_ms: u64,
    /// The acquirer waits this long for the switch (more than the issuer timeout).
    pub client_timeout_ms: u64,
    /// Between two purchases at most (uniform from 0).
    pub purchase_gap_ms_max: u64,
    /// After the workload and before the horizon, on healed links.
    pub drain_ms: u64,
    /// How often a delivery loop looks for due work without being woken.
    pub poll_interval_ms: u64,
    /// Party crashes during the workload (each a seeded party, time and downtime).
    pub crashes: u32,
    /// Link partitions during the workload (each a seeded route, start and length).
    pub partitions: u32,
}

impl SimOptions {
    /// The defaults with `seed`: 40 purchases on 4 cards per issuer over clean links.
    pub fn new(seed: u64) -> SimOptions {
        SimOptions {
            seed,
            purchases: 40,
            cards_per_issuer: 4,
            link: LinkConfig::CLEAN,
            issuer_timeout_ms: 2_000,
            client_timeout_ms: 5_000,
            purchase_gap_ms_max: 200,
            drain_ms: 1_800_000,
            poll_interval_ms: 1_000,
            crashes: 0,
            partitions: 0,
        }
    }
}

impl SimOptions {
    /// What `cardnet sim` runs: `purchases` over links of 1–400 ms (well inside the timeouts),
    /// losing and duplicating the given percentages of messages during the workload.
    pub fn faulty(seed: u64, purchases: usize, loss_percent: u32, duplicate_percent: u32) -> SimOptions {
        let link = LinkConfig {
            latency_ms_min: 1,
            latency_ms_max: 400,
            loss_ppm: loss_percent.min(100) * PERCENT_PPM,
            duplicate_ppm: duplicate_percent.min(100) * PERCENT_PPM,
            reorder: false,
        };
        SimOptions { purchases, link, ..SimOptions::new(seed) }
    }
}

/// What a run saw and whether its invariants held.
#[derive(Debug, Clone)]
pub struct SimReport {
    pub seed: u64,
    /// The trace digest: equal for two runs of one seed.
    pub digest: u64,
    pub delivered: u64,
    pub net: NetStats,
    pub approved: usize,
    pub declined: usize,
    pub unanswered: usize,
    /// Broken invariants, one line each (no card number: card ids and amounts).
    pub violations: Vec<String>,
}

impl SimReport {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// The command that replays `options` (as `cardnet sim` and [`SimOptions::faulty`] set them):
/// what a failing run prints.
pub fn replay_command(options: &SimOptions) -> String {
    format!(
        "cardnet sim --seeds 1 --seed {} --purchases {} --loss-percent {} --duplicate-percent {} --crashes {} --partitions {}",
        options.seed,
        options.purchases,
        options.link.loss_ppm / PERCENT_PPM,
        options.link.duplicate_ppm / PERCENT_PPM,
        options.crashes,
        options.partitions
    )
}

/// One percent in parts per million.
const PERCENT_PPM: u32 = crate::rng::PPM / 100;

/// Run `options` once. `Err`: the world could not be built (not a finding of the run).
pub fn run(options: &SimOptions) -> Result<SimReport, String> {
    if options.purchases > PURCHASES_MAX || options.cards_per_issuer > CARDS_PER_ISSUER_MAX {
        return Err(format!("at most {PURCHASES_MAX} purchases and {CARDS_PER_ISSUER_MAX} cards per issuer"));
    }
    let mut root = Rng::new(options.seed);
    let mut entropy = root.fork();
    let network = root.fork();
    let workload = root.fork();
    let source: hsm::entropy::Source = Box::new(move |bytes: &mut [u8]| entropy.fill(bytes));
    hsm::entropy::with_source(source, || run_seeded(options, network, workload))
}

fn run_seeded(options: &SimOptions, network: Rng, mut workload: Rng) -> Result<SimReport, String> {
    let dir = RunDir::new(options.seed)?;
    let clock = ManualClock::from_ms(START_MS);
    let world = World::build(&dir, &clock, options.issuer_timeout_ms)?;
    let mut cards = Vec::new();
    for issuer in 0..world.issuers.len() {
        for _ in 0..options.cards_per_issuer.max(1) {
            cards.push(Cardholder { issuer, card: world.issue(issuer, CARD_BALANCE_MINOR)? });
        }
    }
    let hsm = Arc::clone(&world.hsm) as Arc<dyn hsm::SecurityModule>;
    let keys = &world.acquirer_keys;
    let client = Client::new(hsm, keys.zak.clone(), keys.zpk.clone(), world.acceptor.clone(), cards);
    let span_ms = options.purchase_gap_ms_max.saturating_mul(options.purchases as u64);
    let heal_at_ms = START_MS + span_ms + options.client_timeout_ms;
    let config = DriverConfig {
        start_ms: START_MS,
        horizon_ms: heal_at_ms + options.drain_ms,
        heal_at_ms,
        link: options.link,
        client_timeout_ms: options.client_timeout_ms,
        poll_interval_ms: options.poll_interval_ms,
    };
    let mut sim = Sim::new(config, clock, network, client);
    let world = Arc::new(world);
    let switch = sim.add_node(open_switch(&world), options.issuer_timeout_ms)?;
    sim.route(CLIENT, "switch", switch);
    for (index, (id, _)) in world.issuers.iter().enumerate() {
        let node = sim.add_node(open_issuer(&world, index), 0)?;
        sim.route(switch, id, node);
    }
    let mut at_ms = 0;
    let card_count = sim.client.cards.len() as u64;
    for _ in 0..options.purchases {
        at_ms += workload.between(0, options.purchase_gap_ms_max);
        let card = workload.below(card_count) as usize;
        sim.plan_purchase(at_ms, card, workload.between(1, AMOUNT_MINOR_MAX));
    }
    let parties = sim.party_nodes();
    for _ in 0..options.crashes.min(CRASHES_MAX) {
        let node = parties.start + workload.below((parties.end - parties.start) as u64) as usize;
        let at_ms = workload.below(span_ms.max(1));
        sim.plan_crash(at_ms, node, workload.between(DOWN_MS_MIN, DOWN_MS_MAX));
    }
    let pairs = sim.route_pairs();
    for _ in 0..options.partitions.min(PARTITIONS_MAX) {
        let Some(&(a, b)) = pairs.get(workload.below(pairs.len() as u64) as usize) else { break };
        let at_ms = workload.below(span_ms.max(1));
        sim.plan_partition(a, b, at_ms, workload.between(PARTITION_MS_MIN, PARTITION_MS_MAX));
    }
    let mut violations = Vec::new();
    if let Err(error) = sim.run() {
        violations.push(error);
    }
    violations.extend(sim.stopped.iter().map(|(node, error)| format!("{node} stopped: {error}")));
    violations.extend(check(&sim, &world));
    let count = |wanted: fn(&Outcome) -> bool| sim.client.purchases.iter().filter(|p| wanted(&p.outcome)).count();
    Ok(SimReport {
        seed: options.seed,
        digest: sim.trace.digest(),
        delivered: sim.trace.delivered,
        net: sim.stats.clone(),
        approved: count(|o| *o == Outcome::Approved),
        declined: count(|o| matches!(o, Outcome::Declined(_))),
        unanswered: count(|o| *o == Outcome::NoAnswer),
        violations,
    })
}

/// The switch as a node: the core opened at the start, then reopened from its database after
/// each crash.
fn open_switch(world: &Arc<World>) -> crate::driver::Restart {
    let (world, first) = (Arc::clone(world), std::cell::Cell::new(true));
    Box::new(move || {
        let switch = if first.replace(false) { Arc::clone(&world.switch) } else { world.reopen_switch()? };
        Ok(Box::new(PartyNode::new(switch)) as Box<dyn crate::node::Node>)
    })
}

fn open_issuer(world: &Arc<World>, index: usize) -> crate::driver::Restart {
    let (world, first) = (Arc::clone(world), std::cell::Cell::new(true));
    Box::new(move || {
        let issuer = match world.issuers.get(index) {
            Some((_, issuer)) if first.replace(false) => Arc::clone(issuer),
            _ => world.reopen_issuer(index)?,
        };
        Ok(Box::new(PartyNode::new(issuer)) as Box<dyn crate::node::Node>)
    })
}

/// The invariants at the end of a run, one line per broken one.
fn check(sim: &Sim, world: &World) -> Vec<String> {
    let mut violations = Vec::new();
    if sim.stats.undecodable > 0 {
        violations.push(format!("{} messages could not be encoded or decoded", sim.stats.undecodable));
    }
    let waiting = sim.client.purchases.iter().filter(|p| p.outcome == Outcome::Waiting).count();
    if waiting > 0 {
        violations.push(format!("{waiting} purchases never finished"));
    }
    let unanswered = sim.client.reversals_unanswered();
    if unanswered > 0 {
        violations.push(format!("{unanswered} reversals never taken by the switch"));
    }
    for (index, (id, issuer)) in world.issuers.iter().enumerate() {
        // After the drain every advice and reversal of the switch is delivered: one still
        // pending, or dead after its attempts, leaves the issuer's books to an operator.
        match world.switch.journal().advice_counts(id) {
            Ok(counts) if counts.pending + counts.dead > 0 => violations
                .push(format!("switch: advices to {id}: {} still pending, {} dead", counts.pending, counts.dead)),
            Ok(_) => {}
            Err(error) => violations.push(format!("switch: advice counts of {id}: {error}")),
        }
        if let Err(error) = issuer.check_ledger() {
            violations.push(format!("issuer {id}: ledger: {error}"));
        }
        // Every purchase the client saw approved, and only those, is held once: the same
        // (card, amount) multiset on both sides.
        let mut approved: BTreeMap<(i64, u64), i64> = BTreeMap::new();
        for purchase in sim.client.purchases.iter().filter(|p| p.outcome == Outcome::Approved) {
            let Some(holder) = sim.client.cards.get(purchase.card).filter(|c| c.issuer == index) else { continue };
            *approved.entry((holder.card.card_id, purchase.amount_minor)).or_default() += 1;
        }
        let holds = match issuer.holds() {
            Ok(holds) => holds,
            Err(error) => {
                violations.push(format!("issuer {id}: holds: {error}"));
                continue;
            }
        };
        let mut held: BTreeMap<(i64, u64), i64> = BTreeMap::new();
        for hold in holds.iter().filter(|h| h.kind == "purchase") {
            *held.entry((hold.card_id.unwrap_or(0), hold.amount_minor)).or_default() += 1;
        }
        for key in approved.keys().chain(held.keys()).collect::<std::collections::BTreeSet<_>>() {
            let (seen, kept) = (approved.get(key).copied().unwrap_or(0), held.get(key).copied().unwrap_or(0));
            if seen != kept {
                let outcomes: Vec<String> = sim
                    .client
                    .purchases
                    .iter()
                    .filter(|p| {
                        p.amount_minor == key.1
                            && sim
                                .client
                                .cards
                                .get(p.card)
                                .is_some_and(|c| c.card.card_id == key.0 && c.issuer == index)
                    })
                    .map(|p| {
                        format!(
                            "{:?} reversal sent {} answered {}",
                            p.outcome, p.reversal_attempts, p.reversal_answered
                        )
                    })
                    .collect();
                violations.push(format!(
                    "issuer {id}: card {} amount {}: approved {seen} times, held {kept} times; client saw {outcomes:?}",
                    key.0, key.1
                ));
            }
        }
    }
    violations
}
