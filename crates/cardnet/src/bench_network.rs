//! `cardnet bench network`: authorizations per second through the whole network — acquirer link
//! → switch → issuer → ledger and back, over TCP on loopback, every party durable on its own
//! SQLite files (or PostgreSQL) — with a PIN on every purchase (translated by the switch,
//! verified by the issuer) and a MAC on every message.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use network::TransactionKind;
use network::request::EntryMode;
use provision::card::SimCard;
use provision::layout::ISSUER_A;
use provision::link::AcquirerLink;
use provision::local::{LocalNetwork, NetworkOptions, blocking};
use serde_json::json;

use crate::cli_error::CliError;
use crate::output::outln;

/// Purchases one card may make in a day (the development products' count limit).
const PURCHASES_PER_CARD_MAX: u64 = issuer::dev::DAILY_COUNT_LIMIT as u64;
/// Bounds of the run, so a typo cannot ask for a day of work.
const TRANSACTIONS_MAX: u64 = 1_000_000;
const CONCURRENCY_MAX: usize = 1_024;

#[derive(Args)]
pub struct NetworkArgs {
    /// Purchases to send.
    #[arg(long, default_value_t = 2_000)]
    transactions: u64,
    /// Purchases in flight at once (each waits for its answer before the next).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Run every party on PostgreSQL at this URL instead of SQLite files.
    #[arg(long)]
    pg_url: Option<String>,
    /// Where the databases go (default: a fresh folder under the system temp dir, removed after).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn failure(what: &str) -> impl Fn(&dyn std::fmt::Display) -> CliError + '_ {
    move |e| CliError::Failure(format!("bench network: {what}: {e}"))
}

pub fn run(args: NetworkArgs) -> Result<(), CliError> {
    if args.transactions == 0 || args.transactions > TRANSACTIONS_MAX {
        return Err(CliError::bad_input(format!("--transactions must be 1 to {TRANSACTIONS_MAX}")));
    }
    if args.concurrency == 0 || args.concurrency > CONCURRENCY_MAX {
        return Err(CliError::bad_input(format!("--concurrency must be 1 to {CONCURRENCY_MAX}")));
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| failure("runtime")(&e))?;
    runtime.block_on(bench(args))
}

/// One worker: its cards, purchases sent one after another; returns each latency and code.
async fn worker(link: Arc<AcquirerLink>, mut cards: Vec<SimCard>, count: u64) -> Result<Vec<(Duration, bool)>, String> {
    let mut results = Vec::with_capacity(count as usize);
    for n in 0..count {
        let index = (n / PURCHASES_PER_CARD_MAX) as usize;
        let card = cards.get_mut(index).ok_or("not enough cards")?;
        let pin = String::from_utf8_lossy(card.pin.expose()).into_owned();
        let input = card
            .present(EntryMode::Swipe, &provision::card::purchase(100), Some(&pin), link.hsm(), link.zpk())
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let exchange = link.transact(TransactionKind::Purchase, &input, 100, None).await.map_err(|e| e.to_string())?;
        results.push((started.elapsed(), exchange.code().is_ok_and(domain::ResponseCode::is_approved)));
    }
    Ok(results)
}

async fn bench(args: NetworkArgs) -> Result<(), CliError> {
    let keep = args.dir.is_some();
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("cardnet-bench-network-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir);
    let options = NetworkOptions { dir: dir.clone(), issuer_timeout_ms: 10_000, postgres_url: args.pg_url.clone() };
    let net = LocalNetwork::start(options).await.map_err(|e| failure("start")(&e))?;
    if !net.wait_issuer_ready(ISSUER_A, 10_000).await {
        return Err(CliError::Failure("bench network: the switch did not sign on to the issuer".into()));
    }
    let link = Arc::new(net.link("BENCH001").await.map_err(|e| failure("connect")(&e))?);
    // Cards: enough that none passes its daily count, split among the workers.
    let per_worker = args.transactions.div_ceil(args.concurrency as u64);
    let mut workers = Vec::with_capacity(args.concurrency);
    let mut remaining = args.transactions;
    let issued_started = Instant::now();
    for _ in 0..args.concurrency {
        let count = per_worker.min(remaining);
        remaining -= count;
        if count == 0 {
            break;
        }
        let mut cards = Vec::new();
        for _ in 0..count.div_ceil(PURCHASES_PER_CARD_MAX) {
            cards.push(
                net.issue(ISSUER_A, issuer::dev::DEBIT_PRODUCT, Some(1_000_000)).map_err(|e| failure("issue")(&e))?,
            );
        }
        workers.push((cards, count));
    }
    let issue_ms = issued_started.elapsed().as_millis();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(workers.len());
    for (cards, count) in workers {
        tasks.push(tokio::spawn(worker(Arc::clone(&link), cards, count)));
    }
    let mut latencies = Vec::with_capacity(args.transactions as usize);
    let mut approved = 0u64;
    for task in tasks {
        for (latency, ok) in task.await.map_err(|e| failure("worker")(&e))?.map_err(|e| failure("purchase")(&e))? {
            latencies.push(latency);
            approved += u64::from(ok);
        }
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let percentile = |p: f64| -> f64 {
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(index).map_or(0.0, |d| d.as_secs_f64() * 1_000.0)
    };
    let per_s = latencies.len() as f64 / elapsed.as_secs_f64();
    let backend = if args.pg_url.is_some() { "postgres" } else { "sqlite" };
    let issuer = net.issuer(ISSUER_A).map_err(|e| failure("issuer")(&e))?;
    blocking(|| issuer.check_ledger()).map_err(|e| failure("ledger invariants")(&e))?;
    net.shutdown().await;
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if args.json {
        outln!(
            "{}",
            json!({
                "backend": backend, "transactions": latencies.len(), "approved": approved, "concurrency": args.concurrency,
                "authorizations_per_s": (per_s * 10.0).round() / 10.0, "elapsed_ms": elapsed.as_millis() as u64,
                "latency_ms_p50": percentile(0.50), "latency_ms_p99": percentile(0.99), "latency_ms_max": percentile(1.0),
                "cards_issued_ms": issue_ms as u64, "ledger_balanced": true,
            })
        );
    } else {
        outln!(
            "{} purchases ({approved} approved) on {backend}, {} in flight: {per_s:.0} authorizations/s",
            latencies.len(),
            args.concurrency
        );
        outln!(
            "latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; ledger balanced",
            percentile(0.5),
            percentile(0.99),
            percentile(1.0)
        );
    }
    if approved != latencies.len() as u64 {
        return Err(CliError::Failure(format!(
            "bench network: only {approved} of {} purchases were approved",
            latencies.len()
        )));
    }
    Ok(())
}
