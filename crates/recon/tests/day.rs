//! Whole days through the engine: clean, fault-injected, resolved, printed.

use clearing::BusinessDate;
use recon::faults::verify;
use recon::{
    Class, DaySpec, Resolution, add_records, apply_resolutions, compare, generate, member_totals, reconcile,
    summary_json, write_csv, write_jsonl,
};

fn date() -> BusinessDate {
    BusinessDate::parse("2026-12-04").unwrap()
}

fn spec(transactions: u64, fault_rate_ppm: u32, seed: u64) -> DaySpec {
    DaySpec { transactions, fault_rate_ppm, seed, date: date(), shuffle: true }
}

#[test]
fn a_clean_day_matches_everything() {
    let day = generate(&spec(20_000, 0, 7));
    assert!(day.faults.is_empty());
    let outcome = reconcile(&day.sources, &day.config).unwrap();
    let s = &outcome.summary;
    assert_eq!(s.unmatched, 0, "{:?}", outcome.exceptions.first());
    assert!(outcome.exceptions.is_empty());
    assert_eq!(s.records_unmatched, 0);
    assert_eq!(s.records_matched, 4 * day.sources.terminal.len() as u64);
    assert!(s.matched > 15_000 && s.matched < 20_000, "transactions group requests: {}", s.matched);
    assert!(outcome.balances.is_empty(), "statement agrees: {:?}", outcome.balances);
    assert_eq!(s.sources[0].amount_minor, s.sources[2].amount_minor);
}

#[test]
fn a_faulted_day_classifies_every_fault_and_nothing_else() {
    // 200,000 requests, 0.1 % of each fault kind (200 each, 2,000 in all).
    let day = generate(&spec(200_000, 1_000, 42));
    assert_eq!(day.faults.len(), 2_000);
    let outcome = reconcile(&day.sources, &day.config).unwrap();
    let v = verify(&day.faults, &outcome);
    assert!(v.is_exact(), "{v:#?}");
    for class in Class::ALL {
        let injected = day.faults.iter().filter(|f| f.class == class).count() as u64;
        assert!(injected >= 200, "{} injected {injected}", class.name());
        assert_eq!(outcome.summary.classes[class.index()], injected, "{}", class.name());
    }
    assert_eq!(outcome.summary.unmatched, 2_000);
    assert!(outcome.balances.is_empty(), "the statement is what settled: {:?}", outcome.balances.first());
}

#[test]
fn resolutions_bring_the_books_back_to_balance() {
    let day = generate(&spec(50_000, 2_000, 3));
    let outcome = reconcile(&day.sources, &day.config).unwrap();
    assert!(verify(&day.faults, &outcome).is_exact());
    let mut books = member_totals(&day.sources.clearing);
    assert!(!compare(&day.true_totals, &books).is_empty(), "the faults put the books out");
    let adjustments = apply_resolutions(&outcome.exceptions, date().next(), 1_000_000_000).unwrap();
    assert!(!adjustments.is_empty());
    for a in &adjustments {
        assert_eq!(a.date, date().next());
        assert!(a.code.is_exception());
    }
    add_records(&mut books, &adjustments).unwrap();
    assert_eq!(compare(&day.true_totals, &books), vec![], "after the adjustments every member agrees");
    // Money resolutions only where clearing itself was wrong.
    for e in &outcome.exceptions {
        let money = matches!(e.resolution, Resolution::CreditAdjustment { .. } | Resolution::DebitAdjustment { .. });
        if money {
            assert!(matches!(
                e.class,
                Class::MissingAtHost | Class::AmountMismatch | Class::Duplicate | Class::NotReversedAfterTimeout
            ));
        }
    }
}

#[test]
fn output_is_stable_whatever_the_sources_order() {
    let mut a = spec(5_000, 5_000, 9);
    a.shuffle = false;
    let mut b = a;
    b.shuffle = true;
    let print = |s: &DaySpec| {
        let day = generate(s);
        let outcome = reconcile(&day.sources, &day.config).unwrap();
        let (mut csv, mut jsonl) = (Vec::new(), Vec::new());
        write_csv(&outcome, &mut csv).unwrap();
        write_jsonl(&outcome, &mut jsonl).unwrap();
        let summary = summary_json(&outcome.summary, &outcome.balances).to_string();
        (csv, jsonl, summary)
    };
    let (csv, jsonl, summary) = print(&a);
    assert_eq!((csv.clone(), jsonl.clone(), summary.clone()), print(&a), "rerun: byte-identical");
    assert_eq!((csv.clone(), jsonl.clone(), summary.clone()), print(&b), "shuffled sources: same output");
    let csv = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], recon::CSV_HEADER);
    let columns = lines[0].split(',').count();
    assert!(lines.iter().all(|l| l.split(',').count() == columns));
    let jsonl = String::from_utf8(jsonl).unwrap();
    assert_eq!(jsonl.lines().count(), lines.len() - 1);
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert!(first["class"].is_string() && first["expected_minor"].is_u64());
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    let classes: u64 = summary["classes"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(summary["unmatched"].as_u64().unwrap(), classes);
}

#[test]
fn a_statement_that_differs_is_named_by_member() {
    let mut day = generate(&spec(2_000, 0, 5));
    let line = &mut day.sources.statement[0];
    line.net_minor += 1;
    let member = line.member;
    let outcome = reconcile(&day.sources, &day.config).unwrap();
    assert_eq!(outcome.balances.len(), 1);
    assert_eq!(outcome.balances[0].member, member);
    assert_eq!(outcome.balances[0].actual_minor, outcome.balances[0].expected_minor + 1);
    assert_eq!(outcome.summary.balance_drifts, 1);
}
