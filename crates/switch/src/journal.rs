//! The journal: every message in and out, and one record per transaction (an *exchange*) that
//! maps the acquirer leg to the issuer leg. Written inside the same transaction as each
//! decision and durable before the acquirer's response leaves.
//!
//! What is kept is what clearing, disputes and an investigation need: MTI, 11, 7, 32, 33, 100,
//! 37, 38, 39, amount, currency, processing code, terminal and merchant, the masked PAN and the
//! card key (a keyed hash, see [`crate::cardkey`]). Never a PIN block, never track data, never
//! a clear PAN.

use domain::{InstitutionId, MerchantId, ResponseCode, Rrn, Stan, TerminalId};
use iso8583::Message;
use sqlstore::{Database, Row, Tx, Value};

use crate::limits::JOURNAL_QUERY_ROWS_MAX;
use crate::store::{int, opt_int};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }

    fn parse(text: &str) -> Option<Direction> {
        match text {
            "in" => Some(Direction::In),
            "out" => Some(Direction::Out),
            _ => None,
        }
    }
}

/// Which side of the switch a message travelled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    Acquirer,
    Issuer,
}

impl Leg {
    pub fn as_str(self) -> &'static str {
        match self {
            Leg::Acquirer => "acquirer",
            Leg::Issuer => "issuer",
        }
    }

    fn parse(text: &str) -> Option<Leg> {
        match text {
            "acquirer" => Some(Leg::Acquirer),
            "issuer" => Some(Leg::Issuer),
            _ => None,
        }
    }
}

/// Where a transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExchangeStatus {
    /// Sent to the issuer, no answer yet.
    Forwarded,
    /// The issuer answered and the answer was relayed.
    Answered,
    /// The switch answered without the issuer (15, 25, a PIN that would not translate…).
    DeclinedBySwitch,
    /// The issuer did not answer and the switch approved on its behalf (an advice is queued).
    StandIn,
    /// The issuer did not answer (91/98) and nobody approved.
    NoAnswer,
    /// An advice or reversal accepted from the acquirer and queued to the issuer.
    Queued,
    /// A reversal of a transaction the issuer never saw: answered and recorded, not forwarded.
    Recorded,
}

impl ExchangeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeStatus::Forwarded => "forwarded",
            ExchangeStatus::Answered => "answered",
            ExchangeStatus::DeclinedBySwitch => "declined_by_switch",
            ExchangeStatus::StandIn => "stand_in",
            ExchangeStatus::NoAnswer => "no_answer",
            ExchangeStatus::Queued => "queued",
            ExchangeStatus::Recorded => "recorded",
        }
    }

    fn parse(text: &str) -> Option<ExchangeStatus> {
        [
            ExchangeStatus::Forwarded,
            ExchangeStatus::Answered,
            ExchangeStatus::DeclinedBySwitch,
            ExchangeStatus::StandIn,
            ExchangeStatus::NoAnswer,
            ExchangeStatus::Queued,
            ExchangeStatus::Recorded,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// Why an advice was queued to an issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdvicePurpose {
    /// An 0420 the acquirer sent (its reversal of an earlier transaction).
    AcquirerReversal,
    /// An 0420 the switch sent because the issuer did not answer a request in time.
    TimeoutReversal,
    /// An 0120/0220 telling the issuer what the switch decided in its stead.
    StandIn,
    /// An 0220 (or 0120) advice the acquirer sent, such as a completion.
    AcquirerAdvice,
}

impl AdvicePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            AdvicePurpose::AcquirerReversal => "acquirer_reversal",
            AdvicePurpose::TimeoutReversal => "timeout_reversal",
            AdvicePurpose::StandIn => "stand_in",
            AdvicePurpose::AcquirerAdvice => "acquirer_advice",
        }
    }

    fn parse(text: &str) -> Option<AdvicePurpose> {
        [
            AdvicePurpose::AcquirerReversal,
            AdvicePurpose::TimeoutReversal,
            AdvicePurpose::StandIn,
            AdvicePurpose::AcquirerAdvice,
        ]
        .into_iter()
        .find(|purpose| purpose.as_str() == text)
    }
}

/// One transaction: the acquirer's request, where it went and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub id: u64,
    pub acquirer: InstitutionId,
    pub acquirer_mti: String,
    pub acquirer_stan: Stan,
    pub acquirer_time: String,
    /// `network::TransactionKind::name`.
    pub kind: String,
    pub rrn: Option<Rrn>,
    pub processing_code: Option<String>,
    pub pan_masked: Option<String>,
    pub card_key: Option<String>,
    pub amount_minor: Option<u64>,
    /// Field 95's completed amount of a partial reversal.
    pub replacement_minor: Option<u64>,
    pub currency: Option<String>,
    pub terminal_id: Option<TerminalId>,
    pub merchant_id: Option<MerchantId>,
    pub issuer: Option<InstitutionId>,
    /// How the issuer knows this transaction: the MTI, 11 and 7 the switch sent it with (for a
    /// stand-in, those of the advice).
    pub issuer_mti: Option<String>,
    pub issuer_stan: Option<Stan>,
    pub issuer_time: Option<String>,
    /// The exchange field 90 referred to (void, completion, reversal).
    pub original_id: Option<u64>,
    pub status: ExchangeStatus,
    pub response_code: Option<ResponseCode>,
    pub auth_code: Option<String>,
    pub stand_in: bool,
    /// MMDD (field 15).
    pub settlement_date: String,
    pub received_ms: u64,
    pub answered_ms: Option<u64>,
    pub latency_ms: Option<u64>,
    /// `YYYY-MM-DD`: the business date it clears on ([`crate::business_date`]).
    pub business_date: String,
    /// Arrived after its natural date (or its original's) had closed.
    pub late: bool,
    /// Merchant category code (18) as the acquirer sent it.
    pub mcc: Option<String>,
    /// `debit` or `credit`, by the BIN table when it was routed.
    pub card_kind: Option<String>,
}

/// One message as journaled. Its fields stay the text that was on the wire: the log keeps
/// every message, the ones refused for a malformed field too, so reading it back never fails
/// on one ([`Exchange`] holds the checked domain types).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub id: u64,
    pub exchange_id: Option<u64>,
    pub advice_id: Option<u64>,
    pub at_ms: u64,
    pub direction: Direction,
    pub leg: Leg,
    /// The member on the other end of the link (empty when the sender was unknown).
    pub link: String,
    pub mti: String,
    pub stan: Option<String>,
    pub transmission_time: Option<String>,
    pub acquirer: Option<String>,
    pub forwarder: Option<String>,
    pub receiver: Option<String>,
    pub rrn: Option<String>,
    pub auth_code: Option<String>,
    pub response_code: Option<String>,
    pub amount_minor: Option<u64>,
    pub currency: Option<String>,
    pub pan_masked: Option<String>,
    pub processing_code: Option<String>,
    /// On a response: time since its request.
    pub latency_ms: Option<u64>,
}

/// An advice queued to an issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdviceRecord {
    /// The store-and-forward entry id.
    pub id: u64,
    pub exchange_id: u64,
    pub issuer: InstitutionId,
    pub purpose: AdvicePurpose,
    /// The MTI of the first send (0420, 0120, 0220); repeats use xxx1.
    pub mti: String,
    pub issuer_stan: Stan,
    pub issuer_time: String,
    pub queued_ms: u64,
    /// The issuer's answer, once it acknowledged.
    pub response_code: Option<ResponseCode>,
    pub answered_ms: Option<u64>,
}

fn corrupt(what: &'static str) -> sqlstore::Error {
    sqlstore::Error::new("journal", format!("unknown {what} in the journal"))
}

fn opt_u64(row: &Row, index: usize) -> sqlstore::Result<Option<u64>> {
    row.opt_i64(index)?
        .map(|v| u64::try_from(v).map_err(|_| sqlstore::Error::column(index, "a non-negative integer")))
        .transpose()
}

/// Whether the acquirer has sent a reversal (0420/0421) of exchange `id`.
pub(crate) fn acquirer_reversed_in(tx: &mut Tx<'_>, id: u64) -> sqlstore::Result<bool> {
    let row = tx.query_opt(
        "SELECT id FROM switch_exchanges WHERE original_id = $1 AND acq_mti IN ('0420', '0421') LIMIT 1",
        &[int(id)?],
    )?;
    Ok(row.is_some())
}

const EXCHANGE_COLUMNS: &str = "id, acquirer, acq_mti, acq_stan, acq_time, kind, rrn, processing_code, pan_masked, \
     card_key, amount_minor, replacement_minor, currency, terminal_id, merchant_id, issuer, iss_mti, iss_stan, \
     iss_time, original_id, status, response_code, auth_code, stip, settlement_date, received_ms, answered_ms, \
     latency_ms, business_date, late, mcc, card_kind";

fn exchange(row: &Row) -> sqlstore::Result<Exchange> {
    Ok(Exchange {
        id: row.u64(0)?,
        acquirer: row.parsed(1, "acquirer")?,
        acquirer_mti: row.text(2)?,
        acquirer_stan: row.parsed(3, "acq_stan")?,
        acquirer_time: row.text(4)?,
        kind: row.text(5)?,
        rrn: row.opt_parsed(6, "rrn")?,
        processing_code: row.opt_text(7)?,
        pan_masked: row.opt_text(8)?,
        card_key: row.opt_text(9)?,
        amount_minor: opt_u64(row, 10)?,
        replacement_minor: opt_u64(row, 11)?,
        currency: row.opt_text(12)?,
        terminal_id: row.opt_parsed(13, "terminal_id")?,
        merchant_id: row.opt_parsed(14, "merchant_id")?,
        issuer: row.opt_parsed(15, "issuer")?,
        issuer_mti: row.opt_text(16)?,
        issuer_stan: row.opt_parsed(17, "iss_stan")?,
        issuer_time: row.opt_text(18)?,
        original_id: opt_u64(row, 19)?,
        status: ExchangeStatus::parse(&row.text(20)?).ok_or_else(|| corrupt("status"))?,
        response_code: row.opt_parsed(21, "response_code")?,
        auth_code: row.opt_text(22)?,
        stand_in: row.i64(23)? != 0,
        settlement_date: row.text(24)?,
        received_ms: row.u64(25)?,
        answered_ms: opt_u64(row, 26)?,
        latency_ms: opt_u64(row, 27)?,
        business_date: row.opt_text(28)?.unwrap_or_default(),
        late: row.i64(29)? != 0,
        mcc: row.opt_text(30)?,
        card_kind: row.opt_text(31)?,
    })
}

/// The MTI's version and class digits ("02" for 0200, 0201, 0210): the duplicate check's class.
pub(crate) fn mti_class(mti: &str) -> String {
    mti.get(..2).unwrap_or(mti).to_owned()
}

/// What the switch knows of a new exchange when it first journals it.
#[derive(Debug, Clone)]
pub(crate) struct NewExchange {
    pub acquirer: String,
    pub acquirer_mti: String,
    pub acquirer_stan: String,
    pub acquirer_time: String,
    pub kind: &'static str,
    pub rrn: Option<String>,
    pub processing_code: Option<String>,
    pub pan_masked: Option<String>,
    pub card_key: Option<String>,
    pub amount_minor: Option<u64>,
    pub replacement_minor: Option<u64>,
    pub currency: Option<String>,
    pub terminal_id: Option<String>,
    pub merchant_id: Option<String>,
    pub issuer: Option<String>,
    pub original_id: Option<u64>,
    pub settlement_date: String,
    pub received_ms: u64,
    pub business_date: String,
    pub late: bool,
    pub mcc: Option<String>,
    pub card_kind: &'static str,
}

/// How the issuer knows an exchange: the member, and the MTI, 11 and 7 the switch sent it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IssuerLegRef<'a> {
    issuer: &'a str,
    mti: iso8583::Mti,
    stan: &'a str,
    time: &'a str,
}

impl<'a> IssuerLegRef<'a> {
    /// The leg of `sent`, the message the switch sends (or queues to) `issuer`.
    pub(crate) fn sent(issuer: &'a str, sent: &'a Message) -> IssuerLegRef<'a> {
        IssuerLegRef {
            issuer,
            mti: sent.mti(),
            stan: sent.get_str(11).unwrap_or_default(),
            time: sent.get_str(7).unwrap_or_default(),
        }
    }
}

/// A new exchange's row as one insert: what the request said, where it stands, and whatever is
/// known already of its issuer leg and of the answer the acquirer gets (a decline, an advice
/// taken over) — no update of the row just written.
#[derive(Debug, Clone)]
pub(crate) struct ExchangeRow<'a> {
    new: &'a NewExchange,
    status: ExchangeStatus,
    issuer_leg: Option<IssuerLegRef<'a>>,
    outcome: Option<&'a Outcome<'a>>,
}

impl<'a> ExchangeRow<'a> {
    pub(crate) fn new(new: &'a NewExchange, status: ExchangeStatus) -> ExchangeRow<'a> {
        ExchangeRow { new, status, issuer_leg: None, outcome: None }
    }

    /// The issuer leg (its member wins over `new.issuer`).
    pub(crate) fn issuer_leg(mut self, leg: Option<IssuerLegRef<'a>>) -> ExchangeRow<'a> {
        self.issuer_leg = leg;
        self
    }

    pub(crate) fn settlement_date(&self) -> &'a str {
        &self.new.settlement_date
    }

    pub(crate) fn status(&self) -> ExchangeStatus {
        self.status
    }

    /// Answered already: the outcome's status is the row's.
    pub(crate) fn answered(mut self, outcome: &'a Outcome<'a>) -> ExchangeRow<'a> {
        self.status = outcome.status;
        self.outcome = Some(outcome);
        self
    }
}

/// The id of the next exchange (from the thread's reserved block during a batch).
pub(crate) fn next_exchange_id(tx: &mut Tx<'_>) -> sqlstore::Result<u64> {
    crate::store::next_id(tx, crate::store::SEQ_EXCHANGE)
}

pub(crate) fn insert_exchange(tx: &mut Tx<'_>, id: u64, row: &ExchangeRow<'_>) -> sqlstore::Result<()> {
    let new = row.new;
    let leg = row.issuer_leg;
    let outcome = row.outcome;
    let answered_ms = outcome.map(|o| o.answered_ms);
    let leg_mti = leg.map(|l| l.mti);
    tx.execute(
        "INSERT INTO switch_exchanges (id, acquirer, acq_mti, acq_class, acq_stan, acq_time, kind, rrn, \
         processing_code, pan_masked, card_key, amount_minor, replacement_minor, currency, terminal_id, merchant_id, \
         issuer, original_id, status, stip, settlement_date, received_ms, business_date, late, mcc, card_kind, \
         iss_mti, iss_stan, iss_time, response_code, auth_code, answered_ms, latency_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, \
         $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33)",
        &[
            int(id)?,
            new.acquirer.as_str().into(),
            new.acquirer_mti.as_str().into(),
            mti_class(&new.acquirer_mti).into(),
            new.acquirer_stan.as_str().into(),
            new.acquirer_time.as_str().into(),
            new.kind.into(),
            new.rrn.clone().into(),
            new.processing_code.clone().into(),
            new.pan_masked.clone().into(),
            new.card_key.clone().into(),
            opt_int(new.amount_minor)?,
            opt_int(new.replacement_minor)?,
            new.currency.clone().into(),
            new.terminal_id.clone().into(),
            new.merchant_id.clone().into(),
            leg.map(|l| l.issuer).or(new.issuer.as_deref()).into(),
            opt_int(new.original_id)?,
            row.status.as_str().into(),
            outcome.is_some_and(|o| o.stand_in).into(),
            new.settlement_date.as_str().into(),
            int(new.received_ms)?,
            new.business_date.as_str().into(),
            new.late.into(),
            new.mcc.clone().into(),
            new.card_kind.into(),
            leg_mti.as_ref().map(iso8583::Mti::as_str).into(),
            leg.map(|l| l.stan).into(),
            leg.map(|l| l.time).into(),
            outcome.map(|o| o.response_code).into(),
            outcome.and_then(|o| o.auth_code).into(),
            opt_int(answered_ms)?,
            opt_int(answered_ms.map(|at| at.saturating_sub(new.received_ms)))?,
        ],
    )?;
    Ok(())
}

/// The exchange with this acquirer key: (32, 11, 7, MTI class).
pub(crate) fn find_by_acquirer_key(
    tx: &mut Tx<'_>,
    acquirer: &str,
    stan: &str,
    time: &str,
    class: &str,
) -> sqlstore::Result<Option<Exchange>> {
    // Made once: every request runs it (its duplicate check).
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT {EXCHANGE_COLUMNS} FROM switch_exchanges \
             WHERE acquirer = $1 AND acq_stan = $2 AND acq_time = $3 AND acq_class = $4"
        )
    });
    let row = tx.query_opt(&SQL, &[acquirer.into(), stan.into(), time.into(), class.into()])?;
    row.as_ref().map(exchange).transpose()
}

pub(crate) fn get_exchange(tx: &mut Tx<'_>, id: u64) -> sqlstore::Result<Option<Exchange>> {
    let row = tx.query_opt(&format!("SELECT {EXCHANGE_COLUMNS} FROM switch_exchanges WHERE id = $1"), &[int(id)?])?;
    row.as_ref().map(exchange).transpose()
}

/// Record how the issuer knows this exchange (the MTI, 11, 7 the switch sent it with).
pub(crate) fn set_issuer_leg(
    tx: &mut Tx<'_>,
    id: u64,
    issuer: &str,
    mti: &str,
    stan: &str,
    time: &str,
) -> sqlstore::Result<()> {
    tx.execute(
        "UPDATE switch_exchanges SET issuer = $2, iss_mti = $3, iss_stan = $4, iss_time = $5 WHERE id = $1",
        &[int(id)?, issuer.into(), mti.into(), stan.into(), time.into()],
    )?;
    Ok(())
}

/// The outcome the acquirer was told.
#[derive(Debug, Clone)]
pub(crate) struct Outcome<'a> {
    pub status: ExchangeStatus,
    pub response_code: &'a str,
    pub auth_code: Option<&'a str>,
    pub stand_in: bool,
    pub answered_ms: u64,
}

pub(crate) fn set_outcome(tx: &mut Tx<'_>, id: u64, outcome: &Outcome<'_>) -> sqlstore::Result<()> {
    tx.execute(
        "UPDATE switch_exchanges SET status = $2, response_code = $3, auth_code = $4, stip = $5, answered_ms = $6, \
         latency_ms = $6 - received_ms WHERE id = $1",
        &[
            int(id)?,
            outcome.status.as_str().into(),
            outcome.response_code.into(),
            outcome.auth_code.into(),
            outcome.stand_in.into(),
            int(outcome.answered_ms)?,
        ],
    )?;
    Ok(())
}

/// Field `field` as text if present and UTF-8.
fn text(message: &Message, field: u8) -> Option<String> {
    message.get_str(field).map(str::to_owned)
}

/// Whether the request identifiers an [`Exchange`] keeps as domain types (37, 41, 42) are
/// valid ones, so that every exchange written reads back (the spec's `an`/`ans` allow text
/// these types refuse, such as an RRN with a space inside).
pub(crate) fn identifiers_valid(request: &Message) -> bool {
    let valid = |field: u8, check: fn(&str) -> bool| request.get_str(field).is_none_or(check);
    valid(37, |text| Rrn::new(text).is_ok())
        && valid(41, |text| TerminalId::new(text).is_ok())
        && valid(42, |text| MerchantId::new(text).is_ok())
}

/// The masked PAN of field 2 (first 6, last 4).
pub(crate) fn masked_pan(message: &Message) -> Option<String> {
    message.get_str(2).map(iso8583::mask::mask_pan)
}

/// The identifying fields of one message, ready to journal (nothing secret is read).
#[derive(Debug, Clone)]
pub(crate) struct Logged<'a> {
    pub message: &'a Message,
    pub direction: Direction,
    pub leg: Leg,
    pub link: &'a str,
    pub exchange_id: Option<u64>,
    pub advice_id: Option<u64>,
    pub latency_ms: Option<u64>,
}

impl<'a> Logged<'a> {
    pub(crate) fn new(message: &'a Message, direction: Direction, leg: Leg, link: &'a str) -> Logged<'a> {
        Logged { message, direction, leg, link, exchange_id: None, advice_id: None, latency_ms: None }
    }

    pub(crate) fn exchange(mut self, id: u64) -> Logged<'a> {
        self.exchange_id = Some(id);
        self
    }

    pub(crate) fn advice(mut self, id: u64) -> Logged<'a> {
        self.advice_id = Some(id);
        self
    }

    pub(crate) fn latency(mut self, latency_ms: u64) -> Logged<'a> {
        self.latency_ms = Some(latency_ms);
        self
    }
}

/// The message log: appended, so that inside a batch its rows go in together just before the
/// commit (`sqlstore::Tx::append`; nothing reads the log before then).
static MESSAGE_LOG: sqlstore::AppendLog = sqlstore::AppendLog::new(
    "switch_messages",
    &[
        "id",
        "exchange_id",
        "advice_id",
        "at_ms",
        "direction",
        "leg",
        "link",
        "mti",
        "stan",
        "transmission_time",
        "acquirer",
        "forwarder",
        "receiver",
        "rrn",
        "auth_code",
        "response_code",
        "amount_minor",
        "currency",
        "pan_masked",
        "processing_code",
        "latency_ms",
    ],
);

pub(crate) fn log_message(tx: &mut Tx<'_>, logged: &Logged<'_>, at_ms: u64) -> sqlstore::Result<u64> {
    let id = crate::store::next_id(tx, crate::store::SEQ_MESSAGE)?;
    let message = logged.message;
    tx.append(
        &MESSAGE_LOG,
        vec![
            int(id)?,
            opt_int(logged.exchange_id)?,
            opt_int(logged.advice_id)?,
            int(at_ms)?,
            logged.direction.as_str().into(),
            logged.leg.as_str().into(),
            logged.link.into(),
            message.mti().as_str().into(),
            text(message, 11).into(),
            text(message, 7).into(),
            text(message, 32).into(),
            text(message, 33).into(),
            text(message, 100).into(),
            text(message, 37).into(),
            text(message, 38).into(),
            text(message, 39).into(),
            opt_int(message.get_u64(4))?,
            text(message, 49).into(),
            masked_pan(message).into(),
            text(message, 3).into(),
            opt_int(logged.latency_ms)?,
        ],
    )?;
    Ok(id)
}

const MESSAGE_COLUMNS: &str = "id, exchange_id, advice_id, at_ms, direction, leg, link, mti, stan, transmission_time, \
     acquirer, forwarder, receiver, rrn, auth_code, response_code, amount_minor, currency, pan_masked, \
     processing_code, latency_ms";

fn message_record(row: &Row) -> sqlstore::Result<MessageRecord> {
    Ok(MessageRecord {
        id: row.u64(0)?,
        exchange_id: opt_u64(row, 1)?,
        advice_id: opt_u64(row, 2)?,
        at_ms: row.u64(3)?,
        direction: Direction::parse(&row.text(4)?).ok_or_else(|| corrupt("direction"))?,
        leg: Leg::parse(&row.text(5)?).ok_or_else(|| corrupt("leg"))?,
        link: row.text(6)?,
        mti: row.text(7)?,
        stan: row.opt_text(8)?,
        transmission_time: row.opt_text(9)?,
        acquirer: row.opt_text(10)?,
        forwarder: row.opt_text(11)?,
        receiver: row.opt_text(12)?,
        rrn: row.opt_text(13)?,
        auth_code: row.opt_text(14)?,
        response_code: row.opt_text(15)?,
        amount_minor: opt_u64(row, 16)?,
        currency: row.opt_text(17)?,
        pan_masked: row.opt_text(18)?,
        processing_code: row.opt_text(19)?,
        latency_ms: opt_u64(row, 20)?,
    })
}

/// A new advice's description, stored next to its queue entry.
#[derive(Debug, Clone)]
pub(crate) struct NewAdvice<'a> {
    pub id: u64,
    pub exchange_id: u64,
    pub issuer: &'a str,
    pub purpose: AdvicePurpose,
    pub mti: &'a str,
    pub issuer_stan: &'a str,
    pub issuer_time: &'a str,
    pub queued_ms: u64,
}

pub(crate) fn insert_advice(tx: &mut Tx<'_>, advice: &NewAdvice<'_>) -> sqlstore::Result<()> {
    tx.execute(
        "INSERT INTO switch_advices (id, exchange_id, issuer, purpose, mti, iss_stan, iss_time, queued_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            int(advice.id)?,
            int(advice.exchange_id)?,
            advice.issuer.into(),
            advice.purpose.as_str().into(),
            advice.mti.into(),
            advice.issuer_stan.into(),
            advice.issuer_time.into(),
            int(advice.queued_ms)?,
        ],
    )?;
    Ok(())
}

pub(crate) fn advice_answered(tx: &mut Tx<'_>, id: u64, response_code: &str, at_ms: u64) -> sqlstore::Result<()> {
    tx.execute(
        "UPDATE switch_advices SET response_code = $2, answered_ms = $3 WHERE id = $1",
        &[int(id)?, response_code.into(), int(at_ms)?],
    )?;
    Ok(())
}

const ADVICE_COLUMNS: &str =
    "id, exchange_id, issuer, purpose, mti, iss_stan, iss_time, queued_ms, response_code, answered_ms";

fn advice_record(row: &Row) -> sqlstore::Result<AdviceRecord> {
    Ok(AdviceRecord {
        id: row.u64(0)?,
        exchange_id: row.u64(1)?,
        issuer: row.parsed(2, "issuer")?,
        purpose: AdvicePurpose::parse(&row.text(3)?).ok_or_else(|| corrupt("advice purpose"))?,
        mti: row.text(4)?,
        issuer_stan: row.parsed(5, "iss_stan")?,
        issuer_time: row.text(6)?,
        queued_ms: row.u64(7)?,
        response_code: row.opt_parsed(8, "response_code")?,
        answered_ms: opt_u64(row, 9)?,
    })
}

pub(crate) fn get_advice(tx: &mut Tx<'_>, id: u64) -> sqlstore::Result<Option<AdviceRecord>> {
    let row = tx.query_opt(&format!("SELECT {ADVICE_COLUMNS} FROM switch_advices WHERE id = $1"), &[int(id)?])?;
    row.as_ref().map(advice_record).transpose()
}

/// Read access to the journal (tests, clearing, operators). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Journal {
    db: Database,
    queue: saf::SqlQueue,
}

fn limit() -> Value {
    Value::Int(i64::try_from(JOURNAL_QUERY_ROWS_MAX).unwrap_or(i64::MAX))
}

impl Journal {
    pub(crate) fn new(db: Database, queue: saf::SqlQueue) -> Journal {
        Journal { db, queue }
    }

    pub fn exchange(&self, id: u64) -> sqlstore::Result<Option<Exchange>> {
        self.db.transaction(|tx| get_exchange(tx, id))
    }

    /// The exchange an acquirer's request created: (32, 11, 7) and the MTI's class ("01", "02",
    /// "04").
    pub fn find_exchange(
        &self,
        acquirer: &str,
        stan: &str,
        time: &str,
        class: &str,
    ) -> sqlstore::Result<Option<Exchange>> {
        self.db.transaction(|tx| find_by_acquirer_key(tx, acquirer, stan, time, class))
    }

    /// Exchanges in id order (at most [`JOURNAL_QUERY_ROWS_MAX`] from `after_id`).
    pub fn exchanges(&self, after_id: u64) -> sqlstore::Result<Vec<Exchange>> {
        self.db.transaction(|tx| {
            let rows = tx.query(
                &format!("SELECT {EXCHANGE_COLUMNS} FROM switch_exchanges WHERE id > $1 ORDER BY id LIMIT $2"),
                &[int(after_id)?, limit()],
            )?;
            rows.iter().map(exchange).collect()
        })
    }

    /// Every message journaled for one exchange, in order.
    pub fn messages_of(&self, exchange_id: u64) -> sqlstore::Result<Vec<MessageRecord>> {
        self.db.transaction(|tx| {
            let rows = tx.query(
                &format!("SELECT {MESSAGE_COLUMNS} FROM switch_messages WHERE exchange_id = $1 ORDER BY id LIMIT $2"),
                &[int(exchange_id)?, limit()],
            )?;
            rows.iter().map(message_record).collect()
        })
    }

    /// Messages in id order (at most [`JOURNAL_QUERY_ROWS_MAX`] from `after_id`).
    pub fn messages(&self, after_id: u64) -> sqlstore::Result<Vec<MessageRecord>> {
        self.db.transaction(|tx| {
            let rows = tx.query(
                &format!("SELECT {MESSAGE_COLUMNS} FROM switch_messages WHERE id > $1 ORDER BY id LIMIT $2"),
                &[int(after_id)?, limit()],
            )?;
            rows.iter().map(message_record).collect()
        })
    }

    /// Advices queued for one exchange, in enqueue order.
    pub fn advices_of(&self, exchange_id: u64) -> sqlstore::Result<Vec<AdviceRecord>> {
        self.db.transaction(|tx| {
            let rows = tx.query(
                &format!("SELECT {ADVICE_COLUMNS} FROM switch_advices WHERE exchange_id = $1 ORDER BY id LIMIT $2"),
                &[int(exchange_id)?, limit()],
            )?;
            rows.iter().map(advice_record).collect()
        })
    }

    /// Advices queued to one issuer, in enqueue order (at most [`JOURNAL_QUERY_ROWS_MAX`]).
    pub fn advices_to(&self, issuer: &str) -> sqlstore::Result<Vec<AdviceRecord>> {
        self.db.transaction(|tx| {
            let rows = tx.query(
                &format!("SELECT {ADVICE_COLUMNS} FROM switch_advices WHERE issuer = $1 ORDER BY id LIMIT $2"),
                &[issuer.into(), limit()],
            )?;
            rows.iter().map(advice_record).collect()
        })
    }

    /// Pending and dead advices of one issuer, each counted up to `cap` (`saf::SqlQueue::backlog`).
    pub fn advice_backlog(&self, issuer: &str, cap: u64) -> sqlstore::Result<(u64, u64)> {
        self.db.transaction(|tx| {
            self.queue.backlog(tx, issuer, cap).map_err(|e| sqlstore::Error::new("advice backlog", e.to_string()))
        })
    }

    /// Pending, delivered and dead advices of one issuer.
    pub fn advice_counts(&self, issuer: &str) -> sqlstore::Result<saf::Counts> {
        self.db.transaction(|tx| {
            self.queue.counts(tx, Some(issuer)).map_err(|e| sqlstore::Error::new("advice counts", e.to_string()))
        })
    }
}
