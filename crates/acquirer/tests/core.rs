//! The acquirer core without sockets: a scripted terminal (crates/testnet/src/pos.rs, built on
//! the codec and the HSM's algorithm functions) on one side, the test playing the switch on the
//! other. Runs on SQLite, and on PostgreSQL when CARDNET_TEST_PG is set.

#[path = "../../testnet/src/pos.rs"]
#[allow(dead_code)]
mod pos;

use std::sync::Arc;

use acquirer::dev::SwitchKeys;
use acquirer::{
    Acquirer, AcquirerConfig, MemoryDirectory, MerchantRecord, MerchantStatus, NetworkFailure, Reply, Step,
    TerminalRecord, TerminalStatus,
};
use hsm::{KeyAlgorithm, KeyType, Secret, SecurityModule, SignOnScheme, SoftHsm};
use iso8583::{Message, ProcessingRequirement};
use pos::{PosCard, PosOriginal, PosTerminal, totals48};

const TERMINAL: &str = "TERM0001";
const MERCHANT: &str = "898440154110001";
const NOW_MS: u64 = 1_709_208_000_000;
const TMK_CLEAR: [u8; 16] = [0x44; 16];

struct Rig {
    acquirer: Acquirer,
    hsm: Arc<SoftHsm>,
    directory: Arc<MemoryDirectory>,
    keys: SwitchKeys,
    schema: Option<(String, String)>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some((url, schema)) = &self.schema {
            let _ = sqlstore::drop_postgres_schema(url, schema);
        }
    }
}

fn database(name: &str) -> (sqlstore::Database, Option<(String, String)>) {
    match std::env::var("CARDNET_TEST_PG") {
        Ok(url) if !url.is_empty() => {
            let schema = format!("acq_{}_{name}", std::process::id());
            let _ = sqlstore::drop_postgres_schema(&url, &schema);
            let db = sqlstore::Database::open(&format!("{url}#{schema}")).unwrap();
            (db, Some((url, schema)))
        }
        _ => (sqlstore::Database::open("sqlite::memory:").unwrap(), None),
    }
}

fn rig(name: &str) -> Rig {
    rig_configured(name, |_| {})
}

/// A rig whose configuration `configure` changes first.
fn rig_configured(name: &str, configure: impl FnOnce(&mut AcquirerConfig)) -> Rig {
    let hsm = Arc::new(SoftHsm::generate().unwrap());
    let keys = SwitchKeys::generate(hsm.as_ref()).unwrap();
    let mut config: AcquirerConfig = acquirer::dev::config_with_switch_keys(
        hsm.as_ref(),
        &keys,
        "10000000344",
        "127.0.0.1:0",
        "127.0.0.1:9100",
        "sqlite::memory:",
        std::path::Path::new("lmk.hex"),
    )
    .unwrap();
    config.switch.timeout_ms = 1_000;
    configure(&mut config);
    let directory = Arc::new(MemoryDirectory::new());
    let tmk = hsm.import_components(KeyType::Tmk, KeyAlgorithm::Tdes2, &[Secret::new(&TMK_CLEAR)]).unwrap();
    directory.put_merchant(MerchantRecord {
        merchant_id: MERCHANT.into(),
        name: "CARDNET COFFEE".into(),
        mcc: "5411".into(),
        city: "SHANGHAI".into(),
        status: MerchantStatus::Active,
        single_max_minor: Some(1_000_000),
        daily_max_minor: Some(2_000_000),
    });
    directory.put_terminal(TerminalRecord {
        terminal_id: TERMINAL.into(),
        merchant_id: MERCHANT.into(),
        status: TerminalStatus::Installed,
        tmk,
        batch_no: 7,
    });
    let (db, schema) = database(name);
    let acquirer = Acquirer::with_database(
        &config,
        Arc::clone(&hsm) as Arc<dyn SecurityModule>,
        db,
        Arc::clone(&directory) as Arc<dyn acquirer::TerminalDirectory>,
    )
    .unwrap();
    Rig { acquirer, hsm, directory, keys, schema }
}

fn terminal() -> PosTerminal {
    PosTerminal::new(TERMINAL, MERCHANT, Secret::new(&TMK_CLEAR))
}

fn card() -> PosCard {
    PosCard {
        pan: "6224240000000017".into(),
        track2: Some("6224240000000017=28062011234567890000".into()),
        expiry_yymm: None,
    }
}

fn respond(step: Step) -> Reply {
    match step {
        Step::Respond(reply) => reply,
        other => panic!("expected an answer, got {other:?}"),
    }
}

impl Rig {
    fn send(&self, envelope: iso8583::Envelope, message: Message) -> Step {
        self.acquirer.on_terminal_request(envelope, message, NOW_MS)
    }

    fn sign_on(&self, terminal: &mut PosTerminal, scheme: SignOnScheme) -> Reply {
        let request = terminal.sign_on_request(scheme).unwrap();
        let reply = respond(self.send(terminal.envelope, request));
        terminal.accept_sign_on(scheme, &reply.response).unwrap();
        reply
    }

    /// The switch's answer to a forwarded request: echo, 39, 38 when approved, 15, 100, MAC.
    fn switch_answer(&self, request: &Message, code: &str) -> Message {
        let mut response = request.response(&network::request::RESPONSE_ECHO_FIELDS).unwrap();
        response.set_str(7, request.get_str(7).unwrap()).unwrap();
        response.set_str(39, code).unwrap();
        if code == "00" {
            response.set_str(38, "A12345").unwrap();
        }
        if request.get_str(3) == Some("310000") {
            response.set_str(54, "1001156C000000012345").unwrap();
        }
        response.set_str(15, "0229").unwrap();
        response.set_str(100, "20000000455").unwrap();
        network::mac::sign(self.hsm.as_ref(), &self.keys.zak, &mut response).unwrap();
        response
    }

    /// Send a financial request; if forwarded, the switch answers `code`.
    fn exchange(&self, envelope: iso8583::Envelope, message: Message, code: &str) -> Reply {
        match self.send(envelope, message) {
            Step::Respond(reply) => reply,
            Step::Forward(forward) => {
                let forward = *forward;
                network::mac::verify(self.hsm.as_ref(), &self.keys.zak, &forward.network_request).unwrap();
                let answer = self.switch_answer(&forward.network_request, code);
                self.acquirer.on_network_response(forward.pending, answer, NOW_MS + 100)
            }
            Step::Ignore => panic!("ignored"),
        }
    }

    fn forwarded(&self, envelope: iso8583::Envelope, message: Message) -> acquirer::Forward {
        match self.send(envelope, message) {
            Step::Forward(forward) => *forward,
            other => panic!("expected a forward, got {other:?}"),
        }
    }
}

fn code(reply: &Reply) -> &str {
    reply.response.get_str(39).unwrap_or("")
}

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
    assert_eq!(rig.directory.last_sign_on(TERMINAL), Some((7, NOW_MS)));
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
    assert_eq!(reply.response.get_str(54), Some("1001156C000000012345"));
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
fn timeout_reverses_toward_the_network_once_and_terminal_reversals_are_idempotent() {
    let rig = rig("reversal");
    let mut terminal = terminal();
    rig.sign_on(&mut terminal, SignOnScheme::Double);
    let request = terminal.purchase(&card(), 4_200, None).unwrap();
    let forward = rig.forwarded(terminal.envelope, request.clone());
    let reply = rig.acquirer.on_network_failure(forward.pending, NetworkFailure::Timeout, NOW_MS + 1_000);
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
    let due = rig.acquirer.due_reversals(NOW_MS + 200_000).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].message.get_str(4), Some("000000001100"));
    // Unavailable: 91, nothing to reverse.
    let request = terminal.purchase(&card(), 300, None).unwrap();
    let forward = rig.forwarded(terminal.envelope, request);
    let reply = rig.acquirer.on_network_failure(forward.pending, NetworkFailure::Unavailable, NOW_MS);
    assert_eq!(code(&reply), "91");
    assert!(!reply.reversal_queued);
}

#[test]
fn settlement_balanced_and_unbalanced_with_batch_upload() {
    let rig = rig("settle");
    let mut terminal = terminal();
    rig.sign_on(&mut terminal, SignOnScheme::Double);
    let mut traces = Vec::new();
    for amount in [1_000u64, 2_000] {
        let request = terminal.purchase(&card(), amount, None).unwrap();
        traces.push(request.get_str(11).unwrap().to_owned());
        assert_eq!(code(&rig.exchange(terminal.envelope, request, "00")), "00");
    }
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
    assert_eq!(rig.acquirer.terminal(TERMINAL).unwrap().unwrap().batch_no, 8, "batch closed");
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
