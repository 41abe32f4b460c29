//! Each rule kind fires exactly at its bound and not one below; verdicts follow the scores.

mod common;

use common::*;
use domain::{Currency, Money, ResponseCode};
use risk::Verdict;

#[test]
fn velocity_count_fires_on_the_transaction_that_reaches_the_threshold() {
    let mut e = engine(
        r#"[[rule]]
id = "burst"
kind = "velocity"
entity = "card"
measure = "count"
window = "16m"
threshold = 3
score = 60
reason = "card_velocity"
"#,
    );
    assert_eq!(fired(&eval(&mut e, &sale(1, 1, 100, T0_MS)), "burst"), None);
    let second = eval(&mut e, &sale(1, 2, 100, T0_MS + MINUTE_MS));
    assert_eq!(fired(&second, "burst"), None, "2 is one below 3");
    assert_eq!(second.verdict, Verdict::Approve);
    let third = eval(&mut e, &sale(1, 3, 100, T0_MS + 2 * MINUTE_MS));
    assert_eq!(fired(&third, "burst"), Some((3, 3)), "the third, itself included, reaches 3");
    assert_eq!(third.verdict, Verdict::Alert, "60 reaches alert_score 50, not decline_score 100");
    assert_eq!(third.fired()[0].reason.as_str(), "card_velocity");
    assert_eq!(fired(&eval(&mut e, &sale(2, 3, 100, T0_MS + 2 * MINUTE_MS)), "burst"), None, "another card");
    // 16 minutes after the first, it has left the window: 3 again, not 4.
    let later = eval(&mut e, &sale(1, 4, 100, T0_MS + 16 * MINUTE_MS));
    assert_eq!(fired(&later, "burst"), Some((3, 3)));
}

#[test]
fn velocity_amount_and_bands() {
    let text = r#"[[rule]]
id = "spend"
kind = "velocity"
entity = "merchant"
measure = "amount"
window = "1h"
bands = [
  { lower = 10000, upper = 20000, score = 10, reason = "spend_100" },
  { lower = 20000, score = 100, reason = "spend_200" },
]
reason = "spend"
decline = "61"
"#;
    let mut e = engine(text);
    assert_eq!(fired(&eval(&mut e, &sale(1, 9, 4_000, T0_MS)), "spend"), None);
    assert_eq!(fired(&eval(&mut e, &sale(2, 9, 5_999, T0_MS + 1)), "spend"), None, "9,999 is one below");
    let at = eval(&mut e, &sale(3, 9, 1, T0_MS + 2));
    assert_eq!(fired(&at, "spend"), Some((10_000, 10_000)));
    assert_eq!(at.fired()[0].reason.as_str(), "spend_100", "the band's reason");
    assert_eq!(at.verdict, Verdict::Decline(ResponseCode::AMOUNT_LIMIT), "a rule's own decline wins over the score");
    let top = eval(&mut e, &sale(4, 9, 10_000, T0_MS + 3));
    assert_eq!(fired(&top, "spend"), Some((20_000, 20_000)), "upper is exclusive: 20,000 is the next band");
    assert_eq!(top.score, 100);
    // Another currency counts no amount.
    let mut usd = sale(5, 9, 1_000_000, T0_MS + 4);
    usd.amount = Money::new(1_000_000, Currency::USD);
    assert_eq!(fired(&eval(&mut e, &usd), "spend"), Some((20_000, 20_000)));
}

#[test]
fn amount_vs_usual_needs_history_and_fires_at_the_percentage() {
    let text = r#"[[rule]]
id = "unusual"
kind = "amount_vs_usual"
entity = "card"
history_min = 3
threshold = 500
score = 40
reason = "amount_5x"
"#;
    let history = |e: &mut risk::Engine, n: u64| {
        for i in 0..n {
            assert_eq!(fired(&eval(e, &sale(1, 1, 1_000, T0_MS + i)), "unusual"), None);
        }
    };
    let mut e = engine(text);
    history(&mut e, 2);
    assert_eq!(fired(&eval(&mut e, &sale(1, 1, 1_000_000, T0_MS + 10)), "unusual"), None, "2 sales: no opinion");
    let mut e = engine(text);
    history(&mut e, 3);
    assert_eq!(fired(&eval(&mut e, &sale(1, 1, 4_999, T0_MS + 10)), "unusual"), None, "499% of the mean");
    let mut e = engine(text);
    history(&mut e, 3);
    assert_eq!(fired(&eval(&mut e, &sale(1, 1, 5_000, T0_MS + 10)), "unusual"), Some((500, 500)));
}

#[test]
fn split_sale_fires_when_parts_under_the_limit_reach_it() {
    let text = r#"[[rule]]
id = "split"
kind = "split_sale"
window = "30m"
count = 2
threshold = 10000
score = 60
reason = "split_sale"
"#;
    let mut e = engine(text);
    assert_eq!(fired(&eval(&mut e, &sale(1, 1, 5_000, T0_MS)), "split"), None);
    assert_eq!(fired(&eval(&mut e, &sale(1, 1, 4_999, T0_MS + 1)), "split"), None, "9,999 is one below");
    assert_eq!(fired(&eval(&mut e, &sale(1, 1, 1, T0_MS + 2)), "split"), Some((10_000, 10_000)));
    assert_eq!(fired(&eval(&mut e, &sale(2, 1, 9_999, T0_MS + 3)), "split"), None, "one sale is no split");

    let mut e = engine(text);
    eval(&mut e, &sale(1, 1, 10_000, T0_MS));
    assert_eq!(fired(&eval(&mut e, &sale(1, 1, 1, T0_MS + 1)), "split"), None, "a part at the limit is not a split");
    let mut e = engine(text);
    eval(&mut e, &sale(1, 1, 6_000, T0_MS));
    assert_eq!(fired(&eval(&mut e, &sale(1, 2, 6_000, T0_MS + 1)), "split"), None, "two merchants");
}

#[test]
fn restriction_on_mcc_and_local_hours() {
    let mut e = engine(
        r#"[[rule]]
id = "night_gambling"
kind = "restriction"
mcc = ["7995"]
hours = "00-06"
utc_offset = "+08:00"
score = 100
reason = "restricted"
decline = "57"
"#,
    );
    let mut tx = sale(1, 1, 100, T0_MS + 21 * HOUR_MS + 59 * MINUTE_MS); // 05:59 at +08:00
    tx.mcc = 7995;
    let last_minute = eval(&mut e, &tx);
    assert_eq!(fired(&last_minute, "night_gambling"), Some((1, 1)));
    assert_eq!(last_minute.verdict, Verdict::Decline(ResponseCode::NOT_PERMITTED_CARD));
    tx.at_ms = T0_MS + 22 * HOUR_MS; // 06:00 local: the end is excluded
    assert_eq!(fired(&eval(&mut e, &tx), "night_gambling"), None);
    tx.at_ms = T0_MS + 16 * HOUR_MS; // 00:00 local
    assert!(fired(&eval(&mut e, &tx), "night_gambling").is_some());
    tx.mcc = 7994;
    assert_eq!(fired(&eval(&mut e, &tx), "night_gambling"), None, "another MCC");
}

#[test]
fn block_lists_match_cards_bins_terminals_and_merchants() {
    let listed = pan(77);
    let text = format!(
        r#"[[rule]]
id = "blocked"
kind = "block_list"
cards = ["{}"]
pan_hashes = ["{:016x}"]
terminals = ["T5"]
merchants = ["M6"]
bins = ["6299"]
score = 100
reason = "block_list"
decline = "57"
"#,
        listed.digits(),
        hasher().pan_hash(&pan(78))
    );
    let mut e = engine(&text);
    let set = e.rules().clone();
    assert!(!format!("{set:?}").contains(listed.digits()), "no clear PAN kept from the file");
    assert_eq!(fired(&eval(&mut e, &sale(77, 1, 100, T0_MS)), "blocked"), Some((1, 1)));
    assert!(fired(&eval(&mut e, &sale(78, 1, 100, T0_MS)), "blocked").is_some(), "by hash");
    assert_eq!(fired(&eval(&mut e, &sale(76, 1, 100, T0_MS)), "blocked"), None);
    assert!(fired(&eval(&mut e, &sale(1, 5, 100, T0_MS)), "blocked").is_some(), "terminal T5");
    assert!(fired(&eval(&mut e, &sale(1, 6, 100, T0_MS)), "blocked").is_some(), "merchant M6");
    let mut bin = sale(1, 1, 100, T0_MS);
    bin.card = hasher().card(&domain::Pan::new("6299001234567890").unwrap());
    assert!(fired(&eval(&mut e, &bin), "blocked").is_some(), "BIN 6299");
    bin.card = hasher().card(&domain::Pan::new("6298991234567890").unwrap());
    assert_eq!(fired(&eval(&mut e, &bin), "blocked"), None);
}

#[test]
fn new_merchant_limits_apply_only_while_young() {
    let mut e = engine(
        r#"[[rule]]
id = "young_ticket"
kind = "new_merchant"
days = 30
measure = "transaction"
threshold = 500000
score = 100
reason = "new_merchant_tx"
decline = "61"

[[rule]]
id = "young_day"
kind = "new_merchant"
days = 30
measure = "day"
threshold = 800000
score = 10
reason = "new_merchant_day"
"#,
    );
    let young = |amount, at_ms| {
        let mut tx = sale(1, 1, amount, at_ms);
        tx.merchant_onboarded_ms = Some(T0_MS - 30 * DAY_MS + 10);
        tx
    };
    assert_eq!(fired(&eval(&mut e, &young(499_999, T0_MS)), "young_ticket"), None);
    let at = eval(&mut e, &young(500_000, T0_MS + 1));
    assert_eq!(fired(&at, "young_ticket"), Some((500_000, 500_000)));
    assert_eq!(at.verdict, Verdict::Decline(ResponseCode::AMOUNT_LIMIT));
    assert_eq!(fired(&at, "young_day"), Some((999_999, 800_000)), "the day's sales, this one included");
    let mut old = young(500_000, T0_MS + 1);
    old.merchant_onboarded_ms = Some(T0_MS + 1 - 30 * DAY_MS);
    assert_eq!(fired(&eval(&mut e, &old), "young_ticket"), None, "exactly 30 days old is no longer new");
    old.merchant_onboarded_ms = None;
    assert_eq!(fired(&eval(&mut e, &old), "young_ticket"), None, "unknown onboarding: no opinion");
}

#[test]
fn refund_ratio_fires_on_refunds_at_the_percentage() {
    let mut e = engine(
        r#"[[rule]]
id = "refunds"
kind = "refund_ratio"
window = "7d"
sales_min = 2
threshold = 50
score = 60
reason = "refund_ratio"
"#,
    );
    assert_eq!(fired(&eval(&mut e, &sale(1, 1, 1_000, T0_MS)), "refunds"), None);
    assert_eq!(fired(&eval(&mut e, &refund(1, 1, 999, T0_MS + 1)), "refunds"), None, "1 sale: below sales_min");
    eval(&mut e, &sale(2, 1, 1_000, T0_MS + 2));
    assert_eq!(fired(&eval(&mut e, &refund(1, 1, 0, T0_MS + 3)), "refunds"), None, "999 of 2,000 is 49%");
    assert_eq!(fired(&eval(&mut e, &refund(1, 1, 1, T0_MS + 4)), "refunds"), Some((50, 50)), "1,000 of 2,000");
}

#[test]
fn card_testing_counts_distinct_cards_and_blocks_the_terminal() {
    let mut e = engine(
        r#"[[rule]]
id = "testing"
kind = "card_testing"
window = "10m"
threshold = 3
score = 100
reason = "card_testing"
decline = "58"
"#,
    );
    let wrong_pin = |e: &mut risk::Engine, card, at_ms| {
        let tx = sale(card, 1, 100, at_ms);
        eval(e, &tx);
        e.record(&tx.outcome(ResponseCode::INCORRECT_PIN, at_ms))
    };
    assert_eq!(wrong_pin(&mut e, 1, T0_MS), None);
    assert_eq!(wrong_pin(&mut e, 2, T0_MS + 1), None);
    assert_eq!(wrong_pin(&mut e, 1, T0_MS + 2), None, "card 1 again: still 2 distinct");
    let next = eval(&mut e, &sale(9, 1, 100, T0_MS + 3));
    assert_eq!(fired(&next, "testing"), None);
    assert_eq!(next.block_terminal, None);
    let blocked = wrong_pin(&mut e, 3, T0_MS + 4);
    assert_eq!(blocked.map(|t| t.as_str().to_string()), Some("T1".to_string()));
    let after = eval(&mut e, &sale(9, 1, 100, T0_MS + 5));
    assert_eq!(fired(&after, "testing"), Some((3, 3)));
    assert_eq!(after.block_terminal.map(|t| t.as_str().to_string()), Some("T1".to_string()));
    assert_eq!(after.verdict, Verdict::Decline(ResponseCode::NOT_PERMITTED_TERMINAL));
    assert_eq!(fired(&eval(&mut e, &sale(9, 2, 100, T0_MS + 5)), "testing"), None, "another terminal");
    // The window includes its start: at +10m+1 ms the wrong PINs from +1 ms on count.
    let edge = eval(&mut e, &sale(9, 1, 100, T0_MS + 10 * MINUTE_MS + 1));
    assert_eq!(fired(&edge, "testing"), Some((3, 3)));
    let later = eval(&mut e, &sale(9, 1, 100, T0_MS + 10 * MINUTE_MS + 3));
    assert_eq!(fired(&later, "testing"), None, "cards 1 and 2 left the window");
}

#[test]
fn mismatches_only_where_both_sides_are_known() {
    let mut e = engine(
        r#"[[rule]]
id = "currency"
kind = "mismatch"
check = "currency"
score = 20
reason = "currency_mismatch"

[[rule]]
id = "country"
kind = "mismatch"
check = "country"
score = 10
reason = "country_mismatch"
"#,
    );
    let mut tx = sale(1, 1, 100, T0_MS);
    let none = eval(&mut e, &tx);
    assert!(none.fired().is_empty(), "unknown: no opinion");
    tx.merchant_currency = Some(Currency::CNY);
    tx.merchant_country = Some(156);
    tx.card_country = Some(156);
    assert!(eval(&mut e, &tx).fired().is_empty());
    tx.merchant_currency = Some(Currency::HKD);
    tx.card_country = Some(344);
    let both = eval(&mut e, &tx);
    assert_eq!((fired(&both, "currency"), fired(&both, "country")), (Some((1, 1)), Some((1, 1))));
    assert_eq!((both.score, both.verdict), (30, Verdict::Approve));
}

#[test]
fn anomaly_flags_a_merchant_that_changes_pattern() {
    let mut e = engine(
        r#"[[rule]]
id = "merchant_anomaly"
kind = "anomaly"
entity = "merchant"
threshold = 600
score = 30
reason = "merchant_anomaly"
"#,
    );
    let mut rng = risk::bench::SplitMix::new(7);
    let mut at_ms = T0_MS;
    let mut flagged_steady = 0;
    while at_ms < T0_MS + 3 * DAY_MS {
        at_ms += 45_000 + rng.below(30_000);
        let tx = sale(rng.below(200), 1, 4_000 + rng.below(2_000), at_ms);
        flagged_steady += usize::from(fired(&eval(&mut e, &tx), "merchant_anomaly").is_some());
    }
    assert_eq!(flagged_steady, 0, "three steady days");
    let big = eval(&mut e, &sale(5, 1, 50_000, at_ms + 60_000));
    let (observed, bound) = fired(&big, "merchant_anomaly").expect("ten times the amount");
    assert!(observed >= bound && bound == 600, "{observed}");
}

#[test]
fn scores_add_up_to_alert_and_decline_at_the_thresholds() {
    let rule = |id: &str, score: i32| {
        format!("[[rule]]\nid = \"{id}\"\nkind = \"mismatch\"\ncheck = \"country\"\nscore = {score}\nreason = \"r\"\n")
    };
    let mut tx = sale(1, 1, 100, T0_MS);
    tx.merchant_country = Some(156);
    tx.card_country = Some(344);
    for (scores, verdict) in [
        (vec![49], Verdict::Approve),
        (vec![25, 25], Verdict::Alert),
        (vec![50, 49], Verdict::Alert),
        (vec![50, 50], Verdict::Decline(ResponseCode::new("34").unwrap())),
    ] {
        let text: String = scores.iter().enumerate().map(|(i, s)| rule(&format!("r{i}"), *s)).collect();
        let decision = eval(&mut engine(&text), &tx);
        assert_eq!(decision.verdict, verdict, "{scores:?}");
    }
}
