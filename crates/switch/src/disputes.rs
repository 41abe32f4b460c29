//! Exceptions (差错) at the switch: what reconciliation could not match, kept until someone
//! resolves it, with every step in an append-only audit trail.
//!
//! * [`open_exceptions`] — open them in bulk from reconciliation's output; idempotent on
//!   (date found, class, reference): opening the same difference again returns the same id. A
//!   difference the switch holds no record of (reference 0: missing at host) is keyed by the
//!   acquirer's key (32, 11, 7) instead.
//! * [`resolve`] — apply an [`Action`] if the table in [`transitions`] allows it from the
//!   exception's stage. Every action except a write-off becomes a clearing record on the date
//!   the caller names (the next open business date: the CLI takes the resolution time's UTC
//!   date + 1); a settled date takes no more records.
//! * [`clearing_records`] — a date's exception records, to go into its clearing and settlement
//!   with the authorization records.
//!
//! Exception records: reference `DISPUTE_REFERENCE_BASE + audit entry id` (a range of its own,
//! far above any exchange id, so unique per date and never equal to an exchange's), the
//! original's reference, keys and masked PAN, the action's amount, and zero fees — the
//! original's interchange and network fee are not returned or charged again (a rule to revisit
//! with the fee schedule's owners). `settlement_minor` = direction × amount.
//!
//! The audit trail (`switch_exception_audit`) is only ever inserted into: this code holds no
//! statement that changes or removes its rows, and the database refuses them (a trigger on
//! either backend).

mod store;
pub mod transitions;

use clearing::{BusinessDate, CardKind, ClearingRecord};
use domain::{Currency, InstitutionId, MerchantId, Rrn, Stan, TerminalId};
use sqlstore::Database;

pub use transitions::{Action, Stage, TRANSITIONS, next_stage};

pub(crate) use store::migrate;

/// Exception records' references start here (12 digits; exchange ids stay far below).
pub const DISPUTE_REFERENCE_BASE: u64 = 900_000_000_000;
/// Names (`by`) and reasons are one line of at most this many bytes.
pub const BY_LEN_MAX: usize = 64;
pub const REASON_LEN_MAX: usize = 500;
/// Exceptions opened per database transaction by [`open_exceptions`].
pub const OPEN_PER_TRANSACTION_MAX: usize = 1_000;
/// Most exceptions one [`list`] returns.
pub const LIST_MAX: usize = 10_000;

/// The reconciliation classes an exception can be of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExceptionClass {
    /// 长款: in the clearing/terminal, not at the host.
    MissingAtHost,
    /// 短款: at the host, not at the terminal.
    MissingAtTerminal,
    MissingAtIssuer,
    AmountMismatch,
    Duplicate,
    NotReversedAfterTimeout,
    ReversalWithoutOriginal,
    LatePresentment,
    StateMismatch,
}

impl ExceptionClass {
    pub const ALL: [ExceptionClass; 9] = [
        ExceptionClass::MissingAtHost,
        ExceptionClass::MissingAtTerminal,
        ExceptionClass::MissingAtIssuer,
        ExceptionClass::AmountMismatch,
        ExceptionClass::Duplicate,
        ExceptionClass::NotReversedAfterTimeout,
        ExceptionClass::ReversalWithoutOriginal,
        ExceptionClass::LatePresentment,
        ExceptionClass::StateMismatch,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ExceptionClass::MissingAtHost => "missing_at_host",
            ExceptionClass::MissingAtTerminal => "missing_at_terminal",
            ExceptionClass::MissingAtIssuer => "missing_at_issuer",
            ExceptionClass::AmountMismatch => "amount_mismatch",
            ExceptionClass::Duplicate => "duplicate",
            ExceptionClass::NotReversedAfterTimeout => "not_reversed_after_timeout",
            ExceptionClass::ReversalWithoutOriginal => "reversal_without_original",
            ExceptionClass::LatePresentment => "late_presentment",
            ExceptionClass::StateMismatch => "state_mismatch",
        }
    }

    pub fn from_name(name: &str) -> Option<ExceptionClass> {
        ExceptionClass::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// The record an exception concerns, as reconciliation found it (absent fields empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionRecord {
    /// The switch's reference of the record (exchange id), 0 when no switch record exists.
    pub reference: u64,
    /// The members the money moves between.
    pub acquirer: InstitutionId,
    pub issuer: InstitutionId,
    pub amount_minor: u64,
    pub currency: Currency,
    /// The acquirer's key (none when reconciliation found no acquirer record of it).
    pub stan: Option<Stan>,
    pub transmission_time: String,
    pub issuer_stan: Option<Stan>,
    pub issuer_time: String,
    pub rrn: Option<Rrn>,
    pub auth_code: String,
    /// First 6, last 4: a full PAN is refused.
    pub pan_masked: String,
    pub card_hash: String,
    pub card_kind: CardKind,
    pub mcc: String,
    pub terminal_id: Option<TerminalId>,
    pub merchant_id: Option<MerchantId>,
}

impl ExceptionRecord {
    /// The concerned record's keys and amount from its clearing record.
    pub fn from_clearing(record: &ClearingRecord) -> ExceptionRecord {
        ExceptionRecord {
            reference: record.reference,
            acquirer: record.acquirer,
            issuer: record.issuer,
            amount_minor: record.amount_minor,
            currency: record.currency,
            stan: record.stan,
            transmission_time: record.transmission_time.clone(),
            issuer_stan: record.issuer_stan,
            issuer_time: record.issuer_time.clone(),
            rrn: record.rrn,
            auth_code: record.auth_code.clone(),
            pan_masked: record.pan_masked.clone(),
            card_hash: record.card_hash.clone(),
            card_kind: record.card_kind,
            mcc: record.mcc.clone(),
            terminal_id: record.terminal_id,
            merchant_id: record.merchant_id,
        }
    }
}

/// One exception to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewException {
    /// The business date reconciliation found it on.
    pub date: BusinessDate,
    pub class: ExceptionClass,
    pub record: ExceptionRecord,
    /// What reconciliation saw (one line), kept in the opening audit entry.
    pub note: String,
}

/// A stored exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    pub id: u64,
    pub date: BusinessDate,
    pub class: ExceptionClass,
    pub record: ExceptionRecord,
    pub stage: Stage,
    /// The amount of the last money-moving action (what the next step of the cycle may claim at
    /// most); the record's amount before any.
    pub stage_amount_minor: u64,
    pub opened_ms: u64,
}

/// One audit entry: who did what, when and why. `action` is `opened` or an [`Action`] name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: u64,
    pub exception_id: u64,
    pub at_ms: u64,
    pub by: String,
    pub reason: String,
    pub action: String,
    pub stage_before: Option<Stage>,
    pub stage_after: Stage,
    pub amount_minor: Option<u64>,
    /// The date and reference of the clearing record the action became.
    pub clearing_date: Option<BusinessDate>,
    pub clearing_reference: Option<u64>,
}

/// What opening did for one exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    pub id: u64,
    /// False when it was open (or resolved) already: nothing was written.
    pub created: bool,
}

/// An operator's resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub action: Action,
    pub by: String,
    pub reason: String,
    /// Defaults to the stage amount (the record's, or the last step's of the cycle).
    pub amount_minor: Option<u64>,
}

/// What a resolution did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub exception: Exception,
    pub entry: AuditEntry,
    /// The record it becomes on the clearing date (none for a write-off).
    pub record: Option<ClearingRecord>,
}

/// Which exceptions [`list`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListFilter {
    /// `Some(false)`: not resolved (open or in the chargeback cycle); `Some(true)`: resolved.
    pub resolved: Option<bool>,
    /// Found on this date.
    pub date: Option<BusinessDate>,
}

#[derive(Debug)]
pub enum DisputeError {
    /// An argument or record that cannot be used: what and where.
    Input(String),
    NotFound(u64),
    /// The transition table does not allow the action from the exception's stage.
    NotAllowed {
        id: u64,
        stage: Stage,
        action: Action,
    },
    Store(sqlstore::Error),
}

impl std::fmt::Display for DisputeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DisputeError::Input(message) => write!(f, "exception: {message}"),
            DisputeError::NotFound(id) => write!(f, "exception {id}: no such exception"),
            DisputeError::NotAllowed { id, stage, action } => {
                let allowed: Vec<&str> =
                    TRANSITIONS.iter().filter(|(from, _, _)| from == stage).map(|(_, a, _)| a.name()).collect();
                let allowed = if allowed.is_empty() { "nothing".to_owned() } else { allowed.join(", ") };
                write!(f, "exception {id} is {}: {} is not allowed (allowed: {allowed})", stage.name(), action.name())
            }
            DisputeError::Store(error) => write!(f, "exceptions: switch {error}"),
        }
    }
}

impl std::error::Error for DisputeError {}

impl From<sqlstore::Error> for DisputeError {
    fn from(error: sqlstore::Error) -> DisputeError {
        DisputeError::Store(error)
    }
}

impl sqlstore::CarriesStoreError for DisputeError {
    fn into_store_error(self) -> std::result::Result<sqlstore::Error, DisputeError> {
        match self {
            DisputeError::Store(error) => Ok(error),
            other => Err(other),
        }
    }
}

pub type Result<T> = std::result::Result<T, DisputeError>;

/// One line, not empty, at most `max` bytes.
fn check_line(what: &str, text: &str, max: usize) -> Result<()> {
    if text.trim().is_empty() || text.len() > max || text.chars().any(char::is_control) {
        return Err(DisputeError::Input(format!("{what} must be one line of 1 to {max} bytes")));
    }
    Ok(())
}

/// A masked PAN shows at most 10 digits (first 6, last 4): anything with more is refused.
fn check_masked(pan: &str) -> Result<()> {
    let digits = pan.bytes().filter(u8::is_ascii_digit).count();
    if digits > 10 || pan.len() > 19 {
        return Err(DisputeError::Input("pan_masked must be masked (first 6, last 4 digits at most)".into()));
    }
    Ok(())
}

fn check_new(new: &NewException) -> Result<()> {
    let r = &new.record;
    let at =
        |what: &str| DisputeError::Input(format!("{} of {} ({}): {what}", r.reference, new.date, new.class.name()));
    check_masked(&r.pan_masked)?;
    if r.amount_minor == 0 || r.amount_minor > crate::settlement::RECORD_AMOUNT_MAX_MINOR {
        return Err(at("amount must be 1 to 999999999999 minor units"));
    }
    if new.note.len() > REASON_LEN_MAX || new.note.chars().any(char::is_control) {
        return Err(at("the note must be one line of at most 500 bytes"));
    }
    Ok(())
}

/// Open `exceptions` (found on their dates by reconciliation), `by` whom at `at_ms`. Idempotent
/// on (date, class, reference) — (date, class, acquirer, STAN, transmission time) for reference
/// 0 — one already there keeps its id and state. Answers in input order.
pub fn open_exceptions(db: &Database, exceptions: &[NewException], by: &str, at_ms: u64) -> Result<Vec<Opened>> {
    check_line("by", by, BY_LEN_MAX)?;
    for new in exceptions {
        check_new(new)?;
    }
    let mut opened = Vec::with_capacity(exceptions.len());
    for chunk in exceptions.chunks(OPEN_PER_TRANSACTION_MAX) {
        opened.extend(db.transact(|tx| store::open_chunk(tx, chunk, by, at_ms))?);
    }
    Ok(opened)
}

/// Apply `resolution` to exception `id` at `at_ms`; its record (unless a write-off) goes on
/// `clearing_date`, which must be after the date the exception was found and not settled.
pub fn resolve(
    db: &Database,
    id: u64,
    resolution: &Resolution,
    at_ms: u64,
    clearing_date: BusinessDate,
) -> Result<Resolved> {
    check_line("by", &resolution.by, BY_LEN_MAX)?;
    check_line("reason", &resolution.reason, REASON_LEN_MAX)?;
    let (exception, entry) = db.transact(|tx| store::resolve_in(tx, id, resolution, at_ms, clearing_date))?;
    let record =
        entry.clearing_reference.map(|reference| clearing_record(&exception, &entry, reference, clearing_date));
    Ok(Resolved { exception, entry, record })
}

/// The exception records of `date`, by reference.
pub fn clearing_records(db: &Database, date: BusinessDate) -> Result<Vec<ClearingRecord>> {
    let rows = db.transact(|tx| store::actions_on(tx, date))?;
    Ok(rows
        .iter()
        .filter_map(|(exception, entry)| {
            entry.clearing_reference.map(|reference| clearing_record(exception, entry, reference, date))
        })
        .collect())
}

/// Exceptions matching `filter`, by id, at most [`LIST_MAX`].
pub fn list(db: &Database, filter: ListFilter) -> Result<Vec<Exception>> {
    db.transact(|tx| store::list(tx, filter, LIST_MAX))
}

/// Where a resolution made at `now_ms` clears: the first business date not closed (a closed
/// date never changes) from the one an exchange at `now_ms` gets under `cutoff`, and at least the
/// day after `found_on`, the exception's date. Reads only the business dates' table, so a caller
/// holding no key (the console) finds it as `cardnet dispute resolve` does.
pub fn clearing_date(
    db: &Database,
    cutoff: clearing::CutOff,
    found_on: BusinessDate,
    now_ms: u64,
) -> Result<BusinessDate> {
    /// Dates looked at before giving up (closed dates run at most a few ahead of the clock).
    const DATES_AHEAD_MAX: usize = 366;
    let mut date = cutoff.business_date(now_ms).max(found_on.next());
    for _ in 0..DATES_AHEAD_MAX {
        let status = crate::business_date::status(db, cutoff, date).map_err(|error| match error {
            crate::SwitchError::Store(error) => DisputeError::Store(error),
            other => DisputeError::Input(format!("business date {date}: {other}")),
        })?;
        if !status.closed {
            return Ok(date);
        }
        date = date.next();
    }
    Err(DisputeError::Input(format!("no open business date within {DATES_AHEAD_MAX} days of {date}")))
}

/// One exception and its audit trail (oldest first).
pub fn show(db: &Database, id: u64) -> Result<(Exception, Vec<AuditEntry>)> {
    db.transact(|tx| {
        let exception = store::exception(tx, id)?.ok_or(DisputeError::NotFound(id))?;
        Ok((exception, store::audit_of(tx, id)?))
    })
}

/// The clearing record an action becomes.
fn clearing_record(exception: &Exception, entry: &AuditEntry, reference: u64, date: BusinessDate) -> ClearingRecord {
    let r = &exception.record;
    let code = Action::from_name(&entry.action).and_then(Action::txn_code).unwrap_or(clearing::TxnCode::Chargeback);
    let amount = entry.amount_minor.unwrap_or(0);
    ClearingRecord {
        date,
        reference,
        code,
        acquirer: r.acquirer,
        issuer: r.issuer,
        stan: r.stan,
        transmission_time: r.transmission_time.clone(),
        issuer_stan: r.issuer_stan,
        issuer_time: r.issuer_time.clone(),
        pan_masked: r.pan_masked.clone(),
        card_hash: r.card_hash.clone(),
        card_kind: r.card_kind,
        amount_minor: amount,
        currency: r.currency,
        mcc: r.mcc.clone(),
        terminal_id: r.terminal_id,
        merchant_id: r.merchant_id,
        rrn: r.rrn,
        auth_code: r.auth_code.clone(),
        original_stan: r.stan,
        original_time: r.transmission_time.clone(),
        original_reference: r.reference,
        interchange_fee_minor: 0,
        network_fee_minor: 0,
        // Amounts are at most 12 digits (checked when opened and resolved): no overflow.
        settlement_minor: code.direction() * amount as i64,
        stand_in: false,
        late: false,
    }
}
