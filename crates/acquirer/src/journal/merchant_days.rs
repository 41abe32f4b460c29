//! The merchant's day in one row: the approved, unreversed debits (the kinds that take money)
//! each merchant received per UTC day, kept by triggers on `acquirer_transactions` so the risk
//! hook reads one row per purchase instead of summing the merchant's day so far.
//!
//! Why triggers: the totals must equal `SUM`/`COUNT` over the journal whatever statement moves
//! a row in or out (an answer, a reversal, a timeout, a future path), and must roll back with
//! the decision that moved it (when a batch undoes one decision). A trigger is in the same transaction as the
//! row's change by construction. Before (migration `acquirer-v6`), the sum read a partial index
//! entry per approval of the merchant's day: a third of the acquirer's core thread at 1,500/s
//! with ten merchants after ten seconds, and growing with the day.
//!
//! A row counts while `status = 'approved' AND reversed = 0` and its kind takes money; its day
//! is `received_ms` rounded down to the UTC day, as the hook's `day_start_ms` is.

use sqlstore::{BackendKind, Tx};

use crate::store::int;

/// The kinds that count (see `merchant_day_kinds!`), the condition on one row version.
macro_rules! counts {
    ($row:literal) => {
        concat!($row, ".status = 'approved' AND ", $row, ".reversed = 0 AND ", $row, ".kind IN ", merchant_day_kinds!())
    };
}

/// The same condition for SQLite's triggers, the kinds compared one by one: SQLite evaluates
/// `kind IN (four constants)` by building a temporary index of the list each time the
/// statement runs, so every answer's `UPDATE` paid for two of them (one per trigger) — a
/// third of that statement's work. A list of equalities is plain comparisons. A test keeps the
/// kinds equal to `merchant_day_kinds!`.
macro_rules! counts_each {
    ($row:literal) => {
        concat!(
            $row,
            ".status = 'approved' AND ",
            $row,
            ".reversed = 0 AND (",
            $row,
            ".kind = 'purchase' OR ",
            $row,
            ".kind = 'pre-auth' OR ",
            $row,
            ".kind = 'completion' OR ",
            $row,
            ".kind = 'completion-advice')"
        )
    };
}

/// UTC day of a row version.
macro_rules! day_of {
    ($row:literal) => {
        concat!($row, ".received_ms - ", $row, ".received_ms % 86400000")
    };
}

pub(crate) const MIGRATION_V8: &str = "acquirer-v8-merchant-day-totals";

const TABLE: &[&str] = &[
    "CREATE TABLE acquirer_merchant_days (
        merchant_id TEXT NOT NULL,
        day_ms BIGINT NOT NULL,
        amount_minor BIGINT NOT NULL,
        count BIGINT NOT NULL,
        PRIMARY KEY (merchant_id, day_ms)
    )",
    concat!(
        "INSERT INTO acquirer_merchant_days (merchant_id, day_ms, amount_minor, count) \
         SELECT merchant_id, received_ms - received_ms % 86400000, SUM(amount_minor), COUNT(*) \
         FROM acquirer_transactions t WHERE ",
        counts!("t"),
        " GROUP BY merchant_id, received_ms - received_ms % 86400000"
    ),
    // The partial index the sum read: every approval and reversal no longer writes it.
    "DROP INDEX acquirer_transactions_merchant_day",
];

/// Add a row version's amount (the upsert both dialects share).
macro_rules! add {
    ($row:literal) => {
        concat!(
            "INSERT INTO acquirer_merchant_days (merchant_id, day_ms, amount_minor, count) VALUES (",
            $row,
            ".merchant_id, ",
            day_of!($row),
            ", ",
            $row,
            ".amount_minor, 1) ON CONFLICT (merchant_id, day_ms) DO UPDATE SET \
             amount_minor = acquirer_merchant_days.amount_minor + excluded.amount_minor, \
             count = acquirer_merchant_days.count + 1"
        )
    };
}

/// Take a row version's amount out.
macro_rules! subtract {
    ($row:literal) => {
        concat!(
            "UPDATE acquirer_merchant_days SET amount_minor = amount_minor - ",
            $row,
            ".amount_minor, count = count - 1 WHERE merchant_id = ",
            $row,
            ".merchant_id AND day_ms = ",
            day_of!($row)
        )
    };
}

/// The columns whose change can move a row in or out of a total (both dialects' `UPDATE OF`).
#[cfg(test)]
const WATCHED: &str = "status, reversed, kind, amount_minor, merchant_id, received_ms";

/// SQLite's three triggers with the row condition `$counts` (`counts!` or `counts_each!`).
macro_rules! sqlite_triggers {
    ($counts:ident) => {
        [
            concat!(
                "CREATE TRIGGER acquirer_merchant_days_insert AFTER INSERT ON acquirer_transactions WHEN ",
                $counts!("NEW"),
                " BEGIN ",
                add!("NEW"),
                "; END"
            ),
            concat!(
                "CREATE TRIGGER acquirer_merchant_days_out AFTER UPDATE OF status, reversed, kind, amount_minor, \
                 merchant_id, received_ms ON acquirer_transactions WHEN ",
                $counts!("OLD"),
                " BEGIN ",
                subtract!("OLD"),
                "; END"
            ),
            concat!(
                "CREATE TRIGGER acquirer_merchant_days_in AFTER UPDATE OF status, reversed, kind, amount_minor, \
                 merchant_id, received_ms ON acquirer_transactions WHEN ",
                $counts!("NEW"),
                " BEGIN ",
                add!("NEW"),
                "; END"
            ),
        ]
    };
}

/// The triggers as migration `acquirer-v8` made them (kept as they were: a migration's text
/// does not change once it has run somewhere).
const SQLITE_TRIGGERS: [&str; 3] = sqlite_triggers!(counts);

/// Migration `acquirer-v12`: SQLite's triggers again, with [`counts_each!`]'s condition.
pub(crate) const MIGRATION_V12: &str = "acquirer-v12-merchant-day-triggers-compare";
const SQLITE_TRIGGERS_V12: [&str; 3] = sqlite_triggers!(counts_each);
const SQLITE_V12: [&str; 6] = [
    "DROP TRIGGER acquirer_merchant_days_insert",
    "DROP TRIGGER acquirer_merchant_days_out",
    "DROP TRIGGER acquirer_merchant_days_in",
    SQLITE_TRIGGERS_V12[0],
    SQLITE_TRIGGERS_V12[1],
    SQLITE_TRIGGERS_V12[2],
];

const POSTGRES_TRIGGERS: &[&str] = &[
    concat!(
        "CREATE FUNCTION acquirer_merchant_days_apply() RETURNS trigger LANGUAGE plpgsql AS $totals$ BEGIN \
         IF TG_OP = 'UPDATE' AND ",
        counts!("OLD"),
        " THEN ",
        subtract!("OLD"),
        "; END IF; IF ",
        counts!("NEW"),
        " THEN ",
        add!("NEW"),
        "; END IF; RETURN NULL; END $totals$"
    ),
    "CREATE TRIGGER acquirer_merchant_days_insert AFTER INSERT ON acquirer_transactions \
     FOR EACH ROW EXECUTE FUNCTION acquirer_merchant_days_apply()",
];

/// The `UPDATE OF` list of the PostgreSQL trigger (kept equal to [`WATCHED`] by a test).
const POSTGRES_UPDATE_TRIGGER: &str = "CREATE TRIGGER acquirer_merchant_days_update AFTER UPDATE OF status, reversed, \
     kind, amount_minor, merchant_id, received_ms ON acquirer_transactions \
     FOR EACH ROW EXECUTE FUNCTION acquirer_merchant_days_apply()";

/// Migration `acquirer-v8` in `kind`'s dialect: the table, filled from the journal, the
/// triggers, and the old partial index dropped.
pub(crate) fn ddl(kind: BackendKind) -> Vec<&'static str> {
    let mut statements = TABLE.to_vec();
    match kind {
        BackendKind::Sqlite => statements.extend_from_slice(&SQLITE_TRIGGERS),
        BackendKind::Postgres => {
            statements.extend_from_slice(POSTGRES_TRIGGERS);
            statements.push(POSTGRES_UPDATE_TRIGGER);
        }
    }
    statements
}

/// Migration `acquirer-v12` in `kind`'s dialect: SQLite's triggers replaced; nothing on
/// PostgreSQL, whose trigger function compares without building anything.
pub(crate) fn ddl_v12(kind: BackendKind) -> &'static [&'static str] {
    match kind {
        BackendKind::Sqlite => &SQLITE_V12,
        BackendKind::Postgres => &[],
    }
}

/// The merchant's approved, unreversed debits received on the UTC day starting at
/// `day_start_ms`: (amount, count).
pub(crate) fn merchant_day(tx: &mut Tx<'_>, merchant_id: &str, day_start_ms: u64) -> sqlstore::Result<(u64, u64)> {
    debug_assert_eq!(day_start_ms % 86_400_000, 0, "a day starts at midnight UTC");
    let row = tx.query_opt(
        "SELECT amount_minor, count FROM acquirer_merchant_days WHERE merchant_id = $1 AND day_ms = $2",
        &[merchant_id.into(), int(day_start_ms)?],
    )?;
    match row {
        Some(row) => Ok((row.u64(0)?, row.u64(1)?)),
        None => Ok((0, 0)),
    }
}

/// The same totals summed from the journal: what the table must always equal.
#[cfg(test)]
fn merchant_day_summed(tx: &mut Tx<'_>, merchant_id: &str, day_start_ms: u64) -> sqlstore::Result<(u64, u64)> {
    let row = tx.query_opt(
        concat!(
            "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT), COUNT(*) FROM acquirer_transactions t \
             WHERE t.merchant_id = $1 AND t.received_ms >= $2 AND t.received_ms < $3 AND ",
            counts!("t")
        ),
        &[merchant_id.into(), int(day_start_ms)?, int(day_start_ms + 86_400_000)?],
    )?;
    match row {
        Some(row) => Ok((row.u64(0)?, row.u64(1)?)),
        None => Ok((0, 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{NetworkAnswer, NewTransaction, insert_request, mark_reversed, set_answer, set_failed};
    use crate::kind::PosKind;

    #[test]
    fn both_dialects_watch_the_same_columns() {
        let list = format!("UPDATE OF {WATCHED} ON");
        for trigger in SQLITE_TRIGGERS[1..].iter().chain(&SQLITE_TRIGGERS_V12[1..]).chain([&POSTGRES_UPDATE_TRIGGER]) {
            assert!(squeeze(trigger).contains(&list), "{trigger}");
        }
    }

    #[test]
    fn the_merchant_day_counts_the_kinds_that_take_money() {
        let names: Vec<String> = crate::kind::PosKind::ALL
            .into_iter()
            .filter(|k| k.takes_money())
            .map(|k| format!("'{}'", k.name()))
            .collect();
        assert_eq!(merchant_day_kinds!(), format!("({})", names.join(", ")));
        let compared: Vec<String> = names.iter().map(|name| format!("NEW.kind = {name}")).collect();
        assert!(counts_each!("NEW").ends_with(&format!("({})", compared.join(" OR "))), "{}", counts_each!("NEW"));
    }

    #[test]
    fn sqlites_triggers_build_no_temporary_index() {
        let db = sqlstore::Database::open("sqlite::memory:").unwrap();
        crate::store::migrate(&db).unwrap();
        db.transaction(|tx| {
            let rows = tx.query(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'acquirer_transactions'",
                &[],
            )?;
            assert_eq!(rows.len(), 3);
            for row in rows {
                let sql = row.text(0)?;
                assert!(!sql.contains(" IN ("), "{sql}");
                assert!(sql.contains(".kind = 'completion-advice')"), "{sql}");
            }
            Ok(())
        })
        .unwrap();
    }

    fn squeeze(text: &str) -> String {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    const DAY_MS: u64 = 20_000 * 86_400_000;

    fn insert(tx: &mut Tx<'_>, merchant: &str, kind: PosKind, amount: u64, status: &str, received_ms: u64) -> u64 {
        // Each row its own trace: received times differ in the last six digits.
        let trace = format!("{:06}", received_ms % 1_000_000);
        let new = NewTransaction {
            terminal_id: "T0000001",
            merchant_id: merchant,
            batch_no: 1,
            trace: &trace,
            terminal_mti: iso8583::Mti::parse("0200").unwrap(),
            kind,
            processing_code: None,
            amount_minor: amount,
            currency: "156",
            pan_masked: None,
            card_org: "CUP".into(),
            rrn: None,
            response_code: None,
            status,
            network: None,
            original_id: None,
            received_ms,
            answered_ms: None,
            card_kind: None,
            network_payload: None,
            risk_card: None,
        };
        insert_request(tx, &new).unwrap()
    }

    fn answer(tx: &mut Tx<'_>, id: u64, approved: bool) {
        let code = if approved { "00" } else { "51" };
        let answer =
            NetworkAnswer { approved, response_code: code, auth_code: None, settlement_date: None, issuer_id: None };
        set_answer(tx, id, &answer, DAY_MS + 1).unwrap();
    }

    /// Every transition that moves a row in or out of a total, each followed by the check
    /// that the kept totals equal the journal's sums for every merchant and day touched.
    fn totals_follow_the_journal(db: &sqlstore::Database) {
        crate::store::migrate(db).unwrap();
        let check = |tx: &mut Tx<'_>, step: &str| {
            for merchant in ["M1", "M2"] {
                for day in [DAY_MS, DAY_MS + 86_400_000] {
                    let kept = merchant_day(tx, merchant, day).unwrap();
                    let summed = merchant_day_summed(tx, merchant, day).unwrap();
                    assert_eq!(kept, summed, "{step}: {merchant} on day {day}");
                }
            }
        };
        db.transaction(|tx| {
            let a = insert(tx, "M1", PosKind::Purchase, 1_000, "pending", DAY_MS + 5);
            check(tx, "a pending purchase counts nothing");
            answer(tx, a, true);
            check(tx, "approved");
            assert_eq!(merchant_day(tx, "M1", DAY_MS)?, (1_000, 1));
            let b = insert(tx, "M1", PosKind::PreAuth, 500, "pending", DAY_MS + 6);
            answer(tx, b, false);
            check(tx, "a decline");
            let c = insert(tx, "M1", PosKind::Purchase, 250, "pending", DAY_MS + 7);
            mark_reversed(tx, c)?;
            answer(tx, c, true);
            check(tx, "reversed before its approval came");
            assert_eq!(merchant_day(tx, "M1", DAY_MS)?, (1_000, 1));
            mark_reversed(tx, a)?;
            check(tx, "an approval reversed");
            mark_reversed(tx, a)?;
            check(tx, "reversed twice");
            assert_eq!(merchant_day(tx, "M1", DAY_MS)?, (0, 0));
            let d = insert(tx, "M2", PosKind::CompletionRequest, 700, "pending", DAY_MS + 86_400_000);
            answer(tx, d, true);
            let e = insert(tx, "M2", PosKind::Refund, 300, "pending", DAY_MS + 86_400_001);
            answer(tx, e, true);
            check(tx, "a refund takes no money, the next day has its own row");
            assert_eq!(merchant_day(tx, "M2", DAY_MS + 86_400_000)?, (700, 1));
            let f = insert(tx, "M2", PosKind::Purchase, 900, "pending", DAY_MS + 86_400_002);
            set_failed(tx, f, "98", true, DAY_MS + 86_400_003)?;
            check(tx, "a timeout");
            let g = insert(tx, "M2", PosKind::CompletionAdvice, 40, "approved", DAY_MS + 86_400_004);
            check(tx, "inserted approved");
            mark_reversed(tx, g)?;
            check(tx, "its reversal");
            Ok(())
        })
        .unwrap();
        // A decision the batch undoes takes its change to the totals with it.
        let before = db.transaction(|tx| merchant_day(tx, "M1", DAY_MS)).unwrap();
        let batch = db.batch(|| {
            let _ = db.transaction(|tx| {
                insert(tx, "M1", PosKind::Purchase, 77, "approved", DAY_MS + 9);
                assert_eq!(merchant_day(tx, "M1", DAY_MS)?.0, before.0 + 77);
                Err::<(), _>(sqlstore::Error::new("test", "roll this decision back"))
            });
        });
        batch.unwrap();
        assert_eq!(db.transaction(|tx| merchant_day(tx, "M1", DAY_MS)).unwrap(), before);
    }

    /// A database at `acquirer-v7` (the partial index, no totals) with approvals in it: the
    /// migration fills the totals from the journal.
    #[test]
    fn v7_fills_the_totals_from_the_journal() {
        let db = sqlstore::Database::open("sqlite::memory:").unwrap();
        crate::store::migrate(&db).unwrap();
        db.transaction(|tx| {
            for trigger in ["insert", "out", "in"] {
                tx.execute(&format!("DROP TRIGGER acquirer_merchant_days_{trigger}"), &[])?;
            }
            tx.execute("DROP TABLE acquirer_merchant_days", &[])?;
            tx.execute(crate::store::DDL_V6[0], &[])?;
            tx.execute("DELETE FROM sqlstore_migrations WHERE name = $1", &[MIGRATION_V8.into()])?;
            let a = insert(tx, "M1", PosKind::Purchase, 1_000, "pending", DAY_MS + 5);
            answer(tx, a, true);
            insert(tx, "M1", PosKind::PreAuth, 300, "approved", DAY_MS + 6);
            let c = insert(tx, "M1", PosKind::Purchase, 50, "approved", DAY_MS + 7);
            mark_reversed(tx, c)?;
            insert(tx, "M2", PosKind::Refund, 80, "approved", DAY_MS + 8);
            Ok(())
        })
        .unwrap();
        crate::store::migrate(&db).unwrap();
        db.transaction(|tx| {
            assert_eq!(merchant_day(tx, "M1", DAY_MS)?, (1_300, 2));
            assert_eq!(merchant_day(tx, "M2", DAY_MS)?, (0, 0));
            insert(tx, "M1", PosKind::Purchase, 1, "approved", DAY_MS + 9);
            assert_eq!(merchant_day(tx, "M1", DAY_MS)?, (1_301, 3), "the triggers are back");
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn totals_follow_the_journal_sqlite() {
        totals_follow_the_journal(&sqlstore::Database::open("sqlite::memory:").unwrap());
    }

    #[test]
    fn totals_follow_the_journal_postgres() {
        let Ok(url) = std::env::var("CARDNET_TEST_PG") else {
            eprintln!("SKIPPED: CARDNET_TEST_PG not set; the merchant-day triggers not tested on PostgreSQL");
            return;
        };
        let schema = format!("acquirer_merchant_days_{}", std::process::id());
        let _ = sqlstore::drop_postgres_schema(&url, &schema);
        totals_follow_the_journal(&sqlstore::Database::connect_postgres(&url, &schema).unwrap());
        let _ = sqlstore::drop_postgres_schema(&url, &schema);
    }
}
