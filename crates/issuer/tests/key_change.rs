//! Key change (0800/101) at the issuer core, on SQLite and (with CARDNET_TEST_PG) PostgreSQL:
//! the test plays the switch — a fresh key exported under the ZMK, the check value in 96, the
//! MAC under the current ZAK — and checks what the issuer then accepts, answers and keeps.

mod common;

use common::{Backend, Harness};
use hsm::{KeyAlgorithm, KeyType, SecurityModule, WrappedKey};
use issuer::KeyChangeOutcome;
use network::codes;
use transport::netmgmt::{self, Institution, NetworkCode, WorkingKey};

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
    a_new_zak_is_taken_answered_under_the_old_one_and_used_from_then_on,
    a_new_zpk_is_taken_and_the_old_one_verifies_pins_only_within_the_grace,
    refused_key_changes_keep_the_old_keys,
    restart_keeps_the_newest_keys_and_the_grace_of_the_old_ones,
    a_repeat_of_the_key_in_use_changes_nothing_even_after_the_grace,
    sign_on_and_echo_are_still_answered_00,
    an_old_key_change_replayed_is_refused,
    a_key_past_its_grace_leaves_the_hsm_cache_at_the_next_change,
);

/// The default grace of the development configuration.
const GRACE_MS: u64 = issuer::limits::KEY_GRACE_MS_DEFAULT;

fn code(response: &iso8583::Message) -> &str {
    response.get_str(39).unwrap_or("")
}

fn fresh(h: &Harness, key_type: KeyType) -> WrappedKey {
    h.hsm.generate_key(key_type, KeyAlgorithm::Tdes2).unwrap()
}

fn kcv_of(h: &Harness, key: WorkingKey) -> String {
    h.issuer.link_key_status().into_iter().find(|status| status.key == key).unwrap().kcv
}

/// Send an 0800/101 and check the 0810's MAC under `zak` (the key the 0800 was MAC'd with).
fn change(h: &Harness, request: &iso8583::Message, zak: &WrappedKey) -> iso8583::Message {
    let response = h.issuer.handle(request).expect("a key change is answered");
    assert_eq!(response.mti().as_str(), "0810");
    network::mac::verify(&*h.hsm, zak, &response).expect("the 0810 is MAC'd with the ZAK of the 0800");
    for field in netmgmt::KEY_CHANGE_ECHO_FIELDS {
        assert_eq!(response.get(field), request.get(field), "field {field} echoed");
    }
    response
}

fn a_new_zak_is_taken_answered_under_the_old_one_and_used_from_then_on(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(100_000);
    let old = h.zak.clone();
    let new = fresh(&h, KeyType::Zak);
    let request = h.key_change(WorkingKey::Zak, &new, &old);
    let response = change(&h, &request, &old);
    assert_eq!(code(&response), codes::APPROVED);
    assert!(netmgmt::check_value_matches(response.get(96).unwrap(), new.kcv()), "96 is the new key's KCV");
    assert_eq!(kcv_of(&h, WorkingKey::Zak), new.kcv());
    let status = h.issuer.link_key_status().into_iter().find(|s| s.key == WorkingKey::Zak).unwrap();
    assert_eq!(status.previous_kcv.as_deref(), Some(old.kcv()));
    assert_eq!(status.activated_ms, Some(h.now_ms()));

    // Under the new ZAK: approved, answered under it.
    let purchase = h.purchase(&card, 1_000).pin(&h, &card).sign_with(&h, &new);
    let response = h.issuer.handle(&purchase).unwrap();
    assert_eq!(code(&response), codes::APPROVED);
    network::mac::verify(&*h.hsm, &new, &response).unwrap();
    // Under the old one, still on its way when the switch switched over: within the grace it
    // is accepted and answered under the old key, which is what the switch can check.
    h.clock.advance_ms(GRACE_MS - 1);
    let late = h.purchase(&card, 1_000).pin(&h, &card).sign_with(&h, &old);
    let response = h.issuer.handle(&late).unwrap();
    assert_eq!(code(&response), codes::APPROVED);
    network::mac::verify(&*h.hsm, &old, &response).unwrap();
    // After the grace: A0 (under the new key), not journaled.
    h.clock.advance_ms(1);
    let too_late = h.purchase(&card, 1_000).pin(&h, &card).sign_with(&h, &old);
    let response = h.issuer.handle(&too_late).unwrap();
    assert_eq!(code(&response), codes::MAC_ERROR);
    network::mac::verify(&*h.hsm, &new, &response).unwrap();
    assert!(h.issuer.journal_entry(&too_late).unwrap().is_none());
    assert_eq!(h.available(&card), 98_000);

    // The journal: check values only.
    let changes = h.issuer.key_changes().unwrap();
    assert_eq!(changes.len(), 1);
    let entry = &changes[0];
    assert_eq!(
        (entry.key, entry.outcome, entry.response_code.as_str()),
        (Some(WorkingKey::Zak), KeyChangeOutcome::Activated, "00")
    );
    assert_eq!(entry.kcv.as_deref(), Some(new.kcv()));
    assert!(entry.offered_kcv.as_deref().unwrap().starts_with(new.kcv()));
    assert_eq!(entry.stan.as_deref(), request.get_str(11));
}

fn a_new_zpk_is_taken_and_the_old_one_verifies_pins_only_within_the_grace(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(100_000);
    let old = h.zpk.clone();
    let new = fresh(&h, KeyType::Zpk);
    let response = change(&h, &h.key_change(WorkingKey::Zpk, &new, &h.zak), &h.zak);
    assert_eq!(code(&response), codes::APPROVED);
    assert_eq!(kcv_of(&h, WorkingKey::Zpk), new.kcv());
    assert_eq!(kcv_of(&h, WorkingKey::Zak), h.zak.kcv(), "the ZAK is untouched");

    let under = |zpk: &WrappedKey| h.purchase(&card, 1_000).pin_under(&h, &card, zpk).sign(&h);
    assert_eq!(code(&h.send(&under(&new))), codes::APPROVED);
    assert_eq!(code(&h.send(&under(&old))), codes::APPROVED, "translated just before the switch switched over");
    // A wrong PIN under the new key is still one wrong try.
    let block =
        h.hsm.encrypt_pin(&new, hsm::pinblock::PinFormat::Iso0, &Harness::wrong_pin(&card), card.pan.as_str()).unwrap();
    let wrong = h.purchase(&card, 1_000).set_bytes(52, &block).sign(&h);
    assert_eq!(code(&h.send(&wrong)), codes::INCORRECT_PIN);
    assert_eq!(code(&h.send(&under(&new))), codes::APPROVED, "a right PIN resets the counter");
    // After the grace the old ZPK opens nothing: the PIN does not verify.
    h.clock.advance_ms(GRACE_MS);
    assert_eq!(code(&h.send(&under(&old))), codes::INCORRECT_PIN);
    assert_eq!(code(&h.send(&under(&new))), codes::APPROVED);
    assert_eq!(h.available(&card), 96_000, "four approvals");
}

fn refused_key_changes_keep_the_old_keys(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(100_000);
    let new = fresh(&h, KeyType::Zak);
    let refused = |request: &iso8583::Message, expected: &str| {
        let response = change(&h, request, &h.zak);
        assert_eq!(code(&response), expected);
        assert!(response.get(96).is_none(), "no check value in a refusal");
        assert_eq!(kcv_of(&h, WorkingKey::Zak), h.zak.kcv(), "the old ZAK stays");
        assert_eq!(kcv_of(&h, WorkingKey::Zpk), h.zpk.kcv(), "the old ZPK stays");
    };
    // A check value that is not the key's.
    let mut bad_kcv = h.key_change(WorkingKey::Zak, &new, &h.zak);
    bad_kcv.set(96, &[0x12, 0x34, 0x56, 0, 0, 0, 0, 0]).unwrap();
    network::mac::sign(&*h.hsm, &h.zak, &mut bad_kcv).unwrap();
    refused(&bad_kcv, codes::SYSTEM_MALFUNCTION);
    // A key block under another ZMK.
    let other_zmk = fresh(&h, KeyType::Zmk);
    let mut foreign = h.key_change(WorkingKey::Zak, &new, &h.zak);
    foreign.set_str(48, &h.hsm.export_key_block(&other_zmk, &new).unwrap()).unwrap();
    network::mac::sign(&*h.hsm, &h.zak, &mut foreign).unwrap();
    refused(&foreign, codes::SYSTEM_MALFUNCTION);
    // A ZAK block sent as a ZPK (53 = 01): the block's usage does not match.
    let mut relabelled = h.key_change(WorkingKey::Zak, &new, &h.zak);
    relabelled.set_str(53, &WorkingKey::Zpk.field53()).unwrap();
    network::mac::sign(&*h.hsm, &h.zak, &mut relabelled).unwrap();
    refused(&relabelled, codes::SYSTEM_MALFUNCTION);
    // Field 53 missing: format error.
    let mut no_53 = h.key_change(WorkingKey::Zak, &new, &h.zak);
    no_53.remove(53);
    network::mac::sign(&*h.hsm, &h.zak, &mut no_53).unwrap();
    refused(&no_53, codes::FORMAT_ERROR);
    // A MAC under a key the issuer does not have: A0, answered under the current ZAK.
    let stranger = fresh(&h, KeyType::Zak);
    refused(&h.key_change(WorkingKey::Zak, &new, &stranger), codes::MAC_ERROR);

    let changes = h.issuer.key_changes().unwrap();
    let codes_seen: Vec<&str> = changes.iter().map(|c| c.response_code.as_str()).collect();
    assert_eq!(codes_seen, ["96", "96", "96", "30", "A0"]);
    assert!(changes.iter().all(|c| c.outcome == KeyChangeOutcome::Refused && c.kcv.is_none()));
    // The link works as before.
    assert_eq!(code(&h.send(&h.purchase(&card, 1_000).pin(&h, &card).sign(&h))), codes::APPROVED);
}

fn restart_keeps_the_newest_keys_and_the_grace_of_the_old_ones(backend: Backend) {
    let Some(mut h) = Harness::new(backend) else { return };
    let card = h.debit_card(100_000);
    let (old_zak, old_zpk) = (h.zak.clone(), h.zpk.clone());
    let first_zak = fresh(&h, KeyType::Zak);
    assert_eq!(code(&change(&h, &h.key_change(WorkingKey::Zak, &first_zak, &old_zak), &old_zak)), "00");
    h.clock.advance_ms(1_000);
    // A second change: the first key becomes the previous one, the initial key is gone.
    let second_zak = fresh(&h, KeyType::Zak);
    assert_eq!(code(&change(&h, &h.key_change(WorkingKey::Zak, &second_zak, &first_zak), &first_zak)), "00");
    let new_zpk = fresh(&h, KeyType::Zpk);
    assert_eq!(code(&change(&h, &h.key_change(WorkingKey::Zpk, &new_zpk, &second_zak), &second_zak)), "00");

    h.reopen();
    assert_eq!(kcv_of(&h, WorkingKey::Zak), second_zak.kcv(), "the newest ZAK wins over the configuration's");
    assert_eq!(kcv_of(&h, WorkingKey::Zpk), new_zpk.kcv());
    let status = h.issuer.link_key_status();
    let zak = status.iter().find(|s| s.key == WorkingKey::Zak).unwrap();
    assert_eq!(zak.previous_kcv.as_deref(), Some(first_zak.kcv()));
    let zpk = status.iter().find(|s| s.key == WorkingKey::Zpk).unwrap();
    assert_eq!(zpk.previous_kcv.as_deref(), Some(old_zpk.kcv()), "the configuration's ZPK, kept for its grace");

    let purchase =
        |zak: &WrappedKey, zpk: &WrappedKey| h.purchase(&card, 1_000).pin_under(&h, &card, zpk).sign_with(&h, zak);
    let send = |request: &iso8583::Message| h.issuer.handle(request).unwrap();
    assert_eq!(code(&send(&purchase(&second_zak, &new_zpk))), codes::APPROVED);
    assert_eq!(code(&send(&purchase(&first_zak, &old_zpk))), codes::APPROVED, "the previous keys within their grace");
    assert_eq!(code(&send(&purchase(&old_zak, &new_zpk))), codes::MAC_ERROR, "two changes ago: gone");
    h.clock.advance_ms(GRACE_MS);
    assert_eq!(code(&send(&purchase(&first_zak, &new_zpk))), codes::MAC_ERROR, "after the grace");
    assert_eq!(code(&send(&purchase(&second_zak, &new_zpk))), codes::APPROVED);
    assert_eq!(h.issuer.key_changes().unwrap().len(), 3);
}

fn a_repeat_of_the_key_in_use_changes_nothing_even_after_the_grace(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let old = h.zak.clone();
    let new = fresh(&h, KeyType::Zak);
    let request = h.key_change(WorkingKey::Zak, &new, &old);
    assert_eq!(code(&change(&h, &request, &old)), codes::APPROVED);
    // The switch never got the 0810: it still uses the old ZAK, and offers the same key again.
    h.clock.advance_ms(GRACE_MS * 3);
    let repeat = h.key_change(WorkingKey::Zak, &new, &old);
    let response = change(&h, &repeat, &old);
    assert_eq!(code(&response), codes::APPROVED, "a repeat is accepted under the previous ZAK");
    assert!(netmgmt::check_value_matches(response.get(96).unwrap(), new.kcv()));
    assert_eq!(kcv_of(&h, WorkingKey::Zak), new.kcv());
    // But a new key under the expired ZAK is not.
    let other = fresh(&h, KeyType::Zak);
    let refused = h.issuer.handle(&h.key_change(WorkingKey::Zak, &other, &old)).unwrap();
    assert_eq!(code(&refused), codes::MAC_ERROR);
    assert_eq!(kcv_of(&h, WorkingKey::Zak), new.kcv());
    let outcomes: Vec<KeyChangeOutcome> = h.issuer.key_changes().unwrap().iter().map(|c| c.outcome).collect();
    assert_eq!(outcomes, [KeyChangeOutcome::Activated, KeyChangeOutcome::Repeat, KeyChangeOutcome::Refused]);
    // The old ZAK still opens nothing else.
    let card = h.debit_card(10_000);
    let purchase = h.purchase(&card, 1_000).pin(&h, &card).sign_with(&h, &old);
    assert_eq!(code(&h.issuer.handle(&purchase).unwrap()), codes::MAC_ERROR);
    assert!(h.issuer.journal_entry(&purchase).unwrap().is_none());
}

fn sign_on_and_echo_are_still_answered_00(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let spec = iso8583::builtin::network();
    let from = Institution::new(common::SWITCH);
    for (stan, code) in [(1, NetworkCode::SignOn), (2, NetworkCode::Echo), (3, NetworkCode::SignOff)] {
        let request = netmgmt::request(&spec, code, stan, &from).unwrap();
        let response = h.issuer.handle(&request).unwrap();
        assert!(netmgmt::is_approved(&response), "{code:?}");
        assert!(response.get(128).is_none(), "answered as NetMgmt answers it, without a MAC");
    }
    assert!(h.issuer.key_changes().unwrap().is_empty());
}

fn an_old_key_change_replayed_is_refused(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let first = fresh(&h, KeyType::Zpk);
    let replayed = h.key_change(WorkingKey::Zpk, &first, &h.zak);
    assert_eq!(code(&change(&h, &replayed, &h.zak)), codes::APPROVED);
    let second = fresh(&h, KeyType::Zpk);
    assert_eq!(code(&change(&h, &h.key_change(WorkingKey::Zpk, &second, &h.zak), &h.zak)), codes::APPROVED);
    // The first 0800/101 again: its MAC still verifies (the ZAK did not change), but the key it
    // carries was in use before.
    assert_eq!(code(&change(&h, &replayed, &h.zak)), codes::SYSTEM_MALFUNCTION);
    assert_eq!(kcv_of(&h, WorkingKey::Zpk), second.kcv());
    // The configuration's initial key cannot come back either.
    let initial = h.key_change(WorkingKey::Zpk, &h.zpk, &h.zak);
    assert_eq!(code(&change(&h, &initial, &h.zak)), codes::SYSTEM_MALFUNCTION);
    assert_eq!(kcv_of(&h, WorkingKey::Zpk), second.kcv());
}

/// A key the link no longer accepts (replaced twice) is dropped from the HSM's key cache at the
/// change that retires it — its clear copy zeroized then, not whenever the cache evicts it —
/// while the key just replaced (still in its grace) stays.
fn a_key_past_its_grace_leaves_the_hsm_cache_at_the_next_change(backend: Backend) {
    let Some(h) = Harness::new(backend) else { return };
    let card = h.debit_card(100_000);
    let old = h.zak.clone();
    let purchase = h.purchase(&card, 1_000).pin(&h, &card).sign_with(&h, &old);
    assert_eq!(code(&h.issuer.handle(&purchase).unwrap()), codes::APPROVED);
    let forgotten = || h.hsm.key_cache_stats().forgotten;
    let before = forgotten();

    let first = fresh(&h, KeyType::Zak);
    let response = change(&h, &h.key_change(WorkingKey::Zak, &first, &old), &old);
    assert_eq!(code(&response), codes::APPROVED);
    assert_eq!(forgotten(), before, "the replaced key is still in its grace: kept");

    let second = fresh(&h, KeyType::Zak);
    let response = change(&h, &h.key_change(WorkingKey::Zak, &second, &first), &first);
    assert_eq!(code(&response), codes::APPROVED);
    assert_eq!(forgotten(), before + 1, "the first key, now out of use, is forgotten");
}
