//! `cardnet bench e2e`: an open-loop load of many virtual POS terminals against the network as
//! it runs in production — the acquirer host, the switch and two issuers each a separate
//! `cardnet serve` process on its durable stores (SQLite files, or PostgreSQL with `--pg-url`)
//! — set up through this executable's own commands (`setup.rs`), started on kernel-chosen ports
//! (`parties.rs`). Each terminal is the real terminal core, signed on, sending MAC'd purchases
//! with PIN blocks, track 2 enciphered and chip data (`terminals.rs`) on the schedule of
//! `schedule.rs`; `report.rs` turns the samples into rates, latency percentiles from due time,
//! the response codes and CPU per authorization of every process, this one included
//! (`cpu.rs`).

mod cpu;
mod parties;
mod report;
mod run;
mod schedule;
mod setup;
mod terminals;

use std::path::PathBuf;

use clap::Args;
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
/// Where the terminals' journals go when it exists: a memory file system. A terminal's journal
/// is on the terminal's own flash in production, not on the parties' disk, so its writes must
/// not compete with theirs for this machine's disk.
const MEMORY_FS: &str = "/dev/shm";

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
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
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
    let result = setup::set_up(&exe, &dir, args.terminals, merchants, args.pg_url.as_deref()).and_then(|network| {
        say("starting the issuers, the switch and the acquirer host");
        let (mut parties, bound) = parties::Parties::start(&exe, &dir, &network.parties)?;
        let outcome = run::load(&args, &network, &parties, &bound, &terminals_dir);
        let killed = parties.stop();
        if let Some(url) = &args.pg_url {
            for schema in &network.schemas {
                let _ = sqlstore::drop_postgres_schema(url, schema);
            }
        }
        let measured = outcome?;
        Ok((measured, killed))
    });
    let _ = std::fs::remove_dir_all(&terminals_dir);
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let (measured, killed) = result?;
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
        outln!("{}", figures.json(&run, context));
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
