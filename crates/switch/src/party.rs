//! The switch behind the party contract ([`host::Party`]): acquirers' requests in, forwards to
//! issuers out, stand-in advices and reversals as each issuer link's queued work.

use host::{Answer, Delivery, LinkFailure, Outbound, Party};
use iso8583::{Envelope, Message};

use crate::engine::{AdviceOutcome, OutboundAdvice, PendingExchange, Reply, Step, Switch};

fn answer(reply: Reply) -> Answer {
    Answer { envelope: None, response: reply.response, queued_for: reply.queued_for }
}

impl Outbound for OutboundAdvice {
    fn message(&self) -> &Message {
        &self.message
    }

    fn label(&self) -> String {
        format!("advice {} ({:?}) to {}", self.id, self.purpose, self.issuer)
    }
}

impl Party for Switch {
    type Pending = PendingExchange;
    type Work = OutboundAdvice;

    fn name(&self) -> &'static str {
        "switch"
    }

    fn on_request(&self, _envelope: Envelope, request: Message, now_ms: u64) -> host::Step<PendingExchange> {
        match Switch::on_request(self, request, now_ms) {
            Step::Respond(reply) => host::Step::Respond(answer(reply)),
            Step::Forward(forward) => {
                let forward = *forward;
                host::Step::Forward(Box::new(host::Forward {
                    link: forward.issuer,
                    request: forward.request,
                    pending: forward.pending,
                }))
            }
            Step::Ignore => host::Step::Ignore,
        }
    }

    fn on_answer(
        &self,
        pending: PendingExchange,
        outcome: Result<Message, LinkFailure>,
        now_ms: u64,
    ) -> Option<Answer> {
        Some(answer(match outcome {
            Ok(response) => self.on_issuer_response(pending, response, now_ms),
            Err(failure) => self.on_issuer_failure(pending, failure, now_ms),
        }))
    }

    fn due_work(&self, link: &str, now_ms: u64) -> Result<Vec<OutboundAdvice>, String> {
        self.due_advices(link, now_ms).map_err(|error| error.to_string())
    }

    fn on_work_answer(&self, advice: &OutboundAdvice, outcome: Result<Message, LinkFailure>, now_ms: u64) -> Delivery {
        match outcome {
            Ok(response) => match self.advice_answered(advice, &response, now_ms) {
                Ok(AdviceOutcome::Acknowledged(_)) => Delivery::Acknowledged,
                Ok(AdviceOutcome::Retry(state)) => {
                    tracing::warn!(entry = %advice.id, ?state, "switch: advice not acknowledged");
                    Delivery::Retry
                }
                Err(error) => {
                    tracing::error!(entry = %advice.id, %error, "switch: cannot record an advice answer");
                    Delivery::Retry
                }
            },
            Err(_) => {
                if let Err(error) = self.advice_failed(advice, now_ms) {
                    tracing::error!(entry = %advice.id, %error, "switch: cannot record an advice failure");
                }
                Delivery::Retry
            }
        }
    }

    fn batch<T>(&self, work: impl FnOnce() -> T) -> Result<T, String> {
        self.db.batch(|| self.batch_work(work)).map_err(|error| error.to_string())
    }

    fn hold_batch(&self) -> Result<Box<dyn host::HeldBatch>, String> {
        let held = self.db.hold_batch().map_err(|error| error.to_string())?;
        // What every batch does first (`batch_work`).
        crate::store::reserve_ids(&self.db);
        Ok(Box::new(held))
    }
}

impl Switch {
    /// A batch's work, after what every batch does first: in the batch's transaction, before any
    /// decision, a block of ids reserved — undone only with the whole batch, whose failed commit
    /// stops the core (an undone decision leaves it: on SQLite it is replayed, `sqlstore`'s
    /// `redo.rs`).
    fn batch_work<T>(&self, work: impl FnOnce() -> T) -> T {
        crate::store::reserve_ids(&self.db);
        work()
    }
}
