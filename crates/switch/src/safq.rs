//! The store-and-forward queue on the switch's own database (`sqlstore`), so it works on SQLite
//! and PostgreSQL alike and an advice is queued in the same transaction that journals the
//! decision behind it (a reversal is never journaled without being queued, or queued without
//! being journaled).
//!
//! It keeps the semantics of `crates/saf` ([`saf::SafQueue`] is implemented on top): idempotent
//! enqueue by key, bounded exponential retry ([`saf::SafConfig::backoff_ms`]), Dead after
//! `attempts_max` or expiry, [`saf::is_repeat`] for the xxx1 MTI. What it adds is
//! [`SqlSafQueue::head_of_line`]: the switch delivers advices to an issuer strictly in enqueue order (a
//! stand-in advice before the reversal of the same transaction), so only the oldest pending
//! entries are due, and one waiting for its retry holds back the ones behind it.

use saf::{Clock, Counts, DUE_LIMIT_MAX, Entry, EntryId, EntryState, NewEntry, SafConfig, SafError, SafResult};
use sqlstore::{Database, Row, Tx, Value};

/// The queue's table, created by the switch's migrations ([`crate::store::MIGRATIONS`]).
pub(crate) const DDL: &[&str] = &[
    "CREATE TABLE switch_saf (
        id BIGINT PRIMARY KEY,
        entry_key TEXT NOT NULL UNIQUE,
        destination TEXT NOT NULL,
        payload BLOB NOT NULL,
        expires_at_ms BIGINT,
        created_ms BIGINT NOT NULL,
        attempts BIGINT NOT NULL,
        next_attempt_ms BIGINT NOT NULL,
        state BIGINT NOT NULL
    )",
    "CREATE INDEX switch_saf_due ON switch_saf (destination, state, id)",
];

const COLUMNS: &str =
    "id, entry_key, destination, payload, expires_at_ms, created_ms, attempts, next_attempt_ms, state";

const PENDING: i64 = 0;
const DONE: i64 = 1;
const DEAD: i64 = 2;

fn state_code(state: EntryState) -> i64 {
    match state {
        EntryState::Pending => PENDING,
        EntryState::Done => DONE,
        EntryState::Dead => DEAD,
    }
}

fn state_of(code: i64) -> SafResult<EntryState> {
    match code {
        PENDING => Ok(EntryState::Pending),
        DONE => Ok(EntryState::Done),
        DEAD => Ok(EntryState::Dead),
        _ => Err(SafError::OutOfRange("state")),
    }
}

fn store(error: sqlstore::Error) -> SafError {
    SafError::Store(error.to_string())
}

fn int(value: u64, what: &'static str) -> SafResult<Value> {
    i64::try_from(value).map(Value::Int).map_err(|_| SafError::OutOfRange(what))
}

fn entry(row: &Row) -> SafResult<Entry> {
    Ok(Entry {
        id: EntryId(row.u64(0).map_err(store)?),
        key: row.text(1).map_err(store)?,
        destination: row.text(2).map_err(store)?,
        payload: row.blob(3).map_err(store)?,
        expires_at_ms: row
            .opt_i64(4)
            .map_err(store)?
            .map(|v| u64::try_from(v).map_err(|_| SafError::OutOfRange("expires_at_ms")))
            .transpose()?,
        created_ms: row.u64(5).map_err(store)?,
        attempts: u32::try_from(row.i64(6).map_err(store)?).map_err(|_| SafError::OutOfRange("attempts"))?,
        next_attempt_ms: row.u64(7).map_err(store)?,
        state: state_of(row.i64(8).map_err(store)?)?,
    })
}

/// Enqueue inside `tx`: the existing entry's id if `new.key` is stored already (in any state),
/// else a new pending entry due at `now_ms`. `Ok((id, true))` when it was added.
pub(crate) fn enqueue(tx: &mut Tx<'_>, config: &SafConfig, new: &NewEntry, now_ms: u64) -> SafResult<(EntryId, bool)> {
    let existing =
        tx.query_opt("SELECT id FROM switch_saf WHERE entry_key = $1", &[new.key.as_str().into()]).map_err(store)?;
    if let Some(row) = existing {
        return Ok((EntryId(row.u64(0).map_err(store)?), false));
    }
    let pending = tx
        .query_opt("SELECT COUNT(*) FROM switch_saf WHERE state = $1", &[PENDING.into()])
        .map_err(store)?
        .map(|row| row.u64(0))
        .transpose()
        .map_err(store)?
        .unwrap_or(0);
    if pending >= config.pending_max {
        return Err(SafError::QueueFull { pending_max: config.pending_max });
    }
    let id = crate::store::next_id(tx, crate::store::SEQ_SAF).map_err(store)?;
    let expires = new.expires_at_ms.map(|v| int(v, "expires_at_ms")).transpose()?.unwrap_or(Value::Null);
    let now = int(now_ms, "now_ms")?;
    tx.execute(
        &format!("INSERT INTO switch_saf ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, 0, $6, $7)"),
        &[
            int(id, "id")?,
            new.key.as_str().into(),
            new.destination.as_str().into(),
            new.payload.clone().into(),
            expires,
            now,
            PENDING.into(),
        ],
    )
    .map_err(store)?;
    Ok((EntryId(id), true))
}

pub(crate) fn get(tx: &mut Tx<'_>, id: EntryId) -> SafResult<Option<Entry>> {
    let row =
        tx.query_opt(&format!("SELECT {COLUMNS} FROM switch_saf WHERE id = $1"), &[int(id.0, "id")?]).map_err(store)?;
    row.as_ref().map(entry).transpose()
}

/// The oldest pending entries of `destination`, in enqueue order, up to the first one that is
/// not due yet (`limit` at most [`DUE_LIMIT_MAX`]). Expired entries of the destination are
/// made Dead first, so they hold nothing back.
pub(crate) fn head_of_line(tx: &mut Tx<'_>, destination: &str, now_ms: u64, limit: usize) -> SafResult<Vec<Entry>> {
    let now = int(now_ms, "now_ms")?;
    tx.execute(
        "UPDATE switch_saf SET state = $1 WHERE destination = $2 AND state = $3 \
         AND expires_at_ms IS NOT NULL AND expires_at_ms <= $4",
        &[DEAD.into(), destination.into(), PENDING.into(), now],
    )
    .map_err(store)?;
    let limit = int(limit.min(DUE_LIMIT_MAX) as u64, "limit")?;
    let rows = tx
        .query(
            &format!("SELECT {COLUMNS} FROM switch_saf WHERE destination = $1 AND state = $2 ORDER BY id LIMIT $3"),
            &[destination.into(), PENDING.into(), limit],
        )
        .map_err(store)?;
    let mut due = Vec::with_capacity(rows.len());
    for row in &rows {
        let entry = entry(row)?;
        if entry.next_attempt_ms > now_ms {
            break;
        }
        due.push(entry);
    }
    Ok(due)
}

/// Every pending entry of `destination` whose `next_attempt_ms <= now_ms` (any order position).
fn due_any(tx: &mut Tx<'_>, destination: &str, now_ms: u64, limit: usize) -> SafResult<Vec<Entry>> {
    let now = int(now_ms, "now_ms")?;
    let limit = int(limit.min(DUE_LIMIT_MAX) as u64, "limit")?;
    let rows = tx
        .query(
            &format!(
                "SELECT {COLUMNS} FROM switch_saf WHERE destination = $1 AND state = $2 AND next_attempt_ms <= $3 \
                 AND (expires_at_ms IS NULL OR expires_at_ms > $3) ORDER BY id LIMIT $4"
            ),
            &[destination.into(), PENDING.into(), now, limit],
        )
        .map_err(store)?;
    rows.iter().map(entry).collect()
}

/// A failed attempt: rescheduled with backoff, or Dead after `attempts_max` or past expiry.
pub(crate) fn attempt_failed(tx: &mut Tx<'_>, config: &SafConfig, id: EntryId, now_ms: u64) -> SafResult<EntryState> {
    let current = get(tx, id)?.ok_or(SafError::NotFound(id))?;
    if current.state != EntryState::Pending {
        return Ok(current.state);
    }
    let attempts = current.attempts.saturating_add(1);
    let next = now_ms.saturating_add(config.backoff_ms(attempts));
    let expired = current.expires_at_ms.is_some_and(|expiry| now_ms >= expiry);
    let state = if attempts >= config.attempts_max || expired { EntryState::Dead } else { EntryState::Pending };
    tx.execute(
        "UPDATE switch_saf SET attempts = $2, next_attempt_ms = $3, state = $4 WHERE id = $1",
        &[int(id.0, "id")?, attempts.into(), int(next, "next_attempt_ms")?, state_code(state).into()],
    )
    .map_err(store)?;
    Ok(state)
}

pub(crate) fn set_state(tx: &mut Tx<'_>, id: EntryId, state: EntryState) -> SafResult<()> {
    let changed = tx
        .execute("UPDATE switch_saf SET state = $2 WHERE id = $1", &[int(id.0, "id")?, state_code(state).into()])
        .map_err(store)?;
    if changed == 0 { Err(SafError::NotFound(id)) } else { Ok(()) }
}

pub(crate) fn counts(tx: &mut Tx<'_>, destination: Option<&str>) -> SafResult<Counts> {
    let rows = match destination {
        Some(destination) => tx.query(
            "SELECT state, COUNT(*) FROM switch_saf WHERE destination = $1 GROUP BY state",
            &[destination.into()],
        ),
        None => tx.query("SELECT state, COUNT(*) FROM switch_saf GROUP BY state", &[]),
    }
    .map_err(store)?;
    let mut counts = Counts::default();
    for row in &rows {
        let count = row.u64(1).map_err(store)?;
        match state_of(row.i64(0).map_err(store)?)? {
            EntryState::Pending => counts.pending = count,
            EntryState::Done => counts.done = count,
            EntryState::Dead => counts.dead = count,
        }
    }
    Ok(counts)
}

/// [`saf::SafQueue`] over a `sqlstore` database: the same queue the switch uses internally,
/// for anyone who wants the trait (tests, a later acquirer). Cheap to clone.
#[derive(Debug, Clone)]
pub struct SqlSafQueue<C: Clock> {
    db: Database,
    config: SafConfig,
    clock: C,
}

impl<C: Clock> SqlSafQueue<C> {
    /// A queue on `db` (its table is created if missing).
    pub fn new(db: Database, config: SafConfig, clock: C) -> SafResult<SqlSafQueue<C>> {
        crate::store::migrate(&db, None).map_err(|e| SafError::Store(e.to_string()))?;
        Ok(SqlSafQueue { db, config, clock })
    }

    fn run<T>(&self, mut work: impl FnMut(&mut Tx<'_>) -> SafResult<T>) -> SafResult<T> {
        // The closure's SafError travels out through a sqlstore error slot: keep it aside.
        let mut failure = None;
        let result = self.db.transaction(|tx| match work(tx) {
            Ok(value) => Ok(Some(value)),
            Err(error) => {
                failure = Some(error);
                Err(sqlstore::Error::new("saf", "rolled back"))
            }
        });
        match (result, failure) {
            (_, Some(error)) => Err(error),
            (Ok(Some(value)), None) => Ok(value),
            (Ok(None), None) => Err(SafError::Store("no result".into())),
            (Err(error), None) => Err(store(error)),
        }
    }

    /// The oldest pending entries of `destination`, in enqueue order, up to the first one not
    /// due yet at `now_ms` (expired ones are made Dead first and hold nothing back).
    pub fn head_of_line(&mut self, destination: &str, now_ms: u64, limit: usize) -> SafResult<Vec<Entry>> {
        self.run(|tx| head_of_line(tx, destination, now_ms, limit))
    }
}

impl<C: Clock> saf::SafQueue for SqlSafQueue<C> {
    fn enqueue(&mut self, entry: NewEntry) -> SafResult<EntryId> {
        let now_ms = self.clock.now_ms();
        let config = self.config;
        self.run(|tx| enqueue(tx, &config, &entry, now_ms).map(|(id, _)| id))
    }

    fn due(&mut self, destination: &str, now_ms: u64, limit: usize) -> SafResult<Vec<Entry>> {
        self.run(|tx| due_any(tx, destination, now_ms, limit))
    }

    fn attempt_failed(&mut self, id: EntryId, now_ms: u64) -> SafResult<EntryState> {
        let config = self.config;
        self.run(|tx| attempt_failed(tx, &config, id, now_ms))
    }

    fn acknowledged(&mut self, id: EntryId) -> SafResult<()> {
        self.run(|tx| set_state(tx, id, EntryState::Done))
    }

    fn get(&mut self, id: EntryId) -> SafResult<Option<Entry>> {
        self.run(|tx| get(tx, id))
    }

    fn counts(&mut self) -> SafResult<Counts> {
        self.run(|tx| counts(tx, None))
    }

    fn expire(&mut self, now_ms: u64) -> SafResult<usize> {
        let now = int(now_ms, "now_ms")?;
        self.run(|tx| {
            let changed = tx
                .execute(
                    "UPDATE switch_saf SET state = $1 WHERE state = $2 \
                     AND expires_at_ms IS NOT NULL AND expires_at_ms <= $3",
                    &[DEAD.into(), PENDING.into(), now.clone()],
                )
                .map_err(store)?;
            Ok(usize::try_from(changed).unwrap_or(usize::MAX))
        })
    }
}
