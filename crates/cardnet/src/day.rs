//! The business day `cardnet demo` runs: the network brought up as `cardnet up` brings it up
//! (each party its own process, seeded through the real commands, the acquirer with risk rules),
//! then virtual terminals — the real terminal core, one per installed terminal — working
//! through a counter's mix at the same time (`day/clerk.rs`, `day/mix.rs`), while an issuer
//! stops answering for a while twice (`day/faults.rs`: the switch times out and reverses, or
//! stands in); then every terminal settles, the parties stop, and end of day takes the day
//! through clearing, settlement, posting, merchant payouts and reconciliation. The summary
//! (`day/summary.rs`) reads what the terminals saw and what end of day found.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use crate::cli_error::CliError;
use crate::parties::{Listen, Parties};
use crate::up::seed;

mod clerk;
mod faults;
mod mix;
mod summary;

pub use summary::print_text;

/// Terminals a day may run at most (each its own connection to the acquirer, from loopback).
pub const TERMINALS_MAX: usize = 200;
/// Transactions one terminal does in a day at most.
pub const STEPS_MAX: usize = 2_000;
/// The merchants the day's terminals belong to.
const MERCHANTS: usize = 4;
/// The switch's wait for an issuer and the acquirer's for the switch in the demo's network:
/// short, so a stopped issuer shows as a timeout within the demo's minute.
const SWITCH_ISSUER_TIMEOUT_MS: u64 = 2_000;
const ACQUIRER_SWITCH_TIMEOUT_MS: u64 = 4_000;
/// How often the live line is redrawn.
const LIVE_LINE_MS: u64 = 250;

/// What the day is asked to do.
pub struct DayOptions {
    /// An empty folder the day's network goes into.
    pub dir: PathBuf,
    pub terminals: usize,
    /// Transactions per terminal.
    pub steps: usize,
    /// Stop each issuer for a while during the day.
    pub faults: bool,
    pub seed: u64,
    /// No progress bar or set-up lines (the `--json` run).
    pub quiet: bool,
}

/// Run the day and end of day; the summary.
pub fn run(options: &DayOptions) -> Result<Value, CliError> {
    if !(1..=TERMINALS_MAX).contains(&options.terminals) || !(1..=STEPS_MAX).contains(&options.steps) {
        return Err(CliError::bad_input(format!(
            "--terminals 1 to {TERMINALS_MAX}, --transactions 1 to {STEPS_MAX} per terminal"
        )));
    }
    let started = Instant::now();
    let exe = std::env::current_exe().map_err(|e| CliError::Failure(format!("demo: this executable: {e}")))?;
    let quiet = options.quiet;
    let say = |text: &str| {
        if !quiet {
            eprintln!("cardnet demo: {text}");
        }
    };
    let config = crate::up::UpConfig {
        dir: options.dir.clone(),
        port: 0,
        database_url: String::new(),
        console: "127.0.0.1:0".to_owned(),
        seed: crate::up::Seed {
            merchants: MERCHANTS,
            terminals_per_merchant: options.terminals.div_ceil(MERCHANTS),
            cards_per_issuer: options.terminals.div_ceil(2),
        },
    };
    config.check()?;
    seed::first_start(&exe, &config, &say)?;
    shorten_timeouts(&options.dir)?;
    let net = eod::NetDir::open(&options.dir).map_err(|e| CliError::Failure(e.to_string()))?;
    say("starting the issuers, the switch and the acquirer hosts");
    let (mut parties, _) = crate::up::start_network(&exe, &options.dir, &net, Listen::PortZero)?;
    let day_started = Instant::now();
    let admins = crate::up::wait_for_admins(&parties);
    let tallies = the_day(options, &mut parties)?;
    let day_ms = u64::try_from(day_started.elapsed().as_millis()).unwrap_or(u64::MAX);
    // What each party's /metrics says at the end of the day, before the parties stop.
    let names: Vec<String> = parties.pids().into_iter().map(|(name, _)| name).collect();
    let metrics = summary::scrape(&names, &admins);
    let killed = parties.stop();
    if !killed.is_empty() {
        return Err(CliError::Failure(format!("demo: {} did not stop when asked", killed.join(", "))));
    }
    say("end of day: cut-off, clearing, settlement, issuer posting, merchant payouts, reconciliation");
    let end_of_day = crate::eod::run_day(&options.dir, crate::demo::today(), true)?;
    let mut facts = summary::Facts::read(&net)?;
    facts.metrics = metrics;
    Ok(summary::summary(options, &tallies, &end_of_day, &facts, day_ms, started.elapsed()))
}

/// After the day: the network up again on its data, with the console over it; the parties and
/// the console's URL. The console's users are in the data folder's `up.json`.
pub fn serve(dir: &Path) -> Result<(Parties, String, Value), CliError> {
    let exe = std::env::current_exe().map_err(|e| CliError::Failure(format!("demo: this executable: {e}")))?;
    let net = eod::NetDir::open(dir).map_err(|e| CliError::Failure(e.to_string()))?;
    let (mut parties, _) = crate::up::start_network(&exe, dir, &net, Listen::PortZero)?;
    let mut config = crate::up::UpConfig::built_in();
    config.dir = dir.to_owned();
    config.port = 0;
    let console = crate::up::start_console(&exe, &config, &mut parties)?;
    let seeded: Value = std::fs::read(dir.join(seed::MARKER_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null);
    Ok((parties, console, seeded["console_users"].clone()))
}

/// The demo's network waits less for a party that does not answer (docs/operations.md: the
/// defaults are for a production network's links).
fn shorten_timeouts(dir: &Path) -> Result<(), CliError> {
    let edit = |file: &str, from: &str, to: String| -> Result<(), CliError> {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path)?;
        if !text.contains(from) {
            return Err(CliError::Failure(format!("demo: {} has no {from}", path.display())));
        }
        std::fs::write(&path, text.replacen(from, &to, 1))?;
        Ok(())
    };
    edit(eod::SWITCH_FILE, "issuer_timeout_ms = 10000", format!("issuer_timeout_ms = {SWITCH_ISSUER_TIMEOUT_MS}"))?;
    edit(eod::ACQUIRER_FILE, "timeout_ms = 30000", format!("timeout_ms = {ACQUIRER_SWITCH_TIMEOUT_MS}"))
}

/// Every terminal at work at once, with the live line and the faults; their tallies.
fn the_day(options: &DayOptions, parties: &mut Parties) -> Result<Vec<clerk::Tally>, CliError> {
    let terminals = seed::terminals_dir(&options.dir);
    let cards: Vec<Value> = crate::up::card_files(&options.dir)?.into_iter().map(|(_, card)| card).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Failure(format!("demo: runtime: {e}")))?;
    let total = (options.terminals * options.steps) as u64;
    let done = Arc::new(AtomicU64::new(0));
    let approved = Arc::new(AtomicU64::new(0));
    let mut clerks = Vec::with_capacity(options.terminals);
    for index in 0..options.terminals {
        let terminal_id = format!("POS{:05}", index + 1);
        // A chip card's counter must rise in the order it counted: each card is one terminal's.
        let own: Vec<Value> = cards.iter().skip(index).step_by(options.terminals).cloned().collect();
        let seed = options.seed.wrapping_add(index as u64);
        clerks.push(
            clerk::open(&terminals, &terminal_id, &own, seed).map_err(|e| CliError::Failure(format!("demo: {e}")))?,
        );
    }
    let bar = live_bar(total, options.quiet);
    let pids = parties.pids();
    let tallies = runtime.block_on(async {
        let work: Vec<_> = clerks
            .into_iter()
            .map(|clerk| tokio::spawn(clerk.work(options.steps, Arc::clone(&done), Arc::clone(&approved))))
            .collect();
        let faults = options.faults.then(|| tokio::spawn(faults::strike(pids, Arc::clone(&done), total)));
        let live = tokio::spawn(live_line(bar.clone(), Arc::clone(&done), Arc::clone(&approved), total));
        let mut tallies = Vec::with_capacity(work.len());
        for handle in work {
            tallies.push(handle.await.map_err(|e| CliError::Failure(format!("demo: a terminal stopped: {e}")))?);
        }
        live.abort();
        if let Some(faults) = faults {
            faults.await.map_err(|e| CliError::Failure(format!("demo: faults: {e}")))?;
        }
        Ok::<_, CliError>(tallies)
    })?;
    bar.finish_and_clear();
    Ok(tallies)
}

fn live_bar(total: u64, hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} transactions  {msg}") {
        bar.set_style(style);
    }
    bar
}

/// The rate over the last interval and the approval ratio so far.
async fn live_line(bar: ProgressBar, done: Arc<AtomicU64>, approved: Arc<AtomicU64>, total: u64) {
    let mut last = (0, Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(LIVE_LINE_MS)).await;
        let now = done.load(Ordering::Relaxed);
        let elapsed_ms = u64::try_from(last.1.elapsed().as_millis()).unwrap_or(1).max(1);
        let rate = (now - last.0) * 1_000 / elapsed_ms;
        let ratio = approved.load(Ordering::Relaxed) * 100 / now.max(1);
        bar.set_position(now.min(total));
        bar.set_message(format!("{rate}/s · {ratio} % approved"));
        last = (now, Instant::now());
    }
}
