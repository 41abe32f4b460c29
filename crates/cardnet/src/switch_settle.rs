//! `cardnet switch settle`: net settlement of a business date from the clearing files `switch
//! clearing` wrote — positions per member, the settlement ledger, the settlement bank's
//! statements and the report.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use crate::cli_error::CliError;
use crate::output::{out, outln};

#[derive(Args)]
pub struct SettleArgs {
    /// The switch's configuration file (its database and settlement ledger).
    #[arg(long)]
    config: PathBuf,
    /// The business date to settle, YYYY-MM-DD.
    #[arg(long)]
    date: String,
    /// Where `switch clearing` wrote the files (DIR/YYYY-MM-DD/clearing-<member>.csv); default: clearing/ next to the config.
    #[arg(long)]
    clearing_dir: Option<PathBuf>,
    /// Where the report and statements go (DIR/YYYY-MM-DD/); default: settlement/ next to the config.
    #[arg(long)]
    settlement_dir: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn settle(args: &SettleArgs) -> Result<(), CliError> {
    let date = clearing::BusinessDate::parse(&args.date).map_err(|e| CliError::bad_input(format!("--date: {e}")))?;
    let clearing_dir =
        args.clearing_dir.clone().unwrap_or_else(|| host::config_file::folder(&args.config).join("clearing"));
    let settlement_dir =
        args.settlement_dir.clone().unwrap_or_else(|| host::config_file::folder(&args.config).join("settlement"));
    let ::eod::switch_ops::Settled { report, clearing_files: file_count, out_dir, written } =
        ::eod::switch_ops::settle_date(&args.config, date, &clearing_dir, &settlement_dir)?;
    if args.json {
        let mut value = report.to_json();
        if let Some(object) = value.as_object_mut() {
            object.insert("clearing_files".into(), json!(file_count));
            object.insert("report_dir".into(), json!(out_dir.display().to_string()));
            object.insert("files".into(), json!(written.len()));
        }
        crate::output::json(&value)?;
        return Ok(());
    }
    out!("{}", report.to_text());
    outln!("read {file_count} clearing files; wrote {} files to {}", written.len(), out_dir.display());
    Ok(())
}
