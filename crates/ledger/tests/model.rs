//! Property test: random operation sequences run against the real [`Ledger`] (on the memory
//! store, on SQLite, and on PostgreSQL when `CARDNET_TEST_PG` is set) and against [`Model`], a
//! naive, independent statement of the rules (TigerBeetle's, ledger-clearing-anchors.md §1,
//! with this ledger's documented choices: u64 amounts bounded by AMOUNT_MAX, amount 0 refused,
//! a post's amount 0 meaning "all of it", the linked flag not stored, closed accounts created
//! closed). After every step the per-event results, every account, every transfer record, the
//! balance history and the invariants must agree.
//!
//! The model keeps whole maps and undoes a failed linked chain by restoring a clone taken when
//! the chain opened; it shares nothing with the engine but the data types.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use ledger::memory::MemoryStore;
use ledger::postgres::PostgresStore;
use ledger::sqlite::SqliteStore;
use ledger::{
    AMOUNT_MAX, Account, AccountBalance, AccountFlags, CreateAccountResult, CreateTransferResult, Id, Ledger,
    ManualClock, PendingStatus, Store, Transfer, TransferFlags, TransferRecord, invariants,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Where TigerBeetle and the engine disagreed when this test was written, the model follows
/// TigerBeetle (state_machine.zig). Each switch names one difference; `false` models the engine's
/// behaviour instead (to confirm the rest agrees, or if the engine's choice is kept on purpose).
mod tigerbeetle {
    /// `execute`: the last event of a chain left open is `linked_event_chain_open` even when an
    /// earlier event of the chain failed (the engine answers `linked_event_failed`).
    pub const OPEN_CHAIN_LAST_IS_CHAIN_OPEN: bool = true;
    /// `post_or_void_pending_transfer`: `amount > p.amount` is `exceeds_pending_transfer_amount`
    /// for a void too (the engine answers `pending_transfer_has_different_amount`).
    pub const VOID_OVER_PENDING_EXCEEDS: bool = true;
    /// `create_transfer`: `overflows_debits_posted` / `overflows_credits_posted` are checked for
    /// pending transfers too (the engine checks them for single-phase transfers only).
    pub const PENDING_CHECKS_POSTED_OVERFLOW: bool = true;
    /// `create_transfer`: expiry must fit u63 (`overflows_timeout`), i.e. an SQL BIGINT (the
    /// engine bounds it by u64).
    pub const EXPIRY_BOUND_I64: bool = true;
    /// `post_or_void_pending_transfer`: a post/void with zero user data takes the pending
    /// transfer's, and `post_or_void_pending_transfer_exists` compares accordingly (the engine
    /// stores the zeros).
    pub const RESOLUTION_INHERITS_USER_DATA: bool = true;
    /// `post_or_void_pending_transfer_exists`: flags, amount, pending_id, user data (the engine
    /// compares the pending transfer's accounts with the stored ones before the amount and the
    /// pending_id, so resubmitting a post of another pending transfer on other accounts is
    /// `exists_with_different_debit_account_id`).
    pub const RESOLUTION_EXISTS_ORDER: bool = true;
    /// `execute_expire_pending_transfers`: every expiry is an event with a timestamp of its own
    /// (`timestamp - len + index + 1`), and the account history records it under that timestamp
    /// (the engine stamps all expiries of a sweep with one timestamp, so an account with the
    /// history flag gets several rows with the same timestamp, which SQLite's primary key on
    /// `(account_id, timestamp)` refuses: the whole sweep fails, every time). The model stamps a
    /// sweep's expiries `now`, `now + 1`, ... in (expires_at, id) order.
    pub const EXPIRY_STAMPS_EACH: bool = true;
}

const SECOND: u64 = 1_000_000_000;
const START_NS: u64 = 1_700_000_000_000_000_000;
/// The accounts the operations name (7 is never created: "not found").
const ACCOUNT_IDS: [Id; 7] = [1, 2, 3, 4, 5, 6, 7];
/// Transfer ids are drawn from 1..=TRANSFER_IDS, so later events often reuse earlier ids.
const TRANSFER_IDS: u128 = 30;
const HISTORY_LIMIT: usize = 100_000;

// ---------------------------------------------------------------------------------------------
// The model.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
struct State {
    accounts: BTreeMap<Id, Account>,
    transfers: BTreeMap<Id, TransferRecord>,
    history: Vec<AccountBalance>,
}

#[derive(Debug, Clone)]
struct Model {
    state: State,
    clock: u64,
    last_timestamp: u64,
}

type AR = CreateAccountResult;
type TR = CreateTransferResult;

fn has(flags: u16, flag: u16) -> bool {
    flags & flag != 0
}

const A_LINKED: u16 = AccountFlags::LINKED.0;
const A_DMNEC: u16 = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS.0;
const A_CMNED: u16 = AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS.0;
const A_HISTORY: u16 = AccountFlags::HISTORY.0;
const A_CLOSED: u16 = AccountFlags::CLOSED.0;
const T_LINKED: u16 = TransferFlags::LINKED.0;
const T_PENDING: u16 = TransferFlags::PENDING.0;
const T_POST: u16 = TransferFlags::POST_PENDING_TRANSFER.0;
const T_VOID: u16 = TransferFlags::VOID_PENDING_TRANSFER.0;
const T_BD: u16 = TransferFlags::BALANCING_DEBIT.0;
const T_BC: u16 = TransferFlags::BALANCING_CREDIT.0;

impl Model {
    fn new(clock: u64) -> Model {
        Model { state: State::default(), clock, last_timestamp: 0 }
    }

    /// One timestamp per event: after the last one handed out, and no earlier than the clock.
    fn stamps(&mut self, count: usize) -> Vec<u64> {
        let first = self.clock.max(self.last_timestamp + 1);
        let stamps: Vec<u64> = (0..count as u64).map(|i| first + i).collect();
        if let Some(last) = stamps.last() {
            self.last_timestamp = *last;
        }
        stamps
    }

    /// TigerBeetle's batch loop: a chain opens at its first linked event and closes at the first
    /// event without the flag; the first failure restores the state from when the chain opened,
    /// turns the chain's earlier results into `linked_event_failed`, and every later event of
    /// the chain fails the same way without being applied.
    fn run_batch<E, R: Copy + PartialEq>(
        &mut self,
        events: &[E],
        linked: impl Fn(&E) -> bool,
        [ok, failed, open]: [R; 3],
        apply: impl Fn(&mut State, &E, u64) -> R,
    ) -> Vec<R> {
        let stamps = self.stamps(events.len());
        let mut results: Vec<R> = Vec::with_capacity(events.len());
        let mut chain: Option<(usize, State)> = None;
        let mut broken = false;
        for (index, event) in events.iter().enumerate() {
            let is_linked = linked(event);
            if is_linked && chain.is_none() {
                chain = Some((index, self.state.clone()));
            }
            let last = index == events.len() - 1;
            let result = if is_linked && last && (!broken || tigerbeetle::OPEN_CHAIN_LAST_IS_CHAIN_OPEN) {
                open
            } else if broken {
                failed
            } else {
                apply(&mut self.state, event, stamps[index])
            };
            if result != ok
                && let Some((start, saved)) = &chain
                && !broken
            {
                broken = true;
                self.state = saved.clone();
                for earlier in &mut results[*start..index] {
                    *earlier = failed;
                }
            }
            results.push(result);
            if !is_linked || result == open {
                chain = None;
                broken = false;
            }
        }
        results
    }

    fn create_accounts(&mut self, events: &[Account]) -> Vec<AR> {
        self.run_batch(
            events,
            |a| has(a.flags.0, A_LINKED),
            [AR::Ok, AR::LinkedEventFailed, AR::LinkedEventChainOpen],
            create_account,
        )
    }

    fn create_transfers(&mut self, events: &[Transfer]) -> Vec<TR> {
        self.run_batch(
            events,
            |t| has(t.flags.0, T_LINKED),
            [TR::Ok, TR::LinkedEventFailed, TR::LinkedEventChainOpen],
            create_transfer,
        )
    }

    /// Release every pending transfer due at the sweep's timestamp, oldest expiry first.
    fn expire_pending(&mut self) -> usize {
        let now = self.clock.max(self.last_timestamp + 1);
        let mut due: Vec<TransferRecord> = self
            .state
            .transfers
            .values()
            .filter(|r| r.status == PendingStatus::Pending && r.expires_at != 0 && r.expires_at <= now)
            .copied()
            .collect();
        due.sort_by_key(|r| (r.expires_at, r.transfer.id));
        let each = u64::from(tigerbeetle::EXPIRY_STAMPS_EACH);
        self.last_timestamp = now + (due.len() as u64).saturating_sub(1) * each;
        for (index, record) in due.iter().enumerate() {
            let p = record.transfer;
            let stamp = now + index as u64 * each;
            move_money(&mut self.state, p.debit_account_id, p.credit_account_id, stamp, |dr, cr| {
                dr.debits_pending -= p.amount;
                cr.credits_pending -= p.amount;
            });
            if let Some(stored) = self.state.transfers.get_mut(&p.id) {
                stored.status = PendingStatus::Expired;
            }
        }
        due.len()
    }
}

fn create_account(state: &mut State, a: &Account, timestamp: u64) -> AR {
    let known = A_LINKED | A_DMNEC | A_CMNED | A_HISTORY | A_CLOSED;
    let checks = [
        (a.timestamp != 0, AR::TimestampMustBeZero),
        (a.flags.0 & !known != 0, AR::ReservedFlag),
        (a.id == 0, AR::IdMustNotBeZero),
        (a.id == u128::MAX, AR::IdMustNotBeIntMax),
        (has(a.flags.0, A_DMNEC) && has(a.flags.0, A_CMNED), AR::FlagsAreMutuallyExclusive),
        (a.debits_pending != 0, AR::DebitsPendingMustBeZero),
        (a.debits_posted != 0, AR::DebitsPostedMustBeZero),
        (a.credits_pending != 0, AR::CreditsPendingMustBeZero),
        (a.credits_posted != 0, AR::CreditsPostedMustBeZero),
        (a.ledger == 0, AR::LedgerMustNotBeZero),
        (a.code == 0, AR::CodeMustNotBeZero),
    ];
    if let Some((_, result)) = checks.iter().find(|(failed, _)| *failed) {
        return *result;
    }
    let flags = a.flags.0 & !A_LINKED;
    if let Some(e) = state.accounts.get(&a.id) {
        let differences = [
            (e.flags.0 != flags, AR::ExistsWithDifferentFlags),
            (e.user_data_128 != a.user_data_128, AR::ExistsWithDifferentUserData128),
            (e.user_data_64 != a.user_data_64, AR::ExistsWithDifferentUserData64),
            (e.user_data_32 != a.user_data_32, AR::ExistsWithDifferentUserData32),
            (e.ledger != a.ledger, AR::ExistsWithDifferentLedger),
            (e.code != a.code, AR::ExistsWithDifferentCode),
        ];
        return differences.iter().find(|(differs, _)| *differs).map_or(AR::Exists, |(_, result)| *result);
    }
    state.accounts.insert(a.id, Account { flags: AccountFlags(flags), timestamp, ..*a });
    AR::Ok
}

/// Change two accounts' balances and record their history (accounts with the flag).
fn move_money(
    state: &mut State,
    debit: Id,
    credit: Id,
    timestamp: u64,
    change: impl FnOnce(&mut Account, &mut Account),
) {
    let mut dr = state.accounts[&debit];
    let mut cr = state.accounts[&credit];
    change(&mut dr, &mut cr);
    for account in [dr, cr] {
        state.accounts.insert(account.id, account);
        if has(account.flags.0, A_HISTORY) {
            state.history.push(AccountBalance {
                account_id: account.id,
                timestamp,
                debits_pending: account.debits_pending,
                debits_posted: account.debits_posted,
                credits_pending: account.credits_pending,
                credits_posted: account.credits_posted,
            });
        }
    }
}

fn first_failure(checks: &[(bool, TR)]) -> Option<TR> {
    checks.iter().find(|(failed, _)| *failed).map(|(_, result)| *result)
}

fn create_transfer(state: &mut State, t: &Transfer, timestamp: u64) -> TR {
    let f = t.flags.0;
    let known = T_LINKED | T_PENDING | T_POST | T_VOID | T_BD | T_BC;
    if let Some(result) = first_failure(&[
        (t.timestamp != 0, TR::TimestampMustBeZero),
        (f & !known != 0, TR::ReservedFlag),
        (t.id == 0, TR::IdMustNotBeZero),
        (t.id == u128::MAX, TR::IdMustNotBeIntMax),
    ]) {
        return result;
    }
    if has(f, T_POST) || has(f, T_VOID) {
        return post_or_void(state, t, timestamp);
    }
    let pending = has(f, T_PENDING);
    if let Some(result) = first_failure(&[
        (t.debit_account_id == 0, TR::DebitAccountIdMustNotBeZero),
        (t.debit_account_id == u128::MAX, TR::DebitAccountIdMustNotBeIntMax),
        (t.credit_account_id == 0, TR::CreditAccountIdMustNotBeZero),
        (t.credit_account_id == u128::MAX, TR::CreditAccountIdMustNotBeIntMax),
        (t.debit_account_id == t.credit_account_id, TR::AccountsMustBeDifferent),
        (t.pending_id != 0, TR::PendingIdMustBeZero),
        (!pending && t.timeout != 0, TR::TimeoutReservedForPendingTransfer),
        (t.amount == 0, TR::AmountMustNotBeZero),
        (t.amount > AMOUNT_MAX, TR::AmountMustNotExceedMax),
        (t.ledger == 0, TR::LedgerMustNotBeZero),
        (t.code == 0, TR::CodeMustNotBeZero),
    ]) {
        return result;
    }
    let Some(dr) = state.accounts.get(&t.debit_account_id).copied() else {
        return TR::DebitAccountNotFound;
    };
    let Some(cr) = state.accounts.get(&t.credit_account_id).copied() else {
        return TR::CreditAccountNotFound;
    };
    if dr.ledger != cr.ledger {
        return TR::AccountsMustHaveTheSameLedger;
    }
    if t.ledger != dr.ledger {
        return TR::TransferMustHaveTheSameLedgerAsAccounts;
    }
    if let Some(e) = state.transfers.get(&t.id) {
        return transfer_exists(t, &e.transfer);
    }
    if has(dr.flags.0, A_CLOSED) {
        return TR::DebitAccountAlreadyClosed;
    }
    if has(cr.flags.0, A_CLOSED) {
        return TR::CreditAccountAlreadyClosed;
    }
    // Balances as u128 so that nothing here can overflow.
    let w = |v: u64| v as u128;
    let mut amount = w(t.amount);
    if has(f, T_BD) {
        amount = amount.min(w(dr.credits_posted).saturating_sub(w(dr.debits_pending) + w(dr.debits_posted)));
    }
    if has(f, T_BC) {
        amount = amount.min(w(cr.debits_posted).saturating_sub(w(cr.credits_pending) + w(cr.credits_posted)));
    }
    let max = w(AMOUNT_MAX);
    let check_posted = !pending || tigerbeetle::PENDING_CHECKS_POSTED_OVERFLOW;
    let expiry_bound = if tigerbeetle::EXPIRY_BOUND_I64 { i64::MAX as u128 } else { u64::MAX as u128 };
    let expires_at = w(timestamp) + u128::from(t.timeout) * u128::from(SECOND);
    if let Some(result) = first_failure(&[
        (pending && w(dr.debits_pending) + amount > max, TR::OverflowsDebitsPending),
        (pending && w(cr.credits_pending) + amount > max, TR::OverflowsCreditsPending),
        (check_posted && w(dr.debits_posted) + amount > max, TR::OverflowsDebitsPosted),
        (check_posted && w(cr.credits_posted) + amount > max, TR::OverflowsCreditsPosted),
        (w(dr.debits_pending) + w(dr.debits_posted) + amount > max, TR::OverflowsDebits),
        (w(cr.credits_pending) + w(cr.credits_posted) + amount > max, TR::OverflowsCredits),
        (pending && t.timeout > 0 && expires_at > expiry_bound, TR::OverflowsTimeout),
        (
            has(dr.flags.0, A_DMNEC) && w(dr.debits_pending) + w(dr.debits_posted) + amount > w(dr.credits_posted),
            TR::ExceedsCredits,
        ),
        (
            has(cr.flags.0, A_CMNED) && w(cr.credits_pending) + w(cr.credits_posted) + amount > w(cr.debits_posted),
            TR::ExceedsDebits,
        ),
    ]) {
        return result;
    }
    let amount = amount as u64;
    move_money(state, dr.id, cr.id, timestamp, |dr, cr| {
        if pending {
            dr.debits_pending += amount;
            cr.credits_pending += amount;
        } else {
            dr.debits_posted += amount;
            cr.credits_posted += amount;
        }
    });
    let transfer = Transfer { amount, timestamp, flags: TransferFlags(f & !T_LINKED), ..*t };
    let (status, expires_at) = match (pending, t.timeout) {
        (false, _) => (PendingStatus::None, 0),
        (true, 0) => (PendingStatus::Pending, 0),
        (true, _) => (PendingStatus::Pending, expires_at as u64),
    };
    state.transfers.insert(t.id, TransferRecord { transfer, status, expires_at });
    TR::Ok
}

/// A resubmitted single-phase or pending transfer against the stored one.
fn transfer_exists(t: &Transfer, e: &Transfer) -> TR {
    let balancing = has(t.flags.0, T_BD) || has(t.flags.0, T_BC);
    let amount_differs = if balancing { t.amount < e.amount } else { t.amount != e.amount };
    first_failure(&[
        (t.flags.0 & !T_LINKED != e.flags.0, TR::ExistsWithDifferentFlags),
        (t.debit_account_id != e.debit_account_id, TR::ExistsWithDifferentDebitAccountId),
        (t.credit_account_id != e.credit_account_id, TR::ExistsWithDifferentCreditAccountId),
        (amount_differs, TR::ExistsWithDifferentAmount),
        (t.user_data_128 != e.user_data_128, TR::ExistsWithDifferentUserData128),
        (t.user_data_64 != e.user_data_64, TR::ExistsWithDifferentUserData64),
        (t.user_data_32 != e.user_data_32, TR::ExistsWithDifferentUserData32),
        (t.timeout != e.timeout, TR::ExistsWithDifferentTimeout),
        (t.code != e.code, TR::ExistsWithDifferentCode),
    ])
    .unwrap_or(TR::Exists)
}

fn post_or_void(state: &mut State, t: &Transfer, timestamp: u64) -> TR {
    let f = t.flags.0;
    let post = has(f, T_POST);
    if let Some(result) = first_failure(&[
        ((post && has(f, T_VOID)) || has(f, T_PENDING), TR::FlagsAreMutuallyExclusive),
        (has(f, T_BD) || has(f, T_BC), TR::FlagsAreMutuallyExclusive),
        (t.pending_id == 0, TR::PendingIdMustNotBeZero),
        (t.pending_id == u128::MAX, TR::PendingIdMustNotBeIntMax),
        (t.pending_id == t.id, TR::PendingIdMustBeDifferent),
        (t.timeout != 0, TR::TimeoutReservedForPendingTransfer),
        // This ledger's bound on amounts (TigerBeetle's are u128).
        (t.amount > AMOUNT_MAX, TR::AmountMustNotExceedMax),
    ]) {
        return result;
    }
    let Some(record) = state.transfers.get(&t.pending_id).copied() else {
        return TR::PendingTransferNotFound;
    };
    let p = record.transfer;
    let amount = if t.amount == 0 { p.amount } else { t.amount };
    let void_over = if tigerbeetle::VOID_OVER_PENDING_EXCEEDS {
        TR::ExceedsPendingTransferAmount
    } else {
        TR::PendingTransferHasDifferentAmount
    };
    if let Some(result) = first_failure(&[
        (!has(p.flags.0, T_PENDING), TR::PendingTransferNotPending),
        (
            t.debit_account_id != 0 && t.debit_account_id != p.debit_account_id,
            TR::PendingTransferHasDifferentDebitAccountId,
        ),
        (
            t.credit_account_id != 0 && t.credit_account_id != p.credit_account_id,
            TR::PendingTransferHasDifferentCreditAccountId,
        ),
        (t.ledger != 0 && t.ledger != p.ledger, TR::PendingTransferHasDifferentLedger),
        (t.code != 0 && t.code != p.code, TR::PendingTransferHasDifferentCode),
        (post && amount > p.amount, TR::ExceedsPendingTransferAmount),
        (!post && amount > p.amount, void_over),
        (!post && amount < p.amount, TR::PendingTransferHasDifferentAmount),
    ]) {
        return result;
    }
    let inherit =
        |mine: u64, theirs: u64| if mine == 0 && tigerbeetle::RESOLUTION_INHERITS_USER_DATA { theirs } else { mine };
    let user_data_128 = if t.user_data_128 == 0 && tigerbeetle::RESOLUTION_INHERITS_USER_DATA {
        p.user_data_128
    } else {
        t.user_data_128
    };
    let stored = Transfer {
        id: t.id,
        debit_account_id: p.debit_account_id,
        credit_account_id: p.credit_account_id,
        amount,
        pending_id: t.pending_id,
        user_data_128,
        user_data_64: inherit(t.user_data_64, p.user_data_64),
        user_data_32: inherit(u64::from(t.user_data_32), u64::from(p.user_data_32)) as u32,
        timeout: 0,
        ledger: p.ledger,
        code: p.code,
        flags: TransferFlags(f & !T_LINKED),
        timestamp,
    };
    if let Some(e) = state.transfers.get(&t.id) {
        return post_or_void_exists(&stored, &e.transfer);
    }
    match record.status {
        PendingStatus::Posted => return TR::PendingTransferAlreadyPosted,
        PendingStatus::Voided => return TR::PendingTransferAlreadyVoided,
        PendingStatus::Expired => return TR::PendingTransferExpired,
        PendingStatus::Pending | PendingStatus::None => {}
    }
    if record.expires_at != 0 && record.expires_at <= timestamp {
        return TR::PendingTransferExpired;
    }
    move_money(state, p.debit_account_id, p.credit_account_id, timestamp, |dr, cr| {
        dr.debits_pending -= p.amount;
        cr.credits_pending -= p.amount;
        if post {
            dr.debits_posted += amount;
            cr.credits_posted += amount;
        }
    });
    let status = if post { PendingStatus::Posted } else { PendingStatus::Voided };
    state.transfers.insert(p.id, TransferRecord { status, ..record });
    state.transfers.insert(t.id, TransferRecord { transfer: stored, status: PendingStatus::None, expires_at: 0 });
    TR::Ok
}

/// A resubmitted post or void (`t` as it would be stored) against the stored transfer.
fn post_or_void_exists(t: &Transfer, e: &Transfer) -> TR {
    let flags = (t.flags.0 != e.flags.0, TR::ExistsWithDifferentFlags);
    let amount = (t.amount != e.amount, TR::ExistsWithDifferentAmount);
    let pending_id = (t.pending_id != e.pending_id, TR::ExistsWithDifferentPendingId);
    let user_data = [
        (t.user_data_128 != e.user_data_128, TR::ExistsWithDifferentUserData128),
        (t.user_data_64 != e.user_data_64, TR::ExistsWithDifferentUserData64),
        (t.user_data_32 != e.user_data_32, TR::ExistsWithDifferentUserData32),
    ];
    let mut checks = vec![flags];
    if tigerbeetle::RESOLUTION_EXISTS_ORDER {
        checks.extend([amount, pending_id]);
    } else {
        checks.extend([
            (t.debit_account_id != e.debit_account_id, TR::ExistsWithDifferentDebitAccountId),
            (t.credit_account_id != e.credit_account_id, TR::ExistsWithDifferentCreditAccountId),
            amount,
            pending_id,
        ]);
    }
    checks.extend(user_data);
    checks.extend([
        (t.ledger != e.ledger, TR::ExistsWithDifferentLedger),
        (t.code != e.code, TR::ExistsWithDifferentCode),
    ]);
    first_failure(&checks).unwrap_or(TR::Exists)
}

// ---------------------------------------------------------------------------------------------
// Operations.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Accounts(Vec<Account>),
    Transfers(Vec<Transfer>),
    /// Submit again transfers submitted earlier in the run, as they were or with one field
    /// changed.
    Resubmit(Vec<(Index, Change)>),
    /// Post or void one of the pending transfers created so far (whatever its state).
    Resolve {
        pick: Index,
        id: Id,
        post: bool,
        amount: u64,
        linked: bool,
    },
    Advance {
        seconds: u64,
    },
    Expire,
}

/// How a resubmitted transfer differs from the one submitted before.
#[derive(Debug, Clone, Copy)]
enum Change {
    None,
    UserData128,
    UserData64,
    UserData32,
    Timeout,
    Code,
    Amount,
    PendingId,
    Ledger,
    DebitAccount,
    Linked,
}

impl Change {
    fn apply(self, t: Transfer) -> Transfer {
        match self {
            Change::None => t,
            Change::UserData128 => Transfer { user_data_128: t.user_data_128 ^ 1, ..t },
            Change::UserData64 => Transfer { user_data_64: t.user_data_64 ^ 1, ..t },
            Change::UserData32 => Transfer { user_data_32: t.user_data_32 ^ 1, ..t },
            Change::Timeout => Transfer { timeout: t.timeout ^ 1, ..t },
            Change::Code => Transfer { code: t.code % 2 + 1, ..t },
            Change::Amount => Transfer { amount: t.amount + 1, ..t },
            Change::PendingId => Transfer { pending_id: t.pending_id % TRANSFER_IDS + 1, ..t },
            Change::Ledger => Transfer { ledger: t.ledger % 2 + 1, ..t },
            Change::DebitAccount => Transfer { debit_account_id: t.debit_account_id % 6 + 1, ..t },
            Change::Linked => Transfer { flags: TransferFlags(t.flags.0 ^ T_LINKED), ..t },
        }
    }
}

fn change() -> impl Strategy<Value = Change> {
    weighted(vec![
        (12, Change::None),
        (2, Change::UserData128),
        (2, Change::UserData64),
        (2, Change::UserData32),
        (2, Change::Timeout),
        (2, Change::Code),
        (2, Change::Amount),
        (2, Change::PendingId),
        (1, Change::Ledger),
        (1, Change::DebitAccount),
        (2, Change::Linked),
    ])
}

fn weighted<T: Clone + std::fmt::Debug + 'static>(choices: Vec<(u32, T)>) -> BoxedStrategy<T> {
    let choices: Vec<(u32, BoxedStrategy<T>)> = choices.into_iter().map(|(w, v)| (w, Just(v).boxed())).collect();
    proptest::strategy::Union::new_weighted(choices).boxed()
}

fn account_event() -> impl Strategy<Value = Account> {
    let flags = (
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.25),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.05),
        prop::bool::weighted(0.02),
    )
        .prop_map(|(linked, dmnec, cmned, history, closed, reserved)| {
            let bits = [
                (linked, A_LINKED),
                (dmnec, A_DMNEC),
                (cmned, A_CMNED),
                (history, A_HISTORY),
                (closed, A_CLOSED),
                (reserved, 1 << 4),
            ];
            AccountFlags(bits.iter().filter(|(on, _)| *on).fold(0, |acc, (_, bit)| acc | bit))
        });
    (
        1u128..=7,
        weighted(vec![(16, 1u32), (3, 2), (1, 0)]),
        weighted(vec![(9, 1u16), (1, 2)]),
        flags,
        0u64..2,
        prop::bool::weighted(0.03),
    )
        .prop_map(|(id, ledger, code, flags, user_data, bad_balance)| Account {
            user_data_64: user_data,
            debits_posted: u64::from(bad_balance),
            ..Account::new(id, ledger, code).with_flags(flags)
        })
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Single,
    Pending,
    Post,
    Void,
}

fn amount(kind: Kind) -> BoxedStrategy<u64> {
    match kind {
        Kind::Single | Kind::Pending => prop_oneof![
            85 => 1u64..=60,
            3 => Just(0u64),
            4 => (0u64..3).prop_map(|d| AMOUNT_MAX - d),
            4 => Just(AMOUNT_MAX / 2),
            1 => Just(AMOUNT_MAX + 1),
        ]
        .boxed(),
        Kind::Post => prop_oneof![45 => Just(0u64), 50 => 1u64..=60, 1 => Just(AMOUNT_MAX + 1)].boxed(),
        Kind::Void => prop_oneof![80 => Just(0u64), 20 => 1u64..=60].boxed(),
    }
}

fn transfer_id() -> impl Strategy<Value = Id> {
    prop_oneof![200 => 1u128..=TRANSFER_IDS, 1 => Just(0u128), 1 => Just(u128::MAX)]
}

fn transfer_event() -> impl Strategy<Value = Transfer> {
    let kind = weighted(vec![(35, Kind::Single), (30, Kind::Pending), (22, Kind::Post), (13, Kind::Void)]);
    kind.prop_flat_map(|kind| {
        let resolves = matches!(kind, Kind::Post | Kind::Void);
        let account = || {
            if resolves {
                weighted(vec![(80, 0u128), (4, 1), (4, 2), (4, 3), (4, 4), (4, 5)])
            } else {
                prop_oneof![96 => 1u128..=6, 2 => Just(0u128), 2 => Just(7u128), 1 => Just(u128::MAX)].boxed()
            }
        };
        let ledger = if resolves {
            weighted(vec![(80, 0u32), (15, 1), (5, 2)])
        } else {
            weighted(vec![(85, 1u32), (10, 2), (5, 0)])
        };
        let code = if resolves {
            weighted(vec![(80, 0u16), (15, 1), (5, 2)])
        } else {
            weighted(vec![(90, 1u16), (8, 2), (2, 0)])
        };
        let timeout = match kind {
            Kind::Pending => weighted(vec![(3, 0u32), (3, 1), (2, 2), (2, 5)]),
            _ => weighted(vec![(97, 0u32), (3, 1)]),
        };
        let pending_id = if resolves {
            prop_oneof![97 => 1u128..=TRANSFER_IDS, 3 => Just(0u128), 1 => Just(u128::MAX)].boxed()
        } else {
            weighted(vec![(98, 0u128), (2, 3)])
        };
        let flags = (
            prop::bool::weighted(0.25),
            prop::bool::weighted(0.1),
            prop::bool::weighted(0.1),
            prop::bool::weighted(0.01),
            prop::bool::weighted(0.02),
        );
        let user_data = (
            weighted(vec![(80, 0u128), (15, 1), (5, 2)]),
            weighted(vec![(85, 0u64), (15, 1)]),
            weighted(vec![(90, 0u32), (10, 1)]),
        );
        (
            (transfer_id(), account(), account(), amount(kind), pending_id),
            (user_data, timeout, ledger, code, flags, weighted(vec![(99, 0u64), (1, 1)])),
        )
            .prop_map(
                move |(
                    (id, debit, credit, amount, pending_id),
                    ((ud128, ud64, ud32), timeout, ledger, code, (linked, bd, bc, reserved, crossed), timestamp),
                )| {
                    let kind_flag = match kind {
                        Kind::Single => 0,
                        Kind::Pending => T_PENDING,
                        Kind::Post => T_POST,
                        Kind::Void => T_VOID,
                    };
                    // Rarely, a second kind (mutually exclusive) or a reserved bit.
                    let crossed = if crossed { if kind_flag == T_PENDING { T_VOID } else { T_PENDING } } else { 0 };
                    let bits = [(linked, T_LINKED), (bd, T_BD), (bc, T_BC), (reserved, 1 << 6)];
                    let flags = bits.iter().filter(|(on, _)| *on).fold(kind_flag | crossed, |acc, (_, bit)| acc | bit);
                    Transfer {
                        id,
                        debit_account_id: debit,
                        credit_account_id: credit,
                        amount,
                        pending_id,
                        user_data_128: ud128,
                        user_data_64: ud64,
                        user_data_32: ud32,
                        timeout,
                        ledger,
                        code,
                        flags: TransferFlags(flags),
                        timestamp,
                    }
                },
            )
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => prop::collection::vec(account_event(), 1..4).prop_map(Op::Accounts),
        10 => prop::collection::vec(transfer_event(), 1..7).prop_map(Op::Transfers),
        3 => prop::collection::vec((any::<Index>(), change()), 1..4).prop_map(Op::Resubmit),
        3 => (any::<Index>(), 1u128..=TRANSFER_IDS, any::<bool>(), prop_oneof![3 => Just(0u64), 1 => 1u64..=30], prop::bool::weighted(0.2))
            .prop_map(|(pick, id, post, amount, linked)| Op::Resolve { pick, id, post, amount, linked }),
        2 => (0u64..4).prop_map(|seconds| Op::Advance { seconds }),
        2 => Just(Op::Expire),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 1..40)
}

/// Every run starts from these accounts: plain ones, one of each limit, one with history, and
/// one on a second ledger; accounts 6 and 7 are left to the operations.
fn base_accounts() -> Vec<Account> {
    vec![
        Account::new(1, 1, 1),
        Account::new(2, 1, 1).with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS.union(AccountFlags::HISTORY)),
        Account::new(3, 1, 1).with_flags(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS),
        Account::new(4, 1, 2).with_flags(AccountFlags::HISTORY),
        Account::new(5, 2, 1),
    ]
}

// ---------------------------------------------------------------------------------------------
// Running a sequence against both.
// ---------------------------------------------------------------------------------------------

struct Run<S: Store> {
    ledger: Ledger<S, ManualClock>,
    clock: ManualClock,
    model: Model,
    submitted: Vec<Transfer>,
    /// Every transfer id any event named (to compare the stored records).
    transfer_ids: HashSet<Id>,
    /// Results seen, for the coverage report.
    seen: HashSet<TR>,
}

impl<S: Store> Run<S> {
    fn new(store: S) -> Run<S> {
        let clock = ManualClock::new(START_NS);
        let ledger = Ledger::open(store, clock.clone()).expect("open the ledger");
        Run {
            ledger,
            clock,
            model: Model::new(START_NS),
            submitted: Vec::new(),
            transfer_ids: HashSet::new(),
            seen: HashSet::new(),
        }
    }

    fn accounts(&mut self, events: &[Account]) -> Result<(), TestCaseError> {
        let got =
            self.ledger.create_accounts(events).map_err(|e| TestCaseError::fail(format!("create_accounts: {e}")))?;
        let want = self.model.create_accounts(events);
        prop_assert_eq!(got, want, "create_accounts {:?}", events);
        Ok(())
    }

    fn transfers(&mut self, events: &[Transfer]) -> Result<(), TestCaseError> {
        self.transfer_ids.extend(events.iter().flat_map(|t| [t.id, t.pending_id]));
        self.submitted.extend_from_slice(events);
        let got =
            self.ledger.create_transfers(events).map_err(|e| TestCaseError::fail(format!("create_transfers: {e}")))?;
        let want = self.model.create_transfers(events);
        self.seen.extend(got.iter().copied());
        prop_assert_eq!(got, want, "create_transfers {:#?}", events);
        Ok(())
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Accounts(events) => self.accounts(events)?,
            Op::Transfers(events) => self.transfers(events)?,
            Op::Resubmit(picks) => {
                if !self.submitted.is_empty() {
                    let events: Vec<Transfer> =
                        picks.iter().map(|(pick, change)| change.apply(*pick.get(&self.submitted))).collect();
                    self.transfers(&events)?;
                }
            }
            Op::Resolve { pick, id, post, amount, linked } => {
                let pendings: Vec<Id> = self
                    .model
                    .state
                    .transfers
                    .values()
                    .filter(|r| has(r.transfer.flags.0, T_PENDING))
                    .map(|r| r.transfer.id)
                    .collect();
                if !pendings.is_empty() {
                    let pending_id = *pick.get(&pendings);
                    let kind = if *post { T_POST } else { T_VOID };
                    let flags = TransferFlags(kind | if *linked { T_LINKED } else { 0 });
                    let event =
                        Transfer { pending_id, amount: *amount, ..Transfer::new(*id, 0, 0, 0, 0, 0) }.with_flags(flags);
                    // A linked event is closed by a copy of itself (then `exists`: the chain fails).
                    let events = if *linked {
                        vec![event, Transfer { flags: TransferFlags(kind), ..event }]
                    } else {
                        vec![event]
                    };
                    self.transfers(&events)?;
                }
            }
            Op::Advance { seconds } => {
                self.clock.advance_seconds(*seconds);
                self.model.clock += seconds * SECOND;
            }
            Op::Expire => {
                let got =
                    self.ledger.expire_pending().map_err(|e| TestCaseError::fail(format!("expire_pending: {e}")))?;
                let want = self.model.expire_pending();
                prop_assert_eq!(got, want, "expire_pending: how many expired");
            }
        }
        self.compare(op)
    }

    /// Every account, every transfer any event named, the history and the invariants.
    fn compare(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let fail = |what: &str, e: ledger::LedgerError| TestCaseError::fail(format!("{what}: {e}"));
        let mut accounts = self.ledger.lookup_accounts(&ACCOUNT_IDS).map_err(|e| fail("lookup_accounts", e))?;
        accounts.sort_by_key(|a| a.id);
        let want: Vec<Account> = self.model.state.accounts.values().copied().collect();
        prop_assert_eq!(accounts, want, "accounts after {:?}", op);

        let mut ids: Vec<Id> = self.transfer_ids.iter().copied().collect();
        ids.sort_unstable();
        let mut transfers = self.ledger.lookup_transfers(&ids).map_err(|e| fail("lookup_transfers", e))?;
        transfers.sort_by_key(|r| r.transfer.id);
        let want: Vec<TransferRecord> =
            ids.iter().filter_map(|id| self.model.state.transfers.get(id)).copied().collect();
        prop_assert_eq!(transfers, want, "transfers after {:?}", op);

        for id in ACCOUNT_IDS {
            let history = self.ledger.account_balances(id, HISTORY_LIMIT).map_err(|e| fail("account_balances", e))?;
            let want: Vec<AccountBalance> =
                self.model.state.history.iter().filter(|b| b.account_id == id).copied().collect();
            prop_assert_eq!(history, want, "history of account {} after {:?}", id, op);
        }

        let report =
            invariants::check(self.ledger.store()).map_err(|e| TestCaseError::fail(format!("invariants: {e}")))?;
        prop_assert!(report.holds(), "invariants after {:?}: {:?}", op, report.violations);
        Ok(())
    }

    fn run(&mut self, ops: &[Op]) -> Result<(), TestCaseError> {
        self.accounts(&base_accounts())?;
        for op in ops {
            self.step(op)?;
        }
        Ok(())
    }
}

/// Removes a test database when dropped (also when the case panics).
struct Cleanup(Option<Box<dyn FnOnce()>>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(cleanup) = self.0.take() {
            cleanup();
        }
    }
}

/// Run `cases` random sequences, each on a fresh store from `open`; returns the transfer
/// results the engine produced.
fn check<S: Store>(cases: u32, open: impl Fn() -> (S, Cleanup)) -> HashSet<TR> {
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let seen = std::cell::RefCell::new(HashSet::new());
    let outcome = runner.run(&ops(), |ops| {
        let (store, _cleanup) = open();
        let mut run = Run::new(store);
        let result = run.run(&ops);
        seen.borrow_mut().extend(run.seen.iter().copied());
        result
    });
    if let Err(error) = outcome {
        panic!("{error}");
    }
    seen.into_inner()
}

#[test]
fn the_memory_store_agrees_with_the_model() {
    let seen = check(400, || (MemoryStore::new(), Cleanup(None)));
    // The generator reaches most results; report the rest (not an error: some need setups a
    // random walk rarely finds, and the behaviour suite covers every one).
    let missing: Vec<&str> = TR::ALL.iter().filter(|r| !seen.contains(r)).map(|r| r.name()).collect();
    println!("transfer results seen: {} of {}; not seen: {missing:?}", seen.len(), TR::ALL.len());
    assert!(seen.len() >= 40, "the generator reaches too few results: {seen:?}");
}

static NEXT: AtomicU64 = AtomicU64::new(0);

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

#[test]
fn the_sqlite_store_agrees_with_the_model() {
    check(24, || {
        let dir: PathBuf = std::env::temp_dir().join(unique("cardnet-ledger-model"));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        let store = SqliteStore::open(&dir.join("ledger.db")).expect("open the SQLite store");
        (store, Cleanup(Some(Box::new(move || drop(std::fs::remove_dir_all(&dir))))))
    });
}

#[test]
fn the_postgres_store_agrees_with_the_model() {
    let Some(url) = std::env::var("CARDNET_TEST_PG").ok().filter(|url| !url.is_empty()) else {
        println!("SKIPPED: postgres model test: CARDNET_TEST_PG is not set");
        return;
    };
    check(12, || {
        let schema = unique("cardnet_model");
        let store = PostgresStore::connect(&url, &schema).expect("connect the PostgreSQL store");
        let url = url.clone();
        (store, Cleanup(Some(Box::new(move || drop(ledger::postgres::drop_schema(&url, &schema))))))
    });
}
