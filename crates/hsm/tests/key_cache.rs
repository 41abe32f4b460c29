//! `SoftHsm`'s working-key cache seen through the `SecurityModule` trait: a hit answers exactly
//! as a miss and as a module without the cache, for every operation that opens a working key,
//! against the published vectors (payment-crypto-vectors.json) and the crate's known answers; a
//! hit still enforces the operation's roles; a tampered block is never a hit; the bound holds;
//! `forget_key` drops the entry; many threads share one module.

use std::fmt::Debug;
use std::sync::Arc;

use hsm::mac::Padding;
use hsm::pinblock::{self, PinFormat};
use hsm::soft::LMK_LEN;
use hsm::{
    ArpcMethod, ArqcRequest, Error, KEY_CACHE_ENTRIES_MAX, KeyAlgorithm, KeyType, MacAlgorithm, PinTranslation,
    PinVerification, Secret, SecurityModule, SoftHsm, WrappedKey,
};
use iso8583::hex;
use serde_json::Value;

fn h(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap()
}

/// Two modules over one LMK: one with the cache (the default), one without (every operation
/// unwraps its blocks, as the module did before the cache). A block made by either opens in both.
fn pair() -> (SoftHsm, SoftHsm) {
    let lmk = Secret::random(LMK_LEN).unwrap();
    let cached = SoftHsm::new(lmk.clone()).unwrap();
    assert_eq!(cached.key_cache_stats().entries_max, KEY_CACHE_ENTRIES_MAX);
    (cached, SoftHsm::new(lmk).unwrap().with_key_cache_entries(0))
}

/// A key whose clear value the test knows.
fn import(hsm: &SoftHsm, key_type: KeyType, algorithm: KeyAlgorithm, clear: &[u8]) -> WrappedKey {
    hsm.import_components(key_type, algorithm, &[Secret::new(clear)]).unwrap()
}

/// `operation` on the module without the cache, then twice on the cached one, emptied first:
/// the first use unwraps and fills the cache, the second is served from it without any unwrap.
/// The three answers (values or errors) must be equal; the common one is returned.
fn same_answer<T: PartialEq + Debug>(
    cached: &SoftHsm,
    uncached: &SoftHsm,
    what: &str,
    operation: impl Fn(&dyn SecurityModule) -> T,
) -> T {
    let reference = operation(uncached);
    cached.clear_key_cache();
    let before = cached.key_cache_stats();
    let miss = operation(cached);
    let middle = cached.key_cache_stats();
    let hit = operation(cached);
    let after = cached.key_cache_stats();
    assert_eq!(miss, reference, "{what}: first use, cached module");
    assert_eq!(hit, reference, "{what}: second use, from the cache");
    assert!(middle.misses > before.misses, "{what}: the first use unwraps");
    assert_eq!(after.misses, middle.misses, "{what}: the second use unwraps nothing");
    assert!(after.hits > middle.hits, "{what}: the second use is a hit");
    reference
}

fn vectors() -> Vec<Value> {
    let file: Value = serde_json::from_str(include_str!("data/payment-crypto-vectors.json")).unwrap();
    file["vectors"].as_array().unwrap().clone()
}

fn text<'a>(vector: &'a Value, pointer: &str) -> &'a str {
    vector.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("{pointer} in {}", vector["id"]))
}

/// The module's MAC algorithm and key algorithm for a `mac-*` or `cup-ecb-mac-*` vector.
fn mac_of(vector: &Value, key_len: usize) -> (KeyType, KeyAlgorithm, MacAlgorithm) {
    let id = text(vector, "/id");
    let padding = || {
        let algo = text(vector, "/algo");
        let (_, after) = algo.split_once("padding method ").unwrap();
        Padding::from_number(after.as_bytes()[0] - b'0').unwrap()
    };
    let algorithm = match (id.contains("aes"), key_len) {
        (true, 16) => KeyAlgorithm::Aes128,
        (true, 32) => KeyAlgorithm::Aes256,
        (false, length) => KeyAlgorithm::tdes_for_len(length).unwrap(),
        _ => panic!("{id}: key length {key_len}"),
    };
    if id.starts_with("cup-ecb-mac-") {
        (KeyType::Tak, algorithm, MacAlgorithm::CupEcb)
    } else if id.starts_with("mac-alg3-") {
        (KeyType::Zak, algorithm, MacAlgorithm::Alg3(padding()))
    } else if id.starts_with("mac-alg1-") {
        (KeyType::Zak, algorithm, MacAlgorithm::Alg1(padding()))
    } else if id.contains("-cmac-") {
        (KeyType::Zak, algorithm, MacAlgorithm::Cmac)
    } else {
        panic!("no MAC algorithm for {id}")
    }
}

#[test]
fn macs_from_the_cache_match_every_published_vector() {
    let (cached, uncached) = pair();
    let mut checked = 0;
    for vector in vectors() {
        let id = text(&vector, "/id");
        let (key, data, expected) = if id.starts_with("mac-") {
            (h(text(&vector, "/inputs/key")), h(text(&vector, "/inputs/data")), h(text(&vector, "/expected")))
        } else if id.starts_with("cup-ecb-mac-") {
            let ascii = text(&vector, "/expected/mac_ascii").as_bytes().to_vec();
            (h(text(&vector, "/inputs/mak")), h(text(&vector, "/inputs/mab")), ascii)
        } else {
            continue;
        };
        let (key_type, algorithm, mac) = mac_of(&vector, key.len());
        let wrapped = import(&cached, key_type, algorithm, &key);
        let generated = same_answer(&cached, &uncached, id, |hsm| hsm.generate_mac(&wrapped, mac, &data));
        assert_eq!(hex::encode(&generated.unwrap()), hex::encode(&expected), "{id}");
        same_answer(&cached, &uncached, id, |hsm| hsm.verify_mac(&wrapped, mac, &data, &expected)).unwrap();
        let mut wrong = expected.clone();
        wrong[0] ^= 1;
        let refused = cached.verify_mac(&wrapped, mac, &data, &wrong);
        assert_eq!(refused, Err(Error::Verification("MAC")), "{id}: a wrong MAC, key from the cache");
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} MAC vectors");
}

#[test]
fn pin_translations_from_the_cache_match_the_published_vectors() {
    let (cached, uncached) = pair();
    let target_clear = h("5DB50B454F8389ADCE573BE50861F2BF");
    let mut checked = 0;
    for vector in vectors() {
        let id = text(&vector, "/id");
        let target = import(&cached, KeyType::Zpk, KeyAlgorithm::Tdes2, &target_clear);
        let check = |translated: Result<Vec<u8>, Error>, pan: &str, pin: &str| {
            let clear = pinblock::decrypt_pin(PinFormat::Iso0, &target_clear, &translated.unwrap(), Some(pan)).unwrap();
            assert_eq!(clear.expose(), pin.as_bytes(), "{id}");
        };
        if id.starts_with("dukpt-tdes-ksn-") && vector.pointer("/inputs/pan").is_some() {
            // The BDK derives the terminal's PIN key; the published PIN block moves to a ZPK.
            let bdk = import(&cached, KeyType::Bdk, KeyAlgorithm::Tdes2, &h(text(&vector, "/inputs/bdk")));
            let (ksn, block, pan) = (
                h(text(&vector, "/inputs/ksn")),
                h(text(&vector, "/expected/encrypted_pin_block")),
                text(&vector, "/inputs/pan"),
            );
            let translated = same_answer(&cached, &uncached, id, |hsm| {
                hsm.translate_dukpt_pin(&bdk, &ksn, &block, pan, &target, PinFormat::Iso0)
            });
            check(translated, pan, text(&vector, "/inputs/pin"));

            // The published PIN key as a zone PIN key: ZPK → ZPK.
            let source = import(&cached, KeyType::Zpk, KeyAlgorithm::Tdes2, &h(text(&vector, "/expected/pin_key")));
            let target = import(&cached, KeyType::Zpk, KeyAlgorithm::Tdes2, &target_clear);
            let request = translation(&source, PinFormat::Iso0, &block, pan, &target, PinFormat::Iso0);
            check(
                same_answer(&cached, &uncached, id, |hsm| hsm.translate_pin(&request)),
                pan,
                text(&vector, "/inputs/pin"),
            );
            checked += 1;
        } else if id == "pin-iso4-enc-1" || id == "pin-iso4-enc-3" {
            // An AES ZPK's ISO 4 block to a TDES ZPK's ISO 0 block.
            let source = import(&cached, KeyType::Zpk, KeyAlgorithm::Aes128, &h(text(&vector, "/inputs/key")));
            let (block, pan) = (h(text(&vector, "/expected")), text(&vector, "/inputs/pan"));
            let request = translation(&source, PinFormat::Iso4, &block, pan, &target, PinFormat::Iso0);
            check(
                same_answer(&cached, &uncached, id, |hsm| hsm.translate_pin(&request)),
                pan,
                text(&vector, "/inputs/pin"),
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} PIN vectors");
}

const CVK: &str = "0123456789ABCDEFFEDCBA9876543210";

#[test]
fn cvv_pvv_and_arqc_from_the_cache_match_known_answers() {
    let (cached, uncached) = pair();
    // The published Visa CVV example and psec 1.3.0's answers (tests/card.rs).
    for (pan, expiry, service_code, expected) in
        [("4123456789012345", "8701", "101", "561"), ("1234567890123456", "9912", "220", "170")]
    {
        let cvk = import(&cached, KeyType::Cvk, KeyAlgorithm::Tdes2, &h(CVK));
        let cvv = same_answer(&cached, &uncached, "CVV", |hsm| hsm.generate_cvv(&cvk, pan, expiry, service_code));
        assert_eq!(cvv.unwrap(), expected);
        same_answer(&cached, &uncached, "CVV", |hsm| hsm.verify_cvv(&cvk, pan, expiry, service_code, expected))
            .unwrap();
        assert_eq!(cached.verify_cvv(&cvk, pan, expiry, service_code, "000"), Err(Error::Verification("CVV")));
    }

    // psec 1.3.0's PVVs (tests/card.rs), through a PIN block under a ZPK.
    for (pan, pvki, pin, expected) in [("4123456789012345", 1, "1234", "1894"), ("1122334455667788", 3, "4524", "4021")]
    {
        let zpk = import(&cached, KeyType::Zpk, KeyAlgorithm::Tdes2, &h("5DB50B454F8389ADCE573BE50861F2BF"));
        let pvk = import(&cached, KeyType::Pvk, KeyAlgorithm::Tdes2, &h(CVK));
        let block = uncached.encrypt_pin(&zpk, PinFormat::Iso0, &Secret::new(pin.as_bytes()), pan).unwrap();
        let pvv = same_answer(&cached, &uncached, "PVV", |hsm| {
            hsm.generate_pvv(&zpk, PinFormat::Iso0, &block, pan, &pvk, pvki)
        });
        assert_eq!(pvv.unwrap(), expected);
        let check = PinVerification::Pvv { pvki, pvv: expected };
        same_answer(&cached, &uncached, "PIN", |hsm| hsm.verify_pin(&zpk, PinFormat::Iso0, &block, pan, &pvk, &check))
            .unwrap();
    }

    // emv-3-csk: ARQC verification and ARPC method 1 under the IMK-AC.
    let vector = vectors().into_iter().find(|v| v["id"] == "emv-3-csk").unwrap();
    let imk = import(&cached, KeyType::ImkAc, KeyAlgorithm::Tdes2, &h(text(&vector, "/inputs/issuer_master_key_ac")));
    let (atc, data, arqc) = (
        h(text(&vector, "/inputs/atc")),
        h(text(&vector, "/inputs/ac_data")),
        h(text(&vector, "/expected/arqc_pad2_80")),
    );
    let request = ArqcRequest {
        scheme: hsm::emv::Scheme::Common,
        pan: text(&vector, "/inputs/pan"),
        psn: text(&vector, "/inputs/psn"),
        atc: &atc,
        un: None,
        data: &data,
        arqc: &arqc,
    };
    same_answer(&cached, &uncached, "ARQC", |hsm| hsm.verify_arqc(&imk, &request)).unwrap();
    let arpc = same_answer(&cached, &uncached, "ARPC", |hsm| {
        hsm.generate_arpc(&imk, &request, ArpcMethod::Method1 { arc: [0x00, 0x12] })
    });
    assert_eq!(hex::encode(&arpc.unwrap()), text(&vector, "/expected/arpc_method1_for_arqc_pad2"));
}

#[test]
fn data_and_track_keys_from_the_cache_match_the_clear_algorithms() {
    let (cached, uncached) = pair();
    let dek_clear = Secret::random(32).unwrap();
    let dek = import(&cached, KeyType::Dek, KeyAlgorithm::Aes256, dek_clear.expose());
    let pan = b"6224242900000113";
    let hash = same_answer(&cached, &uncached, "keyed hash", |hsm| hsm.keyed_hash(&dek, pan));
    assert_eq!(hash.unwrap(), hsm::data::keyed_hash(dek_clear.expose(), pan).unwrap());
    let sealed = hsm::data::seal(dek_clear.expose(), pan).unwrap();
    let opened = same_answer(&cached, &uncached, "decrypt data", |hsm| hsm.decrypt_data(&dek, &sealed));
    assert_eq!(opened.unwrap().expose(), pan);
    let mut tampered = sealed.clone();
    tampered[20] ^= 1;
    assert_eq!(cached.decrypt_data(&dek, &tampered).unwrap_err(), Error::Verification("data tag"));
    let resealed = cached.encrypt_data(&dek, pan).unwrap();
    assert_eq!(uncached.decrypt_data(&dek, &resealed).unwrap().expose(), pan);

    let tdk_clear = h("0123456789ABCDEFFEDCBA9876543210");
    let tdk = import(&cached, KeyType::Tdk, KeyAlgorithm::Tdes2, &tdk_clear);
    let track = "6224242900000113=28062010000000000";
    let sent = hsm::track::encrypt(&tdk_clear, track).unwrap();
    let clear = same_answer(&cached, &uncached, "track", |hsm| hsm.decrypt_track(&tdk, &sent));
    assert_eq!(clear.unwrap().expose(), track.replace('=', "D").as_bytes());
}

/// A PIN translation request from `block` (`from` under `source`) to `to` under `target`.
fn translation<'a>(
    source: &'a WrappedKey,
    from: PinFormat,
    block: &'a [u8],
    pan: &'a str,
    target: &'a WrappedKey,
    to: PinFormat,
) -> PinTranslation<'a> {
    PinTranslation {
        source_key: source,
        source_format: from,
        pin_block: block,
        pan,
        target_key: target,
        target_format: to,
    }
}

/// PIN keys, PVKs and TDKs of both TDES lengths: a published key, fixed patterns and random
/// keys (each with odd parity, as the module makes them).
fn tdes_keys() -> Vec<(KeyAlgorithm, Vec<u8>)> {
    let mut keys = vec![
        (KeyAlgorithm::Tdes2, h("0123456789ABCDEFFEDCBA9876543210")),
        (KeyAlgorithm::Tdes2, h("5DB50B454F8389ADCE573BE50861F2BF")),
        (KeyAlgorithm::Tdes3, h("0123456789ABCDEFFEDCBA987654321089ABCDEF01234567")),
    ];
    for algorithm in [KeyAlgorithm::Tdes2, KeyAlgorithm::Tdes3, KeyAlgorithm::Tdes3] {
        let mut key = Secret::random(algorithm.key_len()).unwrap().expose().to_vec();
        hsm::cipher::set_odd_parity(&mut key);
        keys.push((algorithm, key));
    }
    keys
}

/// The cipher each cached key keeps (PIN translation's target, PVV verification, track
/// decryption) answers exactly as the byte-key functions of `pinblock`, `card` and `track`
/// over the clear key, on the first use and on the second, which takes the kept cipher.
#[test]
fn kept_ciphers_answer_as_the_byte_key_functions() {
    let (cached, uncached) = pair();
    let (pan, pin, pvki) = ("4012345678909", Secret::new(b"49271"), 4);
    let keys = tdes_keys();
    for (index, (algorithm, clear)) in keys.iter().enumerate() {
        let (next_algorithm, next_clear) = &keys[(index + 1) % keys.len()];
        let what = format!("key {index} ({})", algorithm.name());
        let source = import(&cached, KeyType::Zpk, *next_algorithm, next_clear);
        let target = import(&cached, KeyType::Zpk, *algorithm, clear);
        let block = pinblock::encrypt_pin(PinFormat::Iso0, next_clear, &pin, Some(pan)).unwrap();
        for format in [PinFormat::Iso0, PinFormat::Iso1, PinFormat::Iso2, PinFormat::Iso3] {
            let request = translation(&source, PinFormat::Iso0, &block, pan, &target, format);
            if format == PinFormat::Iso0 || format == PinFormat::Iso2 {
                // No random fill: the blocks themselves are equal.
                let translated = same_answer(&cached, &uncached, &what, |hsm| hsm.translate_pin(&request));
                assert_eq!(
                    translated.unwrap(),
                    pinblock::encrypt_pin(format, clear, &pin, Some(pan)).unwrap(),
                    "{what}"
                );
            }
            for _ in 0..2 {
                let translated = cached.translate_pin(&request).unwrap();
                let back = pinblock::decrypt_pin(format, clear, &translated, Some(pan)).unwrap();
                assert_eq!(back, pin, "{what}, format {}", format.number());
            }
        }

        let pvk = import(&cached, KeyType::Pvk, *algorithm, clear);
        let expected = hsm::card::pvv(clear, pan, &pin, pvki).unwrap();
        let generated = same_answer(&cached, &uncached, &what, |hsm| {
            hsm.generate_pvv(&source, PinFormat::Iso0, &block, pan, &pvk, pvki)
        });
        assert_eq!(generated.unwrap(), expected, "{what}");
        let mut wrong = expected.clone().into_bytes();
        wrong[0] = b'0' + (wrong[0] - b'0' + 1) % 10;
        let wrong = String::from_utf8(wrong).unwrap();
        for (pvv, answer) in [(expected.as_str(), Ok(())), (wrong.as_str(), Err(Error::Verification("PIN")))] {
            let check = PinVerification::Pvv { pvki, pvv };
            let verified = same_answer(&cached, &uncached, &what, |hsm| {
                hsm.verify_pin(&source, PinFormat::Iso0, &block, pan, &pvk, &check)
            });
            assert_eq!(verified, answer, "{what}");
            let by_bytes = hsm::card::verify_pvv(clear, pan, &pin, pvki, pvv);
            assert_eq!(verified, by_bytes.map_err(|_| Error::Verification("PIN")), "{what}");
        }

        let tdk = import(&cached, KeyType::Tdk, *algorithm, clear);
        let sent = hsm::track::encrypt(clear, "6224242900000113=28062010000000000").unwrap();
        let track = same_answer(&cached, &uncached, &what, |hsm| hsm.decrypt_track(&tdk, &sent));
        assert_eq!(track, hsm::track::decrypt(clear, &sent), "{what}");
    }
}

/// An AES key where a TDES construction is asked for keeps the byte path: its bytes made into
/// a TDES cipher (16 and 24 bytes) or refused (32), never its kept AES cipher. Same result or
/// same error as the byte-key functions, first use and from the cache.
#[test]
fn an_aes_key_in_a_tdes_construction_answers_as_before() {
    let (cached, uncached) = pair();
    let (pan, pin) = ("4012345678909", Secret::new(b"1234"));
    let tdes_target = h("5DB50B454F8389ADCE573BE50861F2BF");
    let target = import(&cached, KeyType::Zpk, KeyAlgorithm::Tdes2, &tdes_target);
    for algorithm in [KeyAlgorithm::Aes128, KeyAlgorithm::Aes192, KeyAlgorithm::Aes256] {
        let what = algorithm.name();
        let clear = Secret::random(algorithm.key_len()).unwrap();
        let zpk = import(&cached, KeyType::Zpk, algorithm, clear.expose());
        // ISO 0 under the AES ZPK: encrypt, and translate from it and to it.
        let by_bytes = pinblock::encrypt_pin(PinFormat::Iso0, clear.expose(), &pin, Some(pan));
        let encrypted = same_answer(&cached, &uncached, what, |hsm| hsm.encrypt_pin(&zpk, PinFormat::Iso0, &pin, pan));
        assert_eq!(encrypted, by_bytes, "{what}");
        let tdes_block = pinblock::encrypt_pin(PinFormat::Iso0, &tdes_target, &pin, Some(pan)).unwrap();
        // From the AES ZPK the byte path's error (AES-256) or the TDES block; to it, its block.
        let source_block = by_bytes.clone().unwrap_or_else(|_| tdes_block.clone());
        let from_aes = by_bytes.clone().map(|_| tdes_block.clone());
        for (source, target, block, expected) in
            [(&zpk, &target, &source_block, from_aes), (&target, &zpk, &tdes_block, by_bytes)]
        {
            let request = translation(source, PinFormat::Iso0, block, pan, target, PinFormat::Iso0);
            let translated = same_answer(&cached, &uncached, what, |hsm| hsm.translate_pin(&request));
            assert_eq!(translated, expected, "{what}");
        }
        // ISO 4 under the same key takes its kept AES cipher: it still decrypts as the bytes do.
        // Its random fill makes every block differ, so the block is checked by the bytes.
        for _ in 0..2 {
            let iso4 = cached.encrypt_pin(&zpk, PinFormat::Iso4, &pin, pan).unwrap();
            assert_eq!(pinblock::decrypt_pin(PinFormat::Iso4, clear.expose(), &iso4, Some(pan)).unwrap(), pin);
        }
        let iso4 = pinblock::encrypt_pin(PinFormat::Iso4, clear.expose(), &pin, Some(pan)).unwrap();
        let request = translation(&zpk, PinFormat::Iso4, &iso4, pan, &target, PinFormat::Iso0);
        let translated = same_answer(&cached, &uncached, what, |hsm| hsm.translate_pin(&request));
        assert_eq!(translated, Ok(tdes_block.clone()), "{what}");
        // A PVK and a TDK of AES: the PVV and the track as the byte functions give them.
        let pvk = import(&cached, KeyType::Pvk, algorithm, clear.expose());
        let pvv = same_answer(&cached, &uncached, what, |hsm| {
            hsm.generate_pvv(&target, PinFormat::Iso0, &tdes_block, pan, &pvk, 1)
        });
        assert_eq!(pvv, hsm::card::pvv(clear.expose(), pan, &pin, 1), "{what}");
        let tdk = import(&cached, KeyType::Tdk, algorithm, clear.expose());
        let sent = "6224242900000113D26B0EA077FAD843710";
        let track = same_answer(&cached, &uncached, what, |hsm| hsm.decrypt_track(&tdk, sent));
        assert_eq!(track, hsm::track::decrypt(clear.expose(), sent), "{what}");
    }
}

/// The acceptance case of the issue: a TAK opened (and cached) for a MAC is still refused for a
/// PIN translation, with the error a module without the cache gives.
#[test]
fn a_cached_key_is_still_refused_for_an_operation_its_role_does_not_allow() {
    let (cached, uncached) = pair();
    let tak = cached.generate_key(KeyType::Tak, KeyAlgorithm::Tdes2).unwrap();
    let zpk = cached.generate_key(KeyType::Zpk, KeyAlgorithm::Tdes2).unwrap();
    cached.generate_mac(&tak, MacAlgorithm::Alg3(Padding::Method1), b"0200").unwrap();
    cached.encrypt_pin(&zpk, PinFormat::Iso0, &Secret::new(b"1234"), "4012345678909").unwrap();
    assert_eq!(cached.key_cache_stats().entries, 2);
    let block = uncached.encrypt_pin(&zpk, PinFormat::Iso0, &Secret::new(b"1234"), "4012345678909").unwrap();

    let refused = Err(Error::KeyUsage { usage: "TAK".into(), operation: "translate a PIN" });
    for (source, target) in [(&tak, &zpk), (&zpk, &tak)] {
        let request = translation(source, PinFormat::Iso0, &block, "4012345678909", target, PinFormat::Iso0);
        let hits = cached.key_cache_stats().hits;
        assert_eq!(cached.translate_pin(&request), refused);
        assert!(cached.key_cache_stats().hits > hits, "the TAK came from the cache");
        assert_eq!(uncached.translate_pin(&request), refused);
    }
    // Every other operation a TAK may not do, from the cache.
    assert!(matches!(cached.keyed_hash(&tak, b"x"), Err(Error::KeyUsage { .. })));
    assert!(matches!(cached.decrypt_track(&tak, "6224242900000113=2806"), Err(Error::KeyUsage { .. })));
    assert!(matches!(cached.generate_cvv(&tak, "4123456789012345", "8701", "101"), Err(Error::KeyUsage { .. })));
    assert!(matches!(cached.generate_mac(&zpk, MacAlgorithm::Cmac, b"x"), Err(Error::KeyUsage { .. })));
    // A cached TDES DEK is still no data key.
    let tdes_dek = cached.generate_key(KeyType::Dek, KeyAlgorithm::Tdes2).unwrap();
    for _ in 0..2 {
        assert!(matches!(cached.keyed_hash(&tdes_dek, b"x"), Err(Error::KeyUsage { .. })));
    }
}

/// Change one character of the block at `at` to another valid one.
fn altered(block: &str, at: usize) -> WrappedKey {
    let mut bytes = block.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    WrappedKey::from_block(String::from_utf8(bytes).unwrap()).unwrap()
}

#[test]
fn a_tampered_block_is_never_a_hit() {
    let (cached, _) = pair();
    let zak = cached.generate_key(KeyType::Zak, KeyAlgorithm::Tdes2).unwrap();
    let mac = cached.generate_mac(&zak, MacAlgorithm::Cmac, b"message").unwrap();
    assert_eq!(cached.generate_mac(&zak, MacAlgorithm::Cmac, b"message").unwrap(), mac, "now cached");
    let block = zak.block();

    // Relabelled (header changed, MAC kept, so the lookup finds the genuine entry's slot).
    let relabelled = WrappedKey::from_block(block.replacen("M3", "P0", 1).replacen("ZAK", "ZPK", 1)).unwrap();
    let mut forgeries = vec![relabelled];
    // A changed key version in the header, a changed digit of the encrypted key (the header is
    // 48 characters, the block 144), of the MAC.
    forgeries.push(altered(block, 10));
    forgeries.push(altered(block, block.len() - 40));
    forgeries.push(altered(block, block.len() - 1));
    for forged in &forgeries {
        for _ in 0..2 {
            let before = cached.key_cache_stats();
            let result = match forged.key_type() {
                KeyType::Zpk => cached.encrypt_pin(forged, PinFormat::Iso0, &Secret::new(b"1234"), "4012345678909"),
                _ => cached.generate_mac(forged, MacAlgorithm::Cmac, b"message"),
            };
            assert_eq!(result.unwrap_err(), Error::Verification("key block MAC"), "{forged:?}");
            let after = cached.key_cache_stats();
            assert_eq!(after.hits, before.hits, "{forged:?} was not served from the cache");
            assert_eq!(after.misses, before.misses + 1);
            assert_eq!(after.entries, 1, "nothing forged was cached");
        }
    }
    assert_eq!(cached.generate_mac(&zak, MacAlgorithm::Cmac, b"message").unwrap(), mac, "the genuine key still hits");
}

#[test]
fn the_cache_holds_at_most_its_bound_and_evicted_keys_open_again() {
    let lmk = Secret::random(LMK_LEN).unwrap();
    let hsm = SoftHsm::new(lmk).unwrap().with_key_cache_entries(4);
    let zaks: Vec<WrappedKey> = (0..10).map(|_| hsm.generate_key(KeyType::Zak, KeyAlgorithm::Tdes2).unwrap()).collect();
    let macs: Vec<Vec<u8>> = zaks.iter().map(|zak| hsm.generate_mac(zak, MacAlgorithm::Cmac, b"m").unwrap()).collect();
    let stats = hsm.key_cache_stats();
    assert_eq!((stats.entries, stats.entries_max, stats.evictions, stats.misses), (4, 4, 6, 10));
    for (zak, mac) in zaks.iter().zip(&macs) {
        hsm.verify_mac(zak, MacAlgorithm::Cmac, b"m", mac).unwrap();
    }
    assert!(hsm.key_cache_stats().entries <= 4);
    let shown = format!("{hsm:?}");
    assert!(shown.contains("entries: 4") && shown.contains("entries_max: 4"), "{shown}");
    assert_eq!(
        SoftHsm::generate().unwrap().with_key_cache_entries(usize::MAX).key_cache_stats().entries_max,
        KEY_CACHE_ENTRIES_MAX
    );
}

#[test]
fn forget_key_drops_the_entry_and_the_key_still_opens() {
    let (cached, _) = pair();
    let module: &dyn SecurityModule = &cached;
    let cvk = module.generate_key(KeyType::Cvk, KeyAlgorithm::Tdes2).unwrap();
    let other = module.generate_key(KeyType::Cvk, KeyAlgorithm::Tdes2).unwrap();
    let cvv = module.generate_cvv(&cvk, "4123456789012345", "8701", "101").unwrap();
    module.generate_cvv(&other, "4123456789012345", "8701", "101").unwrap();
    assert_eq!(cached.key_cache_stats().entries, 2);

    module.forget_key(&cvk);
    let stats = cached.key_cache_stats();
    assert_eq!((stats.entries, stats.forgotten), (1, 1));
    module.forget_key(&cvk);
    assert_eq!(cached.key_cache_stats().forgotten, 1, "nothing left to forget");
    let misses = stats.misses;
    module.verify_cvv(&cvk, "4123456789012345", "8701", "101", &cvv).unwrap();
    assert_eq!(cached.key_cache_stats().misses, misses + 1, "opened again from its block");

    cached.clear_key_cache();
    assert_eq!(cached.key_cache_stats().entries, 0);
    module.verify_cvv(&cvk, "4123456789012345", "8701", "101", &cvv).unwrap();
    assert_eq!(cached.key_cache_stats().entries, 1, "the cache works after a clear");
}

#[test]
fn key_encryption_keys_are_not_kept_open() {
    let (cached, _) = pair();
    let zmk = cached.generate_key(KeyType::Zmk, KeyAlgorithm::Tdes2).unwrap();
    let zpk = cached.generate_key(KeyType::Zpk, KeyAlgorithm::Tdes2).unwrap();
    let first = cached.export_under_kek(&zmk, &zpk).unwrap();
    assert_eq!(cached.export_under_kek(&zmk, &zpk).unwrap(), first);
    let stats = cached.key_cache_stats();
    assert_eq!(stats.entries, 1, "the ZPK only");
    assert_eq!((stats.misses, stats.hits), (3, 1), "the ZMK is unwrapped each time");
}

#[test]
fn many_threads_share_one_module() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 200;
    let lmk = Secret::random(LMK_LEN).unwrap();
    // A bound smaller than the keys in use, so threads evict each other's entries too.
    let hsm = Arc::new(SoftHsm::new(lmk).unwrap().with_key_cache_entries(3));
    let zaks: Vec<WrappedKey> = (0..5).map(|_| hsm.generate_key(KeyType::Zak, KeyAlgorithm::Tdes2).unwrap()).collect();
    let macs: Vec<Vec<u8>> =
        zaks.iter().map(|zak| hsm.generate_mac(zak, MacAlgorithm::Alg3(Padding::Method1), b"0200").unwrap()).collect();
    let workers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let module: Arc<dyn SecurityModule> = hsm.clone();
            let (zaks, macs) = (zaks.clone(), macs.clone());
            std::thread::spawn(move || {
                for round in 0..ROUNDS {
                    let at = (thread + round) % zaks.len();
                    module.verify_mac(&zaks[at], MacAlgorithm::Alg3(Padding::Method1), b"0200", &macs[at]).unwrap();
                    if round % 50 == 0 {
                        module.forget_key(&zaks[at]);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let stats = hsm.key_cache_stats();
    assert!(stats.entries <= 3);
    assert_eq!(stats.hits + stats.misses, (5 + THREADS * ROUNDS) as u64);
}
