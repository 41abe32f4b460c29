//! A balance inquiry's answer (field 54, reference §2: account type n2, amount type n2,
//! currency n3, `C`/`D`, amount n12 per set) as the cashier is shown it: the **available**
//! balance, what the cardholder can spend, with the ledger balance beside it when the host sent
//! it. The sets are picked by amount type, not position (an acquirer that forwards the issuer's
//! order puts the ledger balance first).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Characters of one field 54 set.
const SET_CHARS: usize = 20;
/// Sets read from one field 54 (the network dialect's most).
const SETS_MAX: usize = 6;
/// Amount types (ISO 8583 additional amounts).
const LEDGER_BALANCE: &str = "01";
const AVAILABLE_BALANCE: &str = "02";

/// Balances in minor units of one currency (negative: a debit balance, an overdrawn account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub available_minor: i64,
    /// When the host sent it.
    pub ledger_minor: Option<i64>,
    /// ISO 4217 alphabetic code (`CNY`), or the numeric code of a currency the terminal does
    /// not know.
    pub currency: String,
    /// ISO 4217 numeric code, as field 54 carries it (`156`).
    pub currency_numeric: u16,
}

/// One set: (amount type, currency, signed minor units). `None` when it is not the layout.
fn set(text: &str) -> Option<(&str, u16, i64)> {
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    let (head, amount) = (text.get(..7)?, text.get(8..SET_CHARS)?);
    if !digits(head) || !digits(amount) {
        return None;
    }
    let magnitude: i64 = amount.parse().ok()?;
    let signed = match text.get(7..8)? {
        "C" => magnitude,
        "D" => -magnitude,
        _ => return None,
    };
    Some((text.get(2..4)?, head.get(4..7)?.parse().ok()?, signed))
}

impl Balance {
    /// Read field 54: the available set is required; the ledger set in the same currency is
    /// taken when present. `None` for anything else (the cashier sees no balance rather than
    /// a wrong one).
    pub fn from_field54(text: &str) -> Option<Balance> {
        if text.is_empty() || !text.len().is_multiple_of(SET_CHARS) || text.len() > SET_CHARS * SETS_MAX {
            return None;
        }
        let sets: Vec<(&str, u16, i64)> = (0..text.len() / SET_CHARS)
            .map(|i| set(text.get(i * SET_CHARS..(i + 1) * SET_CHARS)?))
            .collect::<Option<_>>()?;
        let (_, currency, available_minor) = *sets.iter().find(|(kind, _, _)| *kind == AVAILABLE_BALANCE)?;
        let ledger_minor =
            sets.iter().find(|(kind, c, _)| *kind == LEDGER_BALANCE && *c == currency).map(|(_, _, amount)| *amount);
        let code = receipt::Amount { minor: 0, currency }.iso_code();
        Some(Balance { available_minor, ledger_minor, currency: code, currency_numeric: currency })
    }

    fn amount(&self, minor: i64) -> receipt::Amount {
        receipt::Amount { minor: minor.unsigned_abs(), currency: self.currency_numeric }
    }

    /// `1,000.00 CNY`, `-5.00 CNY` for a debit balance.
    fn format(&self, minor: i64) -> String {
        let number = self.amount(minor).number();
        let (whole, fraction) = number.split_once('.').map_or((number.as_str(), None), |(w, f)| (w, Some(f)));
        let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
        for (index, digit) in whole.chars().enumerate() {
            if index > 0 && (whole.len() - index).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        let sign = if minor < 0 { "-" } else { "" };
        match fraction {
            Some(fraction) => format!("{sign}{grouped}.{fraction} {}", self.currency),
            None => format!("{sign}{grouped} {}", self.currency),
        }
    }

    /// The available balance as the slip prints it (its magnitude: a slip line has no sign).
    pub(crate) fn slip_amount(&self) -> receipt::Amount {
        self.amount(self.available_minor)
    }
}

impl fmt::Display for Balance {
    /// `available 1,000.00 CNY (ledger 1,200.00 CNY)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "available {}", self.format(self.available_minor))?;
        if let Some(ledger) = self.ledger_minor {
            write!(f, " (ledger {})", self.format(ledger))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_are_read_by_amount_type_with_their_sign() {
        let balance = Balance::from_field54("0001156C0000001200000002156D000000000500").unwrap();
        let expected = Balance {
            available_minor: -500,
            ledger_minor: Some(120_000),
            currency: "CNY".into(),
            currency_numeric: 156,
        };
        assert_eq!(balance, expected);
        assert_eq!(balance.to_string(), "available -5.00 CNY (ledger 1,200.00 CNY)");
        let big = Balance::from_field54("0002156C123456789012").unwrap();
        assert_eq!(big.to_string(), "available 1,234,567,890.12 CNY");
        let yen = Balance::from_field54("0002392C000000001000").unwrap();
        assert_eq!(yen.to_string(), "available 1,000 JPY");
        // Only a ledger set, a bad sign, a cut set, or nothing: no balance rather than a wrong one.
        for bad in ["0001156C000000120000", "0002156X000000120000", "0002156C00000012000", "", "0002ABCC000000120000"] {
            assert_eq!(Balance::from_field54(bad), None, "{bad}");
        }
    }
}
