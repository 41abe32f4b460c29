//! The issuer host's error type: what failed, never a PAN, PIN or key.

use std::fmt;

#[derive(Debug)]
pub enum IssuerError {
    /// The configuration (file or values) cannot be used.
    Config(String),
    /// A caller's input is wrong (an unknown product, a PAN that is no card of ours).
    Input(String),
    /// No such card.
    UnknownCard,
    /// The card database failed.
    Database(sqlstore::Error),
    /// The ledger failed or refused an operation the issuer relies on.
    Ledger(String),
    /// The security module failed.
    Hsm(hsm::Error),
    /// A message the host built or stored does not encode or decode (a bug, or a damaged
    /// journal): what and why, never field values.
    Internal(String),
    Io(std::io::Error),
}

impl IssuerError {
    /// Whether the caller's input caused it (a CLI exits 2).
    pub fn is_bad_input(&self) -> bool {
        matches!(self, IssuerError::Config(_) | IssuerError::Input(_) | IssuerError::UnknownCard)
    }

    pub(crate) fn config(message: impl Into<String>) -> IssuerError {
        IssuerError::Config(message.into())
    }

    pub(crate) fn input(message: impl Into<String>) -> IssuerError {
        IssuerError::Input(message.into())
    }
}

impl fmt::Display for IssuerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IssuerError::Config(message) => write!(f, "issuer config: {message}"),
            IssuerError::Input(message) => f.write_str(message),
            IssuerError::UnknownCard => f.write_str("no such card"),
            IssuerError::Database(error) => write!(f, "issuer database: {error}"),
            IssuerError::Ledger(message) => write!(f, "issuer ledger: {message}"),
            IssuerError::Hsm(error) => write!(f, "security module: {error}"),
            IssuerError::Internal(message) => write!(f, "issuer: {message}"),
            IssuerError::Io(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for IssuerError {}

impl From<sqlstore::Error> for IssuerError {
    fn from(error: sqlstore::Error) -> IssuerError {
        IssuerError::Database(error)
    }
}

/// A database error inside a request's transaction goes back to `sqlstore` as it is (so a
/// PostgreSQL serialization failure runs the request again); any other error rolls back.
impl sqlstore::CarriesStoreError for IssuerError {
    fn into_store_error(self) -> std::result::Result<sqlstore::Error, IssuerError> {
        match self {
            IssuerError::Database(error) => Ok(error),
            other => Err(other),
        }
    }
}

impl From<hsm::Error> for IssuerError {
    fn from(error: hsm::Error) -> IssuerError {
        IssuerError::Hsm(error)
    }
}

impl From<ledger::LedgerError> for IssuerError {
    fn from(error: ledger::LedgerError) -> IssuerError {
        IssuerError::Ledger(error.to_string())
    }
}

impl From<ledger::StoreError> for IssuerError {
    fn from(error: ledger::StoreError) -> IssuerError {
        IssuerError::Ledger(error.to_string())
    }
}

impl From<std::io::Error> for IssuerError {
    fn from(error: std::io::Error) -> IssuerError {
        IssuerError::Io(error)
    }
}

pub type Result<T, E = IssuerError> = std::result::Result<T, E>;
