//! The embedded default store: one SQLite file in WAL mode with `synchronous=FULL`, so every
//! change is on disk before the call that made it returns. Each write is one `BEGIN IMMEDIATE`
//! … `COMMIT` transaction; a unique index on `key` holds the idempotency keys, and a partial
//! index on the pending entries serves [`SafQueue::due`].

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};

use crate::{
    Clock, Counts, DUE_LIMIT_MAX, Entry, EntryId, EntryState, NewEntry, SafConfig, SafError, SafQueue, SafResult,
    SystemClock, after_failure,
};

/// The schema version kept in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

/// How long a connection waits for another writer's lock before SQLite reports `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Statement cache entries: every SQL string below, with room to spare.
const STATEMENT_CACHE: usize = 32;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS saf_entries (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    destination TEXT NOT NULL,
    payload BLOB NOT NULL,
    expires_at_ms INTEGER,
    created_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL,
    state INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS saf_entries_key ON saf_entries (key);
CREATE INDEX IF NOT EXISTS saf_entries_due ON saf_entries (destination, id) WHERE state = 0;
";

const COLUMNS: &str = "id, key, destination, payload, expires_at_ms, created_ms, attempts, next_attempt_ms, state";

fn failure(op: &'static str) -> impl Fn(rusqlite::Error) -> SafError {
    move |error| SafError::Store(format!("sqlite {op}: {error}"))
}

fn to_sql(value: u64, what: &'static str) -> SafResult<i64> {
    i64::try_from(value).map_err(|_| SafError::OutOfRange(what))
}

fn from_sql(value: i64, what: &'static str) -> SafResult<u64> {
    u64::try_from(value).map_err(|_| SafError::OutOfRange(what))
}

/// The raw columns of one row, converted to an [`Entry`] outside rusqlite's row callback.
type RawRow = (i64, String, String, Vec<u8>, Option<i64>, i64, i64, i64, i64);

fn raw_row(row: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
    ))
}

fn entry(raw: RawRow) -> SafResult<Entry> {
    let (id, key, destination, payload, expires_at_ms, created_ms, attempts, next_attempt_ms, state) = raw;
    Ok(Entry {
        id: EntryId(from_sql(id, "id")?),
        key,
        destination,
        payload,
        expires_at_ms: expires_at_ms.map(|v| from_sql(v, "expires_at_ms")).transpose()?,
        created_ms: from_sql(created_ms, "created_ms")?,
        attempts: u32::try_from(attempts).map_err(|_| SafError::OutOfRange("attempts"))?,
        next_attempt_ms: from_sql(next_attempt_ms, "next_attempt_ms")?,
        state: EntryState::from_code(state).ok_or(SafError::OutOfRange("state"))?,
    })
}

/// Rolls back the open transaction when dropped (a committed one is no longer open).
struct Rollback<'a>(&'a Connection);

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        if !self.0.is_autocommit() {
            let _ = self.0.execute_batch("ROLLBACK");
        }
    }
}

#[derive(Debug)]
pub struct SqliteSafQueue<C: Clock = SystemClock> {
    conn: Connection,
    config: SafConfig,
    clock: C,
}

impl SqliteSafQueue<SystemClock> {
    /// Open (creating the file and schema if missing) a queue at `path`, with the default
    /// config and the system clock.
    pub fn open(path: &Path) -> SafResult<SqliteSafQueue<SystemClock>> {
        SqliteSafQueue::open_with(path, SafConfig::default(), SystemClock)
    }
}

impl<C: Clock> SqliteSafQueue<C> {
    pub fn open_with(path: &Path, config: SafConfig, clock: C) -> SafResult<SqliteSafQueue<C>> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        sqlstore::prepare_sqlite_file(path).map_err(|e| SafError::Store(format!("open {}: {e}", path.display())))?;
        let conn = Connection::open_with_flags(path, flags).map_err(failure("open"))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(failure("open: busy_timeout"))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let mode: String =
            conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)).map_err(failure("open: journal_mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(SafError::Store(format!("open: journal_mode is {mode}, not wal")));
        }
        conn.execute_batch("PRAGMA synchronous = FULL;").map_err(failure("open: pragmas"))?;
        let synchronous: i64 =
            conn.query_row("PRAGMA synchronous", [], |row| row.get(0)).map_err(failure("open: synchronous"))?;
        if synchronous != 2 {
            return Err(SafError::Store(format!("open: synchronous is {synchronous}, not FULL (2)")));
        }
        let queue = SqliteSafQueue { conn, config, clock };
        queue.create_schema()?;
        Ok(queue)
    }

    fn create_schema(&self) -> SafResult<()> {
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(failure("open: begin"))?;
        let guard = Rollback(&self.conn);
        let version: i64 =
            guard.0.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(failure("open: user_version"))?;
        match version {
            0 => {
                guard.0.execute_batch(SCHEMA).map_err(failure("open: create schema"))?;
                guard
                    .0
                    .execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
                    .map_err(failure("open: user_version"))?;
            }
            SCHEMA_VERSION => {}
            other => {
                return Err(SafError::Store(format!(
                    "open: schema version {other}, this build knows {SCHEMA_VERSION}"
                )));
            }
        }
        guard.0.execute_batch("COMMIT").map_err(failure("open: commit"))
    }

    fn select(&self, id: EntryId) -> SafResult<Option<Entry>> {
        let sql = format!("SELECT {COLUMNS} FROM saf_entries WHERE id = ?1");
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure("get"))?;
        let raw = statement.query_row(params![to_sql(id.0, "id")?], raw_row).optional().map_err(failure("get"))?;
        raw.map(entry).transpose()
    }
}

impl<C: Clock> SafQueue for SqliteSafQueue<C> {
    fn enqueue(&mut self, new: NewEntry) -> SafResult<EntryId> {
        let now = to_sql(self.clock.now_ms(), "now_ms")?;
        let expires = new.expires_at_ms.map(|v| to_sql(v, "expires_at_ms")).transpose()?;
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(failure("enqueue: begin"))?;
        let guard = Rollback(&self.conn);
        let existing: Option<i64> = guard
            .0
            .prepare_cached("SELECT id FROM saf_entries WHERE key = ?1")
            .and_then(|mut s| s.query_row(params![new.key], |row| row.get(0)).optional())
            .map_err(failure("enqueue: find key"))?;
        if let Some(id) = existing {
            return Ok(EntryId(from_sql(id, "id")?));
        }
        let pending: i64 = guard
            .0
            .prepare_cached("SELECT COUNT(*) FROM saf_entries WHERE state = 0")
            .and_then(|mut s| s.query_row([], |row| row.get(0)))
            .map_err(failure("enqueue: count"))?;
        if from_sql(pending, "pending")? >= self.config.pending_max {
            return Err(SafError::QueueFull { pending_max: self.config.pending_max });
        }
        guard
            .0
            .prepare_cached(
                "INSERT INTO saf_entries (key, destination, payload, expires_at_ms, created_ms, attempts, \
                 next_attempt_ms, state) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?5, 0)",
            )
            .and_then(|mut s| s.execute(params![new.key, new.destination, new.payload, expires, now]))
            .map_err(failure("enqueue: insert"))?;
        let id = guard.0.last_insert_rowid();
        guard.0.execute_batch("COMMIT").map_err(failure("enqueue: commit"))?;
        Ok(EntryId(from_sql(id, "id")?))
    }

    fn due(&mut self, destination: &str, now_ms: u64, limit: usize) -> SafResult<Vec<Entry>> {
        let limit = to_sql(limit.min(DUE_LIMIT_MAX) as u64, "limit")?;
        let now = to_sql(now_ms, "now_ms")?;
        let sql = format!(
            "SELECT {COLUMNS} FROM saf_entries WHERE state = 0 AND destination = ?1 AND next_attempt_ms <= ?2 \
             AND (expires_at_ms IS NULL OR expires_at_ms > ?2) ORDER BY id LIMIT ?3"
        );
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure("due"))?;
        let rows = statement
            .query_map(params![destination, now, limit], raw_row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<RawRow>>>())
            .map_err(failure("due"))?;
        rows.into_iter().map(entry).collect()
    }

    fn attempt_failed(&mut self, id: EntryId, now_ms: u64) -> SafResult<EntryState> {
        let id_sql = to_sql(id.0, "id")?;
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(failure("attempt_failed: begin"))?;
        let guard = Rollback(&self.conn);
        let current = self.select(id)?.ok_or(SafError::NotFound(id))?;
        if current.state != EntryState::Pending {
            return Ok(current.state);
        }
        let (attempts, next, state) = after_failure(&self.config, current.attempts, current.expires_at_ms, now_ms);
        let next = to_sql(next, "next_attempt_ms")?;
        guard
            .0
            .prepare_cached("UPDATE saf_entries SET attempts = ?2, next_attempt_ms = ?3, state = ?4 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![id_sql, attempts, next, state.code()]))
            .map_err(failure("attempt_failed: update"))?;
        guard.0.execute_batch("COMMIT").map_err(failure("attempt_failed: commit"))?;
        Ok(state)
    }

    fn acknowledged(&mut self, id: EntryId) -> SafResult<()> {
        let id_sql = to_sql(id.0, "id")?;
        let changed = self
            .conn
            .prepare_cached("UPDATE saf_entries SET state = ?2 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![id_sql, EntryState::Done.code()]))
            .map_err(failure("acknowledged"))?;
        if changed == 0 { Err(SafError::NotFound(id)) } else { Ok(()) }
    }

    fn get(&mut self, id: EntryId) -> SafResult<Option<Entry>> {
        self.select(id)
    }

    fn expire(&mut self, now_ms: u64) -> SafResult<usize> {
        let now = to_sql(now_ms, "now_ms")?;
        let mut statement = self
            .conn
            .prepare_cached(
                "UPDATE saf_entries SET state = 2 WHERE state = 0 AND expires_at_ms IS NOT NULL AND expires_at_ms <= ?1",
            )
            .map_err(failure("expire"))?;
        statement.execute(params![now]).map_err(failure("expire"))
    }

    fn counts(&mut self) -> SafResult<Counts> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT state, COUNT(*) FROM saf_entries GROUP BY state")
            .map_err(failure("counts"))?;
        let rows = statement
            .query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<(i64, i64)>>>())
            .map_err(failure("counts"))?;
        let mut counts = Counts::default();
        for (state, count) in rows {
            let count = from_sql(count, "count")?;
            match EntryState::from_code(state).ok_or(SafError::OutOfRange("state"))? {
                EntryState::Pending => counts.pending = count,
                EntryState::Done => counts.done = count,
                EntryState::Dead => counts.dead = count,
            }
        }
        Ok(counts)
    }
}
