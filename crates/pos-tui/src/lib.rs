//! `cardnet pos`'s interactive terminal UI (issue 7, item 4), as a pure state machine plus
//! rendering, so every screen is testable without a terminal.
//!
//! * [`App`] (`app.rs`) is the state: the cashier's menu (sign on, sale, void, refund,
//!   pre-auth, balance, settlement, reprint, query), amount entry (digits → minor units, as on
//!   a cash register: `1 2 3 4` is 12.34), the card choice (a test card from a list; insert,
//!   swipe or tap), the PIN pad (one `*` per digit; the digits are never drawn), the supervisor
//!   password, a processing screen (spinner, moving bar, elapsed time, Esc to stop waiting) and
//!   the result with its receipt (`receipt::render_lines`, merchant or cardholder copy).
//!   [`App::on_key`] takes keyboard events only (arrows, digits, Enter, Esc, Backspace) and
//!   returns an [`Action`]; [`App::on_outcome`] takes what came back; [`App::tick`] turns the
//!   spinner; [`App::power_on`] signs on at start when the terminal is not signed on. A result
//!   reads APPROVED or DECLINED (the host's response code and text), FAILED (no answer: the
//!   error and what to do) or DONE (no host decision: a query, a settlement), [`Verdict`].
//! * [`draw`] (`ui.rs`) paints a frame from the state, with the status line (host link, signed
//!   on, batch, pending reversal) at the bottom.
//! * The boundary to the terminal core is plain data (`types.rs`): a [`Request`] goes out in
//!   [`Action::Submit`] for a driver to run on a task (the UI never blocks: it keeps redrawing
//!   and ticking until the [`Outcome`] arrives or the cashier presses Esc), and an [`Outcome`]
//!   with a fresh [`Status`] comes back. Requests are answered in the order they were
//!   submitted; after a cancel, the late answer is shown as a notice.
//!
//! * [`driver::run`] (`driver.rs`) puts it on a real screen over a real terminal: a tokio task
//!   owns `terminal::Pos` and runs the requests in order, the UI loop reads keys, ticks and draws.
//!
//! Card numbers reach the screen only masked (first 6, last 4): test cards through
//! [`TestCard::masked`], free text from the driver through [`mask_pans`].
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod app;
pub mod driver;
mod types;
mod ui;

pub use app::{Action, App, MenuItem, Screen, Step, TICK_MS};
pub use types::{
    AMOUNT_DIGITS_MAX, AMOUNT_MINOR_MAX, Digits, ENTRY_CHOICES, EntryMode, HostLink, Outcome, PIN_DIGITS_MAX,
    PIN_DIGITS_MIN, Presented, Request, Status, TRACE_DIGITS_MAX, TestCard, Verdict, entry_label,
};
pub use ui::{draw, mask_pans, status_line};

/// Re-exported so a driver and tests build key events with the same crossterm version.
pub use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
