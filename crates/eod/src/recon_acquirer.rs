//! Reconciliation's acquirer and terminal sources, read from the acquirer's journal
//! (`acquirer_transactions`) and the terminal batches that settled it:
//!
//! * approved money-moving requests of the date (field 15), with the network reversal of any of
//!   them the acquirer reversed;
//! * requests without an answer (no field 15 came back: the forward timed out, or a crash left
//!   it pending) which the acquirer reversed, when the switch cleared them on the date anyway
//!   (it had the issuer's approval): the
//!   acquirer holds them as reversed, with their reversal, so the clearing's original and
//!   reversal (netting to zero) match rather than look missing at the terminal. One the switch
//!   never cleared moved no money anywhere and stays out, as a declined request does.
//!
//! A balanced batch confirmed the host's records of that batch, so they stand for the
//! terminal's (a reversed request as its original and the 0400 that undid it); an unbalanced one
//! stands by what the terminal uploaded (0320). Records of a batch not settled yet have no
//! terminal side (and show as missing at the terminal).

use std::collections::{HashMap, HashSet};

use acquirer::PosKind;
use clearing::BusinessDate;
use recon::{AcquirerRecord, AcquirerRow, TerminalRecord};
use sqlstore::{Database, Row};

use crate::EodError;
use crate::recon_sources::{REVERSAL_TRACE_OFFSET, bad, failure};

const MS_PER_DAY: i64 = 86_400_000;

/// An acquirer leg key as the journal holds it: (field 11, field 7).
pub(crate) type AcquirerLeg = (String, String);

/// One journal row, as the query below reads it.
struct JournalRow {
    terminal_id: String,
    batch: String,
    trace: String,
    kind: String,
    amount: u64,
    currency: String,
    rrn: String,
    leg: AcquirerLeg,
    voided: bool,
    refunded: bool,
    reversed: bool,
    /// Field 15 as the switch answered it; `None` for one never answered (timed out, pending).
    settlement_date: Option<String>,
    /// The original's (11, 7, trace, kind), empty when it names none.
    original: (String, String, String, String),
    /// The terminal batch's settlement result (`"1"`: balanced), if it settled.
    settled: Option<String>,
    /// The network reversal the acquirer sent for it (its 0420's 11 and 7).
    reversal: AcquirerLeg,
}

fn journal_row(row: &Row) -> sqlstore::Result<JournalRow> {
    let text = |i: usize| row.opt_text(i).map(Option::unwrap_or_default);
    Ok(JournalRow {
        terminal_id: text(1)?,
        batch: row.u64(2)?.to_string(),
        trace: text(3)?,
        kind: text(4)?,
        amount: row.u64(5)?,
        currency: text(6)?,
        rrn: text(7)?,
        leg: (text(8)?, text(9)?),
        voided: row.u64(10)? != 0,
        refunded: row.u64(11)? > 0,
        reversed: row.u64(12)? != 0,
        settlement_date: row.opt_text(13)?,
        original: (text(14)?, text(15)?, text(16)?, text(17)?),
        settled: row.opt_text(18)?,
        reversal: (text(19)?, text(20)?),
    })
}

/// The journal rows of `date`: approved with field 15 the date, and reversed ones without it
/// received within a local day of it (which of those the switch cleared is the caller's filter).
fn journal(config: &acquirer::AcquirerConfig, db: &Database, date: BusinessDate) -> Result<Vec<JournalRow>, EodError> {
    // The acquirer journals its own kind names (`completion-void`, `completion-advice`): every
    // kind that settles (a debit or a credit), from its kind table.
    let kinds: Vec<String> = acquirer::kind::KINDS
        .iter()
        .filter(|row| row.kind.is_debit() || row.kind.is_credit())
        .map(|row| format!("'{}'", row.name))
        .collect();
    let sql = format!(
        "SELECT t.id, t.terminal_id, t.batch_no, t.trace, t.kind, t.amount_minor, t.currency, t.rrn, t.net_stan, \
         t.net_time, t.voided, t.refunded_minor, t.reversed, t.settlement_date, o.net_stan, o.net_time, o.trace, \
         o.kind, s.domestic_result, q.net_stan, q.net_time \
         FROM acquirer_transactions t LEFT JOIN acquirer_transactions o ON o.id = t.original_id \
         LEFT JOIN acquirer_reversals q ON q.transaction_id = t.id \
         LEFT JOIN acquirer_settlements s ON s.terminal_id = t.terminal_id AND s.batch_no = t.batch_no \
         WHERE t.kind IN ({}) AND ((t.response_code = '00' AND t.settlement_date = $1) \
         OR (t.reversed = 1 AND t.settlement_date IS NULL \
         AND t.received_ms >= $2 AND t.received_ms < $3)) ORDER BY t.id",
        kinds.join(", ")
    );
    // Without field 15 the request's date is the local date it was received (as the merchant
    // run dates it); the switch's cut-off may put it on the date either side.
    let zone_ms = i64::from(config.settlement.zone_minutes().map_err(EodError::bad_input)?) * 60_000;
    let day_start = |days: i32| (i64::from(days) * MS_PER_DAY - zone_ms).max(0);
    let (from, to) = (day_start(date.days() - 1), day_start(date.days() + 2));
    let rows = db
        .transaction(|tx| tx.query(&sql, &[date.mmdd().into(), from.into(), to.into()]))
        .map_err(failure("acquirer journal"))?;
    rows.iter().map(|row| journal_row(row).map_err(failure("acquirer journal"))).collect()
}

/// The acquirer's journal of the date, and the terminal batches that settled it. `cleared`:
/// the acquirer legs the date's clearing holds for this acquirer.
pub(crate) fn acquirer_sources(
    config: &acquirer::AcquirerConfig,
    db: &Database,
    date: BusinessDate,
    cleared: &HashSet<AcquirerLeg>,
) -> Result<(Vec<TerminalRecord>, Vec<AcquirerRecord>), EodError> {
    let uploads = uploaded(db)?;
    let mut terminal = Vec::new();
    let mut acquirer = Vec::new();
    for row in journal(config, db, date)? {
        // One never answered counts only if the switch cleared it (or its reversal) on the date.
        if row.settlement_date.is_none() && !cleared.contains(&row.leg) && !cleared.contains(&row.reversal) {
            continue;
        }
        push_row(&config.institution_id, date, &row, &uploads, &mut terminal, &mut acquirer)?;
    }
    Ok((terminal, acquirer))
}

/// One journal row's acquirer record, its terminal record if the batch says what the terminal
/// had, and for a reversed one the reversal on both sides.
fn push_row(
    acquirer_id: &str,
    date: BusinessDate,
    row: &JournalRow,
    uploads: &HashMap<(String, String, String), u64>,
    terminal: &mut Vec<TerminalRecord>,
    acquirer: &mut Vec<AcquirerRecord>,
) -> Result<(), EodError> {
    let (original_stan, original_time, original_trace, original_kind) = &row.original;
    // A completion's original is its pre-authorization, which does not clear.
    let names_original = !original_stan.is_empty() && PosKind::from_name(original_kind) != Some(PosKind::PreAuth);
    // Reconciliation speaks the network's kinds (a completion advice is a completion).
    let kind = PosKind::from_name(&row.kind)
        .map(|kind| kind.network_kind().name())
        .ok_or_else(|| EodError::bad_input(format!("acquirer journal: kind {:?} is not a POS kind", row.kind)))?;
    let (o_stan, o_time, o_trace) = if names_original {
        (original_stan.as_str(), original_time.as_str(), original_trace.as_str())
    } else {
        ("", "", "")
    };
    let state = if row.reversed {
        "reversed"
    } else if row.voided {
        "voided"
    } else if row.refunded {
        "refunded"
    } else {
        "approved"
    };
    let (stan, time) = &row.leg;
    let acquirer_row = AcquirerRow {
        terminal_id: &row.terminal_id,
        batch: &row.batch,
        trace: &row.trace,
        acquirer: acquirer_id,
        stan,
        transmission_time: time,
        original_stan: o_stan,
        original_time: o_time,
        rrn: &row.rrn,
        amount_minor: row.amount,
        currency: &row.currency,
        issuer: "",
        kind,
        state,
        date,
    };
    let record = AcquirerRecord::try_from(&acquirer_row).map_err(bad("acquirer journal"))?;
    let terminal_row = recon::TerminalRow {
        terminal_id: &row.terminal_id,
        batch: &row.batch,
        trace: &row.trace,
        original_trace: o_trace,
        rrn: &row.rrn,
        amount_minor: row.amount,
        currency: &row.currency,
        kind,
        date,
    };
    let key = (row.terminal_id.clone(), row.batch.clone(), row.trace.clone());
    // The terminal's side: a balanced batch confirmed these records; an unbalanced one
    // stands by its upload (the amount the terminal had, or nothing).
    let terminal_amount = match row.settled.as_deref() {
        Some("1") => Some(row.amount),
        Some(_) => uploads.get(&key).copied(),
        None => None,
    };
    if let Some(terminal_amount) = terminal_amount {
        let mut record = TerminalRecord::try_from(&terminal_row).map_err(bad("terminal batch"))?;
        record.amount_minor = terminal_amount;
        terminal.push(record);
    }
    let (reversal_stan, reversal_time) = &row.reversal;
    if row.reversed && !reversal_stan.is_empty() {
        // The network reversal the acquirer sent for it (its 0420, under its own 11 and 7),
        // and on the terminal's side the 0400 that asked for it.
        let reversal_row = AcquirerRow {
            stan: reversal_stan,
            transmission_time: reversal_time,
            original_stan: stan,
            original_time: time,
            kind: "reversal",
            state: "approved",
            ..acquirer_row
        };
        let mut reversal = AcquirerRecord::try_from(&reversal_row).map_err(bad("acquirer reversal"))?;
        reversal.terminal.trace += REVERSAL_TRACE_OFFSET;
        acquirer.push(reversal);
        if terminal_amount.is_some() {
            let mut terminal_reversal = TerminalRecord::try_from(&recon::TerminalRow {
                kind: "reversal",
                original_trace: &row.trace,
                ..terminal_row
            })
            .map_err(bad("terminal reversal"))?;
            terminal_reversal.key.trace += REVERSAL_TRACE_OFFSET;
            terminal.push(terminal_reversal);
        }
    }
    acquirer.push(record);
    Ok(())
}

/// What unbalanced batches uploaded: (terminal, batch, trace) → amount.
fn uploaded(db: &Database) -> Result<HashMap<(String, String, String), u64>, EodError> {
    let rows = db
        .transaction(|tx| {
            tx.query("SELECT terminal_id, batch_no, trace, amount_minor FROM acquirer_batch_uploads", &[])
        })
        .map_err(failure("batch uploads"))?;
    let mut out = HashMap::with_capacity(rows.len());
    for row in &rows {
        let key = (|| Ok::<_, sqlstore::Error>(((row.text(0)?, row.u64(1)?.to_string(), row.text(2)?), row.u64(3)?)))()
            .map_err(failure("batch uploads"))?;
        out.insert(key.0, key.1);
    }
    Ok(out)
}
