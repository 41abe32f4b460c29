//! The console's data from a network folder (`cardnet network init`): each party's
//! configuration through `eod::NetDir`, then the acquirer's, the switch's and the issuers' own
//! databases, read while they run through `sqlstore::Database::open_reader` (SQLite read-only:
//! no file created, no write lock taken, so a party's commit never waits for the console). Every
//! read is one short transaction with a bounded result. An issuer is never opened through
//! `issuer::Issuer` (its ledger has one opener, the issuer): its authorizations are read by SQL.
//!
//! Where a party's crate has a public read function it is used (risk alerts, the switch's
//! settlement and exceptions); the acquirer's
//! journal and the merchants registry have none that searches or lists without opening the
//! party with its keys, so their tables are read by SQL here (the schemas are
//! crates/acquirer/src/store.rs, crates/merchants/src/store.rs, crates/switch/src/store.rs,
//! crates/issuer/src/store.rs). The
//! console holds no key: it never needs one.

use std::path::Path;
use std::sync::Mutex;

use sqlstore::{Database, Row, Value};

use crate::data::{
    ApplicationRow, BatchRow, ClearedRow, ConsoleData, ExceptionRow, MerchantDetail, MerchantRow, MinuteFigures,
    PartyStatus, PathMessage, PayoutRow, SettlementView, StatementFile, TerminalRow, TrailRow, TxnDetail, TxnFilter,
    TxnRow,
};
use crate::error::ConsoleError;
use crate::limits::{LIST_ROWS_MAX, PATH_MESSAGES_MAX, RATE_CHART_MINUTES_MAX};
use crate::netfiles;

const TXN_COLUMNS: &str = "id, received_ms, terminal_id, merchant_id, kind, amount_minor, currency, pan_masked, rrn, \
     trace, net_stan, net_time, auth_code, response_code, status, reversed, voided";
const MS_PER_DAY: u64 = 86_400_000;
/// Exchanges of one acquirer leg (its original, a repeat's class, a reversal).
const EXCHANGES_PER_LEG_MAX: i64 = 8;

pub struct NetData {
    net: eod::NetDir,
    /// Where the parties' log files are (`*.log`), for the network page's tail.
    logs_dir: Option<std::path::PathBuf>,
    /// The acquirer's merchant settlement output (`[settlement] output_dir`): DATE/statement-….
    statements_dir: std::path::PathBuf,
    acquirer_institution: String,
    acquirer: Lazy,
    switch: Lazy,
    /// (institution id, its database), from each issuer-<id>.toml.
    issuers: Vec<(String, Lazy)>,
}

/// A party's database, opened on first use (the party may start after the console).
struct Lazy {
    what: &'static str,
    url: String,
    db: Mutex<Option<Database>>,
}

impl Lazy {
    fn get(&self) -> Result<Database, ConsoleError> {
        let mut slot = self.db.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(db) = slot.as_ref() {
            return Ok(db.clone());
        }
        let is_postgres = self.url.starts_with("postgres://") || self.url.starts_with("postgresql://");
        let path = self.url.strip_prefix("sqlite:").unwrap_or(&self.url);
        // Opening a SQLite path creates the file: a party that never ran has none, and the
        // console must not make one for it.
        if !is_postgres && path != ":memory:" && !Path::new(path).exists() {
            return Err(ConsoleError::Failure(format!(
                "the {} database {path} does not exist yet (has the {} run?)",
                self.what, self.what
            )));
        }
        let db =
            Database::open(&self.url).map_err(|e| ConsoleError::store(&format!("the {} database", self.what), e))?;
        *slot = Some(db.clone());
        Ok(db)
    }

    fn read<T>(&self, work: impl FnMut(&mut sqlstore::Tx<'_>) -> sqlstore::Result<T>) -> Result<T, ConsoleError> {
        self.get()?.transaction(work).map_err(|e| ConsoleError::store(&format!("the {} database", self.what), e))
    }
}

fn int(v: u64) -> Value {
    Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

impl NetData {
    /// The network folder at `dir`: its configurations must be there and readable (bad input
    /// otherwise); the databases are opened when first needed.
    pub fn open(dir: &Path) -> Result<NetData, ConsoleError> {
        let net = eod::NetDir::open(dir).map_err(|e| ConsoleError::BadInput(e.to_string()))?;
        let acquirer =
            acquirer::AcquirerConfig::load(&net.acquirer).map_err(|e| ConsoleError::BadInput(e.to_string()))?;
        let switch = switch::SwitchConfig::load(&net.switch).map_err(|e| ConsoleError::BadInput(e.to_string()))?;
        let lazy = |what, url: String| Lazy { what, url, db: Mutex::new(None) };
        let mut issuers = Vec::new();
        for (_, path) in &net.issuers {
            let config = issuer::IssuerConfig::load(path).map_err(|e| ConsoleError::BadInput(e.to_string()))?;
            issuers.push((config.institution_id.clone(), lazy("issuer", config.database)));
        }
        Ok(NetData {
            issuers,
            logs_dir: None,
            net,
            statements_dir: acquirer.settlement.output_dir.clone(),
            acquirer_institution: acquirer.institution_id.clone(),
            acquirer: lazy("acquirer", acquirer.database),
            switch: lazy("switch", switch.database),
        })
    }
}

fn txn_row(row: &Row) -> sqlstore::Result<TxnRow> {
    Ok(TxnRow {
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
fn where_clause(filter: &TxnFilter) -> (String, Vec<Value>) {
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

fn path_message(party: &'static str, row: &Row) -> sqlstore::Result<PathMessage> {
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

impl NetData {
    /// The acquirer's alerts. `Cases::new` finds its tables there (its migration only reads
    /// when they exist); an acquirer that never kept alerts has none, and a reader cannot
    /// create them.
    fn cases(&self) -> Result<risk::cases_store::Cases, ConsoleError> {
        risk::cases_store::Cases::new(self.acquirer.get()?).map_err(|e| {
            ConsoleError::Failure(format!("the acquirer's risk alerts (has it run with a [risk] section?): {e}"))
        })
    }

    /// Tail the `*.log` files of `dir` on the network page.
    pub fn with_logs(mut self, dir: std::path::PathBuf) -> NetData {
        self.logs_dir = Some(dir);
        self
    }

    /// The switch's messages of the exchanges the acquirer's network leg (STAN, time) made.
    /// The switch's messages of the exchanges the acquirer's network leg (STAN, time) made, and
    /// the issuer the switch routed them to.
    fn switch_path(&self, row: &TxnRow) -> Result<(Vec<PathMessage>, Option<String>), ConsoleError> {
        let (Some(stan), Some(time)) = (&row.net_stan, &row.net_time) else { return Ok((Vec::new(), None)) };
        let acquirer = self.acquirer_institution.clone();
        self.switch.read(|tx| {
            let exchanges = tx.query(
                "SELECT id, issuer FROM switch_exchanges WHERE acquirer = $1 AND acq_stan = $2 AND acq_time = $3 \
                 ORDER BY id LIMIT $4",
                &[acquirer.as_str().into(), stan.as_str().into(), time.as_str().into(), EXCHANGES_PER_LEG_MAX.into()],
            )?;
            let mut messages = Vec::new();
            let issuer = exchanges.iter().find_map(|e| e.opt_text(1).ok().flatten());
            for exchange in &exchanges {
                let rows = tx.query(
                    "SELECT at_ms, direction, leg, mti, stan, processing_code, amount_minor, pan_masked, rrn, auth_code, \
                     response_code FROM switch_messages WHERE exchange_id = $1 ORDER BY id LIMIT $2",
                    &[exchange.value(0)?.clone(), int(PATH_MESSAGES_MAX as u64)],
                )?;
                for row in &rows {
                    messages.push(path_message("switch", row)?);
                }
            }
            Ok((messages, issuer))
        })
    }

    /// The issuer's decisions on requests with the transaction's RRN within a day of it (its
    /// journal keeps no message log: one line per request answered).
    fn issuer_path(&self, issuer: &str, row: &TxnRow) -> Result<Vec<PathMessage>, ConsoleError> {
        let (Some(rrn), Some((_, db))) = (&row.rrn, self.issuers.iter().find(|(id, _)| id == issuer)) else {
            return Ok(Vec::new());
        };
        let (from, to) = (row.received_ms.saturating_sub(MS_PER_DAY), row.received_ms.saturating_add(MS_PER_DAY));
        db.read(|tx| {
            let rows = tx.query(
                "SELECT created_ms, 'decided', kind, mti, NULL, NULL, amount, NULL, rrn, auth_code, response_code \
                 FROM issuer_authorizations WHERE rrn = $1 AND created_ms >= $2 AND created_ms < $3 \
                 ORDER BY created_ms LIMIT $4",
                &[rrn.as_str().into(), int(from), int(to), int(PATH_MESSAGES_MAX as u64)],
            )?;
            rows.iter().map(|r| path_message("issuer", r)).collect()
        })
    }
}

impl ConsoleData for NetData {
    fn parties(&self) -> Result<Vec<PartyStatus>, ConsoleError> {
        let parties = self.net.parties().map_err(|e| ConsoleError::Failure(e.to_string()))?;
        Ok(parties
            .into_iter()
            .map(|p| {
                let address = p.address.or_else(|| netfiles::bound_address(&p.config));
                PartyStatus {
                    name: p.party,
                    address: address.map(|a| a.to_string()),
                    answers: address.map(eod::answers),
                }
            })
            .collect())
    }

    fn search(&self, filter: &TxnFilter, offset: usize, limit: usize) -> Result<Vec<TxnRow>, ConsoleError> {
        let (clause, mut params) = where_clause(filter);
        params.push(int(limit as u64));
        params.push(int(offset as u64));
        let n = params.len();
        let sql = format!(
            "SELECT {TXN_COLUMNS} FROM acquirer_transactions{clause} ORDER BY id DESC LIMIT ${} OFFSET ${n}",
            n - 1
        );
        self.acquirer.read(|tx| tx.query(&sql, &params)?.iter().map(txn_row).collect())
    }

    fn transaction(&self, id: u64) -> Result<Option<TxnDetail>, ConsoleError> {
        let found = self.acquirer.read(|tx| {
            let sql = format!("SELECT {TXN_COLUMNS} FROM acquirer_transactions WHERE id = $1");
            let Some(row) = tx.query_opt(&sql, &[int(id)])? else { return Ok(None) };
            let rows = tx.query(
                "SELECT at_ms, direction, leg, mti, stan, processing_code, amount_minor, pan_masked, rrn, NULL, \
                 response_code FROM acquirer_messages WHERE transaction_id = $1 ORDER BY id LIMIT $2",
                &[int(id), int(PATH_MESSAGES_MAX as u64)],
            )?;
            let messages = rows.iter().map(|r| path_message("acquirer", r)).collect::<sqlstore::Result<Vec<_>>>()?;
            Ok(Some((txn_row(&row)?, messages)))
        })?;
        let Some((row, mut messages)) = found else { return Ok(None) };
        let mut gaps = Vec::new();
        let issuer = match self.switch_path(&row) {
            Ok((more, issuer)) => {
                messages.extend(more);
                issuer
            }
            Err(error) => {
                gaps.push(format!("The switch's part of the path could not be read: {error}"));
                None
            }
        };
        if let Some(issuer) = issuer {
            match self.issuer_path(&issuer, &row) {
                Ok(more) => messages.extend(more),
                Err(error) => gaps.push(format!("Issuer {issuer}'s part of the path could not be read: {error}")),
            }
        }
        messages.sort_by_key(|m| m.at_ms);
        Ok(Some(TxnDetail { row, messages, gaps }))
    }

    fn minutes(&self, from_ms: u64, to_ms: u64) -> Result<Vec<MinuteFigures>, ConsoleError> {
        self.acquirer.read(|tx| {
            let rows = tx.query(
                "SELECT received_ms / 60000, COUNT(*), \
                 CAST(SUM(CASE WHEN answered_ms IS NULL THEN 0 ELSE answered_ms - received_ms END) AS BIGINT), \
                 COUNT(answered_ms) FROM acquirer_transactions WHERE received_ms >= $1 AND received_ms < $2 \
                 GROUP BY received_ms / 60000 ORDER BY 1 LIMIT $3",
                &[int(from_ms), int(to_ms), int(RATE_CHART_MINUTES_MAX * 2)],
            )?;
            rows.iter()
                .map(|row| {
                    let answered = row.u64(3)?;
                    let total = row.opt_i64(2)?.unwrap_or(0).max(0) as u64;
                    Ok(MinuteFigures {
                        minute_ms: row.u64(0)? * 60_000,
                        count: row.u64(1)?,
                        latency_ms_mean: total.checked_div(answered),
                    })
                })
                .collect()
        })
    }

    fn response_codes(&self, from_ms: u64, to_ms: u64) -> Result<Vec<(String, u64)>, ConsoleError> {
        self.acquirer.read(|tx| {
            let rows = tx.query(
                "SELECT COALESCE(response_code, 'none'), COUNT(*) FROM acquirer_transactions \
                 WHERE received_ms >= $1 AND received_ms < $2 GROUP BY COALESCE(response_code, 'none') ORDER BY 1 LIMIT $3",
                &[int(from_ms), int(to_ms), int(LIST_ROWS_MAX as u64)],
            )?;
            rows.iter().map(|row| Ok((row.text(0)?, row.u64(1)?))).collect()
        })
    }

    fn merchants(&self) -> Result<Vec<MerchantRow>, ConsoleError> {
        self.acquirer.read(|tx| {
            let rows = tx.query(
                "SELECT merchant_id, name, status, mcc, city, activated_ms FROM merchants_merchants \
                 ORDER BY merchant_id LIMIT $1",
                &[int(LIST_ROWS_MAX as u64)],
            )?;
            rows.iter().map(merchant_row).collect()
        })
    }

    fn merchant(&self, merchant_id: &str) -> Result<Option<MerchantDetail>, ConsoleError> {
        self.acquirer.read(|tx| {
            let Some(row) = tx.query_opt(
                "SELECT merchant_id, name, status, mcc, city, activated_ms, application_id FROM merchants_merchants \
                 WHERE merchant_id = $1",
                &[merchant_id.into()],
            )?
            else {
                return Ok(None);
            };
            let merchant = merchant_row(&row)?;
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

    fn applications(&self) -> Result<Vec<ApplicationRow>, ConsoleError> {
        self.acquirer.read(|tx| {
            let rows = tx.query(
                "SELECT application_id, business_name, mcc, city, status, merchant_id, reviewer, review_reason, \
                 created_ms FROM merchants_applications ORDER BY application_id DESC LIMIT $1",
                &[int(LIST_ROWS_MAX as u64)],
            )?;
            rows.iter()
                .map(|r| {
                    Ok(ApplicationRow {
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

    fn alerts(&self) -> Result<Vec<risk::cases::Alert>, ConsoleError> {
        let filter = risk::cases::Filter { limit: LIST_ROWS_MAX, ..risk::cases::Filter::default() };
        self.cases()?.list(&filter).map_err(|e| ConsoleError::Failure(format!("the acquirer's risk alerts: {e}")))
    }

    fn alert(&self, id: u64) -> Result<Option<risk::cases::AlertDetail>, ConsoleError> {
        match self.cases()?.show(id) {
            Ok(detail) => Ok(Some(detail)),
            Err(risk::cases::CaseError::NotFound(_)) => Ok(None),
            Err(e) => Err(ConsoleError::Failure(format!("the acquirer's risk alert {id}: {e}"))),
        }
    }

    fn settled_dates(&self) -> Result<Vec<String>, ConsoleError> {
        let dates = switch::settlement::settled_dates(&self.switch.get()?)
            .map_err(|e| ConsoleError::Failure(format!("the switch's settled dates: {e}")))?;
        Ok(dates.iter().rev().take(LIST_ROWS_MAX).map(|d| d.to_string()).collect())
    }

    fn settlement(&self, date: &str) -> Result<Option<SettlementView>, ConsoleError> {
        let Ok(business_date) = switch::BusinessDate::parse(date) else { return Ok(None) };
        let report = switch::settlement::load_report(&self.switch.get()?, business_date)
            .map_err(|e| ConsoleError::Failure(format!("the switch's settlement of {date}: {e}")))?;
        let Some(report) = report else { return Ok(None) };
        let recon_dir = self.net.recon_dir(business_date);
        let recon = netfiles::recon_summary(&recon_dir.join("summary.json"));
        let recon_items = netfiles::recon_items(&recon_dir.join("recon.jsonl"));
        Ok(Some(SettlementView { date: business_date.to_string(), positions: report.members, recon, recon_items }))
    }

    fn cleared(&self, date: &str, member: &str) -> Result<Vec<ClearedRow>, ConsoleError> {
        self.switch.read(|tx| {
            let rows = tx.query(
                "SELECT id, kind, rrn, pan_masked, amount_minor, currency, terminal_id, merchant_id, acquirer, issuer, \
                 received_ms FROM switch_exchanges WHERE business_date = $1 AND response_code = '00' \
                 AND (acquirer = $2 OR issuer = $2) ORDER BY id LIMIT $3",
                &[date.into(), member.into(), int(LIST_ROWS_MAX as u64)],
            )?;
            rows.iter()
                .map(|r| {
                    Ok(ClearedRow {
                        exchange_id: r.u64(0)?,
                        kind: r.text(1)?,
                        rrn: r.opt_text(2)?,
                        pan_masked: r.opt_text(3)?,
                        amount_minor: r.opt_i64(4)?.and_then(|v| u64::try_from(v).ok()),
                        currency: r.opt_text(5)?,
                        terminal_id: r.opt_text(6)?,
                        merchant_id: r.opt_text(7)?,
                        acquirer: r.text(8)?,
                        issuer: r.opt_text(9)?,
                        received_ms: r.u64(10)?,
                    })
                })
                .collect()
        })
    }

    fn exceptions(&self) -> Result<Vec<ExceptionRow>, ConsoleError> {
        let filter = switch::disputes::ListFilter { resolved: Some(false), date: None };
        let listed = switch::disputes::list(&self.switch.get()?, filter)
            .map_err(|e| ConsoleError::Failure(format!("the switch's exceptions: {e}")))?;
        Ok(listed
            .into_iter()
            .take(LIST_ROWS_MAX)
            .map(|e| ExceptionRow {
                id: e.id,
                date: e.date.to_string(),
                class: e.class.name().to_owned(),
                stage: e.stage.name().to_owned(),
                amount_minor: e.record.amount_minor,
                currency: e.record.currency.as_str().to_owned(),
                pan_masked: e.record.pan_masked,
                rrn: e.record.rrn.map(|r| r.as_str().to_owned()),
                acquirer: e.record.acquirer.as_str().to_owned(),
                issuer: e.record.issuer.as_str().to_owned(),
                opened_ms: e.opened_ms,
            })
            .collect())
    }

    fn payouts(&self, merchant_id: &str) -> Result<Vec<PayoutRow>, ConsoleError> {
        self.acquirer.read(|tx| {
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
                    Ok(PayoutRow { business_date: r.text(0)?, cycle: r.text(1)?, payout })
                })
                .collect()
        })
    }

    fn statement_files(&self, merchant_id: &str) -> Result<Vec<StatementFile>, ConsoleError> {
        Ok(netfiles::statement_files(&self.statements_dir, merchant_id))
    }

    fn statement_file(&self, merchant_id: &str, file: &StatementFile) -> Result<Option<Vec<u8>>, ConsoleError> {
        netfiles::statement_file(&self.statements_dir, merchant_id, file)
    }

    fn log_tail(&self) -> Result<Vec<(String, Vec<String>)>, ConsoleError> {
        Ok(self.logs_dir.as_deref().map(netfiles::log_tail).unwrap_or_default())
    }
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

fn merchant_row(row: &Row) -> sqlstore::Result<MerchantRow> {
    Ok(MerchantRow {
        merchant_id: row.text(0)?,
        name: row.text(1)?,
        status: row.text(2)?,
        mcc: row.text(3)?,
        city: row.text(4)?,
        activated_ms: row.u64(5)?,
    })
}
