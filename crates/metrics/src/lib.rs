//! cardnet's operations surface: a small registry of counters, gauges and latency histograms
//! with label sets (every family bounded in series, recording an atomic add), written in the
//! Prometheus text format 0.0.4, and the admin endpoint every party serves it on (`/metrics`,
//! `/healthz`, `/readyz`). docs/operations.md lists the names.
//!
//! `parse` and `probe` are for tests and tools (a reader of the page, a plain HTTP GET); no
//! server calls them.

pub mod admin;
pub mod family;
pub mod merge;
pub mod parse;
pub mod probe;
pub mod registry;
pub mod text;

pub use admin::{Admin, Readiness};
pub use family::{Counter, Family, Gauge, Histogram};
pub use registry::{Collect, Registry, global};
pub use text::Exposition;
