//! The reversals' records: terminal reversals (0400) in `acquirer_terminal_reversals`, one per
//! (terminal, batch, trace); and what each network reversal (0420) owed to the switch is in
//! `acquirer_reversals` — its transaction, its own 11 and 7, the switch's answer — beside its
//! entry in the saf queue (`acquirer_saf`, same id).

use sqlstore::Tx;

use crate::store::{self, int, opt_int};

/// The answer already given to a terminal reversal, if this is a repeat.
pub(crate) fn terminal_reversal_answer(
    tx: &mut Tx<'_>,
    terminal_id: &str,
    batch_no: u32,
    trace: &str,
) -> sqlstore::Result<Option<String>> {
    let row = tx.query_opt(
        "SELECT response_code FROM acquirer_terminal_reversals WHERE terminal_id = $1 AND batch_no = $2 \
         AND trace = $3",
        &[terminal_id.into(), batch_no.into(), trace.into()],
    )?;
    row.map(|row| row.text(0)).transpose()
}

/// A terminal reversal as decided.
#[derive(Debug)]
pub(crate) struct NewTerminalReversal<'a> {
    pub terminal_id: &'a str,
    pub batch_no: u32,
    pub trace: &'a str,
    /// The terminal's 39.
    pub reason: Option<&'a str>,
    pub original_id: Option<u64>,
    pub forwarded: bool,
    pub response_code: &'a str,
}

pub(crate) fn insert_terminal_reversal(
    tx: &mut Tx<'_>,
    new: &NewTerminalReversal<'_>,
    now_ms: u64,
) -> sqlstore::Result<()> {
    let id = store::next_id(tx, store::SEQ_TERMINAL_REVERSAL)?;
    tx.execute(
        "INSERT INTO acquirer_terminal_reversals (id, terminal_id, batch_no, trace, reason, original_id, \
         forwarded, response_code, received_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            int(id)?,
            new.terminal_id.into(),
            new.batch_no.into(),
            new.trace.into(),
            new.reason.into(),
            opt_int(new.original_id)?,
            i64::from(new.forwarded).into(),
            new.response_code.into(),
            int(now_ms)?,
        ],
    )?;
    Ok(())
}

/// Whether a network reversal of the transaction was queued already.
pub(crate) fn reversal_queued(tx: &mut Tx<'_>, transaction_id: u64) -> sqlstore::Result<bool> {
    let row = tx.query_opt("SELECT id FROM acquirer_reversals WHERE transaction_id = $1", &[int(transaction_id)?])?;
    Ok(row.is_some())
}

/// Transactions with more than one network reversal queued (the host must never send two).
pub(crate) fn reversed_twice(tx: &mut Tx<'_>) -> sqlstore::Result<u64> {
    let row = tx.query_opt(
        "SELECT COUNT(*) FROM (SELECT transaction_id FROM acquirer_reversals GROUP BY transaction_id \
         HAVING COUNT(*) > 1) AS twice",
        &[],
    )?;
    row.map_or(Ok(0), |row| row.u64(0))
}

/// The record of a network reversal queued under saf entry `id`.
pub(crate) fn insert_reversal(
    tx: &mut Tx<'_>,
    id: u64,
    transaction_id: u64,
    net_stan: &str,
    net_time: &str,
    now_ms: u64,
) -> sqlstore::Result<()> {
    tx.execute(
        "INSERT INTO acquirer_reversals (id, transaction_id, net_stan, net_time, queued_ms) \
         VALUES ($1, $2, $3, $4, $5)",
        &[int(id)?, int(transaction_id)?, net_stan.into(), net_time.into(), int(now_ms)?],
    )?;
    Ok(())
}

/// The switch's answer to network reversal `id`.
pub(crate) fn reversal_answered(tx: &mut Tx<'_>, id: u64, response_code: &str, now_ms: u64) -> sqlstore::Result<()> {
    tx.execute(
        "UPDATE acquirer_reversals SET response_code = $2, answered_ms = $3 WHERE id = $1",
        &[int(id)?, response_code.into(), int(now_ms)?],
    )?;
    Ok(())
}

/// The transaction network reversal `id` reverses (`None`: no record, a row edited by hand).
pub(crate) fn reversal_transaction(tx: &mut Tx<'_>, id: u64) -> sqlstore::Result<Option<u64>> {
    let row = tx.query_opt("SELECT transaction_id FROM acquirer_reversals WHERE id = $1", &[int(id)?])?;
    row.map(|row| row.u64(0)).transpose()
}
