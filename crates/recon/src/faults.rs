//! Faults injected into a generated day, each with the class reconciliation must give it, and
//! the check that it did ([`verify`]).
//!
//! At most one fault per transaction, so each fault is exactly one exception. Each kind:
//!
//! | kind | what changes | class |
//! |---|---|---|
//! | drop at terminal | the request's batch row | missing_at_terminal |
//! | drop at acquirer | its journal row | missing_at_host |
//! | drop at switch | its clearing record (so the issuer never posts it) | missing_at_host |
//! | drop at issuer | its posting row | missing_at_issuer |
//! | alter amount | one party's amount | amount_mismatch |
//! | duplicate clearing | a second clearing record, new reference | duplicate |
//! | lose reversal | the reversal stops at the terminal or the acquirer | not_reversed_after_timeout |
//! | orphan reversal | the timed-out original never reached the host; its reversal did | reversal_without_original |
//! | flip state | the acquirer's or issuer's state of the original | state_mismatch |
//! | shift cut-off | the original cleared (and posted) on the next date, marked late | late_presentment |
//!
//! Drops skip transactions with a reversal (dropping there is what "lose" and "orphan" do).

use std::collections::HashMap;

use crate::engine::Outcome;
use crate::exception::{Class, Party};
use crate::generate::{DaySpec, Group, Shape};
use crate::keys::Rrn;
use crate::rng::Rng;
use crate::source::{Sources, State, reduces_original};

/// Tries to find an eligible, untouched transaction per fault before giving up on it.
const ATTEMPTS_PER_FAULT_MAX: u32 = 4_096;
/// Problems [`verify`] describes in full (the rest are counted).
const PROBLEMS_LISTED_MAX: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    DropAtTerminal,
    DropAtAcquirer,
    DropAtSwitch,
    DropAtIssuer,
    AlterAmount,
    DuplicateClearing,
    LoseReversal,
    OrphanReversal,
    FlipState,
    ShiftCutOff,
}

impl FaultKind {
    pub const ALL: [FaultKind; 10] = [
        FaultKind::DropAtTerminal,
        FaultKind::DropAtAcquirer,
        FaultKind::DropAtSwitch,
        FaultKind::DropAtIssuer,
        FaultKind::AlterAmount,
        FaultKind::DuplicateClearing,
        FaultKind::LoseReversal,
        FaultKind::OrphanReversal,
        FaultKind::FlipState,
        FaultKind::ShiftCutOff,
    ];

    /// The class reconciliation must give it.
    pub fn class(self) -> Class {
        match self {
            FaultKind::DropAtTerminal => Class::MissingAtTerminal,
            FaultKind::DropAtAcquirer | FaultKind::DropAtSwitch => Class::MissingAtHost,
            FaultKind::DropAtIssuer => Class::MissingAtIssuer,
            FaultKind::AlterAmount => Class::AmountMismatch,
            FaultKind::DuplicateClearing => Class::Duplicate,
            FaultKind::LoseReversal => Class::NotReversedAfterTimeout,
            FaultKind::OrphanReversal => Class::ReversalWithoutOriginal,
            FaultKind::FlipState => Class::StateMismatch,
            FaultKind::ShiftCutOff => Class::LatePresentment,
        }
    }

    fn eligible(self, shape: Shape) -> bool {
        match self {
            FaultKind::DropAtTerminal
            | FaultKind::DropAtAcquirer
            | FaultKind::DropAtSwitch
            | FaultKind::DropAtIssuer => !shape.has_reversal(),
            FaultKind::LoseReversal => shape.has_reversal(),
            FaultKind::OrphanReversal => shape == Shape::PurchaseTimeoutReversal,
            _ => true,
        }
    }
}

/// The truth of one injected fault: what was done, to which request (by its RRN, unique in a
/// generated day), at which party, and the class it must end in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub class: Class,
    pub rrn: Rrn,
    pub party: Party,
}

/// Rows to remove per party (by index before removal), and copies to append.
struct Edits {
    drop: [Vec<bool>; 4],
}

impl Edits {
    fn drop(&mut self, party: Party, row: u32) {
        self.drop[party.index()][row as usize] = true;
    }
}

/// Injects `spec.fault_rate_ppm` of each kind (at least one each when non-zero) into distinct
/// transactions; returns the truth.
pub fn inject(sources: &mut Sources, groups: &[Group], spec: &DaySpec, rng: &mut Rng) -> Vec<Fault> {
    let mut faults = Vec::new();
    if spec.fault_rate_ppm == 0 || groups.is_empty() {
        return faults;
    }
    let per_kind = (spec.transactions * u64::from(spec.fault_rate_ppm) / 1_000_000).max(1);
    let rows = sources.terminal.len();
    let mut edits = Edits { drop: [vec![false; rows], vec![false; rows], vec![false; rows], vec![false; rows]] };
    let mut used = vec![false; groups.len()];
    let mut copies = Vec::new();
    let mut next_reference = rows as u64 + 1;
    for kind in FaultKind::ALL {
        for _ in 0..per_kind {
            let Some(g) = (0..ATTEMPTS_PER_FAULT_MAX).find_map(|_| {
                let g = rng.below(groups.len() as u64) as usize;
                (!used[g] && kind.eligible(groups[g].shape)).then_some(g)
            }) else {
                continue;
            };
            used[g] = true;
            let fault = apply(kind, groups[g], sources, &mut edits, rng);
            if kind == FaultKind::DuplicateClearing {
                let row = fault_row(groups[g], sources, fault.rrn);
                let mut copy = sources.clearing[row];
                copy.reference = next_reference;
                next_reference += 1;
                copies.push(copy);
            }
            faults.push(fault);
        }
    }
    retain(&mut sources.terminal, &edits.drop[0]);
    retain(&mut sources.acquirer, &edits.drop[1]);
    retain(&mut sources.clearing, &edits.drop[2]);
    retain(&mut sources.issuer, &edits.drop[3]);
    sources.clearing.extend(copies);
    faults
}

fn fault_row(group: Group, sources: &Sources, rrn: Rrn) -> usize {
    let first = group.first as usize;
    (first..first + group.requests as usize).find(|&r| sources.clearing[r].rrn == rrn).unwrap_or(first)
}

fn retain<T>(rows: &mut Vec<T>, drop: &[bool]) {
    let mut index = 0;
    rows.retain(|_| {
        let keep = !drop[index];
        index += 1;
        keep
    });
}

/// Applies one fault to one transaction. Row `first` is the original, `first + 1` its dependent.
fn apply(kind: FaultKind, group: Group, sources: &mut Sources, edits: &mut Edits, rng: &mut Rng) -> Fault {
    let root = group.first;
    let dependent = (group.requests > 1).then_some(root + 1);
    let any = root + rng.below(u64::from(group.requests)) as u32;
    let at = |row: u32, party: Party, sources: &Sources| Fault {
        kind,
        class: kind.class(),
        rrn: sources.terminal[row as usize].rrn,
        party,
    };
    match kind {
        FaultKind::DropAtTerminal => {
            edits.drop(Party::Terminal, any);
            at(any, Party::Terminal, sources)
        }
        FaultKind::DropAtAcquirer => {
            edits.drop(Party::Acquirer, any);
            at(any, Party::Acquirer, sources)
        }
        FaultKind::DropAtSwitch => {
            edits.drop(Party::Clearing, any);
            edits.drop(Party::Issuer, any);
            // The issuer never heard of a lost void or refund: its original stays as it was.
            if any != root {
                let lost = sources.clearing[any as usize];
                let original = &mut sources.issuer[root as usize];
                if reduces_original(lost.code) {
                    original.amount_minor += lost.amount_minor;
                }
                original.state = State::Live;
            }
            at(any, Party::Clearing, sources)
        }
        FaultKind::DropAtIssuer => {
            edits.drop(Party::Issuer, any);
            at(any, Party::Issuer, sources)
        }
        FaultKind::AlterAmount => alter_amount(any, sources, rng, kind),
        FaultKind::DuplicateClearing => at(any, Party::Clearing, sources),
        FaultKind::LoseReversal => {
            let reversal = dependent.unwrap_or(root);
            let lost_at = if rng.below(2) == 0 { Party::Acquirer } else { Party::Clearing };
            if lost_at == Party::Acquirer {
                edits.drop(Party::Acquirer, reversal);
                sources.acquirer[root as usize].state = State::Live;
            }
            edits.drop(Party::Clearing, reversal);
            edits.drop(Party::Issuer, reversal);
            let original = &mut sources.issuer[root as usize];
            original.amount_minor += sources.clearing[reversal as usize].amount_minor;
            original.state = State::Live;
            at(reversal, lost_at, sources)
        }
        FaultKind::OrphanReversal => {
            let reversal = dependent.unwrap_or(root);
            for party in [Party::Acquirer, Party::Clearing, Party::Issuer] {
                edits.drop(party, root);
            }
            // The host answered the reversal of an unknown original and forwarded nothing.
            edits.drop(Party::Clearing, reversal);
            edits.drop(Party::Issuer, reversal);
            at(reversal, Party::Acquirer, sources)
        }
        FaultKind::FlipState => {
            let party = if rng.below(2) == 0 { Party::Acquirer } else { Party::Issuer };
            let flip = |s: State| if s == State::Live { State::Voided } else { State::Live };
            if party == Party::Acquirer {
                sources.acquirer[root as usize].state = flip(sources.acquirer[root as usize].state);
            } else {
                sources.issuer[root as usize].state = flip(sources.issuer[root as usize].state);
            }
            at(root, party, sources)
        }
        FaultKind::ShiftCutOff => {
            let next = sources.clearing[root as usize].date.next();
            sources.clearing[root as usize].date = next;
            sources.clearing[root as usize].late = true;
            sources.issuer[root as usize].date = next;
            at(root, Party::Clearing, sources)
        }
    }
}

fn alter_amount(row: u32, sources: &mut Sources, rng: &mut Rng, kind: FaultKind) -> Fault {
    let party = Party::ALL[rng.below(4) as usize];
    let r = row as usize;
    let amount = match party {
        Party::Terminal => &mut sources.terminal[r].amount_minor,
        Party::Acquirer => &mut sources.acquirer[r].amount_minor,
        Party::Clearing => &mut sources.clearing[r].amount_minor,
        Party::Issuer => &mut sources.issuer[r].amount_minor,
    };
    let delta = rng.range(1, (*amount / 2).max(1));
    // Down only where it stays positive; the issuer's net posting may be 0, so it goes up.
    *amount =
        if party != Party::Issuer && *amount > delta && rng.below(2) == 0 { *amount - delta } else { *amount + delta };
    Fault { kind, class: kind.class(), rrn: sources.terminal[r].rrn, party }
}

/// How a reconciliation's exceptions compare with the injected truth.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verification {
    pub faults: u64,
    /// Faults found as exactly one exception of their class.
    pub classified: u64,
    /// Faults found in another class.
    pub misclassified: u64,
    /// Faults that ended matched (a false match).
    pub missed: u64,
    /// Exceptions with no fault behind them (a clean transaction flagged).
    pub false_exceptions: u64,
    /// The first few problems, described.
    pub problems: Vec<String>,
}

impl Verification {
    pub fn is_exact(&self) -> bool {
        self.classified == self.faults && self.misclassified == 0 && self.missed == 0 && self.false_exceptions == 0
    }
}

/// Matches exceptions to faults by the RRN of the record at fault.
pub fn verify(faults: &[Fault], outcome: &Outcome) -> Verification {
    let mut truth: HashMap<Rrn, (Fault, bool)> = faults.iter().map(|f| (f.rrn, (*f, false))).collect();
    let mut v = Verification { faults: faults.len() as u64, ..Verification::default() };
    let note = |v: &mut Verification, problem: String| {
        if v.problems.len() < PROBLEMS_LISTED_MAX {
            v.problems.push(problem);
        }
    };
    for e in &outcome.exceptions {
        match e.rrn.and_then(|rrn| truth.get_mut(&rrn)) {
            Some((fault, claimed)) if !*claimed => {
                *claimed = true;
                if fault.class == e.class {
                    v.classified += 1;
                } else {
                    v.misclassified += 1;
                    note(
                        &mut v,
                        format!(
                            "{:?} at {} ({:?}) classified {}",
                            fault.kind,
                            fault.party.name(),
                            fault.rrn,
                            e.class.name()
                        ),
                    );
                }
            }
            _ => {
                v.false_exceptions += 1;
                note(&mut v, format!("{} ({}) of RRN {:?} with no fault behind it", e.class.name(), e.reason, e.rrn));
            }
        }
    }
    let mut missed: Vec<&(Fault, bool)> = truth.values().filter(|(_, claimed)| !claimed).collect();
    missed.sort_by_key(|(f, _)| f.rrn);
    for (fault, _) in missed {
        v.missed += 1;
        note(&mut v, format!("{:?} at {} ({:?}) not found", fault.kind, fault.party.name(), fault.rrn));
    }
    v
}
