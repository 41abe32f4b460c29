//! Issue 12 point 7: a chip card (service code 2xx or 6xx) read from its stripe without a
//! fallback signalled is declined 45 (use the chip) when its product's `chip_swipe` policy is
//! `decline` (the default); a fallback swipe (22 = 80x) is checked as a stripe (its CVV) and
//! approved; a product with `chip_swipe = "allow"` and a stripe-only card are not affected.

mod common;

use common::{Backend, Harness};
use issuer::config::ChipSwipe;
use network::codes;

fn code(response: &iso8583::Message) -> &str {
    response.get_str(39).unwrap_or("")
}

/// A harness whose debit product declines chip cards swiped without fallback, and a
/// stripe-only product (service code 101) beside it.
fn harness() -> Harness {
    let mut h = Harness::new(Backend::Sqlite).expect("SQLite harness");
    h.config.products[0].chip_swipe = ChipSwipe::Decline;
    let mut stripe_only = h.config.products[0].clone();
    stripe_only.name = "stripe".into();
    stripe_only.service_code = "101".into();
    h.config.products.push(stripe_only);
    h.reopen();
    h
}

#[test]
fn a_swiped_chip_card_is_declined_45_unless_fallback_is_signalled() {
    let h = harness();
    let card = h.debit_card(100_000);
    assert!(card.track2.contains("=2803201"), "a chip card: service code 201");
    let before = h.available(&card);
    let swiped = h.send(&h.purchase(&card, 100).stripe(&card.track2).pin(&h, &card).sign(&h));
    assert_eq!(code(&swiped), codes::USE_CHIP);
    assert_eq!(codes::USE_CHIP, "45");
    assert_eq!(h.available(&card), before, "nothing held");
    // Entry mode 90 (full stripe read) is a swipe too.
    let full = h.send(&h.purchase(&card, 100).stripe(&card.track2).set(22, "901").pin(&h, &card).sign(&h));
    assert_eq!(code(&full), codes::USE_CHIP);

    // Fallback after a failed chip read: 22 = 80x, checked as a stripe (the CVV), approved.
    let fallback = h.send(&h.purchase(&card, 100).stripe(&card.track2).set(22, "801").pin(&h, &card).sign(&h));
    assert_eq!(code(&fallback), codes::APPROVED);
    assert_eq!(h.available(&card), before - 100);
    let mut bad = card.track2.clone().into_bytes();
    let at = card.pan.len() + 1 + 4 + 3 + 5;
    bad[at] = if bad[at] == b'9' { b'0' } else { bad[at] + 1 };
    let bad = String::from_utf8(bad).unwrap();
    let forged = h.send(&h.purchase(&card, 100).stripe(&bad).set(22, "801").pin(&h, &card).sign(&h));
    assert_eq!(code(&forged), codes::CARD_VERIFICATION_ERROR, "a fallback's CVV is checked");

    // The chip itself is fine.
    let (field55, _) = h.chip_data(&card, 100, 1);
    let chip = h.send(&h.purchase(&card, 100).chip(&card, &field55).pin(&h, &card).sign(&h));
    assert_eq!(code(&chip), codes::APPROVED);

    // A stripe-only card (service code 101) is swiped as it should be.
    let stripe = h.issuer.issue_card("stripe", Some(10_000)).unwrap();
    let response = h.send(&h.purchase(&stripe, 100).stripe(&stripe.track2).pin(&h, &stripe).sign(&h));
    assert_eq!(code(&response), codes::APPROVED);
}

#[test]
fn a_product_may_allow_the_swipe() {
    let mut h = harness();
    h.config.products[0].chip_swipe = ChipSwipe::Allow;
    h.reopen();
    let card = h.debit_card(100_000);
    let swiped = h.send(&h.purchase(&card, 100).stripe(&card.track2).pin(&h, &card).sign(&h));
    assert_eq!(code(&swiped), codes::APPROVED);
}

#[test]
fn the_policy_is_written_and_read_back_and_defaults_to_decline() {
    let h = harness();
    let text = h.config.to_toml();
    assert!(text.contains("chip_swipe = \"decline\""), "{text}");
    let without: String = text.lines().filter(|l| !l.starts_with("chip_swipe")).collect::<Vec<_>>().join("\n");
    let parsed: issuer::IssuerConfig = toml::from_str(&without).unwrap();
    assert!(parsed.products.iter().all(|p| p.chip_swipe == ChipSwipe::Decline), "the default");
}
