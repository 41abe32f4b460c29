//! The embedded default store: one SQLite file in WAL mode with `synchronous=FULL`, so a
//! commit is on disk before [`Store::transact`] returns. One batch is one `BEGIN IMMEDIATE` …
//! `COMMIT` transaction (group commit: one fsync of the WAL per batch); writers on the same file
//! serialize on SQLite's write lock, and readers never block them.
//!
//! Schema (the same shape as the PostgreSQL store): identifiers and 128-bit user data are
//! 16-byte big-endian BLOBs (so byte order is numeric order); `u64` values are stored in
//! `INTEGER` columns as the same 64 bits (amounts, balances and timestamps are at most
//! `i64::MAX`, so they compare correctly in SQL; only `user_data_64` may use the sign bit).
//!
//! `accounts` and `account_balances` are `WITHOUT ROWID` tables clustered on their keys.
//! `transfers` is a rowid table: rows are appended in commit order under an integer `seq`, and
//! a unique index on `id` holds the idempotency keys — the layout of a PostgreSQL heap with its
//! primary-key index. Clustering transfers on a client-chosen (often random) 128-bit id instead
//! scatters every batch over the whole table, and each page a commit touches is written whole
//! to the WAL: measured, the rowid layout writes about a third less per transfer and sustains
//! up to 1.6× the throughput with random ids (the `account_transfers` indexes, scattered by
//! account, are the larger cost that remains).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, Row, params};

use crate::store::{LedgerTotals, RETRIES_MAX, Store, StoreError, StoreResult, Txn};
use crate::types::{Account, AccountBalance, AccountFlags, Id, PendingStatus, Transfer, TransferFlags, TransferRecord};

/// The schema version kept in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

/// How long a connection waits for another writer's lock before SQLite reports `SQLITE_BUSY`
/// (which [`Store::transact`] then retries).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Page cache per connection, in KiB (a negative `cache_size` is KiB): the account table and
/// the upper levels of the transfer indexes stay in memory. (A memory map measured no faster.)
const CACHE_KIB: i64 = 256 * 1024;

/// WAL pages after which a commit checkpoints the WAL into the database file. Larger than
/// SQLite's 1,000 so a page written by several batches is copied back once; larger still
/// (16,000) measured ~10% more throughput but a worse p99, since the committing batch pays.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 4_000;

/// Statement cache entries: every SQL string below, with room to spare.
const STATEMENT_CACHE: usize = 64;

/// Transfer flags that resolve a pending transfer (post or void): the partial index on
/// `pending_id` holds only these rows.
const RESOLVES_MASK: u16 = TransferFlags::POST_PENDING_TRANSFER.0 | TransferFlags::VOID_PENDING_TRANSFER.0;
// The partial index's `WHERE flags & 12 <> 0` must be the query's term, word for word.
const _: () = assert!(RESOLVES_MASK == 12);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    id BLOB PRIMARY KEY NOT NULL,
    debits_pending INTEGER NOT NULL,
    debits_posted INTEGER NOT NULL,
    credits_pending INTEGER NOT NULL,
    credits_posted INTEGER NOT NULL,
    user_data_128 BLOB NOT NULL,
    user_data_64 INTEGER NOT NULL,
    user_data_32 INTEGER NOT NULL,
    ledger INTEGER NOT NULL,
    code INTEGER NOT NULL,
    flags INTEGER NOT NULL,
    timestamp INTEGER NOT NULL
) WITHOUT ROWID;

-- seq: the order of insertion (an explicit alias of the rowid, so VACUUM keeps it).
CREATE TABLE IF NOT EXISTS transfers (
    seq INTEGER PRIMARY KEY,
    id BLOB NOT NULL,
    debit_account_id BLOB NOT NULL,
    credit_account_id BLOB NOT NULL,
    amount INTEGER NOT NULL,
    pending_id BLOB NOT NULL,
    user_data_128 BLOB NOT NULL,
    user_data_64 INTEGER NOT NULL,
    user_data_32 INTEGER NOT NULL,
    timeout INTEGER NOT NULL,
    ledger INTEGER NOT NULL,
    code INTEGER NOT NULL,
    flags INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    status INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE UNIQUE INDEX IF NOT EXISTS transfers_id ON transfers (id);
-- No per-account index on transfers: keeping one current inside every batch cost more than half
-- the write throughput (docs/benchmarks.md). `account_transfers` scans; per-account trails that
-- must be fast come from `account_balances` (accounts with the history flag).
CREATE INDEX IF NOT EXISTS transfers_due ON transfers (expires_at) WHERE status = 1 AND expires_at > 0;
CREATE INDEX IF NOT EXISTS transfers_pending_id ON transfers (pending_id) WHERE flags & 12 <> 0;

CREATE TABLE IF NOT EXISTS account_balances (
    account_id BLOB NOT NULL,
    timestamp INTEGER NOT NULL,
    debits_pending INTEGER NOT NULL,
    debits_posted INTEGER NOT NULL,
    credits_pending INTEGER NOT NULL,
    credits_posted INTEGER NOT NULL,
    PRIMARY KEY (account_id, timestamp)
) WITHOUT ROWID;

-- The highest timestamp written (accounts, transfers, balance history): where a reopened
-- ledger's timestamps continue. One row, updated once per batch.
CREATE TABLE IF NOT EXISTS ledger_meta (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    max_timestamp INTEGER NOT NULL
);
INSERT OR IGNORE INTO ledger_meta (id, max_timestamp) VALUES (0, 0);
";

const TRANSFER_COLUMNS: &str = "id, debit_account_id, credit_account_id, amount, pending_id, user_data_128, \
     user_data_64, user_data_32, timeout, ledger, code, flags, timestamp, status, expires_at";

const SELECT_ACCOUNT: &str = "SELECT id, debits_pending, debits_posted, credits_pending, credits_posted, \
     user_data_128, user_data_64, user_data_32, ledger, code, flags, timestamp FROM accounts WHERE id = ?1";

const SELECT_TRANSFER: &str = "SELECT id, debit_account_id, credit_account_id, amount, pending_id, user_data_128, \
     user_data_64, user_data_32, timeout, ledger, code, flags, timestamp, status, expires_at FROM transfers \
     WHERE id = ?1";

const INSERT_ACCOUNT: &str = "INSERT INTO accounts (id, debits_pending, debits_posted, credits_pending, \
     credits_posted, user_data_128, user_data_64, user_data_32, ledger, code, flags, timestamp) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

const INSERT_TRANSFER: &str = "INSERT INTO transfers (id, debit_account_id, credit_account_id, amount, \
     pending_id, user_data_128, user_data_64, user_data_32, timeout, ledger, code, flags, timestamp, status, \
     expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

const UPDATE_BALANCES: &str = "UPDATE accounts SET debits_pending = ?2, debits_posted = ?3, credits_pending = ?4, \
     credits_posted = ?5 WHERE id = ?1";

const UPDATE_STATUS: &str = "UPDATE transfers SET status = ?2 WHERE id = ?1";

const INSERT_BALANCE: &str = "INSERT INTO account_balances (account_id, timestamp, debits_pending, debits_posted, \
     credits_pending, credits_posted) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

const UPDATE_MAX_TIMESTAMP: &str = "UPDATE ledger_meta SET max_timestamp = MAX(max_timestamp, ?1) WHERE id = 0";

/// A ledger store in one SQLite database file.
pub struct SqliteStore {
    conn: Connection,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.conn.path()).finish()
    }
}

impl SqliteStore {
    /// Open (creating the file and schema if missing) a ledger database at `path`.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        sqlstore::prepare_sqlite_file(path).map_err(|e| StoreError::Failed(format!("open {}: {e}", path.display())))?;
        // Before SQLite initializes: sqlstore's page-cache wrapper can only be installed then.
        sqlstore::page_cache::install();
        let conn = Connection::open_with_flags(path, flags).map_err(failure("open"))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(failure("open: busy_timeout"))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let mode: String =
            conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)).map_err(failure("open: journal_mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Failed(format!("open: journal_mode is {mode}, not wal")));
        }
        conn.execute_batch(&format!(
            "PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = OFF;
             PRAGMA temp_store = MEMORY;
             PRAGMA cache_size = -{CACHE_KIB};
             PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES};"
        ))
        .map_err(failure("open: pragmas"))?;
        let synchronous: i64 =
            conn.query_row("PRAGMA synchronous", [], |row| row.get(0)).map_err(failure("open: synchronous"))?;
        if synchronous != 2 {
            return Err(StoreError::Failed(format!("open: synchronous is {synchronous}, not FULL (2)")));
        }
        let mut store = SqliteStore { conn };
        store.create_schema()?;
        Ok(store)
    }

    /// Create the tables in one transaction (concurrent openers serialize on the write lock),
    /// or check the version of the ones found (without the write lock, which busy writers hold).
    fn create_schema(&mut self) -> StoreResult<()> {
        let read_version = |conn: &Connection| conn.query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0));
        let mut attempt = 0;
        loop {
            let result = read_version(&self.conn).and_then(|version| {
                if version != 0 {
                    return Ok(version);
                }
                self.conn.execute_batch("BEGIN IMMEDIATE")?;
                let version = read_version(&self.conn)?;
                if version == 0 {
                    self.conn.execute_batch(SCHEMA)?;
                    self.conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
                }
                self.conn.execute_batch("COMMIT")?;
                Ok(version)
            });
            match result {
                Ok(version) if version == 0 || version == SCHEMA_VERSION => return Ok(()),
                Ok(version) => {
                    return Err(StoreError::Failed(format!(
                        "open: schema version {version}, this build knows {SCHEMA_VERSION}"
                    )));
                }
                Err(error) => {
                    rollback(&self.conn);
                    match failure("open: create schema")(error) {
                        StoreError::Retryable(_) if attempt < RETRIES_MAX => {
                            attempt += 1;
                            backoff(attempt);
                        }
                        other => return Err(other),
                    }
                }
            }
        }
    }

    fn attempt<T>(&mut self, work: &mut dyn FnMut(&mut dyn Txn) -> StoreResult<T>) -> StoreResult<T> {
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(failure("begin"))?;
        // Rolls back unless the commit below succeeds — also when `work` panics, so the
        // connection's later reads never see a batch that was not committed.
        let guard = Rollback(&self.conn);
        let mut txn = SqliteTxn { conn: guard.0, max_timestamp: 0 };
        let value = work(&mut txn)?;
        if txn.max_timestamp != 0 {
            let mut statement = guard.0.prepare_cached(UPDATE_MAX_TIMESTAMP).map_err(failure("commit"))?;
            statement.execute([sql_u64(txn.max_timestamp)]).map_err(failure("commit"))?;
        }
        guard.0.execute_batch("COMMIT").map_err(failure("commit"))?;
        Ok(value)
    }

    /// Run `read` in one read transaction, so all its statements see the same snapshot (a
    /// batch committing meanwhile is seen whole or not at all).
    fn snapshot<T>(&self, op: &'static str, read: impl FnOnce(&Self) -> StoreResult<T>) -> StoreResult<T> {
        self.conn.execute_batch("BEGIN DEFERRED").map_err(failure(op))?;
        let guard = Rollback(&self.conn);
        let value = read(self)?;
        drop(guard);
        Ok(value)
    }

    /// Run a read-only query outside any batch transaction.
    fn read_rows<T>(
        &self,
        op: &'static str,
        sql: &str,
        params: impl rusqlite::Params,
        map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> StoreResult<Vec<T>> {
        let mut statement = self.conn.prepare_cached(sql).map_err(failure(op))?;
        let rows = statement.query_map(params, map).map_err(failure(op))?;
        rows.collect::<rusqlite::Result<Vec<T>>>().map_err(failure(op))
    }
}

/// Roll back whatever transaction the connection is in (none is fine).
fn rollback(conn: &Connection) {
    if !conn.is_autocommit() {
        // A failed rollback leaves SQLite to roll back on the next statement or close; the
        // error that brought us here is the one worth reporting.
        let _ = conn.execute_batch("ROLLBACK");
    }
}

/// Rolls back the open transaction when dropped (a committed one is no longer open).
struct Rollback<'a>(&'a Connection);

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        rollback(self.0);
    }
}

/// Wait a little before another attempt: 1, 2, 4 … ms, at most 50 ms.
fn backoff(attempt: usize) {
    let ms = 1u64 << attempt.min(6) as u32;
    std::thread::sleep(Duration::from_millis(ms.min(50)));
}

/// Map a SQLite error to a store error naming the operation. Busy and locked databases are
/// conflicts a later attempt may not meet; anything else failed the batch.
fn failure(op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |error| match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Retryable(format!("sqlite {op}: database is busy"))
        }
        _ => StoreError::Failed(format!("sqlite {op}: {error}")),
    }
}

/// A `u64` in an `INTEGER` column: the same 64 bits.
fn sql_u64(value: u64) -> i64 {
    value as i64
}

fn sql_id(id: Id) -> [u8; 16] {
    id.to_be_bytes()
}

fn get_u64(row: &Row<'_>, index: usize) -> rusqlite::Result<u64> {
    Ok(row.get::<_, i64>(index)? as u64)
}

fn get_id(row: &Row<'_>, index: usize) -> rusqlite::Result<Id> {
    Ok(u128::from_be_bytes(row.get::<_, [u8; 16]>(index)?))
}

fn get_small<T: TryFrom<i64>>(row: &Row<'_>, index: usize) -> rusqlite::Result<T> {
    let value: i64 = row.get(index)?;
    T::try_from(value).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(index, value))
}

fn account_from_row(row: &Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        id: get_id(row, 0)?,
        debits_pending: get_u64(row, 1)?,
        debits_posted: get_u64(row, 2)?,
        credits_pending: get_u64(row, 3)?,
        credits_posted: get_u64(row, 4)?,
        user_data_128: get_id(row, 5)?,
        user_data_64: get_u64(row, 6)?,
        user_data_32: get_small(row, 7)?,
        ledger: get_small(row, 8)?,
        code: get_small(row, 9)?,
        flags: AccountFlags(get_small(row, 10)?),
        timestamp: get_u64(row, 11)?,
    })
}

fn transfer_from_row(row: &Row<'_>) -> rusqlite::Result<TransferRecord> {
    let transfer = Transfer {
        id: get_id(row, 0)?,
        debit_account_id: get_id(row, 1)?,
        credit_account_id: get_id(row, 2)?,
        amount: get_u64(row, 3)?,
        pending_id: get_id(row, 4)?,
        user_data_128: get_id(row, 5)?,
        user_data_64: get_u64(row, 6)?,
        user_data_32: get_small(row, 7)?,
        timeout: get_small(row, 8)?,
        ledger: get_small(row, 9)?,
        code: get_small(row, 10)?,
        flags: TransferFlags(get_small(row, 11)?),
        timestamp: get_u64(row, 12)?,
    };
    let code: i64 = row.get(13)?;
    let status = PendingStatus::from_code(code).ok_or(rusqlite::Error::IntegralValueOutOfRange(13, code))?;
    Ok(TransferRecord { transfer, status, expires_at: get_u64(row, 14)? })
}

fn balance_from_row(row: &Row<'_>) -> rusqlite::Result<AccountBalance> {
    Ok(AccountBalance {
        account_id: get_id(row, 0)?,
        timestamp: get_u64(row, 1)?,
        debits_pending: get_u64(row, 2)?,
        debits_posted: get_u64(row, 3)?,
        credits_pending: get_u64(row, 4)?,
        credits_posted: get_u64(row, 5)?,
    })
}

/// The rows that `sql` (a point query on `id = ?1`) finds for `ids`, in their order (missing
/// ones skipped, repeated ones repeated): one cached statement, run once per id. Measured against `IN (…)` lists of up to 512 ids and a join with
/// a temporary table of ids, point queries were 20–30% and 10× faster (an `IN` list is first
/// sorted into an ephemeral index; the join scanned the table).
fn load_by_ids<T>(
    conn: &Connection,
    op: &'static str,
    sql: &str,
    ids: &[Id],
    map: fn(&Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    let mut found = Vec::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(found);
    }
    let mut statement = conn.prepare_cached(sql).map_err(failure(op))?;
    for &id in ids {
        let mut rows = statement.query([sql_id(id)]).map_err(failure(op))?;
        if let Some(row) = rows.next().map_err(failure(op))? {
            found.push(map(row).map_err(failure(op))?);
        }
    }
    Ok(found)
}

struct SqliteTxn<'a> {
    conn: &'a Connection,
    /// The highest timestamp this batch writes, recorded in `ledger_meta` before commit.
    max_timestamp: u64,
}

impl SqliteTxn<'_> {
    fn saw_timestamp(&mut self, timestamp: u64) {
        self.max_timestamp = self.max_timestamp.max(timestamp);
    }
}

impl Txn for SqliteTxn<'_> {
    fn accounts(&mut self, ids: &[Id]) -> StoreResult<Vec<Account>> {
        load_by_ids(self.conn, "load accounts", SELECT_ACCOUNT, ids, account_from_row)
    }

    fn transfers(&mut self, ids: &[Id]) -> StoreResult<Vec<TransferRecord>> {
        load_by_ids(self.conn, "load transfers", SELECT_TRANSFER, ids, transfer_from_row)
    }

    fn insert_accounts(&mut self, accounts: &[Account]) -> StoreResult<()> {
        const OP: &str = "insert accounts";
        if accounts.is_empty() {
            return Ok(());
        }
        let mut statement = self.conn.prepare_cached(INSERT_ACCOUNT).map_err(failure(OP))?;
        for a in accounts {
            statement
                .execute(params![
                    sql_id(a.id),
                    sql_u64(a.debits_pending),
                    sql_u64(a.debits_posted),
                    sql_u64(a.credits_pending),
                    sql_u64(a.credits_posted),
                    sql_id(a.user_data_128),
                    sql_u64(a.user_data_64),
                    a.user_data_32,
                    a.ledger,
                    a.code,
                    a.flags.0,
                    sql_u64(a.timestamp),
                ])
                .map_err(failure(OP))?;
            self.saw_timestamp(a.timestamp);
        }
        Ok(())
    }

    fn insert_transfers(&mut self, transfers: &[TransferRecord]) -> StoreResult<()> {
        const OP: &str = "insert transfers";
        if transfers.is_empty() {
            return Ok(());
        }
        let mut statement = self.conn.prepare_cached(INSERT_TRANSFER).map_err(failure(OP))?;
        for r in transfers {
            let t = &r.transfer;
            statement
                .execute(params![
                    sql_id(t.id),
                    sql_id(t.debit_account_id),
                    sql_id(t.credit_account_id),
                    sql_u64(t.amount),
                    sql_id(t.pending_id),
                    sql_id(t.user_data_128),
                    sql_u64(t.user_data_64),
                    t.user_data_32,
                    t.timeout,
                    t.ledger,
                    t.code,
                    t.flags.0,
                    sql_u64(t.timestamp),
                    r.status.code(),
                    sql_u64(r.expires_at),
                ])
                .map_err(failure(OP))?;
            self.saw_timestamp(t.timestamp);
        }
        Ok(())
    }

    fn update_balances(&mut self, accounts: &[Account]) -> StoreResult<()> {
        const OP: &str = "update balances";
        if accounts.is_empty() {
            return Ok(());
        }
        let mut statement = self.conn.prepare_cached(UPDATE_BALANCES).map_err(failure(OP))?;
        for a in accounts {
            let changed = statement
                .execute(params![
                    sql_id(a.id),
                    sql_u64(a.debits_pending),
                    sql_u64(a.debits_posted),
                    sql_u64(a.credits_pending),
                    sql_u64(a.credits_posted),
                ])
                .map_err(failure(OP))?;
            if changed != 1 {
                return Err(StoreError::Failed(format!("sqlite {OP}: an account to update is missing")));
            }
        }
        Ok(())
    }

    fn update_pending(&mut self, changes: &[(Id, PendingStatus)]) -> StoreResult<()> {
        const OP: &str = "update pending";
        if changes.is_empty() {
            return Ok(());
        }
        let mut statement = self.conn.prepare_cached(UPDATE_STATUS).map_err(failure(OP))?;
        for (id, status) in changes {
            let changed = statement.execute(params![sql_id(*id), status.code()]).map_err(failure(OP))?;
            if changed != 1 {
                return Err(StoreError::Failed(format!("sqlite {OP}: a pending transfer to update is missing")));
            }
        }
        Ok(())
    }

    fn insert_balances(&mut self, history: &[AccountBalance]) -> StoreResult<()> {
        const OP: &str = "insert balances";
        if history.is_empty() {
            return Ok(());
        }
        let mut statement = self.conn.prepare_cached(INSERT_BALANCE).map_err(failure(OP))?;
        for b in history {
            statement
                .execute(params![
                    sql_id(b.account_id),
                    sql_u64(b.timestamp),
                    sql_u64(b.debits_pending),
                    sql_u64(b.debits_posted),
                    sql_u64(b.credits_pending),
                    sql_u64(b.credits_posted),
                ])
                .map_err(failure(OP))?;
            self.saw_timestamp(b.timestamp);
        }
        Ok(())
    }

    fn due_pending(&mut self, now: u64, limit: usize) -> StoreResult<Vec<TransferRecord>> {
        const OP: &str = "due pending";
        let sql = format!(
            "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE status = 1 AND expires_at > 0 AND expires_at <= ?1 \
             ORDER BY expires_at, id LIMIT ?2"
        );
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure(OP))?;
        let rows = statement
            .query_map(params![sql_u64(now), limit.min(i64::MAX as usize) as i64], transfer_from_row)
            .map_err(failure(OP))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(failure(OP))
    }
}

/// Sum `column` per ledger without overflowing SQLite's 64-bit `SUM`: the high and low 32
/// bits of every (non-negative) value are summed apart and joined in Rust.
fn split_sum(column: &str) -> String {
    format!("SUM({column} >> 32), SUM({column} & 4294967295)")
}

fn joined(row: &Row<'_>, index: usize) -> rusqlite::Result<u128> {
    let high: i64 = row.get(index)?;
    let low: i64 = row.get(index + 1)?;
    Ok(((high as u128) << 32) + low as u128)
}

impl Store for SqliteStore {
    fn transact<T>(&mut self, work: &mut dyn FnMut(&mut dyn Txn) -> StoreResult<T>) -> StoreResult<T> {
        let mut attempt = 0;
        loop {
            match self.attempt(work) {
                Err(StoreError::Retryable(_)) if attempt < RETRIES_MAX => {
                    attempt += 1;
                    backoff(attempt);
                }
                result => return result,
            }
        }
    }

    fn lookup_accounts(&mut self, ids: &[Id]) -> StoreResult<Vec<Account>> {
        const OP: &str = "lookup accounts";
        self.snapshot(OP, |store| load_by_ids(&store.conn, OP, SELECT_ACCOUNT, ids, account_from_row))
    }

    fn lookup_transfers(&mut self, ids: &[Id]) -> StoreResult<Vec<TransferRecord>> {
        const OP: &str = "lookup transfers";
        self.snapshot(OP, |store| load_by_ids(&store.conn, OP, SELECT_TRANSFER, ids, transfer_from_row))
    }

    fn account_transfers(&mut self, account: Id, limit: usize) -> StoreResult<Vec<TransferRecord>> {
        // A scan of the transfers table (no per-account index; see the schema).
        let sql = format!(
            "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE debit_account_id = ?1 OR credit_account_id = ?1 \
             ORDER BY timestamp, seq LIMIT ?2"
        );
        let limit = limit.min(i64::MAX as usize) as i64;
        self.read_rows("account transfers", &sql, params![sql_id(account), limit], transfer_from_row)
    }

    fn account_balances(&mut self, account: Id, limit: usize) -> StoreResult<Vec<AccountBalance>> {
        self.read_rows(
            "account balances",
            "SELECT account_id, timestamp, debits_pending, debits_posted, credits_pending, credits_posted \
             FROM account_balances WHERE account_id = ?1 ORDER BY timestamp LIMIT ?2",
            params![sql_id(account), limit.min(i64::MAX as usize) as i64],
            balance_from_row,
        )
    }

    fn max_timestamp(&mut self) -> StoreResult<u64> {
        let stamps =
            self.read_rows("max timestamp", "SELECT max_timestamp FROM ledger_meta WHERE id = 0", [], |row| {
                get_u64(row, 0)
            })?;
        Ok(stamps.into_iter().max().unwrap_or(0))
    }

    fn ledger_totals(&mut self) -> StoreResult<Vec<LedgerTotals>> {
        const OP: &str = "ledger totals";
        let mut totals: std::collections::BTreeMap<u32, LedgerTotals> = std::collections::BTreeMap::new();
        let sql = format!(
            "SELECT ledger, {}, {}, {}, {} FROM accounts GROUP BY ledger",
            split_sum("debits_pending"),
            split_sum("debits_posted"),
            split_sum("credits_pending"),
            split_sum("credits_posted")
        );
        let pending_sql =
            format!("SELECT ledger, {} FROM transfers WHERE status = 1 GROUP BY ledger", split_sum("amount"));
        // Balances and pending transfers from one snapshot: a batch in between would otherwise
        // show as a violation.
        let (accounts, pending) = self.snapshot(OP, |store| {
            let accounts = store.read_rows(OP, &sql, [], |row| {
                Ok(LedgerTotals {
                    ledger: get_small(row, 0)?,
                    debits_pending: joined(row, 1)?,
                    debits_posted: joined(row, 3)?,
                    credits_pending: joined(row, 5)?,
                    credits_posted: joined(row, 7)?,
                    pending_transfers: 0,
                })
            })?;
            let pending =
                store.read_rows(OP, &pending_sql, [], |row| Ok((get_small::<u32>(row, 0)?, joined(row, 1)?)))?;
            Ok((accounts, pending))
        })?;
        for t in accounts {
            totals.insert(t.ledger, t);
        }
        for (ledger, amount) in pending {
            totals.entry(ledger).or_insert(LedgerTotals { ledger, ..LedgerTotals::default() }).pending_transfers +=
                amount;
        }
        Ok(totals.into_values().collect())
    }

    fn pending_resolved_more_than_once(&mut self) -> StoreResult<u64> {
        let sql = format!(
            "SELECT COUNT(*) FROM (SELECT pending_id FROM transfers WHERE flags & {RESOLVES_MASK} <> 0 \
             GROUP BY pending_id HAVING COUNT(*) > 1)"
        );
        let counts = self.read_rows("pending resolved more than once", &sql, [], |row| get_u64(row, 0))?;
        Ok(counts.into_iter().sum())
    }
}
