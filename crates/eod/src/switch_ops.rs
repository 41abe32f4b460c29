//! The switch's end-of-day operations over its configuration file: close a business date on a
//! given clock, write the date's clearing files, and settle the date from them (what `cardnet
//! switch close-date|clearing|settle` and `cardnet eod` run).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hsm::SecurityModule;

use crate::{EodError, SharedClock};

/// Clearing files one settlement reads at most (one per member).
const CLEARING_FILES_MAX: usize = 10_000;

/// The switch of `config_path`, opened on its database (no listening).
pub fn open_switch(config_path: &Path) -> Result<switch::Switch, EodError> {
    let config = switch::SwitchConfig::load(config_path).map_err(EodError::bad_input)?;
    let hsm = hsm::SoftHsm::from_lmk_file(&config.lmk_file).map_err(EodError::bad_input)?;
    let hsm: Arc<dyn SecurityModule> = Arc::new(hsm);
    Ok(switch::Switch::open(&config, hsm)?)
}

/// Write the clearing files of `date` into `out/DATE/`: the journal's records with the exception
/// records (差错 resolutions) that go on this date merged in by reference (also what `cardnet eod`
/// runs).
pub fn write_clearing(
    config_path: &Path,
    date: switch::BusinessDate,
    out: &Path,
) -> Result<switch::clearing_files::ClearingRun, EodError> {
    let config = switch::SwitchConfig::load(config_path).map_err(EodError::bad_input)?;
    let switch = open_switch(config_path)?;
    let db = switch::settlement::open_database(&config.database).map_err(EodError::failure)?;
    let mut exceptions = switch::disputes::clearing_records(&db, date).map_err(EodError::failure)?;
    // The producer merges them by reference: they must come in ascending order.
    exceptions.sort_by_key(|record| record.reference);
    switch::clearing_files::write_clearing_files(&switch, date, out, || exceptions.clone().into_iter().map(Ok)).map_err(
        |error| match error {
            switch::clearing_files::ClearingFilesError::NotClosed(_) => EodError::bad_input(error),
            other => EodError::failure(other),
        },
    )
}

/// Close `date` at `clock`'s now (`early`: before its cut-off, an operator's forced cut-over);
/// the outcome says whether it was refused.
pub fn close(
    config_path: &Path,
    date: switch::BusinessDate,
    early: bool,
    clock: &SharedClock,
) -> Result<switch::CloseOutcome, EodError> {
    let switch = open_switch(config_path)?;
    let now_ms = clock.now_ms();
    if early {
        return Ok(switch.close_business_date_early(date, now_ms)?);
    }
    Ok(switch.close_business_date(date, now_ms)?)
}

/// The clearing files of one date, `clearing-<member>.csv`, by member.
pub fn clearing_files(folder: &Path) -> Result<Vec<(String, PathBuf)>, EodError> {
    let entries = std::fs::read_dir(folder).map_err(|e| {
        EodError::bad_input(format!(
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
                return Err(EodError::bad_input(format!(
                    "more than {CLEARING_FILES_MAX} clearing files in {}",
                    folder.display()
                )));
            }
            files.push((member.to_owned(), path));
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(EodError::bad_input(format!("no clearing-<member>.csv files in {}", folder.display())));
    }
    Ok(files)
}

/// Every record of the date once: from the file of the record's acquirer (each record is in its
/// acquirer's file and its issuer's). The first bad file, header or record ends the stream with
/// an error that names the file and line, before anything is settled.
pub fn date_records(
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
) -> Result<Settled, EodError> {
    let config = switch::SwitchConfig::load(config_path).map_err(EodError::bad_input)?;
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

/// Settlement's errors: the input's (records, files, a settled date's other positions) exit 2.
fn settlement_error(error: switch::settlement::SettlementError) -> EodError {
    use switch::settlement::SettlementError;
    match error {
        SettlementError::Input(_) | SettlementError::Conflict(_) => EodError::bad_input(error),
        other => EodError::failure(other),
    }
}
