//! The two limit flags. Pending amounts count against the limit when reserved (pessimistically);
//! posted credits (debits) only count once posted.

use ledger::{AccountFlags, CreateTransferResult as R};

use crate::fixture::{acct, bal, pending, post, void, xfer};
use crate::{Backend, Fix};

/// debits_pending + debits_posted + amount must not exceed credits_posted.
pub fn debits_must_not_exceed_credits<B: Backend>(f: &mut Fix<B>) {
    f.ok_accounts(&[acct(1).with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS), acct(2)]);
    // Nothing to spend yet.
    assert_eq!(f.transfer(xfer(10, 1, 2, 1)), R::ExceedsCredits);
    assert_eq!(f.transfer(pending(11, 1, 2, 1, 0)), R::ExceedsCredits);
    f.ok_transfers(&[xfer(12, 2, 1, 100)]);
    // A reservation counts at once.
    assert_eq!(f.transfer(pending(13, 1, 2, 60, 0)), R::Ok);
    assert_eq!(f.transfer(xfer(14, 1, 2, 41)), R::ExceedsCredits);
    // Up to the limit exactly.
    assert_eq!(f.transfer(xfer(15, 1, 2, 40)), R::Ok);
    assert_eq!(f.transfer(xfer(16, 1, 2, 1)), R::ExceedsCredits);
    f.assert_bals(&[(1, bal(60, 40, 0, 100)), (2, bal(0, 100, 60, 40))]);
    // Pending credits do not count: a reservation into 1 does not make room.
    f.ok_transfers(&[pending(17, 2, 1, 500, 0)]);
    assert_eq!(f.transfer(xfer(18, 1, 2, 1)), R::ExceedsCredits);
    // Releasing the reservation does.
    assert_eq!(f.transfer(void(19, 13)), R::Ok);
    assert_eq!(f.transfer(xfer(20, 1, 2, 60)), R::Ok);
    f.assert_bals(&[(1, bal(0, 100, 500, 100))]);
    // Posting the incoming reservation raises the limit; a partial post raises it by less.
    assert_eq!(f.transfer(post(21, 17, 30)), R::Ok);
    assert_eq!(f.transfer(xfer(22, 1, 2, 31)), R::ExceedsCredits);
    assert_eq!(f.transfer(xfer(23, 1, 2, 30)), R::Ok);
    f.assert_bals(&[(1, bal(0, 130, 0, 130)), (2, bal(0, 130, 0, 130))]);
    f.assert_no_transfers(&[10, 11, 14, 16, 18, 22]);
}

/// credits_pending + credits_posted + amount must not exceed debits_posted.
pub fn credits_must_not_exceed_debits<B: Backend>(f: &mut Fix<B>) {
    f.ok_accounts(&[acct(1), acct(2).with_flags(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)]);
    assert_eq!(f.transfer(xfer(10, 1, 2, 1)), R::ExceedsDebits);
    assert_eq!(f.transfer(pending(11, 1, 2, 1, 0)), R::ExceedsDebits);
    f.ok_transfers(&[xfer(12, 2, 1, 70)]);
    assert_eq!(f.transfer(pending(13, 1, 2, 50, 0)), R::Ok);
    assert_eq!(f.transfer(xfer(14, 1, 2, 21)), R::ExceedsDebits);
    assert_eq!(f.transfer(xfer(15, 1, 2, 20)), R::Ok);
    assert_eq!(f.transfer(xfer(16, 1, 2, 1)), R::ExceedsDebits);
    f.assert_bals(&[(1, bal(50, 20, 0, 70)), (2, bal(0, 70, 50, 20))]);
    // Posting part of the reservation releases the rest.
    assert_eq!(f.transfer(post(17, 13, 10)), R::Ok);
    assert_eq!(f.transfer(xfer(18, 1, 2, 41)), R::ExceedsDebits);
    assert_eq!(f.transfer(xfer(19, 1, 2, 40)), R::Ok);
    f.assert_bals(&[(1, bal(0, 70, 0, 70)), (2, bal(0, 70, 0, 70))]);

    // Both limits broken at once: the debit account's is reported first.
    f.ok_accounts(&[acct(3).with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)]);
    assert_eq!(f.transfer(xfer(20, 3, 2, 1)), R::ExceedsCredits);
    f.assert_no_transfers(&[10, 11, 14, 16, 18, 20]);
}
