//! The embedded default: one SQLite file, WAL, `synchronous=FULL`, `BEGIN IMMEDIATE` per
//! transaction (a writer takes the lock up front, so two processes never deadlock on upgrade).

use std::path::Path;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};

use crate::error::{Error, Result};
use crate::value::{Row, Value};
use crate::{Tx, TxInner};

/// How long a connection waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 256;
/// Statement texts whose SQLite form is remembered per thread (cleared when full): a party
/// runs a few dozen distinct statements over and over, and rewriting a long one on every call
/// cost a fifth of the issuer's CPU.
const REWRITTEN_SQL_MAX: usize = 1_024;

/// A connection to `path` (`:memory:` for a database in memory): every connection this crate
/// opens is opened here, after SQLite's process-wide set-up ([`crate::page_cache::install`]),
/// which must come before SQLite initializes.
pub(crate) fn connect(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    crate::page_cache::install();
    Connection::open_with_flags(path, flags)
}

pub(crate) struct SqliteBackend {
    connection: Connection,
    /// How a transaction begins: `BEGIN IMMEDIATE` for a writer; a plain (deferred) `BEGIN` for
    /// a reader, which then takes no write lock and never waits for or delays a writer (WAL).
    begin: &'static str,
    /// This connection's identity ([`crate::next_connection_id`]).
    id: u64,
    /// The connection's `synchronous` level is NORMAL (a batch synced later by `wal_sync`
    /// began last), not FULL. Changed only when the next transaction needs the other level, so
    /// a party under load — batch after batch — sets it once instead of twice per batch.
    sync_later: bool,
}

#[cfg(test)]
thread_local! {
    /// What a test runs in a replay between the rollback and the new `BEGIN`: another
    /// connection's commit that the replay must notice.
    pub(crate) static BETWEEN_ROLLBACK_AND_BEGIN: std::cell::RefCell<Option<Box<dyn FnOnce()>>> =
        std::cell::RefCell::new(None);
}

fn failure(operation: &'static str) -> impl Fn(rusqlite::Error) -> Error {
    move |error| {
        let unique = matches!(
            &error,
            rusqlite::Error::SqliteFailure(e, _)
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        );
        Error::new(operation, format!("sqlite: {error}")).with_flags(unique, false)
    }
}

impl SqliteBackend {
    pub(crate) fn open(path: &Path) -> Result<SqliteBackend> {
        crate::prepare_sqlite_file(path).map_err(|e| Error::new("open", format!("{}: {e}", path.display())))?;
        let connection = connect(path, OpenFlags::default()).map_err(failure("open"))?;
        SqliteBackend::configure(connection, true)
    }

    /// Another process's database, for reading only: never created, never migrated, no write
    /// lock taken (a writer's commit is never delayed by it); a write is refused by SQLite.
    pub(crate) fn open_reader(path: &Path) -> Result<SqliteBackend> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let connection = connect(path, flags).map_err(failure("open"))?;
        let mut backend = SqliteBackend::configure(connection, false)?;
        backend.begin = "BEGIN";
        Ok(backend)
    }

    pub(crate) fn memory() -> Result<SqliteBackend> {
        let connection = connect(Path::new(":memory:"), OpenFlags::default()).map_err(failure("open"))?;
        SqliteBackend::configure(connection, false)
    }

    fn configure(connection: Connection, file: bool) -> Result<SqliteBackend> {
        connection.busy_timeout(BUSY_TIMEOUT).map_err(failure("configure"))?;
        if file {
            // WAL + FULL: a commit is on disk (fsync of the log) before COMMIT returns. Temporary
            // storage in memory: a batch's savepoints keep their undo pages (the statement
            // sub-journal) there instead of in a temporary file written page by page — undo
            // needs no durability, the WAL has that. A 64 MiB page cache (SQLite's default is 2
            // MiB): a party's working set — today's journal, its indexes — stays in memory
            // instead of being read back from the OS page cache on every lookup. A checkpoint
            // every 8,192 WAL pages (32 MiB) instead of SQLite's 1,000: a batch's commit appends
            // the pages it touched — the same few hot pages of each table and index, batch after
            // batch — and a checkpoint copies each page once however often it is in the log, so
            // fewer, larger checkpoints copy and fsync less per commit.
            connection
                .execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=8192;")
                .map_err(failure("configure"))?;
        }
        // The query planner's stability guarantee: a statement's plan never depends on the
        // values bound to it. Without it SQLite (3.4x) marks a cached statement whose plan looked
        // at a bound value (any `column = $n` it weighs as a filter) as expired at every rebind
        // and parses and plans it again on its next step — a third of a party core's CPU.
        connection
            .set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(failure("configure"))?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(SqliteBackend {
            connection,
            begin: SqliteBackend::BEGIN,
            id: crate::next_connection_id(),
            sync_later: false,
        })
    }

    /// Run statements with no parameters and no rows (transaction control). A single statement
    /// runs from the statement cache: a batch opens and releases a savepoint per decision, and
    /// parsing them each time cost more than running them.
    pub(crate) fn raw(&mut self, sql: &str) -> Result<()> {
        if !sql.contains(';') {
            return control(&self.connection, sql);
        }
        self.connection.execute_batch(sql).map_err(failure("transaction control"))
    }

    /// SQLite's `PRAGMA data_version`: it changes whenever another connection — of this
    /// process or another — commits to the file, never for this connection's own commits.
    pub(crate) fn data_version(&self) -> Result<i64> {
        let mut statement = self.connection.prepare_cached("PRAGMA data_version").map_err(failure("data version"))?;
        statement.query_row([], |row| row.get::<_, i64>(0)).map_err(failure("data version"))
    }

    /// The statement that opens a write transaction.
    pub(crate) const BEGIN: &'static str = "BEGIN IMMEDIATE";

    /// Begin a transaction whose commit syncs the log (`sync_later` false: `synchronous=FULL`)
    /// or only writes it, for `wal_sync` to sync (`synchronous=NORMAL`). SQLite changes the
    /// level only outside a transaction, so it is set here, before `BEGIN`, when it differs.
    pub(crate) fn begin_syncing(&mut self, sync_later: bool) -> Result<()> {
        if self.sync_later != sync_later {
            let level = if sync_later { "PRAGMA synchronous=NORMAL" } else { "PRAGMA synchronous=FULL" };
            control(&self.connection, level)?;
            self.sync_later = sync_later;
        }
        cached(&self.connection, self.begin, "begin")
    }

    /// No transaction is open: SQLite rolled one back by itself (a full disk, an I/O error).
    pub(crate) fn in_autocommit(&self) -> bool {
        self.connection.is_autocommit()
    }

    /// Undo a batch member that wrote without a savepoint: roll the batch's transaction back,
    /// begin it again (at the level its batch set) and run the writes of the members before
    /// the undone one again, in order (`redo.rs` says why that restores them).
    pub(crate) fn replay(&mut self, redo: &crate::redo::Redo) -> Result<()> {
        // The writes replay exactly only on the state the batch began on, so no other
        // connection may commit while the write lock is let go. Inside the batch's transaction
        // (which has held the lock since its `BEGIN IMMEDIATE`) the data version is still the
        // one the batch began on; after the new `BEGIN` it must be the same. A transaction
        // SQLite rolled back by itself let the lock go at a moment nobody noted: the caller
        // (`Backend::member`) fails the batch instead of replaying it.
        debug_assert!(!self.connection.is_autocommit(), "a replay inside the batch's transaction");
        let began_on = self.data_version()?;
        cached(&self.connection, "ROLLBACK", "rollback")?;
        #[cfg(test)]
        if let Some(between) = BETWEEN_ROLLBACK_AND_BEGIN.with(|hook| hook.borrow_mut().take()) {
            between();
        }
        cached(&self.connection, self.begin, "begin")?;
        if self.data_version()? != began_on {
            return Err(Error::new("batch", "another connection committed under the batch; not replayed"));
        }
        for statement in redo.statements() {
            if statement.query {
                query(&self.connection, &statement.sql, &statement.params)?;
            } else {
                execute(&self.connection, &statement.sql, &statement.params)?;
            }
        }
        Ok(())
    }

    /// A handle for statements inside a transaction this backend opened.
    pub(crate) fn tx(&mut self) -> Tx<'_> {
        Tx {
            inner: TxInner::Sqlite(&self.connection),
            connection: self.id,
            deferred: None,
            savepoint_due: None,
            recording: false,
        }
    }

    pub(crate) fn transaction<T>(&mut self, work: &mut dyn FnMut(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        // BEGIN, COMMIT and ROLLBACK from the statement cache: parsed once, not per transaction.
        // A plain transaction's commit is durable when it returns.
        self.begin_syncing(false)?;
        let result = work(&mut self.tx());
        match result {
            Ok(value) => match cached(&self.connection, "COMMIT", "commit") {
                Ok(()) => Ok(value),
                Err(error) => {
                    let _ = cached(&self.connection, "ROLLBACK", "rollback");
                    Err(error)
                }
            },
            Err(error) => {
                // The rollback can only fail if the transaction is already gone; either way
                // nothing of it remains.
                let _ = cached(&self.connection, "ROLLBACK", "rollback");
                Err(error)
            }
        }
    }
}

struct Param<'a>(&'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Value::Blob(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
        })
    }
}

/// `$1` → `?1` outside string literals: SQLite reads `$1` as a *named* parameter.
pub(crate) fn rewrite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c == '$' && !quoted && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

fn bind<'a>(params: &'a [Value]) -> Vec<Param<'a>> {
    params.iter().map(Param).collect()
}

thread_local! {
    static REWRITTEN: std::cell::RefCell<std::collections::HashMap<Box<str>, std::rc::Rc<str>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// [`rewrite_placeholders`], remembered.
fn sqlite_form(sql: &str) -> std::rc::Rc<str> {
    REWRITTEN.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(rewritten) = cache.get(sql) {
            return std::rc::Rc::clone(rewritten);
        }
        if cache.len() >= REWRITTEN_SQL_MAX {
            cache.clear();
        }
        let rewritten: std::rc::Rc<str> = rewrite_placeholders(sql).into();
        cache.insert(sql.into(), std::rc::Rc::clone(&rewritten));
        rewritten
    })
}

/// One transaction-control statement without parameters, from the statement cache (parsed once).
pub(crate) fn control(connection: &Connection, sql: &str) -> Result<()> {
    cached(connection, sql, "transaction control")
}

/// `sql` (no parameters, no rows) from the statement cache; errors named `what`.
fn cached(connection: &Connection, sql: &str, what: &'static str) -> Result<()> {
    let mut statement = connection.prepare_cached(sql).map_err(failure(what))?;
    statement.execute([]).map(drop).map_err(failure(what))
}

pub(crate) fn execute(connection: &Connection, sql: &str, params: &[Value]) -> Result<u64> {
    let sql = sqlite_form(sql);
    let mut statement = connection.prepare_cached(&sql).map_err(failure("prepare"))?;
    let bound = bind(params);
    let refs: Vec<&dyn ToSql> = bound.iter().map(|p| p as &dyn ToSql).collect();
    let changed = statement.execute(refs.as_slice()).map_err(failure("execute"))?;
    Ok(changed as u64)
}

pub(crate) fn query(connection: &Connection, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
    let sql = sqlite_form(sql);
    let mut statement = connection.prepare_cached(&sql).map_err(failure("prepare"))?;
    let columns = statement.column_count();
    let bound = bind(params);
    let refs: Vec<&dyn ToSql> = bound.iter().map(|p| p as &dyn ToSql).collect();
    let mut rows = statement.query(refs.as_slice()).map_err(failure("query"))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(failure("query"))? {
        let mut values = Vec::with_capacity(columns);
        for index in 0..columns {
            let value = match row.get_ref(index).map_err(failure("read"))? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(v) => Value::Int(v),
                ValueRef::Text(v) => Value::Text(String::from_utf8_lossy(v).into_owned()),
                ValueRef::Blob(v) => Value::Blob(v.to_vec()),
                // Money and counts are integers; a REAL column is a schema mistake.
                ValueRef::Real(_) => return Err(Error::column(index, "no floating point (REAL) values")),
            };
            values.push(value);
        }
        out.push(Row::new(values));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::rewrite_placeholders;

    #[test]
    fn placeholders_are_positional_outside_literals() {
        assert_eq!(
            rewrite_placeholders("SELECT a FROM t WHERE b = $1 AND c = $12"),
            "SELECT a FROM t WHERE b = ?1 AND c = ?12"
        );
        assert_eq!(rewrite_placeholders("SELECT '$1' , $2"), "SELECT '$1' , ?2");
    }

    #[test]
    fn plans_do_not_depend_on_bound_values() {
        // Without the planner's stability guarantee every rebind of a cached statement whose
        // plan looked at a bound value re-parses it (see `configure`).
        let backend = super::SqliteBackend::memory().unwrap();
        let qpsg = rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG;
        assert!(backend.connection.db_config(qpsg).unwrap());
    }

    #[test]
    fn the_remembered_form_is_the_rewritten_one() {
        for _ in 0..2 {
            assert_eq!(&*super::sqlite_form("SELECT $2, $1"), "SELECT ?2, ?1");
            assert_eq!(&*super::sqlite_form("SELECT '$1', $1"), "SELECT '$1', ?1");
        }
    }
}
