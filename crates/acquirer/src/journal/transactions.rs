//! `acquirer_transactions`: one row per terminal financial request that got past the terminal
//! checks — both legs' ids, the status, and what later transactions did to it.

use std::sync::LazyLock;

use domain::{MerchantId, ResponseCode, Rrn, Stan, TerminalId};
use iso8583::Mti;
use network::OriginalData;
use sqlstore::{Row, Tx};

use crate::kind::PosKind;
use crate::store::{int, opt_int};

/// Forwarder part of field 90: the acquirer sends no field 33.
const NO_FORWARDER: &str = "00000000000";

/// A journaled transaction as the acquirer saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionRecord {
    pub id: u64,
    pub terminal_id: TerminalId,
    pub merchant_id: MerchantId,
    pub batch_no: u32,
    /// The terminal's trace number (its field 11).
    pub trace: Stan,
    pub terminal_mti: String,
    pub kind: String,
    pub processing_code: Option<String>,
    pub amount_minor: u64,
    pub currency: String,
    pub pan_masked: Option<String>,
    pub card_org: String,
    pub rrn: Option<Rrn>,
    pub auth_code: Option<String>,
    pub response_code: Option<ResponseCode>,
    /// `pending` (at the network), `approved`, `declined`, `timeout`, `failed`.
    pub status: String,
    /// Whether the request went (or may have gone) to the network.
    pub sent: bool,
    pub net_mti: Option<String>,
    pub net_stan: Option<Stan>,
    pub net_time: Option<String>,
    pub original_id: Option<u64>,
    pub voided: bool,
    pub completed: bool,
    pub refunded_minor: u64,
    pub reversed: bool,
    pub received_ms: u64,
}

const TX_COLUMNS: &str = "id, terminal_id, merchant_id, batch_no, trace, terminal_mti, kind, processing_code, \
     amount_minor, currency, pan_masked, card_org, rrn, auth_code, response_code, status, sent, net_mti, net_stan, \
     net_time, original_id, voided, completed, refunded_minor, reversed, received_ms";

pub(super) fn batch_of(value: u64) -> sqlstore::Result<u32> {
    u32::try_from(value).map_err(|_| sqlstore::Error::column(3, "a batch number"))
}

impl TransactionRecord {
    fn from_row(row: &Row) -> sqlstore::Result<TransactionRecord> {
        Ok(TransactionRecord {
            id: row.u64(0)?,
            terminal_id: row.parsed(1, "terminal_id")?,
            merchant_id: row.parsed(2, "merchant_id")?,
            batch_no: batch_of(row.u64(3)?)?,
            trace: row.parsed(4, "trace")?,
            terminal_mti: row.text(5)?,
            kind: row.text(6)?,
            processing_code: row.opt_text(7)?,
            amount_minor: row.u64(8)?,
            currency: row.text(9)?,
            pan_masked: row.opt_text(10)?,
            card_org: row.text(11)?,
            rrn: row.opt_parsed(12, "rrn")?,
            auth_code: row.opt_text(13)?,
            response_code: row.opt_parsed(14, "response_code")?,
            status: row.text(15)?,
            sent: row.i64(16)? != 0,
            net_mti: row.opt_text(17)?,
            net_stan: row.opt_parsed(18, "net_stan")?,
            net_time: row.opt_text(19)?,
            original_id: row.opt_i64(20)?.and_then(|v| u64::try_from(v).ok()),
            voided: row.i64(21)? != 0,
            completed: row.i64(22)? != 0,
            refunded_minor: row.u64(23)?,
            reversed: row.i64(24)? != 0,
            received_ms: row.u64(25)?,
        })
    }

    pub fn pos_kind(&self) -> Option<PosKind> {
        PosKind::from_name(&self.kind)
    }

    pub fn approved(&self) -> bool {
        self.status == "approved"
    }

    /// The network-leg original (field 90) of this transaction, if it went out.
    pub(crate) fn network_original(&self, acquirer: &str) -> Option<OriginalData> {
        Some(OriginalData {
            mti: self.net_mti.clone()?,
            stan: self.net_stan?.to_string(),
            transmission_time: self.net_time.clone()?,
            acquirer: format!("{acquirer:0>11}"),
            forwarder: NO_FORWARDER.to_owned(),
        })
    }
}

fn records(rows: &[Row]) -> sqlstore::Result<Vec<TransactionRecord>> {
    rows.iter().map(TransactionRecord::from_row).collect()
}

/// A journaled transaction by id.
pub(crate) fn by_id(tx: &mut Tx<'_>, id: u64) -> sqlstore::Result<Option<TransactionRecord>> {
    let row = tx.query_opt(&format!("SELECT {TX_COLUMNS} FROM acquirer_transactions WHERE id = $1"), &[int(id)?])?;
    row.as_ref().map(TransactionRecord::from_row).transpose()
}

/// What an answer from the network needs to know of its transaction's row: whether it was
/// reversed meanwhile, its status before the answer, and its original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AnswerState {
    pub reversed: bool,
    pub status: String,
    pub original_id: Option<u64>,
}

/// [`AnswerState`] of transaction `id`: three columns, where [`by_id`] reads and converts all of
/// them (the network payload among them) on every answer.
pub(crate) fn answer_state(tx: &mut Tx<'_>, id: u64) -> sqlstore::Result<Option<AnswerState>> {
    let row =
        tx.query_opt("SELECT reversed, status, original_id FROM acquirer_transactions WHERE id = $1", &[int(id)?])?;
    row.map(|row| {
        Ok(AnswerState {
            reversed: row.i64(0)? != 0,
            status: row.text(1)?,
            original_id: row.opt_i64(2)?.and_then(|v| u64::try_from(v).ok()),
        })
    })
    .transpose()
}

/// The transaction of a terminal's batch and trace (one at most: a unique index).
pub(crate) fn by_trace(
    tx: &mut Tx<'_>,
    terminal_id: &str,
    batch_no: u32,
    trace: &str,
) -> sqlstore::Result<Option<TransactionRecord>> {
    // Made once: every request runs it (its duplicate check).
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {TX_COLUMNS} FROM acquirer_transactions WHERE terminal_id = $1 AND batch_no = $2 AND trace = $3"
        )
    });
    let row = tx.query_opt(&SQL, &[terminal_id.into(), batch_no.into(), trace.into()])?;
    row.as_ref().map(TransactionRecord::from_row).transpose()
}

/// The merchant's transactions with retrieval reference `rrn`.
pub(crate) fn by_rrn(tx: &mut Tx<'_>, merchant_id: &str, rrn: &str) -> sqlstore::Result<Vec<TransactionRecord>> {
    let rows = tx.query(
        &format!("SELECT {TX_COLUMNS} FROM acquirer_transactions WHERE merchant_id = $1 AND rrn = $2"),
        &[merchant_id.into(), rrn.into()],
    )?;
    records(&rows)
}

/// The journaled transactions of a terminal's batch, in order, at most `limit`.
pub(crate) fn batch(
    tx: &mut Tx<'_>,
    terminal_id: &str,
    batch_no: u32,
    limit: u64,
) -> sqlstore::Result<Vec<TransactionRecord>> {
    let rows = tx.query(
        &format!(
            "SELECT {TX_COLUMNS} FROM acquirer_transactions WHERE terminal_id = $1 AND batch_no = $2 \
             ORDER BY id LIMIT $3"
        ),
        &[terminal_id.into(), batch_no.into(), int(limit)?],
    )?;
    records(&rows)
}

/// A new row: the terminal request and the decision on it (and its network leg, when it went).
#[derive(Debug)]
pub(crate) struct NewTransaction<'a> {
    pub terminal_id: &'a str,
    pub merchant_id: &'a str,
    pub batch_no: u32,
    pub trace: &'a str,
    pub terminal_mti: Mti,
    pub kind: PosKind,
    pub processing_code: Option<&'a str>,
    pub amount_minor: u64,
    pub currency: &'a str,
    pub pan_masked: Option<String>,
    pub card_org: String,
    pub rrn: Option<&'a str>,
    pub response_code: Option<&'a str>,
    pub status: &'a str,
    /// The network leg as sent: MTI, 11, 7 (`None`: nothing went out).
    pub network: Option<(Mti, Option<&'a str>, Option<&'a str>)>,
    pub original_id: Option<u64>,
    pub received_ms: u64,
    /// Answered at once (declined by the host); `None` while at the network.
    pub answered_ms: Option<u64>,
    /// The kind the merchant's discount rate is taken for (crate::merchant_run).
    pub card_kind: Option<&'static str>,
    /// The network request as sent without its secrets, encrypted under the DEK: what a later
    /// terminal reversal's 0420 is made from (kept in the insert: no second statement).
    pub network_payload: Option<Vec<u8>>,
    /// The risk engine's hash of the card, when an engine runs (crate::risk_engine).
    pub risk_card: Option<u64>,
}

/// Made once: every request runs it.
static INSERT_REQUEST: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO acquirer_transactions ({TX_COLUMNS}, answered_ms, card_kind, network_payload, risk_card) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, $14, $15, $16, $17, $18, $19, $20, \
         0, 0, 0, 0, $21, $22, $23, $24, $25)"
    )
});

/// Journal a terminal request with its decision; its id (from the `transaction` sequence).
pub(crate) fn insert_request(tx: &mut Tx<'_>, new: &NewTransaction<'_>) -> sqlstore::Result<u64> {
    let id = crate::store::next_id(tx, crate::store::SEQ_TRANSACTION)?;
    let (net_mti, net_stan, net_time) = match new.network {
        Some((mti, stan, time)) => (Some(mti), stan, time),
        None => (None, None, None),
    };
    tx.execute(
        &INSERT_REQUEST,
        &[
            int(id)?,
            new.terminal_id.into(),
            new.merchant_id.into(),
            new.batch_no.into(),
            new.trace.into(),
            new.terminal_mti.as_str().into(),
            new.kind.name().into(),
            new.processing_code.into(),
            int(new.amount_minor)?,
            new.currency.into(),
            new.pan_masked.clone().into(),
            new.card_org.as_str().into(),
            new.rrn.into(),
            new.response_code.into(),
            new.status.into(),
            i64::from(new.network.is_some()).into(),
            net_mti.as_ref().map(Mti::as_str).into(),
            net_stan.into(),
            net_time.into(),
            opt_int(new.original_id)?,
            int(new.received_ms)?,
            opt_int(new.answered_ms)?,
            new.card_kind.into(),
            new.network_payload.clone().into(),
            // The hash's bits as a signed 64-bit column (read back the same way).
            new.risk_card.map(|h| h as i64).into(),
        ],
    )?;
    Ok(id)
}

/// The approved transactions received in `[from_ms, to_ms)` whose kinds are `kinds`, not
/// reversed, oldest first, at most `limit`: the AML reports' source (`cardnet risk aml`).
pub(crate) fn approved_between(
    tx: &mut Tx<'_>,
    from_ms: u64,
    to_ms: u64,
    kinds: &[&str],
    limit: u64,
) -> sqlstore::Result<Vec<TransactionRecord>> {
    let kinds: Vec<String> = kinds.iter().map(|k| format!("'{k}'")).collect();
    let rows = tx.query(
        &format!(
            "SELECT {TX_COLUMNS} FROM acquirer_transactions WHERE received_ms >= $1 AND received_ms < $2 \
             AND response_code = '00' AND reversed = 0 AND kind IN ({}) ORDER BY id LIMIT $3",
            kinds.join(", ")
        ),
        &[int(from_ms)?, int(to_ms)?, int(limit)?],
    )?;
    records(&rows)
}

/// One journaled transaction the risk engine saw, for rebuilding its windows.
#[derive(Debug, Clone)]
pub struct RiskRow {
    pub risk_card: u64,
    pub pan_masked: String,
    pub terminal_id: String,
    pub merchant_id: String,
    pub kind: String,
    pub amount_minor: u64,
    pub response_code: Option<String>,
    pub received_ms: u64,
}

/// The transactions of the last `window_ms` of the journal (before its newest) that carry a
/// risk card key and reached the engine (sent to the network, or declined by it), oldest
/// first, at most `limit`.
pub(crate) fn risk_rows(tx: &mut Tx<'_>, window_ms: u64, codes: &[&str], limit: u64) -> sqlstore::Result<Vec<RiskRow>> {
    let newest = tx.query_opt("SELECT MAX(received_ms) FROM acquirer_transactions", &[])?;
    let newest_ms = match newest {
        Some(row) => row.opt_i64(0)?.map_or(0, |ms| u64::try_from(ms).unwrap_or(0)),
        None => 0,
    };
    let since_ms = newest_ms.saturating_sub(window_ms);
    let declined: Vec<String> = codes.iter().map(|c| format!("'{c}'")).collect();
    let rows = tx.query(
        &format!(
            "SELECT risk_card, pan_masked, terminal_id, merchant_id, kind, amount_minor, response_code, received_ms \
             FROM acquirer_transactions WHERE received_ms >= $1 AND risk_card IS NOT NULL \
             AND (sent = 1 OR response_code IN ({})) ORDER BY id LIMIT $2",
            declined.join(", ")
        ),
        &[int(since_ms)?, int(limit)?],
    )?;
    rows.iter()
        .map(|row| {
            Ok(RiskRow {
                risk_card: row.i64(0)? as u64,
                pan_masked: row.opt_text(1)?.unwrap_or_default(),
                terminal_id: row.text(2)?,
                merchant_id: row.text(3)?,
                kind: row.text(4)?,
                amount_minor: row.u64(5)?,
                response_code: row.opt_text(6)?,
                received_ms: row.u64(7)?,
            })
        })
        .collect()
}

/// The encrypted network request of a transaction (`None`: it never went out).
pub(crate) fn network_payload(tx: &mut Tx<'_>, id: u64) -> sqlstore::Result<Option<Vec<u8>>> {
    let row = tx.query_opt("SELECT network_payload FROM acquirer_transactions WHERE id = $1", &[int(id)?])?;
    Ok(row.map(|row| row.opt_blob(0)).transpose()?.flatten())
}

/// The network's answer to a transaction.
#[derive(Debug)]
pub(crate) struct NetworkAnswer<'a> {
    pub approved: bool,
    pub response_code: &'a str,
    pub auth_code: Option<&'a str>,
    /// Field 15.
    pub settlement_date: Option<&'a str>,
    /// Field 100: the issuer the switch routed to.
    pub issuer_id: Option<&'a str>,
}

pub(crate) fn set_answer(tx: &mut Tx<'_>, id: u64, answer: &NetworkAnswer<'_>, now_ms: u64) -> sqlstore::Result<()> {
    tx.execute(
        "UPDATE acquirer_transactions SET status = $2, response_code = $3, auth_code = $4, \
         settlement_date = $5, answered_ms = $6, issuer_id = $7 WHERE id = $1",
        &[
            int(id)?,
            (if answer.approved { "approved" } else { "declined" }).into(),
            answer.response_code.into(),
            answer.auth_code.into(),
            answer.settlement_date.into(),
            int(now_ms)?,
            answer.issuer_id.into(),
        ],
    )?;
    Ok(())
}

/// No usable answer: `timeout` when the network may have acted on it (`maybe_delivered`), else
/// `failed`.
pub(crate) fn set_failed(
    tx: &mut Tx<'_>,
    id: u64,
    code: &str,
    maybe_delivered: bool,
    now_ms: u64,
) -> sqlstore::Result<()> {
    let status = if maybe_delivered { "timeout" } else { "failed" };
    tx.execute(
        "UPDATE acquirer_transactions SET status = $2, response_code = $3, sent = $4, answered_ms = $5 WHERE id = $1",
        &[int(id)?, status.into(), code.into(), i64::from(maybe_delivered).into(), int(now_ms)?],
    )?;
    Ok(())
}

pub(crate) fn mark_reversed(tx: &mut Tx<'_>, id: u64) -> sqlstore::Result<()> {
    tx.execute("UPDATE acquirer_transactions SET reversed = 1 WHERE id = $1", &[int(id)?])?;
    Ok(())
}

/// What an approved follow-up did to its original (crate::originals decides which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OriginalEffect {
    Voided(bool),
    Completed(bool),
    /// Refunded this much more (`true`) or this much less (a refund reversed).
    Refunded(u64, bool),
}

pub(crate) fn set_original_effect(tx: &mut Tx<'_>, original_id: u64, effect: OriginalEffect) -> sqlstore::Result<()> {
    match effect {
        OriginalEffect::Voided(flag) => tx.execute(
            "UPDATE acquirer_transactions SET voided = $2 WHERE id = $1",
            &[int(original_id)?, i64::from(flag).into()],
        )?,
        OriginalEffect::Completed(flag) => tx.execute(
            "UPDATE acquirer_transactions SET completed = $2 WHERE id = $1",
            &[int(original_id)?, i64::from(flag).into()],
        )?,
        OriginalEffect::Refunded(amount, more) => {
            let sql = if more {
                "UPDATE acquirer_transactions SET refunded_minor = refunded_minor + $2 WHERE id = $1"
            } else {
                "UPDATE acquirer_transactions SET refunded_minor = refunded_minor - $2 WHERE id = $1"
            };
            tx.execute(sql, &[int(original_id)?, int(amount)?])?
        }
    };
    Ok(())
}

/// Lock an original's row for the rest of the transaction: a no-op write takes the row lock on
/// PostgreSQL (SQLite's BEGIN IMMEDIATE already serialises writers), so a concurrent claim
/// waits here and then sees this one's row.
pub(crate) fn lock(tx: &mut Tx<'_>, id: u64) -> sqlstore::Result<()> {
    tx.execute("UPDATE acquirer_transactions SET original_id = original_id WHERE id = $1", &[int(id)?])?;
    Ok(())
}

/// The follow-ups of `original_id` still at the network and not reversed: (kind, amount).
pub(crate) fn pending_follow_ups(tx: &mut Tx<'_>, original_id: u64) -> sqlstore::Result<Vec<(Option<PosKind>, u64)>> {
    let rows = tx.query(
        "SELECT kind, amount_minor FROM acquirer_transactions WHERE original_id = $1 AND status = 'pending' \
         AND reversed = 0",
        &[int(original_id)?],
    )?;
    rows.iter().map(|row| Ok((PosKind::from_name(&row.text(0)?), row.u64(1)?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_state_is_the_rows_reversal_status_and_original() {
        let db = sqlstore::Database::open("sqlite::memory:").unwrap();
        crate::store::migrate(&db).unwrap();
        db.transaction(|tx| {
            let new = |trace: &'static str, original_id: Option<u64>| NewTransaction {
                terminal_id: "T0000001",
                merchant_id: "M1",
                batch_no: 1,
                trace,
                terminal_mti: Mti::parse("0200").unwrap(),
                kind: PosKind::Purchase,
                processing_code: None,
                amount_minor: 100,
                currency: "156",
                pan_masked: None,
                card_org: "CUP".into(),
                rrn: None,
                response_code: None,
                status: "pending",
                network: None,
                original_id,
                received_ms: 1,
                answered_ms: None,
                card_kind: None,
                network_payload: Some(vec![1; 300]),
                risk_card: None,
            };
            let first = insert_request(tx, &new("000001", None))?;
            let second = insert_request(tx, &new("000002", Some(first)))?;
            let state = |tx: &mut Tx<'_>, id| answer_state(tx, id).unwrap().unwrap();
            assert_eq!(state(tx, first), AnswerState { reversed: false, status: "pending".into(), original_id: None });
            assert_eq!(state(tx, second).original_id, Some(first));
            mark_reversed(tx, first)?;
            let answer = NetworkAnswer {
                approved: true,
                response_code: "00",
                auth_code: None,
                settlement_date: None,
                issuer_id: None,
            };
            set_answer(tx, first, &answer, 2)?;
            assert_eq!(state(tx, first), AnswerState { reversed: true, status: "approved".into(), original_id: None });
            assert_eq!(answer_state(tx, second + 1)?, None);
            Ok(())
        })
        .unwrap();
    }
}
