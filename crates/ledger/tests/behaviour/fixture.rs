//! A ledger on a fresh backend with a manual clock, and builders for the events the scenarios
//! submit. Every `create_*` call goes through [`Fix`], which records the results it saw (for the
//! coverage check) and checks the invariants after every batch.

use std::cell::RefCell;
use std::collections::HashSet;

use ledger::{
    Account, AccountBalance, AccountFlags, CreateAccountResult, CreateTransferResult, Id, Ledger, LedgerResult,
    ManualClock, Transfer, TransferFlags, TransferRecord, invariants,
};

use crate::Backend;

/// The ledger (currency) most scenarios use.
pub const L: u32 = 840;
/// A second ledger.
pub const L2: u32 = 978;
pub const CODE: u16 = 1;
/// Where the manual clock starts (nanoseconds; 2023-11-14).
pub const START_NS: u64 = 1_700_000_000_000_000_000;
pub const SECOND: u64 = 1_000_000_000;

thread_local! {
    static SEEN: RefCell<(HashSet<CreateAccountResult>, HashSet<CreateTransferResult>)> =
        RefCell::new((HashSet::new(), HashSet::new()));
}

/// The results this thread's scenarios produced so far, and forget them.
pub fn take_seen() -> (HashSet<CreateAccountResult>, HashSet<CreateTransferResult>) {
    SEEN.with(|seen| std::mem::take(&mut *seen.borrow_mut()))
}

/// An account's four balances, in the order TigerBeetle lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bal {
    pub debits_pending: u64,
    pub debits_posted: u64,
    pub credits_pending: u64,
    pub credits_posted: u64,
}

/// `Bal { debits_pending, debits_posted, credits_pending, credits_posted }`.
pub const fn bal(debits_pending: u64, debits_posted: u64, credits_pending: u64, credits_posted: u64) -> Bal {
    Bal { debits_pending, debits_posted, credits_pending, credits_posted }
}

impl From<&Account> for Bal {
    fn from(a: &Account) -> Bal {
        bal(a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)
    }
}

impl From<&AccountBalance> for Bal {
    fn from(a: &AccountBalance) -> Bal {
        bal(a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)
    }
}

pub struct Fix<B: Backend> {
    // Declared before `backend` so the store is closed before its database is removed.
    pub ledger: Ledger<B::S, ManualClock>,
    pub clock: ManualClock,
    pub backend: B,
}

impl<B: Backend> Fix<B> {
    pub fn new(backend: B) -> Fix<B> {
        let clock = ManualClock::new(START_NS);
        let ledger = Ledger::open(backend.open(), clock.clone()).expect("open the ledger");
        Fix { ledger, clock, backend }
    }

    /// Open the ledger again on the same database (a restart).
    pub fn reopen(&mut self) {
        let store = self.backend.reopen(self.ledger.store());
        self.ledger = Ledger::open(store, self.clock.clone()).expect("reopen the ledger");
    }

    pub fn try_accounts(&mut self, events: &[Account]) -> LedgerResult<Vec<CreateAccountResult>> {
        let results = self.ledger.create_accounts(events)?;
        assert_eq!(results.len(), events.len(), "one result per event");
        SEEN.with(|seen| seen.borrow_mut().0.extend(results.iter().copied()));
        self.check_invariants("create_accounts");
        Ok(results)
    }

    pub fn try_transfers(&mut self, events: &[Transfer]) -> LedgerResult<Vec<CreateTransferResult>> {
        let results = self.ledger.create_transfers(events)?;
        assert_eq!(results.len(), events.len(), "one result per event");
        SEEN.with(|seen| seen.borrow_mut().1.extend(results.iter().copied()));
        self.check_invariants("create_transfers");
        Ok(results)
    }

    pub fn accounts(&mut self, events: &[Account]) -> Vec<CreateAccountResult> {
        self.try_accounts(events).expect("create_accounts")
    }

    pub fn transfers(&mut self, events: &[Transfer]) -> Vec<CreateTransferResult> {
        self.try_transfers(events).expect("create_transfers")
    }

    /// Create accounts that must all succeed.
    pub fn ok_accounts(&mut self, events: &[Account]) {
        let results = self.accounts(events);
        assert_eq!(results, vec![CreateAccountResult::Ok; events.len()], "{events:?}");
    }

    /// Create transfers that must all succeed.
    pub fn ok_transfers(&mut self, events: &[Transfer]) {
        let results = self.transfers(events);
        assert_eq!(results, vec![CreateTransferResult::Ok; events.len()], "{events:?}");
    }

    /// Submit one transfer and return its result.
    pub fn transfer(&mut self, event: Transfer) -> CreateTransferResult {
        self.transfers(&[event])[0]
    }

    /// Submit one account and return its result.
    pub fn account(&mut self, event: Account) -> CreateAccountResult {
        self.accounts(&[event])[0]
    }

    pub fn expire(&mut self) -> usize {
        let expired = self.ledger.expire_pending().expect("expire_pending");
        self.check_invariants("expire_pending");
        expired
    }

    pub fn lookup_account(&mut self, id: Id) -> Option<Account> {
        let found = self.ledger.lookup_accounts(&[id]).expect("lookup_accounts");
        assert!(found.len() <= 1);
        found.into_iter().next()
    }

    /// A stored account (panics if absent).
    pub fn get_account(&mut self, id: Id) -> Account {
        self.lookup_account(id).unwrap_or_else(|| panic!("account {id} not found"))
    }

    pub fn bal(&mut self, id: Id) -> Bal {
        Bal::from(&self.get_account(id))
    }

    pub fn lookup_transfer(&mut self, id: Id) -> Option<TransferRecord> {
        let found = self.ledger.lookup_transfers(&[id]).expect("lookup_transfers");
        assert!(found.len() <= 1);
        found.into_iter().next()
    }

    /// A stored transfer (panics if absent).
    pub fn get_transfer(&mut self, id: Id) -> TransferRecord {
        self.lookup_transfer(id).unwrap_or_else(|| panic!("transfer {id} not found"))
    }

    /// None of `ids` is stored.
    pub fn assert_no_transfers(&mut self, ids: &[Id]) {
        let found = self.ledger.lookup_transfers(ids).expect("lookup_transfers");
        assert!(found.is_empty(), "expected none of {ids:?} stored, found {found:?}");
    }

    pub fn assert_no_accounts(&mut self, ids: &[Id]) {
        let found = self.ledger.lookup_accounts(ids).expect("lookup_accounts");
        assert!(found.is_empty(), "expected none of {ids:?} stored, found {found:?}");
    }

    /// Assert the balances of several accounts at once: `[(id, bal(..)), ..]`.
    pub fn assert_bals(&mut self, expected: &[(Id, Bal)]) {
        let actual: Vec<(Id, Bal)> = expected.iter().map(|(id, _)| (*id, self.bal(*id))).collect();
        assert_eq!(actual, expected, "balances (debits_pending, debits_posted, credits_pending, credits_posted)");
    }

    pub fn check_invariants(&mut self, when: &str) {
        let report = invariants::check(self.ledger.store()).expect("invariants::check");
        assert!(report.holds(), "invariants broken after {when}: {:?}", report.violations);
    }
}

/// An account on [`L`] with [`CODE`].
pub fn acct(id: Id) -> Account {
    Account::new(id, L, CODE)
}

/// A single-phase transfer on [`L`] with [`CODE`].
pub fn xfer(id: Id, debit: Id, credit: Id, amount: u64) -> Transfer {
    Transfer::new(id, debit, credit, amount, L, CODE)
}

/// A pending transfer on [`L`] with a timeout in seconds (0: never expires).
pub fn pending(id: Id, debit: Id, credit: Id, amount: u64, timeout: u32) -> Transfer {
    Transfer { timeout, ..xfer(id, debit, credit, amount).with_flags(TransferFlags::PENDING) }
}

/// Post `amount` of a pending transfer (0: all of it); accounts, ledger and code left to fill.
pub fn post(id: Id, pending_id: Id, amount: u64) -> Transfer {
    Transfer { pending_id, ..Transfer::new(id, 0, 0, amount, 0, 0) }.with_flags(TransferFlags::POST_PENDING_TRANSFER)
}

/// Void a pending transfer (amount 0: the pending amount).
pub fn void(id: Id, pending_id: Id) -> Transfer {
    Transfer { pending_id, ..Transfer::new(id, 0, 0, 0, 0, 0) }.with_flags(TransferFlags::VOID_PENDING_TRANSFER)
}

/// Add flags to an event (keeping those it has).
pub trait Flagged: Sized {
    type Flags;
    fn flag(self, flags: Self::Flags) -> Self;
    fn linked(self) -> Self;
}

impl Flagged for Transfer {
    type Flags = TransferFlags;

    fn flag(self, flags: TransferFlags) -> Transfer {
        let union = self.flags.union(flags);
        self.with_flags(union)
    }

    fn linked(self) -> Transfer {
        self.flag(TransferFlags::LINKED)
    }
}

impl Flagged for Account {
    type Flags = AccountFlags;

    fn flag(self, flags: AccountFlags) -> Account {
        let union = self.flags.union(flags);
        self.with_flags(union)
    }

    fn linked(self) -> Account {
        self.flag(AccountFlags::LINKED)
    }
}
