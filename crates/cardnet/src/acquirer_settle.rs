//! `cardnet acquirer settle --config FILE --date YYYY-MM-DD [--clearing FILE] [--cycle HH:MM]`
//! and `cardnet acquirer notices --config FILE [--retry]`: merchant settlement at the acquirer
//! (crates/acquirer/src/merchant_run.rs). This file reads arguments and prints; the work is the
//! acquirer's.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use hsm::SecurityModule;
use serde_json::{Value, json};

use crate::cli_error::CliError;
use crate::output::outln;

#[derive(Args)]
pub struct SettleArgs {
    /// The acquirer's configuration (acquirer.toml).
    #[arg(long)]
    config: PathBuf,
    /// The business date to settle, YYYY-MM-DD.
    #[arg(long)]
    date: String,
    /// The acquirer's clearing file of the date from the switch: adjustments and the tie.
    #[arg(long)]
    clearing: Option<PathBuf>,
    /// A D0 cycle of [settlement] d0_cycles (HH:MM); without it, the day's last run.
    #[arg(long)]
    cycle: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct NoticesArgs {
    /// The acquirer's configuration (acquirer.toml).
    #[arg(long)]
    config: PathBuf,
    /// Send every pending notice now (otherwise only list them).
    #[arg(long)]
    retry: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Notices listed at most.
const NOTICES_LISTED_MAX: usize = 10_000;

fn failure(error: impl std::fmt::Display) -> CliError {
    CliError::Failure(error.to_string())
}

fn acquirer_error(error: acquirer::AcquirerError) -> CliError {
    match error {
        acquirer::AcquirerError::Config(e) => CliError::bad_input(e),
        other => failure(other),
    }
}

struct Opened {
    config: acquirer::AcquirerConfig,
    acquirer: acquirer::Acquirer,
    registry: Arc<merchants::Registry>,
}

fn open(config_path: &std::path::Path) -> Result<Opened, CliError> {
    let config = acquirer::AcquirerConfig::load(config_path).map_err(CliError::bad_input)?;
    let hsm: Arc<dyn SecurityModule> =
        Arc::new(hsm::SoftHsm::from_lmk_file(&config.lmk_file).map_err(CliError::bad_input)?);
    let db = sqlstore::Database::open(&config.database).map_err(failure)?;
    let clock: Arc<dyn clock::Clock> = Arc::new(clock::SystemClock);
    let registry = Arc::new(merchants::Registry::open(db.clone(), Arc::clone(&hsm), clock).map_err(failure)?);
    let directory = Arc::clone(&registry) as Arc<dyn acquirer::TerminalDirectory>;
    let acquirer = acquirer::Acquirer::with_database(&config, hsm, db, directory).map_err(acquirer_error)?;
    Ok(Opened { config, acquirer, registry })
}

fn now_ms() -> u64 {
    clock::Clock::now_ms(&clock::SystemClock)
}

/// Settle the merchants of `date` (one D0 `cycle`, or the date's final run), with the acquirer's
/// clearing file for the tie when given: the run and its report (also what `cardnet eod` runs).
pub fn settle_date(
    config_path: &std::path::Path,
    date: acquirer::BusinessDate,
    cycle_text: Option<&str>,
    clearing: Option<&std::path::Path>,
) -> Result<(acquirer::SettlementRun, Value), CliError> {
    let opened = open(config_path)?;
    let settlement = &opened.config.settlement;
    let cycle = match cycle_text {
        Some(text) => {
            let cycle = acquirer::CycleTime::parse(text).map_err(CliError::bad_input)?;
            if !settlement.cycles().map_err(CliError::bad_input)?.contains(&cycle) {
                return Err(CliError::bad_input(format!("--cycle {text} is not one of [settlement] d0_cycles")));
            }
            Some(cycle)
        }
        None => None,
    };
    // The tie covers this host's POS channel: records of terminals it does not run (another
    // channel of the same acquiring institution) are counted apart.
    let terminals = acquirer::engine::host_terminals(opened.acquirer.database()).map_err(acquirer_error)?;
    let mut other_channel = (0u64, 0u64);
    let records = match clearing {
        Some(path) => {
            let all = acquirer::read_clearing_file(path, date).map_err(acquirer_error)?;
            let (ours, others): (Vec<_>, Vec<_>) =
                all.into_iter().partition(|r| r.terminal_id.is_some_and(|t| terminals.contains(t.as_str())));
            other_channel = (others.len() as u64, others.iter().map(|r| r.amount_minor).sum());
            Some(ours)
        }
        None => None,
    };
    let ledger =
        acquirer::AcquirerLedger::open(&opened.config.ledger, Arc::new(clock::SystemClock)).map_err(acquirer_error)?;
    let options = acquirer::SettleOptions {
        date,
        cycle,
        clearing: records.as_deref(),
        output_dir: Some(settlement.output_dir.join(date.to_string())),
        now_ms: now_ms(),
    };
    let registry = Arc::clone(&opened.registry);
    let plans = move |ids: &[String]| acquirer::plans_from_registry(&registry, ids);
    let run = opened.acquirer.settle_merchants(&options, &plans, &ledger, settlement).map_err(acquirer_error)?;
    let delivery = acquirer::notice::deliver_due(opened.acquirer.database(), settlement, now_ms(), false)
        .map_err(acquirer_error)?;
    let mut report = settle_report(&run, &delivery);
    report["other_channel"] = json!({ "records": other_channel.0, "amount_minor": other_channel.1 });
    Ok((run, report))
}

pub fn settle(args: &SettleArgs) -> Result<(), CliError> {
    let date = acquirer::BusinessDate::parse(&args.date).map_err(CliError::bad_input)?;
    let (run, report) = settle_date(&args.config, date, args.cycle.as_deref(), args.clearing.as_deref())?;
    if args.json {
        crate::output::json(&report)?;
        return Ok(());
    }
    let state = if run.already_settled { "already settled (nothing changed)" } else { "settled" };
    outln!("{} run {}: {state}, {} payouts", run.business_date, run.cycle, run.payouts.len());
    for p in &run.payouts {
        outln!(
            "  {} {} gross {} fee {} net {} paid {} ({})",
            p.merchant_id,
            p.currency,
            p.gross_minor,
            p.fee_minor,
            p.net_minor,
            p.payout_date,
            p.settlement_cycle
        );
    }
    for tie in &run.ties {
        let verdict = if tie.tie_ok { "ties" } else { "does NOT tie" };
        outln!(
            "  {} {verdict}: payouts + fee income {} against the net position {} (difference {})",
            tie.currency,
            tie.ours_minor,
            tie.position_minor,
            tie.difference_minor
        );
    }
    for file in &run.files {
        outln!("  wrote {}", file.display());
    }
    let notices = &report["notices"];
    outln!(
        "notices: {} delivered, {} to retry, {} stored",
        notices["delivered"],
        notices["to_retry"],
        notices["stored"]
    );
    Ok(())
}

fn settle_report(run: &acquirer::SettlementRun, delivery: &acquirer::notice::DeliveryReport) -> Value {
    let merchants: Vec<Value> = run
        .payouts
        .iter()
        .map(|p| {
            json!({
                "merchant_id": p.merchant_id,
                "currency": p.currency,
                "settlement_cycle": p.settlement_cycle,
                "gross_minor": p.gross_minor,
                "voids_minor": p.voids_minor,
                "refunds_minor": p.refunds_minor,
                "fee_minor": p.fee_minor,
                "adjustments_minor": p.adjustments_minor,
                "net_minor": p.net_minor,
                "items": p.items,
                "payout_date": p.payout_date.to_string(),
                "reference": p.reference,
            })
        })
        .collect();
    let mut totals: std::collections::BTreeMap<&str, (u64, i64, i64, u64)> = std::collections::BTreeMap::new();
    for p in &run.payouts {
        let t = totals.entry(&p.currency).or_default();
        t.0 += p.gross_minor;
        t.1 += p.fee_minor;
        t.2 += p.net_minor;
        t.3 += 1;
    }
    let totals: Vec<Value> = totals
        .into_iter()
        .map(|(currency, (gross, fee, net, payouts))| {
            json!({"currency": currency, "payouts": payouts, "gross_minor": gross, "fee_minor": fee, "net_minor": net})
        })
        .collect();
    let ties: Vec<Value> = run
        .ties
        .iter()
        .map(|t| {
            json!({
                "currency": t.currency,
                "position_minor": t.position_minor,
                "payouts_and_fee_income_minor": t.ours_minor,
                "mdr_minor": t.mdr_minor,
                "interchange_minor": t.interchange_minor,
                "network_fee_minor": t.network_fee_minor,
                "difference_minor": t.difference_minor,
                "tie_ok": t.tie_ok,
            })
        })
        .collect();
    let tie_ok = if run.ties.is_empty() { Value::Null } else { Value::Bool(run.ties.iter().all(|t| t.tie_ok)) };
    json!({
        "business_date": run.business_date.to_string(),
        "cycle": run.cycle,
        "run_id": run.run_id,
        "already_settled": run.already_settled,
        "merchants": merchants,
        "totals": totals,
        "tie_ok": tie_ok,
        "ties": ties,
        "files": run.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
        "notices": {
            "attempted": delivery.attempted,
            "delivered": delivery.delivered,
            "to_retry": delivery.failed,
            "dead": delivery.dead,
            "stored": delivery.stored,
        },
    })
}

pub fn notices(args: &NoticesArgs) -> Result<(), CliError> {
    let opened = open(&args.config)?;
    let db = opened.acquirer.database();
    let delivery = if args.retry {
        Some(acquirer::notice::deliver_due(db, &opened.config.settlement, now_ms(), true).map_err(acquirer_error)?)
    } else {
        None
    };
    let notices = acquirer::notice::list(db, NOTICES_LISTED_MAX).map_err(acquirer_error)?;
    if args.json {
        let listed: Vec<Value> = notices
            .iter()
            .map(|n| {
                json!({
                    "notice_id": n.id,
                    "payout_id": n.payout_id,
                    "merchant_id": n.merchant_id,
                    "state": n.state,
                    "attempts": n.attempts,
                    "next_attempt_ms": n.next_attempt_ms,
                    "delivered_ms": n.delivered_ms,
                    "notice": serde_json::from_str::<Value>(&n.body).unwrap_or(Value::Null),
                })
            })
            .collect();
        let delivery = delivery.map(|d| {
            json!({"attempted": d.attempted, "delivered": d.delivered, "to_retry": d.failed, "dead": d.dead, "stored": d.stored})
        });
        crate::output::json(&json!({"notices": listed, "delivery": delivery}))?;
        return Ok(());
    }
    if let Some(d) = delivery {
        outln!(
            "sent {}: {} delivered, {} to retry, {} dead, {} stored",
            d.attempted,
            d.delivered,
            d.failed,
            d.dead,
            d.stored
        );
    }
    outln!("{} notices", notices.len());
    for n in &notices {
        outln!(
            "  #{} payout {} merchant {}: {} after {} attempts",
            n.id,
            n.payout_id,
            n.merchant_id,
            n.state,
            n.attempts
        );
    }
    Ok(())
}
