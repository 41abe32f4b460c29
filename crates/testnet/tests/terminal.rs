//! The terminal core and its TCP shell (`terminal::Pos`) against the real acquirer host, switch
//! and issuers on loopback (issue 7): a day of every transaction type over swipe, chip and tap
//! (field 55 from the card simulator's ARQC), declines with their reasons, slips (签购单) and the
//! reprint, a balanced settlement; the network cut mid-transaction and the 98 reversal sent
//! exactly once after the terminal restarts; a forged response MAC reversed with A0. A frame
//! relay between terminal and acquirer (`testnet::relay`) records what the terminal sends and
//! cuts or forges what comes back.

use std::time::Duration;

use hsm::Secret;
use receipt::Lang;
use terminal::{Card, EntryMode as Entry, Kind, Outcome, Pos, Terminal, TerminalConfig, TxnRequest};
use testnet::acquirer_host::{self, MERCHANT_NAME};
use testnet::card::SimCard;
use testnet::net::{ISSUER_A, NetworkOptions, TestNetwork, blocking};
use testnet::relay::{FrameRelay, Mode};

const SUPERVISOR_PASSWORD: &[u8] = b"123456";
const CASHIER_PASSWORD: &[u8] = b"1111";
const SETTLE_POLLS: usize = 150;
const POLL_MS: u64 = 100;

async fn network(name: &str) -> TestNetwork {
    let dir = std::env::temp_dir().join(format!("cardnet-terminal-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let net = TestNetwork::start(NetworkOptions { dir, issuer_timeout_ms: 5_000, postgres_url: None }).await.unwrap();
    assert!(net.wait_issuer_ready(ISSUER_A, 5_000).await);
    net
}

/// Power the terminal on (self-check, journal where it left off) and log the cashier in.
fn power_on(config: &TerminalConfig) -> Pos {
    let mut terminal = Terminal::open(config.clone()).unwrap();
    terminal.log_in("01", &Secret::new(CASHIER_PASSWORD)).unwrap();
    Pos::new(terminal)
}

fn pin_of(sim: &SimCard) -> Secret {
    Secret::new(sim.pin.expose())
}

/// The card as the terminal's reader reads it with `entry`: the stripe's track 2, or the
/// chip's track 2 equivalent and sequence number with the chip itself (the terminal asks it for
/// the ARQC over the transaction and, inserted, gives it the issuer's ARPC).
/// The card as the reader takes it. The issued cards are chip cards (service code 201), so a
/// swipe is a fallback: the terminal takes their stripe only after the chip failed to read.
fn read(sim: &SimCard, entry: Entry) -> Card {
    sim.card.lock().unwrap().set_chip_fails(entry == Entry::Swipe);
    Card::read(&sim.card, entry).unwrap()
}

fn request(kind: Kind, card: Option<Card>, amount_minor: Option<u64>, pin: Option<Secret>) -> TxnRequest {
    TxnRequest { kind: Some(kind), card, amount_minor, pin, ..TxnRequest::default() }
}

fn on_original(kind: Kind, trace: &str, amount_minor: Option<u64>) -> TxnRequest {
    TxnRequest {
        kind: Some(kind),
        amount_minor,
        original_trace: Some(trace.to_owned()),
        supervisor_password: Some(Secret::new(SUPERVISOR_PASSWORD)),
        ..TxnRequest::default()
    }
}

/// No text the terminal shows or prints carries a full card number.
fn assert_masked(text: &str, pans: &[&str]) {
    for pan in pans {
        assert!(!text.contains(pan), "a full card number in: {text}");
    }
}

/// An approved outcome, with its slip checked in both languages.
fn approved(outcome: &Outcome, what: &str, pans: &[&str], texts: &mut Vec<String>) {
    assert!(outcome.approved, "{what}: {outcome:?}");
    assert_eq!(outcome.code_text(), "00", "{what}");
    let en = outcome.receipt_text(Lang::En).unwrap_or_else(|| panic!("{what}: a slip"));
    let zh = outcome.receipt_text(Lang::Zh).unwrap_or_else(|| panic!("{what}: a slip"));
    for text in [&en, &zh] {
        assert!(text.contains(MERCHANT_NAME), "{what}: the merchant name from the parameter download\n{text}");
        assert!(text.contains(&format!("{:06}", outcome.batch_no)), "{what}: batch\n{text}");
        assert!(text.contains(&outcome.trace), "{what}: trace\n{text}");
        if let Some(rrn) = &outcome.rrn {
            assert!(text.contains(rrn.as_str()), "{what}: RRN\n{text}");
        }
        if let Some(pan) = &outcome.pan_masked {
            assert!(text.contains(pan.as_str()), "{what}: masked card\n{text}");
        }
        assert!(text.contains("CUP"), "{what}: card organisation from 63\n{text}");
        assert!(!text.contains("REPRINT") && !text.contains("重打印"), "{what}: not a reprint\n{text}");
    }
    assert!(en.contains("MERCHANT COPY") && en.contains("CARDHOLDER COPY"), "{what}: both copies\n{en}");
    assert!(zh.contains("商户存根") && zh.contains("持卡人存根"), "{what}: both copies\n{zh}");
    let json = format!("{outcome:?}");
    for text in [&en, &zh, &json] {
        assert_masked(text, pans);
    }
    texts.push(en);
    texts.push(zh);
    texts.push(json);
}

fn declined(outcome: &Outcome, code: &str, message: &str) {
    assert!(!outcome.approved, "{outcome:?}");
    assert_eq!((outcome.code_text(), outcome.message.as_str()), (code, message));
    assert!(outcome.receipt.is_none(), "no slip for a decline");
    assert_eq!(outcome.reversal_pending, None, "a decline is not reversed");
}

fn available(net: &TestNetwork, sim: &SimCard) -> i64 {
    let issuer = net.issuer(ISSUER_A);
    blocking(|| issuer.balance(&issuer::CardRef::Id(sim.card_id))).unwrap().available_minor
}

fn voided(net: &TestNetwork, sim: &SimCard, amount_minor: u64) -> usize {
    let issuer = net.issuer(ISSUER_A);
    blocking(|| issuer.card_journal(sim.card_id))
        .unwrap()
        .into_iter()
        .filter(|entry| entry.state == issuer::EntryState::Voided && entry.amount_minor == amount_minor)
        .count()
}

/// Wait until the card's available balance is `expected` (the acquirer's 0420 reaches the
/// issuer after it answered the terminal's 0400).
async fn await_available(net: &TestNetwork, sim: &SimCard, expected: i64) {
    for _ in 0..SETTLE_POLLS {
        if available(net, sim) == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
    }
    panic!("available balance {} never became {expected}", available(net, sim));
}

/// The 39 of every `mti` the terminal sent through `relay`.
fn sent(relay: &FrameRelay, mti: &str) -> Vec<String> {
    relay.since(0).into_iter().filter(|f| f.from_terminal && f.mti == mti).map(|f| f.field(39)).collect()
}

// ---- the tests -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_day_of_every_transaction_over_every_entry_mode_with_slips_and_a_balanced_settlement() {
    let net = network("day").await;
    let host = acquirer_host::start(&net, 3_000).await.unwrap();
    let config = host.terminal_config(&net.options.dir, &host.server.local_addr().to_string()).unwrap();
    let mut pos = power_on(&config);
    let sim = net.issue(ISSUER_A, "debit", Some(1_000_000)).unwrap();
    let poor = net.issue(ISSUER_A, "debit", Some(1_000)).unwrap();
    let pans = [sim.pan, poor.pan];
    let pans: Vec<&str> = pans.iter().map(|pan| pan.as_str()).collect();
    let mut texts = Vec::new();

    let signed = pos.sign_on().await.unwrap();
    assert!(signed.approved, "{signed:?}");
    let parameters = pos.download_parameters().await.unwrap();
    assert!(parameters.approved, "{parameters:?}");
    assert_eq!(pos.terminal().merchant_name(), Some(MERCHANT_NAME));
    assert!(pos.terminal().last_receipt(Lang::En).unwrap().is_none(), "nothing to reprint yet");

    // Sales with PIN (the issuer's products all require one): swipe, chip and tap.
    let modes =
        [(Entry::Swipe, 12_500, true, 'S'), (Entry::Chip, 2_000, true, 'I'), (Entry::Contactless, 1_500, true, 'C')];
    let mut sales = Vec::new();
    for (entry, amount, with_pin, letter) in modes {
        let card = read(&sim, entry);
        let pin = with_pin.then(|| pin_of(&sim));
        let outcome = pos.transact(&request(Kind::Purchase, Some(card), Some(amount), pin)).await.unwrap();
        approved(&outcome, &format!("sale {entry:?}"), &pans, &mut texts);
        let en = outcome.receipt_text(Lang::En).unwrap();
        assert!(en.contains("SALE") && en.contains(&format!("RMB {}", terminal::amount::format_minor(amount))), "{en}");
        let card_line = format!("{} /{letter}", outcome.pan_masked.clone().unwrap());
        assert!(en.contains(&card_line), "entry mode {letter}\n{en}");
        let receipt = outcome.receipt.as_ref().unwrap();
        assert_eq!(receipt.pin_verified, with_pin);
        assert_eq!(receipt.operator, "01");
        assert_eq!(receipt.merchant_id, host.merchant_id);
        assert_eq!(receipt.terminal_id, host.terminal_id);
        assert_eq!(receipt.card_organization, "CUP");
        assert!(receipt.date_time.year >= 2025 && receipt.date_time.month >= 1, "host date with the terminal's year");
        if with_pin {
            assert!(en.contains("PIN VERIFIED") && !en.contains("CARDHOLDER SIGNATURE"), "{en}");
        } else {
            assert!(en.contains("CARDHOLDER SIGNATURE"), "{en}");
        }
        assert!(outcome.receipt_text(Lang::Zh).unwrap().contains("消费"));
        sales.push(outcome);
    }

    // Balance inquiries over each entry mode.
    for entry in [Entry::Swipe, Entry::Chip, Entry::Contactless] {
        let card = read(&sim, entry);
        let outcome = pos.transact(&request(Kind::Balance, Some(card), None, Some(pin_of(&sim)))).await.unwrap();
        approved(&outcome, &format!("balance {entry:?}"), &pans, &mut texts);
        assert!(outcome.balance.is_some(), "field 54");
        assert!(outcome.receipt_text(Lang::En).unwrap().contains("BALANCE INQUIRY"));
    }

    // Void of the swipe sale, refund of part of the chip sale (supervisor's password).
    let void = pos.transact(&on_original(Kind::Void, &sales[0].trace, None)).await.unwrap();
    approved(&void, "void", &pans, &mut texts);
    let en = void.receipt_text(Lang::En).unwrap();
    assert!(en.contains("VOID") && en.contains("-125.00"), "{en}");
    assert!(en.contains(&sales[0].trace), "the original's voucher number\n{en}");
    let mut refund = on_original(Kind::Refund, &sales[1].trace, Some(1_000));
    refund.card = Some(read(&sim, Entry::Swipe));
    let refund = pos.transact(&refund).await.unwrap();
    approved(&refund, "refund", &pans, &mut texts);
    assert!(refund.receipt_text(Lang::En).unwrap().contains("REFUND"));
    assert!(refund.receipt_text(Lang::Zh).unwrap().contains("退货"));

    // Pre-authorisations over each entry mode: one completed, one voided, one left open.
    let mut holds = Vec::new();
    for (entry, amount) in [(Entry::Contactless, 8_000), (Entry::Chip, 1_000), (Entry::Swipe, 700)] {
        let card = read(&sim, entry);
        let outcome =
            pos.transact(&request(Kind::PreAuth, Some(card), Some(amount), Some(pin_of(&sim)))).await.unwrap();
        approved(&outcome, &format!("pre-auth {entry:?}"), &pans, &mut texts);
        assert!(outcome.receipt_text(Lang::En).unwrap().contains("PRE-AUTH"));
        holds.push(outcome);
    }
    let completion = pos.transact(&on_original(Kind::Completion, &holds[0].trace, Some(6_000))).await.unwrap();
    approved(&completion, "completion", &pans, &mut texts);
    let en = completion.receipt_text(Lang::En).unwrap();
    assert!(en.contains("AUTH COMPLETE") && en.contains("RMB 60.00"), "{en}");
    // No PIN on a completion: the slip carries a signature line.
    assert!(en.contains("CARDHOLDER SIGNATURE") && !en.contains("PIN VERIFIED"), "{en}");
    assert!(completion.receipt_text(Lang::Zh).unwrap().contains("持卡人签名"));
    let released = pos.transact(&on_original(Kind::PreAuthVoid, &holds[1].trace, None)).await.unwrap();
    approved(&released, "pre-auth void", &pans, &mut texts);
    assert!(released.receipt_text(Lang::En).unwrap().contains("PRE-AUTH VOID"));

    // Declines, with their reasons, and no slip.
    let typed = if sim.pin.expose() == b"999999" { "888888" } else { "999999" };
    let card = read(&sim, Entry::Swipe);
    let wrong =
        pos.transact(&request(Kind::Purchase, Some(card), Some(300), Some(Secret::new(typed.as_bytes())))).await;
    declined(&wrong.unwrap(), "55", "wrong PIN");
    let card = read(&poor, Entry::Chip);
    let pin = pin_of(&poor);
    let short = pos.transact(&request(Kind::Purchase, Some(card), Some(5_000), Some(pin))).await.unwrap();
    declined(&short, "51", "insufficient funds");

    // The reprint is the last approved slip (the pre-auth void), marked, masked.
    for (lang, marker) in [(Lang::En, "REPRINT"), (Lang::Zh, "重打印")] {
        let reprint = pos.terminal().last_receipt(lang).unwrap().unwrap();
        assert!(reprint.contains(marker), "{reprint}");
        assert!(reprint.contains(&released.trace), "{reprint}");
        assert_masked(&reprint, &pans);
        texts.push(reprint);
    }

    // Settlement: debits 12 500 + 2 000 + 1 500 + 6 000 in 4; credits 12 500 + 1 000 in 2.
    let settled = pos.settle(&Secret::new(SUPERVISOR_PASSWORD)).await.unwrap();
    assert!(settled.domestic_balanced && settled.foreign_balanced, "{settled:?}");
    assert_eq!((settled.totals.domestic_debit_minor, settled.totals.domestic_debit_count), (22_000, 4));
    assert_eq!((settled.totals.domestic_credit_minor, settled.totals.domestic_credit_count), (13_500, 2));
    // Balanced: the chip sale's TC and the tapped sale's ARQC (0320/203 each), then the 207 end.
    assert_eq!(settled.uploaded_messages, 3, "balanced: the two chip approvals and the 207 end");
    assert_eq!(settled.next_batch_no, settled.batch_no + 1);

    // After a restart the reprint is still there.
    drop(pos);
    let pos = power_on(&config);
    let reprint = pos.terminal().last_receipt(Lang::En).unwrap().unwrap();
    assert!(reprint.contains("REPRINT") && reprint.contains("PRE-AUTH VOID"), "{reprint}");
    for text in &texts {
        assert_masked(text, &pans);
    }
    blocking(|| net.issuer(ISSUER_A).check_ledger()).unwrap();
    host.server.shutdown().await;
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_network_cut_mid_sale_is_reversed_once_after_the_terminal_restarts() {
    let net = network("cut").await;
    let host = acquirer_host::start(&net, 3_000).await.unwrap();
    let relay = FrameRelay::start(&host.server.local_addr().to_string()).unwrap();
    let config = host.terminal_config(&net.options.dir, relay.address()).unwrap();
    let mut pos = power_on(&config);
    let sim = net.issue(ISSUER_A, "debit", Some(100_000)).unwrap();

    let card = read(&sim, Entry::Swipe);
    let first = pos.transact(&request(Kind::Purchase, Some(card), Some(3_000), Some(pin_of(&sim)))).await.unwrap();
    assert!(first.approved, "{first:?}");
    let before = available(&net, &sim);

    // The acquirer approves (the issuer holds 4 000), and the answer never arrives.
    relay.set(Mode::CutNextAnswer);
    let card = read(&sim, Entry::Chip);
    let cut = pos.transact(&request(Kind::Purchase, Some(card), Some(4_000), Some(pin_of(&sim)))).await.unwrap();
    assert!(!cut.approved && cut.receipt.is_none(), "{cut:?}");
    assert_eq!(cut.reversal_pending.as_deref(), Some("98"));
    await_available(&net, &sim, before - 4_000).await;
    // The line stays down, and the terminal is switched off.
    relay.set(Mode::Down);
    drop(pos);
    assert!(sent(&relay, "0400").is_empty(), "no reversal could be sent yet");

    // Power on again: the reversal is on disk and goes before the next sale, once.
    relay.set(Mode::Pass);
    let mut pos = power_on(&config);
    assert_eq!(pos.terminal().pending_reversal().unwrap(), Some((cut.trace.clone(), "98".to_owned())));
    let card = read(&sim, Entry::Swipe);
    let next = pos.transact(&request(Kind::Purchase, Some(card), Some(1_000), Some(pin_of(&sim)))).await.unwrap();
    assert!(next.approved, "{next:?}");
    assert!(pos.notices().iter().any(|n| n.contains("reversal of trace")), "{:?}", pos.notices());
    assert_eq!(sent(&relay, "0400"), vec!["98".to_owned()], "exactly one reversal, reason 98");
    assert_eq!(pos.terminal().pending_reversal().unwrap(), None);
    // The issuer's hold of 4 000 is voided; only the new sale is taken.
    await_available(&net, &sim, before - 1_000).await;
    assert_eq!(voided(&net, &sim, 4_000), 1, "the issuer voided the hold once");

    // And never again.
    let card = read(&sim, Entry::Swipe);
    let last = pos.transact(&request(Kind::Purchase, Some(card), Some(500), Some(pin_of(&sim)))).await.unwrap();
    assert!(last.approved, "{last:?}");
    drop(pos);
    let mut pos = power_on(&config);
    pos.flush_reversal().await.unwrap();
    assert_eq!(sent(&relay, "0400").len(), 1, "still one reversal after another restart");
    await_available(&net, &sim, before - 1_500).await;
    assert_eq!(voided(&net, &sim, 4_000), 1);
    blocking(|| net.issuer(ISSUER_A).check_ledger()).unwrap();
    host.server.shutdown().await;
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forged_response_mac_is_not_approved_and_reversed_a0() {
    let net = network("mac").await;
    let host = acquirer_host::start(&net, 3_000).await.unwrap();
    let relay = FrameRelay::start(&host.server.local_addr().to_string()).unwrap();
    let config = host.terminal_config(&net.options.dir, relay.address()).unwrap();
    let mut pos = power_on(&config);
    let sim = net.issue(ISSUER_A, "debit", Some(100_000)).unwrap();
    assert!(pos.sign_on().await.unwrap().approved);
    let before = available(&net, &sim);

    relay.set(Mode::ForgeNextMac);
    let card = read(&sim, Entry::Contactless);
    let forged = pos.transact(&request(Kind::Purchase, Some(card), Some(2_500), Some(pin_of(&sim)))).await.unwrap();
    assert!(!forged.approved && forged.receipt.is_none(), "{forged:?}");
    assert_eq!(forged.code_text(), "A0");
    assert_eq!(forged.reversal_pending.as_deref(), Some("A0"));
    assert!(forged.sign_on_needed);
    assert!(pos.terminal().last_receipt(Lang::En).unwrap().is_none(), "no slip for an untrusted approval");
    await_available(&net, &sim, before - 2_500).await;

    // The next sale signs on again, sends the A0 reversal first, then goes through.
    relay.set(Mode::Pass);
    let card = read(&sim, Entry::Swipe);
    let next = pos.transact(&request(Kind::Purchase, Some(card), Some(1_000), Some(pin_of(&sim)))).await.unwrap();
    assert!(next.approved, "{next:?}");
    assert_eq!(sent(&relay, "0400"), vec!["A0".to_owned()], "one reversal, reason A0");
    assert!(sent(&relay, "0800").len() >= 2, "signed on again after A0");
    await_available(&net, &sim, before - 1_000).await;
    assert_eq!(voided(&net, &sim, 2_500), 1, "the issuer voided the forged approval's hold");
    blocking(|| net.issuer(ISSUER_A).check_ledger()).unwrap();
    host.server.shutdown().await;
    net.shutdown().await;
}

/// The frame's bytes as uppercase hex digits: a track's BCD digits appear in it as they are,
/// at any nibble offset.
fn wire_digits(bytes: &[u8]) -> String {
    iso8583::hex::encode(bytes).to_uppercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scheme_004_terminal_sends_track_2_enciphered_and_the_sale_goes_through() {
    let net = network("tdk").await;
    let host = acquirer_host::start(&net, 3_000).await.unwrap();
    let relay = FrameRelay::start(&host.server.local_addr().to_string()).unwrap();
    let mut config = host.terminal_config(&net.options.dir, relay.address()).unwrap();
    config.key_scheme = "004".into();
    let mut pos = power_on(&config);
    let sim = net.issue(ISSUER_A, "debit", Some(100_000)).unwrap();
    let before = available(&net, &sim);

    // Swiped, and the chip's track 2 equivalent: the issuer checks the CVV (iCVV) of the track
    // the acquirer deciphered, so an approval proves the whole path.
    for entry in [Entry::Swipe, Entry::Chip] {
        let card = read(&sim, entry);
        let outcome =
            pos.transact(&request(Kind::Purchase, Some(card), Some(1_000), Some(pin_of(&sim)))).await.unwrap();
        assert!(outcome.approved, "{outcome:?}");
    }
    await_available(&net, &sim, before - 2_000).await;

    let tracks = [sim.track2.replace('=', "D"), sim.chip_track2.clone().unwrap().replace('=', "D")];
    let sales: Vec<_> = relay.since(0).into_iter().filter(|f| f.from_terminal && f.mti == "0200").collect();
    assert_eq!(sales.len(), 2);
    for (sale, track) in sales.iter().zip(&tracks) {
        let window = &track[track.len() - 17..track.len() - 1];
        assert_eq!(sale.path("53.3"), "1", "53.3 says the track is enciphered");
        let wire = wire_digits(&sale.bytes);
        assert!(!wire.contains(track.as_str()), "the clear track 2 crossed the wire");
        assert!(!wire.contains(window), "the track's expiry, service code, PVV and CVV crossed the wire in clear");
        assert_ne!(&sale.field(35), track);
    }
    // The search itself finds a clear track where one is sent (schemes 001 and 003).
    let mut clear_sale = iso8583::Message::new(iso8583::builtin::cup_pos(), iso8583::Mti::parse("0200").unwrap());
    clear_sale.set_str(35, &tracks[0]).unwrap();
    assert!(wire_digits(&clear_sale.encode().unwrap()).contains(tracks[0].as_str()));
    drop(pos);
    host.server.shutdown().await;
    net.shutdown().await;
}
