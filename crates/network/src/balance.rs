//! Field 54, additional amounts: sets of 20 characters — account type (2), amount type (2),
//! currency (3), sign `C`/`D`, amount (12 digits, minor units).

use crate::error::{Error, Result};

/// Amount type: ledger (current) balance.
pub const LEDGER_BALANCE: &str = "01";
/// Amount type: available balance.
pub const AVAILABLE_BALANCE: &str = "02";
/// Characters of one amount set.
pub const SET_LEN: usize = 20;
/// Sets field 54 can hold (120 characters).
pub const SETS_MAX: usize = 6;
/// The largest magnitude 12 digits can write.
pub const AMOUNT_MAX: u64 = 999_999_999_999;

const FIELD: u8 = 54;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdditionalAmount {
    pub account_type: String,
    pub amount_type: String,
    /// ISO 4217 numeric.
    pub currency: String,
    /// Minor units; negative is a debit balance.
    pub amount_minor: i64,
}

impl AdditionalAmount {
    /// The 20 characters of this set. Errors when a part does not fit its width.
    pub fn encode(&self) -> Result<String> {
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(&self.account_type, 2) || !digits(&self.amount_type, 2) || !digits(&self.currency, 3) {
            return Err(Error::Invalid {
                field: FIELD,
                reason: "account type, amount type or currency not 2/2/3 digits",
            });
        }
        let magnitude = self.amount_minor.unsigned_abs();
        if magnitude > AMOUNT_MAX {
            return Err(Error::Invalid { field: FIELD, reason: "amount does not fit 12 digits" });
        }
        let sign = if self.amount_minor < 0 { 'D' } else { 'C' };
        Ok(format!("{}{}{}{sign}{magnitude:012}", self.account_type, self.amount_type, self.currency))
    }

    /// Read every set of a field 54 value.
    pub fn parse_all(text: &str) -> Result<Vec<AdditionalAmount>> {
        if !text.len().is_multiple_of(SET_LEN) || text.len() > SET_LEN * SETS_MAX || !text.is_ascii() {
            return Err(Error::Invalid { field: FIELD, reason: "not a whole number of 20-character sets" });
        }
        let mut out = Vec::with_capacity(text.len() / SET_LEN);
        for set in text.as_bytes().chunks(SET_LEN) {
            let set = std::str::from_utf8(set).map_err(|_| Error::Invalid { field: FIELD, reason: "not text" })?;
            if !set[..7].bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::Invalid {
                    field: FIELD,
                    reason: "account type, amount type or currency not digits",
                });
            }
            let magnitude: i64 =
                set[8..].parse().map_err(|_| Error::Invalid { field: FIELD, reason: "amount is not 12 digits" })?;
            let amount_minor = match &set[7..8] {
                "C" => magnitude,
                "D" => -magnitude,
                _ => return Err(Error::Invalid { field: FIELD, reason: "sign must be C or D" }),
            };
            out.push(AdditionalAmount {
                account_type: set[0..2].to_owned(),
                amount_type: set[2..4].to_owned(),
                currency: set[4..7].to_owned(),
                amount_minor,
            });
        }
        Ok(out)
    }
}

/// One field 54 value from sets (at most [`SETS_MAX`]).
pub fn field54(sets: &[AdditionalAmount]) -> Result<String> {
    if sets.len() > SETS_MAX {
        return Err(Error::Invalid { field: FIELD, reason: "more than 6 amount sets" });
    }
    sets.iter().map(AdditionalAmount::encode).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let sets = vec![
            AdditionalAmount {
                account_type: "00".into(),
                amount_type: LEDGER_BALANCE.into(),
                currency: "156".into(),
                amount_minor: 1_234_500,
            },
            AdditionalAmount {
                account_type: "00".into(),
                amount_type: AVAILABLE_BALANCE.into(),
                currency: "156".into(),
                amount_minor: -5,
            },
        ];
        let text = field54(&sets).unwrap();
        assert_eq!(text, "0001156C0000012345000002156D000000000005");
        assert_eq!(AdditionalAmount::parse_all(&text).unwrap(), sets);
        assert!(AdditionalAmount::parse_all("0001156X000001234500").is_err());
        // Found by the fuzzer: letters where the account type goes were read, then not written.
        assert!(AdditionalAmount::parse_all("ab01156C000001234500").is_err());
        assert!(AdditionalAmount::parse_all("0001156C00000123450").is_err());
        let huge = AdditionalAmount {
            account_type: "00".into(),
            amount_type: "01".into(),
            currency: "156".into(),
            amount_minor: i64::MIN,
        };
        assert!(huge.encode().is_err());
    }
}
