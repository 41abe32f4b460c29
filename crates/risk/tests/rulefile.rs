//! The rule file: the shipped example parses; every error names its line and rule; no
//! input makes the parser panic; no card number leaks into errors.

mod common;

use common::*;

const EXAMPLE: &str = include_str!("../examples/rules.toml");

fn error(text: &str) -> String {
    match risk::parse("rules.toml", text, &hasher()) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_shipped_example_parses_with_every_kind() {
    let set = risk::parse("rules.toml", EXAMPLE, &hasher()).unwrap();
    assert_eq!(set.rules.len(), 17);
    assert_eq!((set.decline_score, set.alert_score), (100, 50));
    let text = format!("{set:?}");
    for kind in [
        "Velocity",
        "AmountVsUsual",
        "SplitSale",
        "Restriction",
        "Block",
        "NewMerchant",
        "RefundRatio",
        "CardTesting",
        "Mismatch",
        "Anomaly",
    ] {
        assert!(text.contains(kind), "{kind} missing from the example");
    }
    assert_eq!(risk::bench::DEFAULT_RULES, EXAMPLE, "the bench and the shipped file are the same");
}

#[test]
fn a_bad_window_names_its_line_and_rule() {
    let text = file(
        r#"[[rule]]
id = "burst"
kind = "velocity"
entity = "card"
measure = "count"
window = "5q"
threshold = 3
score = 10
reason = "r"
"#,
    );
    assert_eq!(error(&text), r#"rules.toml:10: rule "burst": window "5q" is not a duration (use 30s, 5m, 1h, 30d)"#);
    let long = text.replace("\"5q\"", "\"31d\"");
    assert_eq!(error(&long), r#"rules.toml:10: rule "burst": window "31d" is outside 1m to 30d"#);
    let short = text.replace("\"5q\"", "\"59s\"");
    assert!(error(&short).starts_with("rules.toml:10:"));
    for bad in ["5\u{e9}", "1\u{fffd}", "", "h", "-1h", "1.5h", "99999999999999999999d"] {
        let message = error(&text.replace("\"5q\"", &format!("{bad:?}")));
        assert!(message.starts_with("rules.toml:10: rule \"burst\": window"), "{message}");
    }
    let ok = text.replace("\"5q\"", "\"60s\"");
    assert!(risk::parse("rules.toml", &ok, &hasher()).is_ok(), "60s is 1m");
}

#[test]
fn errors_name_lines() {
    let base = r#"[[rule]]
id = "r1"
kind = "velocity"
entity = "card"
measure = "count"
window = "1h"
threshold = 3
score = 10
reason = "r"
"#;
    let cases: [(&str, &str, &str); 9] = [
        ("kind = \"velocity\"", "kind = \"speed\"", "rules.toml:7: rule \"r1\": kind \"speed\" is not one of"),
        ("entity = \"card\"", "entity = \"bank\"", "rules.toml:8: rule \"r1\": entity \"bank\" is not one of"),
        (
            "measure = \"count\"",
            "measure = \"sum\"",
            "rules.toml:9: rule \"r1\": measure \"sum\" is not count or amount",
        ),
        ("score = 10", "score = 10\ndecline = \"00\"", "rules.toml:13: rule \"r1\": decline \"00\" is not one of"),
        (
            "score = 10",
            "score = 10\nhours = \"22-06\"",
            "rules.toml:13: rule \"r1\": `hours` does not apply to a velocity rule",
        ),
        ("threshold = 3", "threshold = -3", "rules.toml:11:"),
        ("score = 10", "score = 10\nwindw = \"1h\"", "rules.toml:13:"),
        ("id = \"r1\"", "id = \"r 1\"", "rules.toml:6: `id` must be"),
        ("threshold = 3\n", "", "rules.toml:5: rule \"r1\": give either `threshold` and `score`, or `bands`"),
    ];
    for (from, to, expected) in cases {
        let text = file(&base.replace(from, to));
        let message = error(&text);
        assert!(message.starts_with(expected), "{message:?} should start with {expected:?}");
    }
    let twice = file(&format!("{base}\n{base}"));
    assert_eq!(error(&twice), "rules.toml:16: rule \"r1\": a rule with this id comes earlier");
    assert!(error("currency = \"XYZ\"\ndecline_score = 1\nalert_score = 1\n").starts_with("rules.toml:1: `currency`"));
    assert!(
        error("currency = \"CNY\"\ndecline_score = 10\nalert_score = 20\n").starts_with("rules.toml:3: `alert_score`")
    );
    assert!(error("currency = \"CNY\"\ndecline_score = 10\n").starts_with("rules.toml:1:"), "missing field");
}

#[test]
fn bands_are_checked() {
    let rule = |bands: &str| {
        file(&format!(
            "[[rule]]\nid = \"b\"\nkind = \"velocity\"\nentity = \"card\"\nmeasure = \"count\"\nwindow = \"1h\"\nreason = \"r\"\nbands = [\n{bands}\n]\n"
        ))
    };
    assert!(
        risk::parse("rules.toml", &rule("{ lower = 1, upper = 5, score = 1 }, { lower = 5, score = 2 }"), &hasher())
            .is_ok()
    );
    let overlap = error(&rule("{ lower = 1, upper = 5, score = 1 },\n{ lower = 4, score = 2 }"));
    assert_eq!(overlap, "rules.toml:14: rule \"b\": bands overlap");
    let inverted = error(&rule("{ lower = 5, upper = 5, score = 1 }"));
    assert!(inverted.starts_with("rules.toml:13: rule \"b\": band `upper` must be above `lower`"), "{inverted}");
    assert!(error(&rule("")).contains("1 to 16 bands"));
}

#[test]
fn card_numbers_never_appear_in_errors() {
    let text = file(
        r#"[[rule]]
id = "blocked"
kind = "block_list"
cards = ["6212345678901234", "62123456789012x4"]
score = 100
reason = "r"
"#,
    );
    let message = error(&text);
    assert_eq!(message, "rules.toml:8: rule \"blocked\": cards[1] is not a PAN (12 to 19 digits)");
    assert!(!message.contains("6212345678"));
}

#[test]
fn card_testing_counts_are_bounded_by_what_terminals_keep() {
    let rule = |n: u32| {
        file(&format!(
            "[[rule]]\nid = \"t\"\nkind = \"card_testing\"\nwindow = \"10m\"\nthreshold = {n}\nscore = 1\nreason = \"r\"\n"
        ))
    };
    assert!(risk::parse("rules.toml", &rule(8), &hasher()).is_ok());
    assert!(error(&rule(9)).starts_with("rules.toml:9: rule \"t\": card testing counts 1 to 8"));
    assert!(error(&rule(0)).contains("card testing counts"));
}

/// Truncations and byte changes of the example at every position: errors, never a panic.
#[test]
fn malformed_files_are_errors_not_panics() {
    let bytes = EXAMPLE.as_bytes();
    let mut rejected = 0;
    for cut in (0..bytes.len()).step_by(3) {
        let text = String::from_utf8_lossy(&bytes[..cut]);
        rejected += usize::from(risk::parse("rules.toml", &text, &hasher()).is_err());
    }
    let replacements = [b'"', b'[', b']', b'=', b'\n', b'9', b'-', b'{', b'x', 0xff];
    let mut rng = risk::bench::SplitMix::new(3);
    for _ in 0..3_000 {
        let mut mutated = bytes.to_vec();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(mutated.len() as u64) as usize;
            mutated[at] = replacements[rng.below(replacements.len() as u64) as usize];
        }
        let text = String::from_utf8_lossy(&mutated);
        if let Err(e) = risk::parse("rules.toml", &text, &hasher()) {
            rejected += 1;
            assert!(e.line >= 1 && e.line <= text.lines().count() + 1, "{e}");
        }
    }
    // Multi-byte characters at random character boundaries.
    for _ in 0..2_000 {
        let mut text = EXAMPLE.to_string();
        let mut at = rng.below(text.len() as u64) as usize;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.insert_str(at, ["\u{e9}", "\u{fffd}", "\u{1f600}", "\u{0}"][rng.below(4) as usize]);
        rejected += usize::from(risk::parse("rules.toml", &text, &hasher()).is_err());
    }
    assert!(rejected > 1_000, "{rejected}");
    for text in ["", "=", "[[rule]]", "currency = 1", "a = [", "\u{0}", "[[rule]]\n[[rule]]\nid = 1"] {
        assert!(risk::parse("rules.toml", text, &hasher()).is_err(), "{text:?}");
    }
}
