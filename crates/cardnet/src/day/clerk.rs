//! One terminal's business day: the real terminal core (`terminal::Pos`, the same shell
//! `cardnet pos` runs) installed at the first start, its cashier logged in, working through a
//! mix of what a counter does (`mix.rs`) with the cards it holds — sales read by chip, tap or
//! swipe (the stripe read after the chip did not answer), balance inquiries, voids, refunds,
//! pre-authorizations with their completions and voids, mistyped PINs, big tickets — then the
//! reversal and advices it owes, settlement with batch upload, and sign-off.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hsm::Secret;
use sim::rng::Rng;
use terminal::{Card, EntryMode, Kind, Outcome, Pos, SimCard, Terminal, TerminalConfig, TxnRequest};

use super::mix::{Draw, Op};

const CASHIER: &str = "01";
const CASHIER_PASSWORD: &str = "1111";
const SUPERVISOR_PASSWORD: &str = "123456";
/// Mistyped PINs a card gets in a day at most: below the issuer's tries (3), so none is blocked.
const WRONG_PINS_PER_CARD_MAX: u32 = 2;
/// Originals a clerk remembers for later voids, refunds and completions (oldest dropped).
const ORIGINALS_KEPT_MAX: usize = 64;
/// The terminal's wait for an answer: above the acquirer's wait for the switch, so the
/// acquirer's 98 reaches the terminal before the terminal gives up.
const TERMINAL_TIMEOUT_MS: u64 = 12_000;

/// A card in a clerk's hands: the card and its PIN, and the mistyped PINs it had today.
struct Held {
    card: Arc<Mutex<SimCard>>,
    pin: Secret,
    wrong_pins: u32,
}

/// What a clerk did: counts by (transaction, response code), latencies, and its errors.
#[derive(Default)]
pub struct Tally {
    pub outcomes: BTreeMap<(String, String), u64>,
    pub latencies_us: Vec<u64>,
    pub errors: Vec<String>,
    pub settled: bool,
}

/// Distinct errors kept word for word; the rest are only counted in `outcomes`.
const ERROR_TEXTS_MAX: usize = 8;

impl Tally {
    fn note(&mut self, op: &str, code: &str, latency_us: u64) {
        *self.outcomes.entry((op.to_owned(), code.to_owned())).or_default() += 1;
        self.latencies_us.push(latency_us);
    }

    fn error(&mut self, op: &str, error: String) {
        *self.outcomes.entry((op.to_owned(), "error".to_owned())).or_default() += 1;
        if self.errors.len() < ERROR_TEXTS_MAX && !self.errors.contains(&error) {
            self.errors.push(error);
        }
    }
}

pub struct Clerk {
    pos: Pos,
    cards: Vec<Held>,
    rng: Rng,
    /// Approved sales of the open batch: (trace, amount) — for voids and refunds.
    sales: Vec<(String, u64)>,
    /// Approved pre-authorizations not yet completed or voided: (trace, amount).
    holds: Vec<(String, u64)>,
    /// Approved completions of the open batch: their traces, for completion voids.
    completions: Vec<String>,
    supervisor: Secret,
    pub tally: Tally,
}

/// Open the terminal installed at `terminals/ID/terminal.toml` with `cards` (card files), the
/// cashier logged in.
pub fn open(terminals: &Path, terminal_id: &str, cards: &[serde_json::Value], seed: u64) -> Result<Clerk, String> {
    let failure = |what: &str, e: &dyn std::fmt::Display| format!("terminal {terminal_id}: {what}: {e}");
    let path = terminal::install::terminal_dir(terminals, terminal_id).join("terminal.toml");
    let mut config = TerminalConfig::load(&path).map_err(|e| failure("configuration", &e))?;
    config.timeout_ms = TERMINAL_TIMEOUT_MS;
    let mut core = Terminal::open(config).map_err(|e| failure("power-on", &e))?;
    core.log_in(CASHIER, &Secret::new(CASHIER_PASSWORD.as_bytes())).map_err(|e| failure("log in", &e))?;
    let mut held = Vec::with_capacity(cards.len());
    for value in cards {
        let card = SimCard::from_json(value).map_err(|e| failure("card", &e))?;
        let pin = card.pin().cloned().ok_or_else(|| failure("card", &"no PIN"))?;
        held.push(Held { card: Arc::new(Mutex::new(card)), pin, wrong_pins: 0 });
    }
    if held.is_empty() {
        return Err(failure("cards", &"none"));
    }
    Ok(Clerk {
        pos: Pos::new(core),
        cards: held,
        rng: Rng::new(seed),
        sales: Vec::new(),
        holds: Vec::new(),
        completions: Vec::new(),
        supervisor: Secret::new(SUPERVISOR_PASSWORD.as_bytes()),
        tally: Tally::default(),
    })
}

impl Clerk {
    /// Sign on, `steps` transactions drawn from the mix, then the end of the terminal's day.
    /// `done` counts transactions and `approved` approvals, for the live line.
    pub async fn work(mut self, steps: usize, done: Arc<AtomicU64>, approved: Arc<AtomicU64>) -> Tally {
        if let Err(error) = self.pos.sign_on().await {
            self.tally.error("sign-on", error.to_string());
        }
        for _ in 0..steps {
            let state = self.state();
            let op = super::mix::draw(&mut self.rng, &state);
            let started = Instant::now();
            let result = self.perform(op).await;
            let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            match result {
                Ok(outcome) => {
                    let code = outcome.response_code.as_ref().map_or("", |c| c.as_str()).to_owned();
                    if outcome.approved {
                        approved.fetch_add(1, Ordering::Relaxed);
                        self.remember(op, &outcome);
                    }
                    self.tally.note(op.name(), &code, latency_us);
                }
                Err(error) => self.tally.error(op.name(), error),
            }
            done.fetch_add(1, Ordering::Relaxed);
        }
        self.close_the_day().await;
        self.tally
    }

    fn state(&self) -> Draw {
        Draw {
            sales: self.sales.len(),
            holds: self.holds.len(),
            completions: self.completions.len(),
            wrong_pin_left: self.cards.iter().any(|c| c.wrong_pins < WRONG_PINS_PER_CARD_MAX),
        }
    }

    async fn perform(&mut self, op: Op) -> Result<Outcome, String> {
        let request = match op {
            Op::Sale { entry, amount_minor, wrong_pin } => {
                self.card_request(Kind::Purchase, entry, amount_minor, wrong_pin)?
            }
            Op::PreAuth { amount_minor } => self.card_request(Kind::PreAuth, EntryMode::Chip, amount_minor, false)?,
            Op::Balance => {
                TxnRequest { kind: Some(Kind::Balance), ..self.card_request(Kind::Balance, EntryMode::Chip, 0, false)? }
            }
            Op::Void => follow_up(Kind::Void, pick(&mut self.rng, &mut self.sales).map(|(t, _)| t), None),
            Op::Refund => {
                let sale = pick(&mut self.rng, &mut self.sales);
                let amount = sale.as_ref().map(|(_, a)| self.rng.between(1, *a));
                follow_up(Kind::Refund, sale.map(|(t, _)| t), amount)
            }
            Op::Completion => {
                let hold = pick(&mut self.rng, &mut self.holds);
                let amount = hold.as_ref().map(|(_, a)| self.rng.between(a / 2, *a));
                follow_up(Kind::Completion, hold.map(|(t, _)| t), amount)
            }
            Op::PreAuthVoid => follow_up(Kind::PreAuthVoid, pick(&mut self.rng, &mut self.holds).map(|(t, _)| t), None),
            Op::CompletionVoid => {
                let trace = pick(&mut self.rng, &mut self.completions);
                follow_up(Kind::CompletionVoid, trace, None)
            }
        };
        self.pos.transact(&request).await.map_err(|e| e.to_string())
    }

    /// A request that reads one of the clerk's cards as `entry` (a swipe: the chip did not
    /// answer, the stripe is read) with its PIN, or a mistyped one.
    fn card_request(
        &mut self,
        kind: Kind,
        entry: EntryMode,
        amount_minor: u64,
        wrong_pin: bool,
    ) -> Result<TxnRequest, String> {
        let eligible: Vec<usize> = (0..self.cards.len())
            .filter(|&i| !wrong_pin || self.cards[i].wrong_pins < WRONG_PINS_PER_CARD_MAX)
            .collect();
        let index = eligible.get(self.rng.below(eligible.len() as u64) as usize).copied().ok_or("no card to read")?;
        let held = &mut self.cards[index];
        let pin = if wrong_pin {
            held.wrong_pins += 1;
            mistyped(&held.pin)
        } else {
            Secret::new(held.pin.expose())
        };
        let fallback = entry == EntryMode::Swipe;
        set_chip_fails(&held.card, fallback)?;
        let card = Card::read(&held.card, entry).map_err(|e| e.to_string());
        set_chip_fails(&held.card, false)?;
        Ok(TxnRequest {
            kind: Some(kind),
            card: Some(card?),
            amount_minor: (kind != Kind::Balance).then_some(amount_minor),
            pin: Some(pin),
            ..TxnRequest::default()
        })
    }

    /// An approved transaction the later ones may refer to.
    fn remember(&mut self, op: Op, outcome: &Outcome) {
        let trace = outcome.trace.clone();
        let amount = outcome.amount_minor.unwrap_or(0);
        let list_push = |list: &mut Vec<(String, u64)>| {
            if list.len() >= ORIGINALS_KEPT_MAX {
                list.remove(0);
            }
            list.push((trace.clone(), amount));
        };
        match op {
            Op::Sale { .. } => list_push(&mut self.sales),
            Op::PreAuth { .. } => list_push(&mut self.holds),
            Op::Completion => {
                if self.completions.len() >= ORIGINALS_KEPT_MAX {
                    self.completions.remove(0);
                }
                self.completions.push(trace);
            }
            _ => {}
        }
    }

    /// The reversal and advices it owes, settlement (0500, then the batch upload when the
    /// totals disagree) and sign-off.
    async fn close_the_day(&mut self) {
        if let Err(error) = self.pos.flush_reversal().await {
            self.tally.error("reversal", error.to_string());
        }
        if let Err(error) = self.pos.flush_advice().await {
            self.tally.error("advice", error.to_string());
        }
        match self.pos.settle(&self.supervisor).await {
            Ok(_) => self.tally.settled = true,
            Err(error) => self.tally.error("settlement", error.to_string()),
        }
        if let Err(error) = self.pos.sign_off().await {
            self.tally.error("sign-off", error.to_string());
        }
    }
}

/// A transaction on an approved original of this batch, found by its trace in the journal.
fn follow_up(kind: Kind, trace: Option<String>, amount_minor: Option<u64>) -> TxnRequest {
    TxnRequest {
        kind: Some(kind),
        original_trace: trace,
        amount_minor,
        supervisor_password: kind.needs_supervisor().then(|| Secret::new(SUPERVISOR_PASSWORD.as_bytes())),
        ..TxnRequest::default()
    }
}

/// One of `list`, taken out of it (a void, refund or completion uses its original once).
fn pick<T>(rng: &mut Rng, list: &mut Vec<T>) -> Option<T> {
    if list.is_empty() {
        return None;
    }
    let index = rng.below(list.len() as u64) as usize;
    Some(list.swap_remove(index))
}

fn set_chip_fails(card: &Arc<Mutex<SimCard>>, fails: bool) -> Result<(), String> {
    card.lock().map_err(|_| "the card reader failed".to_owned())?.set_chip_fails(fails);
    Ok(())
}

/// The PIN with its first digit one off: what a hurried cardholder types.
fn mistyped(pin: &Secret) -> Secret {
    let mut digits = pin.expose().to_vec();
    if let Some(first) = digits.first_mut() {
        *first = if *first == b'9' { b'0' } else { first.saturating_add(1) };
    }
    Secret::from_vec(digits)
}
