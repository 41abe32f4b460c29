//! `cardnet risk`: the risk engine's rule files and the alerts analysts work.
//!
//! * `risk rules check FILE` — validate a rule file with the engine's own parser; errors
//!   name the file and line (exit 2).
//! * `risk backtest --rules FILE --events FILE.jsonl` — a candidate rule file over past events
//!   (the format in `risk::event_file`), against `--current FILE` or against no rules.
//! * `risk aml --transactions FILE.jsonl --day D --out DIR` — the day's AML reports
//!   (`risk_aml.rs`).
//! * `risk alerts list|show|assign|close` — the cases in a party's database (`risk::cases`),
//!   every change checked against the transition table and appended to the audit trail.
//!
//! The alerts database is `--database URL`: `sqlite:PATH` (default `sqlite:risk.db`, in the
//! current directory), or `postgres://…#schema`. A SQLite file that does not exist is an
//! error rather than created empty: alerts are recorded by the party, and a mistyped path
//! should not look like a day without alerts.

use std::path::Path;

use clap::{ArgGroup, Args, Subcommand};
use risk::cases::{Alert, CaseError, Filter, Status};
use risk::cases_store::{Cases, LIST_LIMIT_MAX};
use serde_json::{Value, json};

use crate::cli_error::CliError;
use crate::output::outln;

/// The alerts database when `--database` is not given.
const DEFAULT_DATABASE: &str = "sqlite:risk.db";

#[derive(Subcommand)]
pub enum RiskCommand {
    /// Rule files: `cardnet risk rules check FILE`.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Replay past events (JSON lines) through a candidate rule file: what it would decline and alert.
    Backtest(BacktestArgs),
    /// A day's AML reports: large-value and suspicious (structuring) transactions as CSV files.
    Aml(crate::risk_aml::AmlArgs),
    /// The alerts analysts work: list, show, assign, close.
    #[command(subcommand)]
    Alerts(AlertsCommand),
}

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Validate a rule file (TOML); print its rules, or the first error as FILE:LINE (exit 2).
    Check(CheckArgs),
}

#[derive(Args)]
pub struct CheckArgs {
    /// The rule file to validate.
    file: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Changed events listed in a backtest's report, at most (the count is exact).
const CHANGED_LISTED_MAX: usize = 100;

#[derive(Args)]
pub struct BacktestArgs {
    /// The candidate rule file.
    #[arg(long)]
    rules: String,
    /// The events, one JSON object per line (format: crates/risk/src/event_file.rs).
    #[arg(long)]
    events: String,
    /// The rule file in use now, to compare with (default: no rules, so every alert and decline is new).
    #[arg(long)]
    current: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub enum AlertsCommand {
    /// Alerts newest first, filtered by status or assignee.
    List(ListArgs),
    /// One alert with its fired rules and whole audit trail.
    Show(ShowArgs),
    /// Hand an alert to an analyst (it is then being investigated).
    Assign(AssignArgs),
    /// Close an alert as fraud or not fraud (final).
    Close(CloseArgs),
}

#[derive(Args)]
pub struct DatabaseArgs {
    /// The alerts database: sqlite:PATH or postgres://…#schema.
    #[arg(long, default_value = DEFAULT_DATABASE)]
    database: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    /// Only alerts in this status: open, investigating, closed_fraud, closed_not_fraud.
    #[arg(long)]
    status: Option<String>,
    /// Only alerts assigned to this analyst.
    #[arg(long)]
    assignee: Option<String>,
    /// At most this many alerts (1 to 1,000).
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

#[derive(Args)]
pub struct ShowArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    /// The alert's id.
    id: u64,
}

#[derive(Args)]
pub struct AssignArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    /// The alert's id.
    id: u64,
    /// The analyst who takes the alert.
    #[arg(long)]
    to: String,
    /// Who assigns it, for the audit trail (default: the assignee).
    #[arg(long)]
    by: Option<String>,
    /// A note for the audit trail.
    #[arg(long)]
    note: Option<String>,
}

#[derive(Args)]
#[command(group(ArgGroup::new("finding").required(true).args(["fraud", "not_fraud"])))]
pub struct CloseArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    /// The alert's id.
    id: u64,
    /// It was fraud.
    #[arg(long)]
    fraud: bool,
    /// It was not fraud.
    #[arg(long)]
    not_fraud: bool,
    /// Who closes it, for the audit trail.
    #[arg(long)]
    by: String,
    /// A note for the audit trail.
    #[arg(long)]
    note: Option<String>,
}

pub fn run(command: RiskCommand) -> Result<(), CliError> {
    match command {
        RiskCommand::Rules(RulesCommand::Check(args)) => check(args),
        RiskCommand::Backtest(args) => backtest(args),
        RiskCommand::Aml(args) => crate::risk_aml::run(args),
        RiskCommand::Alerts(AlertsCommand::List(args)) => list(args),
        RiskCommand::Alerts(AlertsCommand::Show(args)) => show(args),
        RiskCommand::Alerts(AlertsCommand::Assign(args)) => assign(args),
        RiskCommand::Alerts(AlertsCommand::Close(args)) => close(args),
    }
}

/// The key rule files' clear card numbers are hashed with here. A check keeps nothing, so any
/// key does; a backtest's events carry the party's own hashes, which `pan_hashes` lists match
/// and `pans` lists (hashed with this key) do not.
const CHECK_KEY: [u8; 16] = *b"cardnet-rule-chk";

fn rule_file(file: &str) -> Result<risk::RuleSet, CliError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::bad_input(format!("{file}: cannot read the rule file: {e}")))?;
    risk::parse(file, &text, &risk::KeyHasher::new(CHECK_KEY)).map_err(CliError::bad_input)
}

fn backtest(args: BacktestArgs) -> Result<(), CliError> {
    let candidate = rule_file(&args.rules)?;
    let current = match &args.current {
        Some(file) => rule_file(file)?,
        None => risk::RuleSet { rules: Vec::new(), ..candidate.clone() },
    };
    let text = std::fs::read_to_string(&args.events)
        .map_err(|e| CliError::bad_input(format!("{}: cannot read the events: {e}", args.events)))?;
    let events = risk::event_file::parse_events(&text)
        .map_err(|(line, message)| CliError::bad_input(format!("{}:{line}: {message}", args.events)))?;
    let hasher = risk::KeyHasher::new(CHECK_KEY);
    let report = risk::backtest::run(&events, &current, &candidate, hasher, risk::StoreLimits::default());
    let listed: Vec<usize> = report.changed.iter().copied().take(CHANGED_LISTED_MAX).collect();
    if args.json {
        let by_rule = serde_json::to_value(&report.candidate.by_rule).map_err(|e| CliError::Failure(e.to_string()))?;
        return crate::output::json(&json!({
            "events": report.evaluated,
            "current": { "file": args.current, "declines": report.current.declines, "alerts": report.current.alerts },
            "candidate": {
                "file": args.rules,
                "declines": report.candidate.declines,
                "alerts": report.candidate.alerts,
                "by_rule": by_rule,
            },
            "changed": report.changed.len(),
            "changed_events_first": listed,
        }));
    }
    outln!("{} events", report.evaluated);
    outln!("current:   {} declines, {} alerts", report.current.declines, report.current.alerts);
    outln!("candidate: {} declines, {} alerts", report.candidate.declines, report.candidate.alerts);
    for count in report.candidate.by_rule.iter().filter(|c| c.fired > 0) {
        outln!("  {:<32} fired {} ({} in declines)", count.rule, count.fired, count.in_declines);
    }
    outln!("changed:   {} events (first, 0-based: {listed:?})", report.changed.len());
    Ok(())
}

fn check(args: CheckArgs) -> Result<(), CliError> {
    let rules = rule_file(&args.file)?;
    let ids: Vec<&str> = rules.rules.iter().map(|r| r.id.as_str()).collect();
    if args.json {
        return crate::output::json(&json!({
            "file": args.file,
            "valid": true,
            "currency": rules.currency.to_string(),
            "decline_score": rules.decline_score,
            "alert_score": rules.alert_score,
            "rules": ids.len(),
            "rule_ids": ids,
        }));
    }
    let noun = if ids.len() == 1 { "rule" } else { "rules" };
    outln!(
        "{}: {} {noun}, valid ({}; alert at {}, decline at {})",
        args.file,
        ids.len(),
        rules.currency,
        rules.alert_score,
        rules.decline_score
    );
    for id in ids {
        outln!("  {id}");
    }
    Ok(())
}

fn case_error(error: CaseError) -> CliError {
    if error.is_bad_input() { CliError::bad_input(error) } else { CliError::Failure(error.to_string()) }
}

fn open(url: &str) -> Result<Cases, CliError> {
    let is_postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let path = url.strip_prefix("sqlite:").unwrap_or(url);
    if !is_postgres && path != ":memory:" && !Path::new(path).exists() {
        return Err(CliError::bad_input(format!(
            "no alerts database at {path} (the party that records alerts creates it)"
        )));
    }
    Cases::open(url).map_err(|e| CliError::Failure(e.to_string()))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// An alert as JSON, its fired rules as JSON rather than as the text stored.
fn alert_json(alert: &Alert) -> Value {
    let mut value = serde_json::to_value(alert).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        let fired = object.remove("fired_json").and_then(|t| t.as_str().and_then(|t| serde_json::from_str(t).ok()));
        object.insert("fired".into(), fired.unwrap_or(Value::Null));
    }
    value
}

fn alert_line(alert: &Alert) -> String {
    let code = alert.response_code.as_deref().map(|c| format!(" {c}")).unwrap_or_default();
    format!(
        "{:>6}  {:<16} {:<12} {}{} score {}  {} {}  {}",
        alert.id,
        alert.status,
        alert.assignee.as_deref().unwrap_or("-"),
        alert.verdict,
        code,
        alert.score,
        alert.entity_kind.name(),
        alert.pan_masked.as_deref().unwrap_or(&alert.entity),
        alert.reference
    )
}

fn list(args: ListArgs) -> Result<(), CliError> {
    let status = match &args.status {
        Some(text) => Some(Status::parse(text).ok_or_else(|| {
            CliError::bad_input(format!("--status {text:?}: use open, investigating, closed_fraud or closed_not_fraud"))
        })?),
        None => None,
    };
    if !(1..=LIST_LIMIT_MAX).contains(&args.limit) {
        return Err(CliError::bad_input(format!("--limit must be 1 to {LIST_LIMIT_MAX}")));
    }
    let cases = open(&args.db.database)?;
    let alerts = cases.list(&Filter { status, assignee: args.assignee, limit: args.limit }).map_err(case_error)?;
    if args.db.json {
        let listed: Vec<Value> = alerts.iter().map(alert_json).collect();
        return crate::output::json(&json!({ "count": listed.len(), "alerts": listed }));
    }
    if alerts.is_empty() {
        outln!("no alerts");
    }
    for alert in &alerts {
        outln!("{}", alert_line(alert));
    }
    Ok(())
}

fn show(args: ShowArgs) -> Result<(), CliError> {
    let detail = open(&args.db.database)?.show(args.id).map_err(case_error)?;
    if args.db.json {
        let audit = serde_json::to_value(&detail.audit).map_err(|e| CliError::Failure(e.to_string()))?;
        return crate::output::json(&json!({ "alert": alert_json(&detail.alert), "audit": audit }));
    }
    let alert = &detail.alert;
    outln!("{}", alert_line(alert));
    outln!("party {}  created_ms {}  updated_ms {}", alert.party.name(), alert.created_ms, alert.updated_ms);
    outln!("fired {}", alert.fired_json);
    for entry in &detail.audit {
        let note = entry.note.as_deref().map(|n| format!(" — {n}")).unwrap_or_default();
        outln!("  #{} at_ms {} {} {} → {}{}", entry.seq, entry.at_ms, entry.who, entry.action, entry.to_status, note);
    }
    Ok(())
}

fn changed(json_out: bool, verb: &str, alert: &Alert) -> Result<(), CliError> {
    if json_out {
        return crate::output::json(&json!({ "alert": alert_json(alert) }));
    }
    outln!("alert {} {verb}: {}", alert.id, alert.status);
    Ok(())
}

fn assign(args: AssignArgs) -> Result<(), CliError> {
    let by = args.by.as_deref().unwrap_or(&args.to);
    let alert =
        open(&args.db.database)?.assign(args.id, by, &args.to, args.note.as_deref(), now_ms()).map_err(case_error)?;
    changed(args.db.json, "assigned", &alert)
}

fn close(args: CloseArgs) -> Result<(), CliError> {
    let alert = open(&args.db.database)?
        .close(args.id, &args.by, args.fraud, args.note.as_deref(), now_ms())
        .map_err(case_error)?;
    changed(args.db.json, "closed", &alert)
}
