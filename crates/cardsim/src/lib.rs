//! Simulated cards (issue 7): what a cardholder hands the terminal, and what the terminal's
//! reader asks of it.
//!
//! * [`SimCard`] (`card.rs`): a card as the issuer personalised it — number, expiry, the
//!   magnetic stripe's track 2 (with the CVV), and, for a chip card, the chip's track 2
//!   equivalent (with the iCVV), PAN sequence number, ICC master key for AC and application
//!   transaction counter (ATC). Loaded from the *card file* `cardnet issuer card issue --json`
//!   prints (`card_file.rs`); a card loaded from a file writes its ATC back to it before every
//!   cryptogram leaves the chip (under a lock on a sidecar `.NAME.lock` file), so the next run —
//!   or another one using the same file at the same time — continues the count (the issuer
//!   refuses an ATC at or below the highest it has seen).
//! * [`ChipCard`] (`chip.rs`): the two commands a reader sends an EMV chip in an online
//!   transaction — GENERATE AC (first: the ARQC over the terminal's CDOL1 data, field 55 as
//!   the issuer reads it, [`network::emv::ARQC_DATA_TAGS`]) and EXTERNAL AUTHENTICATE (the
//!   issuer's ARPC from tag 91). [`SimCard`] implements it with the EMV common session key
//!   (`hsm::emv::Scheme::Common`, PBOC style) and ARPC method 1; tests implement it to play a
//!   card that refuses the issuer.
//!
//! # Keys
//!
//! A card is its own secure element. The simulated chip's ICC master key came out of the
//! issuer's security module once, at personalisation
//! (`SecurityModule::personalise_icc_master_key`), and lives in the card file (owner-only) and
//! in a zeroized [`hsm::Secret`] while the card is in use; `Debug` shows the masked number
//! only. The PIN in the card file is the PIN mailer's: the cardholder's knowledge, which a test
//! types (or mistypes) at the PIN pad.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod card;
mod card_file;
pub mod chip;

pub use card::SimCard;
pub use chip::{ChipCard, TerminalData, TransactionType};

use std::fmt;

/// What went wrong, naming the step or the field, never card data or keys.
#[derive(Debug)]
pub enum CardError {
    /// The card has no chip (a stripe-only card inserted or tapped).
    NoChip,
    /// The chip does not answer the reader: the terminal may fall back to the stripe.
    ChipUnreadable,
    /// The card file cannot be used: which field, and why.
    File(String),
    /// What the terminal passed the chip does not fit its data element.
    Input(&'static str),
    /// A cryptographic step failed (never the key).
    Security(String),
}

impl fmt::Display for CardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CardError::NoChip => f.write_str("the card has no chip: swipe it"),
            CardError::ChipUnreadable => f.write_str("the chip cannot be read: swipe the card (fallback)"),
            CardError::File(m) => write!(f, "card file: {m}"),
            CardError::Input(what) => write!(f, "bad terminal data for the chip: {what}"),
            CardError::Security(m) => write!(f, "chip: {m}"),
        }
    }
}

impl std::error::Error for CardError {}

impl From<hsm::Error> for CardError {
    fn from(error: hsm::Error) -> CardError {
        CardError::Security(error.to_string())
    }
}

pub type Result<T> = std::result::Result<T, CardError>;
