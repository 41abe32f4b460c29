//! One error type for decoding, encoding, validation and path access.
//!
//! An error says *where* (which field or subfield, and for decoding the byte offset into the
//! input) and *why*. It never carries field values: a PAN or PIN block must not leak into a log
//! line through an error message.

use std::fmt;

/// Which part of a message an error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A framing layer, e.g. `length prefix`, `TPDU`, `header`.
    Frame(&'static str),
    Mti,
    /// Bitmap number 1, 2 or 3.
    Bitmap(u8),
    Field(u8),
    /// A subfield or TLV tag path such as `60.1` or `55.9F26`.
    Path(String),
    /// A subfield found while checking a field against its layout: field number and item id.
    Subfield(u8, String),
    /// The message as a whole (e.g. trailing bytes, overall size).
    Message,
    /// A spec being loaded or compiled.
    Spec(String),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Frame(layer) => write!(f, "{layer}"),
            Location::Mti => write!(f, "MTI"),
            Location::Bitmap(n) => write!(f, "bitmap {n}"),
            Location::Field(n) => write!(f, "field {n}"),
            Location::Path(path) => write!(f, "field {path}"),
            Location::Subfield(field, id) => write!(f, "field {field}.{id}"),
            Location::Message => write!(f, "message"),
            Location::Spec(what) => write!(f, "spec {what}"),
        }
    }
}

/// Why something failed. Variants hold sizes and positions, never data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Truncated { needed: usize, available: usize },
    TooLong { length: usize, max: usize },
    LengthMismatch { expected: usize, actual: usize },
    BadLengthPrefix,
    NotBcd { nibble_index: usize },
    BadPadNibble { expected: u8 },
    BadCharacter { index: usize, expected: &'static str },
    UndefinedField,
    BitmapNotAllowed,
    TrailingBytes { count: usize },
    TlvTruncated,
    TlvBadLength,
    TlvTooDeep,
    TlvTooMany,
    NoSuchPath,
    NotAllowed(&'static str),
    Invalid(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Truncated { needed, available } => {
                write!(f, "truncated: needs {needed} bytes, {available} left")
            }
            Reason::TooLong { length, max } => write!(f, "length {length} exceeds maximum {max}"),
            Reason::LengthMismatch { expected, actual } => {
                write!(f, "length {actual} but the spec requires exactly {expected}")
            }
            Reason::BadLengthPrefix => write!(f, "length prefix is not a decimal number"),
            Reason::NotBcd { nibble_index } => {
                write!(f, "nibble {nibble_index} is not a BCD digit")
            }
            Reason::BadPadNibble { expected } => {
                write!(f, "pad nibble is not {expected:X}")
            }
            Reason::BadCharacter { index, expected } => {
                write!(f, "character {index} is not {expected}")
            }
            Reason::UndefinedField => write!(f, "present in the bitmap but not defined by the spec"),
            Reason::BitmapNotAllowed => write!(f, "further bitmap not allowed by the spec"),
            Reason::TrailingBytes { count } => write!(f, "{count} bytes after the last field"),
            Reason::TlvTruncated => write!(f, "TLV element runs past the end of the field"),
            Reason::TlvBadLength => write!(f, "TLV length encoding is invalid"),
            Reason::TlvTooDeep => write!(f, "TLV templates nested too deeply"),
            Reason::TlvTooMany => write!(f, "too many TLV elements"),
            Reason::NoSuchPath => write!(f, "no such field or subfield in the spec"),
            Reason::NotAllowed(why) => write!(f, "{why}"),
            Reason::Invalid(why) => write!(f, "{why}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub location: Location,
    /// Byte offset into the decoded input (or into the field value for subfield errors).
    pub offset: Option<usize>,
    pub reason: Reason,
}

impl Error {
    pub fn new(location: Location, offset: Option<usize>, reason: Reason) -> Error {
        Error { location, offset, reason }
    }

    pub fn at(location: Location, offset: usize, reason: Reason) -> Error {
        Error::new(location, Some(offset), reason)
    }

    pub fn field(field: u8, reason: Reason) -> Error {
        Error::new(Location::Field(field), None, reason)
    }

    pub fn path(path: &str, reason: Reason) -> Error {
        Error::new(Location::Path(path.to_owned()), None, reason)
    }

    pub fn spec(what: impl Into<String>, why: impl Into<String>) -> Error {
        Error::new(Location::Spec(what.into()), None, Reason::Invalid(why.into()))
    }

    /// Shift the offset by `base`: used when an inner decoder worked on a sub-slice.
    pub fn offset_by(mut self, base: usize) -> Error {
        self.offset = Some(self.offset.unwrap_or(0) + base);
        self
    }

    pub fn with_location(mut self, location: Location) -> Error {
        self.location = location;
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(offset) => write!(f, "{} at byte {}: {}", self.location, offset, self.reason),
            None => write!(f, "{}: {}", self.location, self.reason),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
