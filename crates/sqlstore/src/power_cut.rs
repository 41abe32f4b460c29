//! A power cut before a commit, for the deterministic simulation (`crates/sim`): armed on this
//! thread, the next outermost [`crate::Database::batch`] this thread ends rolls back instead of
//! committing and fails, as when the machine loses power after a batch's decisions and before
//! its commit reaches the disk. Nothing but the simulation arms it; unarmed it costs one
//! thread-local read per batch.

use std::cell::Cell;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

/// The message of the error a cut batch returns.
pub const MESSAGE: &str = "power cut before the commit";

/// Cut the power before the next batch this thread commits.
pub fn arm() {
    ARMED.with(|armed| armed.set(true));
}

/// Disarm; `true` if the cut was still armed (no batch ended since [`arm`]).
pub fn disarm() -> bool {
    ARMED.with(|armed| armed.replace(false))
}

/// Whether the batch ending now is cut (and the cut spent).
pub(crate) fn take() -> bool {
    ARMED.with(|armed| armed.replace(false))
}

#[cfg(test)]
mod tests {
    use crate::{Database, Value};

    fn count(db: &Database) -> i64 {
        db.transaction(|tx| tx.query("SELECT COUNT(*) FROM t", &[])?[0].i64(0)).unwrap()
    }

    fn insert(db: &Database, id: i64) -> crate::Result<()> {
        db.transaction(|tx| tx.execute("INSERT INTO t (id) VALUES ($1)", &[Value::Int(id)]).map(|_| ()))
    }

    #[test]
    fn a_cut_batch_leaves_nothing_and_the_next_one_commits() {
        let db = Database::open("sqlite::memory:").unwrap();
        db.migrate("t", &["CREATE TABLE t (id BIGINT PRIMARY KEY)"]).unwrap();
        super::arm();
        let error = db.batch(|| insert(&db, 1)).unwrap_err();
        assert_eq!(error.message, super::MESSAGE);
        assert_eq!(count(&db), 0, "nothing of the cut batch is durable");
        assert!(!super::disarm(), "the cut is spent");
        db.batch(|| insert(&db, 2)).unwrap().unwrap();
        assert_eq!(count(&db), 1);
        // Armed and disarmed before any batch: nothing is cut.
        super::arm();
        assert!(super::disarm());
        db.batch(|| insert(&db, 3)).unwrap().unwrap();
        assert_eq!(count(&db), 2);
    }
}
