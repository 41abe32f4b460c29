//! The engine's state: reload keeps windows, a journal replay rebuilds what live evaluation
//! built, memory stays within the bound, no clear PAN anywhere, backtests compare sets.

mod common;

use common::*;
use domain::ResponseCode;
use risk::backtest;
use risk::bench::SplitMix;
use risk::{Engine, Entity, Event, StoreLimits, Verdict};

fn velocity(id: &str, window: &str, threshold: u64) -> String {
    format!(
        "[[rule]]\nid = \"{id}\"\nkind = \"velocity\"\nentity = \"card\"\nmeasure = \"count\"\nwindow = \"{window}\"\nthreshold = {threshold}\nscore = 100\nreason = \"{id}\"\n"
    )
}

#[test]
fn reload_keeps_windows_a_new_set_still_reads() {
    let mut e = engine(&(velocity("hour", "1h", 100) + &velocity("ten", "10m", 100)));
    for i in 0..5 {
        assert!(eval(&mut e, &sale(1, 1, 100, T0_MS + i * MINUTE_MS)).fired().is_empty());
    }
    e.replace_rules(rules(&(velocity("hour_strict", "1h", 6) + &velocity("day", "24h", 1))));
    let after = eval(&mut e, &sale(1, 1, 100, T0_MS + 5 * MINUTE_MS));
    assert_eq!(fired(&after, "hour_strict"), Some((6, 6)), "the 1h window kept its 5 sales");
    assert_eq!(fired(&after, "day"), Some((1, 1)), "a new window starts empty");
    // The 10m window was dropped by the reload; bringing it back starts it again.
    e.replace_rules(rules(&velocity("ten", "10m", 1)));
    assert_eq!(fired(&eval(&mut e, &sale(1, 1, 100, T0_MS + 6 * MINUTE_MS)), "ten"), Some((1, 1)));
}

/// A day of random traffic over few cards, merchants and terminals (so windows fill and
/// tables evict), with wrong PINs among the answers.
fn journal(seed: u64, n: usize) -> Vec<Event> {
    let mut rng = SplitMix::new(seed);
    let mut at_ms = T0_MS;
    (0..n)
        .map(|_| {
            at_ms += rng.below(3 * MINUTE_MS);
            let mut tx = if rng.below(10) == 0 {
                refund(rng.below(400), rng.below(80) as u32, 1 + rng.below(10_000), at_ms)
            } else {
                sale(rng.below(400), rng.below(80) as u32, 1 + rng.below(10_000), at_ms)
            };
            tx.response = Some(if rng.below(5) == 0 { ResponseCode::INCORRECT_PIN } else { ResponseCode::APPROVED });
            tx
        })
        .collect()
}

#[test]
fn replay_rebuilds_the_state_live_evaluation_built() {
    let set = risk::parse("rules.toml", risk::bench::DEFAULT_RULES, &hasher()).unwrap();
    let events = journal(11, 3_000);
    let mut live = Engine::new(set.clone(), hasher(), limits());
    for tx in &events {
        // Live: evaluated before the answer is known, the answer recorded after.
        let asked = Event { response: None, ..*tx };
        live.evaluate(&asked, tx.at_ms);
        live.record(&tx.outcome(tx.response.unwrap(), tx.at_ms));
    }
    let mut rebuilt = Engine::new(set, hasher(), limits());
    rebuilt.replay(events.iter().copied());
    assert!(live.store().evictions(Entity::Card) > 0, "the journal is big enough to evict");
    assert!(live.store() == rebuilt.store(), "replayed state differs from live state");
    // And they decide alike from here on.
    for tx in journal(12, 300) {
        let tx = Event { at_ms: tx.at_ms + DAY_MS, ..tx };
        assert_eq!(live.evaluate(&tx, tx.at_ms), rebuilt.evaluate(&tx, tx.at_ms));
    }
}

#[test]
fn eviction_keeps_memory_within_the_bound_and_keeps_busy_cards() {
    let small = StoreLimits { cards: 100, terminals: 8, merchants: 8, cards_at_merchants: 16 };
    let mut e = Engine::new(rules(&velocity("day", "24h", 1_000)), hasher(), small);
    let before = e.memory_bytes();
    let mut busy_sales = 0;
    for i in 0..1_000u64 {
        let at_ms = T0_MS + i * 1_000;
        eval(&mut e, &sale(1_000 + i, (i % 50) as u32, 100, at_ms));
        if i % 10 == 0 {
            busy_sales += 1;
            let busy = eval(&mut e, &sale(1, 1, 100, at_ms));
            assert_eq!(busy.fired().len(), 0);
        }
    }
    assert_eq!(e.memory_bytes(), before, "all allocated up front");
    assert_eq!(e.store().tracked(Entity::Card), 100);
    assert_eq!(e.store().tracked(Entity::Merchant), 8);
    assert_eq!(e.store().evictions(Entity::Card), 1_001 - 100);
    e.replace_rules(rules(&velocity("day", "24h", 1)));
    let busy = eval(&mut e, &sale(1, 1, 100, T0_MS + 1_000_000));
    assert_eq!(fired(&busy, "day"), Some((busy_sales + 1, 1)), "the busy card kept its window");
    let gone = eval(&mut e, &sale(1_000, 1, 100, T0_MS + 1_000_000));
    assert_eq!(fired(&gone, "day"), Some((1, 1)), "an evicted card starts again");
    assert!(e.store().bytes_per_key(Entity::Card) < 1_000);
}

#[test]
fn no_clear_pan_in_events_decisions_or_state() {
    let digits = pan(123_456_789).digits().to_string();
    let mut e = engine(&velocity("any", "1h", 1));
    let tx = sale(123_456_789, 1, 100, T0_MS);
    let decision = eval(&mut e, &tx);
    assert_eq!(decision.fired().len(), 1);
    let shown = format!("{tx:?} {decision:?} {:?} {:?}", e.rules(), e.store());
    assert!(!shown.contains(&digits) && !shown.contains(&digits[6..]), "a PAN leaked");
}

#[test]
fn backtest_reports_what_a_candidate_changes() {
    let events: Vec<Event> = (0..10).map(|i| sale(1, 1, 100, T0_MS + i * MINUTE_MS)).collect();
    let current = rules(&velocity("burst", "1h", 5));
    let candidate = rules(&velocity("burst", "1h", 3));
    let report = backtest::run(&events, &current, &candidate, hasher(), limits());
    assert_eq!(report.evaluated, 10);
    assert_eq!(report.current.declines, 6, "sales 5 to 10");
    assert_eq!(report.candidate.declines, 8, "sales 3 to 10");
    assert_eq!(report.changed, vec![2, 3]);
    assert_eq!(report.candidate.affected, (2..10).collect::<Vec<_>>());
    assert_eq!(report.candidate.by_rule[0].rule, "burst");
    assert_eq!((report.candidate.by_rule[0].fired, report.candidate.by_rule[0].in_declines), (8, 8));
    assert_eq!(report, backtest::run(&events, &current, &candidate, hasher(), limits()), "deterministic");
    let mut e = Engine::new(candidate, hasher(), limits());
    assert!(matches!(eval(&mut e, &events[0]).verdict, Verdict::Approve), "backtests leave no trace");
}

#[test]
fn a_reload_in_another_currency_starts_fresh_windows() {
    let mut e = engine(&velocity("hour", "1h", 3));
    eval(&mut e, &sale(1, 1, 100, T0_MS));
    eval(&mut e, &sale(1, 1, 100, T0_MS + 1));
    let same = rules(&velocity("hour", "1h", 3));
    let mut usd = same.clone();
    usd.currency = domain::Currency::USD;
    let mut kept = e.clone();
    kept.replace_rules(same);
    assert_eq!(fired(&eval(&mut kept, &sale(1, 1, 100, T0_MS + 2)), "hour"), Some((3, 3)));
    e.replace_rules(usd);
    assert_eq!(fired(&eval(&mut e, &sale(1, 1, 100, T0_MS + 2)), "hour"), None, "amounts in CNY mean nothing in USD");
}
