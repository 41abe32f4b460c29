//! The risk engine inside the acquirer's authorization (issue 16): a velocity rule declines a
//! burst of small sales on one card with its code, and wrong PINs on many cards at one terminal
//! (card testing) block the terminal — each decision naming the rule that fired.

mod common;

use std::sync::Arc;

use acquirer::risk_engine::EngineRisk;
use acquirer::{Acquirer, MerchantRecord, Step};
use common::pos::{PosCard, PosTerminal};
use common::*;
use hsm::SignOnScheme;
use risk::StoreLimits;

const RULES: &str = r#"
currency = "CNY"
decline_score = 100
alert_score = 50

[[rule]]
id = "small_sales_burst"
kind = "velocity"
entity = "card"
measure = "count"
window = "10m"
threshold = 5
score = 100
reason = "card_count_10m"
decline = "65"

[[rule]]
id = "wrong_pins_across_cards"
kind = "card_testing"
window = "10m"
threshold = 3
score = 100
reason = "card_testing"
decline = "58"
"#;

const RISK_KEY: [u8; 16] = [0x5a; 16];

fn small() -> StoreLimits {
    StoreLimits { cards: 1_024, terminals: 256, merchants: 256, cards_at_merchants: 1_024 }
}

/// The rig's database opened by a second host that runs the engine, and the engine.
fn risky(rig: &Rig) -> (Acquirer, Arc<EngineRisk>) {
    let engine = Arc::new(EngineRisk::from_toml("rules.toml", RULES, RISK_KEY, small()).unwrap());
    (rig.second_host().with_risk(Arc::clone(&engine) as Arc<dyn acquirer::RiskCheck>), engine)
}

/// A sale at `at_ms`: the code the terminal is answered, the switch answering `network_code`
/// when it gets the request.
fn sale(
    rig: &Rig,
    host: &Acquirer,
    terminal: &mut PosTerminal,
    card: &PosCard,
    at_ms: u64,
    network_code: &str,
) -> String {
    let request = terminal.purchase(card, 1_000, Some("123456")).unwrap();
    let reply = match host.on_terminal_request(terminal.envelope, request, at_ms) {
        Step::Respond(reply) => reply,
        Step::Forward(forward) => {
            let answer = rig.switch_answer(&forward.network_request, network_code);
            host.on_network_response(forward.pending, answer, at_ms + 50)
        }
        Step::Ignore => panic!("ignored"),
    };
    code(&reply).to_owned()
}

fn card_numbered(n: u32) -> PosCard {
    let pan = format!("62242400000{n:05}");
    PosCard { pan: pan.clone(), track2: Some(format!("{pan}=28062011234567890000")), expiry_yymm: None }
}

#[test]
fn a_burst_of_small_sales_on_one_card_is_declined_65_after_the_threshold() {
    let rig = rig_shared("risk-burst");
    let (host, engine) = risky(&rig);
    let mut terminal = terminal();
    rig.sign_on(&mut terminal, SignOnScheme::Double);
    let codes: Vec<String> =
        (0..6).map(|i| sale(&rig, &host, &mut terminal, &card(), NOW_MS + i * 1_000, "00")).collect();
    assert_eq!(codes, ["00", "00", "00", "00", "65", "65"], "the fifth reaches the threshold");
    let kept = engine.live().decisions();
    let fired = kept.last().unwrap().decision.fired()[0];
    assert_eq!((fired.rule.as_str(), fired.observed, fired.bound), ("small_sales_burst", 6, 5));
    // Another card at the same terminal is not held back by this card's burst.
    assert_eq!(sale(&rig, &host, &mut terminal, &card_numbered(7), NOW_MS + 7_000, "00"), "00");
}

#[test]
fn wrong_pins_across_cards_at_one_terminal_block_it() {
    let rig = rig_shared("risk-testing");
    let (host, engine) = risky(&rig);
    let mut terminal = terminal();
    rig.sign_on(&mut terminal, SignOnScheme::Double);
    for n in 0..3 {
        let answered = sale(&rig, &host, &mut terminal, &card_numbered(n), NOW_MS + u64::from(n) * 1_000, "55");
        assert_eq!(answered, "55", "the issuer's answer passes through");
    }
    let terminal_id = domain::TerminalId::new(TERMINAL).unwrap();
    assert_eq!(engine.live().blocked_terminals(), [terminal_id]);
    // From now on this terminal is refused 58, whatever the card — after the rule's window too:
    // the block stays until an operator lifts it.
    assert_eq!(sale(&rig, &host, &mut terminal, &card_numbered(9), NOW_MS + 9_000, "00"), "58");
    let later_ms = NOW_MS + 11 * 60_000;
    assert_eq!(sale(&rig, &host, &mut terminal, &card_numbered(10), later_ms, "00"), "58");
    assert!(engine.live().unblock(&terminal_id));
    assert_eq!(sale(&rig, &host, &mut terminal, &card_numbered(11), later_ms + 1_000, "00"), "00");
    // The alert: the terminal, when, and the rule.
    let blocks = engine.live().blocks();
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    assert_eq!(blocks[0].terminal, terminal_id);
    assert_eq!(blocks[0].rules, ["wrong_pins_across_cards"]);
}

/// The rule file named in the configuration's `[risk]` runs inside the host (no code wires it),
/// and is read again when it changes, without a restart; a broken file leaves the running rules.
#[test]
fn the_configured_rule_file_runs_and_reloads_while_serving() {
    let dir = std::env::temp_dir().join(format!("cardnet-acq-risk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rules.toml");
    let lenient = RULES.replace("threshold = 5", "threshold = 50");
    std::fs::write(&path, &lenient).unwrap();
    let rig =
        rig_on("risk-config", true, |config| config.risk = Some(acquirer::config::RiskConfig { rules: path.clone() }));
    assert_eq!(host::Party::tick_interval_ms(&rig.acquirer), Some(acquirer::risk_engine::RULES_CHECK_INTERVAL_MS));
    let mut terminal = terminal();
    rig.sign_on(&mut terminal, SignOnScheme::Double);
    for i in 0..5 {
        assert_eq!(sale(&rig, &rig.acquirer, &mut terminal, &card(), NOW_MS + i * 1_000, "00"), "00");
    }
    // Tighter rules while serving: the card's five sales are still in the window.
    std::fs::write(&path, RULES.replace("threshold = 5", "threshold = 6")).unwrap();
    touch(&path, 10);
    host::Party::on_time(&rig.acquirer, NOW_MS + 6_000);
    assert_eq!(sale(&rig, &rig.acquirer, &mut terminal, &card(), NOW_MS + 6_500, "00"), "65");
    // A broken file is refused; the running rules stay.
    std::fs::write(&path, "currency = \"CNY\"\n[[rule]]\nid = 1\n").unwrap();
    touch(&path, 20);
    host::Party::on_time(&rig.acquirer, NOW_MS + 8_000);
    assert_eq!(sale(&rig, &rig.acquirer, &mut terminal, &card(), NOW_MS + 8_500, "00"), "65");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Move the file's modification time `seconds` on, so a rewrite within the same clock tick is
/// seen as a change.
fn touch(path: &std::path::Path, seconds: u64) {
    let file = std::fs::File::options().append(true).open(path).unwrap();
    file.set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000 + seconds))
        .unwrap();
}

/// A host that restarts rebuilds the engine's windows from its journal: the card's sales before
/// the restart still count, so the burst is declined at the same sale as without the restart.
#[test]
fn a_restarted_host_rebuilds_the_windows_from_its_journal() {
    let dir = std::env::temp_dir().join(format!("cardnet-acq-risk-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rules.toml");
    std::fs::write(&path, RULES).unwrap();
    let rig =
        rig_on("risk-restart", true, |config| config.risk = Some(acquirer::config::RiskConfig { rules: path.clone() }));
    let mut terminal = terminal();
    rig.sign_on(&mut terminal, SignOnScheme::Double);
    for i in 0..4 {
        assert_eq!(sale(&rig, &rig.acquirer, &mut terminal, &card(), NOW_MS + i * 1_000, "00"), "00");
    }
    // The restart: a new host on the same database and configuration.
    let restarted = rig.second_host();
    assert_eq!(sale(&rig, &restarted, &mut terminal, &card(), NOW_MS + 5_000, "00"), "65", "the fifth sale");
    // And a card with no history there is let through.
    assert_eq!(sale(&rig, &restarted, &mut terminal, &card_numbered(3), NOW_MS + 6_000, "00"), "00");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The new-merchant rule reads when the merchant was activated, from the registry: a ticket
/// at the limit is declined at a merchant activated yesterday, not at one of last year.
#[test]
fn a_new_merchants_big_ticket_is_declined_by_its_activation_date() {
    const NEW_MERCHANT_RULES: &str = r#"
currency = "CNY"
decline_score = 100
alert_score = 50

[[rule]]
id = "new_merchant_ticket"
kind = "new_merchant"
days = 30
measure = "transaction"
threshold = 200000
score = 100
reason = "new_merchant_tx_limit"
decline = "61"
"#;
    let rig = rig_shared("risk-new-merchant");
    let engine = Arc::new(EngineRisk::from_toml("rules.toml", NEW_MERCHANT_RULES, RISK_KEY, small()).unwrap());
    let host = rig.second_host().with_risk(Arc::clone(&engine) as Arc<dyn acquirer::RiskCheck>);
    let mut terminal = terminal();
    rig.sign_on(&mut terminal, SignOnScheme::Double);
    let day_ms = 86_400_000;
    let mut ticket = |amount_minor: u64, at_ms: u64| {
        let request = terminal.purchase(&card(), amount_minor, Some("123456")).unwrap();
        let reply = match host.on_terminal_request(terminal.envelope, request, at_ms) {
            Step::Respond(reply) => reply,
            Step::Forward(forward) => {
                let answer = rig.switch_answer(&forward.network_request, "00");
                host.on_network_response(forward.pending, answer, at_ms + 50)
            }
            Step::Ignore => panic!("ignored"),
        };
        code(&reply).to_owned()
    };
    rig.directory.put_merchant(MerchantRecord { onboarded_ms: Some(NOW_MS - day_ms), ..merchant() });
    assert_eq!(ticket(199_999, NOW_MS), "00", "one below the limit");
    assert_eq!(ticket(200_000, NOW_MS + 1_000), "61", "at it, activated yesterday");
    rig.directory.put_merchant(MerchantRecord { onboarded_ms: Some(NOW_MS - 365 * day_ms), ..merchant() });
    assert_eq!(ticket(200_000, NOW_MS + 2_000), "00", "activated last year");
}
