//! The acquirer's merchant settlement of a business date over its configuration file (what
//! `cardnet acquirer settle` and `cardnet eod` run; the work is the acquirer's,
//! crates/acquirer/src/merchant_run.rs), on the clock the caller passes.

use std::sync::Arc;

use hsm::SecurityModule;
use serde_json::{Value, json};

use crate::{EodError, SharedClock};

/// The acquirer over its database, with the merchants registry (its fee plans) on the same one.
pub struct Opened {
    pub config: acquirer::AcquirerConfig,
    pub acquirer: acquirer::Acquirer,
    pub registry: Arc<merchants::Registry>,
}

/// Open the acquirer of `config_path` (no listening) on `clock`.
pub fn open(config_path: &std::path::Path, clock: &SharedClock) -> Result<Opened, EodError> {
    let config = acquirer::AcquirerConfig::load(config_path).map_err(EodError::bad_input)?;
    let hsm: Arc<dyn SecurityModule> =
        Arc::new(hsm::SoftHsm::from_lmk_file(&config.lmk_file).map_err(EodError::bad_input)?);
    let db = sqlstore::Database::open(&config.database).map_err(EodError::failure)?;
    let registry = Arc::new(
        merchants::Registry::open(db.clone(), Arc::clone(&hsm), Arc::clone(clock)).map_err(EodError::failure)?,
    );
    let directory = Arc::clone(&registry) as Arc<dyn acquirer::TerminalDirectory>;
    let acquirer = acquirer::Acquirer::with_database(&config, hsm, db, directory).map_err(EodError::from)?;
    Ok(Opened { config, acquirer, registry })
}

/// Settle the merchants of `date` (one D0 `cycle`, or the date's final run), with the acquirer's
/// clearing file for the tie when given, on `clock`: the run and its report.
pub fn settle_date(
    config_path: &std::path::Path,
    date: acquirer::BusinessDate,
    cycle_text: Option<&str>,
    clearing: Option<&std::path::Path>,
    clock: &SharedClock,
) -> Result<(acquirer::SettlementRun, Value), EodError> {
    let opened = open(config_path, clock)?;
    let settlement = &opened.config.settlement;
    let cycle = match cycle_text {
        Some(text) => {
            let cycle = acquirer::CycleTime::parse(text).map_err(EodError::bad_input)?;
            if !settlement.cycles().map_err(EodError::bad_input)?.contains(&cycle) {
                return Err(EodError::bad_input(format!("--cycle {text} is not one of [settlement] d0_cycles")));
            }
            Some(cycle)
        }
        None => None,
    };
    // The tie covers this host's POS channel: records of terminals it does not run (another
    // channel of the same acquiring institution) are counted apart.
    let terminals = acquirer::engine::host_terminals(opened.acquirer.database()).map_err(EodError::from)?;
    let mut other_channel = (0u64, 0u64);
    let records = match clearing {
        Some(path) => {
            let all = acquirer::read_clearing_file(path, date).map_err(EodError::from)?;
            let (ours, others): (Vec<_>, Vec<_>) =
                all.into_iter().partition(|r| r.terminal_id.is_some_and(|t| terminals.contains(t.as_str())));
            other_channel = (others.len() as u64, others.iter().map(|r| r.amount_minor).sum());
            Some(ours)
        }
        None => None,
    };
    let ledger = acquirer::AcquirerLedger::open(&opened.config.ledger, Arc::clone(clock)).map_err(EodError::from)?;
    let options = acquirer::SettleOptions {
        date,
        cycle,
        clearing: records.as_deref(),
        output_dir: Some(settlement.output_dir.join(date.to_string())),
        now_ms: clock.now_ms(),
    };
    let registry = Arc::clone(&opened.registry);
    let plans = move |ids: &[String]| acquirer::plans_from_registry(&registry, ids);
    let run = opened.acquirer.settle_merchants(&options, &plans, &ledger, settlement).map_err(EodError::from)?;
    let delivery = acquirer::notice::deliver_due(opened.acquirer.database(), settlement, clock.now_ms(), false)
        .map_err(EodError::from)?;
    let mut report = settle_report(&run, &delivery);
    report["other_channel"] = json!({ "records": other_channel.0, "amount_minor": other_channel.1 });
    Ok((run, report))
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
