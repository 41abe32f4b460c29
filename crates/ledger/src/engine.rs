//! The ledger's state machine: TigerBeetle's rules applied to the rows one batch touches.
//!
//! A batch is decided in memory over a [`Working`] set loaded from the store (the accounts and
//! transfers its events name), with an undo log so a failed linked chain leaves no trace, and
//! then written back in the same transaction. The functions here do no I/O.

use std::collections::{HashMap, HashSet};

use crate::results::{CreateAccountResult, CreateTransferResult};
use crate::types::{
    AMOUNT_MAX, Account, AccountBalance, AccountFlags, Id, PendingStatus, Transfer, TransferFlags, TransferRecord,
};

/// Nanoseconds in a second, for pending timeouts given in seconds.
const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// The rows a batch reads and the changes it makes.
#[derive(Debug, Default)]
pub(crate) struct Working {
    pub accounts: HashMap<Id, Account>,
    pub transfers: HashMap<Id, TransferRecord>,
    /// Accounts created by this batch, in order (and as a set, for lookups).
    pub new_accounts: Vec<Id>,
    new_account_set: HashSet<Id>,
    /// Transfers created by this batch, in order (and as a set).
    pub new_transfers: Vec<Id>,
    new_transfer_set: HashSet<Id>,
    /// Accounts whose balances changed (stored ones only; new accounts are inserted whole).
    pub dirty_accounts: HashSet<Id>,
    /// Stored pending transfers whose state changed.
    pub resolved: HashSet<Id>,
    pub history: Vec<AccountBalance>,
    undo: Vec<Undo>,
}

#[derive(Debug)]
enum Undo {
    Account(Account),
    NewAccount,
    NewTransfer,
    Transfer(TransferRecord),
    Dirty(Id),
    Resolved(Id),
    History,
}

impl Working {
    fn mark(&self) -> usize {
        self.undo.len()
    }

    /// Undo every change since `mark` (a linked chain failed).
    fn rollback(&mut self, mark: usize) {
        while self.undo.len() > mark {
            match self.undo.pop() {
                Some(Undo::Account(before)) => {
                    self.accounts.insert(before.id, before);
                }
                Some(Undo::NewAccount) => {
                    if let Some(id) = self.new_accounts.pop() {
                        self.accounts.remove(&id);
                        self.new_account_set.remove(&id);
                    }
                }
                Some(Undo::NewTransfer) => {
                    if let Some(id) = self.new_transfers.pop() {
                        self.transfers.remove(&id);
                        self.new_transfer_set.remove(&id);
                    }
                }
                Some(Undo::Transfer(before)) => {
                    self.transfers.insert(before.transfer.id, before);
                }
                Some(Undo::Dirty(id)) => {
                    self.dirty_accounts.remove(&id);
                }
                Some(Undo::Resolved(id)) => {
                    self.resolved.remove(&id);
                }
                Some(Undo::History) => {
                    self.history.pop();
                }
                None => break,
            }
        }
    }

    fn set_account(&mut self, account: Account, stored: bool) {
        if let Some(before) = self.accounts.insert(account.id, account) {
            self.undo.push(Undo::Account(before));
            if stored && self.dirty_accounts.insert(account.id) {
                self.undo.push(Undo::Dirty(account.id));
            }
        }
    }

    fn is_new_account(&self, id: Id) -> bool {
        self.new_account_set.contains(&id)
    }

    fn record_history(&mut self, account: &Account, timestamp: u64) {
        if account.flags.contains(AccountFlags::HISTORY) {
            self.history.push(AccountBalance {
                account_id: account.id,
                timestamp,
                debits_pending: account.debits_pending,
                debits_posted: account.debits_posted,
                credits_pending: account.credits_pending,
                credits_posted: account.credits_posted,
            });
            self.undo.push(Undo::History);
        }
    }

    /// Change a stored (or batch-created) pending transfer's state.
    fn set_status(&mut self, id: Id, status: PendingStatus) {
        if let Some(record) = self.transfers.get(&id).copied() {
            self.undo.push(Undo::Transfer(record));
            self.transfers.insert(id, TransferRecord { status, ..record });
            if !self.new_transfer_set.contains(&id) && self.resolved.insert(id) {
                self.undo.push(Undo::Resolved(id));
            }
        }
    }
}

/// Run a batch of events with TigerBeetle's linked-chain rules: a chain (events with the
/// `linked` flag, closed by the first without it) succeeds or fails as one.
fn run_chains<E, R: Copy + PartialEq>(
    working: &mut Working,
    events: &[E],
    linked: impl Fn(&E) -> bool,
    ok: R,
    failed: R,
    chain_open: R,
    mut apply: impl FnMut(&mut Working, usize, &E) -> R,
) -> Vec<R> {
    let mut results = vec![ok; events.len()];
    let mut index = 0;
    while index < events.len() {
        // The chain: from `index` through the first event without the linked flag.
        let mut end = index;
        while end < events.len() && linked(&events[end]) {
            end += 1;
        }
        let open = end == events.len();
        let last = if open { events.len() - 1 } else { end };
        let mark = working.mark();
        let mut failure = None;
        for (position, event) in events.iter().enumerate().take(last + 1).skip(index) {
            if open && position == last {
                failure = Some((position, chain_open));
                break;
            }
            let result = apply(working, position, event);
            if result != ok {
                failure = Some((position, result));
                break;
            }
        }
        if let Some((position, result)) = failure {
            working.rollback(mark);
            for slot in &mut results[index..=last] {
                *slot = failed;
            }
            // A single event (no chain) fails with its own result only.
            results[position] = result;
            if open {
                results[last] = chain_open;
            }
        }
        index = last + 1;
    }
    results
}

pub(crate) fn create_accounts(
    working: &mut Working,
    events: &[Account],
    timestamps: &[u64],
) -> Vec<CreateAccountResult> {
    debug_assert_eq!(events.len(), timestamps.len());
    run_chains(
        working,
        events,
        |a| a.flags.contains(AccountFlags::LINKED),
        CreateAccountResult::Ok,
        CreateAccountResult::LinkedEventFailed,
        CreateAccountResult::LinkedEventChainOpen,
        |working, index, account| create_account(working, account, timestamps[index]),
    )
}

fn create_account(working: &mut Working, a: &Account, timestamp: u64) -> CreateAccountResult {
    use CreateAccountResult as R;
    if a.timestamp != 0 {
        return R::TimestampMustBeZero;
    }
    if a.flags.0 & !AccountFlags::KNOWN != 0 {
        return R::ReservedFlag;
    }
    if a.id == 0 {
        return R::IdMustNotBeZero;
    }
    if a.id == u128::MAX {
        return R::IdMustNotBeIntMax;
    }
    if a.flags.contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
        && a.flags.contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
    {
        return R::FlagsAreMutuallyExclusive;
    }
    if a.debits_pending != 0 {
        return R::DebitsPendingMustBeZero;
    }
    if a.debits_posted != 0 {
        return R::DebitsPostedMustBeZero;
    }
    if a.credits_pending != 0 {
        return R::CreditsPendingMustBeZero;
    }
    if a.credits_posted != 0 {
        return R::CreditsPostedMustBeZero;
    }
    if a.ledger == 0 {
        return R::LedgerMustNotBeZero;
    }
    if a.code == 0 {
        return R::CodeMustNotBeZero;
    }
    if let Some(existing) = working.accounts.get(&a.id) {
        // The linked flag belongs to the batch, not the account.
        let flags = |f: AccountFlags| f.0 & !AccountFlags::LINKED.0;
        return if flags(existing.flags) != flags(a.flags) {
            R::ExistsWithDifferentFlags
        } else if existing.user_data_128 != a.user_data_128 {
            R::ExistsWithDifferentUserData128
        } else if existing.user_data_64 != a.user_data_64 {
            R::ExistsWithDifferentUserData64
        } else if existing.user_data_32 != a.user_data_32 {
            R::ExistsWithDifferentUserData32
        } else if existing.ledger != a.ledger {
            R::ExistsWithDifferentLedger
        } else if existing.code != a.code {
            R::ExistsWithDifferentCode
        } else {
            R::Exists
        };
    }
    let account = Account { timestamp, flags: AccountFlags(a.flags.0 & !AccountFlags::LINKED.0), ..*a };
    working.accounts.insert(account.id, account);
    working.new_accounts.push(account.id);
    working.new_account_set.insert(account.id);
    working.undo.push(Undo::NewAccount);
    R::Ok
}

pub(crate) fn create_transfers(
    working: &mut Working,
    events: &[Transfer],
    timestamps: &[u64],
) -> Vec<CreateTransferResult> {
    debug_assert_eq!(events.len(), timestamps.len());
    run_chains(
        working,
        events,
        |t| t.flags.contains(TransferFlags::LINKED),
        CreateTransferResult::Ok,
        CreateTransferResult::LinkedEventFailed,
        CreateTransferResult::LinkedEventChainOpen,
        |working, index, transfer| create_transfer(working, transfer, timestamps[index]),
    )
}

fn create_transfer(working: &mut Working, t: &Transfer, timestamp: u64) -> CreateTransferResult {
    use CreateTransferResult as R;
    use TransferFlags as F;
    if t.timestamp != 0 {
        return R::TimestampMustBeZero;
    }
    if t.flags.0 & !F::KNOWN != 0 {
        return R::ReservedFlag;
    }
    if t.id == 0 {
        return R::IdMustNotBeZero;
    }
    if t.id == u128::MAX {
        return R::IdMustNotBeIntMax;
    }
    let kinds = [F::PENDING, F::POST_PENDING_TRANSFER, F::VOID_PENDING_TRANSFER]
        .iter()
        .filter(|flag| t.flags.contains(**flag))
        .count();
    let balancing = t.flags.contains(F::BALANCING_DEBIT) || t.flags.contains(F::BALANCING_CREDIT);
    if kinds > 1 || (balancing && t.resolves_pending()) {
        return R::FlagsAreMutuallyExclusive;
    }
    if t.resolves_pending() {
        return resolve_pending(working, t, timestamp);
    }
    if t.debit_account_id == 0 {
        return R::DebitAccountIdMustNotBeZero;
    }
    if t.debit_account_id == u128::MAX {
        return R::DebitAccountIdMustNotBeIntMax;
    }
    if t.credit_account_id == 0 {
        return R::CreditAccountIdMustNotBeZero;
    }
    if t.credit_account_id == u128::MAX {
        return R::CreditAccountIdMustNotBeIntMax;
    }
    if t.debit_account_id == t.credit_account_id {
        return R::AccountsMustBeDifferent;
    }
    if t.pending_id != 0 {
        return R::PendingIdMustBeZero;
    }
    if !t.is_pending() && t.timeout != 0 {
        return R::TimeoutReservedForPendingTransfer;
    }
    if t.amount == 0 {
        return R::AmountMustNotBeZero;
    }
    if t.amount > AMOUNT_MAX {
        return R::AmountMustNotExceedMax;
    }
    if t.ledger == 0 {
        return R::LedgerMustNotBeZero;
    }
    if t.code == 0 {
        return R::CodeMustNotBeZero;
    }
    let Some(debit) = working.accounts.get(&t.debit_account_id).copied() else {
        return R::DebitAccountNotFound;
    };
    let Some(credit) = working.accounts.get(&t.credit_account_id).copied() else {
        return R::CreditAccountNotFound;
    };
    if debit.ledger != credit.ledger {
        return R::AccountsMustHaveTheSameLedger;
    }
    if t.ledger != debit.ledger {
        return R::TransferMustHaveTheSameLedgerAsAccounts;
    }
    if let Some(existing) = working.transfers.get(&t.id) {
        return transfer_exists(t, &existing.transfer);
    }
    if debit.flags.contains(AccountFlags::CLOSED) {
        return R::DebitAccountAlreadyClosed;
    }
    if credit.flags.contains(AccountFlags::CLOSED) {
        return R::CreditAccountAlreadyClosed;
    }
    let mut amount = t.amount;
    if t.flags.contains(F::BALANCING_DEBIT) {
        let debits = debit.debits_pending.saturating_add(debit.debits_posted);
        amount = amount.min(debit.credits_posted.saturating_sub(debits));
    }
    if t.flags.contains(F::BALANCING_CREDIT) {
        let credits = credit.credits_pending.saturating_add(credit.credits_posted);
        amount = amount.min(credit.debits_posted.saturating_sub(credits));
    }
    let pending = t.is_pending();
    let over = |value: u64| value.checked_add(amount).is_none_or(|sum| sum > AMOUNT_MAX);
    if pending && over(debit.debits_pending) {
        return R::OverflowsDebitsPending;
    }
    if pending && over(credit.credits_pending) {
        return R::OverflowsCreditsPending;
    }
    if over(debit.debits_posted) {
        return R::OverflowsDebitsPosted;
    }
    if over(credit.credits_posted) {
        return R::OverflowsCreditsPosted;
    }
    if over(debit.debits_pending.saturating_add(debit.debits_posted)) {
        return R::OverflowsDebits;
    }
    if over(credit.credits_pending.saturating_add(credit.credits_posted)) {
        return R::OverflowsCredits;
    }
    let expires_at = if pending && t.timeout > 0 {
        match (t.timeout as u64)
            .checked_mul(NANOS_PER_SECOND)
            .and_then(|n| timestamp.checked_add(n))
            .filter(|at| *at <= i64::MAX as u64)
        {
            Some(at) => at,
            None => return R::OverflowsTimeout,
        }
    } else {
        0
    };
    if debit.flags.contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
        && debit.debits_pending + debit.debits_posted + amount > debit.credits_posted
    {
        return R::ExceedsCredits;
    }
    if credit.flags.contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
        && credit.credits_pending + credit.credits_posted + amount > credit.debits_posted
    {
        return R::ExceedsDebits;
    }

    let (mut debit, mut credit) = (debit, credit);
    if pending {
        debit.debits_pending += amount;
        credit.credits_pending += amount;
    } else {
        debit.debits_posted += amount;
        credit.credits_posted += amount;
    }
    let stored_debit = !working.is_new_account(debit.id);
    let stored_credit = !working.is_new_account(credit.id);
    working.set_account(debit, stored_debit);
    working.set_account(credit, stored_credit);
    working.record_history(&debit, timestamp);
    working.record_history(&credit, timestamp);
    let transfer = Transfer { amount, timestamp, flags: TransferFlags(t.flags.0 & !F::LINKED.0), ..*t };
    let status = if pending { PendingStatus::Pending } else { PendingStatus::None };
    insert_transfer(working, TransferRecord { transfer, status, expires_at });
    R::Ok
}

fn insert_transfer(working: &mut Working, record: TransferRecord) {
    working.transfers.insert(record.transfer.id, record);
    working.new_transfers.push(record.transfer.id);
    working.new_transfer_set.insert(record.transfer.id);
    working.undo.push(Undo::NewTransfer);
}

/// Compare a resubmitted transfer with the stored one (TigerBeetle's `exists` rules).
fn transfer_exists(t: &Transfer, e: &Transfer) -> CreateTransferResult {
    use CreateTransferResult as R;
    let flags = |f: TransferFlags| f.0 & !TransferFlags::LINKED.0;
    let balancing =
        t.flags.contains(TransferFlags::BALANCING_DEBIT) || t.flags.contains(TransferFlags::BALANCING_CREDIT);
    // A balancing transfer stores the amount it could move; resubmitting the same request
    // (an amount at least that large) is the same transfer.
    let amount_differs = if balancing { t.amount < e.amount } else { t.amount != e.amount };
    if flags(t.flags) != flags(e.flags) {
        R::ExistsWithDifferentFlags
    } else if t.debit_account_id != e.debit_account_id {
        R::ExistsWithDifferentDebitAccountId
    } else if t.credit_account_id != e.credit_account_id {
        R::ExistsWithDifferentCreditAccountId
    } else if amount_differs {
        R::ExistsWithDifferentAmount
    } else if t.pending_id != e.pending_id {
        R::ExistsWithDifferentPendingId
    } else if t.user_data_128 != e.user_data_128 {
        R::ExistsWithDifferentUserData128
    } else if t.user_data_64 != e.user_data_64 {
        R::ExistsWithDifferentUserData64
    } else if t.user_data_32 != e.user_data_32 {
        R::ExistsWithDifferentUserData32
    } else if t.timeout != e.timeout {
        R::ExistsWithDifferentTimeout
    } else if t.ledger != e.ledger {
        R::ExistsWithDifferentLedger
    } else if t.code != e.code {
        R::ExistsWithDifferentCode
    } else {
        R::Exists
    }
}

/// Post (fully or partly) or void a pending transfer.
fn resolve_pending(working: &mut Working, t: &Transfer, timestamp: u64) -> CreateTransferResult {
    use CreateTransferResult as R;
    let post = t.flags.contains(TransferFlags::POST_PENDING_TRANSFER);
    if t.pending_id == 0 {
        return R::PendingIdMustNotBeZero;
    }
    if t.pending_id == u128::MAX {
        return R::PendingIdMustNotBeIntMax;
    }
    if t.pending_id == t.id {
        return R::PendingIdMustBeDifferent;
    }
    if t.timeout != 0 {
        return R::TimeoutReservedForPendingTransfer;
    }
    if t.amount > AMOUNT_MAX {
        return R::AmountMustNotExceedMax;
    }
    let Some(pending) = working.transfers.get(&t.pending_id).copied() else {
        return R::PendingTransferNotFound;
    };
    let p = pending.transfer;
    if !p.is_pending() {
        return R::PendingTransferNotPending;
    }
    if t.debit_account_id != 0 && t.debit_account_id != p.debit_account_id {
        return R::PendingTransferHasDifferentDebitAccountId;
    }
    if t.credit_account_id != 0 && t.credit_account_id != p.credit_account_id {
        return R::PendingTransferHasDifferentCreditAccountId;
    }
    if t.ledger != 0 && t.ledger != p.ledger {
        return R::PendingTransferHasDifferentLedger;
    }
    if t.code != 0 && t.code != p.code {
        return R::PendingTransferHasDifferentCode;
    }
    // Amount 0 means the whole pending amount; a post may take less (the rest is released).
    let amount = if t.amount == 0 { p.amount } else { t.amount };
    if amount > p.amount {
        return R::ExceedsPendingTransferAmount;
    }
    if !post && amount < p.amount {
        return R::PendingTransferHasDifferentAmount;
    }
    // The transfer as it is stored: accounts, ledger and code filled from the pending one.
    let filled = Transfer {
        debit_account_id: p.debit_account_id,
        credit_account_id: p.credit_account_id,
        ledger: p.ledger,
        code: p.code,
        amount,
        user_data_128: if t.user_data_128 != 0 { t.user_data_128 } else { p.user_data_128 },
        user_data_64: if t.user_data_64 != 0 { t.user_data_64 } else { p.user_data_64 },
        user_data_32: if t.user_data_32 != 0 { t.user_data_32 } else { p.user_data_32 },
        ..*t
    };
    if let Some(existing) = working.transfers.get(&t.id) {
        let e = &existing.transfer;
        let flags = |f: TransferFlags| f.0 & !TransferFlags::LINKED.0;
        return if flags(filled.flags) != flags(e.flags) {
            R::ExistsWithDifferentFlags
        } else if filled.amount != e.amount {
            R::ExistsWithDifferentAmount
        } else if filled.pending_id != e.pending_id {
            R::ExistsWithDifferentPendingId
        } else {
            transfer_exists(&filled, e)
        };
    }
    match pending.status {
        PendingStatus::Posted => return R::PendingTransferAlreadyPosted,
        PendingStatus::Voided => return R::PendingTransferAlreadyVoided,
        PendingStatus::Expired => return R::PendingTransferExpired,
        PendingStatus::Pending | PendingStatus::None => {}
    }
    let (Some(mut debit), Some(mut credit)) =
        (working.accounts.get(&p.debit_account_id).copied(), working.accounts.get(&p.credit_account_id).copied())
    else {
        // The pending transfer's accounts exist (it was created against them); the batch loader
        // reads them. Reaching here means the store lost an account.
        return R::DebitAccountNotFound;
    };
    if pending.expires_at != 0 && pending.expires_at <= timestamp {
        // Expired but not yet swept: refuse the post or void. The hold itself is released by
        // the next `expire_pending` sweep (this event fails, so nothing it did is kept).
        return R::PendingTransferExpired;
    }
    debug_assert!(debit.debits_pending >= p.amount && credit.credits_pending >= p.amount);
    debit.debits_pending -= p.amount;
    credit.credits_pending -= p.amount;
    if post {
        debit.debits_posted += amount;
        credit.credits_posted += amount;
    }
    let stored_debit = !working.is_new_account(debit.id);
    let stored_credit = !working.is_new_account(credit.id);
    working.set_account(debit, stored_debit);
    working.set_account(credit, stored_credit);
    working.record_history(&debit, timestamp);
    working.record_history(&credit, timestamp);
    working.set_status(p.id, if post { PendingStatus::Posted } else { PendingStatus::Voided });
    let transfer = Transfer { timestamp, flags: TransferFlags(t.flags.0 & !TransferFlags::LINKED.0), ..filled };
    insert_transfer(working, TransferRecord { transfer, status: PendingStatus::None, expires_at: 0 });
    R::Ok
}

/// Release a pending transfer whose timeout has passed.
pub(crate) fn expire(working: &mut Working, pending: &TransferRecord, timestamp: u64) -> bool {
    let p = pending.transfer;
    let (Some(mut debit), Some(mut credit)) =
        (working.accounts.get(&p.debit_account_id).copied(), working.accounts.get(&p.credit_account_id).copied())
    else {
        return false;
    };
    debug_assert_eq!(pending.status, PendingStatus::Pending);
    debit.debits_pending -= p.amount;
    credit.credits_pending -= p.amount;
    let stored_debit = !working.is_new_account(debit.id);
    let stored_credit = !working.is_new_account(credit.id);
    working.set_account(debit, stored_debit);
    working.set_account(credit, stored_credit);
    working.record_history(&debit, timestamp);
    working.record_history(&credit, timestamp);
    working.set_status(p.id, PendingStatus::Expired);
    true
}

/// Forget the undo log once a batch is decided.
pub(crate) fn seal(working: &mut Working) {
    working.undo.clear();
}
