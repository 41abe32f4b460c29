//! The switch's errors. Like every error in cardnet they name what failed, never a field value,
//! a key or a PAN.

use std::fmt;

use crate::config::ConfigError;

#[derive(Debug)]
pub enum SwitchError {
    Config(ConfigError),
    /// The database failed; the decision it was recording did not take effect.
    Store(sqlstore::Error),
    /// The advice queue refused (full, or a value out of range).
    Queue(saf::SafError),
    /// The security module failed (a key that does not open, a PIN block that does not decrypt).
    Hsm(hsm::Error),
    /// A message could not be built or read as the network dialect requires.
    Network(network::Error),
    Codec(iso8583::Error),
    /// Starting or running the TCP server.
    Io(std::io::Error),
    /// The session to this issuer is not signed on (or there is none): nothing was sent.
    LinkDown(String),
    /// Something the switch's own state should never hold (a bug, or a database edited by hand).
    Internal(String),
}

impl fmt::Display for SwitchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SwitchError::Config(error) => write!(f, "{error}"),
            SwitchError::Store(error) => write!(f, "switch {error}"),
            SwitchError::Queue(error) => write!(f, "switch advice queue: {error}"),
            SwitchError::Hsm(error) => write!(f, "switch security module: {error}"),
            SwitchError::Network(error) => write!(f, "switch message: {error}"),
            SwitchError::Codec(error) => write!(f, "switch codec: {error}"),
            SwitchError::Io(error) => write!(f, "switch i/o: {error}"),
            SwitchError::LinkDown(issuer) => write!(f, "switch: the link to issuer {issuer} is not signed on"),
            SwitchError::Internal(message) => write!(f, "switch internal error: {message}"),
        }
    }
}

impl std::error::Error for SwitchError {}

impl From<ConfigError> for SwitchError {
    fn from(error: ConfigError) -> SwitchError {
        SwitchError::Config(error)
    }
}

impl From<sqlstore::Error> for SwitchError {
    fn from(error: sqlstore::Error) -> SwitchError {
        SwitchError::Store(error)
    }
}

impl From<saf::SafError> for SwitchError {
    fn from(error: saf::SafError) -> SwitchError {
        match error {
            // A store failure stays one, so the transaction around it is retried when it can be.
            saf::SafError::Store(error) => SwitchError::Store(error),
            other => SwitchError::Queue(other),
        }
    }
}

impl From<hsm::Error> for SwitchError {
    fn from(error: hsm::Error) -> SwitchError {
        SwitchError::Hsm(error)
    }
}

impl From<network::Error> for SwitchError {
    fn from(error: network::Error) -> SwitchError {
        SwitchError::Network(error)
    }
}

impl From<iso8583::Error> for SwitchError {
    fn from(error: iso8583::Error) -> SwitchError {
        SwitchError::Codec(error)
    }
}

impl From<std::io::Error> for SwitchError {
    fn from(error: std::io::Error) -> SwitchError {
        SwitchError::Io(error)
    }
}

impl sqlstore::CarriesStoreError for SwitchError {
    fn into_store_error(self) -> std::result::Result<sqlstore::Error, SwitchError> {
        match self {
            SwitchError::Store(error) => Ok(error),
            other => Err(other),
        }
    }
}
