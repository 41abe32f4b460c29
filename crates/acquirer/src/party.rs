//! The acquirer host behind the party contract ([`host::Party`]): terminals' requests in,
//! network requests to the switch out (the link named [`SWITCH_LINK`]), network reversals as
//! that link's queued work.

use host::{Answer, Delivery, LinkFailure, Outbound, Party};
use iso8583::{Envelope, Message};

use crate::engine::{Acquirer, OutboundReversal, Pending, Reply, Step};

/// The name of the acquirer's one outbound link.
pub const SWITCH_LINK: &str = "switch";

fn answer(reply: Reply) -> Answer {
    let queued_for = reply.reversal_queued.then(|| SWITCH_LINK.to_owned());
    Answer { envelope: Some(reply.envelope), response: reply.response, queued_for }
}

impl Outbound for OutboundReversal {
    fn message(&self) -> &Message {
        &self.message
    }

    fn label(&self) -> String {
        format!("reversal {} of transaction {}", self.id, self.transaction_id)
    }
}

impl Party for Acquirer {
    type Pending = Pending;
    type Work = OutboundReversal;

    /// A risk rule file is looked at for changes on the tick (none without one).
    fn tick_interval_ms(&self) -> Option<u64> {
        self.risk.wants_time().then_some(crate::risk_engine::RULES_CHECK_INTERVAL_MS)
    }

    fn on_time(&self, now_ms: u64) {
        self.risk.on_time(now_ms);
    }

    fn name(&self) -> &'static str {
        "acquirer"
    }

    fn on_request(&self, envelope: Envelope, request: Message, now_ms: u64) -> host::Step<Pending> {
        match self.on_terminal_request(envelope, request, now_ms) {
            Step::Respond(reply) => host::Step::Respond(answer(reply)),
            Step::Forward(forward) => {
                let forward = *forward;
                host::Step::Forward(Box::new(host::Forward {
                    link: SWITCH_LINK.to_owned(),
                    request: forward.network_request,
                    pending: forward.pending,
                }))
            }
            Step::Ignore => host::Step::Ignore,
        }
    }

    fn on_answer(&self, pending: Pending, outcome: Result<Message, LinkFailure>, now_ms: u64) -> Option<Answer> {
        Some(answer(match outcome {
            Ok(response) => self.on_network_response(pending, response, now_ms),
            Err(failure) => self.on_network_failure(pending, failure, now_ms),
        }))
    }

    fn due_work(&self, _link: &str, now_ms: u64) -> Result<Vec<OutboundReversal>, String> {
        self.due_reversals(now_ms).map_err(|error| error.to_string())
    }

    fn on_work_answer(
        &self,
        reversal: &OutboundReversal,
        outcome: Result<Message, LinkFailure>,
        now_ms: u64,
    ) -> Delivery {
        let acknowledged = match outcome {
            Ok(response) => self.reversal_answered(reversal, &response, now_ms).unwrap_or_else(|error| {
                tracing::error!(%error, "acquirer: cannot record a reversal answer");
                false
            }),
            Err(_) => {
                if let Err(error) = self.reversal_failed(reversal, now_ms) {
                    tracing::error!(%error, "acquirer: cannot record a reversal failure");
                }
                false
            }
        };
        if acknowledged { Delivery::Acknowledged } else { Delivery::Retry }
    }

    fn batch<T>(&self, work: impl FnOnce() -> T) -> Result<T, String> {
        self.database().batch(|| self.batch_work(work)).map_err(|error| error.to_string())
    }

    fn hold_batch(&self) -> Result<Box<dyn host::HeldBatch>, String> {
        let held = self.database().hold_batch().map_err(|error| error.to_string())?;
        // What every batch does first (`batch_work`).
        crate::store::reserve_ids(self.database());
        Ok(Box::new(held))
    }
}

impl Acquirer {
    /// A batch's work, after what every batch does first: in the batch's transaction, before any
    /// decision, a block of ids reserved — undone only with the whole batch, whose failed commit
    /// stops the core (an undone decision leaves it: on SQLite it is replayed, `sqlstore`'s
    /// `redo.rs`).
    fn batch_work<T>(&self, work: impl FnOnce() -> T) -> T {
        crate::store::reserve_ids(self.database());
        work()
    }
}
