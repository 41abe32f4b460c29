//! End of day inside a run: the day's books after cut-off, clearing, settlement, posting,
//! merchant settlement and reconciliation agree with what the terminals saw — over clean and
//! faulty links — and a book broken on purpose is caught.

use sim::eod::Tamper;
mod common;

use common::must_pass;
use sim::{SimOptions, replay_command, run};

/// These seeds' cases (and the tampers' pinned amounts) were found on a workload of sales, voids
/// and balance inquiries, before refunds and pre-authorizations joined it: they keep it. The
/// full business day goes through end of day in every other run (the campaign's too).
fn sales_only(options: SimOptions) -> SimOptions {
    SimOptions { refund_ppm: 0, preauth_ppm: 0, end_of_day: true, ..options }
}

#[test]
fn a_clean_day_clears_settles_and_reconciles() {
    let options = sales_only(SimOptions::faulty(42, 12, 0, 0));
    let report = must_pass(&options);
    assert!(!replay_command(&options).contains("end-of-day"), "end of day is the default");
    assert!(replay_command(&SimOptions { end_of_day: false, ..options }).ends_with(" --no-end-of-day"));
    let day = &report.day_end;
    assert_eq!(day.dates, 1, "{day:?}");
    // Every approval that stood cleared, once (the voided ones and their voids may clear too).
    let standing = report.approved - report.voided;
    assert!(day.cleared >= standing as u64 && standing > 0, "{report:?}");
    assert!(day.payouts_minor > 0, "{day:?}");
    assert!(day.recon_matched > 0 && day.recon_exceptions == 0, "{day:?}");
    // The switch, the acquirer and at least one issuer hold a position, summing to zero.
    assert!(day.positions.len() >= 3, "{day:?}");
    assert_eq!(day.positions.iter().map(|p| p.2).sum::<i64>(), 0, "{day:?}");
    // End of day is deterministic too: the same seed gives the same figures.
    let again = must_pass(&options);
    assert_eq!(again.day_end, report.day_end);
    assert_eq!(again.digest, report.digest);
}

#[test]
fn a_faulty_day_still_clears_every_standing_approval_once() {
    let options =
        sales_only(SimOptions { crashes: 2, partitions: 2, power_cuts: 2, ..SimOptions::faulty(10_008, 40, 15, 15) });
    let report = must_pass(&options);
    assert!(report.net.lost > 0 && report.net.duplicated > 0, "{report:?}");
    assert!(report.day_end.cleared > 0 && report.day_end.recon_exceptions == 0, "{:?}", report.day_end);
    assert_eq!(must_pass(&options).day_end, report.day_end);
}

#[test]
fn a_posting_altered_before_reconciliation_is_caught() {
    let options = sales_only(SimOptions { tamper: Tamper::PostedAmount, ..SimOptions::faulty(42, 12, 0, 0) });
    let report = run(&options).expect("the world builds");
    let violations = report.violations.join("\n");
    // One minor unit more posted on a card than cleared (seed 42's first posting, a purchase
    // of 27.57): the terminal's purchase, the money and reconciliation all disagree.
    assert!(violations.contains("moving 2757 in all, posted 2758"), "{violations}");
    assert!(violations.contains("reconciliation"), "{violations}");
    // Only the record lies: the money (read from the issuers' ledgers) still adds up.
    assert!(!violations.contains("money in 156"), "{violations}");
}

#[test]
fn money_a_ledger_moves_without_a_record_is_caught() {
    let options = sales_only(SimOptions { tamper: Tamper::LedgerSkim, ..SimOptions::faulty(42, 12, 0, 0) });
    let report = run(&options).expect("the world builds");
    let violations = report.violations.join("\n");
    // The ledger still balances and every record agrees; only the money is one unit off.
    assert!(violations.contains("money in 156: card debits posted"), "{violations}");
    assert!(!violations.contains("ledger after posting"), "{violations}");
}

#[test]
fn a_purchase_the_switch_forgets_is_caught() {
    let options = sales_only(SimOptions { tamper: Tamper::ForgetPurchase, ..SimOptions::faulty(42, 12, 0, 0) });
    let report = run(&options).expect("the world builds");
    let violations = report.violations.join("\n");
    assert!(violations.contains("cleared 0 purchase record(s)"), "{violations}");
    assert!(violations.contains("money in 156"), "{violations}");
}

// The three seeds below were found on the sales-only workload of before the business day
// (refunds, pre-authorizations) was merged; the workload draws changed since, so a seed may no
// longer meet its case — the rules themselves are pinned in crates/recon/tests/rules.rs.

/// Seed 10011: purchases whose forward timed out at the acquirer, which reversed them, while the
/// switch had the issuer's approval and cleared each with its reversal. Reconciliation took the
/// acquirer's side from approved rows only and found the clearing's pair missing at the terminal.
#[test]
fn a_timed_out_purchase_the_switch_cleared_and_reversed_reconciles() {
    let options = sales_only(SimOptions::faulty(10_011, 40, 10, 10));
    let report = must_pass(&options);
    assert!(report.day_end.recon_matched > 0 && report.day_end.recon_exceptions == 0, "{:?}", report.day_end);
}

/// Seed 10035: a purchase whose void the switch and issuer approved, the terminal never saw the
/// answer and reversed the void. The switch clears purchase, void and a restoring purchase naming
/// the void; reconciliation and the books must take the three as one standing purchase.
#[test]
fn a_reversed_void_leaves_its_purchase_standing_in_the_books() {
    let options = sales_only(SimOptions::faulty(10_035, 40, 10, 10));
    let report = must_pass(&options);
    assert!(report.day_end.recon_matched > 0 && report.day_end.recon_exceptions == 0, "{:?}", report.day_end);
}

/// Faulty seed 10013: a power cut left a purchase's forward pending at the acquirer (no answer,
/// no field 15), which it reversed on restart, while the switch cleared it with its reversal.
#[test]
fn a_purchase_a_power_cut_left_pending_and_reversed_reconciles() {
    let options =
        sales_only(SimOptions { crashes: 1, partitions: 1, power_cuts: 1, ..SimOptions::faulty(10_013, 40, 15, 15) });
    let report = must_pass(&options);
    assert!(report.day_end.recon_exceptions == 0, "{:?}", report.day_end);
}
