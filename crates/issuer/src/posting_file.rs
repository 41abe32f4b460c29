//! Posting a clearing file from disk: read and check the whole file first (header, every
//! record, trailer count, totals and checksum — `clearing::file::Reader`), refuse it whole if
//! anything is wrong or it is not this issuer's, and only then post it, reading it a second
//! time as a stream (constant memory for any number of records).

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use clearing::ClearingRecord;
use clearing::file::{FileError, Header, Reader, Trailer};

use crate::error::{IssuerError, Result};
use crate::issuer::Issuer;
use crate::posting::PostingReport;

/// Read buffer of the clearing file.
const READ_BUFFER_BYTES: usize = 1 << 20;

fn file_error(path: &Path, error: &FileError) -> IssuerError {
    IssuerError::input(format!("{}: {error}", path.display()))
}

fn open(path: &Path) -> Result<Reader<BufReader<File>>> {
    let file = File::open(path).map_err(|e| IssuerError::input(format!("{}: {e}", path.display())))?;
    Reader::open(BufReader::with_capacity(READ_BUFFER_BYTES, file)).map_err(|e| file_error(path, &e))
}

/// Read and check a whole clearing file without posting: its header and trailer, or the
/// line and problem that make it no clearing file.
pub fn check_clearing_file(path: &Path) -> Result<(Header, Trailer)> {
    let mut reader = open(path)?;
    while reader.next_record().map_err(|e| file_error(path, &e))?.is_some() {}
    let header = reader.header().clone();
    let trailer =
        reader.trailer().cloned().ok_or_else(|| IssuerError::input(format!("{}: no trailer", path.display())))?;
    Ok((header, trailer))
}

/// The records of a checked file, read again; the first error stops it and is kept.
struct FileRecords {
    reader: Reader<BufReader<File>>,
    error: Option<FileError>,
}

impl Iterator for FileRecords {
    type Item = ClearingRecord;

    fn next(&mut self) -> Option<ClearingRecord> {
        if self.error.is_some() {
            return None;
        }
        match self.reader.next_record() {
            Ok(record) => record,
            Err(error) => {
                self.error = Some(error);
                None
            }
        }
    }
}

impl Issuer {
    /// Check the file at `path` whole, then post it ([`Issuer::post_clearing`]). A file that
    /// is not a valid clearing file, or is another member's, is refused before anything is
    /// posted (`IssuerError::Input`, naming the line and problem).
    pub fn post_clearing_file(&self, path: &Path) -> Result<PostingReport> {
        let (header, trailer) = check_clearing_file(path)?;
        if header.member != self.settings.institution_id {
            return Err(IssuerError::input(format!(
                "{}: the clearing file is for member {}, this issuer is {}",
                path.display(),
                header.member,
                self.settings.institution_id
            )));
        }
        let mut records = FileRecords { reader: open(path)?, error: None };
        if records.reader.header() != &header {
            return Err(IssuerError::input(format!("{}: the file changed while it was read", path.display())));
        }
        let report = self.post_clearing(&header, &trailer, &mut records);
        // A file changed between the check and the posting: what was posted stays (it is
        // idempotent), the rest waits for a good file.
        if let Some(error) = &records.error {
            return Err(file_error(path, error));
        }
        report
    }
}
