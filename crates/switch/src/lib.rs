//! cardnet's network switch (转接): routes acquirers' requests to issuers by BIN, translates
//! PIN blocks and MACs between zones, stands in for an issuer that cannot answer, and delivers
//! advices (reversals, stand-in advices) until acknowledged. docs/network-flows.md §4 fixes the
//! conventions.
//!
//! * [`config`] — [`SwitchConfig`] (the TOML file) and [`config::Directory`] (members, keys and the
//!   BIN table, checked).
//! * [`engine`] — [`Switch`], the sans-I/O core: [`Switch::on_request`] → [`Step`],
//!   [`Switch::on_issuer_response`], [`Switch::on_issuer_failure`], and advice delivery
//!   ([`Switch::due_advices`], [`Switch::advice_answered`], [`Switch::advice_failed`]).
//! * [`journal`] — every message and every transaction, durable before the acquirer hears back;
//!   clearing reads it through [`clearing_records`].
//! * [`linkkeys`] — the working keys of the issuer links and the key change (0800/101) the switch
//!   initiates: [`Switch::begin_key_change`], [`Switch::key_change_answered`]; the old key is
//!   accepted for a grace period, the newest key survives restarts.
//! * advices wait in the one store-and-forward queue, `saf::SqlQueue`, in table `switch_saf` of
//!   the switch's database (SQLite or PostgreSQL), queued in the decision's transaction.
//! * [`server`] — the tokio driver: acquirers in through `transport::Server`, one
//!   `transport::Session` per issuer, a delivery loop per issuer, a key change task per issuer
//!   (`key_change_interval_ms`, and unanswered changes offered again), and
//!   [`SwitchServer::change_key`] on demand.
//! * [`dev`] — development set-ups with fresh keys under one LMK.
//!
//! Must never: answer an acquirer before the decision is journaled; store a PIN block, track
//! data or a clear PAN (the journal keeps the masked PAN and a keyed card hash; queued advices,
//! which must carry the PAN to the issuer, are encrypted under the switch's DEK); queue one
//! reversal twice; let an advice overtake an older one to the same issuer; use a new link key
//! before the issuer confirmed it (0810 with 00 and its check value) and it is stored; keep a
//! key anywhere but as a TR-31 block under the LMK.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod business_date;
pub mod cardkey;
pub mod clearing_files;
pub mod clearing_records;
pub mod config;
mod cutover;
pub mod dev;
pub mod disputes;
pub mod engine;
mod eod;
pub mod eod_config;
pub mod error;
pub mod journal;
pub mod limits;
pub mod linkkeys;
mod party;
mod reversal_rules;
pub mod server;
pub mod settlement;
mod store;

pub use business_date::{CloseOutcome, DateStatus};
pub use clearing::BusinessDate;
pub use clearing_records::ClearingRecords;
pub use config::{BinConfig, ConfigError, Directory, SwitchConfig};
pub use engine::{AdviceOutcome, Forward, LinkFailure, OutboundAdvice, PendingExchange, Reply, Step, Switch};
pub use eod_config::CardKindConfig;
pub use error::SwitchError;
pub use journal::Journal;
pub use linkkeys::{KeyChangeOutcome, KeyChangeRecord, KeyChangeRequest, LinkKeyStatus, WorkingKey};
pub use server::{ServerOptions, SwitchServer};
