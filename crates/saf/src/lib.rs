//! Store-and-forward (SAF): the one durable queue of messages a party owes another member —
//! the switch's advices to its issuers (0220, a reversal 0420, a stand-in 0120), the acquirer's
//! network reversals (0420) to the switch — retried with exponential backoff until acknowledged
//! (after jPOS-EE `saf`: max tries, expiry, xxx1 repeat MTIs).
//!
//! [`SqlQueue`] keeps the queue in a table of the party's own database (`sqlstore`: SQLite or
//! PostgreSQL), and every operation takes the caller's open transaction, so an entry is queued
//! in the same commit as the decision behind it (a reversal is never journaled without being
//! queued, or queued without being journaled) and acknowledged in the same commit as the
//! answer's record. Enqueueing is idempotent on the entry's key. Time comes from the caller
//! (`now_ms` arguments), so a deterministic simulation drives every timer.
//!
//! Sending is the caller's loop: take [`SqlQueue::head_of_line`] (strictly in enqueue order) or
//! [`SqlQueue::due`] entries, send each (with the repeat MTI when [`is_repeat`] says so), then
//! report [`SqlQueue::acknowledged`] on the member's response or [`SqlQueue::attempt_failed`]
//! on a timeout or a retryable response code.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::fmt;

mod sql;

pub use sql::{IdSequence, SqlQueue, TABLE_NAME_LEN_MAX};

/// The longest wait between two attempts: the backoff doubles up to this (5 minutes).
pub const RETRY_DELAY_MS_MAX: u64 = 5 * 60 * 1000;

/// The most entries one [`SqlQueue::due`] or [`SqlQueue::head_of_line`] call returns, whatever
/// limit the caller asks for.
pub const DUE_LIMIT_MAX: usize = 1_000;

/// The queue's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SafConfig {
    /// Attempts after which an entry is [`EntryState::Dead`] (counting the first send).
    pub attempts_max: u32,
    /// The wait after the first failed attempt; each further failure doubles it, up to
    /// [`RETRY_DELAY_MS_MAX`].
    pub retry_delay_ms_min: u64,
    /// The most [`EntryState::Pending`] entries the queue holds; [`SqlQueue::enqueue`] of a new
    /// key beyond it fails with [`SafError::QueueFull`].
    pub pending_max: u64,
}

impl Default for SafConfig {
    fn default() -> SafConfig {
        SafConfig { attempts_max: 10, retry_delay_ms_min: 1_000, pending_max: 1_000_000 }
    }
}

impl SafConfig {
    /// The wait after the `attempts`-th failed attempt: `retry_delay_ms_min · 2^(attempts−1)`,
    /// capped at [`RETRY_DELAY_MS_MAX`] (and at least 1 ms, so a failed entry is never due
    /// again at the same instant).
    pub fn backoff_ms(&self, attempts: u32) -> u64 {
        let shift = attempts.saturating_sub(1).min(63);
        let delay = self.retry_delay_ms_min.saturating_mul(1u64 << shift);
        delay.clamp(1, RETRY_DELAY_MS_MAX)
    }
}

/// Whether the send after `attempts` earlier attempts is a repeat: every send but the first
/// (`attempts >= 1`, i.e. the 2nd attempt on) goes out with the repeat MTI — the function's
/// last digit set to 1: 0420 → 0421, 0120 → 0121 — so the receiver can tell a retransmission
/// it may already have processed from a new advice.
///
/// `attempts` is [`Entry::attempts`] of a due entry: the number of attempts already failed.
pub fn is_repeat(attempts: u32) -> bool {
    attempts >= 1
}

/// An entry's id, assigned by the queue in enqueue order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId(pub u64);

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryState {
    /// Waiting to be sent (again).
    Pending,
    /// Acknowledged by the destination.
    Done,
    /// Gave up (attempts exhausted or expired); kept for investigation.
    Dead,
}

impl EntryState {
    pub(crate) fn code(self) -> i64 {
        match self {
            EntryState::Pending => 0,
            EntryState::Done => 1,
            EntryState::Dead => 2,
        }
    }

    pub(crate) fn from_code(code: i64) -> Option<EntryState> {
        match code {
            0 => Some(EntryState::Pending),
            1 => Some(EntryState::Done),
            2 => Some(EntryState::Dead),
            _ => None,
        }
    }
}

/// An entry to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// The idempotency key, e.g. `"0420:<acquirer>:<stan>:<transmission time>"`: enqueueing a
    /// key again returns the entry already there.
    pub key: String,
    /// The member the entry goes to.
    pub destination: String,
    /// The encoded message.
    pub payload: Vec<u8>,
    /// After this time a failed attempt makes the entry [`EntryState::Dead`] instead of
    /// rescheduling it.
    pub expires_at_ms: Option<u64>,
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: EntryId,
    pub key: String,
    pub destination: String,
    pub payload: Vec<u8>,
    pub expires_at_ms: Option<u64>,
    /// When it was enqueued (the caller's `now_ms`).
    pub created_ms: u64,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The earliest time it is due again.
    pub next_attempt_ms: u64,
    pub state: EntryState,
}

/// Entries per state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub pending: u64,
    pub done: u64,
    pub dead: u64,
}

#[derive(Debug)]
pub enum SafError {
    /// No entry has this id.
    NotFound(EntryId),
    /// [`SafConfig::pending_max`] entries are already pending.
    QueueFull { pending_max: u64 },
    /// A time or count does not fit the store's 63-bit integers.
    OutOfRange(&'static str),
    /// A table name given to [`SqlQueue::new`] that is not a plain SQL identifier (a bug in
    /// the caller's code: names are constants, never input).
    BadName(&'static str),
    /// The store failed (the operation did not take effect). Kept as it is, so a caller's
    /// transaction still sees a retryable failure (PostgreSQL serialization) as one.
    Store(sqlstore::Error),
}

impl fmt::Display for SafError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SafError::NotFound(id) => write!(f, "saf: no entry {id}"),
            SafError::QueueFull { pending_max } => write!(f, "saf: queue full ({pending_max} pending)"),
            SafError::OutOfRange(what) => write!(f, "saf: {what} out of range"),
            SafError::BadName(name) => write!(f, "saf: table name {name:?} is not a plain SQL identifier"),
            SafError::Store(error) => write!(f, "saf store: {error}"),
        }
    }
}

impl std::error::Error for SafError {}

impl From<sqlstore::Error> for SafError {
    fn from(error: sqlstore::Error) -> SafError {
        SafError::Store(error)
    }
}

pub type SafResult<T> = Result<T, SafError>;

/// The state after a failed attempt at `now_ms`, given the attempts already failed before it:
/// (attempts, next_attempt_ms, state).
pub(crate) fn after_failure(
    config: &SafConfig,
    entry_attempts: u32,
    expires_at_ms: Option<u64>,
    now_ms: u64,
) -> (u32, u64, EntryState) {
    let attempts = entry_attempts.saturating_add(1);
    let next = now_ms.saturating_add(config.backoff_ms(attempts));
    let expired = expires_at_ms.is_some_and(|expiry| now_ms >= expiry);
    let state = if attempts >= config.attempts_max || expired { EntryState::Dead } else { EntryState::Pending };
    (attempts, next, state)
}
