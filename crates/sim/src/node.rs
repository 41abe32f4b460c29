//! A party core as the driver sees it: [`PartyNode`] holds, for one `host::Party`, what
//! `host::Pipeline` holds around it — forwarded requests waiting for their answers, and one
//! delivery loop per outbound link — and runs every call inside `Party::batch`, acting on its
//! outputs only after the batch committed. The driver keeps several parties of different types,
//! so this is an object-safe [`Node`] over the generic contract.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use host::{Delivery, LinkFailure, Outbound, Party, Step};
use iso8583::{Envelope, Message};

/// Where an inbound request came from: the node, the simulated exchange its answer closes and
/// the envelope it came in (a cup-pos request's TPDU and header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inbound {
    pub from: usize,
    pub exchange: u64,
    pub envelope: Envelope,
}

/// What a node asks the driver to do, after the commit of the batch that decided it.
#[derive(Debug)]
pub enum Output {
    /// Send `message` over the outbound link `link`; its answer (or timeout) comes back to
    /// [`Node::answer`] with `token`.
    Send { link: String, token: u64, message: Message },
    /// Answer an inbound request (in `envelope`, the request's turned around when `None`).
    Reply { inbound: Inbound, envelope: Option<Envelope>, message: Message },
    /// The delivery loop of `link` should look for due work now.
    Wake(String),
}

/// A batch did not commit: the node stops (fail-stop, as the pipeline's core thread does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped(pub String);

/// One party core behind the driver.
pub trait Node {
    fn name(&self) -> &'static str;
    fn request(
        &mut self,
        inbound: Inbound,
        envelope: Envelope,
        message: Message,
        now_ms: u64,
        out: &mut Vec<Output>,
    ) -> Result<(), Stopped>;
    fn answer(
        &mut self,
        token: u64,
        answer: Result<Message, LinkFailure>,
        now_ms: u64,
        out: &mut Vec<Output>,
    ) -> Result<(), Stopped>;
    /// The delivery loop of `link`: when idle, ask the core what is due and send the oldest.
    fn poll(&mut self, link: &str, now_ms: u64, out: &mut Vec<Output>) -> Result<(), Stopped>;
    fn time(&mut self, now_ms: u64) -> Result<(), Stopped>;
    fn tick_interval_ms(&self) -> Option<u64>;
    /// The core's own invariants, checked after every call that committed (an issuer's ledger:
    /// debits equal credits, no pending transfer resolved twice); why they do not hold.
    fn invariants(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A party's invariant check ([`Node::invariants`]).
pub type Check<P> = fn(&P) -> Result<(), String>;

/// What a token stands for.
enum Waiting<P: Party> {
    Forward {
        inbound: Inbound,
        pending: P::Pending,
    },
    /// Queued work in flight on `link`.
    Work {
        link: String,
        work: P::Work,
    },
}

/// One outbound link's delivery loop: items taken from `due_work` not yet sent, and whether one
/// is in flight (items go strictly one at a time, oldest first, as in the pipeline).
struct DeliveryLoop<W> {
    queued: VecDeque<W>,
    busy: bool,
}

impl<W> Default for DeliveryLoop<W> {
    fn default() -> Self {
        DeliveryLoop { queued: VecDeque::new(), busy: false }
    }
}

/// A `host::Party` as a [`Node`].
pub struct PartyNode<P: Party> {
    party: Arc<P>,
    waiting: BTreeMap<u64, Waiting<P>>,
    loops: BTreeMap<String, DeliveryLoop<P::Work>>,
    next_token: u64,
    check: Check<P>,
}

impl<P: Party> PartyNode<P> {
    pub fn new(party: Arc<P>) -> PartyNode<P> {
        PartyNode::checked(party, |_| Ok(()))
    }

    /// A node whose core's invariants `check` reads after every call.
    pub fn checked(party: Arc<P>, check: Check<P>) -> PartyNode<P> {
        PartyNode { party, waiting: BTreeMap::new(), loops: BTreeMap::new(), next_token: 0, check }
    }

    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    fn batch<T>(&self, work: impl FnOnce() -> T) -> Result<T, Stopped> {
        self.party.batch(work).map_err(Stopped)
    }

    fn reply(&self, inbound: Inbound, answer: Option<host::Answer>, out: &mut Vec<Output>) {
        if let Some(answer) = answer {
            if let Some(link) = answer.queued_for {
                out.push(Output::Wake(link));
            }
            out.push(Output::Reply { inbound, envelope: answer.envelope, message: answer.response });
        }
    }

    /// Send the next queued item of `link`, if any and none is in flight.
    fn send_next(&mut self, link: &str, out: &mut Vec<Output>) {
        let Some(state) = self.loops.get_mut(link) else { return };
        if state.busy {
            return;
        }
        let Some(work) = state.queued.pop_front() else { return };
        state.busy = true;
        let message = work.message().clone();
        let token = self.token();
        self.waiting.insert(token, Waiting::Work { link: link.to_owned(), work });
        out.push(Output::Send { link: link.to_owned(), token, message });
    }
}

impl<P: Party> Node for PartyNode<P> {
    fn invariants(&self) -> Result<(), String> {
        (self.check)(&self.party)
    }

    fn name(&self) -> &'static str {
        self.party.name()
    }

    fn request(
        &mut self,
        inbound: Inbound,
        envelope: Envelope,
        message: Message,
        now_ms: u64,
        out: &mut Vec<Output>,
    ) -> Result<(), Stopped> {
        let party = Arc::clone(&self.party);
        let step = self.batch(|| party.on_request(envelope, message, now_ms))?;
        match step {
            Step::Ignore => {}
            Step::Respond(answer) => self.reply(inbound, Some(answer), out),
            Step::Forward(forward) => {
                let forward = *forward;
                let token = self.token();
                self.waiting.insert(token, Waiting::Forward { inbound, pending: forward.pending });
                out.push(Output::Send { link: forward.link, token, message: forward.request });
            }
        }
        Ok(())
    }

    fn answer(
        &mut self,
        token: u64,
        answer: Result<Message, LinkFailure>,
        now_ms: u64,
        out: &mut Vec<Output>,
    ) -> Result<(), Stopped> {
        let party = Arc::clone(&self.party);
        match self.waiting.remove(&token) {
            None => {}
            Some(Waiting::Forward { inbound, pending }) => {
                let answer = self.batch(|| party.on_answer(pending, answer, now_ms))?;
                self.reply(inbound, answer, out);
            }
            Some(Waiting::Work { link, work }) => {
                let delivery = self.batch(|| party.on_work_answer(&work, answer, now_ms))?;
                let state = self.loops.entry(link.clone()).or_default();
                state.busy = false;
                match delivery {
                    Delivery::Acknowledged if state.queued.is_empty() => {
                        // Everything sent was acknowledged: more may be due right now.
                        out.push(Output::Wake(link));
                    }
                    Delivery::Acknowledged => self.send_next(&link, out),
                    // Kept for its retry: nothing behind it goes before it; the next poll
                    // asks the core again.
                    Delivery::Retry => state.queued.clear(),
                }
            }
        }
        Ok(())
    }

    fn poll(&mut self, link: &str, now_ms: u64, out: &mut Vec<Output>) -> Result<(), Stopped> {
        let state = self.loops.entry(link.to_owned()).or_default();
        if state.busy || !state.queued.is_empty() {
            return Ok(());
        }
        let party = Arc::clone(&self.party);
        match self.batch(|| party.due_work(link, now_ms))? {
            Ok(due) => {
                self.loops.entry(link.to_owned()).or_default().queued.extend(due);
                self.send_next(link, out);
            }
            Err(error) => tracing::error!(link, %error, "sim: cannot read due work"),
        }
        Ok(())
    }

    fn time(&mut self, now_ms: u64) -> Result<(), Stopped> {
        let party = Arc::clone(&self.party);
        self.batch(|| party.on_time(now_ms))
    }

    fn tick_interval_ms(&self) -> Option<u64> {
        self.party.tick_interval_ms()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use host::{Answer, Forward};
    use iso8583::Mti;

    use super::*;

    fn message() -> Message {
        Message::new(iso8583::builtin::network(), Mti::parse("0800").unwrap())
    }

    struct Item(Message, u32);

    impl Outbound for Item {
        fn message(&self) -> &Message {
            &self.0
        }

        fn label(&self) -> String {
            self.1.to_string()
        }
    }

    /// Forwards every request on link `up`; queues work items 1 and 2 on it; its commits fail
    /// once `fail` is set.
    struct Fake {
        fail: AtomicBool,
        queue: Mutex<VecDeque<u32>>,
    }

    impl Party for Fake {
        type Pending = ();
        type Work = Item;

        fn name(&self) -> &'static str {
            "fake"
        }

        fn on_request(&self, _: Envelope, request: Message, _: u64) -> Step<()> {
            Step::Forward(Box::new(Forward { link: "up".into(), request, pending: () }))
        }

        fn on_answer(&self, _: (), answer: Result<Message, LinkFailure>, _: u64) -> Option<Answer> {
            answer.ok().map(Answer::new)
        }

        fn due_work(&self, _: &str, _: u64) -> Result<Vec<Item>, String> {
            Ok(self.queue.lock().unwrap().iter().map(|&n| Item(message(), n)).collect())
        }

        fn on_work_answer(&self, work: &Item, answer: Result<Message, LinkFailure>, _: u64) -> Delivery {
            if answer.is_err() {
                return Delivery::Retry;
            }
            let mut queue = self.queue.lock().unwrap();
            assert_eq!(queue.pop_front(), Some(work.1), "acknowledged out of order");
            Delivery::Acknowledged
        }

        fn batch<T>(&self, work: impl FnOnce() -> T) -> Result<T, String> {
            let value = work();
            if self.fail.load(Ordering::SeqCst) { Err("the disk refused the commit".into()) } else { Ok(value) }
        }
    }

    fn node() -> (Arc<Fake>, PartyNode<Fake>) {
        let fake = Arc::new(Fake { fail: AtomicBool::new(false), queue: Mutex::new(VecDeque::from([1, 2])) });
        (Arc::clone(&fake), PartyNode::new(fake))
    }

    fn sent(out: &[Output]) -> Vec<u64> {
        out.iter().filter_map(|o| if let Output::Send { token, .. } = o { Some(*token) } else { None }).collect()
    }

    #[test]
    fn queued_work_goes_one_at_a_time_and_a_retry_holds_the_rest() {
        let (fake, mut node) = node();
        let mut out = Vec::new();
        node.poll("up", 0, &mut out).unwrap();
        let first = sent(&out);
        assert_eq!(first.len(), 1, "only the oldest item is in flight");
        // A poll while it is in flight sends nothing more.
        let mut more = Vec::new();
        node.poll("up", 1, &mut more).unwrap();
        assert!(more.is_empty());
        // Its failure keeps it (and what is behind it) for the next poll.
        let mut out = Vec::new();
        node.answer(first[0], Err(LinkFailure::Timeout), 2, &mut out).unwrap();
        assert!(out.is_empty());
        assert_eq!(fake.queue.lock().unwrap().len(), 2);
        // The next poll sends item 1 again; its acknowledgement sends item 2; the last one's
        // acknowledgement wakes the loop to look again.
        let mut out = Vec::new();
        node.poll("up", 3, &mut out).unwrap();
        let again = sent(&out);
        let mut out = Vec::new();
        node.answer(again[0], Ok(message()), 4, &mut out).unwrap();
        let second = sent(&out);
        assert_eq!(second.len(), 1);
        let mut out = Vec::new();
        node.answer(second[0], Ok(message()), 5, &mut out).unwrap();
        assert!(matches!(out.as_slice(), [Output::Wake(link)] if link == "up"));
        assert!(fake.queue.lock().unwrap().is_empty());
    }

    #[test]
    fn a_batch_that_does_not_commit_acts_on_nothing() {
        let (fake, mut node) = node();
        let inbound = Inbound { from: 0, exchange: 9, envelope: Envelope::default() };
        let mut out = Vec::new();
        node.request(inbound, Envelope::default(), message(), 0, &mut out).unwrap();
        let token = sent(&out)[0];
        fake.fail.store(true, Ordering::SeqCst);
        let mut out = Vec::new();
        assert!(node.answer(token, Ok(message()), 1, &mut out).is_err());
        assert!(out.is_empty(), "nothing of an uncommitted batch leaves");
        assert!(node.request(inbound, Envelope::default(), message(), 2, &mut out).is_err());
        assert!(out.is_empty());
    }
}
