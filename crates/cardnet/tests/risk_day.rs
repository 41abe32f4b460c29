//! Risk control end to end with real processes (issue 16): `cardnet serve` for every party, the
//! acquirer's configuration naming a rule file (`[risk] rules`), and the scripted terminal
//! (`cardnet pos run`). A burst of small sales on one card is declined 65 from the sale that
//! reaches the rule's threshold, and let through once the file, changed while the acquirer
//! serves, raises it; wrong PINs on several cards at one terminal (card testing)
//! block the terminal — the next sale, with a good card and PIN, is refused 58 — and the
//! acquirer's log names the rule. The day's AML reports read the same approvals from the
//! acquirer's journal and from the issuers'.

#![cfg(unix)]

mod common;

use common::ProcessNetwork;
use common::till::{Till, WAIT};
use serde_json::Value;

const RULES: &str = r#"
currency = "CNY"
decline_score = 100
alert_score = 50

[[rule]]
id = "small_sales_burst"
kind = "velocity"
entity = "card"
measure = "count"
window = "10m"
threshold = 3
score = 100
reason = "card_count_10m"
decline = "65"

[[rule]]
id = "wrong_pins_across_cards"
kind = "card_testing"
window = "10m"
threshold = 2
score = 100
reason = "card_testing"
decline = "58"
"#;

fn code(outcome: &Value) -> String {
    outcome["response_code"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_burst_on_one_card_is_declined_65_and_card_testing_blocks_the_terminal() {
    let network = ProcessNetwork::set_up("risk-day");
    let others: Vec<Value> = (0..3).map(|_| network.issue_card("debit", Some(50_000), None)).collect();
    let acquirer_dir = std::path::Path::new(&network.acquirer_config).parent().unwrap().to_owned();
    std::fs::write(acquirer_dir.join("risk.toml"), RULES).unwrap();
    let mut config = std::fs::read_to_string(&network.acquirer_config).unwrap();
    config.push_str("\n[risk]\nrules = \"risk.toml\"\n");
    std::fs::write(&network.acquirer_config, config).unwrap();
    let logs = network.dir.join("logs");
    let mut servers = network.start_logged(&logs);
    assert!(network.wait_listening(WAIT), "every party listens");
    let (terminal_config, card_file) = network.terminal_files("POS00001");
    let mut till = Till::new(terminal_config);
    till.wait_ready(&card_file);

    let sale = |till: &mut Till, file: &str, pin: Option<&str>| {
        let mut args = vec!["sale", "--amount", "1.00", "--card-file", file, "--entry", "chip"];
        if let Some(pin) = pin {
            args.extend(["--pin", pin]);
        }
        code(&till.run(&args))
    };
    let burst: Vec<String> = (0..4).map(|_| sale(&mut till, &card_file, None)).collect();
    assert_eq!(burst, ["00", "00", "65", "65"], "declined from the third sale in ten minutes");

    // The rules change while the acquirer serves: the burst's threshold raised, read again within
    // a second or two of the change — the same card is let through, no restart.
    std::fs::write(acquirer_dir.join("risk.toml"), RULES.replace("threshold = 3", "threshold = 30")).unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let answered = sale(&mut till, &card_file, None);
        if answered == "00" {
            break;
        }
        assert_eq!(answered, "65", "declined by the old rules until the new ones are read");
        assert!(std::time::Instant::now() < deadline, "the changed rule file was never read");
    }

    let files: Vec<String> = others
        .iter()
        .enumerate()
        .map(|(n, card)| {
            let path = network.dir.join(format!("other-{n}.json"));
            std::fs::write(&path, card.to_string()).unwrap();
            path.display().to_string()
        })
        .collect();
    assert_eq!(sale(&mut till, &files[0], Some("000000")), "55", "a wrong PIN, as the issuer answers it");
    assert_eq!(sale(&mut till, &files[1], Some("000000")), "55");
    // The terminal is blocked: a good card with its PIN is refused.
    assert_eq!(sale(&mut till, &files[2], None), "58");

    // The alerts, for an analyst (`cardnet risk alerts`): written by the acquirer on its tick
    // into its own database, naming the rules that fired.
    let database = format!("sqlite:{}", acquirer_dir.join("acquirer.db").display());
    let deadline = std::time::Instant::now() + WAIT;
    let alerts = loop {
        let listed = common::json(&common::cardnet(&["risk", "alerts", "list", "--database", &database, "--json"]));
        let alerts = listed["alerts"].as_array().cloned().unwrap_or_default();
        if alerts.iter().any(|a| a["entity_kind"] == "terminal") || std::time::Instant::now() > deadline {
            break alerts;
        }
        std::thread::sleep(common::till::POLL);
    };
    let text = Value::Array(alerts.clone()).to_string();
    assert!(text.contains("small_sales_burst") && text.contains("wrong_pins_across_cards"), "{text}");
    assert!(alerts.iter().all(|a| a["status"] == "open"), "{text}");
    let pan = network.card["pan"].as_str().unwrap();
    assert!(!text.contains(pan), "no card number in an alert");

    // The day's AML reports from the acquirer's journal: every approved sale of 1.00 is a
    // "large value" at a threshold of 1.00; the files name cards by their masked numbers only.
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let day = clock::UtcDateTime::from_ms(now_ms).iso_date();
    let out = network.dir.join("aml");
    let args = ["risk", "aml", "--acquirer-config", &network.acquirer_config, "--day", &day];
    let aml = common::json(&common::cardnet(
        &[&args[..], &["--out", out.to_str().unwrap(), "--large-value-minor", "100", "--json"]].concat(),
    ));
    assert!(aml["transactions"].as_u64().unwrap() >= 3, "{aml}");
    assert!(aml["large_value_rows"].as_u64().unwrap() >= 3, "{aml}");
    let large = std::fs::read_to_string(aml["large_value_file"].as_str().unwrap()).unwrap();
    assert!(large.contains("******") && !large.contains(pan), "{large}");

    for exit in servers.stop() {
        assert!(exit.success(), "a graceful stop: {exit:?}");
    }
    let log = std::fs::read_to_string(logs.join("acquirer.log")).unwrap();
    assert!(
        log.contains("card testing: terminal blocked") && log.contains("wrong_pins_across_cards"),
        "the acquirer's log names the rule: {log}"
    );

    // The same reports from the card holder's side, the issuers' journals (read with the parties
    // stopped: an issuer's ledger has one opener): the approved sales stand at issuer A, each
    // card named by its issuer and card id beside its masked number.
    let out = network.dir.join("aml-issuers");
    let args = ["risk", "aml", "--issuer-config", &network.issuer_a, "--issuer-config", &network.issuer_b];
    let issued = common::json(&common::cardnet(
        &[&args[..], &["--day", &day, "--out", out.to_str().unwrap(), "--large-value-minor", "100", "--json"]].concat(),
    ));
    assert_eq!(issued["transactions"], aml["transactions"], "both sides see the same approved sales: {issued}");
    let large = std::fs::read_to_string(issued["large_value_file"].as_str().unwrap()).unwrap();
    let card_id = network.card["card_id"].as_i64().unwrap();
    assert!(large.contains(&format!("/{card_id},")) && !large.contains(pan), "{large}");
    let _ = std::fs::remove_dir_all(&network.dir);
}
