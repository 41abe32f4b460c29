//! `acquirer_terminals`: the host's side of each terminal — its working keys and its
//! settlement state. The batch number (60.2) and whether the batch waits for settlement live
//! here and nowhere else: read here, and written in the transaction of the decision that
//! changes them (an approval marks the batch pending, an 0500 closes it).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use hsm::WrappedKey;
use sqlstore::Tx;

use super::transactions::batch_of;
use crate::limits::BATCH_NO_MAX;
use crate::store::int;

/// Writes that changed a terminal's row, in this process ([`change_count`]).
static CHANGES: AtomicU64 = AtomicU64::new(0);

/// A count that moves whenever this process changed a terminal's row here. Every write below
/// counts itself inside its transaction, so while it holds the connection: a reader in memory
/// (crate::known_cache) that read the count before the change reads the row after the commit
/// or the rollback, never between. Other connections' commits move the database's data
/// version instead.
pub(crate) fn change_count() -> u64 {
    CHANGES.load(Ordering::SeqCst)
}

/// `changed` rows written by one statement: counted when any.
fn counted(changed: u64) -> u64 {
    if changed > 0 {
        CHANGES.fetch_add(1, Ordering::SeqCst);
    }
    changed
}

/// The host's record of a terminal: batch and working keys.
#[derive(Debug, Clone)]
pub struct TerminalState {
    pub terminal_id: String,
    pub batch_no: u32,
    pub signed_on: bool,
    pub scheme: Option<String>,
    pub pik: Option<WrappedKey>,
    pub mak: Option<WrappedKey>,
    pub tdk: Option<WrappedKey>,
    pub sign_on_required: bool,
    /// An approval in the current batch waits for the terminal's 0500.
    pub settlement_pending: bool,
}

fn opt_key(text: Option<String>) -> sqlstore::Result<Option<WrappedKey>> {
    text.map(|block| WrappedKey::from_block(block).map_err(|_| sqlstore::Error::column(4, "a key block"))).transpose()
}

/// The host's state of a terminal (`None`: never seen here).
pub(crate) fn terminal(tx: &mut Tx<'_>, terminal_id: &str) -> sqlstore::Result<Option<TerminalState>> {
    let row = tx.query_opt(
        "SELECT batch_no, signed_on, scheme, pik, mak, tdk, sign_on_required, settlement_pending \
         FROM acquirer_terminals WHERE terminal_id = $1",
        &[terminal_id.into()],
    )?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(TerminalState {
        terminal_id: terminal_id.to_owned(),
        batch_no: batch_of(row.u64(0)?)?,
        signed_on: row.i64(1)? != 0,
        scheme: row.opt_text(2)?,
        pik: opt_key(row.opt_text(3)?)?,
        mak: opt_key(row.opt_text(4)?)?,
        tdk: opt_key(row.opt_text(5)?)?,
        sign_on_required: row.i64(6)? != 0,
        settlement_pending: row.i64(7)? != 0,
    }))
}

/// The terminal's row, created on first sight in batch `first_batch` (1 when out of range).
pub(crate) fn ensure_terminal(
    tx: &mut Tx<'_>,
    terminal_id: &str,
    first_batch: u32,
    now_ms: u64,
) -> sqlstore::Result<TerminalState> {
    if let Some(state) = terminal(tx, terminal_id)? {
        return Ok(state);
    }
    let batch = if (1..=BATCH_NO_MAX).contains(&first_batch) { first_batch } else { 1 };
    counted(tx.execute(
        "INSERT INTO acquirer_terminals (terminal_id, batch_no, signed_on, sign_on_required, settlement_pending, \
         updated_ms) VALUES ($1, $2, 0, 0, 0, $3)",
        &[terminal_id.into(), batch.into(), int(now_ms)?],
    )?);
    Ok(TerminalState {
        terminal_id: terminal_id.to_owned(),
        batch_no: batch,
        signed_on: false,
        scheme: None,
        pik: None,
        mak: None,
        tdk: None,
        sign_on_required: false,
        settlement_pending: false,
    })
}

/// Working keys under the LMK, as a sign-on issued them or an operator installed them.
#[derive(Debug)]
pub(crate) struct WorkingKeys<'a> {
    pub terminal_id: &'a str,
    /// The sign-on's 60.3 (001/003/004).
    pub scheme: &'a str,
    pub pik: &'a str,
    pub mak: &'a str,
    pub tdk: Option<&'a str>,
}

/// A sign-on: the keys issued, signed on, and any request to sign on again satisfied.
pub(crate) fn record_sign_on(tx: &mut Tx<'_>, keys: &WorkingKeys<'_>, now_ms: u64) -> sqlstore::Result<()> {
    counted(tx.execute(
        "UPDATE acquirer_terminals SET signed_on = 1, scheme = $2, pik = $3, mak = $4, tdk = $5, \
         signed_on_ms = $6, sign_on_required = 0, updated_ms = $6 WHERE terminal_id = $1",
        &[keys.terminal_id.into(), keys.scheme.into(), keys.pik.into(), keys.mak.into(), keys.tdk.into(), int(now_ms)?],
    )?);
    Ok(())
}

/// Keys installed by an operator (no TDK): signed on as if by a sign-on; a pending request to
/// sign on again stays.
pub(crate) fn install_keys(tx: &mut Tx<'_>, keys: &WorkingKeys<'_>, now_ms: u64) -> sqlstore::Result<()> {
    counted(tx.execute(
        "UPDATE acquirer_terminals SET signed_on = 1, scheme = $2, pik = $3, mak = $4, tdk = NULL, \
         signed_on_ms = $5, updated_ms = $5 WHERE terminal_id = $1",
        &[keys.terminal_id.into(), keys.scheme.into(), keys.pik.into(), keys.mak.into(), int(now_ms)?],
    )?);
    Ok(())
}

pub(crate) fn sign_off(tx: &mut Tx<'_>, terminal_id: &str, now_ms: u64) -> sqlstore::Result<()> {
    counted(tx.execute(
        "UPDATE acquirer_terminals SET signed_on = 0, updated_ms = $2 WHERE terminal_id = $1",
        &[terminal_id.into(), int(now_ms)?],
    )?);
    Ok(())
}

/// Every following answer asks the terminal to sign on again; `false`: no such terminal here.
pub(crate) fn require_sign_on(tx: &mut Tx<'_>, terminal_id: &str) -> sqlstore::Result<bool> {
    let changed = counted(
        tx.execute("UPDATE acquirer_terminals SET sign_on_required = 1 WHERE terminal_id = $1", &[terminal_id.into()])?,
    );
    Ok(changed > 0)
}

/// The terminal's batch holds an approval: it waits for settlement.
pub(crate) fn mark_settlement_pending(tx: &mut Tx<'_>, terminal_id: &str) -> sqlstore::Result<()> {
    counted(tx.execute(
        "UPDATE acquirer_terminals SET settlement_pending = 1 WHERE terminal_id = $1 AND settlement_pending = 0",
        &[terminal_id.into()],
    )?);
    Ok(())
}

/// Settlement closed the batch: the terminal moves to batch `next`, nothing pending.
pub(crate) fn close_batch(tx: &mut Tx<'_>, terminal_id: &str, next: u32, now_ms: u64) -> sqlstore::Result<()> {
    counted(tx.execute(
        "UPDATE acquirer_terminals SET batch_no = $2, settlement_pending = 0, updated_ms = $3 WHERE terminal_id = $1",
        &[terminal_id.into(), next.into(), int(now_ms)?],
    )?);
    Ok(())
}

/// The terminals this host has seen.
pub(crate) fn terminal_ids(tx: &mut Tx<'_>) -> sqlstore::Result<HashSet<String>> {
    let rows = tx.query("SELECT terminal_id FROM acquirer_terminals", &[])?;
    rows.iter().map(|row| row.text(0)).collect()
}
