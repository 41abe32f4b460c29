//! The clearing file: header, detail records, trailer — fixed-width text (layout in
//! docs/end-of-day.md) or CSV — written and read as streams, so any number of records passes
//! in constant memory. The trailer carries the record count, amount totals and a checksum of
//! every byte before it; a reader checks all three and names the line and field at fault.
//!
//! INTERFACE ONLY — implemented by the clearing-file work (issue 13).

use std::fmt;
use std::io::{BufRead, Write};

use crate::date::BusinessDate;
use crate::record::ClearingRecord;

/// Which of the two forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    FixedWidth,
    Csv,
}

/// The header: whose file, which date, from which network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The switch's institution id.
    pub network: String,
    /// The member the file is for (acquirer or issuer institution id).
    pub member: String,
    pub date: BusinessDate,
}

/// The trailer as written and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer {
    pub records: u64,
    /// Σ amount of records whose direction is +1, and of those whose direction is −1.
    pub debit_total_minor: u64,
    pub credit_total_minor: u64,
    /// Σ settlement_minor.
    pub settlement_total_minor: i64,
    /// SHA-1 (hex) of every byte of the file before the trailer line.
    pub checksum: String,
}

/// A file that is not a valid clearing file: the line (1-based) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub line: u64,
    pub what: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

impl std::error::Error for FileError {}

/// Writes one file as a stream.
pub struct Writer<W: Write> {
    _out: W,
}

impl<W: Write> Writer<W> {
    pub fn new(_out: W, _form: Form, _header: &Header) -> std::io::Result<Writer<W>> {
        unimplemented!("clearing file writer")
    }

    /// Append one detail record (it must be of the header's date).
    pub fn write(&mut self, _record: &ClearingRecord) -> std::io::Result<()> {
        unimplemented!("clearing file writer")
    }

    /// Write the trailer and flush; gives back what it wrote.
    pub fn finish(self) -> std::io::Result<Trailer> {
        unimplemented!("clearing file writer")
    }
}

/// Reads and checks one file as a stream; the form is recognised from the first line.
pub struct Reader<R: BufRead> {
    _input: R,
}

impl<R: BufRead> Reader<R> {
    /// Reads and checks the header.
    pub fn open(_input: R) -> Result<Reader<R>, FileError> {
        unimplemented!("clearing file reader")
    }

    pub fn header(&self) -> &Header {
        unimplemented!("clearing file reader")
    }

    pub fn form(&self) -> Form {
        unimplemented!("clearing file reader")
    }

    /// The next record, or `None` after a trailer that checks (count, totals, checksum, and
    /// nothing after it).
    pub fn next_record(&mut self) -> Result<Option<ClearingRecord>, FileError> {
        unimplemented!("clearing file reader")
    }

    /// The trailer, once `next_record` has returned `None`.
    pub fn trailer(&self) -> Option<&Trailer> {
        unimplemented!("clearing file reader")
    }
}

/// The whole file at once (small files, tests).
pub fn read_all<R: BufRead>(input: R) -> Result<(Header, Vec<ClearingRecord>, Trailer), FileError> {
    let mut reader = Reader::open(input)?;
    let mut records = Vec::new();
    while let Some(record) = reader.next_record()? {
        records.push(record);
    }
    let header = reader.header().clone();
    let trailer = reader.trailer().cloned().ok_or(FileError { line: 0, what: "no trailer".into() })?;
    Ok((header, records, trailer))
}
