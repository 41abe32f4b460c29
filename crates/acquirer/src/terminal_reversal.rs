//! Terminal reversals (0400), keyed by (terminal, 60.2, 11): the first is decided by the
//! acquirer's reversal table ([`crate::reversal_rules`]) and recorded with its answer; a repeat
//! gets the same answer and sends nothing. An honoured reversal queues the network 0420 of the
//! original (once per transaction: `reversal:<transaction id>`), marks the original reversed
//! and undoes what it did to its own original, in the transaction that records it.

use iso8583::{Envelope, Message};
use network::codes;
use sqlstore::Tx;

use crate::engine::{Acquirer, Reply, Step, transact};
use crate::error::Result;
use crate::journal::{self, NewTerminalReversal};
use crate::originals::apply_effects;
use crate::reversal_rules::{TerminalReversal, terminal_reversal};

/// The terminal reversal as the host recorded it: answer, whether a 0420 was newly queued, and
/// the original's id.
struct Outcome {
    code: String,
    queued: bool,
    original_id: Option<u64>,
}

/// Which 0400: the terminal, its batch (60.2) and trace (11).
struct ReversalKey<'a> {
    terminal_id: &'a str,
    batch: u32,
    trace: &'a str,
}

impl Acquirer {
    pub(crate) fn terminal_reversal(&self, envelope: &Envelope, request: &Message, now_ms: u64) -> Result<Step> {
        let (known, mak) = match self.checked_terminal(envelope, request, now_ms)? {
            Ok(checked) => checked,
            Err(reply) => return Ok(Step::Respond(reply)),
        };
        let batch = request
            .get_path("60.2")
            .ok()
            .flatten()
            .and_then(|v| std::str::from_utf8(v).ok()?.parse::<u32>().ok())
            .unwrap_or(known.state.batch_no);
        let Some(trace) = request.get_str(11).map(str::to_owned) else {
            return Ok(Step::Respond(self.refuse(envelope, request, Some(&mak), codes::FORMAT_ERROR, false, now_ms)));
        };
        let terminal_id = known.terminal.terminal_id.clone();
        let key = ReversalKey { terminal_id: &terminal_id, batch, trace: &trace };
        let outcome = transact(&self.db, |tx| self.record_terminal_reversal(tx, &key, request, now_ms))?;
        let mut response = self.answer(request, &outcome.code, None, now_ms);
        self.sign_response(&mut response, Some(&mak));
        transact(&self.db, |tx| Ok(journal::log_exchange(tx, outcome.original_id, request, &response, now_ms)?))?;
        tracing::info!(terminal = %terminal_id, trace, code = %outcome.code, queued = outcome.queued, "acquirer: terminal reversal");
        Ok(Step::Respond(Reply {
            envelope: self.reply_envelope(envelope, known.state.sign_on_required),
            response,
            reversal_queued: outcome.queued,
        }))
    }

    /// Decide and record one terminal reversal in `tx`.
    fn record_terminal_reversal(
        &self,
        tx: &mut Tx<'_>,
        key: &ReversalKey<'_>,
        request: &Message,
        now_ms: u64,
    ) -> Result<Outcome> {
        let ReversalKey { terminal_id, batch, trace } = *key;
        if let Some(code) = journal::terminal_reversal_answer(tx, terminal_id, batch, trace)? {
            // A repeat: the same answer, nothing new toward the network.
            return Ok(Outcome { code, queued: false, original_id: None });
        }
        let original = journal::by_trace(tx, terminal_id, batch, trace)?;
        let rule = terminal_reversal(original.as_ref());
        let mut queued = false;
        if let (TerminalReversal::Forward, Some(original)) = (rule, &original) {
            let network_request = self.rebuild_network_original(tx, original)?;
            let reason = request.get_str(39).unwrap_or(codes::ISSUER_TIMEOUT);
            queued = self.queue_reversal(tx, original.id, &network_request, reason, now_ms)?;
            journal::mark_reversed(tx, original.id)?;
            if original.approved()
                && let Some(kind) = original.pos_kind()
            {
                apply_effects(tx, kind, original.original_id, original.amount_minor, false)?;
            }
        }
        let record = NewTerminalReversal {
            terminal_id,
            batch_no: batch,
            trace,
            reason: request.get_str(39),
            original_id: original.as_ref().map(|o| o.id),
            forwarded: rule == TerminalReversal::Forward,
            response_code: rule.code(),
        };
        journal::insert_terminal_reversal(tx, &record, now_ms)?;
        Ok(Outcome { code: rule.code().to_owned(), queued, original_id: original.map(|o| o.id) })
    }
}
