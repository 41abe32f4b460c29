//! The boundary to the terminal core: plain data in ([`Outcome`], [`Status`]) and out
//! ([`Request`]). Nothing here knows about `terminal::Pos`; a driver maps one to the other.

use std::fmt;
use std::sync::{Arc, Mutex};

use terminal::SimCard;

use domain::Pan;
use receipt::Receipt;
use zeroize::Zeroize;

/// Most digits a PIN has (ISO 9564: 4–12).
pub const PIN_DIGITS_MAX: usize = 12;
/// Fewest digits a PIN (or an operator password) has.
pub const PIN_DIGITS_MIN: usize = 4;
/// Largest amount field 4 (n12) carries, in minor units.
pub const AMOUNT_MINOR_MAX: u64 = 999_999_999_999;
/// Digits of an amount as typed (field 4 is n12).
pub const AMOUNT_DIGITS_MAX: usize = 12;
/// Digits of a trace (voucher) number (field 11, n6).
pub const TRACE_DIGITS_MAX: usize = 6;

/// How the card is presented: the one `domain::EntryMode`.
pub use domain::EntryMode;

/// The ways the card screen offers, in its order (keyed entry and fallback are not a
/// cashier's choice there: a keyed card has no simulated card, a fallback follows a chip that
/// would not read).
pub const ENTRY_CHOICES: [EntryMode; 3] = [EntryMode::Chip, EntryMode::Swipe, EntryMode::Contactless];

/// What the card screen calls a way of presenting the card.
pub fn entry_label(mode: EntryMode) -> &'static str {
    match mode {
        EntryMode::Chip => "insert",
        EntryMode::Swipe => "swipe",
        EntryMode::Contactless => "tap",
        EntryMode::Keyed => "keyed",
        EntryMode::Fallback => "fallback",
    }
}

/// A test card the cashier can choose (a card of a card file `cardnet issuer card issue
/// --json` printed). The full PAN is kept for the driver; the screen and `Debug` only ever see
/// it masked. The simulated card itself (stripe, chip with its keys and ATC) is behind
/// [`TestCard::sim`], for the driver's reader.
#[derive(Clone)]
pub struct TestCard {
    /// What the list shows next to the masked number (the card's product: "debit", …; never a
    /// balance).
    pub label: String,
    pan: Pan,
    sim: Option<Arc<Mutex<SimCard>>>,
}

impl PartialEq for TestCard {
    fn eq(&self, other: &TestCard) -> bool {
        self.label == other.label && self.pan == other.pan
    }
}

impl Eq for TestCard {}

impl TestCard {
    /// A card known by its number only (keyed entry).
    pub fn new(label: impl Into<String>, pan: Pan) -> TestCard {
        TestCard { label: label.into(), pan, sim: None }
    }

    /// A simulated card, read by the driver as swiped, inserted or tapped.
    pub fn from_sim(sim: SimCard) -> TestCard {
        let label = if sim.label.is_empty() { "test card".to_owned() } else { sim.label.clone() };
        TestCard { label, pan: sim.pan(), sim: Some(Arc::new(Mutex::new(sim))) }
    }

    /// The simulated card, for the reader.
    pub fn sim(&self) -> Option<&Arc<Mutex<SimCard>>> {
        self.sim.as_ref()
    }

    /// The full card number, for the driver that builds the request. Never for the screen.
    pub fn pan(&self) -> Pan {
        self.pan
    }

    /// First 6 and last 4 digits.
    pub fn masked(&self) -> String {
        self.pan.masked().to_string()
    }
}

impl fmt::Debug for TestCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCard").field("label", &self.label).field("pan", &self.masked()).finish_non_exhaustive()
    }
}

/// Digits typed on the PIN pad (a PIN or an operator password): zeroized on drop, redacted in
/// `Debug`, no `Display`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Digits(String);

impl Digits {
    /// Only ASCII digits, at most [`PIN_DIGITS_MAX`]: anything else is ignored.
    pub fn push(&mut self, digit: char) -> bool {
        if digit.is_ascii_digit() && self.0.len() < PIN_DIGITS_MAX {
            self.0.push(digit);
            true
        } else {
            false
        }
    }

    pub fn pop(&mut self) {
        self.0.pop();
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The digits, for the driver that puts them into a PIN block. Never for the screen.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the screen shows: one `*` per digit.
    pub fn stars(&self) -> String {
        "*".repeat(self.0.len())
    }
}

impl Drop for Digits {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Digits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digits({} redacted)", self.0.len())
    }
}

/// A card as presented: which test card and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    pub card: TestCard,
    pub entry: EntryMode,
}

/// What the cashier asked for and the driver must run (on a task; the UI does not wait).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    SignOn,
    Sale {
        amount_minor: u64,
        card: Presented,
        pin: Option<Digits>,
    },
    Void {
        original_trace: u32,
        supervisor_password: Digits,
    },
    Refund {
        original_trace: u32,
        amount_minor: u64,
        card: Presented,
        supervisor_password: Digits,
    },
    PreAuth {
        amount_minor: u64,
        card: Presented,
        pin: Option<Digits>,
    },
    Balance {
        card: Presented,
        pin: Option<Digits>,
    },
    Settlement {
        supervisor_password: Digits,
    },
    /// Look a transaction of the open batch up by its trace number (the journal; no network).
    Query {
        trace: u32,
    },
}

impl Request {
    /// What the processing screen says it is doing.
    pub fn title(&self) -> &'static str {
        match self {
            Request::SignOn => "Sign on",
            Request::Sale { .. } => "Sale",
            Request::Void { .. } => "Void",
            Request::Refund { .. } => "Refund",
            Request::PreAuth { .. } => "Pre-auth",
            Request::Balance { .. } => "Balance",
            Request::Settlement { .. } => "Settlement",
            Request::Query { .. } => "Query",
        }
    }
}

/// Whether and where the terminal is connected.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HostLink {
    /// Nothing tried yet.
    #[default]
    Unknown,
    /// Connected; `backup` when the primary failed over.
    Up {
        address: String,
        backup: bool,
    },
    Down,
}

/// What the status line shows; the driver sends a fresh one with each outcome.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Status {
    pub host: HostLink,
    pub signed_on: bool,
    pub batch_no: u32,
    /// Reason code of the reversal waiting to be sent (`98`, `A0`, `06`, `96`).
    pub pending_reversal: Option<String>,
    /// The operator logged in (two digits).
    pub operator: Option<String>,
    /// The open batch is at the terminal's `batch_limit`: transactions are refused until the
    /// supervisor settles.
    pub batch_full: bool,
}

/// What came back for one [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// The request did not complete (the host unreachable, the card unreadable, the terminal
    /// refusing in its state): `message` says what went wrong and what to do.
    pub failed: bool,
    pub approved: bool,
    /// Field 39, or empty when the request never reached the host.
    pub response_code: String,
    /// The response code's text, or what went wrong and what to do.
    pub message: String,
    pub trace: Option<u32>,
    pub rrn: Option<String>,
    pub auth_code: Option<String>,
    /// The slip, when the transaction prints one (shown with `receipt::render_lines`).
    pub receipt: Option<Receipt>,
    /// Further lines to show (failover, reversals sent, settlement totals, a query's record).
    pub notices: Vec<String>,
    /// The terminal's state after the request, if the driver knows it.
    pub status: Option<Status>,
}

impl Outcome {
    /// A request that did not complete, with what went wrong and what to do.
    pub fn failure(message: impl Into<String>) -> Outcome {
        Outcome { failed: true, message: message.into(), ..Outcome::default() }
    }

    /// How the result reads at a glance.
    pub fn verdict(&self) -> Verdict {
        if self.failed {
            Verdict::Failed
        } else if self.response_code.is_empty() {
            Verdict::Done
        } else if self.approved {
            Verdict::Approved
        } else {
            Verdict::Declined
        }
    }
}

/// The first word of a result: the host approved or declined, the request failed before an
/// answer, or it was not a host decision at all (a query, a settlement, a reprint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approved,
    /// The host (or the card) answered with a refusal: its response code says why.
    Declined,
    /// No answer to show: the error says what to do.
    Failed,
    Done,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Approved => "APPROVED",
            Verdict::Declined => "DECLINED",
            Verdict::Failed => "FAILED",
            Verdict::Done => "DONE",
        }
    }
}
