//! The risk engine's latency benchmark: 50 rules, a million tracked cards, a million
//! authorizations each timed on its own.
//!
//! `cargo run --release -p cardnet-risk --example bench_risk [cards] [evaluations]`

use risk::bench::{BenchOptions, run};

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.replace('_', "").parse::<usize>());
    let mut opts = BenchOptions::default();
    if let Some(Ok(cards)) = args.next() {
        opts.cards_tracked = cards;
    }
    if let Some(Ok(evaluations)) = args.next() {
        opts.evaluations = evaluations;
    }
    match run(opts) {
        Ok(r) => {
            println!("rules              {}", r.rules);
            println!("cards_tracked      {}", r.cards_tracked);
            println!("evaluations        {}", r.evaluations);
            println!("latency_us_p50     {:.3}", r.latency_us_p50);
            println!("latency_us_p99     {:.3}", r.latency_us_p99);
            println!("latency_us_p999    {:.3}", r.latency_us_p999);
            println!("latency_us_max     {:.3}", r.latency_us_max);
            println!("evaluations_per_s  {:.0}", r.evaluations_per_s);
            println!("memory_bytes       {} ({:.1} MiB)", r.memory_bytes, r.memory_bytes as f64 / 1048576.0);
            println!("bytes_per_card     {}", r.bytes_per_card);
            println!("declines           {}", r.declines);
            println!("alerts             {}", r.alerts);
            println!("preload_s          {:.2}", r.preload_s);
        }
        Err(e) => {
            eprintln!("bench rules: {e}");
            std::process::exit(1);
        }
    }
}
