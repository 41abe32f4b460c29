//! `cardnet bench eod --step reconciliation`: a generated day of any size reconciled, timed.
//! Generation is excluded from the match time; the detail files are written (to a sink) inside it.

use std::io;
use std::time::Instant;

use clearing::BusinessDate;

use crate::engine::reconcile;
use crate::faults::verify;
use crate::generate::{DaySpec, generate};
use crate::output::{write_csv, write_jsonl};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchReport {
    pub records_per_source: u64,
    /// Records of the four sources together.
    pub records_total: u64,
    pub faults_injected: u64,
    pub generate_ms: u64,
    /// Join, classify, summarize, write the detail (CSV and JSON lines).
    pub elapsed_ms: u64,
    /// CPU time (user + system, all threads) the reconciliation used: on a shared machine the
    /// wall time also counts waiting for a core.
    pub cpu_ms: u64,
    /// `records_total` per second of `elapsed_ms`.
    pub records_per_s: u64,
    /// The process's peak resident memory (`VmHWM` of /proc/self/status), bytes; 0 if unreadable.
    pub memory_peak_bytes: u64,
    pub matched: u64,
    pub unmatched: u64,
    /// Every injected fault in its class, no false match, no clean transaction flagged.
    pub exact: bool,
}

/// Generates a day of `records_per_source` requests with `fault_rate_ppm` of each fault kind
/// (seeded), reconciles it, and reports.
pub fn bench(records_per_source: u64, fault_rate_ppm: u32, seed: u64) -> BenchReport {
    let date = BusinessDate::from_days(20_000);
    let spec = DaySpec { transactions: records_per_source, fault_rate_ppm, seed, date, shuffle: true };
    let started = Instant::now();
    let day = generate(&spec);
    let generate_ms = started.elapsed().as_millis() as u64;
    let s = &day.sources;
    let records_total = (s.terminal.len() + s.acquirer.len() + s.clearing.len() + s.issuer.len()) as u64;

    let cpu_before = cpu_ms();
    let started = Instant::now();
    let outcome = reconcile(&day.sources, &day.config);
    let written =
        outcome.as_ref().map(|o| write_csv(o, &mut io::sink()).and_then(|()| write_jsonl(o, &mut io::sink())));
    let elapsed = started.elapsed();
    let elapsed_ms = elapsed.as_millis() as u64;
    let cpu_ms = cpu_ms().saturating_sub(cpu_before);
    let (matched, unmatched, exact) = match (&outcome, written) {
        (Ok(o), Ok(Ok(()))) => (o.summary.matched, o.summary.unmatched, verify(&day.faults, o).is_exact()),
        _ => (0, 0, false),
    };
    BenchReport {
        records_per_source,
        records_total,
        faults_injected: day.faults.len() as u64,
        generate_ms,
        elapsed_ms,
        cpu_ms,
        records_per_s: (records_total as f64 / elapsed.as_secs_f64().max(1e-9)) as u64,
        memory_peak_bytes: memory_peak_bytes(),
        matched,
        unmatched,
        exact,
    }
}

/// `VmHWM` from /proc/self/status, in bytes (Linux); 0 elsewhere.
pub fn memory_peak_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// User + system CPU time of this process so far, from /proc/self/stat (fields 14 and 15, in
/// clock ticks of Linux's fixed `USER_HZ` = 100); 0 elsewhere.
pub fn cpu_ms() -> u64 {
    const MS_PER_TICK: u64 = 10;
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After ")": field 3 is index 0, so utime (14) is index 11 and stime (15) index 12.
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) * MS_PER_TICK
}
