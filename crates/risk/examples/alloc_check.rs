//! Evaluates N authorizations after building everything else, so that a heap profiler can
//! show `Engine::evaluate` allocates nothing: the total allocation count under
//! `valgrind --tool=memcheck` is the same for N = 1,000 and N = 10,000.
//!
//! `valgrind target/release/examples/alloc_check 1000` (and 10000), compare "allocs".

use risk::bench::{BenchOptions, SplitMix, T0_MS, authorization, engine, hasher};

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let opts = BenchOptions { cards_tracked: 2_000, merchants: 200, terminals: 400, ..BenchOptions::default() };
    let Ok(mut engine) = engine(&opts) else { return };
    let hasher = hasher();
    let mut rng = SplitMix::new(4);
    let events: Vec<_> = (0..10_000u64)
        .filter_map(|i| {
            let card = rng.below(opts.cards_tracked as u64);
            authorization(&mut rng, &hasher, &opts, card, T0_MS + i * 1_000)
        })
        .collect();
    let mut declined = 0;
    for tx in events.iter().take(n) {
        declined += usize::from(engine.evaluate(tx, tx.at_ms).is_declined());
    }
    println!("{n} evaluations, {declined} declined");
}
