//! `cardnet switch settle`: net settlement of a business date from the clearing files `switch
//! clearing` wrote — positions per member, the settlement ledger, the settlement bank's
//! statements and the report.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;

use crate::cli_error::CliError;
use crate::output::{out, outln};
use crate::switch_command::failure;

/// Clearing files one `switch settle` reads at most (one per member).
const CLEARING_FILES_MAX: usize = 10_000;

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

/// The clearing files of one date, `clearing-<member>.csv`, by member.
pub(crate) fn clearing_files(folder: &Path) -> Result<Vec<(String, PathBuf)>, CliError> {
    let entries = std::fs::read_dir(folder).map_err(|e| {
        CliError::bad_input(format!(
            "no clearing files in {} ({e}): run `cardnet switch clearing` for the date first",
            folder.display()
        ))
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(member) = name.strip_prefix("clearing-").and_then(|rest| rest.strip_suffix(".csv")) {
            if files.len() == CLEARING_FILES_MAX {
                return Err(CliError::bad_input(format!(
                    "more than {CLEARING_FILES_MAX} clearing files in {}",
                    folder.display()
                )));
            }
            files.push((member.to_owned(), path));
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(CliError::bad_input(format!("no clearing-<member>.csv files in {}", folder.display())));
    }
    Ok(files)
}

/// Every record of the date once: from the file of the record's acquirer (each record is in its
/// acquirer's file and its issuer's). The first bad file, header or record ends the stream with
/// an error that names the file and line, before anything is settled.
pub(crate) fn date_records(
    files: Vec<(String, PathBuf)>,
    date: clearing::BusinessDate,
    network: String,
) -> impl Iterator<Item = Result<clearing::ClearingRecord, String>> {
    use clearing::file::Reader;
    let members: std::collections::BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut files = files.into_iter();
    let mut current: Option<(String, PathBuf, Reader<std::io::BufReader<std::fs::File>>)> = None;
    let mut failed = false;
    std::iter::from_fn(move || {
        while !failed {
            if current.is_none() {
                let (member, path) = files.next()?;
                let opened = std::fs::File::open(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))
                    .and_then(|file| {
                        Reader::open(std::io::BufReader::new(file)).map_err(|e| format!("{}: {e}", path.display()))
                    })
                    .and_then(|reader| {
                        let header = reader.header();
                        if header.member != member || header.date != date || header.network != network {
                            return Err(format!(
                                "{}: the header is for member {} on {} from network {}, not {member} on {date} from \
                                 {network}",
                                path.display(),
                                header.member,
                                header.date,
                                header.network
                            ));
                        }
                        Ok(reader)
                    });
                match opened {
                    Ok(reader) => current = Some((member, path, reader)),
                    Err(error) => {
                        failed = true;
                        return Some(Err(error));
                    }
                }
            }
            let (member, path, reader) = current.as_mut()?;
            match reader.next_record() {
                Ok(Some(record)) if record.acquirer == *member => return Some(Ok(record)),
                Ok(Some(record)) if !members.iter().any(|m| record.acquirer == *m) => {
                    failed = true;
                    return Some(Err(format!(
                        "{}: record {} names acquirer {}, which has no clearing file",
                        path.display(),
                        record.reference,
                        record.acquirer
                    )));
                }
                Ok(Some(_)) => {}
                Ok(None) => current = None,
                Err(error) => {
                    failed = true;
                    return Some(Err(format!("{}: {error}", path.display())));
                }
            }
        }
        None
    })
}

/// What settling one date did: the report, how many clearing files were read, where the report
/// and statements went.
pub struct Settled {
    pub report: switch::settlement::SettlementReport,
    pub clearing_files: usize,
    pub out_dir: PathBuf,
    pub written: Vec<PathBuf>,
}

/// Settle `date` from the clearing files in `clearing_dir/DATE/`, writing the report and the
/// statements to `settlement_dir/DATE/` (also what `cardnet eod` runs).
pub fn settle_date(
    config_path: &Path,
    date: clearing::BusinessDate,
    clearing_dir: &Path,
    settlement_dir: &Path,
) -> Result<Settled, CliError> {
    let config = switch::SwitchConfig::load(config_path).map_err(CliError::bad_input)?;
    let files = clearing_files(&clearing_dir.join(date.to_string()))?;
    let clearing_files = files.len();
    let db = switch::settlement::open_database(&config.database).map_err(settlement_error)?;
    let mut ledger = switch::settlement::open_ledger(&config.ledger).map_err(settlement_error)?;
    let records = date_records(files, date, config.institution_id.clone());
    let report = switch::settlement::settle_read(&db, &mut ledger, date, &config.institution_id, records)
        .map_err(settlement_error)?;
    let out_dir = settlement_dir.join(date.to_string());
    let written = switch::settlement::write_settlement_files(&report, &out_dir)?;
    Ok(Settled { report, clearing_files, out_dir, written })
}

pub fn settle(args: &SettleArgs) -> Result<(), CliError> {
    let date = clearing::BusinessDate::parse(&args.date).map_err(|e| CliError::bad_input(format!("--date: {e}")))?;
    let clearing_dir =
        args.clearing_dir.clone().unwrap_or_else(|| host::config_file::folder(&args.config).join("clearing"));
    let settlement_dir =
        args.settlement_dir.clone().unwrap_or_else(|| host::config_file::folder(&args.config).join("settlement"));
    let Settled { report, clearing_files: file_count, out_dir, written } =
        settle_date(&args.config, date, &clearing_dir, &settlement_dir)?;
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

/// Settlement's errors: the input's (records, files, a settled date's other positions) exit 2.
fn settlement_error(error: switch::settlement::SettlementError) -> CliError {
    use switch::settlement::SettlementError;
    match error {
        SettlementError::Input(_) | SettlementError::Conflict(_) => CliError::bad_input(error),
        other => failure(other),
    }
}
