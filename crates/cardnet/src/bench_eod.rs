//! `cardnet bench eod`: end of day on a generated business date (`clearing::synthetic`), one
//! step at a time or all in order, with the scale goals in mind (clearing 10,000,000
//! records ≤ 60 s). Each step is one function called from [`run_step`]; a new step (net
//! settlement, issuer posting, merchant settlement, reconciliation) is a new [`Step`] value and
//! a new function, reporting its figures under its own name.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, ValueEnum};
use clearing::file::{Form, Header, Writer, blank_record};
use clearing::synthetic::{self, NETWORK_ID};
use clearing::{BusinessDate, FeeSchedule, NetPositions};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value, json};

use crate::cli_error::CliError;
use crate::output::outln;

/// Bounds of a run, so a typo cannot ask for a week of work or more open files than allowed.
const RECORDS_MAX: u64 = 1_000_000_000;
/// Each member has one open file during clearing.
const MEMBERS_MAX: u32 = 1_000;
/// Output buffer of each member's file.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;
/// Records between two updates of the progress bar (an update per record would cost more than
/// the record).
const PROGRESS_STEP_RECORDS: u64 = 16_384;
const BYTES_PER_MIB: f64 = 1_048_576.0;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Step {
    /// Per-member clearing files (fixed width, trailer checked) and multilateral net positions.
    Clearing,
    /// Four-way reconciliation of a generated day with 0.1 % injected faults of every kind.
    Reconciliation,
    /// Merchant settlement: fees by plan and card kind, net per merchant, the payout file.
    MerchantSettlement,
    /// Every step in order.
    All,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Clearing => "clearing",
            Step::Reconciliation => "reconciliation",
            Step::MerchantSettlement => "merchant-settlement",
            Step::All => "all",
        }
    }

    /// The steps a `--step` value runs, in order.
    fn steps(self) -> &'static [Step] {
        match self {
            Step::Clearing => &[Step::Clearing],
            Step::Reconciliation => &[Step::Reconciliation],
            Step::MerchantSettlement => &[Step::MerchantSettlement],
            Step::All => &[Step::Clearing, Step::Reconciliation, Step::MerchantSettlement],
        }
    }
}

#[derive(Args)]
pub struct EodArgs {
    /// Records of the generated business date.
    #[arg(long, default_value_t = 10_000_000)]
    records: u64,
    /// Member banks (acquirers and issuers) the records are spread over, 2 to 1,000.
    #[arg(long, default_value_t = 100)]
    members: u32,
    /// Merchants the merchant-settlement step pays (its transactions: --records).
    #[arg(long, default_value_t = 1_000_000)]
    merchants: u64,
    /// The step to measure: clearing, reconciliation, merchant-settlement, or all in order.
    #[arg(long, value_enum, default_value = "all")]
    step: Step,
    /// Where the files go, kept afterwards (default: a temporary folder, removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Seed of the generated day (the same seed, the same files).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// What one step measured: figures for `--json` (units in the keys) and a line for people.
struct StepReport {
    figures: Map<String, Value>,
    line: String,
    bytes_written: u64,
}

fn failure(what: &str) -> impl Fn(std::io::Error) -> CliError + '_ {
    move |error| CliError::Failure(format!("bench eod: {what}: {error}"))
}

pub fn run(args: EodArgs) -> Result<(), CliError> {
    if args.records == 0 || args.records > RECORDS_MAX {
        return Err(CliError::bad_input(format!("--records must be 1 to {RECORDS_MAX}")));
    }
    if !(2..=MEMBERS_MAX).contains(&args.members) {
        return Err(CliError::bad_input(format!("--members must be 2 to {MEMBERS_MAX}")));
    }
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("cardnet-bench-eod-{}", std::process::id())));
    std::fs::create_dir_all(&dir).map_err(failure("create the folder"))?;
    let result = run_steps(&args, &dir);
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn run_steps(args: &EodArgs, dir: &Path) -> Result<(), CliError> {
    let started = Instant::now();
    let mut steps = Map::new();
    let mut lines = Vec::new();
    let mut bytes_written = 0;
    for &step in args.step.steps() {
        let report = run_step(step, args, dir)?;
        bytes_written += report.bytes_written;
        steps.insert(step.name().to_owned(), Value::Object(report.figures));
        lines.push(format!("  {}: {}", step.name(), report.line));
    }
    let elapsed = started.elapsed();
    let memory_peak_mib = memory_peak_mib();
    if args.json {
        let mut value = json!({
            "step": args.step.name(),
            "records": args.records,
            "members": args.members,
            "elapsed_ms": elapsed.as_millis() as u64,
            "records_per_s": (args.records as f64 / elapsed.as_secs_f64()).round(),
            "bytes_written": bytes_written,
            "memory_peak_mib": memory_peak_mib,
            "steps": steps,
        });
        if let Some(dir) = &args.dir {
            value["dir"] = json!(dir.display().to_string());
        }
        outln!("{value}");
    } else {
        outln!("end-of-day benchmark: {} records, {} members, step {}", args.records, args.members, args.step.name());
        for line in lines {
            outln!("{line}");
        }
        let memory = memory_peak_mib.map_or_else(|| "unknown".to_owned(), |mib| format!("{mib:.1} MiB"));
        outln!("  total {:.2} s, memory peak {memory}", elapsed.as_secs_f64());
        if let Some(dir) = &args.dir {
            outln!("  files kept in {}", dir.display());
        }
    }
    Ok(())
}

/// One step: the `match` a new step is added to.
fn run_step(step: Step, args: &EodArgs, dir: &Path) -> Result<StepReport, CliError> {
    match step {
        Step::Clearing => clearing(args, dir),
        Step::Reconciliation => Ok(reconciliation(args)),
        Step::MerchantSettlement => merchant_settlement(args),
        Step::All => Err(CliError::Failure("bench eod: \"all\" is a list of steps, not one".into())),
    }
}

fn progress_bar(args: &EodArgs, what: &str) -> ProgressBar {
    let progress = if args.json { ProgressBar::hidden() } else { ProgressBar::new(args.records) };
    progress.set_draw_target(if args.json { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() });
    if let Ok(style) =
        ProgressStyle::with_template(&format!("{{bar:40}} {{pos}}/{{len}} {what} {{per_sec}} eta {{eta}}"))
    {
        progress.set_style(style);
    }
    progress
}

/// The generated date (any date would do; a fixed one keeps the files the same run to run).
fn business_date() -> Result<BusinessDate, CliError> {
    BusinessDate::from_ymd(2026, 12, 4).map_err(|e| CliError::Failure(e.to_string()))
}

/// Clearing at the switch: every record into its acquirer's and its issuer's file (one open
/// buffered writer per member, synced before it counts as written) and into the multilateral
/// net positions, which must sum to zero.
fn clearing(args: &EodArgs, dir: &Path) -> Result<StepReport, CliError> {
    let date = business_date()?;
    let fees = FeeSchedule::china_2016();
    let mut writers = Vec::with_capacity(args.members as usize);
    let mut paths = Vec::with_capacity(args.members as usize);
    for member in synthetic::member_ids(args.members) {
        let path = dir.join(format!("clearing-{member}-{}.txt", date.compact()));
        let file = File::create(&path).map_err(failure("create a clearing file"))?;
        let header = Header { network: NETWORK_ID.to_owned(), member: member.as_str().to_owned(), date };
        let out = BufWriter::with_capacity(WRITE_BUFFER_BYTES, file);
        writers.push(Writer::new(out, Form::FixedWidth, &header).map_err(failure("write a header"))?);
        paths.push(path);
    }
    let progress = progress_bar(args, "records cleared");
    let started = Instant::now();
    let cpu_started = thread_cpu_ns();
    let mut net = NetPositions::new(synthetic::network_id());
    let mut generator = synthetic::records(args.seed, args.records, args.members, date, &fees);
    let mut record = blank_record(date);
    let mut cleared: u64 = 0;
    while generator.next_into(&mut record) {
        let (acquirer, issuer) = generator.parties();
        // Distinct members: the generator never makes an on-us record between two members.
        assert_ne!(acquirer, issuer);
        for member in [acquirer, issuer] {
            writers[member as usize].write(&record).map_err(failure("write a record"))?;
        }
        net.add(&record);
        cleared += 1;
        if cleared.is_multiple_of(PROGRESS_STEP_RECORDS) {
            progress.inc(PROGRESS_STEP_RECORDS);
        }
    }
    let mut bytes_written = 0;
    let mut file_records = 0;
    for writer in writers {
        let (trailer, out) = writer.finish_into_inner().map_err(failure("write a trailer"))?;
        let file = out.into_inner().map_err(|e| failure("flush a clearing file")(e.into_error()))?;
        file.sync_all().map_err(failure("sync a clearing file"))?;
        bytes_written += file.metadata().map_err(failure("size a clearing file"))?.len();
        file_records += trailer.records;
    }
    let positions = net.finish();
    let net_sum_minor: i128 = positions.iter().map(|p| i128::from(p.net_minor)).sum();
    let elapsed = started.elapsed();
    let cpu_ns = thread_cpu_ns().zip(cpu_started).map(|(end, start)| end.saturating_sub(start));
    progress.finish_and_clear();
    assert_eq!(cleared, args.records, "the generator makes exactly the records asked for");
    assert_eq!(file_records, 2 * cleared, "every record is in its acquirer's and its issuer's file");
    if net_sum_minor != 0 {
        return Err(CliError::Failure(format!("bench eod: net positions sum to {net_sum_minor}, not 0")));
    }
    let records_per_s = cleared as f64 / elapsed.as_secs_f64();
    let cpu_ns_per_record = cpu_ns.map(|ns| ns / cleared.max(1));
    let mut figures = Map::new();
    figures.insert("records".into(), json!(cleared));
    figures.insert("elapsed_ms".into(), json!(elapsed.as_millis() as u64));
    figures.insert("records_per_s".into(), json!(records_per_s.round()));
    figures.insert("files".into(), json!(paths.len()));
    figures.insert("bytes_written".into(), json!(bytes_written));
    figures.insert("cpu_ms".into(), json!(cpu_ns.map(|ns| ns / 1_000_000)));
    figures.insert("cpu_ns_per_record".into(), json!(cpu_ns_per_record));
    figures.insert("net_positions".into(), json!(positions.len()));
    figures.insert("net_sum_minor".into(), json!(0));
    let cpu = cpu_ns_per_record.map_or_else(|| "unknown".to_owned(), |ns| format!("{:.2} µs", ns as f64 / 1_000.0));
    let line = format!(
        "{cleared} records in {:.2} s = {:.0} records/s; {} files, {:.1} MiB written and synced; \
         CPU {cpu} per record; {} net positions sum to 0",
        elapsed.as_secs_f64(),
        records_per_s,
        paths.len(),
        bytes_written as f64 / BYTES_PER_MIB,
        positions.len()
    );
    Ok(StepReport { figures, line, bytes_written })
}

/// Faults of each kind the reconciliation step injects: 0.1 %, the rate.
const RECON_FAULT_RATE_PPM: u32 = 1_000;

/// A generated day of `--records` requests per source (four sources), faults injected, matched
/// and classified; the detail written. Generation is timed apart.
fn reconciliation(args: &EodArgs) -> StepReport {
    let report = recon::bench(args.records, RECON_FAULT_RATE_PPM, args.seed);
    let mut figures = Map::new();
    figures.insert("records_per_source".into(), json!(report.records_per_source));
    figures.insert("records".into(), json!(report.records_total));
    figures.insert("faults_injected".into(), json!(report.faults_injected));
    figures.insert("generate_ms".into(), json!(report.generate_ms));
    figures.insert("elapsed_ms".into(), json!(report.elapsed_ms));
    figures.insert("cpu_ms".into(), json!(report.cpu_ms));
    figures.insert("records_per_s".into(), json!(report.records_per_s));
    figures.insert("matched".into(), json!(report.matched));
    figures.insert("unmatched".into(), json!(report.unmatched));
    figures.insert("classified_exactly".into(), json!(report.exact));
    figures.insert("memory_peak_mib".into(), json!(report.memory_peak_bytes / (1 << 20)));
    let line = format!(
        "{} records per source in {:.2} s ({} records/s over four sources), {} faults, every one classified: {}",
        report.records_per_source,
        report.elapsed_ms as f64 / 1_000.0,
        report.records_per_s,
        report.faults_injected,
        report.exact
    );
    StepReport { figures, line, bytes_written: 0 }
}

/// `--merchants` merchants paid for `--records` transactions: the pure settlement and the
/// payout file (the database path is measured by the acquirer's example).
fn merchant_settlement(args: &EodArgs) -> Result<StepReport, CliError> {
    let report = acquirer::bench_merchant_settlement(args.merchants, args.records, args.seed)
        .map_err(|e| CliError::bad_input(format!("bench eod: merchant settlement: {e}")))?;
    let mut figures = Map::new();
    figures.insert("merchants".into(), json!(report.merchants));
    figures.insert("transactions".into(), json!(report.transactions));
    figures.insert("payouts".into(), json!(report.lines));
    figures.insert("gross_minor".into(), json!(report.gross_minor));
    figures.insert("fee_minor".into(), json!(report.fee_minor));
    figures.insert("net_minor".into(), json!(report.net_minor));
    figures.insert("generate_ms".into(), json!(report.generate_ms));
    figures.insert("elapsed_ms".into(), json!(report.settle_ms));
    figures.insert("payout_file_bytes".into(), json!(report.payout_file_bytes));
    let line = format!(
        "{} merchants, {} transactions settled in {:.2} s (payout file {} bytes)",
        report.merchants,
        report.transactions,
        report.settle_ms as f64 / 1_000.0,
        report.payout_file_bytes
    );
    Ok(StepReport { figures, line, bytes_written: report.payout_file_bytes })
}

/// The process's peak resident memory (VmHWM of /proc/self/status), where Linux tells it.
fn memory_peak_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some((kib / 1_024.0 * 10.0).round() / 10.0)
}

/// CPU time this thread has run, in ns (/proc/thread-self/schedstat), where Linux tells it.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(records: u64, members: u32, dir: Option<PathBuf>) -> EodArgs {
        EodArgs { records, members, merchants: 100, step: Step::Clearing, dir, seed: 7, json: true }
    }

    #[test]
    fn clearing_writes_one_valid_file_per_member_holding_each_record_twice() {
        let dir = std::env::temp_dir().join(format!("cardnet-bench-eod-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        run(args(3_000, 7, Some(dir.clone()))).unwrap();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|entry| entry.unwrap().path()).collect();
        files.sort();
        assert_eq!(files.len(), 7);
        let mut records = 0;
        let mut first = None;
        for (index, path) in files.iter().enumerate() {
            let bytes = std::fs::read(path).unwrap();
            let (header, read, trailer) = clearing::file::read_all(&bytes[..]).unwrap();
            assert_eq!(synthetic::member_id(index as u32), header.member);
            assert!(read.iter().all(|r| r.acquirer == header.member || r.issuer == header.member));
            records += trailer.records;
            first.get_or_insert(bytes);
        }
        assert_eq!(records, 6_000);
        // The same seed, the same files.
        run(args(3_000, 7, Some(dir.clone()))).unwrap();
        assert!(std::fs::read(&files[0]).unwrap() == first.unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bounds_are_bad_input() {
        for bad in [args(0, 10, None), args(10, 1, None), args(10, MEMBERS_MAX + 1, None)] {
            assert_eq!(run(bad).unwrap_err().exit_code(), 2);
        }
    }
}
