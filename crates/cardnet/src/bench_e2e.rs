//! `cardnet bench e2e`: an open-loop load of many virtual POS terminals against the network as
//! it runs in production — the acquirer host, the switch and two issuers each a separate
//! `cardnet serve` process on its durable stores (SQLite files, or PostgreSQL with `--pg-url`)
//! — set up through this executable's own commands (`setup.rs`), started on kernel-chosen ports
//! (`parties.rs`). Each terminal is the real terminal core, signed on, sending MAC'd purchases
//! with PIN blocks, track 2 enciphered and chip data (`terminals.rs`) on the schedule of
//! `schedule.rs`; `report.rs` turns the samples into rates, latency percentiles from due time,
//! the response codes and CPU per authorization of every process, this one included
//! (`cpu.rs`).
//!
//! `--kill PARTY` SIGKILLs one party mid-window and starts it again at once while the load goes
//! on (`parties.rs`); then, and with `--verify`, `verify.rs` checks that every purchase a
//! terminal saw approved is held exactly once at its issuer.

mod cpu;
mod io;

mod report;
mod run;
mod schedule;
mod setup;
mod terminals;
mod verify;

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde_json::json;

use crate::cli_error::CliError;
use crate::output::outln;

/// Bounds of a run, so a typo cannot ask for a day of work or more terminals than sockets.
const DURATION_S_MAX: u64 = 600;
const WARMUP_S_MAX: u64 = 60;
const RATE_PER_S_MAX: f64 = 100_000.0;
const TERMINALS_MAX: usize = 2_000;
const MERCHANTS_MAX: usize = 1_000;
/// Terminals per merchant when `--merchants` is not given: a shop with a few tills, a chain
/// store with many; one merchant for all would make the acquirer's per-merchant work (its daily
/// velocity check) the whole story.
const TERMINALS_PER_MERCHANT_DEFAULT: usize = 20;
const THREADS_MAX: usize = 64;
const TIMEOUT_MS_MAX: u64 = 60_000;
/// At least this share of the purchases due in the measured window must be answered (any
/// response code) or the run fails: below it the figures describe a network that was down or
/// drowning, not its speed.
const ANSWERED_FRACTION_MIN: f64 = 0.95;
/// The longest run the check can judge, in purchases per terminal: one card may take them all,
/// each with a reversal row, and the issuer lists at most 1,000 rows of a card.
const CHECKED_PURCHASES_PER_TERMINAL_MAX: f64 = 400.0;
/// Where the terminals' files (configuration, TMK) go when it exists: a memory file system. A
/// terminal's storage is its own flash in production, not the parties' disk, so it must not
/// compete with theirs for this machine's disk; its journal is in memory (`terminals.rs`).
const MEMORY_FS: &str = "/dev/shm";

/// A party `--kill` can kill.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Party {
    IssuerA,
    IssuerB,
    Switch,
    Acquirer,
}

impl Party {
    /// Its name in the report and its log (setup.rs names the parties so).
    pub fn name(self) -> &'static str {
        match self {
            Party::IssuerA => "issuer-a",
            Party::IssuerB => "issuer-b",
            Party::Switch => "switch",
            Party::Acquirer => "acquirer",
        }
    }
}

#[derive(Args)]
pub struct E2eArgs {
    /// Seconds of measured load (after the warm-up).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds of load before the measured window, left out of every figure.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Purchases per second offered in total, open loop (sent when due, answered or not).
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    /// Virtual terminals, each with its own connection to the acquirer and one request outstanding.
    #[arg(long, default_value_t = 200)]
    terminals: usize,
    /// Merchants the terminals belong to, terminal i to merchant i mod M (default: one per 20 terminals).
    #[arg(long)]
    merchants: Option<usize>,
    /// Percent of purchases with the chip inserted (field 55, ARQC and the issuer's ARPC).
    #[arg(long, default_value_t = 10)]
    chip_percent: u8,
    /// Percent of purchases tapped (contactless chip); the rest are swiped with a PIN.
    #[arg(long, default_value_t = 5)]
    tap_percent: u8,
    /// How long a terminal waits for an answer before it reverses (the terminal's timeout_ms).
    #[arg(long, default_value_t = 5_000)]
    timeout_ms: u64,
    /// Threads of the load generator (its terminals share them).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Put every party's stores on PostgreSQL at this URL, one schema each (dropped after).
    #[arg(long, value_name = "URL")]
    pg_url: Option<String>,
    /// Write the network here and keep it (default: a fresh folder under the temp dir, removed after).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Seed of the card-read mix and the amounts (the same seed, the same schedule).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// SIGKILL this party mid-window and restart it at once, then check every approval (the 95 % answered rule is off).
    #[arg(long, value_enum, value_name = "PARTY")]
    kill: Option<Party>,
    /// Seconds into the measured window when --kill strikes (default: half of --duration).
    #[arg(long, value_name = "SECONDS", requires = "kill")]
    kill_at: Option<f64>,
    /// After the run, check every approval a terminal saw is held exactly once at its issuer.
    #[arg(long)]
    verify: bool,
    /// Run the risk engine at the acquirer and the issuers with this rule file (`[risk] rules`).
    #[arg(long, value_name = "FILE")]
    risk_rules: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

impl E2eArgs {
    /// When `--kill` strikes, in seconds after the measured window starts.
    fn kill_at_s(&self) -> f64 {
        self.kill_at.unwrap_or(self.duration as f64 / 2.0)
    }

    /// Whether the run ends with the check (`verify.rs`).
    fn checks(&self) -> bool {
        self.verify || self.kill.is_some()
    }
}

fn check(args: &E2eArgs) -> Result<(), CliError> {
    if !(1..=DURATION_S_MAX).contains(&args.duration) || args.warmup > WARMUP_S_MAX {
        return Err(CliError::bad_input(format!(
            "--duration must be 1 to {DURATION_S_MAX}, --warmup 0 to {WARMUP_S_MAX}"
        )));
    }
    if !(args.rate > 0.0 && args.rate <= RATE_PER_S_MAX) {
        return Err(CliError::bad_input(format!("--rate must be above 0 and at most {RATE_PER_S_MAX}")));
    }
    if !(2..=TERMINALS_MAX).contains(&args.terminals) {
        return Err(CliError::bad_input(format!("--terminals must be 2 to {TERMINALS_MAX} (one per issuer at least)")));
    }
    if args.merchants.is_some_and(|m| !(1..=args.terminals.min(MERCHANTS_MAX)).contains(&m)) {
        return Err(CliError::bad_input(format!("--merchants must be 1 to --terminals (at most {MERCHANTS_MAX})")));
    }
    if u16::from(args.chip_percent) + u16::from(args.tap_percent) > 100 {
        return Err(CliError::bad_input("--chip-percent and --tap-percent may add up to 100 at most"));
    }
    if !(1..=TIMEOUT_MS_MAX).contains(&args.timeout_ms) || !(1..=THREADS_MAX).contains(&args.threads) {
        return Err(CliError::bad_input(format!(
            "--timeout-ms must be 1 to {TIMEOUT_MS_MAX}, --threads 1 to {THREADS_MAX}"
        )));
    }
    if args.kill_at.is_some_and(|at| !(at >= 0.0 && at < args.duration as f64)) {
        return Err(CliError::bad_input("--kill-at must be 0 or more and less than --duration"));
    }
    let per_terminal = args.rate * (args.warmup + args.duration) as f64 / args.terminals as f64;
    if args.checks() && per_terminal > CHECKED_PURCHASES_PER_TERMINAL_MAX {
        return Err(CliError::bad_input(format!(
            "--kill and --verify check at most {CHECKED_PURCHASES_PER_TERMINAL_MAX} purchases per terminal: \
             lower --rate or the run's length, or add --terminals"
        )));
    }
    if args.dir.as_ref().is_some_and(|dir| dir.exists()) {
        return Err(CliError::bad_input("--dir exists: give a folder that does not exist yet"));
    }
    Ok(())
}

pub fn run(mut args: E2eArgs) -> Result<(), CliError> {
    check(&args)?;
    let merchants = *args.merchants.get_or_insert(args.terminals.div_ceil(TERMINALS_PER_MERCHANT_DEFAULT));
    let exe = std::env::current_exe().map_err(|e| CliError::Failure(format!("bench e2e: this executable: {e}")))?;
    let scratch = format!("cardnet-bench-e2e-{}", std::process::id());
    let dir = args.dir.clone().unwrap_or_else(|| std::env::temp_dir().join(&scratch));
    let memory = std::path::Path::new(MEMORY_FS);
    let terminals_dir =
        if memory.is_dir() { memory.join(format!("{scratch}-terminals")) } else { dir.join("terminals") };
    let say = |text: &str| {
        if !args.json {
            eprintln!("bench e2e: {text}");
        }
    };
    say(&format!("setting up the network and {} terminals in {}", args.terminals, dir.display()));
    let risk_rules = args.risk_rules.as_deref();
    let result =
        setup::set_up(&exe, &dir, args.terminals, merchants, args.pg_url.as_deref(), risk_rules).and_then(|network| {
            say("starting the issuers, the switch and the acquirer host");
            on_network(&args, &exe, &dir, &terminals_dir, &network)
        });
    let _ = std::fs::remove_dir_all(&terminals_dir);
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let (measured, killed, verdict) = result?;
    let run = measured.run();
    let figures = report::Figures::of(&run);
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get);
    if args.json {
        let context = json!({
            "backend": if args.pg_url.is_some() { "postgres" } else { "sqlite" },
            "terminals": args.terminals,
            "merchants": merchants,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rate_offered_per_s": args.rate,
            "chip_percent": args.chip_percent,
            "tap_percent": args.tap_percent,
            "generator_threads": args.threads,
            "cores": cores,
            "parties_killed": killed,
        });
        let mut value = figures.json(&run, context);
        if let (Some(object), serde_json::Value::Object(check)) =
            (value.as_object_mut(), check_json(&args, &measured, verdict.as_ref()))
        {
            object.extend(check);
        }
        outln!("{value}");
    } else {
        outln!(
            "bench e2e: {} terminals of {} merchants, {} s measured after {} s warm-up, {} stores, {cores} cores",
            args.terminals,
            merchants,
            args.duration,
            args.warmup,
            if args.pg_url.is_some() { "PostgreSQL" } else { "SQLite" }
        );
        for line in figures.lines(&run) {
            outln!("  {line}");
        }
        if !killed.is_empty() {
            outln!("  killed after not stopping on SIGTERM: {}", killed.join(", "));
        }
        for line in check_lines(&measured, verdict.as_ref()) {
            outln!("  {line}");
        }
    }
    if let Some((_, verdict)) = &verdict
        && verdict.violations > 0
    {
        return Err(CliError::Failure(format!(
            "bench e2e: {} approvals the terminals saw are not held exactly once at the issuers; the first: {}",
            verdict.violations,
            verdict.shown.join("; ")
        )));
    }
    if args.kill.is_some() {
        // A party down for a moment leaves purchases unanswered by design: the check is the rule.
        return Ok(());
    }
    let fraction = figures.answered_fraction();
    if fraction < ANSWERED_FRACTION_MIN {
        return Err(CliError::Failure(format!(
            "bench e2e: only {:.1} % of the {} purchases due in the measured window were answered (at least {:.0} % must be)",
            fraction * 100.0,
            figures.due,
            ANSWERED_FRACTION_MIN * 100.0
        )));
    }
    Ok(())
}

/// What a run on the network gave: the measurements, the parties that had to be killed to
/// stop, and the check's outcome (`--kill`, `--verify`).
type Ran = (run::Measured, Vec<String>, Option<(verify::Quiet, verify::Verdict)>);

/// Start the parties, run the load (and `--kill`), let the network go quiet for the check,
/// stop the parties, check, and drop the PostgreSQL schemas however it went.
fn on_network(
    args: &E2eArgs,
    exe: &std::path::Path,
    dir: &std::path::Path,
    terminals_dir: &std::path::Path,
    network: &setup::Network,
) -> Result<Ran, CliError> {
    let (mut parties, bound) =
        crate::parties::Parties::start(exe, dir, &network.parties, crate::parties::Listen::PortZero)?;
    let outcome = run::load(args, network, &mut parties, &bound, terminals_dir, exe);
    // Reversals of answers lost in the kill reach the issuers before they are read.
    let quiet = match &outcome {
        Ok(measured) if measured.journals.is_some() => Some(verify::wait_quiet(network)),
        _ => None,
    };
    // The issuers' databases are read with no party running (one process per SQLite ledger).
    let killed = parties.stop();
    let verdict = match (&outcome, quiet) {
        (Ok(measured), Some(quiet)) => match (quiet, &measured.journals) {
            (Ok(quiet), Some(journals)) => Some(verify::check(network, journals).map(|v| (quiet, v))),
            (Err(error), _) => Some(Err(error)),
            (Ok(_), None) => None,
        },
        _ => None,
    };
    if let Some(url) = &args.pg_url {
        for schema in &network.schemas {
            let _ = sqlstore::drop_postgres_schema(url, schema);
        }
    }
    let measured = outcome?;
    Ok((measured, killed, verdict.transpose()?))
}

/// The JSON keys of `--kill` and of the check.
fn check_json(
    args: &E2eArgs,
    measured: &run::Measured,
    verdict: Option<&(verify::Quiet, verify::Verdict)>,
) -> serde_json::Value {
    let mut value = json!({});
    if let Some(struck) = &measured.struck {
        let window_start = measured.window_start();
        value["killed"] = json!(struck.name);
        value["killed_at_s"] =
            json!((struck.at.saturating_duration_since(window_start).as_secs_f64() * 1_000.0).round() / 1_000.0);
        value["killed_down_ms"] = json!(struck.down_ms);
    } else if let Some(party) = args.kill {
        value["killed"] = json!(party.name());
    }
    if let (Some((quiet, verdict)), Some(journals)) = (verdict, &measured.journals) {
        value["verified_approvals"] = json!(verdict.verified_approvals);
        value["violations"] = json!(verdict.violations);
        value["violations_first"] = json!(verdict.shown);
        value["issuer_holds_unseen"] = json!(verdict.holds_unseen);
        value["issuer_holds_released"] = json!(verdict.holds_released);
        value["terminal_reversals_pending"] = json!(journals.reversals_pending);
        value["terminal_journal_errors"] = json!(journals.errors);
        value["saf_pending_after_wait"] = json!(quiet.saf_pending);
        value["quiet_wait_ms"] = json!(quiet.waited_ms);
    }
    value
}

/// The plain report's lines of `--kill` and of the check.
fn check_lines(measured: &run::Measured, verdict: Option<&(verify::Quiet, verify::Verdict)>) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(struck) = &measured.struck {
        let at_s = struck.at.saturating_duration_since(measured.window_start()).as_secs_f64();
        lines.push(format!(
            "killed the {} (SIGKILL) {at_s:.1} s into the window; listening again {} ms later",
            struck.name, struck.down_ms
        ));
    }
    if let (Some((quiet, verdict)), Some(journals)) = (verdict, &measured.journals) {
        lines.push(format!(
            "check: {} approvals held exactly once, {} violations; {} holds no terminal saw approved, \
             {} released, {} reversals still owed by terminals, {} store-and-forward entries pending after {} ms",
            verdict.verified_approvals,
            verdict.violations,
            verdict.holds_unseen,
            verdict.holds_released,
            journals.reversals_pending,
            quiet.saf_pending,
            quiet.waited_ms
        ));
        lines.extend(verdict.shown.iter().map(|text| format!("violation: {text}")));
        lines.extend(journals.errors.iter().map(|text| format!("terminal after the run: {text}")));
    }
    lines
}
