//! Linked chains of transfers: a chain succeeds or fails as one; the failing event gets its own
//! code, the rest of the chain `linked_event_failed`; a chain left open at the end of the batch
//! fails with `linked_event_chain_open` on its last event.

use ledger::{AccountFlags, CreateTransferResult as R, PendingStatus};

use crate::fixture::{Flagged, acct, bal, pending, post, void, xfer};
use crate::{Backend, Fix};

const OK: R = R::Ok;
const FAILED: R = R::LinkedEventFailed;

/// Cardholder 1 (may not go below zero) with 100, bank 2, merchant 3.
fn setup<B: Backend>(f: &mut Fix<B>) {
    f.ok_accounts(&[acct(1).with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS), acct(2), acct(3)]);
    f.ok_transfers(&[xfer(5, 2, 1, 100)]);
}

pub fn transfer_chains<B: Backend>(f: &mut Fix<B>) {
    setup(f);
    // All succeed.
    assert_eq!(
        f.transfers(&[xfer(10, 1, 3, 10).linked(), xfer(11, 1, 3, 20).linked(), xfer(12, 1, 3, 30)]),
        vec![OK, OK, OK]
    );
    f.assert_bals(&[(1, bal(0, 60, 0, 100)), (3, bal(0, 0, 0, 60))]);
    // The linked flag is not part of the stored transfer.
    assert_eq!(f.get_transfer(10).transfer.flags, Default::default());

    // A failure in the middle: nothing of the chain is applied or stored.
    assert_eq!(
        f.transfers(&[xfer(20, 1, 3, 10).linked(), xfer(21, 1, 3, 1_000).linked(), xfer(22, 1, 3, 10)]),
        vec![FAILED, R::ExceedsCredits, FAILED]
    );
    // At the start and at the end.
    assert_eq!(
        f.transfers(&[xfer(23, 1, 99, 1).linked(), xfer(24, 1, 3, 1).linked(), xfer(25, 1, 3, 1)]),
        vec![R::CreditAccountNotFound, FAILED, FAILED]
    );
    assert_eq!(
        f.transfers(&[xfer(26, 1, 3, 1).linked(), xfer(27, 1, 3, 1).linked(), xfer(28, 1, 3, 0)]),
        vec![FAILED, FAILED, R::AmountMustNotBeZero]
    );
    f.assert_no_transfers(&[20, 21, 22, 23, 24, 25, 26, 27, 28]);
    f.assert_bals(&[(1, bal(0, 60, 0, 100)), (3, bal(0, 0, 0, 60))]);

    // Chains and independent events in one batch: only the broken chain is undone.
    assert_eq!(
        f.transfers(&[
            xfer(30, 1, 3, 1),
            xfer(31, 1, 3, 1).linked(),
            xfer(32, 1, 3, 1_000),
            xfer(33, 1, 3, 2),
            xfer(34, 1, 3, 3).linked(),
            xfer(35, 1, 3, 4),
            xfer(36, 1, 3, 5).linked(),
            xfer(37, 1, 3, 5).linked(),
            xfer(38, 1, 1, 5),
            xfer(39, 1, 3, 6),
        ]),
        vec![OK, FAILED, R::ExceedsCredits, OK, OK, OK, FAILED, FAILED, R::AccountsMustBeDifferent, OK]
    );
    f.assert_no_transfers(&[31, 32, 36, 37, 38]);
    f.assert_bals(&[(1, bal(0, 76, 0, 100)), (3, bal(0, 0, 0, 76))]);

    // Later events of a chain see the earlier ones: fund, then spend what was funded.
    assert_eq!(f.transfers(&[xfer(40, 2, 1, 50).linked(), xfer(41, 1, 3, 74)]), vec![OK, OK]);
    f.assert_bals(&[(1, bal(0, 150, 0, 150))]);
    // ... and the funding is undone with the chain.
    assert_eq!(
        f.transfers(&[xfer(42, 2, 1, 50).linked(), xfer(43, 1, 3, 30).linked(), xfer(44, 1, 3, 30)]),
        vec![FAILED, FAILED, R::ExceedsCredits]
    );
    f.assert_bals(&[(1, bal(0, 150, 0, 150)), (2, bal(0, 150, 0, 0)), (3, bal(0, 0, 0, 150))]);

    // A resubmitted (existing) transfer breaks a chain.
    assert_eq!(f.transfers(&[xfer(45, 2, 1, 1).linked(), xfer(10, 1, 3, 10)]), vec![FAILED, R::Exists]);
    f.assert_no_transfers(&[45]);

    // A chain left open: its last event `linked_event_chain_open`, the others failed, events
    // before it applied.
    assert_eq!(
        f.transfers(&[xfer(50, 2, 1, 1), xfer(51, 2, 1, 1).linked(), xfer(52, 2, 1, 1).linked()]),
        vec![OK, FAILED, R::LinkedEventChainOpen]
    );
    assert_eq!(f.transfers(&[xfer(53, 2, 1, 1).linked()]), vec![R::LinkedEventChainOpen]);
    f.assert_no_transfers(&[51, 52, 53]);
    f.assert_bals(&[(1, bal(0, 150, 0, 151)), (2, bal(0, 151, 0, 0))]);

    // Ids used by failed chains are free.
    f.ok_transfers(&[xfer(20, 2, 1, 1), xfer(51, 2, 1, 1), xfer(53, 2, 1, 1)]);
    f.assert_bals(&[(1, bal(0, 150, 0, 154))]);
}

/// Pending transfers created, posted or voided inside a chain that fails are rolled back with
/// it: balances, the pending transfer's state and the transfers themselves.
pub fn transfer_chains_roll_back_two_phase<B: Backend>(f: &mut Fix<B>) {
    setup(f);
    // Reserve and post inside a failing chain: nothing remains.
    assert_eq!(
        f.transfers(&[pending(10, 1, 3, 5, 60).linked(), post(11, 10, 3).linked(), xfer(12, 1, 3, 1_000)]),
        vec![FAILED, FAILED, R::ExceedsCredits]
    );
    f.assert_no_transfers(&[10, 11, 12]);
    f.assert_bals(&[(1, bal(0, 0, 0, 100)), (3, bal(0, 0, 0, 0))]);

    // Resolving a stored pending transfer inside a failing chain: it stays pending.
    f.ok_transfers(&[pending(20, 1, 3, 40, 0), pending(21, 1, 3, 10, 0)]);
    assert_eq!(
        f.transfers(&[post(22, 20, 0).linked(), void(23, 21).linked(), xfer(24, 1, 3, 0)]),
        vec![FAILED, FAILED, R::AmountMustNotBeZero]
    );
    assert_eq!(f.get_transfer(20).status, PendingStatus::Pending);
    assert_eq!(f.get_transfer(21).status, PendingStatus::Pending);
    f.assert_no_transfers(&[22, 23]);
    f.assert_bals(&[(1, bal(50, 0, 0, 100)), (3, bal(0, 0, 50, 0))]);

    // A post twice in one chain: the second fails, so the first is undone too.
    assert_eq!(
        f.transfers(&[post(25, 20, 0).linked(), post(26, 20, 0)]),
        vec![FAILED, R::PendingTransferAlreadyPosted]
    );
    assert_eq!(f.get_transfer(20).status, PendingStatus::Pending);

    // Releasing a reservation earlier in a chain makes room for a later event.
    assert_eq!(f.transfers(&[void(27, 20).linked(), xfer(28, 1, 3, 80)]), vec![OK, OK]);
    f.assert_bals(&[(1, bal(10, 80, 0, 100)), (3, bal(0, 0, 10, 80))]);
    assert_eq!(f.get_transfer(20).status, PendingStatus::Voided);

    // Then resolving for real.
    assert_eq!(f.transfer(post(29, 21, 0)), OK);
    f.assert_bals(&[(1, bal(0, 90, 0, 100)), (3, bal(0, 0, 0, 90))]);
}

/// An open chain whose earlier event failed: TigerBeetle answers the last event with
/// `linked_event_chain_open` regardless (state_machine.zig `execute` checks
/// `index == events.len - 1` before `chain_broken`).
pub fn transfer_open_chain_after_failure<B: Backend>(f: &mut Fix<B>) {
    setup(f);
    assert_eq!(
        f.transfers(&[xfer(10, 1, 3, 1).linked(), xfer(11, 1, 3, 1_000).linked(), xfer(12, 1, 3, 1).linked()]),
        vec![FAILED, R::ExceedsCredits, R::LinkedEventChainOpen]
    );
    f.assert_no_transfers(&[10, 11, 12]);
    f.assert_bals(&[(1, bal(0, 0, 0, 100))]);
}
