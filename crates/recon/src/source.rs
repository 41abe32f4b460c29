//! One compact record per source row, and the five sources of one reconciliation.
//!
//! What an adapter supplies: only rows that move money — approved purchases, completions, voids,
//! completion voids, refunds and reversals (declines and pre-authorizations clear nothing) — of
//! the business date being reconciled, plus the rows of the next date that arrived late (the
//! date window). Each party's rows in any order: the engine sorts.

use clearing::{BusinessDate, ClearingRecord, TxnCode};

use crate::keys::{KeyError, LegKey, Rrn, TerminalId, TerminalKey, currency, digits, rrn};

/// What a party says became of an original (purchase or completion) after the fact. The
/// acquirer's flags and the issuer's posting state map onto it: `approved`, `posted`, `held`
/// and `completed` are all [`State::Live`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Live,
    Voided,
    Reversed,
    Refunded,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Live => "live",
            State::Voided => "voided",
            State::Reversed => "reversed",
            State::Refunded => "refunded",
        }
    }

    pub fn from_name(name: &str) -> Result<State, KeyError> {
        match name {
            "live" | "approved" | "posted" | "held" | "completed" => Ok(State::Live),
            "voided" => Ok(State::Voided),
            "reversed" => Ok(State::Reversed),
            "refunded" => Ok(State::Refunded),
            _ => Err(KeyError(format!("state {name:?} is not approved, posted, voided, reversed or refunded"))),
        }
    }
}

/// Kinds an authorization row can be (the `TxnCode`s that come from a terminal request).
pub fn kind_from_name(name: &str) -> Result<TxnCode, KeyError> {
    TxnCode::from_kind_name(name)
        .or_else(|| TxnCode::from_code(name).filter(|c| !c.is_exception()))
        .ok_or_else(|| KeyError(format!("kind {name:?} is not a purchase, completion, void, refund or reversal")))
}

/// Kinds that name an original (field 90): their rows carry the original's key.
pub fn is_dependent(kind: TxnCode) -> bool {
    matches!(kind, TxnCode::Void | TxnCode::CompletionVoid | TxnCode::Refund | TxnCode::Reversal)
}

/// Kinds that take money off the original at the issuer (a refund is a separate credit).
pub fn reduces_original(kind: TxnCode) -> bool {
    matches!(kind, TxnCode::Void | TxnCode::CompletionVoid | TxnCode::Reversal)
}

/// A row of a terminal's batch upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalRecord {
    pub key: TerminalKey,
    /// The original's trace in the same terminal and batch (voids, refunds, reversals); 0 if none.
    pub original_trace: u32,
    pub rrn: Rrn,
    pub amount_minor: u64,
    pub currency: u16,
    pub kind: TxnCode,
    pub date: BusinessDate,
}

/// A row of the acquirer's journal (`acquirer_transactions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcquirerRecord {
    pub terminal: TerminalKey,
    /// Acquiring institution, network STAN and transmission time.
    pub key: LegKey,
    /// The original's network STAN and transmission time (field 90); `None` for originals.
    pub original: Option<(u32, u64)>,
    pub rrn: Rrn,
    pub amount_minor: u64,
    pub currency: u16,
    /// The issuing institution if the journal knows it (the switch's answer or a BIN table):
    /// needed only to address an adjustment the clearing file never had. 0 when unknown.
    pub issuer: u64,
    pub kind: TxnCode,
    pub state: State,
    pub date: BusinessDate,
}

/// A clearing record, compact. Built from [`clearing::ClearingRecord`] with `TryFrom`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClearingItem {
    pub reference: u64,
    /// The original's reference (0 if none).
    pub original_reference: u64,
    /// The acquirer leg: (acquirer, STAN, time).
    pub key: LegKey,
    /// The issuer leg: (issuer, the switch's STAN to it, time).
    pub issuer_key: LegKey,
    /// The original's acquirer-leg STAN and time; `None` for originals.
    pub original: Option<(u32, u64)>,
    pub terminal: TerminalId,
    pub rrn: Rrn,
    pub amount_minor: u64,
    pub settlement_minor: i64,
    pub network_fee_minor: i64,
    pub currency: u16,
    pub code: TxnCode,
    pub late: bool,
    pub date: BusinessDate,
}

/// A row of the issuer's posting result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuerRecord {
    /// (issuer, the switch's STAN, time): the issuer's request key.
    pub key: LegKey,
    /// The original's issuer-leg STAN and time; `None` for originals.
    pub original: Option<(u32, u64)>,
    /// What the issuer posted for this row. For an original: net of the voids and reversals it
    /// received (a partially reversed purchase posts the rest; a voided one 0).
    pub amount_minor: u64,
    /// The hold it posted against (a completion's pre-authorization may exceed the completion).
    pub held_minor: u64,
    pub currency: u16,
    pub kind: TxnCode,
    pub state: State,
    pub date: BusinessDate,
}

/// One line of the settlement bank's statement: a member's net for the date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementLine {
    pub member: u64,
    pub currency: u16,
    pub net_minor: i64,
}

/// Everything one reconciliation reads.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub terminal: Vec<TerminalRecord>,
    pub acquirer: Vec<AcquirerRecord>,
    pub clearing: Vec<ClearingItem>,
    pub issuer: Vec<IssuerRecord>,
    pub statement: Vec<StatementLine>,
}

/// `""` → `None`, else (STAN, time).
fn original_of(stan: &str, time: &str) -> Result<Option<(u32, u64)>, KeyError> {
    if stan.is_empty() && time.is_empty() {
        return Ok(None);
    }
    let key = LegKey::parse("0", stan, time)?;
    Ok(Some((key.stan, key.time)))
}

impl TryFrom<&ClearingRecord> for ClearingItem {
    type Error = KeyError;

    fn try_from(r: &ClearingRecord) -> Result<ClearingItem, KeyError> {
        let at = |e: KeyError| KeyError(format!("clearing record {}: {}", r.reference, e.0));
        let missing = |what: &str| KeyError(format!("clearing record {}: no {what}", r.reference));
        let (stan, issuer_stan, original_stan) = (
            r.stan.map(domain::Stan::field),
            r.issuer_stan.map(domain::Stan::field),
            r.original_stan.map(domain::Stan::field),
        );
        let text = |stan: &Option<domain::StanText>| stan.as_ref().map_or("", |t| t.as_str()).to_owned();
        Ok(ClearingItem {
            reference: r.reference,
            original_reference: r.original_reference,
            key: LegKey::parse(r.acquirer.as_str(), &text(&stan), &r.transmission_time).map_err(at)?,
            issuer_key: LegKey::parse(r.issuer.as_str(), &text(&issuer_stan), &r.issuer_time).map_err(at)?,
            original: original_of(&text(&original_stan), &r.original_time).map_err(at)?,
            terminal: r.terminal_id.ok_or_else(|| missing("terminal id"))?,
            rrn: r.rrn.ok_or_else(|| missing("RRN"))?,
            amount_minor: r.amount_minor,
            settlement_minor: r.settlement_minor,
            network_fee_minor: r.network_fee_minor,
            currency: r.currency.numeric(),
            code: r.code,
            late: r.late,
            date: r.date,
        })
    }
}

/// The string forms of a terminal batch row, as the terminal journal prints them.
pub struct TerminalRow<'a> {
    pub terminal_id: &'a str,
    pub batch: &'a str,
    pub trace: &'a str,
    /// Empty if the row names no original.
    pub original_trace: &'a str,
    pub rrn: &'a str,
    pub amount_minor: u64,
    pub currency: &'a str,
    /// `purchase`, `void`, … or the file code `PUR`, `VOD`, …
    pub kind: &'a str,
    pub date: BusinessDate,
}

impl TryFrom<&TerminalRow<'_>> for TerminalRecord {
    type Error = KeyError;

    fn try_from(r: &TerminalRow<'_>) -> Result<TerminalRecord, KeyError> {
        let at = |e: KeyError| KeyError(format!("terminal {} trace {}: {}", r.terminal_id, r.trace, e.0));
        let original_trace =
            if r.original_trace.is_empty() { 0 } else { digits("original trace", r.original_trace, 6).map_err(at)? };
        Ok(TerminalRecord {
            key: TerminalKey::parse(r.terminal_id, r.batch, r.trace).map_err(at)?,
            original_trace: original_trace as u32,
            rrn: rrn(r.rrn).map_err(at)?,
            amount_minor: r.amount_minor,
            currency: currency(r.currency).map_err(at)?,
            kind: kind_from_name(r.kind).map_err(at)?,
            date: r.date,
        })
    }
}

/// The string forms of an acquirer journal row (`acquirer_transactions`).
pub struct AcquirerRow<'a> {
    pub terminal_id: &'a str,
    pub batch: &'a str,
    pub trace: &'a str,
    pub acquirer: &'a str,
    pub stan: &'a str,
    pub transmission_time: &'a str,
    /// Both empty for originals.
    pub original_stan: &'a str,
    pub original_time: &'a str,
    pub rrn: &'a str,
    pub amount_minor: u64,
    pub currency: &'a str,
    /// Empty when unknown.
    pub issuer: &'a str,
    pub kind: &'a str,
    /// `approved`, `voided`, `reversed`, `refunded`.
    pub state: &'a str,
    pub date: BusinessDate,
}

impl TryFrom<&AcquirerRow<'_>> for AcquirerRecord {
    type Error = KeyError;

    fn try_from(r: &AcquirerRow<'_>) -> Result<AcquirerRecord, KeyError> {
        let at = |e: KeyError| KeyError(format!("acquirer STAN {} at {}: {}", r.stan, r.transmission_time, e.0));
        let issuer = if r.issuer.is_empty() { 0 } else { digits("issuer id", r.issuer, 11).map_err(at)? };
        Ok(AcquirerRecord {
            terminal: TerminalKey::parse(r.terminal_id, r.batch, r.trace).map_err(at)?,
            key: LegKey::parse(r.acquirer, r.stan, r.transmission_time).map_err(at)?,
            original: original_of(r.original_stan, r.original_time).map_err(at)?,
            rrn: rrn(r.rrn).map_err(at)?,
            amount_minor: r.amount_minor,
            currency: currency(r.currency).map_err(at)?,
            issuer,
            kind: kind_from_name(r.kind).map_err(at)?,
            state: State::from_name(r.state).map_err(at)?,
            date: r.date,
        })
    }
}

/// The string forms of an issuer posting-result row.
pub struct IssuerRow<'a> {
    pub issuer: &'a str,
    pub stan: &'a str,
    pub transmission_time: &'a str,
    pub original_stan: &'a str,
    pub original_time: &'a str,
    pub amount_minor: u64,
    pub held_minor: u64,
    pub currency: &'a str,
    pub kind: &'a str,
    /// `posted`, `voided`, `reversed`, `refunded` (`held` counts as live).
    pub state: &'a str,
    pub date: BusinessDate,
}

impl TryFrom<&IssuerRow<'_>> for IssuerRecord {
    type Error = KeyError;

    fn try_from(r: &IssuerRow<'_>) -> Result<IssuerRecord, KeyError> {
        let at = |e: KeyError| KeyError(format!("issuer STAN {} at {}: {}", r.stan, r.transmission_time, e.0));
        Ok(IssuerRecord {
            key: LegKey::parse(r.issuer, r.stan, r.transmission_time).map_err(at)?,
            original: original_of(r.original_stan, r.original_time).map_err(at)?,
            amount_minor: r.amount_minor,
            held_minor: r.held_minor,
            currency: currency(r.currency).map_err(at)?,
            kind: kind_from_name(r.kind).map_err(at)?,
            state: State::from_name(r.state).map_err(at)?,
            date: r.date,
        })
    }
}

impl StatementLine {
    pub fn parse(member: &str, currency_code: &str, net_minor: i64) -> Result<StatementLine, KeyError> {
        Ok(StatementLine { member: digits("member id", member, 11)?, currency: currency(currency_code)?, net_minor })
    }
}
