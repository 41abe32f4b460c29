//! The checks that say the ledger never lost or invented money: per ledger, Σ debits posted =
//! Σ credits posted, Σ debits pending = Σ credits pending = Σ of the transfers still pending;
//! and no pending transfer was resolved more than once. Tests, the benchmark and (later) the
//! simulation call this after every run.

use crate::store::{LedgerTotals, Store, StoreResult};

/// What the check found; empty `violations` means the invariants hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InvariantReport {
    pub ledgers: usize,
    pub violations: Vec<String>,
}

impl InvariantReport {
    pub fn holds(&self) -> bool {
        self.violations.is_empty()
    }
}

pub fn check<S: Store + ?Sized>(store: &mut S) -> StoreResult<InvariantReport> {
    let totals = store.ledger_totals()?;
    let twice = store.pending_resolved_more_than_once()?;
    Ok(report(totals, twice))
}

/// The check over per-ledger sums and the count of pending transfers resolved more than once,
/// however they were read (a store, or a caller's transaction: `crate::sql_ledger`).
pub fn report(totals: Vec<LedgerTotals>, twice: u64) -> InvariantReport {
    let mut violations = Vec::new();
    for t in &totals {
        if t.debits_posted != t.credits_posted {
            violations.push(format!(
                "ledger {}: debits posted {} != credits posted {}",
                t.ledger, t.debits_posted, t.credits_posted
            ));
        }
        if t.debits_pending != t.credits_pending {
            violations.push(format!(
                "ledger {}: debits pending {} != credits pending {}",
                t.ledger, t.debits_pending, t.credits_pending
            ));
        }
        if t.debits_pending != t.pending_transfers {
            violations.push(format!(
                "ledger {}: pending balances {} != transfers still pending {}",
                t.ledger, t.debits_pending, t.pending_transfers
            ));
        }
    }
    if twice != 0 {
        violations.push(format!("{twice} pending transfers were posted or voided more than once"));
    }
    InvariantReport { ledgers: totals.len(), violations }
}
