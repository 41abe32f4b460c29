//! The clearing extract: a business date's money-moving records, read from the journal page by
//! page (by exchange id, [`CLEARING_PAGE_ROWS_MAX`] rows a page), so any number of them passes
//! in constant memory.
//!
//! **What clears** (approved = the acquirer was told 00, by the issuer or the switch standing
//! in): purchases, completions, voids, completion voids and refunds; and the *first* accepted
//! reversal of an original that was approved and moved money. A reversal of a purchase or a
//! completion is a `REV` record of the part reversed: the original's amount, less field 95's
//! replacement amount when partial. A reversal of something the acquirer was told was declined
//! (a timeout, a 51, an unknown original the switch only recorded) moves nothing — nothing was
//! cleared to undo — and makes no record: reconciliation sees it as a reversal without a
//! cleared original. A reversal of a void, completion void or refund (allowed for timeouts)
//! restores what those gave back, and clears as the code it restores (`PUR`, `CMP`), +1, with
//! the void as its original. Pre-authorizations and balance inquiries never clear.
//!
//! **Fees** (`clearing::fees`): a record's fees are `direction × fee(amount)` by the card kind
//! of its BIN (stored when routed). A void or reversal of `part` of an original of `amount`
//! carries `fee(amount) − fee(amount − part)` back: all of the original's fees, to the minor
//! unit, when it undoes all of it, and a partial reversal leaves exactly the fees of what stays.
//! `settlement_minor = direction × amount − interchange` (the record's signed interchange).
//!
//! **Exceptions** (disputes) come from another producer and are merged in by reference: the
//! `exceptions` iterator given to [`crate::Switch::clearing_records`] must be in ascending
//! reference order (checked; an out-of-order item ends the stream with an error).

use std::collections::VecDeque;
use std::iter::Peekable;
use std::sync::Arc;

use clearing::{BusinessDate, CardKind, ClearingRecord, Fees, TxnCode};
use domain::{Currency, InstitutionId, MerchantId, Rrn, Stan, TerminalId};
use sqlstore::{Database, Row};

use crate::config::Directory;
use crate::error::SwitchError;
use crate::limits::CLEARING_PAGE_ROWS_MAX;
use crate::store::int;

/// The MCC of a record whose request carried no field 18.
pub const MCC_UNKNOWN: &str = "0000";
const APPROVED: &str = "00";

/// No exception records: for a clearing run before exceptions exist, and for tests.
pub fn no_exceptions() -> std::iter::Empty<Result<ClearingRecord, SwitchError>> {
    std::iter::empty()
}

const SELECT_PAGE: &str = "SELECT e.id, e.kind, e.acquirer, e.issuer, e.acq_stan, e.acq_time, e.iss_stan, e.iss_time, \
     e.pan_masked, e.card_key, e.card_kind, e.amount_minor, e.replacement_minor, e.currency, e.mcc, e.terminal_id, \
     e.merchant_id, e.rrn, e.auth_code, e.stip, e.late, e.original_id, \
     o.kind, o.acq_stan, o.acq_time, o.amount_minor, o.response_code, o.card_kind, o.auth_code \
     FROM switch_exchanges e LEFT JOIN switch_exchanges o ON o.id = e.original_id \
     WHERE e.business_date = $1 AND e.id > $2 AND e.response_code = '00' \
     AND e.kind IN ('purchase', 'completion', 'void', 'completion_void', 'refund', 'reversal') \
     AND (e.kind <> 'reversal' OR NOT EXISTS (SELECT 1 FROM switch_exchanges r WHERE r.original_id = e.original_id \
          AND r.kind = 'reversal' AND r.response_code = '00' AND r.id < e.id)) \
     ORDER BY e.id LIMIT $3";

/// One page row: the exchange and what its original was.
struct Row2 {
    id: u64,
    kind: String,
    acquirer: String,
    issuer: Option<String>,
    stan: String,
    time: String,
    issuer_stan: Option<String>,
    issuer_time: Option<String>,
    pan_masked: Option<String>,
    card_key: Option<String>,
    card_kind: Option<String>,
    amount: Option<u64>,
    replacement: Option<u64>,
    currency: Option<String>,
    mcc: Option<String>,
    terminal_id: Option<String>,
    merchant_id: Option<String>,
    rrn: Option<String>,
    auth_code: Option<String>,
    stand_in: bool,
    late: bool,
    original_id: Option<u64>,
    original: Option<Original>,
}

struct Original {
    kind: String,
    stan: String,
    time: String,
    amount: Option<u64>,
    response_code: Option<String>,
    card_kind: Option<String>,
    auth_code: Option<String>,
}

fn opt_u64(row: &Row, index: usize) -> sqlstore::Result<Option<u64>> {
    row.opt_i64(index)?
        .map(|v| u64::try_from(v).map_err(|_| sqlstore::Error::column(index, "a non-negative integer")))
        .transpose()
}

fn page_row(row: &Row) -> sqlstore::Result<Row2> {
    let original = match row.opt_text(22)? {
        Some(kind) => Some(Original {
            kind,
            stan: row.text(23)?,
            time: row.text(24)?,
            amount: opt_u64(row, 25)?,
            response_code: row.opt_text(26)?,
            card_kind: row.opt_text(27)?,
            auth_code: row.opt_text(28)?,
        }),
        None => None,
    };
    Ok(Row2 {
        id: row.u64(0)?,
        kind: row.text(1)?,
        acquirer: row.text(2)?,
        issuer: row.opt_text(3)?,
        stan: row.text(4)?,
        time: row.text(5)?,
        issuer_stan: row.opt_text(6)?,
        issuer_time: row.opt_text(7)?,
        pan_masked: row.opt_text(8)?,
        card_key: row.opt_text(9)?,
        card_kind: row.opt_text(10)?,
        amount: opt_u64(row, 11)?,
        replacement: opt_u64(row, 12)?,
        currency: row.opt_text(13)?,
        mcc: row.opt_text(14)?,
        terminal_id: row.opt_text(15)?,
        merchant_id: row.opt_text(16)?,
        rrn: row.opt_text(17)?,
        auth_code: row.opt_text(18)?,
        stand_in: row.i64(19)? != 0,
        late: row.i64(20)? != 0,
        original_id: opt_u64(row, 21)?,
        original,
    })
}

/// `fee(whole) − fee(whole − part)`, per fee: what undoing `part` of `whole` gives back.
fn fees_of_part(directory: &Directory, kind: CardKind, whole: u64, part: u64) -> Fees {
    let all = directory.fees.fees(kind, whole);
    let rest = directory.fees.fees(kind, whole.saturating_sub(part));
    // Fees only grow with the amount (a rate, then a cap), so the difference is never negative.
    debug_assert!(all.interchange_minor >= rest.interchange_minor && all.network_minor >= rest.network_minor);
    Fees {
        interchange_minor: all.interchange_minor.saturating_sub(rest.interchange_minor),
        network_minor: all.network_minor.saturating_sub(rest.network_minor),
    }
}

/// What one row clears as: code, amount, card kind and fees; `None` when it moves no money.
fn clears_as(directory: &Directory, row: &Row2) -> Result<Option<(TxnCode, u64, CardKind, Fees)>, SwitchError> {
    let missing =
        |what: &str| SwitchError::Internal(format!("exchange {}: approved {} without {what}", row.id, row.kind));
    let kind_of = |stored: Option<&str>| {
        stored
            .and_then(CardKind::from_name)
            .unwrap_or_else(|| directory.card_kind(row.pan_masked.as_deref().unwrap_or_default()))
    };
    let Some(code) = TxnCode::from_kind_name(&row.kind) else { return Ok(None) };
    let original = row.original.as_ref();
    let original_approved = original.filter(|o| o.response_code.as_deref() == Some(APPROVED));
    match code {
        TxnCode::Reversal => {
            let Some(original) = original_approved else { return Ok(None) };
            let restores = match TxnCode::from_kind_name(&original.kind) {
                Some(TxnCode::Purchase | TxnCode::Completion) => TxnCode::Reversal,
                Some(TxnCode::Void | TxnCode::Refund) => TxnCode::Purchase,
                Some(TxnCode::CompletionVoid) => TxnCode::Completion,
                _ => return Ok(None),
            };
            let whole = original.amount.ok_or_else(|| missing("its original's amount"))?;
            let remaining = row.replacement.filter(|r| *r < whole).unwrap_or(0);
            let part = whole - remaining;
            if part == 0 || row.replacement.is_some_and(|r| r >= whole) {
                return Ok(None);
            }
            let kind = kind_of(original.card_kind.as_deref());
            Ok(Some((restores, part, kind, fees_of_part(directory, kind, whole, part))))
        }
        TxnCode::Void | TxnCode::CompletionVoid => {
            let amount = row.amount.ok_or_else(|| missing("an amount"))?;
            let whole = original.and_then(|o| o.amount).filter(|whole| amount <= *whole);
            let kind = kind_of(original.and_then(|o| o.card_kind.as_deref()).or(row.card_kind.as_deref()));
            let fees = match whole {
                Some(whole) => fees_of_part(directory, kind, whole, amount),
                None => directory.fees.fees(kind, amount),
            };
            Ok(Some((code, amount, kind, fees)))
        }
        _ => {
            let amount = row.amount.ok_or_else(|| missing("an amount"))?;
            let kind = kind_of(row.card_kind.as_deref());
            Ok(Some((code, amount, kind, directory.fees.fees(kind, amount))))
        }
    }
}

fn signed(value: u64, what: &str, id: u64) -> Result<i64, SwitchError> {
    i64::try_from(value).map_err(|_| SwitchError::Internal(format!("exchange {id}: {what} {value} above 2^63-1")))
}

fn record(directory: &Directory, date: BusinessDate, row: Row2) -> Result<Option<ClearingRecord>, SwitchError> {
    let Some((code, amount, card_kind, fees)) = clears_as(directory, &row)? else { return Ok(None) };
    let direction = code.direction();
    let interchange = direction * signed(fees.interchange_minor, "interchange", row.id)?;
    let network = direction * signed(fees.network_minor, "network fee", row.id)?;
    let settlement = direction * signed(amount, "amount", row.id)? - interchange;
    let original = row.original.as_ref();
    let text = |value: Option<String>| value.unwrap_or_default();
    let bad = |what: &str, e: domain::ParseError| SwitchError::Internal(format!("exchange {}: {what}: {e}", row.id));
    // Absent or empty: none; anything else must be the type's.
    fn opt<T>(
        value: Option<&str>,
        parse: impl Fn(&str) -> Result<T, domain::ParseError>,
    ) -> Result<Option<T>, domain::ParseError> {
        value.filter(|v| !v.is_empty()).map(parse).transpose()
    }
    let issuer = row
        .issuer
        .as_deref()
        .ok_or_else(|| SwitchError::Internal(format!("exchange {}: approved without an issuer", row.id)))?;
    Ok(Some(ClearingRecord {
        date,
        reference: row.id,
        code,
        acquirer: InstitutionId::new(&row.acquirer).map_err(|e| bad("acquirer", e))?,
        issuer: InstitutionId::new(issuer).map_err(|e| bad("issuer", e))?,
        stan: Some(Stan::parse(&row.stan).map_err(|e| bad("STAN", e))?),
        transmission_time: row.time,
        issuer_stan: opt(row.issuer_stan.as_deref(), Stan::parse).map_err(|e| bad("issuer STAN", e))?,
        issuer_time: text(row.issuer_time),
        pan_masked: text(row.pan_masked),
        card_hash: text(row.card_key),
        card_kind,
        amount_minor: amount,
        currency: Currency::parse(row.currency.as_deref().unwrap_or_default()).map_err(|e| bad("currency", e))?,
        mcc: row.mcc.filter(|m| !m.is_empty()).unwrap_or_else(|| MCC_UNKNOWN.to_owned()),
        terminal_id: opt(row.terminal_id.as_deref(), TerminalId::new).map_err(|e| bad("terminal", e))?,
        merchant_id: opt(row.merchant_id.as_deref(), MerchantId::new).map_err(|e| bad("merchant", e))?,
        rrn: opt(row.rrn.as_deref(), Rrn::new).map_err(|e| bad("RRN", e))?,
        // A void or reversal carries no approval code of its own: its original's.
        auth_code: text(row.auth_code.or_else(|| original.and_then(|o| o.auth_code.clone()))),
        original_stan: original.map(|o| Stan::parse(&o.stan)).transpose().map_err(|e| bad("original STAN", e))?,
        original_time: original.map(|o| o.time.clone()).unwrap_or_default(),
        original_reference: if original.is_some() { row.original_id.unwrap_or(0) } else { 0 },
        interchange_fee_minor: interchange,
        network_fee_minor: network,
        settlement_minor: settlement,
        stand_in: row.stand_in,
        late: row.late,
    }))
}

/// The records of one business date, in reference order, exceptions merged in. Reads a page
/// at a time; holds at most one page.
pub struct ClearingRecords<X: Iterator<Item = Result<ClearingRecord, SwitchError>>> {
    db: Database,
    directory: Arc<Directory>,
    date: BusinessDate,
    after_id: u64,
    journal_done: bool,
    page: VecDeque<ClearingRecord>,
    exceptions: Peekable<X>,
    last_exception: Option<u64>,
    /// After an error nothing more is given.
    failed: bool,
}

impl<X: Iterator<Item = Result<ClearingRecord, SwitchError>>> ClearingRecords<X> {
    pub(crate) fn new(db: Database, directory: Arc<Directory>, date: BusinessDate, exceptions: X) -> Self {
        ClearingRecords {
            db,
            directory,
            date,
            after_id: 0,
            journal_done: false,
            page: VecDeque::with_capacity(CLEARING_PAGE_ROWS_MAX),
            exceptions: exceptions.peekable(),
            last_exception: None,
            failed: false,
        }
    }

    /// Read pages until one gives a record or the date is done.
    fn fill(&mut self) -> Result<(), SwitchError> {
        while self.page.is_empty() && !self.journal_done {
            let (date, after_id) = (self.date.to_string(), self.after_id);
            let rows = crate::engine::transact(&self.db, |tx| {
                let rows = tx
                    .query(SELECT_PAGE, &[date.as_str().into(), int(after_id)?, int(CLEARING_PAGE_ROWS_MAX as u64)?])?;
                Ok(rows.iter().map(page_row).collect::<sqlstore::Result<Vec<Row2>>>()?)
            })?;
            assert!(rows.len() <= CLEARING_PAGE_ROWS_MAX, "a page is bounded by its LIMIT");
            self.journal_done = rows.len() < CLEARING_PAGE_ROWS_MAX;
            for row in rows {
                assert!(row.id > self.after_id, "pages advance by id");
                self.after_id = row.id;
                if let Some(record) = record(&self.directory, self.date, row)? {
                    self.page.push_back(record);
                }
            }
        }
        Ok(())
    }

    fn next_exception(&mut self) -> Result<ClearingRecord, SwitchError> {
        let record = self.exceptions.next().unwrap_or_else(|| Err(SwitchError::Internal("no exception".into())))?;
        if record.date != self.date {
            return Err(SwitchError::Internal(format!(
                "exception record {} is of {}, not {}",
                record.reference, record.date, self.date
            )));
        }
        if self.last_exception.is_some_and(|last| record.reference < last) {
            return Err(SwitchError::Internal(format!(
                "exception record {} comes after {}: exceptions must be in reference order",
                record.reference,
                self.last_exception.unwrap_or(0)
            )));
        }
        self.last_exception = Some(record.reference);
        Ok(record)
    }

    fn step(&mut self) -> Result<Option<ClearingRecord>, SwitchError> {
        self.fill()?;
        let exception = match self.exceptions.peek() {
            Some(Ok(record)) => Some(record.reference),
            Some(Err(_)) => return self.next_exception().map(Some),
            None => None,
        };
        match (self.page.front().map(|r| r.reference), exception) {
            (None, None) => Ok(None),
            (Some(journal), Some(exception)) if exception < journal => self.next_exception().map(Some),
            (None, Some(_)) => self.next_exception().map(Some),
            (Some(_), _) => Ok(self.page.pop_front()),
        }
    }
}

impl<X: Iterator<Item = Result<ClearingRecord, SwitchError>>> Iterator for ClearingRecords<X> {
    type Item = Result<ClearingRecord, SwitchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.step() {
            Ok(record) => record.map(Ok),
            Err(error) => {
                self.failed = true;
                Some(Err(error))
            }
        }
    }
}
