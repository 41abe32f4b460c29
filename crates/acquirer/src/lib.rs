//! cardnet's acquirer host (收单): the UnionPay-style POS interface toward terminals
//! (`../shared/reference/unionpay-pos-8583.md`) mapped to the network dialect toward the switch.
//! docs/acquirer.md is the manual: the POS profile, what each check answers, settlement.
//!
//! * [`config`] — [`AcquirerConfig`] (the TOML file, with the per-acquirer POS profile) and
//!   [`config::Settings`] (checked).
//! * [`engine`] — [`Acquirer`], the sans-I/O core: [`Acquirer::on_terminal_request`] → [`Step`],
//!   [`Acquirer::on_network_response`], [`Acquirer::on_network_failure`], and network reversal
//!   delivery ([`Acquirer::due_reversals`], [`Acquirer::reversal_answered`],
//!   [`Acquirer::reversal_failed`]).
//! * [`kind`] — the POS kind table ([`PosKind`], [`kind::KINDS`]): what each terminal
//!   transaction is and what the decisions ask of it.
//! * `journal` — every SQL statement of the authorization path, as typed functions; a
//!   terminal's batch and settlement state live there alone (`acquirer_terminals`).
//! * [`settlement`] — 0500 totals against the host journal, 0320 batch upload, the batch
//!   differences reconciliation reads.
//! * [`directory`] — [`TerminalDirectory`], the seam to the merchants registry, and an in-memory one.
//! * [`profile`] — the terminal MAC (field 64) and the field 62 layouts.
//! * [`risk`] — the pluggable risk hook ([`RiskCheck`]; default: the merchant's daily limit).
//! * [`server`] — the tokio driver: terminals in through `transport::Server` on the cup-pos
//!   framing, one `transport::Session` to the switch, a reversal delivery loop.
//! * [`dev`] — development configurations with fresh keys.
//!
//! Must never: answer a terminal before its request and the decision are journaled; keep a PIN
//! block, track data or a clear PAN in the journal (the PAN is masked; the network request a
//! later reversal needs is encrypted under the DEK); keep a key anywhere but as a TR-31 block
//! under the LMK; send a reversal for a transaction twice.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod acquirer_ledger;
mod answer;
pub mod config;
pub mod dev;
pub mod directory;
pub mod engine;
mod entry;
pub mod error;
mod journal;
pub mod kind;
mod known_cache;
pub mod limits;
pub mod merchant_run;
pub mod merchant_settlement;
mod merchant_store;
pub mod notice;
mod originals;
mod party;
pub mod payout;
pub mod profile;
pub mod registry;
mod reversal_delivery;
mod reversal_rules;
pub mod risk;
pub mod risk_engine;
pub mod server;
pub mod settlement;
pub mod settlement_config;
pub mod settlement_outputs;
pub mod statement;
mod store;
mod terminal_reversal;
mod track;

pub use acquirer_ledger::AcquirerLedger;
pub use clearing::BusinessDate;
pub use config::{AcquirerConfig, ConfigError, PosProfile, Settings};
pub use directory::{
    MemoryDirectory, MerchantRecord, MerchantStatus, TerminalDirectory, TerminalRecord, TerminalStatus,
};
pub use engine::{Acquirer, Forward, LinkFailure, OutboundReversal, Pending, PosKind, Reply, Step, TransactionRecord};
pub use error::AcquirerError;
pub use merchant_run::{
    MerchantPlan, Payout, SettleOptions, SettlementRun, Tie, plans_from_registry, read_clearing_file,
};
pub use merchant_settlement::{BenchReport, bench_merchant_settlement};
pub use party::SWITCH_LINK;
pub use risk::{DailyLimit, RiskAnswer, RiskCheck, RiskContext};
pub use server::{AcquirerServer, ServerOptions};
pub use settlement::{BatchDifference, BatchTotals, SettlementRecord};
pub use settlement_config::{CycleTime, SettlementConfig, Webhook};
