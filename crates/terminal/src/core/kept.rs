//! What the journal holds that nearly every request asks about — the pending reversal, the
//! pending advice, how many records the open batch has, the state row as written — kept in
//! memory, so a purchase reads none of it back from the journal, counts no records and writes
//! the state row only when it changed. The terminal is its journal's only writer, and each copy
//! here changes only after the transaction that wrote it committed: a failed transaction leaves
//! the copy as it leaves the journal. Power-on reads them all from the journal.

use super::*;
use crate::keys::split_keys;
use crate::store::AdviceRow;

/// An approval for the journal: its record, the record sealed, and the status its original
/// takes (a void's, a completion's).
pub(super) type Journaled = (JournalEntry, Vec<u8>, Option<&'static str>);

/// The journal's rows as last committed (`Terminal::load` reads them).
pub(super) struct Kept {
    pub reversal: Option<ReversalRow>,
    pub advice: Option<AdviceRow>,
    /// The state row on disk: `Terminal::save_state` writes only a state that differs.
    pub state: StateRow,
    /// (batch number, its records in the journal): counted at power-on and when the terminal
    /// moves to another batch (the host's 60.2, settlement), one more with each record
    /// journaled in that batch.
    pub counted: (u32, u64),
}

impl Kept {
    /// Before power-on has read the journal.
    pub fn empty(state: &StateRow) -> Kept {
        Kept { reversal: None, advice: None, state: state.clone(), counted: (state.batch_no, 0) }
    }

    /// A record of `batch_no` was journaled (committed).
    pub fn journaled(&mut self, batch_no: u32) {
        if self.counted.0 == batch_no {
            self.counted.1 += 1;
        }
    }
}

impl Terminal {
    /// Read state, keys, the pending reversal and advice, and every record of the open batch
    /// (each record's seal is its checksum).
    pub(super) fn load(&mut self) -> Result<String> {
        let (state, reversal, advice) =
            self.store.transact(|tx| Ok((tx.load_state()?, tx.reversal()?, tx.advice()?)))?;
        let state = match state {
            Some(state) => state,
            None => {
                // No salt: operators are seeded from the configuration's hashes (`seeds.rs`).
                let salt = Vec::new();
                let state = StateRow { batch_no: 1, trace: 0, scheme: None, keys: None, sign_on_needed: true, salt };
                self.store.transact(|tx| tx.save_state(&state))?;
                state
            }
        };
        if let (Some(sealed), Some(code)) = (&state.keys, &state.scheme) {
            let scheme = SignOnScheme::from_code(code)?;
            let clear = self.sealer.open(sealed)?;
            self.keys = Some(WorkingKeys::install(&split_keys(scheme, clear.expose())?)?);
            self.scheme = scheme;
        }
        if let Some(reversal) = &reversal {
            self.sealer.open(&reversal.request)?;
        }
        self.kept = Kept::empty(&state);
        self.state = state;
        let downloaded = self.store.transact(|tx| tx.parameter(PARAMETER_MERCHANT_NAME))?;
        self.merchant_name = downloaded.filter(|n| !n.is_empty()).or_else(|| self.config.merchant_name.clone());
        let entries = self.entries()?;
        let summary = format!(
            "batch {:06}: {} records intact{}",
            self.state.batch_no,
            entries.len(),
            reversal
                .as_ref()
                .map(|r| format!(", reversal {} pending (trace {})", r.reason, r.trace))
                .unwrap_or_default()
        );
        self.kept.counted = (self.state.batch_no, entries.len() as u64);
        self.kept.reversal = reversal;
        self.kept.advice = advice;
        Ok(summary)
    }

    /// Write the state row, unless the journal holds it as it is. A new batch number has its
    /// records counted in the same transaction.
    pub(super) fn save_state(&mut self) -> Result<()> {
        if self.state == self.kept.state {
            return Ok(());
        }
        let state = self.state.clone();
        let batch = state.batch_no;
        let recount = batch != self.kept.counted.0;
        let count = self.store.transact(|tx| {
            tx.save_state(&state)?;
            Ok::<_, TerminalError>(if recount { Some(tx.entry_count(batch)?) } else { None })
        })?;
        if let Some(count) = count {
            self.kept.counted = (batch, count);
        }
        self.kept.state = state;
        Ok(())
    }

    /// What an answer decided, in one transaction: the approval journaled (and its original's
    /// status), the last slip, the advice and the reversal record cleared; the state row only
    /// if the answer changed it (sign on again), as `begin` wrote it otherwise.
    pub(super) fn write_answer(&mut self, kind: Kind, journal: Option<&Journaled>, slip: Option<&str>) -> Result<()> {
        let state = (self.state != self.kept.state).then(|| self.state.clone());
        let advice_owed = kind.is_advice() && self.kept.advice.is_some();
        let reversal_owed = self.kept.reversal.is_some();
        self.store.transact(|tx| {
            if let Some(state) = &state {
                tx.save_state(state)?;
            }
            if let Some((entry, sealed, original_status)) = journal {
                tx.insert_entry(entry, sealed.clone())?;
                if let (Some(status), Some(original)) = (original_status, &entry.original_trace) {
                    tx.set_status(entry.batch_no, &original.to_string(), status)?;
                }
            }
            if let Some(kept) = slip {
                tx.put_last_slip(kept)?;
            }
            if advice_owed {
                // Decided: approved (journaled above, in this commit) or declined.
                tx.clear_advice()?;
            }
            if reversal_owed {
                tx.clear_reversal()?;
            }
            Ok(())
        })?;
        if let Some(state) = state {
            self.kept.state = state;
        }
        if let Some((entry, _, _)) = journal {
            self.kept.journaled(entry.batch_no);
        }
        if advice_owed {
            self.kept.advice = None;
        }
        self.kept.reversal = None;
        Ok(())
    }

    /// The pending reversal's (trace, reason), if any.
    pub fn pending_reversal(&self) -> Result<Option<(String, String)>> {
        Ok(self.kept.reversal.as_ref().map(|r| (r.trace.clone(), r.reason.clone())))
    }

    /// The pending reversal rewritten (its reason, its attempts).
    pub(super) fn put_reversal(&mut self, row: ReversalRow) -> Result<()> {
        self.store.transact(|tx| tx.put_reversal(&row))?;
        self.kept.reversal = Some(row);
        Ok(())
    }

    pub(super) fn set_reversal_reason(&mut self, reason: &str) -> Result<()> {
        let Some(mut row) = self.kept.reversal.clone() else { return Ok(()) };
        row.reason = reason.to_owned();
        self.put_reversal(row)
    }

    pub(super) fn clear_reversal(&mut self) -> Result<()> {
        self.store.transact(|tx| tx.clear_reversal())?;
        self.kept.reversal = None;
        Ok(())
    }

    /// The request never left (no connection): forget its reversal or advice record.
    pub fn abandon(&mut self, out: &Outgoing) -> Result<()> {
        if matches!(out.purpose, Purpose::Txn(k) if k.reversible()) {
            self.clear_reversal()?;
        }
        if matches!(out.purpose, Purpose::Txn(k) if k.is_advice()) {
            self.store.transact(|tx| tx.clear_advice())?;
            self.kept.advice = None;
        }
        Ok(())
    }
}
