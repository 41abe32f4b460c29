//! The POS terminal core (issue 7): a UnionPay-style terminal
//! (`../shared/reference/unionpay-pos-8583.md` §3–§6) as plain logic with a thin async shell.
//!
//! # Design
//!
//! * [`Terminal`] (`core/`) is the logic, no I/O but its own journal: it builds the next
//!   request ([`Terminal::sign_on_request`], [`Terminal::begin`], [`Terminal::reversal_request`],
//!   [`Terminal::settlement_request`], …) and consumes what came back
//!   ([`Terminal::on_response`], [`Terminal::on_timeout`]). A TCP shell, the TUI and the
//!   simulation drive it alike.
//! * [`Pos`] (`shell.rs`) is the TCP shell: one connection at a time in the cup-pos framing
//!   (strictly one request outstanding, as on a real terminal, so the response's header and its
//!   processing-requirement nibble are read too), primary and backup host with failover, and
//!   the orderings §6 demands: sign-on when needed, then any pending reversal (with retries),
//!   then the transaction; settlement and sign-off also flush reversals first.
//! * [`Store`] (`store.rs`) is the terminal's SQLite file (through `sqlstore`): state (batch,
//!   trace, working keys sealed), the one pending reversal, the batch journal, operators. A
//!   load generator's virtual terminals ([`Terminal::open_in_memory`]) keep the same rows in
//!   plain memory (`store/memory.rs`). The core keeps what every request asks about — the
//!   pending reversal and advice, the open batch's record count, the state row as written — in
//!   memory as last committed (`core/kept.rs`), read from the journal at power-on.
//!
//! # Keys and data at rest
//!
//! The TMK comes from a hex file named by the configuration and is checked against the
//! configured check value at power-on; it and the working keys are held only as
//! [`hsm::Secret`]s and used only through `hsm` functions. A 32-byte *storage key* is derived
//! from the TMK (TDES-ECB under the TMK of four fixed blocks, [`keys::storage_key`]); under it,
//! with `hsm::data::seal` (AES-CTR + CMAC tag), the terminal seals the working keys, the pending
//! reversal's request (it carries the PAN and track) and every journal record. The tag makes a
//! record checksummed: the power-on self-check opens every record of the open batch and reports
//! a damaged journal. Operator passwords are stored as `hsm::data::keyed_hash(storage key,
//! salt ‖ operator ‖ password)`, compared in constant time; the configuration's operator seeds
//! hold the same hash with an empty salt, and a journal seeded from them keeps an empty salt
//! (`seeds.rs`: the key, secret and per terminal, is what protects the hashes); a
//! re-injected TMK therefore invalidates the stored passwords and working keys (the terminal is
//! re-initialised, as a real one is after key injection).
//!
//! # Reversal (§6)
//!
//! Before a reversible request (purchase, void, pre-auth, pre-auth void, completion) is handed
//! to the shell, its record is committed with reason `98`. A matching response with a good MAC
//! (or any matching decline) clears it in the same database transaction that journals the
//! result; an approval whose MAC fails turns it into `A0`; a mismatched or undecodable answer
//! into `06`; an approval the terminal could not journal into `96`. No answer leaves `98`. The
//! shell sends a pending reversal before the next online transaction, settlement or sign-off
//! (up to `reversal_attempts_max` tries per occasion; while it stays pending the terminal
//! refuses new online work), and it survives a restart because it is on disk.
//!
//! # Slips
//!
//! Every approved transaction's [`Outcome`] carries a [`receipt::Receipt`] (`slip.rs`): the
//! merchant name from the parameter download (0800/360, [`Pos::download_parameters`]) or the
//! configuration, ids, operator, the masked card number, 63.1's card organisation, type, entry
//! mode, batch/trace/RRN/authorisation code, the host's 12/13 with the terminal's year, the
//! amount, PIN or signature line. The last slip's data is written in the same database
//! transaction that journals the approval, so [`Terminal::last_receipt`] reprints it (rendered
//! then, in the language asked for) after a restart; it holds only the masked card number.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod amount;
mod balance;
pub mod config;
mod core;
pub mod install;
pub mod keys;
mod seeds;
mod shell;
mod slip;
mod store;

pub use crate::core::{
    Answered, Card, EntryMode, Kind, Original, Outcome, Outgoing, Purpose, SelfCheck, SettlementTotals, SharedChip,
    Terminal, TxnRequest, parse_entry, response_text,
};
pub use balance::Balance;
pub use cardsim::SimCard;
pub use config::TerminalConfig;
pub use shell::{Pos, SettlementOutcome};
pub use slip::receipt_text;
pub use store::{JournalEntry, Role, Store};

use std::fmt;

/// What went wrong, said so the operator knows what to do. Never carries card data or keys.
#[derive(Debug)]
pub enum TerminalError {
    /// Bad input from the operator or the caller (an amount, a trace number, a password).
    Input(String),
    /// The configuration cannot be used.
    Config(String),
    /// Power-on self-check failed; every failing item with what to do.
    SelfCheck(Vec<SelfCheck>),
    /// The journal database failed.
    Store(String),
    /// The codec refused a message (field and reason, never the value).
    Message(String),
    /// A key operation failed (never the key).
    Security(String),
    /// Neither the primary nor the backup host could be reached.
    Unreachable(String),
    /// The terminal must do something first (sign on, send a pending reversal, log in).
    State(String),
    /// The card cannot be read that way, or its chip failed (what to do instead).
    Card(String),
}

impl fmt::Display for TerminalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TerminalError::Input(m) => write!(f, "input: {m}"),
            TerminalError::Config(m) => write!(f, "configuration: {m}"),
            TerminalError::SelfCheck(items) => {
                f.write_str("power-on self-check failed:")?;
                for item in items.iter().filter(|i| !i.ok) {
                    write!(f, " [{}: {} — {}]", item.item, item.detail, item.remedy)?;
                }
                Ok(())
            }
            TerminalError::Store(m) => write!(f, "journal: {m}"),
            TerminalError::Message(m) => write!(f, "message: {m}"),
            TerminalError::Security(m) => write!(f, "security: {m}"),
            TerminalError::Unreachable(m) => write!(f, "host unreachable: {m}"),
            TerminalError::State(m) => f.write_str(m),
            TerminalError::Card(m) => write!(f, "card: {m}"),
        }
    }
}

impl std::error::Error for TerminalError {}

impl From<sqlstore::Error> for TerminalError {
    fn from(error: sqlstore::Error) -> TerminalError {
        TerminalError::Store(error.to_string())
    }
}

impl From<hsm::Error> for TerminalError {
    fn from(error: hsm::Error) -> TerminalError {
        TerminalError::Security(error.to_string())
    }
}

impl sqlstore::CarriesStoreError for TerminalError {
    fn into_store_error(self) -> std::result::Result<sqlstore::Error, TerminalError> {
        Err(self)
    }
}

pub type Result<T> = std::result::Result<T, TerminalError>;

/// A codec error with the field it concerns (the codec's errors never carry values).
pub(crate) fn codec(what: &'static str) -> impl Fn(iso8583::Error) -> TerminalError {
    move |e| TerminalError::Message(format!("{what}: {e}"))
}
