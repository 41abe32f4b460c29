//! Reconciliation (对账) for one business date, four ways: terminal batches ↔ acquirer journal
//! ↔ network clearing ↔ issuer posting, and the settlement bank's statement against the net
//! positions.
//!
//! **For adapters.** Read each party's rows into the compact records of [`source`] (each has a
//! `TryFrom` from its string form: [`TerminalRow`], [`AcquirerRow`], [`IssuerRow`], and
//! `&clearing::ClearingRecord` for [`ClearingItem`]; [`StatementLine::parse`]), put them in
//! [`Sources`], and call [`reconcile`] with a [`Config`]. The [`Outcome`] has the [`Summary`],
//! the [`Exception`]s in a stable order, and the statement's drifts; [`write_csv`],
//! [`write_jsonl`] and [`summary_json`] print them; [`apply_resolutions`] turns the money
//! resolutions into the next date's clearing records.
//!
//! **How.** Set-based: each source sorted once by its key, neighbours merged ([`join`]); a row
//! missing at one party is bridged by (terminal, RRN) so it still makes one chain; dependents
//! linked to originals; each transaction classified by the rules in [`classify`]. No query and
//! no allocation per record.
//!
//! **Testing.** [`generate`] makes synthetic days with known truth and injected faults of every
//! class; [`bench()`] times a day of any size.

pub mod balance;
pub mod bench;
pub mod classify;
pub mod engine;
pub mod exception;
pub mod faults;
pub mod generate;
pub mod join;
pub mod keys;
pub mod output;
pub mod resolve;
pub mod rng;
pub mod source;

pub use balance::{BalanceDrift, MemberTotals, add_records, compare, member_totals, net_positions};
pub use bench::{BenchReport, bench};
pub use engine::{Config, Outcome, ReconError, SourceTotals, Summary, reconcile};
pub use exception::{Class, Exception, Party, Resolution};
pub use faults::{Fault, FaultKind};
pub use generate::{Day, DaySpec, generate};
pub use keys::{KeyError, LegKey, Rrn, TerminalId, TerminalKey};
pub use output::{CSV_HEADER, summary_json, write_csv, write_jsonl};
pub use resolve::apply_resolutions;
pub use source::{
    AcquirerRecord, AcquirerRow, ClearingItem, IssuerRecord, IssuerRow, Sources, State, StatementLine, TerminalRecord,
    TerminalRow,
};
