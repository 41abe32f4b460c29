//! A POS terminal in the simulation: the real terminal core (`terminal::Terminal`, its
//! journal and reversal record on its own SQLite file) behind the client half of the party
//! contract (`host::Client`), driven in the order the TCP shell (`terminal::Pos`) drives it:
//! one request outstanding; sign on when the core says it must; the pending reversal (§6) before
//! anything else, again after [`RETRY_MS`] while the acquirer does not settle it; then the next
//! transaction the cashier keyed in, or the supervisor's settlement (0500, then the batch upload
//! the core builds, the batch closed after the last 0330). The core decides everything
//! (messages, MACs, PIN blocks, the reversal record, what an answer means); this only keeps the
//! cashier's queue and notes what the terminal showed, for the invariants.

use std::collections::VecDeque;

use hsm::Secret;
use iso8583::{Envelope, Message};
use terminal::{Answered, Card, EntryMode, Kind, Outcome, Outgoing, Purpose, Terminal, TxnRequest};

/// The operators every simulated terminal is installed with.
pub const SUPERVISOR: &str = "00";
pub const SUPERVISOR_PASSWORD: &str = "123456";
pub const CASHIER: &str = "01";
pub const CASHIER_PASSWORD: &str = "1111";
/// After a sign-on or a reversal that did not go through, the terminal tries again this much
/// later (the cashier pressing the key again).
pub const RETRY_MS: u64 = 3_000;
/// The outbound link of every terminal.
pub const ACQUIRER_LINK: &str = "acquirer";

/// A transaction the cashier keys in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A purchase with card `card` (index in the run's cards) read by `entry`, with its PIN.
    Purchase { card: usize, amount_minor: u64, entry: EntryMode },
    /// A void of this terminal's record `record` (a purchase), by the supervisor.
    Void { record: usize },
    /// A balance inquiry with card `card`, with its PIN.
    Balance { card: usize },
    /// Settlement of the open batch (0500, then the batch upload), by the supervisor.
    Settle,
}

/// What the terminal showed for a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Keyed in, not finished.
    Waiting,
    Approved,
    /// Refused, with field 39 (or the terminal's own code).
    Declined(String),
    /// No answer, an answer it did not trust, or a card that refused it: the terminal owes (or
    /// sent) its reversal.
    Reversed,
    /// The terminal would not start it (e.g. a void of a purchase it did not approve).
    NotStarted(String),
}

/// One transaction of a terminal.
#[derive(Debug, Clone)]
pub struct Record {
    pub op: Op,
    /// The card (index in the run's cards): a void's is its purchase's.
    pub card: usize,
    /// The amount the issuer holds or releases (a balance inquiry: 0).
    pub amount_minor: u64,
    /// Field 11 and the batch it went in, once built.
    pub trace: Option<(u32, String)>,
    pub seen: Seen,
    /// The acquirer settled this transaction's reversal (00, 12, 25).
    pub reversal_settled: bool,
}

/// What the terminal does next.
pub enum Next {
    /// Send this request (its answer comes back with `token`).
    Send { token: u64, envelope: Envelope, message: Message },
    /// Nothing before this time (a retry's pause).
    WaitUntil(u64),
    /// Nothing to do, or a request in flight.
    Idle,
}

/// One simulated terminal.
pub struct PosNode {
    pub terminal: Terminal,
    pub id: String,
    pub records: Vec<Record>,
    queue: VecDeque<usize>,
    in_flight: Option<(u64, Outgoing, Option<usize>)>,
    /// The batch upload of the settlement in progress (its record), still to send.
    uploads: VecDeque<Outgoing>,
    settling: Option<usize>,
    next_token: u64,
    resume_at_ms: u64,
    /// Errors of the core (a journal that would not write, an answer it could not read).
    pub errors: Vec<String>,
}

impl PosNode {
    pub fn new(terminal: Terminal) -> PosNode {
        let id = terminal.config().terminal_id.clone();
        PosNode {
            terminal,
            id,
            records: Vec::new(),
            queue: VecDeque::new(),
            in_flight: None,
            uploads: VecDeque::new(),
            settling: None,
            next_token: 0,
            resume_at_ms: 0,
            errors: Vec::new(),
        }
    }

    /// The cashier keys in `op`; its record's index.
    pub fn plan(&mut self, op: Op) -> usize {
        let (card, amount_minor) = match op {
            Op::Purchase { card, amount_minor, .. } => (card, amount_minor),
            Op::Void { record } => self.records.get(record).map_or((0, 0), |r| (r.card, r.amount_minor)),
            Op::Balance { card } => (card, 0),
            Op::Settle => (0, 0),
        };
        self.records.push(Record { op, card, amount_minor, trace: None, seen: Seen::Waiting, reversal_settled: false });
        self.queue.push_back(self.records.len() - 1);
        self.records.len() - 1
    }

    /// What to send next, in the shell's order: sign-on, pending reversal, the next transaction.
    pub fn next(&mut self, now_ms: u64, cards: &[provision::card::SimCard]) -> Next {
        if self.in_flight.is_some() {
            return Next::Idle;
        }
        if now_ms < self.resume_at_ms {
            return Next::WaitUntil(self.resume_at_ms);
        }
        if let Some(upload) = self.uploads.pop_front() {
            return self.send(upload, self.settling);
        }
        let reversal = match self.terminal.pending_reversal() {
            Ok(pending) => pending.is_some(),
            Err(error) => return self.failed(format!("read the reversal record: {error}")),
        };
        if !reversal && self.queue.is_empty() {
            return Next::Idle;
        }
        let built = if !self.terminal.signed_on() {
            self.terminal.sign_on_request().map(|out| (out, None))
        } else if reversal {
            match self.terminal.reversal_request() {
                Ok(Some(out)) => Ok((out, None)),
                Ok(None) => return Next::Idle,
                Err(error) => Err(error),
            }
        } else {
            match self.begin(cards) {
                Some(Ok(built)) => Ok(built),
                Some(Err(error)) => Err(error),
                None => return Next::Idle,
            }
        };
        match built {
            Ok((out, record)) => self.send(out, record),
            Err(error) => self.failed(error.to_string()),
        }
    }

    fn send(&mut self, out: Outgoing, record: Option<usize>) -> Next {
        self.next_token += 1;
        let (token, envelope, message) = (self.next_token, out.envelope, out.message.clone());
        self.in_flight = Some((token, out, record));
        Next::Send { token, envelope, message }
    }

    fn failed(&mut self, error: String) -> Next {
        self.errors.push(error);
        self.resume_at_ms = u64::MAX;
        Next::Idle
    }

    /// The next keyed-in transaction the core agrees to start; `None`: none left.
    fn begin(&mut self, cards: &[provision::card::SimCard]) -> Option<terminal::Result<(Outgoing, Option<usize>)>> {
        while let Some(index) = self.queue.pop_front() {
            if self.records.get(index).is_some_and(|r| r.op == Op::Settle) {
                let supervisor = Secret::new(SUPERVISOR_PASSWORD.as_bytes());
                return Some(self.terminal.settlement_request(Some(&supervisor)).map(|(out, _)| (out, Some(index))));
            }
            let request = match self.request(index, cards) {
                Ok(request) => request,
                Err(reason) => {
                    self.set_seen(index, Seen::NotStarted(reason));
                    continue;
                }
            };
            let batch = self.terminal.batch_no();
            match self.terminal.begin(&request) {
                Ok(out) => {
                    if let Some(record) = self.records.get_mut(index) {
                        record.trace = out.message.get_str(11).map(|t| (batch, t.to_owned()));
                    }
                    return Some(Ok((out, Some(index))));
                }
                Err(terminal::TerminalError::Input(reason)) => self.set_seen(index, Seen::NotStarted(reason)),
                Err(error) => return Some(Err(error)),
            }
        }
        None
    }

    fn request(&self, index: usize, cards: &[provision::card::SimCard]) -> Result<TxnRequest, String> {
        let record = self.records.get(index).ok_or("no such record")?;
        let holder = cards.get(record.card).ok_or("no such card")?;
        let pin = Some(Secret::new(holder.pin.expose()));
        let read = |entry| Card::read(&holder.card, entry).map_err(|e| e.to_string());
        Ok(match record.op {
            Op::Purchase { amount_minor, entry, .. } => TxnRequest {
                kind: Some(Kind::Purchase),
                card: Some(read(entry)?),
                amount_minor: Some(amount_minor),
                pin,
                ..TxnRequest::default()
            },
            Op::Balance { .. } => TxnRequest {
                kind: Some(Kind::Balance),
                card: Some(read(EntryMode::Chip)?),
                pin,
                ..TxnRequest::default()
            },
            Op::Settle => return Err("settlement is no transaction".into()),
            Op::Void { record } => {
                let original = self.records.get(record).ok_or("no such purchase")?;
                if original.seen != Seen::Approved {
                    return Err(format!("the purchase was not approved ({:?})", original.seen));
                }
                let (_, trace) = original.trace.clone().ok_or("the purchase has no trace")?;
                TxnRequest {
                    kind: Some(Kind::Void),
                    original_trace: Some(trace),
                    supervisor_password: Some(Secret::new(SUPERVISOR_PASSWORD.as_bytes())),
                    ..TxnRequest::default()
                }
            }
        })
    }

    fn set_seen(&mut self, index: usize, seen: Seen) {
        if let Some(record) = self.records.get_mut(index) {
            record.seen = seen;
        }
    }

    /// The terminal lost power and comes back, from its files, as `terminal` at `until_ms`:
    /// what it had in memory is gone — the request in flight too, whose reversal record is on
    /// disk (the transaction shows as reversed: the terminal sends it after the restart), and a
    /// settlement in progress, which the supervisor starts again. The cashier's keyed-in work
    /// waits.
    pub fn power_cycle(&mut self, terminal: Terminal, until_ms: u64) {
        self.terminal = terminal;
        self.uploads.clear();
        let settling = self.settling.take();
        let in_flight = self.in_flight.take().and_then(|(_, _, record)| record);
        if let Some(index) = settling.or(in_flight.filter(|&i| self.records.get(i).is_some_and(|r| r.op == Op::Settle)))
        {
            // A settlement cut short: the supervisor settles again.
            self.set_seen(index, Seen::Waiting);
            self.queue.push_front(index);
        } else if let Some(index) = in_flight
            && self.records.get(index).is_some_and(|r| r.seen == Seen::Waiting)
        {
            self.set_seen(index, Seen::Reversed);
        }
        self.resume_at_ms = until_ms;
    }

    /// The answer (or failure) of the request sent with `token`, read by the core.
    pub fn answered(&mut self, token: u64, answer: Result<(Envelope, Message), host::LinkFailure>, now_ms: u64) {
        let Some((sent, out, record)) = self.in_flight.take() else { return };
        if sent != token {
            self.in_flight = Some((sent, out, record));
            return;
        }
        if matches!(out.purpose, Purpose::Settlement | Purpose::Upload) {
            self.settlement_answered(&out, record, answer, now_ms);
            return;
        }
        let answered = match answer {
            Ok((envelope, response)) => self
                .terminal
                .on_envelope(&envelope)
                .and_then(|()| host::Client::on_response(&mut self.terminal, &out, &response)),
            Err(_) => Ok(host::Client::on_no_answer(&mut self.terminal, &out)),
        };
        match answered {
            Ok(Answered::Outcome(outcome)) => self.outcome(&out, record, &outcome, now_ms),
            Ok(Answered::Reversal { settled: true }) => {
                let trace = out.message.get_str(11).unwrap_or("").to_owned();
                if let Some(record) =
                    self.records.iter_mut().rev().find(|r| r.trace.as_ref().is_some_and(|t| t.1 == trace))
                {
                    record.reversal_settled = true;
                }
            }
            Ok(Answered::Reversal { settled: false }) => self.resume_at_ms = now_ms + RETRY_MS,
            Ok(_) => {}
            Err(error) => {
                self.errors.push(format!("{:?}: {error}", out.purpose));
                if let Some(index) = record {
                    self.set_seen(index, Seen::NotStarted(error.to_string()));
                }
            }
        }
    }

    /// The 0510 (balanced or not: the batch upload follows) or a 0330 (the next upload; after
    /// the last the batch closes). No answer, or a refused upload: the supervisor settles again
    /// after [`RETRY_MS`].
    fn settlement_answered(
        &mut self,
        out: &Outgoing,
        record: Option<usize>,
        answer: Result<(Envelope, Message), host::LinkFailure>,
        now_ms: u64,
    ) {
        let Some(index) = record else { return };
        let response = match answer {
            Ok((_, response)) if out.purpose == Purpose::Settlement || response.get_str(39) == Some("00") => response,
            _ => {
                self.uploads.clear();
                self.settling = None;
                self.set_seen(index, Seen::Waiting);
                self.queue.push_front(index);
                self.resume_at_ms = now_ms + RETRY_MS;
                return;
            }
        };
        let result = match out.purpose {
            Purpose::Settlement => self.terminal.on_settlement_response(&response).and_then(|(domestic, foreign)| {
                let balanced = domestic && foreign;
                let seen = if balanced { Seen::Approved } else { Seen::Declined("unbalanced".into()) };
                self.set_seen(index, seen);
                self.settling = Some(index);
                self.uploads = self.terminal.upload_requests(balanced)?.into();
                Ok(())
            }),
            _ if self.uploads.is_empty() => {
                self.settling = None;
                self.terminal.close_batch().map(|_| ())
            }
            _ => Ok(()),
        };
        if let Err(error) = result {
            self.errors.push(format!("settlement: {error}"));
            self.set_seen(index, Seen::NotStarted(error.to_string()));
        }
    }

    fn outcome(&mut self, out: &Outgoing, record: Option<usize>, outcome: &Outcome, now_ms: u64) {
        match (out.purpose, record) {
            (Purpose::Txn(_), Some(index)) => {
                let seen = if outcome.reversal_pending.is_some() {
                    Seen::Reversed
                } else if outcome.approved {
                    Seen::Approved
                } else {
                    Seen::Declined(outcome.code_text().to_owned())
                };
                self.set_seen(index, seen);
            }
            (Purpose::SignOn, _) if !outcome.approved => self.resume_at_ms = now_ms + RETRY_MS,
            _ => {}
        }
    }
}
