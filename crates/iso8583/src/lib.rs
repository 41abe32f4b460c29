//! cardnet's ISO 8583 codec.
//!
//! * Specs are data ([`Spec`]): field types, lengths, encodings, padding, bitmaps, subfield
//!   layouts and masks, written in TOML or JSON. Three are built in ([`builtin`]).
//! * [`Message`] holds an MTI and field values, with typed get/set by field number and by path
//!   (`60.1`, `55.9F26`).
//! * [`codec`] turns bodies into messages and back; [`framing`] handles length prefixes, the
//!   UnionPay TPDU and headers.
//! * [`dump`] and [`json`] render messages for people and tools, masked unless asked not to.
//!
//! Invariants: the codec does no I/O; decoding never panics and never allocates more than a
//! small multiple of [`limits::MESSAGE_BYTES_MAX`]; errors name the field, the byte offset and
//! the reason, and never carry field values.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod builtin;
pub mod charset;
pub mod codec;
pub mod dump;
pub mod ebcdic;
pub mod emv;
pub mod error;
mod field;
pub mod framing;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod hex;
pub mod json;
mod layout;
pub mod limits;
pub mod mask;
mod message;
pub mod mti;
pub mod path;
pub mod spec;
pub mod tlv;

pub use codec::{decode, decode_framed, encode_framed, encode_framed_into};
pub use error::{Error, Location, Reason, Result};
pub use framing::{Envelope, Framing, Header, ProcessingRequirement, Tpdu};
pub use message::{Message, Resolved};
pub use mti::Mti;
pub use path::Path;
pub use spec::Spec;
