//! Idempotent resubmission: an event's id is its idempotency key. The same content again is
//! `exists` and is applied once; different content is `exists_with_different_*` (the first field
//! that differs, in TigerBeetle's order).

use ledger::{AccountFlags, CreateTransferResult as R, PendingStatus, Transfer, TransferFlags as F};

use crate::fixture::{Bal, Flagged, L, L2, acct, bal, pending, post, void, xfer};
use crate::{Backend, Fix};

fn setup<B: Backend>(f: &mut Fix<B>) -> (Transfer, Transfer) {
    f.ok_accounts(&[acct(1), acct(2), acct(3), acct(5).with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)]);
    let t = Transfer { user_data_128: 1, user_data_64: 2, user_data_32: 3, code: 5, ..xfer(100, 1, 2, 40) };
    let p = Transfer { user_data_128: 4, ..pending(101, 1, 2, 30, 60) };
    f.ok_transfers(&[t, p]);
    (t, p)
}

pub fn resubmission<B: Backend>(f: &mut Fix<B>) {
    let (t, p) = setup(f);
    let before = (f.bal(1), f.bal(2));
    assert_eq!(before, (bal(30, 40, 0, 0), bal(0, 0, 30, 40)));
    let stored = (f.get_transfer(100), f.get_transfer(101));

    // Identical: exists, applied once (also twice in one batch).
    assert_eq!(f.transfers(&[t, p, t]), vec![R::Exists, R::Exists, R::Exists]);
    assert_eq!((f.bal(1), f.bal(2)), before);
    // In a chain `exists` is a failure: the chain fails.
    assert_eq!(f.transfers(&[t.linked(), xfer(102, 1, 2, 1)]), vec![R::Exists, R::LinkedEventFailed]);
    f.assert_no_transfers(&[102]);

    let cases = [
        (t.flag(F::PENDING), R::ExistsWithDifferentFlags),
        (Transfer { debit_account_id: 3, ..t }, R::ExistsWithDifferentDebitAccountId),
        (Transfer { credit_account_id: 3, ..t }, R::ExistsWithDifferentCreditAccountId),
        (Transfer { amount: 41, ..t }, R::ExistsWithDifferentAmount),
        (Transfer { amount: 39, ..t }, R::ExistsWithDifferentAmount),
        (Transfer { user_data_128: 9, ..t }, R::ExistsWithDifferentUserData128),
        (Transfer { user_data_64: 9, ..t }, R::ExistsWithDifferentUserData64),
        (Transfer { user_data_32: 9, ..t }, R::ExistsWithDifferentUserData32),
        (Transfer { timeout: 61, ..p }, R::ExistsWithDifferentTimeout),
        (Transfer { timeout: 0, ..p }, R::ExistsWithDifferentTimeout),
        (Transfer { code: 6, ..t }, R::ExistsWithDifferentCode),
        // Several differences: flags, accounts, amount, user data, timeout, code.
        (Transfer { debit_account_id: 3, amount: 1, code: 6, ..t.flag(F::PENDING) }, R::ExistsWithDifferentFlags),
        (Transfer { credit_account_id: 3, amount: 1, code: 6, ..t }, R::ExistsWithDifferentCreditAccountId),
        (Transfer { amount: 1, user_data_128: 0, code: 6, ..t }, R::ExistsWithDifferentAmount),
        (Transfer { user_data_32: 9, timeout: 1, code: 6, ..p }, R::ExistsWithDifferentUserData32),
        (Transfer { timeout: 1, code: 6, ..p }, R::ExistsWithDifferentTimeout),
        // Validation comes first: a different ledger fails against the accounts.
        (Transfer { ledger: L2, ..t }, R::TransferMustHaveTheSameLedgerAsAccounts),
        (Transfer { debit_account_id: 99, ..t }, R::DebitAccountNotFound),
        (Transfer { timeout: 1, ..t }, R::TimeoutReservedForPendingTransfer),
    ];
    let (events, expected): (Vec<Transfer>, Vec<R>) = cases.into_iter().unzip();
    assert_eq!(f.transfers(&events), expected);
    assert_eq!((f.bal(1), f.bal(2), f.bal(3)), (before.0, before.1, Bal::default()));
    assert_eq!((f.get_transfer(100), f.get_transfer(101)), stored);

    // `exists` comes before the limit checks: resubmitting a transfer that emptied an account
    // with a limit is `exists`, not `exceeds_credits`.
    f.ok_transfers(&[xfer(110, 2, 5, 50)]);
    let spend = xfer(111, 5, 3, 50);
    f.ok_transfers(&[spend]);
    assert_eq!(f.transfers(&[spend, spend]), vec![R::Exists, R::Exists]);
    f.assert_bals(&[(5, bal(0, 50, 0, 50)), (3, bal(0, 0, 0, 50))]);
}

/// Resubmitting posts and voids: compared with the pending transfer's fields filled in;
/// `exists` comes before the pending transfer's state (a resubmitted post is `exists`, not
/// `pending_transfer_already_posted`).
pub fn resubmission_of_resolutions<B: Backend>(f: &mut Fix<B>) {
    f.ok_accounts(&[acct(1), acct(2), acct(3)]);
    f.ok_transfers(&[pending(10, 1, 2, 20, 0), pending(11, 1, 2, 20, 0), pending(12, 1, 2, 20, 0)]);
    f.ok_transfers(&[post(20, 10, 0), void(21, 11), post(22, 12, 15)]);
    let after = (f.bal(1), f.bal(2));
    assert_eq!(after, (bal(0, 35, 0, 0), bal(0, 0, 0, 35)));

    let cases = [
        (post(20, 10, 0), R::Exists),
        (post(20, 10, 20), R::Exists),
        (Transfer { debit_account_id: 1, credit_account_id: 2, ledger: L, ..post(20, 10, 0) }, R::Exists),
        (void(21, 11), R::Exists),
        (Transfer { amount: 20, ..void(21, 11) }, R::Exists),
        (post(22, 12, 15), R::Exists),
        (post(20, 10, 15), R::ExistsWithDifferentAmount),
        (post(22, 12, 0), R::ExistsWithDifferentAmount),
        (void(20, 10), R::ExistsWithDifferentFlags),
        (post(21, 11, 0), R::ExistsWithDifferentFlags),
        // 20 posted 10; 11 has the same accounts and amount.
        (post(20, 11, 0), R::ExistsWithDifferentPendingId),
        (Transfer { user_data_128: 1, ..post(20, 10, 0) }, R::ExistsWithDifferentUserData128),
        (Transfer { user_data_64: 1, ..post(20, 10, 0) }, R::ExistsWithDifferentUserData64),
        (Transfer { user_data_32: 1, ..void(21, 11) }, R::ExistsWithDifferentUserData32),
        // The id of a pending transfer: its flags differ.
        (post(10, 11, 0), R::ExistsWithDifferentFlags),
        // The pending transfer's checks come first.
        (Transfer { debit_account_id: 3, ..post(20, 10, 0) }, R::PendingTransferHasDifferentDebitAccountId),
        (post(20, 10, 21), R::ExceedsPendingTransferAmount),
        // A new id is checked against the pending transfer's state.
        (post(23, 10, 0), R::PendingTransferAlreadyPosted),
        (void(24, 11), R::PendingTransferAlreadyVoided),
    ];
    let (events, expected): (Vec<Transfer>, Vec<R>) = cases.into_iter().unzip();
    assert_eq!(f.transfers(&events), expected);
    assert_eq!((f.bal(1), f.bal(2)), after);
    for (id, status) in [(10, PendingStatus::Posted), (11, PendingStatus::Voided), (12, PendingStatus::Posted)] {
        assert_eq!(f.get_transfer(id).status, status);
    }
}

/// What was committed survives a restart: lookups, resubmission (`exists`, nothing applied
/// twice), pending transfers (still resolvable, still expiring) and timestamps (continuing
/// after the stored ones even if the clock went back).
pub fn resubmission_after_reopen<B: Backend>(f: &mut Fix<B>) {
    let (t, p) = setup(f);
    f.ok_transfers(&[pending(102, 1, 3, 5, 0), pending(103, 1, 3, 7, 0), void(104, 103)]);
    let accounts = [f.get_account(1), f.get_account(2), f.get_account(3)];
    let transfers = [f.get_transfer(100), f.get_transfer(101), f.get_transfer(102), f.get_transfer(104)];
    let last = transfers.iter().map(|r| r.transfer.timestamp).max().unwrap_or_default();

    f.clock.set_ns(1);
    f.reopen();
    assert_eq!([f.get_account(1), f.get_account(2), f.get_account(3)], accounts);
    assert_eq!([f.get_transfer(100), f.get_transfer(101), f.get_transfer(102), f.get_transfer(104)], transfers);
    assert_eq!(f.transfers(&[t, p, void(104, 103)]), vec![R::Exists, R::Exists, R::Exists]);
    assert_eq!(f.transfer(void(105, 103)), R::PendingTransferAlreadyVoided);
    assert_eq!([f.get_account(1), f.get_account(2), f.get_account(3)], accounts);

    // New events are stamped after everything stored.
    assert_eq!(f.transfer(post(106, 102, 0)), R::Ok);
    assert!(f.get_transfer(106).transfer.timestamp > last);
    f.assert_bals(&[(1, bal(30, 45, 0, 0)), (3, bal(0, 0, 0, 5))]);

    // The pending transfer with a timeout still expires, measured from its own timestamp.
    let expires_at = f.get_transfer(101).expires_at;
    f.clock.set_ns(expires_at - 1);
    assert_eq!(f.expire(), 0);
    f.clock.set_ns(expires_at);
    assert_eq!(f.expire(), 1);
    f.assert_bals(&[(1, bal(0, 45, 0, 0)), (2, bal(0, 0, 0, 40))]);
    f.reopen();
    assert_eq!(f.get_transfer(101).status, PendingStatus::Expired);
    assert_eq!(f.transfer(post(107, 101, 0)), R::PendingTransferExpired);
}

/// Resubmitting a post's id as the post of another pending transfer on other accounts:
/// TigerBeetle compares flags, amount, then pending_id (post_or_void_pending_transfer_exists), so
/// the answer is `exists_with_different_pending_id`, not a difference of accounts (which only
/// follows from resolving another pending transfer).
pub fn resubmission_naming_another_pending<B: Backend>(f: &mut Fix<B>) {
    f.ok_accounts(&[acct(1), acct(2), acct(3)]);
    f.ok_transfers(&[pending(10, 1, 2, 20, 0), pending(11, 3, 2, 20, 0), post(20, 10, 0)]);
    assert_eq!(f.transfer(post(20, 11, 0)), R::ExistsWithDifferentPendingId);
    assert_eq!(f.get_transfer(11).status, PendingStatus::Pending);
}
