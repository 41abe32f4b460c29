//! A whole cardnet network on loopback, for integration tests and `cardnet demo`: the key
//! ceremony between members, each party's configuration, the servers, simulated cards
//! ([`card::SimCard`]) and an acquirer's link to the switch ([`acquirer::AcquirerLink`]).
//!
//! Test support, not production: simulated cards hold their keys in clear (a card is its own
//! secure element), and every party shares one software HSM's LMK for brevity.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod acquirer;
pub mod acquirer_host;
pub mod card;
pub mod net;
pub mod pos;
pub mod proxy;
pub mod relay;
