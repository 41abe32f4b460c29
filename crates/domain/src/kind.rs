//! Which transaction: one kind for the terminal, the acquirer, the switch, the issuer and the
//! journals, from the cashier's menu to the clearing file (docs/network-flows.md §1 maps each
//! to its MTI, processing code and condition code; `network::classify` reads it off a
//! message).

use std::fmt;
use std::str::FromStr;

use crate::ParseError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionKind {
    BalanceInquiry,
    Purchase,
    PreAuthorization,
    /// Pre-authorization completion (request 0200 or advice 0220).
    Completion,
    /// Void of a purchase.
    Void,
    /// Void of a pre-authorization.
    PreAuthorizationVoid,
    /// Void of a completion (完成撤销): the completed amount goes back to the card.
    CompletionVoid,
    Refund,
    /// Reversal advice (0420/0421) or reversal request (0400/0401).
    Reversal,
}

impl TransactionKind {
    /// The name journals and files keep (`purchase`, `pre_authorization`, ...).
    pub fn name(self) -> &'static str {
        match self {
            TransactionKind::BalanceInquiry => "balance_inquiry",
            TransactionKind::Purchase => "purchase",
            TransactionKind::PreAuthorization => "pre_authorization",
            TransactionKind::Completion => "completion",
            TransactionKind::Void => "void",
            TransactionKind::PreAuthorizationVoid => "pre_authorization_void",
            TransactionKind::CompletionVoid => "completion_void",
            TransactionKind::Refund => "refund",
            TransactionKind::Reversal => "reversal",
        }
    }

    /// The wire-independent text form; the same as [`TransactionKind::name`].
    pub fn as_str(self) -> &'static str {
        self.name()
    }

    pub fn from_name(name: &str) -> Option<TransactionKind> {
        TransactionKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    pub const ALL: [TransactionKind; 9] = [
        TransactionKind::BalanceInquiry,
        TransactionKind::Purchase,
        TransactionKind::PreAuthorization,
        TransactionKind::Completion,
        TransactionKind::Void,
        TransactionKind::PreAuthorizationVoid,
        TransactionKind::CompletionVoid,
        TransactionKind::Refund,
        TransactionKind::Reversal,
    ];

    /// Whether an approval holds the cardholder's funds (a hold the issuer must later post,
    /// void or let expire).
    pub fn holds_funds(self) -> bool {
        matches!(self, TransactionKind::Purchase | TransactionKind::PreAuthorization)
    }

    /// Whether an approval changes a balance at all (everything but a balance inquiry); a
    /// request of such a kind that times out must be reversed.
    pub fn moves_money(self) -> bool {
        !matches!(self, TransactionKind::BalanceInquiry)
    }

    /// Whether the message must name an original transaction in field 90.
    pub fn needs_original(self) -> bool {
        matches!(
            self,
            TransactionKind::Completion
                | TransactionKind::Void
                | TransactionKind::PreAuthorizationVoid
                | TransactionKind::CompletionVoid
                | TransactionKind::Reversal
        )
    }

    /// Whether a PIN, when the card's product requires one, must come with it.
    pub fn cardholder_verified(self) -> bool {
        matches!(self, TransactionKind::BalanceInquiry | TransactionKind::Purchase | TransactionKind::PreAuthorization)
    }
}

impl FromStr for TransactionKind {
    type Err = ParseError;
    fn from_str(name: &str) -> Result<TransactionKind, ParseError> {
        TransactionKind::from_name(name).ok_or(ParseError::new("transaction kind", "not a transaction kind's name"))
    }
}

impl TryFrom<&str> for TransactionKind {
    type Error = ParseError;
    fn try_from(name: &str) -> Result<TransactionKind, ParseError> {
        name.parse()
    }
}

impl fmt::Display for TransactionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for kind in TransactionKind::ALL {
            assert!(seen.insert(kind.name()));
            assert_eq!(kind.name().parse::<TransactionKind>().unwrap(), kind);
            assert_eq!(kind.as_str(), kind.name());
        }
        assert_eq!("sale".parse::<TransactionKind>().unwrap_err().what, "transaction kind");
    }

    #[test]
    fn only_purchase_and_pre_authorization_hold_funds() {
        let holding: Vec<_> = TransactionKind::ALL.into_iter().filter(|k| k.holds_funds()).collect();
        assert_eq!(holding, [TransactionKind::Purchase, TransactionKind::PreAuthorization]);
        assert!(!TransactionKind::BalanceInquiry.moves_money());
        assert!(TransactionKind::Refund.moves_money() && !TransactionKind::Refund.needs_original());
    }
}
