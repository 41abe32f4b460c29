//! The console's errors: what failed and where, never a password, a token or a card number.

use std::fmt;

#[derive(Debug)]
pub enum ConsoleError {
    /// The caller's mistake (a CLI option, a form value): exit status 2, HTTP 400.
    BadInput(String),
    /// A database or file could not be read or written.
    Failure(String),
}

impl ConsoleError {
    pub fn store(what: &str, error: impl fmt::Display) -> ConsoleError {
        ConsoleError::Failure(format!("{what}: {error}"))
    }

    pub fn is_bad_input(&self) -> bool {
        matches!(self, ConsoleError::BadInput(_))
    }
}

impl fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsoleError::BadInput(message) | ConsoleError::Failure(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ConsoleError {}
