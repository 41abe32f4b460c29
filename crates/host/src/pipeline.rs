//! The production driver of a [`Party`]: one core deciding events in batches — a task of the
//! runtime when it is a current-thread one (connections and decisions on one thread, no event
//! crossing threads), else a thread of its own (a PostgreSQL store's client blocks on a runtime
//! of its own and cannot run on a thread that drives one).
//!
//! Connections, sessions and timers run on tokio and turn everything that happens into an
//! [`Event`] on one bounded queue. The core takes what has arrived — at least one event,
//! at most [`PIPELINE_EVENTS_MAX`], never waiting for more (a lone request is not delayed) —
//! decides all of it inside one batch ([`Party::hold_batch`]: one commit), and only once that commit is
//! durable acts on the outputs: answers written, forwards sent, delivery loops woken. So nothing
//! is answered before its batch is on disk, and a busy party pays one commit for many decisions
//! instead of one each. The core does not wait for the disk: while one batch's sync runs
//! (`sqlstore`'s sync thread), it decides what arrives into the next, held open, and commits it
//! when the sync is done — before, every party idled through each of its syncs, and the
//! requests behind them waited too. A batch of one event with nothing waiting behind it (an idle
//! party) the core syncs itself ([`crate::party::HeldBatch::commit_then_here`]), sparing the
//! hand-off to the sync thread and back; under load it decides while the disk syncs, as above.
//!
//! If a batch's commit fails, none of its outputs leave and the core thread stops (fail-stop): to
//! the peers it is as if the process had crashed before deciding them (they time out and
//! reverse), and no later decision rests on memory the database does not have.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clock::Clock;
use iso8583::{Envelope, Message};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use transport::{Handler, Session};

use crate::link::{LinkFailure, is_ready, request_if_ready};
use crate::meters::Meters;
use crate::party::{Answer, Delivery, Outbound, Party, Step};

/// Events one batch decides at most (one commit covers them).
pub const PIPELINE_EVENTS_MAX: usize = 512;
/// Events waiting for the core thread at most; a sender waits for room (backpressure reaches
/// the connections, whose reading pauses at their own in-flight bound).
pub const PIPELINE_QUEUE_DEPTH_MAX: usize = 8_192;

type Reply = oneshot::Sender<Option<(Envelope, Message)>>;

/// Something for the core to decide.
enum Event<P: Party> {
    Request { envelope: Envelope, message: Message, reply: Reply },
    Answer { envelope: Envelope, pending: P::Pending, answer: Result<Message, LinkFailure>, reply: Reply },
    Due { link: String, done: oneshot::Sender<Result<Vec<P::Work>, String>> },
    WorkAnswer { work: P::Work, answer: Result<Message, LinkFailure>, done: oneshot::Sender<Delivery> },
    Time,
}

/// What the core decided for one event, acted on after the batch's commit.
enum Output<P: Party> {
    Reply(Reply, Option<(Envelope, Message)>),
    Forward { envelope: Envelope, link: String, request: Message, pending: P::Pending, reply: Reply },
    Due(oneshot::Sender<Result<Vec<P::Work>, String>>, Result<Vec<P::Work>, String>),
    Delivered(oneshot::Sender<Delivery>, Delivery),
    Nothing,
}

/// The batch the core holds open while the previous one syncs, and the outputs decided into it.
struct Open<P: Party> {
    held: Box<dyn crate::party::HeldBatch>,
    outputs: Vec<Output<P>>,
    opened: Instant,
}

/// A committed batch's outputs on their way back to the core: `Some` once durable; `None` when
/// the batch's `then` was dropped unrun (its sync failed) — sent by the drop itself, so the core
/// learns that no sync is coming.
struct Synced<P: Party>(Option<Vec<Output<P>>>, mpsc::UnboundedSender<Synced<P>>);

impl<P: Party> Drop for Synced<P> {
    fn drop(&mut self) {
        if let Some(outputs) = self.0.take() {
            // Dropped with its outputs: never durable. They go unanswered; the core hears it.
            drop(outputs);
            let _ = self.1.send(Synced(None, self.1.clone()));
        }
    }
}

/// One outbound link of a party: its session and the bell of its delivery loop.
#[derive(Clone)]
pub struct Link {
    pub session: Session,
    pub wake: Arc<Notify>,
}

impl Link {
    pub fn new(session: Session) -> Link {
        Link { session, wake: Arc::new(Notify::new()) }
    }
}

/// A party's pipeline: the core thread and the queue into it. Cheap to clone; the core thread
/// ends when the last clone (and every handler and loop holding one) is gone.
pub struct Pipeline<P: Party> {
    events: mpsc::Sender<Event<P>>,
    links: Arc<HashMap<String, Link>>,
    meters: Arc<Meters>,
}

impl<P: Party> Clone for Pipeline<P> {
    fn clone(&self) -> Self {
        Pipeline { events: self.events.clone(), links: Arc::clone(&self.links), meters: Arc::clone(&self.meters) }
    }
}

impl<P: Party> Pipeline<P> {
    /// Start the core thread for `party` with its outbound `links` (by name). Must be called
    /// inside a tokio runtime: forwards are sent from tasks on it.
    pub fn start(party: Arc<P>, links: HashMap<String, Link>, clock: Arc<dyn Clock>) -> std::io::Result<Pipeline<P>> {
        let (events, queue) = mpsc::channel(PIPELINE_QUEUE_DEPTH_MAX);
        let meters = Arc::new(Meters::new(party.name()));
        let pipeline = Pipeline { events, links: Arc::new(links), meters };
        let runtime = tokio::runtime::Handle::current();
        let flavor = runtime.runtime_flavor();
        let core = Core { party, clock, actor: Arc::new(Actor { pipeline: pipeline.downgrade(), runtime }) };
        if flavor == tokio::runtime::RuntimeFlavor::CurrentThread {
            // One thread for the party's connections and its core: no hand-off between threads
            // per event (see `Core::run_on_runtime`).
            tokio::spawn(core.run_on_runtime(queue));
        } else {
            std::thread::Builder::new().name(format!("{}-core", core.party.name())).spawn(move || core.run(queue))?;
        }
        Ok(pipeline)
    }

    /// The handler a `transport::Server` serves inbound requests with.
    pub fn handler(&self) -> PipelineHandler<P> {
        PipelineHandler { pipeline: self.clone() }
    }

    pub fn link(&self, name: &str) -> Option<&Link> {
        self.links.get(name)
    }

    pub fn links(&self) -> &HashMap<String, Link> {
        &self.links
    }

    /// A sender for the core thread that does not keep it alive.
    fn downgrade(&self) -> WeakPipeline<P> {
        WeakPipeline {
            events: self.events.downgrade(),
            links: Arc::clone(&self.links),
            meters: Arc::clone(&self.meters),
        }
    }

    /// Whether the party can take traffic, for the admin endpoint's `/readyz`: its core thread
    /// runs (it stops after a failed commit) and every outbound link is signed on. Holds no
    /// strong sender, so it does not keep the core thread alive.
    pub fn readiness(&self) -> Arc<dyn metrics::Readiness> {
        Arc::new(self.downgrade())
    }

    async fn send(&self, event: Event<P>) -> bool {
        self.events.send(event).await.is_ok()
    }

    /// Decide an inbound request; its answer once the batch that decided it is committed (and,
    /// for a forward, once the link answered or failed).
    pub async fn request(&self, envelope: Envelope, message: Message) -> Option<(Envelope, Message)> {
        let _in_flight = self.meters.request(&message);
        let mti = message.mti();
        let started = Instant::now();
        let (reply, answer) = oneshot::channel();
        let answer = if self.send(Event::Request { envelope, message, reply }).await {
            answer.await.ok().flatten()
        } else {
            None
        };
        self.meters.answered(mti.as_str(), answer.as_ref().map(|(_, message)| message), started.elapsed());
        answer
    }

    /// Ask the core for `link`'s due work.
    async fn due(&self, link: &str) -> Result<Vec<P::Work>, String> {
        let (done, due) = oneshot::channel();
        if !self.send(Event::Due { link: link.to_owned(), done }).await {
            return Err("the core has stopped".into());
        }
        due.await.map_err(|_| "the core dropped the request".to_owned())?
    }

    async fn work_answered(&self, work: P::Work, answer: Result<Message, LinkFailure>) -> Option<Delivery> {
        let (done, delivery) = oneshot::channel();
        if !self.send(Event::WorkAnswer { work, answer, done }).await {
            return None;
        }
        delivery.await.ok()
    }

    /// Start one delivery loop per link with queued work, and the time loop when the party
    /// wants one; all end when `stop` turns true.
    pub fn spawn_loops(&self, party: &P, poll_interval_ms: u64, stop: &watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::with_capacity(self.links.len() + 1);
        for (name, link) in self.links.iter() {
            let poll = Duration::from_millis(poll_interval_ms.max(1));
            tasks.push(tokio::spawn(deliver(self.clone(), name.clone(), link.clone(), poll, stop.clone())));
        }
        if let Some(interval_ms) = party.tick_interval_ms() {
            let (pipeline, mut stop) = (self.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(interval_ms.max(1)));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = tick.tick() => if !pipeline.send(Event::Time).await { break },
                        changed = stop.changed() => if changed.is_err() || *stop.borrow() { break },
                    }
                }
            }));
        }
        tasks
    }
}

/// The inbound side of a pipeline as a `transport` handler.
pub struct PipelineHandler<P: Party> {
    pipeline: Pipeline<P>,
}

impl<P: Party> Handler for PipelineHandler<P> {
    async fn handle(&self, envelope: Envelope, message: Message) -> Option<(Envelope, Message)> {
        self.pipeline.request(envelope, message).await
    }
}

struct WeakPipeline<P: Party> {
    events: mpsc::WeakSender<Event<P>>,
    links: Arc<HashMap<String, Link>>,
    meters: Arc<Meters>,
}

/// What acts on a batch's outputs once they are durable — on the core's thread or on the sync
/// thread of the party's database ([`Party::hold_batch`]).
struct Actor<P: Party> {
    pipeline: WeakPipeline<P>,
    runtime: tokio::runtime::Handle,
}

impl<P: Party> metrics::Readiness for WeakPipeline<P> {
    fn ready(&self) -> Result<(), String> {
        if self.events.upgrade().is_none_or(|events| events.is_closed()) {
            return Err("the core thread has stopped (a batch was not committed); restart the party".into());
        }
        let mut down: Vec<&str> =
            self.links.iter().filter(|(_, link)| !is_ready(&link.session)).map(|(name, _)| name.as_str()).collect();
        if down.is_empty() {
            return Ok(());
        }
        down.sort_unstable();
        Err(format!("link {} not signed on", down.join(", ")))
    }
}

/// The core thread's side.
struct Core<P: Party> {
    party: Arc<P>,
    clock: Arc<dyn Clock>,
    actor: Arc<Actor<P>>,
}

impl<P: Party> Core<P> {
    fn run(self, mut queue: mpsc::Receiver<Event<P>>) {
        while let Some(first) = queue.blocking_recv() {
            // Durable outputs are acted on where they become durable (this thread, or the sync
            // thread of the party's database): a thread of its own has no loop to bring them
            // back to, and a PostgreSQL commit is durable when it returns anyway.
            if !self.run_batch(&mut queue, first) {
                return;
            }
        }
    }

    /// The core as a task of a current-thread runtime: the party's connections and its
    /// decisions share one thread. Decisions run synchronously on it (the connections wait,
    /// their bytes queue in the kernel and form the next round); between rounds the core yields
    /// so they are read and answered.
    ///
    /// One batch syncs at a time: while it does, the core decides what arrives into the next
    /// batch, held open ([`Party::hold_batch`]), and commits that one the moment the sync is
    /// done — so a party commits once per sync, however fast requests come, and a lone request
    /// (nothing syncing) is committed at once. A synced batch's outputs come back to this loop
    /// and are acted on here, before any new event: answering wakes the connections' tasks on
    /// their own thread, with no wake-up across threads per answer.
    async fn run_on_runtime(self, mut queue: mpsc::Receiver<Event<P>>) {
        let (durable, mut durable_outputs) = mpsc::unbounded_channel::<Synced<P>>();
        let mut open: Option<Open<P>> = None;
        let mut syncing = false;
        loop {
            if !syncing && let Some(batch) = open.take() {
                if !self.commit(batch, &durable, queue.len()) {
                    break;
                }
                syncing = true;
            }
            let room = open.as_ref().is_none_or(|batch| batch.outputs.len() < PIPELINE_EVENTS_MAX);
            tokio::select! {
                // Answers first: they are what every peer waits for.
                biased;
                Some(mut synced) = durable_outputs.recv() => {
                    syncing = false;
                    // `None`: the batch never became durable; the party refuses every later one.
                    let Some(outputs) = synced.0.take() else { break };
                    outputs.into_iter().for_each(|output| self.actor.act(output));
                }
                event = queue.recv(), if room => {
                    // The queue closed: no batch more.
                    let Some(first) = event else { break };
                    if !self.decide_into(&mut open, &mut queue, first) {
                        break;
                    }
                }
            }
            tokio::task::yield_now().await;
        }
        // The open batch, not committed, is rolled back: none of it answered (its senders time
        // out and reverse, as after a crash). Batches already committed may still become
        // durable: their outputs go out before the core ends. The channel closes once each of
        // them has come back or been dropped.
        drop((open, durable, queue));
        while let Some(mut synced) = durable_outputs.recv().await {
            synced.0.take().into_iter().flatten().for_each(|output| self.actor.act(output));
        }
    }

    /// Decide `first` and whatever else has arrived into the open batch (opened here if there
    /// is none), at most [`PIPELINE_EVENTS_MAX`] events in it. `false`: the batch could not be
    /// opened, and the core stops.
    fn decide_into(&self, open: &mut Option<Open<P>>, queue: &mut mpsc::Receiver<Event<P>>, first: Event<P>) -> bool {
        let batch = match open {
            Some(batch) => batch,
            None => match self.party.hold_batch() {
                Ok(held) => open.insert(Open { held, outputs: Vec::new(), opened: Instant::now() }),
                Err(error) => {
                    tracing::error!(party = self.party.name(), %error, "cannot open a batch; the core stops until the party is restarted");
                    return false;
                }
            },
        };
        let room = PIPELINE_EVENTS_MAX - batch.outputs.len();
        for event in arrived(queue, first, room) {
            batch.outputs.push(self.decide(event));
        }
        true
    }

    /// Commit the open batch; its outputs come back through `durable` once it is on disk.
    /// `false`: the commit failed, none of it is answered, and the core stops.
    fn commit(&self, batch: Open<P>, durable: &mpsc::UnboundedSender<Synced<P>>, queued: usize) -> bool {
        let Open { held, outputs, opened } = batch;
        let (count, meters) = (outputs.len(), &self.actor.pipeline.meters);
        meters.batch_started(count, queued);
        let mut synced = Synced(Some(outputs), durable.clone());
        let then: Box<dyn FnOnce() + Send> = Box::new(move || {
            let outputs = synced.0.take();
            let _ = synced.1.send(Synced(outputs, synced.1.clone()));
        });
        self.ended(commit_held(held, then, queued == 0 && count == 1), count, opened)
    }

    /// Record a batch's end; `false` when it did not commit (logged: the core stops).
    fn ended(&self, committed: Result<(), String>, count: usize, started: Instant) -> bool {
        self.actor.pipeline.meters.batch_ended(started.elapsed(), committed.is_ok());
        let Err(error) = committed else { return true };
        // Dropping the outputs dropped their reply channels: nothing of the batch is answered,
        // as after a crash before its commit. The core stops too (fail-stop): what it keeps in
        // memory (a link key taken in the batch) may now be ahead of its database, and only a
        // restart, which reloads from the database, makes the two agree again. Until then every
        // request goes unanswered; peers time out and reverse, as for a crashed party.
        tracing::error!(
            party = self.party.name(),
            events = count,
            %error,
            "batch not committed; none of it answered; the core stops until the party is restarted"
        );
        false
    }

    /// Decide `first` and whatever else has arrived (at most [`PIPELINE_EVENTS_MAX`]) in one
    /// batch; its outputs are acted on once it is durable, where that happens (this thread, or
    /// the sync thread of the party's database). `false`: the batch did not commit and the core
    /// stops.
    fn run_batch(&self, queue: &mut mpsc::Receiver<Event<P>>, first: Event<P>) -> bool {
        let events: Vec<Event<P>> = arrived(queue, first, PIPELINE_EVENTS_MAX).collect();
        let count = events.len();
        self.actor.pipeline.meters.batch_started(count, queue.len());
        let started = Instant::now();
        let held = match self.party.hold_batch() {
            Ok(held) => held,
            Err(error) => return self.ended(Err(error), count, started),
        };
        let outputs: Vec<Output<P>> = events.into_iter().map(|event| self.decide(event)).collect();
        let actor = Arc::clone(&self.actor);
        let then: Box<dyn FnOnce() + Send> = Box::new(move || outputs.into_iter().for_each(|output| actor.act(output)));
        let decided = commit_held(held, then, queue.is_empty() && count == 1);
        self.ended(decided, count, started)
    }

    /// One event, with a panic in the core (a bug) costing only this event's answer.
    fn decide(&self, event: Event<P>) -> Output<P> {
        let party = self.party.name();
        catch_unwind(AssertUnwindSafe(|| self.decide_event(event))).unwrap_or_else(|_| {
            tracing::error!(party, "a core call panicked; its event is not answered");
            Output::Nothing
        })
    }

    fn decide_event(&self, event: Event<P>) -> Output<P> {
        let now_ms = self.clock.now_ms();
        match event {
            Event::Request { envelope, message, reply } => match self.party.on_request(envelope, message, now_ms) {
                Step::Ignore => Output::Reply(reply, None),
                Step::Respond(answer) => Output::Reply(reply, Some(self.finish(&envelope, answer))),
                Step::Forward(forward) => {
                    let forward = *forward;
                    Output::Forward {
                        envelope,
                        link: forward.link,
                        request: forward.request,
                        pending: forward.pending,
                        reply,
                    }
                }
            },
            Event::Answer { envelope, pending, answer, reply } => {
                let answer = self.party.on_answer(pending, answer, now_ms);
                Output::Reply(reply, answer.map(|answer| self.finish(&envelope, answer)))
            }
            Event::Due { link, done } => Output::Due(done, self.party.due_work(&link, now_ms)),
            Event::WorkAnswer { work, answer, done } => {
                Output::Delivered(done, self.party.on_work_answer(&work, answer, now_ms))
            }
            Event::Time => {
                self.party.on_time(now_ms);
                Output::Nothing
            }
        }
    }

    /// The answer's envelope, and its link's delivery woken when it queued work.
    fn finish(&self, envelope: &Envelope, answer: Answer) -> (Envelope, Message) {
        if let Some(link) = answer.queued_for.as_deref().and_then(|name| self.actor.pipeline.links.get(name)) {
            // A stored permit means a loop busy right now looks again when it is done.
            link.wake.notify_one();
        }
        (answer.envelope.unwrap_or_else(|| envelope.response()), answer.response)
    }
}

impl<P: Party> Actor<P> {
    /// Once the batch is durable: let the outputs go.
    fn act(&self, output: Output<P>) {
        match output {
            Output::Reply(reply, answer) => {
                let _ = reply.send(answer);
            }
            Output::Due(done, due) => {
                let _ = done.send(due);
            }
            Output::Delivered(done, delivery) => {
                let _ = done.send(delivery);
            }
            Output::Nothing => {}
            Output::Forward { envelope, link, request, pending, reply } => {
                let Some(events) = self.pipeline.events.upgrade() else { return };
                let session = self.pipeline.links.get(&link).map(|link| link.session.clone());
                let meters = Arc::clone(&self.pipeline.meters);
                self.runtime.spawn(async move {
                    let started = Instant::now();
                    let answer = match &session {
                        Some(session) => request_if_ready(session, &request).await,
                        None => Err(LinkFailure::Unavailable),
                    };
                    meters.link_call(&link, &request, &answer, started.elapsed());
                    // Full queue: wait for room; a stopped core drops the reply (unanswered).
                    let _ = events.send(Event::Answer { envelope, pending, answer, reply }).await;
                });
            }
        }
    }
}

/// Commit a batch, `then` to run once it is durable. `idle`: the batch is one event and none waits
/// behind it — the party is idle, nothing is likely to arrive during the sync — so the core may
/// sync itself (no hand-off to a sync thread and back). Under load (several events, or some
/// waiting) it hands the sync off and decides what comes meanwhile: measured, syncing itself then
/// saved CPU but made those events wait for the sync before being decided.
fn commit_held(
    held: Box<dyn crate::party::HeldBatch>,
    then: Box<dyn FnOnce() + Send>,
    idle: bool,
) -> Result<(), String> {
    if idle { held.commit_then_here(then) } else { held.commit_then(then) }
}

/// `first` and whatever else has arrived, at most `limit` events in all (at least `first`),
/// taken as the caller goes: never waiting for more (a lone request is not delayed).
fn arrived<P: Party>(
    queue: &mut mpsc::Receiver<Event<P>>,
    first: Event<P>,
    limit: usize,
) -> impl Iterator<Item = Event<P>> + '_ {
    std::iter::once(first).chain(std::iter::from_fn(|| queue.try_recv().ok()).take(limit.saturating_sub(1)))
}

/// Deliver `link`'s queued work while the party runs: whenever the session is ready, ask the
/// core what is due and send it oldest first, stopping at the first item not acknowledged
/// (order is kept: it is retried before anything behind it); woken by the core when it queues,
/// by the session coming up, else every `poll`.
async fn deliver<P: Party>(
    pipeline: Pipeline<P>,
    name: String,
    link: Link,
    poll: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut state = link.session.state();
    let mut state_open = true;
    loop {
        if *stop.borrow() {
            break;
        }
        state.borrow_and_update();
        if is_ready(&link.session) && deliver_due(&pipeline, &name, &link.session).await {
            // Everything sent was acknowledged: more may be due right now.
            continue;
        }
        tokio::select! {
            _ = link.wake.notified() => {}
            changed = state.changed(), if state_open => state_open = changed.is_ok(),
            _ = tokio::time::sleep(poll) => {}
            changed = stop.changed() => if changed.is_err() { break },
        }
    }
}

/// `true` when something was due and all of it was acknowledged.
async fn deliver_due<P: Party>(pipeline: &Pipeline<P>, name: &str, session: &Session) -> bool {
    let due = match pipeline.due(name).await {
        Ok(due) => due,
        Err(error) => {
            tracing::error!(link = name, %error, "cannot read due work");
            return false;
        }
    };
    if due.is_empty() {
        return false;
    }
    for work in due {
        let started = Instant::now();
        let answer = session.request(work.message()).await.map_err(|error| {
            tracing::info!(link = name, work = %work.label(), %error, "queued work unanswered");
            LinkFailure::of(&error)
        });
        pipeline.meters.link_call(name, work.message(), &answer, started.elapsed());
        let acknowledged = pipeline.work_answered(work, answer).await == Some(Delivery::Acknowledged);
        pipeline.meters.delivered(name, acknowledged);
        if !acknowledged {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use iso8583::Mti;

    use super::*;

    /// Answers every request with its own copy, over a `Disk`.
    struct Echo {
        name: &'static str,
        disk: Arc<Disk>,
        /// Requests decided.
        decided: AtomicUsize,
    }

    /// An Echo's disk: batches commit until `fail_from` of them; from `lose_from` on they commit
    /// but never become durable (their sync fails); with `held`, each batch's outputs wait there
    /// until the test says its commit is durable.
    struct Disk {
        batches: AtomicUsize,
        /// Batches committed with `commit_then_here` (one event, none waiting).
        here: AtomicUsize,
        fail_from: usize,
        lose_from: usize,
        held: Option<Held>,
    }

    /// Batches' outputs waiting for the test's word that they are durable.
    type Held = std::sync::Mutex<Vec<Box<dyn FnOnce() + Send>>>;

    impl Disk {
        fn new(fail_from: usize, lose_from: usize, held: bool) -> Arc<Disk> {
            let held = held.then(|| std::sync::Mutex::new(Vec::new()));
            Arc::new(Disk { batches: AtomicUsize::new(0), here: AtomicUsize::new(0), fail_from, lose_from, held })
        }

        fn commit_then(&self, then: Box<dyn FnOnce() + Send>) -> Result<(), String> {
            let number = self.batches.fetch_add(1, Ordering::SeqCst);
            if number >= self.fail_from {
                return Err("the disk refused the commit".into());
            }
            match &self.held {
                _ if number >= self.lose_from => drop(then),
                Some(held) => held.lock().unwrap().push(then),
                None => then(),
            }
            Ok(())
        }
    }

    struct EchoBatch(Arc<Disk>);

    impl crate::party::HeldBatch for EchoBatch {
        fn commit_then(self: Box<Self>, then: Box<dyn FnOnce() + Send>) -> Result<(), String> {
            self.0.commit_then(then)
        }

        fn commit_then_here(self: Box<Self>, then: Box<dyn FnOnce() + Send>) -> Result<(), String> {
            self.0.here.fetch_add(1, Ordering::SeqCst);
            self.0.commit_then(then)
        }
    }

    impl Party for Echo {
        type Pending = std::convert::Infallible;
        type Work = std::convert::Infallible;

        fn name(&self) -> &'static str {
            self.name
        }

        fn on_request(&self, _: Envelope, request: Message, _: u64) -> Step<Self::Pending> {
            self.decided.fetch_add(1, Ordering::SeqCst);
            Step::Respond(Answer::new(request))
        }

        fn on_answer(&self, pending: Self::Pending, _: Result<Message, LinkFailure>, _: u64) -> Option<Answer> {
            match pending {}
        }

        fn due_work(&self, _: &str, _: u64) -> Result<Vec<Self::Work>, String> {
            Ok(Vec::new())
        }

        fn on_work_answer(&self, work: &Self::Work, _: Result<Message, LinkFailure>, _: u64) -> Delivery {
            match *work {}
        }

        fn hold_batch(&self) -> Result<Box<dyn crate::party::HeldBatch>, String> {
            Ok(Box::new(EchoBatch(Arc::clone(&self.disk))))
        }
    }

    fn echo(name: &'static str, disk: Arc<Disk>) -> Arc<Echo> {
        Arc::new(Echo { name, disk, decided: AtomicUsize::new(0) })
    }

    fn request() -> Message {
        Message::new(iso8583::builtin::network(), Mti::parse("0800").unwrap())
    }

    /// The core on the runtime's own thread (a current-thread runtime, as `cardnet serve` runs a
    /// party on SQLite).
    #[tokio::test]
    async fn a_batch_that_does_not_commit_is_not_answered_and_stops_the_core() {
        fail_stop("echo").await;
    }

    /// The core on a thread of its own (a multi-thread runtime, as with PostgreSQL).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_core_thread_of_its_own_stops_the_same_way() {
        fail_stop("echo-threaded").await;
    }

    /// `name`: each test's own party, so its /metrics series are its alone in the process.
    async fn fail_stop(name: &'static str) {
        let party = echo(name, Disk::new(1, usize::MAX, false));
        let pipeline = Pipeline::start(Arc::clone(&party), HashMap::new(), Arc::new(clock::SystemClock)).unwrap();
        assert!(pipeline.request(Envelope::default(), request()).await.is_some(), "a committed batch is answered");
        assert!(pipeline.request(Envelope::default(), request()).await.is_none(), "an uncommitted one is not");
        // Fail-stop: nothing more is decided (no batch runs), nothing answered.
        assert!(pipeline.request(Envelope::default(), request()).await.is_none());
        assert_eq!(party.disk.batches.load(Ordering::SeqCst), 2);
        let page = metrics::parse::parse(&metrics::global().render()).unwrap();
        let echo = [("party", name)];
        assert_eq!(page.value("cardnet_requests_total", &[("party", name), ("mti", "0800")]), Some(3.0));
        assert_eq!(page.value("cardnet_responses_total", &echo), Some(1.0));
        assert_eq!(page.value("cardnet_requests_unanswered_total", &echo), Some(2.0));
        assert_eq!(page.value("cardnet_batch_failures_total", &echo), Some(1.0));
        assert_eq!(page.value("cardnet_batch_duration_ms_count", &echo), Some(2.0));
        assert_eq!(page.value("cardnet_request_duration_ms_count", &echo), Some(3.0));
        assert_eq!(page.value("cardnet_requests_in_flight", &echo), Some(0.0));
        let not_ready = pipeline.readiness().ready().unwrap_err();
        assert!(not_ready.contains("core thread has stopped"), "{not_ready}");
    }

    impl Echo {
        /// The oldest held batch becomes durable.
        fn sync_one(&self) {
            let then = self.disk.held.as_ref().expect("a disk that holds outputs").lock().unwrap().remove(0);
            then();
        }
    }

    async fn until(what: impl Fn() -> bool) {
        while !what() {
            tokio::task::yield_now().await;
        }
    }

    type Asked = tokio::task::JoinHandle<Option<(Envelope, Message)>>;

    /// An echo party whose batches wait for the test's word that they are durable, and a way to
    /// send it a request from a task of its own.
    fn slow_disk(name: &'static str) -> (Arc<Echo>, impl Fn() -> Asked) {
        let party = echo(name, Disk::new(usize::MAX, usize::MAX, true));
        let pipeline = Pipeline::start(Arc::clone(&party), HashMap::new(), Arc::new(clock::SystemClock)).unwrap();
        let ask = move || {
            let pipeline = pipeline.clone();
            tokio::spawn(async move { pipeline.request(Envelope::default(), request()).await })
        };
        (party, ask)
    }

    /// Nothing is answered before its batch is durable; while one batch syncs the core decides
    /// what arrives into the next and commits it once the sync is done; the answers go out in
    /// commit order.
    #[tokio::test]
    async fn answers_wait_for_the_disk_and_the_core_does_not() {
        let (party, ask) = slow_disk("slow-disk");
        let first = ask();
        until(|| party.disk.batches.load(Ordering::SeqCst) == 1).await;
        let second = ask();
        until(|| party.decided.load(Ordering::SeqCst) == 2).await;
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        assert_eq!(party.disk.batches.load(Ordering::SeqCst), 1, "decided, not committed while the first syncs");
        assert!(!first.is_finished() && !second.is_finished(), "nothing answered before its sync");
        party.sync_one();
        assert!(first.await.unwrap().is_some(), "the first batch's answer, once durable");
        until(|| party.disk.batches.load(Ordering::SeqCst) == 2).await;
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        assert!(!second.is_finished(), "the second batch is committed, not durable yet");
        party.sync_one();
        assert!(second.await.unwrap().is_some());
    }

    /// A lone request — no event waiting behind it — is committed for the core to sync itself
    /// (`commit_then_here`), on either driver.
    #[tokio::test]
    async fn a_lone_request_is_synced_by_the_core_itself() {
        lone_request("lone").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lone_request_is_synced_by_a_core_thread_of_its_own_too() {
        lone_request("lone-threaded").await;
    }

    async fn lone_request(name: &'static str) {
        let party = echo(name, Disk::new(usize::MAX, usize::MAX, false));
        let pipeline = Pipeline::start(Arc::clone(&party), HashMap::new(), Arc::new(clock::SystemClock)).unwrap();
        for _ in 0..3 {
            assert!(pipeline.request(Envelope::default(), request()).await.is_some());
        }
        assert_eq!(party.disk.batches.load(Ordering::SeqCst), 3);
        assert_eq!(party.disk.here.load(Ordering::SeqCst), 3, "each alone in the queue");
    }

    /// A batch of several events goes to the sync thread: requests keep arriving, and the core
    /// decides them while the disk syncs.
    #[tokio::test]
    async fn a_batch_of_several_is_synced_while_the_core_goes_on() {
        let (party, ask) = slow_disk("several");
        let first = ask();
        until(|| party.disk.batches.load(Ordering::SeqCst) == 1).await;
        let (second, third) = (ask(), ask());
        until(|| party.decided.load(Ordering::SeqCst) == 3).await;
        party.sync_one();
        until(|| party.disk.batches.load(Ordering::SeqCst) == 2).await;
        party.sync_one();
        for answer in [first, second, third] {
            assert!(answer.await.unwrap().is_some());
        }
        assert_eq!(party.disk.here.load(Ordering::SeqCst), 1, "only the lone first batch");
    }

    /// A batch that commits but never becomes durable (its sync failed) is not answered, and the
    /// core stops: the party refuses everything after it.
    #[tokio::test]
    async fn a_batch_that_never_becomes_durable_is_not_answered_and_stops_the_core() {
        let party = echo("lost-sync", Disk::new(usize::MAX, 1, false));
        let pipeline = Pipeline::start(Arc::clone(&party), HashMap::new(), Arc::new(clock::SystemClock)).unwrap();
        assert!(pipeline.request(Envelope::default(), request()).await.is_some(), "a durable batch is answered");
        assert!(pipeline.request(Envelope::default(), request()).await.is_none(), "a lost one is not");
        assert!(pipeline.request(Envelope::default(), request()).await.is_none(), "nor anything after it");
        assert_eq!(party.disk.batches.load(Ordering::SeqCst), 2);
        let not_ready = pipeline.readiness().ready().unwrap_err();
        assert!(not_ready.contains("core thread has stopped"), "{not_ready}");
    }
}
