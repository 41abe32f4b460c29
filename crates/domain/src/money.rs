//! An amount: integer minor units of one currency. No floating point anywhere; arithmetic is
//! checked and refuses to mix currencies.

use std::fmt;

use crate::Currency;

/// `minor` units of `currency` (fen for CNY, cents for USD, yen for JPY).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Money {
    pub minor: u64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: u64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// The sum, or `None` on overflow or when the currencies differ.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        if self.currency != other.currency {
            return None;
        }
        Some(Money { minor: self.minor.checked_add(other.minor)?, currency: self.currency })
    }

    /// The difference, or `None` below zero or when the currencies differ.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        if self.currency != other.currency {
            return None;
        }
        Some(Money { minor: self.minor.checked_sub(other.minor)?, currency: self.currency })
    }
}

/// `125.00 CNY`, `1250 JPY`: the currency's exponent places the decimal point.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exponent = u32::from(self.currency.exponent());
        if exponent == 0 {
            return write!(f, "{} {}", self.minor, self.currency);
        }
        let unit = 10u64.pow(exponent);
        write!(f, "{}.{:0width$} {}", self.minor / unit, self.minor % unit, self.currency, width = exponent as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_follows_the_exponent() {
        assert_eq!(Money::new(12_500, Currency::CNY).to_string(), "125.00 CNY");
        assert_eq!(Money::new(5, Currency::USD).to_string(), "0.05 USD");
        assert_eq!(Money::new(1_250, Currency::JPY).to_string(), "1250 JPY");
        assert_eq!(Money::new(u64::MAX, Currency::EUR).to_string(), "184467440737095516.15 EUR");
    }

    #[test]
    fn checked_arithmetic() {
        let a = Money::new(100, Currency::CNY);
        assert_eq!(a.checked_add(Money::new(50, Currency::CNY)), Some(Money::new(150, Currency::CNY)));
        assert_eq!(a.checked_sub(Money::new(100, Currency::CNY)), Some(Money::new(0, Currency::CNY)));
        assert_eq!(a.checked_sub(Money::new(101, Currency::CNY)), None, "below zero");
        assert_eq!(a.checked_add(Money::new(1, Currency::USD)), None, "two currencies");
        assert_eq!(a.checked_sub(Money::new(1, Currency::USD)), None, "two currencies");
        assert_eq!(Money::new(u64::MAX, Currency::CNY).checked_add(Money::new(1, Currency::CNY)), None);
    }
}
