//! Multilateral net positions: what each member owes or is owed for one business date, per
//! currency, after fees. The network itself is a member (its fee income).
//!
//! Per record with settlement `s` (issuer → acquirer, signed) and network fee `n` (signed, to
//! each side): the acquirer gets `s − n`, the issuer `−s − n`, the network `2n`. The three sum to
//! zero, so the positions of a date sum to zero per currency: asserted on every `finish`.

use std::collections::BTreeMap;

use domain::{Currency, InstitutionId};

use crate::record::ClearingRecord;

/// One member's position in one currency: positive = receives, negative = pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub member: InstitutionId,
    pub currency: Currency,
    pub net_minor: i64,
    /// Gross amounts it is owed and owes before fees, and the fees it pays or receives.
    pub receivable_minor: i64,
    pub payable_minor: i64,
    pub interchange_minor: i64,
    pub network_fee_minor: i64,
    pub records: u64,
}

/// Accumulates records into positions (O(1) per record; memory per member and currency).
#[derive(Debug, Clone)]
pub struct NetPositions {
    network: InstitutionId,
    positions: BTreeMap<(InstitutionId, Currency), Position>,
}

impl NetPositions {
    /// `network`: the switch's institution id, credited with the network fees.
    pub fn new(network: InstitutionId) -> NetPositions {
        NetPositions { network, positions: BTreeMap::new() }
    }

    fn entry(&mut self, member: InstitutionId, currency: Currency) -> &mut Position {
        self.positions.entry((member, currency)).or_insert_with(|| Position {
            member,
            currency,
            net_minor: 0,
            receivable_minor: 0,
            payable_minor: 0,
            interchange_minor: 0,
            network_fee_minor: 0,
            records: 0,
        })
    }

    pub fn add(&mut self, record: &ClearingRecord) {
        let gross = record.code.direction() * i64::try_from(record.amount_minor).unwrap_or(i64::MAX);
        let s = record.settlement_minor;
        let n = record.network_fee_minor;
        let acquirer = self.entry(record.acquirer, record.currency);
        acquirer.net_minor += s - n;
        acquirer.receivable_minor += gross;
        acquirer.interchange_minor -= record.interchange_fee_minor;
        acquirer.network_fee_minor -= n;
        acquirer.records += 1;
        let issuer = self.entry(record.issuer, record.currency);
        issuer.net_minor += -s - n;
        issuer.payable_minor += gross;
        issuer.interchange_minor += record.interchange_fee_minor;
        issuer.network_fee_minor -= n;
        issuer.records += 1;
        let hub = self.entry(self.network, record.currency);
        hub.net_minor += 2 * n;
        hub.network_fee_minor += 2 * n;
    }

    /// The positions, ordered by member then currency. Panics if a currency's positions do not
    /// sum to zero: that is a bug in the arithmetic above, never a property of the input.
    pub fn finish(self) -> Vec<Position> {
        let mut sums: BTreeMap<Currency, i128> = BTreeMap::new();
        for p in self.positions.values() {
            *sums.entry(p.currency).or_default() += i128::from(p.net_minor);
        }
        for (currency, sum) in &sums {
            assert_eq!(*sum, 0, "net positions in {currency} sum to {sum}, not zero");
        }
        self.positions.into_values().collect()
    }
}
