//! The acquirer's errors. Like every error in cardnet they name what failed, never a field
//! value, a key or a PAN.

use std::fmt;

use crate::config::ConfigError;

#[derive(Debug)]
pub enum AcquirerError {
    Config(ConfigError),
    /// The database failed; the decision it was recording did not take effect.
    Store(sqlstore::Error),
    /// The security module failed (a key that does not open, a PIN block that does not decrypt).
    Hsm(hsm::Error),
    /// A network-dialect message could not be built or read.
    Network(network::Error),
    Codec(iso8583::Error),
    /// The terminal/merchant directory (the merchants registry) failed.
    Directory(String),
    /// Starting or running the TCP server.
    Io(std::io::Error),
    /// Something the acquirer's own state should never hold (a bug, or a database edited by hand).
    Internal(String),
}

pub type Result<T> = std::result::Result<T, AcquirerError>;

impl fmt::Display for AcquirerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcquirerError::Config(error) => write!(f, "{error}"),
            AcquirerError::Store(error) => write!(f, "acquirer {error}"),
            AcquirerError::Hsm(error) => write!(f, "acquirer security module: {error}"),
            AcquirerError::Network(error) => write!(f, "acquirer network message: {error}"),
            AcquirerError::Codec(error) => write!(f, "acquirer codec: {error}"),
            AcquirerError::Directory(error) => write!(f, "acquirer terminal directory: {error}"),
            AcquirerError::Io(error) => write!(f, "acquirer i/o: {error}"),
            AcquirerError::Internal(message) => write!(f, "acquirer internal error: {message}"),
        }
    }
}

impl std::error::Error for AcquirerError {}

impl From<ConfigError> for AcquirerError {
    fn from(error: ConfigError) -> AcquirerError {
        AcquirerError::Config(error)
    }
}

impl From<sqlstore::Error> for AcquirerError {
    fn from(error: sqlstore::Error) -> AcquirerError {
        AcquirerError::Store(error)
    }
}

impl From<hsm::Error> for AcquirerError {
    fn from(error: hsm::Error) -> AcquirerError {
        AcquirerError::Hsm(error)
    }
}

impl From<network::Error> for AcquirerError {
    fn from(error: network::Error) -> AcquirerError {
        AcquirerError::Network(error)
    }
}

impl From<iso8583::Error> for AcquirerError {
    fn from(error: iso8583::Error) -> AcquirerError {
        AcquirerError::Codec(error)
    }
}

impl From<saf::SafError> for AcquirerError {
    fn from(error: saf::SafError) -> AcquirerError {
        match error {
            // A store failure stays one, so the transaction around it is retried when it can be.
            saf::SafError::Store(error) => AcquirerError::Store(error),
            // The reversal queue full (`[reversals] pending_max`), or a state it should not hold.
            other => AcquirerError::Internal(format!("network reversal queue: {other}")),
        }
    }
}

impl From<std::io::Error> for AcquirerError {
    fn from(error: std::io::Error) -> AcquirerError {
        AcquirerError::Io(error)
    }
}

impl sqlstore::CarriesStoreError for AcquirerError {
    fn into_store_error(self) -> std::result::Result<sqlstore::Error, AcquirerError> {
        match self {
            AcquirerError::Store(error) => Ok(error),
            other => Err(other),
        }
    }
}
