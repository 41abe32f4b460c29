//! Clearing files: one per member and form for a closed business date, written from the
//! streamed records ([`crate::clearing_records`]) with `clearing::file::Writer`.
//!
//! `DIR/YYYY-MM-DD/clearing-<member>.txt` (fixed width) and `.csv`, owner-only. Every
//! configured acquirer and issuer gets its pair, and any other member the date's journal names:
//! a member with no records gets a header and a trailer. A file is written beside its final
//! name, synced, then renamed over it, so a reader never sees half a file and a rerun — the
//! same records in the same order through the same writer — leaves byte-identical files.
//!
//! Memory: at most [`CLEARING_FILES_OPEN_MAX`] members' files are open at once, each member in
//! one pass over the date's records; more members take more passes.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use clearing::file::{Form, Header, Writer};
use clearing::{BusinessDate, ClearingRecord};

use crate::engine::Switch;
use crate::error::SwitchError;

/// Members whose files one pass over the records writes (two files each).
pub const CLEARING_FILES_OPEN_MAX: usize = 32;
/// Bytes buffered per open file.
const FILE_BUFFER_BYTES: usize = 64 * 1024;

/// Why no files were written.
#[derive(Debug)]
pub enum ClearingFilesError {
    /// The date is still open: its records could still change.
    NotClosed(BusinessDate),
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    Switch(SwitchError),
}

impl std::fmt::Display for ClearingFilesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClearingFilesError::NotClosed(date) => write!(
                f,
                "business date {date} is not closed: close it first (cardnet switch close-date --date {date})"
            ),
            ClearingFilesError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            ClearingFilesError::Switch(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for ClearingFilesError {}

impl From<SwitchError> for ClearingFilesError {
    fn from(error: SwitchError) -> ClearingFilesError {
        ClearingFilesError::Switch(error)
    }
}

/// One member's files and what they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberFiles {
    pub member: String,
    pub records: u64,
    /// Σ amount of records with direction +1, and of those with −1 (the trailer's).
    pub debit_total_minor: u64,
    pub credit_total_minor: u64,
    pub settlement_total_minor: i64,
    pub files: Vec<PathBuf>,
}

/// What a clearing run wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearingRun {
    pub date: BusinessDate,
    /// `DIR/YYYY-MM-DD`.
    pub dir: PathBuf,
    pub members: Vec<MemberFiles>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ClearingFilesError + '_ {
    move |error| ClearingFilesError::Io { path: path.to_owned(), error }
}

/// An owner-only file (0600 on Unix), created or truncated.
fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// One file being written: its writer, its temporary and final paths.
struct OpenFile {
    writer: Writer<BufWriter<File>>,
    temporary: PathBuf,
    path: PathBuf,
}

/// One member's pair of files and running totals.
struct OpenMember {
    totals: MemberFiles,
    files: Vec<OpenFile>,
}

const FORMS: [(Form, &str); 2] = [(Form::FixedWidth, "txt"), (Form::Csv, "csv")];

fn open_member(dir: &Path, header: Header) -> Result<OpenMember, ClearingFilesError> {
    let mut files = Vec::with_capacity(FORMS.len());
    for (form, extension) in FORMS {
        let path = dir.join(format!("clearing-{}.{extension}", header.member));
        let temporary = dir.join(format!(".clearing-{}.{extension}.{}.tmp", header.member, std::process::id()));
        let file = create_private(&temporary).map_err(io(&temporary))?;
        let writer =
            Writer::new(BufWriter::with_capacity(FILE_BUFFER_BYTES, file), form, &header).map_err(io(&temporary))?;
        files.push(OpenFile { writer, temporary, path });
    }
    let totals = MemberFiles {
        member: header.member,
        records: 0,
        debit_total_minor: 0,
        credit_total_minor: 0,
        settlement_total_minor: 0,
        files: Vec::new(),
    };
    Ok(OpenMember { totals, files })
}

impl OpenMember {
    fn write(&mut self, record: &ClearingRecord) -> Result<(), ClearingFilesError> {
        for file in &mut self.files {
            file.writer.write(record).map_err(io(&file.temporary))?;
        }
        let totals = &mut self.totals;
        totals.records += 1;
        if record.code.direction() > 0 {
            totals.debit_total_minor = totals.debit_total_minor.saturating_add(record.amount_minor);
        } else {
            totals.credit_total_minor = totals.credit_total_minor.saturating_add(record.amount_minor);
        }
        totals.settlement_total_minor = totals.settlement_total_minor.saturating_add(record.settlement_minor);
        Ok(())
    }

    /// Trailers, sync, rename into place; the trailer must say what was written.
    fn finish(self) -> Result<MemberFiles, ClearingFilesError> {
        let mut totals = self.totals;
        for file in self.files {
            let trailer = file.writer.finish().map_err(io(&file.temporary))?;
            let agrees = trailer.records == totals.records
                && trailer.debit_total_minor == totals.debit_total_minor
                && trailer.credit_total_minor == totals.credit_total_minor
                && trailer.settlement_total_minor == totals.settlement_total_minor;
            if !agrees {
                let _ = std::fs::remove_file(&file.temporary);
                return Err(ClearingFilesError::Switch(SwitchError::Internal(format!(
                    "{}: the trailer ({trailer:?}) disagrees with the records written",
                    file.path.display()
                ))));
            }
            File::open(&file.temporary).and_then(|f| f.sync_all()).map_err(io(&file.temporary))?;
            std::fs::rename(&file.temporary, &file.path).map_err(io(&file.path))?;
            totals.files.push(file.path);
        }
        Ok(totals)
    }
}

/// Write the clearing files of the closed `date` under `out_dir`. `exceptions` gives each pass
/// the date's exception records in reference order (`switch::clearing_records::no_exceptions`
/// until disputes produce some).
pub fn write_clearing_files<X>(
    switch: &Switch,
    date: BusinessDate,
    out_dir: &Path,
    mut exceptions: impl FnMut() -> X,
) -> Result<ClearingRun, ClearingFilesError>
where
    X: IntoIterator<Item = Result<ClearingRecord, SwitchError>>,
{
    if !switch.business_date_status(date)?.closed {
        return Err(ClearingFilesError::NotClosed(date));
    }
    let dir = out_dir.join(date.to_string());
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let network = switch.directory().institution_id.clone();
    let members = switch.clearing_members(date)?;
    let mut written = Vec::with_capacity(members.len());
    for group in members.chunks(CLEARING_FILES_OPEN_MAX) {
        let mut open = Vec::with_capacity(group.len());
        for member in group {
            open.push(open_member(&dir, Header { network: network.clone(), member: member.clone(), date })?);
        }
        for record in switch.clearing_records(date, exceptions()) {
            let record = record?;
            for member in open.iter_mut() {
                let id = member.totals.member.as_str();
                if record.acquirer == id || record.issuer == id {
                    member.write(&record)?;
                }
            }
        }
        for member in open {
            written.push(member.finish()?);
        }
    }
    Ok(ClearingRun { date, dir, members: written })
}
