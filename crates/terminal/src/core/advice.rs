//! Advices (0220: refund, offline completion) are sent until the host answers them. An advice is
//! never reversed (§6), so without an answer the terminal cannot know whether the host took it;
//! the host may have credited the card. The advice record — the request and its journal record,
//! sealed — goes to disk with the advanced trace before the request can leave (as a reversal
//! record does), and stays until an answer decides it: approved (journaled, in the same commit
//! that clears the record) or declined. No answer, an answer that does not match, a 94 (the host
//! is still deciding the first copy) or an approval whose MAC fails keep it, and the terminal
//! sends it again — under the same trace, which the acquirer answers as it answered the first —
//! before any other transaction, settlement or sign-off.

use super::*;
use crate::store::AdviceRow;

impl Kind {
    /// Advices (0220): sent until answered, never reversed.
    pub(crate) fn is_advice(self) -> bool {
        self.row().1 == "0220"
    }
}

impl Terminal {
    /// The advice waiting for its answer: (trace, kind name), if any.
    pub fn pending_advice(&self) -> Result<Option<(String, String)>> {
        Ok(self.kept.advice.as_ref().map(|a| (a.trace.clone(), a.kind.clone())))
    }

    /// Refuse to start anything else while a reversal or an advice is owed.
    pub(crate) fn nothing_owed(&self) -> Result<()> {
        Self::refuse_owed(self.kept.reversal.as_ref(), self.kept.advice.as_ref())
    }

    /// `Err` naming the reversal or the advice owed, if one is.
    pub(crate) fn refuse_owed(reversal: Option<&ReversalRow>, advice: Option<&AdviceRow>) -> Result<()> {
        if let Some(reversal) = reversal {
            return Err(TerminalError::State(format!(
                "a reversal ({}, trace {}) must be sent first",
                reversal.reason, reversal.trace
            )));
        }
        if let Some(advice) = advice {
            return Err(TerminalError::State(format!(
                "the {} advice (trace {}) must be sent first",
                advice.kind, advice.trace
            )));
        }
        Ok(())
    }

    /// The record of advice `m` (MAC'd) with its journal record `entry`, for [`Terminal::begin`]
    /// to write with the state.
    pub(crate) fn advice_row(&self, kind: Kind, m: &Message, entry: &JournalEntry) -> Result<AdviceRow> {
        let body = Secret::from_vec(m.encode().map_err(codec("encode"))?);
        Ok(AdviceRow {
            batch_no: entry.batch_no,
            trace: entry.trace.to_string(),
            kind: kind.name().to_owned(),
            request: self.sealer.seal(body.expose())?,
            entry: self.seal_entry(entry)?,
            attempts: 0,
        })
    }

    /// The pending advice again: the same 0220 under a fresh MAC (the keys may have changed
    /// since), read as the first copy's answer would be. The attempt is counted on disk first.
    pub fn advice_request(&mut self) -> Result<Option<Outgoing>> {
        let Some(mut row) = self.kept.advice.clone() else { return Ok(None) };
        let kind = Kind::parse(&row.kind)
            .filter(|k| k.is_advice())
            .ok_or_else(|| TerminalError::Store(format!("the advice record names kind {:?}", row.kind)))?;
        let body = self
            .sealer
            .open(&row.request)
            .map_err(|_| TerminalError::Store("the advice record fails its check".into()))?;
        let mut m = iso8583::decode(&self.spec, body.expose()).map_err(codec("advice record"))?;
        let clear = self
            .sealer
            .open(&row.entry)
            .map_err(|_| TerminalError::Store("the advice's journal record fails its check".into()))?;
        let mut entry: JournalEntry = serde_json::from_slice(clear.expose())
            .map_err(|_| TerminalError::Store("the advice's journal record does not read".into()))?;
        // The status lives beside the sealed record (in its own column), not inside it: an
        // advice's record, once approved, is journaled as approved.
        entry.status = "approved".into();
        m.remove(64);
        self.mac(&mut m)?;
        row.attempts = row.attempts.saturating_add(1);
        self.store.transact(|tx| tx.put_advice(&row))?;
        let mut out = self.outgoing(m, Purpose::Txn(kind), row.trace.clone());
        self.kept.advice = Some(row);
        out.entry = Some(entry);
        Ok(Some(out))
    }

    /// An advice's answer that leaves it owed: the outcome says so (`advice_pending`).
    pub(crate) fn advice_still_owed(outcome: &mut Outcome, why: &str) {
        outcome.approved = false;
        outcome.advice_pending = true;
        outcome.message = format!("{why}: the advice will be sent again");
    }
}
