//! Every decision of docs/network-flows.md §3 against the issuer core, on SQLite and (when
//! CARDNET_TEST_PG is set) on PostgreSQL: the same suite, one schema pair per test, dropped
//! after.

mod common;

use common::{Backend, Harness, START_MS};
use hsm::Secret;
use issuer::{CardRef, CardStatus, EntryState};
use network::codes;

/// Cards drawn at most for one whose CVVs differ (a coincidence is one in a thousand).
const CARDS_TRIED_MAX: usize = 8;

/// Each test runs once per backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::Backend::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(super::Backend::Postgres) } )*
        }
    };
}

on_both_backends!(
    purchase_approval_holds_funds_and_answers_per_spec,
    preauth_hold_expires_after_its_days,
    card_number_and_status_declines,
    expiry_declines,
    pin_tries_block_at_three_and_unblock_resets,
    a_right_pin_resets_the_counter_and_a_missing_pin_is_55,
    ibm3624_cards_verify_their_pin_by_offset,
    stripe_cvv_is_checked,
    chip_arqc_is_verified_and_answered_with_an_arpc,
    daily_amount_and_count_limits,
    insufficient_funds,
    bad_mac_is_a0_and_not_journaled,
    malformed_requests,
    duplicates_replay_the_same_response,
    completion_posts_part_and_releases_the_rest,
    a_completion_void_gives_the_amount_back_once,
    voids_release_holds,
    reversal_twice_answers_the_same_and_voids_once,
    reversal_of_an_unknown_original_is_recorded,
    partial_reversal_posts_the_replacement,
    refunds_credit_the_card,
    balance_inquiry_answers_field_54,
    stand_in_advices_are_recorded_as_decided,
    restart_keeps_state,
    a_hold_without_journal_row_is_recovered_not_doubled,
    a_failed_journal_write_leaves_no_hold,
    a_failed_journal_write_releases_a_separate_ledgers_hold,
    card_management,
    excluded_ranges_of_the_bin_are_never_issued,
    a_reversed_void_puts_the_hold_back,
    reversals_follow_the_issuer_table,
    a_reversed_completion_holds_the_pre_auth_again,
    a_refused_reversal_does_not_block_its_original,
);

fn code(response: &iso8583::Message) -> &str {
    response.get_str(39).unwrap_or("")
}

fn purchase_approval_holds_funds_and_answers_per_spec(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(100_000);
    let request = h.purchase(&card, 12_500).pin(&h, &card).sign(&h);
    let response = h.send(&request);
    assert_eq!(response.mti().as_str(), "0210");
    assert_eq!(code(&response), codes::APPROVED);
    let auth = response.get_str(38).unwrap();
    assert!(auth.len() == 6 && auth.bytes().all(|b| b.is_ascii_digit()));
    for field in [2, 3, 4, 11, 25, 32, 33, 37, 41, 42, 49, 100] {
        assert_eq!(response.get(field), request.get(field), "field {field} is echoed");
    }
    assert_eq!(response.get_str(7).map(str::len), Some(10));
    assert!(!response.has(52) && !response.has(35) && !response.has(54));
    // A hold: available down, ledger balance unchanged.
    assert_eq!(h.available(&card), 87_500);
    assert_eq!(h.ledger_balance(&card), 100_000);
    let entry = h.issuer.journal_entry(&request).unwrap().unwrap();
    assert_eq!((entry.state, entry.response_code.as_str(), entry.amount_minor), (EntryState::Held, "00", 12_500));
    assert_eq!(entry.auth_code.as_deref(), Some(auth));
    let hold = h.issuer.ledger_transfer(entry.transfer_id.unwrap()).unwrap().unwrap();
    assert_eq!(hold.status, ledger::PendingStatus::Pending);
    assert_eq!(hold.transfer.amount, 12_500);
    assert!(hold.expires_at > 0, "a purchase hold expires if clearing never posts it");
    h.issuer.check_ledger().unwrap();
}

fn preauth_hold_expires_after_its_days(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(50_000);
    let response = h.send(&h.preauth(&card, 20_000).pin(&h, &card).sign(&h));
    assert_eq!(response.mti().as_str(), "0110");
    assert_eq!(code(&response), codes::APPROVED);
    assert_eq!(h.available(&card), 30_000);
    h.clock.advance_seconds(6 * 86_400);
    assert_eq!(h.issuer.expire_holds().unwrap(), 0, "7 days by default");
    h.clock.advance_seconds(86_400 + 1);
    assert_eq!(h.issuer.expire_holds().unwrap(), 1);
    assert_eq!(h.available(&card), 50_000);
    h.issuer.check_ledger().unwrap();
}

fn card_number_and_status_declines(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(100_000);
    let other = h.debit_card(100_000);
    // A valid number that is no card of ours, a wrong check digit, a track 2 of another card.
    let unknown = {
        let partial = &card.pan.as_str()[..15];
        let mut pan = String::new();
        for digit in b'0'..=b'9' {
            let candidate = format!("{}{}", &partial[..14], char::from(digit));
            let full = format!("{candidate}{}", hsm::card::luhn_check_digit(&candidate).unwrap());
            if full != card.pan.as_str() && full != other.pan.as_str() {
                pan = full;
                break;
            }
        }
        pan
    };
    let mut bad_luhn = card.pan.as_str().as_bytes().to_vec();
    bad_luhn[15] = if bad_luhn[15] == b'9' { b'0' } else { bad_luhn[15] + 1 };
    let bad_luhn = String::from_utf8(bad_luhn).unwrap();
    for pan in [unknown.as_str(), bad_luhn.as_str()] {
        let response = h.send(&h.purchase(&card, 100).set(2, pan).pin(&h, &card).sign(&h));
        assert_eq!(code(&response), codes::INVALID_CARD);
    }
    let response = h.send(&h.purchase(&card, 100).stripe(&other.track2).pin(&h, &card).sign(&h));
    assert_eq!(code(&response), codes::INVALID_CARD, "35 must carry the PAN of 2");

    for (status, expected) in [
        (CardStatus::Lost, codes::LOST_CARD),
        (CardStatus::Stolen, codes::STOLEN_CARD),
        (CardStatus::Blocked, codes::RESTRICTED_CARD),
        (CardStatus::Expired, codes::EXPIRED_CARD),
        (CardStatus::Active, codes::APPROVED),
    ] {
        h.issuer.set_status(&CardRef::Pan(card.pan), status).unwrap();
        let request = h.purchase(&card, 100).pin(&h, &card).sign(&h);
        assert_eq!(code(&h.send(&request)), expected, "{status}");
        let entry = h.issuer.journal_entry(&request).unwrap().unwrap();
        assert_eq!(entry.response_code, expected, "declines are journaled too");
    }
    assert_eq!(h.available(&card), 99_900, "only the approval holds");
}

fn expiry_declines(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(100_000);
    assert_eq!(card.expiry_yymm, "2803");
    let response = h.send(&h.purchase(&card, 100).set(14, "2804").pin(&h, &card).sign(&h));
    assert_eq!(code(&response), codes::EXPIRED_CARD, "not the card's expiry");
    let mut wrong_track = card.track2.clone();
    wrong_track.replace_range(17..21, "2712");
    let response = h.send(&h.purchase(&card, 100).stripe(&wrong_track).pin(&h, &card).sign(&h));
    assert_eq!(code(&response), codes::EXPIRED_CARD, "track 2's expiry is checked too");
    // A test card issued already expired (`card issue --expiry`): its own track, CVV good, 54.
    let expired = h.issuer.issue_card_expiring("debit", Some(1_000), Some("2001")).unwrap();
    assert_eq!(expired.expiry_yymm, "2001");
    let response = h.send(&h.purchase(&expired, 100).pin(&h, &expired).sign(&h));
    assert_eq!(code(&response), codes::EXPIRED_CARD, "issued expired");
    for bad in ["2513", "25", "25A1", "2500"] {
        assert!(h.issuer.issue_card_expiring("debit", None, Some(bad)).unwrap_err().is_bad_input(), "{bad}");
    }
    // Past the card's month: April 2028.
    h.clock.set_ms(START_MS + 1_113 * 86_400_000);
    let response = h.send(&h.purchase(&card, 100).pin(&h, &card).sign(&h));
    assert_eq!(code(&response), codes::EXPIRED_CARD);
}

fn pin_tries_block_at_three_and_unblock_resets(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(100_000);
    for expected in [codes::INCORRECT_PIN, codes::INCORRECT_PIN, codes::PIN_TRIES_EXCEEDED] {
        assert_eq!(code(&h.send(&h.purchase(&card, 100).wrong_pin(&h, &card).sign(&h))), expected);
    }
    // From then on 75, even with the right PIN.
    assert_eq!(code(&h.send(&h.purchase(&card, 100).pin(&h, &card).sign(&h))), codes::PIN_TRIES_EXCEEDED);
    assert_eq!(h.issuer.card(&CardRef::Id(card.card_id)).unwrap().pin_tries, 3);
    let summary = h.issuer.unblock(&CardRef::Pan(card.pan)).unwrap();
    assert_eq!((summary.pin_tries, summary.status), (0, CardStatus::Active));
    assert_eq!(code(&h.send(&h.purchase(&card, 100).pin(&h, &card).sign(&h))), codes::APPROVED);
}

fn a_right_pin_resets_the_counter_and_a_missing_pin_is_55(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(100_000);
    let send = |right: bool| {
        let request = h.purchase(&card, 100);
        let request = if right { request.pin(&h, &card) } else { request.wrong_pin(&h, &card) };
        code(&h.send(&request.sign(&h))).to_owned()
    };
    assert_eq!(send(false), codes::INCORRECT_PIN);
    assert_eq!(send(false), codes::INCORRECT_PIN);
    assert_eq!(send(true), codes::APPROVED);
    assert_eq!(send(false), codes::INCORRECT_PIN, "the right PIN reset the count");
    assert_eq!(send(false), codes::INCORRECT_PIN);
    assert_eq!(send(false), codes::PIN_TRIES_EXCEEDED);
    // No PIN on a PIN-required product: 55, and it does not count as a try.
    let fresh = h.debit_card(100_000);
    assert_eq!(code(&h.send(&h.purchase(&fresh, 100).sign(&h))), codes::INCORRECT_PIN);
    assert_eq!(h.issuer.card(&CardRef::Id(fresh.card_id)).unwrap().pin_tries, 0);
    // A PIN block under another key does not decrypt to the PIN: a wrong PIN.
    let stranger = hsm::SoftHsm::generate().unwrap();
    let other_zpk = hsm::SecurityModule::generate_key(&stranger, hsm::KeyType::Zpk, hsm::KeyAlgorithm::Tdes2).unwrap();
    let block = hsm::SecurityModule::encrypt_pin(
        &stranger,
        &other_zpk,
        hsm::pinblock::PinFormat::Iso0,
        &fresh.pin,
        fresh.pan.as_str(),
    )
    .unwrap();
    let response = h.send(&h.purchase(&fresh, 100).set_bytes(52, &block).sign(&h));
    assert_eq!(code(&response), codes::INCORRECT_PIN);
}

fn ibm3624_cards_verify_their_pin_by_offset(backend: Backend) {
    let Some(mut h) = Harness::new(backend) else { return };
    let card = h.issuer.issue_card(common::IBM3624_PRODUCT, Some(100_000)).unwrap();
    // The offset sits where a PVV would on track 2: PVKI, then as many digits as the PIN.
    let offset_on_track = &card.track2[card.pan.len() + 9..card.pan.len() + 9 + card.pin.len()];
    assert!(offset_on_track.bytes().all(|b| b.is_ascii_digit()), "{}", card.track2.len());
    assert_eq!(code(&h.send(&h.purchase(&card, 1_000).pin(&h, &card).sign(&h))), codes::APPROVED);
    // The offset is as long as the PIN: its first digit is checked too.
    let mut wrong = card.pin.expose().to_vec();
    wrong[0] = if wrong[0] == b'9' { b'0' } else { wrong[0] + 1 };
    let block = h.pin_block(card.pan.as_str(), &hsm::Secret::from_vec(wrong));
    let response = h.send(&h.purchase(&card, 1_000).set_bytes(52, &block).sign(&h));
    assert_eq!(code(&response), codes::INCORRECT_PIN, "every digit is checked");
    // A PVV product's card is unaffected; after a restart each card keeps its method.
    let pvv_card = h.debit_card(10_000);
    h.reopen();
    assert_eq!(code(&h.send(&h.purchase(&pvv_card, 1_000).pin(&h, &pvv_card).sign(&h))), codes::APPROVED);
    assert_eq!(code(&h.send(&h.purchase(&card, 500).pin(&h, &card).sign(&h))), codes::APPROVED);
}

fn stripe_cvv_is_checked(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    // A CVV is three digits: for one card in a thousand the downgraded service code's CVV, or
    // the chip's iCVV, equals the stripe's, and no issuer can tell the copies apart. Such a
    // card proves nothing here: take the first card where they differ.
    let cvk = hsm::WrappedKey::from_block(h.config.keys.cvk.clone()).unwrap();
    let cvv_at = |track: &str, pan_len: usize| track[pan_len + 1 + 4 + 3 + 5..][..3].to_owned();
    let card = (0..CARDS_TRIED_MAX)
        .map(|_| h.debit_card(100_000))
        .find(|card| {
            let stripe = cvv_at(&card.track2, card.pan.as_str().len());
            let downgraded =
                hsm::SecurityModule::generate_cvv(h.hsm.as_ref(), &cvk, card.pan.as_str(), &card.expiry_yymm, "101")
                    .unwrap();
            stripe != downgraded && stripe != cvv_at(&card.chip_track2, card.pan.as_str().len())
        })
        .expect("a card whose CVVs differ");
    assert_eq!(code(&h.send(&h.purchase(&card, 100).stripe(&card.track2).pin(&h, &card).sign(&h))), codes::APPROVED);
    // The CVV digits changed.
    let mut bad = card.track2.clone().into_bytes();
    let at = card.pan.len() + 1 + 4 + 3 + 5;
    bad[at] = if bad[at] == b'9' { b'0' } else { bad[at] + 1 };
    let bad = String::from_utf8(bad).unwrap();
    assert_eq!(
        code(&h.send(&h.purchase(&card, 100).stripe(&bad).pin(&h, &card).sign(&h))),
        codes::CARD_VERIFICATION_ERROR
    );
    // The service code changed (a chip card passed off as stripe-only): its CVV no longer fits.
    let downgraded = card.track2.replacen("=2803201", "=2803101", 1);
    assert_ne!(downgraded, card.track2);
    let response = h.send(&h.purchase(&card, 100).stripe(&downgraded).pin(&h, &card).sign(&h));
    assert_eq!(code(&response), codes::CARD_VERIFICATION_ERROR);
    // The chip's track 2 (iCVV) read as a stripe does not verify as a stripe.
    let response = h.send(&h.purchase(&card, 100).stripe(&card.chip_track2).pin(&h, &card).sign(&h));
    assert_eq!(code(&response), codes::CARD_VERIFICATION_ERROR);
}

fn chip_arqc_is_verified_and_answered_with_an_arpc(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(10_000);
    let (field55, keys) = h.chip_data(&card, 2_500, 7);
    let response = h.send(&h.purchase(&card, 2_500).chip(&card, &field55).pin(&h, &card).sign(&h));
    assert_eq!(code(&response), codes::APPROVED);
    // Tag 91: ARPC method 1 under the session key, ‖ ARC "00".
    let tag91 = response.get_path("55.91").unwrap().unwrap();
    let expected = hsm::emv::arpc_method1(keys.session_key.expose(), &keys.arqc, *b"00").unwrap();
    assert_eq!(&tag91[..8], &expected);
    assert_eq!(&tag91[8..], b"00");

    // The same cryptogram again (a new STAN): its ATC is not above the last one.
    let response = h.send(&h.purchase(&card, 2_500).chip(&card, &field55).pin(&h, &card).sign(&h));
    assert_eq!(code(&response), codes::CARD_VERIFICATION_ERROR);
    // A wrong cryptogram.
    let (mut bad55, _) = h.chip_data(&card, 2_500, 8);
    let last = bad55.len() - 1;
    bad55[last] ^= 0x01;
    let response = h.send(&h.purchase(&card, 2_500).chip(&card, &bad55).pin(&h, &card).sign(&h));
    assert_eq!(code(&response), codes::CARD_VERIFICATION_ERROR);
    assert!(!response.has(55), "no ARPC for a cryptogram that did not verify");
    // The stripe's track 2 in a chip read: the iCVV does not verify.
    let (field55, _) = h.chip_data(&card, 2_500, 9);
    let response =
        h.send(&h.purchase(&card, 2_500).chip(&card, &field55).set(35, &card.track2).pin(&h, &card).sign(&h));
    assert_eq!(code(&response), codes::CARD_VERIFICATION_ERROR);
    // A good cryptogram over 25.00 sent with field 4 = 90.00: it does not authorise that.
    let (field55, _) = h.chip_data(&card, 2_500, 10);
    let response = h.send(&h.purchase(&card, 9_000).chip(&card, &field55).pin(&h, &card).sign(&h));
    assert_eq!(code(&response), codes::CARD_VERIFICATION_ERROR, "9F02 is not field 4");
    assert!(!response.has(55));
    // A decline after the cryptogram verified carries an ARPC with that decline's ARC.
    let (field55, keys) = h.chip_data(&card, 9_000, 11);
    let response = h.send(&h.purchase(&card, 9_000).chip(&card, &field55).pin(&h, &card).sign(&h));
    assert_eq!(code(&response), codes::INSUFFICIENT_FUNDS);
    let tag91 = response.get_path("55.91").unwrap().unwrap();
    assert_eq!(&tag91[..8], &hsm::emv::arpc_method1(keys.session_key.expose(), &keys.arqc, *b"51").unwrap());
    assert_eq!(&tag91[8..], b"51");
}

fn daily_amount_and_count_limits(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(2_000_000);
    // 500 000 a day by default.
    assert_eq!(code(&h.send(&h.purchase(&card, 500_001).pin(&h, &card).sign(&h))), codes::AMOUNT_LIMIT);
    let big = h.purchase(&card, 499_000).pin(&h, &card).sign(&h);
    assert_eq!(code(&h.send(&big)), codes::APPROVED);
    assert_eq!(code(&h.send(&h.purchase(&card, 1_001).pin(&h, &card).sign(&h))), codes::AMOUNT_LIMIT);
    // 20 a day by default: 19 more fit.
    let mut last = None;
    for _ in 0..19 {
        let request = h.purchase(&card, 10).pin(&h, &card).sign(&h);
        assert_eq!(code(&h.send(&request)), codes::APPROVED);
        last = Some(request);
    }
    assert_eq!(code(&h.send(&h.purchase(&card, 10).pin(&h, &card).sign(&h))), codes::COUNT_LIMIT);
    // A reversed purchase no longer counts.
    assert_eq!(code(&h.send(&h.reversal(&card, last.as_ref().unwrap()).sign(&h))), codes::APPROVED);
    assert_eq!(code(&h.send(&h.purchase(&card, 10).pin(&h, &card).sign(&h))), codes::APPROVED);
    // The next business day starts again.
    h.clock.advance_seconds(86_400);
    assert_eq!(code(&h.send(&h.purchase(&card, 400_000).pin(&h, &card).sign(&h))), codes::APPROVED);
}

fn insufficient_funds(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(1_000);
    assert_eq!(code(&h.send(&h.purchase(&card, 1_500).pin(&h, &card).sign(&h))), codes::INSUFFICIENT_FUNDS);
    assert_eq!(code(&h.send(&h.purchase(&card, 1_000).pin(&h, &card).sign(&h))), codes::APPROVED);
    assert_eq!(code(&h.send(&h.purchase(&card, 1).pin(&h, &card).sign(&h))), codes::INSUFFICIENT_FUNDS);
    assert_eq!(h.available(&card), 0);
    // A credit card spends its line.
    let credit = h.issuer.issue_card("credit", None).unwrap();
    assert_eq!(h.available(&credit), 1_000_000);
    assert_eq!(code(&h.send(&h.purchase(&credit, 400_000).pin(&h, &credit).sign(&h))), codes::APPROVED);
    assert_eq!(h.available(&credit), 600_000);
}

fn bad_mac_is_a0_and_not_journaled(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(10_000);
    let mut tampered = h.purchase(&card, 100).pin(&h, &card).sign(&h);
    tampered.set_str(4, "000000000200").unwrap();
    let response = h.send(&tampered);
    assert_eq!(code(&response), codes::MAC_ERROR);
    assert!(h.issuer.journal_entry(&tampered).unwrap().is_none());
    let unsigned = h.purchase(&card, 100).pin(&h, &card).msg;
    assert_eq!(code(&h.send(&unsigned)), codes::MAC_ERROR, "no MAC is a MAC failure");
    assert_eq!(h.available(&card), 10_000);
    // The same request signed properly is then decided afresh.
    let mut fixed = tampered.clone();
    network::mac::sign(&*h.hsm, &h.zak, &mut fixed).unwrap();
    assert_eq!(code(&h.send(&fixed)), codes::APPROVED);
}

fn malformed_requests(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(10_000);
    let cases = [
        ("no STAN", h.purchase(&card, 100).without(11), codes::FORMAT_ERROR),
        ("no 7", h.purchase(&card, 100).without(7), codes::FORMAT_ERROR),
        ("7 not a date", h.purchase(&card, 100).set(7, "1399000000"), codes::FORMAT_ERROR),
        ("no amount", h.purchase(&card, 100).without(4), codes::FORMAT_ERROR),
        ("zero purchase", h.purchase(&card, 100).set(4, "000000000000"), codes::INVALID_AMOUNT),
        ("another currency", h.purchase(&card, 100).set(49, "840"), codes::FORMAT_ERROR),
        ("no currency", h.purchase(&card, 100).without(49), codes::FORMAT_ERROR),
        ("no PAN", h.purchase(&card, 100).without(2), codes::FORMAT_ERROR),
        ("stripe without 35", h.purchase(&card, 100).set(22, "021"), codes::FORMAT_ERROR),
        ("chip without 55", h.purchase(&card, 100).set(22, "051"), codes::FORMAT_ERROR),
        ("bad track 2", h.purchase(&card, 100).set(35, "6224=1"), codes::FORMAT_ERROR),
        ("no entry mode", h.purchase(&card, 100).without(22), codes::FORMAT_ERROR),
        // `an` on the wire, but no RRN or response code (the journal keeps the domain types).
        ("RRN with a space", h.purchase(&card, 100).set(37, "5074 6000001"), codes::FORMAT_ERROR),
        ("39 with a space", h.purchase(&card, 100).set(39, "0 "), codes::FORMAT_ERROR),
        ("cash", h.request("0200", "010000", "00", &card, 100), codes::INVALID_TRANSACTION),
        ("reversal without 90", h.request("0420", "000000", "00", &card, 100), codes::FORMAT_ERROR),
        ("completion without 90", h.request("0200", "000000", "06", &card, 100), codes::FORMAT_ERROR),
    ];
    for (what, request, expected) in cases {
        let request = request.pin(&h, &card).sign(&h);
        let response = h.send(&request);
        assert_eq!(code(&response), expected, "{what}");
        assert!(!response.has(38), "{what}: no approval code");
    }
    assert_eq!(h.available(&card), 10_000);
}

fn duplicates_replay_the_same_response(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(10_000);
    let request = h.purchase(&card, 3_000).pin(&h, &card).sign(&h);
    let first = h.send(&request);
    h.clock.advance_seconds(5);
    let again = h.send(&request);
    assert_eq!(again.encode().unwrap(), first.encode().unwrap(), "byte for byte, field 7 included");
    // A repeat (0201) of the same request is the same request.
    let mut repeat = request.clone();
    repeat.set_mti(iso8583::Mti::parse("0201").unwrap());
    network::mac::sign(&*h.hsm, &h.zak, &mut repeat).unwrap();
    assert_eq!(h.send(&repeat).encode().unwrap(), first.encode().unwrap());
    assert_eq!(h.available(&card), 7_000, "held once");
    // The same key on another message: 94.
    let mut other = request.clone();
    other.set_mti(iso8583::Mti::parse("0100").unwrap());
    other.set_str(3, "030000").unwrap();
    other.set_str(25, "06").unwrap();
    network::mac::sign(&*h.hsm, &h.zak, &mut other).unwrap();
    assert_eq!(code(&h.send(&other)), codes::DUPLICATE);
    // A declined request is replayed as declined, even once funds arrive.
    let declined = h.purchase(&card, 9_000).pin(&h, &card).sign(&h);
    assert_eq!(code(&h.send(&declined)), codes::INSUFFICIENT_FUNDS);
    h.issuer.fund(&CardRef::Id(card.card_id), 10_000).unwrap();
    assert_eq!(code(&h.send(&declined)), codes::INSUFFICIENT_FUNDS);
}

fn completion_posts_part_and_releases_the_rest(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(50_000);
    let preauth = h.preauth(&card, 10_000).pin(&h, &card).sign(&h);
    assert_eq!(code(&h.send(&preauth)), codes::APPROVED);
    assert_eq!(h.available(&card), 40_000);
    let completion = h.follow_up("0200", "000000", "06", &card, 7_000, &preauth).sign(&h);
    let response = h.send(&completion);
    assert_eq!(code(&response), codes::APPROVED);
    assert_eq!((h.ledger_balance(&card), h.available(&card)), (43_000, 43_000), "7 000 posted, 3 000 released");
    assert_eq!(h.issuer.journal_entry(&preauth).unwrap().unwrap().state, EntryState::Posted);
    assert_eq!(h.issuer.journal_entry(&completion).unwrap().unwrap().state, EntryState::Posted);
    // Completed once only.
    let again = h.follow_up("0200", "000000", "06", &card, 1_000, &preauth).sign(&h);
    assert_eq!(code(&h.send(&again)), codes::INVALID_TRANSACTION);
    // More than the hold: 13. An original that does not exist: 25.
    let second = h.preauth(&card, 5_000).pin(&h, &card).sign(&h);
    assert_eq!(code(&h.send(&second)), codes::APPROVED);
    assert_eq!(
        code(&h.send(&h.follow_up("0200", "000000", "06", &card, 5_001, &second).sign(&h))),
        codes::INVALID_AMOUNT
    );
    let never_sent = h.preauth(&card, 5_000).msg;
    assert_eq!(
        code(&h.send(&h.follow_up("0200", "000000", "06", &card, 100, &never_sent).sign(&h))),
        codes::ORIGINAL_NOT_FOUND
    );
    // A completion advice (0220) does the same, answered 0230.
    let advice = h.follow_up("0220", "000000", "06", &card, 5_000, &second).sign(&h);
    let response = h.send(&advice);
    assert_eq!((response.mti().as_str(), code(&response)), ("0230", codes::APPROVED));
    assert_eq!(h.ledger_balance(&card), 38_000);
    h.issuer.check_ledger().unwrap();
}

fn a_completion_void_gives_the_amount_back_once(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(50_000);
    let (preauth, completion) = completed(&h, &card, 10_000, 7_000);
    assert_eq!(h.ledger_balance(&card), 43_000);
    // Not the completion's amount: 13. A void naming the pre-auth, not the completion: 12.
    let partial = h.follow_up("0200", "020000", "06", &card, 6_000, &completion).sign(&h);
    assert_eq!(code(&h.send(&partial)), codes::INVALID_AMOUNT);
    let of_preauth = h.follow_up("0200", "020000", "06", &card, 10_000, &preauth).sign(&h);
    assert_eq!(code(&h.send(&of_preauth)), codes::INVALID_TRANSACTION);
    // The void: 7 000 back to the card, posted.
    let void = h.follow_up("0200", "020000", "06", &card, 7_000, &completion).sign(&h);
    assert_eq!(code(&h.send(&void)), codes::APPROVED);
    assert_eq!((h.ledger_balance(&card), h.available(&card)), (50_000, 50_000));
    // Once: a second void, or a refund of the voided completion, credits nothing more.
    let again = h.follow_up("0200", "020000", "06", &card, 7_000, &completion).sign(&h);
    assert_eq!(code(&h.send(&again)), codes::INVALID_TRANSACTION);
    let refund = h.follow_up("0200", "200000", "00", &card, 7_000, &completion).sign(&h);
    assert_eq!(code(&h.send(&refund)), codes::INVALID_AMOUNT);
    assert_eq!(h.ledger_balance(&card), 50_000);
    // Its reversal (the terminal never saw the answer) takes the credit back, once.
    assert_eq!(code(&h.send(&h.reversal(&card, &void).sign(&h))), codes::APPROVED);
    assert_eq!(code(&h.send(&h.reversal(&card, &void).sign(&h))), codes::APPROVED);
    assert_eq!(h.ledger_balance(&card), 43_000);
    // A refund of a voided purchase credits nothing either.
    let purchase = h.purchase(&card, 1_000).pin(&h, &card).sign(&h);
    assert_eq!(code(&h.send(&purchase)), codes::APPROVED);
    let purchase_void = h.follow_up("0200", "020000", "00", &card, 1_000, &purchase).sign(&h);
    assert_eq!(code(&h.send(&purchase_void)), codes::APPROVED);
    let refund = h.follow_up("0200", "200000", "00", &card, 1_000, &purchase).sign(&h);
    assert_eq!(code(&h.send(&refund)), codes::INVALID_TRANSACTION);
    assert_eq!(h.available(&card), 43_000);
    h.issuer.check_ledger().unwrap();
}

fn voids_release_holds(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(50_000);
    let purchase = h.purchase(&card, 5_000).pin(&h, &card).sign(&h);
    assert_eq!(code(&h.send(&purchase)), codes::APPROVED);
    assert_eq!(
        code(&h.send(&h.follow_up("0200", "020000", "00", &card, 4_000, &purchase).sign(&h))),
        codes::INVALID_AMOUNT,
        "a void is of the whole amount"
    );
    let void = h.follow_up("0200", "020000", "00", &card, 5_000, &purchase).sign(&h);
    assert_eq!(code(&h.send(&void)), codes::APPROVED);
    assert_eq!(h.available(&card), 50_000);
    assert_eq!(h.issuer.journal_entry(&purchase).unwrap().unwrap().state, EntryState::Voided);
    // Voided once: another void of it is refused.
    let again = h.follow_up("0200", "020000", "00", &card, 5_000, &purchase).sign(&h);
    assert_eq!(code(&h.send(&again)), codes::INVALID_TRANSACTION);
    // A pre-authorization void (0100, 02, 06) releases a pre-auth, and only a pre-auth.
    let preauth = h.preauth(&card, 8_000).pin(&h, &card).sign(&h);
    assert_eq!(code(&h.send(&preauth)), codes::APPROVED);
    let wrong_kind = h.follow_up("0200", "020000", "00", &card, 8_000, &preauth).sign(&h);
    assert_eq!(code(&h.send(&wrong_kind)), codes::INVALID_TRANSACTION);
    let void = h.follow_up("0100", "020000", "06", &card, 8_000, &preauth).sign(&h);
    let response = h.send(&void);
    assert_eq!((response.mti().as_str(), code(&response)), ("0110", codes::APPROVED));
    assert_eq!(h.available(&card), 50_000);
    h.issuer.check_ledger().unwrap();
}

fn reversal_twice_answers_the_same_and_voids_once(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(50_000);
    let purchase = h.purchase(&card, 5_000).pin(&h, &card).sign(&h);
    assert_eq!(code(&h.send(&purchase)), codes::APPROVED);
    let hold_id = h.issuer.journal_entry(&purchase).unwrap().unwrap().transfer_id.unwrap();
    let reversal = h.reversal(&card, &purchase).sign(&h);
    let first = h.send(&reversal);
    assert_eq!((first.mti().as_str(), code(&first)), ("0430", codes::APPROVED));
    assert_eq!(h.available(&card), 50_000);
    // The repeat (0421, same 11 and 7) gets the same answer.
    let repeat = repeat_of(&h, &reversal);
    assert_eq!(h.send(&repeat).encode().unwrap(), first.encode().unwrap());
    // Another reversal of the same original with its own 11 (a new leg STAN): 00 as well.
    let another = h.reversal(&card, &purchase).sign(&h);
    assert_eq!(code(&h.send(&another)), codes::APPROVED);
    // The ledger: the hold voided, by one void transfer.
    let hold = h.issuer.ledger_transfer(hold_id).unwrap().unwrap();
    assert_eq!(hold.status, ledger::PendingStatus::Voided);
    let first_void = h.issuer.journal_entry(&reversal).unwrap().unwrap().transfer_id.unwrap();
    let purchase_key = h.issuer.request_key(&purchase).unwrap();
    assert_eq!(first_void, issuer::money::transfer_id(issuer::money::TransferRole::ReverseHold, &purchase_key));
    let void = h.issuer.ledger_transfer(first_void).unwrap().unwrap();
    assert_eq!((void.transfer.pending_id, void.transfer.amount), (hold_id, 5_000));
    let second = h.issuer.journal_entry(&another).unwrap().unwrap();
    assert_eq!((second.state, second.transfer_id), (EntryState::Recorded, None), "nothing left to void");
    assert_eq!(h.available(&card), 50_000);
    assert_eq!(h.ledger_balance(&card), 50_000);
    assert_eq!(h.issuer.journal_entry(&purchase).unwrap().unwrap().state, EntryState::Voided);
    h.issuer.check_ledger().unwrap();
    // A reversal of a completion gives the money back.
    let (_, completion) = completed(&h, &card, 6_000, 6_000);
    assert_eq!(h.ledger_balance(&card), 44_000);
    assert_eq!(code(&h.send(&h.reversal(&card, &completion).sign(&h))), codes::APPROVED);
    assert_eq!(code(&h.send(&h.reversal(&card, &completion).sign(&h))), codes::APPROVED);
    assert_eq!(h.ledger_balance(&card), 50_000, "given back once");
    h.issuer.check_ledger().unwrap();
}

fn reversal_of_an_unknown_original_is_recorded(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(50_000);
    let never_sent = h.purchase(&card, 5_000).pin(&h, &card).msg;
    let reversal = h.reversal(&card, &never_sent).sign(&h);
    assert_eq!(code(&h.send(&reversal)), codes::APPROVED);
    let entry = h.issuer.journal_entry(&reversal).unwrap().unwrap();
    assert_eq!((entry.kind.as_str(), entry.state, entry.transfer_id), ("reversal", EntryState::Recorded, None));
    assert!(entry.original_key.is_some());
    assert_eq!(h.available(&card), 50_000);
    // The original arriving late (after its reversal) must not hold funds nobody will reverse
    // again: declined 05, journaled as already reversed.
    let late = never_sent.clone().tap_sign(&h);
    let response = h.send(&late);
    assert_eq!((response.mti().as_str(), code(&response)), ("0210", issuer::issuer::ALREADY_REVERSED));
    assert_eq!(issuer::issuer::ALREADY_REVERSED, codes::DO_NOT_HONOUR);
    assert!(response.get_str(38).is_none(), "no approval code");
    let entry = h.issuer.journal_entry(&late).unwrap().unwrap();
    assert_eq!(
        (entry.kind.as_str(), entry.response_code.as_str(), entry.state, entry.transfer_id),
        ("purchase", codes::DO_NOT_HONOUR, EntryState::AlreadyReversed, None)
    );
    assert_eq!(h.available(&card), 50_000, "nothing held");
    // Its repeat is a duplicate: the same answer, still nothing held.
    assert_eq!(h.send(&late).encode().unwrap(), response.encode().unwrap());
    assert_eq!(h.available(&card), 50_000);
    // The reversal itself is untouched, and an original nobody reversed still approves.
    assert_eq!(h.issuer.journal_entry(&reversal).unwrap().unwrap().state, EntryState::Recorded);
    assert_eq!(code(&h.send(&h.purchase(&card, 5_000).pin(&h, &card).sign(&h))), codes::APPROVED);
    assert_eq!(h.available(&card), 45_000);

    // A stand-in advice whose reversal came first: acknowledged (the switch decided, the
    // issuer does not decline an advice), recorded as already reversed, nothing held.
    let advice = h.request("0220", "000000", "00", &card, 7_000).set(39, "00").set(38, "SW0001").msg;
    assert_eq!(code(&h.send(&h.reversal(&card, &advice).sign(&h))), codes::APPROVED);
    let advice = advice.tap_sign(&h);
    let response = h.send(&advice);
    assert_eq!((response.mti().as_str(), code(&response)), ("0230", codes::APPROVED));
    let entry = h.issuer.journal_entry(&advice).unwrap().unwrap();
    assert_eq!(
        (entry.response_code.as_str(), entry.state, entry.transfer_id),
        ("00", EntryState::AlreadyReversed, None)
    );
    assert_eq!(h.available(&card), 45_000, "the advice held nothing");
    h.issuer.check_ledger().unwrap();
}

/// Sign a message that was built unsigned.
trait TapSign {
    fn tap_sign(self, h: &Harness) -> iso8583::Message;
}

impl TapSign for iso8583::Message {
    fn tap_sign(mut self, h: &Harness) -> iso8583::Message {
        network::mac::sign(&*h.hsm, &h.zak, &mut self).unwrap();
        self
    }
}

fn partial_reversal_posts_the_replacement(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(50_000);
    let purchase = h.purchase(&card, 10_000).pin(&h, &card).sign(&h);
    assert_eq!(code(&h.send(&purchase)), codes::APPROVED);
    let replacement = format!("{:012}{}", 6_000, "0".repeat(30));
    let reversal = h.reversal(&card, &purchase).set(95, &replacement).sign(&h);
    assert_eq!(code(&h.send(&reversal)), codes::APPROVED);
    assert_eq!((h.ledger_balance(&card), h.available(&card)), (44_000, 44_000), "6 000 kept, 4 000 released");
    assert_eq!(h.issuer.journal_entry(&purchase).unwrap().unwrap().state, EntryState::Posted);
    h.issuer.check_ledger().unwrap();
}

fn refunds_credit_the_card(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(50_000);
    let purchase = h.purchase(&card, 5_000).pin(&h, &card).sign(&h);
    assert_eq!(code(&h.send(&purchase)), codes::APPROVED);
    let refund = h.follow_up("0200", "200000", "00", &card, 2_000, &purchase).sign(&h);
    assert_eq!(code(&h.send(&refund)), codes::APPROVED);
    assert_eq!(h.ledger_balance(&card), 52_000, "posted credit");
    assert_eq!(h.issuer.journal_entry(&refund).unwrap().unwrap().state, EntryState::Refunded);
    assert_eq!(h.issuer.journal_entry(&purchase).unwrap().unwrap().refunded_minor, 2_000);
    // Not beyond the original.
    let too_much = h.follow_up("0200", "200000", "00", &card, 3_001, &purchase).sign(&h);
    assert_eq!(code(&h.send(&too_much)), codes::INVALID_AMOUNT);
    // Without an original (90 is optional on a refund).
    let unreferenced = h.request("0200", "200000", "00", &card, 1_000).without(14).sign(&h);
    assert_eq!(code(&h.send(&unreferenced)), codes::APPROVED);
    assert_eq!(h.ledger_balance(&card), 53_000);
    // A refund is not reversible (reference §6): its reversal is refused 12 and the credit
    // stands — unless the sender never had its answer (39 = 98, a timeout reversal): then the
    // money is taken back, once.
    assert_eq!(code(&h.send(&h.reversal(&card, &unreferenced).sign(&h))), codes::INVALID_TRANSACTION);
    assert_eq!(h.ledger_balance(&card), 53_000);
    assert_eq!(code(&h.send(&h.reversal(&card, &unreferenced).set(39, "98").sign(&h))), codes::APPROVED);
    assert_eq!(code(&h.send(&h.reversal(&card, &unreferenced).set(39, "98").sign(&h))), codes::APPROVED);
    assert_eq!(h.ledger_balance(&card), 52_000);
    h.issuer.check_ledger().unwrap();
}

fn balance_inquiry_answers_field_54(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(12_345);
    assert_eq!(code(&h.send(&h.purchase(&card, 345).pin(&h, &card).sign(&h))), codes::APPROVED);
    let request = h.balance_inquiry(&card).pin(&h, &card).sign(&h);
    let response = h.send(&request);
    assert_eq!(code(&response), codes::APPROVED);
    assert_eq!(response.get_str(54), Some("0001156C0000000123450002156C000000012000"));
    // Without the PIN: 55 and no balance.
    let response = h.send(&h.balance_inquiry(&card).sign(&h));
    assert_eq!(code(&response), codes::INCORRECT_PIN);
    assert!(!response.has(54));
    // On a financial MTI too (0200, 31).
    let response = h.send(&h.request("0200", "311000", "00", &card, 0).pin(&h, &card).sign(&h));
    assert_eq!(response.get_str(54), Some("1001156C0000000123451002156C000000012000"));
}

fn stand_in_advices_are_recorded_as_decided(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(10_000);
    // The switch approved a pre-authorization on the issuer's behalf.
    let advice = h.request("0120", "030000", "06", &card, 3_000).set(39, "00").set(38, "SW1234").sign(&h);
    let response = h.send(&advice);
    assert_eq!((response.mti().as_str(), code(&response)), ("0130", codes::APPROVED));
    let entry = h.issuer.journal_entry(&advice).unwrap().unwrap();
    assert_eq!((entry.response_code.as_str(), entry.auth_code.as_deref()), ("00", Some("SW1234")));
    assert_eq!(entry.state, EntryState::Held);
    assert_eq!(h.available(&card), 7_000);
    // Its repeat (0121) is the same advice: recorded once.
    let mut repeat = advice.clone();
    repeat.set_mti(iso8583::Mti::parse("0121").unwrap());
    network::mac::sign(&*h.hsm, &h.zak, &mut repeat).unwrap();
    assert_eq!(h.send(&repeat).encode().unwrap(), response.encode().unwrap());
    assert_eq!(h.available(&card), 7_000);
    // A stand-in decline is recorded, nothing held.
    let declined = h.request("0120", "030000", "06", &card, 3_000).set(39, "51").sign(&h);
    assert_eq!(code(&h.send(&declined)), codes::APPROVED);
    let entry = h.issuer.journal_entry(&declined).unwrap().unwrap();
    assert_eq!((entry.response_code.as_str(), entry.state), ("51", EntryState::Declined));
    assert_eq!(h.available(&card), 7_000);
    // An approval beyond the funds is never declined: held in full, the shortfall lent.
    let purchase = h.request("0220", "000000", "00", &card, 9_000).set(39, "00").set(38, "SW5678").sign(&h);
    let response = h.send(&purchase);
    assert_eq!((response.mti().as_str(), code(&response)), ("0230", codes::APPROVED));
    assert_eq!(h.available(&card), 0);
    let hold = h.issuer.journal_entry(&purchase).unwrap().unwrap().transfer_id.unwrap();
    assert_eq!(h.issuer.ledger_transfer(hold).unwrap().unwrap().transfer.amount, 9_000);
    // A stand-in approval can be reversed like any other.
    assert_eq!(code(&h.send(&h.reversal(&card, &purchase).sign(&h))), codes::APPROVED);
    assert_eq!(h.available(&card), 9_000, "the 2 000 lent stay on the card's account");
    h.issuer.check_ledger().unwrap();
}

fn restart_keeps_state(backend: Backend) {
    let Some(mut h) = Harness::new(backend) else { return };
    let card = h.debit_card(50_000);
    let purchase = h.purchase(&card, 5_000).pin(&h, &card).sign(&h);
    let first = h.send(&purchase);
    assert_eq!(code(&h.send(&h.purchase(&card, 100).wrong_pin(&h, &card).sign(&h))), codes::INCORRECT_PIN);
    h.reopen();
    assert_eq!(h.send(&purchase).encode().unwrap(), first.encode().unwrap(), "the journal survived");
    let summary = h.issuer.card(&CardRef::Pan(card.pan)).unwrap();
    assert_eq!((summary.pin_tries, summary.available_minor), (1, 45_000));
    assert_eq!(code(&h.send(&h.reversal(&card, &purchase).sign(&h))), codes::APPROVED);
    assert_eq!(h.available(&card), 50_000);
    assert_eq!(code(&h.send(&h.purchase(&card, 100).pin(&h, &card).sign(&h))), codes::APPROVED);
    h.issuer.check_ledger().unwrap();
}

/// The crash window between a separate ledger and the journal (a configuration that keeps
/// `ledger = URL`): a hold in the ledger under the request's derived id, no journal row, no
/// answer. A repeat of the request finishes it (held once); a reversal of a request whose hold
/// is orphaned voids it. (With the ledger in the issuer's database the window is gone:
/// `a_failed_journal_write_leaves_no_hold`.)
fn a_hold_without_journal_row_is_recovered_not_doubled(backend: Backend) {
    let Some(h) = Harness::with_separate_ledger(backend) else { return };
    let card = h.debit_card(50_000);
    let account = h.issuer.card(&CardRef::Id(card.card_id)).unwrap().account_id;
    let orphan = |request: &iso8583::Message, amount: u64| {
        // What the crashed attempt left: the hold, written by the ledger, under the same id.
        let key = h.issuer.request_key(request).unwrap();
        let id = issuer::money::transfer_id(issuer::money::TransferRole::Hold, &key);
        let settlement = issuer::money::settlement_account_id(156);
        let mut hold = ledger::Transfer::new(id, account, settlement, amount, 156, issuer::money::TRANSFER_PURCHASE)
            .with_flags(ledger::TransferFlags::PENDING);
        hold.timeout = 30 * 86_400;
        hold.user_data_64 = card.card_id as u64;
        h.write_ledger(hold);
    };
    let request = h.purchase(&card, 4_000).pin(&h, &card).sign(&h);
    orphan(&request, 4_000);
    assert_eq!(h.available(&card), 46_000);
    let response = h.send(&request);
    assert_eq!(code(&response), codes::APPROVED, "the repeat finishes the crashed approval");
    assert_eq!(h.available(&card), 46_000, "held once");
    assert_eq!(h.issuer.journal_entry(&request).unwrap().unwrap().state, EntryState::Held);

    let lost = h.purchase(&card, 7_000).pin(&h, &card).sign(&h);
    orphan(&lost, 7_000);
    assert_eq!(h.available(&card), 39_000);
    assert_eq!(code(&h.send(&h.reversal(&card, &lost).sign(&h))), codes::APPROVED);
    assert_eq!(h.available(&card), 46_000, "the reversal found the orphaned hold by its derived id");
    h.issuer.check_ledger().unwrap();
}

/// Make every journal insert fail (`on`), or stop that, from another connection: a journal
/// write that fails after the request's ledger movement.
fn fail_journal_writes(h: &Harness, backend: Backend, on: bool) {
    let db = sqlstore::Database::open(&h.config.database).unwrap();
    let statements: &[&str] = match (backend, on) {
        (Backend::Sqlite, true) => &["CREATE TRIGGER fail_journal BEFORE INSERT ON issuer_authorizations \
              BEGIN SELECT RAISE(ABORT, 'injected journal failure'); END"],
        (Backend::Sqlite, false) => &["DROP TRIGGER fail_journal"],
        (Backend::Postgres, true) => &[
            "CREATE FUNCTION fail_journal() RETURNS trigger AS $body$ \
             BEGIN RAISE EXCEPTION 'injected journal failure'; END $body$ LANGUAGE plpgsql",
            "CREATE TRIGGER fail_journal BEFORE INSERT ON issuer_authorizations \
             FOR EACH ROW EXECUTE FUNCTION fail_journal()",
        ],
        (Backend::Postgres, false) => {
            &["DROP TRIGGER fail_journal ON issuer_authorizations", "DROP FUNCTION fail_journal()"]
        }
    };
    db.transaction(|tx| {
        for statement in statements {
            tx.execute(statement, &[])?;
        }
        Ok(())
    })
    .unwrap();
}

/// The ledger in the issuer's database: a purchase whose journal write fails is answered 96 and
/// leaves nothing — no hold, no journal row — because hold and row are one commit. Its repeat
/// is approved and held once.
fn a_failed_journal_write_leaves_no_hold(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(50_000);
    let request = h.purchase(&card, 4_000).pin(&h, &card).sign(&h);
    let key = h.issuer.request_key(&request).unwrap();
    let hold_id = issuer::money::transfer_id(issuer::money::TransferRole::Hold, &key);
    fail_journal_writes(&h, backend, true);
    assert_eq!(code(&h.send(&request)), codes::SYSTEM_MALFUNCTION);
    assert_eq!(h.available(&card), 50_000, "nothing held");
    assert!(h.issuer.ledger_transfer(hold_id).unwrap().is_none(), "the hold rolled back with the journal row");
    assert!(h.issuer.journal_entry(&request).unwrap().is_none());
    fail_journal_writes(&h, backend, false);
    assert_eq!(code(&h.send(&request)), codes::APPROVED);
    assert_eq!(h.available(&card), 46_000, "held once");
    let hold = h.issuer.ledger_transfer(hold_id).unwrap().unwrap();
    assert_eq!(hold.status, ledger::PendingStatus::Pending);
    h.issuer.check_ledger().unwrap();
}

/// A separate ledger (`ledger = URL`) committed the hold before the journal failed: the issuer
/// voids it before answering 96, so a decline nobody will reverse holds nothing.
fn a_failed_journal_write_releases_a_separate_ledgers_hold(backend: Backend) {
    let Some(h) = Harness::with_separate_ledger(backend) else { return };
    let card = h.debit_card(50_000);
    let request = h.purchase(&card, 4_000).pin(&h, &card).sign(&h);
    let key = h.issuer.request_key(&request).unwrap();
    let hold_id = issuer::money::transfer_id(issuer::money::TransferRole::Hold, &key);
    fail_journal_writes(&h, backend, true);
    assert_eq!(code(&h.send(&request)), codes::SYSTEM_MALFUNCTION);
    assert_eq!(h.available(&card), 50_000, "the hold was released");
    assert_eq!(h.issuer.ledger_transfer(hold_id).unwrap().unwrap().status, ledger::PendingStatus::Voided);
    assert!(h.issuer.journal_entry(&request).unwrap().is_none());
    fail_journal_writes(&h, backend, false);
    h.issuer.check_ledger().unwrap();
}

fn card_management(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(1_000);
    assert!(
        card.pan.as_str().starts_with("622424") && card.pan.len() == 16 && hsm::card::luhn_valid(card.pan.as_str())
    );
    assert_eq!(card.pin.len(), 6);
    assert!(card.track2.starts_with(&format!("{}=2803201", card.pan.as_str())));
    assert_eq!(card.track2.len(), 16 + 1 + 4 + 3 + 1 + 4 + 3 + 3);
    assert_eq!(&card.track2[..25], &card.chip_track2[..25], "the same but for the CVV");
    let shown = format!("{card:?}");
    assert!(!shown.contains(card.pan.as_str()), "{shown}");
    // The CVV2 and PIN are short digit runs: look for them outside the masked PAN, whose own
    // digits may contain them by chance.
    let outside_pan = shown.replace(&iso8583::mask::mask_pan(card.pan.as_str()), "");
    assert!(!outside_pan.contains(&card.cvv2) && !outside_pan.contains("cvv"), "{shown}");
    assert!(!outside_pan.contains(std::str::from_utf8(card.pin.expose()).unwrap()) && !outside_pan.contains("pin"));

    let credit = h.issuer.issue_card("credit", None).unwrap();
    assert!(h.issuer.issue_card("credit", Some(5)).unwrap_err().is_bad_input());
    assert!(h.issuer.issue_card("platinum", None).unwrap_err().is_bad_input());
    let cards = h.issuer.list_cards().unwrap();
    assert_eq!(cards.len(), 2);
    assert_eq!(cards[0].pan_masked, iso8583::mask::mask_pan(card.pan.as_str()));
    assert_eq!((cards[1].card_id, cards[1].available_minor), (credit.card_id, 1_000_000));
    assert!(!format!("{cards:?}").contains(card.pan.as_str()));

    let balance = h.issuer.fund(&CardRef::Pan(card.pan), 2_500).unwrap();
    assert_eq!((balance.ledger_minor, balance.available_minor), (3_500, 3_500));
    assert!(h.issuer.fund(&CardRef::Id(card.card_id), 0).unwrap_err().is_bad_input());
    assert!(matches!(h.issuer.card(&CardRef::Id(999)).unwrap_err(), issuer::IssuerError::UnknownCard));
    let unknown = format!("{}0", &card.pan.as_str()[..15]);
    let unknown = if hsm::card::luhn_valid(&unknown) {
        unknown
    } else {
        format!("{}{}", &card.pan.as_str()[..15], hsm::card::luhn_check_digit(&card.pan.as_str()[..15]).unwrap())
    };
    if unknown != card.pan.as_str() {
        assert!(h.issuer.card(&CardRef::Pan(unknown.parse().unwrap())).is_err());
    }
    let blocked = h.issuer.set_status(&CardRef::Id(card.card_id), CardStatus::Blocked).unwrap();
    assert_eq!(blocked.status, CardStatus::Blocked);
    let _ = Secret::new(b"unused");
    h.issuer.check_ledger().unwrap();
}

fn excluded_ranges_of_the_bin_are_never_issued(backend: Backend) {
    let Some(mut h) = Harness::new(backend) else { return };
    // Half the BIN's range belongs to someone else (a longer BIN the switch routes elsewhere).
    let excluded: Vec<String> = (0..5).map(|digit| format!("622424{digit}")).collect();
    h.config.products[0].excluded_prefixes = excluded.clone();
    h.reopen();
    for _ in 0..20 {
        let card = h.debit_card(0);
        assert!(!excluded.iter().any(|prefix| card.pan.as_str().starts_with(prefix.as_str())), "{card:?}");
    }
}

/// Reverse `original` (with 39 = `reason` when given).
fn reverse(h: &Harness, card: &issuer::IssuedCard, original: &iso8583::Message, reason: Option<&str>) -> String {
    let request = match reason {
        Some(reason) => h.reversal(card, original).set(39, reason).sign(h),
        None => h.reversal(card, original).sign(h),
    };
    code(&h.send(&request)).to_owned()
}

fn a_reversed_void_puts_the_hold_back(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(50_000);
    // Purchase, void, and the void's reversal (its answer was lost at the terminal).
    let purchase = approved(&h, h.purchase(&card, 5_000).pin(&h, &card).sign(&h));
    let first_hold = h.issuer.journal_entry(&purchase).unwrap().unwrap().transfer_id.unwrap();
    let void = approved(&h, h.follow_up("0200", "020000", "00", &card, 5_000, &purchase).sign(&h));
    assert_eq!(h.available(&card), 50_000);
    let reversal = h.reversal(&card, &void).sign(&h);
    let answer = h.send(&reversal);
    assert_eq!(code(&answer), codes::APPROVED);
    assert_eq!(h.available(&card), 45_000, "the sale stands again: held");
    let sale = h.issuer.journal_entry(&purchase).unwrap().unwrap();
    assert_eq!(sale.state, EntryState::Held);
    let new_hold = sale.transfer_id.unwrap();
    assert_ne!(new_hold, first_hold, "a voided pending transfer is not un-voided: a new hold");
    let hold = h.issuer.ledger_transfer(new_hold).unwrap().unwrap();
    assert_eq!((hold.status, hold.transfer.amount), (ledger::PendingStatus::Pending, 5_000));
    assert_eq!(h.issuer.journal_entry(&void).unwrap().unwrap().state, EntryState::Reversed);
    // Its repeat (same 11/7) and another reversal of the void (new 11): once.
    let repeat = repeat_of(&h, &reversal);
    assert_eq!(h.send(&repeat).encode().unwrap(), answer.encode().unwrap());
    assert_eq!(reverse(&h, &card, &void, None), codes::APPROVED);
    assert_eq!(h.available(&card), 45_000);
    // The sale can be voided again, and that releases the new hold.
    approved(&h, h.follow_up("0200", "020000", "00", &card, 5_000, &purchase).sign(&h));
    assert_eq!(h.available(&card), 50_000);
    h.issuer.check_ledger().unwrap();

    // A pre-auth void reversed: the pre-auth holds again and can be completed.
    let preauth = approved(&h, h.preauth(&card, 8_000).pin(&h, &card).sign(&h));
    let void = approved(&h, h.follow_up("0100", "020000", "06", &card, 8_000, &preauth).sign(&h));
    assert_eq!(h.available(&card), 50_000);
    assert_eq!(reverse(&h, &card, &void, None), codes::APPROVED);
    assert_eq!(h.available(&card), 42_000);
    let completion = approved(&h, h.follow_up("0200", "000000", "06", &card, 8_000, &preauth).sign(&h));
    assert_eq!((h.ledger_balance(&card), h.available(&card)), (42_000, 42_000));

    // A completion void reversed: the credit goes, and the completion can be voided again.
    let void = approved(&h, h.follow_up("0200", "020000", "06", &card, 8_000, &completion).sign(&h));
    assert_eq!(h.ledger_balance(&card), 50_000);
    assert_eq!(reverse(&h, &card, &void, None), codes::APPROVED);
    assert_eq!(h.ledger_balance(&card), 42_000);
    assert_eq!(h.issuer.journal_entry(&completion).unwrap().unwrap().refunded_minor, 0);
    let again = h.follow_up("0200", "020000", "06", &card, 8_000, &completion).sign(&h);
    assert_eq!(code(&h.send(&again)), codes::APPROVED, "the completion stands again");
    assert_eq!(h.ledger_balance(&card), 50_000);
    h.issuer.check_ledger().unwrap();
}

/// What a row of the issuer's reversal table reverses, made on the card.
#[derive(Debug, Clone, Copy)]
enum Reversed {
    Sale,
    VoidedSale,
    RefundedSale,
    Refund,
    TimedOutRefund,
    Balance,
    CompletedPreAuth,
    VoidedCompletion,
}

/// The issuer rows of docs/network-flows.md §5.3 that refuse or act on a reversal:
/// (reversed, 39 of the reversal, answer, change of the card's available balance).
const ISSUER_REVERSAL_TABLE: [(Reversed, Option<&str>, &str, i64); 8] = [
    (Reversed::Sale, None, codes::APPROVED, 5_000),
    (Reversed::VoidedSale, None, codes::INVALID_TRANSACTION, 0),
    (Reversed::RefundedSale, None, codes::INVALID_TRANSACTION, 0),
    (Reversed::Refund, Some("06"), codes::INVALID_TRANSACTION, 0),
    (Reversed::TimedOutRefund, Some("98"), codes::APPROVED, -2_000),
    (Reversed::Balance, None, codes::INVALID_TRANSACTION, 0),
    (Reversed::CompletedPreAuth, None, codes::INVALID_TRANSACTION, 0),
    (Reversed::VoidedCompletion, None, codes::INVALID_TRANSACTION, 0),
];

fn reversals_follow_the_issuer_table(backend: Backend) {
    for (reversed, reason, expected, delta) in ISSUER_REVERSAL_TABLE {
        let Some(h) = Harness::new(backend) else { return };
        let card = h.debit_card(50_000);
        let approve = |message: &iso8583::Message| assert_eq!(code(&h.send(message)), codes::APPROVED, "{reversed:?}");
        let purchase = h.purchase(&card, 5_000).pin(&h, &card).sign(&h);
        let preauth = h.preauth(&card, 6_000).pin(&h, &card).sign(&h);
        let target = match reversed {
            Reversed::Sale => {
                approve(&purchase);
                purchase.clone()
            }
            Reversed::VoidedSale => {
                approve(&purchase);
                approve(&h.follow_up("0200", "020000", "00", &card, 5_000, &purchase).sign(&h));
                purchase.clone()
            }
            Reversed::RefundedSale | Reversed::Refund | Reversed::TimedOutRefund => {
                approve(&purchase);
                let refund = h.follow_up("0200", "200000", "00", &card, 2_000, &purchase).sign(&h);
                approve(&refund);
                if matches!(reversed, Reversed::RefundedSale) { purchase.clone() } else { refund }
            }
            Reversed::Balance => {
                let inquiry = h.balance_inquiry(&card).pin(&h, &card).sign(&h);
                approve(&inquiry);
                inquiry
            }
            Reversed::CompletedPreAuth | Reversed::VoidedCompletion => {
                approve(&preauth);
                let completion = h.follow_up("0200", "000000", "06", &card, 6_000, &preauth).sign(&h);
                approve(&completion);
                if matches!(reversed, Reversed::CompletedPreAuth) {
                    preauth.clone()
                } else {
                    approve(&h.follow_up("0200", "020000", "06", &card, 6_000, &completion).sign(&h));
                    completion
                }
            }
        };
        let before = h.available(&card);
        let entry_before = h.issuer.journal_entry(&target).unwrap().unwrap();
        assert_eq!(reverse(&h, &card, &target, reason), expected, "{reversed:?}");
        assert_eq!(h.available(&card) - before, delta, "{reversed:?}");
        if expected != codes::APPROVED {
            assert_eq!(h.issuer.journal_entry(&target).unwrap().unwrap(), entry_before, "{reversed:?}: untouched");
        }
        if matches!(reversed, Reversed::TimedOutRefund) {
            assert_eq!(h.issuer.journal_entry(&purchase).unwrap().unwrap().refunded_minor, 0, "refundable again");
        }
        h.issuer.check_ledger().unwrap();
    }
}

fn a_reversed_completion_holds_the_pre_auth_again(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(50_000);
    let preauth = approved(&h, h.preauth(&card, 10_000).pin(&h, &card).sign(&h));
    let completion = approved(&h, h.follow_up("0200", "000000", "06", &card, 7_000, &preauth).sign(&h));
    assert_eq!((h.ledger_balance(&card), h.available(&card)), (43_000, 43_000));
    // The completion reversed: its 7 000 back, and the pre-auth stands again as the acquirer
    // and the terminal now see it (open, completable up to 10 000): held anew.
    assert_eq!(reverse(&h, &card, &completion, None), codes::APPROVED);
    assert_eq!((h.ledger_balance(&card), h.available(&card)), (50_000, 40_000));
    let entry = h.issuer.journal_entry(&preauth).unwrap().unwrap();
    assert_eq!(entry.state, EntryState::Held);
    let hold = h.issuer.ledger_transfer(entry.transfer_id.unwrap()).unwrap().unwrap();
    assert_eq!((hold.status, hold.transfer.amount), (ledger::PendingStatus::Pending, 10_000));
    assert_eq!(h.issuer.journal_entry(&completion).unwrap().unwrap().state, EntryState::Reversed);
    // Once, whatever the repeats.
    assert_eq!(reverse(&h, &card, &completion, None), codes::APPROVED);
    assert_eq!((h.ledger_balance(&card), h.available(&card)), (50_000, 40_000));
    // Completed again, for another amount.
    approved(&h, h.follow_up("0200", "000000", "06", &card, 6_000, &preauth).sign(&h));
    assert_eq!((h.ledger_balance(&card), h.available(&card)), (44_000, 44_000));
    h.issuer.check_ledger().unwrap();
}

/// Send `request`, which must be approved; the request.
fn approved(h: &Harness, request: iso8583::Message) -> iso8583::Message {
    assert_eq!(code(&h.send(&request)), codes::APPROVED);
    request
}

/// A pre-auth of `held` completed for `posted`, both approved: (pre-auth, completion).
fn completed(h: &Harness, card: &issuer::IssuedCard, held: u64, posted: u64) -> (iso8583::Message, iso8583::Message) {
    let preauth = approved(h, h.preauth(card, held).pin(h, card).sign(h));
    let completion = approved(h, h.follow_up("0200", "000000", "06", card, posted, &preauth).sign(h));
    (preauth, completion)
}

/// The 0421 repeat of `message` (same 11 and 7), MAC'd again.
fn repeat_of(h: &Harness, message: &iso8583::Message) -> iso8583::Message {
    let mut repeat = message.clone();
    repeat.set_mti(iso8583::Mti::parse("0421").unwrap());
    network::mac::sign(&*h.hsm, &h.zak, &mut repeat).unwrap();
    repeat
}

fn a_refused_reversal_does_not_block_its_original(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(50_000);
    // A refund's reversal that came before the refund, not a timeout reversal: refused 12...
    let refund = h.request("0200", "200000", "00", &card, 2_000).without(14).msg;
    assert_eq!(reverse(&h, &card, &refund, Some("06")), codes::INVALID_TRANSACTION);
    // ...so it cancelled nothing: the refund, arriving now, credits the card (not 05).
    let refund = refund.tap_sign(&h);
    assert_eq!(code(&h.send(&refund)), codes::APPROVED);
    assert_eq!(h.ledger_balance(&card), 52_000);
    // A timeout reversal that came first is honoured, and the late refund is declined 05.
    let late = h.request("0200", "200000", "00", &card, 1_000).without(14).msg;
    assert_eq!(reverse(&h, &card, &late, Some("98")), codes::APPROVED);
    assert_eq!(code(&h.send(&late.tap_sign(&h))), codes::DO_NOT_HONOUR);
    assert_eq!(h.ledger_balance(&card), 52_000);
    h.issuer.check_ledger().unwrap();
}
