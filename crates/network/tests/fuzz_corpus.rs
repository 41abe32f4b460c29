//! Replays the cargo-fuzz corpus of `network_fields` (`fuzz/corpus/network_fields/`) through
//! `network::fuzzing::network_fields`, so every input the fuzzer kept is checked by a plain
//! `cargo test` on stable. `CARDNET_WRITE_SEEDS=1` rewrites the hand-made `seed-*` files from
//! the messages below.

use std::fs;
use std::path::PathBuf;

use network::TransactionKind;
use network::balance::{AVAILABLE_BALANCE, AdditionalAmount, field54};
use network::fuzzing::network_fields;
use network::request::{Acceptor, CardInput, EntryMode, TransactionRequest, build, reversal_of};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/network_fields")
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let spec = iso8583::builtin::network();
    let acceptor = Acceptor {
        acquirer: "10000000344".parse().unwrap(),
        terminal: "TERM0001".parse().unwrap(),
        merchant: "898440154110001".parse().unwrap(),
        mcc: "5411".into(),
        name_location: "CARDNET COFFEE".into(),
    };
    let card = CardInput {
        entry: Some(EntryMode::Chip),
        track2: Some("6224242900000113=28062011234567000".into()),
        sequence_number: Some("001".into()),
        icc_data: Some(vec![0x9F, 0x26, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x9F, 0x36, 0x02, 0x00, 0x07]),
        pin_block: Some(vec![0x12; 8]),
        ..CardInput::new(domain::Pan::new("6224242900000113").unwrap())
    };
    let mut seeds = Vec::new();
    let original = network::OriginalData {
        mti: "0200".into(),
        stan: "000001".into(),
        transmission_time: "1121230000".into(),
        acquirer: "10000000344".into(),
        forwarder: "90000000001".into(),
    };
    for kind in [TransactionKind::Purchase, TransactionKind::Void, TransactionKind::BalanceInquiry] {
        let request = TransactionRequest {
            kind,
            acceptor: &acceptor,
            card: &card,
            amount_minor: 12_500,
            currency: "156",
            stan: network::request::Stan::parse("000002").unwrap(),
            rrn: network::request::Rrn::new("612345000002").unwrap(),
            now_ms: 1_795_000_000_000,
            original: Some(&original),
        };
        let mut message = build(&spec, &request).unwrap();
        if kind == TransactionKind::BalanceInquiry {
            let sets = [AdditionalAmount {
                account_type: "00".into(),
                amount_type: AVAILABLE_BALANCE.into(),
                currency: "156".into(),
                amount_minor: 99_900,
            }];
            message.set_str(54, &field54(&sets).unwrap()).unwrap();
            message.set_str(39, "00").unwrap();
        }
        if kind == TransactionKind::Purchase {
            let reversal = reversal_of(&message, "000003", 1_795_000_001_000, Some(100)).unwrap();
            seeds.push(("seed-reversal".to_owned(), reversal.encode().unwrap()));
        }
        seeds.push((format!("seed-{}", kind.name()), message.encode().unwrap()));
    }
    seeds
}

#[test]
fn seeds_are_current_and_pass() {
    let dir = corpus_dir();
    let write = std::env::var("CARDNET_WRITE_SEEDS").is_ok();
    if write {
        fs::create_dir_all(&dir).unwrap();
    }
    for (name, bytes) in seeds() {
        network_fields(&bytes);
        let path = dir.join(&name);
        if write {
            fs::write(&path, &bytes).unwrap();
        } else {
            let stored =
                fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (CARDNET_WRITE_SEEDS=1 writes it)", path.display()));
            assert_eq!(stored, bytes, "{name} is stale: CARDNET_WRITE_SEEDS=1 rewrites it");
        }
    }
}

#[test]
fn corpus_replays_without_a_panic() {
    let entries = fs::read_dir(corpus_dir()).expect("the network_fields corpus");
    let mut count = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        network_fields(&fs::read(&path).unwrap());
        count += 1;
    }
    assert!(count >= 4, "the corpus holds at least the seeds ({count} files)");
}
