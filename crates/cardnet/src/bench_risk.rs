//! `cardnet bench risk`: the risk engine's evaluation latency with the 50-rule set and a
//! million tracked cards (`risk::bench`), one JSON object under `--json`. Build with
//! `--release` for numbers worth quoting: `optimized` in the report says which it was.

use clap::Args;
use serde_json::json;

use crate::cli_error::CliError;
use crate::output::outln;

/// Authorizations one run may time, at most: each keeps its latency (4 bytes) until sorted.
const EVALUATIONS_MAX: usize = 100_000_000;

#[derive(Args)]
pub struct RiskArgs {
    /// Distinct cards tracked before timing starts (1 to 1,048,576).
    #[arg(long, default_value_t = 1_000_000)]
    cards: usize,
    /// Authorizations evaluated and timed, each on its own (1 to 100,000,000).
    #[arg(long, default_value_t = 1_000_000)]
    evaluations: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: RiskArgs) -> Result<(), CliError> {
    let cards_max = risk::store::CARDS_TRACKED_MAX;
    if !(1..=cards_max).contains(&args.cards) {
        return Err(CliError::bad_input(format!("--cards must be 1 to {cards_max}")));
    }
    if !(1..=EVALUATIONS_MAX).contains(&args.evaluations) {
        return Err(CliError::bad_input(format!("--evaluations must be 1 to {EVALUATIONS_MAX}")));
    }
    eprintln!("bench risk: tracking {} cards, then timing {} evaluations…", args.cards, args.evaluations);
    let options =
        risk::bench::BenchOptions { cards_tracked: args.cards, evaluations: args.evaluations, ..Default::default() };
    // The bench's own rule set failing to parse is cardnet's bug, not the user's input.
    let report = risk::bench::run(options).map_err(|e| CliError::Failure(format!("bench rules: {e}")))?;
    let optimized = !cfg!(debug_assertions);
    if args.json {
        let mut value = serde_json::to_value(&report).map_err(|e| CliError::Failure(e.to_string()))?;
        if let Some(object) = value.as_object_mut() {
            object.insert("optimized".into(), json!(optimized));
        }
        crate::output::json(&value)?;
        return Ok(());
    }
    outln!("rules              {}", report.rules);
    outln!("cards tracked      {}", report.cards_tracked);
    outln!("evaluations        {}", report.evaluations);
    outln!("latency p50        {:.3} µs", report.latency_us_p50);
    outln!("latency p99        {:.3} µs", report.latency_us_p99);
    outln!("latency p99.9      {:.3} µs", report.latency_us_p999);
    outln!("latency max        {:.3} µs", report.latency_us_max);
    outln!("evaluations/s      {:.0}", report.evaluations_per_s);
    outln!("memory             {} bytes ({} per card)", report.memory_bytes, report.bytes_per_card);
    outln!("declines / alerts  {} / {}", report.declines, report.alerts);
    outln!("preload            {:.2} s", report.preload_s);
    if !optimized {
        outln!("(a debug build: run `cargo build --release` for numbers worth quoting)");
    }
    Ok(())
}
