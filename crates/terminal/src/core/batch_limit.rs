//! The batch limit (issue 12 point 4): a batch holds at most `batch_limit` records (default
//! 500, at most 999 — field 48 counts a batch in three digits, reference §6). At the limit the
//! terminal refuses new transactions, before anything is committed or sent, and says why:
//! the supervisor settles, and the next batch takes transactions again. A balance inquiry adds
//! no record and is still answered.

use super::*;

impl Terminal {
    /// Records in the open batch (what its settlement counts and uploads).
    pub fn batch_count(&self) -> Result<u64> {
        let batch = self.state.batch_no;
        match self.kept.counted {
            (counted, count) if counted == batch => Ok(count),
            // A new batch number whose state row could not be written: counted from the journal.
            _ => Ok(self.store.transact(|tx| tx.entry_count(batch))?),
        }
    }

    /// Whether the open batch is at its limit (a journal that cannot be read counts as not).
    pub fn batch_full(&self) -> bool {
        self.batch_count().is_ok_and(|count| count >= u64::from(self.config.batch_limit))
    }

    /// `Err` with "batch full: settle now" when the open batch, holding `count` records, is at
    /// its limit and `kind` would add a record to it.
    pub(super) fn check_batch_room(&self, kind: Kind, count: u64) -> Result<()> {
        if kind == Kind::Balance {
            return Ok(());
        }
        let limit = u64::from(self.config.batch_limit);
        if count >= limit {
            return Err(TerminalError::State(format!(
                "batch full: settle now ({count} of {limit} transactions in batch {:06}; the supervisor settles, \
                 then the next batch takes transactions)",
                self.state.batch_no
            )));
        }
        Ok(())
    }
}
