//! The writer: one line at a time into a reused buffer, checked whole before a byte of it is
//! written, so a refused record leaves the file as it was (the caller may skip it or stop).
//! Nothing in a file depends on when it was written: the same records give the same bytes.

use std::io::{self, Write};

use sha1::{Digest, Sha1};

use super::layout::{self, Field, Id};
use super::value::{self, Value};
use super::{Form, Header, Totals, Trailer, hex};
use crate::date::BusinessDate;
use crate::record::ClearingRecord;

/// Writes one file as a stream. Give it a buffered output (`BufWriter`): it writes one line per
/// call.
pub struct Writer<W: Write> {
    out: W,
    csv: bool,
    date: BusinessDate,
    /// The line being built, reused for every record.
    line: Vec<u8>,
    /// Every byte written so far, for the trailer's checksum.
    hasher: Sha1,
    totals: Totals,
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

/// A detail field's value in `record`.
fn detail_value<'r>(record: &'r ClearingRecord, id: Id) -> Value<'r> {
    match id {
        Id::Type => Value::Type(b'D'),
        Id::Date => Value::Date(record.date),
        Id::Reference => Value::Number(record.reference),
        Id::Code => Value::Str(record.code.code()),
        Id::Acquirer => Value::Str(record.acquirer.as_str()),
        Id::Issuer => Value::Str(record.issuer.as_str()),
        Id::Stan => Value::Stan(record.stan),
        Id::TransmissionTime => Value::Str(&record.transmission_time),
        Id::IssuerStan => Value::Stan(record.issuer_stan),
        Id::IssuerTime => Value::Str(&record.issuer_time),
        Id::PanMasked => Value::Str(&record.pan_masked),
        Id::CardHash => Value::Str(&record.card_hash),
        Id::CardKind => Value::Str(match record.card_kind {
            crate::fees::CardKind::Debit => "D",
            crate::fees::CardKind::Credit => "C",
        }),
        Id::Amount => Value::Number(record.amount_minor),
        Id::Currency => Value::Str(record.currency.as_str()),
        Id::Mcc => Value::Str(&record.mcc),
        Id::TerminalId => Value::Str(record.terminal_id.as_ref().map_or("", |id| id.as_str())),
        Id::MerchantId => Value::Str(record.merchant_id.as_ref().map_or("", |id| id.as_str())),
        Id::Rrn => Value::Str(record.rrn.as_ref().map_or("", |rrn| rrn.as_str())),
        Id::AuthCode => Value::Str(&record.auth_code),
        Id::OriginalStan => Value::Stan(record.original_stan),
        Id::OriginalTime => Value::Str(&record.original_time),
        Id::OriginalReference => Value::Number(record.original_reference),
        Id::InterchangeFee => Value::Signed(record.interchange_fee_minor),
        Id::NetworkFee => Value::Signed(record.network_fee_minor),
        Id::Settlement => Value::Signed(record.settlement_minor),
        Id::StandIn => Value::Flag(record.stand_in),
        Id::Late => Value::Flag(record.late),
        _ => Value::Filler,
    }
}

/// Builds one line of `table` into `line` (cleared first); the reason a value does not fit.
fn build<'v>(line: &mut Vec<u8>, csv: bool, table: &[Field], value: impl Fn(Id) -> Value<'v>) -> Result<(), String> {
    fn named(field: &Field) -> impl Fn(String) -> String + '_ {
        move |reason| format!("{}: {reason}", field.name)
    }
    line.clear();
    if csv {
        for field in table {
            value::put(line, true, field, value(field.id)).map_err(named(field))?;
        }
    } else {
        // Fields in place in a line of spaces: padding and filler come for free.
        line.resize(layout::LINE_BYTES, b' ');
        for field in table {
            let out = &mut line[field.offset..field.offset + field.width];
            value::put_fixed(out, field, value(field.id)).map_err(named(field))?;
        }
    }
    line.push(b'\n');
    Ok(())
}

impl<W: Write> Writer<W> {
    /// Writes the CSV column row (CSV only) and the header. Refuses (InvalidInput, naming the
    /// field) a network or member id that is not up to 11 digits.
    pub fn new(out: W, form: Form, header: &Header) -> io::Result<Writer<W>> {
        let csv = form == Form::Csv;
        let mut writer = Writer {
            out,
            csv,
            date: header.date,
            line: Vec::with_capacity(layout::LINE_BYTES + 1),
            hasher: Sha1::new(),
            totals: Totals::default(),
        };
        let header_value = |id| match id {
            Id::Type => Value::Type(b'H'),
            Id::Network => Value::Str(&header.network),
            Id::Member => Value::Str(&header.member),
            Id::HeaderDate => Value::Date(header.date),
            Id::Version => Value::Number(layout::FORMAT_VERSION),
            _ => Value::Filler,
        };
        build(&mut writer.line, csv, &layout::HEADER, header_value).map_err(|e| invalid(format!("header {e}")))?;
        if csv {
            let mut columns = layout::csv_columns().into_bytes();
            columns.push(b'\n');
            writer.out.write_all(&columns)?;
            writer.hasher.update(&columns);
        }
        writer.out.write_all(&writer.line)?;
        writer.hasher.update(&writer.line);
        Ok(writer)
    }

    /// Append one detail record (it must be of the header's date). Refuses (InvalidInput,
    /// naming the record and field) a record that does not fit; nothing is written then.
    pub fn write(&mut self, record: &ClearingRecord) -> io::Result<()> {
        let reference = record.reference;
        if record.date != self.date {
            return Err(invalid(format!(
                "clearing record {reference}: date: {} is not the header's date {}",
                record.date.compact(),
                self.date.compact()
            )));
        }
        build(&mut self.line, self.csv, &layout::DETAIL, |id| detail_value(record, id))
            .map_err(|e| invalid(format!("clearing record {reference}: {e}")))?;
        let mut totals = self.totals;
        totals.add(record).map_err(|e| invalid(format!("clearing record {reference}: {e}")))?;
        self.out.write_all(&self.line)?;
        self.hasher.update(&self.line);
        self.totals = totals;
        Ok(())
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.totals.records
    }

    /// Write the trailer and flush; gives back what it wrote.
    pub fn finish(self) -> io::Result<Trailer> {
        self.finish_into_inner().map(|(trailer, _)| trailer)
    }

    /// As [`Writer::finish`], and gives the output back (to sync a file before it is
    /// announced, say).
    pub fn finish_into_inner(mut self) -> io::Result<(Trailer, W)> {
        let checksum = hex(&self.hasher.finalize());
        let trailer = self.totals.trailer(checksum);
        let trailer_value = |id| match id {
            Id::Type => Value::Type(b'T'),
            Id::Records => Value::Number(trailer.records),
            Id::DebitTotal => Value::Number(trailer.debit_total_minor),
            Id::CreditTotal => Value::Number(trailer.credit_total_minor),
            Id::SettlementTotal => Value::Signed(trailer.settlement_total_minor),
            Id::Checksum => Value::Str(&trailer.checksum),
            _ => Value::Filler,
        };
        // Totals fit: a count and u64 sums take 20 digits, an i64 a sign and 19.
        build(&mut self.line, self.csv, &layout::TRAILER, trailer_value)
            .map_err(|e| invalid(format!("trailer {e}")))?;
        self.out.write_all(&self.line)?;
        self.out.flush()?;
        Ok((trailer, self.out))
    }
}
