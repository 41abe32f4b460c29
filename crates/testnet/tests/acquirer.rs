//! The acquirer host over TCP against the whole network: a merchant onboarded through review
//! with the merchants registry, a terminal with an injected TMK, and a scripted cup-pos terminal
//! (testnet::pos) that signs on, buys, voids, refunds and reverses through acquirer → switch →
//! issuer. On SQLite files, and with every party on PostgreSQL when `CARDNET_TEST_PG` is set.

use std::time::Duration;

use hsm::SignOnScheme;
use testnet::acquirer_host::{self, tmk_clear};
use testnet::net::{ISSUER_A, NetworkOptions, TestNetwork, blocking};
use testnet::pos::{PosCard, PosClient, PosOriginal, PosTerminal, totals48};

async fn network(name: &str, postgres_url: Option<String>) -> TestNetwork {
    let dir = std::env::temp_dir().join(format!("cardnet-acquirer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let net = TestNetwork::start(NetworkOptions { dir, issuer_timeout_ms: 5_000, postgres_url }).await.unwrap();
    assert!(net.wait_issuer_ready(ISSUER_A, 5_000).await);
    net
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn terminal_to_issuer_and_back() {
    terminal_to_issuer_and_back_on(network("e2e", None).await).await;
}

/// The same with the acquirer, switch, issuers and ledgers on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn terminal_to_issuer_and_back_on_postgres() {
    let Ok(url) = std::env::var("CARDNET_TEST_PG") else {
        eprintln!("SKIPPED: terminal_to_issuer_and_back_on_postgres: CARDNET_TEST_PG not set");
        return;
    };
    terminal_to_issuer_and_back_on(network("e2e-pg", Some(url)).await).await;
}

async fn terminal_to_issuer_and_back_on(net: TestNetwork) {
    let host = acquirer_host::start(&net, 3_000).await.unwrap();
    let client = PosClient::connect(host.server.local_addr(), 10_000).await.unwrap();
    let mut terminal = PosTerminal::new(&host.terminal_id, &host.merchant_id, tmk_clear());
    let sim = net.issue(ISSUER_A, "debit", Some(1_000_000)).unwrap();
    let pin = String::from_utf8(sim.pin.expose().to_vec()).unwrap();
    let card = PosCard { pan: sim.pan.as_str().to_owned(), track2: Some(sim.track2.clone()), expiry_yymm: None };

    // A terminal that skips sign-on: 77.
    let mut skipping = PosTerminal::new(&host.terminal_id, &host.merchant_id, tmk_clear());
    let unsigned = {
        let mut m = skipping.sign_on_request(SignOnScheme::Single).unwrap();
        m.set_mti(iso8583::Mti::parse("0200").unwrap());
        m.set_str(3, "000000").unwrap();
        m.set_str(4, "000000000100").unwrap();
        m.set_str(60, "22000001000").unwrap();
        m.remove(63);
        m
    };
    let response = client.send(&skipping, &unsigned).await.unwrap();
    assert_eq!(response.get_str(39), Some("77"));

    // Sign-on with each key scheme: the KCVs check in load_terminal_keys.
    for scheme in [SignOnScheme::Single, SignOnScheme::DoubleWithTdk, SignOnScheme::Double] {
        let request = terminal.sign_on_request(scheme).unwrap();
        let response = client.send(&terminal, &request).await.unwrap();
        terminal.accept_sign_on(scheme, &response).unwrap();
    }

    // Purchase with PIN, end to end.
    let purchase = terminal.purchase(&card, 12_500, Some(&pin)).unwrap();
    let response = client.send(&terminal, &purchase).await.unwrap();
    assert_eq!(response.get_str(39), Some("00"), "purchase");
    assert!(terminal.verify(&response), "response MAC");
    let original = PosOriginal::of(&purchase, &response, terminal.batch_no);
    // Balance.
    let balance = terminal.balance(&card, Some(&pin)).unwrap();
    let response = client.send(&terminal, &balance).await.unwrap();
    assert_eq!(response.get_str(39), Some("00"), "balance");
    assert!(response.get_str(54).is_some());
    // Wrong PIN: the issuer's 55 comes back.
    let wrong = terminal.purchase(&card, 100, Some("000000")).unwrap();
    assert_eq!(client.send(&terminal, &wrong).await.unwrap().get_str(39), Some("55"));
    // Tampered MAC: A0.
    let mut tampered = terminal.purchase(&card, 100, Some(&pin)).unwrap();
    tampered.set_str(4, "000000000101").unwrap();
    assert_eq!(client.send(&terminal, &tampered).await.unwrap().get_str(39), Some("A0"));
    // Void, and the void of a voided purchase: 12.
    let void = terminal.void(&card, 12_500, &original).unwrap();
    assert_eq!(client.send(&terminal, &void).await.unwrap().get_str(39), Some("00"), "void");
    let again = terminal.void(&card, 12_500, &original).unwrap();
    assert_eq!(client.send(&terminal, &again).await.unwrap().get_str(39), Some("12"));
    // Refund: within the original, then beyond it (13).
    let purchase = terminal.purchase(&card, 5_000, Some(&pin)).unwrap();
    let response = client.send(&terminal, &purchase).await.unwrap();
    assert_eq!(response.get_str(39), Some("00"));
    let original = PosOriginal::of(&purchase, &response, terminal.batch_no);
    let refund = terminal.refund(&card, 3_000, &original).unwrap();
    assert_eq!(client.send(&terminal, &refund).await.unwrap().get_str(39), Some("00"), "refund");
    let over = terminal.refund(&card, 2_001, &original).unwrap();
    assert_eq!(client.send(&terminal, &over).await.unwrap().get_str(39), Some("13"));
    // Pre-auth, completion, and a pre-auth void.
    let preauth = terminal.pre_auth(&card, 8_000, Some(&pin)).unwrap();
    let response = client.send(&terminal, &preauth).await.unwrap();
    assert_eq!(response.get_str(39), Some("00"), "pre-auth");
    let original = PosOriginal::of(&preauth, &response, terminal.batch_no);
    let completion = terminal.completion(&card, 6_000, &original, false).unwrap();
    assert_eq!(client.send(&terminal, &completion).await.unwrap().get_str(39), Some("00"), "completion");
    let preauth = terminal.pre_auth(&card, 1_000, Some(&pin)).unwrap();
    let response = client.send(&terminal, &preauth).await.unwrap();
    let original = PosOriginal::of(&preauth, &response, terminal.batch_no);
    let void = terminal.pre_auth_void(&card, 1_000, &original).unwrap();
    assert_eq!(client.send(&terminal, &void).await.unwrap().get_str(39), Some("00"), "pre-auth void");

    // A terminal reversal sent twice: the same answer both times.
    let purchase = terminal.purchase(&card, 700, Some(&pin)).unwrap();
    assert_eq!(client.send(&terminal, &purchase).await.unwrap().get_str(39), Some("00"));
    let reversal = terminal.reversal(&purchase, "96").unwrap();
    let first = client.send(&terminal, &reversal).await.unwrap();
    let second = client.send(&terminal, &reversal).await.unwrap();
    assert_eq!((first.get_str(39), second.get_str(39)), (Some("00"), Some("00")));

    // Settlement: debits 12 500 + 5 000 + 6 000 (+ 700 reversed: not counted) in 3; credits
    // void 12 500 + refund 3 000 in 2.
    let settlement = terminal.settlement(&totals48(23_500, 3, 15_500, 2)).unwrap();
    let response = client.send(&terminal, &settlement).await.unwrap();
    let field48 = response.get_str(48).unwrap().to_owned();
    assert_eq!(&field48[30..31], "1", "balanced: {field48}");
    terminal.batch_no += 1;
    // Unbalanced next batch, then the upload.
    let purchase = terminal.purchase(&card, 400, Some(&pin)).unwrap();
    assert_eq!(client.send(&terminal, &purchase).await.unwrap().get_str(39), Some("00"));
    let batch = terminal.batch_no;
    let settlement = terminal.settlement(&totals48(900, 2, 0, 0)).unwrap();
    let response = client.send(&terminal, &settlement).await.unwrap();
    assert_eq!(&response.get_str(48).unwrap()[30..31], "2", "unbalanced");
    let upload = terminal.upload(batch, &[("555555", sim.pan.as_str(), 500)]).unwrap();
    assert_eq!(client.send(&terminal, &upload).await.unwrap().get_str(39), Some("00"));
    let end = terminal.upload_end(batch, "202", 1).unwrap();
    assert_eq!(client.send(&terminal, &end).await.unwrap().get_str(39), Some("00"));
    let acquirer = host.server.acquirer().clone();
    let terminal_id = host.terminal_id.clone();
    let differences = blocking(|| acquirer.batch_differences(&terminal_id, batch)).unwrap();
    assert_eq!(differences.len(), 2, "{differences:?}");
    // After the upload the terminal moves to the next batch, as the host did at the 0500.
    terminal.batch_no += 1;

    // The switch not answering in time: 98, and the network reversal delivered once.
    let issuer = net.issuer(ISSUER_A);
    let available = || blocking(|| issuer.balance(&issuer::CardRef::Id(sim.card_id))).unwrap().available_minor;
    let acquirer = host.server.acquirer().clone();
    let (pending_before, delivered_before, _) = blocking(|| acquirer.reversal_counts()).unwrap();
    assert_eq!(pending_before, 0);
    let before = available();
    net.issuers[ISSUER_A].proxy.set_response_delay_ms(4_500);
    let purchase = terminal.purchase(&card, 900, Some(&pin)).unwrap();
    let response = client.send(&terminal, &purchase).await.unwrap();
    assert_eq!(response.get_str(39), Some("98"));
    net.issuers[ISSUER_A].proxy.set_response_delay_ms(0);
    let mut settled = None;
    for _ in 0..150 {
        let counts = blocking(|| acquirer.reversal_counts()).unwrap();
        // The issuer approved late (a hold of 900); the acquirer's 0420 must release it.
        if counts.0 == 0 && counts.1 > delivered_before && available() == before {
            settled = Some(counts);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let counts = settled.expect("the network reversal is delivered and the hold released");
    assert_eq!(counts.1, delivered_before + 1, "exactly one network reversal for the timed-out purchase");
    assert_eq!(counts.2, 0, "none gave up");
    let voided = blocking(|| issuer.card_journal(sim.card_id))
        .unwrap()
        .into_iter()
        .filter(|entry| entry.state == issuer::EntryState::Voided && entry.amount_minor == 900)
        .count();
    assert_eq!(voided, 1, "the issuer voided the late hold once");
    blocking(|| issuer.check_ledger()).unwrap();
    host.server.shutdown().await;
    net.shutdown().await;
}
