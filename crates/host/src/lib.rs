//! What every party host (switch, issuer, acquirer) does the same way around its core: the one
//! contract between a core and its drivers ([`party`]), the production driver that runs it
//! ([`pipeline`]), and the mechanics — read its configuration file, resolve the paths in it,
//! write private files, quote TOML when it writes a configuration, run an operator's core call
//! on the blocking pool, connect and send over its outbound links, and bound its listening
//! server (the `[server]` section). Each party keeps its own configuration types and error
//! messages; one idea per module.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod admin_section;
pub mod blocking;
pub mod config_file;
pub mod connector;
pub mod link;
pub mod listen;
mod meters;
pub mod party;
pub mod paths;
pub mod pipeline;
pub mod private_file;
pub mod server_limits;
pub mod toml_text;

pub use admin_section::AdminSection;
pub use blocking::blocking;
pub use connector::EndpointConnector;
pub use link::{LinkFailure, request_if_ready};
/// What a party implements for the admin endpoint's `/readyz` (the pipeline does, for all).
pub use metrics::Readiness;
pub use party::{Answer, Client, Delivery, Forward, HeldBatch, Outbound, Party, Step};
pub use pipeline::{Link, PIPELINE_EVENTS_MAX, Pipeline, PipelineHandler};
pub use private_file::write_private;
pub use server_limits::ServerLimits;
pub use toml_text::quote;
