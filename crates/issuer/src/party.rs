//! The issuer behind the party contract ([`host::Party`]): the switch's requests in, answers
//! out; nothing forwarded, nothing queued; time releases expired holds.

use std::convert::Infallible;

use host::{Answer, Delivery, LinkFailure, Party, Step};
use iso8583::{Envelope, Message};

use crate::issuer::Issuer;
use crate::limits::EXPIRY_SWEEP_INTERVAL_MS;

impl Party for Issuer {
    type Pending = Infallible;
    type Work = Infallible;

    fn name(&self) -> &'static str {
        "issuer"
    }

    fn on_request(&self, _envelope: Envelope, request: Message, _now_ms: u64) -> Step<Infallible> {
        // The issuer reads its own clock (the ledger's holds expire by it).
        match self.handle(&request) {
            Some(response) => Step::Respond(Answer::new(response)),
            None => Step::Ignore,
        }
    }

    fn on_answer(&self, pending: Infallible, _: Result<Message, LinkFailure>, _: u64) -> Option<Answer> {
        match pending {}
    }

    fn due_work(&self, _link: &str, _now_ms: u64) -> Result<Vec<Infallible>, String> {
        Ok(Vec::new())
    }

    fn on_work_answer(&self, work: &Infallible, _: Result<Message, LinkFailure>, _: u64) -> Delivery {
        match *work {}
    }

    fn on_time(&self, now_ms: u64) {
        self.risk_tick(now_ms);
        match self.expire_holds() {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "issuer: expired holds released"),
            Err(error) => tracing::warn!(%error, "issuer: releasing expired holds failed"),
        }
    }

    fn tick_interval_ms(&self) -> Option<u64> {
        Some(EXPIRY_SWEEP_INTERVAL_MS)
    }

    fn batch<T>(&self, work: impl FnOnce() -> T) -> Result<T, String> {
        self.cards.db().batch(work).map_err(|error| error.to_string())
    }

    fn hold_batch(&self) -> Result<Box<dyn host::HeldBatch>, String> {
        let held = self.cards.db().hold_batch().map_err(|error| error.to_string())?;
        Ok(Box::new(held))
    }
}
