//! The working keys of the switch's issuer links, and the key change (0800/101) that replaces
//! them. The switch is the initiator on every issuer link (docs/network-spec.md §3, "Key change
//! (0800/101)"):
//!
//! 1. [`Switch::begin_key_change`]: a fresh ZPK or ZAK from the HSM (under the LMK), kept as the
//!    link's *pending* key in the database; exported as a TR-31 block under the member's ZMK into
//!    48, which key in 53, its check value in 96, and a MAC under the link's *current* ZAK.
//! 2. The driver sends it and hands the 0810 to [`Switch::key_change_answered`] (or its absence
//!    to [`Switch::key_change_failed`]).
//! 3. Only a trusted 0810 (MAC under the current ZAK, same 11, 53 and 70) with 39 = 00 and the
//!    pending key's check value in 96 switches over: in one durable transaction the pending key
//!    becomes the current one and the current one is retired; from then on the switch MACs and
//!    translates PINs with the new key. The replaced key is still accepted for `key_grace_ms`
//!    when verifying (answers to requests sent before the switch-over come MAC'd with it).
//! 4. A refusal (any other 39) or a wrong check value drops the pending key: the next change
//!    sends a fresh one. No answer (or one that cannot be trusted) keeps it: the next attempt
//!    offers the *same* key again, which the issuer — if it took it and only the 0810 was lost —
//!    answers 00 as a repeat, so both ends converge on one key.
//!
//! Every attempt is journaled in `switch_key_changes` with check values only, and its 0800 and
//! 0810 in `switch_messages` like every message. Key blocks are stored only under the LMK.
//!
//! The configuration's ZPK and ZAK of an issuer are the link's initial keys; on start the newest
//! active key in the database wins, with the replaced one kept for the rest of its grace and a
//! pending one offered again. An acquirer link is not changed: it keeps the configured keys
//! (a member that is acquirer and issuer has one key set per link from its first change on).
//!
//! One key change per link at a time: the driver serializes them. Key state is cached in this
//! process; the switch that holds an issuer's session is the one that changes its keys.

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;

use domain::ResponseCode;
use hsm::{KeyAlgorithm, KeyType, WrappedKey};
use iso8583::Message;
use sqlstore::{Database, Row, Tx};
pub use transport::netmgmt::WorkingKey;
use transport::netmgmt::{self, Institution};

use crate::config::{Directory, Member};
use crate::engine::{Switch, transact};
use crate::error::SwitchError;
use crate::journal::{self, Direction, Leg, Logged};
use crate::limits::{KEY_CHANGES_LIST_MAX, KEY_DRAWS_MAX, STAN_MAX};
use crate::store::{self, SEQ_KEY_CHANGE, SEQ_LINK_KEY, SEQ_STAN, int, opt_int};

/// The migration that adds link keys and the key change journal.
pub(crate) const MIGRATION: &str = "switch-v2";

pub(crate) const DDL: &[&str] = &[
    // The keys of each issuer link since its first key change: one `active` row per member and
    // key type (in use), the newest `retired` one (the previous key, accepted until
    // `retired_ms` + the grace), and at most one `pending` one (sent, not yet confirmed). Key
    // blocks are under the LMK; older retired keys are deleted (their check values stay in
    // the key change journal).
    "CREATE TABLE switch_link_keys (
        id BIGINT PRIMARY KEY,
        member TEXT NOT NULL,
        key_type TEXT NOT NULL,
        key_block TEXT NOT NULL,
        kcv TEXT NOT NULL,
        state TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        activated_ms BIGINT,
        retired_ms BIGINT
    )",
    "CREATE INDEX switch_link_keys_member ON switch_link_keys (member, key_type, state, id)",
    // Every key change attempt and how it ended: check values, never key material.
    "CREATE TABLE switch_key_changes (
        id BIGINT PRIMARY KEY,
        member TEXT NOT NULL,
        key_type TEXT NOT NULL,
        stan TEXT NOT NULL,
        transmission_time TEXT NOT NULL,
        old_kcv TEXT NOT NULL,
        new_kcv TEXT NOT NULL,
        requested_ms BIGINT NOT NULL,
        outcome TEXT NOT NULL,
        response_code TEXT,
        answered_ms BIGINT
    )",
    "CREATE INDEX switch_key_changes_member ON switch_key_changes (member, id)",
];

const STATE_PENDING: &str = "pending";
const STATE_ACTIVE: &str = "active";
const STATE_RETIRED: &str = "retired";

fn hsm_key_type(key: WorkingKey) -> KeyType {
    match key {
        WorkingKey::Zpk => KeyType::Zpk,
        WorkingKey::Zak => KeyType::Zak,
    }
}

/// One working key of one issuer link.
#[derive(Clone)]
struct KeySlot {
    current: WrappedKey,
    /// `None` while the configuration's initial key is in use.
    activated_ms: Option<u64>,
    /// The replaced key and when it was retired.
    previous: Option<(WrappedKey, u64)>,
    /// Sent in an 0800/101 that has not been confirmed.
    pending: Option<WrappedKey>,
}

impl KeySlot {
    fn previous_in_grace(&self, now_ms: u64, grace_ms: u64) -> Option<&WrappedKey> {
        self.previous
            .as_ref()
            .filter(|(_, retired_ms)| now_ms < retired_ms.saturating_add(grace_ms))
            .map(|(key, _)| key)
    }
}

/// The key state of every issuer link, shared by all clones of a [`Switch`].
pub(crate) struct LinkKeys {
    slots: RwLock<HashMap<(String, WorkingKey), KeySlot>>,
}

fn stored_key(row: &Row, index: usize, key: WorkingKey) -> Result<WrappedKey, SwitchError> {
    let wrapped = WrappedKey::from_block(row.text(index)?)
        .map_err(|e| SwitchError::Internal(format!("a stored {key} is not a key block: {e}")))?;
    if wrapped.key_type() != hsm_key_type(key) {
        return Err(SwitchError::Internal(format!("a stored {key} is a {} key", wrapped.key_type())));
    }
    Ok(wrapped)
}

fn ms(row: &Row, index: usize) -> sqlstore::Result<Option<u64>> {
    Ok(row.opt_i64(index)?.and_then(|value| u64::try_from(value).ok()))
}

impl LinkKeys {
    /// Every issuer's configured keys, overridden by what the database holds.
    pub(crate) fn load(db: &Database, directory: &Directory) -> Result<LinkKeys, SwitchError> {
        let mut slots = HashMap::new();
        for member in directory.issuers() {
            for key in WorkingKey::ALL {
                let configured = match key {
                    WorkingKey::Zpk => member.zpk.clone(),
                    WorkingKey::Zak => member.zak.clone(),
                };
                let newest = |tx: &mut Tx<'_>, state: &str| {
                    tx.query_opt(
                        "SELECT key_block, activated_ms, retired_ms FROM switch_link_keys \
                         WHERE member = $1 AND key_type = $2 AND state = $3 ORDER BY id DESC LIMIT 1",
                        &[member.id.as_str().into(), key.name().into(), state.into()],
                    )
                };
                let (active, retired, pending) = db.transaction(|tx| {
                    Ok((newest(tx, STATE_ACTIVE)?, newest(tx, STATE_RETIRED)?, newest(tx, STATE_PENDING)?))
                })?;
                let slot = KeySlot {
                    current: match &active {
                        Some(row) => stored_key(row, 0, key)?,
                        None => configured,
                    },
                    activated_ms: match &active {
                        Some(row) => ms(row, 1)?,
                        None => None,
                    },
                    previous: match &retired {
                        Some(row) => Some((stored_key(row, 0, key)?, ms(row, 2)?.unwrap_or(0))),
                        None => None,
                    },
                    pending: pending.as_ref().map(|row| stored_key(row, 0, key)).transpose()?,
                };
                slots.insert((member.id.clone(), key), slot);
            }
        }
        Ok(LinkKeys { slots: RwLock::new(slots) })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<(String, WorkingKey), KeySlot>> {
        // Slots are replaced whole under the lock: a panic elsewhere cannot leave one half-set.
        self.slots.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<(String, WorkingKey), KeySlot>> {
        self.slots.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The slot of `member`'s `key`; the configured key if the member was not loaded as an
    /// issuer (never for a member of the directory).
    fn slot(&self, member: &Member, key: WorkingKey) -> KeySlot {
        self.read().get(&(member.id.clone(), key)).cloned().unwrap_or_else(|| KeySlot {
            current: match key {
                WorkingKey::Zpk => member.zpk.clone(),
                WorkingKey::Zak => member.zak.clone(),
            },
            activated_ms: None,
            previous: None,
            pending: None,
        })
    }

    /// The key in use on `member`'s issuer link.
    pub(crate) fn current(&self, member: &Member, key: WorkingKey) -> WrappedKey {
        self.slot(member, key).current
    }

    /// The key in use and, while its grace lasts, the one it replaced: what a message from the
    /// issuer may be MAC'd with.
    pub(crate) fn accepted(&self, member: &Member, key: WorkingKey, now_ms: u64, grace_ms: u64) -> Vec<WrappedKey> {
        let slot = self.slot(member, key);
        let previous = slot.previous_in_grace(now_ms, grace_ms).cloned();
        std::iter::once(slot.current).chain(previous).collect()
    }

    fn update(&self, member: &str, key: WorkingKey, change: impl FnOnce(&mut KeySlot)) {
        if let Some(slot) = self.write().get_mut(&(member.to_owned(), key)) {
            change(slot);
        }
    }
}

/// A working key of an issuer link as operators and tests see it: check values and times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkKeyStatus {
    pub issuer: String,
    pub key: WorkingKey,
    pub kcv: String,
    /// `None` while the configuration's initial key is in use.
    pub activated_ms: Option<u64>,
    pub previous_kcv: Option<String>,
    pub previous_retired_ms: Option<u64>,
    /// A key sent and not yet confirmed (offered again by the next attempt).
    pub pending_kcv: Option<String>,
}

/// An 0800/101 ready to send, and what the switch needs to finish it.
#[derive(Clone)]
pub struct KeyChangeRequest {
    pub issuer: String,
    pub key: WorkingKey,
    /// The 0800/101, MAC'd with `zak`.
    pub request: Message,
    new_key: WrappedKey,
    old_kcv: String,
    /// The ZAK the request is MAC'd with: the 0810 must be MAC'd with it too.
    zak: WrappedKey,
    requested_ms: u64,
}

impl KeyChangeRequest {
    /// The check value of the key offered.
    pub fn new_kcv(&self) -> &str {
        self.new_key.kcv()
    }
}

/// No key block: who, which key, the check values and the STAN.
impl fmt::Debug for KeyChangeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyChangeRequest")
            .field("issuer", &self.issuer)
            .field("key", &self.key)
            .field("stan", &self.request.get_str(11))
            .field("old_kcv", &self.old_kcv)
            .field("new_kcv", &self.new_key.kcv())
            .finish_non_exhaustive()
    }
}

/// How a key change ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChangeOutcome {
    /// The issuer took the key: the switch uses it from now on.
    Activated { kcv: String },
    /// The issuer refused (39 ≠ 00): the old key stays, the offered one is dropped.
    Refused { response_code: ResponseCode },
    /// The issuer answered 00 with a check value that is not the offered key's: the switch does
    /// not switch over and drops the key (the next change sends a fresh one).
    CheckValueMismatch,
    /// No answer, or one that cannot be trusted (bad MAC, not matching): the old key stays and
    /// the next attempt offers the same key again.
    Unanswered,
}

impl KeyChangeOutcome {
    fn name(&self) -> &'static str {
        match self {
            KeyChangeOutcome::Activated { .. } => "activated",
            KeyChangeOutcome::Refused { .. } => "refused",
            KeyChangeOutcome::CheckValueMismatch => "check_value_mismatch",
            KeyChangeOutcome::Unanswered => "unanswered",
        }
    }
}

/// Words for the operator (`cardnet serve switch` on SIGUSR1, the scheduler's warnings).
impl std::fmt::Display for KeyChangeOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyChangeOutcome::Activated { kcv } => write!(f, "activated, check value {kcv}"),
            KeyChangeOutcome::Refused { response_code } => {
                write!(f, "refused by the issuer (response code {response_code}); the old key stays")
            }
            KeyChangeOutcome::CheckValueMismatch => {
                f.write_str("not taken: the issuer's check value is not the offered key's; the old key stays")
            }
            KeyChangeOutcome::Unanswered => {
                f.write_str("unanswered; the old key stays and the same key is offered again")
            }
        }
    }
}

/// One journaled key change attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChangeRecord {
    pub id: u64,
    pub issuer: String,
    pub key: Option<WorkingKey>,
    pub stan: String,
    pub transmission_time: String,
    pub old_kcv: String,
    pub new_kcv: String,
    pub requested_ms: u64,
    /// `activated`, `refused`, `check_value_mismatch` or `unanswered`.
    pub outcome: String,
    pub response_code: Option<ResponseCode>,
    pub answered_ms: Option<u64>,
}

fn key_change_record(row: &Row) -> sqlstore::Result<KeyChangeRecord> {
    Ok(KeyChangeRecord {
        id: row.u64(0)?,
        issuer: row.text(1)?,
        key: WorkingKey::from_name(&row.text(2)?),
        stan: row.text(3)?,
        transmission_time: row.text(4)?,
        old_kcv: row.text(5)?,
        new_kcv: row.text(6)?,
        requested_ms: row.u64(7)?,
        outcome: row.text(8)?,
        response_code: row.opt_parsed(9, "response_code")?,
        answered_ms: ms(row, 10)?,
    })
}

impl Switch {
    fn key_member(&self, issuer: &str) -> Result<&Member, SwitchError> {
        self.directory.issuer(issuer).ok_or_else(|| SwitchError::Internal(format!("no issuer {issuer}")))
    }

    /// The working keys of `issuer`'s link (empty for a member that is not an issuer).
    pub fn link_keys(&self, issuer: &str) -> Vec<LinkKeyStatus> {
        let Some(member) = self.directory.issuer(issuer) else { return Vec::new() };
        WorkingKey::ALL
            .into_iter()
            .map(|key| {
                let slot = self.links.slot(member, key);
                LinkKeyStatus {
                    issuer: member.id.clone(),
                    key,
                    kcv: slot.current.kcv().to_owned(),
                    activated_ms: slot.activated_ms,
                    previous_kcv: slot.previous.as_ref().map(|(key, _)| key.kcv().to_owned()),
                    previous_retired_ms: slot.previous.as_ref().map(|(_, retired_ms)| *retired_ms),
                    pending_kcv: slot.pending.as_ref().map(|key| key.kcv().to_owned()),
                }
            })
            .collect()
    }

    /// The key change attempts on `issuer`'s link, oldest first (at most
    /// [`KEY_CHANGES_LIST_MAX`]).
    pub fn key_changes(&self, issuer: &str) -> Result<Vec<KeyChangeRecord>, SwitchError> {
        let limit = int(KEY_CHANGES_LIST_MAX as u64)?;
        let rows = self.db.transaction(|tx| {
            tx.query(
                "SELECT id, member, key_type, stan, transmission_time, old_kcv, new_kcv, requested_ms, outcome, \
                 response_code, answered_ms FROM switch_key_changes WHERE member = $1 ORDER BY id LIMIT $2",
                &[issuer.into(), limit.clone()],
            )
        })?;
        Ok(rows.iter().map(key_change_record).collect::<sqlstore::Result<_>>()?)
    }

    /// A key for `key` whose check value differs from the key in use (so that the issuer can
    /// tell a repeat of the key it has from a new one by the check value alone).
    fn fresh_key(&self, key: WorkingKey, current: &WrappedKey) -> Result<WrappedKey, SwitchError> {
        let algorithm = if current.is_aes() { KeyAlgorithm::Aes128 } else { KeyAlgorithm::Tdes2 };
        for _ in 0..KEY_DRAWS_MAX {
            let fresh = self.hsm.generate_key(hsm_key_type(key), algorithm)?;
            if fresh.kcv() != current.kcv() {
                return Ok(fresh);
            }
        }
        Err(SwitchError::Internal(format!("{KEY_DRAWS_MAX} fresh keys in a row had the check value of the key in use")))
    }

    /// Step 1 of a key change of `issuer`'s `key` at `now_ms`: the 0800/101 to send, offering
    /// the pending key if an earlier attempt went unanswered, else a fresh one (stored as
    /// pending before this returns).
    pub fn begin_key_change(
        &self,
        issuer: &str,
        key: WorkingKey,
        now_ms: u64,
    ) -> Result<KeyChangeRequest, SwitchError> {
        let member = self.key_member(issuer)?;
        let slot = self.links.slot(member, key);
        let zak = self.links.current(member, WorkingKey::Zak);
        let (new_key, fresh) = match &slot.pending {
            Some(pending) => (pending.clone(), false),
            None => (self.fresh_key(key, &slot.current)?, true),
        };
        let key_block = self.hsm.export_key_block(&member.zmk, &new_key)?;
        let check_value = netmgmt::check_value_field(new_key.kcv())
            .ok_or_else(|| SwitchError::Internal("a key's check value is not hex".into()))?;
        let change = netmgmt::KeyChange { key, key_block, check_value };
        let stan = transact(&self.db, |tx| {
            if fresh {
                // At most one pending key per link: a leftover is superseded.
                tx.execute(
                    "DELETE FROM switch_link_keys WHERE member = $1 AND key_type = $2 AND state = $3",
                    &[member.id.as_str().into(), key.name().into(), STATE_PENDING.into()],
                )?;
                let id = store::next_id(tx, SEQ_LINK_KEY)?;
                tx.execute(
                    "INSERT INTO switch_link_keys (id, member, key_type, key_block, kcv, state, created_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[
                        int(id)?,
                        member.id.as_str().into(),
                        key.name().into(),
                        new_key.block().into(),
                        new_key.kcv().into(),
                        STATE_PENDING.into(),
                        int(now_ms)?,
                    ],
                )?;
            }
            Ok(store::next_id(tx, SEQ_STAN)?)
        })?;
        if fresh {
            let pending = new_key.clone();
            self.links.update(&member.id, key, |slot| slot.pending = Some(pending));
        }
        let institution = Institution {
            acquirer: self.directory.institution_id.clone(),
            forwarding: Some(self.directory.institution_id.clone()),
        };
        // STANs 000001..=999999, from the sequence the issuer leg uses.
        let stan = u32::try_from((stan.saturating_sub(1)) % STAN_MAX + 1).unwrap_or(1);
        let time = network::transmission_time(now_ms);
        let mut request = netmgmt::key_change_request_at(&self.spec, stan, &institution, &time, &change)?;
        network::mac::sign(self.hsm.as_ref(), &zak, &mut request)?;
        tracing::info!(
            issuer,
            %key,
            old_kcv = slot.current.kcv(),
            new_kcv = new_key.kcv(),
            repeat = !fresh,
            "switch: key change sent"
        );
        Ok(KeyChangeRequest {
            issuer: member.id.clone(),
            key,
            request,
            new_key,
            old_kcv: slot.current.kcv().to_owned(),
            zak,
            requested_ms: now_ms,
        })
    }

    /// The issuer's 0810 to `change`: switch over on a trusted 00 with the key's check value
    /// (durably, then in memory), drop the key on a refusal, keep it pending otherwise.
    pub fn key_change_answered(
        &self,
        change: &KeyChangeRequest,
        response: &Message,
        now_ms: u64,
    ) -> Result<KeyChangeOutcome, SwitchError> {
        let member = self.key_member(&change.issuer)?;
        let trusted = network::mac::verify(self.hsm.as_ref(), &change.zak, response).is_ok();
        let request = &change.request;
        let matches = response.mti().as_str() == netmgmt::MTI_RESPONSE
            && [11, 53, 70].iter().all(|&field| response.get(field) == request.get(field))
            && response.get_str(39).is_some_and(|code| ResponseCode::new(code).is_ok());
        if !trusted || !matches {
            tracing::warn!(
                issuer = %member.id,
                key = %change.key,
                trusted,
                matches,
                "switch: key change answer refused"
            );
            return self.finish_key_change(member, change, Some(response), KeyChangeOutcome::Unanswered, now_ms);
        }
        let Some(code) = response.get_str(39).and_then(|code| ResponseCode::new(code).ok()) else {
            // `matches` checked that 39 is a response code: an answer without one is none.
            return self.finish_key_change(member, change, Some(response), KeyChangeOutcome::Unanswered, now_ms);
        };
        let outcome = if !code.is_approved() {
            KeyChangeOutcome::Refused { response_code: code }
        } else if response
            .get(netmgmt::CHECK_VALUE_FIELD)
            .is_some_and(|v| netmgmt::check_value_matches(v, change.new_kcv()))
        {
            KeyChangeOutcome::Activated { kcv: change.new_kcv().to_owned() }
        } else {
            tracing::error!(
                issuer = %member.id,
                key = %change.key,
                "switch: the issuer approved a key change with another check value"
            );
            KeyChangeOutcome::CheckValueMismatch
        };
        self.finish_key_change(member, change, Some(response), outcome, now_ms)
    }

    /// `change` went unanswered (timeout, link lost): the key stays pending and is offered
    /// again by the next attempt.
    pub fn key_change_failed(&self, change: &KeyChangeRequest, now_ms: u64) -> Result<KeyChangeOutcome, SwitchError> {
        let member = self.key_member(&change.issuer)?;
        self.finish_key_change(member, change, None, KeyChangeOutcome::Unanswered, now_ms)
    }

    fn finish_key_change(
        &self,
        member: &Member,
        change: &KeyChangeRequest,
        response: Option<&Message>,
        outcome: KeyChangeOutcome,
        now_ms: u64,
    ) -> Result<KeyChangeOutcome, SwitchError> {
        let key = change.key;
        let current = self.links.current(member, key);
        let (id, name) = (member.id.as_str(), key.name());
        transact(&self.db, |tx| {
            match &outcome {
                KeyChangeOutcome::Activated { .. } => {
                    // Only the newest retired key is ever needed again (within its grace).
                    tx.execute(
                        "DELETE FROM switch_link_keys WHERE member = $1 AND key_type = $2 AND state = $3",
                        &[id.into(), name.into(), STATE_RETIRED.into()],
                    )?;
                    let retired = tx.execute(
                        "UPDATE switch_link_keys SET state = $3, retired_ms = $4 \
                         WHERE member = $1 AND key_type = $2 AND state = $5",
                        &[id.into(), name.into(), STATE_RETIRED.into(), int(now_ms)?, STATE_ACTIVE.into()],
                    )?;
                    if retired == 0 {
                        // The configuration's key: stored retired, so a restart within the grace
                        // still accepts it.
                        insert_key(tx, id, key, &current, STATE_RETIRED, now_ms, None, Some(now_ms))?;
                    }
                    let activated = tx.execute(
                        "UPDATE switch_link_keys SET state = $3, activated_ms = $4 \
                         WHERE member = $1 AND key_type = $2 AND state = $5 AND kcv = $6",
                        &[
                            id.into(),
                            name.into(),
                            STATE_ACTIVE.into(),
                            int(now_ms)?,
                            STATE_PENDING.into(),
                            change.new_kcv().into(),
                        ],
                    )?;
                    if activated == 0 {
                        insert_key(tx, id, key, &change.new_key, STATE_ACTIVE, now_ms, Some(now_ms), None)?;
                    }
                }
                KeyChangeOutcome::Refused { .. } | KeyChangeOutcome::CheckValueMismatch => {
                    tx.execute(
                        "DELETE FROM switch_link_keys WHERE member = $1 AND key_type = $2 AND state = $3",
                        &[id.into(), name.into(), STATE_PENDING.into()],
                    )?;
                }
                KeyChangeOutcome::Unanswered => {}
            }
            let record_id = store::next_id(tx, SEQ_KEY_CHANGE)?;
            // An untrusted answer's 39 is kept only when it is a response code, so the row reads back.
            let response_code = response.and_then(|r| r.get_str(39)).filter(|code| ResponseCode::new(code).is_ok());
            tx.execute(
                "INSERT INTO switch_key_changes (id, member, key_type, stan, transmission_time, old_kcv, new_kcv, \
                 requested_ms, outcome, response_code, answered_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    int(record_id)?,
                    id.into(),
                    name.into(),
                    change.request.get_str(11).unwrap_or_default().into(),
                    change.request.get_str(7).unwrap_or_default().into(),
                    change.old_kcv.as_str().into(),
                    change.new_kcv().into(),
                    int(change.requested_ms)?,
                    outcome.name().into(),
                    response_code.into(),
                    opt_int(response.map(|_| now_ms))?,
                ],
            )?;
            journal::log_message(
                tx,
                &Logged::new(&change.request, Direction::Out, Leg::Issuer, id),
                change.requested_ms,
            )?;
            if let Some(response) = response {
                let latency = now_ms.saturating_sub(change.requested_ms);
                journal::log_message(
                    tx,
                    &Logged::new(response, Direction::In, Leg::Issuer, id).latency(latency),
                    now_ms,
                )?;
            }
            Ok(())
        })?;
        // Memory follows the commit: a message built from now on uses what is on disk.
        match &outcome {
            KeyChangeOutcome::Activated { kcv } => {
                let new_key = change.new_key.clone();
                let mut retired = None;
                self.links.update(id, key, |slot| {
                    let replaced = std::mem::replace(&mut slot.current, new_key);
                    retired = slot.previous.replace((replaced, now_ms));
                    slot.activated_ms = Some(now_ms);
                    slot.pending = None;
                });
                // The key before the replaced one is out of use for good: its clear copy in the
                // HSM's cache goes now (zeroized), not when the cache happens to evict it.
                if let Some((retired, _)) = retired {
                    self.hsm.forget_key(&retired);
                }
                tracing::info!(issuer = id, %key, old_kcv = %change.old_kcv, kcv = %kcv, "switch: link key changed");
            }
            KeyChangeOutcome::Refused { response_code } => {
                self.links.update(id, key, |slot| slot.pending = None);
                tracing::warn!(
                    issuer = id,
                    %key,
                    code = %response_code,
                    "switch: key change refused; the old key stays"
                );
            }
            KeyChangeOutcome::CheckValueMismatch => self.links.update(id, key, |slot| slot.pending = None),
            KeyChangeOutcome::Unanswered => {
                tracing::warn!(issuer = id, %key, "switch: key change unanswered; the same key is offered again");
            }
        }
        Ok(outcome)
    }
}

#[allow(clippy::too_many_arguments)]
fn insert_key(
    tx: &mut Tx<'_>,
    member: &str,
    key: WorkingKey,
    wrapped: &WrappedKey,
    state: &str,
    now_ms: u64,
    activated_ms: Option<u64>,
    retired_ms: Option<u64>,
) -> Result<(), SwitchError> {
    let id = store::next_id(tx, SEQ_LINK_KEY)?;
    tx.execute(
        "INSERT INTO switch_link_keys (id, member, key_type, key_block, kcv, state, created_ms, activated_ms, \
         retired_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            int(id)?,
            member.into(),
            key.name().into(),
            wrapped.block().into(),
            wrapped.kcv().into(),
            state.into(),
            int(now_ms)?,
            opt_int(activated_ms)?,
            opt_int(retired_ms)?,
        ],
    )?;
    Ok(())
}
