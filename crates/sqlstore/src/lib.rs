//! One SQL code path for a party's own database: embedded SQLite by default, PostgreSQL by
//! configuration.
//!
//! Parties (switch journal, issuer cards, acquirer registries) write the same SQL for both
//! backends: `$1, $2, …` placeholders (rewritten to `?1, ?2, …` for SQLite), portable types in
//! DDL (`BIGINT`, `TEXT`, `BLOB` — `BLOB` becomes `BYTEA` on PostgreSQL), ids assigned by the
//! caller; aggregates that PostgreSQL widens to NUMERIC are cast back:
//! `CAST(SUM(amount) AS BIGINT)`. Every [`Database::transaction`] commits durably before it returns (SQLite: WAL with
//! `synchronous=FULL`; PostgreSQL: a committed transaction), so a party can answer a request
//! only after the record of its decision is on disk.
//!
//! [`Database::batch`] joins many transactions into one commit (a party pipeline's batch). The
//! ledger has its own specialised stores (`crates/ledger`) for the standalone ledger, and runs
//! inside a party's database through this crate when the party keeps its money there (the
//! issuer).
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod append;
pub mod backup;
mod batch;
mod ddl;
mod drop_off_thread;
mod error;
mod kept;
mod owner_only;
// The page-cache wrapper is FFI to SQLite's C API: the crate's only `unsafe` (see Cargo.toml).
#[allow(unsafe_code)]
pub mod page_cache;
mod pg;
pub mod power_cut;
mod redo;
pub mod sequence;
mod sqlite;
mod value;
mod wal_sync;

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::ThreadId;

pub use append::AppendLog;
pub use batch::HeldBatch;
pub use drop_off_thread::DropOffThread;
pub use error::{Error, Result};
pub use owner_only::prepare_sqlite_file;
pub use value::{Row, Value};
pub use wal_sync::WAL_SYNC_WAITING_MAX;

/// Attempts of one transaction on PostgreSQL when it fails with a serialization failure or a
/// deadlock (the closure runs again from the start each time).
pub const TRANSACTION_ATTEMPTS_MAX: usize = 8;

/// A party's database: cheap to clone, usable from any thread (one connection behind a mutex:
/// parties write small transactions and the mutex keeps SQLite single-writer anyway).
#[derive(Clone)]
pub struct Database {
    inner: Arc<Shared>,
    kind: BackendKind,
}

/// The connection, and the turn of threads waiting while another thread's batch holds it
/// ([`Database::batch`]).
struct Shared {
    conn: Mutex<Conn>,
    turn: Condvar,
    /// A SQLite file's log sync thread, for [`Database::batch_then`]; `None` in memory and on
    /// PostgreSQL, whose commits are durable when they return.
    wal_sync: Option<wal_sync::WalSync>,
}

struct Conn {
    backend: Backend,
    /// Rows appended inside the open batch, inserted before its commit ([`Tx::append`]).
    deferred: append::Deferred,
    /// The thread whose [`Database::batch`] has a transaction open on the connection: its
    /// transactions run inside it, everyone else's wait for its commit.
    batch_owner: Option<ThreadId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Sqlite,
    Postgres,
}

enum Backend {
    Sqlite(sqlite::SqliteBackend),
    // Boxed: the PostgreSQL client is much larger than a SQLite connection.
    Postgres(Box<pg::PgBackend>),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("kind", &self.kind).finish_non_exhaustive()
    }
}

impl Database {
    /// Open by URL: `sqlite:PATH`, `sqlite::memory:`, a bare file path (SQLite), or
    /// `postgres://…#SCHEMA` / `postgresql://…#SCHEMA` (the part after `#` names the schema,
    /// created if missing; `public` without one).
    pub fn open(url: &str) -> Result<Database> {
        if let Some(rest) = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://")) {
            let scheme_len = url.len() - rest.len();
            let (conn, schema) = match url.rsplit_once('#') {
                Some((conn, schema)) if conn.len() >= scheme_len => (conn, schema),
                _ => (url, "public"),
            };
            return Database::connect_postgres(conn, schema);
        }
        let path = url.strip_prefix("sqlite:").unwrap_or(url);
        if path == ":memory:" {
            return Ok(Database::from_backend(Backend::Sqlite(sqlite::SqliteBackend::memory()?), BackendKind::Sqlite));
        }
        Database::open_sqlite(Path::new(path))
    }

    /// Open another process's database by URL to read it while it runs (the console): SQLite
    /// read-only — the file must exist, nothing is created or migrated, and transactions begin
    /// deferred, so the reader takes no write lock and never delays the owner's commits (WAL
    /// readers see the last commit); a write is refused. PostgreSQL as [`Database::open`] (its
    /// readers never block writers).
    pub fn open_reader(url: &str) -> Result<Database> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Database::open(url);
        }
        let path = url.strip_prefix("sqlite:").unwrap_or(url);
        let backend = sqlite::SqliteBackend::open_reader(Path::new(path))?;
        Ok(Database::from_backend(Backend::Sqlite(backend), BackendKind::Sqlite))
    }

    /// A SQLite file (created if missing, owner-only) in WAL mode with `synchronous=FULL`.
    pub fn open_sqlite(path: &Path) -> Result<Database> {
        let backend = Backend::Sqlite(sqlite::SqliteBackend::open(path)?);
        Ok(Database::with_wal_sync(backend, BackendKind::Sqlite, Some(wal_sync::WalSync::new(path))))
    }

    /// A PostgreSQL database (`url` without TLS), working in `schema` (created if missing).
    pub fn connect_postgres(url: &str, schema: &str) -> Result<Database> {
        Ok(Database::from_backend(
            Backend::Postgres(Box::new(pg::PgBackend::connect(url, schema)?)),
            BackendKind::Postgres,
        ))
    }

    fn from_backend(backend: Backend, kind: BackendKind) -> Database {
        Database::with_wal_sync(backend, kind, None)
    }

    fn with_wal_sync(backend: Backend, kind: BackendKind, wal_sync: Option<wal_sync::WalSync>) -> Database {
        let conn = Conn { backend, deferred: append::Deferred::default(), batch_owner: None };
        Database { inner: Arc::new(Shared { conn: Mutex::new(conn), turn: Condvar::new(), wal_sync }), kind }
    }

    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    /// `Err` once a sync of the log has failed ([`Database::batch_then`]): nothing more commits.
    fn check_synced(&self) -> Result<()> {
        self.inner.wal_sync.as_ref().map_or(Ok(()), wal_sync::WalSync::check)
    }

    /// The connection, whoever's batch holds it.
    fn lock_raw(&self) -> MutexGuard<'_, Conn> {
        self.inner.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The connection, once no other thread's batch holds it.
    fn lock(&self) -> MutexGuard<'_, Conn> {
        // A panic while holding the lock leaves the connection usable: every transaction is
        // rolled back when its guard drops, so the poison flag carries no meaning here.
        let mut conn = self.lock_raw();
        let me = std::thread::current().id();
        while conn.batch_owner.is_some_and(|owner| owner != me) {
            conn = self.inner.turn.wait(conn).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        conn
    }

    /// Apply `statements` once under `name` (recorded in a `sqlstore_migrations` table), in
    /// one transaction. DDL is written portably: `BLOB` is rewritten to `BYTEA` on PostgreSQL,
    /// `BIGINT PRIMARY KEY` to `INTEGER PRIMARY KEY` on SQLite (the rowid itself, see `ddl`).
    pub fn migrate(&self, name: &str, statements: &[&str]) -> Result<()> {
        let kind = self.kind;
        self.migrate_with(name, |tx| {
            for statement in statements {
                tx.execute(&ddl::dialect(kind, statement), &[])?;
            }
            Ok(())
        })
    }

    /// Once under `name`: rebuild each of `tables` that a database made before SQLite's DDL
    /// rewrite keyed by `BIGINT PRIMARY KEY` (a second B-tree beside the rowid) as a rowid
    /// table, every row, index and trigger kept; tables keyed by the rowid already are left
    /// alone. Nothing to do on PostgreSQL (the name is recorded all the same). The tables must
    /// not be the target of a foreign key. Takes as long as copying the tables.
    pub fn migrate_rowid_keys(&self, name: &str, tables: &[&str]) -> Result<()> {
        let kind = self.kind;
        self.migrate_with(name, |tx| match kind {
            BackendKind::Sqlite => ddl::rebuild_with_rowid_keys(tx, tables),
            BackendKind::Postgres => Ok(()),
        })
    }

    /// Run `work` once under `name`, in one transaction with the record that it ran.
    fn migrate_with(&self, name: &str, mut work: impl FnMut(&mut Tx<'_>) -> Result<()>) -> Result<()> {
        self.transaction(|tx| {
            tx.execute("CREATE TABLE IF NOT EXISTS sqlstore_migrations (name TEXT PRIMARY KEY)", &[])?;
            if tx.query_opt("SELECT name FROM sqlstore_migrations WHERE name = $1", &[name.into()])?.is_some() {
                return Ok(());
            }
            work(tx)?;
            tx.execute("INSERT INTO sqlstore_migrations (name) VALUES ($1)", &[name.into()])?;
            Ok(())
        })
    }

    /// Run `work` in one transaction and commit it; the commit is durable when this returns
    /// `Ok`. An `Err` from `work` rolls everything back. On PostgreSQL a serialization failure
    /// or deadlock runs `work` again (up to [`TRANSACTION_ATTEMPTS_MAX`]), so `work` must not
    /// have effects outside the transaction.
    ///
    /// Inside this thread's [`Database::batch`] it runs in the batch's transaction as one of its
    /// members (an `Err` undoes only its own writes, `batch.rs`) and is durable when the batch
    /// commits. Its SQL must be deterministic — no clock or random functions — since on SQLite
    /// undoing a later member runs its writes again (`redo.rs`).
    pub fn transaction<T>(&self, mut work: impl FnMut(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.lock();
        if conn.batch_owner.is_some() {
            // `lock` returns a held batch only to its owner: this thread.
            let Conn { backend, deferred, .. } = &mut *conn;
            return backend.member(deferred, &mut work);
        }
        self.check_synced()?;
        match &mut conn.backend {
            Backend::Sqlite(db) => db.transaction(&mut work),
            Backend::Postgres(db) => db.transaction(&mut work),
        }
    }
}

impl Database {
    /// A number that differs whenever another connection, of this process or another, may have
    /// committed to the database since it was last read (SQLite's `PRAGMA data_version`);
    /// never changed by commits through this `Database` (any clone) itself. `None` on
    /// PostgreSQL, which has no such cheap signal. What lets a party keep rows it read in
    /// memory and know when to read them again; its own writes it must account for itself.
    pub fn data_version(&self) -> Result<Option<i64>> {
        let conn = self.lock();
        match &conn.backend {
            Backend::Sqlite(db) => db.data_version().map(Some),
            Backend::Postgres(_) => Ok(None),
        }
    }
}

/// An error type of a party's own that can carry a [`Error`], for [`Database::transact`].
pub trait CarriesStoreError: From<Error> {
    /// The store error inside, or the error itself when it is another kind.
    fn into_store_error(self) -> std::result::Result<Error, Self>;
}

impl Database {
    /// [`Database::transaction`] for `work` with the caller's own error type: a store error
    /// from `work` goes to `transaction` as it is (so a serialization failure is retried);
    /// any other error rolls back and is returned as it was.
    pub fn transact<T, E: CarriesStoreError>(
        &self,
        mut work: impl FnMut(&mut Tx<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let mut failure = None;
        let result = self.transaction(|tx| {
            work(tx).map_err(|error| match error.into_store_error() {
                Ok(store) => store,
                Err(other) => {
                    failure = Some(other);
                    Error::new("transaction", "rolled back")
                }
            })
        });
        match (result, failure) {
            (_, Some(error)) => Err(error),
            (Ok(value), None) => Ok(value),
            (Err(error), None) => Err(E::from(error)),
        }
    }
}

/// A transaction in progress.
pub struct Tx<'a> {
    inner: TxInner<'a>,
    /// The identity of the connection it runs on.
    connection: u64,
    /// The open batch's appended rows, when this transaction is one of a batch's.
    deferred: Option<&'a mut append::Deferred>,
    /// A batch member's savepoint not taken yet (SQLite, once the batch's redo log is full):
    /// taken before its first statement that may write, so a member that only reads (and
    /// appends) costs no savepoint.
    savepoint_due: Option<&'a mut bool>,
    /// A batch member on SQLite that records its writes in the batch's redo log instead of
    /// taking a savepoint (`redo.rs`).
    recording: bool,
}

/// A number no other connection of this process has had or will have: what a thread's
/// reserved ids (`sequence::reserve`) belong to. Not an address, which a connection opened
/// after another was dropped may reuse — and with it a dead database's reserved ids.
pub(crate) fn next_connection_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

enum TxInner<'a> {
    // Both hold the connection itself: the backend issued BEGIN and will COMMIT or ROLLBACK.
    Sqlite(&'a rusqlite::Connection),
    Postgres(&'a mut postgres::Client, &'a mut pg::StatementCache),
}

impl Tx<'_> {
    /// Run one statement; returns the rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        self.savepoint_before(sql)?;
        let changed = match &mut self.inner {
            TxInner::Sqlite(tx) => sqlite::execute(tx, sql, params),
            TxInner::Postgres(tx, cache) => pg::execute(tx, cache, sql, params),
        }?;
        self.record(sql, params, false);
        Ok(changed)
    }

    /// Append a row to `log` (the values in its columns' order): inserted now, or — inside a
    /// batch — with the batch's other rows just before its commit, and forgotten if this
    /// transaction is undone. For rows nothing reads before the batch commits: a read in the
    /// same batch does not see them. A unique violation in such a row fails the whole batch.
    pub fn append(&mut self, log: &'static AppendLog, values: Vec<Value>) -> Result<()> {
        append::check(log, &values)?;
        match self.deferred.as_deref_mut() {
            Some(deferred) => {
                deferred.push(log, values);
                Ok(())
            }
            None => append::insert_one(self, log, &values),
        }
    }

    /// Run a query; every row, in the order the query gives.
    pub fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        self.savepoint_before(sql)?;
        let rows = match &mut self.inner {
            TxInner::Sqlite(tx) => sqlite::query(tx, sql, params),
            TxInner::Postgres(tx, cache) => pg::query(tx, cache, sql, params),
        }?;
        self.record(sql, params, true);
        Ok(rows)
    }

    /// The first row of a query, if any.
    pub fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The backend this transaction runs on.
    pub fn kind(&self) -> BackendKind {
        match self.inner {
            TxInner::Sqlite(_) => BackendKind::Sqlite,
            TxInner::Postgres(..) => BackendKind::Postgres,
        }
    }

    /// A batch member's write that succeeded, recorded in the batch's redo log (`redo.rs`);
    /// a statement that only reads is not.
    fn record(&mut self, sql: &str, params: &[Value], query: bool) {
        if !self.recording || batch::only_reads(sql) {
            return;
        }
        if let Some(deferred) = self.deferred.as_deref_mut() {
            deferred.redo.record(sql, params, query);
        }
    }

    /// A batch member's deferred savepoint, taken before `sql` unless `sql` only reads.
    fn savepoint_before(&mut self, sql: &str) -> Result<()> {
        match self.savepoint_due.as_deref_mut() {
            Some(due) if *due && !batch::only_reads(sql) => {
                let TxInner::Sqlite(connection) = &self.inner else {
                    unreachable!("only SQLite defers a member's savepoint")
                };
                sqlite::control(connection, batch::SAVEPOINT)?;
                *due = false;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Which connection this transaction runs on, to tell one database's reserved ids from
    /// another's.
    pub(crate) fn connection_id(&self) -> u64 {
        self.connection
    }
}

/// Drop a PostgreSQL schema and everything in it (tests clean up with it).
pub fn drop_postgres_schema(url: &str, schema: &str) -> Result<()> {
    pg::drop_schema(url, schema)
}
