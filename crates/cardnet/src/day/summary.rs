//! The day's summary: what the terminals saw (transactions by kind and response code, approval
//! rate, latency), what the network did about the faults (reversals toward the banks), and what
//! end of day found (fees, net positions, merchant payouts, reconciliation), with a check that
//! every bank's ledger balances.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::DayOptions;
use super::clerk::Tally;
use crate::cli_error::CliError;
use crate::output::outln;

/// What is read from the parties' databases after the day (the parties stopped).
pub struct Facts {
    /// Network reversals the acquirer queued: (pending, delivered, dead).
    pub acquirer_reversals: (u64, u64, u64),
    /// The switch's advices to the banks by first MTI (0420 reversal, 0120 stand-in advice):
    /// (MTI, delivered, pending).
    pub switch_advices: BTreeMap<String, (u64, u64)>,
    pub ledgers_balanced: bool,
    /// Each party's figures from its `/metrics` at the end of the day.
    pub metrics: Value,
}

impl Facts {
    pub fn read(net: &eod::NetDir) -> Result<Facts, CliError> {
        let clock: eod::SharedClock = Arc::new(clock::SystemClock);
        let failure = |what: &str, e: &dyn std::fmt::Display| CliError::Failure(format!("demo: {what}: {e}"));
        let mut acquirer_reversals = (0, 0, 0);
        for path in &net.acquirers {
            let opened = eod::merchants::open(path, &clock).map_err(|e| failure("an acquirer", &e))?;
            let (pending, delivered, dead) =
                opened.acquirer.reversal_counts().map_err(|e| failure("an acquirer's reversals", &e))?;
            acquirer_reversals =
                (acquirer_reversals.0 + pending, acquirer_reversals.1 + delivered, acquirer_reversals.2 + dead);
        }
        let mut ledgers_balanced = true;
        for (id, config) in &net.issuers {
            let config = issuer::IssuerConfig::load(config).map_err(|e| failure(&format!("issuer {id}"), &e))?;
            let issuer = eod::open_issuer(&config, &clock).map_err(|e| failure(&format!("issuer {id}"), &e))?;
            ledgers_balanced &= issuer.check_ledger().is_ok();
        }
        let switch = eod::switch_ops::open_switch(&net.switch).map_err(|e| failure("the switch", &e))?;
        let mut switch_advices: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for (id, _) in &net.issuers {
            let advices = switch.journal().advices_to(id).map_err(|e| failure("the switch's advices", &e))?;
            for advice in advices {
                let entry = switch_advices.entry(advice.mti.clone()).or_default();
                if advice.response_code.is_some() {
                    entry.0 += 1;
                } else {
                    entry.1 += 1;
                }
            }
        }
        Ok(Facts { acquirer_reversals, switch_advices, ledgers_balanced, metrics: Value::Null })
    }
}

/// Each party's `/metrics` read and parsed (`metrics::parse`, as Prometheus would read it):
/// answers sent, approvals, requests it timed, batches committed. A party whose endpoint did not
/// answer shows its error.
pub fn scrape(names: &[String], admins: &[Option<String>]) -> Value {
    let mut out = serde_json::Map::new();
    for (name, admin) in names.iter().zip(admins) {
        let read = || -> Result<Value, String> {
            let address = admin.as_deref().ok_or("no admin endpoint")?;
            let address = address.parse().map_err(|_| format!("{address} is no address"))?;
            let (status, body) = metrics::probe::get(address, "/metrics")?;
            if status != 200 {
                return Err(format!("/metrics answered {status}"));
            }
            let page = metrics::parse::parse(&body)?;
            let value = |family: &str, labels: &[(&str, &str)]| page.value(family, labels).unwrap_or(0.0) as u64;
            Ok(json!({
                "responses_total": value("cardnet_responses_total", &[]),
                "approvals_total": value("cardnet_responses_total", &[("code", "00")]),
                "requests_timed": value("cardnet_request_duration_ms_count", &[]),
                "batches_total": value("cardnet_batches_total", &[]),
            }))
        };
        out.insert(name.clone(), read().unwrap_or_else(|error| json!({"error": error})));
    }
    Value::Object(out)
}

/// The `p`-th percentile (0–100) of sorted `values`, in milliseconds.
fn percentile_ms(sorted_us: &[u64], p: u64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let index = ((sorted_us.len() as u64 - 1) * p / 100) as usize;
    sorted_us.get(index).copied().unwrap_or(0) as f64 / 1_000.0
}

pub fn summary(
    options: &DayOptions,
    tallies: &[Tally],
    end_of_day: &Value,
    facts: &Facts,
    day_ms: u64,
    elapsed: std::time::Duration,
) -> Value {
    let mut outcomes: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut latencies: Vec<u64> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    for tally in tallies {
        for (key, count) in &tally.outcomes {
            *outcomes.entry(key.clone()).or_default() += count;
        }
        latencies.extend(&tally.latencies_us);
        errors.extend(tally.errors.iter().filter(|e| !errors.contains(e)).cloned().collect::<Vec<_>>());
    }
    latencies.sort_unstable();
    let total: u64 = outcomes.values().sum();
    let approved: u64 = outcomes.iter().filter(|((_, code), _)| code == "00").map(|(_, n)| n).sum();
    let rows: Vec<Value> = outcomes
        .iter()
        .map(|((kind, code), count)| json!({"transaction": kind, "response_code": code, "count": count}))
        .collect();
    let fees_minor: i64 =
        end_of_day["merchants"].as_array().into_iter().flatten().filter_map(|m| m["fee_minor"].as_i64()).sum();
    let (pending, delivered, dead) = facts.acquirer_reversals;
    json!({
        "dir": options.dir.display().to_string(),
        "terminals": options.terminals,
        "transactions_per_terminal": options.steps,
        "transactions": rows,
        "transactions_total": total,
        "approved": approved,
        "approval_rate_pct": (approved * 1_000).checked_div(total).unwrap_or(0) as f64 / 10.0,
        "latency_ms_p50": percentile_ms(&latencies, 50),
        "latency_ms_p99": percentile_ms(&latencies, 99),
        "transactions_per_s": (total * 1_000).checked_div(day_ms).unwrap_or(0),
        "terminals_settled": tallies.iter().filter(|t| t.settled).count(),
        "reversals_to_switch": {"delivered": delivered, "pending": pending, "dead": dead},
        "advices_to_banks": facts.switch_advices.iter().map(|(mti, (delivered, pending))| {
            json!({"mti": mti, "delivered": delivered, "pending": pending})
        }).collect::<Vec<_>>(),
        "fees_minor": fees_minor,
        "net_positions": end_of_day["members"],
        "merchant_payouts": end_of_day["merchants"],
        "reconciliation": end_of_day["reconciliation"],
        "ledgers_balanced": facts.ledgers_balanced,
        "metrics": facts.metrics,
        "errors": errors,
        "day_ms": day_ms,
        "elapsed_ms": u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        "end_of_day": end_of_day,
    })
}

/// The summary for a person.
pub fn print_text(summary: &Value) -> Result<(), CliError> {
    let n = |key: &str| summary[key].as_u64().unwrap_or(0);
    outln!(
        "\nThe day: {} terminals, {} transactions in {:.1} s ({}/s), {} approved ({} %)",
        n("terminals"),
        n("transactions_total"),
        n("day_ms") as f64 / 1_000.0,
        n("transactions_per_s"),
        n("approved"),
        summary["approval_rate_pct"]
    );
    outln!("latency at the terminal: p50 {} ms, p99 {} ms", summary["latency_ms_p50"], summary["latency_ms_p99"]);
    outln!("{:<26} {:>4} {:>7}", "transaction", "code", "count");
    for row in summary["transactions"].as_array().into_iter().flatten() {
        outln!(
            "{:<26} {:>4} {:>7}",
            row["transaction"].as_str().unwrap_or_default(),
            row["response_code"].as_str().unwrap_or_default(),
            row["count"]
        );
    }
    let r = &summary["reversals_to_switch"];
    outln!("reversals the acquirer sent to the switch: {} delivered, {} pending", r["delivered"], r["pending"]);
    for advice in summary["advices_to_banks"].as_array().into_iter().flatten() {
        let what = match advice["mti"].as_str() {
            Some("0420") => "reversals (0420) the switch sent to the banks",
            Some("0120") => "stand-in advices (0120) the switch sent to the banks",
            _ => "other advices the switch sent to the banks",
        };
        outln!("{what}: {} delivered, {} pending", advice["delivered"], advice["pending"]);
    }
    outln!("merchant fees: {}", eod::amount(summary["fees_minor"].as_i64()));
    outln!("\nEnd of day:");
    crate::eod::print_text(&summary["end_of_day"])?;
    outln!("every bank's ledger balances: {}", summary["ledgers_balanced"]);
    for error in summary["errors"].as_array().into_iter().flatten() {
        outln!("note: {}", error.as_str().unwrap_or_default());
    }
    Ok(())
}
