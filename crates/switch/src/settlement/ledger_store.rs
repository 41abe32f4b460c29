//! The switch's settlement ledger: the `ledger` crate on SQLite or PostgreSQL, chosen by the
//! `ledger` URL of the switch's configuration (as the issuer opens its own).

use std::sync::Arc;

use clock::{Clock, SystemClock};
use ledger::Ledger;

use super::SettlementError;

/// The settlement ledger's store, chosen by the `ledger` URL.
pub type LedgerStore = ledger::UrlStore;

fn open_store(url: &str) -> Result<LedgerStore, SettlementError> {
    ledger::UrlStore::open(url).map_err(|e| match e {
        ledger::OpenError::Url(message) => SettlementError::Input(format!("the settlement ledger: {message}")),
        ledger::OpenError::Store(error) => SettlementError::Ledger(format!("opening the settlement ledger: {error}")),
    })
}

/// The clock that stamps the ledger's transfers (the business date, not the clock, decides
/// what a transfer settles; tests hand in theirs).
#[derive(Clone)]
pub struct LedgerClock(pub Arc<dyn Clock>);

impl Clock for LedgerClock {
    fn now_ns(&self) -> u64 {
        self.0.now_ns()
    }
}

/// The settlement ledger as `settle` uses it.
pub type SettlementLedger = Ledger<LedgerStore, LedgerClock>;

/// Open the settlement ledger at `url` with the system clock.
pub fn open_ledger(url: &str) -> Result<SettlementLedger, SettlementError> {
    open_ledger_with_clock(url, Arc::new(SystemClock))
}

pub fn open_ledger_with_clock(url: &str, clock: Arc<dyn Clock>) -> Result<SettlementLedger, SettlementError> {
    let store = open_store(url)?;
    Ledger::open(store, LedgerClock(clock))
        .map_err(|e| SettlementError::Ledger(format!("opening the settlement ledger: {e}")))
}
