//! A first pass over the rules on the in-memory store.

use ledger::memory::MemoryStore;
use ledger::*;

#[test]
fn two_phase_transfer_on_the_memory_store() {
    let clock = ManualClock::new(1_000_000_000_000);
    let mut ledger = Ledger::open(MemoryStore::new(), clock.clone()).unwrap();
    let results = ledger
        .create_accounts(&[
            Account::new(1, 156, 1).with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
            Account::new(2, 156, 2),
        ])
        .unwrap();
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    // Fund the cardholder, hold 300, post 200 of it: 100 released.
    let fund = Transfer::new(10, 2, 1, 1_000, 156, 1);
    let hold = Transfer { timeout: 60, ..Transfer::new(11, 1, 2, 300, 156, 1).with_flags(TransferFlags::PENDING) };
    let post = Transfer { pending_id: 11, amount: 200, ..Transfer::new(12, 0, 0, 0, 0, 0) }
        .with_flags(TransferFlags::POST_PENDING_TRANSFER);
    let results = ledger.create_transfers(&[fund, hold, post]).unwrap();
    assert_eq!(results, vec![CreateTransferResult::Ok; 3]);
    let accounts = ledger.lookup_accounts(&[1]).unwrap();
    assert_eq!((accounts[0].debits_posted, accounts[0].debits_pending, accounts[0].credits_posted), (200, 0, 1_000));
    // Posting again: already posted; resubmitting the post: exists.
    let again = Transfer { id: 13, ..post };
    assert_eq!(
        ledger.create_transfers(&[again, post]).unwrap(),
        vec![CreateTransferResult::PendingTransferAlreadyPosted, CreateTransferResult::Exists]
    );
    // Over the limit.
    let big = Transfer::new(14, 1, 2, 801, 156, 1);
    assert_eq!(ledger.create_transfers(&[big]).unwrap(), vec![CreateTransferResult::ExceedsCredits]);
    // A hold that expires.
    let hold = Transfer { timeout: 5, ..Transfer::new(15, 1, 2, 100, 156, 1).with_flags(TransferFlags::PENDING) };
    assert_eq!(ledger.create_transfers(&[hold]).unwrap(), vec![CreateTransferResult::Ok]);
    clock.advance_seconds(6);
    assert_eq!(ledger.expire_pending().unwrap(), 1);
    assert_eq!(ledger.lookup_accounts(&[1]).unwrap()[0].debits_pending, 0);
    let report = invariants::check(ledger.store()).unwrap();
    assert!(report.holds(), "{report:?}");
}
