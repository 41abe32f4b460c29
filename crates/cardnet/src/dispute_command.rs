//! `cardnet dispute list|show|resolve --config switch.toml`: the switch's exceptions (差错) —
//! what reconciliation could not match — and their resolutions. The rules live in
//! `crates/switch/src/disputes.rs`; this file reads arguments and prints.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use clock::Clock;
use serde_json::{Value, json};
use switch::disputes::{self, Action, AuditEntry, DisputeError, Exception, ListFilter, Resolution};

use crate::cli_error::CliError;
use crate::output::outln;

#[derive(Subcommand)]
pub enum DisputeCommand {
    /// The exceptions, oldest first (at most 10,000).
    List(ListArgs),
    /// One exception with its audit trail (who, when, why, what).
    Show(ShowArgs),
    /// Resolve an exception: an adjustment, a chargeback cycle step or a write-off.
    Resolve(ResolveArgs),
}

#[derive(Args)]
pub struct ListArgs {
    /// The switch's configuration file (its database holds the exceptions).
    #[arg(long)]
    config: PathBuf,
    /// Only these: open (not resolved, the chargeback cycle included) or resolved.
    #[arg(long)]
    status: Option<String>,
    /// Only those found on this business date, YYYY-MM-DD.
    #[arg(long)]
    date: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ShowArgs {
    /// The exception's id.
    id: u64,
    /// The switch's configuration file (its database holds the exceptions).
    #[arg(long)]
    config: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ResolveArgs {
    /// The exception's id.
    id: u64,
    /// The switch's configuration file (its database holds the exceptions).
    #[arg(long)]
    config: PathBuf,
    /// credit_adjustment, debit_adjustment, chargeback, representment, second_chargeback or write_off.
    #[arg(long)]
    action: String,
    /// Who resolves it (kept in the audit trail).
    #[arg(long)]
    by: String,
    /// Why (kept in the audit trail; a write-off needs one like every action).
    #[arg(long)]
    reason: String,
    /// Amount in minor units (default: the record's, or the cycle's last step's; never more).
    #[arg(long)]
    amount: Option<u64>,
    /// The business date its clearing record goes on (default: the switch's first open date after the one found).
    #[arg(long)]
    clearing_date: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(command: DisputeCommand) -> Result<(), CliError> {
    match command {
        DisputeCommand::List(args) => list(&args),
        DisputeCommand::Show(args) => show(&args),
        DisputeCommand::Resolve(args) => resolve(&args),
    }
}

fn open(config: &Path) -> Result<sqlstore::Database, CliError> {
    let config = switch::SwitchConfig::load(config).map_err(CliError::bad_input)?;
    switch::settlement::open_database(&config.database).map_err(|e| CliError::Failure(e.to_string()))
}

fn dispute_error(error: DisputeError) -> CliError {
    match error {
        DisputeError::Store(_) => CliError::Failure(error.to_string()),
        other => CliError::bad_input(other),
    }
}

fn date_arg(option: &str, text: &str) -> Result<clearing::BusinessDate, CliError> {
    clearing::BusinessDate::parse(text).map_err(|e| CliError::bad_input(format!("{option}: {e}")))
}

/// An optional field as printed: empty when absent.
fn or_empty<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn exception_json(e: &Exception) -> Value {
    let r = &e.record;
    json!({
        "id": e.id,
        "date": e.date.to_string(),
        "class": e.class.name(),
        "status": e.stage.status(),
        "stage": e.stage.name(),
        "reference": r.reference,
        "acquirer": r.acquirer.as_str(),
        "issuer": r.issuer.as_str(),
        "amount_minor": r.amount_minor,
        "stage_amount_minor": e.stage_amount_minor,
        "currency": r.currency.as_str(),
        "stan": or_empty(r.stan),
        "transmission_time": r.transmission_time,
        "rrn": or_empty(r.rrn),
        "pan_masked": r.pan_masked,
        "opened_ms": e.opened_ms,
    })
}

fn entry_json(entry: &AuditEntry) -> Value {
    json!({
        "id": entry.id,
        "at_ms": entry.at_ms,
        "by": entry.by,
        "action": entry.action,
        "reason": entry.reason,
        "stage_before": entry.stage_before.map(|s| s.name()),
        "stage_after": entry.stage_after.name(),
        "amount_minor": entry.amount_minor,
        "clearing_date": entry.clearing_date.map(|d| d.to_string()),
        "clearing_reference": entry.clearing_reference,
    })
}

fn list(args: &ListArgs) -> Result<(), CliError> {
    let resolved = match args.status.as_deref() {
        None => None,
        Some("open") => Some(false),
        Some("resolved") => Some(true),
        Some(other) => return Err(CliError::bad_input(format!("--status {other:?}: open or resolved"))),
    };
    let date = args.date.as_deref().map(|d| date_arg("--date", d)).transpose()?;
    let db = open(&args.config)?;
    let exceptions = disputes::list(&db, ListFilter { resolved, date }).map_err(dispute_error)?;
    if args.json {
        let items: Vec<Value> = exceptions.iter().map(exception_json).collect();
        crate::output::json(&json!({ "count": items.len(), "exceptions": items }))?;
        return Ok(());
    }
    if exceptions.is_empty() {
        outln!("no exceptions");
    }
    for e in &exceptions {
        outln!(
            "{:>6}  {}  {:<27} {:<16} ref {:<12} {} → {}  {} {}  {}",
            e.id,
            e.date,
            e.class.name(),
            e.stage.status(),
            e.record.reference,
            e.record.acquirer,
            e.record.issuer,
            e.record.amount_minor,
            e.record.currency,
            e.record.pan_masked
        );
    }
    Ok(())
}

fn show(args: &ShowArgs) -> Result<(), CliError> {
    let db = open(&args.config)?;
    let (exception, trail) = disputes::show(&db, args.id).map_err(dispute_error)?;
    if args.json {
        let mut value = exception_json(&exception);
        let audit: Vec<Value> = trail.iter().map(entry_json).collect();
        if let Some(object) = value.as_object_mut() {
            object.insert("audit".into(), Value::Array(audit));
        }
        crate::output::json(&value)?;
        return Ok(());
    }
    let r = &exception.record;
    outln!(
        "exception {} ({}), found {}: {}",
        exception.id,
        exception.stage.status(),
        exception.date,
        exception.class.name()
    );
    outln!("  record {}  {} → {}  {} minor units {}", r.reference, r.acquirer, r.issuer, r.amount_minor, r.currency);
    outln!("  STAN {} at {}  RRN {}  card {}", or_empty(r.stan), r.transmission_time, or_empty(r.rrn), r.pan_masked);
    outln!("  stage {} (next step at most {} minor units)", exception.stage.name(), exception.stage_amount_minor);
    outln!("audit trail:");
    for entry in &trail {
        let amount = entry.amount_minor.map(|a| format!(" {a} minor units")).unwrap_or_default();
        let clearing = match (entry.clearing_date, entry.clearing_reference) {
            (Some(date), Some(reference)) => format!(", clears {date} as {reference}"),
            _ => String::new(),
        };
        outln!("  {}  {} by {}{amount}{clearing}: {}", entry.at_ms, entry.action, entry.by, entry.reason);
    }
    Ok(())
}

/// Where a resolution made now clears ([`disputes::clearing_date`]), under the switch's cut-off.
fn next_open_date(
    config: &std::path::Path,
    db: &sqlstore::Database,
    id: u64,
    now_ms: u64,
) -> Result<clearing::BusinessDate, CliError> {
    let (exception, _) = disputes::show(db, id).map_err(dispute_error)?;
    let cutoff = switch::SwitchConfig::load(config).map_err(CliError::bad_input)?.cutoff_resolved();
    disputes::clearing_date(db, cutoff, exception.date, now_ms).map_err(dispute_error)
}

fn resolve(args: &ResolveArgs) -> Result<(), CliError> {
    let action = Action::from_name(&args.action).ok_or_else(|| {
        let names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
        CliError::bad_input(format!("--action {:?}: one of {}", args.action, names.join(", ")))
    })?;
    let now_ms = clock::SystemClock.now_ms();
    let db = open(&args.config)?;
    let clearing_date = match &args.clearing_date {
        Some(text) => date_arg("--clearing-date", text)?,
        None => next_open_date(&args.config, &db, args.id, now_ms)?,
    };
    let resolution = Resolution { action, by: args.by.clone(), reason: args.reason.clone(), amount_minor: args.amount };
    let resolved = disputes::resolve(&db, args.id, &resolution, now_ms, clearing_date).map_err(dispute_error)?;
    if args.json {
        let record = resolved.record.as_ref().map(|r| {
            json!({
                "date": r.date.to_string(),
                "reference": r.reference,
                "code": r.code.code(),
                "amount_minor": r.amount_minor,
                "settlement_minor": r.settlement_minor,
                "currency": r.currency.as_str(),
            })
        });
        crate::output::json(&json!({
            "id": resolved.exception.id,
            "action": action.name(),
            "status": resolved.exception.stage.status(),
            "stage": resolved.exception.stage.name(),
            "amount_minor": resolved.entry.amount_minor,
            "clearing_record": record,
        }))?;
        return Ok(());
    }
    outln!(
        "exception {}: {} by {} — now {}",
        resolved.exception.id,
        action.name(),
        args.by,
        resolved.exception.stage.status()
    );
    match &resolved.record {
        Some(r) => outln!(
            "  clears on {} as record {} ({}, {} minor units {}, issuer → acquirer {})",
            r.date,
            r.reference,
            r.code.code(),
            r.amount_minor,
            r.currency,
            r.settlement_minor
        ),
        None => outln!("  written off: no money moves"),
    }
    Ok(())
}
