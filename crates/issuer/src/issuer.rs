//! The issuer core: a request in, a response out, plain synchronous logic over the card
//! database, the ledger and the security module. No sockets, no clock of its own (the
//! `Clock` passed in), so the TCP server, the one-process demo and a simulation drive it alike.
//!
//! # The checks, in order (docs/network-flows.md §3; the first failure answers)
//!
//! 1. MAC (128, switch ZAK — the current one, or the one a key change replaced while its grace
//!    lasts) → A0, not journaled. The response is MAC'd with the ZAK that verified the request.
//! 2. Format → 30 (13 for a zero purchase).
//! 3. Duplicate (same year, 11, 7, 32, 33) → the journaled response again.
//!    An original whose reversal came first (a reversal journaled naming this request) → 05
//!    ([`ALREADY_REVERSED`]), nothing held, journaled as [`EntryState::AlreadyReversed`]; an
//!    advice is answered 00 (received) and recorded the same way.
//! 4. Card (keyed hash lookup, Luhn, 35 = 2) → 14.
//! 5. Status → 41/43/62/54.
//! 6. Expiry → 54.
//! 7. PIN (under the link's current ZPK, or the replaced one within its grace) → 55, 75 at
//!    `pin_tries_max`.
//! 8. CVV/iCVV, ARQC (its ATC above the card's high-water mark, its 9F02 amount and 5F2A
//!    currency those of the request) → 59.
//! 9. Daily amount/count → 61/65.
//! 10. Funds (the ledger refuses the hold) → 51.
//!
//! # One database, one commit, then the answer
//!
//! The ledger's tables live in the issuer's own database (`ledger::sql_ledger`), so a request
//! is one transaction there:
//!
//! 1. read what it needs (duplicate, card, usage, original) and decide (checks 3–9);
//! 2. move the money in the ledger (hold, post, void, credit) under a transfer id *derived
//!    from the request's key* ([`crate::money::transfer_id`]), in the same transaction;
//! 3. write the journal row (decision, sealed response, PIN counter, ATC, daily usage);
//! 4. commit — and only then answer.
//!
//! A crash before the commit leaves nothing: no hold, no journal row, no answer; the sender's
//! repeat is decided afresh. A failure anywhere (the journal write included) rolls the hold
//! back with everything else and is answered 96. So two cases of the former two-store design
//! cannot arise: a hold without its journal row (once finished by the repeat, found under the
//! derived id, or voided by a reversal that found no original), and a hold to release after a
//! failed journal write. The derived ids stay: they keep every movement idempotent (a repeat
//! after a commit whose answer was lost is a duplicate; the ledger's `exists` backs it).
//!
//! A configuration that still names a separate `ledger` store is read as before: there each
//! movement commits on its own, before the journal, and those two cases are handled as they
//! were — the repeat finishes a hold that has no journal row (`authorize`'s recovery),
//! a reversal voids an orphaned hold, and a hold whose journal write failed is voided before
//! the 96. Only that configuration pays for those look-ups.
//!
//! Reversals are idempotent by their *original*: the void's id is derived from the original's
//! key, so any number of repeats (0421, with any 11 and 7) void the hold once; each is
//! answered 00.
//!
//! # Concurrency
//!
//! A request holds the lock of its card's stripe (by PAN hash) around its transaction, so two
//! requests for one card never interleave their read-decide-write (the daily limits and PIN
//! counter stay exact). One issuer process per database: the locks are in memory. (The
//! transaction itself serialises the issuer's writers too: one connection, and the ledger's
//! row lock on PostgreSQL.)
//!
//! Network management: 0800/101 key changes are taken here ([`crate::linkkeys`]); other 0800s
//! (sign-on, echo, sign-off) are answered 00 as `transport::NetMgmt` answers them.

use std::sync::{Arc, Mutex, MutexGuard};

use clock::{Clock, UtcDateTime};
use domain::{ResponseCode, Rrn};
use hsm::pinblock::PinFormat;
use hsm::{ArpcMethod, ArqcRequest, PinVerification, SecurityModule, WrappedKey};
use iso8583::{Message, Spec};
use network::TransactionKind;
use network::balance::{AVAILABLE_BALANCE, AdditionalAmount, LEDGER_BALANCE};
use network::codes;
use sha1::{Digest, Sha1};
use sqlstore::Tx;

use crate::config::{IssuerConfig, PinMethod, Settings};
use crate::error::{IssuerError, Result};
use crate::limits::{CARD_LOCK_STRIPES, MS_PER_DAY, PENDING_FUNDINGS_MAX};
use crate::linkkeys::{Link, LinkKeys};
use crate::money::{
    Balance, Money, Moved, TRANSFER_COMPLETION_VOID, TRANSFER_PREAUTH, TRANSFER_PURCHASE, TRANSFER_REFUND,
    TransferRole, transfer_id,
};
use crate::request::{self, Parsed, base_mti};
use crate::store::{
    self, CardChange, CardRecord, CardStatus, CardStore, EntryState, JournalRow, JournalWrite, Restore,
};

mod advices;
mod authorize;
mod day_approvals;
pub use day_approvals::DayApproval;
mod follow_ups;
pub(crate) mod risk;

/// Fields a response copies from its request (docs/network-spec.md §3, and 25).
const ECHO_FIELDS: [u8; 12] = network::request::RESPONSE_ECHO_FIELDS;
/// EMV tag of the issuer authentication data (ARPC ‖ ARC) in the response's field 55.
const TAG_ISSUER_AUTHENTICATION_DATA: [u8; 1] = [0x91];
/// EMV service code the iCVV is computed with.
const ICVV_SERVICE_CODE: &str = "999";
/// Track 2 discretionary data of a cardnet card: PVKI (1), PVV (4), CVV (3), then filler.
const TRACK2_CVV: std::ops::Range<usize> = 5..8;
/// Journal rows `card_journal` returns at most.
const CARD_JOURNAL_MAX: usize = 1_000;
/// The answer to an original that arrives after its own reversal (docs/network-flows.md §3):
/// "do not honour". Not 94 (it is not a duplicate of anything the acquirer sent twice) and not
/// 25 (nothing is missing): the transaction was cancelled by the acquirer before it got here,
/// and an approval now would hold funds nobody will ever reverse again.
pub const ALREADY_REVERSED: &str = codes::DO_NOT_HONOUR;

/// The issuer host's core.
pub struct Issuer {
    pub(crate) settings: Settings,
    pub(crate) hsm: Arc<dyn SecurityModule>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) cards: CardStore,
    pub(crate) money: Money,
    /// The working keys of the link to the switch, changed by 0800/101.
    pub(crate) link: Link,
    locks: Vec<Mutex<()>>,
    spec: Arc<Spec>,
    /// The risk engine's card view (`[risk]`), when configured.
    pub(crate) risk: Option<crate::issuer::risk::IssuerRisk>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer").field("institution_id", &self.settings.institution_id).finish_non_exhaustive()
    }
}

/// A journaled decision, as operators and tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub request_key: String,
    pub mti: String,
    pub kind: String,
    pub card_id: Option<i64>,
    pub amount_minor: u64,
    /// The decision: the issuer's, or the switch's for a stand-in advice.
    pub response_code: ResponseCode,
    pub auth_code: Option<String>,
    pub transfer_id: Option<u128>,
    pub state: EntryState,
    pub rrn: Option<Rrn>,
    pub original_key: Option<String>,
    pub refunded_minor: u64,
}

impl From<JournalRow> for JournalEntry {
    fn from(row: JournalRow) -> JournalEntry {
        JournalEntry {
            request_key: row.key,
            mti: row.mti,
            kind: row.kind,
            card_id: row.card_id,
            amount_minor: row.amount,
            response_code: row.response_code,
            auth_code: row.auth_code,
            transfer_id: row.transfer_id,
            state: row.state,
            rrn: row.rrn,
            original_key: row.original_key,
            refunded_minor: row.refunded_amount,
        }
    }
}

/// The link keys of one request: the snapshot it was checked with and the ZAK that verified
/// its MAC (its response is MAC'd with that one).
pub(crate) struct Verified {
    keys: LinkKeys,
    zak: WrappedKey,
}

/// What a request decided, before it is answered and journaled.
pub(crate) struct Decision {
    /// The decision journaled (for an advice: the sender's).
    pub(crate) code: String,
    /// The code answered, when it differs from `code` (an advice is answered 00: received).
    pub(crate) answer: Option<&'static str>,
    pub(crate) card_id: Option<i64>,
    pub(crate) auth_code: Option<String>,
    pub(crate) transfer_id: Option<u128>,
    pub(crate) state: EntryState,
    card_change: Option<CardChange>,
    /// (business day, amount, count) added to the card's usage.
    pub(crate) usage: Option<(i64, i64, i64)>,
    pub(crate) original: Option<(String, Option<EntryState>, u64)>,
    /// A second journal row the request changes (the original's original).
    pub(crate) further: Option<Restore>,
    balance: Option<Balance>,
    /// The verified chip data: the response carries an ARPC for the final code.
    arpc_for: Option<network::emv::ChipData>,
    /// A hold created by this request: voided if the journal write fails.
    pub(crate) new_hold: Option<u128>,
}

impl Decision {
    pub(crate) fn new(code: &str, card: Option<&CardRecord>) -> Decision {
        Decision {
            code: code.to_owned(),
            answer: None,
            card_id: card.map(|c| c.card_id),
            auth_code: None,
            transfer_id: None,
            state: EntryState::Declined,
            card_change: None,
            usage: None,
            original: None,
            further: None,
            balance: None,
            arpc_for: None,
            new_hold: None,
        }
    }

    fn with_change(mut self, change: CardChange) -> Decision {
        if change.pin_tries.is_some() || change.atc_max.is_some() {
            self.card_change = Some(change);
        }
        self
    }
}

/// The 6-digit approval code (38) of a request: derived from its key, so a request finished
/// after a crash gets the code it would have had.
fn approval_code(key: &str) -> String {
    let digest = Sha1::new().chain_update(b"cardnet issuer approval\0").chain_update(key.as_bytes()).finalize();
    let value = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    format!("{:06}", value % 1_000_000)
}

/// `YYMM` as months since year 0 (for comparing expiry dates; years are 20YY).
fn yymm_months(yymm: &str) -> Option<i64> {
    if yymm.len() != 4 || !yymm.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i64 = yymm[..2].parse().ok()?;
    let month: i64 = yymm[2..].parse().ok()?;
    (1..=12).contains(&month).then_some((2000 + year) * 12 + month)
}

impl Issuer {
    /// Open the host: the card database (created and migrated if new), the ledger (its
    /// system accounts created if new), and the checked configuration. Fundings a crash left
    /// half-done are finished here.
    pub fn open(config: &IssuerConfig, hsm: Arc<dyn SecurityModule>, clock: Arc<dyn Clock>) -> Result<Issuer> {
        let settings = Settings::new(config)?;
        let cards = CardStore::open(&settings.database)?;
        let link = Link::load(cards.db(), &settings)?;
        let money = Money::open(cards.db(), settings.ledger.as_deref(), Arc::clone(&clock), settings.ledger_id)?;
        let locks = (0..CARD_LOCK_STRIPES).map(|_| Mutex::new(())).collect();
        let risk = match &settings.risk_rules {
            Some(path) => Some(crate::issuer::risk::start(path, hsm.as_ref(), &settings.keys.dek, cards.db())?),
            None => None,
        };
        let issuer =
            Issuer { settings, hsm, clock, cards, money, link, locks, spec: iso8583::builtin::network(), risk };
        for funding in issuer.cards.pending_fundings(PENDING_FUNDINGS_MAX)? {
            issuer.complete_funding(&funding)?;
        }
        issuer.risk_replay()?;
        Ok(issuer)
    }

    /// Open with the software HSM over the configuration's LMK file and the system clock
    /// (the CLI and development servers; a production host passes its HSM to [`Issuer::open`]).
    pub fn open_with_lmk_file(config: &IssuerConfig) -> Result<Issuer> {
        let hsm: Arc<dyn SecurityModule> = Arc::new(config.soft_hsm()?);
        Issuer::open(config, hsm, Arc::new(clock::SystemClock))
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The issuer's business day at `now_ms`: days since the epoch in its business time zone.
    pub(crate) fn business_day(&self, now_ms: u64) -> i64 {
        (i64::try_from(now_ms).unwrap_or(i64::MAX).saturating_add(self.settings.business_day_offset_ms))
            .div_euclid(MS_PER_DAY)
    }

    /// The current month in the business time zone, as months since year 0.
    fn current_month(&self, now_ms: u64) -> i64 {
        let local = i64::try_from(now_ms).unwrap_or(i64::MAX).saturating_add(self.settings.business_day_offset_ms);
        let local = UtcDateTime::from_ms(u64::try_from(local).unwrap_or(0));
        local.year * 12 + i64::from(local.month)
    }

    pub(crate) fn lock_card(&self, pan_hash: &[u8]) -> MutexGuard<'_, ()> {
        let mut head = [0u8; 8];
        for (slot, byte) in head.iter_mut().zip(pan_hash) {
            *slot = *byte;
        }
        let index = (u64::from_be_bytes(head) % CARD_LOCK_STRIPES as u64) as usize;
        // The guarded data is `()`: a panic elsewhere leaves nothing inconsistent behind.
        self.locks[index].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn pan_hash(&self, pan: &str) -> Result<Vec<u8>> {
        Ok(self.hsm.keyed_hash(&self.settings.keys.dek, pan.as_bytes())?)
    }

    /// Release holds whose time is up (the server calls this periodically) and record those
    /// never cleared ([`Issuer::expired_holds`]); how many the ledger released.
    pub fn expire_holds(&self) -> Result<usize> {
        let released = self.money.expire()?;
        self.record_expired_holds()?;
        Ok(released)
    }

    /// The key `request` is journaled under (year, 11, 7, 32, 33), from which its ledger
    /// transfer ids are derived ([`crate::money::transfer_id`]).
    pub fn request_key(&self, request: &Message) -> Result<String> {
        let original =
            network::OriginalData::of_request(request).map_err(|e| IssuerError::input(format!("request: {e}")))?;
        request::request_key(&original, self.now_ms())
            .ok_or_else(|| IssuerError::input("request: field 7 is not a date and time"))
    }

    /// The journal row of `request` (found by its key), if it was answered.
    pub fn journal_entry(&self, request: &Message) -> Result<Option<JournalEntry>> {
        Ok(self.cards.journal(&self.request_key(request)?)?.map(JournalEntry::from))
    }

    /// A card's journal, oldest first.
    pub fn card_journal(&self, card_id: i64) -> Result<Vec<JournalEntry>> {
        Ok(self.cards.journal_of_card(card_id, CARD_JOURNAL_MAX)?.into_iter().map(JournalEntry::from).collect())
    }

    /// A ledger transfer with its pending state (operators and tests).
    pub fn ledger_transfer(&self, id: u128) -> Result<Option<ledger::TransferRecord>> {
        self.money.transfer(id)
    }

    /// The network settlement account: its posted balance is what the cards paid the network,
    /// net (purchases and completions posted, less refunds, completion voids and chargebacks),
    /// in the currency of the ledger ([`Issuer::ledger_currency`]). Nothing else moves it.
    pub fn settlement_balance(&self) -> Result<Balance> {
        let account = self.money.settlement_account();
        Ok(self.money.balance(account)?.unwrap_or(Balance { ledger_minor: 0, available_minor: 0 }))
    }

    /// ISO 4217 numeric of the issuer's ledger (the ledger id is the currency's number).
    pub fn ledger_currency(&self) -> u32 {
        self.money.ledger_id()
    }

    /// Whether the ledger's invariants hold (debits = credits, nothing resolved twice).
    pub fn check_ledger(&self) -> Result<()> {
        self.money.check_invariants()
    }

    // ---- Answering -----------------------------------------------------------------------

    /// Answer one request or advice of the network dialect (0100, 0200, 0120, 0220, 0400,
    /// 0420 and their repeats): the response, MAC'd with the switch ZAK that verified the
    /// request, after its decision is durable. An 0800 key change (70 = 101) changes a link key
    /// ([`crate::linkkeys`]); other 0800s are answered 00. `None` for a message that has no
    /// response (a response itself).
    pub fn handle(&self, request: &Message) -> Option<Message> {
        if !request.mti().is_request() {
            return None;
        }
        if transport::netmgmt::is_request(request) {
            return match transport::NetworkCode::of(request) {
                Some(transport::NetworkCode::KeyChange) => self.key_change(request),
                _ => transport::netmgmt::answer(request),
            };
        }
        // 1. The MAC, before anything else is read: one snapshot of the link keys serves the
        //    whole request, so a key change meanwhile does not mix keys.
        let keys = self.link_keys_now();
        let zak = match self.verify_link_mac(request, &keys) {
            Ok(zak) => zak,
            Err(code) => return self.answer_plain(request, code, &keys.zak),
        };
        let link = Verified { keys, zak };
        if !matches!(request.mti().class(), 1 | 2 | 4) {
            return self.answer_plain(request, codes::INVALID_TRANSACTION, &link.zak);
        }
        let now_ms = self.now_ms();
        // 2. Format.
        let parsed = match request::parse(request, &self.settings, now_ms) {
            Ok(parsed) => parsed,
            Err(code) => return self.answer_plain(request, code, &link.zak),
        };
        match self.process(request, &parsed, &link, now_ms) {
            Ok(response) => Some(response),
            Err(error) => {
                tracing::error!(mti = request.mti().as_str(), %error, "issuer: request failed, answered 96");
                self.answer_plain(request, codes::SYSTEM_MALFUNCTION, &link.zak)
            }
        }
    }

    /// Decide and answer a request in one transaction on the issuer's database: its reads, its
    /// ledger movement and its journal row commit together (or, if anything fails, not at all).
    fn process(&self, request: &Message, parsed: &Parsed, link: &Verified, now_ms: u64) -> Result<Message> {
        let pan_hash = self.pan_hash(&parsed.pan)?;
        let _card_lock = self.lock_card(&pan_hash);
        let mut new_hold = None;
        let answered = self.cards.db().transact(|tx| {
            new_hold = None;
            self.decide_and_journal(tx, request, parsed, link, &pan_hash, now_ms, &mut new_hold)
        });
        if answered.is_err()
            && self.money.is_separate()
            && let Some(hold) = new_hold
        {
            // A separate ledger committed the hold on its own: it must not outlive a request
            // that was not journaled and is answered 96 (nobody would reverse it).
            let released = self.money.void(transfer_id(TransferRole::Compensate, &parsed.key), hold);
            if !matches!(released, Ok(Moved::Done | Moved::AlreadyDone)) {
                tracing::error!(
                    "issuer: a hold could not be released after a failed journal write; it expires with its timeout"
                );
            }
        }
        answered
    }

    /// Checks 3–10 and the answer, in the request's transaction `tx`. `new_hold` is set to a
    /// hold this attempt created (a separate ledger's must be released if the journal fails).
    #[allow(clippy::too_many_arguments)]
    fn decide_and_journal(
        &self,
        tx: &mut Tx<'_>,
        request: &Message,
        parsed: &Parsed,
        link: &Verified,
        pan_hash: &[u8],
        now_ms: u64,
        new_hold: &mut Option<u128>,
    ) -> Result<Message> {
        // 3. A duplicate gets the answer it got the first time.
        if let Some(row) = store::journal_in(tx, &parsed.key)? {
            return self.replay(request, &row, &link.zak);
        }
        let card = self.find_card(tx, &parsed.pan, pan_hash)?;
        // An original arriving after its reversal: the acquirer gave it up, so it must not
        // hold funds now (the reversal found nothing to release; nobody would reverse again).
        // The card lock orders this against the reversal, which takes the same lock.
        if parsed.kind != TransactionKind::Reversal && store::reversal_of_in(tx, &parsed.key)?.is_some() {
            tracing::info!(mti = request.mti().as_str(), "issuer: original arrived after its reversal, declined");
            let decision = self.already_reversed(request, parsed, card.as_ref());
            return self.finish(tx, request, parsed, decision, link, now_ms);
        }
        let decision = match parsed.kind {
            TransactionKind::Reversal => self.reverse(tx, request, parsed, card.as_ref())?,
            kind if parsed.advice => {
                // The sender decided: 39 (approved when absent, as for a forced post).
                let decided = request.get_str(39).unwrap_or(codes::APPROVED);
                if !codes::is_approved(decided) || kind == TransactionKind::BalanceInquiry {
                    self.record_advice(request, card.as_ref(), decided)
                } else if kind.holds_funds() {
                    self.stand_in(tx, request, parsed, card.as_ref(), decided, now_ms)?
                } else {
                    let mut decision = self.follow_up(tx, parsed, card.as_ref())?;
                    // An advice is answered "received"; what it did is in the journal.
                    decision.answer = Some(codes::APPROVED);
                    decision
                }
            }
            TransactionKind::BalanceInquiry | TransactionKind::Purchase | TransactionKind::PreAuthorization => {
                self.authorize(tx, parsed, card.as_ref(), &link.keys, now_ms)?
            }
            _ => self.follow_up(tx, parsed, card.as_ref())?,
        };
        *new_hold = decision.new_hold;
        self.finish(tx, request, parsed, decision, link, now_ms)
    }

    /// The decision for an original whose reversal was answered before it arrived: a request
    /// is declined [`ALREADY_REVERSED`]; an advice (the sender decided) is answered received,
    /// with its decision journaled but nothing held. Either way the journal says why.
    fn already_reversed(&self, request: &Message, parsed: &Parsed, card: Option<&CardRecord>) -> Decision {
        let mut decision = if parsed.advice {
            let mut decision = Decision::new(request.get_str(39).unwrap_or(codes::APPROVED), card);
            decision.auth_code = request.get_str(38).map(str::to_owned);
            decision.answer = Some(codes::APPROVED);
            decision
        } else {
            Decision::new(ALREADY_REVERSED, card)
        };
        decision.state = EntryState::AlreadyReversed;
        decision
    }

    /// Completion, void and refund: they act on an original or credit the card, and skip the
    /// cardholder checks (4–10) except finding the card.
    fn follow_up(&self, tx: &mut Tx<'_>, parsed: &Parsed, card: Option<&CardRecord>) -> Result<Decision> {
        match parsed.kind {
            TransactionKind::Completion => self.complete(tx, parsed, card),
            TransactionKind::Void | TransactionKind::PreAuthorizationVoid => self.void(tx, parsed, card),
            TransactionKind::Refund => self.refund(tx, parsed, card),
            TransactionKind::CompletionVoid => self.void_completion(tx, parsed, card),
            _ => Ok(Decision::new(codes::INVALID_TRANSACTION, card)),
        }
    }

    /// Step 4's lookup: the card whose keyed PAN hash matches, if the PAN is a valid number.
    fn find_card(&self, tx: &mut Tx<'_>, pan: &str, pan_hash: &[u8]) -> Result<Option<CardRecord>> {
        if !(12..=19).contains(&pan.len()) || !hsm::card::luhn_valid(pan) {
            return Ok(None);
        }
        store::card_by_hash_in(tx, pan_hash)
    }

    /// The response to a duplicate: the journaled one, if the duplicate is the same request
    /// (or its repeat); 94 if the key was used by a different message. MAC'd again with `zak`,
    /// the key that verified the repeat: the ZAK may have changed since the first answer (under
    /// an unchanged key the bytes are the same).
    fn replay(&self, request: &Message, row: &JournalRow, zak: &WrappedKey) -> Result<Message> {
        if base_mti(request.mti().as_str()) != base_mti(&row.mti) {
            return self.response(request, codes::DUPLICATE, None, None, None, zak);
        }
        let body = self.hsm.decrypt_data(&self.settings.keys.dek, &row.response_sealed)?;
        let mut response = iso8583::decode(&self.spec, body.expose())
            .map_err(|e| IssuerError::Internal(format!("journaled response does not decode: {e}")))?;
        network::mac::sign(&*self.hsm, zak, &mut response)
            .map_err(|e| IssuerError::Internal(format!("response MAC: {e}")))?;
        Ok(response)
    }

    /// A signed response with only the echo fields, 7 and 39: for answers that are not
    /// journaled (MAC and format errors, failures). `None` only if even that cannot be built.
    fn answer_plain(&self, request: &Message, code: &str, zak: &WrappedKey) -> Option<Message> {
        self.response(request, code, None, None, None, zak).ok()
    }

    fn response(
        &self,
        request: &Message,
        code: &str,
        auth_code: Option<&str>,
        field54: Option<&str>,
        field55: Option<&[u8]>,
        zak: &WrappedKey,
    ) -> Result<Message> {
        let codec = |e: iso8583::Error| IssuerError::Internal(format!("response: {e}"));
        let mut response = request.response(&ECHO_FIELDS).map_err(codec)?;
        response.set_str(7, &network::transmission_time(self.now_ms())).map_err(codec)?;
        if codes::is_approved(code)
            && let Some(auth_code) = auth_code
        {
            response.set_str(38, auth_code).map_err(codec)?;
        }
        response.set_str(39, code).map_err(codec)?;
        if let Some(value) = field54 {
            response.set_str(54, value).map_err(codec)?;
        }
        if let Some(value) = field55 {
            response.set(55, value).map_err(codec)?;
        }
        network::mac::sign(&*self.hsm, zak, &mut response)
            .map_err(|e| IssuerError::Internal(format!("response MAC: {e}")))?;
        Ok(response)
    }

    /// Answer a decision: build and sign the response, seal it, and journal it with the
    /// decision's side effects in the request's transaction `tx` (the caller returns the
    /// response only after that commit).
    fn finish(
        &self,
        tx: &mut Tx<'_>,
        request: &Message,
        parsed: &Parsed,
        decision: Decision,
        link: &Verified,
        now_ms: u64,
    ) -> Result<Message> {
        let answer = decision.answer.unwrap_or(decision.code.as_str());
        let field54 = match decision.balance {
            Some(balance) if codes::is_approved(answer) => Some(self.field54(request, balance)?),
            _ => None,
        };
        let field55 = match &decision.arpc_for {
            Some(chip) => Some(self.issuer_authentication(tx, &parsed.pan, decision.card_id, chip, answer)?),
            None => None,
        };
        let response = self.response(
            request,
            answer,
            decision.auth_code.as_deref(),
            field54.as_deref(),
            field55.as_deref(),
            &link.zak,
        )?;
        let body = response.encode().map_err(|e| IssuerError::Internal(format!("response: {e}")))?;
        let sealed = self.hsm.encrypt_data(&self.settings.keys.dek, &body)?;
        let row = JournalRow {
            key: parsed.key.clone(),
            mti: request.mti().as_str().to_owned(),
            kind: parsed.kind.name().to_owned(),
            card_id: decision.card_id,
            amount: parsed.amount,
            currency: request.get_str(49).unwrap_or(&self.settings.currency).to_owned(),
            // Codes are the issuer's own or a request's 39, which `request::parse` checked.
            response_code: ResponseCode::new(&decision.code)
                .map_err(|e| IssuerError::Internal(format!("the decision's code: {e}")))?,
            auth_code: decision.auth_code.clone(),
            transfer_id: decision.transfer_id,
            state: decision.state,
            rrn: parsed.rrn,
            business_day: self.business_day(now_ms),
            original_key: parsed.original_key.clone(),
            refunded_amount: 0,
            response_sealed: sealed,
        };
        let write = JournalWrite {
            row,
            card: decision.card_id.zip(decision.card_change),
            usage: decision.card_id.zip(decision.usage).map(|(card, (day, amount, count))| (card, day, amount, count)),
            original: decision.original.clone(),
            further: decision.further.clone(),
            place: parsed.terminal.zip(parsed.merchant).map(|(t, m)| (t.to_string(), m.to_string())),
            risk_card: self.risk_card(parsed),
        };
        store::commit_in(tx, &write, i64::try_from(now_ms).unwrap_or(i64::MAX))?;
        Ok(response)
    }

    fn field54(&self, request: &Message, balance: Balance) -> Result<String> {
        let account_type = request.get_str(3).and_then(|p| p.get(2..4)).unwrap_or("00").to_owned();
        let set = |amount_type: &str, amount_minor: i64| AdditionalAmount {
            account_type: account_type.clone(),
            amount_type: amount_type.to_owned(),
            currency: self.settings.currency.clone(),
            amount_minor,
        };
        network::balance::field54(&[
            set(LEDGER_BALANCE, balance.ledger_minor),
            set(AVAILABLE_BALANCE, balance.available_minor),
        ])
        .map_err(|e| IssuerError::Internal(format!("field 54: {e}")))
    }

    /// Field 55 of the response: tag 91 = ARPC (method 1, ARC = the answer's two ASCII
    /// characters) ‖ ARC.
    fn issuer_authentication(
        &self,
        tx: &mut Tx<'_>,
        pan: &str,
        card_id: Option<i64>,
        chip: &network::emv::ChipData,
        code: &str,
    ) -> Result<Vec<u8>> {
        let card = match card_id {
            Some(card_id) => store::card_by_id_in(tx, card_id)?.ok_or(IssuerError::UnknownCard)?,
            None => return Err(IssuerError::UnknownCard),
        };
        let arc = network::emv::arc(code);
        let arpc = self.hsm.generate_arpc(
            &self.settings.keys.imk_ac,
            &self.arqc_request(pan, &card, chip),
            ArpcMethod::Method1 { arc },
        )?;
        let value = network::emv::issuer_authentication_data(&arpc, arc);
        let mut tlv = Vec::with_capacity(value.len() + 2);
        iso8583::tlv::write_element(&TAG_ISSUER_AUTHENTICATION_DATA, &value, &mut tlv);
        Ok(tlv)
    }

    fn arqc_request<'a>(
        &self,
        pan: &'a str,
        card: &'a CardRecord,
        chip: &'a network::emv::ChipData,
    ) -> ArqcRequest<'a> {
        ArqcRequest {
            scheme: hsm::emv::Scheme::Common,
            pan,
            psn: &card.card_sequence,
            atc: &chip.atc,
            un: None,
            data: &chip.data,
            arqc: &chip.arqc,
        }
    }
}

pub(crate) fn amount_i64(amount: u64) -> i64 {
    i64::try_from(amount).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approval_codes_are_six_digits_and_stable() {
        let code = approval_code("2025:000001:0315063023:10000000344:90000000001");
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(code, approval_code("2025:000001:0315063023:10000000344:90000000001"));
    }

    #[test]
    fn expiry_months_compare_in_order() {
        assert!(yymm_months("2812").unwrap() > yymm_months("2801").unwrap());
        assert_eq!(yymm_months("2513"), None);
        assert_eq!(yymm_months("25"), None);
    }
}
