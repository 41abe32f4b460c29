//! The switch's database: schema, id sequences and stand-in usage. The journal
//! ([`crate::journal`]) keeps its SQL next to its types, the advice queue is `saf::SqlQueue`;
//! all of it runs inside `sqlstore` transactions, so one decision (journal rows, counters, a
//! queued advice) commits together or not at all.

use saf::{IdSequence, SqlQueue};
use sqlstore::{Database, Tx, Value};

/// Sequence names in `switch_sequences`.
pub(crate) const SEQ_EXCHANGE: &str = "exchange";
pub(crate) const SEQ_MESSAGE: &str = "message";
pub(crate) const SEQ_SAF: &str = "saf";
/// The issuer-leg STAN (field 11) the switch assigns; taken modulo [`crate::limits::STAN_MAX`].
pub(crate) const SEQ_STAN: &str = "stan";
/// Stand-in approval codes (field 38).
pub(crate) const SEQ_AUTH_CODE: &str = "auth_code";
/// Rows of `switch_link_keys` and `switch_key_changes` ([`crate::linkkeys`]).
pub(crate) const SEQ_LINK_KEY: &str = "link_key";
pub(crate) const SEQ_KEY_CHANGE: &str = "key_change";

const SEQUENCE_TABLE: &str = "switch_sequences";

/// The advice queue's table: the name and columns it always had, so a database made before the
/// queue moved to `crates/saf` keeps working as it is.
const SAF_TABLE: &str = "switch_saf";

/// The sequences the core takes ids of on every authorization, and how many a decision takes of
/// each at most (a request logs two messages; an answer two more and may queue an advice).
const HOT_SEQUENCES: [&str; 4] = [SEQ_EXCHANGE, SEQ_MESSAGE, SEQ_STAN, SEQ_AUTH_CODE];
const IDS_PER_EVENT_MAX: u64 = 4;

/// Hold enough of each hot sequence's ids on this thread for the largest batch
/// (`sqlstore::sequence::reserve_for_batch`), so the batch's decisions take ids from memory.
/// Called by the pipeline's batch only.
pub(crate) fn reserve_ids(db: &Database) {
    let reserved = sqlstore::sequence::reserve_for_batch(
        db,
        SEQUENCE_TABLE,
        &HOT_SEQUENCES,
        host::PIPELINE_EVENTS_MAX,
        IDS_PER_EVENT_MAX,
    );
    if let Err(error) = reserved {
        tracing::warn!(%error, "switch: a block of ids not reserved; those ids come from the row");
    }
}

const SEQUENCES: [&str; 7] =
    [SEQ_EXCHANGE, SEQ_MESSAGE, SEQ_SAF, SEQ_STAN, SEQ_AUTH_CODE, SEQ_LINK_KEY, SEQ_KEY_CHANGE];

/// The migration name of the schema below; a change of schema is a new name with new DDL.
const MIGRATION_V1: &str = "switch-v1";

const DDL_V1: &[&str] = &[
    "CREATE TABLE switch_sequences (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
    // One row per acquirer request that passed the MAC and format checks: the transaction as
    // the switch saw it on both legs. No PIN block, no track data, the PAN masked; the card key
    // is the keyed hash of the PAN under the switch's DEK.
    "CREATE TABLE switch_exchanges (
        id BIGINT PRIMARY KEY,
        acquirer TEXT NOT NULL,
        acq_mti TEXT NOT NULL,
        acq_class TEXT NOT NULL,
        acq_stan TEXT NOT NULL,
        acq_time TEXT NOT NULL,
        kind TEXT NOT NULL,
        rrn TEXT,
        processing_code TEXT,
        pan_masked TEXT,
        card_key TEXT,
        amount_minor BIGINT,
        replacement_minor BIGINT,
        currency TEXT,
        terminal_id TEXT,
        merchant_id TEXT,
        issuer TEXT,
        iss_mti TEXT,
        iss_stan TEXT,
        iss_time TEXT,
        original_id BIGINT,
        status TEXT NOT NULL,
        response_code TEXT,
        auth_code TEXT,
        stip BIGINT NOT NULL,
        settlement_date TEXT NOT NULL,
        received_ms BIGINT NOT NULL,
        answered_ms BIGINT,
        latency_ms BIGINT
    )",
    // The duplicate check of docs/network-flows.md §4: (32, 11, 7, MTI class).
    "CREATE UNIQUE INDEX switch_exchanges_acquirer_key ON switch_exchanges (acquirer, acq_stan, acq_time, acq_class)",
    "CREATE INDEX switch_exchanges_settlement ON switch_exchanges (settlement_date, id)",
    "CREATE INDEX switch_exchanges_issuer_key ON switch_exchanges (issuer, iss_stan, iss_time)",
    // Every message in and out, on either leg, with the fields that identify and explain it.
    "CREATE TABLE switch_messages (
        id BIGINT PRIMARY KEY,
        exchange_id BIGINT,
        advice_id BIGINT,
        at_ms BIGINT NOT NULL,
        direction TEXT NOT NULL,
        leg TEXT NOT NULL,
        link TEXT NOT NULL,
        mti TEXT NOT NULL,
        stan TEXT,
        transmission_time TEXT,
        acquirer TEXT,
        forwarder TEXT,
        receiver TEXT,
        rrn TEXT,
        auth_code TEXT,
        response_code TEXT,
        amount_minor BIGINT,
        currency TEXT,
        pan_masked TEXT,
        processing_code TEXT,
        latency_ms BIGINT
    )",
    "CREATE INDEX switch_messages_exchange ON switch_messages (exchange_id, id)",
    "CREATE INDEX switch_messages_advice ON switch_messages (advice_id, id)",
    // What each queued advice is (its payload is encrypted in switch_saf).
    "CREATE TABLE switch_advices (
        id BIGINT PRIMARY KEY,
        exchange_id BIGINT NOT NULL,
        issuer TEXT NOT NULL,
        purpose TEXT NOT NULL,
        mti TEXT NOT NULL,
        iss_stan TEXT NOT NULL,
        iss_time TEXT NOT NULL,
        queued_ms BIGINT NOT NULL,
        response_code TEXT,
        answered_ms BIGINT
    )",
    "CREATE INDEX switch_advices_exchange ON switch_advices (exchange_id, id)",
    // Stand-in usage per card (keyed hash) per UTC day.
    "CREATE TABLE switch_stip_usage (
        card_key TEXT NOT NULL,
        day TEXT NOT NULL,
        amount_minor BIGINT NOT NULL,
        count BIGINT NOT NULL,
        PRIMARY KEY (card_key, day)
    )",
];

/// End of day (issue 13): every exchange's business date (`YYYY-MM-DD`) and late flag, the
/// card kind it was routed with and its MCC (18); the table of business dates. Rows journaled
/// before it get their date from `received_ms` and the cut-off ([`crate::business_date`]).
const MIGRATION_V2: &str = "switch-v2-business-dates";

const DDL_V2: &[&str] = &[
    "ALTER TABLE switch_exchanges ADD COLUMN business_date TEXT",
    "ALTER TABLE switch_exchanges ADD COLUMN late BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE switch_exchanges ADD COLUMN mcc TEXT",
    "ALTER TABLE switch_exchanges ADD COLUMN card_kind TEXT",
    // Clearing reads one date in id order, page by page.
    "CREATE INDEX switch_exchanges_business ON switch_exchanges (business_date, id)",
    // The first reversal of an original, found without a scan.
    "CREATE INDEX switch_exchanges_original ON switch_exchanges (original_id, id)",
    // One row per date that was closed: a closed date never changes; the cut-over (0800/201)
    // announcing the next date is sent once (`cutover_sent_ms`).
    "CREATE TABLE switch_business_dates (
        business_date TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        closed_ms BIGINT,
        cutover_sent_ms BIGINT
    )",
];

/// Create the schema if it is not there yet (idempotent); give exchanges journaled before
/// business dates existed theirs (under `cutoff`).
/// `cutoff`: `None` for a caller without a configuration (the advice queue alone), which leaves
/// the backfill to the switch's next start.
pub(crate) fn migrate(db: &Database, cutoff: Option<clearing::CutOff>) -> sqlstore::Result<()> {
    // The queue's DDL is `switch-v1`'s, as it was when the queue lived in the switch: the
    // migration keeps its name and a recorded one is not run again.
    let queue_ddl = advice_queue()?.ddl();
    let mut statements: Vec<&str> = DDL_V1.to_vec();
    statements.extend(queue_ddl.iter().map(String::as_str));
    db.migrate(MIGRATION_V1, &statements)?;
    db.migrate(crate::linkkeys::MIGRATION, crate::linkkeys::DDL)?;
    db.migrate(MIGRATION_V2, DDL_V2)?;
    crate::settlement::migrate(db)?;
    db.transaction(|tx| sqlstore::sequence::ensure(tx, SEQUENCE_TABLE, &SEQUENCES))?;
    match cutoff {
        Some(cutoff) => crate::business_date::backfill(db, cutoff),
        None => Ok(()),
    }
}

/// The advice queue (`switch_saf`, ids from the `saf` sequence).
pub(crate) fn advice_queue() -> sqlstore::Result<SqlQueue> {
    SqlQueue::new(SAF_TABLE, IdSequence { table: SEQUENCE_TABLE, name: SEQ_SAF })
        .map_err(|error| sqlstore::Error::new("advice queue", error.to_string()))
}

/// The next value of a sequence (1, 2, …), inside the caller's transaction: the row update
/// serialises concurrent writers on PostgreSQL as SQLite's write lock does.
pub(crate) fn next_id(tx: &mut Tx<'_>, name: &str) -> sqlstore::Result<u64> {
    sqlstore::sequence::next(tx, SEQUENCE_TABLE, name)
}

/// A u64 as a SQL integer; values above `i64::MAX` are refused (they are never produced here:
/// amounts are at most 12 digits, times are milliseconds).
pub(crate) fn int(value: u64) -> sqlstore::Result<Value> {
    Value::from_u64(value)
}

pub(crate) fn opt_int(value: Option<u64>) -> sqlstore::Result<Value> {
    Value::from_opt_u64(value)
}

/// Today's stand-in usage of a card: (amount, count).
pub(crate) fn stip_usage(tx: &mut Tx<'_>, card_key: &str, day: &str) -> sqlstore::Result<(u64, u64)> {
    let row = tx.query_opt(
        "SELECT amount_minor, count FROM switch_stip_usage WHERE card_key = $1 AND day = $2",
        &[card_key.into(), day.into()],
    )?;
    match row {
        Some(row) => Ok((row.u64(0)?, row.u64(1)?)),
        None => Ok((0, 0)),
    }
}

pub(crate) fn add_stip_usage(tx: &mut Tx<'_>, card_key: &str, day: &str, amount_minor: u64) -> sqlstore::Result<()> {
    let changed = tx.execute(
        "UPDATE switch_stip_usage SET amount_minor = amount_minor + $3, count = count + 1 \
         WHERE card_key = $1 AND day = $2",
        &[card_key.into(), day.into(), int(amount_minor)?],
    )?;
    if changed == 0 {
        tx.execute(
            "INSERT INTO switch_stip_usage (card_key, day, amount_minor, count) VALUES ($1, $2, $3, 1)",
            &[card_key.into(), day.into(), int(amount_minor)?],
        )?;
    }
    Ok(())
}
