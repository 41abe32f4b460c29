//! The server's counters: atomics the connection tasks bump, and a [`StatsSnapshot`] of plain
//! numbers for logs, the `stats.json` file a party writes and `cardnet stats`. Names in the
//! snapshot carry their unit (`_total` for counters since start; `connections_open` is a gauge).

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters, readable while the server runs.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections accepted and served (refused ones are not counted here).
    pub connections: AtomicU64,
    /// Connections being served now.
    pub connections_open: AtomicU64,
    pub requests: AtomicU64,
    pub responses: AtomicU64,
    /// Malformed requests answered with 39 = 30.
    pub format_errors: AtomicU64,
    /// Frames that did not decode and could not be answered.
    pub dropped_frames: AtomicU64,
    /// Handler responses that did not encode (a handler bug); nothing is sent for them.
    pub encode_errors: AtomicU64,
    /// Connections closed because the frame boundary was lost or the socket failed.
    pub connection_errors: AtomicU64,
    pub accept_errors: AtomicU64,
    /// Connections closed on accept because `connections_max` were already being served.
    pub refused_connections: AtomicU64,
    /// Connections closed on accept because their peer already had `connections_per_peer_max`.
    pub refused_per_peer: AtomicU64,
    /// Connections closed after `idle_timeout_ms` without a complete frame.
    pub timed_out_idle: AtomicU64,
    /// Connections closed because a started frame did not complete in `frame_read_timeout_ms`.
    pub timed_out_read: AtomicU64,
    /// Connections closed after `malformed_streak_max` malformed frames in a row.
    pub closed_garbage: AtomicU64,
    /// Connections closed because the peer did not read our answers for `WRITE_TIMEOUT_MS`.
    pub timed_out_write: AtomicU64,
}

/// One reading of every counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    pub connections_accepted_total: u64,
    pub connections_open: u64,
    pub connections_refused_global_total: u64,
    pub connections_refused_peer_total: u64,
    pub connections_timed_out_idle_total: u64,
    pub connections_timed_out_read_total: u64,
    pub connections_closed_garbage_total: u64,
    pub connections_timed_out_write_total: u64,
    pub connections_failed_total: u64,
    pub accept_errors_total: u64,
    pub requests_total: u64,
    pub responses_total: u64,
    pub frames_format_error_total: u64,
    pub frames_dropped_total: u64,
    pub encode_errors_total: u64,
}

impl ServerStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StatsSnapshot {
            connections_accepted_total: read(&self.connections),
            connections_open: read(&self.connections_open),
            connections_refused_global_total: read(&self.refused_connections),
            connections_refused_peer_total: read(&self.refused_per_peer),
            connections_timed_out_idle_total: read(&self.timed_out_idle),
            connections_timed_out_read_total: read(&self.timed_out_read),
            connections_closed_garbage_total: read(&self.closed_garbage),
            connections_timed_out_write_total: read(&self.timed_out_write),
            connections_failed_total: read(&self.connection_errors),
            accept_errors_total: read(&self.accept_errors),
            requests_total: read(&self.requests),
            responses_total: read(&self.responses),
            frames_format_error_total: read(&self.format_errors),
            frames_dropped_total: read(&self.dropped_frames),
            encode_errors_total: read(&self.encode_errors),
        }
    }
}

impl StatsSnapshot {
    /// Connections refused for either limit.
    pub fn connections_refused_total(&self) -> u64 {
        self.connections_refused_global_total + self.connections_refused_peer_total
    }

    /// Frames that did not decode, answered or not.
    pub fn frames_malformed_total(&self) -> u64 {
        self.frames_format_error_total + self.frames_dropped_total
    }

    /// Every frame read: well-formed requests and malformed frames.
    pub fn frames_in_total(&self) -> u64 {
        self.requests_total + self.frames_malformed_total()
    }

    /// Every counter by the name logs and JSON use, in a fixed order.
    pub fn pairs(&self) -> [(&'static str, u64); 18] {
        [
            ("connections_open", self.connections_open),
            ("connections_accepted_total", self.connections_accepted_total),
            ("connections_refused_total", self.connections_refused_total()),
            ("connections_refused_global_total", self.connections_refused_global_total),
            ("connections_refused_peer_total", self.connections_refused_peer_total),
            ("connections_timed_out_idle_total", self.connections_timed_out_idle_total),
            ("connections_timed_out_read_total", self.connections_timed_out_read_total),
            ("connections_timed_out_write_total", self.connections_timed_out_write_total),
            ("connections_closed_garbage_total", self.connections_closed_garbage_total),
            ("connections_failed_total", self.connections_failed_total),
            ("accept_errors_total", self.accept_errors_total),
            ("frames_in_total", self.frames_in_total()),
            ("frames_out_total", self.responses_total),
            ("requests_total", self.requests_total),
            ("frames_malformed_total", self.frames_malformed_total()),
            ("frames_format_error_total", self.frames_format_error_total),
            ("frames_dropped_total", self.frames_dropped_total),
            ("encode_errors_total", self.encode_errors_total),
        ]
    }

    /// `name=value` pairs on one line, for a periodic log line.
    pub fn line(&self) -> String {
        self.pairs().iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_sums_and_names() {
        let stats = ServerStats::default();
        stats.format_errors.fetch_add(2, Ordering::Relaxed);
        stats.dropped_frames.fetch_add(3, Ordering::Relaxed);
        stats.requests.fetch_add(4, Ordering::Relaxed);
        stats.refused_per_peer.fetch_add(1, Ordering::Relaxed);
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.frames_malformed_total(), 5);
        assert_eq!(snapshot.frames_in_total(), 9);
        assert_eq!(snapshot.connections_refused_total(), 1);
        let line = snapshot.line();
        assert!(
            line.contains("frames_malformed_total=5") && line.contains("connections_refused_peer_total=1"),
            "{line}"
        );
    }
}
