//! Replay one seed, as a failing run prints it:
//! `CARDNET_SIM_SEED=S cargo test -p cardnet-sim --test replay -- --ignored --nocapture`.

#[test]
#[ignore = "replays the seed in CARDNET_SIM_SEED"]
fn replay_the_seed() {
    let seed = std::env::var("CARDNET_SIM_SEED").ok().and_then(|s| s.parse().ok()).expect("CARDNET_SIM_SEED=<u64>");
    let report = sim::run(&sim::SimOptions::new(seed)).expect("the world builds");
    println!("{report:#?}");
    assert!(report.passed(), "{:?}", report.violations);
}
