//! One reconciliation: join, link, classify, total. Every record ends in exactly one place —
//! a matched transaction or one exception — and that is asserted, not hoped.

use std::fmt;

use clearing::BusinessDate;

use crate::balance::{BalanceDrift, check_statement};
use crate::classify::{Children, Rules, classify_duplicate, classify_group, link};
use crate::exception::{Class, Exception, Party};
use crate::join::{self, NONE, RECORDS_PER_SOURCE_MAX};
use crate::source::Sources;

/// What a reconciliation needs besides the sources.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// The business date reconciled (the statement is this date's).
    pub date: BusinessDate,
    /// Late items up to this many dates away are accepted (cleared later, nothing to move);
    /// beyond, a chargeback is suggested. One business date either side of the cut-off: 1.
    pub window_days: u32,
    /// The switch's institution id: the member credited with network fees on the statement.
    pub network_member: u64,
}

/// An input the engine cannot take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconError(pub String);

impl fmt::Display for ReconError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReconError {}

/// Records and the sum of their amounts, of one source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceTotals {
    pub records: u64,
    pub amount_minor: u64,
}

/// The counts `cardnet recon` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub date: BusinessDate,
    /// Transactions (an original with its voids, refunds, reversals; or a lone duplicate).
    pub transactions: u64,
    pub matched: u64,
    /// Exceptions per class, by [`Class::index`].
    pub classes: [u64; Class::COUNT],
    /// The sum of `classes`.
    pub unmatched: u64,
    pub records_matched: u64,
    pub records_unmatched: u64,
    /// Per party, by [`Party::index`].
    pub sources: [SourceTotals; 4],
    pub statement_lines: u64,
    /// Members whose statement differs from the clearing file's net position.
    pub balance_drifts: u64,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub summary: Summary,
    /// In a stable order: by the transaction's keys, whatever the sources' order.
    pub exceptions: Vec<Exception>,
    pub balances: Vec<BalanceDrift>,
}

pub fn reconcile(sources: &Sources, config: &Config) -> Result<Outcome, ReconError> {
    let lengths = [sources.terminal.len(), sources.acquirer.len(), sources.clearing.len(), sources.issuer.len()];
    for party in Party::ALL {
        if lengths[party.index()] > RECORDS_PER_SOURCE_MAX {
            return Err(ReconError(format!(
                "{} source has {} records; at most {RECORDS_PER_SOURCE_MAX} per source",
                party.name(),
                lengths[party.index()]
            )));
        }
    }
    let chains = join::build(sources);
    let parent = link(sources, &chains);
    let children = Children::new(&parent);
    let rules = Rules { window_days: config.window_days };

    let mut summary = Summary {
        date: config.date,
        transactions: 0,
        matched: 0,
        classes: [0; Class::COUNT],
        unmatched: 0,
        records_matched: 0,
        records_unmatched: 0,
        sources: totals(sources),
        statement_lines: sources.statement.len() as u64,
        balance_drifts: 0,
    };
    // Two halves of the chains on two cores; concatenated in order, so the output is the same
    // as one pass's.
    let middle = chains.len() as u32 / 2;
    let (first, second) = std::thread::scope(|scope| {
        let second =
            scope.spawn(|| classify_range(sources, &chains, &parent, &children, rules, middle..chains.len() as u32));
        let first = classify_range(sources, &chains, &parent, &children, rules, 0..middle);
        (first, second.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    });
    let mut exceptions = first.exceptions;
    exceptions.extend(second.exceptions);
    summary.transactions = first.transactions + second.transactions;
    summary.matched = first.matched + second.matched;
    summary.records_matched = first.records_matched + second.records_matched;
    for exception in &exceptions {
        summary.classes[exception.class.index()] += 1;
        summary.records_unmatched += u64::from(exception.records);
    }
    summary.unmatched = summary.classes.iter().sum();
    // Every record is in exactly one matched transaction or one exception.
    let records_total: u64 = lengths.iter().map(|&n| n as u64).sum();
    assert_eq!(summary.records_matched + summary.records_unmatched, records_total, "records lost or counted twice");
    assert_eq!(summary.matched + summary.unmatched, summary.transactions);

    let balances = check_statement(sources, config);
    summary.balance_drifts = balances.len() as u64;
    Ok(Outcome { summary, exceptions, balances })
}

/// One range of chains classified.
struct Part {
    exceptions: Vec<Exception>,
    transactions: u64,
    matched: u64,
    records_matched: u64,
}

fn classify_range(
    sources: &Sources,
    chains: &join::Chains,
    parent: &[u32],
    children: &Children,
    rules: Rules,
    range: std::ops::Range<u32>,
) -> Part {
    let mut part = Part { exceptions: Vec::new(), transactions: 0, matched: 0, records_matched: 0 };
    let mut scratch = Vec::new();
    for chain in range {
        let records = chains.records[chain as usize];
        if chains.duplicate_of[chain as usize] != NONE {
            part.exceptions.push(classify_duplicate(sources, records));
        } else if parent[chain as usize] == NONE {
            let group = children.of(chain);
            match classify_group(sources, chains, rules, chain, group, &mut scratch) {
                Some(exception) => part.exceptions.push(exception),
                None => {
                    part.matched += 1;
                    part.records_matched += group_records(chains, chain, group);
                }
            }
        } else {
            continue;
        }
        part.transactions += 1;
    }
    part
}

fn group_records(chains: &join::Chains, root: u32, children: &[u32]) -> u64 {
    let count = |chain: u32| chains.records[chain as usize].iter().filter(|&&r| r != NONE).count() as u64;
    count(root) + children.iter().map(|&c| count(c)).sum::<u64>()
}

fn totals(sources: &Sources) -> [SourceTotals; 4] {
    fn sum(amounts: impl Iterator<Item = u64>) -> SourceTotals {
        amounts.fold(SourceTotals::default(), |t, a| SourceTotals {
            records: t.records + 1,
            amount_minor: t.amount_minor.saturating_add(a),
        })
    }
    [
        sum(sources.terminal.iter().map(|r| r.amount_minor)),
        sum(sources.acquirer.iter().map(|r| r.amount_minor)),
        sum(sources.clearing.iter().map(|r| r.amount_minor)),
        sum(sources.issuer.iter().map(|r| r.amount_minor)),
    ]
}
