//! Operations end to end with real processes (issue 17): every party started with
//! `--admin-listen 127.0.0.1:0 --log-format json`, a sale through the scripted terminal, then
//! each party's `/metrics` scraped over plain HTTP and parsed — the sale's answers counted by MTI
//! and response code, latency histograms filled, the server counters and the store-and-forward
//! backlog present — and `/healthz` and `/readyz` answering 200.

#![cfg(unix)]

mod common;

use std::net::SocketAddr;
use std::time::Instant;

use common::ProcessNetwork;
use common::till::{POLL, Till, WAIT};
use metrics::parse::{Page, parse};
use metrics::probe::get;

/// The address in the line `cardnet serve` prints: "cardnet PARTY: admin on http://ADDR".
fn admin_address(log: &std::path::Path) -> SocketAddr {
    let text = std::fs::read_to_string(log).unwrap();
    let line = text.lines().find_map(|line| line.split_once("admin on http://")).map(|(_, address)| address);
    line.unwrap_or_else(|| panic!("no admin line in {}: {text}", log.display())).trim().parse().unwrap()
}

fn scrape(address: SocketAddr) -> Page {
    let (status, body) = get(address, "/metrics").unwrap();
    assert_eq!(status, 200, "{body}");
    parse(&body).unwrap_or_else(|error| panic!("{error}: {body}"))
}

fn at_least_one(page: &Page, name: &str, labels: &[(&str, &str)]) {
    let value = page.value(name, labels).unwrap_or(0.0);
    assert!(value >= 1.0, "{name}{labels:?} = {value}");
}

#[test]
fn metrics_move_with_a_sale_and_every_party_is_healthy_and_ready() {
    let network = ProcessNetwork::set_up("ops-metrics");
    let logs = network.dir.join("logs");
    let mut servers = network.start_with(&logs, &["--admin-listen", "127.0.0.1:0", "--log-format", "json"]);
    assert!(network.wait_listening(WAIT), "every party listens");
    let (terminal_config, card_file) = network.terminal_files("POS00001");
    let mut till = Till::new(terminal_config);
    till.wait_ready(&card_file);
    let sale = till.run(&["sale", "--amount", "12.34", "--card-file", &card_file, "--entry", "chip"]);
    assert_eq!(sale["response_code"], "00", "{sale}");

    let parties = [("issuer", "issuer-a"), ("switch", "switch"), ("acquirer", "acquirer")];
    for (party, log) in parties {
        let address = admin_address(&logs.join(format!("{log}.log")));
        assert_eq!(get(address, "/healthz").unwrap(), (200, "ok\n".to_owned()), "{party}");
        // The switch is ready once both issuer links have signed on: they come up on their own.
        let deadline = Instant::now() + WAIT;
        let ready = loop {
            let ready = get(address, "/readyz").unwrap();
            if ready.0 == 200 || Instant::now() > deadline {
                break ready;
            }
            std::thread::sleep(POLL);
        };
        assert_eq!(ready, (200, "ready\n".to_owned()), "{party}");

        let page = scrape(address);
        let me = [("party", party)];
        at_least_one(&page, "cardnet_responses_total", &[("party", party), ("mti", "0210"), ("code", "00")]);
        at_least_one(&page, "cardnet_request_duration_ms_count", &me);
        at_least_one(&page, "cardnet_request_duration_ms_bucket", &[("party", party), ("le", "+Inf")]);
        at_least_one(&page, "cardnet_batches_total", &me);
        at_least_one(&page, "cardnet_batch_duration_ms_count", &me);
        at_least_one(&page, "cardnet_server_connections_accepted_total", &me);
        assert_eq!(page.kind("cardnet_request_duration_ms"), Some("histogram"));
        assert_eq!(page.kind("cardnet_server_connections_open"), Some("gauge"));
        assert_eq!(page.value("cardnet_requests_in_flight", &me), Some(0.0), "{party}: nothing left in flight");
        if party != "issuer" {
            // One hop further: the acquirer's calls to the switch, the switch's to the issuer.
            at_least_one(&page, "cardnet_link_duration_ms_count", &me);
            at_least_one(&page, "cardnet_link_requests_total", &[("party", party), ("code", "00")]);
            // Read from the database at start, then every few seconds: present, nothing waiting.
            assert_eq!(page.value("cardnet_saf_backlog", &[("party", party), ("state", "pending")]), Some(0.0));
        }
    }

    // A second sale moves the acquirer's counters on.
    let acquirer = admin_address(&logs.join("acquirer.log"));
    let answered = |page: &Page| {
        page.value("cardnet_responses_total", &[("party", "acquirer"), ("mti", "0210"), ("code", "00")]).unwrap()
    };
    let before = answered(&scrape(acquirer));
    let sale = till.run(&["sale", "--amount", "1.00", "--card-file", &card_file, "--entry", "chip"]);
    assert_eq!(sale["response_code"], "00", "{sale}");
    assert_eq!(answered(&scrape(acquirer)), before + 1.0);

    // --log-format json: the acquirer's exchange lines are JSON objects with their fields.
    let log = std::fs::read_to_string(logs.join("acquirer.log")).unwrap();
    let exchanges: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["message"] == "message" && line["mti"] == "0200")
        .collect();
    assert!(!exchanges.is_empty(), "{log}");
    assert!(exchanges.iter().all(|line| line["level"] == "INFO" && line["rc"].is_string()), "{exchanges:?}");
    assert!(servers.stop().iter().all(|status| status.success()));
}

/// `[admin] listen` in a party's configuration starts the endpoint without the option; an
/// issuer (no outbound link) is ready as soon as it listens.
#[test]
fn the_admin_section_of_a_configuration_starts_the_endpoint() {
    let dir = common::fresh_dir("ops", "admin-section");
    common::json(&common::cardnet(&["issuer", "init", "--dir", dir.to_str().unwrap(), "--json"]));
    let config = dir.join("issuer.toml");
    common::parties::listen_on_port_zero(&config, "127.0.0.1:9200");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[admin]\nlisten = \"127.0.0.1:0\"\n");
    std::fs::write(&config, text).unwrap();
    let log = dir.join("issuer.log");
    let (mut issuer, bound) = common::parties::serve("issuer", config.to_str().unwrap(), &log);
    assert!(bound.is_some(), "{}", std::fs::read_to_string(&log).unwrap_or_default());
    let address = admin_address(&log);
    assert_eq!(get(address, "/readyz").unwrap(), (200, "ready\n".to_owned()));
    let page = scrape(address);
    assert_eq!(page.value("cardnet_server_connections_open", &[("party", "issuer")]), Some(0.0));
    let _ = std::process::Command::new("kill").args(["-TERM", &issuer.id().to_string()]).status();
    assert!(issuer.wait().unwrap().success());
}
