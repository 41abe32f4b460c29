//! The registry's tables (prefixed `merchants_`; the POS host keeps its own `acquirer_` tables
//! in the same database) and how rows become records.
//!
//! Nothing secret is stored: TMKs only as key blocks under the LMK (and their KCVs), never a
//! component. Ids are assigned here (largest + 1 inside the writing transaction); two writers
//! racing for one id on PostgreSQL meet the primary key, and the operation runs again.

use hsm::WrappedKey;
use sqlstore::{Row, Tx, Value};

use crate::error::{MerchantError, Result};
use crate::fees::{DiscountRate, FeePlan};
use crate::types::{
    AccountChangeRecord, AccountHistoryEntry, Application, ApplicationRecord, ApplicationStatus, ChangeStatus, Check,
    CheckOutcome, MerchantLimits, MerchantRecord, MerchantStatus, Review, SettlementAccount, SettlementCycle, Subject,
    TerminalRecord, TerminalStatus, TrailEntry,
};

pub(crate) const MIGRATION: &str = "merchants-1";

/// Who may void: `void_any_terminal` (0 = only the terminal that took the original).
pub(crate) const MIGRATION_2: &str = "merchants-2";

pub(crate) const SCHEMA_2: [&str; 1] =
    ["ALTER TABLE merchants_merchants ADD COLUMN void_any_terminal BIGINT NOT NULL DEFAULT 0"];

/// A terminal's batch number and settlement-pending flag are the POS host's alone
/// (`acquirer_terminals`, written in the commit of the decision that changes them); the copies
/// the registry kept, synced after that commit, go, so nothing can read a stale one.
pub(crate) const MIGRATION_3: &str = "merchants-3-settlement-state";

pub(crate) const SCHEMA_3: [&str; 2] = [
    "ALTER TABLE merchants_terminals DROP COLUMN batch_no",
    "ALTER TABLE merchants_terminals DROP COLUMN settlement_pending",
];

pub(crate) const SCHEMA: [&str; 11] = [
    "CREATE TABLE merchants_applications (
        application_id BIGINT PRIMARY KEY,
        business_name TEXT NOT NULL,
        licence_no TEXT NOT NULL,
        legal_representative TEXT NOT NULL,
        mcc TEXT NOT NULL,
        city TEXT NOT NULL,
        country TEXT NOT NULL,
        bank_code TEXT NOT NULL,
        account_no TEXT NOT NULL,
        expected_volume_minor BIGINT NOT NULL,
        status TEXT NOT NULL,
        merchant_id TEXT,
        reviewer TEXT,
        review_approved BIGINT,
        review_reason TEXT,
        reviewed_ms BIGINT,
        created_ms BIGINT NOT NULL,
        updated_ms BIGINT NOT NULL
    )",
    "CREATE INDEX merchants_applications_licence ON merchants_applications (licence_no)",
    "CREATE INDEX merchants_applications_account ON merchants_applications (bank_code, account_no)",
    // Every automatic check of an application or account change, in the order run.
    "CREATE TABLE merchants_checks (
        subject TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        check_name TEXT NOT NULL,
        passed BIGINT NOT NULL,
        reason TEXT NOT NULL,
        at_ms BIGINT NOT NULL,
        PRIMARY KEY (subject, subject_id, seq)
    )",
    // The review trail: kept forever, never updated.
    "CREATE TABLE merchants_trail (
        subject TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        at_ms BIGINT NOT NULL,
        event TEXT NOT NULL,
        actor TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (subject, subject_id, seq)
    )",
    "CREATE TABLE merchants_merchants (
        merchant_id TEXT PRIMARY KEY,
        application_id BIGINT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        licence_no TEXT NOT NULL,
        legal_representative TEXT NOT NULL,
        mcc TEXT NOT NULL,
        city TEXT NOT NULL,
        country TEXT NOT NULL,
        bank_code TEXT NOT NULL,
        account_no TEXT NOT NULL,
        status TEXT NOT NULL,
        status_reason TEXT,
        mdr_debit_bp BIGINT NOT NULL,
        cap_debit_minor BIGINT,
        mdr_credit_bp BIGINT NOT NULL,
        cap_credit_minor BIGINT,
        settlement_cycle TEXT NOT NULL,
        single_max_minor BIGINT NOT NULL,
        daily_max_minor BIGINT NOT NULL,
        activated_ms BIGINT NOT NULL,
        updated_ms BIGINT NOT NULL
    )",
    "CREATE TABLE merchants_account_changes (
        change_id BIGINT PRIMARY KEY,
        merchant_id TEXT NOT NULL,
        old_bank_code TEXT NOT NULL,
        old_account_no TEXT NOT NULL,
        bank_code TEXT NOT NULL,
        account_no TEXT NOT NULL,
        status TEXT NOT NULL,
        reviewer TEXT,
        review_approved BIGINT,
        review_reason TEXT,
        reviewed_ms BIGINT,
        created_ms BIGINT NOT NULL,
        updated_ms BIGINT NOT NULL
    )",
    "CREATE INDEX merchants_account_changes_merchant ON merchants_account_changes (merchant_id)",
    // Every payout account a merchant has had (the first from its application).
    "CREATE TABLE merchants_account_history (
        merchant_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        bank_code TEXT NOT NULL,
        account_no TEXT NOT NULL,
        from_ms BIGINT NOT NULL,
        change_id BIGINT,
        PRIMARY KEY (merchant_id, seq)
    )",
    "CREATE TABLE merchants_terminals (
        terminal_id TEXT PRIMARY KEY,
        merchant_id TEXT NOT NULL,
        model TEXT,
        serial TEXT,
        status TEXT NOT NULL,
        tmk_block TEXT NOT NULL,
        tmk_kcv TEXT NOT NULL,
        batch_no BIGINT NOT NULL,
        last_sign_on_ms BIGINT,
        settlement_pending BIGINT NOT NULL,
        created_ms BIGINT NOT NULL,
        updated_ms BIGINT NOT NULL
    )",
    "CREATE INDEX merchants_terminals_merchant ON merchants_terminals (merchant_id)",
];

pub(crate) const APPLICATION_COLUMNS: &str = "application_id, business_name, licence_no, legal_representative, mcc, \
     city, country, bank_code, account_no, expected_volume_minor, status, merchant_id, reviewer, review_approved, \
     review_reason, reviewed_ms, created_ms, updated_ms";

pub(crate) const MERCHANT_COLUMNS: &str = "merchant_id, application_id, name, licence_no, legal_representative, mcc, \
     city, country, bank_code, account_no, status, status_reason, mdr_debit_bp, cap_debit_minor, mdr_credit_bp, \
     cap_credit_minor, settlement_cycle, single_max_minor, daily_max_minor, activated_ms, updated_ms, void_any_terminal";

pub(crate) const CHANGE_COLUMNS: &str = "change_id, merchant_id, old_bank_code, old_account_no, bank_code, account_no, \
     status, reviewer, review_approved, review_reason, reviewed_ms, created_ms, updated_ms";

pub(crate) const TERMINAL_COLUMNS: &str =
    "terminal_id, merchant_id, model, serial, status, tmk_block, last_sign_on_ms, created_ms, updated_ms";

/// A time or amount for a `BIGINT` column (every value the registry writes was checked to fit;
/// a clock beyond year 292 million saturates).
pub(crate) fn int(value: u64) -> Value {
    Value::Int(i64::try_from(value).unwrap_or(i64::MAX))
}

pub(crate) fn opt_int(value: Option<u64>) -> Value {
    value.map_or(Value::Null, int)
}

fn opt_u64(row: &Row, index: usize) -> Result<Option<u64>> {
    row.opt_i64(index)?
        .map(|v| u64::try_from(v).map_err(|_| MerchantError::internal(format!("column {index}: negative value"))))
        .transpose()
}

fn u32_column(row: &Row, index: usize) -> Result<u32> {
    u32::try_from(row.u64(index)?).map_err(|_| MerchantError::internal(format!("column {index}: out of range")))
}

fn parsed<T>(name: &str, what: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T> {
    parse(name).ok_or_else(|| MerchantError::internal(format!("unknown {what} {name:?} in the database")))
}

fn review(row: &Row, first: usize) -> Result<Option<Review>> {
    let Some(reviewer) = row.opt_text(first)? else { return Ok(None) };
    Ok(Some(Review {
        reviewer,
        approved: row.opt_i64(first + 1)?.unwrap_or(0) != 0,
        reason: row.opt_text(first + 2)?.unwrap_or_default(),
        at_ms: opt_u64(row, first + 3)?.unwrap_or(0),
    }))
}

pub(crate) fn application_from_row(row: &Row, checks: Vec<CheckOutcome>) -> Result<ApplicationRecord> {
    Ok(ApplicationRecord {
        application_id: row.i64(0)?,
        application: Application {
            business_name: row.text(1)?,
            licence_no: row.text(2)?,
            legal_representative: row.text(3)?,
            mcc: row.text(4)?,
            city: row.text(5)?,
            country: row.text(6)?,
            settlement: SettlementAccount { bank_code: row.text(7)?, account_no: row.text(8)? },
            expected_monthly_volume_minor: row.u64(9)?,
        },
        status: parsed(&row.text(10)?, "application status", ApplicationStatus::from_name)?,
        merchant_id: row.opt_text(11)?,
        review: review(row, 12)?,
        checks,
        created_ms: row.u64(16)?,
        updated_ms: row.u64(17)?,
    })
}

pub(crate) fn merchant_from_row(row: &Row) -> Result<MerchantRecord> {
    Ok(MerchantRecord {
        merchant_id: row.text(0)?,
        application_id: row.i64(1)?,
        name: row.text(2)?,
        licence_no: row.text(3)?,
        legal_representative: row.text(4)?,
        mcc: row.text(5)?,
        city: row.text(6)?,
        country: row.text(7)?,
        settlement: SettlementAccount { bank_code: row.text(8)?, account_no: row.text(9)? },
        status: parsed(&row.text(10)?, "merchant status", MerchantStatus::from_name)?,
        status_reason: row.opt_text(11)?,
        fee_plan: FeePlan {
            debit: DiscountRate { rate_bp: u32_column(row, 12)?, cap_minor: opt_u64(row, 13)? },
            credit: DiscountRate { rate_bp: u32_column(row, 14)?, cap_minor: opt_u64(row, 15)? },
        },
        cycle: parsed(&row.text(16)?, "settlement cycle", SettlementCycle::from_name)?,
        limits: MerchantLimits { single_max_minor: row.u64(17)?, daily_max_minor: row.u64(18)? },
        activated_ms: row.u64(19)?,
        updated_ms: row.u64(20)?,
        void_any_terminal: row.i64(21)? != 0,
    })
}

pub(crate) fn change_from_row(row: &Row, checks: Vec<CheckOutcome>) -> Result<AccountChangeRecord> {
    Ok(AccountChangeRecord {
        change_id: row.i64(0)?,
        merchant_id: row.text(1)?,
        old: SettlementAccount { bank_code: row.text(2)?, account_no: row.text(3)? },
        new: SettlementAccount { bank_code: row.text(4)?, account_no: row.text(5)? },
        status: parsed(&row.text(6)?, "account change status", ChangeStatus::from_name)?,
        review: review(row, 7)?,
        checks,
        created_ms: row.u64(11)?,
        updated_ms: row.u64(12)?,
    })
}

pub(crate) fn terminal_from_row(row: &Row) -> Result<TerminalRecord> {
    Ok(TerminalRecord {
        terminal_id: row.text(0)?,
        merchant_id: row.text(1)?,
        model: row.opt_text(2)?,
        serial: row.opt_text(3)?,
        status: parsed(&row.text(4)?, "terminal status", TerminalStatus::from_name)?,
        tmk: WrappedKey::from_block(row.text(5)?)
            .map_err(|_| MerchantError::internal("a stored TMK is not a key block under the LMK"))?,
        last_sign_on_ms: opt_u64(row, 6)?,
        created_ms: row.u64(7)?,
        updated_ms: row.u64(8)?,
    })
}

/// The next id of a table: largest + 1.
pub(crate) fn next_id(tx: &mut Tx<'_>, table: &str, column: &str) -> Result<i64> {
    let row = tx
        .query_opt(&format!("SELECT CAST(COALESCE(MAX({column}), 0) AS BIGINT) FROM {table}"), &[])?
        .ok_or_else(|| MerchantError::internal("MAX returned no row"))?;
    Ok(row.i64(0)? + 1)
}

fn next_seq(tx: &mut Tx<'_>, table: &str, subject: Subject, subject_id: &str) -> Result<i64> {
    let row = tx
        .query_opt(
            &format!(
                "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM {table} WHERE subject = $1 AND subject_id = $2"
            ),
            &[subject.name().into(), subject_id.into()],
        )?
        .ok_or_else(|| MerchantError::internal("MAX returned no row"))?;
    Ok(row.i64(0)? + 1)
}

pub(crate) fn insert_checks(
    tx: &mut Tx<'_>,
    subject: Subject,
    subject_id: &str,
    checks: &[CheckOutcome],
) -> Result<()> {
    let first = next_seq(tx, "merchants_checks", subject, subject_id)?;
    for (seq, check) in (first..).zip(checks) {
        tx.execute(
            "INSERT INTO merchants_checks (subject, subject_id, seq, check_name, passed, reason, at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                subject.name().into(),
                subject_id.into(),
                seq.into(),
                check.check.name().into(),
                check.passed.into(),
                check.reason.as_str().into(),
                int(check.at_ms),
            ],
        )?;
    }
    Ok(())
}

pub(crate) fn checks(tx: &mut Tx<'_>, subject: Subject, subject_id: &str) -> Result<Vec<CheckOutcome>> {
    let rows = tx.query(
        "SELECT check_name, passed, reason, at_ms FROM merchants_checks WHERE subject = $1 AND subject_id = $2
         ORDER BY seq",
        &[subject.name().into(), subject_id.into()],
    )?;
    rows.iter()
        .map(|row| {
            Ok(CheckOutcome {
                check: parsed(&row.text(0)?, "check", Check::from_name)?,
                passed: row.i64(1)? != 0,
                reason: row.text(2)?,
                at_ms: row.u64(3)?,
            })
        })
        .collect()
}

/// Append to the review trail.
pub(crate) fn trail(
    tx: &mut Tx<'_>,
    subject: Subject,
    subject_id: &str,
    at_ms: u64,
    event: &str,
    actor: &str,
    reason: &str,
) -> Result<()> {
    let seq = next_seq(tx, "merchants_trail", subject, subject_id)?;
    tx.execute(
        "INSERT INTO merchants_trail (subject, subject_id, seq, at_ms, event, actor, reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[subject.name().into(), subject_id.into(), seq.into(), int(at_ms), event.into(), actor.into(), reason.into()],
    )?;
    Ok(())
}

pub(crate) fn trail_of(tx: &mut Tx<'_>, subject: Subject, subject_id: &str) -> Result<Vec<TrailEntry>> {
    let rows = tx.query(
        "SELECT at_ms, event, actor, reason FROM merchants_trail WHERE subject = $1 AND subject_id = $2 ORDER BY seq",
        &[subject.name().into(), subject_id.into()],
    )?;
    rows.iter()
        .map(|row| {
            Ok(TrailEntry {
                subject,
                subject_id: subject_id.to_owned(),
                at_ms: row.u64(0)?,
                event: row.text(1)?,
                actor: row.text(2)?,
                reason: row.text(3)?,
            })
        })
        .collect()
}

pub(crate) fn account_history(tx: &mut Tx<'_>, merchant_id: &str) -> Result<Vec<AccountHistoryEntry>> {
    let rows = tx.query(
        "SELECT bank_code, account_no, from_ms, change_id FROM merchants_account_history WHERE merchant_id = $1
         ORDER BY seq",
        &[merchant_id.into()],
    )?;
    rows.iter()
        .map(|row| {
            Ok(AccountHistoryEntry {
                account: SettlementAccount { bank_code: row.text(0)?, account_no: row.text(1)? },
                from_ms: row.u64(2)?,
                change_id: row.opt_i64(3)?,
            })
        })
        .collect()
}

pub(crate) fn push_account_history(
    tx: &mut Tx<'_>,
    merchant_id: &str,
    account: &SettlementAccount,
    from_ms: u64,
    change_id: Option<i64>,
) -> Result<()> {
    let row = tx
        .query_opt(
            "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM merchants_account_history WHERE merchant_id = $1",
            &[merchant_id.into()],
        )?
        .ok_or_else(|| MerchantError::internal("MAX returned no row"))?;
    tx.execute(
        "INSERT INTO merchants_account_history (merchant_id, seq, bank_code, account_no, from_ms, change_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            merchant_id.into(),
            (row.i64(0)? + 1).into(),
            account.bank_code.as_str().into(),
            account.account_no.as_str().into(),
            int(from_ms),
            change_id.into(),
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A terminal registered before `merchants-3` keeps everything but the two columns the
    /// POS host owns; reading it needs neither.
    fn v3_drops_the_hosts_columns(db: &sqlstore::Database) {
        db.migrate(MIGRATION, &SCHEMA).unwrap();
        db.migrate(MIGRATION_2, &SCHEMA_2).unwrap();
        db.transaction(|tx| {
            tx.execute(
                "INSERT INTO merchants_terminals (terminal_id, merchant_id, model, serial, status, tmk_block, tmk_kcv, \
                 batch_no, last_sign_on_ms, settlement_pending, created_ms, updated_ms) \
                 VALUES ('30000001', '898440158120001', NULL, NULL, 'active', 'BLOCK', 'ABCDEF', 7, 5, 1, 1, 5)",
                &[],
            )
        })
        .unwrap();
        db.migrate(MIGRATION_3, &SCHEMA_3).unwrap();
        db.migrate(MIGRATION_3, &SCHEMA_3).expect("again: nothing to do");
        let rows =
            db.transaction(|tx| tx.query(&format!("SELECT {TERMINAL_COLUMNS} FROM merchants_terminals"), &[])).unwrap();
        assert_eq!(
            (rows.len(), rows[0].text(0).unwrap(), opt_u64(&rows[0], 6).unwrap()),
            (1, "30000001".into(), Some(5))
        );
        // Last, in a transaction of its own: a failed statement ends a PostgreSQL transaction.
        let gone = db.transaction(|tx| tx.query("SELECT batch_no FROM merchants_terminals", &[]));
        assert!(gone.is_err(), "batch_no is the POS host's alone");
        let gone = db.transaction(|tx| tx.query("SELECT settlement_pending FROM merchants_terminals", &[]));
        assert!(gone.is_err(), "settlement_pending is the POS host's alone");
    }

    #[test]
    fn v3_drops_the_hosts_columns_sqlite() {
        v3_drops_the_hosts_columns(&sqlstore::Database::open("sqlite::memory:").unwrap());
    }

    #[test]
    fn v3_drops_the_hosts_columns_postgres() {
        let Ok(url) = std::env::var("CARDNET_TEST_PG") else {
            eprintln!("SKIPPED: CARDNET_TEST_PG not set; merchants-3 not tested on PostgreSQL");
            return;
        };
        let schema = format!("merchants_v3_{}", std::process::id());
        let _ = sqlstore::drop_postgres_schema(&url, &schema);
        v3_drops_the_hosts_columns(&sqlstore::Database::connect_postgres(&url, &schema).unwrap());
        let _ = sqlstore::drop_postgres_schema(&url, &schema);
    }
}
