//! From chains to transactions, and each transaction matched or in exactly one class.
//!
//! A dependent chain (void, completion void, refund, reversal) is linked to its original's chain
//! by the original key any of its records names (acquirer field 90, clearing's original,
//! terminal's original trace, issuer's original leg — the first that finds one). An original and
//! its dependents are one transaction ("group"). A reversal of a void, completion void or refund
//! (the terminal never saw the void's answer) goes in its void's group, beside it: the group is
//! the original, the void and the reversal that undid the void (the switch clears that reversal
//! as the code it restores, under the reversal's key, so its clearing record joins it). Within
//! the group such a reversal is checked against the void it names, a void it fully undid neither
//! reduces the issuer's posting nor makes the original voided, and it moves money the way the
//! original does. Then, in this order of precedence, the first rule that fires classifies the
//! group:
//!
//! 1. reversal without original: the root itself is a dependent (no party has its original), or
//!    a reversal is present at a party where its original is not;
//! 2. not reversed after timeout: a reversal went only as far as the terminal (or the
//!    acquirer) while the original went on past it;
//! 3. missing: a record absent at some party — at the terminal → missing_at_terminal; at the
//!    acquirer or the switch → missing_at_host; only at the issuer → missing_at_issuer;
//! 4. late presentment: the parties' business dates for one record differ;
//! 5. amount mismatch: one record's amounts differ, after the tolerance rules — the issuer's
//!    posting of an original is net of the voids and reversals it received (partial reversal),
//!    and a completion may post less than its pre-authorization's hold, never more;
//! 6. state mismatch: the acquirer's or issuer's state of the original disagrees with what its
//!    dependents say (a void → voided; a full reversal → reversed; a refund → refunded).
//!
//! Money: per group, what clearing should have moved (each record at the amount most parties
//! agree on) minus what it did; a difference becomes a credit or debit adjustment.

use clearing::{BusinessDate, TxnCode};

use crate::exception::{Class, Exception, Party, Resolution};
use crate::join::{Chains, NONE, lookup};
use crate::keys::{LegKey, Rrn, TerminalKey};
use crate::source::{Sources, State, is_dependent, reduces_original};

const PRESENT_ALL: u8 = 0b1111;
const T: usize = 0;
const A: usize = 1;
const C: usize = 2;
const I: usize = 3;
/// Ties in the amount vote go to clearing (what actually settled), then acquirer, terminal.
const VOTE_ORDER: [usize; 4] = [C, A, T, I];

/// What the parties hold for one chain.
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    records: [u32; 4],
    kind: TxnCode,
    present: u8,
    amounts: [Option<u64>; 4],
    dates: [Option<BusinessDate>; 4],
    /// For a reversal of a sibling dependent (a void, completion void or refund) in the group:
    /// that sibling's index among the group's children; [`NONE`] when it names the root.
    of_kid: u32,
    /// A dependent fully undone by a reversal of it in the group (it stands for nothing).
    undone: bool,
}

impl Facts {
    /// +1 if the record moves money the way a purchase does: a reversal of a void moves it back
    /// the way the void's original did.
    fn direction(&self, kids: &[Facts]) -> i64 {
        match kids.get(self.of_kid as usize) {
            Some(undone) if self.of_kid != NONE => -undone.kind.direction(),
            _ => self.kind.direction(),
        }
    }

    /// The chain a reversal in the group undoes: a sibling, or the root.
    fn target<'a>(&self, rf: &'a Facts, kids: &'a [Facts]) -> &'a Facts {
        if self.of_kid == NONE { rf } else { kids.get(self.of_kid as usize).unwrap_or(rf) }
    }
}

fn facts(sources: &Sources, records: [u32; 4]) -> Facts {
    let mut f = Facts {
        records,
        kind: TxnCode::Purchase,
        present: 0,
        amounts: [None; 4],
        dates: [None; 4],
        of_kid: NONE,
        undone: false,
    };
    let mut kinds = [None; 4];
    if records[T] != NONE {
        let r = &sources.terminal[records[T] as usize];
        (f.amounts[T], f.dates[T], kinds[T]) = (Some(r.amount_minor), Some(r.date), Some(r.kind));
    }
    if records[A] != NONE {
        let r = &sources.acquirer[records[A] as usize];
        (f.amounts[A], f.dates[A], kinds[A]) = (Some(r.amount_minor), Some(r.date), Some(r.kind));
    }
    if records[C] != NONE {
        let r = &sources.clearing[records[C] as usize];
        (f.amounts[C], f.dates[C], kinds[C]) = (Some(r.amount_minor), Some(r.date), Some(r.code));
    }
    if records[I] != NONE {
        let r = &sources.issuer[records[I] as usize];
        (f.amounts[I], f.dates[I], kinds[I]) = (Some(r.amount_minor), Some(r.date), Some(r.kind));
    }
    for (party, record) in records.iter().enumerate() {
        if *record != NONE {
            f.present |= 1 << party;
        }
    }
    f.kind = [A, C, T, I].iter().find_map(|&p| kinds[p]).unwrap_or(TxnCode::Purchase);
    f
}

/// The chain's kind as [`facts`] names it (acquirer's, else clearing's, terminal's, issuer's),
/// reading one record instead of four.
fn kind_of(sources: &Sources, records: &[u32; 4]) -> TxnCode {
    if records[A] != NONE {
        sources.acquirer[records[A] as usize].kind
    } else if records[C] != NONE {
        sources.clearing[records[C] as usize].code
    } else if records[T] != NONE {
        sources.terminal[records[T] as usize].kind
    } else if records[I] != NONE {
        sources.issuer[records[I] as usize].kind
    } else {
        TxnCode::Purchase
    }
}

/// The amount most parties hold; ties by [`VOTE_ORDER`].
fn consensus(amounts: &[Option<u64>; 4]) -> u64 {
    let mut best = (0usize, 0u64);
    for &p in &VOTE_ORDER {
        if let Some(value) = amounts[p] {
            let votes = amounts.iter().filter(|a| **a == Some(value)).count();
            if votes > best.0 {
                best = (votes, value);
            }
        }
    }
    best.1
}

/// The party whose amount is not the consensus (the first, in the parties' order).
fn odd_party(amounts: &[Option<u64>; 4], expected: u64) -> Option<Party> {
    Party::ALL.into_iter().find(|p| amounts[p.index()].is_some_and(|a| a != expected))
}

/// Links each dependent chain to its original's chain: `parent[chain]`, or [`NONE`] for roots.
pub fn link(sources: &Sources, chains: &Chains) -> Vec<u32> {
    let mut parent = vec![NONE; chains.len()];
    for (chain, records) in chains.records.iter().enumerate() {
        if chains.duplicate_of[chain] != NONE {
            continue;
        }
        if !is_dependent(kind_of(sources, records)) {
            continue;
        }
        let original = original_chain(sources, chains, records);
        if original == NONE || original == chain as u32 || chains.duplicate_of[original as usize] != NONE {
            continue;
        }
        let original_records = &chains.records[original as usize];
        // One level: an original is never itself a dependent, except that a reversal of a void
        // (completion void, refund) joins the void's own original's group, beside the void.
        if !is_dependent(kind_of(sources, original_records)) {
            parent[chain] = original;
        } else if kind_of(sources, records) == TxnCode::Reversal {
            let root = original_chain(sources, chains, original_records);
            let usable = root != NONE && root != original && root != chain as u32;
            if usable
                && chains.duplicate_of[root as usize] == NONE
                && !is_dependent(kind_of(sources, &chains.records[root as usize]))
            {
                parent[chain] = root;
            }
        }
    }
    parent
}

/// Marks the group's reversals of a sibling (a reversal of a void, completion void or refund)
/// with that sibling, and the siblings they fully undo.
fn mark_undone(sources: &Sources, chains: &Chains, children: &[u32], kids: &mut [Facts]) {
    for j in 0..kids.len() {
        if kids[j].kind != TxnCode::Reversal {
            continue;
        }
        let original = original_chain(sources, chains, &chains.records[children[j] as usize]);
        let Some(sibling) = children.iter().position(|&c| c == original && original != NONE) else { continue };
        kids[j].of_kid = sibling as u32;
        if consensus(&kids[j].amounts) >= consensus(&kids[sibling].amounts) {
            kids[sibling].undone = true;
        }
    }
}

fn original_chain(sources: &Sources, chains: &Chains, records: &[u32; 4]) -> u32 {
    let found = |party: usize, key: u128| lookup(&chains.index[party], key).map(|r| chains.chain_of[party][r as usize]);
    if records[A] != NONE {
        let r = &sources.acquirer[records[A] as usize];
        if let Some(chain) = r.original.and_then(|(stan, time)| found(A, r.key.with(stan, time).packed())) {
            return chain;
        }
    }
    if records[C] != NONE {
        let r = &sources.clearing[records[C] as usize];
        if let Some(chain) = r.original.and_then(|(stan, time)| found(C, r.key.with(stan, time).packed())) {
            return chain;
        }
    }
    if records[T] != NONE {
        let r = &sources.terminal[records[T] as usize];
        if r.original_trace != 0 {
            let key = TerminalKey { trace: r.original_trace, ..r.key };
            if let Some(chain) = found(T, key.packed()) {
                return chain;
            }
        }
    }
    if records[I] != NONE {
        let r = &sources.issuer[records[I] as usize];
        if let Some(chain) = r.original.and_then(|(stan, time)| found(I, r.key.with(stan, time).packed())) {
            return chain;
        }
    }
    NONE
}

/// Children of each chain, as offsets into one array (built once, no per-group allocation).
pub struct Children {
    offsets: Vec<u32>,
    children: Vec<u32>,
}

impl Children {
    pub fn new(parent: &[u32]) -> Children {
        let mut offsets = vec![0u32; parent.len() + 1];
        for &p in parent {
            if p != NONE {
                offsets[p as usize + 1] += 1;
            }
        }
        for i in 0..parent.len() {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut children = vec![NONE; offsets[parent.len()] as usize];
        for (chain, &p) in parent.iter().enumerate() {
            if p != NONE {
                children[fill[p as usize] as usize] = chain as u32;
                fill[p as usize] += 1;
            }
        }
        Children { offsets, children }
    }

    pub fn of(&self, chain: u32) -> &[u32] {
        &self.children[self.offsets[chain as usize] as usize..self.offsets[chain as usize + 1] as usize]
    }
}

/// What the rules found: the class, the chain at fault, the party named, why.
struct Finding {
    class: Class,
    chain: Facts,
    party: Option<Party>,
    reason: &'static str,
}

/// Settings of one reconciliation.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// How many business dates apart the parties' dates may be for a late item to be accepted
    /// (beyond: chargeback).
    pub window_days: u32,
}

/// Classifies one group: `None` if it matches. `scratch` is reused across groups (no
/// allocation per group once it has grown to the largest group).
pub fn classify_group(
    sources: &Sources,
    chains: &Chains,
    rules: Rules,
    root: u32,
    children: &[u32],
    scratch: &mut Vec<Facts>,
) -> Option<Exception> {
    let mut rf = facts(sources, chains.records[root as usize]);
    scratch.clear();
    scratch.extend(children.iter().map(|&c| facts(sources, chains.records[c as usize])));
    mark_undone(sources, chains, children, scratch);
    let kids: &[Facts] = scratch;
    // Tolerance: the issuer's posting of an original is net of the reductions it received (a
    // void undone by its reversal reduced nothing, and the reversal restored nothing twice).
    if let Some(posted) = rf.amounts[I] {
        let reductions: u64 = kids
            .iter()
            .filter(|k| k.of_kid == NONE && !k.undone)
            .filter(|k| reduces_original(k.kind) && k.present & 1 << I != 0)
            .map(|k| consensus(&k.amounts))
            .sum();
        rf.amounts[I] = Some(posted.saturating_add(reductions));
    }
    let finding = find(sources, &rf, kids)?;
    let records = rf.present.count_ones() + kids.iter().map(|k| k.present.count_ones()).sum::<u32>();
    // Money: what clearing should have moved minus what it did, over the whole transaction.
    // A reversal, void or refund of nothing should have moved nothing.
    let orphan = is_dependent(rf.kind);
    let mut delta: i128 = 0;
    for f in std::iter::once(&rf).chain(kids.iter()) {
        let direction = i128::from(f.direction(kids));
        if !orphan {
            delta += direction * i128::from(consensus(&f.amounts));
        }
        delta -= direction * i128::from(f.amounts[C].unwrap_or(0));
    }
    let expected = consensus(&finding.chain.amounts);
    let resolution = resolve(&finding, delta, expected, rules);
    let mut exception = evidence(sources, &finding.chain, finding.class, resolution, finding.party, finding.reason);
    exception.expected_minor = expected;
    exception.records = records;
    if exception.acquirer_member == 0 || exception.issuer_member == 0 {
        let (acquirer, issuer) = members(sources, &rf.records);
        exception.acquirer_member = exception.acquirer_member.max(acquirer);
        exception.issuer_member = exception.issuer_member.max(issuer);
    }
    Some(exception)
}

fn find(sources: &Sources, rf: &Facts, kids: &[Facts]) -> Option<Finding> {
    let at = |class, chain: &Facts, party, reason| Some(Finding { class, chain: *chain, party, reason });
    if is_dependent(rf.kind) {
        return at(Class::ReversalWithoutOriginal, rf, None, "no party has its original");
    }
    for k in kids.iter().filter(|k| k.kind == TxnCode::Reversal) {
        let orphaned = k.present & !k.target(rf, kids).present;
        if orphaned != 0 {
            let party = Party::ALL.into_iter().find(|p| orphaned & p.bit() != 0);
            return at(Class::ReversalWithoutOriginal, k, party, "reversal where its original is absent");
        }
    }
    for k in kids.iter().filter(|k| k.kind == TxnCode::Reversal) {
        let stopped_at = match k.present {
            p if p == Party::Terminal.bit() => Some(Party::Acquirer),
            p if p == Party::Terminal.bit() | Party::Acquirer.bit() => Some(Party::Clearing),
            _ => None,
        };
        if let Some(party) = stopped_at.filter(|p| k.target(rf, kids).present & p.bit() != 0) {
            return at(Class::NotReversedAfterTimeout, k, Some(party), "reversal never arrived; original went on");
        }
    }
    for f in std::iter::once(rf).chain(kids.iter()) {
        if f.present != PRESENT_ALL {
            let absent = PRESENT_ALL & !f.present;
            let (class, party, reason) = if absent & Party::Terminal.bit() != 0 {
                (Class::MissingAtTerminal, Party::Terminal, "host has it; terminal batch does not")
            } else if absent & Party::Acquirer.bit() != 0 {
                (Class::MissingAtHost, Party::Acquirer, "terminal has it; acquirer journal does not")
            } else if absent & Party::Clearing.bit() != 0 {
                (Class::MissingAtHost, Party::Clearing, "acquirer has it; clearing does not")
            } else {
                (Class::MissingAtIssuer, Party::Issuer, "cleared; not posted by the issuer")
            };
            return at(class, f, Some(party), reason);
        }
    }
    for f in std::iter::once(rf).chain(kids.iter()) {
        let present = || f.dates.iter().flatten();
        let (first, last) = (present().min().copied(), present().max().copied());
        if first != last {
            let late = Party::ALL.into_iter().find(|p| f.dates[p.index()] == last);
            return at(Class::LatePresentment, f, late, "cleared on another business date");
        }
    }
    for f in std::iter::once(rf).chain(kids.iter()) {
        let expected = consensus(&f.amounts);
        if let Some(party) = odd_party(&f.amounts, expected) {
            return at(Class::AmountMismatch, f, Some(party), "amounts differ");
        }
    }
    if rf.kind == TxnCode::Completion && rf.records[I] != NONE {
        let held = sources.issuer[rf.records[I] as usize].held_minor;
        if held < consensus(&rf.amounts) {
            return at(Class::AmountMismatch, rf, Some(Party::Issuer), "completion above its pre-authorization");
        }
    }
    let expected = expected_state(rf, kids);
    if rf.records[A] != NONE && sources.acquirer[rf.records[A] as usize].state != expected {
        return at(Class::StateMismatch, rf, Some(Party::Acquirer), "acquirer's state differs");
    }
    if rf.records[I] != NONE && sources.issuer[rf.records[I] as usize].state != expected {
        return at(Class::StateMismatch, rf, Some(Party::Issuer), "issuer's state differs");
    }
    None
}

/// What the dependents say became of the original.
fn expected_state(rf: &Facts, kids: &[Facts]) -> State {
    let original = consensus(&rf.amounts);
    // A void undone by its reversal, and that reversal, say nothing of the original.
    let kids = kids.iter().filter(|k| k.of_kid == NONE && !k.undone);
    if kids.clone().any(|k| matches!(k.kind, TxnCode::Void | TxnCode::CompletionVoid)) {
        State::Voided
    } else if kids.clone().any(|k| k.kind == TxnCode::Reversal && consensus(&k.amounts) >= original) {
        State::Reversed
    } else if kids.clone().any(|k| k.kind == TxnCode::Refund) {
        State::Refunded
    } else {
        State::Live
    }
}

fn resolve(finding: &Finding, delta: i128, expected: u64, rules: Rules) -> Resolution {
    let amount = |d: i128| u64::try_from(d.unsigned_abs()).unwrap_or(u64::MAX);
    if finding.class == Class::LatePresentment {
        let dates = finding.chain.dates.iter().flatten().map(|d| d.days());
        let spread = dates.clone().max().unwrap_or(0) - dates.min().unwrap_or(0);
        if spread.unsigned_abs() > rules.window_days && finding.chain.kind.direction() > 0 {
            return Resolution::Chargeback { amount_minor: expected };
        }
    }
    if delta > 0 {
        return Resolution::DebitAdjustment { amount_minor: amount(delta) };
    }
    if delta < 0 {
        return Resolution::CreditAdjustment { amount_minor: amount(delta) };
    }
    match finding.class {
        Class::LatePresentment => Resolution::AcceptLate,
        Class::ReversalWithoutOriginal => Resolution::WriteOff,
        _ => finding.party.map_or(Resolution::WriteOff, |party| Resolution::Correct { party }),
    }
}

/// (acquirer, issuer) institutions from whichever records name them.
fn members(sources: &Sources, records: &[u32; 4]) -> (u64, u64) {
    let mut acquirer = 0;
    let mut issuer = 0;
    if records[A] != NONE {
        let r = &sources.acquirer[records[A] as usize];
        (acquirer, issuer) = (r.key.institution, r.issuer);
    }
    if records[C] != NONE {
        let r = &sources.clearing[records[C] as usize];
        (acquirer, issuer) = (r.key.institution, r.issuer_key.institution);
    }
    if issuer == 0 && records[I] != NONE {
        issuer = sources.issuer[records[I] as usize].key.institution;
    }
    (acquirer, issuer)
}

/// The exception's evidence: the chain's keys at each party that has them.
fn evidence(
    sources: &Sources,
    f: &Facts,
    class: Class,
    resolution: Resolution,
    party: Option<Party>,
    reason: &'static str,
) -> Exception {
    let mut terminal: Option<TerminalKey> = None;
    let mut acquirer: Option<LegKey> = None;
    let mut issuer: Option<LegKey> = None;
    let mut reference: Option<u64> = None;
    let mut rrn: Option<Rrn> = None;
    let mut currency: u16 = 0;
    if f.records[I] != NONE {
        let r = &sources.issuer[f.records[I] as usize];
        (issuer, currency) = (Some(r.key), r.currency);
    }
    if f.records[T] != NONE {
        let r = &sources.terminal[f.records[T] as usize];
        (terminal, rrn, currency) = (Some(r.key), Some(r.rrn), r.currency);
    }
    if f.records[C] != NONE {
        let r = &sources.clearing[f.records[C] as usize];
        (acquirer, issuer, reference, rrn, currency) =
            (Some(r.key), Some(r.issuer_key), Some(r.reference), Some(r.rrn), r.currency);
    }
    if f.records[A] != NONE {
        let r = &sources.acquirer[f.records[A] as usize];
        (terminal, acquirer, rrn, currency) = (Some(r.terminal), Some(r.key), Some(r.rrn), r.currency);
    }
    let (acquirer_member, issuer_member) = members(sources, &f.records);
    Exception {
        class,
        resolution,
        party,
        reason,
        kind: f.kind,
        present: f.present,
        terminal,
        acquirer,
        issuer,
        reference,
        rrn,
        amounts: f.amounts,
        dates: f.dates,
        expected_minor: consensus(&f.amounts),
        currency,
        acquirer_member,
        issuer_member,
        records: f.present.count_ones(),
    }
}

/// A duplicate chain: one record at one party, a copy of another.
pub fn classify_duplicate(sources: &Sources, records: [u32; 4]) -> Exception {
    let f = facts(sources, records);
    let party = Party::ALL.into_iter().find(|p| records[p.index()] != NONE);
    let resolution = match (party, f.amounts[C]) {
        // The copy settled: give its money back.
        (Some(Party::Clearing), Some(amount)) if f.kind.direction() > 0 => {
            Resolution::CreditAdjustment { amount_minor: amount }
        }
        (Some(Party::Clearing), Some(amount)) => Resolution::DebitAdjustment { amount_minor: amount },
        (Some(p), _) => Resolution::Correct { party: p },
        (None, _) => Resolution::WriteOff,
    };
    evidence(sources, &f, Class::Duplicate, resolution, party, "a second record with the same key")
}
