//! The risk engine's card view at the issuer (issue 16): with `[risk] rules` in the issuer's
//! configuration, a card's sales beyond a velocity rule's threshold are declined with its code,
//! after the card's own checks and before its funds are held (nothing held for them); wrong
//! PINs on several cards at one terminal block that terminal (58 for a good card).

mod common;

use std::sync::Arc;

use common::{Backend, Harness};
use issuer::Issuer;

const RULES: &str = r#"
currency = "CNY"
decline_score = 100
alert_score = 50

[[rule]]
id = "card_burst"
kind = "velocity"
entity = "card"
measure = "count"
window = "10m"
threshold = 3
score = 100
reason = "card_count_10m"
decline = "65"

[[rule]]
id = "wrong_pins_across_cards"
kind = "card_testing"
window = "10m"
threshold = 2
score = 100
reason = "card_testing"
decline = "58"
"#;

fn code(response: &iso8583::Message) -> String {
    response.get_str(39).unwrap_or_default().to_owned()
}

/// The harness's issuer database opened again with the rules configured.
fn with_rules(h: &Harness) -> (Issuer, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("cardnet-issuer-risk-{}-{}", std::process::id(), code_of(h)));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rules.toml");
    std::fs::write(&path, RULES).unwrap();
    let mut config = h.config.clone();
    config.risk = Some(issuer::config::RiskConfig { rules: path });
    let clock: Arc<dyn clock::Clock> = Arc::new(h.clock.clone());
    (Issuer::open(&config, h.hsm.clone(), clock).unwrap(), dir)
}

fn code_of(h: &Harness) -> String {
    h.config.database.chars().filter(char::is_ascii_alphanumeric).rev().take(12).collect()
}

#[test]
fn a_cards_burst_is_declined_65_before_anything_is_held() {
    let Some(h) = Harness::new(Backend::Sqlite) else { return };
    let card = h.debit_card(50_000);
    let (risky, dir) = with_rules(&h);
    let mut codes = Vec::new();
    for _ in 0..4 {
        let request = h.purchase(&card, 1_000).pin(&h, &card).sign(&h);
        codes.push(code(&risky.handle(&request).unwrap()));
    }
    assert_eq!(codes, ["00", "00", "65", "65"]);
    let kept = risky.risk_engine().unwrap().decisions();
    assert_eq!(kept.last().unwrap().decision.fired()[0].rule.as_str(), "card_burst");
    // Two holds, not four: the declined sales held nothing.
    assert_eq!(h.available(&card), 50_000 - 2 * 1_000);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn wrong_pins_across_cards_block_the_terminal_at_the_issuer() {
    let Some(h) = Harness::new(Backend::Sqlite) else { return };
    let cards: Vec<_> = (0..3).map(|_| h.debit_card(50_000)).collect();
    let (risky, dir) = with_rules(&h);
    for card in &cards[..2] {
        let request = h.purchase(card, 1_000).wrong_pin(&h, card).sign(&h);
        assert_eq!(code(&risky.handle(&request).unwrap()), "55");
    }
    let request = h.purchase(&cards[2], 1_000).pin(&h, &cards[2]).sign(&h);
    assert_eq!(code(&risky.handle(&request).unwrap()), "58", "the terminal is blocked");
    let blocks = risky.risk_engine().unwrap().blocks();
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    assert_eq!(blocks[0].rules, ["wrong_pins_across_cards"]);
    // The alert, in the issuer's database for an analyst: the block (the refusals of the
    // blocked terminal that follow are not alerts of their own).
    assert_eq!(risky.flush_risk_alerts(), 1);
    let cases = risk::cases_store::Cases::open(&h.config.database).unwrap();
    let alerts = cases.list(&risk::cases::Filter::default()).unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let text = format!("{alerts:?}");
    assert!(text.contains("wrong_pins_across_cards") && !text.contains(cards[2].pan.as_str()), "{text}");
    let _ = std::fs::remove_dir_all(dir);
}

/// An issuer that restarts rebuilds the rules' windows from its journal: the card's sales before
/// the restart still count.
#[test]
fn a_restarted_issuer_rebuilds_the_windows_from_its_journal() {
    let Some(h) = Harness::new(Backend::Sqlite) else { return };
    let card = h.debit_card(50_000);
    let (risky, dir) = with_rules(&h);
    for _ in 0..2 {
        let request = h.purchase(&card, 1_000).pin(&h, &card).sign(&h);
        assert_eq!(code(&risky.handle(&request).unwrap()), "00");
    }
    drop(risky);
    let mut config = h.config.clone();
    config.risk = Some(issuer::config::RiskConfig { rules: dir.join("rules.toml") });
    let restarted = Issuer::open(&config, h.hsm.clone(), Arc::new(h.clock.clone())).unwrap();
    let request = h.purchase(&card, 1_000).pin(&h, &card).sign(&h);
    assert_eq!(code(&restarted.handle(&request).unwrap()), "65", "the third sale in ten minutes");
    let _ = std::fs::remove_dir_all(dir);
}
