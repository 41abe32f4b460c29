//! The registry's error type: what failed and why, never a key, a component or a bound value
//! the caller did not type into the message themselves.

use std::fmt;

#[derive(Debug)]
pub enum MerchantError {
    /// The configuration (file or values) cannot be used.
    Config(String),
    /// A caller's input is malformed (a terminal id of 7 characters, a rate above 100 %).
    Input(String),
    /// No such application, merchant, account change or terminal.
    NotFound(String),
    /// The operation is not allowed in the record's current status (approving a rejected
    /// application, a terminal under a suspended merchant).
    State(String),
    /// The database failed.
    Database(sqlstore::Error),
    /// The security module failed or refused.
    Hsm(hsm::Error),
    /// A stored row cannot be read back (a damaged database or a bug).
    Internal(String),
}

impl MerchantError {
    /// Whether the caller's input caused it (a CLI exits 2).
    pub fn is_bad_input(&self) -> bool {
        match self {
            MerchantError::Config(_)
            | MerchantError::Input(_)
            | MerchantError::NotFound(_)
            | MerchantError::State(_) => true,
            MerchantError::Hsm(error) => error.is_bad_input(),
            MerchantError::Database(_) | MerchantError::Internal(_) => false,
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> MerchantError {
        MerchantError::Config(message.into())
    }

    pub(crate) fn input(message: impl Into<String>) -> MerchantError {
        MerchantError::Input(message.into())
    }

    pub(crate) fn not_found(message: impl Into<String>) -> MerchantError {
        MerchantError::NotFound(message.into())
    }

    pub(crate) fn state(message: impl Into<String>) -> MerchantError {
        MerchantError::State(message.into())
    }

    pub(crate) fn internal(message: impl Into<String>) -> MerchantError {
        MerchantError::Internal(message.into())
    }
}

impl fmt::Display for MerchantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MerchantError::Config(message) => write!(f, "merchant registry config: {message}"),
            MerchantError::Input(message) | MerchantError::NotFound(message) | MerchantError::State(message) => {
                f.write_str(message)
            }
            MerchantError::Database(error) => write!(f, "merchant registry database: {error}"),
            MerchantError::Hsm(error) => write!(f, "security module: {error}"),
            MerchantError::Internal(message) => write!(f, "merchant registry: {message}"),
        }
    }
}

impl std::error::Error for MerchantError {}

impl From<sqlstore::Error> for MerchantError {
    fn from(error: sqlstore::Error) -> MerchantError {
        MerchantError::Database(error)
    }
}

impl From<hsm::Error> for MerchantError {
    fn from(error: hsm::Error) -> MerchantError {
        MerchantError::Hsm(error)
    }
}

pub type Result<T, E = MerchantError> = std::result::Result<T, E>;
