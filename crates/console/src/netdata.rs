//! The console's data from a network folder (`cardnet network init`): each party's
//! configuration through `eod::NetDir`, then every acquirer's, the switch's and the issuers' own
//! databases, read while they run through `sqlstore::Database::open_reader` (SQLite read-only:
//! no file created, no write lock taken, so a party's commit never waits for the console). Every
//! read is one short transaction with a bounded result. An issuer is never opened through
//! `issuer::Issuer` (its ledger has one opener, the issuer): its authorizations are read by SQL.
//!
//! Each acquirer is read by its own `netdata_acquirer::AcquirerReader`; the lists of several
//! are merged here, bounded as one list. Where a party's crate has a public read function it is
//! used (the switch's settlement and exceptions); the switch's exchanges and messages and the
//! issuers' authorizations are read by SQL (schemas: crates/switch/src/store.rs,
//! crates/issuer/src/store.rs). The console holds no key: it never needs one.

use std::path::Path;

use crate::data::{
    AcquirerAlert, AcquirerFigures, AlertChange, ApplicationRow, ClearedRow, ConsoleData, ExceptionChange,
    ExceptionRow, MerchantDetail, MerchantRef, MerchantRow, MinuteFigures, PartyStatus, PathMessage, PayoutRow,
    SettlementView, StatementFile, TxnDetail, TxnFilter, TxnRow,
};
use crate::error::ConsoleError;
use crate::limits::{LIST_ROWS_MAX, PATH_MESSAGES_MAX, SEARCH_DEPTH_ROWS_MAX};
use crate::netdata_acquirer::{AcquirerReader, path_message};
use crate::netdb::{Lazy, int};
use crate::netfiles;

const MS_PER_DAY: u64 = 86_400_000;
/// Exchanges of one acquirer leg (its original, a repeat's class, a reversal).
const EXCHANGES_PER_LEG_MAX: i64 = 8;

pub struct NetData {
    net: eod::NetDir,
    /// Where the parties' log files are (`*.log`), for the network page's tail.
    logs_dir: Option<std::path::PathBuf>,
    /// One reader per acquirer, in `NetDir.acquirers`' order (`acquirer.toml` first).
    acquirers: Vec<AcquirerReader>,
    switch: Lazy,
    /// (institution id, its database), from each issuer-<id>.toml.
    issuers: Vec<(String, Lazy)>,
}

impl NetData {
    /// The network folder at `dir`: its configurations must be there and readable (bad input
    /// otherwise); the databases are opened when first needed.
    pub fn open(dir: &Path) -> Result<NetData, ConsoleError> {
        let net = eod::NetDir::open(dir).map_err(|e| ConsoleError::BadInput(e.to_string()))?;
        let mut acquirers = Vec::new();
        for path in &net.acquirers {
            let config = acquirer::AcquirerConfig::load(path).map_err(|e| ConsoleError::BadInput(e.to_string()))?;
            acquirers.push(AcquirerReader {
                db: Lazy::new(format!("acquirer {}", config.institution_id), config.database),
                statements_dir: config.settlement.output_dir.clone(),
                institution: config.institution_id,
            });
        }
        let switch = switch::SwitchConfig::load(&net.switch).map_err(|e| ConsoleError::BadInput(e.to_string()))?;
        let mut issuers = Vec::new();
        for (_, path) in &net.issuers {
            let config = issuer::IssuerConfig::load(path).map_err(|e| ConsoleError::BadInput(e.to_string()))?;
            issuers.push((config.institution_id.clone(), Lazy::new("issuer", config.database)));
        }
        Ok(NetData { issuers, logs_dir: None, net, acquirers, switch: Lazy::new("switch", switch.database) })
    }
}

impl NetData {
    /// The acquirer of institution id `id`.
    fn acquirer(&self, id: &str) -> Option<&AcquirerReader> {
        self.acquirers.iter().find(|a| a.institution == id)
    }

    /// The acquirer named, or every acquirer when none is.
    fn readers_of<'a>(&'a self, acquirer: Option<&'a str>) -> impl Iterator<Item = &'a AcquirerReader> + 'a {
        self.acquirers.iter().filter(move |a| acquirer.is_none_or(|id| a.institution == id))
    }

    /// Tail the `*.log` files of `dir` on the network page.
    pub fn with_logs(mut self, dir: std::path::PathBuf) -> NetData {
        self.logs_dir = Some(dir);
        self
    }

    /// The switch's messages of the exchanges the acquirer's network leg (STAN, time) made, and
    /// the issuer the switch routed them to.
    /// The switch knows the leg by the acquirer's institution id: the row's own acquirer.
    fn switch_path(&self, row: &TxnRow) -> Result<(Vec<PathMessage>, Option<String>), ConsoleError> {
        let (Some(stan), Some(time)) = (&row.net_stan, &row.net_time) else { return Ok((Vec::new(), None)) };
        let acquirer = row.acquirer.clone();
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

    fn acquirers(&self) -> Vec<String> {
        self.acquirers.iter().map(|a| a.institution.clone()).collect()
    }

    /// Each acquirer gives its newest `offset + limit` rows; merged newest first (received
    /// time, then the acquirers' order, then row id) the page is cut from them. The depth is
    /// bounded (`SEARCH_DEPTH_ROWS_MAX`): a deeper page is refused, not read.
    fn search(&self, filter: &TxnFilter, offset: usize, limit: usize) -> Result<Vec<TxnRow>, ConsoleError> {
        let depth = offset.saturating_add(limit);
        if offset > SEARCH_DEPTH_ROWS_MAX {
            return Err(ConsoleError::BadInput(format!(
                "page: at most {SEARCH_DEPTH_ROWS_MAX} rows deep; narrow the search"
            )));
        }
        let mut rows = Vec::new();
        for (order, reader) in self.acquirers.iter().enumerate() {
            rows.extend(reader.search(filter, depth)?.into_iter().map(|row| (order, row)));
        }
        rows.sort_by(|(a_order, a), (b_order, b)| {
            b.received_ms.cmp(&a.received_ms).then(a_order.cmp(b_order)).then(b.id.cmp(&a.id))
        });
        Ok(rows.into_iter().skip(offset).take(limit).map(|(_, row)| row).collect())
    }

    fn transaction(&self, acquirer: &str, id: u64) -> Result<Option<TxnDetail>, ConsoleError> {
        let Some(reader) = self.acquirer(acquirer) else { return Ok(None) };
        let Some((row, mut messages)) = reader.transaction(id)? else { return Ok(None) };
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

    fn acquirer_figures(&self, from_ms: u64, to_ms: u64) -> Vec<AcquirerFigures> {
        self.acquirers.iter().map(|a| a.figures(from_ms, to_ms)).collect()
    }

    /// The acquirers' minutes added up (one chart of the network's rate and latency).
    fn minutes(&self, from_ms: u64, to_ms: u64) -> Result<Vec<MinuteFigures>, ConsoleError> {
        // minute -> (count, latency total, answered)
        let mut merged: std::collections::BTreeMap<u64, (u64, u64, u64)> = std::collections::BTreeMap::new();
        for reader in &self.acquirers {
            for (minute_ms, count, total, answered) in reader.minutes(from_ms, to_ms)? {
                let slot = merged.entry(minute_ms).or_default();
                slot.0 += count;
                slot.1 = slot.1.saturating_add(total);
                slot.2 += answered;
            }
        }
        Ok(merged
            .into_iter()
            .map(|(minute_ms, (count, total, answered))| MinuteFigures {
                minute_ms,
                count,
                latency_ms_mean: total.checked_div(answered),
            })
            .collect())
    }

    fn response_codes(&self, from_ms: u64, to_ms: u64) -> Result<Vec<(String, u64)>, ConsoleError> {
        let mut merged: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
        for reader in &self.acquirers {
            for (code, count) in reader.response_codes(from_ms, to_ms)? {
                *merged.entry(code).or_default() += count;
            }
        }
        Ok(merged.into_iter().take(LIST_ROWS_MAX).collect())
    }

    fn merchants(&self) -> Result<Vec<MerchantRow>, ConsoleError> {
        let mut all = Vec::new();
        for reader in &self.acquirers {
            all.extend(reader.merchants()?);
        }
        all.truncate(LIST_ROWS_MAX);
        Ok(all)
    }

    fn merchant(&self, merchant: &MerchantRef) -> Result<Option<MerchantDetail>, ConsoleError> {
        for reader in self.readers_of(merchant.acquirer.as_deref()) {
            if let Some(detail) = reader.merchant(&merchant.merchant_id)? {
                return Ok(Some(detail));
            }
        }
        Ok(None)
    }

    fn applications(&self) -> Result<Vec<ApplicationRow>, ConsoleError> {
        let mut all = Vec::new();
        for reader in &self.acquirers {
            all.extend(reader.applications()?);
        }
        all.truncate(LIST_ROWS_MAX);
        Ok(all)
    }

    /// Newest first across the acquirers (created time, then the acquirers' order).
    fn alerts(&self) -> Result<Vec<AcquirerAlert>, ConsoleError> {
        let mut all = Vec::new();
        for reader in &self.acquirers {
            all.extend(reader.alerts()?);
        }
        all.sort_by_key(|a| std::cmp::Reverse(a.alert.created_ms));
        all.truncate(LIST_ROWS_MAX);
        Ok(all)
    }

    fn alert(&self, acquirer: &str, id: u64) -> Result<Option<risk::cases::AlertDetail>, ConsoleError> {
        match self.acquirer(acquirer) {
            Some(reader) => reader.alert(id),
            None => Ok(None),
        }
    }

    fn act_on_alert(
        &self,
        acquirer: &str,
        change: &AlertChange<'_>,
    ) -> Result<Option<risk::cases::Alert>, ConsoleError> {
        match self.acquirer(acquirer) {
            Some(reader) => reader.act_on_alert(change),
            None => Ok(None),
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

    /// Through `switch::disputes::resolve` over a connection opened for this action only; the
    /// clearing date found as `cardnet dispute resolve` finds it, from the business dates'
    /// table and the switch's configured cut-off (no key is loaded).
    fn resolve_exception(&self, change: &ExceptionChange<'_>) -> Result<Option<String>, ConsoleError> {
        use switch::disputes::{self, DisputeError};
        let Some(action) = disputes::Action::from_name(change.action) else {
            let names: Vec<&str> = disputes::Action::ALL.iter().map(|a| a.name()).collect();
            return Err(ConsoleError::BadInput(format!("action {:?}: one of {}", change.action, names.join(", "))));
        };
        let what = format!("the switch's exception {}", change.id);
        let error = |e: DisputeError| match e {
            DisputeError::Store(_) => ConsoleError::Failure(format!("{what}: {e}")),
            other => ConsoleError::BadInput(other.to_string()),
        };
        let cutoff = switch::SwitchConfig::load(&self.net.switch)
            .map_err(|e| ConsoleError::Failure(format!("the switch's configuration: {e}")))?
            .cutoff_resolved();
        let db = self.switch.open_for_action()?;
        let found_on = match disputes::show(&db, change.id) {
            Ok((exception, _)) => exception.date,
            Err(DisputeError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(error(e)),
        };
        let clearing_date = disputes::clearing_date(&db, cutoff, found_on, change.now_ms).map_err(error)?;
        let resolution = disputes::Resolution {
            action,
            by: change.by.to_owned(),
            reason: change.reason.to_owned(),
            amount_minor: change.amount_minor,
        };
        let done = disputes::resolve(&db, change.id, &resolution, change.now_ms, clearing_date).map_err(error)?;
        let clears = match &done.record {
            Some(r) => format!(", clears on {} as record {}", r.date, r.reference),
            None => ", no money moves".to_owned(),
        };
        Ok(Some(format!("{}, now {}{clears}", action.name(), done.exception.stage.status())))
    }

    /// Newest business date first across the acquirers named.
    fn payouts(&self, merchant: &MerchantRef) -> Result<Vec<PayoutRow>, ConsoleError> {
        let mut all = Vec::new();
        for reader in self.readers_of(merchant.acquirer.as_deref()) {
            all.extend(reader.payouts(&merchant.merchant_id)?);
        }
        all.sort_by(|a, b| b.business_date.cmp(&a.business_date).then(b.cycle.cmp(&a.cycle)));
        all.truncate(LIST_ROWS_MAX);
        Ok(all)
    }

    fn statement_files(&self, merchant: &MerchantRef) -> Result<Vec<StatementFile>, ConsoleError> {
        let mut all = Vec::new();
        for reader in self.readers_of(merchant.acquirer.as_deref()) {
            for file in netfiles::statement_files(&reader.statements_dir, &merchant.merchant_id) {
                // Two acquirers may share one output folder: list a file once.
                if !all.contains(&file) {
                    all.push(file);
                }
            }
        }
        all.sort_by(|a, b| b.date.cmp(&a.date).then(a.name.cmp(&b.name)));
        Ok(all)
    }

    fn statement_file(&self, merchant: &MerchantRef, file: &StatementFile) -> Result<Option<Vec<u8>>, ConsoleError> {
        for reader in self.readers_of(merchant.acquirer.as_deref()) {
            if let Some(bytes) = netfiles::statement_file(&reader.statements_dir, &merchant.merchant_id, file)? {
                return Ok(Some(bytes));
            }
        }
        Ok(None)
    }

    fn log_tail(&self) -> Result<Vec<(String, Vec<String>)>, ConsoleError> {
        Ok(self.logs_dir.as_deref().map(netfiles::log_tail).unwrap_or_default())
    }
}
