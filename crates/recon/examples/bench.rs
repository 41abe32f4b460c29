//! `cargo run --release -p cardnet-recon --example bench -- [records_per_source] [fault_rate_ppm] [seed]`
//! Four-way reconciliation of a generated day, timed (generation excluded).

fn main() {
    let mut args = std::env::args().skip(1);
    let mut next = |default: u64| -> u64 {
        match args.next() {
            None => default,
            Some(text) => text.replace('_', "").parse().unwrap_or_else(|_| {
                eprintln!("usage: bench [records_per_source] [fault_rate_ppm] [seed]: {text:?} is not a number");
                std::process::exit(2)
            }),
        }
    };
    let records = next(1_000_000);
    let ppm = u32::try_from(next(1_000)).unwrap_or(u32::MAX);
    let seed = next(1);
    let r = recon::bench(records, ppm, seed);
    println!("records per source   {}", r.records_per_source);
    println!("records (4 sources)  {}", r.records_total);
    println!("faults injected      {} ({} ppm of each kind)", r.faults_injected, ppm);
    println!("generate             {} ms (not counted)", r.generate_ms);
    println!("reconcile            {} ms", r.elapsed_ms);
    println!("reconcile CPU time   {} ms (user + system, both threads)", r.cpu_ms);
    println!("throughput           {} records/s", r.records_per_s);
    println!("memory peak (VmHWM)  {} MiB", r.memory_peak_bytes / (1024 * 1024));
    println!("matched / unmatched  {} / {}", r.matched, r.unmatched);
    println!("faults exact         {}", r.exact);
    // The machine may be shared: the load says how much of the wall time was waiting for a core.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average         {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
}
