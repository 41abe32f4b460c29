//! Properties over seeds, small days: every fault in its class, nothing else flagged, and the
//! resolutions restore every member's totals.

use clearing::BusinessDate;
use proptest::prelude::*;
use recon::faults::verify;
use recon::{DaySpec, add_records, apply_resolutions, compare, generate, member_totals, reconcile};

fn spec(transactions: u64, fault_rate_ppm: u32, seed: u64, shuffle: bool) -> DaySpec {
    let date = BusinessDate::parse("2026-02-28").unwrap();
    DaySpec { transactions, fault_rate_ppm, seed, date, shuffle }
}

/// 48 cases by default; `PROPTEST_CASES` for a longer hunt.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn faults_are_classified_exactly_and_resolved(
        seed in any::<u64>(),
        transactions in 1u64..3_000,
        fault_rate_ppm in prop_oneof![Just(0u32), Just(1_000), 1u32..40_000, 40_000u32..120_000],
        shuffle in any::<bool>(),
    ) {
        let day = generate(&spec(transactions, fault_rate_ppm, seed, shuffle));
        let outcome = reconcile(&day.sources, &day.config).unwrap();
        let v = verify(&day.faults, &outcome);
        prop_assert!(v.is_exact(), "{:#?}", v);
        prop_assert_eq!(outcome.summary.unmatched, day.faults.len() as u64);
        prop_assert!(outcome.balances.is_empty());
        let mut books = member_totals(&day.sources.clearing);
        let adjustments = apply_resolutions(&outcome.exceptions, day.config.date.next(), 1 << 40).unwrap();
        add_records(&mut books, &adjustments).unwrap();
        prop_assert_eq!(compare(&day.true_totals, &books), vec![]);
    }

    #[test]
    fn a_day_is_a_function_of_its_seed(seed in any::<u64>(), transactions in 1u64..500) {
        let a = generate(&spec(transactions, 10_000, seed, true));
        let b = generate(&spec(transactions, 10_000, seed, true));
        prop_assert_eq!(a.sources.clearing, b.sources.clearing);
        prop_assert_eq!(a.sources.issuer, b.sources.issuer);
        prop_assert_eq!(a.faults, b.faults);
    }
}
