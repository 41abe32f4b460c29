//! The acquirer core without sockets: a scripted terminal (crates/testnet/src/pos.rs, built on
//! the codec and the HSM's algorithm functions) on one side, the test playing the switch on the
//! other. Runs on SQLite, and on PostgreSQL when CARDNET_TEST_PG is set.

mod common;

use std::sync::Arc;

use acquirer::{Acquirer, LinkFailure, MerchantRecord, MerchantStatus, Step, TerminalRecord, TerminalStatus};
use common::pos::{PosCard, PosOriginal, PosTerminal, totals48};
use common::*;
use hsm::{KeyAlgorithm, KeyType, Secret, SecurityModule, SignOnScheme};
use iso8583::{Message, ProcessingRequirement};

#[test]
fn sign_on_with_each_scheme_issues_keys_with_check_values() {
    let rig = rig("signon");
    for scheme in [SignOnScheme::Single, SignOnScheme::Double, SignOnScheme::DoubleWithTdk] {
        let mut terminal = terminal();
        let reply = rig.sign_on(&mut terminal, scheme);
        assert_eq!(code(&reply), "00");
        assert_eq!(reply.response.get(62).unwrap().len(), scheme.field62_len());
        assert_eq!(terminal.batch_no, 7, "the host's batch number is adopted");
        assert!(reply.response.get(64).is_none(), "no MAC on 0810");
        assert_eq!(reply.envelope.tpdu.unwrap().to_bytes(), [0x60, 0x00, 0x00, 0x00, 0x06], "TPDU swapped");
    }
    let state = rig.acquirer.terminal(TERMINAL).unwrap().unwrap();
    assert!(state.signed_on && state.tdk.is_some());
    assert_eq!(state.batch_no, 7, "the host's own table holds the batch");
    assert!(!state.settlement_pending, "nothing approved yet");
    assert_eq!(rig.directory.last_sign_on(TERMINAL), Some(NOW_MS), "the registry hears of the sign-on");
    // Parameter download, echo and sign-off.
    let mut terminal = terminal();
    rig.sign_on(&mut terminal, SignOnScheme::Double);
    let reply = respond(rig.send(terminal.envelope, terminal.parameters().unwrap()));
    assert_eq!(code(&reply), "00");
    let params = String::from_utf8(reply.response.get(62).unwrap().to_vec()).unwrap();
    assert!(params.starts_with("0114CARDNET COFFEE021589844015411000103045411"), "{params}");
    let mut terminal2 = terminal;
    assert_eq!(code(&respond(rig.send(terminal2.envelope, terminal2.management("301").unwrap()))), "00");
    assert_eq!(code(&respond(rig.send(terminal2.envelope, terminal2.management("002").unwrap()))), "00");
    let purchase = terminal2.purchase(&card(), 100, None).unwrap();
    let reply = respond(rig.send(terminal2.envelope, purchase));
    assert_eq!(code(&reply), "77", "signed off: sign on again");
}

/// Scheme 004: track 2 enciphered under the TDK reaches the network in clear (deciphered in the
/// HSM); a clear track from a terminal holding a TDK, an enciphered one from a terminal
/// without one, or one that cannot have been enciphered is a format error (30).
#[test]
fn scheme_004_tracks_are_deciphered_and_the_wrong_ones_refused() {
    const CLEAR: &str = "6224240000000017=28062011234567890000";
    let rig = rig("tdk");
    let mut terminal = terminal();
    rig.sign_on(&mut terminal, SignOnScheme::DoubleWithTdk);
    let request = terminal.purchase(&card(), 12_500, Some("123456")).unwrap();
    assert_eq!(request.get_path("53.3").unwrap(), Some(&b"1"[..]));
    assert_ne!(request.get_str(35), Some(CLEAR.replace('=', "D").as_str()));
    let forward = rig.forwarded(terminal.envelope, request.clone());
    assert_eq!(forward.network_request.get_str(35), Some(CLEAR));

    let refused = |mut message: Message, terminal: &PosTerminal, what: &str| {
        message.set_str(11, &format!("{:06}", 900 + what.len())).unwrap();
        terminal.mac(&mut message).unwrap();
        assert_eq!(code(&respond(rig.send(terminal.envelope, message))), "30", "{what}");
    };
    let mut clear = request.clone();
    clear.set_str(35, &CLEAR.replace('=', "D")).unwrap();
    clear.set_str(53, "2600000000000000").unwrap();
    refused(clear, &terminal, "a clear track from a terminal with a TDK");
    let mut garbled = request.clone();
    garbled.set_str(35, "6224240000000017").unwrap();
    refused(garbled, &terminal, "a track too short to have been enciphered");
    let mut old = PosTerminal::new(TERMINAL, MERCHANT, Secret::new(&TMK_CLEAR));
    rig.sign_on(&mut old, SignOnScheme::Double);
    refused(request, &old, "an enciphered track from a terminal without a TDK");
}

#[test]
fn purchase_is_forwarded_mapped_and_answered_with_a_mac() {
    let rig = rig("purchase");
    let mut terminal = terminal();
    rig.sign_on(&mut terminal, SignOnScheme::Double);
    let request = terminal.purchase(&card(), 12_500, Some("123456")).unwrap();
    let forward = rig.forwarded(terminal.envelope, request);
    let net = &forward.network_request;
    assert_eq!(net.mti().as_str(), "0200");
    assert_eq!(net.get_str(32), Some("10000000344"));
    assert_eq!(net.get_str(41), Some(TERMINAL));
    assert_eq!(net.get_str(42), Some(MERCHANT));
    assert_eq!(net.get_str(18), Some("5411"));
    assert!(net.get_str(43).unwrap().starts_with("CARDNET COFFEE"));
    assert_eq!(net.get_str(4), Some("000000012500"));
    assert_eq!(net.get_str(35), Some("6224240000000017=28062011234567890000"));
    // The PIN block is under the acquirer's ZPK now.
    let zpk_block = net.get(52).unwrap();
    let tpk_check = rig
        .hsm
        .translate_pin(&hsm::PinTranslation {
            source_key: &rig.keys.zpk,
            source_format: hsm::pinblock::PinFormat::Iso0,
            pin_block: zpk_block,
            pan: "6224240000000017",
            target_key: &rig.keys.zpk,
            target_format: hsm::pinblock::PinFormat::Iso0,
        })
        .unwrap();
    assert_eq!(tpk_check, zpk_block);
    let answer = rig.switch_answer(net, "00");
    let reply = rig.acquirer.on_network_response(forward.pending, answer, NOW_MS + 100);
    assert_eq!(code(&reply), "00");
    assert_eq!(reply.response.mti().as_str(), "0210");
    assert_eq!(reply.response.get_str(38), Some("A12345"));
    assert_eq!(reply.response.get_str(32), Some("10000000344"));
    assert!(reply.response.get_str(37).is_some());
    assert!(terminal.verify(&reply.response), "the response MAC verifies under the terminal's MAK");
    let batch = rig.acquirer.batch_transactions(TERMINAL, 7).unwrap();
    assert_eq!(batch.len(), 1);
    assert!(batch[0].approved() && batch[0].pan_masked.as_deref() == Some("622424******0017"));
    // Balance: 54 mapped back.
    let reply = rig.exchange(terminal.envelope, terminal.balance(&card(), Some("123456")).unwrap(), "00");
    assert_eq!(code(&reply), "00");
    assert_eq!(reply.response.get_str(54), Some("1002156C0000000100001001156C000000012345"), "available first");
    // A decline passes through.
    let request = terminal.purchase(&card(), 500, None).unwrap();
    let reply = rig.exchange(terminal.envelope, request, "51");
    assert_eq!(code(&reply), "51");
}

#[test]
fn terminal_checks_answer_their_codes() {
    let rig = rig("checks");
    let mut terminal = terminal();
    // Skipping sign-on: 77 and the header asks for a sign-on.
    let mut unsigned = PosTerminal::new(TERMINAL, MERCHANT, Secret::new(&TMK_CLEAR));
    let request = {
        rig.sign_on(&mut unsigned, SignOnScheme::Double);
        let mut r = unsigned.purchase(&card(), 100, None).unwrap();
        r.remove(64);
        r
    };
    // Fresh rig state: another terminal id never signed on.
    let other = PosTerminal::new("TERM0002", MERCHANT, Secret::new(&TMK_CLEAR));
    rig.directory.put_terminal(TerminalRecord {
        terminal_id: "TERM0002".into(),
        merchant_id: MERCHANT.into(),
        status: TerminalStatus::Active,
        tmk: rig.hsm.generate_key(KeyType::Tmk, KeyAlgorithm::Tdes2).unwrap(),
        batch_no: 1,
    });
    let mut skipping = request.clone();
    skipping.set_str(41, "TERM0002").unwrap();
    let reply = respond(rig.send(other.envelope, skipping));
    assert_eq!(code(&reply), "77");
    assert_eq!(reply.envelope.header.unwrap().processing_requirement(), ProcessingRequirement::SignOnAgain);
    // Unknown terminal: 97.
    let mut unknown = request.clone();
    unknown.set_str(41, "NOSUCHTM").unwrap();
    assert_eq!(code(&respond(rig.send(other.envelope, unknown))), "97");
    // Tampered MAC: A0.
    rig.sign_on(&mut terminal, SignOnScheme::Double);
    let mut tampered = terminal.purchase(&card(), 100, None).unwrap();
    tampered.set_str(4, "000000000200").unwrap();
    let reply = respond(rig.send(terminal.envelope, tampered));
    assert_eq!(code(&reply), "A0");
    assert_eq!(reply.envelope.header.unwrap().processing_requirement(), ProcessingRequirement::SignOnAgain);
    // Zero amount: 13; over the single-transaction limit: 61.
    assert_eq!(code(&respond(rig.send(terminal.envelope, terminal.purchase(&card(), 0, None).unwrap()))), "13");
    assert_eq!(code(&respond(rig.send(terminal.envelope, terminal.purchase(&card(), 1_000_001, None).unwrap()))), "61");
    // Daily limit through the default risk rule: 2 000 000 a day.
    for _ in 0..2 {
        let request = terminal.purchase(&card(), 1_000_000, None).unwrap();
        assert_eq!(code(&rig.exchange(terminal.envelope, request, "00")), "00");
    }
    assert_eq!(code(&respond(rig.send(terminal.envelope, terminal.purchase(&card(), 1, None).unwrap()))), "61");
    // Wrong batch: 77.
    terminal.batch_no = 8;
    assert_eq!(code(&respond(rig.send(terminal.envelope, terminal.purchase(&card(), 100, None).unwrap()))), "77");
    terminal.batch_no = 7;
    // Disabled terminal: 58; merchant suspended: 03.
    rig.directory.set_terminal_status(TERMINAL, TerminalStatus::Disabled);
    assert_eq!(code(&respond(rig.send(terminal.envelope, terminal.purchase(&card(), 100, None).unwrap()))), "58");
    rig.directory.set_terminal_status(TERMINAL, TerminalStatus::Active);
    rig.directory.set_merchant_status(MERCHANT, MerchantStatus::Inactive);
    assert_eq!(code(&respond(rig.send(terminal.envelope, terminal.purchase(&card(), 100, None).unwrap()))), "03");
    rig.directory.set_merchant_status(MERCHANT, MerchantStatus::Active);
    // The host asks for a sign-on: processing requirement 3 on the next answers.
    assert!(rig.acquirer.request_sign_on(TERMINAL).unwrap());
    let reply = respond(rig.send(terminal.envelope, terminal.management("301").unwrap()));
    assert_eq!(reply.envelope.header.unwrap().processing_requirement(), ProcessingRequirement::SignOnAgain);
    rig.sign_on(&mut terminal, SignOnScheme::Double);
    let reply = respond(rig.send(terminal.envelope, terminal.management("301").unwrap()));
    assert_eq!(reply.envelope.header.unwrap().processing_requirement(), ProcessingRequirement::None);
}

#[test]
fn void_refund_and_the_pre_auth_family() {
    let rig = rig("family");
    let mut terminal = terminal();
    rig.sign_on(&mut terminal, SignOnScheme::Double);
    let purchase = terminal.purchase(&card(), 10_000, None).unwrap();
    let reply = rig.exchange(terminal.envelope, purchase.clone(), "00");
    let original = PosOriginal::of(&purchase, &reply.response, terminal.batch_no);
    // A void for another amount: 64.
    assert_eq!(code(&rig.exchange(terminal.envelope, terminal.void(&card(), 9_999, &original).unwrap(), "00")), "64");
    // The void goes out as a network void naming the acquirer-leg original.
    let forward = rig.forwarded(terminal.envelope, terminal.void(&card(), 10_000, &original).unwrap());
    assert_eq!(forward.network_request.get_str(3), Some("020000"));
    assert!(forward.network_request.get_str(90).unwrap().starts_with("0200"));
    let answer = rig.switch_answer(&forward.network_request, "00");
    assert_eq!(code(&rig.acquirer.on_network_response(forward.pending, answer, NOW_MS)), "00");
    // Void of a voided purchase: 12.
    assert_eq!(code(&rig.exchange(terminal.envelope, terminal.void(&card(), 10_000, &original).unwrap(), "00")), "12");
    // Unknown original: 25.
    let nowhere = PosOriginal { batch_no: 7, trace: "999999".into(), rrn: None, auth_code: None };
    assert_eq!(code(&rig.exchange(terminal.envelope, terminal.void(&card(), 10_000, &nowhere).unwrap(), "00")), "25");

    // Refunds: partial, then beyond the original (13).
    let purchase = terminal.purchase(&card(), 5_000, None).unwrap();
    let reply = rig.exchange(terminal.envelope, purchase.clone(), "00");
    let original = PosOriginal::of(&purchase, &reply.response, terminal.batch_no);
    let forward = rig.forwarded(terminal.envelope, terminal.refund(&card(), 3_000, &original).unwrap());
    assert_eq!(forward.network_request.get_str(3), Some("200000"));
    let answer = rig.switch_answer(&forward.network_request, "00");
    let reply = rig.acquirer.on_network_response(forward.pending, answer, NOW_MS);
    assert_eq!(reply.response.mti().as_str(), "0230");
    assert_eq!(code(&reply), "00");
    assert_eq!(code(&rig.exchange(terminal.envelope, terminal.refund(&card(), 2_001, &original).unwrap(), "00")), "13");
    assert_eq!(code(&rig.exchange(terminal.envelope, terminal.refund(&card(), 2_000, &original).unwrap(), "00")), "00");

    // Pre-auth, completion (auth code required), pre-auth void.
    let preauth = terminal.pre_auth(&card(), 20_000, None).unwrap();
    let reply = rig.exchange(terminal.envelope, preauth.clone(), "00");
    assert_eq!(reply.response.mti().as_str(), "0110");
    let original = PosOriginal::of(&preauth, &reply.response, terminal.batch_no);
    let mut wrong_auth = original.clone();
    wrong_auth.auth_code = Some("ZZZZZZ".into());
    assert_eq!(
        code(&rig.exchange(terminal.envelope, terminal.completion(&card(), 15_000, &wrong_auth, false).unwrap(), "00")),
        "25"
    );
    assert_eq!(
        code(&rig.exchange(terminal.envelope, terminal.completion(&card(), 20_001, &original, false).unwrap(), "00")),
        "64"
    );
    let forward = rig.forwarded(terminal.envelope, terminal.completion(&card(), 15_000, &original, false).unwrap());
    assert_eq!(forward.network_request.get_str(25), Some("06"));
    let answer = rig.switch_answer(&forward.network_request, "00");
    assert_eq!(code(&rig.acquirer.on_network_response(forward.pending, answer, NOW_MS)), "00");
    assert_eq!(
        code(&rig.exchange(terminal.envelope, terminal.completion(&card(), 1_000, &original, true).unwrap(), "00")),
        "12"
    );
    let preauth = terminal.pre_auth(&card(), 7_000, None).unwrap();
    let reply = rig.exchange(terminal.envelope, preauth.clone(), "00");
    let original = PosOriginal::of(&preauth, &reply.response, terminal.batch_no);
    let forward = rig.forwarded(terminal.envelope, terminal.pre_auth_void(&card(), 7_000, &original).unwrap());
    assert_eq!(forward.network_request.mti().as_str(), "0100");
    assert_eq!(forward.network_request.get_str(3), Some("020000"));
    let answer = rig.switch_answer(&forward.network_request, "00");
    assert_eq!(code(&rig.acquirer.on_network_response(forward.pending, answer, NOW_MS)), "00");
    // Completion advice goes out as 0220.
    let preauth = terminal.pre_auth(&card(), 3_000, None).unwrap();
    let reply = rig.exchange(terminal.envelope, preauth.clone(), "00");
    let original = PosOriginal::of(&preauth, &reply.response, terminal.batch_no);
    let advice = terminal.completion(&card(), 3_000, &original, true).unwrap();
    let forward = rig.forwarded(terminal.envelope, advice.clone());
    assert_eq!(forward.network_request.mti().as_str(), "0220");
    let answer = rig.switch_answer(&forward.network_request, "00");
    let reply = rig.acquirer.on_network_response(forward.pending, answer, NOW_MS);
    assert_eq!(code(&reply), "00");

    // Completion void: for the completion's whole amount (64 otherwise), out as a network
    // void with 25 = 06 naming the completion's leg, once (12 after).
    let completed = PosOriginal {
        auth_code: original.auth_code.clone(),
        ..PosOriginal::of(&advice, &reply.response, terminal.batch_no)
    };
    assert_eq!(
        code(&rig.exchange(terminal.envelope, terminal.completion_void(&card(), 2_999, &completed).unwrap(), "00")),
        "64"
    );
    let forward = rig.forwarded(terminal.envelope, terminal.completion_void(&card(), 3_000, &completed).unwrap());
    assert_eq!(forward.network_request.mti().as_str(), "0200");
    assert_eq!((forward.network_request.get_str(3), forward.network_request.get_str(25)), (Some("020000"), Some("06")));
    assert!(forward.network_request.get_str(90).unwrap().starts_with("0220"), "names the completion advice's leg");
    let answer = rig.switch_answer(&forward.network_request, "00");
    assert_eq!(code(&rig.acquirer.on_network_response(forward.pending, answer, NOW_MS)), "00");
    assert_eq!(
        code(&rig.exchange(terminal.envelope, terminal.completion_void(&card(), 3_000, &completed).unwrap(), "00")),
        "12"
    );
}

#[test]
fn a_duplicate_answer_from_the_switch_is_no_outcome_and_is_reversed() {
    // 94 says the switch holds another request with this key, whose outcome the acquirer does
    // not know: the terminal is told the system failed and the network original is reversed.
    let rig = rig("duplicate");
    let mut terminal = terminal();
    rig.sign_on(&mut terminal, SignOnScheme::Double);
    let request = terminal.purchase(&card(), 4_300, None).unwrap();
    let reply = rig.exchange(terminal.envelope, request, "94");
    assert_eq!(code(&reply), "96");
    assert!(reply.reversal_queued);
    assert_eq!(rig.acquirer.reversal_counts().unwrap(), (1, 0, 0));
    // Any other decline passes through with nothing to reverse.
    let reply = rig.exchange(terminal.envelope, terminal.purchase(&card(), 4_400, None).unwrap(), "51");
    assert_eq!((code(&reply), reply.reversal_queued), ("51", false));
}

#[test]
fn timeout_reverses_toward_the_network_once_and_terminal_reversals_are_idempotent() {
    let rig = rig("reversal");
    let mut terminal = terminal();
    rig.sign_on(&mut terminal, SignOnScheme::Double);
    let request = terminal.purchase(&card(), 4_200, None).unwrap();
    let forward = rig.forwarded(terminal.envelope, request.clone());
    let reply = rig.acquirer.on_network_failure(forward.pending, LinkFailure::Timeout, NOW_MS + 1_000);
    assert_eq!(code(&reply), "98");
    assert!(reply.reversal_queued);
    // The terminal reverses too (reason 98): answered 00, nothing new queued.
    let reversal = terminal.reversal(&request, "98").unwrap();
    let first = respond(rig.send(terminal.envelope, reversal.clone()));
    assert_eq!(code(&first), "00");
    assert!(terminal.verify(&first.response));
    assert!(!first.reversal_queued);
    assert_eq!(rig.acquirer.reversal_counts().unwrap(), (1, 0, 0));
    let due = rig.acquirer.due_reversals(NOW_MS + 2_000).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].message.mti().as_str(), "0420");
    assert!(due[0].message.get_str(90).unwrap().starts_with("0200"));
    assert_eq!(due[0].message.get_str(2), Some("6224240000000017"));
    // Unanswered once: retried as 0421.
    rig.acquirer.reversal_failed(&due[0], NOW_MS + 2_000).unwrap();
    assert!(rig.acquirer.due_reversals(NOW_MS + 2_001).unwrap().is_empty(), "backoff");
    let due = rig.acquirer.due_reversals(NOW_MS + 10_000).unwrap();
    assert_eq!(due[0].message.mti().as_str(), "0421");
    let answer = rig.switch_answer(&due[0].message, "00");
    assert!(rig.acquirer.reversal_answered(&due[0], &answer, NOW_MS + 10_000).unwrap());
    assert_eq!(rig.acquirer.reversal_counts().unwrap(), (0, 1, 0));
    assert!(rig.acquirer.due_reversals(NOW_MS + 100_000).unwrap().is_empty());

    // A terminal reversal of an approved purchase, sent twice: one network reversal, the same answer.
    let request = terminal.purchase(&card(), 1_100, None).unwrap();
    assert_eq!(code(&rig.exchange(terminal.envelope, request.clone(), "00")), "00");
    let reversal = terminal.reversal(&request, "96").unwrap();
    let first = respond(rig.send(terminal.envelope, reversal.clone()));
    let second = respond(rig.send(terminal.envelope, reversal));
    assert_eq!((code(&first), code(&second)), ("00", "00"));
    assert!(first.reversal_queued && !second.reversal_queued);
    assert_eq!(rig.acquirer.reversal_counts().unwrap(), (1, 1, 0));
    assert_eq!(rig.acquirer.transactions_reversed_twice().unwrap(), 0, "each reversed once");
    let due = rig.acquirer.due_reversals(NOW_MS + 200_000).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].message.get_str(4), Some("000000001100"));
    // Unavailable: 91, nothing to reverse.
    let request = terminal.purchase(&card(), 300, None).unwrap();
    let forward = rig.forwarded(terminal.envelope, request);
    let reply = rig.acquirer.on_network_failure(forward.pending, LinkFailure::Unavailable, NOW_MS);
    assert_eq!(code(&reply), "91");
    assert!(!reply.reversal_queued);
    // A balance inquiry that times out moved no money and is not reversible (reference §6):
    // nothing queued (the switch would refuse its 0420 with 12).
    let forward = rig.forwarded(terminal.envelope, terminal.balance(&card(), None).unwrap());
    let reply = rig.acquirer.on_network_failure(forward.pending, LinkFailure::Timeout, NOW_MS);
    assert_eq!((code(&reply), reply.reversal_queued), ("98", false));
    // A refund that times out is reversed (39 = 98: a timeout reversal switch and issuer take).
    let (_, sale) = rig.approved(terminal.envelope, terminal.purchase(&card(), 900, None).unwrap());
    let forward = rig.forwarded(terminal.envelope, terminal.refund(&card(), 900, &sale).unwrap());
    let reply = rig.acquirer.on_network_failure(forward.pending, LinkFailure::Timeout, NOW_MS);
    assert_eq!((code(&reply), reply.reversal_queued), ("98", true));
    let due = rig.acquirer.due_reversals(NOW_MS + 300_000).unwrap();
    let refund_reversal = due.iter().find(|r| r.message.get_str(3) == Some("200000")).expect("the refund's 0420");
    assert_eq!(refund_reversal.message.get_str(39), Some("98"));
}

/// A refund is an advice (0220) the terminal sends again until it hears back, under the same
/// trace. Its copy is answered as the first was (code and RRN, nothing new to the network,
/// nothing refunded twice); while the first copy's forward may still be waiting, 94; one whose
/// forward a crash lost (pending long past the switch timeout) is failed as a timeout — 98 and
/// its reversal queued, once.
#[test]
fn a_refund_sent_again_is_answered_as_the_first_copy_was() {
    let rig = rig("advice-again");
    let mut terminal = terminal();
    rig.sign_on(&mut terminal, SignOnScheme::Double);
    let (_, sale) = rig.approved(terminal.envelope, terminal.purchase(&card(), 900, None).unwrap());

    let refund = terminal.refund(&card(), 300, &sale).unwrap();
    let first = rig.exchange(terminal.envelope, refund.clone(), "00");
    assert_eq!(code(&first), "00");
    let again = respond(rig.send(terminal.envelope, refund.clone()));
    assert_eq!(code(&again), "00");
    assert_eq!(again.response.get_str(37), first.response.get_str(37), "the first copy's RRN");
    assert!(terminal.verify(&again.response));
    // Refunded once: the rest of the sale can still be refunded, no more.
    assert_eq!(code(&rig.exchange(terminal.envelope, terminal.refund(&card(), 601, &sale).unwrap(), "00")), "13");

    // A copy while the first is forwarded and unanswered: 94. Long after, its forward lost in a
    // crash: a timeout, reversed toward the network.
    let lost = terminal.refund(&card(), 200, &sale).unwrap();
    let _forgotten = rig.forwarded(terminal.envelope, lost.clone());
    assert_eq!(code(&respond(rig.send(terminal.envelope, lost.clone()))), "94");
    let later_ms = NOW_MS + 2 * rig.config.switch.timeout_ms + 1;
    let expired = respond(rig.acquirer.on_terminal_request(terminal.envelope, lost.clone(), later_ms));
    assert_eq!((code(&expired), expired.reversal_queued), ("98", true));
    let repeat = respond(rig.acquirer.on_terminal_request(terminal.envelope, lost, later_ms + 1));
    assert_eq!((code(&repeat), repeat.reversal_queued), ("98", false), "answered as before, not reversed twice");
    let due = rig.acquirer.due_reversals(later_ms + 300_000).unwrap();
    assert_eq!(due.iter().filter(|r| r.message.get_str(4) == Some("000000000200")).count(), 1);
}

#[test]
fn settlement_balanced_and_unbalanced_with_batch_upload() {
    let rig = rig("settle");
    let mut terminal = terminal();
    rig.sign_on(&mut terminal, SignOnScheme::Double);
    let state = |rig: &Rig| rig.acquirer.terminal(TERMINAL).unwrap().unwrap();
    assert!(!state(&rig).settlement_pending);
    let mut traces = Vec::new();
    for amount in [1_000u64, 2_000] {
        let request = terminal.purchase(&card(), amount, None).unwrap();
        traces.push(request.get_str(11).unwrap().to_owned());
        assert_eq!(code(&rig.exchange(terminal.envelope, request, "00")), "00");
    }
    assert!(state(&rig).settlement_pending, "an approval, in the commit that recorded it");
    let refund_of = terminal.purchase(&card(), 500, None).unwrap();
    let reply = rig.exchange(terminal.envelope, refund_of.clone(), "00");
    let original = PosOriginal::of(&refund_of, &reply.response, 7);
    assert_eq!(code(&rig.exchange(terminal.envelope, terminal.refund(&card(), 200, &original).unwrap(), "00")), "00");
    // Balanced: debit 3 500 in 3, credit 200 in 1.
    let reply = respond(rig.send(terminal.envelope, terminal.settlement(&totals48(3_500, 3, 200, 1)).unwrap()));
    assert_eq!(code(&reply), "00");
    let field48 = reply.response.get_str(48).unwrap();
    assert_eq!(&field48[30..31], "1");
    assert_eq!(&field48[61..62], "1");
    assert_eq!(state(&rig).batch_no, 8, "batch closed");
    assert!(!state(&rig).settlement_pending, "the closed batch waits for nothing");
    terminal.batch_no = 8;
    // Batch 8: one purchase at the host, the terminal claims another.
    let request = terminal.purchase(&card(), 700, None).unwrap();
    let host_trace = request.get_str(11).unwrap().to_owned();
    assert_eq!(code(&rig.exchange(terminal.envelope, request, "00")), "00");
    let reply = respond(rig.send(terminal.envelope, terminal.settlement(&totals48(1_600, 2, 0, 0)).unwrap()));
    let field48 = reply.response.get_str(48).unwrap();
    assert_eq!(&field48[30..31], "2", "unbalanced");
    let upload = terminal.upload(8, &[("123456", "6224240000000017", 900)]).unwrap();
    assert_eq!(code(&respond(rig.send(terminal.envelope, upload))), "00");
    let end = terminal.upload_end(8, "202", 1).unwrap();
    assert_eq!(code(&respond(rig.send(terminal.envelope, end))), "00");
    let differences = rig.acquirer.batch_differences(TERMINAL, 8).unwrap();
    assert_eq!(differences.len(), 2, "{differences:?}");
    assert!(
        differences
            .iter()
            .any(|d| d.side == "terminal_only" && d.trace == "123456" && d.terminal_amount_minor == Some(900))
    );
    assert!(
        differences.iter().any(|d| d.side == "host_only" && d.trace == host_trace && d.host_amount_minor == Some(700))
    );
    assert_eq!(rig.acquirer.settlement(TERMINAL, 8).unwrap().unwrap().upload_state, "done");
}

/// Reference §5, by hand: TMK 44…44, the vector's MAK and PIK under it, the vector's MAB with
/// its PIN block, the MAC computed with `hsm::mac` (not through the host), and the host's
/// answer checked the same way.
#[test]
fn the_reference_vector_by_hand() {
    let rig = rig("vector");
    let hex = |text: &str| iso8583::hex::decode(text).unwrap();
    // The terminal of the vector's MAB: 41 = 11115007, 42 = 123456789111115, 60.2 = 001437.
    let tmk = rig.hsm.import_components(KeyType::Tmk, KeyAlgorithm::Tdes2, &[Secret::new(&TMK_CLEAR)]).unwrap();
    rig.directory.put_merchant(MerchantRecord {
        merchant_id: "123456789111115".into(),
        name: "VECTOR SHOP".into(),
        mcc: "5311".into(),
        city: "BEIJING".into(),
        status: MerchantStatus::Active,
        single_max_minor: None,
        daily_max_minor: None,
        void_any_terminal: false,
        onboarded_ms: None,
    });
    rig.directory.put_terminal(TerminalRecord {
        terminal_id: "11115007".into(),
        merchant_id: "123456789111115".into(),
        status: TerminalStatus::Active,
        tmk: tmk.clone(),
        batch_no: 1437,
    });
    let mak = rig.hsm.import_under_kek(&tmk, KeyType::Tak, &hex("C9E3E3B489B520FE")).unwrap();
    let pik = rig.hsm.import_under_kek(&tmk, KeyType::Tpk, &hex("84C5491C3834928E7B26B5409A942BCF")).unwrap();
    assert_eq!(&mak.kcv()[..6], "666CB2", "the vector's MAK check value");
    rig.acquirer.install_working_keys("11115007", SignOnScheme::Double, &pik, &mak, NOW_MS).unwrap();

    let mab = hex(
        "0200302004C020C0981100000000000000000101386702100006379001100000000027D00000000000000000000031313131353030373132333435363738393131313131353135363D87C8B8FA17C67C26000000000000000011220014370000",
    );
    let mak_clear = hex("7F52E3201FDF045E");
    let mac = hsm::mac::cup_ecb_mac(&mak_clear, &mab).unwrap();
    assert_eq!(&mac, b"28C7AFB5");
    let mut body = mab.clone();
    body.extend_from_slice(&mac);
    let spec = iso8583::builtin::cup_pos();
    let request = iso8583::decode(&spec, &body).unwrap();
    let envelope = iso8583::Envelope {
        tpdu: iso8583::Tpdu::from_hex("6000060000").ok(),
        header: iso8583::Header::from_hex("603100311003").ok(),
    };
    let forward = match rig.acquirer.on_terminal_request(envelope, request, NOW_MS) {
        Step::Forward(forward) => *forward,
        Step::Respond(reply) => panic!("answered {:?}", reply.response.get_str(39)),
        Step::Ignore => panic!("ignored"),
    };
    // The PIN block arrives under the acquirer's ZPK: the same PIN as the vector's 123456.
    let zpk_pin = forward.network_request.get(52).unwrap();
    let back = rig
        .hsm
        .translate_pin(&hsm::PinTranslation {
            source_key: &rig.keys.zpk,
            source_format: hsm::pinblock::PinFormat::Iso0,
            pin_block: zpk_pin,
            pan: "9001100000000027",
            target_key: &pik,
            target_format: hsm::pinblock::PinFormat::Iso0,
        })
        .unwrap();
    assert_eq!(back, hex("3D87C8B8FA17C67C"), "TPK → ZPK → TPK gives the vector's block back");
    let answer = rig.switch_answer(&forward.network_request, "00");
    let reply = rig.acquirer.on_network_response(forward.pending, answer, NOW_MS);
    assert_eq!(code(&reply), "00");
    // The response's MAC, by hand: MAB = the body without its last 8 bytes.
    let body = reply.response.encode().unwrap();
    let (response_mab, received) = body.split_at(body.len() - 8);
    assert_eq!(hsm::mac::cup_ecb_mac(&mak_clear, response_mab).unwrap(), received);
}

/// A card whose BIN the profile names another organisation's (`[pos.card_organisations]`) gets
/// that organisation in 63.1, and settlement counts it foreign on both sides: the terminal's
/// split by 63.1 balances with the host's.
#[test]
fn foreign_cards_by_bin_are_settled_as_foreign() {
    let rig = rig_configured("foreign", |config| {
        config.pos.card_organisations.insert("4".into(), "VIS".into());
        config.pos.card_organisations.insert("45".into(), "XYZ".into());
    });
    let mut terminal = terminal();
    rig.sign_on(&mut terminal, SignOnScheme::Double);
    let domestic = rig.exchange(terminal.envelope, terminal.purchase(&card(), 1_000, None).unwrap(), "00");
    assert_eq!(domestic.response.get_str(63).map(|o| &o[..3]), Some("CUP"));
    let visa = PosCard {
        pan: "4111111111111111".into(),
        track2: Some("4111111111111111=28062011234567890000".into()),
        expiry_yymm: None,
    };
    let foreign = rig.exchange(terminal.envelope, terminal.purchase(&visa, 500, None).unwrap(), "00");
    assert_eq!((code(&foreign), foreign.response.get_str(63).map(|o| &o[..3])), ("00", Some("VIS")));
    let longer = PosCard {
        pan: "4539578763621486".into(),
        track2: Some("4539578763621486=28062011234567890000".into()),
        expiry_yymm: None,
    };
    let reply = rig.exchange(terminal.envelope, terminal.purchase(&longer, 200, None).unwrap(), "00");
    assert_eq!(reply.response.get_str(63).map(|o| &o[..3]), Some("XYZ"), "the longest prefix");
    // Domestic 10.00 in 1; foreign 7.00 in 2: balanced on both sides.
    let totals = format!("{:012}{:03}{:012}{:03}0{:012}{:03}{:012}{:03}0", 1_000, 1, 0, 0, 700, 2, 0, 0);
    let reply = respond(rig.send(terminal.envelope, terminal.settlement(&totals).unwrap()));
    let field48 = reply.response.get_str(48).unwrap();
    assert_eq!((&field48[30..31], &field48[61..62]), ("1", "1"), "{field48}");
}

// ---- Issue 12: reversals by state, atomic original checks, voids by terminal ---------------

/// What a row of the acquirer's reversal table (docs/network-flows.md §5.1) starts from: the
/// transaction the terminal reverses, made on a fresh rig.
#[derive(Debug, Clone, Copy)]
enum Reversed {
    Unknown,
    DeclinedSale,
    Sale,
    VoidedSale,
    RefundedSale,
    Void,
    Refund,
    Balance,
    PreAuth,
    CompletedPreAuth,
    PreAuthVoid,
    Completion,
    VoidedCompletion,
    CompletionVoid,
    CompletionAdvice,
}

/// One row: the terminal's 0400 of `reversed` is answered `code`; `forwarded` says whether a
/// network reversal is queued.
struct ReversalRow {
    reversed: Reversed,
    code: &'static str,
    forwarded: bool,
}

/// The acquirer rows of docs/network-flows.md §5.1, in its order.
const ACQUIRER_REVERSAL_TABLE: [ReversalRow; 15] = [
    ReversalRow { reversed: Reversed::Unknown, code: "00", forwarded: false },
    ReversalRow { reversed: Reversed::DeclinedSale, code: "00", forwarded: false },
    ReversalRow { reversed: Reversed::Sale, code: "00", forwarded: true },
    ReversalRow { reversed: Reversed::VoidedSale, code: "12", forwarded: false },
    ReversalRow { reversed: Reversed::RefundedSale, code: "12", forwarded: false },
    ReversalRow { reversed: Reversed::Void, code: "00", forwarded: true },
    ReversalRow { reversed: Reversed::Refund, code: "12", forwarded: false },
    ReversalRow { reversed: Reversed::Balance, code: "12", forwarded: false },
    ReversalRow { reversed: Reversed::PreAuth, code: "00", forwarded: true },
    ReversalRow { reversed: Reversed::CompletedPreAuth, code: "12", forwarded: false },
    ReversalRow { reversed: Reversed::PreAuthVoid, code: "00", forwarded: true },
    ReversalRow { reversed: Reversed::Completion, code: "00", forwarded: true },
    ReversalRow { reversed: Reversed::VoidedCompletion, code: "12", forwarded: false },
    ReversalRow { reversed: Reversed::CompletionVoid, code: "00", forwarded: true },
    ReversalRow { reversed: Reversed::CompletionAdvice, code: "12", forwarded: false },
];

impl Rig {
    /// An approved transaction: the request and the terminal's view of it as an original.
    fn approved(&self, envelope: iso8583::Envelope, request: Message) -> (Message, PosOriginal) {
        let reply = self.exchange(envelope, request.clone(), "00");
        assert_eq!(code(&reply), "00");
        let original = PosOriginal::of(&request, &reply.response, 7);
        (request, original)
    }

    /// Make the transaction `reversed` names; the request the terminal would reverse.
    fn make(&self, terminal: &mut PosTerminal, reversed: Reversed) -> Message {
        let c = card();
        match reversed {
            Reversed::Unknown => terminal.purchase(&c, 1_000, None).unwrap(),
            Reversed::DeclinedSale => {
                let sale = terminal.purchase(&c, 1_000, None).unwrap();
                assert_eq!(code(&self.exchange(terminal.envelope, sale.clone(), "51")), "51");
                sale
            }
            Reversed::Sale => self.approved(terminal.envelope, terminal.purchase(&c, 1_000, None).unwrap()).0,
            Reversed::VoidedSale | Reversed::Void => {
                let (sale, original) = self.approved(terminal.envelope, terminal.purchase(&c, 1_000, None).unwrap());
                let (void, _) = self.approved(terminal.envelope, terminal.void(&c, 1_000, &original).unwrap());
                if matches!(reversed, Reversed::Void) { void } else { sale }
            }
            Reversed::RefundedSale | Reversed::Refund => {
                let (sale, original) = self.approved(terminal.envelope, terminal.purchase(&c, 1_000, None).unwrap());
                let (refund, _) = self.approved(terminal.envelope, terminal.refund(&c, 400, &original).unwrap());
                if matches!(reversed, Reversed::Refund) { refund } else { sale }
            }
            Reversed::Balance => self.approved(terminal.envelope, terminal.balance(&c, None).unwrap()).0,
            Reversed::PreAuth => self.approved(terminal.envelope, terminal.pre_auth(&c, 2_000, None).unwrap()).0,
            Reversed::CompletedPreAuth
            | Reversed::Completion
            | Reversed::VoidedCompletion
            | Reversed::CompletionVoid
            | Reversed::CompletionAdvice => {
                let (preauth, original) = self.approved(terminal.envelope, terminal.pre_auth(&c, 2_000, None).unwrap());
                let advice = matches!(reversed, Reversed::CompletionAdvice);
                let (completion, done) =
                    self.approved(terminal.envelope, terminal.completion(&c, 2_000, &original, advice).unwrap());
                let done = PosOriginal { auth_code: original.auth_code.clone(), ..done };
                match reversed {
                    Reversed::CompletedPreAuth => preauth,
                    Reversed::Completion | Reversed::CompletionAdvice => completion,
                    _ => {
                        let (void, _) =
                            self.approved(terminal.envelope, terminal.completion_void(&c, 2_000, &done).unwrap());
                        if matches!(reversed, Reversed::CompletionVoid) { void } else { completion }
                    }
                }
            }
            Reversed::PreAuthVoid => {
                let (_, original) = self.approved(terminal.envelope, terminal.pre_auth(&c, 2_000, None).unwrap());
                self.approved(terminal.envelope, terminal.pre_auth_void(&c, 2_000, &original).unwrap()).0
            }
        }
    }

    fn record(&self, trace: &str) -> acquirer::TransactionRecord {
        let batch = self.acquirer.batch_transactions(TERMINAL, 7).unwrap();
        batch.into_iter().find(|t| t.trace.field().as_str() == trace).expect("journaled")
    }
}

#[test]
fn terminal_reversals_follow_the_acquirer_table() {
    for row in &ACQUIRER_REVERSAL_TABLE {
        let rig = rig(&format!("revtable{:?}", row.reversed).to_lowercase());
        let mut terminal = terminal();
        rig.sign_on(&mut terminal, SignOnScheme::Double);
        let request = rig.make(&mut terminal, row.reversed);
        let before = rig.acquirer.batch_transactions(TERMINAL, 7).unwrap();
        let reply = respond(rig.send(terminal.envelope, terminal.reversal(&request, "98").unwrap()));
        assert_eq!(code(&reply), row.code, "{:?}", row.reversed);
        assert!(terminal.verify(&reply.response), "{:?}: MAC'd", row.reversed);
        let queued = rig.acquirer.reversal_counts().unwrap().0;
        assert_eq!((reply.reversal_queued, queued == 1), (row.forwarded, row.forwarded), "{:?}", row.reversed);
        let after = rig.acquirer.batch_transactions(TERMINAL, 7).unwrap();
        if row.forwarded {
            let trace = request.get_str(11).unwrap();
            let reversed = rig.record(trace);
            assert!(reversed.reversed, "{:?}: marked reversed", row.reversed);
            // What it did to its original is undone: the original can be acted on again.
            if let Some(original_id) = reversed.original_id {
                let original = after.iter().find(|t| t.id == original_id).unwrap();
                assert!(!original.voided && original.refunded_minor == 0, "{:?}: original live", row.reversed);
            }
        } else {
            assert_eq!(before, after, "{:?}: a refused reversal changes nothing", row.reversed);
        }
        // A repeat (0400 again, or 0401) gets the same answer and queues nothing more.
        let repeat = respond(rig.send(terminal.envelope, terminal.reversal(&request, "98").unwrap()));
        assert_eq!((code(&repeat), repeat.reversal_queued), (row.code, false), "{:?}", row.reversed);
        let mut repeat = terminal.reversal(&request, "98").unwrap();
        repeat.set_mti(iso8583::Mti::parse("0401").unwrap());
        terminal.mac(&mut repeat).unwrap();
        let repeat = respond(rig.send(terminal.envelope, repeat));
        assert_eq!((code(&repeat), repeat.reversal_queued), (row.code, false), "{:?}: 0401", row.reversed);
        assert_eq!(repeat.response.mti().as_str(), "0410");
        assert!(terminal.verify(&repeat.response), "{:?}: 0410 MAC'd", row.reversed);
        // A 0401 with a bad MAC is not taken.
        let mut forged = terminal.reversal(&request, "98").unwrap();
        forged.set_mti(iso8583::Mti::parse("0401").unwrap());
        assert_eq!(code(&respond(rig.send(terminal.envelope, forged))), "A0", "{:?}", row.reversed);
    }
}

/// Run `requests` at once on threads; how many the acquirer forwarded. Each forwarded one is
/// answered `code` by the test switch afterwards.
fn concurrently(rig: &Rig, envelope: iso8583::Envelope, requests: Vec<Message>, code: &str) -> usize {
    on_hosts(rig, std::slice::from_ref(&rig.acquirer), envelope, requests, code)
}

/// [`concurrently`], the requests shared out over `hosts` in turn.
fn on_hosts(rig: &Rig, hosts: &[Acquirer], envelope: iso8583::Envelope, requests: Vec<Message>, code: &str) -> usize {
    let barrier = Arc::new(std::sync::Barrier::new(requests.len()));
    let steps: Vec<Step> = std::thread::scope(|scope| {
        let handles: Vec<_> = requests
            .into_iter()
            .zip(hosts.iter().cycle())
            .map(|(request, host)| {
                let (acquirer, barrier) = (host.clone(), Arc::clone(&barrier));
                scope.spawn(move || {
                    barrier.wait();
                    acquirer.on_terminal_request(envelope, request, NOW_MS)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut forwarded = 0;
    for step in steps {
        if let Step::Forward(forward) = step {
            forwarded += 1;
            let answer = rig.switch_answer(&forward.network_request, code);
            rig.acquirer.on_network_response(forward.pending, answer, NOW_MS + 100);
        }
    }
    forwarded
}

#[test]
fn concurrent_refunds_and_voids_reach_the_network_at_most_as_often_as_they_can_succeed() {
    let rig = rig("concurrent");
    let mut terminal = terminal();
    rig.sign_on(&mut terminal, SignOnScheme::Double);
    // Eight refunds of the whole sale at once: one goes out.
    let (_, original) = rig.approved(terminal.envelope, terminal.purchase(&card(), 8_000, None).unwrap());
    let refunds = (0..8).map(|_| terminal.refund(&card(), 8_000, &original).unwrap()).collect();
    assert_eq!(concurrently(&rig, terminal.envelope, refunds, "00"), 1, "refunds of the whole amount");
    // Eight refunds of a quarter each: four go out.
    let (_, original) = rig.approved(terminal.envelope, terminal.purchase(&card(), 8_000, None).unwrap());
    let refunds = (0..8).map(|_| terminal.refund(&card(), 2_000, &original).unwrap()).collect();
    assert_eq!(concurrently(&rig, terminal.envelope, refunds, "00"), 4, "quarter refunds");
    // A declined refund releases what it reserved: the next one may go.
    let (_, original) = rig.approved(terminal.envelope, terminal.purchase(&card(), 8_000, None).unwrap());
    let refunds = (0..8).map(|_| terminal.refund(&card(), 8_000, &original).unwrap()).collect();
    assert_eq!(concurrently(&rig, terminal.envelope, refunds, "05"), 1);
    assert_eq!(code(&rig.exchange(terminal.envelope, terminal.refund(&card(), 8_000, &original).unwrap(), "00")), "00");
    // Eight voids of one sale at once: one goes out.
    let (_, original) = rig.approved(terminal.envelope, terminal.purchase(&card(), 3_000, None).unwrap());
    let voids = (0..8).map(|_| terminal.void(&card(), 3_000, &original).unwrap()).collect();
    assert_eq!(concurrently(&rig, terminal.envelope, voids, "00"), 1, "voids");
    // A void and a refund of one sale at once: one of them.
    let (_, original) = rig.approved(terminal.envelope, terminal.purchase(&card(), 3_000, None).unwrap());
    let mixed =
        vec![terminal.void(&card(), 3_000, &original).unwrap(), terminal.refund(&card(), 3_000, &original).unwrap()];
    assert_eq!(concurrently(&rig, terminal.envelope, mixed, "00"), 1, "void and refund");
    // A timed-out void releases its claim too (it is reversed): the sale can be voided again.
    let (_, original) = rig.approved(terminal.envelope, terminal.purchase(&card(), 2_500, None).unwrap());
    let forward = rig.forwarded(terminal.envelope, terminal.void(&card(), 2_500, &original).unwrap());
    assert_eq!(code(&rig.exchange(terminal.envelope, terminal.void(&card(), 2_500, &original).unwrap(), "00")), "12");
    rig.acquirer.on_network_failure(forward.pending, LinkFailure::Timeout, NOW_MS + 1_000);
    assert_eq!(code(&rig.exchange(terminal.envelope, terminal.void(&card(), 2_500, &original).unwrap(), "00")), "00");
}

#[test]
fn voids_only_from_the_original_terminal_unless_the_merchant_allows_any() {
    let rig = rig("lanes");
    let tmk = rig.hsm.import_components(KeyType::Tmk, KeyAlgorithm::Tdes2, &[Secret::new(&TMK_CLEAR)]).unwrap();
    rig.directory.put_terminal(TerminalRecord {
        terminal_id: "TERM0002".into(),
        merchant_id: MERCHANT.into(),
        status: TerminalStatus::Active,
        tmk,
        batch_no: 7,
    });
    let mut first = terminal();
    rig.sign_on(&mut first, SignOnScheme::Double);
    let mut second = PosTerminal::new("TERM0002", MERCHANT, Secret::new(&TMK_CLEAR));
    rig.sign_on(&mut second, SignOnScheme::Double);
    second.next_trace();
    let (_, sale) = rig.approved(first.envelope, first.purchase(&card(), 1_500, None).unwrap());
    // The void from the other lane names the sale by 37 and 38 (and a 61 of its own batch).
    assert_eq!(code(&rig.exchange(second.envelope, second.void(&card(), 1_500, &sale).unwrap(), "00")), "25");
    let (_, preauth) = rig.approved(first.envelope, first.pre_auth(&card(), 1_500, None).unwrap());
    assert_eq!(
        code(&rig.exchange(second.envelope, second.pre_auth_void(&card(), 1_500, &preauth).unwrap(), "00")),
        "25"
    );
    // A refund from another terminal of the merchant stays allowed.
    assert_eq!(code(&rig.exchange(second.envelope, second.refund(&card(), 500, &sale).unwrap(), "00")), "00");
    // A multi-lane store: any of its terminals may void.
    rig.directory.put_merchant(MerchantRecord { void_any_terminal: true, ..merchant() });
    assert_eq!(
        code(&rig.exchange(second.envelope, second.void(&card(), 1_500, &sale).unwrap(), "00")),
        "12",
        "refunded in part"
    );
    let (_, sale) = rig.approved(first.envelope, first.purchase(&card(), 1_700, None).unwrap());
    assert_eq!(code(&rig.exchange(second.envelope, second.void(&card(), 1_700, &sale).unwrap(), "00")), "00");
    // The original terminal always may.
    rig.directory.put_merchant(merchant());
    let (_, sale) = rig.approved(first.envelope, first.purchase(&card(), 1_900, None).unwrap());
    assert_eq!(code(&rig.exchange(first.envelope, first.void(&card(), 1_900, &sale).unwrap(), "00")), "00");
}

/// Two acquirer processes on one database (each its own connection): the claim on an original
/// holds across them — the row lock on PostgreSQL, BEGIN IMMEDIATE on SQLite.
#[test]
fn two_hosts_on_one_database_claim_an_original_once() {
    let rig = rig_shared("twohosts");
    let hosts = [rig.acquirer.clone(), rig.second_host()];
    let mut terminal = terminal();
    rig.sign_on(&mut terminal, SignOnScheme::Double);
    for round in 0..4 {
        let (_, original) = rig.approved(terminal.envelope, terminal.purchase(&card(), 6_000, None).unwrap());
        let refunds = (0..8).map(|_| terminal.refund(&card(), 6_000, &original).unwrap()).collect();
        assert_eq!(on_hosts(&rig, &hosts, terminal.envelope, refunds, "00"), 1, "round {round}: refunds");
        let (_, original) = rig.approved(terminal.envelope, terminal.purchase(&card(), 6_000, None).unwrap());
        let voids = (0..8).map(|_| terminal.void(&card(), 6_000, &original).unwrap()).collect();
        assert_eq!(on_hosts(&rig, &hosts, terminal.envelope, voids, "00"), 1, "round {round}: voids");
    }
}

/// Issue 12 point 4: field 48 carries 3-digit counts, so a terminal with 1,001 purchases sends
/// count 001. The host compares counts modulo 1,000 together with the full amounts: balanced.
#[test]
fn a_batch_of_more_than_999_transactions_settles_balanced() {
    let rig = rig("big_batch");
    let mut terminal = terminal();
    rig.sign_on(&mut terminal, SignOnScheme::Double);
    let purchases = 1_001u64;
    for _ in 0..purchases {
        let request = terminal.purchase(&card(), 100, None).unwrap();
        assert_eq!(code(&rig.exchange(terminal.envelope, request, "00")), "00");
    }
    assert_eq!(rig.acquirer.batch_transactions(TERMINAL, 7).unwrap().len(), 1_001);
    let totals = totals48(purchases * 100, purchases % 1_000, 0, 0);
    let reply = respond(rig.send(terminal.envelope, terminal.settlement(&totals).unwrap()));
    assert_eq!(code(&reply), "00");
    let field48 = reply.response.get_str(48).unwrap();
    assert_eq!((&field48[30..31], &field48[61..62]), ("1", "1"), "{field48}");
    let settled = rig.acquirer.settlement(TERMINAL, 7).unwrap().unwrap();
    assert_eq!(settled.host_totals[..30], totals[..30], "the host's totals as the field carries them");
}

/// Issue 12 point 7: a terminal signals a fallback swipe (its chip read failed) with 22 = 02x
/// and 60.5 = 2 (reference §2); the network request says so with 22 = 80x, so the issuer can
/// tell it from a plain swipe (90x), which it declines for a chip card.
#[test]
fn a_fallback_swipe_goes_out_as_entry_mode_80() {
    let rig = rig("fallback");
    let mut terminal = terminal();
    rig.sign_on(&mut terminal, SignOnScheme::Double);
    let plain = rig.forwarded(terminal.envelope, terminal.purchase(&card(), 100, None).unwrap());
    assert_eq!(plain.network_request.get_str(22), Some("901"), "a plain swipe");
    let mut fallback = terminal.purchase(&card(), 100, None).unwrap();
    let field60 = format!("{}62", fallback.get_str(60).unwrap());
    fallback.set_str(60, &field60).unwrap();
    terminal.mac(&mut fallback).unwrap();
    let forward = rig.forwarded(terminal.envelope, fallback);
    assert_eq!(forward.network_request.get_str(22), Some("801"), "60.5 = 2: fallback");
}

/// The host reads at most `BATCH_TRANSACTIONS_MAX` records of a batch; a batch that reaches it
/// is refused settlement (96) rather than compared on the part the host read.
#[test]
fn a_batch_beyond_what_the_host_reads_is_refused_not_truncated() {
    let rig = rig("huge_batch");
    let mut terminal = terminal();
    rig.sign_on(&mut terminal, SignOnScheme::Double);
    let rows = acquirer::limits::BATCH_TRANSACTIONS_MAX as i64 + 1;
    rig.acquirer
        .database()
        .transaction(|tx| {
            tx.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
                 INSERT INTO acquirer_transactions (id, terminal_id, merchant_id, batch_no, trace, terminal_mti, kind, \
                 amount_minor, currency, card_org, status, sent, voided, completed, refunded_minor, reversed, \
                 received_ms) SELECT 1000000 + i, $2, $3, 7, 'T' || i, '0200', 'purchase', 100, '156', 'CUP', \
                 'approved', 1, 0, 0, 0, 0, 0 FROM n",
                &[rows.into(), TERMINAL.into(), MERCHANT.into()],
            )
        })
        .unwrap();
    let totals = totals48(rows as u64 * 100, rows as u64 % 1_000, 0, 0);
    let reply = respond(rig.send(terminal.envelope, terminal.settlement(&totals).unwrap()));
    assert_eq!(code(&reply), "96");
    assert!(rig.acquirer.settlement(TERMINAL, 7).unwrap().is_none(), "not settled on part of the batch");
    assert_eq!(rig.acquirer.terminal(TERMINAL).unwrap().unwrap().batch_no, 7, "the batch stays open");
}
