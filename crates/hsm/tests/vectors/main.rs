//! Every vector of `shared/reference/payment-crypto-vectors.json` (copied to
//! `tests/data/`) is checked here, each by the module for its algorithm family. A vector
//! whose id no module claims fails the run, so none can be skipped silently.

mod dukpt;
mod emv;
mod mac;
mod pin;
mod tr31;

use std::panic::{self, AssertUnwindSafe};

use serde_json::Value;

const VECTORS: &str = include_str!("../data/payment-crypto-vectors.json");

/// A family's checker: panics, naming the value, when a vector does not reproduce.
type Check = fn(&Value);

/// Which module checks a vector, by id prefix.
fn checker(id: &str) -> Option<Check> {
    let table: [(&str, Check); 7] = [
        ("pin-", pin::check),
        ("mac-", mac::check),
        ("kcv-", mac::check_kcv),
        ("cup-ecb-mac-", mac::check_cup),
        ("dukpt-", dukpt::check),
        ("emv-", emv::check),
        ("tr31-", tr31::check),
    ];
    table.iter().find(|(prefix, _)| id.starts_with(prefix)).map(|(_, check)| *check)
}

/// Hex string at `pointer` (a JSON pointer such as `/inputs/key`), decoded.
pub fn hex_at(vector: &Value, pointer: &str) -> Vec<u8> {
    iso8583::hex::decode(str_at(vector, pointer)).unwrap_or_else(|e| panic!("{pointer}: {e}"))
}

pub fn str_at<'a>(vector: &'a Value, pointer: &str) -> &'a str {
    vector
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{} has no string at {pointer}", vector["id"]))
}

pub fn opt_str<'a>(vector: &'a Value, pointer: &str) -> Option<&'a str> {
    vector.pointer(pointer).and_then(Value::as_str)
}

#[test]
fn every_vector_passes() {
    let document: Value = serde_json::from_str(VECTORS).unwrap();
    let vectors = document["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 78, "the reference file has 78 vectors");
    let mut failures = Vec::new();
    for vector in vectors {
        let id = vector["id"].as_str().unwrap();
        let Some(check) = checker(id) else {
            failures.push(format!("{id}: no module checks this vector"));
            continue;
        };
        if let Err(panic) = panic::catch_unwind(AssertUnwindSafe(|| check(vector))) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{id}: {message}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} vectors failed:\n{}", failures.len(), vectors.len(), failures.join("\n"));
}

#[test]
fn the_copy_matches_the_shared_reference_when_it_is_beside_the_repo() {
    let shared =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/payment-crypto-vectors.json");
    match std::fs::read_to_string(&shared) {
        Ok(text) => {
            assert_eq!(text, VECTORS, "tests/data/payment-crypto-vectors.json differs from {}", shared.display())
        }
        Err(_) => eprintln!("SKIPPED: {} not found; checked the repository's copy only", shared.display()),
    }
}
