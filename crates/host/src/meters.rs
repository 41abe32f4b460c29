//! What the pipeline records for `/metrics` (docs/operations.md, "Metrics"): messages in and
//! out by MTI and response code, the party's request→answer time, each outbound link's call
//! time and outcome, in-flight requests, the event queue's depth, batches and their time. Every
//! family is labelled by party, so one process running several (`cardnet demo`) keeps them
//! apart. Recording is an atomic add on a series found without a lock (`metrics::Family`).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use iso8583::Message;
use metrics::{Counter, Family, Gauge, Histogram};

use crate::link::LinkFailure;

struct Families {
    requests: Arc<Family<Counter>>,
    responses: Arc<Family<Counter>>,
    unanswered: Arc<Family<Counter>>,
    request_ms: Arc<Family<Histogram>>,
    link_requests: Arc<Family<Counter>>,
    link_ms: Arc<Family<Histogram>>,
    deliveries: Arc<Family<Counter>>,
    in_flight: Arc<Family<Gauge>>,
    queue_depth: Arc<Family<Gauge>>,
    batches: Arc<Family<Counter>>,
    batch_events: Arc<Family<Counter>>,
    batch_failures: Arc<Family<Counter>>,
    batch_ms: Arc<Family<Histogram>>,
}

fn families() -> &'static Families {
    static FAMILIES: OnceLock<Families> = OnceLock::new();
    FAMILIES.get_or_init(|| {
        let r = metrics::global();
        Families {
            requests: r.counter("cardnet_requests_total", "Requests a party received, by MTI.", &["party", "mti"]),
            responses: r.counter(
                "cardnet_responses_total",
                "Answers a party sent, by answer MTI and response code (field 39; none when absent).",
                &["party", "mti", "code"],
            ),
            unanswered: r.counter(
                "cardnet_requests_unanswered_total",
                "Requests a party decided to leave unanswered, or could not answer (a stopped core).",
                &["party"],
            ),
            request_ms: r.histogram(
                "cardnet_request_duration_ms",
                "A party's own request-to-answer time, outbound calls and the batch commit included.",
                &["party", "mti"],
            ),
            link_requests: r.counter(
                "cardnet_link_requests_total",
                "Requests sent over an outbound link, by request MTI and the answer's response code or the failure (timeout, unavailable, lost).",
                &["party", "link", "mti", "code"],
            ),
            link_ms: r.histogram(
                "cardnet_link_duration_ms",
                "Time of a call over an outbound link (one hop), answered or not.",
                &["party", "link"],
            ),
            deliveries: r.counter(
                "cardnet_deliveries_total",
                "Queued work (advices, reversals) sent over a link: acknowledged, or kept for a retry.",
                &["party", "link", "outcome"],
            ),
            in_flight: r.gauge("cardnet_requests_in_flight", "Requests received and not yet answered.", &["party"]),
            queue_depth: r.gauge(
                "cardnet_pipeline_queue_depth",
                "Events waiting for the core thread when its last batch began (bound PIPELINE_QUEUE_DEPTH_MAX).",
                &["party"],
            ),
            batches: r.counter("cardnet_batches_total", "Batches the core thread decided (one commit each).", &["party"]),
            batch_events: r.counter("cardnet_batch_events_total", "Events decided in batches.", &["party"]),
            batch_failures: r.counter(
                "cardnet_batch_failures_total",
                "Batches whose commit failed (the core stops until a restart).",
                &["party"],
            ),
            batch_ms: r.histogram(
                "cardnet_batch_duration_ms",
                "Time to decide one batch and commit it.",
                &["party"],
            ),
        }
    })
}

/// One party's meters: the party-only series resolved once at start.
pub(crate) struct Meters {
    party: &'static str,
    in_flight: &'static Gauge,
    queue_depth: &'static Gauge,
    batches: &'static Counter,
    batch_events: &'static Counter,
    batch_failures: &'static Counter,
    batch_ms: &'static Histogram,
    unanswered: &'static Counter,
}

impl Meters {
    pub(crate) fn new(party: &'static str) -> Meters {
        let f = families();
        Meters {
            party,
            in_flight: f.in_flight.with(&[party]),
            queue_depth: f.queue_depth.with(&[party]),
            batches: f.batches.with(&[party]),
            batch_events: f.batch_events.with(&[party]),
            batch_failures: f.batch_failures.with(&[party]),
            batch_ms: f.batch_ms.with(&[party]),
            unanswered: f.unanswered.with(&[party]),
        }
    }

    /// A request came in: counted, and in flight until the guard is dropped (answered,
    /// unanswered or its connection gone).
    pub(crate) fn request(&self, request: &Message) -> InFlight<'_> {
        let mti = request.mti();
        families().requests.with(&[self.party, mti.as_str()]).inc();
        self.in_flight.add(1);
        InFlight { meters: self }
    }

    /// The request (of MTI `mti`) was answered with `answer` (or not) after `elapsed`.
    pub(crate) fn answered(&self, mti: &str, answer: Option<&Message>, elapsed: Duration) {
        let f = families();
        f.request_ms.with(&[self.party, mti]).observe(elapsed);
        match answer {
            Some(answer) => {
                let answer_mti = answer.mti();
                let code = answer.get_str(39).unwrap_or("none");
                f.responses.with(&[self.party, answer_mti.as_str(), code]).inc();
            }
            None => self.unanswered.inc(),
        }
    }

    /// A call over `link` ended with `answer` after `elapsed`.
    pub(crate) fn link_call(
        &self,
        link: &str,
        request: &Message,
        answer: &Result<Message, LinkFailure>,
        elapsed: Duration,
    ) {
        let f = families();
        f.link_ms.with(&[self.party, link]).observe(elapsed);
        let code = match answer {
            Ok(answer) => answer.get_str(39).unwrap_or("none"),
            Err(LinkFailure::Timeout) => "timeout",
            Err(LinkFailure::Unavailable) => "unavailable",
            Err(LinkFailure::LinkLost) => "lost",
        };
        let mti = request.mti();
        f.link_requests.with(&[self.party, link, mti.as_str(), code]).inc();
    }

    pub(crate) fn delivered(&self, link: &str, acknowledged: bool) {
        let outcome = if acknowledged { "acknowledged" } else { "kept" };
        families().deliveries.with(&[self.party, link, outcome]).inc();
    }

    /// A batch of `events` began with `waiting` more in the queue.
    pub(crate) fn batch_started(&self, events: usize, waiting: usize) {
        self.batches.inc();
        self.batch_events.add(u64::try_from(events).unwrap_or(u64::MAX));
        self.queue_depth.set(i64::try_from(waiting).unwrap_or(i64::MAX));
    }

    pub(crate) fn batch_ended(&self, elapsed: Duration, committed: bool) {
        self.batch_ms.observe(elapsed);
        if !committed {
            self.batch_failures.inc();
        }
    }
}

/// A request in flight; dropping it takes it out of the gauge.
pub(crate) struct InFlight<'a> {
    meters: &'a Meters,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.meters.in_flight.add(-1);
    }
}
