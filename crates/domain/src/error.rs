//! The one error of every constructor: which type refused and why, never the value.

use std::fmt;

/// A text or number that is not a valid value of a domain type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    /// The type or field refused: `"PAN"`, `"STAN"`, `"terminal id"`, ...
    pub what: &'static str,
    /// Why: `"must be 12 to 19 digits"`, ...
    pub reason: &'static str,
}

impl ParseError {
    pub(crate) const fn new(what: &'static str, reason: &'static str) -> ParseError {
        ParseError { what, reason }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.reason)
    }
}

impl std::error::Error for ParseError {}
