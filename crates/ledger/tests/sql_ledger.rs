//! The engine inside a caller's `sqlstore` transaction (`ledger::sql_ledger::*_in`): the same
//! results, balances and transfer records as the batch API on the memory store for the same
//! events; the ledger's rows commit or roll back with the caller's own; timestamps continue after
//! the stored ones whatever the clock says; the invariants hold. On SQLite, and on PostgreSQL
//! when `CARDNET_TEST_PG` names a server.

use std::sync::atomic::{AtomicU64, Ordering};

use ledger::memory::MemoryStore;
use ledger::sql_ledger::{
    check_invariants_in, create_accounts_in, create_transfers_in, expire_pending_in, lookup_accounts_in,
    lookup_transfers_in,
};
use ledger::*;
use sqlstore::Database;

const L: u32 = 156;
const START_NS: u64 = 1_700_000_000_000_000_000;
const SECOND: u64 = 1_000_000_000;

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A party database with the ledger's tables and one table of the party's own.
fn party_db(db: Database) -> Database {
    sqlstore::Database::migrate(&db, "party-1", &["CREATE TABLE party_rows (name TEXT PRIMARY KEY)"]).unwrap();
    ledger::sql_txn::migrate(&db).unwrap();
    db
}

/// The databases to run on: SQLite in memory, and a PostgreSQL schema of its own when set.
fn databases() -> Vec<(Database, Option<(String, String)>)> {
    let mut out = vec![(party_db(Database::open("sqlite::memory:").unwrap()), None)];
    if let Some(url) = std::env::var("CARDNET_TEST_PG").ok().filter(|url| !url.is_empty()) {
        let schema = format!("cardnet_sql_ledger_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        out.push((party_db(Database::connect_postgres(&url, &schema).unwrap()), Some((url, schema))));
    }
    out
}

fn drop_schema(pg: Option<(String, String)>) {
    if let Some((url, schema)) = pg {
        sqlstore::drop_postgres_schema(&url, &schema).unwrap();
    }
}

/// Batches of a day: accounts, funding, holds (one over the limit), a partial post, a void, a
/// resubmission, a linked chain that fails, and holds that expire.
fn accounts() -> Vec<Account> {
    vec![
        Account::new(1, L, 100).with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
        Account::new(2, L, 200),
        Account::new(3, L, 300),
        Account::new(2, L, 200),
    ]
}

fn transfer_batches() -> Vec<Vec<Transfer>> {
    let hold = |id: Id, amount: u64, timeout: u32| Transfer {
        timeout,
        ..Transfer::new(id, 1, 2, amount, L, 1).with_flags(TransferFlags::PENDING)
    };
    let post = |id: Id, pending: Id, amount: u64| {
        Transfer { pending_id: pending, amount, ..Transfer::new(id, 0, 0, 0, 0, 0) }
            .with_flags(TransferFlags::POST_PENDING_TRANSFER)
    };
    let void = |id: Id, pending: Id| {
        Transfer { pending_id: pending, ..Transfer::new(id, 0, 0, 0, 0, 0) }
            .with_flags(TransferFlags::VOID_PENDING_TRANSFER)
    };
    vec![
        vec![Transfer::new(10, 3, 1, 1_000, L, 8)],
        vec![hold(11, 300, 60), hold(12, 800, 60), hold(13, 200, 1)],
        vec![post(14, 11, 250), void(15, 13), post(14, 11, 250), void(16, 11)],
        vec![Transfer::new(17, 3, 1, 50, L, 8).with_flags(TransferFlags::LINKED), Transfer::new(18, 1, 2, 5_000, L, 1)],
        vec![hold(19, 100, 2), Transfer::new(10, 3, 1, 1_000, L, 8)],
    ]
}

#[test]
fn in_transaction_batches_match_the_batch_api() {
    for (db, pg) in databases() {
        let clock = ManualClock::new(START_NS);
        let mut reference = Ledger::open(MemoryStore::new(), clock.clone()).unwrap();
        let expected = reference.create_accounts(&accounts()).unwrap();
        let got = db.transaction(|tx| create_accounts_in(tx, clock.now_ns(), &accounts())).unwrap();
        assert_eq!(got, expected);
        for batch in transfer_batches() {
            clock.advance_ns(SECOND);
            let expected = reference.create_transfers(&batch).unwrap();
            let got = db.transaction(|tx| create_transfers_in(tx, clock.now_ns(), &batch)).unwrap();
            assert_eq!(got, expected, "batch {batch:?}");
        }
        clock.advance_ns(5 * SECOND);
        let expected = reference.expire_pending().unwrap();
        let got = db.transaction(|tx| expire_pending_in(tx, clock.now_ns())).unwrap();
        assert_eq!((got, expected), (1, 1), "the 2-second hold expired; the 60-second one was posted");
        let account_ids = [1, 2, 3];
        let transfer_ids: Vec<Id> = (10..=19).collect();
        let accounts_want = reference.lookup_accounts(&account_ids).unwrap();
        let transfers_want = reference.lookup_transfers(&transfer_ids).unwrap();
        let (accounts_got, transfers_got) = db
            .transaction(|tx| Ok((lookup_accounts_in(tx, &account_ids)?, lookup_transfers_in(tx, &transfer_ids)?)))
            .unwrap();
        assert_eq!(accounts_got, accounts_want);
        assert_eq!(transfers_got, transfers_want);
        let report = db.transaction(check_invariants_in).unwrap();
        assert!(report.holds() && report.ledgers == 1, "{report:?}");
        // The batch API over the same tables agrees with the in-transaction reads.
        let mut store = ledger::sql_ledger::SqlStore::open(db.clone()).unwrap();
        assert!(invariants::check(&mut store).unwrap().holds());
        assert_eq!(store.lookup_accounts(&account_ids).unwrap(), accounts_want);
        drop_schema(pg);
    }
}

#[test]
fn the_ledger_commits_and_rolls_back_with_the_callers_rows() {
    for (db, pg) in databases() {
        let now = START_NS;
        db.transaction(|tx| create_accounts_in(tx, now, &accounts()[..3])).unwrap();
        // The caller fails after the ledger moved money: neither its row nor the transfer stays.
        let failed: sqlstore::Result<()> = db.transaction(|tx| {
            let results = create_transfers_in(tx, now, &[Transfer::new(20, 3, 1, 700, L, 8)])?;
            assert_eq!(results, vec![CreateTransferResult::Ok]);
            tx.execute("INSERT INTO party_rows (name) VALUES ($1)", &["first".into()])?;
            Err(sqlstore::Error::new("test", "the caller's own write failed"))
        });
        assert!(failed.is_err());
        let (transfers, rows, accounts) = db
            .transaction(|tx| {
                Ok((
                    lookup_transfers_in(tx, &[20])?,
                    tx.query("SELECT name FROM party_rows", &[])?.len(),
                    lookup_accounts_in(tx, &[1])?,
                ))
            })
            .unwrap();
        assert_eq!((transfers.len(), rows), (0, 0));
        assert_eq!(accounts[0].credits_posted, 0);
        // Committed together: both are there.
        db.transaction(|tx| {
            create_transfers_in(tx, now, &[Transfer::new(20, 3, 1, 700, L, 8)])?;
            tx.execute("INSERT INTO party_rows (name) VALUES ($1)", &["second".into()])?;
            Ok(())
        })
        .unwrap();
        let (transfers, rows) = db
            .transaction(|tx| {
                Ok((lookup_transfers_in(tx, &[20])?, tx.query("SELECT name FROM party_rows", &[])?.len()))
            })
            .unwrap();
        assert_eq!((transfers.len(), rows), (1, 1));
        drop_schema(pg);
    }
}

#[test]
fn timestamps_continue_after_the_stored_ones() {
    for (db, pg) in databases() {
        let late = START_NS + 1_000 * SECOND;
        let stamps = db
            .transaction(|tx| {
                create_accounts_in(tx, late, &accounts()[..3])?;
                Ok(lookup_accounts_in(tx, &[1, 2, 3])?.iter().map(|a| a.timestamp).collect::<Vec<u64>>())
            })
            .unwrap();
        assert_eq!(stamps, vec![late, late + 1, late + 2]);
        // Another process with a clock behind: its events still come after.
        db.transaction(|tx| create_transfers_in(tx, START_NS, &[Transfer::new(30, 3, 1, 5, L, 8)])).unwrap();
        let record = db.transaction(|tx| lookup_transfers_in(tx, &[30])).unwrap();
        assert_eq!(record[0].transfer.timestamp, late + 3);
        // Too large a batch is refused before anything is read.
        let too_many = vec![Transfer::new(31, 3, 1, 5, L, 8); BATCH_EVENTS_MAX + 1];
        let refused = db.transaction(|tx| create_transfers_in(tx, late, &too_many));
        assert!(refused.unwrap_err().to_string().contains("at most"));
        drop_schema(pg);
    }
}

/// One `sqlstore` batch holding the day's ledger batches, one transaction each, as a party's
/// pipeline runs them: the batch keeps the accounts and the highest timestamp it reads and writes
/// them at its end, so every transaction must see the ones before it, an undone one must leave
/// nothing, and the committed tables must equal the batch API's.
#[test]
fn ledger_batches_inside_one_party_batch_see_each_other_and_commit_once() {
    for (db, pg) in databases() {
        let clock = ManualClock::new(START_NS);
        let mut reference = Ledger::open(MemoryStore::new(), clock.clone()).unwrap();
        reference.create_accounts(&accounts()).unwrap();
        db.transaction(|tx| create_accounts_in(tx, clock.now_ns(), &accounts())).unwrap();
        let account_ids = [1, 2, 3];
        let inside = db
            .batch(|| {
                for (round, batch) in transfer_batches().into_iter().enumerate() {
                    clock.advance_ns(SECOND);
                    let expected = reference.create_transfers(&batch).unwrap();
                    let got = db.transaction(|tx| create_transfers_in(tx, clock.now_ns(), &batch)).unwrap();
                    assert_eq!(got, expected, "batch {batch:?}");
                    let seen = db.transaction(|tx| lookup_accounts_in(tx, &account_ids)).unwrap();
                    assert_eq!(seen, reference.lookup_accounts(&account_ids).unwrap(), "after round {round}");
                    // A transaction that moves money and then fails leaves nothing.
                    let undone = db.transaction(|tx| {
                        create_transfers_in(tx, clock.now_ns(), &[Transfer::new(900 + round as Id, 3, 1, 7, L, 8)])?;
                        Err::<(), _>(sqlstore::Error::new("test", "the caller's own write failed"))
                    });
                    assert!(undone.is_err());
                }
                db.transaction(check_invariants_in).unwrap()
            })
            .unwrap();
        assert!(inside.holds(), "{inside:?}");
        let transfer_ids: Vec<Id> = (10..=19).chain(900..905).collect();
        let (accounts_got, transfers_got) = db
            .transaction(|tx| Ok((lookup_accounts_in(tx, &account_ids)?, lookup_transfers_in(tx, &transfer_ids)?)))
            .unwrap();
        assert_eq!(accounts_got, reference.lookup_accounts(&account_ids).unwrap());
        assert_eq!(transfers_got, reference.lookup_transfers(&transfer_ids).unwrap());
        // The highest timestamp was written once, at the end: the next batch continues after it.
        let mut store = ledger::sql_ledger::SqlStore::open(db.clone()).unwrap();
        assert_eq!(store.max_timestamp().unwrap(), reference.lookup_transfers(&[19]).unwrap()[0].transfer.timestamp);
        assert!(invariants::check(&mut store).unwrap().holds());
        drop_schema(pg);
    }
}

/// The first ledger transaction of a party batch reads (on PostgreSQL: locks) `ledger_meta` and
/// keeps it; undone, it takes the kept row with it, and the next one reads and locks it again:
/// the batch commits what the second did, at timestamps after the stored ones.
#[test]
fn an_undone_first_ledger_transaction_leaves_the_next_to_lock_again() {
    for (db, pg) in databases() {
        let clock = ManualClock::new(START_NS);
        db.transaction(|tx| create_accounts_in(tx, clock.now_ns(), &accounts()[..3])).unwrap();
        let before = ledger::sql_ledger::SqlStore::open(db.clone()).unwrap().max_timestamp().unwrap();
        db.batch(|| {
            let undone = db.transaction(|tx| {
                create_transfers_in(tx, clock.now_ns(), &[Transfer::new(20, 3, 1, 500, L, 8)])?;
                Err::<(), _>(sqlstore::Error::new("test", "the caller's own write failed"))
            });
            assert!(undone.is_err());
            let done =
                db.transaction(|tx| create_transfers_in(tx, clock.now_ns(), &[Transfer::new(21, 3, 1, 70, L, 8)]));
            assert_eq!(done.unwrap(), [CreateTransferResult::Ok]);
        })
        .unwrap();
        let transfers = db.transaction(|tx| lookup_transfers_in(tx, &[20, 21])).unwrap();
        assert_eq!(transfers.iter().map(|r| r.transfer.id).collect::<Vec<_>>(), [21]);
        assert!(transfers[0].transfer.timestamp > before);
        let mut store = ledger::sql_ledger::SqlStore::open(db.clone()).unwrap();
        assert_eq!(store.max_timestamp().unwrap(), transfers[0].transfer.timestamp);
        let balances = store.lookup_accounts(&[1, 3]).unwrap();
        assert_eq!((balances[0].credits_posted, balances[1].debits_posted), (70, 70));
        assert!(invariants::check(&mut store).unwrap().holds());
        drop_schema(pg);
    }
}
