//! What the simulation's tests share.

use sim::{SimOptions, replay_command, run};

/// Run `options` and insist every invariant held, naming the replay command if not.
pub fn must_pass(options: &SimOptions) -> sim::SimReport {
    let report = run(options).expect("the world builds");
    assert!(
        report.passed(),
        "seed {} failed: {:?}\nreplay: {}",
        report.seed,
        report.violations,
        replay_command(options)
    );
    report
}
