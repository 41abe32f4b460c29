//! Issue 5's acceptance over real TCP on loopback: the switch and two issuers run their
//! production drivers (`switch::server`, `issuer::server`) with databases on disk; the test
//! plays the acquirer with a network client (`testnet::acquirer::AcquirerLink`) and simulated
//! cards. Issuer faults (slow, unreachable) come from a TCP proxy in front of each issuer.
//!
//! Every scenario also runs against PostgreSQL when `CARDNET_TEST_PG` is set (one test does
//! a full pass there: `postgres_network`).

use std::time::Duration;

use issuer::{CardStatus, issuer::Issuer};
use network::TransactionKind;
use network::codes;
use network::request::{CardInput, EntryMode};
use testnet::acquirer::{AcquirerLink, Exchange};
use testnet::card::SimCard;
use testnet::net::{ISSUER_A, ISSUER_B, NetworkOptions, TestNetwork, blocking};

const ISSUER_TIMEOUT_MS: u64 = 1_000;
const DEBIT: &str = issuer::dev::DEBIT_PRODUCT;

fn options(name: &str, postgres_url: Option<String>) -> NetworkOptions {
    let dir = std::env::temp_dir().join(format!("cardnet-testnet-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    NetworkOptions { dir, issuer_timeout_ms: ISSUER_TIMEOUT_MS, postgres_url }
}

async fn network(name: &str) -> TestNetwork {
    let net = TestNetwork::start(options(name, None)).await.unwrap();
    assert!(net.wait_issuer_ready(ISSUER_A, 5_000).await, "the switch signs on to issuer A");
    assert!(net.wait_issuer_ready(ISSUER_B, 5_000).await, "the switch signs on to issuer B");
    net
}

fn pin_of(card: &SimCard) -> String {
    String::from_utf8(card.pin.expose().to_vec()).unwrap()
}

/// The card part of a request: read with `entry`, the cardholder typing `pin`.
fn present(link: &AcquirerLink, card: &mut SimCard, entry: EntryMode, pin: Option<&str>, amount: u64) -> CardInput {
    card.present(entry, &testnet::card::purchase(amount), pin, link.hsm(), link.zpk()).unwrap()
}

async fn purchase(link: &AcquirerLink, card: &mut SimCard, entry: EntryMode, amount: u64) -> Exchange {
    let pin = pin_of(card);
    let input = present(link, card, entry, Some(&pin), amount);
    link.transact(TransactionKind::Purchase, &input, amount, None).await.unwrap()
}

fn available(issuer: &Issuer, card: &SimCard) -> i64 {
    blocking(|| issuer.balance(&issuer::CardRef::Id(card.card_id))).unwrap().available_minor
}

/// Poll `check` every 50 ms for up to `timeout_ms`.
async fn eventually(timeout_ms: u64, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms);
    loop {
        if check() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_route_by_the_longest_bin_and_hold_funds() {
    let net = network("approve").await;
    let link = net.link("TERM0001").await.unwrap();
    let mut a = net.issue(ISSUER_A, DEBIT, Some(100_000)).unwrap();
    let mut b = net.issue(ISSUER_B, DEBIT, Some(100_000)).unwrap();
    assert!(b.pan.as_str().starts_with("6224249") && a.pan.bin() == "622424");

    for (card, index) in [(&mut a, ISSUER_A), (&mut b, ISSUER_B)] {
        let exchange = purchase(&link, card, EntryMode::Swipe, 12_500).await;
        assert_eq!(exchange.code().unwrap(), codes::APPROVED, "{:?}", exchange.response);
        assert_eq!(exchange.response.get_str(38).map(str::len), Some(6), "an approval code");
        // The acquirer's own STAN and time come back, and the RRN is unchanged end to end.
        for field in [11, 7, 37, 32] {
            assert_eq!(exchange.response.get(field), exchange.request.get(field), "field {field}");
        }
        assert!(exchange.response.has(15), "settlement date");
        assert_eq!(available(net.issuer(index), card), 100_000 - 12_500, "held at issuer {index}");
        assert_eq!(
            blocking(|| net.issuer(index).card_journal(card.card_id)).unwrap().len(),
            1,
            "one entry at issuer {index}"
        );
    }
    // Balance inquiry: field 54 with the available balance.
    let pin = pin_of(&a);
    let input = present(&link, &mut a, EntryMode::Swipe, Some(&pin), 0);
    let exchange = link.transact(TransactionKind::BalanceInquiry, &input, 0, None).await.unwrap();
    assert_eq!(exchange.code().unwrap(), codes::APPROVED);
    let amounts = network::balance::AdditionalAmount::parse_all(exchange.response.get_str(54).unwrap()).unwrap();
    assert!(
        amounts.iter().any(|set| set.amount_type == network::balance::AVAILABLE_BALANCE && set.amount_minor == 87_500)
    );
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decline_code_of_the_issuer() {
    let net = network("declines").await;
    let link = net.link("TERM0002").await.unwrap();
    let issuer = net.issuer(ISSUER_A);

    // 14: a number the issuer never issued.
    let unknown = CardInput {
        entry: Some(EntryMode::Keyed),
        expiry_yymm: Some("3012".into()),
        ..CardInput::new(network::request::Pan::new(&format!("{}0000000000", "622424")).unwrap())
    };
    let e = link.transact(TransactionKind::Purchase, &unknown, 100, None).await.unwrap();
    assert_eq!(e.code().unwrap(), codes::INVALID_CARD);

    // 41, 43, 62: lost, stolen, blocked.
    for (status, code) in [
        (CardStatus::Lost, codes::LOST_CARD),
        (CardStatus::Stolen, codes::STOLEN_CARD),
        (CardStatus::Blocked, codes::RESTRICTED_CARD),
    ] {
        let mut card = net.issue(ISSUER_A, DEBIT, Some(10_000)).unwrap();
        blocking(|| issuer.set_status(&issuer::CardRef::Id(card.card_id), status)).unwrap();
        assert_eq!(purchase(&link, &mut card, EntryMode::Swipe, 100).await.code().unwrap(), code, "{status:?}");
    }

    // 54: an expiry date in the past (keyed).
    let mut card = net.issue(ISSUER_A, DEBIT, Some(10_000)).unwrap();
    let pin = pin_of(&card);
    let mut input = present(&link, &mut card, EntryMode::Keyed, Some(&pin), 100);
    input.expiry_yymm = Some("2001".into());
    let e = link.transact(TransactionKind::Purchase, &input, 100, None).await.unwrap();
    assert_eq!(e.code().unwrap(), codes::EXPIRED_CARD, "{:?}", e.response);

    // 55, 55, then 75 on the third wrong PIN, and 75 even with the right one afterwards.
    let right = pin_of(&card);
    let wrong = if right == "0000" { "1111".to_owned() } else { "0000".to_owned() };
    let mut codes_seen = Vec::new();
    for pin in [&wrong, &wrong, &wrong, &right] {
        let input = present(&link, &mut card, EntryMode::Swipe, Some(pin), 100);
        codes_seen.push(
            link.transact(TransactionKind::Purchase, &input, 100, None).await.unwrap().code().unwrap().to_string(),
        );
    }
    assert_eq!(codes_seen, ["55", "55", "75", "75"]);
    blocking(|| issuer.unblock(&issuer::CardRef::Id(card.card_id))).unwrap();
    assert_eq!(purchase(&link, &mut card, EntryMode::Swipe, 100).await.code().unwrap(), codes::APPROVED, "unblocked");

    // 59: a forged CVV on the stripe.
    let mut forged = net.issue(ISSUER_A, DEBIT, Some(10_000)).unwrap();
    let pin = pin_of(&forged);
    let mut input = present(&link, &mut forged, EntryMode::Swipe, Some(&pin), 100);
    let track = input.track2.take().unwrap();
    let (head, _) = track.split_once('=').unwrap();
    let tail = &track[head.len() + 1..];
    // PAN=YYMM SSS PVKI PVV(4) CVV(3): flip the CVV's first digit.
    let cvv_at = 4 + 3 + 1 + 4;
    let mut tail: Vec<u8> = tail.as_bytes().to_vec();
    tail[cvv_at] = if tail[cvv_at] == b'9' { b'0' } else { tail[cvv_at] + 1 };
    input.track2 = Some(format!("{head}={}", String::from_utf8(tail).unwrap()));
    let e = link.transact(TransactionKind::Purchase, &input, 100, None).await.unwrap();
    assert_eq!(e.code().unwrap(), codes::CARD_VERIFICATION_ERROR);

    // 51: more than the balance.
    let mut poor = net.issue(ISSUER_A, DEBIT, Some(1_000)).unwrap();
    assert_eq!(purchase(&link, &mut poor, EntryMode::Swipe, 1_001).await.code().unwrap(), codes::INSUFFICIENT_FUNDS);
    assert_eq!(available(issuer, &poor), 1_000, "a decline holds nothing");

    // 61: over the daily amount limit (with the money to pay for it).
    let limit = issuer::dev::DAILY_AMOUNT_LIMIT_MINOR;
    let mut rich = net.issue(ISSUER_A, DEBIT, Some(limit * 3)).unwrap();
    assert_eq!(purchase(&link, &mut rich, EntryMode::Swipe, limit).await.code().unwrap(), codes::APPROVED);
    assert_eq!(purchase(&link, &mut rich, EntryMode::Swipe, 1).await.code().unwrap(), codes::AMOUNT_LIMIT);

    // 65: one purchase more than the daily count.
    let mut busy = net.issue(ISSUER_A, DEBIT, Some(100_000)).unwrap();
    for n in 0..issuer::dev::DAILY_COUNT_LIMIT {
        assert_eq!(
            purchase(&link, &mut busy, EntryMode::Swipe, 1).await.code().unwrap(),
            codes::APPROVED,
            "purchase {n}"
        );
    }
    assert_eq!(purchase(&link, &mut busy, EntryMode::Swipe, 1).await.code().unwrap(), codes::COUNT_LIMIT);

    // 30: a currency that is not the card account's (the issuer's format check).
    let mut card = net.issue(ISSUER_A, DEBIT, Some(10_000)).unwrap();
    let pin = pin_of(&card);
    let input = present(&link, &mut card, EntryMode::Swipe, Some(&pin), 100);
    let mut request = link.build(TransactionKind::Purchase, &input, 100, None).unwrap();
    request.set_str(49, "840").unwrap();
    link.sign(&mut request).unwrap();
    assert_eq!(link.send(request).await.unwrap().code().unwrap(), codes::FORMAT_ERROR);

    blocking(|| issuer.check_ledger()).unwrap();
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chip_cryptograms_good_and_bad() {
    let net = network("chip").await;
    let link = net.link("TERM0003").await.unwrap();
    let mut card = net.issue(ISSUER_A, DEBIT, Some(50_000)).unwrap();
    for entry in [EntryMode::Chip, EntryMode::Contactless] {
        let exchange = purchase(&link, &mut card, entry, 2_000).await;
        assert_eq!(exchange.code().unwrap(), codes::APPROVED, "{entry:?} {:?}", exchange.response);
        let issuer_data = exchange.response.get_path("55.91").unwrap().expect("tag 91 in the response").to_vec();
        assert!(card.verify_arpc(&issuer_data).unwrap(), "the card accepts the issuer's ARPC");
    }
    // A cryptogram that does not verify.
    let pin = pin_of(&card);
    let mut input = present(&link, &mut card, EntryMode::Chip, Some(&pin), 2_000);
    let icc = input.icc_data.as_mut().unwrap();
    icc[3] ^= 0x01; // the first byte of 9F26's value
    let e = link.transact(TransactionKind::Purchase, &input, 2_000, None).await.unwrap();
    assert_eq!(e.code().unwrap(), codes::CARD_VERIFICATION_ERROR);
    assert_eq!(available(net.issuer(ISSUER_A), &card), 50_000 - 4_000);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_refusals_mac_bin_duplicate_and_malformed_bytes() {
    let net = network("switch-refusals").await;
    let link = net.link("TERM0004").await.unwrap();
    let mut card = net.issue(ISSUER_A, DEBIT, Some(50_000)).unwrap();

    // A0: the MAC does not match the message.
    let pin = pin_of(&card);
    let input = present(&link, &mut card, EntryMode::Swipe, Some(&pin), 700);
    let mut request = link.build(TransactionKind::Purchase, &input, 700, None).unwrap();
    request.set_str(4, "000000000001").unwrap(); // changed after signing
    assert_eq!(link.send(request).await.unwrap().code().unwrap(), codes::MAC_ERROR);
    assert_eq!(available(net.issuer(ISSUER_A), &card), 50_000, "nothing reached the issuer");

    // 15: no issuer owns the BIN.
    let stranger = CardInput {
        entry: Some(EntryMode::Keyed),
        expiry_yymm: Some("3012".into()),
        ..CardInput::new(network::request::Pan::new("4111111111111111").unwrap())
    };
    assert_eq!(
        link.transact(TransactionKind::Purchase, &stranger, 100, None).await.unwrap().code().unwrap(),
        codes::NO_SUCH_ISSUER
    );

    // 94: the same request twice (same 32, 11, 7).
    let input = present(&link, &mut card, EntryMode::Swipe, Some(&pin), 800);
    let request = link.build(TransactionKind::Purchase, &input, 800, None).unwrap();
    assert_eq!(link.send(request.clone()).await.unwrap().code().unwrap(), codes::APPROVED);
    assert_eq!(link.send(request).await.unwrap().code().unwrap(), codes::DUPLICATE);
    assert_eq!(available(net.issuer(ISSUER_A), &card), 50_000 - 800, "held once");

    // 30 for bytes that are not a message, and the same connection carries on.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(net.switch_address().unwrap()).await.unwrap();
    async fn read_frame(socket: &mut tokio::net::TcpStream) -> Vec<u8> {
        let mut length = [0u8; 2];
        socket.read_exact(&mut length).await.unwrap();
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(length))];
        socket.read_exact(&mut body).await.unwrap();
        body
    }
    // An MTI and a bitmap promising fields that are not there.
    let garbage = b"0200\xF2\x3C\x44\x81\x88\xE0\x80\x00\x00\x00\x00\x00\x10\x00\x00\x01zz";
    let mut frame = (garbage.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(garbage);
    socket.write_all(&frame).await.unwrap();
    let answer = iso8583::decode(&iso8583::builtin::network(), &read_frame(&mut socket).await).unwrap();
    assert_eq!(answer.mti().as_str(), "0210");
    assert_eq!(answer.get_str(39), Some(codes::FORMAT_ERROR));
    let input = present(&link, &mut card, EntryMode::Swipe, Some(&pin), 900);
    let request = link.build(TransactionKind::Purchase, &input, 900, None).unwrap();
    let valid = iso8583::encode_framed(&request, &Default::default()).unwrap();
    socket.write_all(&valid).await.unwrap();
    let answer = iso8583::decode(&iso8583::builtin::network(), &read_frame(&mut socket).await).unwrap();
    assert_eq!(answer.get_str(39), Some(codes::APPROVED), "the connection survived the garbage");
    assert!(net.switch().unwrap().stats().format_errors.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_down_stand_in_then_advice_delivered_on_return() {
    let mut net = network("stand-in").await;
    let link = net.link("TERM0005").await.unwrap();
    let mut card = net.issue(ISSUER_B, DEBIT, Some(100_000)).unwrap();
    let before = available(net.issuer(ISSUER_B), &card);

    net.stop_issuer(ISSUER_B).await;
    net.issuers[ISSUER_B].proxy.set_down(true);
    // The switch stands in without a PIN (it has no PIN verification key), within its limits.
    let stip = switch::dev::stip(true);
    let input = present(&link, &mut card, EntryMode::Swipe, None, 4_000);
    let approved = link.transact(TransactionKind::Purchase, &input, 4_000, None).await.unwrap();
    assert_eq!(approved.code().unwrap(), codes::APPROVED, "stand-in approval");
    assert!(approved.response.get_str(38).is_some());
    let over = present(&link, &mut card, EntryMode::Swipe, None, stip.amount_max_minor + 1);
    let declined = link.transact(TransactionKind::Purchase, &over, stip.amount_max_minor + 1, None).await.unwrap();
    assert_eq!(declined.code().unwrap(), codes::ISSUER_DOWN, "beyond the stand-in limit");
    let issuer_id = net.issuers[ISSUER_B].id.clone();
    let journal = net.switch().unwrap().switch().journal().clone();
    assert_eq!(blocking(|| journal.advice_counts(&issuer_id)).unwrap().pending, 1, "one stand-in advice waiting");

    // The issuer comes back: the advice is delivered and the issuer holds the funds as decided.
    net.issuers[ISSUER_B].proxy.set_down(false);
    net.start_issuer(ISSUER_B).await.unwrap();
    let delivered = eventually(10_000, || {
        blocking(|| journal.advice_counts(&issuer_id)).map(|c| c.pending == 0 && c.done == 1).unwrap_or(false)
    })
    .await;
    assert!(delivered, "advice delivered: {:?}", blocking(|| journal.advice_counts(&issuer_id)));
    let advices = blocking(|| journal.advices_to(&issuer_id)).unwrap();
    assert_eq!(advices.len(), 1);
    assert!(advices[0].mti == "0220" || advices[0].mti == "0120", "{}", advices[0].mti);
    assert_eq!(advices[0].response_code.as_ref().map(|c| c.as_str()), Some(codes::APPROVED));
    assert_eq!(available(net.issuer(ISSUER_B), &card), before - 4_000, "the stand-in approval is held at the issuer");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_slow_past_the_timeout_is_reversed_exactly_once() {
    let net = network("slow").await;
    let link = net.link("TERM0006").await.unwrap();
    let mut card = net.issue(ISSUER_A, DEBIT, Some(100_000)).unwrap();
    let issuer_id = net.issuers[ISSUER_A].id.clone();
    let journal = net.switch().unwrap().switch().journal().clone();

    net.issuers[ISSUER_A].proxy.set_response_delay_ms(ISSUER_TIMEOUT_MS * 2);
    let started = std::time::Instant::now();
    let exchange = purchase(&link, &mut card, EntryMode::Swipe, 6_000).await;
    assert_eq!(exchange.code().unwrap(), codes::ISSUER_TIMEOUT, "the acquirer is answered 98");
    assert!(
        started.elapsed() < Duration::from_millis(ISSUER_TIMEOUT_MS * 2),
        "answered at the timeout, not after the issuer"
    );
    net.issuers[ISSUER_A].proxy.set_response_delay_ms(0);

    // The issuer did approve (late) and hold; the switch's 0420 releases it.
    let released = eventually(10_000, || {
        blocking(|| journal.advice_counts(&issuer_id)).map(|c| c.pending == 0 && c.done == 1).unwrap_or(false)
            && available(net.issuer(ISSUER_A), &card) == 100_000
    })
    .await;
    assert!(released, "0420 delivered and the hold voided: {:?}", blocking(|| journal.advice_counts(&issuer_id)));
    let advices = blocking(|| journal.advices_to(&issuer_id)).unwrap();
    assert_eq!(advices.len(), 1, "one reversal advice");
    assert_eq!(advices[0].mti, "0420");
    let entries = blocking(|| net.issuer(ISSUER_A).card_journal(card.card_id)).unwrap();
    let voided = entries.iter().filter(|e| e.state == issuer::EntryState::Voided).count();
    assert_eq!(voided, 1, "the hold was voided exactly once: {entries:?}");
    blocking(|| net.issuer(ISSUER_A).check_ledger()).unwrap();
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_reversal_answers_the_same_and_voids_once() {
    let net = network("reversal").await;
    let link = net.link("TERM0007").await.unwrap();
    let mut card = net.issue(ISSUER_A, DEBIT, Some(100_000)).unwrap();
    let issuer_id = net.issuers[ISSUER_A].id.clone();
    let journal = net.switch().unwrap().switch().journal().clone();

    let purchase = purchase(&link, &mut card, EntryMode::Swipe, 3_000).await;
    assert_eq!(purchase.code().unwrap(), codes::APPROVED);
    let reversal = link.reversal(&purchase.request, None).unwrap();
    let first = link.send(reversal.clone()).await.unwrap();
    assert_eq!(first.response.mti().as_str(), "0430");
    assert_eq!(first.code().unwrap(), codes::APPROVED);
    // The acquirer did not see the 0430 and repeats (0421, same 11/7).
    let mut repeat = reversal.clone();
    repeat.set_mti(iso8583::Mti::parse("0421").unwrap());
    link.sign(&mut repeat).unwrap();
    let second = link.send(repeat).await.unwrap();
    assert_eq!(second.code().unwrap(), codes::APPROVED, "the repeat is answered the same");

    assert!(eventually(10_000, || available(net.issuer(ISSUER_A), &card) == 100_000).await, "hold released");
    assert!(
        eventually(5_000, || blocking(|| journal.advice_counts(&issuer_id))
            .map(|c| c.done == 1 && c.pending == 0)
            .unwrap_or(false))
        .await
    );
    assert_eq!(blocking(|| journal.advices_to(&issuer_id)).unwrap().len(), 1, "queued once");
    let entries = blocking(|| net.issuer(ISSUER_A).card_journal(card.card_id)).unwrap();
    assert_eq!(entries.iter().filter(|e| e.state == issuer::EntryState::Voided).count(), 1);
    blocking(|| net.issuer(ISSUER_A).check_ledger()).unwrap();
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_restart_delivers_queued_reversal_advices() {
    let mut net = network("restart").await;
    let link = net.link("TERM0008").await.unwrap();
    let mut cards = Vec::new();
    let mut purchases = Vec::new();
    for _ in 0..3 {
        let mut card = net.issue(ISSUER_A, DEBIT, Some(10_000)).unwrap();
        let exchange = purchase(&link, &mut card, EntryMode::Swipe, 2_500).await;
        assert_eq!(exchange.code().unwrap(), codes::APPROVED);
        cards.push(card);
        purchases.push(exchange);
    }
    // The issuer becomes unreachable; the acquirer reverses all three.
    net.issuers[ISSUER_A].proxy.set_down(true);
    for exchange in &purchases {
        let reversal = link.reversal(&exchange.request, None).unwrap();
        assert_eq!(link.send(reversal).await.unwrap().code().unwrap(), codes::APPROVED, "acknowledged and queued");
    }
    let issuer_id = net.issuers[ISSUER_A].id.clone();
    let counts = blocking(|| net.switch().unwrap().switch().journal().advice_counts(&issuer_id)).unwrap();
    assert_eq!(counts.pending, 3);
    drop(link);

    // The switch restarts with the three advices on disk.
    net.stop_switch().await;
    net.start_switch().await.unwrap();
    net.issuers[ISSUER_A].proxy.set_down(false);
    let journal = net.switch().unwrap().switch().journal().clone();
    let delivered = eventually(15_000, || {
        blocking(|| journal.advice_counts(&issuer_id)).map(|c| c.done == 3 && c.pending == 0).unwrap_or(false)
    })
    .await;
    assert!(delivered, "{:?}", blocking(|| journal.advice_counts(&issuer_id)));
    for card in &cards {
        assert_eq!(available(net.issuer(ISSUER_A), card), 10_000, "hold released after the restart");
    }
    blocking(|| net.issuer(ISSUER_A).check_ledger()).unwrap();
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_network() {
    let Ok(url) = std::env::var("CARDNET_TEST_PG") else {
        eprintln!("SKIPPED: CARDNET_TEST_PG not set; the network was not run on PostgreSQL");
        return;
    };
    let net = TestNetwork::start(options("postgres", Some(url))).await.unwrap();
    assert!(net.wait_issuer_ready(ISSUER_A, 5_000).await);
    let link = net.link("TERM0009").await.unwrap();
    let mut card = net.issue(ISSUER_A, DEBIT, Some(20_000)).unwrap();
    let approved = purchase(&link, &mut card, EntryMode::Chip, 5_000).await;
    assert_eq!(approved.code().unwrap(), codes::APPROVED);
    assert_eq!(purchase(&link, &mut card, EntryMode::Swipe, 50_000).await.code().unwrap(), codes::INSUFFICIENT_FUNDS);
    let reversal = link.reversal(&approved.request, None).unwrap();
    assert_eq!(link.send(reversal).await.unwrap().code().unwrap(), codes::APPROVED);
    assert!(eventually(10_000, || available(net.issuer(ISSUER_A), &card) == 20_000).await);
    blocking(|| net.issuer(ISSUER_A).check_ledger()).unwrap();
    net.shutdown().await;
}
