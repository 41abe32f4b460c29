//! The parties agree on the day (issue 15, item 3), checked at the end of a run from their
//! public read APIs only: every card set up to be declined was declined, with its code when the
//! issuer's answer reached the terminal; every terminal signed off; what each issuer holds,
//! posted and credited on each card is what the terminals saw standing, kind by kind (sales and
//! pre-authorizations held until voided or completed, completions posted until voided, refunds
//! and completion voids credited); and the switch's journal records the final state the
//! terminal saw — approved and standing, or not — for every transaction the terminal saw
//! approved or reversed.

use std::collections::{BTreeMap, BTreeSet};

use network::codes;

use crate::driver::Sim;
use crate::pos::{Op, PosNode, Record, Seen};
use crate::world::{CardProfile, World};

/// Answers that carry no decision of the issuer's: the terminal, the acquirer or the switch
/// did not get one in time (or could not take it). A card set up to be declined may show one of
/// these instead of its own code; never an approval.
const UNDECIDED_CODES: [&str; 6] = [
    codes::ISSUER_DOWN,
    codes::SYSTEM_MALFUNCTION,
    codes::ISSUER_TIMEOUT,
    codes::LATE_RESPONSE,
    codes::DUPLICATE,
    codes::MAC_ERROR,
];

/// Every broken agreement, one line each (card ids, traces and amounts; no card number).
pub fn check(sim: &Sim, world: &World, card_issuer: &[usize], profiles: &[CardProfile]) -> Vec<String> {
    let mut violations = Vec::new();
    for pos in &sim.terminals {
        declines(pos, profiles, &PinCheck { sim, world, card_issuer }, &mut violations);
        signed_off(pos, &mut violations);
    }
    issuer_books(sim, world, card_issuer, &mut violations);
    switch_agrees(sim, world, &mut violations);
    violations
}

/// The code the issuer must decline `record` with: a purchase with a mistyped PIN (55), or
/// with a card set up to be declined; `None` for anything else.
pub fn expected_decline(record: &Record, profiles: &[CardProfile]) -> Option<&'static str> {
    match record.op {
        Op::Purchase { wrong_pin: true, .. } => Some(codes::INCORRECT_PIN),
        Op::Purchase { card, .. } => profiles.get(card).and_then(|profile| profile.decline_code()),
        _ => None,
    }
}

/// A card set up to be declined is never approved; when declined, it is with its own code or
/// one that says no issuer decided. The one approval allowed: a mistyped PIN that its issuer's
/// PIN check cannot tell from the right one ([`PinCheck::collides`]).
fn declines(pos: &PosNode, profiles: &[CardProfile], pins: &PinCheck<'_>, violations: &mut Vec<String>) {
    for record in &pos.records {
        let Some(expected) = expected_decline(record, profiles) else { continue };
        let wrong = match &record.seen {
            Seen::Approved => !matches!(record.op, Op::Purchase { wrong_pin: true, .. }) || !pins.collides(record.card),
            Seen::Declined(code) => code != expected && !UNDECIDED_CODES.contains(&code.as_str()),
            _ => false,
        };
        if wrong {
            violations.push(format!(
                "terminal {}: card {} set up to be declined {expected} showed {:?} ({}, {:?})",
                pos.id,
                record.card,
                record.seen,
                trace_of(record),
                record.op
            ));
        }
    }
}

/// What it takes to ask whether a mistyped PIN verifies as the right one.
struct PinCheck<'a> {
    sim: &'a Sim,
    world: &'a World,
    card_issuer: &'a [usize],
}

impl PinCheck<'_> {
    /// Whether the PIN the holder of `card` mistypes has the right PIN's Visa PVV (the
    /// development products' check). A PVV is four digits of a PIN's encryption, so about one
    /// wrong PIN in ten thousand shares it, and its issuer rightly approves it: not a fault
    /// of the network's. Asked only of an approval the run did not expect.
    fn collides(&self, card: usize) -> bool {
        use hsm::SecurityModule;
        let (Some(holder), Some(&issuer)) = (self.sim.cards.get(card), self.card_issuer.get(card)) else {
            return false;
        };
        let Some(config) = self.world.issuer_configs.get(issuer) else { return false };
        let (Ok(pvk), Ok(zpk)) = (
            hsm::WrappedKey::from_block(config.keys.pvk.trim()),
            self.world.hsm.generate_key(hsm::KeyType::Zpk, hsm::KeyAlgorithm::Tdes2),
        ) else {
            return false;
        };
        let (pan, format) = (holder.pan.as_str(), hsm::pinblock::PinFormat::Iso0);
        let pvv = |pin: &hsm::Secret| {
            let block = self.world.hsm.encrypt_pin(&zpk, format, pin, pan).ok()?;
            self.world.hsm.generate_pvv(&zpk, format, &block, pan, &pvk, config.keys.pvk_index).ok()
        };
        let (right, typed) = (pvv(&holder.pin), pvv(&crate::pos::mistyped(&holder.pin)));
        right.is_some() && right == typed
    }
}

/// Declined with a code that carries no decision of the issuer's.
fn undecided(seen: &Seen) -> bool {
    matches!(seen, Seen::Declined(code) if UNDECIDED_CODES.contains(&code.as_str()))
}

/// The terminal's day ended with its sign-off, answered, and the terminal is signed off.
fn signed_off(pos: &PosNode, violations: &mut Vec<String>) {
    for record in pos.records.iter().filter(|r| r.op == Op::SignOff && r.seen != Seen::Approved) {
        violations.push(format!("terminal {}: sign-off {:?}", pos.id, record.seen));
    }
    if pos.records.iter().any(|r| r.op == Op::SignOff) && pos.terminal.signed_on() {
        violations.push(format!("terminal {}: still signed on after its sign-off", pos.id));
    }
}

/// What a transaction leaves on a card's account at its issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Money {
    /// A sale's hold (not voided, not reversed).
    SaleHeld,
    /// A pre-authorization's hold (not voided, not completed).
    PreAuthHeld,
    /// A completion posted (not voided).
    CompletionPosted,
    /// A completion void's credit.
    CompletionVoidCredited,
    /// A refund's credit.
    RefundCredited,
}

/// Whether a follow-up of record `index` that `kind` accepts stands at the terminal.
fn followed(pos: &PosNode, index: usize, kind: fn(&Op) -> bool) -> bool {
    pos.records.iter().any(|r| r.op.original() == Some(index) && kind(&r.op) && r.seen == Seen::Approved)
}

/// What record `index` leaves at its issuer as the terminal saw it, and whether the terminal
/// knows (a refund is an advice, not reversed: one without an issuer's answer may stand).
fn at_terminal(pos: &PosNode, index: usize, record: &Record) -> Option<(Money, bool)> {
    let approved = record.seen == Seen::Approved;
    let undecided = undecided(&record.seen);
    let money = match record.op {
        Op::Purchase { .. } if approved && !followed(pos, index, |op| matches!(op, Op::Void { .. })) => Money::SaleHeld,
        Op::PreAuth { .. }
            if approved && !followed(pos, index, |op| matches!(op, Op::PreAuthVoid { .. } | Op::Completion { .. })) =>
        {
            Money::PreAuthHeld
        }
        Op::Completion { .. } if approved && !followed(pos, index, |op| matches!(op, Op::CompletionVoid { .. })) => {
            Money::CompletionPosted
        }
        Op::CompletionVoid { .. } if approved => Money::CompletionVoidCredited,
        Op::Refund { .. } if approved || undecided => return Some((Money::RefundCredited, approved)),
        _ => return None,
    };
    Some((money, true))
}

/// What an issuer's journal row leaves on the card's account.
fn at_issuer(entry: &issuer::JournalEntry) -> Option<Money> {
    use issuer::EntryState::{Held, Posted, Refunded};
    match (entry.kind.as_str(), entry.state) {
        ("purchase", Held) => Some(Money::SaleHeld),
        ("pre_authorization", Held) => Some(Money::PreAuthHeld),
        ("completion", Posted) if entry.refunded_minor == 0 => Some(Money::CompletionPosted),
        ("completion_void", Refunded) => Some(Money::CompletionVoidCredited),
        ("refund", Refunded) => Some(Money::RefundCredited),
        _ => None,
    }
}

/// Per card, per kind and amount: what the terminals saw standing (known, and possibly) equals
/// what the issuer's journal says the account holds, posted or was credited.
fn issuer_books(sim: &Sim, world: &World, card_issuer: &[usize], violations: &mut Vec<String>) {
    // (card, money, amount) → (standing at the terminals, possibly standing, at the issuer).
    let mut books: BTreeMap<(usize, Money, u64), (u64, u64, u64)> = BTreeMap::new();
    // What the terminals saw of each card, for the report.
    let mut seen: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for pos in &sim.terminals {
        for (index, record) in pos.records.iter().enumerate() {
            if !record.op.is_management() {
                seen.entry(record.card).or_default().push(format!(
                    "{} {} {:?} {:?}",
                    pos.id,
                    trace_of(record),
                    record.op,
                    record.seen
                ));
            }
            if let Some((money, known)) = at_terminal(pos, index, record) {
                let counts = books.entry((record.card, money, record.amount_minor)).or_default();
                if known { counts.0 += 1 } else { counts.1 += 1 }
            }
        }
    }
    for (card, holder) in sim.cards.iter().enumerate() {
        let Some((id, issuer)) = card_issuer.get(card).and_then(|&index| world.issuers.get(index)) else { continue };
        let journal = match issuer.card_journal(holder.card_id) {
            Ok(journal) => journal,
            Err(error) => {
                violations.push(format!("issuer {id}: card {}'s journal: {error}", holder.card_id));
                continue;
            }
        };
        for entry in &journal {
            if let Some(money) = at_issuer(entry) {
                books.entry((card, money, entry.amount_minor)).or_default().2 += 1;
            }
        }
    }
    for ((card, money, amount), (known, possible, held)) in books {
        if held < known || held > known + possible {
            let card_id = sim.cards.get(card).map_or(0, |c| c.card_id);
            violations.push(format!(
                "card {card_id}: {money:?} of {amount}: the terminals saw {known} standing ({possible} more unknown), its issuer has {held}; the terminals saw {:?}",
                seen.get(&card).cloned().unwrap_or_default()
            ));
        }
    }
}

/// For every transaction a terminal saw approved or reversed, the switch's exchange (found
/// through the acquirer's journal: the network's 11, 7 and MTI it sent) is approved and not
/// reversed exactly when the terminal saw it approved.
fn switch_agrees(sim: &Sim, world: &World, violations: &mut Vec<String>) {
    let journal = world.switch.journal();
    let mut exchanges = Vec::new();
    loop {
        let after = exchanges.last().map_or(0, |e: &switch::journal::Exchange| e.id);
        match journal.exchanges(after) {
            Ok(page) if page.is_empty() => break,
            Ok(page) => exchanges.extend(page),
            Err(error) => {
                violations.push(format!("switch: exchanges: {error}"));
                return;
            }
        }
    }
    let reversed: BTreeSet<u64> =
        exchanges.iter().filter(|e| e.acquirer_mti.starts_with("04")).filter_map(|e| e.original_id).collect();
    let acquirer_id = provision::layout::ACQUIRER_ID;
    for pos in &sim.terminals {
        let mut batches: BTreeMap<u32, Vec<acquirer::TransactionRecord>> = BTreeMap::new();
        for record in &pos.records {
            let (Some((batch, trace)), false) = (&record.trace, record.op.is_management()) else { continue };
            if !matches!(record.seen, Seen::Approved | Seen::Reversed) {
                continue;
            }
            if !batches.contains_key(batch) {
                match world.acquirer.batch_transactions(&pos.id, *batch) {
                    Ok(rows) => batches.insert(*batch, rows),
                    Err(error) => {
                        violations.push(format!("acquirer: terminal {} batch {batch}: {error}", pos.id));
                        continue;
                    }
                };
            }
            let row = batches.get(batch).and_then(|rows| {
                rows.iter().find(|r| r.trace.field().as_str() == trace.as_str() && r.terminal_mti != "0400")
            });
            let exchange = match row
                .and_then(|r| Some((r.net_stan.as_ref()?, r.net_time.as_ref()?, r.net_mti.as_ref()?)))
            {
                Some((stan, time, mti)) => {
                    match journal.find_exchange(acquirer_id, stan.field().as_str(), time, mti.get(..2).unwrap_or("")) {
                        Ok(exchange) => exchange,
                        Err(error) => {
                            violations.push(format!("switch: the exchange of {}: {error}", trace_of(record)));
                            continue;
                        }
                    }
                }
                None => None,
            };
            let stands = exchange
                .as_ref()
                .is_some_and(|e| e.response_code.is_some_and(|code| code.is_approved()) && !reversed.contains(&e.id));
            if stands != (record.seen == Seen::Approved) {
                let state = exchange.map_or("no exchange".to_owned(), |e| {
                    format!("{} {:?} {:?} reversed {}", e.kind, e.status, e.response_code, reversed.contains(&e.id))
                });
                violations.push(format!(
                    "terminal {} and the switch disagree on {:?} {}: terminal {:?}, switch {state}",
                    pos.id,
                    record.op,
                    trace_of(record),
                    record.seen
                ));
            }
        }
    }
}

fn trace_of(record: &Record) -> String {
    record.trace.as_ref().map_or("-".to_owned(), |(batch, trace)| format!("{batch:06}/{trace}"))
}
