//! The clearing file: header, detail records, trailer — fixed-width text (layout in
//! docs/end-of-day.md) or CSV — written and read as streams, so any number of records passes
//! in constant memory. The trailer carries the record count, amount totals and a checksum of
//! every byte before it; a reader checks all three and names the line and field at fault.
//!
//! The layout is one table per line type (`layout`), walked by both the writer (`writer`) and
//! the reader (`reader`); `value` writes and checks one field of it.

use std::fmt;

use crate::date::BusinessDate;

pub mod layout;
mod reader;
mod value;
mod writer;

pub use layout::{FORMAT_VERSION, LINE_BYTES};
pub use reader::{LINE_BYTES_MAX, Reader, blank_record};
pub use writer::Writer;

use std::io::BufRead;

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

/// What the trailer sums, kept by the writer and recomputed by the reader.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    records: u64,
    debit_minor: u64,
    credit_minor: u64,
    settlement_minor: i64,
}

impl Totals {
    /// The totals with `record` added; unchanged and the reason when a sum would overflow.
    fn add(&mut self, record: &ClearingRecord) -> Result<(), String> {
        let mut next = *self;
        next.records = next.records.checked_add(1).ok_or("the record count overflows")?;
        if record.code.direction() > 0 {
            next.debit_minor =
                next.debit_minor.checked_add(record.amount_minor).ok_or("the debit total overflows 64 bits")?;
        } else {
            next.credit_minor =
                next.credit_minor.checked_add(record.amount_minor).ok_or("the credit total overflows 64 bits")?;
        }
        next.settlement_minor = next
            .settlement_minor
            .checked_add(record.settlement_minor)
            .ok_or("the settlement total overflows 64 bits")?;
        *self = next;
        Ok(())
    }

    fn trailer(&self, checksum: String) -> Trailer {
        Trailer {
            records: self.records,
            debit_total_minor: self.debit_minor,
            credit_total_minor: self.credit_minor,
            settlement_total_minor: self.settlement_minor,
            checksum,
        }
    }
}

/// A SHA-1 digest as 40 lowercase hex digits.
fn hex(digest: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(digest.len() * 2);
    for byte in digest {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0F)]));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_refuse_to_overflow_and_stay_unchanged() {
        let date = BusinessDate::from_ymd(2026, 12, 4).unwrap();
        let mut record = reader::blank_record(date);
        record.amount_minor = 10;
        record.settlement_minor = 10;
        let mut totals = Totals { records: 1, debit_minor: u64::MAX - 5, credit_minor: 0, settlement_minor: 0 };
        let before = format!("{totals:?}");
        assert_eq!(totals.add(&record), Err("the debit total overflows 64 bits".into()));
        assert_eq!(format!("{totals:?}"), before);
        totals.debit_minor = 0;
        totals.settlement_minor = i64::MAX - 5;
        assert_eq!(totals.add(&record), Err("the settlement total overflows 64 bits".into()));
        record.code = crate::record::TxnCode::Refund;
        totals.credit_minor = u64::MAX;
        assert_eq!(totals.add(&record), Err("the credit total overflows 64 bits".into()));
        totals.credit_minor = 0;
        totals.settlement_minor = 0;
        assert_eq!(totals.add(&record), Ok(()));
        assert_eq!((totals.records, totals.credit_minor, totals.settlement_minor), (2, 10, 10));
    }
}
