//! One acquirer of the network folder as the console reads it: its journal, its merchants
//! registry, its risk alerts, its payouts and statement files. `NetData` keeps one per acquirer
//! and merges what they read. The journal and the registry have no public read function that
//! searches or lists without opening the party with its keys, so their tables are read by SQL
//! (schemas: crates/acquirer/src/store.rs, crates/merchants/src/store.rs).

use sqlstore::{Row, Value};

use crate::data::{
    AcquirerAlert, AcquirerFigures, AlertAction, AlertChange, ApplicationRow, BatchRow, MerchantDetail, MerchantRow,
    PathMessage, PayoutRow, TerminalRow, TrailRow, TxnFilter, TxnRow,
};
use crate::error::ConsoleError;
use crate::limits::{LIST_ROWS_MAX, PATH_MESSAGES_MAX, RATE_CHART_MINUTES_MAX};
use crate::netdb::{Lazy, int};

const TXN_COLUMNS: &str = "id, received_ms, terminal_id, merchant_id, kind, amount_minor, currency, pan_masked, rrn, \
     trace, net_stan, net_time, auth_code, response_code, status, reversed, voided";

pub struct AcquirerReader {
    /// Its institution id (field 32), as the switch names it in `switch_exchanges.acquirer`.
    pub institution: String,
    pub db: Lazy,
    /// Its merchant settlement output (`[settlement] output_dir`): DATE/statement-….
    pub statements_dir: std::path::PathBuf,
}

impl AcquirerReader {
    /// Its alerts, `None` when it has never kept any (no `[risk]` section: its database has
    /// no risk tables, and a reader cannot create them). `Cases::new` only reads once its
    /// migration is recorded, so it is asked for only then.
    fn cases(&self) -> Result<Option<risk::cases_store::Cases>, ConsoleError> {
        /// The migration `risk::cases_store::Cases::new` records (crates/risk/src/cases_store.rs).
        const RISK_CASES_MIGRATION: &str = "risk-cases-v1";
        let db = self.db.get()?;
        // A database without the migrations table has no risk tables either: not an error.
        let kept = db
            .transaction(|tx| {
                tx.query_opt("SELECT name FROM sqlstore_migrations WHERE name = $1", &[RISK_CASES_MIGRATION.into()])
            })
            .is_ok_and(|row| row.is_some());
        if !kept {
            return Ok(None);
        }
        let cases = risk::cases_store::Cases::new(db)
            .map_err(|e| ConsoleError::Failure(format!("acquirer {}'s risk alerts: {e}", self.institution)))?;
        Ok(Some(cases))
    }

    /// Newest first (received time, then row id), the first `limit` rows: the caller merges
    /// the acquirers' lists, so each gives as many rows as the merged page could need.
    pub fn search(&self, filter: &TxnFilter, limit: usize) -> Result<Vec<TxnRow>, ConsoleError> {
        if filter.acquirer.as_deref().is_some_and(|a| a != self.institution) {
            return Ok(Vec::new());
        }
        let (clause, mut params) = where_clause(filter);
        params.push(int(limit as u64));
        let n = params.len();
        let sql = format!(
            "SELECT {TXN_COLUMNS} FROM acquirer_transactions{clause} ORDER BY received_ms DESC, id DESC LIMIT ${n}"
        );
        self.db.read(|tx| tx.query(&sql, &params)?.iter().map(|r| txn_row(&self.institution, r)).collect())
    }

    /// One journal row and the acquirer's own messages of its path.
    pub fn transaction(&self, id: u64) -> Result<Option<(TxnRow, Vec<PathMessage>)>, ConsoleError> {
        self.db.read(|tx| {
            let sql = format!("SELECT {TXN_COLUMNS} FROM acquirer_transactions WHERE id = $1");
            let Some(row) = tx.query_opt(&sql, &[int(id)])? else { return Ok(None) };
            let rows = tx.query(
                "SELECT at_ms, direction, leg, mti, stan, processing_code, amount_minor, pan_masked, rrn, NULL, \
                 response_code FROM acquirer_messages WHERE transaction_id = $1 ORDER BY id LIMIT $2",
                &[int(id), int(PATH_MESSAGES_MAX as u64)],
            )?;
            let messages = rows.iter().map(|r| path_message("acquirer", r)).collect::<sqlstore::Result<Vec<_>>>()?;
            Ok(Some((txn_row(&self.institution, &row)?, messages)))
        })
    }

    /// Its transactions and approvals of `[from_ms, to_ms)`; an unreadable journal says why.
    pub fn figures(&self, from_ms: u64, to_ms: u64) -> AcquirerFigures {
        let counted = self.db.read(|tx| {
            let row = tx.query_opt(
                "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN status = 'approved' THEN 1 ELSE 0 END), 0) AS BIGINT) \
                 FROM acquirer_transactions WHERE received_ms >= $1 AND received_ms < $2",
                &[int(from_ms), int(to_ms)],
            )?;
            match row {
                Some(row) => Ok((row.u64(0)?, row.u64(1)?)),
                None => Ok((0, 0)),
            }
        });
        let (transactions, approved, error) = match counted {
            Ok((all, approved)) => (all, approved, None),
            Err(error) => (0, 0, Some(error.to_string())),
        };
        AcquirerFigures { acquirer: self.institution.clone(), transactions, approved, error }
    }

    /// Per minute: (minute, transactions, total latency of the answered ones, answered), sums
    /// the caller adds across acquirers before taking the mean.
    pub fn minutes(&self, from_ms: u64, to_ms: u64) -> Result<Vec<(u64, u64, u64, u64)>, ConsoleError> {
        self.db.read(|tx| {
            let rows = tx.query(
                "SELECT received_ms / 60000, COUNT(*), \
                 CAST(SUM(CASE WHEN answered_ms IS NULL THEN 0 ELSE answered_ms - received_ms END) AS BIGINT), \
                 COUNT(answered_ms) FROM acquirer_transactions WHERE received_ms >= $1 AND received_ms < $2 \
                 GROUP BY received_ms / 60000 ORDER BY 1 LIMIT $3",
                &[int(from_ms), int(to_ms), int(RATE_CHART_MINUTES_MAX * 2)],
            )?;
            rows.iter()
                .map(|row| {
                    let total = row.opt_i64(2)?.unwrap_or(0).max(0) as u64;
                    Ok((row.u64(0)? * 60_000, row.u64(1)?, total, row.u64(3)?))
                })
                .collect()
        })
    }

    pub fn response_codes(&self, from_ms: u64, to_ms: u64) -> Result<Vec<(String, u64)>, ConsoleError> {
        self.db.read(|tx| {
            let rows = tx.query(
                "SELECT COALESCE(response_code, 'none'), COUNT(*) FROM acquirer_transactions \
                 WHERE received_ms >= $1 AND received_ms < $2 GROUP BY COALESCE(response_code, 'none') ORDER BY 1 LIMIT $3",
                &[int(from_ms), int(to_ms), int(LIST_ROWS_MAX as u64)],
            )?;
            rows.iter().map(|row| Ok((row.text(0)?, row.u64(1)?))).collect()
        })
    }

    pub fn merchants(&self) -> Result<Vec<MerchantRow>, ConsoleError> {
        self.db.read(|tx| {
            let rows = tx.query(
                "SELECT merchant_id, name, status, mcc, city, activated_ms FROM merchants_merchants \
                 ORDER BY merchant_id LIMIT $1",
                &[int(LIST_ROWS_MAX as u64)],
            )?;
            rows.iter().map(|r| merchant_row(&self.institution, r)).collect()
        })
    }

    pub fn merchant(&self, merchant_id: &str) -> Result<Option<MerchantDetail>, ConsoleError> {
        self.db.read(|tx| {
            let Some(row) = tx.query_opt(
                "SELECT merchant_id, name, status, mcc, city, activated_ms, application_id FROM merchants_merchants \
                 WHERE merchant_id = $1",
                &[merchant_id.into()],
            )?
            else {
                return Ok(None);
            };
            let merchant = merchant_row(&self.institution, &row)?;
            let application = row.i64(6)?.to_string();
            let limit = int(LIST_ROWS_MAX as u64);
            let terminals = tx.query(
                "SELECT t.terminal_id, t.status, t.model, t.last_sign_on_ms, h.batch_no, h.signed_on \
                 FROM merchants_terminals t LEFT JOIN acquirer_terminals h ON h.terminal_id = t.terminal_id \
                 WHERE t.merchant_id = $1 ORDER BY t.terminal_id LIMIT $2",
                &[merchant_id.into(), limit.clone()],
            )?;
            let terminals = terminals
                .iter()
                .map(|r| {
                    Ok(TerminalRow {
                        terminal_id: r.text(0)?,
                        status: r.text(1)?,
                        model: r.opt_text(2)?,
                        last_sign_on_ms: r.opt_i64(3)?.and_then(|v| u64::try_from(v).ok()),
                        batch_no: r.opt_i64(4)?.and_then(|v| u64::try_from(v).ok()),
                        signed_on: r.opt_i64(5)?.map(|v| v != 0),
                    })
                })
                .collect::<sqlstore::Result<Vec<_>>>()?;
            let trail = tx.query(
                "SELECT at_ms, subject, event, actor, reason FROM merchants_trail \
                 WHERE (subject = 'merchant' AND subject_id = $1) OR (subject = 'application' AND subject_id = $2) \
                 ORDER BY at_ms, seq LIMIT $3",
                &[merchant_id.into(), application.as_str().into(), limit],
            )?;
            let trail = trail
                .iter()
                .map(|r| {
                    Ok(TrailRow {
                        at_ms: r.u64(0)?,
                        subject: r.text(1)?,
                        event: r.text(2)?,
                        actor: r.text(3)?,
                        reason: r.text(4)?,
                    })
                })
                .collect::<sqlstore::Result<Vec<_>>>()?;
            let batches = tx.query(
                "SELECT s.terminal_id, s.batch_no, s.terminal_totals, s.host_totals, s.domestic_result, \
                 s.foreign_result, s.upload_state, s.settled_ms FROM acquirer_settlements s \
                 JOIN merchants_terminals t ON t.terminal_id = s.terminal_id WHERE t.merchant_id = $1 \
                 ORDER BY s.settled_ms DESC LIMIT $2",
                &[merchant_id.into(), int(LIST_ROWS_MAX as u64)],
            )?;
            let batches = batches.iter().map(batch_row).collect::<sqlstore::Result<Vec<_>>>()?;
            Ok(Some(MerchantDetail { merchant, terminals, trail, batches }))
        })
    }

    pub fn applications(&self) -> Result<Vec<ApplicationRow>, ConsoleError> {
        self.db.read(|tx| {
            let rows = tx.query(
                "SELECT application_id, business_name, mcc, city, status, merchant_id, reviewer, review_reason, \
                 created_ms FROM merchants_applications ORDER BY application_id DESC LIMIT $1",
                &[int(LIST_ROWS_MAX as u64)],
            )?;
            rows.iter()
                .map(|r| {
                    Ok(ApplicationRow {
                        acquirer: self.institution.clone(),
                        application_id: r.i64(0)?,
                        business_name: r.text(1)?,
                        mcc: r.text(2)?,
                        city: r.text(3)?,
                        status: r.text(4)?,
                        merchant_id: r.opt_text(5)?,
                        reviewer: r.opt_text(6)?,
                        review_reason: r.opt_text(7)?,
                        created_ms: r.u64(8)?,
                    })
                })
                .collect()
        })
    }

    pub fn alerts(&self) -> Result<Vec<AcquirerAlert>, ConsoleError> {
        let filter = risk::cases::Filter { limit: LIST_ROWS_MAX, ..risk::cases::Filter::default() };
        let Some(cases) = self.cases()? else { return Ok(Vec::new()) };
        let alerts = cases
            .list(&filter)
            .map_err(|e| ConsoleError::Failure(format!("acquirer {}'s risk alerts: {e}", self.institution)))?;
        Ok(alerts.into_iter().map(|alert| AcquirerAlert { acquirer: self.institution.clone(), alert }).collect())
    }

    pub fn alert(&self, id: u64) -> Result<Option<risk::cases::AlertDetail>, ConsoleError> {
        let Some(cases) = self.cases()? else { return Ok(None) };
        match cases.show(id) {
            Ok(detail) => Ok(Some(detail)),
            Err(risk::cases::CaseError::NotFound(_)) => Ok(None),
            Err(e) => Err(ConsoleError::Failure(format!("acquirer {}'s risk alert {id}: {e}", self.institution))),
        }
    }

    /// An operator's action on alert `id`, through `risk::cases_store::Cases` (its status and
    /// its own trail in one short transaction, which the running acquirer's WAL allows) over a
    /// connection opened for this action only: the console writes no other table of the
    /// acquirer's. The alert is looked up first by the reader, so an unknown id opens nothing.
    pub fn act_on_alert(&self, change: &AlertChange<'_>) -> Result<Option<risk::cases::Alert>, ConsoleError> {
        let AlertChange { id, by, action, note, now_ms } = *change;
        if self.alert(id)?.is_none() {
            return Ok(None);
        }
        let what = format!("acquirer {}'s risk alert {id}", self.institution);
        let cases = risk::cases_store::Cases::new(self.db.open_for_action()?)
            .map_err(|e| ConsoleError::Failure(format!("{what}: {e}")))?;
        let done = match action {
            AlertAction::Assign { to } => cases.assign(id, by, to, note, now_ms),
            AlertAction::Close { fraud } => cases.close(id, by, *fraud, note, now_ms),
        };
        match done {
            Ok(alert) => Ok(Some(alert)),
            Err(risk::cases::CaseError::NotFound(_)) => Ok(None),
            Err(e) if e.is_bad_input() => Err(ConsoleError::BadInput(e.to_string())),
            Err(e) => Err(ConsoleError::Failure(format!("{what}: {e}"))),
        }
    }

    pub fn payouts(&self, merchant_id: &str) -> Result<Vec<PayoutRow>, ConsoleError> {
        self.db.read(|tx| {
            let rows = tx.query(
                "SELECT business_date, cycle, id, currency, settlement_cycle, gross_minor, voids_minor, refunds_minor, \
                 fee_minor, adjustments_minor, net_minor, items, payout_date, bank_code, account_no, reference \
                 FROM acquirer_payouts WHERE merchant_id = $1 ORDER BY business_date DESC, cycle DESC, currency LIMIT $2",
                &[merchant_id.into(), int(LIST_ROWS_MAX as u64)],
            )?;
            rows.iter()
                .map(|r| {
                    let payout = acquirer::merchant_run::Payout {
                        payout_id: r.u64(2)?,
                        merchant_id: merchant_id.to_owned(),
                        currency: r.text(3)?,
                        settlement_cycle: r.text(4)?,
                        gross_minor: r.u64(5)?,
                        voids_minor: r.u64(6)?,
                        refunds_minor: r.u64(7)?,
                        fee_minor: r.i64(8)?,
                        adjustments_minor: r.i64(9)?,
                        net_minor: r.i64(10)?,
                        items: r.u64(11)?,
                        payout_date: switch::BusinessDate::parse(&r.text(12)?)
                            .map_err(|_| sqlstore::Error::column(12, "a date YYYY-MM-DD"))?,
                        bank_code: r.text(13)?,
                        account_no: r.text(14)?,
                        reference: r.text(15)?,
                    };
                    Ok(PayoutRow { acquirer: self.institution.clone(), business_date: r.text(0)?, cycle: r.text(1)?, payout })
                })
                .collect()
        })
    }
}

fn txn_row(acquirer: &str, row: &Row) -> sqlstore::Result<TxnRow> {
    Ok(TxnRow {
        acquirer: acquirer.to_owned(),
        id: row.u64(0)?,
        received_ms: row.u64(1)?,
        terminal_id: row.text(2)?,
        merchant_id: row.text(3)?,
        kind: row.text(4)?,
        amount_minor: row.u64(5)?,
        currency: row.text(6)?,
        pan_masked: row.opt_text(7)?,
        rrn: row.opt_text(8)?,
        trace: row.text(9)?,
        net_stan: row.opt_text(10)?,
        net_time: row.opt_text(11)?,
        auth_code: row.opt_text(12)?,
        response_code: row.opt_text(13)?,
        status: row.text(14)?,
        reversed: row.i64(15)? != 0,
        voided: row.i64(16)? != 0,
    })
}

/// The WHERE clause and parameters of a filter (values bound, never spliced in).
pub(crate) fn where_clause(filter: &TxnFilter) -> (String, Vec<Value>) {
    let mut sql = String::from(" WHERE 1 = 1");
    let mut params: Vec<Value> = Vec::new();
    let mut add = |condition: &str, value: Value| {
        params.push(value);
        sql.push_str(&condition.replace('?', &format!("${}", params.len())));
    };
    if let Some(v) = &filter.rrn {
        add(" AND rrn = ?", v.as_str().into());
    }
    if let Some(v) = &filter.stan {
        add(" AND (trace = ? OR net_stan = ?)", v.as_str().into());
    }
    if let Some(v) = &filter.auth_code {
        add(" AND auth_code = ?", v.as_str().into());
    }
    if let Some(v) = &filter.terminal {
        add(" AND terminal_id = ?", v.as_str().into());
    }
    if let Some(v) = &filter.merchant {
        add(" AND merchant_id = ?", v.as_str().into());
    }
    if let Some(v) = &filter.pan_masked {
        add(" AND pan_masked = ?", v.as_str().into());
    }
    if let Some(v) = &filter.last4 {
        add(" AND pan_masked LIKE ?", format!("%{v}").into());
    }
    if let Some(v) = filter.from_ms {
        add(" AND received_ms >= ?", int(v));
    }
    if let Some(v) = filter.to_ms {
        add(" AND received_ms < ?", int(v));
    }
    (sql, params)
}

pub(crate) fn path_message(party: &'static str, row: &Row) -> sqlstore::Result<PathMessage> {
    Ok(PathMessage {
        party,
        at_ms: row.u64(0)?,
        direction: row.text(1)?,
        leg: row.text(2)?,
        mti: row.text(3)?,
        stan: row.opt_text(4)?,
        processing_code: row.opt_text(5)?,
        amount_minor: row.opt_i64(6)?.and_then(|v| u64::try_from(v).ok()),
        pan_masked: row.opt_text(7)?,
        rrn: row.opt_text(8)?,
        auth_code: row.opt_text(9)?,
        response_code: row.opt_text(10)?,
    })
}

fn batch_row(row: &Row) -> sqlstore::Result<BatchRow> {
    let batch_no = u32::try_from(row.u64(1)?).map_err(|_| sqlstore::Error::column(1, "a batch number"))?;
    Ok(BatchRow {
        settled_ms: row.u64(7)?,
        record: acquirer::SettlementRecord {
            terminal_id: row.parsed(0, "terminal_id")?,
            batch_no,
            terminal_totals: row.text(2)?,
            host_totals: row.text(3)?,
            domestic_result: row.text(4)?,
            foreign_result: row.text(5)?,
            upload_state: row.text(6)?,
        },
    })
}

fn merchant_row(acquirer: &str, row: &Row) -> sqlstore::Result<MerchantRow> {
    Ok(MerchantRow {
        acquirer: acquirer.to_owned(),
        merchant_id: row.text(0)?,
        name: row.text(1)?,
        status: row.text(2)?,
        mcc: row.text(3)?,
        city: row.text(4)?,
        activated_ms: row.u64(5)?,
    })
}
