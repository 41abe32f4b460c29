//! The PostgreSQL store against a live server (`CARDNET_TEST_PG`, e.g.
//! `postgres://postgres@127.0.0.1:5432/test`): the smoke scenario, a reconnect, the same random
//! workload as the in-memory store with identical answers, and two ledgers — in two threads and
//! in two processes — writing overlapping batches at once. Each test uses its own schema and
//! drops it. Without `CARDNET_TEST_PG` every test says SKIPPED and passes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ledger::memory::MemoryStore;
use ledger::postgres::{PostgresStore, drop_schema};
use ledger::*;

/// The server, or `None` after saying SKIPPED.
fn server() -> Option<String> {
    match std::env::var("CARDNET_TEST_PG") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("SKIPPED: CARDNET_TEST_PG not set");
            None
        }
    }
}

/// A schema for one test, dropped when the guard goes out of scope (also when the test panics).
struct Schema {
    url: String,
    name: String,
}

impl Schema {
    fn new(url: &str, test: &str) -> Schema {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!("cardnet_test_{}_{}_{}", test, std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        // A leftover from a crashed run with the same pid.
        drop_schema(url, &name).unwrap();
        Schema { url: url.to_owned(), name }
    }

    fn connect(&self) -> PostgresStore {
        PostgresStore::connect(&self.url, &self.name).unwrap()
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Err(e) = drop_schema(&self.url, &self.name) {
            eprintln!("dropping schema {}: {e}", self.name);
        }
    }
}

const START_NS: u64 = 1_700_000_000_000_000_000;

#[test]
fn two_phase_transfer_on_postgres() {
    let Some(url) = server() else { return };
    let schema = Schema::new(&url, "smoke");
    let clock = ManualClock::new(1_000_000_000_000);
    let mut ledger = Ledger::open(schema.connect(), clock.clone()).unwrap();
    let results = ledger
        .create_accounts(&[
            Account::new(1, 156, 1).with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
            Account::new(2, 156, 2),
        ])
        .unwrap();
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    let fund = Transfer::new(10, 2, 1, 1_000, 156, 1);
    let hold = Transfer { timeout: 60, ..Transfer::new(11, 1, 2, 300, 156, 1).with_flags(TransferFlags::PENDING) };
    let post = Transfer { pending_id: 11, amount: 200, ..Transfer::new(12, 0, 0, 0, 0, 0) }
        .with_flags(TransferFlags::POST_PENDING_TRANSFER);
    let results = ledger.create_transfers(&[fund, hold, post]).unwrap();
    assert_eq!(results, vec![CreateTransferResult::Ok; 3]);
    let accounts = ledger.lookup_accounts(&[1]).unwrap();
    assert_eq!((accounts[0].debits_posted, accounts[0].debits_pending, accounts[0].credits_posted), (200, 0, 1_000));
    let again = Transfer { id: 13, ..post };
    assert_eq!(
        ledger.create_transfers(&[again, post]).unwrap(),
        vec![CreateTransferResult::PendingTransferAlreadyPosted, CreateTransferResult::Exists]
    );
    let big = Transfer::new(14, 1, 2, 801, 156, 1);
    assert_eq!(ledger.create_transfers(&[big]).unwrap(), vec![CreateTransferResult::ExceedsCredits]);
    let hold = Transfer { timeout: 5, ..Transfer::new(15, 1, 2, 100, 156, 1).with_flags(TransferFlags::PENDING) };
    assert_eq!(ledger.create_transfers(&[hold]).unwrap(), vec![CreateTransferResult::Ok]);
    assert_eq!(ledger.expire_pending().unwrap(), 0);
    clock.advance_seconds(6);
    assert_eq!(ledger.expire_pending().unwrap(), 1);
    assert_eq!(ledger.lookup_accounts(&[1]).unwrap()[0].debits_pending, 0);
    let stored = ledger.lookup_transfers(&[11, 15, 99, 10]).unwrap();
    let status: Vec<(u128, PendingStatus)> = stored.iter().map(|r| (r.transfer.id, r.status)).collect();
    assert_eq!(
        status,
        vec![(11, PendingStatus::Posted), (15, PendingStatus::Expired), (10, PendingStatus::None)],
        "answers in request order, missing ones left out"
    );
    let history: Vec<u128> = ledger.account_transfers(1, 10).unwrap().iter().map(|r| r.transfer.id).collect();
    assert_eq!(history, vec![10, 11, 12, 15]);
    assert_eq!(ledger.account_transfers(1, 2).unwrap().len(), 2);
    let report = invariants::check(ledger.store()).unwrap();
    assert!(report.holds(), "{report:?}");
    assert_eq!(report.ledgers, 1);
}

#[test]
fn reconnecting_sees_the_same_state() {
    let Some(url) = server() else { return };
    let schema = Schema::new(&url, "reconnect");
    let clock = ManualClock::new(START_NS);
    // Every field at its extremes survives the round trip.
    let wide = Account {
        user_data_128: u128::MAX,
        user_data_64: u64::MAX,
        user_data_32: u32::MAX,
        ..Account::new(u128::MAX - 1, u32::MAX, u16::MAX).with_flags(AccountFlags::HISTORY)
    };
    let other = Account::new(1 << 120, u32::MAX, 1).with_flags(AccountFlags::HISTORY);
    let transfer = Transfer {
        user_data_128: u128::MAX - 7,
        user_data_64: u64::MAX - 1,
        user_data_32: u32::MAX,
        timeout: u32::MAX,
        ..Transfer::new(u128::MAX - 2, wide.id, other.id, AMOUNT_MAX, u32::MAX, u16::MAX)
            .with_flags(TransferFlags::PENDING)
    };
    let (accounts, transfers, balances, last) = {
        let mut ledger = Ledger::open(schema.connect(), clock.clone()).unwrap();
        assert!(ledger.create_accounts(&[wide, other]).unwrap().iter().all(|r| r.is_ok()));
        assert_eq!(ledger.create_transfers(&[transfer]).unwrap(), vec![CreateTransferResult::Ok]);
        let accounts = ledger.lookup_accounts(&[wide.id, other.id]).unwrap();
        let transfers = ledger.lookup_transfers(&[transfer.id]).unwrap();
        let balances = ledger.account_balances(wide.id, 10).unwrap();
        let last = transfers[0].transfer.timestamp;
        (accounts, transfers, balances, last)
    };
    assert_eq!(
        accounts[0],
        Account { timestamp: accounts[0].timestamp, debits_pending: AMOUNT_MAX, ..wide },
        "every field as created"
    );
    assert_eq!(accounts[0].timestamp, START_NS);
    assert_eq!(transfers[0].transfer, Transfer { timestamp: last, ..transfer });
    assert_eq!(transfers[0].expires_at, last + u64::from(u32::MAX) * 1_000_000_000);
    assert_eq!(balances.len(), 1);
    assert_eq!(balances[0].debits_pending, AMOUNT_MAX);

    // A new connection, a new ledger, a clock that went back: the same rows, later timestamps.
    clock.set_ns(1);
    let mut ledger = Ledger::open(schema.connect(), clock.clone()).unwrap();
    assert_eq!(ledger.lookup_accounts(&[wide.id, other.id]).unwrap(), accounts);
    assert_eq!(ledger.lookup_transfers(&[transfer.id]).unwrap(), transfers);
    assert_eq!(ledger.account_balances(wide.id, 10).unwrap(), balances);
    assert_eq!(ledger.create_transfers(&[transfer]).unwrap(), vec![CreateTransferResult::Exists]);
    let void = Transfer { pending_id: transfer.id, ..Transfer::new(5, 0, 0, 0, 0, 0) }
        .with_flags(TransferFlags::VOID_PENDING_TRANSFER);
    assert_eq!(ledger.create_transfers(&[void]).unwrap(), vec![CreateTransferResult::Ok]);
    let stored = ledger.lookup_transfers(&[5]).unwrap();
    assert!(stored[0].transfer.timestamp > last, "{} after {last}", stored[0].transfer.timestamp);
    let report = invariants::check(ledger.store()).unwrap();
    assert!(report.holds(), "{report:?}");
    // Connecting to an existing schema again is fine (the DDL is idempotent).
    drop(ledger);
    let mut store = schema.connect();
    assert_eq!(store.max_timestamp().unwrap(), stored[0].transfer.timestamp);
}

/// The server ends the store's connection (a restart, an idle timeout): the next call opens a
/// new one.
#[test]
fn a_closed_connection_is_opened_again() {
    let Some(url) = server() else { return };
    let schema = Schema::new(&url, "closed");
    let name = format!("cardnet_closed_{}", std::process::id());
    let tagged = format!("{url}{}application_name={name}", if url.contains('?') { '&' } else { '?' });
    let mut ledger = Ledger::open(PostgresStore::connect(&tagged, &schema.name).unwrap(), SystemClock).unwrap();
    assert!(ledger.create_accounts(&[Account::new(1, 1, 1), Account::new(2, 1, 1)]).unwrap().iter().all(|r| r.is_ok()));
    let mut admin = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    let mut terminate = || {
        let ended = admin
            .query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", &[&name])
            .unwrap();
        assert_eq!(ended.len(), 1);
        std::thread::sleep(Duration::from_millis(100));
    };
    terminate();
    let transfer = Transfer::new(10, 1, 2, 5, 1, 1);
    // The batch meets the closed connection before its commit: it runs again on a new one.
    let results = ledger.create_transfers(&[transfer]).unwrap();
    assert_eq!(results, vec![CreateTransferResult::Ok]);
    // So does a read.
    terminate();
    assert_eq!(ledger.lookup_accounts(&[2]).unwrap()[0].credits_posted, 5);
    terminate();
    let report = invariants::check(ledger.store()).unwrap();
    assert!(report.holds(), "{report:?}");
}

/// xorshift64*: a reproducible workload.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// One random transfer event over `accounts`, resolving or resubmitting earlier ones.
fn random_transfer(rng: &mut Rng, id: u128, accounts: &[u128], earlier: &[Transfer]) -> Transfer {
    let debit = rng.pick(accounts);
    let credit = if rng.below(20) == 0 { debit } else { rng.pick(accounts) };
    let amount = 1 + rng.below(500);
    let mut t = match rng.below(12) {
        0..=3 => Transfer::new(id, debit, credit, amount, 1, 1),
        4..=5 => Transfer { timeout: rng.below(4) as u32, ..Transfer::new(id, debit, credit, amount, 1, 1) }
            .with_flags(TransferFlags::PENDING),
        6..=7 => {
            let pending_id = if earlier.is_empty() || rng.below(10) == 0 { 99_999 } else { rng.pick(earlier).id };
            let amount = if rng.below(2) == 0 { 0 } else { rng.below(300) };
            let flags = if rng.below(3) == 0 {
                TransferFlags::VOID_PENDING_TRANSFER
            } else {
                TransferFlags::POST_PENDING_TRANSFER
            };
            Transfer { pending_id, amount, ..Transfer::new(id, 0, 0, 0, 0, 0) }.with_flags(flags)
        }
        8 => Transfer::new(id, debit, credit, amount, 1, 1).with_flags(if rng.below(2) == 0 {
            TransferFlags::BALANCING_DEBIT
        } else {
            TransferFlags::BALANCING_CREDIT
        }),
        9 if !earlier.is_empty() => {
            let mut again = rng.pick(earlier);
            if rng.below(3) == 0 {
                again.user_data_64 ^= 1;
            }
            again
        }
        10 => Transfer::new(id, debit, credit, amount, 2, 1),
        _ => Transfer { user_data_128: u128::MAX - id, ..Transfer::new(id, debit, credit, amount, 1, 7) },
    };
    if rng.below(8) == 0 {
        t.flags = t.flags.union(TransferFlags::LINKED);
    }
    t
}

fn accounts_for_model() -> Vec<Account> {
    (1..=24u128)
        .map(|id| {
            let flags = match id % 6 {
                0 => AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
                1 => AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
                2 => AccountFlags::HISTORY,
                _ => AccountFlags::default(),
            };
            Account { user_data_64: u64::MAX - id as u64, ..Account::new(id, if id > 20 { 2 } else { 1 }, 1) }
                .with_flags(flags)
        })
        .collect()
}

/// The same workload on the in-memory store and on PostgreSQL: the same answers, the same
/// rows, the same history.
#[test]
fn answers_as_the_memory_store_does() {
    let Some(url) = server() else { return };
    let schema = Schema::new(&url, "model");
    let pg_clock = ManualClock::new(START_NS);
    let memory_clock = ManualClock::new(START_NS);
    let mut pg = Ledger::open(schema.connect(), pg_clock.clone()).unwrap();
    let mut memory = Ledger::open(MemoryStore::new(), memory_clock.clone()).unwrap();
    let mut accounts = accounts_for_model();
    // A duplicate and a linked chain that fails.
    accounts.push(accounts[3]);
    accounts.push(Account::new(100, 1, 1).with_flags(AccountFlags::LINKED));
    accounts.push(Account::new(101, 0, 1));
    assert_eq!(pg.create_accounts(&accounts).unwrap(), memory.create_accounts(&accounts).unwrap());
    assert_eq!(pg.create_accounts(&accounts[..5]).unwrap(), memory.create_accounts(&accounts[..5]).unwrap());
    let ids: Vec<u128> = (1..=24).chain([100, 101, 999]).collect();

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut earlier: Vec<Transfer> = Vec::new();
    let mut next_id = 1_000u128;
    for round in 0..60 {
        // Mostly small batches, and a few large ones (written with COPY).
        let size = if round % 20 == 10 { 1_500 + rng.below(1_000) as usize } else { 1 + rng.below(40) as usize };
        let batch: Vec<Transfer> = (0..size)
            .map(|_| {
                next_id += 1;
                random_transfer(&mut rng, next_id, &ids, &earlier)
            })
            .collect();
        let expected = memory.create_transfers(&batch).unwrap();
        assert_eq!(pg.create_transfers(&batch).unwrap(), expected, "round {round}");
        earlier.extend(batch);
        let seconds = rng.below(2);
        pg_clock.advance_seconds(seconds);
        memory_clock.advance_seconds(seconds);
        if rng.below(4) == 0 {
            assert_eq!(pg.expire_pending().unwrap(), memory.expire_pending().unwrap(), "round {round}");
        }
    }
    let transfer_ids: Vec<u128> = earlier.iter().map(|t| t.id).chain([99_999, 5]).collect();
    assert_eq!(pg.lookup_transfers(&transfer_ids).unwrap(), memory.lookup_transfers(&transfer_ids).unwrap());
    assert_eq!(pg.lookup_accounts(&ids).unwrap(), memory.lookup_accounts(&ids).unwrap());
    for &id in &ids {
        for limit in [3, 10_000] {
            assert_eq!(pg.account_transfers(id, limit).unwrap(), memory.account_transfers(id, limit).unwrap());
            assert_eq!(pg.account_balances(id, limit).unwrap(), memory.account_balances(id, limit).unwrap());
        }
    }
    assert_eq!(pg.store().ledger_totals().unwrap(), memory.store().ledger_totals().unwrap());
    assert_eq!(pg.store().max_timestamp().unwrap(), memory.store().max_timestamp().unwrap());
    let report = invariants::check(pg.store()).unwrap();
    assert!(report.holds(), "{report:?}");
    assert_eq!(report.ledgers, 2);
}

#[test]
fn processes_starting_at_once_create_the_schema_once() {
    let Some(url) = server() else { return };
    let schema = Schema::new(&url, "start");
    let barrier = Arc::new(Barrier::new(4));
    let starters: Vec<_> = (0..4)
        .map(|_| {
            let (url, name, barrier) = (url.clone(), schema.name.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                PostgresStore::connect(&url, &name).map(|_| ())
            })
        })
        .collect();
    for starter in starters {
        starter.join().unwrap().unwrap();
    }
    let mut ledger = Ledger::open(schema.connect(), SystemClock).unwrap();
    assert_eq!(ledger.create_accounts(&[Account::new(1, 1, 1)]).unwrap(), vec![CreateAccountResult::Ok]);
}

// ---------------------------------------------------------------------------------------------
// Two writers at once.

/// Accounts: 1 and 2 are hot (in most transfers), 3 may not go into debit, 4..=40 are spread.
const CONTENDED_ACCOUNTS: u128 = 40;
const LIMITED: u128 = 3;
/// Pending transfers created before the writers start; both writers post or void them.
const PENDINGS: u128 = 300;
const PENDING_BASE: u128 = 100_000;
const ROUNDS: u64 = 40;

fn pending_id(k: u128) -> u128 {
    PENDING_BASE + k
}

fn set_up_contention(store: PostgresStore) {
    let mut ledger = Ledger::open(store, SystemClock).unwrap();
    let accounts: Vec<Account> = (1..=CONTENDED_ACCOUNTS)
        .map(|id| {
            let account = Account::new(id, 1, 1);
            if id == LIMITED { account.with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS) } else { account }
        })
        .collect();
    assert!(ledger.create_accounts(&accounts).unwrap().iter().all(|r| r.is_ok()));
    let pendings: Vec<Transfer> = (0..PENDINGS)
        .map(|k| {
            let debit = 4 + k % (CONTENDED_ACCOUNTS - 4);
            let credit = if k % 2 == 0 { 1 } else { 2 };
            // A quarter time out after a second, while the writers post and void them.
            let timeout = if k % 4 == 0 { 1 } else { 0 };
            Transfer { timeout, ..Transfer::new(pending_id(k), debit, credit, 100 + k as u64, 1, 1) }
                .with_flags(TransferFlags::PENDING)
        })
        .collect();
    assert!(ledger.create_transfers(&pendings).unwrap().iter().all(|r| r.is_ok()));
}

/// What one writer saw: the transfers it created (`Ok`), and how often it expired pendings.
#[derive(Debug, Default)]
struct WriterReport {
    created: Vec<u128>,
    submitted: Vec<u128>,
    expired: usize,
}

/// One writer's batches: transfers both writers submit (same ids and contents, in a different
/// order), transfers of its own, posts (writer 0) and voids (writer 1) of the same pending
/// transfers, debits of the limited account, a linked chain, and an expiry sweep now and then.
fn contend(store: PostgresStore, writer: u64) -> WriterReport {
    let mut ledger = Ledger::open(store, SystemClock).unwrap();
    let mut report = WriterReport::default();
    let mut rng = Rng(0xC0FF_EE00 + writer);
    for round in 0..ROUNDS {
        let mut batch = Vec::new();
        let mut shared_rng = Rng(0xABCD_0000 + round);
        for i in 0..30u64 {
            let id = 1_000_000 + u128::from(round * 100 + i);
            let other = 4 + u128::from(shared_rng.below(36));
            let (debit, credit) = if i % 2 == 0 { (1, other) } else { (other, 2) };
            batch.push(Transfer::new(id, debit, credit, 1 + shared_rng.below(1_000), 1, 1));
        }
        if writer == 1 {
            batch.reverse();
        }
        for i in 0..20u64 {
            let id = 10_000_000 * u128::from(writer + 1) + u128::from(round * 100 + i);
            let (a, b) = (4 + u128::from(rng.below(36)), 1 + u128::from(rng.below(2)));
            let (debit, credit) = if rng.below(2) == 0 { (a, b) } else { (b, a) };
            let flags = if rng.below(5) == 0 { TransferFlags::LINKED } else { TransferFlags::default() };
            batch.push(Transfer::new(id, debit, credit, 1 + rng.below(1_000), 1, 1).with_flags(flags));
        }
        // Fund and drain the limited account: whether a debit fits depends on the other writer.
        let id = 10_000_000 * u128::from(writer + 1) + u128::from(round * 100 + 50);
        batch.push(Transfer::new(id, 2, LIMITED, 300, 1, 1));
        for i in 0..3u64 {
            let id = 10_000_000 * u128::from(writer + 1) + u128::from(round * 100 + 51 + i);
            batch.push(Transfer::new(id, LIMITED, 1, 250, 1, 1));
        }
        // Both writers resolve the same pendings, with ids of their own. Six a round picked at
        // random in a window of twenty that moves on four a round: a pending not yet resolved is often in
        // both writers' batches at once, whoever is ahead. Four in opposite orders: each wins its
        // first ones, and they meet in the middle.
        let mut targets: Vec<u64> = (0..6).map(|_| round * 4 + rng.below(20)).collect();
        targets.extend((0..4).map(|j| {
            let step = round * 4 + j;
            if writer == 0 { 160 + step } else { PENDINGS as u64 - 1 - step }
        }));
        targets.sort_unstable();
        targets.dedup();
        for (j, k) in targets.into_iter().enumerate().filter(|(_, k)| *k < PENDINGS as u64) {
            let id = 10_000_000 * u128::from(writer + 1) + u128::from(round * 100 + 60 + j as u64);
            let flags =
                if writer == 0 { TransferFlags::POST_PENDING_TRANSFER } else { TransferFlags::VOID_PENDING_TRANSFER };
            let amount = if writer == 0 && j % 2 == 0 { 50 } else { 0 };
            batch.push(
                Transfer { pending_id: pending_id(u128::from(k)), amount, ..Transfer::new(id, 0, 0, 0, 0, 0) }
                    .with_flags(flags),
            );
        }
        let results = ledger.create_transfers(&batch).unwrap();
        for (t, r) in batch.iter().zip(&results) {
            report.submitted.push(t.id);
            if *r == CreateTransferResult::Ok {
                report.created.push(t.id);
            }
        }
        if round % 8 == 7 {
            report.expired += ledger.expire_pending().unwrap();
        }
        if round == ROUNDS / 2 {
            // Let the one-second pendings time out during the second half.
            std::thread::sleep(Duration::from_millis(1_100));
        }
    }
    report.expired += ledger.expire_pending().unwrap();
    report
}

/// After the writers: every transfer stored once, created by exactly one writer; every pending
/// resolved at most once; balances equal what the stored transfers say; invariants hold.
fn check_contention(schema: &Schema, reports: &[WriterReport]) {
    let mut store = schema.connect();
    let mut created: HashMap<u128, usize> = HashMap::new();
    for report in reports {
        for &id in &report.created {
            *created.entry(id).or_default() += 1;
        }
    }
    let duplicates: Vec<_> = created.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicates.is_empty(), "created by both writers: {duplicates:?}");
    let submitted: HashSet<u128> = reports.iter().flat_map(|r| r.submitted.iter().copied()).collect();
    let submitted: Vec<u128> = submitted.into_iter().collect();
    let stored: HashSet<u128> = store.lookup_transfers(&submitted).unwrap().iter().map(|r| r.transfer.id).collect();
    let created_ids: HashSet<u128> = created.keys().copied().collect();
    assert_eq!(stored, created_ids, "stored transfers are exactly the ones a writer created");
    // Shared ids: one writer created each (the other was told `exists`).
    let shared = submitted.iter().filter(|&&id| (1_000_000..2_000_000).contains(&id)).count();
    assert_eq!(shared as u64, ROUNDS * 30);

    let pendings: Vec<u128> = (0..PENDINGS).map(pending_id).collect();
    let pendings = store.lookup_transfers(&pendings).unwrap();
    let mut resolutions: HashMap<u128, Vec<Transfer>> = HashMap::new();
    let mut transfers: BTreeMap<u128, Transfer> = BTreeMap::new();
    for account in 1..=CONTENDED_ACCOUNTS {
        for record in store.account_transfers(account, 1_000_000).unwrap() {
            transfers.insert(record.transfer.id, record.transfer);
        }
    }
    for t in transfers.values().filter(|t| t.resolves_pending()) {
        resolutions.entry(t.pending_id).or_default().push(*t);
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &pendings {
        let resolved = resolutions.get(&p.transfer.id).map_or(&[][..], |v| v.as_slice());
        assert!(resolved.len() <= 1, "pending {} resolved by {resolved:?}", p.transfer.id);
        let (name, expected) = match p.status {
            PendingStatus::Posted => ("posted", Some(TransferFlags::POST_PENDING_TRANSFER)),
            PendingStatus::Voided => ("voided", Some(TransferFlags::VOID_PENDING_TRANSFER)),
            PendingStatus::Expired => ("expired", None),
            PendingStatus::Pending => ("pending", None),
            PendingStatus::None => panic!("{p:?}"),
        };
        *counts.entry(name).or_default() += 1;
        match expected {
            Some(flag) => assert!(resolved.len() == 1 && resolved[0].flags.contains(flag), "{p:?}: {resolved:?}"),
            None => assert!(resolved.is_empty(), "{p:?}: {resolved:?}"),
        }
    }
    eprintln!(
        "pendings after the writers: {counts:?}; expired by sweeps: {}",
        reports.iter().map(|r| r.expired).sum::<usize>()
    );
    assert!(counts.get("posted").is_some_and(|&n| n > 0) && counts.get("voided").is_some_and(|&n| n > 0), "{counts:?}");

    // Every balance is what the stored transfers add up to.
    let status: HashMap<u128, PendingStatus> = pendings.iter().map(|p| (p.transfer.id, p.status)).collect();
    let mut expected: HashMap<u128, [u64; 4]> = HashMap::new();
    for t in transfers.values() {
        let posted = !t.is_pending() && !t.flags.contains(TransferFlags::VOID_PENDING_TRANSFER);
        let pending = t.is_pending() && status.get(&t.id).is_none_or(|s| *s == PendingStatus::Pending);
        if posted || pending {
            let slot = if posted { 1 } else { 0 };
            expected.entry(t.debit_account_id).or_default()[slot] += t.amount;
            expected.entry(t.credit_account_id).or_default()[2 + slot] += t.amount;
        }
    }
    let ids: Vec<u128> = (1..=CONTENDED_ACCOUNTS).collect();
    for account in store.lookup_accounts(&ids).unwrap() {
        let balances = [account.debits_pending, account.debits_posted, account.credits_pending, account.credits_posted];
        assert_eq!(balances, expected.get(&account.id).copied().unwrap_or_default(), "account {}", account.id);
        if account.id == LIMITED {
            assert!(account.debits_pending + account.debits_posted <= account.credits_posted, "{account:?}");
        }
    }
    let report = invariants::check(&mut store).unwrap();
    assert!(report.holds(), "{report:?}");
    assert_eq!(store.pending_resolved_more_than_once().unwrap(), 0);
}

#[test]
fn two_ledgers_in_two_threads_keep_the_invariants() {
    let Some(url) = server() else { return };
    let schema = Schema::new(&url, "threads");
    set_up_contention(schema.connect());
    let barrier = Arc::new(Barrier::new(2));
    let writers: Vec<_> = (0..2)
        .map(|writer| {
            let store = schema.connect();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                contend(store, writer)
            })
        })
        .collect();
    // Every writer ends before anything is asserted (and the schema dropped).
    let joined: Vec<_> = writers.into_iter().map(|w| w.join()).collect();
    let reports: Vec<WriterReport> = joined.into_iter().map(|r| r.unwrap()).collect();
    check_contention(&schema, &reports);
}

const CHILD_SCHEMA: &str = "CARDNET_TEST_PG_CHILD_SCHEMA";
const CHILD_WRITER: &str = "CARDNET_TEST_PG_CHILD_WRITER";
const CHILD_OUTPUT: &str = "CARDNET_TEST_PG_CHILD_OUTPUT";
const CHILD_START_NS: &str = "CARDNET_TEST_PG_CHILD_START_NS";

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// Two OS processes, each a ledger on its own connection (this test binary, run again as
/// [`contention_child_process`]).
#[test]
fn two_ledger_processes_keep_the_invariants() {
    let Some(url) = server() else { return };
    let schema = Schema::new(&url, "processes");
    set_up_contention(schema.connect());
    let dir = std::env::temp_dir();
    // Both start at the same moment, whatever their start-up takes.
    let start = now_ns() + 500_000_000;
    let children: Vec<_> = (0..2u64)
        .map(|writer| {
            let output = dir.join(format!("{}_{writer}.out", schema.name));
            let child = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "contention_child_process", "--nocapture", "--test-threads=1"])
                .env("CARDNET_TEST_PG", &url)
                .env(CHILD_SCHEMA, &schema.name)
                .env(CHILD_WRITER, writer.to_string())
                .env(CHILD_OUTPUT, &output)
                .env(CHILD_START_NS, start.to_string())
                .spawn()
                .unwrap();
            (child, output)
        })
        .collect();
    let mut reports = Vec::new();
    // Both children end before anything is asserted (and the schema dropped).
    let ended: Vec<_> = children.into_iter().map(|(mut child, output)| (child.wait(), output)).collect();
    for (status, output) in ended {
        let status = status.unwrap();
        let text = std::fs::read_to_string(&output).unwrap_or_default();
        let _ = std::fs::remove_file(&output);
        assert!(status.success(), "child failed: {status}");
        let mut report = WriterReport::default();
        for line in text.lines() {
            let mut words = line.split(' ');
            match (words.next(), words.next().map(|w| w.parse::<u128>().unwrap())) {
                (Some("created"), Some(id)) => report.created.push(id),
                (Some("submitted"), Some(id)) => report.submitted.push(id),
                (Some("expired"), Some(n)) => report.expired = n as usize,
                _ => panic!("child wrote {line:?}"),
            }
        }
        assert!(!report.submitted.is_empty(), "child wrote nothing");
        reports.push(report);
    }
    check_contention(&schema, &reports);
}

/// Not a test on its own: the writer process of [`two_ledger_processes_keep_the_invariants`].
#[test]
fn contention_child_process() {
    let Some(url) = server() else { return };
    let Ok(schema) = std::env::var(CHILD_SCHEMA) else { return };
    let writer: u64 = std::env::var(CHILD_WRITER).unwrap().parse().unwrap();
    let output = std::env::var(CHILD_OUTPUT).unwrap();
    let start: u64 = std::env::var(CHILD_START_NS).unwrap().parse().unwrap();
    let store = PostgresStore::connect(&url, &schema).unwrap();
    std::thread::sleep(Duration::from_nanos(start.saturating_sub(now_ns())));
    let report = contend(store, writer);
    let mut file = std::io::BufWriter::new(std::fs::File::create(output).unwrap());
    for id in &report.created {
        writeln!(file, "created {id}").unwrap();
    }
    for id in &report.submitted {
        writeln!(file, "submitted {id}").unwrap();
    }
    writeln!(file, "expired {}", report.expired).unwrap();
    file.flush().unwrap();
}

// Throughput is measured by `cardnet bench ledger --backend postgres` (docs/benchmarks.md), not
// by a test.
