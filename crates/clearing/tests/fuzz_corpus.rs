//! Replays the clearing file's fuzz corpus (`fuzz/corpus/clearing_file/`, the cargo-fuzz target `clearing_file`) through
//! `clearing::fuzzing::clearing_file`, the function a cargo-fuzz target calls, so every input
//! kept there is checked by a plain `cargo test` on stable.
//!
//! `seed_corpus_is_current` checks the hand-made seeds (`seed-*` files) against what the
//! writer makes today; `CARDNET_WRITE_SEEDS=1 cargo test -p cardnet-clearing --test
//! fuzz_corpus` rewrites them.

mod common;

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;

use clearing::file::Form;
use clearing::fuzzing::clearing_file;
use common::{file, records};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/clearing_file")
}

/// Replaces the first `from` after byte `after` with `to`.
fn replace_after(bytes: &[u8], after: usize, from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = after + bytes[after..].windows(from.len()).position(|w| w == from).unwrap();
    let mut out = bytes[..at].to_vec();
    out.extend_from_slice(to);
    out.extend_from_slice(&bytes[at + from.len()..]);
    out
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for (form, name) in [(Form::FixedWidth, "fixed"), (Form::Csv, "csv")] {
        let three = file(form, &records(3));
        seeds.push((format!("{name}-empty"), file(form, &records(0))));
        seeds.push((format!("{name}-three"), three.clone()));
        seeds.push((format!("{name}-unknown-code"), replace_after(&three, 0, b"PUR", b"XYZ")));
        seeds.push((format!("{name}-truncated"), three[..three.len() / 2].to_vec()));
        let mut after = three.clone();
        after.extend_from_slice(b"T\n");
        seeds.push((format!("{name}-after-trailer"), after));
    }
    seeds
}

#[test]
fn seed_corpus_is_current() {
    let write = std::env::var_os("CARDNET_WRITE_SEEDS").is_some();
    for (name, data) in seeds() {
        clearing_file(&data);
        let path = corpus_dir().join(format!("seed-{name}"));
        if write {
            fs::create_dir_all(corpus_dir()).unwrap();
            fs::write(&path, &data).unwrap();
        } else {
            let on_disk = fs::read(&path).unwrap_or_default();
            assert!(
                on_disk == data,
                "{} is not what the writer makes today; rewrite the seeds with CARDNET_WRITE_SEEDS=1",
                path.display()
            );
        }
    }
}

#[test]
fn corpus_clearing_file() {
    let mut files: Vec<PathBuf> = fs::read_dir(corpus_dir())
        .unwrap_or_else(|e| panic!("corpus directory {} is missing: {e}", corpus_dir().display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= seeds().len(), "the corpus lacks its seeds");
    let mut failures = Vec::new();
    for path in &files {
        let data = fs::read(path).unwrap();
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| clearing_file(&data))) {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(format!("{}: {}", path.display(), message.lines().next().unwrap_or("")));
        }
    }
    assert!(failures.is_empty(), "{} of {} inputs panic:\n{}", failures.len(), files.len(), failures.join("\n"));
}
