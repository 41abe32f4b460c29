//! The driver: a real terminal ([`terminal::Pos`] over TCP) behind the [`App`].
//!
//! * A tokio task owns the `Pos` and runs the [`Request`]s strictly in the order they were
//!   submitted, mapping each to the terminal core's calls and the answer back to an
//!   [`Outcome`] (with the slip, the notices the terminal had and a fresh [`Status`]).
//! * The UI loop runs on a blocking thread: it reads crossterm key events with a timeout, ticks
//!   every [`TICK_MS`], draws, and never waits for the network, so the spinner turns and Esc
//!   stops waiting while a request is on the line.
//! * The screen is set up with `ratatui::try_init` and always put back with
//!   `ratatui::restore`: on quit, on an I/O error, and on a panic (ratatui's panic hook, and a
//!   restore after the UI thread unwinds).
//!
//! On quit, requests not yet started are dropped; the one on the line is allowed to finish
//! (bounded by the terminal's own timeouts), so the journal and the reversal record stay as
//! the terminal core left them.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use hsm::Secret;
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self, Event};
use receipt::{CardNumber, Lang};
use terminal::{Card, Entry, Kind, Pos, SettlementOutcome, TerminalError, TxnRequest};
use tokio::sync::mpsc;

use crate::app::{Action, App, TICK_MS};
use crate::types::{Digits, EntryMode, HostLink, Outcome, Presented, Request, Status};
use crate::ui::draw;

/// Run the interactive terminal until the cashier quits: the UI on this terminal's screen,
/// `pos` on a task. Returns when the UI has quit and the request on the line (if any) is done.
pub async fn run(pos: Pos, cards: Vec<crate::TestCard>, lang: Lang) -> io::Result<()> {
    let (request_tx, request_rx) = mpsc::unbounded_channel::<Request>();
    let (outcome_tx, outcome_rx) = std_mpsc::channel::<Outcome>();
    let closing = Arc::new(AtomicBool::new(false));
    let initial = status_of(&pos, false);
    let worker = tokio::spawn(serve(pos, request_rx, outcome_tx, Arc::clone(&closing)));
    let ui = tokio::task::spawn_blocking(move || {
        let mut app = App::new(cards, lang);
        app.set_status(initial);
        let result = ui_thread(&mut app, request_tx, &outcome_rx);
        (result, app.outstanding())
    });
    let joined = ui.await;
    closing.store(true, Ordering::SeqCst);
    let (result, outstanding) = match joined {
        Ok(done) => done,
        Err(error) => {
            worker.abort();
            if error.is_panic() {
                resume_unwind(error.into_panic());
            }
            return Err(io::Error::other(format!("the UI stopped: {error}")));
        }
    };
    if outstanding > 0 {
        eprintln!(
            "cardnet pos: waiting for the answer to the request on the line (the terminal's own timeout applies)"
        );
    }
    if let Err(error) = worker.await
        && error.is_panic()
    {
        resume_unwind(error.into_panic());
    }
    result
}

/// The UI on this thread: set the screen up, loop, always put it back.
fn ui_thread(
    app: &mut App,
    requests: mpsc::UnboundedSender<Request>,
    outcomes: &std_mpsc::Receiver<Outcome>,
) -> io::Result<()> {
    let mut screen = match ratatui::try_init() {
        Ok(screen) => screen,
        Err(error) => {
            ratatui::restore();
            return Err(io::Error::new(
                error.kind(),
                format!("the interactive terminal needs a terminal ({error}); for scripts use `cardnet pos run`"),
            ));
        }
    };
    let result = catch_unwind(AssertUnwindSafe(|| event_loop(&mut screen, app, &requests, outcomes)));
    ratatui::restore();
    match result {
        Ok(result) => result,
        Err(panic) => resume_unwind(panic),
    }
}

fn event_loop(
    screen: &mut DefaultTerminal,
    app: &mut App,
    requests: &mpsc::UnboundedSender<Request>,
    outcomes: &std_mpsc::Receiver<Outcome>,
) -> io::Result<()> {
    let tick = Duration::from_millis(TICK_MS);
    let mut last_tick = Instant::now();
    let mut worker_gone = false;
    loop {
        loop {
            match outcomes.try_recv() {
                Ok(outcome) => app.on_outcome(outcome),
                Err(std_mpsc::TryRecvError::Empty) => break,
                Err(std_mpsc::TryRecvError::Disconnected) => {
                    if !worker_gone {
                        worker_gone = true;
                        for _ in 0..app.outstanding() {
                            app.on_outcome(stopped());
                        }
                    }
                    break;
                }
            }
        }
        screen.draw(|frame| draw(frame, app))?;
        let timeout = tick.saturating_sub(last_tick.elapsed());
        if event::poll(timeout)?
            && let Event::Key(key) = event::read()?
        {
            match app.on_key(key) {
                Action::None | Action::Cancel => {}
                Action::Submit(request) => {
                    if worker_gone || requests.send(request).is_err() {
                        worker_gone = true;
                        app.on_outcome(stopped());
                    }
                }
                Action::Quit => return Ok(()),
            }
        }
        if last_tick.elapsed() >= tick {
            if app.outstanding() > 0 {
                app.tick();
            }
            last_tick = Instant::now();
        }
    }
}

fn stopped() -> Outcome {
    Outcome { message: "the terminal task stopped: restart cardnet pos".into(), ..Outcome::default() }
}

/// The task that owns the terminal: one request at a time, in order.
async fn serve(
    mut pos: Pos,
    mut requests: mpsc::UnboundedReceiver<Request>,
    outcomes: std_mpsc::Sender<Outcome>,
    closing: Arc<AtomicBool>,
) {
    let mut notices_seen = pos.notices().len();
    let mut link_down = false;
    while let Some(request) = requests.recv().await {
        if closing.load(Ordering::SeqCst) {
            // The cashier quit: what was not started yet is not started.
            continue;
        }
        let mut outcome = match execute(&mut pos, &request).await {
            Ok(outcome) => {
                link_down = false;
                outcome
            }
            Err(error) => {
                link_down |= matches!(error, TerminalError::Unreachable(_));
                Outcome { message: error.to_string(), ..Outcome::default() }
            }
        };
        drop(request);
        let notices = pos.notices();
        let fresh = notices.get(notices_seen..).unwrap_or_default();
        outcome.notices.splice(0..0, fresh.iter().cloned());
        notices_seen = notices.len();
        outcome.status = Some(status_of(&pos, link_down));
        // The UI may be gone (quit): the outcome is then only in the journal.
        let _ = outcomes.send(outcome);
    }
}

/// What the status line shows, from the terminal's state.
fn status_of(pos: &Pos, link_down: bool) -> Status {
    let terminal = pos.terminal();
    let host = match (link_down, pos.host()) {
        (true, _) => HostLink::Down,
        (false, Some((address, backup))) => HostLink::Up { address: address.to_owned(), backup },
        (false, None) => HostLink::Unknown,
    };
    Status {
        host,
        signed_on: terminal.signed_on(),
        batch_no: terminal.batch_no(),
        pending_reversal: terminal.pending_reversal().ok().flatten().map(|(_, reason)| reason),
        operator: terminal.operator().map(str::to_owned),
    }
}

fn secret(digits: &Digits) -> Secret {
    Secret::new(digits.expose().as_bytes())
}

/// The card as the simulated reader gives it: the stripe's track 2 for a swipe; the chip's
/// track 2 equivalent, sequence number and the chip (its ARQC, the issuer's ARPC) for insert
/// and tap. A card known only by its number is keyed.
fn card(presented: &Presented) -> terminal::Result<Card> {
    let entry = match presented.entry {
        EntryMode::Swipe => Entry::Swipe,
        EntryMode::Insert => Entry::Chip,
        EntryMode::Tap => Entry::Contactless,
    };
    match presented.card.sim() {
        Some(sim) => Card::read(sim, entry),
        None => Ok(Card::keyed(presented.card.pan())),
    }
}

fn txn(kind: Kind) -> TxnRequest {
    TxnRequest {
        kind: Some(kind),
        card: None,
        amount_minor: None,
        pin: None,
        original_trace: None,
        original: None,
        supervisor_password: None,
    }
}

/// Run one request on the terminal.
async fn execute(pos: &mut Pos, request: &Request) -> terminal::Result<Outcome> {
    let request = match request {
        Request::SignOn => return pos.sign_on().await.map(from_core),
        Request::Settlement { supervisor_password } => {
            return pos.settle(&secret(supervisor_password)).await.map(from_settlement);
        }
        Request::Query { trace } => return query(pos, *trace),
        Request::Sale { amount_minor, card: presented, pin } => TxnRequest {
            card: Some(card(presented)?),
            amount_minor: Some(*amount_minor),
            pin: pin.as_ref().map(secret),
            ..txn(Kind::Purchase)
        },
        Request::PreAuth { amount_minor, card: presented, pin } => TxnRequest {
            card: Some(card(presented)?),
            amount_minor: Some(*amount_minor),
            pin: pin.as_ref().map(secret),
            ..txn(Kind::PreAuth)
        },
        Request::Balance { card: presented, pin } => {
            TxnRequest { card: Some(card(presented)?), pin: pin.as_ref().map(secret), ..txn(Kind::Balance) }
        }
        Request::Void { original_trace, supervisor_password } => TxnRequest {
            original_trace: Some(format!("{original_trace:06}")),
            supervisor_password: Some(secret(supervisor_password)),
            ..txn(Kind::Void)
        },
        Request::Refund { original_trace, amount_minor, card: presented, supervisor_password } => TxnRequest {
            card: Some(card(presented)?),
            amount_minor: Some(*amount_minor),
            original_trace: Some(format!("{original_trace:06}")),
            supervisor_password: Some(secret(supervisor_password)),
            ..txn(Kind::Refund)
        },
    };
    pos.transact(&request).await.map(from_core)
}

/// The terminal core's outcome as the UI shows it.
fn from_core(outcome: terminal::Outcome) -> Outcome {
    let mut notices = Vec::new();
    if let Some(balance) = &outcome.balance {
        notices.push(format!("Balance: {balance}"));
    }
    if let Some(reason) = &outcome.reversal_pending {
        notices.push(format!("Reversal ({reason}) pending: it is sent before the next transaction"));
    }
    Outcome {
        approved: outcome.approved,
        trace: outcome.trace.parse().ok(),
        response_code: outcome.response_code,
        message: outcome.message,
        rrn: outcome.rrn,
        auth_code: outcome.auth_code,
        receipt: outcome.receipt,
        notices,
        status: None,
    }
}

fn from_settlement(settled: SettlementOutcome) -> Outcome {
    let balanced = settled.domestic_balanced && settled.foreign_balanced;
    let totals = &settled.totals;
    let mut notices = vec![
        format!(
            "Domestic: debits {} ({}), credits {} ({})",
            totals.domestic_debit_count,
            receipt::Amount::cny(totals.domestic_debit_minor),
            totals.domestic_credit_count,
            receipt::Amount::cny(totals.domestic_credit_minor)
        ),
        format!(
            "Foreign: debits {} ({}), credits {} ({})",
            totals.foreign_debit_count,
            receipt::Amount::cny(totals.foreign_debit_minor),
            totals.foreign_credit_count,
            receipt::Amount::cny(totals.foreign_credit_minor)
        ),
    ];
    if settled.uploaded_messages > 0 {
        notices.push(format!("Batch upload: {} messages", settled.uploaded_messages));
    }
    Outcome {
        approved: true,
        message: format!(
            "batch {:06} settled ({}); next batch {:06}",
            settled.batch_no,
            if balanced { "balanced" } else { "unbalanced, uploaded" },
            settled.next_batch_no
        ),
        notices,
        ..Outcome::default()
    }
}

/// A transaction of the open batch from the journal (no network).
fn query(pos: &Pos, trace: u32) -> terminal::Result<Outcome> {
    let entries = pos.terminal().entries()?;
    let found = entries.iter().find(|e| e.trace.parse::<u32>().ok() == Some(trace));
    Ok(match found {
        None => {
            Outcome { message: format!("no transaction with trace {trace:06} in the open batch"), ..Outcome::default() }
        }
        Some(entry) => Outcome {
            message: format!("{} {}", entry.kind, entry.status),
            trace: Some(trace),
            rrn: entry.rrn.clone(),
            auth_code: entry.auth_code.clone(),
            notices: vec![
                format!("Card {}", CardNumber::new(&entry.pan).masked()),
                format!("Amount {}", receipt::Amount::cny(entry.amount_minor)),
                format!("Batch {:06}, operator {}", entry.batch_no, entry.operator),
            ],
            ..Outcome::default()
        },
    })
}
