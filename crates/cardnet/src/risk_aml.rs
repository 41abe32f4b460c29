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
pub struct AmlArgs {
    /// The day's transactions, one JSON object per line (fields: risk::aml::AmlTransaction).
    #[arg(long)]
    transactions: String,
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

pub fn run(args: AmlArgs) -> Result<(), CliError> {
    let day_start = aml::day_start_ms(&args.day)
        .ok_or_else(|| CliError::bad_input(format!("--day {:?}: use YYYY-MM-DD", args.day)))?;
    let text = std::fs::read_to_string(&args.transactions)
        .map_err(|e| CliError::bad_input(format!("{}: cannot read the transactions: {e}", args.transactions)))?;
    let transactions = aml::parse_transactions(&text)
        .map_err(|(line, message)| CliError::bad_input(format!("{}:{line}: {message}", args.transactions)))?;
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
