//! The store-and-forward queue on sqlstore keeps `saf::SafQueue`'s contract, on SQLite and
//! (with `CARDNET_TEST_PG`) PostgreSQL.

mod common;

use common::Backend;
use saf::{EntryState, ManualClock, NewEntry, SafConfig, SafQueue};
use switch::safq::SqlSafQueue;

fn entry(key: &str, destination: &str, expires_at_ms: Option<u64>) -> NewEntry {
    NewEntry { key: key.into(), destination: destination.into(), payload: key.as_bytes().to_vec(), expires_at_ms }
}

fn contract(backend: Backend) {
    let clock = ManualClock::from_ms(1_000);
    let config = SafConfig { attempts_max: 3, retry_delay_ms_min: 100, pending_max: 3 };
    let mut queue = SqlSafQueue::new(backend.open(), config, clock.clone()).unwrap();

    let a = queue.enqueue(entry("a", "issuer-1", None)).unwrap();
    assert_eq!(queue.enqueue(entry("a", "issuer-1", None)).unwrap(), a, "idempotent by key");
    let b = queue.enqueue(entry("b", "issuer-1", Some(5_000))).unwrap();
    let c = queue.enqueue(entry("c", "issuer-2", None)).unwrap();
    assert!(a < b && b < c, "ids in enqueue order");
    assert!(matches!(queue.enqueue(entry("d", "issuer-1", None)), Err(saf::SafError::QueueFull { .. })));

    let due: Vec<_> = queue.due("issuer-1", 1_000, 10).unwrap().into_iter().map(|e| e.id).collect();
    assert_eq!(due, [a, b]);
    assert_eq!(queue.get(a).unwrap().unwrap().payload, b"a");
    assert_eq!(queue.get(a).unwrap().unwrap().created_ms, 1_000);

    // Backoff doubles; the third failure kills the entry.
    assert_eq!(queue.attempt_failed(a, 1_000).unwrap(), EntryState::Pending);
    assert_eq!(queue.get(a).unwrap().unwrap().next_attempt_ms, 1_100);
    assert!(saf::is_repeat(queue.get(a).unwrap().unwrap().attempts));
    assert_eq!(queue.attempt_failed(a, 1_100).unwrap(), EntryState::Pending);
    assert_eq!(queue.get(a).unwrap().unwrap().next_attempt_ms, 1_300);
    // Head of line: `a` waits for its retry, so nothing of issuer-1 is due before it.
    assert!(queue.head_of_line("issuer-1", 1_200, 10).unwrap().is_empty());
    assert_eq!(queue.due("issuer-1", 1_200, 10).unwrap().len(), 1, "plain `due` skips ahead");
    assert_eq!(queue.attempt_failed(a, 1_300).unwrap(), EntryState::Dead);
    assert_eq!(queue.attempt_failed(a, 1_400).unwrap(), EntryState::Dead, "dead stays dead");

    queue.acknowledged(c).unwrap();
    assert!(queue.due("issuer-2", 10_000, 10).unwrap().is_empty());
    assert!(matches!(queue.acknowledged(saf::EntryId(999)), Err(saf::SafError::NotFound(_))));

    // Expiry: `b` is past it at 5 000.
    assert_eq!(queue.expire(5_000).unwrap(), 1);
    assert_eq!(queue.get(b).unwrap().unwrap().state, EntryState::Dead);
    let counts = queue.counts().unwrap();
    assert_eq!((counts.pending, counts.done, counts.dead), (0, 1, 2));
}

#[test]
fn sqlite() {
    contract(Backend::sqlite("safq"));
}

#[test]
fn postgres() {
    if let Some(backend) = Backend::postgres("safq") {
        contract(backend);
    }
}
