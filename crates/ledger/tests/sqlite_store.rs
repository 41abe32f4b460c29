//! The SQLite store: the ledger's rules over a real file, reopening it, atomic batches, large
//! sums, and two writers on one file.

use std::path::{Path, PathBuf};

use ledger::sqlite::SqliteStore;
use ledger::*;

/// A directory under the system's temp dir, removed when the test is done.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("cardnet-ledger-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn db(&self) -> PathBuf {
        self.0.join("ledger.sqlite")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open(path: &Path, clock: ManualClock) -> Ledger<SqliteStore, ManualClock> {
    Ledger::open(SqliteStore::open(path).unwrap(), clock).unwrap()
}

fn assert_invariants(store: &mut SqliteStore) {
    let report = invariants::check(store).unwrap();
    assert!(report.holds(), "{report:?}");
}

#[test]
fn two_phase_transfer_on_sqlite_survives_reopening() {
    let dir = TempDir::new("smoke");
    let clock = ManualClock::new(1_000_000_000_000);
    let mut ledger = open(&dir.db(), clock.clone());
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
    assert_invariants(ledger.store());

    let accounts = ledger.lookup_accounts(&[1, 2]).unwrap();
    let transfers = ledger.lookup_transfers(&[10, 11, 12, 15]).unwrap();
    let history = ledger.account_transfers(1, 100).unwrap();
    let max_timestamp = ledger.store().max_timestamp().unwrap();
    assert!(max_timestamp >= transfers[3].transfer.timestamp);
    drop(ledger);

    // Reopen: the same rows, and timestamps continue after the stored ones.
    let mut ledger = open(&dir.db(), clock.clone());
    assert_eq!(ledger.lookup_accounts(&[1, 2]).unwrap(), accounts);
    assert_eq!(ledger.lookup_transfers(&[10, 11, 12, 15]).unwrap(), transfers);
    assert_eq!(ledger.account_transfers(1, 100).unwrap(), history);
    assert_eq!(ledger.store().max_timestamp().unwrap(), max_timestamp);
    assert_eq!(transfers[1].status, PendingStatus::Posted);
    assert_eq!(transfers[3].status, PendingStatus::Expired);
    assert_eq!(history.iter().map(|r| r.transfer.id).collect::<Vec<_>>(), vec![10, 11, 12, 15]);
    assert_eq!(ledger.account_transfers(1, 2).unwrap().len(), 2);
    let next = Transfer::new(16, 2, 1, 5, 156, 1);
    assert_eq!(ledger.create_transfers(&[next]).unwrap(), vec![CreateTransferResult::Ok]);
    let stored = ledger.lookup_transfers(&[16]).unwrap();
    assert!(stored[0].transfer.timestamp > max_timestamp);
    assert_invariants(ledger.store());
}

#[test]
fn values_round_trip_and_lookups_keep_request_order() {
    let dir = TempDir::new("round-trip");
    let mut ledger = open(&dir.db(), ManualClock::new(1));
    let account = Account {
        user_data_128: u128::MAX - 1,
        user_data_64: u64::MAX,
        user_data_32: u32::MAX,
        ..Account::new(u128::MAX - 1, u32::MAX, u16::MAX).with_flags(AccountFlags::HISTORY)
    };
    let other = Account::new(1 << 127, u32::MAX, 1);
    assert!(ledger.create_accounts(&[account, other]).unwrap().iter().all(|r| r.is_ok()));
    let transfer = Transfer {
        user_data_128: 1 << 100,
        user_data_64: u64::MAX - 7,
        user_data_32: u32::MAX,
        timeout: u32::MAX,
        ..Transfer::new(u128::MAX - 1, account.id, other.id, AMOUNT_MAX, u32::MAX, u16::MAX)
            .with_flags(TransferFlags::PENDING)
    };
    assert_eq!(ledger.create_transfers(&[transfer]).unwrap(), vec![CreateTransferResult::Ok]);
    let stored = ledger.lookup_transfers(&[transfer.id]).unwrap()[0];
    assert_eq!(stored.transfer, Transfer { timestamp: stored.transfer.timestamp, ..transfer });
    assert_eq!(stored.status, PendingStatus::Pending);
    assert_eq!(stored.expires_at, stored.transfer.timestamp + u32::MAX as u64 * 1_000_000_000);
    let accounts = ledger.lookup_accounts(&[other.id, 77, account.id, other.id]).unwrap();
    assert_eq!(accounts.iter().map(|a| a.id).collect::<Vec<_>>(), vec![other.id, account.id, other.id]);
    assert_eq!(accounts[1].user_data_64, u64::MAX);
    assert_eq!(accounts[1].user_data_128, u128::MAX - 1);
    assert_eq!((accounts[1].ledger, accounts[1].code), (u32::MAX, u16::MAX));
    assert_eq!(accounts[1].debits_pending, AMOUNT_MAX);
    let balances = ledger.account_balances(account.id, 10).unwrap();
    assert_eq!(balances.len(), 1);
    assert_eq!(balances[0].debits_pending, AMOUNT_MAX);
    assert!(ledger.account_balances(other.id, 10).unwrap().is_empty());
    // Many ids, most of them missing.
    let mut many: Vec<Id> = (1..2_000).collect();
    many.push(account.id);
    assert_eq!(ledger.lookup_accounts(&many).unwrap(), vec![accounts[1]]);
    assert!(ledger.lookup_transfers(&[]).unwrap().is_empty());
}

#[test]
fn totals_beyond_i64_are_summed_exactly() {
    let dir = TempDir::new("totals");
    let mut ledger = open(&dir.db(), ManualClock::new(1));
    let accounts: Vec<Account> = (1..=6).map(|id| Account::new(id, 7, 1)).collect();
    assert!(ledger.create_accounts(&accounts).unwrap().iter().all(|r| r.is_ok()));
    let transfers = [
        Transfer::new(100, 1, 2, AMOUNT_MAX, 7, 1),
        Transfer::new(101, 3, 4, AMOUNT_MAX, 7, 1),
        Transfer::new(102, 5, 6, AMOUNT_MAX, 7, 1).with_flags(TransferFlags::PENDING),
        Transfer::new(103, 6, 5, AMOUNT_MAX, 7, 1).with_flags(TransferFlags::PENDING),
    ];
    assert_eq!(ledger.create_transfers(&transfers).unwrap(), vec![CreateTransferResult::Ok; 4]);
    let totals = ledger.store().ledger_totals().unwrap();
    let twice = 2 * AMOUNT_MAX as u128;
    assert_eq!(
        totals,
        vec![LedgerTotals {
            ledger: 7,
            debits_pending: twice,
            debits_posted: twice,
            credits_pending: twice,
            credits_posted: twice,
            pending_transfers: twice,
        }]
    );
    assert_invariants(ledger.store());
}

#[test]
fn a_failed_batch_leaves_nothing() {
    let dir = TempDir::new("failed-batch");
    let mut ledger = open(&dir.db(), ManualClock::new(1_000));
    assert!(ledger.create_accounts(&[Account::new(1, 1, 1), Account::new(2, 1, 1)]).unwrap().iter().all(|r| r.is_ok()));
    let before = ledger.store().max_timestamp().unwrap();
    let store = ledger.store();
    let record = TransferRecord {
        transfer: Transfer { timestamp: before + 10, ..Transfer::new(50, 1, 2, 9, 1, 1) },
        status: PendingStatus::None,
        expires_at: 0,
    };
    let mut runs = 0;
    let result: StoreResult<()> = store.transact(&mut |txn| {
        runs += 1;
        txn.insert_transfers(&[record])?;
        let mut accounts = txn.accounts(&[1, 2])?;
        accounts[0].debits_posted += 9;
        accounts[1].credits_posted += 9;
        txn.update_balances(&accounts)?;
        // The write is visible inside the transaction …
        assert_eq!(txn.transfers(&[50])?.len(), 1);
        Err(StoreError::Failed("forced".into()))
    });
    assert_eq!(result, Err(StoreError::Failed("forced".into())));
    assert_eq!(runs, 1, "a failure is not retried");
    // … and gone after it.
    assert!(store.lookup_transfers(&[50]).unwrap().is_empty());
    assert!(store.lookup_accounts(&[1, 2]).unwrap().iter().all(|a| a.debits_posted == 0 && a.credits_posted == 0));
    assert_eq!(store.max_timestamp().unwrap(), before);

    // A conflict is retried, and the second attempt's writes are the only ones kept.
    let mut runs = 0;
    store
        .transact(&mut |txn| {
            runs += 1;
            txn.insert_transfers(&[record])?;
            if runs == 1 { Err(StoreError::Retryable("forced".into())) } else { Ok(()) }
        })
        .unwrap();
    assert_eq!(runs, 2);
    assert_eq!(store.lookup_transfers(&[50]).unwrap(), vec![record]);
    assert_eq!(store.max_timestamp().unwrap(), before + 10);

    // A write the database refuses (the same id again) fails the batch, leaving nothing.
    let other = TransferRecord { transfer: Transfer { id: 51, ..record.transfer }, ..record };
    let result = store.transact(&mut |txn| txn.insert_transfers(&[other, record]));
    assert!(matches!(result, Err(StoreError::Failed(_))), "{result:?}");
    assert!(store.lookup_transfers(&[51]).unwrap().is_empty());

    // A panic inside a batch leaves no transaction open behind it.
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = store.transact(&mut |txn| -> StoreResult<()> {
            txn.insert_transfers(&[other])?;
            panic!("forced");
        });
    }));
    assert!(panicked.is_err());
    assert!(store.lookup_transfers(&[51]).unwrap().is_empty());
    assert_eq!(ledger.create_transfers(&[Transfer::new(52, 1, 2, 1, 1, 1)]).unwrap(), vec![CreateTransferResult::Ok]);
    assert!(ledger.lookup_transfers(&[51]).unwrap().is_empty());
    assert_invariants(ledger.store());
}

#[test]
fn a_pending_resolved_twice_is_reported() {
    let dir = TempDir::new("resolved-twice");
    let mut store = SqliteStore::open(&dir.db()).unwrap();
    let resolve = |id: Id, flags: TransferFlags| TransferRecord {
        transfer: Transfer { pending_id: 9, timestamp: id as u64, ..Transfer::new(id, 1, 2, 1, 1, 1) }
            .with_flags(flags),
        status: PendingStatus::None,
        expires_at: 0,
    };
    store.transact(&mut |txn| txn.insert_transfers(&[resolve(20, TransferFlags::POST_PENDING_TRANSFER)])).unwrap();
    assert_eq!(store.pending_resolved_more_than_once().unwrap(), 0);
    store.transact(&mut |txn| txn.insert_transfers(&[resolve(21, TransferFlags::VOID_PENDING_TRANSFER)])).unwrap();
    assert_eq!(store.pending_resolved_more_than_once().unwrap(), 1);
}

#[test]
fn expiry_history_timestamps_are_not_reused_after_reopening() {
    let dir = TempDir::new("expiry-history");
    let clock = ManualClock::new(1_000_000_000);
    let mut ledger = open(&dir.db(), clock.clone());
    let accounts = [Account::new(1, 1, 1).with_flags(AccountFlags::HISTORY), Account::new(2, 1, 1)];
    assert!(ledger.create_accounts(&accounts).unwrap().iter().all(|r| r.is_ok()));
    let hold = Transfer { timeout: 1, ..Transfer::new(10, 1, 2, 5, 1, 1).with_flags(TransferFlags::PENDING) };
    assert_eq!(ledger.create_transfers(&[hold]).unwrap(), vec![CreateTransferResult::Ok]);
    clock.advance_seconds(2);
    assert_eq!(ledger.expire_pending().unwrap(), 1);
    assert_eq!(ledger.expire_pending().unwrap(), 0);
    let expired_at = ledger.account_balances(1, 10).unwrap()[1].timestamp;
    drop(ledger);
    // The clock has not moved: the next transfer must still get a later timestamp than the
    // expiry's history row, or the history of account 1 would hold two rows at one time.
    let mut ledger = open(&dir.db(), clock);
    assert_eq!(ledger.create_transfers(&[Transfer::new(11, 1, 2, 5, 1, 1)]).unwrap(), vec![CreateTransferResult::Ok]);
    let history = ledger.account_balances(1, 10).unwrap();
    assert_eq!(history.len(), 3);
    assert!(history[2].timestamp > expired_at);
    assert_eq!(ledger.lookup_transfers(&[10]).unwrap()[0].status, PendingStatus::Expired);
    assert_invariants(ledger.store());
}

#[test]
fn pending_transfers_expire_after_reopening() {
    let dir = TempDir::new("expiry");
    let clock = ManualClock::new(1_000_000_000);
    let mut ledger = open(&dir.db(), clock.clone());
    assert!(ledger.create_accounts(&[Account::new(1, 1, 1), Account::new(2, 1, 1)]).unwrap().iter().all(|r| r.is_ok()));
    let holds: Vec<Transfer> = (0..3_000u32)
        .map(|i| Transfer {
            timeout: 1 + i % 3,
            ..Transfer::new(100 + i as Id, 1, 2, 1, 1, 1).with_flags(TransferFlags::PENDING)
        })
        .collect();
    assert!(ledger.create_transfers(&holds).unwrap().iter().all(|r| r.is_ok()));
    // Timeouts of 1 and 2 s have passed (each hold's timestamp is a few ns after the start).
    clock.advance_seconds(3);
    assert_eq!(ledger.expire_pending().unwrap(), 2_000);
    assert_eq!(ledger.lookup_accounts(&[1]).unwrap()[0].debits_pending, 1_000);
    assert_invariants(ledger.store());
    drop(ledger);
    let mut ledger = open(&dir.db(), clock.clone());
    clock.advance_seconds(1);
    assert_eq!(ledger.expire_pending().unwrap(), 1_000);
    assert_eq!(ledger.lookup_accounts(&[1]).unwrap()[0].debits_pending, 0);
    assert_invariants(ledger.store());
}

#[test]
fn two_writers_on_one_file_keep_the_invariants() {
    const WRITERS: u128 = 2;
    const BATCHES: u128 = 20;
    const EVENTS: u128 = 200;
    const ACCOUNTS: u128 = 50;
    let dir = TempDir::new("two-writers");
    let path = dir.db();
    {
        let mut ledger = open(&path, ManualClock::new(1));
        let accounts: Vec<Account> = (1..=ACCOUNTS).map(|id| Account::new(id, 1, 1)).collect();
        assert!(ledger.create_accounts(&accounts).unwrap().iter().all(|r| r.is_ok()));
    }
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut ledger = Ledger::open(SqliteStore::open(&path).unwrap(), SystemClock).unwrap();
                for batch in 0..BATCHES {
                    let transfers: Vec<Transfer> = (0..EVENTS)
                        .map(|i| {
                            let id = (writer + 1) << 64 | (batch * EVENTS + i + 1);
                            let debit = 1 + (i * 7 + batch + writer) % ACCOUNTS;
                            let credit = 1 + (debit % ACCOUNTS);
                            let transfer = Transfer::new(id, debit, credit, 1 + (i % 13) as u64, 1, 1);
                            // Every fourth is a hold, posted by the next batch.
                            if i % 4 == 0 { transfer.with_flags(TransferFlags::PENDING) } else { transfer }
                        })
                        .collect();
                    let results = ledger.create_transfers(&transfers).unwrap();
                    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
                    // Post the holds of this batch.
                    let posts: Vec<Transfer> = transfers
                        .iter()
                        .filter(|t| t.is_pending())
                        .map(|t| {
                            Transfer { pending_id: t.id, ..Transfer::new(t.id | 1 << 63, 0, 0, 0, 0, 0) }
                                .with_flags(TransferFlags::POST_PENDING_TRANSFER)
                        })
                        .collect();
                    let results = ledger.create_transfers(&posts).unwrap();
                    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
                }
            })
        })
        .collect();
    // A reader checking the invariants while the writers run sees whole batches only.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let checker = {
        let (path, done) = (path.clone(), done.clone());
        std::thread::spawn(move || {
            let mut store = SqliteStore::open(&path).unwrap();
            let mut checks = 0;
            loop {
                assert_invariants(&mut store);
                checks += 1;
                if done.load(std::sync::atomic::Ordering::SeqCst) {
                    return checks;
                }
            }
        })
    };
    for writer in writers {
        writer.join().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(checker.join().unwrap() > 0);
    let mut store = SqliteStore::open(&path).unwrap();
    assert_invariants(&mut store);
    let ids: Vec<Id> = (0..WRITERS).flat_map(|w| (1..=BATCHES * EVENTS).map(move |n| (w + 1) << 64 | n)).collect();
    let found = store.lookup_transfers(&ids).unwrap();
    assert_eq!(found.len(), ids.len());
    assert!(found.iter().all(|r| matches!(r.status, PendingStatus::None | PendingStatus::Posted)));
    let totals = store.ledger_totals().unwrap();
    let expected: u128 = (0..WRITERS * BATCHES * EVENTS).map(|n| 1 + (n % EVENTS % 13)).sum();
    assert_eq!(totals[0].debits_posted, expected);
    assert_eq!(totals[0].debits_pending, 0);
}

#[cfg(unix)]
#[test]
fn ledger_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("modes");
    let mut ledger = open(&dir.db(), ManualClock::new(1_000));
    assert!(ledger.create_accounts(&[Account::new(1, 1, 1)]).unwrap().iter().all(|r| r.is_ok()));
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", dir.db().display());
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
}
