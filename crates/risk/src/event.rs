//! What the engine is told about a transaction: at authorization time ([`Event`]) and after
//! the issuer answered ([`Outcome`]). Both carry a [`CardKey`] (a keyed hash and the BIN),
//! never a clear PAN, so they can be kept in a journal and replayed.

use domain::{Currency, EntryMode, MerchantId, Money, ResponseCode, TerminalId, TransactionKind};

use crate::key::CardKey;
use crate::window::Flow;

/// One transaction as the risk engine sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Event {
    pub card: CardKey,
    pub terminal: TerminalId,
    pub merchant: MerchantId,
    /// Merchant category code (ISO 18245), 0 when unknown.
    pub mcc: u16,
    pub amount: Money,
    pub kind: TransactionKind,
    pub entry_mode: EntryMode,
    /// The issuer's answer when it is already known (journal replay); `None` at
    /// authorization time.
    pub response: Option<ResponseCode>,
    /// When the merchant was onboarded (unix ms), if the acquirer knows.
    pub merchant_onboarded_ms: Option<u64>,
    /// The merchant's settlement currency, if known.
    pub merchant_currency: Option<Currency>,
    /// ISO 3166-1 numeric country codes, where known.
    pub merchant_country: Option<u16>,
    pub card_country: Option<u16>,
    /// When it happened (unix ms). `Engine::evaluate` takes its clock separately (it is
    /// "now" for an authorization); replay and backtest use this.
    pub at_ms: u64,
}

impl Event {
    /// The windows this event counts in: purchases and pre-authorizations are sales,
    /// refunds are refunds; voids, reversals, completions and inquiries count in none
    /// (a completion repeats its pre-authorization, and a void would have to be matched
    /// to the sale it cancels, which the engine does not keep).
    pub fn flow(&self) -> Option<Flow> {
        match self.kind {
            TransactionKind::Purchase | TransactionKind::PreAuthorization => Some(Flow::Sale),
            TransactionKind::Refund => Some(Flow::Refund),
            _ => None,
        }
    }

    /// The issuer's answer to this event, to feed back with `Engine::record`.
    pub fn outcome(&self, response: ResponseCode, at_ms: u64) -> Outcome {
        Outcome { card: self.card, terminal: self.terminal, response, at_ms }
    }
}

/// The issuer's answer to an authorization, fed back after the fact.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Outcome {
    pub card: CardKey,
    pub terminal: TerminalId,
    pub response: ResponseCode,
    pub at_ms: u64,
}
