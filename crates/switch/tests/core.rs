//! The switch core (no sockets) against fake issuers that are plain functions, on SQLite and,
//! when `CARDNET_TEST_PG` is set, on PostgreSQL: the same scenarios on both.

mod common;

use common::*;
use domain::{InstitutionId, ResponseCode, Stan};
use iso8583::Message;
use network::OriginalData;
use saf::EntryState;
use switch::journal::{AdvicePurpose, Direction, ExchangeStatus, Leg};
use switch::{AdviceOutcome, LinkFailure, Step, Switch};

/// Each scenario runs once per backend.
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(super::Backend::sqlite(stringify!($name))) })*
        }
        mod postgres {
            $(#[test] fn $name() {
                if let Some(backend) = super::Backend::postgres(stringify!($name)) { super::$name(backend) }
            })*
        }
    };
}

scenarios!(
    approval_is_relayed_with_the_acquirers_fields_and_fresh_macs,
    journal_holds_masked_pans_and_no_secrets,
    bad_mac_unknown_acquirer_and_missing_32_are_refused_without_an_exchange,
    format_errors,
    no_bin_is_15,
    duplicate_is_94_and_not_forwarded,
    pin_is_translated_between_zones,
    issuer_down_stands_in_within_limits_then_91,
    stand_in_advice_is_delivered_and_repeated_until_acknowledged,
    issuer_timeout_is_98_and_one_reversal_is_delivered,
    timeout_with_stand_in_queues_the_reversal_then_the_advice,
    no_stand_in_for_what_the_acquirer_reversed_while_waiting,
    acquirer_reversal_is_queued_once_and_answered_the_same,
    reversal_of_an_unknown_original_is_recorded_not_forwarded,
    acquirer_reversal_after_a_timeout_reversal_adds_nothing,
    void_and_completion_name_the_issuer_leg_original,
    issuer_response_with_a_bad_mac_is_96_and_reversed,
    advices_survive_a_restart,
    advices_keep_their_order_per_issuer,
    clearing_records_of_the_day,
    reversals_of_what_is_not_reversible_are_refused,
);

/// Send a request through the core and the fake issuer; the acquirer's response.
fn round_trip(net: &Net, switch: &Switch, request: Message) -> Message {
    match switch.on_request(request, NOW_MS) {
        Step::Respond(reply) => reply.response,
        Step::Forward(forward) => {
            let answer = net.issuer_answer(&forward.issuer, &forward.request);
            switch.on_issuer_response(forward.pending, answer, NOW_MS + 120).response
        }
        Step::Ignore => panic!("ignored"),
    }
}

fn approval_is_relayed_with_the_acquirers_fields_and_fresh_macs(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let request = net.purchase(PAN, 12_500, 4711);
    let forward = forward(switch.on_request(request.clone(), NOW_MS));
    assert_eq!(forward.issuer, ISSUER);
    let out = &forward.request;
    // Issuer leg: the switch's own 11 and 7, 33, 100, 15; 32 and 37 unchanged; MAC for the issuer.
    assert_ne!(out.get_str(11), request.get_str(11));
    assert_eq!(out.get_str(7), Some(network::transmission_time(NOW_MS).as_str()));
    assert_eq!(out.get_str(33), Some(switch::dev::SWITCH_ID));
    assert_eq!(out.get_str(100), Some(ISSUER));
    assert_eq!(out.get_str(15), Some(network::settlement_date(NOW_MS, 0).as_str()));
    for field in [2, 3, 4, 32, 37, 41, 42, 49] {
        assert_eq!(out.get(field), request.get(field), "field {field}");
    }
    net.verify(ISSUER, out).expect("the issuer leg carries the issuer ZAK's MAC");
    assert!(net.verify(ACQUIRER, out).is_err());
    assert_eq!(forward.pending.issuer_stan(), out.get_str(11));

    let answer = net.issuer_answer(ISSUER, out);
    let response = switch.on_issuer_response(forward.pending, answer, NOW_MS + 80).response;
    assert_eq!(response.mti().as_str(), "0210");
    assert_eq!(code(&response), "00");
    assert_eq!(response.get_str(38), Some("AB1234"));
    assert_eq!(response.get_str(11), request.get_str(11), "the acquirer's STAN is given back");
    assert_eq!(response.get_str(7), request.get_str(7), "the acquirer's 7 is given back");
    assert_eq!(response.get_str(15), Some(network::settlement_date(NOW_MS + 80, 0).as_str()));
    assert!(!response.has(33), "a field the acquirer did not send is not echoed");
    assert_eq!(response.get_str(100), Some(ISSUER), "100 names the issuer that answered (the terminal's 44)");
    net.verify(ACQUIRER, &response).expect("the response carries the acquirer ZAK's MAC");

    let exchange =
        switch.journal().find_exchange(ACQUIRER, "004711", request.get_str(7).unwrap(), "02").unwrap().unwrap();
    assert_eq!(exchange.status, ExchangeStatus::Answered);
    assert_eq!(exchange.response_code, Some(ResponseCode::APPROVED));
    assert_eq!(exchange.auth_code.as_deref(), Some("AB1234"));
    assert_eq!(exchange.issuer.as_ref().map(InstitutionId::as_str), Some(ISSUER));
    assert_eq!(exchange.issuer_stan, out.get_str(11).map(|s| Stan::parse(s).unwrap()));
    assert_eq!(exchange.latency_ms, Some(80));
    assert_eq!(exchange.amount_minor, Some(12_500));
    let messages = switch.journal().messages_of(exchange.id).unwrap();
    let legs: Vec<(Direction, Leg, String)> = messages.iter().map(|m| (m.direction, m.leg, m.mti.clone())).collect();
    assert_eq!(
        legs,
        vec![
            (Direction::In, Leg::Acquirer, "0200".to_owned()),
            (Direction::Out, Leg::Issuer, "0200".to_owned()),
            (Direction::In, Leg::Issuer, "0210".to_owned()),
            (Direction::Out, Leg::Acquirer, "0210".to_owned()),
        ]
    );
    assert_eq!(messages[2].latency_ms, Some(80));
    assert_eq!(messages[1].receiver.as_deref(), Some(ISSUER));
    assert_eq!(messages[1].forwarder.as_deref(), Some(switch::dev::SWITCH_ID));
}

fn journal_holds_masked_pans_and_no_secrets(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    assert_eq!(code(&round_trip(&net, &switch, net.purchase_with_pin(PAN, 100, 1, PIN))), "00");
    assert_eq!(code(&switch.on_request(net.purchase(NO_BIN_PAN, 100, 2), NOW_MS).into_response()), "15");
    // Stand-in: a queued advice (encrypted at rest).
    let forward = forward(switch.on_request(net.purchase(PAN2, 100, 3), NOW_MS));
    switch.on_issuer_failure(forward.pending, LinkFailure::Unavailable, NOW_MS);

    let exchanges = switch.journal().exchanges(0).unwrap();
    assert_eq!(exchanges.len(), 3);
    for exchange in &exchanges {
        let masked = exchange.pan_masked.as_deref().unwrap();
        assert!(masked.contains("******"), "{masked}");
        let card_key = exchange.card_key.as_deref().unwrap();
        assert_eq!(card_key.len(), 32);
        // A keyed hash: no run of the card number in it. Four digits were too short to ask for:
        // a random 32-digit hex string holds a given four about once in 1,100 runs; the BIN's
        // six, once in 600,000.
        assert!(!card_key.contains("622424") && !card_key.contains(PAN), "{card_key}");
    }
    assert_eq!(exchanges[0].pan_masked.as_deref(), Some("622424******0113"));
    // The same card gives the same key; another card another.
    let again = round_trip(&net, &switch, net.purchase(PAN, 100, 4));
    assert_eq!(code(&again), "00");
    let exchanges = switch.journal().exchanges(0).unwrap();
    assert_eq!(exchanges[0].card_key, exchanges[3].card_key);
    assert_ne!(exchanges[0].card_key, exchanges[2].card_key);

    // Nothing in the database holds a clear PAN or the PIN block, in any table.
    let pin_block = net.pin_block(ACQUIRER, PIN, PAN);
    let dump = dump_database(&switch);
    for pan in [PAN, PAN2, NO_BIN_PAN] {
        assert!(!dump.text.contains(pan), "a clear PAN is stored");
        assert!(
            !dump.blobs.iter().any(|b| b.windows(pan.len()).any(|w| w == pan.as_bytes())),
            "a clear PAN is in a blob"
        );
    }
    assert!(!dump.blobs.iter().any(|b| b.windows(8).any(|w| w == &pin_block[..])), "a PIN block is stored");
    assert!(dump.text.contains("622424******0113"));
}

struct Dump {
    text: String,
    blobs: Vec<Vec<u8>>,
}

fn dump_database(switch: &Switch) -> Dump {
    let tables = ["switch_exchanges", "switch_messages", "switch_advices", "switch_saf", "switch_stip_usage"];
    let mut text = String::new();
    let mut blobs = Vec::new();
    switch
        .database()
        .transaction(|tx| {
            for table in tables {
                for row in tx.query(&format!("SELECT * FROM {table}"), &[])? {
                    for index in 0..row.len() {
                        match row.value(index)? {
                            sqlstore::Value::Text(t) => {
                                text.push_str(t);
                                text.push('|');
                            }
                            sqlstore::Value::Blob(b) => blobs.push(b.clone()),
                            _ => {}
                        }
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    Dump { text, blobs }
}

trait IntoResponse {
    fn into_response(self) -> Message;
}

impl IntoResponse for Step {
    fn into_response(self) -> Message {
        respond(self).response
    }
}

fn bad_mac_unknown_acquirer_and_missing_32_are_refused_without_an_exchange(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let mut tampered = net.purchase(PAN, 100, 10);
    tampered.set_str(4, "000000000101").unwrap();
    let response = switch.on_request(tampered, NOW_MS).into_response();
    assert_eq!(code(&response), "A0");
    net.verify(ACQUIRER, &response).expect("an A0 is still MAC'd for the acquirer");

    let mut stranger = unsigned_request("0200", "000000", PAN, 100, 11);
    stranger.set_str(32, "10000000999").unwrap();
    assert_eq!(code(&switch.on_request(stranger, NOW_MS).into_response()), "03");
    // An issuer is not an acquirer.
    let mut issuer_as_acquirer = unsigned_request("0200", "000000", PAN, 100, 12);
    issuer_as_acquirer.set_str(32, ISSUER).unwrap();
    assert_eq!(code(&switch.on_request(issuer_as_acquirer, NOW_MS).into_response()), "03");
    let mut no_32 = unsigned_request("0200", "000000", PAN, 100, 13);
    no_32.remove(32);
    assert_eq!(code(&switch.on_request(no_32, NOW_MS).into_response()), "30");

    assert!(switch.journal().exchanges(0).unwrap().is_empty(), "refused requests are not transactions");
    assert_eq!(switch.journal().messages(0).unwrap().len(), 8, "but every message is journaled");
    // The same request with a good MAC is not a duplicate of the refused one.
    assert_eq!(code(&round_trip(&net, &switch, net.purchase(PAN, 101, 10))), "00");
    // A response sent by an acquirer is ignored.
    let mut stray = net.purchase(PAN, 100, 14).response(&[2, 3, 4, 7, 11, 32]).unwrap();
    stray.set_str(39, "00").unwrap();
    assert!(matches!(switch.on_request(stray, NOW_MS), Step::Ignore));
}

fn format_errors(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let mut no_terminal = unsigned_request("0200", "000000", PAN, 100, 20);
    no_terminal.remove(41);
    net.sign(ACQUIRER, &mut no_terminal);
    assert_eq!(code(&switch.on_request(no_terminal, NOW_MS).into_response()), "30");
    let mut no_amount = unsigned_request("0200", "000000", PAN, 0, 21);
    net.sign(ACQUIRER, &mut no_amount);
    assert_eq!(code(&switch.on_request(no_amount, NOW_MS).into_response()), "30");
    // A reversal must say what it reverses.
    assert_eq!(code(&switch.on_request(net.request("0420", "000000", PAN, 100, 22), NOW_MS).into_response()), "30");
    assert_eq!(code(&switch.on_request(net.request("0200", "990000", PAN, 100, 23), NOW_MS).into_response()), "12");
    assert_eq!(code(&switch.on_request(net.request("0300", "000000", PAN, 100, 24), NOW_MS).into_response()), "40");
    // A card number of 11 digits is no PAN (12 to 19): a format error, not a routing one.
    assert_eq!(code(&switch.on_request(net.purchase(&PAN[..11], 100, 26), NOW_MS).into_response()), "30");
    // The spec's `an` takes an RRN with a space inside; the exchange keeps a domain `Rrn`,
    // which does not: refused here rather than journaled as an exchange that cannot be read.
    let mut spaced_rrn = unsigned_request("0200", "000000", PAN, 100, 27);
    spaced_rrn.set_str(37, "5074 6000027").unwrap();
    net.sign(ACQUIRER, &mut spaced_rrn);
    assert_eq!(code(&switch.on_request(spaced_rrn, NOW_MS).into_response()), "30");
    // A balance inquiry needs no amount.
    assert_eq!(code(&round_trip(&net, &switch, net.request("0200", "310000", PAN, 0, 25))), "00");
    let exchanges = switch.journal().exchanges(0).unwrap();
    assert_eq!(exchanges.len(), 1, "{exchanges:?}");
    assert_eq!(
        exchanges[0].terminal_id.map(|t| t.to_string()).as_deref(),
        unsigned_request("0200", "310000", PAN, 0, 25).get_str(41)
    );
}

fn no_bin_is_15(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let response = switch.on_request(net.purchase(NO_BIN_PAN, 100, 30), NOW_MS).into_response();
    assert_eq!(code(&response), "15");
    net.verify(ACQUIRER, &response).unwrap();
    let exchange = &switch.journal().exchanges(0).unwrap()[0];
    assert_eq!(exchange.status, ExchangeStatus::DeclinedBySwitch);
    assert_eq!(exchange.issuer, None);
    // Longest prefix wins: 6212340… is the second issuer's even though nothing shorter matches.
    assert_eq!(forward(switch.on_request(net.purchase(ISSUER2_PAN, 100, 31), NOW_MS)).issuer, ISSUER2);
}

fn duplicate_is_94_and_not_forwarded(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let request = net.purchase(PAN, 100, 40);
    assert_eq!(code(&round_trip(&net, &switch, request.clone())), "00");
    let again = switch.on_request(request.clone(), NOW_MS + 1000).into_response();
    assert_eq!(code(&again), "94");
    net.verify(ACQUIRER, &again).unwrap();
    // Same 32/11/7 but another class (an authorization) is a different transaction.
    let mut preauth = unsigned_request("0100", "030000", PAN, 100, 40);
    preauth.set_str(7, request.get_str(7).unwrap()).unwrap();
    net.sign(ACQUIRER, &mut preauth);
    assert!(matches!(switch.on_request(preauth, NOW_MS), Step::Forward(_)));
    assert_eq!(switch.journal().exchanges(0).unwrap().len(), 2);
}

fn pin_is_translated_between_zones(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let request = net.purchase_with_pin(PAN, 100, 50, PIN);
    let forward = forward(switch.on_request(request.clone(), NOW_MS));
    let translated = forward.request.get(52).unwrap();
    assert_ne!(translated, request.get(52).unwrap(), "the block is re-encrypted for the issuer");
    assert_eq!(translated.len(), 8);
    let answer = net.issuer_answer(ISSUER, &forward.request);
    assert_eq!(code(&answer), "00", "the issuer verified the PIN under its own ZPK");
    assert_eq!(code(&switch.on_issuer_response(forward.pending, answer, NOW_MS).response), "00");

    let wrong = round_trip(&net, &switch, net.purchase_with_pin(PAN, 100, 51, "9999"));
    assert_eq!(code(&wrong), "55");
    // A PIN block under a key the switch does not share with the acquirer does not translate.
    let mut foreign = unsigned_request("0200", "000000", PAN, 100, 52);
    foreign.set(52, &net.pin_block(ISSUER2, PIN, PAN)).unwrap();
    net.sign(ACQUIRER, &mut foreign);
    let response = switch.on_request(foreign, NOW_MS).into_response();
    assert_ne!(code(&response), "00");
    assert_eq!(code(&response), switch::engine::PIN_FORMAT_ERROR);
}

fn issuer_down_stands_in_within_limits_then_91(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let down = |request: Message| {
        let forward = forward(switch.on_request(request, NOW_MS));
        switch.on_issuer_failure(forward.pending, LinkFailure::Unavailable, NOW_MS + 5)
    };
    // Within limits (500.00 a transaction, 1000.00 and 3 a day per card): approved by the switch.
    let reply = down(net.purchase(PAN, 30_000, 60));
    assert_eq!(code(&reply.response), "00");
    let auth = reply.response.get_str(38).unwrap().to_owned();
    assert!(auth.starts_with('S') && auth.len() == 6, "{auth}");
    assert_eq!(reply.queued_for.as_deref(), Some(ISSUER));
    net.verify(ACQUIRER, &reply.response).unwrap();
    // Above the per-transaction limit: 91.
    let over = down(net.purchase(PAN, 50_001, 61));
    assert_eq!(code(&over.response), "91");
    assert_eq!(over.queued_for, None, "never sent, nothing to reverse");
    // The day's amount: 300 + 500 fits, then 300 more does not.
    assert_eq!(code(&down(net.purchase(PAN, 50_000, 62)).response), "00");
    assert_eq!(code(&down(net.purchase(PAN, 30_000, 63)).response), "91");
    // The day's count: a third small one fits, a fourth does not.
    assert_eq!(code(&down(net.purchase(PAN, 100, 64)).response), "00");
    assert_eq!(code(&down(net.purchase(PAN, 100, 65)).response), "91");
    // Another card has its own counters.
    assert_eq!(code(&down(net.purchase(PAN2, 100, 66)).response), "00");
    // Another currency, a PIN the switch cannot verify, a kind not stood in for: 91.
    let mut dollars = unsigned_request("0200", "000000", PAN2, 100, 67);
    dollars.set_str(49, "840").unwrap();
    net.sign(ACQUIRER, &mut dollars);
    assert_eq!(code(&down(dollars).response), "91");
    assert_eq!(code(&down(net.purchase_with_pin(PAN2, 100, 68, PIN)).response), "91");
    assert_eq!(code(&down(net.request("0200", "200000", PAN2, 100, 69)).response), "91");
    // An issuer without stand-in: 91.
    assert_eq!(code(&down(net.purchase(ISSUER2_PAN, 100, 70)).response), "91");
    // A pre-authorization stands in as an 0120.
    assert_eq!(code(&down(net.request("0100", "030000", PAN2, 100, 71)).response), "00");

    let exchange = switch.journal().exchanges(0).unwrap().into_iter().find(|e| e.acquirer_stan.value() == 60).unwrap();
    assert_eq!(exchange.status, ExchangeStatus::StandIn);
    assert!(exchange.stand_in);
    assert_eq!(exchange.auth_code.as_deref(), Some(auth.as_str()));
    let advices = switch.journal().advices_to(ISSUER).unwrap();
    let mtis: Vec<&str> = advices.iter().map(|a| a.mti.as_str()).collect();
    assert_eq!(mtis, ["0220", "0220", "0220", "0220", "0120"]);
    assert!(advices.iter().all(|a| a.purpose == AdvicePurpose::StandIn));
    let declined = switch.journal().exchanges(0).unwrap().into_iter().find(|e| e.acquirer_stan.value() == 61).unwrap();
    assert_eq!(declined.status, ExchangeStatus::NoAnswer);
    assert_eq!(declined.issuer_stan, None, "a request never sent leaves nothing to reverse");
}

fn stand_in_advice_is_delivered_and_repeated_until_acknowledged(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let request = net.purchase(PAN, 10_000, 80);
    let forward = forward(switch.on_request(request.clone(), NOW_MS));
    let issuer_stan = forward.request.get_str(11).unwrap().to_owned();
    let reply = switch.on_issuer_failure(forward.pending, LinkFailure::Unavailable, NOW_MS);
    let auth = reply.response.get_str(38).unwrap().to_owned();

    let due = switch.due_advices(ISSUER, NOW_MS).unwrap();
    assert_eq!(due.len(), 1);
    let advice = &due[0];
    assert_eq!(advice.message.mti().as_str(), "0220");
    net.verify(ISSUER, &advice.message).expect("advices carry the issuer ZAK's MAC");
    assert_eq!(advice.message.get_str(2), Some(PAN), "the issuer needs the card number");
    assert_eq!(advice.message.get_str(39), Some("00"));
    assert_eq!(advice.message.get_str(38), Some(auth.as_str()));
    assert_eq!(advice.message.get_str(100), Some(ISSUER));
    assert_ne!(advice.message.get_str(11), Some(issuer_stan.as_str()), "the advice is a message of its own");
    assert!(!advice.message.has(52));
    // No answer: tried again later, as 0221.
    assert_eq!(switch.advice_failed(advice, NOW_MS + 10_000).unwrap(), EntryState::Pending);
    assert!(switch.due_advices(ISSUER, NOW_MS + 10_000).unwrap().is_empty(), "not before its backoff");
    let later = NOW_MS + 10_000 + switch::limits::ADVICE_RETRY_DELAY_MS_MIN_DEFAULT;
    let due = switch.due_advices(ISSUER, later).unwrap();
    assert_eq!(due[0].message.mti().as_str(), "0221");
    assert_eq!(due[0].message.get(11), advice.message.get(11), "a repeat keeps 11 and 7");
    assert_eq!(due[0].message.get(7), advice.message.get(7));
    net.verify(ISSUER, &due[0].message).unwrap();
    // An answer with a bad MAC is not an acknowledgement.
    let mut forged = net.issuer_answer(ISSUER, &due[0].message);
    forged.set_str(39, "00").unwrap();
    forged.remove(128);
    network::mac::sign(net.hsm.as_ref(), &net.keys(ISSUER2).zak, &mut forged).unwrap();
    assert_eq!(switch.advice_answered(&due[0], &forged, later).unwrap(), AdviceOutcome::Retry(EntryState::Pending));
    // A 96 is "try again".
    let later = later + 60_000;
    let due = switch.due_advices(ISSUER, later).unwrap();
    let busy = net.issuer_answer_with(ISSUER, &due[0].message, |_| Some("96"));
    assert_eq!(switch.advice_answered(&due[0], &busy, later).unwrap(), AdviceOutcome::Retry(EntryState::Pending));
    let later = later + 600_000;
    let due = switch.due_advices(ISSUER, later).unwrap();
    let answer = net.issuer_answer(ISSUER, &due[0].message);
    assert_eq!(answer.mti().as_str(), "0230");
    assert_eq!(switch.advice_answered(&due[0], &answer, later).unwrap(), AdviceOutcome::Acknowledged("00".into()));
    assert!(switch.due_advices(ISSUER, later + 3_600_000).unwrap().is_empty());
    let counts = switch.journal().advice_counts(ISSUER).unwrap();
    assert_eq!((counts.pending, counts.done, counts.dead), (0, 1, 0));
    let record = &switch.journal().advices_to(ISSUER).unwrap()[0];
    assert_eq!(record.response_code, Some(ResponseCode::APPROVED));
    // Every attempt is journaled: 4 sends, 3 answers.
    let sent = switch
        .journal()
        .messages(0)
        .unwrap()
        .into_iter()
        .filter(|m| m.advice_id == Some(record.id))
        .map(|m| format!("{}{}", m.direction.as_str(), m.mti))
        .collect::<Vec<_>>();
    assert_eq!(sent, ["out0220", "out0221", "in0230", "out0221", "in0230", "out0221", "in0230"]);
}

fn issuer_timeout_is_98_and_one_reversal_is_delivered(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let forward = forward(switch.on_request(net.purchase(ISSUER2_PAN, 2_000, 90), NOW_MS));
    let sent = forward.request.clone();
    let reply = switch.on_issuer_failure(forward.pending, LinkFailure::Timeout, NOW_MS + 10_000);
    assert_eq!(code(&reply.response), "98");
    assert_eq!(reply.queued_for.as_deref(), Some(ISSUER2));
    let due = switch.due_advices(ISSUER2, NOW_MS + 10_000).unwrap();
    assert_eq!(due.len(), 1);
    let reversal = &due[0].message;
    assert_eq!(reversal.mti().as_str(), "0420");
    assert_eq!(due[0].purpose, AdvicePurpose::TimeoutReversal);
    let original = OriginalData::from_field90(reversal).unwrap();
    assert_eq!(original, OriginalData::of_request(&sent).unwrap(), "90 names the issuer-leg request");
    assert_eq!(reversal.get(4), sent.get(4));
    assert_eq!(reversal.get(37), sent.get(37));
    net.verify(ISSUER2, reversal).unwrap();
    let answer = net.issuer_answer(ISSUER2, reversal);
    assert_eq!(answer.mti().as_str(), "0430");
    assert!(matches!(
        switch.advice_answered(&due[0], &answer, NOW_MS + 10_050).unwrap(),
        AdviceOutcome::Acknowledged(_)
    ));
    assert!(switch.due_advices(ISSUER2, NOW_MS + 86_400_000).unwrap().is_empty(), "delivered once");
    // A balance inquiry that times out moved no money: nothing to reverse.
    let forward = common::forward(switch.on_request(net.request("0200", "310000", ISSUER2_PAN, 0, 91), NOW_MS));
    let reply = switch.on_issuer_failure(forward.pending, LinkFailure::Timeout, NOW_MS);
    assert_eq!(code(&reply.response), "98");
    assert_eq!(reply.queued_for, None);
    // A link lost after sending: 91, and a reversal all the same.
    let forward = common::forward(switch.on_request(net.purchase(ISSUER2_PAN, 2_000, 92), NOW_MS));
    let reply = switch.on_issuer_failure(forward.pending, LinkFailure::LinkLost, NOW_MS);
    assert_eq!(code(&reply.response), "91");
    assert_eq!(reply.queued_for.as_deref(), Some(ISSUER2));
}

fn timeout_with_stand_in_queues_the_reversal_then_the_advice(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let forward = forward(switch.on_request(net.purchase(PAN, 2_000, 100), NOW_MS));
    let sent = forward.request.clone();
    let reply = switch.on_issuer_failure(forward.pending, LinkFailure::Timeout, NOW_MS + 10_000);
    assert_eq!(code(&reply.response), "00", "stood in");
    let due = switch.due_advices(ISSUER, NOW_MS + 10_000).unwrap();
    let kinds: Vec<(String, AdvicePurpose)> = due.iter().map(|a| (a.message.mti().to_string(), a.purpose)).collect();
    // The issuer may have approved the original: it is reversed first, then the switch's own
    // decision follows as the one that stands.
    assert_eq!(
        kinds,
        [("0420".to_owned(), AdvicePurpose::TimeoutReversal), ("0220".to_owned(), AdvicePurpose::StandIn)]
    );
    assert_eq!(OriginalData::from_field90(&due[0].message).unwrap(), OriginalData::of_request(&sent).unwrap());
    // The transaction is now known to the issuer by the advice: a later reversal names it.
    let exchange = switch.journal().exchanges(0).unwrap().remove(0);
    assert_eq!(exchange.issuer_mti.as_deref(), Some("0220"));
    assert_eq!(exchange.issuer_stan, due[1].message.get_str(11).map(|s| Stan::parse(s).unwrap()));
}

fn no_stand_in_for_what_the_acquirer_reversed_while_waiting(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    // A purchase the stand-in would approve goes to the issuer; before its answer, the
    // acquirer's reversal of it arrives and is queued to the issuer.
    let original = net.purchase(PAN, 2_000, 130);
    let forward = forward(switch.on_request(original.clone(), NOW_MS));
    let reversal = respond(switch.on_request(net.referring("0420", "000000", &original, 131), NOW_MS + 5_000));
    assert_eq!(code(&reversal.response), "00");
    // Then the issuer fails: no stand-in, whose advice would post at the issuer after the
    // reversal there.
    let reply = switch.on_issuer_failure(forward.pending, LinkFailure::Timeout, NOW_MS + 10_000);
    assert_ne!(code(&reply.response), "00", "no approval for a reversed transaction");
    let due = switch.due_advices(ISSUER, NOW_MS + 10_000).unwrap();
    let purposes: Vec<AdvicePurpose> = due.iter().map(|a| a.purpose).collect();
    assert_eq!(purposes, [AdvicePurpose::AcquirerReversal], "the one reversal, no stand-in advice");
    let exchange = switch.journal().exchanges(0).unwrap().into_iter().find(|e| e.acquirer_stan.value() == 130).unwrap();
    assert!(!exchange.stand_in);
    assert_eq!(exchange.status, ExchangeStatus::NoAnswer);
}

fn acquirer_reversal_is_queued_once_and_answered_the_same(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let original = net.purchase(PAN, 5_000, 110);
    let forward = forward(switch.on_request(original.clone(), NOW_MS));
    let issuer_leg = forward.request.clone();
    let answer = net.issuer_answer(ISSUER, &forward.request);
    assert_eq!(code(&switch.on_issuer_response(forward.pending, answer, NOW_MS).response), "00");

    let reversal = net.referring("0420", "000000", &original, 111);
    let reply = respond(switch.on_request(reversal.clone(), NOW_MS + 30_000));
    assert_eq!(reply.response.mti().as_str(), "0430");
    assert_eq!(code(&reply.response), "00");
    assert_eq!(reply.queued_for.as_deref(), Some(ISSUER));
    net.verify(ACQUIRER, &reply.response).unwrap();
    // The acquirer did not hear back and repeats: 0421, same 11 and 7.
    let mut repeat = reversal.clone();
    repeat.set_mti(iso8583::Mti::parse("0421").unwrap());
    repeat.remove(128);
    net.sign(ACQUIRER, &mut repeat);
    let again = respond(switch.on_request(repeat, NOW_MS + 60_000));
    assert_eq!(again.response.mti().as_str(), "0430");
    assert_eq!(code(&again.response), "00", "answered the same, not 94");
    assert_eq!(again.queued_for, None);
    // A second reversal (another STAN) of the same original is answered and adds nothing.
    let other = respond(switch.on_request(net.referring("0420", "000000", &original, 112), NOW_MS + 90_000));
    assert_eq!(code(&other.response), "00");

    let due = switch.due_advices(ISSUER, NOW_MS + 90_000).unwrap();
    assert_eq!(due.len(), 1, "one reversal queued for one original");
    let sent = &due[0].message;
    assert_eq!(sent.mti().as_str(), "0420");
    assert_eq!(due[0].purpose, AdvicePurpose::AcquirerReversal);
    let named = OriginalData::from_field90(sent).unwrap();
    assert_eq!(named.stan, issuer_leg.get_str(11).unwrap(), "90.2 is the switch's STAN");
    assert_eq!(named.transmission_time, issuer_leg.get_str(7).unwrap());
    assert_eq!(named.forwarder, switch::dev::SWITCH_ID);
    assert_eq!(named.acquirer, ACQUIRER);
    assert_eq!(sent.get_str(33), Some(switch::dev::SWITCH_ID));
    assert_ne!(sent.get(11), reversal.get(11));
    let exchanges = switch.journal().exchanges(0).unwrap();
    let first = exchanges.iter().find(|e| e.acquirer_stan.value() == 111).unwrap();
    assert_eq!(first.original_id, Some(exchanges[0].id));
    assert_eq!(first.status, ExchangeStatus::Queued);
}

fn reversal_of_an_unknown_original_is_recorded_not_forwarded(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let never_seen = net.purchase(PAN, 5_000, 120);
    let reply = respond(switch.on_request(net.referring("0420", "000000", &never_seen, 121), NOW_MS));
    assert_eq!(code(&reply.response), "00");
    assert_eq!(reply.queued_for, None);
    assert!(switch.due_advices(ISSUER, NOW_MS + 1).unwrap().is_empty());
    let exchange = &switch.journal().exchanges(0).unwrap()[0];
    assert_eq!(exchange.status, ExchangeStatus::Recorded);
    assert_eq!(exchange.original_id, None);
    // Nor is the reversal of a transaction the switch declined itself.
    let declined = net.purchase(NO_BIN_PAN, 100, 122);
    assert_eq!(code(&switch.on_request(declined.clone(), NOW_MS).into_response()), "15");
    let reply = respond(switch.on_request(net.referring("0420", "000000", &declined, 123), NOW_MS));
    assert_eq!(code(&reply.response), "00");
    assert_eq!(reply.queued_for, None);
}

fn acquirer_reversal_after_a_timeout_reversal_adds_nothing(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let original = net.purchase(ISSUER2_PAN, 5_000, 130);
    let forward = forward(switch.on_request(original.clone(), NOW_MS));
    assert_eq!(code(&switch.on_issuer_failure(forward.pending, LinkFailure::Timeout, NOW_MS).response), "98");
    let reply = respond(switch.on_request(net.referring("0420", "000000", &original, 131), NOW_MS + 1_000));
    assert_eq!(code(&reply.response), "00");
    assert_eq!(reply.queued_for, None, "the switch's own reversal is already queued");
    assert_eq!(switch.due_advices(ISSUER2, NOW_MS + 1_000).unwrap().len(), 1);
}

fn void_and_completion_name_the_issuer_leg_original(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let purchase = net.purchase(PAN, 5_000, 140);
    let forward1 = forward(switch.on_request(purchase.clone(), NOW_MS));
    let purchase_leg = forward1.request.clone();
    switch.on_issuer_response(forward1.pending, net.issuer_answer(ISSUER, &purchase_leg), NOW_MS);

    let void = net.referring("0200", "020000", &purchase, 141);
    let forward2 = forward(switch.on_request(void, NOW_MS + 1_000));
    let named = OriginalData::from_field90(&forward2.request).unwrap();
    assert_eq!(named, OriginalData::of_request(&purchase_leg).unwrap(), "90 rewritten to the issuer leg");
    assert_eq!(
        code(
            &switch.on_issuer_response(forward2.pending, net.issuer_answer(ISSUER, &forward2.request), NOW_MS).response
        ),
        "00"
    );

    // A pre-authorization, then its completion as an acquirer advice (0220): queued, answered 00.
    let preauth = net.request("0100", "030000", PAN, 8_000, 142);
    let forward3 = forward(switch.on_request(preauth.clone(), NOW_MS));
    let preauth_leg = forward3.request.clone();
    switch.on_issuer_response(forward3.pending, net.issuer_answer(ISSUER, &preauth_leg), NOW_MS);
    let mut completion = unsigned_request("0220", "000000", PAN, 7_500, 143);
    completion.set_str(25, "06").unwrap();
    OriginalData::of_request(&preauth).unwrap().set_field90(&mut completion).unwrap();
    net.sign(ACQUIRER, &mut completion);
    let reply = respond(switch.on_request(completion, NOW_MS));
    assert_eq!(reply.response.mti().as_str(), "0230");
    assert_eq!(code(&reply.response), "00");
    let due = switch.due_advices(ISSUER, NOW_MS).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].message.mti().as_str(), "0220");
    assert_eq!(due[0].purpose, AdvicePurpose::AcquirerAdvice);
    assert!(!due[0].message.has(39), "an acquirer advice is not a stand-in advice");
    assert_eq!(OriginalData::from_field90(&due[0].message).unwrap(), OriginalData::of_request(&preauth_leg).unwrap());

    // An online completion (0200) while the issuer is down: stood in, and the advice names the
    // pre-authorization as the issuer knows it.
    let answer = net.issuer_answer(ISSUER, &due[0].message);
    switch.advice_answered(&due[0], &answer, NOW_MS).unwrap();
    let mut online = unsigned_request("0200", "000000", PAN, 500, 146);
    online.set_str(25, "06").unwrap();
    OriginalData::of_request(&preauth).unwrap().set_field90(&mut online).unwrap();
    net.sign(ACQUIRER, &mut online);
    let forward4 = forward(switch.on_request(online, NOW_MS));
    assert_eq!(OriginalData::from_field90(&forward4.request).unwrap(), OriginalData::of_request(&preauth_leg).unwrap());
    let reply = switch.on_issuer_failure(forward4.pending, LinkFailure::Unavailable, NOW_MS);
    assert_eq!(code(&reply.response), "00");
    let due = switch.due_advices(ISSUER, NOW_MS).unwrap();
    assert_eq!((due[0].message.mti().as_str(), due[0].purpose), ("0220", AdvicePurpose::StandIn));
    assert_eq!(OriginalData::from_field90(&due[0].message).unwrap(), OriginalData::of_request(&preauth_leg).unwrap());

    // A void of something the switch never saw: 25.
    let unknown = net.purchase(PAN, 5_000, 144);
    let response = switch.on_request(net.referring("0200", "020000", &unknown, 145), NOW_MS).into_response();
    assert_eq!(code(&response), "25");
}

fn issuer_response_with_a_bad_mac_is_96_and_reversed(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let forward = forward(switch.on_request(net.purchase(PAN, 5_000, 150), NOW_MS));
    let mut answer = net.issuer_answer(ISSUER, &forward.request);
    answer.remove(128);
    network::mac::sign(net.hsm.as_ref(), &net.keys(ACQUIRER).zak, &mut answer).unwrap();
    let reply = switch.on_issuer_response(forward.pending, answer, NOW_MS);
    assert_eq!(code(&reply.response), "96");
    assert_eq!(reply.queued_for.as_deref(), Some(ISSUER));
    let due = switch.due_advices(ISSUER, NOW_MS).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].purpose, AdvicePurpose::TimeoutReversal);
}

fn advices_survive_a_restart(backend: Backend) {
    let net = Net::new(backend);
    {
        let switch = net.switch();
        for stan in [160, 161] {
            let forward = forward(switch.on_request(net.purchase(PAN, 1_000, stan), NOW_MS));
            assert_eq!(
                code(&switch.on_issuer_failure(forward.pending, LinkFailure::Unavailable, NOW_MS).response),
                "00"
            );
        }
        let forward = forward(switch.on_request(net.purchase(ISSUER2_PAN, 1_000, 162), NOW_MS));
        switch.on_issuer_failure(forward.pending, LinkFailure::Timeout, NOW_MS);
    }
    // A new process over the same database.
    let switch = net.switch();
    let due = switch.due_advices(ISSUER, NOW_MS + 1).unwrap();
    assert_eq!(due.len(), 2);
    for advice in &due {
        let answer = net.issuer_answer(ISSUER, &advice.message);
        assert!(matches!(switch.advice_answered(advice, &answer, NOW_MS + 2).unwrap(), AdviceOutcome::Acknowledged(_)));
    }
    assert_eq!(switch.due_advices(ISSUER2, NOW_MS + 1).unwrap().len(), 1);
    // Duplicates are still recognised after the restart, and STANs do not repeat.
    let again = switch.on_request(net.purchase(PAN, 1_000, 160), NOW_MS).into_response();
    assert_eq!(code(&again), "94");
    let forward = forward(switch.on_request(net.purchase(PAN, 1_000, 163), NOW_MS));
    let stans: Vec<String> =
        switch.journal().exchanges(0).unwrap().iter().filter_map(|e| e.issuer_stan.map(|s| s.to_string())).collect();
    assert!(!stans[..stans.len() - 1].contains(&forward.request.get_str(11).unwrap().to_owned()));
}

fn advices_keep_their_order_per_issuer(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    for stan in [170, 171, 172] {
        let forward = forward(switch.on_request(net.purchase(PAN2, 100, stan), NOW_MS));
        switch.on_issuer_failure(forward.pending, LinkFailure::Unavailable, NOW_MS);
    }
    let due = switch.due_advices(ISSUER, NOW_MS).unwrap();
    assert_eq!(due.len(), 3);
    let first = due[0].clone();
    // The first fails: nothing behind it is due until it is retried.
    switch.advice_failed(&first, NOW_MS).unwrap();
    assert!(switch.due_advices(ISSUER, NOW_MS + 1).unwrap().is_empty());
    let retry_at = NOW_MS + switch::limits::ADVICE_RETRY_DELAY_MS_MIN_DEFAULT;
    let due = switch.due_advices(ISSUER, retry_at).unwrap();
    assert_eq!(due.len(), 3);
    assert_eq!(due[0].id, first.id);
    assert_eq!(due[0].message.mti().as_str(), "0221");
    assert_eq!(due[1].message.mti().as_str(), "0220");
}

fn clearing_records_of_the_day(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let purchase = net.purchase(PAN, 12_500, 180);
    assert_eq!(code(&round_trip(&net, &switch, purchase.clone())), "00");
    let declined = net.purchase_with_pin(PAN, 100, 181, "9999");
    assert_eq!(code(&round_trip(&net, &switch, declined)), "55");
    assert_eq!(code(&round_trip(&net, &switch, net.request("0200", "310000", PAN, 0, 182))), "00");
    let forward = forward(switch.on_request(net.purchase(PAN2, 2_000, 183), NOW_MS));
    switch.on_issuer_failure(forward.pending, LinkFailure::Unavailable, NOW_MS);
    respond(switch.on_request(net.referring("0420", "000000", &purchase, 184), NOW_MS));
    // A completion and its void (25 = 06) clear too; the pre-authorization does not.
    let mut preauth = net.request("0100", "030000", PAN, 3_000, 185);
    preauth.set_str(25, "06").unwrap();
    net.sign(ACQUIRER, &mut preauth);
    assert_eq!(code(&round_trip(&net, &switch, preauth.clone())), "00");
    let mut completion = net.referring("0200", "000000", &preauth, 186);
    completion.set_str(25, "06").unwrap();
    net.sign(ACQUIRER, &mut completion);
    assert_eq!(code(&round_trip(&net, &switch, completion.clone())), "00");
    let mut void = net.referring("0200", "020000", &completion, 187);
    void.set_str(25, "06").unwrap();
    net.sign(ACQUIRER, &mut void);
    assert_eq!(code(&round_trip(&net, &switch, void)), "00");

    let day = switch.natural_business_date(NOW_MS);
    let records: Vec<clearing::ClearingRecord> =
        switch.clearing_records(day, switch::clearing_records::no_exceptions()).collect::<Result<_, _>>().unwrap();
    let summary: Vec<(&str, u64, bool)> = records.iter().map(|r| (r.code.code(), r.amount_minor, r.stand_in)).collect();
    assert_eq!(
        summary,
        vec![
            ("PUR", 12_500, false),
            ("PUR", 2_000, true),
            ("REV", 12_500, false),
            ("CMP", 3_000, false),
            ("CVD", 3_000, false),
        ]
    );
    assert_eq!(records[2].original_reference, records[0].reference);
    assert_eq!(records[2].original_stan, records[0].stan);
    assert_eq!(records[0].pan_masked, "622424******0113");
    assert_eq!(records[0].auth_code, "AB1234");
    assert_eq!(records[0].issuer, ISSUER);
    assert_eq!(records[0].mcc, "5411");
    // A reversal and a completion's void carry exactly their originals' fees back.
    for (original, undo) in [(0, 2), (3, 4)] {
        assert_eq!(records[undo].interchange_fee_minor, -records[original].interchange_fee_minor);
        assert_eq!(records[undo].network_fee_minor, -records[original].network_fee_minor);
        assert_eq!(records[undo].settlement_minor, -records[original].settlement_minor);
        assert!(records[original].interchange_fee_minor > 0);
    }
    let empty = switch.clearing_records(day.previous(), switch::clearing_records::no_exceptions());
    assert_eq!(empty.count(), 0);
}

/// The switch's rows of docs/network-flows.md §5.2: (what is reversed, 39 of the reversal,
/// the switch's answer, whether a reversal is queued to the issuer).
fn reversals_of_what_is_not_reversible_are_refused(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let approved = |request: Message| {
        let answer = round_trip(&net, &switch, request.clone());
        assert_eq!(code(&answer), "00");
        request
    };
    let refund = approved(net.request("0200", "200000", PAN, 3_000, 200));
    let balance = approved(net.request("0200", "310000", PAN, 0, 201));
    let advice = net.request("0220", "000000", PAN, 4_000, 202);
    assert_eq!(code(&respond(switch.on_request(advice.clone(), NOW_MS)).response), "00");
    let purchase = approved(net.purchase(PAN, 5_000, 203));
    let queued_before = switch.due_advices(ISSUER, NOW_MS + 1).unwrap().len();
    let rows: [(&Message, Option<&str>, &str, bool); 5] = [
        (&refund, None, "12", false),
        (&balance, None, "12", false),
        (&advice, None, "12", false),
        (&refund, Some("98"), "00", true),
        (&purchase, Some("06"), "00", true),
    ];
    for (stan, (original, reason, expected, queued)) in (210u32..).zip(rows) {
        let processing = original.get_str(3).unwrap();
        let mut reversal = net.referring("0420", processing, original, stan);
        if let Some(reason) = reason {
            reversal.set_str(39, reason).unwrap();
            reversal.remove(128);
            net.sign(ACQUIRER, &mut reversal);
        }
        let reply = respond(switch.on_request(reversal.clone(), NOW_MS + 1_000));
        assert_eq!(code(&reply.response), expected, "{processing} {reason:?}");
        assert_eq!(reply.queued_for.is_some(), queued, "{processing} {reason:?}");
        // Its repeat is answered the same.
        let mut repeat = reversal;
        repeat.set_mti(iso8583::Mti::parse("0421").unwrap());
        repeat.remove(128);
        net.sign(ACQUIRER, &mut repeat);
        assert_eq!(code(&respond(switch.on_request(repeat, NOW_MS + 2_000)).response), expected);
    }
    let due = switch.due_advices(ISSUER, NOW_MS + 3_000).unwrap();
    assert_eq!(due.len(), queued_before + 2, "only the honoured reversals go to the issuer");
    assert_eq!(due.last().unwrap().message.get_str(39), Some("06"), "the reason travels with it");
    // An unknown original's reversal of a refund is refused the same.
    let never_seen = net.request("0200", "200000", PAN, 1_000, 220);
    let reply = respond(switch.on_request(net.referring("0420", "200000", &never_seen, 221), NOW_MS));
    assert_eq!(code(&reply.response), "12");
    // The switch's own timeout reversal of a refund says why (98), so the issuer takes it.
    let forward = forward(switch.on_request(net.request("0200", "200000", ISSUER2_PAN, 700, 222), NOW_MS));
    switch.on_issuer_failure(forward.pending, LinkFailure::Timeout, NOW_MS + 10_000);
    let due = switch.due_advices(ISSUER2, NOW_MS + 10_000).unwrap();
    assert_eq!((due[0].message.mti().as_str(), due[0].message.get_str(39)), ("0420", Some("98")));
}
