//! The acquirer's core: plain logic, no sockets and no clock. A driver (the TCP server, a test,
//! a simulation) hands it terminal messages and the time and does what it says: answer the
//! terminal, or send a network request to the switch and report the answer (or its absence).
//!
//! Per terminal financial request, in order, the first failure answering (docs/acquirer.md §2):
//! terminal id present (30); terminal registered (97); signed on, i.e. working keys issued and
//! not signed off (77); MAC (A0); terminal enabled (58) and merchant active and field 42 its id
//! (03); 60.2 the current batch (77); a transaction this host supports (40); a trace not used in
//! the batch (94); amount (13) and the merchant's single-transaction limit (61); the original of
//! a void, refund or completion (25 not found or — a void — another terminal's, 64 amount
//! differs, 12 already voided/completed, 13 refunds beyond the original; checked again when it
//! is journaled as pending, follow-ups in flight counted: crate::originals); the risk hook
//! (34/61/65); the PIN block translated TPK → ZPK (99). Then the request goes to the switch in
//! the network dialect; its answer comes back MAC'd under the terminal's MAK. Every request and
//! decision is journaled in one durable transaction before the terminal's answer is returned.

use std::sync::Arc;

use hsm::pinblock::PinFormat;
use hsm::{KeyType, PinTranslation, SecurityModule, SignOnScheme, WrappedKey};
use iso8583::{Envelope, Message, Mti, ProcessingRequirement, Spec};
use network::codes;
use network::request::{Acceptor, CardInput, TransactionRequest};
use network::{OriginalData, TransactionKind};
use sqlstore::{Database, Row, Tx, Value};

use crate::config::{AcquirerConfig, Settings};
use crate::directory::{MerchantRecord, MerchantStatus, TerminalDirectory, TerminalRecord, TerminalStatus};
use crate::error::{AcquirerError, Result};
use crate::limits::{BATCH_NO_MAX, CITY_LEN_MAX, MERCHANT_NAME_LEN_MAX, MS_PER_DAY, STAN_MAX};
use crate::originals::{apply_effects, claim, lane_check, original_check};
use crate::profile;
use crate::risk::{DailyLimit, RiskCheck, RiskContext};
use crate::store::{self, int, opt_int};

mod financial;
mod network_answer;
mod terminal_netmgmt;

/// Terminal not registered.
pub const TERMINAL_NOT_REGISTERED: &str = "97";
/// Not permitted at this terminal (disabled).
pub const NOT_PERMITTED_TERMINAL: &str = "58";
/// Batch mismatch or not signed on: sign on again.
pub const SIGN_ON_AGAIN: &str = "77";
/// PIN block that would not translate: "PIN format error".
pub const PIN_FORMAT_ERROR: &str = "99";

/// Fields a terminal response copies from its request.
const TERMINAL_ECHO: [u8; 12] = [2, 3, 4, 11, 22, 23, 25, 41, 42, 49, 60, 61];
/// Fields that never stay in a pending record: PIN and track data, chip data and the MAC.
const SECRET_FIELDS: [u8; 6] = [35, 36, 52, 53, 55, 128];
/// Digits of 60.3 / 60.2 / 60.1.
const NETWORK_CODE_SIGN_ON: [&str; 3] = ["001", "003", "004"];
const NETWORK_CODE_SIGN_OFF: &str = "002";
/// 63.1 of a transaction in a foreign currency whose BIN names no organisation.
const FOREIGN_ORGANISATION: &str = "FOR";
const NETWORK_CODE_ECHO: &str = "301";
const NETWORK_CODE_PARAMETERS: &str = "360";
/// Forwarder part of field 90: the acquirer sends no field 33.
const NO_FORWARDER: &str = "00000000000";

/// A transaction of the POS interface (reference §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PosKind {
    Balance,
    Purchase,
    Void,
    Refund,
    PreAuth,
    PreAuthVoid,
    CompletionRequest,
    CompletionAdvice,
    /// 完成撤销: a completion voided the same day.
    CompletionVoid,
}

impl PosKind {
    pub const ALL: [PosKind; 9] = [
        PosKind::Balance,
        PosKind::Purchase,
        PosKind::Void,
        PosKind::Refund,
        PosKind::PreAuth,
        PosKind::PreAuthVoid,
        PosKind::CompletionRequest,
        PosKind::CompletionAdvice,
        PosKind::CompletionVoid,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PosKind::Balance => "balance",
            PosKind::Purchase => "purchase",
            PosKind::Void => "void",
            PosKind::Refund => "refund",
            PosKind::PreAuth => "pre-auth",
            PosKind::PreAuthVoid => "pre-auth-void",
            PosKind::CompletionRequest => "completion",
            PosKind::CompletionAdvice => "completion-advice",
            PosKind::CompletionVoid => "completion-void",
        }
    }

    pub fn from_name(name: &str) -> Option<PosKind> {
        PosKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The network dialect's transaction.
    pub fn network_kind(self) -> TransactionKind {
        match self {
            PosKind::Balance => TransactionKind::BalanceInquiry,
            PosKind::Purchase => TransactionKind::Purchase,
            PosKind::Void => TransactionKind::Void,
            PosKind::Refund => TransactionKind::Refund,
            PosKind::PreAuth => TransactionKind::PreAuthorization,
            PosKind::PreAuthVoid => TransactionKind::PreAuthorizationVoid,
            PosKind::CompletionRequest | PosKind::CompletionAdvice => TransactionKind::Completion,
            PosKind::CompletionVoid => TransactionKind::CompletionVoid,
        }
    }

    /// Counted as a debit in settlement (reference §6): purchase and completion.
    pub fn is_debit(self) -> bool {
        matches!(self, PosKind::Purchase | PosKind::CompletionRequest | PosKind::CompletionAdvice)
    }

    /// Counted as a credit in settlement: void, completion void and refund.
    pub fn is_credit(self) -> bool {
        matches!(self, PosKind::Void | PosKind::CompletionVoid | PosKind::Refund)
    }

    /// Counted against the merchant's limits: what takes money from a card.
    fn takes_money(self) -> bool {
        matches!(self, PosKind::Purchase | PosKind::PreAuth | PosKind::CompletionRequest | PosKind::CompletionAdvice)
    }

    /// Sent to the network as an advice (answered at once by the switch, never reversed).
    fn is_advice(self) -> bool {
        self == PosKind::CompletionAdvice
    }

    /// The kinds an original of this one may be.
    fn original_kinds(self) -> &'static [PosKind] {
        match self {
            PosKind::Void => &[PosKind::Purchase],
            PosKind::Refund => &[PosKind::Purchase, PosKind::CompletionRequest, PosKind::CompletionAdvice],
            PosKind::PreAuthVoid | PosKind::CompletionRequest | PosKind::CompletionAdvice => &[PosKind::PreAuth],
            PosKind::CompletionVoid => &[PosKind::CompletionRequest, PosKind::CompletionAdvice],
            _ => &[],
        }
    }
}

/// Classify a terminal request by MTI, 3 (digits 1–2) and 25 (reference §3).
fn classify(request: &Message) -> Option<PosKind> {
    let processing = request.get_str(3)?.get(..2)?;
    let condition = request.get_str(25).unwrap_or("00");
    let preauth = condition == "06";
    Some(match (request.mti().as_str(), processing, preauth) {
        ("0200", "31", false) => PosKind::Balance,
        ("0200", "00", false) => PosKind::Purchase,
        ("0200", "20", false) => PosKind::Void,
        ("0200", "00", true) => PosKind::CompletionRequest,
        ("0200", "20", true) => PosKind::CompletionVoid,
        ("0220", "20", false) => PosKind::Refund,
        ("0220", "00", true) => PosKind::CompletionAdvice,
        ("0100", "03", true) => PosKind::PreAuth,
        ("0100", "20", true) => PosKind::PreAuthVoid,
        _ => return None,
    })
}

/// A response for the terminal.
#[derive(Debug)]
pub struct Reply {
    pub envelope: Envelope,
    pub response: Message,
    /// A network reversal was queued: the delivery loop should look now.
    pub reversal_queued: bool,
}

/// What the driver must do with a terminal's message.
#[derive(Debug)]
pub enum Step {
    /// Answer the terminal now.
    Respond(Reply),
    /// Send `network_request` to the switch, then report its answer with
    /// [`Acquirer::on_network_response`] or its absence with [`Acquirer::on_network_failure`].
    Forward(Box<Forward>),
    /// Send nothing (a response from a terminal answers nothing the host asked).
    Ignore,
}

#[derive(Debug)]
pub struct Forward {
    /// The network-dialect request, MAC'd with the ZAK.
    pub network_request: Message,
    pub pending: Pending,
}

/// A request on its way to the switch: what the acquirer needs to finish it. Holds no PIN
/// block, track data or chip data; its `Debug` masks like every message dump.
#[derive(Debug, Clone)]
pub struct Pending {
    pub transaction_id: u64,
    pub terminal_id: String,
    pub kind: PosKind,
    envelope: Envelope,
    terminal_request: Message,
    network_request: Message,
    mak: WrappedKey,
    sign_on_required: bool,
    /// 63.1 for the terminal's answer (from the card's BIN, which the kept request no longer
    /// has: its track 2 is dropped).
    card_organisation: String,
}

/// Why the switch did not answer is the one failure type of every outbound link,
/// [`host::LinkFailure`]: `Unavailable` → 91 with nothing to reverse, `Timeout` → 98 and
/// `LinkLost` → 91, both reversed toward the network.
pub use host::LinkFailure;

/// A network reversal ready to send: the repeat MTI (0421) after the first attempt, fresh MAC.
#[derive(Debug, Clone)]
pub struct OutboundReversal {
    pub id: u64,
    pub transaction_id: u64,
    /// Failed attempts before this one.
    pub attempts: u32,
    pub message: Message,
}

/// A journaled transaction as the acquirer saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionRecord {
    pub id: u64,
    pub terminal_id: String,
    pub merchant_id: String,
    pub batch_no: u32,
    pub trace: String,
    pub terminal_mti: String,
    pub kind: String,
    pub processing_code: Option<String>,
    pub amount_minor: u64,
    pub currency: String,
    pub pan_masked: Option<String>,
    pub card_org: String,
    pub rrn: Option<String>,
    pub auth_code: Option<String>,
    pub response_code: Option<String>,
    /// `pending` (at the network), `approved`, `declined`, `timeout`, `failed`.
    pub status: String,
    /// Whether the request went (or may have gone) to the network.
    pub sent: bool,
    pub net_mti: Option<String>,
    pub net_stan: Option<String>,
    pub net_time: Option<String>,
    pub original_id: Option<u64>,
    pub voided: bool,
    pub completed: bool,
    pub refunded_minor: u64,
    pub reversed: bool,
    pub received_ms: u64,
}

pub(crate) const TX_COLUMNS: &str = "id, terminal_id, merchant_id, batch_no, trace, terminal_mti, kind, processing_code, \
     amount_minor, currency, pan_masked, card_org, rrn, auth_code, response_code, status, sent, net_mti, net_stan, \
     net_time, original_id, voided, completed, refunded_minor, reversed, received_ms";

fn batch_of(value: u64) -> sqlstore::Result<u32> {
    u32::try_from(value).map_err(|_| sqlstore::Error::column(3, "a batch number"))
}

impl TransactionRecord {
    pub(crate) fn from_row(row: &Row) -> sqlstore::Result<TransactionRecord> {
        Ok(TransactionRecord {
            id: row.u64(0)?,
            terminal_id: row.text(1)?,
            merchant_id: row.text(2)?,
            batch_no: batch_of(row.u64(3)?)?,
            trace: row.text(4)?,
            terminal_mti: row.text(5)?,
            kind: row.text(6)?,
            processing_code: row.opt_text(7)?,
            amount_minor: row.u64(8)?,
            currency: row.text(9)?,
            pan_masked: row.opt_text(10)?,
            card_org: row.text(11)?,
            rrn: row.opt_text(12)?,
            auth_code: row.opt_text(13)?,
            response_code: row.opt_text(14)?,
            status: row.text(15)?,
            sent: row.i64(16)? != 0,
            net_mti: row.opt_text(17)?,
            net_stan: row.opt_text(18)?,
            net_time: row.opt_text(19)?,
            original_id: row.opt_i64(20)?.and_then(|v| u64::try_from(v).ok()),
            voided: row.i64(21)? != 0,
            completed: row.i64(22)? != 0,
            refunded_minor: row.u64(23)?,
            reversed: row.i64(24)? != 0,
            received_ms: row.u64(25)?,
        })
    }

    pub fn pos_kind(&self) -> Option<PosKind> {
        PosKind::from_name(&self.kind)
    }

    pub fn approved(&self) -> bool {
        self.status == "approved"
    }

    /// The network-leg original (field 90) of this transaction, if it went out.
    fn network_original(&self, acquirer: &str) -> Option<OriginalData> {
        Some(OriginalData {
            mti: self.net_mti.clone()?,
            stan: self.net_stan.clone()?,
            transmission_time: self.net_time.clone()?,
            acquirer: format!("{acquirer:0>11}"),
            forwarder: NO_FORWARDER.to_owned(),
        })
    }
}

/// A journaled transaction by id.
pub(crate) fn transaction_by_id(tx: &mut Tx<'_>, id: u64) -> sqlstore::Result<Option<TransactionRecord>> {
    let row = tx.query_opt(&format!("SELECT {TX_COLUMNS} FROM acquirer_transactions WHERE id = $1"), &[int(id)?])?;
    row.as_ref().map(TransactionRecord::from_row).transpose()
}

/// The host's record of a terminal: batch and working keys.
#[derive(Debug, Clone)]
pub struct TerminalState {
    pub terminal_id: String,
    pub batch_no: u32,
    pub signed_on: bool,
    pub scheme: Option<String>,
    pub pik: Option<WrappedKey>,
    pub mak: Option<WrappedKey>,
    pub tdk: Option<WrappedKey>,
    pub sign_on_required: bool,
    pub settlement_pending: bool,
}

fn opt_key(text: Option<String>) -> sqlstore::Result<Option<WrappedKey>> {
    text.map(|block| WrappedKey::from_block(block).map_err(|_| sqlstore::Error::column(4, "a key block"))).transpose()
}

pub(crate) fn terminal_state_pub(tx: &mut Tx<'_>, terminal_id: &str) -> sqlstore::Result<Option<TerminalState>> {
    terminal_state(tx, terminal_id)
}

fn terminal_state(tx: &mut Tx<'_>, terminal_id: &str) -> sqlstore::Result<Option<TerminalState>> {
    let row = tx.query_opt(
        "SELECT batch_no, signed_on, scheme, pik, mak, tdk, sign_on_required, settlement_pending \
         FROM acquirer_terminals WHERE terminal_id = $1",
        &[terminal_id.into()],
    )?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(TerminalState {
        terminal_id: terminal_id.to_owned(),
        batch_no: batch_of(row.u64(0)?)?,
        signed_on: row.i64(1)? != 0,
        scheme: row.opt_text(2)?,
        pik: opt_key(row.opt_text(3)?)?,
        mak: opt_key(row.opt_text(4)?)?,
        tdk: opt_key(row.opt_text(5)?)?,
        sign_on_required: row.i64(6)? != 0,
        settlement_pending: row.i64(7)? != 0,
    }))
}

/// The terminal's row, created from the registry's batch number on first sight.
fn ensure_terminal(tx: &mut Tx<'_>, terminal: &TerminalRecord, now_ms: u64) -> sqlstore::Result<TerminalState> {
    if let Some(state) = terminal_state(tx, &terminal.terminal_id)? {
        return Ok(state);
    }
    let batch = if (1..=BATCH_NO_MAX).contains(&terminal.batch_no) { terminal.batch_no } else { 1 };
    tx.execute(
        "INSERT INTO acquirer_terminals (terminal_id, batch_no, signed_on, sign_on_required, settlement_pending, \
         updated_ms) VALUES ($1, $2, 0, 0, 0, $3)",
        &[terminal.terminal_id.as_str().into(), batch.into(), int(now_ms)?],
    )?;
    Ok(TerminalState {
        terminal_id: terminal.terminal_id.clone(),
        batch_no: batch,
        signed_on: false,
        scheme: None,
        pik: None,
        mak: None,
        tdk: None,
        sign_on_required: false,
        settlement_pending: false,
    })
}

pub(crate) fn next_batch(batch: u32) -> u32 {
    if batch >= BATCH_NO_MAX { 1 } else { batch + 1 }
}

fn masked_pan(message: &Message) -> Option<String> {
    pan_of(message).map(|pan| iso8583::mask::mask_pan(&pan))
}

/// The PAN from field 2, or from track 2 (35) before its separator.
fn pan_of(message: &Message) -> Option<String> {
    iso8583::mask::request_pan(message)
}

fn amount_of(message: &Message) -> Option<u64> {
    message.get_str(4).and_then(|text| text.parse().ok())
}

/// Field 43: name (25), city (13), country (2); printable ASCII only (the network dialect is ASCII).
fn name_location(merchant: &MerchantRecord, country: &str) -> String {
    let ascii = |text: &str, len: usize| -> String {
        text.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { ' ' }).take(len).collect()
    };
    format!(
        "{:<name$}{:<city$}{country}",
        ascii(&merchant.name, MERCHANT_NAME_LEN_MAX),
        ascii(&merchant.city, CITY_LEN_MAX),
        name = MERCHANT_NAME_LEN_MAX,
        city = CITY_LEN_MAX
    )
}

/// Run `work` in one transaction, carrying an [`AcquirerError`] out of it.
/// The terminals the acquirer host on `db` runs (its POS channel): those that ever signed on
/// there. End of day reconciles and ties this channel; other channels of the institution apart.
pub fn host_terminals(db: &Database) -> Result<std::collections::HashSet<String>> {
    transact(db, |tx| {
        let rows = tx.query("SELECT terminal_id FROM acquirer_terminals", &[])?;
        Ok(rows.iter().map(|row| row.text(0)).collect::<sqlstore::Result<_>>()?)
    })
}

pub(crate) fn transact<T>(db: &Database, work: impl FnMut(&mut Tx<'_>) -> Result<T>) -> Result<T> {
    db.transact(work)
}

/// One message for `acquirer_messages`.
pub(crate) fn log(
    tx: &mut Tx<'_>,
    transaction_id: Option<u64>,
    direction: &str,
    leg: &str,
    message: &Message,
    now_ms: u64,
) -> sqlstore::Result<()> {
    let id = store::next_id(tx, store::SEQ_MESSAGE)?;
    tx.execute(
        "INSERT INTO acquirer_messages (id, transaction_id, at_ms, direction, leg, terminal_id, mti, stan, \
         processing_code, amount_minor, pan_masked, rrn, response_code) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            int(id)?,
            opt_int(transaction_id)?,
            int(now_ms)?,
            direction.into(),
            leg.into(),
            message.get_str(41).map(|t| t.trim_end().to_owned()).into(),
            message.mti().as_str().into(),
            message.get_str(11).into(),
            message.get_str(3).into(),
            opt_int(amount_of(message))?,
            masked_pan(message).into(),
            message.get_str(37).into(),
            message.get_str(39).into(),
        ],
    )?;
    Ok(())
}

/// The acquirer host. Cheap to clone (everything is shared); usable from any thread.
#[derive(Clone)]
pub struct Acquirer {
    pub(crate) settings: Arc<Settings>,
    pub(crate) hsm: Arc<dyn SecurityModule>,
    pub(crate) db: Database,
    pub(crate) directory: Arc<dyn TerminalDirectory>,
    pub(crate) risk: Arc<dyn RiskCheck>,
    pub(crate) network_spec: Arc<Spec>,
    /// The network reversals owed to the switch (`acquirer_saf` in `db`).
    pub(crate) queue: saf::SqlQueue,
}

impl std::fmt::Debug for Acquirer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acquirer").field("institution_id", &self.settings.institution_id).finish_non_exhaustive()
    }
}

/// What the checks common to every terminal message found.
pub(crate) struct Known {
    pub(crate) terminal: TerminalRecord,
    pub(crate) merchant: MerchantRecord,
    pub(crate) state: TerminalState,
}

impl Acquirer {
    /// The acquirer over the database its configuration names (created and migrated if new).
    pub fn open(
        config: &AcquirerConfig,
        hsm: Arc<dyn SecurityModule>,
        directory: Arc<dyn TerminalDirectory>,
    ) -> Result<Acquirer> {
        let db = Database::open(&config.database)?;
        Acquirer::with_database(config, hsm, db, directory)
    }

    /// The acquirer over an open database (the merchants registry may share it).
    pub fn with_database(
        config: &AcquirerConfig,
        hsm: Arc<dyn SecurityModule>,
        db: Database,
        directory: Arc<dyn TerminalDirectory>,
    ) -> Result<Acquirer> {
        let settings = Settings::new(config)?;
        store::migrate(&db)?;
        Ok(Acquirer {
            settings: Arc::new(settings),
            hsm,
            db,
            directory,
            risk: Arc::new(DailyLimit),
            network_spec: iso8583::builtin::network(),
            queue: store::reversal_queue()?,
        })
    }

    /// Replace the risk hook (the default is the merchant's daily limit).
    pub fn with_risk(mut self, risk: Arc<dyn RiskCheck>) -> Acquirer {
        self.risk = risk;
        self
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The terminal-side spec (the POS profile's).
    pub fn spec(&self) -> &Arc<Spec> {
        &self.settings.spec
    }

    pub fn network_spec(&self) -> &Arc<Spec> {
        &self.network_spec
    }

    // ---- Terminal messages ----------------------------------------------------------------

    /// Decide what to do with a terminal's message at `now_ms`.
    pub fn on_terminal_request(&self, envelope: Envelope, request: Message, now_ms: u64) -> Step {
        if !request.mti().is_request() {
            return Step::Ignore;
        }
        let result = match request.mti().as_str() {
            "0800" => self.network_management(&envelope, &request, now_ms).map(Step::Respond),
            "0820" => self.sign_off_or_echo(&envelope, &request, now_ms).map(Step::Respond),
            "0500" => self.settle(&envelope, &request, now_ms).map(Step::Respond),
            "0320" => self.batch_upload(&envelope, &request, now_ms).map(Step::Respond),
            // 0401: the terminal's repeat of its 0400, answered as the 0400 was.
            "0400" | "0401" => self.terminal_reversal(&envelope, &request, now_ms),
            "0100" | "0200" | "0220" => self.financial(&envelope, &request, now_ms),
            _ => Ok(Step::Respond(self.refuse(&envelope, &request, None, codes::NOT_SUPPORTED, false, now_ms))),
        };
        match result {
            Ok(step) => step,
            Err(error) => {
                tracing::error!(mti = %request.mti(), %error, "acquirer: request failed");
                Step::Respond(self.refuse(&envelope, &request, None, codes::SYSTEM_MALFUNCTION, false, now_ms))
            }
        }
    }

    /// The reply envelope: TPDU swapped (per profile), the profile's header or the terminal's,
    /// and the processing-requirement nibble.
    pub(crate) fn reply_envelope(&self, envelope: &Envelope, sign_on_again: bool) -> Envelope {
        let mut reply = if self.settings.tpdu_swap { envelope.response() } else { *envelope };
        if let Some(header) = self.settings.response_header {
            reply.header = Some(header);
        }
        if let Some(header) = reply.header.as_mut()
            && header.as_bytes().len() == 6
        {
            header.set_processing_requirement(if sign_on_again {
                ProcessingRequirement::SignOnAgain
            } else {
                ProcessingRequirement::None
            });
        }
        reply
    }

    /// The host's answer with `code`: echo fields, host time, 32, 39; MAC'd under `mak` when the
    /// profile MACs this response.
    pub(crate) fn answer(&self, request: &Message, code: &str, mak: Option<&WrappedKey>, now_ms: u64) -> Message {
        let mut response = match request.response(&TERMINAL_ECHO) {
            Ok(response) => response,
            Err(_) => Message::new(Arc::clone(&self.settings.spec), request.mti()),
        };
        let now = clock::UtcDateTime::from_ms(now_ms);
        let built = response
            .set_str(12, &now.hhmmss())
            .and_then(|()| response.set_str(13, &now.mmdd()))
            .and_then(|()| response.set_str(32, &self.settings.institution_id))
            .and_then(|()| response.set_str(39, code));
        if let Err(error) = built {
            tracing::error!(%error, "acquirer: cannot build a response");
        }
        self.sign_response(&mut response, mak);
        response
    }

    pub(crate) fn sign_response(&self, response: &mut Message, mak: Option<&WrappedKey>) {
        response.remove(profile::MAC_FIELD);
        if let Some(mak) = mak
            && self.settings.carries_mac(response.mti().as_str())
            && let Err(error) = profile::sign(self.hsm.as_ref(), &self.settings, mak, response)
        {
            tracing::error!(?error, "acquirer: cannot MAC a response");
        }
    }

    /// Answer without a transaction row, journaling both messages.
    pub(crate) fn refuse(
        &self,
        envelope: &Envelope,
        request: &Message,
        mak: Option<&WrappedKey>,
        code: &str,
        sign_on_again: bool,
        now_ms: u64,
    ) -> Reply {
        let response = self.answer(request, code, mak, now_ms);
        let logged = transact(&self.db, |tx| {
            log(tx, None, "in", "terminal", request, now_ms)?;
            log(tx, None, "out", "terminal", &response, now_ms)?;
            Ok(())
        });
        if let Err(error) = logged {
            tracing::error!(%error, code, "acquirer: cannot journal a refused request");
        }
        tracing::info!(mti = %request.mti(), code, "acquirer: request refused");
        Reply { envelope: self.reply_envelope(envelope, sign_on_again), response, reversal_queued: false }
    }

    /// Look up the terminal and its merchant and the host's state of it. `Err(reply)` when the
    /// terminal is unknown (97) or the lookup failed (96).
    fn known(&self, envelope: &Envelope, request: &Message, now_ms: u64) -> Result<std::result::Result<Known, Reply>> {
        let Some(terminal_id) = request.get_str(41).map(|t| t.trim_end().to_owned()) else {
            return Ok(Err(self.refuse(envelope, request, None, codes::FORMAT_ERROR, false, now_ms)));
        };
        let found = match self.directory.terminal_with_merchant(&terminal_id) {
            Ok(found) => found,
            Err(error) => {
                tracing::error!(%error, "acquirer: terminal directory failed");
                return Ok(Err(self.refuse(envelope, request, None, codes::SYSTEM_MALFUNCTION, false, now_ms)));
            }
        };
        let Some((terminal, merchant)) = found else {
            return Ok(Err(self.refuse(envelope, request, None, TERMINAL_NOT_REGISTERED, false, now_ms)));
        };
        let state = transact(&self.db, |tx| Ok(ensure_terminal(tx, &terminal, now_ms)?))?;
        Ok(Ok(Known { terminal, merchant, state }))
    }

    /// 58 / 03: the terminal enabled, the merchant active and field 42 its id.
    fn status_code(known: &Known, request: &Message) -> Option<&'static str> {
        if known.terminal.status == TerminalStatus::Disabled {
            return Some(NOT_PERMITTED_TERMINAL);
        }
        let merchant_field = request.get_str(42).map(str::trim_end);
        if known.merchant.status != MerchantStatus::Active
            || merchant_field != Some(known.merchant.merchant_id.as_str())
        {
            return Some(codes::INVALID_MERCHANT);
        }
        None
    }

    // ---- Operations and queries -----------------------------------------------------------

    /// Install working keys for a terminal as if it had signed on (a key injection of working
    /// keys: the §5 reference vector, or a migration from another host). The keys are under
    /// the LMK.
    pub fn install_working_keys(
        &self,
        terminal_id: &str,
        scheme: SignOnScheme,
        pik: &WrappedKey,
        mak: &WrappedKey,
        now_ms: u64,
    ) -> Result<()> {
        if pik.key_type() != KeyType::Tpk || mak.key_type() != KeyType::Tak {
            return Err(AcquirerError::Internal("working keys must be a TPK and a TAK".into()));
        }
        let (terminal, _) = self
            .directory
            .terminal_with_merchant(terminal_id)
            .map_err(AcquirerError::Directory)?
            .ok_or_else(|| AcquirerError::Directory("no such terminal".into()))?;
        transact(&self.db, |tx| {
            ensure_terminal(tx, &terminal, now_ms)?;
            tx.execute(
                "UPDATE acquirer_terminals SET signed_on = 1, scheme = $2, pik = $3, mak = $4, tdk = NULL, \
                 signed_on_ms = $5, updated_ms = $5 WHERE terminal_id = $1",
                &[terminal_id.into(), scheme.code().into(), pik.block().into(), mak.block().into(), int(now_ms)?],
            )?;
            Ok(())
        })
    }

    /// Ask a terminal to sign on again: every following response carries processing
    /// requirement 3 until it does (after a key change at the host, say).
    pub fn request_sign_on(&self, terminal_id: &str) -> Result<bool> {
        let changed = transact(&self.db, |tx| {
            Ok(tx.execute(
                "UPDATE acquirer_terminals SET sign_on_required = 1 WHERE terminal_id = $1",
                &[terminal_id.into()],
            )?)
        })?;
        Ok(changed > 0)
    }

    /// The host's state of a terminal (batch, keys as blocks under the LMK).
    pub fn terminal(&self, terminal_id: &str) -> Result<Option<TerminalState>> {
        transact(&self.db, |tx| Ok(terminal_state(tx, terminal_id)?))
    }

    /// The journaled transactions of a terminal's batch, in order.
    pub fn batch_transactions(&self, terminal_id: &str, batch_no: u32) -> Result<Vec<TransactionRecord>> {
        transact(&self.db, |tx| {
            let rows = tx.query(
                &format!(
                    "SELECT {TX_COLUMNS} FROM acquirer_transactions WHERE terminal_id = $1 AND batch_no = $2 \
                     ORDER BY id LIMIT $3"
                ),
                &[terminal_id.into(), batch_no.into(), int(crate::limits::BATCH_TRANSACTIONS_MAX as u64)?],
            )?;
            Ok(rows.iter().map(TransactionRecord::from_row).collect::<sqlstore::Result<Vec<_>>>()?)
        })
    }

    /// Network reversals by state: (pending, delivered, dead).
    pub fn reversal_counts(&self) -> Result<(u64, u64, u64)> {
        let counts = transact(&self.db, |tx| Ok(self.queue.counts(tx, None)?))?;
        Ok((counts.pending, counts.done, counts.dead))
    }
}

/// The outcome of the checks before forwarding.
enum Decision {
    Go(Option<TransactionRecord>),
    Decline(Option<TransactionRecord>, &'static str),
}
