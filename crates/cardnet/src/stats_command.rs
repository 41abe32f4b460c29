//! A running party's server counters, for operators (until a metrics endpoint exists):
//! `cardnet serve` logs them and rewrites `NAME.stats.json` beside the party's configuration
//! file (`issuer.toml` → `issuer.stats.json`, owner-only, replaced atomically) every
//! `[server] stats_interval_ms`; `cardnet stats --config FILE [--json]` prints that file with its
//! age. Beside the configuration rather than the database, so a party on PostgreSQL has one too.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde_json::{Map, Value, json};
use transport::{ServerStats, StatsSnapshot};

use crate::cli_error::CliError;
use crate::output::outln;

/// Largest stats file read (it is well under a kilobyte; this refuses a wrong file).
const STATS_FILE_BYTES_MAX: u64 = 64 * 1024;
/// A file older than this many intervals is reported stale (the server may have stopped).
const STALE_INTERVALS: u64 = 3;

#[derive(Args)]
pub struct StatsArgs {
    /// The party's configuration file (the one `cardnet serve … --config` runs with).
    #[arg(long)]
    config: PathBuf,
    /// Print one JSON object: party, listen, pid, interval_ms, written_at_ms, age_ms, stale and every counter.
    #[arg(long)]
    json: bool,
}

/// Where the server of the party configured in `config` writes its counters.
pub fn stats_path(config: &Path) -> PathBuf {
    config.with_extension("stats.json")
}

fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// The file's content: who wrote it, when, and every counter by name.
fn stats_json(party: &str, listen: SocketAddr, interval_ms: u64, snapshot: &StatsSnapshot) -> Value {
    let mut object = Map::new();
    object.insert("party".into(), json!(party));
    object.insert("listen".into(), json!(listen.to_string()));
    object.insert("pid".into(), json!(std::process::id()));
    object.insert("interval_ms".into(), json!(interval_ms));
    object.insert("written_at_ms".into(), json!(now_ms()));
    for (name, value) in snapshot.pairs() {
        object.insert(name.into(), json!(value));
    }
    Value::Object(object)
}

/// Every `interval_ms` (the first at once): one log line with the counters, and the stats file
/// rewritten. Runs until dropped; a file that cannot be written is logged once, not retried loudly.
pub async fn report(party: &'static str, listen: SocketAddr, stats: &ServerStats, config: &Path, interval_ms: u64) {
    let path = stats_path(config);
    let mut tick = tokio::time::interval(Duration::from_millis(interval_ms.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut write_failed = false;
    loop {
        tick.tick().await;
        let snapshot = stats.snapshot();
        tracing::info!(party, %listen, "server stats: {}", snapshot.line());
        let bytes = stats_json(party, listen, interval_ms, &snapshot).to_string().into_bytes();
        let target = path.clone();
        let written = tokio::task::spawn_blocking(move || host::private_file::replace_private(&target, &bytes)).await;
        match written {
            Ok(Ok(())) => write_failed = false,
            Ok(Err(error)) if !write_failed => {
                write_failed = true;
                tracing::warn!(file = %path.display(), %error, "cannot write the stats file");
            }
            _ => {}
        }
    }
}

pub fn run(args: StatsArgs) -> Result<(), CliError> {
    let path = stats_path(&args.config);
    let text = host::config_file::read(&path, STATS_FILE_BYTES_MAX)
        .map_err(|e| CliError::bad_input(format!("{e} (is `cardnet serve` running with this config?)")))?;
    let Ok(Value::Object(mut stats)) = serde_json::from_str::<Value>(&text) else {
        return Err(CliError::bad_input(format!("{}: not a stats file", path.display())));
    };
    let read = |stats: &Map<String, Value>, key: &str| stats.get(key).and_then(Value::as_u64).unwrap_or(0);
    let age_ms = now_ms().saturating_sub(read(&stats, "written_at_ms"));
    let stale = age_ms > read(&stats, "interval_ms").saturating_mul(STALE_INTERVALS);
    stats.insert("file".into(), json!(path.display().to_string()));
    stats.insert("age_ms".into(), json!(age_ms));
    stats.insert("stale".into(), json!(stale));
    if args.json {
        return crate::output::json(&Value::Object(stats));
    }
    let number = |key: &str| read(&stats, key);
    let text = |key: &str| stats.get(key).and_then(Value::as_str).unwrap_or("?").to_owned();
    outln!(
        "{} on {} (pid {}): written {age_ms} ms ago, every {} ms",
        text("party"),
        text("listen"),
        number("pid"),
        number("interval_ms")
    );
    if stale {
        outln!("stale: older than {STALE_INTERVALS} intervals; the server may have stopped");
    }
    for (name, value) in StatsSnapshot::default().pairs().map(|(name, _)| (name, number(name))) {
        outln!("{name}: {value}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stats_file_sits_beside_the_config() {
        assert_eq!(stats_path(Path::new("/srv/issuer/issuer.toml")), Path::new("/srv/issuer/issuer.stats.json"));
    }

    #[test]
    fn the_file_names_units_and_counters() {
        let snapshot =
            StatsSnapshot { frames_dropped_total: 2, frames_format_error_total: 1, ..StatsSnapshot::default() };
        let value = stats_json("issuer", "127.0.0.1:9".parse().unwrap(), 1000, &snapshot);
        assert_eq!(value["frames_malformed_total"], 3);
        assert_eq!(value["connections_open"], 0);
        assert!(value["written_at_ms"].as_u64().unwrap() > 0);
    }
}
