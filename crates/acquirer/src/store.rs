//! The acquirer's database: schema and id sequences. Everything runs inside `sqlstore`
//! transactions, so one decision (transaction row, messages, a queued reversal) commits together
//! or not at all. Network reversals wait in the network's one store-and-forward queue,
//! `saf::SqlQueue`, in table `acquirer_saf` ([`reversal_queue`]). Tables are prefixed
//! `acquirer_`; the merchants registry keeps `merchants_*` in the same database.

use saf::{IdSequence, SqlQueue};
use sqlstore::{Database, Tx, Value};

pub(crate) const SEQ_TRANSACTION: &str = "transaction";
pub(crate) const SEQ_MESSAGE: &str = "message";
/// Field 11 toward the switch; taken modulo [`crate::limits::STAN_MAX`].
pub(crate) const SEQ_STAN: &str = "stan";
/// Ids of the reversal queue's entries (and of their `acquirer_reversals` rows).
pub(crate) const SEQ_REVERSAL: &str = "reversal";
pub(crate) const SEQ_TERMINAL_REVERSAL: &str = "terminal_reversal";
pub(crate) const SEQ_SETTLEMENT: &str = "settlement";
pub(crate) const SEQ_UPLOAD: &str = "upload";
pub(crate) const SEQ_DIFFERENCE: &str = "difference";
pub(crate) const SEQ_SETTLEMENT_RUN: &str = "settlement_run";
pub(crate) const SEQ_PAYOUT: &str = "payout";
pub(crate) const SEQ_NOTICE: &str = "notice";

const SEQUENCE_TABLE: &str = "acquirer_sequences";

/// The sequences the core takes ids of on every purchase, and how many a decision takes of each
/// at most (a request logs the terminal's message and the network's; an answer two more).
const HOT_SEQUENCES: [&str; 3] = [SEQ_TRANSACTION, SEQ_MESSAGE, SEQ_STAN];
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
        tracing::warn!(%error, "acquirer: a block of ids not reserved; those ids come from the row");
    }
}

/// The reversal queue's table.
const SAF_TABLE: &str = "acquirer_saf";

/// The queue's destination of every network reversal: the acquirer has one switch.
pub(crate) const SWITCH_DESTINATION: &str = "switch";

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

/// Network reversals move from the acquirer's hand-written queue (`acquirer_reversal_queue`) to
/// the network's one store-and-forward queue (`acquirer_saf`, `saf::SqlQueue`), and what each
/// reversal is (its transaction, its 11 and 7, the switch's answer) to `acquirer_reversals`,
/// under the same id. The old table's rows are copied — pending ones with their attempts and
/// next attempt time, so a reversal owed before the upgrade is still delivered, and delivered
/// ones so reconciliation still finds them — and the table is dropped in the same migration
/// (one transaction): nothing reads it after, and a copy left behind would be a second truth.
/// Ids still come from the `reversal` sequence, so new entries follow the copied ones.
const MIGRATION_V5: &str = "acquirer-v5-saf";

const DDL_V5_REVERSALS: &[&str] = &[
    "CREATE TABLE acquirer_reversals (
        id BIGINT PRIMARY KEY,
        transaction_id BIGINT NOT NULL,
        net_stan TEXT,
        net_time TEXT,
        queued_ms BIGINT NOT NULL,
        response_code TEXT,
        answered_ms BIGINT
    )",
    "CREATE INDEX acquirer_reversals_transaction ON acquirer_reversals (transaction_id)",
    "INSERT INTO acquirer_reversals (id, transaction_id, net_stan, net_time, queued_ms, response_code, answered_ms) \
     SELECT id, transaction_id, net_stan, net_time, created_ms, response_code, answered_ms FROM acquirer_reversal_queue",
];

/// The old queue's rows into the new one (states 0/1/2 are saf's Pending/Done/Dead; no expiry),
/// then the old table gone.
fn ddl_v5_move() -> [String; 2] {
    [
        format!(
            "INSERT INTO {SAF_TABLE} (id, entry_key, destination, payload, expires_at_ms, created_ms, attempts, \
             next_attempt_ms, state) SELECT id, entry_key, '{SWITCH_DESTINATION}', payload, NULL, created_ms, attempts, \
             next_attempt_ms, state FROM acquirer_reversal_queue"
        ),
        "DROP TABLE acquirer_reversal_queue".to_owned(),
    ]
}

/// The merchant's approved debits of the day, as the risk hook once summed them: a partial
/// index of exactly the rows that count. Dropped by `acquirer-v8` (`journal::merchant_days`),
/// which keeps the totals in one row per merchant and day.
const MIGRATION_V6: &str = "acquirer-v6-merchant-day";
pub(crate) const DDL_V6: &[&str] = &["CREATE INDEX acquirer_transactions_merchant_day ON acquirer_transactions \
     (merchant_id, received_ms, amount_minor, status, reversed, kind) WHERE status = 'approved' AND reversed = 0 AND kind IN ('purchase', 'pre-auth', 'completion', 'completion-advice')"];

/// The network reversals' queue (`acquirer_saf`, ids from the `reversal` sequence).
pub(crate) fn reversal_queue() -> sqlstore::Result<SqlQueue> {
    SqlQueue::new(SAF_TABLE, IdSequence { table: SEQUENCE_TABLE, name: SEQ_REVERSAL })
        .map_err(|error| sqlstore::Error::new("reversal queue", error.to_string()))
}

/// The tables every purchase writes, keyed by SQLite's rowid in a database made before
/// `sqlstore` wrote `BIGINT PRIMARY KEY` so (`Database::migrate_rowid_keys`: one B-tree per table
/// instead of two; nothing on PostgreSQL). Takes as long as copying them, once.
const MIGRATION_V7: &str = "acquirer-v7-rowid-keys";
const ROWID_TABLES: [&str; 4] = ["acquirer_transactions", "acquirer_messages", "acquirer_reversals", SAF_TABLE];

/// The risk engine's key of each transaction's card (its keyed hash; never the number), so the
/// engine's windows are rebuilt from the journal when the host starts (crate::risk_engine).
const MIGRATION_V9: &str = "acquirer-v9-risk-card";
const DDL_V9: &[&str] = &["ALTER TABLE acquirer_transactions ADD COLUMN risk_card BIGINT"];

/// The index of follow-ups by original holds only the rows that have an original (voids,
/// refunds, completions): a purchase — most of the journal — no longer adds an entry when it is
/// journaled and moves it when its answer changes its status. `original_id = $1` implies `IS NOT
/// NULL`, so the lookup of an original's follow-ups still uses it (SQLite and PostgreSQL alike).
const MIGRATION_V10: &str = "acquirer-v10-original-partial";
const DDL_V10: &[&str] = &[
    "DROP INDEX acquirer_transactions_original",
    "CREATE INDEX acquirer_transactions_original ON acquirer_transactions (original_id, status) \
     WHERE original_id IS NOT NULL",
];

/// Create the schema if it is not there yet (idempotent).
/// The journal's indexes by merchant keyed so that a new row lands at their right edge: the
/// time index is by time alone and the RRN index by RRN alone (`YDDDhh` + STAN, rising). Keyed
/// by merchant first, every commit touched one page of each index per merchant it served (30 of
/// the 84 pages a batch's commit wrote at 4,000 authorizations/s); now it touches one. Lookups
/// by RRN name the merchant too and find it among the few rows of one RRN; reports read time
/// ranges, which the old index could not serve without a merchant.
const MIGRATION_V11: &str = "acquirer-v11-rising-indexes";
const DDL_V11: &[&str] = &[
    "DROP INDEX acquirer_transactions_merchant",
    "CREATE INDEX acquirer_transactions_received ON acquirer_transactions (received_ms)",
    "DROP INDEX acquirer_transactions_rrn",
    "CREATE INDEX acquirer_transactions_rrn ON acquirer_transactions (rrn)",
];

/// The index by settlement date and status (`acquirer-v3`) served no query: the merchant run
/// reads by time (`acquirer_transactions_received`), reconciliation scans by id. It cost every
/// authorization an entry written at its request (no date yet) and moved at its answer — about
/// one and a half of the ten pages a commit wrote at 1,500/s (WAL frames by B-tree).
const MIGRATION_V13: &str = "acquirer-v13-no-settlement-index";
const DDL_V13: &[&str] = &["DROP INDEX acquirer_transactions_settlement"];

pub(crate) fn migrate(db: &Database) -> sqlstore::Result<()> {
    db.migrate(MIGRATION_V1, DDL_V1)?;
    db.migrate(MIGRATION_V2, DDL_V2)?;
    db.migrate(crate::merchant_store::MIGRATION_V3, crate::merchant_store::DDL_V3)?;
    db.migrate(MIGRATION_V4, DDL_V4)?;
    let queue_ddl = reversal_queue()?.ddl();
    let [copy, drop] = ddl_v5_move();
    let mut v5: Vec<&str> = queue_ddl.iter().map(String::as_str).collect();
    v5.extend_from_slice(DDL_V5_REVERSALS);
    v5.extend([copy.as_str(), drop.as_str()]);
    db.migrate(MIGRATION_V5, &v5)?;
    db.migrate(MIGRATION_V6, DDL_V6)?;
    db.migrate_rowid_keys(MIGRATION_V7, &ROWID_TABLES)?;
    db.migrate(crate::journal::MIGRATION_V8, &crate::journal::merchant_days_ddl(db.kind()))?;
    db.migrate(MIGRATION_V9, DDL_V9)?;
    db.migrate(MIGRATION_V10, DDL_V10)?;
    db.migrate(MIGRATION_V11, DDL_V11)?;
    db.migrate(crate::journal::MIGRATION_V12, crate::journal::merchant_days_ddl_v12(db.kind()))?;
    db.migrate(MIGRATION_V13, DDL_V13)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A database at `acquirer-v4` with one pending and one delivered reversal in the old
    /// queue, migrated: both are in the saf queue and `acquirer_reversals` under their ids, the
    /// pending one due as it was, the old table gone, and new entries take later ids.
    fn moves_the_old_queue(db: &Database) {
        db.migrate(MIGRATION_V1, DDL_V1).unwrap();
        db.migrate(MIGRATION_V2, DDL_V2).unwrap();
        db.migrate(crate::merchant_store::MIGRATION_V3, crate::merchant_store::DDL_V3).unwrap();
        db.migrate(MIGRATION_V4, DDL_V4).unwrap();
        db.transaction(|tx| {
            sqlstore::sequence::ensure(tx, SEQUENCE_TABLE, &SEQUENCES)?;
            for (transaction_id, state, attempts, code) in [(7u64, 0i64, 2u32, None), (8, 1, 0, Some("00"))] {
                let id = next_id(tx, SEQ_REVERSAL)?;
                tx.execute(
                    "INSERT INTO acquirer_reversal_queue (id, entry_key, transaction_id, payload, created_ms, \
                     attempts, next_attempt_ms, state, response_code, answered_ms, net_stan, net_time) \
                     VALUES ($1, $2, $3, $4, 1000, $5, 5000, $6, $7, NULL, '000123', '1204165000')",
                    &[
                        int(id)?,
                        format!("reversal:{transaction_id}").into(),
                        int(transaction_id)?,
                        vec![1u8, 2, 3].into(),
                        attempts.into(),
                        state.into(),
                        code.into(),
                    ],
                )?;
            }
            Ok(())
        })
        .unwrap();

        migrate(db).unwrap();
        migrate(db).expect("again: nothing to do");
        let queue = reversal_queue().unwrap();
        let config = saf::SafConfig::default();
        db.transaction(|tx| {
            assert!(queue.head_of_line(tx, SWITCH_DESTINATION, 4_999, 10).unwrap().is_empty(), "backoff kept");
            let due = queue.head_of_line(tx, SWITCH_DESTINATION, 5_000, 10).unwrap();
            assert_eq!(due.len(), 1, "the pending one only");
            assert_eq!((due[0].id.0, due[0].attempts, due[0].payload.as_slice()), (1, 2, &[1u8, 2, 3][..]));
            assert_eq!((due[0].key.as_str(), due[0].created_ms, due[0].expires_at_ms), ("reversal:7", 1000, None));
            let counts = queue.counts(tx, None).unwrap();
            assert_eq!((counts.pending, counts.done, counts.dead), (1, 1, 0));
            let rows = tx.query(
                "SELECT id, transaction_id, net_stan, net_time, queued_ms, response_code FROM acquirer_reversals \
                 ORDER BY id",
                &[],
            )?;
            let read = |i: usize| (rows[i].u64(0).unwrap(), rows[i].u64(1).unwrap(), rows[i].opt_text(5).unwrap());
            assert_eq!((read(0), read(1)), ((1, 7, None), (2, 8, Some("00".to_owned()))));
            assert_eq!(
                (rows[0].text(2)?, rows[0].text(3)?, rows[0].u64(4)?),
                ("000123".into(), "1204165000".into(), 1000)
            );
            // The old key still dedupes; a new entry follows the moved ids.
            let again = saf::NewEntry {
                key: "reversal:8".into(),
                destination: SWITCH_DESTINATION.into(),
                payload: vec![9],
                expires_at_ms: None,
            };
            assert_eq!(queue.enqueue(tx, &config, &again, 6_000).unwrap(), (saf::EntryId(2), false));
            let new = saf::NewEntry { key: "reversal:9".into(), ..again };
            assert_eq!(queue.enqueue(tx, &config, &new, 6_000).unwrap(), (saf::EntryId(3), true));
            Ok(())
        })
        .unwrap();
        // Last, in a transaction of its own: a failed statement ends a PostgreSQL transaction.
        let old = db.transaction(|tx| tx.query("SELECT id FROM acquirer_reversal_queue", &[]));
        assert!(old.is_err(), "the old table is gone");
    }

    #[test]
    fn v5_moves_the_old_reversal_queue_into_saf_sqlite() {
        moves_the_old_queue(&Database::open("sqlite::memory:").unwrap());
    }

    #[test]
    fn v5_moves_the_old_reversal_queue_into_saf_postgres() {
        let Ok(url) = std::env::var("CARDNET_TEST_PG") else {
            eprintln!("SKIPPED: CARDNET_TEST_PG not set; acquirer-v5-saf not tested on PostgreSQL");
            return;
        };
        let schema = format!("acquirer_v5_saf_{}", std::process::id());
        let _ = sqlstore::drop_postgres_schema(&url, &schema);
        moves_the_old_queue(&Database::connect_postgres(&url, &schema).unwrap());
        let _ = sqlstore::drop_postgres_schema(&url, &schema);
    }

    /// The plan's steps (SQLite's `EXPLAIN QUERY PLAN` detail column) of `sql`.
    fn plan(db: &Database, sql: &str, params: &[Value]) -> Vec<String> {
        db.transaction(|tx| {
            let rows = tx.query(&format!("EXPLAIN QUERY PLAN {sql}"), params)?;
            rows.iter().map(|row| row.text(3)).collect::<sqlstore::Result<Vec<_>>>()
        })
        .unwrap()
    }

    #[test]
    fn lookups_by_rrn_and_time_use_the_rising_indexes() {
        let db = Database::open("sqlite::memory:").unwrap();
        migrate(&db).unwrap();
        let by_rrn = plan(
            &db,
            "SELECT id FROM acquirer_transactions WHERE merchant_id = $1 AND rrn = $2",
            &["898440153990011".into(), "533510000001".into()],
        );
        assert!(by_rrn.iter().any(|step| step.contains("acquirer_transactions_rrn (rrn=?)")), "{by_rrn:?}");
        let by_time = plan(
            &db,
            "SELECT id FROM acquirer_transactions WHERE received_ms >= $1 AND received_ms < $2",
            &[Value::Int(0), Value::Int(86_400_000)],
        );
        assert!(by_time.iter().any(|step| step.contains("acquirer_transactions_received")), "{by_time:?}");
    }

    #[test]
    fn a_purchase_has_no_entry_in_the_index_of_originals_and_the_lookup_still_uses_it() {
        let db = Database::open("sqlite::memory:").unwrap();
        migrate(&db).unwrap();
        let plan = db
            .transaction(|tx| {
                let rows = tx.query(
                    "EXPLAIN QUERY PLAN SELECT kind, amount_minor FROM acquirer_transactions WHERE original_id = $1 \
                     AND status = 'pending' AND reversed = 0",
                    &[Value::Int(7)],
                )?;
                rows.iter().map(|row| row.text(3)).collect::<sqlstore::Result<Vec<_>>>()
            })
            .unwrap();
        assert!(plan.iter().any(|step| step.contains("acquirer_transactions_original")), "{plan:?}");
        let partial = db
            .transaction(|tx| {
                tx.query("SELECT sql FROM sqlite_master WHERE name = 'acquirer_transactions_original'", &[])?[0].text(0)
            })
            .unwrap();
        assert!(partial.contains("WHERE original_id IS NOT NULL"), "{partial}");
    }

    /// Every index on the journal serves a lookup the host makes; an index nothing reads only
    /// adds pages to each authorization's commit (migration `acquirer-v13`).
    #[test]
    fn the_journal_keeps_only_the_indexes_its_lookups_use() {
        let db = Database::open("sqlite::memory:").unwrap();
        migrate(&db).unwrap();
        let names = db
            .transaction(|tx| {
                let rows = tx.query(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'acquirer_transactions' \
                     AND sql IS NOT NULL ORDER BY name",
                    &[],
                )?;
                rows.iter().map(|row| row.text(0)).collect::<sqlstore::Result<Vec<_>>>()
            })
            .unwrap();
        assert_eq!(
            names,
            [
                "acquirer_transactions_original",
                "acquirer_transactions_received",
                "acquirer_transactions_rrn",
                "acquirer_transactions_trace",
            ]
        );
    }
}
