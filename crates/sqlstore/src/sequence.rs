//! Named id counters in a party's own table `(name TEXT PRIMARY KEY, value BIGINT NOT NULL)`:
//! ids 1, 2, … taken inside the caller's transaction, so an id is used only if its transaction
//! commits. The row update serialises concurrent writers on PostgreSQL as SQLite's write lock
//! does.

use crate::{Error, Result, Tx};

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

/// The next value of sequence `name` in `table` (1, 2, …); an error if there is no such
/// sequence.
pub fn next(tx: &mut Tx<'_>, table: &'static str, name: &str) -> Result<u64> {
    let missing = || Error::new("sequence", format!("no sequence {name}"));
    let changed = tx.execute(&format!("UPDATE {table} SET value = value + 1 WHERE name = $1"), &[name.into()])?;
    if changed != 1 {
        return Err(missing());
    }
    let row =
        tx.query_opt(&format!("SELECT value FROM {table} WHERE name = $1"), &[name.into()])?.ok_or_else(missing)?;
    row.u64(0)
}
