//! SoftHsm through the SecurityModule trait: key lifecycle, usage enforcement, PIN translation
//! and verification, MACs, DUKPT, EMV, and the UnionPay sign-on round trip between the
//! acquirer's module and a terminal.

use hsm::mac::Padding;
use hsm::pinblock::{self, PinFormat};
use hsm::signon::{self, SignOnScheme};
use hsm::{
    ArpcMethod, ArqcRequest, Error, KeyAlgorithm, KeyType, MacAlgorithm, PinTranslation, PinVerification, Secret,
    SecurityModule, SoftHsm, WrappedKey,
};
use iso8583::hex;

fn module() -> SoftHsm {
    let hsm = SoftHsm::generate().unwrap();
    // The trait is object safe: parties hold a `dyn SecurityModule` and never know which.
    let _: &dyn SecurityModule = &hsm;
    hsm
}

fn h(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap()
}

/// A key whose clear value the test knows, imported as two components.
fn known_key(hsm: &SoftHsm, key_type: KeyType, algorithm: KeyAlgorithm, clear: &str) -> WrappedKey {
    let clear = h(clear);
    let first = Secret::random(clear.len()).unwrap();
    let second: Vec<u8> = clear.iter().zip(first.expose()).map(|(a, b)| a ^ b).collect();
    hsm.import_components(key_type, algorithm, &[first, Secret::from_vec(second)]).unwrap()
}

#[test]
fn keys_carry_role_and_check_value_and_survive_export_and_import() {
    let hsm = module();
    let key = known_key(&hsm, KeyType::Zpk, KeyAlgorithm::Tdes2, "0123456789ABCDEFFEDCBA9876543210");
    assert_eq!(key.key_type(), KeyType::Zpk);
    assert_eq!(key.kcv(), "08D7B4");
    let reread = WrappedKey::from_block(key.block().to_owned()).unwrap();
    assert_eq!(reread, key);

    let aes = known_key(&hsm, KeyType::Zpk, KeyAlgorithm::Aes128, "3F419E1CB7079442AA37474C2EFBF8B8");
    assert_eq!(aes.kcv(), "08793E25AB", "AES keys show the CMAC check value");

    // Under a ZMK by ECB, and as a TR-31 key block, into a second module with another LMK.
    let other = module();
    let zmk_clear = "F039121BEC83D26B169BDCD5B22AAF8F";
    let zmk_here = known_key(&hsm, KeyType::Zmk, KeyAlgorithm::Tdes2, zmk_clear);
    let zmk_there = known_key(&other, KeyType::Zmk, KeyAlgorithm::Tdes2, zmk_clear);
    let encrypted = hsm.export_under_kek(&zmk_here, &key).unwrap();
    let imported = other.import_under_kek(&zmk_there, KeyType::Zpk, &encrypted).unwrap();
    assert_eq!(imported.kcv(), "08D7B4");
    assert_ne!(imported.block(), key.block(), "a different LMK wraps differently");
    let block = hsm.export_key_block(&zmk_here, &key).unwrap();
    assert!(block.starts_with('B'), "TDES KEK gives a version B block: {block}");
    assert_eq!(other.import_key_block(&zmk_there, KeyType::Zpk, &block).unwrap().kcv(), "08D7B4");
    let usage = other.import_key_block(&zmk_there, KeyType::Zak, &block).unwrap_err();
    assert!(matches!(usage, Error::KeyUsage { .. }), "a PIN key block cannot come in as a MAC key: {usage}");

    // Components recombine to the same key.
    let parts = hsm.export_components(&key, 3).unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!(other.import_components(KeyType::Zpk, KeyAlgorithm::Tdes2, &parts).unwrap().kcv(), "08D7B4");

    // A key under another module's LMK does not open here.
    assert!(
        other
            .generate_mac(&known_key(&hsm, KeyType::Zak, KeyAlgorithm::Tdes2, zmk_clear), MacAlgorithm::Cmac, b"x")
            .is_err()
    );
}

#[test]
fn usage_is_enforced() {
    let hsm = module();
    let zak = hsm.generate_key(KeyType::Zak, KeyAlgorithm::Tdes2).unwrap();
    let zpk = hsm.generate_key(KeyType::Zpk, KeyAlgorithm::Tdes2).unwrap();
    let pin = Secret::new(b"1234");
    let error = hsm.encrypt_pin(&zak, PinFormat::Iso0, &pin, "4012345678909").unwrap_err();
    assert_eq!(error, Error::KeyUsage { usage: "ZAK".into(), operation: "encrypt a PIN" });
    assert!(matches!(hsm.generate_mac(&zpk, MacAlgorithm::Cmac, b"data").unwrap_err(), Error::KeyUsage { .. }));
    let bdk = hsm.generate_key(KeyType::Bdk, KeyAlgorithm::Tdes2).unwrap();
    let zmk = hsm.generate_key(KeyType::Zmk, KeyAlgorithm::Tdes2).unwrap();
    assert!(matches!(hsm.export_under_kek(&zmk, &bdk).unwrap_err(), Error::KeyUsage { .. }), "a BDK never leaves");
    assert!(matches!(hsm.export_under_kek(&zak, &zpk).unwrap_err(), Error::KeyUsage { .. }), "a MAC key is no KEK");
}

#[test]
fn a_relabelled_key_block_is_refused() {
    let hsm = module();
    let zak = hsm.generate_key(KeyType::Zak, KeyAlgorithm::Tdes2).unwrap();
    // Change the role and the usage in the header text: the block MAC no longer verifies.
    let forged = zak.block().replacen("M3", "P0", 1).replacen("ZAK", "ZPK", 1);
    let forged = WrappedKey::from_block(forged).unwrap();
    assert_eq!(forged.key_type(), KeyType::Zpk);
    let error = hsm.encrypt_pin(&forged, PinFormat::Iso0, &Secret::new(b"1234"), "4012345678909").unwrap_err();
    assert_eq!(error, Error::Verification("key block MAC"));
}

#[test]
fn pins_translate_between_keys_and_formats_without_leaving_the_module() {
    let hsm = module();
    let pan = "4012345678909";
    let tpk_clear = "0123456789ABCDEFFEDCBA9876543210";
    let zpk_clear = "5DB50B454F8389ADCE573BE50861F2BF";
    let aes_zpk_clear = "AF8CB133A78F8DC2D1359F18527593FB";
    let tpk = known_key(&hsm, KeyType::Tpk, KeyAlgorithm::Tdes2, tpk_clear);
    let zpk = known_key(&hsm, KeyType::Zpk, KeyAlgorithm::Tdes2, zpk_clear);
    let aes_zpk = known_key(&hsm, KeyType::Zpk, KeyAlgorithm::Aes128, aes_zpk_clear);
    let block = hsm.encrypt_pin(&tpk, PinFormat::Iso0, &Secret::new(b"1234"), pan).unwrap();
    for (target, clear, format) in [
        (&zpk, zpk_clear, PinFormat::Iso0),
        (&zpk, zpk_clear, PinFormat::Iso3),
        (&aes_zpk, aes_zpk_clear, PinFormat::Iso4),
    ] {
        let request = PinTranslation {
            source_key: &tpk,
            source_format: PinFormat::Iso0,
            pin_block: &block,
            pan,
            target_key: target,
            target_format: format,
        };
        let translated = hsm.translate_pin(&request).unwrap();
        let pin = pinblock::decrypt_pin(format, &h(clear), &translated, Some(pan)).unwrap();
        assert_eq!(pin.expose(), b"1234", "{format:?}");
    }
    // A block bound to another PAN decodes to nonsense or fails; it never translates to 1234.
    let wrong = PinTranslation {
        source_key: &tpk,
        source_format: PinFormat::Iso0,
        pin_block: &block,
        pan: "5555555551234567",
        target_key: &zpk,
        target_format: PinFormat::Iso0,
    };
    if let Ok(translated) = hsm.translate_pin(&wrong) {
        let pin = pinblock::decrypt_pin(PinFormat::Iso0, &h(zpk_clear), &translated, Some("5555555551234567")).unwrap();
        assert_ne!(pin.expose(), b"1234");
    }
}

#[test]
fn pins_verify_by_pvv_and_ibm_3624() {
    let hsm = module();
    let pan = "4012345678909";
    let zpk = hsm.generate_key(KeyType::Zpk, KeyAlgorithm::Tdes2).unwrap();
    let pvk = hsm.generate_key(KeyType::Pvk, KeyAlgorithm::Tdes2).unwrap();
    let right = hsm.encrypt_pin(&zpk, PinFormat::Iso0, &Secret::new(b"4321"), pan).unwrap();
    let wrong = hsm.encrypt_pin(&zpk, PinFormat::Iso0, &Secret::new(b"4322"), pan).unwrap();
    let pvv = hsm.generate_pvv(&zpk, PinFormat::Iso0, &right, pan, &pvk, 1).unwrap();
    assert_eq!(pvv.len(), 4);
    let check = PinVerification::Pvv { pvki: 1, pvv: &pvv };
    hsm.verify_pin(&zpk, PinFormat::Iso0, &right, pan, &pvk, &check).unwrap();
    assert_eq!(
        hsm.verify_pin(&zpk, PinFormat::Iso0, &wrong, pan, &pvk, &check).unwrap_err(),
        Error::Verification("PIN")
    );

    // IBM 3624: the offset of 4321 under a known PVK, from the clear-key function.
    let pvk_clear = "0123456789ABCDEFFEDCBA9876543210";
    let known_pvk = known_key(&hsm, KeyType::Pvk, KeyAlgorithm::Tdes2, pvk_clear);
    let validation = hsm::card::account_validation_data(pan).unwrap();
    let table = "0123456789012345";
    let offset = hsm::card::ibm3624_offset(&h(pvk_clear), &validation, table, &Secret::new(b"4321"), 4).unwrap();
    let check = PinVerification::Ibm3624 { offset: &offset, decimalization_table: table, validation_data: &validation };
    hsm.verify_pin(&zpk, PinFormat::Iso0, &right, pan, &known_pvk, &check).unwrap();
    assert_eq!(
        hsm.verify_pin(&zpk, PinFormat::Iso0, &wrong, pan, &known_pvk, &check).unwrap_err(),
        Error::Verification("PIN")
    );
}

#[test]
fn dukpt_pin_blocks_translate_to_a_zone_key() {
    // X9.24-1 A.4: BDK, KSN …E00001, PIN 1234, PAN 4012345678909 → 1B9C1845EB993A7A.
    let hsm = module();
    let bdk = known_key(&hsm, KeyType::Bdk, KeyAlgorithm::Tdes2, "0123456789ABCDEFFEDCBA9876543210");
    let zpk_clear = "5DB50B454F8389ADCE573BE50861F2BF";
    let zpk = known_key(&hsm, KeyType::Zpk, KeyAlgorithm::Tdes2, zpk_clear);
    let pan = "4012345678909";
    let out = hsm
        .translate_dukpt_pin(&bdk, &h("FFFF9876543210E00001"), &h("1B9C1845EB993A7A"), pan, &zpk, PinFormat::Iso0)
        .unwrap();
    assert_eq!(pinblock::decrypt_pin(PinFormat::Iso0, &h(zpk_clear), &out, Some(pan)).unwrap().expose(), b"1234");
    let tpk = hsm.generate_key(KeyType::Tpk, KeyAlgorithm::Tdes2).unwrap();
    assert!(
        hsm.translate_dukpt_pin(&bdk, &h("FFFF9876543210E00001"), &h("1B9C1845EB993A7A"), pan, &tpk, PinFormat::Iso0)
            .is_err(),
        "DUKPT PINs go to zone keys"
    );
}

#[test]
fn macs_generate_and_verify_and_tampering_fails() {
    let hsm = module();
    let zak = known_key(&hsm, KeyType::Zak, KeyAlgorithm::Tdes2, "0123456789ABCDEFFEDCBA9876543210");
    let mac = hsm.generate_mac(&zak, MacAlgorithm::Alg3(Padding::Method1), b"Now is the time for all ").unwrap();
    assert_eq!(hex::encode(&mac), "A1C72E74EA3FA9B6");
    let message = vec![0x5A; 200];
    for algorithm in [
        MacAlgorithm::Alg3(Padding::Method2),
        MacAlgorithm::Alg1(Padding::Method1),
        MacAlgorithm::Cmac,
        MacAlgorithm::CupEcb,
    ] {
        let mac = hsm.generate_mac(&zak, algorithm, &message).unwrap();
        hsm.verify_mac(&zak, algorithm, &message, &mac).unwrap();
        let mut tampered = message.clone();
        tampered[100] ^= 1;
        assert_eq!(
            hsm.verify_mac(&zak, algorithm, &tampered, &mac).unwrap_err(),
            Error::Verification("MAC"),
            "{algorithm:?}"
        );
    }
    let aes_zak = hsm.generate_key(KeyType::Zak, KeyAlgorithm::Aes256).unwrap();
    assert_eq!(hsm.generate_mac(&aes_zak, MacAlgorithm::Cmac, &message).unwrap().len(), 16);
}

#[test]
fn cvv_and_arqc_through_the_module() {
    let hsm = module();
    let cvk = known_key(&hsm, KeyType::Cvk, KeyAlgorithm::Tdes2, "0123456789ABCDEFFEDCBA9876543210");
    assert_eq!(hsm.generate_cvv(&cvk, "4123456789012345", "8701", "101").unwrap(), "561");
    hsm.verify_cvv(&cvk, "4123456789012345", "8701", "101", "561").unwrap();
    assert!(hsm.verify_cvv(&cvk, "4123456789012345", "8701", "101", "562").is_err());

    // emv-3-csk of the reference vectors: IMK, PAN, ATC 3456, data → ARQC; ARPC method 1.
    let vectors: serde_json::Value = serde_json::from_str(include_str!("data/payment-crypto-vectors.json")).unwrap();
    let vector = vectors["vectors"].as_array().unwrap().iter().find(|v| v["id"] == "emv-3-csk").unwrap();
    let input = |name: &str| vector["inputs"][name].as_str().unwrap().to_owned();
    let imk = known_key(&hsm, KeyType::ImkAc, KeyAlgorithm::Tdes2, &input("issuer_master_key_ac"));
    let expected = &vector["expected"];
    // The common session key scheme pads with 80 (method 2).
    let arqc_hex = expected["arqc_pad2_80"].as_str().unwrap();
    let (atc, data, arqc) = (h(&input("atc")), h(&input("ac_data")), h(arqc_hex));
    let request = ArqcRequest {
        scheme: hsm::emv::Scheme::Common,
        pan: &input("pan"),
        psn: &input("psn"),
        atc: &atc,
        un: None,
        data: &data,
        arqc: &arqc,
    };
    hsm.verify_arqc(&imk, &request).unwrap();
    let arpc = hsm.generate_arpc(&imk, &request, ArpcMethod::Method1 { arc: [0x00, 0x12] }).unwrap();
    assert_eq!(hex::encode(&arpc), expected["arpc_method1_for_arqc_pad2"].as_str().unwrap());
    let method2 = ArpcMethod::Method2 { csu: [0x00, 0x12, 0x00, 0x00], proprietary: &[] };
    assert_eq!(
        hex::encode(&hsm.generate_arpc(&imk, &request, method2).unwrap()),
        expected["arpc_method2_for_arqc_pad2"].as_str().unwrap()
    );
    let mut bad = arqc.clone();
    bad[0] ^= 1;
    let bad_request = ArqcRequest { arqc: &bad, ..request.clone() };
    assert_eq!(hsm.verify_arqc(&imk, &bad_request).unwrap_err(), Error::Verification("ARQC"));

    // Personalisation: the card's own ICC master key (out of the module once) computes the
    // vector's ARQC without the IMK; only an IMK-AC may be used for it.
    let icc_master_key = hsm.personalise_icc_master_key(&imk, &input("pan"), &input("psn")).unwrap();
    let on_card = hsm::emv::card_arqc(hsm::emv::Scheme::Common, icc_master_key, &atc, None, &data).unwrap();
    assert!(hex::encode(&on_card.arqc).eq_ignore_ascii_case(arqc_hex));
    assert!(hex::encode(on_card.icc_master_key.expose()).eq_ignore_ascii_case(expected["icc_mk"].as_str().unwrap()));
    assert!(hsm.personalise_icc_master_key(&cvk, &input("pan"), &input("psn")).is_err());
}

/// A fresh TMK at the acquirer, and the clear one a terminal holds after key injection (the
/// TMK leaves as two components and the terminal recombines them).
fn injected_tmk(acquirer: &SoftHsm) -> (WrappedKey, Secret) {
    let tmk = acquirer.generate_key(KeyType::Tmk, KeyAlgorithm::Tdes2).unwrap();
    let components = acquirer.export_components(&tmk, 2).unwrap();
    let clear: Vec<u8> = components[0].expose().iter().zip(components[1].expose()).map(|(a, b)| a ^ b).collect();
    (tmk, Secret::from_vec(clear))
}

/// The acceptance round trip: TMK → field 62 keys → a terminal decrypts them and checks the
/// KCVs, builds a PIN block and a MAC, and the acquirer's module verifies both; a tampered MAC
/// and a wrong KCV are rejected.
#[test]
fn sign_on_round_trip_between_acquirer_and_terminal() {
    let acquirer = module();
    let (tmk, terminal_tmk) = injected_tmk(&acquirer);
    assert_eq!(hex::encode(&hsm::kcv::kcv_tdes(terminal_tmk.expose()).unwrap()), tmk.kcv());

    for scheme in [SignOnScheme::Single, SignOnScheme::Double, SignOnScheme::DoubleWithTdk] {
        let issued = acquirer.issue_terminal_keys(&tmk, scheme).unwrap();
        assert_eq!(issued.field62.len(), scheme.field62_len());
        // Field 62 of the 0810 fits the cup-pos spec's key layout for this length.
        let mut response = iso8583::Message::new(iso8583::builtin::cup_pos(), iso8583::Mti::parse("0810").unwrap());
        response.set(62, &issued.field62).unwrap();
        let pik_kcv = response.get_path("62.2").unwrap().unwrap();
        assert_eq!(&hex::encode(pik_kcv)[..6], issued.pik.kcv(), "62.2 is the PIK check value");
        assert_eq!(issued.tdk.is_some(), scheme.has_tdk());
        let keys = signon::load_terminal_keys(&terminal_tmk, scheme, &issued.field62).unwrap();
        assert_eq!(hex::encode(&hsm::kcv::kcv_tdes(keys.pik.expose()).unwrap()), issued.pik.kcv());
        assert_eq!(hex::encode(&hsm::kcv::kcv_tdes(keys.mak.expose()).unwrap()), issued.mak.kcv());

        // The terminal: PIN block under the PIK, MAC over the MAB under the MAK.
        let pan = "6224242900000113";
        let pin_block =
            pinblock::encrypt_pin(PinFormat::Iso0, keys.pik.expose(), &Secret::new(b"123456"), Some(pan)).unwrap();
        let mab = b"0200 MTI through field 63, as the terminal sent it".to_vec();
        let mac = hsm::mac::cup_ecb_mac(keys.mak.expose(), &mab).unwrap();

        // The acquirer: MAC check, then PIN translation to the zone key.
        acquirer.verify_mac(&issued.mak, MacAlgorithm::CupEcb, &mab, &mac).unwrap();
        let mut tampered = mac;
        tampered[0] ^= 0x01;
        assert_eq!(
            acquirer.verify_mac(&issued.mak, MacAlgorithm::CupEcb, &mab, &tampered).unwrap_err(),
            Error::Verification("MAC")
        );
        let zpk_clear = "5DB50B454F8389ADCE573BE50861F2BF";
        let zpk = known_key(&acquirer, KeyType::Zpk, KeyAlgorithm::Tdes2, zpk_clear);
        let request = PinTranslation {
            source_key: &issued.pik,
            source_format: PinFormat::Iso0,
            pin_block: &pin_block,
            pan,
            target_key: &zpk,
            target_format: PinFormat::Iso0,
        };
        let translated = acquirer.translate_pin(&request).unwrap();
        assert_eq!(
            pinblock::decrypt_pin(PinFormat::Iso0, &h(zpk_clear), &translated, Some(pan)).unwrap().expose(),
            b"123456"
        );

        // A wrong check value in field 62 stops the terminal from using the keys.
        let mut wrong_kcv = issued.field62.clone();
        let pik_kcv_at = scheme.pik_algorithm().key_len();
        wrong_kcv[pik_kcv_at] ^= 0xFF;
        assert_eq!(
            signon::load_terminal_keys(&terminal_tmk, scheme, &wrong_kcv).unwrap_err(),
            Error::Verification("PIK check value")
        );
    }
    // Only a TMK issues terminal keys.
    let zmk = acquirer.generate_key(KeyType::Zmk, KeyAlgorithm::Tdes2).unwrap();
    assert!(matches!(acquirer.issue_terminal_keys(&zmk, SignOnScheme::Double).unwrap_err(), Error::KeyUsage { .. }));
}

#[test]
fn no_clear_key_in_debug_output_or_errors() {
    fn assert_zeroize_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    assert_zeroize_on_drop::<Secret>();

    let hsm = module();
    let clear = "0123456789ABCDEFFEDCBA9876543210";
    let key = known_key(&hsm, KeyType::Zak, KeyAlgorithm::Tdes2, clear);
    let tmk = known_key(&hsm, KeyType::Tmk, KeyAlgorithm::Tdes2, clear);
    let issued = hsm.issue_terminal_keys(&tmk, SignOnScheme::Double).unwrap();
    let secret = Secret::new(&h(clear));
    let mut shown = vec![format!("{hsm:?}"), format!("{key:?}"), format!("{issued:?}"), format!("{secret:?}")];
    // Errors from operations on that key.
    shown.push(hsm.encrypt_pin(&key, PinFormat::Iso0, &Secret::new(b"1234"), "4012345678909").unwrap_err().to_string());
    shown.push(hsm.verify_mac(&key, MacAlgorithm::Cmac, b"x", &[0; 8]).unwrap_err().to_string());
    shown.push(SoftHsm::new(Secret::new(&h(clear))).unwrap_err().to_string());
    shown.push(hsm::tr31::unwrap(&h(clear), key.block()).unwrap_err().to_string());
    for text in &shown {
        assert!(!text.contains(clear) && !text.contains(&clear[..8]), "clear key shown: {text}");
    }
    assert!(shown[0].contains("LMK check value"));
}

/// The module keeps a DEK's derived keys with the open key; what it seals, opens and hashes is
/// what the published functions do with the clear DEK (values stored before stay readable).
#[test]
fn data_under_a_kept_dek_is_data_under_the_clear_dek() {
    let hsm = module();
    let clear = h("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
    let dek = hsm.import_components(KeyType::Dek, KeyAlgorithm::Aes256, &[Secret::new(&clear)]).unwrap();
    let pan = b"6224242900000113";
    for _ in 0..2 {
        let sealed = hsm.encrypt_data(&dek, pan).unwrap();
        assert_eq!(hsm::data::open(&clear, &sealed).unwrap().expose(), pan);
        let by_hand = hsm::data::seal(&clear, pan).unwrap();
        assert_eq!(hsm.decrypt_data(&dek, &by_hand).unwrap().expose(), pan);
        assert_eq!(hsm.keyed_hash(&dek, pan).unwrap(), hsm::data::keyed_hash(&clear, pan).unwrap());
    }
}

#[test]
fn data_keys_encrypt_authenticate_and_hash_inside_the_module() {
    let hsm = module();
    let dek = hsm.generate_key(KeyType::Dek, KeyAlgorithm::Aes256).unwrap();
    assert_eq!(dek.key_type(), KeyType::Dek);
    let pan = b"6224242900000113";
    let sealed = hsm.encrypt_data(&dek, pan).unwrap();
    assert!(!sealed.windows(pan.len()).any(|w| w == pan), "the PAN does not appear in the sealed value");
    assert_eq!(hsm.decrypt_data(&dek, &sealed).unwrap().expose(), pan);
    assert_ne!(hsm.encrypt_data(&dek, pan).unwrap(), sealed, "a fresh IV each time");

    // Tampering anywhere, or another DEK, fails the tag.
    let mut tampered = sealed.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x80;
    assert_eq!(hsm.decrypt_data(&dek, &tampered).unwrap_err(), Error::Verification("data tag"));
    let mut tampered = sealed.clone();
    tampered[20] ^= 0x01;
    assert_eq!(hsm.decrypt_data(&dek, &tampered).unwrap_err(), Error::Verification("data tag"));
    let other = hsm.generate_key(KeyType::Dek, KeyAlgorithm::Aes256).unwrap();
    assert_eq!(hsm.decrypt_data(&other, &sealed).unwrap_err(), Error::Verification("data tag"));

    // The keyed hash: deterministic, dependent on key and data, and not the value itself.
    let hash = hsm.keyed_hash(&dek, pan).unwrap();
    assert_eq!(hash.len(), 16);
    assert_eq!(hash, hsm.keyed_hash(&dek, pan).unwrap());
    assert_ne!(hash, hsm.keyed_hash(&other, pan).unwrap());
    assert_ne!(hash, hsm.keyed_hash(&dek, b"6224242900000121").unwrap());

    // Only a DEK does data, and only an AES one; a DEK does nothing else and never leaves.
    let zak = hsm.generate_key(KeyType::Zak, KeyAlgorithm::Tdes2).unwrap();
    assert!(matches!(hsm.encrypt_data(&zak, pan).unwrap_err(), Error::KeyUsage { .. }));
    assert!(matches!(hsm.keyed_hash(&zak, pan).unwrap_err(), Error::KeyUsage { .. }));
    let tdes_dek = hsm.generate_key(KeyType::Dek, KeyAlgorithm::Tdes2).unwrap();
    assert!(matches!(hsm.encrypt_data(&tdes_dek, pan).unwrap_err(), Error::KeyUsage { .. }));
    assert!(matches!(hsm.generate_mac(&dek, MacAlgorithm::Cmac, pan).unwrap_err(), Error::KeyUsage { .. }));
    let zmk = hsm.generate_key(KeyType::Zmk, KeyAlgorithm::Aes256).unwrap();
    assert!(matches!(hsm.export_key_block(&zmk, &dek).unwrap_err(), Error::KeyUsage { .. }));
    assert!(matches!(hsm.export_components(&dek, 2).unwrap_err(), Error::KeyUsage { .. }));

    // Errors and Debug never show the clear value.
    let shown = [format!("{:?}", hsm.decrypt_data(&dek, &sealed).unwrap()), format!("{dek:?}")];
    for text in shown {
        assert!(!text.contains("6224242900000113"), "{text}");
    }
}

#[test]
fn generated_pins_verify_against_their_pvv() {
    let hsm = module();
    let pvk = hsm.generate_key(KeyType::Pvk, KeyAlgorithm::Tdes2).unwrap();
    let zpk = hsm.generate_key(KeyType::Zpk, KeyAlgorithm::Tdes2).unwrap();
    let pan = "6224242900000113";
    for length in [4, 6] {
        let (pin, pvv) = hsm.generate_pin(&pvk, pan, length, 1).unwrap();
        assert_eq!(pin.len(), length);
        assert!(pin.expose().iter().all(u8::is_ascii_digit));
        assert_eq!(pvv.len(), 4);
        assert!(!format!("{pin:?}").contains(std::str::from_utf8(pin.expose()).unwrap()));
        let block = hsm.encrypt_pin(&zpk, PinFormat::Iso0, &pin, pan).unwrap();
        hsm.verify_pin(&zpk, PinFormat::Iso0, &block, pan, &pvk, &PinVerification::Pvv { pvki: 1, pvv: &pvv }).unwrap();
        // The PVV is bound to the PVKI and the PIN.
        let wrong_index = PinVerification::Pvv { pvki: 2, pvv: &pvv };
        assert_eq!(
            hsm.verify_pin(&zpk, PinFormat::Iso0, &block, pan, &pvk, &wrong_index).unwrap_err(),
            Error::Verification("PIN")
        );
        let mut other = pin.expose().to_vec();
        other[0] = if other[0] == b'9' { b'0' } else { other[0] + 1 };
        let other_block = hsm.encrypt_pin(&zpk, PinFormat::Iso0, &Secret::from_vec(other), pan).unwrap();
        assert_eq!(
            hsm.verify_pin(
                &zpk,
                PinFormat::Iso0,
                &other_block,
                pan,
                &pvk,
                &PinVerification::Pvv { pvki: 1, pvv: &pvv }
            )
            .unwrap_err(),
            Error::Verification("PIN")
        );
    }
    assert!(hsm.generate_pin(&pvk, pan, 3, 1).unwrap_err().is_bad_input());
    assert!(hsm.generate_pin(&pvk, pan, 4, 10).unwrap_err().is_bad_input());
    assert!(matches!(hsm.generate_pin(&zpk, pan, 4, 1).unwrap_err(), Error::KeyUsage { .. }));
}

/// IBM 3624 issuance: the offset (as long as the PIN) verifies the PIN through the module and
/// through the clear algorithm, and no other PIN; wrong inputs are refused.
#[test]
fn generated_pins_verify_against_their_ibm3624_offset() {
    let hsm = module();
    let pvk = hsm.generate_key(KeyType::Pvk, KeyAlgorithm::Tdes2).unwrap();
    let zpk = hsm.generate_key(KeyType::Zpk, KeyAlgorithm::Tdes2).unwrap();
    let pan = "6224242900000113";
    let validation = hsm::card::account_validation_data(pan).unwrap();
    let table = "0123456789012345";
    for length in [4, 6] {
        let (pin, offset) = hsm.generate_pin_ibm3624(&pvk, &validation, table, length).unwrap();
        assert_eq!((pin.len(), offset.len()), (length, length));
        let verification =
            PinVerification::Ibm3624 { offset: &offset, decimalization_table: table, validation_data: &validation };
        let block = hsm.encrypt_pin(&zpk, PinFormat::Iso0, &pin, pan).unwrap();
        hsm.verify_pin(&zpk, PinFormat::Iso0, &block, pan, &pvk, &verification).unwrap();
        let mut other = pin.expose().to_vec();
        let last = other.len() - 1;
        other[last] = if other[last] == b'9' { b'0' } else { other[last] + 1 };
        let other_block = hsm.encrypt_pin(&zpk, PinFormat::Iso0, &Secret::from_vec(other), pan).unwrap();
        assert_eq!(
            hsm.verify_pin(&zpk, PinFormat::Iso0, &other_block, pan, &pvk, &verification).unwrap_err(),
            Error::Verification("PIN")
        );
    }
    assert!(hsm.generate_pin_ibm3624(&pvk, &validation, "01234567890123", 4).unwrap_err().is_bad_input());
    assert!(hsm.generate_pin_ibm3624(&pvk, "XYZ", table, 4).unwrap_err().is_bad_input());
    assert!(matches!(hsm.generate_pin_ibm3624(&zpk, &validation, table, 4).unwrap_err(), Error::KeyUsage { .. }));
}

#[test]
fn lmk_file_round_trip_and_errors() {
    let dir = std::env::temp_dir().join(format!("cardnet-hsm-lmk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("lmk.hex");
    let lmk = Secret::random(hsm::soft::LMK_LEN).unwrap();
    let clear = hex::encode(lmk.expose());
    #[cfg(unix)]
    {
        // An LMK file left readable by everyone is made owner-only when it is written again
        // (`switch init --force`).
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    hsm::soft::write_lmk_file(&path, &lmk).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{clear}\n"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let loaded = SoftHsm::from_lmk_file(&path).unwrap();
    assert_eq!(loaded.lmk_check_value(), SoftHsm::new(lmk).unwrap().lmk_check_value());
    // Errors name the file and why, never the contents.
    std::fs::write(&path, "not hex").unwrap();
    let error = SoftHsm::from_lmk_file(&path).unwrap_err();
    assert!(matches!(error, Error::LmkFile { .. }) && error.is_bad_input());
    assert_eq!(error.to_string(), format!("LMK file {}: not hex digits", path.display()));
    std::fs::write(&path, &clear[..32]).unwrap();
    let error = SoftHsm::from_lmk_file(&path).unwrap_err().to_string();
    assert!(error.starts_with("LMK file ") && !error.contains(&clear[..32]), "{error}");
    let missing = dir.join("missing.hex");
    assert!(SoftHsm::from_lmk_file(&missing).unwrap_err().to_string().contains("missing.hex"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Scheme 004: the terminal enciphers track 2 under the TDK it loaded from field 62; the
/// acquirer's module gives the clear track back under the TDK it keeps, and refuses the track
/// under a key of another role.
#[test]
fn a_track_enciphered_by_the_terminal_is_deciphered_by_the_acquirers_module() {
    let acquirer = module();
    let (tmk, terminal_tmk) = injected_tmk(&acquirer);
    let issued = acquirer.issue_terminal_keys(&tmk, SignOnScheme::DoubleWithTdk).unwrap();
    let keys = signon::load_terminal_keys(&terminal_tmk, SignOnScheme::DoubleWithTdk, &issued.field62).unwrap();
    let track = "6224242900000113=28062010000000000";
    let sent = hsm::track::encrypt(keys.tdk.as_ref().unwrap().expose(), track).unwrap();
    assert!(!sent.contains("2806201000000000"), "the window is enciphered: {sent}");
    let clear = acquirer.decrypt_track(issued.tdk.as_ref().unwrap(), &sent).unwrap();
    assert_eq!(clear.expose(), track.replace('=', "D").as_bytes());
    assert!(matches!(acquirer.decrypt_track(&issued.pik, &sent), Err(hsm::Error::KeyUsage { .. })));
}
