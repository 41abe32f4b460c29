//! Terminal reversals (0400), keyed by (terminal, 60.2, 11): the first is decided by the
//! acquirer's reversal table ([`crate::reversal_rules`]) and recorded with its answer; a repeat
//! gets the same answer and sends nothing. An honoured reversal queues the network 0420 of the
//! original (once per transaction: `reversal:<transaction id>`), marks the original reversed
//! and undoes what it did to its own original, in the transaction that records it.

use iso8583::{Envelope, Message};
use network::codes;
use sqlstore::Tx;

use crate::engine::{Acquirer, Reply, Step, TX_COLUMNS, TransactionRecord, log, transact};
use crate::error::Result;
use crate::originals::apply_effects;
use crate::reversal_rules::{TerminalReversal, terminal_reversal};
use crate::store::{self, int, opt_int};

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
        transact(&self.db, |tx| {
            log(tx, outcome.original_id, "in", "terminal", request, now_ms)?;
            log(tx, outcome.original_id, "out", "terminal", &response, now_ms)?;
            Ok(())
        })?;
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
        let earlier = tx.query_opt(
            "SELECT response_code FROM acquirer_terminal_reversals WHERE terminal_id = $1 AND batch_no = $2 \
             AND trace = $3",
            &[terminal_id.into(), batch.into(), trace.into()],
        )?;
        if let Some(row) = earlier {
            // A repeat: the same answer, nothing new toward the network.
            return Ok(Outcome { code: row.text(0)?, queued: false, original_id: None });
        }
        let original = tx
            .query_opt(
                &format!(
                    "SELECT {TX_COLUMNS} FROM acquirer_transactions WHERE terminal_id = $1 AND batch_no = $2 \
                     AND trace = $3"
                ),
                &[terminal_id.into(), batch.into(), trace.into()],
            )?
            .as_ref()
            .map(TransactionRecord::from_row)
            .transpose()?;
        let rule = terminal_reversal(original.as_ref());
        let mut queued = false;
        if let (TerminalReversal::Forward, Some(original)) = (rule, &original) {
            let network_request = self.rebuild_network_original(tx, original)?;
            let reason = request.get_str(39).unwrap_or(codes::ISSUER_TIMEOUT);
            queued = self.queue_reversal(tx, original.id, &network_request, reason, now_ms)?;
            tx.execute("UPDATE acquirer_transactions SET reversed = 1 WHERE id = $1", &[int(original.id)?])?;
            if original.approved()
                && let Some(kind) = original.pos_kind()
            {
                apply_effects(tx, kind, original.original_id, original.amount_minor, false)?;
            }
        }
        let id = store::next_id(tx, store::SEQ_TERMINAL_REVERSAL)?;
        tx.execute(
            "INSERT INTO acquirer_terminal_reversals (id, terminal_id, batch_no, trace, reason, original_id, \
             forwarded, response_code, received_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                int(id)?,
                terminal_id.into(),
                batch.into(),
                trace.into(),
                request.get_str(39).into(),
                opt_int(original.as_ref().map(|o| o.id))?,
                i64::from(rule == TerminalReversal::Forward).into(),
                rule.code().into(),
                int(now_ms)?,
            ],
        )?;
        Ok(Outcome { code: rule.code().to_owned(), queued, original_id: original.map(|o| o.id) })
    }
}
