//! A SQLite batch's writes, kept so that undoing one of its transactions needs no savepoint.
//!
//! A savepoint per decision made SQLite copy every page a decision touched into the statement
//! sub-journal, once per decision, and ran a `SAVEPOINT` and a `RELEASE` statement around it:
//! 5–9 % of a party core's CPU (docs/benchmarks.md), for an undo that almost never happens.
//! Instead, every write a batch's transactions made that succeeded is recorded here: its
//! statement and parameters, in order. When a transaction fails after it wrote, the whole batch
//! transaction rolls back, begins again, and the writes of the transactions before it run again
//! ([`crate::sqlite::SqliteBackend::replay`]).
//!
//! Why that restores what a savepoint would have: the replayed statements run in the same
//! order from the same starting state (the batch's `BEGIN`: no other connection committed
//! while the write lock was let go, or the batch fails — `SqliteBackend::replay` compares the
//! database's data version), and a statement's effect depends only on that state and its
//! parameters. The store's SQL uses no clock, random or other
//! non-deterministic function (its ids come from the caller or from sequences, which are rows
//! updated by these same statements), so each one changes the same rows in the same way again.
//! A statement that failed is not recorded: it changed nothing (SQLite undoes a failed
//! statement), whether or not its transaction went on.
//!
//! The log holds at most [`REDO_STATEMENTS_MAX`] statements; past it, the batch's later
//! transactions take a savepoint each, as before (`crate::batch`).

use crate::Value;

/// Writes one batch records at most (a party's batch of 512 decisions writes a few thousand).
pub(crate) const REDO_STATEMENTS_MAX: usize = 16_384;

/// One recorded write.
pub(crate) struct Statement {
    pub(crate) sql: Box<str>,
    pub(crate) params: Vec<Value>,
    /// It ran as a query (`UPDATE … RETURNING`): replayed as one, its rows dropped.
    pub(crate) query: bool,
}

/// The writes of a batch's transactions that succeeded, in order.
#[derive(Default)]
pub(crate) struct Redo {
    statements: Vec<Statement>,
}

impl Redo {
    pub(crate) fn len(&self) -> usize {
        self.statements.len()
    }

    /// No room for another transaction's writes: it takes a savepoint instead.
    pub(crate) fn full(&self) -> bool {
        self.statements.len() >= REDO_STATEMENTS_MAX
    }

    pub(crate) fn record(&mut self, sql: &str, params: &[Value], query: bool) {
        self.statements.push(Statement { sql: sql.into(), params: params.to_vec(), query });
    }

    /// Forget the writes after the first `len` (their transaction failed).
    pub(crate) fn truncate(&mut self, len: usize) {
        self.statements.truncate(len);
    }

    pub(crate) fn clear(&mut self) {
        self.statements.clear();
    }

    pub(crate) fn statements(&self) -> &[Statement] {
        &self.statements
    }
}

#[cfg(test)]
mod tests {
    use super::REDO_STATEMENTS_MAX;
    use crate::{Database, Error, Value};

    fn database(path: &str) -> Database {
        let db = Database::open(path).unwrap();
        db.migrate(
            "t",
            &[
                "CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT NOT NULL)",
                "CREATE TABLE counter (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
                "INSERT INTO counter (name, value) VALUES ('n', 0)",
            ],
        )
        .unwrap();
        db
    }

    fn insert(tx: &mut crate::Tx<'_>, id: i64) -> crate::Result<()> {
        tx.execute("INSERT INTO t (id, v) VALUES ($1, 'x')", &[Value::Int(id)]).map(drop)
    }

    /// Take the next counter value the way a sequence does: a write through a query.
    fn bump(tx: &mut crate::Tx<'_>) -> crate::Result<i64> {
        tx.query("UPDATE counter SET value = value + 1 WHERE name = 'n' RETURNING value", &[])?[0].i64(0)
    }

    fn state(db: &Database) -> (Vec<i64>, i64) {
        db.transaction(|tx| {
            let ids =
                tx.query("SELECT id FROM t ORDER BY id", &[])?.iter().map(|r| r.i64(0)).collect::<Result<_, _>>()?;
            let counter = tx.query("SELECT value FROM counter", &[])?[0].i64(0)?;
            Ok((ids, counter))
        })
        .unwrap()
    }

    #[test]
    fn an_undone_member_runs_the_writes_before_it_again_and_nothing_else() {
        let db = database("sqlite::memory:");
        let (first, caught, failing, after) = db
            .batch(|| {
                let first = db.transaction(|tx| {
                    insert(tx, 1)?;
                    bump(tx)
                });
                // A statement that fails changes nothing: its member goes on, and the failed
                // statement is not run again (it would fail the replay).
                let caught = db.transaction(|tx| {
                    assert!(insert(tx, 1).unwrap_err().is_unique_violation());
                    insert(tx, 5)?;
                    bump(tx)
                });
                let failing = db.transaction(|tx| {
                    insert(tx, 2)?;
                    bump(tx)?;
                    Err::<(), _>(Error::new("test", "refused"))
                });
                let after = db.transaction(|tx| {
                    insert(tx, 3)?;
                    bump(tx)
                });
                (first, caught, failing, after)
            })
            .unwrap();
        assert_eq!((first.unwrap(), caught.unwrap()), (1, 2));
        assert!(failing.is_err());
        assert_eq!(after.unwrap(), 3, "the undone member's counter value is taken again");
        assert_eq!(state(&db), (vec![1, 3, 5], 3));
    }

    #[test]
    fn a_member_undone_twice_in_a_row() {
        let db = database("sqlite::memory:");
        let results = db
            .batch(|| {
                let kept = db.transaction(|tx| insert(tx, 1));
                let undone = db.transaction(|tx| {
                    insert(tx, 2)?;
                    Err::<(), _>(Error::new("test", "refused"))
                });
                let undone_again = db.transaction(|tx| {
                    insert(tx, 2)?;
                    Err::<(), _>(Error::new("test", "refused"))
                });
                let last = db.transaction(|tx| insert(tx, 4));
                (kept, undone, undone_again, last)
            })
            .unwrap();
        assert!(results.0.is_ok() && results.3.is_ok());
        assert!(results.1.is_err() && results.2.is_err());
        assert_eq!(state(&db).0, [1, 4]);
    }

    #[test]
    fn a_transaction_sqlite_rolled_back_by_itself_fails_the_batch() {
        let db = database("sqlite::memory:");
        let (mut gone, mut later) = (None, None);
        let committed = db.batch(|| {
            db.transaction(|tx| insert(tx, 1)).unwrap();
            // As SQLite does on a full disk or an I/O error: the whole transaction is gone, and
            // with it the write lock, at a moment nobody noted.
            gone = Some(db.transaction(|tx| {
                tx.execute("ROLLBACK", &[])?;
                Err::<(), _>(Error::new("test", "rolled back"))
            }));
            later = Some(db.transaction(|tx| insert(tx, 2)));
        });
        assert!(gone.unwrap().unwrap_err().to_string().contains("rolled the batch's transaction back"));
        assert!(later.unwrap().unwrap_err().to_string().contains("can no longer commit"));
        assert!(committed.is_err());
        assert_eq!(state(&db).0, Vec::<i64>::new(), "nothing of the batch, and nothing committed alone");
    }

    #[test]
    fn a_commit_by_another_connection_under_a_replay_fails_the_batch() {
        let dir = std::env::temp_dir().join(format!("sqlstore-redo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.sqlite");
        let db = database(path.to_str().unwrap());
        let other = Database::open(path.to_str().unwrap()).unwrap();
        let (mut undone, mut later) = (None, None);
        let committed = db.batch(|| {
            db.transaction(|tx| insert(tx, 1)).unwrap();
            crate::sqlite::BETWEEN_ROLLBACK_AND_BEGIN.with(|hook| {
                *hook.borrow_mut() = Some(Box::new(move || {
                    other.transaction(|tx| insert(tx, 10)).unwrap();
                }));
            });
            undone = Some(db.transaction(|tx| {
                insert(tx, 2)?;
                Err::<(), _>(Error::new("test", "refused"))
            }));
            later = Some(db.transaction(|tx| insert(tx, 3)));
        });
        assert!(undone.unwrap().unwrap_err().to_string().contains("another connection"));
        assert!(later.unwrap().unwrap_err().to_string().contains("can no longer commit"));
        assert!(committed.unwrap_err().to_string().contains("can no longer commit"));
        assert_eq!(state(&db).0, [10], "only the other connection's row; nothing of the batch");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_member_that_goes_on_after_sqlite_rolled_back_fails_the_batch() {
        let db = database("sqlite::memory:");
        let mut went_on = None;
        let committed = db.batch(|| {
            db.transaction(|tx| insert(tx, 1)).unwrap();
            went_on = Some(db.transaction(|tx| {
                tx.execute("ROLLBACK", &[])?;
                // Outside any transaction now: this row would commit on its own.
                insert(tx, 2)
            }));
        });
        assert!(went_on.unwrap().is_err() && committed.is_err());
        assert_eq!(state(&db).0, [2], "the row the member wrote alone; nothing of the batch");
    }

    #[test]
    fn past_the_log_s_bound_members_take_savepoints() {
        let db = database("sqlite::memory:");
        let count = i64::try_from(REDO_STATEMENTS_MAX).unwrap();
        let (undone, after) = db
            .batch(|| {
                for id in 0..count {
                    db.transaction(|tx| insert(tx, 100 + id)).unwrap();
                }
                let undone = db.transaction(|tx| {
                    insert(tx, 1)?;
                    Err::<(), _>(Error::new("test", "refused"))
                });
                (undone, db.transaction(|tx| insert(tx, 2)))
            })
            .unwrap();
        assert!(undone.is_err() && after.is_ok());
        let ids = state(&db).0;
        assert_eq!(ids.len(), REDO_STATEMENTS_MAX + 1);
        assert_eq!((ids[0], ids[1]), (2, 100), "row 1 undone by its savepoint");
    }
}
