//! `cardnet issuer post-clearing | postings | holds`: the issuer's end of day — post the
//! switch's clearing file, list what each record became, and the holds standing or expired
//! uncleared. With `--json` each prints exactly one JSON object, amounts in minor units.

use std::path::PathBuf;

use clap::Args;
use issuer::clearing::BusinessDate;
use issuer::{PostingOutcome, PostingReport};
use serde_json::{Map, Value, json};

use crate::cli_error::CliError;
use crate::output::outln;

#[derive(Args)]
pub struct PostClearingArgs {
    /// The issuer's configuration file (`cardnet issuer init` or `network init` writes one).
    #[arg(long)]
    config: PathBuf,
    /// The clearing file the switch wrote for this issuer (fixed-width or CSV).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Print one JSON object: {"network", "member", "date", "checksum", "already_posted",
    /// "records", one count per outcome ("posted", "confirmed", "state_mismatch",
    /// "force_posted", "cancelled", "credited", "debited", "duplicates", "unmatched",
    /// "rejected") and "<outcome>_minor" for what each moved on the cards}.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct PostingsArgs {
    /// The issuer's configuration file (`cardnet issuer init` or `network init` writes one).
    #[arg(long)]
    config: PathBuf,
    /// The business date cleared, YYYY-MM-DD.
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: String,
    /// Print one JSON object: {"date", "records", "postings": [{"reference", "code",
    /// "issuer_stan", "issuer_time", "acquirer", "amount_minor", "currency", "outcome", "pan",
    /// "request_key", "card_id", "moved_minor", "detail"}]} (PANs masked).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct HoldsArgs {
    /// The issuer's configuration file (`cardnet issuer init` or `network init` writes one).
    #[arg(long)]
    config: PathBuf,
    /// The holds that expired without being cleared, newest first (default: the holds standing).
    #[arg(long)]
    expired: bool,
    /// Print one JSON object: {"holds" or "expired_holds": [{"request_key", "kind", "card_id",
    /// "pan", "amount_minor", "currency", "authorized_ms" (and "expired_ms")}]} (PANs masked).
    #[arg(long)]
    json: bool,
}

/// The JSON key of an outcome's count (the report's plural for duplicates).
fn count_key(outcome: PostingOutcome) -> &'static str {
    match outcome {
        PostingOutcome::Duplicate => "duplicates",
        other => other.name(),
    }
}

fn report_json(report: &PostingReport) -> Value {
    let mut object = Map::new();
    object.insert("network".into(), json!(report.network));
    object.insert("member".into(), json!(report.member));
    object.insert("date".into(), json!(report.date.to_string()));
    object.insert("checksum".into(), json!(report.checksum));
    object.insert("already_posted".into(), json!(report.already_posted));
    object.insert("records".into(), json!(report.records));
    for &(outcome, records, moved) in &report.outcomes {
        object.insert(count_key(outcome).into(), json!(records));
        object.insert(format!("{}_minor", outcome.name()), json!(moved));
    }
    Value::Object(object)
}

pub fn post_clearing(args: PostClearingArgs) -> Result<(), CliError> {
    let issuer = super::open(&args.config)?;
    // Checked whole before anything is posted (a bad file: exit 2, its line and problem).
    let report = issuer.post_clearing_file(&args.file)?;
    if args.json {
        return crate::output::json(&report_json(&report));
    }
    outln!(
        "clearing file {} for {} from network {}, date {} (checksum {})",
        args.file.display(),
        report.member,
        report.network,
        report.date,
        report.checksum
    );
    if report.already_posted {
        outln!("already posted: nothing changed");
    }
    outln!("records: {}", report.records);
    for &(outcome, records, moved) in &report.outcomes {
        if records > 0 {
            outln!("{:<15} {records:>10}  moved {moved}", outcome.name());
        }
    }
    Ok(())
}

pub fn postings(args: PostingsArgs) -> Result<(), CliError> {
    let date = BusinessDate::parse(&args.date).map_err(|e| CliError::bad_input(format!("--date: {e}")))?;
    let issuer = super::open(&args.config)?;
    let results = issuer.posting_results(date)?;
    if args.json {
        let postings: Vec<Value> = results
            .iter()
            .map(|r| {
                json!({
                    "reference": r.reference,
                    "code": r.code.code(),
                    "issuer_stan": r.issuer_stan,
                    "issuer_time": r.issuer_time,
                    "acquirer": r.acquirer,
                    "amount_minor": r.amount_minor,
                    "currency": r.currency,
                    "outcome": r.outcome.name(),
                    "pan": r.pan_masked,
                    "request_key": r.request_key,
                    "card_id": r.card_id,
                    "moved_minor": r.moved_minor,
                    "detail": r.detail,
                })
            })
            .collect();
        return crate::output::json(&json!({"date": date.to_string(), "records": results.len(), "postings": postings}));
    }
    if results.is_empty() {
        outln!("no clearing records posted for {date}");
    }
    for r in &results {
        outln!(
            "{:>10}  {}  {} {}  {}  {:>12} {}  {:<14} {}",
            r.reference,
            r.code.code(),
            r.issuer_stan,
            r.issuer_time,
            r.pan_masked,
            r.amount_minor,
            r.currency,
            r.outcome.name(),
            r.detail
        );
    }
    Ok(())
}

pub fn holds(args: HoldsArgs) -> Result<(), CliError> {
    let issuer = super::open(&args.config)?;
    // What is due is released and recorded first, so the list is as of now even when no
    // server has swept.
    issuer.expire_holds()?;
    if args.expired {
        let expired = issuer.expired_holds()?;
        if args.json {
            let list: Vec<Value> = expired
                .iter()
                .map(|e| {
                    json!({"request_key": e.request_key, "kind": e.kind, "card_id": e.card_id, "pan": e.pan_masked,
                        "amount_minor": e.amount_minor, "currency": e.currency, "authorized_ms": e.authorized_ms,
                        "expired_ms": e.expired_ms})
                })
                .collect();
            return crate::output::json(&json!({ "expired_holds": list }));
        }
        if expired.is_empty() {
            outln!("no holds expired uncleared");
        }
        for e in &expired {
            outln!(
                "{}  {:<17} {}  {:>12} {}  expired at {} ms",
                e.request_key,
                e.kind,
                e.pan_masked,
                e.amount_minor,
                e.currency,
                e.expired_ms
            );
        }
        return Ok(());
    }
    let held = issuer.holds()?;
    if args.json {
        let list: Vec<Value> = held
            .iter()
            .map(|h| {
                json!({"request_key": h.request_key, "kind": h.kind, "card_id": h.card_id, "pan": h.pan_masked,
                    "amount_minor": h.amount_minor, "currency": h.currency, "authorized_ms": h.authorized_ms})
            })
            .collect();
        return crate::output::json(&json!({ "holds": list }));
    }
    if held.is_empty() {
        outln!("no holds standing");
    }
    for h in &held {
        outln!("{}  {:<17} {}  {:>12} {}", h.request_key, h.kind, h.pan_masked, h.amount_minor, h.currency);
    }
    Ok(())
}
