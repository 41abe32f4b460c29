//! The storage seam. A [`Store`] runs one batch as one durable transaction; inside it the
//! ledger reads the rows a batch touches through [`Txn`], decides in memory, and writes the
//! changes back. SQLite and PostgreSQL implement it with the same SQL shapes; an in-memory
//! store serves the model tests.

use std::fmt;

use crate::types::{Account, AccountBalance, Id, PendingStatus, TransferRecord};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// A conflict another attempt may not meet (serialization failure, deadlock, a concurrent
    /// insert of the same id): the store retries the batch.
    Retryable(String),
    /// The database failed (I/O, corruption, connection): nothing of the batch was applied.
    Failed(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Retryable(why) => write!(f, "storage conflict: {why}"),
            StoreError::Failed(why) => write!(f, "storage failed: {why}"),
        }
    }
}

impl std::error::Error for StoreError {}

pub type StoreResult<T> = Result<T, StoreError>;

/// Per-ledger sums for the invariant check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LedgerTotals {
    pub ledger: u32,
    pub debits_pending: u128,
    pub debits_posted: u128,
    pub credits_pending: u128,
    pub credits_posted: u128,
    /// Sum of the amounts of transfers still pending in this ledger.
    pub pending_transfers: u128,
}

/// Reads and writes inside one batch transaction.
pub trait Txn {
    /// The accounts among `ids` that exist (locked for update where the backend needs locks).
    fn accounts(&mut self, ids: &[Id]) -> StoreResult<Vec<Account>>;
    /// The transfers among `ids` that exist, with their pending state.
    fn transfers(&mut self, ids: &[Id]) -> StoreResult<Vec<TransferRecord>>;
    fn insert_accounts(&mut self, accounts: &[Account]) -> StoreResult<()>;
    fn insert_transfers(&mut self, transfers: &[TransferRecord]) -> StoreResult<()>;
    /// Write the four balances of each account.
    fn update_balances(&mut self, accounts: &[Account]) -> StoreResult<()>;
    /// Change the state of stored pending transfers.
    fn update_pending(&mut self, changes: &[(Id, PendingStatus)]) -> StoreResult<()>;
    fn insert_balances(&mut self, history: &[AccountBalance]) -> StoreResult<()>;
    /// Pending transfers whose expiry is at or before `now`, oldest first, at most `limit`.
    fn due_pending(&mut self, now: u64, limit: usize) -> StoreResult<Vec<TransferRecord>>;
}

/// A ledger's durable storage.
pub trait Store {
    /// Run `work` in one transaction and commit it durably before returning. On a
    /// [`StoreError::Retryable`] the store rolls back and runs `work` again (bounded); `work`
    /// must therefore derive everything from what it reads.
    fn transact<T>(&mut self, work: &mut dyn FnMut(&mut dyn Txn) -> StoreResult<T>) -> StoreResult<T>;

    fn lookup_accounts(&mut self, ids: &[Id]) -> StoreResult<Vec<Account>>;
    fn lookup_transfers(&mut self, ids: &[Id]) -> StoreResult<Vec<TransferRecord>>;
    /// Transfers that debit or credit `account`, oldest first, at most `limit`.
    fn account_transfers(&mut self, account: Id, limit: usize) -> StoreResult<Vec<TransferRecord>>;
    /// Balance history of an account with the `history` flag, oldest first, at most `limit`.
    fn account_balances(&mut self, account: Id, limit: usize) -> StoreResult<Vec<AccountBalance>>;
    /// The highest timestamp stored (accounts, transfers, balance history — expiries appear only
    /// there): timestamps continue after it.
    fn max_timestamp(&mut self) -> StoreResult<u64>;
    fn ledger_totals(&mut self) -> StoreResult<Vec<LedgerTotals>>;
    /// How many pending transfers have more than one post or void transfer (must be zero).
    fn pending_resolved_more_than_once(&mut self) -> StoreResult<u64>;
}

/// How many times a store runs a batch that keeps meeting conflicts before giving up.
pub const RETRIES_MAX: usize = 16;
