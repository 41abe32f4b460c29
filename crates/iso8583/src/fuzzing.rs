//! Entry points shared by the cargo-fuzz targets in `fuzz/` and the stable corpus replay test,
//! so the fuzzer and `cargo test` exercise exactly the same code. Each must return without
//! panicking for every input.
