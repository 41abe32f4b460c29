//! The fuzz entry point over the network dialect's readers (`fuzz/fuzz_targets/network_fields.rs`
//! and `crates/network/tests/fuzz_corpus.rs`): bytes from outside, decoded as a network message,
//! then every reader a party applies to a request — kind, field 90, chip data, track 2, field 54,
//! amounts — and the text readers on the raw bytes. Errors are fine; a panic or a broken round
//! trip is a bug. Behind the `fuzzing` feature: it panics on a broken invariant.

// A fuzz entry point reports a broken invariant by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::balance::{AdditionalAmount, field54};
use crate::track2::Track2;
use crate::{OriginalData, classify, emv, request};

/// Every reader over `data`.
pub fn network_fields(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        read_text(text);
    }
    let spec = iso8583::builtin::network();
    let Ok(message) = iso8583::decode(&spec, data) else { return };
    let _ = classify(&message);
    let _ = crate::kind::is_stand_in_advice(&message);
    if let Ok(original) = OriginalData::from_field90(&message) {
        let mut copy = message.clone();
        original.set_field90(&mut copy).expect("field 90 read back writes");
        assert_eq!(OriginalData::from_field90(&copy).ok(), Some(original), "field 90 round trip");
    }
    let _ = OriginalData::of_request(&message);
    let _ = emv::chip_data(&message);
    let _ = request::replacement_amount(&message);
    let _ = request::amount_minor(&message);
    if let Some(track) = message.get_str(35) {
        read_track(track);
    }
    if let Some(amounts) = message.get_str(54) {
        read_amounts(amounts);
    }
    if let Some(code) = message.get_str(39) {
        let _ = crate::codes::meaning(code);
        let _ = emv::arc(code);
    }
}

fn read_text(text: &str) {
    read_track(text);
    read_amounts(text);
}

fn read_track(text: &str) {
    if let Ok(track) = Track2::parse(text) {
        let encoded = track.encode();
        assert_eq!(Track2::parse(&encoded).ok(), Some(track), "track 2 round trip");
    }
}

fn read_amounts(text: &str) {
    if let Ok(sets) = AdditionalAmount::parse_all(text) {
        let encoded = field54(&sets).expect("amounts read back write");
        assert_eq!(AdditionalAmount::parse_all(&encoded).ok(), Some(sets), "field 54 round trip");
    }
}
