//! The invariants at the end of a run, once the network is quiet: every terminal finished its
//! work and sent its reversals; no party keeps store-and-forward work (the switch's advices and
//! reversals to each issuer, the acquirer's network reversals), pending or dead, and the acquirer
//! reversed no transaction to the switch twice; every issuer's
//! ledger balances; what each terminal saw standing — a purchase approved, not reversed, not
//! voided by a void that stands — is held exactly once at its issuer, and nothing else is; and
//! the acquirer's journal agrees with each terminal on every transaction's final state.

use std::collections::{BTreeMap, BTreeSet};

use crate::driver::Sim;
use crate::pos::{Op, PosNode, Record, Seen};
use crate::world::World;

/// Every broken invariant, one line each (card ids and amounts, never a card number).
/// `card_issuer`: the issuer (index in the world) of each card.
pub fn check(sim: &Sim, world: &World, card_issuer: &[usize]) -> Vec<String> {
    let mut violations = Vec::new();
    if sim.stats.undecodable > 0 {
        violations.push(format!("{} messages could not be encoded or decoded", sim.stats.undecodable));
    }
    for pos in &sim.terminals {
        terminal_quiet(pos, &mut violations);
        violations.extend(journals_agree(pos, world));
    }
    match world.acquirer.reversal_counts() {
        Ok((pending, _, dead)) if pending + dead > 0 => {
            violations.push(format!("acquirer: network reversals: {pending} still pending, {dead} dead"))
        }
        Ok(_) => {}
        Err(error) => violations.push(format!("acquirer: reversal counts: {error}")),
    }
    match world.acquirer.transactions_reversed_twice() {
        Ok(0) => {}
        Ok(twice) => violations.push(format!("acquirer: {twice} transactions reversed to the switch more than once")),
        Err(error) => violations.push(format!("acquirer: reversals per transaction: {error}")),
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
        let mut standing: BTreeMap<(i64, u64), i64> = BTreeMap::new();
        let mut seen: BTreeMap<(i64, u64), Vec<String>> = BTreeMap::new();
        for pos in &sim.terminals {
            for record in pos.records.iter().filter(|r| matches!(r.op, Op::Purchase { .. })) {
                if card_issuer.get(record.card) != Some(&index) {
                    continue;
                }
                let Some(card) = sim.cards.get(record.card) else { continue };
                let key = (card.card_id, record.amount_minor);
                if purchase_stands(pos, record) {
                    *standing.entry(key).or_default() += 1;
                }
                seen.entry(key).or_default().push(describe(pos, record));
            }
        }
        for key in standing.keys().chain(held.keys()).collect::<BTreeSet<_>>() {
            let (stands, kept) = (standing.get(key).copied().unwrap_or(0), held.get(key).copied().unwrap_or(0));
            if stands != kept {
                violations.push(format!(
                    "issuer {id}: card {} amount {}: standing at the terminals {stands} times, held {kept} times; terminals saw {:?}",
                    key.0,
                    key.1,
                    seen.get(key).cloned().unwrap_or_default()
                ));
            }
        }
    }
    violations
}

/// The terminal finished: nothing keyed in left, no reversal owed, no error of its core.
fn terminal_quiet(pos: &PosNode, violations: &mut Vec<String>) {
    let waiting = pos.records.iter().filter(|r| r.seen == Seen::Waiting).count();
    if waiting > 0 {
        violations.push(format!("terminal {}: {waiting} transactions never finished", pos.id));
    }
    match pos.terminal.pending_reversal() {
        Ok(Some((trace, reason))) => {
            violations.push(format!("terminal {}: the reversal of trace {trace} ({reason}) never settled", pos.id))
        }
        Ok(None) => {}
        Err(error) => violations.push(format!("terminal {}: reversal record: {error}", pos.id)),
    }
    // Every settlement balanced: the terminal sends an advice (refund) until its answer decides
    // it, so no batch holds one the acquirer has and the terminal does not.
    for record in pos.records.iter().filter(|r| r.op == Op::Settle && r.seen != Seen::Approved) {
        violations.push(format!("terminal {}: settlement {:?}", pos.id, record.seen));
    }
    for error in &pos.errors {
        violations.push(format!("terminal {}: {error}", pos.id));
    }
}

/// Whether a void stands for `sale` (a purchase or a completion) at this terminal (approved, not
/// reversed): a void of the purchase, a completion void of the completion.
fn voided(pos: &PosNode, sale: &Record) -> bool {
    let index = pos.records.iter().position(|r| std::ptr::eq(r, sale));
    let is_purchase = matches!(sale.op, Op::Purchase { .. });
    pos.records.iter().any(|r| {
        let voids = match r.op {
            Op::Void { record } => is_purchase && Some(record) == index,
            Op::CompletionVoid { record } => !is_purchase && Some(record) == index,
            _ => false,
        };
        voids && r.seen == Seen::Approved
    })
}

/// A purchase (or completion) the terminal saw approved, did not reverse and did not void.
pub(crate) fn purchase_stands(pos: &PosNode, record: &Record) -> bool {
    record.seen == Seen::Approved && !voided(pos, record)
}

/// What the terminal's record stands for, at the terminal: the purchases and voids that
/// stand; a balance inquiry stands for nothing.
fn stands_at_terminal(pos: &PosNode, record: &Record) -> Option<bool> {
    let index = pos.records.iter().position(|r| std::ptr::eq(r, record));
    let followed = |kind: fn(&Op) -> bool| {
        pos.records.iter().any(|r| r.op.original() == index && kind(&r.op) && r.seen == Seen::Approved)
    };
    let approved = record.seen == Seen::Approved;
    match record.op {
        Op::Purchase { .. } => Some(purchase_stands(pos, record)),
        Op::PreAuth { .. } => {
            Some(approved && !followed(|op| matches!(op, Op::PreAuthVoid { .. } | Op::Completion { .. })))
        }
        Op::Completion { .. } => Some(purchase_stands(pos, record)),
        // A refund without an answer may stand at the acquirer: it is an advice, never reversed.
        Op::Refund { .. } if matches!(&record.seen, Seen::Declined(_)) => None,
        Op::Void { .. } | Op::Refund { .. } | Op::PreAuthVoid { .. } | Op::CompletionVoid { .. } => Some(approved),
        Op::Balance { .. } | Op::Settle | Op::SignOff => None,
    }
}

fn describe(pos: &PosNode, record: &Record) -> String {
    let trace = record.trace.as_ref().map_or("-".to_owned(), |(batch, trace)| format!("{batch:06}/{trace}"));
    let voided = if voided(pos, record) { " voided" } else { "" };
    let reversal = if record.reversal_settled { " reversal settled" } else { "" };
    let kind = match record.op {
        Op::Purchase { .. } => "purchase",
        Op::Void { .. } => "void",
        Op::Refund { .. } => "refund",
        Op::PreAuth { .. } => "pre-auth",
        Op::PreAuthVoid { .. } => "pre-auth void",
        Op::Completion { .. } => "completion",
        Op::CompletionVoid { .. } => "completion void",
        Op::Balance { .. } => "balance",
        Op::Settle => "settlement",
        Op::SignOff => "sign-off",
    };
    format!("{} {trace} {kind} {:?}{voided}{reversal}", pos.id, record.seen)
}

/// The acquirer's journal, the terminal's own journal and what the terminal showed agree on
/// each transaction that went out: approved and standing (not reversed, not voided) at all of
/// them, or at none.
fn journals_agree(pos: &PosNode, world: &World) -> Vec<String> {
    let mut violations = Vec::new();
    let mut batches: BTreeMap<u32, (Vec<acquirer::TransactionRecord>, Vec<terminal::JournalEntry>)> = BTreeMap::new();
    for record in &pos.records {
        let (Some((batch, trace)), Some(at_terminal)) = (&record.trace, stands_at_terminal(pos, record)) else {
            continue;
        };
        if !batches.contains_key(batch) {
            let acquirer = world.acquirer.batch_transactions(&pos.id, *batch).map_err(|e| e.to_string());
            let terminal = pos.terminal.batch_entries(*batch).map_err(|e| e.to_string());
            match (acquirer, terminal) {
                (Ok(rows), Ok(entries)) => {
                    batches.insert(*batch, (rows, entries));
                }
                (Err(error), _) | (_, Err(error)) => {
                    violations.push(format!("terminal {} batch {batch}: journals: {error}", pos.id));
                    continue;
                }
            }
        }
        let Some((rows, entries)) = batches.get(batch) else { continue };
        let in_journal = entries.iter().any(|entry| entry.trace.to_string() == *trace && entry.status == "approved");
        if in_journal != at_terminal {
            violations.push(format!(
                "terminal {}: its journal says {} for {}",
                pos.id,
                if in_journal { "standing" } else { "not standing" },
                describe(pos, record)
            ));
        }
        let journaled =
            rows.iter().find(|row| row.trace.field().as_str() == trace.as_str() && row.terminal_mti != "0400");
        let at_acquirer =
            journaled.is_some_and(|row| row.status == "approved" && !row.reversed && !row.voided && !row.completed);
        if at_terminal != at_acquirer {
            let state = journaled.map_or("no record".to_owned(), |row| {
                format!(
                    "{} {}{}{}",
                    row.kind,
                    row.status,
                    if row.reversed { " reversed" } else { "" },
                    if row.voided { " voided" } else { "" }
                )
            });
            violations.push(format!(
                "terminal {} and the acquirer disagree on {}: terminal {}, acquirer {state}",
                pos.id,
                describe(pos, record),
                if at_terminal { "standing" } else { "not standing" },
            ));
        }
    }
    violations
}
