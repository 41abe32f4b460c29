//! Currencies by ISO 4217 numeric code (field 49) with their minor-unit exponent, for the
//! ones cardnet's members settle in and a terminal in the region meets.

use std::fmt;
use std::str::FromStr;

use crate::ParseError;

/// A currency this network knows: numeric code, alphabetic code, minor-unit exponent.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency {
    numeric: u16,
    /// The numeric code's three digits, as field 49 carries them.
    code: &'static str,
    /// Three ASCII capitals.
    alpha: &'static str,
    exponent: u8,
}

const fn currency(numeric: u16, code: &'static str, alpha: &'static str, exponent: u8) -> Currency {
    Currency { numeric, code, alpha, exponent }
}

impl Currency {
    pub const AUD: Currency = currency(36, "036", "AUD", 2);
    pub const CAD: Currency = currency(124, "124", "CAD", 2);
    pub const CNY: Currency = currency(156, "156", "CNY", 2);
    pub const HKD: Currency = currency(344, "344", "HKD", 2);
    pub const JPY: Currency = currency(392, "392", "JPY", 0);
    pub const KRW: Currency = currency(410, "410", "KRW", 0);
    pub const MOP: Currency = currency(446, "446", "MOP", 2);
    pub const MYR: Currency = currency(458, "458", "MYR", 2);
    pub const SGD: Currency = currency(702, "702", "SGD", 2);
    pub const THB: Currency = currency(764, "764", "THB", 2);
    pub const GBP: Currency = currency(826, "826", "GBP", 2);
    pub const USD: Currency = currency(840, "840", "USD", 2);
    pub const TWD: Currency = currency(901, "901", "TWD", 2);
    pub const EUR: Currency = currency(978, "978", "EUR", 2);

    /// Every currency known, by numeric code.
    pub const ALL: [Currency; 14] = [
        Currency::AUD,
        Currency::CAD,
        Currency::CNY,
        Currency::HKD,
        Currency::JPY,
        Currency::KRW,
        Currency::MOP,
        Currency::MYR,
        Currency::SGD,
        Currency::THB,
        Currency::GBP,
        Currency::USD,
        Currency::TWD,
        Currency::EUR,
    ];

    pub fn from_numeric(numeric: u16) -> Result<Currency, ParseError> {
        Currency::ALL
            .into_iter()
            .find(|c| c.numeric == numeric)
            .ok_or(ParseError::new("currency", "not a currency this network settles in"))
    }

    /// Read field 49's form: three digits (`"156"`), or the alphabetic code (`"CNY"`).
    pub fn parse(text: &str) -> Result<Currency, ParseError> {
        if text.len() == 3 && text.bytes().all(|b| b.is_ascii_digit()) {
            let numeric = text.bytes().fold(0u16, |n, b| n * 10 + u16::from(b - b'0'));
            return Currency::from_numeric(numeric);
        }
        Currency::ALL
            .into_iter()
            .find(|c| c.alpha == text)
            .ok_or(ParseError::new("currency", "must be an ISO 4217 code this network settles in"))
    }

    pub fn numeric(self) -> u16 {
        self.numeric
    }

    /// The wire form, field 49: three digits.
    pub fn as_str(self) -> &'static str {
        self.code
    }

    pub fn alpha(self) -> &'static str {
        self.alpha
    }

    /// Digits after the decimal point (2 for CNY, 0 for JPY).
    pub fn exponent(self) -> u8 {
        self.exponent
    }
}

impl FromStr for Currency {
    type Err = ParseError;
    fn from_str(text: &str) -> Result<Currency, ParseError> {
        Currency::parse(text)
    }
}

impl TryFrom<&str> for Currency {
    type Error = ParseError;
    fn try_from(text: &str) -> Result<Currency, ParseError> {
        Currency::parse(text)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.alpha)
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.alpha, self.numeric)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for c in Currency::ALL {
            assert_eq!(Currency::parse(c.as_str()).unwrap(), c);
            assert_eq!(Currency::parse(c.alpha()).unwrap(), c);
            assert_eq!(c.as_str().parse::<u16>().unwrap(), c.numeric());
        }
        assert_eq!(Currency::parse("156").unwrap().exponent(), 2);
        assert_eq!(Currency::parse("392").unwrap().exponent(), 0);
    }

    #[test]
    fn refuses_unknown_and_malformed() {
        for bad in ["", "15", "1560", "999", "cny", "XXX", "15a"] {
            assert_eq!(Currency::parse(bad).unwrap_err().what, "currency", "{bad:?}");
        }
    }
}
