//! `cardnet sim`: two processes given the same seeds print the same trace digest (replay across
//! processes, not only within one), other seeds another; bad counts are bad input.

mod common;

use common::{cardnet, json};

#[test]
fn the_same_seeds_replay_byte_for_byte_in_another_process() {
    let args =
        ["sim", "--seeds", "2", "--seed", "11", "--purchases", "8", "--crashes", "1", "--power-cuts", "1", "--json"];
    let first = json(&cardnet(&args));
    let second = json(&cardnet(&args));
    assert_eq!(first["seeds"], 2);
    assert_eq!(first["failed"], 0, "{first}");
    assert_eq!(first["failing_seeds"], serde_json::json!([]));
    assert_eq!(first["trace_digest"], second["trace_digest"]);
    let other = json(&cardnet(&["sim", "--seeds", "2", "--seed", "12", "--purchases", "8", "--json"]));
    assert_ne!(first["trace_digest"], other["trace_digest"]);
}

#[test]
fn no_seeds_or_too_many_purchases_are_bad_input() {
    for args in [
        &["sim", "--seeds", "0"][..],
        &["sim", "--purchases", "10001"],
        &["sim", "--loss-percent", "101"],
        &["sim", "--crashes", "101"],
        &["sim", "--power-cuts", "101"],
        &["sim", "--terminals", "0"],
        &["sim", "--terminals", "65"],
    ] {
        let output = cardnet(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
}
