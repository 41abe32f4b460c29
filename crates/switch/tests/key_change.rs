//! Key change (0800/101) from the switch core (no sockets) against a fake issuer that takes the
//! key under the ZMK as the real one does, on SQLite and (with CARDNET_TEST_PG) PostgreSQL.

mod common;

use common::*;
use domain::ResponseCode;
use hsm::pinblock::PinFormat;
use hsm::{KeyType, PinVerification, SecurityModule, WrappedKey};
use iso8583::Message;
use switch::journal::Leg;
use switch::{KeyChangeOutcome, KeyChangeRequest, Step, Switch, WorkingKey};
use transport::netmgmt;

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(super::Backend::sqlite(concat!("kc_", stringify!($name)))) })*
        }
        mod postgres {
            $(#[test] fn $name() {
                let name = concat!("kc_", stringify!($name));
                if let Some(backend) = super::Backend::postgres(name) { super::$name(backend) }
            })*
        }
    };
}

scenarios!(
    the_switch_offers_a_key_under_the_zmk_and_uses_it_once_confirmed,
    answers_mac_d_with_the_old_zak_verify_only_within_the_grace,
    refusals_keep_the_old_key_and_drop_the_offered_one,
    an_unanswered_change_offers_the_same_key_again,
    restart_keeps_the_newest_keys_the_grace_and_a_pending_key,
    an_acquirers_key_change_is_not_taken,
);

const GRACE_MS: u64 = switch::limits::KEY_GRACE_MS_DEFAULT;

/// The issuer end of the link as the test plays it: the keys it holds.
struct FakeLink {
    zmk: WrappedKey,
    zpk: WrappedKey,
    zak: WrappedKey,
}

impl FakeLink {
    fn of(net: &Net) -> FakeLink {
        let keys = net.keys(ISSUER);
        FakeLink { zmk: keys.zmk.clone(), zpk: keys.zpk.clone(), zak: keys.zak.clone() }
    }

    /// Take the key of an 0800/101 as the issuer does: MAC, import under the ZMK, check value;
    /// the 0810 MAC'd with the ZAK that verified the 0800.
    fn take(&mut self, net: &Net, request: &Message) -> Message {
        network::mac::verify(net.hsm.as_ref(), &self.zak, request).expect("the 0800/101 is MAC'd with the current ZAK");
        let change = netmgmt::read_key_change(request).unwrap();
        let key_type = match change.key {
            WorkingKey::Zpk => KeyType::Zpk,
            WorkingKey::Zak => KeyType::Zak,
        };
        let imported = net.hsm.import_key_block(&self.zmk, key_type, &change.key_block).unwrap();
        assert!(netmgmt::check_value_matches(&change.check_value, imported.kcv()), "96 is the key's check value");
        let check_value = netmgmt::check_value_field(imported.kcv()).unwrap();
        let mut response = netmgmt::key_change_answer(request, "00", Some(&check_value)).unwrap();
        network::mac::sign(net.hsm.as_ref(), &self.zak, &mut response).unwrap();
        match change.key {
            WorkingKey::Zpk => self.zpk = imported,
            WorkingKey::Zak => self.zak = imported,
        }
        response
    }

    /// The issuer's answer to a forwarded request, MAC'd with `zak`.
    fn answer(&self, net: &Net, request: &Message, zak: &WrappedKey) -> Message {
        let mut response = request.response(&[2, 3, 4, 7, 11, 32, 33, 37, 41, 42, 49, 100]).unwrap();
        response.set_str(39, "00").unwrap();
        response.set_str(38, "KC0001").unwrap();
        network::mac::sign(net.hsm.as_ref(), zak, &mut response).unwrap();
        response
    }
}

fn refuse(net: &Net, request: &Message, zak: &WrappedKey, code: &str) -> Message {
    let mut response = netmgmt::key_change_answer(request, code, None).unwrap();
    network::mac::sign(net.hsm.as_ref(), zak, &mut response).unwrap();
    response
}

fn status(switch: &Switch, key: WorkingKey) -> switch::LinkKeyStatus {
    switch.link_keys(ISSUER).into_iter().find(|s| s.key == key).unwrap()
}

fn begin(switch: &Switch, key: WorkingKey, now_ms: u64) -> KeyChangeRequest {
    switch.begin_key_change(ISSUER, key, now_ms).unwrap()
}

fn forward_of(step: Step) -> switch::Forward {
    forward(step)
}

fn the_switch_offers_a_key_under_the_zmk_and_uses_it_once_confirmed(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let mut issuer = FakeLink::of(&net);
    let (old_zak, old_zpk) = (issuer.zak.clone(), issuer.zpk.clone());

    // The ZAK: the layout of docs/network-spec.md §3.
    let change = begin(&switch, WorkingKey::Zak, NOW_MS);
    let request = &change.request;
    assert_eq!((request.mti().as_str(), request.get_str(70)), ("0800", Some("101")));
    assert_eq!(request.get_str(53), Some("0200000000000000"));
    assert_eq!(request.get_str(32), Some(switch::dev::SWITCH_ID));
    assert_eq!(request.get_str(33), Some(switch::dev::SWITCH_ID));
    assert!(request.get_str(48).unwrap().starts_with('B'), "a TR-31 version B block under the TDES ZMK");
    assert!(!format!("{change:?}").contains(request.get_str(48).unwrap()), "Debug leaves the block out");
    assert_eq!(status(&switch, WorkingKey::Zak).pending_kcv.as_deref(), Some(change.new_kcv()));
    // Until the answer, the old key is used.
    let before = forward_of(switch.on_request(net.purchase(PAN, 100, 1), NOW_MS));
    network::mac::verify(net.hsm.as_ref(), &old_zak, &before.request).unwrap();

    let answer = issuer.take(&net, request);
    let outcome = switch.key_change_answered(&change, &answer, NOW_MS + 5).unwrap();
    assert_eq!(outcome, KeyChangeOutcome::Activated { kcv: issuer.zak.kcv().to_owned() });
    let zak = status(&switch, WorkingKey::Zak);
    assert_eq!((zak.kcv.as_str(), zak.previous_kcv.as_deref()), (issuer.zak.kcv(), Some(old_zak.kcv())));
    assert_eq!((zak.activated_ms, zak.pending_kcv), (Some(NOW_MS + 5), None));

    // The ZPK.
    let change = begin(&switch, WorkingKey::Zpk, NOW_MS + 10);
    assert_eq!(change.request.get_str(53), Some("0100000000000000"));
    network::mac::verify(net.hsm.as_ref(), &issuer.zak, &change.request).expect("MAC'd with the new ZAK already");
    let answer = issuer.take(&net, &change.request);
    assert!(matches!(
        switch.key_change_answered(&change, &answer, NOW_MS + 12).unwrap(),
        KeyChangeOutcome::Activated { .. }
    ));
    assert_ne!(issuer.zpk.kcv(), old_zpk.kcv());

    // From now on: MAC with the new ZAK, PIN blocks under the new ZPK.
    let forward = forward_of(switch.on_request(net.purchase_with_pin(PAN, 100, 2, PIN), NOW_MS + 20));
    network::mac::verify(net.hsm.as_ref(), &issuer.zak, &forward.request).expect("the new ZAK");
    assert!(network::mac::verify(net.hsm.as_ref(), &old_zak, &forward.request).is_err());
    let pvv = net.pvv(PAN);
    let block = forward.request.get(52).unwrap();
    let verification = PinVerification::Pvv { pvki: 1, pvv: &pvv };
    net.hsm.verify_pin(&issuer.zpk, PinFormat::Iso0, block, PAN, &net.pvk, &verification).expect("under the new ZPK");
    assert!(net.hsm.verify_pin(&old_zpk, PinFormat::Iso0, block, PAN, &net.pvk, &verification).is_err());
    let answer = issuer.answer(&net, &forward.request, &issuer.zak);
    let response = switch.on_issuer_response(forward.pending, answer, NOW_MS + 30).response;
    assert_eq!(code(&response), "00");
    net.verify(ACQUIRER, &response).expect("the acquirer link keeps its configured keys");
    // Advices go out under the new ZAK as well.
    let queued = forward_of(switch.on_request(net.purchase(PAN, 100, 3), NOW_MS + 40));
    switch.on_issuer_failure(queued.pending, switch::LinkFailure::Timeout, NOW_MS + 50);
    let due = switch.due_advices(ISSUER, NOW_MS + 60).unwrap();
    network::mac::verify(net.hsm.as_ref(), &issuer.zak, &due[0].message).unwrap();
    let ack = issuer.answer(&net, &due[0].message, &issuer.zak);
    assert!(matches!(
        switch.advice_answered(&due[0], &ack, NOW_MS + 70).unwrap(),
        switch::AdviceOutcome::Acknowledged(_)
    ));
    // The other issuer's link is untouched.
    assert_eq!(switch.link_keys(ISSUER2)[1].kcv, net.keys(ISSUER2).zak.kcv());

    // The journal: both changes with check values, the 0800s and 0810s among the messages, and
    // no key material anywhere but TR-31 blocks under the LMK.
    let changes = switch.key_changes(ISSUER).unwrap();
    let summary: Vec<(Option<WorkingKey>, &str, Option<&str>)> = changes
        .iter()
        .map(|c| (c.key, c.outcome.as_str(), c.response_code.as_ref().map(ResponseCode::as_str)))
        .collect();
    assert_eq!(
        summary,
        [(Some(WorkingKey::Zak), "activated", Some("00")), (Some(WorkingKey::Zpk), "activated", Some("00"))]
    );
    assert_eq!((changes[0].old_kcv.as_str(), changes[0].new_kcv.as_str()), (old_zak.kcv(), issuer.zak.kcv()));
    let rows = switch
        .database()
        .transaction(|tx| tx.query("SELECT key_block, state FROM switch_link_keys ORDER BY id", &[]))
        .unwrap();
    assert_eq!(rows.len(), 4, "per key: the configured one retired, the new one active");
    for row in &rows {
        let block = row.text(0).unwrap();
        let wrapped = WrappedKey::from_block(block).expect("a key block under the LMK");
        assert!(matches!(wrapped.key_type(), KeyType::Zpk | KeyType::Zak));
    }
    let management = switch
        .database()
        .transaction(|tx| {
            tx.query(
                "SELECT direction, leg, link, mti, response_code FROM switch_messages WHERE mti LIKE '08%' ORDER BY id",
                &[],
            )
        })
        .unwrap();
    let seen: Vec<(String, String, String, String)> = management
        .iter()
        .map(|r| {
            (r.text(0).unwrap(), r.text(1).unwrap(), r.text(3).unwrap(), r.opt_text(4).unwrap().unwrap_or_default())
        })
        .collect();
    let expected =
        |d: &str, m: &str, c: &str| (d.to_owned(), Leg::Issuer.as_str().to_owned(), m.to_owned(), c.to_owned());
    assert_eq!(
        seen,
        [
            expected("out", "0800", ""),
            expected("in", "0810", "00"),
            expected("out", "0800", ""),
            expected("in", "0810", "00")
        ]
    );
}

fn answers_mac_d_with_the_old_zak_verify_only_within_the_grace(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let mut issuer = FakeLink::of(&net);
    let old_zak = issuer.zak.clone();
    // Two requests leave under the old ZAK; the change happens while they are at the issuer.
    let first = forward_of(switch.on_request(net.purchase(PAN, 100, 10), NOW_MS));
    let second = forward_of(switch.on_request(net.purchase(PAN2, 100, 11), NOW_MS));
    let change = begin(&switch, WorkingKey::Zak, NOW_MS + 1);
    let answer = issuer.take(&net, &change.request);
    assert!(matches!(
        switch.key_change_answered(&change, &answer, NOW_MS + 2).unwrap(),
        KeyChangeOutcome::Activated { .. }
    ));
    // Answered under the old ZAK (the key the request had): within the grace, relayed.
    let late = issuer.answer(&net, &first.request, &old_zak);
    let response = switch.on_issuer_response(first.pending, late, NOW_MS + 2 + GRACE_MS - 1).response;
    assert_eq!(code(&response), "00");
    // After it: not trusted (96, and a reversal queued).
    let too_late = issuer.answer(&net, &second.request, &old_zak);
    let reply = switch.on_issuer_response(second.pending, too_late, NOW_MS + 2 + GRACE_MS);
    assert_eq!(code(&reply.response), "96");
    assert_eq!(reply.queued_for.as_deref(), Some(ISSUER));
    // Under the new one, always.
    let third = forward_of(switch.on_request(net.purchase(PAN, 100, 12), NOW_MS + 3 * GRACE_MS));
    let answer = issuer.answer(&net, &third.request, &issuer.zak);
    assert_eq!(code(&switch.on_issuer_response(third.pending, answer, NOW_MS + 3 * GRACE_MS).response), "00");
}

fn refusals_keep_the_old_key_and_drop_the_offered_one(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let issuer = FakeLink::of(&net);
    let unchanged = |switch: &Switch| {
        let zak = status(switch, WorkingKey::Zak);
        assert_eq!((zak.kcv.as_str(), zak.activated_ms, zak.pending_kcv.as_deref()), (issuer.zak.kcv(), None, None));
    };
    // 96: the block did not open, or the check value differed, at the issuer.
    let change = begin(&switch, WorkingKey::Zak, NOW_MS);
    let answer = refuse(&net, &change.request, &issuer.zak, "96");
    assert_eq!(
        switch.key_change_answered(&change, &answer, NOW_MS + 1).unwrap(),
        KeyChangeOutcome::Refused { response_code: ResponseCode::SYSTEM_MALFUNCTION }
    );
    unchanged(&switch);
    // The next change offers a fresh key, not the refused one.
    let next = begin(&switch, WorkingKey::Zak, NOW_MS + 2);
    assert_ne!(next.new_kcv(), change.new_kcv());
    // 00 with a check value that is not the key's: no switch-over.
    let mut lying = netmgmt::key_change_answer(&next.request, "00", Some(&[9, 9, 9, 0, 0, 0, 0, 0])).unwrap();
    network::mac::sign(net.hsm.as_ref(), &issuer.zak, &mut lying).unwrap();
    assert_eq!(switch.key_change_answered(&next, &lying, NOW_MS + 3).unwrap(), KeyChangeOutcome::CheckValueMismatch);
    unchanged(&switch);
    // A 30 for a ZPK.
    let zpk = begin(&switch, WorkingKey::Zpk, NOW_MS + 4);
    let answer = refuse(&net, &zpk.request, &issuer.zak, "30");
    assert!(matches!(switch.key_change_answered(&zpk, &answer, NOW_MS + 5).unwrap(), KeyChangeOutcome::Refused { .. }));
    assert_eq!(status(&switch, WorkingKey::Zpk).kcv, issuer.zpk.kcv());
    // The link works with the old keys; nothing pending is left on disk.
    let forward = forward_of(switch.on_request(net.purchase(PAN, 100, 20), NOW_MS + 6));
    network::mac::verify(net.hsm.as_ref(), &issuer.zak, &forward.request).unwrap();
    let stored = switch.database().transaction(|tx| tx.query("SELECT state FROM switch_link_keys", &[])).unwrap();
    assert!(stored.is_empty(), "refused keys are not kept");
    let outcomes: Vec<String> = switch.key_changes(ISSUER).unwrap().into_iter().map(|c| c.outcome).collect();
    assert_eq!(outcomes, ["refused", "check_value_mismatch", "refused"]);
}

fn an_unanswered_change_offers_the_same_key_again(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let mut issuer = FakeLink::of(&net);
    let old_zak = issuer.zak.clone();
    let first = begin(&switch, WorkingKey::Zak, NOW_MS);
    // The issuer took it, but the 0810 was lost.
    let _lost = issuer.take(&net, &first.request);
    assert_eq!(switch.key_change_failed(&first, NOW_MS + 10_000).unwrap(), KeyChangeOutcome::Unanswered);
    assert_eq!(status(&switch, WorkingKey::Zak).kcv, old_zak.kcv(), "not switched over");
    // An answer that cannot be trusted (MAC under another key) counts as none.
    let second = begin(&switch, WorkingKey::Zak, NOW_MS + 20_000);
    assert_eq!(second.new_kcv(), first.new_kcv(), "the same key, offered again");
    assert_ne!(second.request.get_str(11), first.request.get_str(11), "with a new STAN");
    network::mac::verify(net.hsm.as_ref(), &old_zak, &second.request).expect("still MAC'd with the key in use");
    let stranger = refuse(&net, &second.request, &net.keys(ISSUER2).zak, "00");
    assert_eq!(switch.key_change_answered(&second, &stranger, NOW_MS + 20_001).unwrap(), KeyChangeOutcome::Unanswered);
    // The third attempt is answered (the issuer sees a repeat of the key it has).
    let third = begin(&switch, WorkingKey::Zak, NOW_MS + 30_000);
    assert_eq!(third.new_kcv(), first.new_kcv());
    let check_value = netmgmt::check_value_field(issuer.zak.kcv()).unwrap();
    let mut repeat = netmgmt::key_change_answer(&third.request, "00", Some(&check_value)).unwrap();
    network::mac::sign(net.hsm.as_ref(), &old_zak, &mut repeat).unwrap();
    assert!(matches!(
        switch.key_change_answered(&third, &repeat, NOW_MS + 30_001).unwrap(),
        KeyChangeOutcome::Activated { .. }
    ));
    assert_eq!(status(&switch, WorkingKey::Zak).kcv, issuer.zak.kcv(), "both ends on one key");
    let outcomes: Vec<String> = switch.key_changes(ISSUER).unwrap().into_iter().map(|c| c.outcome).collect();
    assert_eq!(outcomes, ["unanswered", "unanswered", "activated"]);
}

fn restart_keeps_the_newest_keys_the_grace_and_a_pending_key(backend: Backend) {
    let net = Net::new(backend);
    let mut issuer = FakeLink::of(&net);
    let (old_zak, old_zpk) = (issuer.zak.clone(), issuer.zpk.clone());
    let pending_kcv;
    {
        let switch = net.switch();
        for (key, at) in [(WorkingKey::Zak, NOW_MS), (WorkingKey::Zpk, NOW_MS + 1)] {
            let change = begin(&switch, key, at);
            let answer = issuer.take(&net, &change.request);
            assert!(matches!(
                switch.key_change_answered(&change, &answer, at).unwrap(),
                KeyChangeOutcome::Activated { .. }
            ));
        }
        // A second ZAK change that goes unanswered: pending across the restart.
        let change = begin(&switch, WorkingKey::Zak, NOW_MS + 2);
        switch.key_change_failed(&change, NOW_MS + 3).unwrap();
        pending_kcv = change.new_kcv().to_owned();
    }
    // A new process over the same database: the newest keys win over the configuration's.
    let switch = net.switch();
    let zak = status(&switch, WorkingKey::Zak);
    assert_eq!(zak.kcv, issuer.zak.kcv());
    assert_eq!(zak.previous_kcv.as_deref(), Some(old_zak.kcv()));
    assert_eq!(zak.activated_ms, Some(NOW_MS));
    assert_eq!(zak.pending_kcv.as_deref(), Some(pending_kcv.as_str()));
    let zpk = status(&switch, WorkingKey::Zpk);
    assert_eq!((zpk.kcv.as_str(), zpk.previous_kcv.as_deref()), (issuer.zpk.kcv(), Some(old_zpk.kcv())));
    let forward = forward_of(switch.on_request(net.purchase_with_pin(PAN, 100, 30, PIN), NOW_MS + 10));
    network::mac::verify(net.hsm.as_ref(), &issuer.zak, &forward.request).unwrap();
    let pvv = net.pvv(PAN);
    let verification = PinVerification::Pvv { pvki: 1, pvv: &pvv };
    net.hsm
        .verify_pin(&issuer.zpk, PinFormat::Iso0, forward.request.get(52).unwrap(), PAN, &net.pvk, &verification)
        .unwrap();
    // The old ZAK within its grace (counted from the change, not the restart), then not.
    let late = issuer.answer(&net, &forward.request, &old_zak);
    assert_eq!(code(&switch.on_issuer_response(forward.pending, late, NOW_MS + GRACE_MS - 1).response), "00");
    let after = forward_of(switch.on_request(net.purchase(PAN, 100, 31), NOW_MS + GRACE_MS));
    let late = issuer.answer(&net, &after.request, &old_zak);
    assert_eq!(code(&switch.on_issuer_response(after.pending, late, NOW_MS + GRACE_MS).response), "96");
    // The pending key is offered again.
    assert_eq!(begin(&switch, WorkingKey::Zak, NOW_MS + GRACE_MS).new_kcv(), pending_kcv);
}

fn an_acquirers_key_change_is_not_taken(backend: Backend) {
    let net = Net::new(backend);
    let switch = net.switch();
    let spec = iso8583::builtin::network();
    let from = netmgmt::Institution::new(ACQUIRER);
    let request = netmgmt::request(&spec, transport::NetworkCode::KeyChange, 1, &from).unwrap();
    let response = respond(switch.on_request(request, NOW_MS)).response;
    assert_eq!(code(&response), network::codes::NOT_SUPPORTED);
    let echo = netmgmt::request(&spec, transport::NetworkCode::Echo, 2, &from).unwrap();
    assert!(netmgmt::is_approved(&respond(switch.on_request(echo, NOW_MS)).response));
    // Only issuers have link keys the switch changes.
    assert!(switch.link_keys(ACQUIRER).is_empty());
    assert!(switch.begin_key_change(ACQUIRER, WorkingKey::Zak, NOW_MS).is_err());
}
