//! `Engine::evaluate` with the bench's 50 rules over 100,000 tracked cards, under
//! criterion. The headline figure (per-evaluation p99 over a million cards) comes from
//! `cargo run --release -p cardnet-risk --example bench_risk`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use risk::bench::{BenchOptions, SplitMix, T0_MS, authorization, engine, hasher};

fn evaluate(c: &mut Criterion) {
    let opts = BenchOptions { cards_tracked: 100_000, ..BenchOptions::default() };
    let Ok(mut engine) = engine(&opts) else { return };
    let mut rng = SplitMix::new(9);
    let hasher = hasher();
    let events: Vec<_> = (0..10_000u64)
        .filter_map(|i| {
            let card = rng.below(opts.cards_tracked as u64);
            authorization(&mut rng, &hasher, &opts, card, T0_MS + i * 20)
        })
        .collect();
    let mut i = 0;
    let mut now_ms = T0_MS;
    c.bench_function("evaluate_50_rules_100k_cards", |b| {
        b.iter(|| {
            i = (i + 1) % events.len();
            now_ms += 20;
            black_box(engine.evaluate(black_box(&events[i]), now_ms))
        })
    });
}

criterion_group!(benches, evaluate);
criterion_main!(benches);
