//! Errors: what failed and where, never a bound value (values may be card data).

use std::fmt;

#[derive(Debug)]
pub struct Error {
    /// The operation: `open`, `execute`, `query`, `commit`, …
    pub operation: &'static str,
    /// The backend's message (statement text and error, no parameter values).
    pub message: String,
    unique_violation: bool,
    retryable: bool,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(operation: &'static str, message: impl Into<String>) -> Error {
        Error { operation, message: message.into(), unique_violation: false, retryable: false }
    }

    /// A typed column read failed: wrong type or NULL where a value was expected.
    pub fn column(index: usize, expected: &'static str) -> Error {
        Error::new("read column", format!("column {index}: expected {expected}"))
    }

    pub(crate) fn with_flags(mut self, unique_violation: bool, retryable: bool) -> Error {
        self.unique_violation = unique_violation;
        self.retryable = retryable;
        self
    }

    /// A UNIQUE or PRIMARY KEY constraint refused the row.
    pub fn is_unique_violation(&self) -> bool {
        self.unique_violation
    }

    /// A serialization failure or deadlock: running the transaction again may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "database {}: {}", self.operation, self.message)
    }
}

impl std::error::Error for Error {}
