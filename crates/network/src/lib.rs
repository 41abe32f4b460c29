//! The network dialect in use: what the acquirer, the switch and the issuer share about the
//! messages they exchange (docs/network-spec.md for the fields, docs/network-flows.md for the
//! transactions). Plain functions over `iso8583::Message`; no I/O, no state.
//!
//! * [`codes`] — response codes (field 39) with their meaning.
//! * [`mac`] — field 128: ANSI X9.19 over the message body, through the HSM.
//! * [`kind`] — which transaction a message is (processing code, MTI, condition code).
//! * [`original`] — field 90, original data elements, per leg.
//! * [`track2`] — track 2 (field 35) read into PAN, expiry, service code, discretionary data.
//! * [`balance`] — field 54 additional amounts.
//! * [`time`] — fields 7, 12, 13, 15 from a clock reading; [`time::StanGenerator`].
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod balance;
pub mod codes;
pub mod emv;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod kind;
pub mod mac;
pub mod original;
pub mod request;
pub mod time;
pub mod track2;

pub use error::{Error, Result};
pub use kind::{TransactionKind, classify};
pub use original::OriginalData;
pub use time::{StanGenerator, settlement_date, transmission_time};
pub use track2::Track2;
