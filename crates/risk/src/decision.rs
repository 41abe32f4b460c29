//! What the engine answers, and what is stored for each transaction: the verdict and every
//! fired rule with the value it saw and the bound it compared it with, so a decision can be
//! explained later without re-running anything. Held inline (no allocation) so evaluation
//! allocates nothing.

use domain::{ResponseCode, TerminalId};
use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::rules::Label;

/// Fired rules kept in a decision; more still count in its score and in `fired_dropped`.
pub const FIRED_MAX: usize = 16;

/// The engine's answer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verdict {
    Approve,
    /// Approve, but put the transaction in front of a person.
    Alert,
    Decline(ResponseCode),
}

/// A rule that fired, with what it saw.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Fired {
    pub rule: Label,
    /// The value measured, the current transaction included (units per rule kind: a count,
    /// minor units, a percentage, hundredths of a z-score, or 1 for a yes/no check).
    pub observed: u64,
    /// The threshold (or the band's lower bound) it reached.
    pub bound: u64,
    pub score: i32,
    pub reason: Label,
    pub decline: Option<ResponseCode>,
}

/// A verdict and its reasons.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Decision {
    pub verdict: Verdict,
    /// The fired rules' scores, added up.
    pub score: i32,
    fired: [Fired; FIRED_MAX],
    fired_len: u8,
    /// Rules that fired beyond [`FIRED_MAX`] (counted in `score`, not listed).
    pub fired_dropped: u16,
    /// A card-testing rule fired: the terminal should be blocked.
    pub block_terminal: Option<TerminalId>,
    /// The first forced decline seen, even if its rule was not listed.
    forced: Option<ResponseCode>,
}

impl Default for Decision {
    fn default() -> Decision {
        Decision {
            verdict: Verdict::Approve,
            score: 0,
            fired: [Fired::default(); FIRED_MAX],
            fired_len: 0,
            fired_dropped: 0,
            block_terminal: None,
            forced: None,
        }
    }
}

impl Decision {
    /// A decline that no rule evaluated (a terminal already blocked, say).
    pub fn declined(code: ResponseCode) -> Decision {
        Decision { verdict: Verdict::Decline(code), ..Decision::default() }
    }

    pub fn fired(&self) -> &[Fired] {
        &self.fired[..usize::from(self.fired_len)]
    }

    pub(crate) fn push(&mut self, fired: Fired) {
        self.score = self.score.saturating_add(fired.score);
        self.forced = self.forced.or(fired.decline);
        if usize::from(self.fired_len) < FIRED_MAX {
            self.fired[usize::from(self.fired_len)] = fired;
            self.fired_len += 1;
        } else {
            self.fired_dropped = self.fired_dropped.saturating_add(1);
        }
    }

    /// Settle the verdict: a rule's own decline first (the first in file order), then the
    /// total score against the set's thresholds (a score decline is 34, suspected fraud).
    pub(crate) fn finish(&mut self, decline_score: i32, alert_score: i32) {
        self.verdict = match self.forced {
            Some(code) => Verdict::Decline(code),
            None if self.score >= decline_score => Verdict::Decline(suspected_fraud()),
            None if self.score >= alert_score => Verdict::Alert,
            None => Verdict::Approve,
        };
    }

    pub fn is_declined(&self) -> bool {
        matches!(self.verdict, Verdict::Decline(_))
    }
}

/// ISO 8583 response 34, suspected fraud (not among `domain`'s constants: only the risk
/// engine sends it).
pub fn suspected_fraud() -> ResponseCode {
    ResponseCode::new("34").unwrap_or(ResponseCode::DO_NOT_HONOUR)
}

impl Serialize for Fired {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Fired", 6)?;
        s.serialize_field("rule", self.rule.as_str())?;
        s.serialize_field("observed", &self.observed)?;
        s.serialize_field("bound", &self.bound)?;
        s.serialize_field("score", &self.score)?;
        s.serialize_field("reason", self.reason.as_str())?;
        s.serialize_field("decline", &self.decline.map(|c| c.as_str().to_string()))?;
        s.end()
    }
}

impl Serialize for Decision {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let verdict = match self.verdict {
            Verdict::Approve => "approve".to_string(),
            Verdict::Alert => "alert".to_string(),
            Verdict::Decline(code) => format!("decline {}", code.as_str()),
        };
        let mut s = serializer.serialize_struct("Decision", 5)?;
        s.serialize_field("verdict", &verdict)?;
        s.serialize_field("score", &self.score)?;
        s.serialize_field("fired", self.fired())?;
        s.serialize_field("fired_dropped", &self.fired_dropped)?;
        s.serialize_field("block_terminal", &self.block_terminal.map(|t| t.as_str().to_string()))?;
        s.end()
    }
}
