//! Who is who on the development network: the switch, one acquirer and two issuer banks, their
//! institution ids, BINs and the currency; and where each listens when the network is written
//! out as files ([`Ports`]).

use crate::error::{ProvisionError, Result};

pub const SWITCH_ID: &str = switch::dev::SWITCH_ID;
pub const ACQUIRER_ID: &str = switch::dev::ACQUIRER_ID;
/// The acquirer member's name in the switch's configuration.
pub const ACQUIRER_NAME: &str = "Dev Acquirer";
/// A second acquirer member, for networks written with two (`network init --acquirers 2`,
/// `cardnet up`): its own host, merchants and terminals, its own zone keys with the switch.
pub const SECOND_ACQUIRER_ID: &str = "10000000788";
pub const SECOND_ACQUIRER_NAME: &str = "Dev Acquirer B";
/// The acquirers a network may be written with, in order.
pub const ACQUIRERS: [(&str, &str); 2] = [(ACQUIRER_ID, ACQUIRER_NAME), (SECOND_ACQUIRER_ID, SECOND_ACQUIRER_NAME)];
/// CNY, ISO 4217 numeric.
pub const CURRENCY: &str = "156";
/// Issuer A: BIN 622424, no stand-in.
pub const ISSUER_A: usize = 0;
/// Issuer B: BIN 6224249 (a longer prefix inside A's range, so routing must take the longest
/// match), stand-in enabled.
pub const ISSUER_B: usize = 1;
/// The issuers' institution ids, A then B.
pub const ISSUER_IDS: [&str; 2] = [ISSUERS[0].id, ISSUERS[1].id];
/// Their BINs (each issuer's credit cards under `issuer::dev::credit_bin` of it).
pub const ISSUER_BINS: [&str; 2] = [ISSUERS[0].bin, ISSUERS[1].bin];

/// One issuer bank of the network.
#[derive(Debug, Clone, Copy)]
pub struct IssuerMember {
    pub id: &'static str,
    pub bin: &'static str,
    pub name: &'static str,
    /// The switch approves within limits for it when it cannot be reached.
    pub stand_in: bool,
}

/// The issuers, A then B.
pub const ISSUERS: [IssuerMember; 2] = [
    IssuerMember { id: "20000000455", bin: "622424", name: "Bank A", stand_in: false },
    IssuerMember { id: "20000000566", bin: "6224249", name: "Bank B", stand_in: true },
];

/// BINs of the other issuers that fall inside `bin`'s range: the issuer of `bin` must never
/// number a card there, or the switch would route it to the other bank.
pub fn inner_bins(bin: &str) -> Vec<String> {
    ISSUERS
        .iter()
        .map(|issuer| issuer.bin)
        .filter(|other| other.len() > bin.len() && other.starts_with(bin))
        .map(str::to_owned)
        .collect()
}

/// Where each party listens on one host when the network is written out as files: the switch
/// on `switch`, the issuers on the next two ports, the acquirer (for terminals) on the third, a
/// second acquirer on the fourth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub switch: u16,
    pub issuers: [u16; 2],
    pub acquirer: u16,
    pub second_acquirer: u16,
}

impl Ports {
    /// The ports after `switch`; an error when they would run past 65535.
    pub fn from_switch(switch: u16) -> Result<Ports> {
        let next = |n: u16| switch.checked_add(n);
        let (Some(a), Some(b), Some(acquirer), Some(second_acquirer)) = (next(1), next(2), next(3), next(4)) else {
            return Err(ProvisionError::input("--port must leave room for four ports after it"));
        };
        Ok(Ports { switch, issuers: [a, b], acquirer, second_acquirer })
    }

    /// Where issuer `id` listens (the switch's endpoint for it); `None` for a stranger.
    pub fn issuer(&self, id: &str) -> Option<u16> {
        ISSUER_IDS.iter().position(|known| *known == id).and_then(|index| self.issuers.get(index).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_b_lies_inside_a() {
        assert_eq!(inner_bins(ISSUERS[ISSUER_A].bin), vec![ISSUERS[ISSUER_B].bin.to_owned()]);
        assert!(inner_bins(ISSUERS[ISSUER_B].bin).is_empty());
    }

    #[test]
    fn ports_follow_the_switch_and_stop_at_the_top() {
        let ports = Ports::from_switch(9100).unwrap();
        assert_eq!(ports, Ports { switch: 9100, issuers: [9101, 9102], acquirer: 9103, second_acquirer: 9104 });
        assert_eq!(ports.issuer(ISSUER_IDS[ISSUER_B]), Some(9102));
        assert_eq!(ports.issuer("99999999999"), None);
        assert!(Ports::from_switch(65_532).unwrap_err().is_input());
        assert!(Ports::from_switch(65_531).is_ok());
    }
}
