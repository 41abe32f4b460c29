//! The one contract between a party's core and its drivers.
//!
//! A core (the switch, an issuer, an acquirer host) is plain logic over its own database and
//! security module: no sockets, no clock, no threads. Everything that happens to it comes in
//! through [`Party`], with the time:
//!
//! | in                                   | out                                              |
//! |--------------------------------------|--------------------------------------------------|
//! | an inbound request                   | [`Step`]: an [`Answer`], an outbound request ([`Forward`]) or nothing |
//! | the answer or failure of a forward   | the [`Answer`] to the inbound request behind it  |
//! | "what is due on link L?"             | queued outbound work (advices, reversals), oldest first |
//! | the answer or failure of queued work | [`Delivery`]: acknowledged, or kept for a retry   |
//! | the time                             | whatever is due by then (holds expired, …)       |
//!
//! Every call's writes are durable before its output is acted on: each core writes through its
//! party database, and a driver runs calls inside [`Party::batch`] (or one held open, [`Party::hold_batch`]),
//! whose commit — and the disk's sync of it — comes before any answer of the batch leaves. Drivers: the production pipeline ([`crate::pipeline`]) over
//! any `transport::Listener`/`Connector` (TCP, TLS, in-memory), the one-process demo (the same
//! pipeline on loopback) and the deterministic simulation (calls the trait directly).

use iso8583::{Envelope, Message};

use crate::link::LinkFailure;

/// An answer to an inbound request.
#[derive(Debug)]
pub struct Answer {
    /// The envelope the answer goes out with; `None`: the request's own, turned around.
    pub envelope: Option<Envelope>,
    pub response: Message,
    /// A link whose outbound queue just grew: its delivery should look now.
    pub queued_for: Option<String>,
}

impl Answer {
    /// An answer in the request's envelope that queued nothing.
    pub fn new(response: Message) -> Answer {
        Answer { envelope: None, response, queued_for: None }
    }
}

/// A request the core wants sent over one of its outbound links before it can answer.
#[derive(Debug)]
pub struct Forward<P> {
    /// The outbound link's name (an issuer's id at the switch, `switch` at an acquirer host).
    pub link: String,
    pub request: Message,
    /// What the core needs to finish the inbound request when the answer (or its absence)
    /// comes back through [`Party::on_answer`].
    pub pending: P,
}

/// What the driver does with an inbound request.
#[derive(Debug)]
pub enum Step<P> {
    Respond(Answer),
    Forward(Box<Forward<P>>),
    /// Nothing to send (a response nobody asked for, an unsolicited message).
    Ignore,
}

/// What became of queued outbound work after the link's answer (or its absence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Done for good: the next item on the link may go.
    Acknowledged,
    /// Kept (retried later, or dead after its attempts): nothing behind it goes before it.
    Retry,
}

/// Queued outbound work: the message to send and a name for log lines.
pub trait Outbound: Send + 'static {
    fn message(&self) -> &Message;
    /// Identifies the item in log lines (a queue entry id; never a card number).
    fn label(&self) -> String;
}

/// A party's core as its drivers see it. Implemented by the switch, the issuer and the
/// acquirer host; the terminal implements the client half ([`Client`]).
pub trait Party: Send + Sync + 'static {
    /// A forwarded request's state, kept by the driver until its answer.
    type Pending: Send + 'static;
    /// One item of queued outbound work.
    type Work: Outbound;

    /// The party's name in log lines (`switch`, `issuer`, `acquirer`).
    fn name(&self) -> &'static str;

    /// Decide an inbound request that arrived at `now_ms`.
    fn on_request(&self, envelope: Envelope, request: Message, now_ms: u64) -> Step<Self::Pending>;

    /// Finish a forwarded request with the link's answer or failure. `None`: the inbound
    /// request goes unanswered (its sender times out and reverses).
    fn on_answer(&self, pending: Self::Pending, answer: Result<Message, LinkFailure>, now_ms: u64) -> Option<Answer>;

    /// Queued work due on `link` at `now_ms`, oldest first, at most the core's own batch bound.
    fn due_work(&self, link: &str, now_ms: u64) -> Result<Vec<Self::Work>, String>;

    /// Record the answer (or failure) of one item of queued work.
    fn on_work_answer(&self, work: &Self::Work, answer: Result<Message, LinkFailure>, now_ms: u64) -> Delivery;

    /// Do what time makes due (release expired holds, …). Called every
    /// [`Party::tick_interval_ms`] by drivers that have a clock.
    fn on_time(&self, now_ms: u64) {
        let _ = now_ms;
    }

    /// How often [`Party::on_time`] should run; `None`: never.
    fn tick_interval_ms(&self) -> Option<u64> {
        None
    }

    /// Run `work` — several calls of this trait — as one unit of durability: every write the
    /// calls make is committed when this returns `Ok`, and a driver sends none of their outputs
    /// before that. `Err`: nothing of it is durable (the driver then answers none of them, as
    /// after a crash). The default commits each call on its own (already durable).
    fn batch<T>(&self, work: impl FnOnce() -> T) -> Result<T, String> {
        Ok(work())
    }

    /// Open a batch and keep it open: the calls a driver makes on this thread until it commits
    /// it ([`HeldBatch::commit_then`]) are one unit of durability, as inside `batch`, and the
    /// driver acts on their outputs once that commit is durable — so it may go on deciding the
    /// next batch while the disk catches up. The default: calls that commit on their own (a
    /// party that overrides `batch` overrides this too).
    fn hold_batch(&self) -> Result<Box<dyn HeldBatch>, String> {
        Ok(Box::new(NothingHeld))
    }
}

/// A batch a driver holds open across several rounds of calls ([`Party::hold_batch`]): every call
/// made meanwhile on the thread that opened it joins it; committed once, its outputs acted on
/// once it is durable; dropped, rolled back.
pub trait HeldBatch: Send {
    /// Commit; run `then` once the commit is durable (later and on another thread, after every
    /// earlier batch's `then`; never if it does not become durable, the party then refusing
    /// every later batch). On the thread that opened the batch.
    fn commit_then(self: Box<Self>, then: Box<dyn FnOnce() + Send>) -> Result<(), String>;

    /// [`HeldBatch::commit_then`] for a driver with nothing else to decide meanwhile: the party
    /// may make the commit durable on this thread and run `then` before returning, when nothing
    /// else waits for its disk (sparing the hand-off to another thread and back). The default:
    /// `commit_then`.
    fn commit_then_here(self: Box<Self>, then: Box<dyn FnOnce() + Send>) -> Result<(), String> {
        self.commit_then(then)
    }
}

/// The batch of a party whose calls commit on their own: nothing to commit.
struct NothingHeld;

impl HeldBatch for NothingHeld {
    fn commit_then(self: Box<Self>, then: Box<dyn FnOnce() + Send>) -> Result<(), String> {
        then();
        Ok(())
    }
}

impl HeldBatch for sqlstore::HeldBatch {
    fn commit_then(self: Box<Self>, then: Box<dyn FnOnce() + Send>) -> Result<(), String> {
        (*self).commit_then(then).map_err(|error| error.to_string())
    }

    fn commit_then_here(self: Box<Self>, then: Box<dyn FnOnce() + Send>) -> Result<(), String> {
        (*self).commit_then_here(then).map_err(|error| error.to_string())
    }
}

/// The client half of the contract: a party that starts exchanges (the POS terminal) instead
/// of answering them. Each request it makes comes back with its answer or its failure.
pub trait Client {
    /// A request on its way, as the client keeps it until the answer.
    type Outgoing;
    /// What an exchange ended in, for the person or program driving the client.
    type Outcome;
    type Error;

    fn request_of(outgoing: &Self::Outgoing) -> &Message;
    /// Take the answer to `outgoing`.
    fn on_response(&mut self, outgoing: &Self::Outgoing, response: &Message) -> Result<Self::Outcome, Self::Error>;
    /// No answer came (timeout or link lost): record what that means (a reversal owed).
    fn on_no_answer(&mut self, outgoing: &Self::Outgoing) -> Self::Outcome;
}

/// A party with no queued outbound work (an issuer) names this as its `Work`.
impl Outbound for std::convert::Infallible {
    fn message(&self) -> &Message {
        match *self {}
    }

    fn label(&self) -> String {
        match *self {}
    }
}
