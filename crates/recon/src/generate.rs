//! Synthetic business days with known truth: `transactions` terminal requests with a realistic
//! mix, each party's view derived exactly, then faults of every class injected ([`crate::faults`])
//! with the truth of each kept. Seeded and deterministic: no clock, no system randomness.
//!
//! The mix (per 100 transactions): 68 purchases, 6 voided purchases, 5 refunded (part or all),
//! 3 reversed after a timeout, 3 partially reversed, 11 pre-authorization completions (half of
//! them partial: the hold exceeds the completion), 4 voided completions.

use clearing::{BusinessDate, CardKind, FeeSchedule, TxnCode};

use crate::balance::{MemberTotals, member_totals, net_positions};
use crate::engine::Config;
use crate::faults::{Fault, inject};
use crate::keys::{LegKey, Rrn, TerminalId, TerminalKey};
use crate::rng::Rng;
use crate::source::{AcquirerRecord, ClearingItem, IssuerRecord, Sources, State, StatementLine, TerminalRecord};

/// The switch's institution id in generated days.
pub const NETWORK_MEMBER: u64 = 99_990_000;
pub const CURRENCY_CNY: u16 = 156;
/// STANs and traces run 1 ..= 999 999 and then wrap (batch moves on for traces).
const STAN_MAX: u64 = 999_999;
const SECONDS_PER_DAY: u64 = 86_400;
/// Amounts from ¥1.00 to ¥5,000.00.
const AMOUNT_MIN_MINOR: u64 = 100;
const AMOUNT_MAX_MINOR: u64 = 500_000;
/// Requests per terminal and per acquirer, on average (sizes the populations).
const REQUESTS_PER_TERMINAL: u64 = 400;
const ACQUIRERS: u64 = 20;
const ISSUERS: u64 = 50;
/// Terminal ids are `T` and 7 digits.
const TERMINAL_GROUPS_MAX: u64 = 9_999_999 / ACQUIRERS;

#[derive(Debug, Clone, Copy)]
pub struct DaySpec {
    /// Terminal requests (≈ records per source).
    pub transactions: u64,
    /// Faults of each kind per million transactions (at least one of each when non-zero).
    pub fault_rate_ppm: u32,
    pub seed: u64,
    pub date: BusinessDate,
    /// Hand the sources over in a shuffled order (as real extracts come), not generation order.
    pub shuffle: bool,
}

/// A generated day: the sources as the parties hold them, the faults injected, and the
/// per-member gross totals the day would have cleared without faults.
#[derive(Debug, Clone)]
pub struct Day {
    pub sources: Sources,
    pub faults: Vec<Fault>,
    pub true_totals: MemberTotals,
    pub config: Config,
}

/// The shape of one generated transaction (an original and its dependent, if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Purchase,
    PurchaseVoid,
    PurchaseRefund,
    PurchaseTimeoutReversal,
    PurchasePartialReversal,
    Completion,
    CompletionVoid,
}

impl Shape {
    /// Cumulative weights per 100 (the mix in the module comment).
    const MIX: [(u64, Shape); 7] = [
        (68, Shape::Purchase),
        (74, Shape::PurchaseVoid),
        (79, Shape::PurchaseRefund),
        (82, Shape::PurchaseTimeoutReversal),
        (85, Shape::PurchasePartialReversal),
        (96, Shape::Completion),
        (100, Shape::CompletionVoid),
    ];

    pub fn has_reversal(self) -> bool {
        matches!(self, Shape::PurchaseTimeoutReversal | Shape::PurchasePartialReversal)
    }

    fn root_state(self) -> State {
        match self {
            Shape::PurchaseVoid | Shape::CompletionVoid => State::Voided,
            Shape::PurchaseRefund => State::Refunded,
            Shape::PurchaseTimeoutReversal => State::Reversed,
            _ => State::Live,
        }
    }
}

/// One generated transaction: its first request's index (= its row in every source before
/// faults) and how many requests it has (1 or 2).
#[derive(Debug, Clone, Copy)]
pub struct Group {
    pub first: u32,
    pub requests: u32,
    pub shape: Shape,
}

/// The populations and counters the requests draw keys from.
struct World {
    date: BusinessDate,
    transactions: u64,
    terminals: u64,
    traces: Vec<u64>,
    acquirer_stans: Vec<u64>,
    switch_stan: u64,
    fees: FeeSchedule,
}

/// What a request is, before each party's view of it.
struct Request {
    kind: TxnCode,
    amount: u64,
    terminal: u64,
    issuer: u64,
    card: CardKind,
    /// The original's (terminal key, acquirer leg, issuer leg, reference) for dependents.
    original: Option<(TerminalKey, LegKey, LegKey, u64)>,
}

pub fn generate(spec: &DaySpec) -> Day {
    let config = Config { date: spec.date, window_days: 1, network_member: NETWORK_MEMBER };
    let mut rng = Rng::new(spec.seed);
    // A multiple of the acquirers, so each terminal belongs to one acquirer; ids have 7 digits.
    let terminals = (spec.transactions / REQUESTS_PER_TERMINAL / ACQUIRERS).clamp(1, TERMINAL_GROUPS_MAX) * ACQUIRERS;
    let mut world = World {
        date: spec.date,
        transactions: spec.transactions.max(1),
        terminals,
        traces: vec![0; terminals as usize],
        acquirer_stans: vec![0; ACQUIRERS as usize],
        switch_stan: 0,
        fees: FeeSchedule::china_2016(),
    };
    let capacity = spec.transactions as usize + 1;
    let mut sources = Sources {
        terminal: Vec::with_capacity(capacity),
        acquirer: Vec::with_capacity(capacity),
        clearing: Vec::with_capacity(capacity),
        issuer: Vec::with_capacity(capacity),
        statement: Vec::new(),
    };
    let mut groups = Vec::new();
    while (sources.terminal.len() as u64) < spec.transactions {
        let group = transaction(&mut world, &mut rng, &mut sources, groups.len() as u64);
        groups.push(group);
    }
    let true_totals = member_totals(&sources.clearing);
    let faults = inject(&mut sources, &groups, spec, &mut rng);
    sources.statement = net_positions(&sources.clearing, &config)
        .into_iter()
        .map(|((member, currency), net_minor)| StatementLine { member, currency, net_minor })
        .collect();
    if spec.shuffle {
        rng.shuffle(&mut sources.terminal);
        rng.shuffle(&mut sources.acquirer);
        rng.shuffle(&mut sources.clearing);
        rng.shuffle(&mut sources.issuer);
    }
    Day { sources, faults, true_totals, config }
}

fn pick_shape(rng: &mut Rng) -> Shape {
    let roll = rng.below(100);
    Shape::MIX.iter().find(|(bound, _)| roll < *bound).map_or(Shape::Purchase, |(_, shape)| *shape)
}

/// One transaction: its original and dependent requests into every source.
fn transaction(world: &mut World, rng: &mut Rng, sources: &mut Sources, index: u64) -> Group {
    let shape = pick_shape(rng);
    let first = sources.terminal.len() as u32;
    // Log-uniform-ish: most payments small, some large.
    let scale = [1_000, 10_000, 100_000, AMOUNT_MAX_MINOR][rng.below(4) as usize];
    let amount = rng.range(AMOUNT_MIN_MINOR, scale);
    let terminal = index % world.terminals;
    let issuer = rng.below(ISSUERS);
    let card = if rng.below(3) == 0 { CardKind::Credit } else { CardKind::Debit };
    let root_kind = if matches!(shape, Shape::Completion | Shape::CompletionVoid) {
        TxnCode::Completion
    } else {
        TxnCode::Purchase
    };
    let (dependent, reduction) = match shape {
        Shape::Purchase | Shape::Completion => (None, 0),
        Shape::PurchaseVoid => (Some((TxnCode::Void, amount)), amount),
        Shape::CompletionVoid => (Some((TxnCode::CompletionVoid, amount)), amount),
        Shape::PurchaseRefund => (Some((TxnCode::Refund, rng.range(1, amount))), 0),
        Shape::PurchaseTimeoutReversal => (Some((TxnCode::Reversal, amount)), amount),
        Shape::PurchasePartialReversal => {
            let part = rng.range(1, amount - 1);
            (Some((TxnCode::Reversal, part)), part)
        }
    };
    // A partial completion's hold (the pre-authorization) exceeds what completes.
    let held =
        if root_kind == TxnCode::Completion && rng.below(2) == 0 { amount + rng.range(1, amount) } else { amount };
    let root = Request { kind: root_kind, amount, terminal, issuer, card, original: None };
    let keys = emit(world, sources, &root, shape.root_state(), amount - reduction, held);
    if let Some((kind, part)) = dependent {
        let request = Request { kind, amount: part, terminal, issuer, card, original: Some(keys) };
        emit(world, sources, &request, State::Live, part, part);
    }
    let requests = sources.terminal.len() as u32 - first;
    Group { first, requests, shape }
}

/// `MMDDhhmmss` of second `second` of the date.
fn transmission_time(date: BusinessDate, second: u64) -> u64 {
    let (_, month, day) = date.ymd();
    let (h, m, s) = (second / 3600, second / 60 % 60, second % 60);
    u64::from(month) * 100_000_000 + u64::from(day) * 1_000_000 + h * 10_000 + m * 100 + s
}

/// Pushes one request's row at each party; returns its keys (for dependents to name).
fn emit(
    world: &mut World,
    sources: &mut Sources,
    r: &Request,
    state: State,
    issuer_posted: u64,
    held: u64,
) -> (TerminalKey, LegKey, LegKey, u64) {
    let j = sources.terminal.len() as u64;
    let acquirer = r.terminal % ACQUIRERS;
    let count = world.traces[r.terminal as usize];
    world.traces[r.terminal as usize] += 1;
    let terminal = known_valid(TerminalId::new(digits_text(&decimal::<8>(b'T', r.terminal))));
    let terminal_key =
        TerminalKey { terminal, batch: (count / STAN_MAX + 1) as u32, trace: (count % STAN_MAX + 1) as u32 };
    let second = (j * SECONDS_PER_DAY / world.transactions).min(SECONDS_PER_DAY - 1);
    let time = transmission_time(world.date, second);
    let stan = world.acquirer_stans[acquirer as usize] % STAN_MAX + 1;
    world.acquirer_stans[acquirer as usize] += 1;
    let leg = LegKey { institution: 48_020_000 + acquirer, stan: stan as u32, time };
    let issuer_leg =
        LegKey { institution: 63_010_000 + r.issuer, stan: (world.switch_stan % STAN_MAX + 1) as u32, time };
    world.switch_stan += 1;
    let rrn = known_valid(Rrn::new(digits_text(&decimal::<12>(b'0', j))));
    let reference = j + 1;
    let fees = world.fees.fees(r.card, r.amount);
    let direction = r.kind.direction();
    let (interchange, network) = (direction * fees.interchange_minor as i64, direction * fees.network_minor as i64);
    let original = r.original.map(|(_, o, _, _)| (o.stan, o.time));
    sources.terminal.push(TerminalRecord {
        key: terminal_key,
        original_trace: r.original.map_or(0, |(t, _, _, _)| t.trace),
        rrn,
        amount_minor: r.amount,
        currency: CURRENCY_CNY,
        kind: r.kind,
        date: world.date,
    });
    sources.acquirer.push(AcquirerRecord {
        terminal: terminal_key,
        key: leg,
        original,
        rrn,
        amount_minor: r.amount,
        currency: CURRENCY_CNY,
        issuer: issuer_leg.institution,
        kind: r.kind,
        state,
        date: world.date,
    });
    sources.clearing.push(ClearingItem {
        reference,
        original_reference: r.original.map_or(0, |(_, _, _, reference)| reference),
        key: leg,
        issuer_key: issuer_leg,
        original,
        terminal,
        rrn,
        amount_minor: r.amount,
        settlement_minor: direction * r.amount as i64 - interchange,
        network_fee_minor: network,
        currency: CURRENCY_CNY,
        code: r.kind,
        late: false,
        date: world.date,
    });
    sources.issuer.push(IssuerRecord {
        key: issuer_leg,
        original: r.original.map(|(_, _, i, _)| (i.stan, i.time)),
        amount_minor: issuer_posted,
        held_minor: held,
        currency: CURRENCY_CNY,
        kind: r.kind,
        state,
        date: world.date,
    });
    (terminal_key, leg, issuer_leg, reference)
}

/// `prefix` then the last `N − 1` decimal digits of `n`, zero-padded (no allocation).
/// `decimal`'s bytes as text (a prefix letter or digit and digits: always ASCII).
fn digits_text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or("")
}

/// An id made of a letter or digit and digits, which every id type accepts.
#[allow(clippy::expect_used)]
fn known_valid<T>(id: Result<T, domain::ParseError>) -> T {
    id.expect("a letter or digit followed by digits is a valid terminal id and RRN")
}

fn decimal<const N: usize>(prefix: u8, mut n: u64) -> [u8; N] {
    let mut out = [b'0'; N];
    out[0] = prefix;
    for slot in out[1..].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out
}
