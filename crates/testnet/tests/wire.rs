//! What the acquirer's answers carry on the wire, end to end (issue 12 points 5 and 6): a
//! scripted cup-pos terminal (testnet::pos) through acquirer → switch → issuer on loopback.
//! The sign-on answer has the reference's 37; a purchase answer has field 44 (issuer id and
//! acquirer id, as docs/acquirer.md promises); a balance answer's field 54 has the available
//! balance first (what the terminal shows), then the ledger balance.

use hsm::SignOnScheme;
use testnet::acquirer_host::{self, tmk_clear};
use testnet::net::{ISSUER_A, ISSUER_IDS, NetworkOptions, TestNetwork, blocking};
use testnet::pos::{PosCard, PosClient, PosTerminal};

async fn network(name: &str) -> TestNetwork {
    let dir = std::env::temp_dir().join(format!("cardnet-wire-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = NetworkOptions { dir, issuer_timeout_ms: 5_000, postgres_url: None };
    let net = TestNetwork::start(options).await.unwrap();
    assert!(net.wait_issuer_ready(ISSUER_A, 5_000).await);
    net
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn answers_carry_what_the_documents_promise() {
    let net = network("answers").await;
    let host = acquirer_host::start(&net, 3_000).await.unwrap();
    let acquirer_id = host.server.acquirer().settings().institution_id.clone();
    let client = PosClient::connect(host.server.local_addr(), 10_000).await.unwrap();
    let mut terminal = PosTerminal::new(&host.terminal_id, &host.merchant_id, tmk_clear());
    let sim = net.issue(ISSUER_A, "debit", Some(1_000_000)).unwrap();
    let pin = String::from_utf8(sim.pin.expose().to_vec()).unwrap();
    let card = PosCard { pan: sim.pan.as_str().to_owned(), track2: Some(sim.track2.clone()), expiry_yymm: None };

    // Sign-on: the reference (§3) lists 37 in the answer.
    let request = terminal.sign_on_request(SignOnScheme::Double).unwrap();
    let response = client.send(&terminal, &request).await.unwrap();
    terminal.accept_sign_on(SignOnScheme::Double, &response).unwrap();
    for field in [11, 12, 13, 32, 37, 39, 41, 42, 60, 62] {
        assert!(response.has(field), "the reference's sign-on answer has {field}");
    }
    let rrn = response.get_str(37).expect("37 in the sign-on answer");
    assert!(rrn.len() == 12 && rrn.bytes().all(|b| b.is_ascii_alphanumeric()), "{rrn}");

    // Purchase: 44 = the issuer's id (11) and the acquirer's.
    let purchase = terminal.purchase(&card, 12_500, Some(&pin)).unwrap();
    let response = client.send(&terminal, &purchase).await.unwrap();
    assert_eq!(response.get_str(39), Some("00"), "purchase");
    assert!(terminal.verify(&response), "response MAC");
    for field in [12, 13, 15, 32, 37, 38, 39, 44] {
        assert!(response.has(field), "the reference's purchase answer has {field}");
    }
    assert_eq!(response.get_str(44), Some(format!("{}{acquirer_id}", ISSUER_IDS[ISSUER_A]).as_str()), "field 44");

    // Balance: the purchase is a pending hold, so available (987.50) and ledger (1 000.00)
    // differ; the available one comes first, amount type 02, then the ledger one, 01.
    let issuer = net.issuer(ISSUER_A);
    let balance = blocking(|| issuer.balance(&issuer::CardRef::Id(sim.card_id))).unwrap();
    assert_eq!((balance.available_minor, balance.ledger_minor), (987_500, 1_000_000));
    let request = terminal.balance(&card, Some(&pin)).unwrap();
    let response = client.send(&terminal, &request).await.unwrap();
    assert_eq!(response.get_str(39), Some("00"), "balance");
    let sets = network::balance::AdditionalAmount::parse_all(response.get_str(54).unwrap()).unwrap();
    let found: Vec<(&str, &str, i64)> =
        sets.iter().map(|s| (s.amount_type.as_str(), s.currency.as_str(), s.amount_minor)).collect();
    assert_eq!(found, [("02", "156", 987_500), ("01", "156", 1_000_000)]);
}
