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

/// Issue 14: fewer index writes per authorization. No query reads a message by its advice (an
/// advice's messages are found through their exchange, as every message is), nor an exchange by
/// its field 15 or its issuer-leg key (an issuer's answer finds its exchange through the pending
/// state the core handed the driver); most exchanges (purchases) refer to no original, so only
/// those that do are in the index of originals.
const MIGRATION_V3: &str = "switch-v3-journal-indexes";

const DDL_V3: &[&str] = &[
    "DROP INDEX switch_messages_advice",
    "DROP INDEX switch_exchanges_settlement",
    "DROP INDEX switch_exchanges_issuer_key",
    "DROP INDEX switch_exchanges_original",
    "CREATE INDEX switch_exchanges_original ON switch_exchanges (original_id, id) WHERE original_id IS NOT NULL",
];

/// The tables every authorization writes, keyed by SQLite's rowid in a database made before
/// `sqlstore` wrote `BIGINT PRIMARY KEY` so (`Database::migrate_rowid_keys`; nothing on
/// PostgreSQL). A large journal takes as long as copying it, once, at the start after the
/// upgrade.
const MIGRATION_V4: &str = "switch-v4-rowid-keys";
const ROWID_TABLES: [&str; 4] = ["switch_exchanges", "switch_messages", "switch_advices", SAF_TABLE];

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
    db.migrate(MIGRATION_V3, DDL_V3)?;
    db.migrate_rowid_keys(MIGRATION_V4, &ROWID_TABLES)?;
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

#[cfg(test)]
mod tests {
    use sqlstore::{Database, Tx};

    use super::*;

    fn run(db: &Database, statements: &[&str]) {
        db.transaction(|tx| {
            for statement in statements {
                tx.execute(statement, &[])?;
            }
            Ok(())
        })
        .unwrap();
    }

    /// Every row of `table` as text, in id order.
    fn dump(tx: &mut Tx<'_>, table: &str, columns: usize) -> sqlstore::Result<Vec<String>> {
        let rows = tx.query(&format!("SELECT * FROM {table} ORDER BY id"), &[])?;
        Ok(rows
            .iter()
            .map(|row| (0..columns).map(|i| format!("{:?}|{:?}|", row.opt_text(i), row.opt_i64(i))).collect())
            .collect())
    }

    fn text_of(tx: &mut Tx<'_>, sql: &str) -> Vec<String> {
        tx.query(sql, &[]).unwrap().iter().map(|row| row.text(0).unwrap()).collect()
    }

    /// A journal written before issue 14's rowid keys and index changes: the DDL of `switch-v1`
    /// and `switch-v2` as SQLite ran it then (`BIGINT PRIMARY KEY`, a second B-tree per table).
    #[test]
    fn an_older_sqlite_journal_is_migrated_with_every_row() {
        let path = std::env::temp_dir().join(format!("cardnet-switch-v4-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let db = Database::open_sqlite(&path).unwrap();
        let queue_ddl = advice_queue().unwrap().ddl();
        run(&db, DDL_V1);
        run(&db, &queue_ddl.iter().map(String::as_str).collect::<Vec<_>>());
        run(&db, crate::linkkeys::DDL);
        run(&db, DDL_V2);
        run(&db, &["CREATE TABLE sqlstore_migrations (name TEXT PRIMARY KEY)"]);
        for name in [MIGRATION_V1, crate::linkkeys::MIGRATION, MIGRATION_V2] {
            db.transaction(|tx| tx.execute("INSERT INTO sqlstore_migrations (name) VALUES ($1)", &[name.into()]))
                .unwrap();
        }
        db.transaction(|tx| {
            for id in 1..=300i64 {
                tx.execute(
                    "INSERT INTO switch_exchanges (id, acquirer, acq_mti, acq_class, acq_stan, acq_time, kind, status, \
                     stip, settlement_date, received_ms, business_date, original_id, issuer, iss_stan) \
                     VALUES ($1, '00000000001', '0200', '02', $2, '1204120000', 'purchase', 'answered', 0, '1204', \
                     $1, '2026-12-04', $3, '00000000002', $2)",
                    &[id.into(), format!("{id:06}").into(), (id % 5 == 0).then_some(id - 1).into()],
                )?;
                for leg in 0..4i64 {
                    tx.execute(
                        "INSERT INTO switch_messages (id, exchange_id, advice_id, at_ms, direction, leg, link, mti) \
                         VALUES ($1, $2, $3, $2, 'in', 'acquirer', 'A', '0200')",
                        &[(id * 4 + leg).into(), id.into(), (leg == 3).then_some(id).into()],
                    )?;
                }
                tx.execute(
                    "INSERT INTO switch_advices (id, exchange_id, issuer, purpose, mti, iss_stan, iss_time, queued_ms) \
                     VALUES ($1, $1, 'ISS', 'stand_in', '0220', '000001', '1204120000', $1)",
                    &[id.into()],
                )?;
            }
            Ok(())
        })
        .unwrap();
        let tables = [("switch_exchanges", 33), ("switch_messages", 21), ("switch_advices", 10)];
        let before: Vec<_> =
            db.transaction(|tx| tables.iter().map(|(table, columns)| dump(tx, table, *columns)).collect()).unwrap();

        migrate(&db, None).unwrap();
        migrate(&db, None).unwrap();

        db.transaction(|tx| {
            let after: Vec<_> =
                tables.iter().map(|(table, columns)| dump(tx, table, *columns)).collect::<sqlstore::Result<_>>()?;
            assert_eq!(after, before, "every row and column kept");
            for table in ROWID_TABLES {
                let sql = text_of(tx, &format!("SELECT sql FROM sqlite_master WHERE name = '{table}'"));
                assert!(sql[0].contains("id INTEGER PRIMARY KEY"), "{table}: {}", sql[0]);
            }
            let indexes = text_of(
                tx,
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN \
                 ('switch_exchanges', 'switch_messages', 'switch_advices') ORDER BY name",
            );
            assert_eq!(
                indexes,
                [
                    "switch_advices_exchange",
                    "switch_exchanges_acquirer_key",
                    "switch_exchanges_business",
                    "switch_exchanges_original",
                    "switch_messages_exchange"
                ]
            );
            // The journal reads back through its own queries.
            let exchange = crate::journal::get_exchange(tx, 10)?.unwrap();
            assert_eq!((exchange.original_id, exchange.received_ms), (Some(9), 10));
            Ok(())
        })
        .unwrap();
        drop(db);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
