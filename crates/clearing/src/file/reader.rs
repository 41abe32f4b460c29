//! The reader: a stream of bounded lines, each checked field by field against the layout, the
//! trailer against what was read. A record is handed out before the trailer is checked, so a
//! caller commits what it read only once `next_record` has returned `None`.

use std::io::{BufRead, ErrorKind};

use sha1::{Digest, Sha1};

use super::layout::{self, Field, Id, Kind};
use super::value::{self, show};
use super::{FileError, Form, Header, Totals, Trailer, hex};
use domain::{Currency, InstitutionId, MerchantId, Rrn, Stan, TerminalId};

use crate::date::BusinessDate;
use crate::fees::CardKind;
use crate::record::{ClearingRecord, TxnCode};

/// The longest line a reader takes into memory (a fixed-width line is 307 bytes, a CSV row at
/// most that plus its commas): a longer one is an error, never an unbounded read.
pub const LINE_BYTES_MAX: usize = 1_024;

/// Reads and checks one file as a stream; the form is recognised from the first line.
pub struct Reader<R: BufRead> {
    input: R,
    form: Form,
    header: Header,
    /// The current line, without its `\n`; reused.
    line: Vec<u8>,
    /// 1-based number of the line in `line`.
    line_number: u64,
    /// Every byte before the current line.
    hasher: Sha1,
    totals: Totals,
    trailer: Option<Trailer>,
    /// The first error: every later call gives it again.
    failed: Option<FileError>,
}

/// An empty record of `date`, for [`Reader::read_into`] to fill.
pub fn blank_record(date: BusinessDate) -> ClearingRecord {
    ClearingRecord {
        date,
        reference: 0,
        code: TxnCode::Purchase,
        acquirer: InstitutionId::UNSET,
        issuer: InstitutionId::UNSET,
        stan: None,
        transmission_time: String::new(),
        issuer_stan: None,
        issuer_time: String::new(),
        pan_masked: String::new(),
        card_hash: String::new(),
        card_kind: CardKind::Debit,
        amount_minor: 0,
        currency: Currency::CNY,
        mcc: String::new(),
        terminal_id: None,
        merchant_id: None,
        rrn: None,
        auth_code: String::new(),
        original_stan: None,
        original_time: String::new(),
        original_reference: 0,
        interchange_fee_minor: 0,
        network_fee_minor: 0,
        settlement_minor: 0,
        stand_in: false,
        late: false,
    }
}

/// A field the domain type checks: its error, named by the field.
fn checked(field: &Field) -> impl Fn(domain::ParseError) -> String + '_ {
    move |error| format!("{}: {error}", field.name)
}

/// An empty field is absent; anything else must parse.
fn optional<T>(
    text: &str,
    parse: impl Fn(&str) -> Result<T, domain::ParseError>,
) -> Result<Option<T>, domain::ParseError> {
    if text.is_empty() { Ok(None) } else { parse(text).map(Some) }
}

/// Replaces `target`'s text, keeping its allocation.
fn set(target: &mut String, text: &str) {
    target.clear();
    target.push_str(text);
}

/// Stores one detail field's bytes in `record`, checked.
fn store(record: &mut ClearingRecord, csv: bool, field: &Field, bytes: &[u8]) -> Result<(), String> {
    match field.kind {
        Kind::Type | Kind::Filler => return Ok(()),
        Kind::Number => {
            let n = value::number(field, csv, bytes)?;
            match field.id {
                Id::Reference => record.reference = n,
                Id::Amount => record.amount_minor = n,
                _ => record.original_reference = n,
            }
        }
        Kind::Signed => {
            let n = value::signed(field, csv, bytes)?;
            match field.id {
                Id::InterchangeFee => record.interchange_fee_minor = n,
                Id::NetworkFee => record.network_fee_minor = n,
                _ => record.settlement_minor = n,
            }
        }
        Kind::Date => record.date = value::date(field, bytes)?,
        Kind::Flag => {
            let flag = value::flag(field, bytes)?;
            match field.id {
                Id::StandIn => record.stand_in = flag,
                _ => record.late = flag,
            }
        }
        Kind::Text | Kind::Digits => {
            let text = value::text(field, csv, bytes)?;
            let target = match field.id {
                Id::Code => {
                    record.code =
                        TxnCode::from_code(text).ok_or_else(|| format!("{}: unknown code {text:?}", field.name))?;
                    return Ok(());
                }
                Id::CardKind => {
                    let mut letters = text.chars();
                    let kind = match (letters.next(), letters.next()) {
                        (Some(letter), None) => CardKind::from_letter(letter),
                        _ => None,
                    };
                    record.card_kind = kind.ok_or_else(|| format!("{}: {text:?} is not D or C", field.name))?;
                    return Ok(());
                }
                Id::Acquirer => {
                    record.acquirer = InstitutionId::new(text).map_err(checked(field))?;
                    return Ok(());
                }
                Id::Issuer => {
                    record.issuer = InstitutionId::new(text).map_err(checked(field))?;
                    return Ok(());
                }
                Id::Stan => {
                    record.stan = optional(text, Stan::parse).map_err(checked(field))?;
                    return Ok(());
                }
                Id::IssuerStan => {
                    record.issuer_stan = optional(text, Stan::parse).map_err(checked(field))?;
                    return Ok(());
                }
                Id::OriginalStan => {
                    record.original_stan = optional(text, Stan::parse).map_err(checked(field))?;
                    return Ok(());
                }
                Id::Currency => {
                    record.currency = Currency::parse(text).map_err(checked(field))?;
                    return Ok(());
                }
                Id::TerminalId => {
                    record.terminal_id = optional(text, TerminalId::new).map_err(checked(field))?;
                    return Ok(());
                }
                Id::MerchantId => {
                    record.merchant_id = optional(text, MerchantId::new).map_err(checked(field))?;
                    return Ok(());
                }
                Id::Rrn => {
                    record.rrn = optional(text, Rrn::new).map_err(checked(field))?;
                    return Ok(());
                }
                Id::TransmissionTime => &mut record.transmission_time,
                Id::IssuerTime => &mut record.issuer_time,
                Id::PanMasked => &mut record.pan_masked,
                Id::CardHash => &mut record.card_hash,
                Id::Mcc => &mut record.mcc,
                Id::AuthCode => &mut record.auth_code,
                _ => &mut record.original_time,
            };
            set(target, text);
        }
    }
    Ok(())
}

/// The line type of a line: its first byte, followed by a comma in the CSV form.
fn line_type(line: &[u8], form: Form) -> Result<u8, String> {
    let Some(&letter) = line.first() else { return Err("an empty line".into()) };
    if form == Form::Csv && line.len() > 1 && line[1] != b',' {
        return Err(format!(
            "record type {:?} is not one letter",
            show(line.split(|b| *b == b',').next().unwrap_or(line))
        ));
    }
    match letter {
        b'H' | b'D' | b'T' => Ok(letter),
        _ => Err(format!("unknown record type {:?}", show(&line[..1]))),
    }
}

impl<R: BufRead> Reader<R> {
    /// Reads and checks the header.
    pub fn open(input: R) -> Result<Reader<R>, FileError> {
        let mut reader = Reader {
            input,
            form: Form::FixedWidth,
            header: Header { network: String::new(), member: String::new(), date: BusinessDate::from_days(0) },
            line: Vec::with_capacity(LINE_BYTES_MAX),
            line_number: 0,
            hasher: Sha1::new(),
            totals: Totals::default(),
            trailer: None,
            failed: None,
        };
        if !reader.read_line()? {
            return Err(FileError { line: 1, what: "an empty file, not a clearing file".into() });
        }
        if reader.line == layout::csv_columns().as_bytes() {
            reader.form = Form::Csv;
            reader.hash_line();
            if !reader.read_line()? {
                return Err(FileError { line: 2, what: "no header after the column names".into() });
            }
        } else if reader.line.first() != Some(&b'H') {
            return Err(reader.error(
                "not a clearing file: the first line is neither a fixed-width header nor the CSV column names".into(),
            ));
        }
        reader.header = reader.read_header()?;
        reader.hash_line();
        Ok(reader)
    }

    fn read_header(&mut self) -> Result<Header, FileError> {
        let csv = self.form == Form::Csv;
        match line_type(&self.line, self.form) {
            Ok(b'H') => {}
            Ok(_) => return Err(self.error("the file does not start with a header".into())),
            Err(what) => return Err(self.error(what)),
        }
        let mut header = self.header.clone();
        let mut version = 0;
        let checked = value::for_each(&self.line, csv, "H", &layout::HEADER, |field, bytes| {
            match field.kind {
                Kind::Digits if field.id == Id::Network => set(&mut header.network, value::text(field, csv, bytes)?),
                Kind::Digits => set(&mut header.member, value::text(field, csv, bytes)?),
                Kind::Date => header.date = value::date(field, bytes)?,
                Kind::Number => version = value::number(field, csv, bytes)?,
                Kind::Filler => value::filler(field, bytes)?,
                _ => {}
            }
            Ok(())
        });
        checked.map_err(|what| self.error(what))?;
        if version != layout::FORMAT_VERSION {
            return Err(self.error(format!("version: unknown format version {version}")));
        }
        Ok(header)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn form(&self) -> Form {
        self.form
    }

    /// The next record, or `None` after a trailer that checks (count, totals, checksum, and
    /// nothing after it).
    pub fn next_record(&mut self) -> Result<Option<ClearingRecord>, FileError> {
        let mut record = blank_record(self.header.date);
        Ok(self.read_into(&mut record)?.then_some(record))
    }

    /// As [`Reader::next_record`] into a record the caller reuses (no allocation once its
    /// strings have grown): `true` when `record` holds the next record, `false` after a trailer
    /// that checks.
    pub fn read_into(&mut self, record: &mut ClearingRecord) -> Result<bool, FileError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        if self.trailer.is_some() {
            return Ok(false);
        }
        let result = self.step(record);
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }

    /// The trailer, once `next_record` has returned `None`.
    pub fn trailer(&self) -> Option<&Trailer> {
        self.trailer.as_ref()
    }

    fn step(&mut self, record: &mut ClearingRecord) -> Result<bool, FileError> {
        if !self.read_line()? {
            let what = format!("no trailer: the file ends after line {}", self.line_number);
            return Err(FileError { line: self.line_number + 1, what });
        }
        let csv = self.form == Form::Csv;
        match line_type(&self.line, self.form).map_err(|what| self.error(what))? {
            b'D' => {
                value::for_each(&self.line, csv, "D", &layout::DETAIL, |field, bytes| store(record, csv, field, bytes))
                    .map_err(|what| self.error(what))?;
                if record.date != self.header.date {
                    let what = format!(
                        "date: {} is not the header's date {}",
                        record.date.compact(),
                        self.header.date.compact()
                    );
                    return Err(self.error(what));
                }
                self.totals.add(record).map_err(|what| self.error(what))?;
                self.hash_line();
                Ok(true)
            }
            b'T' => {
                let trailer = self.read_trailer()?;
                if self.read_line()? {
                    return Err(self.error("a line after the trailer".into()));
                }
                self.trailer = Some(trailer);
                Ok(false)
            }
            _ => Err(self.error("a second header".into())),
        }
    }

    /// Parses the trailer line and checks it against what was read.
    fn read_trailer(&mut self) -> Result<Trailer, FileError> {
        let csv = self.form == Form::Csv;
        let mut numbers = [0u64; 3];
        let mut settlement = 0i64;
        let mut checksum = String::new();
        let checked = value::for_each(&self.line, csv, "T", &layout::TRAILER, |field, bytes| {
            match field.id {
                Id::Records => numbers[0] = value::number(field, csv, bytes)?,
                Id::DebitTotal => numbers[1] = value::number(field, csv, bytes)?,
                Id::CreditTotal => numbers[2] = value::number(field, csv, bytes)?,
                Id::SettlementTotal => settlement = value::signed(field, csv, bytes)?,
                Id::Checksum => set(&mut checksum, value::text(field, csv, bytes)?),
                Id::Filler => value::filler(field, bytes)?,
                _ => {}
            }
            Ok(())
        });
        checked.map_err(|what| self.error(what))?;
        let read = self.totals;
        let [records, debit, credit] = numbers;
        if records != read.records {
            return Err(self.error(format!("bad trailer: count {records}, records read {}", read.records)));
        }
        if debit != read.debit_minor {
            return Err(self.error(format!("bad trailer: debit total {debit}, records sum to {}", read.debit_minor)));
        }
        if credit != read.credit_minor {
            return Err(self.error(format!("bad trailer: credit total {credit}, records sum to {}", read.credit_minor)));
        }
        if settlement != read.settlement_minor {
            let what = format!("bad trailer: settlement total {settlement}, records sum to {}", read.settlement_minor);
            return Err(self.error(what));
        }
        let actual = hex(&self.hasher.clone().finalize());
        if checksum != actual {
            return Err(
                self.error(format!("bad checksum: the trailer says {checksum}, the file's bytes hash to {actual}"))
            );
        }
        Ok(read.trailer(checksum))
    }

    fn error(&self, what: String) -> FileError {
        FileError { line: self.line_number, what }
    }

    /// Adds the current line and its newline to the checksum.
    fn hash_line(&mut self) {
        self.hasher.update(&self.line);
        self.hasher.update(b"\n");
    }

    /// The next line into `self.line` (without its `\n`): `false` at the end of the input.
    /// Never holds more than [`LINE_BYTES_MAX`] bytes; a last line without `\n` is an error
    /// (the file was cut).
    fn read_line(&mut self) -> Result<bool, FileError> {
        self.line.clear();
        let number = self.line_number + 1;
        loop {
            let available = match self.input.fill_buf() {
                Ok(available) => available,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Err(FileError { line: number, what: format!("cannot read: {error}") }),
            };
            if available.is_empty() {
                if self.line.is_empty() {
                    return Ok(false);
                }
                self.line_number = number;
                return Err(self.error("the last line has no newline: the file is cut short".into()));
            }
            let newline = available.iter().position(|b| *b == b'\n');
            let take = newline.unwrap_or(available.len());
            if self.line.len() + take > LINE_BYTES_MAX {
                self.line_number = number;
                return Err(self.error(format!("the line is longer than {LINE_BYTES_MAX} bytes")));
            }
            self.line.extend_from_slice(&available[..take]);
            self.input.consume(take + usize::from(newline.is_some()));
            if newline.is_some() {
                self.line_number = number;
                return Ok(true);
            }
        }
    }
}
