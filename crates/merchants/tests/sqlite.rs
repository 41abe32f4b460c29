//! The core suite on SQLite (in memory and on a file), plus fee rounding.

mod common;

use merchants::{DiscountRate, mdr_fee_minor};
use sqlstore::Database;

fn memory() -> Database {
    Database::open("sqlite::memory:").unwrap()
}

#[test]
fn onboarding_path() {
    common::onboarding_path(memory());
}

#[test]
fn every_check_failing() {
    common::every_check_failing(memory());
}

#[test]
fn reviewer_rejection() {
    common::reviewer_rejection(memory());
}

#[test]
fn account_change() {
    common::account_change(memory());
}

#[test]
fn suspension_and_closing() {
    common::suspension_and_closing(memory());
}

#[test]
fn pos_host_api() {
    common::pos_host_api(memory());
}

#[test]
fn activation_terms() {
    common::activation_terms(memory());
}

#[test]
fn survives_a_reopen_of_its_file() {
    let dir = std::env::temp_dir().join(format!(
        "cardnet_merchants_{}_{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}", dir.join("acquirer.db").display());
    let f = common::fixture(Database::open(&url).unwrap());
    let mid = common::onboard(&f, 1);
    drop(f);
    // Reopened (the migration runs once): the merchant is there.
    let f = common::fixture(Database::open(&url).unwrap());
    assert!(f.registry.merchant(&mid).unwrap().is_some());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fee_rounding_and_caps() {
    // round half up of amount × bp / 10 000, then the cap.
    let cases: [(u64, u32, Option<u64>, u64); 10] = [
        (10_000, 38, None, 38),
        (100, 50, None, 1),  // 0.5 → 1
        (99, 50, None, 0),   // 0.495 → 0
        (150, 100, None, 2), // 1.5 → 2
        (149, 100, None, 1), // 1.49 → 1
        (0, 60, Some(100), 0),
        (1_000_000, 50, Some(2_000), 2_000), // 5000 capped
        (400_000, 50, Some(2_000), 2_000),   // exactly the cap
        (399_900, 50, Some(2_000), 2_000),   // 1999.5 → 2000
        (u64::MAX, 10_000, None, u64::MAX),
    ];
    for (amount, bp, cap, fee) in cases {
        assert_eq!(mdr_fee_minor(amount, bp, cap), fee, "{amount} at {bp} bp cap {cap:?}");
        assert_eq!(DiscountRate { rate_bp: bp, cap_minor: cap }.fee_minor(amount), fee);
    }
}
