//! The `[server]` section every party's configuration has: the bounds of its listening server
//! against hostile or broken peers (docs/operations.md). Every key is optional; the defaults are
//! `transport::limits`'. Checked at load so a bad value is refused at start.
//!
//! ```toml
//! [server]
//! connections_max = 1024          # connections at once, from everyone
//! connections_per_peer_max = 64   # from one IP address (terminals behind one NAT share it)
//! idle_timeout_ms = 300000        # no complete frame for this long: closed
//! frame_read_timeout_ms = 10000   # a started frame must complete within this (slowloris)
//! keepalive_idle_ms = 60000       # TCP keepalive probes after this long without traffic
//! malformed_streak_max = 32       # malformed frames in a row that close a connection
//! stats_interval_ms = 60000       # counters logged and written to the stats file this often
//! ```

use serde::Deserialize;
use transport::ServerConfig;
use transport::limits::{
    CONNECTIONS_MAX_DEFAULT, CONNECTIONS_MAX_LIMIT, CONNECTIONS_PER_PEER_MAX_DEFAULT, FRAME_READ_TIMEOUT_MS_DEFAULT,
    IDLE_TIMEOUT_MS_DEFAULT, KEEPALIVE_IDLE_MS_DEFAULT, KEEPALIVE_IDLE_MS_MIN, MALFORMED_STREAK_MAX_DEFAULT,
    TIMEOUT_MS_MAX, TIMEOUT_MS_MIN,
};

/// How often a running party logs its server counters and rewrites its stats file, by default.
pub const STATS_INTERVAL_MS_DEFAULT: u64 = 60_000;
/// The shortest stats interval a configuration may set (the file is rewritten each time).
pub const STATS_INTERVAL_MS_MIN: u64 = 100;

/// The `[server]` section of a party's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerLimits {
    pub connections_max: usize,
    pub connections_per_peer_max: usize,
    pub idle_timeout_ms: u64,
    pub frame_read_timeout_ms: u64,
    pub keepalive_idle_ms: u64,
    pub malformed_streak_max: u32,
    pub stats_interval_ms: u64,
}

impl Default for ServerLimits {
    fn default() -> ServerLimits {
        ServerLimits {
            connections_max: CONNECTIONS_MAX_DEFAULT,
            connections_per_peer_max: CONNECTIONS_PER_PEER_MAX_DEFAULT,
            idle_timeout_ms: IDLE_TIMEOUT_MS_DEFAULT,
            frame_read_timeout_ms: FRAME_READ_TIMEOUT_MS_DEFAULT,
            keepalive_idle_ms: KEEPALIVE_IDLE_MS_DEFAULT,
            malformed_streak_max: MALFORMED_STREAK_MAX_DEFAULT,
            stats_interval_ms: STATS_INTERVAL_MS_DEFAULT,
        }
    }
}

impl ServerLimits {
    /// What is wrong, naming the setting (`server.idle_timeout_ms must be …`).
    pub fn check(&self) -> Result<(), String> {
        if !(1..=CONNECTIONS_MAX_LIMIT).contains(&self.connections_max) {
            return Err(format!("server.connections_max must be 1 to {CONNECTIONS_MAX_LIMIT}"));
        }
        if !(1..=self.connections_max).contains(&self.connections_per_peer_max) {
            return Err("server.connections_per_peer_max must be 1 to server.connections_max".into());
        }
        for (name, value) in
            [("idle_timeout_ms", self.idle_timeout_ms), ("frame_read_timeout_ms", self.frame_read_timeout_ms)]
        {
            if !(TIMEOUT_MS_MIN..=TIMEOUT_MS_MAX).contains(&value) {
                return Err(format!("server.{name} must be {TIMEOUT_MS_MIN} to {TIMEOUT_MS_MAX}"));
            }
        }
        if !(KEEPALIVE_IDLE_MS_MIN..=TIMEOUT_MS_MAX).contains(&self.keepalive_idle_ms) {
            return Err(format!("server.keepalive_idle_ms must be {KEEPALIVE_IDLE_MS_MIN} to {TIMEOUT_MS_MAX}"));
        }
        if self.malformed_streak_max == 0 {
            return Err("server.malformed_streak_max must be above 0".into());
        }
        if !(STATS_INTERVAL_MS_MIN..=TIMEOUT_MS_MAX).contains(&self.stats_interval_ms) {
            return Err(format!("server.stats_interval_ms must be {STATS_INTERVAL_MS_MIN} to {TIMEOUT_MS_MAX}"));
        }
        Ok(())
    }

    /// The transport server's configuration (its other bounds at their defaults).
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig {
            connections_max: self.connections_max,
            connections_per_peer_max: self.connections_per_peer_max,
            idle_timeout_ms: self.idle_timeout_ms,
            frame_read_timeout_ms: self.frame_read_timeout_ms,
            keepalive_idle_ms: self.keepalive_idle_ms,
            malformed_streak_max: self.malformed_streak_max,
            ..ServerConfig::default()
        }
    }

    /// The section as `init` writes it, with a comment per key.
    pub fn to_toml(&self) -> String {
        format!(
            "\n# Bounds against hostile or broken peers (docs/operations.md).\n[server]\n\
             # Connections at once, from everyone; and from one IP address (terminals behind one NAT share one).\n\
             connections_max = {}\nconnections_per_peer_max = {}\n\
             # No complete frame for this long closes a connection; a started frame must complete within frame_read_timeout_ms.\n\
             idle_timeout_ms = {}\nframe_read_timeout_ms = {}\n\
             # TCP keepalive probes after this long without traffic.\nkeepalive_idle_ms = {}\n\
             # Malformed frames in a row that close a connection (one never does).\nmalformed_streak_max = {}\n\
             # Counters logged and written to the stats file (cardnet stats) this often.\nstats_interval_ms = {}\n",
            self.connections_max,
            self.connections_per_peer_max,
            self.idle_timeout_ms,
            self.frame_read_timeout_ms,
            self.keepalive_idle_ms,
            self.malformed_streak_max,
            self.stats_interval_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_round_trip() {
        let limits = ServerLimits::default();
        assert_eq!(limits.check(), Ok(()));
        let text = limits.to_toml();
        #[derive(Deserialize)]
        struct File {
            server: ServerLimits,
        }
        let parsed: File = toml::from_str(&text).unwrap();
        assert_eq!(parsed.server, limits);
    }

    #[test]
    fn bad_values_name_the_setting() {
        let cases = [
            ServerLimits { connections_per_peer_max: 2000, ..ServerLimits::default() },
            ServerLimits { idle_timeout_ms: 0, ..ServerLimits::default() },
            ServerLimits { frame_read_timeout_ms: u64::MAX, ..ServerLimits::default() },
            ServerLimits { keepalive_idle_ms: 10, ..ServerLimits::default() },
            ServerLimits { malformed_streak_max: 0, ..ServerLimits::default() },
            ServerLimits { connections_max: 0, ..ServerLimits::default() },
        ];
        for (limits, name) in cases.iter().zip([
            "connections_per_peer_max",
            "idle_timeout_ms",
            "frame_read_timeout_ms",
            "keepalive_idle_ms",
            "malformed_streak_max",
            "connections_max",
        ]) {
            let error = limits.check().unwrap_err();
            assert!(error.starts_with(&format!("server.{name}")), "{error}");
        }
    }
}
