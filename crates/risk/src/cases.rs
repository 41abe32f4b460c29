//! Cases: the alerts a person works. The engine's `Alert` verdicts (and declines worth a
//! look) become rows in the party's own database ([`crate::cases_store::Cases`]); an analyst
//! assigns, investigates and closes them as fraud or not fraud, and every step is appended
//! to the alert's audit trail.
//!
//! Every change of status is looked up in [`TRANSITIONS`], the one written table of what is
//! allowed; nothing else decides it, and the tests walk it row by row. Closed alerts are
//! final: a wrong close is corrected by a new alert, not by reopening (the audit trail of
//! what was decided stays as it was).
//!
//! No clear card number is stored: an alert names a card by its keyed hash and, for the
//! analyst, a masked PAN (first 6, last 4). Every text that goes in is checked for a run of
//! 13 or more digits — a card number pasted by mistake into a note is refused, not stored.

use std::fmt;

use serde::Serialize;

/// Longest name of a person (assignee, closer) or system that acts on an alert.
pub const WHO_LEN_MAX: usize = 64;
/// Longest note kept with an audit entry.
pub const NOTE_LEN_MAX: usize = 2_000;
/// Longest transaction reference (e.g. `rrn=632510000123 terminal=T0000001 trace=000123`).
pub const REFERENCE_LEN_MAX: usize = 200;
/// Longest fired-rules JSON text kept with an alert (16 rules at ~150 bytes fit).
pub const FIRED_JSON_LEN_MAX: usize = 8_192;
/// Shortest run of digits treated as a card number (the shortest PANs are 13 digits).
const PAN_DIGITS_MIN: usize = 13;

/// Where an alert stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Investigating,
    ClosedFraud,
    ClosedNotFraud,
}

/// Every status, in the order an alert usually passes through them.
pub const STATUSES: [Status; 4] = [Status::Open, Status::Investigating, Status::ClosedFraud, Status::ClosedNotFraud];

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Investigating => "investigating",
            Status::ClosedFraud => "closed_fraud",
            Status::ClosedNotFraud => "closed_not_fraud",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        STATUSES.into_iter().find(|s| s.name() == text)
    }

    pub fn is_closed(self) -> bool {
        matches!(self, Status::ClosedFraud | Status::ClosedNotFraud)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a person does to an alert.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Action {
    /// Take it (or hand it to someone else): it is being investigated.
    Assign,
    /// Add a note without changing anything else.
    Note,
    CloseFraud,
    CloseNotFraud,
}

pub const ACTIONS: [Action; 4] = [Action::Assign, Action::Note, Action::CloseFraud, Action::CloseNotFraud];

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Assign => "assign",
            Action::Note => "note",
            Action::CloseFraud => "close_fraud",
            Action::CloseNotFraud => "close_not_fraud",
        }
    }
}

/// The transition table: (from, action, to). What is not here is refused. Reassigning an
/// alert under investigation is allowed (people go on leave); a closed alert takes nothing,
/// not even a note, so what was decided when it closed is what its trail shows.
pub const TRANSITIONS: [(Status, Action, Status); 8] = [
    (Status::Open, Action::Assign, Status::Investigating),
    (Status::Open, Action::Note, Status::Open),
    (Status::Open, Action::CloseFraud, Status::ClosedFraud),
    (Status::Open, Action::CloseNotFraud, Status::ClosedNotFraud),
    (Status::Investigating, Action::Assign, Status::Investigating),
    (Status::Investigating, Action::Note, Status::Investigating),
    (Status::Investigating, Action::CloseFraud, Status::ClosedFraud),
    (Status::Investigating, Action::CloseNotFraud, Status::ClosedNotFraud),
];

/// The status `action` leads to from `from`, if the table allows it.
pub fn next_status(from: Status, action: Action) -> Option<Status> {
    TRANSITIONS.iter().find(|(f, a, _)| *f == from && *a == action).map(|(_, _, to)| *to)
}

/// Which party raised the alert.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Acquirer,
    Issuer,
}

impl Party {
    pub fn name(self) -> &'static str {
        match self {
            Party::Acquirer => "acquirer",
            Party::Issuer => "issuer",
        }
    }

    pub fn parse(text: &str) -> Option<Party> {
        [Party::Acquirer, Party::Issuer].into_iter().find(|p| p.name() == text)
    }
}

/// What the alert is about.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// `entity` is the card's keyed hash as `key-` and 16 hex digits ([`NewAlert::card_entity`]);
    /// the prefix keeps a hash that happens to be all decimal digits from passing for a PAN,
    /// and a PAN from passing for a hash.
    Card,
    Terminal,
    Merchant,
}

impl EntityKind {
    pub fn name(self) -> &'static str {
        match self {
            EntityKind::Card => "card",
            EntityKind::Terminal => "terminal",
            EntityKind::Merchant => "merchant",
        }
    }

    pub fn parse(text: &str) -> Option<EntityKind> {
        [EntityKind::Card, EntityKind::Terminal, EntityKind::Merchant].into_iter().find(|e| e.name() == text)
    }
}

/// An alert as the engine's caller records it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewAlert {
    pub created_ms: u64,
    pub party: Party,
    pub entity_kind: EntityKind,
    pub entity: String,
    /// The card as an analyst may see it: first 6 and last 4 digits, the rest `*`.
    pub pan_masked: Option<String>,
    /// The transaction: RRN, terminal id and trace number, as the party knows it.
    pub reference: String,
    /// `approve`, `alert` or `decline`.
    pub verdict: String,
    /// The response code sent, for a decline.
    pub response_code: Option<String>,
    /// The rules that fired, with the value each saw and its bound: JSON text (an array of
    /// [`crate::Fired`] as serialized).
    pub fired_json: String,
    pub score: i64,
}

impl NewAlert {
    /// The card entity of `key`, as stored.
    pub fn card_entity(key: &crate::CardKey) -> String {
        format!("{CARD_KEY_PREFIX}{:016x}", key.hash)
    }

    /// The fired rules (JSON) of a card-testing block: each rule with its action.
    pub fn block_fired_json(rules: &[String]) -> String {
        let fired: Vec<serde_json::Value> =
            rules.iter().map(|rule| serde_json::json!({ "rule": rule, "action": "block_terminal" })).collect();
        serde_json::Value::Array(fired).to_string()
    }

    /// The fields of an alert from the engine's decision: verdict, response code, fired
    /// rules (JSON) and score.
    pub fn decision_fields(decision: &crate::Decision) -> (String, Option<String>, String, i64) {
        let (verdict, code) = match decision.verdict {
            crate::Verdict::Approve => ("approve", None),
            crate::Verdict::Alert => ("alert", None),
            crate::Verdict::Decline(code) => ("decline", Some(code.as_str().to_string())),
        };
        let fired = serde_json::to_string(decision.fired()).unwrap_or_else(|_| "[]".to_string());
        (verdict.to_string(), code, fired, i64::from(decision.score))
    }

    /// Refuse what must not be stored: a clear card number anywhere, an unknown verdict,
    /// fields beyond their bounds, a card entity that is not a hash, fired rules that are
    /// not a JSON array.
    pub fn check(&self) -> Result<(), CaseError> {
        check_id("entity", &self.entity, WHO_LEN_MAX)?;
        let texts = [
            ("reference", self.reference.as_str(), REFERENCE_LEN_MAX),
            ("fired_json", self.fired_json.as_str(), FIRED_JSON_LEN_MAX),
            ("pan_masked", self.pan_masked.as_deref().unwrap_or(""), 19),
            ("response_code", self.response_code.as_deref().unwrap_or(""), 2),
        ];
        for (name, text, max) in texts {
            check_text(name, text, max)?;
        }
        if self.entity.trim().is_empty() || self.reference.trim().is_empty() {
            return Err(CaseError::BadInput("an alert needs an entity and a transaction reference".into()));
        }
        if self.entity_kind == EntityKind::Card && !is_card_key(&self.entity) {
            return Err(CaseError::BadInput(format!(
                "a card entity is its keyed hash: {CARD_KEY_PREFIX} and 16 hex digits"
            )));
        }
        if let Some(masked) = &self.pan_masked
            && !is_masked_pan(masked)
        {
            return Err(CaseError::BadInput("pan_masked must show at most the first 6 and last 4 digits".into()));
        }
        if !["approve", "alert", "decline"].contains(&self.verdict.as_str()) {
            return Err(CaseError::BadInput(format!("verdict {:?} is not approve, alert or decline", self.verdict)));
        }
        match serde_json::from_str::<serde_json::Value>(&self.fired_json) {
            Ok(serde_json::Value::Array(_)) => Ok(()),
            _ => Err(CaseError::BadInput("fired_json is not a JSON array".into())),
        }
    }
}

/// How a card's keyed hash is written in alerts and reports: this, then 16 hex digits.
pub const CARD_KEY_PREFIX: &str = "key-";

/// A card's keyed hash as written ([`CARD_KEY_PREFIX`] and 16 hex digits).
pub fn is_card_key(text: &str) -> bool {
    text.strip_prefix(CARD_KEY_PREFIX).is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A masked PAN: 13 to 19 characters, digits and `*`, at most 10 digits in all, the masked
/// middle present.
pub fn is_masked_pan(text: &str) -> bool {
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    (13..=19).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_digit() || b == b'*')
        && digits <= 10
        && text.contains('*')
}

/// A free text as stored: bounded, no control characters but newline, and no run of digits
/// long enough to be a card number.
pub fn check_text(name: &str, text: &str, max: usize) -> Result<(), CaseError> {
    if text.chars().count() > max {
        return Err(CaseError::BadInput(format!("{name} is longer than {max} characters")));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(CaseError::BadInput(format!("{name} has control characters")));
    }
    let mut run = 0;
    for c in text.chars() {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        if run >= PAN_DIGITS_MIN {
            return Err(CaseError::BadInput(format!(
                "{name} has {PAN_DIGITS_MIN} or more digits in a row (a card number?): not stored"
            )));
        }
    }
    Ok(())
}

/// An identifier (merchant, terminal): bounded, letters, digits, `-`, `_`, `.` only. Not
/// checked for digit runs: merchant ids are commonly 15 digits, and the charset already keeps
/// free text (and a PAN with spaces or a masked one) out.
pub fn check_id(name: &str, text: &str, max: usize) -> Result<(), CaseError> {
    if text.is_empty() || text.len() > max {
        return Err(CaseError::BadInput(format!("{name} must be 1 to {max} characters")));
    }
    if !text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(CaseError::BadInput(format!("{name} may hold only letters, digits, `-`, `_` and `.`")));
    }
    Ok(())
}

/// A person's or system's name, as an assignee or in the audit trail.
pub fn check_who(who: &str) -> Result<(), CaseError> {
    if who.trim().is_empty() {
        return Err(CaseError::BadInput("a name is needed (who acts on the alert)".into()));
    }
    check_text("name", who, WHO_LEN_MAX)
}

/// An alert as stored.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Alert {
    pub id: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub party: Party,
    pub entity_kind: EntityKind,
    pub entity: String,
    pub pan_masked: Option<String>,
    pub reference: String,
    pub verdict: String,
    pub response_code: Option<String>,
    /// JSON text, as recorded.
    pub fired_json: String,
    pub score: i64,
    pub status: Status,
    pub assignee: Option<String>,
}

/// One line of an alert's audit trail (append-only).
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub at_ms: u64,
    pub who: String,
    /// `created`, or an [`Action`]'s name.
    pub action: String,
    pub from_status: Option<Status>,
    pub to_status: Status,
    pub note: Option<String>,
}

/// An alert with its whole trail: what `show` answers.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct AlertDetail {
    pub alert: Alert,
    pub audit: Vec<AuditEntry>,
}

/// Which alerts `list` returns (newest first).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Filter {
    pub status: Option<Status>,
    pub assignee: Option<String>,
    /// At most [`crate::cases_store::LIST_LIMIT_MAX`].
    pub limit: usize,
}

impl Default for Filter {
    fn default() -> Filter {
        Filter { status: None, assignee: None, limit: 100 }
    }
}

/// What can go wrong with a case.
#[derive(Debug)]
pub enum CaseError {
    /// Input that cannot be stored (the caller's mistake).
    BadInput(String),
    NotFound(u64),
    /// The transition table does not allow `action` from `status`.
    Refused {
        id: u64,
        status: Status,
        action: Action,
    },
    Store(sqlstore::Error),
}

impl CaseError {
    /// The caller's mistake (exit 2 in the CLI), as against a failure of the store.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, CaseError::Store(_))
    }
}

impl fmt::Display for CaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaseError::BadInput(message) => f.write_str(message),
            CaseError::NotFound(id) => write!(f, "no alert {id}"),
            CaseError::Refused { id, status, action } => {
                let allowed: Vec<&str> =
                    TRANSITIONS.iter().filter(|(from, _, _)| from == status).map(|(_, a, _)| a.name()).collect();
                let allowed = if allowed.is_empty() { "nothing".to_string() } else { allowed.join(", ") };
                write!(f, "alert {id} is {status}: {} is not allowed (allowed: {allowed})", action.name())
            }
            CaseError::Store(error) => write!(f, "alerts store: {error}"),
        }
    }
}

impl std::error::Error for CaseError {}

impl From<sqlstore::Error> for CaseError {
    fn from(error: sqlstore::Error) -> CaseError {
        CaseError::Store(error)
    }
}

impl sqlstore::CarriesStoreError for CaseError {
    fn into_store_error(self) -> Result<sqlstore::Error, CaseError> {
        match self {
            CaseError::Store(error) => Ok(error),
            other => Err(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (status, action) pair: allowed exactly when the table has a row for it, and
    /// then to that row's status.
    #[test]
    fn every_pair_follows_the_table() {
        let mut allowed = 0;
        for from in STATUSES {
            for action in ACTIONS {
                let row = TRANSITIONS.iter().find(|(f, a, _)| *f == from && *a == action);
                assert_eq!(next_status(from, action), row.map(|r| r.2), "{from} {}", action.name());
                allowed += usize::from(row.is_some());
            }
        }
        assert_eq!(allowed, TRANSITIONS.len(), "a (status, action) pair appears twice in the table");
    }

    #[test]
    fn closed_alerts_take_nothing() {
        for from in STATUSES.into_iter().filter(|s| s.is_closed()) {
            for action in ACTIONS {
                assert_eq!(next_status(from, action), None);
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for s in STATUSES {
            assert_eq!(Status::parse(s.name()), Some(s));
        }
        assert_eq!(Status::parse("closed"), None);
        assert_eq!(Party::parse("issuer"), Some(Party::Issuer));
        assert_eq!(EntityKind::parse("terminal"), Some(EntityKind::Terminal));
    }

    #[test]
    fn a_card_number_in_a_text_is_refused_twelve_digits_are_not() {
        assert!(check_text("note", "called 6224240000000113 back", 100).is_err());
        assert!(check_text("note", "6224240000001", 100).is_err());
        assert!(check_text("note", "rrn 632510000123", 100).is_ok());
        assert!(check_text("note", "a\u{7}b", 100).is_err());
        assert!(check_text("note", "abc", 2).is_err());
    }

    #[test]
    fn identifiers_may_be_fifteen_digits_but_hold_no_free_text() {
        assert!(check_id("merchant", "898310048161234", 64).is_ok());
        assert!(check_id("merchant", "M00000000000001", 64).is_ok());
        assert!(check_id("merchant", "6224 2400 0000 0113", 64).is_err());
        assert!(check_id("merchant", "622424******0113", 64).is_err());
        assert!(check_id("merchant", "", 64).is_err());
    }

    #[test]
    fn masked_pans() {
        assert!(is_masked_pan("622424******0113"));
        assert!(!is_masked_pan("6224240000000113"));
        assert!(!is_masked_pan("6224240*****0113"), "seven leading digits and four trailing: 11 digits");
        assert!(!is_masked_pan("622424"));
    }
}
