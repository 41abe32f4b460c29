//! Two-phase transfers: reserve, post (full or partial, the rest released), void, expiry.

use ledger::{
    AMOUNT_MAX, Account, AccountFlags, CreateTransferResult as R, PendingStatus, Transfer, TransferFlags as F,
};

use crate::fixture::{Bal, CODE, L, L2, SECOND, acct, bal, pending, post, void, xfer};
use crate::{Backend, Fix};

/// Cardholder 1 (may not go below zero), bank 2, funded with 1,000.
fn funded<B: Backend>(f: &mut Fix<B>) {
    f.ok_accounts(&[acct(1).with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS), acct(2), acct(3)]);
    f.ok_transfers(&[xfer(5, 2, 1, 1_000)]);
}

pub fn post_and_void<B: Backend>(f: &mut Fix<B>) {
    funded(f);
    // Reserve 300, post all of it (amount 0 = the pending amount).
    assert_eq!(f.transfer(pending(10, 1, 2, 300, 0)), R::Ok);
    f.assert_bals(&[(1, bal(300, 0, 0, 1_000)), (2, bal(0, 1_000, 300, 0))]);
    assert_eq!(f.get_transfer(10).status, PendingStatus::Pending);
    assert_eq!(f.transfer(post(11, 10, 0)), R::Ok);
    f.assert_bals(&[(1, bal(0, 300, 0, 1_000)), (2, bal(0, 1_000, 0, 300))]);
    assert_eq!(f.get_transfer(10).status, PendingStatus::Posted);
    // The post is stored with the pending transfer's accounts, ledger, code and amount.
    let stored = f.get_transfer(11);
    assert_eq!(stored.status, PendingStatus::None);
    assert_eq!(stored.expires_at, 0);
    assert_eq!(
        stored.transfer,
        Transfer {
            pending_id: 10,
            timestamp: stored.transfer.timestamp,
            ..xfer(11, 1, 2, 300).with_flags(F::POST_PENDING_TRANSFER)
        }
    );
    assert!(stored.transfer.timestamp > f.get_transfer(10).transfer.timestamp);

    // Partial post: 150 of 200; the remaining 50 is released.
    f.ok_transfers(&[pending(12, 1, 2, 200, 0)]);
    f.assert_bals(&[(1, bal(200, 300, 0, 1_000))]);
    assert_eq!(f.transfer(post(13, 12, 150)), R::Ok);
    f.assert_bals(&[(1, bal(0, 450, 0, 1_000)), (2, bal(0, 1_000, 0, 450))]);
    assert_eq!(f.get_transfer(13).transfer.amount, 150);
    assert_eq!(f.get_transfer(12).status, PendingStatus::Posted);
    // Posting exactly the pending amount, with the optional fields given and matching.
    f.ok_transfers(&[pending(14, 1, 2, 40, 0)]);
    assert_eq!(
        f.transfer(Transfer { debit_account_id: 1, credit_account_id: 2, ledger: L, code: CODE, ..post(15, 14, 40) }),
        R::Ok
    );
    f.assert_bals(&[(1, bal(0, 490, 0, 1_000))]);

    // Void: everything released, the void stored with the pending amount.
    f.ok_transfers(&[pending(16, 1, 2, 100, 0)]);
    assert_eq!(f.transfer(void(17, 16)), R::Ok);
    f.assert_bals(&[(1, bal(0, 490, 0, 1_000)), (2, bal(0, 1_000, 0, 490))]);
    assert_eq!(f.get_transfer(16).status, PendingStatus::Voided);
    let stored = f.get_transfer(17).transfer;
    assert_eq!((stored.debit_account_id, stored.credit_account_id, stored.amount, stored.ledger), (1, 2, 100, L));
    // A void may name the full amount.
    f.ok_transfers(&[pending(18, 1, 2, 100, 0), Transfer { amount: 100, ..void(19, 18) }]);
    assert_eq!(f.get_transfer(18).status, PendingStatus::Voided);

    // Reserve and post in one batch; two pendings on the same accounts resolved independently.
    f.ok_transfers(&[pending(20, 1, 2, 10, 0), pending(21, 1, 2, 20, 0), post(22, 20, 5), void(23, 21)]);
    f.assert_bals(&[(1, bal(0, 495, 0, 1_000)), (2, bal(0, 1_000, 0, 495))]);

    // A pending transfer resolves once.
    f.ok_transfers(&[pending(30, 1, 2, 10, 0), pending(31, 1, 2, 10, 0)]);
    assert_eq!(
        f.transfers(&[post(32, 30, 0), post(33, 30, 0), void(34, 30)]),
        vec![R::Ok, R::PendingTransferAlreadyPosted, R::PendingTransferAlreadyPosted]
    );
    assert_eq!(
        f.transfers(&[void(35, 31), void(36, 31), post(37, 31, 1)]),
        vec![R::Ok, R::PendingTransferAlreadyVoided, R::PendingTransferAlreadyVoided]
    );
    f.assert_no_transfers(&[33, 34, 36, 37]);
    f.assert_bals(&[(1, bal(0, 505, 0, 1_000)), (2, bal(0, 1_000, 0, 505))]);

    // The limit flag is checked when reserving, not when posting.
    f.ok_transfers(&[pending(40, 1, 2, 495, 0)]);
    assert_eq!(f.transfer(xfer(41, 1, 2, 1)), R::ExceedsCredits);
    assert_eq!(f.transfer(post(42, 40, 0)), R::Ok);
    f.assert_bals(&[(1, bal(0, 1_000, 0, 1_000)), (2, bal(0, 1_000, 0, 1_000))]);
}

/// Every result a post or void can fail with, in TigerBeetle's order.
pub fn resolve_validation<B: Backend>(f: &mut Fix<B>) {
    funded(f);
    f.ok_accounts(&[Account::new(4, L2, CODE)]);
    f.ok_transfers(&[Transfer { code: 7, ..pending(900, 1, 2, 100, 0) }, xfer(901, 1, 2, 10)]);
    let p = 900;
    let cases: Vec<(Transfer, R)> = vec![
        (post(50, 0, 0), R::PendingIdMustNotBeZero),
        (void(51, u128::MAX), R::PendingIdMustNotBeIntMax),
        (post(52, 52, 0), R::PendingIdMustBeDifferent),
        (Transfer { timeout: 1, ..post(53, p, 0) }, R::TimeoutReservedForPendingTransfer),
        (post(54, p, AMOUNT_MAX + 1), R::AmountMustNotExceedMax),
        (post(55, 999, 0), R::PendingTransferNotFound),
        (void(56, 901), R::PendingTransferNotPending),
        (Transfer { debit_account_id: 3, ..post(57, p, 0) }, R::PendingTransferHasDifferentDebitAccountId),
        (Transfer { credit_account_id: 3, ..void(58, p) }, R::PendingTransferHasDifferentCreditAccountId),
        (Transfer { ledger: L2, ..post(59, p, 0) }, R::PendingTransferHasDifferentLedger),
        (Transfer { code: CODE, ..post(60, p, 0) }, R::PendingTransferHasDifferentCode),
        (post(61, p, 101), R::ExceedsPendingTransferAmount),
        (Transfer { amount: 99, ..void(62, p) }, R::PendingTransferHasDifferentAmount),
        // Several faults: the account checks come before the amount.
        (Transfer { debit_account_id: 3, code: 1, ..post(63, p, 101) }, R::PendingTransferHasDifferentDebitAccountId),
        (Transfer { ledger: L2, code: 1, ..post(64, p, 101) }, R::PendingTransferHasDifferentLedger),
    ];
    let ids: Vec<u128> = cases.iter().map(|(t, _)| t.id).collect();
    let (events, expected): (Vec<Transfer>, Vec<R>) = cases.into_iter().unzip();
    assert_eq!(f.transfers(&events), expected);
    f.assert_no_transfers(&ids);
    assert_eq!(f.get_transfer(p).status, PendingStatus::Pending);
    f.assert_bals(&[(1, bal(100, 10, 0, 1_000)), (2, bal(0, 1_000, 100, 10))]);
    // The pending transfer is still resolvable, and its code is filled into the post.
    assert_eq!(f.transfer(post(65, p, 60)), R::Ok);
    assert_eq!(f.get_transfer(65).transfer.code, 7);
    f.assert_bals(&[(1, bal(0, 70, 0, 1_000)), (2, bal(0, 1_000, 0, 70))]);
}

/// Voiding more than the pending amount: TigerBeetle checks `amount > p.amount`
/// (`exceeds_pending_transfer_amount`) for posts and voids alike, before the void-only check
/// `amount < p.amount` (`pending_transfer_has_different_amount`).
pub fn void_amount_over_pending<B: Backend>(f: &mut Fix<B>) {
    funded(f);
    f.ok_transfers(&[pending(10, 1, 2, 100, 0)]);
    assert_eq!(f.transfer(Transfer { amount: 101, ..void(11, 10) }), R::ExceedsPendingTransferAmount);
    f.assert_no_transfers(&[11]);
}

/// A post or void whose user data is zero takes the pending transfer's (TigerBeetle:
/// `.user_data_128 = if (t.user_data_128 > 0) t.user_data_128 else p.user_data_128`, and so
/// for 64 and 32), and a resubmission is compared against that.
pub fn post_inherits_user_data<B: Backend>(f: &mut Fix<B>) {
    funded(f);
    let p = Transfer { user_data_128: 128, user_data_64: 64, user_data_32: 32, ..pending(10, 1, 2, 100, 0) };
    f.ok_transfers(&[p, Transfer { user_data_64: 6, ..pending(11, 1, 2, 100, 0) }]);
    f.ok_transfers(&[post(12, 10, 0), Transfer { user_data_32: 3, ..void(13, 11) }]);
    let posted = f.get_transfer(12).transfer;
    assert_eq!((posted.user_data_128, posted.user_data_64, posted.user_data_32), (128, 64, 32));
    let voided = f.get_transfer(13).transfer;
    assert_eq!((voided.user_data_128, voided.user_data_64, voided.user_data_32), (0, 6, 3));
    // Resubmitting with zero or with the inherited values is the same transfer.
    assert_eq!(
        f.transfers(&[post(12, 10, 0), Transfer { user_data_128: 128, ..post(12, 10, 0) }]),
        vec![R::Exists, R::Exists]
    );
}

/// Expiry: a pending transfer with a timeout is released by `expire_pending` once its time has
/// come; posting or voiding it then fails with `pending_transfer_expired`, whether or not it was
/// swept yet (an unswept one stays reserved until the sweep).
pub fn expiry<B: Backend>(f: &mut Fix<B>) {
    f.ok_accounts(&[acct(1), acct(2)]);
    f.ok_transfers(&[pending(10, 1, 2, 100, 10), pending(11, 1, 2, 50, 20), pending(12, 1, 2, 25, 0)]);
    f.assert_bals(&[(1, bal(175, 0, 0, 0)), (2, bal(0, 0, 175, 0))]);
    let p10 = f.get_transfer(10);
    assert_eq!(p10.expires_at, p10.transfer.timestamp + 10 * SECOND);
    assert_eq!(f.get_transfer(12).expires_at, 0);

    assert_eq!(f.expire(), 0);
    f.clock.advance_seconds(9);
    assert_eq!(f.expire(), 0);
    f.clock.advance_seconds(2);
    assert_eq!(f.expire(), 1);
    f.assert_bals(&[(1, bal(75, 0, 0, 0)), (2, bal(0, 0, 75, 0))]);
    assert_eq!(f.get_transfer(10).status, PendingStatus::Expired);
    assert_eq!(f.expire(), 0);
    // Swept: posting or voiding is refused.
    assert_eq!(
        f.transfers(&[post(13, 10, 0), void(14, 10)]),
        vec![R::PendingTransferExpired, R::PendingTransferExpired]
    );

    // Past its expiry but not swept: refused as well; the reservation stays until the sweep.
    f.clock.advance_seconds(10);
    assert_eq!(
        f.transfers(&[post(15, 11, 0), void(16, 11), post(17, 11, 10)]),
        vec![R::PendingTransferExpired, R::PendingTransferExpired, R::PendingTransferExpired]
    );
    assert_eq!(f.get_transfer(11).status, PendingStatus::Pending);
    f.assert_bals(&[(1, bal(75, 0, 0, 0))]);
    assert_eq!(f.expire(), 1);
    assert_eq!(f.get_transfer(11).status, PendingStatus::Expired);
    f.assert_bals(&[(1, bal(25, 0, 0, 0)), (2, bal(0, 0, 25, 0))]);
    f.assert_no_transfers(&[13, 14, 15, 16, 17]);

    // Timeout 0 never expires.
    f.clock.advance_seconds(10_000_000);
    assert_eq!(f.expire(), 0);
    assert_eq!(f.transfer(post(18, 12, 0)), R::Ok);
    f.assert_bals(&[(1, bal(0, 25, 0, 0)), (2, bal(0, 0, 0, 25))]);

    // A resolved pending transfer does not expire.
    f.ok_transfers(&[pending(20, 1, 2, 5, 1), pending(21, 1, 2, 5, 1)]);
    f.ok_transfers(&[post(22, 20, 0), void(23, 21)]);
    f.clock.advance_seconds(5);
    assert_eq!(f.expire(), 0);
    assert_eq!(f.get_transfer(20).status, PendingStatus::Posted);
    assert_eq!(f.get_transfer(21).status, PendingStatus::Voided);

    // Many at once, across accounts.
    f.ok_accounts(&[acct(3)]);
    let many: Vec<Transfer> = (100..130).map(|id| pending(id, if id % 2 == 0 { 1 } else { 2 }, 3, 1, 1)).collect();
    f.ok_transfers(&many);
    f.assert_bals(&[(1, bal(15, 30, 0, 0)), (2, bal(15, 0, 0, 30)), (3, bal(0, 0, 30, 0))]);
    f.clock.advance_seconds(2);
    assert_eq!(f.expire(), 30);
    f.assert_bals(&[(1, bal(0, 30, 0, 0)), (2, bal(0, 0, 0, 30)), (3, Bal::default())]);
}

/// The exact boundary: a pending transfer expires at `timestamp + timeout` (a post stamped at
/// that instant is refused; one nanosecond earlier is accepted), and `expire_pending` sweeps it
/// from that instant on.
pub fn expiry_boundaries<B: Backend>(f: &mut Fix<B>) {
    f.ok_accounts(&[acct(1), acct(2)]);
    f.ok_transfers(&[pending(10, 1, 2, 5, 1), pending(11, 1, 2, 5, 2), pending(12, 1, 2, 5, 3)]);
    let at = |f: &mut Fix<B>, id| {
        let record = f.get_transfer(id);
        assert_eq!(record.expires_at, record.transfer.timestamp + u64::from(record.transfer.timeout) * SECOND);
        record.expires_at
    };
    let (at10, at11, at12) = (at(f, 10), at(f, 11), at(f, 12));

    // Stamped one nanosecond before 10 expires: accepted.
    f.clock.set_ns(at10 - 1);
    assert_eq!(f.transfer(post(20, 10, 0)), R::Ok);
    // The sweep takes 11 at its expiry, not a nanosecond earlier.
    f.clock.set_ns(at11 - 1);
    assert_eq!(f.expire(), 0);
    f.clock.set_ns(at11);
    assert_eq!(f.expire(), 1);
    assert_eq!(f.get_transfer(11).status, PendingStatus::Expired);
    // Stamped exactly when 12 expires: refused (not swept yet), then swept.
    f.clock.set_ns(at12);
    assert_eq!(f.transfer(post(21, 12, 0)), R::PendingTransferExpired);
    f.assert_bals(&[(1, bal(5, 5, 0, 0))]);
    assert_eq!(f.expire(), 1);
    f.assert_bals(&[(1, bal(0, 5, 0, 0)), (2, bal(0, 0, 0, 5))]);
}

/// Several pending transfers of accounts with the history flag expiring in one sweep. Each
/// expiry is an event of its own (TigerBeetle's execute_expire_pending_transfers stamps the i-th
/// with `timestamp - len + i + 1` and records the account event under it), so the history has
/// one row per expiry with strictly increasing timestamps. (Stamping them all alike makes the
/// SQLite store refuse the sweep: primary key (account_id, timestamp).)
pub fn expiry_sweep_on_history_accounts<B: Backend>(f: &mut Fix<B>) {
    f.ok_accounts(&[acct(1).with_flags(AccountFlags::HISTORY), acct(2).with_flags(AccountFlags::HISTORY), acct(3)]);
    f.ok_transfers(&[pending(10, 1, 2, 5, 1), pending(11, 1, 2, 7, 1), pending(12, 1, 3, 9, 1)]);
    f.clock.advance_seconds(2);
    assert_eq!(f.expire(), 3);
    f.assert_bals(&[(1, Bal::default()), (2, Bal::default()), (3, Bal::default())]);
    for (id, rows) in [(1, 6), (2, 4)] {
        let history = f.ledger.account_balances(id, 100).expect("account_balances");
        assert_eq!(history.len(), rows, "account {id}: {history:?}");
        assert!(history.windows(2).all(|w| w[0].timestamp < w[1].timestamp), "account {id}: {history:?}");
        assert_eq!(history.last().map(Bal::from), Some(Bal::default()), "account {id}");
    }
    // Later events are stamped after the sweep.
    f.ok_transfers(&[xfer(13, 2, 1, 4)]);
    let last = f.ledger.account_balances(1, 100).expect("account_balances");
    let stamped = f.get_transfer(13).transfer.timestamp;
    assert_eq!(last.last().map(|b| (b.timestamp, Bal::from(b))), Some((stamped, bal(0, 0, 0, 4))));
    assert!(last.windows(2).all(|w| w[0].timestamp < w[1].timestamp), "{last:?}");
}
