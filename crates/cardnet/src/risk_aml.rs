//! `cardnet risk aml`: a day's AML reports (`risk::aml`) from its transactions as JSON lines —
//! large-value transactions and suspicious structuring — written as two owner-only CSV files
//! for an analyst. Every threshold is an option; the defaults are `risk::aml::AmlConfig`'s.

use std::path::PathBuf;

use clap::Args;
use risk::aml::{self, AmlConfig};
use serde_json::json;

use crate::cli_error::CliError;
use crate::output::outln;

#[derive(Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["transactions", "acquirer_config", "issuer_config"]))]
pub struct AmlArgs {
    /// The day's transactions, one JSON object per line (fields: risk::aml::AmlTransaction).
    #[arg(long)]
    transactions: Option<String>,
    /// Or read them from this acquirer's journal (approved sales and refunds, not reversed).
    #[arg(long, value_name = "FILE")]
    acquirer_config: Option<PathBuf>,
    /// Or from these issuers' journals (approved purchases, completions and refunds that stand),
    /// the card holder's view: a card is its issuer's card id and masked number.
    #[arg(long, value_name = "FILE")]
    issuer_config: Vec<PathBuf>,
    /// The business day, YYYY-MM-DD (UTC); transactions outside it are counted and left out.
    #[arg(long)]
    day: String,
    /// The folder the two CSV files are written to (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// The currency reported on (ISO 4217); transactions in others are counted and left out.
    #[arg(long, default_value = "CNY")]
    currency: String,
    /// Large value, in minor units: one transaction or a card's day at or above it is reported.
    #[arg(long, default_value_t = 5_000_000)]
    large_value_minor: u64,
    /// "Just under" the large value: at or above this percent of it.
    #[arg(long, default_value_t = 90)]
    structuring_floor_percent: u8,
    /// Transactions just under the large value, on one card in the day, that are suspicious.
    #[arg(long, default_value_t = 3)]
    structuring_count: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Rows one report reads from a journal at most (a day beyond it is refused, not truncated).
const JOURNAL_ROWS_MAX: u64 = 10_000_000;
const MS_PER_DAY: u64 = 86_400_000;

/// The day's approved sales and refunds from the acquirer's journal, as the reports take them:
/// the card by its masked number (the journal keeps no other), the reference by RRN, terminal
/// and trace.
fn from_acquirer(config: &std::path::Path, day_start: u64) -> Result<Vec<aml::AmlTransaction>, CliError> {
    let clock: eod::SharedClock = std::sync::Arc::new(clock::SystemClock);
    let opened = eod::merchants::open(config, &clock).map_err(|e| CliError::bad_input(e.to_string()))?;
    let rows = opened
        .acquirer
        .approved_between(day_start, day_start + MS_PER_DAY, JOURNAL_ROWS_MAX + 1)
        .map_err(|e| CliError::Failure(format!("the acquirer's journal: {e}")))?;
    if rows.len() as u64 > JOURNAL_ROWS_MAX {
        return Err(CliError::Failure(format!("more than {JOURNAL_ROWS_MAX} transactions in the day")));
    }
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            Some(aml::AmlTransaction {
                card: row.pan_masked.clone()?,
                merchant: row.merchant_id.to_string(),
                amount_minor: row.amount_minor,
                currency: alpha_currency(&row.currency)?,
                at_ms: row.received_ms,
                kind: aml_kind(&row.kind),
                reference: format!(
                    "rrn={} terminal={} trace={}",
                    row.rrn.map(|r| r.to_string()).unwrap_or_default(),
                    row.terminal_id,
                    row.trace
                ),
            })
        })
        .collect())
}

/// The day's approvals whose money stands, from each issuer's journal: the card named by the
/// issuer and its card id (a masked number alone may be two cards), the reference by RRN,
/// terminal and the issuer's request key.
fn from_issuers(configs: &[PathBuf], day_start: u64) -> Result<Vec<aml::AmlTransaction>, CliError> {
    let clock: eod::SharedClock = std::sync::Arc::new(clock::SystemClock);
    let mut out = Vec::new();
    for path in configs {
        let config =
            issuer::IssuerConfig::load(path).map_err(|e| CliError::bad_input(format!("{}: {e}", path.display())))?;
        let issuer = eod::open_issuer(&config, &clock).map_err(|e| CliError::Failure(e.to_string()))?;
        let rows = issuer
            .approvals_between(day_start, day_start + MS_PER_DAY, JOURNAL_ROWS_MAX + 1)
            .map_err(|e| CliError::Failure(format!("{}: the issuer's journal: {e}", path.display())))?;
        if (out.len() + rows.len()) as u64 > JOURNAL_ROWS_MAX {
            return Err(CliError::Failure(format!("more than {JOURNAL_ROWS_MAX} transactions in the day")));
        }
        let name = config.institution_id.clone();
        out.extend(rows.into_iter().filter_map(|row| {
            Some(aml::AmlTransaction {
                card: format!("{} #{name}/{}", row.pan_masked, row.card_id),
                merchant: row.merchant_id.clone().unwrap_or_default(),
                amount_minor: row.amount_minor,
                currency: alpha_currency(&row.currency)?,
                at_ms: row.at_ms,
                kind: aml_kind(&row.kind),
                reference: format!(
                    "rrn={} terminal={} key={}",
                    row.rrn.as_deref().unwrap_or_default(),
                    row.terminal_id.as_deref().unwrap_or_default(),
                    row.request_key
                ),
            })
        }));
    }
    Ok(out)
}

/// A journal's currency (numeric or alphabetic) as the reports name it; `None`: not ISO 4217.
fn alpha_currency(text: &str) -> Option<String> {
    domain::Currency::parse(text).map(|c| c.alpha().to_owned()).ok()
}

/// A journal's kind as the reports count it: a refund, or money paid (sales and completions).
fn aml_kind(kind: &str) -> aml::AmlKind {
    if kind == "refund" { aml::AmlKind::Refund } else { aml::AmlKind::Purchase }
}

pub fn run(args: AmlArgs) -> Result<(), CliError> {
    let day_start = aml::day_start_ms(&args.day)
        .ok_or_else(|| CliError::bad_input(format!("--day {:?}: use YYYY-MM-DD", args.day)))?;
    let transactions = match (&args.transactions, &args.acquirer_config) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::bad_input(format!("{path}: cannot read the transactions: {e}")))?;
            aml::parse_transactions(&text)
                .map_err(|(line, message)| CliError::bad_input(format!("{path}:{line}: {message}")))?
        }
        (None, Some(config)) => from_acquirer(config, day_start)?,
        (None, None) if !args.issuer_config.is_empty() => from_issuers(&args.issuer_config, day_start)?,
        (None, None) => {
            return Err(CliError::bad_input(
                "give --transactions FILE, --acquirer-config FILE or --issuer-config FILE",
            ));
        }
    };
    let config = AmlConfig {
        currency: args.currency.clone(),
        large_value_minor: args.large_value_minor,
        structuring_floor_percent: args.structuring_floor_percent,
        structuring_count_min: args.structuring_count,
    };
    let report = aml::report(day_start, &transactions, &config).map_err(CliError::bad_input)?;
    std::fs::create_dir_all(&args.out)?;
    let (large, suspicious) = aml::write_csv_files(&args.out, &args.day, &report)?;
    if args.json {
        return crate::output::json(&json!({
            "day": args.day,
            "transactions": transactions.len(),
            "large_value_rows": report.large_value.len(),
            "suspicious_rows": report.suspicious.len(),
            "skipped_other_currency": report.skipped_other_currency,
            "skipped_outside_day": report.skipped_outside_day,
            "large_value_file": large.display().to_string(),
            "suspicious_file": suspicious.display().to_string(),
        }));
    }
    outln!("{}: {} transactions", args.day, transactions.len());
    outln!("large value: {} rows → {}", report.large_value.len(), large.display());
    outln!("suspicious:  {} rows → {}", report.suspicious.len(), suspicious.display());
    if report.skipped_other_currency + report.skipped_outside_day > 0 {
        outln!(
            "left out:    {} in other currencies, {} outside the day",
            report.skipped_other_currency,
            report.skipped_outside_day
        );
    }
    Ok(())
}
