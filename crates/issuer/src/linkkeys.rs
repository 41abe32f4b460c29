//! The working keys of the link to the switch, and the key change (0800/101) that replaces them.
//!
//! The switch initiates a key change (docs/network-spec.md §3, "Key change (0800/101)"): a
//! fresh ZPK or ZAK as a TR-31 key block under the link's ZMK in 48, which key in 53, its check
//! value in 96, a MAC under the switch's current ZAK in 128. The issuer:
//!
//! 1. checks the MAC with its current ZAK, or the one it replaced within `key_grace_ms` (A0);
//! 2. reads the layout (30);
//! 3. imports the block under `keys.switch_zmk` and compares the check value with 96; a block
//!    that does not open, a key of another algorithm than the one it replaces, a check value
//!    that differs, or a key the link has used before (an old 0800/101 replayed) is refused
//!    with 96 and the old key stays;
//! 4. stores the new key (under the LMK, with its check value) and retires the old one in one
//!    durable transaction, with the key change journaled (check values only) — only then
//! 5. uses it, and answers 00 with the check value of the key it took in 96.
//!
//! The 0810 is MAC'd with the ZAK that verified the 0800 — the old ZAK on a ZAK change — as is
//! every response: a request is answered under the key it came with, so the switch, which
//! switches over only when the 0810 says 00, can always check the answer.
//!
//! The replaced key stays usable for `key_grace_ms` after the change: messages the switch sent
//! before it heard the 0810 (MAC'd with the old ZAK, PIN blocks under the old ZPK) still verify.
//! After the grace they are refused (A0; a PIN block under the old ZPK does not verify).
//!
//! A *repeat* — the key the issuer already uses, offered again because the switch never got the
//! 0810 — is answered 00 again without changing anything, and is accepted under the previous ZAK
//! even after the grace: otherwise a lost 0810 of a ZAK change would leave the link with two
//! different ZAKs and no way back. It changes nothing, so a replayed repeat is harmless.
//!
//! On start the newest stored key of each kind wins over the configuration's (which is only the
//! initial key), and the one it replaced is kept for the rest of its grace.

use std::fmt;
use std::sync::{Mutex, RwLock};

use domain::ResponseCode;
use hsm::{KeyType, WrappedKey};
use iso8583::Message;
use network::codes;
use sqlstore::{Database, Row, Value};
use transport::netmgmt::{self, WorkingKey};

use crate::config::Settings;
use crate::error::{IssuerError, Result};
use crate::issuer::Issuer;
use crate::limits::KEY_CHANGES_LIST_MAX;

/// The migration that adds link keys and the key change journal.
pub(crate) const MIGRATION: &str = "issuer-2";

pub(crate) const DDL: [&str; 4] = [
    // The working keys of the link since its first key change: the row without `retired_ms` is
    // in use, the one retired when it came is the previous key (accepted until `retired_ms` +
    // the grace); older keys are deleted. TR-31 blocks under the LMK; no clear key, ever.
    "CREATE TABLE issuer_link_keys (
        id BIGINT PRIMARY KEY,
        key_type TEXT NOT NULL,
        key_block TEXT NOT NULL,
        kcv TEXT NOT NULL,
        activated_ms BIGINT NOT NULL,
        retired_ms BIGINT
    )",
    "CREATE INDEX issuer_link_keys_type ON issuer_link_keys (key_type, id)",
    // Every 0800/101 received and how it was answered: check values, never key material.
    "CREATE TABLE issuer_key_changes (
        id BIGINT PRIMARY KEY,
        at_ms BIGINT NOT NULL,
        key_type TEXT,
        stan TEXT,
        transmission_time TEXT,
        offered_kcv TEXT,
        response_code TEXT NOT NULL,
        outcome TEXT NOT NULL,
        kcv TEXT
    )",
    // A late original finds the reversal that named it (docs/network-flows.md §3).
    "CREATE INDEX issuer_authorizations_original ON issuer_authorizations (original_key)",
];

fn hsm_key_type(key: WorkingKey) -> KeyType {
    match key {
        WorkingKey::Zpk => KeyType::Zpk,
        WorkingKey::Zak => KeyType::Zak,
    }
}

/// One working key: the one in use and the one it replaced.
#[derive(Clone)]
struct KeySlot {
    current: WrappedKey,
    /// When the current key was activated; `None` for the configuration's initial key.
    activated_ms: Option<u64>,
    /// The replaced key and when it was retired.
    previous: Option<(WrappedKey, u64)>,
}

impl KeySlot {
    fn initial(key: &WrappedKey) -> KeySlot {
        KeySlot { current: key.clone(), activated_ms: None, previous: None }
    }

    /// The replaced key, while its grace lasts at `now_ms`.
    fn previous_in_grace(&self, now_ms: u64, grace_ms: u64) -> Option<&WrappedKey> {
        self.previous
            .as_ref()
            .filter(|(_, retired_ms)| now_ms < retired_ms.saturating_add(grace_ms))
            .map(|(key, _)| key)
    }
}

/// The keys a request may use at one moment: the current ZPK and ZAK, and the replaced ones
/// while their grace lasts. Taken once per request, so a key change in the middle of it does
/// not mix keys.
#[derive(Clone)]
pub(crate) struct LinkKeys {
    pub zpk: WrappedKey,
    pub previous_zpk: Option<WrappedKey>,
    pub zak: WrappedKey,
    pub previous_zak: Option<WrappedKey>,
}

impl fmt::Debug for LinkKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkKeys").field("zpk", &self.zpk.kcv()).field("zak", &self.zak.kcv()).finish_non_exhaustive()
    }
}

/// The link's key state: in memory for every request, on disk for restarts.
pub(crate) struct LinkState {
    zpk: KeySlot,
    zak: KeySlot,
}

impl LinkState {
    fn slot(&self, key: WorkingKey) -> &KeySlot {
        match key {
            WorkingKey::Zpk => &self.zpk,
            WorkingKey::Zak => &self.zak,
        }
    }

    fn slot_mut(&mut self, key: WorkingKey) -> &mut KeySlot {
        match key {
            WorkingKey::Zpk => &mut self.zpk,
            WorkingKey::Zak => &mut self.zak,
        }
    }
}

/// The link keys and what serializes their changes.
pub(crate) struct Link {
    state: RwLock<LinkState>,
    /// One key change at a time (the switch sends one, but a repeat may cross the original).
    changing: Mutex<()>,
}

impl Link {
    /// The configuration's keys, overridden by the newest stored ones.
    pub(crate) fn load(db: &Database, settings: &Settings) -> Result<Link> {
        let mut state = LinkState {
            zpk: KeySlot::initial(&settings.keys.switch_zpk),
            zak: KeySlot::initial(&settings.keys.switch_zak),
        };
        for key in WorkingKey::ALL {
            let rows = db.transaction(|tx| {
                tx.query(
                    "SELECT key_block, activated_ms, retired_ms FROM issuer_link_keys WHERE key_type = $1 \
                     ORDER BY id DESC LIMIT 2",
                    &[key.name().into()],
                )
            })?;
            let Some(newest) = rows.first() else { continue };
            let stored = |row: &Row| -> Result<WrappedKey> {
                let wrapped = WrappedKey::from_block(row.text(0)?)
                    .map_err(|e| IssuerError::Internal(format!("stored {key} is not a key block: {e}")))?;
                if wrapped.key_type() != hsm_key_type(key) {
                    return Err(IssuerError::Internal(format!("stored {key} is a {} key", wrapped.key_type())));
                }
                Ok(wrapped)
            };
            let slot = state.slot_mut(key);
            slot.current = stored(newest)?;
            slot.activated_ms = Some(newest.u64(1)?);
            slot.previous = match rows.get(1) {
                Some(row) => {
                    let retired_ms = row.opt_i64(2)?.and_then(|ms| u64::try_from(ms).ok()).unwrap_or(0);
                    Some((stored(row)?, retired_ms))
                }
                None => None,
            };
        }
        Ok(Link { state: RwLock::new(state), changing: Mutex::new(()) })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, LinkState> {
        // The state is replaced whole under the lock: a panic elsewhere cannot leave it half-set.
        self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, LinkState> {
        self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn keys(&self, now_ms: u64, grace_ms: u64) -> LinkKeys {
        let state = self.read();
        LinkKeys {
            zpk: state.zpk.current.clone(),
            previous_zpk: state.zpk.previous_in_grace(now_ms, grace_ms).cloned(),
            zak: state.zak.current.clone(),
            previous_zak: state.zak.previous_in_grace(now_ms, grace_ms).cloned(),
        }
    }
}

/// A working key of the link as operators and tests see it: check values and times only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkKeyStatus {
    pub key: WorkingKey,
    pub kcv: String,
    /// `None` while the configuration's initial key is in use.
    pub activated_ms: Option<u64>,
    pub previous_kcv: Option<String>,
    pub previous_retired_ms: Option<u64>,
}

/// How a key change was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyChangeOutcome {
    /// A new key taken into use.
    Activated,
    /// The key in use offered again (the switch did not get the 0810): answered 00, no change.
    Repeat,
    /// Refused; the key in use stays.
    Refused,
}

impl KeyChangeOutcome {
    pub fn name(self) -> &'static str {
        match self {
            KeyChangeOutcome::Activated => "activated",
            KeyChangeOutcome::Repeat => "repeat",
            KeyChangeOutcome::Refused => "refused",
        }
    }

    fn from_name(name: &str) -> Option<KeyChangeOutcome> {
        [KeyChangeOutcome::Activated, KeyChangeOutcome::Repeat, KeyChangeOutcome::Refused]
            .into_iter()
            .find(|outcome| outcome.name() == name)
    }
}

/// One journaled key change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChangeEntry {
    pub at_ms: u64,
    /// `None` when field 53 could not be read.
    pub key: Option<WorkingKey>,
    pub stan: Option<String>,
    pub transmission_time: Option<String>,
    /// Field 96 of the request, in hex.
    pub offered_kcv: Option<String>,
    pub response_code: ResponseCode,
    pub outcome: KeyChangeOutcome,
    /// The check value of the key in use after the change (activated or repeated).
    pub kcv: Option<String>,
}

/// Why a key change is refused: its response code and a reason for the log (no values).
struct Refusal {
    code: &'static str,
    reason: &'static str,
}

fn refuse(code: &'static str, reason: &'static str) -> Refusal {
    Refusal { code, reason }
}

/// One of the issuer's own codes (a `network::codes` constant, every one a response code) as
/// the journal keeps it.
fn own_code(code: &'static str) -> ResponseCode {
    ResponseCode::new(code).unwrap_or(ResponseCode::SYSTEM_MALFUNCTION)
}

impl Issuer {
    /// The link keys a request arriving now may use.
    pub(crate) fn link_keys_now(&self) -> LinkKeys {
        self.link.keys(self.now_ms(), self.settings.key_grace_ms)
    }

    /// The link's working keys: check values of the current and previous ZPK and ZAK.
    pub fn link_key_status(&self) -> Vec<LinkKeyStatus> {
        let state = self.link.read();
        WorkingKey::ALL
            .into_iter()
            .map(|key| {
                let slot = state.slot(key);
                LinkKeyStatus {
                    key,
                    kcv: slot.current.kcv().to_owned(),
                    activated_ms: slot.activated_ms,
                    previous_kcv: slot.previous.as_ref().map(|(key, _)| key.kcv().to_owned()),
                    previous_retired_ms: slot.previous.as_ref().map(|(_, retired_ms)| *retired_ms),
                }
            })
            .collect()
    }

    /// The key changes received, oldest first (at most [`KEY_CHANGES_LIST_MAX`]).
    pub fn key_changes(&self) -> Result<Vec<KeyChangeEntry>> {
        let limit = i64::try_from(KEY_CHANGES_LIST_MAX).unwrap_or(i64::MAX);
        let rows = self.cards.db().transaction(|tx| {
            tx.query(
                "SELECT at_ms, key_type, stan, transmission_time, offered_kcv, response_code, outcome, kcv \
                 FROM issuer_key_changes ORDER BY id LIMIT $1",
                &[limit.into()],
            )
        })?;
        rows.iter()
            .map(|row| {
                Ok(KeyChangeEntry {
                    at_ms: row.u64(0)?,
                    key: row.opt_text(1)?.as_deref().and_then(WorkingKey::from_name),
                    stan: row.opt_text(2)?,
                    transmission_time: row.opt_text(3)?,
                    offered_kcv: row.opt_text(4)?,
                    response_code: row.parsed(5, "response_code")?,
                    outcome: KeyChangeOutcome::from_name(&row.text(6)?)
                        .ok_or_else(|| IssuerError::Internal("unknown key change outcome in the journal".into()))?,
                    kcv: row.opt_text(7)?,
                })
            })
            .collect()
    }

    /// Answer an 0800/101 (see the module documentation). `None` only if not even a refusal
    /// can be built.
    pub(crate) fn key_change(&self, request: &Message) -> Option<Message> {
        // One change at a time; requests go on with the keys they took.
        let _changing = self.link.changing.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now_ms = self.now_ms();
        let change = netmgmt::read_key_change(request);
        let (current, previous) = {
            let state = self.link.read();
            (state.zak.current.clone(), state.zak.previous.clone())
        };
        let keys = self.link.keys(now_ms, self.settings.key_grace_ms);
        let mut entry = KeyChangeEntry {
            at_ms: now_ms,
            key: change.as_ref().ok().map(|c| c.key),
            stan: request.get_str(11).map(str::to_owned),
            transmission_time: request.get_str(7).map(str::to_owned),
            offered_kcv: change.as_ref().ok().map(|c| iso8583::hex::encode(&c.check_value)),
            response_code: ResponseCode::APPROVED,
            outcome: KeyChangeOutcome::Refused,
            kcv: None,
        };
        // 1. The MAC: current ZAK, the previous one within its grace, or — for a repeat of the
        //    key in use only — the previous one after its grace.
        let verified = match self.verify_link_mac(request, &keys) {
            Err(code) if code == codes::MAC_ERROR => {
                let repeat = change.as_ref().ok().is_some_and(|c| self.is_current_key(c));
                match (&previous, repeat) {
                    (Some((old, _)), true) if network::mac::verify(&*self.hsm, old, request).is_ok() => Ok(old.clone()),
                    _ => Err(code),
                }
            }
            other => other,
        };
        let zak = match verified {
            Ok(zak) => zak,
            Err(code) => {
                entry.response_code = own_code(code);
                tracing::warn!(key = ?entry.key, code, "issuer: key change refused: MAC not verified");
                self.journal_key_change(&entry);
                return self.key_change_answer(request, code, None, &current);
            }
        };
        let result = change
            .map_err(|_| refuse(codes::FORMAT_ERROR, "not in the key change layout"))
            .and_then(|change| self.take_key(&change, &mut entry, now_ms));
        match result {
            Ok(kcv) => {
                tracing::info!(
                    key = ?entry.key,
                    kcv = %kcv,
                    outcome = entry.outcome.name(),
                    "issuer: key change answered 00"
                );
                let check_value = netmgmt::check_value_field(&kcv);
                self.key_change_answer(request, codes::APPROVED, check_value.as_ref(), &zak)
            }
            Err(refusal) => {
                entry.response_code = own_code(refusal.code);
                entry.outcome = KeyChangeOutcome::Refused;
                tracing::warn!(
                    key = ?entry.key,
                    code = refusal.code,
                    reason = refusal.reason,
                    "issuer: key change refused"
                );
                self.journal_key_change(&entry);
                self.key_change_answer(request, refusal.code, None, &zak)
            }
        }
    }

    /// Whether `change` offers the key in use (same kind, same check value).
    fn is_current_key(&self, change: &netmgmt::KeyChange) -> bool {
        let state = self.link.read();
        netmgmt::check_value_matches(&change.check_value, state.slot(change.key).current.kcv())
    }

    /// Import, check and store the key of `change`; its check value on success. A repeat of
    /// the key in use changes nothing.
    fn take_key(
        &self,
        change: &netmgmt::KeyChange,
        entry: &mut KeyChangeEntry,
        now_ms: u64,
    ) -> std::result::Result<String, Refusal> {
        let imported = self
            .hsm
            .import_key_block(&self.settings.keys.switch_zmk, hsm_key_type(change.key), &change.key_block)
            .map_err(|error| {
                tracing::warn!(%error, "issuer: key block did not import under the switch ZMK");
                refuse(codes::SYSTEM_MALFUNCTION, "the key block does not open under the ZMK")
            })?;
        if !netmgmt::check_value_matches(&change.check_value, imported.kcv()) {
            return Err(refuse(codes::SYSTEM_MALFUNCTION, "check value differs"));
        }
        let slot = self.link.read().slot(change.key).clone();
        // The link's algorithms are fixed (X9.19 MAC, ISO 9564 format 0 under TDES): a key of
        // another algorithm would break the next message.
        if imported.tr31_algorithm() != slot.current.tr31_algorithm() {
            return Err(refuse(codes::SYSTEM_MALFUNCTION, "another algorithm than the key it replaces"));
        }
        entry.kcv = Some(imported.kcv().to_owned());
        if imported.kcv() == slot.current.kcv() {
            entry.outcome = KeyChangeOutcome::Repeat;
            self.journal_key_change(entry);
            return Ok(imported.kcv().to_owned());
        }
        // An old 0800/101 replayed (its MAC still verifies while the ZAK is unchanged, as after
        // ZPK changes) must not put an earlier key back into use.
        let used_before = self.used_before(change.key, imported.kcv()).map_err(|error| {
            tracing::error!(%error, "issuer: cannot read the key change journal");
            refuse(codes::SYSTEM_MALFUNCTION, "cannot read the key change journal")
        })?;
        if used_before {
            return Err(refuse(codes::SYSTEM_MALFUNCTION, "a key this link has used before"));
        }
        entry.outcome = KeyChangeOutcome::Activated;
        self.store_key(change.key, &slot.current, &imported, entry, now_ms).map_err(|error| {
            tracing::error!(%error, "issuer: cannot store a new link key; the old one stays");
            refuse(codes::SYSTEM_MALFUNCTION, "cannot store the key")
        })?;
        let mut state = self.link.write();
        let slot = state.slot_mut(change.key);
        let replaced = std::mem::replace(&mut slot.current, imported.clone());
        let retired = slot.previous.replace((replaced, now_ms));
        slot.activated_ms = Some(now_ms);
        drop(state);
        // The key before the replaced one is out of use for good: its clear copy in the HSM's
        // cache goes now (zeroized), not when the cache happens to evict it.
        if let Some((retired, _)) = retired {
            self.hsm.forget_key(&retired);
        }
        Ok(imported.kcv().to_owned())
    }

    /// Whether `key` with check value `kcv` was in use on the link before: the configuration's
    /// initial key, or one a key change activated.
    fn used_before(&self, key: WorkingKey, kcv: &str) -> Result<bool> {
        let initial = match key {
            WorkingKey::Zpk => &self.settings.keys.switch_zpk,
            WorkingKey::Zak => &self.settings.keys.switch_zak,
        };
        if initial.kcv() == kcv {
            return Ok(true);
        }
        let row = self.cards.db().transaction(|tx| {
            tx.query_opt(
                "SELECT id FROM issuer_key_changes WHERE key_type = $1 AND outcome = $2 AND kcv = $3 LIMIT 1",
                &[key.name().into(), KeyChangeOutcome::Activated.name().into(), kcv.into()],
            )
        })?;
        Ok(row.is_some())
    }

    /// Retire `replaced` and store `new` as the key in use, with the journal entry, in one
    /// durable transaction. The first change also stores the configuration's key it replaces,
    /// so a restart within the grace still knows it.
    fn store_key(
        &self,
        key: WorkingKey,
        replaced: &WrappedKey,
        new: &WrappedKey,
        entry: &KeyChangeEntry,
        now_ms: u64,
    ) -> Result<()> {
        let now = int(now_ms);
        self.cards.db().transaction(|tx| {
            // Only the key retired now is ever needed again (within its grace): older ones go
            // (their check values stay in the key change journal).
            tx.execute(
                "DELETE FROM issuer_link_keys WHERE key_type = $1 AND retired_ms IS NOT NULL",
                &[key.name().into()],
            )?;
            let retired = tx.execute(
                "UPDATE issuer_link_keys SET retired_ms = $1 WHERE key_type = $2 AND retired_ms IS NULL",
                &[now.clone(), key.name().into()],
            )?;
            if retired == 0 {
                let id = next_id(tx, "issuer_link_keys")?;
                tx.execute(
                    "INSERT INTO issuer_link_keys (id, key_type, key_block, kcv, activated_ms, retired_ms) \
                     VALUES ($1, $2, $3, $4, 0, $5)",
                    &[id.into(), key.name().into(), replaced.block().into(), replaced.kcv().into(), now.clone()],
                )?;
            }
            let id = next_id(tx, "issuer_link_keys")?;
            tx.execute(
                "INSERT INTO issuer_link_keys (id, key_type, key_block, kcv, activated_ms, retired_ms) \
                 VALUES ($1, $2, $3, $4, $5, NULL)",
                &[id.into(), key.name().into(), new.block().into(), new.kcv().into(), now.clone()],
            )?;
            insert_key_change(tx, entry)
        })?;
        Ok(())
    }

    /// Journal a key change that stored nothing (a refusal or a repeat); a failure is logged,
    /// not answered differently (the key in use is unchanged either way).
    fn journal_key_change(&self, entry: &KeyChangeEntry) {
        if let Err(error) = self.cards.db().transaction(|tx| insert_key_change(tx, entry)) {
            tracing::error!(%error, "issuer: cannot journal a key change");
        }
    }

    fn key_change_answer(
        &self,
        request: &Message,
        code: &str,
        check_value: Option<&[u8; netmgmt::CHECK_VALUE_BYTES]>,
        zak: &WrappedKey,
    ) -> Option<Message> {
        let mut response = netmgmt::key_change_answer(request, code, check_value)?;
        if let Err(error) = network::mac::sign(&*self.hsm, zak, &mut response) {
            tracing::error!(%error, "issuer: cannot MAC a key change answer");
        }
        Some(response)
    }

    /// Step 1 of every request: the MAC under the current ZAK, or the replaced one within its
    /// grace. The key that verified (the response is MAC'd with it), or the code to answer.
    pub(crate) fn verify_link_mac(
        &self,
        request: &Message,
        keys: &LinkKeys,
    ) -> std::result::Result<WrappedKey, &'static str> {
        let candidates = std::iter::once(&keys.zak).chain(keys.previous_zak.as_ref());
        for zak in candidates {
            match network::mac::verify(&*self.hsm, zak, request) {
                Ok(()) => return Ok(zak.clone()),
                Err(network::Error::Mac) => {}
                Err(_) => return Err(codes::SYSTEM_MALFUNCTION),
            }
        }
        Err(codes::MAC_ERROR)
    }
}

fn int(value: u64) -> Value {
    Value::Int(i64::try_from(value).unwrap_or(i64::MAX))
}

/// The next id of a table with a BIGINT `id` (one issuer process per database).
fn next_id(tx: &mut sqlstore::Tx<'_>, table: &'static str) -> sqlstore::Result<i64> {
    let row = tx.query_opt(&format!("SELECT COALESCE(MAX(id), 0) + 1 FROM {table}"), &[])?;
    Ok(row.map(|row| row.i64(0)).transpose()?.unwrap_or(1))
}

fn insert_key_change(tx: &mut sqlstore::Tx<'_>, entry: &KeyChangeEntry) -> sqlstore::Result<()> {
    let id = next_id(tx, "issuer_key_changes")?;
    tx.execute(
        "INSERT INTO issuer_key_changes (id, at_ms, key_type, stan, transmission_time, offered_kcv, response_code, \
         outcome, kcv) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            id.into(),
            int(entry.at_ms),
            entry.key.map(WorkingKey::name).into(),
            entry.stan.clone().into(),
            entry.transmission_time.clone().into(),
            entry.offered_kcv.clone().into(),
            entry.response_code.as_str().into(),
            entry.outcome.name().into(),
            entry.kcv.clone().into(),
        ],
    )?;
    Ok(())
}
