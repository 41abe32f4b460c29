//! cardnet's issuer host: the issuing bank's authorization system.
//!
//! * [`Issuer`] — the core: [`Issuer::handle`] answers the network dialect's 0100, 0120,
//!   0200, 0220, 0400, 0420 (and repeats) by docs/network-flows.md §1–3: MAC, format,
//!   duplicate, card, status, expiry, PIN, CVV/iCVV/ARQC, daily limits, funds — holds and
//!   postings in the issuer's ledger, the decision journaled before the answer. Card
//!   management: [`Issuer::issue_card`], [`Issuer::list_cards`], [`Issuer::set_status`],
//!   [`Issuer::unblock`], [`Issuer::fund`].
//! * [`linkkeys`] — the working keys of the link to the switch and the key change (0800/101)
//!   that replaces them: imported under the ZMK, checked, stored, the old key kept for a grace.
//! * [`config`] — [`IssuerConfig`] (the TOML file) and its checked form.
//! * [`server`] — the TCP driver (`transport` server, network management, hold expiry).
//! * [`dev`] — complete development configurations with fresh keys.
//!
//! One database (`sqlstore`: SQLite by default, PostgreSQL by configuration) holds the cards,
//! the journal and the ledger's tables (`ledger::sql_ledger`): a request's hold or posting and
//! its journal row are one commit ([`issuer`](crate::issuer) explains what that removed; an
//! older configuration with a separate `ledger` store is still read, with the former order).
//!
//! Invariants: PANs are stored encrypted under the DEK and found by a keyed hash; PINs only
//! as PVVs or IBM 3624 offsets; nothing clear (PAN, PIN, key) is logged or put in an error, and `Debug` shows
//! masked PANs. Nothing is answered before the journal commit that records it. Money is
//! integer minor units. A link key from the switch is used and confirmed only once its check
//! value matched and it is stored (under the LMK; the journal keeps check values only).
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod cards;
pub mod config;
pub mod dev;
mod error;
mod expiry;
pub mod issuer;
pub mod limits;
pub mod linkkeys;
pub mod money;
mod party;
mod policy;
pub mod posting;
mod posting_decide;
mod posting_file;
mod posting_store;
mod request;
mod reversal;
pub mod server;
mod store;

pub use cards::{CardRef, CardSummary, IssuedCard};
/// The shared end-of-day types posting takes (the clearing file, its records, business dates).
pub use clearing;
pub use config::{IssuerConfig, ProductConfig, ProductKind, Settings};
pub use error::{IssuerError, Result};
pub use expiry::{ExpiredHold, HeldAuthorization};
pub use issuer::{DayApproval, Issuer, JournalEntry};
pub use linkkeys::{KeyChangeEntry, KeyChangeOutcome, LinkKeyStatus};
pub use money::Balance;
pub use posting::{PostingOutcome, PostingReport, PostingResult};
pub use posting_file::check_clearing_file;
pub use store::{CardStatus, EntryState};
