//! The acquirer host over TCP against the whole network: a merchant onboarded through review
//! with the merchants registry, a terminal with an injected TMK, and a scripted cup-pos terminal
//! (testnet::pos) that signs on, buys, voids, refunds and reverses through acquirer → switch →
//! issuer.

use std::sync::Arc;
use std::time::Duration;

use acquirer::dev::SwitchKeys;
use acquirer::{Acquirer, AcquirerServer, ServerOptions, TerminalDirectory};
use hsm::{Secret, SecurityModule, SignOnScheme};
use merchants::{
    Application, Decision, DiscountRate, FeePlan, MerchantSettings, MerchantTerms, NewTerminal, Registry,
    SettlementAccount, SettlementCycle, TmkImport, TmkSource,
};
use testnet::net::{ACQUIRER_ID, ISSUER_A, NetworkOptions, TestNetwork, blocking};
use testnet::pos::{PosCard, PosClient, PosOriginal, PosTerminal, totals48};

const TMK_A: [u8; 16] = [0x11; 16];
const TMK_B: [u8; 16] = [0x22; 16];

fn tmk_clear() -> Secret {
    let bytes: Vec<u8> = TMK_A.iter().zip(TMK_B.iter()).map(|(a, b)| a ^ b).collect();
    Secret::from_vec(bytes)
}

fn licence(n: u32) -> String {
    let first17 = format!("91440101{n:09}");
    format!("{first17}{}", merchants::licence::check_character(&first17).unwrap())
}

struct Host {
    server: AcquirerServer,
    terminal_id: String,
    merchant_id: String,
}

/// Onboard a merchant and a terminal through the registry and start the acquirer host.
async fn host(net: &TestNetwork, switch_timeout_ms: u64) -> Host {
    let dir = net.options.dir.clone();
    let db_url = format!("sqlite:{}", dir.join("acquirer.db").display());
    let db = blocking(|| sqlstore::Database::open(&db_url)).unwrap();
    let hsm = Arc::clone(&net.hsm) as Arc<dyn SecurityModule>;
    let settings = MerchantSettings {
        merchant_id_prefix: "8984401".into(),
        allowed_mccs: vec!["5411".into(), "5812".into()],
        ..MerchantSettings::default()
    };
    let registry =
        blocking(|| Registry::open_with_settings(db.clone(), Arc::clone(&hsm), Arc::clone(&net.clock), settings))
            .unwrap();
    let application = Application {
        business_name: "Cardnet Coffee".into(),
        licence_no: licence(7),
        legal_representative: "Li Si".into(),
        mcc: "5812".into(),
        city: "Shanghai".into(),
        country: "CN".into(),
        settlement: SettlementAccount { bank_code: "102290000001".into(), account_no: "6222021000000007".into() },
        expected_monthly_volume_minor: 50_000_000,
    };
    let merchant_id = blocking(|| {
        let applied = registry.apply(&application).unwrap();
        registry.review(applied.application_id, Decision::Approve, "documents in order", "Wang Wu").unwrap();
        let terms = MerchantTerms {
            fee_plan: FeePlan {
                debit: DiscountRate { rate_bp: 50, cap_minor: Some(2_000) },
                credit: DiscountRate { rate_bp: 60, cap_minor: None },
            },
            cycle: SettlementCycle::T1,
            single_max_minor: Some(1_000_000),
            daily_max_minor: Some(10_000_000),
        };
        registry.activate(applied.application_id, &terms).unwrap().merchant_id
    });
    let terminal_id = "POS00001".to_owned();
    blocking(|| {
        let source = TmkSource::Import(TmkImport::Components(vec![Secret::new(&TMK_A), Secret::new(&TMK_B)]));
        let new = NewTerminal { terminal_id: terminal_id.clone(), model: Some("PAX A920".into()), serial: None };
        registry.add_terminal(&merchant_id, &new, &source).unwrap();
    });
    let keys = SwitchKeys {
        zmk: net.acquirer_keys.zmk.clone(),
        zpk: net.acquirer_keys.zpk.clone(),
        zak: net.acquirer_keys.zak.clone(),
    };
    let mut config = acquirer::dev::config_with_switch_keys(
        hsm.as_ref(),
        &keys,
        ACQUIRER_ID,
        "127.0.0.1:0",
        &net.switch_address().unwrap().to_string(),
        &db_url,
        &dir.join("lmk.hex"),
    )
    .unwrap();
    config.switch.timeout_ms = switch_timeout_ms;
    let directory: Arc<dyn TerminalDirectory> = Arc::new(registry);
    let acquirer = blocking(|| Acquirer::with_database(&config, hsm, db, directory)).unwrap();
    let options = ServerOptions {
        session_backoff_ms_min: 50,
        session_backoff_ms_max: 500,
        connect_timeout_ms: 1_000,
        reversal_poll_interval_ms: 50,
        ..ServerOptions::default()
    };
    let server = AcquirerServer::start(acquirer, Arc::clone(&net.clock), options).await.unwrap();
    let mut state = server.switch_state();
    let ready = tokio::time::timeout(Duration::from_secs(5), async {
        while *state.borrow_and_update() != transport::SessionState::Ready {
            if state.changed().await.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ready.is_ok(), "the acquirer signs on to the switch");
    Host { server, terminal_id, merchant_id }
}

async fn network(name: &str) -> TestNetwork {
    let dir = std::env::temp_dir().join(format!("cardnet-acquirer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let net = TestNetwork::start(NetworkOptions { dir, issuer_timeout_ms: 5_000, postgres_url: None }).await.unwrap();
    assert!(net.wait_issuer_ready(ISSUER_A, 5_000).await);
    net
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn terminal_to_issuer_and_back() {
    let net = network("e2e").await;
    let host = host(&net, 3_000).await;
    let client = PosClient::connect(host.server.local_addr(), 10_000).await.unwrap();
    let mut terminal = PosTerminal::new(&host.terminal_id, &host.merchant_id, tmk_clear());
    let sim = net.issue(ISSUER_A, "debit", Some(1_000_000)).unwrap();
    let pin = String::from_utf8(sim.pin.expose().to_vec()).unwrap();
    let card = PosCard { pan: sim.pan.clone(), track2: Some(sim.track2.clone()), expiry_yymm: None };

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
    let upload = terminal.upload(batch, &[("555555", &sim.pan, 500)]).unwrap();
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
