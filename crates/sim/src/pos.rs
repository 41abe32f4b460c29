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
/// What the terminal core shows for a request that got no answer (`Terminal::on_timeout`).
pub const NO_ANSWER_CODE: &str = "98";
/// The outbound link of every terminal.
pub const ACQUIRER_LINK: &str = "acquirer";

/// A transaction the cashier keys in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A purchase with card `card` (index in the run's cards) read by `entry` (a swipe is the
    /// stripe read after the chip did not answer: the fallback), with its PIN — or, when
    /// `wrong_pin`, with a PIN the holder mistyped.
    Purchase { card: usize, amount_minor: u64, entry: EntryMode, wrong_pin: bool },
    /// A void of this terminal's record `record` (a purchase), by the supervisor.
    Void { record: usize },
    /// A refund (退货) of `amount_minor` of this terminal's record `record` (a purchase of this
    /// batch), by the supervisor: the card is not read again, its number comes from the journal.
    Refund { record: usize, amount_minor: u64 },
    /// A pre-authorization with card `card` read by `entry`, with its PIN.
    PreAuth { card: usize, amount_minor: u64, entry: EntryMode },
    /// A void of this terminal's record `record` (a pre-authorization), by the supervisor.
    PreAuthVoid { record: usize },
    /// The completion (request, 0200) of `amount_minor` of record `record` (a pre-authorization).
    Completion { record: usize, amount_minor: u64 },
    /// A void of this terminal's record `record` (a completion), by the supervisor.
    CompletionVoid { record: usize },
    /// A balance inquiry with card `card`, with its PIN.
    Balance { card: usize },
    /// Settlement of the open batch (0500, then the batch upload), by the supervisor.
    Settle,
    /// Sign-off (0820) at the end of the terminal's day: the working keys are forgotten.
    SignOff,
}

impl Op {
    /// The record a void, refund or completion refers to.
    pub fn original(self) -> Option<usize> {
        match self {
            Op::Void { record }
            | Op::Refund { record, .. }
            | Op::PreAuthVoid { record }
            | Op::Completion { record, .. }
            | Op::CompletionVoid { record } => Some(record),
            _ => None,
        }
    }

    /// Settlement and sign-off: the supervisor's work on the terminal, no transaction.
    pub fn is_management(self) -> bool {
        matches!(self, Op::Settle | Op::SignOff)
    }
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
        let original = |record: usize| self.records.get(record).map_or((0, 0), |r| (r.card, r.amount_minor));
        let (card, amount_minor) = match op {
            Op::Purchase { card, amount_minor, .. } | Op::PreAuth { card, amount_minor, .. } => (card, amount_minor),
            Op::Void { record } | Op::PreAuthVoid { record } | Op::CompletionVoid { record } => original(record),
            Op::Refund { record, amount_minor } | Op::Completion { record, amount_minor } => {
                (original(record).0, amount_minor)
            }
            Op::Balance { card } => (card, 0),
            Op::Settle | Op::SignOff => (0, 0),
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
        let advice = match self.terminal.pending_advice() {
            Ok(pending) => pending.map(|(trace, _)| trace),
            Err(error) => return self.failed(format!("read the advice record: {error}")),
        };
        if !reversal && advice.is_none() && self.queue.is_empty() {
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
        } else if let Some(trace) = advice {
            // The advice again: its answer decides the record that sent it first.
            let batch = self.terminal.batch_no();
            let record =
                self.records.iter().rposition(|r| r.trace.as_ref().is_some_and(|t| t.0 == batch && t.1 == trace));
            match self.terminal.advice_request() {
                Ok(Some(out)) => Ok((out, record)),
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
            if self.records.get(index).is_some_and(|r| r.op == Op::SignOff) {
                return Some(self.terminal.sign_off_request().map(|out| (out, Some(index))));
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
        let read = |entry| read_card(holder, entry);
        let read_with_pin = |kind, amount_minor, entry, pin| -> Result<TxnRequest, String> {
            Ok(TxnRequest {
                kind: Some(kind),
                card: Some(read(entry)?),
                amount_minor: Some(amount_minor),
                pin: Some(pin),
                ..TxnRequest::default()
            })
        };
        match record.op {
            Op::Purchase { amount_minor, entry, wrong_pin, .. } => {
                let pin = if wrong_pin { mistyped(&holder.pin) } else { Secret::new(holder.pin.expose()) };
                read_with_pin(Kind::Purchase, amount_minor, entry, pin)
            }
            Op::PreAuth { amount_minor, entry, .. } => {
                read_with_pin(Kind::PreAuth, amount_minor, entry, Secret::new(holder.pin.expose()))
            }
            Op::Balance { .. } => Ok(TxnRequest {
                kind: Some(Kind::Balance),
                card: Some(read(EntryMode::Chip)?),
                pin,
                ..TxnRequest::default()
            }),
            Op::Settle | Op::SignOff => Err("no transaction".into()),
            Op::Void { record } => self.follow_up(Kind::Void, record, None),
            Op::PreAuthVoid { record } => self.follow_up(Kind::PreAuthVoid, record, None),
            Op::CompletionVoid { record } => self.follow_up(Kind::CompletionVoid, record, None),
            Op::Refund { record, amount_minor } => self.follow_up(Kind::Refund, record, Some(amount_minor)),
            Op::Completion { record, amount_minor } => self.follow_up(Kind::Completion, record, Some(amount_minor)),
        }
    }

    /// A transaction on this terminal's approved record `original`, found by its trace in the
    /// journal (the card is not read again), the supervisor's password where the kind needs it.
    fn follow_up(&self, kind: Kind, original: usize, amount_minor: Option<u64>) -> Result<TxnRequest, String> {
        let original = self.records.get(original).ok_or("no such original")?;
        if original.seen != Seen::Approved {
            return Err(format!("the original was not approved ({:?})", original.seen));
        }
        let (_, trace) = original.trace.clone().ok_or("the original has no trace")?;
        Ok(TxnRequest {
            kind: Some(kind),
            original_trace: Some(trace),
            amount_minor,
            supervisor_password: kind.needs_supervisor().then(|| Secret::new(SUPERVISOR_PASSWORD.as_bytes())),
            ..TxnRequest::default()
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
        if let Some(index) =
            settling.or(in_flight.filter(|&i| self.records.get(i).is_some_and(|r| r.op.is_management())))
        {
            // A settlement (or sign-off) cut short: the supervisor settles (signs off) again.
            self.set_seen(index, Seen::Waiting);
            self.queue.push_front(index);
        } else if let Some(index) = in_flight
            && self.records.get(index).is_some_and(|r| r.seen == Seen::Waiting)
        {
            // A refund's advice record is on disk: it is sent again after the restart and its
            // answer decides it. A balance inquiry has no record: its outcome is unknown, as
            // when no answer came (the core's 98).
            match self.records.get(index).map(|r| r.op) {
                Some(Op::Refund { .. }) => {}
                Some(Op::Balance { .. }) => self.set_seen(index, Seen::Declined(NO_ANSWER_CODE.to_owned())),
                _ => self.set_seen(index, Seen::Reversed),
            }
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
            // A sign-off without an answer signs the terminal off all the same (as the shell
            // does): the keys are forgotten whatever the host heard.
            Err(_) if out.purpose == Purpose::SignOff => {
                self.terminal.on_sign_off(None).map(|outcome| Answered::Outcome(Box::new(outcome)))
            }
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
            (Purpose::Txn(_), Some(_)) if outcome.advice_pending => {
                // Undecided: the advice goes again after a pause; the record waits.
                self.resume_at_ms = now_ms + RETRY_MS;
            }
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
            (Purpose::SignOff, Some(index)) => {
                let seen =
                    if outcome.approved { Seen::Approved } else { Seen::Declined(outcome.code_text().to_owned()) };
                self.set_seen(index, seen);
            }
            _ => {}
        }
    }
}

/// The card as the reader reads it with `entry`. A swipe is of a chip card whose chip does not
/// answer this once (the reader falls back to the stripe, 22 = 02x, 60.5 = 2, as the terminal
/// core only allows for a chip card): the chip answers again for the next transaction.
fn read_card(holder: &provision::card::SimCard, entry: EntryMode) -> Result<Card, String> {
    let set_chip_fails = |fails: bool| -> Result<(), String> {
        holder.card.lock().map_err(|_| "the card is poisoned".to_owned())?.set_chip_fails(fails);
        Ok(())
    };
    if entry != EntryMode::Swipe {
        return Card::read(&holder.card, entry).map_err(|e| e.to_string());
    }
    set_chip_fails(true)?;
    let read = Card::read(&holder.card, entry).map_err(|e| e.to_string());
    set_chip_fails(false)?;
    read
}

/// A PIN the holder mistyped: its first digit one up (9 wraps to 0), so never the right one.
/// The first, not the last: a PVV checks only a PIN's four leftmost digits (the development
/// products' method, with six-digit PINs), so a slip in the sixth would be approved.
pub(crate) fn mistyped(pin: &Secret) -> Secret {
    let mut digits = pin.expose().to_vec();
    if let Some(first) = digits.first_mut() {
        *first = if *first == b'9' { b'0' } else { first.saturating_add(1) };
    }
    Secret::from_vec(digits)
}
