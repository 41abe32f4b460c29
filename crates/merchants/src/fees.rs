//! The merchant discount rate (MDR) and its fee.
//!
//! **Rounding rule:** the fee on an amount is `amount × rate_bp / 10 000` rounded half up to a
//! whole minor unit (四舍五入 to the fen: a remainder of half a minor unit or more rounds up),
//! computed exactly in 128-bit integers; then the per-transaction cap, if any, applies:
//! `fee = min(round_half_up(amount × bp / 10 000), cap)`. Debit and credit cards have separate
//! rates and caps (in China typically debit 0.50 % capped at 20.00 CNY, credit 0.60 % uncapped).

use crate::limits::BASIS_POINTS_PER_UNIT;

/// Which kind of card paid: the fee plan differs (the network's one type, from `clearing`).
pub use clearing::CardKind;

/// One rate: basis points of the amount, with an optional cap per transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DiscountRate {
    /// At most [`BASIS_POINTS_PER_UNIT`] (100 %).
    pub rate_bp: u32,
    pub cap_minor: Option<u64>,
}

impl DiscountRate {
    /// The fee on `amount_minor` (see the module's rounding rule).
    pub fn fee_minor(&self, amount_minor: u64) -> u64 {
        mdr_fee_minor(amount_minor, self.rate_bp, self.cap_minor)
    }
}

/// A merchant's fee plan: a rate for each card kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FeePlan {
    pub debit: DiscountRate,
    pub credit: DiscountRate,
}

impl FeePlan {
    pub fn rate(&self, card: CardKind) -> DiscountRate {
        match card {
            CardKind::Debit => self.debit,
            CardKind::Credit => self.credit,
        }
    }

    /// The merchant's fee on a transaction of `amount_minor` paid by a `card` card.
    pub fn fee_minor(&self, card: CardKind, amount_minor: u64) -> u64 {
        self.rate(card).fee_minor(amount_minor)
    }
}

/// `min(round_half_up(amount × rate_bp / 10 000), cap)`. Never overflows: the product is taken
/// in 128 bits, and the rounded fee is at most the amount when `rate_bp` ≤ 10 000 (a larger
/// rate, refused at activation, saturates at `u64::MAX`).
pub fn mdr_fee_minor(amount_minor: u64, rate_bp: u32, cap_minor: Option<u64>) -> u64 {
    let unit = u128::from(BASIS_POINTS_PER_UNIT);
    let product = u128::from(amount_minor) * u128::from(rate_bp);
    let rounded = (product + unit / 2) / unit;
    let fee = u64::try_from(rounded).unwrap_or(u64::MAX);
    cap_minor.map_or(fee, |cap| fee.min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_up_then_cap() {
        // Amounts and fees in minor units. 0.38 % of 10 000 = 38 exactly.
        assert_eq!(mdr_fee_minor(10_000, 38, None), 38);
        // 0.5 % of 100 = 0.5 → 1 (half rounds up); of 99 = 0.495 → 0.
        assert_eq!(mdr_fee_minor(100, 50, None), 1);
        assert_eq!(mdr_fee_minor(99, 50, None), 0);
        assert_eq!(mdr_fee_minor(150, 100, None), 2); // 1.5 → 2
        assert_eq!(mdr_fee_minor(149, 100, None), 1); // 1.49 → 1
        assert_eq!(mdr_fee_minor(u64::MAX, 10_000, None), u64::MAX);
        assert_eq!(mdr_fee_minor(1_000_000, 50, Some(2_000)), 2_000);
        assert_eq!(mdr_fee_minor(100_000, 50, Some(2_000)), 500);
    }
}
