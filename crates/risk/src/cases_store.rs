//! The alerts in a party's own database, through `sqlstore` (SQLite by default, PostgreSQL
//! by URL, one code path). Two tables: `risk_alerts`, one row per alert with its current
//! status and assignee, and `risk_alert_audit`, the trail. The trail is append-only: this
//! module inserts into it and never updates it; rows leave it only with their alert, when
//! [`Cases::purge_closed_before`] ends the retention of a closed alert.
//!
//! Times are passed in (`now_ms`), never read here, so tests and replays are deterministic.

use sqlstore::{Database, Row, Tx, Value};

use crate::cases::{
    Action, Alert, AlertDetail, AuditEntry, CaseError, EntityKind, Filter, NOTE_LEN_MAX, NewAlert, Party, Status,
    check_text, check_who, next_status,
};

/// Alerts one `list` returns, at most.
pub const LIST_LIMIT_MAX: usize = 1_000;
/// Closed alerts one `purge_closed_before` deletes, at most (a bounded transaction; call
/// again until it returns fewer).
pub const PURGE_PER_CALL_MAX: usize = 10_000;
/// Audit entries one alert may have. Past `AUDIT_PER_ALERT_MAX - 1` only a close is taken,
/// so an alert can always be closed and its whole trail is always shown.
pub const AUDIT_PER_ALERT_MAX: usize = 1_000;

/// The name the engine writes in the trail when it records an alert.
pub const RECORDED_BY: &str = "risk-engine";

/// The id counter (`sqlstore::sequence`): ids are never reused, not even after the newest
/// alert is purged, so an id in a note or a ticket always means one alert.
const SEQUENCES: &str = "risk_sequences";
const ALERT_SEQUENCE: &str = "alert";

const SCHEMA: [&str; 5] = [
    "CREATE TABLE risk_sequences (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
    "CREATE TABLE risk_alerts (
        id BIGINT PRIMARY KEY,
        created_ms BIGINT NOT NULL,
        updated_ms BIGINT NOT NULL,
        party TEXT NOT NULL,
        entity_kind TEXT NOT NULL,
        entity TEXT NOT NULL,
        pan_masked TEXT,
        reference TEXT NOT NULL,
        verdict TEXT NOT NULL,
        response_code TEXT,
        fired TEXT NOT NULL,
        score BIGINT NOT NULL,
        status TEXT NOT NULL,
        assignee TEXT
    )",
    "CREATE INDEX risk_alerts_status ON risk_alerts (status, id)",
    "CREATE TABLE risk_alert_audit (
        alert_id BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        at_ms BIGINT NOT NULL,
        who TEXT NOT NULL,
        action TEXT NOT NULL,
        from_status TEXT,
        to_status TEXT NOT NULL,
        note TEXT,
        PRIMARY KEY (alert_id, seq)
    )",
    "CREATE INDEX risk_alerts_closed ON risk_alerts (updated_ms, id)",
];

const ALERT_COLUMNS: &str = "id, created_ms, updated_ms, party, entity_kind, entity, pan_masked, reference, verdict, \
                             response_code, fired, score, status, assignee";

/// The alerts of one party's database.
#[derive(Clone, Debug)]
pub struct Cases {
    db: Database,
}

fn int(v: u64) -> Result<Value, CaseError> {
    Value::from_u64(v).map_err(CaseError::from)
}

impl Cases {
    /// Open the database at `url` (`sqlite:PATH`, `sqlite::memory:`, `postgres://…#schema`)
    /// and create the tables if missing.
    pub fn open(url: &str) -> Result<Cases, CaseError> {
        Cases::new(Database::open(url)?)
    }

    /// The alerts in an open database (the party's own), tables created if missing.
    pub fn new(db: Database) -> Result<Cases, CaseError> {
        db.migrate("risk-cases-v1", &SCHEMA)?;
        db.transaction(|tx| sqlstore::sequence::ensure(tx, SEQUENCES, &[ALERT_SEQUENCE]))?;
        Ok(Cases { db })
    }

    /// Store a new alert, open, with a `created` entry in its trail; returns its id.
    pub fn record_alert(&self, alert: &NewAlert) -> Result<u64, CaseError> {
        alert.check()?;
        let created = int(alert.created_ms)?;
        self.db.transact(|tx| {
            let id = sqlstore::sequence::next(tx, SEQUENCES, ALERT_SEQUENCE)?;
            tx.execute(
                &format!(
                    "INSERT INTO risk_alerts ({ALERT_COLUMNS}) VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL)"
                ),
                &[
                    int(id)?,
                    created.clone(),
                    alert.party.name().into(),
                    alert.entity_kind.name().into(),
                    alert.entity.as_str().into(),
                    alert.pan_masked.as_deref().into(),
                    alert.reference.as_str().into(),
                    alert.verdict.as_str().into(),
                    alert.response_code.as_deref().into(),
                    alert.fired_json.as_str().into(),
                    alert.score.into(),
                    Status::Open.name().into(),
                ],
            )?;
            audit(tx, id, alert.created_ms, RECORDED_BY, "created", None, Status::Open, None)?;
            Ok(id)
        })
    }

    /// Alerts matching `filter`, newest first, at most `filter.limit` (itself at most
    /// [`LIST_LIMIT_MAX`]).
    pub fn list(&self, filter: &Filter) -> Result<Vec<Alert>, CaseError> {
        if filter.limit == 0 || filter.limit > LIST_LIMIT_MAX {
            return Err(CaseError::BadInput(format!("the limit must be 1 to {LIST_LIMIT_MAX}")));
        }
        let mut sql = format!("SELECT {ALERT_COLUMNS} FROM risk_alerts WHERE 1 = 1");
        let mut params: Vec<Value> = Vec::new();
        if let Some(status) = filter.status {
            params.push(status.name().into());
            sql.push_str(&format!(" AND status = ${}", params.len()));
        }
        if let Some(assignee) = &filter.assignee {
            params.push(assignee.as_str().into());
            sql.push_str(&format!(" AND assignee = ${}", params.len()));
        }
        params.push(int(filter.limit as u64)?);
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", params.len()));
        let rows = self.db.transaction(|tx| tx.query(&sql, &params))?;
        rows.iter().map(alert_of).collect()
    }

    /// One alert and its trail, oldest entry first.
    pub fn show(&self, id: u64) -> Result<AlertDetail, CaseError> {
        let key = int(id)?;
        self.db.transact(|tx| {
            let alert = load(tx, id)?;
            let rows = tx.query(
                "SELECT seq, at_ms, who, action, from_status, to_status, note FROM risk_alert_audit \
                 WHERE alert_id = $1 ORDER BY seq LIMIT $2",
                &[key.clone(), int(AUDIT_PER_ALERT_MAX as u64)?],
            )?;
            let audit = rows.iter().map(audit_of).collect::<Result<Vec<_>, _>>()?;
            Ok(AlertDetail { alert, audit })
        })
    }

    /// Hand the alert to `to` (it is then under investigation); `by` is who did it.
    pub fn assign(&self, id: u64, by: &str, to: &str, note: Option<&str>, now_ms: u64) -> Result<Alert, CaseError> {
        check_who(to)?;
        self.act(id, by, Action::Assign, Some(to), note, now_ms)
    }

    /// Close the alert as fraud or not fraud.
    pub fn close(&self, id: u64, by: &str, fraud: bool, note: Option<&str>, now_ms: u64) -> Result<Alert, CaseError> {
        let action = if fraud { Action::CloseFraud } else { Action::CloseNotFraud };
        self.act(id, by, action, None, note, now_ms)
    }

    /// Add a note to an alert that is not closed.
    pub fn note(&self, id: u64, by: &str, note: &str, now_ms: u64) -> Result<Alert, CaseError> {
        self.act(id, by, Action::Note, None, Some(note), now_ms)
    }

    /// One action, if the transition table allows it from the alert's current status: the
    /// new status (and assignee), and the trail entry, in one transaction.
    fn act(
        &self,
        id: u64,
        by: &str,
        action: Action,
        assignee: Option<&str>,
        note: Option<&str>,
        now_ms: u64,
    ) -> Result<Alert, CaseError> {
        check_who(by)?;
        if let Some(note) = note {
            check_text("note", note, NOTE_LEN_MAX)?;
        }
        let now = int(now_ms)?;
        self.db.transact(|tx| {
            let alert = load(tx, id)?;
            let to =
                next_status(alert.status, action).ok_or(CaseError::Refused { id, status: alert.status, action })?;
            let closing = matches!(action, Action::CloseFraud | Action::CloseNotFraud);
            let entries = tx
                .query_opt("SELECT CAST(COUNT(*) AS BIGINT) FROM risk_alert_audit WHERE alert_id = $1", &[int(id)?])?
                .map(|row| row.u64(0))
                .transpose()?
                .unwrap_or(0);
            if !closing && entries + 1 >= AUDIT_PER_ALERT_MAX as u64 {
                return Err(CaseError::BadInput(format!(
                    "alert {id} has {entries} audit entries: only a close is taken now (at most {AUDIT_PER_ALERT_MAX})"
                )));
            }
            let assignee = assignee.or(alert.assignee.as_deref());
            tx.execute(
                "UPDATE risk_alerts SET status = $1, assignee = $2, updated_ms = $3 WHERE id = $4",
                &[to.name().into(), assignee.into(), now.clone(), int(id)?],
            )?;
            let note_text = match (action, assignee) {
                (Action::Assign, Some(who)) => Some(match note {
                    Some(note) => format!("to {who}: {note}"),
                    None => format!("to {who}"),
                }),
                _ => note.map(str::to_string),
            };
            audit(tx, id, now_ms, by, action.name(), Some(alert.status), to, note_text.as_deref())?;
            load(tx, id)
        })
    }

    /// Delete closed alerts last changed before `before_ms`, with their trails, at most
    /// `limit` (itself at most [`PURGE_PER_CALL_MAX`]), oldest first; returns how many.
    /// Open and investigated alerts are never purged, however old.
    pub fn purge_closed_before(&self, before_ms: u64, limit: usize) -> Result<usize, CaseError> {
        if limit == 0 || limit > PURGE_PER_CALL_MAX {
            return Err(CaseError::BadInput(format!("the purge limit must be 1 to {PURGE_PER_CALL_MAX}")));
        }
        let (before, limit) = (int(before_ms)?, int(limit as u64)?);
        self.db.transact(|tx| {
            let ids = tx.query(
                "SELECT id FROM risk_alerts WHERE status IN ($1, $2) AND updated_ms < $3 \
                 ORDER BY updated_ms, id LIMIT $4",
                &[
                    Status::ClosedFraud.name().into(),
                    Status::ClosedNotFraud.name().into(),
                    before.clone(),
                    limit.clone(),
                ],
            )?;
            for row in &ids {
                let id = row.value(0)?.clone();
                tx.execute("DELETE FROM risk_alert_audit WHERE alert_id = $1", std::slice::from_ref(&id))?;
                tx.execute("DELETE FROM risk_alerts WHERE id = $1", &[id])?;
            }
            Ok(ids.len())
        })
    }
}

fn load(tx: &mut Tx<'_>, id: u64) -> Result<Alert, CaseError> {
    let row = tx.query_opt(&format!("SELECT {ALERT_COLUMNS} FROM risk_alerts WHERE id = $1"), &[int(id)?])?;
    match row {
        Some(row) => alert_of(&row),
        None => Err(CaseError::NotFound(id)),
    }
}

#[allow(clippy::too_many_arguments)]
fn audit(
    tx: &mut Tx<'_>,
    id: u64,
    at_ms: u64,
    who: &str,
    action: &str,
    from: Option<Status>,
    to: Status,
    note: Option<&str>,
) -> Result<(), CaseError> {
    let seq = tx
        .query_opt(
            "SELECT CAST(COALESCE(MAX(seq), 0) + 1 AS BIGINT) FROM risk_alert_audit WHERE alert_id = $1",
            &[int(id)?],
        )?
        .map(|row| row.u64(0))
        .transpose()?
        .unwrap_or(1);
    tx.execute(
        "INSERT INTO risk_alert_audit (alert_id, seq, at_ms, who, action, from_status, to_status, note) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            int(id)?,
            int(seq)?,
            int(at_ms)?,
            who.into(),
            action.into(),
            from.map(Status::name).into(),
            to.name().into(),
            note.into(),
        ],
    )?;
    Ok(())
}

/// A stored name that this version does not know: the database was written by another.
fn unknown(column: &'static str) -> CaseError {
    CaseError::Store(sqlstore::Error::new("risk alerts", format!("unknown value in column {column}")))
}

fn alert_of(row: &Row) -> Result<Alert, CaseError> {
    Ok(Alert {
        id: row.u64(0)?,
        created_ms: row.u64(1)?,
        updated_ms: row.u64(2)?,
        party: Party::parse(&row.text(3)?).ok_or_else(|| unknown("party"))?,
        entity_kind: EntityKind::parse(&row.text(4)?).ok_or_else(|| unknown("entity_kind"))?,
        entity: row.text(5)?,
        pan_masked: row.opt_text(6)?,
        reference: row.text(7)?,
        verdict: row.text(8)?,
        response_code: row.opt_text(9)?,
        fired_json: row.text(10)?,
        score: row.i64(11)?,
        status: Status::parse(&row.text(12)?).ok_or_else(|| unknown("status"))?,
        assignee: row.opt_text(13)?,
    })
}

fn audit_of(row: &Row) -> Result<AuditEntry, CaseError> {
    let from = match row.opt_text(4)? {
        Some(text) => Some(Status::parse(&text).ok_or_else(|| unknown("from_status"))?),
        None => None,
    };
    Ok(AuditEntry {
        seq: row.u64(0)?,
        at_ms: row.u64(1)?,
        who: row.text(2)?,
        action: row.text(3)?,
        from_status: from,
        to_status: Status::parse(&row.text(5)?).ok_or_else(|| unknown("to_status"))?,
        note: row.opt_text(6)?,
    })
}

#[cfg(test)]
#[path = "cases_store_tests.rs"]
mod tests;
