//! The AML reports at their thresholds: a transaction of exactly the large value is reported
//! and one minor unit less is not; a day adding up to it is, once; structuring fires at its
//! count and floor and not one below either; other currencies and days are left out.

use super::*;

const DAY0: u64 = 1_764_892_800_000;
const CARD_A: &str = "622424******0113";
const CARD_B: &str = "622848******4242";

fn tx(card: &str, amount_minor: u64, minute: u64) -> AmlTransaction {
    AmlTransaction {
        card: card.into(),
        merchant: format!("M0000000000000{}", minute % 3),
        amount_minor,
        currency: "CNY".into(),
        at_ms: DAY0 + minute * 60_000,
        kind: AmlKind::Purchase,
        reference: format!("rrn=6325100{minute:05}"),
    }
}

fn run(txs: &[AmlTransaction]) -> AmlReport {
    report(DAY0, txs, &AmlConfig::default()).unwrap()
}

#[test]
fn a_single_transaction_at_the_threshold_is_reported_one_unit_below_is_not() {
    let at = run(&[tx(CARD_A, 5_000_000, 1)]);
    assert_eq!(at.large_value.len(), 1);
    assert_eq!((at.large_value[0].basis, at.large_value[0].amount_minor), ("single", 5_000_000));
    let below = run(&[tx(CARD_A, 4_999_999, 1)]);
    assert!(below.large_value.is_empty(), "{below:?}");
}

#[test]
fn a_day_adding_up_to_the_threshold_is_reported_once_as_cumulative() {
    let at = run(&[tx(CARD_A, 2_000_000, 1), tx(CARD_A, 3_000_000, 2), tx(CARD_B, 4_000_000, 3)]);
    assert_eq!(at.large_value.len(), 1, "{at:?}");
    let row = &at.large_value[0];
    assert_eq!(
        (row.basis, row.card.as_str(), row.amount_minor, row.transactions),
        ("daily_cumulative", CARD_A, 5_000_000, 2)
    );
    let below = run(&[tx(CARD_A, 2_000_000, 1), tx(CARD_A, 2_999_999, 2)]);
    assert!(below.large_value.is_empty());
    // A day with a single large transaction is reported for it, not again as a total.
    let single = run(&[tx(CARD_A, 5_000_000, 1), tx(CARD_A, 100, 2)]);
    assert_eq!(single.large_value.iter().map(|r| r.basis).collect::<Vec<_>>(), ["single"]);
}

#[test]
fn structuring_fires_at_its_count_and_floor_and_not_below() {
    // Floor: 90 % of 5,000,000 = 4,500,000.
    let three = run(&[tx(CARD_A, 4_500_000, 1), tx(CARD_A, 4_999_999, 2), tx(CARD_A, 4_600_000, 3)]);
    assert_eq!(three.suspicious.len(), 1);
    let row = &three.suspicious[0];
    assert_eq!((row.pattern, row.card.as_str(), row.transactions), ("structuring", CARD_A, 3));
    assert_eq!(row.amount_minor, 4_500_000 + 4_999_999 + 4_600_000);
    assert_eq!((row.first_at_ms, row.last_at_ms, row.merchants), (DAY0 + 60_000, DAY0 + 180_000, 3));
    let two = run(&[tx(CARD_A, 4_500_000, 1), tx(CARD_A, 4_999_999, 2)]);
    assert!(two.suspicious.is_empty(), "two is below the count");
    let under_floor = run(&[tx(CARD_A, 4_499_999, 1), tx(CARD_A, 4_999_999, 2), tx(CARD_A, 4_600_000, 3)]);
    assert!(under_floor.suspicious.is_empty(), "4,499,999 is below the floor");
    let at_threshold = run(&[tx(CARD_A, 5_000_000, 1), tx(CARD_A, 4_999_999, 2), tx(CARD_A, 4_600_000, 3)]);
    assert!(at_threshold.suspicious.is_empty(), "a reported transaction is not 'just under'");
    let split = run(&[tx(CARD_A, 4_500_000, 1), tx(CARD_B, 4_999_999, 2), tx(CARD_A, 4_600_000, 3)]);
    assert!(split.suspicious.is_empty(), "two cards, two each at most");
}

#[test]
fn other_currencies_and_days_are_left_out_and_counted() {
    let usd = AmlTransaction { currency: "USD".into(), ..tx(CARD_A, 9_000_000, 1) };
    let yesterday = AmlTransaction { at_ms: DAY0 - 1, ..tx(CARD_A, 9_000_000, 1) };
    let tomorrow = AmlTransaction { at_ms: DAY0 + 86_400_000, ..tx(CARD_A, 9_000_000, 1) };
    let out = run(&[usd, yesterday, tomorrow, tx(CARD_A, 9_000_000, 1439)]);
    assert_eq!((out.skipped_other_currency, out.skipped_outside_day, out.large_value.len()), (1, 2, 1));
}

#[test]
fn days_start_at_utc_midnight() {
    assert_eq!(day_start_ms("2025-12-05"), Some(DAY0));
    assert_eq!(day_start_ms("1970-01-01"), Some(0));
    assert_eq!(day_start_ms("2024-02-29"), Some(1_709_164_800_000));
    for bad in ["2025-02-29", "2025-13-01", "2025-1-01", "20251205", "", "1969-12-31", "2025-12-05x"] {
        assert_eq!(day_start_ms(bad), None, "{bad}");
    }
}

#[test]
fn thresholds_are_configuration() {
    let config = AmlConfig {
        currency: "USD".into(),
        large_value_minor: 1_000_000,
        structuring_floor_percent: 80,
        structuring_count_min: 2,
    };
    let usd = |amount, minute| AmlTransaction { currency: "USD".into(), ..tx(CARD_A, amount, minute) };
    let out = report(DAY0, &[usd(800_000, 1), usd(999_999, 2)], &config).unwrap();
    assert_eq!(out.suspicious.len(), 1);
    assert_eq!(out.large_value.len(), 1, "the two add up to 1,799,999");
    let bad = AmlConfig { large_value_minor: 0, ..AmlConfig::default() };
    assert!(report(DAY0, &[], &bad).is_err());
}

#[test]
fn a_clear_card_number_is_refused_anywhere() {
    assert!(report(DAY0, &[tx("6224240000000113", 100, 1)], &AmlConfig::default()).is_err());
    let in_reference = AmlTransaction { reference: "pan 6224240000000113".into(), ..tx(CARD_A, 100, 1) };
    assert!(report(DAY0, &[in_reference], &AmlConfig::default()).is_err());
    assert!(report(DAY0, &[tx("key-6224240000000113", 100, 1)], &AmlConfig::default()).is_ok());
    assert!(report(DAY0, &[tx("00ab00cd00ef0012", 100, 1)], &AmlConfig::default()).is_err());
}

#[test]
fn an_issuer_names_its_card_by_masked_number_and_its_own_reference() {
    let ok = |card: &str| report(DAY0, &[tx(card, 100, 1)], &AmlConfig::default()).is_ok();
    assert!(ok("622424******0113 #20000000455/17"));
    assert!(!ok("6224240000000113 #20000000455/17"), "a clear number before the reference");
    assert!(!ok("622424******0113 #20000000455/"), "no card id");
    assert!(!ok("622424******0113 #2000a000455/17"));
    assert!(!ok("622424******0113 #20000000455/6224240000000113000000000000"), "too long");
}

#[test]
fn the_csv_files_are_owner_only_quoted_and_formula_safe() {
    let mut large = tx(CARD_A, 6_000_000, 1);
    large.merchant = "-M0001".into();
    large.reference = "=HYPERLINK(\"x\"), 2".into();
    let out = run(&[large, tx(CARD_B, 4_700_000, 2), tx(CARD_B, 4_800_000, 3), tx(CARD_B, 4_900_000, 4)]);
    let dir = std::env::temp_dir().join(format!("cardnet-risk-aml-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (large_path, suspicious_path) = write_csv_files(&dir, "2025-12-05", &out).unwrap();
    let large_csv = std::fs::read_to_string(&large_path).unwrap();
    let lines: Vec<&str> = large_csv.lines().collect();
    assert_eq!(
        lines[0],
        "basis,card,merchant,kind,amount_minor,currency,transactions,first_at_ms,last_at_ms,reference"
    );
    assert!(lines[1].starts_with(&format!("single,{CARD_A},'-M0001,purchase,6000000,CNY,1,")), "{}", lines[1]);
    assert!(lines[1].ends_with(",\"'=HYPERLINK(\"\"x\"\"), 2\""), "{}", lines[1]);
    // CARD_B's day adds up to 14,400,000 without a single large one: cumulative.
    assert!(lines[2].starts_with(&format!("daily_cumulative,{CARD_B},,,14400000,CNY,3,")), "{}", lines[2]);
    let suspicious_csv = std::fs::read_to_string(&suspicious_path).unwrap();
    assert_eq!(suspicious_csv.lines().count(), 2);
    assert!(suspicious_csv.lines().nth(1).unwrap().starts_with(&format!("structuring,{CARD_B},3,14400000,CNY,3,")));
    #[cfg(unix)]
    for path in [&large_path, &suspicious_path] {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(path).unwrap().permissions().mode() & 0o077, 0, "{}", path.display());
    }
    assert!(write_csv_files(&dir, "../x", &out).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
