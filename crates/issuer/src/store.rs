//! The issuer's own database (through `sqlstore`, SQLite or PostgreSQL): cards, the
//! authorization journal, daily usage and fundings (and, in [`crate::linkkeys`], the link's
//! working keys and key changes). The ledger's tables are in the same database
//! ([`crate::money`]); a request's reads and writes take its transaction (`*_in(tx, …)`), the
//! `CardStore` methods a transaction of their own.
//!
//! What is stored of a card is what authorization needs and nothing that would let a reader
//! use the card: the PAN encrypted under the DEK (authenticated), its keyed hash (the unique
//! lookup key), the masked PAN for people, the PVV or IBM 3624 offset (not the PIN), no CVV at all (it is
//! recomputed under the CVK). Stored responses carry the PAN (field 2 is echoed), so they are
//! sealed under the DEK too.

use std::fmt;

use domain::{ResponseCode, Rrn};
use sqlstore::{Database, Row, Tx, Value};

use crate::config::{PinMethod, ProductKind};
use crate::error::{IssuerError, Result};

const MIGRATION: &str = "issuer-1";
/// Cards verified by an IBM 3624 offset: how each card's PIN is verified (its `pvv` column
/// holds the PVV or the offset). Cards from before it are PVV cards.
const MIGRATION_PIN_METHOD: &str = "issuer-2-pin-method";
/// What the risk engine needs to rebuild its windows when the issuer starts: the card's keyed
/// hash under the engine's key (never the number; only while the engine runs), and the
/// terminal and the merchant (41, 42; always, for the day's reports too).
const MIGRATION_RISK: &str = "issuer-5-risk";
const SCHEMA_RISK: [&str; 3] = [
    "ALTER TABLE issuer_authorizations ADD COLUMN risk_card BIGINT",
    "ALTER TABLE issuer_authorizations ADD COLUMN terminal_id TEXT",
    "ALTER TABLE issuer_authorizations ADD COLUMN merchant_id TEXT",
];
/// The index a late original looks up its reversal by holds only the rows that name an
/// original (reversals, follow-ups): a purchase — most of the journal — no longer adds an
/// entry. `original_key = $1` implies `IS NOT NULL`, so the lookup still uses it (SQLite and
/// PostgreSQL alike).
const MIGRATION_ORIGINAL_PARTIAL: &str = "issuer-6-original-partial";
const SCHEMA_ORIGINAL_PARTIAL: [&str; 2] = [
    "DROP INDEX issuer_authorizations_original",
    "CREATE INDEX issuer_authorizations_original ON issuer_authorizations (original_key) \
     WHERE original_key IS NOT NULL",
];
/// The same index, ordered as the lookup of a reversal that came before its original reads it
/// (`reversal_of_in`: by creation, then key): before, every purchase's lookup — almost always
/// of nothing — set up a sorter for its `ORDER BY` (SQLite's "temp B-tree").
const MIGRATION_ORIGINAL_ORDERED: &str = "issuer-7-original-ordered";
const SCHEMA_ORIGINAL_ORDERED: [&str; 2] = [
    "DROP INDEX issuer_authorizations_original",
    "CREATE INDEX issuer_authorizations_original ON issuer_authorizations (original_key, created_ms, request_key) \
     WHERE original_key IS NOT NULL",
];
/// The cards keyed by SQLite's rowid in a database made before `sqlstore` wrote `BIGINT PRIMARY
/// KEY` so (`Database::migrate_rowid_keys`; nothing on PostgreSQL).
const MIGRATION_ROWID_KEYS: &str = "issuer-3-rowid-keys";
const SCHEMA_PIN_METHOD: [&str; 1] = ["ALTER TABLE issuer_cards ADD COLUMN pin_method TEXT NOT NULL DEFAULT 'pvv'"];

const SCHEMA: [&str; 6] = [
    "CREATE TABLE issuer_cards (
        card_id BIGINT PRIMARY KEY,
        pan_hash BLOB NOT NULL UNIQUE,
        pan_sealed BLOB NOT NULL,
        pan_masked TEXT NOT NULL,
        expiry TEXT NOT NULL,
        product TEXT NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        pvki BIGINT NOT NULL,
        pvv TEXT NOT NULL,
        service_code TEXT NOT NULL,
        card_sequence TEXT NOT NULL,
        atc_max BIGINT NOT NULL,
        pin_tries BIGINT NOT NULL,
        pin_required BIGINT NOT NULL,
        daily_amount_limit BIGINT NOT NULL,
        daily_count_limit BIGINT NOT NULL,
        account_id BLOB NOT NULL,
        created_ms BIGINT NOT NULL,
        updated_ms BIGINT NOT NULL
    )",
    // One row per request answered (replayed to a duplicate), keyed by what identifies the
    // request of one sender: year, 11, 7, 32, 33 (see `request::RequestKey`).
    "CREATE TABLE issuer_authorizations (
        request_key TEXT PRIMARY KEY,
        mti TEXT NOT NULL,
        kind TEXT NOT NULL,
        card_id BIGINT,
        amount BIGINT NOT NULL,
        currency TEXT NOT NULL,
        response_code TEXT NOT NULL,
        auth_code TEXT,
        transfer_id BLOB,
        state TEXT NOT NULL,
        rrn TEXT,
        business_day BIGINT NOT NULL,
        original_key TEXT,
        refunded_amount BIGINT NOT NULL,
        response BLOB NOT NULL,
        created_ms BIGINT NOT NULL,
        updated_ms BIGINT NOT NULL
    )",
    "CREATE INDEX issuer_authorizations_card ON issuer_authorizations (card_id, business_day)",
    "CREATE TABLE issuer_daily_usage (
        card_id BIGINT NOT NULL,
        business_day BIGINT NOT NULL,
        amount BIGINT NOT NULL,
        count BIGINT NOT NULL,
        PRIMARY KEY (card_id, business_day)
    )",
    // Money put on a card by the issuer itself (opening balance, top-up, credit line): written
    // here before the ledger transfer, marked done after, so a crash in between is finished on
    // the next start (the transfer id is derived from the funding id: idempotent).
    "CREATE TABLE issuer_fundings (
        funding_id BIGINT PRIMARY KEY,
        card_id BIGINT NOT NULL,
        kind TEXT NOT NULL,
        amount BIGINT NOT NULL,
        state TEXT NOT NULL,
        created_ms BIGINT NOT NULL
    )",
    "CREATE INDEX issuer_fundings_state ON issuer_fundings (state)",
];

/// A card's life-cycle status (step 5 of the checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardStatus {
    Active,
    Lost,
    Stolen,
    /// Blocked by the issuer (answer 62).
    Blocked,
    /// Marked expired by the issuer (answer 54), whatever the date says.
    Expired,
}

impl CardStatus {
    pub const ALL: [CardStatus; 5] =
        [CardStatus::Active, CardStatus::Lost, CardStatus::Stolen, CardStatus::Blocked, CardStatus::Expired];

    pub fn name(self) -> &'static str {
        match self {
            CardStatus::Active => "active",
            CardStatus::Lost => "lost",
            CardStatus::Stolen => "stolen",
            CardStatus::Blocked => "blocked",
            CardStatus::Expired => "expired",
        }
    }

    pub fn from_name(name: &str) -> Option<CardStatus> {
        CardStatus::ALL.into_iter().find(|status| status.name() == name)
    }
}

impl fmt::Display for CardStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a journaled transaction's money stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryState {
    /// Declined, or nothing to move (balance inquiry, advice of a decline): no money.
    Declined,
    /// A pending hold on the card account (purchase, pre-authorization, stand-in approval).
    Held,
    /// Posted: a completed pre-authorization (on both the pre-auth and the completion), or a
    /// partly reversed hold.
    Posted,
    /// A hold released by a void or a reversal.
    Voided,
    /// A refund credited to the card.
    Refunded,
    /// A completion or refund undone by a reversal.
    Reversed,
    /// Recorded, nothing to move: balance inquiries, voids and reversals themselves, advices.
    Recorded,
    /// An original that arrived after its own reversal: declined (05; an advice is answered
    /// received) and nothing held — the acquirer has already given it up.
    AlreadyReversed,
    /// A hold the ledger released on its timeout, never cleared (crate::expiry).
    Expired,
}

impl EntryState {
    pub fn name(self) -> &'static str {
        match self {
            EntryState::Declined => "declined",
            EntryState::Held => "held",
            EntryState::Posted => "posted",
            EntryState::Voided => "voided",
            EntryState::Refunded => "refunded",
            EntryState::Reversed => "reversed",
            EntryState::Recorded => "recorded",
            EntryState::AlreadyReversed => "already_reversed",
            EntryState::Expired => "expired",
        }
    }

    pub fn from_name(name: &str) -> Option<EntryState> {
        [
            EntryState::Declined,
            EntryState::Held,
            EntryState::Posted,
            EntryState::Voided,
            EntryState::Refunded,
            EntryState::Reversed,
            EntryState::Recorded,
            EntryState::AlreadyReversed,
            EntryState::Expired,
        ]
        .into_iter()
        .find(|state| state.name() == name)
    }
}

/// A card as stored.
#[derive(Clone)]
pub(crate) struct CardRecord {
    pub card_id: i64,
    pub pan_hash: Vec<u8>,
    pub pan_masked: String,
    /// `YYMM`.
    pub expiry: String,
    pub product: String,
    pub kind: ProductKind,
    pub status: CardStatus,
    pub pvki: u8,
    /// The PVV, or the IBM 3624 offset ([`CardRecord::pin_method`]).
    pub pvv: String,
    pub pin_method: PinMethod,
    /// Two digits: the EMV PAN sequence number (5F34); field 23 carries it as `0` + these.
    pub card_sequence: String,
    /// The highest application transaction counter (9F36) seen in a verified ARQC; -1 before
    /// the first. A cryptogram with an ATC at or below it is a replay.
    pub atc_max: i64,
    pub pin_tries: u32,
    pub pin_required: bool,
    pub daily_amount_limit: u64,
    pub daily_count_limit: u32,
    pub account_id: u128,
}

/// Only masked and non-secret fields.
impl fmt::Debug for CardRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardRecord")
            .field("card_id", &self.card_id)
            .field("pan", &self.pan_masked)
            .field("product", &self.product)
            .field("status", &self.status)
            .field("pin_tries", &self.pin_tries)
            .finish_non_exhaustive()
    }
}

const CARD_COLUMNS: &str = "card_id, pan_hash, pan_sealed, pan_masked, expiry, product, kind, status, pvki, pvv, \
     service_code, card_sequence, atc_max, pin_tries, pin_required, daily_amount_limit, daily_count_limit, \
     account_id, pin_method, created_ms";

/// What reads of a card select (the encrypted PAN is never needed to authorize: the PAN comes
/// with the request).
const CARD_SELECT: &str = "card_id, pan_hash, pan_masked, expiry, product, kind, status, pvki, pvv, card_sequence, \
     atc_max, pin_tries, pin_required, daily_amount_limit, daily_count_limit, account_id, pin_method";

fn bad_row(what: &str) -> IssuerError {
    IssuerError::Database(sqlstore::Error::new("read row", format!("{what} is not a value this build writes")))
}

fn card_from_row(row: &Row) -> Result<CardRecord> {
    let kind = ProductKind::from_name(&row.text(5)?).ok_or_else(|| bad_row("card kind"))?;
    let status = CardStatus::from_name(&row.text(6)?).ok_or_else(|| bad_row("card status"))?;
    Ok(CardRecord {
        card_id: row.i64(0)?,
        pan_hash: row.blob(1)?,
        pan_masked: row.text(2)?,
        expiry: row.text(3)?,
        product: row.text(4)?,
        kind,
        status,
        pvki: u8::try_from(row.i64(7)?).map_err(|_| bad_row("PVKI"))?,
        pvv: row.text(8)?,
        card_sequence: row.text(9)?,
        atc_max: row.i64(10)?,
        pin_tries: u32::try_from(row.i64(11)?).map_err(|_| bad_row("PIN tries"))?,
        pin_required: row.i64(12)? != 0,
        daily_amount_limit: row.u64(13)?,
        daily_count_limit: u32::try_from(row.i64(14)?).map_err(|_| bad_row("daily count limit"))?,
        account_id: id_from_blob(&row.blob(15)?).ok_or_else(|| bad_row("account id"))?,
        pin_method: PinMethod::from_name(&row.text(16)?).ok_or_else(|| bad_row("PIN method"))?,
    })
}

pub(crate) fn id_blob(id: u128) -> Value {
    Value::Blob(id.to_be_bytes().to_vec())
}

pub(crate) fn id_from_blob(bytes: &[u8]) -> Option<u128> {
    Some(u128::from_be_bytes(bytes.try_into().ok()?))
}

/// An amount for a BIGINT column (amounts are bounded far below `i64::MAX`).
pub(crate) fn int(value: u64) -> Value {
    Value::Int(i64::try_from(value).unwrap_or(i64::MAX))
}

/// A card to store (its id is assigned by [`CardStore::insert_card`]).
pub(crate) struct NewCard {
    pub pan_hash: Vec<u8>,
    pub pan_sealed: Vec<u8>,
    pub pan_masked: String,
    pub expiry: String,
    pub product: String,
    pub kind: ProductKind,
    pub pvki: u8,
    pub pvv: String,
    pub pin_method: PinMethod,
    pub service_code: String,
    pub card_sequence: String,
    pub pin_required: bool,
    pub daily_amount_limit: u64,
    pub daily_count_limit: u32,
    pub account_id: u128,
}

/// One journaled request.
#[derive(Clone)]
pub(crate) struct JournalRow {
    pub key: String,
    pub mti: String,
    pub kind: String,
    pub card_id: Option<i64>,
    pub amount: u64,
    pub currency: String,
    pub response_code: ResponseCode,
    pub auth_code: Option<String>,
    pub transfer_id: Option<u128>,
    pub state: EntryState,
    pub rrn: Option<Rrn>,
    pub business_day: i64,
    pub original_key: Option<String>,
    pub refunded_amount: u64,
    /// The response as sent, sealed under the DEK (it echoes the PAN).
    pub response_sealed: Vec<u8>,
}

impl fmt::Debug for JournalRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JournalRow")
            .field("key", &self.key)
            .field("mti", &self.mti)
            .field("kind", &self.kind)
            .field("card_id", &self.card_id)
            .field("amount", &self.amount)
            .field("response_code", &self.response_code)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

pub(crate) const JOURNAL_COLUMNS: &str = "request_key, mti, kind, card_id, amount, currency, response_code, auth_code, \
     transfer_id, state, rrn, business_day, original_key, refunded_amount, response";

pub(crate) fn journal_from_row(row: &Row) -> Result<JournalRow> {
    let transfer_id = match row.opt_blob(8)? {
        Some(bytes) => Some(id_from_blob(&bytes).ok_or_else(|| bad_row("transfer id"))?),
        None => None,
    };
    Ok(JournalRow {
        key: row.text(0)?,
        mti: row.text(1)?,
        kind: row.text(2)?,
        card_id: row.opt_i64(3)?,
        amount: row.u64(4)?,
        currency: row.text(5)?,
        response_code: row.parsed(6, "response_code")?,
        auth_code: row.opt_text(7)?,
        transfer_id,
        state: EntryState::from_name(&row.text(9)?).ok_or_else(|| bad_row("journal state"))?,
        rrn: row.opt_parsed(10, "rrn")?,
        business_day: row.i64(11)?,
        original_key: row.opt_text(12)?,
        refunded_amount: row.u64(13)?,
        response_sealed: row.blob(14)?,
    })
}

/// Changes to a card made by a request (written with its journal row).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CardChange {
    pub pin_tries: Option<u32>,
    pub atc_max: Option<i64>,
}

/// Everything one request writes, in one transaction: nothing of it is visible (or durable)
/// unless all of it is.
#[derive(Debug)]
pub(crate) struct JournalWrite {
    pub row: JournalRow,
    pub card: Option<(i64, CardChange)>,
    /// (card, business day, amount, count) added to the daily usage (negative to give back).
    pub usage: Option<(i64, i64, i64, i64)>,
    /// The original this request changed: its key, new state, refunded amount added.
    pub original: Option<(String, Option<EntryState>, u64)>,
    /// A further row it changed: the original's own original (crate::reversal).
    pub further: Option<Restore>,
    /// Where the request was made (41, 42), when it names it, for the engine's windows and
    /// the day's reports.
    pub place: Option<(String, String)>,
    /// The risk engine's keyed hash of the card, when the engine runs and the request holds funds.
    pub risk_card: Option<u64>,
}

/// One journaled authorization the risk engine saw, for rebuilding its windows.
#[derive(Debug, Clone)]
pub struct RiskRow {
    pub risk_card: u64,
    pub terminal_id: String,
    pub merchant_id: String,
    pub kind: String,
    pub amount: u64,
    pub response_code: String,
    pub created_ms: u64,
}

/// The authorizations of the journal's last `window_ms` (before its newest) that carry a risk
/// card key, oldest first, at most `limit`.
pub(crate) fn risk_rows(db: &Database, window_ms: u64, limit: u64) -> Result<Vec<RiskRow>> {
    let rows = db.transaction(|tx| {
        let newest = tx.query_opt("SELECT MAX(created_ms) FROM issuer_authorizations", &[])?;
        let newest_ms = match newest {
            Some(row) => row.opt_i64(0)?.unwrap_or(0),
            None => 0,
        };
        let since_ms = newest_ms.saturating_sub(i64::try_from(window_ms).unwrap_or(i64::MAX));
        tx.query(
            "SELECT risk_card, terminal_id, merchant_id, kind, amount, response_code, created_ms \
             FROM issuer_authorizations WHERE risk_card IS NOT NULL AND created_ms >= $1 \
             ORDER BY created_ms, request_key LIMIT $2",
            &[since_ms.into(), i64::try_from(limit).unwrap_or(i64::MAX).into()],
        )
    })?;
    let read = |row: &sqlstore::Row| -> sqlstore::Result<RiskRow> {
        Ok(RiskRow {
            risk_card: row.i64(0)? as u64,
            terminal_id: row.text(1)?,
            merchant_id: row.text(2)?,
            kind: row.text(3)?,
            amount: row.u64(4)?,
            response_code: row.text(5)?,
            created_ms: row.u64(6)?,
        })
    };
    Ok(rows.iter().map(read).collect::<sqlstore::Result<Vec<_>>>()?)
}

/// A change to a journal row other than the request's own original: a reversed void puts its
/// original back on hold under a new transfer; a reversed refund or completion void gives back
/// what it counted against its original.
#[derive(Debug, Clone)]
pub(crate) struct Restore {
    pub key: String,
    pub state: EntryState,
    pub transfer_id: Option<u128>,
    /// Added to the row's refunded amount (negative: given back).
    pub refunded_delta: i64,
}

/// A funding row: money the issuer put on a card.
#[derive(Debug, Clone)]
pub(crate) struct Funding {
    pub funding_id: i64,
    pub card_id: i64,
    pub kind: String,
    pub amount: u64,
}

#[derive(Clone)]
pub(crate) struct CardStore {
    db: Database,
}

impl CardStore {
    pub fn open(url: &str) -> Result<CardStore> {
        let db = Database::open(url)?;
        db.migrate(MIGRATION, &SCHEMA)?;
        db.migrate(crate::linkkeys::MIGRATION, &crate::linkkeys::DDL)?;
        db.migrate(MIGRATION_PIN_METHOD, &SCHEMA_PIN_METHOD)?;
        db.migrate(crate::posting_store::MIGRATION, &crate::posting_store::DDL)?;
        db.migrate_rowid_keys(MIGRATION_ROWID_KEYS, &["issuer_cards"])?;
        db.migrate(MIGRATION_RISK, &SCHEMA_RISK)?;
        db.migrate(MIGRATION_ORIGINAL_PARTIAL, &SCHEMA_ORIGINAL_PARTIAL)?;
        db.migrate(MIGRATION_ORIGINAL_ORDERED, &SCHEMA_ORIGINAL_ORDERED)?;
        Ok(CardStore { db })
    }

    /// The database itself, for the link keys ([`crate::linkkeys`]) kept beside the cards.
    pub fn db(&self) -> &Database {
        &self.db
    }

    pub fn card_by_hash(&self, pan_hash: &[u8]) -> Result<Option<CardRecord>> {
        self.db.transact(|tx| card_by_hash_in(tx, pan_hash))
    }

    pub fn card_by_id(&self, card_id: i64) -> Result<Option<CardRecord>> {
        self.db.transact(|tx| card_by_id_in(tx, card_id))
    }

    /// Cards in id order, at most `limit`.
    pub fn cards(&self, limit: usize) -> Result<Vec<CardRecord>> {
        let sql = format!("SELECT {CARD_SELECT} FROM issuer_cards ORDER BY card_id LIMIT $1");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.db.transaction(|tx| tx.query(&sql, &[limit.into()]))?;
        rows.iter().map(card_from_row).collect()
    }

    /// Store a new card under the next id. `Ok(None)` when its PAN hash is taken (the caller
    /// draws another PAN).
    pub fn insert_card(&self, card: &NewCard, now_ms: i64) -> Result<Option<i64>> {
        let result = self.db.transaction(|tx| {
            let next = tx.query_opt("SELECT COALESCE(MAX(card_id), 0) + 1 FROM issuer_cards", &[])?;
            let card_id = next.map(|row| row.i64(0)).transpose()?.unwrap_or(1);
            tx.execute(
                &format!(
                    "INSERT INTO issuer_cards ({CARD_COLUMNS}, updated_ms) VALUES \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
                ),
                &[
                    card_id.into(),
                    card.pan_hash.clone().into(),
                    card.pan_sealed.clone().into(),
                    card.pan_masked.as_str().into(),
                    card.expiry.as_str().into(),
                    card.product.as_str().into(),
                    card.kind.name().into(),
                    CardStatus::Active.name().into(),
                    card.pvki.into(),
                    card.pvv.as_str().into(),
                    card.service_code.as_str().into(),
                    card.card_sequence.as_str().into(),
                    Value::Int(-1),
                    Value::Int(0),
                    card.pin_required.into(),
                    int(card.daily_amount_limit),
                    card.daily_count_limit.into(),
                    id_blob(card.account_id),
                    card.pin_method.name().into(),
                    now_ms.into(),
                    now_ms.into(),
                ],
            )?;
            Ok(card_id)
        });
        match result {
            Ok(card_id) => Ok(Some(card_id)),
            Err(error) if error.is_unique_violation() => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Set a card's status; `reset_pin_tries` also clears the wrong-PIN counter (an unblock).
    pub fn set_status(&self, card_id: i64, status: CardStatus, reset_pin_tries: bool, now_ms: i64) -> Result<bool> {
        let changed = self.db.transaction(|tx| {
            let sql = if reset_pin_tries {
                "UPDATE issuer_cards SET status = $1, pin_tries = 0, updated_ms = $2 WHERE card_id = $3"
            } else {
                "UPDATE issuer_cards SET status = $1, updated_ms = $2 WHERE card_id = $3"
            };
            tx.execute(sql, &[status.name().into(), now_ms.into(), card_id.into()])
        })?;
        Ok(changed == 1)
    }

    pub fn journal(&self, key: &str) -> Result<Option<JournalRow>> {
        self.db.transact(|tx| journal_in(tx, key))
    }

    /// Journal rows of a card, oldest first (operators and tests).
    pub fn journal_of_card(&self, card_id: i64, limit: usize) -> Result<Vec<JournalRow>> {
        let sql = format!(
            "SELECT {JOURNAL_COLUMNS} FROM issuer_authorizations WHERE card_id = $1 ORDER BY created_ms, request_key LIMIT $2"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.db.transaction(|tx| tx.query(&sql, &[card_id.into(), limit.into()]))?;
        rows.iter().map(journal_from_row).collect()
    }

    /// Record a funding to make (state `pending`) under the next id.
    pub fn insert_funding(&self, card_id: i64, kind: &str, amount: u64, now_ms: i64) -> Result<Funding> {
        let funding_id = self.db.transaction(|tx| {
            let next = tx.query_opt("SELECT COALESCE(MAX(funding_id), 0) + 1 FROM issuer_fundings", &[])?;
            let funding_id = next.map(|row| row.i64(0)).transpose()?.unwrap_or(1);
            tx.execute(
                "INSERT INTO issuer_fundings (funding_id, card_id, kind, amount, state, created_ms) \
                 VALUES ($1, $2, $3, $4, 'pending', $5)",
                &[funding_id.into(), card_id.into(), kind.into(), int(amount), now_ms.into()],
            )?;
            Ok(funding_id)
        })?;
        Ok(Funding { funding_id, card_id, kind: kind.to_owned(), amount })
    }

    pub fn funding_done(&self, funding_id: i64) -> Result<()> {
        self.db.transaction(|tx| {
            tx.execute("UPDATE issuer_fundings SET state = 'done' WHERE funding_id = $1", &[funding_id.into()])
        })?;
        Ok(())
    }

    /// Fundings a crash left between the two writes, oldest first.
    pub fn pending_fundings(&self, limit: usize) -> Result<Vec<Funding>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.db.transaction(|tx| {
            tx.query(
                "SELECT funding_id, card_id, kind, amount FROM issuer_fundings WHERE state = 'pending' \
                 ORDER BY funding_id LIMIT $1",
                &[limit.into()],
            )
        })?;
        rows.iter()
            .map(|row| {
                Ok(Funding { funding_id: row.i64(0)?, card_id: row.i64(1)?, kind: row.text(2)?, amount: row.u64(3)? })
            })
            .collect()
    }
}

/// The key of an honoured (00) reversal that named `original_key` as its original, if one was
/// answered (a reversal that came before its original). A refused one (12) leaves the original
/// free to arrive.
pub(crate) fn reversal_of_in(tx: &mut Tx<'_>, original_key: &str) -> Result<Option<String>> {
    let row = tx.query_opt(
        "SELECT request_key FROM issuer_authorizations WHERE original_key = $1 AND kind = $2 \
         AND response_code = $3 ORDER BY created_ms, request_key LIMIT 1",
        &[original_key.into(), network::TransactionKind::Reversal.name().into(), network::codes::APPROVED.into()],
    )?;
    row.map(|row| row.text(0)).transpose().map_err(IssuerError::from)
}

pub(crate) fn card_by_hash_in(tx: &mut Tx<'_>, pan_hash: &[u8]) -> Result<Option<CardRecord>> {
    // Made once: every request runs it.
    static SQL: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("SELECT {CARD_SELECT} FROM issuer_cards WHERE pan_hash = $1"));
    tx.query_opt(&SQL, &[pan_hash.into()])?.as_ref().map(card_from_row).transpose()
}

pub(crate) fn card_by_id_in(tx: &mut Tx<'_>, card_id: i64) -> Result<Option<CardRecord>> {
    let sql = format!("SELECT {CARD_SELECT} FROM issuer_cards WHERE card_id = $1");
    tx.query_opt(&sql, &[card_id.into()])?.as_ref().map(card_from_row).transpose()
}

pub(crate) fn journal_in(tx: &mut Tx<'_>, key: &str) -> Result<Option<JournalRow>> {
    // Made once: every request runs it (its duplicate check).
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("SELECT {JOURNAL_COLUMNS} FROM issuer_authorizations WHERE request_key = $1")
    });
    tx.query_opt(&SQL, &[key.into()])?.as_ref().map(journal_from_row).transpose()
}

/// Approved purchase and pre-authorization (amount, count) of a card on a business day.
pub(crate) fn usage_in(tx: &mut Tx<'_>, card_id: i64, business_day: i64) -> Result<(u64, u64)> {
    let row = tx.query_opt(
        "SELECT amount, count FROM issuer_daily_usage WHERE card_id = $1 AND business_day = $2",
        &[card_id.into(), business_day.into()],
    )?;
    match row {
        Some(row) => Ok((row.u64(0)?, row.u64(1)?)),
        None => Ok((0, 0)),
    }
}

/// Write one request's journal row and its side effects in the request's transaction `tx`
/// (with its ledger movement: nothing of it is durable unless all of it is).
pub(crate) fn commit_in(tx: &mut Tx<'_>, write: &JournalWrite, now_ms: i64) -> Result<()> {
    // Made once: every request runs it.
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "INSERT INTO issuer_authorizations ({JOURNAL_COLUMNS}, created_ms, updated_ms, risk_card, terminal_id, \
             merchant_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
             $19, $20)"
        )
    });
    let row = &write.row;
    tx.execute(
        &SQL,
        &[
            row.key.as_str().into(),
            row.mti.as_str().into(),
            row.kind.as_str().into(),
            row.card_id.into(),
            int(row.amount),
            row.currency.as_str().into(),
            row.response_code.as_str().into(),
            row.auth_code.clone().into(),
            row.transfer_id.map_or(Value::Null, id_blob),
            row.state.name().into(),
            row.rrn.as_ref().map(Rrn::as_str).into(),
            row.business_day.into(),
            row.original_key.clone().into(),
            int(row.refunded_amount),
            row.response_sealed.clone().into(),
            now_ms.into(),
            now_ms.into(),
            // The hash's bits as a signed 64-bit column (read back the same way).
            write.risk_card.map(|card| card as i64).into(),
            write.place.as_ref().map(|(terminal, _)| terminal.clone()).into(),
            write.place.as_ref().map(|(_, merchant)| merchant.clone()).into(),
        ],
    )?;
    if let Some((card_id, change)) = write.card {
        if let Some(tries) = change.pin_tries {
            tx.execute(
                "UPDATE issuer_cards SET pin_tries = $1, updated_ms = $2 WHERE card_id = $3",
                &[tries.into(), now_ms.into(), card_id.into()],
            )?;
        }
        if let Some(atc) = change.atc_max {
            // Only ever upward: the high-water mark of cryptograms seen.
            tx.execute(
                "UPDATE issuer_cards SET atc_max = $1, updated_ms = $2 WHERE card_id = $3 AND atc_max < $1",
                &[atc.into(), now_ms.into(), card_id.into()],
            )?;
        }
    }
    if let Some((card_id, day, amount, count)) = write.usage {
        let changed = tx.execute(
            "UPDATE issuer_daily_usage SET amount = amount + $1, count = count + $2 \
             WHERE card_id = $3 AND business_day = $4",
            &[amount.into(), count.into(), card_id.into(), day.into()],
        )?;
        if changed == 0 {
            tx.execute(
                "INSERT INTO issuer_daily_usage (card_id, business_day, amount, count) VALUES ($1, $2, $3, $4)",
                &[card_id.into(), day.into(), amount.max(0).into(), count.max(0).into()],
            )?;
        }
    }
    if let Some((key, state, refunded)) = &write.original {
        if let Some(state) = state {
            tx.execute(
                "UPDATE issuer_authorizations SET state = $1, updated_ms = $2 WHERE request_key = $3",
                &[state.name().into(), now_ms.into(), key.as_str().into()],
            )?;
        }
        if *refunded > 0 {
            tx.execute(
                "UPDATE issuer_authorizations SET refunded_amount = refunded_amount + $1, updated_ms = $2 \
                 WHERE request_key = $3",
                &[int(*refunded), now_ms.into(), key.as_str().into()],
            )?;
        }
    }
    if let Some(restore) = &write.further {
        tx.execute(
            "UPDATE issuer_authorizations SET state = $1, refunded_amount = refunded_amount + $2, \
             updated_ms = $3 WHERE request_key = $4",
            &[restore.state.name().into(), restore.refunded_delta.into(), now_ms.into(), restore.key.as_str().into()],
        )?;
        if let Some(id) = restore.transfer_id {
            tx.execute(
                "UPDATE issuer_authorizations SET transfer_id = $1 WHERE request_key = $2",
                &[id_blob(id), restore.key.as_str().into()],
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_purchase_has_no_entry_in_the_index_of_originals_and_the_reversals_lookup_still_uses_it() {
        let store = CardStore::open("sqlite::memory:").unwrap();
        let (plan, index) = store
            .db()
            .transaction(|tx| {
                let sql = "SELECT request_key FROM issuer_authorizations WHERE original_key = $1 AND kind = $2 \
                           AND response_code = $3 ORDER BY created_ms, request_key LIMIT 1";
                let rows = tx.query(
                    &format!("EXPLAIN QUERY PLAN {sql}"),
                    &["2026:000001:1205101010:1:2".into(), "reversal".into(), "00".into()],
                )?;
                let plan = rows.iter().map(|row| row.text(3)).collect::<sqlstore::Result<Vec<_>>>()?;
                let index = tx
                    .query("SELECT sql FROM sqlite_master WHERE name = 'issuer_authorizations_original'", &[])?[0]
                    .text(0)?;
                Ok((plan, index))
            })
            .unwrap();
        assert!(plan.iter().any(|step| step.contains("issuer_authorizations_original")), "{plan:?}");
        assert!(!plan.iter().any(|step| step.contains("TEMP B-TREE")), "no sorter: {plan:?}");
        assert!(index.contains("WHERE original_key IS NOT NULL"), "{index}");
    }
}
