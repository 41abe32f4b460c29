//! The system trace audit number (field 11, n 6).

use std::fmt;
use std::str::FromStr;

use crate::ParseError;

/// Largest STAN: six digits.
pub const STAN_MAX: u32 = 999_999;

const WHAT: &str = "STAN";

/// A trace number, 0..=999,999; on the wire always six digits with leading zeros.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Stan(u32);

impl Stan {
    pub fn new(value: u32) -> Result<Stan, ParseError> {
        if value > STAN_MAX {
            return Err(ParseError::new(WHAT, "must be at most 999999"));
        }
        Ok(Stan(value))
    }

    /// `value` modulo a million: what a counter that wraps gives.
    pub fn wrapping(value: u32) -> Stan {
        Stan(value % (STAN_MAX + 1))
    }

    /// Read the field form: exactly six digits.
    pub fn parse(text: &str) -> Result<Stan, ParseError> {
        if text.len() != 6 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::new(WHAT, "must be 6 digits"));
        }
        Ok(Stan(text.bytes().fold(0, |n, b| n * 10 + u32::from(b - b'0'))))
    }

    pub fn value(self) -> u32 {
        self.0
    }

    /// The six-digit field form, inline.
    pub fn field(self) -> StanText {
        let mut bytes = [b'0'; 6];
        let mut n = self.0;
        for b in bytes.iter_mut().rev() {
            *b = b'0' + (n % 10) as u8;
            n /= 10;
        }
        StanText(bytes)
    }

    /// The next trace number, 999,999 wrapping to 1 (0 is not issued).
    pub fn next(self) -> Stan {
        if self.0 >= STAN_MAX { Stan(1) } else { Stan(self.0 + 1) }
    }
}

/// A STAN's six digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct StanText([u8; 6]);

impl StanText {
    pub fn as_str(&self) -> &str {
        // Digits only: always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl FromStr for Stan {
    type Err = ParseError;
    fn from_str(text: &str) -> Result<Stan, ParseError> {
        Stan::parse(text)
    }
}

impl TryFrom<&str> for Stan {
    type Error = ParseError;
    fn try_from(text: &str) -> Result<Stan, ParseError> {
        Stan::parse(text)
    }
}

impl TryFrom<u32> for Stan {
    type Error = ParseError;
    fn try_from(value: u32) -> Result<Stan, ParseError> {
        Stan::new(value)
    }
}

impl fmt::Display for Stan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06}", self.0)
    }
}

impl fmt::Debug for Stan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Stan({:06})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert_eq!(Stan::new(999_999).unwrap().field().as_str(), "999999");
        assert_eq!(Stan::new(0).unwrap().field().as_str(), "000000");
        assert!(Stan::new(1_000_000).is_err());
        assert_eq!(Stan::parse("000042").unwrap().value(), 42);
        for bad in ["", "42", "0000042", "00004a", "-00042", "+00042"] {
            assert_eq!(Stan::parse(bad).unwrap_err().what, "STAN", "{bad:?}");
        }
        assert_eq!(Stan::new(7).unwrap().to_string(), "000007");
        assert_eq!(Stan::wrapping(1_000_042).value(), 42);
        assert_eq!(Stan::wrapping(STAN_MAX).value(), STAN_MAX);
    }

    #[test]
    fn next_wraps_past_zero() {
        assert_eq!(Stan::new(999_999).unwrap().next().value(), 1);
        assert_eq!(Stan::new(41).unwrap().next().value(), 42);
    }
}
