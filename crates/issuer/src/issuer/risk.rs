//! The risk engine's card view at the issuer (`[risk] rules`, the `risk` crate's [`Live`]):
//! after the card's own limits (check 9) and before its funds are held (check 10), the card,
//! its terminal and merchant as the request names them (41, 42, 18) go through the rules; a
//! rule's decline answers the request. A wrong PIN is fed back, so wrong PINs across cards at
//! one terminal (card testing) block that terminal here too. No I/O on the decision path: the
//! rule file is looked at on the party's tick.

use std::path::Path;

use ::risk::live::{Live, Recorded};
use ::risk::{Event, StoreLimits, Verdict};
use domain::{Money, Pan, ResponseCode};

use super::*;
use crate::request::Parsed;

/// The codes a rule may decline with (as the issuer's static codes).
const RISK_DECLINE_CODES: [&str; 8] = ["34", "61", "65", "57", "58", "62", "05", "59"];

/// The engine an issuer starts with: its rule file, cards hashed under a key derived in the HSM
/// from the issuer's DEK (stable across restarts, never configured in the clear).
pub(crate) fn start(path: &Path, hsm: &dyn SecurityModule, dek: &WrappedKey) -> Result<Live> {
    let digest = hsm.keyed_hash(dek, b"cardnet issuer risk card key v1")?;
    let mut key = [0u8; 16];
    for (slot, byte) in key.iter_mut().zip(digest) {
        *slot = byte;
    }
    Live::from_file(path, key, StoreLimits::default()).map_err(|e| IssuerError::config(format!("risk.rules: {e}")))
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

    /// Check 9a: the rules' answer, when they decline.
    pub(super) fn risk_decline(&self, parsed: &Parsed, now_ms: u64) -> Option<&'static str> {
        let live = self.risk.as_ref()?;
        let event = self.risk_event(live, parsed, now_ms)?;
        match live.evaluate(&event, now_ms).verdict {
            Verdict::Decline(code) => {
                Some(RISK_DECLINE_CODES.into_iter().find(|c| *c == code.as_str()).unwrap_or(codes::DO_NOT_HONOUR))
            }
            Verdict::Alert | Verdict::Approve => None,
        }
    }

    /// A wrong PIN at check 7, for the card-testing rules.
    pub(super) fn risk_wrong_pin(&self, parsed: &Parsed, now_ms: u64) {
        let Some(live) = self.risk.as_ref() else { return };
        let (Some(terminal), Ok(pan), Ok(response)) =
            (parsed.terminal, Pan::new(&parsed.pan), ResponseCode::new(codes::INCORRECT_PIN))
        else {
            return;
        };
        let outcome = ::risk::Outcome { card: live.card(&pan), terminal, response, at_ms: now_ms };
        match live.record(&outcome) {
            Recorded::Blocked(block) => {
                tracing::warn!(terminal = %block.terminal, rules = %block.rules.join(","), "issuer risk: card testing: terminal blocked");
            }
            Recorded::BlockNotKept(terminal) => {
                tracing::error!(%terminal, "issuer risk: too many blocked terminals; this block is not kept");
            }
            Recorded::Nothing => {}
        }
    }

    /// The party's tick: the rule file read again if it changed.
    pub(crate) fn risk_tick(&self, now_ms: u64) {
        let Some(live) = self.risk.as_ref() else { return };
        match live.reload_if_changed(now_ms) {
            Ok(true) => tracing::info!("issuer risk: rules reloaded"),
            Ok(false) => {}
            Err(error) => {
                tracing::error!(%error, "issuer risk: the changed rule file is refused; the running rules stay")
            }
        }
    }

    /// The engine, for operators and tests.
    pub fn risk_engine(&self) -> Option<&Live> {
        self.risk.as_ref()
    }
}
