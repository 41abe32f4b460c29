//! Crash safety of the SQLite store. A child process (this test binary, re-invoked to run
//! `crash_child_process` only) writes batches of transfers and prints `ACK <batch>` after each
//! `create_transfers` returns; the parent kills it with SIGKILL at random moments, reopens the
//! file and checks that every acknowledged batch is there in full, that the batch in flight is
//! there in full or not at all, that the balances are exactly those of the batches present, and
//! that the invariants hold. Each new child continues from the first batch not stored.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ledger::sqlite::SqliteStore;
use ledger::*;

/// Set (to the database path) in the child's environment.
const CHILD_ENV: &str = "CARDNET_CRASH_CHILD";
/// Optional seed for the kill delays.
const SEED_ENV: &str = "CARDNET_CRASH_SEED";

const KILLS: usize = 24;
const KILL_DELAY_MS: std::ops::Range<u64> = 20..300;

const ACCOUNTS: u64 = 1_000;
/// No account has this id: a chain crediting it fails as a whole.
const MISSING_ACCOUNT: Id = 5_000;
const LEDGER_ID: u32 = 1;
/// A batch is `GROUPS` groups of `GROUP` events; the position in a group says what it is.
const GROUPS: u64 = 25;
const GROUP: u64 = 20;
const EVENTS: u64 = GROUPS * GROUP;
/// Positions 0–9 and 19: plain transfers.
const HOLD_POSTED: u64 = 10;
const HOLD_VOIDED: u64 = 11;
/// Posts (fully) the previous batch's `HOLD_POSTED` of the same group.
const POST: u64 = 12;
/// Voids the previous batch's `HOLD_VOIDED` of the same group.
const VOID: u64 = 13;
/// 14–16: a linked chain that succeeds.
const CHAIN: std::ops::RangeInclusive<u64> = 14..=16;
/// 17–18: a linked chain whose second transfer names a missing account, so neither is stored.
const FAILING_CHAIN: std::ops::RangeInclusive<u64> = 17..=18;

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn transfer_id(batch: u64, index: u64) -> Id {
    ((batch as Id + 1) << 32) | (index as Id + 1)
}

/// The events of batch `batch`: the same in the child that writes them and the parent that
/// checks them.
fn batch_events(batch: u64) -> Vec<Transfer> {
    (0..EVENTS)
        .map(|index| {
            let position = index % GROUP;
            let h = splitmix(batch << 32 | index);
            let debit = 1 + h % ACCOUNTS;
            let credit = 1 + (debit + (h >> 20) % (ACCOUNTS - 1)) % ACCOUNTS;
            let amount = 1 + (h >> 40) % 1_000;
            let id = transfer_id(batch, index);
            let plain = Transfer::new(id, debit as Id, credit as Id, amount, LEDGER_ID, 1);
            let previous = |p: u64| transfer_id(batch.wrapping_sub(1), index - position + p);
            match position {
                HOLD_POSTED | HOLD_VOIDED => plain.with_flags(TransferFlags::PENDING),
                POST if batch > 0 => Transfer { pending_id: previous(HOLD_POSTED), ..Transfer::new(id, 0, 0, 0, 0, 0) }
                    .with_flags(TransferFlags::POST_PENDING_TRANSFER),
                VOID if batch > 0 => Transfer { pending_id: previous(HOLD_VOIDED), ..Transfer::new(id, 0, 0, 0, 0, 0) }
                    .with_flags(TransferFlags::VOID_PENDING_TRANSFER),
                p if CHAIN.contains(&p) && p != *CHAIN.end() => plain.with_flags(TransferFlags::LINKED),
                p if p == *FAILING_CHAIN.start() => plain.with_flags(TransferFlags::LINKED),
                p if p == *FAILING_CHAIN.end() => Transfer { credit_account_id: MISSING_ACCOUNT, ..plain },
                _ => plain,
            }
        })
        .collect()
}

fn expected_results() -> Vec<CreateTransferResult> {
    (0..EVENTS)
        .map(|index| match index % GROUP {
            p if p == *FAILING_CHAIN.start() => CreateTransferResult::LinkedEventFailed,
            p if p == *FAILING_CHAIN.end() => CreateTransferResult::CreditAccountNotFound,
            _ => CreateTransferResult::Ok,
        })
        .collect()
}

fn stored_ids(batch: u64) -> Vec<Id> {
    (0..EVENTS).filter(|i| !FAILING_CHAIN.contains(&(i % GROUP))).map(|i| transfer_id(batch, i)).collect()
}

fn accounts() -> Vec<Account> {
    (1..=ACCOUNTS).map(|id| Account::new(id as Id, LEDGER_ID, 1)).collect()
}

/// Batches stored so far: they form a prefix 0, 1, …, n-1 (each child continues from the first
/// missing one), so search for n.
fn batches_stored(store: &mut SqliteStore) -> u64 {
    let mut stored = |batch: u64| !store.lookup_transfers(&[transfer_id(batch, 0)]).unwrap().is_empty();
    if !stored(0) {
        return 0;
    }
    // The answer n has batch low-1 stored and batch high-1 not: low <= n < high.
    let (mut low, mut high) = (1, 2);
    while stored(high - 1) {
        low = high;
        high *= 2;
    }
    while high - low > 1 {
        let middle = (low + high) / 2;
        if stored(middle - 1) { low = middle } else { high = middle }
    }
    low
}

/// The child: create the accounts, then write batches from the first missing one, forever.
#[test]
fn crash_child_process() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return; // Only meaningful when the crash test starts this binary.
    };
    let mut ledger = Ledger::open(SqliteStore::open(Path::new(&path)).unwrap(), SystemClock).unwrap();
    let results = ledger.create_accounts(&accounts()).unwrap();
    assert!(results.iter().all(|r| matches!(r, CreateAccountResult::Ok | CreateAccountResult::Exists)));
    let mut batch = batches_stored(ledger.store());
    let mut out = std::io::stdout().lock();
    writeln!(out, "START {batch}").unwrap();
    out.flush().unwrap();
    let expected = expected_results();
    loop {
        let results = ledger.create_transfers(&batch_events(batch)).unwrap();
        assert_eq!(results, expected, "batch {batch}");
        writeln!(out, "ACK {batch}").unwrap();
        out.flush().unwrap();
        batch += 1;
    }
}

#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
struct Balances {
    debits_pending: u64,
    debits_posted: u64,
    credits_pending: u64,
    credits_posted: u64,
}

/// What the accounts must hold after the batches applied so far.
#[derive(Default)]
struct Model {
    balances: HashMap<Id, Balances>,
    amounts: HashMap<Id, u64>,
}

impl Model {
    fn apply(&mut self, batch: u64) {
        for (index, t) in batch_events(batch).iter().enumerate() {
            let position = index as u64 % GROUP;
            if FAILING_CHAIN.contains(&position) {
                continue;
            }
            if t.resolves_pending() {
                let hold = if position == POST { HOLD_POSTED } else { HOLD_VOIDED };
                let pending = batch_events(batch - 1)[(index as u64 - position + hold) as usize];
                assert_eq!(pending.id, t.pending_id);
                let debit = self.balances.entry(pending.debit_account_id).or_default();
                debit.debits_pending -= pending.amount;
                if position == POST {
                    debit.debits_posted += pending.amount;
                }
                let credit = self.balances.entry(pending.credit_account_id).or_default();
                credit.credits_pending -= pending.amount;
                if position == POST {
                    credit.credits_posted += pending.amount;
                }
                // Amount 0 posts or voids the whole hold; the stored transfer carries it.
                self.amounts.insert(t.id, pending.amount);
                continue;
            } else if t.is_pending() {
                self.balances.entry(t.debit_account_id).or_default().debits_pending += t.amount;
                self.balances.entry(t.credit_account_id).or_default().credits_pending += t.amount;
            } else {
                self.balances.entry(t.debit_account_id).or_default().debits_posted += t.amount;
                self.balances.entry(t.credit_account_id).or_default().credits_posted += t.amount;
            }
            self.amounts.insert(t.id, t.amount);
        }
    }
}

/// How many of `batch`'s transfers are stored (and none of its failed chain).
fn count_stored(store: &mut SqliteStore, batch: u64) -> usize {
    let failed: Vec<Id> =
        (0..EVENTS).filter(|i| FAILING_CHAIN.contains(&(i % GROUP))).map(|i| transfer_id(batch, i)).collect();
    assert!(store.lookup_transfers(&failed).unwrap().is_empty(), "a failed chain of batch {batch} is stored");
    store.lookup_transfers(&stored_ids(batch)).unwrap().len()
}

/// Check the stored transfers of `batches` against their events and pending states.
fn check_transfers(store: &mut SqliteStore, batches: std::ops::Range<u64>, stored: u64, model: &Model) {
    for batch in batches {
        let ids = stored_ids(batch);
        let records = store.lookup_transfers(&ids).unwrap();
        assert_eq!(records.len(), ids.len(), "batch {batch} is not all there");
        for record in records {
            let t = record.transfer;
            assert_eq!(Some(&t.amount), model.amounts.get(&t.id));
            let position = (t.id as u64 & 0xFFFF_FFFF) - 1;
            let expected = match position % GROUP {
                HOLD_POSTED if batch + 1 < stored => PendingStatus::Posted,
                HOLD_VOIDED if batch + 1 < stored => PendingStatus::Voided,
                HOLD_POSTED | HOLD_VOIDED => PendingStatus::Pending,
                _ => PendingStatus::None,
            };
            assert_eq!(record.status, expected, "transfer {} of batch {batch}", position);
        }
    }
}

fn check_balances(store: &mut SqliteStore, model: &Model, batches: u64) {
    let ids: Vec<Id> = (1..=ACCOUNTS as Id).collect();
    let stored = store.lookup_accounts(&ids).unwrap();
    if batches == 0 && stored.is_empty() {
        return; // Killed before the accounts were committed.
    }
    assert_eq!(stored.len(), ids.len(), "the account batch is half there");
    for account in stored {
        let expected = model.balances.get(&account.id).copied().unwrap_or_default();
        let actual = Balances {
            debits_pending: account.debits_pending,
            debits_posted: account.debits_posted,
            credits_pending: account.credits_pending,
            credits_posted: account.credits_posted,
        };
        assert_eq!(actual, expected, "account {} after {batches} batches", account.id);
    }
    let report = invariants::check(store).unwrap();
    assert!(report.holds(), "{report:?}");
}

struct Run {
    start: Option<u64>,
    acked: Vec<u64>,
    killed: bool,
    stderr: String,
}

/// Start a child, kill it after `delay`, and collect what it said.
fn run_child(path: &Path, delay: Duration) -> Run {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--exact", "crash_child_process", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut run = Run { start: None, acked: Vec::new(), killed: false, stderr: String::new() };
    let take = |line: String, run: &mut Run| {
        if let Some(n) = line.strip_prefix("ACK ") {
            run.acked.push(n.trim().parse().unwrap());
        } else if let Some(n) = line.strip_prefix("START ") {
            run.start = Some(n.trim().parse().unwrap());
        }
    };
    let deadline = Instant::now() + delay;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => take(line, &mut run),
            Err(mpsc::RecvTimeoutError::Timeout) => break,
            Err(mpsc::RecvTimeoutError::Disconnected) => break, // The child ended by itself.
        }
    }
    if child.try_wait().unwrap().is_none() {
        child.kill().unwrap(); // SIGKILL
        run.killed = true;
    }
    child.wait().unwrap();
    // Lines the child wrote before it died are acknowledgements too.
    for line in lines.iter() {
        take(line, &mut run);
    }
    reader.join().unwrap();
    run.stderr = errors.join().unwrap();
    run
}

#[test]
fn sqlite_keeps_every_acknowledged_batch_across_sigkill() {
    let seed = std::env::var(SEED_ENV).ok().and_then(|s| s.parse().ok()).unwrap_or(0x5EED_CA4D);
    println!("crash test seed {seed} (set {SEED_ENV} to repeat)");
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let dir: PathBuf = std::env::temp_dir().join(format!("cardnet-ledger-crash-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ledger.sqlite");
    println!("database {} (kept if the test fails)", path.display());

    let mut model = Model::default();
    let mut stored: u64 = 0; // Batches 0..stored are stored and checked.
    let mut kills = 0;
    let mut rng = seed;
    for round in 0..KILLS {
        rng = splitmix(rng);
        let delay = Duration::from_millis(KILL_DELAY_MS.start + rng % (KILL_DELAY_MS.end - KILL_DELAY_MS.start));
        let run = run_child(&path, delay);
        assert!(run.killed, "round {round}: the child ended by itself:\n{}", run.stderr);
        kills += 1;
        if let Some(start) = run.start {
            assert_eq!(start, stored, "round {round}: the child started at the wrong batch");
        }
        for (i, &batch) in run.acked.iter().enumerate() {
            assert_eq!(batch, stored + i as u64, "round {round}: acknowledgements out of order");
        }

        let mut store = SqliteStore::open(&path).unwrap();
        let acked_until = stored + run.acked.len() as u64;
        for batch in stored..acked_until {
            model.apply(batch);
        }
        // The batch in flight when the child died: all of it or nothing.
        let in_flight = count_stored(&mut store, acked_until);
        assert!(
            in_flight == 0 || in_flight == stored_ids(acked_until).len(),
            "round {round}: batch {acked_until} is half there ({in_flight} transfers)"
        );
        let now_stored = acked_until + u64::from(in_flight != 0);
        if in_flight != 0 {
            model.apply(acked_until);
        }
        assert_eq!(count_stored(&mut store, now_stored), 0, "round {round}: a batch after the last one is stored");
        assert_eq!(batches_stored(&mut store), now_stored);
        // Batches that were pending-checked before may have had their holds resolved since.
        check_transfers(&mut store, stored.saturating_sub(1)..now_stored, now_stored, &model);
        check_balances(&mut store, &model, now_stored);
        println!(
            "round {round}: killed after {} ms, {} batches acknowledged, in flight {}, {now_stored} stored",
            delay.as_millis(),
            run.acked.len(),
            if in_flight == 0 { "absent" } else { "present" },
        );
        stored = now_stored;
    }
    assert!(kills >= 20);
    assert!(stored >= 20, "only {stored} batches were written: the test did not exercise much");
    // Last, every batch once more, as a fresh reader sees them.
    let mut store = SqliteStore::open(&path).unwrap();
    check_transfers(&mut store, 0..stored, stored, &model);
    check_balances(&mut store, &model, stored);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
