//! cardnet's risk-control engine: decides, in the authorization path, whether a card
//! transaction looks like fraud — in microseconds, on the party's own machine.
//!
//! * [`window`] — O(1) sliding-window counters (count and amount) as rings of fixed buckets,
//!   1 minute to 30 days at the same cost.
//! * [`index`] — the fixed-size hash index of each table (never grows, never allocates).
//! * [`store`] — the tracked cards (by keyed PAN hash), terminals, merchants and cards at a
//!   merchant, each table bounded (`*_TRACKED_MAX`, CLOCK eviction), rebuilt from a journal
//!   by [`store::Store::replay`].
//! * [`rules`] and [`rulefile`] — the typed rule set and its TOML file, validated with
//!   errors naming the line and the rule.
//! * [`anomaly`] — per-card and per-merchant running baselines (EWMA of log-amount and of
//!   inter-arrival time, a 24-hour profile) and a z-score against them.
//! * [`engine`] — [`Engine::evaluate`] → [`Decision`], [`Engine::record`] for the issuer's
//!   answer, hot reload keeping windows.
//! * [`backtest`] — a candidate rule set against the current one over past events, read as
//!   JSON lines by [`event_file`].
//! * [`bench`] — the latency benchmark (50 rules, a million cards).
//! * [`aml`] — a day's large-value and suspicious-transaction (structuring) reports as CSV.
//! * [`cases`] and [`cases_store`] — alerts a person works (open, investigating, closed as
//!   fraud or not), with their transition table and audit trail, in the party's database.
//!
//! Invariants: no clear PAN is stored or printed (cards are [`CardKey`]s); money is integer
//! minor units (floats only inside [`anomaly`]'s statistics); every collection has a named
//! bound; evaluation reads no clock, does no I/O and does not allocate.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod aml;
pub mod anomaly;
pub mod backtest;
pub mod bench;
pub mod cases;
pub mod cases_store;
pub mod decision;
pub mod engine;
pub mod event;
pub mod event_file;
pub mod index;
pub mod key;
pub mod live;
pub mod party;
pub mod rulefile;
pub mod rules;
pub mod store;
pub mod window;

pub use decision::{Decision, FIRED_MAX, Fired, Verdict};
pub use engine::Engine;
pub use event::{Event, Outcome};
pub use key::{CardKey, KeyHasher};
pub use rulefile::{RuleFileError, parse};
pub use rules::RuleSet;
pub use store::{Entity, Store, StoreLimits};
