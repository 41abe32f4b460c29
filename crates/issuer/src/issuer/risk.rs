//! The risk engine's card view at the issuer (`[risk] rules`, the `risk` crate's [`Live`]):
//! after the card's own limits (check 9) and before its funds are held (check 10), the card,
//! its terminal and merchant as the request names them (41, 42, 18) go through the rules; a
//! rule's decline answers the request. A wrong PIN is fed back, so wrong PINs across cards at
//! one terminal (card testing) block that terminal here too. No I/O on the decision path: the
//! rule file is looked at on the party's tick.

use std::path::Path;

use ::risk::cases::Party;
use ::risk::cases_store::Cases;
use ::risk::live::{Live, Recorded};
use ::risk::party::{AlertQueue, DECLINE_CODES, REPLAY_ROWS_MAX, REPLAY_WINDOW_MS};
use ::risk::{Event, StoreLimits, Verdict};
use domain::{Money, Pan, ResponseCode};

use super::*;
use crate::request::Parsed;

/// Answers given after the rules let a request through: approved, or short of funds (check 10).
const REACHED_CODES: [&str; 2] = ["00", "51"];

/// The engine and where its alerts go.
pub struct IssuerRisk {
    pub(crate) live: Live,
    alerts: AlertQueue,
}

impl IssuerRisk {
    fn queue(&self, alert: ::risk::cases::NewAlert) {
        if let Err(alert) = self.alerts.push(alert) {
            tracing::error!(reference = %alert.reference, "issuer risk: too many alerts waiting; this one is only logged");
        }
    }

    /// Write the waiting alerts to the case store; how many were written.
    pub fn flush_alerts(&self) -> usize {
        let (written, errors) = self.alerts.flush();
        for error in errors {
            tracing::error!(%error, "issuer risk: an alert could not be stored");
        }
        written
    }
}

/// The engine an issuer starts with: its rule file, cards hashed under a key derived in the HSM
/// from the issuer's DEK (stable across restarts, never configured in the clear).
/// Its alerts go to the case store in the issuer's own database (`cardnet risk alerts`).
pub(crate) fn start(
    path: &Path,
    hsm: &dyn SecurityModule,
    dek: &WrappedKey,
    db: &sqlstore::Database,
) -> Result<IssuerRisk> {
    let key = ::risk::party::key_from_digest(&hsm.keyed_hash(dek, b"cardnet issuer risk card key v1")?);
    let live = Live::from_file(path, key, StoreLimits::default())
        .map_err(|e| IssuerError::config(format!("risk.rules: {e}")))?;
    let cases = Cases::new(db.clone()).map_err(|e| IssuerError::Internal(format!("risk cases: {e}")))?;
    Ok(IssuerRisk { live, alerts: AlertQueue::new(cases) })
}

impl Issuer {
    /// The request as the rules see it; `None` when it names no terminal or merchant, or the
    /// engine is off.
    fn risk_event(&self, live: &Live, parsed: &Parsed, now_ms: u64) -> Option<Event> {
        let pan = Pan::new(&parsed.pan).ok()?;
        Some(Event {
            card: live.card(&pan),
            terminal: parsed.terminal?,
            merchant: parsed.merchant?,
            mcc: parsed.mcc,
            amount: Money::new(parsed.amount, live.currency()),
            kind: parsed.kind,
            entry_mode: parsed.entry_mode.unwrap_or(domain::EntryMode::Keyed),
            response: None,
            merchant_onboarded_ms: None,
            merchant_currency: None,
            merchant_country: None,
            card_country: None,
            at_ms: now_ms,
        })
    }

    /// The card's keyed hash the journal keeps for the engine: of the requests that hold funds
    /// and name where they were made (the replay reads those), when the engine runs.
    pub(crate) fn risk_card(&self, parsed: &Parsed) -> Option<u64> {
        let risk = self.risk.as_ref()?;
        if !parsed.kind.holds_funds() || parsed.terminal.is_none() || parsed.merchant.is_none() {
            return None;
        }
        let pan = Pan::new(&parsed.pan).ok()?;
        Some(risk.live.card(&pan).hash)
    }

    /// Rebuild the engine's windows from the journal (at start-up): the authorizations that
    /// reached it as events, wrong PINs as the answers they were; how many rows were taken.
    pub(crate) fn risk_replay(&self) -> Result<usize> {
        let Some(risk) = self.risk.as_ref() else { return Ok(0) };
        let rows = crate::store::risk_rows(self.cards.db(), REPLAY_WINDOW_MS, REPLAY_ROWS_MAX)?;
        let currency = risk.live.currency();
        let mut events = Vec::new();
        for row in &rows {
            let (Ok(terminal), Ok(merchant), Ok(response)) = (
                domain::TerminalId::new(&row.terminal_id),
                domain::MerchantId::new(&row.merchant_id),
                ResponseCode::new(&row.response_code),
            ) else {
                continue;
            };
            let card = ::risk::CardKey::from_parts(row.risk_card, b"");
            if [codes::INCORRECT_PIN, codes::PIN_TRIES_EXCEEDED].contains(&row.response_code.as_str()) {
                let response = ResponseCode::new(codes::INCORRECT_PIN).unwrap_or(response);
                risk.live.record(&::risk::Outcome { card, terminal, response, at_ms: row.created_ms });
                continue;
            }
            // Only what went through the rules (approved, short of funds after them, or declined
            // by them; the cards' own 61 and 65 look the same and are taken too).
            if !REACHED_CODES.contains(&row.response_code.as_str())
                && !DECLINE_CODES.contains(&row.response_code.as_str())
            {
                continue;
            }
            let Some(kind) = domain::TransactionKind::from_name(&row.kind) else { continue };
            events.push(Event {
                card,
                terminal,
                merchant,
                mcc: 0,
                amount: Money::new(row.amount, currency),
                kind,
                entry_mode: domain::EntryMode::Keyed,
                response: Some(response),
                merchant_onboarded_ms: None,
                merchant_currency: None,
                merchant_country: None,
                card_country: None,
                at_ms: row.created_ms,
            });
        }
        risk.live.replay(events.into_iter());
        tracing::info!(rows = rows.len(), "issuer risk: windows rebuilt from the journal");
        Ok(rows.len())
    }

    /// Check 9a: the rules' answer, when they decline.
    pub(super) fn risk_decline(&self, parsed: &Parsed, now_ms: u64) -> Option<&'static str> {
        let risk = self.risk.as_ref()?;
        let event = self.risk_event(&risk.live, parsed, now_ms)?;
        let decision = risk.live.evaluate(&event, now_ms);
        let pan_masked = Pan::new(&parsed.pan).ok().map(|pan| pan.masked().to_string());
        if let Some(alert) = ::risk::party::decision_alert(Party::Issuer, &event, &decision, pan_masked) {
            risk.queue(alert);
        }
        match decision.verdict {
            Verdict::Decline(code) => Some(::risk::party::static_code(code, codes::DO_NOT_HONOUR)),
            Verdict::Alert | Verdict::Approve => None,
        }
    }

    /// A wrong PIN at check 7, for the card-testing rules.
    pub(super) fn risk_wrong_pin(&self, parsed: &Parsed, now_ms: u64) {
        let Some(risk) = self.risk.as_ref() else { return };
        let live = &risk.live;
        let (Some(terminal), Ok(pan), Ok(response)) =
            (parsed.terminal, Pan::new(&parsed.pan), ResponseCode::new(codes::INCORRECT_PIN))
        else {
            return;
        };
        let outcome = ::risk::Outcome { card: live.card(&pan), terminal, response, at_ms: now_ms };
        match live.record(&outcome) {
            Recorded::Blocked(block) => {
                tracing::warn!(terminal = %block.terminal, rules = %block.rules.join(","), "issuer risk: card testing: terminal blocked");
                risk.queue(::risk::party::block_alert(Party::Issuer, &block));
            }
            Recorded::BlockNotKept(terminal) => {
                tracing::error!(%terminal, "issuer risk: too many blocked terminals; this block is not kept");
            }
            Recorded::Nothing => {}
        }
    }

    /// The party's tick: the rule file read again if it changed.
    pub(crate) fn risk_tick(&self, now_ms: u64) {
        let Some(risk) = self.risk.as_ref() else { return };
        match risk.live.reload_if_changed(now_ms) {
            Ok(true) => tracing::info!("issuer risk: rules reloaded"),
            Ok(false) => {}
            Err(error) => {
                tracing::error!(%error, "issuer risk: the changed rule file is refused; the running rules stay")
            }
        }
        risk.flush_alerts();
    }

    /// The engine, for operators and tests.
    pub fn risk_engine(&self) -> Option<&Live> {
        self.risk.as_ref().map(|risk| &risk.live)
    }

    /// Write the risk alerts waiting for the case store now (the tick does it every second).
    pub fn flush_risk_alerts(&self) -> usize {
        self.risk.as_ref().map_or(0, IssuerRisk::flush_alerts)
    }
}
