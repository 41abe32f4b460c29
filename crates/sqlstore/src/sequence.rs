//! Named id counters in a party's own table `(name TEXT PRIMARY KEY, value BIGINT NOT NULL)`:
//! ids 1, 2, … taken inside the caller's transaction, so an id is used only if its transaction
//! commits. The row update serialises concurrent writers on PostgreSQL as SQLite's write lock
//! does.
//!
//! A pipeline's core thread may [`reserve`] a block of a sequence's ids in its batch: [`next`]
//! then takes them from the thread's memory instead of updating the row for every id (a switch
//! takes six ids per authorization). The block is taken from the row like any id, so other
//! threads and processes never get an id of it; ids of a block not used before the process
//! stops are skipped (a gap, never a duplicate).

use std::cell::RefCell;

use crate::{Database, Error, Result, Tx};

/// Sequences one thread holds reserved blocks of at most (a party has a handful).
const RESERVED_SEQUENCES_MAX: usize = 16;

/// A block of ids this thread took from a sequence: `next..end`.
struct Reserved {
    connection: u64,
    table: &'static str,
    name: &'static str,
    next: u64,
    end: u64,
}

thread_local! {
    static RESERVED: RefCell<Vec<Reserved>> = const { RefCell::new(Vec::new()) };
}

fn take_reserved(connection: u64, table: &str, name: &str) -> Option<u64> {
    RESERVED.with(|reserved| {
        let mut reserved = reserved.borrow_mut();
        let block = reserved.iter_mut().find(|r| r.connection == connection && r.table == table && r.name == name)?;
        (block.next < block.end).then(|| {
            block.next += 1;
            block.next - 1
        })
    })
}

/// Make sure this thread holds at least `low_water` ids of sequence `name`, else take a new
/// block of `block` ids (what is left of the old one is skipped).
///
/// Only for a transaction that cannot roll back while this thread goes on using its memory:
/// the pipeline's batch, whose failed commit stops the core thread. Call it outside any
/// transaction that may be undone on its own (not inside a decision's savepoint).
pub fn reserve(tx: &mut Tx<'_>, table: &'static str, name: &'static str, low_water: u64, block: u64) -> Result<()> {
    assert!(block >= low_water && block > 0, "a block holds at least the low water mark");
    let connection = tx.connection_id();
    let held = RESERVED.with(|reserved| {
        reserved
            .borrow()
            .iter()
            .find(|r| r.connection == connection && r.table == table && r.name == name)
            .map_or(0, |r| r.end - r.next)
    });
    if held >= low_water {
        return Ok(());
    }
    let missing = || Error::new("sequence", format!("no sequence {name}"));
    let sql = format!("UPDATE {table} SET value = value + $2 WHERE name = $1 RETURNING value");
    let last = tx.query_opt(&sql, &[name.into(), crate::Value::from_u64(block)?])?.ok_or_else(missing)?.u64(0)?;
    let fresh = Reserved { connection, table, name, next: last + 1 - block, end: last + 1 };
    RESERVED.with(|reserved| {
        let mut reserved = reserved.borrow_mut();
        reserved.retain(|r| !(r.connection == connection && r.table == table && r.name == name));
        if reserved.len() >= RESERVED_SEQUENCES_MAX {
            reserved.remove(0);
        }
        reserved.push(fresh);
    });
    Ok(())
}

/// Add each of `names` to the sequence table `table` at 0 where it is missing (idempotent).
/// `table` is a name from the caller's code, never from input.
pub fn ensure(tx: &mut Tx<'_>, table: &'static str, names: &[&str]) -> Result<()> {
    let select = format!("SELECT value FROM {table} WHERE name = $1");
    let insert = format!("INSERT INTO {table} (name, value) VALUES ($1, 0)");
    for &name in names {
        if tx.query_opt(&select, &[name.into()])?.is_none() {
            tx.execute(&insert, &[name.into()])?;
        }
    }
    Ok(())
}

/// At the start of a pipeline's batch of at most `events_max` decisions, each taking at most
/// `ids_per_event_max` ids of every one of `names`: [`reserve`] enough of each for the whole
/// batch, in blocks of four batches' worth (the row is updated once in thousands of ids). Each
/// name in a transaction of its own (in a batch: a savepoint of it); the first failure, after
/// trying every name — a failure costs only speed, [`next`] goes to the row when no block is held.
pub fn reserve_for_batch(
    db: &Database,
    table: &'static str,
    names: &[&'static str],
    events_max: usize,
    ids_per_event_max: u64,
) -> Result<()> {
    let low_water = (events_max as u64).saturating_mul(ids_per_event_max).max(1);
    let block = low_water.saturating_mul(4);
    let mut first_error = None;
    for &name in names {
        if let Err(error) = db.transaction(|tx| reserve(tx, table, name, low_water, block)) {
            first_error.get_or_insert(error);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The next value of sequence `name` in `table` (1, 2, …); an error if there is no such
/// sequence.
pub fn next(tx: &mut Tx<'_>, table: &'static str, name: &str) -> Result<u64> {
    if let Some(id) = take_reserved(tx.connection_id(), table, name) {
        return Ok(id);
    }
    let missing = || Error::new("sequence", format!("no sequence {name}"));
    // One statement, not an update and a read: both backends return the new value.
    let sql = format!("UPDATE {table} SET value = value + 1 WHERE name = $1 RETURNING value");
    tx.query_opt(&sql, &[name.into()])?.ok_or_else(missing)?.u64(0)
}
