//! A restarted issuer takes whatever port the kernel gives it: its old port may belong to
//! someone else by then (on a busy machine, another test's connection). The switch keeps
//! reaching it through the same fault proxy, which is pointed at the new address.

use testnet::net::{ISSUER_A, NetworkOptions, TestNetwork};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_issuer_does_not_need_its_old_port() {
    let dir = std::env::temp_dir().join(format!("cardnet-testnet-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut net = TestNetwork::start(NetworkOptions { dir: dir.clone(), issuer_timeout_ms: 1_000, postgres_url: None })
        .await
        .unwrap();
    assert!(net.wait_issuer_ready(ISSUER_A, 5_000).await, "the switch signs on to issuer A");
    let old = net.issuers[ISSUER_A].address;
    net.stop_issuer(ISSUER_A).await;
    // Someone else takes the port meanwhile (and keeps it).
    let squatter = std::net::TcpListener::bind(old).unwrap();
    net.start_issuer(ISSUER_A).await.expect("the issuer starts on another port");
    assert_ne!(net.issuers[ISSUER_A].address, old);
    // The switch reaches the restarted issuer through the proxy: a card issued there is approved.
    let link = net.link("TERM0R01").await.unwrap();
    let mut card = net.issue(ISSUER_A, issuer::dev::DEBIT_PRODUCT, Some(10_000)).unwrap();
    let pin = String::from_utf8(card.pin.expose().to_vec()).unwrap();
    let mut code = String::new();
    for _ in 0..50 {
        let input = card
            .present(
                network::request::EntryMode::Swipe,
                &testnet::card::purchase(1_000),
                Some(&pin),
                link.hsm(),
                link.zpk(),
            )
            .unwrap();
        code = link
            .transact(network::TransactionKind::Purchase, &input, 1_000, None)
            .await
            .unwrap()
            .code()
            .unwrap()
            .to_string();
        if code == "00" {
            break;
        }
        // Until the switch's link has signed on again the switch stands in or answers 91.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(code, "00");
    drop(squatter);
    net.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
