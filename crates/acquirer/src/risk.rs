//! The pluggable risk hook: one more check before a transaction goes to the network. A rule
//! returns `None` to let it through or a response code (`34` suspected fraud, `61` amount
//! limit, `65` count limit, `58` not permitted at this terminal) to decline it, and hears the
//! network's answer afterwards (wrong PINs across cards are card testing). The default is the
//! merchant's daily limit; [`crate::risk_engine::EngineRisk`] runs the `risk` crate's rules.

use crate::directory::{MerchantRecord, TerminalRecord};
use crate::engine::PosKind;

/// What a rule sees. Amounts in minor units of the acquirer's currency.
#[derive(Debug)]
pub struct RiskContext<'a> {
    pub terminal: &'a TerminalRecord,
    pub merchant: &'a MerchantRecord,
    pub kind: PosKind,
    pub amount_minor: u64,
    /// The merchant's approved debits (purchases, pre-authorizations, completions) today (UTC),
    /// not counting this one.
    pub merchant_today_minor: u64,
    /// How many of them.
    pub merchant_today_count: u64,
    /// The card (from 2 or the clear part of 35), when the request carries one.
    pub card: Option<&'a domain::Pan>,
    pub entry_mode: Option<domain::EntryMode>,
    pub now_ms: u64,
}

/// The network's answer to a transaction a rule let through.
#[derive(Debug)]
pub struct RiskAnswer<'a> {
    pub terminal_id: &'a str,
    pub card: Option<&'a domain::Pan>,
    pub response_code: &'a str,
    pub now_ms: u64,
}

pub trait RiskCheck: Send + Sync {
    /// `None` to pass, or the response code to decline with.
    fn check(&self, context: &RiskContext<'_>) -> Option<&'static str>;

    /// What the network answered a transaction `check` passed (nothing to do by default).
    fn answered(&self, _answer: &RiskAnswer<'_>) {}

    /// Time passes (the party's tick): a rule file may be read again.
    fn on_time(&self, _now_ms: u64) {}

    /// The key the journal keeps for the card, so the rules' windows can be rebuilt from it
    /// (none by default: nothing to rebuild).
    fn card_hash(&self, _card: &domain::Pan) -> Option<u64> {
        None
    }

    /// Whether [`RiskCheck::on_time`] needs the party's tick.
    fn wants_time(&self) -> bool {
        false
    }
}

/// The default rule: the merchant's daily limit (61 beyond it).
#[derive(Debug, Default, Clone, Copy)]
pub struct DailyLimit;

impl RiskCheck for DailyLimit {
    fn check(&self, context: &RiskContext<'_>) -> Option<&'static str> {
        let max = context.merchant.daily_max_minor?;
        let total = context.merchant_today_minor.saturating_add(context.amount_minor);
        (total > max).then_some(network::codes::AMOUNT_LIMIT)
    }
}
