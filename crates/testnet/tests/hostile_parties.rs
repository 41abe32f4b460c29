//! Never panic on input, beyond the codec: messages that decode but make no sense — fields
//! removed, replaced, MTIs and processing codes swapped, amounts and cards mangled — driven
//! through the switch core and the issuer core (sans I/O, as the simulation will drive them),
//! most of them correctly MAC'd so they get past the first check. Every request gets an
//! answer with a response code, and the issuer's ledger still balances afterwards.

use std::sync::Arc;

use clock::{Clock, SystemClock};
use hsm::{SecurityModule, SoftHsm};
use iso8583::{Message, Mti};
use issuer::Issuer;
use network::TransactionKind;
use network::request::{Acceptor, CardInput, EntryMode, TransactionRequest};
use proptest::prelude::*;
use switch::Switch;
use switch::engine::{LinkFailure, Step};

struct Parties {
    hsm: Arc<SoftHsm>,
    switch: Switch,
    issuers: Vec<(String, Issuer)>,
    acquirer_zak: hsm::WrappedKey,
    acquirer_zpk: hsm::WrappedKey,
    card: issuer::IssuedCard,
    _dir: std::path::PathBuf,
}

fn parties() -> Parties {
    let dir =
        std::env::temp_dir().join(format!("cardnet-hostile-{}-{:?}", std::process::id(), std::thread::current().id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let hsm = Arc::new(SoftHsm::generate().unwrap());
    let lmk_file = dir.join("lmk.hex");
    let store = |name: &str| format!("sqlite:{}", dir.join(format!("{name}.db")).display());
    let mut stores = |id: &str| store(&format!("issuer{id}"));
    let generated = testnet::net::generate(1, &*hsm, &lmk_file, &store("switch"), &mut stores, "127.0.0.1:0", |_| {
        "127.0.0.1:1".to_owned()
    })
    .unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let switch = Switch::open(&generated.switch, Arc::clone(&hsm) as Arc<dyn SecurityModule>).unwrap();
    let issuers: Vec<(String, Issuer)> = generated
        .issuers
        .iter()
        .map(|(id, _, config)| {
            (id.clone(), Issuer::open(config, Arc::clone(&hsm) as Arc<dyn SecurityModule>, Arc::clone(&clock)).unwrap())
        })
        .collect();
    let card = issuers[0].1.issue_card(issuer::dev::DEBIT_PRODUCT, Some(1_000_000)).unwrap();
    let keys = generated.acquirer_keys;
    Parties { hsm, switch, issuers, acquirer_zak: keys.zak, acquirer_zpk: keys.zpk, card, _dir: dir }
}

/// One mutation of a valid request.
#[derive(Debug, Clone)]
enum Mutation {
    Remove(u8),
    Replace(u8, Vec<u8>),
    Mti(&'static str),
    /// Leave the MAC as it was computed before the other mutations (so it is wrong).
    KeepStaleMac,
}

const FIELDS: [u8; 24] = [2, 3, 4, 7, 11, 12, 13, 14, 18, 22, 23, 25, 32, 33, 35, 37, 41, 42, 49, 52, 54, 55, 90, 95];
const MTIS: [&str; 12] =
    ["0100", "0101", "0120", "0121", "0200", "0201", "0220", "0221", "0400", "0420", "0421", "0800"];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => prop::sample::select(FIELDS.to_vec()).prop_map(Mutation::Remove),
        6 => (prop::sample::select(FIELDS.to_vec()), prop::collection::vec(prop_oneof![
                8 => b'0'..=b'9',
                1 => Just(b'='),
                1 => any::<u8>(),
            ], 0..48))
            .prop_map(|(f, v)| Mutation::Replace(f, v)),
        2 => prop::sample::select(MTIS.to_vec()).prop_map(Mutation::Mti),
        1 => Just(Mutation::KeepStaleMac),
    ]
}

fn base_request(parties: &Parties, kind: TransactionKind, stan: u32, amount: u64) -> Message {
    let acceptor = Acceptor {
        acquirer: testnet::net::ACQUIRER_ID.parse().unwrap(),
        terminal: "TERM0001".parse().unwrap(),
        merchant: "898440154110001".parse().unwrap(),
        mcc: "5411".into(),
        name_location: "CARDNET COFFEE".into(),
    };
    let card = CardInput {
        entry: Some(EntryMode::Swipe),
        track2: Some(parties.card.track2.clone()),
        // The right PIN on odd STANs, so both the PIN path and the later checks are reached.
        pin_block: (stan % 2 == 1).then(|| {
            let pin_block = parties.hsm.encrypt_pin(
                &parties.acquirer_zpk,
                hsm::pinblock::PinFormat::Iso0,
                &parties.card.pin,
                parties.card.pan.as_str(),
            );
            pin_block.unwrap()
        }),
        ..CardInput::new(parties.card.pan)
    };
    let stan = format!("{:06}", stan % 1_000_000);
    let now_ms = SystemClock.now_ms();
    let original = network::OriginalData {
        mti: "0200".into(),
        stan: "000001".into(),
        transmission_time: network::transmission_time(now_ms),
        acquirer: testnet::net::ACQUIRER_ID.into(),
        forwarder: "00000000000".into(),
    };
    let request = TransactionRequest {
        kind,
        acceptor: &acceptor,
        card: &card,
        amount_minor: amount,
        currency: "156",
        stan: stan.parse().unwrap(),
        rrn: network::time::rrn(now_ms, &stan).parse().unwrap(),
        now_ms,
        original: Some(&original),
    };
    network::request::build(&iso8583::builtin::network(), &request).unwrap()
}

/// The switch, and behind it the issuer, answer `request`; returns the acquirer's answer.
fn drive(parties: &Parties, request: Message) -> Option<Message> {
    let now_ms = SystemClock.now_ms();
    match parties.switch.on_request(request, now_ms) {
        Step::Respond(reply) => Some(reply.response),
        Step::Ignore => None,
        Step::Forward(forward) => {
            let issuer = parties.issuers.iter().find(|(id, _)| *id == forward.issuer).map(|(_, i)| i);
            let answer = issuer.and_then(|issuer| issuer.handle(&forward.request));
            Some(match answer {
                Some(response) => parties.switch.on_issuer_response(forward.pending, response, now_ms).response,
                None => parties.switch.on_issuer_failure(forward.pending, LinkFailure::Timeout, now_ms).response,
            })
        }
    }
}

const KINDS: [TransactionKind; 7] = [
    TransactionKind::BalanceInquiry,
    TransactionKind::Purchase,
    TransactionKind::PreAuthorization,
    TransactionKind::Completion,
    TransactionKind::Void,
    TransactionKind::PreAuthorizationVoid,
    TransactionKind::Refund,
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mangled_requests_are_answered_never_panic(
        kind in prop::sample::select(KINDS.to_vec()),
        amount in 0u64..2_000_000,
        mutations in prop::collection::vec(mutation(), 0..5),
        stan in 1u32..999_999,
    ) {
        thread_local! { static PARTIES: Parties = parties(); }
        PARTIES.with(|parties| {
            let mut request = base_request(parties, kind, stan, amount);
            network::mac::sign(&*parties.hsm, &parties.acquirer_zak, &mut request).unwrap();
            let mut resign = true;
            for m in &mutations {
                match m {
                    Mutation::Remove(field) => { request.remove(*field); }
                    Mutation::Replace(field, value) => { let _ = request.set(*field, value); }
                    Mutation::Mti(mti) => request.set_mti(Mti::parse(mti).unwrap()),
                    Mutation::KeepStaleMac => resign = false,
                }
            }
            if resign {
                let _ = network::mac::sign(&*parties.hsm, &parties.acquirer_zak, &mut request);
            }
            let sent_mti = request.mti();
            if let Some(response) = drive(parties, request) {
                prop_assert_eq!(Some(response.mti()), sent_mti.response(), "answered with the response MTI");
                let code = response.get_str(39).unwrap_or("");
                prop_assert_eq!(code.len(), 2, "a response code");
            }
            for (_, issuer) in &parties.issuers {
                prop_assert!(issuer.check_ledger().is_ok(), "the ledger balances");
            }
            Ok(())
        })?;
    }
}
