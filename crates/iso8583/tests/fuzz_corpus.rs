//! Replays the cargo-fuzz corpora (`fuzz/corpus/<target>/`) through the same entry points the
//! fuzz targets call (`iso8583::fuzzing`), so every input the fuzzer kept, and every crash it
//! found (`regression-*` files), is checked by a plain `cargo test` on stable.
//!
//! `seed_corpus_is_current` checks the hand-made seeds (`seed-*` files) the corpora started
//! from against what the codec builds today; `CARDNET_WRITE_SEEDS=1 cargo test -p
//! cardnet-iso8583 --test fuzz_corpus seed_corpus` rewrites them.

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;

use iso8583::fuzzing::{self, samples};
use iso8583::spec::{SpecFile, SpecFormat};
use iso8583::{Envelope, Header, Message, Tpdu, builtin, decode, encode_framed, hex, json};

/// What a fuzz target calls.
type Target = fn(&[u8]);

/// Every fuzz target and the function it calls.
const TARGETS: [(&str, Target); 8] = [
    ("decode_cup_pos", fuzzing::decode_cup_pos),
    ("decode_iso87_ascii", fuzzing::decode_iso87_ascii),
    ("decode_network", fuzzing::decode_network),
    ("decode_framed_cup_pos", fuzzing::decode_framed_cup_pos),
    ("load_spec", fuzzing::load_spec),
    ("json_to_message", fuzzing::json_to_message),
    ("tlv", fuzzing::tlv),
    ("paths", fuzzing::paths),
];

/// Fuzz targets whose entry points live in other crates, which replay their corpora themselves.
const OTHER_CRATES_TARGETS: [&str; 2] = ["clearing_file", "network_fields"];

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn corpus_dir(target: &str) -> PathBuf {
    fuzz_dir().join("corpus").join(target)
}

fn corpus_files(target: &str) -> Vec<PathBuf> {
    let dir = corpus_dir(target);
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus directory {} is missing: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries.map(|entry| entry.unwrap().path()).filter(|path| path.is_file()).collect();
    files.sort();
    files
}

fn replay(target: &str, run: Target) {
    let files = corpus_files(target);
    assert!(!files.is_empty(), "corpus for {target} is empty: nothing would be checked");
    let mut failures = Vec::new();
    for path in &files {
        let data = fs::read(path).unwrap();
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| run(&data))) {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(format!("{}: {}", path.display(), message.lines().next().unwrap_or("")));
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: {} of {} inputs panic:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn every_target_has_a_corpus_and_every_corpus_a_target() {
    let targets_dir = fuzz_dir().join("fuzz_targets");
    let mut sources: Vec<String> = fs::read_dir(&targets_dir)
        .unwrap_or_else(|e| panic!("{} is missing: {e}", targets_dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    sources.sort();
    let mut names: Vec<String> = TARGETS.iter().map(|(name, _)| (*name).to_owned()).collect();
    // Targets of other crates, replayed by their own tests (crates/network/tests/fuzz_corpus.rs).
    names.extend(OTHER_CRATES_TARGETS.iter().map(|name| (*name).to_owned()));
    names.sort();
    assert_eq!(sources, names, "fuzz/fuzz_targets/*.rs and this test's TARGETS differ");
    let mut corpora: Vec<String> = fs::read_dir(fuzz_dir().join("corpus"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    corpora.sort();
    assert_eq!(corpora, names, "fuzz/corpus/* and this test's TARGETS differ");
}

#[test]
fn base_messages_for_paths_are_all_built() {
    // Three published samples, three cup-pos messages built for the other layouts, and one
    // each for network and iso87-ascii: a message that stops building (a spec changed under
    // it) would silently shrink what the `paths` target explores.
    assert_eq!(fuzzing::base_messages().len(), 8);
}

#[test]
fn corpus_decode_cup_pos() {
    replay("decode_cup_pos", fuzzing::decode_cup_pos);
}

#[test]
fn corpus_decode_iso87_ascii() {
    replay("decode_iso87_ascii", fuzzing::decode_iso87_ascii);
}

#[test]
fn corpus_decode_network() {
    replay("decode_network", fuzzing::decode_network);
}

#[test]
fn corpus_decode_framed_cup_pos() {
    replay("decode_framed_cup_pos", fuzzing::decode_framed_cup_pos);
}

#[test]
fn corpus_load_spec() {
    replay("load_spec", fuzzing::load_spec);
}

#[test]
fn corpus_json_to_message() {
    replay("json_to_message", fuzzing::json_to_message);
}

#[test]
fn corpus_tlv() {
    replay("tlv", fuzzing::tlv);
}

#[test]
fn corpus_paths() {
    replay("paths", fuzzing::paths);
}

// ---------------------------------------------------------------------------------------------
// Seeds.

fn cup_envelope() -> Envelope {
    Envelope {
        tpdu: Some(Tpdu::from_hex("6000060000").unwrap()),
        header: Some(Header::from_hex("603100311003").unwrap()),
    }
}

fn encoded(messages: &[&Message]) -> Vec<Vec<u8>> {
    messages.iter().map(|m| m.encode().unwrap()).collect()
}

/// Small network-management messages for the two specs without published samples.
fn sign_on(spec: &std::sync::Arc<iso8583::Spec>) -> Message {
    let mut message = Message::new(spec.clone(), iso8583::Mti::parse("0800").unwrap());
    message.set_str(11, "000001").unwrap();
    message.set_str(70, "001").unwrap();
    message
}

#[test]
fn seed_corpus_is_current() {
    let write = std::env::var_os("CARDNET_WRITE_SEEDS").is_some();
    let bases = fuzzing::base_messages();
    let cup_bases: Vec<&Message> = bases.iter().filter(|m| m.spec().name == "cup-pos").collect();
    let by_spec = |name: &str| bases.iter().filter(|m| m.spec().name == name).collect::<Vec<_>>();
    let mut seeds: Vec<(&str, String, Vec<u8>)> = Vec::new();

    // Bodies and frames.
    for (index, body) in encoded(&cup_bases).into_iter().enumerate() {
        seeds.push(("decode_cup_pos", format!("body-{index}"), body.clone()));
        let message = decode(&builtin::cup_pos(), &body).unwrap();
        seeds.push((
            "decode_framed_cup_pos",
            format!("frame-{index}"),
            encode_framed(&message, &cup_envelope()).unwrap(),
        ));
    }
    seeds.push(("decode_cup_pos", "v2-es".into(), samples::bytes(samples::V2_ES)));
    seeds.push(("decode_framed_cup_pos", "v1".into(), samples::bytes(samples::V1_FRAME)));
    for (target, spec) in [("decode_iso87_ascii", builtin::iso87_ascii()), ("decode_network", builtin::network())] {
        let mut messages = by_spec(&spec.name).into_iter().cloned().collect::<Vec<_>>();
        messages.push(sign_on(&spec));
        for (index, message) in messages.iter().enumerate() {
            seeds.push((target, format!("body-{index}"), message.encode().unwrap()));
            seeds.push((target, format!("frame-{index}"), encode_framed(message, &Envelope::default()).unwrap()));
        }
    }

    // Spec files: the built-ins as TOML, one as JSON, and cup-pos followed by a body.
    for (name, text) in builtin::SOURCES {
        seeds.push(("load_spec", format!("{name}.toml"), text.as_bytes().to_vec()));
    }
    let network = SpecFile::parse(builtin::SOURCES[2].1, SpecFormat::Toml).unwrap();
    seeds.push(("load_spec", "network.json".into(), serde_json::to_vec(&network).unwrap()));
    let mut with_body = builtin::SOURCES[0].1.as_bytes().to_vec();
    with_body.push(0);
    with_body.extend(samples::bytes(samples::V3));
    seeds.push(("load_spec", "cup-pos-v3".into(), with_body));

    // JSON of every base message, the cup-pos ones with their envelope.
    for (index, message) in bases.iter().enumerate() {
        let envelope = (message.spec().name == "cup-pos").then(cup_envelope);
        let value = json::to_json(message, envelope.as_ref(), json::JsonOptions { unmask: true });
        seeds.push(("json_to_message", format!("message-{index}.json"), serde_json::to_vec(&value).unwrap()));
    }

    // TLV: the short sample, V1's field 55, and a nested template.
    let v1 = &bases[0];
    seeds.push(("tlv", "icc".into(), hex::decode(fuzzing::SAMPLE_ICC_DATA).unwrap()));
    seeds.push(("tlv", "v1-55".into(), v1.get(55).unwrap().to_vec()));
    seeds.push(("tlv", "nested".into(), hex::decode("7212860A84DA00CA0511223344559F1804000000019100").unwrap()));

    // Paths: selector byte (base message; high bit = remove), path, `=`, value.
    let paths: [(u8, &[u8]); 12] = [
        (0, b"60.3=201"),
        (0, b"55.9F26=\x01\x02\x03\x04\x05\x06\x07\x08"),
        (0, b"55.71.86=\x84\x24\x00\x00\x08"),
        (0x80, b"55.9F36"),
        (0x80, b"60.4"),
        (1, b"60.4=5"),
        (2, b"2=6224242900000113"),
        (3, b"62.2=\xAA\xBB\xCC\xDD"),
        (4, b"48.2.1.3=00000000000000009999"),
        (0x84, b"48.2.2"),
        (5, b"48.5=2"),
        (6, b"90.2=000999"),
    ];
    for (index, (selector, path)) in paths.into_iter().enumerate() {
        let mut data = vec![selector];
        data.extend_from_slice(path);
        seeds.push(("paths", format!("{index}"), data));
    }

    for (target, name, data) in seeds {
        // Every seed must pass the checks before it goes in.
        let run = TARGETS.iter().find(|(t, _)| *t == target).unwrap().1;
        run(&data);
        let dir = corpus_dir(target);
        let path = dir.join(format!("seed-{name}"));
        if write {
            fs::create_dir_all(&dir).unwrap();
            fs::write(&path, &data).unwrap();
        } else {
            let on_disk = fs::read(&path).unwrap_or_default();
            assert!(
                on_disk == data,
                "{} is not what the codec builds today; rewrite the seeds with CARDNET_WRITE_SEEDS=1",
                path.display()
            );
        }
    }
}
