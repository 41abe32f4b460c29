//! The exceptions' tables in the switch's database. `switch_exceptions` holds each exception
//! and its current stage (changed only together with an audit entry, in one transaction);
//! `switch_exception_audit` is append-only: this file only inserts into it, and a trigger on
//! each backend refuses an UPDATE or DELETE of its rows.

use clearing::{BusinessDate, CardKind};
use sqlstore::{BackendKind, Database, Row, Tx, Value};

use super::{
    Action, AuditEntry, DISPUTE_REFERENCE_BASE, DisputeError, Exception, ExceptionClass, ExceptionRecord, ListFilter,
    NewException, Opened, Resolution, Result, Stage, next_stage,
};

const MIGRATION: &str = "switch-disputes-v1";
const SEQUENCE_TABLE: &str = "switch_sequences";
const SEQ_EXCEPTION: &str = "exception";
const SEQ_AUDIT: &str = "exception_audit";

const TABLES: &[&str] = &[
    "CREATE TABLE switch_exceptions (
        id BIGINT PRIMARY KEY,
        found_date TEXT NOT NULL,
        class TEXT NOT NULL,
        reference BIGINT NOT NULL,
        acquirer TEXT NOT NULL,
        issuer TEXT NOT NULL,
        amount_minor BIGINT NOT NULL,
        currency TEXT NOT NULL,
        stan TEXT NOT NULL,
        transmission_time TEXT NOT NULL,
        issuer_stan TEXT NOT NULL,
        issuer_time TEXT NOT NULL,
        rrn TEXT NOT NULL,
        auth_code TEXT NOT NULL,
        pan_masked TEXT NOT NULL,
        card_hash TEXT NOT NULL,
        card_kind TEXT NOT NULL,
        mcc TEXT NOT NULL,
        terminal_id TEXT NOT NULL,
        merchant_id TEXT NOT NULL,
        stage TEXT NOT NULL,
        stage_amount_minor BIGINT NOT NULL,
        opened_ms BIGINT NOT NULL,
        match_key TEXT NOT NULL,
        UNIQUE (found_date, class, match_key)
    )",
    "CREATE INDEX switch_exceptions_stage ON switch_exceptions (stage, id)",
    "CREATE TABLE switch_exception_audit (
        id BIGINT PRIMARY KEY,
        exception_id BIGINT NOT NULL,
        at_ms BIGINT NOT NULL,
        by_name TEXT NOT NULL,
        reason TEXT NOT NULL,
        action TEXT NOT NULL,
        stage_before TEXT,
        stage_after TEXT NOT NULL,
        amount_minor BIGINT,
        clearing_date TEXT,
        clearing_reference BIGINT
    )",
    "CREATE INDEX switch_exception_audit_exception ON switch_exception_audit (exception_id, id)",
    "CREATE INDEX switch_exception_audit_clearing ON switch_exception_audit (clearing_date, id)",
];

/// The append-only guard, in each backend's own trigger language.
const SQLITE_GUARD: &[&str] = &[
    "CREATE TRIGGER switch_exception_audit_no_update BEFORE UPDATE ON switch_exception_audit \
     BEGIN SELECT RAISE(ABORT, 'switch_exception_audit is append-only'); END",
    "CREATE TRIGGER switch_exception_audit_no_delete BEFORE DELETE ON switch_exception_audit \
     BEGIN SELECT RAISE(ABORT, 'switch_exception_audit is append-only'); END",
];
const POSTGRES_GUARD: &[&str] = &[
    "CREATE FUNCTION switch_exception_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS \
     $guard$ BEGIN RAISE EXCEPTION 'switch_exception_audit is append-only'; END $guard$",
    "CREATE TRIGGER switch_exception_audit_append_only BEFORE UPDATE OR DELETE ON switch_exception_audit \
     FOR EACH ROW EXECUTE FUNCTION switch_exception_audit_append_only()",
];

pub(crate) fn migrate(db: &Database) -> sqlstore::Result<()> {
    let mut statements: Vec<&str> = TABLES.to_vec();
    statements.extend_from_slice(match db.kind() {
        BackendKind::Sqlite => SQLITE_GUARD,
        BackendKind::Postgres => POSTGRES_GUARD,
    });
    db.migrate(MIGRATION, &statements)?;
    db.transaction(|tx| sqlstore::sequence::ensure(tx, SEQUENCE_TABLE, &[SEQ_EXCEPTION, SEQ_AUDIT]))
}

fn int(value: u64) -> sqlstore::Result<Value> {
    Value::from_u64(value)
}

fn corrupt(what: String) -> DisputeError {
    DisputeError::Store(sqlstore::Error::new("read", what))
}

const EXCEPTION_COLUMNS: &str = "id, found_date, class, reference, acquirer, issuer, amount_minor, currency, stan, \
     transmission_time, issuer_stan, issuer_time, rrn, auth_code, pan_masked, card_hash, card_kind, mcc, terminal_id, \
     merchant_id, stage, stage_amount_minor, opened_ms";

fn date_of(text: &str) -> Result<BusinessDate> {
    BusinessDate::parse(text).map_err(|e| corrupt(format!("an exception's date: {e}")))
}

/// A column that holds `''` for an absent value (the table's columns are NOT NULL).
fn blank_or<T>(row: &Row, index: usize, column: &'static str) -> Result<Option<T>>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let text = row.text(index)?;
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|e| corrupt(format!("column {column}: {e}")))
}

fn exception_of(row: &Row) -> Result<Exception> {
    exception_at(row, 0)
}

/// The exception in the columns of [`EXCEPTION_COLUMNS`] from `at` on (after a join's others).
fn exception_at(row: &Row, at: usize) -> Result<Exception> {
    let class = row.text(at + 2)?;
    let kind = row.text(at + 16)?;
    let stage = row.text(at + 20)?;
    Ok(Exception {
        id: row.u64(at)?,
        date: date_of(&row.text(at + 1)?)?,
        class: ExceptionClass::from_name(&class).ok_or_else(|| corrupt(format!("unknown class {class:?}")))?,
        record: ExceptionRecord {
            reference: row.u64(at + 3)?,
            acquirer: row.parsed(at + 4, "acquirer")?,
            issuer: row.parsed(at + 5, "issuer")?,
            amount_minor: row.u64(at + 6)?,
            currency: row.parsed(at + 7, "currency")?,
            stan: blank_or(row, at + 8, "stan")?,
            transmission_time: row.text(at + 9)?,
            issuer_stan: blank_or(row, at + 10, "issuer_stan")?,
            issuer_time: row.text(at + 11)?,
            rrn: blank_or(row, at + 12, "rrn")?,
            auth_code: row.text(at + 13)?,
            pan_masked: row.text(at + 14)?,
            card_hash: row.text(at + 15)?,
            card_kind: CardKind::from_name(&kind).ok_or_else(|| corrupt(format!("unknown card kind {kind:?}")))?,
            mcc: row.text(at + 17)?,
            terminal_id: blank_or(row, at + 18, "terminal_id")?,
            merchant_id: blank_or(row, at + 19, "merchant_id")?,
        },
        stage: Stage::from_name(&stage).ok_or_else(|| corrupt(format!("unknown stage {stage:?}")))?,
        stage_amount_minor: row.u64(at + 21)?,
        opened_ms: row.u64(at + 22)?,
    })
}

const AUDIT_COLUMNS: &str = "id, exception_id, at_ms, by_name, reason, action, stage_before, stage_after, \
     amount_minor, clearing_date, clearing_reference";

fn stage_of(text: &str) -> Result<Stage> {
    Stage::from_name(text).ok_or_else(|| corrupt(format!("unknown stage {text:?}")))
}

fn entry_of(row: &Row) -> Result<AuditEntry> {
    let amount = row.opt_i64(8)?.map(|v| u64::try_from(v).unwrap_or(0));
    let reference = row.opt_i64(10)?.map(|v| u64::try_from(v).unwrap_or(0));
    Ok(AuditEntry {
        id: row.u64(0)?,
        exception_id: row.u64(1)?,
        at_ms: row.u64(2)?,
        by: row.text(3)?,
        reason: row.text(4)?,
        action: row.text(5)?,
        stage_before: row.opt_text(6)?.map(|s| stage_of(&s)).transpose()?,
        stage_after: stage_of(&row.text(7)?)?,
        amount_minor: amount,
        clearing_date: row.opt_text(9)?.map(|d| date_of(&d)).transpose()?,
        clearing_reference: reference,
    })
}

pub(super) fn exception(tx: &mut Tx<'_>, id: u64) -> Result<Option<Exception>> {
    let sql = format!("SELECT {EXCEPTION_COLUMNS} FROM switch_exceptions WHERE id = $1");
    tx.query_opt(&sql, &[int(id)?])?.as_ref().map(exception_of).transpose()
}

pub(super) fn audit_of(tx: &mut Tx<'_>, id: u64) -> Result<Vec<AuditEntry>> {
    let sql = format!("SELECT {AUDIT_COLUMNS} FROM switch_exception_audit WHERE exception_id = $1 ORDER BY id");
    tx.query(&sql, &[int(id)?])?.iter().map(entry_of).collect()
}

/// Append one audit entry (the only write this table ever sees).
fn append(tx: &mut Tx<'_>, entry: &AuditEntry) -> Result<()> {
    tx.execute(
        "INSERT INTO switch_exception_audit (id, exception_id, at_ms, by_name, reason, action, stage_before, \
         stage_after, amount_minor, clearing_date, clearing_reference) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            int(entry.id)?,
            int(entry.exception_id)?,
            int(entry.at_ms)?,
            entry.by.as_str().into(),
            entry.reason.as_str().into(),
            entry.action.as_str().into(),
            entry.stage_before.map_or(Value::Null, |s| s.name().into()),
            entry.stage_after.name().into(),
            Value::from_opt_u64(entry.amount_minor)?,
            entry.clearing_date.map_or(Value::Null, |d| d.to_string().into()),
            Value::from_opt_u64(entry.clearing_reference)?,
        ],
    )?;
    Ok(())
}

/// What makes an exception the same one again (with its date and class): the switch's
/// reference, or — for a difference the switch has no record of (reference 0) — the
/// acquirer's key (32, 11, 7).
fn match_key(record: &ExceptionRecord) -> String {
    if record.reference != 0 {
        return format!("ref:{}", record.reference);
    }
    let stan = record.stan.map(|stan| stan.to_string()).unwrap_or_default();
    format!("acq:{}:{stan}:{}", record.acquirer, record.transmission_time)
}

/// Open one chunk in the caller's transaction.
pub(super) fn open_chunk(tx: &mut Tx<'_>, chunk: &[NewException], by: &str, at_ms: u64) -> Result<Vec<Opened>> {
    let mut opened = Vec::with_capacity(chunk.len());
    for new in chunk {
        let r = &new.record;
        let date = new.date.to_string();
        let key = match_key(r);
        let existing = tx.query_opt(
            "SELECT id FROM switch_exceptions WHERE found_date = $1 AND class = $2 AND match_key = $3",
            &[date.as_str().into(), new.class.name().into(), key.as_str().into()],
        )?;
        if let Some(row) = existing {
            opened.push(Opened { id: row.u64(0)?, created: false });
            continue;
        }
        let id = sqlstore::sequence::next(tx, SEQUENCE_TABLE, SEQ_EXCEPTION)?;
        let sql = format!(
            "INSERT INTO switch_exceptions ({EXCEPTION_COLUMNS}, match_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
             $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)"
        );
        let text = |s: &str| Value::from(s);
        let stan = |s: Option<domain::Stan>| Value::from(s.map(|s| s.to_string()).unwrap_or_default());
        let opt = |s: Option<&str>| Value::from(s.unwrap_or_default());
        tx.execute(
            &sql,
            &[
                int(id)?,
                date.as_str().into(),
                new.class.name().into(),
                int(r.reference)?,
                text(r.acquirer.as_str()),
                text(r.issuer.as_str()),
                int(r.amount_minor)?,
                text(r.currency.as_str()),
                stan(r.stan),
                text(&r.transmission_time),
                stan(r.issuer_stan),
                text(&r.issuer_time),
                opt(r.rrn.as_ref().map(|v| v.as_str())),
                text(&r.auth_code),
                text(&r.pan_masked),
                text(&r.card_hash),
                r.card_kind.name().into(),
                text(&r.mcc),
                opt(r.terminal_id.as_ref().map(|v| v.as_str())),
                opt(r.merchant_id.as_ref().map(|v| v.as_str())),
                Stage::Open.name().into(),
                int(r.amount_minor)?,
                int(at_ms)?,
                key.as_str().into(),
            ],
        )?;
        let reason = if new.note.trim().is_empty() { new.class.name().to_owned() } else { new.note.clone() };
        let entry_id = sqlstore::sequence::next(tx, SEQUENCE_TABLE, SEQ_AUDIT)?;
        append(
            tx,
            &AuditEntry {
                id: entry_id,
                exception_id: id,
                at_ms,
                by: by.to_owned(),
                reason,
                action: "opened".to_owned(),
                stage_before: None,
                stage_after: Stage::Open,
                amount_minor: None,
                clearing_date: None,
                clearing_reference: None,
            },
        )?;
        opened.push(Opened { id, created: true });
    }
    Ok(opened)
}

/// The amount an action moves: at most the stage amount (the record's, or the cycle's last).
fn action_amount(exception: &Exception, resolution: &Resolution) -> Result<Option<u64>> {
    if resolution.action == Action::WriteOff {
        if resolution.amount_minor.is_some() {
            return Err(DisputeError::Input("a write-off moves no money: it takes no --amount".into()));
        }
        return Ok(None);
    }
    let amount = resolution.amount_minor.unwrap_or(exception.stage_amount_minor);
    if amount == 0 || amount > exception.stage_amount_minor {
        return Err(DisputeError::Input(format!(
            "exception {}: the amount of a {} must be 1 to {} minor units",
            exception.id,
            resolution.action.name(),
            exception.stage_amount_minor
        )));
    }
    Ok(Some(amount))
}

/// Resolve in the caller's transaction: check the table, the amount and the clearing date;
/// append the entry and move the stage (only from the stage read, so a concurrent resolution
/// of the same exception cannot both pass).
pub(super) fn resolve_in(
    tx: &mut Tx<'_>,
    id: u64,
    resolution: &Resolution,
    at_ms: u64,
    clearing_date: BusinessDate,
) -> Result<(Exception, AuditEntry)> {
    let mut exception = exception(tx, id)?.ok_or(DisputeError::NotFound(id))?;
    let stage_after = next_stage(exception.stage, resolution.action).ok_or(DisputeError::NotAllowed {
        id,
        stage: exception.stage,
        action: resolution.action,
    })?;
    let amount = action_amount(&exception, resolution)?;
    let moves_money = resolution.action.txn_code().is_some();
    if moves_money && clearing_date <= exception.date {
        return Err(DisputeError::Input(format!(
            "exception {id} was found on {}: its {} clears on a later date, not {clearing_date}",
            exception.date,
            resolution.action.name()
        )));
    }
    if moves_money && crate::settlement::store_is_settled(tx, clearing_date)? {
        return Err(DisputeError::Input(format!("{clearing_date} is settled: it takes no more records")));
    }
    let entry_id = sqlstore::sequence::next(tx, SEQUENCE_TABLE, SEQ_AUDIT)?;
    let entry = AuditEntry {
        id: entry_id,
        exception_id: id,
        at_ms,
        by: resolution.by.clone(),
        reason: resolution.reason.clone(),
        action: resolution.action.name().to_owned(),
        stage_before: Some(exception.stage),
        stage_after,
        amount_minor: amount,
        clearing_date: moves_money.then_some(clearing_date),
        clearing_reference: moves_money.then_some(DISPUTE_REFERENCE_BASE + entry_id),
    };
    append(tx, &entry)?;
    let stage_amount = amount.unwrap_or(exception.stage_amount_minor);
    let changed = tx.execute(
        "UPDATE switch_exceptions SET stage = $1, stage_amount_minor = $2 WHERE id = $3 AND stage = $4",
        &[stage_after.name().into(), int(stage_amount)?, int(id)?, exception.stage.name().into()],
    )?;
    if changed != 1 {
        return Err(DisputeError::Store(sqlstore::Error::new("resolve", "the exception changed meanwhile")));
    }
    exception.stage = stage_after;
    exception.stage_amount_minor = stage_amount;
    Ok((exception, entry))
}

/// The money-moving actions put on `date`, with their exceptions, by audit id (one query).
pub(super) fn actions_on(tx: &mut Tx<'_>, date: BusinessDate) -> Result<Vec<(Exception, AuditEntry)>> {
    let exception_columns: Vec<String> = EXCEPTION_COLUMNS.split(',').map(|c| format!("e.{}", c.trim())).collect();
    let audit_columns: Vec<String> = AUDIT_COLUMNS.split(',').map(|c| format!("a.{}", c.trim())).collect();
    let sql = format!(
        "SELECT {}, {} FROM switch_exception_audit a JOIN switch_exceptions e ON e.id = a.exception_id \
         WHERE a.clearing_date = $1 AND a.clearing_reference IS NOT NULL ORDER BY a.id",
        audit_columns.join(", "),
        exception_columns.join(", ")
    );
    let rows = tx.query(&sql, &[date.to_string().into()])?;
    let audit_width = audit_columns.len();
    rows.iter()
        .map(|row| {
            let entry = entry_of(row)?;
            Ok((exception_at(row, audit_width)?, entry))
        })
        .collect()
}

pub(super) fn list(tx: &mut Tx<'_>, filter: ListFilter, limit: usize) -> Result<Vec<Exception>> {
    let mut sql = format!("SELECT {EXCEPTION_COLUMNS} FROM switch_exceptions WHERE 1 = 1");
    let mut params: Vec<Value> = Vec::new();
    match filter.resolved {
        Some(true) => sql.push_str(" AND stage = 'resolved'"),
        Some(false) => sql.push_str(" AND stage <> 'resolved'"),
        None => {}
    }
    if let Some(date) = filter.date {
        params.push(date.to_string().into());
        sql.push_str(&format!(" AND found_date = ${}", params.len()));
    }
    sql.push_str(&format!(" ORDER BY id LIMIT {limit}"));
    tx.query(&sql, &params)?.iter().map(exception_of).collect()
}
