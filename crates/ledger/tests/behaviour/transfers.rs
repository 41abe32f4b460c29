//! create_transfers: validation of single-phase and pending transfers, overflow, closed
//! accounts, batch limits.

use ledger::{
    AMOUNT_MAX, Account, AccountFlags, BATCH_EVENTS_MAX, CreateAccountResult, CreateTransferResult as R, LedgerError,
    Transfer, TransferFlags as F,
};

use crate::fixture::{Bal, CODE, Flagged, L, L2, SECOND, acct, bal, pending, post, void, xfer};
use crate::{Backend, Fix};

/// Each invalid field gets its own code; nothing is stored or moved; a failed id stays free.
pub fn transfer_validation<B: Backend>(f: &mut Fix<B>) {
    f.ok_accounts(&[acct(1), acct(2), Account::new(3, L2, CODE), Account::new(4, L2, CODE)]);
    let cases: Vec<(Transfer, R)> = vec![
        (Transfer { timestamp: 1, ..xfer(10, 1, 2, 5) }, R::TimestampMustBeZero),
        // Bits 6 and 7 are TigerBeetle's closing_debit/closing_credit, not offered here.
        (xfer(11, 1, 2, 5).with_flags(F(1 << 6)), R::ReservedFlag),
        (xfer(12, 1, 2, 5).with_flags(F(1 << 7)), R::ReservedFlag),
        (xfer(0, 1, 2, 5), R::IdMustNotBeZero),
        (xfer(u128::MAX, 1, 2, 5), R::IdMustNotBeIntMax),
        (xfer(13, 1, 2, 5).flag(F::PENDING).flag(F::POST_PENDING_TRANSFER), R::FlagsAreMutuallyExclusive),
        (xfer(14, 1, 2, 5).flag(F::PENDING).flag(F::VOID_PENDING_TRANSFER), R::FlagsAreMutuallyExclusive),
        (post(15, 900, 0).flag(F::VOID_PENDING_TRANSFER), R::FlagsAreMutuallyExclusive),
        (post(16, 900, 0).flag(F::BALANCING_DEBIT), R::FlagsAreMutuallyExclusive),
        (void(17, 900).flag(F::BALANCING_CREDIT), R::FlagsAreMutuallyExclusive),
        (xfer(18, 0, 2, 5), R::DebitAccountIdMustNotBeZero),
        (xfer(19, u128::MAX, 2, 5), R::DebitAccountIdMustNotBeIntMax),
        (xfer(20, 1, 0, 5), R::CreditAccountIdMustNotBeZero),
        (xfer(21, 1, u128::MAX, 5), R::CreditAccountIdMustNotBeIntMax),
        (xfer(22, 1, 1, 5), R::AccountsMustBeDifferent),
        (Transfer { pending_id: 900, ..xfer(23, 1, 2, 5) }, R::PendingIdMustBeZero),
        (Transfer { timeout: 5, ..xfer(24, 1, 2, 5) }, R::TimeoutReservedForPendingTransfer),
        (xfer(25, 1, 2, 0), R::AmountMustNotBeZero),
        (pending(26, 1, 2, 0, 0), R::AmountMustNotBeZero),
        (xfer(27, 1, 2, AMOUNT_MAX + 1), R::AmountMustNotExceedMax),
        (xfer(28, 1, 2, u64::MAX), R::AmountMustNotExceedMax),
        (Transfer::new(29, 1, 2, 5, 0, CODE), R::LedgerMustNotBeZero),
        (Transfer::new(30, 1, 2, 5, L, 0), R::CodeMustNotBeZero),
        (xfer(31, 99, 2, 5), R::DebitAccountNotFound),
        (xfer(32, 1, 99, 5), R::CreditAccountNotFound),
        (xfer(33, 98, 99, 5), R::DebitAccountNotFound),
        (xfer(34, 1, 3, 5), R::AccountsMustHaveTheSameLedger),
        (Transfer::new(35, 1, 2, 5, L2, CODE), R::TransferMustHaveTheSameLedgerAsAccounts),
        (Transfer::new(36, 3, 4, 5, L, CODE), R::TransferMustHaveTheSameLedgerAsAccounts),
        // Valid: on the second ledger, and on the first.
        (Transfer::new(37, 3, 4, 5, L2, CODE), R::Ok),
        (xfer(38, 1, 2, 7), R::Ok),
    ];
    let ids: Vec<u128> = cases.iter().map(|(t, _)| t.id).collect();
    let (events, expected): (Vec<Transfer>, Vec<R>) = cases.into_iter().unzip();
    assert_eq!(f.transfers(&events), expected);
    f.assert_no_transfers(&ids[..ids.len() - 2]);
    f.assert_bals(&[(1, bal(0, 7, 0, 0)), (2, bal(0, 0, 0, 7)), (3, bal(0, 5, 0, 0)), (4, bal(0, 0, 0, 5))]);
    let stored = f.get_transfer(38);
    assert_eq!(stored.transfer, Transfer { timestamp: stored.transfer.timestamp, ..xfer(38, 1, 2, 7) });
    // The id of a failed transfer can be used.
    assert_eq!(f.transfer(xfer(25, 1, 2, 3)), R::Ok);
    f.assert_bals(&[(1, bal(0, 10, 0, 0)), (2, bal(0, 0, 0, 10))]);
}

/// Several faults at once: the first check in TigerBeetle's order decides.
pub fn transfer_validation_precedence<B: Backend>(f: &mut Fix<B>) {
    f.ok_accounts(&[acct(1), acct(2), Account::new(3, L2, CODE)]);
    let nothing = Transfer::new(40, 0, 0, 0, 0, 0);
    let cases = [
        (Transfer { timestamp: 1, id: 0, ..nothing.with_flags(F(1 << 6)) }, R::TimestampMustBeZero),
        (Transfer { id: 0, ..nothing.with_flags(F(1 << 6)) }, R::ReservedFlag),
        (Transfer { id: 0, ..nothing.flag(F::PENDING).flag(F::VOID_PENDING_TRANSFER) }, R::IdMustNotBeZero),
        (nothing.flag(F::PENDING).flag(F::VOID_PENDING_TRANSFER), R::FlagsAreMutuallyExclusive),
        (nothing, R::DebitAccountIdMustNotBeZero),
        (Transfer { debit_account_id: 1, ..nothing }, R::CreditAccountIdMustNotBeZero),
        (Transfer { debit_account_id: 1, credit_account_id: 1, timeout: 1, ..nothing }, R::AccountsMustBeDifferent),
        (Transfer { pending_id: 7, timeout: 1, ..xfer(41, 1, 2, 0) }, R::PendingIdMustBeZero),
        (Transfer { timeout: 1, ..Transfer::new(42, 1, 2, 0, 0, 0) }, R::TimeoutReservedForPendingTransfer),
        (Transfer::new(43, 1, 2, 0, 0, 0), R::AmountMustNotBeZero),
        (Transfer::new(44, 1, 2, AMOUNT_MAX + 1, 0, 0), R::AmountMustNotExceedMax),
        (Transfer::new(45, 98, 99, 5, 0, 0), R::LedgerMustNotBeZero),
        (Transfer::new(46, 98, 99, 5, L, 0), R::CodeMustNotBeZero),
        (Transfer::new(47, 1, 3, 5, L2, CODE), R::AccountsMustHaveTheSameLedger),
        // A post or void is validated as one: its own accounts may be zero.
        (Transfer { debit_account_id: 1, credit_account_id: 1, ..post(48, 0, 0) }, R::PendingIdMustNotBeZero),
    ];
    let (events, expected): (Vec<Transfer>, Vec<R>) = cases.into_iter().unzip();
    assert_eq!(f.transfers(&events), expected);
    f.assert_bals(&[(1, Bal::default()), (2, Bal::default()), (3, Bal::default())]);
}

/// Balances are bounded by AMOUNT_MAX (i64::MAX, what an SQL BIGINT holds): each `overflows_*`
/// code, in TigerBeetle's order (pending, posted, then pending + posted).
pub fn overflows<B: Backend>(f: &mut Fix<B>) {
    let accounts: Vec<Account> = (1..=8).map(acct).collect();
    f.ok_accounts(&accounts);
    const MAX: u64 = AMOUNT_MAX;

    // The largest amount is accepted.
    assert_eq!(f.transfer(pending(10, 1, 2, MAX, 0)), R::Ok);
    f.assert_bals(&[(1, bal(MAX, 0, 0, 0)), (2, bal(0, 0, MAX, 0))]);
    assert_eq!(f.transfer(pending(11, 1, 3, 1, 0)), R::OverflowsDebitsPending);
    assert_eq!(f.transfer(pending(12, 4, 2, 1, 0)), R::OverflowsCreditsPending);
    // Posted amounts count against pending + posted.
    assert_eq!(f.transfer(xfer(13, 1, 3, 1)), R::OverflowsDebits);
    assert_eq!(f.transfer(xfer(14, 4, 2, 1)), R::OverflowsCredits);
    assert_eq!(f.transfer(void(15, 10)), R::Ok);
    f.assert_bals(&[(1, Bal::default()), (2, Bal::default())]);

    assert_eq!(f.transfer(xfer(16, 5, 6, MAX)), R::Ok);
    assert_eq!(f.transfer(xfer(17, 5, 7, 1)), R::OverflowsDebitsPosted);
    assert_eq!(f.transfer(xfer(18, 8, 6, 1)), R::OverflowsCreditsPosted);
    // Up to the bound is fine; a pending amount counts against pending + posted.
    assert_eq!(f.transfer(xfer(20, 1, 2, MAX - 1)), R::Ok);
    assert_eq!(f.transfer(pending(21, 1, 2, 1, 0)), R::Ok);
    assert_eq!(f.transfer(pending(22, 1, 2, 1, 0)), R::OverflowsDebits);
    assert_eq!(f.transfer(post(23, 21, 0)), R::Ok);
    f.assert_bals(&[
        (1, bal(0, MAX, 0, 0)),
        (2, bal(0, 0, 0, MAX)),
        (5, bal(0, MAX, 0, 0)),
        (6, bal(0, 0, 0, MAX)),
        (7, Bal::default()),
        (8, Bal::default()),
    ]);
    f.assert_no_transfers(&[11, 12, 13, 14, 17, 18, 22]);
}

/// TigerBeetle checks `overflows_debits_posted` / `overflows_credits_posted` for pending
/// transfers as well (posting them later must not overflow): state_machine.zig create_transfer
/// checks `sum_overflows(amount, dr_account.debits_posted)` outside the `if (t.flags.pending)`.
pub fn overflow_posted_checked_for_pending<B: Backend>(f: &mut Fix<B>) {
    f.ok_accounts(&[acct(1), acct(2), acct(3), acct(4)]);
    f.ok_transfers(&[xfer(10, 1, 2, AMOUNT_MAX)]);
    assert_eq!(f.transfer(pending(11, 1, 3, 1, 0)), R::OverflowsDebitsPosted);
    assert_eq!(f.transfer(pending(12, 4, 2, 1, 0)), R::OverflowsCreditsPosted);
}

/// A pending transfer's expiry (timestamp + timeout) must be representable.
pub fn overflows_timeout<B: Backend>(f: &mut Fix<B>) {
    f.ok_accounts(&[acct(1), acct(2)]);
    f.clock.set_ns(u64::MAX - SECOND);
    assert_eq!(f.transfer(pending(10, 1, 2, 5, 2)), R::OverflowsTimeout);
    assert_eq!(f.transfer(pending(11, 1, 2, 5, u32::MAX)), R::OverflowsTimeout);
    f.assert_no_transfers(&[10, 11]);
    f.assert_bals(&[(1, Bal::default()), (2, Bal::default())]);
}

/// TigerBeetle bounds expiry to u63 (`sum_overflows(u63, timestamp, timeout * ns_per_s)`), which
/// is also what a BIGINT `expires_at` column holds: an expiry past i64::MAX is
/// `overflows_timeout`, not a stored pending transfer.
pub fn timeout_must_fit_sql_timestamps<B: Backend>(f: &mut Fix<B>) {
    f.ok_accounts(&[acct(1), acct(2)]);
    f.clock.set_ns(i64::MAX as u64 - SECOND);
    assert_eq!(f.transfer(pending(10, 1, 2, 5, 2)), R::OverflowsTimeout);
    f.assert_no_transfers(&[10]);
}

/// Transfers touching a closed account fail; the ledger checks come first.
pub fn closed_accounts<B: Backend>(f: &mut Fix<B>) {
    f.ok_accounts(&[
        acct(1),
        acct(2),
        acct(3).with_flags(AccountFlags::CLOSED),
        acct(4).with_flags(AccountFlags::CLOSED),
        Account::new(5, L2, CODE).with_flags(AccountFlags::CLOSED),
    ]);
    assert!(f.get_account(3).flags.contains(AccountFlags::CLOSED));
    assert_eq!(
        f.transfers(&[
            xfer(10, 3, 1, 5),
            xfer(11, 1, 3, 5),
            xfer(12, 3, 4, 5),
            pending(13, 1, 4, 5, 0),
            xfer(14, 1, 5, 5),
            xfer(15, 4, 3, 5),
            xfer(16, 1, 3, 5).flag(F::BALANCING_DEBIT),
        ]),
        vec![
            R::DebitAccountAlreadyClosed,
            R::CreditAccountAlreadyClosed,
            R::DebitAccountAlreadyClosed,
            R::CreditAccountAlreadyClosed,
            R::AccountsMustHaveTheSameLedger,
            R::DebitAccountAlreadyClosed,
            // Before balancing clamps the amount.
            R::CreditAccountAlreadyClosed,
        ]
    );
    f.assert_no_transfers(&[10, 11, 12, 13, 14, 15, 16]);
    f.assert_bals(&[(1, Bal::default()), (3, Bal::default()), (4, Bal::default())]);
}

/// At most BATCH_EVENTS_MAX events per call (the whole call is refused, nothing applied);
/// exactly that many are accepted; an empty batch answers nothing.
pub fn batch_limits<B: Backend>(f: &mut Fix<B>) {
    let too_many: Vec<Account> = (1..=BATCH_EVENTS_MAX as u128 + 1).map(acct).collect();
    assert_eq!(f.try_accounts(&too_many), Err(LedgerError::BatchTooLarge { events: BATCH_EVENTS_MAX + 1 }));
    f.assert_no_accounts(&[1, BATCH_EVENTS_MAX as u128 + 1]);

    let accounts: Vec<Account> = (1..=BATCH_EVENTS_MAX as u128).map(acct).collect();
    assert_eq!(f.accounts(&accounts), vec![CreateAccountResult::Ok; BATCH_EVENTS_MAX]);

    let too_many: Vec<Transfer> = (1..=BATCH_EVENTS_MAX as u128 + 1).map(|id| xfer(id, 1, 2, 1)).collect();
    assert_eq!(f.try_transfers(&too_many), Err(LedgerError::BatchTooLarge { events: BATCH_EVENTS_MAX + 1 }));
    f.assert_no_transfers(&[1, BATCH_EVENTS_MAX as u128 + 1]);
    f.assert_bals(&[(1, Bal::default()), (2, Bal::default())]);

    // A full batch: a ring of transfers, account i pays account i + 1.
    let n = BATCH_EVENTS_MAX as u128;
    let ring: Vec<Transfer> = (1..=n).map(|id| xfer(id, id, id % n + 1, 3)).collect();
    f.ok_transfers(&ring);
    f.assert_bals(&[(1, bal(0, 3, 0, 3)), (n, bal(0, 3, 0, 3))]);

    assert_eq!(f.try_accounts(&[]), Ok(vec![]));
    assert_eq!(f.try_transfers(&[]), Ok(vec![]));
}
