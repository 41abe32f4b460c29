//! cardnet's double-entry ledger, with TigerBeetle's semantics (ledger-clearing-anchors.md §1):
//! accounts with debit/credit balances pending and posted, transfers that move one amount from
//! one account to another in one ledger (currency), two-phase transfers (pending → post, partial
//! post, void, expiry), linked chains, balancing transfers, limit flags, idempotent resubmission,
//! and a batch API that answers per event.
//!
//! * [`Ledger`] — the batch API over a [`Store`] and a [`Clock`].
//! * [`store`] — the storage seam; [`sqlite`] (the embedded default), [`postgres`] and
//!   [`memory`] implement it, and [`sql_txn`] over a party's own `sqlstore` transaction.
//! * [`sql_ledger`] — the ledger's tables inside a party's `sqlstore` database: the engine run
//!   in the caller's transaction (`create_transfers_in` and friends: the party's rows and the
//!   ledger's commit together), and [`sql_ledger::SqlStore`] for the batch API over them.
//! * [`invariants`] — the check that money was neither lost nor invented.
//!
//! Invariants: a batch is one transaction, and its results are returned only after it commits
//! (inside a caller's transaction, `sql_ledger::*_in`: they are final when the caller commits);
//! an event is applied at most once (its id is the idempotency key); every pending transfer is
//! resolved (posted, voided or expired) at most once; per ledger, debits equal credits.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod engine;
pub mod invariants;
mod ledger;
pub mod memory;
pub mod postgres;
pub mod results;
pub mod sql_ledger;
pub mod sql_txn;
pub mod sqlite;
pub mod store;
pub mod types;
pub mod url_store;

pub use ledger::{Clock, EXPIRY_BATCH_MAX, Ledger, LedgerError, LedgerResult, ManualClock, SystemClock};
pub use results::{CreateAccountResult, CreateTransferResult};
pub use store::{LedgerTotals, Store, StoreError, StoreResult, Txn};
pub use types::*;
pub use url_store::{OpenError, UrlStore};
