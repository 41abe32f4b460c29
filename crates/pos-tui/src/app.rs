//! The UI's state machine: keys in, [`Action`]s out, [`Outcome`]s in. No I/O, no clock (the
//! driver calls [`App::tick`]), so every screen can be reached and checked in a test.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use receipt::{Lang, Receipt, ReceiptCopy};

use crate::types::{
    AMOUNT_DIGITS_MAX, AMOUNT_MINOR_MAX, Digits, ENTRY_CHOICES, EntryMode, Outcome, PIN_DIGITS_MIN, Presented, Request,
    Status, TRACE_DIGITS_MAX, TestCard, Verdict,
};

/// How often the driver calls [`App::tick`] while it waits (the spinner's speed).
pub const TICK_MS: u64 = 100;

/// The cashier's menu, in the order shown (digits 1–9 choose directly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuItem {
    SignOn,
    Sale,
    Void,
    Refund,
    PreAuth,
    Balance,
    Settlement,
    Reprint,
    Query,
}

impl MenuItem {
    pub const ALL: [MenuItem; 9] = [
        MenuItem::SignOn,
        MenuItem::Sale,
        MenuItem::Void,
        MenuItem::Refund,
        MenuItem::PreAuth,
        MenuItem::Balance,
        MenuItem::Settlement,
        MenuItem::Reprint,
        MenuItem::Query,
    ];

    pub fn label(self) -> &'static str {
        match self {
            MenuItem::SignOn => "Sign on",
            MenuItem::Sale => "Sale",
            MenuItem::Void => "Void",
            MenuItem::Refund => "Refund",
            MenuItem::PreAuth => "Pre-auth",
            MenuItem::Balance => "Balance",
            MenuItem::Settlement => "Settlement",
            MenuItem::Reprint => "Reprint",
            MenuItem::Query => "Query",
        }
    }

    /// The input screens this item goes through, in order, before it is submitted.
    pub fn steps(self) -> &'static [Step] {
        match self {
            MenuItem::SignOn | MenuItem::Reprint => &[],
            MenuItem::Sale | MenuItem::PreAuth => &[Step::Amount, Step::Card, Step::Pin],
            MenuItem::Void => &[Step::Trace, Step::Supervisor],
            MenuItem::Refund => &[Step::Trace, Step::Amount, Step::Card, Step::Supervisor],
            MenuItem::Balance => &[Step::Card, Step::Pin],
            MenuItem::Settlement => &[Step::Supervisor],
            MenuItem::Query => &[Step::Trace],
        }
    }
}

/// One input screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Digits become minor units as on a cash register: 1, 2, 3, 4 → 12.34.
    Amount,
    /// The original transaction's trace (voucher) number.
    Trace,
    /// A test card from the list and insert / swipe / tap.
    Card,
    /// The cardholder's PIN, shown as `*`; Enter with none is "no PIN" (signature).
    Pin,
    /// The supervisor's password, shown as `*`.
    Supervisor,
}

/// Which screen is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Menu,
    Input(Step),
    /// Waiting for the driver: spinner, elapsed time, Esc to stop waiting.
    Processing,
    /// The answer and its receipt.
    Result,
}

/// What the driver must do after a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    None,
    /// Run this on a task and hand the result to [`App::on_outcome`].
    Submit(Request),
    /// The cashier stopped waiting for the request in flight. Its outcome still comes (in
    /// order) and is shown as a notice; the terminal core's own timeout and reversal rules
    /// decide what happens on the line.
    Cancel,
    Quit,
}

/// What is being typed for the current menu item.
#[derive(Debug, Default)]
struct Form {
    amount_minor: u64,
    trace: String,
    card: usize,
    entry: usize,
    pin: Digits,
    supervisor: Digits,
}

/// The whole UI state.
#[derive(Debug)]
pub struct App {
    lang: Lang,
    cards: Vec<TestCard>,
    status: Status,
    screen: Screen,
    menu: usize,
    item: MenuItem,
    step: usize,
    form: Form,
    /// One line for the cashier: an input error, a late answer, a hint.
    notice: Option<String>,
    /// What the processing screen is doing.
    processing: &'static str,
    ticks: u64,
    /// Requests submitted and not yet answered (the driver runs them in order).
    outstanding: usize,
    /// Of those, the ones the cashier stopped waiting for (the oldest first).
    cancelled: usize,
    result: Option<Outcome>,
    receipt_copy: ReceiptCopy,
    scroll: u16,
    last_receipt: Option<Receipt>,
    /// The result screen shows a reprint of `last_receipt` rather than `result`'s receipt.
    reprint: bool,
    /// The oldest outstanding request is the sign-on [`App::power_on`] started: its answer
    /// goes to the menu as a notice instead of a result screen.
    power_on_sign_on: bool,
}

impl App {
    pub fn new(cards: Vec<TestCard>, lang: Lang) -> App {
        App {
            lang,
            cards,
            status: Status::default(),
            screen: Screen::Menu,
            menu: 0,
            item: MenuItem::SignOn,
            step: 0,
            form: Form::default(),
            notice: None,
            processing: "",
            ticks: 0,
            outstanding: 0,
            cancelled: 0,
            result: None,
            receipt_copy: ReceiptCopy::Merchant,
            scroll: 0,
            last_receipt: None,
            reprint: false,
            power_on_sign_on: false,
        }
    }

    // ---- read by `draw` and tests ----

    pub fn screen(&self) -> Screen {
        self.screen
    }
    pub fn lang(&self) -> Lang {
        self.lang
    }
    pub fn cards(&self) -> &[TestCard] {
        &self.cards
    }
    pub fn status(&self) -> &Status {
        &self.status
    }
    pub fn menu_index(&self) -> usize {
        self.menu
    }
    pub fn item(&self) -> MenuItem {
        self.item
    }
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }
    pub fn processing(&self) -> &'static str {
        self.processing
    }
    pub fn ticks(&self) -> u64 {
        self.ticks
    }
    /// Requests the driver still owes an outcome for.
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }
    pub fn amount_minor(&self) -> u64 {
        self.form.amount_minor
    }
    pub fn trace_typed(&self) -> &str {
        &self.form.trace
    }
    pub fn card_index(&self) -> usize {
        self.form.card
    }
    pub fn entry(&self) -> EntryMode {
        ENTRY_CHOICES.get(self.form.entry).copied().unwrap_or(EntryMode::Chip)
    }
    /// One `*` per PIN digit typed.
    pub fn pin_stars(&self) -> String {
        self.form.pin.stars()
    }
    pub fn supervisor_stars(&self) -> String {
        self.form.supervisor.stars()
    }
    pub fn result(&self) -> Option<&Outcome> {
        self.result.as_ref()
    }
    pub fn receipt_copy(&self) -> ReceiptCopy {
        self.receipt_copy
    }
    pub fn scroll(&self) -> u16 {
        self.scroll
    }

    /// The receipt the result screen shows, as it prints (`receipt::render_lines`).
    pub fn receipt_lines(&self) -> Vec<String> {
        let receipt = if self.reprint {
            self.last_receipt.as_ref()
        } else {
            self.result.as_ref().and_then(|o| o.receipt.as_ref())
        };
        let Some(receipt) = receipt else { return Vec::new() };
        let mut receipt = receipt.clone();
        receipt.copy = self.receipt_copy;
        receipt.reprint |= self.reprint;
        receipt::render_lines(&receipt, self.lang)
    }

    /// Where the current menu item is in its steps: (1-based step, steps).
    pub fn step_position(&self) -> (usize, usize) {
        (self.step + 1, self.item.steps().len())
    }

    // ---- driven by the driver ----

    /// The terminal's state changed (at start, or between outcomes).
    pub fn set_status(&mut self, status: Status) {
        self.status = status;
    }

    /// At power-on, as a real terminal does: sign on when the terminal is not signed on (it
    /// never was, or the host asked for a new sign-on), with the processing screen up. Call it
    /// once, after [`App::set_status`] with the terminal's state and before any key; submit
    /// what it returns. The answer brings the menu back with a notice, whatever it is, and the
    /// status line shows whether the host was reached: a host that is down leaves the terminal
    /// usable (the terminal core signs on again before the next transaction).
    pub fn power_on(&mut self) -> Action {
        if self.status.signed_on || self.outstanding > 0 || self.screen != Screen::Menu {
            return Action::None;
        }
        self.item = MenuItem::SignOn;
        self.step = 0;
        self.form = Form::default();
        let action = self.next_step();
        self.power_on_sign_on = matches!(action, Action::Submit(_));
        action
    }

    /// Time passes (every [`TICK_MS`] while something is outstanding): the spinner turns.
    pub fn tick(&mut self) {
        self.ticks = self.ticks.wrapping_add(1);
    }

    /// The answer to the oldest outstanding request.
    pub fn on_outcome(&mut self, outcome: Outcome) {
        self.outstanding = self.outstanding.saturating_sub(1);
        // Requests are answered in order and the power-on sign-on went first: this is its answer.
        let power_on_answer = std::mem::take(&mut self.power_on_sign_on);
        if let Some(status) = outcome.status.clone() {
            self.status = status;
        }
        if let Some(receipt) = &outcome.receipt {
            self.last_receipt = Some(receipt.clone());
        }
        if self.cancelled > 0 {
            self.cancelled -= 1;
            self.notice = Some(format!("Late answer to a cancelled request: {}", headline(&outcome)));
            return;
        }
        if power_on_answer && self.screen == Screen::Processing {
            self.screen = Screen::Menu;
            self.notice = Some(match outcome.verdict() {
                Verdict::Approved | Verdict::Done => format!("Power-on sign-on: {}", headline(&outcome)),
                Verdict::Declined | Verdict::Failed => {
                    format!("Power-on sign-on {} (1: try again): {}", outcome.verdict().label(), summary(&outcome))
                }
            });
            return;
        }
        if self.screen == Screen::Processing {
            self.show_result(outcome, false);
        } else {
            self.notice = Some(format!("Answer: {}", headline(&outcome)));
        }
    }

    fn show_result(&mut self, outcome: Outcome, reprint: bool) {
        self.result = Some(outcome);
        self.reprint = reprint;
        self.receipt_copy = ReceiptCopy::Merchant;
        self.scroll = 0;
        self.notice = None;
        self.screen = Screen::Result;
    }

    /// One key from the keyboard.
    pub fn on_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Action::Quit;
        }
        match self.screen {
            Screen::Menu => self.menu_key(key.code),
            Screen::Input(step) => self.input_key(step, key.code),
            Screen::Processing => self.processing_key(key.code),
            Screen::Result => self.result_key(key.code),
        }
    }

    fn menu_key(&mut self, code: KeyCode) -> Action {
        let count = MenuItem::ALL.len();
        match code {
            KeyCode::Up => self.menu = (self.menu + count - 1) % count,
            KeyCode::Down => self.menu = (self.menu + 1) % count,
            KeyCode::Char(c @ '1'..='9') => {
                let index = usize::from(c as u8 - b'1');
                if index < count {
                    self.menu = index;
                    return self.open(MenuItem::ALL[index]);
                }
            }
            KeyCode::Enter => {
                if let Some(&item) = MenuItem::ALL.get(self.menu) {
                    return self.open(item);
                }
            }
            KeyCode::Esc => return Action::Quit,
            _ => {}
        }
        Action::None
    }

    fn open(&mut self, item: MenuItem) -> Action {
        self.item = item;
        self.step = 0;
        self.notice = None;
        self.form = Form::default();
        if item == MenuItem::Reprint {
            return match &self.last_receipt {
                Some(_) => {
                    let outcome = Outcome { message: "reprint of the last receipt".into(), ..Outcome::default() };
                    self.show_result(outcome, true);
                    Action::None
                }
                None => {
                    self.notice = Some("No receipt to reprint yet".into());
                    Action::None
                }
            };
        }
        self.next_step()
    }

    /// Move to the item's current step, or submit when all are done.
    fn next_step(&mut self) -> Action {
        match self.item.steps().get(self.step) {
            Some(&step) => {
                self.screen = Screen::Input(step);
                Action::None
            }
            None => match self.build_request() {
                Some(request) => {
                    self.processing = request.title();
                    self.ticks = 0;
                    self.outstanding += 1;
                    self.notice = None;
                    self.screen = Screen::Processing;
                    Action::Submit(request)
                }
                None => {
                    self.screen = Screen::Menu;
                    self.notice = Some("Nothing to submit".into());
                    Action::None
                }
            },
        }
    }

    fn presented(&self) -> Option<Presented> {
        let card = self.cards.get(self.form.card)?.clone();
        Some(Presented { card, entry: self.entry() })
    }

    fn pin(&self) -> Option<Digits> {
        (!self.form.pin.is_empty()).then(|| self.form.pin.clone())
    }

    fn trace(&self) -> Option<u32> {
        self.form.trace.parse().ok().filter(|&t| t > 0)
    }

    fn build_request(&self) -> Option<Request> {
        let amount_minor = self.form.amount_minor;
        let supervisor_password = self.form.supervisor.clone();
        Some(match self.item {
            MenuItem::SignOn => Request::SignOn,
            MenuItem::Sale => Request::Sale { amount_minor, card: self.presented()?, pin: self.pin() },
            MenuItem::PreAuth => Request::PreAuth { amount_minor, card: self.presented()?, pin: self.pin() },
            MenuItem::Balance => Request::Balance { card: self.presented()?, pin: self.pin() },
            MenuItem::Void => Request::Void { original_trace: self.trace()?, supervisor_password },
            MenuItem::Refund => Request::Refund {
                original_trace: self.trace()?,
                amount_minor,
                card: self.presented()?,
                supervisor_password,
            },
            MenuItem::Settlement => Request::Settlement { supervisor_password },
            MenuItem::Query => Request::Query { trace: self.trace()? },
            MenuItem::Reprint => return None,
        })
    }

    fn back(&mut self) -> Action {
        self.notice = None;
        if self.step == 0 {
            self.screen = Screen::Menu;
        } else {
            self.step -= 1;
            if let Some(&step) = self.item.steps().get(self.step) {
                self.screen = Screen::Input(step);
            }
        }
        Action::None
    }

    fn advance(&mut self) -> Action {
        self.notice = None;
        self.step += 1;
        self.next_step()
    }

    fn input_key(&mut self, step: Step, code: KeyCode) -> Action {
        if code == KeyCode::Esc {
            return self.back();
        }
        match step {
            Step::Amount => self.amount_key(code),
            Step::Trace => self.trace_key(code),
            Step::Card => self.card_key(code),
            Step::Pin => self.pin_key(code),
            Step::Supervisor => self.supervisor_key(code),
        }
    }

    fn amount_key(&mut self, code: KeyCode) -> Action {
        match code {
            KeyCode::Char(c) if c.is_ascii_digit() => {
                let digit = u64::from(c as u8 - b'0');
                let next = self.form.amount_minor.checked_mul(10).and_then(|a| a.checked_add(digit));
                match next {
                    Some(next) if next <= AMOUNT_MINOR_MAX => self.form.amount_minor = next,
                    _ => self.notice = Some(format!("At most {AMOUNT_DIGITS_MAX} digits")),
                }
            }
            KeyCode::Backspace => self.form.amount_minor /= 10,
            KeyCode::Enter if self.form.amount_minor == 0 => self.notice = Some("Type the amount".into()),
            KeyCode::Enter => return self.advance(),
            _ => {}
        }
        Action::None
    }

    fn trace_key(&mut self, code: KeyCode) -> Action {
        match code {
            KeyCode::Char(c) if c.is_ascii_digit() => {
                if self.form.trace.len() < TRACE_DIGITS_MAX {
                    self.form.trace.push(c);
                } else {
                    self.notice = Some(format!("A trace number has {TRACE_DIGITS_MAX} digits at most"));
                }
            }
            KeyCode::Backspace => {
                self.form.trace.pop();
            }
            KeyCode::Enter if self.trace().is_none() => self.notice = Some("Type the trace number".into()),
            KeyCode::Enter => return self.advance(),
            _ => {}
        }
        Action::None
    }

    fn card_key(&mut self, code: KeyCode) -> Action {
        let cards = self.cards.len();
        let modes = ENTRY_CHOICES.len();
        match code {
            KeyCode::Up if cards > 0 => self.form.card = (self.form.card + cards - 1) % cards,
            KeyCode::Down if cards > 0 => self.form.card = (self.form.card + 1) % cards,
            KeyCode::Left => self.form.entry = (self.form.entry + modes - 1) % modes,
            KeyCode::Right => self.form.entry = (self.form.entry + 1) % modes,
            KeyCode::Enter if self.cards.get(self.form.card).is_none() => {
                self.notice = Some("No test cards: issue some with `cardnet issuer card issue`".into());
            }
            KeyCode::Enter => return self.advance(),
            _ => {}
        }
        Action::None
    }

    fn pin_key(&mut self, code: KeyCode) -> Action {
        match code {
            KeyCode::Char(c) if c.is_ascii_digit() => {
                let taken = self.form.pin.push(c);
                if !taken {
                    self.notice = Some("The PIN is complete: press Enter".into());
                }
            }
            KeyCode::Backspace => self.form.pin.pop(),
            KeyCode::Enter if (1..PIN_DIGITS_MIN).contains(&self.form.pin.len()) => {
                self.notice = Some(format!("A PIN has at least {PIN_DIGITS_MIN} digits"));
            }
            KeyCode::Enter => return self.advance(),
            _ => {}
        }
        Action::None
    }

    fn supervisor_key(&mut self, code: KeyCode) -> Action {
        match code {
            KeyCode::Char(c) if c.is_ascii_digit() => {
                self.form.supervisor.push(c);
            }
            KeyCode::Backspace => self.form.supervisor.pop(),
            KeyCode::Enter if self.form.supervisor.len() < PIN_DIGITS_MIN => {
                self.notice = Some(format!("The supervisor password has at least {PIN_DIGITS_MIN} digits"));
            }
            KeyCode::Enter => return self.advance(),
            _ => {}
        }
        Action::None
    }

    fn processing_key(&mut self, code: KeyCode) -> Action {
        if code != KeyCode::Esc {
            return Action::None;
        }
        self.cancelled = (self.cancelled + 1).min(self.outstanding);
        self.screen = Screen::Menu;
        self.notice = Some(format!("{}: stopped waiting; the answer is shown when it comes", self.processing));
        Action::Cancel
    }

    fn result_key(&mut self, code: KeyCode) -> Action {
        match code {
            KeyCode::Up => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::Down => self.scroll = self.scroll.saturating_add(1).min(self.scroll_max()),
            KeyCode::Left | KeyCode::Right => {
                self.receipt_copy = match self.receipt_copy {
                    ReceiptCopy::Merchant => ReceiptCopy::Cardholder,
                    ReceiptCopy::Cardholder => ReceiptCopy::Merchant,
                };
            }
            KeyCode::Enter | KeyCode::Esc => {
                self.screen = Screen::Menu;
                self.notice = None;
            }
            _ => {}
        }
        Action::None
    }

    /// Lines the result screen has (so scrolling stops at the end), counting the rows a long
    /// headline or notice wraps onto in a narrow area.
    fn scroll_max(&self) -> u16 {
        let wrapped_rows = |text: &str| text.chars().count() / crate::ui::RESULT_COLUMNS_MIN + 1;
        let answer = self.result.as_ref().map_or(0, |o| {
            wrapped_rows(&summary(o)) + o.notices.iter().map(|notice| wrapped_rows(notice)).sum::<usize>()
        });
        let rows = self.receipt_lines().len() + answer + crate::ui::RESULT_HEADER_LINES;
        u16::try_from(rows).unwrap_or(u16::MAX)
    }
}

/// `APPROVED 00 approved` / `DECLINED 51 insufficient funds` / `FAILED host unreachable: …`.
pub(crate) fn headline(outcome: &Outcome) -> String {
    format!("{} {}", outcome.verdict().label(), summary(outcome))
}

/// `00 approved` / `51 insufficient funds` / the message alone.
pub(crate) fn summary(outcome: &Outcome) -> String {
    if outcome.response_code.is_empty() {
        outcome.message.clone()
    } else {
        format!("{} {}", outcome.response_code, outcome.message)
    }
}
