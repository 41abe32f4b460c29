//! A store chosen by URL, as every party's configuration names its ledger: `sqlite:PATH` (or a
//! bare path) or `postgres://…#schema` (`public` without one). One type for the issuer's,
//! the acquirer's and the switch's ledgers.

use std::path::Path;

use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::store::{LedgerTotals, Store, StoreError, StoreResult, Txn};
use crate::types::{Account, AccountBalance, Id, TransferRecord};

/// Either of the ledger's durable stores.
pub enum UrlStore {
    Sqlite(SqliteStore),
    // Boxed: the PostgreSQL store (a client and its prepared statements) is several times the
    // size of the SQLite one.
    Postgres(Box<PostgresStore>),
}

/// Why a URL names no store (a failure to open one is a [`StoreError`]).
#[derive(Debug)]
pub enum OpenError {
    /// The URL itself: an in-memory or empty SQLite path (a ledger must survive the process).
    Url(String),
    Store(StoreError),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Url(message) => f.write_str(message),
            OpenError::Store(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for OpenError {}

impl UrlStore {
    pub fn open(url: &str) -> Result<UrlStore, OpenError> {
        if let Some(rest) = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://")) {
            let scheme_len = url.len() - rest.len();
            let (conn, schema) = match url.rsplit_once('#') {
                Some((conn, schema)) if conn.len() >= scheme_len => (conn, schema),
                _ => (url, "public"),
            };
            return Ok(UrlStore::Postgres(Box::new(PostgresStore::connect(conn, schema).map_err(OpenError::Store)?)));
        }
        let path = url.strip_prefix("sqlite:").unwrap_or(url);
        if path == ":memory:" || path.trim().is_empty() {
            return Err(OpenError::Url(
                "the ledger needs a file (sqlite:PATH) or PostgreSQL, not :memory: or nothing".into(),
            ));
        }
        Ok(UrlStore::Sqlite(SqliteStore::open(Path::new(path)).map_err(OpenError::Store)?))
    }
}

/// `$body` with `$store` bound to whichever store this is.
macro_rules! either {
    ($self:expr, $store:ident => $body:expr) => {
        match $self {
            UrlStore::Sqlite($store) => $body,
            UrlStore::Postgres($store) => $body,
        }
    };
}

impl Store for UrlStore {
    fn transact<T>(&mut self, work: &mut dyn FnMut(&mut dyn Txn) -> StoreResult<T>) -> StoreResult<T> {
        either!(self, store => store.transact(work))
    }

    fn lookup_accounts(&mut self, ids: &[Id]) -> StoreResult<Vec<Account>> {
        either!(self, store => store.lookup_accounts(ids))
    }

    fn lookup_transfers(&mut self, ids: &[Id]) -> StoreResult<Vec<TransferRecord>> {
        either!(self, store => store.lookup_transfers(ids))
    }

    fn account_transfers(&mut self, account: Id, limit: usize) -> StoreResult<Vec<TransferRecord>> {
        either!(self, store => store.account_transfers(account, limit))
    }

    fn account_balances(&mut self, account: Id, limit: usize) -> StoreResult<Vec<AccountBalance>> {
        either!(self, store => store.account_balances(account, limit))
    }

    fn max_timestamp(&mut self) -> StoreResult<u64> {
        either!(self, store => store.max_timestamp())
    }

    fn ledger_totals(&mut self) -> StoreResult<Vec<LedgerTotals>> {
        either!(self, store => store.ledger_totals())
    }

    fn pending_resolved_more_than_once(&mut self) -> StoreResult<u64> {
        either!(self, store => store.pending_resolved_more_than_once())
    }
}
