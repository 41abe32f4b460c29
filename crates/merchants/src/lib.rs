//! The acquirer's merchant and terminal registry (商户申请 → 银行审核 → 开户 → 安装).
//!
//! - [`Registry::apply`] records an application and runs every automatic check (required
//!   fields, licence check character, MCC allowed, duplicate licence, duplicate account,
//!   sanctioned names), each with its outcome and reason; a failure rejects it at once.
//! - [`Registry::review`] records a reviewer's decision; [`Registry::activate`] opens the
//!   merchant: a 15-digit merchant id, a fee plan ([`fees`]), a settlement cycle, limits.
//! - [`Registry::request_account_change`] / [`Registry::review_account_change`]: a new payout
//!   account is checked and reviewed like an application; the old one pays until approval.
//! - Terminals ([`Registry::add_terminal`]) under an active merchant, with a TMK generated or
//!   imported in the HSM and stored only under the LMK; the POS host reads them with
//!   [`Registry::terminal_with_merchant`] and reports sign-ons with [`Registry::record_sign_on`]
//!   (a terminal's batch and settlement state are the POS host's own, `acquirer_terminals`).
//!
//! Storage is `sqlstore` (tables `merchants_*`, SQLite or PostgreSQL); the review trail is never
//! updated or deleted. Money is integer minor units; rates are basis points.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod config;
pub mod error;
pub mod fees;
mod hex;
pub mod licence;
pub mod limits;
mod registry;
mod store;
mod terminals;
pub mod types;

pub use config::{MerchantSettings, RegistryConfig, load_lmk_file, normalize_name};
pub use error::{MerchantError, Result};
pub use fees::{CardKind, DiscountRate, FeePlan, mdr_fee_minor};
pub use registry::{ACTOR_APPLICANT, ACTOR_OPERATOR, ACTOR_SYSTEM, Registry, change_count};
pub use terminals::validate_terminal_id;
pub use types::*;

/// Upper-case hex, for the CLI's components and encrypted keys.
pub fn hex_encode(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Hex (either case) to bytes; `None` when it is not.
pub fn hex_decode(text: &str) -> Option<Vec<u8>> {
    hex::decode(text)
}

#[cfg(test)]
mod tests {
    /// The POS host shares one registry across its blocking-pool tasks.
    #[test]
    fn registry_is_shareable() {
        fn shareable<T: Send + Sync>() {}
        shareable::<super::Registry>();
    }
}
