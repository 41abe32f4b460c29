//! An in-memory store: the same `Store` contract with no durability, for fast tests of the
//! ledger's rules. A transaction buffers its writes and applies them on commit, so a failed
//! batch leaves nothing behind.

use std::collections::{BTreeMap, HashMap};

use crate::store::{LedgerTotals, Store, StoreResult, Txn};
use crate::types::{Account, AccountBalance, Id, PendingStatus, TransferRecord};

#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    accounts: HashMap<Id, Account>,
    transfers: HashMap<Id, TransferRecord>,
    /// Insertion order of transfers (by timestamp).
    order: BTreeMap<u64, Id>,
    history: Vec<AccountBalance>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

#[derive(Default)]
struct Changes {
    accounts: Vec<Account>,
    transfers: Vec<TransferRecord>,
    balances: Vec<Account>,
    pending: Vec<(Id, PendingStatus)>,
    history: Vec<AccountBalance>,
}

struct MemoryTxn<'a> {
    store: &'a MemoryStore,
    changes: Changes,
}

impl Txn for MemoryTxn<'_> {
    fn accounts(&mut self, ids: &[Id]) -> StoreResult<Vec<Account>> {
        Ok(ids.iter().filter_map(|id| self.store.accounts.get(id).copied()).collect())
    }

    fn transfers(&mut self, ids: &[Id]) -> StoreResult<Vec<TransferRecord>> {
        Ok(ids.iter().filter_map(|id| self.store.transfers.get(id).copied()).collect())
    }

    fn insert_accounts(&mut self, accounts: &[Account]) -> StoreResult<()> {
        self.changes.accounts.extend_from_slice(accounts);
        Ok(())
    }

    fn insert_transfers(&mut self, transfers: &[TransferRecord]) -> StoreResult<()> {
        self.changes.transfers.extend_from_slice(transfers);
        Ok(())
    }

    fn update_balances(&mut self, accounts: &[Account]) -> StoreResult<()> {
        self.changes.balances.extend_from_slice(accounts);
        Ok(())
    }

    fn update_pending(&mut self, changes: &[(Id, PendingStatus)]) -> StoreResult<()> {
        self.changes.pending.extend_from_slice(changes);
        Ok(())
    }

    fn insert_balances(&mut self, history: &[AccountBalance]) -> StoreResult<()> {
        self.changes.history.extend_from_slice(history);
        Ok(())
    }

    fn due_pending(&mut self, now: u64, limit: usize) -> StoreResult<Vec<TransferRecord>> {
        let mut due: Vec<TransferRecord> = self
            .store
            .transfers
            .values()
            .filter(|r| r.status == PendingStatus::Pending && r.expires_at != 0 && r.expires_at <= now)
            .copied()
            .collect();
        due.sort_unstable_by_key(|r| (r.expires_at, r.transfer.id));
        due.truncate(limit);
        Ok(due)
    }
}

impl Store for MemoryStore {
    fn transact<T>(&mut self, work: &mut dyn FnMut(&mut dyn Txn) -> StoreResult<T>) -> StoreResult<T> {
        let mut txn = MemoryTxn { store: self, changes: Changes::default() };
        let result = work(&mut txn)?;
        let changes = txn.changes;
        for account in changes.accounts {
            self.accounts.insert(account.id, account);
        }
        for record in changes.transfers {
            self.order.insert(record.transfer.timestamp, record.transfer.id);
            self.transfers.insert(record.transfer.id, record);
        }
        for account in changes.balances {
            if let Some(stored) = self.accounts.get_mut(&account.id) {
                stored.debits_pending = account.debits_pending;
                stored.debits_posted = account.debits_posted;
                stored.credits_pending = account.credits_pending;
                stored.credits_posted = account.credits_posted;
            }
        }
        for (id, status) in changes.pending {
            if let Some(record) = self.transfers.get_mut(&id) {
                record.status = status;
            }
        }
        self.history.extend(changes.history);
        Ok(result)
    }

    fn lookup_accounts(&mut self, ids: &[Id]) -> StoreResult<Vec<Account>> {
        Ok(ids.iter().filter_map(|id| self.accounts.get(id).copied()).collect())
    }

    fn lookup_transfers(&mut self, ids: &[Id]) -> StoreResult<Vec<TransferRecord>> {
        Ok(ids.iter().filter_map(|id| self.transfers.get(id).copied()).collect())
    }

    fn account_transfers(&mut self, account: Id, limit: usize) -> StoreResult<Vec<TransferRecord>> {
        Ok(self
            .order
            .values()
            .filter_map(|id| self.transfers.get(id))
            .filter(|r| r.transfer.debit_account_id == account || r.transfer.credit_account_id == account)
            .take(limit)
            .copied()
            .collect())
    }

    fn account_balances(&mut self, account: Id, limit: usize) -> StoreResult<Vec<AccountBalance>> {
        Ok(self.history.iter().filter(|b| b.account_id == account).take(limit).copied().collect())
    }

    fn max_timestamp(&mut self) -> StoreResult<u64> {
        let accounts = self.accounts.values().map(|a| a.timestamp).max().unwrap_or(0);
        let transfers = self.order.keys().next_back().copied().unwrap_or(0);
        // Expiries have timestamps too, kept only in the history of accounts that have one.
        let history = self.history.iter().map(|b| b.timestamp).max().unwrap_or(0);
        Ok(accounts.max(transfers).max(history))
    }

    fn ledger_totals(&mut self) -> StoreResult<Vec<LedgerTotals>> {
        let mut totals: BTreeMap<u32, LedgerTotals> = BTreeMap::new();
        for a in self.accounts.values() {
            let t = totals.entry(a.ledger).or_insert(LedgerTotals { ledger: a.ledger, ..LedgerTotals::default() });
            t.debits_pending += a.debits_pending as u128;
            t.debits_posted += a.debits_posted as u128;
            t.credits_pending += a.credits_pending as u128;
            t.credits_posted += a.credits_posted as u128;
        }
        for r in self.transfers.values().filter(|r| r.status == PendingStatus::Pending) {
            let t = totals
                .entry(r.transfer.ledger)
                .or_insert(LedgerTotals { ledger: r.transfer.ledger, ..LedgerTotals::default() });
            t.pending_transfers += r.transfer.amount as u128;
        }
        Ok(totals.into_values().collect())
    }

    fn pending_resolved_more_than_once(&mut self) -> StoreResult<u64> {
        let mut counts: HashMap<Id, u64> = HashMap::new();
        for r in self.transfers.values().filter(|r| r.transfer.resolves_pending()) {
            *counts.entry(r.transfer.pending_id).or_default() += 1;
        }
        Ok(counts.values().filter(|&&n| n > 1).count() as u64)
    }
}
