//! Merchant settlement at scale: `cargo run --release -p cardnet-acquirer --example
//! merchant_settlement_bench -- [MERCHANTS] [TRANSACTIONS] [SEED]` (default 1,000,000 merchants,
//! 5,000,000 transactions). Prints one JSON object; the settlement itself is `settle_ms`.

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.replace('_', "").parse::<u64>());
    let merchants = args.next().and_then(Result::ok).unwrap_or(1_000_000);
    let transactions = args.next().and_then(Result::ok).unwrap_or(5_000_000);
    let seed = args.next().and_then(Result::ok).unwrap_or(1);
    match acquirer::bench_merchant_settlement(merchants, transactions, seed) {
        Ok(r) => println!(
            "{{\"merchants\": {}, \"transactions\": {}, \"lines\": {}, \"gross_minor\": {}, \"fee_minor\": {}, \
             \"net_minor\": {}, \"generate_ms\": {}, \"settle_ms\": {}, \"payout_file_bytes\": {}}}",
            r.merchants,
            r.transactions,
            r.lines,
            r.gross_minor,
            r.fee_minor,
            r.net_minor,
            r.generate_ms,
            r.settle_ms,
            r.payout_file_bytes
        ),
        Err(error) => {
            eprintln!("merchant settlement bench: {error}");
            std::process::exit(2);
        }
    }
}
