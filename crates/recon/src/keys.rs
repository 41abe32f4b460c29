//! The keys the parties match by, in compact form: fixed byte arrays and integers, so a record is
//! a few dozen bytes and a key compares as one `u128` (no `String` on the hot path).
//!
//! Every key has a `parse` from the string form the journals and files hold; errors say which
//! field and what was wrong.

use std::fmt;

/// A field that cannot be read into its compact form: which field, what value, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(pub String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

/// Field 41 is 8 characters; field 37 is 12.
pub const TERMINAL_ID_LEN: usize = 8;
pub const RRN_LEN: usize = 12;
/// Institution ids (fields 32, 33, 100) have at most 11 digits.
pub const INSTITUTION_DIGITS_MAX: usize = 11;
/// STAN (11) is 6 digits; the transmission time (7) `MMDDhhmmss` is 10; batch and trace 6.
pub const STAN_DIGITS: usize = 6;
pub const TIME_DIGITS: usize = 10;

/// Parses up to `digits_max` ASCII digits (at least one).
pub fn digits(field: &str, text: &str, digits_max: usize) -> Result<u64, KeyError> {
    if text.is_empty() || text.len() > digits_max || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(KeyError(format!("{field} {text:?} is not 1 to {digits_max} digits")));
    }
    text.parse().map_err(|_| KeyError(format!("{field} {text:?} is not a number")))
}

/// Terminal id (field 41) and retrieval reference number (field 37): the shared
/// `domain` types, inline and ordered by their bytes.
pub use domain::{Rrn, TerminalId};

/// A terminal id from a journal or file; the error names the field and the value.
pub fn terminal_id(text: &str) -> Result<TerminalId, KeyError> {
    TerminalId::new(text).map_err(|e| KeyError(format!("{e}: {text:?}")))
}

/// An RRN from a journal or file; the error names the field and the value.
pub fn rrn(text: &str) -> Result<Rrn, KeyError> {
    Rrn::new(text).map_err(|e| KeyError(format!("{e}: {text:?}")))
}

/// The terminal id's 8 bytes, space-padded, as one number: ordered as the id itself (trailing
/// padding is dropped at construction and every byte is printable, so no byte sorts below the
/// padding space).
fn terminal_number(terminal: TerminalId) -> u64 {
    u64::from_be_bytes(terminal.padded())
}

/// The terminal's key: (terminal id, batch, trace). Unique per terminal request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TerminalKey {
    pub terminal: TerminalId,
    pub batch: u32,
    pub trace: u32,
}

impl TerminalKey {
    pub fn parse(terminal: &str, batch: &str, trace: &str) -> Result<TerminalKey, KeyError> {
        Ok(TerminalKey {
            terminal: terminal_id(terminal)?,
            batch: digits("batch", batch, STAN_DIGITS)? as u32,
            trace: digits("trace", trace, STAN_DIGITS)? as u32,
        })
    }

    /// Ordered exactly as the derived `Ord`.
    pub fn packed(&self) -> u128 {
        (u128::from(terminal_number(self.terminal)) << 64) | (u128::from(self.batch) << 32) | u128::from(self.trace)
    }
}

/// A network leg's key: (institution, STAN, transmission time `MMDDhhmmss` as a number).
/// The acquirer leg uses the acquiring institution (32); the issuer leg the issuer's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LegKey {
    pub institution: u64,
    pub stan: u32,
    pub time: u64,
}

/// Field widths in [`LegKey::packed`]: 11 digits < 2^37, 6 digits < 2^20, 10 digits < 2^34.
const STAN_BITS: u32 = 20;
const TIME_BITS: u32 = 34;

impl LegKey {
    pub fn parse(institution: &str, stan: &str, time: &str) -> Result<LegKey, KeyError> {
        Ok(LegKey {
            institution: digits("institution id", institution, INSTITUTION_DIGITS_MAX)?,
            stan: digits("STAN", stan, STAN_DIGITS)? as u32,
            time: digits("transmission time", time, TIME_DIGITS)?,
        })
    }

    /// Ordered exactly as the derived `Ord` (parse bounds every field to its width).
    pub fn packed(&self) -> u128 {
        debug_assert!(self.stan < 1 << STAN_BITS && self.time < 1 << TIME_BITS);
        (u128::from(self.institution) << (STAN_BITS + TIME_BITS))
            | (u128::from(self.stan) << TIME_BITS)
            | u128::from(self.time)
    }

    /// The same institution with another STAN and time: how an original is named (field 90).
    pub fn with(&self, stan: u32, time: u64) -> LegKey {
        LegKey { institution: self.institution, stan, time }
    }
}

/// ISO 4217 numeric currency, e.g. `156`.
pub fn currency(text: &str) -> Result<u16, KeyError> {
    let n = digits("currency", text, 3)?;
    Ok(n as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_pack_in_order_and_refuse_bad_fields() {
        let a = TerminalKey::parse("T0000001", "000001", "000002").unwrap();
        let b = TerminalKey::parse("T0000001", "000001", "000010").unwrap();
        let c = TerminalKey::parse("T0000002", "000001", "000001").unwrap();
        assert!(a < b && b < c);
        assert!(a.packed() < b.packed() && b.packed() < c.packed());
        assert_eq!(a.terminal.as_str(), "T0000001");
        let short = terminal_id("T1").unwrap();
        assert_eq!(short.as_str(), "T1");
        let x = LegKey::parse("48020000", "000123", "1204101500").unwrap();
        let y = LegKey::parse("48020000", "000124", "0101000000").unwrap();
        assert!(x < y && x.packed() < y.packed());
        assert!(terminal_id("T000000012").is_err());
        assert!(TerminalKey::parse("T1", "x", "1").is_err());
        assert!(LegKey::parse("123456789012", "1", "1").is_err());
        assert!(LegKey::parse("1", "1234567", "1").is_err());
        assert!(rrn("").is_err());
        let (low, high) = (TerminalKey::parse("AB", "1", "1").unwrap(), TerminalKey::parse("AB A", "1", "1").unwrap());
        assert!(low < high && low.packed() < high.packed(), "padding sorts first");
        assert_eq!(currency("156").unwrap(), 156);
        assert!(currency("CNY").is_err());
    }
}
