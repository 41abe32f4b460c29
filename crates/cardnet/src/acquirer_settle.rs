//! `cardnet acquirer settle --config FILE --date YYYY-MM-DD [--clearing FILE] [--cycle HH:MM]`
//! and `cardnet acquirer notices --config FILE [--retry]`: merchant settlement at the acquirer
//! (crates/acquirer/src/merchant_run.rs). This file reads arguments and prints; the work is the
//! acquirer's.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
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

fn now_ms() -> u64 {
    clock::Clock::now_ms(&clock::SystemClock)
}

pub fn settle(args: &SettleArgs) -> Result<(), CliError> {
    let date = acquirer::BusinessDate::parse(&args.date).map_err(CliError::bad_input)?;
    let clock: ::eod::SharedClock = Arc::new(clock::SystemClock);
    let (run, report) =
        ::eod::merchants::settle_date(&args.config, date, args.cycle.as_deref(), args.clearing.as_deref(), &clock)?;
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

pub fn notices(args: &NoticesArgs) -> Result<(), CliError> {
    let clock: ::eod::SharedClock = Arc::new(clock::SystemClock);
    let opened = ::eod::merchants::open(&args.config, &clock)?;
    let db = opened.acquirer.database();
    let delivery = if args.retry {
        Some(
            acquirer::notice::deliver_due(db, &opened.config.settlement, now_ms(), true)
                .map_err(::eod::EodError::from)?,
        )
    } else {
        None
    };
    let notices = acquirer::notice::list(db, NOTICES_LISTED_MAX).map_err(::eod::EodError::from)?;
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
