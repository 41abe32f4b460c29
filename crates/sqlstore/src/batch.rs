//! [`Database::batch`]: many transactions, one commit.
//!
//! A party's pipeline decides a batch of requests on one thread; each decision calls
//! [`Database::transaction`] as it always does. Inside a batch those transactions run in one
//! open transaction (each undone alone on `Err`: on SQLite by replaying the others' writes,
//! `redo.rs`; on PostgreSQL by a savepoint), which commits once when the batch ends — one fsync for
//! the whole batch. The caller acts on none of the decisions before `batch` returns `Ok`, so
//! durability before acknowledgement holds for every one of them. Other threads wait for the
//! commit before they touch the connection (they never see a decision that is not durable yet).

use crate::append::Deferred;
use crate::error::{Error, Result};
use crate::{Backend, Database, TRANSACTION_ATTEMPTS_MAX, Tx};

pub(crate) const SAVEPOINT: &str = "SAVEPOINT sqlstore_member";
const RELEASE: &str = "RELEASE SAVEPOINT sqlstore_member";
const UNDO: &str = "ROLLBACK TO SAVEPOINT sqlstore_member; RELEASE SAVEPOINT sqlstore_member";

impl Backend {
    fn raw(&mut self, sql: &str) -> Result<()> {
        match self {
            Backend::Sqlite(db) => db.raw(sql),
            Backend::Postgres(db) => db.raw(sql),
        }
    }

    /// Begin a batch's transaction; `sync_later`: its commit leaves the log's sync to `wal_sync`.
    fn begin(&mut self, sync_later: bool) -> Result<()> {
        match self {
            Backend::Sqlite(db) => db.begin_syncing(sync_later),
            Backend::Postgres(db) => {
                db.ensure_connected()?;
                db.raw(crate::pg::PgBackend::BEGIN)
            }
        }
    }

    fn tx(&mut self) -> Tx<'_> {
        match self {
            Backend::Sqlite(db) => db.tx(),
            Backend::Postgres(db) => db.tx(),
        }
    }

    /// One transaction of a batch, undone alone on `Err` (and run again on a serialization
    /// failure or deadlock, as a whole transaction would be) — its appended rows and kept-row
    /// changes with it.
    ///
    /// On SQLite it takes no savepoint: its writes are recorded in the batch's redo log
    /// (`redo.rs`), and when it fails after writing, the batch's transaction rolls back, begins
    /// again and runs the writes of the transactions before it again. A member that only reads
    /// (and appends) has nothing in the database to undo. Once the redo log is full, a member
    /// takes a savepoint before its first statement that may write ([`only_reads`]), as all did
    /// before. On PostgreSQL the savepoint is taken first: a failed statement there aborts the
    /// whole transaction unless a savepoint stands before it.
    pub(crate) fn member<T>(
        &mut self,
        deferred: &mut Deferred,
        work: &mut dyn FnMut(&mut Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        if let Some(why) = &deferred.broken {
            return Err(cannot_commit(why));
        }
        let mark = deferred.mark();
        let sqlite = matches!(self, Backend::Sqlite(_));
        let recording = sqlite && !deferred.redo.full();
        let mut attempt = 0;
        loop {
            attempt += 1;
            if !sqlite {
                self.raw(SAVEPOINT)?;
            }
            // `due` stays true while the deferred savepoint is not taken.
            let mut due = true;
            let result = {
                let mut tx = self.tx();
                tx.deferred = Some(&mut *deferred);
                if recording {
                    tx.recording = true;
                } else if sqlite {
                    tx.savepoint_due = Some(&mut due);
                }
                work(&mut tx)
            };
            let taken = !sqlite || !due;
            if let Backend::Sqlite(db) = &*self
                && db.in_autocommit()
            {
                // SQLite rolled the batch's transaction back under the member (a full disk, an
                // I/O error), whether or not the member went on: it took the batch with it.
                deferred.undo_to(mark);
                return Err(deferred.set_broken(Error::new("batch", "SQLite rolled the batch's transaction back")));
            }
            match result {
                Ok(value) => {
                    if let Err(error) = if taken { self.raw(RELEASE) } else { Ok(()) } {
                        deferred.undo_to(mark);
                        return Err(error);
                    }
                    return Ok(value);
                }
                Err(error) => {
                    let wrote = deferred.redo.len() > mark.redo;
                    deferred.undo_to(mark);
                    let undone = match self {
                        _ if taken => self.raw(UNDO),
                        // A member that wrote without a savepoint is undone by running the batch
                        // again without it (`redo.rs`).
                        Backend::Sqlite(db) if recording && wrote => db.replay(&deferred.redo),
                        _ => Ok(()),
                    };
                    if let Err(undone) = undone {
                        return Err(deferred.set_broken(undone));
                    }
                    if !(error.is_retryable() && attempt < TRANSACTION_ATTEMPTS_MAX) {
                        return Err(error);
                    }
                }
            }
        }
    }
}

/// The error of every member and commit of a batch that cannot commit, and why.
fn cannot_commit(why: &str) -> Error {
    Error::new("batch", format!("the batch can no longer commit: {why}"))
}

/// Whether `sql` can only read: a plain `SELECT` (SQLite has no `SELECT … FOR UPDATE`). Anything
/// else — `UPDATE … RETURNING` through a query, a `WITH` that inserts — may write.
pub(crate) fn only_reads(sql: &str) -> bool {
    sql.trim_start().get(..6).is_some_and(|head| head.eq_ignore_ascii_case("SELECT"))
}

/// A batch open on the thread that opened it: every [`Database::transaction`] that thread makes
/// joins it, until it is committed ([`HeldBatch::commit_then`]) or dropped (rolled back, as on a
/// panic). [`Database::batch`] holds one for the length of its closure; a party's pipeline holds
/// one across rounds of decisions while the previous batch's sync runs ([`Database::hold_batch`]).
pub struct HeldBatch {
    db: Database,
    done: bool,
    /// Committed with `synchronous=NORMAL`, its log synced by `wal_sync` (SQLite files). The
    /// connection stays at that level until a transaction that must sync at commit begins
    /// (`SqliteBackend::begin_syncing`).
    sync_later: bool,
}

impl std::fmt::Debug for HeldBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldBatch").field("sync_later", &self.sync_later).finish_non_exhaustive()
    }
}

impl HeldBatch {
    /// Insert the appended rows and commit (or roll back), and hand the connection to the
    /// threads waiting for it.
    fn end(&mut self, commit: bool) -> Result<()> {
        self.done = true;
        let mut conn = self.db.lock_raw();
        let (writes, rows) = conn.deferred.take();
        let broken = conn.deferred.broken.take();
        let result = if let (true, Some(why)) = (commit, broken) {
            let _ = conn.backend.raw("ROLLBACK");
            Err(cannot_commit(&why))
        } else if commit {
            let mut tx = conn.backend.tx();
            crate::kept::write_all(&mut tx, writes)
                .and_then(|()| crate::append::insert_all(&mut tx, rows))
                .and_then(|()| conn.backend.raw("COMMIT"))
                .map_err(|error| Error::new("commit", error.to_string()))
        } else {
            conn.backend.raw("ROLLBACK")
        };
        if result.is_err() && commit {
            let _ = conn.backend.raw("ROLLBACK");
        }
        conn.batch_owner = None;
        drop(conn);
        self.db.inner.turn.notify_all();
        result
    }

    /// Commit (a power cut armed on this thread rolls back instead and fails). On the thread
    /// that opened the batch only.
    fn commit(&mut self) -> Result<()> {
        if self.db.lock_raw().batch_owner != Some(std::thread::current().id()) {
            return Err(Error::new("commit", "a batch is committed on the thread that opened it"));
        }
        if crate::power_cut::take() {
            self.end(false)?;
            return Err(Error::new("commit", crate::power_cut::MESSAGE));
        }
        self.end(true)
    }

    /// Commit, and run `then` once the commit is durable — as [`Database::batch_then`] does.
    pub fn commit_then(self, then: impl FnOnce() + Send + 'static) -> Result<()> {
        self.commit_and(Box::new(then), false)
    }

    /// [`HeldBatch::commit_then`] for a committer with nothing else to do meanwhile (an idle
    /// party's core: a batch of one event, none waiting): when no sync of the log runs or waits,
    /// the log is synced on this thread and `then` runs here before this returns — no hand-off to
    /// the sync thread and back, two wake-ups across threads fewer per batch. Otherwise as
    /// `commit_then`.
    pub fn commit_then_here(self, then: impl FnOnce() + Send + 'static) -> Result<()> {
        self.commit_and(Box::new(then), true)
    }

    fn commit_and(mut self, then: Box<dyn FnOnce() + Send>, here: bool) -> Result<()> {
        self.commit()?;
        match (self.sync_later, self.db.inner.wal_sync.as_ref()) {
            (true, Some(sync)) if here => sync.sync_here(then),
            (true, Some(sync)) => sync.after_sync(then),
            _ => {
                then();
                Ok(())
            }
        }
    }
}

impl Drop for HeldBatch {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.end(false);
        }
    }
}

impl Database {
    /// Run `work` with every [`Database::transaction`] this thread makes in it joined into one
    /// transaction, committed once at the end: `Ok` only after that commit returned. `Err`:
    /// the commit (or the begin) failed and nothing of `work`'s transactions is durable — the
    /// caller must act on none of them. A batch inside a batch is part of the outer one.
    pub fn batch<T>(&self, work: impl FnOnce() -> T) -> Result<T> {
        let Some(mut held) = self.begin_batch(false)? else { return Ok(work()) };
        let value = work();
        held.commit()?;
        Ok(value)
    }

    /// [`Database::batch`] for a caller that goes on working while the disk catches up: `Ok`
    /// once the batch is committed, and `then` runs with `work`'s value once the commit is
    /// durable — on a SQLite file, later and on the log's sync thread, after every `then`
    /// queued before it (`wal_sync`); in memory and on PostgreSQL, whose commits are durable
    /// when they return, before this returns. `then` never runs if the commit does not become
    /// durable (the database then refuses every later commit). Not inside a batch: `Err`.
    pub fn batch_then<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T,
        then: impl FnOnce(T) + Send + 'static,
    ) -> Result<()> {
        let held = self.hold_batch()?;
        let value = work();
        held.commit_then(move || then(value))
    }

    /// Open a batch on this thread and keep it open until [`HeldBatch::commit_then`]: the
    /// transactions this thread makes meanwhile — over several calls — join it. Committed the
    /// way [`Database::batch_then`] commits. Not inside another batch: `Err`.
    pub fn hold_batch(&self) -> Result<HeldBatch> {
        self.begin_batch(self.inner.wal_sync.is_some())?
            .ok_or_else(|| Error::new("batch", "a batch synced later cannot run inside another batch"))
    }

    /// Begin a batch on this thread; `None` when this thread has one open already.
    fn begin_batch(&self, sync_later: bool) -> Result<Option<HeldBatch>> {
        let me = std::thread::current().id();
        let mut conn = self.lock();
        if conn.batch_owner == Some(me) {
            return Ok(None);
        }
        self.check_synced()?;
        conn.backend.begin(sync_later)?;
        conn.batch_owner = Some(me);
        Ok(Some(HeldBatch { db: self.clone(), done: false, sync_later }))
    }
}

#[cfg(test)]
mod tests {
    use crate::{Database, Error, Value};

    fn table(db: &Database) {
        db.migrate("t", &["CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT NOT NULL)"]).unwrap();
    }

    fn count(db: &Database) -> i64 {
        db.transaction(|tx| tx.query("SELECT COUNT(*) FROM t", &[])?[0].i64(0)).unwrap()
    }

    fn insert(db: &Database, id: i64) -> crate::Result<()> {
        db.transaction(|tx| tx.execute("INSERT INTO t (id, v) VALUES ($1, 'x')", &[Value::Int(id)]).map(|_| ()))
    }

    #[test]
    fn a_failing_member_undoes_only_its_own_writes() {
        let db = Database::open("sqlite::memory:").unwrap();
        table(&db);
        let results = db
            .batch(|| {
                let first = insert(&db, 1);
                let failing = db.transaction(|tx| {
                    tx.execute("INSERT INTO t (id, v) VALUES (2, 'y')", &[])?;
                    Err::<(), _>(Error::new("test", "refused"))
                });
                let duplicate = insert(&db, 1);
                let third = insert(&db, 3);
                (first, failing, duplicate, third)
            })
            .unwrap();
        assert!(results.0.is_ok() && results.3.is_ok());
        assert!(results.1.is_err() && results.2.is_err());
        assert_eq!(count(&db), 2, "rows 1 and 3 only");
    }

    #[test]
    fn a_member_that_reads_before_it_writes_still_undoes_its_writes() {
        let db = Database::open("sqlite::memory:").unwrap();
        table(&db);
        insert(&db, 1).unwrap();
        let results = db
            .batch(|| {
                let reads_only =
                    db.transaction(|tx| tx.query("SELECT v FROM t WHERE id = 1", &[]).map(|rows| rows.len()));
                let reads_then_writes = db.transaction(|tx| {
                    assert_eq!(tx.query(" select COUNT(*) FROM t", &[])?[0].i64(0)?, 1);
                    tx.execute("INSERT INTO t (id, v) VALUES (2, 'y')", &[])?;
                    tx.query("UPDATE t SET v = 'z' WHERE id = 1 RETURNING id", &[])?;
                    tx.query("SELECT nothing FROM t", &[])
                });
                let failing_read = db.transaction(|tx| tx.query("SELECT nothing FROM t", &[]));
                let writes = insert(&db, 3);
                (reads_only, reads_then_writes, failing_read, writes)
            })
            .unwrap();
        assert_eq!(results.0.unwrap(), 1);
        assert!(results.1.is_err() && results.2.is_err());
        assert!(results.3.is_ok(), "a failed read leaves the batch usable");
        assert_eq!(ids(&db), [1, 3], "row 2 undone");
        let v = db.transaction(|tx| tx.query("SELECT v FROM t WHERE id = 1", &[])?[0].text(0));
        assert_eq!(v.unwrap(), "x", "the update through a query undone too");
    }

    #[test]
    fn only_a_plain_select_counts_as_a_read() {
        assert!(super::only_reads("SELECT 1") && super::only_reads("  select v FROM t"));
        assert!(!super::only_reads("UPDATE t SET v = 1 RETURNING id"));
        assert!(!super::only_reads("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x"));
        assert!(!super::only_reads("INSERT INTO t VALUES (1)") && !super::only_reads("SEL"));
    }

    #[test]
    fn one_commit_makes_a_file_batch_visible_to_another_connection() {
        let dir = std::env::temp_dir().join(format!("sqlstore-batch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("batch.db");
        let db = Database::open_sqlite(&path).unwrap();
        table(&db);
        // A plain reader (a party's transactions all write, so they would wait for the lock).
        let reader = rusqlite::Connection::open(&path).unwrap();
        let visible = || reader.query_row("SELECT COUNT(*) FROM t", [], |row| row.get::<_, i64>(0)).unwrap();
        db.batch(|| {
            for id in 0..50 {
                insert(&db, id).unwrap();
            }
            // Not committed yet: another connection sees nothing of it.
            assert_eq!(visible(), 0);
        })
        .unwrap();
        assert_eq!(visible(), 50);
        drop((db, reader));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn other_threads_wait_for_the_batch_commit() {
        let db = Database::open("sqlite::memory:").unwrap();
        table(&db);
        let (started_tx, started) = std::sync::mpsc::channel();
        let seen = std::thread::scope(|scope| {
            let db2 = db.clone();
            db.batch(|| {
                insert(&db, 1).unwrap();
                let waiter = scope.spawn(move || {
                    started_tx.send(()).unwrap();
                    // Blocks until the batch has committed, then sees its row.
                    count(&db2)
                });
                started.recv().unwrap();
                std::thread::sleep(std::time::Duration::from_millis(50));
                insert(&db, 2).unwrap();
                waiter
            })
            .unwrap()
            .join()
            .unwrap()
        });
        assert_eq!(seen, 2);
    }

    #[test]
    fn a_panic_in_a_batch_rolls_it_back_and_frees_the_connection() {
        let db = Database::open("sqlite::memory:").unwrap();
        table(&db);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            db.batch(|| {
                insert(&db, 1).unwrap();
                panic!("a bug in the core");
            })
        }));
        assert!(panicked.is_err());
        assert_eq!(count(&db), 0);
        insert(&db, 2).unwrap();
        assert_eq!(count(&db), 1);
    }

    static LOG: crate::AppendLog = crate::AppendLog::new("t", &["id", "v"]);

    fn append(db: &Database, id: i64) -> crate::Result<()> {
        db.transaction(|tx| tx.append(&LOG, vec![Value::Int(id), Value::Text(format!("row {id}"))]))
    }

    fn ids(db: &Database) -> Vec<i64> {
        db.transaction(|tx| tx.query("SELECT id FROM t ORDER BY id", &[])?.iter().map(|row| row.i64(0)).collect())
            .unwrap()
    }

    #[test]
    fn appended_rows_go_in_before_the_commit_without_those_of_undone_members() {
        let db = Database::open("sqlite::memory:").unwrap();
        table(&db);
        append(&db, 1000).unwrap();
        assert_eq!(ids(&db), [1000], "outside a batch: at once");
        let seen_inside = db
            .batch(|| {
                for id in 0..45 {
                    append(&db, id).unwrap();
                }
                let undone = db.transaction(|tx| {
                    tx.append(&LOG, vec![Value::Int(500), "undone".into()])?;
                    Err::<(), _>(Error::new("test", "refused"))
                });
                assert!(undone.is_err());
                assert!(append(&db, 46).is_ok());
                ids(&db).len()
            })
            .unwrap();
        assert_eq!(seen_inside, 1, "not read inside the batch");
        let mut expected: Vec<i64> = (0..45).chain([46, 1000]).collect();
        expected.sort_unstable();
        assert_eq!(ids(&db), expected);
        let text = db.transaction(|tx| tx.query_opt("SELECT v FROM t WHERE id = 33", &[])).unwrap().unwrap();
        assert_eq!(text.text(0).unwrap(), "row 33");
        let wrong = db.transaction(|tx| tx.append(&LOG, vec![Value::Int(1)]));
        assert!(wrong.is_err(), "a row as wide as its log");
    }

    #[test]
    fn an_appended_row_that_cannot_go_in_fails_the_whole_batch() {
        let db = Database::open("sqlite::memory:").unwrap();
        table(&db);
        insert(&db, 7).unwrap();
        let result = db.batch(|| {
            insert(&db, 8).unwrap();
            append(&db, 9).unwrap();
            // Taken already: only the insert at the batch's end finds out.
            append(&db, 7).unwrap();
        });
        assert!(result.is_err());
        assert_eq!(ids(&db), [7], "nothing of the batch");
        db.batch(|| append(&db, 10).unwrap()).unwrap();
        assert_eq!(ids(&db), [7, 10], "the next batch starts clean");
    }

    #[test]
    fn batches_nest_into_the_outer_one() {
        let db = Database::open("sqlite::memory:").unwrap();
        table(&db);
        db.batch(|| db.batch(|| insert(&db, 1)).unwrap()).unwrap().unwrap();
        assert_eq!(count(&db), 1);
    }
}
