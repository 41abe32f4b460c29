//! Test support for cardnet's integration tests: the whole network on loopback
//! ([`net::TestNetwork`], over `provision`'s in-process network on the parties' production
//! servers), a scripted cup-pos terminal ([`pos`]) and a frame relay that records, cuts or
//! forges what passes between a terminal and its acquirer ([`relay`]). The network itself —
//! key ceremony, layout, acquirer link, simulated cards, acquirer host — lives in `provision`
//! and is re-exported here under the names the tests use.
//!
//! Test support, not production: no party crate nor the binary depends on it outside its
//! dev-dependencies (`crates/cardnet/tests/test_support_deps.rs` checks).
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod acquirer_host;
pub mod net;
pub mod pos;
pub mod relay;

/// An acquirer member's link to the switch.
pub mod acquirer {
    pub use provision::link::{AcquirerLink, Exchange, LinkError};
}

/// A card the network's issuer just issued, in its holder's hand.
pub mod card {
    pub use provision::card::{CardError, SimCard, purchase};
}

/// The switch–issuer proxy that delays or cuts the link.
pub mod proxy {
    pub use provision::proxy::FaultProxy;
}
