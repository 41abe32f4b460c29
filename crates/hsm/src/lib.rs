//! cardnet's security module.
//!
//! * [`SecurityModule`] — the operations a payment HSM offers, so a hardware or cloud HSM can
//!   be plugged in; [`SoftHsm`] implements it in software. Keys live in it as TR-31 version D
//!   key blocks under an AES-256 local master key; callers hold names and key blocks, never
//!   clear keys. [`key_cache`]: the working keys `SoftHsm` has opened, so each block is
//!   unwrapped once, with the role checks still made on every use.
//! * The algorithms themselves, on clear bytes, for the module and for `cardnet crypto` (a
//!   calculator fed test keys by a person): [`cipher`], [`kcv`], [`pinblock`], [`mac`],
//!   [`dukpt`], [`emv`], [`card`] (CVV, PVV, IBM 3624, random PINs), [`tr31`], [`data`]
//!   (authenticated encryption and keyed hashing of stored values under a DEK).
//!
//! Invariants: clear keys and PINs are [`Secret`]s — zeroized on drop, redacted in `Debug`,
//! never in errors; only this crate ever holds them in clear.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod card;
pub mod cipher;
pub mod data;
mod des_tables;
pub mod dukpt;
pub mod emv;
pub mod entropy;
pub mod error;
pub mod kcv;
pub mod key_cache;
pub mod keys;
pub mod mac;
pub mod module;
pub mod pinblock;
pub mod secret;
pub mod signon;
pub mod soft;
pub mod tr31;
pub mod track;

pub use error::{Error, Result};
pub use key_cache::{KEY_CACHE_ENTRIES_MAX, KeyCacheStats};
pub use keys::{KeyAlgorithm, KeyType, WrappedKey};
pub use module::{ArpcMethod, ArqcRequest, MacAlgorithm, PinTranslation, PinVerification, SecurityModule};
pub use secret::Secret;
pub use signon::{SignOnScheme, TerminalKeys};
pub use soft::SoftHsm;
