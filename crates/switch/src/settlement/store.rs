//! Settled dates in the switch's database: one row per date with its positions (and the
//! balances its statements show) and its totals per currency. Written once per date, in one
//! transaction, after the ledger holds the date's movement; never updated.

use clearing::BusinessDate;
use sqlstore::{Database, Tx, Value};

use super::{CurrencyTotals, MemberSettlement, Result, SettlementError, SettlementReport};

const MIGRATION: &str = "switch-settlement-v1";

const DDL: &[&str] = &[
    "CREATE TABLE switch_settled_dates (
        settlement_date TEXT PRIMARY KEY,
        network TEXT NOT NULL,
        settled_ms BIGINT NOT NULL,
        positions BIGINT NOT NULL,
        records BIGINT NOT NULL
    )",
    "CREATE TABLE switch_settlement_positions (
        settlement_date TEXT NOT NULL,
        member TEXT NOT NULL,
        currency TEXT NOT NULL,
        net_minor BIGINT NOT NULL,
        receivable_minor BIGINT NOT NULL,
        payable_minor BIGINT NOT NULL,
        interchange_minor BIGINT NOT NULL,
        network_fee_minor BIGINT NOT NULL,
        records BIGINT NOT NULL,
        opening_minor BIGINT NOT NULL,
        closing_minor BIGINT NOT NULL,
        PRIMARY KEY (settlement_date, member, currency)
    )",
    "CREATE TABLE switch_settlement_totals (
        settlement_date TEXT NOT NULL,
        currency TEXT NOT NULL,
        records BIGINT NOT NULL,
        debit_total_minor BIGINT NOT NULL,
        credit_total_minor BIGINT NOT NULL,
        interchange_minor BIGINT NOT NULL,
        network_fee_income_minor BIGINT NOT NULL,
        receives_minor BIGINT NOT NULL,
        pays_minor BIGINT NOT NULL,
        sum_minor BIGINT NOT NULL,
        PRIMARY KEY (settlement_date, currency)
    )",
];

pub(super) fn migrate(db: &Database) -> sqlstore::Result<()> {
    db.migrate(MIGRATION, DDL)
}

fn int(value: u64) -> sqlstore::Result<Value> {
    Value::from_u64(value)
}

/// Whether `date` is settled (inside the caller's transaction: exceptions check it before
/// putting a record on a date).
pub(crate) fn is_settled_in(tx: &mut Tx<'_>, date: BusinessDate) -> sqlstore::Result<bool> {
    let row = tx.query_opt(
        "SELECT settlement_date FROM switch_settled_dates WHERE settlement_date = $1",
        &[date.to_string().into()],
    )?;
    Ok(row.is_some())
}

pub fn is_settled(db: &Database, date: BusinessDate) -> Result<bool> {
    Ok(db.transaction(|tx| is_settled_in(tx, date))?)
}

/// Every settled date, oldest first.
pub fn settled_dates(db: &Database) -> Result<Vec<BusinessDate>> {
    let rows = db
        .transaction(|tx| tx.query("SELECT settlement_date FROM switch_settled_dates ORDER BY settlement_date", &[]))?;
    rows.iter()
        .map(|row| {
            let text = row.text(0)?;
            BusinessDate::parse(&text).map_err(|e| SettlementError::Input(format!("switch_settled_dates: {e}")))
        })
        .collect()
}

/// Record `report`'s date as settled. `false` when the date was recorded already (by a
/// concurrent run): nothing is written then.
pub(super) fn record_settled(db: &Database, report: &SettlementReport, settled_ms: u64) -> Result<bool> {
    let date = report.date.to_string();
    let records: u64 = report.totals.iter().map(|t| t.records).sum();
    let written = db.transaction(|tx| {
        if is_settled_in(tx, report.date)? {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO switch_settled_dates (settlement_date, network, settled_ms, positions, records) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                date.as_str().into(),
                report.network.as_str().into(),
                int(settled_ms)?,
                int(report.members.len() as u64)?,
                int(records)?,
            ],
        )?;
        for m in &report.members {
            tx.execute(
                "INSERT INTO switch_settlement_positions (settlement_date, member, currency, net_minor, \
                 receivable_minor, payable_minor, interchange_minor, network_fee_minor, records, opening_minor, \
                 closing_minor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    date.as_str().into(),
                    m.member.as_str().into(),
                    m.currency.as_str().into(),
                    m.net_minor.into(),
                    m.receivable_minor.into(),
                    m.payable_minor.into(),
                    m.interchange_minor.into(),
                    m.network_fee_minor.into(),
                    int(m.records)?,
                    m.opening_minor.into(),
                    m.closing_minor.into(),
                ],
            )?;
        }
        for t in &report.totals {
            tx.execute(
                "INSERT INTO switch_settlement_totals (settlement_date, currency, records, debit_total_minor, \
                 credit_total_minor, interchange_minor, network_fee_income_minor, receives_minor, pays_minor, \
                 sum_minor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    date.as_str().into(),
                    t.currency.as_str().into(),
                    int(t.records)?,
                    int(t.debit_total_minor)?,
                    int(t.credit_total_minor)?,
                    t.interchange_minor.into(),
                    t.network_fee_income_minor.into(),
                    t.receives_minor.into(),
                    t.pays_minor.into(),
                    t.sum_minor.into(),
                ],
            )?;
        }
        Ok(true)
    });
    match written {
        Ok(written) => Ok(written),
        // A concurrent run inserted the date first (PostgreSQL): its record stands.
        Err(error) if error.is_unique_violation() => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// The settled report of `date` (with `already_settled`), if the date is settled.
pub fn load_report(db: &Database, date: BusinessDate) -> Result<Option<SettlementReport>> {
    let key = date.to_string();
    let loaded = db.transaction(|tx| {
        let Some(head) = tx
            .query_opt("SELECT network FROM switch_settled_dates WHERE settlement_date = $1", &[key.as_str().into()])?
        else {
            return Ok(None);
        };
        let positions = tx.query(
            "SELECT member, currency, net_minor, receivable_minor, payable_minor, interchange_minor, \
             network_fee_minor, records, opening_minor, closing_minor FROM switch_settlement_positions \
             WHERE settlement_date = $1 ORDER BY member, currency",
            &[key.as_str().into()],
        )?;
        let totals = tx.query(
            "SELECT currency, records, debit_total_minor, credit_total_minor, interchange_minor, \
             network_fee_income_minor, receives_minor, pays_minor, sum_minor FROM switch_settlement_totals \
             WHERE settlement_date = $1 ORDER BY currency",
            &[key.as_str().into()],
        )?;
        Ok(Some((head.text(0)?, positions, totals)))
    })?;
    let Some((network, positions, totals)) = loaded else { return Ok(None) };
    let members = positions
        .iter()
        .map(|r| {
            Ok(MemberSettlement {
                member: r.text(0)?,
                currency: r.text(1)?,
                net_minor: r.i64(2)?,
                receivable_minor: r.i64(3)?,
                payable_minor: r.i64(4)?,
                interchange_minor: r.i64(5)?,
                network_fee_minor: r.i64(6)?,
                records: r.u64(7)?,
                opening_minor: r.i64(8)?,
                closing_minor: r.i64(9)?,
            })
        })
        .collect::<sqlstore::Result<Vec<_>>>()?;
    let totals = totals
        .iter()
        .map(|r| {
            Ok(CurrencyTotals {
                currency: r.text(0)?,
                records: r.u64(1)?,
                debit_total_minor: r.u64(2)?,
                credit_total_minor: r.u64(3)?,
                interchange_minor: r.i64(4)?,
                network_fee_income_minor: r.i64(5)?,
                receives_minor: r.i64(6)?,
                pays_minor: r.i64(7)?,
                sum_minor: r.i64(8)?,
            })
        })
        .collect::<sqlstore::Result<Vec<_>>>()?;
    Ok(Some(SettlementReport { date, network, already_settled: true, members, totals }))
}
