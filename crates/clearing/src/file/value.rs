//! One field's value written into a line and read back from it, in either form, by the field's
//! kind (`layout::Kind`). No allocation: the writer appends to a reused line buffer, the reader
//! returns numbers or borrowed `&str`.
//!
//! Every byte of a valid line is canonical: a reader accepts exactly what the writer produces
//! for some value (no `-0`, no leading zeros in CSV numbers, no trailing spaces in texts, no
//! lowercase-for-uppercase confusions), so a changed byte is always a changed value or an error.

use crate::date::BusinessDate;

use super::layout::{Field, Kind, digits_of};

/// A value to write.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Type(u8),
    Number(u64),
    Signed(i64),
    Str(&'a str),
    /// A trace number's six digits, or nothing (an empty field).
    Stan(Option<domain::Stan>),
    Date(BusinessDate),
    Flag(bool),
    Filler,
}

/// Decimal digits of `n` (1 for 0).
fn digit_count(mut n: u64) -> usize {
    let mut count = 1;
    while n >= 10 {
        n /= 10;
        count += 1;
    }
    count
}

/// Append `n` in decimal, left-padded with zeros to `width` digits (`width` 0: unpadded).
fn push_u64(line: &mut Vec<u8>, n: u64, width: usize) {
    // u64::MAX has 20 digits.
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let used = digits.len() - at;
    line.resize(line.len() + width.saturating_sub(used), b'0');
    line.extend_from_slice(&digits[at..]);
}

/// The bytes a text field may hold: printable ASCII except the CSV separator and quote (a table,
/// because every byte of every text field of every record is looked up).
const TEXT_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0x20;
    while byte <= 0x7E {
        table[byte] = byte != b',' as usize && byte != b'"' as usize;
        byte += 1;
    }
    table
};

fn text_byte(byte: u8) -> bool {
    TEXT_BYTES[usize::from(byte)]
}

/// Why `text` cannot be written in `field` (kind `Text` or `Digits`), if it cannot.
fn check_text(field: &Field, text: &str) -> Result<(), String> {
    if text.len() > field.width {
        return Err(format!("{:?} is longer than its {} bytes", text, field.width));
    }
    let bytes = text.as_bytes();
    match field.kind {
        Kind::Digits => {
            if !bytes.iter().fold(true, |ok, b| ok & b.is_ascii_digit()) {
                return Err(format!("{text:?} is not digits"));
            }
        }
        _ => {
            if !bytes.iter().fold(true, |ok, b| ok & text_byte(*b))
                && let Some(bad) = bytes.iter().find(|b| !text_byte(**b))
            {
                return Err(format!("{text:?} holds {:?}, not printable ASCII without commas or quotes", *bad as char));
            }
            if bytes.last() == Some(&b' ') {
                return Err(format!("{text:?} ends with a space"));
            }
        }
    }
    Ok(())
}

/// Append one field to `line`: padded to its width (fixed width) or after a comma (CSV, where
/// the filler is left out). Nothing is appended when the value does not fit: the reason.
pub fn put(line: &mut Vec<u8>, csv: bool, field: &Field, value: Value<'_>) -> Result<(), String> {
    if let Value::Stan(stan) = value {
        let text = stan.map(domain::Stan::field);
        return put(line, csv, field, Value::Str(text.as_ref().map_or("", |t| t.as_str())));
    }
    if csv {
        if field.kind == Kind::Filler {
            return Ok(());
        }
        if field.offset > 0 {
            line.push(b',');
        }
    }
    let width = if csv { 0 } else { field.width };
    match (field.kind, value) {
        (Kind::Type, Value::Type(letter)) => line.push(letter),
        (Kind::Number, Value::Number(n)) => {
            if digit_count(n) > digits_of(field) {
                return Err(format!("{n} does not fit {} digits", digits_of(field)));
            }
            push_u64(line, n, width);
        }
        (Kind::Signed, Value::Signed(n)) => {
            let magnitude = n.unsigned_abs();
            if digit_count(magnitude) > digits_of(field) {
                return Err(format!("{n} does not fit a sign and {} digits", digits_of(field)));
            }
            line.push(if n < 0 { b'-' } else { b'+' });
            push_u64(line, magnitude, width.saturating_sub(1));
        }
        (Kind::Text | Kind::Digits, Value::Str(text)) => {
            check_text(field, text)?;
            line.extend_from_slice(text.as_bytes());
            line.resize(line.len() + width.saturating_sub(text.len()), b' ');
        }
        (Kind::Date, Value::Date(date)) => {
            let (year, month, day) = date.ymd();
            if year > 9_999 {
                return Err(format!("year {year} does not fit YYYYMMDD"));
            }
            push_u64(line, u64::from(year), 4);
            push_u64(line, u64::from(month), 2);
            push_u64(line, u64::from(day), 2);
        }
        (Kind::Flag, Value::Flag(flag)) => line.push(if flag { b'Y' } else { b'N' }),
        (Kind::Filler, Value::Filler) => line.resize(line.len() + width, b' '),
        (kind, value) => unreachable!("layout field {} of kind {kind:?} given {value:?}", field.name),
    }
    Ok(())
}

/// Writes one field of a fixed-width line into `out`, the field's bytes in a line prefilled
/// with spaces (so text padding and the filler are already there): in place, no pushes.
pub fn put_fixed(out: &mut [u8], field: &Field, value: Value<'_>) -> Result<(), String> {
    debug_assert_eq!(out.len(), field.width);
    if let Value::Stan(stan) = value {
        let text = stan.map(domain::Stan::field);
        return put_fixed(out, field, Value::Str(text.as_ref().map_or("", |t| t.as_str())));
    }
    match (field.kind, value) {
        (Kind::Type, Value::Type(letter)) => out[0] = letter,
        (Kind::Number, Value::Number(n)) => {
            if !fill_digits(out, n) {
                return Err(format!("{n} does not fit {} digits", digits_of(field)));
            }
        }
        (Kind::Signed, Value::Signed(n)) => {
            out[0] = if n < 0 { b'-' } else { b'+' };
            if !fill_digits(&mut out[1..], n.unsigned_abs()) {
                return Err(format!("{n} does not fit a sign and {} digits", digits_of(field)));
            }
        }
        (Kind::Text | Kind::Digits, Value::Str(text)) => {
            check_text(field, text)?;
            out[..text.len()].copy_from_slice(text.as_bytes());
        }
        (Kind::Date, Value::Date(date)) => {
            let (year, month, day) = date.ymd();
            if !fill_digits(&mut out[..4], u64::from(year)) {
                return Err(format!("year {year} does not fit YYYYMMDD"));
            }
            fill_digits(&mut out[4..6], u64::from(month));
            fill_digits(&mut out[6..8], u64::from(day));
        }
        (Kind::Flag, Value::Flag(flag)) => out[0] = if flag { b'Y' } else { b'N' },
        (Kind::Filler, Value::Filler) => {}
        (kind, value) => unreachable!("layout field {} of kind {kind:?} given {value:?}", field.name),
    }
    Ok(())
}

/// `n` in decimal, zero-padded to fill `out`; `false` when it has more digits than that.
fn fill_digits(out: &mut [u8], mut n: u64) -> bool {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    n == 0
}

/// Every field of `line` in turn with its bytes (without padding removed): by offset for the
/// fixed-width form, by comma for CSV. The line must have exactly the table's fields.
pub fn for_each<'l>(
    line: &'l [u8],
    csv: bool,
    row: &str,
    table: &[Field],
    mut visit: impl FnMut(&Field, &'l [u8]) -> Result<(), String>,
) -> Result<(), String> {
    if !csv {
        let length = table.iter().map(|field| field.width).sum::<usize>();
        if line.len() != length {
            return Err(format!("the line is {} bytes, a fixed-width line is {length}", line.len()));
        }
        for field in table {
            visit(field, &line[field.offset..field.offset + field.width])?;
        }
        return Ok(());
    }
    let columns = table.iter().filter(|field| field.kind != Kind::Filler).count();
    let found = line.iter().filter(|b| **b == b',').count() + 1;
    if found != columns {
        return Err(format!("the row has {found} columns, a {} row has {columns}", row));
    }
    let mut tokens = line.split(|b| *b == b',');
    for field in table.iter().filter(|field| field.kind != Kind::Filler) {
        // Counted above: there is a token for every field.
        let token = tokens.next().unwrap_or_default();
        visit(field, token)?;
    }
    Ok(())
}

/// An unsigned number field.
pub fn number(field: &Field, csv: bool, bytes: &[u8]) -> Result<u64, String> {
    let digits = digits_of(field);
    if bytes.is_empty() || bytes.len() > digits || !bytes.iter().all(u8::is_ascii_digit) {
        return Err(format!("{}: {:?} is not a number of {} digits", field.name, show(bytes), digits));
    }
    if csv && bytes.len() > 1 && bytes[0] == b'0' {
        return Err(format!("{}: {:?} has a leading zero", field.name, show(bytes)));
    }
    let mut n: u64 = 0;
    for byte in bytes {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(byte - b'0')))
            .ok_or_else(|| format!("{}: {} is out of range", field.name, show(bytes)))?;
    }
    Ok(n)
}

/// A signed number field: `+` or `-`, then digits as for [`number`].
pub fn signed(field: &Field, csv: bool, bytes: &[u8]) -> Result<i64, String> {
    let (sign, digits) = match bytes.split_first() {
        Some((sign @ (b'+' | b'-'), digits)) => (*sign, digits),
        _ => return Err(format!("{}: {:?} does not start with + or -", field.name, show(bytes))),
    };
    let unsigned = Field { kind: Kind::Number, width: digits_of(field), ..*field };
    let magnitude = number(&unsigned, csv, digits)?;
    match sign {
        b'+' => i64::try_from(magnitude).map_err(|_| format!("{}: {} is out of range", field.name, show(bytes))),
        _ if magnitude == 0 => Err(format!("{}: -0 is written +0", field.name)),
        _ => 0i64
            .checked_sub_unsigned(magnitude)
            .ok_or_else(|| format!("{}: {} is out of range", field.name, show(bytes))),
    }
}

/// A `Text` or `Digits` field: the text without its padding (fixed width) or as is (CSV).
pub fn text<'l>(field: &Field, csv: bool, bytes: &'l [u8]) -> Result<&'l str, String> {
    let trimmed = if csv {
        bytes
    } else {
        let end = bytes.iter().rposition(|b| *b != b' ').map_or(0, |last| last + 1);
        &bytes[..end]
    };
    // Printable ASCII is UTF-8; anything else is refused by `check_text` below.
    let Ok(text) = std::str::from_utf8(trimmed) else {
        return Err(format!("{}: {:?} is not ASCII", field.name, show(trimmed)));
    };
    check_text(field, text).map_err(|reason| format!("{}: {reason}", field.name))?;
    Ok(text)
}

/// A date field, `YYYYMMDD`.
pub fn date(field: &Field, bytes: &[u8]) -> Result<BusinessDate, String> {
    let digits = bytes.len() == 8 && bytes.iter().all(u8::is_ascii_digit);
    let parsed = std::str::from_utf8(bytes).ok().filter(|_| digits).and_then(|text| {
        let number = |range: std::ops::Range<usize>| text[range].parse::<u32>().ok();
        BusinessDate::from_ymd(number(0..4)?, number(4..6)?, number(6..8)?).ok()
    });
    parsed.ok_or_else(|| format!("{}: {:?} is not a date YYYYMMDD", field.name, show(bytes)))
}

/// A flag, `Y` or `N`.
pub fn flag(field: &Field, bytes: &[u8]) -> Result<bool, String> {
    match bytes {
        b"Y" => Ok(true),
        b"N" => Ok(false),
        _ => Err(format!("{}: {:?} is not Y or N", field.name, show(bytes))),
    }
}

/// The filler: spaces only.
pub fn filler(field: &Field, bytes: &[u8]) -> Result<(), String> {
    if bytes.iter().all(|b| *b == b' ') { Ok(()) } else { Err(format!("{}: not spaces", field.name)) }
}

/// Bytes from a file, shown in a message: lossy, and at most 40 of them.
pub fn show(bytes: &[u8]) -> String {
    const SHOWN_BYTES_MAX: usize = 40;
    let shown = &bytes[..bytes.len().min(SHOWN_BYTES_MAX)];
    let mut text = String::from_utf8_lossy(shown).into_owned();
    if bytes.len() > SHOWN_BYTES_MAX {
        text.push('…');
    }
    text
}
