//! Store-and-forward (SAF): a durable queue of advices a party owes another member — a reversal
//! advice (0420) to the issuer after a timeout, a STIP approval advice (0120) when the issuer
//! returns — retried with exponential backoff until acknowledged (after jPOS-EE `saf`: max
//! tries, expiry, xxx1 repeat MTIs).
//!
//! Every entry is durable before [`SafQueue::enqueue`] returns (the SQLite store commits with
//! `synchronous=FULL`), and enqueueing is idempotent on the entry's key. Time comes from the
//! caller (`now_ms` arguments, or the queue's [`Clock`] for the enqueue time), so a
//! deterministic simulation drives every timer.
//!
//! Sending is the caller's loop: take [`SafQueue::due`] entries, send each (with the repeat MTI
//! when [`is_repeat`] says so), then report [`SafQueue::acknowledged`] on the member's response
//! or [`SafQueue::attempt_failed`] on a timeout or a retryable response code.

use std::fmt;

mod memory;
mod sqlite;

pub use memory::MemorySafQueue;
pub use sqlite::SqliteSafQueue;

/// The longest wait between two attempts: the backoff doubles up to this (5 minutes).
pub const RETRY_DELAY_MS_MAX: u64 = 5 * 60 * 1000;

/// The most entries one [`SafQueue::due`] call returns, whatever limit the caller asks for.
pub const DUE_LIMIT_MAX: usize = 1_000;

pub use clock::{Clock, ManualClock, SystemClock};

/// The queue's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SafConfig {
    /// Attempts after which an entry is [`EntryState::Dead`] (counting the first send).
    pub attempts_max: u32,
    /// The wait after the first failed attempt; each further failure doubles it, up to
    /// [`RETRY_DELAY_MS_MAX`].
    pub retry_delay_ms_min: u64,
    /// The most [`EntryState::Pending`] entries the queue holds; [`SafQueue::enqueue`] of a new
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
    fn code(self) -> i64 {
        match self {
            EntryState::Pending => 0,
            EntryState::Done => 1,
            EntryState::Dead => 2,
        }
    }

    fn from_code(code: i64) -> Option<EntryState> {
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
    /// When it was enqueued (the queue's clock).
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SafError {
    /// No entry has this id.
    NotFound(EntryId),
    /// [`SafConfig::pending_max`] entries are already pending.
    QueueFull { pending_max: u64 },
    /// A time or count does not fit the store's 63-bit integers.
    OutOfRange(&'static str),
    /// The store failed (the operation did not take effect).
    Store(String),
}

impl fmt::Display for SafError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SafError::NotFound(id) => write!(f, "saf: no entry {id}"),
            SafError::QueueFull { pending_max } => write!(f, "saf: queue full ({pending_max} pending)"),
            SafError::OutOfRange(what) => write!(f, "saf: {what} out of range"),
            SafError::Store(message) => write!(f, "saf store: {message}"),
        }
    }
}

impl std::error::Error for SafError {}

pub type SafResult<T> = Result<T, SafError>;

/// A durable store-and-forward queue.
pub trait SafQueue {
    /// Store `entry` (durable before this returns), due at once; or, if its key is already
    /// stored (in any state), return the existing entry's id and store nothing.
    fn enqueue(&mut self, entry: NewEntry) -> SafResult<EntryId>;

    /// Up to `limit` (at most [`DUE_LIMIT_MAX`]) pending entries for `destination` whose
    /// `next_attempt_ms <= now_ms`, oldest (first enqueued) first.
    fn due(&mut self, destination: &str, now_ms: u64, limit: usize) -> SafResult<Vec<Entry>>;

    /// Record a failed attempt of a pending entry: `attempts += 1` and the entry is due again
    /// after [`SafConfig::backoff_ms`]; or it becomes [`EntryState::Dead`] once `attempts`
    /// reaches [`SafConfig::attempts_max`] or `now_ms` is at or past its expiry. Returns the
    /// entry's state afterwards (an entry already Done or Dead is left as it is).
    fn attempt_failed(&mut self, id: EntryId, now_ms: u64) -> SafResult<EntryState>;

    /// Record the destination's acknowledgement: the entry is [`EntryState::Done`]. Idempotent;
    /// a late acknowledgement of a Dead entry also makes it Done (the destination has it).
    fn acknowledged(&mut self, id: EntryId) -> SafResult<()>;

    /// The entry with this id, in any state.
    fn get(&mut self, id: EntryId) -> SafResult<Option<Entry>>;

    /// Entries per state.
    fn counts(&mut self) -> SafResult<Counts>;

    /// Turn every pending entry whose expiry is at or before `now_ms` Dead, whether or not it
    /// was ever attempted; returns how many. (`due` never returns an expired entry, so without
    /// this sweep one that was never tried would stay pending.)
    fn expire(&mut self, now_ms: u64) -> SafResult<usize>;
}

/// The state after a failed attempt at `now_ms`, given the attempts already failed before it:
/// (attempts, next_attempt_ms, state).
fn after_failure(
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
