//! Business dates at the switch: which date each exchange belongs to, closing a date once, and
//! the state of a date.
//!
//! **Assignment.** An exchange's *natural* date is the cut-off's date of its arrival time on the
//! switch's clock (`clearing::CutOff::business_date`). If that date is closed already, the
//! exchange belongs to the first date after the last closed one and is marked *late*. An
//! advice, void or reversal whose original belongs to a closed date is late too (its own date is
//! the open one it arrived on): the closed date keeps what it cleared, and the correction clears
//! on the next date, flagged for reconciliation.
//!
//! **Closing.** A date closes once, explicitly ([`crate::Switch::close_business_date`],
//! `cardnet switch close-date`), and only after its cut-off has passed on the switch's clock.
//! Closing an already closed date changes nothing and says so. Closing and assigning serialise on
//! the exchange sequence row (every new exchange takes it anyway), so no exchange can land on a
//! date after the transaction that closed it committed. The running switch announces each
//! closed date's successor to its members with an 0800/201 cut-over ([`crate::cutover`]).

use clearing::{BusinessDate, CutOff};
use sqlstore::{Database, Tx};

use crate::error::SwitchError;
use crate::journal::Exchange;
use crate::limits::{BACKFILL_PAGE_ROWS_MAX, CLOSE_IN_FLIGHT_MARGIN_MS};
use crate::store::{SEQ_EXCHANGE, int};

const STATUS_CLOSED: &str = "closed";

/// What closing a date did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseOutcome {
    /// Closed now, at `closed_ms`.
    Closed { date: BusinessDate, closed_ms: u64 },
    /// It was closed before, at `closed_ms`: nothing changed.
    AlreadyClosed { date: BusinessDate, closed_ms: u64 },
    /// Not closed, and why (its cut-off has not passed; requests of it still wait for issuers).
    Refused { date: BusinessDate, reason: String },
}

impl CloseOutcome {
    /// `closed`, `already_closed` or `refused`.
    pub fn name(&self) -> &'static str {
        match self {
            CloseOutcome::Closed { .. } => "closed",
            CloseOutcome::AlreadyClosed { .. } => "already_closed",
            CloseOutcome::Refused { .. } => "refused",
        }
    }
}

/// Where a date stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateStatus {
    pub date: BusinessDate,
    pub closed: bool,
    pub closed_ms: Option<u64>,
    /// When the running switch sent the cut-over announcing the next date.
    pub cutover_sent_ms: Option<u64>,
    /// The instant (UTC ms) its cut-off passes: it may be closed from then on.
    pub cutoff_ms: u64,
}

/// The date a new exchange belongs to, and whether it is late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Assigned {
    pub date: BusinessDate,
    pub late: bool,
}

fn parse_date(text: &str) -> Result<BusinessDate, SwitchError> {
    BusinessDate::parse(text).map_err(|e| SwitchError::Internal(format!("business date in the journal: {e}")))
}

/// Serialise with every other assignment and close. On PostgreSQL by the exchange sequence
/// row's lock (`UPDATE` takes it), so a close waits for the exchanges in flight and they for it.
/// On SQLite every transaction holds the database's write lock from its start (`BEGIN
/// IMMEDIATE`, for the whole batch inside a pipeline), which serialises them already: no write
/// per exchange for it.
fn take_date_lock(tx: &mut Tx<'_>) -> sqlstore::Result<()> {
    if tx.kind() == sqlstore::BackendKind::Postgres {
        tx.execute("UPDATE switch_sequences SET value = value WHERE name = $1", &[SEQ_EXCHANGE.into()])?;
    }
    Ok(())
}

/// What a batch keeps of each date it assigns ([`sqlstore::Tx::keep`]): whether it is closed,
/// read once per batch instead of once per exchange. Only [`close`] changes it, and keeps what
/// it wrote; no other connection can meanwhile (the batch holds SQLite's write lock; on
/// PostgreSQL the date lock, which a close takes too).
const KEPT_DATES: &str = "switch_business_dates";

/// When `date` closed (0 when the time is not known), or `None` while it is open.
fn closed_ms_of(tx: &mut Tx<'_>, date: BusinessDate) -> sqlstore::Result<Option<u64>> {
    let key = date.to_string();
    if let Some(kept) = tx.kept(KEPT_DATES, key.as_bytes()) {
        return Ok(kept.opt_i64(0)?.map(|ms| ms.max(0) as u64));
    }
    let row = tx.query_opt(
        "SELECT closed_ms FROM switch_business_dates WHERE business_date = $1 AND status = $2",
        &[key.as_str().into(), STATUS_CLOSED.into()],
    )?;
    let closed_ms = match row {
        Some(row) => Some(row.opt_i64(0)?.map_or(0, |ms| ms.max(0) as u64)),
        None => None,
    };
    keep_closed(tx, &key, closed_ms)?;
    Ok(closed_ms)
}

fn keep_closed(tx: &mut Tx<'_>, key: &str, closed_ms: Option<u64>) -> sqlstore::Result<()> {
    let value = match closed_ms {
        Some(ms) => int(ms)?,
        None => sqlstore::Value::Null,
    };
    tx.keep(KEPT_DATES, key.as_bytes(), sqlstore::Row::new(vec![value]));
    Ok(())
}

fn last_closed(tx: &mut Tx<'_>) -> Result<Option<BusinessDate>, SwitchError> {
    let row = tx
        .query_opt("SELECT MAX(business_date) FROM switch_business_dates WHERE status = $1", &[STATUS_CLOSED.into()])?;
    match row.map(|r| r.opt_text(0)).transpose()?.flatten() {
        Some(text) => Ok(Some(parse_date(&text)?)),
        None => Ok(None),
    }
}

/// The date of an exchange arriving at `now_ms` (see the module notes). Takes the date lock.
pub(crate) fn assign(
    tx: &mut Tx<'_>,
    cutoff: CutOff,
    now_ms: u64,
    original: Option<&Exchange>,
) -> Result<Assigned, SwitchError> {
    take_date_lock(tx)?;
    let natural = cutoff.business_date(now_ms);
    let mut assigned = Assigned { date: natural, late: false };
    if closed_ms_of(tx, natural)?.is_some() {
        let last = last_closed(tx)?.unwrap_or(natural);
        assigned = Assigned { date: last.next().max(natural.next()), late: true };
        // The first open date after the last closed one cannot be closed (it is after it).
        debug_assert!(closed_ms_of(tx, assigned.date)?.is_none());
    }
    if let Some(original) = original
        && let Ok(date) = BusinessDate::parse(&original.business_date)
        && closed_ms_of(tx, date)?.is_some()
    {
        assigned.late = true;
    }
    Ok(assigned)
}

/// Close `date` at `now_ms` (see the module notes). `in_flight_ms`: how long a request may
/// still wait for its issuer (the switch's issuer timeout); a date with requests younger than
/// that still forwarded is refused, since their answers would change it after it closed.
pub(crate) fn close(
    db: &Database,
    cutoff: CutOff,
    date: BusinessDate,
    now_ms: u64,
    in_flight_ms: u64,
    early: bool,
) -> Result<CloseOutcome, SwitchError> {
    let cutoff_ms = cutoff.closes_at_ms(date);
    crate::engine::transact(db, |tx| {
        take_date_lock(tx)?;
        if let Some(closed_ms) = closed_ms_of(tx, date)? {
            return Ok(CloseOutcome::AlreadyClosed { date, closed_ms });
        }
        // An early close (an operator's forced cut-over) may end the date now taking
        // transactions before its cut-off — the current one, or the one after a date closed
        // early — never a date still to come.
        let current = date <= cutoff.business_date(now_ms) || closed_ms_of(tx, date.previous())?.is_some();
        let cutoff_ms = if early && current { cutoff_ms.min(now_ms) } else { cutoff_ms };
        if now_ms < cutoff_ms {
            let at = clock::UtcDateTime::from_ms(cutoff_ms);
            return Ok(CloseOutcome::Refused {
                date,
                reason: format!(
                    "its cut-off ({cutoff}) passes at {:04}-{:02}-{:02} {:02}:{:02} UTC, {} s from now",
                    at.year,
                    at.month,
                    at.day,
                    at.hour,
                    at.minute,
                    (cutoff_ms - now_ms).div_ceil(1_000)
                ),
            });
        }
        let young_ms = now_ms.saturating_sub(in_flight_ms.saturating_add(CLOSE_IN_FLIGHT_MARGIN_MS));
        let row = tx.query_opt(
            "SELECT COUNT(*) FROM switch_exchanges WHERE business_date = $1 AND status = 'forwarded' \
             AND received_ms > $2",
            &[date.to_string().into(), int(young_ms)?],
        )?;
        let waiting = row.map(|r| r.u64(0)).transpose()?.unwrap_or(0);
        if waiting > 0 {
            return Ok(CloseOutcome::Refused {
                date,
                reason: format!("{waiting} request(s) of the date still wait for their issuer; try again shortly"),
            });
        }
        let changed = tx.execute(
            "UPDATE switch_business_dates SET status = $2, closed_ms = $3 WHERE business_date = $1",
            &[date.to_string().into(), STATUS_CLOSED.into(), int(now_ms)?],
        )?;
        if changed == 0 {
            tx.execute(
                "INSERT INTO switch_business_dates (business_date, status, closed_ms) VALUES ($1, $2, $3)",
                &[date.to_string().into(), STATUS_CLOSED.into(), int(now_ms)?],
            )?;
        }
        // A batch that closes a date and then assigns one must see it closed.
        keep_closed(tx, &date.to_string(), Some(now_ms))?;
        tracing::info!(%date, closed_ms = now_ms, "switch: business date closed");
        Ok(CloseOutcome::Closed { date, closed_ms: now_ms })
    })
}

pub(crate) fn status(db: &Database, cutoff: CutOff, date: BusinessDate) -> Result<DateStatus, SwitchError> {
    crate::engine::transact(db, |tx| {
        let row = tx.query_opt(
            "SELECT status, closed_ms, cutover_sent_ms FROM switch_business_dates WHERE business_date = $1",
            &[date.to_string().into()],
        )?;
        let mut status = DateStatus {
            date,
            closed: false,
            closed_ms: None,
            cutover_sent_ms: None,
            cutoff_ms: cutoff.closes_at_ms(date),
        };
        if let Some(row) = row {
            status.closed = row.text(0)? == STATUS_CLOSED;
            status.closed_ms = row.opt_i64(1)?.map(|ms| ms.max(0) as u64);
            status.cutover_sent_ms = row.opt_i64(2)?.map(|ms| ms.max(0) as u64);
        }
        Ok(status)
    })
}

/// Closed dates whose cut-over has not been sent yet, oldest first.
pub(crate) fn cutovers_due(db: &Database) -> Result<Vec<BusinessDate>, SwitchError> {
    crate::engine::transact(db, |tx| {
        let rows = tx.query(
            "SELECT business_date FROM switch_business_dates WHERE status = $1 AND cutover_sent_ms IS NULL \
             ORDER BY business_date",
            &[STATUS_CLOSED.into()],
        )?;
        rows.iter().map(|row| parse_date(&row.text(0)?)).collect()
    })
}

pub(crate) fn cutover_sent(db: &Database, date: BusinessDate, now_ms: u64) -> Result<(), SwitchError> {
    crate::engine::transact(db, |tx| {
        tx.execute(
            "UPDATE switch_business_dates SET cutover_sent_ms = $2 WHERE business_date = $1",
            &[date.to_string().into(), int(now_ms)?],
        )?;
        Ok(())
    })
}

/// Give every exchange journaled before business dates existed its date under `cutoff`, a page
/// at a time (nothing is closed yet when this has work to do: the table came with the column).
pub(crate) fn backfill(db: &Database, cutoff: CutOff) -> sqlstore::Result<()> {
    loop {
        let filled = db.transaction(|tx| {
            let rows = tx.query(
                "SELECT id, received_ms FROM switch_exchanges WHERE business_date IS NULL ORDER BY id LIMIT $1",
                &[int(BACKFILL_PAGE_ROWS_MAX as u64)?],
            )?;
            for row in &rows {
                let date = cutoff.business_date(row.u64(1)?);
                tx.execute(
                    "UPDATE switch_exchanges SET business_date = $2 WHERE id = $1",
                    &[int(row.u64(0)?)?, date.to_string().into()],
                )?;
            }
            Ok(rows.len())
        })?;
        if filled < BACKFILL_PAGE_ROWS_MAX {
            return Ok(());
        }
    }
}
