//! cardnet's ISO 8583 transport: a server and a client over the framing codecs.
//!
//! * [`codec::FrameCodec`] finds frames in a byte stream with the spec's length prefix and never
//!   buffers more than [`iso8583::limits::FRAME_BYTES_MAX`] for one frame.
//! * [`server::Server`] accepts connections from any [`server::Listener`] (TCP, or an in-memory
//!   or simulated network), handles requests on a connection concurrently up to a bound, and
//!   answers a malformed request with a format error (39 = 30) instead of closing the connection.
//!   Connections are bounded in all and per peer address, closed when idle, mid-frame too long
//!   (slowloris) or sending only garbage ([`limits`]); [`stats::ServerStats`] counts all of it.
//! * [`client::Client`] sends requests over one connection and matches responses by a
//!   configurable key; responses that match nothing are surfaced as events, never dropped silently.
//! * [`session::Session`] keeps a client link up: connect (through any `Connector`), sign on
//!   (0800/001) before reporting ready, echo only when idle with one echo at most outstanding,
//!   reconnect with bounded exponential backoff, sign off on close.
//! * [`netmgmt`] builds and answers 0800/0810 network management (001, 002, 101, 301).
//! * `tls` (feature `tls`, default): TLS and mutual TLS with rustls on `ring`.
//!
//! Why it looks like this: the pain points of jPOS QMUX and moov-io iso8583-connection are
//! unbounded queues, silently dropped late responses and a malformed message killing the link.
//! Here every queue has a named bound, late responses become [`client::UnmatchedEvent`]s, and bad
//! messages are answered or counted. Streams are generic (`AsyncRead + AsyncWrite`) and time is
//! tokio's, so the same code runs in a deterministic simulation (turmoil, paused tokio time).
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod client;
pub mod codec;
mod connection;
pub mod error;
pub mod limits;
mod log;
mod log_budget;
pub mod netmgmt;
mod peers;
pub mod server;
pub mod session;
pub mod stats;
#[cfg(feature = "tls")]
pub mod tls;

pub use client::{Client, ClientConfig, MatchKey, MatchKeyFn, UnmatchedEvent};
pub use codec::FrameCodec;
pub use error::TransportError;
pub use netmgmt::{Institution, NetMgmt, NetworkCode};
pub use server::{Handler, Listener, Server, ServerConfig};
pub use session::{Connector, Session, SessionConfig, SessionState, TcpConnector};
pub use stats::{ServerStats, StatsSnapshot};
