//! Errors name the field and what is wrong with it, never its value.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A field the message needs is absent.
    Missing { field: u8 },
    /// A field is present but not usable: `reason` says why.
    Invalid { field: u8, reason: &'static str },
    /// The MTI is not one this operation handles.
    UnexpectedMti { mti: String },
    /// The MAC in 128 does not verify (or 128 is absent).
    Mac,
    /// The codec refused a value we built (a bug, or a spec without the field).
    Codec(String),
    /// The security module failed for a reason other than a bad MAC.
    Hsm(String),
    /// A value is not valid for its domain type (which type, why; never the value).
    Value(domain::ParseError),
}

pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Missing { field } => write!(f, "field {field} is missing"),
            Error::Invalid { field, reason } => write!(f, "field {field}: {reason}"),
            Error::UnexpectedMti { mti } => write!(f, "MTI {mti} is not handled here"),
            Error::Mac => f.write_str("MAC (field 128) does not verify"),
            Error::Codec(message) => write!(f, "codec: {message}"),
            Error::Hsm(message) => write!(f, "security module: {message}"),
            Error::Value(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<domain::ParseError> for Error {
    fn from(error: domain::ParseError) -> Error {
        Error::Value(error)
    }
}

impl From<iso8583::Error> for Error {
    fn from(error: iso8583::Error) -> Error {
        Error::Codec(error.to_string())
    }
}

/// Field `field` as text, or [`Error::Missing`].
pub(crate) fn required(message: &iso8583::Message, field: u8) -> Result<&str> {
    message.get_str(field).ok_or(Error::Missing { field })
}
