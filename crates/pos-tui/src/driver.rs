//! The driver: a real terminal ([`terminal::Pos`] over TCP) behind the [`App`].
//!
//! * A tokio task owns the `Pos` and runs the [`Request`]s strictly in the order they were
//!   submitted, mapping each to the terminal core's calls and the answer back to an
//!   [`Outcome`] (with the slip, the notices the terminal had and a fresh [`Status`]). An error
//!   of the terminal core (host unreachable, a card that cannot be read that way, a state the
//!   terminal refuses in) is a failed outcome with the error's text, never the end of the UI.
//! * At start, as a real terminal at power-on, the UI signs on when the terminal is not signed
//!   on ([`App::power_on`]); a host that cannot be reached leaves the menu up and the status
//!   line saying "Host DOWN".
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
use receipt::Lang;
use terminal::{Card, Kind, Pos, SettlementOutcome, TerminalError, TxnRequest};
use tokio::sync::mpsc;

use crate::app::{Action, App, TICK_MS};
use crate::types::{Digits, HostLink, Outcome, Presented, Request, Status};
use crate::ui::draw;

/// Run the interactive terminal until the cashier quits: the UI on this terminal's screen,
/// `pos` on a task. Returns when the UI has quit and the request on the line (if any) is done.
pub async fn run(pos: Pos, cards: Vec<crate::TestCard>, lang: Lang) -> io::Result<()> {
    let (request_tx, request_rx) = mpsc::unbounded_channel::<Request>();
    let (outcome_tx, outcome_rx) = std_mpsc::channel::<Outcome>();
    let closing = Arc::new(AtomicBool::new(false));
    let initial = status_of(&pos, false);
    let worker = tokio::spawn(serve(Worker::new(pos), request_rx, outcome_tx, Arc::clone(&closing)));
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
    // Without a terminal there is no screen to set up (nor to put back: restoring would write
    // escape sequences into whatever stdout is).
    {
        use std::io::IsTerminal;
        if !io::stdin().is_terminal() || !io::stdout().is_terminal() {
            return Err(io::Error::other(
                "the interactive terminal needs a terminal (stdin and stdout are not one); for scripts use `cardnet pos run`",
            ));
        }
    }
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
    if let Action::Submit(request) = app.power_on() {
        submit(app, requests, request, &mut worker_gone);
    }
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
                Action::Submit(request) => submit(app, requests, request, &mut worker_gone),
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

/// Hand a request to the terminal task; if the task is gone, the request fails at once (the UI
/// must not wait for an answer that cannot come).
fn submit(app: &mut App, requests: &mpsc::UnboundedSender<Request>, request: Request, worker_gone: &mut bool) {
    if *worker_gone || requests.send(request).is_err() {
        *worker_gone = true;
        app.on_outcome(stopped());
    }
}

fn stopped() -> Outcome {
    Outcome::failure("the terminal task stopped: restart cardnet pos")
}

/// The task that owns the terminal: one request at a time, in order.
async fn serve(
    mut worker: Worker,
    mut requests: mpsc::UnboundedReceiver<Request>,
    outcomes: std_mpsc::Sender<Outcome>,
    closing: Arc<AtomicBool>,
) {
    while let Some(request) = requests.recv().await {
        if closing.load(Ordering::SeqCst) {
            // The cashier quit: what was not started yet is not started.
            continue;
        }
        let outcome = worker.answer(&request).await;
        drop(request);
        // The UI may be gone (quit): the outcome is then only in the journal.
        let _ = outcomes.send(outcome);
    }
}

/// The terminal with what the status line needs across requests.
struct Worker {
    pos: Pos,
    /// The terminal's notices already handed to the UI.
    notices_seen: usize,
    /// The last request found neither host reachable (until one is reached again).
    link_down: bool,
}

impl Worker {
    fn new(pos: Pos) -> Worker {
        Worker { notices_seen: pos.notices().len(), pos, link_down: false }
    }

    /// Run one request and say how it went: the core's answer, or its error as a failure; with
    /// the notices the terminal gathered meanwhile and its state after.
    async fn answer(&mut self, request: &Request) -> Outcome {
        let mut outcome = match execute(&mut self.pos, request).await {
            Ok(outcome) => {
                // A query reads the journal only: it says nothing about the line.
                if !matches!(request, Request::Query { .. }) {
                    self.link_down = false;
                }
                outcome
            }
            Err(error) => {
                self.link_down |= matches!(error, TerminalError::Unreachable(_));
                Outcome::failure(error.to_string())
            }
        };
        let notices = self.pos.notices();
        let fresh = notices.get(self.notices_seen..).unwrap_or_default();
        outcome.notices.splice(0..0, fresh.iter().cloned());
        self.notices_seen = notices.len();
        outcome.status = Some(status_of(&self.pos, self.link_down));
        outcome
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
        batch_full: terminal.batch_full(),
    }
}

fn secret(digits: &Digits) -> Secret {
    Secret::new(digits.expose().as_bytes())
}

/// The card as the simulated reader gives it: the stripe's track 2 for a swipe; the chip's
/// track 2 equivalent, sequence number and the chip (its ARQC, the issuer's ARPC) for insert
/// and tap. A card known only by its number is keyed.
fn card(presented: &Presented) -> terminal::Result<Card> {
    match presented.card.sim() {
        Some(sim) => Card::read(sim, presented.entry),
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
        failed: false,
        approved: outcome.approved,
        trace: outcome.trace.parse().ok(),
        response_code: outcome.code_text().to_owned(),
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
    let found = entries.iter().find(|e| e.trace.value() == trace);
    Ok(match found {
        None => {
            Outcome { message: format!("no transaction with trace {trace:06} in the open batch"), ..Outcome::default() }
        }
        Some(entry) => Outcome {
            message: format!("{} {}", entry.kind.name(), entry.status),
            trace: Some(trace),
            rrn: entry.rrn.map(|rrn| rrn.to_string()),
            auth_code: entry.auth_code.clone(),
            notices: vec![
                format!("Card {}", entry.pan.masked()),
                format!("Amount {}", receipt::Amount::cny(entry.amount_minor)),
                format!("Batch {:06}, operator {}", entry.batch_no, entry.operator),
            ],
            ..Outcome::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use crate::types::EntryMode;

    use ratatui::Terminal as Screen;
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use terminal::{SimCard, Terminal, TerminalConfig};

    use super::*;
    use crate::types::{TestCard, Verdict};

    /// A double-length TMK (the terminal only checks it against its check value here).
    const TMK: [u8; 16] =
        [0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66];
    const STRIPE_PAN: &str = "6228480402564890018";
    const STRIPE_TRACK2: &str = "6228480402564890018=30122011234500000";

    fn fresh_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cardnet-pos-tui-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    /// An address nothing listens on: a port the OS just gave out and took back.
    fn closed_address() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        drop(listener);
        address
    }

    /// A terminal (never signed on, cashier 01 logged in) whose host cannot be reached.
    fn pos_with_the_host_down(dir: &Path) -> Pos {
        let hex: String = TMK.iter().map(|b| format!("{b:02X}")).collect();
        std::fs::write(dir.join("tmk.hex"), hex).expect("tmk file");
        let kcv = terminal::keys::tmk_kcv(&Secret::new(&TMK)).expect("kcv");
        let text = format!(
            "terminal_id = \"POS00001\"\nmerchant_id = \"898440158120001\"\nprimary = \"{}\"\n\
             tmk_file = \"tmk.hex\"\ntmk_kcv = \"{kcv}\"\njournal = \"terminal.db\"\n\
             timeout_ms = 500\nconnect_timeout_ms = 500\n\
             [[operators]]\nnumber = \"00\"\nrole = \"supervisor\"\npassword = \"123456\"\n\
             [[operators]]\nnumber = \"01\"\nrole = \"cashier\"\npassword = \"0101\"\n",
            closed_address()
        );
        let path = dir.join("terminal.toml");
        std::fs::write(&path, text).expect("config");
        let mut terminal = Terminal::open(TerminalConfig::load(&path).expect("load")).expect("open");
        terminal.log_in("01", &Secret::new(b"0101")).expect("log in");
        Pos::new(terminal)
    }

    fn stripe_only_card() -> TestCard {
        TestCard::from_sim(SimCard::stripe(STRIPE_PAN, "3012", STRIPE_TRACK2, None).expect("stripe card"))
    }

    fn render(app: &App) -> String {
        let mut screen = Screen::new(TestBackend::new(80, 20)).expect("test backend");
        screen.draw(|frame| draw(frame, app)).expect("draw");
        let buffer = screen.backend().buffer();
        buffer.content().iter().map(|cell| cell.symbol()).collect()
    }

    #[tokio::test]
    async fn a_stripe_only_card_inserted_or_tapped_fails_with_the_card_error() {
        let dir = fresh_dir("no-chip");
        let mut worker = Worker::new(pos_with_the_host_down(&dir));
        for entry in [EntryMode::Chip, EntryMode::Contactless] {
            let card = Presented { card: stripe_only_card(), entry };
            let sale = Request::Sale { amount_minor: 100, card, pin: None };
            let outcome = worker.answer(&sale).await;
            assert_eq!(outcome.verdict(), Verdict::Failed, "{entry:?}: {outcome:?}");
            assert!(outcome.message.contains("the card has no chip: swipe it"), "{outcome:?}");
            // The card was refused before anything went on the line.
            assert_eq!(outcome.status.as_ref().map(|s| &s.host), Some(&HostLink::Unknown));

            // The cashier sees the error as FAILED, not as a result of the host.
            let mut app = App::new(vec![stripe_only_card()], Lang::En);
            app.set_status(Status { signed_on: true, ..Status::default() });
            for key in ['2', '1', '0', '0'] {
                app.on_key(KeyEvent::new(KeyCode::Char(key), KeyModifiers::NONE));
            }
            for _ in 0..3 {
                app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
            }
            assert_eq!(app.outstanding(), 1);
            app.on_outcome(outcome);
            let screen = render(&app);
            assert!(screen.contains("FAILED  card: the card has no chip: swipe it"), "{screen}");
            assert!(!screen.contains("DONE") && !screen.contains(STRIPE_PAN), "{screen}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_power_on_sign_on_with_the_host_down_fails_and_the_status_line_says_so() {
        let dir = fresh_dir("host-down");
        let mut worker = Worker::new(pos_with_the_host_down(&dir));
        let mut app = App::new(Vec::new(), Lang::En);
        app.set_status(status_of(&worker.pos, false));
        let Action::Submit(request) = app.power_on() else { panic!("no sign-on at power-on") };
        assert_eq!(request, Request::SignOn);
        let outcome = worker.answer(&request).await;
        assert_eq!(outcome.verdict(), Verdict::Failed, "{outcome:?}");
        assert!(outcome.message.starts_with("host unreachable"), "{outcome:?}");
        let status = outcome.status.clone().expect("status");
        assert_eq!((status.host, status.signed_on), (HostLink::Down, false));
        app.on_outcome(outcome);
        assert_eq!(app.screen(), crate::Screen::Menu);
        let screen = render(&app);
        assert!(screen.contains("Power-on sign-on FAILED"), "{screen}");
        assert!(screen.contains("Host DOWN | Not signed on"), "{screen}");

        // A query reads the journal only: the line is still down.
        let outcome = worker.answer(&Request::Query { trace: 1 }).await;
        assert_eq!(outcome.status.map(|s| s.host), Some(HostLink::Down));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
