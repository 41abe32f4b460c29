//! The types every party, journal and end-of-day step shares, so that a card number, a trace
//! number or an amount means one thing across crate boundaries instead of a `String` each
//! crate checks (or forgets to check) on its own. One idea per file; std only.
//!
//! * [`Pan`] — a card number, 12–19 digits; `Debug` and `Display` show it masked.
//! * [`Stan`], [`Rrn`], [`TerminalId`], [`MerchantId`], [`InstitutionId`] — the identifiers
//!   of fields 11, 37, 41, 42 and 32/33/100, held inline (no allocation).
//! * [`ResponseCode`] — field 39 with its named codes and their meanings.
//! * [`Currency`], [`Money`] — ISO 4217 numeric code and exponent; integer minor units.
//! * [`TransactionKind`], [`EntryMode`] — which transaction, how the card was read.
//!
//! Every constructor checks its input and its error ([`ParseError`]) names the type and the
//! problem, never the value (a value may be a card number).
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod currency;
mod entry_mode;
mod error;
mod ids;
mod kind;
mod money;
mod pan;
mod response_code;
mod stan;
mod text;

pub use currency::Currency;
pub use entry_mode::EntryMode;
pub use error::ParseError;
pub use ids::{InstitutionId, MerchantId, Rrn, TerminalId};
pub use kind::TransactionKind;
pub use money::Money;
pub use pan::{FREE_TEXT_PAN_DIGITS, MaskedPan, PAN_DIGITS_MAX, PAN_DIGITS_MIN, Pan, mask_card_numbers};
pub use response_code::ResponseCode;
pub use stan::{STAN_MAX, Stan, StanText};
