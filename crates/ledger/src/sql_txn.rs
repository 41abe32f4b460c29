//! The ledger's tables inside a party's own `sqlstore` database, and [`SqlTxn`]: the [`Txn`]
//! seam over a `sqlstore::Tx`, so the engine reads and writes in the caller's transaction (one
//! commit for the ledger's rows and the party's own). [`crate::sql_ledger`] builds on it.
//!
//! Schema (portable DDL, [`DDL`], applied by `sqlstore`'s migration [`MIGRATION`]): the same
//! meaning as the SQLite and PostgreSQL stores — identifiers and 128-bit user data are 16-byte
//! big-endian BLOBs (`BYTEA` on PostgreSQL; byte order is numeric order), `u64` values are
//! BIGINTs holding the same 64 bits (amounts, balances and timestamps are at most `i64::MAX`, so
//! they compare correctly in SQL; only `user_data_64` may use the sign bit). The tables are
//! prefixed `ledger_` so they sit beside the party's own. Transfers are a rowid table on SQLite
//! with the unique id index as their primary key (the layout the SQLite store measured best; a
//! heap with its primary-key index on PostgreSQL).
//!
//! `ledger_meta` holds the highest timestamp written. Every batch first reads its row — on
//! PostgreSQL `FOR UPDATE`, which serialises ledger writers across processes as SQLite's write
//! lock does — so a batch reads balances no other batch is changing, and then continues the
//! timestamps after it. Inside a party's `sqlstore` batch the row and the accounts are kept
//! ([`sqlstore::Tx::keep`]): the first ledger batch reads them (and takes the lock, held to the
//! commit), the later ones see them as changed, and they are written once at the end, after
//! every decision. A decision undone after taking the lock undoes the kept row too, so the next
//! ledger batch locks again (PostgreSQL may drop a lock with its savepoint).

use sqlstore::{Row, Tx, Value};

use crate::store::{StoreError, StoreResult, Txn};
use crate::types::{Account, AccountBalance, AccountFlags, Id, PendingStatus, Transfer, TransferFlags, TransferRecord};

/// The `sqlstore` migration that creates the ledger's tables.
pub const MIGRATION: &str = "ledger-1";

/// Transfer flags that resolve a pending transfer (post or void): the partial index on
/// `pending_id` holds only these rows.
const RESOLVES_MASK: u16 = TransferFlags::POST_PENDING_TRANSFER.0 | TransferFlags::VOID_PENDING_TRANSFER.0;
// The index's `WHERE flags & 12 <> 0` must be the query's term, word for word.
const _: () = assert!(RESOLVES_MASK == 12);

/// The ledger's tables and indexes, portable DDL (`BLOB` is `BYTEA` on PostgreSQL).
pub const DDL: [&str; 7] = [
    "CREATE TABLE ledger_accounts (
        id BLOB PRIMARY KEY NOT NULL,
        debits_pending BIGINT NOT NULL,
        debits_posted BIGINT NOT NULL,
        credits_pending BIGINT NOT NULL,
        credits_posted BIGINT NOT NULL,
        user_data_128 BLOB NOT NULL,
        user_data_64 BIGINT NOT NULL,
        user_data_32 BIGINT NOT NULL,
        ledger BIGINT NOT NULL,
        code BIGINT NOT NULL,
        flags BIGINT NOT NULL,
        timestamp BIGINT NOT NULL
    )",
    "CREATE TABLE ledger_transfers (
        id BLOB PRIMARY KEY NOT NULL,
        debit_account_id BLOB NOT NULL,
        credit_account_id BLOB NOT NULL,
        amount BIGINT NOT NULL,
        pending_id BLOB NOT NULL,
        user_data_128 BLOB NOT NULL,
        user_data_64 BIGINT NOT NULL,
        user_data_32 BIGINT NOT NULL,
        timeout BIGINT NOT NULL,
        ledger BIGINT NOT NULL,
        code BIGINT NOT NULL,
        flags BIGINT NOT NULL,
        timestamp BIGINT NOT NULL,
        status BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
    )",
    // No per-account index on transfers (as in the other stores: it halves write throughput);
    // `account_transfers` scans.
    "CREATE INDEX ledger_transfers_due ON ledger_transfers (expires_at) WHERE status = 1 AND expires_at > 0",
    // Unique: a pending transfer is resolved at most once, whatever the engine decides.
    "CREATE UNIQUE INDEX ledger_transfers_resolving ON ledger_transfers (pending_id) WHERE flags & 12 <> 0",
    "CREATE TABLE ledger_account_balances (
        account_id BLOB NOT NULL,
        timestamp BIGINT NOT NULL,
        debits_pending BIGINT NOT NULL,
        debits_posted BIGINT NOT NULL,
        credits_pending BIGINT NOT NULL,
        credits_posted BIGINT NOT NULL,
        PRIMARY KEY (account_id, timestamp)
    )",
    "CREATE TABLE ledger_meta (
        id BIGINT PRIMARY KEY NOT NULL,
        max_timestamp BIGINT NOT NULL
    )",
    "INSERT INTO ledger_meta (id, max_timestamp) VALUES (0, 0)",
];

/// Create the ledger's tables in `db` if they are not there yet (idempotent).
pub fn migrate(db: &sqlstore::Database) -> sqlstore::Result<()> {
    db.migrate(MIGRATION, &DDL)
}

pub(crate) const ACCOUNT_SELECT: &str = "SELECT id, debits_pending, debits_posted, credits_pending, credits_posted, \
     user_data_128, user_data_64, user_data_32, ledger, code, flags, timestamp FROM ledger_accounts WHERE id = $1";

pub(crate) const TRANSFER_COLUMNS: &str = "id, debit_account_id, credit_account_id, amount, pending_id, \
     user_data_128, user_data_64, user_data_32, timeout, ledger, code, flags, timestamp, status, expires_at";

const TRANSFER_SELECT: &str = "SELECT id, debit_account_id, credit_account_id, amount, pending_id, user_data_128, \
     user_data_64, user_data_32, timeout, ledger, code, flags, timestamp, status, expires_at FROM ledger_transfers \
     WHERE id = $1";

const INSERT_ACCOUNT: &str = "INSERT INTO ledger_accounts (id, debits_pending, debits_posted, credits_pending, \
     credits_posted, user_data_128, user_data_64, user_data_32, ledger, code, flags, timestamp) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

const INSERT_TRANSFER: &str = "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, \
     pending_id, user_data_128, user_data_64, user_data_32, timeout, ledger, code, flags, timestamp, status, \
     expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";

const UPDATE_BALANCES: &str = "UPDATE ledger_accounts SET debits_pending = $2, debits_posted = $3, \
     credits_pending = $4, credits_posted = $5 WHERE id = $1";

const UPDATE_STATUS: &str = "UPDATE ledger_transfers SET status = $2 WHERE id = $1";

const INSERT_BALANCE: &str = "INSERT INTO ledger_account_balances (account_id, timestamp, debits_pending, \
     debits_posted, credits_pending, credits_posted) VALUES ($1, $2, $3, $4, $5, $6)";

/// Takes the row lock that serialises ledger batches on PostgreSQL and reads the highest
/// timestamp in the same statement. SQLite has no row locks and needs none: a writing
/// transaction holds the database's write lock from its `BEGIN IMMEDIATE`, so there the plain
/// read ([`SELECT_META`]) serves — an `UPDATE … RETURNING` in its place wrote the row's page
/// on every call and built a temporary table for the one value it returned.
const LOCK_AND_SELECT_META: &str = "SELECT max_timestamp FROM ledger_meta WHERE id = $1 FOR UPDATE";
const SELECT_META: &str = "SELECT max_timestamp FROM ledger_meta WHERE id = $1";
const RAISE_META: &str = "UPDATE ledger_meta SET max_timestamp = $1 WHERE id = $2 AND max_timestamp < $1";

/// A `u64` as a BIGINT: the same 64 bits.
pub(crate) fn sql_u64(value: u64) -> Value {
    Value::Int(value as i64)
}

pub(crate) fn sql_id(id: Id) -> Value {
    Value::Blob(id.to_be_bytes().to_vec())
}

fn get_u64(row: &Row, index: usize) -> sqlstore::Result<u64> {
    Ok(row.i64(index)? as u64)
}

fn get_id(row: &Row, index: usize) -> sqlstore::Result<Id> {
    let bytes = row.blob(index)?;
    let bytes: [u8; 16] = bytes.as_slice().try_into().map_err(|_| sqlstore::Error::column(index, "a 16-byte id"))?;
    Ok(u128::from_be_bytes(bytes))
}

pub(crate) fn get_small<T: TryFrom<i64>>(row: &Row, index: usize) -> sqlstore::Result<T> {
    T::try_from(row.i64(index)?).map_err(|_| sqlstore::Error::column(index, "a value in the column's range"))
}

pub(crate) fn account_from_row(row: &Row) -> sqlstore::Result<Account> {
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

pub(crate) fn transfer_from_row(row: &Row) -> sqlstore::Result<TransferRecord> {
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
    let status = PendingStatus::from_code(row.i64(13)?)
        .ok_or_else(|| sqlstore::Error::column(13, "a pending status this build writes"))?;
    Ok(TransferRecord { transfer, status, expires_at: get_u64(row, 14)? })
}

pub(crate) fn balance_from_row(row: &Row) -> sqlstore::Result<AccountBalance> {
    Ok(AccountBalance {
        account_id: get_id(row, 0)?,
        timestamp: get_u64(row, 1)?,
        debits_pending: get_u64(row, 2)?,
        debits_posted: get_u64(row, 3)?,
        credits_pending: get_u64(row, 4)?,
        credits_posted: get_u64(row, 5)?,
    })
}

/// The rows `sql` (a point query on `id = $1`) finds for `ids`, in their order (missing ones
/// skipped): one cached statement per id, as the SQLite store measured fastest.
fn load_by_ids<T>(
    tx: &mut Tx<'_>,
    sql: &str,
    ids: &[Id],
    map: fn(&Row) -> sqlstore::Result<T>,
) -> sqlstore::Result<Vec<T>> {
    let mut found = Vec::with_capacity(ids.len());
    for &id in ids {
        if let Some(row) = tx.query_opt(sql, &[sql_id(id)])? {
            found.push(map(&row)?);
        }
    }
    Ok(found)
}

/// What a batch keeps of the ledger ([`sqlstore::Tx::keep`]): every hold reads and changes the
/// settlement account and the highest timestamp, so a batch of holds reads each once and writes
/// each once, at its end (`ledger_totals` writes them out before it sums).
pub(crate) const KEPT_ACCOUNTS: &str = "ledger_accounts";
const KEPT_META: &str = "ledger_meta";
/// The key of `ledger_meta`'s one row.
const META_KEY: [u8; 1] = [0];

/// The accounts among `ids` that exist, in their order: as the batch keeps them, else read
/// (and kept).
pub(crate) fn load_accounts(tx: &mut Tx<'_>, ids: &[Id]) -> sqlstore::Result<Vec<Account>> {
    let mut found = Vec::with_capacity(ids.len());
    for &id in ids {
        let key = id.to_be_bytes();
        if let Some(row) = tx.kept(KEPT_ACCOUNTS, &key) {
            found.push(account_from_row(&row)?);
        } else if let Some(row) = tx.query_opt(ACCOUNT_SELECT, &[sql_id(id)])? {
            found.push(account_from_row(&row)?);
            tx.keep(KEPT_ACCOUNTS, &key, row);
        }
    }
    Ok(found)
}

/// `account`'s columns in [`ACCOUNT_SELECT`]'s (and [`INSERT_ACCOUNT`]'s) order.
fn account_values(a: &Account) -> Vec<Value> {
    vec![
        sql_id(a.id),
        sql_u64(a.debits_pending),
        sql_u64(a.debits_posted),
        sql_u64(a.credits_pending),
        sql_u64(a.credits_posted),
        sql_id(a.user_data_128),
        sql_u64(a.user_data_64),
        a.user_data_32.into(),
        a.ledger.into(),
        a.code.into(),
        a.flags.0.into(),
        sql_u64(a.timestamp),
    ]
}

pub(crate) fn load_transfers(tx: &mut Tx<'_>, ids: &[Id]) -> sqlstore::Result<Vec<TransferRecord>> {
    load_by_ids(tx, TRANSFER_SELECT, ids, transfer_from_row)
}

/// Lock the ledger for this transaction and read the highest timestamp written (kept for the
/// rest of the batch, under the lock the batch holds until it commits).
pub(crate) fn lock_and_read_max_timestamp(tx: &mut Tx<'_>) -> sqlstore::Result<u64> {
    if let Some(row) = tx.kept(KEPT_META, &META_KEY) {
        return get_u64(&row, 0);
    }
    let sql = match tx.kind() {
        sqlstore::BackendKind::Sqlite => SELECT_META,
        sqlstore::BackendKind::Postgres => LOCK_AND_SELECT_META,
    };
    let row = tx.query_opt(sql, &[Value::Int(0)])?;
    let max_timestamp = row.map_or(Ok(0), |row| get_u64(&row, 0))?;
    tx.keep(KEPT_META, &META_KEY, Row::new(vec![sql_u64(max_timestamp)]));
    Ok(max_timestamp)
}

pub(crate) fn read_max_timestamp(tx: &mut Tx<'_>) -> sqlstore::Result<u64> {
    if let Some(row) = tx.kept(KEPT_META, &META_KEY) {
        return get_u64(&row, 0);
    }
    let row = tx.query_opt(SELECT_META, &[Value::Int(0)])?;
    row.map_or(Ok(0), |row| get_u64(&row, 0))
}

/// Reads and writes of one ledger batch inside a `sqlstore` transaction. A failing statement's
/// `sqlstore::Error` is kept ([`SqlTxn::into_error`]) so the caller's transaction sees it as it
/// was (a PostgreSQL serialization failure stays retryable).
pub struct SqlTxn<'t, 'c> {
    tx: &'t mut Tx<'c>,
    /// The highest timestamp this batch writes, recorded in `ledger_meta` by [`SqlTxn::finish`].
    max_timestamp: u64,
    error: Option<sqlstore::Error>,
}

impl<'t, 'c> SqlTxn<'t, 'c> {
    /// A batch in `tx`; the caller has locked the ledger ([`lock_and_read_max_timestamp`]).
    pub(crate) fn new(tx: &'t mut Tx<'c>) -> SqlTxn<'t, 'c> {
        SqlTxn { tx, max_timestamp: 0, error: None }
    }

    /// Record the batch's highest timestamp (the transaction commits it with the rest; inside
    /// a `sqlstore` batch, once at its end).
    pub(crate) fn finish(self) -> sqlstore::Result<()> {
        if self.max_timestamp == 0 {
            return Ok(());
        }
        // Raised in SQL too (`max_timestamp < $1`): outside a batch nothing is kept.
        let highest = match self.tx.kept(KEPT_META, &META_KEY) {
            Some(row) => get_u64(&row, 0)?.max(self.max_timestamp),
            None => self.max_timestamp,
        };
        let params = vec![sql_u64(highest), Value::Int(0)];
        self.tx.update_kept(KEPT_META, &META_KEY, Row::new(vec![sql_u64(highest)]), RAISE_META, params, false)
    }

    /// The error to fail the caller's transaction with: the statement's own when one failed.
    pub(crate) fn into_error(self, error: StoreError) -> sqlstore::Error {
        self.error.unwrap_or_else(|| sqlstore::Error::new("ledger", error.to_string()))
    }

    pub(crate) fn saw_timestamp(&mut self, timestamp: u64) {
        self.max_timestamp = self.max_timestamp.max(timestamp);
    }

    /// Keep `error` and report it to the engine as a failed batch.
    fn fail(&mut self, op: &'static str, error: sqlstore::Error) -> StoreError {
        let message = format!("{op}: {error}");
        let store_error =
            if error.is_retryable() { StoreError::Retryable(message) } else { StoreError::Failed(message) };
        self.error.get_or_insert(error);
        store_error
    }

    fn run<T>(&mut self, op: &'static str, work: impl FnOnce(&mut Tx<'c>) -> sqlstore::Result<T>) -> StoreResult<T> {
        match work(self.tx) {
            Ok(value) => Ok(value),
            Err(error) => Err(self.fail(op, error)),
        }
    }

    /// One statement that must change exactly one row.
    fn change_one(&mut self, op: &'static str, sql: &str, params: &[Value], missing: &str) -> StoreResult<()> {
        match self.run(op, |tx| tx.execute(sql, params))? {
            1 => Ok(()),
            _ => Err(StoreError::Failed(format!("{op}: {missing}"))),
        }
    }
}

impl Txn for SqlTxn<'_, '_> {
    fn accounts(&mut self, ids: &[Id]) -> StoreResult<Vec<Account>> {
        self.run("load accounts", |tx| load_accounts(tx, ids))
    }

    fn transfers(&mut self, ids: &[Id]) -> StoreResult<Vec<TransferRecord>> {
        self.run("load transfers", |tx| load_transfers(tx, ids))
    }

    fn insert_accounts(&mut self, accounts: &[Account]) -> StoreResult<()> {
        for a in accounts {
            let params = account_values(a);
            self.run("insert accounts", |tx| tx.execute(INSERT_ACCOUNT, &params))?;
            self.saw_timestamp(a.timestamp);
        }
        Ok(())
    }

    fn insert_transfers(&mut self, transfers: &[TransferRecord]) -> StoreResult<()> {
        for r in transfers {
            let t = &r.transfer;
            let params = [
                sql_id(t.id),
                sql_id(t.debit_account_id),
                sql_id(t.credit_account_id),
                sql_u64(t.amount),
                sql_id(t.pending_id),
                sql_id(t.user_data_128),
                sql_u64(t.user_data_64),
                t.user_data_32.into(),
                t.timeout.into(),
                t.ledger.into(),
                t.code.into(),
                t.flags.0.into(),
                sql_u64(t.timestamp),
                Value::Int(r.status.code()),
                sql_u64(r.expires_at),
            ];
            self.run("insert transfers", |tx| tx.execute(INSERT_TRANSFER, &params))?;
            self.saw_timestamp(t.timestamp);
        }
        Ok(())
    }

    fn update_balances(&mut self, accounts: &[Account]) -> StoreResult<()> {
        for a in accounts {
            let params = vec![
                sql_id(a.id),
                sql_u64(a.debits_pending),
                sql_u64(a.debits_posted),
                sql_u64(a.credits_pending),
                sql_u64(a.credits_posted),
            ];
            let key = a.id.to_be_bytes();
            self.run("update balances", |tx| {
                tx.update_kept(KEPT_ACCOUNTS, &key, Row::new(account_values(a)), UPDATE_BALANCES, params, true)
            })?;
        }
        Ok(())
    }

    fn update_pending(&mut self, changes: &[(Id, PendingStatus)]) -> StoreResult<()> {
        for (id, status) in changes {
            let params = [sql_id(*id), Value::Int(status.code())];
            self.change_one("update pending", UPDATE_STATUS, &params, "a pending transfer to update is missing")?;
        }
        Ok(())
    }

    fn insert_balances(&mut self, history: &[AccountBalance]) -> StoreResult<()> {
        for b in history {
            let params = [
                sql_id(b.account_id),
                sql_u64(b.timestamp),
                sql_u64(b.debits_pending),
                sql_u64(b.debits_posted),
                sql_u64(b.credits_pending),
                sql_u64(b.credits_posted),
            ];
            self.run("insert balances", |tx| tx.execute(INSERT_BALANCE, &params))?;
            self.saw_timestamp(b.timestamp);
        }
        Ok(())
    }

    fn due_pending(&mut self, now: u64, limit: usize) -> StoreResult<Vec<TransferRecord>> {
        let sql = format!(
            "SELECT {TRANSFER_COLUMNS} FROM ledger_transfers WHERE status = 1 AND expires_at > 0 \
             AND expires_at <= $1 ORDER BY expires_at, id LIMIT $2"
        );
        let limit = Value::Int(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = self.run("due pending", |tx| tx.query(&sql, &[sql_u64(now), limit]))?;
        rows.iter()
            .map(transfer_from_row)
            .collect::<sqlstore::Result<Vec<_>>>()
            .map_err(|e| self.fail("due pending", e))
    }
}
