//! `mac-*` (ISO 9797-1 algorithms 1 and 3, CMAC), `kcv-*` (key check values) and
//! `cup-ecb-mac-*` (UnionPay POS MAC) vectors. Every intermediate a vector gives is checked;
//! an unknown one fails.

use hsm::cipher::{Cipher, xor};
use hsm::kcv::{self, KcvMethod};
use hsm::mac::{self, Padding};
use iso8583::hex;
use serde_json::Value;

use crate::{hex_at, opt_str, str_at};

/// The ISO 9797-1 padding method named in the vector's `algo` ("… padding method N").
fn padding(vector: &Value) -> Padding {
    let algo = str_at(vector, "/algo");
    let (_, after) = algo.split_once("padding method ").unwrap_or_else(|| panic!("no padding method in {algo:?}"));
    let padding = Padding::from_number(after.as_bytes()[0] - b'0').unwrap();
    // The id agrees where it names one.
    let id = str_at(vector, "/id");
    for (tag, named) in [("-pad1", Padding::Method1), ("-pad2", Padding::Method2)] {
        if id.contains(tag) {
            assert_eq!(padding, named, "id and algo disagree on padding");
        }
    }
    padding
}

/// The MAC under a vector's key and data, by its id.
fn compute_mac(vector: &Value, key: &[u8], data: &[u8]) -> Vec<u8> {
    let id = str_at(vector, "/id");
    if id.starts_with("mac-alg3-") {
        mac::retail_mac(key, data, padding(vector)).unwrap().to_vec()
    } else if id.starts_with("mac-alg1-des-") {
        mac::cbc_mac(&Cipher::des(key).unwrap(), data, padding(vector))
    } else if id.starts_with("mac-alg1-tdes-") {
        assert!(key.len() > 8, "TDES key");
        mac::cbc_mac(&Cipher::tdes(key).unwrap(), data, padding(vector))
    } else if id.starts_with("mac-aes") && id.contains("-cmac-") {
        mac::cmac(&Cipher::aes(key).unwrap(), data)
    } else if id.starts_with("mac-tdes") && id.contains("-cmac-") {
        mac::cmac(&Cipher::tdes(key).unwrap(), data)
    } else {
        panic!("no MAC algorithm for {id}")
    }
}

pub fn check(vector: &Value) {
    let key = hex_at(vector, "/inputs/key");
    let data = hex_at(vector, "/inputs/data");
    if let Some(ascii) = opt_str(vector, "/inputs/data_ascii") {
        assert_eq!(data, ascii.as_bytes(), "data and data_ascii agree");
    }
    let expected = hex_at(vector, "/expected");
    let actual = compute_mac(vector, &key, &data);
    assert_eq!(hex::encode(&actual), hex::encode(&expected), "MAC");
    mac::verify(&expected, &actual).unwrap();
    let mut wrong = expected.clone();
    wrong[0] ^= 1;
    assert!(mac::verify(&wrong, &actual).is_err(), "a changed MAC does not verify");
    assert!(vector.pointer("/intermediates").is_none(), "unchecked intermediates");
}

pub fn check_kcv(vector: &Value) {
    let id = str_at(vector, "/id");
    let key = hex_at(vector, "/inputs/key");
    let expected = hex_at(vector, "/expected");
    let method = if id == "kcv-aes128-legacy-ecb" {
        KcvMethod::AesEcbLegacy
    } else if id == "kcv-tdes2-cmac" {
        KcvMethod::TdesCmac
    } else if id.starts_with("kcv-aes") {
        KcvMethod::AesCmac
    } else if id.starts_with("kcv-tdes") || id.starts_with("kcv-des-") {
        KcvMethod::Tdes
    } else {
        panic!("no KCV method for {id}")
    };
    assert_eq!(expected.len(), method.truncated_len(), "conventional length");
    assert_eq!(hex::encode(&kcv::kcv(&key, method).unwrap()), hex::encode(&expected), "KCV");
    kcv::verify_kcv(&key, method, &expected).unwrap();
    kcv::verify_kcv(&key, method, &expected[..3]).unwrap();
    match method {
        KcvMethod::Tdes => assert_eq!(kcv::kcv_tdes(&key).unwrap(), expected),
        KcvMethod::AesCmac => assert_eq!(kcv::kcv_aes(&key).unwrap(), expected),
        // The legacy AES value is not the standard one for the same key.
        KcvMethod::AesEcbLegacy => assert_ne!(kcv::kcv_aes(&key).unwrap()[..3], expected[..]),
        KcvMethod::TdesCmac => assert_ne!(kcv::kcv_tdes(&key).unwrap()[..3], expected[..3]),
    }
    assert!(vector.pointer("/intermediates").is_none(), "unchecked intermediates");
}

pub fn check_cup(vector: &Value) {
    let mak = hex_at(vector, "/inputs/mak");
    let mab = hex_at(vector, "/inputs/mab");
    let mac_ascii = str_at(vector, "/expected/mac_ascii");
    let field_bytes = hex_at(vector, "/expected/mac_field_bytes");
    assert_eq!(mac_ascii.as_bytes(), &field_bytes[..], "mac_ascii and mac_field_bytes agree");

    let field = mac::cup_ecb_mac(&mak, &mab).unwrap();
    assert_eq!(&field[..], mac_ascii.as_bytes(), "MAC field");
    mac::verify(&field_bytes, &field).unwrap();

    // The MAK delivered under the TMK (ECB), where the vector gives it.
    if let Some(wrapped) = opt_str(vector, "/inputs/tak_under_tmk") {
        let tmk = Cipher::tdes(&hex_at(vector, "/inputs/tmk")).unwrap();
        let mut block = hex::decode(wrapped).unwrap();
        tmk.ecb_decrypt(&mut block).unwrap();
        assert_eq!(hex::encode(&block), hex::encode(&mak), "TMK decrypts the wrapped MAK");
        tmk.ecb_encrypt(&mut block).unwrap();
        assert_eq!(hex::encode(&block), wrapped, "TMK encrypts the MAK");
    } else {
        assert!(opt_str(vector, "/inputs/tmk").is_none(), "a TMK without a wrapped key");
    }

    // The steps, computed independently of mac::cup_ecb_mac.
    let cipher = Cipher::tdes(&mak).unwrap();
    let mut padded = mab.clone();
    padded.resize(mab.len().div_ceil(8) * 8, 0);
    let mut chain = vec![vec![0u8; 8]];
    for block in padded.chunks_exact(8) {
        let next = xor(chain.last().unwrap(), block);
        chain.push(next);
    }
    let folded = chain.last().unwrap().clone();
    let ascii = hex::encode(&folded).into_bytes();
    let mut enc_left = ascii[..8].to_vec();
    cipher.encrypt_block(&mut enc_left);
    let with_right = xor(&enc_left, &ascii[8..]);
    let mut enc_again = with_right.clone();
    cipher.encrypt_block(&mut enc_again);
    let enc_again_ascii = hex::encode(&enc_again).into_bytes();
    assert_eq!(&enc_again_ascii[..8], mac_ascii.as_bytes(), "independent computation");

    let intermediates = vector.pointer("/intermediates").and_then(Value::as_object).expect("intermediates");
    for (name, value) in intermediates {
        let value = value.as_str().expect("string");
        let actual = match name.as_str() {
            "padded_mab" => hex::encode(&padded),
            "xor_result_as_16_ascii_hex_bytes" => hex::encode(&ascii),
            "enc_left_half" => hex::encode(&enc_left),
            "xor_with_right_half" => hex::encode(&with_right),
            "enc_again" => hex::encode(&enc_again),
            "enc_again_as_16_ascii_hex_bytes" => hex::encode(&enc_again_ascii),
            "mac_ascii" => String::from_utf8(field.to_vec()).unwrap(),
            "mac_field_bytes_hex" => hex::encode(&field),
            other => match other.strip_prefix("xor_after_block_").and_then(|n| n.parse::<usize>().ok()) {
                Some(n) if n >= 1 && n < chain.len() => hex::encode(&chain[n]),
                _ => panic!("unchecked intermediate {other}"),
            },
        };
        assert_eq!(actual, value, "intermediate {name}");
    }
}
