//! The security module's one error type. It names what was wrong and never carries key
//! material, PINs or PANs: an error can end up in a log line.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A key of the wrong size for the algorithm.
    KeyLength { algorithm: &'static str, expected: &'static str, actual: usize },
    /// Bad caller input: what it was and why (never the value itself).
    Input { what: &'static str, why: String },
    /// The key's usage does not allow the operation (a MAC key asked to encrypt a PIN).
    KeyUsage { usage: String, operation: &'static str },
    /// A MAC, check value, cryptogram, key block MAC or PIN did not verify.
    Verification(&'static str),
    /// A key block that cannot be parsed or opened.
    KeyBlock(String),
    /// No key by this name in the module.
    UnknownKey(String),
    /// A facility the module does not offer.
    Unsupported(&'static str),
    /// An LMK file that cannot be read or written, or does not hold an LMK: the file and why
    /// (never its contents).
    LmkFile { path: std::path::PathBuf, why: String },
}

impl Error {
    pub fn input(what: &'static str, why: impl Into<String>) -> Error {
        Error::Input { what, why: why.into() }
    }

    pub fn key_length(algorithm: &'static str, expected: &'static str, actual: usize) -> Error {
        Error::KeyLength { algorithm, expected, actual }
    }

    pub fn lmk_file(path: &std::path::Path, why: impl fmt::Display) -> Error {
        Error::LmkFile { path: path.to_owned(), why: why.to_string() }
    }

    /// Whether the error was caused by the caller's input (CLI exit status 2).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Error::KeyLength { .. }
                | Error::Input { .. }
                | Error::KeyBlock(_)
                | Error::UnknownKey(_)
                | Error::LmkFile { .. }
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::KeyLength { algorithm, expected, actual } => {
                write!(f, "{algorithm} needs a key of {expected} bytes, got {actual}")
            }
            Error::Input { what, why } => write!(f, "{what}: {why}"),
            Error::KeyUsage { usage, operation } => write!(f, "a key of usage {usage} may not be used to {operation}"),
            Error::Verification(what) => write!(f, "{what} did not verify"),
            Error::KeyBlock(why) => write!(f, "key block: {why}"),
            Error::UnknownKey(name) => write!(f, "no key named {name:?}"),
            Error::Unsupported(what) => write!(f, "not supported: {what}"),
            Error::LmkFile { path, why } => write!(f, "LMK file {}: {why}", path.display()),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
