//! Appended rows: a log that nothing reads before its batch commits (a party's message log)
//! is written by [`crate::Tx::append`]. Outside a batch a row is inserted at once. Inside one it
//! is kept with the transaction that appended it — dropped if that transaction is undone — and
//! all of the batch's rows go in with a few multi-row inserts at the batch's end, in its
//! transaction, before its commit: as durable as before the answer, at a fraction of the
//! statements, and written after every decision (never run again when one is undone).

use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::{Tx, Value};

/// Rows per multi-row insert at most (a power of two: a batch's rows go in chunks of 32, 16, 8,
/// 4, 2 and 1 rows, six statement texts per log).
const ROWS_PER_INSERT_MAX: usize = 32;
const INSERT_SIZES: usize = ROWS_PER_INSERT_MAX.trailing_zeros() as usize + 1;

/// A table rows are appended to, and the columns each row gives, in order.
#[derive(Debug)]
pub struct AppendLog {
    table: &'static str,
    columns: &'static [&'static str],
    /// The insert of 1, 2, 4 … [`ROWS_PER_INSERT_MAX`] rows, made once.
    inserts: OnceLock<Vec<String>>,
}

impl AppendLog {
    pub const fn new(table: &'static str, columns: &'static [&'static str]) -> AppendLog {
        AppendLog { table, columns, inserts: OnceLock::new() }
    }

    /// The insert of `2^size` rows.
    fn insert(&self, size: usize) -> &str {
        let inserts = self.inserts.get_or_init(|| {
            (0..INSERT_SIZES)
                .map(|size| {
                    let width = self.columns.len();
                    let rows: Vec<String> = (0..1usize << size)
                        .map(|row| {
                            let params: Vec<String> = (1..=width).map(|n| format!("${}", row * width + n)).collect();
                            format!("({})", params.join(", "))
                        })
                        .collect();
                    format!("INSERT INTO {} ({}) VALUES {}", self.table, self.columns.join(", "), rows.join(", "))
                })
                .collect()
        });
        &inserts[size]
    }
}

/// The rows a batch's transactions appended, in order, not inserted yet; and the rows it keeps
/// ([`crate::kept`]).
#[derive(Default)]
pub(crate) struct Deferred {
    rows: Vec<(&'static AppendLog, Vec<Value>)>,
    pub(crate) kept: crate::kept::Kept,
    /// The writes of the batch's transactions (SQLite), to run again when one is undone.
    pub(crate) redo: crate::redo::Redo,
    /// Why the batch can no longer commit: its writes could not be run again after an undo.
    pub(crate) broken: Option<String>,
}

/// Where a transaction of the batch began: undone, it is undone back to here.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    rows: usize,
    kept: usize,
    pub(crate) redo: usize,
}

impl Deferred {
    pub(crate) fn mark(&self) -> Mark {
        Mark { rows: self.rows.len(), kept: self.kept.mark(), redo: self.redo.len() }
    }

    /// Forget the rows appended and the writes recorded, and undo the kept rows' changes,
    /// after `mark` (their transaction was undone).
    pub(crate) fn undo_to(&mut self, mark: Mark) {
        self.rows.truncate(mark.rows);
        self.kept.undo_to(mark.kept);
        self.redo.truncate(mark.redo);
    }

    /// The batch can no longer commit, because of `error`: returned for the member to report.
    pub(crate) fn set_broken(&mut self, error: Error) -> Error {
        self.broken = Some(error.to_string());
        error
    }

    pub(crate) fn push(&mut self, log: &'static AppendLog, values: Vec<Value>) {
        self.rows.push((log, values));
    }

    /// Take the appended rows and the kept rows' updates out, to be written by
    /// [`crate::kept::write_all`] and [`insert_all`]; the kept rows are forgotten.
    pub(crate) fn take(&mut self) -> (Vec<crate::kept::Write>, Vec<(&'static AppendLog, Vec<Value>)>) {
        let writes = self.kept.writes();
        self.kept.clear();
        self.redo.clear();
        (writes, std::mem::take(&mut self.rows))
    }
}

/// Check a row's width against its log.
pub(crate) fn check(log: &AppendLog, values: &[Value]) -> Result<()> {
    if values.len() == log.columns.len() {
        Ok(())
    } else {
        Err(Error::new("append", format!("{}: {} values for {} columns", log.table, values.len(), log.columns.len())))
    }
}

/// Insert one row now.
pub(crate) fn insert_one(tx: &mut Tx<'_>, log: &AppendLog, values: &[Value]) -> Result<()> {
    tx.execute(log.insert(0), values).map(drop)
}

/// Insert `rows` with as few statements as the chunk sizes allow, each log's rows in the order
/// they were appended.
pub(crate) fn insert_all(tx: &mut Tx<'_>, rows: Vec<(&'static AppendLog, Vec<Value>)>) -> Result<()> {
    let mut logs: Vec<(&'static AppendLog, Vec<Value>, usize)> = Vec::new();
    for (log, values) in rows {
        let index = match logs.iter().position(|(known, _, _)| std::ptr::eq(*known, log)) {
            Some(index) => index,
            None => {
                logs.push((log, Vec::new(), 0));
                logs.len() - 1
            }
        };
        let (_, flat, count) = &mut logs[index];
        flat.extend(values);
        *count += 1;
    }
    for (log, flat, count) in logs {
        let width = log.columns.len();
        let (mut done, mut left) = (0, count);
        while left > 0 {
            let size = left.min(ROWS_PER_INSERT_MAX).ilog2() as usize;
            let rows = 1usize << size;
            tx.execute(log.insert(size), &flat[done * width..(done + rows) * width])?;
            done += rows;
            left -= rows;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::AppendLog;

    #[test]
    fn inserts_number_their_parameters_row_by_row() {
        static LOG: AppendLog = AppendLog::new("t", &["a", "b"]);
        assert_eq!(LOG.insert(0), "INSERT INTO t (a, b) VALUES ($1, $2)");
        assert_eq!(LOG.insert(1), "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)");
        assert!(LOG.insert(5).ends_with("($63, $64)"));
    }
}
