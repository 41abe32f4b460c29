//! The ledger inside a party's own `sqlstore` database ([`crate::sql_txn`] has the tables).
//!
//! Two ways in:
//! * the `*_in` functions run one batch of the engine — load, decide, write — inside the
//!   caller's open transaction and do not commit: the caller's own rows (a journal entry, say)
//!   and the ledger's commit together, or not at all. Each batch locks the ledger
//!   (`ledger_meta`), continues its timestamps after the highest one stored (so no in-memory
//!   state is needed: any process may write), and applies the same rules as [`crate::Ledger`]
//!   through the same code (`ledger::transfers_batch` and friends);
//! * [`SqlStore`], a [`Store`] over a `sqlstore::Database`, so [`crate::Ledger`] and
//!   [`crate::invariants::check`] work on those tables as on any store (one transaction per
//!   batch).

use std::collections::BTreeMap;

use sqlstore::{Database, Row, Tx, Value};

use crate::invariants::{self, InvariantReport};
use crate::ledger::{accounts_batch, expiry_batch, transfers_batch};
use crate::results::{CreateAccountResult, CreateTransferResult};
use crate::sql_txn::{
    SqlTxn, TRANSFER_COLUMNS, balance_from_row, get_small, load_accounts, load_transfers, lock_and_read_max_timestamp,
    migrate, read_max_timestamp, sql_id, transfer_from_row,
};
use crate::store::{LedgerTotals, Store, StoreError, StoreResult, Txn};
use crate::types::{Account, AccountBalance, BATCH_EVENTS_MAX, Id, Transfer, TransferRecord};

/// Run `run` as one ledger batch of `count` events in `tx`: lock the ledger, hand out `count`
/// strictly increasing timestamps no earlier than `now_ns` and after every stored one, and
/// record the highest written. Not committed here.
fn batch<T>(
    tx: &mut Tx<'_>,
    count: usize,
    now_ns: u64,
    run: impl FnOnce(&mut SqlTxn<'_, '_>, u64, &[u64]) -> StoreResult<T>,
) -> sqlstore::Result<T> {
    if count > BATCH_EVENTS_MAX {
        return Err(sqlstore::Error::new(
            "ledger",
            format!("a batch holds at most {BATCH_EVENTS_MAX} events, got {count}"),
        ));
    }
    let start = now_ns.max(lock_and_read_max_timestamp(tx)?.saturating_add(1));
    let stamps: Vec<u64> = (0..count as u64).map(|i| start + i).collect();
    let mut txn = SqlTxn::new(tx);
    match run(&mut txn, start, &stamps) {
        Ok(value) => {
            txn.finish()?;
            Ok(value)
        }
        Err(error) => Err(txn.into_error(error)),
    }
}

/// Create accounts in the caller's transaction (TigerBeetle's rules, one result per event).
pub fn create_accounts_in(
    tx: &mut Tx<'_>,
    now_ns: u64,
    events: &[Account],
) -> sqlstore::Result<Vec<CreateAccountResult>> {
    batch(tx, events.len(), now_ns, |txn, _, stamps| accounts_batch(txn, events, stamps))
}

/// Create transfers in the caller's transaction (TigerBeetle's rules, one result per event).
pub fn create_transfers_in(
    tx: &mut Tx<'_>,
    now_ns: u64,
    events: &[Transfer],
) -> sqlstore::Result<Vec<CreateTransferResult>> {
    batch(tx, events.len(), now_ns, |txn, _, stamps| transfers_batch(txn, events, stamps))
}

/// Release pending transfers whose timeout has passed at `now_ns` (at most
/// [`crate::EXPIRY_BATCH_MAX`]) in the caller's transaction; how many.
pub fn expire_pending_in(tx: &mut Tx<'_>, now_ns: u64) -> sqlstore::Result<usize> {
    batch(tx, 0, now_ns, |txn, now, _| {
        // The sweep stamps its expiries `now`, `now + 1`, … from the batch's first timestamp.
        let (count, stamps) = expiry_batch(txn, now)?;
        if stamps > 0 {
            txn.saw_timestamp(now + stamps - 1);
        }
        Ok(count)
    })
}

/// The accounts among `ids` that exist, in the caller's transaction.
pub fn lookup_accounts_in(tx: &mut Tx<'_>, ids: &[Id]) -> sqlstore::Result<Vec<Account>> {
    load_accounts(tx, ids)
}

/// The transfers among `ids` that exist, with their pending state, in the caller's transaction.
pub fn lookup_transfers_in(tx: &mut Tx<'_>, ids: &[Id]) -> sqlstore::Result<Vec<TransferRecord>> {
    load_transfers(tx, ids)
}

/// The invariant check ([`crate::invariants`]) over the ledger's tables, in one snapshot.
pub fn check_invariants_in(tx: &mut Tx<'_>) -> sqlstore::Result<InvariantReport> {
    Ok(invariants::report(ledger_totals(tx)?, resolved_more_than_once(tx)?))
}

/// Sum `column` per ledger without overflowing a 64-bit `SUM`: the high and low 32 bits of
/// every (non-negative) value are summed apart and joined in Rust.
fn split_sum(column: &str) -> String {
    format!("CAST(SUM({column} / 4294967296) AS BIGINT), CAST(SUM({column} % 4294967296) AS BIGINT)")
}

fn joined(row: &Row, index: usize) -> sqlstore::Result<u128> {
    let high = u128::try_from(row.i64(index)?).map_err(|_| sqlstore::Error::column(index, "a sum of balances"))?;
    let low = u128::try_from(row.i64(index + 1)?).map_err(|_| sqlstore::Error::column(index, "a sum of balances"))?;
    Ok((high << 32) + low)
}

fn ledger_totals(tx: &mut Tx<'_>) -> sqlstore::Result<Vec<LedgerTotals>> {
    // The sums read the table, not the batch's kept accounts: write those out first.
    tx.flush_kept()?;
    let sql = format!(
        "SELECT ledger, {}, {}, {}, {} FROM ledger_accounts GROUP BY ledger",
        split_sum("debits_pending"),
        split_sum("debits_posted"),
        split_sum("credits_pending"),
        split_sum("credits_posted")
    );
    let mut totals: BTreeMap<u32, LedgerTotals> = BTreeMap::new();
    for row in tx.query(&sql, &[])? {
        let ledger: u32 = get_small(&row, 0)?;
        totals.insert(
            ledger,
            LedgerTotals {
                ledger,
                debits_pending: joined(&row, 1)?,
                debits_posted: joined(&row, 3)?,
                credits_pending: joined(&row, 5)?,
                credits_posted: joined(&row, 7)?,
                pending_transfers: 0,
            },
        );
    }
    let pending_sql =
        format!("SELECT ledger, {} FROM ledger_transfers WHERE status = $1 GROUP BY ledger", split_sum("amount"));
    for row in tx.query(&pending_sql, &[Value::Int(crate::types::PendingStatus::Pending.code())])? {
        let ledger: u32 = get_small(&row, 0)?;
        totals.entry(ledger).or_insert(LedgerTotals { ledger, ..LedgerTotals::default() }).pending_transfers +=
            joined(&row, 1)?;
    }
    Ok(totals.into_values().collect())
}

fn resolved_more_than_once(tx: &mut Tx<'_>) -> sqlstore::Result<u64> {
    let row = tx.query_opt(
        "SELECT COUNT(*) FROM (SELECT pending_id FROM ledger_transfers WHERE flags & 12 <> 0 \
         GROUP BY pending_id HAVING COUNT(*) > 1) resolved",
        &[],
    )?;
    row.map_or(Ok(0), |row| row.u64(0))
}

/// A [`Store`] over the ledger's tables in a `sqlstore` database: one `Database::transaction`
/// per batch.
#[derive(Clone)]
pub struct SqlStore {
    db: Database,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore").field("kind", &self.db.kind()).finish()
    }
}

/// A `sqlstore` error as the store seam reports it (retryable stays retryable).
fn store_error(error: sqlstore::Error) -> StoreError {
    if error.is_retryable() { StoreError::Retryable(error.to_string()) } else { StoreError::Failed(error.to_string()) }
}

impl SqlStore {
    /// The ledger in `db`, its tables created if missing.
    pub fn open(db: Database) -> StoreResult<SqlStore> {
        migrate(&db).map_err(store_error)?;
        Ok(SqlStore { db })
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    fn read<T>(&self, read: impl FnMut(&mut Tx<'_>) -> sqlstore::Result<T>) -> StoreResult<T> {
        self.db.transaction(read).map_err(store_error)
    }
}

impl Store for SqlStore {
    fn transact<T>(&mut self, work: &mut dyn FnMut(&mut dyn Txn) -> StoreResult<T>) -> StoreResult<T> {
        self.db
            .transaction(|tx| {
                lock_and_read_max_timestamp(tx)?;
                let mut txn = SqlTxn::new(tx);
                match work(&mut txn) {
                    Ok(value) => {
                        txn.finish()?;
                        Ok(value)
                    }
                    Err(error) => Err(txn.into_error(error)),
                }
            })
            .map_err(store_error)
    }

    fn lookup_accounts(&mut self, ids: &[Id]) -> StoreResult<Vec<Account>> {
        self.read(|tx| load_accounts(tx, ids))
    }

    fn lookup_transfers(&mut self, ids: &[Id]) -> StoreResult<Vec<TransferRecord>> {
        self.read(|tx| load_transfers(tx, ids))
    }

    fn account_transfers(&mut self, account: Id, limit: usize) -> StoreResult<Vec<TransferRecord>> {
        // A scan of the transfers (no per-account index; see crate::sql_txn).
        let sql = format!(
            "SELECT {TRANSFER_COLUMNS} FROM ledger_transfers WHERE debit_account_id = $1 OR credit_account_id = $1 \
             ORDER BY timestamp LIMIT $2"
        );
        let limit = Value::Int(i64::try_from(limit).unwrap_or(i64::MAX));
        self.read(|tx| tx.query(&sql, &[sql_id(account), limit.clone()])?.iter().map(transfer_from_row).collect())
    }

    fn account_balances(&mut self, account: Id, limit: usize) -> StoreResult<Vec<AccountBalance>> {
        let limit = Value::Int(i64::try_from(limit).unwrap_or(i64::MAX));
        self.read(|tx| {
            tx.query(
                "SELECT account_id, timestamp, debits_pending, debits_posted, credits_pending, credits_posted \
                 FROM ledger_account_balances WHERE account_id = $1 ORDER BY timestamp LIMIT $2",
                &[sql_id(account), limit.clone()],
            )?
            .iter()
            .map(balance_from_row)
            .collect()
        })
    }

    fn max_timestamp(&mut self) -> StoreResult<u64> {
        self.read(read_max_timestamp)
    }

    fn ledger_totals(&mut self) -> StoreResult<Vec<LedgerTotals>> {
        self.read(ledger_totals)
    }

    fn pending_resolved_more_than_once(&mut self) -> StoreResult<u64> {
        self.read(resolved_more_than_once)
    }
}
