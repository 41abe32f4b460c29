//! The network's fees: the issuer's fee (interchange) and the network fee (品牌服务费), by card
//! kind, as rates with optional caps.
//!
//! **Units and rounding.** A rate is in hundredths of a basis point (`rate_cbp`: 1 = 0.0001 %,
//! so China's network fee of 0.0325 % is 325); the fee on an amount is
//! `round_half_up(amount × rate_cbp / 1 000 000)` to a whole minor unit, computed exactly in
//! 128-bit integers, then capped: `min(rounded, cap)`. A record's fee carries its direction
//! (a void or reversal gives its original's fee back exactly; a partial refund's fee is computed
//! on the refund's amount).
//!
//! Shipped default: China since 2016-09-06 (NDRC/PBOC 发改价格〔2016〕557号): issuer fee ≤ 0.35 %
//! debit capped at ¥13, ≤ 0.45 % credit; network fee ≤ 0.0325 % to each of issuer and acquirer,
//! capped at ¥3.25 each.

/// Hundredths of a basis point in a whole (100 %).
pub const CBP_PER_UNIT: u64 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CardKind {
    Debit,
    Credit,
}

impl CardKind {
    pub fn name(self) -> &'static str {
        match self {
            CardKind::Debit => "debit",
            CardKind::Credit => "credit",
        }
    }

    pub fn from_name(name: &str) -> Option<CardKind> {
        match name {
            "debit" => Some(CardKind::Debit),
            "credit" => Some(CardKind::Credit),
            _ => None,
        }
    }

    /// One letter in the fixed-width file: `D` or `C`.
    pub fn letter(self) -> char {
        match self {
            CardKind::Debit => 'D',
            CardKind::Credit => 'C',
        }
    }

    pub fn from_letter(letter: char) -> Option<CardKind> {
        match letter {
            'D' => Some(CardKind::Debit),
            'C' => Some(CardKind::Credit),
            _ => None,
        }
    }
}

/// A rate with an optional cap per transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeRate {
    /// Hundredths of a basis point, at most [`CBP_PER_UNIT`].
    pub rate_cbp: u32,
    pub cap_minor: Option<u64>,
}

impl FeeRate {
    /// The fee on `amount_minor` (the module's rounding rule).
    pub fn fee_minor(self, amount_minor: u64) -> u64 {
        let unit = u128::from(CBP_PER_UNIT);
        let rounded = (u128::from(amount_minor) * u128::from(self.rate_cbp) + unit / 2) / unit;
        let fee = u64::try_from(rounded).unwrap_or(u64::MAX);
        self.cap_minor.map_or(fee, |cap| fee.min(cap))
    }
}

/// The two fees of one record's amount (unsigned; the record gives them its direction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fees {
    pub interchange_minor: u64,
    /// Charged to each of issuer and acquirer.
    pub network_minor: u64,
}

/// Interchange by card kind and the network fee, one schedule per network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeSchedule {
    pub interchange_debit: FeeRate,
    pub interchange_credit: FeeRate,
    pub network: FeeRate,
}

impl FeeSchedule {
    /// China's 2016 caps (CNY minor units: fen).
    pub fn china_2016() -> FeeSchedule {
        FeeSchedule {
            interchange_debit: FeeRate { rate_cbp: 3_500, cap_minor: Some(1_300) },
            interchange_credit: FeeRate { rate_cbp: 4_500, cap_minor: None },
            network: FeeRate { rate_cbp: 325, cap_minor: Some(325) },
        }
    }

    pub fn fees(&self, kind: CardKind, amount_minor: u64) -> Fees {
        let interchange = match kind {
            CardKind::Debit => self.interchange_debit,
            CardKind::Credit => self.interchange_credit,
        };
        Fees {
            interchange_minor: interchange.fee_minor(amount_minor),
            network_minor: self.network.fee_minor(amount_minor),
        }
    }
}

impl Default for FeeSchedule {
    fn default() -> FeeSchedule {
        FeeSchedule::china_2016()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn china_2016_rates_caps_and_half_up_rounding() {
        let s = FeeSchedule::china_2016();
        // ¥100.00 debit: 0.35 % = 35 fen; network 0.0325 % = 3.25 → 3 fen.
        assert_eq!(s.fees(CardKind::Debit, 10_000), Fees { interchange_minor: 35, network_minor: 3 });
        // ¥100.00 credit: 45 fen.
        assert_eq!(s.fees(CardKind::Credit, 10_000).interchange_minor, 45);
        // 0.0325 % of ¥200.00 = 6.5 fen → 7 (half up); of ¥199.99 = 6.499… → 6.
        assert_eq!(s.fees(CardKind::Debit, 20_000).network_minor, 7);
        assert_eq!(s.fees(CardKind::Debit, 19_999).network_minor, 6);
        // Debit issuer fee capped at ¥13 from ¥3,714.29 up; network fee at ¥3.25 from ¥10,000.
        assert_eq!(s.fees(CardKind::Debit, 371_428).interchange_minor, 1_300);
        assert_eq!(s.fees(CardKind::Debit, 5_000_000), Fees { interchange_minor: 1_300, network_minor: 325 });
        assert_eq!(s.fees(CardKind::Credit, 5_000_000).interchange_minor, 22_500, "credit is uncapped");
        assert_eq!(s.fees(CardKind::Credit, u64::MAX).network_minor, 325);
    }
}
