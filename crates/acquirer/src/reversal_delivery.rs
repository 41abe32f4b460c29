//! Delivery of the network reversals (0420/0421) the acquirer owes the switch, from the
//! network's one store-and-forward queue (`saf::SqlQueue` in `acquirer_saf`; what queues them
//! is `Acquirer::queue_reversal`), as the switch delivers its advices: strictly in enqueue
//! order ([`saf::SqlQueue::head_of_line`]), decrypted and MAC'd, 0421 on every send after the
//! first ([`saf::is_repeat`]), answers recorded, failures retried with saf's backoff until
//! `[reversals] attempts_max`.

use iso8583::{Message, Mti};
use saf::{EntryId, EntryState};

use crate::engine::{Acquirer, OutboundReversal, transact};
use crate::error::Result;
use crate::journal::{self, Flow};
use crate::store::SWITCH_DESTINATION;
use network::codes;

/// Network answers to a reversal that mean "not taken, send it again".
const REVERSAL_RETRY_CODES: [&str; 2] = [codes::ISSUER_DOWN, codes::SYSTEM_MALFUNCTION];

impl Acquirer {
    /// The reversals due at `now_ms`, oldest first, up to the first one still waiting for its
    /// retry (at most [`crate::limits::REVERSAL_BATCH_MAX`]): 0420 the first time, 0421 after,
    /// MAC'd with the ZAK. One that cannot be read is given up (Dead, for an operator) rather
    /// than holding back every reversal behind it.
    pub fn due_reversals(&self, now_ms: u64) -> Result<Vec<OutboundReversal>> {
        transact(&self.db, |tx| {
            let entries = self.queue.head_of_line(tx, SWITCH_DESTINATION, now_ms, crate::limits::REVERSAL_BATCH_MAX)?;
            let mut out = Vec::with_capacity(entries.len());
            for entry in entries {
                let message = self
                    .hsm
                    .decrypt_data(&self.settings.dek, &entry.payload)
                    .map_err(crate::error::AcquirerError::from)
                    .and_then(|clear| Ok(iso8583::decode(&self.network_spec, clear.expose())?));
                let (Some(transaction_id), Ok(mut message)) = (journal::reversal_transaction(tx, entry.id.0)?, message)
                else {
                    tracing::error!(reversal = %entry.id, "acquirer: network reversal unreadable, marked dead");
                    self.queue.give_up(tx, entry.id)?;
                    continue;
                };
                if saf::is_repeat(entry.attempts) {
                    message.set_mti(Mti::parse("0421")?);
                }
                message.remove(network::mac::MAC_FIELD);
                network::mac::sign(self.hsm.as_ref(), &self.settings.zak, &mut message)?;
                out.push(OutboundReversal { id: entry.id.0, transaction_id, attempts: entry.attempts, message });
            }
            Ok(out)
        })
    }

    /// The switch answered a reversal. `Ok(true)` when it is delivered for good.
    pub fn reversal_answered(&self, reversal: &OutboundReversal, response: &Message, now_ms: u64) -> Result<bool> {
        let trusted = network::mac::verify(self.hsm.as_ref(), &self.settings.zak, response).is_ok()
            && response.mti().as_str() == "0430"
            && response.get_str(11) == reversal.message.get_str(11);
        let code = response.get_str(39).unwrap_or("");
        if !trusted || REVERSAL_RETRY_CODES.contains(&code) {
            self.reversal_failed(reversal, now_ms)?;
            return Ok(false);
        }
        let code = code.to_owned();
        transact(&self.db, |tx| {
            self.queue.acknowledged(tx, EntryId(reversal.id))?;
            journal::reversal_answered(tx, reversal.id, &code, now_ms)?;
            journal::log(tx, Some(reversal.transaction_id), Flow::ToNetwork, &reversal.message, now_ms)?;
            journal::log(tx, Some(reversal.transaction_id), Flow::FromNetwork, response, now_ms)?;
            Ok(())
        })?;
        tracing::info!(reversal = reversal.id, code, "acquirer: network reversal delivered");
        Ok(true)
    }

    /// A reversal went unanswered (or was refused): retried later with saf's backoff, Dead after
    /// `attempts_max`.
    pub fn reversal_failed(&self, reversal: &OutboundReversal, now_ms: u64) -> Result<()> {
        let config = self.settings.reversals.saf_config();
        let state = transact(&self.db, |tx| {
            journal::log(tx, Some(reversal.transaction_id), Flow::ToNetwork, &reversal.message, now_ms)?;
            Ok(self.queue.attempt_failed(tx, &config, EntryId(reversal.id), now_ms)?)
        })?;
        if state == EntryState::Dead {
            tracing::error!(
                reversal = reversal.id,
                transaction = reversal.transaction_id,
                "acquirer: network reversal given up after its attempts; it needs an operator"
            );
        }
        Ok(())
    }
}
