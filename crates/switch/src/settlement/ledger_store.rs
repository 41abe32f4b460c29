//! The switch's settlement ledger: the `ledger` crate on SQLite or PostgreSQL, chosen by the
//! `ledger` URL of the switch's configuration (as the issuer opens its own).

use std::path::Path;
use std::sync::Arc;

use clock::{Clock, SystemClock};
use ledger::postgres::PostgresStore;
use ledger::sqlite::SqliteStore;
use ledger::{Account, AccountBalance, Id, Ledger, LedgerTotals, Store, StoreResult, TransferRecord, Txn};

use super::SettlementError;

/// Either of the ledger's stores, chosen by URL.
pub enum LedgerStore {
    Sqlite(SqliteStore),
    // Boxed: the PostgreSQL store (a client and its prepared statements) is several times the
    // size of the SQLite one.
    Postgres(Box<PostgresStore>),
}

impl LedgerStore {
    /// `sqlite:PATH` (or a bare path) or `postgres://…#schema` (`public` without one).
    pub fn open(url: &str) -> Result<LedgerStore, SettlementError> {
        let failed = |e: ledger::StoreError| SettlementError::Ledger(format!("opening the settlement ledger: {e}"));
        if let Some(rest) = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://")) {
            let scheme_len = url.len() - rest.len();
            let (conn, schema) = match url.rsplit_once('#') {
                Some((conn, schema)) if conn.len() >= scheme_len => (conn, schema),
                _ => (url, "public"),
            };
            return Ok(LedgerStore::Postgres(Box::new(PostgresStore::connect(conn, schema).map_err(failed)?)));
        }
        let path = url.strip_prefix("sqlite:").unwrap_or(url);
        if path == ":memory:" || path.trim().is_empty() {
            return Err(SettlementError::Input(
                "the settlement ledger needs a file (sqlite:PATH) or PostgreSQL, not :memory: or nothing".into(),
            ));
        }
        Ok(LedgerStore::Sqlite(SqliteStore::open(Path::new(path)).map_err(failed)?))
    }
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
    let store = LedgerStore::open(url)?;
    Ledger::open(store, LedgerClock(clock))
        .map_err(|e| SettlementError::Ledger(format!("opening the settlement ledger: {e}")))
}

impl Store for LedgerStore {
    fn transact<T>(&mut self, work: &mut dyn FnMut(&mut dyn Txn) -> StoreResult<T>) -> StoreResult<T> {
        match self {
            LedgerStore::Sqlite(store) => store.transact(work),
            LedgerStore::Postgres(store) => store.transact(work),
        }
    }

    fn lookup_accounts(&mut self, ids: &[Id]) -> StoreResult<Vec<Account>> {
        match self {
            LedgerStore::Sqlite(store) => store.lookup_accounts(ids),
            LedgerStore::Postgres(store) => store.lookup_accounts(ids),
        }
    }

    fn lookup_transfers(&mut self, ids: &[Id]) -> StoreResult<Vec<TransferRecord>> {
        match self {
            LedgerStore::Sqlite(store) => store.lookup_transfers(ids),
            LedgerStore::Postgres(store) => store.lookup_transfers(ids),
        }
    }

    fn account_transfers(&mut self, account: Id, limit: usize) -> StoreResult<Vec<TransferRecord>> {
        match self {
            LedgerStore::Sqlite(store) => store.account_transfers(account, limit),
            LedgerStore::Postgres(store) => store.account_transfers(account, limit),
        }
    }

    fn account_balances(&mut self, account: Id, limit: usize) -> StoreResult<Vec<AccountBalance>> {
        match self {
            LedgerStore::Sqlite(store) => store.account_balances(account, limit),
            LedgerStore::Postgres(store) => store.account_balances(account, limit),
        }
    }

    fn max_timestamp(&mut self) -> StoreResult<u64> {
        match self {
            LedgerStore::Sqlite(store) => store.max_timestamp(),
            LedgerStore::Postgres(store) => store.max_timestamp(),
        }
    }

    fn ledger_totals(&mut self) -> StoreResult<Vec<LedgerTotals>> {
        match self {
            LedgerStore::Sqlite(store) => store.ledger_totals(),
            LedgerStore::Postgres(store) => store.ledger_totals(),
        }
    }

    fn pending_resolved_more_than_once(&mut self) -> StoreResult<u64> {
        match self {
            LedgerStore::Sqlite(store) => store.pending_resolved_more_than_once(),
            LedgerStore::Postgres(store) => store.pending_resolved_more_than_once(),
        }
    }
}
