//! `cardnet bench ledger`: load the ledger the way `tigerbeetle benchmark` does — N accounts, M
//! transfers in batches, uniform or hot-account, a share of two-phase transfers posted or voided
//! in the next batch — and report throughput and batch latency, then check the invariants.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ledger::{Account, BATCH_EVENTS_MAX, CreateTransferResult, Ledger, Store, SystemClock, Transfer, TransferFlags};
use serde_json::json;

use crate::cli_error::CliError;
use crate::output::outln;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Durable transfers per second and batch latency of the ledger.
    Ledger(LedgerArgs),
    /// Authorizations per second through acquirer link, switch, issuer and ledger over TCP.
    Network(crate::bench_network::NetworkArgs),
    /// End of day on a generated business date: clearing files and net positions per second.
    Eod(crate::bench_eod::EodArgs),
    /// Open-loop load of virtual POS terminals against acquirer, switch and issuers as processes.
    E2e(crate::bench_e2e::E2eArgs),
    /// Risk-engine evaluation latency: 50 rules, up to a million tracked cards, one evaluation at a time.
    Risk(crate::bench_risk::RiskArgs),
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Distribution {
    /// Debit and credit accounts drawn uniformly from all accounts.
    Uniform,
    /// Every transfer credits one of `--hot-accounts` accounts (by default one: 100 % hot).
    Hot,
}

#[derive(Args)]
pub struct LedgerArgs {
    /// The store to measure: sqlite (a file) or postgres.
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: Backend,
    /// How many accounts the transfers move money between.
    #[arg(long, default_value_t = 10_000)]
    accounts: u64,
    /// How many transfers in all.
    #[arg(long, default_value_t = 1_000_000)]
    transfers: u64,
    /// Transfers per batch, 1 to 8,190.
    #[arg(long, default_value_t = BATCH_EVENTS_MAX)]
    batch_size: usize,
    /// How transfers pick accounts: uniform, or hot (most on a few accounts).
    #[arg(long, value_enum, default_value = "uniform")]
    distribution: Distribution,
    /// With `--distribution hot`: how many hot accounts.
    #[arg(long, default_value_t = 1)]
    hot_accounts: u64,
    /// Percent of transfers created pending; each is posted (half) or voided (half) in the next batch.
    #[arg(long, default_value_t = 10)]
    pending_percent: u8,
    /// SQLite database file (default: a fresh file in a temporary directory, removed afterwards).
    #[arg(long)]
    path: Option<PathBuf>,
    /// PostgreSQL URL (default: $CARDNET_TEST_PG, else postgres://postgres@127.0.0.1:5432/test).
    #[arg(long)]
    pg_url: Option<String>,
    /// Seed of the random account choice (the same seed, the same run).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(command: BenchCommand) -> Result<(), CliError> {
    match command {
        BenchCommand::Ledger(args) => ledger_bench(args),
        BenchCommand::Network(args) => crate::bench_network::run(args),
        BenchCommand::Eod(args) => crate::bench_eod::run(args),
        BenchCommand::E2e(args) => crate::bench_e2e::run(args),
        BenchCommand::Risk(args) => crate::bench_risk::run(args),
    }
}

/// xorshift64*: a small deterministic generator, so a seed reproduces a run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

const LEDGER: u32 = 156;
const CODE: u16 = 1;

fn ledger_bench(args: LedgerArgs) -> Result<(), CliError> {
    if !(1..=BATCH_EVENTS_MAX).contains(&args.batch_size) {
        return Err(CliError::bad_input(format!("--batch-size must be 1 to {BATCH_EVENTS_MAX}")));
    }
    if args.accounts < 2 || args.transfers == 0 || args.pending_percent > 100 {
        return Err(CliError::bad_input("need at least 2 accounts, 1 transfer, and --pending-percent 0 to 100"));
    }
    if args.distribution == Distribution::Hot && !(1..args.accounts).contains(&args.hot_accounts) {
        return Err(CliError::bad_input("--hot-accounts must be at least 1 and fewer than --accounts"));
    }
    match args.backend {
        Backend::Sqlite => {
            let directory = std::env::temp_dir().join(format!("cardnet-bench-{}", std::process::id()));
            let path = args.path.clone().unwrap_or_else(|| directory.join("ledger.sqlite"));
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let store = ledger::sqlite::SqliteStore::open(&path).map_err(|e| CliError::Failure(e.to_string()))?;
            let result = drive(store, &args, &format!("sqlite {}", path.display()));
            if args.path.is_none() {
                let _ = std::fs::remove_dir_all(&directory);
            }
            result
        }
        Backend::Postgres => {
            let url = args.pg_url.clone().or_else(|| std::env::var("CARDNET_TEST_PG").ok());
            let url = url.unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into());
            let schema = format!("cardnet_bench_{}", std::process::id());
            let store = ledger::postgres::PostgresStore::connect(&url, &schema)
                .map_err(|e| CliError::Failure(e.to_string()))?;
            let result = drive(store, &args, &format!("postgres schema {schema}"));
            let _ = ledger::postgres::drop_schema(&url, &schema);
            result
        }
    }
}

fn failure(error: impl std::fmt::Display) -> CliError {
    CliError::Failure(error.to_string())
}

fn drive<S: Store>(store: S, args: &LedgerArgs, target: &str) -> Result<(), CliError> {
    let mut ledger = Ledger::open(store, SystemClock).map_err(failure)?;
    let mut rng = Rng(args.seed.max(1));

    // Accounts (not timed).
    let ids: Vec<u128> = (1..=args.accounts as u128).collect();
    for chunk in ids.chunks(BATCH_EVENTS_MAX) {
        let accounts: Vec<Account> = chunk.iter().map(|&id| Account::new(id, LEDGER, CODE)).collect();
        let results = ledger.create_accounts(&accounts).map_err(failure)?;
        if let Some(bad) = results.iter().find(|r| !r.is_ok() && **r != ledger::CreateAccountResult::Exists) {
            return Err(failure(format!("creating accounts: {bad}")));
        }
    }

    let progress = if args.json { ProgressBar::hidden() } else { ProgressBar::new(args.transfers) };
    progress.set_draw_target(if args.json { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() });
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} transfers {per_sec} eta {eta}") {
        progress.set_style(style);
    }

    let mut next_id: u128 = 1 << 64; // transfer ids, sequential (B-tree friendly, as TigerBeetle advises)
    let mut to_resolve: Vec<u128> = Vec::new();
    let mut latencies: Vec<Duration> = Vec::with_capacity((args.transfers as usize / args.batch_size) + 2);
    let mut submitted: u64 = 0;
    let mut failed: u64 = 0;
    let started = Instant::now();
    while submitted < args.transfers {
        let room = (args.transfers - submitted).min(args.batch_size as u64) as usize;
        let mut batch: Vec<Transfer> = Vec::with_capacity(room);
        // First resolve last batch's pending transfers, alternating post and void.
        for (index, pending_id) in to_resolve.drain(..).take(room).enumerate() {
            let flag = if index % 2 == 0 {
                TransferFlags::POST_PENDING_TRANSFER
            } else {
                TransferFlags::VOID_PENDING_TRANSFER
            };
            batch.push(Transfer { pending_id, ..Transfer::new(next_id, 0, 0, 0, 0, 0) }.with_flags(flag));
            next_id += 1;
        }
        while batch.len() < room {
            let (debit, credit) = pick_accounts(&mut rng, args);
            let mut transfer = Transfer::new(next_id, debit, credit, 1 + rng.below(10_000), LEDGER, CODE);
            if rng.below(100) < args.pending_percent as u64 {
                transfer = Transfer { timeout: 3_600, ..transfer.with_flags(TransferFlags::PENDING) };
                to_resolve.push(next_id);
            }
            batch.push(transfer);
            next_id += 1;
        }
        let batch_started = Instant::now();
        let results = ledger.create_transfers(&batch).map_err(failure)?;
        latencies.push(batch_started.elapsed());
        failed += results.iter().filter(|r| **r != CreateTransferResult::Ok).count() as u64;
        submitted += batch.len() as u64;
        progress.inc(batch.len() as u64);
    }
    let elapsed = started.elapsed();
    progress.finish_and_clear();

    let report = ledger::invariants::check(ledger.store()).map_err(failure)?;
    latencies.sort_unstable();
    let percentile = |p: f64| -> f64 {
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(index).map_or(0.0, |d| d.as_secs_f64() * 1_000.0)
    };
    let transfers_per_s = submitted as f64 / elapsed.as_secs_f64();
    let distribution = match args.distribution {
        Distribution::Uniform => "uniform".to_owned(),
        Distribution::Hot => format!("hot ({} accounts)", args.hot_accounts),
    };
    if args.json {
        let value = json!({
            "backend": match args.backend { Backend::Sqlite => "sqlite", Backend::Postgres => "postgres" },
            "accounts": args.accounts,
            "transfers": submitted,
            "batches": latencies.len(),
            "batch_size": args.batch_size,
            "distribution": distribution,
            "pending_percent": args.pending_percent,
            "transfers_failed": failed,
            "elapsed_s": elapsed.as_secs_f64(),
            "transfers_per_s": transfers_per_s.round(),
            "batch_latency_ms_p50": percentile(0.50),
            "batch_latency_ms_p99": percentile(0.99),
            "batch_latency_ms_p100": percentile(1.0),
            "invariants_hold": report.holds(),
            "invariant_violations": report.violations,
        });
        outln!("{value}");
    } else {
        outln!("ledger benchmark on {target}");
        outln!(
            "  {} accounts, {submitted} transfers in {} batches of up to {}, {distribution}, {}% pending",
            args.accounts,
            latencies.len(),
            args.batch_size,
            args.pending_percent
        );
        outln!("  load accepted = {:.0} transfers/s ({:.2} s)", transfers_per_s, elapsed.as_secs_f64());
        outln!(
            "  batch latency p50 = {:.1} ms, p99 = {:.1} ms, p100 = {:.1} ms",
            percentile(0.50),
            percentile(0.99),
            percentile(1.0)
        );
        outln!("  transfers not ok = {failed}");
        outln!("  invariants: {}", if report.holds() { "hold".to_owned() } else { report.violations.join("; ") });
    }
    if !report.holds() {
        return Err(CliError::Failure("the ledger's invariants do not hold after the run".into()));
    }
    Ok(())
}

fn pick_accounts(rng: &mut Rng, args: &LedgerArgs) -> (u128, u128) {
    let n = args.accounts;
    match args.distribution {
        Distribution::Uniform => {
            let debit = 1 + rng.below(n);
            let mut credit = 1 + rng.below(n - 1);
            if credit >= debit {
                credit += 1;
            }
            (debit as u128, credit as u128)
        }
        Distribution::Hot => {
            let hot = 1 + rng.below(args.hot_accounts);
            let debit = args.hot_accounts + 1 + rng.below(n - args.hot_accounts);
            (debit as u128, hot as u128)
        }
    }
}
