//! The load phase: the terminals installed and signed on, a probe purchase through each issuer
//! (the network is up end to end before the clock starts), then warm-up and measured window on
//! the open-loop schedule, CPU read at the window's edges, a progress bar on stderr, and the
//! drain of what was due. Ctrl-C or SIGTERM stops it (the caller then stops the parties).
//! With `--kill` a thread of its own SIGKILLs the party at its moment and starts it again while
//! the load goes on; with the check (`--kill`, `--verify`) the terminals then send the
//! reversals they owe and their journals' approvals are read for `verify.rs`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;

use super::E2eArgs;
use super::io::Io;
use super::report::{Run, UsageWindow};
use super::schedule::{self, Mix, TERMINAL_QUEUE_MAX};
use super::setup::Network;
use super::terminals::{self, Approval, Read, Sample, VirtualTerminal, Worked};
use crate::cli_error::CliError;
use crate::parties::{Parties, Struck};

/// How long the first purchases through each issuer may take to be approved: the switch signs
/// on to the issuers and the acquirer to the switch after they start.
const READY_WAIT_MS_MAX: u64 = 30_000;
/// Pause between probe purchases while the network comes up.
const READY_RETRY_MS: u64 = 250;
/// The schedule starts this long after the terminals are ready.
const START_LEAD_MS: u64 = 20;
/// Past the window's end, purchases still queued are sent until their due time plus the
/// terminal timeout plus this; later ones are counted as never sent.
const DRAIN_GRACE_MS: u64 = 2_000;
/// Progress bar refreshes.
const PROGRESS_TICK_MS: u64 = 100;
/// Probe purchases' amount (1.00).
const PROBE_AMOUNT_MINOR: u64 = 100;
/// How long the terminals may take, together, to send the reversals they still owe after the
/// run (each tries `reversal_attempts_max` times within its timeout).
const FLUSH_WAIT_MS_MAX: u64 = 30_000;

/// What the load phase measured.
pub struct Measured {
    samples: Vec<Sample>,
    errors: Vec<String>,
    settlements: u64,
    window_start: Instant,
    window_end: Instant,
    refused_in_window: u64,
    usage: UsageWindow,
    /// The party `--kill` killed and restarted, if it came to that.
    pub struck: Option<Struck>,
    /// What the terminals journaled, for the check (`--kill`, `--verify`).
    pub journals: Option<Journals>,
}

/// The terminals' side of the check: the approvals they saw, read from their journals after
/// they sent the reversals they owed.
#[derive(Default)]
pub struct Journals {
    pub approvals: Vec<Approval>,
    /// Terminals still owing a reversal (it could not be sent in time): allowed, the issuer may
    /// still hold that purchase.
    pub reversals_pending: u64,
    /// A journal that could not be read, or a reversal that failed to go out (first few).
    pub errors: Vec<String>,
}

impl Measured {
    /// When the measured window began (`--kill-at` counts from it).
    pub fn window_start(&self) -> Instant {
        self.window_start
    }

    pub fn run(&self) -> Run<'_> {
        Run {
            samples: &self.samples,
            window_start: self.window_start,
            window_end: self.window_end,
            refused_in_window: self.refused_in_window,
            usage: self.usage.clone(),
            errors: &self.errors,
            settlements: self.settlements,
        }
    }
}

fn failure(text: String) -> CliError {
    CliError::Failure(format!("bench e2e: {text}"))
}

/// Install the terminals (their files under `terminals_dir`, their journals in memory), then run the load on a
/// runtime of `--threads` threads; with `--kill`, the party is killed and restarted meanwhile.
pub fn load(
    args: &E2eArgs,
    network: &Network,
    parties: &mut Parties,
    bound: &[String],
    terminals_dir: &Path,
    exe: &Path,
) -> Result<Measured, CliError> {
    let acquirer = bound.last().ok_or_else(|| failure("the acquirer host is not running".into()))?;
    let mut fleet = Vec::with_capacity(network.terminals.len());
    for (registered, cards) in network.terminals.iter().zip(&network.cards) {
        fleet.push(terminals::install(terminals_dir, registered, acquirer, args.timeout_ms, cards)?);
    }
    let runtime = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads).enable_all().build()
    }
    .map_err(|e| failure(format!("runtime: {e}")))?;
    let pids = parties.pids();
    let (window_sender, window) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let killer = args.kill.map(|party| {
            let after = Duration::from_secs_f64(args.kill_at_s());
            scope.spawn(move || strike(parties, exe, party.name(), after, &window))
        });
        let measured = runtime.block_on(async {
            tokio::select! {
                measured = drive(args, fleet, &pids, window_sender) => measured,
                () = crate::serve_command::stop_signal() => {
                    Err(failure("interrupted (Ctrl-C or SIGTERM): the parties are stopped".into()))
                }
            }
        });
        let struck = match killer {
            Some(handle) => handle.join().map_err(|_| failure("--kill: the killing thread failed".into()))?,
            None => None,
        };
        let mut measured = measured?;
        measured.struck = struck.transpose()?;
        if args.kill.is_some() && measured.struck.is_none() {
            return Err(failure("--kill: the load ended before the party was killed".into()));
        }
        Ok(measured)
    })
}

/// Wait for the measured window's start (sent by `drive`), then until `after` past it, and
/// kill and restart `name`. `None` when the load ended first (the sender is dropped then).
fn strike(
    parties: &mut Parties,
    exe: &Path,
    name: &str,
    after: Duration,
    window: &Receiver<Instant>,
) -> Option<Result<Struck, CliError>> {
    let window_start = window.recv().ok()?;
    let at = window_start + after;
    match window.recv_timeout(at.saturating_duration_since(Instant::now())) {
        Err(RecvTimeoutError::Timeout) => Some(parties.kill_and_restart(exe, name)),
        Ok(_) | Err(RecvTimeoutError::Disconnected) => None,
    }
}

/// After the load: every terminal sends the reversal it owes (all at once, within
/// `FLUSH_WAIT_MS_MAX`), then its journal's approvals are read.
async fn read_journals(fleet: Vec<VirtualTerminal>) -> Journals {
    let mut flushing = Vec::with_capacity(fleet.len());
    for mut terminal in fleet {
        flushing.push(tokio::spawn(async move {
            let wait = Duration::from_millis(FLUSH_WAIT_MS_MAX);
            let flushed = match tokio::time::timeout(wait, terminal.flush_reversal()).await {
                Ok(flushed) => flushed,
                Err(_) => {
                    Err(format!("terminal {}: its reversal not sent in {FLUSH_WAIT_MS_MAX} ms", terminal.terminal_id()))
                }
            };
            (terminal, flushed)
        }));
    }
    let mut journals = Journals::default();
    for task in flushing {
        let Ok((terminal, flushed)) = task.await else {
            keep(&mut journals.errors, "a terminal failed while sending its reversal".into());
            continue;
        };
        if let Err(error) = flushed {
            keep(&mut journals.errors, error);
        }
        journals.reversals_pending += u64::from(terminal.reversal_pending());
        match terminal.approvals() {
            Ok(mut approvals) => journals.approvals.append(&mut approvals),
            Err(error) => keep(&mut journals.errors, error),
        }
    }
    journals
}

fn keep(errors: &mut Vec<String>, error: String) {
    if errors.len() < terminals::ERROR_TEXTS_MAX && !errors.contains(&error) {
        errors.push(error);
    }
}

/// Sign every terminal on, and wait until a purchase through each issuer is approved.
async fn ready(fleet: Vec<VirtualTerminal>) -> Result<Vec<VirtualTerminal>, CliError> {
    let mut signing = Vec::with_capacity(fleet.len());
    for mut terminal in fleet {
        signing.push(tokio::spawn(async move {
            match terminal.sign_on().await {
                Ok(()) => Ok(terminal),
                Err(error) => Err((error, terminal.terminal_id())),
            }
        }));
    }
    let mut fleet = Vec::with_capacity(signing.len());
    for task in signing {
        let signed = task.await.map_err(|e| failure(format!("sign-on: {e}")))?;
        fleet.push(signed.map_err(|(e, id)| failure(format!("the network did not come up: terminal {id}: {e}")))?);
    }
    // Terminals 0 and 1 hold cards of issuer A and issuer B.
    for terminal in fleet.iter_mut().take(2) {
        let deadline = Instant::now() + Duration::from_millis(READY_WAIT_MS_MAX);
        loop {
            let outcome = terminal.purchase(Read::Swipe, PROBE_AMOUNT_MINOR).await;
            let last = match outcome {
                Ok(outcome) if outcome.approved => break,
                Ok(outcome) => format!("answered {} ({})", outcome.code_text(), outcome.message),
                Err(error) => error,
            };
            if Instant::now() > deadline {
                return Err(failure(format!(
                    "the network did not come up: no purchase approved through terminal {} in {READY_WAIT_MS_MAX} ms; last: {last}",
                    terminal.terminal_id()
                )));
            }
            tokio::time::sleep(Duration::from_millis(READY_RETRY_MS)).await;
        }
    }
    Ok(fleet)
}

/// CPU ticks and write counters of every party and of this process, now.
fn usage_now(pids: &[(String, u32)]) -> Vec<(String, Option<u64>, Option<Io>)> {
    let of = |pid: Option<u32>| (super::cpu::ticks(pid), super::io::io(pid));
    let mut usage: Vec<(String, Option<u64>, Option<Io>)> = pids
        .iter()
        .map(|(name, pid)| {
            let (ticks, io) = of(Some(*pid));
            (name.clone(), ticks, io)
        })
        .collect();
    let (ticks, io) = of(None);
    usage.push(("generator".to_owned(), ticks, io));
    usage
}

/// The load; `window` is told when the measured window starts (the `--kill` thread times its
/// strike from it) and is dropped when the load ends.
async fn drive(
    args: &E2eArgs,
    fleet: Vec<VirtualTerminal>,
    pids: &[(String, u32)],
    window: Sender<Instant>,
) -> Result<Measured, CliError> {
    let fleet = ready(fleet).await?;
    let (ticks_per_s, ticks_per_s_told) = super::cpu::clock_ticks_per_s();
    let start = Instant::now() + Duration::from_millis(START_LEAD_MS);
    let window_start = start + Duration::from_secs(args.warmup);
    let window_end = window_start + Duration::from_secs(args.duration);
    let drain_deadline = window_end + Duration::from_millis(args.timeout_ms + DRAIN_GRACE_MS);
    // No `--kill` thread listening is fine: nothing to tell.
    let _ = window.send(window_start);
    let done = Arc::new(AtomicU64::new(0));
    let mut queues = Vec::with_capacity(fleet.len());
    let mut workers = Vec::with_capacity(fleet.len());
    for terminal in fleet {
        let (sender, receiver) = mpsc::channel(TERMINAL_QUEUE_MAX);
        queues.push(sender);
        workers.push(tokio::spawn(terminal.work(receiver, drain_deadline, Arc::clone(&done))));
    }
    let pids_owned = pids.to_vec();
    let usage = tokio::spawn(async move {
        tokio::time::sleep_until(window_start.into()).await;
        let before = usage_now(&pids_owned);
        tokio::time::sleep_until(window_end.into()).await;
        let after = usage_now(&pids_owned);
        let mut ticks = Vec::with_capacity(before.len());
        let mut io = Vec::with_capacity(before.len());
        for ((name, ticks_before, io_before), (_, ticks_after, io_after)) in before.into_iter().zip(after) {
            ticks.push((name.clone(), ticks_before.zip(ticks_after).map(|(b, a)| a.saturating_sub(b))));
            io.push((name, io_before.zip(io_after).map(|(b, a)| b.until(a))));
        }
        (ticks, io)
    });
    let total = (args.rate * (args.warmup + args.duration) as f64).round() as u64;
    let progress = progress_bar(args.json, total);
    let ticker = {
        let (progress, done) = (progress.clone(), Arc::clone(&done));
        tokio::spawn(async move {
            loop {
                progress.set_position(done.load(Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(PROGRESS_TICK_MS)).await;
            }
        })
    };
    let mix = Mix { chip_percent: args.chip_percent, tap_percent: args.tap_percent };
    let handed = schedule::drive(queues, args.rate, start, window_start, window_end, mix, args.seed).await;
    let mut worked = Worked::default();
    let mut fleet = Vec::with_capacity(workers.len());
    for worker in workers {
        let (mut one, terminal) = worker.await.map_err(|e| failure(format!("a terminal failed: {e}")))?;
        fleet.push(terminal);
        worked.samples.append(&mut one.samples);
        worked.settlements += one.settlements;
        for error in one.errors {
            if worked.errors.len() < terminals::ERROR_TEXTS_MAX && !worked.errors.contains(&error) {
                worked.errors.push(error);
            }
        }
    }
    ticker.abort();
    progress.finish_and_clear();
    let (ticks, io) = usage.await.map_err(|e| failure(format!("reading CPU time and writes: {e}")))?;
    let journals = if args.checks() { Some(read_journals(fleet).await) } else { None };
    Ok(Measured {
        samples: worked.samples,
        errors: worked.errors,
        settlements: worked.settlements,
        window_start,
        window_end,
        refused_in_window: handed.refused_in_window,
        usage: UsageWindow { ticks, io, ticks_per_s, ticks_per_s_told },
        struck: None,
        journals,
    })
}

fn progress_bar(hidden: bool, total: u64) -> ProgressBar {
    let progress = ProgressBar::with_draw_target(
        Some(total),
        if hidden { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() },
    );
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} purchases {per_sec} {elapsed}") {
        progress.set_style(style);
    }
    progress
}
