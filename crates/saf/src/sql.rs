//! The queue in a table of a party's own `sqlstore` database. Each party names its table (the
//! switch `switch_saf`, the acquirer `acquirer_saf`) and the sequence its ids come from, and
//! creates the table with [`SqlQueue::ddl`] in one of its migrations. Every operation runs in
//! the caller's transaction: nothing here commits.
//!
//! The table name is written into the SQL text, so [`SqlQueue::new`] accepts only a plain
//! identifier (lower-case letters, digits, `_`); every value is a bound parameter.

use sqlstore::{Row, Tx, Value};

use crate::{
    Counts, DUE_LIMIT_MAX, Entry, EntryId, EntryState, NewEntry, SafConfig, SafError, SafResult, after_failure,
};

/// Longest table name accepted: PostgreSQL's identifier limit (63 bytes).
pub const TABLE_NAME_LEN_MAX: usize = 63;

const COLUMNS: &str =
    "id, entry_key, destination, payload, expires_at_ms, created_ms, attempts, next_attempt_ms, state";

/// Where a queue's ids come from: a sequence `name` in the party's sequence table `table`
/// (`sqlstore::sequence`; the party's migrations create it). Ids are taken in the caller's
/// transaction, so they grow in enqueue order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdSequence {
    pub table: &'static str,
    pub name: &'static str,
}

/// One store-and-forward queue in table `table` of a party's database. Cheap to copy: it holds
/// names only; the database is the caller's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlQueue {
    table: &'static str,
    ids: IdSequence,
}

/// Whether `name` can be written into SQL as it is: `[a-z_][a-z0-9_]*`, at most
/// [`TABLE_NAME_LEN_MAX`] bytes.
fn plain_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    first_ok
        && name.len() <= TABLE_NAME_LEN_MAX
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn int(value: u64, what: &'static str) -> SafResult<Value> {
    i64::try_from(value).map(Value::Int).map_err(|_| SafError::OutOfRange(what))
}

fn limit_value(limit: usize) -> SafResult<Value> {
    int(u64::try_from(limit.min(DUE_LIMIT_MAX)).unwrap_or(u64::MAX), "limit")
}

fn entry(row: &Row) -> SafResult<Entry> {
    let expires_at_ms =
        row.opt_i64(4)?.map(|v| u64::try_from(v).map_err(|_| SafError::OutOfRange("expires_at_ms"))).transpose()?;
    Ok(Entry {
        id: EntryId(row.u64(0)?),
        key: row.text(1)?,
        destination: row.text(2)?,
        payload: row.blob(3)?,
        expires_at_ms,
        created_ms: row.u64(5)?,
        attempts: u32::try_from(row.i64(6)?).map_err(|_| SafError::OutOfRange("attempts"))?,
        next_attempt_ms: row.u64(7)?,
        state: EntryState::from_code(row.i64(8)?).ok_or(SafError::OutOfRange("state"))?,
    })
}

impl SqlQueue {
    /// The queue in `table`, its ids from `ids`. Both table names must be plain identifiers
    /// ([`SafError::BadName`] otherwise): they are written into the SQL.
    pub fn new(table: &'static str, ids: IdSequence) -> SafResult<SqlQueue> {
        for name in [table, ids.table] {
            if !plain_identifier(name) {
                return Err(SafError::BadName(name));
            }
        }
        Ok(SqlQueue { table, ids })
    }

    pub fn table(&self) -> &'static str {
        self.table
    }

    /// The statements that create the queue's table and its index, for the party's migration
    /// (portable DDL: `sqlstore::Database::migrate` turns `BLOB` into `BYTEA` on PostgreSQL).
    /// The index serves both reads: a destination's pending entries in id order.
    pub fn ddl(&self) -> [String; 2] {
        let table = self.table;
        [
            format!(
                "CREATE TABLE {table} (
        id BIGINT PRIMARY KEY,
        entry_key TEXT NOT NULL UNIQUE,
        destination TEXT NOT NULL,
        payload BLOB NOT NULL,
        expires_at_ms BIGINT,
        created_ms BIGINT NOT NULL,
        attempts BIGINT NOT NULL,
        next_attempt_ms BIGINT NOT NULL,
        state BIGINT NOT NULL
    )"
            ),
            format!("CREATE INDEX {table}_due ON {table} (destination, state, id)"),
        ]
    }

    /// Queue `new` in `tx`, due at once (`now_ms`): `(id, true)`. If its key is stored already
    /// (in any state) the existing entry's id and `false`, and nothing is stored — so a key is
    /// never sent twice. [`SafError::QueueFull`] when [`SafConfig::pending_max`] entries are
    /// pending.
    pub fn enqueue(
        &self,
        tx: &mut Tx<'_>,
        config: &SafConfig,
        new: &NewEntry,
        now_ms: u64,
    ) -> SafResult<(EntryId, bool)> {
        let table = self.table;
        let existing =
            tx.query_opt(&format!("SELECT id FROM {table} WHERE entry_key = $1"), &[new.key.as_str().into()])?;
        if let Some(row) = existing {
            return Ok((EntryId(row.u64(0)?), false));
        }
        let pending = tx
            .query_opt(&format!("SELECT COUNT(*) FROM {table} WHERE state = $1"), &[EntryState::Pending.code().into()])?
            .map(|row| row.u64(0))
            .transpose()?
            .unwrap_or(0);
        if pending >= config.pending_max {
            return Err(SafError::QueueFull { pending_max: config.pending_max });
        }
        let id = sqlstore::sequence::next(tx, self.ids.table, self.ids.name)?;
        let expires = new.expires_at_ms.map(|v| int(v, "expires_at_ms")).transpose()?.unwrap_or(Value::Null);
        tx.execute(
            &format!("INSERT INTO {table} ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, 0, $6, $7)"),
            &[
                int(id, "id")?,
                new.key.as_str().into(),
                new.destination.as_str().into(),
                new.payload.as_slice().into(),
                expires,
                int(now_ms, "now_ms")?,
                EntryState::Pending.code().into(),
            ],
        )?;
        Ok((EntryId(id), true))
    }

    /// The entry with this id, in any state.
    pub fn get(&self, tx: &mut Tx<'_>, id: EntryId) -> SafResult<Option<Entry>> {
        let sql = format!("SELECT {COLUMNS} FROM {} WHERE id = $1", self.table);
        let row = tx.query_opt(&sql, &[int(id.0, "id")?])?;
        row.as_ref().map(entry).transpose()
    }

    /// Strictly in enqueue order: the oldest pending entries of `destination`, up to the first
    /// one not due yet at `now_ms` (at most `limit`, itself at most [`DUE_LIMIT_MAX`]) — one
    /// waiting for its retry holds back every entry behind it. Expired entries of the
    /// destination are made Dead first, so they hold nothing back.
    pub fn head_of_line(&self, tx: &mut Tx<'_>, destination: &str, now_ms: u64, limit: usize) -> SafResult<Vec<Entry>> {
        let table = self.table;
        tx.execute(
            &format!(
                "UPDATE {table} SET state = $1 WHERE destination = $2 AND state = $3 \
                 AND expires_at_ms IS NOT NULL AND expires_at_ms <= $4"
            ),
            &[
                EntryState::Dead.code().into(),
                destination.into(),
                EntryState::Pending.code().into(),
                int(now_ms, "now_ms")?,
            ],
        )?;
        let rows = tx.query(
            &format!("SELECT {COLUMNS} FROM {table} WHERE destination = $1 AND state = $2 ORDER BY id LIMIT $3"),
            &[destination.into(), EntryState::Pending.code().into(), limit_value(limit)?],
        )?;
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

    /// Every pending, unexpired entry of `destination` due at `now_ms`, oldest first (at most
    /// `limit`, itself at most [`DUE_LIMIT_MAX`]): one waiting for its retry is skipped, not
    /// waited for.
    pub fn due(&self, tx: &mut Tx<'_>, destination: &str, now_ms: u64, limit: usize) -> SafResult<Vec<Entry>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE destination = $1 AND state = $2 AND next_attempt_ms <= $3 \
             AND (expires_at_ms IS NULL OR expires_at_ms > $3) ORDER BY id LIMIT $4",
            self.table
        );
        let params =
            [destination.into(), EntryState::Pending.code().into(), int(now_ms, "now_ms")?, limit_value(limit)?];
        tx.query(&sql, &params)?.iter().map(entry).collect()
    }

    /// A failed attempt of a pending entry at `now_ms`: `attempts += 1` and due again after
    /// [`SafConfig::backoff_ms`]; or Dead once `attempts` reaches [`SafConfig::attempts_max`]
    /// or `now_ms` is at or past its expiry. The state afterwards (an entry already Done or Dead
    /// is left as it is).
    pub fn attempt_failed(
        &self,
        tx: &mut Tx<'_>,
        config: &SafConfig,
        id: EntryId,
        now_ms: u64,
    ) -> SafResult<EntryState> {
        let current = self.get(tx, id)?.ok_or(SafError::NotFound(id))?;
        if current.state != EntryState::Pending {
            return Ok(current.state);
        }
        let (attempts, next, state) = after_failure(config, current.attempts, current.expires_at_ms, now_ms);
        tx.execute(
            &format!("UPDATE {} SET attempts = $2, next_attempt_ms = $3, state = $4 WHERE id = $1", self.table),
            &[int(id.0, "id")?, attempts.into(), int(next, "next_attempt_ms")?, state.code().into()],
        )?;
        Ok(state)
    }

    /// The destination acknowledged the entry: Done. Idempotent; a late acknowledgement of a
    /// Dead entry also makes it Done (the destination has it).
    pub fn acknowledged(&self, tx: &mut Tx<'_>, id: EntryId) -> SafResult<()> {
        self.set_state(tx, id, EntryState::Done)
    }

    /// Give an entry up without sending it (unreadable: a key that changed, a row edited by
    /// hand): Dead, kept for an operator, and no longer holding back the entries behind it.
    pub fn give_up(&self, tx: &mut Tx<'_>, id: EntryId) -> SafResult<()> {
        self.set_state(tx, id, EntryState::Dead)
    }

    fn set_state(&self, tx: &mut Tx<'_>, id: EntryId, state: EntryState) -> SafResult<()> {
        let changed = tx.execute(
            &format!("UPDATE {} SET state = $2 WHERE id = $1", self.table),
            &[int(id.0, "id")?, state.code().into()],
        )?;
        if changed == 0 { Err(SafError::NotFound(id)) } else { Ok(()) }
    }

    /// Turn every pending entry whose expiry is at or before `now_ms` Dead, whether or not it
    /// was ever attempted; how many. ([`SqlQueue::due`] never returns an expired entry, so
    /// without this sweep one never tried would stay pending.)
    pub fn expire(&self, tx: &mut Tx<'_>, now_ms: u64) -> SafResult<u64> {
        let sql = format!(
            "UPDATE {} SET state = $1 WHERE state = $2 AND expires_at_ms IS NOT NULL AND expires_at_ms <= $3",
            self.table
        );
        Ok(tx.execute(
            &sql,
            &[EntryState::Dead.code().into(), EntryState::Pending.code().into(), int(now_ms, "now_ms")?],
        )?)
    }

    /// Entries waiting (pending) and given up (dead) for `destination`, each counted up to
    /// `cap`: two range counts on the `(destination, state, id)` index, never a walk over the
    /// delivered history (which only grows). For a metrics gauge read every few seconds.
    pub fn backlog(&self, tx: &mut Tx<'_>, destination: &str, cap: u64) -> SafResult<(u64, u64)> {
        let sql = format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM {} WHERE destination = $1 AND state = $2 LIMIT $3) AS capped",
            self.table
        );
        let mut count = |state: EntryState| -> SafResult<u64> {
            let rows = tx.query(&sql, &[destination.into(), state.code().into(), int(cap, "cap")?])?;
            Ok(rows.first().map(|row| row.u64(0)).transpose()?.unwrap_or(0))
        };
        Ok((count(EntryState::Pending)?, count(EntryState::Dead)?))
    }

    /// Entries per state: of one destination, or of all.
    pub fn counts(&self, tx: &mut Tx<'_>, destination: Option<&str>) -> SafResult<Counts> {
        let table = self.table;
        let rows = match destination {
            Some(destination) => tx.query(
                &format!("SELECT state, COUNT(*) FROM {table} WHERE destination = $1 GROUP BY state"),
                &[destination.into()],
            )?,
            None => tx.query(&format!("SELECT state, COUNT(*) FROM {table} GROUP BY state"), &[])?,
        };
        let mut counts = Counts::default();
        for row in &rows {
            let count = row.u64(1)?;
            match EntryState::from_code(row.i64(0)?).ok_or(SafError::OutOfRange("state"))? {
                EntryState::Pending => counts.pending = count,
                EntryState::Done => counts.done = count,
                EntryState::Dead => counts.dead = count,
            }
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_must_be_plain_identifiers() {
        let ids = IdSequence { table: "party_sequences", name: "saf" };
        assert!(SqlQueue::new("switch_saf", ids).is_ok());
        assert!(SqlQueue::new("_q2", ids).is_ok());
        for bad in ["", "2q", "Saf", "saf; DROP TABLE x", "saf-q", "saf q", "\"saf\"", "sаf"] {
            assert!(matches!(SqlQueue::new(bad, ids), Err(SafError::BadName(_))), "{bad:?}");
        }
        let long: &'static str = Box::leak("q".repeat(TABLE_NAME_LEN_MAX + 1).into_boxed_str());
        assert!(matches!(SqlQueue::new(long, ids), Err(SafError::BadName(_))));
        let bad_sequence = IdSequence { table: "seq;", name: "saf" };
        assert!(matches!(SqlQueue::new("switch_saf", bad_sequence), Err(SafError::BadName(_))));
    }
}
