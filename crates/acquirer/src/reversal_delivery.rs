//! Delivery of the network reversals (0420/0421) the acquirer owes the switch, from its queue
//! (`acquirer_reversal_queue`; what queues them is `Acquirer::queue_reversal`): due entries
//! decrypted and MAC'd, answers recorded, failures retried with backoff until `attempts_max`.

use iso8583::{Message, Mti};

use crate::engine::{Acquirer, OutboundReversal, QUEUE_DEAD, QUEUE_DONE, QUEUE_PENDING, log, transact};
use crate::error::Result;
use crate::store::int;
use network::codes;

/// Network answers to a reversal that mean "not taken, send it again".
const REVERSAL_RETRY_CODES: [&str; 2] = [codes::ISSUER_DOWN, codes::SYSTEM_MALFUNCTION];

/// A message's record in the reversal queue.
struct QueuedReversal {
    id: u64,
    transaction_id: u64,
    payload: Vec<u8>,
    attempts: u32,
}

impl Acquirer {
    /// The reversals due at `now_ms`, oldest first (at most [`crate::limits::REVERSAL_BATCH_MAX`]):
    /// 0420 the first time, 0421 after, MAC'd with the ZAK.
    pub fn due_reversals(&self, now_ms: u64) -> Result<Vec<OutboundReversal>> {
        let rows = transact(&self.db, |tx| {
            let rows = tx.query(
                "SELECT id, transaction_id, payload, attempts FROM acquirer_reversal_queue \
                 WHERE state = $1 AND next_attempt_ms <= $2 ORDER BY id LIMIT $3",
                &[QUEUE_PENDING.into(), int(now_ms)?, int(crate::limits::REVERSAL_BATCH_MAX as u64)?],
            )?;
            rows.iter()
                .map(|row| {
                    Ok(QueuedReversal {
                        id: row.u64(0)?,
                        transaction_id: row.u64(1)?,
                        payload: row.blob(2)?,
                        attempts: u32::try_from(row.u64(3)?).unwrap_or(u32::MAX),
                    })
                })
                .collect::<Result<Vec<_>>>()
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for queued in rows {
            let body = self.hsm.decrypt_data(&self.settings.dek, &queued.payload)?;
            let mut message = iso8583::decode(&self.network_spec, body.expose())?;
            if saf::is_repeat(queued.attempts) {
                message.set_mti(Mti::parse("0421")?);
            }
            message.remove(network::mac::MAC_FIELD);
            network::mac::sign(self.hsm.as_ref(), &self.settings.zak, &mut message)?;
            out.push(OutboundReversal {
                id: queued.id,
                transaction_id: queued.transaction_id,
                attempts: queued.attempts,
                message,
            });
        }
        Ok(out)
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
            tx.execute(
                "UPDATE acquirer_reversal_queue SET state = $2, response_code = $3, answered_ms = $4 WHERE id = $1",
                &[int(reversal.id)?, QUEUE_DONE.into(), code.as_str().into(), int(now_ms)?],
            )?;
            log(tx, Some(reversal.transaction_id), "out", "network", &reversal.message, now_ms)?;
            log(tx, Some(reversal.transaction_id), "in", "network", response, now_ms)?;
            Ok(())
        })?;
        tracing::info!(reversal = reversal.id, code, "acquirer: network reversal delivered");
        Ok(true)
    }

    /// A reversal went unanswered (or was refused): retry later with backoff, Dead after
    /// `attempts_max`.
    pub fn reversal_failed(&self, reversal: &OutboundReversal, now_ms: u64) -> Result<()> {
        let config = self.settings.reversals.saf_config();
        let attempts = reversal.attempts.saturating_add(1);
        let state = if attempts >= config.attempts_max { QUEUE_DEAD } else { QUEUE_PENDING };
        let next = now_ms.saturating_add(config.backoff_ms(attempts));
        transact(&self.db, |tx| {
            tx.execute(
                "UPDATE acquirer_reversal_queue SET attempts = $2, next_attempt_ms = $3, state = $4 WHERE id = $1",
                &[int(reversal.id)?, attempts.into(), int(next)?, state.into()],
            )?;
            log(tx, Some(reversal.transaction_id), "out", "network", &reversal.message, now_ms)?;
            Ok(())
        })
    }
}
