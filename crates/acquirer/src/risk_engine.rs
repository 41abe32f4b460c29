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

use std::path::Path;

use ::risk::cases::Party;
use ::risk::cases_store::Cases;
use ::risk::live::{Live, Recorded};
use ::risk::party::{AlertQueue, REPLAY_ROWS_MAX, REPLAY_WINDOW_MS};
use ::risk::{CardKey, Event, StoreLimits, Verdict};
use domain::{MerchantId, Money, ResponseCode, TerminalId, TransactionKind};

use crate::risk::{DailyLimit, RiskAnswer, RiskCheck, RiskContext};

pub use ::risk::live::{DECISIONS_KEPT_MAX, RULES_CHECK_INTERVAL_MS};

/// The risk engine behind the acquirer's hook.
pub struct EngineRisk {
    live: Live,
    /// Where alerts go for analysts (`cardnet risk alerts`), when the host has a database.
    alerts: Option<AlertQueue>,
}

impl EngineRisk {
    pub fn new(live: Live) -> EngineRisk {
        EngineRisk { live, alerts: None }
    }

    /// Alerts are written to `cases` (the acquirer's own database).
    pub fn with_cases(mut self, cases: Cases) -> EngineRisk {
        self.alerts = Some(AlertQueue::new(cases));
        self
    }

    fn queue_alert(&self, alert: ::risk::cases::NewAlert) {
        let Some(alerts) = &self.alerts else { return };
        if let Err(alert) = alerts.push(alert) {
            tracing::error!(reference = %alert.reference, "risk: too many alerts waiting; this one is only logged");
        }
    }

    /// Write the waiting alerts to the case store; how many were written.
    pub fn flush_alerts(&self) -> usize {
        let Some(alerts) = &self.alerts else { return 0 };
        let (written, errors) = alerts.flush();
        for error in errors {
            tracing::error!(%error, "risk: an alert could not be stored");
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
            merchant_onboarded_ms: context.merchant.onboarded_ms,
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
    let rows = db.transaction(|tx| {
        crate::journal::risk_rows(tx, REPLAY_WINDOW_MS, &::risk::party::DECLINE_CODES, REPLAY_ROWS_MAX)
    })?;
    let replayed = engine.replay(&rows);
    tracing::info!(replayed, "risk: windows rebuilt from the journal");
    Ok(engine)
}

/// The key the engine hashes card numbers under: derived inside the HSM from the acquirer's
/// DEK, so it is stable across restarts and never configured in the clear. It lives in this
/// process's memory as the engine's hashing state does (a card's key, not a card number).
pub fn card_key(hsm: &dyn hsm::SecurityModule, dek: &hsm::WrappedKey) -> crate::error::Result<[u8; 16]> {
    Ok(::risk::party::key_from_digest(&hsm.keyed_hash(dek, b"cardnet acquirer risk card key v1")?))
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

impl RiskCheck for EngineRisk {
    fn check(&self, context: &RiskContext<'_>) -> Option<&'static str> {
        if let Some(code) = DailyLimit.check(context) {
            return Some(code);
        }
        let event = self.event(context)?;
        let decision = self.live.evaluate(&event, context.now_ms);
        let pan_masked = context.card.map(|pan| pan.masked().to_string());
        if let Some(alert) = ::risk::party::decision_alert(Party::Acquirer, &event, &decision, pan_masked) {
            self.queue_alert(alert);
        }
        match decision.verdict {
            Verdict::Decline(code) => Some(::risk::party::static_code(code, "05")),
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
                self.queue_alert(::risk::party::block_alert(Party::Acquirer, &block));
            }
            Recorded::BlockNotKept(terminal) => {
                tracing::error!(%terminal, "risk: too many blocked terminals; this block is not kept");
            }
            Recorded::Nothing => {}
        }
    }
}
