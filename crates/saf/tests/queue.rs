//! The store-and-forward queue's contract, on SQLite and (with `CARDNET_TEST_PG`) PostgreSQL:
//! idempotent by key, strict enqueue order per destination, backoff, Dead after its attempts or
//! its expiry, bounded, and queued only when the caller's transaction commits.

use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use saf::{
    Counts, EntryId, EntryState, IdSequence, NewEntry, RETRY_DELAY_MS_MAX, SafConfig, SafError, SafResult, SqlQueue,
    is_repeat,
};
use sqlstore::{Database, Tx};

const START_MS: u64 = 1_700_000_000_000;
const TABLE: &str = "test_saf";
const SEQUENCES: &str = "test_sequences";
const SEQUENCE: &str = "saf";

fn queue() -> SqlQueue {
    SqlQueue::new(TABLE, IdSequence { table: SEQUENCES, name: SEQUENCE }).unwrap()
}

/// The queue's table and its id sequence, as a party's migration makes them.
fn migrated(db: &Database) {
    let ddl = queue().ddl();
    let mut statements: Vec<&str> = ddl.iter().map(String::as_str).collect();
    let sequences = format!("CREATE TABLE {SEQUENCES} (name TEXT PRIMARY KEY, value BIGINT NOT NULL)");
    statements.push(&sequences);
    db.migrate("test-saf", &statements).unwrap();
    db.transaction(|tx| sqlstore::sequence::ensure(tx, SEQUENCES, &[SEQUENCE])).unwrap();
}

/// A PostgreSQL schema dropped when the test ends.
struct PgSchema {
    url: String,
    schema: String,
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let _ = sqlstore::drop_postgres_schema(&self.url, &self.schema);
    }
}

/// Runs `test` on a fresh SQLite database, then on a fresh PostgreSQL schema when
/// `CARDNET_TEST_PG` names a server.
fn on_each(name: &str, test: impl Fn(&Database)) {
    let sqlite = Database::open("sqlite::memory:").unwrap();
    migrated(&sqlite);
    test(&sqlite);
    let Ok(url) = std::env::var("CARDNET_TEST_PG") else {
        eprintln!("SKIPPED: CARDNET_TEST_PG not set; the queue was not tested on PostgreSQL ({name})");
        return;
    };
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let schema = format!("saf_test_{name}_{}_{n}", std::process::id());
    let _ = sqlstore::drop_postgres_schema(&url, &schema);
    let guard = PgSchema { url, schema };
    let pg = Database::connect_postgres(&guard.url, &guard.schema).unwrap();
    migrated(&pg);
    test(&pg);
}

/// One queue operation in its own committed transaction.
fn run<T>(db: &Database, mut work: impl FnMut(&mut Tx<'_>) -> SafResult<T>) -> SafResult<T> {
    let mut failure = None;
    let result = db.transaction(|tx| {
        work(tx).map_err(|error| {
            failure = Some(error);
            sqlstore::Error::new("test", "rolled back")
        })
    });
    match (result, failure) {
        (_, Some(error)) => Err(error),
        (Ok(value), None) => Ok(value),
        (Err(error), None) => Err(SafError::Store(error)),
    }
}

fn config() -> SafConfig {
    SafConfig { attempts_max: 5, retry_delay_ms_min: 1_000, pending_max: 100 }
}

fn new_entry(key: &str, destination: &str) -> NewEntry {
    NewEntry {
        key: key.to_owned(),
        destination: destination.to_owned(),
        payload: format!("payload of {key}").into_bytes(),
        expires_at_ms: None,
    }
}

fn enqueue(db: &Database, config: &SafConfig, entry: &NewEntry, now_ms: u64) -> SafResult<(EntryId, bool)> {
    run(db, |tx| queue().enqueue(tx, config, entry, now_ms))
}

fn add(db: &Database, key: &str, destination: &str, now_ms: u64) -> EntryId {
    let (id, added) = enqueue(db, &config(), &new_entry(key, destination), now_ms).unwrap();
    assert!(added, "{key} is new");
    id
}

fn ids(entries: SafResult<Vec<saf::Entry>>) -> Vec<EntryId> {
    entries.unwrap().into_iter().map(|e| e.id).collect()
}

fn due(db: &Database, destination: &str, now_ms: u64) -> Vec<EntryId> {
    ids(run(db, |tx| queue().due(tx, destination, now_ms, 10)))
}

fn head(db: &Database, destination: &str, now_ms: u64) -> Vec<EntryId> {
    ids(run(db, |tx| queue().head_of_line(tx, destination, now_ms, 10)))
}

fn failed(db: &Database, config: &SafConfig, id: EntryId, now_ms: u64) -> SafResult<EntryState> {
    run(db, |tx| queue().attempt_failed(tx, config, id, now_ms))
}

fn get(db: &Database, id: EntryId) -> Option<saf::Entry> {
    run(db, |tx| queue().get(tx, id)).unwrap()
}

fn counts(db: &Database) -> Counts {
    run(db, |tx| queue().counts(tx, None)).unwrap()
}

/// A queue error carried out of a plain `sqlstore` transaction.
fn in_tx(error: SafError) -> sqlstore::Error {
    sqlstore::Error::new("queue", error.to_string())
}

#[test]
fn enqueue_due_acknowledge() {
    on_each("basic", |db| {
        let a = add(db, "0420:acq:000001:1121232800", "issuer-1", START_MS);
        let b = add(db, "0420:acq:000002:1121232800", "issuer-1", START_MS + 10);
        let c = add(db, "0120:acq:000003:1121232800", "issuer-2", START_MS + 10);
        assert!(a < b && b < c, "ids in enqueue order");

        let entry = get(db, a).unwrap();
        assert_eq!(entry.payload, b"payload of 0420:acq:000001:1121232800");
        assert_eq!((entry.attempts, entry.created_ms, entry.next_attempt_ms), (0, START_MS, START_MS));
        assert!(!is_repeat(entry.attempts));
        assert_eq!(due(db, "issuer-1", START_MS + 10), [a, b]);
        assert_eq!(due(db, "issuer-1", START_MS - 1), []);
        assert_eq!(due(db, "issuer-1", START_MS), [a], "b was enqueued 10 ms later");
        assert_eq!(due(db, "issuer-2", START_MS + 10), [c]);
        assert_eq!(ids(run(db, |tx| queue().due(tx, "issuer-1", START_MS + 10, 1))), [a], "bounded by the limit");

        run(db, |tx| queue().acknowledged(tx, a)).unwrap();
        run(db, |tx| queue().acknowledged(tx, a)).expect("an acknowledgement is idempotent");
        assert_eq!(get(db, a).map(|e| e.state), Some(EntryState::Done));
        assert_eq!(due(db, "issuer-1", START_MS + 10), [b]);
        assert_eq!(counts(db), Counts { pending: 2, done: 1, dead: 0 });
        let issuer_2 = run(db, |tx| queue().counts(tx, Some("issuer-2"))).unwrap();
        assert_eq!(issuer_2, Counts { pending: 1, done: 0, dead: 0 });
        // The backlog: pending and dead per destination, each capped; done ones never counted.
        run(db, |tx| queue().give_up(tx, b)).unwrap();
        assert_eq!(run(db, |tx| queue().backlog(tx, "issuer-1", 10)).unwrap(), (0, 1));
        assert_eq!(run(db, |tx| queue().backlog(tx, "issuer-2", 10)).unwrap(), (1, 0));
        add(db, "0120:acq:000004:1121232800", "issuer-2", START_MS + 20);
        assert_eq!(run(db, |tx| queue().backlog(tx, "issuer-2", 1)).unwrap(), (1, 0), "capped");
        assert_eq!(run(db, |tx| queue().backlog(tx, "nobody", 10)).unwrap(), (0, 0));
        // A failure reported after the acknowledgement changes nothing.
        assert_eq!(failed(db, &config(), a, START_MS + 20).unwrap(), EntryState::Done);
    });
}

#[test]
fn unknown_ids() {
    on_each("unknown", |db| {
        let id = EntryId(999);
        assert!(matches!(run(db, |tx| queue().acknowledged(tx, id)), Err(SafError::NotFound(i)) if i == id));
        assert!(matches!(run(db, |tx| queue().give_up(tx, id)), Err(SafError::NotFound(i)) if i == id));
        assert!(matches!(failed(db, &config(), id, START_MS), Err(SafError::NotFound(i)) if i == id));
        assert_eq!(get(db, id), None);
    });
}

#[test]
fn idempotent_by_key() {
    on_each("dedupe", |db| {
        let first = add(db, "0420:acq:000001:1", "issuer-1", START_MS);
        let mut again = new_entry("0420:acq:000001:1", "issuer-9");
        again.payload = b"different".to_vec();
        assert_eq!(enqueue(db, &config(), &again, START_MS + 500).unwrap(), (first, false));
        assert_eq!(counts(db), Counts { pending: 1, done: 0, dead: 0 });
        let stored = get(db, first).unwrap();
        assert_eq!((stored.destination.as_str(), stored.created_ms), ("issuer-1", START_MS));
        assert_eq!(stored.payload, b"payload of 0420:acq:000001:1");
        // Still the same entry once it is done: never a second send.
        run(db, |tx| queue().acknowledged(tx, first)).unwrap();
        assert_eq!(enqueue(db, &config(), &again, START_MS + 600).unwrap(), (first, false));
        assert_eq!(counts(db), Counts { pending: 0, done: 1, dead: 0 });
    });
}

#[test]
fn head_of_line_keeps_enqueue_order() {
    on_each("order", |db| {
        let config = config();
        let a = add(db, "a", "issuer-1", START_MS);
        let b = add(db, "b", "issuer-1", START_MS);
        let other = add(db, "other", "issuer-2", START_MS);
        let c = add(db, "c", "issuer-1", START_MS + 5_000);
        assert_eq!(head(db, "issuer-1", START_MS), [a, b], "up to the first entry not due (c)");
        assert_eq!(failed(db, &config, a, START_MS).unwrap(), EntryState::Pending);
        // `a` waits for its retry (at START_MS + 1 000): nothing behind it goes first.
        assert_eq!(head(db, "issuer-1", START_MS + 999), []);
        assert_eq!(due(db, "issuer-1", START_MS + 999), [b], "plain `due` skips ahead");
        assert_eq!(head(db, "issuer-2", START_MS + 999), [other], "another destination is not held back");
        assert_eq!(head(db, "issuer-1", START_MS + 1_000), [a, b]);
        run(db, |tx| queue().acknowledged(tx, a)).unwrap();
        assert_eq!(head(db, "issuer-1", START_MS + 5_000), [b, c]);
        // An entry given up (unreadable, say) holds nothing back.
        run(db, |tx| queue().give_up(tx, b)).unwrap();
        assert_eq!(get(db, b).map(|e| e.state), Some(EntryState::Dead));
        assert_eq!(head(db, "issuer-1", START_MS + 5_000), [c]);
    });
}

#[test]
fn reads_are_bounded() {
    on_each("bounded", |db| {
        let config = SafConfig { pending_max: 2_000, ..config() };
        for i in 0..(saf::DUE_LIMIT_MAX + 5) {
            enqueue(db, &config, &new_entry(&format!("k{i}"), "issuer-1"), START_MS).unwrap();
        }
        let head_len = |limit| run(db, |tx| queue().head_of_line(tx, "issuer-1", START_MS, limit)).unwrap().len();
        assert_eq!(head_len(usize::MAX), saf::DUE_LIMIT_MAX);
        assert_eq!(head_len(3), 3);
        let due_len = run(db, |tx| queue().due(tx, "issuer-1", START_MS, usize::MAX)).unwrap().len();
        assert_eq!(due_len, saf::DUE_LIMIT_MAX);
    });
}

#[test]
fn backoff_doubles_up_to_its_cap() {
    on_each("backoff", |db| {
        let config = SafConfig { attempts_max: 20, ..config() };
        let id = add(db, "k", "issuer-1", START_MS);
        let mut now = START_MS;
        let mut expected_delay = 1_000;
        for attempt in 1..=12u32 {
            assert_eq!(head(db, "issuer-1", now), [id], "due before attempt {attempt}");
            assert_eq!(failed(db, &config, id, now).unwrap(), EntryState::Pending);
            let entry = get(db, id).unwrap();
            assert_eq!(entry.attempts, attempt);
            assert!(is_repeat(entry.attempts), "every send after the first is a repeat");
            assert_eq!(entry.next_attempt_ms, now + expected_delay, "delay after attempt {attempt}");
            // Not due a millisecond early; due exactly on time.
            assert_eq!(head(db, "issuer-1", now + expected_delay - 1), []);
            now += expected_delay;
            expected_delay = (expected_delay * 2).min(RETRY_DELAY_MS_MAX);
        }
        assert_eq!(config.backoff_ms(12), RETRY_DELAY_MS_MAX, "the cap was reached (1 s · 2^11 > 5 min)");
    });
}

#[test]
fn dead_after_attempts_max() {
    on_each("attempts", |db| {
        let config = config();
        let id = add(db, "k", "issuer-1", START_MS);
        let mut now = START_MS;
        for _ in 1..config.attempts_max {
            assert_eq!(failed(db, &config, id, now).unwrap(), EntryState::Pending);
            now += RETRY_DELAY_MS_MAX;
        }
        assert_eq!(failed(db, &config, id, now).unwrap(), EntryState::Dead);
        let entry = get(db, id).unwrap();
        assert_eq!((entry.state, entry.attempts), (EntryState::Dead, config.attempts_max));
        now += RETRY_DELAY_MS_MAX;
        assert_eq!(head(db, "issuer-1", now), []);
        assert_eq!(due(db, "issuer-1", now), []);
        assert_eq!(failed(db, &config, id, now).unwrap(), EntryState::Dead, "dead stays dead");
        assert_eq!(counts(db), Counts { pending: 0, done: 0, dead: 1 });
        // A late acknowledgement: the destination has it after all.
        run(db, |tx| queue().acknowledged(tx, id)).unwrap();
        assert_eq!(counts(db), Counts { pending: 0, done: 1, dead: 0 });
    });
}

#[test]
fn dead_after_expiry() {
    on_each("expiry", |db| {
        let config = config();
        let mut entry = new_entry("k", "issuer-1");
        entry.expires_at_ms = Some(START_MS + 1_500);
        let (id, _) = enqueue(db, &config, &entry, START_MS).unwrap();
        assert_eq!(failed(db, &config, id, START_MS).unwrap(), EntryState::Pending);
        assert_eq!(failed(db, &config, id, START_MS + 1_499).unwrap(), EntryState::Pending);
        assert_eq!(failed(db, &config, id, START_MS + 1_500).unwrap(), EntryState::Dead);
        assert_eq!(get(db, id).map(|e| e.attempts), Some(3));
        assert_eq!(counts(db), Counts { pending: 0, done: 0, dead: 1 });
    });
}

#[test]
fn expired_entries_are_never_handed_out() {
    on_each("sweep", |db| {
        let config = config();
        let mut never_tried = new_entry("never", "issuer-1");
        never_tried.expires_at_ms = Some(START_MS + 1_000);
        let (expiring, _) = enqueue(db, &config, &never_tried, START_MS).unwrap();
        let lasting = add(db, "lasting", "issuer-1", START_MS);
        let mut elsewhere = new_entry("elsewhere", "issuer-2");
        elsewhere.expires_at_ms = Some(START_MS + 1_000);
        let (elsewhere, _) = enqueue(db, &config, &elsewhere, START_MS).unwrap();
        assert_eq!(due(db, "issuer-1", START_MS), [expiring, lasting]);
        assert_eq!(due(db, "issuer-1", START_MS + 1_000), [lasting], "an expired entry is not handed out");
        // head_of_line makes the destination's expired entries Dead: they hold nothing back.
        assert_eq!(head(db, "issuer-1", START_MS + 1_000), [lasting]);
        assert_eq!(get(db, expiring).map(|e| e.state), Some(EntryState::Dead));
        assert_eq!(get(db, elsewhere).map(|e| e.state), Some(EntryState::Pending), "only that destination's");
        // The sweep does it for every destination, once.
        assert_eq!(run(db, |tx| queue().expire(tx, START_MS + 1_000)).unwrap(), 1);
        assert_eq!(run(db, |tx| queue().expire(tx, START_MS + 1_000)).unwrap(), 0);
        assert_eq!(counts(db), Counts { pending: 1, done: 0, dead: 2 });
    });
}

#[test]
fn pending_is_bounded() {
    on_each("bound", |db| {
        let config = SafConfig { pending_max: 2, ..config() };
        let (a, _) = enqueue(db, &config, &new_entry("a", "issuer-1"), START_MS).unwrap();
        enqueue(db, &config, &new_entry("b", "issuer-1"), START_MS).unwrap();
        let full = enqueue(db, &config, &new_entry("c", "issuer-1"), START_MS);
        assert!(matches!(full, Err(SafError::QueueFull { pending_max: 2 })), "{full:?}");
        assert_eq!(enqueue(db, &config, &new_entry("a", "issuer-1"), START_MS).unwrap(), (a, false), "a known key");
        run(db, |tx| queue().acknowledged(tx, a)).unwrap();
        assert!(enqueue(db, &config, &new_entry("c", "issuer-1"), START_MS).unwrap().1, "room again");
    });
}

#[test]
fn queued_only_when_the_callers_transaction_commits() {
    on_each("rollback", |db| {
        let config = config();
        let entry = new_entry("k", "issuer-1");
        let rolled_back = db.transaction(|tx| {
            let (_, added) = queue().enqueue(tx, &config, &entry, START_MS).map_err(in_tx)?;
            assert!(added);
            // The caller's own write fails after the entry was queued: the whole decision goes.
            Err::<(), _>(sqlstore::Error::new("decision", "refused"))
        });
        assert!(rolled_back.is_err());
        assert_eq!(counts(db), Counts::default(), "nothing queued");
        assert_eq!(due(db, "issuer-1", START_MS), []);
        // The key was never stored: queueing it again adds it.
        let (id, added) = enqueue(db, &config, &entry, START_MS).unwrap();
        assert!(added);
        // Acknowledged in a transaction that rolls back: still pending.
        let acknowledged = db.transaction(|tx| {
            queue().acknowledged(tx, id).map_err(in_tx)?;
            Err::<(), _>(sqlstore::Error::new("answer record", "refused"))
        });
        assert!(acknowledged.is_err());
        assert_eq!(get(db, id).map(|e| e.state), Some(EntryState::Pending));
    });
}

#[test]
fn repeat_mti_rule() {
    assert!(!is_repeat(0));
    assert!(is_repeat(1));
    assert!(is_repeat(7));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The backoff never shrinks, never passes the cap and is never zero.
    #[test]
    fn backoff_is_monotonic_and_capped(min in 0u64..10_000_000, attempts in 1u32..200) {
        let config = SafConfig { retry_delay_ms_min: min, ..SafConfig::default() };
        let delay = config.backoff_ms(attempts);
        prop_assert!((1..=RETRY_DELAY_MS_MAX).contains(&delay));
        prop_assert!(config.backoff_ms(attempts + 1) >= delay);
    }
}
