//! `dukpt-*` vectors: TDES DUKPT (X9.24-1:2009 A.4) and AES DUKPT (X9.24-3:2017). Every
//! value under `expected` is checked; an unknown name fails the vector so none is skipped.

use hsm::cipher::Cipher;
use hsm::dukpt::{self, AesKsn, KeyType, KeyUsage, Ksn, WorkingUsage, aes, tdes};
use hsm::mac::{Padding, retail_mac};
use iso8583::hex;
use serde_json::Value;

use crate::{hex_at, opt_str, str_at};

pub fn check(vector: &Value) {
    let id = str_at(vector, "/id");
    if id.starts_with("dukpt-tdes-") {
        check_tdes(vector);
    } else if id.starts_with("dukpt-aes") {
        check_aes(vector);
    } else {
        panic!("unknown DUKPT vector family");
    }
}

fn assert_hex(name: &str, actual: &[u8], expected: &str) {
    assert_eq!(hex::encode(actual), expected.to_uppercase(), "{name}");
}

/// `(name, expected hex)` for every value of `expected`, or `("expected", …)` if it is one string.
fn expected_values(vector: &Value) -> Vec<(String, String)> {
    match &vector["expected"] {
        Value::String(text) => vec![("expected".to_string(), text.clone())],
        Value::Object(map) => map
            .iter()
            .map(|(name, value)| {
                (name.clone(), value.as_str().unwrap_or_else(|| panic!("{name} is not a string")).into())
            })
            .collect(),
        other => panic!("unexpected `expected`: {other}"),
    }
}

/// Legacy TDES KCV: `E_K(0…0)`, left 3 bytes.
fn tdes_kcv(key: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 8];
    Cipher::tdes(key).unwrap().encrypt_block(&mut block);
    block[..3].to_vec()
}

/// ISO 9564-1 format 0, built here so these checks do not depend on `pinblock`.
fn iso0_block(pin: &str, pan: &str) -> Vec<u8> {
    let mut field = format!("0{:X}{pin}", pin.len());
    field.push_str(&"F".repeat(16 - field.len()));
    let digits = &pan[..pan.len() - 1];
    let start = digits.len().saturating_sub(12);
    let pan_field = format!("0000{:0>12}", &digits[start..]);
    hsm::cipher::xor(&hex::decode(&field).unwrap(), &hex::decode(&pan_field).unwrap())
}

fn check_tdes(vector: &Value) {
    let bdk = hex_at(vector, "/inputs/bdk");
    let ksn_hex = str_at(vector, "/inputs/ksn");
    let ksn = Ksn::from_hex(ksn_hex).unwrap();
    assert_eq!(ksn.to_string(), ksn_hex);
    let ipek = tdes::ipek(&bdk, &ksn).unwrap();
    let txn = tdes::transaction_key(ipek.expose(), &ksn).unwrap();

    if let Some(expected) = opt_str(vector, "/intermediates/ksn_left8_counter_cleared") {
        assert_hex("ksn_left8_counter_cleared", &ksn.initial().as_bytes()[..8], expected);
    }
    if let Some(expected) = opt_str(vector, "/intermediates/bdk_xor_C0C0C0C000000000C0C0C0C000000000") {
        let c0 = hex::decode("C0C0C0C000000000C0C0C0C000000000").unwrap();
        assert_hex("bdk xor C0", &hsm::cipher::xor(&bdk, &c0), expected);
    }
    if let Some(expected) = opt_str(vector, "/intermediates/ipek_kcv") {
        assert_hex("ipek_kcv", &tdes_kcv(ipek.expose()), expected);
    }
    if let (Some(pin), Some(pan)) = (opt_str(vector, "/inputs/pin"), opt_str(vector, "/inputs/pan")) {
        assert_hex("clear_pin_block (inputs)", &iso0_block(pin, pan), str_at(vector, "/inputs/clear_pin_block"));
    }
    if let Some(ascii) = opt_str(vector, "/inputs/mac_data_ascii") {
        assert_hex("mac_data (inputs)", ascii.as_bytes(), str_at(vector, "/inputs/mac_data"));
    }

    for (name, expected) in expected_values(vector) {
        let actual = match name.as_str() {
            "expected" => ipek.expose().to_vec(),
            "transaction_key" => txn.expose().to_vec(),
            "pin_key" => {
                let key = tdes::pin_key(txn.expose()).unwrap();
                // The one entry point the CLI uses agrees.
                let (initial, working) = dukpt::dukpt(&bdk, ksn.as_bytes(), WorkingUsage::Pin, None).unwrap();
                assert_eq!(initial, ipek, "dukpt() initial key");
                assert_eq!(working, key, "dukpt() PIN key");
                key.expose().to_vec()
            }
            "encrypted_pin_block" => {
                let key = tdes::pin_key(txn.expose()).unwrap();
                let mut block = hex_at(vector, "/inputs/clear_pin_block");
                Cipher::tdes(key.expose()).unwrap().ecb_encrypt(&mut block).unwrap();
                block
            }
            "request_mac_x919_pad1" => {
                let key = tdes::mac_request_key(txn.expose()).unwrap();
                let (_, working) = dukpt::dukpt(&bdk, ksn.as_bytes(), WorkingUsage::Mac, None).unwrap();
                assert_eq!(working, key, "dukpt() MAC key");
                retail_mac(key.expose(), &hex_at(vector, "/inputs/mac_data"), Padding::Method1).unwrap().to_vec()
            }
            "response_mac_x919_pad1" => {
                let key = tdes::mac_response_key(txn.expose()).unwrap();
                retail_mac(key.expose(), &hex_at(vector, "/inputs/mac_data"), Padding::Method1).unwrap().to_vec()
            }
            "request_data_tdes_cbc_iv0_zero_padded" => {
                let key = tdes::data_request_key(txn.expose()).unwrap();
                let (_, working) = dukpt::dukpt(&bdk, ksn.as_bytes(), WorkingUsage::Data, None).unwrap();
                assert_eq!(working, key, "dukpt() data key");
                let mut data = hex_at(vector, "/inputs/mac_data");
                data.resize(data.len().div_ceil(8) * 8, 0);
                Cipher::tdes(key.expose()).unwrap().cbc_encrypt(&[0; 8], &mut data).unwrap();
                data
            }
            other => panic!("no check for expected value {other:?}"),
        };
        assert_hex(&name, &actual, &expected);
    }
}

/// ISO 9564-1 format 4 encipherment: `AES_K(AES_K(P) XOR A)`, with the PAN field A = M
/// (PAN length − 12), the PAN, zero nibbles to 32.
fn iso4_encipher(key: &[u8], pin_field: &[u8], pan: &str) -> Vec<u8> {
    let padded = format!("{:0>12}", pan);
    let mut pan_field = format!("{:X}{padded}", pan.len().saturating_sub(12));
    pan_field.push_str(&"0".repeat(32 - pan_field.len()));
    let cipher = Cipher::aes(key).unwrap();
    let mut block = pin_field.to_vec();
    cipher.encrypt_block(&mut block);
    hsm::cipher::xor_in_place(&mut block, &hex::decode(&pan_field).unwrap());
    cipher.encrypt_block(&mut block);
    block
}

fn check_aes(vector: &Value) {
    let bdk = hex_at(vector, "/inputs/bdk");
    let bdk_type = KeyType::for_bdk(bdk.len()).unwrap();

    if let Some(ikid) = opt_str(vector, "/inputs/initial_key_id") {
        // The initial key vector: no KSN.
        let ikid = hex::decode(ikid).unwrap();
        let ik = aes::initial_key(&bdk, &ikid).unwrap();
        let data = aes::derivation_data(1, KeyUsage::KeyDerivationInitial, bdk_type, &ikid.clone().try_into().unwrap());
        assert_hex("derivation_data", &data, str_at(vector, "/intermediates/derivation_data"));
        for (name, expected) in expected_values(vector) {
            assert_eq!(name, "expected", "no check for expected value {name:?}");
            assert_hex(&name, ik.expose(), &expected);
        }
        return;
    }

    let ksn_hex = str_at(vector, "/inputs/ksn");
    let ksn = AesKsn::from_hex(ksn_hex).unwrap();
    assert_eq!(ksn.to_string(), ksn_hex);
    let ik = aes::initial_key(&bdk, &ksn.initial_key_id()).unwrap();
    let txn = aes::transaction_key(ik.expose(), bdk_type, &ksn).unwrap();
    let working =
        |usage: KeyUsage, key_type: KeyType| aes::working_key(txn.expose(), bdk_type, usage, key_type, &ksn).unwrap();
    // Working keys of the BDK's own type, as the vectors' plain names mean.
    let own = |usage: KeyUsage| working(usage, bdk_type);
    let via_entry_point = |usage: WorkingUsage| dukpt::dukpt(&bdk, ksn.as_bytes(), usage, None).unwrap().1;

    let mut derivation_id_and_counter = [0u8; 8];
    derivation_id_and_counter[..4].copy_from_slice(&ksn.initial_key_id()[4..]);
    derivation_id_and_counter[4..].copy_from_slice(&ksn.counter().to_be_bytes());
    if let Some(expected) = opt_str(vector, "/intermediates/pin_key_derivation_data") {
        let data = aes::derivation_data(1, KeyUsage::PinEncryption, bdk_type, &derivation_id_and_counter);
        assert_hex("pin_key_derivation_data", &data, expected);
    }
    for block in [1u8, 2] {
        if let Some(expected) = opt_str(vector, &format!("/intermediates/ik_derivation_data_block{block}")) {
            let data = aes::derivation_data(block, KeyUsage::KeyDerivationInitial, bdk_type, &ksn.initial_key_id());
            assert_hex("ik_derivation_data", &data, expected);
        }
    }

    for (name, expected) in expected_values(vector) {
        let actual = match name.as_str() {
            "initial_key" => {
                let (initial, _) = dukpt::dukpt(&bdk, ksn.as_bytes(), WorkingUsage::Pin, None).unwrap();
                assert_eq!(initial, ik, "dukpt() initial key");
                ik.expose().to_vec()
            }
            "transaction_derivation_key" => txn.expose().to_vec(),
            "pin_encryption_key" => {
                let key = own(KeyUsage::PinEncryption);
                assert_eq!(via_entry_point(WorkingUsage::Pin), key, "dukpt() PIN key");
                key.expose().to_vec()
            }
            "pin_encryption_key_aes128" => working(KeyUsage::PinEncryption, KeyType::Aes128).expose().to_vec(),
            "pin_encryption_key_aes256" => {
                let key = working(KeyUsage::PinEncryption, KeyType::Aes256);
                assert_eq!(via_entry_point(WorkingUsage::Pin), key, "dukpt() PIN key");
                key.expose().to_vec()
            }
            "mac_generation_key" => {
                let key = own(KeyUsage::MacGenerate);
                assert_eq!(via_entry_point(WorkingUsage::Mac), key, "dukpt() MAC key");
                key.expose().to_vec()
            }
            "mac_verification_key" => own(KeyUsage::MacVerify).expose().to_vec(),
            "mac_both_key" => own(KeyUsage::MacBoth).expose().to_vec(),
            "data_encryption_encrypt_key" => {
                let key = own(KeyUsage::DataEncrypt);
                assert_eq!(via_entry_point(WorkingUsage::Data), key, "dukpt() data key");
                key.expose().to_vec()
            }
            "data_decrypt_key" => own(KeyUsage::DataDecrypt).expose().to_vec(),
            "data_both_key" => own(KeyUsage::DataBoth).expose().to_vec(),
            "key_encryption_key" => own(KeyUsage::KeyEncryption).expose().to_vec(),
            "encrypted_iso4_pin_block" => {
                let key = own(KeyUsage::PinEncryption);
                iso4_encipher(key.expose(), &hex_at(vector, "/inputs/pin_field"), str_at(vector, "/inputs/pan"))
            }
            other => panic!("no check for expected value {other:?}"),
        };
        assert_hex(&name, &actual, &expected);
    }
}
