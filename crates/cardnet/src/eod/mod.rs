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
//! process at a time.

mod net;
mod recon_sources;
mod steps;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value, json};

use crate::cli_error::CliError;
use crate::output::outln;
pub use net::NetDir;

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

/// The steps, in the order `eod run` takes them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Step {
    Cutoff,
    Clearing,
    Settle,
    Post,
    Merchants,
    Recon,
}

impl Step {
    pub const ALL: [Step; 6] = [Step::Cutoff, Step::Clearing, Step::Settle, Step::Post, Step::Merchants, Step::Recon];

    pub fn name(self) -> &'static str {
        match self {
            Step::Cutoff => "cutoff",
            Step::Clearing => "clearing",
            Step::Settle => "settlement",
            Step::Post => "issuer_posting",
            Step::Merchants => "merchant_settlement",
            Step::Recon => "reconciliation",
        }
    }

    /// Run this step; its JSON summary carries `status`: `done` or `already_done`.
    fn run(self, net: &NetDir, date: clearing::BusinessDate, early: bool) -> Result<Value, CliError> {
        match self {
            Step::Cutoff => steps::cutoff(net, date, early),
            Step::Clearing => steps::clearing(net, date),
            Step::Settle => steps::settle(net, date),
            Step::Post => steps::post(net, date),
            Step::Merchants => steps::merchants(net, date),
            Step::Recon => recon_sources::reconcile(net, date),
        }
    }
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
    let net = NetDir::open(dir)?;
    net.check_stopped()?;
    let progress = progress_bar(steps.len() as u64, quiet);
    let mut results = Map::new();
    for step in steps {
        progress.set_message(step.name());
        let result = step.run(&net, date, early).map_err(|e| in_step(*step, e))?;
        progress.inc(1);
        results.insert(step.name().to_owned(), result);
    }
    progress.finish_and_clear();
    Ok(summary(date, &net, results))
}

fn in_step(step: Step, error: CliError) -> CliError {
    match error {
        CliError::BadInput(m) => CliError::BadInput(format!("eod {}: {m}", step.name())),
        CliError::Failure(m) => CliError::Failure(format!("eod {}: {m}", step.name())),
        other => other,
    }
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

/// One object: the date, each step's result, and the figures a person looks for first lifted to
/// the top (members' net positions, merchants' payouts, reconciliation's counts).
fn summary(date: clearing::BusinessDate, net: &NetDir, steps: Map<String, Value>) -> Value {
    let pick = |step: Step, key: &str| steps.get(step.name()).and_then(|s| s.get(key)).cloned();
    let mut top = json!({ "date": date.to_string(), "dir": net.dir.display().to_string() });
    if let Some(object) = top.as_object_mut() {
        if let Some(members) = pick(Step::Settle, "members") {
            object.insert("members".into(), members);
        }
        if let Some(merchants) = pick(Step::Merchants, "merchants") {
            object.insert("merchants".into(), merchants);
        }
        if let Some(recon) = steps.get(Step::Recon.name()).and_then(|s| s.get("summary")).cloned() {
            object.insert("reconciliation".into(), recon);
        }
        object.insert("steps".into(), Value::Object(steps));
    }
    top
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

/// Minor units as major with two decimals (CNY and the other currencies this network carries
/// all have two).
pub fn amount(minor: Option<i64>) -> String {
    let Some(minor) = minor else { return "-".into() };
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}
