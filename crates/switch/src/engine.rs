//! The switch's core: plain logic, no sockets and no clock. A driver (the TCP server, the
//! one-process demo, a deterministic simulation) hands it messages and the time, and does what
//! it says: answer the acquirer, forward to an issuer, deliver a queued advice.
//!
//! Per acquirer request (docs/network-flows.md §4), in order, the first failure answering:
//! field 32 present (else 30) and a member acquirer (else 03); MAC with that acquirer's ZAK (A0);
//! MTI and required fields (40, 12, 30); duplicate of a journaled (32, 11, 7, MTI class) (94, or
//! the same answer again for advices and reversals); BIN routing (15); the original of a void,
//! completion or reversal (25). Then the issuer leg: the switch's own 11 and 7, 33 = the switch,
//! 100 = the issuer, 15, the PIN block translated from the acquirer's ZPK to the issuer's, 90
//! rewritten to what the switch sent the issuer for the original, and a MAC with the issuer's
//! ZAK — the issuer link's keys in use ([`crate::linkkeys`]: changed by 0800/101; an answer may
//! still come under the replaced ZAK within its grace). Every decision is journaled, with
//! whatever it queues, in one durable transaction before its response is returned.

use std::sync::Arc;

use domain::{Pan, ResponseCode};
use hsm::pinblock::PinFormat;
use hsm::{PinTranslation, SecurityModule};
use iso8583::{Message, Mti, Spec};
use network::codes;
use network::{OriginalData, TransactionKind};
use saf::{EntryId, EntryState, NewEntry, SqlQueue};
use sqlstore::{Database, Tx};

use crate::config::{Directory, Member, StipKind, SwitchConfig};
use crate::error::SwitchError;
use crate::journal::{
    self, AdvicePurpose, Direction, Exchange, ExchangeRow, ExchangeStatus, IssuerLegRef, Journal, Leg, Logged,
    NewAdvice, NewExchange, Outcome,
};
use crate::limits::{ADVICE_BATCH_MAX, STAN_MAX};
use crate::linkkeys::{LinkKeys, WorkingKey};
use crate::store::{self, SEQ_AUTH_CODE, SEQ_STAN};

mod advice_delivery;
mod issuer_answers;
mod queued;

/// PIN block that would not translate (wrong key or not a format 0 block): UnionPay's "PIN
/// format error" (the `network` crate has no constant for it yet).
pub const PIN_FORMAT_ERROR: &str = "99";

/// Fields every request the switch routes must carry.
const REQUIRED_FIELDS: [u8; 9] = [2, 3, 7, 11, 32, 37, 41, 42, 49];
/// Fields a response to the acquirer copies from its request (docs/network-spec.md §3, with the
/// acquirer's own 7 given back as docs/network-flows.md §4 asks).
const RESPONSE_ECHO: [u8; 12] = [2, 3, 4, 7, 11, 32, 33, 37, 41, 42, 49, 100];
/// Fields that never go into a queued advice or a pending record: PIN data and track data.
const SECRET_FIELDS: [u8; 5] = [26, 35, 36, 52, 53];
/// Fields an advice the switch makes (stand-in advice, timeout reversal) copies from the
/// request it forwarded. 90 is there for a stood-in completion (the issuer-leg original of its
/// pre-authorization); a reversal sets its own 90 over it.
const ADVICE_FIELDS: [u8; 18] = [2, 3, 4, 12, 13, 15, 18, 22, 25, 32, 33, 37, 41, 42, 43, 49, 90, 100];
/// Answers to an advice that mean "not taken, send it again".
const ADVICE_RETRY_CODES: [&str; 2] = [codes::ISSUER_DOWN, codes::SYSTEM_MALFUNCTION];
/// The MTI the switch first sends a reversal with (repeats are 0421).
const REVERSAL_MTI: &str = "0420";
/// Milliseconds per day: stand-in usage is counted per UTC day.
const MS_PER_DAY: u64 = 86_400_000;

/// What the driver must do with an acquirer's request.
#[derive(Debug)]
pub enum Step {
    /// Answer the acquirer now.
    Respond(Reply),
    /// Send `request` to `issuer`, then report its answer with [`Switch::on_issuer_response`]
    /// or its absence with [`Switch::on_issuer_failure`].
    Forward(Box<Forward>),
    /// Send nothing (a response or an unsolicited message from an acquirer).
    Ignore,
}

/// A response for the acquirer.
#[derive(Debug)]
pub struct Reply {
    pub response: Message,
    /// An issuer whose advice queue just grew: its delivery loop should look now.
    pub queued_for: Option<String>,
}

impl Reply {
    fn new(response: Message) -> Reply {
        Reply { response, queued_for: None }
    }
}

#[derive(Debug)]
pub struct Forward {
    pub issuer: String,
    /// The issuer-leg request, MAC'd with the issuer's ZAK.
    pub request: Message,
    pub pending: PendingExchange,
}

/// A request on its way to an issuer: what the switch needs to finish it. Holds no PIN block and
/// no track data (they are stripped); its `Debug` masks like every message dump.
#[derive(Debug, Clone)]
pub struct PendingExchange {
    pub exchange_id: u64,
    pub acquirer: String,
    pub issuer: String,
    pub kind: TransactionKind,
    pub received_ms: u64,
    acquirer_request: Message,
    issuer_request: Message,
    card_key: String,
    had_pin: bool,
    /// Field 15 on both legs: the exchange's business date (MMDD).
    settlement_date: String,
}

impl PendingExchange {
    /// The issuer-leg STAN the response must carry.
    pub fn issuer_stan(&self) -> Option<&str> {
        self.issuer_request.get_str(11)
    }
}

/// Why an issuer did not answer is the one failure type of every outbound link,
/// [`host::LinkFailure`]: `Unavailable` → 91 with nothing to reverse, `Timeout` → 98,
/// `LinkLost` → 91; the last two may have been delivered.
pub use host::LinkFailure;

/// The response code the acquirer gets when the issuer did not answer.
fn failure_code(failure: LinkFailure) -> &'static str {
    match failure {
        LinkFailure::Timeout => codes::ISSUER_TIMEOUT,
        LinkFailure::Unavailable | LinkFailure::LinkLost => codes::ISSUER_DOWN,
    }
}

/// An advice ready to send: repeat MTI when it is not the first attempt, fresh MAC.
#[derive(Debug, Clone)]
pub struct OutboundAdvice {
    pub id: EntryId,
    pub issuer: String,
    pub exchange_id: u64,
    pub purpose: AdvicePurpose,
    /// Failed attempts before this one.
    pub attempts: u32,
    pub message: Message,
}

/// What became of an advice after the issuer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdviceOutcome {
    /// Acknowledged with this response code; delivered for good.
    Acknowledged(String),
    /// Not acknowledged (bad MAC, wrong message, a retry code): the entry's state after it.
    Retry(EntryState),
}

/// How a request was checked: its kind, how it travels, the original it names.
#[derive(Debug)]
struct Checked {
    kind: TransactionKind,
    /// Field 2, checked: 12 to 19 digits.
    pan: Pan,
    family: Family,
    /// Field 90, when present.
    original: Option<OriginalData>,
    /// Whether the kind needs its original (a refund's 90 is optional).
    original_required: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// 0100/0200 (and repeats): forwarded and answered online.
    Online,
    /// 0120/0220 (and repeats) from the acquirer: queued to the issuer, answered at once.
    Advice,
    /// 0420/0421: queued to the issuer, answered at once.
    Reversal,
}

/// The network switch. Cheap to clone (everything is shared); usable from any thread.
#[derive(Clone)]
pub struct Switch {
    pub(crate) directory: Arc<Directory>,
    pub(crate) hsm: Arc<dyn SecurityModule>,
    pub(crate) db: Database,
    pub(crate) spec: Arc<Spec>,
    /// The ZPK and ZAK in use on each issuer link (changed by 0800/101, [`crate::linkkeys`]).
    pub(crate) links: Arc<LinkKeys>,
    /// The advice queue (`switch_saf` in `db`).
    pub(crate) queue: SqlQueue,
}

impl std::fmt::Debug for Switch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switch").field("institution_id", &self.directory.institution_id).finish_non_exhaustive()
    }
}

/// Run `work` in one transaction, carrying a [`SwitchError`] out of it (sqlstore's closure
/// error type is its own).
pub(crate) fn transact<T>(
    db: &Database,
    work: impl FnMut(&mut Tx<'_>) -> Result<T, SwitchError>,
) -> Result<T, SwitchError> {
    db.transact(work)
}

fn copy_fields(from: &Message, to: &mut Message, fields: &[u8]) -> Result<(), SwitchError> {
    for &field in fields {
        if let Some(value) = from.get(field) {
            to.set(field, value)?;
        }
    }
    Ok(())
}

/// `message` without PIN or track data and without its MAC.
fn stripped(message: &Message) -> Message {
    let mut copy = message.clone();
    for field in SECRET_FIELDS {
        copy.remove(field);
    }
    copy.remove(network::mac::MAC_FIELD);
    copy
}

fn stan_text(sequence: u64) -> String {
    format!("{:06}", (sequence.saturating_sub(1)) % STAN_MAX + 1)
}

/// The first 12 characters of field 95 (the completed amount of a partial reversal).
fn replacement_amount(message: &Message) -> Option<u64> {
    let text = message.get_str(95)?;
    let digits = text.get(..12)?;
    digits.bytes().all(|b| b.is_ascii_digit()).then(|| digits.parse().ok()).flatten()
}

impl Switch {
    /// The switch over the database its configuration names (created and migrated if new).
    pub fn open(config: &SwitchConfig, hsm: Arc<dyn SecurityModule>) -> Result<Switch, SwitchError> {
        let db = Database::open(&config.database)?;
        Switch::with_database(config, hsm, db)
    }

    /// The switch over an open database (tests give each its own PostgreSQL schema).
    pub fn with_database(
        config: &SwitchConfig,
        hsm: Arc<dyn SecurityModule>,
        db: Database,
    ) -> Result<Switch, SwitchError> {
        let directory = Directory::new(config)?;
        store::migrate(&db, Some(directory.cutoff))?;
        let links = Arc::new(LinkKeys::load(&db, &directory)?);
        let queue = store::advice_queue()?;
        Ok(Switch { directory: Arc::new(directory), hsm, db, spec: iso8583::builtin::network(), links, queue })
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    pub fn journal(&self) -> Journal {
        Journal::new(self.db.clone(), self.queue)
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub fn spec(&self) -> &Arc<Spec> {
        &self.spec
    }

    /// Field 15 of a message that makes no exchange: its natural business date's MMDD.
    fn settlement_date(&self, now_ms: u64) -> String {
        self.directory.cutoff.business_date(now_ms).mmdd()
    }

    fn saf_config(&self) -> saf::SafConfig {
        self.directory.advices.saf_config()
    }

    // ---- Acquirer requests ---------------------------------------------------------------

    /// Decide what to do with a request from an acquirer at `now_ms`.
    pub fn on_request(&self, request: Message, now_ms: u64) -> Step {
        let mti = request.mti();
        if !mti.is_request() {
            // A response from an acquirer answers nothing the switch asked.
            return Step::Ignore;
        }
        if transport::netmgmt::is_request(&request) {
            // The switch initiates key changes on its issuer links; an acquirer's 0800/101 is not
            // taken (approving it would tell the acquirer a key was taken that nobody took).
            let code = match transport::NetworkCode::of(&request) {
                Some(transport::NetworkCode::KeyChange) => codes::NOT_SUPPORTED,
                _ => transport::netmgmt::APPROVED,
            };
            return match transport::netmgmt::answer_with(&request, code) {
                Some(response) => Step::Respond(Reply::new(response)),
                None => Step::Ignore,
            };
        }
        let Some(acquirer_id) = request.get_str(32).map(str::to_owned) else {
            return self.refuse(&request, None, codes::FORMAT_ERROR, now_ms);
        };
        let Some(acquirer) = self.directory.acquirer(&acquirer_id) else {
            return self.refuse(&request, None, codes::INVALID_MERCHANT, now_ms);
        };
        match network::mac::verify(self.hsm.as_ref(), &acquirer.zak, &request) {
            Ok(()) => {}
            Err(network::Error::Mac) => return self.refuse(&request, Some(acquirer), codes::MAC_ERROR, now_ms),
            Err(error) => {
                tracing::error!(acquirer = %acquirer.id, %error, "switch: MAC check failed in the HSM");
                return self.refuse(&request, Some(acquirer), codes::SYSTEM_MALFUNCTION, now_ms);
            }
        }
        let checked = match check(&request) {
            Ok(checked) => checked,
            Err(code) => return self.refuse(&request, Some(acquirer), code, now_ms),
        };
        let mut result = self.accept(&request, acquirer, &checked, now_ms);
        if matches!(&result, Err(SwitchError::Store(error)) if error.is_unique_violation()) {
            // Another switch process on the same database journaled the same request between
            // our duplicate check and our insert: once more, and the check sees it.
            result = self.accept(&request, acquirer, &checked, now_ms);
        }
        match result {
            Ok(step) => step,
            Err(error) => {
                tracing::error!(acquirer = %acquirer.id, mti = %mti, %error, "switch: request failed");
                self.refuse(&request, Some(acquirer), codes::SYSTEM_MALFUNCTION, now_ms)
            }
        }
    }

    /// The switch's own answer to `request` with `code`, MAC'd when the acquirer is known.
    fn answer(
        &self,
        request: &Message,
        acquirer: Option<&Member>,
        code: &str,
        auth_code: Option<&str>,
        settlement_date: &str,
    ) -> Message {
        let mut response = match request.response(&RESPONSE_ECHO) {
            Ok(response) => response,
            // Only requests reach here; a bare message keeps the answer well-formed anyway.
            Err(_) => Message::new(Arc::clone(&self.spec), request.mti()),
        };
        let mut result = response.set_str(39, code).and_then(|()| response.set_str(15, settlement_date));
        if let (Some(auth_code), Ok(())) = (auth_code, &result) {
            result = response.set_str(38, auth_code);
        }
        if let Err(error) = result {
            tracing::error!(%error, "switch: cannot build a response");
        }
        if let Some(acquirer) = acquirer
            && let Err(error) = network::mac::sign(self.hsm.as_ref(), &acquirer.zak, &mut response)
        {
            tracing::error!(acquirer = %acquirer.id, %error, "switch: cannot MAC a response");
        }
        response
    }

    /// Answer without creating an exchange (the request is not a transaction the switch takes
    /// on: unknown sender, bad MAC, malformed), journaling both messages.
    fn refuse(&self, request: &Message, acquirer: Option<&Member>, code: &str, now_ms: u64) -> Step {
        let response = self.answer(request, acquirer, code, None, &self.settlement_date(now_ms));
        let link = acquirer.map_or("", |a| a.id.as_str());
        let logged = transact(&self.db, |tx| {
            log(tx, Logged::new(request, Direction::In, Leg::Acquirer, link), now_ms)?;
            log(tx, Logged::new(&response, Direction::Out, Leg::Acquirer, link), now_ms)?;
            Ok(())
        });
        if let Err(error) = logged {
            tracing::error!(%error, code, "switch: cannot journal a refused request");
        }
        tracing::info!(link, mti = %request.mti(), code, "switch: request refused");
        Step::Respond(Reply::new(response))
    }

    fn card_key(&self, pan: &Pan) -> Result<String, SwitchError> {
        Ok(crate::cardkey::card_key(self.hsm.as_ref(), &self.directory.dek, pan)?)
    }

    fn accept(
        &self,
        request: &Message,
        acquirer: &Member,
        checked: &Checked,
        now_ms: u64,
    ) -> Result<Step, SwitchError> {
        let field = |n: u8| request.get_str(n).map(str::to_owned);
        let pan = &checked.pan;
        let card_key = self.card_key(pan)?;
        let mti = request.mti().as_str().to_owned();
        let (stan, time) = (field(11).unwrap_or_default(), field(7).unwrap_or_default());
        let card_kind = self.directory.card_kind(pan.as_str()).name();
        transact(&self.db, |tx| {
            if let Some(earlier) =
                journal::find_by_acquirer_key(tx, &acquirer.id, &stan, &time, &journal::mti_class(&mti))?
            {
                return self.duplicate(tx, request, acquirer, checked, &earlier, now_ms);
            }
            let original = match &checked.original {
                Some(data) => self.find_original(tx, &acquirer.id, data)?,
                None => None,
            };
            let assigned = crate::business_date::assign(tx, self.directory.cutoff, now_ms, original.as_ref())?;
            // A transaction that refers to another goes where the other went.
            let issuer = original
                .as_ref()
                .and_then(|o| o.issuer.as_ref())
                .and_then(|id| self.directory.issuer(id.as_str()))
                .or_else(|| self.directory.route(pan));
            let new = NewExchange {
                acquirer: acquirer.id.clone(),
                acquirer_mti: mti.clone(),
                acquirer_stan: stan.clone(),
                acquirer_time: time.clone(),
                kind: checked.kind.name(),
                rrn: field(37),
                processing_code: field(3),
                pan_masked: journal::masked_pan(request),
                card_key: Some(card_key.clone()),
                amount_minor: request.get_u64(4),
                replacement_minor: replacement_amount(request),
                currency: field(49),
                terminal_id: field(41),
                merchant_id: field(42),
                issuer: issuer.map(|i| i.id.clone()),
                original_id: original.as_ref().map(|o| o.id),
                settlement_date: assigned.date.mmdd(),
                received_ms: now_ms,
                business_date: assigned.date.to_string(),
                late: assigned.late,
                mcc: field(18),
                card_kind,
            };
            match checked.family {
                Family::Reversal => match crate::reversal_rules::refusal(request, original.as_ref()) {
                    Some(code) => self.decline(tx, request, acquirer, &new, code, now_ms),
                    None => self.accept_reversal(tx, request, acquirer, &new, original.as_ref(), now_ms),
                },
                Family::Advice | Family::Online => {
                    let Some(issuer) = issuer else {
                        return self.decline(tx, request, acquirer, &new, codes::NO_SUCH_ISSUER, now_ms);
                    };
                    let original_leg = original.as_ref().and_then(issuer_leg_of);
                    if checked.original_required && original_leg.is_none() {
                        return self.decline(tx, request, acquirer, &new, codes::ORIGINAL_NOT_FOUND, now_ms);
                    }
                    if checked.family == Family::Advice {
                        self.accept_advice(tx, request, acquirer, issuer, &new, original_leg.as_ref(), now_ms)
                    } else {
                        self.forward(
                            tx,
                            request,
                            acquirer,
                            issuer,
                            &new,
                            checked.kind,
                            original_leg.as_ref(),
                            &card_key,
                            now_ms,
                        )
                    }
                }
            }
        })
    }

    /// A request whose (32, 11, 7, MTI class) is journaled already. Advices and reversals are
    /// answered as the first time (the acquirer repeats them until it hears back, and must not
    /// cause a second advice); any other request is a duplicate transmission (94).
    fn duplicate(
        &self,
        tx: &mut Tx<'_>,
        request: &Message,
        acquirer: &Member,
        checked: &Checked,
        earlier: &Exchange,
        now_ms: u64,
    ) -> Result<Step, SwitchError> {
        let replay = checked.family != Family::Online;
        let code = match (&earlier.response_code, replay) {
            (Some(code), true) => code.as_str(),
            _ => codes::DUPLICATE,
        };
        let response = self.answer(request, Some(acquirer), code, None, &earlier.settlement_date);
        log(tx, Logged::new(request, Direction::In, Leg::Acquirer, &acquirer.id).exchange(earlier.id), now_ms)?;
        log(tx, Logged::new(&response, Direction::Out, Leg::Acquirer, &acquirer.id).exchange(earlier.id), now_ms)?;
        tracing::info!(acquirer = %acquirer.id, exchange = earlier.id, code, "switch: repeated request");
        Ok(Step::Respond(Reply::new(response)))
    }

    /// The exchange field 90 names: same acquirer (90.4 is field 32 zero-filled), its 11, 7 and
    /// MTI class. An original of another acquirer is not this acquirer's to reverse.
    fn find_original(
        &self,
        tx: &mut Tx<'_>,
        acquirer: &str,
        data: &OriginalData,
    ) -> Result<Option<Exchange>, SwitchError> {
        if data.acquirer != format!("{acquirer:0>11}") {
            return Ok(None);
        }
        Ok(journal::find_by_acquirer_key(
            tx,
            acquirer,
            &data.stan,
            &data.transmission_time,
            &journal::mti_class(&data.mti),
        )?)
    }

    /// Journal a new exchange the switch answers itself with `code`.
    fn decline(
        &self,
        tx: &mut Tx<'_>,
        request: &Message,
        acquirer: &Member,
        new: &NewExchange,
        code: &str,
        now_ms: u64,
    ) -> Result<Step, SwitchError> {
        let id = journal::next_exchange_id(tx)?;
        let response = self.answer(request, Some(acquirer), code, None, &new.settlement_date);
        let outcome = Outcome {
            status: ExchangeStatus::DeclinedBySwitch,
            response_code: code,
            auth_code: None,
            stand_in: false,
            answered_ms: now_ms,
        };
        journal::insert_exchange(tx, id, &ExchangeRow::new(new, outcome.status).answered(&outcome))?;
        log(tx, Logged::new(request, Direction::In, Leg::Acquirer, &acquirer.id).exchange(id), now_ms)?;
        log(tx, Logged::new(&response, Direction::Out, Leg::Acquirer, &acquirer.id).exchange(id).latency(0), now_ms)?;
        Ok(Step::Respond(Reply::new(response)))
    }

    /// The issuer-leg copy of an acquirer's message: the switch's 11 and 7, 33, 100, 15, and
    /// 90 naming the original as the issuer knows it. No MAC yet, PIN and tracks as given.
    fn issuer_copy(
        &self,
        tx: &mut Tx<'_>,
        request: &Message,
        issuer: &Member,
        original_leg: Option<&IssuerLeg>,
        settlement_date: &str,
        now_ms: u64,
    ) -> Result<Message, SwitchError> {
        let mut out = request.clone();
        out.remove(network::mac::MAC_FIELD);
        out.set_str(7, &network::transmission_time(now_ms))?;
        out.set_str(11, &stan_text(store::next_id(tx, SEQ_STAN)?))?;
        out.set_str(15, settlement_date)?;
        out.set_str(33, &self.directory.institution_id)?;
        out.set_str(100, &issuer.id)?;
        // The acquirer-leg 90 means nothing to the issuer: rewritten, or dropped when the
        // switch does not know the original (an optional 90 of a refund).
        out.remove(90);
        if let Some(leg) = original_leg {
            let acquirer = request.get_str(32).unwrap_or_default();
            OriginalData {
                mti: leg.mti.clone(),
                stan: leg.stan.clone(),
                transmission_time: leg.time.clone(),
                acquirer: format!("{acquirer:0>11}"),
                forwarder: self.directory.institution_id.clone(),
            }
            .set_field90(&mut out)?;
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        tx: &mut Tx<'_>,
        request: &Message,
        acquirer: &Member,
        issuer: &Member,
        new: &NewExchange,
        kind: TransactionKind,
        original_leg: Option<&IssuerLeg>,
        card_key: &str,
        now_ms: u64,
    ) -> Result<Step, SwitchError> {
        let mut out = self.issuer_copy(tx, request, issuer, original_leg, &new.settlement_date, now_ms)?;
        if let Some(pin_block) = request.get(52) {
            let pan = request.get_str(2).unwrap_or_default();
            let translation = PinTranslation {
                source_key: &acquirer.zpk,
                source_format: PinFormat::Iso0,
                pin_block,
                pan,
                target_key: &self.links.current(issuer, WorkingKey::Zpk),
                target_format: PinFormat::Iso0,
            };
            match self.hsm.translate_pin(&translation) {
                Ok(translated) => out.set(52, &translated)?,
                Err(error) => {
                    tracing::warn!(acquirer = %acquirer.id, %error, "switch: PIN block did not translate");
                    let code = if matches!(error, hsm::Error::Unsupported(_)) {
                        codes::SYSTEM_MALFUNCTION
                    } else {
                        PIN_FORMAT_ERROR
                    };
                    return self.decline(tx, request, acquirer, new, code, now_ms);
                }
            }
        }
        network::mac::sign(self.hsm.as_ref(), &self.links.current(issuer, WorkingKey::Zak), &mut out)?;
        let id = journal::next_exchange_id(tx)?;
        let leg = IssuerLegRef::sent(&issuer.id, &out);
        journal::insert_exchange(tx, id, &ExchangeRow::new(new, ExchangeStatus::Forwarded).issuer_leg(Some(leg)))?;
        log(tx, Logged::new(request, Direction::In, Leg::Acquirer, &acquirer.id).exchange(id), now_ms)?;
        log(tx, Logged::new(&out, Direction::Out, Leg::Issuer, &issuer.id).exchange(id), now_ms)?;
        let pending = PendingExchange {
            exchange_id: id,
            acquirer: acquirer.id.clone(),
            issuer: issuer.id.clone(),
            kind,
            received_ms: now_ms,
            acquirer_request: stripped(request),
            issuer_request: stripped(&out),
            card_key: card_key.to_owned(),
            had_pin: request.has(52),
            settlement_date: new.settlement_date.clone(),
        };
        Ok(Step::Forward(Box::new(Forward { issuer: issuer.id.clone(), request: out, pending })))
    }
}

/// Record a failed advice attempt; an advice that gives up is logged for an operator.
fn failed_attempt(
    tx: &mut Tx<'_>,
    queue: &SqlQueue,
    config: &saf::SafConfig,
    advice: &OutboundAdvice,
    now_ms: u64,
) -> Result<EntryState, SwitchError> {
    let state = queue.attempt_failed(tx, config, advice.id, now_ms)?;
    if state == EntryState::Dead {
        tracing::error!(
            issuer = %advice.issuer,
            entry = %advice.id,
            exchange = advice.exchange_id,
            purpose = advice.purpose.as_str(),
            "switch: advice given up after its attempts or expiry; it needs an operator"
        );
    }
    Ok(state)
}

/// Why no usable answer came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unanswered {
    Failure(LinkFailure),
    /// An answer came but could not be trusted (bad MAC) or did not match: 96, no stand-in
    /// (something is wrong with the link, not with the issuer's availability).
    Unusable,
}

impl Unanswered {
    fn maybe_delivered(self) -> bool {
        match self {
            Unanswered::Failure(failure) => failure.maybe_delivered(),
            Unanswered::Unusable => true,
        }
    }

    fn response_code(self) -> &'static str {
        match self {
            Unanswered::Failure(failure) => failure_code(failure),
            Unanswered::Unusable => codes::SYSTEM_MALFUNCTION,
        }
    }
}

/// How the issuer knows a transaction: what the switch sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IssuerLeg {
    mti: String,
    stan: String,
    time: String,
}

fn issuer_leg_of(exchange: &Exchange) -> Option<IssuerLeg> {
    Some(IssuerLeg {
        mti: exchange.issuer_mti.clone()?,
        stan: exchange.issuer_stan?.to_string(),
        time: exchange.issuer_time.clone()?,
    })
}

/// One reversal per issuer-leg original, whoever asks for it.
fn reversal_key(issuer: &str, leg: &IssuerLeg) -> String {
    format!("reversal:{issuer}:{}:{}", leg.stan, leg.time)
}

/// 0121 → 0120, 0221 → 0220: the first-send form of an advice MTI.
fn first_send_mti(mti: Mti) -> Mti {
    let digits = mti.as_bytes();
    if mti.is_repeat() {
        let mut first = *digits;
        first[3] -= 1;
        Mti::new(first).unwrap_or(mti)
    } else {
        mti
    }
}

/// The stand-in advice for a request: 0100 → 0120, 0200 → 0220.
fn advice_mti(request: Mti) -> Result<Mti, SwitchError> {
    let text = match request.class() {
        1 => "0120",
        2 => "0220",
        _ => return Err(SwitchError::Internal(format!("no stand-in advice for MTI {request}"))),
    };
    Ok(Mti::parse(text)?)
}

fn log(tx: &mut Tx<'_>, logged: Logged<'_>, now_ms: u64) -> Result<(), SwitchError> {
    journal::log_message(tx, &logged, now_ms)?;
    Ok(())
}

/// MTI, required fields and field 90 of an acquirer request; the response code on failure.
fn check(request: &Message) -> Result<Checked, &'static str> {
    let mti = request.mti();
    let family = match (mti.class(), mti.function()) {
        (1 | 2, 0) => Family::Online,
        (1 | 2, 2) => Family::Advice,
        (4, 2) => Family::Reversal,
        _ => return Err(codes::NOT_SUPPORTED),
    };
    let kind = match network::classify(request) {
        Ok(kind) => kind,
        Err(network::Error::Invalid { field: 3, .. }) => return Err(codes::INVALID_TRANSACTION),
        Err(network::Error::UnexpectedMti { .. }) => return Err(codes::NOT_SUPPORTED),
        Err(_) => return Err(codes::FORMAT_ERROR),
    };
    if kind == TransactionKind::Reversal && request.get_str(3).is_some_and(|p| p.starts_with("31")) {
        // A balance inquiry is never reversible, amount or none (crate::reversal_rules).
        return Err(codes::INVALID_TRANSACTION);
    }
    if REQUIRED_FIELDS.iter().any(|&field| !request.has(field)) {
        return Err(codes::FORMAT_ERROR);
    }
    if kind != TransactionKind::BalanceInquiry && request.get_u64(4).is_none() {
        return Err(codes::FORMAT_ERROR);
    }
    let pan = request.get_str(2).and_then(|pan| Pan::new(pan).ok()).ok_or(codes::FORMAT_ERROR)?;
    if !journal::identifiers_valid(request) {
        return Err(codes::FORMAT_ERROR);
    }
    let original_required = kind.needs_original();
    let original = if original_required || request.has(90) {
        Some(OriginalData::from_field90(request).map_err(|_| codes::FORMAT_ERROR)?)
    } else {
        None
    };
    Ok(Checked { kind, pan, family, original, original_required })
}
