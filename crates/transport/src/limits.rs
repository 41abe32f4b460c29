//! Every bound the transport keeps, in one place, with its unit last. The server's defaults are
//! what a party runs with when its configuration's `[server]` section says nothing.

/// Requests handled concurrently on one connection.
pub const IN_FLIGHT_MAX_DEFAULT: usize = 256;
/// Encoded responses waiting for the writer of one connection.
pub const WRITE_QUEUE_MAX_DEFAULT: usize = 256;
/// Connections served at once; further ones are closed on accept.
pub const CONNECTIONS_MAX_DEFAULT: usize = 1024;
/// Connections served at once from one peer IP address. A real acquirer sees many terminals
/// behind one carrier NAT or one merchant's router, so this is generous (a sixteenth of the
/// global bound); it exists so that one address cannot take every slot, which is what locked
/// every terminal out before it. An operator with a large NAT'd estate raises it per party.
pub const CONNECTIONS_PER_PEER_MAX_DEFAULT: usize = 64;
/// No complete frame (and nothing in flight) for this long closes a connection. Above the
/// sessions' idle echo ([`crate::session::ECHO_IDLE_MS`], 60 s) so a healthy link never hits it.
pub const IDLE_TIMEOUT_MS_DEFAULT: u64 = 300_000;
/// Once the first byte of a frame has arrived, the whole frame must arrive within this long
/// (a slowloris client trickling bytes is closed). A frame is at most a few kilobytes.
pub const FRAME_READ_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// TCP keepalive: idle time before the first probe, and the time between probes, so a peer
/// that vanished (power cut, NAT dropped the mapping) is noticed without traffic.
pub const KEEPALIVE_IDLE_MS_DEFAULT: u64 = 60_000;
pub const KEEPALIVE_INTERVAL_MS: u64 = 10_000;
/// A peer that does not read our answers (a full socket buffer) for this long is closed: with
/// requests still coming, it would otherwise hold its connection and in-flight slots forever.
pub const WRITE_TIMEOUT_MS: u64 = 30_000;
/// Malformed frames in a row (no well-formed frame between them) that close a connection: one
/// malformed message never does, a client sending only garbage soon is.
pub const MALFORMED_STREAK_MAX_DEFAULT: u32 = 32;
/// Malformed frames on a connection are logged once, then summarised once per interval.
pub const MALFORMED_LOG_INTERVAL_MS: u64 = 10_000;
/// Refused connections logged one by one per interval; the rest are counted and summarised.
pub const REFUSED_LOGS_PER_INTERVAL: u64 = 10;
pub const REFUSED_LOG_INTERVAL_MS: u64 = 10_000;
/// Pause after a failed accept (for example out of file descriptors), so the loop does not spin.
pub const ACCEPT_RETRY_DELAY_MS: u64 = 50;

/// Bounds a configuration may set (checked at load, `host::server_limits`).
pub const TIMEOUT_MS_MIN: u64 = 10;
pub const TIMEOUT_MS_MAX: u64 = 86_400_000;
pub const KEEPALIVE_IDLE_MS_MIN: u64 = 1_000;
pub const CONNECTIONS_MAX_LIMIT: usize = 1 << 20;
