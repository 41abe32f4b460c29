//! A seed replays a run byte for byte; faults do not break the money invariants.

mod common;

use common::must_pass;
use sim::{SimOptions, replay_command};

#[test]
fn one_seed_gives_one_trace_and_another_seed_another() {
    let options = SimOptions::faulty(42, 12, 0, 0);
    let first = must_pass(&options);
    let second = must_pass(&options);
    assert_eq!(first.digest, second.digest);
    assert_eq!(first.delivered, second.delivered);
    assert_eq!(first.net, second.net);
    // Every sale and pre-authorization went out and came back through the acquirer, the switch
    // and an issuer: approved, or declined as its card called for; the supervisor voided or
    // refunded some.
    assert_eq!(first.approved + first.pre_authorized, 12 - first.declines_planned, "{first:?}");
    assert_eq!(first.declines_as_planned, first.declines_planned, "{first:?}");
    assert!(first.voided + first.refunded + first.pre_auths_voided > 0, "{first:?}");
    // Each terminal settled twice (halfway and at the end), balanced with the acquirer.
    assert_eq!(first.settled, 2 * 4, "{first:?}");
    assert!(first.delivered >= 4 * 12, "{first:?}");
    let other = must_pass(&SimOptions { seed: 43, ..options });
    assert_eq!(
        replay_command(&options),
        "cardnet sim --seeds 1 --seed 42 --purchases 12 --terminals 4 --loss-percent 0 --duplicate-percent 0 --crashes 0 --partitions 0 --power-cuts 0"
    );
    assert_ne!(first.digest, other.digest);
}

#[test]
fn loss_and_duplication_keep_every_approval_held_once() {
    let options = SimOptions::faulty(7, 40, 10, 10);
    let report = must_pass(&options);
    // The faults happened and the cores had to handle them.
    assert!(report.net.lost > 0 && report.net.duplicated > 0, "{report:?}");
    assert!(report.declined + report.unanswered > 0, "{report:?}");
    assert!(report.approved > 0, "{report:?}");
    // Terminals reversed what went unanswered, and the acquirer settled those reversals.
    assert!(report.reversals_settled > 0, "{report:?}");
    // Every settlement balanced, but for one whose batch had a refund the terminal got no answer
    // to (an advice it does not send again).
    assert_eq!(report.settled, 2 * options.terminals, "{report:?}");
    let again = must_pass(&options);
    assert_eq!(report.digest, again.digest);
}

#[test]
fn reordering_within_the_timeouts_keeps_the_invariants() {
    let mut options = SimOptions::faulty(5, 30, 10, 10);
    options.link.reorder = true;
    let report = must_pass(&options);
    assert!(report.net.lost > 0 && report.net.late > 0, "{report:?}");
    // Reordering changes the run: the same seed without it is another trace.
    let in_order = must_pass(&SimOptions::faulty(5, 30, 10, 10));
    assert_ne!(report.digest, in_order.digest);
}

#[test]
fn crashed_parties_restart_from_their_databases_and_keep_the_invariants() {
    let options = SimOptions { crashes: 4, ..SimOptions::faulty(3, 40, 10, 10) };
    let report = must_pass(&options);
    assert!(report.net.crashes >= 2, "{report:?}");
    // Purchases went unanswered because of them and were reversed; others were approved.
    assert!(report.unanswered > 0 && report.approved > 0, "{report:?}");
    assert_eq!(report.digest, must_pass(&options).digest);
    assert_ne!(report.digest, must_pass(&SimOptions { crashes: 0, ..options }).digest);
}

#[test]
fn partitions_and_crashes_together_keep_the_invariants() {
    let options = SimOptions { crashes: 2, partitions: 3, ..SimOptions::faulty(10, 40, 10, 10) };
    let report = must_pass(&options);
    assert!(report.net.partitioned > 0, "{report:?}");
    assert_eq!(report.digest, must_pass(&options).digest);
}

/// A connection that closes fails the requests open on it at once — a lost link, not a timeout:
/// the acquirer reverses what it had forwarded (it may have been delivered), the terminal what
/// it had sent — and the day still ends with every party agreeing and the books clean.
#[test]
fn connections_that_close_under_open_requests_keep_the_invariants() {
    let mut cut_requests = 0;
    for seed in 12..16 {
        let options = SimOptions { connection_cuts: 12, ..SimOptions::faulty(seed, 40, 5, 5) };
        let report = must_pass(&options);
        assert_eq!(report.net.connection_cuts, 12, "{report:?}");
        assert!(replay_command(&options).contains(" --connection-cuts 12"));
        cut_requests += report.net.cut_requests;
        assert_eq!(report.digest, must_pass(&options).digest);
    }
    assert!(cut_requests > 0, "no cut met an open request");
}

/// The cores' own invariants are read after every call that committed, not only at the end: a
/// ledger broken before the day starts is reported at the first call of its issuer.
#[test]
fn a_ledger_that_does_not_balance_is_caught_at_the_first_step() {
    let options = SimOptions { tamper: sim::eod::Tamper::UnbalancedLedger, ..SimOptions::new(42) };
    let report = sim::run(&options).expect("the world builds");
    let broken: Vec<&String> = report.violations.iter().filter(|v| v.starts_with("issuer (node ")).collect();
    assert!(!broken.is_empty(), "{:?}", report.violations);
    assert!(broken[0].contains(" ms into the run: ledger:") && broken[0].contains("!= credits posted"), "{broken:?}");
    assert_eq!(broken.len(), sim::driver::BROKEN_KEPT_MAX, "kept up to the bound: {broken:?}");
}

#[test]
fn a_party_that_loses_power_before_its_commit_keeps_the_invariants() {
    // Nothing of the cut batch is durable and nothing it decided left: the node restarts from
    // its database as after a crash, and the requests it was deciding are retried or reversed.
    let options = SimOptions { power_cuts: 6, ..SimOptions::faulty(11, 40, 10, 10) };
    let report = must_pass(&options);
    assert!(report.net.power_cuts >= 3, "{report:?}");
    assert_eq!(report.digest, must_pass(&options).digest);
}
