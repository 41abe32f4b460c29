//! The discrete-event driver: one thread, one queue of events ordered by (simulated time,
//! sequence number), a `ManualClock` moved to each event's time before it is handled. Nodes —
//! POS terminals ([`PosNode`], nodes `0..terminals`) and party cores (through
//! [`crate::node::Node`], the nodes after them) — exchange encoded messages over simulated links
//! ([`LinkConfig`]): the cup-pos dialect, framed with its TPDU and header, on a terminal's link,
//! the network dialect everywhere else. Every delivery goes into the [`Trace`].
//!
//! A request's exchange stays open until its answer is delivered or its timeout fires,
//! whichever comes first; the other is dropped (a late answer is unmatched, as in
//! `transport::Client`). Polls of the delivery loops and the parties' ticks repeat until the
//! horizon; the run ends when nothing is left before it.

use std::collections::BTreeMap;

use clock::ManualClock;
use host::LinkFailure;
use iso8583::{Envelope, Message};

use crate::link::LinkConfig;
use crate::node::{Inbound, Node, Output};
use crate::pos::{self, Next, Op, PosNode};
use crate::rng::Rng;
use crate::trace::Trace;

/// Events one run handles at most: a run past it is reported as a failure (a loop in the
/// simulated system, or a horizon too far for the workload).
pub const EVENTS_MAX: u64 = 5_000_000;

enum Event {
    Deliver {
        from: usize,
        to: usize,
        exchange: u64,
        response: bool,
        bytes: Vec<u8>,
    },
    /// The cashier of terminal `terminal` keys in `op`.
    Key {
        terminal: usize,
        op: Op,
    },
    /// Terminal `terminal` looks for what to send (after a retry's pause).
    Wake {
        terminal: usize,
    },
    Timeout {
        exchange: u64,
    },
    /// A request that could not leave (no route): its failure, back to its sender.
    Unavailable {
        node: usize,
        token: u64,
    },
    Poll {
        node: usize,
        link: String,
        periodic: bool,
    },
    Tick {
        node: usize,
    },
    /// The node loses everything in memory (forwards waiting, delivery loops) and is down
    /// for `down_ms`; its database keeps what it committed.
    Crash {
        node: usize,
        down_ms: u64,
    },
    Restart {
        node: usize,
    },
    /// The power of party node `node` fails before the commit of its next batch: nothing of
    /// that batch is durable, nothing it decided leaves, and the node is down for `down_ms`.
    PowerCut {
        node: usize,
        down_ms: u64,
    },
    /// The connection between `a` and `b` closes: every request open on it fails at once (the
    /// link was lost), what is on its way is gone, and the next request opens a new one.
    CutConnection {
        a: usize,
        b: usize,
    },
}

/// Opens a party node (at the start, and again after a crash: from its database).
pub type Restart = Box<dyn Fn() -> Result<Box<dyn Node>, String>>;
/// Powers terminal `index` on again from its files (after a crash).
pub type PowerOn = Box<dyn Fn(usize) -> Result<terminal::Terminal, String>>;

struct Exchange {
    origin: usize,
    /// The node the request went to.
    to: usize,
    token: u64,
}

/// What the network did, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetStats {
    pub events: u64,
    pub sent: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// Answers that came after their exchange was closed (timed out, or a duplicate's).
    pub late: u64,
    pub timeouts: u64,
    pub undecodable: u64,
    pub crashes: u64,
    /// Batches lost to a power cut before their commit (each also a crash).
    pub power_cuts: u64,
    /// Messages dropped by a partition (not counted in `lost`).
    pub partitioned: u64,
    /// Connections closed, and the requests open on them that failed as a lost link.
    pub connection_cuts: u64,
    pub cut_requests: u64,
}

/// Two nodes cut off from each other, both ways, from `from_ms` until `until_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub between: (usize, usize),
    pub from_ms: u64,
    pub until_ms: u64,
}

impl Partition {
    fn cuts(&self, a: usize, b: usize, now_ms: u64) -> bool {
        (self.between == (a, b) || self.between == (b, a)) && (self.from_ms..self.until_ms).contains(&now_ms)
    }
}

pub struct Sim {
    clock: ManualClock,
    start_ms: u64,
    now_ms: u64,
    horizon_ms: u64,
    heal_at_ms: u64,
    queue: BTreeMap<(u64, u64), Event>,
    seq: u64,
    rng: Rng,
    link: LinkConfig,
    /// Party nodes (index: node; `None` for a terminal's index and a party that is down).
    nodes: Vec<Option<Box<dyn Node>>>,
    /// How each node is opened again after a crash (index: node; a terminal has none).
    restarts: Vec<Option<Restart>>,
    routes: BTreeMap<(usize, String), usize>,
    /// How long each node's requests wait for an answer (index: node).
    timeouts_ms: Vec<u64>,
    poll_interval_ms: u64,
    exchanges: BTreeMap<u64, Exchange>,
    partitions: Vec<Partition>,
    /// The last arrival scheduled per direction (from, to): without `reorder`, none earlier.
    last_arrival: BTreeMap<(usize, usize), u64>,
    next_exchange: u64,
    pub terminals: Vec<PosNode>,
    power_on: Option<PowerOn>,
    /// Party nodes whose next batch is cut, with their downtime.
    cuts: BTreeMap<usize, u64>,
    /// The cards the terminals read (index: card).
    pub cards: Vec<provision::card::SimCard>,
    pub trace: Trace,
    pub stats: NetStats,
    /// Nodes stopped by a batch that did not commit, with the error.
    pub stopped: Vec<(String, String)>,
    /// Invariants a node's core broke after a call (the first [`BROKEN_KEPT_MAX`]), with when.
    pub broken: Vec<String>,
}

/// Broken invariants a run keeps (one broken ledger tends to stay broken for every later call).
pub const BROKEN_KEPT_MAX: usize = 8;

/// How the driver runs.
#[derive(Debug, Clone, Copy)]
pub struct DriverConfig {
    pub start_ms: u64,
    pub horizon_ms: u64,
    /// From then on the links lose and duplicate nothing (latency stays): the drain in which
    /// queued reversals and advices must get through.
    pub heal_at_ms: u64,
    pub link: LinkConfig,
    /// A terminal's wait for its acquirer.
    pub terminal_timeout_ms: u64,
    pub poll_interval_ms: u64,
}

impl Sim {
    /// A simulation of `terminals` (nodes `0..terminals.len()`) reading `cards`; party nodes
    /// are added after.
    pub fn new(
        config: DriverConfig,
        clock: ManualClock,
        rng: Rng,
        terminals: Vec<PosNode>,
        cards: Vec<provision::card::SimCard>,
    ) -> Sim {
        clock.set_ms(config.start_ms);
        let count = terminals.len();
        Sim {
            clock,
            start_ms: config.start_ms,
            now_ms: config.start_ms,
            horizon_ms: config.horizon_ms,
            heal_at_ms: config.heal_at_ms,
            queue: BTreeMap::new(),
            seq: 0,
            rng,
            link: config.link.checked(),
            nodes: (0..count).map(|_| None).collect(),
            restarts: (0..count).map(|_| None).collect(),
            routes: BTreeMap::new(),
            timeouts_ms: vec![config.terminal_timeout_ms; count],
            poll_interval_ms: config.poll_interval_ms.max(1),
            exchanges: BTreeMap::new(),
            partitions: Vec::new(),
            last_arrival: BTreeMap::new(),
            next_exchange: 0,
            terminals,
            power_on: None,
            cuts: BTreeMap::new(),
            cards,
            trace: Trace::default(),
            stats: NetStats::default(),
            stopped: Vec::new(),
            broken: Vec::new(),
        }
    }

    /// Add a party node whose requests wait `timeout_ms`, opened by `open` now and after each
    /// crash; its index.
    pub fn add_node(&mut self, open: Restart, timeout_ms: u64) -> Result<usize, String> {
        let node = open()?;
        if let Some(interval) = node.tick_interval_ms() {
            let index = self.nodes.len();
            self.schedule(interval.max(1), Event::Tick { node: index });
        }
        self.nodes.push(Some(node));
        self.restarts.push(Some(open));
        self.timeouts_ms.push(timeout_ms);
        Ok(self.nodes.len() - 1)
    }

    /// Cut the power of party node `node` `at_ms` after the start, before the commit of its
    /// next batch, for `down_ms`.
    pub fn plan_power_cut(&mut self, at_ms: u64, node: usize, down_ms: u64) {
        self.schedule(at_ms, Event::PowerCut { node, down_ms });
    }

    /// How a crashed terminal comes back (without it, terminals do not crash).
    pub fn set_power_on(&mut self, power_on: PowerOn) {
        self.power_on = Some(power_on);
    }

    /// Every node's index, terminals first.
    pub fn all_nodes(&self) -> std::ops::Range<usize> {
        0..self.nodes.len()
    }

    /// Crash node `node` `at_ms` after the start, for `down_ms`.
    pub fn plan_crash(&mut self, at_ms: u64, node: usize, down_ms: u64) {
        self.schedule(at_ms, Event::Crash { node, down_ms });
    }

    /// Cut `a` and `b` off from each other from `after_ms` (after the start) for `for_ms`: what
    /// either sends the other meanwhile is lost.
    pub fn plan_partition(&mut self, a: usize, b: usize, after_ms: u64, for_ms: u64) {
        let from_ms = self.now_ms.saturating_add(after_ms);
        self.partitions.push(Partition { between: (a, b), from_ms, until_ms: from_ms.saturating_add(for_ms) });
    }

    /// Close the connection between `a` and `b` `after_ms` after the start.
    pub fn plan_connection_cut(&mut self, a: usize, b: usize, after_ms: u64) {
        self.schedule(after_ms, Event::CutConnection { a, b });
    }

    /// The routes' (from, to) pairs, in order.
    pub fn route_pairs(&self) -> Vec<(usize, usize)> {
        self.routes.iter().map(|((from, _), to)| (*from, *to)).collect()
    }

    /// The party nodes' indexes.
    pub fn party_nodes(&self) -> std::ops::Range<usize> {
        self.terminals.len()..self.nodes.len()
    }

    fn is_terminal(&self, node: usize) -> bool {
        node < self.terminals.len()
    }

    /// `node`'s outbound link `link` reaches node `to`; a party's delivery loop polls
    /// periodically.
    pub fn route(&mut self, node: usize, link: &str, to: usize) {
        self.routes.insert((node, link.to_owned()), to);
        if !self.is_terminal(node) {
            self.schedule(self.poll_interval_ms, Event::Poll { node, link: link.to_owned(), periodic: true });
        }
    }

    /// The cashier of `terminal` keys in `op` `at_ms` after the start.
    pub fn plan(&mut self, at_ms: u64, terminal: usize, op: Op) {
        self.schedule(at_ms, Event::Key { terminal, op });
    }

    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    fn schedule(&mut self, after_ms: u64, event: Event) {
        self.seq += 1;
        self.queue.insert((self.now_ms.saturating_add(after_ms), self.seq), event);
    }

    /// Run every event up to the horizon. `Err`: past [`EVENTS_MAX`].
    pub fn run(&mut self) -> Result<(), String> {
        while let Some(entry) = self.queue.first_entry() {
            let (time, _) = *entry.key();
            if time > self.horizon_ms {
                break;
            }
            let event = entry.remove();
            self.stats.events += 1;
            if self.stats.events > EVENTS_MAX {
                return Err(format!("more than {EVENTS_MAX} events"));
            }
            self.now_ms = time;
            self.clock.set_ms(time);
            self.handle(event);
        }
        Ok(())
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Deliver { from, to, exchange, response, bytes } => {
                self.deliver(from, to, exchange, response, &bytes)
            }
            Event::Key { terminal, op } => {
                if let Some(pos) = self.terminals.get_mut(terminal) {
                    pos.plan(op);
                }
                self.kick(terminal);
            }
            Event::Wake { terminal } => self.kick(terminal),
            Event::Timeout { exchange } => {
                if let Some(open) = self.exchanges.remove(&exchange) {
                    self.stats.timeouts += 1;
                    self.failed(open.origin, open.token, LinkFailure::Timeout);
                }
            }
            Event::Unavailable { node, token } => self.failed(node, token, LinkFailure::Unavailable),
            Event::Poll { node, link, periodic } => {
                if periodic && self.now_ms + self.poll_interval_ms <= self.horizon_ms {
                    self.schedule(self.poll_interval_ms, Event::Poll { node, link: link.clone(), periodic });
                }
                let now_ms = self.now_ms;
                self.with_node(node, |n, out| n.poll(&link, now_ms, out));
            }
            Event::Tick { node } => {
                let now_ms = self.now_ms;
                let interval = self.nodes.get(node).and_then(|n| n.as_ref()).and_then(|n| n.tick_interval_ms());
                if let Some(interval) = interval.filter(|i| now_ms + i.max(&1) <= self.horizon_ms) {
                    self.schedule(interval.max(1), Event::Tick { node });
                }
                self.with_node(node, |n, _| n.time(now_ms));
            }
            Event::Crash { node, down_ms } => self.crash(node, down_ms),
            Event::CutConnection { a, b } => self.cut_connection(a, b),
            Event::PowerCut { node, down_ms } => {
                if !self.is_terminal(node) {
                    self.cuts.insert(node, down_ms);
                }
            }
            Event::Restart { node } => {
                let reopened = self.restarts.get(node).and_then(|open| open.as_ref()).map(|open| open());
                match reopened {
                    Some(Ok(fresh)) => self.nodes[node] = Some(fresh),
                    Some(Err(error)) => self.stopped.push((format!("node {node}"), error)),
                    None => {}
                }
            }
        }
    }

    /// Terminal `terminal` sends what it has next, or waits for its retry.
    fn kick(&mut self, terminal: usize) {
        let now_ms = self.now_ms;
        let Some(pos) = self.terminals.get_mut(terminal) else { return };
        match pos.next(now_ms, &self.cards) {
            Next::Send { token, envelope, message } => {
                self.send_request(terminal, pos::ACQUIRER_LINK, token, envelope, message)
            }
            Next::WaitUntil(at_ms) => self.schedule(at_ms.saturating_sub(now_ms), Event::Wake { terminal }),
            Next::Idle => {}
        }
    }

    /// Drop `node`'s memory: its open exchanges (their answers will come late) and the node
    /// itself; a stopped node (its commit failed) is not brought back.
    fn crash(&mut self, node: usize, down_ms: u64) {
        if self.is_terminal(node) {
            let Some(power_on) = &self.power_on else { return };
            match power_on(node) {
                Ok(terminal) => {
                    let until_ms = self.now_ms.saturating_add(down_ms);
                    if let Some(pos) = self.terminals.get_mut(node) {
                        pos.power_cycle(terminal, until_ms);
                    }
                }
                Err(error) => self.stopped.push((format!("terminal {node}"), error)),
            }
            self.stats.crashes += 1;
            self.exchanges.retain(|_, open| open.origin != node);
            self.schedule(down_ms, Event::Wake { terminal: node });
            return;
        }
        let Some(slot) = self.nodes.get_mut(node) else { return };
        if slot.take().is_none() {
            return;
        }
        self.stats.crashes += 1;
        self.exchanges.retain(|_, open| open.origin != node);
        self.schedule(down_ms, Event::Restart { node });
    }

    /// The connection between `a` and `b` closes: its open requests fail as a lost link (in
    /// exchange order), and what was on its way either direction never arrives.
    fn cut_connection(&mut self, a: usize, b: usize) {
        let on_it = |from: usize, to: usize| (from, to) == (a, b) || (from, to) == (b, a);
        self.stats.connection_cuts += 1;
        self.queue.retain(|_, event| !matches!(event, Event::Deliver { from, to, .. } if on_it(*from, *to)));
        let open: Vec<u64> = self.exchanges.iter().filter(|(_, e)| on_it(e.origin, e.to)).map(|(id, _)| *id).collect();
        for id in open {
            if let Some(exchange) = self.exchanges.remove(&id) {
                self.stats.cut_requests += 1;
                self.failed(exchange.origin, exchange.token, LinkFailure::LinkLost);
            }
        }
    }

    /// Whether the link between `a` and `b` speaks the terminals' dialect (cup-pos, framed).
    fn pos_link(&self, a: usize, b: usize) -> bool {
        self.is_terminal(a) || self.is_terminal(b)
    }

    fn deliver(&mut self, from: usize, to: usize, exchange: u64, response: bool, bytes: &[u8]) {
        self.trace.delivered(self.now_ms, from, to, bytes);
        let decoded = if self.pos_link(from, to) {
            iso8583::decode_framed(&iso8583::builtin::cup_pos(), bytes)
        } else {
            iso8583::decode(&iso8583::builtin::network(), bytes).map(|m| (Envelope::default(), m))
        };
        let Ok((envelope, message)) = decoded else {
            self.stats.undecodable += 1;
            return;
        };
        if !response {
            let now_ms = self.now_ms;
            let inbound = Inbound { from, exchange, envelope };
            self.with_node(to, |n, out| n.request(inbound, envelope, message, now_ms, out));
            return;
        }
        match self.exchanges.get(&exchange) {
            Some(open) if open.origin == to => {
                let token = open.token;
                self.exchanges.remove(&exchange);
                self.answered(to, token, Ok((envelope, message)));
            }
            _ => self.stats.late += 1,
        }
    }

    fn failed(&mut self, node: usize, token: u64, failure: LinkFailure) {
        self.answered(node, token, Err(failure));
    }

    /// The answer (or failure) of a request `node` sent.
    fn answered(&mut self, node: usize, token: u64, answer: Result<(Envelope, Message), LinkFailure>) {
        let now_ms = self.now_ms;
        if let Some(pos) = self.terminals.get_mut(node) {
            pos.answered(token, answer, now_ms);
            self.kick(node);
            return;
        }
        let answer = answer.map(|(_, message)| message);
        self.with_node(node, |n, out| n.answer(token, answer, now_ms, out));
    }

    /// Run one call of `node` and act on its outputs; a stopped node is not called (its
    /// messages go unanswered, as a stopped party's).
    fn with_node(
        &mut self,
        index: usize,
        call: impl FnOnce(&mut dyn Node, &mut Vec<Output>) -> Result<(), crate::node::Stopped>,
    ) {
        let cut = self.cuts.get(&index).copied();
        let Some(slot) = self.nodes.get_mut(index) else { return };
        let Some(node) = slot.as_mut() else { return };
        let mut out = Vec::new();
        if cut.is_some() {
            sqlstore::power_cut::arm();
        }
        let result = call(node.as_mut(), &mut out);
        if let Some(down_ms) = cut
            && !sqlstore::power_cut::disarm()
        {
            // This call's batch was cut: it is as if the node crashed before its commit.
            self.cuts.remove(&index);
            self.stats.power_cuts += 1;
            self.crash(index, down_ms);
            return;
        }
        if let Err(stopped) = result {
            self.stopped.push((node.name().to_owned(), stopped.0));
            *slot = None;
            return;
        }
        // After every call that committed: the core's own invariants.
        if let Err(broken) = node.invariants()
            && self.broken.len() < BROKEN_KEPT_MAX
        {
            let at_ms = self.now_ms.saturating_sub(self.start_ms);
            self.broken.push(format!("{} (node {index}) {at_ms} ms into the run: {broken}", node.name()));
        }
        for output in out {
            match output {
                Output::Send { link, token, message } => {
                    self.send_request(index, &link, token, Envelope::default(), message)
                }
                Output::Reply { inbound, envelope, message } => {
                    let envelope = envelope.unwrap_or_else(|| inbound.envelope.response());
                    self.send(index, inbound.from, inbound.exchange, true, &envelope, &message)
                }
                Output::Wake(link) => self.schedule(0, Event::Poll { node: index, link, periodic: false }),
            }
        }
    }

    fn send_request(&mut self, from: usize, link: &str, token: u64, envelope: Envelope, message: Message) {
        let Some(&to) = self.routes.get(&(from, link.to_owned())) else {
            self.schedule(0, Event::Unavailable { node: from, token });
            return;
        };
        self.next_exchange += 1;
        let exchange = self.next_exchange;
        self.exchanges.insert(exchange, Exchange { origin: from, to, token });
        let timeout_ms = self.timeouts_ms.get(from).copied().unwrap_or(0);
        self.schedule(timeout_ms, Event::Timeout { exchange });
        self.send(from, to, exchange, false, &envelope, &message);
    }

    fn send(&mut self, from: usize, to: usize, exchange: u64, response: bool, envelope: &Envelope, message: &Message) {
        let encoded =
            if self.pos_link(from, to) { iso8583::encode_framed(message, envelope) } else { message.encode() };
        let Ok(bytes) = encoded else {
            self.stats.undecodable += 1;
            return;
        };
        self.stats.sent += 1;
        if self.partitions.iter().any(|p| p.cuts(from, to, self.now_ms)) {
            self.stats.partitioned += 1;
            return;
        }
        let link = if self.now_ms >= self.heal_at_ms {
            LinkConfig { loss_ppm: 0, duplicate_ppm: 0, ..self.link }
        } else {
            self.link
        };
        let arrivals = link.fate(&mut self.rng);
        if arrivals.is_empty() {
            self.stats.lost += 1;
        }
        if arrivals.len() > 1 {
            self.stats.duplicated += 1;
        }
        for mut after in arrivals {
            if !link.reorder {
                let last = self.last_arrival.entry((from, to)).or_default();
                after = after.max(last.saturating_sub(self.now_ms));
                *last = self.now_ms + after;
            }
            self.schedule(after, Event::Deliver { from, to, exchange, response, bytes: bytes.clone() });
        }
    }
}
