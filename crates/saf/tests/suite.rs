//! One behaviour suite run against both queues, plus SQLite-only reopen tests.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use saf::{
    Counts, EntryState, ManualClock, MemorySafQueue, NewEntry, RETRY_DELAY_MS_MAX, SafConfig, SafError, SafQueue,
    SqliteSafQueue, is_repeat,
};

const START_MS: u64 = 1_700_000_000_000;

/// A temporary directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("cardnet-saf-{name}-{}-{nanos}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn db(&self) -> PathBuf {
        self.0.join("saf.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config() -> SafConfig {
    SafConfig { attempts_max: 5, retry_delay_ms_min: 1_000, pending_max: 100 }
}

fn new_entry(key: &str, destination: &str) -> NewEntry {
    NewEntry {
        key: key.to_string(),
        destination: destination.to_string(),
        payload: format!("payload of {key}").into_bytes(),
        expires_at_ms: None,
    }
}

/// Runs `test` on a fresh memory queue and a fresh SQLite queue.
fn on_both(name: &str, config: SafConfig, test: impl Fn(&mut dyn SafQueue, &ManualClock)) {
    let clock = ManualClock::from_ms(START_MS);
    let mut memory = MemorySafQueue::with_clock(config, clock.clone());
    test(&mut memory, &clock);

    let dir = TempDir::new(name);
    let clock = ManualClock::from_ms(START_MS);
    let mut sqlite = SqliteSafQueue::open_with(&dir.db(), config, clock.clone()).expect("open");
    test(&mut sqlite, &clock);
}

#[test]
fn enqueue_due_acknowledge() {
    on_both("basic", config(), |q, clock| {
        let a = q.enqueue(new_entry("0420:acq:000001:1121232800", "issuer-1")).expect("enqueue a");
        clock.advance_ms(10);
        let b = q.enqueue(new_entry("0420:acq:000002:1121232800", "issuer-1")).expect("enqueue b");
        let c = q.enqueue(new_entry("0120:acq:000003:1121232800", "issuer-2")).expect("enqueue c");
        assert_ne!(a, b);

        // Due at once (as of the enqueue time), oldest first, per destination, bounded by limit.
        let due = q.due("issuer-1", clock.now(), 10).expect("due");
        assert_eq!(due.iter().map(|e| e.id).collect::<Vec<_>>(), vec![a, b]);
        assert_eq!(due[0].payload, b"payload of 0420:acq:000001:1121232800");
        assert_eq!(due[0].attempts, 0);
        assert_eq!(due[0].created_ms, START_MS);
        assert!(!is_repeat(due[0].attempts));
        assert_eq!(q.due("issuer-1", clock.now(), 1).expect("due").len(), 1);
        assert_eq!(q.due("issuer-1", START_MS - 1, 10).expect("due"), vec![]);
        // `b` was enqueued 10 ms later: not due at START_MS.
        assert_eq!(q.due("issuer-1", START_MS, 10).expect("due").len(), 1);
        assert_eq!(q.due("issuer-2", clock.now(), 10).expect("due")[0].id, c);

        q.acknowledged(a).expect("ack");
        q.acknowledged(a).expect("ack is idempotent");
        assert_eq!(q.get(a).expect("get").map(|e| e.state), Some(EntryState::Done));
        assert_eq!(q.due("issuer-1", clock.now(), 10).expect("due").iter().map(|e| e.id).collect::<Vec<_>>(), vec![b]);
        assert_eq!(q.counts().expect("counts"), Counts { pending: 2, done: 1, dead: 0 });
        // A failure reported after the acknowledgement changes nothing.
        assert_eq!(q.attempt_failed(a, clock.now()).expect("failed"), EntryState::Done);
    });
}

#[test]
fn unknown_ids() {
    on_both("unknown", config(), |q, clock| {
        let id = saf::EntryId(999);
        assert_eq!(q.acknowledged(id), Err(SafError::NotFound(id)));
        assert_eq!(q.attempt_failed(id, clock.now()), Err(SafError::NotFound(id)));
        assert_eq!(q.get(id).expect("get"), None);
    });
}

#[test]
fn dedupe_by_key() {
    on_both("dedupe", config(), |q, clock| {
        let first = q.enqueue(new_entry("0420:acq:000001:1", "issuer-1")).expect("enqueue");
        clock.advance_ms(500);
        let mut again = new_entry("0420:acq:000001:1", "issuer-9");
        again.payload = b"different".to_vec();
        assert_eq!(q.enqueue(again.clone()).expect("enqueue again"), first);
        assert_eq!(q.counts().expect("counts"), Counts { pending: 1, done: 0, dead: 0 });
        let stored = q.get(first).expect("get").expect("stored");
        assert_eq!(stored.destination, "issuer-1");
        assert_eq!(stored.created_ms, START_MS);
        // Still the same entry once it is done: never a duplicate send.
        q.acknowledged(first).expect("ack");
        assert_eq!(q.enqueue(again).expect("enqueue after ack"), first);
        assert_eq!(q.counts().expect("counts"), Counts { pending: 0, done: 1, dead: 0 });
    });
}

#[test]
fn backoff_timing() {
    let config = SafConfig { attempts_max: 20, ..config() };
    on_both("backoff", config, |q, clock| {
        let id = q.enqueue(new_entry("k", "issuer-1")).expect("enqueue");
        let mut expected_delay = 1_000;
        for attempt in 1..=12u32 {
            let now = clock.now();
            assert_eq!(q.due("issuer-1", now, 10).expect("due").len(), 1, "due before attempt {attempt}");
            assert_eq!(q.attempt_failed(id, now).expect("failed"), EntryState::Pending);
            let entry = q.get(id).expect("get").expect("stored");
            assert_eq!(entry.attempts, attempt);
            assert!(is_repeat(entry.attempts));
            assert_eq!(entry.next_attempt_ms, now + expected_delay, "delay after attempt {attempt}");
            // Not due a millisecond early; due exactly on time.
            clock.advance_ms(expected_delay - 1);
            assert_eq!(q.due("issuer-1", clock.now(), 10).expect("due"), vec![]);
            clock.advance_ms(1);
            expected_delay = (expected_delay * 2).min(RETRY_DELAY_MS_MAX);
        }
        // The cap was reached (1 s · 2^11 > 5 min).
        assert_eq!(config.backoff_ms(12), RETRY_DELAY_MS_MAX);
    });
}

#[test]
fn dead_after_attempts_max() {
    on_both("attempts-max", config(), |q, clock| {
        let id = q.enqueue(new_entry("k", "issuer-1")).expect("enqueue");
        for _ in 1..config().attempts_max {
            assert_eq!(q.attempt_failed(id, clock.now()).expect("failed"), EntryState::Pending);
            clock.advance_ms(RETRY_DELAY_MS_MAX);
        }
        assert_eq!(q.attempt_failed(id, clock.now()).expect("failed"), EntryState::Dead);
        let entry = q.get(id).expect("get").expect("kept");
        assert_eq!((entry.state, entry.attempts), (EntryState::Dead, config().attempts_max));
        clock.advance_ms(RETRY_DELAY_MS_MAX);
        assert_eq!(q.due("issuer-1", clock.now(), 10).expect("due"), vec![]);
        assert_eq!(q.attempt_failed(id, clock.now()).expect("failed"), EntryState::Dead);
        assert_eq!(q.counts().expect("counts"), Counts { pending: 0, done: 0, dead: 1 });
        // A late acknowledgement: the destination has it after all.
        q.acknowledged(id).expect("ack");
        assert_eq!(q.counts().expect("counts"), Counts { pending: 0, done: 1, dead: 0 });
    });
}

#[test]
fn dead_after_expiry() {
    on_both("expiry", config(), |q, clock| {
        let mut entry = new_entry("k", "issuer-1");
        entry.expires_at_ms = Some(START_MS + 1_500);
        let id = q.enqueue(entry).expect("enqueue");
        assert_eq!(q.attempt_failed(id, clock.now()).expect("failed"), EntryState::Pending);
        clock.advance_ms(1_499);
        assert_eq!(q.attempt_failed(id, clock.now()).expect("failed"), EntryState::Pending);
        clock.advance_ms(1);
        assert_eq!(q.attempt_failed(id, clock.now()).expect("failed"), EntryState::Dead);
        assert_eq!(q.get(id).expect("get").map(|e| e.attempts), Some(3));
        assert_eq!(q.counts().expect("counts"), Counts { pending: 0, done: 0, dead: 1 });
    });
}

#[test]
fn expired_entries_are_never_due_and_the_sweep_kills_them() {
    on_both("expiry sweep", config(), |q, clock| {
        let mut never_tried = new_entry("never", "issuer-1");
        never_tried.expires_at_ms = Some(START_MS + 1_000);
        let expiring = q.enqueue(never_tried).expect("enqueue");
        let lasting = q.enqueue(new_entry("lasting", "issuer-1")).expect("enqueue");
        assert_eq!(q.due("issuer-1", clock.now(), 10).expect("due").len(), 2);
        clock.advance_ms(1_000);
        let due: Vec<_> = q.due("issuer-1", clock.now(), 10).expect("due").into_iter().map(|e| e.id).collect();
        assert_eq!(due, vec![lasting], "an expired entry is not handed out");
        assert_eq!(q.expire(clock.now()).expect("expire"), 1);
        assert_eq!(q.get(expiring).expect("get").map(|e| e.state), Some(EntryState::Dead));
        assert_eq!(q.counts().expect("counts"), Counts { pending: 1, done: 0, dead: 1 });
        assert_eq!(q.expire(clock.now()).expect("expire"), 0, "the sweep is idempotent");
    });
}

#[test]
fn pending_bound() {
    let config = SafConfig { pending_max: 2, ..config() };
    on_both("bound", config, |q, _clock| {
        let a = q.enqueue(new_entry("a", "issuer-1")).expect("a");
        q.enqueue(new_entry("b", "issuer-1")).expect("b");
        assert_eq!(q.enqueue(new_entry("c", "issuer-1")), Err(SafError::QueueFull { pending_max: 2 }));
        // A known key is still answered when full.
        assert_eq!(q.enqueue(new_entry("a", "issuer-1")).expect("a again"), a);
        q.acknowledged(a).expect("ack");
        q.enqueue(new_entry("c", "issuer-1")).expect("c after ack");
    });
}

#[test]
fn due_limit_is_capped() {
    on_both("limit", SafConfig { pending_max: 2_000, ..config() }, |q, clock| {
        for i in 0..(saf::DUE_LIMIT_MAX + 5) {
            q.enqueue(new_entry(&format!("k{i}"), "issuer-1")).expect("enqueue");
        }
        assert_eq!(q.due("issuer-1", clock.now(), usize::MAX).expect("due").len(), saf::DUE_LIMIT_MAX);
    });
}

#[test]
fn sqlite_pending_entries_survive_reopen() {
    let dir = TempDir::new("reopen");
    let clock = ManualClock::from_ms(START_MS);
    let (pending, done, retried) = {
        let mut q = SqliteSafQueue::open_with(&dir.db(), config(), clock.clone()).expect("open");
        let pending = q.enqueue(new_entry("pending", "issuer-1")).expect("enqueue");
        let done = q.enqueue(new_entry("done", "issuer-1")).expect("enqueue");
        let retried = q.enqueue(new_entry("retried", "issuer-1")).expect("enqueue");
        q.acknowledged(done).expect("ack");
        q.attempt_failed(retried, START_MS).expect("failed");
        (pending, done, retried)
    };
    let mut q = SqliteSafQueue::open_with(&dir.db(), config(), clock.clone()).expect("reopen");
    assert_eq!(q.counts().expect("counts"), Counts { pending: 2, done: 1, dead: 0 });
    assert_eq!(q.due("issuer-1", START_MS, 10).expect("due").iter().map(|e| e.id).collect::<Vec<_>>(), vec![pending]);
    let later = q.due("issuer-1", START_MS + 1_000, 10).expect("due");
    assert_eq!(later.iter().map(|e| e.id).collect::<Vec<_>>(), vec![pending, retried]);
    assert_eq!(later[1].attempts, 1);
    assert_eq!(later[1].payload, b"payload of retried");
    // Keys are still deduplicated, and ids continue after the reopen.
    assert_eq!(q.enqueue(new_entry("done", "issuer-1")).expect("enqueue"), done);
    let next = q.enqueue(new_entry("new", "issuer-1")).expect("enqueue");
    assert!(next > retried);
}

#[test]
fn sqlite_open_default() {
    let dir = TempDir::new("default");
    let mut q = SqliteSafQueue::open(&dir.db()).expect("open");
    let id = q.enqueue(new_entry("k", "issuer-1")).expect("enqueue");
    let now = saf::Clock::now_ms(&saf::SystemClock);
    assert_eq!(q.due("issuer-1", now + 1, 10).expect("due")[0].id, id);
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

    /// Both queues agree on any sequence of operations.
    #[test]
    fn memory_and_sqlite_agree(ops in proptest::collection::vec((0u8..4, 0u8..6, 0u64..5_000), 1..40)) {
        let dir = TempDir::new("agree");
        let clock = ManualClock::from_ms(START_MS);
        let config = SafConfig { attempts_max: 3, retry_delay_ms_min: 500, pending_max: 4 };
        let mut memory = MemorySafQueue::with_clock(config, clock.clone());
        let mut sqlite = SqliteSafQueue::open_with(&dir.db(), config, clock.clone()).expect("open");
        for (op, k, dt) in ops {
            clock.advance_ms(dt);
            let now = clock.now();
            let id = saf::EntryId(u64::from(k) + 1);
            match op {
                0 => {
                    let mut entry = new_entry(&format!("k{k}"), if k % 2 == 0 { "even" } else { "odd" });
                    entry.expires_at_ms = (k == 5).then_some(now + 2_000);
                    prop_assert_eq!(memory.enqueue(entry.clone()), sqlite.enqueue(entry));
                }
                1 => prop_assert_eq!(memory.attempt_failed(id, now), sqlite.attempt_failed(id, now)),
                2 => prop_assert_eq!(memory.acknowledged(id), sqlite.acknowledged(id)),
                _ => {
                    for destination in ["even", "odd"] {
                        prop_assert_eq!(memory.due(destination, now, 3), sqlite.due(destination, now, 3));
                    }
                }
            }
            prop_assert_eq!(memory.counts(), sqlite.counts());
        }
    }
}

/// `ManualClock::now` for the tests.
trait Now {
    fn now(&self) -> u64;
}

impl Now for ManualClock {
    fn now(&self) -> u64 {
        saf::Clock::now_ms(self)
    }
}

#[cfg(unix)]
#[test]
fn queue_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("modes");
    let mut queue = SqliteSafQueue::open_with(&dir.db(), config(), ManualClock::from_ms(START_MS)).expect("open");
    queue.enqueue(new_entry("k1", "issuer")).expect("enqueue");
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", dir.db().display());
        let mode = std::fs::metadata(&file).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
}
