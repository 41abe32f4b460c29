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
    // The same JSON apart from the timings; the simulated time is the seeds', not the clock's.
    let untimed = |mut value: serde_json::Value| {
        let object = value.as_object_mut().expect("an object");
        assert!(object.remove("simulated_per_real").is_some_and(|r| r.is_f64()));
        assert!(object.remove("real_ms").is_some_and(|ms| ms.as_u64().is_some_and(|ms| ms > 0)));
        value
    };
    assert!(first["simulated_s"].as_u64().is_some_and(|s| s > 0), "{first}");
    assert_eq!(untimed(first.clone()), untimed(second));
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
