//! Helpers shared by the integration tests.
#![allow(dead_code)]

use domain::{Currency, EntryMode, MerchantId, Money, Pan, TerminalId, TransactionKind};
use risk::{Decision, Engine, Event, KeyHasher, RuleSet, StoreLimits};

/// 2025-12-05 00:00:00 UTC: a multiple of every bucket width the tests use.
pub const T0_MS: u64 = 1_764_892_800_000;
pub const MINUTE_MS: u64 = 60_000;
pub const HOUR_MS: u64 = 3_600_000;
pub const DAY_MS: u64 = 86_400_000;

pub fn hasher() -> KeyHasher {
    KeyHasher::new(*b"risk-test-key-16")
}

pub fn limits() -> StoreLimits {
    StoreLimits { cards: 256, terminals: 64, merchants: 64, cards_at_merchants: 256 }
}

/// A rule file with the usual header and `rules` appended.
pub fn file(rules: &str) -> String {
    format!("currency = \"CNY\"\ndecline_score = 100\nalert_score = 50\n\n{rules}")
}

pub fn rules(rules: &str) -> RuleSet {
    match risk::parse("test.toml", &file(rules), &hasher()) {
        Ok(set) => set,
        Err(e) => panic!("{e}"),
    }
}

pub fn engine(text: &str) -> Engine {
    Engine::new(rules(text), hasher(), limits())
}

pub fn pan(n: u64) -> Pan {
    Pan::new(&format!("62{n:014}")).unwrap()
}

/// A purchase of `amount` fen by card `card` at merchant `merchant` (terminal `T` +
/// merchant), at `at_ms`.
pub fn sale(card: u64, merchant: u32, amount: u64, at_ms: u64) -> Event {
    Event {
        card: hasher().card(&pan(card)),
        terminal: TerminalId::new(&format!("T{merchant}")).unwrap(),
        merchant: MerchantId::new(&format!("M{merchant}")).unwrap(),
        mcc: 5411,
        amount: Money::new(amount, Currency::CNY),
        kind: TransactionKind::Purchase,
        entry_mode: EntryMode::Chip,
        response: None,
        merchant_onboarded_ms: None,
        merchant_currency: None,
        merchant_country: None,
        card_country: None,
        at_ms,
    }
}

pub fn refund(card: u64, merchant: u32, amount: u64, at_ms: u64) -> Event {
    Event { kind: TransactionKind::Refund, ..sale(card, merchant, amount, at_ms) }
}

/// Evaluate at the event's own time.
pub fn eval(engine: &mut Engine, tx: &Event) -> Decision {
    engine.evaluate(tx, tx.at_ms)
}

/// The fired rule `id`'s (observed, bound), if it fired.
pub fn fired(decision: &Decision, id: &str) -> Option<(u64, u64)> {
    decision.fired().iter().find(|f| f.rule.as_str() == id).map(|f| (f.observed, f.bound))
}
