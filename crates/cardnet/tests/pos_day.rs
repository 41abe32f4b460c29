//! The scripted terminal (`cardnet pos run --json`) through the real acquirer, switch and issuer
//! processes (`cardnet serve …`, TCP on loopback), issue 7's end-to-end acceptance:
//!
//! * a day of every transaction type over every entry mode, slips in both languages, declines
//!   with their reasons, a balanced settlement (the acquirer's 0510 48[30] = `1`), the batch
//!   number advancing, and the issuer's balances as the arithmetic says;
//! * the network cut mid-sale: reversal pending 98, sent exactly once by the next `pos run` (a
//!   fresh process: the terminal powers on from its journal), the issuer's hold voided;
//! * a forged response MAC: not approved, A0, the next run signs on again and sends one 0400 with
//!   39 = A0, the issuer's hold released.
//!
//! A frame relay (`testnet::relay`) sits between the terminal and the acquirer: it records what
//! each side sent and, when told, cuts or forges the next financial answer.

#![cfg(unix)]

mod common;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::till::{POLL, Till, WAIT};
use common::{ProcessNetwork, Servers};
use serde_json::Value;
use testnet::relay::{FrameRelay, Mode};

/// One network at a time: each is four party processes, and the days below count on answers
/// within a terminal's timeout of a few seconds, which several networks at once on a small, busy
/// machine could miss. The whole file still runs in a few seconds.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A running network and what the test needs to reach it; the processes are killed and the
/// folder removed however the test ends, then the next test may start its network.
struct Day {
    network: ProcessNetwork,
    servers: Option<Servers>,
    _one_at_a_time: MutexGuard<'static, ()>,
}

impl Day {
    /// `network init`, the default debit card (500.00) and `cards` more issued, then every party
    /// started and listening. Returns the cards as `card issue --json` printed them.
    fn start(prefix: &str, cards: &[(&str, Option<u64>, Option<&str>)]) -> (Day, Vec<Value>) {
        let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let mut day = Day { network: ProcessNetwork::set_up(prefix), servers: None, _one_at_a_time: guard };
        let issued = cards.iter().map(|(product, balance, expiry)| day.network.issue_card(product, *balance, *expiry));
        let issued = issued.collect();
        day.servers = Some(day.network.start());
        assert!(day.network.wait_listening(WAIT), "every party listens");
        (day, issued)
    }

    /// A card file (as `card issue --json` printed it) in the network's folder.
    fn card_file(&self, name: &str, card: &Value) -> String {
        let path = self.network.dir.join(format!("{name}.json"));
        std::fs::write(&path, card.to_string()).unwrap();
        path.display().to_string()
    }

    /// Wait until the card's available balance at the issuer is `expected` (advices and
    /// reversals reach the issuer after the terminal had its answer). `issuer card list` reads
    /// the issuer's files while it runs.
    fn await_available(&self, card: &Value, expected: i64) {
        let card_id = card["card_id"].as_i64().unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            let available = self.network.available(card_id);
            if available == expected {
                return;
            }
            assert!(Instant::now() < deadline, "card {card_id}: available {available}, never {expected}");
            std::thread::sleep(POLL);
        }
    }

    /// Stop every party (SIGTERM) and check they stopped cleanly.
    fn stop(&mut self) {
        if let Some(mut servers) = self.servers.take() {
            for exit in servers.stop() {
                assert!(exit.success(), "a graceful stop: {exit:?}");
            }
        }
    }

    /// Issuer A's journal of `card` (the issuer stopped), and its ledger checked.
    fn issuer_journal(&self, card: &Value) -> Vec<issuer::JournalEntry> {
        assert!(self.servers.is_none(), "stop the network first: one process per ledger file");
        let config = issuer::IssuerConfig::load(std::path::Path::new(&self.network.issuer_a)).unwrap();
        let issuer = issuer::Issuer::open_with_lmk_file(&config).unwrap();
        issuer.check_ledger().unwrap();
        issuer.card_journal(card["card_id"].as_i64().unwrap()).unwrap()
    }
}

/// A fresh network with one terminal behind a frame relay, ready (a balance inquiry answered):
/// the default card, its file, and its available balance at the start.
struct Lane {
    day: Day,
    card: Value,
    relay: FrameRelay,
    till: Till,
    card_file: String,
    start: i64,
}

impl Lane {
    fn open(prefix: &str, terminal: &str, timeout_ms: u64) -> Lane {
        let (day, _) = Day::start(prefix, &[]);
        let card = day.network.card.clone();
        let relay = FrameRelay::start(&day.network.acquirer_listen()).unwrap();
        let (config, card_file) = day.network.terminal_files_via(terminal, relay.address(), timeout_ms);
        let mut till = Till::new(config);
        let start = card["available_minor"].as_i64().unwrap();
        till.wait_ready(&card_file);
        Lane { day, card, relay, till, card_file, start }
    }
}

impl Drop for Day {
    fn drop(&mut self) {
        // Kill the processes before removing their files.
        drop(self.servers.take());
        let _ = std::fs::remove_dir_all(&self.network.dir);
    }
}

fn pan(card: &Value) -> String {
    card["pan"].as_str().unwrap().to_owned()
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_else(|| panic!("a string: {value}")).to_owned()
}

/// A Luhn-valid number: `body` and its check digit.
fn luhn(body: &str) -> String {
    let sum: u32 = body
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = c.to_digit(10).unwrap();
            if i % 2 == 0 {
                let d = d * 2;
                if d > 9 { d - 9 } else { d }
            } else {
                d
            }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// An approved transaction with its slip: masked card number with the entry letter, in the
/// language asked for.
fn approved(outcome: &Value, transaction: &str, amount_minor: Option<u64>) -> String {
    assert_eq!(outcome["transaction"], transaction, "{outcome}");
    assert_eq!(
        (&outcome["approved"], &outcome["response_code"]),
        (&Value::Bool(true), &Value::from("00")),
        "{outcome}"
    );
    assert_eq!(outcome["message"], "approved", "{outcome}");
    assert_eq!(outcome["reversal_pending"], Value::Null, "{outcome}");
    if let Some(amount) = amount_minor {
        assert_eq!(outcome["amount_minor"], amount, "{outcome}");
    }
    let masked = text(&outcome["pan_masked"]);
    assert!(masked.contains('*'), "{outcome}");
    let receipt = text(&outcome["receipt"]);
    assert!(receipt.contains(&masked), "the masked card number on the slip\n{receipt}");
    assert!(receipt.contains(&text(&outcome["trace"])), "the trace on the slip\n{receipt}");
    if let Some(rrn) = outcome["rrn"].as_str() {
        assert!(receipt.contains(rrn), "the RRN on the slip\n{receipt}");
    }
    receipt
}

/// The slip is in English: both copies.
fn english(receipt: &str) {
    assert!(receipt.contains("MERCHANT COPY") && receipt.contains("CARDHOLDER COPY"), "{receipt}");
    assert!(!receipt.contains("商户存根"), "{receipt}");
}

/// The slip is in Chinese: both copies.
fn chinese(receipt: &str) {
    assert!(receipt.contains("商户存根") && receipt.contains("持卡人存根"), "{receipt}");
    assert!(!receipt.contains("MERCHANT COPY"), "{receipt}");
}

/// A decline with its reason, no slip, nothing to reverse.
fn declined(outcome: &Value, code: &str, message: &str) {
    assert_eq!(outcome["approved"], false, "{outcome}");
    assert_eq!((text(&outcome["response_code"]), text(&outcome["message"])), (code.to_owned(), message.to_owned()));
    assert!(outcome.get("receipt").is_none_or(Value::is_null), "no slip for a decline: {outcome}");
    assert_eq!(outcome["reversal_pending"], Value::Null, "a decline is not reversed: {outcome}");
}

/// The issuer's journal has exactly one network reversal (0420, or a 0421 repeat), and it is of
/// `original`: the acquirer delivered the terminal's one 0400 once.
fn assert_reversed_once(journal: &[issuer::JournalEntry], original: &issuer::JournalEntry) {
    let reversals: Vec<_> = journal.iter().filter(|e| e.mti.starts_with("042")).collect();
    assert_eq!(reversals.len(), 1, "one network reversal at the issuer: {journal:?}");
    assert_eq!(reversals[0].original_key.as_deref(), Some(original.request_key.as_str()), "{journal:?}");
    assert_eq!(reversals[0].response_code, "00", "{journal:?}");
}

// ---- the tests -------------------------------------------------------------------------------

/// A day at the till: every transaction type over swipe, chip, tap and keyed entry, slips in
/// both languages, declines with their reasons, the reprint, a balanced settlement and the next
/// batch, sign-off; the issuer's balances are what the day adds up to.
#[test]
fn a_day_of_every_transaction_type_over_every_entry_mode_settles_balanced() {
    let cards = [("credit", None, None), ("debit", Some(1_000), None), ("debit", Some(10_000), Some("2001"))];
    let (mut day, issued) = Day::start("pos-day-a", &cards);
    let [credit, poor, expired] = [&issued[0], &issued[1], &issued[2]];
    let debit = day.network.card.clone();
    let relay = FrameRelay::start(&day.network.acquirer_listen()).unwrap();
    let (config, debit_file) = day.network.terminal_files_via("POS00001", relay.address(), 10_000);
    let credit_file = day.card_file("credit", credit);
    let poor_file = day.card_file("poor", poor);
    let expired_file = day.card_file("expired", expired);
    let unknown = luhn("622424000000001");
    let mut till = Till::new(config);
    let debit_start = debit["available_minor"].as_i64().unwrap();
    let credit_start = credit["available_minor"].as_i64().unwrap();

    let signed = till.run(&["sign-on"]);
    assert_eq!((&signed["approved"], &signed["response_code"]), (&Value::Bool(true), &Value::from("00")), "{signed}");
    assert_eq!(signed["batch_no"], 1, "{signed}");
    till.wait_ready(&debit_file);
    let parameters = till.run(&["parameters"]);
    assert_eq!(parameters["response_code"], "00", "{parameters}");
    let merchant_name = text(&parameters["merchant_name"]);
    let mark = relay.mark();

    // Sales: swipe, chip and keyed with the debit card, tap with the credit card; slips in
    // English and Chinese.
    // These are chip cards: a swipe is the fallback after a chip that cannot be read.
    let with_entry = |args: &[&str], entry: &str| {
        let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        args.extend(["--entry".to_owned(), entry.to_owned()]);
        if entry == "swipe" {
            args.push("--chip-fails".to_owned());
        }
        args
    };
    let sale = |till: &mut Till, lang: &str, amount: &str, file: &str, entry: &str| {
        let args = with_entry(&["--lang", lang, "sale", "--amount", amount, "--card-file", file], entry);
        till.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    // Swiped while its chip reads: refused at the terminal ("insert the chip"), exit 2.
    let refused = till.output(false, &["sale", "--amount", "1.00", "--card-file", &debit_file, "--entry", "swipe"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("insert the chip"), "{refused:?}");
    let swipe = sale(&mut till, "en", "125.00", &debit_file, "swipe");
    let slip = approved(&swipe, "sale", Some(12_500));
    english(&slip);
    assert!(slip.contains("SALE") && slip.contains("RMB 125.00") && slip.contains("PIN VERIFIED"), "{slip}");
    assert!(slip.contains(&format!("{} /S", text(&swipe["pan_masked"]))), "entry mode S\n{slip}");
    assert!(slip.contains(&merchant_name) && slip.contains("CUP"), "{slip}");
    let chip = sale(&mut till, "zh", "20.00", &debit_file, "chip");
    let slip = approved(&chip, "sale", Some(2_000));
    chinese(&slip);
    assert!(slip.contains("消费") && slip.contains(&format!("{} /I", text(&chip["pan_masked"]))), "{slip}");
    let tap = sale(&mut till, "en", "15.00", &credit_file, "tap");
    let slip = approved(&tap, "sale", Some(1_500));
    english(&slip);
    assert!(slip.contains(&format!("{} /C", text(&tap["pan_masked"]))), "entry mode C\n{slip}");
    let keyed = sale(&mut till, "zh", "3.00", &debit_file, "keyed");
    let slip = approved(&keyed, "sale", Some(300));
    chinese(&slip);
    assert!(slip.contains(&format!("{} /M", text(&keyed["pan_masked"]))), "entry mode M\n{slip}");
    // The chip's ATC is written back to the card file after each read.
    let card_file: Value = serde_json::from_str(&std::fs::read_to_string(&debit_file).unwrap()).unwrap();
    assert!(card_file["atc"].as_u64().unwrap() >= 1, "{card_file}");

    // Balance by chip.
    let balance = till.run(&["--lang", "en", "balance", "--card-file", &debit_file, "--entry", "chip"]);
    let slip = approved(&balance, "balance", None);
    let available = balance["balance"]["available_minor"].as_i64().expect("the available balance");
    assert!(balance["balance"]["ledger_minor"].as_i64().is_some_and(|ledger| ledger >= available), "{balance}");
    assert_eq!(balance["balance"]["currency"], "CNY");
    assert!(slip.contains("BALANCE"), "{balance}");

    // Void of the chip sale (the supervisor's password): the slip shows the original's entry
    // mode; refund of part of the swipe sale.
    let void = till.supervised(&["--lang", "en", "void", "--trace", &text(&chip["trace"])]);
    let slip = approved(&void, "void", Some(2_000));
    assert!(slip.contains("VOID") && slip.contains("-20.00"), "{slip}");
    assert!(slip.contains(&format!("{} /I", text(&void["pan_masked"]))), "the original's entry mode I\n{slip}");
    assert!(slip.contains(&text(&chip["trace"])), "the original's voucher number\n{slip}");
    let refund_args = ["--lang", "zh", "refund", "--amount", "10.00", "--trace", &text(&swipe["trace"])];
    let refund = till.supervised(&[&refund_args[..], &["--card-file", &debit_file, "--chip-fails"]].concat());
    let slip = approved(&refund, "refund", Some(1_000));
    assert!(slip.contains("退货"), "{slip}");

    // Pre-authorisations: completed, voided, completed offline (advice).
    let pre_auth = |till: &mut Till, amount: &str, file: &str, entry: &str| {
        let args = with_entry(&["--lang", "en", "pre-auth", "--amount", amount, "--card-file", file], entry);
        till.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let hotel = pre_auth(&mut till, "80.00", &credit_file, "tap");
    assert!(approved(&hotel, "pre-auth", Some(8_000)).contains("PRE-AUTH"));
    let completion = till.run(&["--lang", "en", "completion", "--trace", &text(&hotel["trace"]), "--amount", "60.00"]);
    let slip = approved(&completion, "completion", Some(6_000));
    assert!(slip.contains("AUTH COMPLETE") && slip.contains("RMB 60.00"), "{slip}");
    let released = pre_auth(&mut till, "10.00", &debit_file, "chip");
    approved(&released, "pre-auth", Some(1_000));
    let pre_auth_void = till.supervised(&["--lang", "en", "pre-auth-void", "--trace", &text(&released["trace"])]);
    assert!(approved(&pre_auth_void, "pre-auth-void", Some(1_000)).contains("PRE-AUTH VOID"));
    // A completion voided the same day (完成撤销, supervisor): the 5.00 back to the card.
    let deposit = pre_auth(&mut till, "5.00", &debit_file, "swipe");
    approved(&deposit, "pre-auth", Some(500));
    let charged = till.run(&["completion", "--trace", &text(&deposit["trace"]), "--amount", "5.00"]);
    approved(&charged, "completion", Some(500));
    let undone = till.supervised(&["--lang", "en", "completion-void", "--trace", &text(&charged["trace"])]);
    let slip = approved(&undone, "completion-void", Some(500));
    assert!(slip.contains("AUTH COMPLETE VOID") && slip.contains("-5.00"), "{slip}");
    let twice = till.output(true, &["completion-void", "--trace", &text(&charged["trace"])]);
    assert_eq!(twice.status.code(), Some(2), "a voided completion cannot be voided again");
    let offline = pre_auth(&mut till, "7.00", &debit_file, "swipe");
    approved(&offline, "pre-auth", Some(700));
    let advice_args = ["--lang", "zh", "completion-advice", "--trace", &text(&offline["trace"]), "--amount", "7.00"];
    let advice = till.run(&advice_args);
    chinese(&approved(&advice, "completion-advice", Some(700)));

    // Declines with their reasons: wrong PIN (55), insufficient funds (51), expired (54), a
    // card the issuer does not know (14).
    let typed = if debit["pin"] == "999999" { "888888" } else { "999999" };
    let wrong = till.run(&["sale", "--amount", "3.00", "--card-file", &debit_file, "--chip-fails", "--pin", typed]);
    declined(&wrong, "55", "wrong PIN");
    let short = till.run(&["sale", "--amount", "50.00", "--card-file", &poor_file, "--entry", "chip"]);
    declined(&short, "51", "insufficient funds");
    let old = till.run(&["sale", "--amount", "1.00", "--card-file", &expired_file, "--chip-fails"]);
    declined(&old, "54", "expired card");
    let nobody = till.run(&["sale", "--amount", "1.00", "--card", &unknown, "--expiry", "3012", "--pin", "123456"]);
    declined(&nobody, "14", "invalid card");

    // The reprint: the last approved slip (the completion advice), marked, in both languages.
    for (lang, marker) in [("en", "REPRINT"), ("zh", "重打印")] {
        let reprint = till.run(&["--lang", lang, "reprint"]);
        let slip = text(&reprint["receipt"]);
        assert!(slip.contains(marker) && slip.contains(&text(&advice["trace"])), "{slip}");
    }

    // No reversal all day.
    let sent = relay.sent_mtis(mark);
    assert!(!sent.contains(&"0400".to_owned()), "{sent:?}");

    // Settlement: debits = sales 125 + 20 + 15 + 3, completions 60 + 5, advice 7 (7); credits
    // = void 20, completion void 5, refund 10 (3). The acquirer agrees: 0510 48[30] = 1.
    let mark = relay.mark();
    let settled = till.supervised(&["settle"]);
    assert_eq!((&settled["domestic_balanced"], &settled["foreign_balanced"]), (&Value::Bool(true), &Value::Bool(true)));
    let totals = &settled["totals"];
    assert_eq!((&totals["domestic_debit_minor"], &totals["domestic_debit_count"]), (&23_500.into(), &7.into()));
    assert_eq!((&totals["domestic_credit_minor"], &totals["domestic_credit_count"]), (&3_500.into(), &3.into()));
    assert_eq!((&settled["batch_no"], &settled["next_batch_no"]), (&1.into(), &2.into()), "{settled}");
    let seen = relay.since(mark);
    // Balanced (§6): the chip and tap sales uploaded with their TC (0320/203), then the 207 end.
    let uploads: Vec<String> =
        seen.iter().filter(|s| s.from_terminal && s.mti == "0320").map(|s| s.path("60.3")).collect();
    assert_eq!(uploads, vec!["203", "203", "207"], "the batch upload");
    assert_eq!(settled["uploaded_messages"], 3, "{settled}");
    let answer = seen.iter().find(|s| !s.from_terminal && s.mti == "0510").expect("an 0510");
    let field48 = answer.field(48);
    assert_eq!((answer.field(39).as_str(), field48.as_bytes().get(30)), ("00", Some(&b'1')), "0510 48 {field48:?}");
    let request = seen.iter().find(|s| s.from_terminal && s.mti == "0500").expect("an 0500");
    assert_eq!(&request.field(48)[..30], "000000023500007000000003500003", "0500 48 {}", request.field(48));

    // Sign off; the next sign-on is in batch 2.
    let off = till.run(&["sign-off"]);
    assert_eq!((&off["transaction"], &off["response_code"]), (&"sign-off".into(), &"00".into()), "{off}");
    let next = till.run(&["sign-on"]);
    assert_eq!((&next["response_code"], &next["batch_no"]), (&"00".into(), &2.into()), "{next}");

    // The closed batch stays on the terminal for reconciliation: every approval once, the
    // voided sale and pre-auth marked, card numbers masked, chip data where a chip was read.
    let journal = till.run(&["journal", "--batch", "1"]);
    let entries = journal["entries"].as_array().unwrap();
    let kinds: Vec<&str> = entries.iter().map(|e| e["transaction"].as_str().unwrap()).collect();
    let count = |kind: &str| kinds.iter().filter(|k| **k == kind).count();
    assert_eq!((count("sale"), count("void"), count("refund")), (4, 1, 1), "{journal}");
    assert_eq!((count("pre-auth"), count("completion"), count("completion-advice")), (4, 2, 1), "{journal}");
    assert_eq!((count("pre-auth-void"), count("completion-void"), count("balance")), (1, 1, 0), "{journal}");
    let voided =
        entries.iter().find(|e| e["status"] == "voided" && e["transaction"] == "sale").expect("the voided sale");
    assert_eq!((&voided["entry_mode"], &voided["chip_data"]), (&"chip".into(), &true.into()), "{voided}");
    assert!(entries.iter().all(|e| e["pan_masked"].as_str().unwrap().contains('*')), "{journal}");
    assert_eq!(till.run(&["journal"])["entries"], serde_json::json!([]), "batch 2 is empty");

    let pans = [pan(&debit), pan(credit), pan(poor), pan(expired), unknown.clone()];
    till.assert_masked(&pans.iter().map(String::as_str).collect::<Vec<_>>());

    // The issuer: debit 500 − 125 − 3 + 10 (refund) − 7 (advice; the voided sale and the
    // pre-auth void released); credit − 15 − 60 (the completion posts 60 of the 80 held).
    let debit_end = debit_start - 12_500 - 300 + 1_000 - 700;
    let credit_end = credit_start - 1_500 - 6_000;
    day.await_available(&debit, debit_end);
    day.await_available(credit, credit_end);
    day.await_available(poor, 1_000);
    day.stop();
    let list = day.network.card_list();
    let available: Vec<i64> =
        list["cards"].as_array().unwrap().iter().map(|c| c["available_minor"].as_i64().unwrap()).collect();
    assert_eq!(available, vec![debit_end, credit_end, 1_000, 10_000], "{list}");
    // The issuer's journal: the void and the pre-auth void released their holds, the completions
    // posted, the refund credited, the wrong PIN declined, and nothing reversed.
    use issuer::EntryState::{Declined, Held, Posted, Refunded, Voided};
    let moved = |card: &Value| {
        let journal = day.issuer_journal(card);
        assert!(!journal.iter().any(|e| e.mti.starts_with("04")), "no reversal all day: {journal:?}");
        let money = ["purchase", "refund", "pre_authorization", "completion", "completion_void"];
        let entries = journal.iter().filter(|e| money.contains(&e.kind.as_str()));
        entries.map(|e| (e.kind.clone(), e.amount_minor, e.state, e.response_code.to_string())).collect::<Vec<_>>()
    };
    let entry = |kind: &str, amount: u64, state, code: &str| (kind.to_owned(), amount, state, code.to_owned());
    let debit_journal = vec![
        entry("purchase", 12_500, Held, "00"),
        entry("purchase", 2_000, Voided, "00"),
        entry("purchase", 300, Held, "00"),
        entry("refund", 1_000, Refunded, "00"),
        entry("pre_authorization", 1_000, Voided, "00"),
        entry("pre_authorization", 500, Posted, "00"),
        entry("completion", 500, Posted, "00"),
        entry("completion_void", 500, Refunded, "00"),
        entry("pre_authorization", 700, Posted, "00"),
        entry("completion", 700, Posted, "00"),
        entry("purchase", 300, Declined, "55"),
    ];
    assert_eq!(moved(&debit), debit_journal);
    let credit_journal = vec![
        entry("purchase", 1_500, Held, "00"),
        entry("pre_authorization", 8_000, Posted, "00"),
        entry("completion", 6_000, Posted, "00"),
    ];
    assert_eq!(moved(credit), credit_journal);
}

/// The network dies after the acquirer took the sale: not approved, reversal 98 pending; the
/// next `pos run` (the terminal powered on again) sends that one 0400 before its own sale, the
/// issuer voids the hold, and no run after it sends it again.
#[test]
fn the_network_cut_mid_sale_is_reversed_exactly_once_by_the_next_run() {
    let Lane { mut day, card, relay, mut till, card_file, start } = Lane::open("pos-day-cut", "POS00001", 3_000);
    let first = till.run(&["sale", "--amount", "30.00", "--card-file", &card_file, "--chip-fails"]);
    approved(&first, "sale", Some(3_000));

    // The acquirer approves (the issuer holds 40.00); the answer never reaches the terminal.
    relay.set(Mode::CutNextAnswer);
    let mark = relay.mark();
    let begun = Instant::now();
    let cut = till.run(&["sale", "--amount", "40.00", "--card-file", &card_file, "--entry", "chip"]);
    assert!(begun.elapsed() < Duration::from_secs(10), "no hang: {:?}", begun.elapsed());
    assert_eq!(cut["approved"], false, "{cut}");
    assert_eq!((text(&cut["response_code"]), text(&cut["reversal_pending"])), ("98".into(), "98".into()), "{cut}");
    assert!(cut.get("receipt").is_none_or(Value::is_null), "no slip: {cut}");
    let seen = relay.since(mark);
    let swallowed: Vec<_> = seen.iter().filter(|s| !s.from_terminal && !s.delivered).collect();
    assert_eq!(swallowed.len(), 1, "the relay swallowed one answer");
    assert_eq!((swallowed[0].mti.as_str(), swallowed[0].field(39).as_str()), ("0210", "00"), "the acquirer approved");
    assert_eq!(relay.reversals(0), vec![], "no reversal yet");
    day.await_available(&card, start - 3_000 - 4_000);

    // The next run: one 0400 (reason 98, the cut sale's trace), then its own sale.
    let mark = relay.mark();
    let next = till.run(&["sale", "--amount", "10.00", "--card-file", &card_file, "--chip-fails"]);
    approved(&next, "sale", Some(1_000));
    let notices = next["notices"].to_string();
    assert!(notices.contains("reversal of trace") && notices.contains(&text(&cut["trace"])), "{notices}");
    assert_eq!(relay.reversals(mark), vec![(text(&cut["trace"]), "98".to_owned())], "exactly one reversal");
    assert_eq!(relay.sent_mtis(mark), vec!["0400", "0200"], "the reversal before the sale");
    let answer = relay.since(mark).into_iter().find(|s| s.mti == "0410").expect("an 0410");
    assert_eq!(answer.field(39), "00");
    day.await_available(&card, start - 3_000 - 1_000);

    // And never again: the runs after it send no reversal.
    let mark = relay.mark();
    let balance = till.run(&["balance", "--card-file", &card_file, "--chip-fails"]);
    approved(&balance, "balance", None);
    let last = till.run(&["sale", "--amount", "5.00", "--card-file", &card_file, "--entry", "tap"]);
    approved(&last, "sale", Some(500));
    assert_eq!(relay.reversals(mark), vec![], "no second reversal");
    assert_eq!(relay.reversals(0).len(), 1, "one reversal in all");
    till.assert_masked(&[&pan(&card)]);
    let end = start - 3_000 - 1_000 - 500;
    day.await_available(&card, end);
    day.stop();

    let journal = day.issuer_journal(&card);
    let voided: Vec<_> = journal.iter().filter(|e| e.state == issuer::EntryState::Voided).collect();
    assert_eq!(voided.len(), 1, "the cut sale's hold voided, once: {journal:?}");
    assert_eq!((voided[0].kind.as_str(), voided[0].amount_minor), ("purchase", 4_000));
    assert_reversed_once(&journal, voided[0]);
    assert_eq!(day.network.available(card["card_id"].as_i64().unwrap()), end);
}

/// A forged MAC on the acquirer's approval: not approved, A0, reversal A0 pending, no slip; the
/// next run signs on again and sends one 0400 with 39 = A0; the issuer releases the hold.
#[test]
fn a_forged_response_mac_is_not_approved_and_reversed_a0() {
    let Lane { mut day, card, relay, mut till, card_file, start } = Lane::open("pos-day-mac", "POS00002", 5_000);
    let slip_before = text(&till.run(&["reprint"])["receipt"]);

    relay.set(Mode::ForgeNextMac);
    let mark = relay.mark();
    let forged = till.run(&["--lang", "en", "sale", "--amount", "25.00", "--card-file", &card_file, "--entry", "tap"]);
    assert_eq!(forged["approved"], false, "{forged}");
    let codes = (text(&forged["response_code"]), text(&forged["reversal_pending"]));
    assert_eq!(codes, ("A0".to_owned(), "A0".to_owned()), "{forged}");
    assert_eq!(forged["sign_on_needed"], true, "{forged}");
    assert!(forged.get("receipt").is_none_or(Value::is_null), "no slip for an untrusted approval: {forged}");
    let answer = relay.since(mark).into_iter().find(|s| s.mti == "0210").expect("an 0210");
    assert_eq!(answer.field(39), "00", "the acquirer approved it");
    assert_eq!(text(&till.run(&["reprint"])["receipt"]), slip_before, "nothing new to reprint");
    day.await_available(&card, start - 2_500);

    // The next run: sign-on again (new keys), the 0400 with A0 under them, then the sale.
    let mark = relay.mark();
    let next = till.run(&["sale", "--amount", "10.00", "--card-file", &card_file, "--chip-fails"]);
    approved(&next, "sale", Some(1_000));
    assert_eq!(relay.sent_mtis(mark), vec!["0800", "0400", "0200"], "sign on, reverse, sell");
    assert_eq!(relay.reversals(mark), vec![(text(&forged["trace"]), "A0".to_owned())], "one reversal, A0");
    let seen = relay.since(mark);
    let answer = seen.iter().find(|s| s.mti == "0410").expect("an 0410");
    assert_eq!(answer.field(39), "00");
    let last = till.run(&["balance", "--card-file", &card_file, "--chip-fails"]);
    approved(&last, "balance", None);
    assert_eq!(relay.reversals(0).len(), 1, "one reversal in all");
    till.assert_masked(&[&pan(&card)]);
    day.await_available(&card, start - 1_000);
    day.stop();

    let journal = day.issuer_journal(&card);
    let voided: Vec<_> = journal.iter().filter(|e| e.state == issuer::EntryState::Voided).collect();
    assert_eq!(voided.len(), 1, "the forged approval's hold released, once: {journal:?}");
    assert_eq!((voided[0].kind.as_str(), voided[0].amount_minor), ("purchase", 2_500));
    assert_reversed_once(&journal, voided[0]);
}

/// Rows of a party's SQLite database (read while it runs or after it stopped), each column as
/// text: what the party itself recorded, not what it answered.
fn rows(database_url: &str, sql: &str) -> Vec<Vec<String>> {
    let db = sqlstore::Database::open(database_url).unwrap();
    db.transaction(|tx| {
        let found = tx.query(sql, &[])?;
        found
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| {
                        Ok(row.opt_text(i).or_else(|_| row.i64(i).map(|v| Some(v.to_string())))?.unwrap_or_default())
                    })
                    .collect()
            })
            .collect()
    })
    .unwrap()
}

/// Issue 12: a void whose answer is lost is reversed by the terminal (0400 of the void) — for a
/// sale's void, a pre-auth void and a completion void in turn. The acquirer puts the original
/// back, the switch passes the 0420 on, the issuer holds the original's amount again (a new
/// hold) or takes the completion void's credit back. Afterwards terminal, acquirer, switch and
/// issuer agree on every transaction — each read from its own records — and the card's
/// available balance is the arithmetic: 500.00 − 30.00 (sale) − 20.00 (pre-auth) − 15.00
/// (completion).
#[test]
fn a_lost_void_answer_is_reversed_and_every_party_agrees() {
    let Lane { mut day, card, relay, mut till, card_file, start } = Lane::open("pos-day-void", "POS00001", 3_000);
    let sale = till.run(&["sale", "--amount", "30.00", "--card-file", &card_file, "--chip-fails"]);
    approved(&sale, "sale", Some(3_000));
    let preauth = till.run(&["pre-auth", "--amount", "20.00", "--card-file", &card_file, "--chip-fails"]);
    approved(&preauth, "pre-auth", Some(2_000));
    let deposit = till.run(&["pre-auth", "--amount", "15.00", "--card-file", &card_file, "--chip-fails"]);
    approved(&deposit, "pre-auth", Some(1_500));
    let completion = till.run(&["completion", "--trace", &text(&deposit["trace"]), "--amount", "15.00"]);
    approved(&completion, "completion", Some(1_500));
    let held = start - 3_000 - 2_000 - 1_500;
    day.await_available(&card, held);

    // Each void approved by the acquirer (the issuer gives the money back), its answer cut; the
    // next run reverses it first (one 0400, answered 00) and the issuer holds the money again.
    let voids = [("void", &sale, 3_000), ("pre-auth-void", &preauth, 2_000), ("completion-void", &completion, 1_500)];
    for (command, original, amount) in voids {
        relay.set(Mode::CutNextAnswer);
        let mark = relay.mark();
        let cut = till.supervised(&[command, "--trace", &text(&original["trace"])]);
        assert_eq!(cut["approved"], false, "{cut}");
        let pending = (text(&cut["response_code"]), text(&cut["reversal_pending"]));
        assert_eq!(pending, ("98".into(), "98".into()), "{cut}");
        let swallowed: Vec<_> = relay.since(mark).into_iter().filter(|s| !s.from_terminal && !s.delivered).collect();
        assert_eq!(swallowed[0].field(39), "00", "{command}: approved by the acquirer");
        day.await_available(&card, held + amount);
        let mark = relay.mark();
        approved(&till.run(&["balance", "--card-file", &card_file, "--chip-fails"]), "balance", None);
        assert_eq!(relay.reversals(mark), vec![(text(&cut["trace"]), "98".to_owned())], "{command}: one 0400");
        let answer = relay.since(mark).into_iter().find(|s| s.mti == "0410").expect("an 0410");
        assert_eq!(answer.field(39), "00");
        day.await_available(&card, held);
    }

    // The terminal: the originals stand, no void in its journal, and its totals (debits 30.00 +
    // 15.00, no credit) are the acquirer's: the settlement balances.
    let journal = till.run(&["journal"]);
    let entries = journal["entries"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> =
        entries.iter().map(|e| (e["transaction"].as_str().unwrap(), e["status"].as_str().unwrap_or(""))).collect();
    assert!(kinds.contains(&("sale", "approved")) && kinds.contains(&("completion", "approved")), "{journal}");
    assert!(!kinds.iter().any(|(k, _)| k.ends_with("void")), "{journal}");
    let settled = till.supervised(&["settle"]);
    assert_eq!(settled["domestic_balanced"], true, "terminal and acquirer agree: {settled}");

    // The switch passed each 0420 on and the issuer acknowledged it.
    let switch_db = switch::SwitchConfig::load(std::path::Path::new(&day.network.switch_config)).unwrap().database;
    let advices = "SELECT purpose, mti, COALESCE(response_code, '') FROM switch_advices ORDER BY id";
    let deadline = Instant::now() + WAIT;
    while rows(&switch_db, advices).iter().any(|r| r[2].is_empty()) {
        assert!(Instant::now() < deadline, "the switch's advice never acknowledged");
        std::thread::sleep(POLL);
    }
    day.stop();
    let expect = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

    // The acquirer: every original live, every void reversed; three network reversals delivered.
    let acquirer_db =
        acquirer::AcquirerConfig::load(std::path::Path::new(&day.network.acquirer_config)).unwrap().database;
    let acquirer = rows(
        &acquirer_db,
        "SELECT kind, status, voided, completed, reversed FROM acquirer_transactions \
         WHERE kind <> 'balance' ORDER BY id",
    );
    let acquirer_expected = [
        ["purchase", "approved", "0", "0", "0"],
        ["pre-auth", "approved", "0", "0", "0"],
        ["pre-auth", "approved", "0", "1", "0"],
        ["completion", "approved", "0", "0", "0"],
        ["void", "approved", "0", "0", "1"],
        ["pre-auth-void", "approved", "0", "0", "1"],
        ["completion-void", "approved", "0", "0", "1"],
    ];
    assert_eq!(acquirer, acquirer_expected.map(|r| expect(&r)).to_vec(), "the acquirer");
    let queue = rows(
        &acquirer_db,
        "SELECT q.state, r.response_code FROM acquirer_reversals r JOIN acquirer_saf q ON q.id = r.id ORDER BY r.id",
    );
    assert_eq!(queue, vec![expect(&["1", "00"]); 3], "three network reversals, delivered");

    // The switch: every exchange answered, each reversal queued to the issuer and acknowledged.
    let exchanges = rows(
        &switch_db,
        "SELECT kind, status, response_code FROM switch_exchanges WHERE kind <> 'balance_inquiry' ORDER BY id",
    );
    let switch_expected = [
        ["purchase", "answered", "00"],
        ["pre_authorization", "answered", "00"],
        ["pre_authorization", "answered", "00"],
        ["completion", "answered", "00"],
        ["void", "answered", "00"],
        ["reversal", "queued", "00"],
        ["pre_authorization_void", "answered", "00"],
        ["reversal", "queued", "00"],
        ["completion_void", "answered", "00"],
        ["reversal", "queued", "00"],
    ];
    assert_eq!(exchanges, switch_expected.map(|r| expect(&r)).to_vec(), "the switch");
    assert_eq!(rows(&switch_db, advices), vec![expect(&["acquirer_reversal", "0420", "00"]); 3], "its advices");

    // The issuer: the sale and the first pre-auth held again (new holds), the second pre-auth
    // and its completion posted, every void reversed, every reversal 00.
    let journal = day.issuer_journal(&card);
    let states: Vec<(String, issuer::EntryState, String)> = journal
        .iter()
        .filter(|e| e.kind != "balance_inquiry")
        .map(|e| (e.kind.clone(), e.state, e.response_code.to_string()))
        .collect();
    use issuer::EntryState::{Held, Posted, Recorded, Reversed};
    let issuer_expected = [
        ("purchase", Held),
        ("pre_authorization", Held),
        ("pre_authorization", Posted),
        ("completion", Posted),
        ("void", Reversed),
        ("reversal", Recorded),
        ("pre_authorization_void", Reversed),
        ("reversal", Recorded),
        ("completion_void", Reversed),
        ("reversal", Recorded),
    ];
    let issuer_expected: Vec<_> = issuer_expected.iter().map(|(k, s)| ((*k).to_owned(), *s, "00".to_owned())).collect();
    assert_eq!(states, issuer_expected, "the issuer");
    let completed = journal.iter().find(|e| e.kind == "completion").unwrap();
    assert_eq!(completed.refunded_minor, 0, "the completion voidable again, as at the acquirer");
    assert_eq!(day.network.available(card["card_id"].as_i64().unwrap()), held);
    till.assert_masked(&[&pan(&card)]);
}
