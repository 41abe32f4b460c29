//! One simulated run: the world built from a seed, a business day's workload
//! ([`crate::workload`]) keyed in at seeded terminals with seeded cards over faulty links, a
//! drain on healed links, then the invariants ([`crate::check`], [`crate::agree`]).

use std::sync::Arc;

use clock::ManualClock;

use crate::driver::{DriverConfig, NetStats, Sim};
use crate::link::LinkConfig;
use crate::node::PartyNode;
use crate::pos::{Op, PosNode, Seen};
use crate::rng::Rng;
use crate::world::{CardProfile, RunDir, TERMINALS_MAX, Timeouts, World};

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
    /// POS terminals at the acquirer (each its own journal, one request outstanding).
    pub terminals: usize,
    /// Every link's faults during the workload.
    pub link: LinkConfig,
    /// The switch waits this long for an issuer.
    pub issuer_timeout_ms: u64,
    /// The acquirer waits this long for the switch (more than the issuer timeout).
    pub acquirer_timeout_ms: u64,
    /// A terminal waits this long for the acquirer (more than the acquirer's wait and two hops).
    pub terminal_timeout_ms: u64,
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
    /// Connections closed during the workload (each a seeded route and time): the requests open
    /// on one fail at once as a lost link, and what is on its way is gone.
    pub connection_cuts: u32,
    /// Power cuts during the workload: a seeded party loses the batch it is deciding, before
    /// its commit, and restarts from its database after a seeded downtime.
    pub power_cuts: u32,
    /// In a million: a purchase the supervisor voids right after it.
    pub void_ppm: u32,
    /// In a million: a purchase followed by a balance inquiry with the same card.
    pub balance_ppm: u32,
    /// After the end-of-run checks, take the day through end of day and check the books
    /// ([`crate::eod`]). On by default (`cardnet sim --no-end-of-day` leaves it out).
    pub end_of_day: bool,
    /// Tests only: break the books during end of day, to show its checks can fail.
    pub tamper: crate::eod::Tamper,
    /// In a million: a card read by its stripe (the chip did not answer), not inserted or tapped.
    pub swipe_ppm: u32,
    /// In a million: a purchase not voided that the supervisor refunds (part or all of it).
    pub refund_ppm: u32,
    /// In a million: a pre-authorization instead of a purchase.
    pub preauth_ppm: u32,
    /// In a million: a pre-authorization completed (part or all of it).
    pub completion_ppm: u32,
    /// In a million: a completion the supervisor voids.
    pub completion_void_ppm: u32,
    /// In a million: a pre-authorization not completed that the supervisor voids.
    pub preauth_void_ppm: u32,
    /// In a million: a purchase the issuer must decline (a mistyped PIN, a card with no funds,
    /// expired, lost or blocked).
    pub decline_ppm: u32,
}

impl SimOptions {
    /// The defaults with `seed`: 40 sales and pre-authorizations at 4 terminals on 4 cards per
    /// issuer over clean links — a fifth of the sales voided and a fifth of the rest refunded, a
    /// tenth followed by a balance inquiry, a fifth of the cards swiped, a fifth of the steps
    /// pre-authorizations (most completed, some voided), a sixth declined — then settlement
    /// and sign-off.
    pub fn new(seed: u64) -> SimOptions {
        SimOptions {
            seed,
            purchases: 40,
            cards_per_issuer: 4,
            terminals: 4,
            link: LinkConfig::CLEAN,
            issuer_timeout_ms: 2_000,
            acquirer_timeout_ms: 5_000,
            terminal_timeout_ms: 8_000,
            purchase_gap_ms_max: 200,
            drain_ms: 1_800_000,
            poll_interval_ms: 1_000,
            crashes: 0,
            partitions: 0,
            connection_cuts: 0,
            power_cuts: 0,
            void_ppm: 200_000,
            balance_ppm: 100_000,
            end_of_day: true,
            tamper: crate::eod::Tamper::None,
            swipe_ppm: 200_000,
            refund_ppm: 200_000,
            preauth_ppm: 200_000,
            completion_ppm: 700_000,
            completion_void_ppm: 250_000,
            preauth_void_ppm: 500_000,
            decline_ppm: 160_000,
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
    /// Purchases the terminals showed approved (voided later or not), declined, and reversed
    /// (no answer, or one the terminal did not trust).
    pub approved: usize,
    pub declined: usize,
    pub unanswered: usize,
    /// Voids the terminals showed approved, and reversals the acquirer settled.
    pub voided: usize,
    pub reversals_settled: usize,
    /// Balance inquiries answered 00.
    pub balances: usize,
    /// Refunds, pre-authorizations, completions, pre-authorization voids and completion voids
    /// the terminals showed approved.
    pub refunded: usize,
    pub pre_authorized: usize,
    pub completed: usize,
    pub pre_auths_voided: usize,
    pub completions_voided: usize,
    /// Purchases keyed in to be declined, and those the terminal showed declined with the code
    /// their card (or mistyped PIN) calls for.
    pub declines_planned: usize,
    pub declines_as_planned: usize,
    /// Purchases with a mistyped PIN the terminals showed approved: each one a PIN whose Visa
    /// PVV is the right PIN's (any other is a violation), about one in ten thousand.
    pub pin_collisions: usize,
    /// Sign-offs the acquirer answered 00.
    pub signed_off: usize,
    /// How many purchases the terminals showed declined, by field 39.
    pub declined_codes: std::collections::BTreeMap<String, usize>,
    /// Settlements (0500) the acquirer answered balanced (an unbalanced one is a violation).
    pub settled: usize,
    /// What end of day found (its checks' violations are among `violations`).
    pub day_end: crate::eod::DayEnd,
    /// Simulated time the run covered, from the first event to the last (the network quiet).
    pub simulated_ms: u64,
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
        "cardnet sim --seeds 1 --seed {} --purchases {} --terminals {} --loss-percent {} --duplicate-percent {} --crashes {} --partitions {} --power-cuts {}",
        options.seed,
        options.purchases,
        options.terminals,
        options.link.loss_ppm / PERCENT_PPM,
        options.link.duplicate_ppm / PERCENT_PPM,
        options.crashes,
        options.partitions,
        options.power_cuts
    ) + &if options.connection_cuts > 0 {
        format!(" --connection-cuts {}", options.connection_cuts)
    } else {
        String::new()
    } + if options.end_of_day { "" } else { " --no-end-of-day" }
}

/// One percent in parts per million.
const PERCENT_PPM: u32 = crate::rng::PPM / 100;

/// Run `options` once. `Err`: the world could not be built (not a finding of the run).
pub fn run(options: &SimOptions) -> Result<SimReport, String> {
    if options.purchases > PURCHASES_MAX || options.cards_per_issuer > CARDS_PER_ISSUER_MAX {
        return Err(format!("at most {PURCHASES_MAX} purchases and {CARDS_PER_ISSUER_MAX} cards per issuer"));
    }
    if !(1..=TERMINALS_MAX).contains(&options.terminals) {
        return Err(format!("1 to {TERMINALS_MAX} terminals"));
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
    let timeouts = Timeouts {
        issuer_ms: options.issuer_timeout_ms,
        acquirer_ms: options.acquirer_timeout_ms,
        terminal_ms: options.terminal_timeout_ms,
    };
    let world = World::build(&dir, &clock, &timeouts, options.terminals)?;
    // A chip's counter must rise at its issuer: each card belongs to one terminal, so at least
    // as many cards as terminals.
    let per_issuer = options.cards_per_issuer.max(options.terminals.div_ceil(world.issuers.len().max(1))).max(1);
    let mut cards = Vec::new();
    let mut card_issuer = Vec::new();
    let mut profiles = Vec::new();
    // The good cards first (every terminal owns some: `workload::owner`), then one card of each
    // kind an issuer declines, at the issuers in turn (issuing is most of a short run's work).
    let good = (0..world.issuers.len()).flat_map(|issuer| std::iter::repeat_n((issuer, CardProfile::Good), per_issuer));
    let issuers = world.issuers.len().max(1);
    let declining = CardProfile::DECLINING.into_iter().enumerate().map(|(n, profile)| (n % issuers, profile));
    for (issuer, profile) in good.chain(declining) {
        cards.push(world.issue_profiled(issuer, profile, CARD_BALANCE_MINOR)?);
        card_issuer.push(issuer);
        profiles.push(profile);
    }
    let terminals =
        (0..world.terminals.len()).map(|t| world.power_on(t).map(PosNode::new)).collect::<Result<_, _>>()?;
    let span_ms = options.purchase_gap_ms_max.saturating_mul(options.purchases as u64);
    let heal_at_ms = START_MS + span_ms + options.terminal_timeout_ms;
    let config = DriverConfig {
        start_ms: START_MS,
        horizon_ms: heal_at_ms + options.drain_ms,
        heal_at_ms,
        link: options.link,
        terminal_timeout_ms: options.terminal_timeout_ms,
        poll_interval_ms: options.poll_interval_ms,
    };
    let mut sim = Sim::new(config, clock, network, terminals, cards);
    let world = Arc::new(world);
    let powered = Arc::clone(&world);
    sim.set_power_on(Box::new(move |index| powered.power_on(index)));
    let acquirer = sim.add_node(open_acquirer(&world), options.acquirer_timeout_ms)?;
    let switch = sim.add_node(open_switch(&world), options.issuer_timeout_ms)?;
    for terminal in 0..options.terminals {
        sim.route(terminal, crate::pos::ACQUIRER_LINK, acquirer);
    }
    sim.route(acquirer, acquirer::SWITCH_LINK, switch);
    for (index, (id, _)) in world.issuers.iter().enumerate() {
        let node = sim.add_node(open_issuer(&world, index), 0)?;
        sim.route(switch, id, node);
    }
    crate::workload::plan(&mut sim, options, &mut workload, span_ms, &profiles);
    if options.tamper == crate::eod::Tamper::UnbalancedLedger
        && let Some(config) = world.issuer_configs.first()
    {
        crate::eod::tamper_database(&config.database, crate::eod::UNBALANCE_LEDGER);
    }
    let mut violations = Vec::new();
    if let Err(error) = sim.run() {
        violations.push(error);
    }
    violations.extend(sim.stopped.iter().map(|(node, error)| format!("{node} stopped: {error}")));
    violations.extend(sim.broken.iter().cloned());
    violations.extend(crate::check::check(&sim, &world, &card_issuer));
    violations.extend(crate::agree::check(&sim, &world, &card_issuer, &profiles));
    let expected = crate::books::Expected::read(&sim, &world, &card_issuer);
    let records = || sim.terminals.iter().flat_map(|t| &t.records);
    let purchases = || records().filter(|r| matches!(r.op, Op::Purchase { .. }));
    let count = |wanted: fn(&Seen) -> bool| purchases().filter(|r| wanted(&r.seen)).count();
    let approved = |kind: fn(&Op) -> bool| records().filter(|r| kind(&r.op) && r.seen == Seen::Approved).count();
    let declines = || records().filter(|r| crate::agree::expected_decline(r, &profiles).is_some());
    let mut report = SimReport {
        seed: options.seed,
        digest: sim.trace.digest(),
        delivered: sim.trace.delivered,
        simulated_ms: sim.now_ms().saturating_sub(START_MS),
        net: sim.stats.clone(),
        approved: count(|s| *s == Seen::Approved),
        declined: count(|s| matches!(s, Seen::Declined(_))),
        unanswered: count(|s| *s == Seen::Reversed),
        voided: records().filter(|r| matches!(r.op, Op::Void { .. }) && r.seen == Seen::Approved).count(),
        reversals_settled: records().filter(|r| r.reversal_settled).count(),
        balances: approved(|op| matches!(op, Op::Balance { .. })),
        refunded: approved(|op| matches!(op, Op::Refund { .. })),
        pre_authorized: approved(|op| matches!(op, Op::PreAuth { .. })),
        completed: approved(|op| matches!(op, Op::Completion { .. })),
        pre_auths_voided: approved(|op| matches!(op, Op::PreAuthVoid { .. })),
        completions_voided: approved(|op| matches!(op, Op::CompletionVoid { .. })),
        declines_planned: declines().count(),
        declines_as_planned: declines()
            .filter(|r| matches!(&r.seen, Seen::Declined(code) if Some(code.as_str()) == crate::agree::expected_decline(r, &profiles)))
            .count(),
        pin_collisions: purchases()
            .filter(|r| matches!(r.op, Op::Purchase { wrong_pin: true, .. }) && r.seen == Seen::Approved)
            .count(),
        signed_off: approved(|op| *op == Op::SignOff),
        declined_codes: purchases().fold(std::collections::BTreeMap::new(), |mut codes, r| {
            if let Seen::Declined(code) = &r.seen {
                *codes.entry(code.clone()).or_default() += 1;
            }
            codes
        }),
        settled: approved(|op| *op == Op::Settle),
        day_end: crate::eod::DayEnd::default(),
        violations,
    };
    if options.end_of_day {
        // The driver holds the cores (and the world): end of day opens the parties afresh.
        drop(sim);
        let (day_end, found) = crate::eod::end_of_day(world, dir.path(), &expected, options.tamper);
        report.day_end = day_end;
        report.violations.extend(found);
    }
    Ok(report)
}

/// A party as a node: the core opened at the start, then reopened from its database after
/// each crash.
fn reopening<P: host::Party>(
    first: Arc<P>,
    reopen: impl Fn() -> Result<Arc<P>, String> + 'static,
    check: crate::node::Check<P>,
) -> crate::driver::Restart {
    let first = std::cell::RefCell::new(Some(first));
    Box::new(move || {
        let party = match first.borrow_mut().take() {
            Some(party) => party,
            None => reopen()?,
        };
        Ok(Box::new(PartyNode::checked(party, check)) as Box<dyn crate::node::Node>)
    })
}

fn open_acquirer(world: &Arc<World>) -> crate::driver::Restart {
    let again = Arc::clone(world);
    reopening(Arc::clone(&world.acquirer), move || again.reopen_acquirer(), |_| Ok(()))
}

fn open_switch(world: &Arc<World>) -> crate::driver::Restart {
    let again = Arc::clone(world);
    reopening(Arc::clone(&world.switch), move || again.reopen_switch(), |_| Ok(()))
}

fn open_issuer(world: &Arc<World>, index: usize) -> crate::driver::Restart {
    let again = Arc::clone(world);
    let first = world.issuers.get(index).map(|(_, issuer)| Arc::clone(issuer));
    match first {
        Some(first) => reopening(
            first,
            move || again.reopen_issuer(index),
            |issuer| issuer.check_ledger().map_err(|e| format!("ledger: {e}")),
        ),
        None => Box::new(|| Err("no such issuer".to_owned())),
    }
}
