//! What both hosts (the acquirer's `risk_engine.rs`, the issuer's `issuer/risk.rs`) need around
//! [`Live`] besides mapping their requests onto an [`Event`]: the decline codes as static text,
//! the card key derived from a keyed hash, how far the journal is replayed at start-up, and the
//! alerts they queue on the decision path and write to the case store on their tick.

use std::collections::VecDeque;
use std::sync::Mutex;

use domain::ResponseCode;

use crate::cases::{EntityKind, NewAlert, Party};
use crate::cases_store::Cases;
use crate::live::Block;
use crate::{Decision, Event, Verdict};

/// The codes a rule may decline with (the rule file's `decline`, 34 by total score).
pub const DECLINE_CODES: [&str; 8] = ["34", "61", "65", "57", "58", "62", "05", "59"];
/// How far back a party's journal is replayed at start-up: the longest window a rule may have.
pub const REPLAY_WINDOW_MS: u64 = 30 * 86_400_000;
/// Journal rows replayed at start-up at most (the oldest first; stated, not silent).
pub const REPLAY_ROWS_MAX: u64 = 5_000_000;
/// Alerts waiting to be written to the case store, at most (more are refused: the decisions
/// themselves are in the party's journal with their response codes).
pub const ALERTS_PENDING_MAX: usize = 10_000;

/// A decline code as static text, `fallback` for one outside [`DECLINE_CODES`].
pub fn static_code(code: ResponseCode, fallback: &'static str) -> &'static str {
    DECLINE_CODES.into_iter().find(|c| *c == code.as_str()).unwrap_or(fallback)
}

/// The engine's card key from a keyed hash a party's HSM computed (its first 16 bytes).
pub fn key_from_digest(digest: &[u8]) -> [u8; 16] {
    let mut key = [0u8; 16];
    for (slot, byte) in key.iter_mut().zip(digest) {
        *slot = *byte;
    }
    key
}

/// The alert of a decision that fired a rule and did not approve; `None` otherwise.
pub fn decision_alert(
    party: Party,
    event: &Event,
    decision: &Decision,
    pan_masked: Option<String>,
) -> Option<NewAlert> {
    if decision.verdict == Verdict::Approve || decision.fired().is_empty() {
        return None;
    }
    let (verdict, response_code, fired_json, score) = NewAlert::decision_fields(decision);
    Some(NewAlert {
        created_ms: event.at_ms,
        party,
        entity_kind: EntityKind::Card,
        entity: NewAlert::card_entity(&event.card),
        pan_masked,
        reference: format!("terminal {}", event.terminal),
        verdict,
        response_code,
        fired_json,
        score,
    })
}

/// The alert of a card-testing block.
pub fn block_alert(party: Party, block: &Block) -> NewAlert {
    NewAlert {
        created_ms: block.at_ms,
        party,
        entity_kind: EntityKind::Terminal,
        entity: block.terminal.to_string(),
        pan_masked: None,
        reference: format!("terminal {} blocked", block.terminal),
        verdict: "decline".to_owned(),
        response_code: Some(ResponseCode::NOT_PERMITTED_TERMINAL.as_str().to_owned()),
        fired_json: NewAlert::block_fired_json(&block.rules),
        score: 0,
    }
}

/// Alerts decided on the decision path, written to the case store later (the party's tick):
/// the decision's own transaction holds the database while the rules run.
pub struct AlertQueue {
    cases: Cases,
    pending: Mutex<VecDeque<NewAlert>>,
}

impl AlertQueue {
    pub fn new(cases: Cases) -> AlertQueue {
        AlertQueue { cases, pending: Mutex::new(VecDeque::new()) }
    }

    /// Queue `alert`; `Err` (with it back) when [`ALERTS_PENDING_MAX`] are waiting already.
    pub fn push(&self, alert: NewAlert) -> Result<(), Box<NewAlert>> {
        let mut pending = self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if pending.len() >= ALERTS_PENDING_MAX {
            return Err(Box::new(alert));
        }
        pending.push_back(alert);
        Ok(())
    }

    /// Write the waiting alerts: how many were written, and why each other one was not.
    pub fn flush(&self) -> (usize, Vec<String>) {
        let alerts: Vec<NewAlert> =
            self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).drain(..).collect();
        let mut written = 0;
        let mut errors = Vec::new();
        for alert in alerts {
            match self.cases.record_alert(&alert) {
                Ok(_) => written += 1,
                Err(error) => errors.push(format!("alert {}: {error}", alert.reference)),
            }
        }
        (written, errors)
    }
}
