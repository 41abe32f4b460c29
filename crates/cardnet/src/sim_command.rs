//! `cardnet sim`: run the deterministic simulation (`crates/sim`) over consecutive seeds and
//! report the failing ones, each with the command that replays it. The seeds run one after the
//! other on this thread (a run is single-threaded by design).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use sim::SimOptions;

use crate::cli_error::CliError;
use crate::output;

/// Seeds one invocation runs at most.
const SEEDS_MAX: u64 = 1_000_000;
/// Purchases per run at most (the simulation's own bound).
const PURCHASES_MAX: usize = sim::run::PURCHASES_MAX;

#[derive(clap::Args)]
pub struct SimArgs {
    /// How many seeds to run: S, S+1, …
    #[arg(long, default_value_t = 10)]
    seeds: u64,
    /// The first seed (default: one from the system clock, printed so the run can be repeated).
    #[arg(long)]
    seed: Option<u64>,
    /// Purchases per run.
    #[arg(long, default_value_t = 40)]
    purchases: usize,
    /// POS terminals at the acquirer (each the real terminal core on its own journal).
    #[arg(long, default_value_t = 4)]
    terminals: usize,
    /// Messages lost during the workload, in percent.
    #[arg(long, default_value_t = 10)]
    loss_percent: u32,
    /// Messages delivered twice during the workload, in percent.
    #[arg(long, default_value_t = 10)]
    duplicate_percent: u32,
    /// Party crashes per run (acquirer, switch or issuer, seeded time and downtime; each
    /// restarts from its database).
    #[arg(long, default_value_t = 0)]
    crashes: u32,
    /// Link partitions per run (a seeded link cut both ways for 0.5 to 10 s).
    #[arg(long, default_value_t = 0)]
    partitions: u32,
    /// Power cuts per run (acquirer, switch or issuer loses the batch it is deciding before its
    /// commit, then restarts from its database).
    #[arg(long, default_value_t = 0)]
    power_cuts: u32,
    /// Connections closed per run during the workload (the requests open on one fail at once,
    /// as over a lost link; what is on its way is gone).
    #[arg(long, default_value_t = 0)]
    connection_cuts: u32,
    /// Leave out end of day (by default each run's day then goes through `cardnet eod run`'s
    /// steps on the simulated clock, and the books are checked).
    #[arg(long)]
    no_end_of_day: bool,
    /// Print one JSON object: seeds, failed, failing_seeds.
    #[arg(long)]
    json: bool,
}

pub fn run(args: SimArgs) -> Result<(), CliError> {
    if args.seeds == 0 || args.seeds > SEEDS_MAX {
        return Err(CliError::bad_input(format!("--seeds must be 1 to {SEEDS_MAX}")));
    }
    if args.purchases > PURCHASES_MAX
        || args.loss_percent > 100
        || args.duplicate_percent > 100
        || args.crashes > sim::run::CRASHES_MAX
        || args.partitions > sim::run::PARTITIONS_MAX
        || args.connection_cuts > sim::run::PARTITIONS_MAX
        || args.power_cuts > sim::run::CRASHES_MAX
        || !(1..=sim::world::TERMINALS_MAX).contains(&args.terminals)
    {
        return Err(CliError::bad_input(format!(
            "--purchases must be at most {PURCHASES_MAX}, --terminals 1 to {}, --crashes, --power-cuts, --partitions and --connection-cuts at most {}, percentages at most 100",
            sim::world::TERMINALS_MAX,
            sim::run::CRASHES_MAX.min(sim::run::PARTITIONS_MAX)
        )));
    }
    let first = args.seed.unwrap_or_else(clock_seed);
    let progress = if args.json { ProgressBar::hidden() } else { ProgressBar::new(args.seeds) };
    progress.set_draw_target(if args.json { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() });
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} seeds {per_sec} eta {eta}") {
        progress.set_style(style);
    }
    let mut failing = Vec::new();
    // Every run's trace digest folded in seed order: two invocations with the same options
    // print the same value (replay across processes).
    let mut digest = 0u64;
    // Simulated time covered by all runs, against the wall clock: how much faster than real
    // time the simulation goes (a timing, so not part of what two campaigns must agree on).
    let mut simulated_ms = 0u64;
    let started = std::time::Instant::now();
    // End of day's figures over every run (deterministic: counts and amounts of the seeds).
    let (mut cleared, mut matched, mut differences) = (0u64, 0u64, 0u64);
    for seed in (0..args.seeds).map(|n| first.wrapping_add(n)) {
        let options = SimOptions {
            crashes: args.crashes,
            partitions: args.partitions,
            connection_cuts: args.connection_cuts,
            terminals: args.terminals,
            power_cuts: args.power_cuts,
            end_of_day: !args.no_end_of_day,
            ..SimOptions::faulty(seed, args.purchases, args.loss_percent, args.duplicate_percent)
        };
        let report = sim::run(&options).map_err(|e| CliError::Failure(format!("seed {seed}: {e}")))?;
        digest = digest.rotate_left(5) ^ report.digest;
        simulated_ms = simulated_ms.saturating_add(report.simulated_ms);
        cleared += report.day_end.cleared;
        matched += report.day_end.recon_matched;
        differences += report.day_end.recon_exceptions;
        if !report.passed() {
            progress.suspend(|| {
                eprintln!("seed {seed} failed: {}", report.violations.join("; "));
                eprintln!("  replay: {}", sim::replay_command(&options));
            });
            failing.push(seed);
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    let real_ms = started.elapsed().as_millis().max(1) as u64;
    let ratio = simulated_ms as f64 / real_ms as f64;
    if args.json {
        output::json(&json!({
            "first_seed": first,
            "seeds": args.seeds,
            "failed": failing.len(),
            "failing_seeds": failing,
            "trace_digest": format!("{digest:016x}"),
            "end_of_day": { "records_cleared": cleared, "recon_matched": matched, "recon_differences": differences },
            "simulated_s": simulated_ms / 1_000,
            "real_ms": real_ms,
            "simulated_per_real": (ratio * 10.0).round() / 10.0,
        }))?;
    } else {
        output::line(format_args!(
            "{} seeds from {first}: {} failed{}; trace digest {digest:016x}; {} s simulated in {:.1} s ({ratio:.0}× real time)",
            args.seeds,
            failing.len(),
            if failing.is_empty() { String::new() } else { format!(" ({failing:?})") },
            simulated_ms / 1_000,
            real_ms as f64 / 1_000.0,
        ))?;
    }
    if failing.is_empty() {
        Ok(())
    } else {
        Err(CliError::Failure(format!("{} of {} seeds failed", failing.len(), args.seeds)))
    }
}

/// A first seed when none is given: the clock's nanoseconds (the CLI, not a simulated core,
/// reads it; the seed is printed with the result).
fn clock_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}
