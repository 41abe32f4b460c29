//! Rows a batch keeps by key: read once, changed in memory, written once at the batch's end.
//!
//! A row that many of a batch's transactions read and change — the ledger's settlement account
//! and its highest timestamp, changed by every hold — cost a read and an update per transaction,
//! and every update copied the row's page into that transaction's savepoint. Kept, the batch
//! reads it once ([`crate::Tx::keep`]), its transactions see and change the kept row
//! ([`crate::Tx::kept`], [`crate::Tx::update_kept`]), and one update per row goes in at the
//! batch's end, in its transaction, before its commit, beside the appended rows.
//!
//! The rule that keeps this correct: every read of a kept table inside a batch asks for the kept
//! row first, and a query that reads the table whole writes the kept rows out first
//! ([`crate::Tx::flush_kept`]). No other connection changes the row meanwhile: the batch holds
//! the write lock (SQLite's `BEGIN IMMEDIATE`; on PostgreSQL the caller reads a kept row under
//! a lock that serialises its writers, as the ledger does with `ledger_meta … FOR UPDATE`).
//! A transaction that is undone undoes its changes to kept rows with it.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::{Row, Tx, Value};

/// Rows kept by one batch at most: beyond it a kept row is written at once, as outside a batch.
pub(crate) const KEPT_ROWS_MAX: usize = 4_096;

/// A kept row's identity: its table (any name the caller keeps apart) and key.
type Key = (&'static str, Vec<u8>);

/// The update that writes a kept row's last state at the batch's end.
#[derive(Clone)]
pub(crate) struct Write {
    sql: &'static str,
    params: Vec<Value>,
    /// The update must change exactly one row (the row was read, so it exists).
    one_row: bool,
}

#[derive(Clone)]
struct Entry {
    row: Row,
    write: Option<Write>,
}

/// A batch's kept rows, and how to undo each transaction's changes to them.
#[derive(Default)]
pub(crate) struct Kept {
    rows: HashMap<Key, Entry>,
    /// Each change's key and the entry it replaced, in order: undone from the end.
    undo: Vec<(Key, Option<Entry>)>,
}

impl Kept {
    /// How far the undo log reaches: a transaction's changes are those after its mark.
    pub(crate) fn mark(&self) -> usize {
        self.undo.len()
    }

    /// Undo every change made after `mark`.
    pub(crate) fn undo_to(&mut self, mark: usize) {
        while self.undo.len() > mark {
            let Some((key, previous)) = self.undo.pop() else { break };
            match previous {
                Some(entry) => self.rows.insert(key, entry),
                None => self.rows.remove(&key),
            };
        }
    }

    pub(crate) fn get(&self, table: &'static str, key: &[u8]) -> Option<&Row> {
        // A borrowed `(&str, &[u8])` cannot look up a `(&str, Vec<u8>)` key: build the key.
        self.rows.get(&(table, key.to_vec())).map(|entry| &entry.row)
    }

    fn full(&self) -> bool {
        self.rows.len() >= KEPT_ROWS_MAX
    }

    fn set(&mut self, key: Key, entry: Entry) {
        let previous = self.rows.insert(key.clone(), entry);
        self.undo.push((key, previous));
    }

    /// The updates of the changed rows, in key order (the same order every run). They stay
    /// due: a flush before the batch's end writes them, and an undone transaction may undo
    /// what the flush wrote, so the batch's end writes them again (each sets a whole state,
    /// so writing it twice is writing it once).
    pub(crate) fn writes(&self) -> Vec<Write> {
        let mut changed: Vec<(&Key, &Write)> =
            self.rows.iter().filter_map(|(key, entry)| Some((key, entry.write.as_ref()?))).collect();
        changed.sort_by(|a, b| a.0.cmp(b.0));
        changed.into_iter().map(|(_, write)| write.clone()).collect()
    }

    /// Forget everything (the batch ended).
    pub(crate) fn clear(&mut self) {
        self.rows.clear();
        self.undo.clear();
    }
}

/// Run `writes` in `tx`.
pub(crate) fn write_all(tx: &mut Tx<'_>, writes: Vec<Write>) -> Result<()> {
    for write in writes {
        let changed = tx.execute(write.sql, &write.params)?;
        if write.one_row && changed != 1 {
            return Err(Error::new("kept row", format!("{} changed {changed} rows, not one", first_words(write.sql))));
        }
    }
    Ok(())
}

/// The statement's head, to name it in an error without its parameters.
fn first_words(sql: &str) -> String {
    sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

impl Tx<'_> {
    /// The row this batch keeps under `table` and `key`, as it stands in the batch; `None`
    /// outside a batch or when the batch has not kept it (read it, then [`Tx::keep`] it).
    pub fn kept(&self, table: &'static str, key: &[u8]) -> Option<Row> {
        self.deferred.as_deref()?.kept.get(table, key).cloned()
    }

    /// Keep `row`, just read from (or written to) the database, for the rest of the batch
    /// (nothing outside a batch). A row the batch changed and has not written yet stays as the
    /// batch changed it: the table does not have that state yet.
    pub fn keep(&mut self, table: &'static str, key: &[u8], row: Row) {
        let Some(deferred) = self.deferred.as_deref_mut() else { return };
        let key = (table, key.to_vec());
        let changed = deferred.kept.rows.get(&key).is_some_and(|entry| entry.write.is_some());
        if !changed && !deferred.kept.full() {
            deferred.kept.set(key, Entry { row, write: None });
        }
    }

    /// Change a row to `row`, written by `sql` with `params`: inside a batch the row is kept so
    /// and the update runs once at the batch's end (a later change of the same row replaces
    /// it); outside one, or when the batch keeps as many rows as it may, it runs now. The update
    /// must set the row's whole changed state (run twice, it leaves what it left once).
    /// `one_row`: it must change exactly one row.
    pub fn update_kept(
        &mut self,
        table: &'static str,
        key: &[u8],
        row: Row,
        sql: &'static str,
        params: Vec<Value>,
        one_row: bool,
    ) -> Result<()> {
        let write = Write { sql, params, one_row };
        match self.deferred.as_deref_mut() {
            Some(deferred) if !deferred.kept.full() || deferred.kept.get(table, key).is_some() => {
                deferred.kept.set((table, key.to_vec()), Entry { row, write: Some(write) });
                Ok(())
            }
            _ => write_all(self, vec![write]),
        }
    }

    /// Write the batch's changed kept rows now (they stay kept): before a query that reads a
    /// kept table other than through [`Tx::kept`].
    pub fn flush_kept(&mut self) -> Result<()> {
        let writes = match self.deferred.as_deref() {
            Some(deferred) => deferred.kept.writes(),
            None => return Ok(()),
        };
        write_all(self, writes)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Database, Error, Row, Tx, Value};

    const TABLE: &str = "accounts";
    const SET: &str = "UPDATE accounts SET balance = $2 WHERE id = $1";

    fn database() -> Database {
        let db = Database::open("sqlite::memory:").unwrap();
        db.migrate("t", &["CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL)"]).unwrap();
        db.transaction(|tx| tx.execute("INSERT INTO accounts (id, balance) VALUES (1, 100), (2, 0)", &[])).unwrap();
        db
    }

    /// The balance as the batch sees it: kept, else read and kept.
    fn balance(tx: &mut Tx<'_>, id: i64) -> crate::Result<i64> {
        let key = id.to_be_bytes();
        if let Some(row) = tx.kept(TABLE, &key) {
            return row.i64(0);
        }
        let row = tx.query_opt("SELECT balance FROM accounts WHERE id = $1", &[Value::Int(id)])?.expect("an account");
        tx.keep(TABLE, &key, row.clone());
        row.i64(0)
    }

    /// Move `amount` from account 1 to 2 through the kept rows.
    fn transfer(db: &Database, amount: i64) -> crate::Result<()> {
        db.transaction(|tx| {
            for (id, delta) in [(1, -amount), (2, amount)] {
                let new = balance(tx, id)? + delta;
                let params = vec![Value::Int(id), Value::Int(new)];
                tx.update_kept(TABLE, &id.to_be_bytes(), Row::new(vec![Value::Int(new)]), SET, params, true)?;
            }
            Ok(())
        })
    }

    /// The balances in the table (not the kept ones).
    fn stored(db: &Database) -> Vec<i64> {
        db.transaction(|tx| {
            tx.query("SELECT balance FROM accounts ORDER BY id", &[])?.iter().map(|row| row.i64(0)).collect()
        })
        .unwrap()
    }

    #[test]
    fn a_batch_reads_and_writes_a_kept_row_once_and_an_undone_member_takes_its_change_back() {
        let db = database();
        transfer(&db, 1).unwrap();
        assert_eq!(stored(&db), [99, 1], "outside a batch: written at once");
        let inside = db
            .batch(|| {
                transfer(&db, 10).unwrap();
                let undone = db.transaction(|tx| {
                    let new = balance(tx, 1)? - 50;
                    let row = Row::new(vec![Value::Int(new)]);
                    tx.update_kept(TABLE, &1i64.to_be_bytes(), row, SET, vec![Value::Int(1), Value::Int(new)], true)?;
                    Err::<(), _>(Error::new("test", "refused after changing a kept row"))
                });
                assert!(undone.is_err());
                transfer(&db, 5).unwrap();
                let seen = db.transaction(|tx| Ok((balance(tx, 1)?, balance(tx, 2)?))).unwrap();
                (seen, stored(&db))
            })
            .unwrap();
        assert_eq!(inside.0, (84, 16), "the batch sees its kept rows, without the undone change");
        assert_eq!(inside.1, [99, 1], "the table is written at the batch's end");
        assert_eq!(stored(&db), [84, 16]);
    }

    #[test]
    fn a_flush_writes_now_and_an_undone_member_after_it_loses_nothing() {
        let db = database();
        db.batch(|| {
            transfer(&db, 10).unwrap();
            // A member that writes the kept rows out, then fails: its undo takes the flush back,
            // and the batch's end writes the rows again.
            let undone = db.transaction(|tx| {
                tx.flush_kept()?;
                let sum = tx.query_opt("SELECT SUM(balance) FROM accounts WHERE id = 1", &[])?.expect("a sum");
                assert_eq!(sum.i64(0)?, 90, "written before the query");
                Err::<(), _>(Error::new("test", "refused after a flush"))
            });
            assert!(undone.is_err());
            assert_eq!(stored(&db), [100, 0], "the flush was undone with its member");
        })
        .unwrap();
        assert_eq!(stored(&db), [90, 10]);
    }

    #[test]
    fn keeping_a_row_read_again_does_not_lose_a_change_not_yet_written() {
        let db = database();
        db.batch(|| {
            transfer(&db, 10).unwrap();
            db.transaction(|tx| {
                let stale = tx.query_opt("SELECT balance FROM accounts WHERE id = 1", &[])?.expect("an account");
                tx.keep(TABLE, &1i64.to_be_bytes(), stale);
                assert_eq!(balance(tx, 1)?, 90, "the batch's change stands");
                Ok(())
            })
            .unwrap();
        })
        .unwrap();
        assert_eq!(stored(&db), [90, 10]);
    }

    #[test]
    fn a_kept_update_that_finds_no_row_fails_the_batch() {
        let db = database();
        let result = db.batch(|| {
            transfer(&db, 10).unwrap();
            db.transaction(|tx| {
                let params = vec![Value::Int(9), Value::Int(1)];
                tx.update_kept(TABLE, &9i64.to_be_bytes(), Row::new(vec![Value::Int(1)]), SET, params, true)
            })
            .unwrap();
        });
        assert!(result.is_err(), "an account to update is missing");
        assert_eq!(stored(&db), [100, 0], "nothing of the batch");
        transfer(&db, 1).unwrap();
        assert_eq!(stored(&db), [99, 1], "the next transaction starts clean");
    }
}
