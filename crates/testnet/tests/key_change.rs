//! Dynamic key exchange over real TCP: the switch changes the ZAK and ZPK of issuer A's link
//! (0800/101 under the link's ZMK) while purchases with PINs flow, and everything keeps
//! approving — during the change, after it, after a switch restart and after an issuer restart;
//! and a scheduled change (`key_change_interval_ms`) does the same on its own.
//!
//! The rotation scenario also runs on PostgreSQL when `CARDNET_TEST_PG` is set.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use issuer::issuer::Issuer;
use network::TransactionKind;
use network::codes;
use network::request::EntryMode;
use switch::{KeyChangeOutcome, WorkingKey};
use testnet::acquirer::{AcquirerLink, Exchange};
use testnet::card::SimCard;
use testnet::net::{ISSUER_A, ISSUER_B, NetworkOptions, TestNetwork, blocking};

const ISSUER_TIMEOUT_MS: u64 = 2_000;
const DEBIT: &str = issuer::dev::DEBIT_PRODUCT;
/// Cards at issuer A (each takes at most `daily_count_limit` = 20 purchases a day).
const CARDS: usize = 4;
/// Purchases per stream at least, and at most while the keys change (two streams, two cards
/// each, within the cards' daily count).
const PURCHASES_MIN: usize = 6;
const PURCHASES_MAX: usize = 30;
const AMOUNT_MINOR: u64 = 1_000;
/// More STANs than the first acquirer link uses.
const STANS_USED_MAX: usize = 100;
/// How long a test waits for the network to settle (sign-on, a scheduled change).
const WAIT_MS: u64 = 15_000;
/// The scheduled-changes test buys at most this often.
const PURCHASE_EVERY_MS: u64 = 250;

fn options(name: &str, postgres_url: Option<String>) -> NetworkOptions {
    let dir = std::env::temp_dir().join(format!("cardnet-testnet-keys-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    NetworkOptions { dir, issuer_timeout_ms: ISSUER_TIMEOUT_MS, postgres_url }
}

/// A swiped purchase with the card's PIN (translated by the switch to the issuer link's ZPK).
async fn purchase(link: &AcquirerLink, card: &mut SimCard) -> Exchange {
    let pin = String::from_utf8(card.pin.expose().to_vec()).unwrap();
    let input = card
        .present(EntryMode::Swipe, &testnet::card::purchase(AMOUNT_MINOR), Some(&pin), link.hsm(), link.zpk())
        .unwrap();
    link.transact(TransactionKind::Purchase, &input, AMOUNT_MINOR, None).await.unwrap()
}

fn available(issuer: &Issuer, card: &SimCard) -> i64 {
    blocking(|| issuer.balance(&issuer::CardRef::Id(card.card_id))).unwrap().available_minor
}

/// The check values of the switch's and the issuer's ZPK and ZAK of issuer A's link.
fn kcvs(net: &TestNetwork) -> (Vec<String>, Vec<String>) {
    let id = &net.issuers[ISSUER_A].id;
    let switch: Vec<String> = net.switch().unwrap().switch().link_keys(id).into_iter().map(|s| s.kcv).collect();
    let issuer: Vec<String> = net.issuer(ISSUER_A).link_key_status().into_iter().map(|s| s.kcv).collect();
    (switch, issuer)
}

async fn change(net: &TestNetwork, key: WorkingKey) -> KeyChangeOutcome {
    let id = net.issuers[ISSUER_A].id.clone();
    net.switch().unwrap().change_key(&id, key).await.unwrap()
}

/// Purchases on `cards` in turn until the rotation is over (at least [`PURCHASES_MIN`], at most
/// [`PURCHASES_MAX`]); their response codes.
async fn traffic(link: &AcquirerLink, rotating: &AtomicBool, cards: &mut [SimCard]) -> Vec<String> {
    let mut results = Vec::new();
    let mut round = 0;
    while round < PURCHASES_MIN || (rotating.load(Ordering::SeqCst) && round < PURCHASES_MAX) {
        let count = cards.len();
        results.push(purchase(link, &mut cards[round % count]).await.code().unwrap().to_string());
        round += 1;
    }
    results
}

async fn rotate_while_traffic_flows(net: &mut TestNetwork) {
    assert!(net.wait_issuer_ready(ISSUER_A, WAIT_MS).await, "the switch signs on to issuer A");
    let link = net.link("TERMKEY1").await.unwrap();
    let mut cards = Vec::with_capacity(CARDS);
    for _ in 0..CARDS {
        cards.push(net.issue(ISSUER_A, DEBIT, Some(100_000)).unwrap());
    }
    let (configured, _) = kcvs(net);
    assert_eq!(purchase(&link, &mut cards[0]).await.code().unwrap(), codes::APPROVED, "before any change");

    // Two streams of purchases run until the switch has changed the ZAK, the ZPK and the ZAK
    // again: requests in flight at a switch-over carry the old keys and must still approve.
    let rotating = AtomicBool::new(true);
    let (left, right) = cards.split_at_mut(CARDS / 2);
    let rotation = async {
        let mut outcomes = Vec::new();
        for key in [WorkingKey::Zak, WorkingKey::Zpk, WorkingKey::Zak] {
            tokio::time::sleep(Duration::from_millis(15)).await;
            outcomes.push(change(net, key).await);
        }
        rotating.store(false, Ordering::SeqCst);
        outcomes
    };
    let (first, second, outcomes) =
        tokio::join!(traffic(&link, &rotating, left), traffic(&link, &rotating, right), rotation);
    assert!(outcomes.iter().all(|o| matches!(o, KeyChangeOutcome::Activated { .. })), "{outcomes:?}");
    let results: Vec<_> = first.into_iter().chain(second).collect();
    assert!(results.iter().all(|code| code == codes::APPROVED), "every purchase approved: {results:?}");
    assert!(results.len() < 2 * PURCHASES_MAX, "the rotation finished while purchases flowed");
    let (switch_kcvs, issuer_kcvs) = kcvs(net);
    assert_eq!(switch_kcvs, issuer_kcvs, "both ends hold the same keys");
    assert!(switch_kcvs.iter().zip(&configured).all(|(now, before)| now != before), "both keys changed");
    let issuer_changes = blocking(|| net.issuer(ISSUER_A).key_changes()).unwrap();
    assert_eq!(issuer_changes.iter().filter(|c| c.outcome == issuer::KeyChangeOutcome::Activated).count(), 3);
    // Issuer B's link is untouched.
    let b = &net.issuers[ISSUER_B].id;
    assert!(net.switch().unwrap().switch().link_keys(b).iter().all(|s| s.activated_ms.is_none()));

    // A switch restart: the newest keys come back from its database.
    drop(link);
    net.stop_switch().await;
    net.start_switch().await.unwrap();
    assert!(net.wait_issuer_ready(ISSUER_A, WAIT_MS).await, "signed on again");
    assert_eq!(kcvs(net).0, switch_kcvs, "the switch kept the newest keys");
    let link = net.link("TERMKEY2").await.unwrap();
    // A new link numbers its STANs from 1 again: within the same second the switch would take
    // them for repeats of the first link's requests (94). Move past them.
    for _ in 0..STANS_USED_MAX {
        link.next_stan();
    }
    for card in &mut cards {
        assert_eq!(purchase(&link, card).await.code().unwrap(), codes::APPROVED, "after the switch restart");
    }
    // A change after the restart, then an issuer restart: still one key per end.
    assert!(matches!(change(net, WorkingKey::Zpk).await, KeyChangeOutcome::Activated { .. }));
    assert_eq!(purchase(&link, &mut cards[0]).await.code().unwrap(), codes::APPROVED);
    net.stop_issuer(ISSUER_A).await;
    net.start_issuer(ISSUER_A).await.unwrap();
    let (switch_kcvs, issuer_kcvs) = kcvs(net);
    assert_eq!(switch_kcvs, issuer_kcvs, "the issuer kept the newest keys");
    assert!(net.wait_issuer_ready(ISSUER_A, WAIT_MS).await);
    let mut approved_after = false;
    for _ in 0..5 {
        // The first request after the issuer restart may race the switch's reconnect.
        let code = purchase(&link, &mut cards[1]).await.code().unwrap();
        if code == codes::APPROVED {
            approved_after = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(approved_after, "approved after the issuer restart");
    for card in &cards {
        let spent = 100_000 - available(net.issuer(ISSUER_A), card);
        assert_eq!(spent % AMOUNT_MINOR as i64, 0);
    }
    blocking(|| net.issuer(ISSUER_A).check_ledger()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotating_issuer_a_keys_while_purchases_flow_and_across_restarts() {
    let mut net = TestNetwork::start(options("rotate", None)).await.unwrap();
    rotate_while_traffic_flows(&mut net).await;
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotating_keys_on_postgres() {
    let Ok(url) = std::env::var("CARDNET_TEST_PG") else {
        eprintln!("SKIPPED: CARDNET_TEST_PG not set; key changes were not run on PostgreSQL");
        return;
    };
    let mut net = TestNetwork::start(options("rotate-pg", Some(url))).await.unwrap();
    rotate_while_traffic_flows(&mut net).await;
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scheduled_key_changes_keep_the_link_working() {
    let mut net = TestNetwork::start(options("schedule", None)).await.unwrap();
    let id = net.issuers[ISSUER_A].id.clone();
    let member = net.switch_config.members.iter_mut().find(|m| m.id == id).unwrap();
    member.key_change_interval_ms = switch::limits::KEY_CHANGE_INTERVAL_MS_MIN;
    net.stop_switch().await;
    net.start_switch().await.unwrap();
    assert!(net.wait_issuer_ready(ISSUER_A, WAIT_MS).await);
    let link = net.link("TERMKEY3").await.unwrap();
    let mut card = net.issue(ISSUER_A, DEBIT, Some(100_000)).unwrap();

    // Within a few intervals both keys have been changed at least twice, and purchases made
    // meanwhile approve.
    // The purchases are paced by the clock and stop one short of the card's daily count limit:
    // the changes come on a schedule in time, and a loop that bought as fast as it could hit the
    // limit (65) before the second change whenever purchases got faster.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(WAIT_MS);
    let purchases_max = i64::from(issuer::dev::DAILY_COUNT_LIMIT) - 1;
    let mut approved = 0;
    let mut next_purchase = tokio::time::Instant::now();
    loop {
        if approved < purchases_max && tokio::time::Instant::now() >= next_purchase {
            assert_eq!(purchase(&link, &mut card).await.code().unwrap(), codes::APPROVED);
            approved += 1;
            next_purchase = tokio::time::Instant::now() + Duration::from_millis(PURCHASE_EVERY_MS);
        }
        let changes = blocking(|| net.switch().unwrap().switch().key_changes(&id)).unwrap();
        let activated = |key| changes.iter().filter(|c| c.key == Some(key) && c.outcome == "activated").count();
        if activated(WorkingKey::Zpk) >= 2 && activated(WorkingKey::Zak) >= 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "scheduled changes: {changes:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(approved >= 2, "purchases approved while the keys changed: {approved}");
    // The schedule goes on changing keys: a change may be between the issuer's commit and the
    // switch's activation right now, so both ends agree once it lands, not at every instant.
    let agreed_by = tokio::time::Instant::now() + Duration::from_millis(WAIT_MS);
    loop {
        let (switch_kcvs, issuer_kcvs) = kcvs(&net);
        if switch_kcvs == issuer_kcvs {
            break;
        }
        assert!(tokio::time::Instant::now() < agreed_by, "keys differ: {switch_kcvs:?} / {issuer_kcvs:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(available(net.issuer(ISSUER_A), &card), 100_000 - approved * AMOUNT_MINOR as i64);
    net.shutdown().await;
}

/// The operator's re-key of every link at once (`cardnet serve switch` on SIGUSR1): both keys
/// of both issuers change, both ends agree, and purchases at both issuers still approve.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_issuer_link_is_rekeyed_on_demand() {
    let net = TestNetwork::start(options("all", None)).await.unwrap();
    for index in [ISSUER_A, ISSUER_B] {
        assert!(net.wait_issuer_ready(index, WAIT_MS).await, "the switch signs on to issuer {index}");
    }
    let switch_kcvs = |index: usize| -> Vec<String> {
        let id = &net.issuers[index].id;
        net.switch().unwrap().switch().link_keys(id).into_iter().map(|s| s.kcv).collect()
    };
    let before = (switch_kcvs(ISSUER_A), switch_kcvs(ISSUER_B));
    let outcomes = net.switch().unwrap().change_all_keys().await;
    let summary: Vec<(String, WorkingKey)> = outcomes.iter().map(|(id, key, _)| (id.clone(), *key)).collect();
    let (a, b) = (net.issuers[ISSUER_A].id.clone(), net.issuers[ISSUER_B].id.clone());
    let mut expected =
        vec![(a.clone(), WorkingKey::Zpk), (a, WorkingKey::Zak), (b.clone(), WorkingKey::Zpk), (b, WorkingKey::Zak)];
    expected.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(summary, expected, "ZPK then ZAK, issuer by issuer");
    assert!(outcomes.iter().all(|(_, _, o)| matches!(o, Ok(KeyChangeOutcome::Activated { .. }))), "{outcomes:?}");
    for (index, old) in [(ISSUER_A, &before.0), (ISSUER_B, &before.1)] {
        let now = switch_kcvs(index);
        assert!(now.iter().zip(old).all(|(n, o)| n != o), "issuer {index}: both keys changed");
        let issuer: Vec<String> = net.issuer(index).link_key_status().into_iter().map(|s| s.kcv).collect();
        assert_eq!(now, issuer, "issuer {index}: both ends hold the same keys");
    }
    let link = net.link("TERMALL1").await.unwrap();
    for index in [ISSUER_A, ISSUER_B] {
        let mut card = net.issue(index, DEBIT, Some(100_000)).unwrap();
        assert_eq!(
            purchase(&link, &mut card).await.code().unwrap(),
            codes::APPROVED,
            "issuer {index} after the re-key"
        );
    }
    net.shutdown().await;
}
