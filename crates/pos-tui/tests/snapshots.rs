//! Screens rendered to ratatui's `TestBackend` and compared with the text snapshots in
//! `tests/snapshots/`. A changed rendering fails; `CARDNET_UPDATE_SNAPSHOTS=1 cargo test -p
//! cardnet-pos-tui` rewrites the files (review the diff before committing).

use std::path::PathBuf;

use pos_tui::{
    Action, App, Digits, EntryMode, HostLink, KeyCode, KeyEvent, KeyModifiers, Outcome, Presented, Request, Screen,
    Status, Step, TestCard, Verdict, draw,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use receipt::{Amount, CardNumber, DateTime, EntryMode as SlipEntry, Lang, Receipt, ReceiptCopy, TransactionType};

/// The test terminal: wide enough for the status line, tall enough for the menu.
const WIDTH: u16 = 80;
const HEIGHT: u16 = 20;
const PAN: &str = "6228480402564890018";
const PAN_2: &str = "6212345678901234";
const PIN: &str = "7391";

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn press(app: &mut App, code: KeyCode) -> Action {
    app.on_key(key(code))
}

fn type_digits(app: &mut App, digits: &str) {
    for c in digits.chars() {
        assert_eq!(press(app, KeyCode::Char(c)), Action::None);
    }
}

fn cards() -> Vec<TestCard> {
    vec![
        TestCard::new("good card", domain::Pan::new(PAN).unwrap()),
        TestCard::new("expired", domain::Pan::new(PAN_2).unwrap()),
    ]
}

fn status() -> Status {
    Status {
        host: HostLink::Up { address: "127.0.0.1:7001".into(), backup: false },
        signed_on: true,
        batch_no: 1,
        pending_reversal: None,
        operator: Some("01".into()),
        batch_full: false,
    }
}

fn app() -> App {
    let mut app = App::new(cards(), Lang::En);
    app.set_status(status());
    app
}

/// The buffer as text, one line per row, trailing blanks cut.
fn render(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).expect("test backend");
    terminal.draw(|frame| draw(frame, app)).expect("draw");
    let buffer = terminal.backend().buffer();
    let mut text = String::new();
    for y in 0..buffer.area.height {
        let mut line = String::new();
        for x in 0..buffer.area.width {
            line.push_str(buffer.cell((x, y)).map_or(" ", |c| c.symbol()));
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

fn snapshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(format!("{name}.txt"))
}

/// Compare with the stored snapshot, or rewrite it under `CARDNET_UPDATE_SNAPSHOTS=1`.
fn assert_snapshot(name: &str, actual: &str) {
    let path = snapshot_path(name);
    if std::env::var_os("CARDNET_UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; create it with CARDNET_UPDATE_SNAPSHOTS=1 cargo test -p cardnet-pos-tui", path.display())
    });
    assert!(
        expected == actual,
        "screen {name} differs from {}\n--- expected\n{expected}\n--- actual\n{actual}\n\
         (if the change is intended: CARDNET_UPDATE_SNAPSHOTS=1 cargo test -p cardnet-pos-tui)",
        path.display()
    );
}

/// Nothing on screen shows a full card number.
fn assert_no_pan(screen: &str) {
    for pan in [PAN, PAN_2] {
        assert!(!screen.contains(pan), "full PAN on screen:\n{screen}");
        assert!(!screen.contains(&pan[6..pan.len() - 4]), "PAN middle digits on screen:\n{screen}");
    }
}

fn sale_receipt() -> Receipt {
    Receipt {
        merchant_name: "CARDNET TEST SHOP".into(),
        merchant_id: "898440158120001".into(),
        terminal_id: "POS00001".into(),
        operator: "01".into(),
        card_number: CardNumber::new(PAN),
        card_organization: "CUP".into(),
        transaction: TransactionType::Sale,
        entry_mode: SlipEntry::Chip,
        batch: 1,
        trace: 12,
        rrn: "000000123456".into(),
        auth_code: "A1B2C3".into(),
        date_time: DateTime { year: 2026, month: 6, day: 1, hour: 14, minute: 3, second: 22 },
        amount: Amount::cny(1234),
        debit_balance: false,
        pin_verified: true,
        copy: ReceiptCopy::Merchant,
        reprint: false,
        original_trace: None,
        original_rrn: None,
        original_auth_code: None,
    }
}

#[test]
fn sale_flow() {
    let mut app = app();
    let screen = render(&app);
    assert_snapshot("01_menu", &screen);

    // Menu → Sale (Down, Enter).
    assert_eq!(press(&mut app, KeyCode::Down), Action::None);
    assert_eq!(press(&mut app, KeyCode::Enter), Action::None);
    assert_eq!(app.screen(), Screen::Input(pos_tui::Step::Amount));
    type_digits(&mut app, "12345");
    press(&mut app, KeyCode::Backspace);
    assert_eq!(app.amount_minor(), 1234);
    assert_snapshot("02_amount", &render(&app));

    // Card choice: the first card, inserted.
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen(), Screen::Input(pos_tui::Step::Card));
    let screen = render(&app);
    assert_no_pan(&screen);
    assert!(screen.contains("622848*********0018"), "{screen}");
    assert_snapshot("03_card", &screen);

    // PIN pad: four digits show as ****, never as digits.
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen(), Screen::Input(pos_tui::Step::Pin));
    type_digits(&mut app, PIN);
    let screen = render(&app);
    let pin_line = screen.lines().find(|l| l.starts_with("│ PIN")).expect("PIN line");
    assert!(pin_line.contains("****"), "{pin_line}");
    assert!(!pin_line.chars().any(|c| c.is_ascii_digit()), "PIN digits on the PIN line: {pin_line}");
    assert!(!screen.contains(PIN), "PIN on screen:\n{screen}");
    assert_no_pan(&screen);
    assert_snapshot("04_pin", &screen);

    // Enter: the request goes to the driver; the UI shows progress and keeps going.
    let action = press(&mut app, KeyCode::Enter);
    let Action::Submit(Request::Sale { amount_minor, card, pin }) = action else { panic!("sale not submitted") };
    assert_eq!(amount_minor, 1234);
    assert_eq!(card.card.pan().as_str(), PAN);
    assert_eq!(card.entry, EntryMode::Chip);
    assert_eq!(pin.as_ref().map(Digits::expose), Some(PIN));
    assert!(!format!("{card:?} {pin:?}").contains(PIN) && !format!("{card:?}").contains(PAN));
    assert_eq!(app.screen(), Screen::Processing);
    for _ in 0..7 {
        app.tick();
    }
    assert_snapshot("05_processing", &render(&app));
    // Keys other than Esc do nothing while waiting.
    assert_eq!(press(&mut app, KeyCode::Enter), Action::None);
    assert_eq!(app.screen(), Screen::Processing);

    // The answer with its receipt.
    app.on_outcome(Outcome {
        failed: false,
        approved: true,
        response_code: "00".into(),
        message: "approved".into(),
        trace: Some(12),
        rrn: Some("000000123456".into()),
        auth_code: Some("A1B2C3".into()),
        receipt: Some(sale_receipt()),
        notices: Vec::new(),
        status: Some(Status { batch_no: 1, ..status() }),
    });
    assert_eq!(app.screen(), Screen::Result);
    let screen = render(&app);
    assert_no_pan(&screen);
    assert!(screen.contains("APPROVED  00 approved"), "{screen}");
    assert_snapshot("06_receipt", &screen);

    // Scroll to the end of the receipt, then the cardholder copy.
    for _ in 0..40 {
        press(&mut app, KeyCode::Down);
    }
    press(&mut app, KeyCode::Right);
    assert_eq!(app.receipt_copy(), ReceiptCopy::Cardholder);
    assert_no_pan(&render(&app));

    // Back to the menu; reprint shows the last receipt again.
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen(), Screen::Menu);
    assert_eq!(press(&mut app, KeyCode::Char('8')), Action::None);
    assert_eq!(app.screen(), Screen::Result);
    assert!(
        app.receipt_lines().iter().any(|l| l.contains("REPRINT") || l.contains("重打印")),
        "{:?}",
        app.receipt_lines()
    );
}

/// Issue 12 point 4: a full batch is on the status line, so the cashier knows why a sale is
/// refused before trying one.
#[test]
fn a_full_batch_is_on_the_status_line() {
    let line = pos_tui::status_line(&Status { batch_no: 7, batch_full: true, ..status() });
    assert_eq!(line, " Host up 127.0.0.1:7001 | Signed on | Batch 000007 FULL: settle now | No reversal");
    assert!(!pos_tui::status_line(&status()).contains("FULL"));
}

#[test]
fn status_line() {
    let mut app = App::new(cards(), Lang::En);
    assert_snapshot("status_initial", &render(&app));
    app.set_status(Status {
        host: HostLink::Up { address: "127.0.0.1:7002".into(), backup: true },
        signed_on: false,
        batch_no: 42,
        pending_reversal: Some("98".into()),
        operator: Some("01".into()),
        batch_full: false,
    });
    let screen = render(&app);
    let last = screen.lines().last().unwrap_or("");
    assert_eq!(last, " Host BACKUP 127.0.0.1:7002 | Not signed on | Batch 000042 | Reversal 98 pending");
    assert_snapshot("status_failover_reversal", &screen);
    app.set_status(Status { host: HostLink::Down, ..Status::default() });
    assert!(
        render(&app)
            .lines()
            .last()
            .unwrap_or("")
            .starts_with(" Host DOWN | Not signed on | Batch 000000 | No reversal")
    );
}

#[test]
fn cancel_keeps_the_ui_alive_and_shows_the_late_answer() {
    let mut app = app();
    assert!(matches!(press(&mut app, KeyCode::Char('1')), Action::Submit(Request::SignOn)));
    assert_eq!(app.outstanding(), 1);
    assert_eq!(press(&mut app, KeyCode::Esc), Action::Cancel);
    assert_eq!(app.screen(), Screen::Menu);
    let screen = render(&app);
    assert!(screen.contains("[busy: 1 waiting]"), "{screen}");
    app.on_outcome(Outcome { response_code: "00".into(), message: "approved".into(), ..Outcome::default() });
    assert_eq!(app.screen(), Screen::Menu);
    assert_eq!(app.outstanding(), 0);
    assert!(app.notice().unwrap_or("").contains("Late answer"));
}

#[test]
fn every_menu_item_is_reachable_by_keyboard() {
    let mut app = app();
    // Void: trace, supervisor password (hidden).
    press(&mut app, KeyCode::Char('3'));
    assert_eq!(app.screen(), Screen::Input(pos_tui::Step::Trace));
    press(&mut app, KeyCode::Enter);
    assert!(app.notice().is_some(), "empty trace refused");
    type_digits(&mut app, "12");
    press(&mut app, KeyCode::Enter);
    type_digits(&mut app, "123456");
    let screen = render(&app);
    assert!(screen.contains("******") && !screen.contains("123456"), "{screen}");
    let Action::Submit(Request::Void { original_trace: 12, supervisor_password }) = press(&mut app, KeyCode::Enter)
    else {
        panic!("void not submitted")
    };
    assert_eq!(supervisor_password.expose(), "123456");
    app.on_outcome(Outcome { response_code: "00".into(), message: "approved".into(), ..Outcome::default() });
    press(&mut app, KeyCode::Esc);

    // Refund: trace, amount, card (swipe, second card), supervisor.
    press(&mut app, KeyCode::Char('4'));
    type_digits(&mut app, "7");
    press(&mut app, KeyCode::Enter);
    type_digits(&mut app, "500");
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Right);
    press(&mut app, KeyCode::Enter);
    type_digits(&mut app, "1234");
    let Action::Submit(Request::Refund { original_trace: 7, amount_minor: 500, card, .. }) =
        press(&mut app, KeyCode::Enter)
    else {
        panic!("refund not submitted")
    };
    assert_eq!(card, Presented { card: cards()[1].clone(), entry: EntryMode::Swipe });
    press(&mut app, KeyCode::Esc); // stop waiting

    // Pre-auth without a PIN (Enter on an empty pad), tapped.
    press(&mut app, KeyCode::Char('5'));
    type_digits(&mut app, "100");
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Left);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('1'));
    press(&mut app, KeyCode::Enter); // one digit: refused
    assert_eq!(app.screen(), Screen::Input(pos_tui::Step::Pin));
    press(&mut app, KeyCode::Backspace);
    let action = press(&mut app, KeyCode::Enter);
    assert!(
        matches!(&action, Action::Submit(Request::PreAuth { amount_minor: 100, pin: None, card }) if card.entry == EntryMode::Contactless),
        "{action:?}"
    );
    press(&mut app, KeyCode::Esc);

    // Balance, settlement, query; Esc steps back; Esc on the menu quits.
    press(&mut app, KeyCode::Char('6'));
    assert_eq!(app.screen(), Screen::Input(pos_tui::Step::Card));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.screen(), Screen::Menu);
    press(&mut app, KeyCode::Char('7'));
    type_digits(&mut app, "0000");
    assert!(matches!(press(&mut app, KeyCode::Enter), Action::Submit(Request::Settlement { .. })));
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('9'));
    type_digits(&mut app, "000012");
    assert_eq!(press(&mut app, KeyCode::Enter), Action::Submit(Request::Query { trace: 12 }));
    press(&mut app, KeyCode::Esc);
    assert_eq!(press(&mut app, KeyCode::Esc), Action::Quit);
}

#[test]
fn input_never_panics_or_overflows() {
    let mut app = App::new(Vec::new(), Lang::Zh);
    let codes = [
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::Left,
        KeyCode::Right,
        KeyCode::Enter,
        KeyCode::Backspace,
        KeyCode::Char('9'),
        KeyCode::Char('x'),
        KeyCode::Tab,
        KeyCode::Esc,
    ];
    // A long pseudo-random walk over every screen (no cards: the card step refuses).
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..3_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let code = codes[usize::try_from(seed % codes.len() as u64).unwrap_or(0)];
        if app.on_key(key(code)) == Action::Quit {
            app = App::new(Vec::new(), Lang::Zh);
        }
        if seed.is_multiple_of(97) {
            app.on_outcome(Outcome::default());
        }
        app.tick();
        let _ = render(&app);
    }
    // The amount stops at field 4's 12 digits.
    let mut app = self::app();
    press(&mut app, KeyCode::Char('2'));
    type_digits(&mut app, "99999999999999999");
    assert_eq!(app.amount_minor(), 999_999_999_999);
}

#[test]
fn free_text_is_masked() {
    assert_eq!(pos_tui::mask_pans("card 6228480402564890018 declined"), "card 622848*********0018 declined");
    assert_eq!(pos_tui::mask_pans("trace 000012 rrn 000000123456"), "trace 000012 rrn 000000123456");
}

/// A sale of 12.34 with the first card inserted and a PIN, up to the processing screen.
fn sale_submitted(app: &mut App) {
    press(app, KeyCode::Char('2'));
    type_digits(app, "1234");
    press(app, KeyCode::Enter);
    press(app, KeyCode::Enter);
    type_digits(app, PIN);
    assert!(matches!(press(app, KeyCode::Enter), Action::Submit(Request::Sale { .. })));
    assert_eq!(app.screen(), Screen::Processing);
}

#[test]
fn an_error_of_the_terminal_shows_failed_with_the_error() {
    let mut app = app();
    sale_submitted(&mut app);
    let mut outcome = Outcome::failure(
        "host unreachable: 127.0.0.1:7001: Connection refused (os error 111); card 6228480402564890018",
    );
    outcome.status = Some(Status { host: HostLink::Down, ..status() });
    assert_eq!(outcome.verdict(), Verdict::Failed);
    app.on_outcome(outcome);
    assert_eq!(app.screen(), Screen::Result);
    let screen = render(&app);
    assert_no_pan(&screen);
    let headline = screen.lines().nth(2).unwrap_or("");
    assert!(headline.starts_with("│ FAILED  host unreachable: 127.0.0.1:7001"), "{screen}");
    assert!(!screen.contains("DONE") && !screen.contains("DECLINED"), "{screen}");
    // The whole error is there, wrapped rather than cut at the border (its card number masked).
    assert!(screen.contains("622848*********0018"), "{screen}");
    assert!(screen.lines().last().unwrap_or("").starts_with(" Host DOWN"), "{screen}");
    assert_snapshot("07_failed", &screen);

    // A card error (a stripe-only card inserted) reads the same way.
    press(&mut app, KeyCode::Enter);
    sale_submitted(&mut app);
    app.on_outcome(Outcome::failure("card: the card has no chip: swipe it"));
    assert!(render(&app).contains("│ FAILED  card: the card has no chip: swipe it"));

    // Not every answer without a response code is a failure: a query is DONE.
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('9'));
    type_digits(&mut app, "12");
    press(&mut app, KeyCode::Enter);
    app.on_outcome(Outcome { message: "sale approved".into(), trace: Some(12), ..Outcome::default() });
    assert!(render(&app).contains("│ DONE  sale approved"));
}

#[test]
fn a_decline_shows_its_response_code_and_text() {
    let mut app = app();
    sale_submitted(&mut app);
    app.on_outcome(Outcome {
        response_code: "06".into(),
        message: "error".into(),
        trace: Some(13),
        rrn: Some("000000123457".into()),
        notices: vec!["Reversal (06) pending: it is sent before the next transaction".into()],
        status: Some(Status { pending_reversal: Some("06".into()), ..status() }),
        ..Outcome::default()
    });
    let screen = render(&app);
    assert_no_pan(&screen);
    assert!(screen.contains("│ DECLINED  06 error"), "{screen}");
    assert!(screen.contains("Reversal (06) pending"), "{screen}");
    assert!(app.receipt_lines().is_empty(), "a decline prints no slip");
    assert_snapshot("08_declined", &screen);

    // The same decline arriving after the cashier stopped waiting is a notice, still a decline.
    press(&mut app, KeyCode::Enter);
    sale_submitted(&mut app);
    assert_eq!(press(&mut app, KeyCode::Esc), Action::Cancel);
    app.on_outcome(Outcome { response_code: "51".into(), message: "insufficient funds".into(), ..Outcome::default() });
    assert_eq!(app.notice(), Some("Late answer to a cancelled request: DECLINED 51 insufficient funds"));
}

fn not_signed_on() -> Status {
    Status { signed_on: false, host: HostLink::Unknown, ..status() }
}

#[test]
fn power_on_signs_on_with_progress_and_a_host_down_leaves_the_ui_usable() {
    // Signed on already (keys on file, the host asked for nothing): nothing to do.
    let mut app = app();
    assert_eq!(app.power_on(), Action::None);
    assert_eq!(app.screen(), Screen::Menu);

    // Not signed on: the sign-on goes out with the processing screen up.
    let mut app = App::new(cards(), Lang::En);
    app.set_status(not_signed_on());
    assert_eq!(app.power_on(), Action::Submit(Request::SignOn));
    assert_eq!(app.screen(), Screen::Processing);
    assert_eq!(app.outstanding(), 1);
    // Only once: a second call while it is on the line does not send another.
    assert_eq!(app.power_on(), Action::None);
    app.tick();
    let screen = render(&app);
    assert!(screen.contains("Sign on: waiting for the host"), "{screen}");
    assert_snapshot("power_on_processing", &screen);

    // The host cannot be reached: back to the menu, the notice and the status line say so.
    let mut failed = Outcome::failure("host unreachable: 127.0.0.1:7001: Connection refused (os error 111)");
    failed.status = Some(Status { host: HostLink::Down, ..not_signed_on() });
    app.on_outcome(failed);
    assert_eq!(app.screen(), Screen::Menu);
    assert_eq!(app.outstanding(), 0);
    let screen = render(&app);
    assert!(screen.contains(" Power-on sign-on FAILED (1: try again): host unreachable"), "{screen}");
    assert!(screen.lines().last().unwrap_or("").starts_with(" Host DOWN | Not signed on"), "{screen}");
    assert_snapshot("power_on_host_down", &screen);
    // Still usable: a sale can be keyed (the terminal signs on before it goes out).
    assert_eq!(press(&mut app, KeyCode::Char('2')), Action::None);
    assert_eq!(app.screen(), Screen::Input(Step::Amount));
    assert_eq!(app.power_on(), Action::None, "power-on is at start only");
    press(&mut app, KeyCode::Esc);
    // The cashier signs on by hand: that answer is a result screen as usual.
    assert_eq!(press(&mut app, KeyCode::Char('1')), Action::Submit(Request::SignOn));
    app.on_outcome(Outcome {
        approved: true,
        response_code: "00".into(),
        message: "approved".into(),
        ..Outcome::default()
    });
    assert_eq!(app.screen(), Screen::Result);

    // The host answers: the menu with the sign-on's answer, signed on.
    let mut app = App::new(cards(), Lang::En);
    app.set_status(not_signed_on());
    assert!(matches!(app.power_on(), Action::Submit(Request::SignOn)));
    app.on_outcome(Outcome {
        approved: true,
        response_code: "00".into(),
        message: "approved".into(),
        status: Some(status()),
        ..Outcome::default()
    });
    assert_eq!(app.screen(), Screen::Menu);
    assert_eq!(app.notice(), Some("Power-on sign-on: APPROVED 00 approved"));
    assert!(app.status().signed_on);

    // The cashier stops waiting for it: the menu at once, the answer later as a notice.
    let mut app = App::new(cards(), Lang::En);
    app.set_status(not_signed_on());
    assert!(matches!(app.power_on(), Action::Submit(Request::SignOn)));
    assert_eq!(press(&mut app, KeyCode::Esc), Action::Cancel);
    assert_eq!(app.screen(), Screen::Menu);
    app.on_outcome(Outcome {
        response_code: "00".into(),
        approved: true,
        message: "approved".into(),
        ..Outcome::default()
    });
    assert_eq!(app.screen(), Screen::Menu);
    assert!(app.notice().unwrap_or("").starts_with("Late answer"), "{:?}", app.notice());
}

/// A card file as `cardnet issuer card issue --json` writes one (an array of three cards: a
/// chip debit card, a stripe-only credit card, and a card whose product text carries an escape
/// sequence and is longer than a row has room for).
const CARD_FILE: &str = r#"[
  {"card_id": 1, "pan": "6228480402564890018", "expiry": "3012", "product": "debit", "available_minor": 50000,
   "track2": "6228480402564890018=30122011234500000", "pin": "123456",
   "chip_track2": "6228480402564890018=30122011234500000", "card_sequence": "01",
   "icc_master_key_ac": "0123456789ABCDEFFEDCBA9876543210", "atc": 7},
  {"card_id": 2, "pan": "6212345678901234", "expiry": "3012", "product": "credit", "available_minor": 123456,
   "track2": "6212345678901234=30122011234500000", "pin": "654321"},
  {"card_id": 3, "pan": "6212345678905678", "product": "gift\u001b[2J card of the spring promotion, reloadable online"}
]"#;

#[test]
fn the_card_list_shows_label_and_masked_number_only() {
    let dir = std::env::temp_dir().join(format!("cardnet-pos-tui-cards-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("cards.json");
    std::fs::write(&path, CARD_FILE).expect("card file");
    let sims = terminal::SimCard::load_all(&path).expect("card file loads");
    let _ = std::fs::remove_dir_all(&dir);
    let cards: Vec<TestCard> = sims.into_iter().map(TestCard::from_sim).collect();
    assert!(cards[0].sim().is_some_and(|sim| sim.lock().is_ok_and(|sim| sim.has_chip())));

    let mut app = App::new(cards, Lang::En);
    app.set_status(status());
    press(&mut app, KeyCode::Char('2'));
    type_digits(&mut app, "2500");
    press(&mut app, KeyCode::Enter);
    let screen = render(&app);
    assert_no_pan(&screen);
    assert!(!screen.contains("6212345678905678") && !screen.contains("\u{1b}"), "{screen}");
    for line in ["│> 622848*********0018  debit ", "│  621234******1234  credit "] {
        assert!(screen.contains(line), "{line}\n{screen}");
    }
    // The card file's balance is the issuer's business, not the cashier's.
    for balance in ["available", "500.00", "1234.56"] {
        assert!(!screen.contains(balance), "{balance} on the cashier's screen:\n{screen}");
    }
    assert!(screen.contains("│  621234******5678  gift?[2J card of the spring promotion, r…"), "{screen}");
    // Nothing of the card but its label and masked number: no track, expiry, PIN or key.
    for secret in ["=3012", "123456", "654321", "0123456789ABCDEF", "3012"] {
        assert!(!screen.contains(secret), "{secret} on screen:\n{screen}");
    }
    assert_snapshot("card_list_from_file", &screen);
}
