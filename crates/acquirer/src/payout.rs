//! The payout file for the paying bank: one line per merchant account paid, a header naming the
//! run and the account paid from, a trailer with the count, the total and a SHA-1 of every byte
//! before it. Layout: docs/end-of-day.md, "Merchant payout file". Streamed: any number of lines
//! in constant memory.

use std::io::Write;

use clearing::BusinessDate;
use sha1::{Digest, Sha1};

use crate::merchant_settlement::Line;

/// The format's name and version, first field after the record type.
pub const FORMAT: &str = "CNPAY1";

/// Who pays, for which run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutHeader {
    pub acquirer: String,
    pub business_date: BusinessDate,
    /// `final` or a D0 cycle `HH:MM`.
    pub cycle: String,
    pub currency: String,
    pub paying_bank: String,
    pub paying_account: String,
}

/// One credit to a merchant's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutLine {
    pub merchant_id: String,
    pub bank_code: String,
    pub account_no: String,
    pub amount_minor: u64,
    pub payout_date: BusinessDate,
    /// The payout's reference, also on the merchant's statement and notice.
    pub reference: String,
}

/// What the trailer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutTrailer {
    pub lines: u64,
    pub total_minor: u64,
    pub checksum: String,
}

/// Writes one payout file as a stream, hashing as it goes.
pub struct PayoutWriter<W: Write> {
    out: W,
    hasher: Sha1,
    currency: String,
    lines: u64,
    total_minor: u64,
}

/// `|` separates fields: refuse a field that holds one (or a line break) rather than shift
/// every column after it.
fn field_ok(text: &str) -> std::io::Result<&str> {
    if text.bytes().any(|b| b == b'|' || b == b'\n' || b == b'\r') {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "a payout field holds | or a line break"));
    }
    Ok(text)
}

impl<W: Write> PayoutWriter<W> {
    pub fn new(out: W, header: &PayoutHeader) -> std::io::Result<PayoutWriter<W>> {
        let mut writer =
            PayoutWriter { out, hasher: Sha1::new(), currency: header.currency.clone(), lines: 0, total_minor: 0 };
        let text = format!(
            "H|{FORMAT}|{}|{}|{}|{}|{}|{}\n",
            field_ok(&header.acquirer)?,
            header.business_date.compact(),
            field_ok(&header.cycle)?,
            field_ok(&header.currency)?,
            field_ok(&header.paying_bank)?,
            field_ok(&header.paying_account)?
        );
        writer.emit(&text)?;
        Ok(writer)
    }

    fn emit(&mut self, text: &str) -> std::io::Result<()> {
        self.hasher.update(text.as_bytes());
        self.out.write_all(text.as_bytes())
    }

    pub fn line(&mut self, line: &PayoutLine) -> std::io::Result<()> {
        self.lines += 1;
        self.total_minor = self
            .total_minor
            .checked_add(line.amount_minor)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "payout total overflows"))?;
        let text = format!(
            "D|{:08}|{}|{}|{}|{}|{}|{}|{}\n",
            self.lines,
            field_ok(&line.merchant_id)?,
            field_ok(&line.bank_code)?,
            field_ok(&line.account_no)?,
            self.currency,
            line.amount_minor,
            line.payout_date.compact(),
            field_ok(&line.reference)?
        );
        self.emit(&text)
    }

    /// The trailer, flushed.
    pub fn finish(mut self) -> std::io::Result<PayoutTrailer> {
        let digest = std::mem::take(&mut self.hasher).finalize();
        let checksum: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let text = format!("T|{}|{}|{checksum}\n", self.lines, self.total_minor);
        self.out.write_all(text.as_bytes())?;
        self.out.flush()?;
        Ok(PayoutTrailer { lines: self.lines, total_minor: self.total_minor, checksum })
    }
}

/// Check a payout file: every line's shape, the trailer's count, total and checksum. The
/// trailer, or what is wrong (line number and why).
pub fn verify(text: &str) -> Result<PayoutTrailer, String> {
    let mut hasher = Sha1::new();
    let mut lines = 0u64;
    let mut total = 0u64;
    let mut offset = 0usize;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let number = index + 1;
        let fields: Vec<&str> = line.trim_end_matches('\n').split('|').collect();
        match fields.first().copied() {
            Some("H") if number == 1 && fields.get(1) == Some(&FORMAT) => {}
            Some("D") if number > 1 && fields.len() == 9 => {
                lines += 1;
                let amount: u64 = fields[6].parse().map_err(|_| format!("line {number}: amount is not a number"))?;
                total = total.checked_add(amount).ok_or_else(|| format!("line {number}: total overflows"))?;
            }
            Some("T") if fields.len() == 4 => {
                let checksum: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
                let trailer = PayoutTrailer {
                    lines: fields[1].parse().map_err(|_| format!("line {number}: bad count"))?,
                    total_minor: fields[2].parse().map_err(|_| format!("line {number}: bad total"))?,
                    checksum: fields[3].to_owned(),
                };
                if trailer != (PayoutTrailer { lines, total_minor: total, checksum }) {
                    return Err(format!("line {number}: the trailer does not match the lines"));
                }
                if offset + line.len() != text.len() {
                    return Err(format!("line {number}: something follows the trailer"));
                }
                return Ok(trailer);
            }
            _ => return Err(format!("line {number}: not a payout file line")),
        }
        hasher.update(line.as_bytes());
        offset += line.len();
    }
    Err("no trailer".into())
}

/// The bench's file: every positive line of `lines`, with synthetic ids and accounts.
pub(crate) fn write_bench_file<W: Write>(out: W, lines: &[Line]) -> std::io::Result<PayoutTrailer> {
    let header = PayoutHeader {
        acquirer: "10000000344".into(),
        business_date: BusinessDate::from_days(20_000),
        cycle: "final".into(),
        currency: "156".into(),
        paying_bank: "102290000001".into(),
        paying_account: "6222020000000001".into(),
    };
    let mut writer = PayoutWriter::new(std::io::BufWriter::new(out), &header)?;
    for line in lines.iter().filter(|l| l.net_minor > 0) {
        writer.line(&PayoutLine {
            merchant_id: format!("8984401{:08}", line.merchant),
            bank_code: "102290000001".into(),
            account_no: format!("62220210{:08}", line.merchant),
            amount_minor: line.net_minor as u64,
            payout_date: header.business_date.next(),
            reference: format!("P{:015}", line.merchant),
        })?;
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_file_verifies_and_a_changed_one_does_not() {
        let date = BusinessDate::parse("2026-03-02").unwrap();
        let header = PayoutHeader {
            acquirer: "10000000344".into(),
            business_date: date,
            cycle: "final".into(),
            currency: "156".into(),
            paying_bank: "102290000001".into(),
            paying_account: "6222020000000001".into(),
        };
        let mut bytes = Vec::new();
        let mut writer = PayoutWriter::new(&mut bytes, &header).unwrap();
        for (n, amount) in [(1u32, 9_950u64), (2, 120_000)] {
            writer
                .line(&PayoutLine {
                    merchant_id: format!("89844015812000{n}"),
                    bank_code: "102290000001".into(),
                    account_no: format!("6222021000000{n:03}"),
                    amount_minor: amount,
                    payout_date: date.next(),
                    reference: format!("20260302-final-{n}"),
                })
                .unwrap();
        }
        let trailer = writer.finish().unwrap();
        assert_eq!((trailer.lines, trailer.total_minor), (2, 129_950));
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("H|CNPAY1|10000000344|20260302|final|156|"), "{text}");
        assert!(text.contains("\nD|00000001|898440158120001|102290000001|6222021000000001|156|9950|20260303|"));
        assert_eq!(verify(&text).unwrap(), trailer);
        assert!(verify(&text.replace("|9950|", "|9951|")).is_err(), "an amount changed");
        assert!(verify(&format!("{text}D|x\n")).is_err(), "after the trailer");
        let bad = PayoutLine {
            merchant_id: "1|2".into(),
            bank_code: String::new(),
            account_no: String::new(),
            amount_minor: 1,
            payout_date: date,
            reference: String::new(),
        };
        assert!(PayoutWriter::new(Vec::new(), &header).unwrap().line(&bad).is_err());
    }
}
