//! Standing up a cardnet network: what an operator does before the first transaction.
//!
//! * [`layout`]: who is who — the switch, the acquirer and two issuer banks, their institution
//!   ids, BINs and currency, and where each listens ([`layout::Ports`]).
//! * [`ceremony`]: the key ceremony — every link's zone keys (ZMK, ZPK, ZAK), the switch's DEK,
//!   each issuer's PVK, CVK, IMK-AC and DEK — and each party's configuration built on them.
//! * [`files`]: the network written out, one owner-only file per party, for `cardnet serve`
//!   (`cardnet network init`).
//! * [`local`]: the whole network in this process on the parties' production servers
//!   (`cardnet demo`, `cardnet bench network`); [`acquirer_host`] adds the acquirer host with a
//!   merchant and its terminal installed (the development set-ups), [`link`] is an acquirer
//!   member's direct link to the switch, [`card`] a card the issuer just issued.
//!
//! # Development only, and why it is acceptable
//!
//! * One LMK for the whole network: one operator stands every member up on one machine, so
//!   there is nobody to keep a key from. Real members each have their own HSM and exchange the
//!   ZMK as components under dual control.
//! * [`proxy::FaultProxy`] between the switch and each in-process issuer, so the demo can show
//!   stand-in and time-outs without changing a party.
//! * [`card::SimCard`] holds a chip key and a PIN in clear: it models the card (its own secure
//!   element) and its holder, not a host.
//!
//! Everything else is as production has it: keys exist only as `WrappedKey`s under the LMK
//! (`hsm`), the LMK and every configuration are written owner-only, errors name the step and
//! never carry a key or a PIN.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod acquirer_host;
pub mod card;
pub mod ceremony;
mod error;
pub mod files;
pub mod layout;
pub mod link;
pub mod local;
pub mod proxy;

pub use error::{ProvisionError, Result};
