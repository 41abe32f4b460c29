//! The figures of a run, over the measured window only (the warm-up left out): offered and
//! achieved rate, latency percentiles from when each purchase was due, the response codes,
//! timeouts and purchases never answered, and CPU and writes per authorization of every process.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Value, json};

use super::io::Io;
use super::terminals::{Sample, TIMEOUT_CODE};

/// CPU ticks each process used over the measured window, and what it wrote.
#[derive(Clone)]
pub struct UsageWindow {
    /// (process name, ticks); `None` when it could not be read.
    pub ticks: Vec<(String, Option<u64>)>,
    /// (process name, bytes to storage and write calls); `None` when they could not be read.
    pub io: Vec<(String, Option<Io>)>,
    pub ticks_per_s: u64,
    /// Whether the tick rate came from `getconf` (false: assumed).
    pub ticks_per_s_told: bool,
}

/// What the report is made from.
pub struct Run<'a> {
    pub samples: &'a [Sample],
    pub window_start: Instant,
    pub window_end: Instant,
    /// Purchases due in the window that found their terminal's queue full (never sent).
    pub refused_in_window: u64,
    pub usage: UsageWindow,
    pub errors: &'a [String],
    pub settlements: u64,
}

/// The figures.
pub struct Figures {
    pub offered_per_s: f64,
    pub authorizations_per_s: f64,
    pub due: u64,
    pub answered: u64,
    pub approved: u64,
    pub timeouts: u64,
    pub failed: u64,
    pub unanswered: u64,
    pub latency_ms: [f64; 4],
    pub codes: BTreeMap<String, u64>,
    pub cpu_us_per_authorization: Vec<(String, Option<f64>)>,
    pub cpu_percent: Vec<(String, Option<f64>)>,
    /// Bytes each process sent to storage per authorization answered in the window.
    pub disk_write_bytes_per_authorization: Vec<(String, Option<f64>)>,
    /// Write calls (files and sockets) of each process per authorization.
    pub write_calls_per_authorization: Vec<(String, Option<f64>)>,
}

impl Figures {
    pub fn of(run: &Run<'_>) -> Figures {
        let window_s = run.window_end.saturating_duration_since(run.window_start).as_secs_f64().max(1e-9);
        let in_window = |at: Instant| at >= run.window_start && at < run.window_end;
        let mut latencies_us: Vec<u64> = Vec::with_capacity(run.samples.len());
        let mut codes = BTreeMap::new();
        let (mut due, mut answered, mut approved, mut timeouts, mut failed, mut unanswered) = (0, 0, 0, 0, 0, 0);
        // Answers the host gave inside the window, whenever they were due: the rate achieved.
        let mut answers_in_window = 0u64;
        for sample in run.samples {
            let is_answer = sample.code.as_deref().is_some_and(|code| code != TIMEOUT_CODE);
            if let (true, Some(latency_us)) = (is_answer, sample.latency_us) {
                let at = sample.due + std::time::Duration::from_micros(latency_us);
                answers_in_window += u64::from(in_window(at));
            }
            if !in_window(sample.due) {
                continue;
            }
            due += 1;
            match (&sample.code, sample.latency_us) {
                (_, None) => unanswered += 1,
                (None, Some(_)) => failed += 1,
                (Some(code), Some(latency_us)) => {
                    latencies_us.push(latency_us);
                    *codes.entry(code.clone()).or_insert(0) += 1;
                    if code == TIMEOUT_CODE {
                        timeouts += 1;
                    } else {
                        answered += 1;
                        approved += u64::from(code == "00");
                    }
                }
            }
        }
        due += run.refused_in_window;
        unanswered += run.refused_in_window;
        latencies_us.sort_unstable();
        let percentile = |p: f64| -> f64 {
            let index = ((latencies_us.len() as f64 - 1.0) * p).round() as usize;
            latencies_us.get(index).map_or(0.0, |&us| us as f64 / 1_000.0)
        };
        let ticks_s = run.usage.ticks_per_s.max(1) as f64;
        let per_authorization = run
            .usage
            .ticks
            .iter()
            .map(|(name, ticks)| {
                let us = ticks
                    .filter(|_| answers_in_window > 0)
                    .map(|t| t as f64 / ticks_s * 1e6 / answers_in_window as f64);
                (name.clone(), us.map(|v| v.round()))
            })
            .collect();
        let cpu_percent = run
            .usage
            .ticks
            .iter()
            .map(|(name, ticks)| {
                (name.clone(), ticks.map(|t| (t as f64 / ticks_s / window_s * 1_000.0).round() / 10.0))
            })
            .collect();
        let per_answer = |value: fn(&Io) -> u64, scale: f64| -> Vec<(String, Option<f64>)> {
            run.usage
                .io
                .iter()
                .map(|(name, io)| {
                    let per = io
                        .filter(|_| answers_in_window > 0)
                        .map(|io| (value(&io) as f64 / answers_in_window as f64 * scale).round() / scale);
                    (name.clone(), per)
                })
                .collect()
        };
        Figures {
            disk_write_bytes_per_authorization: per_answer(|io| io.write_bytes, 1.0),
            write_calls_per_authorization: per_answer(|io| io.write_calls, 100.0),
            offered_per_s: (due as f64 / window_s).round(),
            authorizations_per_s: (answers_in_window as f64 / window_s).round(),
            due,
            answered,
            approved,
            timeouts,
            failed,
            unanswered,
            latency_ms: [percentile(0.50), percentile(0.99), percentile(0.999), percentile(1.0)],
            codes,
            cpu_us_per_authorization: per_authorization,
            cpu_percent,
        }
    }

    /// Purchases due in the window that got an answer (any code), as a fraction.
    pub fn answered_fraction(&self) -> f64 {
        if self.due == 0 { 0.0 } else { self.answered as f64 / self.due as f64 }
    }

    pub fn json(&self, run: &Run<'_>, context: Value) -> Value {
        let named = |list: &[(String, Option<f64>)]| -> Value {
            list.iter().map(|(name, value)| (name.clone(), json!(value))).collect::<serde_json::Map<_, _>>().into()
        };
        let mut value = json!({
            "offered_per_s": self.offered_per_s,
            "authorizations_per_s": self.authorizations_per_s,
            "purchases_due": self.due,
            "answered": self.answered,
            "approved": self.approved,
            "timeouts": self.timeouts,
            "terminal_errors": self.failed,
            "unanswered": self.unanswered,
            "latency_ms_p50": self.latency_ms[0],
            "latency_ms_p99": self.latency_ms[1],
            "latency_ms_p999": self.latency_ms[2],
            "latency_ms_max": self.latency_ms[3],
            "response_codes": self.codes,
            "cpu_us_per_authorization": named(&self.cpu_us_per_authorization),
            "cpu_percent_of_one_core": named(&self.cpu_percent),
            "disk_write_bytes_per_authorization": named(&self.disk_write_bytes_per_authorization),
            "write_calls_per_authorization": named(&self.write_calls_per_authorization),
            "clock_ticks_per_s": run.usage.ticks_per_s,
            "clock_ticks_per_s_assumed": !run.usage.ticks_per_s_told,
            "settlements": run.settlements,
            "errors": run.errors,
        });
        if let (Some(object), Value::Object(extra)) = (value.as_object_mut(), context) {
            object.extend(extra);
        }
        value
    }

    /// The plain report, one line each.
    pub fn lines(&self, run: &Run<'_>) -> Vec<String> {
        let codes: Vec<String> = self.codes.iter().map(|(code, count)| format!("{code}: {count}")).collect();
        let cpu: Vec<String> = self
            .cpu_us_per_authorization
            .iter()
            .zip(&self.cpu_percent)
            .map(|((name, us), (_, percent))| match (us, percent) {
                (Some(us), Some(percent)) => format!("{name} {us:.0} µs ({percent:.1} % of a core)"),
                _ => format!("{name} unknown"),
            })
            .collect();
        let mut lines = vec![
            format!(
                "offered {:.0}/s, achieved {:.0} authorizations/s ({} due, {} answered, {} approved)",
                self.offered_per_s, self.authorizations_per_s, self.due, self.answered, self.approved
            ),
            format!(
                "latency from due time: p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
                self.latency_ms[0], self.latency_ms[1], self.latency_ms[2], self.latency_ms[3]
            ),
            format!("response codes: {}", if codes.is_empty() { "none".to_owned() } else { codes.join(", ") }),
            format!(
                "timeouts {}, terminal errors {}, never sent {}, settlements {}",
                self.timeouts, self.failed, self.unanswered, run.settlements
            ),
            format!(
                "CPU per authorization{}: {}",
                if run.usage.ticks_per_s_told { "" } else { " (clock ticks assumed 100/s)" },
                cpu.join("; ")
            ),
        ];
        let written: Vec<String> = self
            .disk_write_bytes_per_authorization
            .iter()
            .zip(&self.write_calls_per_authorization)
            .map(|((name, bytes), (_, calls))| match (bytes, calls) {
                (Some(bytes), Some(calls)) => format!("{name} {bytes:.0} B to disk, {calls:.2} write calls"),
                _ => format!("{name} unknown"),
            })
            .collect();
        lines.push(format!("written per authorization: {}", written.join("; ")));
        lines.extend(run.errors.iter().map(|error| format!("terminal error: {error}")));
        lines
    }
}
