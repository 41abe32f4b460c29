//! Amounts as the cashier types them, parsed exactly into minor units (fen): no floats.

use crate::{Result, TerminalError};

/// Largest amount field 4 (n12) carries, in minor units.
pub const AMOUNT_MINOR_MAX: u64 = 999_999_999_999;
/// Digits after the decimal point in CNY.
const FRACTION_DIGITS: usize = 2;

/// `"12.34"` → 1234, `"12"` → 1200, `"0.5"` → 50. Refuses signs, exponents, more than two
/// decimals and anything above [`AMOUNT_MINOR_MAX`].
pub fn parse_minor(text: &str) -> Result<u64> {
    let bad = || TerminalError::Input("amount: digits with at most two decimals, e.g. 12.34".into());
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || fraction.len() > FRACTION_DIGITS || (text.contains('.') && fraction.is_empty()) {
        return Err(bad());
    }
    if !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) || whole.len() > 12 {
        return Err(bad());
    }
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    let fraction: u64 = format!("{fraction:0<width$}", width = FRACTION_DIGITS).parse().map_err(|_| bad())?;
    let minor = whole.checked_mul(100).and_then(|w| w.checked_add(fraction)).ok_or_else(bad)?;
    if minor > AMOUNT_MINOR_MAX {
        return Err(TerminalError::Input(format!("amount: at most {AMOUNT_MINOR_MAX} fen")));
    }
    Ok(minor)
}

/// 1234 → `"12.34"`.
pub fn format_minor(minor: u64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_exactly() {
        assert_eq!(parse_minor("12.34").unwrap(), 1234);
        assert_eq!(parse_minor("12").unwrap(), 1200);
        assert_eq!(parse_minor("0.5").unwrap(), 50);
        assert_eq!(parse_minor("0.07").unwrap(), 7);
        for bad in ["", ".5", "1.", "1.234", "-1", "+1", "1e3", "1,00", "abc", "9999999999999"] {
            assert!(parse_minor(bad).is_err(), "{bad}");
        }
        assert_eq!(format_minor(1234), "12.34");
        assert_eq!(format_minor(5), "0.05");
    }
}
