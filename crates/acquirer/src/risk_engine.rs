//! The `risk` crate's engine ([`Live`]) as the acquirer's [`RiskCheck`]: the merchant's and
//! terminal's view of a transaction (card by keyed hash, terminal, merchant, card at merchant,
//! MCC, entry mode), decided inside the authorization against in-memory windows — no I/O on the
//! decision path.
//!
//! * The merchant's daily limit ([`DailyLimit`]) is checked first, as without the engine.
//! * A terminal a card-testing rule blocked is refused 58 from then on, until the process
//!   restarts or an operator unblocks it.
//! * The network's answers are fed back ([`RiskCheck::answered`]): a wrong PIN (55) counts
//!   toward card testing at its terminal.
//! * At start-up ([`start`]) the windows are rebuilt from the journal, whose rows keep the
//!   card's keyed hash (`risk_card`), never its number.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;

use ::risk::cases::{EntityKind, NewAlert, Party};
use ::risk::cases_store::Cases;
use ::risk::live::{Live, Recorded};
use ::risk::{CardKey, Event, StoreLimits, Verdict};
use domain::{MerchantId, Money, ResponseCode, TerminalId, TransactionKind};

use crate::risk::{DailyLimit, RiskAnswer, RiskCheck, RiskContext};

pub use ::risk::live::{DECISIONS_KEPT_MAX, RULES_CHECK_INTERVAL_MS};

/// How far back the journal is replayed at start-up: the longest window a rule may have.
pub const REPLAY_WINDOW_MS: u64 = 30 * 86_400_000;
/// Journal rows replayed at start-up at most (a journal with more in 30 days than this
/// rebuilds the oldest first and stops — stated, not silent).
pub const REPLAY_ROWS_MAX: u64 = 5_000_000;
/// The codes the engine declines with: rows so declined reached it.
pub const RISK_DECLINE_CODES: [&str; 8] = ["34", "61", "65", "57", "58", "62", "05", "59"];

/// Alerts waiting to be written to the case store, at most (more are logged and dropped: the
/// decisions themselves are in the journal with their response codes).
pub const ALERTS_PENDING_MAX: usize = 10_000;

/// The risk engine behind the acquirer's hook.
pub struct EngineRisk {
    live: Live,
    /// Where alerts go for analysts (`cardnet risk alerts`), when the host has a database.
    cases: Option<Cases>,
    /// Alerts decided but not yet written: written on the party's tick, off the decision path
    /// (the decision's own transaction holds the database while the rules run).
    pending: Mutex<VecDeque<NewAlert>>,
}

impl EngineRisk {
    pub fn new(live: Live) -> EngineRisk {
        EngineRisk { live, cases: None, pending: Mutex::new(VecDeque::new()) }
    }

    /// Alerts are written to `cases` (the acquirer's own database).
    pub fn with_cases(mut self, cases: Cases) -> EngineRisk {
        self.cases = Some(cases);
        self
    }

    fn queue_alert(&self, alert: NewAlert) {
        let mut pending = self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if pending.len() >= ALERTS_PENDING_MAX {
            tracing::error!(reference = %alert.reference, "risk: too many alerts waiting; this one is only logged");
            return;
        }
        pending.push_back(alert);
    }

    /// Write the waiting alerts to the case store; how many were written.
    pub fn flush_alerts(&self) -> usize {
        let Some(cases) = &self.cases else { return 0 };
        let alerts: Vec<NewAlert> =
            self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).drain(..).collect();
        let mut written = 0;
        for alert in alerts {
            match cases.record_alert(&alert) {
                Ok(_) => written += 1,
                Err(error) => {
                    tracing::error!(%error, reference = %alert.reference, "risk: an alert could not be stored")
                }
            }
        }
        written
    }

    /// The engine over the rule file text `text` (named `file` in its errors).
    pub fn from_toml(
        file: &str,
        text: &str,
        key: [u8; 16],
        limits: StoreLimits,
    ) -> Result<EngineRisk, ::risk::RuleFileError> {
        Ok(EngineRisk::new(Live::from_toml(file, text, key, limits)?))
    }

    /// The engine itself: decisions kept, blocks raised, reload, unblock.
    pub fn live(&self) -> &Live {
        &self.live
    }

    fn event(&self, context: &RiskContext<'_>) -> Option<Event> {
        let pan = context.card?;
        let kind = TransactionKind::from_name(context.kind.network_kind().name())?;
        Some(Event {
            card: self.live.card(pan),
            terminal: TerminalId::new(&context.terminal.terminal_id).ok()?,
            merchant: MerchantId::new(&context.merchant.merchant_id).ok()?,
            mcc: context.merchant.mcc.parse().unwrap_or(0),
            amount: Money::new(context.amount_minor, self.live.currency()),
            kind,
            entry_mode: context.entry_mode.unwrap_or(domain::EntryMode::Keyed),
            response: None,
            merchant_onboarded_ms: None,
            merchant_currency: Some(self.live.currency()),
            merchant_country: None,
            card_country: None,
            at_ms: context.now_ms,
        })
    }

    /// Rebuild the windows from journaled transactions, oldest first; how many were taken.
    pub fn replay(&self, rows: &[crate::journal::RiskRow]) -> usize {
        let currency = self.live.currency();
        let events: Vec<Event> = rows.iter().filter_map(|row| replay_event(row, currency)).collect();
        let replayed = events.len();
        self.live.replay(events.into_iter());
        replayed
    }
}

/// The engine a host starts with: the rule file, the card key from the HSM, and the windows
/// rebuilt from the journal's last [`REPLAY_WINDOW_MS`] (before its newest row: no clock).
pub(crate) fn start(
    path: &Path,
    hsm: &dyn hsm::SecurityModule,
    dek: &hsm::WrappedKey,
    db: &sqlstore::Database,
) -> crate::error::Result<EngineRisk> {
    let config_error = |e: String| crate::AcquirerError::Config(crate::config::ConfigError(format!("risk.rules: {e}")));
    let live = Live::from_file(path, card_key(hsm, dek)?, StoreLimits::default()).map_err(config_error)?;
    let cases = Cases::new(db.clone()).map_err(|e| crate::AcquirerError::Internal(format!("risk cases: {e}")))?;
    let engine = EngineRisk::new(live).with_cases(cases);
    let rows =
        db.transaction(|tx| crate::journal::risk_rows(tx, REPLAY_WINDOW_MS, &RISK_DECLINE_CODES, REPLAY_ROWS_MAX))?;
    let replayed = engine.replay(&rows);
    tracing::info!(replayed, "risk: windows rebuilt from the journal");
    Ok(engine)
}

/// The key the engine hashes card numbers under: derived inside the HSM from the acquirer's
/// DEK, so it is stable across restarts and never configured in the clear. It lives in this
/// process's memory as the engine's hashing state does (a card's key, not a card number).
pub fn card_key(hsm: &dyn hsm::SecurityModule, dek: &hsm::WrappedKey) -> crate::error::Result<[u8; 16]> {
    let digest = hsm.keyed_hash(dek, b"cardnet acquirer risk card key v1")?;
    let mut key = [0u8; 16];
    for (slot, byte) in key.iter_mut().zip(digest) {
        *slot = byte;
    }
    Ok(key)
}

/// A journal row as the event the engine saw when it was live.
fn replay_event(row: &crate::journal::RiskRow, currency: domain::Currency) -> Option<Event> {
    let kind = crate::PosKind::from_name(&row.kind)?;
    Some(Event {
        card: CardKey::from_parts(row.risk_card, row.pan_masked.as_bytes()),
        terminal: TerminalId::new(&row.terminal_id).ok()?,
        merchant: MerchantId::new(&row.merchant_id).ok()?,
        mcc: 0,
        amount: Money::new(row.amount_minor, currency),
        kind: TransactionKind::from_name(kind.network_kind().name())?,
        entry_mode: domain::EntryMode::Keyed,
        response: row.response_code.as_deref().and_then(|c| ResponseCode::new(c).ok()),
        merchant_onboarded_ms: None,
        merchant_currency: Some(currency),
        merchant_country: None,
        card_country: None,
        at_ms: row.received_ms,
    })
}

/// 58: what a blocked terminal is answered.
const NOT_PERMITTED_TERMINAL: &str = ResponseCode::NOT_PERMITTED_TERMINAL.as_str();

/// The response codes a rule may decline with, as the acquirer's static codes.
fn static_code(code: ResponseCode) -> &'static str {
    RISK_DECLINE_CODES.into_iter().find(|c| *c == code.as_str()).unwrap_or("05")
}

impl RiskCheck for EngineRisk {
    fn check(&self, context: &RiskContext<'_>) -> Option<&'static str> {
        if let Some(code) = DailyLimit.check(context) {
            return Some(code);
        }
        let event = self.event(context)?;
        let decision = self.live.evaluate(&event, context.now_ms);
        if decision.verdict != Verdict::Approve && !decision.fired().is_empty() {
            let (verdict, response_code, fired_json, score) = NewAlert::decision_fields(&decision);
            self.queue_alert(NewAlert {
                created_ms: context.now_ms,
                party: Party::Acquirer,
                entity_kind: EntityKind::Card,
                entity: NewAlert::card_entity(&event.card),
                pan_masked: context.card.map(|pan| pan.masked().to_string()),
                reference: format!("terminal {}", context.terminal.terminal_id),
                verdict,
                response_code,
                fired_json,
                score,
            });
        }
        match decision.verdict {
            Verdict::Decline(code) => Some(static_code(code)),
            Verdict::Alert | Verdict::Approve => None,
        }
    }

    fn card_hash(&self, card: &domain::Pan) -> Option<u64> {
        Some(self.live.card(card).hash)
    }

    fn wants_time(&self) -> bool {
        self.live.watches_file()
    }

    fn on_time(&self, now_ms: u64) {
        match self.live.reload_if_changed(now_ms) {
            Ok(true) => tracing::info!("risk: rules reloaded"),
            Ok(false) => {}
            Err(error) => tracing::error!(%error, "risk: the changed rule file is refused; the running rules stay"),
        }
        self.flush_alerts();
    }

    fn answered(&self, answer: &RiskAnswer<'_>) {
        let (Some(pan), Ok(terminal), Ok(response)) =
            (answer.card, TerminalId::new(answer.terminal_id), ResponseCode::new(answer.response_code))
        else {
            return;
        };
        let outcome = ::risk::Outcome { card: self.live.card(pan), terminal, response, at_ms: answer.now_ms };
        match self.live.record(&outcome) {
            Recorded::Blocked(block) => {
                tracing::warn!(terminal = %block.terminal, rules = %block.rules.join(","), "risk: card testing: terminal blocked");
                self.queue_alert(NewAlert {
                    created_ms: block.at_ms,
                    party: Party::Acquirer,
                    entity_kind: EntityKind::Terminal,
                    entity: block.terminal.to_string(),
                    pan_masked: None,
                    reference: format!("terminal {} blocked", block.terminal),
                    verdict: "decline".to_owned(),
                    response_code: Some(NOT_PERMITTED_TERMINAL.to_owned()),
                    fired_json: NewAlert::block_fired_json(&block.rules),
                    score: 0,
                });
            }
            Recorded::BlockNotKept(terminal) => {
                tracing::error!(%terminal, "risk: too many blocked terminals; this block is not kept");
            }
            Recorded::Nothing => {}
        }
    }
}
