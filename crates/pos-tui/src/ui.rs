//! Rendering: `draw(frame, &app)` paints one frame from the state and nothing else.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use receipt::{Amount, ReceiptCopy};

use crate::app::{App, MenuItem, Screen, Step, TICK_MS, summary};
use crate::types::{ENTRY_CHOICES, HostLink, Status, entry_label};

/// Lines of the result screen above the notices and the receipt.
pub(crate) const RESULT_HEADER_LINES: usize = 3;
/// The narrowest result area the scroll limit allows for: the headline and the notices wrap,
/// so each may take a row per this many characters.
pub(crate) const RESULT_COLUMNS_MIN: usize = 40;
/// The spinner's frames (ASCII, so every terminal shows them).
const SPINNER: [&str; 4] = ["|", "/", "-", "\\"];
/// Cells of the processing screen's moving bar.
const BAR_CELLS: usize = 20;
/// Length of the block that moves along the bar.
const BAR_BLOCK: usize = 4;
/// Characters of a card's label the card list shows (the label comes from a card file).
const CARD_LABEL_CHARS_MAX: usize = 40;

/// Paint the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let [title, body, notice, hint, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let mut heading = format!(" cardnet POS - {}", screen_title(app));
    if let Some(operator) = &app.status().operator {
        heading.push_str(&format!("  [operator {operator}]"));
    }
    if app.outstanding() > 0 && app.screen() != Screen::Processing {
        heading.push_str(&format!("  [busy: {} waiting]", app.outstanding()));
    }
    frame.render_widget(Paragraph::new(heading).style(Style::new().add_modifier(Modifier::BOLD)), title);
    draw_body(frame, app, body);
    if let Some(text) = app.notice() {
        frame.render_widget(Paragraph::new(format!(" {}", screen_text(text))), notice);
    }
    frame.render_widget(Paragraph::new(format!(" {}", hint_text(app))), hint);
    frame.render_widget(
        Paragraph::new(status_line(app.status())).style(Style::new().add_modifier(Modifier::REVERSED)),
        status,
    );
}

/// The status line's text: host link, signed on, batch, pending reversal.
pub fn status_line(status: &Status) -> String {
    let host = match &status.host {
        HostLink::Unknown => "Host ?".to_owned(),
        HostLink::Up { address, backup: false } => format!("Host up {address}"),
        HostLink::Up { address, backup: true } => format!("Host BACKUP {address}"),
        HostLink::Down => "Host DOWN".to_owned(),
    };
    let signed = if status.signed_on { "Signed on" } else { "Not signed on" };
    let reversal = match &status.pending_reversal {
        Some(reason) => format!("Reversal {reason} pending"),
        None => "No reversal".to_owned(),
    };
    let full = if status.batch_full { " FULL: settle now" } else { "" };
    format!(" {host} | {signed} | Batch {:06}{full} | {reversal}", status.batch_no)
}

fn screen_title(app: &App) -> String {
    match app.screen() {
        Screen::Menu => "Menu".to_owned(),
        Screen::Input(step) => {
            let (at, of) = app.step_position();
            format!("{} ({at}/{of}): {}", app.item().label(), step_title(step))
        }
        Screen::Processing => format!("{}: processing", app.processing()),
        Screen::Result => format!("{}: result", app.item().label()),
    }
}

fn step_title(step: Step) -> &'static str {
    match step {
        Step::Amount => "amount",
        Step::Trace => "original trace",
        Step::Card => "card",
        Step::Pin => "PIN",
        Step::Supervisor => "supervisor password",
    }
}

fn hint_text(app: &App) -> &'static str {
    match app.screen() {
        Screen::Menu => "Up/Down choose, 1-9 or Enter open, Esc quit",
        Screen::Input(Step::Card) => "Up/Down card, Left/Right insert/swipe/tap, Enter next, Esc back",
        Screen::Input(Step::Pin) => "Digits PIN, Backspace delete, Enter (none: no PIN), Esc back",
        Screen::Input(_) => "Digits type, Backspace delete, Enter next, Esc back",
        Screen::Processing => "Esc stop waiting",
        Screen::Result => "Up/Down scroll, Left/Right copy, Enter menu",
    }
}

fn draw_body(frame: &mut Frame, app: &App, area: Rect) {
    let block = Block::bordered();
    let lines = match app.screen() {
        Screen::Menu => menu_lines(app),
        Screen::Input(step) => input_lines(app, step),
        Screen::Processing => processing_lines(app),
        Screen::Result => {
            // Wrapped: an error says what to do, and that must not be cut off at the border.
            let paragraph =
                Paragraph::new(result_lines(app)).block(block).wrap(Wrap { trim: false }).scroll((app.scroll(), 0));
            frame.render_widget(paragraph, area);
            return;
        }
    };
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn menu_lines(app: &App) -> Vec<Line<'static>> {
    MenuItem::ALL
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let selected = index == app.menu_index();
            let text = format!("{} {}  {}", if selected { ">" } else { " " }, index + 1, item.label());
            if selected { Line::styled(text, Style::new().add_modifier(Modifier::REVERSED)) } else { Line::raw(text) }
        })
        .collect()
}

fn money(minor: u64) -> String {
    Amount::cny(minor).to_string()
}

fn input_lines(app: &App, step: Step) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let steps = app.item().steps();
    let shows_amount = steps.contains(&Step::Amount) && step != Step::Amount;
    if shows_amount {
        lines.push(Line::raw(format!(" Amount    {}", money(app.amount_minor()))));
    }
    let shows_card = step == Step::Pin || (step == Step::Supervisor && steps.contains(&Step::Card));
    if let Some(card) = app.cards().get(app.card_index()).filter(|_| shows_card) {
        lines.push(Line::raw(format!(" Card      {} ({})", card.masked(), entry_label(app.entry()))));
    }
    if !lines.is_empty() {
        lines.push(Line::raw(""));
    }
    match step {
        Step::Amount => {
            lines.push(Line::raw(format!(" Amount    {}_", money(app.amount_minor()))));
        }
        Step::Trace => {
            lines.push(Line::raw(format!(" Trace no. {}_", app.trace_typed())));
        }
        Step::Card => {
            if app.cards().is_empty() {
                lines.push(Line::raw(" (no test cards)"));
            }
            for (index, card) in app.cards().iter().enumerate() {
                let selected = index == app.card_index();
                let text =
                    format!("{} {}  {}", if selected { ">" } else { " " }, card.masked(), card_label(&card.label));
                lines.push(if selected {
                    Line::styled(text, Style::new().add_modifier(Modifier::REVERSED))
                } else {
                    Line::raw(text)
                });
            }
            lines.push(Line::raw(""));
            let mut spans = vec![Span::raw(" Entry    ")];
            for mode in ENTRY_CHOICES {
                let text = if mode == app.entry() {
                    format!(" [{}]", entry_label(mode))
                } else {
                    format!("  {} ", entry_label(mode))
                };
                spans.push(Span::raw(text));
            }
            lines.push(Line::from(spans));
        }
        Step::Pin => {
            lines.push(Line::raw(format!(" PIN       {}_", app.pin_stars())));
            lines.push(Line::raw(""));
            lines.push(Line::raw(" Cardholder: enter PIN, then Enter"));
        }
        Step::Supervisor => {
            lines.push(Line::raw(format!(" Supervisor password  {}_", app.supervisor_stars())));
        }
    }
    lines
}

fn processing_lines(app: &App) -> Vec<Line<'static>> {
    let ticks = app.ticks();
    let frame = SPINNER[usize::try_from(ticks % SPINNER.len() as u64).unwrap_or(0)];
    let span = (BAR_CELLS - BAR_BLOCK) as u64;
    // Back and forth along the bar.
    let position = ticks % (2 * span);
    let offset = usize::try_from(if position <= span { position } else { 2 * span - position }).unwrap_or(0);
    let bar = format!("{}{}{}", " ".repeat(offset), "=".repeat(BAR_BLOCK), " ".repeat(BAR_CELLS - BAR_BLOCK - offset));
    let elapsed_ms = ticks.saturating_mul(TICK_MS);
    vec![
        Line::raw(format!(" {frame} {}: waiting for the host", app.processing())),
        Line::raw(""),
        Line::raw(format!(" [{bar}]")),
        Line::raw(format!(" {}.{} s", elapsed_ms / 1000, (elapsed_ms % 1000) / 100)),
        Line::raw(""),
        Line::raw(" Esc: stop waiting (the terminal still"),
        Line::raw(" finishes or reverses the transaction)"),
    ]
}

fn result_lines(app: &App) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if let Some(outcome) = app.result() {
        lines.push(Line::styled(
            format!(" {}  {}", outcome.verdict().label(), screen_text(&summary(outcome))),
            Style::new().add_modifier(Modifier::BOLD),
        ));
        let mut ids = Vec::new();
        if let Some(trace) = outcome.trace {
            ids.push(format!("Trace {trace:06}"));
        }
        if let Some(rrn) = &outcome.rrn {
            ids.push(format!("RRN {rrn}"));
        }
        if let Some(code) = &outcome.auth_code {
            ids.push(format!("Auth {code}"));
        }
        lines.push(Line::raw(format!(" {}", ids.join("  "))));
        lines.push(Line::raw(""));
        for notice in &outcome.notices {
            lines.push(Line::raw(format!(" {}", screen_text(notice))));
        }
    }
    let receipt = app.receipt_lines();
    if !receipt.is_empty() {
        let copy = match app.receipt_copy() {
            ReceiptCopy::Merchant => "merchant copy",
            ReceiptCopy::Cardholder => "cardholder copy",
        };
        lines.push(Line::raw(format!(" --- receipt, {copy} ---")));
        lines.extend(receipt.into_iter().map(|line| Line::raw(format!(" {line}"))));
    }
    lines
}

/// Free text as the screen may show it: card numbers masked, and control characters (an escape
/// sequence in a card file's label or an error text would drive the real terminal) replaced.
fn screen_text(text: &str) -> String {
    mask_pans(&text.chars().map(|c| if c.is_control() { '?' } else { c }).collect::<String>())
}

/// A card's label in the card list: its product and balance, bounded so the row stays one line.
fn card_label(label: &str) -> String {
    let shown = screen_text(label);
    match shown.char_indices().nth(CARD_LABEL_CHARS_MAX) {
        Some((cut, _)) => format!("{}…", &shown[..cut]),
        None => shown,
    }
}

/// Any run of 13–19 digits in free text (a driver's message, a card label) is masked as a card
/// number: the screen never shows a full PAN, whoever wrote the text.
pub fn mask_pans(text: &str) -> String {
    domain::mask_card_numbers(text)
}
