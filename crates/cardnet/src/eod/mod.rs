//! `cardnet eod`: end of day for a development network (a folder `cardnet network init` wrote),
//! each party's step on its own data, exchanging files as members do:
//!
//! cut-off (the switch closes the date) → clearing (the switch writes one file per member) →
//! net settlement (the switch's settlement ledger and the settlement bank's statements) →
//! issuer posting (each issuer posts its clearing file) → merchant settlement (the acquirer pays
//! its merchants after fees and ties the payouts to its net position) → reconciliation (every
//! source read afresh and matched; differences opened as exceptions at the switch).
//!
//! `eod run` runs them in order; each also runs alone with the same `--dir`/`--date`. Every
//! step is safe to re-run: it finds its earlier result and says so (`"status": "already_done"`).
//! The parties' servers should be stopped while it runs: an issuer's ledger belongs to one
//! process at a time. The steps live in `crates/eod` (the simulation runs them too); this file
//! reads arguments, shows progress and prints.

use std::path::PathBuf;
use std::sync::Arc;

use ::eod::{Step, amount};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use crate::cli_error::CliError;
use crate::output::outln;
#[derive(Subcommand)]
pub enum EodCommand {
    /// Every step in order: cut-off, clearing, settlement, issuer posting, merchants, reconciliation.
    Run(DayArgs),
    /// Close the business date at the switch (refused before its cut-off).
    Cutoff(DayArgs),
    /// Write the date's clearing files, one per member, into NET/clearing/DATE/.
    Clearing(DayArgs),
    /// Net settlement between members on the switch's settlement ledger; bank statements.
    Settle(DayArgs),
    /// Each issuer posts its clearing file (holds become posted; missing holds are force-posted).
    Post(DayArgs),
    /// The acquirer's merchant settlement: payouts after fees, statements, funds-arrival notices.
    Merchants(DayArgs),
    /// Reconcile terminal batches, the acquirer journal, clearing, issuer postings and the bank.
    Recon(DayArgs),
}

#[derive(Args, Clone)]
pub struct DayArgs {
    /// The network's folder, as `cardnet network init --dir` wrote it.
    #[arg(long, value_name = "NET")]
    pub dir: PathBuf,
    /// The business date, YYYY-MM-DD.
    #[arg(long)]
    pub date: String,
    /// Close the date now, before its cut-off (an operator's forced cut-over; later arrivals go to the next date, marked late).
    #[arg(long)]
    pub early: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(command: EodCommand) -> Result<(), CliError> {
    let (steps, args): (&[Step], DayArgs) = match command {
        EodCommand::Run(args) => (&Step::ALL, args),
        EodCommand::Cutoff(args) => (&[Step::Cutoff], args),
        EodCommand::Clearing(args) => (&[Step::Clearing], args),
        EodCommand::Settle(args) => (&[Step::Settle], args),
        EodCommand::Post(args) => (&[Step::Post], args),
        EodCommand::Merchants(args) => (&[Step::Merchants], args),
        EodCommand::Recon(args) => (&[Step::Recon], args),
    };
    run_steps(steps, &args)
}

/// `cardnet recon --dir NET --date D`: the reconciliation step alone.
pub fn recon(args: DayArgs) -> Result<(), CliError> {
    run_steps(&[Step::Recon], &args)
}

fn run_steps(steps: &[Step], args: &DayArgs) -> Result<(), CliError> {
    let date = clearing::BusinessDate::parse(&args.date).map_err(|e| CliError::bad_input(format!("--date: {e}")))?;
    let summary = run_on(&args.dir, date, steps, args.early, args.json)?;
    if args.json {
        return crate::output::json(&summary);
    }
    print_text(&summary)
}

/// Every step of end of day over the network folder `dir` (what `cardnet demo` runs after its
/// business day): the summary object `eod run --json` prints.
pub fn run_day(dir: &std::path::Path, date: clearing::BusinessDate, early: bool) -> Result<Value, CliError> {
    run_on(dir, date, &Step::ALL, early, true)
}

fn run_on(
    dir: &std::path::Path,
    date: clearing::BusinessDate,
    steps: &[Step],
    early: bool,
    quiet: bool,
) -> Result<Value, CliError> {
    let progress = progress_bar(steps.len() as u64, quiet);
    let clock: ::eod::SharedClock = Arc::new(clock::SystemClock);
    let mut started = 0;
    let summary = ::eod::run_steps(dir, date, steps, early, &clock, |step| {
        if started > 0 {
            progress.inc(1);
        }
        started += 1;
        progress.set_message(step.name());
    })?;
    progress.inc(1);
    progress.finish_and_clear();
    Ok(summary)
}

fn progress_bar(steps: u64, hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(steps), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("end of day {bar:30} {pos}/{len} {msg}") {
        bar.set_style(style);
    }
    bar
}

pub fn print_text(summary: &Value) -> Result<(), CliError> {
    outln!("end of day {} in {}", text(&summary["date"]), text(&summary["dir"]));
    if let Some(steps) = summary["steps"].as_object() {
        for (name, result) in steps {
            outln!("  {name}: {} — {}", text(&result["status"]), text(&result["line"]));
        }
    }
    if let Some(members) = summary["members"].as_array() {
        outln!("net positions (what each bank receives + or pays −):");
        for m in members {
            outln!("  {} {:>16} {}", text(&m["member"]), amount(m["net_minor"].as_i64()), text(&m["currency"]));
        }
    }
    if let Some(merchants) = summary["merchants"].as_array() {
        outln!("merchant payouts:");
        for m in merchants {
            outln!(
                "  {} gross {} fee {} net {} paid {}",
                text(&m["merchant_id"]),
                amount(m["gross_minor"].as_i64()),
                amount(m["fee_minor"].as_i64()),
                amount(m["net_minor"].as_i64()),
                text(&m["payout_date"])
            );
        }
    }
    if let Some(recon) = summary.get("reconciliation") {
        outln!("reconciliation: {} transactions matched, {} unmatched", recon["matched"], recon["unmatched"]);
        let resolutions = &summary["steps"]["reconciliation"]["resolutions"];
        if resolutions["records"].as_u64().unwrap_or(0) > 0 {
            outln!(
                "  exception records (差错 resolutions): {} in the clearing, {} not matching the switch's resolutions",
                resolutions["records"],
                resolutions["unmatched"]
            );
        }
        let others = &summary["steps"]["reconciliation"]["other_channels"];
        if others["records"].as_u64().unwrap_or(0) > 0 {
            outln!(
                "  ({} clearing records of channels without a journal here, {} in all, reconciled by their own host)",
                others["records"],
                amount(others["amount_minor"].as_i64())
            );
        }
    }
    Ok(())
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
