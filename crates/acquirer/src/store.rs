//! The acquirer's database: schema and id sequences. Everything runs inside `sqlstore`
//! transactions, so one decision (transaction row, messages, a queued reversal) commits together
//! or not at all. Tables are prefixed `acquirer_`; the merchants registry keeps `merchants_*` in
//! the same database.

use sqlstore::{Database, Tx, Value};

pub(crate) const SEQ_TRANSACTION: &str = "transaction";
pub(crate) const SEQ_MESSAGE: &str = "message";
/// Field 11 toward the switch; taken modulo [`crate::limits::STAN_MAX`].
pub(crate) const SEQ_STAN: &str = "stan";
pub(crate) const SEQ_REVERSAL: &str = "reversal";
pub(crate) const SEQ_TERMINAL_REVERSAL: &str = "terminal_reversal";
pub(crate) const SEQ_SETTLEMENT: &str = "settlement";
pub(crate) const SEQ_UPLOAD: &str = "upload";
pub(crate) const SEQ_DIFFERENCE: &str = "difference";
pub(crate) const SEQ_SETTLEMENT_RUN: &str = "settlement_run";
pub(crate) const SEQ_PAYOUT: &str = "payout";
pub(crate) const SEQ_NOTICE: &str = "notice";

const SEQUENCE_TABLE: &str = "acquirer_sequences";

const SEQUENCES: [&str; 11] = [
    SEQ_TRANSACTION,
    SEQ_MESSAGE,
    SEQ_STAN,
    SEQ_REVERSAL,
    SEQ_TERMINAL_REVERSAL,
    SEQ_SETTLEMENT,
    SEQ_UPLOAD,
    SEQ_DIFFERENCE,
    SEQ_SETTLEMENT_RUN,
    SEQ_PAYOUT,
    SEQ_NOTICE,
];

const MIGRATION_V1: &str = "acquirer-v1";

const DDL_V1: &[&str] = &[
    "CREATE TABLE acquirer_sequences (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
    // The host side of each terminal: its current batch and the working keys of its last
    // sign-on, as TR-31 blocks under the LMK (never in clear).
    "CREATE TABLE acquirer_terminals (
        terminal_id TEXT PRIMARY KEY,
        batch_no BIGINT NOT NULL,
        signed_on BIGINT NOT NULL,
        scheme TEXT,
        pik TEXT,
        mak TEXT,
        tdk TEXT,
        signed_on_ms BIGINT,
        sign_on_required BIGINT NOT NULL,
        settlement_pending BIGINT NOT NULL,
        updated_ms BIGINT NOT NULL
    )",
    // One row per terminal financial request that got past the terminal checks (MAC, status,
    // batch): the transaction on both legs. No PIN block, no track data, the PAN masked; the
    // network request as sent (without PIN, track and chip data) is kept encrypted under the
    // DEK in network_payload, for the 0420 of a later terminal reversal.
    "CREATE TABLE acquirer_transactions (
        id BIGINT PRIMARY KEY,
        terminal_id TEXT NOT NULL,
        merchant_id TEXT NOT NULL,
        batch_no BIGINT NOT NULL,
        trace TEXT NOT NULL,
        terminal_mti TEXT NOT NULL,
        kind TEXT NOT NULL,
        processing_code TEXT,
        amount_minor BIGINT NOT NULL,
        currency TEXT NOT NULL,
        pan_masked TEXT,
        card_org TEXT NOT NULL,
        rrn TEXT,
        auth_code TEXT,
        response_code TEXT,
        status TEXT NOT NULL,
        sent BIGINT NOT NULL,
        net_mti TEXT,
        net_stan TEXT,
        net_time TEXT,
        original_id BIGINT,
        voided BIGINT NOT NULL,
        completed BIGINT NOT NULL,
        refunded_minor BIGINT NOT NULL,
        reversed BIGINT NOT NULL,
        settlement_date TEXT,
        received_ms BIGINT NOT NULL,
        answered_ms BIGINT,
        network_payload BLOB
    )",
    "CREATE UNIQUE INDEX acquirer_transactions_trace ON acquirer_transactions (terminal_id, batch_no, trace)",
    "CREATE INDEX acquirer_transactions_merchant ON acquirer_transactions (merchant_id, received_ms)",
    "CREATE INDEX acquirer_transactions_rrn ON acquirer_transactions (merchant_id, rrn)",
    // Terminal reversals (0400), one per (terminal, batch, trace): a repeat answers the same.
    "CREATE TABLE acquirer_terminal_reversals (
        id BIGINT PRIMARY KEY,
        terminal_id TEXT NOT NULL,
        batch_no BIGINT NOT NULL,
        trace TEXT NOT NULL,
        reason TEXT,
        original_id BIGINT,
        forwarded BIGINT NOT NULL,
        response_code TEXT NOT NULL,
        received_ms BIGINT NOT NULL
    )",
    "CREATE UNIQUE INDEX acquirer_terminal_reversals_key ON acquirer_terminal_reversals (terminal_id, batch_no, trace)",
    // Network reversals (0420/0421) owed to the switch: store-and-forward, the payload (which
    // carries the PAN) encrypted under the DEK.
    "CREATE TABLE acquirer_reversal_queue (
        id BIGINT PRIMARY KEY,
        entry_key TEXT NOT NULL UNIQUE,
        transaction_id BIGINT NOT NULL,
        payload BLOB NOT NULL,
        created_ms BIGINT NOT NULL,
        attempts BIGINT NOT NULL,
        next_attempt_ms BIGINT NOT NULL,
        state BIGINT NOT NULL,
        response_code TEXT,
        answered_ms BIGINT
    )",
    "CREATE INDEX acquirer_reversal_queue_due ON acquirer_reversal_queue (state, next_attempt_ms, id)",
    // Every message in and out on either leg, with what identifies and explains it.
    "CREATE TABLE acquirer_messages (
        id BIGINT PRIMARY KEY,
        transaction_id BIGINT,
        at_ms BIGINT NOT NULL,
        direction TEXT NOT NULL,
        leg TEXT NOT NULL,
        terminal_id TEXT,
        mti TEXT NOT NULL,
        stan TEXT,
        processing_code TEXT,
        amount_minor BIGINT,
        pan_masked TEXT,
        rrn TEXT,
        response_code TEXT
    )",
    "CREATE INDEX acquirer_messages_transaction ON acquirer_messages (transaction_id, id)",
    // One row per settled terminal batch (0500): both sides' totals and the result.
    "CREATE TABLE acquirer_settlements (
        id BIGINT PRIMARY KEY,
        terminal_id TEXT NOT NULL,
        batch_no BIGINT NOT NULL,
        terminal_totals TEXT NOT NULL,
        host_totals TEXT NOT NULL,
        domestic_result TEXT NOT NULL,
        foreign_result TEXT NOT NULL,
        upload_state TEXT NOT NULL,
        settled_ms BIGINT NOT NULL,
        upload_done_ms BIGINT
    )",
    "CREATE UNIQUE INDEX acquirer_settlements_batch ON acquirer_settlements (terminal_id, batch_no)",
    // What the terminal uploaded (0320), one row per transaction record.
    "CREATE TABLE acquirer_batch_uploads (
        id BIGINT PRIMARY KEY,
        terminal_id TEXT NOT NULL,
        batch_no BIGINT NOT NULL,
        trace TEXT NOT NULL,
        network_code TEXT NOT NULL,
        card_flag TEXT,
        pan_masked TEXT,
        amount_minor BIGINT NOT NULL,
        received_ms BIGINT NOT NULL
    )",
    "CREATE INDEX acquirer_batch_uploads_batch ON acquirer_batch_uploads (terminal_id, batch_no, trace)",
    // Input to reconciliation: what one side had and the other did not, per settled batch.
    "CREATE TABLE acquirer_batch_differences (
        id BIGINT PRIMARY KEY,
        terminal_id TEXT NOT NULL,
        batch_no BIGINT NOT NULL,
        trace TEXT NOT NULL,
        side TEXT NOT NULL,
        pan_masked TEXT,
        terminal_amount_minor BIGINT,
        host_amount_minor BIGINT,
        transaction_id BIGINT,
        recorded_ms BIGINT NOT NULL
    )",
    "CREATE INDEX acquirer_batch_differences_batch ON acquirer_batch_differences (terminal_id, batch_no, id)",
];

/// The follow-ups of an original (its voids, refunds, completions) are looked up by it when a
/// new one claims the original (crate::originals).
const MIGRATION_V2: &str = "acquirer-v2";

const DDL_V2: &[&str] = &["CREATE INDEX acquirer_transactions_original ON acquirer_transactions (original_id, status)"];

/// A network reversal's own 11 and 7 (its 0420 takes a new STAN and time), kept in clear beside
/// the encrypted payload: how reconciliation finds it in the switch's clearing file.
const MIGRATION_V4: &str = "acquirer-v4-reversal-keys";

const DDL_V4: &[&str] = &[
    "ALTER TABLE acquirer_reversal_queue ADD COLUMN net_stan TEXT",
    "ALTER TABLE acquirer_reversal_queue ADD COLUMN net_time TEXT",
    "CREATE INDEX acquirer_reversal_queue_transaction ON acquirer_reversal_queue (transaction_id)",
];

/// Create the schema if it is not there yet (idempotent).
pub(crate) fn migrate(db: &Database) -> sqlstore::Result<()> {
    db.migrate(MIGRATION_V1, DDL_V1)?;
    db.migrate(MIGRATION_V2, DDL_V2)?;
    db.migrate(crate::merchant_store::MIGRATION_V3, crate::merchant_store::DDL_V3)?;
    db.migrate(MIGRATION_V4, DDL_V4)?;
    db.transaction(|tx| sqlstore::sequence::ensure(tx, SEQUENCE_TABLE, &SEQUENCES))
}

/// The next value of a sequence (1, 2, …) inside the caller's transaction.
pub(crate) fn next_id(tx: &mut Tx<'_>, name: &str) -> sqlstore::Result<u64> {
    sqlstore::sequence::next(tx, SEQUENCE_TABLE, name)
}

pub(crate) fn int(value: u64) -> sqlstore::Result<Value> {
    Value::from_u64(value)
}

pub(crate) fn opt_int(value: Option<u64>) -> sqlstore::Result<Value> {
    Value::from_opt_u64(value)
}
