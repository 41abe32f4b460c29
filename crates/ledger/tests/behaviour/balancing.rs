//! Balancing transfers: `amount` is an upper bound, clamped so that the debit account's debits
//! (pending + posted) do not pass its posted credits (balancing_debit) and the credit account's
//! credits do not pass its posted debits (balancing_credit), whatever the accounts' limit flags.

use ledger::{AccountFlags, CreateTransferResult as R, TransferFlags as F};

use crate::fixture::{Flagged, acct, bal, pending, post, xfer};
use crate::{Backend, Fix};

const BD: F = F::BALANCING_DEBIT;
const BC: F = F::BALANCING_CREDIT;

pub fn balancing<B: Backend>(f: &mut Fix<B>) {
    f.ok_accounts(&[
        acct(1).with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
        acct(2),
        acct(3).with_flags(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS),
        acct(4),
        acct(5),
        acct(6),
        acct(7),
    ]);
    // 1: credits 100, debits 30 posted + 20 pending: 50 left.
    f.ok_transfers(&[xfer(10, 2, 1, 100), xfer(11, 1, 2, 30), pending(12, 1, 2, 20, 0)]);
    assert_eq!(f.transfer(xfer(13, 1, 4, 1_000).flag(BD)), R::Ok);
    assert_eq!(f.get_transfer(13).transfer.amount, 50);
    f.assert_bals(&[(1, bal(20, 80, 0, 100)), (4, bal(0, 0, 0, 50))]);

    // Below the bound nothing is clamped.
    f.ok_transfers(&[xfer(14, 2, 1, 100)]);
    assert_eq!(f.transfer(xfer(15, 1, 4, 30).flag(BD)), R::Ok);
    assert_eq!(f.get_transfer(15).transfer.amount, 30);
    f.assert_bals(&[(1, bal(20, 110, 0, 200)), (4, bal(0, 0, 0, 80))]);

    // Without a limit flag the clamp is the same: 4 has credits 80, no debits.
    assert_eq!(f.transfer(xfer(16, 4, 2, 500).flag(BD)), R::Ok);
    assert_eq!(f.get_transfer(16).transfer.amount, 80);
    f.assert_bals(&[(4, bal(0, 80, 0, 80))]);

    // balancing_credit: 3 has debits 70, so at most 70 can be credited.
    f.ok_transfers(&[xfer(20, 3, 2, 70)]);
    assert_eq!(f.transfer(xfer(21, 2, 3, 1_000).flag(BC)), R::Ok);
    assert_eq!(f.get_transfer(21).transfer.amount, 70);
    f.assert_bals(&[(3, bal(0, 70, 0, 70))]);

    // Both: the smaller bound wins. 5 has credits 40; 6 has debits 25.
    f.ok_transfers(&[xfer(30, 7, 5, 40), xfer(31, 6, 7, 25)]);
    assert_eq!(f.transfer(xfer(32, 5, 6, 1_000).flag(BD).flag(BC)), R::Ok);
    assert_eq!(f.get_transfer(32).transfer.amount, 25);
    f.assert_bals(&[(5, bal(0, 25, 0, 40)), (6, bal(0, 25, 0, 25))]);

    // Pending and balancing: the clamped amount is reserved, then posted.
    assert_eq!(f.transfer(xfer(33, 5, 7, 1_000).flag(F::PENDING).flag(BD)), R::Ok);
    assert_eq!(f.get_transfer(33).transfer.amount, 15);
    f.assert_bals(&[(5, bal(15, 25, 0, 40))]);
    assert_eq!(f.transfer(post(34, 33, 0)), R::Ok);
    assert_eq!(f.get_transfer(34).transfer.amount, 15);
    f.assert_bals(&[(5, bal(0, 40, 0, 40)), (7, bal(0, 40, 0, 40))]);

    // Resubmission: `amount` is a bound, so any bound at least the amount moved is the same
    // transfer; a smaller one is not.
    assert_eq!(
        f.transfers(&[
            xfer(13, 1, 4, 1_000).flag(BD),
            xfer(13, 1, 4, 50).flag(BD),
            xfer(13, 1, 4, 49).flag(BD),
            xfer(13, 1, 4, 50),
        ]),
        vec![R::Exists, R::Exists, R::ExistsWithDifferentAmount, R::ExistsWithDifferentFlags]
    );
    f.assert_bals(&[(1, bal(20, 110, 0, 200)), (4, bal(0, 80, 0, 80))]);
}

/// A balancing transfer with nothing left to move: TigerBeetle since 0.16 records it with
/// amount 0 (`maybe(amount == 0)` in create_transfer; it returned exceeds_credits/exceeds_debits
/// before zero-amount transfers were allowed). This ledger follows the current behaviour.
pub fn balancing_to_zero<B: Backend>(f: &mut Fix<B>) {
    f.ok_accounts(&[acct(1).with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS), acct(2), acct(3)]);
    f.ok_transfers(&[xfer(10, 2, 1, 10), xfer(11, 1, 2, 10)]);
    assert_eq!(
        f.transfers(&[
            xfer(12, 1, 3, 5).flag(BD),
            xfer(13, 3, 1, 5).flag(BC),
            xfer(14, 3, 2, 5).flag(F::PENDING).flag(BD)
        ]),
        vec![R::Ok, R::Ok, R::Ok]
    );
    for id in [12, 13, 14] {
        assert_eq!(f.get_transfer(id).transfer.amount, 0, "transfer {id}");
    }
    // The zero reservation posts as zero.
    assert_eq!(f.transfer(post(15, 14, 0)), R::Ok);
    assert_eq!(f.get_transfer(15).transfer.amount, 0);
    f.assert_bals(&[(1, bal(0, 10, 0, 10)), (2, bal(0, 10, 0, 10)), (3, bal(0, 0, 0, 0))]);
}
