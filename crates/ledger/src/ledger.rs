//! `Ledger`: the batch API over a store and a clock. Each `create_*` call is one durable
//! transaction: load the rows the batch names, decide every event in memory, write the changes,
//! commit, and only then return the results.

use std::collections::HashSet;

use crate::engine::{self, Working};
use crate::results::{CreateAccountResult, CreateTransferResult};
use crate::store::{Store, StoreError, StoreResult, Txn};
use crate::types::{Account, AccountBalance, BATCH_EVENTS_MAX, Id, PendingStatus, Transfer, TransferRecord};

pub use clock::{Clock, ManualClock, SystemClock};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerError {
    /// More events than [`BATCH_EVENTS_MAX`] in one call.
    BatchTooLarge {
        events: usize,
    },
    Store(StoreError),
}

impl std::fmt::Display for LedgerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LedgerError::BatchTooLarge { events } => {
                write!(f, "a batch holds at most {BATCH_EVENTS_MAX} events, got {events}")
            }
            LedgerError::Store(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for LedgerError {}

impl From<StoreError> for LedgerError {
    fn from(error: StoreError) -> LedgerError {
        LedgerError::Store(error)
    }
}

pub type LedgerResult<T> = Result<T, LedgerError>;

/// Most pending transfers one `expire_pending` call releases.
pub const EXPIRY_BATCH_MAX: usize = BATCH_EVENTS_MAX;

pub struct Ledger<S: Store, C: Clock> {
    store: S,
    clock: C,
    /// The last timestamp handed out; every event gets a larger one.
    last_timestamp: u64,
}

impl<S: Store, C: Clock> Ledger<S, C> {
    pub fn open(mut store: S, clock: C) -> LedgerResult<Ledger<S, C>> {
        let last_timestamp = store.max_timestamp()?;
        Ok(Ledger { store, clock, last_timestamp })
    }

    pub fn store(&mut self) -> &mut S {
        &mut self.store
    }

    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// `count` strictly increasing timestamps after the last one and no earlier than now.
    fn timestamps(&mut self, count: usize) -> Vec<u64> {
        let start = self.clock.now_ns().max(self.last_timestamp + 1);
        let stamps: Vec<u64> = (0..count as u64).map(|i| start + i).collect();
        if let Some(&last) = stamps.last() {
            self.last_timestamp = last;
        }
        stamps
    }

    pub fn create_accounts(&mut self, events: &[Account]) -> LedgerResult<Vec<CreateAccountResult>> {
        if events.len() > BATCH_EVENTS_MAX {
            return Err(LedgerError::BatchTooLarge { events: events.len() });
        }
        let timestamps = self.timestamps(events.len());
        let results = self.store.transact(&mut |txn| accounts_batch(txn, events, &timestamps))?;
        Ok(results)
    }

    pub fn create_transfers(&mut self, events: &[Transfer]) -> LedgerResult<Vec<CreateTransferResult>> {
        if events.len() > BATCH_EVENTS_MAX {
            return Err(LedgerError::BatchTooLarge { events: events.len() });
        }
        let timestamps = self.timestamps(events.len());
        let results = self.store.transact(&mut |txn| transfers_batch(txn, events, &timestamps))?;
        Ok(results)
    }

    /// Release pending transfers whose timeout has passed (at most [`EXPIRY_BATCH_MAX`] per
    /// call); returns how many. Servers call this periodically; tests after moving the clock.
    pub fn expire_pending(&mut self) -> LedgerResult<usize> {
        let now = self.clock.now_ns().max(self.last_timestamp + 1);
        self.last_timestamp = now;
        let (count, stamps) = self.store.transact(&mut |txn| expiry_batch(txn, now))?;
        self.last_timestamp = now + stamps.saturating_sub(1);
        Ok(count)
    }

    pub fn lookup_accounts(&mut self, ids: &[Id]) -> LedgerResult<Vec<Account>> {
        Ok(self.store.lookup_accounts(ids)?)
    }

    pub fn lookup_transfers(&mut self, ids: &[Id]) -> LedgerResult<Vec<TransferRecord>> {
        Ok(self.store.lookup_transfers(ids)?)
    }

    pub fn account_transfers(&mut self, account: Id, limit: usize) -> LedgerResult<Vec<TransferRecord>> {
        Ok(self.store.account_transfers(account, limit)?)
    }

    pub fn account_balances(&mut self, account: Id, limit: usize) -> LedgerResult<Vec<AccountBalance>> {
        Ok(self.store.account_balances(account, limit)?)
    }
}

/// Decide and write a batch of new accounts inside `txn` (not committed here): the body of
/// [`Ledger::create_accounts`], shared with callers that run the ledger inside a transaction of
/// their own ([`crate::sql_ledger`]). `timestamps` holds one strictly increasing timestamp per
/// event.
pub(crate) fn accounts_batch(
    txn: &mut dyn Txn,
    events: &[Account],
    timestamps: &[u64],
) -> StoreResult<Vec<CreateAccountResult>> {
    let ids: Vec<Id> = events.iter().map(|a| a.id).collect();
    let mut working = Working::default();
    for account in txn.accounts(&ids)? {
        working.accounts.insert(account.id, account);
    }
    let results = engine::create_accounts(&mut working, events, timestamps);
    engine::seal(&mut working);
    let new: Vec<Account> = working.new_accounts.iter().filter_map(|id| working.accounts.get(id).copied()).collect();
    txn.insert_accounts(&new)?;
    Ok(results)
}

/// Load, decide and write a batch of transfers inside `txn` (not committed here): the body of
/// [`Ledger::create_transfers`], shared as [`accounts_batch`] is.
pub(crate) fn transfers_batch(
    txn: &mut dyn Txn,
    events: &[Transfer],
    timestamps: &[u64],
) -> StoreResult<Vec<CreateTransferResult>> {
    let mut working = load_for_transfers(txn, events)?;
    let results = engine::create_transfers(&mut working, events, timestamps);
    engine::seal(&mut working);
    write(txn, &working)?;
    Ok(results)
}

/// Release the pending transfers due at `now` (at most [`EXPIRY_BATCH_MAX`]) inside `txn`, the
/// expiries stamped `now`, `now + 1`, …: how many were released, and how many timestamps
/// were used.
pub(crate) fn expiry_batch(txn: &mut dyn Txn, now: u64) -> StoreResult<(usize, u64)> {
    let due = txn.due_pending(now, EXPIRY_BATCH_MAX)?;
    if due.is_empty() {
        return Ok((0, 0));
    }
    let mut account_ids: Vec<Id> =
        due.iter().flat_map(|r| [r.transfer.debit_account_id, r.transfer.credit_account_id]).collect();
    account_ids.sort_unstable();
    account_ids.dedup();
    let mut working = Working::default();
    for account in txn.accounts(&account_ids)? {
        working.accounts.insert(account.id, account);
    }
    let mut expired = 0;
    for (index, record) in due.iter().enumerate() {
        working.transfers.insert(record.transfer.id, *record);
        if engine::expire(&mut working, record, now + index as u64) {
            expired += 1;
        }
    }
    engine::seal(&mut working);
    write(txn, &working)?;
    Ok((expired, due.len() as u64))
}

/// Load what a batch of transfers names: the transfers (by id, to detect resubmission), the
/// pending transfers they resolve, and every account either refers to. Accounts are read in
/// id order so concurrent writers lock them in the same order.
fn load_for_transfers(txn: &mut dyn Txn, events: &[Transfer]) -> StoreResult<Working> {
    let mut transfer_ids: Vec<Id> = events.iter().flat_map(|t| [t.id, t.pending_id]).filter(|&id| id != 0).collect();
    transfer_ids.sort_unstable();
    transfer_ids.dedup();
    let mut working = Working::default();
    for record in txn.transfers(&transfer_ids)? {
        working.transfers.insert(record.transfer.id, record);
    }
    let mut account_ids: HashSet<Id> = HashSet::with_capacity(events.len() * 2);
    for t in events {
        account_ids.insert(t.debit_account_id);
        account_ids.insert(t.credit_account_id);
    }
    for record in working.transfers.values() {
        account_ids.insert(record.transfer.debit_account_id);
        account_ids.insert(record.transfer.credit_account_id);
    }
    account_ids.remove(&0);
    let mut account_ids: Vec<Id> = account_ids.into_iter().collect();
    account_ids.sort_unstable();
    for account in txn.accounts(&account_ids)? {
        working.accounts.insert(account.id, account);
    }
    Ok(working)
}

/// Write a decided batch: new transfers, changed balances, resolved pendings, history.
fn write(txn: &mut dyn Txn, working: &Working) -> StoreResult<()> {
    let new: Vec<TransferRecord> =
        working.new_transfers.iter().filter_map(|id| working.transfers.get(id).copied()).collect();
    txn.insert_transfers(&new)?;
    let mut dirty: Vec<Account> =
        working.dirty_accounts.iter().filter_map(|id| working.accounts.get(id).copied()).collect();
    dirty.sort_unstable_by_key(|a| a.id);
    txn.update_balances(&dirty)?;
    let mut resolved: Vec<(Id, PendingStatus)> =
        working.resolved.iter().filter_map(|id| working.transfers.get(id).map(|r| (*id, r.status))).collect();
    resolved.sort_unstable_by_key(|(id, _)| *id);
    txn.update_pending(&resolved)?;
    txn.insert_balances(&working.history)?;
    Ok(())
}
