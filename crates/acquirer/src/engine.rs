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
use iso8583::{Envelope, Message, ProcessingRequirement, Spec};
use network::codes;
use network::request::{Acceptor, CardInput, TransactionRequest};
use sqlstore::{Database, Tx};

use crate::config::{AcquirerConfig, Settings};
use crate::directory::{MerchantRecord, MerchantStatus, TerminalDirectory, TerminalRecord, TerminalStatus};
use crate::error::{AcquirerError, Result};
use crate::journal::{self, Flow};
pub use crate::journal::{TerminalState, TransactionRecord};
pub use crate::kind::PosKind;
use crate::kind::classify;
use crate::limits::{BATCH_NO_MAX, CITY_LEN_MAX, MERCHANT_NAME_LEN_MAX, MS_PER_DAY, STAN_MAX};
use crate::originals::{apply_effects, claim, lane_check, original_check};
use crate::profile;
use crate::risk::{DailyLimit, RiskCheck, RiskContext};
use crate::store;

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

pub(crate) fn next_batch(batch: u32) -> u32 {
    if batch >= BATCH_NO_MAX { 1 } else { batch + 1 }
}

pub(crate) fn masked_pan(message: &Message) -> Option<String> {
    pan_of(message).map(|pan| iso8583::mask::mask_pan(&pan))
}

/// The PAN from field 2, or from track 2 (35) before its separator.
fn pan_of(message: &Message) -> Option<String> {
    iso8583::mask::request_pan(message)
}

pub(crate) fn amount_of(message: &Message) -> Option<u64> {
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

/// The terminals the acquirer host on `db` runs (its POS channel): those that ever signed on
/// there. End of day reconciles and ties this channel; other channels of the institution apart.
pub fn host_terminals(db: &Database) -> Result<std::collections::HashSet<String>> {
    transact(db, |tx| Ok(journal::terminal_ids(tx)?))
}

/// Create or upgrade the acquirer's tables in `db` (what [`Acquirer::open`] does first): for a
/// console that reads the host's records beside it, before the host has ever run there.
pub fn migrate(db: &Database) -> Result<()> {
    Ok(store::migrate(db)?)
}

/// A terminal's batch and settlement state as the acquirer host on `db` keeps them — the one
/// place they live (`acquirer_terminals`); `None` when the host has not seen the terminal yet.
/// For consoles beside the host (the merchants CLI shows them).
pub fn host_terminal(db: &Database, terminal_id: &str) -> Result<Option<TerminalState>> {
    transact(db, |tx| Ok(journal::terminal(tx, terminal_id)?))
}

/// Run `work` in one transaction, carrying an [`AcquirerError`] out of it.
pub(crate) fn transact<T>(db: &Database, work: impl FnMut(&mut Tx<'_>) -> Result<T>) -> Result<T> {
    db.transact(work)
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
    /// Each terminal seen, with its merchant and state, while none of them changed.
    pub(crate) known_cache: Arc<crate::known_cache::KnownCache>,
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
        let risk: Arc<dyn RiskCheck> = match &settings.risk_rules {
            Some(path) => Arc::new(crate::risk_engine::start(path, hsm.as_ref(), &settings.dek, &db)?),
            None => Arc::new(DailyLimit),
        };
        Ok(Acquirer {
            settings: Arc::new(settings),
            hsm,
            db,
            directory,
            risk,
            network_spec: iso8583::builtin::network(),
            queue: store::reversal_queue()?,
            known_cache: Arc::default(),
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
        let logged = transact(&self.db, |tx| Ok(journal::log_exchange(tx, None, request, &response, now_ms)?));
        if let Err(error) = logged {
            tracing::error!(%error, code, "acquirer: cannot journal a refused request");
        }
        tracing::info!(mti = %request.mti(), code, "acquirer: request refused");
        Reply { envelope: self.reply_envelope(envelope, sign_on_again), response, reversal_queued: false }
    }

    /// Look up the terminal and its merchant and the host's state of it. `Err(reply)` when the
    /// terminal is unknown (97) or the lookup failed (96).
    fn known(
        &self,
        envelope: &Envelope,
        request: &Message,
        now_ms: u64,
    ) -> Result<std::result::Result<Arc<Known>, Reply>> {
        let Some(terminal_id) = request.get_str(41).map(|t| t.trim_end().to_owned()) else {
            return Ok(Err(self.refuse(envelope, request, None, codes::FORMAT_ERROR, false, now_ms)));
        };
        // Taken before the rows are read: a change after it moves the next stamp.
        let stamp = self.known_stamp();
        if let Some(known) = self.known_cache.get(stamp, &terminal_id) {
            return Ok(Ok(known));
        }
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
        let state = transact(&self.db, |tx| {
            Ok(journal::ensure_terminal(tx, &terminal.terminal_id, terminal.batch_no, now_ms)?)
        })?;
        let known = Arc::new(Known { terminal, merchant, state });
        self.known_cache.put(stamp, Arc::clone(&known));
        Ok(Ok(known))
    }

    /// What the kept terminals were read under (crate::known_cache); `None` when the directory
    /// or the database cannot say (PostgreSQL), and then nothing is kept.
    fn known_stamp(&self) -> Option<crate::known_cache::Stamp> {
        let terminal_rows = journal::terminal_change_count();
        let directory = self.directory.version()?;
        let database = self.db.data_version().ok()??;
        Some(crate::known_cache::Stamp { directory, database, terminal_rows })
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
        let keys =
            journal::WorkingKeys { terminal_id, scheme: scheme.code(), pik: pik.block(), mak: mak.block(), tdk: None };
        transact(&self.db, |tx| {
            journal::ensure_terminal(tx, terminal_id, terminal.batch_no, now_ms)?;
            Ok(journal::install_keys(tx, &keys, now_ms)?)
        })
    }

    /// Ask a terminal to sign on again: every following response carries processing
    /// requirement 3 until it does (after a key change at the host, say).
    pub fn request_sign_on(&self, terminal_id: &str) -> Result<bool> {
        transact(&self.db, |tx| Ok(journal::require_sign_on(tx, terminal_id)?))
    }

    /// The host's state of a terminal (batch, keys as blocks under the LMK).
    pub fn terminal(&self, terminal_id: &str) -> Result<Option<TerminalState>> {
        transact(&self.db, |tx| Ok(journal::terminal(tx, terminal_id)?))
    }

    /// The journaled transactions of a terminal's batch, in order.
    pub fn batch_transactions(&self, terminal_id: &str, batch_no: u32) -> Result<Vec<TransactionRecord>> {
        let limit = crate::limits::BATCH_TRANSACTIONS_MAX as u64;
        transact(&self.db, |tx| Ok(journal::batch(tx, terminal_id, batch_no, limit)?))
    }

    /// The approved, not reversed sales (purchases, completions) and refunds received in
    /// `[from_ms, to_ms)`, oldest first, at most `limit`: what the AML reports read.
    pub fn approved_between(&self, from_ms: u64, to_ms: u64, limit: u64) -> Result<Vec<TransactionRecord>> {
        let kinds = ["purchase", "completion", "completion-advice", "refund"];
        transact(&self.db, |tx| Ok(journal::approved_between(tx, from_ms, to_ms, &kinds, limit)?))
    }

    /// How many transactions have more than one network reversal queued: 0, unless something
    /// broke the rule that a transaction is reversed to the switch once.
    pub fn transactions_reversed_twice(&self) -> Result<u64> {
        transact(&self.db, |tx| Ok(journal::reversed_twice(tx)?))
    }

    /// Network reversals waiting and given up: (pending, dead), each counted up to `cap`
    /// (`saf::SqlQueue::backlog`: never a walk over the delivered ones).
    pub fn reversal_backlog(&self, cap: u64) -> Result<(u64, u64)> {
        transact(&self.db, |tx| Ok(self.queue.backlog(tx, store::SWITCH_DESTINATION, cap)?))
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
    /// The terminal sent an advice again (it had no answer to the first copy): the first copy's
    /// answer, which it has.
    Repeat(Box<TransactionRecord>),
    /// The terminal sent an advice again whose first copy the switch never answered here (its
    /// forward failed or timed out, or a crash lost it) and whose network leg is an advice too:
    /// to the switch again, as a repeat (0221), which the switch answers as the first time.
    Resend(Box<TransactionRecord>),
    /// The same, for an advice whose network leg is a request (a refund, 0200): a crash lost its
    /// forward, so it is failed as a timeout — reversed at the network, answered 98.
    Expire(Box<TransactionRecord>),
}
