//! What `cardnet serve` adds around every party for its operators (docs/operations.md): the
//! admin endpoint (`--admin-listen` or `[admin] listen`: `/metrics`, `/healthz`, `/readyz`), the
//! transport's server counters and the store-and-forward backlog on `/metrics`, and the log
//! format (`--log-format text|json`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use clap::{Args, ValueEnum};
use metrics::{Exposition, Readiness};
use transport::ServerStats;

use crate::cli_error::CliError;

/// How often the store-and-forward backlog is read from the party's database for `/metrics`
/// (a scrape never queries: it shows the last reading, at most this old).
pub const BACKLOG_READ_INTERVAL_MS: u64 = 5_000;
/// The backlog gauge counts each state up to this (a read stays cheap however many entries
/// died and were kept for an operator).
pub const BACKLOG_COUNT_MAX: u64 = 100_000;

#[derive(Args, Clone, Copy, Debug, Default)]
pub struct OpsArgs {
    /// Serve /metrics, /healthz and /readyz on this IP:PORT (port 0 picks one, printed as `admin on http://ADDR`); overrides [admin] listen.
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<SocketAddr>,
    /// Log lines as text (the default) or as one JSON object per line.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line: ts_ms, level, message and the event's fields.
    Json,
}

/// The admin endpoint of one party, started before the party opens (so `/healthz` answers and
/// `/readyz` says "starting"), told when the party serves.
pub struct AdminEndpoint {
    _admin: Option<metrics::Admin>,
    party: &'static str,
    readiness: Arc<LateReadiness>,
}

/// Start the endpoint when `listen` is given (the option, else the configuration's `[admin]`).
pub async fn start_admin(party: &'static str, listen: Option<SocketAddr>) -> Result<AdminEndpoint, CliError> {
    let readiness = Arc::new(LateReadiness::default());
    let admin = match listen {
        Some(listen) => {
            let admin = metrics::admin::start(listen, metrics::global(), Arc::clone(&readiness) as Arc<dyn Readiness>)
                .await
                .map_err(CliError::bad_input)?;
            eprintln!("cardnet {party}: {}{}", metrics::admin::LOG_MARKER, admin.local_addr());
            Some(admin)
        }
        None => None,
    };
    Ok(AdminEndpoint { _admin: admin, party, readiness })
}

impl AdminEndpoint {
    /// The party serves: its server counters go on `/metrics` and `/readyz` asks `ready`.
    pub fn serving(&self, stats: Arc<ServerStats>, ready: Arc<dyn Readiness>) {
        metrics::global().add_collector(Arc::new(ServerCounters { party: self.party, stats }));
        let _ = self.readiness.party.set(ready);
    }
}

/// Not ready until the party is serving, then whatever the party says.
#[derive(Default)]
struct LateReadiness {
    party: OnceLock<Arc<dyn Readiness>>,
}

impl Readiness for LateReadiness {
    fn ready(&self) -> Result<(), String> {
        match self.party.get() {
            Some(party) => party.ready(),
            None => Err("starting: the party is not listening yet".into()),
        }
    }
}

/// The transport's `ServerStats` as `cardnet_server_*` families, read at scrape time (the same
/// names as `cardnet stats`; `_total` ones are counters, `connections_open` a gauge).
struct ServerCounters {
    party: &'static str,
    stats: Arc<ServerStats>,
}

impl metrics::Collect for ServerCounters {
    fn collect(&self, out: &mut Exposition) {
        let mut name = String::new();
        for (key, value) in self.stats.snapshot().pairs() {
            name.clear();
            name.push_str("cardnet_server_");
            name.push_str(key);
            let kind = if key.ends_with("_total") { "counter" } else { "gauge" };
            out.header(&name, &format!("The {} server's {key} (as cardnet stats).", self.party), kind);
            out.sample(&name, &[("party", self.party)], None, value);
        }
    }
}

/// Keep `cardnet_saf_backlog{party,destination,state}` current: every
/// [`BACKLOG_READ_INTERVAL_MS`], `read` (a few `COUNT … GROUP BY` queries on the blocking pool)
/// gives (destination, pending, dead) per destination. Runs until the runtime ends.
pub fn spawn_backlog<F>(party: &'static str, read: F)
where
    F: Fn() -> Result<Vec<(String, u64, u64)>, String> + Send + Sync + 'static,
{
    static BACKLOG: OnceLock<Arc<metrics::Family<metrics::Gauge>>> = OnceLock::new();
    let family = BACKLOG.get_or_init(|| {
        metrics::global().gauge(
            "cardnet_saf_backlog",
            "Store-and-forward entries waiting (pending) or given up (dead), per destination, read every 5 s.",
            &["party", "destination", "state"],
        )
    });
    let read = Arc::new(read);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(BACKLOG_READ_INTERVAL_MS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failed = false;
        loop {
            tick.tick().await;
            let read = Arc::clone(&read);
            match tokio::task::spawn_blocking(move || read()).await {
                Ok(Ok(rows)) => {
                    failed = false;
                    for (destination, pending, dead) in rows {
                        let gauge = |state, value: u64| {
                            family.with(&[party, &destination, state]).set(i64::try_from(value).unwrap_or(i64::MAX));
                        };
                        gauge("pending", pending);
                        gauge("dead", dead);
                    }
                }
                Ok(Err(error)) if !failed => {
                    failed = true;
                    tracing::warn!(party, %error, "cannot read the store-and-forward backlog");
                }
                _ => {}
            }
        }
    });
}

/// Install the log subscriber writing to stderr in `format`, every event at INFO and above.
/// Log to standard error through the log writer thread (`log_writer`); keep the guard while the
/// party runs: dropping it writes what is still queued. Without the thread (it could not be
/// started) lines are written where they are made.
pub fn init_logging(format: LogFormat) -> Option<crate::log_writer::LogGuard> {
    let (guard, result) = match crate::log_writer::start(std::io::stderr()) {
        Ok((writer, guard)) => (Some(guard), install_logging(format, writer)),
        Err(_) => (None, install_logging(format, std::io::stderr)),
    };
    // Already installed (a second call in one process): the first stays.
    result.ok().and(guard)
}

fn install_logging<W>(format: LogFormat, writer: W) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt().with_writer(writer).with_target(false);
    match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.event_format(crate::json_log::JsonLines).try_init(),
    }
}

/// The lock file of the party configured in `config`: `NAME.serve.lock` beside it.
pub fn serve_lock_path(config: &Path) -> PathBuf {
    config.with_extension("serve.lock")
}

/// Why the party's lock was not taken.
pub enum LockRefused {
    /// Another process holds it: the party runs.
    Held(String),
    /// The lock file cannot be opened or locked (a read-only folder, say).
    Unavailable(String),
}

/// Take the party's lock (an OS file lock, released when the process ends however it ends):
/// `cardnet serve` holds it while it runs, so `cardnet restore` knows not to replace the
/// database under it and a second `serve` of the same configuration is refused.
pub fn hold_serve_lock(config: &Path) -> Result<std::fs::File, LockRefused> {
    let path = serve_lock_path(config);
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&path).map_err(|e| LockRefused::Unavailable(format!("{}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(LockRefused::Held(format!(
            "another `cardnet serve` runs with {} (it holds {})",
            config.display(),
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(LockRefused::Unavailable(format!("{}: cannot lock: {e}", path.display())))
        }
    }
}

/// The lock `cardnet serve` takes: refused (exit 2) while another process holds it; a lock file
/// that cannot be made (the configuration's folder read-only) is a warning, not a stop — the
/// party then runs unlocked and `cardnet restore`, unable to lock either, refuses.
pub fn lock_for_serve(config: &Path) -> Result<Option<std::fs::File>, CliError> {
    match hold_serve_lock(config) {
        Ok(file) => Ok(Some(file)),
        Err(LockRefused::Held(why)) => Err(CliError::bad_input(why)),
        Err(LockRefused::Unavailable(why)) => {
            eprintln!("cardnet: warning: running without the party lock ({why}); `cardnet restore` will refuse");
            Ok(None)
        }
    }
}
