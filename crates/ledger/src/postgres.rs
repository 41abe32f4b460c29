//! The PostgreSQL store: the ledger on a database server that several ledger processes write
//! at once, with the same invariants as one process.
//!
//! # Schema
//!
//! One schema per ledger (its name is the caller's), three tables shaped as SQLite's:
//! `accounts`, `transfers` (with `status` = [`PendingStatus::code`] and `expires_at`) and
//! `account_balances`. Ids (`u128`) are 16-byte big-endian `bytea`, so byte order is numeric
//! order; `u64` values are `BIGINT` (amounts and balances are at most [`AMOUNT_MAX`]; the
//! opaque `user_data_64` is stored bit for bit, as a signed value); `u32` values are `BIGINT`,
//! `u16` values `INTEGER`. Indexes: no per-account index on transfers (keeping one current in
//! every batch halves write throughput; [`Store::account_transfers`] scans); the pending
//! transfers that can expire
//! (`status = 1 AND expires_at > 0`) by `expires_at`; balance history by (account, timestamp);
//! and a unique index on `pending_id` over the transfers that resolve a pending one, so the
//! database itself refuses a second post or void of one pending transfer.
//!
//! # Concurrency
//!
//! Each batch is one `READ COMMITTED` transaction that takes row locks before it decides:
//!
//! 1. [`Txn::transfers`] reads the transfers the batch names (its ids and the pending ids it
//!    posts or voids) `FOR UPDATE`, in id order. A pending transfer being resolved is therefore
//!    locked before its status is read; a concurrent post, void or expiry of it waits, and then
//!    reads the status the winner committed (PostgreSQL re-reads a row it waited for), so it
//!    answers `pending_transfer_already_posted` (…voided, …expired) instead of releasing the
//!    amount twice.
//! 2. [`Txn::accounts`] reads every account the batch touches `FOR UPDATE`, in id order (the
//!    ledger passes them sorted; `ORDER BY id` makes the lock order the id order). Balances are
//!    read after the locks are held, so they include every committed batch and no other batch
//!    can change them until this one commits: limits, balancing amounts and overflow checks are
//!    decided on the balances that are written back, and Σ debits = Σ credits holds.
//! 3. The writes touch only locked rows, except the inserts. A transfer or account id that did
//!    not exist when read can be inserted by a concurrent batch: the primary key makes the
//!    second insert fail with `unique_violation` (23505), which is retryable here, and the retry
//!    reads the row and answers `exists`. New rows are inserted in id order so two batches with
//!    several ids in common wait for each other in one order. Transfers are written with one
//!    `INSERT … SELECT FROM unnest(…)` of column arrays, or with binary `COPY` from 256 rows on;
//!    balances with one `UPDATE … FROM unnest(…)`. `accounts` has fillfactor 50, so the balance
//!    updates are HOT updates (no index writes).
//! 4. [`Txn::due_pending`] (expiry) locks the due pending transfers `FOR UPDATE SKIP LOCKED`:
//!    a transfer that a batch is posting or voiding is skipped (the next sweep sees its new
//!    status); `status = 1` is checked on the locked row.
//!
//! Every process takes its locks in the same order (transfers by id, then accounts by id), so
//! lock waits form no cycle; anything that still deadlocks (an unusual plan, an operator's
//! statement) ends as `deadlock_detected` (40P01), also retried. This is cheaper than
//! `SERIALIZABLE`, which would abort and redo a batch whenever two batches touch one hot account
//! (a settlement or fee account is in almost every batch), where row locks only queue them. The
//! locking reads are sent as unnamed statements (see `lock_rows`): a prepared statement's generic
//! plan rechecks `id = ANY(…)` element by element on every row that a batch it waited for had
//! changed, which made a batch of 8,190 behind another take a second.
//!
//! `serialization_failure` (40001) is retried too: PostgreSQL-wire distributed SQL databases
//! (CockroachDB, YugabyteDB) run these transactions as `SERIALIZABLE` and report conflicts that
//! way, also at commit. A retried batch runs the ledger's decision again from fresh reads (at
//! most [`RETRIES_MAX`] times, with jittered exponential backoff). A connection that goes away
//! before the commit is sent is replaced and the batch run again (the server rolled it back);
//! one lost during the commit fails the batch with a message saying it may have been applied
//! (resubmitting the batch is safe: what was applied answers `exists`). Any other error fails
//! the batch with nothing applied. Reads are run once more on a new connection likewise.
//!
//! Timestamps: every ledger process stamps its own events (strictly increasing per process,
//! after the largest stored one when it opened), as the SQLite store's single writer does; with
//! several processes the stamps of different processes may interleave or collide, and reads
//! order by timestamp, then id. [`Store::max_timestamp`] scans the three tables (no index on
//! timestamp alone): it is read when a ledger opens.

use sqlstore::DropOffThread;
use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::error::SqlState;
use postgres::types::{FromSql, Type};
use postgres::{Client, IsolationLevel, NoTls, Row, Statement, Transaction};

use crate::store::{LedgerTotals, RETRIES_MAX, Store, StoreError, StoreResult, Txn};
use crate::types::{
    AMOUNT_MAX, Account, AccountBalance, AccountFlags, Id, PendingStatus, Transfer, TransferFlags, TransferRecord,
};

/// Transfer flags that resolve a pending transfer (post, void): the unique index's predicate.
const RESOLVES_MASK: u16 = TransferFlags::POST_PENDING_TRANSFER.0 | TransferFlags::VOID_PENDING_TRANSFER.0;
// `flags & 12` is spelled out in the index and the query that can use it.
const _: () = assert!(RESOLVES_MASK == 12);

/// The tables and indexes; every statement is idempotent.
const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS accounts (
    id bytea PRIMARY KEY,
    debits_pending bigint NOT NULL CHECK (debits_pending >= 0),
    debits_posted bigint NOT NULL CHECK (debits_posted >= 0),
    credits_pending bigint NOT NULL CHECK (credits_pending >= 0),
    credits_posted bigint NOT NULL CHECK (credits_posted >= 0),
    user_data_128 bytea NOT NULL,
    user_data_64 bigint NOT NULL,
    user_data_32 bigint NOT NULL,
    ledger bigint NOT NULL,
    code integer NOT NULL,
    flags integer NOT NULL,
    timestamp bigint NOT NULL
) WITH (fillfactor = 50);
CREATE TABLE IF NOT EXISTS transfers (
    id bytea PRIMARY KEY,
    debit_account_id bytea NOT NULL,
    credit_account_id bytea NOT NULL,
    amount bigint NOT NULL CHECK (amount >= 0),
    pending_id bytea NOT NULL,
    user_data_128 bytea NOT NULL,
    user_data_64 bigint NOT NULL,
    user_data_32 bigint NOT NULL,
    timeout bigint NOT NULL,
    ledger bigint NOT NULL,
    code integer NOT NULL,
    flags integer NOT NULL,
    timestamp bigint NOT NULL,
    status integer NOT NULL,
    expires_at bigint NOT NULL
);
-- No per-account index on transfers: keeping one current inside every batch cost more than half
-- the write throughput (docs/benchmarks.md). `account_transfers` scans; per-account trails that
-- must be fast come from `account_balances` (accounts with the history flag).
CREATE INDEX IF NOT EXISTS transfers_expiry ON transfers (expires_at) WHERE status = 1 AND expires_at > 0;
CREATE UNIQUE INDEX IF NOT EXISTS transfers_resolving_pending ON transfers (pending_id) WHERE flags & 12 <> 0;
CREATE TABLE IF NOT EXISTS account_balances (
    account_id bytea NOT NULL,
    timestamp bigint NOT NULL,
    debits_pending bigint NOT NULL,
    debits_posted bigint NOT NULL,
    credits_pending bigint NOT NULL,
    credits_posted bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS account_balances_account ON account_balances (account_id, timestamp);
";

const ACCOUNT_COLUMNS: &str = "id, debits_pending, debits_posted, credits_pending, credits_posted, user_data_128, \
     user_data_64, user_data_32, ledger, code, flags, timestamp";

const TRANSFER_COLUMNS: &str = "id, debit_account_id, credit_account_id, amount, pending_id, user_data_128, \
     user_data_64, user_data_32, timeout, ledger, code, flags, timestamp, status, expires_at";

const BALANCE_COLUMNS: &str = "account_id, timestamp, debits_pending, debits_posted, credits_pending, credits_posted";

/// The statements, prepared once per connection.
struct Statements {
    /// Not prepared (see [`lock_rows`]).
    accounts_for_update: String,
    accounts: Statement,
    /// Not prepared (see [`lock_rows`]).
    transfers_for_update: String,
    transfers: Statement,
    insert_accounts: Statement,
    insert_transfers: Statement,
    update_balances: Statement,
    update_pending: Statement,
    insert_balances: Statement,
    due_pending: Statement,
    account_transfers: Statement,
    account_balances: Statement,
}

impl Statements {
    fn prepare(client: &mut Client) -> StoreResult<Statements> {
        let mut prepare = |sql: String| client.prepare(&sql).map_err(|e| error("prepare", &e));
        Ok(Statements {
            accounts_for_update: format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ANY($1::bytea[]) ORDER BY id FOR UPDATE"
            ),
            accounts: prepare(format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ANY($1::bytea[])"))?,
            transfers_for_update: format!(
                "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = ANY($1::bytea[]) ORDER BY id FOR UPDATE"
            ),
            transfers: prepare(format!("SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = ANY($1::bytea[])"))?,
            insert_accounts: prepare(format!(
                "INSERT INTO accounts ({ACCOUNT_COLUMNS}) SELECT * FROM unnest($1::bytea[], $2::bigint[], \
                 $3::bigint[], $4::bigint[], $5::bigint[], $6::bytea[], $7::bigint[], $8::bigint[], $9::bigint[], \
                 $10::integer[], $11::integer[], $12::bigint[])"
            ))?,
            insert_transfers: prepare(format!(
                "INSERT INTO transfers ({TRANSFER_COLUMNS}) SELECT * FROM unnest($1::bytea[], $2::bytea[], \
                 $3::bytea[], $4::bigint[], $5::bytea[], $6::bytea[], $7::bigint[], $8::bigint[], $9::bigint[], \
                 $10::bigint[], $11::integer[], $12::integer[], $13::bigint[], $14::integer[], $15::bigint[])"
            ))?,
            update_balances: prepare(
                "UPDATE accounts SET debits_pending = u.debits_pending, debits_posted = u.debits_posted, \
                 credits_pending = u.credits_pending, credits_posted = u.credits_posted \
                 FROM unnest($1::bytea[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) \
                 AS u(id, debits_pending, debits_posted, credits_pending, credits_posted) \
                 WHERE accounts.id = u.id"
                    .to_owned(),
            )?,
            update_pending: prepare(
                "UPDATE transfers SET status = u.status FROM unnest($1::bytea[], $2::integer[]) AS u(id, status) \
                 WHERE transfers.id = u.id"
                    .to_owned(),
            )?,
            insert_balances: prepare(format!(
                "INSERT INTO account_balances ({BALANCE_COLUMNS}) SELECT * FROM unnest($1::bytea[], $2::bigint[], \
                 $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])"
            ))?,
            due_pending: prepare(format!(
                "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE status = 1 AND expires_at > 0 AND expires_at <= $1 \
                 ORDER BY expires_at, id LIMIT $2 FOR UPDATE SKIP LOCKED"
            ))?,
            // A scan: there is no per-account index on transfers (see the module doc).
            account_transfers: prepare(format!(
                "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE debit_account_id = $1 OR credit_account_id = $1 \
                 ORDER BY timestamp, id LIMIT $2"
            ))?,
            account_balances: prepare(format!(
                "SELECT {BALANCE_COLUMNS} FROM account_balances WHERE account_id = $1 ORDER BY timestamp LIMIT $2"
            ))?,
        })
    }
}

/// The ledger's tables in one PostgreSQL schema, over one connection.
pub struct PostgresStore {
    url: String,
    schema: String,
    // Dropped on its own thread: the sync client's Drop must not run on a tokio worker.
    client: DropOffThread<Client>,
    statements: Statements,
    /// Jitter for the retry backoff.
    rng: u64,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("schema", &self.schema).finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connect to `url` (`postgres://user@host:port/database` or key=value form, no TLS), create
    /// `schema` and the ledger's tables in it if missing, and use it for this connection.
    pub fn connect(url: &str, schema: &str) -> StoreResult<PostgresStore> {
        let mut client = Client::connect(url, NoTls).map_err(|e| error("connect", &e))?;
        create_schema(&mut client, schema)?;
        let (client, statements) = open(client, schema)?;
        // A per-process random seed (the standard library's hasher keys).
        let seed = RandomState::new().build_hasher().finish();
        Ok(PostgresStore {
            url: url.to_owned(),
            schema: schema.to_owned(),
            client: DropOffThread::new(client),
            statements,
            rng: seed | 1,
        })
    }

    /// Open a fresh connection when the server closed this one (restart, idle timeout).
    fn reconnect_if_closed(&mut self) -> StoreResult<()> {
        if self.client.is_closed() { self.reconnect() } else { Ok(()) }
    }

    fn reconnect(&mut self) -> StoreResult<()> {
        let client = Client::connect(&self.url, NoTls).map_err(|e| error("reconnect", &e))?;
        let (client, statements) = open(client, &self.schema)?;
        self.client = DropOffThread::new(client);
        self.statements = statements;
        Ok(())
    }

    /// Run a read; when it fails because the connection went away, run it once more on a new one.
    fn read<T>(&mut self, mut read: impl FnMut(&mut Client, &Statements) -> StoreResult<T>) -> StoreResult<T> {
        self.reconnect_if_closed()?;
        match read(&mut self.client, &self.statements) {
            Err(StoreError::Failed(_)) if self.connection_lost() => {
                self.reconnect()?;
                read(&mut self.client, &self.statements)
            }
            other => other,
        }
    }

    /// Whether the connection is gone (asked after a failure: one round trip).
    fn connection_lost(&mut self) -> bool {
        self.client.is_closed() || self.client.is_valid(Duration::from_secs(5)).is_err()
    }

    /// One attempt at a batch: begin, run `work`, commit. An error drops the transaction, which
    /// rolls it back.
    fn attempt<T>(&mut self, work: &mut dyn FnMut(&mut dyn Txn) -> StoreResult<T>) -> Result<T, Failure> {
        self.reconnect_if_closed().map_err(Failure::BeforeCommit)?;
        let mut transaction = self
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .map_err(|e| Failure::BeforeCommit(error("begin", &e)))?;
        let result = work(&mut PgTxn { transaction: &mut transaction, statements: &self.statements })
            .map_err(Failure::BeforeCommit)?;
        transaction.commit().map_err(|e| Failure::AtCommit(error("commit", &e)))?;
        Ok(result)
    }

    /// Sleep before retry `attempt` (1-based): up to 1 ms, doubling to 64 ms, uniformly jittered.
    fn backoff(&mut self, attempt: usize) {
        // xorshift64
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let cap_us = 1_000u64 << attempt.saturating_sub(1).min(6);
        std::thread::sleep(Duration::from_micros(1 + self.rng % cap_us));
    }
}

/// Drop `schema` and everything in it (tests clean up with it). A ledger still writing to it
/// can make the drop a deadlock victim; that is retried (by `sqlstore`, which does the same for
/// every party's schema).
pub fn drop_schema(url: &str, schema: &str) -> StoreResult<()> {
    sqlstore::drop_postgres_schema(url, schema).map_err(|e| StoreError::Failed(e.to_string()))
}

/// Create the schema and tables; two processes starting at once may race on the catalog, so
/// conflicts are retried.
fn create_schema(client: &mut Client, schema: &str) -> StoreResult<()> {
    let sql = format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}; SET LOCAL search_path TO {schema}; {SCHEMA}",
        schema = quote_identifier(schema)
    );
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = client.transaction().and_then(|mut t| {
            t.batch_execute(&sql)?;
            t.commit()
        });
        match result {
            Ok(()) => return Ok(()),
            Err(e) => {
                let racing = e.code().is_some_and(|code| {
                    retryable(code) || *code == SqlState::DUPLICATE_SCHEMA || *code == SqlState::DUPLICATE_TABLE
                });
                if !racing || attempt >= RETRIES_MAX {
                    return Err(error("create schema", &e));
                }
                std::thread::sleep(Duration::from_millis(attempt as u64));
            }
        }
    }
}

/// Point the connection at `schema` and prepare the statements.
fn open(mut client: Client, schema: &str) -> StoreResult<(Client, Statements)> {
    client
        .batch_execute(&format!("SET search_path TO {}", quote_identifier(schema)))
        .map_err(|e| error("set search_path", &e))?;
    let statements = Statements::prepare(&mut client)?;
    Ok((client, statements))
}

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn retryable(code: &SqlState) -> bool {
    *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::UNIQUE_VIOLATION
}

/// A database error as the store reports it: the operation, the SQLSTATE and the message.
fn error(operation: &str, e: &postgres::Error) -> StoreError {
    let why = match e.as_db_error() {
        Some(db) => {
            let mut why = format!("{operation}: SQLSTATE {}: {}", db.code().code(), db.message());
            if let Some(detail) = db.detail() {
                why.push_str(&format!(" ({detail})"));
            }
            why
        }
        None => match e.code() {
            Some(code) => format!("{operation}: SQLSTATE {}: {e}", code.code()),
            None => format!("{operation}: {e}"),
        },
    };
    if e.code().is_some_and(retryable) { StoreError::Retryable(why) } else { StoreError::Failed(why) }
}

fn id_bytes(id: Id) -> [u8; 16] {
    id.to_be_bytes()
}

/// A column of ids as a `bytea[]` parameter (borrowing `raw`).
fn slices(raw: &[[u8; 16]]) -> Vec<&[u8]> {
    raw.iter().map(|bytes| bytes.as_slice()).collect()
}

fn ids_param(ids: &[Id]) -> Vec<[u8; 16]> {
    ids.iter().map(|&id| id_bytes(id)).collect()
}

/// A `usize` limit as a `BIGINT`.
fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn column<'a, T: FromSql<'a>>(row: &'a Row, index: usize) -> StoreResult<T> {
    row.try_get(index).map_err(|e| StoreError::Failed(format!("reading column {index}: {e}")))
}

fn id_column(row: &Row, index: usize) -> StoreResult<Id> {
    let bytes: &[u8] = column(row, index)?;
    <[u8; 16]>::try_from(bytes)
        .map(u128::from_be_bytes)
        .map_err(|_| StoreError::Failed(format!("column {index}: an id of {} bytes", bytes.len())))
}

/// A `BIGINT` holding an amount or balance (0..=AMOUNT_MAX, checked by the table).
fn amount_column(row: &Row, index: usize) -> StoreResult<u64> {
    let value: i64 = column(row, index)?;
    u64::try_from(value).map_err(|_| StoreError::Failed(format!("column {index}: negative amount {value}")))
}

/// A `BIGINT` holding a `u64` bit for bit.
fn u64_column(row: &Row, index: usize) -> StoreResult<u64> {
    Ok(column::<i64>(row, index)? as u64)
}

fn narrow_column<T: TryFrom<i64>>(row: &Row, index: usize) -> StoreResult<T> {
    let value: i64 = match row.columns().get(index).map(|c| c.type_().name()) {
        Some("int4") => i64::from(column::<i32>(row, index)?),
        _ => column(row, index)?,
    };
    T::try_from(value).map_err(|_| StoreError::Failed(format!("column {index}: {value} out of range")))
}

fn account_from_row(row: &Row) -> StoreResult<Account> {
    Ok(Account {
        id: id_column(row, 0)?,
        debits_pending: amount_column(row, 1)?,
        debits_posted: amount_column(row, 2)?,
        credits_pending: amount_column(row, 3)?,
        credits_posted: amount_column(row, 4)?,
        user_data_128: id_column(row, 5)?,
        user_data_64: u64_column(row, 6)?,
        user_data_32: narrow_column(row, 7)?,
        ledger: narrow_column(row, 8)?,
        code: narrow_column(row, 9)?,
        flags: AccountFlags(narrow_column(row, 10)?),
        timestamp: u64_column(row, 11)?,
    })
}

fn transfer_from_row(row: &Row) -> StoreResult<TransferRecord> {
    let status: i64 = narrow_column(row, 13)?;
    Ok(TransferRecord {
        transfer: Transfer {
            id: id_column(row, 0)?,
            debit_account_id: id_column(row, 1)?,
            credit_account_id: id_column(row, 2)?,
            amount: amount_column(row, 3)?,
            pending_id: id_column(row, 4)?,
            user_data_128: id_column(row, 5)?,
            user_data_64: u64_column(row, 6)?,
            user_data_32: narrow_column(row, 7)?,
            timeout: narrow_column(row, 8)?,
            ledger: narrow_column(row, 9)?,
            code: narrow_column(row, 10)?,
            flags: TransferFlags(narrow_column(row, 11)?),
            timestamp: u64_column(row, 12)?,
        },
        status: PendingStatus::from_code(status)
            .ok_or_else(|| StoreError::Failed(format!("transfer status {status} unknown")))?,
        expires_at: u64_column(row, 14)?,
    })
}

fn balance_from_row(row: &Row) -> StoreResult<AccountBalance> {
    Ok(AccountBalance {
        account_id: id_column(row, 0)?,
        timestamp: u64_column(row, 1)?,
        debits_pending: amount_column(row, 2)?,
        debits_posted: amount_column(row, 3)?,
        credits_pending: amount_column(row, 4)?,
        credits_posted: amount_column(row, 5)?,
    })
}

/// An amount or balance as a `BIGINT`; the ledger keeps them within [`AMOUNT_MAX`].
fn amount_param(value: u64) -> i64 {
    debug_assert!(value <= AMOUNT_MAX);
    value as i64
}

/// Rows returned for `ids` in the order of `ids` (duplicates repeated, missing ones left out),
/// as the in-memory store answers lookups.
fn in_request_order<T: Copy>(ids: &[Id], found: Vec<T>, id_of: impl Fn(&T) -> Id) -> Vec<T> {
    let by_id: HashMap<Id, T> = found.into_iter().map(|row| (id_of(&row), row)).collect();
    ids.iter().filter_map(|id| by_id.get(id).copied()).collect()
}

fn query_accounts(
    client: &mut impl postgres::GenericClient,
    statement: &Statement,
    ids: &[Id],
) -> StoreResult<Vec<Account>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = client.query(statement, &[&slices(&ids_param(ids))]).map_err(|e| error("read accounts", &e))?;
    rows.iter().map(account_from_row).collect()
}

fn query_transfers(
    client: &mut impl postgres::GenericClient,
    statement: &Statement,
    ids: &[Id],
) -> StoreResult<Vec<TransferRecord>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = client.query(statement, &[&slices(&ids_param(ids))]).map_err(|e| error("read transfers", &e))?;
    rows.iter().map(transfer_from_row).collect()
}

/// From how many rows transfers are written with `COPY` rather than one `INSERT`: `COPY` takes
/// a round trip more, and a third less time per row (measured with batches of 8,190).
const COPY_ROWS_MIN: usize = 256;

/// Write transfers with `COPY … FROM STDIN (FORMAT binary)`.
fn copy_transfers(transaction: &mut Transaction<'_>, transfers: &[TransferRecord]) -> StoreResult<()> {
    const TYPES: [Type; 15] = [
        Type::BYTEA,
        Type::BYTEA,
        Type::BYTEA,
        Type::INT8,
        Type::BYTEA,
        Type::BYTEA,
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::INT4,
        Type::INT4,
        Type::INT8,
        Type::INT4,
        Type::INT8,
    ];
    let fail = |e: postgres::Error| error("copy transfers", &e);
    let copy = transaction
        .copy_in(&format!("COPY transfers ({TRANSFER_COLUMNS}) FROM STDIN (FORMAT binary)"))
        .map_err(fail)?;
    let mut writer = BinaryCopyInWriter::new(copy, &TYPES);
    for record in transfers {
        let t = &record.transfer;
        let ids = [t.id, t.debit_account_id, t.credit_account_id, t.pending_id, t.user_data_128].map(id_bytes);
        writer
            .write(&[
                &ids[0].as_slice(),
                &ids[1].as_slice(),
                &ids[2].as_slice(),
                &amount_param(t.amount),
                &ids[3].as_slice(),
                &ids[4].as_slice(),
                &(t.user_data_64 as i64),
                &i64::from(t.user_data_32),
                &i64::from(t.timeout),
                &i64::from(t.ledger),
                &i32::from(t.code),
                &i32::from(t.flags.0),
                &(t.timestamp as i64),
                &(record.status.code() as i32),
                &(record.expires_at as i64),
            ])
            .map_err(fail)?;
    }
    writer.finish().map_err(fail)?;
    Ok(())
}

/// How an attempt at a batch failed: before the commit was sent (the server rolls back), or at
/// the commit.
enum Failure {
    BeforeCommit(StoreError),
    AtCommit(StoreError),
}

/// One batch's transaction.
struct PgTxn<'t, 'c> {
    transaction: &'t mut Transaction<'c>,
    statements: &'t Statements,
}

/// Lock and read the rows of `ids` with `sql` (`… WHERE id = ANY($1) ORDER BY id FOR UPDATE`).
///
/// Sent as an unnamed statement, so PostgreSQL plans it for this array (a custom plan) and
/// checks `id = ANY(…)` with a hash table. A prepared statement's generic plan compares each
/// row with every element instead, and when the rows were changed by the batch this one waited
/// for, PostgreSQL rechecks that condition on each of them: with thousands of hot rows that is
/// quadratic (a second per batch of 8,190 measured, against milliseconds).
fn lock_rows(transaction: &mut Transaction<'_>, sql: &str, ids: &[Id], what: &str) -> StoreResult<Vec<Row>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let raw = ids_param(ids);
    let ids = slices(&raw);
    transaction.query_typed(sql, &[(&ids, Type::BYTEA_ARRAY)]).map_err(|e| error(what, &e))
}

impl Txn for PgTxn<'_, '_> {
    fn accounts(&mut self, ids: &[Id]) -> StoreResult<Vec<Account>> {
        let rows = lock_rows(self.transaction, &self.statements.accounts_for_update, ids, "lock accounts")?;
        rows.iter().map(account_from_row).collect()
    }

    fn transfers(&mut self, ids: &[Id]) -> StoreResult<Vec<TransferRecord>> {
        // Locked: the pending transfers among them are about to be posted or voided.
        let rows = lock_rows(self.transaction, &self.statements.transfers_for_update, ids, "lock transfers")?;
        rows.iter().map(transfer_from_row).collect()
    }

    fn insert_accounts(&mut self, accounts: &[Account]) -> StoreResult<()> {
        if accounts.is_empty() {
            return Ok(());
        }
        let mut sorted = accounts.to_vec();
        sorted.sort_unstable_by_key(|a| a.id);
        let ids: Vec<[u8; 16]> = sorted.iter().map(|a| id_bytes(a.id)).collect();
        let debits_pending: Vec<i64> = sorted.iter().map(|a| amount_param(a.debits_pending)).collect();
        let debits_posted: Vec<i64> = sorted.iter().map(|a| amount_param(a.debits_posted)).collect();
        let credits_pending: Vec<i64> = sorted.iter().map(|a| amount_param(a.credits_pending)).collect();
        let credits_posted: Vec<i64> = sorted.iter().map(|a| amount_param(a.credits_posted)).collect();
        let user_data_128: Vec<[u8; 16]> = sorted.iter().map(|a| id_bytes(a.user_data_128)).collect();
        let user_data_64: Vec<i64> = sorted.iter().map(|a| a.user_data_64 as i64).collect();
        let user_data_32: Vec<i64> = sorted.iter().map(|a| i64::from(a.user_data_32)).collect();
        let ledger: Vec<i64> = sorted.iter().map(|a| i64::from(a.ledger)).collect();
        let code: Vec<i32> = sorted.iter().map(|a| i32::from(a.code)).collect();
        let flags: Vec<i32> = sorted.iter().map(|a| i32::from(a.flags.0)).collect();
        let timestamp: Vec<i64> = sorted.iter().map(|a| a.timestamp as i64).collect();
        self.transaction
            .execute(
                &self.statements.insert_accounts,
                &[
                    &slices(&ids),
                    &debits_pending,
                    &debits_posted,
                    &credits_pending,
                    &credits_posted,
                    &slices(&user_data_128),
                    &user_data_64,
                    &user_data_32,
                    &ledger,
                    &code,
                    &flags,
                    &timestamp,
                ],
            )
            .map_err(|e| error("insert accounts", &e))?;
        Ok(())
    }

    fn insert_transfers(&mut self, transfers: &[TransferRecord]) -> StoreResult<()> {
        if transfers.is_empty() {
            return Ok(());
        }
        let mut sorted = transfers.to_vec();
        sorted.sort_unstable_by_key(|r| r.transfer.id);
        if sorted.len() >= COPY_ROWS_MIN {
            return copy_transfers(self.transaction, &sorted);
        }
        let t = |f: &dyn Fn(&Transfer) -> [u8; 16]| sorted.iter().map(|r| f(&r.transfer)).collect::<Vec<_>>();
        let ids = t(&|t| id_bytes(t.id));
        let debit_account_id = t(&|t| id_bytes(t.debit_account_id));
        let credit_account_id = t(&|t| id_bytes(t.credit_account_id));
        let pending_id = t(&|t| id_bytes(t.pending_id));
        let user_data_128 = t(&|t| id_bytes(t.user_data_128));
        let amount: Vec<i64> = sorted.iter().map(|r| amount_param(r.transfer.amount)).collect();
        let user_data_64: Vec<i64> = sorted.iter().map(|r| r.transfer.user_data_64 as i64).collect();
        let user_data_32: Vec<i64> = sorted.iter().map(|r| i64::from(r.transfer.user_data_32)).collect();
        let timeout: Vec<i64> = sorted.iter().map(|r| i64::from(r.transfer.timeout)).collect();
        let ledger: Vec<i64> = sorted.iter().map(|r| i64::from(r.transfer.ledger)).collect();
        let code: Vec<i32> = sorted.iter().map(|r| i32::from(r.transfer.code)).collect();
        let flags: Vec<i32> = sorted.iter().map(|r| i32::from(r.transfer.flags.0)).collect();
        let timestamp: Vec<i64> = sorted.iter().map(|r| r.transfer.timestamp as i64).collect();
        let status: Vec<i32> = sorted.iter().map(|r| r.status.code() as i32).collect();
        let expires_at: Vec<i64> = sorted.iter().map(|r| r.expires_at as i64).collect();
        self.transaction
            .execute(
                &self.statements.insert_transfers,
                &[
                    &slices(&ids),
                    &slices(&debit_account_id),
                    &slices(&credit_account_id),
                    &amount,
                    &slices(&pending_id),
                    &slices(&user_data_128),
                    &user_data_64,
                    &user_data_32,
                    &timeout,
                    &ledger,
                    &code,
                    &flags,
                    &timestamp,
                    &status,
                    &expires_at,
                ],
            )
            .map_err(|e| error("insert transfers", &e))?;
        Ok(())
    }

    fn update_balances(&mut self, accounts: &[Account]) -> StoreResult<()> {
        if accounts.is_empty() {
            return Ok(());
        }
        let ids: Vec<[u8; 16]> = accounts.iter().map(|a| id_bytes(a.id)).collect();
        let debits_pending: Vec<i64> = accounts.iter().map(|a| amount_param(a.debits_pending)).collect();
        let debits_posted: Vec<i64> = accounts.iter().map(|a| amount_param(a.debits_posted)).collect();
        let credits_pending: Vec<i64> = accounts.iter().map(|a| amount_param(a.credits_pending)).collect();
        let credits_posted: Vec<i64> = accounts.iter().map(|a| amount_param(a.credits_posted)).collect();
        let updated = self
            .transaction
            .execute(
                &self.statements.update_balances,
                &[&slices(&ids), &debits_pending, &debits_posted, &credits_pending, &credits_posted],
            )
            .map_err(|e| error("update balances", &e))?;
        if updated != accounts.len() as u64 {
            return Err(StoreError::Failed(format!("update balances: {updated} of {} accounts found", accounts.len())));
        }
        Ok(())
    }

    fn update_pending(&mut self, changes: &[(Id, PendingStatus)]) -> StoreResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let ids: Vec<[u8; 16]> = changes.iter().map(|(id, _)| id_bytes(*id)).collect();
        let status: Vec<i32> = changes.iter().map(|(_, status)| status.code() as i32).collect();
        let updated = self
            .transaction
            .execute(&self.statements.update_pending, &[&slices(&ids), &status])
            .map_err(|e| error("update pending transfers", &e))?;
        if updated != changes.len() as u64 {
            return Err(StoreError::Failed(format!(
                "update pending transfers: {updated} of {} transfers found",
                changes.len()
            )));
        }
        Ok(())
    }

    fn insert_balances(&mut self, history: &[AccountBalance]) -> StoreResult<()> {
        if history.is_empty() {
            return Ok(());
        }
        let ids: Vec<[u8; 16]> = history.iter().map(|b| id_bytes(b.account_id)).collect();
        let timestamp: Vec<i64> = history.iter().map(|b| b.timestamp as i64).collect();
        let debits_pending: Vec<i64> = history.iter().map(|b| amount_param(b.debits_pending)).collect();
        let debits_posted: Vec<i64> = history.iter().map(|b| amount_param(b.debits_posted)).collect();
        let credits_pending: Vec<i64> = history.iter().map(|b| amount_param(b.credits_pending)).collect();
        let credits_posted: Vec<i64> = history.iter().map(|b| amount_param(b.credits_posted)).collect();
        self.transaction
            .execute(
                &self.statements.insert_balances,
                &[&slices(&ids), &timestamp, &debits_pending, &debits_posted, &credits_pending, &credits_posted],
            )
            .map_err(|e| error("insert balance history", &e))?;
        Ok(())
    }

    fn due_pending(&mut self, now: u64, limit: usize) -> StoreResult<Vec<TransferRecord>> {
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let rows = self
            .transaction
            .query(&self.statements.due_pending, &[&now, &limit_param(limit)])
            .map_err(|e| error("read due pending transfers", &e))?;
        rows.iter().map(transfer_from_row).collect()
    }
}

impl Store for PostgresStore {
    fn transact<T>(&mut self, work: &mut dyn FnMut(&mut dyn Txn) -> StoreResult<T>) -> StoreResult<T> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= RETRIES_MAX;
            match self.attempt(work) {
                Ok(result) => return Ok(result),
                // A conflict, reported by a statement or by the commit: rolled back.
                Err(
                    Failure::BeforeCommit(StoreError::Retryable(why)) | Failure::AtCommit(StoreError::Retryable(why)),
                ) => {
                    if last {
                        return Err(StoreError::Retryable(format!("{why} (gave up after {attempt} attempts)")));
                    }
                    self.backoff(attempt);
                }
                // The connection went away before the commit was sent: the server rolled the
                // transaction back, so it runs again on a new connection.
                Err(Failure::BeforeCommit(error)) => {
                    if last || !self.connection_lost() {
                        return Err(error);
                    }
                    self.reconnect()?;
                }
                // The commit failed or its answer was lost: the batch may or may not be applied,
                // so it is not run again here (resubmitting it answers `exists` for what was).
                Err(Failure::AtCommit(StoreError::Failed(why))) => {
                    return Err(StoreError::Failed(if self.connection_lost() {
                        format!("{why} (connection lost during commit: the batch may have been applied)")
                    } else {
                        why
                    }));
                }
            }
        }
    }

    fn lookup_accounts(&mut self, ids: &[Id]) -> StoreResult<Vec<Account>> {
        let found = self.read(|client, statements| query_accounts(client, &statements.accounts, ids))?;
        Ok(in_request_order(ids, found, |a| a.id))
    }

    fn lookup_transfers(&mut self, ids: &[Id]) -> StoreResult<Vec<TransferRecord>> {
        let found = self.read(|client, statements| query_transfers(client, &statements.transfers, ids))?;
        Ok(in_request_order(ids, found, |r| r.transfer.id))
    }

    fn account_transfers(&mut self, account: Id, limit: usize) -> StoreResult<Vec<TransferRecord>> {
        self.read(|client, statements| {
            let rows = client
                .query(&statements.account_transfers, &[&id_bytes(account).as_slice(), &limit_param(limit)])
                .map_err(|e| error("read account transfers", &e))?;
            rows.iter().map(transfer_from_row).collect()
        })
    }

    fn account_balances(&mut self, account: Id, limit: usize) -> StoreResult<Vec<AccountBalance>> {
        self.read(|client, statements| {
            let rows = client
                .query(&statements.account_balances, &[&id_bytes(account).as_slice(), &limit_param(limit)])
                .map_err(|e| error("read balance history", &e))?;
            rows.iter().map(balance_from_row).collect()
        })
    }

    fn max_timestamp(&mut self) -> StoreResult<u64> {
        self.read(|client, _| {
            let row = client
                .query_one(
                    "SELECT GREATEST(COALESCE((SELECT max(timestamp) FROM accounts), 0), \
                     COALESCE((SELECT max(timestamp) FROM transfers), 0), \
                     COALESCE((SELECT max(timestamp) FROM account_balances), 0))",
                    &[],
                )
                .map_err(|e| error("read max timestamp", &e))?;
            u64_column(&row, 0)
        })
    }

    fn ledger_totals(&mut self) -> StoreResult<Vec<LedgerTotals>> {
        self.read(|client, _| {
            // SUM(bigint) is numeric; read it as text into u128.
            let sum = |row: &Row, index: usize| -> StoreResult<u128> {
                let text: Option<&str> = column(row, index)?;
                text.unwrap_or("0").parse().map_err(|e| StoreError::Failed(format!("ledger totals: {e}")))
            };
            let mut totals: BTreeMap<u32, LedgerTotals> = BTreeMap::new();
            // One snapshot for both sums.
            let mut transaction = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(|e| error("begin", &e))?;
            let rows = transaction
                .query(
                    "SELECT ledger, SUM(debits_pending)::text, SUM(debits_posted)::text, \
                     SUM(credits_pending)::text, SUM(credits_posted)::text FROM accounts GROUP BY ledger",
                    &[],
                )
                .map_err(|e| error("ledger totals", &e))?;
            for row in &rows {
                let ledger: u32 = narrow_column(row, 0)?;
                let t = totals.entry(ledger).or_insert(LedgerTotals { ledger, ..LedgerTotals::default() });
                t.debits_pending = sum(row, 1)?;
                t.debits_posted = sum(row, 2)?;
                t.credits_pending = sum(row, 3)?;
                t.credits_posted = sum(row, 4)?;
            }
            let rows = transaction
                .query("SELECT ledger, SUM(amount)::text FROM transfers WHERE status = 1 GROUP BY ledger", &[])
                .map_err(|e| error("pending totals", &e))?;
            for row in &rows {
                let ledger: u32 = narrow_column(row, 0)?;
                let t = totals.entry(ledger).or_insert(LedgerTotals { ledger, ..LedgerTotals::default() });
                t.pending_transfers = sum(row, 1)?;
            }
            transaction.commit().map_err(|e| error("commit", &e))?;
            Ok(totals.into_values().collect())
        })
    }

    fn pending_resolved_more_than_once(&mut self) -> StoreResult<u64> {
        self.read(|client, _| {
            let row = client
                .query_one(
                    "SELECT count(*) FROM (SELECT pending_id FROM transfers WHERE flags & 12 <> 0 \
                     GROUP BY pending_id HAVING count(*) > 1) AS twice",
                    &[],
                )
                .map_err(|e| error("pending resolved more than once", &e))?;
            let count: i64 = column(&row, 0)?;
            Ok(count as u64)
        })
    }
}
