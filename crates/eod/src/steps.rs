//! The switch's and the issuers' steps of end of day, over the network folder's files.

use clearing::BusinessDate;
use serde_json::{Value, json};

use crate::net::NetDir;
use crate::{EodError, SharedClock};

const DONE: &str = "done";
const ALREADY_DONE: &str = "already_done";

fn status(already: bool) -> &'static str {
    if already { ALREADY_DONE } else { DONE }
}

/// The switch closes the date (its cut-off must have passed on the switch's clock).
pub fn cutoff(net: &NetDir, date: BusinessDate, early: bool, clock: &SharedClock) -> Result<Value, EodError> {
    let outcome = crate::switch_ops::close(&net.switch, date, early, clock)?;
    match outcome {
        switch::CloseOutcome::Closed { closed_ms, .. } => Ok(json!({
            "status": DONE, "closed_ms": closed_ms, "line": format!("{date} closed"),
        })),
        switch::CloseOutcome::AlreadyClosed { closed_ms, .. } => Ok(json!({
            "status": ALREADY_DONE, "closed_ms": closed_ms, "line": format!("{date} was closed already"),
        })),
        switch::CloseOutcome::Refused { reason, .. } => {
            Err(EodError::bad_input(format!("business date {date} cannot close yet: {reason} (--early closes it now)")))
        }
    }
}

/// The switch writes one clearing file per member (both forms). A rerun writes the same bytes;
/// it says so when every file was there with those bytes already.
pub fn clearing(net: &NetDir, date: BusinessDate) -> Result<Value, EodError> {
    let dir = net.clearing_root().join(date.to_string());
    let before = file_contents(&dir);
    let run = crate::switch_ops::write_clearing(&net.switch, date, &net.clearing_root())?;
    let after = file_contents(&dir);
    let unchanged = !before.is_empty() && before == after;
    // Every record is in two files: its acquirer's and its issuer's.
    let file_records: u64 = run.members.iter().map(|m| m.records).sum();
    let records = file_records / 2;
    let members: Vec<Value> = run
        .members
        .iter()
        .map(|m| {
            json!({
                "member": m.member, "records": m.records,
                "debit_total_minor": m.debit_total_minor, "credit_total_minor": m.credit_total_minor,
                "settlement_total_minor": m.settlement_total_minor,
            })
        })
        .collect();
    Ok(json!({
        "status": status(unchanged),
        "records": records,
        "file_records": file_records,
        "dir": run.dir.display().to_string(),
        "members": members,
        "line": format!("{records} record(s), {} member file(s) in {}", run.members.len(), run.dir.display()),
    }))
}

/// Every file of a folder with its bytes, by name (clearing files of one date: a few per member).
fn file_contents(dir: &std::path::Path) -> Vec<(std::ffi::OsString, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<_> = entries
        .flatten()
        .filter(|e| e.path().is_file())
        .filter_map(|e| std::fs::read(e.path()).ok().map(|bytes| (e.file_name(), bytes)))
        .collect();
    files.sort();
    files
}

/// Net settlement at the switch from the clearing files.
pub fn settle(net: &NetDir, date: BusinessDate) -> Result<Value, EodError> {
    let settled = crate::switch_ops::settle_date(&net.switch, date, &net.clearing_root(), &net.dir.join("settlement"))?;
    let report = &settled.report;
    let mut value = report.to_json();
    let sum: i64 = report.members.iter().map(|m| m.net_minor).sum();
    if let Some(object) = value.as_object_mut() {
        object.insert("status".into(), json!(status(report.already_settled)));
        object.insert("report_dir".into(), json!(settled.out_dir.display().to_string()));
        object.insert(
            "line".into(),
            json!(format!(
                "{} position(s), Σ {sum} minor units; report in {}",
                report.members.len(),
                settled.out_dir.display()
            )),
        );
    }
    Ok(value)
}

/// Each issuer posts its own clearing file.
pub fn post(net: &NetDir, date: BusinessDate, clock: &SharedClock) -> Result<Value, EodError> {
    let dir = net.clearing_root().join(date.to_string());
    let mut issuers = Vec::new();
    let mut all_already = true;
    let mut posted_records = 0u64;
    for (id, config_path) in &net.issuers {
        let config = issuer::IssuerConfig::load(config_path).map_err(EodError::bad_input)?;
        let issuer = open_issuer(&config, clock)?;
        let file = dir.join(format!("clearing-{id}.txt"));
        let report = issuer.post_clearing_file(&file)?;
        issuer.check_ledger().map_err(|e| EodError::failure(format!("issuer {id}: ledger check: {e}")))?;
        all_already &= report.already_posted;
        posted_records += report.records;
        let outcomes: serde_json::Map<String, Value> = report
            .outcomes
            .iter()
            .filter(|(_, records, _)| *records > 0)
            .map(|(outcome, records, moved)| {
                (outcome.name().to_owned(), json!({ "records": records, "moved_minor": moved }))
            })
            .collect();
        issuers.push(json!({
            "issuer": id, "records": report.records, "already_posted": report.already_posted,
            "outcomes": outcomes, "file": file.display().to_string(),
        }));
    }
    Ok(json!({
        "status": status(all_already),
        "issuers": issuers,
        "line": format!("{posted_records} record(s) posted by {} issuer(s)", net.issuers.len()),
    }))
}

/// Each acquirer's merchant settlement of the date (its final run), tied to its clearing file.
/// One acquirer: its report. Several: theirs under `acquirers`, every merchant's payout in
/// `merchants` (each naming its acquirer), `tie_ok` when every acquirer's payouts tie.
pub fn merchants(net: &NetDir, date: BusinessDate, clock: &SharedClock) -> Result<Value, EodError> {
    let mut reports = Vec::with_capacity(net.acquirers.len());
    let (mut payouts, mut net_minor, mut all_already) = (0, 0i64, true);
    for path in &net.acquirers {
        let config = acquirer::AcquirerConfig::load(path).map_err(EodError::bad_input)?;
        let file = net.clearing_root().join(date.to_string()).join(format!("clearing-{}.txt", config.institution_id));
        let (run, mut report) = crate::merchants::settle_date(path, date, None, Some(&file), clock)?;
        let own_minor: i64 = run.payouts.iter().map(|p| p.net_minor).sum();
        (payouts, net_minor, all_already) =
            (payouts + run.payouts.len(), net_minor + own_minor, all_already && run.already_settled);
        if let Some(object) = report.as_object_mut() {
            object.insert("acquirer".into(), json!(config.institution_id));
            object.insert("status".into(), json!(status(run.already_settled)));
            object.insert(
                "line".into(),
                json!(format!("{} payout(s), {} to merchants", run.payouts.len(), crate::amount(Some(own_minor)))),
            );
        }
        reports.push(report);
    }
    if reports.len() == 1 {
        return Ok(reports.pop().unwrap_or(Value::Null));
    }
    let merchants: Vec<Value> = reports
        .iter()
        .flat_map(|r| {
            let acquirer = r["acquirer"].clone();
            r["merchants"].as_array().cloned().unwrap_or_default().into_iter().map(move |mut m| {
                m["acquirer"] = acquirer.clone();
                m
            })
        })
        .collect();
    Ok(json!({
        "status": status(all_already),
        "tie_ok": reports.iter().all(|r| r["tie_ok"] == true),
        "merchants": merchants,
        "acquirers": reports,
        "line": format!("{payouts} payout(s) by {} acquirers, {} to merchants", net.acquirers.len(), crate::amount(Some(net_minor))),
    }))
}

/// An issuer of the folder, opened on its LMK file and `clock` (its ledger's timestamps).
pub fn open_issuer(config: &issuer::IssuerConfig, clock: &SharedClock) -> Result<issuer::Issuer, EodError> {
    let hsm: std::sync::Arc<dyn hsm::SecurityModule> = std::sync::Arc::new(config.soft_hsm()?);
    Ok(issuer::Issuer::open(config, hsm, std::sync::Arc::clone(clock))?)
}
