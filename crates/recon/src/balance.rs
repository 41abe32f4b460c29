//! Balance-level checks (as Formance reconciles: balances, not transactions): the settlement
//! bank's statement against the clearing file's net positions, and per-member totals before
//! and after resolutions.
//!
//! Net positions follow `clearing::NetPositions` exactly: per record with settlement `s` and
//! network fee `n`, the acquirer gets `s − n`, the issuer `−s − n`, the network `2n`.

use std::collections::BTreeMap;

use clearing::ClearingRecord;

use crate::engine::{Config, ReconError};
use crate::keys::digits;
use crate::source::{ClearingItem, Sources};

/// (member institution, ISO 4217 numeric currency) → minor units.
pub type MemberTotals = BTreeMap<(u64, u16), i64>;

fn add(totals: &mut MemberTotals, key: (u64, u16), amount: i64) {
    let total = totals.entry(key).or_default();
    *total = total.saturating_add(amount);
}

/// A member whose two totals differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceDrift {
    pub member: u64,
    pub currency: u16,
    /// From the clearing file (or, for books, what they should be).
    pub expected_minor: i64,
    /// From the statement (or the books after resolutions).
    pub actual_minor: i64,
}

/// Net positions of the clearing items of `config.date` (late items of the next date belong to
/// the next statement).
pub fn net_positions(items: &[ClearingItem], config: &Config) -> MemberTotals {
    let mut totals = MemberTotals::new();
    for item in items.iter().filter(|i| i.date == config.date) {
        let (s, n) = (item.settlement_minor, item.network_fee_minor);
        // Saturating: absurd amounts in a file must not wrap into plausible ones (or panic).
        add(&mut totals, (item.key.institution, item.currency), s.saturating_sub(n));
        add(&mut totals, (item.issuer_key.institution, item.currency), s.saturating_neg().saturating_sub(n));
        add(&mut totals, (config.network_member, item.currency), n.saturating_mul(2));
    }
    totals
}

/// The statement against the net positions; an empty statement is not checked (none supplied).
pub fn check_statement(sources: &Sources, config: &Config) -> Vec<BalanceDrift> {
    if sources.statement.is_empty() {
        return Vec::new();
    }
    let expected = net_positions(&sources.clearing, config);
    let mut actual = MemberTotals::new();
    for line in &sources.statement {
        add(&mut actual, (line.member, line.currency), line.net_minor);
    }
    compare(&expected, &actual)
}

/// Every member and currency in either, where the two differ (absent counts as 0).
pub fn compare(expected: &MemberTotals, actual: &MemberTotals) -> Vec<BalanceDrift> {
    let mut keys: Vec<&(u64, u16)> = expected.keys().chain(actual.keys()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let e = expected.get(key).copied().unwrap_or(0);
            let a = actual.get(key).copied().unwrap_or(0);
            (e != a).then_some(BalanceDrift { member: key.0, currency: key.1, expected_minor: e, actual_minor: a })
        })
        .collect()
}

/// Gross principal per member: the acquirer is owed `direction × amount`, the issuer owes it
/// (fees left out: they follow the principal by the fee schedule).
pub fn member_totals<'a>(items: impl IntoIterator<Item = &'a ClearingItem>) -> MemberTotals {
    let mut totals = MemberTotals::new();
    for item in items {
        let gross = item.code.direction() * i64::try_from(item.amount_minor).unwrap_or(i64::MAX);
        add(&mut totals, (item.key.institution, item.currency), gross);
        add(&mut totals, (item.issuer_key.institution, item.currency), gross.saturating_neg());
    }
    totals
}

/// Adds clearing records in their string form (e.g. the adjustments of
/// [`crate::apply_resolutions`]) to per-member gross totals.
pub fn add_records(totals: &mut MemberTotals, records: &[ClearingRecord]) -> Result<(), ReconError> {
    for r in records {
        let at = |e: crate::keys::KeyError| ReconError(format!("clearing record {}: {}", r.reference, e.0));
        let acquirer = digits("acquirer", r.acquirer.as_str(), 11).map_err(at)?;
        let issuer = digits("issuer", r.issuer.as_str(), 11).map_err(at)?;
        let ccy = r.currency.numeric();
        let gross = r.code.direction() * i64::try_from(r.amount_minor).unwrap_or(i64::MAX);
        add(totals, (acquirer, ccy), gross);
        add(totals, (issuer, ccy), gross.saturating_neg());
    }
    Ok(())
}
